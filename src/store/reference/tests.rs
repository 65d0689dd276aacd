//! The reference verifier against the documented test vectors, and against
//! the real `verify`: on random logs and random tampering (a property test,
//! `RUNSHEET_FUZZ_CASES` cases, 64 by default), on hand-made cases with the
//! answer the docs give, and on known bugs of `verify` (ignored tests).
//! Since schema 4 the generator also cosigns checkpoints, tampers with
//! `tree_nodes`, `checkpoints` and `cosignatures`, rebuilds the tree or
//! re-signs every checkpoint with the key file (a key holder), and verifies
//! with a signed `--trusted` checkpoint, `--key` and `--witness`.
//!
//! Logs are built through the real store API (`Store::open`, `create_run`,
//! `append`, `append_log_event`) with the engine's events as payloads, some
//! after a format-1 prefix written as an older runsheet wrote it; tampering
//! goes through a raw connection with the append-only triggers dropped and
//! put back afterwards, as an attacker covering their tracks would. Forged
//! hashes come from the reference, never from `chain`.
//!
//! Uses the engine's event types only to build realistic payloads.

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, params};
use serde_json::json;
use uuid::Uuid;

use super::{Cell, Finding, Head, Record, ZEROS, sha256_hex};
use crate::engine::{CommandResult, Event, Outcome};
use crate::procedure::BranchEnd;
use crate::store::schema::{APPLICATION_ID, MIGRATIONS};
use crate::store::{NewEvent, NewRun, Store, time_text};

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

// ------------------------------------------------------------- building logs

const SOURCES: [(&str, &str); 3] = [
    ("toml", "id = \"backup\"\ntitle = \"Nightly backup\"\n"),
    ("json", "{\"id\":\"restore\",\"title\":\"Restore test\"}\n"),
    ("toml", "id = \"rotate\"\ntitle = \"Key rotation\"\n"),
];

const TEXTS: [&str; 4] = ["ok", "päß ✓ \"quoted\" \\ / \u{7f}", "", "line\nbreak\ttab"];

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_750_000_000_000 + ms)
        .single()
        .expect("valid time")
}

fn new_event(e: &Event, at: DateTime<Utc>, actor: &str) -> NewEvent {
    NewEvent {
        at,
        actor: actor.into(),
        kind: e.kind().into(),
        step: e.step().map(str::to_string),
        payload: e.to_payload(),
    }
}

fn new_run(n: u128, source: usize, named: bool, start: DateTime<Utc>) -> NewRun {
    let (format, text) = SOURCES[source % SOURCES.len()];
    NewRun {
        id: Uuid::from_u128(0x0190_abcd_ef00_7000_8000_0000_0000_0000 + n),
        procedure_id: format!("proc-{source}"),
        procedure_version: "1.0".into(),
        procedure_title: format!("Procedure {source}"),
        procedure_controls: (0..source).map(|i| format!("A.8.{i}")).collect(),
        source_text: text.into(),
        source_format: format.into(),
        source_path: format!("procedures/p{source}.{format}"),
        operator: crate::vocab::Operator::new("alice", named.then_some("Alice Admin"), "host1"),
        runsheet_version: "0.1.0".into(),
        started_at: start,
    }
}

fn run_started(run: &NewRun) -> Event {
    Event::RunStarted {
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
    }
}

/// One of the engine's events in the middle of a run.
fn action(what: u8, text: u8) -> Event {
    let t = TEXTS[usize::from(text) % TEXTS.len()].to_string();
    let step = "check".to_string();
    let mark = || crate::vocab::SessionMark {
        operator: "ops".into(),
        operator_name: text.is_multiple_of(2).then(|| t.clone()),
        host: "host-1".into(),
        pid: text.is_multiple_of(3).then_some(4242),
    };
    match what % 20 {
        0 => Event::WarningsAcknowledged {
            warnings: vec!["review overdue".into(), t],
        },
        1 => Event::StepStarted { step },
        2 => Event::StepConfirmed { step },
        3 => Event::DecisionAnswered {
            step,
            answer: text.is_multiple_of(2),
        },
        4 => Event::ValueRecorded { step, value: t },
        5 => Event::EvidenceRecorded { step, evidence: t },
        6 => Event::CommandRan {
            step,
            result: CommandResult {
                command: "echo ok".into(),
                exit_code: text.is_multiple_of(2).then_some(0),
                duration_ms: 12,
                output: t,
                output_sha256: sha256_hex(b"ok\n"),
                output_bytes: 3,
                truncated: false,
            },
        },
        7 => Event::NoteAdded { step, text: t },
        8 => Event::SignedOff {
            step,
            by: t,
            method: Some(crate::engine::SignOffMethod::Typed),
            ssh: None,
            login: None,
        },
        9 => Event::StepSkipped {
            step,
            justification: t,
        },
        10 => Event::StepFailed {
            step,
            reason: t,
            branch: text.is_multiple_of(2).then(|| "escalate".into()),
            contact: text
                .is_multiple_of(4)
                .then(|| "On-call: +00 000 000".into()),
        },
        11 => Event::BranchEnded {
            branch: "escalate".into(),
            failed_step: step,
            then: BranchEnd::Retry,
        },
        12 => Event::Suspended,
        13 => Event::CommandStarted {
            step,
            command: "echo ok".into(),
        },
        14 => Event::CommandInterrupted {
            step,
            command: "echo ok".into(),
            started_at: "2026-11-01T02:00:00.000Z".into(),
            account: t,
        },
        15 => Event::Recovered {
            previous: text.is_multiple_of(2).then(mark),
            previous_last_event_at: "2026-11-01T02:00:00.000Z".into(),
            clock: None,
            session: Some(mark()),
        },
        17 => Event::SignOffRefused {
            step,
            by: t,
            reason: "the operator cannot sign off their own step".into(),
        },
        18 => Event::Corrected {
            step,
            corrects: "value-recorded".into(),
            run_seq: 5,
            value: text.is_multiple_of(2).then(|| t.clone()),
            answer: None,
            reason: t,
        },
        16 => Event::HandedOver {
            from: "ops".into(),
            reason: t,
        },
        _ => Event::Resumed {
            clock: None,
            session: text.is_multiple_of(2).then(mark),
        },
    }
}

const OUTCOMES: [Outcome; 4] = [
    Outcome::Completed,
    Outcome::Escalated,
    Outcome::Failed,
    Outcome::Aborted,
];

/// One write through the store API.
#[derive(Debug, Clone)]
enum Build {
    Start {
        source: usize,
        named: bool,
    },
    /// One event (two with `batch`) in an open run; `tick` 0 keeps the time.
    Act {
        run: usize,
        what: u8,
        text: u8,
        batch: bool,
        tick: u8,
    },
    End {
        run: usize,
        outcome: usize,
        reason: bool,
        batch: bool,
    },
    Export,
    /// A witness (`WITNESSES[.0 % 2]`) cosigns the latest stored checkpoint.
    Cosign(u8),
    /// The custodian (registered the first time) redacts the held content
    /// `.0 % n` of the log.
    Redact(u8),
}

/// The custodian's signing key (seed), not the log's.
fn custodian() -> crate::custody::note::Signer {
    crate::custody::note::Signer::from_seed("custodian/officer", &[11; 32]).expect("custodian key")
}

/// The witnesses' cosigning keys (seeds).
const WITNESSES: [(&str, [u8; 32]); 2] = [("witness/a", [9; 32]), ("witness/b", [10; 32])];

fn cosigner(i: u8) -> crate::custody::cosign::Cosigner {
    let (name, seed) = &WITNESSES[usize::from(i) % WITNESSES.len()];
    crate::custody::cosign::Cosigner::from_seed(name, seed).expect("witness key")
}

/// A signed note's text: up to and including the newline before the last
/// blank line.
fn note_text(note: &str) -> &str {
    note.rfind("\n\n").map_or(note, |i| &note[..=i])
}

/// What a log was built with: the unsigned head and the signed checkpoint
/// taken after `checkpoint_after` steps.
struct Built {
    store: Store,
    head: crate::store::Checkpoint,
    signed: String,
}

/// A run as a runsheet before schema 3 wrote it (record format 1).
#[derive(Debug, Clone)]
struct LegacyRun {
    /// The run-started payload lacks the fields schema 3 added.
    old_payload: bool,
    notes: u8,
    ended: bool,
}

#[derive(Debug, Clone)]
struct Legacy {
    runs: Vec<LegacyRun>,
    /// A log event (`export`) after the runs.
    export: bool,
}

/// A version-2 log as an older runsheet wrote it: its records in format 1.
struct LegacyWriter {
    conn: Connection,
    seq: i64,
    head: String,
}

impl LegacyWriter {
    fn insert(
        &mut self,
        run_id: Option<&str>,
        run_seq: i64,
        at: &str,
        kind: &str,
        step: Option<&str>,
        payload: &str,
    ) {
        self.seq += 1;
        let sha = sha256_hex(payload.as_bytes());
        let hash = Record {
            seq: self.seq,
            run_id: run_id.map(str::as_bytes),
            run_seq,
            at: at.as_bytes(),
            actor: b"alice",
            kind: kind.as_bytes(),
            step: step.map(str::as_bytes),
            payload: None,
            payload_sha256: sha.as_bytes(),
            prev_hash: self.head.as_bytes(),
            hash: b"",
        }
        .hash_at(1, self.seq);
        self.conn
            .execute(
                "INSERT INTO events VALUES (?1, ?2, ?3, ?4, 'alice', ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    self.seq, run_id, run_seq, at, kind, step, payload, sha, self.head, hash
                ],
            )
            .expect("legacy event");
        self.head = hash;
    }

    /// The payload as an older runsheet wrote it (serde_json, not canonical).
    fn event(&mut self, run_id: Option<&str>, run_seq: i64, at: &str, e: &Event) {
        let payload = serde_json::to_string(&e.to_payload()).expect("payload");
        self.insert(run_id, run_seq, at, e.kind(), e.step(), &payload);
    }
}

