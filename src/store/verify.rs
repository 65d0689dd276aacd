//! Verify: SQLite's page-level check of the whole file, the hash chain over
//! all events (streamed, in seq order) with every record's payload, run rows
//! and procedure sources cross-checked against it, the walk's counts against
//! the tables', and the schema against the one the migrations create; name
//! the first bad record. Also checkpoints (the chain head written elsewhere),
//! proved by the walk reaching them, to detect truncation and rewrites.
//!
//! May not depend on the engine, tui, export or app.

mod content_check;
mod custody_check;
mod payload;
mod runs;
mod schema_check;
mod tree_check;
mod walk;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::OptionalExtension;
use rusqlite::types::ValueRef;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

use super::chain::{GENESIS, hex_text};
use super::{Store, StoreError, migrate};
use crate::custody::checkpoint::SignedCheckpoint;
use crate::custody::note::Verifier;
pub use content_check::Redaction;
use custody_check::Stored;
pub use custody_check::{CustodyReport, WitnessReport};
use migrate::Mode;
use runs::RunCounts;
use walk::{Progress, Walk};

/// What is wrong with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
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
    /// A payload does not match its recorded hash, or was removed.
    PayloadMismatch,
    /// A run's row disagrees with the run's events (identity, start, end, outcome).
    RunRowMismatch,
    /// A run's stored procedure source is missing or no longer matches its hash.
    SourceMismatch,
    /// The log ends before a checkpoint's head: its tail was removed.
    Truncated,
    /// The file itself is damaged: SQLite's page check fails, or not every
    /// record can be read.
    Damaged,
    /// The schema differs from the one runsheet's migrations create (e.g. the
    /// append-only triggers were dropped).
    SchemaChanged,
    /// The Merkle tree stored in the log does not match the records.
    TreeChanged,
    /// A signed checkpoint or cosignature does not verify with the key it
    /// claims, or the log's key is not the one the caller trusts.
    BadSignature,
    /// A witness the caller trusts cosigned none of the log's checkpoints.
    Unwitnessed,
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
            Problem::Damaged => "damaged",
            Problem::SchemaChanged => "schema-changed",
            Problem::TreeChanged => "tree-changed",
            Problem::BadSignature => "bad-signature",
            Problem::Unwitnessed => "unwitnessed",
        }
    }
}

/// The first bad record verify found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Finding {
    /// The record's seq (for a gap: the first missing seq); null for a run-level finding.
    pub seq: Option<i64>,
    /// The run it belongs to (a UUID).
    #[serde(serialize_with = "opt_uuid")]
    #[schemars(with = "Option<String>")]
    pub run_id: Option<Uuid>,
    pub run_seq: Option<i64>,
    pub problem: Problem,
    /// For people: names the run and sequence and says what happened.
    pub message: String,
}

/// The result of verify. With a finding, the counts and head describe the part
/// of the chain verified before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct VerifyReport {
    /// Rows in `runs`.
    #[serde(rename = "run_count")]
    pub runs: i64,
    /// Events verified.
    #[serde(rename = "event_count")]
    pub events: i64,
    /// The last verified event's seq (0 for an empty log).
    pub head_seq: i64,
    /// The last verified event's hash (64 zeros for an empty log).
    pub head_hash: String,
    /// The log says it holds generated test data (its `log-created` event):
    /// not evidence, whatever else the report says.
    pub test_data: bool,
    /// The first problem found (see docs/evidence-schema.md for the order).
    pub finding: Option<Finding>,
    /// A `--trusted` checkpoint (signed, or an older runsheet's unsigned
    /// JSON one) that was proved: its size (head seq). The log is an
    /// append-only extension of it.
    pub trusted_checkpoint: Option<i64>,
    /// Problems of other kinds found beside it (e.g. dropped triggers beside
    /// an edited record).
    pub also: Vec<Finding>,
    /// Signed checkpoints and cosignatures (a log of schema 4 or later).
    pub custody: Option<CustodyReport>,
    /// The redactions verify accepted (signed by a registered custodian), in
    /// log order (schema 5).
    pub redactions: Vec<Redaction>,
}

