//! Real-terminal end-to-end test: the `runsheet` binary in a pseudo-terminal,
//! keys typed, the screen read back through a terminal emulator (vt100), and
//! the evidence log checked.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

use crate::common::{bin, drill, plain_run, printed_run_id, repo, runsheet, stdout};

/// A runsheet process on a 100x30 pseudo-terminal.
pub(crate) struct Term {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Term {
    pub(crate) fn spawn(db: &Path, args: &[&str]) -> Term {
        Term::spawn_with(db, &repo().join("procedures"), args)
    }

    /// [`Term::spawn`] with another procedures folder.
    pub(crate) fn spawn_with(db: &Path, procedures: &Path, args: &[&str]) -> Term {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows: 30,
                cols: 100,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let mut cmd = CommandBuilder::new(bin());
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        for var in ["RUNSHEET_OPERATOR", "SUDO_USER", "SUDO_UID"] {
            cmd.env_remove(var);
        }
        // As common::isolated: these runs are not about approvals.
        cmd.env("RUNSHEET_UNAPPROVED", "allow");
        cmd.arg("--db");
        cmd.arg(db);
        cmd.arg("--procedures");
        cmd.arg(procedures);
        for a in args {
            cmd.arg(a);
        }
        cmd.cwd(repo());
        let child = pty.slave.spawn_command(cmd).expect("spawn runsheet");
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().expect("pty reader");
        let writer = pty.master.take_writer().expect("pty writer");
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            std::num::NonZeroU16::new(30).unwrap(),
            std::num::NonZeroU16::new(100).unwrap(),
            0,
        )));
        let p = Arc::clone(&parser);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                p.lock().unwrap().process(&buf[..n]);
            }
        });
        Term {
            parser,
            writer,
            child,
            _master: pty.master,
        }
    }

    pub(crate) fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Wait until the screen shows `text`, then as an operator reads it
    /// ([`READ`]); fail with the screen if it never shows it.
    pub(crate) fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.screen().contains(text) {
                std::thread::sleep(READ);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("screen never showed {text:?}; it shows:\n{}", self.screen());
    }

    fn keys(&mut self, bytes: &str) {
        self.writer.write_all(bytes.as_bytes()).unwrap();
        self.writer.flush().unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }

    pub(crate) fn exit_code(mut self) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.exit_code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("runsheet did not exit; screen:\n{}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// How long the tests look at a screen before they press a key: longer than
/// the 0.4 s a step that has just appeared ignores the keys that act on it.
const READ: Duration = Duration::from_millis(600);

const ENTER: &str = "\r";
const CTRL_S: &str = "\x13";
const CTRL_U: &str = "\x15";
const DOWN: &str = "\x1b[B";

#[test]
fn operator_fails_a_step_escalates_retries_suspends_and_resumes_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let drill = drill();
    let mut t = Term::spawn(&db, &["run", drill.to_str().unwrap()]);

    t.wait_for("Prepare the workspace");
    t.keys(ENTER);
    t.wait_for("Record the backup size");
    t.keys(ENTER);
    t.keys("12");
    t.keys(ENTER);
    t.wait_for("echo service ok");
    t.keys("r");
    t.keys("y");
    t.wait_for("service ok");
    t.keys(ENTER);
    t.wait_for("Is the service healthy?");
    // A note on the decision step, through the multi-line editor.
    t.keys("a");
    t.keys("looked slow at first");
    t.keys(CTRL_S);
    t.keys("n");
    t.wait_for("ESCALATION");
    t.wait_for("Call the on-call engineer");
    t.keys(ENTER);
    t.keys("Bob");
    t.keys(ENTER);
    // Retry: back on the failed step, out of escalation mode.
    t.wait_for("Is the service healthy?");
    t.keys("q");
    t.keys("y");
    assert_eq!(t.exit_code(), 10, "suspend exits with 10");

    let runs = runsheet(&db)
        .args(["--json", "runs", "--open"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&stdout(&runs)).unwrap();
    let run_id = v["runs"][0]["id"]
        .as_str()
        .expect("an open run")
        .to_string();

    let mut t = Term::spawn(&db, &["resume", &run_id]);
    t.wait_for("Is the service healthy?");
    t.keys("y");
    t.wait_for("Wrap up");
    t.keys("a");
    t.keys("all good");
    t.keys(CTRL_S);
    t.keys(ENTER);
    t.wait_for("completed");
    t.keys(ENTER);
    assert_eq!(t.exit_code(), 0, "a completed run exits with 0");

    let show = runsheet(&db)
        .args(["--json", "show", &run_id])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&stdout(&show)).unwrap();
    let events = v["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    for k in [
        "value-recorded",
        "command-ran",
        "note-added",
        "step-failed",
        "branch-ended",
        "suspended",
        "resumed",
        "run-ended",
    ] {
        assert!(kinds.contains(&k), "no {k} event in {kinds:?}");
    }
    let failed = events.iter().find(|e| e["kind"] == "step-failed").unwrap();
    assert_eq!(failed["payload"]["branch"], "oncall");
    let note = events.iter().find(|e| e["kind"] == "note-added").unwrap();
    // The note's text is content, kept apart from the hashed payload.
    assert!(note["payload"].get("text").is_none(), "{note:#}");
    assert_eq!(
        note["content"]["content"],
        r#"{"text":"looked slow at first"}"#
    );
    assert_eq!(note["what"], "Note: looked slow at first");
    assert_eq!(v["outcome"], "completed");
    let verify = runsheet(&db).arg("verify").output().unwrap();
    assert!(verify.status.success(), "{}", stdout(&verify));
}

