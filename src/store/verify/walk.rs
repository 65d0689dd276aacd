//! The walk over the chain: one pass over a range of seqs in order, checking
//! each record's payload hash, record hash, link, and its run's order, times
//! and row; naming the first bad record. Holds only the state of open runs
//! (see `runs`), so its memory does not grow with the log.
//!
//! May not depend on the engine, tui, export or app.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};
use uuid::Uuid;

use super::payload::{controls_field, malformed, string_fields};
use super::runs::{self, IdText, Looked, OpenRuns, RowCursor, RowFields, RunState};
use super::tree_check::{NODE_ROWS_SQL, NodeCursor};
use super::{Finding, Problem};
use crate::custody::merkle::{self, Frontier, Hash};
use crate::store::chain::{GENESIS, Record, RecordFormat, hex_into, sha256_hex, sha256_hex_into};
use crate::store::kinds::{
    self, KIND_LOG_CREATED, KIND_LOG_KEY, KIND_RUN_ENDED, KIND_RUN_STARTED, KIND_SCHEMA_MIGRATED,
};
use crate::store::tree;

/// One event row, borrowed from SQLite.
struct Rec<'a> {
    seq: i64,
    run_id: Option<&'a [u8]>,
    run_seq: i64,
    at: &'a [u8],
    actor: &'a [u8],
    kind: &'a [u8],
    step: Option<&'a [u8]>,
    payload: Option<&'a [u8]>,
    payload_sha256: &'a [u8],
    prev_hash: &'a [u8],
    hash: &'a [u8],
}

impl Rec<'_> {
    fn record(&self, format: RecordFormat, seq: i64) -> Record<'_> {
        Record {
            format,
            seq,
            run_id: self.run_id,
            run_seq: self.run_seq,
            at: self.at,
            actor: self.actor,
            kind: self.kind,
            step: self.step,
            payload_sha256: self.payload_sha256,
            prev_hash: self.prev_hash,
        }
    }

    /// Does the record's stored hash match its fields if it sat at `seq`
    /// (hashed with `format`)?
    fn hashes_at(&self, format: RecordFormat, seq: i64) -> bool {
        let mut out = [0u8; 64];
        self.record(format, seq).hash_into(&mut out);
        out.as_slice() == self.hash
    }

    /// Does this record switch the chain to record format 2 (it and every
    /// record after it are hashed with format 2)?
    fn starts_format_two(&self) -> bool {
        self.run_id.is_none()
            && (self.kind == KIND_LOG_CREATED.as_bytes()
                || self.kind == KIND_SCHEMA_MIGRATED.as_bytes())
    }

    fn run(&self) -> Option<Uuid> {
        self.run_id.and_then(|id| Uuid::try_parse_ascii(id).ok())
    }
}

const EVENT_COLUMNS: &str = "SELECT seq, run_id, run_seq, at, actor, kind, step, payload, \
    payload_sha256, prev_hash, hash FROM events";

/// Read a row's columns as stored; `Err(column)` when a column holds a type
/// runsheet never writes there (the record was edited).
fn read_rec<'a>(row: &'a rusqlite::Row<'_>) -> rusqlite::Result<Result<Rec<'a>, &'static str>> {
    fn text<'a>(v: ValueRef<'a>) -> Option<Option<&'a [u8]>> {
        match v {
            ValueRef::Text(b) => Some(Some(b)),
            ValueRef::Null => Some(None),
            _ => None,
        }
    }
    macro_rules! col {
        ($i:expr, $name:expr, opt) => {
            match text(row.get_ref($i)?) {
                Some(v) => v,
                None => return Ok(Err($name)),
            }
        };
        ($i:expr, $name:expr) => {
            match text(row.get_ref($i)?) {
                Some(Some(v)) => v,
                _ => return Ok(Err($name)),
            }
        };
    }
    let seq = row.get_ref(0)?.as_i64().unwrap_or(i64::MIN);
    let run_seq = match row.get_ref(2)? {
        ValueRef::Integer(n) => n,
        _ => return Ok(Err("run_seq")),
    };
    Ok(Ok(Rec {
        seq,
        run_id: col!(1, "run_id", opt),
        run_seq,
        at: col!(3, "at"),
        actor: col!(4, "actor"),
        kind: col!(5, "kind"),
        step: col!(6, "step", opt),
        payload: col!(7, "payload", opt),
        payload_sha256: col!(8, "payload_sha256"),
        prev_hash: col!(9, "prev_hash"),
        hash: col!(10, "hash"),
    }))
}

/// "seq 7 (run 0190…, event 3 of the run)": where a record is, for messages.
#[derive(Debug, Clone, Copy)]
struct Place {
    seq: i64,
    run: Option<Uuid>,
    run_seq: Option<i64>,
    /// The record names a run, but not by a readable run id.
    unreadable_run: bool,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seq = self.seq;
        match (self.run, self.run_seq) {
            (Some(run), Some(n)) => write!(f, "seq {seq} (run {run}, event {n} of the run)"),
            (Some(run), None) => write!(f, "seq {seq} (run {run})"),
            (None, Some(n)) if self.unreadable_run => {
                write!(f, "seq {seq} (event {n} of a run whose id is not a UUID)")
            }
            (None, Some(n)) => write!(f, "seq {seq} (log event {n})"),
            (None, None) => write!(f, "seq {seq}"),
        }
    }
}

