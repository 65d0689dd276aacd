//! Runner tests: whole screens rendered into a `TestBackend` (insta snapshots at
//! 100x30, and 80x24 where the smallest screen matters), driven through `update`
//! with a session over a `MemorySink` and a `SteppingClock`, and the settle
//! time on a hand-driven monotonic clock; the keymap contract; failed writes;
//! real commands.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers,
};
use ratatui::text::Span;

use super::app::{App, CommandPane, Dialog, Flow, Input, Instants, SETTLE, update};
use super::{EventSource, TuiExit, TuiOptions, run_loop, view};
use crate::engine::{self, CommandResult, Event, Outcome, StartInfo, StepStatus};
use crate::keys::{self, Key};
use crate::procedure::Procedure;
use crate::session::{MemorySink, Session, SteppingClock};

const PROC: &str = r#"
id = "nightly-backup"
title = "Nightly backup check"
version = "1.2"
owner = "IT operations"
approver = "CISO"
approved = 2026-01-15
review_every_months = 12
purpose = "Make sure last night's backup exists and can be read."
cadence = "daily"
controls = ["A.8.13"]
default_escalation = "backup-failed"

[[roles]]
id = "admin"
title = "IT administrator on duty"
description = "Use your personal admin account, never a shared one."
[[roles]]
id = "lead"
title = "Team lead"

[[steps]]
id = "check-job"
title = "Check the backup job finished"
role = "admin"
body = """
Open the backup console and find last night's job.
Check its state is Succeeded and note the end time."""
note = "What was the job's end time?"

[[steps]]
id = "size"
title = "Record the backup size"
role = "admin"
critical = true
value = { type = "number", label = "Backup size", unit = "GiB", min = 1, max = 5000, hint = "Shown in the job details" }

[[steps]]
id = "offsite"
title = "Offsite copy"
decision = { question = "Did the offsite copy finish?", yes = "verify", no = "fail" }

[[steps]]
id = "verify"
title = "Verify the archive"
command = { run = "printf 'checking\\n'; exit 3" }
signoff = "lead"
typed_signoff = true

[[branches]]
id = "backup-failed"
title = "Backup failed"
contact = "On-call storage engineer, +1 555 0100"
then = "retry"
[[branches.steps]]
id = "open-ticket"
title = "Open an incident ticket"
evidence = "Incident ticket id"
[[branches.steps]]
id = "call-oncall"
title = "Call the on-call engineer"
"#;

const RUN_ID: &str = "0190f3a2-7c1d-7e4b-9a55-1234567890ab";

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 2, 0, 0).unwrap()
}

struct Fixture {
    app: App,
    session: Session,
    sink: MemorySink,
    /// The monotonic clock the app measures the settle time with.
    instant: Rc<Cell<Instant>>,
}

/// A monotonic clock that is one second later at every reading (for tests
/// that are not about the settle time).
pub(super) fn stepping_instants() -> Instants {
    let t = Cell::new(Instant::now());
    Box::new(move || {
        t.set(t.get() + Duration::from_secs(1));
        t.get()
    })
}

fn fixture_with(source: &str) -> Fixture {
    fixture_as(
        source,
        crate::vocab::Operator::new("alice", Some("Alice"), "h"),
        None,
    )
}

/// A fixture whose run was started by `starter`; `actor` is at the keys
/// (the starter when `None`).
fn fixture_as(source: &str, starter: crate::vocab::Operator, actor: Option<&str>) -> Fixture {
    fixture_of(source, starter, actor, false, None)
}

/// [`fixture_as`], a drill when `drill`, starting with `notice` (a change
/// notice) when given.
fn fixture_of(
    source: &str,
    starter: crate::vocab::Operator,
    actor: Option<&str>,
    drill: bool,
    notice: Option<crate::engine::ChangeNotice>,
) -> Fixture {
    let p: Procedure = toml::from_str(source).expect("test procedure parses");
    let actor = actor.map_or_else(|| starter.actor(), str::to_string);
    let info = StartInfo {
        procedure_sha256: "00".into(),
        procedure_format: "toml".into(),
        source_path: "test.toml".into(),
        operator: starter,
        runsheet_version: "0".into(),
        today: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        clock: None,
        pid: None,
        control: Default::default(),
        change_notice: notice,
        drill,
    };
    let sink = MemorySink::default();
    let clock = SteppingClock::starting_at(t0());
    let mut session = Session::begin(
        p,
        &info,
        RUN_ID,
        &actor,
        Box::new(sink.clone()),
        Box::new(clock),
    );
    let opts = TuiOptions {
        color: true,
        notice: None,
        started_at: Some(t0()),
    };
    let instant = Rc::new(Cell::new(Instant::now()));
    let now = Rc::clone(&instant);
    let app = App::with_clock(&mut session, &opts, (100, 30), Box::new(move || now.get()));
    Fixture {
        app,
        session,
        sink,
        instant,
    }
}

fn fixture() -> Fixture {
    fixture_with(PROC)
}

fn ev(code: KeyCode, mods: KeyModifiers) -> Input {
    Input::Key(KeyEvent::new(code, mods))
}

