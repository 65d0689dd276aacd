//! The runner's UI state ([`App`]) and [`update`]: a key becomes a keymap intent,
//! an intent becomes an engine command executed through the session. Dialog, help,
//! scroll and command-pane state live here; nothing about the run itself does.
//!
//! May not depend on the store or the terminal (keys arrive as `ratatui::crossterm`
//! events), and holds no procedure rules: what an intent leads to (a command,
//! a dialog, a question) is the operator flow's (`session::flow`), and whether
//! it is allowed the engine's; its refusal is what the operator sees.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui_textarea::{TextArea, WrapMode};

use super::TuiExit;
use super::view;
use crate::engine::{Command, CommandResult, Run};
use crate::keys::{self, Does, Intent, Key, Mode};
use crate::procedure::StepKind;
use crate::runner::{Poll, RunningCommand};
use crate::session::Session;
use crate::session::flow::{self, Ask, CommandToRun, Next, Question, Reply, TextRequest};

/// Smallest usable terminal.
pub(crate) const MIN_WIDTH: u16 = 80;
pub(crate) const MIN_HEIGHT: u16 = 24;

/// Command output kept for the screen (the tail); the log keeps its own capped copy.
const DISPLAY_CAP: usize = 256 * 1024;

/// How long a step that has just appeared ignores the keys that act on it
/// ([`acts_on_step`]), so that a double press, or a key still down from the
/// step before, cannot act on a step the operator has not seen. 400 ms is
/// longer than the gap inside a double press (about 100–250 ms; desktops
/// take presses up to 400–500 ms apart as a double click) and shorter than
/// anyone takes to read a new step's title and decide, so a deliberate key
/// is not held up. A key ignored meanwhile starts the wait again: terminals
/// send a held key's auto-repeat as plain presses (crossterm reports
/// [`KeyEventKind::Repeat`] only under the kitty keyboard protocol), so a
/// held key acts once and then not again until it has been let go.
pub(crate) const SETTLE: Duration = Duration::from_millis(400);

/// How often the runner reads the log for a sign-off another session
/// records while the current step waits for one.
pub(crate) const REFRESH: Duration = Duration::from_secs(1);

/// The monotonic clock the settle time is measured with (`Instant::now`;
/// a hand-driven one in tests).
pub(crate) type Instants = Box<dyn Fn() -> Instant>;

/// Something that happened to the runner.
#[derive(Debug)]
pub(crate) enum Input {
    Key(KeyEvent),
    /// Time passed: refresh the clock, read command output.
    Tick,
    Resize(u16, u16),
}

/// What the loop should do after an update.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// The key has no meaning here (not in the keymap); nothing happened.
    Unhandled,
    Exit(TuiExit),
}

/// The "saved" indicator: what is on screen is on disk as of this time, or it is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Saved {
    At(DateTime<Utc>),
    NotSaved,
}

/// A one-line message under the panes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub text: String,
    pub error: bool,
}

/// A single-line text input with a cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LineInput {
    pub text: String,
    /// Cursor position in characters.
    pub cursor: usize,
}

impl LineInput {
    pub fn with_text(text: &str) -> LineInput {
        LineInput {
            text: text.to_string(),
            cursor: text.chars().count(),
        }
    }

    fn byte_at(&self, char_idx: usize) -> usize {
        self.text
            .char_indices()
            .nth(char_idx)
            .map(|(i, _)| i)
            .unwrap_or(self.text.len())
    }

    /// Edit keys; returns false for keys an input does not use.
    pub fn handle(&mut self, k: KeyEvent) -> bool {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        let len = self.text.chars().count();
        match k.code {
            KeyCode::Char('u') if ctrl => {
                let at = self.byte_at(self.cursor);
                self.text.replace_range(..at, "");
                self.cursor = 0;
            }
            KeyCode::Char('a') if ctrl => self.cursor = 0,
            KeyCode::Char('e') if ctrl => self.cursor = len,
            KeyCode::Char(c) if !ctrl && !k.modifiers.contains(KeyModifiers::ALT) => {
                let at = self.byte_at(self.cursor);
                self.text.insert(at, c);
                self.cursor += 1;
            }
            KeyCode::Backspace if self.cursor > 0 => {
                let at = self.byte_at(self.cursor - 1);
                self.text.remove(at);
                self.cursor -= 1;
            }
            KeyCode::Delete if self.cursor < len => {
                let at = self.byte_at(self.cursor);
                self.text.remove(at);
            }
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(len),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = len,
            KeyCode::Backspace | KeyCode::Delete => {}
            _ => return false,
        }
        true
    }
}

