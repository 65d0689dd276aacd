//! The one keymap: which key does what, in each mode (the step screen, a
//! one-line input, the note editor, a question, a running command, the NOT
//! RECORDED dialog, the help, the history). The TUI's handlers, its footers
//! and help overlay, the plain mode's prompt and help, the key hints in
//! refusals and the tables of docs/keys.md (checked by a test) all read
//! these tables, so a hint cannot name a key that does something else.
//! Also the one rule both front ends follow for picking a value's choice by
//! its item number ([`choice_item`]).
//!
//! May not depend on the store, the terminal libraries or the front ends.

use crate::engine::{Action, Refusal, Run};

/// A key, independent of the terminal library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    Enter,
    Esc,
    Up,
    Down,
    PageUp,
    PageDown,
    CtrlC,
    CtrlS,
    Tab,
    Char(char),
}

impl Key {
    /// How the key is written in help, footers and docs.
    pub fn name(self) -> String {
        match self {
            Key::Enter => "Enter".into(),
            Key::Esc => "Esc".into(),
            Key::Up => "↑".into(),
            Key::Down => "↓".into(),
            Key::PageUp => "PgUp".into(),
            Key::PageDown => "PgDn".into(),
            Key::CtrlC => "Ctrl-C".into(),
            Key::CtrlS => "Ctrl-S".into(),
            Key::Tab => "Tab".into(),
            Key::Char(c) => c.to_string(),
        }
    }
}

/// What the operator wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intent {
    /// Confirm the step / done (also: go ahead past document-control warnings).
    Confirm,
    Yes,
    No,
    Fail,
    Skip,
    Note,
    Evidence,
    SignOff,
    RunCommand,
    Correct,
    Abort,
    /// Show what is recorded for the steps so far.
    History,
    Help,
    Suspend,
    ScrollUp,
    ScrollDown,
    PageUp,
    PageDown,
    Close,
}

impl Intent {
    /// Scrolling and closing: for the full-screen mode only.
    pub fn is_screen_only(self) -> bool {
        matches!(
            self,
            Intent::ScrollUp
                | Intent::ScrollDown
                | Intent::PageUp
                | Intent::PageDown
                | Intent::Close
        )
    }
}

/// One row of the keymap.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub intent: Intent,
    /// Keys that trigger it (the first is the one shown in the footer).
    pub keys: &'static [Key],
    /// Label of the keys in help and footer.
    pub label: &'static str,
    /// Short footer text.
    pub short: &'static str,
    /// Help text.
    pub help: &'static str,
    /// What docs/keys.md says it does.
    pub doc: &'static str,
}