fn place(seq: i64, run: Option<Uuid>, run_seq: Option<i64>) -> Place {
    Place {
        seq,
        run,
        run_seq,
        unreadable_run: false,
    }
}

/// Where `rec` is, as its own columns say.
fn rec_place(rec: &Rec<'_>) -> Place {
    let run = rec.run();
    Place {
        unreadable_run: run.is_none() && rec.run_id.is_some(),
        ..place(rec.seq, run, Some(rec.run_seq))
    }
}

/// Does a (verified, canonical) payload name a content commitment?
pub(super) fn commits_to_content(payload: &[u8]) -> bool {
    const MEMBER: &[u8] = b"\"content_sha256\":";
    payload.windows(MEMBER.len()).any(|w| w == MEMBER)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What a walk found, in a form that two walks over adjacent ranges add up.
#[derive(Debug, Clone)]
pub(super) struct Progress {
    /// The seq the next record must have.
    pub expected: i64,
    /// The last verified record's hash (the genesis hash before seq 1).
    pub head: [u8; 64],
    /// Events verified.
    pub events: i64,
    /// run_seq of the last verified log event (no run).
    pub log_run_seq: i64,
    /// The record-hash format of the next record (format 2 from the first
    /// `log-created` or `schema-migrated` record on).
    pub format: RecordFormat,
    /// A verified `log-created` event said the log holds generated test data.
    pub test_data: bool,
    /// The checkpoint head to watch for, and what the walk found there: the
    /// verified record's hash and time (a checkpoint is proved by the walk
    /// reaching it, never by looking it up).
    pub watch: Option<i64>,
    pub watched: Option<([u8; 64], Vec<u8>)>,
    pub started: i64,
    pub ended: i64,
    /// The largest rowid of `runs` looked up so far: a row above it was never
    /// looked up, so its run has no verified event yet.
    pub max_rowid: i64,
    /// The rowid the row cursor goes on from.
    pub cursor_from: i64,
    /// The Merkle tree over the verified records.
    pub tree: Frontier,
    /// The tree's root at each watched size the walk reached, in order.
    pub roots: Vec<(u64, Hash)>,
    /// The log's `log-key` event, once verified: its seq and payload.
    pub log_key: Option<(i64, Vec<u8>)>,
    /// In a log with a stored tree: the verified records (seq, kind) the log
    /// must hold a signed checkpoint of exactly that size for, once it has a
    /// key (`kinds::own_checkpoint_kind`), in order.
    pub own_checkpoints: Vec<(i64, &'static str)>,
    /// Verified run records whose payload commits to content kept in
    /// `contents` (schema 5): each must have its row there (`content_check`).
    pub committed: i64,
    /// The first bad record; the walk stopped there.
    pub finding: Option<Finding>,
}

impl Default for Progress {
    /// Before seq 1.
    fn default() -> Self {
        let mut head = [0u8; 64];
        head.copy_from_slice(GENESIS.as_bytes());
        Progress {
            expected: 1,
            head,
            events: 0,
            log_run_seq: 0,
            format: RecordFormat::V1,
            test_data: false,
            watch: None,
            watched: None,
            started: 0,
            ended: 0,
            max_rowid: i64::MIN,
            cursor_from: i64::MIN,
            tree: Frontier::new(),
            roots: Vec::new(),
            log_key: None,
            own_checkpoints: Vec::new(),
            committed: 0,
            finding: None,
        }
    }
}

impl Progress {
    /// Does `next` start exactly where this clean walk ended? (Including:
    /// every row this walk looked up lies below the rows `next` read with its
    /// cursor, so what `next` took for a new run was one.)
    pub fn joins(&self, next: &Progress) -> bool {
        self.finding.is_none()
            && self.expected == next.expected
            && self.head == next.head
            && self.log_run_seq == next.log_run_seq
            && self.format == next.format
            && self.max_rowid < next.cursor_from
            && self.tree == next.tree
            && self.log_key.as_ref().map(|k| k.0) == next.log_key.as_ref().map(|k| k.0)
    }

    /// Add the walk over the following range (which [`Progress::joins`] this one).
    pub fn append(&mut self, next: Progress) {
        self.expected = next.expected;
        self.head = next.head;
        self.events += next.events;
        self.log_run_seq = next.log_run_seq;
        self.format = next.format;
        self.test_data |= next.test_data;
        self.watched = self.watched.take().or(next.watched);
        self.started += next.started;
        self.ended += next.ended;
        self.max_rowid = self.max_rowid.max(next.max_rowid);
        self.cursor_from = next.cursor_from;
        self.tree = next.tree;
        self.roots.extend(next.roots);
        self.log_key = self.log_key.take().or(next.log_key);
        self.own_checkpoints.extend(next.own_checkpoints);
        self.committed += next.committed;
        self.finding = next.finding;
    }
}

/// The walk over the chain.
pub(super) struct Walk<'c> {
    conn: &'c Connection,
    /// The head seq of the snapshot verify started from: nothing after it is
    /// read, even on a connection that sees events appended since.
    last: i64,
    pub p: Progress,
    runs: OpenRuns,
    row: RowFields,
    sources: HashMap<String, Result<String, String>>,
    /// The log stores a Merkle tree (schema 4): check its rows.
    stored_tree: bool,
    /// Tree sizes whose roots to record (sorted, ascending).
    watch_sizes: Vec<u64>,
    /// Scratch for the nodes one record completes.
    closed: Vec<Hash>,
}

type Step = Result<Option<Finding>, rusqlite::Error>;

/// Every this many rows a walk looks whether it was cancelled.
const CANCEL_EVERY: u32 = 4096;

impl<'c> Walk<'c> {
    /// A walk from the start of the chain.
    pub fn new(conn: &'c Connection, last: i64, cache: usize) -> Walk<'c> {
        Walk {
            conn,
            last,
            p: Progress::default(),
            runs: OpenRuns::new(cache),
            row: RowFields::default(),
            sources: HashMap::new(),
            stored_tree: false,
            watch_sizes: Vec::new(),
            closed: Vec::new(),
        }
    }

    /// Check the stored tree's rows (a schema 4 log), and record the tree's
    /// root at each of `sizes` the walk reaches.
    pub fn with_tree(mut self, stored: bool, mut sizes: Vec<u64>) -> Walk<'c> {
        sizes.sort_unstable();
        sizes.dedup();
        self.stored_tree = stored;
        self.watch_sizes = sizes;
        self
    }

    /// A walk from seq `from` (> 1), its state read from the records before
    /// it. The answer only counts once a walk up to `from - 1` has verified
    /// those records and [`Progress::joins`] this one.
    pub fn resume(
        conn: &'c Connection,
        last: i64,
        cache: usize,
        from: i64,
    ) -> rusqlite::Result<Option<Walk<'c>>> {
        let prev: Option<Vec<u8>> = conn
            .query_row("SELECT hash FROM events WHERE seq = ?1", [from - 1], |r| {
                Ok(r.get_ref(0)?.as_bytes().ok().map(<[u8]>::to_vec))
            })
            .optional()?
            .flatten();
        let Some(prev) = prev.filter(|h| h.len() == 64) else {
            return Ok(None);
        };
        let log_run_seq: Option<i64> = conn
            .query_row(
                "SELECT run_seq FROM events WHERE run_id IS NULL AND seq < ?1 \
                 ORDER BY seq DESC LIMIT 1",
                [from],
                |r| Ok(r.get_ref(0)?.as_i64().ok()),
            )
            .optional()?
            .unwrap_or(Some(0));
        let Some(log_run_seq) = log_run_seq else {
            return Ok(None);
        };
        // The row cursor starts at the row of the first run that starts here.
        let cursor_from: Option<i64> = conn
            .query_row(
                "SELECT r.rowid FROM runs r WHERE r.id = (SELECT e.run_id FROM events e \
                 WHERE e.seq BETWEEN ?1 AND ?2 AND e.run_seq = 1 ORDER BY e.seq LIMIT 1)",
                [from, last],
                |r| r.get(0),
            )
            .optional()?;
        // Format 2 from the first log-created / schema-migrated record on.
        let switched: Option<i64> = conn
            .query_row(
                "SELECT seq FROM events WHERE seq < ?1 AND run_id IS NULL \
                 AND kind IN ('log-created', 'schema-migrated') ORDER BY seq LIMIT 1",
                [from],
                |r| r.get(0),
            )
            .optional()?;
        // The tree at from - 1 as stored: it only counts if the first walk
        // computed the same (`joins`).
        let Ok(tree) = tree::load(conn, u64::try_from(from - 1).unwrap_or(0)) else {
            return Ok(None);
        };
        let log_key: Option<(i64, Vec<u8>)> = conn
            .query_row(
                "SELECT seq, payload FROM events WHERE seq < ?1 AND run_id IS NULL \
                 AND kind = 'log-key' ORDER BY seq LIMIT 1",
                [from],
                |r| Ok((r.get(0)?, r.get_ref(1)?.as_bytes().ok().map(<[u8]>::to_vec))),
            )
            .optional()?
            .map(|(seq, p)| (seq, p.unwrap_or_default()));
        let mut walk = Walk::new(conn, last, cache);
        walk.p.tree = tree;
        walk.p.log_key = log_key;
        walk.p.expected = from;
        walk.p.head.copy_from_slice(&prev);
        walk.p.log_run_seq = log_run_seq;
        walk.p.cursor_from = cursor_from.unwrap_or(i64::MAX);
        if switched.is_some() {
            walk.p.format = RecordFormat::V2;
        }
        Ok(Some(walk))
    }

    /// Walk the records with seq `..=to` not walked yet, stopping at the first
    /// bad one (in `self.p.finding`) or when `cancel` is set.
    pub fn run(&mut self, to: i64, cancel: &AtomicBool) -> rusqlite::Result<()> {
        if self.p.finding.is_some() {
            return Ok(());
        }
        // From the seq expected next; the first walk also reads seqs below 1.
        let from = if self.p.expected == 1 {
            i64::MIN
        } else {
            self.p.expected
        };
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(&format!(
            "{EVENT_COLUMNS} WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq"
        ))?;
        let mut rows = stmt.query([from, to])?;
        let mut runs_stmt = conn.prepare_cached(&runs::cursor_sql())?;
        let mut cursor = RowCursor::new(runs_stmt.query([self.p.cursor_from])?)?;
        let mut nodes_stmt;
        let mut nodes = if self.stored_tree {
            nodes_stmt = conn.prepare_cached(NODE_ROWS_SQL)?;
            Some(NodeCursor::new(nodes_stmt.query([from, to])?)?)
        } else {
            None
        };
        let mut n: u32 = 0;
        let walked = loop {
            let row = match rows.next() {
                Ok(Some(row)) => row,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            };
            match self.check(row, &mut cursor, nodes.as_mut()) {
                Ok(None) => {}
                Ok(Some(f)) => {
                    self.p.finding = Some(f);
                    break Ok(());
                }
                Err(e) => break Err(e),
            }
            n = n.wrapping_add(1);
            if n.is_multiple_of(CANCEL_EVERY) && cancel.load(Ordering::Relaxed) {
                break Ok(());
            }
        };
        self.p.cursor_from = cursor.position();
        walked
    }

    fn finding(rec: &Rec<'_>, problem: Problem, message: String) -> Option<Finding> {
        Some(Finding {
            seq: Some(rec.seq),
            run_id: rec.run(),
            run_seq: Some(rec.run_seq),
            problem,
            message,
        })
    }

    /// Check one event. `Ok(Some(finding))` stops the walk.
    fn check(
        &mut self,
        row: &rusqlite::Row<'_>,
        cursor: &mut RowCursor<'_>,
        nodes: Option<&mut NodeCursor<'_>>,
    ) -> Step {
        let seq = row.get_ref(0)?.as_i64().unwrap_or(i64::MIN);
        if seq != self.p.expected {
            let e = self.p.expected;
            let (problem, message) = if seq > e {
                let gone = if seq == e + 1 {
                    format!("event seq {e} is missing")
                } else {
                    format!("events seq {e} to {} are missing", seq - 1)
                };
                let jump = if e == 1 {
                    format!("the log starts at seq {seq}")
                } else {
                    format!("the log goes from seq {} to seq {seq}", e - 1)
                };
                (
                    Problem::Missing,
                    format!("{gone}: {jump}; they were deleted"),
                )
            } else {
                (
                    Problem::Inserted,
                    format!(
                        "seq {seq} lies before the start of the chain (seq 1): it was inserted"
                    ),
                )
            };
            return Ok(Some(Finding {
                seq: Some(if seq > e { e } else { seq }),
                run_id: None,
                run_seq: None,
                problem,
                message,
            }));
        }
        let rec = match read_rec(row)? {
            Ok(rec) => rec,
            Err(column) => {
                return Ok(Some(Finding {
                    seq: Some(seq),
                    run_id: None,
                    run_seq: None,
                    problem: Problem::Edited,
                    message: format!(
                        "seq {seq} was edited: its {column} column holds a value runsheet never writes"
                    ),
                }));
            }
        };
        let here = || rec_place(&rec);

        // The payload against its hash. Every event has one: nothing in
        // runsheet removes a payload, so a missing one was removed by hand.
        let mut buf = [0u8; 64];
        let Some(payload) = rec.payload else {
            return Ok(Self::finding(
                &rec,
                Problem::PayloadMismatch,
                format!(
                    "the payload of {} was removed: every event keeps its payload (runsheet has no redaction)",
                    here()
                ),
            ));
        };
        sha256_hex_into(payload, &mut buf);
        if buf.as_slice() != rec.payload_sha256 {
            return Ok(Self::finding(
                &rec,
                Problem::PayloadMismatch,
                format!(
                    "the payload of {} was edited: it no longer matches its recorded hash",
                    here()
                ),
            ));
        }

        // The chain.
        let format = if rec.starts_format_two() {
            RecordFormat::V2
        } else {
            self.p.format
        };
        let digest = rec.record(format, seq).digest();
        hex_into(&digest, &mut buf);
        let self_ok = buf.as_slice() == rec.hash;
        let links = rec.prev_hash == self.p.head.as_slice();
        if !(self_ok && links) {
            return self.diagnose(&rec, format, links).map(Some);
        }

        // Only runsheet writes to the log, and only these kinds.
        if !kinds::is_known(rec.kind, rec.run_id.is_some()) {
            let whose = if rec.run_id.is_some() {
                "a run's event"
            } else {
                "a log event"
            };
            return Ok(Self::finding(
                &rec,
                Problem::Inserted,
                format!(
                    "{} was inserted: runsheet never writes {whose} of kind {:?}",
                    here(),
                    lossy(rec.kind)
                ),
            ));
        }
        if let Some(why) = malformed(rec.at, rec.actor, rec.step, rec.kind, payload) {
            return Ok(Self::finding(
                &rec,
                Problem::Inserted,
                format!("{} was not written by runsheet: {why}", here()),
            ));
        }
        if rec.kind == KIND_LOG_CREATED.as_bytes() {
            if seq != 1 {
                return Ok(Self::finding(
                    &rec,
                    Problem::Inserted,
                    format!(
                        "{} was inserted: a {KIND_LOG_CREATED} event can only be the first record of a log",
                        here()
                    ),
                ));
            }
            self.p.test_data = log_says_test_data(payload);
        }
        if rec.kind == KIND_LOG_KEY.as_bytes() {
            if let Some((first, _)) = &self.p.log_key {
                return Ok(Self::finding(
                    &rec,
                    Problem::Inserted,
                    format!(
                        "{} was inserted: a log has one key, recorded once (seq {first})",
                        here()
                    ),
                ));
            }
            self.p.log_key = Some((seq, payload.to_vec()));
        }

        // The run the event belongs to.
        if let Some(f) = self.check_run(&rec, format, cursor)? {
            return Ok(Some(f));
        }

        // The tree: this record's leaf, and the nodes it completes as stored.
        // The stored hash is `buf`, the lower-case hex of `digest` (checked
        // above), so the leaf is hashed from `digest` without decoding it
        // again (`tree::record_leaf` of the stored hash gives the same).
        self.p
            .tree
            .push(merkle::leaf_hash(&digest), &mut self.closed);
        if let Some(nodes) = nodes
            && let Some(why) = nodes.check(seq, &self.closed)?
        {
            // A record changed (or inserted) with its own hash recomputed
            // changes the tree at once, before the next record shows it
            // no longer links: then the chain names it, by rule 5 at the
            // next record (this one accepted), as it would without a tree.
            let next_prev: Option<Vec<u8>> = self
                .conn
                .prepare_cached("SELECT prev_hash FROM events WHERE seq = ?1")?
                .query_row([seq + 1], |r| {
                    Ok(r.get_ref(0)?
                        .as_bytes()
                        .map(<[u8]>::to_vec)
                        .unwrap_or_default())
                })
                .optional()?;
            let chain_names_it = seq < self.last && next_prev.is_some_and(|p| p != rec.hash);
            if !chain_names_it {
                return Ok(Self::finding(&rec, Problem::TreeChanged, why));
            }
        }
        let size = self.p.tree.size();
        if self.watch_sizes.binary_search(&size).is_ok() {
            self.p.roots.push((size, self.p.tree.root()));
        }

        if self.stored_tree
            && let Some(kind) = kinds::own_checkpoint_kind(rec.kind, rec.run_id.is_some())
        {
            self.p.own_checkpoints.push((seq, kind));
        }
        if rec.run_id.is_some()
            && kinds::content_fields(rec.kind).is_some()
            && rec.payload.is_some_and(commits_to_content)
        {
            self.p.committed += 1;
        }
        self.p.format = format;
        self.p.head.copy_from_slice(rec.hash);
        if self.p.watch == Some(seq) {
            let mut hash = [0u8; 64];
            hash.copy_from_slice(rec.hash);
            self.p.watched = Some((hash, rec.at.to_vec()));
        }
        self.p.expected += 1;
        self.p.events += 1;
        Ok(None)
    }

    /// The record at `rec.seq` does not hash or does not link: say what
    /// happened, by the rules in docs/evidence-schema.md ("Which record a
    /// finding names"), in their order, with a few targeted look-ups (done
    /// once, at the first bad record).
    fn diagnose(
        &self,
        rec: &Rec<'_>,
        format: RecordFormat,
        links: bool,
    ) -> rusqlite::Result<Finding> {
        let seq = rec.seq;
        let run = rec.run();
        let here = rec_place(rec);
        let found = |problem, seq, run, run_seq, message| Finding {
            seq: Some(seq),
            run_id: run,
            run_seq,
            problem,
            message,
        };
        let self_ok = rec.hashes_at(format, seq);
        // D1: a copy of the previous record.
        if !links && rec.hash == self.p.head.as_slice() && rec.hashes_at(format, seq - 1) {
            return Ok(found(
                Problem::Inserted,
                seq,
                run,
                Some(rec.run_seq),
                format!("{here} was inserted: it is a copy of seq {}", seq - 1),
            ));
        }
        // D2: it links to another record of the log.
        if !links && let Some(p) = self.seq_with_hash(rec.prev_hash, seq)? {
            if p < seq - 1 {
                let first = self.fetch_place(p + 1)?;
                let what = if p + 1 == seq - 1 {
                    format!("{first} was inserted")
                } else {
                    format!(
                        "events seq {} to {} were inserted, starting with {first}",
                        p + 1,
                        seq - 1
                    )
                };
                let (first_run, first_run_seq) = self.fetch_run(p + 1)?;
                return Ok(found(
                    Problem::Inserted,
                    p + 1,
                    first_run,
                    first_run_seq,
                    format!("{what}: the record now at seq {seq} follows seq {p}"),
                ));
            }
            return Ok(found(
                Problem::OutOfOrder,
                seq,
                run,
                Some(rec.run_seq),
                format!(
                    "{here} is out of order: it holds the record that followed seq {p}; events were reordered"
                ),
            ));
        }
        // D3: the next record is the original of this seq. It is hashed in
        // the format the chain is in before this seq (or 2 if it starts
        // format 2 itself), not in this record's: the record here is the
        // intruder, and its own format says nothing about the original's.
        if self.next_is_original(self.p.format, seq)? {
            return Ok(found(
                Problem::Inserted,
                seq,
                run,
                Some(rec.run_seq),
                format!(
                    "{here} was inserted: seq {} holds the original seq {seq}, which follows seq {}",
                    seq + 1,
                    seq - 1
                ),
            ));
        }
        if !links && !self_ok {
            // D4: the original of an earlier seq, renumbered up by inserts.
            if let Some(k) = (1..=64.min(seq - 1)).find(|&k| rec.hashes_at(format, seq - k)) {
                let first = seq - k;
                let (first_run, first_run_seq) = self.fetch_run(first)?;
                let first_place = place(first, first_run, first_run_seq);
                return Ok(found(
                    Problem::Inserted,
                    first,
                    first_run,
                    first_run_seq,
                    format!(
                        "{first_place} was inserted ({k} record(s) at seq {first} to {}): seq {seq} holds the original seq {first}",
                        seq - 1
                    ),
                ));
            }
            // D5: the original of a later seq, renumbered down after deletes.
            if let Some(original) = (seq + 1..=seq + 64).find(|&o| rec.hashes_at(format, o)) {
                let gone = original - seq;
                return Ok(found(
                    Problem::Missing,
                    seq,
                    None,
                    None,
                    format!(
                        "{gone} event(s) were deleted at seq {seq} and the later events renumbered: seq {seq} was originally seq {original}"
                    ),
                ));
            }
        }
        // D6: linked, but its own fields no longer hash.
        if links {
            return Ok(found(
                Problem::Edited,
                seq,
                run,
                Some(rec.run_seq),
                format!("{here} was edited: its contents no longer match its hash"),
            ));
        }
        // D7: intact itself, but the record before it was rewritten and rehashed.
        if self_ok && seq > 1 {
            let (prev_run, prev_run_seq) = self.fetch_run(seq - 1)?;
            let prev = place(seq - 1, prev_run, prev_run_seq);
            return Ok(found(
                Problem::Edited,
                seq - 1,
                prev_run,
                prev_run_seq,
                format!(
                    "{prev} was edited: its contents were changed and its hash recomputed, so seq {seq}, which is intact, no longer links to it"
                ),
            ));
        }
        // D8.
        let what = if seq == 1 {
            "its link to the start of the chain (64 zeros) was changed".to_string()
        } else {
            format!("neither its hash nor its link to seq {} match", seq - 1)
        };
        Ok(found(
            Problem::Edited,
            seq,
            run,
            Some(rec.run_seq),
            format!("{here} was edited: {what}"),
        ))
    }

    /// The seq of another record (up to the snapshot's head) whose hash is `hash`.
    fn seq_with_hash(&self, hash: &[u8], not: i64) -> rusqlite::Result<Option<i64>> {
        // Hashes are stored as text; compare as text.
        let Ok(hash) = std::str::from_utf8(hash) else {
            return Ok(None);
        };
        if hash == GENESIS {
            return Ok(None);
        }
        self.conn
            .query_row(
                "SELECT seq FROM events WHERE hash = ?1 AND seq <> ?2 AND seq <= ?3 \
                 ORDER BY seq LIMIT 1",
                rusqlite::params![hash, not, self.last],
                |r| r.get(0),
            )
            .optional()
    }

    fn fetch_run(&self, seq: i64) -> rusqlite::Result<(Option<Uuid>, Option<i64>)> {
        let row: Option<(Option<String>, i64)> = self
            .conn
            .query_row(
                "SELECT run_id, run_seq FROM events WHERE seq = ?1",
                [seq],
                |r| Ok((r.get(0).ok().flatten(), r.get(1).unwrap_or(0))),
            )
            .optional()?;
        Ok(match row {
            Some((run, run_seq)) => (run.and_then(|r| Uuid::try_parse(&r).ok()), Some(run_seq)),
            None => (None, None),
        })
    }

    fn fetch_place(&self, seq: i64) -> rusqlite::Result<String> {
        let (run, run_seq) = self.fetch_run(seq)?;
        Ok(place(seq, run, run_seq).to_string())
    }

    /// Is the record after `seq` the original record `seq` (so `seq` was
    /// inserted)? `format` is the chain's format before `seq`.
    fn next_is_original(&self, format: RecordFormat, seq: i64) -> rusqlite::Result<bool> {
        if seq >= self.last {
            return Ok(false);
        }
        let mut stmt = self
            .conn
            .prepare(&format!("{EVENT_COLUMNS} WHERE seq = ?1"))?;
        let mut rows = stmt.query([seq + 1])?;
        let Some(row) = rows.next()? else {
            return Ok(false);
        };
        Ok(match read_rec(row)? {
            Ok(next) => {
                // The moved record keeps its own format: a log-created or
                // schema-migrated record is format 2 whatever came before it.
                let format = if next.starts_format_two() {
                    RecordFormat::V2
                } else {
                    format
                };
                next.prev_hash == self.p.head.as_slice() && next.hashes_at(format, seq)
            }
            Err(_) => false,
        })
    }

    /// The cached run `id_text` of this event, or its state looked up (the
    /// row and the run's last event before this one). `Err(finding)` when the
    /// run id is not runsheet's or its row is gone.
    fn open_run(
        &mut self,
        rec: &Rec<'_>,
        id_text: &[u8],
        cursor: &mut RowCursor<'_>,
    ) -> rusqlite::Result<Result<usize, Finding>> {
        if let Some(slot) = self.runs.find(id_text) {
            return Ok(Ok(slot));
        }
        let seq = rec.seq;
        let edited = |message| Finding {
            seq: Some(seq),
            run_id: rec.run(),
            run_seq: Some(rec.run_seq),
            problem: Problem::Edited,
            message,
        };
        let Some(id) = rec.run() else {
            return Ok(Err(edited(format!(
                "seq {seq} was edited: its run id {:?} is not a UUID",
                lossy(id_text)
            ))));
        };
        let text: IdText = runs::id_text(id);
        if text.as_slice() != id_text {
            return Ok(Err(edited(format!(
                "seq {seq} was edited: its run id {:?} is not written as runsheet writes run ids (lower-case, hyphenated: {id})",
                lossy(id_text)
            ))));
        }
        if let Some((state, rowid)) = cursor.take(id, &text, self.p.max_rowid, &mut self.row)? {
            self.p.max_rowid = rowid;
            return Ok(Ok(self.runs.insert(state, seq)));
        }
        match runs::lookup(self.conn, id, &text, seq, &mut self.row)? {
            Looked::Found(state, rowid) => {
                // Keep the cursor above every row looked up.
                self.p.max_rowid = self.p.max_rowid.max(rowid);
                cursor.skip_past(self.p.max_rowid)?;
                Ok(Ok(self.runs.insert(state, seq)))
            }
            Looked::NoRow => {
                let here = place(seq, Some(id), Some(rec.run_seq));
                let (problem, message) = match runs::other_spelling(self.conn, id)? {
                    Some(other) => (
                        Problem::RunRowMismatch,
                        format!(
                            "{here} belongs to run {id}, whose row in `runs` was edited: its id reads {other:?}, not as runsheet writes run ids"
                        ),
                    ),
                    None => (
                        Problem::Missing,
                        format!("{here} belongs to run {id}, whose row in `runs` was deleted"),
                    ),
                };
                Ok(Err(Finding {
                    seq: Some(seq),
                    run_id: Some(id),
                    run_seq: Some(rec.run_seq),
                    problem,
                    message,
                }))
            }
        }
    }

    /// Per-run checks for an event whose chain link is sound.
    fn check_run(
        &mut self,
        rec: &Rec<'_>,
        format: RecordFormat,
        cursor: &mut RowCursor<'_>,
    ) -> Step {
        let seq = rec.seq;
        let Some(id_text) = rec.run_id else {
            let here = place(seq, None, Some(rec.run_seq));
            if let Some(f) = run_seq_finding(rec, self.p.log_run_seq, None, &here) {
                return Ok(Some(f));
            }
            self.p.log_run_seq = rec.run_seq;
            return Ok(None);
        };
        let slot = match self.open_run(rec, id_text, cursor)? {
            Ok(slot) => slot,
            Err(finding) => return Ok(Some(finding)),
        };
        let info = self.runs.get_mut(slot, seq);
        let id = info.id;
        let here = place(seq, Some(id), Some(rec.run_seq));
        if let Some(f) = run_seq_finding(rec, info.last_run_seq, Some(id), &here) {
            return Ok(Some(f));
        }
        if let Some(end) = info.ended_seq {
            return Ok(Self::finding(
                rec,
                Problem::OutOfOrder,
                format!("{here} comes after the run ended at seq {end}"),
            ));
        }
        if rec.at < info.last_at.as_slice() {
            return Ok(Self::finding(
                rec,
                Problem::OutOfOrder,
                format!(
                    "{here} is out of order: its time {} is earlier than the run's previous event ({})",
                    lossy(rec.at),
                    lossy(&info.last_at)
                ),
            ));
        }
        let starts = rec.kind == KIND_RUN_STARTED.as_bytes();
        if rec.run_seq == 1 && !starts {
            return Ok(Self::finding(
                rec,
                Problem::RunRowMismatch,
                format!(
                    "{here} is run {id}'s first event but is a {}, not {KIND_RUN_STARTED}",
                    lossy(rec.kind)
                ),
            ));
        }
        if rec.run_seq != 1 && starts {
            return Ok(Self::finding(
                rec,
                Problem::OutOfOrder,
                format!("{here} is a second {KIND_RUN_STARTED} event for run {id}"),
            ));
        }
        info.last_run_seq = rec.run_seq;
        info.last_at.clear();
        info.last_at.extend_from_slice(rec.at);
        if starts {
            // The run's first event: it was looked up just now, so `self.row`
            // holds its row (looked up again should that ever not be so).
            let text = info.text;
            if self.row.id != text {
                let state = runs::lookup(self.conn, id, &text, seq, &mut self.row)?;
                if !matches!(state, Looked::Found(..)) {
                    return Ok(Self::finding(
                        rec,
                        Problem::Missing,
                        format!("{here} belongs to run {id}, whose row in `runs` was deleted"),
                    ));
                }
            }
            let sha = std::mem::take(&mut self.row.procedure_sha256);
            let source = self.source_format(&sha);
            self.row.procedure_sha256 = sha;
            let source_format = match source? {
                Ok(f) => f,
                Err(message) => {
                    return Ok(Self::finding(
                        rec,
                        Problem::SourceMismatch,
                        format!("run {id} (started at {here}): {message}"),
                    ));
                }
            };
            if let Some(message) = started_mismatch(&self.row, &source_format, rec, format) {
                return Ok(Self::finding(
                    rec,
                    Problem::RunRowMismatch,
                    format!("{here}: {message}"),
                ));
            }
            self.p.started += 1;
        } else if rec.kind == KIND_RUN_ENDED.as_bytes() {
            info.ended_seq = Some(seq);
            if let Some(message) = ended_mismatch(info, rec) {
                return Ok(Self::finding(
                    rec,
                    Problem::RunRowMismatch,
                    format!("{here}: {message}"),
                ));
            }
            if info.outcome.is_some() {
                self.p.ended += 1;
            }
            // Ended: a later event of this run is looked up again and finds
            // this run-ended event as its last.
            self.runs.remove(slot);
        }
        Ok(None)
    }

    /// The format of procedure source `sha`, when it is present and intact
    /// (else what is wrong with it). Checked once per source.
    fn source_format(&mut self, sha: &str) -> rusqlite::Result<Result<String, String>> {
        if let Some(known) = self.sources.get(sha) {
            return Ok(known.clone());
        }
        let row: Option<(Vec<u8>, Option<String>)> = self
            .conn
            .query_row(
                "SELECT CAST(text AS BLOB), format FROM procedure_sources WHERE sha256 = ?1",
                [sha],
                |r| Ok((r.get(0)?, r.get(1).ok())),
            )
            .optional()?;
        let answer = match row {
            None => Err(format!(
                "its procedure source {sha} is missing from procedure_sources"
            )),
            Some((text, _)) if sha256_hex(&text) != sha => Err(format!(
                "its procedure source {sha} was edited: the stored text no longer has that hash"
            )),
            Some((_, None)) => Err(format!(
                "its procedure source {sha} was edited: its format is not text"
            )),
            Some((_, Some(format))) => Ok(format),
        };
        self.sources.insert(sha.to_string(), answer.clone());
        Ok(answer)
    }
}

