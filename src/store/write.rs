//! Appending to the log: a run's row and procedure source, and hash-chained
//! events, each call in one `BEGIN IMMEDIATE` transaction.
//!
//! May not depend on the engine (payloads arrive as JSON), tui, export or app.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::Value;
use uuid::Uuid;

use super::chain::{
    GENESIS, Record, RecordFormat, canonical_json, hex_text, sha256_hex, sha256_hex_into,
};
use super::content::{self, Content};
use super::kinds::{
    self, CHECKPOINT_KINDS, KIND_LOG_CREATED, KIND_RUN_ENDED, KIND_RUN_STARTED,
    KIND_SCHEMA_MIGRATED,
};
use super::signing::{Custodian, SignError, StoredCheckpoint, sign_in_tx};
use super::tree::{self, NodeError};
use super::{NewEvent, NewRun, Store};
use super::{StoreError, StoredEvent};
use crate::custody::merkle::Frontier;

/// Why an insert at the chain head failed.
#[derive(Debug)]
pub(super) enum WriteError {
    Sql(rusqlite::Error),
    /// The stored Merkle tree cannot be extended (it is damaged or was edited).
    Tree(String),
    /// The OS gave no random bytes (for a content salt).
    Random(String),
}

impl From<rusqlite::Error> for WriteError {
    fn from(e: rusqlite::Error) -> Self {
        WriteError::Sql(e)
    }
}

impl From<NodeError> for WriteError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::Sql(e) => WriteError::Sql(e),
            other => WriteError::Tree(other.to_string()),
        }
    }
}

impl WriteError {
    pub(super) fn into_store(self, path: &std::path::Path) -> StoreError {
        match self {
            WriteError::Sql(e) => StoreError::sqlite(path, e),
            WriteError::Tree(detail) => StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: format!("{detail}; nothing was written"),
            },
            WriteError::Random(detail) => {
                StoreError::Invalid(format!("{detail}; nothing was written"))
            }
        }
    }
}

/// The tree's frontier at the chain head `head`: the cached one when it is at
/// that size (this handle wrote the head), else read from the stored tree.
pub(super) fn frontier_at(
    conn: &Connection,
    cached: Option<Frontier>,
    head: i64,
) -> Result<Frontier, WriteError> {
    let size = u64::try_from(head).unwrap_or(0);
    match cached {
        Some(f) if f.size() == size => Ok(f),
        _ => {
            // Nothing of the tree may lie beyond the head: the records it
            // was built over are gone, and the log must not grow over the gap.
            let beyond: Option<i64> = conn
                .prepare_cached("SELECT max(seq) FROM tree_nodes")?
                .query_row([], |r| r.get(0))?;
            if let Some(b) = beyond.filter(|&b| b > head) {
                return Err(WriteError::Tree(format!(
                    "the log was cut short: it ends at seq {head}, but its Merkle tree holds nodes completed by seq {b}, so records after seq {head} were removed; run `runsheet verify`"
                )));
            }
            Ok(tree::load(conn, size)?)
        }
    }
}

/// A time as the log writes it (RFC 3339, UTC, milliseconds).
pub use crate::vocab::time_text;

/// Truncate to what the log keeps (milliseconds).
fn stored_time(at: DateTime<Utc>) -> DateTime<Utc> {
    let ms = at.timestamp_millis();
    DateTime::from_timestamp_millis(ms).unwrap_or(at)
}

const HEAD_SQL: &str = "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1";
const INSERT_SQL: &str = "INSERT INTO events \
    (seq, run_id, run_seq, at, actor, kind, step, payload, payload_sha256, prev_hash, hash) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

