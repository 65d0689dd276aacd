//! Where a run's life begins and where it is taken up again, in the evidence
//! log: starting a run of a procedure (its identity, its document-control
//! warnings and change notice, its row and first events durable together,
//! its lease) and
//! resuming an open one (its lease, the exact source it started with,
//! parsed, its events decoded and replayed). `app`, the benches, the tests
//! and the test-data generator all start runs through here.
//!
//! May not depend on the terminal, the front ends or `app`; it knows the
//! store only through its public API.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::{Opening, Session, StoreSink, SystemClock, decode, new_event, new_run};
use crate::clock::ClockState;
use crate::engine::{self, Event, Meta, Run, StartInfo};
use crate::error::{Error, Result};
use crate::procedure::parse::{self, Loaded, Source};
use crate::store::{Holder, NewEvent, RunRow, Store};

pub use crate::vocab::Operator;
use crate::vocab::SessionMark;

impl Operator {
    /// What the engine is told at the start of a run of `source`.
    pub fn start_info(
        &self,
        source: &Source,
        today: NaiveDate,
        clock: Option<ClockState>,
        control: crate::procedure::control::StartControl,
        drill: bool,
    ) -> StartInfo {
        StartInfo {
            procedure_sha256: source.sha256(),
            procedure_format: source.format.name().into(),
            source_path: source.path.display().to_string(),
            operator: self.clone(),
            runsheet_version: env!("CARGO_PKG_VERSION").into(),
            today,
            clock,
            pid: Some(std::process::id()),
            control,
            change_notice: None,
            drill,
        }
    }
}

/// The fewest characters of a run id shown to people: two runs started in
/// the same minute share 8, so the label grows until it is unique.
const LABEL_MIN: usize = 8;

/// A run made in the log: its id and its state after the first events.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: Uuid,
    pub run: Run,
}

