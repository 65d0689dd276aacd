//! Chain of custody through the binary: a keyless rewrite that deletes the
//! checkpoints it invalidated is named (rule 16), an honest log (new,
//! suspended, exported, migrated from schema 2) never trips that rule, a
//! walk's finding adds no false "truncated" line, `--trusted` takes a file of
//! appended anchors (the last one) and an older JSON checkpoint is confirmed,
//! and `anchor --append` refuses the log's own files and foreign files.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::common::{DRILL_SCRIPT, drill, plain_run, repo, runsheet, stderr, stdout};
use crate::tamper::attacker;

fn verify(db: &Path, args: &[&str]) -> (Option<i32>, Value, Output) {
    let out = runsheet(db)
        .args(["--json", "verify"])
        .args(args)
        .output()
        .unwrap();
    let v: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    let text = runsheet(db).arg("verify").args(args).output().unwrap();
    (out.status.code(), v, text)
}

/// A log with a completed run, a suspended one, an export and another
/// completed run (the kinds the writer signs a checkpoint with).
fn honest_log(dir: &Path) -> PathBuf {
    let db = dir.join("log.sqlite3");
    assert_eq!(plain_run(&db, drill(), DRILL_SCRIPT).status.code(), Some(0));
    assert_eq!(
        plain_run(&db, drill(), "\n\n12\n").status.code(),
        Some(10),
        "suspended at end of input"
    );
    let out = runsheet(&db)
        .arg("export")
        .arg("--out")
        .arg(dir.join("bundle"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(plain_run(&db, drill(), DRILL_SCRIPT).status.code(), Some(0));
    db
}

fn seq_of(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn an_honest_log_keeps_a_checkpoint_for_every_record_signed_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = honest_log(dir.path());
    // Measured: each record of a kind the writer signs with has a checkpoint
    // of exactly its seq.
    let unsigned = seq_of(
        &db,
        "SELECT count(*) FROM events WHERE kind IN ('run-ended', 'suspended', 'export', 'log-key') \
         AND seq NOT IN (SELECT tree_size FROM checkpoints)",
    );
    assert_eq!(unsigned, 0);
    let (code, v, text) = verify(&db, &[]);
    assert_eq!(code, Some(0), "{v:#}\n{}", stdout(&text));

    // A schema-2 log: its records before the upgrade have no checkpoints.
    let old = dir.path().join("old.sqlite3");
    std::fs::copy(repo().join("tests/fixtures/logs/schema2.sqlite3"), &old).unwrap();
    assert_eq!(plain_run(&old, drill(), "\n\n12\n").status.code(), Some(10));
    assert_eq!(
        plain_run(&old, drill(), DRILL_SCRIPT).status.code(),
        Some(0)
    );
    let (code, v, _) = verify(&old, &[]);
    assert_eq!(code, Some(0), "{v:#}");
}

/// Someone who can write the log but not read its key makes it look like a
/// log from before chain of custody (here the file is replaced by a schema-2
/// log; rewriting its own records as a schema-3 log works alike): verify
/// with the log's key, or with a witness, fails; the next run refuses to
/// upgrade it, so the real key never signs the rewrite, and writes nothing;
/// plain verify says the log has no signed checkpoints.
#[test]
fn a_log_rewritten_to_look_older_than_its_key_fails_verify_with_the_key_and_is_not_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let db = honest_log(dir.path());
    let key = runsheet(&db).args(["key", "-q"]).output().unwrap();
    assert!(key.status.success(), "{}", stderr(&key));
    let vkey = stdout(&key).trim().to_string();
    for suffix in ["-wal", "-shm"] {
        let mut side = db.clone().into_os_string();
        side.push(suffix);
        let _ = std::fs::remove_file(side);
    }
    std::fs::copy(repo().join("tests/fixtures/logs/schema2.sqlite3"), &db).unwrap();
    let before = std::fs::read(&db).unwrap();

    let (code, v, text) = verify(&db, &["--key", &vkey]);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["finding"]["problem"], "bad-signature", "{v:#}");
    assert!(
        stdout(&text).contains("nothing in it is signed by the trusted key")
            && stdout(&text).contains("rewritten to look like an older log"),
        "{}",
        stdout(&text)
    );
    let witness = "sec.example/w+6f00c412+BBJcAifaGrv+nvxtQosYywnAYsugptEJX7ioJmZznvL5";
    let (code, v, text) = verify(&db, &["--witness", witness]);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["finding"]["problem"], "unwitnessed", "{v:#}");
    // Not worded as a broken chain: every record was checked.
    assert!(
        stdout(&text).contains("The hash chain holds up to seq 27 (27 events checked); what failed is the signature or witness check above."),
        "{}",
        stdout(&text)
    );
    let (code, v, text) = verify(&db, &[]);
    assert_eq!(code, Some(0), "{v:#}");
    assert!(
        stdout(&text).contains(
            "Signed checkpoints: none — this log is of a schema from before chain of custody"
        ),
        "{}",
        stdout(&text)
    );

    let out = plain_run(&db, drill(), DRILL_SCRIPT);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("says it is of schema 2, from before signed checkpoints, yet a signing key already exists")
            && stderr(&out).contains("nothing was written"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the refused upgrade changed the log"
    );
    let (code, v, _) = verify(&db, &["--key", &vkey]);
    assert_eq!(code, Some(1), "still not signed: {v:#}");
}