/// What a verify is to prove beyond the log itself: checkpoints kept outside
/// it, and the keys the caller trusts.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// An unsigned checkpoint file of an older runsheet (JSON).
    pub checkpoint: Option<Checkpoint>,
    /// A signed checkpoint kept outside the log (an anchor, a witness's copy,
    /// a bundle's): the log must be an extension of its tree.
    pub trusted: Option<SignedCheckpoint>,
    /// The log's public key as the caller knows it; without it, signatures
    /// are checked with the key the log itself records.
    pub key: Option<Verifier>,
    /// Witnesses the caller trusts: each must have cosigned a checkpoint.
    pub witnesses: Vec<Verifier>,
    /// Custodians the caller trusts: when given, every redaction must be
    /// signed by one of them (not only by a custodian the log registered).
    pub custodians: Vec<Verifier>,
}

/// What every command that shows a generated log says about it.
pub const TEST_DATA_NOTICE: &str = "GENERATED TEST DATA — NOT EVIDENCE: this log was written by runsheet's development-only generator (its log-created event says so).";

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.finding.is_none()
    }

    /// The report of a file that could not even be read as a log.
    pub fn damaged(detail: String) -> VerifyReport {
        VerifyReport {
            runs: 0,
            events: 0,
            head_seq: 0,
            head_hash: GENESIS.to_string(),
            test_data: false,
            finding: Some(Finding {
                seq: None,
                run_id: None,
                run_seq: None,
                problem: Problem::Damaged,
                message: detail,
            }),
            trusted_checkpoint: None,
            also: Vec::new(),
            custody: None,
            redactions: Vec::new(),
        }
    }
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.test_data {
            writeln!(f, "NOTE: {TEST_DATA_NOTICE}")?;
        }
        match &self.finding {
            None => {
                writeln!(
                    f,
                    "OK: the evidence log is intact: every page reads, and the hash chain holds every record ({} runs, {} events).",
                    self.runs, self.events
                )?;
                write!(f, "Chain head: seq {} {}", self.head_seq, self.head_hash)?;
                match &self.custody {
                    Some(c) => write_custody(f, c, self.head_seq)?,
                    None => write!(
                        f,
                        "\nSigned checkpoints: none — this log is of a schema from before chain of custody, so a consistent rewrite by anyone who can write the file shows only against an earlier bundle or anchor; the next run upgrades it and signs from then on"
                    )?,
                }
                if let Some(n) = self.trusted_checkpoint {
                    write!(
                        f,
                        "\nTrusted checkpoint: the log is an append-only extension of it (head seq {n}): nothing up to seq {n} was changed or removed"
                    )?;
                }
                if !self.redactions.is_empty() {
                    write!(
                        f,
                        "\nRedactions: {}, each signed by a registered custodian (content only: identity, times, outcomes and sources stay)",
                        self.redactions.len()
                    )?;
                    for r in &self.redactions {
                        write!(
                            f,
                            "\n  seq {} erased the content of seq {} at {} ({}): {} — custodian {}",
                            r.seq, r.of_seq, r.at, r.actor, r.reason, r.custodian
                        )?;
                    }
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
                for other in &self.also {
                    writeln!(f, "Also: {} — {}", other.problem.as_str(), other.message)?;
                }
                if finding.problem == Problem::Damaged {
                    write!(
                        f,
                        "The file is damaged: no record in it can be relied on until it is restored from a backup."
                    )
                } else if matches!(
                    finding.problem,
                    Problem::Unwitnessed | Problem::BadSignature
                ) {
                    // What failed is a signature or a witness, not a record.
                    write!(
                        f,
                        "The hash chain holds up to seq {} ({} events checked); what failed is the signature or witness check above.",
                        self.head_seq, self.events
                    )
                } else {
                    write!(
                        f,
                        "The chain was intact up to seq {} ({} events checked before the problem).",
                        self.head_seq, self.events
                    )
                }
            }
        }
    }
}

