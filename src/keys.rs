//! The one keymap table: which key does what, when. The TUI's handlers, its
//! footer and help overlay, and the plain mode's prompt all read this table,
//! so hints can never drift from the keys.
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

/// The keymap intent that carries out an engine action (going ahead past
/// warnings, confirming and typing a value are all the confirm key).
pub fn intent_of(action: Action) -> Option<Intent> {
    Some(match action {
        Action::GoAhead | Action::Confirm | Action::Value => Intent::Confirm,
        Action::Yes => Intent::Yes,
        Action::No => Intent::No,
        Action::RunCommand => Intent::RunCommand,
        Action::Note => Intent::Note,
        Action::Evidence => Intent::Evidence,
        Action::SignOff => Intent::SignOff,
        Action::Fail => Intent::Fail,
        Action::Skip => Intent::Skip,
        Action::Abort => Intent::Abort,
        Action::Suspend => Intent::Suspend,
        // Resuming is opening the run again: no key.
        Action::Resume => return None,
    })
}

/// The engine action an intent asks for on the run as it is: the one the
/// run offers for that key (the confirm key goes ahead past warnings, types
/// a value step's value, or confirms), else the plain mapping, so that the
/// engine says why it is refused. `None` for screen intents (help, scroll).
pub fn action_of(run: &Run, intent: Intent) -> Option<Action> {
    if let Some(a) = run
        .offered()
        .into_iter()
        .find(|a| intent_of(*a) == Some(intent))
    {
        return Some(a);
    }
    Some(match intent {
        Intent::Confirm => Action::Confirm,
        Intent::Yes => Action::Yes,
        Intent::No => Action::No,
        Intent::Fail => Action::Fail,
        Intent::Skip => Action::Skip,
        Intent::Note => Action::Note,
        Intent::Evidence => Action::Evidence,
        Intent::SignOff => Action::SignOff,
        Intent::RunCommand => Action::RunCommand,
        Intent::Abort => Action::Abort,
        Intent::Suspend => Action::Suspend,
        Intent::Help
        | Intent::ScrollUp
        | Intent::ScrollDown
        | Intent::PageUp
        | Intent::PageDown
        | Intent::Close => return None,
    })
}

/// The label of the key that carries out `action`, if one does.
pub fn key_for(action: Action) -> Option<&'static str> {
    intent_of(action).and_then(binding).map(|b| b.label)
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
