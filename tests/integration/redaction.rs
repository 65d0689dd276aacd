//! Redaction through the real binary: a registered custodian's signed
//! redaction erases one record's content and nothing else, and verify
//! accepts it and lists it; content erased any other way, or a redaction
//! that is unsigned, signed by another key or by a custodian the log key
//! never signed in, fails verify.

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde_json::{Value, json};

use crate::common::{DRILL_SCRIPT, drill, drill_run, plain_run, runsheet, stderr, stdout};
use crate::forge::{append_log_event, cover_custody, resign};
use crate::tamper::attacker;

struct Log {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    db: PathBuf,
    key: PathBuf,
    vkey: String,
}

/// A drill run (a value, a command's output, a note) and a custodian key
/// registered in the log.
fn log_with_custodian() -> Log {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let db = dir.join("log.sqlite3");
    drill_run(&db);
    let (key, vkey) = custodian_key(&db, &dir, "security-officer");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let out = runsheet(&db)
        .args(["custodian", "add", &vkey])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    Log {
        _dir: tmp,
        dir,
        db,
        key,
        vkey,
    }
}

/// `runsheet custodian init` of a key named `name` in `dir`: its file and verifier key.
fn custodian_key(db: &Path, dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(format!("{name}.key"));
    let out = runsheet(db)
        .args(["custodian", "init", "--name", name, "--custodian-key"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    (key, stdout(&out).trim().to_string())
}

fn log_key(l: &Log) -> PathBuf {
    PathBuf::from(format!("{}.key", l.db.display()))
}

fn seq_of(db: &Path, kind: &str) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT seq FROM events WHERE kind = ?1 ORDER BY seq LIMIT 1",
            [kind],
            |r| r.get(0),
        )
        .unwrap()
}

fn redact(l: &Log, seq: i64, reason: &str) -> std::process::Output {
    runsheet(&l.db)
        .args([
            "redact",
            "--seq",
            &seq.to_string(),
            "--reason",
            reason,
            "--custodian-key",
        ])
        .arg(&l.key)
        .output()
        .unwrap()
}

fn verify_json(db: &Path) -> (Option<i32>, Value) {
    let out = runsheet(db).args(["--json", "verify"]).output().unwrap();
    let v: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    (out.status.code(), v)
}

fn event_row(db: &Path, seq: i64) -> Vec<String> {
    Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT run_id, run_seq, at, actor, kind, step, payload, payload_sha256, prev_hash, hash \
             FROM events WHERE seq = ?1",
            [seq],
            |r| {
                (0..10)
                    .map(|i| r.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
                    .collect()
            },
        )
        .unwrap()
}