/// The keymap.
pub const BINDINGS: &[Binding] = &[
    Binding {
        intent: Intent::Confirm,
        keys: &[Key::Enter],
        label: "Enter",
        short: "confirm",
        help: "Confirm the step is done (or enter its value); go ahead past warnings",
        doc: "Confirm the step is done. On a value step: open the value input. On the document-control warnings screen: go ahead (recorded).",
    },
    Binding {
        intent: Intent::Yes,
        keys: &[Key::Char('y')],
        label: "y",
        short: "yes",
        help: "Answer yes to the step's question",
        doc: "Answer yes to the step's question.",
    },
    Binding {
        intent: Intent::No,
        keys: &[Key::Char('n')],
        label: "n",
        short: "no",
        help: "Answer no to the step's question",
        doc: "Answer no to the step's question.",
    },
    Binding {
        intent: Intent::RunCommand,
        keys: &[Key::Char('r')],
        label: "r",
        short: "run command",
        help: "Run the step's command (shows it and asks first); output is kept as evidence",
        doc: "Run the step's command: shows the exact command and asks `Run this command? y/n` first. Output streams into the command pane; exit code, duration, output (first 1 MiB) and the SHA-256 of all output are recorded.",
    },
    Binding {
        intent: Intent::Note,
        keys: &[Key::Char('a')],
        label: "a",
        short: "note",
        help: "Add a note to the step",
        doc: "Add a note (multi-line editor).",
    },
    Binding {
        intent: Intent::Evidence,
        keys: &[Key::Char('e')],
        label: "e",
        short: "evidence",
        help: "Give the evidence the step asks for (e.g. a ticket id)",
        doc: "Give the evidence the step asks for (e.g. a change ticket id).",
    },
    Binding {
        intent: Intent::SignOff,
        keys: &[Key::Char('o')],
        label: "o",
        short: "sign-off",
        help: "Second person signs the step off (not the operator)",
        doc: "A second person signs the step off: the path of their SSH signature file (`runsheet sign-off-text`), or their typed name where the step allows it (`typed_signoff`); never the operator.",
    },
    Binding {
        intent: Intent::Fail,
        keys: &[Key::Char('f')],
        label: "f",
        short: "fail",
        help: "The step failed: give the reason, then follow the escalation branch",
        doc: "The step failed: type the reason; the run enters the step's escalation branch (or ends as failed when there is none).",
    },
    Binding {
        intent: Intent::Skip,
        keys: &[Key::Char('s')],
        label: "s",
        short: "skip",
        help: "Skip the step with a justification (not critical or escalation steps)",
        doc: "Skip the step: type a justification. Refused, before it is asked for, for critical steps and for escalation steps the procedure does not mark `skippable`.",
    },
    Binding {
        intent: Intent::Correct,
        keys: &[Key::Char('c')],
        label: "c",
        short: "correct",
        help: "Correct a finished step's value, answer or confirmation, with a reason",
        doc: "Correct a finished step's record: pick the step, give the right value or answer (a step that only was confirmed needs none), then why. The correction is recorded referring to the original event, which stays; `show` and the exports show both. The run's path is not changed.",
    },
    Binding {
        intent: Intent::Abort,
        keys: &[Key::Char('X')],
        label: "X",
        short: "abort",
        help: "Abort the whole run (asks for a reason; the run ends as aborted)",
        doc: "Abort the whole run: type a reason; the run ends as aborted.",
    },
    Binding {
        intent: Intent::History,
        keys: &[Key::Char('h')],
        label: "h",
        short: "history",
        help: "Show the history: what is recorded for each step so far",
        doc: "Show the history: what is recorded for each step so far, in procedure order (status, value, answer, evidence, every note, each command run with its exit code, duration, output size and first lines of output, sign-off, failures with their reasons, skip justification). Read from the run as it stands; nothing is recorded. Scrolls like the help; any other key closes it.",
    },
    Binding {
        intent: Intent::Help,
        keys: &[Key::Char('?')],
        label: "?",
        short: "help",
        help: "Show or hide this help",
        doc: "Show or hide the help overlay (lists every key).",
    },
    Binding {
        intent: Intent::Suspend,
        keys: &[Key::Char('q'), Key::CtrlC],
        label: "q",
        short: "suspend",
        help: "Suspend and quit (asks first); `runsheet resume` continues at this step",
        doc: "Suspend and quit: asks `Suspend and quit? y/n`. `runsheet resume` continues at the same step.",
    },
    Binding {
        intent: Intent::ScrollUp,
        keys: &[Key::Up, Key::Char('k')],
        label: "↑/k",
        short: "scroll",
        help: "Scroll up",
        doc: "Scroll the step text up (or the command output while the command pane is open).",
    },
    Binding {
        intent: Intent::ScrollDown,
        keys: &[Key::Down, Key::Char('j')],
        label: "↓/j",
        short: "scroll",
        help: "Scroll down",
        doc: "Scroll the step text down (or the command output).",
    },
    Binding {
        intent: Intent::PageUp,
        keys: &[Key::PageUp],
        label: "PgUp",
        short: "page",
        help: "Scroll up a page",
        doc: "Scroll up a page.",
    },
    Binding {
        intent: Intent::PageDown,
        keys: &[Key::PageDown],
        label: "PgDn",
        short: "page",
        help: "Scroll down a page",
        doc: "Scroll down a page.",
    },
    Binding {
        intent: Intent::Close,
        keys: &[Key::Esc],
        label: "Esc",
        short: "close",
        help: "Close a dialog or the help",
        doc: "Close the command pane (after the command ended), a dialog or the help.",
    },
];

/// Where the operator is, for the keys that are not the step screen's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// A one-line input: a value, a reason, evidence, a name.
    LineInput,
    NoteEditor,
    /// A yes/no question: run this command? suspend and quit?
    Question,
    /// A step's command is running.
    CommandRunning,
    /// The evidence log could not be written.
    NotRecorded,
    /// The help overlay.
    Help,
    /// The history overlay: what is recorded for the steps so far.
    History,
    /// The run has ended.
    Ended,
}