/// `run_seq` must be the previous one's + 1 (in the run, or among log
/// events): a jump means events were deleted (and the chain recomputed over
/// the gap), a step back or a repeat that events were reordered.
fn run_seq_finding(rec: &Rec<'_>, last: i64, run: Option<Uuid>, here: &Place) -> Option<Finding> {
    let n = rec.run_seq;
    if n == last + 1 {
        return None;
    }
    let whose = match run {
        Some(id) => format!("run {id}'s"),
        None => "the log's".to_string(),
    };
    let (problem, message) = if n > last + 1 {
        let gone = if n == last + 2 {
            format!("event {} is missing", last + 1)
        } else {
            format!("events {} to {} are missing", last + 1, n - 1)
        };
        (
            Problem::Missing,
            format!(
                "{whose} {gone}: {here} follows its event {last}; they were deleted and the chain recomputed over the gap"
            ),
        )
    } else {
        (
            Problem::OutOfOrder,
            format!("{here} is out of order: {whose} event {n} follows its event {last}"),
        )
    };
    Walk::finding(rec, problem, message)
}

/// Does a `log-created` payload mark the log as generated test data?
pub(super) fn log_says_test_data(payload: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v.get("test_data").and_then(serde_json::Value::as_bool))
        .unwrap_or(false)
}