/// The chain-of-custody lines of a clean report.
fn write_custody(
    f: &mut std::fmt::Formatter<'_>,
    c: &CustodyReport,
    head: i64,
) -> std::fmt::Result {
    let whose = if c.key_trusted {
        "the trusted key"
    } else {
        "the key the log records (pass --key to check with a key you hold)"
    };
    match (c.latest_checkpoint, &c.vkey) {
        (Some(latest), Some(vkey)) => {
            writeln!(f)?;
            write!(
                f,
                "Signed checkpoints: {}, the latest of {latest} records; every signature verifies with {whose}: {vkey}",
                c.checkpoints
            )?;
            if u64::try_from(head).is_ok_and(|h| h > latest) {
                write!(
                    f,
                    "\nNot yet in a signed checkpoint: seq {} to {head} (`runsheet checkpoint --sign` signs them)",
                    latest + 1
                )?;
            }
        }
        _ => {
            writeln!(f)?;
            write!(f, "Signed checkpoints: none")?;
        }
    }
    for w in &c.witnesses {
        let trusted = if w.trusted { "trusted " } else { "" };
        match w.latest_size {
            Some(size) => write!(
                f,
                "\nWitness {}: {trusted}cosignatures {}, the latest of {size} records",
                w.vkey, w.cosignatures
            )?,
            None => write!(f, "\nWitness {}: no cosignatures", w.vkey)?,
        }
    }
    Ok(())
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

/// What both halves of a split walk share: the page cache size, the seq
/// whose head is watched, and (whether `tree_nodes` is checked, the tree
/// sizes whose roots are kept).
#[derive(Clone, Copy)]
struct HalfWalk<'a> {
    cache: usize,
    watch: Option<i64>,
    tree: (bool, &'a [u64]),
}

/// How long the second half's connection waits for a lock before the first
/// walk goes on alone.
const SECOND_HALF_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(200);

/// The walk over `from..=last` on its own connection (its own snapshot, which
/// holds at least everything up to `last`): where it started and where it
/// ended. `None` when it could not run; the caller then walks on itself.
fn second_half(
    path: &Path,
    mode: &Mode,
    from: i64,
    last: i64,
    how: HalfWalk<'_>,
    cancel: &AtomicBool,
) -> Option<(Progress, Progress)> {
    let HalfWalk { cache, watch, tree } = how;
    // Short: the second half is optional, and without WAL a writer waiting to
    // commit (behind the first connection's read lock) keeps new readers out.
    let conn = migrate::connect(path, SECOND_HALF_BUSY_TIMEOUT, mode, false)
        .ok()?
        .conn;
    let tx = conn.unchecked_transaction().ok()?;
    let mut walk = Walk::resume(&tx, last, cache, from)
        .ok()??
        .with_tree(tree.0, tree.1.to_vec());
    walk.p.watch = watch;
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
        if file.events != file.head_seq {
            return Err(bad(format!(
                "it says the log held {} events but its head is seq {} (in a log, they are equal); the checkpoint was edited",
                file.events, file.head_seq
            )));
        }
        if (file.head_seq == 0) != (file.head_hash == GENESIS)
            || (file.head_seq == 0) != file.at.is_none()
        {
            return Err(bad(
                "an empty log's checkpoint has head_seq 0, 64 zeros and no time; this one mixes them".into(),
            ));
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

/// How often [`verify_log`] verifies again a log that a writer changed while
/// it was read without locks.
const VERIFY_ATTEMPTS: usize = 3;

/// Verify the log at `path` (against `checkpoint` if given), opened
/// read-only. A file that cannot be opened as a log because it is damaged or
/// empty fails verification (a report with a `damaged` finding); a missing
/// file, another program's database or a newer schema is an error, not a
/// verdict.
pub fn verify_log(path: &Path, trust: &Trust) -> Result<VerifyReport, StoreError> {
    for _ in 0..VERIFY_ATTEMPTS {
        let store = match Store::options().read_only(true).open_existing(path) {
            Ok(store) => store,
            Err(StoreError::Corrupt { detail, .. }) => {
                return Ok(VerifyReport::damaged(format!(
                    "the file is damaged: {detail}"
                )));
            }
            Err(e) => return Err(e),
        };
        let report = store.verify_trusting(trust)?;
        if !store.changed_since_open() {
            return Ok(report);
        }
    }
    Err(StoreError::Busy {
        path: path.to_path_buf(),
    })
}

/// Does the log store a Merkle tree (schema 4 and later)?
fn has_tree(conn: &rusqlite::Connection) -> rusqlite::Result<bool> {
    super::has_table(conn, "tree_nodes")
}

/// After a clean walk to `head`: the tree holds no row beyond the head (the
/// walk checked every row up to it, and that each of them is where it must be).
fn tree_rows_finding(conn: &rusqlite::Connection, head: i64) -> rusqlite::Result<Option<Finding>> {
    let beyond: Option<i64> = conn.query_row(
        "SELECT min(seq) FROM tree_nodes WHERE seq > ?1",
        [head],
        |r| r.get(0),
    )?;
    Ok(beyond.map(|b| Finding {
        seq: Some(head + 1),
        run_id: None,
        run_seq: None,
        problem: Problem::Truncated,
        message: format!(
            "the log was cut short: it ends at seq {head}, but its Merkle tree holds the nodes completed by seq {b}, so records after seq {head} were removed"
        ),
    }))
}

/// The page check's answer: `None` when SQLite says "ok", else its first lines.
fn page_check(conn: &rusqlite::Connection) -> rusqlite::Result<Option<String>> {
    let mut stmt = conn.prepare("PRAGMA quick_check(8)")?;
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(match lines.as_slice() {
        [ok] if ok == "ok" => None,
        _ => Some(lines.join("; ")),
    })
}

/// The page check on its own connection (run beside the walk), always a
/// read-only one: SQLite checks CHECK constraints only on a writable
/// connection, and the verdict must not depend on who asks.
fn page_check_on(path: &Path) -> Result<Option<String>, StoreError> {
    let conn = migrate::connect(path, SECOND_HALF_BUSY_TIMEOUT, &Mode::Read, false)?.conn;
    // It reads every page once, in order: a page cache would only hold memory.
    conn.execute_batch("PRAGMA cache_size = -256")
        .map_err(|e| StoreError::sqlite(path, e))?;
    page_check(&conn).map_err(|e| StoreError::sqlite(path, e))
}

fn damage(message: String) -> Finding {
    Finding {
        seq: None,
        run_id: None,
        run_seq: None,
        problem: Problem::Damaged,
        message,
    }
}

/// A SQLite error that means the file is damaged (as opposed to locked, say).
fn is_damage(e: &StoreError) -> Option<String> {
    match e {
        StoreError::Corrupt { detail, .. } => Some(detail.clone()),
        _ => None,
    }
}

impl Store {
    /// SQLite's page check of the whole file: [`StoreError::Corrupt`] when it
    /// finds damage, so that a read command shows nothing rather than a
    /// partial picture.
    pub fn check_pages(&self) -> Result<(), StoreError> {
        match page_check(&self.conn).map_err(|e| StoreError::sqlite(&self.path, e))? {
            None => Ok(()),
            Some(lines) => Err(StoreError::Corrupt {
                path: self.path.clone(),
                detail: format!(
                    "SQLite's page check says: {lines}; nothing is shown so that part of the log is not taken for all of it. Run `runsheet verify`"
                ),
            }),
        }
    }

    /// The seq of the first record hashed with record format 2 (the log's
    /// first `log-created` or `schema-migrated` event), if any.
    pub fn record_format_2_from(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT min(seq) FROM events WHERE run_id IS NULL \
                 AND kind IN ('log-created', 'schema-migrated')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// Does the log's first event say it holds generated test data?
    pub fn is_test_data(&self) -> Result<bool, StoreError> {
        let first: Option<(String, Option<String>, Option<String>)> = self
            .conn
            .query_row(
                "SELECT kind, run_id, payload FROM events WHERE seq = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| StoreError::sqlite(&self.path, e))?;
        Ok(match first {
            Some((kind, None, Some(payload))) if kind == super::KIND_LOG_CREATED => {
                walk::log_says_test_data(payload.as_bytes())
            }
            _ => false,
        })
    }

    pub(super) fn verify_impl(&self) -> Result<VerifyReport, StoreError> {
        self.verify_planned(Plan::default(), &Trust::default())
            .map(|(report, _)| report)
    }

    /// [`Store::verify`], also proving what `trust` holds.
    pub fn verify_trusting(&self, trust: &Trust) -> Result<VerifyReport, StoreError> {
        self.verify_planned(Plan::default(), trust)
            .map(|(report, _)| report)
    }

    /// [`Store::verify`] walking the chain as `plan` says, watching for the
    /// checkpoint head `watch`; every plan gives the same report. Also says
    /// whether the chain was walked in two halves at once (and the halves
    /// joined). SQLite's page check runs on its own connection beside the
    /// walk. A damaged file is a finding, never an error.
    pub(super) fn verify_planned(
        &self,
        plan: Plan,
        trust: &Trust,
    ) -> Result<(VerifyReport, bool), StoreError> {
        let path = self.path.as_path();
        let (pages, walked) = std::thread::scope(|scope| {
            let pages = scope.spawn(|| page_check_on(path));
            let walked = self.walk_all(plan, trust);
            (pages.join(), walked)
        });
        let pages = match pages {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => match is_damage(&e) {
                Some(detail) => Some(detail),
                None => return Err(e),
            },
            Err(_) => return Err(StoreError::Invalid("the page check stopped".into())),
        };
        let (mut report, joined) = match walked {
            Ok(w) => w,
            Err(e) => match is_damage(&e) {
                Some(detail) => (VerifyReport::damaged(detail), false),
                // Any error reading a file the page check found damaged (SQLite
                // reports some damage as other errors) is the damage.
                None if pages.is_some() => (VerifyReport::damaged(e.to_string()), false),
                None => return Err(e),
            },
        };
        if let Some(lines) = pages {
            let page = damage(format!(
                "the database file is damaged: SQLite's page check (PRAGMA quick_check) says: {lines}"
            ));
            // Damage comes first: nothing the walk read can be relied on.
            if let Some(f) = report.finding.take()
                && f.problem != Problem::Damaged
            {
                report.also.insert(0, f);
            }
            report.finding = Some(page);
        }
        Ok((report, joined))
    }

    /// The walk and every check that reads the log through this connection,
    /// in one read transaction (or the caller's).
    fn walk_all(&self, plan: Plan, trust: &Trust) -> Result<(VerifyReport, bool), StoreError> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        // One read transaction: runs, sources and events from the same snapshot
        // while other processes keep appending. Its head bounds every read.
        let own = self.conn.is_autocommit();
        if own {
            self.conn.execute_batch("BEGIN DEFERRED").map_err(sql)?;
        }
        let result = self.walk_in_snapshot(plan, trust);
        if own {
            // Nothing was written: ending the transaction only releases the snapshot.
            let end = self.conn.execute_batch("ROLLBACK").map_err(sql);
            let value = result?;
            end?;
            return Ok(value);
        }
        result
    }

    fn walk_in_snapshot(
        &self,
        plan: Plan,
        trust: &Trust,
    ) -> Result<(VerifyReport, bool), StoreError> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        let tx = &self.conn;
        let watch = trust.checkpoint.as_ref();
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
        // Counted through other b-trees than the walk's (the smallest index):
        // a page the walk's cursor skipped shows as a difference.
        let (event_rows, min_seq): (i64, Option<i64>) = tx
            .query_row("SELECT count(*), min(seq) FROM events", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(sql)?;
        let (rows, rows_ended): (i64, i64) = tx
            // A row "ended" has an outcome or an end time (rule 12: only a
            // run-ended event gives either).
            .query_row(
                "SELECT count(*), count(CASE WHEN outcome IS NOT NULL OR ended_at IS NOT NULL THEN 1 END) FROM runs",
                [],
                |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(sql)?;

        let watch_seq = watch.map(|cp| cp.head_seq).filter(|&s| s > 0);
        let stored_tree = has_tree(tx).map_err(sql)?;
        let stored = if stored_tree {
            Stored::read(tx).map_err(sql)?
        } else {
            Stored::default()
        };
        let sizes = stored.watch_sizes(trust);
        let mut walk = Walk::new(tx, last, plan.cache).with_tree(stored_tree, sizes.clone());
        walk.p.watch = watch_seq;
        // The signatures are checked beside the walk (Ed25519 is the costly part).
        let (walked, sigs) = std::thread::scope(|scope| {
            let sigs = scope.spawn(|| custody_check::check_signatures(&stored, trust));
            let walked = match plan.split_point(last) {
                None => walk.run(last, &AtomicBool::new(false)).map(|()| false),
                Some(at) => self.walk_split(
                    &mut walk,
                    at,
                    last,
                    last_hash.as_deref(),
                    HalfWalk {
                        cache: plan.cache,
                        watch: watch_seq,
                        tree: (stored_tree, &sizes),
                    },
                ),
            };
            (walked, sigs.join())
        });
        let joined = walked.map_err(sql)?;
        let sigs = sigs.map_err(|_| StoreError::Invalid("the signature check stopped".into()))?;
        let mut p = walk.p;

        let head_seq = p.expected - 1;
        let head_hash = hex_text(&p.head);
        let mut finding = p.finding.take();
        if finding.is_none() {
            // The walk must have read every record the tables hold.
            let first_ok = min_seq.is_none_or(|m| m >= 1);
            if head_seq != last || p.events != event_rows || !first_ok {
                finding = Some(damage(format!(
                    "not every record can be read: the walk over the chain read {} events up to seq {head_seq}, but the events table holds {event_rows} rows up to seq {last}",
                    p.events
                )));
            }
        }
        if finding.is_none() && stored_tree {
            finding = tree_rows_finding(tx, head_seq).map_err(sql)?;
        }
        if finding.is_none() {
            // The whole chain is sound: now every row against it.
            let counts = RunCounts {
                rows,
                rows_ended,
                started: p.started,
                ended: p.ended,
            };
            let (run_level, bad_row) = runs::row_findings(tx, counts).map_err(sql)?;
            finding = run_level.or(bad_row);
        }
        let mut also = Vec::new();
        let mut redactions = Vec::new();
        if finding.is_none() {
            let has_contents = super::has_table(tx, "contents").map_err(sql)?;
            let checked =
                content_check::check(tx, head_seq, p.committed, has_contents, &trust.custodians)
                    .map_err(sql)?;
            finding = checked.finding;
            also.extend(checked.also);
            redactions = checked.redactions;
        }
        // An unsigned JSON checkpoint is proved when the walk reached its head
        // with its hash and time (checkpoint_finding says nothing then).
        let mut json_proved = None;
        if let Some(cp) = watch {
            match checkpoint_finding(cp, &p, head_seq, finding.as_ref()) {
                Some(f) => {
                    if let Some(later) = finding.replace(f) {
                        also.push(later);
                    }
                }
                None => {
                    let reached = cp.head_seq == 0
                        || p.watched
                            .as_ref()
                            .is_some_and(|(hash, _)| hash.as_slice() == cp.head_hash.as_bytes());
                    if reached {
                        json_proved = Some(cp.head_seq);
                    }
                }
            }
        }
        // A key or a witness the caller trusts is checked on every log: one
        // with no tree (from before schema 4) satisfies neither.
        let custody = if stored_tree
            || trust.trusted.is_some()
            || trust.key.is_some()
            || !trust.witnesses.is_empty()
        {
            let walked = custody_check::Walked {
                stored_tree,
                roots: &p.roots,
                last,
                log_key_seen: p.log_key.as_ref().map(|k| k.0),
                own_checkpoints: &p.own_checkpoints,
            };
            let (found, report) = custody_check::findings(&stored, &sigs, trust, &walked);
            for f in found {
                merge_finding(&mut finding, &mut also, f);
            }
            Some(CustodyReport {
                trusted_checkpoint: report
                    .trusted_checkpoint
                    .or(json_proved.and_then(|n| u64::try_from(n).ok())),
                ..report
            })
        } else {
            None
        };
        if let Some(f) = schema_check::finding(tx).map_err(sql)? {
            match finding {
                None => finding = Some(f),
                Some(_) => also.push(f),
            }
        }
        let report = VerifyReport {
            runs: rows,
            events: p.events,
            head_seq,
            head_hash,
            test_data: p.test_data,
            trusted_checkpoint: custody
                .as_ref()
                .and_then(|c| c.trusted_checkpoint)
                .and_then(|n| i64::try_from(n).ok())
                .or(json_proved),
            finding,
            also,
            custody,
            redactions,
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
        how: HalfWalk<'_>,
    ) -> rusqlite::Result<bool> {
        let cancel = AtomicBool::new(false);
        let never = AtomicBool::new(false);
        let mode = &self.mode;
        let path = self.path.as_path();
        let (first, tail) = std::thread::scope(|scope| {
            let tail = scope.spawn(|| second_half(path, mode, at, last, how, &cancel));
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
        let trust = Trust {
            checkpoint: Some(cp.clone()),
            ..Trust::default()
        };
        self.verify_planned(Plan::default(), &trust)
            .map(|(report, _)| report)
    }
}

/// Put a chain-of-custody finding in its place: first when it names an
/// earlier record than the finding so far (or there is none), else beside it.
/// Damage always stays first.
fn merge_finding(finding: &mut Option<Finding>, also: &mut Vec<Finding>, f: Finding) {
    match finding {
        None => *finding = Some(f),
        Some(cur)
            if cur.problem != Problem::Damaged
                && f.seq.is_some()
                && cur.seq.is_none_or(|s| f.seq.is_some_and(|n| n < s)) =>
        {
            if let Some(prev) = finding.replace(f) {
                also.insert(0, prev);
            }
        }
        Some(_) => also.push(f),
    }
}

/// What the checkpoint says against what the walk found at its head, when
/// that comes before (or instead of) `chain`'s finding. The walk proves a
/// checkpoint by reaching its head with the same hash (and time); the head
/// is never looked up on its own.
fn checkpoint_finding(
    cp: &Checkpoint,
    p: &Progress,
    walked_to: i64,
    chain: Option<&Finding>,
) -> Option<Finding> {
    let m = cp.head_seq;
    if m == 0 {
        return None;
    }
    // Damage, or a bad record at or before the head, is the first problem:
    // the checkpoint can say nothing more.
    if chain.is_some_and(|f| f.problem == Problem::Damaged || f.seq.is_some_and(|s| s <= m)) {
        return None;
    }
    let when = cp
        .at
        .map(|t| {
            format!(
                ", last event at {}",
                t.to_rfc3339_opts(SecondsFormat::Millis, true)
            )
        })
        .unwrap_or_default();
    let finding = |seq, problem, message| {
        Some(Finding {
            seq: Some(seq),
            run_id: None,
            run_seq: None,
            problem,
            message,
        })
    };
    match &p.watched {
        None if walked_to < m => {
            let gone = if walked_to + 1 == m {
                format!("event seq {m} is gone")
            } else {
                format!("events seq {} to {m} are gone", walked_to + 1)
            };
            finding(
                walked_to + 1,
                Problem::Truncated,
                format!(
                    "the log does not reach the checkpoint: it ends at seq {walked_to}, but the checkpoint (head seq {m}{when}) shows it held events up to seq {m}; {gone}. Events were cut from the end — or removed anywhere and the rest re-chained, which a head hash alone cannot tell apart"
                ),
            )
        }
        None => None,
        Some((hash, at)) => {
            let at_text = String::from_utf8_lossy(at);
            if hash.as_slice() != cp.head_hash.as_bytes() {
                finding(
                    m,
                    Problem::Edited,
                    format!(
                        "the log was rewritten after the checkpoint: seq {m}'s hash differs from the checkpoint's head hash (checkpoint head seq {m}{when}); some record up to seq {m} was changed and the chain recomputed"
                    ),
                )
            } else if cp
                .at
                .is_some_and(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true) != at_text)
            {
                finding(
                    m,
                    Problem::Edited,
                    format!(
                        "the checkpoint's time ({}) is not the time of its head event seq {m} ({at_text}): the checkpoint was edited",
                        cp.at
                            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
                            .unwrap_or_default()
                    ),
                )
            } else {
                None
            }
        }
    }
}