/// Write a version-2 log (migrations 1 and 2) holding format-1 records, as an
/// older runsheet did: the next `Store::open` migrates it and records that.
fn write_legacy(path: &Path, legacy: &Legacy, clock: &mut i64, runs: &mut u128) {
    let conn = Connection::open(path).expect("create");
    conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
        .expect("wal");
    for m in &MIGRATIONS[..2] {
        conn.execute_batch(m.sql).expect("migration");
    }
    conn.pragma_update(None, "user_version", 2)
        .expect("version");
    conn.pragma_update(None, "application_id", APPLICATION_ID)
        .expect("id");
    let mut w = LegacyWriter {
        conn,
        seq: 0,
        head: ZEROS.to_string(),
    };
    for (i, r) in legacy.runs.iter().enumerate() {
        *runs += 1;
        *clock += 1000;
        let run = new_run(*runs, i, i % 2 == 0, time(*clock));
        let id = run.id.hyphenated().to_string();
        let sha = sha256_hex(run.source_text.as_bytes());
        w.conn
            .execute(
                "INSERT OR IGNORE INTO procedure_sources VALUES (?1, ?2, ?3)",
                params![sha, run.source_format, run.source_text],
            )
            .expect("legacy source");
        let start = time_text(run.started_at);
        w.conn
            .execute(
                "INSERT INTO runs VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL, NULL)",
                params![
                    id,
                    run.procedure_id,
                    run.procedure_version,
                    run.procedure_title,
                    sha,
                    serde_json::to_string(&run.procedure_controls).expect("controls"),
                    run.source_path,
                    run.operator.user,
                    run.operator.name,
                    run.operator.host,
                    run.runsheet_version,
                    start,
                ],
            )
            .expect("legacy run");
        let mut started = run_started(&run).to_payload();
        if r.old_payload
            && let Some(o) = started.as_object_mut()
        {
            for key in [
                "procedure_title",
                "procedure_controls",
                "procedure_format",
                "source_path",
            ] {
                o.remove(key);
            }
        }
        let text = serde_json::to_string(&started).expect("payload");
        w.insert(Some(&id), 1, &start, "run-started", None, &text);
        let mut run_seq = 1;
        for n in 0..r.notes {
            *clock += 1000;
            run_seq += 1;
            w.event(Some(&id), run_seq, &time_text(time(*clock)), &action(7, n));
        }
        if r.ended {
            *clock += 1000;
            run_seq += 1;
            let at = time_text(time(*clock));
            let end = Event::RunEnded {
                outcome: Outcome::Completed,
                reason: None,
            };
            w.event(Some(&id), run_seq, &at, &end);
            w.conn
                .execute(
                    "UPDATE runs SET ended_at = ?2, outcome = 'completed' WHERE id = ?1",
                    params![id, at],
                )
                .expect("legacy end");
        }
    }
    if legacy.export {
        *clock += 1000;
        let at = time_text(time(*clock));
        w.insert(
            None,
            1,
            &at,
            "export",
            None,
            r#"{"kind":"export","out":"/tmp/old-bundle"}"#,
        );
    }
}

/// Build a log by `steps`; the checkpoints taken after `checkpoint_after` of
/// them (the head as both verifiers take it, and a signed one).
fn build_signed(
    path: &Path,
    legacy: Option<&Legacy>,
    steps: &[Build],
    checkpoint_after: usize,
) -> Built {
    let mut clock = 0;
    let mut runs = 0;
    if let Some(legacy) = legacy {
        write_legacy(path, legacy, &mut clock, &mut runs);
    }
    let mut store = Store::options().actor("alice").open(path).expect("open");
    let mut open: Vec<Uuid> = Vec::new();
    let mut checkpoint = store.checkpoint().expect("checkpoint");
    let mut signed = store.make_checkpoint("requested").expect("signed").note;
    for (i, step) in steps.iter().enumerate() {
        if i == checkpoint_after {
            checkpoint = store.checkpoint().expect("checkpoint");
            signed = store.make_checkpoint("requested").expect("signed").note;
        }
        clock += 1000;
        let mut start = |store: &mut Store, source: usize, named: bool, clock: i64| {
            runs += 1;
            let run = new_run(runs, source, named, time(clock));
            let first = new_event(&run_started(&run), run.started_at, "alice");
            store.create_run(&run, &[first]).expect("create run");
            run.id
        };
        match step {
            Build::Start { source, named } => {
                open.push(start(&mut store, *source, *named, clock));
            }
            Build::Act {
                run,
                what,
                text,
                batch,
                tick,
            } => {
                if open.is_empty() {
                    open.push(start(&mut store, 0, false, clock));
                }
                let id = open[run % open.len()];
                if *tick == 0 {
                    clock -= 1000;
                }
                let actor = if what % 3 == 0 { "bob" } else { "alice" };
                let mut events = vec![new_event(&action(*what, *text), time(clock), actor)];
                // A suspension is the last event of its batch (the store
                // refuses anything after it: its checkpoint covers up to it).
                if *batch && events[0].kind != "suspended" {
                    clock += 1;
                    events.push(new_event(
                        &action(what.wrapping_add(1), *text),
                        time(clock),
                        "alice",
                    ));
                }
                store.append(id, &events, None).expect("append");
            }
            Build::End {
                run,
                outcome,
                reason,
                batch,
            } => {
                if open.is_empty() {
                    continue;
                }
                let id = open.remove(run % open.len());
                let outcome = OUTCOMES[outcome % OUTCOMES.len()];
                let end = Event::RunEnded {
                    outcome,
                    reason: reason.then(|| "operator stopped".into()),
                };
                let mut events = Vec::new();
                if *batch {
                    events.push(new_event(&action(7, 0), time(clock), "alice"));
                    clock += 1;
                }
                events.push(new_event(&end, time(clock), "alice"));
                store
                    .append(id, &events, Some((outcome.as_str(), time(clock))))
                    .expect("end run");
            }
            Build::Export => {
                store
                    .append_log_event(&NewEvent {
                        at: time(clock),
                        actor: "alice".into(),
                        kind: "export".into(),
                        step: None,
                        payload: json!({"kind": "export", "out": "/tmp/bundle", "runs": runs as u64}),
                    })
                    .expect("export");
            }
            Build::Redact(i) => {
                let held: Vec<i64> = store
                    .runs(&Default::default())
                    .expect("runs")
                    .iter()
                    .flat_map(|r| store.held_contents(r.id).expect("held"))
                    .map(|h| h.seq)
                    .collect();
                if held.is_empty() {
                    continue;
                }
                let signer = custodian();
                if store.custodians().expect("custodians").is_empty() {
                    store
                        .add_custodian(&signer.verifier(), "officer", time(clock))
                        .expect("add custodian");
                }
                let seq = held[usize::from(*i) % held.len()];
                store
                    .redact(seq, "personal data", &signer, "officer", time(clock))
                    .expect("redact");
            }
            Build::Cosign(w) => {
                let Some(cp) = store.latest_checkpoint().expect("latest") else {
                    continue;
                };
                let witness = cosigner(*w);
                let line = witness
                    .cosign(note_text(&cp.note), 1_750_000_000 + clock as u64 / 1000)
                    .expect("cosign");
                store
                    .add_cosignature(cp.tree_size, &witness.verifier(), &line)
                    .expect("add cosignature");
            }
        }
    }
    if checkpoint_after >= steps.len() {
        checkpoint = store.checkpoint().expect("checkpoint");
        signed = store.make_checkpoint("requested").expect("signed").note;
    }
    Built {
        store,
        head: checkpoint,
        signed,
    }
}

fn build(
    path: &Path,
    legacy: Option<&Legacy>,
    steps: &[Build],
    checkpoint_after: usize,
) -> (Store, crate::store::Checkpoint) {
    let b = build_signed(path, legacy, steps, checkpoint_after);
    (b.store, b.head)
}

// --------------------------------------------------------------- tampering

/// A raw connection with the append-only triggers, the unique run index,
/// foreign keys and CHECK constraints off; dropped, it puts the triggers and
/// the index back (an index the tampering broke stays dropped).
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
    "sources_no_delete",
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
    conn.execute_batch("PRAGMA foreign_keys = OFF; PRAGMA ignore_check_constraints = ON;")
        .expect("constraints off");
    Attacker { conn, restore }
}

/// One change an attacker makes with SQL.
#[derive(Debug, Clone)]
enum Tamper {
    /// Set one column of a record to `how`'s value (see `event_edits`).
    Edit {
        rec: usize,
        column: usize,
        how: usize,
    },
    NullPayload {
        rec: usize,
    },
    Delete {
        rec: usize,
        renumber: bool,
    },
    /// A record forged from `like` (see `insert_forged`), placed by
    /// `place`: 0 at `at` and 1 right after `like`, the later seqs renumbered
    /// up; 2 after the head, 3 after a gap, 4 at seq 0. Its payload hash is
    /// right; `hash` says how its record hash and link are (see `Hashed`).
    Insert {
        at: usize,
        like: usize,
        forged: u8,
        hash: u8,
        place: u8,
    },
    /// Every column but seq.
    Swap {
        a: usize,
        b: usize,
    },
    EditRun {
        run: usize,
        column: usize,
        how: usize,
    },
    DeleteRun {
        run: usize,
    },
    /// A row copied from `like` with another id.
    AddRun {
        like: usize,
        how: u8,
    },
    /// One of `SOURCE_EDITS`.
    EditSource {
        source: usize,
        how: usize,
    },
    /// Delete `from` and everything after it.
    Truncate {
        from: usize,
    },
    /// One of `NODE_EDITS` on a `tree_nodes` row.
    EditNode {
        node: usize,
        how: usize,
    },
    DeleteNode {
        node: usize,
    },
    /// A row copied from another: 0 at an odd seq, 1 beyond the head.
    InsertNode {
        at: usize,
        like: usize,
        place: u8,
    },
    /// One of `checkpoint_edits` on a stored checkpoint.
    EditCheckpoint {
        cp: usize,
        how: usize,
    },
    /// The latest stored checkpoint deleted and the events after the one
    /// before it (all of them, or from `from` on), and with `tree` their
    /// tree rows too.
    DropLatestCheckpoint {
        from: usize,
        all: bool,
        tree: bool,
    },
    /// One of `CONTENT_EDITS` on a `contents` row.
    EditContent {
        row: usize,
        how: usize,
    },
    DeleteContent {
        row: usize,
    },
    /// One of `COSIGNATURE_EDITS` on a stored cosignature.
    EditCosignature {
        cosig: usize,
        how: usize,
    },
}

/// `SET` clauses for a `tree_nodes` row.
const NODE_EDITS: [&str; 6] = [
    "hashes = zeroblob(length(hashes))",
    "hashes = substr(hashes, 1, length(hashes) - 32)",
    "hashes = hashes || zeroblob(32)",
    "hashes = CAST(hashes AS TEXT)",
    "hashes = (SELECT t.hashes FROM tree_nodes t WHERE t.seq <> tree_nodes.seq LIMIT 1)",
    "seq = seq + 2",
];

/// A checkpoint's note stored as a BLOB (once an SQLite error in the real
/// verify, now a finding).
const NON_TEXT_CHECKPOINT_NOTE: bool = true;

/// `SET` clauses for a `checkpoints` row.
fn checkpoint_edits() -> Vec<String> {
    let other_root = "(SELECT substr(c.note, instr(c.note, char(10)) + 1) FROM checkpoints c         WHERE c.tree_size <> checkpoints.tree_size LIMIT 1)";
    vec![
        // Another checkpoint's size and root under this one's origin and signature.
        format!(
            "note = substr(note, 1, instr(note, char(10))) || coalesce({other_root}, note)"
        ),
        // The size line changed (the text no longer says tree_size).
        "note = replace(note, char(10) || tree_size || char(10), char(10) || (tree_size + 1) || char(10))".into(),
        // The origin changed.
        "note = 'x' || note".into(),
        // A signature byte changed.
        "note = substr(note, 1, length(note) - 3) || CASE substr(note, length(note) - 2, 1) WHEN 'A' THEN 'B' ELSE 'A' END || substr(note, length(note) - 1)".into(),
        // The signature line removed.
        "note = substr(note, 1, instr(note, char(10) || char(10)))".into(),
        // Once an SQLite error in verify, not a finding (see
        // `a_checkpoint_note_that_is_not_text_is_a_finding_not_an_error`).
        if NON_TEXT_CHECKPOINT_NOTE {
            "note = CAST(note AS BLOB)"
        } else {
            "note = note || ''"
        }
        .into(),
        // Stored under another size.
        "tree_size = tree_size + 1".into(),
        "tree_size = tree_size - 1".into(),
    ]
}

