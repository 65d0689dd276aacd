//! The application core. A live run: decide, persist, then apply — the one
//! path every front end uses to act on a run, so the screen only ever shows
//! what is durable; the operator flow both front ends drive ([`flow`]); and
//! where runs begin and are resumed ([`lifecycle`]).
//!
//! May not depend on rusqlite, ratatui, crossterm, the front ends or `app`:
//! persistence comes in through [`EventSink`] (the evidence log's is
//! [`StoreSink`], over the store's API) and time through [`Clock`].

pub mod flow;
pub mod lifecycle;
pub mod notice;
mod store_sink;

use chrono::{DateTime, Utc};

use crate::engine::{Command, Event, Meta, Outcome, Refusal, Run};
use crate::vocab::SessionMark;

pub use store_sink::{StoreSink, decode, new_event, new_run};

/// Why events could not be made durable: the sink's words (what, where,
/// what to do). Nothing of the action was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WriteFailed(pub String);

/// Where events are made durable (the evidence log, or memory in tests).
pub trait EventSink {
    /// Persist `events` for this run in one transaction; `ended` is set when
    /// the last event ends the run. Returns only after the commit.
    fn persist(
        &mut self,
        events: &[(Meta, Event)],
        ended: Option<(Outcome, DateTime<Utc>)>,
    ) -> Result<(), WriteFailed>;

    /// Something the operator should know about the last persist that does
    /// not undo it (e.g. no signed checkpoint could be made), once.
    fn take_notice(&mut self) -> Option<String> {
        None
    }

    /// The run's events another session recorded after its event number
    /// `after` (`run_seq`), with their times and actors; none from a sink
    /// that only this session writes to.
    fn since(&mut self, _after: u64) -> Result<Vec<(Meta, Event)>, String> {
        Ok(Vec::new())
    }
}

/// Checks a second person's SSH sign-off (the binary's is
/// `signoff::AllowedSigners`): `typed` is what the operator typed. `None`
/// when it is not a signature file (a typed name); else who signed
/// `message` in `namespace`, or why the signature does not do.
pub trait SignOffCheck {
    fn check(
        &self,
        typed: &str,
        message: &str,
        namespace: &str,
    ) -> Option<Result<crate::engine::SshSignOff, String>>;
}

/// Where drafts of notes being written are kept (the binary's is
/// `drafts::DraftFiles`, beside the log), per step of the session's run.
pub trait Drafts {
    /// The kept draft of a note on `step`, if any.
    fn load(&self, step: &str) -> Option<String>;
    /// Keep `text` as the draft (an empty text removes it).
    fn save(&self, step: &str, text: &str) -> Result<(), String>;
    /// The note was recorded: remove its draft.
    fn clear(&self, step: &str);
}

/// The time source (the system clock in the binary, a fixed one in tests).
pub trait Clock {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Why an action did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// The engine refused it; nothing was recorded.
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// The evidence could not be written; nothing was applied.
    #[error("NOT RECORDED: {0}")]
    NotRecorded(#[from] WriteFailed),
}

/// A run being worked on by one operator.
pub struct Session {
    run: Run,
    run_id: String,
    actor: String,
    sink: Box<dyn EventSink>,
    clock: Box<dyn Clock>,
    /// Time of the last durable event: times never go backwards within a run,
    /// even if the system clock is stepped back (verify checks the order).
    last_at: Option<DateTime<Utc>>,
    /// The clock's synchronisation state when this session began, recorded
    /// in the `resumed` event when it takes a suspended run up again.
    clock_state: Option<crate::clock::ClockState>,
    /// The start of the run id people are shown (unique in the log).
    label: Option<String>,
    /// This session, as the events that take the run up record it.
    mark: Option<SessionMark>,
    /// How this session takes up the run it opened from the log, until
    /// that is recorded.
    opening: Option<Opening>,
    /// When the command the run started and never recorded was started.
    command_started_at: Option<DateTime<Utc>>,
    /// How SSH sign-offs are checked (none: only typed names).
    sign_off_check: Option<Box<dyn SignOffCheck>>,
    /// Where note drafts are kept (none: nowhere).
    drafts: Option<Box<dyn Drafts>>,
    /// Events another session recorded for the run (a second person's
    /// sign-off), applied and not yet shown to the operator.
    arrived: Vec<(Meta, Event)>,
}

/// How a session opened from the log takes the run up (see
/// [`flow::open`]): the time of the run's last event before it, and the
/// reason for a handover when this session's operator is not the last
/// session's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    pub previous_last_event_at: DateTime<Utc>,
    pub handover: Option<String>,
}

