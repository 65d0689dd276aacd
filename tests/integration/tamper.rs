//! Tamper matrix through the real binary: a log written by `runsheet run`, then
//! edited behind runsheet's back with rusqlite (triggers dropped, as an attacker
//! with the file would), then `runsheet verify` must exit 1 and name the record.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::common::{drill_run, runsheet, stderr, stdout};

/// A log with three completed drill runs and a checkpoint taken after them.
struct Log {
    _dir: tempfile::TempDir,
    db: PathBuf,
    checkpoint: PathBuf,
    /// Run ids in the order they were run.
    runs: Vec<String>,
}

fn log() -> Log {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    for _ in 0..3 {
        drill_run(&db);
    }
    let checkpoint = dir.path().join("checkpoint.json");
    let out = runsheet(&db)
        .arg("checkpoint")
        .arg("--out")
        .arg(&checkpoint)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let conn = Connection::open(&db).unwrap();
    let mut stmt = conn
        .prepare("SELECT id FROM runs ORDER BY started_at, id")
        .unwrap();
    let runs: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(runs.len(), 3);
    Log {
        _dir: dir,
        db,
        checkpoint,
        runs,
    }
}

/// The log opened as an attacker would: the append-only triggers dropped and
/// foreign keys off. When dropped, it puts the triggers back as they were
/// (covering its tracks), so what verify finds is in the records alone.
pub struct Attacker {
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
            self.conn.execute_batch(sql).unwrap();
        }
    }
}

pub fn attacker(db: &Path) -> Attacker {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger'")
        .unwrap();
    let triggers: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(stmt);
    for (name, _) in &triggers {
        conn.execute_batch(&format!("DROP TRIGGER {name}")).unwrap();
    }
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    Attacker {
        conn,
        restore: triggers.into_iter().map(|(_, sql)| sql).collect(),
    }
}

fn seq_of_kind(conn: &Connection, run: &str, kind: &str) -> i64 {
    conn.query_row(
        "SELECT seq FROM events WHERE run_id = ?1 AND kind = ?2 ORDER BY seq LIMIT 1",
        [run, kind],
        |r| r.get(0),
    )
    .unwrap()
}

pub fn first_seq(conn: &Connection, run: &str) -> i64 {
    conn.query_row(
        "SELECT min(seq) FROM events WHERE run_id = ?1",
        [run],
        |r| r.get(0),
    )
    .unwrap()
}

