//! The state of one run and the two pure functions over it: `decide` turns a
//! command into events (or a rejection), `apply` folds an event into the state.
//!
//! May not depend on IO, the clock, the store or the front ends.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use regex::Regex;

use super::action::{Action, Refusal};
use super::event::{
    ChangeNotice, Command, CommandResult, Event, LoginSignOff, Meta, Outcome, SignOffMethod,
    SshSignOff,
};
use crate::procedure::{
    Branch, BranchEnd, Procedure, Step, StepKind, StepPlace, Target, ValueKind, ValueSpec,
};
use crate::vocab::{EventKind, Operator, SessionMark};

/// Identity of the run, from its `run-started` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub procedure_id: String,
    pub procedure_version: String,
    pub procedure_sha256: String,
    /// Who started it, and where.
    pub operator: Operator,
    pub runsheet_version: String,
    /// A practice run (`run --drill`): commands run only where the step
    /// marks them safe to rehearse.
    pub drill: bool,
}

/// Status of one step in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StepStatus {
    #[default]
    Pending,
    /// The step the operator is on.
    Current,
    Done,
    Skipped,
    /// Failed with no escalation branch (or inside a branch).
    Failed,
    /// Failed and its escalation branch was entered.
    Escalated,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Current => "current",
            StepStatus::Done => "done",
            StepStatus::Skipped => "skipped",
            StepStatus::Failed => "failed",
            StepStatus::Escalated => "escalated",
        }
    }
}

/// Everything recorded about one step. Fields named `attempt_*` or `last_*` are
/// reset each time the step becomes current again (a retry); notes and command
/// runs keep their whole history.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepState {
    pub status: StepStatus,
    /// How many times the step became current.
    pub attempts: u32,
    pub notes: Vec<String>,
    pub attempt_notes: usize,
    pub commands: Vec<CommandResult>,
    pub last_command: Option<CommandResult>,
    /// In a drill, what the operator said they would have done instead of
    /// the step's command (one not safe to rehearse).
    pub rehearsal: Option<String>,
    pub value: Option<String>,
    pub evidence: Option<String>,
    pub answer: Option<bool>,
    pub signed_off_by: Option<String>,
    /// How that sign-off was given (absent in events recorded before methods were).
    pub sign_off_method: Option<SignOffMethod>,
    pub failures: Vec<String>,
    /// Failures that entered an escalation branch.
    pub escalations: usize,
    pub skip_justification: Option<String>,
    /// What this attempt of the step recorded that a correction refers to:
    /// its value, its answer, or (on a step with neither) its confirmation.
    pub record: Option<StepRecord>,
    /// The reasons of the corrections recorded for the step.
    pub corrections: Vec<String>,
}

/// The event a correction of a step refers to: its kind and its number in
/// the run (`run_seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepRecord {
    pub kind: EventKind,
    pub run_seq: u64,
}

/// Counts for a run's summary (completion screen, plain-mode end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub done: usize,
    pub skipped: usize,
    pub failures: usize,
    pub escalations: usize,
    pub notes: usize,
}

/// The escalation branch the run is in, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub branch: String,
    pub failed_step: String,
    pub reason: String,
}

/// A requirement of the current step and whether it is met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub what: RequirementKind,
    pub met: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequirementKind {
    /// Answer yes or no to the question.
    Answer(String),
    /// Record a value with this label.
    Value { label: String, required: bool },
    /// Run the command and get the expected exit code (or fail the step, or,
    /// when `skippable`, skip it).
    Command {
        run: String,
        expect_exit: i32,
        skippable: bool,
    },
    /// Write a note answering this prompt.
    Note(String),
    /// Give evidence answering this prompt.
    Evidence(String),
    /// A second person in this role signs off.
    SignOff(String),
}

/// A run: the procedure it follows plus the fold of its events.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub procedure: Procedure,
    pub info: Option<RunInfo>,
    /// Warnings that must be acknowledged before the first step.
    pub pending_warnings: Vec<String>,
    pub acknowledged_warnings: Vec<String>,
    /// The change notice the run started with, if any.
    pub change_notice: Option<ChangeNotice>,
    /// The change notice is still to be read (before the warnings and the
    /// first step).
    pub notice_pending: bool,
    /// Id of the current step.
    pub current: Option<String>,
    pub escalation: Option<Escalation>,
    pub steps: BTreeMap<String, StepState>,
    pub suspended: bool,
    pub outcome: Option<Outcome>,
    pub end_reason: Option<String>,
    /// Number of events applied.
    pub events: u64,
    /// The session that took the run up last, as the log records it
    /// (`run-started`, `resumed`, `recovered`).
    pub session: Option<SessionMark>,
    /// A step command that was started and whose result is not recorded:
    /// while one runs, or after its session ended while it ran.
    pub started_command: Option<StartedCommand>,
}

/// A step's command whose `command-started` is recorded and whose result is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedCommand {
    pub step: String,
    pub command: String,
    /// The `command-started` event's number in the run (`run_seq`).
    pub run_seq: u64,
}

/// What the front end knows when it starts a run.
#[derive(Debug, Clone)]
pub struct StartInfo {
    pub procedure_sha256: String,
    /// `toml` or `json`: the format of the source text.
    pub procedure_format: String,
    /// Where the procedure was loaded from (informational).
    pub source_path: String,
    /// Who starts it, and where.
    pub operator: Operator,
    pub runsheet_version: String,
    /// Today's date (UTC), for the review-overdue warning.
    pub today: NaiveDate,
    /// The clock's synchronisation state at the start (recorded as is).
    pub clock: Option<crate::clock::ClockState>,
    /// The process id of the session starting it (recorded as is).
    pub pid: Option<u32>,
    /// Whether the log records an approval of this content, and its latest
    /// review (the app reads them; default: not checked, none).
    pub control: crate::procedure::control::StartControl,
    /// What changed since the operator last ran the procedure, if it did.
    pub change_notice: Option<ChangeNotice>,
    /// A practice run (`run --drill`).
    pub drill: bool,
}