/// A single-line input dialog.
#[derive(Debug)]
pub(crate) struct LineDialog {
    /// What the flow asked for (never a note: that is the note editor).
    pub request: TextRequest,
    pub input: LineInput,
    /// The engine's answer to the last submit, shown inline.
    pub error: Option<String>,
    /// A value step's choices (empty for any other input), listed under the
    /// label; the arrows move through them, Tab completes to them and an
    /// item number picks one ([`keys::choice_item`]).
    pub choices: Vec<String>,
    /// A Tab completion under way: what was typed, and the choice it is at.
    completing: Option<(String, usize)>,
}

impl LineDialog {
    pub(crate) fn new(request: TextRequest, choices: Vec<String>) -> LineDialog {
        LineDialog {
            input: LineInput::with_text(&request.initial),
            request,
            error: None,
            choices,
            completing: None,
        }
    }

    /// The choice the input names (highlighted in the list): its text,
    /// ignoring case and blanks around it as the engine does, or its item
    /// number.
    pub(crate) fn selected(&self) -> Option<usize> {
        let typed = self.input.text.trim();
        self.choices
            .iter()
            .position(|c| c.eq_ignore_ascii_case(typed))
            .or_else(|| keys::choice_item(&self.choices, typed))
    }

    /// Move the selection to the next (or previous) choice; the input takes
    /// it. From no selection, down goes to the first and up to the last.
    fn choose(&mut self, down: bool) {
        let Some(last) = self.choices.len().checked_sub(1) else {
            return;
        };
        let next = match (self.selected(), down) {
            (None, true) => 0,
            (None, false) => last,
            (Some(i), true) => (i + 1).min(last),
            (Some(i), false) => i.saturating_sub(1),
        };
        self.input = LineInput::with_text(&self.choices[next]);
        self.completing = None;
    }

    /// Complete what was typed to the first choice that starts with it
    /// (ignoring case); again, to the next one that does, round to the
    /// first. When none does, the dialog says so and the input stays.
    fn complete(&mut self) {
        if self.choices.is_empty() {
            return;
        }
        let (typed, from) = match &self.completing {
            Some((typed, at)) if self.choices.get(*at) == Some(&self.input.text) => {
                (typed.clone(), at + 1)
            }
            _ => (self.input.text.clone(), 0),
        };
        let start = typed.to_lowercase();
        let n = self.choices.len();
        let found = (0..n)
            .map(|k| (from + k) % n)
            .find(|&i| self.choices[i].to_lowercase().starts_with(&start));
        match found {
            Some(i) => {
                self.input = LineInput::with_text(&self.choices[i]);
                self.completing = Some((typed, i));
                self.error = None;
            }
            None => self.error = Some(format!("no choice starts with “{typed}”")),
        }
    }

    /// What Enter submits: the choice an item number picks, else the text
    /// as typed (the engine checks it either way).
    pub(crate) fn submitted(&self) -> String {
        keys::choice_item(&self.choices, &self.input.text)
            .map_or_else(|| self.input.text.clone(), |i| self.choices[i].clone())
    }
}

/// The choices of the value a text request asks for (none for any other request).
fn choices_of(run: &Run, request: &TextRequest) -> Vec<String> {
    match run.procedure.step(&request.step).map(|(s, _)| s.kind()) {
        Some(StepKind::Value(v)) if request.ask == Ask::Value => v.choices.clone(),
        _ => Vec::new(),
    }
}

/// A dialog over the step screen. Only one is open at a time (a suspend
/// confirmation remembers the dialog it interrupted).
#[derive(Debug)]
pub(crate) enum Dialog {
    Line(LineDialog),
    Note {
        request: TextRequest,
        editor: Box<TextArea<'static>>,
        error: Option<String>,
    },
    ConfirmRun {
        step: String,
        command: String,
    },
    ConfirmSuspend {
        back: Option<Box<Dialog>>,
    },
    /// The evidence log could not be written; `retry` is the command that was not recorded.
    NotSaved {
        message: String,
        retry: Command,
    },
}

/// A finished command's result as shown in the pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finished {
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    pub output_bytes: u64,
    pub truncated: bool,
}

/// The command pane: a running or finished command of the current step and its output.
pub(crate) struct CommandPane {
    pub step: String,
    pub command: String,
    pub expect_exit: i32,
    pub timeout_secs: Option<u64>,
    /// Sanitized output shown on screen (the tail, at most `DISPLAY_CAP`).
    pub text: String,
    /// True once the start of the output was dropped from the screen copy.
    pub dropped: bool,
    /// Bytes of an incomplete UTF-8 sequence waiting for the next chunk.
    pending: Vec<u8>,
    /// First output line shown; `None` follows the end.
    pub scroll: Option<usize>,
    pub running: Option<RunningCommand>,
    pub finished: Option<Finished>,
}

