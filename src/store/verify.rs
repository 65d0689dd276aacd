//! Verify: recompute the hash chain over all events (streamed, in seq order),
//! cross-check run rows and procedure sources against the chain, honour
//! redactions, and name the first bad record. Also checkpoints (the chain head
//! written elsewhere) to detect truncation.
//!
//! May not depend on the engine, tui, export or app.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

use super::chain::{GENESIS, Record, hex_text, sha256_hex, sha256_hex_into};
use super::{KIND_REDACTION, KIND_RUN_ENDED, KIND_RUN_STARTED, Store, StoreError};

/// What is wrong with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Problem {
    /// A record's contents no longer match its hash.
    Edited,
    /// Records are gone: a gap in seq, a run row with no events, events whose run row is gone.
    Missing,
    /// A record that was not written by runsheet sits in the chain.
    Inserted,
    /// Records are in the wrong order: moved in the chain, run_seq or time going backwards.
    OutOfOrder,
    /// A payload does not match its recorded hash, or was removed without a redaction event.
    PayloadMismatch,
    /// A run's row disagrees with the run's events (identity, start, end, outcome).
    RunRowMismatch,
    /// A run's stored procedure source is missing or no longer matches its hash.
    SourceMismatch,
    /// The log ends before a checkpoint's head: its tail was removed.
    Truncated,
}

impl Problem {
    pub fn as_str(self) -> &'static str {
        match self {
            Problem::Edited => "edited",
            Problem::Missing => "missing",
            Problem::Inserted => "inserted",
            Problem::OutOfOrder => "out-of-order",
            Problem::PayloadMismatch => "payload-mismatch",
            Problem::RunRowMismatch => "run-row-mismatch",
            Problem::SourceMismatch => "source-mismatch",
            Problem::Truncated => "truncated",
        }
    }
}

/// The first bad record verify found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The record's seq (for a gap: the first missing seq); `None` for a run-level finding.
    pub seq: Option<i64>,
    #[serde(serialize_with = "opt_uuid")]
    pub run_id: Option<Uuid>,
    pub run_seq: Option<i64>,
    pub problem: Problem,
    /// For people: names the run and sequence and says what happened.
    pub message: String,
}

/// The result of verify. With a finding, the counts and head describe the part
/// of the chain verified before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Rows in `runs`.
    pub runs: i64,
    /// Events verified.
    pub events: i64,
    /// The last verified event's seq (0 for an empty log).
    pub head_seq: i64,
    /// The last verified event's hash (64 zeros for an empty log).
    pub head_hash: String,
    /// Events whose payload was removed by a (later, verified) redaction event.
    pub redacted: Vec<i64>,
    pub finding: Option<Finding>,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.finding.is_none()
    }
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.finding {
            None => {
                writeln!(
                    f,
                    "OK: the evidence log's hash chain is intact ({} runs, {} events).",
                    self.runs, self.events
                )?;
                write!(f, "Chain head: seq {} {}", self.head_seq, self.head_hash)?;
                if !self.redacted.is_empty() {
                    let seqs: Vec<String> = self.redacted.iter().map(i64::to_string).collect();
                    write!(
                        f,
                        "\nRedacted payloads (by recorded redaction events): seq {}",
                        seqs.join(", ")
                    )?;
                }
                Ok(())
            }
            Some(finding) => {
                writeln!(
                    f,
                    "FAILED: {} — {}",
                    finding.problem.as_str(),
                    finding.message
                )?;
                write!(
                    f,
                    "The chain was intact up to seq {} ({} events checked before the problem).",
                    self.head_seq, self.events
                )
            }
        }
    }
}

/// The chain head at a point in time, kept outside the log (e.g. in an audit
/// bundle) so a later verify can prove nothing before it was removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Number of events in the log (equals `head_seq` in an intact log).
    pub events: i64,
    pub head_seq: i64,
    pub head_hash: String,
    /// Time of the head event; `None` for an empty log.
    pub at: Option<DateTime<Utc>>,
}

#[derive(Serialize, Deserialize)]
struct CheckpointFile {
    format: String,
    version: u32,
    events: i64,
    head_seq: i64,
    head_hash: String,
    at: Option<String>,
}

impl Checkpoint {
    /// `format` field of a checkpoint file.
    pub const FORMAT: &'static str = "runsheet-checkpoint";
    /// `version` field of a checkpoint file.
    pub const VERSION: u32 = 1;