impl Store {
    pub(super) fn create_run_impl(
        &mut self,
        run: &NewRun,
        first_events: &[NewEvent],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let source_sha = sha256_hex(run.source_text.as_bytes());
        check_run_started(run, &source_sha, first_events)?;
        check_end(run.id, first_events, None)?;
        check_kinds(first_events, true)?;
        let controls = serde_json::to_string(&run.procedure_controls)
            .map_err(|e| StoreError::Invalid(format!("controls of run {}: {e}", run.id)))?;
        let Store {
            conn,
            path,
            tree,
            custodian,
            custody_warning,
            salt_seed,
            ..
        } = self;
        let sql = |e| StoreError::sqlite(path, e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        tx.prepare_cached(
            "INSERT INTO procedure_sources (sha256, format, text) VALUES (?1, ?2, ?3) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .and_then(|mut s| s.execute(params![source_sha, run.source_format, run.source_text]))
        .map_err(sql)?;
        let id = run.id.hyphenated().to_string();
        let inserted = tx
            .prepare_cached(
                "INSERT INTO runs (id, procedure_id, procedure_version, procedure_title, \
                 procedure_sha256, controls, source_path, operator, operator_name, host, \
                 runsheet_version, started_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    id,
                    run.procedure_id,
                    run.procedure_version,
                    run.procedure_title,
                    source_sha,
                    controls,
                    run.source_path,
                    run.operator.user,
                    run.operator.name,
                    run.operator.host,
                    run.runsheet_version,
                    time_text(run.started_at),
                ])
            })
            .map_err(sql)?;
        if inserted == 0 {
            return Err(StoreError::Invalid(format!(
                "run {id} already exists in the evidence log; nothing was written"
            )));
        }
        let (stored, frontier) = insert_events(
            &tx,
            *salt_seed,
            tree.take(),
            Some((run.id, &id)),
            1,
            None,
            first_events,
        )
        .map_err(|e| e.into_store(path))?;
        let warning = sign_for(&tx, custodian.as_mut(), &frontier, first_events, path)?;
        tx.commit().map_err(sql)?;
        *tree = Some(frontier);
        *custody_warning = warning;
        Ok(stored)
    }

    pub(super) fn append_impl(
        &mut self,
        run_id: Uuid,
        after: Option<i64>,
        events: &[NewEvent],
        outcome: Option<(&str, DateTime<Utc>)>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if let Some(e) = events.iter().find(|e| e.kind == KIND_RUN_STARTED) {
            return Err(StoreError::Invalid(format!(
                "a {} event can only start a run (create_run), not be appended to run {run_id}",
                e.kind
            )));
        }
        check_end(run_id, events, outcome)?;
        check_kinds(events, true)?;
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let Store {
            conn,
            path,
            tree,
            custodian,
            custody_warning,
            salt_seed,
            ..
        } = self;
        let sql = |e| StoreError::sqlite(path, e);
        let id = run_id.hyphenated().to_string();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        // The run's last event, read under the write lock: its run_seq and
        // time. Event times are assigned here, never earlier than it, so two
        // writers (or a clock stepped back) cannot make a run's times go
        // backwards in the chain.
        type State = (Option<String>, i64, Option<String>);
        let state: Option<State> = tx
            // The sub-query names the run through `r.id`, not `?1`: a bound
            // parameter on `events.run_id` makes SQLite (STAT4 build) re-prepare
            // the statement on every call, a third of an action's CPU time.
            // Two scalar sub-queries, not a join on one: SQLite re-prepares
            // the join form on every call too (41 µs against 5 µs).
            .prepare_cached(
                "SELECT r.outcome, \
                 (SELECT e.run_seq FROM events e WHERE e.run_id = r.id ORDER BY e.run_seq DESC LIMIT 1), \
                 (SELECT e.at FROM events e WHERE e.run_id = r.id ORDER BY e.run_seq DESC LIMIT 1) \
                 FROM runs r WHERE r.id = ?1",
            )
            .and_then(|mut s| {
                s.query_row([&id], |r| {
                    Ok((
                        r.get(0)?,
                        r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                        r.get(2)?,
                    ))
                })
                .optional()
            })
            .map_err(sql)?;
        let (last_run_seq, last_at) = match state {
            None => {
                return Err(StoreError::NotFound(format!(
                    "no run {id} in the evidence log; nothing was written"
                )));
            }
            Some((Some(ended), ..)) => {
                return Err(StoreError::Invalid(format!(
                    "run {id} has already ended ({ended}); nothing was written"
                )));
            }
            Some((None, last, _)) if after.is_some_and(|a| a != last) => {
                return Err(StoreError::RunChanged {
                    path: path.clone(),
                    run: run_id,
                });
            }
            Some((None, last, at)) => (last, at),
        };
        let not_before = last_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let (stored, frontier) = insert_events(
            &tx,
            *salt_seed,
            tree.take(),
            Some((run_id, &id)),
            last_run_seq + 1,
            not_before,
            events,
        )
        .map_err(|e| e.into_store(path))?;
        if outcome.is_some()
            && let Some(end) = stored.last()
        {
            // The run-ended event's outcome (checked above) at its stored time.
            let outcome = outcome.map(|(o, _)| o);
            tx.prepare_cached("UPDATE runs SET outcome = ?2, ended_at = ?3 WHERE id = ?1")
                .and_then(|mut s| s.execute(params![id, outcome, time_text(end.at)]))
                .map_err(sql)?;
        }
        let warning = sign_for(&tx, custodian.as_mut(), &frontier, events, path)?;
        tx.commit().map_err(sql)?;
        *tree = Some(frontier);
        *custody_warning = warning;
        Ok(stored)
    }

    pub(super) fn append_log_event_impl(
        &mut self,
        event: &NewEvent,
    ) -> Result<StoredEvent, StoreError> {
        if event.kind == KIND_LOG_CREATED || event.kind == KIND_SCHEMA_MIGRATED {
            return Err(StoreError::Invalid(format!(
                "a {} event is written only when the log is created or migrated",
                event.kind
            )));
        }
        check_kinds(std::slice::from_ref(event), false)?;
        let Store {
            conn,
            path,
            tree,
            custodian,
            custody_warning,
            ..
        } = self;
        let sql = |e| StoreError::sqlite(path, e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let (stored, frontier) =
            insert_log_event(&tx, tree.take(), event).map_err(|e| e.into_store(path))?;
        let warning = sign_for(
            &tx,
            custodian.as_mut(),
            &frontier,
            std::slice::from_ref(event),
            path,
        )?;
        tx.commit().map_err(sql)?;
        *tree = Some(frontier);
        *custody_warning = warning;
        Ok(stored)
    }

    pub(super) fn make_checkpoint_impl(
        &mut self,
        reason: &str,
    ) -> Result<StoredCheckpoint, StoreError> {
        let Store {
            conn,
            path,
            tree,
            custodian,
            ..
        } = self;
        let Some(custodian) = custodian.as_mut() else {
            return Err(StoreError::ReadOnly { path: path.clone() });
        };
        let sql = |e| StoreError::sqlite(path, e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let head: i64 = tx
            .prepare_cached("SELECT coalesce(max(seq), 0) FROM events")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(sql)?;
        let frontier = frontier_at(&tx, tree.take(), head).map_err(|e| e.into_store(path))?;
        let stored = sign_in_tx(&tx, custodian, &frontier, reason, Utc::now()).map_err(|e| {
            StoreError::Key {
                path: path.clone(),
                message: e.message(),
            }
        })?;
        tx.commit().map_err(sql)?;
        *tree = Some(frontier);
        Ok(stored)
    }
}

/// Append one log event (no run) at the chain head; the caller owns the
/// (`BEGIN IMMEDIATE`) transaction. `tree` as for `insert_events`.
pub(super) fn insert_log_event(
    conn: &Connection,
    tree: Option<Frontier>,
    event: &NewEvent,
) -> Result<(StoredEvent, Frontier), WriteError> {
    let last: i64 = conn
        .prepare_cached("SELECT coalesce(max(run_seq), 0) FROM events WHERE run_id IS NULL")?
        .query_row([], |r| r.get(0))?;
    let (mut stored, frontier) = insert_events(
        conn,
        None,
        tree,
        None,
        last + 1,
        None,
        std::slice::from_ref(event),
    )?;
    let stored = stored
        .pop()
        .ok_or(WriteError::Sql(rusqlite::Error::QueryReturnedNoRows))?;
    Ok((stored, frontier))
}

/// Sign the checkpoint a batch of `events` (just inserted, ending at
/// `frontier`) makes necessary, if any: `Ok(Some(why))` when the log's
/// custody refused it (the log was tampered with; the records still commit,
/// and the caller is told why), `Err` when it could not be made or stored
/// (nothing may commit: a record of a kind in `CHECKPOINT_KINDS` is never
/// committed without its checkpoint but by that refusal, and verify holds
/// the log to it).
pub(super) fn sign_for(
    tx: &Connection,
    custodian: Option<&mut Custodian>,
    frontier: &Frontier,
    events: &[NewEvent],
    path: &std::path::Path,
) -> Result<Option<String>, StoreError> {
    let reason = events
        .iter()
        .rev()
        .find_map(|e| CHECKPOINT_KINDS.iter().find(|k| **k == e.kind));
    let (Some(reason), Some(c)) = (reason, custodian) else {
        return Ok(None);
    };
    match sign_in_tx(tx, c, frontier, reason, Utc::now()) {
        Ok(_) => Ok(None),
        Err(SignError::Refused(why)) => Ok(Some(why)),
        Err(SignError::Failed(why)) => Err(StoreError::Key {
            path: path.to_path_buf(),
            message: format!("{why}; nothing was written"),
        }),
    }
}

/// Every event's kind is one runsheet writes for a run (`in_run`) or for the
/// log (see `kinds`), and a payload that names its kind names the event's kind.
/// An event of a kind in `CHECKPOINT_KINDS` is the last of its batch: the
/// checkpoint signed with it covers exactly up to its seq (verify rule 16).
fn check_kinds(events: &[NewEvent], in_run: bool) -> Result<(), StoreError> {
    if let Some((_, e)) = events
        .iter()
        .enumerate()
        .find(|(i, e)| i + 1 < events.len() && CHECKPOINT_KINDS.contains(&e.kind.as_str()))
    {
        return Err(StoreError::Invalid(format!(
            "a {} event must be the last of its batch (its signed checkpoint covers up to it); nothing was written",
            e.kind
        )));
    }
    for e in events {
        if !kinds::is_known(e.kind.as_bytes(), in_run) {
            let whose = if in_run { "a run's" } else { "a log" };
            return Err(StoreError::Invalid(format!(
                "{:?} is not {whose} event kind (store::kinds); nothing was written",
                e.kind
            )));
        }
        if field(&e.payload, "kind") != Some(e.kind.as_str()) {
            return Err(StoreError::Invalid(format!(
                "an event of kind {} must carry a payload of that kind; nothing was written",
                e.kind
            )));
        }
    }
    Ok(())
}

/// Insert `events` at the chain head: read the head once, hash in Rust (record
/// format 2), insert with one cached statement, and extend the Merkle tree
/// (the nodes each record completes). Times are kept to the millisecond and,
/// with `not_before`, never earlier than it or than the previous event of the
/// batch. The caller owns the transaction. `tree` is the frontier a previous
/// insert returned (used when it is still at the head); the frontier after
/// these events is returned, for the caller to keep once it has committed.
fn insert_events(
    conn: &Connection,
    salt_seed: Option<Uuid>,
    tree: Option<Frontier>,
    run: Option<(Uuid, &str)>,
    first_run_seq: i64,
    not_before: Option<DateTime<Utc>>,
    events: &[NewEvent],
) -> Result<(Vec<StoredEvent>, Frontier), WriteError> {
    let (mut seq, mut prev): (i64, String) = conn
        .prepare_cached(HEAD_SQL)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or_else(|| (0, GENESIS.to_string()));
    let mut frontier = frontier_at(conn, tree, seq)?;
    let mut closed = Vec::new();
    let mut insert = conn.prepare_cached(INSERT_SQL)?;
    let mut stored = Vec::with_capacity(events.len());
    let run_text = run.map(|(_, text)| text);
    let mut buf = [0u8; 64];
    let mut floor = not_before.map(stored_time);
    for (i, event) in events.iter().enumerate() {
        seq += 1;
        let run_seq = first_run_seq + i as i64;
        let when = match floor {
            Some(f) if run.is_some() => stored_time(event.at).max(f),
            _ => stored_time(event.at),
        };
        floor = Some(when);
        let at = time_text(when);
        // A run event's content goes to `contents`, the payload keeps its
        // salted commitment (schema 5).
        let split = match run {
            Some(_) if kinds::content_fields(event.kind.as_bytes()).is_some() => {
                let salt = match salt_seed {
                    Some(id) => content::derived_salt(&id, seq),
                    None => content::random_salt().map_err(WriteError::Random)?,
                };
                content::split(&event.kind, &event.payload, &salt)
            }
            _ => None,
        };
        let payload_value = split.as_ref().map_or(&event.payload, |s| &s.payload);
        let payload = canonical_json(payload_value);
        sha256_hex_into(payload.as_bytes(), &mut buf);
        let payload_sha256 = hex_text(&buf);
        let record = Record {
            format: RecordFormat::V2,
            seq,
            run_id: run_text.map(str::as_bytes),
            run_seq,
            at: at.as_bytes(),
            actor: event.actor.as_bytes(),
            kind: event.kind.as_bytes(),
            step: event.step.as_deref().map(str::as_bytes),
            payload_sha256: payload_sha256.as_bytes(),
            prev_hash: prev.as_bytes(),
        };
        let mut hash_hex = [0u8; 64];
        record.hash_into(&mut hash_hex);
        let hash = hex_text(&hash_hex);
        let leaf = tree::record_leaf(&hash_hex)
            .ok_or_else(|| WriteError::Tree("a record hash is not hex".into()))?;
        frontier.push(leaf, &mut closed);
        tree::insert_nodes(conn, seq, &closed)?;
        insert.execute(params![
            seq,
            run_text,
            run_seq,
            at,
            event.actor,
            event.kind,
            event.step,
            payload,
            payload_sha256,
            prev,
            hash,
        ])?;
        if let Some(s) = &split {
            conn.prepare_cached("INSERT INTO contents (seq, salt, content) VALUES (?1, ?2, ?3)")?
                .execute(params![seq, s.salt, s.content])?;
        }
        let prev_hash = std::mem::replace(&mut prev, hash.clone());
        stored.push(StoredEvent {
            seq,
            run_id: run.map(|(id, _)| id),
            run_seq,
            at: when,
            actor: event.actor.clone(),
            kind: event.kind.clone(),
            step: event.step.clone(),
            payload: payload_value.clone(),
            payload_sha256,
            prev_hash,
            hash,
            content: split.map(|s| Content::Held {
                salt: s.salt,
                content: s.content,
            }),
        });
    }
    Ok((stored, frontier))
}

fn field<'a>(payload: &'a Value, name: &str) -> Option<&'a str> {
    payload.get(name).and_then(Value::as_str)
}