impl CommandPane {
    pub(crate) fn new(step: String, command: String, expect_exit: i32) -> CommandPane {
        CommandPane {
            step,
            command,
            expect_exit,
            timeout_secs: None,
            text: String::new(),
            dropped: false,
            pending: Vec::new(),
            scroll: None,
            running: None,
            finished: None,
        }
    }

    /// Add output bytes (any split of UTF-8 sequences across chunks is handled).
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.pending.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            // An incomplete sequence at the end waits for more bytes.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.pending.len(),
        };
        let chunk: Vec<u8> = self.pending.drain(..valid).collect();
        let text = String::from_utf8_lossy(&chunk).replace("\r\n", "\n");
        self.text.push_str(&view::clean(&text));
        if self.text.len() > DISPLAY_CAP {
            let mut cut = self.text.len() - DISPLAY_CAP * 3 / 4;
            while !self.text.is_char_boundary(cut) {
                cut += 1;
            }
            let cut = self.text[cut..]
                .find('\n')
                .map(|i| cut + i + 1)
                .unwrap_or(cut);
            self.text.replace_range(..cut, "");
            self.dropped = true;
        }
    }

    fn finish_with(&mut self, result: &CommandResult) {
        self.finished = Some(Finished {
            exit_code: result.exit_code,
            duration_ms: result.duration_ms,
            output_bytes: result.output_bytes,
            truncated: result.truncated,
        });
    }
}

/// The runner's UI state. The run itself is read from the session, never copied here.
pub(crate) struct App {
    pub color: bool,
    pub notice: Option<String>,
    pub run_id: String,
    /// The start of the run id shown in the header (unique in the log).
    pub run_label: String,
    /// Who is at the keys in this session (`Name (user)`), as events name them.
    pub operator: String,
    pub started_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub saved: Saved,
    pub message: Option<Message>,
    pub dialog: Option<Dialog>,
    /// Help overlay scroll offset when the help is shown.
    pub help: Option<usize>,
    /// History overlay scroll offset when the history is shown.
    pub history: Option<usize>,
    pub step_scroll: usize,
    /// The step the scroll offset belongs to.
    shown_step: Option<String>,
    pub command: Option<CommandPane>,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    /// What the step screen shows; when it changes, the settle time starts.
    shown: Shown,
    /// Until when keys that act on the step are ignored (see [`SETTLE`]).
    settle_until: Instant,
    /// True while the settle time runs, as of the last update (the footer dims).
    pub settling: bool,
    clock: Instants,
    /// When the log was last read for events of other sessions (see [`REFRESH`]).
    refreshed: Instant,
}

/// What the step screen shows, as far as the settle time cares: the step,
/// its attempt, and whether the document-control warnings come first.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    step: Option<String>,
    attempt: u32,
    warnings: bool,
}

impl Shown {
    fn of(run: &Run) -> Shown {
        Shown {
            step: run.current.clone(),
            attempt: run
                .current
                .as_deref()
                .map_or(0, |id| run.state(id).attempts),
            warnings: !run.pending_warnings.is_empty() || run.notice_pending,
        }
    }
}

/// Keys that act on the step or the run wait out the settle time; help,
/// suspend (it asks first), scrolling and closing never wait.
pub(crate) fn acts_on_step(intent: Intent) -> bool {
    match intent {
        Intent::Confirm
        | Intent::Yes
        | Intent::No
        | Intent::Fail
        | Intent::Skip
        | Intent::Note
        | Intent::Evidence
        | Intent::SignOff
        | Intent::RunCommand
        | Intent::Abort => true,
        // They only open a dialog or an overlay.
        Intent::Correct
        | Intent::History
        | Intent::Help
        | Intent::Suspend
        | Intent::ScrollUp
        | Intent::ScrollDown
        | Intent::PageUp
        | Intent::PageDown
        | Intent::Close => false,
    }
}

impl App {
    /// Start the runner on a session; a suspended run is resumed (recorded).
    pub(crate) fn new(session: &mut Session, opts: &super::TuiOptions, size: (u16, u16)) -> App {
        App::with_clock(session, opts, size, Box::new(Instant::now))
    }

