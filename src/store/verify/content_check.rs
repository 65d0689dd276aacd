//! Rules 19–21 of docs/evidence-schema.md (schema 5): every record that
//! commits to content has its `contents` row, held content hashes to its
//! commitment, and erased content was erased by a redaction that a
//! registered custodian signed. Runs after a clean walk, on the same
//! snapshot; also lists the redactions for the report.
//!
//! May not depend on the engine, tui, export or app.

use std::collections::BTreeMap;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::{Finding, Problem};
use crate::custody::note::{KeyKind, Note, Verifier};
use crate::store::content::{self, RedactionClaim, redaction_statement};
use crate::store::kinds::{CONTENT_KINDS, KIND_CUSTODIAN_ADDED, KIND_REDACTION, content_fields};
use crate::store::signing;

/// A redaction verify accepted: which record's content it erased, when, by
/// whom and why, signed by which custodian.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Redaction {
    /// The `redaction` event.
    pub seq: i64,
    /// The record whose content it erased.
    pub of_seq: i64,
    pub at: String,
    pub actor: String,
    pub reason: String,
    /// The custodian's verifier key.
    pub custodian: String,
}

/// What the content check found: the first problem (by seq) and the accepted redactions.
pub(super) struct Checked {
    pub finding: Option<Finding>,
    /// The other problems it found (e.g. the forged redaction beside the
    /// content it claims to have erased).
    pub also: Vec<Finding>,
    pub redactions: Vec<Redaction>,
}

fn at(seq: i64, problem: Problem, message: String) -> Finding {
    Finding {
        seq: Some(seq),
        run_id: None,
        run_seq: None,
        problem,
        message,
    }
}

fn utf8(v: ValueRef<'_>) -> Option<&str> {
    match v {
        ValueRef::Text(b) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

/// What the content check reads of a payload: its commitment, and whether
/// it holds any content member inline (read without building the payload).
#[derive(serde::Deserialize)]
struct CommittedPayload<'a> {
    #[serde(borrow)]
    content_sha256: Option<&'a str>,
    text: Option<serde::de::IgnoredAny>,
    value: Option<serde::de::IgnoredAny>,
    evidence: Option<serde::de::IgnoredAny>,
    output: Option<serde::de::IgnoredAny>,
    output_sha256: Option<serde::de::IgnoredAny>,
}

impl CommittedPayload<'_> {
    fn holds(&self, member: &str) -> bool {
        match member {
            "text" => self.text.is_some(),
            "value" => self.value.is_some(),
            "evidence" => self.evidence.is_some(),
            "output" => self.output.is_some(),
            "output_sha256" => self.output_sha256.is_some(),
            _ => false,
        }
    }
}