/// The run row (and its source's format) against its `run-started` event.
/// A format-2 record must carry every column of the row; a format-1 record
/// (from before schema 3) carries only some, and those are compared.
fn started_mismatch(
    row: &RowFields,
    source_format: &str,
    rec: &Rec<'_>,
    format: RecordFormat,
) -> Option<String> {
    if rec.at != row.started_at.as_bytes() {
        return Some(format!(
            "the run row says it started at {} but its {KIND_RUN_STARTED} event is at {}",
            row.started_at,
            lossy(rec.at)
        ));
    }
    let payload = rec.payload?;
    let names = [
        "procedure_id",
        "procedure_version",
        "procedure_sha256",
        "operator",
        "host",
        "runsheet_version",
        "procedure_title",
        "source_path",
        "procedure_format",
        "operator_name",
    ];
    let Ok(event) = string_fields(payload, names) else {
        return Some(format!("its {KIND_RUN_STARTED} payload is not JSON"));
    };
    let rows = [
        row.procedure_id.as_str(),
        &row.procedure_version,
        &row.procedure_sha256,
        &row.operator,
        &row.host,
        &row.runsheet_version,
        &row.procedure_title,
        &row.source_path,
        source_format,
    ];
    // Fields a format-1 run-started event may lack.
    let since_v2 = ["procedure_title", "source_path", "procedure_format"];
    for ((name, row), event) in names.iter().zip(rows).zip(&event) {
        let event = event.as_deref();
        if event.is_none() && format == RecordFormat::V1 && since_v2.contains(name) {
            continue;
        }
        if event != Some(row) {
            let what = if *name == "procedure_format" {
                "the procedure source's format".to_string()
            } else {
                format!("the run row's {name}")
            };
            return Some(format!(
                "{what} is {row:?} but its {KIND_RUN_STARTED} event says {}",
                event.map_or_else(|| "nothing".to_string(), |e| format!("{e:?}"))
            ));
        }
    }
    let [.., event_name] = &event;
    let event_name = event_name.as_deref();
    if event_name != row.operator_name.as_deref() {
        let said = |v: Option<&str>| v.map_or_else(|| "none".to_string(), |n| format!("{n:?}"));
        return Some(format!(
            "the run row's operator_name is {} but its {KIND_RUN_STARTED} event says {}",
            said(row.operator_name.as_deref()),
            said(event_name)
        ));
    }
    let row_controls: Option<Vec<String>> = serde_json::from_str(&row.controls).ok();
    match controls_field(payload) {
        Ok(None) if format == RecordFormat::V1 => {}
        Ok(event) if event == row_controls && event.is_some() => {}
        _ => {
            return Some(format!(
                "the run row's controls are {} but its {KIND_RUN_STARTED} event says otherwise",
                row.controls
            ));
        }
    }
    None
}

/// The run row's outcome and end time against its `run-ended` event.
fn ended_mismatch(info: &RunState, rec: &Rec<'_>) -> Option<String> {
    let at = lossy(rec.at);
    if info.ended_at.as_deref() != Some(at.as_str()) {
        return Some(format!(
            "the run ended at {at} ({KIND_RUN_ENDED}) but its row says ended_at {}",
            info.ended_at.as_deref().unwrap_or("NULL (open)")
        ));
    }
    let payload = rec.payload?;
    let [outcome] = string_fields(payload, ["outcome"]).unwrap_or_default();
    let outcome = outcome.as_deref();
    if outcome != info.outcome.as_deref() {
        return Some(format!(
            "the run ended {} but its row says outcome {}",
            outcome.unwrap_or("(no outcome)"),
            info.outcome.as_deref().unwrap_or("NULL (open)")
        ));
    }
    None
}