/// `SET` clauses for a `contents` row (some break its CHECK constraints,
/// and the attacker's statement then fails: no change).
const CONTENT_EDITS: &[&str] = &[
    "content = replace(content, '\"', '\"x')",
    "content = content || ' '",
    "content = '{}'",
    "salt = upper(salt)",
    "salt = '00' || substr(salt, 3)",
    "salt = NULL, content = NULL, redacted_by = 1",
    "salt = NULL, content = NULL, redacted_by = seq",
    "seq = seq + 1",
    "redacted_by = NULL, salt = '00', content = '{\"text\":\"\"}'",
    "redacted_by = redacted_by + 1",
];

/// `SET` clauses for a `cosignatures` row.
const COSIGNATURE_EDITS: [&str; 5] = [
    "line = substr(line, 1, length(line) - 4) || CASE substr(line, length(line) - 3, 1) WHEN 'A' THEN 'B' ELSE 'A' END || substr(line, length(line) - 2)",
    "line = replace(line, 'witness/', 'witness-')",
    "witness = (SELECT c.witness FROM cosignatures c WHERE c.witness <> cosignatures.witness LIMIT 1)",
    "tree_size = (SELECT max(c.tree_size) FROM checkpoints c WHERE c.tree_size < cosignatures.tree_size)",
    "line = rtrim(line, char(10))",
];

const EVENT_COLUMNS: [&str; 10] = [
    "actor",
    "at",
    "kind",
    "step",
    "payload",
    "payload_sha256",
    "hash",
    "prev_hash",
    "run_id",
    "run_seq",
];

