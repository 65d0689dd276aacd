//! Safe runs (issue "Safe runs"): what the runner refuses so that a run
//! cannot end looking better than it went.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::common::{
    Live, assert_evidence_validates, drill, payloads, plain_run, printed_run_id, run_with_input,
    runsheet, stderr, stdout, suspended_drill_run,
};

/// Whether process `pid` has ended (gone, or a zombie nobody reaped: in a
/// container the init process may not reap orphans).
fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Wait up to 5 s for `done`.
fn eventually(done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

/// A second session of a run that one session drives is refused with who
/// holds it and where; once that session is killed, the next resume takes
/// the run up and records `recovered`, naming the dead session (its
/// process) and the time of its last event; `show` says so.
#[test]
fn one_session_drives_a_run_and_a_dead_one_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let id = suspended_drill_run(&db);
    let mut first = Live::spawn(runsheet(&db).args(["resume", "--plain", &id]));
    first.wait_for("> ", 1);
    let first_pid = first.pid();
    let second = runsheet(&db)
        .args(["resume", "--plain", &id])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = stderr(&second);
    assert_eq!(second.status.code(), Some(4), "{err}");
    assert!(
        err.contains("is being driven by another runsheet session")
            && err.contains(&format!("(process {first_pid}, since ")),
        "{err}"
    );
    assert!(
        err.contains("if that session is stuck, end its process"),
        "{err}"
    );
    // The first session recorded itself when it took the run up.
    let resumed = payloads(&db, "resumed");
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0]["session"]["pid"], first_pid);
    first.send(
        "
",
    );
    first.wait_for("Size", 2);
    drop(first.kill());

    let out = run_with_input(
        runsheet(&db).args(["resume", "--plain", &id]),
        "q
",
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(10), "{text}");
    assert!(
        text.contains("✔ recorded: taken up after the previous session, "),
        "{text}"
    );
    assert!(
        text.contains(&format!("(process {first_pid}), ended without suspending")),
        "{text}"
    );
    let recovered = payloads(&db, "recovered");
    assert_eq!(recovered.len(), 1, "{text}");
    assert_eq!(recovered[0]["previous"]["pid"], first_pid);
    assert!(recovered[0]["session"]["pid"].is_u64());
    assert_ne!(recovered[0]["session"]["pid"], first_pid);
    // Its last event was the first session's `resumed`.
    let conn = Connection::open(&db).unwrap();
    let last_at: String = conn
        .query_row(
            "SELECT at FROM events WHERE kind = 'resumed' ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(recovered[0]["previous_last_event_at"], last_at.as_str());
    let shown = stdout(&runsheet(&db).args(["show", &id]).output().unwrap());
    assert!(
        shown.contains("ended without suspending; its last event was at"),
        "{shown}"
    );
    let verify = runsheet(&db).arg("verify").output().unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
    // Its events validate against the evidence schema.
    assert_evidence_validates(&db);
}

/// `run` of a procedure this operator has an open run of: plain mode says
/// so and stops, writing nothing; `--new` starts another.
#[test]
fn run_offers_the_open_run_and_plain_mode_needs_new() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let id = suspended_drill_run(&db);
    let runs = |db: &Path| -> i64 {
        Connection::open(db)
            .unwrap()
            .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
            .unwrap()
    };
    let out = runsheet(&db)
        .args(["run", "--plain"])
        .arg(drill())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("has an open run of drill v1.0: {id}"))
            && err.contains(&format!("Continue it with `runsheet resume {id}`"))
            && err.contains("`runsheet run drill --new`"),
        "{err}"
    );
    assert_eq!(runs(&db), 1);
    let out = plain_run(
        &db,
        drill(),
        "q
",
    );
    assert_eq!(out.status.code(), Some(10), "{}", stdout(&out));
    assert_eq!(runs(&db), 2);
}

