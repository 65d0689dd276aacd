//! Redactable content (schema 5): splitting a run event's content members
//! out of its payload into a salted commitment, checking a commitment, and
//! putting the content (or the mark of its redaction) back for readers.
//!
//! Pure functions over JSON and bytes. May not depend on SQLite, the engine,
//! tui, export or app.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::chain::canonical_json;
use super::kinds::{CONTENT_SHA256, content_fields};
use super::log_payload::LogPayload;

/// Bytes of a content salt (stored as 64 hex digits).
pub const SALT_BYTES: usize = 32;

/// A run event's redactable content as the log holds it (the `contents` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Content {
    /// Kept: the salt (hex) and the content (canonical JSON) that the
    /// payload's `content_sha256` commits to.
    Held { salt: String, content: String },
    /// Erased by the `redaction` event at seq `by`.
    Redacted { by: i64 },
}

/// A payload split for storing: what the chain covers and what `contents` keeps.
pub struct Split {
    /// The payload without its content members, with `content_sha256`.
    pub payload: Value,
    pub salt: String,
    pub content: String,
}

/// `content_sha256` of `content` (canonical JSON text) under `salt` (raw
/// bytes): lower-case hex SHA-256 of the salt's bytes followed by the
/// content's UTF-8 bytes.
pub fn commitment(salt: &[u8], content: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(content.as_bytes());
    hex::encode(h.finalize())
}

/// Split `payload` of an event of `kind` when that kind has content: its
/// content members (those present) go to `content`, committed to under
/// `salt`. `None` when the kind has no content or the payload holds none of
/// its members.
pub fn split(kind: &str, payload: &Value, salt: &[u8; SALT_BYTES]) -> Option<Split> {
    let fields = content_fields(kind.as_bytes())?;
    let obj = payload.as_object()?;
    let mut kept = Map::new();
    let mut content = Map::new();
    for (k, v) in obj {
        if fields.contains(&k.as_str()) {
            content.insert(k.clone(), v.clone());
        } else {
            kept.insert(k.clone(), v.clone());
        }
    }
    if content.is_empty() {
        return None;
    }
    let content = canonical_json(&Value::Object(content));
    kept.insert(CONTENT_SHA256.into(), commitment(salt, &content).into());
    Some(Split {
        payload: Value::Object(kept),
        salt: hex::encode(salt),
        content,
    })
}

/// Why a held content does not match its commitment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The salt is not 64 lower-case hex digits.
    Salt,
    /// The content is not a JSON object of the kind's content members.
    Shape(String),
    /// SHA-256(salt || content) is not the payload's `content_sha256`.
    Hash,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Salt => write!(f, "its salt is not 64 lower-case hex digits"),
            Mismatch::Shape(why) => write!(f, "its content {why}"),
            Mismatch::Hash => write!(
                f,
                "SHA-256 of its salt and content is not the payload's content_sha256"
            ),
        }
    }
}

/// Check held content against the payload's commitment `want` (hex), for an
/// event of `kind`: the salt is 32 bytes of hex, the content an object of
/// only the kind's content members, and the hash matches. The hash is
/// checked on the stored text: a verifier never re-serializes it.
pub fn check(kind: &str, want: &str, salt: &str, content: &str) -> Result<(), Mismatch> {
    let salt_bytes = decode_salt(salt).ok_or(Mismatch::Salt)?;
    if commitment(&salt_bytes, content) != want {
        return Err(Mismatch::Hash);
    }
    let fields = content_fields(kind.as_bytes()).unwrap_or(&[]);
    type Members<'a> = std::collections::BTreeMap<std::borrow::Cow<'a, str>, serde::de::IgnoredAny>;
    match serde_json::from_str::<Members<'_>>(content) {
        Ok(m) if m.is_empty() => Err(Mismatch::Shape("is empty".into())),
        Ok(m) => match m.keys().find(|k| !fields.contains(&k.as_ref())) {
            Some(k) => Err(Mismatch::Shape(format!(
                "holds {k:?}, which is not content of a {kind} event"
            ))),
            None => Ok(()),
        },
        Err(_) if serde_json::from_str::<Value>(content).is_ok() => {
            Err(Mismatch::Shape("is not a JSON object".into()))
        }
        Err(e) => Err(Mismatch::Shape(format!("is not JSON: {e}"))),
    }
}

fn decode_salt(salt: &str) -> Option<[u8; SALT_BYTES]> {
    if salt.len() != 2 * SALT_BYTES || salt.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; SALT_BYTES];
    hex::decode_to_slice(salt, &mut out).ok()?;
    Some(out)
}