/// `runsheet verify` (with the checkpoint if asked): exit code, text, JSON finding.
fn verify(db: &Path, checkpoint: Option<&Path>) -> (Option<i32>, String, serde_json::Value) {
    let mut text_cmd = runsheet(db);
    text_cmd.arg("verify");
    let mut json_cmd = runsheet(db);
    json_cmd.args(["--json", "verify"]);
    if let Some(cp) = checkpoint {
        text_cmd.arg("--checkpoint").arg(cp);
        json_cmd.arg("--checkpoint").arg(cp);
    }
    let out = text_cmd.output().unwrap();
    let json = json_cmd.output().unwrap();
    assert_eq!(out.status.code(), json.status.code());
    assert!(
        !stderr(&out).contains("panicked"),
        "verify panicked: {}",
        stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap_or_else(|e| {
        panic!("verify --json is not JSON ({e}): {}", stdout(&json));
    });
    (out.status.code(), stdout(&out), v["finding"].clone())
}

/// One tamper: what is done, then what verify must say.
struct Case {
    name: &'static str,
    /// Returns the seq (and run id, if any) the finding must name.
    tamper: fn(&Attacker, &[String]) -> (i64, Option<String>),
    problem: &'static str,
    /// Verify against the checkpoint (truncation is only visible that way).
    with_checkpoint: bool,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "edit an event's actor",
            tamper: |c, runs| {
                let seq = first_seq(c, &runs[1]) + 3;
                c.execute("UPDATE events SET actor = 'mallory' WHERE seq = ?1", [seq])
                    .unwrap();
                (seq, Some(runs[1].clone()))
            },
            problem: "edited",
            with_checkpoint: false,
        },
        Case {
            name: "edit a recorded value (its content, kept apart)",
            tamper: |c, runs| {
                let seq = seq_of_kind(c, &runs[1], "value-recorded");
                c.execute(
                    "UPDATE contents SET content = replace(content, '\"12\"', '\"120\"') WHERE seq = ?1",
                    [seq],
                )
                .unwrap();
                (seq, Some(runs[1].clone()))
            },
            problem: "payload-mismatch",
            with_checkpoint: false,
        },
        Case {
            name: "edit a recorded value and its commitment in the payload",
            tamper: |c, runs| {
                let seq = seq_of_kind(c, &runs[1], "value-recorded");
                crate::forge::rewrite_content(c, seq, "\"12\"", "\"120\"");
                (seq, Some(runs[1].clone()))
            },
            problem: "payload-mismatch",
            with_checkpoint: false,
        },
        Case {
            name: "erase a note's content by hand, naming a redaction that is not there",
            tamper: |c, runs| {
                let seq = seq_of_kind(c, &runs[1], "note-added");
                c.execute(
                    "UPDATE contents SET salt = NULL, content = NULL, redacted_by = 2 WHERE seq = ?1",
                    [seq],
                )
                .unwrap();
                (seq, Some(runs[1].clone()))
            },
            problem: "payload-mismatch",
            with_checkpoint: false,
        },
        Case {
            name: "delete a command output's content row",
            tamper: |c, runs| {
                let seq = seq_of_kind(c, &runs[1], "command-ran");
                c.execute("DELETE FROM contents WHERE seq = ?1", [seq])
                    .unwrap();
                (seq, Some(runs[1].clone()))
            },
            problem: "payload-mismatch",
            with_checkpoint: false,
        },
        Case {
            name: "delete an event",
            tamper: |c, runs| {
                let seq = first_seq(c, &runs[1]) + 4;
                c.execute("DELETE FROM events WHERE seq = ?1", [seq])
                    .unwrap();
                (seq, None)
            },
            problem: "missing",
            with_checkpoint: false,
        },
        Case {
            name: "insert a forged event (later events renumbered)",
            tamper: |c, runs| {
                let seq = first_seq(c, &runs[1]) + 4;
                // A careful forger: a well-formed payload with its correct hash,
                // linked to the previous record; only the record hash cannot be made right
                // without breaking every later link.
                let payload = r#"{"kind":"note-added","step":"prepare","text":"all fine"}"#;
                let payload_sha = runsheet::store::sha256_hex(payload.as_bytes());
                c.execute_batch(&format!(
                    "UPDATE events SET seq = -seq WHERE seq >= {seq}; \
                     UPDATE events SET seq = -seq + 1 WHERE seq < 0;"
                ))
                .unwrap();
                c.execute(
                    "INSERT INTO events (seq, run_id, run_seq, at, actor, kind, step, payload, payload_sha256, prev_hash, hash) \
                     SELECT ?1, run_id, run_seq + 1000, at, actor, 'note-added', 'prepare', ?2, ?3, hash, hash \
                     FROM events WHERE seq = ?4",
                    rusqlite::params![seq, payload, payload_sha, seq - 1],
                )
                .unwrap();
                (seq, Some(runs[1].clone()))
            },
            problem: "inserted",
            with_checkpoint: false,
        },
        Case {
            name: "reorder two events",
            tamper: |c, runs| {
                let seq = first_seq(c, &runs[1]) + 3;
                c.execute_batch(&format!(
                    "UPDATE events SET seq = -1 WHERE seq = {seq}; \
                     UPDATE events SET seq = {seq} WHERE seq = {next}; \
                     UPDATE events SET seq = {next} WHERE seq = -1;",
                    next = seq + 1
                ))
                .unwrap();
                (seq, Some(runs[1].clone()))
            },
            problem: "out-of-order",
            with_checkpoint: false,
        },
        Case {
            name: "delete a whole run (events and row)",
            tamper: |c, runs| {
                let seq = first_seq(c, &runs[1]);
                c.execute("DELETE FROM events WHERE run_id = ?1", [&runs[1]])
                    .unwrap();
                c.execute("DELETE FROM runs WHERE id = ?1", [&runs[1]])
                    .unwrap();
                (seq, None)
            },
            problem: "missing",
            with_checkpoint: false,
        },
        Case {
            name: "truncate: delete the last run, checked against a checkpoint",
            tamper: |c, runs| {
                let seq = first_seq(c, &runs[2]);
                c.execute("DELETE FROM events WHERE run_id = ?1", [&runs[2]])
                    .unwrap();
                c.execute("DELETE FROM runs WHERE id = ?1", [&runs[2]])
                    .unwrap();
                (seq, None)
            },
            problem: "truncated",
            with_checkpoint: true,
        },
        Case {
            name: "swap two runs' events",
            tamper: |c, runs| {
                let seq = first_seq(c, &runs[0]);
                let (a, b) = (runs[0].as_str(), runs[1].as_str());
                for (from, to) in [(a, "swap"), (b, a), ("swap", b)] {
                    c.execute(
                        "UPDATE events SET run_id = ?2 WHERE run_id = ?1",
                        [from, to],
                    )
                    .unwrap();
                }
                (seq, Some(runs[1].clone()))
            },
            problem: "edited",
            with_checkpoint: false,
        },
        Case {
            name: "edit a run's row (operator)",
            tamper: |c, runs| {
                c.execute(
                    "UPDATE runs SET operator = 'mallory' WHERE id = ?1",
                    [&runs[1]],
                )
                .unwrap();
                (0, Some(runs[1].clone()))
            },
            problem: "run-row-mismatch",
            with_checkpoint: false,
        },
        Case {
            name: "forge a redaction: payload removed, redaction event with correct hashes, outcome changed",
            tamper: |c, runs| {
                let seq: i64 = c
                    .query_row(
                        "SELECT seq FROM events WHERE run_id = ?1 AND kind = 'run-ended'",
                        [&runs[1]],
                        |r| r.get(0),
                    )
                    .unwrap();
                c.execute("UPDATE events SET payload = NULL WHERE seq = ?1", [seq])
                    .unwrap();
                c.execute(
                    "UPDATE runs SET outcome = 'failed' WHERE id = ?1",
                    [&runs[1]],
                )
                .unwrap();
                crate::forge::append_log_event(
                    c,
                    &serde_json::json!({"kind": "redaction", "seqs": [seq], "by": "mallory"}),
                );
                (seq, Some(runs[1].clone()))
            },
            problem: "payload-mismatch",
            with_checkpoint: true,
        },
        Case {
            name: "rewrite a note and recompute its own hash",
            tamper: |c, runs| {
                let seq: i64 = c
                    .query_row(
                        "SELECT seq FROM events WHERE run_id = ?1 AND kind = 'note-added'",
                        [&runs[1]],
                        |r| r.get(0),
                    )
                    .unwrap();
                crate::forge::rewrite_content(c, seq, "all good", "all bad");
                crate::forge::rehash_one(c, seq);
                (seq, Some(runs[1].clone()))
            },
            problem: "edited",
            with_checkpoint: false,
        },
        Case {
            name: "a NULL step made empty (format 1 hashed NULL and empty alike)",
            tamper: |c, runs| {
                let seq: i64 = c
                    .query_row(
                        "SELECT seq FROM events WHERE run_id = ?1 AND step IS NULL ORDER BY seq LIMIT 1",
                        [&runs[1]],
                        |r| r.get(0),
                    )
                    .unwrap();
                c.execute("UPDATE events SET step = '' WHERE seq = ?1", [seq])
                    .unwrap();
                (seq, Some(runs[1].clone()))
            },
            problem: "edited",
            with_checkpoint: false,
        },
        Case {
            name: "a forged event of a kind runsheet never writes, correct hashes",
            tamper: |c, _| {
                let seq = crate::forge::append_log_event(
                    c,
                    &serde_json::json!({"kind": "approval", "by": "mallory"}),
                );
                (seq, None)
            },
            problem: "inserted",
            with_checkpoint: false,
        },
        Case {
            name: "the procedure source's format changed",
            tamper: |c, runs| {
                c.execute("UPDATE procedure_sources SET format = 'json'", [])
                    .unwrap();
                (first_seq(c, &runs[0]), Some(runs[0].clone()))
            },
            problem: "run-row-mismatch",
            with_checkpoint: false,
        },
        Case {
            name: "edit the stored procedure source",
            tamper: |c, _| {
                c.execute(
                    "UPDATE procedure_sources SET text = replace(text, 'Wrap up', 'Skip it')",
                    [],
                )
                .unwrap();
                (0, None)
            },
            problem: "source-mismatch",
            with_checkpoint: false,
        },
    ]
}

