//! What an operator can do to a run ([`Action`]), and why the engine refuses
//! one ([`Refusal`]). A refusal's words name actions, never keys: a front end
//! passes the key it binds to each action (`keys::refusal_words`), so the
//! message cannot name a key the keymap does not have.
//!
//! May not depend on IO, the clock, the store, the keymap or the front ends.

use super::event::Outcome;
use super::run::RequirementKind;

/// An operator action on a run, as the engine knows it: one per kind of
/// command, plus answering a question's two ways. Scrolling, help and other
/// screen matters are the front ends' and not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Go ahead past the procedure's document-control warnings.
    GoAhead,
    /// Mark the current step done.
    Confirm,
    /// Type the current step's value (then it is confirmed).
    Value,
    Yes,
    No,
    RunCommand,
    Note,
    Evidence,
    SignOff,
    Fail,
    Skip,
    Abort,
    Suspend,
    Resume,
    /// Correct what a finished step recorded (its value, answer or
    /// confirmation), with a reason; the original stays.
    Correct,
    /// A new session takes the run up (resumed or recovered, perhaps
    /// handed over): the session does this on opening a run, no key does.
    TakeUp,
    /// Say what became of a command whose result was never recorded: asked
    /// when a session opens such a run, no key does.
    AccountForCommand,
}

impl Action {
    /// Every action, in the order a key's plain meaning is looked up (the
    /// confirm key's plain meaning is `Confirm`, before `GoAhead` and `Value`).
    pub const ALL: [Action; 17] = [
        Action::Confirm,
        Action::GoAhead,
        Action::Value,
        Action::Yes,
        Action::No,
        Action::RunCommand,
        Action::Note,
        Action::Evidence,
        Action::SignOff,
        Action::Fail,
        Action::Skip,
        Action::Abort,
        Action::Suspend,
        Action::Resume,
        Action::Correct,
        Action::TakeUp,
        Action::AccountForCommand,
    ];
}

/// Why a command was refused. Nothing was recorded and the state is unchanged.
///
/// `Display` gives the words without key hints; front ends use
/// [`Refusal::words`] with their keymap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The run has an outcome.
    Ended(Outcome),
    /// No `run-started` event has been applied.
    NotStarted,
    NotSuspended,
    /// Only resuming (or aborting) is possible.
    Suspended,
    NoWarnings,
    /// The document-control warnings come first.
    WarningsPending,
    /// The change notice is to be read before anything else.
    ChangeNoticePending,

    NoCurrentStep,
    /// A command named a step that is not the current one (a stale screen).
    NotCurrent {
        step: String,
        current: String,
    },
    /// Confirm on a question step.
    IsQuestion,
    /// An answer on a step that asks nothing.
    NotQuestion,
    NoValue,
    NoEvidence,
    NoCommand,
    /// A command result whose command line is not the step's.
    WrongCommand,
    /// In a drill, a command the procedure does not mark safe to rehearse:
    /// it is not run; the operator says what they would have done.
    NotRehearsable,
    /// Saying what one would have done instead of a command: only in a
    /// drill, for a command not marked safe to rehearse.
    NothingToRehearse,
    NoSignOff,
    /// The operator named themself as the second person.
    OwnSignOff {
        role: String,
    },
    AlreadySignedOff,
    /// A typed name where the step needs the second person's SSH signature.
    TypedSignOff,
    /// A skip of a critical step.
    Critical,
    /// A skip of an escalation branch's step the procedure does not mark
    /// `skippable`.
    EscalationStep,
    /// A step's command was started and its result never recorded: the
    /// operator says what became of it first.
    CommandUnaccounted {
        command: String,
    },
    /// The step (empty: any) has nothing a correction could refer to.
    NothingToCorrect {
        step: String,
    },
    /// There is no command whose result went unrecorded.
    NoInterruptedCommand,
    /// A requirement of the current step is not met yet.
    Unmet(RequirementKind),
    /// A text the command needs is empty; the words say which.
    Empty(&'static str),
    /// A value that does not pass its step's specification; complete words.
    Invalid(String),
    /// The procedure itself leads nowhere (lint catches this); complete words.
    Procedure(String),
}