/// What a key does in a [`Mode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Does {
    Submit,
    Cancel,
    /// Moving the cursor (the input's own keys).
    MoveCursor,
    /// Erasing (the input's own keys).
    Erase,
    /// Move through a value's choices (the input takes the choice).
    Choose,
    /// Complete what is typed to a value's choice.
    Complete,
    NewLine,
    Save,
    /// Ask `Suspend and quit?` (or, on that question, mean yes).
    AskSuspend,
    Yes,
    No,
    Retry,
    SuspendAndQuit,
    StopCommand,
    Scroll,
    ShowHelp,
    Close,
    Exit,
}

/// One row of a mode's keymap.
#[derive(Debug, Clone, Copy)]
pub struct ModeBinding {
    pub does: Does,
    /// The keys that do it; empty for an editor's own keys, which `label`
    /// names (the editor handles them, not this table).
    pub keys: &'static [Key],
    /// The keys as the footer writes them.
    pub label: &'static str,
    /// Footer text; empty when the footer does not show it.
    pub short: &'static str,
    /// The keys as the help overlay writes them, and its text; empty when
    /// the help does not show it.
    pub help_label: &'static str,
    pub help: &'static str,
    /// What docs/keys.md says it does.
    pub doc: &'static str,
}

/// The keys of one mode.
#[derive(Debug, Clone, Copy)]
pub struct ModeKeys {
    pub mode: Mode,
    /// The help overlay's heading for the mode; empty: not in the help.
    pub help_title: &'static str,
    pub rows: &'static [ModeBinding],
}

/// Scrolling an overlay (the help, the history).
const SCROLL_ROW: ModeBinding = row(
    Does::Scroll,
    SCROLL_KEYS,
    "↑/k ↓/j PgUp PgDn",
    "scroll",
    ("", ""),
    "Scroll.",
);

const fn row(
    does: Does,
    keys: &'static [Key],
    label: &'static str,
    short: &'static str,
    help: (&'static str, &'static str),
    doc: &'static str,
) -> ModeBinding {
    ModeBinding {
        does,
        keys,
        label,
        short,
        help_label: help.0,
        help: help.1,
        doc,
    }
}

const SCROLL_KEYS: &[Key] = &[
    Key::Up,
    Key::Char('k'),
    Key::Down,
    Key::Char('j'),
    Key::PageUp,
    Key::PageDown,
];

