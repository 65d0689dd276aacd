//! Store tests over real temporary SQLite files: round trip, the tamper matrix,
//! redaction, concurrency, failure injection, permissions and queries.
//!
//! Uses the engine's event types only to build realistic payloads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rusqlite::Connection;
use serde_json::json;
use tempfile::TempDir;
use uuid::Uuid;

use super::*;
use crate::engine::{Event, Outcome};

const SOURCE: &str = "# Nightly backup\nid = \"backup\"\ntitle = \"Nightly backup\"\n";

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000 + secs, 123_000_000)
        .single()
        .expect("valid time")
}

fn run_id(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + n)
}

fn new_run(id: Uuid, start: DateTime<Utc>) -> NewRun {
    NewRun {
        id,
        procedure_id: "backup".into(),
        procedure_version: "1.0".into(),
        procedure_title: "Nightly backup".into(),
        procedure_controls: vec!["A.8.13".into(), "A.5.37".into()],
        source_text: SOURCE.into(),
        source_format: "toml".into(),
        source_path: "procedures/backup.toml".into(),
        operator: crate::vocab::Operator::new("alice", Some("Alice Admin"), "host1"),
        runsheet_version: "0.1.0".into(),
        started_at: start,
    }
}

fn event(e: &Event, when: DateTime<Utc>, actor: &str) -> NewEvent {
    NewEvent {
        at: when,
        actor: actor.into(),
        kind: e.kind().into(),
        step: e.step().map(str::to_string),
        payload: e.to_payload(),
    }
}

fn started(run: &NewRun) -> NewEvent {
    let e = Event::RunStarted {
        procedure_id: run.procedure_id.clone(),
        procedure_version: run.procedure_version.clone(),
        procedure_sha256: sha256_hex(run.source_text.as_bytes()),
        procedure_title: run.procedure_title.clone(),
        procedure_controls: run.procedure_controls.clone(),
        procedure_format: run.source_format.clone(),
        source_path: run.source_path.clone(),
        operator: run.operator.user.clone(),
        operator_name: run.operator.name.clone(),
        host: run.operator.host.clone(),
        pid: None,
        change_notice: None,
        runsheet_version: run.runsheet_version.clone(),
        warnings: vec![],
        clock: None,
        drill: false,
    };
    event(&e, run.started_at, &run.operator.user)
}

fn note(text: &str, when: DateTime<Utc>) -> NewEvent {
    let e = Event::NoteAdded {
        step: "check".into(),
        text: text.into(),
    };
    event(&e, when, "alice")
}

fn ended(outcome: Outcome, when: DateTime<Utc>) -> NewEvent {
    event(
        &Event::RunEnded {
            outcome,
            reason: None,
        },
        when,
        "alice",
    )
}

fn new_log() -> (TempDir, PathBuf, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("evidence.sqlite3");
    let store = Store::open(&path).expect("open");
    (dir, path, store)
}

/// Create a run of 5 events: run-started, step-started, note, step-confirmed,
/// and (when `end`) run-ended — else a second note.
fn add_run(store: &mut Store, id: Uuid, start: i64, end: bool) -> Vec<StoredEvent> {
    let run = new_run(id, at(start));
    let mut stored = store
        .create_run(&run, &[started(&run)])
        .expect("create run");
    let step = event(
        &Event::StepStarted {
            step: "check".into(),
        },
        at(start + 1),
        "alice",
    );
    stored.extend(
        store
            .append(id, &[step, note("looks fine", at(start + 2))], None)
            .expect("append"),
    );
    let confirm = event(
        &Event::StepConfirmed {
            step: "check".into(),
        },
        at(start + 3),
        "alice",
    );
    stored.extend(store.append(id, &[confirm], None).expect("append"));
    let last = if end {
        store.append(
            id,
            &[ended(Outcome::Completed, at(start + 4))],
            Some(("completed", at(start + 4))),
        )
    } else {
        store.append(id, &[note("still open", at(start + 4))], None)
    };
    stored.extend(last.expect("append last"));
    stored
}

/// After the log's log-created (seq 1) and log-key (seq 2) events, three
/// runs A (seq 3-7), B (8-12), C (13-17); C stays open.
fn sample_log() -> (TempDir, PathBuf, Store, [Uuid; 3]) {
    let (dir, path, mut store) = new_log();
    let ids = [run_id(1), run_id(2), run_id(3)];
    add_run(&mut store, ids[0], 0, true);
    add_run(&mut store, ids[1], 100, true);
    add_run(&mut store, ids[2], 200, false);
    (dir, path, store, ids)
}

/// A raw connection with the append-only triggers, the unique run index and
/// foreign keys off, as an attacker with write access to the file would
/// have; when dropped, it puts the triggers and the index back as they were
/// (covering its tracks), so the tests see what the records alone give away.
struct Attacker {
    conn: Connection,
    restore: Vec<String>,
}

impl std::ops::Deref for Attacker {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        for sql in &self.restore {
            // A tamper that broke the unique index leaves it dropped.
            let _ = self.conn.execute_batch(sql);
        }
    }
}

const DROPPED: &[&str] = &[
    "events_no_update",
    "events_no_delete",
    "runs_no_delete",
    "runs_end_once",
    "sources_no_update",
    "tree_nodes_no_update",
    "tree_nodes_no_delete",
    "checkpoints_no_update",
    "checkpoints_no_delete",
    "cosignatures_no_update",
    "cosignatures_no_delete",
    "contents_no_delete",
    "contents_erase_only",
    "events_by_run",
];

fn attacker(path: &Path) -> Attacker {
    let conn = Connection::open(path).expect("raw open");
    let mut restore = Vec::new();
    for name in DROPPED {
        let (kind, sql): (String, String) = conn
            .query_row(
                "SELECT type, sql FROM sqlite_schema WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("schema object");
        conn.execute_batch(&format!("DROP {kind} {name};"))
            .expect("drop");
        restore.push(sql);
    }
    conn.execute_batch("PRAGMA foreign_keys = OFF;")
        .expect("fk off");
    Attacker { conn, restore }
}

impl Attacker {
    /// Cover the tracks custody would show, as an attacker without the log's
    /// key can: rebuild the Merkle tree over the records as they now are (up
    /// to a gap, if any) and delete the signed checkpoints (and their
    /// cosignatures) the change invalidated: those beyond the head and those
    /// whose root the records no longer give. What verify finds then is what
    /// the records alone give away (and rule 16: a record written with its
    /// checkpoint whose checkpoint is gone).
    fn cover_custody(&self) {
        self.conn
            .execute_batch(
                "DELETE FROM tree_nodes; \
                 DELETE FROM contents WHERE seq NOT IN (SELECT seq FROM events);",
            )
            .expect("wipe the tree and the removed records' content");
        let _ = super::tree::build(&self.conn);
        let head: i64 = self
            .conn
            .query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))
            .expect("head");
        let stored: Vec<(i64, String)> = self
            .conn
            .prepare("SELECT tree_size, note FROM checkpoints")
            .expect("checkpoints")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("checkpoints")
            .collect::<Result<_, _>>()
            .expect("checkpoints");
        for (size, note) in stored {
            let root = crate::custody::checkpoint::SignedCheckpoint::parse(&note)
                .map(|c| *c.checkpoint().root())
                .ok();
            let now = super::tree::load(&self.conn, u64::try_from(size).unwrap_or(0))
                .map(|f| f.root())
                .ok();
            if size > head || root.is_none() || root != now {
                self.conn
                    .execute_batch(&format!(
                        "DELETE FROM cosignatures WHERE tree_size = {size}; \
                         DELETE FROM checkpoints WHERE tree_size = {size};"
                    ))
                    .expect("delete a checkpoint");
            }
        }
    }
}

fn finding(store: &Store) -> Finding {
    let report = store.verify().expect("verify runs");
    report.finding.expect("verify should find the tampering")
}

fn count(path: &Path, sql: &str) -> i64 {
    Connection::open(path)
        .expect("raw open")
        .query_row(sql, [], |r| r.get(0))
        .expect("count")
}

/// Swap every column but seq between two events.
fn swap(conn: &Connection, a: i64, b: i64) {
    conn.execute_batch(&format!(
        "CREATE TEMP TABLE t AS SELECT * FROM events WHERE seq IN ({a}, {b});
         UPDATE events SET (run_id, run_seq, at, actor, kind, step, payload, payload_sha256, prev_hash, hash) =
           (SELECT run_id, run_seq, at, actor, kind, step, payload, payload_sha256, prev_hash, hash
            FROM t WHERE t.seq = CASE events.seq WHEN {a} THEN {b} ELSE {a} END)
         WHERE seq IN ({a}, {b});
         DROP TABLE t;"
    ))
    .expect("swap");
}