impl Fixture {
    /// `input` a second after the last one: past any settle time.
    fn send(&mut self, input: Input) -> Flow {
        self.send_after(Duration::from_secs(1), input)
    }
    /// `input` when `wait` has passed since the last one.
    fn send_after(&mut self, wait: Duration, input: Input) -> Flow {
        self.instant.set(self.instant.get() + wait);
        update(&mut self.app, &mut self.session, input)
    }
    fn ch(&mut self, c: char) -> Flow {
        self.send(ev(KeyCode::Char(c), KeyModifiers::NONE))
    }
    fn enter(&mut self) -> Flow {
        self.send(ev(KeyCode::Enter, KeyModifiers::NONE))
    }
    fn ctrl(&mut self, c: char) -> Flow {
        self.send(ev(KeyCode::Char(c), KeyModifiers::CONTROL))
    }
    fn typed(&mut self, s: &str) {
        for c in s.chars() {
            if c == '\n' {
                self.enter();
            } else {
                self.ch(c);
            }
        }
    }
    fn current(&self) -> Option<String> {
        self.session.run().current.clone()
    }
    fn screen(&self) -> String {
        self.screen_at(100, 30)
    }
    fn screen_at(&self, w: u16, h: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        terminal
            .draw(|f| view::view(f, &self.app, self.session.run()))
            .unwrap();
        let buf = terminal.backend().buffer();
        (0..h)
            .map(|y| {
                let row: String = (0..w).map(|x| buf[(x, y)].symbol()).collect();
                row.trim_end().to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
    /// Note + confirm the first step.
    fn past_first(&mut self) {
        self.ch('a');
        self.typed("Job ended 01:42");
        self.ctrl('s');
        self.enter();
        assert_eq!(self.current().as_deref(), Some("size"));
    }
    fn past_size(&mut self) {
        self.enter();
        self.typed("120\n");
        assert_eq!(self.current().as_deref(), Some("offsite"));
    }
}

#[test]
fn snapshot_normal_step_with_engine_refusal() {
    let mut f = fixture();
    // Enter without the required note: the engine's refusal is shown, nothing recorded.
    f.enter();
    assert_eq!(f.current().as_deref(), Some("check-job"));
    let s = f.screen();
    assert!(s.contains("this step needs a note (a)"), "{s}");
    insta::assert_snapshot!("normal_step", s);
}

#[test]
fn snapshot_decision_step() {
    let mut f = fixture();
    f.past_first();
    f.past_size();
    let s = f.screen();
    assert!(s.contains("Did the offsite copy finish?"));
    insta::assert_snapshot!("decision", s);
    f.ch('y');
    assert_eq!(f.current().as_deref(), Some("verify"));
}

#[test]
fn snapshot_value_input_with_validation_error_keeps_the_input() {
    let mut f = fixture();
    f.past_first();
    f.enter();
    f.typed("9000\n");
    // Refused by the engine: dialog still open, input kept, message inline.
    assert!(matches!(f.app.dialog, Some(Dialog::Line(ref d)) if d.input.text == "9000"));
    assert_eq!(f.session.run().state("size").value, None);
    let s = f.screen();
    assert!(s.contains("9000 is above the maximum 5000"), "{s}");
    insta::assert_snapshot!("value_input_error", s);
    // Fix it: the value is recorded, then the step confirmed.
    for _ in 0..4 {
        f.send(ev(KeyCode::Backspace, KeyModifiers::NONE));
    }
    f.typed("120\n");
    assert!(f.app.dialog.is_none());
    assert_eq!(f.session.run().state("size").value.as_deref(), Some("120"));
    assert_eq!(f.session.run().status("size"), StepStatus::Done);
}

#[test]
fn snapshot_drill_banner_and_a_command_not_run() {
    let alice = crate::vocab::Operator::new("alice", Some("Alice"), "h");
    let mut f = fixture_of(PROC, alice, None, true, None);
    let s = f.screen();
    assert!(s.lines().next().is_some_and(|l| l.contains("DRILL")), "{s}");
    insta::assert_snapshot!("drill_banner", s);
    to_verify(&mut f);
    // The command is not safe to rehearse: it is not offered to run; the
    // operator says what they would have done.
    f.ch('r');
    let s = f.screen();
    assert!(s.contains("DRILL: command not run"), "{s}");
    assert!(!s.contains("Run this command? y/n"), "{s}");
    insta::assert_snapshot!("drill_command_not_run", s);
    f.typed("run the check and read its exit code\n");
    assert_eq!(
        f.session.run().state("verify").rehearsal.as_deref(),
        Some("run the check and read its exit code")
    );
    assert!(f.session.run().state("verify").commands.is_empty());
}

fn to_verify(f: &mut Fixture) {
    f.past_first();
    f.past_size();
    f.ch('y');
    assert_eq!(f.current().as_deref(), Some("verify"));
}

#[test]
fn snapshot_command_step_with_output_and_unexpected_exit() {
    let mut f = fixture();
    to_verify(&mut f);
    f.ch('r');
    let s = f.screen();
    assert!(s.contains("Run this command? y/n"), "{s}");
    assert!(s.contains("$ printf 'checking\\n'; exit 3"), "{s}");
    insta::assert_snapshot!("command_confirm", s);
    f.ch('n');
    assert!(f.app.dialog.is_none());
    // The same path the tick takes when the child ends, with a fixed duration.
    let command = "printf 'checking\\n'; exit 3".to_string();
    let mut pane = CommandPane::new("verify".into(), command.clone(), 0);
    pane.push(b"checking\nlayer 1 ok\n\x1b[31mred\x1b[0m tabs\there\n");
    f.app.command = Some(pane);
    f.app.command_finished(
        &mut f.session,
        CommandResult {
            command,
            exit_code: Some(3),
            duration_ms: 1234,
            output: "checking\n".into(),
            output_sha256: "ab".repeat(32),
            output_bytes: 9,
            truncated: false,
        },
    );
    let last = f.sink.events.borrow().last().cloned().unwrap().1;
    assert!(matches!(last, Event::CommandRan { ref result, .. } if result.exit_code == Some(3)));
    let s = f.screen();
    assert!(
        s.contains("exit 3, expected 0 — press f to fail and escalate, r to run again"),
        "{s}"
    );
    assert!(
        s.contains("\\u{1b}[31mred"),
        "escape sequences are shown harmlessly: {s}"
    );
    insta::assert_snapshot!("command_output", s);
}

#[test]
fn a_real_command_streams_and_is_recorded() {
    let mut f = fixture();
    to_verify(&mut f);
    f.ch('r');
    f.ch('y');
    assert!(f.app.command.as_ref().is_some_and(|p| p.running.is_some()));
    // Other actions wait while it runs.
    f.enter();
    assert_eq!(f.current().as_deref(), Some("verify"));
    for _ in 0..500 {
        f.send(Input::Tick);
        if f.app.command.as_ref().is_some_and(|p| p.running.is_none()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let st = f.session.run().state("verify");
    let result = st.last_command.expect("the command result is recorded");
    assert_eq!(result.exit_code, Some(3));
    assert_eq!(result.output, "checking\n");
    let s = f.screen();
    assert!(s.contains("checking"), "{s}");
    assert!(s.contains("exit 3, expected 0"), "{s}");
    // The engine refuses to confirm; f fails the step and enters the escalation branch.
    f.enter();
    assert!(f.screen().contains("run the command first"));
    f.ch('f');
    f.typed("archive unreadable\n");
    assert_eq!(f.current().as_deref(), Some("open-ticket"));
    assert!(
        f.app.command.is_none(),
        "the pane closes when the step changes"
    );
}

#[test]
fn ctrl_c_stops_a_running_command_only() {
    let mut f = fixture_with(&PROC.replace("printf 'checking\\\\n'; exit 3", "sleep 30"));
    to_verify(&mut f);
    f.ch('r');
    f.ch('y');
    assert_eq!(f.ctrl('c'), Flow::Continue);
    let st = f.session.run().state("verify");
    assert_eq!(st.last_command.map(|r| r.exit_code), Some(None));
    assert!(f.app.dialog.is_none(), "Ctrl-C did not ask to quit");
    assert!(!f.session.run().suspended);
    assert!(f.screen().contains("stopped (no exit code), expected 0"));
}

#[test]
fn snapshot_escalation_mode() {
    let mut f = fixture();
    f.past_first();
    f.past_size();
    f.ch('n');
    // "no" routes to fail: the escalation branch is entered.
    assert_eq!(f.current().as_deref(), Some("open-ticket"));
    assert_eq!(f.session.run().status("offsite"), StepStatus::Escalated);
    let s = f.screen();
    assert!(s.contains("ESCALATION"), "{s}");
    assert!(s.contains("Backup failed"));
    assert!(s.contains("On-call storage engineer"));
    assert!(s.contains("retry the failed step"));
    insta::assert_snapshot!("escalation", s);
}

#[test]
fn snapshot_note_editor() {
    let mut f = fixture();
    f.ch('a');
    f.typed("Job ended 01:42\nstate Succeeded");
    let s = f.screen();
    assert!(
        s.contains("Ctrl-S save · Esc close (the draft is kept)"),
        "{s}"
    );
    insta::assert_snapshot!("note_editor", s);
    f.ctrl('s');
    assert!(f.app.dialog.is_none());
    assert_eq!(
        f.session.run().state("check-job").notes,
        vec!["Job ended 01:42\nstate Succeeded".to_string()]
    );
}

#[test]
fn snapshot_help_lists_every_binding() {
    let mut f = fixture();
    f.ch('?');
    let s = f.screen();
    for b in keys::BINDINGS {
        assert!(s.contains(b.help), "help lacks {:?}: {s}", b.intent);
    }
    insta::assert_snapshot!("help", s);
    f.send(ev(KeyCode::Esc, KeyModifiers::NONE));
    assert!(f.app.help.is_none());
}

#[test]
fn snapshot_completion_screen_and_any_key_exits() {
    let mut f = fixture();
    f.past_first();
    f.past_size();
    f.ch('y');
    f.ch('X');
    f.typed("maintenance window closed\n");
    assert_eq!(f.session.run().outcome, Some(Outcome::Aborted));
    let s = f.screen();
    assert!(s.contains("runsheet verify"));
    assert!(s.contains(&format!("runsheet show {RUN_ID}")));
    assert!(s.contains("runsheet export --out DIR"));
    insta::assert_snapshot!("completion", s);
    assert_eq!(f.ch('z'), Flow::Exit(TuiExit::Ended(Outcome::Aborted)));
}

#[test]
fn snapshot_too_small() {
    let mut f = fixture();
    f.send(Input::Resize(60, 20));
    let s = f.screen_at(60, 20);
    assert!(
        s.contains("Terminal too small: 60x20, need at least 80x24 — resize"),
        "{s}"
    );
    insta::assert_snapshot!("too_small", s);
    // Keys do nothing blind, except suspend-and-quit.
    f.enter();
    f.ch('a');
    assert!(f.app.dialog.is_none());
    f.send(Input::Resize(100, 30));
    assert!(f.screen().contains("Check the backup job finished"));
}

#[test]
fn snapshot_warnings_screen() {
    let source = PROC
        .replace("approver = \"CISO\"\n", "")
        .replace("approved = 2026-01-15\n", "approved = 2024-01-15\n");
    let mut f = fixture_with(&source);
    assert!(!f.session.run().pending_warnings.is_empty());
    let s = f.screen();
    assert!(s.contains("DOCUMENT-CONTROL WARNINGS"), "{s}");
    insta::assert_snapshot!("warnings", s);
    // A step key is refused by the engine until the warnings are acknowledged.
    f.ch('a');
    assert!(
        f.screen()
            .contains("acknowledge the procedure's document-control warnings")
    );
    f.enter();
    assert!(f.session.run().pending_warnings.is_empty());
    assert_eq!(f.current().as_deref(), Some("check-job"));
    assert!(
        f.sink
            .events
            .borrow()
            .iter()
            .any(|(_, e)| matches!(e, Event::WarningsAcknowledged { .. }))
    );
}

#[test]
fn snapshot_change_notice_screen() {
    let notice = crate::engine::ChangeNotice {
        since_run: "01a2351c-0000-7000-8000-000000000000".into(),
        since_started: "2026-10-31 02:00 UTC".into(),
        since_drill: false,
        from_version: "1.1".into(),
        from_sha256: "ab".repeat(32),
        summary: "2 steps changed, 1 added".into(),
        changes: vec![
            "added: step `verify-copy` (Verify the copy) after `check-job`".into(),
            "changed: step `check-job` — text".into(),
            "changed: step `restore` — command".into(),
        ],
    };
    let mut f = fixture_of(
        PROC,
        crate::vocab::Operator::new("alice", Some("Alice"), "h"),
        None,
        false,
        Some(notice),
    );
    assert!(f.session.run().notice_pending);
    let s = f.screen();
    assert!(s.contains("CHANGED SINCE YOU LAST RAN IT"), "{s}");
    assert!(s.contains("v1.1 → v"), "{s}");
    insta::assert_snapshot!("change_notice", s);
    // A step key is refused until the notice is read.
    f.ch('a');
    assert!(f.screen().contains("read what changed"), "{}", f.screen());
    f.enter();
    assert!(!f.session.run().notice_pending);
    assert_eq!(f.current().as_deref(), Some("check-job"));
    assert!(
        f.sink
            .events
            .borrow()
            .iter()
            .any(|(_, e)| matches!(e, Event::ChangeNoticeSeen { .. }))
    );
}

#[test]
fn snapshot_failed_write_blocks_and_changes_nothing() {
    let mut f = fixture();
    f.ch('a');
    f.typed("Job ended 01:42");
    *f.sink.fail_with.borrow_mut() = Some("disk I/O error".into());
    let before = f.session.run().clone();
    f.ctrl('s');
    assert_eq!(f.session.run(), &before);
    assert!(f.sink.events.borrow().is_empty());
    let s = f.screen();
    assert!(
        s.contains("NOT RECORDED — the evidence log could not be written: disk I/O error."),
        "{s}"
    );
    assert!(s.contains("✘ NOT SAVED"));
    assert!(
        !s.contains("Note 1:"),
        "an unsaved note is not shown as recorded"
    );
    insta::assert_snapshot!("not_recorded", s);
    // Blocking: step keys do not get through.
    f.enter();
    assert_eq!(f.session.run(), &before);
    // Retry once the disk is back.
    *f.sink.fail_with.borrow_mut() = None;
    f.ch('r');
    assert!(f.app.dialog.is_none());
    assert_eq!(f.session.run().state("check-job").notes.len(), 1);
    assert!(f.screen().contains("✔ saved"));
}

#[test]
fn sign_off_by_the_operator_is_refused_inline() {
    let mut f = fixture();
    to_verify(&mut f);
    f.ch('o');
    f.typed("alice\n");
    assert!(
        matches!(f.app.dialog, Some(Dialog::Line(ref d)) if d.error.as_deref().is_some_and(|e| e.contains("the operator cannot sign off their own step")))
    );
    assert!(f.screen().contains("✘ sign-off needs a second person"));
    for _ in 0..5 {
        f.send(ev(KeyCode::Backspace, KeyModifiers::NONE));
    }
    f.typed("Bob Lead\n");
    assert!(f.app.dialog.is_none());
    assert_eq!(
        f.session.run().state("verify").signed_off_by.as_deref(),
        Some("Bob Lead")
    );
}

#[test]
fn a_critical_step_cannot_be_skipped_and_the_engine_says_so() {
    let mut f = fixture();
    f.past_first();
    f.ch('s');
    assert!(f.app.dialog.is_none());
    assert!(
        f.screen()
            .contains("this step is critical and cannot be skipped")
    );
}

#[test]
fn keymap_every_bound_key_is_handled_and_every_handled_key_is_bound() {
    use ratatui::crossterm::event::KeyCode as C;
    // Each binding's key, fed to the step screen, is handled.
    for b in keys::BINDINGS {
        for k in b.keys {
            let mut f = fixture();
            let event = match k {
                Key::Enter => KeyEvent::new(C::Enter, KeyModifiers::NONE),
                Key::Esc => KeyEvent::new(C::Esc, KeyModifiers::NONE),
                Key::Up => KeyEvent::new(C::Up, KeyModifiers::NONE),
                Key::Down => KeyEvent::new(C::Down, KeyModifiers::NONE),
                Key::PageUp => KeyEvent::new(C::PageUp, KeyModifiers::NONE),
                Key::PageDown => KeyEvent::new(C::PageDown, KeyModifiers::NONE),
                Key::CtrlC => KeyEvent::new(C::Char('c'), KeyModifiers::CONTROL),
                Key::CtrlS => KeyEvent::new(C::Char('s'), KeyModifiers::CONTROL),
                Key::Tab => KeyEvent::new(C::Tab, KeyModifiers::NONE),
                Key::Char(c) => KeyEvent::new(C::Char(*c), KeyModifiers::NONE),
            };
            assert_eq!(
                f.send(Input::Key(event)),
                Flow::Continue,
                "{k:?} ({:?}) is not handled",
                b.intent
            );
        }
    }
    // Every key the step screen handles is in the table.
    let mut candidates: Vec<KeyEvent> = (' '..='~')
        .map(|c| KeyEvent::new(C::Char(c), KeyModifiers::NONE))
        .collect();
    candidates.extend(('a'..='z').map(|c| KeyEvent::new(C::Char(c), KeyModifiers::CONTROL)));
    for code in [
        C::Enter,
        C::Esc,
        C::Up,
        C::Down,
        C::Left,
        C::Right,
        C::PageUp,
        C::PageDown,
        C::Home,
        C::End,
        C::Tab,
        C::Backspace,
        C::Delete,
        C::Insert,
        C::F(1),
    ] {
        candidates.push(KeyEvent::new(code, KeyModifiers::NONE));
    }
    let mut handled = 0;
    for k in candidates {
        let mut f = fixture();
        if f.send(Input::Key(k)) != Flow::Unhandled {
            handled += 1;
            let key = super::app::to_key(k);
            assert!(
                key.is_some_and(|key| keys::intent_for(key).is_some()),
                "{k:?} is handled but not in keys::BINDINGS"
            );
        }
    }
    let bound: usize = keys::BINDINGS.iter().map(|b| b.keys.len()).sum();
    assert_eq!(handled, bound);
}

#[test]
fn a_suspended_run_is_resumed_when_the_runner_starts() {
    let mut f = fixture();
    f.session.execute(engine::Command::Suspend).unwrap();
    let opts = TuiOptions::default();
    let _app = App::new(&mut f.session, &opts, (100, 30));
    assert!(!f.session.run().suspended);
    assert!(matches!(
        f.sink.events.borrow().last(),
        Some((_, Event::Resumed { .. }))
    ));
}

/// Scripted terminal events for the whole loop.
struct Script(Vec<TermEvent>);

impl EventSource for Script {
    fn next(&mut self, _timeout: Duration) -> std::io::Result<Option<TermEvent>> {
        if self.0.is_empty() {
            return Err(std::io::Error::other("script ended"));
        }
        Ok(Some(self.0.remove(0)))
    }
}

#[test]
fn the_loop_suspends_on_q_y() {
    let mut f = fixture();
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    let mut script = Script(vec![
        TermEvent::Resize(90, 28),
        TermEvent::Key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE)),
        TermEvent::Key(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE)),
    ]);
    let stop = AtomicBool::new(false);
    let exit = run_loop(
        &mut terminal,
        &mut f.session,
        &TuiOptions::default(),
        &mut script,
        &stop,
    )
    .unwrap();
    assert_eq!(exit, TuiExit::Suspended);
    assert!(f.session.run().suspended);
}

#[test]
fn a_stop_signal_suspends_the_run() {
    let mut f = fixture();
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    let stop = AtomicBool::new(true);
    let exit = run_loop(
        &mut terminal,
        &mut f.session,
        &TuiOptions::default(),
        &mut Script(Vec::new()),
        &stop,
    )
    .unwrap();
    assert_eq!(exit, TuiExit::Suspended);
    assert!(matches!(
        f.sink.events.borrow().last(),
        Some((_, Event::Suspended))
    ));
}

#[test]
fn a_terminal_failure_suspends_and_reports() {
    let mut f = fixture();
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    let stop = AtomicBool::new(false);
    let err = run_loop(
        &mut terminal,
        &mut f.session,
        &TuiOptions::default(),
        &mut Script(Vec::new()),
        &stop,
    )
    .unwrap_err();
    assert!(err.to_string().contains("runsheet resume"), "{err}");
    assert!(f.session.run().suspended);
}

#[test]
fn procedure_text_is_sanitized_on_screen() {
    let source = PROC.replace(
        "title = \"Check the backup job finished\"",
        "title = \"Check \\u001b]0;pwned\\u0007 the job\"",
    );
    let f = fixture_with(&source);
    let s = f.screen();
    assert!(s.contains("Check \\u{1b}]0;pwned\\u{07} the job"), "{s}");
    assert!(!s.contains('\u{1b}'));
}

#[test]
fn command_output_is_decoded_across_chunks_and_capped_for_the_screen() {
    let mut pane = CommandPane::new("s".into(), "c".into(), 0);
    let e_acute = "é".as_bytes();
    pane.push(&[b'a', e_acute[0]]);
    pane.push(&[e_acute[1], b'\n']);
    assert_eq!(pane.text, "aé\n");
    let line = vec![b'x'; 1023];
    for _ in 0..400 {
        pane.push(&line);
        pane.push(b"\n");
    }
    assert!(pane.dropped);
    assert!(pane.text.len() <= 256 * 1024);
    assert!(pane.text.starts_with('x'), "cut at a line start");
}

/// A failure reason of 200 characters, as an operator may type it.
const LONG_REASON: &str = "the backup console shows the job as Succeeded, but it ended at 04:12, two hours after the window closed, and its log lists 3 files under /srv/customer/exports that it could not read: permission denied";

/// A contact written over several lines in the procedure.
const LONG_CONTACT: &str =
    "On-call storage engineer: +1 555 0100 (24/7), or page #storage-oncall in chat.
If nobody answers within 15 minutes, call the Head of IT Operations on
+1 555 0199, then the service desk duty manager on extension 4242.";

/// The fixture's procedure with [`LONG_CONTACT`], its first step failed with `reason`.
fn failed_with(reason: &str) -> Fixture {
    let source = PROC.replace(
        "contact = \"On-call storage engineer, +1 555 0100\"",
        &format!("contact = \"\"\"\n{LONG_CONTACT}\"\"\""),
    );
    let mut f = fixture_with(&source);
    f.ch('f');
    f.typed(reason);
    f.enter();
    assert_eq!(f.current().as_deref(), Some("open-ticket"));
    assert_eq!(f.session.run().escalation.as_ref().unwrap().reason, reason);
    f
}

/// The escalation banner's text, its rows joined and blanks collapsed.
fn banner_text(screen: &str) -> String {
    let rows: Vec<&str> = screen
        .lines()
        .skip_while(|l| !l.contains("⚠ ESCALATION"))
        .skip(1)
        .take_while(|l| !l.starts_with('└'))
        .map(|l| l.trim_start_matches('│').trim_end_matches('│'))
        .collect();
    collapse(&rows.join(" "))
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whom to contact and what happens next are on screen in full, and so is
/// the step the operator is on (its title and what it needs).
fn assert_escalation_complete(f: &mut Fixture, w: u16, h: u16) -> String {
    f.send(Input::Resize(w, h));
    let s = f.screen_at(w, h);
    let banner = banner_text(&s);
    let contact = collapse(&crate::text::one_line(LONG_CONTACT));
    assert!(banner.contains("Follow: Backup failed"), "{w}x{h}:\n{s}");
    assert!(
        banner.contains(&format!("Contact: {contact}")),
        "{w}x{h}: the whole contact:\n{s}"
    );
    assert!(
        banner.contains("Then: retry the failed step"),
        "{w}x{h}:\n{s}"
    );
    assert!(s.contains("Open an incident ticket"), "{w}x{h}:\n{s}");
    assert!(
        s.contains("[ ] evidence: Incident ticket id"),
        "{w}x{h}:\n{s}"
    );
    s
}

#[test]
fn snapshot_escalation_with_a_long_reason_and_contact_at_80x24() {
    let mut f = failed_with(LONG_REASON);
    assert_eq!(LONG_REASON.chars().count(), 200);
    let s = assert_escalation_complete(&mut f, 80, 24);
    // There is room for the whole reason too.
    assert!(banner_text(&s).contains(&format!("— {LONG_REASON}")), "{s}");
    insta::assert_snapshot!("escalation_long_80x24", s);
}

#[test]
fn snapshot_escalation_with_a_long_reason_and_contact_at_100x30() {
    let mut f = failed_with(LONG_REASON);
    let s = assert_escalation_complete(&mut f, 100, 30);
    assert!(banner_text(&s).contains(&format!("— {LONG_REASON}")), "{s}");
    insta::assert_snapshot!("escalation_long_100x30", s);
}

#[test]
fn a_reason_too_long_for_the_banner_is_cut_and_the_contact_still_shows() {
    let reason = [LONG_REASON; 6].join("; ");
    let mut f = failed_with(&reason);
    for (w, h) in [(80, 24), (100, 30)] {
        let s = assert_escalation_complete(&mut f, w, h);
        let banner = banner_text(&s);
        let shown = banner
            .split_once("— ")
            .and_then(|(_, r)| r.split_once(" Follow: "))
            .map(|(r, _)| r.to_string())
            .unwrap_or_else(|| panic!("{w}x{h}: no reason in the banner:\n{s}"));
        assert!(shown.ends_with('…'), "{w}x{h}: {shown:?}\n{s}");
        assert!(
            collapse(&reason).starts_with(shown.trim_end_matches('…').trim_end()),
            "{w}x{h}: {shown:?}"
        );
        // The step pane keeps its rows: its bottom border is below the banner
        // by at least six rows of step text.
        let rows: Vec<&str> = s.lines().collect();
        let banner_end = rows.iter().position(|l| l.starts_with('└')).unwrap();
        let body_end = rows.iter().rposition(|l| l.starts_with('└')).unwrap();
        assert!(body_end - banner_end >= 8, "{w}x{h}:\n{s}");
        if w == 80 {
            insta::assert_snapshot!("escalation_cut_80x24", s);
        }
    }
}

/// The header's second row at `w` columns.
fn run_row(f: &Fixture, w: u16) -> String {
    f.screen_at(w, 30)
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_header_names_the_operator_at_the_keys() {
    let f = fixture();
    for w in [80, 100] {
        let row = run_row(&f, w);
        assert!(
            row.starts_with("run 0190f3a2 · operator Alice (alice) · elapsed 00:00:"),
            "{row}"
        );
    }
}

#[test]
fn the_header_names_who_started_the_run_when_someone_else_is_at_the_keys() {
    let alice = crate::vocab::Operator::new("alice", Some("Alice Admin"), "h");
    let f = fixture_as(PROC, alice, Some("Bob Builder (bob)"));
    let row = run_row(&f, 100);
    assert!(
        row.starts_with(
            "run 0190f3a2 · operator Bob Builder (bob) · started by Alice Admin (alice) · elapsed 00:00:"
        ),
        "{row}"
    );
    // At 80 columns the starter is named by their user name.
    let row = run_row(&f, 80);
    assert!(
        row.starts_with(
            "run 0190f3a2 · operator Bob Builder (bob) · started by alice · elapsed 00:00:"
        ),
        "{row}"
    );
    insta::assert_snapshot!("other_operator_80x24", f.screen_at(80, 24));
}

#[test]
fn a_long_operator_name_is_cut_and_the_elapsed_time_stays() {
    let long = "Maximiliane Alexandra von Hohenzollern-Sigmaringen (mvonhohenzollern)";
    let alice = crate::vocab::Operator::new("alice", Some("Alice Admin"), "h");
    let f = fixture_as(PROC, alice, Some(long));
    let row = run_row(&f, 80);
    assert!(
        row.starts_with("run 0190f3a2 · operator Maximiliane"),
        "{row}"
    );
    assert!(row.contains("… · elapsed 00:00:"), "{row}");
    assert!(!row.contains("started by"), "{row}");
    assert_eq!(Span::raw(row.as_str()).width(), 80, "{row}");
    let row = run_row(&f, 100);
    assert!(row.contains("… · elapsed 00:00:"), "{row}");
    assert_eq!(Span::raw(row.as_str()).width(), 100, "{row}");
    // Where there is room, the whole name.
    let row = run_row(&f, 120);
    assert!(row.contains(&format!("operator {long} · elapsed")), "{row}");
}

#[test]
fn a_long_title_gives_way_to_the_saved_mark() {
    let saved = |row: &str| {
        row.split_once("✔ saved")
            .map(|(before, _)| before.to_string())
    };
    // The id goes first.
    let source = PROC.replace(
        "title = \"Nightly backup check\"",
        "title = \"Nightly backup of customer data, checked\"",
    );
    let row = fixture_with(&source)
        .screen_at(80, 24)
        .lines()
        .next()
        .unwrap()
        .to_string();
    let before = saved(&row).unwrap_or_else(|| panic!("{row}"));
    assert_eq!(
        before.trim_end(),
        "Nightly backup of customer data, checked v1.2",
        "{row}"
    );
    assert!(before.ends_with(' '), "{row}");
    // Then the title is cut.
    let source = PROC.replace(
        "title = \"Nightly backup check\"",
        "title = \"Nightly backup of customer data and of its off-site copy, checked\"",
    );
    let row = fixture_with(&source)
        .screen_at(80, 24)
        .lines()
        .next()
        .unwrap()
        .to_string();
    let before = saved(&row).unwrap_or_else(|| panic!("{row}"));
    assert!(
        before.starts_with("Nightly backup of customer data"),
        "{row}"
    );
    assert!(before.trim_end().ends_with("… v1.2"), "{row}");
    assert!(before.ends_with(' '), "{row}");
}

/// The fixture's header and branch with three plain confirm steps.
fn confirm_steps() -> String {
    let (head, _) = PROC.split_once("[[steps]]").unwrap();
    let (_, branches) = PROC.split_once("[[branches]]").unwrap();
    let steps: String = ["one", "two", "three"]
        .iter()
        .map(|id| format!("[[steps]]\nid = \"{id}\"\ntitle = \"Step {id}\"\n\n"))
        .collect();
    format!("{head}{steps}[[branches]]{branches}")
}

/// The steps confirmed so far, in order.
fn confirmed(f: &Fixture) -> Vec<String> {
    f.sink
        .events
        .borrow()
        .iter()
        .filter_map(|(_, e)| match e {
            Event::StepConfirmed { step } => Some(step.clone()),
            _ => None,
        })
        .collect()
}

fn enter_key() -> Input {
    ev(KeyCode::Enter, KeyModifiers::NONE)
}

#[test]
fn enter_right_after_a_step_appears_does_nothing() {
    // The first step appeared as the runner started.
    let mut f = fixture_with(&confirm_steps());
    f.send_after(Duration::ZERO, enter_key());
    assert_eq!(f.current().as_deref(), Some("one"));
    assert!(confirmed(&f).is_empty());
    assert!(
        f.screen()
            .contains("✘ Enter ignored: this step has just appeared; read, then press it again"),
        "{}",
        f.screen()
    );
    // A double Enter confirms the step it was meant for, not the next.
    f.send_after(Duration::from_secs(1), enter_key());
    f.send_after(Duration::from_millis(80), enter_key());
    assert_eq!(f.current().as_deref(), Some("two"));
    assert_eq!(confirmed(&f), ["one"]);
}

#[test]
fn enter_once_the_settle_time_has_passed_confirms() {
    let mut f = fixture_with(&confirm_steps());
    f.send_after(SETTLE - Duration::from_millis(1), enter_key());
    assert!(confirmed(&f).is_empty(), "still settling");
    let mut f = fixture_with(&confirm_steps());
    f.send_after(SETTLE, enter_key());
    assert_eq!(confirmed(&f), ["one"]);
    f.send_after(SETTLE, enter_key());
    assert_eq!(confirmed(&f), ["one", "two"]);
}

#[test]
fn a_repeated_enter_never_confirms() {
    let mut f = fixture_with(&confirm_steps());
    let repeat = KeyEvent::new_with_kind(KeyCode::Enter, KeyModifiers::NONE, KeyEventKind::Repeat);
    for _ in 0..3 {
        f.send_after(Duration::from_secs(10), Input::Key(repeat));
    }
    assert!(confirmed(&f).is_empty());
    assert!(f.screen().contains("Enter is held down"), "{}", f.screen());
    // Pressed again, it confirms.
    f.enter();
    assert_eq!(confirmed(&f), ["one"]);
}

#[test]
fn a_held_key_repeating_as_presses_acts_once_until_it_is_let_go() {
    // Without the kitty keyboard protocol a terminal's auto-repeat arrives as
    // plain presses, here 30 a second for two seconds.
    let mut f = fixture_with(&confirm_steps());
    f.enter();
    for _ in 0..60 {
        f.send_after(Duration::from_millis(33), enter_key());
    }
    assert_eq!(confirmed(&f), ["one"]);
    // Let go, and pressed again once the step has settled.
    f.send_after(SETTLE, enter_key());
    assert_eq!(confirmed(&f), ["one", "two"]);
}

#[test]
fn every_key_that_acts_on_a_step_waits_and_help_suspend_and_scrolling_do_not() {
    for b in keys::BINDINGS {
        let mut f = fixture_with(&confirm_steps());
        let before = f.session.run().clone();
        let key = match b.keys[0] {
            Key::Enter => KeyCode::Enter,
            Key::Esc => KeyCode::Esc,
            Key::Up => KeyCode::Up,
            Key::Down => KeyCode::Down,
            Key::PageUp => KeyCode::PageUp,
            Key::PageDown => KeyCode::PageDown,
            Key::Tab => KeyCode::Tab,
            Key::Char(c) => KeyCode::Char(c),
            Key::CtrlC | Key::CtrlS => unreachable!("a step key's first key is not a Ctrl key"),
        };
        f.send_after(Duration::ZERO, ev(key, KeyModifiers::NONE));
        let waited = f
            .app
            .message
            .as_ref()
            .is_some_and(|m| m.text.contains("has just appeared"));
        assert_eq!(
            waited,
            super::app::acts_on_step(b.intent),
            "{:?} ({})",
            b.intent,
            b.label
        );
        if waited {
            assert!(f.app.dialog.is_none(), "{:?} opened a dialog", b.intent);
            assert_eq!(f.session.run(), &before, "{:?} changed the run", b.intent);
        }
    }
    // Help and suspend at once, for example.
    let mut f = fixture_with(&confirm_steps());
    f.send_after(Duration::ZERO, ev(KeyCode::Char('?'), KeyModifiers::NONE));
    assert!(f.app.help.is_some());
    f.send_after(Duration::ZERO, ev(KeyCode::Esc, KeyModifiers::NONE));
    f.send_after(Duration::ZERO, ev(KeyCode::Char('q'), KeyModifiers::NONE));
    assert!(matches!(f.app.dialog, Some(Dialog::ConfirmSuspend { .. })));
}

#[test]
fn the_first_step_after_the_warnings_settles_too() {
    let source = confirm_steps().replace("approver = \"CISO\"\n", "");
    let mut f = fixture_with(&source);
    assert!(!f.session.run().pending_warnings.is_empty());
    f.send_after(Duration::ZERO, enter_key());
    assert!(
        !f.session.run().pending_warnings.is_empty(),
        "the warnings settle"
    );
    assert!(
        f.screen()
            .contains("Enter ignored: the warnings have just appeared")
    );
    f.send_after(SETTLE, enter_key());
    assert!(f.session.run().pending_warnings.is_empty());
    // A double press on the warnings does not confirm the first step.
    f.send_after(Duration::from_millis(80), enter_key());
    assert!(confirmed(&f).is_empty());
    f.send_after(SETTLE, enter_key());
    assert_eq!(confirmed(&f), ["one"]);
}

#[test]
fn a_retried_step_settles_again() {
    // "no" on the decision enters the branch; its last step done, the
    // decision is back (attempt 2) and waits before it takes y or n.
    let mut f = fixture();
    f.past_first();
    f.past_size();
    f.ch('n');
    f.ch('e');
    f.typed("INC-1\n");
    f.enter();
    assert_eq!(f.current().as_deref(), Some("call-oncall"));
    f.enter();
    assert_eq!(f.current().as_deref(), Some("offsite"));
    assert_eq!(f.session.run().state("offsite").attempts, 2);
    f.send_after(
        Duration::from_millis(100),
        ev(KeyCode::Char('y'), KeyModifiers::NONE),
    );
    assert_eq!(f.current().as_deref(), Some("offsite"));
    f.send_after(SETTLE, ev(KeyCode::Char('y'), KeyModifiers::NONE));
    assert_eq!(f.current().as_deref(), Some("verify"));
}

#[test]
fn the_footer_dims_the_keys_that_wait() {
    let mut f = fixture_with(&confirm_steps());
    let enter_cell = |f: &Fixture| {
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
        terminal
            .draw(|fr| view::view(fr, &f.app, f.session.run()))
            .unwrap();
        let buf = terminal.backend().buffer();
        let y = (0..30)
            .rev()
            .find(|&y| buf[(0, y)].symbol() == "E")
            .expect("the footer starts with Enter");
        (buf[(0, y)].modifier, buf[(0, y)].fg)
    };
    assert!(f.app.settling);
    let (modifier, _) = enter_cell(&f);
    assert!(!modifier.contains(ratatui::style::Modifier::REVERSED));
    f.send_after(SETTLE, Input::Tick);
    assert!(!f.app.settling);
    let (modifier, _) = enter_cell(&f);
    assert!(modifier.contains(ratatui::style::Modifier::REVERSED));
}

/// The fixture run with something of every kind recorded: a note, a value,
/// a "no" that failed the decision into the escalation branch (evidence
/// there), the decision retried, a command run that exited 3, a sign-off.
fn with_history() -> Fixture {
    let mut f = fixture();
    f.past_first();
    f.past_size();
    f.ch('n');
    f.ch('e');
    f.typed("INC-1\n");
    f.enter();
    f.enter();
    assert_eq!(f.current().as_deref(), Some("offsite"));
    f.ch('y');
    assert_eq!(f.current().as_deref(), Some("verify"));
    let command = "printf 'checking\\n'; exit 3".to_string();
    f.app.command = Some(CommandPane::new("verify".into(), command.clone(), 0));
    f.app.command_finished(
        &mut f.session,
        CommandResult {
            command,
            exit_code: Some(3),
            duration_ms: 1234,
            output: "checking\nlayer 1 ok\nlayer 2 ok\nlayer 3 unreadable\nsummary: 1 error\n"
                .into(),
            output_sha256: "ab".repeat(32),
            output_bytes: 62,
            truncated: false,
        },
    );
    f.send(ev(KeyCode::Esc, KeyModifiers::NONE));
    f.ch('a');
    f.typed("exit 3: layer 3 unreadable\nasked Bob to look at the archive");
    f.ctrl('s');
    f.ch('o');
    f.typed("Bob Lead\n");
    assert_eq!(
        f.session.run().state("verify").signed_off_by.as_deref(),
        Some("Bob Lead")
    );
    f
}

#[test]
fn snapshot_history_after_a_value_a_note_a_command_and_a_retry_at_100x30() {
    let mut f = with_history();
    f.ch('h');
    assert!(f.app.history.is_some());
    let s = f.screen();
    for shown in [
        "History: what is recorded so far (h or Esc closes)",
        "[x] 1. Check the backup job finished — done",
        "Note: Job ended 01:42",
        "[x] 2. Record the backup size — done",
        "Value: 120 GiB",
        "[x] 3. Offsite copy — done · 2 attempts",
        "Answer: yes — Did the offsite copy finish?",
        "⚠ Escalation: Backup failed",
        "↳ [x] 1. Open an incident ticket — done",
        "Evidence: INC-1",
        "[>] 4. Verify the archive — current",
        "Command run: $ printf 'checking\\n'; exit 3 — exit 3, expected 0 in 1.2 s, 62",
        "│ checking",
        "│ layer 2 ok",
        "│ … 2 more lines (runsheet show has it all)",
        "Note: exit 3: layer 3 unreadable",
        "      asked Bob to look at the archive",
        "Signed off by: Bob Lead",
    ] {
        assert!(s.contains(shown), "no {shown:?}:\n{s}");
    }
    assert!(
        !s.contains("│ layer 3 unreadable"),
        "three lines only:\n{s}"
    );
    // The failure that sent the run into the branch.
    assert!(s.contains("Failed: "), "{s}");
    insta::assert_snapshot!("history_100x30", s);
    // Nothing was recorded by looking.
    let events = f.sink.events.borrow().len();
    f.send(ev(KeyCode::Esc, KeyModifiers::NONE));
    assert!(f.app.history.is_none());
    assert_eq!(f.sink.events.borrow().len(), events);
}

#[test]
fn snapshot_history_at_80x24_scrolls_to_its_end() {
    let mut f = with_history();
    f.send(Input::Resize(80, 24));
    f.ch('h');
    let s = f.screen_at(80, 24);
    assert!(s.contains("↓ more: j / PgDn"), "{s}");
    insta::assert_snapshot!("history_80x24", s);
    // j and PgDn scroll to the end, and no further.
    for _ in 0..3 {
        f.send(ev(KeyCode::PageDown, KeyModifiers::NONE));
    }
    let end = f.screen_at(80, 24);
    assert!(end.contains("Signed off by: Bob Lead"), "{end}");
    assert!(end.contains("↑ k / PgUp"), "{end}");
    let at = f.app.history;
    f.ch('j');
    assert_eq!(f.app.history, at, "the end is the end");
    f.ch('k');
    assert_eq!(f.app.history, at.map(|o| o - 1));
    // q closes the history; it does not ask to suspend.
    f.ch('q');
    assert!(f.app.history.is_none());
    assert!(f.app.dialog.is_none());
}

#[test]
fn the_history_opens_at_once_and_any_other_key_closes_it() {
    let mut f = with_history();
    // h does not wait out the settle time: it acts on nothing.
    f.send_after(Duration::ZERO, ev(KeyCode::Char('h'), KeyModifiers::NONE));
    assert!(f.app.history.is_some());
    assert_eq!(f.app.mode(f.session.run()), Some(keys::Mode::History));
    let s = f.screen();
    assert!(s.contains("↑/k ↓/j PgUp PgDn scroll  Esc close"), "{s}");
    // Enter closes it and confirms nothing.
    let before = f.session.run().clone();
    f.enter();
    assert!(f.app.history.is_none());
    assert_eq!(f.session.run(), &before);
    f.ch('h');
    f.ch('h');
    assert!(f.app.history.is_none(), "h toggles");
}

#[test]
fn the_footer_offers_the_history_once_something_is_recorded_where_it_fits() {
    let mut f = fixture();
    f.past_first();
    assert!(
        f.screen().contains("q suspend  h history  ? help"),
        "{}",
        f.screen()
    );
    // A signed-off command step with corrections to offer fills one footer
    // row at 100 columns (its sign-off is no longer offered): the history
    // does not fit there and is left to the help; at 80 columns the keys
    // take two rows anyway, and the history goes on the second.
    let f = with_history();
    let s = f.screen();
    assert!(!s.contains("o sign-off"), "signed off already: {s}");
    assert!(!s.contains("h history"), "{s}");
    assert_eq!(s.lines().filter(|l| l.contains("? help")).count(), 1);
    let s = f.screen_at(80, 24);
    let footer = s.lines().last().unwrap_or_default();
    assert!(footer.ends_with("h history  ? help"), "{s}");
}

#[test]
fn the_history_of_a_new_run_says_so_and_the_footer_does_not_offer_it() {
    let mut f = fixture();
    assert!(!f.screen().contains("h history"), "{}", f.screen());
    f.ch('h');
    let s = f.screen();
    assert!(
        s.contains("[>] 1. Check the backup job finished — current"),
        "{s}"
    );
    f.send(ev(KeyCode::Esc, KeyModifiers::NONE));
    // Before the first step (the warnings screen) there is nothing at all.
    let mut f = fixture_with(&PROC.replace("approver = \"CISO\"\n", ""));
    assert!(!f.session.run().pending_warnings.is_empty());
    f.ch('h');
    assert!(
        f.screen().contains("Nothing is recorded for any step yet."),
        "{}",
        f.screen()
    );
}

#[test]
fn a_resumed_run_says_which_key_shows_the_history() {
    let mut f = fixture();
    f.past_first();
    f.session.execute(engine::Command::Suspend).unwrap();
    let opts = TuiOptions::default();
    let app = App::with_clock(&mut f.session, &opts, (100, 30), stepping_instants());
    let m = app.message.expect("a message");
    assert!(!m.error);
    assert_eq!(
        m.text,
        "run taken up again; h shows what is recorded for the steps so far"
    );
    // A run resumed before anything was recorded has nothing to show.
    let mut f = fixture();
    f.session.execute(engine::Command::Suspend).unwrap();
    let app = App::with_clock(&mut f.session, &opts, (100, 30), stepping_instants());
    assert!(app.message.is_none());
}

/// The fixture with a choice value after its first step.
fn choice_fixture(choices: &str) -> Fixture {
    let source = PROC.replace(
        "[[steps]]\nid = \"size\"",
        &format!(
            "[[steps]]\nid = \"kind\"\ntitle = \"Record the backup kind\"\nvalue = {{ type = \"choice\", label = \"Backup kind\", choices = {choices}, hint = \"As the job details name it\" }}\n\n[[steps]]\nid = \"size\""
        ),
    );
    let mut f = fixture_with(&source);
    f.past_first_to("kind");
    f.enter();
    assert!(matches!(f.app.dialog, Some(Dialog::Line(_))));
    f
}

const KINDS: &str = r#"["full", "incremental", "differential", "full with verify"]"#;

impl Fixture {
    /// Note + confirm the first step, onto `next`.
    fn past_first_to(&mut self, next: &str) {
        self.ch('a');
        self.typed("Job ended 01:42");
        self.ctrl('s');
        self.enter();
        assert_eq!(self.current().as_deref(), Some(next));
    }
    fn line(&self) -> &super::app::LineDialog {
        match &self.app.dialog {
            Some(Dialog::Line(d)) => d,
            other => panic!("no line dialog: {other:?}"),
        }
    }
    fn key(&mut self, code: KeyCode) -> Flow {
        self.send(ev(code, KeyModifiers::NONE))
    }
    fn kind(&self) -> Option<String> {
        self.session.run().state("kind").value
    }
}

#[test]
fn snapshot_choice_dialog_at_80x24_lists_the_choices_numbered() {
    let mut f = choice_fixture(KINDS);
    f.send(Input::Resize(80, 24));
    f.key(KeyCode::Down);
    f.key(KeyCode::Down);
    let s = f.screen_at(80, 24);
    for shown in [
        "One of these: type it or its number, or choose with the arrows",
        "  1  full",
        "▸ 2  incremental",
        "  3  differential",
        "  4  full with verify",
        "As the job details name it",
        "> incremental",
        "↑ ↓ choose · Tab complete · Enter submit · Esc cancel",
    ] {
        assert!(s.contains(shown), "no {shown:?}:\n{s}");
    }
    assert!(
        s.contains("Enter submit  Esc cancel  ↑ ↓ choose  Tab complete"),
        "{s}"
    );
    insta::assert_snapshot!("choice_dialog_80x24", s);
}

#[test]
fn the_arrows_move_through_the_choices_and_the_input_takes_them() {
    let mut f = choice_fixture(KINDS);
    assert_eq!(f.line().selected(), None);
    f.key(KeyCode::Up);
    assert_eq!(
        f.line().input.text,
        "full with verify",
        "up from none: the last"
    );
    f.key(KeyCode::Up);
    assert_eq!(f.line().input.text, "differential");
    f.key(KeyCode::Down);
    f.key(KeyCode::Down);
    assert_eq!(f.line().input.text, "full with verify", "the last stays");
    assert_eq!(f.line().selected(), Some(3));
    for _ in 0..5 {
        f.key(KeyCode::Up);
    }
    assert_eq!(f.line().input.text, "full", "the first stays");
    f.key(KeyCode::Down);
    f.enter();
    assert_eq!(f.kind().as_deref(), Some("incremental"));
    assert_eq!(f.session.run().status("kind"), StepStatus::Done);
}

#[test]
fn tab_completes_what_is_typed_and_again_goes_to_the_next_match() {
    let mut f = choice_fixture(KINDS);
    f.typed("FU");
    f.key(KeyCode::Tab);
    assert_eq!(f.line().input.text, "full");
    assert_eq!(f.line().selected(), Some(0));
    f.key(KeyCode::Tab);
    assert_eq!(f.line().input.text, "full with verify");
    f.key(KeyCode::Tab);
    assert_eq!(f.line().input.text, "full", "round to the first match");
    // Typing starts a new completion from what is typed now.
    f.key(KeyCode::Backspace);
    f.key(KeyCode::Backspace);
    f.key(KeyCode::Backspace);
    f.key(KeyCode::Backspace);
    f.typed("d");
    f.key(KeyCode::Tab);
    assert_eq!(f.line().input.text, "differential");
    f.key(KeyCode::Tab);
    assert_eq!(f.line().input.text, "differential", "the only match");
    // Nothing starts with it: said in the dialog, the input stays.
    for _ in 0.."differential".len() {
        f.key(KeyCode::Backspace);
    }
    f.typed("x");
    f.key(KeyCode::Tab);
    assert_eq!(f.line().input.text, "x");
    assert!(
        f.screen().contains("✘ no choice starts with “x”"),
        "{}",
        f.screen()
    );
    // An empty input goes through every choice.
    f.key(KeyCode::Backspace);
    let mut seen = Vec::new();
    for _ in 0..5 {
        f.key(KeyCode::Tab);
        seen.push(f.line().input.text.clone());
    }
    assert_eq!(
        seen,
        [
            "full",
            "incremental",
            "differential",
            "full with verify",
            "full"
        ]
    );
    f.enter();
    assert_eq!(f.kind().as_deref(), Some("full"));
}

#[test]
fn an_item_number_and_enter_records_the_choice_text() {
    let mut f = choice_fixture(KINDS);
    f.typed("3");
    assert_eq!(
        f.line().selected(),
        Some(2),
        "the number highlights its item"
    );
    assert!(f.screen().contains("▸ 3  differential"), "{}", f.screen());
    f.enter();
    assert_eq!(f.kind().as_deref(), Some("differential"));
    let recorded = f.sink.events.borrow().iter().any(|(_, e)| {
        matches!(e, Event::ValueRecorded { step, value } if step == "kind" && value == "differential")
    });
    assert!(recorded);
}

#[test]
fn a_number_past_the_list_is_refused_by_the_engine_and_the_text_still_works() {
    let mut f = choice_fixture(KINDS);
    f.typed("9\n");
    assert_eq!(f.kind(), None);
    assert_eq!(f.line().input.text, "9", "kept for correcting");
    assert!(f.screen().contains("`9` is not one of"), "{}", f.screen());
    f.key(KeyCode::Backspace);
    f.typed("Incremental\n");
    assert_eq!(
        f.kind().as_deref(),
        Some("incremental"),
        "the engine's spelling"
    );
}

#[test]
fn where_a_choice_is_a_number_numbers_are_text_and_the_list_is_not_numbered() {
    let mut f = choice_fixture(r#"["1", "5", "10"]"#);
    let s = f.screen();
    assert!(
        s.contains("One of these: type it, or choose with the arrows"),
        "{s}"
    );
    assert!(!s.contains("1  1"), "{s}");
    f.typed("2\n");
    assert_eq!(f.kind(), None, "2 is not the second choice");
    assert!(
        f.screen().contains("`2` is not one of: 1, 5, 10"),
        "{}",
        f.screen()
    );
    f.key(KeyCode::Backspace);
    f.typed("5");
    assert_eq!(f.line().selected(), Some(1));
    f.enter();
    assert_eq!(f.kind().as_deref(), Some("5"));
}

#[test]
fn an_input_without_choices_keeps_its_keys() {
    let mut f = fixture();
    f.past_first();
    f.enter();
    f.typed("12");
    f.key(KeyCode::Up);
    f.key(KeyCode::Tab);
    assert_eq!(f.line().input.text, "12");
    let s = f.screen();
    assert!(!s.contains("choose"), "{s}");
    assert!(!s.contains("Tab"), "{s}");
}

#[test]
fn a_long_list_of_choices_shows_the_rows_around_the_selection() {
    let many: Vec<String> = (1..=30).map(|i| format!("\"site {i:02}\"")).collect();
    let mut f = choice_fixture(&format!("[{}]", many.join(", ")));
    f.send(Input::Resize(80, 24));
    for _ in 0..15 {
        f.key(KeyCode::Down);
    }
    assert_eq!(f.line().input.text, "site 15");
    let s = f.screen_at(80, 24);
    assert!(s.contains("▸ 15  site 15"), "{s}");
    let rows: Vec<&str> = s.lines().collect();
    // The rows left out are counted: those above the first shown and
    // below the last add up with the shown ones to all 30.
    let count = |mark: &str| {
        rows.iter()
            .find_map(|l| {
                let (_, rest) = l.split_once(mark)?;
                rest.split_once(" more")?.0.parse::<usize>().ok()
            })
            .unwrap_or_else(|| panic!("no {mark:?} row:\n{s}"))
    };
    let shown = rows.iter().filter(|l| l.contains("  site ")).count();
    assert_eq!(count("↑ ") + shown + count("↓ "), 30, "{s}");
    // The header's first row and the footer stay in sight.
    assert!(rows[0].contains("Nightly backup check"), "{s}");
    assert!(rows[23].starts_with("Enter submit"), "{s}");
    // The dialog still fits, its input and keys on screen.
    assert!(s.contains("> site 15"), "{s}");
    assert!(
        s.contains("↑ ↓ choose · Tab complete · Enter submit · Esc cancel"),
        "{s}"
    );
    // The number of an item out of sight picks it too.
    f.send(ev(KeyCode::Char('u'), KeyModifiers::CONTROL));
    f.typed("30\n");
    assert_eq!(f.kind().as_deref(), Some("site 30"));
}

/// The new dialogs of "Safe runs" at 80x24 and 100x30: a correction (each of
/// its three requests), the sign-off, and the question a resume asks about
/// a command that was started and never recorded.
#[test]
fn snapshot_safe_run_dialogs() {
    let mut f = fixture();
    f.past_first();
    f.past_size();
    // The correction: the list of finished steps, the right value, the reason.
    f.ch('c');
    let list = f.screen_at(80, 24);
    assert!(list.contains("2. Record the backup size = 120"), "{list}");
    insta::assert_snapshot!("correct_which_80x24", list);
    f.typed("2\n");
    assert!(
        f.screen()
            .contains("The right value of “Record the backup size”")
    );
    f.ctrl('u');
    f.typed("125\n");
    let reason = f.screen_at(100, 30);
    insta::assert_snapshot!("correct_reason_100x30", reason);
    f.typed("typo\n");
    assert_eq!(f.session.run().state("size").value.as_deref(), Some("125"));
    // The sign-off on the command step.
    f.ch('y');
    assert_eq!(f.current().as_deref(), Some("verify"));
    f.ch('o');
    let sign = f.screen_at(100, 30);
    assert!(
        sign.contains("`runsheet sign-off 0190f3a2`")
            && sign.contains("runsheet sign-off-text 0190f3a2")
            && sign.contains("or type their name"),
        "{sign}"
    );
    insta::assert_snapshot!("sign_off_100x30", sign);
    f.send(ev(KeyCode::Esc, KeyModifiers::NONE));
    // A command started and never recorded: a new runner on the run asks
    // what became of it before anything else.
    f.session
        .execute(crate::engine::Command::StartCommand {
            step: "verify".into(),
            command: "printf 'checking\\n'; exit 3".into(),
        })
        .expect("recorded");
    let opts = TuiOptions {
        color: true,
        notice: None,
        started_at: Some(t0()),
    };
    f.app = App::with_clock(&mut f.session, &opts, (80, 24), stepping_instants());
    let asked = f.screen_at(80, 24);
    assert!(asked.contains("its result was never recorded"), "{asked}");
    insta::assert_snapshot!("command_account_80x24", asked);
}

/// A refusal longer than the screen is wide wraps onto the rows under it:
/// what to do is never cut off (at 80 columns the command step's refusal
/// took one row and lost its end).
#[test]
fn a_long_refusal_wraps_and_keeps_its_end() {
    let mut f = with_history();
    f.enter();
    let message = f.app.message.as_ref().expect("a refusal").text.clone();
    assert!(message.ends_with("the step"), "{message}");
    let s = f.screen_at(80, 24);
    let joined: String = s
        .lines()
        .filter(|l| !l.starts_with('│') && !l.starts_with('┌') && !l.starts_with('└'))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(joined.contains("✘ run the command first"), "{s}");
    assert!(joined.contains("the step"), "{s}");
}