/// SQL values for a column of `events`: `{c}` is the column, `{other}` the
/// seq of another record.
fn event_edits(column: &str) -> Vec<String> {
    let mut v: Vec<String> = [
        "NULL",
        "CAST({c} AS BLOB)",
        "CAST(X'C0FF' AS TEXT)",
        "upper({c})",
        "{c} || 'x'",
        "(SELECT e.{c} FROM events e WHERE e.seq = {other})",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let specific: &[&str] = match column {
        "actor" => &["'mallory'", "''", "42"],
        "at" => &[
            "strftime('%Y-%m-%dT%H:%M:%fZ', at, '-1 day')",
            "strftime('%Y-%m-%dT%H:%M:%fZ', at, '+1 second')",
            "replace(at, 'Z', '+00:00')",
            "'2000-01-01T00:00:00.000Z'",
        ],
        "kind" => &[
            "'note-added'",
            "'run-started'",
            "'run-ended'",
            "'export'",
            "'log-created'",
            "'schema-migrated'",
            "'redaction'",
        ],
        "step" => &["''", "'other'"],
        "payload" => &[
            "replace(payload, '\"kind\"', ' \"kind\"')",
            "'{}'",
            "'not json'",
            "payload || ' '",
            "replace(payload, 'alice', 'mallory')",
            "replace(payload, 'completed', 'failed')",
        ],
        "payload_sha256" => &["'0000000000000000000000000000000000000000000000000000000000000000'"],
        "hash" => &[
            "prev_hash",
            "'0000000000000000000000000000000000000000000000000000000000000000'",
        ],
        "prev_hash" => &[
            "hash",
            "'0000000000000000000000000000000000000000000000000000000000000000'",
        ],
        "run_id" => &[
            "'01900000-0000-7000-8000-0000000000ff'",
            "''",
            "replace(run_id, '-', '')",
            "(SELECT id FROM runs ORDER BY id LIMIT 1)",
            "(SELECT id FROM runs ORDER BY id DESC LIMIT 1)",
        ],
        "run_seq" => &[
            "run_seq + 1",
            "run_seq - 1",
            "0",
            "'x'",
            "'5'",
            "1.5",
            "run_seq + 2",
        ],
        _ => &[],
    };
    v.extend(specific.iter().map(|s| s.to_string()));
    v
}

/// A BLOB or text that is not UTF-8 in any column of `runs` (it once made
/// the real verify fail with an SQLite error instead of a finding; see
/// `a_run_row_that_is_not_text_is_a_finding_not_an_error`).
const NON_TEXT_RUN_COLUMNS: bool = true;

const RUN_COLUMNS: [&str; 15] = [
    "id",
    "procedure_id",
    "procedure_version",
    "procedure_title",
    "procedure_sha256",
    "controls",
    "source_path",
    "operator",
    "operator_name",
    "host",
    "runsheet_version",
    "started_at",
    "ended_at",
    "outcome",
    // Not a column: ended_at and outcome together.
    "ending",
];

/// `SET` clauses for a column of `runs`.
fn run_edits(column: &str) -> Vec<String> {
    if column == "ending" {
        return vec![
            "ended_at = strftime('%Y-%m-%dT%H:%M:%fZ', started_at, '+1 hour'), outcome = 'completed'"
                .into(),
            "ended_at = NULL, outcome = NULL".into(),
            "ended_at = (SELECT max(at) FROM events WHERE run_id = runs.id), outcome = 'aborted'"
                .into(),
        ];
    }
    let mut v: Vec<String> = ["NULL", "upper({c})", "{c} || 'x'"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if NON_TEXT_RUN_COLUMNS || column == "id" {
        v.push("CAST({c} AS BLOB)".into());
        v.push("CAST(X'C0FF' AS TEXT)".into());
    }
    let specific: &[&str] = match column {
        "id" => &[
            "replace(id, '-', '')",
            "'{' || id || '}'",
            "'01900000-0000-7000-8000-0000000000ee'",
        ],
        "procedure_sha256" => &[
            "(SELECT s.sha256 FROM procedure_sources s WHERE s.sha256 <> runs.procedure_sha256 LIMIT 1)",
        ],
        "controls" => &[
            "'[]'",
            "replace(controls, '\"', ' \"')",
            "'[\"A.8.13\"]'",
            "'not json'",
            "'[1]'",
        ],
        "operator_name" => &["''", "'Mallory'"],
        "started_at" | "ended_at" => &[
            "strftime('%Y-%m-%dT%H:%M:%fZ', {c}, '+1 second')",
            "replace({c}, 'Z', '+00:00')",
        ],
        "outcome" => &["'failed'", "'completed'", "'open'"],
        _ => &[],
    };
    v.extend(specific.iter().map(|s| s.to_string()));
    v.into_iter().map(|e| format!("{column} = {e}")).collect()
}

/// `SET` clauses for a row of `procedure_sources`.
const SOURCE_EDITS: [&str; 10] = [
    "text = text || '# extra step\n'",
    "text = CAST(text AS BLOB)",
    "text = upper(text)",
    "text = CAST(X'C0FF' AS TEXT)",
    "format = 'yaml'",
    "format = CAST(format AS BLOB)",
    "format = CASE format WHEN 'toml' THEN 'json' ELSE 'toml' END",
    "format = CAST(X'C0FF' AS TEXT)",
    "sha256 = upper(sha256)",
    "sha256 = sha256 || 'x'",
];

fn seqs(conn: &Connection) -> Vec<i64> {
    conn.prepare("SELECT seq FROM events ORDER BY seq")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("seqs")
}

/// The first column of every row (any type: tampering may have left BLOBs).
fn values(conn: &Connection, sql: &str) -> Vec<Cell> {
    conn.prepare(sql)
        .expect("prepare")
        .query_map([], |r| r.get_ref(0).map(Cell::read))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("values")
}

/// Close the gap at `seq` by renumbering the later events down.
fn renumber_from(conn: &Connection, seq: i64) {
    conn.execute_batch(&format!(
        "UPDATE events SET seq = seq + 1000000 WHERE seq > {seq};
         UPDATE events SET seq = {seq} + (SELECT count(*) FROM events e
           WHERE e.seq >= {seq} AND e.seq < events.seq) WHERE seq > 1000000;"
    ))
    .expect("renumber");
}

/// Make room at `seq` by moving it and the later events up by one.
fn shift_up(conn: &Connection, seq: i64) {
    conn.execute_batch(&format!(
        "UPDATE events SET seq = seq + 1000000 WHERE seq >= {seq};
         UPDATE events SET seq = seq - 999999 WHERE seq >= 1000000;"
    ))
    .expect("shift");
}

/// One row of `events` as stored (without seq).
fn row(conn: &Connection, seq: i64) -> Vec<Cell> {
    conn.query_row(
        "SELECT run_id, run_seq, at, actor, kind, step, payload, payload_sha256, prev_hash, hash \
         FROM events WHERE seq = ?1",
        [seq],
        |r| (0..10).map(|i| r.get_ref(i).map(Cell::read)).collect(),
    )
    .expect("row")
}

fn text_of(v: &Cell) -> Option<String> {
    v.text().and_then(|t| String::from_utf8(t.to_vec()).ok())
}

/// A cell goes back into SQLite exactly as it came out (invalid UTF-8 too).
impl rusqlite::ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Cell::Null => ValueRef::Null,
            Cell::Int(i) => ValueRef::Integer(*i),
            Cell::Real(r) => ValueRef::Real(*r),
            Cell::Text(t) => ValueRef::Text(t),
            Cell::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// The record format a record at `seq` has: 2 once a switch record came
/// before it (as a forger reads the page).
fn format_before(conn: &Connection, seq: i64) -> u8 {
    let switched: i64 = conn
        .query_row(
            "SELECT count(*) FROM events WHERE seq < ?1 AND run_id IS NULL \
             AND kind IN ('log-created', 'schema-migrated')",
            [seq],
            |r| r.get(0),
        )
        .expect("format");
    if switched > 0 { 2 } else { 1 }
}

fn tamper(conn: &Connection, t: &Tamper) {
    let seqs = seqs(conn);
    let pick = |i: &usize| (!seqs.is_empty()).then(|| seqs[i % seqs.len()]);
    let head = seqs.last().copied().unwrap_or(0);
    match t {
        Tamper::Edit { rec, column, how } => {
            let Some(seq) = pick(rec) else { return };
            let column = EVENT_COLUMNS[column % EVENT_COLUMNS.len()];
            let edits = event_edits(column);
            let n = seqs.len();
            let other = seqs[(rec % n + 1 + how % n) % n];
            let value = edits[how % edits.len()]
                .replace("{c}", column)
                .replace("{other}", &other.to_string());
            let _ = conn.execute(
                &format!("UPDATE events SET {column} = {value} WHERE seq = ?1"),
                [seq],
            );
        }
        Tamper::NullPayload { rec } => {
            let Some(seq) = pick(rec) else { return };
            let _ = conn.execute("UPDATE events SET payload = NULL WHERE seq = ?1", [seq]);
        }
        Tamper::Delete { rec, renumber } => {
            let Some(seq) = pick(rec) else { return };
            let _ = conn.execute("DELETE FROM events WHERE seq = ?1", [seq]);
            if *renumber {
                renumber_from(conn, seq);
            }
        }
        Tamper::Insert {
            at,
            like,
            forged,
            hash,
            place,
        } => {
            let Some(mut template) = pick(like) else {
                return;
            };
            let seq = match place % 5 {
                0 | 1 => {
                    let mut seq = if place % 5 == 0 {
                        pick(at).unwrap_or(1)
                    } else {
                        template + 1
                    };
                    if !INSERT_BEFORE_SWITCH && is_switch(conn, seq) {
                        seq += 1;
                    }
                    shift_up(conn, seq);
                    if template >= seq {
                        template += 1;
                    }
                    seq
                }
                2 => head + 1,
                3 => head + 2,
                _ => 0,
            };
            let hashed = [
                Hashed::Right,
                Hashed::Copied,
                Hashed::MadeUp,
                Hashed::LinkedOnly,
            ];
            insert_forged(conn, template, seq, *forged, hashed[usize::from(*hash) % 4]);
        }
        Tamper::Swap { a, b } => {
            let (Some(a), Some(b)) = (pick(a), pick(b)) else {
                return;
            };
            let _ = conn.execute_batch(&format!(
                "CREATE TEMP TABLE t AS SELECT * FROM events WHERE seq IN ({a}, {b});
                 UPDATE events SET (run_id, run_seq, at, actor, kind, step, payload, payload_sha256, prev_hash, hash) =
                   (SELECT run_id, run_seq, at, actor, kind, step, payload, payload_sha256, prev_hash, hash
                    FROM t WHERE t.seq = CASE events.seq WHEN {a} THEN {b} ELSE {a} END)
                 WHERE seq IN ({a}, {b});
                 DROP TABLE t;"
            ));
        }
        Tamper::EditRun { run, column, how } => {
            let ids = values(conn, "SELECT id FROM runs ORDER BY started_at, id");
            if ids.is_empty() {
                return;
            }
            let column = RUN_COLUMNS[column % RUN_COLUMNS.len()];
            let edits = run_edits(column);
            let set = edits[how % edits.len()].replace("{c}", column);
            let _ = conn.execute(
                &format!("UPDATE runs SET {set} WHERE id = ?1"),
                [&ids[run % ids.len()]],
            );
        }
        Tamper::DeleteRun { run } => {
            let ids = values(conn, "SELECT id FROM runs ORDER BY started_at, id");
            if ids.is_empty() {
                return;
            }
            let _ = conn.execute("DELETE FROM runs WHERE id = ?1", [&ids[run % ids.len()]]);
        }
        Tamper::AddRun { like, how } => {
            let ids = values(conn, "SELECT id FROM runs ORDER BY started_at, id");
            if ids.is_empty() {
                return;
            }
            let id = match how % 3 {
                0 => "'01900000-0000-7000-8000-0000000000dd'",
                1 => "'not-a-uuid'",
                _ => "upper(id)",
            };
            let _ = conn.execute(
                &format!(
                    "INSERT INTO runs SELECT {id}, procedure_id, procedure_version, procedure_title, \
                     procedure_sha256, controls, source_path, operator, operator_name, host, \
                     runsheet_version, started_at, ended_at, outcome FROM runs WHERE id = ?1"
                ),
                [&ids[like % ids.len()]],
            );
        }
        Tamper::EditSource { source, how } => {
            let keys = values(conn, "SELECT sha256 FROM procedure_sources ORDER BY sha256");
            if keys.is_empty() {
                return;
            }
            let set = SOURCE_EDITS[how % SOURCE_EDITS.len()];
            let _ = conn.execute(
                &format!("UPDATE procedure_sources SET {set} WHERE sha256 = ?1"),
                [&keys[source % keys.len()]],
            );
        }
        Tamper::Truncate { from } => {
            let Some(seq) = pick(from) else { return };
            let _ = conn.execute("DELETE FROM events WHERE seq >= ?1", [seq]);
        }
        Tamper::EditNode { node, how } => {
            let Some(seq) = pick_row(conn, "SELECT seq FROM tree_nodes ORDER BY seq", *node) else {
                return;
            };
            let set = NODE_EDITS[how % NODE_EDITS.len()];
            let _ = conn.execute(
                &format!("UPDATE tree_nodes SET {set} WHERE seq = ?1"),
                [seq],
            );
        }
        Tamper::DeleteNode { node } => {
            let Some(seq) = pick_row(conn, "SELECT seq FROM tree_nodes ORDER BY seq", *node) else {
                return;
            };
            let _ = conn.execute("DELETE FROM tree_nodes WHERE seq = ?1", [seq]);
        }
        Tamper::InsertNode { at, like, place } => {
            let Some(like) = pick_row(conn, "SELECT seq FROM tree_nodes ORDER BY seq", *like)
            else {
                return;
            };
            let seq = match place % 2 {
                0 => pick(at).unwrap_or(1) | 1,
                _ => (head + 2) & !1,
            };
            let _ = conn.execute(
                "INSERT INTO tree_nodes SELECT ?1, hashes FROM tree_nodes WHERE seq = ?2",
                [seq, like],
            );
        }
        Tamper::EditCheckpoint { cp, how } => {
            let sql = "SELECT tree_size FROM checkpoints ORDER BY tree_size";
            let Some(size) = pick_row(conn, sql, *cp) else {
                return;
            };
            let edits = checkpoint_edits();
            let set = &edits[how % edits.len()];
            let _ = conn.execute(
                &format!("UPDATE checkpoints SET {set} WHERE tree_size = ?1"),
                [size],
            );
        }
        Tamper::DropLatestCheckpoint { from, all, tree } => {
            let sizes = ints(conn, "SELECT tree_size FROM checkpoints ORDER BY tree_size");
            let Some(latest) = sizes.last().copied() else {
                return;
            };
            let before = sizes.iter().rev().nth(1).copied().unwrap_or(0);
            let cut = if *all {
                before + 1
            } else {
                // Somewhere after the one before it.
                let tail: Vec<i64> = seqs.iter().copied().filter(|s| *s > before).collect();
                if tail.is_empty() {
                    return;
                }
                tail[from % tail.len()]
            };
            let _ = conn.execute_batch(&format!(
                "DELETE FROM cosignatures WHERE tree_size = {latest};
                 DELETE FROM checkpoints WHERE tree_size = {latest};
                 DELETE FROM events WHERE seq >= {cut};"
            ));
            if *tree {
                let _ = conn.execute("DELETE FROM tree_nodes WHERE seq >= ?1", [cut]);
            }
        }
        Tamper::EditContent { row, how } => {
            let Some(seq) = pick_row(conn, "SELECT seq FROM contents ORDER BY seq", *row) else {
                return;
            };
            let set = CONTENT_EDITS[how % CONTENT_EDITS.len()];
            let _ = conn.execute(&format!("UPDATE contents SET {set} WHERE seq = ?1"), [seq]);
        }
        Tamper::DeleteContent { row } => {
            let Some(seq) = pick_row(conn, "SELECT seq FROM contents ORDER BY seq", *row) else {
                return;
            };
            let _ = conn.execute("DELETE FROM contents WHERE seq = ?1", [seq]);
        }
        Tamper::EditCosignature { cosig, how } => {
            let sql = "SELECT rowid FROM cosignatures ORDER BY tree_size, witness";
            let Some(rowid) = pick_row(conn, sql, *cosig) else {
                return;
            };
            let set = COSIGNATURE_EDITS[how % COSIGNATURE_EDITS.len()];
            let _ = conn.execute(
                &format!("UPDATE cosignatures SET {set} WHERE rowid = ?1"),
                [rowid],
            );
        }
    }
}

/// The integers a query gives.
fn ints(conn: &Connection, sql: &str) -> Vec<i64> {
    conn.prepare(sql)
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("ints")
}

/// The `i`th (modulo their number) of the integers a query gives.
fn pick_row(conn: &Connection, sql: &str, i: usize) -> Option<i64> {
    let all = ints(conn, sql);
    (!all.is_empty()).then(|| all[i % all.len()])
}

/// A record inserted (with the rest renumbered up) just before a
/// `log-created` or `schema-migrated` record (D3 once hashed the moved-up
/// record in the format before the switch; see
/// `d3_hashes_a_moved_switch_record_in_its_own_format`).
const INSERT_BEFORE_SWITCH: bool = true;

/// Is the record at `seq` a log event that switches the format to 2?
fn is_switch(conn: &Connection, seq: i64) -> bool {
    conn.query_row(
        "SELECT count(*) FROM events WHERE seq = ?1 AND run_id IS NULL \
         AND kind IN ('log-created', 'schema-migrated')",
        [seq],
        |r| r.get::<_, i64>(0),
    )
    .is_ok_and(|n| n > 0)
}

/// How a forged record's `prev_hash` and `hash` are made.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Hashed {
    /// Linked to its predecessor and hashed as the docs say.
    Right,
    /// Both copied from the template.
    Copied,
    /// Both made up.
    MadeUp,
    /// Linked to its predecessor, the hash made up.
    LinkedOnly,
}

/// Insert at `seq` a record made from the one at `template`: 0 a copy, 1 a
/// note in its run after it, 2 an export log event, 3 a redaction, 4 the
/// run's next event, 5 a second run-started.
fn insert_forged(conn: &Connection, template: i64, seq: i64, forged: u8, hashed: Hashed) {
    let mut v = row(conn, template);
    let run_id = text_of(&v[0]);
    // The log event number due at `seq`, as a careful forger picks it.
    let next_log: i64 = conn
        .query_row(
            "SELECT coalesce(max(run_seq), 0) + 1 FROM events WHERE run_id IS NULL AND seq < ?1",
            [seq],
            |r| r.get(0),
        )
        .unwrap_or(1);
    let set_payload = |v: &mut Vec<Cell>, text: String| {
        v[7] = Cell::Text(sha256_hex(text.as_bytes()).into());
        v[6] = Cell::Text(text.into());
    };
    let log_event = |v: &mut Vec<Cell>, kind: &str| {
        v[0] = Cell::Null;
        v[1] = Cell::Int(next_log);
        v[3] = Cell::Text("mallory".into());
        v[4] = Cell::Text(kind.into());
        v[5] = Cell::Null;
    };
    match forged % 6 {
        0 => {}
        1 | 4 if run_id.is_some() => {
            if forged % 6 == 1 {
                if let Cell::Int(n) = v[1] {
                    v[1] = Cell::Int(n + 1);
                }
            } else {
                v[1] = conn
                    .query_row(
                        "SELECT max(run_seq) + 1 FROM events WHERE run_id = ?1",
                        [&run_id],
                        |r| r.get::<_, i64>(0),
                    )
                    .map_or(Cell::Int(1), Cell::Int);
            }
            v[3] = Cell::Text("mallory".into());
            v[4] = Cell::Text("note-added".into());
            v[5] = Cell::Text("check".into());
            set_payload(&mut v, NOTE.replace("ok", "forged"));
        }
        1 | 2 | 4 => {
            log_event(&mut v, "export");
            set_payload(&mut v, r#"{"kind":"export","out":"/tmp/forged"}"#.into());
        }
        3 => {
            log_event(&mut v, "redaction");
            set_payload(&mut v, r#"{"kind":"redaction","seqs":[2]}"#.into());
        }
        _ => {
            let first = run_id.as_ref().and_then(|id| {
                conn.query_row(
                    "SELECT seq FROM events WHERE run_id = ?1 AND run_seq = 1",
                    [id],
                    |r| r.get::<_, i64>(0),
                )
                .ok()
            });
            if let Some(first) = first {
                let at = v[2].clone();
                v = row(conn, first);
                v[2] = at;
            }
        }
    }
    // Payload hash right; the record linked to its predecessor and hashed as
    // a forger would, or a copied or made-up hash.
    if let Cell::Text(p) = &v[6] {
        v[7] = Cell::Text(sha256_hex(p).into());
    }
    let prev: String = conn
        .query_row(
            "SELECT hash FROM events WHERE seq < ?1 ORDER BY seq DESC LIMIT 1",
            [seq],
            |r| r.get(0),
        )
        .unwrap_or_else(|_| ZEROS.to_string());
    match hashed {
        Hashed::Right => {
            v[8] = Cell::Text(prev.into());
            let cells = v.clone();
            let forger = super::Row {
                seq,
                cells: cells.try_into().expect("ten columns"),
            };
            if let Some(rec) = forger.record() {
                let format = if rec.switches_format() {
                    2
                } else {
                    format_before(conn, seq)
                };
                v[9] = Cell::Text(rec.hash_at(format, seq).into());
            }
        }
        Hashed::Copied => {}
        Hashed::MadeUp => {
            v[8] = Cell::Text("ee".repeat(32).into());
            v[9] = Cell::Text("ff".repeat(32).into());
        }
        Hashed::LinkedOnly => {
            v[8] = Cell::Text(prev.into());
            v[9] = Cell::Text("ff".repeat(32).into());
        }
    }
    let _ = conn.execute(
        "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            seq, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]
        ],
    );
}

/// What a forger recomputes after the tampering, with the reference's
/// record hash (as one who read the docs would).
#[derive(Debug, Clone, Copy)]
enum Forge {
    Nothing,
    /// Every payload hash and the whole chain.
    Chain,
    /// The chain up to the record `.0` picks, and not after it.
    ChainUpTo(usize),
    /// Every payload hash and each record's own hash, keeping its prev_hash.
    OwnHashes,
}

fn rechain(conn: &Connection, forge: Forge) {
    let seqs = seqs(conn);
    let last = match forge {
        Forge::Nothing => return,
        Forge::ChainUpTo(i) if !seqs.is_empty() => seqs[i % seqs.len()],
        _ => i64::MAX,
    };
    let chain = !matches!(forge, Forge::OwnHashes);
    let rows: Vec<(i64, Vec<Cell>)> = seqs
        .into_iter()
        .filter(|s| *s <= last)
        .map(|s| (s, row(conn, s)))
        .collect();
    let mut prev = ZEROS.to_string();
    let mut format = 1;
    for (seq, mut v) in rows {
        if let Cell::Text(p) = &v[6] {
            v[7] = Cell::Text(sha256_hex(p).into());
        }
        if chain {
            v[8] = Cell::Text(prev.clone().into());
        }
        let cells = v.clone();
        let forger = super::Row {
            seq,
            cells: cells.try_into().expect("ten columns"),
        };
        let Some(rec) = forger.record() else {
            // Not something runsheet writes: leave its hash, chain on from it.
            prev = text_of(&v[9]).unwrap_or_default();
            continue;
        };
        if rec.switches_format() {
            format = 2;
        }
        let hash = rec.hash_at(format, seq);
        conn.execute(
            "UPDATE events SET payload_sha256 = ?2, prev_hash = ?3, hash = ?4 WHERE seq = ?1",
            params![seq, v[7], v[8], hash],
        )
        .expect("rechain");
        prev = hash;
    }
}

/// What a forger rebuilds of the chain of custody after `rechain`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rebuild {
    Nothing,
    /// `tree_nodes` over the records as they now are (the docs suffice).
    Tree,
    /// The tree, and every checkpoint re-signed with the log's key (read
    /// from its key file): those beyond the head deleted, the others made
    /// over the new roots, the cosignatures of changed ones deleted (a
    /// witness's key is not to be had).
    Resign,
}

/// The leaves of the records as stored, in seq order (the reference's leaf
/// hash, as one who read custody.md would).
fn stored_leaves(conn: &Connection) -> Vec<[u8; 32]> {
    values(conn, "SELECT hash FROM events ORDER BY seq")
        .iter()
        .map(|h| super::leaf_hash(h.text().unwrap_or_default()))
        .collect()
}

fn rebuild(conn: &Connection, path: &Path, how: Rebuild) {
    if how == Rebuild::Nothing {
        return;
    }
    let leaves = stored_leaves(conn);
    conn.execute("DELETE FROM tree_nodes", [])
        .expect("tree cleared");
    for s in 1..=leaves.len() {
        let nodes = super::completed_nodes(s as i64, &leaves[..s]);
        if !nodes.is_empty() {
            conn.execute(
                "INSERT INTO tree_nodes VALUES (?1, ?2)",
                params![s as i64, nodes],
            )
            .expect("tree node");
        }
    }
    if how == Rebuild::Resign {
        resign(conn, path, &leaves);
    }
}

/// The log's signing key as its key file holds it: Go's note private key
/// text, `PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>`.
struct KeyHolder {
    name: String,
    id: [u8; 4],
    key: ed25519_dalek::SigningKey,
}

impl KeyHolder {
    fn load(db: &Path) -> KeyHolder {
        use base64::Engine;
        let mut file = db.as_os_str().to_owned();
        file.push(".key");
        let text = std::fs::read_to_string(file).expect("key file");
        let parts: Vec<&str> = text.trim_end().splitn(5, '+').collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(parts[4])
            .expect("key base64");
        let seed: [u8; 32] = bytes[1..].try_into().expect("seed");
        let id: [u8; 4] = hex::decode(parts[3])
            .expect("key id")
            .try_into()
            .expect("4 bytes");
        KeyHolder {
            name: parts[2].to_string(),
            id,
            key: ed25519_dalek::SigningKey::from_bytes(&seed),
        }
    }

    /// The signed note of `text`.
    fn sign(&self, text: &str) -> String {
        use base64::Engine;
        use ed25519_dalek::Signer as _;
        let mut bytes = self.id.to_vec();
        bytes.extend_from_slice(&self.key.sign(text.as_bytes()).to_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        format!("{text}\n\u{2014} {} {b64}\n", self.name)
    }

    /// A checkpoint of `leaves`.
    fn checkpoint(&self, leaves: &[[u8; 32]]) -> String {
        use base64::Engine;
        let root = base64::engine::general_purpose::STANDARD.encode(super::mth(leaves));
        self.sign(&format!("{}\n{}\n{root}\n", self.name, leaves.len()))
    }
}

fn resign(conn: &Connection, path: &Path, leaves: &[[u8; 32]]) {
    let key = KeyHolder::load(path);
    let n = leaves.len() as i64;
    conn.execute_batch(&format!(
        "DELETE FROM cosignatures WHERE tree_size > {n}; DELETE FROM checkpoints WHERE tree_size > {n};"
    ))
    .expect("beyond the head");
    for size in ints(
        conn,
        "SELECT tree_size FROM checkpoints WHERE tree_size > 0",
    ) {
        let note = key.checkpoint(&leaves[..size as usize]);
        let old: String = conn
            .query_row(
                "SELECT CAST(note AS TEXT) FROM checkpoints WHERE tree_size = ?1",
                [size],
                |r| r.get(0),
            )
            .expect("note");
        if old != note {
            conn.execute_batch(&format!(
                "DELETE FROM cosignatures WHERE tree_size = {size};
                 UPDATE checkpoints SET note = '{note}' WHERE tree_size = {size};"
            ))
            .expect("re-signed");
        }
    }
}

// --------------------------------------------------------- the comparison

/// The real verify's first finding, as problem name and seq.
fn real(report: &crate::store::VerifyReport) -> Option<(&'static str, Option<i64>)> {
    report
        .finding
        .as_ref()
        .map(|f| (problem_name(f.problem), f.seq))
}

/// The reference's, the same way.
fn named(f: &Option<Finding>) -> Option<(&'static str, Option<i64>)> {
    f.as_ref().map(|f| (f.problem, f.seq))
}

fn problem_name(p: crate::store::Problem) -> &'static str {
    let name = serde_json::to_value(p).expect("problem serializes");
    let name = name.as_str().expect("problem is a string").to_string();
    [
        "edited",
        "missing",
        "inserted",
        "out-of-order",
        "payload-mismatch",
        "run-row-mismatch",
        "source-mismatch",
        "truncated",
        "damaged",
        "schema-changed",
        "tree-changed",
        "bad-signature",
        "unwitnessed",
    ]
    .into_iter()
    .find(|n| *n == name)
    .unwrap_or("unknown")
}

/// The reference's verdict through a read-only connection (as `runsheet
/// verify` opens the log) or a writable one (as a writer's store has).
fn reference_on(path: &Path, trust: &super::Trust, read_only: bool) -> Option<Finding> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    let conn = Connection::open_with_flags(path, flags).expect("open");
    super::verify_trusting(&conn, trust).expect("reference verify")
}