impl Session {
    /// Wrap a run (new or replayed) for live use.
    pub fn new(
        run: Run,
        run_id: String,
        actor: String,
        sink: Box<dyn EventSink>,
        clock: Box<dyn Clock>,
    ) -> Session {
        Session {
            run,
            run_id,
            actor,
            sink,
            clock,
            last_at: None,
            clock_state: None,
            label: None,
            mark: None,
            opening: None,
            command_started_at: None,
            sign_off_check: None,
            drafts: None,
            arrived: Vec::new(),
        }
    }

    /// Keep drafts of notes in `drafts`.
    pub fn keeping_drafts(mut self, drafts: Box<dyn Drafts>) -> Session {
        self.drafts = Some(drafts);
        self
    }

    /// The kept draft of a note on `step`.
    pub fn draft(&self, step: &str) -> Option<String> {
        self.drafts.as_ref()?.load(step)
    }

    /// Keep `text` as the draft of a note on `step`; why it could not be kept.
    pub fn save_draft(&self, step: &str, text: &str) -> Result<(), String> {
        match &self.drafts {
            Some(d) => d.save(step, text),
            None => Ok(()),
        }
    }

    /// The note on `step` was recorded: its draft goes.
    pub fn clear_draft(&self, step: &str) {
        if let Some(d) = &self.drafts {
            d.clear(step);
        }
    }

    /// Check SSH sign-offs with `check`.
    pub fn checking_sign_offs(mut self, check: Box<dyn SignOffCheck>) -> Session {
        self.sign_off_check = Some(check);
        self
    }

    /// What `typed` means as the sign-off of `step`: a signature checked
    /// over the step's sign-off text (`Some(Ok)`), a signature that does
    /// not do (`Some(Err)`), or a name (`None`).
    pub fn check_sign_off(
        &self,
        step: &str,
        typed: &str,
    ) -> Option<Result<crate::engine::SshSignOff, String>> {
        let check = self.sign_off_check.as_ref()?;
        let (message, namespace) = self.sign_off_text(step)?;
        check.check(typed, &message, &namespace)
    }

    /// The text a second person signs to sign off `step` (its current
    /// attempt) and the namespace they sign it in, if the step has a sign-off.
    pub fn sign_off_text(&self, step: &str) -> Option<(String, String)> {
        crate::signoff::text_for(&self.run, &self.run_id, step)
    }

    /// This session is `mark` (recorded when it takes the run up).
    pub fn marked(mut self, mark: SessionMark) -> Session {
        self.mark = Some(mark);
        self
    }

    /// The session was opened from the log and takes the run up as
    /// `opening` says, first thing ([`flow::open`]).
    pub fn opened(mut self, opening: Opening) -> Session {
        self.opening = Some(opening);
        self
    }

    /// The command the run started and never recorded was started at `at`.
    pub fn command_started(mut self, at: Option<DateTime<Utc>>) -> Session {
        self.command_started_at = at;
        self
    }

    /// The command that takes the run up, until it is recorded.
    pub fn take_up_command(&self) -> Option<Command> {
        self.opening.as_ref().map(|o| Command::TakeUp {
            previous_last_event_at: crate::vocab::time_text(o.previous_last_event_at),
            handover: o.handover.clone(),
        })
    }

    /// When the command the run started and never recorded was started (as
    /// the log writes times), if the session knows.
    pub fn command_started_at(&self) -> Option<String> {
        self.command_started_at.map(crate::vocab::time_text)
    }

