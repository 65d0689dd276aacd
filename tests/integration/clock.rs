//! Clock provenance through the binary: `run` and `resume` record what the
//! kernel says of the clock, every event a session records carries its
//! monotonic `elapsed_ms`, `show` prints the clock's state, and the record
//! is covered by the chain like any other.
#![allow(clippy::unwrap_used)]

use std::process::Stdio;

use rusqlite::Connection;
use serde_json::Value;

use crate::common::{drill, runsheet, stdout};
use crate::tamper::attacker;

#[test]
fn run_and_resume_record_the_clock_and_each_event_its_elapsed_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    // Start, confirm nothing, suspend at end of input; then resume and suspend.
    let out = runsheet(&db)
        .args(["run", "--plain"])
        .arg(drill())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10), "suspended: {}", stdout(&out));
    let run: String = Connection::open(&db)
        .unwrap()
        .query_row("SELECT id FROM runs", [], |r| r.get(0))
        .unwrap();
    let out = runsheet(&db)
        .args(["resume", "--plain", &run])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10), "suspended: {}", stdout(&out));

    let conn = Connection::open(&db).unwrap();
    let events: Vec<(String, Value)> = conn
        .prepare("SELECT kind, payload FROM events WHERE run_id IS NOT NULL ORDER BY seq")
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                serde_json::from_str(&r.get::<_, String>(1)?).unwrap(),
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(conn);
    for (kind, payload) in &events {
        assert!(payload["elapsed_ms"].is_u64(), "{kind}: {payload}");
        if kind == "run-started" || kind == "resumed" {
            let clock = &payload["clock"];
            assert!(
                clock["source"] == "adjtimex" || clock["source"] == "unavailable",
                "{kind}: {payload}"
            );
            if clock["source"] == "adjtimex" {
                assert!(clock["synchronized"].is_boolean(), "{payload}");
                assert!(clock["max_error_us"].is_i64(), "{payload}");
            }
        }
    }
    assert!(events.iter().any(|(k, _)| k == "resumed"), "{events:?}");
    let shown = stdout(&runsheet(&db).args(["show", &run]).output().unwrap());
    assert!(shown.contains("Clock: "), "{shown}");
    assert!(
        shown.contains("Resumed by ") && shown.contains("; clock "),
        "{shown}"
    );

    // The clock's state is evidence like the rest: claiming a better clock
    // than the kernel reported is caught.
    attacker(&db)
        .execute(
            "UPDATE events SET payload = json_set(payload, '$.clock.synchronized', json('true'), '$.clock.max_error_us', 1) WHERE kind = 'run-started'",
            [],
        )
        .unwrap();
    let out = runsheet(&db).arg("verify").output().unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("payload-mismatch"), "{text}");
}
