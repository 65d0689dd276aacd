//! Verify: recompute the hash chain over all events (streamed, in seq order),
//! cross-check run rows and procedure sources against the chain, honour
//! redactions, and name the first bad record. Also checkpoints (the chain head
//! written elsewhere) to detect truncation.
//!
//! May not depend on the engine, tui, export or app.

mod payload;
mod runs;
mod walk;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::OptionalExtension;
use rusqlite::types::ValueRef;
use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

use super::chain::{GENESIS, hex_text};
use super::{Store, StoreError, migrate};
use runs::RunCounts;
use walk::{Progress, Walk};

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

/// How [`Store::verify_planned`] walks the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Plan {
    /// `Some(at)`: walk seqs `at..` on a second thread; `None`: decide by size.
    pub split_at: Option<i64>,
    /// Split only a chain of at least this many records (when `split_at` is `None`).
    pub split_min: i64,
    /// At most this many open runs are cached (see `runs::OpenRuns`).
    pub cache: usize,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            split_at: None,
            // Below this, one walk takes a few tens of milliseconds.
            split_min: 50_000,
            cache: 4096,
        }
    }
}

impl Plan {
    fn split_point(&self, last: i64) -> Option<i64> {
        let at = match self.split_at {
            Some(at) => at,
            None if last >= self.split_min => last / 2 + 1,
            None => return None,
        };
        (at > 1 && at <= last).then_some(at)
    }
}

/// How long the second half's connection waits for a lock before the first
/// walk goes on alone.
const SECOND_HALF_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(200);

/// The walk over `from..=last` on its own connection (its own snapshot, which
/// holds at least everything up to `last`): where it started and where it
/// ended. `None` when it could not run; the caller then walks on itself.
fn second_half(
    path: &Path,
    read_only: bool,
    from: i64,
    last: i64,
    cache: usize,
    cancel: &AtomicBool,
) -> Option<(Progress, Progress)> {
    // Short: the second half is optional, and without WAL a writer waiting to
    // commit (behind the first connection's read lock) keeps new readers out.
    let conn = migrate::connect(path, SECOND_HALF_BUSY_TIMEOUT, read_only).ok()?;
    let tx = conn.unchecked_transaction().ok()?;
    let mut walk = Walk::resume(&tx, last, cache, from).ok()??;
    let start = walk.p.clone();
    walk.run(last, cancel).ok()?;
    let end = std::mem::take(&mut walk.p);
    drop(walk);
    tx.finish().ok()?;
    Some((start, end))
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

impl Store {
    pub(super) fn verify_impl(&self) -> Result<VerifyReport, StoreError> {
        self.verify_planned(Plan::default())
            .map(|(report, _)| report)
    }

    /// [`Store::verify`] walking the chain as `plan` says; every plan gives
    /// the same report. Also says whether the chain was walked in two halves
    /// at once (and the halves joined).
    pub(super) fn verify_planned(&self, plan: Plan) -> Result<(VerifyReport, bool), StoreError> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        // One read transaction: runs, sources and events from the same snapshot
        // while other processes keep appending. Its head bounds every read.
        let tx = self.conn.unchecked_transaction().map_err(sql)?;
        let head: Option<(i64, Option<Vec<u8>>)> = tx
            .query_row(
                "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
                [],
                |r| {
                    let hash = match r.get_ref(1)? {
                        ValueRef::Text(h) => Some(h.to_vec()),
                        _ => None,
                    };
                    Ok((r.get(0)?, hash))
                },
            )
            .optional()
            .map_err(sql)?;
        let (last, last_hash) = head.unwrap_or((0, None));
        let (rows, rows_ended): (i64, i64) = tx
            .query_row("SELECT count(*), count(outcome) FROM runs", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(sql)?;

        let mut walk = Walk::new(&tx, last, plan.cache);
        let joined = match plan.split_point(last) {
            None => {
                walk.run(last, &AtomicBool::new(false)).map_err(sql)?;
                false
            }
            Some(at) => self
                .walk_split(&mut walk, at, last, last_hash.as_deref(), plan.cache)
                .map_err(sql)?,
        };
        let mut p = walk.p;

        let head_seq = p.expected - 1;
        let head_hash = hex_text(&p.head);
        // A NULL payload is fine only when a redaction event in the verified
        // part of the chain lists it.
        let chain_finding = p.finding.take();
        let stop = chain_finding.as_ref().and_then(|f| f.seq);
        let payload_finding = p
            .nulls
            .iter()
            .copied()
            .find(|s| !p.redacted.contains(s))
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
        let finding = match payload_finding.or(chain_finding) {
            Some(f) => Some(f),
            None => {
                // The whole chain is sound: now every row against it.
                let counts = RunCounts {
                    rows,
                    rows_ended,
                    started: p.started,
                    ended: p.ended,
                };
                let (run_level, bad_row) = runs::row_findings(&tx, counts).map_err(sql)?;
                run_level.or(bad_row)
            }
        };
        let redacted = p
            .nulls
            .iter()
            .copied()
            .filter(|s| p.redacted.contains(s))
            .collect();
        tx.finish().map_err(sql)?;
        let report = VerifyReport {
            runs: rows,
            events: p.events,
            head_seq,
            head_hash,
            redacted,
            finding,
        };
        Ok((report, joined))
    }

    /// Walk seqs `..at` with `walk` and, at the same time on a second
    /// connection and thread, `at..=last`; join the two when the second starts
    /// exactly where the first ended (else walk on from the first's end).
    /// The first bad record in chain order wins, as in one walk. True when
    /// the second half's walk was used.
    fn walk_split(
        &self,
        walk: &mut Walk<'_>,
        at: i64,
        last: i64,
        last_hash: Option<&[u8]>,
        cache: usize,
    ) -> rusqlite::Result<bool> {
        let cancel = AtomicBool::new(false);
        let never = AtomicBool::new(false);
        let read_only = self.conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false);
        let path = self.path.as_path();
        let (first, tail) = std::thread::scope(|scope| {
            let tail = scope.spawn(|| second_half(path, read_only, at, last, cache, &cancel));
            let first = walk.run(at - 1, &never);
            if first.is_err() || walk.p.finding.is_some() {
                cancel.store(true, Ordering::Relaxed);
            }
            (first, tail.join())
        });
        first?;
        if walk.p.finding.is_some() {
            return Ok(false);
        }
        if let Ok(Some((start, end))) = tail
            && walk.p.joins(&start)
            && (end.finding.is_some() || Some(end.head.as_slice()) == last_hash)
        {
            walk.p.append(end);
            return Ok(true);
        }
        walk.run(last, &never)?;
        Ok(false)
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