    /// Show the run as `label`: the shortest start of its id no other run
    /// of the log shares (see `Store::unique_prefix`).
    pub fn labelled(mut self, label: String) -> Session {
        self.label = Some(label);
        self
    }

    /// The run id as people are shown it: its label, or its first 8
    /// characters when the session knows no other runs.
    pub fn run_label(&self) -> String {
        self.label
            .clone()
            .unwrap_or_else(|| self.run_id.chars().take(8).collect())
    }

    /// A new run of `procedure` begun with `info`, in memory: the engine's
    /// first events applied and not persisted (the evidence log's runs begin
    /// in [`lifecycle::create`], which persists them with the run's row);
    /// later events go to `sink`. For tests, benches and previews.
    pub fn begin(
        procedure: crate::procedure::Procedure,
        info: &crate::engine::StartInfo,
        run_id: &str,
        actor: &str,
        sink: Box<dyn EventSink>,
        clock: Box<dyn Clock>,
    ) -> Session {
        let events = crate::engine::start(&procedure, info);
        let run = Run::replay(procedure, &events);
        Session::new(run, run_id.to_string(), actor.to_string(), sink, clock)
    }

    /// Record `state` (what the kernel says of the clock now) when this
    /// session resumes the run.
    pub fn with_clock_state(mut self, state: crate::clock::ClockState) -> Session {
        self.clock_state = Some(state);
        self
    }

    /// A resumed run: its last stored event was at `t`; later events are never earlier.
    pub fn resumed_after(mut self, t: DateTime<Utc>) -> Session {
        self.last_at = Some(t);
        self
    }

    /// The time of the run's last durable event, as far as this session knows.
    pub fn last_event_at(&self) -> Option<DateTime<Utc>> {
        self.last_at
    }

    /// The run as it is on disk.
    pub fn run(&self) -> &Run {
        &self.run
    }

    /// The run's id (UUID text).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The operator acting in this session.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// What the sink said about the evidence it saved (see
    /// [`EventSink::take_notice`]), once.
    pub fn take_notice(&mut self) -> Option<String> {
        self.sink.take_notice()
    }

    /// The current time from the session's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Read what other sessions recorded for the run since this one last
    /// knew it (a second person signing off from their own login) and apply
    /// it, so the run is as it is on disk; the events are kept for
    /// [`Session::take_arrived`]. True when there were any.
    pub fn refresh(&mut self) -> Result<bool, String> {
        let new = self.sink.since(self.run.events)?;
        for (m, e) in &new {
            self.last_at = Some(self.last_at.map_or(m.at, |last| last.max(m.at)));
            self.run.apply(e);
        }
        let any = !new.is_empty();
        self.arrived.extend(new);
        Ok(any)
    }

    /// The events other sessions recorded that the operator has not been
    /// shown yet (see [`Session::refresh`]), once.
    pub fn take_arrived(&mut self) -> Vec<(Meta, Event)> {
        std::mem::take(&mut self.arrived)
    }

    /// Decide, persist, then apply. On any error the state is unchanged.
    /// When the write is refused because another session recorded events
    /// for the run first, those are read and applied, and the command is
    /// decided again on top of them, once.
    pub fn execute(&mut self, command: Command) -> Result<Vec<Event>, ActionError> {
        match self.execute_once(&command) {
            Err(ActionError::NotRecorded(failed)) => match self.refresh() {
                Ok(true) => self.execute_once(&command),
                _ => Err(ActionError::NotRecorded(failed)),
            },
            done => done,
        }
    }

