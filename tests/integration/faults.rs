//! Fault injection through the real binary in plain mode: a full disk, a
//! read-only file, a log locked past the busy timeout, corrupted pages. Each
//! must give a clear message and a non-zero exit (or NOT RECORDED in a run),
//! record nothing it did not acknowledge, never panic, and leave `verify` and
//! `PRAGMA integrity_check` telling the truth.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rusqlite::Connection;

use crate::common::{
    Live, bin, drill, drill_run, plain_run, run_with_input, runsheet, stderr, stdout,
    suspended_drill_run,
};

fn events(db: &Path) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap()
}

fn no_panic(out: &std::process::Output) {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "panic: {err}");
    assert_ne!(out.status.code(), Some(70), "internal error: {err}");
}

/// A log with one completed drill and one suspended run; returns the suspended run's id.
fn log_with_suspended_run(db: &Path) -> String {
    drill_run(db);
    suspended_drill_run(db)
}

fn verify_ok(db: &Path) {
    let out = runsheet(db).arg("verify").output().unwrap();
    no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let c = Connection::open(db).unwrap();
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn a_full_disk_mid_run_records_nothing_unacknowledged_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let run_id = log_with_suspended_run(&db);
    let before = events(&db);
    // The shell limits the size of files the process may write (RLIMIT_FSIZE,
    // 64 blocks = 32 or 64 KiB) and ignores SIGXFSZ, so writes past the limit
    // fail like on a full disk. Each note is 3 KB: the WAL soon cannot grow.
    let notes: String = (0..60)
        .map(|i| format!("a\n{i:03}{}\n", "x".repeat(3000)))
        .collect();
    let out = run_with_input(
        Command::new("sh")
            .arg("-c")
            .arg("ulimit -f 64 && trap '' XFSZ && exec \"$@\"")
            .arg("sh")
            .arg(bin())
            .env("NO_COLOR", "1")
            .arg("--db")
            .arg(&db)
            .args(["resume", "--plain", &run_id]),
        notes,
    );
    no_panic(&out);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(10), "{text}");
    assert!(text.contains("NOT RECORDED"), "{text}");
    assert!(
        text.contains("disk is not full") || text.contains("full"),
        "the message must say what to check: {text}"
    );
    let acked = text.matches("✔ recorded").count();
    assert!(acked > 0 && acked < 61, "{acked} acknowledged");
    // Exactly what was acknowledged is in the log; the chain is intact.
    assert_eq!(events(&db) - before, acked as i64, "{text}");
    verify_ok(&db);
    // With room again, the same run goes on.
    let out = runsheet(&db)
        .args(["resume", "--plain", &run_id])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", stdout(&out));
    verify_ok(&db);
}

/// Makes the log's file read-only for this process; undoes it when dropped.
struct ReadOnly {
    path: PathBuf,
    immutable: bool,
}

impl ReadOnly {
    /// chmod 0400; when that does not stop this process (root), `chattr +i`.
    /// `None` (with the reason printed) when neither works here.
    fn make(path: &Path) -> Option<ReadOnly> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o400)).unwrap();
        if std::fs::OpenOptions::new().write(true).open(path).is_err() {
            return Some(ReadOnly {
                path: path.to_path_buf(),
                immutable: false,
            });
        }
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok || std::fs::OpenOptions::new().write(true).open(path).is_ok() {
            eprintln!(
                "SKIPPED: running as root and `chattr +i` is not available on this file system, so the file cannot be made read-only (the store's read-only open is tested in src/store/tests.rs)"
            );
            return None;
        }
        Some(ReadOnly {
            path: path.to_path_buf(),
            immutable: true,
        })
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.immutable {
            let _ = Command::new("chattr").arg("-i").arg(&self.path).status();
        }
        let _ = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600));
    }
}

#[test]
fn a_read_only_log_refuses_writes_clearly_and_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let run_id = log_with_suspended_run(&db);
    let before = events(&db);
    let Some(guard) = ReadOnly::make(&db) else {
        return;
    };
    // A new run: refused before anything happens.
    let out = plain_run(&db, drill(), "\n\n");
    no_panic(&out);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    // Resuming: refused before the run is shown, since its resumption could
    // not be recorded.
    let out = run_with_input(runsheet(&db).args(["resume", "--plain", &run_id]), "\n\n\n");
    no_panic(&out);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    assert!(!stdout(&out).contains("recorded"), "{}", stdout(&out));
    // Reading still works and tells the truth.
    let out = runsheet(&db).arg("verify").output().unwrap();
    no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    drop(guard);
    assert_eq!(events(&db), before, "nothing was written");
    verify_ok(&db);
}

