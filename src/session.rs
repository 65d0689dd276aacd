//! A live run: decide, persist, then apply. The one path every front end uses
//! to act on a run, so the screen only ever shows what is durable.
//!
//! May not depend on rusqlite, ratatui or crossterm: persistence comes in through
//! [`EventSink`] and time through [`Clock`].

mod store_sink;

use chrono::{DateTime, Utc};

use crate::engine::{Command, Event, Meta, Outcome, Rejected, Run};

pub use store_sink::{StoreSink, new_event};

/// Where events are made durable (the evidence log, or memory in tests).
pub trait EventSink {
    /// Persist `events` for this run in one transaction; `ended` is set when
    /// the last event ends the run. Returns only after the commit.
    fn persist(
        &mut self,
        events: &[(Meta, Event)],
        ended: Option<(Outcome, DateTime<Utc>)>,
    ) -> Result<(), String>;
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
    Rejected(#[from] Rejected),
    /// The evidence could not be written; nothing was applied.
    #[error("NOT RECORDED: {0}")]
    NotSaved(String),
}

/// A run being worked on by one operator.
pub struct Session {
    run: Run,
    run_id: String,
    actor: String,
    sink: Box<dyn EventSink>,
    clock: Box<dyn Clock>,
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
        }
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

    /// The current time from the session's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Decide, persist, then apply. On any error the state is unchanged.
    pub fn execute(&mut self, command: Command) -> Result<Vec<Event>, ActionError> {
        let meta = Meta {
            at: self.clock.now(),
            actor: self.actor.clone(),
        };
        let events = self.run.decide(&command, &meta)?;
        let ended = events.iter().find_map(|e| match e {
            Event::RunEnded { outcome, .. } => Some((*outcome, meta.at)),
            _ => None,
        });
        let stamped: Vec<(Meta, Event)> =
            events.iter().map(|e| (meta.clone(), e.clone())).collect();
        self.sink
            .persist(&stamped, ended)
            .map_err(ActionError::NotSaved)?;
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
    ) -> Result<(), String> {
        if let Some(msg) = self.fail_with.borrow().clone() {
            return Err(msg);
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