/// Check the log's content and redactions up to `head`, after a clean walk
/// that verified `committed` records committing to content.
pub(super) fn check(
    conn: &Connection,
    head: i64,
    committed: i64,
    has_contents: bool,
    pinned: &[Verifier],
) -> rusqlite::Result<Checked> {
    let mut found: Vec<Finding> = Vec::new();
    let log_key = signing::read_log_key(conn)?.ok().flatten();
    let custodians = custodians(conn, head, log_key.as_ref(), &mut found)?;
    let origin = log_key.map(|k| k.origin);
    let claims = claims(
        conn,
        head,
        origin.as_deref(),
        &custodians,
        pinned,
        &mut found,
    )?;
    let mut used: BTreeMap<i64, bool> = claims.keys().map(|k| (*k, false)).collect();
    let mut rows = 0i64;
    if has_contents {
        let mut stmt = conn.prepare(
            "SELECT c.seq, c.salt, c.content, c.redacted_by, e.seq, e.run_id, e.kind, e.payload, e.hash, e.run_seq \
             FROM contents c LEFT JOIN events e ON e.seq = c.seq ORDER BY c.seq",
        )?;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            let Some(seq) = r.get_ref(0)?.as_i64().ok() else {
                found.push(at(
                    0,
                    Problem::Edited,
                    "a content row's seq is not an integer".into(),
                ));
                break;
            };
            // Borrowed from the row; words are made only for a finding.
            let kind = utf8(r.get_ref(6)?).unwrap_or_default();
            let place = || -> (Option<uuid::Uuid>, Option<i64>, String) {
                let run_id = r
                    .get_ref(5)
                    .ok()
                    .and_then(utf8)
                    .and_then(|t| uuid::Uuid::try_parse(t).ok());
                let run_seq = r.get_ref(9).ok().and_then(|v| v.as_i64().ok());
                let here = match (run_id, run_seq) {
                    (Some(run), Some(n)) => {
                        format!("seq {seq} (run {run}, event {n} of the run)")
                    }
                    _ => format!("seq {seq}"),
                };
                (run_id, run_seq, here)
            };
            let in_run = |problem, message: &dyn Fn(&str) -> String| {
                let (run_id, run_seq, here) = place();
                Finding {
                    run_id,
                    run_seq,
                    ..at(seq, problem, message(&here))
                }
            };
            let fields = content_fields(kind.as_bytes());
            let is_record = r.get_ref(4)?.as_i64().is_ok()
                && !matches!(r.get_ref(5)?, ValueRef::Null)
                && fields.is_some();
            let payload = utf8(r.get_ref(7)?)
                .and_then(|p| serde_json::from_str::<CommittedPayload<'_>>(p).ok());
            let (true, Some(payload), Some(fields)) = (is_record, payload, fields) else {
                found.push(at(
                    seq,
                    Problem::Inserted,
                    format!("the log holds content for seq {seq}, which is no record that commits to content: runsheet did not write it"),
                ));
                continue;
            };
            let Some(want) = payload.content_sha256 else {
                found.push(at(
                    seq,
                    Problem::Inserted,
                    format!("the log holds content for seq {seq}, which is no record that commits to content: runsheet did not write it"),
                ));
                continue;
            };
            // A row of a record that commits to content: the walk counted
            // each such record once, so fewer of these rows than records
            // means one lost its row (wherever another row was moved).
            rows += 1;
            if let Some(inline) = fields.iter().find(|f| payload.holds(f)) {
                found.push(at(
                    seq,
                    Problem::Inserted,
                    format!("seq {seq}'s payload holds its {inline} although it commits to content kept apart: runsheet did not write it"),
                ));
                continue;
            }
            match (r.get_ref(1)?, r.get_ref(2)?, r.get_ref(3)?) {
                (salt @ ValueRef::Text(_), body @ ValueRef::Text(_), ValueRef::Null) => {
                    let problem = match (utf8(salt), utf8(body)) {
                        (Some(s), Some(b)) => content::check(kind, want, s, b)
                            .err()
                            .map(|m| m.to_string()),
                        _ => Some("its salt or content is not UTF-8 text".into()),
                    };
                    if let Some(why) = problem {
                        found.push(in_run(Problem::PayloadMismatch, &|here| {
                            format!("the content of {here} ({kind}) was changed: {why}")
                        }));
                    }
                }
                (ValueRef::Null, ValueRef::Null, ValueRef::Integer(by)) => {
                    let hash = utf8(r.get_ref(8)?).unwrap_or_default();
                    let ok = claims.get(&seq).is_some_and(|(r_seq, c)| {
                        *r_seq == by && c.record_hash == hash && c.content_sha256 == want
                    });
                    if ok {
                        used.insert(seq, true);
                    } else {
                        found.push(in_run(Problem::PayloadMismatch, &|here| {
                            format!("the content of {here} ({kind}) was erased, and no redaction signed by a registered custodian at seq {by} names it: only `runsheet redact` erases content, and it records a signed redaction")
                        }));
                    }
                }
                _ => found.push(at(
                    seq,
                    Problem::Edited,
                    format!(
                        "the content row of seq {seq} holds values runsheet never writes there"
                    ),
                )),
            }
        }
    }
    for (of_seq, (r_seq, _)) in &claims {
        if used.get(of_seq) == Some(&false) {
            found.push(at(
                *r_seq,
                Problem::Inserted,
                format!("the redaction at seq {r_seq} names seq {of_seq}, whose content it did not erase: runsheet did not write it"),
            ));
        }
    }
    if rows < committed {
        // The first record that commits to content with no row for it (with
        // the table gone: the first that commits to content at all).
        let (join, no_row) = if has_contents {
            ("LEFT JOIN contents c ON c.seq = e.seq", "c.seq IS NULL AND")
        } else {
            ("", "")
        };
        let missing: Option<(i64, Option<String>, Option<i64>)> = conn
            .query_row(
                &format!(
                    "SELECT e.seq, e.run_id, e.run_seq FROM events e {join} \
                     WHERE {no_row} e.run_id IS NOT NULL AND e.kind IN ({}) \
                     AND instr(e.payload, '\"content_sha256\":') > 0 AND e.seq <= ?1 \
                     ORDER BY e.seq LIMIT 1",
                    CONTENT_KINDS.map(|k| format!("'{k}'")).join(", ")
                ),
                [head],
                |r| Ok((r.get(0)?, r.get(1).ok().flatten(), r.get(2).ok())),
            )
            .optional()?;
        let (seq, run, run_seq) = missing.unwrap_or((0, None, None));
        let run_id = run.and_then(|t| uuid::Uuid::try_parse(&t).ok());
        let here = match (run_id, run_seq) {
            (Some(run), Some(n)) => format!("seq {seq} (run {run}, event {n} of the run)"),
            _ => format!("seq {seq}"),
        };
        found.push(Finding {
            run_id,
            run_seq,
            ..at(
                seq,
                Problem::PayloadMismatch,
                format!("the content of {here} was removed: its record commits to content the log no longer holds, and no redaction erased it"),
            )
        });
    }
    let mut redactions: Vec<Redaction> = claims
        .into_iter()
        .filter(|(of, _)| used.get(of) == Some(&true))
        .map(|(_, (_, c))| c.listed)
        .collect();
    redactions.sort_by_key(|r| r.seq);
    found.sort_by_key(|f| f.seq);
    let mut found = found.into_iter();
    Ok(Checked {
        finding: found.next(),
        also: found.collect(),
        redactions,
    })
}

