//! The operator flow both front ends drive. An action becomes a command
//! executed now, a request for text, or a yes/no question; the text or the
//! answer then becomes the command. Whether an action may start is asked of
//! the engine (`Run::allows`) before anything is asked of the operator, so
//! the full-screen and the plain front ends cannot disagree about what is
//! allowed: they only render the requests and read keys or lines.
//!
//! May not depend on the keymap (key letters), the terminal, the command
//! runner or the store.

use super::{ActionError, Session};
use crate::engine::{Action, Command, CommandResult, Event, Refusal};
use crate::procedure::StepKind;
use crate::vocab::EventKind;

/// What a text the operator types is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// The step's value (recorded, then the step is confirmed).
    Value,
    /// Why the step failed.
    Fail,
    /// Why skipping the step is right.
    Skip,
    /// A note on the step (several lines).
    Note,
    /// The evidence the step asks for.
    Evidence,
    /// The name of the second person signing the step off.
    SignOff,
    /// Why the run is aborted.
    Abort,
    /// What became of a command that was started and whose result was
    /// never recorded (its session ended while it ran).
    CommandAccount,
    /// In a drill, what the operator would have done instead of the step's
    /// command (one the procedure does not mark safe to rehearse).
    Rehearse,
    /// Which finished step a correction is for (its number in the list the
    /// request's `about` gives).
    CorrectStep,
    /// The right value of the step being corrected.
    CorrectValue,
    /// The right answer (yes or no) of the step being corrected.
    CorrectAnswer,
    /// Why the step's record is corrected (`carry`: the right value or
    /// answer given before).
    CorrectReason,
}

/// A request for text, answered with [`submit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRequest {
    pub ask: Ask,
    /// The step it acts on (empty for abort).
    pub step: String,
    /// What the input starts with: the recorded value on a value step.
    pub initial: String,
    /// What the operator must be told before they answer, if anything
    /// (both front ends show it as it is).
    pub about: Option<String>,
    /// What an earlier request of the same action was answered with (a
    /// correction's right value or answer), carried to the next.
    pub carry: Option<String>,
}

/// A yes/no question, answered with [`answer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Question {
    /// Run the step's command (the front end shows it first)?
    RunCommand { step: String, command: String },
    /// Suspend the run and quit?
    Suspend,
}

/// A command the operator agreed to run: the front end starts it, shows
/// its output, and hands the result to [`command_finished`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandToRun {
    pub step: String,
    pub command: String,
    /// The exit code the step expects.
    pub expect_exit: i32,
    pub timeout_secs: Option<u64>,
}

/// What comes after an operator's input.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Nothing more to ask.
    Done,
    /// The engine refused; nothing was recorded.
    Refused(Refusal),
    /// The evidence log could not be written: nothing of `retry` is
    /// recorded or shown as done; [`retry`] tries the same command again.
    NotRecorded { message: String, retry: Command },
    /// Ask for text.
    Text(TextRequest),
    /// Ask yes or no.
    Question(Question),
    /// Start this command.
    Start(CommandToRun),
    /// Go on with this command ([`execute`]): a value's step is confirmed
    /// once the value is recorded. Its refusal is not the input's: what
    /// was typed is recorded.
    Then(Command),
    /// The run is suspended: the front end stops.
    Suspended,
}

/// The answer to one input: the events made durable by it (one write at
/// most), and what comes next.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub recorded: Vec<Event>,
    pub next: Next,
}

impl Reply {
    fn next(next: Next) -> Reply {
        Reply {
            recorded: Vec::new(),
            next,
        }
    }

    /// True when the command was refused or could not be recorded.
    pub fn failed(&self) -> bool {
        matches!(self.next, Next::Refused(_) | Next::NotRecorded { .. })
    }
}

/// Execute `command` now: one write.
pub fn execute(session: &mut Session, command: Command) -> Reply {
    match session.execute(command.clone()) {
        Ok(events) => Reply {
            recorded: events,
            next: Next::Done,
        },
        Err(ActionError::Refused(r)) => Reply::next(Next::Refused(r)),
        Err(ActionError::NotRecorded(failed)) => Reply::next(Next::NotRecorded {
            message: failed.0,
            retry: command,
        }),
    }
}