    /// The checkpoint file's text (JSON, documented in docs/evidence-schema.md).
    pub fn to_json(&self) -> String {
        let file = CheckpointFile {
            format: Self::FORMAT.to_string(),
            version: Self::VERSION,
            events: self.events,
            head_seq: self.head_seq,
            head_hash: self.head_hash.clone(),
            at: self
                .at
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
        };
        let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Read a checkpoint file's text.
    pub fn from_json(text: &str) -> Result<Checkpoint, StoreError> {
        let bad = |why: String| {
            StoreError::BadCheckpoint(format!(
                "not a runsheet checkpoint: {why}; use a file written by `runsheet checkpoint` or an audit bundle's checkpoint.json"
            ))
        };
        let file: CheckpointFile = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if file.format != Self::FORMAT {
            return Err(bad(format!(
                "format is {:?}, expected {:?}",
                file.format,
                Self::FORMAT
            )));
        }
        if file.version != Self::VERSION {
            return Err(bad(format!(
                "version {} is not known (this runsheet reads version {})",
                file.version,
                Self::VERSION
            )));
        }
        let hex_ok = file.head_hash.len() == 64
            && file
                .head_hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return Err(bad(format!(
                "head_hash {:?} is not 64 lower-case hex digits",
                file.head_hash
            )));
        }
        if file.head_seq < 0 || file.events < 0 {
            return Err(bad("head_seq and events cannot be negative".into()));
        }
        let at = match file.at {
            Some(t) => Some(
                DateTime::parse_from_rfc3339(&t)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| bad(format!("at {t:?}: {e}")))?,
            ),
            None => None,
        };
        Ok(Checkpoint {
            events: file.events,
            head_seq: file.head_seq,
            head_hash: file.head_hash,
            at,
        })
    }
}

fn opt_uuid<S: Serializer>(id: &Option<Uuid>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.serialize_str(&id.hyphenated().to_string()),
        None => s.serialize_none(),
    }
}

/// A run row as verify needs it, plus what the walk has seen of its events.
struct RunInfo {
    id: Uuid,
    procedure_id: String,
    procedure_version: String,
    procedure_sha256: String,
    operator: String,
    operator_name: Option<String>,
    host: String,
    runsheet_version: String,
    started_at: String,
    ended_at: Option<String>,
    outcome: Option<String>,
    last_run_seq: i64,
    last_at: Vec<u8>,
    ended_seq: Option<i64>,
}

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
    fn record(&self, seq: i64) -> Record<'_> {
        Record {
            seq,
            run_id: self.run_id.unwrap_or(b""),
            run_seq: self.run_seq,
            at: self.at,
            actor: self.actor,
            kind: self.kind,
            step: self.step.unwrap_or(b""),
            payload_sha256: self.payload_sha256,
            prev_hash: self.prev_hash,
        }
    }

    /// Does the record's stored hash match its fields if it sat at `seq`?
    fn hashes_at(&self, seq: i64) -> bool {
        let mut out = [0u8; 64];
        self.record(seq).hash_into(&mut out);
        out.as_slice() == self.hash
    }

    fn run(&self) -> Option<Uuid> {
        self.run_id.and_then(|id| Uuid::try_parse_ascii(id).ok())
    }
}

const EVENT_SQL: &str = "SELECT seq, run_id, run_seq, at, actor, kind, step, payload, \
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
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seq = self.seq;
        match (self.run, self.run_seq) {
            (Some(run), Some(n)) => write!(f, "seq {seq} (run {run}, event {n} of the run)"),
            (Some(run), None) => write!(f, "seq {seq} (run {run})"),
            (None, Some(n)) => write!(f, "seq {seq} (log event {n})"),
            (None, None) => write!(f, "seq {seq}"),
        }
    }
}

fn place(seq: i64, run: Option<Uuid>, run_seq: Option<i64>) -> Place {
    Place { seq, run, run_seq }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The walk over the chain.
struct Walk<'c> {
    conn: &'c Connection,
    expected: i64,
    head: [u8; 64],
    events: i64,
    runs: Vec<RunInfo>,
    index: HashMap<Uuid, usize>,
    /// The run of the previous event (run id text, index): events of one run
    /// mostly come together, so most look-ups are a 36-byte compare.
    last_run: Option<(Vec<u8>, usize)>,
    log_run_seq: i64,
    nulls: Vec<i64>,
    redacted: HashSet<i64>,
    sources: HashMap<String, Option<String>>,
}

type Step = Result<Option<Finding>, rusqlite::Error>;