/// Make room at `k` by moving seqs >= k up by one.
fn shift_up(conn: &Connection, k: i64) {
    conn.execute_batch(&format!(
        "UPDATE events SET seq = seq + 1000000 WHERE seq >= {k};
         UPDATE events SET seq = seq - 999999 WHERE seq >= 1000000;"
    ))
    .expect("shift");
}

// ---------------------------------------------------------------- round trip

#[test]
fn a_new_log_holds_its_log_created_event_and_verifies() {
    let (_dir, _path, store) = new_log();
    let report = store.verify().expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.runs, report.events, report.head_seq), (0, 2, 2));
    assert!(!report.test_data);
    let mut events = Vec::new();
    store
        .for_each_event(1, |e| {
            events.push(e);
            Ok(())
        })
        .expect("events");
    let [first, key] = <[_; 2]>::try_from(events).expect("two log events");
    assert_eq!((key.kind.as_str(), key.run_seq), (KIND_LOG_KEY, 2));
    assert_eq!(key.prev_hash, first.hash);
    let at_key = key.at;
    assert_eq!(
        (first.kind.as_str(), first.run_id, first.run_seq),
        (KIND_LOG_CREATED, None, 1)
    );
    assert_eq!(first.prev_hash, GENESIS);
    assert_eq!(first.payload["record_hash"], 2);
    assert_eq!(first.payload["test_data"], false);
    assert_eq!(report.head_hash, key.hash);
    let cp = store.checkpoint().expect("checkpoint");
    assert_eq!((cp.events, cp.head_seq, cp.at), (2, 2, Some(at_key)));
    assert!(store.verify_checkpoint(&cp).expect("verify cp").is_ok());
}