/// Take up a run the front end has just opened. A session that resumed it
/// from the log records how it took it up (resumed, or recovered from a
/// session that ended without suspending, perhaps handed over); an
/// in-memory suspended run is resumed. Then, if a command was started and
/// its result never recorded, the operator is asked what became of it.
/// `Done` with nothing recorded when there is nothing to do.
pub fn open(session: &mut Session) -> Reply {
    let reply = match session.take_up_command() {
        Some(command) => execute(session, command),
        None if session.run().suspended => execute(session, Command::Resume),
        None => Reply::next(Next::Done),
    };
    then_account(session, reply)
}

/// After a run is taken up (`reply` done): ask what became of a command it
/// started and never recorded, if there is one.
fn then_account(session: &Session, reply: Reply) -> Reply {
    match reply.next {
        Next::Done => Reply {
            next: account_request(session).unwrap_or(Next::Done),
            ..reply
        },
        _ => reply,
    }
}

/// What the operator is told when a command of the run was started and
/// its result never recorded, if one was.
fn interrupted_words(session: &Session) -> Option<String> {
    let started = session.run().started_command.as_ref()?;
    let title = session
        .run()
        .procedure
        .step(&started.step)
        .map_or(started.step.clone(), |(s, _)| s.title.clone());
    let at = session
        .command_started_at()
        .map(|t| format!(" at {t}"))
        .unwrap_or_default();
    Some(format!(
        "The command `{}` of step “{title}” was started{at} and its result was never recorded: the session running it ended (a crash, a kill or a lost connection). Say what became of it; that is recorded, then the step goes on (run the command again, or fail the step).",
        started.command
    ))
}

/// The request for what became of the command the run started and never
/// recorded, if there is one.
fn account_request(session: &Session) -> Option<Next> {
    let started = session.run().started_command.as_ref()?;
    Some(Next::Text(TextRequest {
        ask: Ask::CommandAccount,
        step: started.step.clone(),
        initial: String::new(),
        about: interrupted_words(session),
        carry: None,
    }))
}

/// The operator asked for `action` on the current step.
pub fn begin(session: &mut Session, action: Action) -> Reply {
    let run = session.run();
    let step = run.current.clone().unwrap_or_default();
    // Actions that need text or a yes first are refused before anything is
    // asked, exactly as the engine would refuse the command.
    let asks = !matches!(
        action,
        Action::GoAhead
            | Action::Confirm
            | Action::Yes
            | Action::No
            | Action::Suspend
            | Action::Resume
    );
    if asks && let Err(r) = run.allows(action) {
        return Reply::next(Next::Refused(r));
    }
    let text = |ask: Ask, initial: String| {
        Reply::next(Next::Text(TextRequest {
            ask,
            step: step.clone(),
            initial,
            about: None,
            carry: None,
        }))
    };
    match action {
        Action::GoAhead => execute(session, Command::AcknowledgeWarnings),
        Action::Confirm => execute(session, Command::Confirm { step }),
        Action::Yes | Action::No => execute(
            session,
            Command::Answer {
                step,
                yes: action == Action::Yes,
            },
        ),
        Action::Value => text(Ask::Value, run.state(&step).value.unwrap_or_default()),
        Action::RunCommand => {
            let spec = run.current_step().and_then(|s| s.command.clone());
            let command = spec.as_ref().map(|c| c.run.clone()).unwrap_or_default();
            if spec.as_ref().is_some_and(|c| run.rehearses_instead(c)) {
                return Reply::next(Next::Text(TextRequest {
                    ask: Ask::Rehearse,
                    step,
                    initial: String::new(),
                    about: Some(rehearse_words(&command)),
                    carry: None,
                }));
            }
            Reply::next(Next::Question(Question::RunCommand { step, command }))
        }
        // A draft kept from before (a closed editor, a suspend, a crash).
        Action::Note => text(Ask::Note, session.draft(&step).unwrap_or_default()),
        Action::Evidence => text(Ask::Evidence, String::new()),
        Action::SignOff => Reply::next(Next::Text(TextRequest {
            ask: Ask::SignOff,
            about: sign_off_words(session, &step),
            step,
            initial: String::new(),
            carry: None,
        })),
        Action::Fail => text(Ask::Fail, String::new()),
        Action::Skip => text(Ask::Skip, String::new()),
        Action::Abort => Reply::next(Next::Text(TextRequest {
            ask: Ask::Abort,
            step: String::new(),
            initial: String::new(),
            about: None,
            carry: None,
        })),
        Action::Suspend => Reply::next(Next::Question(Question::Suspend)),
        Action::Resume => execute(session, Command::Resume),
        Action::TakeUp => match session.take_up_command() {
            Some(command) => execute(session, command),
            None => Reply::next(Next::Done),
        },
        Action::Correct => Reply::next(Next::Text(TextRequest {
            ask: Ask::CorrectStep,
            step: String::new(),
            initial: String::new(),
            about: Some(correctable_words(session)),
            carry: None,
        })),
        Action::AccountForCommand => {
            account_request(session).map_or_else(|| Reply::next(Next::Done), Reply::next)
        }
    }
}