/// The custodians registered up to `head`: vkey text → (seq, verifier).
/// A log event of one kind, up to `head`, in order.
struct LogEvent {
    seq: i64,
    at: String,
    actor: String,
    payload: Option<String>,
}

fn log_events(conn: &Connection, kind: &str, head: i64) -> rusqlite::Result<Vec<LogEvent>> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, actor, payload FROM events WHERE run_id IS NULL AND kind = ?1 \
         AND seq <= ?2 ORDER BY seq",
    )?;
    let mut q = stmt.query(rusqlite::params![kind, head])?;
    let mut out = Vec::new();
    while let Some(r) = q.next()? {
        out.push(LogEvent {
            seq: r.get(0)?,
            at: utf8(r.get_ref(1)?).unwrap_or_default().to_string(),
            actor: utf8(r.get_ref(2)?).unwrap_or_default().to_string(),
            payload: utf8(r.get_ref(3)?).map(str::to_string),
        });
    }
    Ok(out)
}

fn custodians(
    conn: &Connection,
    head: i64,
    log_key: Option<&signing::LogKey>,
    found: &mut Vec<Finding>,
) -> rusqlite::Result<BTreeMap<String, (i64, Verifier)>> {
    let mut out = BTreeMap::new();
    for e in log_events(conn, KIND_CUSTODIAN_ADDED, head)? {
        let seq = e.seq;
        let vkey = e
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
            .and_then(|v| v.get("vkey")?.as_str().map(str::to_string));
        let verifier = vkey.as_deref().map(Verifier::parse);
        match (vkey, verifier) {
            (Some(vkey), Some(Ok(v))) if v.kind() == KeyKind::Ed25519 => {
                let is_log_key = log_key
                    .and_then(|k| k.verifier())
                    .is_some_and(|k| k.public_key() == v.public_key());
                if is_log_key {
                    found.push(at(
                        seq,
                        Problem::BadSignature,
                        format!("the custodian registered at seq {seq} holds the log's own key: a custodian's key must be another key"),
                    ));
                } else {
                    out.entry(vkey).or_insert((seq, v));
                }
            }
            _ => found.push(at(
                seq,
                Problem::Inserted,
                format!("the custodian-added event at seq {seq} holds no Ed25519 verifier key: runsheet did not write it"),
            )),
        }
    }
    Ok(out)
}