/// Two runs started within the same minute share their first 8 characters:
/// the header shows as much of the id as tells the run apart in this log,
/// and that label finds the run again.
#[test]
fn the_header_shows_a_run_id_no_other_run_shares() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let first = crate::common::suspended_drill_run(&db);
    let second = crate::common::suspended_drill_run(&db);
    let mut t = Term::spawn(&db, &["resume", &second]);
    t.wait_for("· operator");
    let screen = t.screen();
    let label = screen
        .lines()
        .find_map(|l| l.trim().strip_prefix("run ")?.split(' ').next())
        .expect("the header names the run")
        .to_string();
    assert!(label.len() >= 8, "{label}");
    assert!(
        second.starts_with(&label),
        "{label} is not {second}'s start"
    );
    assert!(
        !first.starts_with(&label),
        "{label} is also {first}'s start"
    );
    t.keys("q");
    t.keys("y");
    assert_eq!(t.exit_code(), 10);
    let shown = runsheet(&db).args(["show", &label]).output().unwrap();
    assert!(shown.status.success());
    assert!(stdout(&shown).contains(&second), "{}", stdout(&shown));
}

/// Enter pressed twice in quick succession (one write, as a bouncing key or
/// a double press sends it) confirms the step on screen, and not the next
/// one, which the operator has not seen yet.
#[test]
fn a_double_enter_confirms_one_step_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    // The drill with three plain confirm steps.
    let drill = std::fs::read_to_string(drill()).unwrap();
    let (head, _) = drill.split_once("[[steps]]").unwrap();
    let (_, branches) = drill.split_once("[[branches]]").unwrap();
    let steps: String = ["one", "two", "three"]
        .iter()
        .map(|id| format!("[[steps]]\nid = \"{id}\"\ntitle = \"Step {id}\"\n\n"))
        .collect();
    let procedure = dir.path().join("confirm-steps.toml");
    std::fs::write(&procedure, format!("{head}{steps}[[branches]]{branches}")).unwrap();

    let mut t = Term::spawn(&db, &["run", procedure.to_str().unwrap()]);
    t.wait_for("Step 1 of 3");
    t.keys(&ENTER.repeat(2));
    t.wait_for("Step 2 of 3");
    t.wait_for("Enter ignored: this step has just appeared");
    assert!(t.screen().contains("Step 2 of 3"), "{}", t.screen());
    t.keys("q");
    t.keys("y");
    assert_eq!(t.exit_code(), 10, "suspend exits with 10");

    let runs = runsheet(&db)
        .args(["--json", "runs", "--open"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&stdout(&runs)).unwrap();
    let run_id = v["runs"][0]["id"]
        .as_str()
        .expect("an open run")
        .to_string();
    let show = runsheet(&db)
        .args(["--json", "show", &run_id])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&stdout(&show)).unwrap();
    let confirmed: Vec<&serde_json::Value> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "step-confirmed")
        .collect();
    assert_eq!(confirmed.len(), 1, "{confirmed:#?}");
    assert_eq!(confirmed[0]["payload"]["step"], "one");
}