/// Create a run of `loaded` in `store` at `at`: its row and its first events
/// (`run-started`, then the first step unless warnings come first) in one
/// transaction, each 0 ms into the session on the monotonic clock.
pub fn create(
    store: &mut Store,
    id: Uuid,
    loaded: &Loaded,
    info: &StartInfo,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Created> {
    let p = &loaded.procedure;
    let events = engine::start(p, info);
    let row = new_run(id, p, info, &loaded.source.text, at);
    let meta = Meta {
        at,
        actor: actor.to_string(),
    };
    let first: Vec<NewEvent> = events
        .iter()
        .map(|e| {
            let mut n = new_event(&meta, e);
            if let Some(obj) = n.payload.as_object_mut() {
                obj.insert(crate::store::kinds::ELAPSED_MS.into(), 0.into());
            }
            n
        })
        .collect();
    store.create_run(&row, &first)?;
    Ok(Created {
        id,
        run: Run::replay(p.clone(), &events),
    })
}

/// Start a new run of `loaded` for `who` and hand back its live session,
/// which holds the run's lease and writes to `store`.
pub fn start(
    mut store: Store,
    loaded: &Loaded,
    who: &Operator,
    today: NaiveDate,
    clock: Option<ClockState>,
    control: crate::procedure::control::StartControl,
    drill: bool,
) -> Result<Session> {
    let now = Utc::now();
    let actor = who.actor();
    let mut info = who.start_info(&loaded.source, today, clock, control, drill);
    info.change_notice = super::notice::for_start(&store, who, loaded)?;
    let id = Uuid::now_v7();
    let lease = store.lease_run(id, &Holder::this_process(&actor, &who.host, now))?;
    let created = match create(&mut store, id, loaded, &info, &actor, now) {
        Ok(c) => c,
        Err(e) => {
            // The run never existed: nobody will lease it again.
            lease.release_ended();
            return Err(e);
        }
    };
    let label = store.unique_prefix(id, LABEL_MIN)?;
    let known = created.run.events;
    Ok(Session::new(
        created.run,
        id.to_string(),
        actor,
        Box::new(StoreSink::new(store, id).leased(lease).timed().after(known)),
        Box::new(SystemClock),
    )
    .resumed_after(now)
    .labelled(label)
    .marked(SessionMark::this_process(who)))
}

/// Which open run to resume.
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    /// The run whose id starts with this.
    Prefix(&'a str),
    /// The operator's latest open run.
    Latest,
}

/// A run taken up again: the session and the run's row as it was read.
pub struct Resumed {
    pub session: Session,
    pub row: RunRow,
}

/// Resume an open run for `who`: take its lease, read it as it is now (the
/// session that held it may have ended it meanwhile), parse the exact
/// source it started with and replay its events. The session records how
/// it takes the run up ([`super::flow::open`]): resumed after a suspension,
/// or recovered from a session that ended without suspending; and, when
/// `who` is not the operator who drove the run last, handed over for the
/// reason `take_over` gives (refused without one). It records `clock` too.
pub fn resume(
    store: Store,
    db: &Path,
    which: Which<'_>,
    who: &Operator,
    clock: ClockState,
    take_over: Option<&str>,
) -> Result<Resumed> {
    let row = match which {
        Which::Prefix(prefix) => store.find_run(prefix)?,
        Which::Latest => store.latest_open_run(&who.user, None)?.ok_or_else(|| {
            Error::Input(format!(
                "{} has no open run in {}; see `runsheet runs --open`",
                who.user,
                db.display()
            ))
        })?,
    };
    refuse_ended(&row)?;
    let actor = who.actor();
    let lease = store.lease_run(row.id, &Holder::this_process(&actor, &who.host, Utc::now()))?;
    let row = store.run(row.id)?.unwrap_or(row);
    if let Err(e) = refuse_ended(&row) {
        lease.release_ended();
        return Err(e);
    }
    let stored = stored_run(&store, &row, db)?;
    let run = Run::replay(stored.loaded.procedure, &stored.events);
    check_take_over(&run, &row, who, take_over)?;
    // The time of the command it started and never recorded, if any.
    let command_started_at = run
        .started_command
        .as_ref()
        .and_then(|c| {
            stored
                .times
                .get(usize::try_from(c.run_seq).ok()?.checked_sub(1)?)
        })
        .copied();
    let label = store.unique_prefix(row.id, LABEL_MIN)?;
    let known = run.events;
    let session = Session::new(
        run,
        row.id.to_string(),
        actor,
        Box::new(
            StoreSink::new(store, row.id)
                .leased(lease)
                .timed()
                .after(known),
        ),
        Box::new(SystemClock),
    )
    .resumed_after(stored.last_at)
    .with_clock_state(clock)
    .labelled(label)
    .marked(SessionMark::this_process(who))
    .opened(Opening {
        previous_last_event_at: stored.last_at,
        handover: take_over.map(str::to_string),
    })
    .command_started(command_started_at);
    Ok(Resumed { session, row })
}

/// A session for a second person's act on an open run another session may
/// be driving (`runsheet sign-off`): the run as the log holds it, without
/// its lease; its writes go on top of the events read here only (another
/// session's later event makes them fail, and they are read again).
pub fn second_person(store: Store, db: &Path, prefix: &str, actor: &str) -> Result<Resumed> {
    let row = store.find_run(prefix)?;
    refuse_ended(&row)?;
    let stored = stored_run(&store, &row, db)?;
    let run = Run::replay(stored.loaded.procedure, &stored.events);
    let label = store.unique_prefix(row.id, LABEL_MIN)?;
    let known = run.events;
    let session = Session::new(
        run,
        row.id.to_string(),
        actor.to_string(),
        Box::new(StoreSink::new(store, row.id).after(known)),
        Box::new(SystemClock),
    )
    .resumed_after(stored.last_at)
    .labelled(label);
    Ok(Resumed { session, row })
}

/// Another operator takes a run over only saying why; the operator who
/// drove it last needs no handover. The same operator is the same OS user
/// with the same display name, or no display name on either side (so the
/// operators of a log run through one service user, docs/custody.md, are
/// told apart by their names).
fn check_take_over(run: &Run, row: &RunRow, who: &Operator, take_over: Option<&str>) -> Result<()> {
    // `run-started` records the first session, so a started run has one.
    let same = run.session.as_ref().is_none_or(|s| {
        s.operator == who.user
            && match (&s.operator_name, &who.name) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    });
    let last = run.last_operator();
    match take_over {
        None if !same => Err(Error::Input(format!(
            "run {} was last driven by {last}, not by {}; to take it over, say why: runsheet resume {} --take-over --reason \"…\" (the handover is recorded)",
            row.id,
            who.actor(),
            row.id
        ))),
        Some(_) if same => Err(Error::Input(format!(
            "--take-over is for taking a run over from another operator, and {last} drove run {} last; resume it without --take-over",
            row.id
        ))),
        Some(reason) if reason.trim().is_empty() => Err(Error::Input(
            "--reason is empty: say why you take the run over (it is recorded)".into(),
        )),
        _ => Ok(()),
    }
}

fn refuse_ended(row: &RunRow) -> Result<()> {
    match &row.outcome {
        Some(outcome) => Err(Error::Input(format!(
            "run {} has already ended ({outcome}); only open runs can be resumed",
            row.id
        ))),
        None => Ok(()),
    }
}

/// A run as the log holds it.
pub struct StoredRun {
    /// The exact procedure it started with.
    pub loaded: Loaded,
    /// Its events, decoded (each one's kind checked against its payload).
    pub events: Vec<Event>,
    /// The time of its last event.
    pub last_at: DateTime<Utc>,
    /// The time of each of its events, in order (`times[n - 1]` is event n's).
    pub times: Vec<DateTime<Utc>>,
}

/// The run as the log holds it: the exact procedure it started with, its
/// events decoded, and their times.
pub fn stored_run(store: &Store, row: &RunRow, db: &Path) -> Result<StoredRun> {
    let damaged = |message: String| Error::Store {
        path: db.to_path_buf(),
        message,
    };
    let loaded = stored_procedure(store, row, db)?;
    let stored = store.events(row.id)?;
    let mut events = Vec::with_capacity(stored.len());
    for ev in &stored {
        events.push(decode(ev, row.id).map_err(damaged)?);
    }
    Ok(StoredRun {
        loaded,
        events,
        last_at: stored.last().map_or(row.started_at, |e| e.at),
        times: stored.iter().map(|e| e.at).collect(),
    })
}

/// The exact procedure a run started with, parsed from the source the log holds.
pub fn stored_procedure(store: &Store, row: &RunRow, db: &Path) -> Result<Loaded> {
    let (text, format) = store
        .procedure_source(&row.procedure_sha256)?
        .ok_or_else(|| Error::Store {
            path: db.to_path_buf(),
            message: format!(
                "the procedure source of run {} is missing; run `runsheet verify`",
                row.id
            ),
        })?;
    parse::stored(&row.procedure_sha256, text, &format).map_err(|d| Error::Input(d.to_string()))
}

/// What to tell the operator when the procedure file `now` is not the
/// source the run started with (the run goes on with the one it started with).
pub fn changed_notice(row: &RunRow, now: &Source) -> Option<String> {
    (now.sha256() != row.procedure_sha256).then(|| {
        format!(
            "{} has changed since this run started; the run continues with the version it started with (v{})",
            now.path.display(),
            row.procedure_version
        )
    })
}