/// The redactions up to `head` whose statements verify: erased seq → (the
/// redaction's seq, its claim). Each one that does not is a finding.
#[allow(clippy::type_complexity)]
fn claims(
    conn: &Connection,
    head: i64,
    origin: Option<&str>,
    custodians: &BTreeMap<String, (i64, Verifier)>,
    pinned: &[Verifier],
    found: &mut Vec<Finding>,
) -> rusqlite::Result<BTreeMap<i64, (i64, Claim)>> {
    let mut out = BTreeMap::new();
    for e in log_events(conn, KIND_REDACTION, head)? {
        let seq = e.seq;
        let claim = match e
            .payload
            .as_deref()
            .map(|p| RedactionClaim::parse(p.as_bytes()))
        {
            Some(Ok(c)) => c,
            Some(Err(why)) => {
                found.push(at(seq, Problem::Inserted, format!("the redaction at seq {seq} cannot be read ({why}): runsheet did not write it")));
                continue;
            }
            None => continue, // the walk reported an unreadable payload
        };
        let bad = |why: String| {
            at(
                seq,
                Problem::BadSignature,
                format!("the redaction at seq {seq} (of seq {}) {why}", claim.seq),
            )
        };
        let Some((registered, verifier)) = custodians.get(&claim.custodian) else {
            found.push(bad(format!(
                "is signed with {}, which no custodian-added event registers: a redaction needs a registered custodian's signature",
                claim.custodian
            )));
            continue;
        };
        if *registered >= seq {
            found.push(bad(format!(
                "is signed by a custodian registered only later, at seq {registered}"
            )));
            continue;
        }
        let Some(origin) = origin else {
            found.push(bad(
                "names a log with no key: the log's origin is unknown".into()
            ));
            continue;
        };
        let statement = redaction_statement(
            origin,
            claim.seq,
            &claim.record_hash,
            &claim.content_sha256,
            &claim.reason,
        );
        let signed = Note::parse(&claim.note)
            .ok()
            .filter(|n| n.text() == statement)
            .and_then(|n| n.verify(std::slice::from_ref(verifier)).ok())
            .is_some_and(|v| !v.is_empty());
        if !signed {
            found.push(bad(
                "has no valid signature: its signed statement does not verify with the custodian's key, or says something else than the event".into(),
            ));
            continue;
        }
        if !pinned.is_empty()
            && !pinned
                .iter()
                .any(|k| k.public_key() == verifier.public_key())
        {
            found.push(bad(format!(
                "is signed by the custodian {}, which is not one you trust (--custodian)",
                claim.custodian
            )));
            continue;
        }
        if claim.seq >= seq || claim.seq < 1 {
            found.push(at(
                seq,
                Problem::Inserted,
                format!(
                    "the redaction at seq {seq} names seq {}, which is not an earlier record",
                    claim.seq
                ),
            ));
            continue;
        }
        if out.contains_key(&claim.seq) {
            found.push(at(seq, Problem::Inserted, format!("the redaction at seq {seq} redacts seq {} a second time: runsheet did not write it", claim.seq)));
            continue;
        }
        let listed = Redaction {
            seq,
            of_seq: claim.seq,
            at: e.at.clone(),
            actor: e.actor.clone(),
            reason: claim.reason.clone(),
            custodian: claim.custodian.clone(),
        };
        out.insert(
            claim.seq,
            (
                seq,
                Claim {
                    record_hash: claim.record_hash,
                    content_sha256: claim.content_sha256,
                    listed,
                },
            ),
        );
    }
    Ok(out)
}

/// A verified redaction's claim, as the content rows are checked against it.
struct Claim {
    record_hash: String,
    content_sha256: String,
    listed: Redaction,
}