    fn execute_once(&mut self, command: &Command) -> Result<Vec<Event>, ActionError> {
        let now = self.clock.now();
        let meta = Meta {
            at: self.last_at.map_or(now, |last| now.max(last)),
            actor: self.actor.clone(),
        };
        let mut events = self.run.decide(command, &meta)?;
        // The engine cannot know the clock's state or which session this
        // is: the session adds them.
        for e in &mut events {
            if let Event::Resumed { clock, session } | Event::Recovered { clock, session, .. } = e {
                if clock.is_none() {
                    clock.clone_from(&self.clock_state);
                }
                if session.is_none() {
                    session.clone_from(&self.mark);
                }
            }
        }
        let ended = events.iter().find_map(|e| match e {
            Event::RunEnded { outcome, .. } => Some((*outcome, meta.at)),
            _ => None,
        });
        // A sign-off with the signer's own key or login is their act: they
        // are its actor.
        let stamped: Vec<(Meta, Event)> = events
            .iter()
            .map(|e| {
                let mut m = meta.clone();
                match e {
                    Event::SignedOff { ssh: Some(s), .. } => m.actor.clone_from(&s.principal),
                    Event::SignedOff { login: Some(l), .. } => m.actor.clone_from(&l.user),
                    _ => {}
                }
                (m, e.clone())
            })
            .collect();
        self.sink
            .persist(&stamped, ended)
            .map_err(ActionError::NotRecorded)?;
        self.last_at = Some(meta.at);
        if matches!(command, Command::TakeUp { .. }) {
            self.opening = None;
        }
        if events
            .iter()
            .any(|e| matches!(e, Event::CommandStarted { .. }))
        {
            self.command_started_at = Some(meta.at);
        }
        for e in &events {
            self.run.apply(e);
        }
        Ok(events)
    }
}

/// An in-memory sink for tests and previews: keeps the events, can be told to fail.
#[derive(Debug, Default, Clone)]
pub struct MemorySink {
    pub events: std::rc::Rc<std::cell::RefCell<Vec<(Meta, Event)>>>,
    pub fail_with: std::rc::Rc<std::cell::RefCell<Option<String>>>,
}

impl EventSink for MemorySink {
    fn persist(
        &mut self,
        events: &[(Meta, Event)],
        _ended: Option<(Outcome, DateTime<Utc>)>,
    ) -> Result<(), WriteFailed> {
        if let Some(msg) = self.fail_with.borrow().clone() {
            return Err(WriteFailed(msg));
        }
        self.events.borrow_mut().extend(events.iter().cloned());
        Ok(())
    }
}

/// A clock that starts at a fixed time and advances one second per reading (tests, goldens).
#[derive(Debug, Clone)]
pub struct SteppingClock {
    next: std::rc::Rc<std::cell::Cell<DateTime<Utc>>>,
}

impl SteppingClock {
    pub fn starting_at(t: DateTime<Utc>) -> SteppingClock {
        SteppingClock {
            next: std::rc::Rc::new(std::cell::Cell::new(t)),
        }
    }
}