fn reference(path: &Path, head: Option<&Head>) -> Option<Finding> {
    let trust = super::Trust {
        head: head.cloned(),
        ..super::Trust::default()
    };
    reference_on(path, &trust, true)
}

fn head_of(cp: &crate::store::Checkpoint) -> Head {
    Head {
        seq: cp.head_seq,
        hash: cp.head_hash.clone(),
        at: cp.at.map(time_text),
    }
}

/// Cases per property: `default`, or `RUNSHEET_FUZZ_CASES` for long runs
/// (docs/reliability.md).
fn fuzz_cases(default: u32) -> u32 {
    std::env::var("RUNSHEET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn build_step() -> impl Strategy<Value = Build> {
    prop_oneof![
        2 => (0..SOURCES.len(), any::<bool>())
            .prop_map(|(source, named)| Build::Start { source, named }),
        6 => (any::<usize>(), any::<u8>(), any::<u8>(), any::<bool>(), 0u8..4).prop_map(
            |(run, what, text, batch, tick)| Build::Act { run, what, text, batch, tick }
        ),
        2 => (any::<usize>(), 0..OUTCOMES.len(), any::<bool>(), any::<bool>()).prop_map(
            |(run, outcome, reason, batch)| Build::End { run, outcome, reason, batch }
        ),
        1 => Just(Build::Export),
        1 => any::<u8>().prop_map(Build::Cosign),
        1 => any::<u8>().prop_map(Build::Redact),
    ]
}

fn legacy() -> impl Strategy<Value = Option<Legacy>> {
    let run =
        (any::<bool>(), 0u8..3, any::<bool>()).prop_map(|(old_payload, notes, ended)| LegacyRun {
            old_payload,
            notes,
            ended,
        });
    proptest::option::weighted(
        0.3,
        (proptest::collection::vec(run, 0..3), any::<bool>())
            .prop_map(|(runs, export)| Legacy { runs, export }),
    )
}

fn one_tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        6 => (any::<usize>(), 0..EVENT_COLUMNS.len(), any::<usize>())
            .prop_map(|(rec, column, how)| Tamper::Edit { rec, column, how }),
        1 => any::<usize>().prop_map(|rec| Tamper::NullPayload { rec }),
        2 => (any::<usize>(), any::<bool>())
            .prop_map(|(rec, renumber)| Tamper::Delete { rec, renumber }),
        3 => (any::<usize>(), any::<usize>(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(
            |(at, like, forged, hash, place)| Tamper::Insert { at, like, forged, hash, place }
        ),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Tamper::Swap { a, b }),
        3 => (any::<usize>(), 0..RUN_COLUMNS.len(), any::<usize>())
            .prop_map(|(run, column, how)| Tamper::EditRun { run, column, how }),
        1 => any::<usize>().prop_map(|run| Tamper::DeleteRun { run }),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(like, how)| Tamper::AddRun { like, how }),
        1 => (any::<usize>(), any::<usize>())
            .prop_map(|(source, how)| Tamper::EditSource { source, how }),
        1 => any::<usize>().prop_map(|from| Tamper::Truncate { from }),
        2 => (any::<usize>(), any::<usize>())
            .prop_map(|(node, how)| Tamper::EditNode { node, how }),
        1 => any::<usize>().prop_map(|node| Tamper::DeleteNode { node }),
        1 => (any::<usize>(), any::<usize>(), any::<u8>())
            .prop_map(|(at, like, place)| Tamper::InsertNode { at, like, place }),
        2 => (any::<usize>(), any::<usize>())
            .prop_map(|(cp, how)| Tamper::EditCheckpoint { cp, how }),
        1 => (any::<usize>(), any::<bool>(), any::<bool>())
            .prop_map(|(from, all, tree)| Tamper::DropLatestCheckpoint { from, all, tree }),
        1 => (any::<usize>(), any::<usize>())
            .prop_map(|(cosig, how)| Tamper::EditCosignature { cosig, how }),
        2 => (any::<usize>(), any::<usize>())
            .prop_map(|(row, how)| Tamper::EditContent { row, how }),
        1 => any::<usize>().prop_map(|row| Tamper::DeleteContent { row }),
    ]
}

