//! Injection corpus for the full-screen runner: terminal escape sequences,
//! HTML/JS, CSV formulas, NUL, bidi overrides and very long lines in procedure
//! text, notes, values, evidence and command output. Every screen is drawn into
//! a `TestBackend` and no control character may reach the buffer.
//!
//! Uses only the runner's own state types; no store, no terminal.

use chrono::{NaiveDate, TimeZone, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{App, CommandPane, Input, update};
use super::{TuiOptions, first_frame, view};
use crate::engine::{Command, CommandResult, StartInfo};
use crate::procedure::parse::{self, Format, Source};
use crate::session::{MemorySink, Session, SteppingClock};

/// Hostile strings; each is put into every free-text field.
fn corpus() -> Vec<String> {
    vec![
        "\u{1b}]0;pwned\u{7}title".into(),
        "\u{1b}[2J\u{1b}[H\u{1b}[31mred\u{1b}[0m".into(),
        "\u{9b}31mC1 CSI\u{9d}0;osc\u{9c}".into(),
        "NUL\u{0}here\u{7f}del\rreturn\u{8}back".into(),
        "<script>alert(1)</script><img src=x onerror=alert(1)>".into(),
        "=cmd|' /C calc'!A0".into(),
        "+SUM(1,2)\t-2+3\t@IMPORT".into(),
        "bidi \u{202e}txt.exe\u{202c} override".into(),
        "x".repeat(20_000),
    ]
}

/// A TOML string literal for `s` (escapes control characters).
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn procedure(h: &str) -> String {
    format!(
        r#"id = "hostile"
title = {t}
version = "1"
owner = {t}
approver = "CISO"
approved = 2026-10-01
review_every_months = 12
purpose = {t}
cadence = "daily"
controls = ["A.5.37"]
default_escalation = "esc"
[[roles]]
id = "op"
title = {t}
description = {t}
[[steps]]
id = "note"
title = {t}
body = {t}
role = "op"
note = {t}
evidence = {t}
[[steps]]
id = "value"
title = {t}
value = {{ type = "choice", label = {t}, hint = {t}, choices = [{t}, "ok"] }}
[[steps]]
id = "cmd"
title = {t}
command = {{ run = {t} }}
[[branches]]
id = "esc"
title = {t}
contact = {t}
then = "retry"
[[branches.steps]]
id = "call"
title = {t}
"#,
        t = q(h)
    )
}

fn session(text: &str) -> Session {
    let loaded = parse::parse(Source::from_text("hostile.toml", text, Format::Toml))
        .unwrap_or_else(|d| panic!("hostile procedure must parse: {d}"));
    let info = StartInfo {
        procedure_sha256: loaded.source.sha256(),
        procedure_format: "toml".into(),
        source_path: "test.toml".into(),
        operator: crate::vocab::Operator::new("alice", None, "h"),
        runsheet_version: "0".into(),
        today: NaiveDate::from_ymd_opt(2026, 11, 1).expect("date"),
        clock: None,
        pid: None,
        control: Default::default(),
        change_notice: None,
        drill: false,
    };
    let clock = SteppingClock::starting_at(Utc.with_ymd_and_hms(2026, 11, 1, 2, 0, 0).unwrap());
    Session::begin(
        loaded.procedure,
        &info,
        "0190f3a2-7c1d-7e4b-9a55-1234567890ab",
        "alice",
        Box::new(MemorySink::default()),
        Box::new(clock),
    )
}

fn opts() -> TuiOptions {
    TuiOptions {
        color: true,
        notice: Some("notice \u{1b}[2J with escapes".into()),
        started_at: None,
    }
}

/// Every control character in the drawn buffer, with its position.
fn controls(terminal: &Terminal<TestBackend>) -> Vec<(u16, u16, String)> {
    let buf = terminal.backend().buffer();
    let area = buf.area;
    let mut found = Vec::new();
    for y in 0..area.height {
        for x in 0..area.width {
            let sym = buf[(x, y)].symbol();
            if sym.chars().any(|c| {
                let n = c as u32;
                n < 0x20 || n == 0x7f || (0x80..0xa0).contains(&n)
            }) {
                found.push((x, y, sym.escape_debug().to_string()));
            }
        }
    }
    found
}

fn draw(app: &App, session: &Session, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal
        .draw(|f| view::view(f, app, session.run()))
        .unwrap();
    terminal
}

fn key(code: KeyCode) -> Input {
    Input::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

#[test]
fn hostile_procedure_text_never_reaches_the_terminal() {
    for h in corpus() {
        let text = procedure(&h);
        let mut s = session(&text);
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
        first_frame(&mut terminal, &mut s, &opts()).unwrap();
        assert_eq!(controls(&terminal), vec![], "first frame with {h:?}");
    }
}

#[test]
fn hostile_notes_values_and_command_output_never_reach_the_terminal() {
    for h in corpus() {
        let text = procedure(&h);
        let mut s = session(&text);
        let mut app = App::with_clock(
            &mut s,
            &opts(),
            (100, 30),
            super::tests::stepping_instants(),
        );
        // Typed into the note editor (a control character typed as a key), then saved.
        update(&mut app, &mut s, key(KeyCode::Char('a')));
        for c in h.chars().take(200) {
            update(&mut app, &mut s, key(KeyCode::Char(c)));
        }
        let t = draw(&app, &s, 100, 30);
        assert_eq!(controls(&t), vec![], "note editor with {h:?}");
        update(
            &mut app,
            &mut s,
            Input::Key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL)),
        );
        // Recorded directly too: notes, evidence, a value, a failure reason.
        for cmd in [
            Command::AddNote {
                step: "note".into(),
                text: h.clone(),
            },
            Command::RecordEvidence {
                step: "note".into(),
                evidence: h.clone(),
            },
        ] {
            s.execute(cmd).unwrap();
        }
        let t = draw(&app, &s, 100, 30);
        assert_eq!(controls(&t), vec![], "notes with {h:?}");
        s.execute(Command::Confirm {
            step: "note".into(),
        })
        .unwrap();
        s.execute(Command::RecordValue {
            step: "value".into(),
            value: h.clone(),
        })
        .unwrap();
        let t = draw(&app, &s, 100, 30);
        assert_eq!(controls(&t), vec![], "value with {h:?}");
        s.execute(Command::Confirm {
            step: "value".into(),
        })
        .unwrap();
        // Command output with escapes, invalid UTF-8 and NUL, streamed then recorded.
        let mut pane = CommandPane::new("cmd".into(), h.clone(), 0);
        pane.push(b"\x1b[2J\x1b]0;x\x07 out \xff\xfe \x00 \x9b31m\r\n");
        pane.push(h.as_bytes());
        app.command = Some(pane);
        let t = draw(&app, &s, 100, 30);
        assert_eq!(controls(&t), vec![], "command output with {h:?}");
        app.command_finished(
            &mut s,
            CommandResult {
                command: h.clone(),
                exit_code: Some(3),
                duration_ms: 5,
                output: format!("\u{1b}[2J{h}"),
                output_sha256: "0".repeat(64),
                output_bytes: 10,
                truncated: false,
            },
        );
        let t = draw(&app, &s, 100, 30);
        assert_eq!(controls(&t), vec![], "command result with {h:?}");
        // Fail the step: the escalation banner shows the reason.
        s.execute(Command::Fail {
            step: "cmd".into(),
            reason: h.clone(),
        })
        .unwrap();
        app.command = None;
        for (w, hgt) in [(100, 30), (60, 20), (200, 50)] {
            let t = draw(&app, &s, w, hgt);
            assert_eq!(controls(&t), vec![], "escalation at {w}x{hgt} with {h:?}");
        }
        // The help overlay and a too-small terminal, for good measure.
        update(&mut app, &mut s, key(KeyCode::Char('?')));
        let t = draw(&app, &s, 100, 30);
        assert_eq!(controls(&t), vec![], "help with {h:?}");
        // The history shows every note, value, evidence, command and
        // failure recorded above, at both sizes and scrolled to its end.
        update(&mut app, &mut s, key(KeyCode::Esc));
        update(&mut app, &mut s, key(KeyCode::Char('h')));
        assert!(app.history.is_some());
        for (w, hgt) in [(100, 30), (80, 24)] {
            app.size = (w, hgt);
            let t = draw(&app, &s, w, hgt);
            assert_eq!(controls(&t), vec![], "history at {w}x{hgt} with {h:?}");
        }
        for _ in 0..300 {
            update(&mut app, &mut s, key(KeyCode::PageDown));
        }
        let t = draw(&app, &s, 80, 24);
        assert_eq!(controls(&t), vec![], "history's end with {h:?}");
    }
}

/// The screen's rows as text.
fn rows(terminal: &Terminal<TestBackend>) -> String {
    let buf = terminal.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A note that would set the terminal's title and clear the screen is shown
/// in the history as the visible escapes, not acted on.
#[test]
fn a_note_with_escape_sequences_is_shown_inert_in_the_history() {
    let mut s = session(&procedure("Check"));
    let mut app = App::with_clock(
        &mut s,
        &opts(),
        (100, 30),
        super::tests::stepping_instants(),
    );
    s.execute(Command::AddNote {
        step: "note".into(),
        text: "title \u{1b}]0;pwned\u{7} then \u{1b}[2J\u{1b}[H cleared\nline two \u{9b}31m".into(),
    })
    .unwrap();
    update(&mut app, &mut s, key(KeyCode::Char('h')));
    let t = draw(&app, &s, 100, 30);
    assert_eq!(controls(&t), vec![]);
    let screen = rows(&t);
    assert!(
        screen.contains("Note: title \\u{1b}]0;pwned\\u{07} then \\u{1b}[2J\\u{1b}[H cleared"),
        "{screen}"
    );
    assert!(screen.contains("line two \\u{9b}31m"), "{screen}");
}