/// The keymap of every mode but the step screen ([`BINDINGS`]).
pub const MODES: &[ModeKeys] = &[
    ModeKeys {
        mode: Mode::LineInput,
        help_title: "In a one-line input (value, reason, evidence, name)",
        rows: &[
            row(
                Does::Submit,
                &[Key::Enter],
                "Enter",
                "submit",
                (
                    "Enter",
                    "Submit; the engine's answer shows in red if it is refused",
                ),
                "Submit. If the engine refuses (e.g. `9000 is above the maximum 5000`), the reason shows in the dialog and the input is kept for correcting. A value is recorded, then the step is confirmed.",
            ),
            row(
                Does::Cancel,
                &[Key::Esc],
                "Esc",
                "cancel",
                ("Esc", "Cancel"),
                "Cancel; nothing is recorded.",
            ),
            row(
                Does::MoveCursor,
                &[],
                "← → Home End",
                "",
                ("← → Home End", "Move the cursor; Backspace / Delete erase"),
                "Move the cursor (`Ctrl-A`/`Ctrl-E` too).",
            ),
            row(
                Does::Erase,
                &[],
                "Backspace Delete",
                "",
                ("", ""),
                "Erase; `Ctrl-U` erases to the start.",
            ),
            row(
                Does::Choose,
                &[Key::Up, Key::Down],
                "↑ ↓",
                "choose",
                (
                    "↑ ↓",
                    "On a value with choices: move through them (the input takes the choice)",
                ),
                "On a value with choices (listed numbered under the label): move the selection up or down; the input takes the selected choice.",
            ),
            row(
                Does::Complete,
                &[Key::Tab],
                "Tab",
                "complete",
                (
                    "Tab",
                    "On a value with choices: complete what is typed; again: the next match",
                ),
                "On a value with choices: complete what is typed to the first choice that starts with it (ignoring case); `Tab` again goes on to the next choice that does. An empty input completes to each choice in turn.",
            ),
            row(
                Does::AskSuspend,
                &[Key::CtrlC],
                "Ctrl-C",
                "",
                ("", ""),
                "Ask `Suspend and quit? y/n`; `n` returns to the input.",
            ),
        ],
    },
    ModeKeys {
        mode: Mode::NoteEditor,
        help_title: "In the note editor",
        rows: &[
            row(
                Does::Save,
                &[Key::CtrlS],
                "Ctrl-S",
                "save",
                ("Ctrl-S", "Save the note (recorded)"),
                "Save the note (recorded).",
            ),
            row(
                Does::NewLine,
                &[],
                "Enter",
                "new line",
                ("Enter", "New line"),
                "New line. Other editing keys (arrows, `Home`/`End`, `Backspace`, `Ctrl-U` undo, `Ctrl-R` redo …) work as in the `ratatui-textarea` editor.",
            ),
            row(
                Does::Cancel,
                &[Key::Esc],
                "Esc",
                "close (draft kept)",
                ("Esc", "Close; nothing is recorded, the draft is kept"),
                "Close; nothing is recorded. What was typed is kept as a draft beside the log (written on every change, so a suspend or a crash keeps it too); the next note on this step starts with it, and it is removed once the note is recorded.",
            ),
            row(
                Does::AskSuspend,
                &[Key::CtrlC],
                "Ctrl-C",
                "",
                ("", ""),
                "Ask `Suspend and quit? y/n`; `n` returns to the note. The draft is kept either way.",
            ),
        ],
    },
    ModeKeys {
        mode: Mode::CommandRunning,
        help_title: "While a command runs",
        rows: &[
            row(
                Does::StopCommand,
                &[Key::CtrlC],
                "Ctrl-C",
                "stop the command",
                ("Ctrl-C", "Stop the command (recorded as stopped)"),
                "While the command runs: stop it (only the command, not the runner). It is recorded as stopped, with its output so far.",
            ),
            row(
                Does::Scroll,
                SCROLL_KEYS,
                "↑/k ↓/j PgUp PgDn",
                "scroll output",
                (
                    "↑ ↓ PgUp PgDn",
                    "Scroll its output; Esc closes the pane when it ended",
                ),
                "Scroll the output (it follows the end until you scroll up).",
            ),
            row(
                Does::ShowHelp,
                &[Key::Char('?')],
                "?",
                "help",
                ("", ""),
                "Help.",
            ),
        ],
    },
    ModeKeys {
        mode: Mode::Question,
        help_title: "Questions (run a command, suspend)",
        rows: &[
            row(
                Does::Yes,
                &[Key::Char('y')],
                "y",
                "yes",
                ("y / n", "Yes / no"),
                "Yes.",
            ),
            row(
                Does::No,
                &[Key::Char('n'), Key::Esc],
                "n",
                "no",
                ("", ""),
                "No.",
            ),
            row(
                Does::AskSuspend,
                &[Key::CtrlC],
                "Ctrl-C",
                "",
                ("", ""),
                "On `Suspend and quit?`: yes. On `Run this command?`: ask `Suspend and quit? y/n` (`n` returns to the question).",
            ),
        ],
    },
    ModeKeys {
        mode: Mode::NotRecorded,
        help_title: "",
        rows: &[
            row(
                Does::Retry,
                &[Key::Char('r')],
                "r",
                "retry",
                ("", ""),
                "Retry the same action.",
            ),
            row(
                Does::SuspendAndQuit,
                &[Key::Char('q'), Key::CtrlC],
                "q",
                "suspend and quit",
                ("", ""),
                "Suspend (if that can still be written) and quit; the run stays open and resumable from the last recorded action.",
            ),
        ],
    },
    ModeKeys {
        mode: Mode::Help,
        help_title: "",
        rows: &[
            SCROLL_ROW,
            row(
                Does::Close,
                &[Key::Esc],
                "Esc",
                "close",
                ("", ""),
                "Close the help (so does any other key, `?` too).",
            ),
        ],
    },
    ModeKeys {
        mode: Mode::History,
        help_title: "",
        rows: &[
            SCROLL_ROW,
            row(
                Does::Close,
                &[Key::Esc, Key::Char('q'), Key::Char('h')],
                "Esc",
                "close",
                ("", ""),
                "Close the history (so does any other key); `q` here closes it and does not suspend.",
            ),
        ],
    },
    ModeKeys {
        mode: Mode::Ended,
        help_title: "",
        rows: &[row(Does::Exit, &[], "any key", "exit", ("", ""), "Exit.")],
    },
];