/// The event as the engine and the readers know it: the stored `payload`
/// with its content put back (held), or with each content member reading
/// `[redacted by seq N]` and `redacted_by` naming the redaction (redacted). A payload without a
/// commitment is returned as it is.
pub fn merged(kind: &str, payload: &Value, content: Option<&Content>) -> Value {
    let Some(obj) = payload.as_object() else {
        return payload.clone();
    };
    if !obj.contains_key(CONTENT_SHA256) {
        return payload.clone();
    }
    let mut out: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| k.as_str() != CONTENT_SHA256)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    match content {
        Some(Content::Held { content, .. }) => {
            if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(content) {
                out.extend(m);
            }
        }
        Some(Content::Redacted { by }) => {
            for f in content_fields(kind.as_bytes()).unwrap_or(&[]) {
                out.insert((*f).into(), Value::String(redacted_text(*by)));
            }
            out.insert("redacted_by".into(), (*by).into());
        }
        None => {}
    }
    Value::Object(out)
}

/// [`merged`] on the stored texts of a held content, without building either
/// as JSON values (the export's hot path): the payload's `content_sha256`
/// member taken out and the content's members put in. `None` when the texts
/// are not the canonical objects runsheet writes (the caller then merges
/// the parsed values).
pub fn merged_text(payload: &str, content: &str) -> Option<String> {
    const MEMBER: &str = "\"content_sha256\":\"";
    let inner = content.strip_prefix('{')?.strip_suffix('}')?;
    let body = payload.strip_prefix('{')?.strip_suffix('}')?;
    let at = body.find(MEMBER)?;
    let end = at + MEMBER.len() + 64 + 1; // 64 hex digits and the closing quote
    if body.get(end - 1..end)? != "\"" {
        return None;
    }
    let before = body[..at].strip_suffix(',').unwrap_or(&body[..at]);
    let after = body[end..].strip_prefix(',').unwrap_or(&body[end..]);
    let mut out = String::with_capacity(payload.len() + content.len());
    out.push('{');
    for part in [inner, before, after] {
        if part.is_empty() {
            continue;
        }
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(part);
    }
    out.push('}');
    Some(out)
}

/// What a redacted content member reads as: `[redacted by seq N]`.
pub fn redacted_text(by: i64) -> String {
    format!("[redacted by seq {by}]")
}

/// The salt of the record at `seq` in a reproducible generated test log
/// (`log_id` its id): SHA-256 of `runsheet-testdata-salt`, the id's 16
/// bytes and the seq (8 bytes, big-endian). Test data only: such a log
/// says it is not evidence.
pub fn derived_salt(log_id: &uuid::Uuid, seq: i64) -> [u8; SALT_BYTES] {
    let mut h = Sha256::new();
    h.update(b"runsheet-testdata-salt");
    h.update(log_id.as_bytes());
    h.update(seq.to_be_bytes());
    h.finalize().into()
}

/// A fresh random salt.
pub fn random_salt() -> Result<[u8; SALT_BYTES], String> {
    let mut salt = [0u8; SALT_BYTES];
    getrandom::fill(&mut salt)
        .map_err(|e| format!("no random salt for the content could be had: {e}"))?;
    Ok(salt)
}

/// The first line of a redaction's signed statement.
pub const REDACTION_HEADER: &str = "runsheet-redaction/v1";

/// The text a custodian signs (as a C2SP signed note) to redact the content
/// of the record at `seq` of the log `origin`: six lines, each ending in a
/// newline — the header, the origin, `seq N`, `record <its hash>`,
/// `content <its content_sha256>`, `reason <the reason as a JSON string>`.
pub fn redaction_statement(
    origin: &str,
    seq: i64,
    record_hash: &str,
    content_sha256: &str,
    reason: &str,
) -> String {
    let reason = Value::String(reason.to_string()).to_string();
    format!(
        "{REDACTION_HEADER}\n{origin}\nseq {seq}\nrecord {record_hash}\ncontent {content_sha256}\nreason {reason}\n"
    )
}

/// A `redaction` event's payload (written with [`LogPayload::to_payload`],
/// read with [`RedactionClaim::parse`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RedactionClaim {
    /// The record whose content was erased.
    pub seq: i64,
    /// That record's hash (unchanged by the redaction).
    #[schemars(extend("pattern" = "^[0-9a-f]{64}$"))]
    pub record_hash: String,
    /// The salted content hash that record commits to.
    #[schemars(extend("pattern" = "^[0-9a-f]{64}$"))]
    pub content_sha256: String,
    /// Why the content was erased, as the custodian gave it.
    pub reason: String,
    /// The custodian's verifier key.
    pub custodian: String,
    /// The signed statement (a C2SP signed note).
    pub note: String,
}