impl Refusal {
    /// The refusal in words; `key` names the key bound to an action, or
    /// `None` when the caller has no keys (then no hint is given).
    pub fn words(&self, key: &dyn Fn(Action) -> Option<String>) -> String {
        // " (x)" after an action's name, or nothing.
        let hint = |a: Action| key(a).map(|k| format!(" ({k})")).unwrap_or_default();
        match self {
            Refusal::Ended(outcome) => {
                format!("this run has already ended ({})", outcome.as_str())
            }
            Refusal::NotStarted => "this run has not started".into(),
            Refusal::NotSuspended => "the run is not suspended".into(),
            Refusal::Suspended => "the run is suspended; resume it first".into(),
            Refusal::NoWarnings => "there are no warnings to acknowledge".into(),
            Refusal::ChangeNoticePending => {
                "read what changed in the procedure since your last run, and go ahead, before the first step".into()
            }

            Refusal::WarningsPending => {
                "acknowledge the procedure's document-control warnings before the first step".into()
            }
            Refusal::NoCurrentStep => "there is no current step".into(),
            Refusal::NotCurrent { step, current } => {
                format!("step `{step}` is not the current step (`{current}` is)")
            }
            Refusal::IsQuestion => match (key(Action::Yes), key(Action::No)) {
                (Some(y), Some(n)) => {
                    format!("this step is a question: answer it with {y} (yes) or {n} (no)")
                }
                _ => "this step is a question: answer it yes or no".into(),
            },
            Refusal::NotQuestion => match key(Action::Confirm) {
                Some(k) => format!("this step is not a question; confirm it with {k}"),
                None => "this step is not a question; confirm it instead".into(),
            },
            Refusal::NoValue => "this step does not record a value".into(),
            Refusal::NoEvidence => "this step does not ask for evidence; add a note instead".into(),
            Refusal::NoCommand => "this step has no command to run".into(),
            Refusal::WrongCommand => "the command that ran is not the step's command".into(),
            Refusal::NotRehearsable => "this is a drill and the procedure does not mark this command safe to rehearse: it is not run; say what you would have done instead".into(),
            Refusal::NothingToRehearse => "only in a drill, and only for a command not marked safe to rehearse, is what you would have done recorded instead of running it".into(),
            Refusal::NoSignOff => "this step needs no sign-off".into(),
            Refusal::OwnSignOff { role } => format!(
                "sign-off needs a second person ({role}); the operator cannot sign off their own step"
            ),
            Refusal::AlreadySignedOff => "this step is already signed off".into(),
            Refusal::TypedSignOff => "this step needs the second person's SSH signature, not a typed name: give the path of their signature file (`runsheet sign-off-text` prints what they sign and how)".into(),
            Refusal::Critical => format!(
                "this step is critical and cannot be skipped; fail it{} to escalate instead",
                hint(Action::Fail)
            ),
            Refusal::EscalationStep => format!(
                "this is an escalation step and the procedure does not let it be skipped; do it, or fail it{} (the run then ends as failed)",
                hint(Action::Fail)
            ),
            Refusal::CommandUnaccounted { command } => format!(
                "the command `{command}` was started and its result was never recorded: say what became of it first"
            ),
            Refusal::NothingToCorrect { step } if step.is_empty() => {
                "no finished step has a value, an answer or a confirmation to correct yet".into()
            }
            Refusal::NothingToCorrect { step } => format!(
                "step `{step}` has no finished record to correct (it is current, or nothing was recorded)"
            ),
            Refusal::NoInterruptedCommand => {
                "no command of this run is waiting to be accounted for".into()
            }
            Refusal::Unmet(what) => unmet_words(what, &hint, key),
            Refusal::Empty(words) => (*words).to_string(),
            Refusal::Invalid(words) | Refusal::Procedure(words) => words.clone(),
        }
    }
}

fn unmet_words(
    what: &RequirementKind,
    hint: &dyn Fn(Action) -> String,
    key: &dyn Fn(Action) -> Option<String>,
) -> String {
    match what {
        RequirementKind::Answer(q) => format!("answer the question first: {q}"),
        RequirementKind::Value { label, .. } => match key(Action::Value) {
            Some(k) => format!("record the value first ({label}): press {k} to type it"),
            None => format!("record the value first ({label})"),
        },
        RequirementKind::Command {
            run,
            expect_exit,
            skippable,
        } => {
            let or = if *skippable {
                format!("fail{} / skip{}", hint(Action::Fail), hint(Action::Skip))
            } else {
                format!("fail{}", hint(Action::Fail))
            };
            format!(
                "run the command first{} and get exit code {expect_exit}: {run} — or {or} the step",
                hint(Action::RunCommand)
            )
        }
        RequirementKind::Note(p) => format!("this step needs a note{}: {p}", hint(Action::Note)),
        RequirementKind::Evidence(p) => {
            format!("this step needs evidence{}: {p}", hint(Action::Evidence))
        }
        RequirementKind::SignOff(role) => format!(
            "this step needs a second person's sign-off{}: {role}",
            hint(Action::SignOff)
        ),
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.words(&|_| None))
    }
}

impl std::error::Error for Refusal {}
