//! Streaming reads for exports and bundle checks: runs one at a time (oldest
//! first, optionally with per-kind event counts), runs with their events
//! borrowed straight from SQLite's row buffers, a read snapshot so several passes see
//! the same log, the records of no exported run (evidence.json's links),
//! and point lookups of one event's identity.
//!
//! Nothing here collects rows: memory does not grow with the size of the log.
//! May not depend on the engine, tui, export or app.

use chrono::{Days, NaiveDate};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{OptionalExtension, ParamsFromIter, Row, params_from_iter};

use super::read::{RUN_COLUMNS, RUN_COLUMNS_WITHOUT_EVENTS, raw_run};
use super::schema::DEVIATION_CONDITION;
use super::{RunQuery, RunRow, Store, StoreError};
use crate::vocab::DeviationCounts;

/// One event as stored, borrowed from the current row (valid during the callback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    pub seq: i64,
    /// Hyphenated lower-case run id as stored.
    pub run_id: &'a str,
    pub run_seq: i64,
    /// RFC 3339 as stored (runsheet writes UTC, milliseconds, `Z`).
    pub at: &'a str,
    pub actor: &'a str,
    pub kind: &'a str,
    pub step: Option<&'a str>,
    /// Canonical JSON as stored.
    pub payload: &'a str,
    pub payload_sha256: &'a str,
    pub prev_hash: &'a str,
    pub hash: &'a str,
    /// The event's content (schema 5), when its payload commits to one.
    pub content: Option<ContentRef<'a>>,
}

/// A record of evidence.json's `links`, borrowed from the current row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkRef<'a> {
    pub seq: i64,
    /// `None` for a log event (it belongs to no run).
    pub run_id: Option<&'a str>,
    pub run_seq: i64,
    pub at: &'a str,
    pub actor: &'a str,
    pub kind: &'a str,
    pub step: Option<&'a str>,
    /// Canonical JSON as stored, for a log event; `None` for a run's event.
    pub payload: Option<&'a str>,
    pub payload_sha256: &'a str,
    pub prev_hash: &'a str,
    pub hash: &'a str,
}

/// An event's redactable content as stored, borrowed (see [`super::Content`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentRef<'a> {
    /// The salt (hex) and the content (canonical JSON) the payload commits to.
    Held { salt: &'a str, content: &'a str },
    /// Erased by the `redaction` event at this seq.
    Redacted { by: i64 },
}

impl ContentRef<'_> {
    /// The owned form.
    pub fn to_content(self) -> super::Content {
        match self {
            ContentRef::Held { salt, content } => super::Content::Held {
                salt: salt.into(),
                content: content.into(),
            },
            ContentRef::Redacted { by } => super::Content::Redacted { by },
        }
    }
}

/// The content columns a scan of `events e` selects after the event's own:
/// from `contents c` (schema 5), or three NULLs for an older log.
pub(super) fn content_columns(has_contents: bool) -> (&'static str, &'static str) {
    if has_contents {
        (
            ", c.salt, c.content, c.redacted_by",
            " LEFT JOIN contents c ON c.seq = e.seq",
        )
    } else {
        (", NULL, NULL, NULL", "")
    }
}

/// Where an event sits in the log and its hash (for comparing a bundle with the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventKeyRow {
    pub run_id: Option<String>,
    pub run_seq: i64,
    pub hash: String,
}

/// The filter clause shared by run listings: parameters ?1..?8.
pub(super) const RUN_FILTER: &str = concat!(
    "(?1 IS NULL OR r.procedure_id = ?1) \
     AND (?2 IS NULL OR (?2 = 'open' AND r.outcome IS NULL) OR r.outcome = ?2) \
     AND (?3 IS NULL OR r.operator = ?3 COLLATE NOCASE OR r.operator_name = ?3 COLLATE NOCASE) \
     AND (?4 IS NULL OR r.started_at >= ?4) \
     AND (?5 IS NULL OR r.started_at < ?5) \
     AND (?6 IS NULL OR EXISTS (SELECT 1 FROM json_each(r.controls) j \
          WHERE j.value = ?6 COLLATE NOCASE)) \
     AND (?7 IS NULL OR r.id IN (SELECT value FROM json_each(?7))) \
     AND (?8 IS NULL OR ",
    super::read::drill_of_run!(),
    " = ?8)"
);