#[test]
fn a_keyless_rewrite_of_the_middle_that_deletes_its_checkpoints_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let db = honest_log(dir.path());
    // Delete the first run's note, renumber and re-chain everything after
    // it, rebuild the tree and delete the checkpoints the change invalidated:
    // no key needed.
    let gone = seq_of(&db, "SELECT min(seq) FROM events WHERE kind = 'note-added'");
    {
        let conn = attacker(&db);
        crate::forge::delete_and_renumber(&conn, gone);
        crate::forge::rechain_from(&conn, gone);
        crate::forge::cover_custody(&conn);
    }
    let ended = seq_of(&db, "SELECT min(seq) FROM events WHERE kind = 'run-ended'");
    let (code, v, text) = verify(&db, &[]);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["finding"]["problem"], "missing", "{v:#}");
    assert_eq!(v["finding"]["seq"], ended, "named at the run's end: {v:#}");
    assert!(
        stdout(&text).contains("its signed checkpoint was deleted"),
        "{}",
        stdout(&text)
    );
    // The next honest run signs on top of it, but the hole stays visible.
    assert_eq!(plain_run(&db, drill(), DRILL_SCRIPT).status.code(), Some(0));
    let (code, v, _) = verify(&db, &[]);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["finding"]["seq"], ended, "{v:#}");
}

#[test]
fn a_walk_finding_adds_no_false_truncated_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = honest_log(dir.path());
    let middle = seq_of(&db, "SELECT min(seq) FROM events WHERE kind = 'note-added'");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&format!(
            "DROP TRIGGER contents_erase_only; UPDATE contents SET content = replace(content, 'all good', 'all bad') WHERE seq = {middle};"
        ))
        .unwrap();
    let (code, v, text) = verify(&db, &[]);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["finding"]["seq"], middle, "{v:#}");
    let text = stdout(&text);
    assert!(!text.contains("truncated"), "{text}");
    assert!(!text.contains("removed from the end"), "{text}");
}

#[test]
fn records_not_yet_signed_point_to_checkpoint_sign() {
    let dir = tempfile::tempdir().unwrap();
    let db = honest_log(dir.path());
    // A well-formed record appended at the end without the key: not a
    // finding (custody.md), only not yet in a signed checkpoint.
    {
        let conn = attacker(&db);
        crate::forge::append_log_event(
            &conn,
            &serde_json::json!({"kind": "schema-migrated", "from": 4, "to": 4}),
        );
        crate::forge::cover_custody(&conn);
    }
    let (code, v, text) = verify(&db, &[]);
    assert_eq!(code, Some(0), "{v:#}");
    assert!(
        stdout(&text).contains("(`runsheet checkpoint --sign` signs them)"),
        "{}",
        stdout(&text)
    );
}