    /// [`App::new`], measuring the settle time with `clock`.
    pub(crate) fn with_clock(
        session: &mut Session,
        opts: &super::TuiOptions,
        size: (u16, u16),
        clock: Instants,
    ) -> App {
        let now = session.now();
        let settle_until = clock() + SETTLE;
        let mut app = App {
            color: opts.color,
            notice: opts.notice.clone(),
            run_id: session.run_id().to_string(),
            run_label: session.run_label(),
            operator: session.actor().to_string(),
            started_at: opts.started_at.unwrap_or(now),
            now,
            saved: Saved::At(now),
            message: None,
            dialog: None,
            help: None,
            history: None,
            step_scroll: 0,
            shown_step: session.run().current.clone(),
            command: None,
            size,
            shown: Shown::of(session.run()),
            settle_until,
            refreshed: clock(),
            settling: true,
            clock,
        };
        let reply = flow::open(session);
        let taken_up = !reply.recorded.is_empty();
        app.follow_or_show(session, reply);
        // After a resume the history is what the operator most needs: say
        // which key shows it.
        if taken_up
            && app.message.is_none()
            && app.dialog.is_none()
            && view::has_history(session.run())
        {
            app.info(format!(
                "run taken up again; {} shows what is recorded for the steps so far",
                keys::binding(Intent::History).map_or("?", |b| b.label)
            ));
        }
        if app.dialog.is_none()
            && let Some(step) = session.run().current.clone()
            && session.draft(&step).is_some()
        {
            app.info(
                "a draft note on this step was kept from before; adding a note (a) continues it",
            );
        }
        app
    }

    /// The keymap mode the screen is in; `None` on the step screen.
    pub(crate) fn mode(&self, run: &Run) -> Option<Mode> {
        if run.is_ended() {
            return Some(Mode::Ended);
        }
        if let Some(d) = &self.dialog {
            return Some(match d {
                Dialog::Line(_) => Mode::LineInput,
                Dialog::Note { .. } => Mode::NoteEditor,
                Dialog::ConfirmRun { .. } | Dialog::ConfirmSuspend { .. } => Mode::Question,
                Dialog::NotSaved { .. } => Mode::NotRecorded,
            });
        }
        if self.help.is_some() {
            return Some(Mode::Help);
        }
        if self.history.is_some() {
            return Some(Mode::History);
        }
        if self.command.as_ref().is_some_and(|p| p.running.is_some()) {
            return Some(Mode::CommandRunning);
        }
        None
    }

    pub(crate) fn too_small(&self) -> bool {
        self.size.0 < MIN_WIDTH || self.size.1 < MIN_HEIGHT
    }

    fn error(&mut self, text: impl Into<String>) {
        self.message = Some(Message {
            text: text.into(),
            error: true,
        });
    }

    fn info(&mut self, text: impl Into<String>) {
        self.message = Some(Message {
            text: text.into(),
            error: false,
        });
    }

    /// Take a reply of the operator flow: show what was recorded as saved,
    /// then open what it asks for. A refusal is handed back (a dialog keeps
    /// its input for correcting); the refusal of a command the flow goes on
    /// with (`Next::Then`) shows on the message line, since what was typed
    /// is recorded.
    fn follow(&mut self, session: &mut Session, reply: Reply) -> Followed {
        if !reply.recorded.is_empty() {
            let t = session.now();
            self.saved = Saved::At(t);
            self.now = self.now.max(t);
            self.after_change(session.run());
        }
        match reply.next {
            Next::Done => {}
            Next::Refused(r) => return Followed::Refused(keys::refusal_words(&r)),
            Next::Then(command) => {
                let reply = flow::execute(session, command);
                return match self.follow(session, reply) {
                    Followed::Refused(m) => {
                        self.error(m);
                        Followed::Done
                    }
                    other => other,
                };
            }
            Next::NotRecorded { message, retry } => {
                self.saved = Saved::NotSaved;
                self.dialog = Some(Dialog::NotSaved { message, retry });
            }
            Next::Text(request) if request.ask == Ask::Note => {
                let kept = !request.initial.is_empty();
                self.dialog = Some(Dialog::Note {
                    editor: Box::new(note_editor(&request.initial)),
                    request,
                    error: None,
                });
                if kept {
                    self.info(
                        "your draft of this note was kept; it is not recorded until you save it",
                    );
                }
            }
            Next::Text(request) => {
                let choices = choices_of(session.run(), &request);
                self.dialog = Some(Dialog::Line(LineDialog::new(request, choices)));
            }
            Next::Question(Question::RunCommand { step, command }) => {
                self.dialog = Some(Dialog::ConfirmRun { step, command });
            }
            Next::Question(Question::Suspend) => {
                self.dialog = Some(Dialog::ConfirmSuspend { back: None });
            }
            Next::Start(command) => self.start_command(command),
            Next::Suspended => return Followed::Exit,
        }
        Followed::Done
    }