/// The keys of a mode.
pub fn mode(mode: Mode) -> &'static ModeKeys {
    MODES.iter().find(|m| m.mode == mode).unwrap_or(&MODES[0])
}

/// What `key` does in `mode`, if anything.
pub fn does(mode_: Mode, key: Key) -> Option<Does> {
    mode(mode_)
        .rows
        .iter()
        .find(|r| r.keys.contains(&key))
        .map(|r| r.does)
}

/// The footer label of what `does` in `mode` (its keys), or `?` when the
/// mode has no such row.
pub fn label(mode_: Mode, does: Does) -> &'static str {
    mode(mode_)
        .rows
        .iter()
        .find(|r| r.does == does)
        .map_or("?", |r| r.label)
}

/// The footer of a mode: (keys, what), for the rows the footer shows.
pub fn footer(mode_: Mode) -> Vec<(&'static str, &'static str)> {
    mode(mode_)
        .rows
        .iter()
        .filter(|r| !r.short.is_empty())
        .map(|r| (r.label, r.short))
        .collect()
}

/// The intent bound to a key, if any.
pub fn intent_for(key: Key) -> Option<Intent> {
    BINDINGS
        .iter()
        .find(|b| b.keys.contains(&key))
        .map(|b| b.intent)
}

/// The binding of an intent.
pub fn binding(intent: Intent) -> Option<&'static Binding> {
    BINDINGS.iter().find(|b| b.intent == intent)
}

/// The keymap intent that carries out an engine action (going ahead past
/// warnings, confirming and typing a value are all the confirm key).
pub fn intent_of(action: Action) -> Option<Intent> {
    Some(match action {
        Action::GoAhead | Action::Confirm | Action::Value => Intent::Confirm,
        Action::Yes => Intent::Yes,
        Action::No => Intent::No,
        // Saying what became of a command that was never recorded is asked
        // on the command's own key.
        Action::RunCommand | Action::AccountForCommand => Intent::RunCommand,
        Action::Note => Intent::Note,
        Action::Evidence => Intent::Evidence,
        Action::SignOff => Intent::SignOff,
        Action::Fail => Intent::Fail,
        Action::Skip => Intent::Skip,
        Action::Correct => Intent::Correct,
        Action::Abort => Intent::Abort,
        Action::Suspend => Intent::Suspend,
        // Resuming is opening the run again: no key.
        Action::Resume | Action::TakeUp => return None,
    })
}

/// The engine action an intent asks for on the run as it is: the one the
/// run offers for that key (the confirm key goes ahead past warnings, types
/// a value step's value, or confirms), else the plain mapping, so that the
/// engine says why it is refused. `None` for screen intents (help, scroll).
pub fn action_of(run: &Run, intent: Intent) -> Option<Action> {
    run.offered()
        .into_iter()
        .chain(Action::ALL)
        .find(|a| intent_of(*a) == Some(intent))
}

/// The label of the key that carries out `action`, if one does.
pub fn key_for(action: Action) -> Option<&'static str> {
    intent_of(action).and_then(binding).map(|b| b.label)
}

/// The key of `action` for a hint in a message (`?` if none is bound).
pub fn hint(action: Action) -> &'static str {
    key_for(action).unwrap_or("?")
}

/// The choice a typed line picks by its item number (`1` for the first
/// choice …, blanks around it aside), as an index into `choices`, if it
/// picks one. Both front ends list a value's choices numbered and take the
/// item's number as well as the text. So that a line never means two
/// things, numbers pick items only on a value none of whose choices is
/// itself a whole number ([`numbers_pick_choices`]): there, what is typed
/// is always the text (and the engine checks it as such).
pub fn choice_item(choices: &[String], typed: &str) -> Option<usize> {
    let typed = typed.trim();
    if !whole_number(typed) || !numbers_pick_choices(choices) {
        return None;
    }
    let n: usize = typed.parse().ok()?;
    n.checked_sub(1).filter(|i| *i < choices.len())
}

/// True when item numbers pick among these choices: none of them is itself
/// a whole number (see [`choice_item`]).
pub fn numbers_pick_choices(choices: &[String]) -> bool {
    !choices.iter().any(|c| whole_number(c.trim()))
}