/// The first event must be `run-started` and repeat the run's identity, so the
/// chain covers the run row (verify cross-checks them).
fn check_run_started(
    run: &NewRun,
    source_sha: &str,
    events: &[NewEvent],
) -> Result<(), StoreError> {
    let id = run.id;
    let Some(first) = events.first() else {
        return Err(StoreError::Invalid(format!(
            "run {id} must start with a {KIND_RUN_STARTED} event; nothing was written"
        )));
    };
    if first.kind != KIND_RUN_STARTED {
        return Err(StoreError::Invalid(format!(
            "run {id} must start with a {KIND_RUN_STARTED} event, not {}; nothing was written",
            first.kind
        )));
    }
    if let Some(e) = events[1..].iter().find(|e| e.kind == KIND_RUN_STARTED) {
        return Err(StoreError::Invalid(format!(
            "run {id} has a second {} event; nothing was written",
            e.kind
        )));
    }
    let expected = [
        ("procedure_id", run.procedure_id.as_str()),
        ("procedure_version", run.procedure_version.as_str()),
        ("procedure_sha256", source_sha),
        ("procedure_title", run.procedure_title.as_str()),
        ("procedure_format", run.source_format.as_str()),
        ("source_path", run.source_path.as_str()),
        ("operator", run.operator.user.as_str()),
        ("host", run.operator.host.as_str()),
        ("runsheet_version", run.runsheet_version.as_str()),
    ];
    for (name, want) in expected {
        let got = field(&first.payload, name);
        if got != Some(want) {
            return Err(StoreError::Invalid(format!(
                "run {id}: the {KIND_RUN_STARTED} payload's {name} is {got:?} but the run says {want:?}; nothing was written"
            )));
        }
    }
    let controls: Option<Vec<&str>> = first
        .payload
        .get("procedure_controls")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_str).collect());
    let want: Vec<&str> = run.procedure_controls.iter().map(String::as_str).collect();
    if controls.as_ref() != Some(&want) {
        return Err(StoreError::Invalid(format!(
            "run {id}: the {KIND_RUN_STARTED} payload's procedure_controls differ from the run's; nothing was written"
        )));
    }
    if field(&first.payload, "operator_name") != run.operator.name.as_deref() {
        return Err(StoreError::Invalid(format!(
            "run {id}: the {KIND_RUN_STARTED} payload's operator_name differs from the run's; nothing was written"
        )));
    }
    if stored_time(first.at) != stored_time(run.started_at) {
        return Err(StoreError::Invalid(format!(
            "run {id}: started_at {} differs from the {KIND_RUN_STARTED} event's time {}; nothing was written",
            time_text(run.started_at),
            time_text(first.at)
        )));
    }
    Ok(())
}

/// A run ends with exactly one `run-ended` event, last in its batch, whose
/// outcome and time are the ones written to the run's row.
fn check_end(
    run_id: Uuid,
    events: &[NewEvent],
    outcome: Option<(&str, DateTime<Utc>)>,
) -> Result<(), StoreError> {
    let ends: Vec<(usize, &NewEvent)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind == KIND_RUN_ENDED)
        .collect();
    let consistent = match (outcome, ends.as_slice()) {
        (None, []) => true,
        (Some((outcome, at)), [(i, end)]) => {
            *i + 1 == events.len()
                && field(&end.payload, "outcome") == Some(outcome)
                && stored_time(end.at) == stored_time(at)
        }
        _ => false,
    };
    if consistent {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "run {run_id}: the outcome to record ({outcome:?}) does not match the batch's {KIND_RUN_ENDED} event; nothing was written"
        )))
    }
}