/// The operator typed `text` for `request`. A refusal with nothing recorded
/// leaves the request open for correcting.
pub fn submit(session: &mut Session, request: &TextRequest, text: String) -> Reply {
    let step = request.step.clone();
    let command = match request.ask {
        Ask::Value => {
            // An unchanged value is not recorded again; then the step is
            // confirmed, which may still need something else.
            let confirm = Next::Then(Command::Confirm { step: step.clone() });
            let recorded = session.run().state(&step).value;
            if recorded.as_deref() == Some(text.trim()) {
                return Reply::next(confirm);
            }
            let mut reply = execute(session, Command::RecordValue { step, value: text });
            if matches!(reply.next, Next::Done) {
                reply.next = confirm;
            }
            return reply;
        }
        Ask::Fail => Command::Fail { step, reason: text },
        Ask::Skip => Command::Skip {
            step,
            justification: text,
        },
        Ask::Note => {
            let reply = execute(
                session,
                Command::AddNote {
                    step: step.clone(),
                    text,
                },
            );
            if !reply.recorded.is_empty() {
                session.clear_draft(&step);
            }
            return reply;
        }
        Ask::Evidence => Command::RecordEvidence {
            step,
            evidence: text,
        },
        Ask::SignOff => return sign_off(session, step, text),
        Ask::Abort => Command::Abort { reason: text },
        Ask::CorrectStep | Ask::CorrectValue | Ask::CorrectAnswer => {
            return correction_next(session, request, text);
        }
        Ask::CorrectReason => Command::Correct {
            value: request
                .carry
                .clone()
                .filter(|_| corrects(session, &step) == Some(EventKind::ValueRecorded)),
            answer: request
                .carry
                .as_deref()
                .filter(|_| corrects(session, &step) == Some(EventKind::DecisionAnswered))
                .map(|a| a == "yes"),
            step,
            reason: text,
        },
        Ask::Rehearse => Command::RehearseCommand {
            step,
            rehearsal: text,
        },
        Ask::CommandAccount => Command::AccountForCommand {
            step,
            started_at: session.command_started_at().unwrap_or_default(),
            account: text,
        },
    };
    execute(session, command)
}

/// What the operator is told when, in a drill, a command is not run.
pub fn rehearse_words(command: &str) -> String {
    format!(
        "DRILL: the procedure does not mark this command safe to rehearse, so it is not run: `{command}`. Say what you would have done (and what you would check in its output); that is recorded in its place."
    )
}

/// What the operator is told when asked for a sign-off: what the second
/// person signs and how, and whether a typed name does.
fn sign_off_words(session: &Session, step: &str) -> Option<String> {
    let (_, namespace) = session.sign_off_text(step)?;
    let typed = session
        .run()
        .procedure
        .step(step)
        .is_some_and(|(s, _)| s.typed_signoff);
    Some(format!(
        "The second person signs from their own login: `runsheet sign-off {label}` (this screen shows it when it arrives). Or they sign this step's sign-off text with their SSH key: `runsheet sign-off-text {label} | ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n {namespace} > signoff.sig`, and you give the path of that signature file here{typed}.",
        label = session.run_label(),
        namespace = namespace,
        typed = if typed {
            ", or type their name (recorded as a typed, unauthenticated sign-off)"
        } else {
            " (a typed name is not accepted for this step)"
        }
    ))
}

