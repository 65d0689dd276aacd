//! Reading the log: runs (one, by prefix, filtered lists, the latest open one),
//! a run's events, all events streamed in chain order, procedure sources,
//! procedures' recorded approvals and reviews.
//!
//! May not depend on the engine, tui, export or app.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row};
use uuid::Uuid;

use super::kinds::{CONTENT_SHA256, KIND_PROCEDURE_APPROVED, KIND_PROCEDURE_REVIEWED};
use super::log_payload::{Act, ProcedureAct};
use super::scan::{RUN_FILTER, content_columns, filter_params};
use super::{Content, RunQuery, RunRow, Store, StoreError, StoredEvent};

/// The days one procedure was run on (UTC): the first, and those with a
/// completed run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunDays {
    /// The day of the log's first record or earliest run start (a log of
    /// generated test data dates its runs before its creation): the log
    /// holds nothing from before it.
    pub log_start: Option<NaiveDate>,
    pub first: Option<NaiveDate>,
    pub completed: BTreeSet<NaiveDate>,
}

/// Whether run `r` is a drill, as SQL (1 or 0): its `run-started` payload's
/// `drill`, which the chain covers; the row has no column of its own. One
/// index lookup (`events_by_run`) per run. A payload that is not JSON (a
/// damaged log, which verify names) reads as no drill rather than failing
/// every listing.
macro_rules! drill_of_run {
    () => {
        "coalesce((SELECT CASE WHEN json_valid(d.payload) \
         THEN json_extract(d.payload, '$.drill') END FROM events d \
         WHERE d.run_id = r.id AND d.run_seq = 1), 0)"
    };
}
pub(super) use drill_of_run;

/// A run row's own columns, as a literal so the selections below can extend it.
macro_rules! run_row_columns {
    () => {
        concat!(
            "SELECT r.id, r.procedure_id, r.procedure_version, r.procedure_title, \
             r.procedure_sha256, r.controls, r.source_path, r.operator, r.operator_name, r.host, \
             r.runsheet_version, r.started_at, r.ended_at, r.outcome, ",
            drill_of_run!()
        )
    };
}

/// The run row's columns with its event count and last activity (no `FROM`:
/// callers add `FROM runs r` after any extra columns).
pub(super) const RUN_COLUMNS: &str = concat!(
    run_row_columns!(),
    ", (SELECT count(*) FROM events e WHERE e.run_id = r.id), \
     coalesce((SELECT e.at FROM events e WHERE e.run_id = r.id ORDER BY e.run_seq DESC LIMIT 1), r.started_at)"
);

/// [`RUN_COLUMNS`] without the event count and last activity (0 and the
/// start time in their place), for readers that go through the run's events
/// anyway.
pub(super) const RUN_COLUMNS_WITHOUT_EVENTS: &str =
    concat!(run_row_columns!(), ", 0, r.started_at");

/// An event's columns (`e` is the events table), then its content's.
const EVENT_COLUMNS: &str = "SELECT e.seq, e.run_id, e.run_seq, e.at, e.actor, e.kind, e.step, \
    e.payload, e.payload_sha256, e.prev_hash, e.hash";

/// A run row as text, before parsing (parsing errors become `Corrupt`).
pub(super) struct RawRun {
    pub(super) id: String,
    procedure_id: String,
    procedure_version: String,
    procedure_title: String,
    procedure_sha256: String,
    controls: String,
    source_path: String,
    operator: String,
    operator_name: Option<String>,
    host: String,
    runsheet_version: String,
    started_at: String,
    ended_at: Option<String>,
    outcome: Option<String>,
    drill: bool,
    event_count: i64,
    last_at: String,
}

pub(super) fn raw_run(r: &Row<'_>) -> rusqlite::Result<RawRun> {
    Ok(RawRun {
        id: r.get(0)?,
        procedure_id: r.get(1)?,
        procedure_version: r.get(2)?,
        procedure_title: r.get(3)?,
        procedure_sha256: r.get(4)?,
        controls: r.get(5)?,
        source_path: r.get(6)?,
        operator: r.get(7)?,
        operator_name: r.get(8)?,
        host: r.get(9)?,
        runsheet_version: r.get(10)?,
        started_at: r.get(11)?,
        ended_at: r.get(12)?,
        outcome: r.get(13)?,
        drill: r.get(14)?,
        event_count: r.get(15)?,
        last_at: r.get(16)?,
    })
}

/// An event row as text, before parsing.
struct RawEvent {
    seq: i64,
    run_id: Option<String>,
    run_seq: i64,
    at: String,
    actor: String,
    kind: String,
    step: Option<String>,
    payload: Option<String>,
    payload_sha256: String,
    prev_hash: String,
    hash: String,
    salt: Option<String>,
    content: Option<String>,
    redacted_by: Option<i64>,
}

