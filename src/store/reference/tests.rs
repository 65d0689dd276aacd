//! The reference verifier against the documented test vectors, and against
//! the real `verify` on a log the store wrote.

use rusqlite::{Connection, OpenFlags};
use serde_json::json;

use super::{Head, Record, ZEROS, sha256_hex};
use crate::store::{NewEvent, Store, time_text};

// ------------------------------------------------------------ test vectors

const NOTE: &str = r#"{"kind":"note-added","step":"check","text":"ok"}"#;
const NOTE_SHA: &str = "5f064d7dddddafc052f4b0dbde688f13024b380db36b316c3079ce9cdd274338";
const RUN: &str = "01890a5d-ac96-774b-bcce-b302099a8057";
const AT: &str = "2025-01-02T03:04:05.678Z";

fn vector<'a>(
    run_id: Option<&'a [u8]>,
    run_seq: i64,
    kind: &'a str,
    step: Option<&'a [u8]>,
    sha: &'a str,
) -> Record<'a> {
    Record {
        seq: 2,
        run_id,
        run_seq,
        at: AT.as_bytes(),
        actor: b"alice",
        kind: kind.as_bytes(),
        step,
        payload: None,
        payload_sha256: sha.as_bytes(),
        prev_hash: ZEROS.as_bytes(),
        hash: b"",
    }
}

#[test]
fn the_documented_test_vectors_hash_as_documented() {
    assert_eq!(sha256_hex(NOTE.as_bytes()), NOTE_SHA);
    let note = vector(
        Some(RUN.as_bytes()),
        2,
        "note-added",
        Some(b"check"),
        NOTE_SHA,
    );
    assert_eq!(
        note.hash_at(1, 2),
        "8f39e4868089b60c45bce0bd3ee4d7ba5af2ee3876e6ac42e6c0ee23e8b152c4"
    );
    assert_eq!(
        note.hash_at(2, 2),
        "02d8ce76bcb9b1d6d5bb7d5c1e7ca0d93f622fe6a07fe0befff70678f43cf677"
    );
    let export_sha = sha256_hex(br#"{"kind":"export"}"#);
    assert_eq!(
        export_sha,
        "267383583d6ae71589c3c8bab415200f1ec3f674939bb67024f8a593f84df829"
    );
    let export = vector(None, 1, "export", None, &export_sha);
    assert_eq!(
        export.hash_at(2, 2),
        "c0fed204d9db2bf5bbdda3807a2b111bfedca80151bad286c006e3d8a7474092"
    );
    // '' instead of NULL: another hash in format 2, the same in format 1.
    let empty = vector(Some(b""), 1, "export", Some(b""), &export_sha);
    assert_ne!(empty.hash_at(2, 2), export.hash_at(2, 2));
    assert_eq!(empty.hash_at(1, 2), export.hash_at(1, 2));
}

#[test]
fn a_log_the_store_wrote_verifies_with_its_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("evidence.sqlite3");
    let mut store = Store::open(&path).expect("open");
    let cp = store.checkpoint().expect("checkpoint");
    store
        .append_log_event(&NewEvent {
            at: chrono::Utc::now(),
            actor: "alice".into(),
            kind: "export".into(),
            step: None,
            payload: json!({"kind": "export", "out": "/tmp/bundle"}),
        })
        .expect("export");
    assert!(store.verify().expect("verify").is_ok());
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open");
    let head = Head {
        seq: cp.head_seq,
        hash: cp.head_hash.clone(),
        at: cp.at.map(time_text),
    };
    assert_eq!(super::verify(&conn, None).expect("reference"), None);
    assert_eq!(super::verify(&conn, Some(&head)).expect("reference"), None);
}