#[test]
fn chain_round_trip() {
    let (_dir, path, mut store) = new_log();
    let a = add_run(&mut store, run_id(1), 0, true);
    let b = add_run(&mut store, run_id(2), 100, false);
    let log = store
        .append_log_event(&NewEvent {
            at: at(300),
            actor: "alice".into(),
            kind: "export".into(),
            step: None,
            payload: json!({"kind": "export", "out": "/tmp/bundle", "runs": 2}),
        })
        .expect("log event");

    // Sequence numbers, links and per-run numbering.
    assert_eq!(a.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5, 6, 7]);
    assert_eq!(
        b.iter().map(|e| e.run_seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    let created: String = Connection::open(&path)
        .expect("raw")
        .query_row("SELECT hash FROM events WHERE seq = 2", [], |r| r.get(0))
        .expect("log-created");
    assert_eq!(a[0].prev_hash, created);
    assert_eq!(b[0].prev_hash, a[4].hash);
    assert_eq!((log.seq, log.run_id, log.run_seq), (13, None, 3));
    assert_eq!(log.prev_hash, b[4].hash);

    // What was returned is what is read back.
    assert_eq!(store.events(run_id(1)).expect("events"), a);
    assert_eq!(store.events(run_id(2)).expect("events"), b);
    let mut streamed = Vec::new();
    store
        .for_each_event(6, |e| {
            streamed.push(e.seq);
            Ok(())
        })
        .expect("stream");
    assert_eq!(streamed, (6..=13).collect::<Vec<_>>());

    // Payloads are stored as canonical JSON and hashed as those bytes.
    let text: String = Connection::open(&path)
        .expect("raw")
        .query_row("SELECT payload FROM events WHERE seq = 5", [], |r| r.get(0))
        .expect("payload");
    // A note's text is content: kept in `contents` beside a random salt, the
    // payload holding SHA-256(salt || content) instead (schema 5).
    let (salt, content): (String, String) = Connection::open(&path)
        .expect("raw")
        .query_row(
            "SELECT salt, content FROM contents WHERE seq = 5",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("content");
    assert_eq!(content, r#"{"text":"looks fine"}"#);
    let salt_bytes = hex::decode(&salt).expect("hex salt");
    assert_eq!(salt_bytes.len(), 32);
    let commitment = sha256_hex(&[salt_bytes.as_slice(), content.as_bytes()].concat());
    assert_eq!(
        text,
        format!(r#"{{"content_sha256":"{commitment}","kind":"note-added","step":"check"}}"#)
    );
    assert_eq!(a[2].payload_sha256, sha256_hex(text.as_bytes()));
    assert_eq!(a[2].event_payload()["text"], "looks fine");
    assert_eq!(a[0].at, at(0));

    // The run rows.
    let row = store.run(run_id(1)).expect("run").expect("exists");
    assert_eq!(row.outcome.as_deref(), Some("completed"));
    assert_eq!(row.ended_at, Some(at(4)));
    assert_eq!((row.event_count, row.last_at), (5, at(4)));
    assert_eq!(row.controls, ["A.8.13", "A.5.37"]);
    assert_eq!(row.procedure_sha256, sha256_hex(SOURCE.as_bytes()));
    let open = store.run(run_id(2)).expect("run").expect("exists");
    assert_eq!((open.outcome, open.ended_at), (None, None));
    assert_eq!(
        store
            .procedure_source(&row.procedure_sha256)
            .expect("source"),
        Some((SOURCE.to_string(), "toml".to_string()))
    );
    assert_eq!(count(&path, "SELECT count(*) FROM procedure_sources"), 1);

    let report = store.verify().expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.runs, report.events, report.head_seq), (2, 13, 13));
    assert_eq!(report.head_hash, log.hash);
    let cp = store.checkpoint().expect("checkpoint");
    assert_eq!(
        (cp.events, cp.head_seq, cp.head_hash.as_str()),
        (13, 13, log.hash.as_str())
    );
    assert_eq!(cp.at, Some(at(300)));
    assert!(store.verify_checkpoint(&cp).expect("verify cp").is_ok());
}

#[test]
fn a_reopened_log_continues_the_chain() {
    let (_dir, path, mut store) = new_log();
    add_run(&mut store, run_id(1), 0, true);
    drop(store);
    let mut store = Store::open_existing(&path).expect("reopen");
    let b = add_run(&mut store, run_id(2), 100, true);
    assert_eq!(b[0].seq, 8);
    assert!(store.verify().expect("verify").is_ok());
}

/// A writer that knows a run up to one event appends only on top of it:
/// after another writer's event it is refused and writes nothing, reads
/// the new event with `events_after`, and then appends on top of it.
#[test]
fn an_append_on_top_of_an_unseen_event_is_refused() {
    let (_dir, path, mut store) = new_log();
    let id = run_id(7);
    add_run(&mut store, id, 0, false);
    let mut other = Store::open_existing(&path).expect("second writer");
    other
        .append(id, &[note("from the other session", at(10))], None)
        .expect("other append");
    let before = count(&path, "SELECT count(*) FROM events");
    let refused = store.append_after(id, 5, &[note("stale", at(11))], None);
    assert!(
        matches!(refused, Err(StoreError::RunChanged { run, .. }) if run == id),
        "{refused:?}"
    );
    assert_eq!(count(&path, "SELECT count(*) FROM events"), before);
    let unseen = store.events_after(id, 5).expect("events after");
    assert_eq!(
        unseen.iter().map(|e| e.run_seq).collect::<Vec<_>>(),
        [6],
        "{unseen:?}"
    );
    let on_top = store
        .append_after(id, 6, &[note("after it", at(12))], None)
        .expect("append on top");
    assert_eq!(on_top[0].run_seq, 7);
    assert!(store.verify().expect("verify").is_ok());
}

// ------------------------------------------------------------- tamper matrix

#[test]
fn tamper_edited_payload_is_named() {
    let (_dir, path, store, ids) = sample_log();
    // The note's text is content, kept apart and committed to: an edit of
    // it no longer matches the payload's content_sha256...
    attacker(&path)
        .execute(
            "UPDATE contents SET content = replace(content, 'looks fine', 'looks bad') WHERE seq = 10",
            [],
        )
        .expect("tamper");
    let f = finding(&store);
    assert_eq!(
        (f.problem, f.seq, f.run_id, f.run_seq),
        (Problem::PayloadMismatch, Some(10), Some(ids[1]), Some(3))
    );
    assert!(
        f.message.contains("seq 10") && f.message.contains(&ids[1].to_string()),
        "{}",
        f.message
    );
    // ...and an edit of the payload itself no longer matches its payload_sha256.
    let (_dir, path, store, ids) = sample_log();
    attacker(&path)
        .execute(
            "UPDATE events SET payload = replace(payload, '\"step\":\"check\"', '\"step\":\"other\"') WHERE seq = 10",
            [],
        )
        .expect("tamper");
    let f = finding(&store);
    assert_eq!(
        (f.problem, f.seq, f.run_id, f.run_seq),
        (Problem::PayloadMismatch, Some(10), Some(ids[1]), Some(3))
    );
}

#[test]
fn tamper_edited_fields_break_the_chain() {
    for (sql, seq) in [
        ("UPDATE events SET actor = 'mallory' WHERE seq = 8", 8),
        (
            "UPDATE events SET at = '2020-01-01T00:00:00.000Z' WHERE seq = 10",
            10,
        ),
        // Payload and its hash edited together: the record hash still breaks.
        (
            "UPDATE events SET payload = '{}', payload_sha256 = '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a' WHERE seq = 4",
            4,
        ),
        ("UPDATE events SET hash = prev_hash WHERE seq = 13", 13),
        ("UPDATE events SET prev_hash = hash WHERE seq = 5", 5),
    ] {
        let (_dir, path, store, _ids) = sample_log();
        attacker(&path).execute(sql, []).expect("tamper");
        let f = finding(&store);
        assert_eq!(
            (f.problem, f.seq),
            (Problem::Edited, Some(seq)),
            "{sql}: {f:?}"
        );
        assert!(f.message.contains(&format!("seq {seq}")), "{}", f.message);
    }
}

#[test]
fn tamper_deleted_event_names_the_missing_seq() {
    let (_dir, path, store, _ids) = sample_log();
    attacker(&path)
        .execute("DELETE FROM events WHERE seq = 8", [])
        .expect("tamper");
    let f = finding(&store);
    assert_eq!((f.problem, f.seq), (Problem::Missing, Some(8)), "{f:?}");
    assert!(f.message.contains("seq 8 is missing"), "{}", f.message);

    // Deleted and the gap closed by renumbering the rest.
    let (_dir, path, store, _ids) = sample_log();
    let conn = attacker(&path);
    conn.execute_batch(
        "DELETE FROM events WHERE seq = 8;
         UPDATE events SET seq = seq - 1 + 1000000 WHERE seq > 8;
         UPDATE events SET seq = seq - 1000000 WHERE seq > 1000000;",
    )
    .expect("tamper");
    let f = finding(&store);
    assert_eq!((f.problem, f.seq), (Problem::Missing, Some(8)), "{f:?}");
    assert!(f.message.contains("originally seq 9"), "{}", f.message);
}

#[test]
fn tamper_inserted_event_is_named() {
    // A forged note with a correct-looking hash that links to seq 8.
    let (_dir, path, store, ids) = sample_log();
    let conn = attacker(&path);
    shift_up(&conn, 9);
    let prev: String = conn
        .query_row("SELECT hash FROM events WHERE seq = 8", [], |r| r.get(0))
        .expect("prev");
    let payload = canonical_json(&json!({"kind": "note-added", "step": "check", "text": "forged"}));
    let payload_sha = sha256_hex(payload.as_bytes());
    let id = ids[1].to_string();
    let at_text = "2025-06-15T15:08:21.123Z";
    let hash = chain::Record {
        format: RecordFormat::V2,
        seq: 9,
        run_id: Some(id.as_bytes()),
        run_seq: 2,
        at: at_text.as_bytes(),
        actor: b"mallory",
        kind: b"note-added",
        step: Some(b"check"),
        payload_sha256: payload_sha.as_bytes(),
        prev_hash: prev.as_bytes(),
    }
    .hash();
    conn.execute(
        "INSERT INTO events VALUES (9, ?1, 2, ?2, 'mallory', 'note-added', 'check', ?3, ?4, ?5, ?6)",
        rusqlite::params![id, at_text, payload, payload_sha, prev, hash],
    )
    .expect("insert");
    let f = finding(&store);
    assert_eq!(
        (f.problem, f.seq, f.run_id),
        (Problem::Inserted, Some(9), Some(ids[1])),
        "{f:?}"
    );
    assert!(f.message.contains("seq 9"), "{}", f.message);

    // A clumsy insert: a copy of seq 8 with a made-up hash.
    let (_dir, path, store, _ids) = sample_log();
    let conn = attacker(&path);
    shift_up(&conn, 9);
    conn.execute_batch(
        "INSERT INTO events SELECT 9, run_id, run_seq, at, actor, kind, step, payload, payload_sha256, hash, 'ff' FROM events WHERE seq = 8;",
    )
    .expect("insert");
    let f = finding(&store);
    assert_eq!((f.problem, f.seq), (Problem::Inserted, Some(9)), "{f:?}");

    // An extra record appended at the end that does not link.
    let (_dir, path, store, _ids) = sample_log();
    let conn = attacker(&path);
    conn.execute_batch(
        "INSERT INTO events SELECT 18, run_id, 6, at, actor, kind, step, payload, payload_sha256, 'ab', 'cd' FROM events WHERE seq = 17;",
    )
    .expect("insert");
    let f = finding(&store);
    assert_eq!(f.seq, Some(18), "{f:?}");
    assert!(
        matches!(f.problem, Problem::Edited | Problem::Inserted),
        "{f:?}"
    );
}

#[test]
fn tamper_reordered_events_are_named() {
    for (a, b) in [(8, 10), (13, 14), (3, 15)] {
        let (_dir, path, store, _ids) = sample_log();
        swap(&attacker(&path), a, b);
        let f = finding(&store);
        assert_eq!(
            (f.problem, f.seq),
            (Problem::OutOfOrder, Some(a)),
            "swap {a},{b}: {f:?}"
        );
        assert!(f.message.contains("reordered"), "{}", f.message);
    }
}

#[test]
fn tamper_deleted_run_is_named() {
    // Run B's events and row gone: a gap where its events were.
    let (_dir, path, store, ids) = sample_log();
    attacker(&path)
        .execute_batch(&format!(
            "DELETE FROM events WHERE run_id = '{0}'; DELETE FROM runs WHERE id = '{0}';",
            ids[1]
        ))
        .expect("tamper");
    let f = finding(&store);
    assert_eq!((f.problem, f.seq), (Problem::Missing, Some(8)), "{f:?}");
    assert!(
        f.message.contains("seq 8 to 12 are missing"),
        "{}",
        f.message
    );

    // Only the row gone: its events reference an unknown run.
    let (_dir, path, store, ids) = sample_log();
    attacker(&path)
        .execute(&format!("DELETE FROM runs WHERE id = '{}'", ids[1]), [])
        .expect("tamper");
    let f = finding(&store);
    assert_eq!(
        (f.problem, f.seq, f.run_id),
        (Problem::Missing, Some(8), Some(ids[1])),
        "{f:?}"
    );
    assert!(
        f.message.contains("row in `runs` was deleted"),
        "{}",
        f.message
    );

    // The last run's events gone but its row kept: the tree shows the cut...
    let (_dir, path, store, ids) = sample_log();
    let conn = attacker(&path);
    conn.execute(
        &format!("DELETE FROM events WHERE run_id = '{}'", ids[2]),
        [],
    )
    .expect("tamper");
    let f = finding(&store);
    assert_eq!((f.problem, f.seq), (Problem::Truncated, Some(13)), "{f:?}");
    assert!(f.message.contains("cut short"), "{}", f.message);
    // ...and with the tree rebuilt and the checkpoints gone, the row does.
    conn.cover_custody();
    drop(conn);
    let f = finding(&store);
    assert_eq!(
        (f.problem, f.seq, f.run_id),
        (Problem::Missing, None, Some(ids[2])),
        "{f:?}"
    );
    assert!(f.message.contains("no events"), "{}", f.message);
}

#[test]
fn tamper_truncated_tail_needs_a_checkpoint() {
    // Cut off the tail: the Merkle tree's rows and the signed checkpoints
    // beyond the new head show it.
    let (_dir, path, store, _ids) = sample_log();
    let cp = store.checkpoint().expect("checkpoint");
    assert_eq!(cp.head_seq, 17);
    let conn = attacker(&path);
    conn.execute("DELETE FROM events WHERE seq >= 16", [])
        .expect("tamper");
    let f = finding(&store);
    assert_eq!((f.problem, f.seq), (Problem::Truncated, Some(16)), "{f:?}");
    // With the tree rebuilt and the checkpoints deleted, the chain that is
    // left is intact...
    conn.cover_custody();
    drop(conn);
    assert!(store.verify().expect("verify").is_ok());
    // ...but a checkpoint kept elsewhere proves events are gone.
    let report = store.verify_checkpoint(&cp).expect("verify cp");
    let f = report.finding.expect("truncation found");
    assert_eq!((f.problem, f.seq), (Problem::Truncated, Some(16)), "{f:?}");
    assert!(f.message.contains("seq 16 to 17 are gone"), "{}", f.message);

    // Truncated and new events appended since: the head no longer matches.
    let (_dir, path, mut store, ids) = sample_log();
    let cp = store.checkpoint().expect("checkpoint");
    {
        let conn = attacker(&path);
        conn.execute("DELETE FROM events WHERE seq = 17", [])
            .expect("tamper");
        conn.cover_custody();
    }
    store
        .append(ids[2], &[note("rewritten", at(210))], None)
        .expect("append");
    assert!(store.verify().expect("verify").is_ok());
    let f = store
        .verify_checkpoint(&cp)
        .expect("verify cp")
        .finding
        .expect("rewrite found");
    assert_eq!((f.problem, f.seq), (Problem::Edited, Some(17)), "{f:?}");
}

#[test]
fn tamper_swapped_run_ids_break_the_chain() {
    let (_dir, path, store, ids) = sample_log();
    attacker(&path)
        .execute(
            "UPDATE events SET run_id = CASE run_id WHEN ?1 THEN ?2 ELSE ?1 END WHERE run_id IN (?1, ?2)",
            [ids[0].to_string(), ids[1].to_string()],
        )
        .expect("tamper");
    let f = finding(&store);
    assert_eq!(
        (f.problem, f.seq, f.run_id),
        (Problem::Edited, Some(3), Some(ids[1])),
        "{f:?}"
    );
}

#[test]
fn tamper_run_rows_and_sources_are_cross_checked() {
    // Outcome rewritten from completed to failed.
    let (_dir, path, store, ids) = sample_log();
    attacker(&path)
        .execute(
            "UPDATE runs SET outcome = 'failed' WHERE id = ?1",
            [ids[0].to_string()],
        )
        .expect("tamper");
    let f = finding(&store);
    assert_eq!(
        (f.problem, f.seq, f.run_id),
        (Problem::RunRowMismatch, Some(7), Some(ids[0])),
        "{f:?}"
    );
    assert!(f.message.contains("failed"), "{}", f.message);

    // An open run marked ended.
    let (_dir, path, store, ids) = sample_log();
    attacker(&path)
        .execute(
            "UPDATE runs SET outcome = 'completed', ended_at = '2025-06-15T15:10:00.000Z' WHERE id = ?1",
            [ids[2].to_string()],
        )
        .expect("tamper");
    let f = finding(&store);
    assert_eq!(
        (f.problem, f.seq, f.run_id),
        (Problem::RunRowMismatch, None, Some(ids[2])),
        "{f:?}"
    );

    // The operator changed on the row.
    let (_dir, path, store, ids) = sample_log();
    attacker(&path)
        .execute(
            "UPDATE runs SET operator = 'bob' WHERE id = ?1",
            [ids[1].to_string()],
        )
        .expect("tamper");
    let f = finding(&store);
    assert_eq!(
        (f.problem, f.seq, f.run_id),
        (Problem::RunRowMismatch, Some(8), Some(ids[1])),
        "{f:?}"
    );
    assert!(f.message.contains("operator"), "{}", f.message);

    // The display name changed on the row.
    let (_dir, path, store, ids) = sample_log();
    attacker(&path)
        .execute(
            "UPDATE runs SET operator_name = 'Mallory' WHERE id = ?1",
            [ids[1].to_string()],
        )
        .expect("tamper");
    let f = finding(&store);
    assert_eq!(
        (f.problem, f.seq, f.run_id),
        (Problem::RunRowMismatch, Some(8), Some(ids[1])),
        "{f:?}"
    );
    assert!(f.message.contains("operator_name"), "{}", f.message);

    // The procedure text edited.
    let (_dir, path, store, ids) = sample_log();
    attacker(&path)
        .execute(
            "UPDATE procedure_sources SET text = text || '# extra step\n'",
            [],
        )
        .expect("tamper");
    let f = finding(&store);
    assert_eq!(
        (f.problem, f.seq, f.run_id),
        (Problem::SourceMismatch, Some(3), Some(ids[0])),
        "{f:?}"
    );
}

// ------------------------------------------------------- no redaction (yet)

#[test]
fn a_removed_payload_or_a_redaction_event_is_tampering() {
    let (_dir, path, mut store, ids) = sample_log();
    attacker(&path)
        .execute("UPDATE events SET payload = NULL WHERE seq = 10", [])
        .expect("tamper");
    let f = finding(&store);
    assert_eq!(
        (f.problem, f.seq),
        (Problem::PayloadMismatch, Some(10)),
        "{f:?}"
    );
    assert!(f.message.contains("removed"), "{}", f.message);
    // Reading the event is refused, not shown without its payload.
    let err = store.events(ids[1]).expect_err("no payload");
    assert!(err.to_string().contains("no payload"), "{err}");

    // The store writes no redaction event...
    let refused = store.append_log_event(&NewEvent {
        at: at(400),
        actor: "security-officer".into(),
        kind: "redaction".into(),
        step: None,
        payload: json!({"kind": "redaction", "seqs": [10]}),
    });
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );
    // ...and one forged into the chain with correct hashes is named.
    let (_dir, path, store, _ids) = sample_log();
    {
        let conn = attacker(&path);
        forge_log_event(&conn, json!({"kind": "redaction", "seqs": [10]}));
        conn.cover_custody();
    }
    let f = finding(&store);
    assert_eq!((f.problem, f.seq), (Problem::Inserted, Some(18)), "{f:?}");
    assert!(f.message.contains("redaction"), "{}", f.message);
}

/// Append a log event with a correct payload hash and record hash (format 2)
/// at the chain head, as an attacker who knows the algorithm would.
fn forge_log_event(conn: &Connection, payload: serde_json::Value) {
    let (seq, prev): (i64, String) = conn
        .query_row(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("head");
    let run_seq: i64 = conn
        .query_row(
            "SELECT max(run_seq) FROM events WHERE run_id IS NULL",
            [],
            |r| r.get(0),
        )
        .expect("log events");
    let kind = payload["kind"].as_str().expect("kind").to_string();
    let text = canonical_json(&payload);
    let sha = sha256_hex(text.as_bytes());
    let at_text = "2025-06-15T16:00:00.000Z";
    let hash = Record {
        format: RecordFormat::V2,
        seq: seq + 1,
        run_id: None,
        run_seq: run_seq + 1,
        at: at_text.as_bytes(),
        actor: b"mallory",
        kind: kind.as_bytes(),
        step: None,
        payload_sha256: sha.as_bytes(),
        prev_hash: prev.as_bytes(),
    }
    .hash();
    conn.execute(
        "INSERT INTO events VALUES (?1, NULL, ?2, ?3, 'mallory', ?4, NULL, ?5, ?6, ?7, ?8)",
        rusqlite::params![seq + 1, run_seq + 1, at_text, kind, text, sha, prev, hash],
    )
    .expect("forge");
}

// --------------------------------------------------------------- concurrency

#[test]
fn two_writers_interleave_and_the_chain_holds() {
    let (dir, path, store) = new_log();
    drop(store);
    let writers: Vec<_> = (0..2u128)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut store = Store::open(&path).expect("open");
                for r in 0..4u128 {
                    let id = run_id(100 + w * 10 + r);
                    let run = new_run(id, at(0));
                    store.create_run(&run, &[started(&run)]).expect("create");
                    for n in 0..3 {
                        store
                            .append(id, &[note(&format!("w{w} r{r} n{n}"), at(1 + n))], None)
                            .expect("append");
                    }
                    store
                        .append(
                            id,
                            &[ended(Outcome::Completed, at(9))],
                            Some(("completed", at(9))),
                        )
                        .expect("end");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer thread");
    }
    let store = Store::open_existing(&path).expect("open");
    let report = store.verify().expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.runs, report.events), (8, 8 * 5 + 2));
    drop(dir);
}