/// What another session recorded for the run, as the operator is told when
/// it arrives (a second person's sign-off from their own login).
pub fn arrival_words(session: &Session, meta: &crate::engine::Meta, event: &Event) -> String {
    let at = meta.at.format("%H:%M:%S UTC");
    let title = |step: &str| {
        session
            .run()
            .procedure
            .step(step)
            .map_or(step.to_string(), |(s, _)| s.title.clone())
    };
    match event {
        Event::SignedOff { by, ssh, login, .. } => {
            let how = match (ssh, login) {
                (Some(_), _) => "with their SSH key".to_string(),
                (None, Some(l)) => format!("from their own login (uid {})", l.uid),
                (None, None) => "by a typed name".into(),
            };
            format!("Signed off by {by} at {at} {how}.")
        }
        Event::SignOffRefused {
            step, by, reason, ..
        } => format!(
            "A sign-off of “{}” by {by} was refused at {at}: {reason}.",
            title(step)
        ),
        other => format!(
            "Another session recorded {} at {at} ({}).",
            other.kind(),
            meta.actor
        ),
    }
}

/// Sign `step` off with what the operator typed: a second person's SSH
/// signature file, checked, or a name where the step allows one. A sign-off
/// refused because the operator named themself (or their own key signed)
/// is recorded as refused.
fn sign_off(session: &mut Session, step: String, text: String) -> Reply {
    let (by, command) = match session.check_sign_off(&step, &text) {
        Some(Err(words)) => return Reply::next(Next::Refused(Refusal::Invalid(words))),
        Some(Ok(ssh)) => (
            ssh.principal.clone(),
            Command::SignOffSigned {
                step: step.clone(),
                ssh,
            },
        ),
        None => (
            text.trim().to_string(),
            Command::SignOff {
                step: step.clone(),
                by: text,
            },
        ),
    };
    second_person_sign_off(session, step, &by, command)
}

/// Execute a second person's sign-off `command` of `step`, given by `by`:
/// refused because `by` is the operator, the refusal is recorded (and
/// stays the answer). The one rule for every way a sign-off arrives: typed
/// at the operator's screen, or from the signer's own session.
pub fn second_person_sign_off(
    session: &mut Session,
    step: String,
    by: &str,
    command: Command,
) -> Reply {
    let reply = execute(session, command);
    if let Next::Refused(refusal @ Refusal::OwnSignOff { .. }) = &reply.next {
        let recorded = execute(
            session,
            Command::RefuseSignOff {
                step,
                by: by.to_string(),
                reason: "the operator cannot sign off their own step".into(),
            },
        );
        return Reply {
            recorded: recorded.recorded,
            next: match recorded.next {
                Next::Done => Next::Refused(refusal.clone()),
                other => other,
            },
        };
    }
    reply
}

/// The finished steps a correction may be for, numbered, as the
/// operator is shown them.
fn correctable_words(session: &Session) -> String {
    let run = session.run();
    let mut words = String::from("Correct which step's record? Type its number:");
    for (i, s) in run.correctable().iter().enumerate() {
        let st = run.state(&s.id);
        let what = match (&st.value, st.answer) {
            (Some(v), _) => format!(" = {v}"),
            (None, Some(a)) => format!(": {}", if a { "yes" } else { "no" }),
            (None, None) => ": done".into(),
        };
        words.push_str(&format!("\n  {}. {}{what}", i + 1, s.title));
    }
    words
}

/// The kind of record a correction of `step` refers to.
fn corrects(session: &Session, step: &str) -> Option<EventKind> {
    session.run().state(step).record.map(|r| r.kind)
}