fn anchor(db: &Path, file: &Path) -> Output {
    runsheet(db)
        .args(["anchor", "--no-qr", "--append"])
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn trusted_takes_the_last_of_several_appended_anchors() {
    let dir = tempfile::tempdir().unwrap();
    let db = honest_log(dir.path());
    let anchors = dir.path().join("anchors.txt");
    assert!(anchor(&db, &anchors).status.success());
    assert_eq!(plain_run(&db, drill(), "\n\n12\n").status.code(), Some(10));
    assert!(anchor(&db, &anchors).status.success());
    let head = seq_of(&db, "SELECT max(seq) FROM events");
    let file = anchors.display().to_string();
    let (code, v, text) = verify(&db, &["--trusted", &file]);
    assert_eq!(code, Some(0), "{v:#}\n{}", stderr(&text));
    assert_eq!(v["trusted_checkpoint"], head, "{v:#}");
    assert!(
        stderr(&text).contains(&format!(
            "holds 2 signed checkpoints (appended anchors); using the last one, of {head} records"
        )),
        "{}",
        stderr(&text)
    );
    // Garbage is still refused clearly.
    let junk = dir.path().join("junk.txt");
    std::fs::write(&junk, "not\na\ncheckpoint\n\nat all\n").unwrap();
    let out = runsheet(&db)
        .arg("verify")
        .arg("--trusted")
        .arg(&junk)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a signed checkpoint"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_older_json_checkpoint_is_confirmed_when_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let db = honest_log(dir.path());
    let (seq, hash, at): (i64, String, String) = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT seq, hash, at FROM events WHERE seq = (SELECT max(seq) - 3 FROM events)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let cp = dir.path().join("old.json");
    std::fs::write(
        &cp,
        serde_json::json!({"format": "runsheet-checkpoint", "version": 1, "events": seq,
            "head_seq": seq, "head_hash": hash, "at": at})
        .to_string(),
    )
    .unwrap();
    let (code, v, text) = verify(&db, &["--trusted", &cp.display().to_string()]);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["trusted_checkpoint"], seq, "{v:#}");
    assert_eq!(v["custody"]["trusted_checkpoint"], seq, "{v:#}");
    assert!(
        stdout(&text).contains(&format!(
            "Trusted checkpoint: the log is an append-only extension of it (head seq {seq})"
        )),
        "{}",
        stdout(&text)
    );
}

#[test]
fn anchor_append_refuses_the_logs_own_files_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = honest_log(dir.path());
    let checkpoints = || seq_of(&db, "SELECT count(*) FROM checkpoints");
    let before = checkpoints();
    let key = dir.path().join("log.sqlite3.key");
    let key_text = std::fs::read(&key).unwrap();
    let link = dir.path().join("innocent.txt");
    std::os::unix::fs::symlink(&key, &link).unwrap();
    let foreign = dir.path().join("notes.txt");
    std::fs::write(&foreign, "my notes\n").unwrap();
    let wal = dir.path().join("log.sqlite3-wal");
    for target in [db.clone(), key.clone(), link, wal, foreign.clone()] {
        let out = anchor(&db, &target);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{}: {}",
            target.display(),
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("nothing was written")
                || stderr(&out).contains("Nothing was written"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(
        std::fs::read(&key).unwrap(),
        key_text,
        "the key file is intact"
    );
    assert_eq!(std::fs::read_to_string(&foreign).unwrap(), "my notes\n");
    assert_eq!(checkpoints(), before, "nothing was signed");
    // A file of this log's anchors, and a new one, are fine.
    let anchors = dir.path().join("anchors.txt");
    assert!(anchor(&db, &anchors).status.success());
    assert!(anchor(&db, &anchors).status.success());
    let (code, v, _) = verify(&db, &[]);
    assert_eq!(code, Some(0), "{v:#}");
}