fn tampers() -> impl Strategy<Value = Vec<Tamper>> {
    prop_oneof![
        1 => Just(Vec::new()),
        5 => proptest::collection::vec(one_tamper(), 1..=1),
        4 => proptest::collection::vec(one_tamper(), 2..=2),
    ]
}

/// One generated case: a log, a checkpoint, tampering.
#[derive(Debug, Clone)]
struct Case {
    legacy: Option<Legacy>,
    steps: Vec<Build>,
    checkpoint_after: usize,
    tampers: Vec<Tamper>,
    /// What is recomputed after the tampering.
    forge: Forge,
    rebuild: Rebuild,
    /// How the checkpoint file was edited (see `edit_checkpoint`).
    cp_edit: u8,
    /// `--key`: 0 none, 1 the log's, 2 another.
    key: u8,
    /// `--witness`: bit 0 witness a, bit 1 witness b.
    witnesses: u8,
}

/// The checkpoint as taken (0), or edited: 1 its time 1 ms later, 2 another
/// head hash, 3 a head one past the log's, 4 one before it (same hash).
fn edit_checkpoint(cp: &crate::store::Checkpoint, edit: u8) -> crate::store::Checkpoint {
    let mut cp = cp.clone();
    match edit {
        1 => cp.at = cp.at.map(|t| t + chrono::Duration::milliseconds(1)),
        2 => cp.head_hash = "ab".repeat(32),
        3 => {
            cp.head_seq += 1;
            cp.events += 1;
        }
        4 if cp.head_seq > 1 => {
            cp.head_seq -= 1;
            cp.events -= 1;
        }
        _ => {}
    }
    cp
}

fn case() -> impl Strategy<Value = Case> {
    (
        legacy(),
        proptest::collection::vec(build_step(), 1..30),
        any::<usize>(),
        tampers(),
        prop_oneof![
            3 => Just(Forge::Nothing),
            3 => Just(Forge::Chain),
            1 => any::<usize>().prop_map(Forge::ChainUpTo),
            1 => Just(Forge::OwnHashes),
        ],
        prop_oneof![6 => Just(0u8), 1 => 1u8..5],
        prop_oneof![
            4 => Just(Rebuild::Nothing),
            2 => Just(Rebuild::Tree),
            2 => Just(Rebuild::Resign),
        ],
        prop_oneof![4 => Just(0u8), 2 => Just(1u8), 1 => Just(2u8)],
        prop_oneof![4 => Just(0u8), 1 => 1u8..4],
    )
        .prop_map(
            |(
                legacy,
                steps,
                checkpoint_after,
                tampers,
                forge,
                cp_edit,
                rebuild,
                key,
                witnesses,
            )| {
                Case {
                    legacy,
                    steps,
                    checkpoint_after,
                    tampers,
                    forge,
                    rebuild,
                    cp_edit,
                    key,
                    witnesses,
                }
            },
        )
}

/// A temporary directory, in memory where the system has one: every write
/// is a synchronous commit, and a case makes dozens.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("tempdir")
}

/// Another log's key (`--key` 2).
fn other_vkey() -> String {
    crate::custody::note::Signer::from_seed("runsheet/other", &[3; 32])
        .expect("key")
        .verifier()
        .to_vkey()
}

/// The real verify's `Trust` and the reference's for the same inputs.
fn trusts(
    head: Option<&crate::store::Checkpoint>,
    signed: Option<&str>,
    key: Option<&str>,
    witnesses: &[String],
) -> (crate::store::Trust, super::Trust) {
    use crate::custody::checkpoint::SignedCheckpoint;
    use crate::custody::note::Verifier;
    let theirs = crate::store::Trust {
        checkpoint: head.cloned(),
        trusted: signed.map(|n| SignedCheckpoint::parse(n).expect("signed checkpoint")),
        key: key.map(|k| Verifier::parse(k).expect("vkey")),
        witnesses: witnesses
            .iter()
            .map(|w| Verifier::parse(w).expect("witness vkey"))
            .collect(),
        // The oracle has no --custodian pin (tested through the binary).
        custodians: Vec::new(),
    };
    let mine = super::Trust {
        head: head.map(head_of),
        trusted: signed.map(str::to_string),
        key: key.map(str::to_string),
        witnesses: witnesses.to_vec(),
    };
    (theirs, mine)
}