impl<'c> Walk<'c> {
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
    fn check(&mut self, row: &rusqlite::Row<'_>) -> Step {
        let seq = row.get_ref(0)?.as_i64().unwrap_or(i64::MIN);
        if seq != self.expected {
            let e = self.expected;
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
        let here = || place(seq, rec.run(), Some(rec.run_seq));

        // The payload against its hash (a NULL payload needs a redaction, checked later).
        let mut buf = [0u8; 64];
        match rec.payload {
            Some(payload) => {
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
            }
            None => self.nulls.push(seq),
        }

        // The chain.
        rec.record(seq).hash_into(&mut buf);
        let self_ok = buf.as_slice() == rec.hash;
        let links = rec.prev_hash == self.head.as_slice();
        if !(self_ok && links) {
            return self.diagnose(&rec, links).map(Some);
        }

        // The run the event belongs to.
        if let Some(f) = self.check_run(&rec)? {
            return Ok(Some(f));
        }
        if rec.kind == KIND_REDACTION.as_bytes()
            && let Some(payload) = rec.payload
            && let Ok(v) = serde_json::from_slice::<Value>(payload)
            && let Some(seqs) = v.get("seqs").and_then(Value::as_array)
        {
            self.redacted
                .extend(seqs.iter().filter_map(Value::as_i64).filter(|&s| s < seq));
        }

        self.head.copy_from_slice(rec.hash);
        self.expected += 1;
        self.events += 1;
        Ok(None)
    }

    /// The record at `rec.seq` does not hash or does not link: say what most
    /// likely happened, with a few targeted look-ups (only done once).
    fn diagnose(&self, rec: &Rec<'_>, links: bool) -> rusqlite::Result<Finding> {
        let seq = rec.seq;
        let run = rec.run();
        let here = place(seq, run, Some(rec.run_seq));
        let found = |problem, seq, run, run_seq, message| Finding {
            seq: Some(seq),
            run_id: run,
            run_seq,
            problem,
            message,
        };
        if !links && rec.hash == self.head.as_slice() && rec.hashes_at(seq - 1) {
            return Ok(found(
                Problem::Inserted,
                seq,
                run,
                Some(rec.run_seq),
                format!("{here} was inserted: it is a copy of seq {}", seq - 1),
            ));
        }
        if !links && let Some(p) = self.seq_with_hash(rec.prev_hash, seq)? {
            if p < seq - 1 && rec.hashes_at(p + 1) {
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
                    format!(
                        "{what}: seq {seq} was originally seq {} and follows seq {p}",
                        p + 1
                    ),
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
        if self.next_is_original(seq)? {
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
        if links {
            return Ok(found(
                Problem::Edited,
                seq,
                run,
                Some(rec.run_seq),
                format!("{here} was edited: its contents no longer match its hash"),
            ));
        }
        if !rec.hashes_at(seq) {
            // Deleted, and the later events renumbered to close the gap?
            if let Some(original) = (seq + 1..=seq + 64).find(|&o| rec.hashes_at(o)) {
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
            return Ok(found(
                Problem::Edited,
                seq,
                run,
                Some(rec.run_seq),
                format!(
                    "{here} was edited: neither its hash nor its link to seq {} match",
                    seq - 1
                ),
            ));
        }
        Ok(found(
            Problem::Inserted,
            seq,
            run,
            Some(rec.run_seq),
            format!(
                "{here} was inserted: it does not follow seq {} and links to no record in the log",
                seq - 1
            ),
        ))
    }

    /// The seq of another record whose hash is `hash`.
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
                "SELECT seq FROM events WHERE hash = ?1 AND seq <> ?2 ORDER BY seq LIMIT 1",
                rusqlite::params![hash, not],
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

    /// Is the record after `seq` the original record `seq` (so `seq` was inserted)?
    fn next_is_original(&self, seq: i64) -> rusqlite::Result<bool> {
        let mut stmt = self.conn.prepare(&format!("{EVENT_SQL} WHERE seq = ?1"))?;
        let mut rows = stmt.query([seq + 1])?;
        let Some(row) = rows.next()? else {
            return Ok(false);
        };
        Ok(match read_rec(row)? {
            Ok(next) => next.prev_hash == self.head.as_slice() && next.hashes_at(seq),
            Err(_) => false,
        })
    }

    /// Per-run checks for an event whose chain link is sound.
    fn check_run(&mut self, rec: &Rec<'_>) -> Step {
        let seq = rec.seq;
        let Some(id_text) = rec.run_id else {
            if rec.run_seq != self.log_run_seq + 1 {
                return Ok(Self::finding(
                    rec,
                    Problem::OutOfOrder,
                    format!(
                        "{} is out of order: log event {} follows log event {}",
                        place(seq, None, Some(rec.run_seq)),
                        rec.run_seq,
                        self.log_run_seq
                    ),
                ));
            }
            self.log_run_seq = rec.run_seq;
            return Ok(None);
        };
        let cached = match &self.last_run {
            Some((text, i)) if text.as_slice() == id_text => Some(*i),
            _ => None,
        };
        let idx = match cached {
            Some(i) => i,
            None => {
                let Some(id) = rec.run() else {
                    return Ok(Self::finding(
                        rec,
                        Problem::Edited,
                        format!(
                            "seq {seq} was edited: its run id {:?} is not a UUID",
                            lossy(id_text)
                        ),
                    ));
                };
                let Some(&i) = self.index.get(&id) else {
                    return Ok(Self::finding(
                        rec,
                        Problem::Missing,
                        format!(
                            "{} belongs to run {id}, whose row in `runs` was deleted",
                            place(seq, Some(id), Some(rec.run_seq))
                        ),
                    ));
                };
                self.last_run = Some((id_text.to_vec(), i));
                i
            }
        };
        let info = &mut self.runs[idx];
        let id = info.id;
        let here = place(seq, Some(id), Some(rec.run_seq));
        if rec.run_seq != info.last_run_seq + 1 {
            return Ok(Self::finding(
                rec,
                Problem::OutOfOrder,
                format!(
                    "{here} is out of order: run {id}'s event {} follows its event {}",
                    rec.run_seq, info.last_run_seq
                ),
            ));
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
            if let Some(message) = started_mismatch(info, rec) {
                return Ok(Self::finding(
                    rec,
                    Problem::RunRowMismatch,
                    format!("{here}: {message}"),
                ));
            }
            let sha = info.procedure_sha256.clone();
            if let Some(message) = self.source_problem(&sha)? {
                return Ok(Self::finding(
                    rec,
                    Problem::SourceMismatch,
                    format!("run {id} (started at {here}): {message}"),
                ));
            }
        } else if rec.kind == KIND_RUN_ENDED.as_bytes() {
            info.ended_seq = Some(seq);
            if let Some(message) = ended_mismatch(info, rec) {
                return Ok(Self::finding(
                    rec,
                    Problem::RunRowMismatch,
                    format!("{here}: {message}"),
                ));
            }
        }
        Ok(None)
    }

    /// Is the procedure source `sha` present and intact? (Checked once per source.)
    fn source_problem(&mut self, sha: &str) -> rusqlite::Result<Option<String>> {
        if let Some(known) = self.sources.get(sha) {
            return Ok(known.clone());
        }
        let text: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT CAST(text AS BLOB) FROM procedure_sources WHERE sha256 = ?1",
                [sha],
                |r| r.get(0),
            )
            .optional()?;
        let problem = match text {
            None => Some(format!(
                "its procedure source {sha} is missing from procedure_sources"
            )),
            Some(text) if sha256_hex(&text) != sha => Some(format!(
                "its procedure source {sha} was edited: the stored text no longer has that hash"
            )),
            Some(_) => None,
        };
        self.sources.insert(sha.to_string(), problem.clone());
        Ok(problem)
    }
}

/// The run row against its `run-started` event.
fn started_mismatch(info: &RunInfo, rec: &Rec<'_>) -> Option<String> {
    if rec.at != info.started_at.as_bytes() {
        return Some(format!(
            "the run row says it started at {} but its {KIND_RUN_STARTED} event is at {}",
            info.started_at,
            lossy(rec.at)
        ));
    }
    // A redacted payload leaves only the time to compare.
    let payload = rec.payload?;
    let Ok(v) = serde_json::from_slice::<Value>(payload) else {
        return Some(format!("its {KIND_RUN_STARTED} payload is not JSON"));
    };
    let fields = [
        ("procedure_id", &info.procedure_id),
        ("procedure_version", &info.procedure_version),
        ("procedure_sha256", &info.procedure_sha256),
        ("operator", &info.operator),
        ("host", &info.host),
        ("runsheet_version", &info.runsheet_version),
    ];
    for (name, row) in fields {
        let event = v.get(name).and_then(Value::as_str);
        if event != Some(row.as_str()) {
            return Some(format!(
                "the run row's {name} is {row:?} but its {KIND_RUN_STARTED} event says {}",
                event.map_or_else(|| "nothing".to_string(), |e| format!("{e:?}"))
            ));
        }
    }
    let event_name = v.get("operator_name").and_then(Value::as_str);
    if event_name != info.operator_name.as_deref() {
        return Some(format!(
            "the run row's operator_name is {:?} but its {KIND_RUN_STARTED} event says {:?}",
            info.operator_name, event_name
        ));
    }
    None
}

/// The run row's outcome and end time against its `run-ended` event.
fn ended_mismatch(info: &RunInfo, rec: &Rec<'_>) -> Option<String> {
    let at = lossy(rec.at);
    if info.ended_at.as_deref() != Some(at.as_str()) {
        return Some(format!(
            "the run ended at {at} ({KIND_RUN_ENDED}) but its row says ended_at {}",
            info.ended_at.as_deref().unwrap_or("NULL (open)")
        ));
    }
    let payload = rec.payload?;
    let v = serde_json::from_slice::<Value>(payload).ok();
    let outcome = v
        .as_ref()
        .and_then(|v| v.get("outcome"))
        .and_then(Value::as_str);
    if outcome != info.outcome.as_deref() {
        return Some(format!(
            "the run ended {} but its row says outcome {}",
            outcome.unwrap_or("(no outcome)"),
            info.outcome.as_deref().unwrap_or("NULL (open)")
        ));
    }
    None
}

fn load_runs(conn: &Connection) -> rusqlite::Result<Vec<(String, RunInfo)>> {
    let mut stmt = conn.prepare(
        "SELECT id, procedure_id, procedure_version, procedure_sha256, operator, host, \
         runsheet_version, started_at, ended_at, outcome, operator_name FROM runs \
         ORDER BY started_at, id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            RunInfo {
                id: Uuid::nil(),
                procedure_id: r.get(1)?,
                procedure_version: r.get(2)?,
                procedure_sha256: r.get(3)?,
                operator: r.get(4)?,
                host: r.get(5)?,
                runsheet_version: r.get(6)?,
                started_at: r.get(7)?,
                ended_at: r.get(8)?,
                outcome: r.get(9)?,
                operator_name: r.get(10)?,
                last_run_seq: 0,
                last_at: Vec::new(),
                ended_seq: None,
            },
        ))
    })?;
    rows.collect()
}