#[test]
fn every_tamper_is_detected_and_named_by_verify() {
    let base = log();
    let (code, text, _) = verify(&base.db, Some(&base.checkpoint));
    assert_eq!(code, Some(0), "untouched log: {text}");
    let mut table = Vec::new();
    for case in cases() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tampered.sqlite3");
        std::fs::copy(&base.db, &db).unwrap();
        let (seq, run) = {
            let conn = attacker(&db);
            (case.tamper)(&conn, &base.runs)
        };
        if case.with_checkpoint && case.problem == "truncated" {
            // The log's own tree and signed checkpoints show the cut...
            let (code, text, finding) = verify(&db, None);
            assert_eq!(code, Some(1), "{}: {text}", case.name);
            assert_eq!(finding["problem"], "truncated", "{}: {text}", case.name);
            // ...until the tree is rebuilt and they are deleted: then the
            // shorter chain is consistent, and only a checkpoint kept
            // elsewhere shows it. That is what checkpoints are for.
            crate::forge::cover_custody(&attacker(&db));
            let (code, text, _) = verify(&db, None);
            assert_eq!(code, Some(0), "{}: {text}", case.name);
        }
        let cp = case.with_checkpoint.then_some(base.checkpoint.as_path());
        let (code, text, finding) = verify(&db, cp);
        assert_eq!(code, Some(1), "{}: verify must fail: {text}", case.name);
        assert!(text.starts_with("FAILED"), "{}: {text}", case.name);
        assert_eq!(
            finding["problem"], case.problem,
            "{}: {text}\n{finding:#}",
            case.name
        );
        if seq > 0 {
            assert_eq!(finding["seq"], seq, "{}: {text}", case.name);
            assert!(
                text.contains(&format!("seq {seq}")),
                "{}: {text}",
                case.name
            );
        }
        if let Some(run) = &run {
            assert!(
                text.contains(run.as_str()),
                "{}: the message must name run {run}: {text}",
                case.name
            );
        }
        table.push(format!(
            "| {} | 1 | {} | {} |",
            case.name,
            case.problem,
            text.lines().next().unwrap_or("").replace('|', "\\|")
        ));
    }
    println!("\n| tamper | verify exit | problem | first line of the report |");
    println!("| --- | ---: | --- | --- |");
    for row in table {
        println!("{row}");
    }
}

