//! The hash chain: canonical payload JSON, the payload hash and the record hash
//! (the exact algorithm is specified in docs/evidence-schema.md; keep them in sync).
//!
//! Pure functions over bytes. May not depend on rusqlite, the engine or anything
//! outside the store.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev_hash` of the very first record: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// First field of a format-1 record-hash input (logs before schema 3).
pub const CHAIN_TAG: &str = "runsheet-chain-v1";
/// First field of a format-2 record-hash input (from a log's `log-created` or
/// `schema-migrated` event on).
pub const CHAIN_TAG_V2: &str = "runsheet-chain-v2";

/// Which record-hash encoding a record uses (docs/evidence-schema.md, "The
/// hash chain"). Format 2 tells a NULL field from an empty one; format 1 does
/// not, and is kept only so that older logs still verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordFormat {
    V1,
    V2,
}

impl RecordFormat {
    /// The format's number, as the docs and payloads write it.
    pub fn number(self) -> u8 {
        match self {
            RecordFormat::V1 => 1,
            RecordFormat::V2 => 2,
        }
    }
}

/// The length prefix format 2 writes for a NULL field (no bytes follow). No
/// SQLite value is that long, so it can never be a real length.
pub const NULL_LENGTH: u32 = u32::MAX;

/// Lower-case hex SHA-256 of `bytes` (the form every hash in the log takes).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let mut out = [0u8; 64];
    sha256_hex_into(bytes, &mut out);
    hex_text(&out)
}

/// Lower-case hex SHA-256 of `bytes`, written into `out` (no allocation).
pub(crate) fn sha256_hex_into(bytes: &[u8], out: &mut [u8; 64]) {
    let digest = Sha256::digest(bytes);
    hex_into(digest.as_slice(), out);
}

/// `digest` (32 bytes) as 64 lower-case hex digits in `out`.
pub(crate) fn hex_into(digest: &[u8], out: &mut [u8; 64]) {
    // 32 bytes always fit 64 hex digits, so this cannot fail.
    let _ = hex::encode_to_slice(digest, out);
}

/// The hex buffer as text (it is ASCII by construction).
pub(crate) fn hex_text(out: &[u8; 64]) -> String {
    out.iter().map(|&b| char::from(b)).collect()
}

/// The fields a record hash covers, as the bytes stored in the log.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub format: RecordFormat,
    pub seq: i64,
    /// Run id text (lower-case hyphenated UUID); `None` for a log event.
    pub run_id: Option<&'a [u8]>,
    pub run_seq: i64,
    /// RFC 3339 UTC timestamp text exactly as stored.
    pub at: &'a [u8],
    pub actor: &'a [u8],
    pub kind: &'a [u8],
    /// Step id; `None` when the event is about no step.
    pub step: Option<&'a [u8]>,
    pub payload_sha256: &'a [u8],
    pub prev_hash: &'a [u8],
}

impl Record<'_> {
    /// The record hash: SHA-256 over the tag and each field, in order, as
    /// (4-byte big-endian length, bytes). Integers are their decimal ASCII
    /// text. A NULL field is empty in format 1 and [`NULL_LENGTH`] with no
    /// bytes in format 2.
    pub fn hash_into(&self, out: &mut [u8; 64]) {
        hex_into(&self.digest(), out);
    }

    /// The record hash's 32 bytes (what [`Record::hash_into`] writes as hex,
    /// and what the record's Merkle leaf hashes).
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        let mut seq = IntText::default();
        let mut run_seq = IntText::default();
        let tag = match self.format {
            RecordFormat::V1 => CHAIN_TAG,
            RecordFormat::V2 => CHAIN_TAG_V2,
        };
        let fields: [Option<&[u8]>; 10] = [
            Some(tag.as_bytes()),
            Some(seq.format(self.seq)),
            self.run_id,
            Some(run_seq.format(self.run_seq)),
            Some(self.at),
            Some(self.actor),
            Some(self.kind),
            self.step,
            Some(self.payload_sha256),
            Some(self.prev_hash),
        ];
        for field in fields {
            match (field, self.format) {
                (Some(bytes), _) => {
                    // SQLite stores at most 1e9 bytes per value, so a length always fits.
                    h.update(u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
                    h.update(bytes);
                }
                (None, RecordFormat::V1) => h.update(0u32.to_be_bytes()),
                (None, RecordFormat::V2) => h.update(NULL_LENGTH.to_be_bytes()),
            }
        }
        h.finalize().into()
    }

    /// The record hash as hex text.
    pub fn hash(&self) -> String {
        let mut out = [0u8; 64];
        self.hash_into(&mut out);
        hex_text(&out)
    }
}

/// Decimal text of an i64 without allocating.
#[derive(Default)]
struct IntText {
    buf: [u8; 20],
}