/// Build, tamper, verify both ways: `Err` says how the two disagree; `Ok`
/// has the rule that named each finding ("ok" for none; for statistics).
fn check(case: &Case) -> Result<Vec<String>, String> {
    let dir = scratch();
    let path = dir.path().join("evidence.sqlite3");
    let after = case.checkpoint_after % (case.steps.len() + 1);
    let built = build_signed(&path, case.legacy.as_ref(), &case.steps, after);
    let store = built.store;
    let cp = edit_checkpoint(&built.head, case.cp_edit);
    let untouched = (
        real(&store.verify().expect("verify")),
        named(&reference(&path, None)),
    );
    if untouched != (None, None) {
        return Err(format!("untampered log: (real, reference) = {untouched:?}"));
    }
    let own = store.log_key().expect("log key").map(|k| k.vkey);
    let key = match case.key {
        1 => own,
        2 => Some(other_vkey()),
        _ => None,
    };
    let witnesses: Vec<String> = (0..2u8)
        .filter(|i| case.witnesses & (1 << i) != 0)
        .map(|i| cosigner(i).verifier().to_vkey())
        .collect();
    {
        let conn = attacker(&path);
        for t in &case.tampers {
            tamper(&conn, t);
        }
        rechain(&conn, case.forge);
        rebuild(&conn, &path, case.rebuild);
    }
    // As a writer's store sees the log, and as `runsheet verify` does
    // (read-only): SQLite checks CHECK constraints only on the first. With
    // nothing trusted, with the unsigned head, and with the signed
    // checkpoint, `--key` and `--witness`.
    let reader = Store::options()
        .read_only(true)
        .open(&path)
        .expect("read-only open");
    let mut rules = Vec::new();
    let none = trusts(None, None, None, &[]);
    let head = trusts(Some(&cp), None, None, &[]);
    let signed = trusts(None, Some(&built.signed), key.as_deref(), &witnesses);
    for (store, read_only, (theirs, mine), what) in [
        (&store, false, &none, "verify"),
        (&store, false, &signed, "verify --trusted"),
        (&reader, true, &head, "verify (read-only) --checkpoint"),
        (&reader, true, &signed, "verify (read-only) --trusted"),
    ] {
        let report = store.verify_trusting(theirs);
        let mine = reference_on(&path, mine, read_only);
        let report = report.map_err(|e| format!("{what}: real error {e}, reference {mine:?}"))?;
        let theirs = real(&report);
        if theirs != named(&mine) {
            return Err(format!(
                "{what}: real {theirs:?}, reference {mine:?}\n{report:?}"
            ));
        }
        rules.push(mine.map_or("ok".into(), |f| format!("{} {}", f.rule, f.problem)));
    }
    Ok(rules)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fuzz_cases(64)))]

    /// On any log the store writes, tampered with in any of these ways (and
    /// the chain recomputed or not), the real verify and the reference agree
    /// on the verdict and on the first finding's problem and seq, with and
    /// without a checkpoint taken before the tampering.
    #[test]
    fn the_real_verify_agrees_with_the_reference(case in case()) {
        if let Err(e) = check(&case) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// Every rule of the docs that can name a finding, as the reference labels
/// them ("page check" is SQLite's; rule 11 needs a damaged page).
const RULES: &[&str] = &[
    "page check damaged",
    "1 missing",
    "1 inserted",
    "2 edited",
    "3 payload-mismatch",
    "5 inserted",
    "6 edited",
    "6 missing",
    "6 out-of-order",
    "6 run-row-mismatch",
    "7 out-of-order",
    "7 run-row-mismatch",
    "8 source-mismatch",
    "8 run-row-mismatch",
    "9 run-row-mismatch",
    "12 missing",
    "12 run-row-mismatch",
    "13 truncated",
    "13 edited",
    "D1 inserted",
    "D2 inserted",
    "D2 out-of-order",
    "D3 inserted",
    "D4 inserted",
    "D5 missing",
    "D6 edited",
    "D7 edited",
    "D8 edited",
    "ok",
];

/// The generator reaches every rule, and on 3000 cases (the same ones every
/// time) the two verifiers agree. About two minutes:
/// `cargo test --lib reference -- --ignored --nocapture` prints how often
/// each rule named the finding.
#[test]
#[ignore = "long: 3000 cases"]
fn the_generator_reaches_every_rule() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let mut disagreements = Vec::new();
    let mut rules: std::collections::BTreeMap<String, usize> = Default::default();
    for _ in 0..3000 {
        let case = strategy.new_tree(&mut runner).expect("case").current();
        match check(&case) {
            Ok(named) => {
                for rule in named {
                    *rules.entry(rule).or_default() += 1;
                }
            }
            Err(e) => disagreements.push(format!("{e}\n{case:?}")),
        }
    }
    for (rule, n) in &rules {
        println!("{n:6} {rule}");
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n\n"));
    let missed: Vec<&str> = RULES
        .iter()
        .copied()
        .filter(|r| !rules.contains_key(*r))
        .collect();
    assert!(missed.is_empty(), "never reached: {missed:?}");
}

// ------------------------------------------------------------- fixed cases

const RUN_1: &str = "0190abcd-ef00-7000-8000-000000000001";
const RUN_2: &str = "0190abcd-ef00-7000-8000-000000000002";

/// seq 1 log-created, 2 log-key; run 1: 3 started, 4 note, 5 ended
/// (completed); run 2: 6 started, 7 note (open); 8 export. Signed
/// checkpoints stored at 2, 5 and 8; tree rows at 2, 4, 6 and 8; the
/// unsigned checkpoint at seq 8.
fn small(path: &Path) -> (Store, crate::store::Checkpoint) {
    let act = Build::Act {
        run: 0,
        what: 7,
        text: 0,
        batch: false,
        tick: 1,
    };
    let steps = [
        Build::Start {
            source: 0,
            named: true,
        },
        act.clone(),
        Build::End {
            run: 0,
            outcome: 0,
            reason: false,
            batch: false,
        },
        Build::Start {
            source: 1,
            named: false,
        },
        act,
        Build::Export,
    ];
    build(path, None, &steps, steps.len())
}

/// A version-2 log in format 1: run 1 (its run-started without the fields
/// schema 3 added): 1 started, 2 note, 3 ended; 4 export; then the upgrade:
/// 5 schema-migrated (format 2 from here), 6 log-key; a signed checkpoint
/// at 6.
fn legacy_small(path: &Path) -> (Store, crate::store::Checkpoint) {
    let legacy = Legacy {
        runs: vec![LegacyRun {
            old_payload: true,
            notes: 1,
            ended: true,
        }],
        export: true,
    };
    build(path, Some(&legacy), &[], 0)
}

/// SQL that renumbers every event 1, 2, 3, ... in seq order.
const RENUMBER: &str = "UPDATE events SET seq = seq + 1000000; \
    UPDATE events SET seq = (SELECT count(*) FROM events e WHERE e.seq < events.seq) + 1;";

/// A copy of run `from`'s row under another id.
fn copy_row(id: &str, from: &str) -> String {
    format!(
        "INSERT INTO runs SELECT '{id}', procedure_id, procedure_version, procedure_title, \
         procedure_sha256, controls, source_path, operator, operator_name, host, \
         runsheet_version, started_at, ended_at, outcome FROM runs WHERE id = '{from}';"
    )
}

type Named = Option<(&'static str, Option<i64>)>;

/// One hand-made tampering and what the docs say verify reports.
struct Fixed {
    what: &'static str,
    log: fn(&Path) -> (Store, crate::store::Checkpoint),
    /// Run first, then `tampers`, then `forge`.
    sql: String,
    tampers: Vec<Tamper>,
    forge: Forge,
    rebuild: Rebuild,
    cp_edit: u8,
    /// Without a checkpoint, and with the one taken before the tampering.
    expect: Named,
    expect_cp: Named,
    /// The rule the reference names it by, when it matters ("" otherwise).
    rule: &'static str,
}

/// Both verifiers on the log `f` makes: (writable, read-only) x (no
/// checkpoint, checkpoint), the real one's answers first.
fn both(f: &Fixed) -> Vec<(String, Named, Named, &'static str)> {
    let dir = scratch();
    let path = dir.path().join("evidence.sqlite3");
    let (store, cp) = (f.log)(&path);
    let cp = edit_checkpoint(&cp, f.cp_edit);
    {
        let conn = attacker(&path);
        conn.execute_batch(&f.sql).expect(f.what);
        for t in &f.tampers {
            tamper(&conn, t);
        }
        rechain(&conn, f.forge);
        rebuild(&conn, &path, f.rebuild);
    }
    let reader = Store::options()
        .read_only(true)
        .open(&path)
        .expect("read-only open");
    let mut answers = Vec::new();
    for (store, read_only) in [(&store, false), (&reader, true)] {
        for checkpoint in [None, Some(&cp)] {
            let report = match checkpoint {
                None => store.verify(),
                Some(cp) => store.verify_checkpoint(cp),
            };
            let theirs = report.map(|r| real(&r)).unwrap_or_else(|e| {
                println!("{}: verify failed: {e}", f.what);
                Some(("error", None))
            });
            let trust = super::Trust {
                head: checkpoint.map(head_of),
                ..super::Trust::default()
            };
            let mine = reference_on(&path, &trust, read_only);
            let rule = mine.as_ref().map_or("", |f| f.rule);
            let how = format!("read-only {read_only}, checkpoint {}", checkpoint.is_some());
            answers.push((how, theirs, named(&mine), rule));
        }
    }
    answers
}

fn assert_fixed(cases: &[Fixed]) {
    for f in cases {
        for (how, theirs, mine, rule) in both(f) {
            let expect = if how.ends_with("true") {
                f.expect_cp
            } else {
                f.expect
            };
            assert_eq!(
                (theirs, mine),
                (expect, expect),
                "{} ({how}): (real, reference)",
                f.what
            );
            if !f.rule.is_empty() {
                assert_eq!(rule, f.rule, "{} ({how}): the reference's rule", f.what);
            }
        }
    }
}

fn fixed(what: &'static str, sql: String, forge: Forge, expect: Named, expect_cp: Named) -> Fixed {
    Fixed {
        what,
        log: small,
        sql,
        tampers: Vec::new(),
        forge,
        rebuild: Rebuild::Nothing,
        cp_edit: 0,
        expect,
        expect_cp,
        rule: "",
    }
}

#[test]
fn run_rows_are_checked_row_by_row_after_the_walk_and_a_checkpoint_first() {
    assert_fixed(&[
        fixed(
            "the tail cut from run 1's end with its tree rows and checkpoints: run 1 lost \
             its end (first row), run 2 everything",
            "DELETE FROM events WHERE seq >= 5; DELETE FROM tree_nodes WHERE seq >= 5; \
             DELETE FROM checkpoints WHERE tree_size >= 5"
                .into(),
            Forge::Nothing,
            Some(("run-row-mismatch", None)),
            Some(("truncated", Some(5))),
        ),
        fixed(
            "the tail cut from run 1's end, the tree and checkpoints left: the tree says so",
            "DELETE FROM events WHERE seq >= 5".into(),
            Forge::Nothing,
            Some(("truncated", Some(5))),
            Some(("truncated", Some(5))),
        ),
        Fixed {
            rebuild: Rebuild::Tree,
            ..fixed(
                "run 1's events gone (first row), run 2 marked ended",
                format!(
                    "DELETE FROM events WHERE run_id = '{RUN_1}'; \
                 UPDATE runs SET outcome = 'completed', ended_at = '2025-06-15T16:00:00.000Z' \
                 WHERE id = '{RUN_2}'; {RENUMBER} DELETE FROM checkpoints WHERE tree_size > 2"
                ),
                Forge::Chain,
                // A rewrite from seq 3 with the checkpoints after 2 deleted:
                // the record now at seq 5 was written with a checkpoint of
                // its own, which is gone (rule 16), before any row check.
                Some(("missing", Some(5))),
                Some(("missing", Some(5))),
            )
        },
        Fixed {
            rebuild: Rebuild::Tree,
            ..fixed(
                "a row whose id is no UUID before run 2, whose events are gone",
                format!(
                    "{} DELETE FROM events WHERE run_id = '{RUN_2}'; {RENUMBER} \
                 DELETE FROM checkpoints WHERE tree_size > 5",
                    copy_row("not-a-uuid", RUN_1)
                ),
                Forge::Chain,
                // The record renumbered down to seq 6 was written with a
                // checkpoint of its own, deleted with those after 5 (rule 16).
                Some(("missing", Some(6))),
                Some(("missing", Some(6))),
            )
        },
        fixed(
            "a row whose id is no UUID",
            copy_row("not-a-uuid", RUN_1),
            Forge::Nothing,
            Some(("run-row-mismatch", None)),
            Some(("run-row-mismatch", None)),
        ),
        fixed(
            "a copy of run 1's row with its id upper-cased (a UUID, without events)",
            copy_row(&RUN_1.to_uppercase(), RUN_1),
            Forge::Nothing,
            Some(("missing", None)),
            Some(("missing", None)),
        ),
        fixed(
            "a copy of run 1's row with its id braced (a UUID, without events)",
            copy_row(&format!("{{{RUN_1}}}"), RUN_1),
            Forge::Nothing,
            Some(("missing", None)),
            Some(("missing", None)),
        ),
        fixed(
            "run 1's row id written without hyphens (the same UUID spelled another way)",
            format!("UPDATE runs SET id = replace(id, '-', '') WHERE id = '{RUN_1}'"),
            Forge::Nothing,
            Some(("run-row-mismatch", Some(3))),
            Some(("run-row-mismatch", Some(3))),
        ),
    ]);
}

#[test]
fn sources_and_times_are_read_as_the_docs_say() {
    assert_fixed(&[
        fixed(
            "the procedure text stored as a BLOB of the same bytes (only format must be text)",
            "UPDATE procedure_sources SET text = CAST(text AS BLOB)".into(),
            Forge::Nothing,
            None,
            None,
        ),
        fixed(
            "a procedure format that is not UTF-8",
            "UPDATE procedure_sources SET format = CAST(X'C0FF' AS TEXT) WHERE format = 'toml'"
                .into(),
            Forge::Nothing,
            Some(("source-mismatch", Some(3))),
            Some(("source-mismatch", Some(3))),
        ),
        fixed(
            "run 1's note at the instant of its start, spelled +00:00, re-chained: not a time runsheet writes",
            "UPDATE events SET at = (SELECT replace(at, 'Z', '+00:00') FROM events WHERE seq = 3) \
             WHERE seq = 4"
                .into(),
            Forge::Chain,
            Some(("inserted", Some(4))),
            Some(("inserted", Some(4))),
        ),
        Fixed {
            cp_edit: 1,
            ..fixed(
                "nothing changed, the checkpoint's time edited",
                String::new(),
                Forge::Nothing,
                None,
                Some(("edited", Some(8))),
            )
        },
        Fixed {
            cp_edit: 3,
            ..fixed(
                "nothing changed, the checkpoint's head moved past the log's",
                String::new(),
                Forge::Nothing,
                None,
                Some(("truncated", Some(9))),
            )
        },
    ]);
}

#[test]
fn the_diagnosis_rules_name_these_records() {
    let insert = |at, like, forged, hash, place| Tamper::Insert {
        at,
        like,
        forged,
        hash,
        place,
    };
    assert_fixed(&[
        Fixed {
            // D1: a copy of seq 3, hash and link copied, right after it.
            tampers: vec![insert(0, 2, 0, 1, 1)],
            rule: "D1",
            ..fixed(
                "a copy of seq 3 inserted after it, the rest renumbered",
                String::new(),
                Forge::Nothing,
                Some(("inserted", Some(4))),
                Some(("inserted", Some(4))),
            )
        },
        Fixed {
            // D3: made-up link and hash at seq 4; the old seq 4 now at 5.
            tampers: vec![insert(3, 3, 2, 2, 0)],
            rule: "D3",
            ..fixed(
                "a forged log event at seq 4 with made-up hashes, the rest renumbered",
                String::new(),
                Forge::Nothing,
                Some(("inserted", Some(4))),
                Some(("inserted", Some(4))),
            )
        },
        Fixed {
            // D4: the old seq 4, now at 5, hashes at 4 and links to nothing
            // left (seq 3 was edited and the chain re-hashed up to seq 4,
            // the tree rebuilt over it).
            tampers: vec![insert(3, 3, 2, 0, 0)],
            rebuild: Rebuild::Tree,
            rule: "D4",
            ..fixed(
                "seq 3 edited, a log event forged at seq 4, re-chained up to it",
                "UPDATE events SET actor = 'mallory' WHERE seq = 3".into(),
                Forge::ChainUpTo(3),
                Some(("inserted", Some(4))),
                Some(("inserted", Some(4))),
            )
        },
        Fixed {
            // D7: seq 3 passes its own check; seq 4 no longer links to it.
            rule: "D7",
            ..fixed(
                "seq 3 edited and its own hash recomputed",
                "UPDATE events SET actor = 'mallory' WHERE seq = 3".into(),
                Forge::OwnHashes,
                Some(("edited", Some(3))),
                Some(("edited", Some(3))),
            )
        },
        Fixed {
            // A record forged at the checkpoint's head with the right hashes,
            // the tree rebuilt: the walk fails at seq 9 (D2) naming seq 8,
            // which is not after the head, so the walk's finding stands (the
            // stored checkpoint at 8 is edited, at the same seq: beside it).
            tampers: vec![insert(7, 7, 2, 0, 0)],
            rebuild: Rebuild::Tree,
            rule: "D2",
            ..fixed(
                "a log event forged at seq 8 (the checkpoint's head), every own hash recomputed",
                String::new(),
                Forge::OwnHashes,
                Some(("inserted", Some(8))),
                Some(("inserted", Some(8))),
            )
        },
        Fixed {
            // Without the tree rebuilt, the forged record's tree row is
            // wrong; but seq 9 no longer links to it, so the chain names
            // it (D2 at seq 9), as with the tree rebuilt: inserted, not
            // edited (it used to say edited, which misnamed an insertion).
            tampers: vec![insert(7, 7, 2, 0, 0)],
            rule: "D2",
            ..fixed(
                "a log event forged at seq 8, every own hash recomputed, the tree left",
                String::new(),
                Forge::OwnHashes,
                Some(("inserted", Some(8))),
                Some(("inserted", Some(8))),
            )
        },
        Fixed {
            // An edit at a seq that completes tree nodes, its own hash
            // recomputed: the tree row is wrong and seq 5 no longer links
            // to it, so the chain names it (D7 at seq 5): edited at 4.
            rule: "D7",
            ..fixed(
                "seq 4 edited and its own hash recomputed, the tree left",
                "UPDATE events SET actor = 'mallory' WHERE seq = 4".into(),
                Forge::OwnHashes,
                Some(("edited", Some(4))),
                Some(("edited", Some(4))),
            )
        },
        Fixed {
            log: legacy_small,
            ..fixed(
                "a format-1 record's step NULL made '' (format 1 hashes both alike)",
                "UPDATE events SET step = '' WHERE seq = 1".into(),
                Forge::Nothing,
                None,
                None,
            )
        },
        Fixed {
            log: legacy_small,
            ..fixed(
                "a format-1 log event's run_id NULL made '' (it hashes alike, but is a run's now)",
                "UPDATE events SET run_id = '' WHERE seq = 4".into(),
                Forge::Nothing,
                Some(("inserted", Some(4))),
                Some(("inserted", Some(4))),
            )
        },
        Fixed {
            log: legacy_small,
            ..fixed(
                "the schema-migrated record's step NULL made '' (format 2 tells them apart)",
                "UPDATE events SET step = '' WHERE seq = 5".into(),
                Forge::Nothing,
                Some(("edited", Some(5))),
                Some(("edited", Some(5))),
            )
        },
        Fixed {
            log: legacy_small,
            ..fixed(
                "a format-1 run's title changed on its row (not covered in format 1)",
                "UPDATE runs SET procedure_title = 'forged'".into(),
                Forge::Nothing,
                None,
                None,
            )
        },
    ]);
}

/// SQLite checks CHECK constraints in `quick_check` only on a connection
/// that may write; verify runs its page check on a read-only connection, so
/// a writer's verify and `runsheet verify` give the same verdict: a run-row
/// finding (this once was *damaged* to a writer only).
#[test]
fn a_check_constraint_broken_by_hand_is_the_same_finding_to_a_writer_and_a_reader() {
    let f = fixed(
        "run 2 (open) given an outcome without an end time",
        format!("UPDATE runs SET outcome = 'completed' WHERE id = '{RUN_2}'"),
        Forge::Nothing,
        None,
        None,
    );
    let answers: Vec<(Named, Named)> = both(&f).into_iter().map(|(_, t, m, _)| (t, m)).collect();
    let row = Some(("run-row-mismatch", None));
    assert_eq!(answers, [(row, row), (row, row), (row, row), (row, row)]);
}

/// Docs: verify reports tampering as a finding, never as an error — also a
/// run row column that is not text (this was a bug).
#[test]
fn a_run_row_that_is_not_text_is_a_finding_not_an_error() {
    assert_fixed(&[
        fixed(
            "run 1's operator stored as a BLOB",
            format!("UPDATE runs SET operator = CAST(operator AS BLOB) WHERE id = '{RUN_1}'"),
            Forge::Nothing,
            Some(("run-row-mismatch", Some(3))),
            Some(("run-row-mismatch", Some(3))),
        ),
        fixed(
            "run 1's outcome not UTF-8",
            format!("UPDATE runs SET outcome = CAST(X'C0FF' AS TEXT) WHERE id = '{RUN_1}'"),
            Forge::Nothing,
            Some(("run-row-mismatch", Some(5))),
            Some(("run-row-mismatch", Some(5))),
        ),
    ]);
}

/// Docs, D3 and "which format a record uses": the record moved up from seq 1
/// is a `log-created`, format 2 by its kind, and hashes at seq 1 (this was a bug).
#[test]
fn d3_hashes_a_moved_switch_record_in_its_own_format() {
    assert_fixed(&[Fixed {
        rule: "D3",
        ..fixed(
            "a forged log event at seq 1 with made-up hashes, the rest renumbered up",
            format!(
                "UPDATE events SET seq = seq + 1000000; UPDATE events SET seq = seq - 999999; \
                 INSERT INTO events VALUES (1, NULL, 1, '2025-06-15T16:00:00.000Z', 'mallory', \
                 'export', NULL, '{{\"kind\":\"export\"}}', '{}', '{}', '{}')",
                sha256_hex(br#"{"kind":"export"}"#),
                "ee".repeat(32),
                "ff".repeat(32)
            ),
            Forge::Nothing,
            Some(("inserted", Some(1))),
            Some(("inserted", Some(1))),
        )
    }]);
}

/// Verify (real, reference) with a signed `trusted` checkpoint.
fn with_trusted(path: &Path, store: &Store, trusted: Option<&str>) -> (Named, Named) {
    let (theirs, mine) = trusts(None, trusted, None, &[]);
    let report = store.verify_trusting(&theirs).expect("verify");
    (real(&report), named(&reference_on(path, &mine, true)))
}

/// The stronger attacker: one who holds the key file rewrites the log
/// consistently (the chain, the tree, every checkpoint re-signed). Both
/// verifiers accept the result on its own; only a signed checkpoint kept
/// outside the log (`--trusted`) from before the rewrite shows it, and one
/// from before the first changed record still holds.
#[test]
fn a_key_holder_rewriting_the_log_is_caught_only_by_a_trusted_checkpoint() {
    let cases: [(&str, &str, Named, Named); 2] = [
        (
            "run 1's note edited (seq 4)",
            "UPDATE events SET actor = 'mallory' WHERE seq = 4",
            Some(("edited", Some(5))),
            Some(("edited", Some(8))),
        ),
        (
            "the export (seq 8) cut off",
            "DELETE FROM events WHERE seq = 8",
            None,
            Some(("truncated", Some(8))),
        ),
    ];
    for (what, sql, at_5, at_head) in cases {
        let dir = scratch();
        let path = dir.path().join("evidence.sqlite3");
        let (store, _) = small(&path);
        let note = |size| {
            store
                .checkpoint_of_size(size)
                .expect("checkpoint")
                .expect("stored")
                .note
        };
        let (at_2, five, eight) = (note(2), note(5), note(8));
        {
            let conn = attacker(&path);
            conn.execute_batch(sql).expect(what);
            rechain(&conn, Forge::Chain);
            rebuild(&conn, &path, Rebuild::Resign);
        }
        let cases = [
            (None, None),
            (Some(at_2.as_str()), None),
            (Some(five.as_str()), at_5),
            (Some(eight.as_str()), at_head),
        ];
        for (trusted, expect) in cases {
            assert_eq!(
                with_trusted(&path, &store, trusted),
                (expect, expect),
                "{what}, trusted {:?}: (real, reference)",
                trusted.map(|t| t.lines().nth(1))
            );
        }
    }
}

/// Docs: verify reports tampering as a finding, never as an error. A stored
/// checkpoint's note made a BLOB (the same bytes) once made the real verify
/// fail with "SQLite error: Invalid column type Blob at index: 1, name: note";
/// the reference reports *bad-signature* at its tree size.
#[test]
fn a_checkpoint_note_that_is_not_text_is_a_finding_not_an_error() {
    assert_fixed(&[fixed(
        "the checkpoint of 5 records stored as a BLOB",
        "UPDATE checkpoints SET note = CAST(note AS BLOB) WHERE tree_size = 5".into(),
        Forge::Nothing,
        Some(("bad-signature", Some(5))),
        Some(("bad-signature", Some(5))),
    )]);
}