/// A note being written is kept as a draft beside the log on every change:
/// runsheet killed (SIGKILL) in the middle of it loses nothing typed; the
/// next session says so, adding a note starts with the draft, and saving
/// records it and removes the draft.
#[test]
fn a_note_draft_survives_a_kill_and_is_offered_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let drill = drill();
    let mut term = Term::spawn(&db, &["run", drill.to_str().unwrap()]);
    term.wait_for("Prepare the workspace");
    term.keys("a");
    term.wait_for("Add a note");
    assert!(
        term.screen().contains("close (the draft is kept)"),
        "{}",
        term.screen()
    );
    term.keys("Checked host db-01");
    term.keys(ENTER);
    term.keys("nothing odd");
    let drafts = dir.path().join("log.sqlite3.drafts");
    let draft = || {
        std::fs::read_dir(&drafts)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| std::fs::read_to_string(e.unwrap().path()).ok())
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while draft().as_deref() != Some("Checked host db-01\nnothing odd") {
        assert!(Instant::now() < deadline, "draft: {:?}", draft());
        std::thread::sleep(Duration::from_millis(20));
    }
    term.child.kill().unwrap();
    let _ = term.child.wait();
    drop(term);

    let mut term = Term::spawn(&db, &["resume"]);
    term.wait_for("a draft note on this step was kept from before");
    term.keys("a");
    term.wait_for("nothing odd");
    assert!(
        term.screen().contains("Checked host db-01"),
        "{}",
        term.screen()
    );
    term.keys(CTRL_S);
    term.wait_for("Enter confirm");
    term.keys("q");
    term.wait_for("Suspend");
    term.keys("y");
    assert_eq!(term.exit_code(), 10);
    let shown = stdout(&runsheet(&db).args(["--json", "runs"]).output().unwrap());
    let id = shown
        .split('"')
        .find(|s| s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4)
        .expect("a run id")
        .to_string();
    let show = stdout(&runsheet(&db).args(["show", &id]).output().unwrap());
    assert!(show.contains("Note: Checked host db-01"), "{show}");
    assert_eq!(draft(), None, "the recorded note's draft is removed");
}

/// The value recorded for `step` in the run, from `runsheet show --json`
/// (a value is content, kept apart from the hashed payload).
fn recorded_value(db: &Path, run_id: &str, step: &str) -> String {
    let show = runsheet(db)
        .args(["--json", "show", run_id])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&stdout(&show)).unwrap();
    let event = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "value-recorded" && e["step"] == step)
        .unwrap_or_else(|| panic!("no value recorded for {step}: {v:#}"));
    let content: serde_json::Value =
        serde_json::from_str(event["content"]["content"].as_str().unwrap()).unwrap();
    content["value"].as_str().unwrap().to_string()
}

/// The shipped incident triage up to its severity: the command run, the
/// report, yes it is an incident, a ticket; then `severity` and `h`.
const TRIAGE_TO_SEVERITY: &str = "r\ny\n\n\nMail from Bob 09:00 UTC via email\ny\n\nINC-4711\n";

#[test]
fn plain_mode_lists_a_choice_numbered_and_records_the_text_of_the_number_typed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let out = plain_run(
        &db,
        "incident-triage",
        format!("{TRIAGE_TO_SEVERITY}\n2\nh\nq\ny\n"),
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(10), "{text}");
    assert!(
        text.contains(
            "One of: 1 SEV1 · 2 SEV2 · 3 SEV3 · 4 SEV4 (type it or its number)\n  Severity: "
        ),
        "{text}"
    );
    assert!(
        text.contains("✔ recorded: Classify the severity = SEV2"),
        "{text}"
    );
    // h printed the history, the severity in it.
    let history = text
        .rsplit_once("History —")
        .map(|(_, h)| h)
        .unwrap_or_default();
    assert!(
        history.contains("  [done] 6. Classify the severity\n      Value: SEV2\n"),
        "{text}"
    );
    assert!(
        history.contains("      Command run: $ date -u && uname -n && id -un — exit 0 in "),
        "{text}"
    );
    let run_id = printed_run_id(&text).expect("run id printed");
    assert_eq!(recorded_value(&db, &run_id, "severity"), "SEV2");
}

