//! Run rows for verify without holding them all: the state of the runs the
//! walk has open (a bounded cache, rebuilt from the log on a miss), point
//! look-ups of a run's row, and the run-level checks after the walk as
//! streaming queries.
//!
//! May not depend on the engine, tui, export or app.

use std::collections::HashMap;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};
use uuid::Uuid;

use super::{Finding, Problem};
use crate::store::KIND_RUN_ENDED;

/// A run id as runsheet writes it: lower-case hyphenated UUID text.
pub(super) type IdText = [u8; 36];

pub(super) fn id_text(id: Uuid) -> IdText {
    let mut out = [0u8; 36];
    id.hyphenated().encode_lower(&mut out);
    out
}

/// What the walk knows of a run so far (all of it can be rebuilt from the
/// run's row and its last event before the current one, see [`lookup`]).
#[derive(Debug, Clone)]
pub(super) struct RunState {
    pub text: IdText,
    pub id: Uuid,
    pub ended_at: Option<String>,
    pub outcome: Option<String>,
    /// run_seq of the run's last verified event (0: none yet).
    pub last_run_seq: i64,
    pub last_at: Vec<u8>,
    /// seq of its verified `run-ended` event.
    pub ended_seq: Option<i64>,
    /// seq of the run's last event seen (for eviction).
    seen: i64,
}

/// The columns of a run's row that its `run-started` event repeats; one
/// buffer reused for every look-up.
#[derive(Debug)]
pub(super) struct RowFields {
    pub id: IdText,
    pub procedure_id: String,
    pub procedure_version: String,
    pub procedure_sha256: String,
    pub operator: String,
    pub operator_name: Option<String>,
    pub host: String,
    pub runsheet_version: String,
    pub started_at: String,
    pub procedure_title: String,
    /// The `controls` column as stored (JSON text).
    pub controls: String,
    pub source_path: String,
}

impl Default for RunState {
    fn default() -> Self {
        RunState {
            text: [0; 36],
            id: Uuid::nil(),
            ended_at: None,
            outcome: None,
            last_run_seq: 0,
            last_at: Vec::new(),
            ended_seq: None,
            seen: 0,
        }
    }
}

impl Default for RowFields {
    fn default() -> Self {
        RowFields {
            id: [0; 36],
            procedure_id: String::new(),
            procedure_version: String::new(),
            procedure_sha256: String::new(),
            operator: String::new(),
            operator_name: None,
            host: String::new(),
            runsheet_version: String::new(),
            started_at: String::new(),
            procedure_title: String::new(),
            controls: String::new(),
            source_path: String::new(),
        }
    }
}

/// The runs the walk has seen and not seen end, at most `cap` of them: a run
/// that ends leaves; when more than `cap` are open (runs left open for good
/// pile up in a real log), the half seen least recently leave. A run that left
/// and shows up again is looked up again, so the cache changes no result.
pub(super) struct OpenRuns {
    cap: usize,
    slots: Vec<RunState>,
    index: HashMap<IdText, usize>,
    free: Vec<usize>,
    /// The slot of the previous event's run: events of one run mostly come
    /// together, so most look-ups are one 36-byte compare.
    last: Option<usize>,
}

impl OpenRuns {
    pub fn new(cap: usize) -> OpenRuns {
        OpenRuns {
            cap: cap.max(1),
            slots: Vec::new(),
            index: HashMap::new(),
            free: Vec::new(),
            last: None,
        }
    }

    /// The slot of the run whose id text is `text`, when cached.
    pub fn find(&mut self, text: &[u8]) -> Option<usize> {
        if let Some(i) = self.last
            && self.slots[i].text.as_slice() == text
        {
            return Some(i);
        }
        let i = *self.index.get(text)?;
        self.last = Some(i);
        Some(i)
    }

    pub fn get_mut(&mut self, slot: usize, seq: i64) -> &mut RunState {
        let state = &mut self.slots[slot];
        state.seen = seq;
        state
    }

    /// Cache `state`, first making room if the cache is full.
    pub fn insert(&mut self, state: RunState, seq: i64) -> usize {
        if self.index.len() >= self.cap {
            self.evict_older_half();
        }
        let text = state.text;
        let state = RunState { seen: seq, ..state };
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i] = state;
                i
            }
            None => {
                self.slots.push(state);
                self.slots.len() - 1
            }
        };
        self.index.insert(text, slot);
        self.last = Some(slot);
        slot
    }

    /// The run ended: it leaves the cache.
    pub fn remove(&mut self, slot: usize) {
        let text = self.slots[slot].text;
        if self.index.remove(&text).is_some() {
            self.free.push(slot);
        }
        self.last = None;
    }

    fn evict_older_half(&mut self) {
        let mut seen: Vec<i64> = self.index.values().map(|&i| self.slots[i].seen).collect();
        let mid = seen.len() / 2;
        let (_, &mut cut, _) = seen.select_nth_unstable(mid);
        let slots = &self.slots;
        let free = &mut self.free;
        self.index.retain(|_, &mut i| {
            let keep = slots[i].seen >= cut;
            if !keep {
                free.push(i);
            }
            keep
        });
        self.last = None;
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.index.len()
    }
}

