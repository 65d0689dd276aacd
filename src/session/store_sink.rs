//! The evidence-log sink: persists a session's events into the [`Store`], one
//! transaction per action. The bridge between the session (which knows events)
//! and the store (which knows only JSON payloads).
//!
//! May not depend on rusqlite directly, the front ends, the exports or the app.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{EventSink, WriteFailed};
use crate::engine::{Event, Meta, Outcome, StartInfo};
use crate::procedure::Procedure;
use crate::store::{NewEvent, NewRun, RunLease, Store, StoredEvent};

/// Persists a session's events into the evidence log.
#[derive(Debug)]
pub struct StoreSink {
    store: Store,
    run_id: Uuid,
    /// This session's lease on the run (see `store::RunLease`), when it holds one.
    lease: Option<RunLease>,
    /// Why the last persist made no signed checkpoint where it should have.
    notice: Option<String>,
    /// With [`StoreSink::timed`]: when this session began, on the monotonic
    /// clock; each event then records `elapsed_ms` since it (clock provenance:
    /// a stepped wall clock shows against it).
    started: Option<std::time::Instant>,
    /// The run's last event this sink knows (`run_seq`), with
    /// [`StoreSink::after`]: appends are refused when another session has
    /// recorded events since, and [`EventSink::since`] reads them.
    last: Option<i64>,
}

impl StoreSink {
    /// A sink appending to the open run `run_id` of `store`.
    pub fn new(store: Store, run_id: Uuid) -> StoreSink {
        StoreSink {
            store,
            run_id,
            lease: None,
            notice: None,
            started: None,
            last: None,
        }
    }

    /// The sink knows the run up to its event number `run_seq`: it appends
    /// only on top of that (see [`Store::append_after`]).
    pub fn after(mut self, run_seq: u64) -> StoreSink {
        self.last = i64::try_from(run_seq).ok();
        self
    }

    /// Record in every event's payload the milliseconds since now on the
    /// monotonic clock (`elapsed_ms`).
    pub fn timed(mut self) -> StoreSink {
        self.started = Some(std::time::Instant::now());
        self
    }

    /// The sink holds `lease` on the run for as long as it lives; when the
    /// run ends, the lease's lock file goes.
    pub fn leased(mut self, lease: RunLease) -> StoreSink {
        self.lease = Some(lease);
        self
    }

    /// The log the sink writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl EventSink for StoreSink {
    fn persist(
        &mut self,
        events: &[(Meta, Event)],
        ended: Option<(Outcome, DateTime<Utc>)>,
    ) -> Result<(), WriteFailed> {
        let elapsed = self
            .started
            .map(|t| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX));
        let new: Vec<NewEvent> = events
            .iter()
            .map(|(m, e)| {
                let mut n = new_event(m, e);
                if let (Some(ms), Some(obj)) = (elapsed, n.payload.as_object_mut()) {
                    obj.insert(crate::store::kinds::ELAPSED_MS.into(), ms.into());
                }
                n
            })
            .collect();
        let ended_as = ended.map(|(o, at)| (o.as_str(), at));
        let stored = match self.last {
            Some(after) => self.store.append_after(self.run_id, after, &new, ended_as),
            None => self.store.append(self.run_id, &new, ended_as),
        }
        .map_err(|e| WriteFailed(e.to_string()))?;
        if let (Some(_), Some(last)) = (self.last, stored.last()) {
            self.last = Some(last.run_seq);
        }
        if let Some(w) = self.store.take_custody_warning() {
            self.notice = Some(format!("no signed checkpoint was made: {w}"));
        }
        if ended.is_some()
            && let Some(lease) = self.lease.take()
        {
            lease.release_ended();
        }
        Ok(())
    }

    fn take_notice(&mut self) -> Option<String> {
        self.notice.take()
    }

    fn since(&mut self, after: u64) -> Result<Vec<(Meta, Event)>, String> {
        let after = i64::try_from(after).map_err(|e| e.to_string())?;
        let stored = self
            .store
            .events_after(self.run_id, after)
            .map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(stored.len());
        for ev in &stored {
            let event = decode(ev, self.run_id)?;
            out.push((
                Meta {
                    at: ev.at,
                    actor: ev.actor.clone(),
                },
                event,
            ));
        }
        if let Some(last) = stored.last()
            && self.last.is_some()
        {
            self.last = Some(last.run_seq);
        }
        Ok(out)
    }
}

/// A stored event of run `run` as the engine's event: its payload decoded,
/// and its recorded kind checked against it; else what is wrong with it.
pub fn decode(ev: &StoredEvent, run: Uuid) -> Result<Event, String> {
    let event = Event::from_payload(&ev.event_payload()).map_err(|e| {
        format!(
            "event {} of run {run} cannot be read: {e}; run `runsheet verify`",
            ev.seq
        )
    })?;
    if event.kind() != ev.kind {
        return Err(format!(
            "event {} of run {run} is recorded as {} but its payload is a {} event: the log was edited; run `runsheet verify`",
            ev.seq,
            ev.kind,
            event.kind()
        ));
    }
    Ok(event)
}

/// An engine event with its meta, as the store takes it.
pub fn new_event(m: &Meta, e: &Event) -> NewEvent {
    NewEvent {
        at: m.at,
        actor: m.actor.clone(),
        kind: e.kind().to_string(),
        step: e.step().map(String::from),
        payload: e.to_payload(),
    }
}

/// The run row for a run of `p` started with `info` from `source_text`: the
/// same identity the engine's `run-started` event carries (the store refuses
/// a row and an event that disagree).
pub fn new_run(
    id: Uuid,
    p: &Procedure,
    info: &StartInfo,
    source_text: &str,
    started_at: DateTime<Utc>,
) -> NewRun {
    NewRun {
        id,
        procedure_id: p.id.clone(),
        procedure_version: p.version.clone(),
        procedure_title: p.title.clone(),
        procedure_controls: p.controls.clone(),
        source_text: source_text.to_string(),
        source_format: info.procedure_format.clone(),
        source_path: info.source_path.clone(),
        operator: info.operator.clone(),
        runsheet_version: info.runsheet_version.clone(),
        started_at,
    }
}