#[cfg(test)]
impl StartInfo {
    /// A start by `alice` on host `h` of a `test.toml` whose hash is `x`,
    /// on 2026-11-01, with no clock state (unit tests).
    pub(crate) fn for_tests() -> StartInfo {
        StartInfo {
            procedure_sha256: "x".into(),
            procedure_format: "toml".into(),
            source_path: "test.toml".into(),
            operator: Operator::new("alice", None, "h"),
            runsheet_version: "0".into(),
            change_notice: None,
            today: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default(),
            clock: None,
            pid: None,
            control: Default::default(),
            drill: false,
        }
    }
}

/// Warnings about the procedure's document control that the operator must
/// acknowledge: the file names no approver, the exact content has no
/// recorded approval by an approver (when checked), the review is overdue
/// (from the latest recorded review, else the file's dates) or has no date.
pub fn document_warnings(p: &Procedure, info: &StartInfo) -> Vec<String> {
    use crate::procedure::control::{self, ApprovalCheck};
    let mut w = Vec::new();
    if p.approver.is_none() || p.approved.is_none() {
        w.push(format!(
            "procedure {} v{} names no approver and approved date in its file",
            p.id, p.version
        ));
    }
    if info.control.approval == ApprovalCheck::Missing {
        w.push(control::unapproved_warning(p, &info.procedure_sha256));
    }
    match control::next_review(p, info.control.last_review.as_ref()) {
        Some((due, from)) if due < info.today => w.push(format!(
            "procedure {} v{} was due for review on {due} ({})",
            p.id,
            p.version,
            from.words()
        )),
        Some(_) => {}
        None => w.push(format!(
            "procedure {} v{} has no review date",
            p.id, p.version
        )),
    }
    w
}

/// The events that start a run: `run-started`, then the first step unless
/// there is a change notice to read or there are warnings to acknowledge first.
pub fn start(p: &Procedure, info: &StartInfo) -> Vec<Event> {
    let warnings = document_warnings(p, info);
    let mut events = vec![Event::RunStarted {
        procedure_id: p.id.clone(),
        procedure_version: p.version.clone(),
        procedure_sha256: info.procedure_sha256.clone(),
        procedure_title: p.title.clone(),
        procedure_controls: p.controls.clone(),
        procedure_format: info.procedure_format.clone(),
        source_path: info.source_path.clone(),
        operator: info.operator.user.clone(),
        operator_name: info.operator.name.clone(),
        host: info.operator.host.clone(),
        pid: info.pid,
        runsheet_version: info.runsheet_version.clone(),
        warnings: warnings.clone(),
        change_notice: info.change_notice.clone().map(Box::new),
        clock: info.clock.clone().map(Box::new),
        drill: info.drill,
    }];
    if warnings.is_empty() && info.change_notice.is_none() {
        events.extend(first_step(p));
    }
    events
}

fn first_step(p: &Procedure) -> Vec<Event> {
    match p.steps.first() {
        Some(s) => vec![Event::StepStarted { step: s.id.clone() }],
        None => vec![Event::RunEnded {
            outcome: Outcome::Completed,
            reason: None,
        }],
    }
}

impl Run {
    /// A run with no events yet.
    pub fn new(procedure: Procedure) -> Run {
        Run {
            procedure,
            info: None,
            pending_warnings: Vec::new(),
            acknowledged_warnings: Vec::new(),
            change_notice: None,
            notice_pending: false,
            current: None,
            escalation: None,
            steps: BTreeMap::new(),
            suspended: false,
            outcome: None,
            end_reason: None,
            events: 0,
            session: None,
            started_command: None,
        }
    }