impl IntText {
    fn format(&mut self, n: i64) -> &[u8] {
        let mut pos = self.buf.len();
        let mut rest = n.unsigned_abs();
        loop {
            pos -= 1;
            self.buf[pos] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        if n < 0 {
            pos -= 1;
            self.buf[pos] = b'-';
        }
        &self.buf[pos..]
    }
}

/// Canonical JSON text of a payload: no whitespace, object keys sorted by their
/// UTF-8 bytes, strings escaped as serde_json does (`\"`, `\\`, `\b`, `\f`,
/// `\n`, `\r`, `\t`, other control characters as `\u00xx`; everything else
/// literal UTF-8), numbers as serde_json prints them.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::with_capacity(128);
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(item, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let b = c as u32 as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[b >> 4]));
                out.push(char::from(HEX[b & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        let v =
            json!({"zeta": 1, "alpha": {"b": [true, null, "x"], "a": -2.5}, "kind": "note-added"});
        assert_eq!(
            canonical_json(&v),
            r#"{"alpha":{"a":-2.5,"b":[true,null,"x"]},"kind":"note-added","zeta":1}"#
        );
    }

    #[test]
    fn canonical_json_escapes_like_serde_json() {
        let s = "quote \" back \\ nl \n tab \t bell \u{7} esc \u{1b} del \u{7f} é ✓ /";
        let v = json!({ "text": s });
        let ours = canonical_json(&v);
        let theirs = serde_json::to_string(&v).expect("serialize");
        assert_eq!(ours, theirs);
        // And it reads back to the same value.
        let back: Value = serde_json::from_str(&ours).expect("parse");
        assert_eq!(back, v);
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn int_text_formats_edge_values() {
        let mut t = IntText::default();
        assert_eq!(t.format(0), b"0");
        assert_eq!(t.format(42), b"42");
        assert_eq!(t.format(-7), b"-7");
        assert_eq!(t.format(i64::MAX), i64::MAX.to_string().as_bytes());
        assert_eq!(t.format(i64::MIN), i64::MIN.to_string().as_bytes());
    }

    /// The documented test vector (docs/evidence-schema.md): an independent
    /// verifier can check itself against it.
    #[test]
    fn record_hash_matches_documented_vector() {
        let payload = r#"{"kind":"note-added","step":"check","text":"ok"}"#;
        let payload_sha = sha256_hex(payload.as_bytes());
        let rec = Record {
            format: RecordFormat::V1,
            seq: 2,
            run_id: Some(b"01890a5d-ac96-774b-bcce-b302099a8057"),
            run_seq: 2,
            at: b"2025-01-02T03:04:05.678Z",
            actor: b"alice",
            kind: b"note-added",
            step: Some(b"check"),
            payload_sha256: payload_sha.as_bytes(),
            prev_hash: GENESIS.as_bytes(),
        };
        // Built by hand from the documented encoding.
        let mut input = Vec::new();
        for f in [
            "runsheet-chain-v1",
            "2",
            "01890a5d-ac96-774b-bcce-b302099a8057",
            "2",
            "2025-01-02T03:04:05.678Z",
            "alice",
            "note-added",
            "check",
            payload_sha.as_str(),
            GENESIS,
        ] {
            input.extend_from_slice(&(f.len() as u32).to_be_bytes());
            input.extend_from_slice(f.as_bytes());
        }
        assert_eq!(rec.hash(), sha256_hex(&input));
        assert_eq!(
            payload_sha,
            "5f064d7dddddafc052f4b0dbde688f13024b380db36b316c3079ce9cdd274338"
        );
        assert_eq!(
            rec.hash(),
            "8f39e4868089b60c45bce0bd3ee4d7ba5af2ee3876e6ac42e6c0ee23e8b152c4"
        );
    }

    /// Format 2's documented test vectors (docs/evidence-schema.md): the same
    /// record as above, and a log event whose run id and step are NULL.
    #[test]
    fn format_two_matches_documented_vectors() {
        let payload_sha = sha256_hex(br#"{"kind":"note-added","step":"check","text":"ok"}"#);
        let rec = Record {
            format: RecordFormat::V2,
            seq: 2,
            run_id: Some(b"01890a5d-ac96-774b-bcce-b302099a8057"),
            run_seq: 2,
            at: b"2025-01-02T03:04:05.678Z",
            actor: b"alice",
            kind: b"note-added",
            step: Some(b"check"),
            payload_sha256: payload_sha.as_bytes(),
            prev_hash: GENESIS.as_bytes(),
        };
        let by_hand = |fields: &[Option<&str>]| {
            let mut input = Vec::new();
            for f in fields {
                match f {
                    Some(f) => {
                        input.extend_from_slice(&(f.len() as u32).to_be_bytes());
                        input.extend_from_slice(f.as_bytes());
                    }
                    None => input.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]),
                }
            }
            sha256_hex(&input)
        };
        assert_eq!(
            rec.hash(),
            by_hand(&[
                Some("runsheet-chain-v2"),
                Some("2"),
                Some("01890a5d-ac96-774b-bcce-b302099a8057"),
                Some("2"),
                Some("2025-01-02T03:04:05.678Z"),
                Some("alice"),
                Some("note-added"),
                Some("check"),
                Some(payload_sha.as_str()),
                Some(GENESIS),
            ])
        );
        assert_eq!(
            rec.hash(),
            "02d8ce76bcb9b1d6d5bb7d5c1e7ca0d93f622fe6a07fe0befff70678f43cf677"
        );
        let log_payload = sha256_hex(br#"{"kind":"export"}"#);
        let log_event = Record {
            run_id: None,
            step: None,
            run_seq: 1,
            kind: b"export",
            payload_sha256: log_payload.as_bytes(),
            ..rec
        };
        assert_eq!(
            log_event.hash(),
            by_hand(&[
                Some("runsheet-chain-v2"),
                Some("2"),
                None,
                Some("1"),
                Some("2025-01-02T03:04:05.678Z"),
                Some("alice"),
                Some("export"),
                None,
                Some(log_payload.as_str()),
                Some(GENESIS),
            ])
        );
        assert_eq!(
            log_event.hash(),
            "c0fed204d9db2bf5bbdda3807a2b111bfedca80151bad286c006e3d8a7474092"
        );
        // NULL and the empty string hash differently in format 2 only.
        let empty = Record {
            run_id: Some(b""),
            step: Some(b""),
            ..log_event
        };
        assert_ne!(empty.hash(), log_event.hash());
        let v1 = |r: Record<'_>| {
            Record {
                format: RecordFormat::V1,
                ..r
            }
            .hash()
        };
        assert_eq!(v1(empty), v1(log_event));
    }
}