/// An open (suspended) run's row given an end time: the trigger lets a row's
/// end be set once and CHECK constraints can be ignored, so this needs no
/// trigger dropped. Only a `run-ended` event gives a row an end: verify
/// names the run (rule 12), where it used to say OK and show, the reports
/// and runs.csv showed the invented end and duration.
#[test]
fn an_open_runs_row_given_an_end_time_is_a_run_row_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    drill_run(&db);
    let out = crate::common::plain_run(&db, crate::common::drill(), "\n\n12\n");
    assert_eq!(out.status.code(), Some(10), "suspended: {}", stdout(&out));
    let open: String = Connection::open(&db)
        .unwrap()
        .query_row("SELECT id FROM runs WHERE outcome IS NULL", [], |r| {
            r.get(0)
        })
        .unwrap();
    Connection::open(&db)
        .unwrap()
        .execute_batch(&format!(
            "PRAGMA ignore_check_constraints = 1; UPDATE runs SET ended_at = '2026-12-03T18:30:00.000Z' WHERE id = '{open}';"
        ))
        .unwrap();
    let (code, text, finding) = verify(&db, None);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(finding["problem"], "run-row-mismatch", "{text}");
    assert_eq!(finding["run_id"], open.as_str(), "{text}");
    assert!(
        text.contains("row says it ended (at 2026-12-03T18:30:00.000Z, with no outcome) but the log has no run-ended event"),
        "{text}"
    );
}

/// With the `contents` table dropped, verify names the first record whose
/// content is gone (it named "seq 0", which no log has).
#[test]
fn a_dropped_contents_table_names_the_first_record_that_lost_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    drill_run(&db);
    let first: i64 = {
        let conn = Connection::open(&db).unwrap();
        let first = conn
            .query_row("SELECT min(seq) FROM contents", [], |r| r.get(0))
            .unwrap();
        conn.execute_batch("DROP TABLE contents").unwrap();
        first
    };
    let (code, text, finding) = verify(&db, None);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(finding["problem"], "payload-mismatch", "{text}");
    assert_eq!(finding["seq"], first, "{text}");
    assert!(
        text.contains(&format!("the content of seq {first} (run ")),
        "{text}"
    );
}