#[test]
fn a_choice_picked_in_the_list_and_the_history_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let mut t = Term::spawn(&db, &["run", "incident-triage"]);
    t.wait_for("Record where and when triage starts");
    t.keys("r");
    t.wait_for("Run this command? y/n");
    t.keys("y");
    t.wait_for("as expected");
    t.keys(ENTER);
    t.wait_for("Step 2 of 12");
    t.keys(ENTER);
    t.keys("Mail from Bob 09:00 UTC via email");
    t.keys(ENTER);
    t.wait_for("Step 3 of 12");
    t.keys("y");
    t.wait_for("Step 5 of 12");
    t.keys(ENTER);
    t.keys("INC-4711");
    t.keys(ENTER);
    t.wait_for("Step 6 of 12");
    t.keys(ENTER);
    t.wait_for("1  SEV1");
    // The arrows move the selection and the input takes the choice.
    t.keys(DOWN);
    t.keys(DOWN);
    t.wait_for("▸ 2  SEV2");
    assert!(t.screen().contains("> SEV2"), "{}", t.screen());
    // An item number picks its item.
    t.keys(CTRL_U);
    t.keys("3");
    t.wait_for("▸ 3  SEV3");
    t.keys(ENTER);
    t.wait_for("Preserve evidence before changing anything");
    t.keys("h");
    t.wait_for("History: what is recorded so far");
    let screen = t.screen();
    for shown in [
        "Command run: $ date -u && uname -n && id -un — exit 0",
        "Value: Mail from Bob 09:00 UTC via email",
        "Answer: yes",
        "Value: INC-4711",
        "Value: SEV3",
        "[>] 7. Preserve evidence before changing anything — current",
    ] {
        assert!(screen.contains(shown), "no {shown:?}:\n{screen}");
    }
    // q closes the history; a second q asks to suspend.
    t.keys("q");
    t.wait_for("Step 7 of 12");
    assert!(!t.screen().contains("History:"), "{}", t.screen());
    t.keys("q");
    t.wait_for("Suspend and quit? y/n");
    t.keys("y");
    assert_eq!(t.exit_code(), 10, "suspend exits with 10");
    let runs = runsheet(&db)
        .args(["--json", "runs", "--open"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&stdout(&runs)).unwrap();
    let run_id = v["runs"][0]["id"]
        .as_str()
        .expect("an open run")
        .to_string();
    assert_eq!(recorded_value(&db, &run_id, "severity"), "SEV3");
}

/// The new-hire procedure waits at its team lead's sign-off in a real
/// terminal, and says how the second person signs. The operator opens the
/// sign-off dialog; bob signs off from his own login in a second session;
/// within a second the runner shows it arrive (the dialog closes, the step
/// is signed), and Enter completes the run.
#[test]
fn a_sign_off_from_a_second_session_arrives_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let id = crate::sign_off::at_sign_off(&db);
    let mut t = Term::spawn(&db, &["resume", &id]);
    t.wait_for("Waiting: the second person runs `runsheet sign-off");
    t.keys("o");
    t.wait_for("from their own login");
    let bob = crate::sign_off::sign_off_as(&db, "bob", 1001, &[&id]);
    assert_eq!(
        bob.status.code(),
        Some(0),
        "{}",
        crate::common::stderr(&bob)
    );
    t.wait_for("Signed off by bob at ");
    let screen = t.screen();
    assert!(
        screen.contains("[x] sign-off by a second person") && screen.contains("Signed off by: bob"),
        "{screen}"
    );
    assert!(!screen.contains("Waiting: the second person"), "{screen}");
    t.keys(ENTER);
    t.wait_for("completed");
    t.keys(ENTER);
    assert_eq!(t.exit_code(), 0, "a completed run exits with 0");
    let verify = runsheet(&db).arg("verify").output().unwrap();
    assert!(verify.status.success(), "{}", stdout(&verify));
}