#[test]
fn a_custodians_redaction_erases_only_the_content_and_verify_lists_it() {
    let l = log_with_custodian();
    let note = seq_of(&l.db, "note-added");
    let value = seq_of(&l.db, "value-recorded");
    let before = event_row(&l.db, note);
    let run_before: Vec<String> = event_row(&l.db, seq_of(&l.db, "run-ended"));
    // The note's text is in the log, apart from the record.
    let text: String = Connection::open(&l.db)
        .unwrap()
        .query_row("SELECT content FROM contents WHERE seq = ?1", [note], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(text, r#"{"text":"all good"}"#);

    let out = redact(&l, note, "GDPR erasure request 42");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("content of seq {note}")),
        "{}",
        stdout(&out)
    );

    // The record is byte for byte what it was: identity, kind, step, time,
    // payload and hashes; so is the run's end.
    assert_eq!(event_row(&l.db, note), before);
    assert_eq!(event_row(&l.db, seq_of(&l.db, "run-ended")), run_before);
    // The content is gone from the file (and its write-ahead log).
    let conn = Connection::open(&l.db).unwrap();
    let (salt, content, by): (Option<String>, Option<String>, i64) = conn
        .query_row(
            "SELECT salt, content, redacted_by FROM contents WHERE seq = ?1",
            [note],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    drop(conn);
    assert_eq!((salt, content), (None, None));
    for file in [l.db.clone(), l.db.with_extension("sqlite3-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            assert!(
                !bytes.windows(8).any(|w| w == b"all good"),
                "{} still holds the note",
                file.display()
            );
        }
    }

    let (code, v) = verify_json(&l.db);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["redactions"][0]["of_seq"], note, "{v:#}");
    assert_eq!(v["redactions"][0]["seq"], by, "{v:#}");
    assert_eq!(v["redactions"][0]["reason"], "GDPR erasure request 42");
    assert_eq!(v["redactions"][0]["custodian"], l.vkey.as_str());
    let text = stdout(&runsheet(&l.db).arg("verify").output().unwrap());
    assert!(text.contains("Redactions: 1"), "{text}");
    // Pinned to the custodian the auditor knows, it still verifies; pinned
    // to another, the redaction is not trusted and the erased note shows.
    let out = runsheet(&l.db)
        .args(["verify", "--custodian", &l.vkey])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let (_, stranger) = custodian_key(&l.db, &l.dir, "stranger");
    let out = runsheet(&l.db)
        .args(["--json", "verify", "--custodian", &stranger])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (
            v["finding"]["problem"].as_str(),
            v["finding"]["seq"].as_i64()
        ),
        (Some("payload-mismatch"), Some(note)),
        "{v:#}"
    );
    assert_eq!(v["also"][0]["problem"], "bad-signature", "{v:#}");
    assert!(
        v["also"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not one you trust"),
        "{v:#}"
    );

    // show says it was redacted; the other content is still there.
    let run: String = Connection::open(&l.db)
        .unwrap()
        .query_row("SELECT id FROM runs", [], |r| r.get(0))
        .unwrap();
    let shown = stdout(&runsheet(&l.db).args(["show", &run]).output().unwrap());
    assert!(
        shown.contains(&format!("Note: [redacted by seq {by}]")),
        "{shown}"
    );
    assert!(shown.contains("Recorded Size: 12 GiB"), "{shown}");

    // Refused, exit 3, nothing written: again, a record without content, an
    // unknown seq, an unregistered key, the log's own key as a custodian.
    let head = || -> i64 {
        Connection::open(&l.db)
            .unwrap()
            .query_row("SELECT max(seq) FROM events", [], |r| r.get(0))
            .unwrap()
    };
    let at = head();
    for (seq, why) in [
        (note, "already redacted"),
        (seq_of(&l.db, "step-started"), "no content"),
        (9999, "no record seq 9999"),
    ] {
        let out = redact(&l, seq, "x");
        assert_eq!(out.status.code(), Some(3), "{why}: {}", stderr(&out));
        assert!(stderr(&out).contains(why), "{why}: {}", stderr(&out));
    }
    let (other, _) = custodian_key(&l.db, &l.dir, "mallory");
    let out = runsheet(&l.db)
        .args([
            "redact",
            "--seq",
            &value.to_string(),
            "--reason",
            "x",
            "--custodian-key",
        ])
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a registered custodian"),
        "{}",
        stderr(&out)
    );
    let log_vkey = stdout(&runsheet(&l.db).arg("key").output().unwrap());
    let out = runsheet(&l.db)
        .args(["custodian", "add", log_vkey.trim()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("log's own signing key"),
        "{}",
        stderr(&out)
    );
    let out = runsheet(&l.db)
        .args(["redact", "--seq", &value.to_string(), "--reason", "x"])
        .env_remove("RUNSHEET_CUSTODIAN_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("--custodian-key"), "{}", stderr(&out));
    assert_eq!(head(), at, "a refused redaction wrote nothing");

    // The audit bundle carries the redaction and verifies offline.
    let bundle = l.dir.join("bundle");
    let out = runsheet(&l.db)
        .arg("export")
        .arg("--out")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = runsheet(&l.db)
        .arg("verify-bundle")
        .arg(&bundle)
        .args(["--key", log_vkey.trim()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn content_erased_without_a_valid_signed_redaction_fails_verify() {
    // Each attacker holds the log's key (so every checkpoint is re-signed
    // over what they leave) but not the custodian's, and erases the note's
    // content; what differs is the redaction they leave.
    struct Case {
        name: &'static str,
        problem: &'static str,
        /// Forge the redaction (if any); the seq verify must name, given
        /// the note's seq and the forged event's.
        forge: fn(&Log, &Connection, i64) -> Option<i64>,
        names_redaction: bool,
    }
    fn claim(l: &Log, conn: &Connection, note: i64, signer: Option<&Path>, vkey: &str) -> i64 {
        let (hash, payload): (String, String) = conn
            .query_row(
                "SELECT hash, payload FROM events WHERE seq = ?1",
                [note],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let want = serde_json::from_str::<Value>(&payload).unwrap()["content_sha256"]
            .as_str()
            .unwrap()
            .to_string();
        let origin = stdout(&runsheet(&l.db).arg("key").output().unwrap())
            .trim()
            .split('+')
            .next()
            .unwrap()
            .to_string();
        let statement = format!(
            "runsheet-redaction/v1\n{origin}\nseq {note}\nrecord {hash}\ncontent {want}\nreason \"personal data\"\n"
        );
        let note_text = match signer {
            Some(key) => {
                let s = runsheet::custody::key::load_signer(key).unwrap();
                format!("{statement}\n{}", s.sign(&statement).unwrap())
            }
            None => format!("{statement}\n— security-officer AAAA\n"),
        };
        let seq = append_log_event(
            conn,
            &json!({"kind": "redaction", "seq": note, "record_hash": hash, "content_sha256": want,
                    "reason": "personal data", "custodian": vkey, "note": note_text}),
        );
        conn.execute(
            "UPDATE contents SET salt = NULL, content = NULL, redacted_by = ?2 WHERE seq = ?1",
            [note, seq],
        )
        .unwrap();
        seq
    }
    let cases = [
        Case {
            name: "erased by hand, no redaction",
            problem: "payload-mismatch",
            forge: |_, conn, note| {
                conn.execute(
                    "UPDATE contents SET salt = NULL, content = NULL, redacted_by = 1 WHERE seq = ?1",
                    [note],
                )
                .unwrap();
                None
            },
            names_redaction: false,
        },
        Case {
            name: "unsigned redaction",
            problem: "bad-signature",
            forge: |l, conn, note| Some(claim(l, conn, note, None, &l.vkey)),
            names_redaction: true,
        },
        Case {
            name: "redaction signed by a key no custodian-added registers",
            problem: "bad-signature",
            forge: |l, conn, note| {
                let (key, vkey) = custodian_key(&l.db, &l.dir, "mallory");
                Some(claim(l, conn, note, Some(&key), &vkey))
            },
            names_redaction: true,
        },
        Case {
            name: "the custodian's real key, but the statement names another reason",
            problem: "bad-signature",
            forge: |l, conn, note| {
                let seq = claim(l, conn, note, Some(&l.key), &l.vkey);
                conn.execute(
                    "UPDATE events SET payload = json_set(payload, '$.reason', 'routine') WHERE seq = ?1",
                    [seq],
                )
                .unwrap();
                crate::forge::rechain_from(conn, seq);
                Some(seq)
            },
            names_redaction: true,
        },
    ];
    for case in cases {
        let l = log_with_custodian();
        let note = seq_of(&l.db, "note-added");
        let named = {
            let conn = attacker(&l.db);
            let forged = (case.forge)(&l, &conn, note);
            resign(&conn, &log_key(&l));
            forged
        };
        let (code, v) = verify_json(&l.db);
        assert_eq!(code, Some(1), "{}: {v:#}", case.name);
        // The finding is the erased content; a forged redaction beside it.
        assert_eq!(
            (
                v["finding"]["problem"].as_str(),
                v["finding"]["seq"].as_i64()
            ),
            (Some("payload-mismatch"), Some(note)),
            "{}: {v:#}",
            case.name
        );
        if case.names_redaction {
            let also: Vec<(Option<&str>, Option<i64>)> = v["also"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| (f["problem"].as_str(), f["seq"].as_i64()))
                .collect();
            assert!(
                also.contains(&(Some(case.problem), named)),
                "{}: {v:#}",
                case.name
            );
        }
    }

    // Without the log's key, a custodian the attacker registers themself (a
    // forged custodian-added event, and a redaction its key really signs):
    // the log's key never signed a checkpoint of either (rule 16).
    let l = log_with_custodian();
    let note = seq_of(&l.db, "note-added");
    {
        let conn = attacker(&l.db);
        let (key, vkey) = custodian_key(&l.db, &l.dir, "mallory");
        append_log_event(&conn, &json!({"kind": "custodian-added", "vkey": vkey}));
        claim(&l, &conn, note, Some(&key), &vkey);
        cover_custody(&conn);
    }
    let (code, v) = verify_json(&l.db);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["finding"]["problem"], "missing", "{v:#}");
}

#[test]
fn redact_due_erases_the_content_past_its_procedures_retention_and_nothing_else() {
    let l = log_with_custodian(); // one run of the drill, which keeps content
    let source = std::fs::read_to_string(drill()).unwrap();
    let short = l.dir.join("drill-short.toml");
    std::fs::write(
        &short,
        source.replacen(
            "cadence = \"on-demand\"",
            "cadence = \"on-demand\"\ncontent_retention_days = 0",
            1,
        ),
    )
    .unwrap();
    let lint = runsheet(&l.db).arg("lint").arg(&short).output().unwrap();
    assert!(lint.status.success(), "{}{}", stdout(&lint), stderr(&lint));
    // The run shows what changed since the first (Enter reads it).
    let out = plain_run(&l.db, &short, format!("\n{DRILL_SCRIPT}"));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("content retention (days)"));
    let conn = Connection::open(&l.db).unwrap();
    let runs: Vec<String> = conn
        .prepare("SELECT id FROM runs ORDER BY started_at, id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let held = |run: &str| -> i64 {
        Connection::open(&l.db)
            .unwrap()
            .query_row(
                "SELECT count(*) FROM contents c JOIN events e ON e.seq = c.seq \
                 WHERE e.run_id = ?1 AND c.content IS NOT NULL",
                [run],
                |r| r.get(0),
            )
            .unwrap()
    };
    let due = held(&runs[1]);
    assert!(due >= 3, "a value, a command's output and a note: {due}");

    // --dry-run lists them and erases nothing (and needs no key).
    let out = runsheet(&l.db)
        .args(["redact", "--due", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "{due} content(s) past their procedure's retention (dry run"
        )),
        "{}",
        stdout(&out)
    );
    assert_eq!(held(&runs[1]), due);

    let out = runsheet(&l.db)
        .args(["redact", "--due", "--custodian-key"])
        .arg(&l.key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        held(&runs[1]),
        0,
        "the short-retention run's content is gone"
    );
    assert!(
        held(&runs[0]) >= 3,
        "the run without retention keeps its content"
    );
    let (code, v) = verify_json(&l.db);
    assert_eq!(code, Some(0), "{v:#}");
    let listed = v["redactions"].as_array().unwrap();
    assert_eq!(listed.len() as i64, due, "{v:#}");
    assert!(
        listed[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("retention: procedure drill"),
        "{v:#}"
    );
    // Nothing more is due.
    let out = runsheet(&l.db)
        .args(["redact", "--due", "--custodian-key"])
        .arg(&l.key)
        .output()
        .unwrap();
    assert!(stdout(&out).contains("0 content(s)"), "{}", stdout(&out));
}

#[test]
fn a_hostile_reason_is_recorded_exactly_and_shown_harmlessly_and_custodians_are_listed() {
    let l = log_with_custodian();
    let listed = runsheet(&l.db)
        .args(["custodian", "list"])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(stdout(&listed).contains(&l.vkey), "{}", stdout(&listed));
    let reason = "erase\u{1b}[2J\u{1b}]0;pwned\u{7}\nline two \u{202e}";
    let out = redact(&l, seq_of(&l.db, "note-added"), reason);
    assert!(out.status.success(), "{}", stderr(&out));
    // Recorded (and signed) exactly as given...
    let (code, v) = verify_json(&l.db);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["redactions"][0]["reason"], reason.trim(), "{v:#}");
    // ...and never reaches the terminal as control sequences.
    let text = runsheet(&l.db).arg("verify").output().unwrap();
    assert!(text.status.success());
    assert!(
        !text.stdout.contains(&0x1b) && !text.stdout.contains(&0x07),
        "{}",
        stdout(&text)
    );
    let events_v: String = Connection::open(&l.db)
        .unwrap()
        .query_row(
            "SELECT detail FROM events_v WHERE kind = 'redaction'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(events_v.contains("line two"), "{events_v}");
}