    /// [`App::follow`], showing any refusal on the message line.
    /// Every [`REFRESH`] while the current step waits for its sign-off,
    /// read what other sessions recorded for the run: the second person
    /// signing from their own login.
    fn poll_arrivals(&mut self, session: &mut Session) {
        let now = (self.clock)();
        if session.run().awaiting_sign_off().is_none() || now < self.refreshed + REFRESH {
            return;
        }
        self.refreshed = now;
        if let Err(e) = session.refresh() {
            self.error(format!(
                "cannot read the evidence log for a sign-off from another session: {e}"
            ));
        }
        self.show_arrived(session);
    }

    /// Say what other sessions recorded (read by a refresh, or before an
    /// action of this one was decided again on top of it); a sign-off
    /// dialog for a step now signed off closes.
    fn show_arrived(&mut self, session: &mut Session) {
        let arrived = session.take_arrived();
        if arrived.is_empty() {
            return;
        }
        let words: Vec<String> = arrived
            .iter()
            .map(|(m, e)| flow::arrival_words(session, m, e))
            .collect();
        self.info(words.join(" "));
        let signed = session.run().awaiting_sign_off().is_none();
        if signed && matches!(&self.dialog, Some(Dialog::Line(d)) if d.request.ask == Ask::SignOff)
        {
            self.dialog = None;
        }
        self.saved = Saved::At(session.last_event_at().unwrap_or(self.now));
        self.after_change(session.run());
    }

    fn follow_or_show(&mut self, session: &mut Session, reply: Reply) -> Flow {
        let followed = self.follow(session, reply);
        self.show_arrived(session);
        match followed {
            Followed::Done => Flow::Continue,
            Followed::Refused(m) => {
                self.error(m);
                Flow::Continue
            }
            Followed::Exit => Flow::Exit(TuiExit::Suspended),
        }
    }

    /// The run changed: a new current step starts at the top, a finished
    /// command pane of another step is closed, and a new step (or attempt,
    /// or the first step after the warnings) starts the settle time.
    fn after_change(&mut self, run: &Run) {
        let shown = Shown::of(run);
        if shown != self.shown {
            self.shown = shown;
            self.settle_until = (self.clock)() + SETTLE;
            self.settling = true;
        }
        if run.current != self.shown_step {
            self.shown_step = run.current.clone();
            self.step_scroll = 0;
            if self
                .command
                .as_ref()
                .is_some_and(|p| p.running.is_none() && Some(&p.step) != run.current.as_ref())
            {
                self.command = None;
            }
        }
    }

    /// Stop everything and leave the run resumable: record a running command as
    /// stopped, then suspend. Used for SIGTERM/SIGHUP and terminal failures.
    pub(crate) fn terminate(&mut self, session: &mut Session) -> TuiExit {
        if let Some(pane) = self.command.as_mut()
            && let Some(mut rc) = pane.running.take()
        {
            rc.stop();
            let result = rc.finish();
            let step = pane.step.clone();
            let _ = flow::command_finished(session, step, result);
        }
        if let Some(outcome) = session.run().outcome {
            return TuiExit::Ended(outcome);
        }
        // A refusal or a failed write leaves the run open and resumable.
        let _ = flow::suspend(session);
        TuiExit::Suspended
    }

    /// Step mode: one keymap intent.
    fn intent(&mut self, session: &mut Session, intent: Intent) -> Flow {
        match intent {
            Intent::Help => self.help = Some(0),
            Intent::History => self.history = Some(0),
            Intent::ScrollUp | Intent::ScrollDown | Intent::PageUp | Intent::PageDown => {
                self.scroll(session.run(), intent);
            }
            Intent::Close => {
                if self.command.is_some() {
                    self.command = None;
                } else {
                    self.message = None;
                }
            }
            _ => {
                if let Some(action) = keys::action_of(session.run(), intent) {
                    let reply = flow::begin(session, action);
                    return self.follow_or_show(session, reply);
                }
            }
        }
        Flow::Continue
    }