/// What a point look-up of a run found.
pub(super) enum Looked {
    /// The row (in `row`), its rowid, and the run's state before `seq`.
    Found(RunState, i64),
    /// No row with that id.
    NoRow,
}

/// What a run-row column reads as when it holds something runsheet never
/// writes there (not UTF-8 text): it then equals nothing an event says, so
/// the row is reported as not matching its events.
pub(super) const NOT_TEXT: &str = "\u{0}(not text: a value runsheet never writes)";

fn as_text(v: ValueRef<'_>) -> Option<Option<&str>> {
    match v {
        ValueRef::Null => Some(None),
        ValueRef::Text(t) => std::str::from_utf8(t).ok().map(Some),
        _ => None,
    }
}

fn text_col(row: &rusqlite::Row<'_>, i: usize, into: &mut String) -> rusqlite::Result<()> {
    into.clear();
    into.push_str(as_text(row.get_ref(i)?).flatten().unwrap_or(NOT_TEXT));
    Ok(())
}

fn opt_text_col(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<String>> {
    Ok(match as_text(row.get_ref(i)?) {
        Some(v) => v.map(str::to_string),
        None => Some(NOT_TEXT.to_string()),
    })
}

/// The row columns from `at` on, in [`ROW_COLUMNS`] order, into `row`;
/// returns (ended_at, outcome).
fn read_row(
    r: &rusqlite::Row<'_>,
    at: usize,
    row: &mut RowFields,
) -> rusqlite::Result<(Option<String>, Option<String>)> {
    text_col(r, at, &mut row.procedure_id)?;
    text_col(r, at + 1, &mut row.procedure_version)?;
    text_col(r, at + 2, &mut row.procedure_sha256)?;
    text_col(r, at + 3, &mut row.operator)?;
    text_col(r, at + 4, &mut row.host)?;
    text_col(r, at + 5, &mut row.runsheet_version)?;
    text_col(r, at + 6, &mut row.started_at)?;
    row.operator_name = opt_text_col(r, at + 9)?;
    text_col(r, at + 10, &mut row.procedure_title)?;
    text_col(r, at + 11, &mut row.controls)?;
    text_col(r, at + 12, &mut row.source_path)?;
    Ok((opt_text_col(r, at + 7)?, opt_text_col(r, at + 8)?))
}

const ROW_COLUMNS: &str = "r.procedure_id, r.procedure_version, r.procedure_sha256, r.operator, \
    r.host, r.runsheet_version, r.started_at, r.ended_at, r.outcome, r.operator_name, \
    r.procedure_title, r.controls, r.source_path";

/// Look up run `text`'s row (into `row`) and the run's last event before
/// `seq`: the state a walk that held every run would have for it at `seq`.
/// Every event before `seq` has been verified when this is asked (or, on the
/// second half of a split walk, is verified by the first half before the
/// answer counts).
pub(super) fn lookup(
    conn: &Connection,
    id: Uuid,
    text: &IdText,
    seq: i64,
    row: &mut RowFields,
) -> rusqlite::Result<Looked> {
    let Ok(text_str) = std::str::from_utf8(text) else {
        return Ok(Looked::NoRow);
    };
    // The events sub-query names the run through `r.id`: binding `?1` against
    // `events.run_id` makes SQLite (STAT4 build) re-prepare the statement on
    // every call (see src/store/write.rs).
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT r.rowid, (SELECT max(e.seq) FROM events e WHERE e.run_id = r.id AND e.seq < ?2), \
         {ROW_COLUMNS} FROM runs r WHERE r.id = ?1"
    ))?;
    let mut rows = stmt.query(rusqlite::params![text_str, seq])?;
    let Some(r) = rows.next()? else {
        return Ok(Looked::NoRow);
    };
    row.id = *text;
    let rowid: i64 = r.get(0)?;
    let prior: Option<i64> = r.get(1)?;
    let (ended_at, outcome) = read_row(r, 2, row)?;
    drop(rows);
    let mut state = RunState {
        text: *text,
        id,
        ended_at,
        outcome,
        ..RunState::default()
    };
    if let Some(p) = prior {
        // Verified before `seq`, so run_seq, at and kind are as runsheet writes them.
        let mut stmt =
            conn.prepare_cached("SELECT run_seq, at, kind FROM events WHERE seq = ?1")?;
        let mut rows = stmt.query([p])?;
        if let Some(r) = rows.next()? {
            state.last_run_seq = r.get_ref(0)?.as_i64()?;
            state.last_at = r.get_ref(1)?.as_bytes()?.to_vec();
            if r.get_ref(2)?.as_bytes()? == KIND_RUN_ENDED.as_bytes() {
                state.ended_seq = Some(p);
            }
        }
    }
    Ok(Looked::Found(state, rowid))
}