/// The next request of a correction: after the step, its right value or
/// answer (a step that only was confirmed needs none); then the reason.
fn correction_next(session: &Session, request: &TextRequest, text: String) -> Reply {
    let ask = |ask: Ask, step: &str, initial: String, carry: Option<String>| {
        Reply::next(Next::Text(TextRequest {
            ask,
            step: step.to_string(),
            initial,
            about: None,
            carry,
        }))
    };
    let refused = |r: Refusal| Reply::next(Next::Refused(r));
    match request.ask {
        Ask::CorrectStep => {
            let steps = session.run().correctable();
            let picked = text
                .trim()
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| steps.get(i));
            let Some(step) = picked else {
                return refused(Refusal::Invalid(format!(
                    "type the number of a step in the list, 1 to {}",
                    steps.len()
                )));
            };
            let id = &step.id;
            match corrects(session, id) {
                Some(EventKind::ValueRecorded) => ask(
                    Ask::CorrectValue,
                    id,
                    session.run().state(id).value.unwrap_or_default(),
                    None,
                ),
                Some(EventKind::DecisionAnswered) => {
                    ask(Ask::CorrectAnswer, id, String::new(), None)
                }
                _ => ask(Ask::CorrectReason, id, String::new(), None),
            }
        }
        Ask::CorrectValue => {
            // Checked now, so the reason is not asked for in vain.
            let spec = session
                .run()
                .procedure
                .step(&request.step)
                .and_then(|(s, _)| match s.kind() {
                    StepKind::Value(v) => Some(v.clone()),
                    _ => None,
                });
            match spec.map(|v| crate::engine::validate_value(&v, &text)) {
                Some(Ok(value)) => ask(
                    Ask::CorrectReason,
                    &request.step,
                    String::new(),
                    Some(value),
                ),
                Some(Err(r)) => refused(r),
                None => refused(Refusal::NoValue),
            }
        }
        _ => {
            let answer = match text.trim().to_lowercase().as_str() {
                "y" | "yes" => "yes",
                "n" | "no" => "no",
                _ => return refused(Refusal::Empty("type the right answer: yes or no")),
            };
            ask(
                Ask::CorrectReason,
                &request.step,
                String::new(),
                Some(answer.into()),
            )
        }
    }
}

/// The operator answered `question`.
pub fn answer(session: &mut Session, question: &Question, yes: bool) -> Reply {
    if !yes {
        return Reply::next(Next::Done);
    }
    match question {
        Question::RunCommand { step, command } => {
            let current = session.run().current.as_deref() == Some(step.as_str());
            match to_run(session, step).filter(|c| current && &c.command == command) {
                Some(c) => start_command(session, c),
                // The screen was stale: the engine's refusal says why.
                None => match session.run().allows(Action::RunCommand) {
                    Err(r) => Reply::next(Next::Refused(r)),
                    Ok(()) => Reply::next(Next::Refused(Refusal::WrongCommand)),
                },
            }
        }
        Question::Suspend => suspend(session),
    }
}

/// Record that `to_run` starts (durable before the process is), then start it.
fn start_command(session: &mut Session, to_run: CommandToRun) -> Reply {
    let mut reply = execute(
        session,
        Command::StartCommand {
            step: to_run.step.clone(),
            command: to_run.command.clone(),
        },
    );
    if matches!(reply.next, Next::Done) {
        reply.next = Next::Start(to_run);
    }
    reply
}

/// The step's command as it runs, for a `command-started` that is recorded.
fn to_run(session: &Session, step: &str) -> Option<CommandToRun> {
    let s = session.run().procedure.step(step)?.0;
    match s.kind() {
        StepKind::Command(c) => Some(CommandToRun {
            step: step.to_string(),
            command: c.run.clone(),
            expect_exit: c.expect_exit.unwrap_or(0),
            timeout_secs: c.timeout_secs,
        }),
        _ => None,
    }
}

/// Suspend now (the operator said yes, input ended, or a signal came).
/// An already suspended run is left as it is.
pub fn suspend(session: &mut Session) -> Reply {
    if session.run().suspended {
        return Reply::next(Next::Suspended);
    }
    let mut reply = execute(session, Command::Suspend);
    if matches!(reply.next, Next::Done) {
        reply.next = Next::Suspended;
    }
    reply
}