    /// Scroll the command output when its pane is open, else the step pane.
    fn scroll(&mut self, run: &Run, intent: Intent) {
        let (rows, view_rows) = match &self.command {
            Some(_) => view::output_metrics(self, run),
            None => view::step_metrics(self, run),
        };
        let max = rows.saturating_sub(view_rows);
        let page = view_rows.saturating_sub(1).max(1);
        let current = match &self.command {
            Some(p) => p.scroll.unwrap_or(max).min(max),
            None => self.step_scroll.min(max),
        };
        let next = match intent {
            Intent::ScrollUp => current.saturating_sub(1),
            Intent::ScrollDown => (current + 1).min(max),
            Intent::PageUp => current.saturating_sub(page),
            Intent::PageDown => (current + page).min(max),
            _ => current,
        };
        match &mut self.command {
            Some(p) => p.scroll = if next >= max { None } else { Some(next) },
            None => self.step_scroll = next,
        }
    }

    fn key(&mut self, session: &mut Session, k: KeyEvent) -> Flow {
        if let Some(outcome) = session.run().outcome {
            return Flow::Exit(TuiExit::Ended(outcome));
        }
        if self.too_small() {
            // The screen cannot be read: only suspend-and-quit works.
            if to_key(k).and_then(keys::intent_for) == Some(Intent::Suspend) {
                return Flow::Exit(self.terminate(session));
            }
            return Flow::Continue;
        }
        if let Some(dialog) = self.dialog.take() {
            return self.dialog_key(session, dialog, k);
        }
        if let Some(offset) = self.help {
            let (rows, view_rows) = view::help_metrics(self);
            let max = rows.saturating_sub(view_rows);
            let page = view_rows.saturating_sub(1).max(1);
            self.help = match to_key(k).and_then(keys::intent_for) {
                Some(Intent::ScrollUp) => Some(offset.saturating_sub(1)),
                Some(Intent::ScrollDown) => Some((offset + 1).min(max)),
                Some(Intent::PageUp) => Some(offset.saturating_sub(page)),
                Some(Intent::PageDown) => Some((offset + page).min(max)),
                _ => None,
            };
            return Flow::Continue;
        }
        if let Some(offset) = self.history {
            // Like the help: the scroll keys scroll, any other key closes.
            let (rows, view_rows) = view::history_metrics(self, session.run());
            let max = rows.saturating_sub(view_rows);
            let page = view_rows.saturating_sub(1).max(1);
            let key = to_key(k);
            self.history = match key.and_then(|key| keys::does(Mode::History, key)) {
                Some(Does::Scroll) => match key.and_then(keys::intent_for) {
                    Some(Intent::ScrollUp) => Some(offset.saturating_sub(1)),
                    Some(Intent::ScrollDown) => Some((offset + 1).min(max)),
                    Some(Intent::PageUp) => Some(offset.saturating_sub(page)),
                    Some(Intent::PageDown) => Some((offset + page).min(max)),
                    _ => Some(offset),
                },
                _ => None,
            };
            return Flow::Continue;
        }
        if self.command.as_ref().is_some_and(|p| p.running.is_some()) {
            return self.running_key(session, k);
        }
        self.message = None;
        let Some(intent) = to_key(k).and_then(keys::intent_for) else {
            self.error(format!(
                "{} does nothing here; ? shows the keys",
                key_name(k)
            ));
            return Flow::Unhandled;
        };
        if acts_on_step(intent) && self.waits(k) {
            return Flow::Continue;
        }
        self.intent(session, intent)
    }

    /// A key that acts on the step is ignored when it is an auto-repeat, or
    /// while the step has just appeared (which starts the wait again); the
    /// message line says so.
    fn waits(&mut self, k: KeyEvent) -> bool {
        if k.kind == KeyEventKind::Repeat {
            self.error(format!(
                "{} is held down: a held key does not act on a step; press it again",
                key_name(k)
            ));
            return true;
        }
        let now = (self.clock)();
        if now < self.settle_until {
            self.settle_until = now + SETTLE;
            self.settling = true;
            let what = if self.shown.warnings {
                "the warnings have"
            } else {
                "this step has"
            };
            self.error(format!(
                "{} ignored: {what} just appeared; read, then press it again",
                key_name(k)
            ));
            return true;
        }
        false
    }

    fn running_key(&mut self, session: &mut Session, k: KeyEvent) -> Flow {
        let Some(key) = to_key(k) else {
            self.busy();
            return Flow::Continue;
        };
        match keys::does(Mode::CommandRunning, key) {
            Some(Does::StopCommand) => {
                if let Some(pane) = self.command.as_mut()
                    && let Some(mut rc) = pane.running.take()
                {
                    rc.stop();
                    let result = rc.finish();
                    pane.finish_with(&result);
                    let step = pane.step.clone();
                    self.info("command stopped; its output so far is recorded");
                    let reply = flow::command_finished(session, step, result);
                    return self.follow_or_show(session, reply);
                }
            }
            Some(Does::Scroll) => {
                if let Some(i) = keys::intent_for(key) {
                    self.scroll(session.run(), i);
                }
            }
            Some(Does::ShowHelp) => self.help = Some(0),
            _ => self.busy(),
        }
        Flow::Continue
    }