fn raw_event(r: &Row<'_>) -> rusqlite::Result<RawEvent> {
    Ok(RawEvent {
        seq: r.get(0)?,
        run_id: r.get(1)?,
        run_seq: r.get(2)?,
        at: r.get(3)?,
        actor: r.get(4)?,
        kind: r.get(5)?,
        step: r.get(6)?,
        payload: r.get(7)?,
        payload_sha256: r.get(8)?,
        prev_hash: r.get(9)?,
        hash: r.get(10)?,
        salt: r.get(11)?,
        content: r.get(12)?,
        redacted_by: r.get(13)?,
    })
}

impl Store {
    /// The event query for this log, up to its WHERE: with content from schema 5.
    fn event_columns(&self) -> Result<String, StoreError> {
        let (content, join) = content_columns(self.has_contents()?);
        Ok(format!("{EVENT_COLUMNS}{content} FROM events e{join}"))
    }

    fn corrupt(&self, detail: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            detail: format!("{detail}; run `runsheet verify`"),
        }
    }

    pub(crate) fn parse_time(&self, text: &str, what: &str) -> Result<DateTime<Utc>, StoreError> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| self.corrupt(format!("{what} has an unreadable time {text:?}: {e}")))
    }

    fn parse_uuid(&self, text: &str, what: &str) -> Result<Uuid, StoreError> {
        Uuid::try_parse(text)
            .map_err(|e| self.corrupt(format!("{what} has an unreadable run id {text:?}: {e}")))
    }

    pub(super) fn run_row(&self, raw: RawRun) -> Result<RunRow, StoreError> {
        let what = format!("run {}", raw.id);
        let controls: Vec<String> = serde_json::from_str(&raw.controls)
            .map_err(|e| self.corrupt(format!("{what} has unreadable controls: {e}")))?;
        Ok(RunRow {
            id: self.parse_uuid(&raw.id, &what)?,
            started_at: self.parse_time(&raw.started_at, &what)?,
            ended_at: match &raw.ended_at {
                Some(t) => Some(self.parse_time(t, &what)?),
                None => None,
            },
            last_at: self.parse_time(&raw.last_at, &what)?,
            procedure_id: raw.procedure_id,
            procedure_version: raw.procedure_version,
            procedure_title: raw.procedure_title,
            procedure_sha256: raw.procedure_sha256,
            controls,
            source_path: raw.source_path,
            operator: raw.operator,
            operator_name: raw.operator_name,
            host: raw.host,
            runsheet_version: raw.runsheet_version,
            outcome: raw.outcome,
            drill: raw.drill,
            event_count: raw.event_count,
        })
    }

    fn stored_event(&self, raw: RawEvent) -> Result<StoredEvent, StoreError> {
        let what = format!("event seq {}", raw.seq);
        let Some(text) = &raw.payload else {
            return Err(self.corrupt(format!(
                "{what} has no payload: it was removed by hand (runsheet never removes one)"
            )));
        };
        let payload: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| self.corrupt(format!("{what} has an unreadable payload: {e}")))?;
        let content = match (
            payload.get(CONTENT_SHA256).is_some(),
            raw.salt,
            raw.content,
            raw.redacted_by,
        ) {
            (false, None, None, None) => None,
            (true, Some(salt), Some(content), None) => Some(Content::Held { salt, content }),
            (true, None, None, Some(by)) => Some(Content::Redacted { by }),
            (true, ..) => {
                return Err(self.corrupt(format!(
                    "{what}'s content is missing, or neither kept nor redacted"
                )));
            }
            (false, ..) => {
                return Err(self.corrupt(format!(
                    "{what} has a content row but its payload commits to none"
                )));
            }
        };
        Ok(StoredEvent {
            seq: raw.seq,
            run_id: match &raw.run_id {
                Some(id) => Some(self.parse_uuid(id, &what)?),
                None => None,
            },
            run_seq: raw.run_seq,
            at: self.parse_time(&raw.at, &what)?,
            actor: raw.actor,
            kind: raw.kind,
            step: raw.step,
            payload,
            payload_sha256: raw.payload_sha256,
            prev_hash: raw.prev_hash,
            hash: raw.hash,
            content,
        })
    }

    pub(super) fn unique_prefix_impl(&self, id: Uuid, min: usize) -> Result<String, StoreError> {
        let text = id.hyphenated().to_string();
        let sql = |e| StoreError::sqlite(&self.path, e);
        let mut longest = 0;
        for query in [
            "SELECT id FROM runs WHERE id < ?1 ORDER BY id DESC LIMIT 1",
            "SELECT id FROM runs WHERE id > ?1 ORDER BY id LIMIT 1",
        ] {
            let neighbour: Option<String> = self
                .conn
                .prepare_cached(query)
                .and_then(|mut s| s.query_row([&text], |r| r.get(0)).optional())
                .map_err(sql)?;
            if let Some(n) = neighbour {
                let shared = text
                    .bytes()
                    .zip(n.bytes())
                    .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
                    .count();
                longest = longest.max(shared);
            }
        }
        let mut len = (longest + 1).max(min).min(text.len());
        // Never end on a dash: it tells nothing apart.
        if text.as_bytes().get(len - 1) == Some(&b'-') {
            len += 1;
        }
        Ok(text[..len.min(text.len())].to_string())
    }

    pub(super) fn run_impl(&self, id: Uuid) -> Result<Option<RunRow>, StoreError> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        let raw = self
            .conn
            .prepare_cached(&format!("{RUN_COLUMNS} FROM runs r WHERE r.id = ?1"))
            .and_then(|mut s| {
                s.query_row([id.hyphenated().to_string()], raw_run)
                    .optional()
            })
            .map_err(sql)?;
        raw.map(|r| self.run_row(r)).transpose()
    }

    pub(super) fn find_run_impl(&self, prefix: &str) -> Result<RunRow, StoreError> {
        let wanted = prefix.trim().to_ascii_lowercase();
        if wanted.is_empty() || !wanted.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(StoreError::NotFound(format!(
                "no run matches {prefix:?}: a run id is hexadecimal with dashes; list runs with `runsheet runs`"
            )));
        }
        let sql = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "{RUN_COLUMNS} FROM runs r WHERE substr(r.id, 1, length(?1)) = ?1 ORDER BY r.id LIMIT 6"
            ))
            .map_err(sql)?;
        let raws = stmt
            .query_map([&wanted], raw_run)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(sql)?;
        match raws.len() {
            0 => Err(StoreError::NotFound(format!(
                "no run id starts with {wanted:?}; list runs with `runsheet runs`"
            ))),
            1 => {
                let mut raws = raws;
                match raws.pop() {
                    Some(raw) => self.run_row(raw),
                    None => Err(StoreError::NotFound(format!(
                        "no run id starts with {wanted:?}"
                    ))),
                }
            }
            n => {
                let ids: Vec<&str> = raws.iter().take(5).map(|r| r.id.as_str()).collect();
                let more = if n > 5 { ", ..." } else { "" };
                Err(StoreError::Ambiguous(format!(
                    "run id {wanted:?} matches several runs ({}{more}); give more characters",
                    ids.join(", ")
                )))
            }
        }
    }

    pub(super) fn runs_impl(&self, filter: &RunQuery) -> Result<Vec<RunRow>, StoreError> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        let limit = filter
            .limit
            .and_then(|n| i64::try_from(n).ok())
            .unwrap_or(-1);
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "{RUN_COLUMNS} FROM runs r WHERE {RUN_FILTER} \
                 ORDER BY r.started_at DESC, r.id DESC LIMIT ?9"
            ))
            .map_err(sql)?;
        let raws = stmt
            .query_map(filter_params(filter, Some(Value::Integer(limit))), raw_run)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(sql)?;
        raws.into_iter().map(|r| self.run_row(r)).collect()
    }

    pub(super) fn sign_offs_impl(&self) -> Result<Vec<(Uuid, String)>, StoreError> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT run_id, json_extract(payload, '$.by') FROM events \
                 WHERE kind = 'signed-off' AND run_id IS NOT NULL AND json_valid(payload) \
                 ORDER BY seq",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(sql)?;
        rows.into_iter()
            .map(|(id, by)| {
                let what = format!("a sign-off of run {id}");
                Ok((self.parse_uuid(&id, &what)?, by.unwrap_or_default()))
            })
            .collect()
    }

    /// The UTC day of the log's first record (or of its earliest run, if
    /// earlier): nothing before it can be judged from the log.
    pub(super) fn first_record_day_impl(&self) -> Result<Option<NaiveDate>, StoreError> {
        let first_record: Option<String> = self
            .conn
            .query_row(
                "SELECT substr(min(t), 1, 10) FROM (SELECT min(at) AS t FROM events WHERE seq = 1 \
                 UNION ALL SELECT min(started_at) FROM runs) WHERE t IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .map_err(|e| StoreError::sqlite(&self.path, e))?;
        first_record
            .map(|day| {
                NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|e| {
                    self.corrupt(format!(
                        "the log's first record has an unreadable time {day:?}: {e}"
                    ))
                })
            })
            .transpose()
    }

    pub(super) fn run_days_impl(&self, procedure_id: &str) -> Result<RunDays, StoreError> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = self
            .conn
            // Drills are practice: not runs of the procedure's cadence.
            .prepare_cached(concat!(
                "SELECT DISTINCT substr(started_at, 1, 10), outcome = 'completed' FROM runs r \
                 WHERE procedure_id = ?1 AND NOT ",
                drill_of_run!(),
                " ORDER BY 1"
            ))
            .map_err(sql)?;
        let rows = stmt
            .query_map([procedure_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<bool>>(1)?))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(sql)?;
        let mut days = RunDays {
            log_start: self.first_record_day_impl()?,
            ..RunDays::default()
        };
        for (day, completed) in rows {
            let day = NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|e| {
                self.corrupt(format!(
                    "a run of procedure {procedure_id:?} has an unreadable start time {day:?}: {e}"
                ))
            })?;
            days.first = Some(days.first.map_or(day, |f: NaiveDate| f.min(day)));
            if completed == Some(true) {
                days.completed.insert(day);
            }
        }
        Ok(days)
    }

    pub(super) fn latest_open_run_impl(
        &self,
        operator: &str,
        procedure: Option<&str>,
    ) -> Result<Option<RunRow>, StoreError> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        let raw = self
            .conn
            .prepare_cached(&format!(
                "{RUN_COLUMNS} FROM runs r WHERE r.outcome IS NULL AND r.operator = ?1 \
                 AND (?2 IS NULL OR r.procedure_id = ?2) \
                 ORDER BY r.started_at DESC, r.id DESC LIMIT 1"
            ))
            .and_then(|mut s| {
                s.query_row(rusqlite::params![operator, procedure], raw_run)
                    .optional()
            })
            .map_err(sql)?;
        raw.map(|r| self.run_row(r)).transpose()
    }

    pub(super) fn events_impl(&self, run_id: Uuid) -> Result<Vec<StoredEvent>, StoreError> {
        self.events_after_impl(run_id, 0)
    }

    pub(super) fn events_after_impl(
        &self,
        run_id: Uuid,
        after: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "{} WHERE e.run_id = ?1 AND e.run_seq > ?2 ORDER BY e.run_seq",
                self.event_columns()?
            ))
            .map_err(sql)?;
        let raws = stmt
            .query_map(
                rusqlite::params![run_id.hyphenated().to_string(), after],
                raw_event,
            )
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(sql)?;
        raws.into_iter().map(|r| self.stored_event(r)).collect()
    }

    pub(super) fn for_each_event_impl(
        &self,
        from_seq: i64,
        mut f: impl FnMut(StoredEvent) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "{} WHERE e.seq >= ?1 ORDER BY e.seq",
                self.event_columns()?
            ))
            .map_err(sql)?;
        let mut rows = stmt.query([from_seq]).map_err(sql)?;
        while let Some(row) = rows.next().map_err(sql)? {
            let raw = raw_event(row).map_err(sql)?;
            f(self.stored_event(raw)?)?;
        }
        Ok(())
    }

    pub(super) fn procedure_acts_impl(
        &self,
        procedure_id: Option<&str>,
    ) -> Result<Vec<ProcedureAct>, StoreError> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        let rows: Vec<(i64, String, String, String, String)> = self
            .conn
            .prepare_cached(
                "SELECT seq, at, actor, kind, payload FROM events \
                 WHERE run_id IS NULL AND kind IN (?1, ?2) ORDER BY seq",
            )
            .and_then(|mut s| {
                s.query_map([KIND_PROCEDURE_APPROVED, KIND_PROCEDURE_REVIEWED], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect()
            })
            .map_err(sql)?;
        let mut out = Vec::new();
        for (seq, at, actor, kind, payload) in rows {
            let what = format!("the {kind} event at seq {seq}");
            let unreadable = |e: serde_json::Error| {
                self.corrupt(format!("{what} has an unreadable payload: {e}"))
            };
            let act = if kind == KIND_PROCEDURE_APPROVED {
                Act::Approved(serde_json::from_str(&payload).map_err(unreadable)?)
            } else {
                Act::Reviewed(serde_json::from_str(&payload).map_err(unreadable)?)
            };
            if procedure_id.is_some_and(|id| id != act.procedure_id()) {
                continue;
            }
            out.push(ProcedureAct {
                seq,
                at: self.parse_time(&at, &what)?,
                actor,
                act,
            });
        }
        Ok(out)
    }

    pub(super) fn procedure_source_impl(
        &self,
        sha256: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        self.conn
            .prepare_cached("SELECT text, format FROM procedure_sources WHERE sha256 = ?1")
            .and_then(|mut s| {
                s.query_row([sha256], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(sql)
    }
}