/// A command the operator ran has finished (or was stopped): record it.
pub fn command_finished(session: &mut Session, step: String, result: CommandResult) -> Reply {
    execute(session, Command::RecordCommand { step, result })
}

/// Try a command that could not be recorded again.
pub fn retry(session: &mut Session, command: Command) -> Reply {
    if command == Command::Suspend {
        return suspend(session);
    }
    if let Command::StartCommand { step, .. } = &command
        && let Some(to_run) = to_run(session, step)
    {
        return start_command(session, to_run);
    }
    if matches!(command, Command::TakeUp { .. }) {
        let reply = execute(session, command);
        return then_account(session, reply);
    }
    execute(session, command)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::StartInfo;
    use crate::procedure::test_support::procedure_header;
    use crate::session::{MemorySink, SteppingClock};
    use chrono::{TimeZone, Utc};

    const PROC: &str = concat!(
        procedure_header!(),
        r#"[[steps]]
id = "size"
title = "Size"
critical = true
note = "Where did you read it?"
value = { type = "number", label = "Size", min = 1 }
[[steps]]
id = "two"
title = "Two"
"#
    );

    fn session(sink: MemorySink) -> Session {
        let p: crate::procedure::Procedure = toml::from_str(PROC).unwrap();
        let info = StartInfo::for_tests();
        let clock = SteppingClock::starting_at(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap());
        Session::begin(p, &info, "r", "alice", Box::new(sink), Box::new(clock))
    }

    #[test]
    fn a_critical_step_refuses_the_skip_before_asking_why() {
        let mut s = session(MemorySink::default());
        let reply = begin(&mut s, Action::Skip);
        assert_eq!(reply.next, Next::Refused(Refusal::Critical));
        assert!(reply.recorded.is_empty());
    }

    #[test]
    fn the_value_is_always_asked_for_with_the_recorded_one_to_start_from() {
        let sink = MemorySink::default();
        let mut s = session(sink.clone());
        let Next::Text(request) = begin(&mut s, Action::Value).next else {
            panic!("a value step asks for its value");
        };
        assert_eq!(request.initial, "");
        // Recorded, then confirming is refused: the note is missing.
        let reply = submit(&mut s, &request, "12".into());
        assert_eq!(reply.recorded.len(), 1, "{reply:?}");
        let Next::Then(confirm) = reply.next else {
            panic!("the step is confirmed next: {reply:?}");
        };
        assert!(matches!(
            execute(&mut s, confirm).next,
            Next::Refused(Refusal::Unmet(crate::engine::RequirementKind::Note(_)))
        ));
        let Next::Text(again) = begin(&mut s, Action::Value).next else {
            panic!("asked again");
        };
        assert_eq!(again.initial, "12");
        // The same value is not recorded twice.
        let n = sink.events.borrow().len();
        let reply = submit(&mut s, &again, "12".into());
        assert!(reply.recorded.is_empty());
        assert!(matches!(reply.next, Next::Then(Command::Confirm { .. })));
        assert_eq!(sink.events.borrow().len(), n);
    }

    #[test]
    fn an_invalid_value_records_nothing_and_keeps_the_request() {
        let sink = MemorySink::default();
        let mut s = session(sink.clone());
        let Next::Text(request) = begin(&mut s, Action::Value).next else {
            panic!("asked");
        };
        let reply = submit(&mut s, &request, "0".into());
        assert!(reply.recorded.is_empty());
        assert!(matches!(reply.next, Next::Refused(Refusal::Invalid(_))));
        assert!(sink.events.borrow().is_empty());
    }

    #[test]
    fn a_write_that_fails_is_not_recorded_and_can_be_retried() {
        let sink = MemorySink::default();
        let mut s = session(sink.clone());
        *sink.fail_with.borrow_mut() = Some("disk full".into());
        let reply = suspend(&mut s);
        let Next::NotRecorded { retry: command, .. } = reply.next else {
            panic!("not recorded: {reply:?}");
        };
        assert!(!s.run().suspended);
        *sink.fail_with.borrow_mut() = None;
        assert_eq!(retry(&mut s, command).next, Next::Suspended);
        assert!(s.run().suspended);
    }
}