/// The SQL of a [`RowCursor`]: rows of `runs` from rowid `?1` on, in rowid order.
pub(super) fn cursor_sql() -> String {
    format!("SELECT r.rowid, r.id, {ROW_COLUMNS} FROM runs r WHERE r.rowid >= ?1 ORDER BY r.rowid")
}

/// The rows of `runs` in rowid order, read beside the walk. A run's row is
/// inserted in the transaction that appends its `run-started` event, so rows
/// come in the order runs start in the chain, and the next row is almost
/// always the row of the next run the walk meets: one sequential read instead
/// of a point look-up per run.
pub(super) struct RowCursor<'s> {
    rows: rusqlite::Rows<'s>,
    /// The row at the cursor, when there is one.
    head: Option<i64>,
    id: Vec<u8>,
    row: RowFields,
    ended_at: Option<String>,
    outcome: Option<String>,
}

impl<'s> RowCursor<'s> {
    pub fn new(rows: rusqlite::Rows<'s>) -> rusqlite::Result<RowCursor<'s>> {
        let mut cursor = RowCursor {
            rows,
            head: None,
            id: Vec::with_capacity(36),
            row: RowFields::default(),
            ended_at: None,
            outcome: None,
        };
        cursor.advance()?;
        Ok(cursor)
    }

    /// The rowid at the cursor (`i64::MAX` past the last row).
    pub fn position(&self) -> i64 {
        self.head.unwrap_or(i64::MAX)
    }

    fn advance(&mut self) -> rusqlite::Result<()> {
        self.head = None;
        if let Some(r) = self.rows.next()? {
            self.id.clear();
            if let ValueRef::Text(t) = r.get_ref(1)? {
                self.id.extend_from_slice(t);
            }
            let (ended_at, outcome) = read_row(r, 2, &mut self.row)?;
            self.ended_at = ended_at;
            self.outcome = outcome;
            self.head = Some(r.get(0)?);
        }
        Ok(())
    }

    /// Take the row at the cursor when it is run `text`'s and its rowid is
    /// above `above` (so the walk has looked this row up never before, and
    /// the run has no earlier event): its state, its row into `row`.
    pub fn take(
        &mut self,
        id: Uuid,
        text: &IdText,
        above: i64,
        row: &mut RowFields,
    ) -> rusqlite::Result<Option<(RunState, i64)>> {
        let Some(rowid) = self.head else {
            return Ok(None);
        };
        if rowid <= above || self.id.as_slice() != text.as_slice() {
            return Ok(None);
        }
        std::mem::swap(row, &mut self.row);
        row.id = *text;
        let state = RunState {
            text: *text,
            id,
            ended_at: self.ended_at.take(),
            outcome: self.outcome.take(),
            ..RunState::default()
        };
        self.advance()?;
        Ok(Some((state, rowid)))
    }

    /// Move past rowid `rowid` (a row looked up some other way).
    pub fn skip_past(&mut self, rowid: i64) -> rusqlite::Result<()> {
        while self.head.is_some_and(|h| h <= rowid) {
            self.advance()?;
        }
        Ok(())
    }
}

/// The id text of a row in `runs` that is another spelling of `id` (upper
/// case, no hyphens, braces): only asked when the lower-case row is missing.
pub(super) fn other_spelling(conn: &Connection, id: Uuid) -> rusqlite::Result<Option<String>> {
    let mut stmt = conn.prepare("SELECT id FROM runs ORDER BY started_at, id")?;
    let mut rows = stmt.query([])?;
    let mut found = None;
    while let Some(r) = rows.next()? {
        if let ValueRef::Text(t) = r.get_ref(0)?
            && Uuid::try_parse_ascii(t).ok() == Some(id)
        {
            found = Some(String::from_utf8_lossy(t).into_owned());
        }
    }
    Ok(found)
}

/// What the walk counted, to check every row against the chain without
/// holding the rows: after a clean walk, every run in the chain has exactly
/// one `run-started` event and at most one `run-ended` event.
#[derive(Debug, Clone, Copy)]
pub(super) struct RunCounts {
    /// Rows in `runs`.
    pub rows: i64,
    /// Rows with an outcome or an end time.
    pub rows_ended: i64,
    /// Runs whose `run-started` event the walk verified (each a distinct row).
    pub started: i64,
    /// Runs whose `run-ended` event the walk verified, and whose row has an outcome.
    pub ended: i64,
}

/// Findings about whole rows after a clean walk: rows without events, rows
/// that say a run ended when no `run-ended` event says so (first in
/// `started_at, id` order), and, after those, rows whose id is not a UUID.
/// When the counts agree there is nothing to find and nothing is read.
pub(super) fn row_findings(
    conn: &Connection,
    counts: RunCounts,
) -> rusqlite::Result<(Option<Finding>, Option<Finding>)> {
    if counts.rows == counts.started && counts.rows_ended == counts.ended {
        return Ok((None, None));
    }
    let mut bad_row = None;
    let mut stmt =
        conn.prepare("SELECT id, outcome, ended_at FROM runs ORDER BY started_at, id")?;
    let mut last_kind = conn.prepare(
        "SELECT kind FROM events WHERE run_id = ?1 ORDER BY run_seq DESC, seq DESC LIMIT 1",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let text = match as_text(r.get_ref(0)?) {
            Some(Some(t)) => t.to_string(),
            _ => NOT_TEXT.to_string(),
        };
        let outcome = opt_text_col(r, 1)?;
        let ended_at = opt_text_col(r, 2)?;
        let Ok(id) = uuid::Uuid::try_parse(&text) else {
            bad_row.get_or_insert(Finding {
                seq: None,
                run_id: None,
                run_seq: None,
                problem: Problem::RunRowMismatch,
                message: format!("the runs row with id {text:?} was edited: that is not a UUID"),
            });
            continue;
        };
        // A row spelled other than runsheet writes ids has no events: every
        // event's run id is checked to be lower-case hyphenated.
        let kind: Option<Vec<u8>> = if text.as_bytes() == id_text(id).as_slice() {
            last_kind
                .query_row([&text], |r| Ok(r.get_ref(0)?.as_bytes()?.to_vec()))
                .optional()?
        } else {
            None
        };
        let found = match kind {
            None => Some((
                Problem::Missing,
                format!("run {id} has a row in `runs` but no events: its events were deleted"),
            )),
            Some(kind)
                if kind != KIND_RUN_ENDED.as_bytes()
                    && (outcome.is_some() || ended_at.is_some()) =>
            {
                let said = match (&outcome, &ended_at) {
                    (Some(o), Some(at)) => format!("{o}, at {at}"),
                    (Some(o), None) => o.clone(),
                    (None, Some(at)) => format!("at {at}, with no outcome"),
                    (None, None) => String::new(),
                };
                Some((
                    Problem::RunRowMismatch,
                    format!(
                        "run {id}'s row says it ended ({said}) but the log has no {KIND_RUN_ENDED} event for it"
                    ),
                ))
            }
            Some(_) => None,
        };
        if let Some((problem, message)) = found {
            return Ok((
                Some(Finding {
                    seq: None,
                    run_id: Some(id),
                    run_seq: None,
                    problem,
                    message,
                }),
                bad_row,
            ));
        }
    }
    Ok((None, bad_row))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(n: u128) -> RunState {
        let id = Uuid::from_u128(n);
        RunState {
            text: id_text(id),
            id,
            ..RunState::default()
        }
    }

    #[test]
    fn the_cache_stays_bounded_and_keeps_recent_runs() {
        let mut runs = OpenRuns::new(4);
        for n in 1..=20u128 {
            let slot = runs.insert(state(n), n as i64);
            assert_eq!(runs.get_mut(slot, n as i64).id, Uuid::from_u128(n));
            assert!(runs.len() <= 4, "{}", runs.len());
        }
        // The latest run is always found; evicted slots are reused.
        assert!(runs.find(&id_text(Uuid::from_u128(20))).is_some());
        assert!(runs.find(&id_text(Uuid::from_u128(1))).is_none());
        assert!(runs.slots.len() <= 5, "{}", runs.slots.len());
        let slot = runs.find(&id_text(Uuid::from_u128(20))).expect("cached");
        runs.remove(slot);
        assert!(runs.find(&id_text(Uuid::from_u128(20))).is_none());
    }
}