#[test]
fn a_locked_log_fails_after_the_busy_timeout_applies_nothing_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let mut live = Live::spawn(
        runsheet(&db)
            .env("RUNSHEET_BUSY_TIMEOUT_MS", "300")
            .arg("run")
            .arg("--plain")
            .arg(drill()),
    );
    live.wait_for("> ", 1);
    live.send("\n");
    live.wait_for("✔ recorded", 1);
    let before = events(&db);

    // Another process holds the write lock.
    let holder = Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    live.send("\n12\n");
    live.wait_for("NOT RECORDED", 1);
    let text = live.text();
    assert!(
        text.contains("locked by another runsheet process"),
        "{text}"
    );
    assert_eq!(text.matches("✔ recorded").count(), 1, "{text}");
    holder.execute_batch("ROLLBACK").unwrap();
    assert_eq!(events(&db), before, "nothing was written while locked");

    // Released: the same action goes through (the value step is still current).
    live.send("\n12\n");
    live.wait_for("✔ recorded", 3);
    assert!(
        live.text().contains("Record the backup size = 12"),
        "{}",
        live.text()
    );
    live.send("q\n");
    let (code, text, err) = live.finish();
    assert_eq!(code, Some(10), "{text}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(text.matches("✔ recorded").count(), 4, "{text}");
    verify_ok(&db);
}

/// Flip bytes of the file at `offset`.
fn flip(path: &Path, offset: usize, bytes: &[u8]) {
    let mut data = std::fs::read(path).unwrap();
    for (i, b) in bytes.iter().enumerate() {
        data[offset + i] ^= b;
    }
    std::fs::write(path, data).unwrap();
}

#[test]
fn corrupted_pages_give_a_clear_error_and_verify_tells_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let run_id = log_with_suspended_run(&db);
    assert!(
        !dir.path().join("log.sqlite3-wal").exists(),
        "the WAL is checkpointed when runsheet exits"
    );

    // 1. A damaged B-tree page (the events table's root page header).
    let broken = dir.path().join("broken.sqlite3");
    std::fs::copy(&db, &broken).unwrap();
    let (root, page_size): (i64, i64) = {
        let c = Connection::open(&broken).unwrap();
        (
            c.query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = 'events'",
                [],
                |r| r.get(0),
            )
            .unwrap(),
            c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap(),
        )
    };
    flip(
        &broken,
        ((root - 1) * page_size) as usize,
        &[0xff, 0, 0, 0xff, 0, 0xff],
    );
    // verify's verdict: the log fails verification, and says the file is damaged.
    let out = runsheet(&broken).arg("verify").output().unwrap();
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "verify: {}", stdout(&out));
    assert!(
        stdout(&out).starts_with("FAILED: damaged")
            && stdout(&out).contains("restored from a backup"),
        "{}",
        stdout(&out)
    );
    for args in [
        vec!["runs"],
        vec!["show", run_id.as_str()],
        vec!["resume", "--plain", run_id.as_str()],
    ] {
        let out = runsheet(&broken)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        no_panic(&out);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.contains("damaged") && err.contains("restore it from a backup"),
            "{args:?}: {err}"
        );
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
    }
    let out = plain_run(&broken, drill(), "\n\n");
    no_panic(&out);
    assert_eq!(out.status.code(), Some(4), "run: {}", stdout(&out));
    assert!(!stdout(&out).contains("✔ recorded"), "{}", stdout(&out));
    let check: String = Connection::open(&broken)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap_or_else(|e| e.to_string());
    assert_ne!(check, "ok", "integrity_check must see the damage");

    // 2. A flipped bit inside a record (a note's text): the file is sound, the
    // evidence is not. integrity_check cannot see it; verify does.
    let edited = dir.path().join("edited.sqlite3");
    std::fs::copy(&db, &edited).unwrap();
    let data = std::fs::read(&edited).unwrap();
    let needle = b"\"text\":\"all good\"";
    let at = data
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the note is in the file");
    flip(&edited, at + needle.len() - 3, &[0x20]); // "good" -> "goOd"
    let check: String = Connection::open(&edited)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let out = runsheet(&edited)
        .args(["--json", "verify"])
        .output()
        .unwrap();
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["finding"]["problem"], "payload-mismatch", "{v:#}");
    let seq = v["finding"]["seq"].as_i64().unwrap();
    let out = runsheet(&edited).arg("verify").output().unwrap();
    assert!(
        stdout(&out).contains(&format!("seq {seq}")),
        "{}",
        stdout(&out)
    );
}