impl Clock for SteppingClock {
    fn now(&self) -> DateTime<Utc> {
        let t = self.next.get();
        self.next.set(t + chrono::Duration::seconds(1));
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::StartInfo;
    use chrono::TimeZone;

    /// A clock that was stepped back by an hour after the run started.
    struct SteppedBack;
    impl Clock for SteppedBack {
        fn now(&self) -> DateTime<Utc> {
            Utc.with_ymd_and_hms(2026, 11, 1, 1, 0, 0).unwrap()
        }
    }

    #[test]
    fn event_times_never_go_backwards_when_the_clock_is_stepped_back() {
        let p =
            crate::procedure::test_support::procedure("[[steps]]\nid = \"one\"\ntitle = \"One\"\n");
        let info = StartInfo::for_tests();
        let started = Utc.with_ymd_and_hms(2026, 11, 1, 2, 0, 0).unwrap();
        let sink = MemorySink::default();
        let mut s = Session::begin(
            p,
            &info,
            "r",
            "alice",
            Box::new(sink.clone()),
            Box::new(SteppedBack),
        )
        .resumed_after(started);
        s.execute(Command::Confirm { step: "one".into() }).unwrap();
        assert!(sink.events.borrow().iter().all(|(m, _)| m.at == started));
    }

    /// The store accepts exactly the engine's event kinds (`store::kinds`):
    /// one event of each variant (the match below fails to compile when a
    /// variant is added) has a kind the store lists, and the list is no longer.
    #[test]
    fn every_engine_event_kind_is_one_the_store_accepts() {
        use crate::engine::{CommandResult, Outcome};
        use crate::procedure::BranchEnd;
        let step = || "s".to_string();
        let events = vec![
            Event::RunStarted {
                procedure_id: step(),
                procedure_version: step(),
                procedure_sha256: step(),
                procedure_title: step(),
                procedure_controls: vec![],
                procedure_format: "toml".into(),
                source_path: step(),
                operator: step(),
                operator_name: None,
                host: step(),
                pid: None,
                change_notice: None,
                runsheet_version: step(),
                warnings: vec![],
                clock: None,
                drill: false,
            },
            Event::WarningsAcknowledged { warnings: vec![] },
            Event::ChangeNoticeSeen {
                from_version: step(),
                from_sha256: step(),
                summary: step(),
            },
            Event::StepStarted { step: step() },
            Event::StepConfirmed { step: step() },
            Event::DecisionAnswered {
                step: step(),
                answer: true,
            },
            Event::ValueRecorded {
                step: step(),
                value: step(),
            },
            Event::EvidenceRecorded {
                step: step(),
                evidence: step(),
            },
            Event::CommandRan {
                step: step(),
                result: CommandResult {
                    command: step(),
                    exit_code: Some(0),
                    duration_ms: 1,
                    output: String::new(),
                    output_sha256: step(),
                    output_bytes: 0,
                    truncated: false,
                },
            },
            Event::CommandRehearsed {
                step: step(),
                command: step(),
                rehearsal: step(),
            },
            Event::NoteAdded {
                step: step(),
                text: step(),
            },
            Event::SignedOff {
                step: step(),
                by: step(),
                method: None,
                ssh: None,
                login: None,
            },
            Event::SignOffRefused {
                step: step(),
                by: step(),
                reason: step(),
            },
            Event::Corrected {
                step: step(),
                corrects: step(),
                run_seq: 1,
                value: None,
                answer: None,
                reason: step(),
            },
            Event::StepSkipped {
                step: step(),
                justification: step(),
            },
            Event::StepFailed {
                step: step(),
                reason: step(),
                branch: None,
                contact: None,
            },
            Event::BranchEnded {
                branch: step(),
                failed_step: step(),
                then: BranchEnd::Retry,
            },
            Event::Suspended,
            Event::Resumed {
                clock: None,
                session: None,
            },
            Event::Recovered {
                previous: None,
                previous_last_event_at: step(),
                clock: None,
                session: None,
            },
            Event::HandedOver {
                from: step(),
                reason: step(),
            },
            Event::CommandStarted {
                step: step(),
                command: step(),
            },
            Event::CommandInterrupted {
                step: step(),
                command: step(),
                started_at: step(),
                account: step(),
            },
            Event::RunEnded {
                outcome: Outcome::Completed,
                reason: None,
            },
        ];
        for e in &events {
            // Exhaustive on purpose: a new variant must be added above.
            match e {
                Event::RunStarted { .. }
                | Event::WarningsAcknowledged { .. }
                | Event::ChangeNoticeSeen { .. }
                | Event::StepStarted { .. }
                | Event::StepConfirmed { .. }
                | Event::DecisionAnswered { .. }
                | Event::ValueRecorded { .. }
                | Event::EvidenceRecorded { .. }
                | Event::CommandRan { .. }
                | Event::NoteAdded { .. }
                | Event::SignedOff { .. }
                | Event::SignOffRefused { .. }
                | Event::Corrected { .. }
                | Event::StepSkipped { .. }
                | Event::StepFailed { .. }
                | Event::BranchEnded { .. }
                | Event::Suspended
                | Event::Resumed { .. }
                | Event::Recovered { .. }
                | Event::HandedOver { .. }
                | Event::CommandStarted { .. }
                | Event::CommandInterrupted { .. }
                | Event::CommandRehearsed { .. }
                | Event::RunEnded { .. } => {}
            }
            assert!(
                crate::store::kinds::RUN_KINDS.contains(&e.kind())
                    && crate::store::kinds::is_known(e.kind().as_bytes(), true),
                "{}",
                e.kind()
            );
        }
        assert_eq!(events.len(), crate::store::kinds::RUN_KINDS.len());
    }
}