#[test]
fn event_times_are_assigned_under_the_write_lock_so_two_writers_cannot_go_backwards() {
    // Two handles on one run, as two sessions would have: the second one's
    // clock is behind (its time was taken before the first one committed).
    let (_dir, path, mut store, ids) = sample_log();
    let mut other = Store::open(&path).expect("second handle");
    store
        .append(ids[2], &[note("first writer", at(300))], None)
        .expect("append");
    let late = other
        .append(
            ids[2],
            &[note("second writer", at(250)), note("and again", at(240))],
            None,
        )
        .expect("append");
    assert_eq!(
        late.iter().map(|e| e.at).collect::<Vec<_>>(),
        [at(300), at(300)]
    );
    let end = other
        .append(
            ids[2],
            &[ended(Outcome::Completed, at(260))],
            Some(("completed", at(260))),
        )
        .expect("end");
    let row = other.run(ids[2]).expect("run").expect("row");
    assert_eq!((row.ended_at, end[0].at), (Some(at(300)), at(300)));
    let report = store.verify().expect("verify");
    assert!(report.is_ok(), "{report}");
}

// --------------------------------------------------------- failure injection

#[test]
fn read_only_log_refuses_writes_and_keeps_nothing() {
    // Root ignores file modes (chmod 0400 would not stop it), so the read-only
    // file is simulated by opening with SQLITE_OPEN_READ_ONLY.
    let (_dir, path, mut store, ids) = sample_log();
    drop(store.checkpoint());
    let mut ro = Store::options()
        .read_only(true)
        .open(&path)
        .expect("open read-only");
    let err = ro
        .append(ids[2], &[note("x", at(300))], None)
        .expect_err("must fail");
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
    assert!(err.to_string().contains("read-only"), "{err}");
    let run = new_run(run_id(9), at(500));
    let err = ro
        .create_run(&run, &[started(&run)])
        .expect_err("must fail");
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
    // Reading still works, and nothing was written.
    assert!(ro.verify().expect("verify").is_ok());
    assert_eq!(count(&path, "SELECT count(*) FROM events"), 17);
    assert_eq!(count(&path, "SELECT count(*) FROM runs"), 3);
    // The writable connection is unaffected.
    store
        .append(ids[2], &[note("y", at(300))], None)
        .expect("append");
}

