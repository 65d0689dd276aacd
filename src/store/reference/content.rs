//! The reference verifier's rules 19–21 (docs/evidence-schema.md, "Content
//! and redaction"), written from the page: content rows against the records'
//! commitments, and redactions against registered custodians' signatures.
//! Plain loops over what `Log` loaded and one query of `contents`.
//!
//! May not depend on `chain`, `verify`, `content`, `signing` or `custody`.

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde_json::Value;

use super::{Cell, Finding, Log, SignedNote, Vkey, Walk, finding, sha256};
use crate::store::kinds::content_fields;

/// A verified record: kind, in a run, payload (parsed), hash.
type Seen<'a> = (&'a [u8], bool, Option<Value>, &'a [u8]);

fn text(c: &Cell) -> Option<&str> {
    match c {
        Cell::Text(b) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

impl Log {
    /// The first finding of rules 19–21 (by seq; at one seq, in the page's
    /// order: custodians, redactions, content rows), after a clean walk.
    pub(super) fn content(
        &self,
        conn: &Connection,
        walk: &Walk,
    ) -> rusqlite::Result<Option<Finding>> {
        let has_table: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'contents'",
            [],
            |r| r.get(0),
        )?;
        let mut rows: Vec<(i64, Cell, Cell, Cell)> = Vec::new();
        if has_table > 0 {
            let mut stmt =
                conn.prepare("SELECT seq, salt, content, redacted_by FROM contents ORDER BY seq")?;
            let mut q = stmt.query([])?;
            while let Some(r) = q.next()? {
                rows.push((
                    r.get_ref(0)?.as_i64().unwrap_or(0),
                    Cell::read(r.get_ref(1)?),
                    Cell::read(r.get_ref(2)?),
                    Cell::read(r.get_ref(3)?),
                ));
            }
        }
        // The verified records with their payloads (parsed) and hashes.
        let verified: BTreeMap<i64, Seen<'_>> = walk
            .verified
            .iter()
            .map(|v| {
                let payload = self
                    .events
                    .iter()
                    .find(|e| e.seq == v.seq)
                    .and_then(|e| text(&e.cells[6]))
                    .and_then(|p| serde_json::from_str(p).ok());
                (
                    v.seq,
                    (v.kind.as_slice(), v.in_run, payload, v.hash.as_slice()),
                )
            })
            .collect();
        let log_key = walk
            .log_key
            .as_ref()
            .and_then(|(_, p)| serde_json::from_slice::<Value>(p).ok());
        let origin = log_key
            .as_ref()
            .and_then(|v| v["origin"].as_str().map(str::to_string));
        let log_public = log_key
            .as_ref()
            .and_then(|v| Vkey::parse(v["vkey"].as_str()?))
            .map(|k| k.key);
        let mut found: Vec<Finding> = Vec::new();
        // Custodians: vkey text -> (seq, key).
        let mut custodians: BTreeMap<String, (i64, Vkey)> = BTreeMap::new();
        for (seq, (kind, in_run, payload, _)) in &verified {
            if *in_run || *kind != b"custodian-added" {
                continue;
            }
            let vkey = payload
                .as_ref()
                .and_then(|p| p["vkey"].as_str().map(str::to_string));
            match vkey.as_deref().and_then(Vkey::parse) {
                Some(k) if k.kind == 0x01 => {
                    if Some(k.key) == log_public {
                        found.push(finding("bad-signature", *seq, "19"));
                    } else {
                        custodians
                            .entry(vkey.unwrap_or_default())
                            .or_insert((*seq, k));
                    }
                }
                _ => found.push(finding("inserted", *seq, "19")),
            }
        }
        // Redactions: erased seq -> (redaction seq, record hash, commitment).
        let mut claims: BTreeMap<i64, (i64, String, String)> = BTreeMap::new();
        for (seq, (kind, in_run, payload, _)) in &verified {
            if *in_run || *kind != b"redaction" {
                continue;
            }
            let Some(p) = payload else { continue };
            let fields = (
                p["seq"].as_i64(),
                p["record_hash"].as_str(),
                p["content_sha256"].as_str(),
                p["reason"].as_str(),
                p["custodian"].as_str(),
                p["note"].as_str(),
            );
            let (Some(of), Some(hash), Some(want), Some(reason), Some(custodian), Some(note)) =
                fields
            else {
                found.push(finding("inserted", *seq, "20"));
                continue;
            };
            let Some((registered, key)) = custodians.get(custodian) else {
                found.push(finding("bad-signature", *seq, "20"));
                continue;
            };
            let Some(origin) = &origin else {
                found.push(finding("bad-signature", *seq, "20"));
                continue;
            };
            let statement = format!(
                "runsheet-redaction/v1\n{origin}\nseq {of}\nrecord {hash}\ncontent {want}\nreason {}\n",
                Value::String(reason.to_string())
            );
            let signed =
                SignedNote::parse(note).is_some_and(|n| n.text == statement && n.signed_by(key));
            if *registered >= *seq || !signed {
                found.push(finding("bad-signature", *seq, "20"));
                continue;
            }
            if of >= *seq || of < 1 || claims.contains_key(&of) {
                found.push(finding("inserted", *seq, "20"));
                continue;
            }
            claims.insert(of, (*seq, hash.to_string(), want.to_string()));
        }
        // Content rows.
        let mut erased_by_claim: BTreeMap<i64, bool> = claims.keys().map(|k| (*k, false)).collect();
        let with_row: std::collections::BTreeSet<i64> = rows.iter().map(|r| r.0).collect();
        for (seq, salt, content, by) in &rows {
            let record = verified
                .get(seq)
                .filter(|(kind, in_run, _, _)| *in_run && content_fields(kind).is_some());
            let Some((kind, _, Some(payload), hash)) = record else {
                found.push(finding("inserted", *seq, "19"));
                continue;
            };
            let fields = content_fields(kind).unwrap_or(&[]);
            let Some(want) = payload["content_sha256"].as_str() else {
                found.push(finding("inserted", *seq, "19"));
                continue;
            };
            if fields.iter().any(|f| payload.get(*f).is_some()) {
                found.push(finding("inserted", *seq, "19"));
                continue;
            }
            match (salt, content, by) {
                (Cell::Text(_), Cell::Text(_), Cell::Null) => {
                    let salt = text(salt).unwrap_or_default();
                    let body = text(content).unwrap_or_default();
                    let salt_ok = salt.len() == 64
                        && salt
                            .bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                    let bytes = hex::decode(salt).unwrap_or_default();
                    let hashed = hex::encode(sha256(&[&bytes, body.as_bytes()]));
                    let shape_ok = match serde_json::from_str::<Value>(body) {
                        Ok(Value::Object(m)) => {
                            !m.is_empty() && m.keys().all(|k| fields.contains(&k.as_str()))
                        }
                        _ => false,
                    };
                    if !salt_ok || hashed != want || !shape_ok {
                        found.push(finding("payload-mismatch", *seq, "19"));
                    }
                }
                (Cell::Null, Cell::Null, Cell::Int(by)) => {
                    let ok = claims
                        .get(seq)
                        .is_some_and(|(r, h, w)| r == by && h.as_bytes() == *hash && w == want);
                    if ok {
                        erased_by_claim.insert(*seq, true);
                    } else {
                        found.push(finding("payload-mismatch", *seq, "21"));
                    }
                }
                _ => found.push(finding("edited", *seq, "19")),
            }
        }
        for (of, (r, _, _)) in &claims {
            if erased_by_claim.get(of) == Some(&false) {
                found.push(finding("inserted", *r, "20"));
            }
        }
        // Every record that commits to content has its row.
        if let Some(seq) = verified
            .iter()
            .find_map(|(seq, (kind, in_run, payload, _))| {
                let commits = *in_run
                    && content_fields(kind).is_some()
                    && payload
                        .as_ref()
                        .is_some_and(|p| p.get("content_sha256").is_some());
                (commits && !with_row.contains(seq)).then_some(*seq)
            })
        {
            found.push(finding("payload-mismatch", seq, "19"));
        }
        found.sort_by_key(|f| f.seq);
        Ok(found.into_iter().next())
    }
}