    /// A key that waits for the running command.
    fn busy(&mut self) {
        self.error(format!(
            "a command is running: wait for it to finish, or {} to stop it",
            keys::label(Mode::CommandRunning, Does::StopCommand)
        ));
    }

    fn dialog_key(&mut self, session: &mut Session, dialog: Dialog, k: KeyEvent) -> Flow {
        let key = to_key(k);
        let does = |mode: Mode| key.and_then(|key| keys::does(mode, key));
        match dialog {
            Dialog::ConfirmSuspend { back } => match does(Mode::Question) {
                Some(Does::Yes | Does::AskSuspend) => {
                    let reply = flow::answer(session, &Question::Suspend, true);
                    match self.follow(session, reply) {
                        Followed::Exit => return Flow::Exit(TuiExit::Suspended),
                        Followed::Refused(m) => {
                            self.error(m);
                            self.dialog = back.map(|b| *b);
                        }
                        Followed::Done => {}
                    }
                }
                Some(Does::No) => self.dialog = back.map(|b| *b),
                _ => self.dialog = Some(Dialog::ConfirmSuspend { back }),
            },
            Dialog::ConfirmRun { step, command } => match does(Mode::Question) {
                Some(Does::Yes) => {
                    let question = Question::RunCommand { step, command };
                    let reply = flow::answer(session, &question, true);
                    return self.follow_or_show(session, reply);
                }
                Some(Does::No) => {}
                Some(Does::AskSuspend) => {
                    self.dialog = Some(Dialog::ConfirmSuspend {
                        back: Some(Box::new(Dialog::ConfirmRun { step, command })),
                    })
                }
                _ => self.dialog = Some(Dialog::ConfirmRun { step, command }),
            },
            Dialog::NotSaved { message, retry } => match does(Mode::NotRecorded) {
                Some(Does::Retry) => {
                    let reply = flow::retry(session, retry);
                    let recorded = !reply.failed();
                    let flow = self.follow_or_show(session, reply);
                    if recorded && flow == Flow::Continue {
                        self.info("recorded");
                    }
                    return flow;
                }
                Some(Does::SuspendAndQuit) => {
                    // Nothing unrecorded is shown as done; the run stays open either way.
                    return Flow::Exit(self.terminate(session));
                }
                _ => self.dialog = Some(Dialog::NotSaved { message, retry }),
            },
            Dialog::Note {
                request,
                mut editor,
                error,
            } => match does(Mode::NoteEditor) {
                Some(Does::Save) => {
                    let text = editor.lines().join("\n");
                    let reply = flow::submit(session, &request, text);
                    match self.follow(session, reply) {
                        Followed::Refused(m) => {
                            self.dialog = Some(Dialog::Note {
                                request,
                                editor,
                                error: Some(m),
                            });
                        }
                        Followed::Exit => return Flow::Exit(TuiExit::Suspended),
                        Followed::Done => {}
                    }
                }
                Some(Does::Cancel) => {
                    if session.draft(&request.step).is_some() {
                        self.info("nothing recorded; your draft is kept: adding a note to this step starts with it");
                    }
                }
                Some(Does::AskSuspend) => {
                    self.dialog = Some(Dialog::ConfirmSuspend {
                        back: Some(Box::new(Dialog::Note {
                            request,
                            editor,
                            error,
                        })),
                    })
                }
                _ => {
                    editor.input(k);
                    // Kept on every change, so a crash keeps it too.
                    let error = match session.save_draft(&request.step, &editor.lines().join("\n"))
                    {
                        Ok(()) => error,
                        Err(e) => Some(e),
                    };
                    self.dialog = Some(Dialog::Note {
                        request,
                        editor,
                        error,
                    });
                }
            },
            Dialog::Line(mut d) => match does(Mode::LineInput) {
                Some(Does::Submit) => {
                    let reply = flow::submit(session, &d.request, d.submitted());
                    match self.follow(session, reply) {
                        Followed::Refused(m) => {
                            d.error = Some(m);
                            self.dialog = Some(Dialog::Line(d));
                        }
                        Followed::Exit => return Flow::Exit(TuiExit::Suspended),
                        Followed::Done => {}
                    }
                }
                Some(Does::Cancel) => {}
                Some(Does::AskSuspend) => {
                    self.dialog = Some(Dialog::ConfirmSuspend {
                        back: Some(Box::new(Dialog::Line(d))),
                    })
                }
                Some(Does::Choose) => {
                    d.choose(key == Some(Key::Down));
                    self.dialog = Some(Dialog::Line(d));
                }
                Some(Does::Complete) => {
                    d.complete();
                    self.dialog = Some(Dialog::Line(d));
                }
                _ => {
                    if d.input.handle(k) {
                        d.completing = None;
                    }
                    self.dialog = Some(Dialog::Line(d));
                }
            },
        }
        Flow::Continue
    }

