//! Output through the real binary when the reader goes away, and when runsheet
//! has a bug (docs/exit-codes.md): a closed stdout (`runsheet runs | head -1`)
//! is a quiet exit with the code the command decided; a panic is one line on
//! stderr and exit 70, with no backtrace.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{DRILL_SCRIPT, Input, drill, drill_run, repo, runsheet, stderr, stdout};

/// The write end of a pipe nobody reads: its read end belonged to a process
/// that has exited, so the first write to it fails with EPIPE.
fn closed_pipe() -> Stdio {
    let mut reader = Command::new("true")
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn true");
    let write_end = reader.stdin.take().expect("a pipe");
    reader.wait().expect("true exits");
    Stdio::from(write_end)
}

/// Nothing on stderr that looks like Rust's panic output.
fn assert_no_panic(what: &str, err: &str) {
    for word in ["panicked", "backtrace", "RUST_BACKTRACE"] {
        assert!(!err.contains(word), "{what}: {err}");
    }
}

#[test]
fn a_closed_stdout_is_a_quiet_exit_with_the_code_the_command_decided() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    for _ in 0..3 {
        drill_run(&db);
    }
    let run_id = {
        let out = runsheet(&db).args(["--json", "runs"]).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["runs"][0]["id"].as_str().unwrap().to_string()
    };
    // A second log with an edited event: verify decides 1.
    let broken = dir.path().join("broken.sqlite3");
    drill_run(&broken);
    crate::tamper::attacker(&broken)
        .execute(
            "UPDATE events SET actor = 'mallory' WHERE seq = (SELECT max(seq) FROM events)",
            [],
        )
        .unwrap();
    let lint_error = repo().join("tests/fixtures/lint/unknown-target.toml");
    let lint_error = lint_error.to_str().unwrap();

    let cases: Vec<(&Path, Vec<&str>, i32)> = vec![
        (&db, vec!["runs"], 0),
        (&db, vec!["--json", "runs"], 0),
        (&db, vec!["show", &run_id], 0),
        (&db, vec!["--json", "show", &run_id], 0),
        (&db, vec!["list"], 0),
        (&db, vec!["lint"], 0),
        (&db, vec!["lint", lint_error], 1),
        (&db, vec!["--json", "lint", lint_error], 1),
        (&db, vec!["status"], 0),
        // (`status --strict` on this new log has nothing missed: no period
        // before the log's first record is judged; its exit code depends on
        // the day, so it is not in this list.)
        (&db, vec!["verify"], 0),
        (&broken, vec!["verify"], 1),
        (&broken, vec!["--json", "verify"], 1),
        (&db, vec!["schema"], 0),
        (&db, vec!["render", "backup-customer-data"], 0),
        (&db, vec!["completions", "bash"], 0),
        (&db, vec!["man"], 0),
        (&db, vec!["config"], 0),
        (&db, vec!["--json", "config"], 0),
        (&db, vec!["-q", "key"], 0),
        (&db, vec!["--json", "status"], 0),
        (&db, vec!["--json", "list"], 0),
    ];
    for (log, args, code) in cases {
        let what = format!("{args:?}");
        // Read to the end, the command says something and decides `code`...
        let open = runsheet(log).args(&args).output().unwrap();
        assert_eq!(open.status.code(), Some(code), "{what}: {}", stderr(&open));
        assert!(!open.stdout.is_empty(), "{what}: nothing to write");
        assert_eq!(stderr(&open), "", "{what}");
        // ...and with nobody reading, it decides the same, quietly.
        let closed = runsheet(log)
            .args(&args)
            .env("RUST_BACKTRACE", "1")
            .stdout(closed_pipe())
            .output()
            .unwrap();
        let err = stderr(&closed);
        assert_no_panic(&what, &err);
        assert_eq!(closed.status.code(), Some(code), "{what}: {err}");
        assert_eq!(err, "", "{what}: no message");
    }
}

#[test]
fn commands_that_record_or_write_finish_their_work_with_a_closed_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let quiet = |args: &[&str], stdin: &str| {
        let out = Input::new(stdin)
            .stdout(closed_pipe())
            .run(runsheet(&db).args(args).env("RUST_BACKTRACE", "1"));
        let err = stderr(&out);
        assert_no_panic(&format!("{args:?}"), &err);
        (out.status.code(), err)
    };
    // A plain-mode run nobody watches still follows its script to the end.
    let drill = drill();
    let drill = drill.to_str().unwrap();
    assert_eq!(
        quiet(&["run", "--plain", drill], DRILL_SCRIPT),
        (Some(0), String::new())
    );
    let out = runsheet(&db).args(["--json", "runs"]).output().unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs["runs"][0]["outcome"], "completed", "{runs}");
    // Files are written all the same.
    let bundle = dir.path().join("bundle");
    let starter = dir.path().join("starter.toml");
    for args in [
        vec!["checkpoint"],
        vec!["export", "--out", bundle.to_str().unwrap()],
        vec!["new", "starter", "--out", starter.to_str().unwrap()],
    ] {
        assert_eq!(quiet(&args, ""), (Some(0), String::new()), "{args:?}");
    }
    assert!(bundle.join("manifest.json").is_file());
    assert!(starter.is_file());
}

#[test]
fn a_reader_that_stops_after_one_line_ends_the_output_quietly() {
    // `runsheet runs | head -1` on a log whose table (about 160 KB) is larger
    // than a pipe's buffer (64 KiB on Linux).
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    crate::common::generate_log(&db, &["--runs", "1200", "--events-per-run", "4"]);
    let all = runsheet(&db).arg("runs").output().unwrap();
    assert!(
        all.stdout.len() > 2 * 64 * 1024,
        "{} bytes",
        all.stdout.len()
    );

    let mut child = runsheet(&db)
        .arg("runs")
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("NOTE: GENERATED TEST DATA"), "{first}");
    // The reader is gone now: the rest of the table meets a closed pipe.
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_no_panic("runs | head -1", &err);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(err, "");
}

#[test]
fn a_panic_is_one_sanitized_line_and_exit_70_without_a_backtrace() {
    // The binary's panic trigger exists in debug builds only (src/main.rs);
    // this test is built with the same profile as the binary.
    if !cfg!(debug_assertions) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    for backtrace in ["0", "1", "full"] {
        let out = runsheet(&db)
            .arg("list")
            .env("RUNSHEET_DEBUG_PANIC", "1")
            .env("RUST_BACKTRACE", backtrace)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(70), "{err}");
        assert_eq!(stdout(&out), "", "the command did not run");
        assert_no_panic("panic", &err);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.ends_with('\n'), "{err:?}");
        assert!(
            err.starts_with(
                "runsheet: internal error (a bug in runsheet, please report it): RUNSHEET_DEBUG_PANIC=1 asked for a panic"
            ),
            "{err}"
        );
        assert!(err.contains(" at src/main.rs:"), "where: {err}");
        // The message is sanitized like any other.
        assert!(err.contains(r"\u{1b}]0;title\u{07}"), "{err}");
        assert!(!err.contains('\u{1b}'), "{err:?}");
    }
    // Without the variable the same command runs.
    let out = runsheet(&db).arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