/// Another operator (here: another display name for the same OS user, as
/// operators of a log kept by a service user are told apart) takes a run
/// over only with `--take-over --reason`, recorded as `handed-over` from
/// the last operator; `--take-over` by the last operator is refused.
#[test]
fn another_operator_takes_a_run_over_only_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let out = run_with_input(
        runsheet(&db)
            .args(["run", "--plain", "--operator", "Alice"])
            .arg(drill()),
        "
q
",
    );
    let id = printed_run_id(&stdout(&out)).expect("run id");
    let as_bob = |extra: &[&str]| {
        runsheet(&db)
            .args(["resume", "--plain", "--operator", "Bob", &id])
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = as_bob(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("run {id} was last driven by Alice ("))
            && err.contains("--take-over --reason"),
        "{err}"
    );
    let out = as_bob(&["--take-over"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--reason is required: {}",
        stderr(&out)
    );
    let out = as_bob(&["--take-over", "--reason", "  "]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(payloads(&db, "handed-over").is_empty());
    let out = as_bob(&["--take-over", "--reason", "Alice went home ill"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(10), "{text}{}", stderr(&out));
    assert!(
        text.contains("✔ recorded: handed over from Alice ("),
        "{text}"
    );
    let handed = payloads(&db, "handed-over");
    assert_eq!(handed.len(), 1);
    assert!(
        handed[0]["from"].as_str().unwrap().starts_with("Alice (")
            && handed[0]["reason"] == "Alice went home ill",
        "{handed:?}"
    );
    assert_eq!(
        payloads(&db, "resumed").last().unwrap()["session"]["operator_name"],
        "Bob"
    );
    // Bob drove it last now: he needs no handover, and may not claim one.
    let out = as_bob(&["--take-over", "--reason", "again"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("--take-over is for taking a run over from another operator"));
    let out = as_bob(&[]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    let shown = stdout(&runsheet(&db).args(["show", &id]).output().unwrap());
    assert!(
        shown.contains("Handed over from Alice (")
            && shown.contains("— reason: Alice went home ill"),
        "{shown}"
    );
    // Its events validate against the evidence schema.
    assert_evidence_validates(&db);
}

/// A procedure whose one command records its shell's and a background
/// child's process ids in `dir`, then waits for the child.
fn long_command_procedure(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("long.toml");
    let d = dir.display();
    std::fs::write(
        &path,
        format!(
            r#"id = "long-job"
title = "Long job"
version = "1.0"
owner = "IT Operations"
approver = "CISO"
approved = 2026-10-01
review_every_months = 12
purpose = "A command that runs until it is stopped."
cadence = "on-demand"
controls = ["A.5.37"]
default_escalation = "oncall"

[[steps]]
id = "job"
title = "Run the long job"
command = {{ run = "echo $$ > {d}/sh.pid; sleep 300 & echo $! > {d}/bg.pid; echo started; wait" }}

[[steps]]
id = "check"
title = "Check the result"

[[branches]]
id = "oncall"
title = "Call on-call"
then = "end-failed"
[[branches.steps]]
id = "call"
title = "Call on-call"
"#
        ),
    )
    .unwrap();
    path
}

/// `command-started` is durable before the command runs; a `kill -9` of
/// runsheet while it runs kills the command and what it started; resume
/// says the command was started and never recorded, and records what the
/// operator says became of it before anything else.
#[test]
fn a_command_dies_with_runsheet_and_resume_asks_what_became_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let procedure = long_command_procedure(dir.path());
    let mut live = Live::spawn(runsheet(&db).args(["run", "--plain"]).arg(&procedure));
    live.wait_for("> ", 1);
    live.send(
        "r
y
",
    );
    live.wait_for("started", 2);
    let pid = |name: &str| -> u32 {
        let path = dir.path().join(name);
        assert!(eventually(
            || std::fs::read_to_string(&path).is_ok_and(|t| t.ends_with('\n'))
        ));
        std::fs::read_to_string(&path)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (sh, bg) = (pid("sh.pid"), pid("bg.pid"));
    assert!(!ended(sh) && !ended(bg));
    let started = payloads(&db, "command-started");
    assert_eq!(started.len(), 1, "durable before the process started");
    assert_eq!(started[0]["step"], "job");
    let text = live.kill();
    assert!(
        eventually(|| ended(sh) && ended(bg)),
        "the command outlived runsheet: {text}"
    );
    let id = printed_run_id(&text).expect("run id");

    // Resume: nothing but the account, suspending or aborting first.
    let out = run_with_input(
        runsheet(&db).args(["resume", "--plain", &id]),
        "it was killed with runsheet; the job did not finish
q
",
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(10), "{text}");
    let at: String = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT at FROM events WHERE kind = 'command-started'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        text.contains(&format!(
            "of step “Run the long job” was started at {at} and its result was never recorded"
        )),
        "{text}"
    );
    let interrupted = payloads(&db, "command-interrupted");
    assert_eq!(interrupted.len(), 1, "{text}");
    assert_eq!(interrupted[0]["started_at"], at.as_str());
    assert_eq!(
        interrupted[0]["account"],
        "it was killed with runsheet; the job did not finish"
    );
    assert!(payloads(&db, "command-ran").is_empty());
    // The step goes on: its command is still to be run.
    assert!(text.contains("[ ] run command (r)"), "{text}");
    let shown = stdout(&runsheet(&db).args(["show", &id]).output().unwrap());
    assert!(
        shown.contains("its result was never recorded (its session ended); the operator says: it was killed with runsheet"),
        "{shown}"
    );
    let verify = runsheet(&db).arg("verify").output().unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
}

/// An escalation cannot be skipped through: on the shipped backup procedure,
/// a failed free-space check enters its escalation branch, whose steps are
/// not marked `skippable`. `s` is refused before any justification is asked,
/// the prompt does not offer it, and nothing is recorded as skipped.
#[test]
fn an_escalation_step_cannot_be_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let out = plain_run(&db, "backup-customer-data", "f\nthe disk is 91% full\ns\n");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(10), "{text}");
    assert!(text.contains("ESCALATION"), "{text}");
    // Whom to contact, on one line: the procedure's line breaks are not
    // shown as escapes.
    assert!(
        text.contains(
            "    Contact: Head of IT Operations (mobile in the on-call rota); deputy: Information Security Officer.\n"
        ),
        "{text}"
    );
    assert!(!text.contains("\\n"), "an escaped line break: {text}");
    assert!(
        text.contains(
            "✘ this is an escalation step and the procedure does not let it be skipped; do it, or fail it (f) (the run then ends as failed)"
        ),
        "{text}"
    );
    assert!(!text.contains("Justification for skipping"), "{text}");
    let prompt = text
        .lines()
        .rfind(|l| l.starts_with('['))
        .expect("a prompt in the branch");
    assert!(!prompt.contains(" s "), "skip is offered: {prompt}");
    let skipped: i64 = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM events WHERE kind = 'step-skipped'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(skipped, 0);
    // The failure records whom the branch says to contact, and `show` says it.
    let id = crate::common::printed_run_id(&text).expect("run id");
    let shown = crate::common::runsheet(&db)
        .args(["show", &id])
        .output()
        .unwrap();
    assert!(
        stdout(&shown).contains(
            "contact: Head of IT Operations (mobile in the on-call rota); deputy: Information Security Officer."
        ),
        "{}",
        stdout(&shown)
    );
}

/// A whole-number value refuses 2.5 through the binary and keeps asking;
/// the whole number is recorded and the run completes.
#[test]
fn an_integer_value_refuses_a_fraction() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let procedure = dir.path().join("grant.toml");
    std::fs::write(
        &procedure,
        r#"id = "grant"
title = "Grant"
version = "1"
owner = "o"
approver = "a"
approved = 2026-11-01
review_every_months = 12
purpose = "p"
cadence = "on-demand"
controls = ["A.8.2"]
[[steps]]
id = "duration"
title = "Record the duration"
value = { type = "integer", label = "Duration", unit = "hours", min = 1, max = 72 }
"#,
    )
    .unwrap();
    let out = plain_run(&db, &procedure, "\n2.5\n\n4\n");
    let text = stdout(&out);
    assert!(text.contains("✘ `2.5` is not a whole number"), "{text}");
    assert!(
        text.contains("✔ recorded: Record the duration = 4"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
}

/// Plain mode: a command's result that cannot be recorded (the log is
/// locked) is kept and recording is retried on `r`, without running the
/// command again.
#[test]
fn plain_mode_retries_recording_a_result_without_running_the_command_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let procedure = long_command_procedure(dir.path());
    let d = dir.path().display();
    // The command runs until `go` exists and counts its runs in `ran`.
    let text = std::fs::read_to_string(&procedure).unwrap().replace(
        &format!("echo $$ > {d}/sh.pid; sleep 300 & echo $! > {d}/bg.pid; echo started; wait"),
        &format!("echo once >> {d}/ran; while [ ! -e {d}/go ]; do sleep 0.02; done; echo finished"),
    );
    std::fs::write(&procedure, text).unwrap();
    let mut live = Live::spawn(
        runsheet(&db)
            .env("RUNSHEET_BUSY_TIMEOUT_MS", "300")
            .args(["run", "--plain"])
            .arg(&procedure),
    );
    live.wait_for("> ", 1);
    live.send("r\ny\n");
    let ran = dir.path().join("ran");
    assert!(eventually(|| ran.exists()));
    assert_eq!(payloads(&db, "command-started").len(), 1);
    // Another process holds the write lock when the command finishes.
    let holder = Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    std::fs::write(dir.path().join("go"), "").unwrap();
    // The whole message and the prompt, which may arrive in pieces.
    live.wait_for(
        "The command's result is kept: r = try recording it again",
        1,
    );
    live.wait_for("Result: ", 1);
    live.send("r\n");
    live.wait_for("Result: ", 2);
    holder.execute_batch("ROLLBACK").unwrap();
    live.send("r\n");
    live.wait_for("✔ recorded: command output", 1);
    live.send("q\ny\n");
    let (code, text, _) = live.finish();
    assert_eq!(code, Some(10), "{text}");
    assert_eq!(
        std::fs::read_to_string(&ran).unwrap(),
        "once\n",
        "run once: {text}"
    );
    let results = payloads(&db, "command-ran");
    assert_eq!(results.len(), 1, "{text}");
    assert_eq!(results[0]["exit_code"], 0);
    let verify = runsheet(&db).arg("verify").output().unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
}

/// A correction of a finished step's value (`c`) is recorded referring to
/// the original event, which stays; `show`, events.csv, evidence.json and
/// report.html show both; the run's path is unchanged.
#[test]
fn a_correction_is_recorded_beside_the_original_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    // The drill, with a correction of the size (step 2 of the list) typed
    // right after it was recorded, then the rest of the drill.
    let script = crate::common::DRILL_SCRIPT.replacen(
        "\n\n12\n",
        "\n\n12\nc\n2\nfourteen\nc\n9\nc\n2\n14\nthe job summary says 14 GiB; 12 was a typo\n",
        1,
    );
    let out = plain_run(&db, drill(), script);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("✔ recorded: correction of event 5 of the run (value-recorded): the right value is 14 — reason: the job summary says 14 GiB; 12 was a typo"),
        "{text}"
    );
    // A value the step's specification refuses, and a step not in the
    // list, are refused before any reason is asked; nothing is recorded.
    assert!(
        text.contains("type the number of a step in the list, 1 to 2"),
        "{text}"
    );
    assert_eq!(text.matches("Why is it corrected").count(), 1, "{text}");
    let corrected = payloads(&db, "corrected");
    assert_eq!(corrected.len(), 1);
    assert_eq!(corrected[0]["run_seq"], 5);
    assert_eq!(corrected[0]["value"], "14");
    // The original stays.
    let values = payloads(&db, "value-recorded");
    assert!(values.iter().any(|v| v["step"] == "size"), "{values:?}");
    let id = printed_run_id(&text).expect("run id");
    let shown = stdout(&runsheet(&db).args(["show", &id]).output().unwrap());
    assert!(
        shown.contains("CORRECTION of event 5 of the run (value-recorded): the right value is 14"),
        "{shown}"
    );
    let bundle = dir.path().join("bundle");
    let out = runsheet(&db)
        .arg("export")
        .arg("--out")
        .arg(&bundle)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for file in ["events.csv", "report.html", "evidence.json"] {
        let body = std::fs::read_to_string(bundle.join(file)).unwrap();
        assert!(
            file == "report.html" || body.contains("corrected"),
            "{file}"
        );
        assert!(body.contains("12 was a typo"), "{file}");
    }
    let report = std::fs::read_to_string(bundle.join("report.html")).unwrap();
    assert!(
        report.contains("CORRECTION of event 5 of the run"),
        "report.html"
    );
    // With nothing finished yet, there is nothing to correct.
    let out = plain_run(&db, drill(), "c\nq\n");
    assert!(
        stdout(&out)
            .contains("no finished step has a value, an answer or a confirmation to correct yet"),
        "{}",
        stdout(&out)
    );
    // Its events validate against the evidence schema.
    assert_evidence_validates(&db);
}