    fn start_command(&mut self, command: CommandToRun) {
        match RunningCommand::spawn(&command.command) {
            Ok(rc) => {
                let mut pane = CommandPane::new(command.step, command.command, command.expect_exit);
                pane.timeout_secs = command.timeout_secs;
                pane.running = Some(rc);
                self.command = Some(pane);
            }
            Err(e) => self.error(format!(
                "could not start the command (nothing was recorded): {e}"
            )),
        }
    }

    /// Read output of a running command; record the result when it ends.
    fn poll_command(&mut self, session: &mut Session) {
        let Some(pane) = self.command.as_mut() else {
            return;
        };
        let Some(rc) = pane.running.as_mut() else {
            return;
        };
        match rc.poll() {
            Poll::Running(chunk) => pane.push(&chunk),
            Poll::Finished(chunk) => {
                pane.push(&chunk);
                let Some(rc) = pane.running.take() else {
                    return;
                };
                let result = rc.finish();
                self.command_finished(session, result);
            }
        }
    }

    /// A command of the current step finished: record it as evidence and show the result.
    pub(crate) fn command_finished(&mut self, session: &mut Session, result: CommandResult) {
        let Some(pane) = self.command.as_mut() else {
            return;
        };
        pane.finish_with(&result);
        let step = pane.step.clone();
        let reply = flow::command_finished(session, step, result);
        self.follow_or_show(session, reply);
    }
}

/// What became of a flow reply in the TUI.
enum Followed {
    Done,
    /// Refused with nothing recorded: the words, for the dialog to keep.
    Refused(String),
    /// The run is suspended: leave the runner.
    Exit,
}

/// Advance the UI by one input.
pub(crate) fn update(app: &mut App, session: &mut Session, input: Input) -> Flow {
    let flow = match input {
        Input::Tick => {
            app.now = app.now.max(session.now());
            app.poll_command(session);
            app.poll_arrivals(session);
            Flow::Continue
        }
        Input::Resize(w, h) => {
            app.size = (w, h);
            Flow::Continue
        }
        Input::Key(k) => app.key(session, k),
    };
    app.settling = (app.clock)() < app.settle_until;
    flow
}

/// The note editor, holding `text` (a kept draft, or nothing).
fn note_editor(text: &str) -> TextArea<'static> {
    let mut editor = if text.is_empty() {
        TextArea::default()
    } else {
        let mut e = TextArea::new(text.lines().map(str::to_string).collect());
        e.move_cursor(ratatui_textarea::CursorMove::Bottom);
        e.move_cursor(ratatui_textarea::CursorMove::End);
        e
    };
    editor.set_wrap_mode(WrapMode::WordOrGlyph);
    editor.set_cursor_line_style(ratatui::style::Style::default());
    editor
}

/// The keymap's key for a terminal key event.
pub(crate) fn to_key(k: KeyEvent) -> Option<Key> {
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    let alt = k.modifiers.contains(KeyModifiers::ALT);
    Some(match k.code {
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Tab => Key::Tab,
        KeyCode::Char('c') if ctrl => Key::CtrlC,
        KeyCode::Char('s') if ctrl => Key::CtrlS,
        KeyCode::Char(c) if !ctrl && !alt => Key::Char(c),
        _ => return None,
    })
}

/// How a key is named in messages.
fn key_name(k: KeyEvent) -> String {
    let base = match k.code {
        KeyCode::Char(c) => c.to_string(),
        KeyCode::F(n) => format!("F{n}"),
        other => format!("{other:?}"),
    };
    let mut name = String::new();
    if k.modifiers.contains(KeyModifiers::CONTROL) {
        name.push_str("Ctrl-");
    }
    if k.modifiers.contains(KeyModifiers::ALT) {
        name.push_str("Alt-");
    }
    name.push_str(&crate::text::sanitize_line(&base));
    name
}