impl Store {
    pub(super) fn verify_impl(&self) -> Result<VerifyReport, StoreError> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        // One read transaction: runs, sources and events from the same snapshot
        // while other processes keep appending.
        let tx = self.conn.unchecked_transaction().map_err(sql)?;
        let loaded = load_runs(&tx).map_err(sql)?;
        let run_count = loaded.len() as i64;
        let mut runs = Vec::with_capacity(loaded.len());
        let mut index = HashMap::with_capacity(loaded.len());
        let mut finding = None;
        for (text, mut info) in loaded {
            match Uuid::try_parse(&text) {
                Ok(id) => {
                    info.id = id;
                    index.insert(id, runs.len());
                    runs.push(info);
                }
                Err(_) => {
                    finding.get_or_insert(Finding {
                        seq: None,
                        run_id: None,
                        run_seq: None,
                        problem: Problem::RunRowMismatch,
                        message: format!(
                            "the runs row with id {text:?} was edited: that is not a UUID"
                        ),
                    });
                }
            }
        }
        let mut walk = Walk {
            conn: &tx,
            expected: 1,
            head: [b'0'; 64],
            events: 0,
            runs,
            index,
            last_run: None,
            log_run_seq: 0,
            nulls: Vec::new(),
            redacted: HashSet::new(),
            sources: HashMap::new(),
        };
        let mut chain_finding = None;
        {
            let mut stmt = tx
                .prepare(&format!("{EVENT_SQL} ORDER BY seq"))
                .map_err(sql)?;
            let mut rows = stmt.query([]).map_err(sql)?;
            while let Some(row) = rows.next().map_err(sql)? {
                if let Some(f) = walk.check(row).map_err(sql)? {
                    chain_finding = Some(f);
                    break;
                }
            }
        }
        let head_seq = walk.expected - 1;
        let head_hash = hex_text(&walk.head);
        // A NULL payload is fine only when a redaction event in the verified
        // part of the chain lists it.
        let unredacted = walk
            .nulls
            .iter()
            .copied()
            .find(|s| !walk.redacted.contains(s));
        let stop = chain_finding.as_ref().and_then(|f| f.seq);
        let payload_finding = unredacted
            .filter(|&s| stop.is_none_or(|stop| s < stop))
            .map(|s| Finding {
                seq: Some(s),
                run_id: None,
                run_seq: None,
                problem: Problem::PayloadMismatch,
                message: format!(
                    "the payload of seq {s} was removed, and no redaction event records that"
                ),
            });
        let finding = payload_finding
            .or(chain_finding)
            .or_else(|| run_level_finding(&walk.runs))
            .or(finding);
        let redacted = walk
            .nulls
            .iter()
            .copied()
            .filter(|s| walk.redacted.contains(s))
            .collect();
        let events = walk.events;
        drop(walk);
        tx.finish().map_err(sql)?;
        Ok(VerifyReport {
            runs: run_count,
            events,
            head_seq,
            head_hash,
            redacted,
            finding,
        })
    }

    pub(super) fn checkpoint_impl(&self) -> Result<Checkpoint, StoreError> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        let (head, events) = self.read_snapshot(|store| {
            let head: Option<(i64, String, String)> = store
                .conn
                .query_row(
                    "SELECT seq, hash, at FROM events ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(sql)?;
            let events: i64 = store
                .conn
                .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
                .map_err(sql)?;
            Ok::<_, StoreError>((head, events))
        })?;
        Ok(match head {
            Some((seq, hash, at)) => Checkpoint {
                events,
                head_seq: seq,
                head_hash: hash,
                at: Some(self.parse_time(&at, &format!("event seq {seq}"))?),
            },
            None => Checkpoint {
                events,
                head_seq: 0,
                head_hash: GENESIS.to_string(),
                at: None,
            },
        })
    }

    pub(super) fn verify_checkpoint_impl(
        &self,
        cp: &Checkpoint,
    ) -> Result<VerifyReport, StoreError> {
        let mut report = self.verify_impl()?;
        if report
            .finding
            .as_ref()
            .is_some_and(|f| f.seq.is_some_and(|s| s <= cp.head_seq))
        {
            return Ok(report);
        }
        if cp.head_seq == 0 {
            return Ok(report);
        }
        let sql = |e| StoreError::sqlite(&self.path, e);
        let tx = self.conn.unchecked_transaction().map_err(sql)?;
        let hash: Option<String> = tx
            .query_row(
                "SELECT hash FROM events WHERE seq = ?1",
                [cp.head_seq],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        let last: i64 = tx
            .query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))
            .map_err(sql)?;
        tx.finish().map_err(sql)?;
        let when = cp
            .at
            .map(|t| {
                format!(
                    ", last event at {}",
                    t.to_rfc3339_opts(SecondsFormat::Millis, true)
                )
            })
            .unwrap_or_default();
        let m = cp.head_seq;
        match hash {
            None => {
                let gone = if last + 1 == m {
                    format!("event seq {m} was removed")
                } else {
                    format!("events seq {} to {m} were removed", last + 1)
                };
                report.finding = Some(Finding {
                    seq: Some(last + 1),
                    run_id: None,
                    run_seq: None,
                    problem: Problem::Truncated,
                    message: format!(
                        "the log was truncated: it ends at seq {last}, but the checkpoint (head seq {m}{when}) shows it held events up to seq {m}; {gone}"
                    ),
                });
            }
            Some(hash) if hash != cp.head_hash => {
                report.finding = Some(Finding {
                    seq: Some(m),
                    run_id: None,
                    run_seq: None,
                    problem: Problem::Edited,
                    message: format!(
                        "the log was rewritten: seq {m}'s hash differs from the checkpoint's head hash (checkpoint head seq {m}{when}); events up to seq {m} were replaced after the checkpoint was taken"
                    ),
                });
            }
            Some(_) => {}
        }
        Ok(report)
    }
}

/// Findings about whole runs, after the walk: rows without events, rows that
/// say a run ended when no `run-ended` event says so.
fn run_level_finding(runs: &[RunInfo]) -> Option<Finding> {
    runs.iter().find_map(|info| {
        let id = info.id;
        let (problem, message) = if info.last_run_seq == 0 {
            (
                Problem::Missing,
                format!("run {id} has a row in `runs` but no events: its events were deleted"),
            )
        } else if info.ended_seq.is_none() && info.outcome.is_some() {
            (
                Problem::RunRowMismatch,
                format!(
                    "run {id}'s row says it ended ({}) but the log has no {KIND_RUN_ENDED} event for it",
                    info.outcome.as_deref().unwrap_or_default()
                ),
            )
        } else {
            return None;
        };
        Some(Finding {
            seq: None,
            run_id: Some(id),
            run_seq: None,
            problem,
            message,
        })
    })
}