#[test]
fn locked_log_fails_after_the_busy_timeout_and_keeps_nothing() {
    let (_dir, path, _store, ids) = sample_log();
    let mut store = Store::open_with_timeout(&path, Duration::from_millis(50)).expect("open");
    let holder = Connection::open(&path).expect("raw");
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("hold the write lock");
    let err = store
        .append(ids[2], &[note("x", at(300))], None)
        .expect_err("must fail");
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("locked by another runsheet process"),
        "{err}"
    );
    holder.execute_batch("ROLLBACK").expect("release");
    assert_eq!(count(&path, "SELECT count(*) FROM events"), 17);
    // Once released, the same store writes again.
    store
        .append(ids[2], &[note("x", at(300))], None)
        .expect("append");
    assert!(store.verify().expect("verify").is_ok());
}

#[test]
fn full_log_fails_cleanly_and_keeps_nothing() {
    let (_dir, path, mut store, ids) = sample_log();
    let pages: i64 = store
        .conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .expect("pages");
    store
        .conn
        .execute_batch(&format!("PRAGMA max_page_count = {pages}"))
        .expect("limit");
    let big = "x".repeat(200_000);
    let err = store
        .append(ids[2], &[note(&big, at(300)), note("after", at(301))], None)
        .expect_err("must fail");
    assert!(matches!(err, StoreError::Full { .. }), "{err:?}");
    assert!(err.to_string().contains("full"), "{err}");
    assert_eq!(count(&path, "SELECT count(*) FROM events"), 17);
    assert!(store.verify().expect("verify").is_ok());
}

#[test]
fn newer_schema_is_refused() {
    let (_dir, path, store) = new_log();
    drop(store);
    Connection::open(&path)
        .expect("raw")
        .execute_batch("PRAGMA user_version = 99")
        .expect("bump");
    let err = Store::open(&path).expect_err("must refuse");
    match &err {
        StoreError::NewerSchema { found, known, .. } => {
            assert_eq!((*found, *known), (99, SCHEMA_VERSION));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    assert!(err.to_string().contains("use a newer runsheet"), "{err}");
}

#[test]
fn garbage_and_foreign_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.sqlite3");
    std::fs::write(&garbage, vec![0x42u8; 8192]).expect("write");
    let err = Store::open(&garbage).expect_err("must refuse");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");

    let foreign = dir.path().join("other.sqlite3");
    Connection::open(&foreign)
        .expect("raw")
        .execute_batch("CREATE TABLE notes (x TEXT)")
        .expect("create");
    let err = Store::open(&foreign).expect_err("must refuse");
    assert!(matches!(err, StoreError::Foreign { .. }), "{err:?}");
    assert!(
        err.to_string().contains("not a runsheet evidence log"),
        "{err}"
    );
}

#[test]
fn open_existing_needs_a_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("none.sqlite3");
    let err = Store::open_existing(&path).expect_err("no log");
    assert!(matches!(err, StoreError::NoLog { .. }), "{err:?}");
    assert!(err.to_string().contains("run a procedure first"), "{err}");
    assert!(!path.exists(), "open_existing must not create the file");
}

#[cfg(unix)]
#[test]
fn new_log_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir
        .path()
        .join("data")
        .join("runsheet")
        .join("evidence.sqlite3");
    let mut store = Store::open(&path).expect("open");
    add_run(&mut store, run_id(1), 0, true);
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    assert_eq!(mode(&dir.path().join("data/runsheet")), 0o700);
    // SQLite gives the WAL the database file's mode.
    let wal = path.with_extension("sqlite3-wal");
    assert!(wal.exists());
    assert_eq!(mode(&wal), 0o600);
}

#[test]
fn every_connection_gets_the_durability_pragmas() {
    let (_dir, _path, store) = new_log();
    let get = |pragma: &str| -> String {
        store
            .conn
            .query_row(&format!("PRAGMA {pragma}"), [], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| match v {
                rusqlite::types::Value::Integer(n) => n.to_string(),
                rusqlite::types::Value::Text(t) => t,
                other => format!("{other:?}"),
            })
            .expect("pragma")
    };
    assert_eq!(get("journal_mode"), "wal");
    assert_eq!(get("synchronous"), "2"); // FULL
    assert_eq!(get("foreign_keys"), "1");
    assert_eq!(get("busy_timeout"), "5000");
    assert_eq!(get("user_version"), SCHEMA_VERSION.to_string());
}

#[test]
fn triggers_keep_the_log_append_only() {
    let (_dir, path, _store, ids) = sample_log();
    let conn = Connection::open(&path).expect("raw");
    for sql in [
        "UPDATE events SET actor = 'mallory' WHERE seq = 1",
        "UPDATE events SET payload = NULL WHERE seq = 1",
        "DELETE FROM events WHERE seq = 15",
        "DELETE FROM procedure_sources",
        "UPDATE procedure_sources SET text = ''",
    ] {
        let err = conn.execute(sql, []).expect_err(sql);
        assert!(
            err.to_string().contains("runsheet evidence log"),
            "{sql}: {err}"
        );
    }
    let a = ids[0].to_string();
    let c = ids[2].to_string();
    for (sql, id) in [
        ("DELETE FROM runs WHERE id = ?1", &a),
        ("UPDATE runs SET outcome = 'failed' WHERE id = ?1", &a),
        ("UPDATE runs SET operator = 'bob' WHERE id = ?1", &c),
    ] {
        let err = conn.execute(sql, [id]).expect_err(sql);
        assert!(
            err.to_string().contains("runsheet evidence log"),
            "{sql}: {err}"
        );
    }
    // Ending an open run once is allowed (that is how append closes it).
    conn.execute(
        "UPDATE runs SET outcome = 'aborted', ended_at = '2025-06-15T15:10:00.000Z' WHERE id = ?1",
        [&c],
    )
    .expect("end once");
}

// ------------------------------------------------------ write-side contracts

#[test]
fn inconsistent_writes_are_refused_and_keep_nothing() {
    let (_dir, path, mut store, ids) = sample_log();
    // Appending to an ended run, or to none.
    let err = store
        .append(ids[0], &[note("late", at(50))], None)
        .expect_err("ended");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let err = store
        .append(run_id(77), &[note("who", at(50))], None)
        .expect_err("unknown");
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    // An outcome without its run-ended event, or a different one.
    let err = store
        .append(ids[2], &[note("x", at(250))], Some(("completed", at(250))))
        .expect_err("no run-ended");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let err = store
        .append(
            ids[2],
            &[ended(Outcome::Failed, at(250))],
            Some(("completed", at(250))),
        )
        .expect_err("other outcome");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let err = store
        .append(ids[2], &[ended(Outcome::Failed, at(250))], None)
        .expect_err("run-ended without outcome");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    // A run-started that does not match the run row.
    let mut run = new_run(run_id(8), at(500));
    let mut first = started(&run);
    run.source_text.push_str("# changed\n");
    let err = store
        .create_run(&run, &[first.clone()])
        .expect_err("sha differs");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    run.source_text = SOURCE.into();
    first.at = at(501);
    let err = store.create_run(&run, &[first]).expect_err("time differs");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let err = store
        .create_run(&run, &[note("no start", at(500))])
        .expect_err("no run-started");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    // A payload of another kind.
    let mut odd = note("x", at(250));
    odd.kind = "step-confirmed".into();
    let err = store
        .append(ids[2], &[odd], None)
        .expect_err("kind differs");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    // The same run twice.
    let run = new_run(ids[0], at(0));
    let err = store
        .create_run(&run, &[started(&run)])
        .expect_err("duplicate");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");

    assert_eq!(count(&path, "SELECT count(*) FROM events"), 17);
    assert_eq!(count(&path, "SELECT count(*) FROM runs"), 3);
    assert!(store.verify().expect("verify").is_ok());
}

