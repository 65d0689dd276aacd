//! The one keymap table: which key does what, when. The TUI's handlers, its
//! footer and help overlay, and the plain mode's prompt all read this table,
//! so hints can never drift from the keys.
//!
//! May not depend on the store, the terminal libraries or the front ends.

use crate::engine::Run;
use crate::procedure::StepKind;

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
    Char(char),
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
    Abort,
    Help,
    Suspend,
    ScrollUp,
    ScrollDown,
    PageUp,
    PageDown,
    Close,
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
}

/// The keymap.
pub const BINDINGS: &[Binding] = &[
    Binding {
        intent: Intent::Confirm,
        keys: &[Key::Enter],
        label: "Enter",
        short: "confirm",
        help: "Confirm the step is done (or enter its value); go ahead past warnings",
    },
    Binding {
        intent: Intent::Yes,
        keys: &[Key::Char('y')],
        label: "y",
        short: "yes",
        help: "Answer yes to the step's question",
    },
    Binding {
        intent: Intent::No,
        keys: &[Key::Char('n')],
        label: "n",
        short: "no",
        help: "Answer no to the step's question",
    },
    Binding {
        intent: Intent::RunCommand,
        keys: &[Key::Char('r')],
        label: "r",
        short: "run command",
        help: "Run the step's command (shows it and asks first); output is kept as evidence",
    },
    Binding {
        intent: Intent::Note,
        keys: &[Key::Char('a')],
        label: "a",
        short: "note",
        help: "Add a note to the step",
    },
    Binding {
        intent: Intent::Evidence,
        keys: &[Key::Char('e')],
        label: "e",
        short: "evidence",
        help: "Give the evidence the step asks for (e.g. a ticket id)",
    },
    Binding {
        intent: Intent::SignOff,
        keys: &[Key::Char('o')],
        label: "o",
        short: "sign-off",
        help: "Second person signs the step off (not the operator)",
    },
    Binding {
        intent: Intent::Fail,
        keys: &[Key::Char('f')],
        label: "f",
        short: "fail",
        help: "The step failed: give the reason, then follow the escalation branch",
    },
    Binding {
        intent: Intent::Skip,
        keys: &[Key::Char('s')],
        label: "s",
        short: "skip",
        help: "Skip the step with a justification (not allowed for critical steps)",
    },
    Binding {
        intent: Intent::Abort,
        keys: &[Key::Char('X')],
        label: "X",
        short: "abort",
        help: "Abort the whole run (asks for a reason; the run ends as aborted)",
    },
    Binding {
        intent: Intent::Help,
        keys: &[Key::Char('?')],
        label: "?",
        short: "help",
        help: "Show or hide this help",
    },
    Binding {
        intent: Intent::Suspend,
        keys: &[Key::Char('q'), Key::CtrlC],
        label: "q",
        short: "suspend",
        help: "Suspend and quit (asks first); `runsheet resume` continues at this step",
    },
    Binding {
        intent: Intent::ScrollUp,
        keys: &[Key::Up, Key::Char('k')],
        label: "↑/k",
        short: "scroll",
        help: "Scroll up",
    },
    Binding {
        intent: Intent::ScrollDown,
        keys: &[Key::Down, Key::Char('j')],
        label: "↓/j",
        short: "scroll",
        help: "Scroll down",
    },
    Binding {
        intent: Intent::PageUp,
        keys: &[Key::PageUp],
        label: "PgUp",
        short: "page",
        help: "Scroll up a page",
    },
    Binding {
        intent: Intent::PageDown,
        keys: &[Key::PageDown],
        label: "PgDn",
        short: "page",
        help: "Scroll down a page",
    },
    Binding {
        intent: Intent::Close,
        keys: &[Key::Esc],
        label: "Esc",
        short: "close",
        help: "Close a dialog or the help",
    },
];

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

/// The step actions that make sense for the run right now (footer, plain prompt).
/// Scrolling, help and close are always available and not listed.
pub fn available(run: &Run) -> Vec<Intent> {
    let mut out = Vec::new();
    if run.is_ended() {
        return out;
    }
    if !run.pending_warnings.is_empty() {
        return vec![Intent::Confirm, Intent::Abort, Intent::Suspend];
    }
    if let Some(step) = run.current_step() {
        match step.kind() {
            StepKind::Decision(_) => out.extend([Intent::Yes, Intent::No]),
            StepKind::Command(_) => out.extend([Intent::RunCommand, Intent::Confirm]),
            StepKind::Confirm | StepKind::Value(_) => out.push(Intent::Confirm),
        }
        out.push(Intent::Note);
        if step.evidence.is_some() {
            out.push(Intent::Evidence);
        }
        if step.signoff.is_some() {
            out.push(Intent::SignOff);
        }
        out.push(Intent::Fail);
        if !step.critical {
            out.push(Intent::Skip);
        }
    }
    out.extend([Intent::Abort, Intent::Suspend]);
    out
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
        intents.dedup();
        assert_eq!(intents.len(), n);
    }
}