    /// Rebuild a run from its stored events (resume). Uses the same `apply` as the live path.
    pub fn replay<'a>(procedure: Procedure, events: impl IntoIterator<Item = &'a Event>) -> Run {
        let mut run = Run::new(procedure);
        for e in events {
            run.apply(e);
        }
        run
    }

    /// The current step.
    pub fn current_step(&self) -> Option<&Step> {
        self.current
            .as_deref()
            .and_then(|id| self.procedure.step(id))
            .map(|(s, _)| s)
    }

    /// What is recorded for a step (default: nothing yet).
    pub fn state(&self, step: &str) -> StepState {
        self.steps.get(step).cloned().unwrap_or_default()
    }

    /// Status of a step.
    pub fn status(&self, step: &str) -> StepStatus {
        self.steps.get(step).map(|s| s.status).unwrap_or_default()
    }

    /// True once the run has an outcome.
    pub fn is_ended(&self) -> bool {
        self.outcome.is_some()
    }

    /// Main-path steps finished (done or skipped) and the total.
    pub fn progress(&self) -> (usize, usize) {
        let done = self
            .procedure
            .steps
            .iter()
            .filter(|s| matches!(self.status(&s.id), StepStatus::Done | StepStatus::Skipped))
            .count();
        (done, self.procedure.steps.len())
    }

    /// Steps done and skipped, failures, escalations entered and notes, over all steps.
    pub fn tally(&self) -> Tally {
        self.steps.values().fold(Tally::default(), |mut t, st| {
            match st.status {
                StepStatus::Done => t.done += 1,
                StepStatus::Skipped => t.skipped += 1,
                _ => {}
            }
            t.failures += st.failures.len();
            t.escalations += st.escalations;
            t.notes += st.notes.len();
            t
        })
    }

    /// The escalation branch the run is in.
    pub fn active_branch(&self) -> Option<&Branch> {
        self.escalation
            .as_ref()
            .and_then(|e| self.procedure.branch(&e.branch))
    }

    /// Requirements of the current step, with whether each is met.
    pub fn requirements(&self) -> Vec<Requirement> {
        let Some(step) = self.current_step() else {
            return Vec::new();
        };
        let st = self.state(&step.id);
        let mut reqs = Vec::new();
        match step.kind() {
            StepKind::Confirm => {}
            StepKind::Decision(d) => reqs.push(Requirement {
                what: RequirementKind::Answer(d.question.clone()),
                met: st.answer.is_some(),
            }),
            StepKind::Value(v) => reqs.push(Requirement {
                what: RequirementKind::Value {
                    label: v.label.clone(),
                    required: v.required,
                },
                met: st.value.is_some() || !v.required,
            }),
            StepKind::Command(c) => {
                let expect = c.expect_exit.unwrap_or(0);
                reqs.push(Requirement {
                    what: RequirementKind::Command {
                        run: c.run.clone(),
                        expect_exit: expect,
                        skippable: self.may_skip(step).is_ok(),
                    },
                    met: st
                        .last_command
                        .as_ref()
                        .is_some_and(|r| r.exit_code == Some(expect))
                        || (self.rehearses_instead(c) && st.rehearsal.is_some()),
                });
            }
        }
        if let Some(prompt) = &step.note {
            reqs.push(Requirement {
                what: RequirementKind::Note(prompt.clone()),
                met: st.attempt_notes > 0,
            });
        }
        if let Some(prompt) = &step.evidence {
            reqs.push(Requirement {
                what: RequirementKind::Evidence(prompt.clone()),
                met: st.evidence.is_some(),
            });
        }
        if let Some(role) = &step.signoff {
            let title = self
                .procedure
                .role(role)
                .map(|r| r.title.clone())
                .unwrap_or_else(|| role.clone());
            reqs.push(Requirement {
                what: RequirementKind::SignOff(title),
                met: st.signed_off_by.is_some(),
            });
        }
        reqs
    }

    /// A practice run (`run --drill`).
    pub fn is_drill(&self) -> bool {
        self.info.as_ref().is_some_and(|i| i.drill)
    }

    /// In this run, `command` is not run: the operator says what they would
    /// have done (a drill, and the step does not mark it safe to rehearse).
    pub fn rehearses_instead(&self, command: &crate::procedure::CommandSpec) -> bool {
        self.is_drill() && !command.safe_to_rehearse
    }

    /// Whether `action` is possible now, before any text it needs is typed:
    /// everything [`Run::decide`] checks that does not depend on that text
    /// (or on which step a stale screen names). A front end asks this before
    /// it asks the operator for a reason or a note.
    pub fn allows(&self, action: Action) -> Result<(), Refusal> {
        self.check(action, None, false)
    }

    /// The actions that belong on the screen for the run as it is (the
    /// footer, the plain prompt), in the order they are shown. An action
    /// listed may still be refused (a requirement not met yet): the refusal
    /// says why.
    pub fn offered(&self) -> Vec<Action> {
        let mut out = Vec::new();
        if self.is_ended() {
            return out;
        }
        if self.notice_pending || !self.pending_warnings.is_empty() {
            return vec![Action::GoAhead, Action::Abort, Action::Suspend];
        }
        if self.started_command.is_some() {
            return vec![Action::AccountForCommand, Action::Abort, Action::Suspend];
        }
        if let Some(step) = self.current_step() {
            match step.kind() {
                StepKind::Decision(_) => out.extend([Action::Yes, Action::No]),
                StepKind::Command(_) => out.extend([Action::RunCommand, Action::Confirm]),
                StepKind::Value(_) => out.push(Action::Value),
                StepKind::Confirm => out.push(Action::Confirm),
            }
            out.push(Action::Note);
            if step.evidence.is_some() {
                out.push(Action::Evidence);
            }
            // Not once signed off: a second sign-off is refused.
            if step.signoff.is_some() && self.state(&step.id).signed_off_by.is_none() {
                out.push(Action::SignOff);
            }
            out.push(Action::Fail);
            if self.may_skip(step).is_ok() {
                out.push(Action::Skip);
            }
        }
        if !self.correctable().is_empty() {
            out.push(Action::Correct);
        }
        out.extend([Action::Abort, Action::Suspend]);
        out
    }

    /// Whether `step` may be skipped: not when critical, nor when it is an
    /// escalation branch's step the procedure does not mark `skippable`.
    fn may_skip(&self, step: &Step) -> Result<(), Refusal> {
        if step.critical {
            return Err(Refusal::Critical);
        }
        let in_branch = matches!(
            self.procedure.step(&step.id),
            Some((_, StepPlace::Branch(..)))
        );
        if in_branch && !step.skippable {
            return Err(Refusal::EscalationStep);
        }
        Ok(())
    }

    /// The checks of `action` that need no text, in the order `decide` makes
    /// them; `named` is the step a command names (checked to be current);
    /// `result_of_started` when the command records the result of the
    /// command that was started (the one thing that may follow it).
    fn check(
        &self,
        action: Action,
        named: Option<&str>,
        result_of_started: bool,
    ) -> Result<(), Refusal> {
        if let Some(outcome) = self.outcome {
            return Err(Refusal::Ended(outcome));
        }
        if self.info.is_none() {
            return Err(Refusal::NotStarted);
        }
        match action {
            Action::TakeUp => return Ok(()),
            Action::Resume if self.suspended => return Ok(()),
            Action::Resume => return Err(Refusal::NotSuspended),
            Action::Abort => return Ok(()),
            _ if self.suspended => return Err(Refusal::Suspended),
            Action::Suspend => return Ok(()),
            Action::Correct if self.correctable().is_empty() => {
                return Err(Refusal::NothingToCorrect {
                    step: String::new(),
                });
            }
            Action::AccountForCommand if self.started_command.is_some() => return Ok(()),
            Action::AccountForCommand => return Err(Refusal::NoInterruptedCommand),
            _ if self.started_command.is_some() && !result_of_started => {
                return Err(Refusal::CommandUnaccounted {
                    command: self
                        .started_command
                        .as_ref()
                        .map(|c| c.command.clone())
                        .unwrap_or_default(),
                });
            }
            Action::Correct => return Ok(()),
            Action::GoAhead if self.pending_warnings.is_empty() && !self.notice_pending => {
                return Err(Refusal::NoWarnings);
            }
            Action::GoAhead => return Ok(()),
            _ if self.notice_pending => return Err(Refusal::ChangeNoticePending),
            _ if !self.pending_warnings.is_empty() => return Err(Refusal::WarningsPending),
            _ => {}
        }
        let Some(step) = self.current_step() else {
            return Err(Refusal::NoCurrentStep);
        };
        if let Some(named) = named
            && named != step.id
        {
            return Err(Refusal::NotCurrent {
                step: named.to_string(),
                current: step.id.clone(),
            });
        }
        let kind = step.kind();
        match action {
            Action::Confirm if matches!(kind, StepKind::Decision(_)) => Err(Refusal::IsQuestion),
            Action::Confirm => self.check_requirements(),
            Action::Yes | Action::No => {
                if !matches!(kind, StepKind::Decision(_)) {
                    return Err(Refusal::NotQuestion);
                }
                self.check_requirements_except_answer()
            }
            Action::Value if !matches!(kind, StepKind::Value(_)) => Err(Refusal::NoValue),
            Action::Evidence if step.evidence.is_none() => Err(Refusal::NoEvidence),
            Action::RunCommand if !matches!(kind, StepKind::Command(_)) => Err(Refusal::NoCommand),
            Action::SignOff => match &step.signoff {
                None => Err(Refusal::NoSignOff),
                Some(_) if self.state(&step.id).signed_off_by.is_some() => {
                    Err(Refusal::AlreadySignedOff)
                }
                Some(_) => Ok(()),
            },
            Action::Skip => self.may_skip(step),
            _ => Ok(()),
        }
    }

    /// Turn a command into the events it causes, or refuse it. Pure: the state is not changed.
    pub fn decide(&self, command: &Command, meta: &Meta) -> Result<Vec<Event>, Refusal> {
        let (named, rest) = step_of(command);
        let result_of_started = matches!(
            (command, &self.started_command),
            (Command::RecordCommand { step, .. }, Some(started)) if *step == started.step
        );
        // A second person's sign-off may arrive while the run is suspended
        // or its command runs: it is their act, not the operator's.
        let second_person = matches!(
            command,
            Command::SignOffSigned { .. }
                | Command::SignOffLogin { .. }
                | Command::RefuseSignOff { .. }
        );
        if second_person && (self.suspended || self.started_command.is_some()) {
            let mut waiting = self.clone();
            waiting.suspended = false;
            waiting.started_command = None;
            waiting.check(command.action(), named, false)?;
        } else {
            self.check(command.action(), named, result_of_started)?;
        }
        match command {
            Command::Resume => {
                return Ok(vec![Event::Resumed {
                    clock: None,
                    session: None,
                }]);
            }
            Command::TakeUp {
                previous_last_event_at,
                handover,
            } => return self.take_up(previous_last_event_at, handover.as_deref()),
            Command::Correct {
                step,
                value,
                answer,
                reason,
            } => return self.correct(step, value.as_deref(), *answer, reason),
            Command::AccountForCommand {
                step,
                started_at,
                account,
            } => {
                let Some(started) = &self.started_command else {
                    return Err(Refusal::NoInterruptedCommand);
                };
                if &started.step != step {
                    return Err(Refusal::NotCurrent {
                        step: step.clone(),
                        current: started.step.clone(),
                    });
                }
                let account = non_empty(account, "say what became of the command")?;
                return Ok(vec![Event::CommandInterrupted {
                    step: step.clone(),
                    command: started.command.clone(),
                    started_at: started_at.clone(),
                    account,
                }]);
            }
            Command::Abort { reason } => {
                let reason = non_empty(reason, "say why the run is aborted")?;
                return Ok(vec![Event::RunEnded {
                    outcome: Outcome::Aborted,
                    reason: Some(reason),
                }]);
            }
            Command::Suspend => return Ok(vec![Event::Suspended]),
            Command::AcknowledgeWarnings if self.notice_pending => {
                let Some(notice) = self.change_notice.as_ref() else {
                    return Err(Refusal::NoWarnings);
                };
                let mut events = vec![Event::ChangeNoticeSeen {
                    from_version: notice.from_version.clone(),
                    from_sha256: notice.from_sha256.clone(),
                    summary: notice.summary.clone(),
                }];
                if self.pending_warnings.is_empty() {
                    events.extend(first_step(&self.procedure));
                }
                return Ok(events);
            }
            Command::AcknowledgeWarnings => {
                let mut events = vec![Event::WarningsAcknowledged {
                    warnings: self.pending_warnings.clone(),
                }];
                events.extend(first_step(&self.procedure));
                return Ok(events);
            }
            _ => {}
        }
        let Some(current) = self.current_step() else {
            return Err(Refusal::NoCurrentStep);
        };
        self.decide_step(current, rest, meta)
    }

    /// A new session takes the run up: resumed when suspended, else
    /// recovered from a session that ended without suspending; handed over
    /// when a reason is given.
    fn take_up(
        &self,
        previous_last_event_at: &str,
        handover: Option<&str>,
    ) -> Result<Vec<Event>, Refusal> {
        let mut events = vec![if self.suspended {
            Event::Resumed {
                clock: None,
                session: None,
            }
        } else {
            Event::Recovered {
                previous: self.session.clone(),
                previous_last_event_at: previous_last_event_at.to_string(),
                clock: None,
                session: None,
            }
        }];
        if let Some(reason) = handover {
            let reason = non_empty(reason, "say why you take the run over")?;
            events.push(Event::HandedOver {
                from: self.last_operator(),
                reason,
            });
        }
        Ok(events)
    }

    /// How events name the operator of the session that took the run up last.
    pub fn last_operator(&self) -> String {
        self.session
            .as_ref()
            .map(|s| crate::vocab::actor(&s.operator, s.operator_name.as_deref()))
            .unwrap_or_default()
    }

    /// The current step, while it waits for its second person's sign-off
    /// (the run open, the step's sign-off not given in this attempt).
    pub fn awaiting_sign_off(&self) -> Option<&str> {
        if self.outcome.is_some() {
            return None;
        }
        let step = self.current_step()?;
        (step.signoff.is_some() && self.state(&step.id).signed_off_by.is_none())
            .then_some(step.id.as_str())
    }

    /// The steps a correction may refer to, in procedure order: finished
    /// (not the current one) with a value, an answer or a confirmation
    /// recorded in their last attempt.
    pub fn correctable(&self) -> Vec<&Step> {
        self.procedure
            .all_steps()
            .filter(|s| self.current.as_deref() != Some(s.id.as_str()))
            .filter(|s| self.steps.get(&s.id).is_some_and(|st| st.record.is_some()))
            .collect()
    }

    /// A correction of what `step` recorded: its value (`value`, checked
    /// against the step's specification), its answer (`answer`), or its
    /// confirmation (neither), with a reason; the original event stays.
    fn correct(
        &self,
        step: &str,
        value: Option<&str>,
        answer: Option<bool>,
        reason: &str,
    ) -> Result<Vec<Event>, Refusal> {
        self.check(Action::Correct, None, false)?;
        let Some(record) = self
            .correctable()
            .into_iter()
            .find(|s| s.id == step)
            .and_then(|s| self.state(&s.id).record)
        else {
            return Err(Refusal::NothingToCorrect {
                step: step.to_string(),
            });
        };
        let spec = self.procedure.step(step).map(|(s, _)| s.kind());
        let (value, answer) = match (record.kind, spec) {
            (EventKind::ValueRecorded, Some(StepKind::Value(v))) => {
                let v = validate_value(v, value.unwrap_or_default())?;
                (Some(v), None)
            }
            (EventKind::DecisionAnswered, _) => match answer {
                Some(a) => (None, Some(a)),
                None => return Err(Refusal::Empty("say what the right answer was: yes or no")),
            },
            _ => (None, None),
        };
        let reason = non_empty(reason, "say why the record is corrected")?;
        Ok(vec![Event::Corrected {
            step: step.to_string(),
            corrects: record.kind.as_str().to_string(),
            run_seq: record.run_seq,
            value,
            answer,
            reason,
        }])
    }

    /// A sign-off by the operator of the run or of this session (`actor`:
    /// none when the sign-off comes from the second person's own session,
    /// whose actor is the signer) is refused; so is one by the operator of
    /// the session that took the run up last.
    fn refuse_own_sign_off(
        &self,
        step: &Step,
        by: &str,
        actor: Option<&str>,
    ) -> Result<(), Refusal> {
        let own = actor.is_some_and(|a| same_person(by, a))
            || self.session.as_ref().is_some_and(|s| {
                same_person(by, &s.operator)
                    || s.operator_name
                        .as_deref()
                        .is_some_and(|n| same_person(by, n))
            })
            || self.info.as_ref().is_some_and(|i| {
                same_person(by, &i.operator.user)
                    || i.operator
                        .name
                        .as_deref()
                        .is_some_and(|n| same_person(by, n))
            });
        if own {
            return Err(Refusal::OwnSignOff {
                role: step.signoff.clone().unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// The events of a step command whose text-free checks (`check`) passed.
    fn decide_step(
        &self,
        step: &Step,
        cmd: StepCmd<'_>,
        meta: &Meta,
    ) -> Result<Vec<Event>, Refusal> {
        let id = step.id.clone();
        match cmd {
            StepCmd::Confirm => {
                let mut events = vec![Event::StepConfirmed { step: id }];
                events.extend(self.route(step, step.next.clone(), None)?);
                Ok(events)
            }
            StepCmd::Answer(yes) => {
                let StepKind::Decision(d) = step.kind() else {
                    return Err(Refusal::NotQuestion);
                };
                let target = if yes { d.yes.clone() } else { d.no.clone() };
                let mut events = vec![Event::DecisionAnswered {
                    step: id,
                    answer: yes,
                }];
                let reason = format!(
                    "answered {} to: {}",
                    if yes { "yes" } else { "no" },
                    d.question
                );
                events.extend(self.route(step, Some(target), Some(reason))?);
                Ok(events)
            }
            StepCmd::Value(value) => {
                let StepKind::Value(spec) = step.kind() else {
                    return Err(Refusal::NoValue);
                };
                let value = validate_value(spec, value)?;
                Ok(vec![Event::ValueRecorded { step: id, value }])
            }
            StepCmd::Evidence(text) => {
                let evidence = non_empty(text, "the evidence cannot be empty")?;
                Ok(vec![Event::EvidenceRecorded { step: id, evidence }])
            }
            StepCmd::Started(command) => {
                let StepKind::Command(c) = step.kind() else {
                    return Err(Refusal::NoCommand);
                };
                if command != c.run {
                    return Err(Refusal::WrongCommand);
                }
                if self.rehearses_instead(c) {
                    return Err(Refusal::NotRehearsable);
                }
                Ok(vec![Event::CommandStarted {
                    step: id,
                    command: command.to_string(),
                }])
            }
            StepCmd::CommandRan(result) => {
                let StepKind::Command(c) = step.kind() else {
                    return Err(Refusal::NoCommand);
                };
                if result.command != c.run {
                    return Err(Refusal::WrongCommand);
                }
                Ok(vec![Event::CommandRan {
                    step: id,
                    result: result.clone(),
                }])
            }
            StepCmd::Rehearsed(text) => {
                let StepKind::Command(c) = step.kind() else {
                    return Err(Refusal::NoCommand);
                };
                if !self.rehearses_instead(c) {
                    return Err(Refusal::NothingToRehearse);
                }
                let rehearsal = non_empty(text, "say what you would have done")?;
                Ok(vec![Event::CommandRehearsed {
                    step: id,
                    command: c.run.clone(),
                    rehearsal,
                }])
            }
            StepCmd::Note(text) => {
                let text = non_empty(text, "the note is empty")?;
                Ok(vec![Event::NoteAdded { step: id, text }])
            }
            StepCmd::SignOff(by) => {
                let by = non_empty(by, "type the name of the person signing off")?;
                if !step.typed_signoff {
                    return Err(Refusal::TypedSignOff);
                }
                self.refuse_own_sign_off(step, &by, Some(&meta.actor))?;
                Ok(vec![Event::SignedOff {
                    step: id,
                    by,
                    method: Some(SignOffMethod::Typed),
                    ssh: None,
                    login: None,
                }])
            }
            StepCmd::Signed(ssh) => {
                self.refuse_own_sign_off(step, &ssh.principal, None)?;
                Ok(vec![Event::SignedOff {
                    step: id,
                    by: ssh.principal.clone(),
                    method: Some(SignOffMethod::Ssh),
                    ssh: Some(ssh.clone()),
                    login: None,
                }])
            }
            StepCmd::Login(login) => {
                self.refuse_own_sign_off(step, &login.user, None)?;
                Ok(vec![Event::SignedOff {
                    step: id,
                    by: login.user.clone(),
                    method: Some(SignOffMethod::Login),
                    ssh: None,
                    login: Some(login.clone()),
                }])
            }
            StepCmd::RefusedSignOff(by, reason) => Ok(vec![Event::SignOffRefused {
                step: id,
                by: by.to_string(),
                reason: non_empty(reason, "say why the sign-off was refused")?,
            }]),
            StepCmd::Fail(reason) => {
                let reason = non_empty(reason, "say why the step failed")?;
                Ok(self.fail(step, reason))
            }
            StepCmd::Skip(justification) => {
                let justification = non_empty(justification, "a skip needs a justification")?;
                let mut events = vec![Event::StepSkipped {
                    step: id,
                    justification,
                }];
                events.extend(self.route(step, step.next.clone(), None)?);
                Ok(events)
            }
        }
    }

    fn check_requirements(&self) -> Result<(), Refusal> {
        match self.requirements().into_iter().find(|r| !r.met) {
            None => Ok(()),
            Some(r) => Err(Refusal::Unmet(r.what)),
        }
    }

    fn check_requirements_except_answer(&self) -> Result<(), Refusal> {
        match self
            .requirements()
            .into_iter()
            .find(|r| !r.met && !matches!(r.what, RequirementKind::Answer(_)))
        {
            None => Ok(()),
            Some(r) => Err(Refusal::Unmet(r.what)),
        }
    }

    /// A step failed: enter its escalation branch, or end the run failed.
    fn fail(&self, step: &Step, reason: String) -> Vec<Event> {
        let in_branch = self.escalation.is_some();
        let branch = if in_branch {
            None
        } else {
            self.procedure.escalation_for(step)
        };
        let mut events = vec![Event::StepFailed {
            step: step.id.clone(),
            reason: reason.clone(),
            branch: branch.map(|b| b.id.clone()),
            contact: branch.and_then(|b| b.contact.clone()),
        }];
        match branch.and_then(|b| b.steps.first()) {
            Some(first) => events.push(Event::StepStarted {
                step: first.id.clone(),
            }),
            None => events.push(Event::RunEnded {
                outcome: Outcome::Failed,
                reason: Some(if in_branch {
                    format!("escalation step `{}` failed: {reason}", step.id)
                } else {
                    format!(
                        "step `{}` failed with no escalation branch: {reason}",
                        step.id
                    )
                }),
            }),
        }
        events
    }

    /// Where the flow goes after `step`: explicit `target`, else the next step in its list.
    fn route(
        &self,
        step: &Step,
        target: Option<Target>,
        fail_reason: Option<String>,
    ) -> Result<Vec<Event>, Refusal> {
        let place = self
            .procedure
            .step(&step.id)
            .map(|(_, p)| p)
            .ok_or_else(|| Refusal::Procedure(format!("unknown step `{}`", step.id)))?;
        let target = target.unwrap_or_else(|| self.following(place));
        Ok(match target {
            Target::Step(id) => {
                if self.procedure.step(&id).is_none() {
                    return Err(Refusal::Procedure(format!(
                        "the procedure sends the run to unknown step `{id}`"
                    )));
                }
                vec![Event::StepStarted { step: id }]
            }
            Target::End => match place {
                StepPlace::Main(_) => vec![Event::RunEnded {
                    outcome: Outcome::Completed,
                    reason: None,
                }],
                StepPlace::Branch(b, _) => self.end_branch(self.procedure.branches[b].then)?,
            },
            Target::Fail => self.fail(
                step,
                fail_reason.unwrap_or_else(|| "the procedure marks this as a failure".into()),
            ),
            Target::Branch(end) => self.end_branch(end)?,
        })
    }

    /// The default successor of a step: the next one in its list, or `end`.
    fn following(&self, place: StepPlace) -> Target {
        let next = match place {
            StepPlace::Main(i) => self.procedure.steps.get(i + 1),
            StepPlace::Branch(b, i) => self.procedure.branches[b].steps.get(i + 1),
        };
        next.map(|s| Target::Step(s.id.clone()))
            .unwrap_or(Target::End)
    }

    fn end_branch(&self, then: BranchEnd) -> Result<Vec<Event>, Refusal> {
        let Some(esc) = &self.escalation else {
            return Err(Refusal::Procedure(format!(
                "`{}` is only possible inside an escalation branch",
                then.as_str()
            )));
        };
        let mut events = vec![Event::BranchEnded {
            branch: esc.branch.clone(),
            failed_step: esc.failed_step.clone(),
            then,
        }];
        match then {
            BranchEnd::Retry => events.push(Event::StepStarted {
                step: esc.failed_step.clone(),
            }),
            BranchEnd::Continue => {
                let (failed, place) = self.procedure.step(&esc.failed_step).ok_or_else(|| {
                    Refusal::Procedure(format!("unknown step `{}`", esc.failed_step))
                })?;
                let target = failed.next.clone().unwrap_or_else(|| self.following(place));
                match target {
                    Target::Step(id) => events.push(Event::StepStarted { step: id }),
                    _ => events.push(Event::RunEnded {
                        outcome: Outcome::Completed,
                        reason: None,
                    }),
                }
            }
            BranchEnd::EndEscalated => events.push(Event::RunEnded {
                outcome: Outcome::Escalated,
                reason: Some(format!(
                    "escalated after step `{}` failed: {}",
                    esc.failed_step, esc.reason
                )),
            }),
            BranchEnd::EndFailed => events.push(Event::RunEnded {
                outcome: Outcome::Failed,
                reason: Some(format!("step `{}` failed: {}", esc.failed_step, esc.reason)),
            }),
        }
        Ok(events)
    }

    /// Fold one event into the state. Never fails: events are facts.
    pub fn apply(&mut self, event: &Event) {
        self.events += 1;
        match event {
            Event::RunStarted {
                procedure_id,
                procedure_version,
                procedure_sha256,
                operator,
                operator_name,
                host,
                pid,
                runsheet_version,
                warnings,
                change_notice,
                drill,
                ..
            } => {
                self.change_notice = change_notice.as_deref().cloned();
                self.notice_pending = change_notice.is_some();
                self.session = Some(SessionMark {
                    operator: operator.clone(),
                    operator_name: operator_name.clone(),
                    host: host.clone(),
                    pid: *pid,
                });
                self.info = Some(RunInfo {
                    procedure_id: procedure_id.clone(),
                    procedure_version: procedure_version.clone(),
                    procedure_sha256: procedure_sha256.clone(),
                    operator: Operator {
                        user: operator.clone(),
                        name: operator_name.clone(),
                        host: host.clone(),
                    },
                    runsheet_version: runsheet_version.clone(),
                    drill: *drill,
                });
                self.pending_warnings = warnings.clone();
            }
            Event::WarningsAcknowledged { warnings } => {
                self.acknowledged_warnings = warnings.clone();
                self.pending_warnings.clear();
            }
            Event::ChangeNoticeSeen { .. } => self.notice_pending = false,
            Event::StepStarted { step } => {
                let st = self.steps.entry(step.clone()).or_default();
                st.status = StepStatus::Current;
                st.attempts += 1;
                st.attempt_notes = 0;
                st.last_command = None;
                st.value = None;
                st.evidence = None;
                st.answer = None;
                st.signed_off_by = None;
                st.sign_off_method = None;
                st.record = None;
                self.current = Some(step.clone());
            }
            Event::StepConfirmed { step } => {
                let run_seq = self.events;
                let st = self.entry(step);
                st.record.get_or_insert(StepRecord {
                    kind: EventKind::StepConfirmed,
                    run_seq,
                });
                st.status = StepStatus::Done;
                self.current = None;
            }
            Event::DecisionAnswered { step, answer } => {
                let run_seq = self.events;
                let st = self.entry(step);
                st.answer = Some(*answer);
                st.record = Some(StepRecord {
                    kind: EventKind::DecisionAnswered,
                    run_seq,
                });
                st.status = StepStatus::Done;
                self.current = None;
            }
            Event::ValueRecorded { step, value } => {
                let run_seq = self.events;
                let st = self.entry(step);
                st.value = Some(value.clone());
                st.record = Some(StepRecord {
                    kind: EventKind::ValueRecorded,
                    run_seq,
                });
            }
            Event::EvidenceRecorded { step, evidence } => {
                self.entry(step).evidence = Some(evidence.clone())
            }
            Event::CommandRan { step, result } => {
                self.started_command = None;
                let st = self.entry(step);
                st.commands.push(result.clone());
                st.last_command = Some(result.clone());
            }
            Event::CommandRehearsed {
                step, rehearsal, ..
            } => self.entry(step).rehearsal = Some(rehearsal.clone()),
            Event::NoteAdded { step, text } => {
                let st = self.entry(step);
                st.notes.push(text.clone());
                st.attempt_notes += 1;
            }
            Event::SignedOff {
                step, by, method, ..
            } => {
                let st = self.entry(step);
                st.signed_off_by = Some(by.clone());
                st.sign_off_method = *method;
            }
            Event::SignOffRefused { .. } => {}
            Event::Corrected {
                step,
                value,
                answer,
                reason,
                ..
            } => {
                let st = self.entry(step);
                if value.is_some() {
                    st.value.clone_from(value);
                }
                if answer.is_some() {
                    st.answer = *answer;
                }
                st.corrections.push(reason.clone());
            }
            Event::StepSkipped {
                step,
                justification,
            } => {
                let st = self.entry(step);
                st.status = StepStatus::Skipped;
                st.skip_justification = Some(justification.clone());
                self.current = None;
            }
            Event::StepFailed {
                step,
                reason,
                branch,
                ..
            } => {
                let st = self.entry(step);
                st.failures.push(reason.clone());
                st.escalations += usize::from(branch.is_some());
                st.status = if branch.is_some() {
                    StepStatus::Escalated
                } else {
                    StepStatus::Failed
                };
                if let Some(branch) = branch {
                    self.escalation = Some(Escalation {
                        branch: branch.clone(),
                        failed_step: step.clone(),
                        reason: reason.clone(),
                    });
                }
                self.current = None;
            }
            Event::BranchEnded { .. } => {
                self.escalation = None;
                self.current = None;
            }
            Event::Suspended => self.suspended = true,
            Event::Resumed { session, .. } | Event::Recovered { session, .. } => {
                self.suspended = false;
                if session.is_some() {
                    self.session.clone_from(session);
                }
            }
            Event::HandedOver { .. } => {}
            Event::CommandStarted { step, command } => {
                self.started_command = Some(StartedCommand {
                    step: step.clone(),
                    command: command.clone(),
                    run_seq: self.events,
                });
            }
            Event::CommandInterrupted { .. } => self.started_command = None,
            Event::RunEnded { outcome, reason } => {
                self.outcome = Some(*outcome);
                self.end_reason = reason.clone();
                self.started_command = None;
                self.current = None;
                self.suspended = false;
            }
        }
    }

    fn entry(&mut self, step: &str) -> &mut StepState {
        self.steps.entry(step.to_string()).or_default()
    }
}

/// A step command without its step id.
enum StepCmd<'a> {
    Confirm,
    Answer(bool),
    Value(&'a str),
    Evidence(&'a str),
    Started(&'a str),
    CommandRan(&'a CommandResult),
    Rehearsed(&'a str),
    Note(&'a str),
    SignOff(&'a str),
    Signed(&'a SshSignOff),
    Login(&'a LoginSignOff),
    RefusedSignOff(&'a str, &'a str),
    Fail(&'a str),
    Skip(&'a str),
}

fn step_of(c: &Command) -> (Option<&str>, StepCmd<'_>) {
    match c {
        Command::Confirm { step } => (Some(step), StepCmd::Confirm),
        Command::Answer { step, yes } => (Some(step), StepCmd::Answer(*yes)),
        Command::RecordValue { step, value } => (Some(step), StepCmd::Value(value)),
        Command::RecordEvidence { step, evidence } => (Some(step), StepCmd::Evidence(evidence)),
        Command::StartCommand { step, command } => (Some(step), StepCmd::Started(command)),
        Command::RecordCommand { step, result } => (Some(step), StepCmd::CommandRan(result)),
        Command::RehearseCommand { step, rehearsal } => (Some(step), StepCmd::Rehearsed(rehearsal)),
        Command::AddNote { step, text } => (Some(step), StepCmd::Note(text)),
        Command::SignOff { step, by } => (Some(step), StepCmd::SignOff(by)),
        Command::SignOffSigned { step, ssh } => (Some(step), StepCmd::Signed(ssh)),
        Command::SignOffLogin { step, login } => (Some(step), StepCmd::Login(login)),
        Command::RefuseSignOff { step, by, reason } => {
            (Some(step), StepCmd::RefusedSignOff(by, reason))
        }
        Command::Fail { step, reason } => (Some(step), StepCmd::Fail(reason)),
        Command::Skip {
            step,
            justification,
        } => (Some(step), StepCmd::Skip(justification)),
        // Handled before step dispatch; mapped to a harmless no-step form.
        Command::AcknowledgeWarnings
        | Command::Suspend
        | Command::Resume
        | Command::TakeUp { .. }
        | Command::Correct { .. }
        | Command::AccountForCommand { .. }
        | Command::Abort { .. } => (None, StepCmd::Confirm),
    }
}

fn non_empty(s: &str, msg: &'static str) -> Result<String, Refusal> {
    let t = s.trim();
    if t.is_empty() {
        Err(Refusal::Empty(msg))
    } else {
        Ok(t.to_string())
    }
}

/// True when `by` names the same person as `operator`, which may be
/// `user` or `Display Name (user)`.
pub fn same_person(by: &str, operator: &str) -> bool {
    // Case, spaces and punctuation do not make another person (`Root.` is
    // `root`), nor does a mail domain (`root@example.com`).
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let mut names = vec![norm(by)];
    if let Some((local, _)) = by.split_once('@') {
        names.push(norm(local));
    }
    let mut ops = vec![norm(operator)];
    if let Some((name, rest)) = operator.split_once(" (") {
        ops.push(norm(name));
        ops.push(norm(rest.trim_end_matches(')')));
    }
    names
        .iter()
        .any(|n| !n.is_empty() && ops.iter().any(|o| o == n))
}

/// Check a value against its spec; returns the value to record (trimmed; a
/// choice in its canonical spelling).
pub fn validate_value(spec: &ValueSpec, raw: &str) -> Result<String, Refusal> {
    let v = raw.trim();
    if v.is_empty() {
        return if spec.required {
            invalid(format!("{} is required", spec.label))
        } else {
            Ok(String::new())
        };
    }
    match spec.kind {
        ValueKind::Text => Ok(v.to_string()),
        ValueKind::Number | ValueKind::Integer => {
            let n: f64 = if spec.kind == ValueKind::Integer {
                let whole = v.strip_prefix(['+', '-']).unwrap_or(v);
                if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
                    return invalid(format!("`{v}` is not a whole number"));
                }
                v.parse::<i64>()
                    .map_err(|_| Refusal::Invalid(format!("`{v}` is too large")))?
                    as f64
            } else {
                v.parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(|| Refusal::Invalid(format!("`{v}` is not a number")))?
            };
            if let Some(min) = spec.min
                && n < min
            {
                return invalid(format!("{v} is below the minimum {min}"));
            }
            if let Some(max) = spec.max
                && n > max
            {
                return invalid(format!("{v} is above the maximum {max}"));
            }
            Ok(v.to_string())
        }
        ValueKind::Choice => spec
            .choices
            .iter()
            .find(|c| c.eq_ignore_ascii_case(v))
            .cloned()
            .ok_or_else(|| {
                Refusal::Invalid(format!("`{v}` is not one of: {}", spec.choices.join(", ")))
            }),
        ValueKind::Pattern => {
            let pat = spec.pattern.as_deref().unwrap_or(".*");
            let re = Regex::new(&format!("^(?:{pat})$")).map_err(|_| {
                Refusal::Invalid(format!("the procedure's pattern `{pat}` is invalid"))
            })?;
            if re.is_match(v) {
                Ok(v.to_string())
            } else {
                let hint = spec
                    .hint
                    .as_deref()
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                invalid(format!("`{v}` does not match the expected format{hint}"))
            }
        }
    }
}

fn invalid<T>(words: String) -> Result<T, Refusal> {
    Err(Refusal::Invalid(words))
}