impl RedactionClaim {
    /// Read a `redaction` payload; `Err` says which member is missing.
    pub fn parse(payload: &[u8]) -> Result<RedactionClaim, String> {
        let v: Value =
            serde_json::from_slice(payload).map_err(|e| format!("its payload is not JSON: {e}"))?;
        let text = |name: &str| {
            v.get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("its payload has no {name}"))
        };
        Ok(RedactionClaim {
            seq: v
                .get("seq")
                .and_then(Value::as_i64)
                .ok_or("its payload has no seq")?,
            record_hash: text("record_hash")?,
            content_sha256: text("content_sha256")?,
            reason: text("reason")?,
            custodian: text("custodian")?,
            note: text("note")?,
        })
    }
}

impl LogPayload for RedactionClaim {
    const KIND: &'static str = super::kinds::KIND_REDACTION;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_documented_commitment_vector_holds() {
        // docs/evidence-schema.md, "Content and redaction": salt 0x00..0x1f,
        // content {"text":"yes"}.
        let salt: Vec<u8> = (0u8..32).collect();
        assert_eq!(
            commitment(&salt, r#"{"text":"yes"}"#),
            "7e325202958eae9694b7100c1a9cdef13af9e78143ab39521f2b171eeae559de"
        );
    }

    #[test]
    fn a_note_splits_into_commitment_and_content_and_merges_back() {
        let p = json!({"kind": "note-added", "step": "s", "text": "yes"});
        let salt = [7u8; 32];
        let s = split("note-added", &p, &salt).expect("split");
        assert_eq!(s.content, r#"{"text":"yes"}"#);
        assert!(s.payload.get("text").is_none());
        let want = s.payload[CONTENT_SHA256]
            .as_str()
            .expect("hash")
            .to_string();
        assert_eq!(check("note-added", &want, &s.salt, &s.content), Ok(()));
        let held = Content::Held {
            salt: s.salt.clone(),
            content: s.content.clone(),
        };
        assert_eq!(merged("note-added", &s.payload, Some(&held)), p);
        let gone = merged("note-added", &s.payload, Some(&Content::Redacted { by: 9 }));
        assert_eq!(gone["text"], "[redacted by seq 9]");
        assert_eq!(gone["redacted_by"], 9);
        assert_eq!(gone["step"], "s");
    }

    #[test]
    fn merging_the_texts_gives_the_merged_value() {
        for p in [
            json!({"kind": "note-added", "step": "s", "text": "a \"quoted\", {x}"}),
            json!({"command": "ls", "duration_ms": 3, "exit_code": 0, "kind": "command-ran",
                   "output": "}{,", "output_bytes": 3, "output_sha256": "ab", "step": "s", "truncated": false}),
            json!({"evidence": "T-1", "kind": "evidence-recorded", "step": "s"}),
        ] {
            let kind = p["kind"].as_str().expect("kind").to_string();
            let s = split(&kind, &p, &[5u8; 32]).expect("split");
            let text = merged_text(&canonical_json(&s.payload), &s.content).expect("merged");
            let v: Value = serde_json::from_str(&text).expect("json");
            assert_eq!(v, p, "{text}");
        }
        assert_eq!(merged_text("{\"kind\":\"x\"}", "{\"text\":\"a\"}"), None);
    }

    #[test]
    fn the_same_short_value_under_two_salts_commits_differently() {
        let p = json!({"kind": "value-recorded", "step": "s", "value": "yes"});
        let a = split("value-recorded", &p, &[1u8; 32]).expect("a");
        let b = split("value-recorded", &p, &[2u8; 32]).expect("b");
        assert_ne!(a.payload[CONTENT_SHA256], b.payload[CONTENT_SHA256]);
    }

    #[test]
    fn kinds_without_content_are_not_split() {
        let p = json!({"kind": "step-failed", "step": "s", "reason": "x", "branch": null});
        assert!(split("step-failed", &p, &[0u8; 32]).is_none());
    }

    #[test]
    fn edited_content_or_salt_or_a_foreign_member_fails_the_check() {
        let p = json!({"kind": "note-added", "step": "s", "text": "yes"});
        let s = split("note-added", &p, &[0xabu8; 32]).expect("split");
        let want = s.payload[CONTENT_SHA256]
            .as_str()
            .expect("hash")
            .to_string();
        assert_eq!(
            check("note-added", &want, &s.salt, r#"{"text":"no"}"#),
            Err(Mismatch::Hash)
        );
        assert_eq!(
            check("note-added", &want, &"0".repeat(64), &s.content),
            Err(Mismatch::Hash)
        );
        assert_eq!(
            check("note-added", &want, &s.salt.to_uppercase(), &s.content),
            Err(Mismatch::Salt)
        );
        let salt = [3u8; 32];
        let foreign = r#"{"step":"t"}"#;
        let w = commitment(&salt, foreign);
        assert!(matches!(
            check("note-added", &w, &hex::encode(salt), foreign),
            Err(Mismatch::Shape(_))
        ));
    }
}