// ------------------------------------------------------------------- queries

#[test]
fn find_run_by_prefix() {
    let (_dir, _path, mut store, ids) = sample_log();
    let full = ids[1].to_string();
    assert_eq!(store.find_run(&full).expect("full id").id, ids[1]);
    assert_eq!(
        store.find_run(&full.to_uppercase()).expect("upper case").id,
        ids[1]
    );
    let lone = Uuid::parse_str("0191abcd-0000-7000-8000-000000000001").expect("uuid");
    add_run(&mut store, lone, 500, true);
    assert_eq!(store.find_run(" 0191AB ").expect("prefix").id, lone);
    let err = store.find_run("0190").expect_err("ambiguous");
    assert!(matches!(err, StoreError::Ambiguous(_)), "{err:?}");
    assert!(err.to_string().contains(&ids[0].to_string()), "{err}");
    let err = store.find_run("ffff").expect_err("none");
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err = store.find_run("%").expect_err("not hex");
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err = store.find_run("").expect_err("empty");
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

#[test]
fn runs_filters_and_latest_open_run() {
    let (_dir, _path, mut store) = new_log();
    add_run(&mut store, run_id(1), 0, true); // 2025-06-15
    add_run(&mut store, run_id(2), 86_400, false); // 2025-06-16, open
    let mut other = new_run(run_id(3), at(2 * 86_400)); // 2025-06-17
    other.procedure_id = "restore".into();
    other.procedure_controls = vec!["A.8.13".into()];
    other.operator = crate::vocab::Operator::new("bob", Some("Bob Builder"), &other.operator.host);
    let first = started(&other);
    store.create_run(&other, &[first]).expect("create");

    let ids = |q: RunQuery| -> Vec<Uuid> {
        store
            .runs(&q)
            .expect("runs")
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(ids(RunQuery::default()), [run_id(3), run_id(2), run_id(1)]);
    let q = |f: fn(&mut RunQuery)| {
        let mut q = RunQuery::default();
        f(&mut q);
        q
    };
    assert_eq!(
        ids(q(|q| q.procedure = Some("backup".into()))),
        [run_id(2), run_id(1)]
    );
    assert_eq!(
        ids(q(|q| q.outcome = Some("open".into()))),
        [run_id(3), run_id(2)]
    );
    assert_eq!(
        ids(q(|q| q.outcome = Some("completed".into()))),
        [run_id(1)]
    );
    assert_eq!(
        ids(q(|q| q.operator = Some("bob builder".into()))),
        [run_id(3)]
    );
    assert_eq!(
        ids(q(|q| q.operator = Some("alice".into()))),
        [run_id(2), run_id(1)]
    );
    assert_eq!(
        ids(q(|q| q.control = Some("a.5.37".into()))),
        [run_id(2), run_id(1)]
    );
    assert_eq!(ids(q(|q| q.control = Some("A.8.13".into()))).len(), 3);
    assert_eq!(
        ids(q(|q| q.since = NaiveDate::from_ymd_opt(2025, 6, 16))),
        [run_id(3), run_id(2)]
    );
    assert_eq!(
        ids(q(|q| q.until = NaiveDate::from_ymd_opt(2025, 6, 16))),
        [run_id(2), run_id(1)]
    );
    assert_eq!(ids(q(|q| q.limit = Some(1))), [run_id(3)]);

    let open = store
        .latest_open_run("alice", None)
        .expect("query")
        .expect("open run");
    assert_eq!(open.id, run_id(2));
    assert_eq!(
        store
            .latest_open_run("bob", None)
            .expect("query")
            .map(|r| r.id),
        Some(run_id(3))
    );
    assert_eq!(store.latest_open_run("carol", None).expect("query"), None);
}

#[test]
fn views_read_well_in_plain_sqlite() {
    let (_dir, path, _store, ids) = sample_log();
    let conn = Connection::open(&path).expect("raw");
    let (outcome, events, duration): (String, i64, Option<f64>) = conn
        .query_row(
            "SELECT outcome, event_count, duration_s FROM runs_v WHERE id = ?1",
            [ids[0].to_string()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("runs_v");
    assert_eq!(
        (outcome.as_str(), events, duration),
        ("completed", 5, Some(4.0))
    );
    let open: String = conn
        .query_row(
            "SELECT outcome FROM runs_v WHERE id = ?1",
            [ids[2].to_string()],
            |r| r.get(0),
        )
        .expect("runs_v");
    assert_eq!(open, "open");
    let rows: Vec<(String, String, Option<String>)> = conn
        .prepare(
            "SELECT procedure_id, kind, detail FROM events_v WHERE run_id = ?1 ORDER BY run_seq",
        )
        .expect("prepare")
        .query_map([ids[0].to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .expect("events_v")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        rows[0],
        ("backup".into(), "run-started".into(), Some("backup".into()))
    );
    assert_eq!(rows[2].2.as_deref(), Some("looks fine"));
    assert_eq!(rows[4].2.as_deref(), Some("completed"));
}

#[test]
fn checkpoint_file_round_trip() {
    let (_dir, _path, store, _ids) = sample_log();
    let cp = store.checkpoint().expect("checkpoint");
    let text = cp.to_json();
    assert!(
        text.contains("\"format\": \"runsheet-checkpoint\""),
        "{text}"
    );
    assert_eq!(Checkpoint::from_json(&text).expect("parse"), cp);
    for bad in [
        "not json",
        r#"{"format":"other","version":1,"events":1,"head_seq":1,"head_hash":"00","at":null}"#,
        &text.replace(&cp.head_hash, "XYZ"),
        &text.replace("\"version\": 1", "\"version\": 2"),
    ] {
        let err = Checkpoint::from_json(bad).expect_err(bad);
        assert!(matches!(err, StoreError::BadCheckpoint(_)), "{err:?}");
    }
}

// ------------------------------------------------------- ways of walking

/// Five runs that overlap, two log events: the walk meets runs out of step
/// with their rows, ends some and leaves one open.
///
/// seq after log-created (1) and log-key (2): 3 A+, 4 B+, 5 A, 6 B, 7 log, 8 A,
/// 9 B., 10 C+, 11 A, 12 C, 13 A., 14 log, 15 D+, 16 C, 17 D, 18 C., 19 E+,
/// 20 E, 21 D, 22 E.   (+ started, . ended)
fn busy_log() -> (TempDir, PathBuf, Store, [Uuid; 5]) {
    fn start(store: &mut Store, id: Uuid, t: i64) {
        let run = new_run(id, at(t));
        store
            .create_run(&run, &[started(&run)])
            .expect("create run");
    }
    fn add_note(store: &mut Store, id: Uuid, t: i64) {
        store
            .append(id, &[note("busy", at(t))], None)
            .expect("note");
    }
    fn end(store: &mut Store, id: Uuid, t: i64) {
        store
            .append(
                id,
                &[ended(Outcome::Completed, at(t))],
                Some(("completed", at(t))),
            )
            .expect("end");
    }
    fn log(store: &mut Store, t: i64) {
        store
            .append_log_event(&NewEvent {
                at: at(t),
                actor: "alice".into(),
                kind: "export".into(),
                step: None,
                payload: json!({"kind": "export", "out": "/tmp/bundle", "runs": 1}),
            })
            .expect("log event");
    }
    let (dir, path, mut store) = new_log();
    let [a, b, c, d, e] = [run_id(11), run_id(12), run_id(13), run_id(14), run_id(15)];
    let s = &mut store;
    start(s, a, 0);
    start(s, b, 1);
    add_note(s, a, 2);
    add_note(s, b, 3);
    log(s, 4);
    add_note(s, a, 5);
    end(s, b, 6);
    start(s, c, 7);
    add_note(s, a, 8);
    add_note(s, c, 9);
    end(s, a, 10);
    log(s, 11);
    start(s, d, 12);
    add_note(s, c, 13);
    add_note(s, d, 14);
    end(s, c, 15);
    start(s, e, 16);
    add_note(s, e, 17);
    add_note(s, d, 18);
    end(s, e, 19);
    (dir, path, store, [a, b, c, d, e])
}

/// Recompute every payload hash and the whole chain, as a forger who knows
/// the algorithm would: only the checks beyond the hashes can tell.
fn rechain(conn: &Connection) {
    type Row = (
        i64,
        Option<String>,
        i64,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        String,
    );
    let rows: Vec<Row> = conn
        .prepare(
            "SELECT seq, run_id, run_seq, at, actor, kind, step, payload, payload_sha256 \
             FROM events ORDER BY seq",
        )
        .expect("prepare")
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut prev = GENESIS.to_string();
    let mut format = RecordFormat::V1;
    for (seq, run, run_seq, at, actor, kind, step, payload, sha) in rows {
        let sha = payload.as_deref().map_or(sha, |p| sha256_hex(p.as_bytes()));
        if run.is_none() && (kind == KIND_LOG_CREATED || kind == KIND_SCHEMA_MIGRATED) {
            format = RecordFormat::V2;
        }
        let hash = chain::Record {
            format,
            seq,
            run_id: run.as_deref().map(str::as_bytes),
            run_seq,
            at: at.as_bytes(),
            actor: actor.as_bytes(),
            kind: kind.as_bytes(),
            step: step.as_deref().map(str::as_bytes),
            payload_sha256: sha.as_bytes(),
            prev_hash: prev.as_bytes(),
        }
        .hash();
        conn.execute(
            "UPDATE events SET payload_sha256 = ?2, prev_hash = ?3, hash = ?4 WHERE seq = ?1",
            rusqlite::params![seq, sha, prev, hash],
        )
        .expect("rechain");
        prev = hash;
    }
}

/// Close the gap at `seq` by renumbering the later events.
fn renumber_from(conn: &Connection, seq: i64) {
    conn.execute_batch(&format!(
        "UPDATE events SET seq = seq + 1000000 WHERE seq > {seq};
         UPDATE events SET seq = (SELECT count(*) FROM events e WHERE e.seq < events.seq) + 1
           WHERE seq > 1000000;"
    ))
    .expect("renumber");
}

fn one_walk() -> verify::Plan {
    verify::Plan {
        split_at: None,
        split_min: i64::MAX,
        cache: 4096,
    }
}

#[test]
fn every_way_of_walking_gives_the_same_report() {
    // (what, tamper SQL with {A}..{E} for the run ids, forge the chain after, expected problem)
    let cases: &[(&str, &str, bool, Option<Problem>)] = &[
        ("untouched", "", false, None),
        (
            "edited actor",
            "UPDATE events SET actor = 'mallory' WHERE seq = 11",
            false,
            Some(Problem::Edited),
        ),
        (
            "deleted event",
            "DELETE FROM events WHERE seq = 16",
            false,
            Some(Problem::Missing),
        ),
        (
            "row deleted",
            "DELETE FROM runs WHERE id = '{C}'",
            false,
            Some(Problem::Missing),
        ),
        (
            "outcome rewritten",
            "UPDATE runs SET outcome = 'failed' WHERE id = '{A}'",
            false,
            Some(Problem::RunRowMismatch),
        ),
        (
            "open run marked ended",
            "UPDATE runs SET outcome = 'completed', ended_at = '2025-06-15T15:10:00.000Z' WHERE id = '{D}'",
            false,
            Some(Problem::RunRowMismatch),
        ),
        (
            "row operator rewritten",
            "UPDATE runs SET operator = 'bob' WHERE id = '{C}'",
            false,
            Some(Problem::RunRowMismatch),
        ),
        (
            "row id upper-cased",
            "UPDATE runs SET id = upper(id) WHERE id = '{C}'",
            false,
            Some(Problem::RunRowMismatch),
        ),
        (
            "row that is not a UUID",
            "INSERT INTO runs SELECT 'not-a-uuid', procedure_id, procedure_version, procedure_title, \
             procedure_sha256, controls, source_path, operator, operator_name, host, runsheet_version, \
             started_at, ended_at, outcome FROM runs WHERE id = '{A}'",
            false,
            Some(Problem::RunRowMismatch),
        ),
        (
            "row without events",
            "INSERT INTO runs SELECT '01900000-0000-7000-8000-0000000000ff', procedure_id, procedure_version, \
             procedure_title, procedure_sha256, controls, source_path, operator, operator_name, host, \
             runsheet_version, started_at, NULL, NULL FROM runs WHERE id = '{A}'",
            false,
            Some(Problem::Missing),
        ),
        (
            "payload removed",
            "UPDATE events SET payload = NULL WHERE seq = 12",
            false,
            Some(Problem::PayloadMismatch),
        ),
        (
            "payload removed and a redaction recorded",
            "UPDATE events SET payload = NULL WHERE seq = 12;
             INSERT INTO events VALUES (23, NULL, 5, '2025-06-15T15:06:59.123Z', 'alice', 'redaction', NULL,
               '{\"kind\":\"redaction\",\"seqs\":[12]}', '', '', '')",
            true,
            Some(Problem::PayloadMismatch),
        ),
        (
            "procedure text edited",
            "UPDATE procedure_sources SET text = text || '# more'",
            false,
            Some(Problem::SourceMismatch),
        ),
        (
            "event after the run ended",
            "INSERT INTO events SELECT 23, run_id, 6, '2025-06-15T15:06:59.123Z', actor, 'note-added', step,
               payload, payload_sha256, '', '' FROM events WHERE seq = 11",
            true,
            Some(Problem::OutOfOrder),
        ),
        (
            "second run-started",
            "INSERT INTO events SELECT 23, run_id, 1, '2025-06-15T15:06:59.123Z', actor, kind, step,
               payload, payload_sha256, '', '' FROM events WHERE seq = 4",
            true,
            Some(Problem::OutOfOrder),
        ),
        (
            "run id upper-cased in an event",
            "UPDATE events SET run_id = upper(run_id) WHERE seq = 16",
            true,
            Some(Problem::Edited),
        ),
        (
            "run_seq skips",
            "UPDATE events SET run_seq = 9 WHERE seq = 17",
            true,
            Some(Problem::Missing),
        ),
        (
            "time goes backwards",
            "UPDATE events SET at = '2000-01-01T00:00:00.000Z' WHERE seq = 20",
            true,
            Some(Problem::OutOfOrder),
        ),
        (
            "first event not run-started (its kind column no longer its payload's)",
            "UPDATE events SET kind = 'note-added' WHERE seq = 10",
            true,
            Some(Problem::Inserted),
        ),
        (
            // Re-chained from 13 with the checkpoints it invalidated
            // deleted: the export now at seq 13 was written with a
            // checkpoint of its own, which is gone (rule 16), before the
            // run row says anything.
            "run-ended removed",
            "DELETE FROM events WHERE seq = 13",
            true,
            Some(Problem::Missing),
        ),
        (
            "a run's events removed",
            "DELETE FROM events WHERE seq IN (19, 20, 22)",
            true,
            Some(Problem::Missing),
        ),
        (
            "rows out of order",
            "CREATE TEMP TABLE t AS SELECT * FROM runs WHERE id IN ('{A}', '{C}');
             DELETE FROM runs WHERE id IN ('{A}', '{C}');
             INSERT INTO runs SELECT * FROM t ORDER BY id DESC; DROP TABLE t;",
            false,
            None,
        ),
        (
            "rows out of order and a second run-started",
            "CREATE TEMP TABLE t AS SELECT * FROM runs WHERE id = '{A}';
             DELETE FROM runs WHERE id = '{A}';
             INSERT INTO runs SELECT * FROM t; DROP TABLE t;
             INSERT INTO events SELECT 23, run_id, 1, '2025-06-15T15:06:59.123Z', actor, kind, step,
               payload, payload_sha256, '', '' FROM events WHERE seq = 3",
            true,
            Some(Problem::OutOfOrder),
        ),
    ];
    let mut joined_somewhere = 0;
    for &(what, sql, forge, expected) in cases {
        let (_dir, path, store, ids) = busy_log();
        let mut sql = sql.to_string();
        for (name, id) in ["{A}", "{B}", "{C}", "{D}", "{E}"].iter().zip(ids) {
            sql = sql.replace(name, &id.to_string());
        }
        {
            let conn = attacker(&path);
            conn.execute_batch(&sql).expect(what);
            if what == "run-ended removed" {
                renumber_from(&conn, 13);
            }
            if what == "a run's events removed" {
                renumber_from(&conn, 18);
            }
            if forge {
                rechain(&conn);
                conn.cover_custody();
            }
        }
        let (base, _) = store
            .verify_planned(one_walk(), &crate::store::Trust::default())
            .expect(what);
        assert_eq!(
            base.finding.as_ref().map(|f| f.problem),
            expected,
            "{what}: {base:?}"
        );
        assert_eq!(store.verify().expect(what), base, "{what}: default plan");
        for cache in [1, 2, 3] {
            let plan = verify::Plan {
                cache,
                ..one_walk()
            };
            let (report, _) = store
                .verify_planned(plan, &crate::store::Trust::default())
                .expect(what);
            assert_eq!(report, base, "{what}: cache {cache}");
        }
        for at in 2..=base.head_seq.max(21) + 1 {
            for cache in [1, 4096] {
                let plan = verify::Plan {
                    split_at: Some(at),
                    cache,
                    ..one_walk()
                };
                let (report, joined) = store
                    .verify_planned(plan, &crate::store::Trust::default())
                    .expect(what);
                assert_eq!(report, base, "{what}: split at {at}, cache {cache}");
                if what == "untouched" && at <= 21 {
                    assert!(joined, "{what}: split at {at}: the halves did not join");
                }
                joined_somewhere += usize::from(joined);
            }
        }
    }
    assert!(joined_somewhere > 0);
}

/// A writer skips reading back the checkpoint it signed last only while no
/// other connection has written: one replaced behind its back (same size) is
/// read again and refused, by a checkpoint request and by a run end.
#[test]
fn signing_rereads_the_latest_checkpoint_after_another_connection_wrote() {
    let (_dir, path, mut store) = new_log();
    add_run(&mut store, run_id(1), 100, true);
    assert!(store.take_custody_warning().is_none());
    let size = store
        .latest_checkpoint()
        .expect("read")
        .expect("signed")
        .tree_size;
    // Asked again at the same size, nothing new is signed.
    assert_eq!(
        store.make_checkpoint("requested").expect("same").tree_size,
        size
    );
    let conn = Connection::open(&path).expect("raw open");
    conn.execute_batch("DROP TRIGGER checkpoints_no_update;")
        .expect("drop trigger");
    conn.execute(
        "UPDATE checkpoints SET note = 'forged' WHERE tree_size = ?1",
        [i64::try_from(size).expect("size")],
    )
    .expect("forge");
    drop(conn);
    let err = store.make_checkpoint("requested").expect_err("refused");
    assert!(err.to_string().contains("cannot be read"), "{err}");
    add_run(&mut store, run_id(2), 200, true);
    let warning = store.take_custody_warning().expect("a warning");
    assert!(warning.contains("cannot be read"), "{warning}");
}

/// A schema-4 log: this runsheet's log with the schema-5 and schema-6 objects
/// taken back out, and `user_version` 4, as an older runsheet left it (its runs keep
/// their content inline: schema 4 kept no content apart).
fn downgrade_to_schema_4(path: &Path) {
    let conn = Connection::open(path).expect("raw open");
    assert_eq!(
        conn.query_row("SELECT count(*) FROM contents", [], |r| r.get::<_, i64>(0))
            .expect("contents"),
        0,
        "a log without content to move back"
    );
    let v3 = schema::MIGRATIONS[2].sql;
    let view = &v3[v3.find("CREATE VIEW events_v").expect("the V3 view")..];
    conn.execute_batch(&format!(
        "DROP TABLE feed_positions; \
         DROP TRIGGER contents_no_delete; DROP TRIGGER contents_erase_only; DROP TABLE contents; \
         DROP VIEW events_v; {view} PRAGMA user_version = 4;"
    ))
    .expect("downgrade");
}

#[test]
fn a_schema_4_log_upgrades_to_5_with_its_tree_extended_not_rebuilt() {
    // A v4 log already has its Merkle tree: the migration extends it (an
    // earlier build rebuilt it and failed on its own rows: UNIQUE
    // constraint failed: tree_nodes.seq).
    let (_dir, path, store) = new_log();
    drop(store);
    downgrade_to_schema_4(&path);
    let mut store = Store::open(&path).expect("upgrade from schema 4");
    let (version, migrated): (i64, String) = Connection::open(&path)
        .expect("raw")
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version), payload FROM events \
             WHERE kind = 'schema-migrated'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("migrated");
    assert_eq!(version, SCHEMA_VERSION);
    assert!(migrated.contains(r#""from":4"#), "{migrated}");
    add_run(&mut store, run_id(1), 0, true);
    let report = store.verify().expect("verify");
    assert!(report.is_ok(), "{report}");
    let held: i64 = Connection::open(&path)
        .expect("raw")
        .query_row("SELECT count(*) FROM contents", [], |r| r.get(0))
        .expect("contents");
    assert!(held > 0, "the new run's note is kept apart");
}

/// The run id people are shown is the shortest start no other run shares,
/// at least 8 characters and never ending on a dash; `find_run` takes it back.
#[test]
fn a_run_label_is_the_shortest_unique_start_of_its_id() {
    let (_dir, _path, mut store) = new_log();
    let add = |store: &mut Store, id: &str| {
        let id = Uuid::parse_str(id).expect("uuid");
        let run = new_run(id, at(0));
        let first = started(&run);
        store.create_run(&run, &[first]).expect("create");
        id
    };
    let alone = add(&mut store, "01a20000-0000-7000-8000-000000000001");
    assert_eq!(store.unique_prefix(alone, 8).expect("label"), "01a20000");
    // Two runs of the same minute share the first 8 characters and more.
    let a = add(&mut store, "01a23454-7b93-76ee-a983-148d72e93741");
    let b = add(&mut store, "01a23454-7b95-7000-8000-000000000002");
    let c = add(&mut store, "01a23454-8000-7000-8000-000000000003");
    assert_eq!(store.unique_prefix(a, 8).expect("label"), "01a23454-7b93");
    assert_eq!(store.unique_prefix(b, 8).expect("label"), "01a23454-7b95");
    // Sharing exactly "01a23454-" with its neighbour: not cut at the dash.
    assert_eq!(store.unique_prefix(c, 8).expect("label"), "01a23454-8");
    for id in [alone, a, b, c] {
        let label = store.unique_prefix(id, 8).expect("label");
        assert_eq!(store.find_run(&label).expect("found").id, id, "{label}");
    }
}

#[test]
fn procedure_acts_read_back_in_order_each_with_its_signed_checkpoint() {
    use super::log_payload::{
        Act, ActLogin, ActSigner, LogPayload, ProcedureApproved, ProcedureReviewed,
    };
    let (_dir, _path, mut store) = new_log();
    let by = ActSigner {
        user: "carol".into(),
        name: None,
        role: "approver".into(),
        method: "login".into(),
        login: Some(ActLogin {
            user: "carol".into(),
            uid: 1003,
            host: "h".into(),
            via: None,
        }),
        ssh: None,
        role_from: Some("/etc/runsheet/allowed_signers".into()),
    };
    let approved = |id: &str| ProcedureApproved {
        procedure_id: id.into(),
        procedure_version: "1.0".into(),
        procedure_title: "T".into(),
        procedure_sha256: "ab".repeat(32),
        procedure_format: "toml".into(),
        source: "id = \"x\"\n".into(),
        source_path: "procedures/x.toml".into(),
        approved_on: "2026-12-01".into(),
        by: by.clone(),
    };
    let reviewed = ProcedureReviewed {
        procedure_id: "x".into(),
        procedure_version: "1.0".into(),
        procedure_sha256: "ab".repeat(32),
        outcome: "unchanged".into(),
        note: "still right".into(),
        reviewed_on: "2026-12-02".into(),
        next_review: "2027-12-02".into(),
        by: by.clone(),
    };
    for e in [
        approved("x").event("carol", at(10)),
        approved("y").event("carol", at(20)),
        reviewed.event("carol", at(30)),
    ] {
        let stored = store.append_log_event(&e).expect("append");
        // Signed at once: a checkpoint of exactly this record.
        assert_eq!(
            store.latest_checkpoint().expect("cp").map(|c| c.tree_size),
            Some(stored.seq as u64)
        );
    }
    let all = store.procedure_acts(None).expect("acts");
    assert_eq!(all.len(), 3);
    let x = store.procedure_acts(Some("x")).expect("acts");
    assert_eq!(x.len(), 2);
    assert_eq!(x[0].act, Act::Approved(approved("x")));
    assert_eq!(x[1].act, Act::Reviewed(reviewed));
    assert!(x[0].seq < x[1].seq);
    assert_eq!((x[1].actor.as_str(), x[1].at), ("carol", at(30)));
    assert!(store.verify().expect("verify").is_ok());
}