/// The values of `RUN_FILTER`'s ?1..?8, then `extra` as ?9, ?10 … if given.
pub(super) fn filter_params(
    filter: &RunQuery,
    extra: impl IntoIterator<Item = Value>,
) -> ParamsFromIter<Vec<Value>> {
    let day = |d: NaiveDate| format!("{}T00:00:00.000Z", d.format("%Y-%m-%d"));
    let since = filter.since.map(day);
    let until = filter
        .until
        .and_then(|d| d.checked_add_days(Days::new(1)))
        .map(day);
    let text = |v: Option<String>| v.map_or(Value::Null, Value::Text);
    let mut values = vec![
        text(filter.procedure.clone()),
        text(filter.outcome.clone()),
        text(filter.operator.clone()),
        text(since),
        text(until),
        text(filter.control.as_deref().map(|c| c.trim().to_string())),
        text((!filter.ids.is_empty()).then(|| {
            let ids: Vec<String> = filter
                .ids
                .iter()
                .map(|id| id.hyphenated().to_string())
                .collect();
            serde_json::Value::from(ids).to_string()
        })),
        filter
            .drill
            .map_or(Value::Null, |d| Value::Integer(d.into())),
    ];
    values.extend(extra);
    params_from_iter(values)
}

/// Column `i` as text; otherwise an error naming the column and what it holds.
fn text<'a>(row: &'a Row<'_>, i: usize) -> rusqlite::Result<&'a str> {
    let v = row.get_ref(i)?;
    v.as_str().map_err(|_| {
        let name = row.as_ref().column_name(i).unwrap_or("?").to_string();
        rusqlite::Error::InvalidColumnType(i, name, v.data_type())
    })
}

fn opt_text<'a>(row: &'a Row<'_>, i: usize) -> rusqlite::Result<Option<&'a str>> {
    match row.get_ref(i)? {
        ValueRef::Null => Ok(None),
        _ => text(row, i).map(Some),
    }
}

/// The order of runs in exports: start time, then the order they were written in.
const RUN_ORDER: &str = "r.started_at, r.rowid";