fn whole_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The yes and no keys of a question, as `y/n`.
pub fn yes_no() -> String {
    format!(
        "{}/{}",
        label(Mode::Question, Does::Yes),
        label(Mode::Question, Does::No)
    )
}

/// A refusal in words, naming the keys of this keymap.
pub fn refusal_words(refusal: &Refusal) -> String {
    refusal.words(&|a| key_for(a).map(str::to_string))
}

/// The step actions that make sense for the run right now (footer, plain
/// prompt): the engine's [`Run::offered`] as intents. Scrolling, help and
/// close are always available and not listed.
pub fn available(run: &Run) -> Vec<Intent> {
    let mut out: Vec<Intent> = Vec::new();
    for intent in run.offered().into_iter().filter_map(intent_of) {
        if !out.contains(&intent) {
            out.push(intent);
        }
    }
    out
}

/// The tables of docs/keys.md, each under its name (the `<!-- keys:NAME -->`
/// marker it replaces): `step` and `plain` from [`BINDINGS`], one per
/// [`Mode`] from [`MODES`].
pub fn doc_tables() -> Vec<(&'static str, String)> {
    let head = "| key | what it does |\n| --- | --- |\n";
    let ticks = |keys: &[Key]| {
        keys.iter()
            .map(|k| format!("`{}`", k.name()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = Vec::new();
    let mut step = head.to_string();
    for b in BINDINGS {
        step.push_str(&format!("| {} | {} |\n", ticks(b.keys), b.doc));
    }
    out.push(("step", step));
    for m in MODES {
        let mut t = head.to_string();
        for r in m.rows {
            let keys = if !r.keys.is_empty() {
                ticks(r.keys)
            } else if r.label.starts_with("any") {
                r.label.to_string()
            } else {
                r.label
                    .split(' ')
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            t.push_str(&format!("| {keys} | {} |\n", r.doc));
        }
        out.push((mode_doc_name(m.mode), t));
    }
    let mut plain = "| line | what it does |\n| --- | --- |\n".to_string();
    for b in BINDINGS.iter().filter(|b| !b.intent.is_screen_only()) {
        let lines: Vec<String> = b
            .keys
            .iter()
            .filter_map(|k| match k {
                Key::Enter => Some("(empty line)".to_string()),
                Key::Char(c) => Some(format!("`{c}`")),
                _ => None,
            })
            .collect();
        plain.push_str(&format!("| {} | {} |\n", lines.join(", "), b.help));
    }
    out.push(("plain", plain));
    out
}

/// The marker name of a mode's table in docs/keys.md.
fn mode_doc_name(mode: Mode) -> &'static str {
    match mode {
        Mode::LineInput => "line-input",
        Mode::NoteEditor => "note-editor",
        Mode::Question => "question",
        Mode::CommandRunning => "command-running",
        Mode::NotRecorded => "not-recorded",
        Mode::Help => "help",
        Mode::History => "history",
        Mode::Ended => "ended",
    }
}

/// `text` with every `<!-- keys:NAME -->` … `<!-- /keys -->` block filled
/// with its generated table; an error names a marker with no table or a
/// table with no marker.
pub fn fill_doc(text: &str) -> Result<String, String> {
    let tables = doc_tables();
    let mut out = String::new();
    let mut rest = text;
    let mut used = Vec::new();
    while let Some(at) = rest.find("<!-- keys:") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "<!-- keys:".len()..];
        let name_end = after.find(" -->").ok_or("a keys marker is not closed")?;
        let name = &after[..name_end];
        let end = after
            .find("<!-- /keys -->")
            .ok_or_else(|| format!("the keys:{name} block has no end marker"))?;
        let table = tables
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| format!("no keymap table is called {name}"))?;
        out.push_str(&format!("<!-- keys:{name} -->\n{}<!-- /keys -->", table.1));
        used.push(name.to_string());
        rest = &after[end + "<!-- /keys -->".len()..];
    }
    out.push_str(rest);
    if let Some((missing, _)) = tables.iter().find(|(n, _)| !used.iter().any(|u| u == n)) {
        return Err(format!("docs/keys.md has no keys:{missing} block"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_maps_to_exactly_one_intent() {
        let mut seen = std::collections::HashSet::new();
        for b in BINDINGS {
            assert!(!b.keys.is_empty(), "{:?} has no key", b.intent);
            for k in b.keys {
                assert!(seen.insert(*k), "{k:?} is bound twice");
                assert_eq!(intent_for(*k), Some(b.intent));
            }
        }
    }

    #[test]
    fn every_intent_has_one_binding() {
        let mut intents: Vec<_> = BINDINGS.iter().map(|b| b.intent).collect();
        let n = intents.len();
        intents.sort_by_key(|i| format!("{i:?}"));
        intents.dedup();
        assert_eq!(intents.len(), n);
    }

    /// Each mode binds a key once, and each row's labels name its first key
    /// (the one the footer shows), so a remapped key cannot leave its old
    /// name on the screen.
    #[test]
    fn every_mode_binds_a_key_once_and_labels_name_their_keys() {
        for b in BINDINGS {
            let first = b.keys[0].name();
            assert!(b.label.contains(&first), "{:?}: {}", b.intent, b.label);
        }
        for m in MODES {
            let mut seen = std::collections::HashSet::new();
            for r in m.rows {
                for k in r.keys {
                    assert!(seen.insert(*k), "{k:?} is bound twice in {:?}", m.mode);
                    assert_eq!(does(m.mode, *k), Some(r.does));
                }
                if let Some(first) = r.keys.first() {
                    assert!(
                        r.label.contains(&first.name()),
                        "{:?} {:?}: {}",
                        m.mode,
                        r.does,
                        r.label
                    );
                    if !r.help_label.is_empty() {
                        assert!(r.help_label.contains(&first.name()), "{}", r.help_label);
                    }
                }
            }
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_item_number_picks_a_choice() {
        let sev = strings(&["SEV1", "SEV2", "SEV3"]);
        assert_eq!(choice_item(&sev, "1"), Some(0));
        assert_eq!(choice_item(&sev, " 3 "), Some(2));
        assert_eq!(choice_item(&sev, "03"), Some(2));
        for not_an_item in [
            "0",
            "4",
            "",
            " ",
            "-1",
            "+1",
            "1.0",
            "SEV1",
            "2x",
            "99999999999999999999999",
        ] {
            assert_eq!(choice_item(&sev, not_an_item), None, "{not_an_item:?}");
        }
        assert!(numbers_pick_choices(&sev));
    }

    /// Where a choice is itself a number, what is typed is always its text:
    /// `2` is not the second of `1`, `5`, `10`.
    #[test]
    fn numbers_are_text_where_a_choice_is_a_number() {
        let hours = strings(&["1", "5", "10"]);
        for typed in ["1", "2", "3"] {
            assert_eq!(choice_item(&hours, typed), None, "{typed}");
        }
        let mixed = strings(&["none", " 4 ", "all"]);
        assert_eq!(choice_item(&mixed, "1"), None);
        assert!(!numbers_pick_choices(&mixed));
    }

    /// docs/keys.md's tables are the keymap's (regenerate with
    /// `RUNSHEET_BLESS=1 cargo test --lib keys`).
    #[test]
    fn docs_keys_md_is_generated_from_the_keymap() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/keys.md");
        let text = std::fs::read_to_string(path).expect("docs/keys.md");
        let filled = fill_doc(&text).expect("markers");
        if std::env::var_os("RUNSHEET_BLESS").is_some() {
            std::fs::write(path, &filled).expect("write docs/keys.md");
        }
        assert!(
            text == filled,
            "docs/keys.md is stale: run RUNSHEET_BLESS=1 cargo test --lib keys"
        );
    }

    /// Every engine action an operator can take has a key, and refusals
    /// name the key the keymap binds.
    #[test]
    fn refusal_hints_come_from_the_keymap() {
        let words = refusal_words(&Refusal::Critical);
        assert!(
            words.ends_with("fail it (f) to escalate instead"),
            "{words}"
        );
        assert_eq!(
            Refusal::Critical.to_string(),
            "this step is critical and cannot be skipped; fail it to escalate instead"
        );
        // Every action but resuming and taking up (opening the run again)
        // has a key.
        for a in Action::ALL
            .into_iter()
            .filter(|a| !matches!(a, Action::Resume | Action::TakeUp))
        {
            assert!(key_for(a).is_some(), "{a:?} has no key");
        }
    }
}