/// What [`Store::for_each_run_with_events`] shows, in order.
#[derive(Debug, Clone, Copy)]
pub enum Visit<'r, 'e> {
    /// A run begins (its events follow).
    Start(&'r RunRow),
    /// One of its events.
    Event(&'e EventRef<'e>),
    /// The run's events are all shown.
    End(&'r RunRow),
}

fn event_ref<'a>(row: &'a Row<'_>) -> rusqlite::Result<EventRef<'a>> {
    Ok(EventRef {
        seq: row.get(0)?,
        run_id: text(row, 1)?,
        run_seq: row.get(2)?,
        at: text(row, 3)?,
        actor: text(row, 4)?,
        kind: text(row, 5)?,
        step: opt_text(row, 6)?,
        payload: text(row, 7)?,
        payload_sha256: text(row, 8)?,
        prev_hash: text(row, 9)?,
        hash: text(row, 10)?,
        content: match (
            opt_text(row, 11)?,
            opt_text(row, 12)?,
            row.get::<_, Option<i64>>(13)?,
        ) {
            (Some(salt), Some(content), None) => Some(ContentRef::Held { salt, content }),
            (None, None, Some(by)) => Some(ContentRef::Redacted { by }),
            (None, None, None) => None,
            _ => {
                return Err(rusqlite::Error::InvalidColumnType(
                    12,
                    "content".into(),
                    rusqlite::types::Type::Null,
                ));
            }
        },
    })
}

/// Separator of the concatenated kinds (ASCII unit separator; never in a kind).
const KIND_SEP: char = '\u{1f}';

impl Store {
    /// Run `f` inside one read transaction: every read it makes sees the log as
    /// it was at its first read, whatever other processes append meanwhile.
    /// Inside another transaction, `f` simply runs in that one.
    pub fn read_snapshot<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, E>,
    ) -> Result<T, E> {
        if !self.conn.is_autocommit() {
            return f(self);
        }
        let sql = |e| StoreError::sqlite(&self.path, e);
        self.conn.execute_batch("BEGIN DEFERRED").map_err(sql)?;
        let result = f(self);
        // Nothing was written: ending the transaction either way only releases the snapshot.
        let end = self.conn.execute_batch("ROLLBACK").map_err(sql);
        let value = result?;
        end?;
        Ok(value)
    }

    /// Runs matching `filter` (its `limit` ignored), oldest first, one at a
    /// time. With `deviations`, `f` also gets how many events of each of
    /// [`DEVIATION_KINDS`] the run has (otherwise zeros).
    pub fn for_each_run<E: From<StoreError>>(
        &self,
        filter: &RunQuery,
        deviations: bool,
        mut f: impl FnMut(RunRow, DeviationCounts) -> Result<(), E>,
    ) -> Result<(), E> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "{RUN_COLUMNS}, CASE WHEN ?9 THEN \
                 (SELECT group_concat(e.kind, char(31)) FROM events e \
                  WHERE e.run_id = r.id AND e.{DEVIATION_CONDITION}) END \
                 FROM runs r WHERE {RUN_FILTER} ORDER BY {RUN_ORDER}"
            ))
            .map_err(sql)?;
        let mut rows = stmt
            .query(filter_params(
                filter,
                Some(Value::Integer(deviations.into())),
            ))
            .map_err(sql)?;
        while let Some(row) = rows.next().map_err(sql)? {
            let raw = raw_run(row).map_err(sql)?;
            let mut counts = DeviationCounts::default();
            if let Some(found) = opt_text(row, 17).map_err(sql)? {
                for kind in found.split(KIND_SEP) {
                    counts.count(kind);
                }
            }
            f(self.run_row(raw)?, counts)?;
        }
        Ok(())
    }

    /// Runs matching `filter` (its `limit` ignored), oldest first, each with
    /// its events in order: `f` sees [`Visit::Start`], each [`Visit::Event`]
    /// (borrowed from SQLite for the call), then [`Visit::End`]. Two cursors in
    /// the same order (runs; runs joined with their events) walked side by side.
    /// The rows it shows have `event_count` 0 and `last_at` = `started_at`:
    /// the caller sees the events themselves.
    pub fn for_each_run_with_events<E: From<StoreError>>(
        &self,
        filter: &RunQuery,
        mut f: impl FnMut(Visit<'_, '_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        let mut run_stmt = self
            .conn
            .prepare_cached(&format!(
                "{RUN_COLUMNS_WITHOUT_EVENTS} FROM runs r WHERE {RUN_FILTER} ORDER BY {RUN_ORDER}"
            ))
            .map_err(sql)?;
        let mut runs = run_stmt.query(filter_params(filter, None)).map_err(sql)?;
        let (content_cols, content_join) = content_columns(self.has_contents()?);
        let mut event_stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT e.seq, e.run_id, e.run_seq, e.at, e.actor, e.kind, e.step, e.payload, \
                 e.payload_sha256, e.prev_hash, e.hash{content_cols} \
                 FROM runs r CROSS JOIN events e ON e.run_id = r.id{content_join} \
                 WHERE {RUN_FILTER} ORDER BY {RUN_ORDER}, e.run_seq"
            ))
            .map_err(sql)?;
        let mut events = event_stmt.query(filter_params(filter, None)).map_err(sql)?;
        let mut next_run = || -> Result<Option<(RunRow, String)>, StoreError> {
            match runs.next().map_err(sql)? {
                Some(row) => {
                    let raw = raw_run(row).map_err(sql)?;
                    let id = raw.id.clone();
                    Ok(Some((self.run_row(raw)?, id)))
                }
                None => Ok(None),
            }
        };
        let mut current: Option<(RunRow, String)> = None;
        while let Some(row) = events.next().map_err(sql)? {
            let event = event_ref(row).map_err(|e| {
                let seq = row.get_ref(0).ok().and_then(|v| v.as_i64().ok());
                self.unreadable_event(seq, &e)
            })?;
            if current.as_ref().map(|(_, id)| id.as_str()) != Some(event.run_id) {
                if let Some((run, _)) = current.take() {
                    f(Visit::End(&run))?;
                }
                loop {
                    let Some((run, id)) = next_run()? else {
                        return Err(StoreError::Invalid(format!(
                            "event seq {} belongs to run {} which the run list does not hold",
                            event.seq, event.run_id
                        ))
                        .into());
                    };
                    f(Visit::Start(&run))?;
                    if id == event.run_id {
                        current = Some((run, id));
                        break;
                    }
                    f(Visit::End(&run))?; // a run without events
                }
            }
            f(Visit::Event(&event))?;
        }
        if let Some((run, _)) = current.take() {
            f(Visit::End(&run))?;
        }
        while let Some((run, _)) = next_run()? {
            f(Visit::Start(&run))?;
            f(Visit::End(&run))?;
        }
        Ok(())
    }

    fn unreadable_event(&self, seq: Option<i64>, e: &rusqlite::Error) -> StoreError {
        let which = seq.map_or_else(|| "an event".to_string(), |s| format!("event seq {s}"));
        let why = match e {
            rusqlite::Error::InvalidColumnType(_, name, rusqlite::types::Type::Null) => {
                format!("its {name} is missing")
            }
            rusqlite::Error::InvalidColumnType(_, name, _) => {
                format!("its {name} holds a value runsheet never writes")
            }
            other => other.to_string(),
        };
        StoreError::Corrupt {
            path: self.path.clone(),
            detail: format!("{which} cannot be read ({why}); run `runsheet verify`"),
        }
    }

    /// One run's events in order, each borrowed from SQLite for the call.
    pub fn for_each_event_of_run<E: From<StoreError>>(
        &self,
        run_id: uuid::Uuid,
        mut f: impl FnMut(&EventRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        let (content_cols, content_join) = content_columns(self.has_contents()?);
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT e.seq, e.run_id, e.run_seq, e.at, e.actor, e.kind, e.step, e.payload, \
                 e.payload_sha256, e.prev_hash, e.hash{content_cols} FROM events e{content_join} \
                 WHERE e.run_id = ?1 ORDER BY e.run_seq"
            ))
            .map_err(sql)?;
        let mut rows = stmt.query([run_id.hyphenated().to_string()]).map_err(sql)?;
        while let Some(row) = rows.next().map_err(sql)? {
            let event = event_ref(row).map_err(|e| {
                let seq = row.get_ref(0).ok().and_then(|v| v.as_i64().ok());
                self.unreadable_event(seq, &e)
            })?;
            f(&event)?;
        }
        Ok(())
    }

    /// The records with `after < seq <= upto` that belong to no run matching
    /// `filter`, in chain order (evidence.json's `links`): a log event (no
    /// run) with its payload, a left-out run's event without it (`payload`
    /// `None`; its record hash needs only its `payload_sha256`). One query;
    /// SQLite keeps the matching run ids for the `NOT IN`, nothing else grows.
    pub fn for_each_link<E: From<StoreError>>(
        &self,
        filter: &RunQuery,
        after: i64,
        upto: i64,
        mut f: impl FnMut(&LinkRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT e.seq, e.run_id, e.run_seq, e.at, e.actor, e.kind, e.step, \
                 CASE WHEN e.run_id IS NULL THEN e.payload END, \
                 e.payload_sha256, e.prev_hash, e.hash FROM events e \
                 WHERE e.seq > ?9 AND e.seq <= ?10 AND (e.run_id IS NULL OR e.run_id NOT IN \
                 (SELECT r.id FROM runs r WHERE {RUN_FILTER})) ORDER BY e.seq"
            ))
            .map_err(sql)?;
        let params = filter_params(filter, [Value::Integer(after), Value::Integer(upto)]);
        let mut rows = stmt.query(params).map_err(sql)?;
        while let Some(row) = rows.next().map_err(sql)? {
            let read = || -> rusqlite::Result<LinkRef<'_>> {
                Ok(LinkRef {
                    seq: row.get(0)?,
                    run_id: opt_text(row, 1)?,
                    run_seq: row.get(2)?,
                    at: text(row, 3)?,
                    actor: text(row, 4)?,
                    kind: text(row, 5)?,
                    step: opt_text(row, 6)?,
                    payload: opt_text(row, 7)?,
                    payload_sha256: text(row, 8)?,
                    prev_hash: text(row, 9)?,
                    hash: text(row, 10)?,
                })
            };
            let link = read().map_err(|e| {
                let seq = row.get_ref(0).ok().and_then(|v| v.as_i64().ok());
                self.unreadable_event(seq, &e)
            })?;
            if link.run_id.is_none() && link.payload.is_none() {
                return Err(self
                    .unreadable_event(
                        Some(link.seq),
                        &rusqlite::Error::InvalidColumnType(
                            7,
                            "payload".into(),
                            rusqlite::types::Type::Null,
                        ),
                    )
                    .into());
            }
            f(&link)?;
        }
        Ok(())
    }

    /// The run, run_seq and hash of the event at `seq`, if there is one.
    pub fn event_key(&self, seq: i64) -> Result<Option<EventKeyRow>, StoreError> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        self.conn
            .prepare_cached("SELECT run_id, run_seq, hash FROM events WHERE seq = ?1")
            .and_then(|mut s| {
                s.query_row([seq], |r| {
                    Ok(EventKeyRow {
                        run_id: r.get(0)?,
                        run_seq: r.get(1)?,
                        hash: r.get(2)?,
                    })
                })
                .optional()
            })
            .map_err(sql)
    }
}
