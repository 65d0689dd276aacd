//! A deliberately simple second verifier of the evidence log, written from
//! docs/evidence-schema.md alone ("Tables", "Log events", "The hash chain",
//! rules 1-14 of "What verify checks, in order", D1-D8 of "Which record a
//! finding names" and "Checkpoints"), and docs/custody.md ("The tree",
//! "The log's identity and key", "Signed checkpoints", "Cosignatures" and
//! rules 15-18 of "What verify checks"; rules 19-21 and "Content and
//! redaction" of evidence-schema.md in `reference/content.rs`): an oracle for the tuned `verify`,
//! which the property test in `reference/tests.rs` holds it against on
//! random logs and random tampering.
//!
//! The Merkle tree is RFC 9162's recursive MTH over a `Vec` of leaf hashes,
//! recomputed for every stored node (no stored-node arithmetic beyond which
//! nodes a seq completes). Signed notes, verifier keys, checkpoints and
//! cosignatures are parsed here too, with `base64`, `sha2` and
//! `ed25519-dalek` directly (`verify_strict`, as custody.md's RFC 8032
//! reading needs), not with `custody::note` or `custody::checkpoint`: the
//! few formats the docs use are a handful of lines each (a note is its text
//! up to the last blank line, then `— <name> <base64>` lines; a key is
//! `<name>+<8 hex>+<base64>`), and sharing the crate's parser would let a
//! parsing bug hide on both sides.
//!
//! Test-only. It loads `events`, `runs` and `procedure_sources` into memory
//! with plain queries and applies the documented rules in order with plain
//! loops: no threads, no caches, no cleverness. It gives the first finding
//! only (problem and seq), not the `also` list or the messages.
//!
//! Left out, on purpose: the schema check (rule 14, *schema-changed*, only
//! ever beside another finding); the tests put the schema back as it was.
//! SQLite's page check is one `PRAGMA quick_check` (it also checks CHECK
//! constraints, which an attacker can bypass); rule 11's counts one query.
//!
//! Where the page is open to more than one reading, the reading taken is
//! marked `Reading:` below; where it is wrong, `Docs:`.
//!
//! May not depend on `chain`, `verify`, `tree`, `signing` or `custody`
//! (independence is the point), nor on anything in the crate but the kind
//! names in `kinds`.

mod content;

use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::kinds::{
    KIND_LOG_CREATED, KIND_LOG_KEY, KIND_RUN_ENDED, KIND_RUN_STARTED, KIND_SCHEMA_MIGRATED,
    LOG_KINDS, RUN_KINDS,
};

/// `prev_hash` of seq 1, and the hash before any record was verified.
pub const ZEROS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How far D4 and D5 look for a renumbered record.
const RENUMBER_WINDOW: i64 = 64;

/// The first problem verify reports: its name as the docs spell it and the
/// seq it names (none for a run row without its events, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub problem: &'static str,
    pub seq: Option<i64>,
    /// The rule that found it ("4" is never one: D1-D8 say what rule 4's
    /// failure means), for the test's statistics.
    pub rule: &'static str,
}

fn finding(problem: &'static str, seq: i64, rule: &'static str) -> Finding {
    Finding {
        problem,
        seq: Some(seq),
        rule,
    }
}

fn unnamed(problem: &'static str, rule: &'static str) -> Finding {
    Finding {
        problem,
        seq: None,
        rule,
    }
}

/// A checkpoint: the chain head when it was taken, `at` as stored text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
    pub at: Option<String>,
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One SQLite value with its storage class (rule 2 looks at the class).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl Cell {
    fn read(value: ValueRef<'_>) -> Cell {
        match value {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(i) => Cell::Int(i),
            ValueRef::Real(r) => Cell::Real(r),
            ValueRef::Text(t) => Cell::Text(t.to_vec()),
            ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
        }
    }

    /// Text or NULL (`Some(None)`); `None` for anything else.
    fn nullable(&self) -> Option<Option<&[u8]>> {
        match self {
            Cell::Null => Some(None),
            Cell::Text(t) => Some(Some(t)),
            _ => None,
        }
    }

    fn text(&self) -> Option<&[u8]> {
        match self {
            Cell::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// A record whose columns hold what runsheet writes (rule 2), as the record
/// hash sees it. The forger in the tests builds these too.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub seq: i64,
    pub run_id: Option<&'a [u8]>,
    pub run_seq: i64,
    pub at: &'a [u8],
    pub actor: &'a [u8],
    pub kind: &'a [u8],
    pub step: Option<&'a [u8]>,
    pub payload: Option<&'a [u8]>,
    pub payload_sha256: &'a [u8],
    pub prev_hash: &'a [u8],
    pub hash: &'a [u8],
}

impl Record<'_> {
    /// Is this the record where the format switches to 2 (a log event of
    /// kind `log-created` or `schema-migrated`)?
    pub fn switches_format(&self) -> bool {
        self.run_id.is_none()
            && (self.kind == KIND_LOG_CREATED.as_bytes()
                || self.kind == KIND_SCHEMA_MIGRATED.as_bytes())
    }

    /// The record hash in `format` (1 or 2), as if the record were at `seq`.
    pub fn hash_at(&self, format: u8, seq: i64) -> String {
        let seq = seq.to_string();
        let run_seq = self.run_seq.to_string();
        let tag: &[u8] = if format == 1 {
            b"runsheet-chain-v1"
        } else {
            b"runsheet-chain-v2"
        };
        let fields: [Option<&[u8]>; 10] = [
            Some(tag),
            Some(seq.as_bytes()),
            self.run_id,
            Some(run_seq.as_bytes()),
            Some(self.at),
            Some(self.actor),
            Some(self.kind),
            self.step,
            Some(self.payload_sha256),
            Some(self.prev_hash),
        ];
        let mut input = Vec::new();
        for field in fields {
            match field {
                // A 4-byte big-endian length, then the bytes. No SQLite value
                // comes near 4 GiB.
                Some(bytes) => {
                    input.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
                    input.extend_from_slice(bytes);
                }
                // Format 1: NULL as the empty string; format 2: length 0xFFFFFFFF.
                None if format == 1 => input.extend_from_slice(&0u32.to_be_bytes()),
                None => input.extend_from_slice(&u32::MAX.to_be_bytes()),
            }
        }
        sha256_hex(&input)
    }
}

/// A row of `events` exactly as stored.
#[derive(Debug, Clone)]
struct Row {
    seq: i64,
    /// run_id, run_seq, at, actor, kind, step, payload, payload_sha256, prev_hash, hash.
    cells: [Cell; 10],
}

impl Row {
    /// Rule 2: integers for `run_seq`, text elsewhere, NULL only in `run_id`
    /// and `step`.
    ///
    /// Reading: `payload` may be NULL here too, or rule 3's "`payload` is not
    /// NULL (else *payload-mismatch*)" could never apply.
    fn record(&self) -> Option<Record<'_>> {
        let [
            run_id,
            run_seq,
            at,
            actor,
            kind,
            step,
            payload,
            sha,
            prev,
            hash,
        ] = &self.cells;
        let Cell::Int(run_seq) = run_seq else {
            return None;
        };
        Some(Record {
            seq: self.seq,
            run_id: run_id.nullable()?,
            run_seq: *run_seq,
            at: at.text()?,
            actor: actor.text()?,
            kind: kind.text()?,
            step: step.nullable()?,
            payload: payload.nullable()?,
            payload_sha256: sha.text()?,
            prev_hash: prev.text()?,
            hash: hash.text()?,
        })
    }
}

/// The columns of `runs`, in table order.
const RUN_COLUMNS: [&str; 14] = [
    "id",
    "procedure_id",
    "procedure_version",
    "procedure_title",
    "procedure_sha256",
    "controls",
    "source_path",
    "operator",
    "operator_name",
    "host",
    "runsheet_version",
    "started_at",
    "ended_at",
    "outcome",
];

type RunRow = BTreeMap<&'static str, Cell>;

/// A row of `procedure_sources`.
#[derive(Debug, Clone)]
struct Source {
    sha256: Cell,
    format: Cell,
    text: Cell,
}

/// The tables, whole.
struct Log {
    events: Vec<Row>,
    /// In `started_at, id` order (rule 12's order).
    runs: Vec<RunRow>,
    sources: Vec<Source>,
    /// A schema-4 log (`user_version` 4 or more): the tree and rules 15-18.
    custody: bool,
    /// `tree_nodes`: seq to `hashes`.
    tree_nodes: BTreeMap<i64, Cell>,
    /// `checkpoints` in `tree_size` order: (tree_size, note).
    checkpoints: Vec<(i64, Cell)>,
    /// `cosignatures`: (tree_size, witness, line).
    cosignatures: Vec<(Cell, Cell, Cell)>,
}

/// What a verify is to prove beyond the log itself: `--checkpoint`/`--trusted`
/// with an unsigned JSON checkpoint (`head`) or a signed one (`trusted`, the
/// note's text), `--key` (a vkey) and `--witness` (vkeys).
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub head: Option<Head>,
    pub trusted: Option<String>,
    pub key: Option<String>,
    pub witnesses: Vec<String>,
}

/// Verify the log on `conn` as the docs say, with what the caller trusts;
/// the first finding, or `None` for OK.
pub fn verify_trusting(conn: &Connection, trust: &Trust) -> rusqlite::Result<Option<Finding>> {
    // SQLite's page check comes first, whatever the walk finds; on a
    // read-only connection, as the docs say (a writable one would also
    // check CHECK constraints).
    let page_check: String = match conn.path() {
        Some(path) if !path.is_empty() => {
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
            Connection::open_with_flags(path, flags)?
                .query_row("PRAGMA quick_check", [], |r| r.get(0))?
        }
        _ => conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?,
    };
    if page_check != "ok" {
        return Ok(Some(unnamed("damaged", "page check")));
    }
    let log = Log::load(conn)?;
    let walk = log.walk();
    let main = match log.after_walk(conn, &walk, trust.head.as_ref())? {
        Some(f) if f.problem == "damaged" => return Ok(Some(f)),
        main => main,
    };
    if !log.custody {
        return Ok(main);
    }
    // Rules 15-18 "take their place by the seq they name: before the walk's
    // or the run-row rules' finding when they name an earlier record (or
    // that one names none), beside it otherwise".
    //
    // Reading: among themselves the same way, by the seq they name (one
    // that names none last), in rule order where they name the same. Docs:
    // the page does not say how they are ordered among themselves, nor where
    // one that names no seq (15's *missing*, 17's *unwitnessed*) goes.
    let custody = log.custody(&walk, trust);
    let first = custody
        .into_iter()
        .min_by_key(|f| f.seq.unwrap_or(i64::MAX));
    let earlier = |f: &Finding, than: &Finding| match (f.seq, than.seq) {
        (Some(a), Some(b)) => a < b,
        (Some(_), None) => true,
        (None, _) => false,
    };
    Ok(match (main, first) {
        (Some(m), Some(c)) if earlier(&c, &m) => Some(c),
        (Some(m), _) => Some(m),
        (None, c) => c,
    })
}

impl Log {
    /// The walk's finding (with rule 13's place), or rules 11-13 after it.
    fn after_walk(
        &self,
        conn: &Connection,
        walk: &Walk,
        checkpoint: Option<&Head>,
    ) -> rusqlite::Result<Option<Finding>> {
        if let Some(found) = &walk.failure {
            // Rule 13 still applies when the walk failed after the head: the
            // checkpoint's finding comes first (it names a lower seq).
            //
            // Reading: "failed at or before head_seq" means the seq the finding
            // names, not the one the walk was at (E): D2, D4 and D7 name earlier
            // ones.
            if let Some(cp) = checkpoint
                && found.seq.is_some_and(|s| s > cp.seq)
                && let Some(f) = walk.against(cp)
            {
                return Ok(Some(f));
            }
            return Ok(Some(found.clone()));
        }
        // Rule 11: the walk read every record.
        let (count, max, min): (i64, Option<i64>, Option<i64>) =
            conn.query_row("SELECT count(*), max(seq), min(seq) FROM events", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        let walked = walk.verified.len() as i64;
        let last = walk.verified.last().map(|v| v.seq);
        if count != walked || max != last || min.is_some_and(|m| m < 1) {
            return Ok(Some(unnamed("damaged", "11")));
        }
        // Rule 12: every run row was covered by the walk.
        //
        // Reading: the first two checks row by row in `started_at, id` order (the
        // first row that fails either), then the third, as verify does. Docs: a
        // row whose id is no UUID can never have its run-started verified, so
        // taken literally the third check could never apply; verify leaves such
        // rows to it. The page should say both.
        let is_uuid =
            |id: Option<&[u8]>| id.is_some_and(|id| uuid::Uuid::try_parse_ascii(id).is_ok());
        let mut main = None;
        for row in self.runs.iter().filter(|r| is_uuid(row_id(r))) {
            let id = row_id(row).unwrap_or_default();
            let problem = if !walk.started.contains(id) {
                "missing"
            } else if ["outcome", "ended_at"]
                .iter()
                .any(|c| row.get(*c).is_some_and(|c| *c != Cell::Null))
                && !walk.ended.contains(id)
            {
                "run-row-mismatch"
            } else {
                continue;
            };
            main = Some(unnamed(problem, "12"));
            break;
        }
        if main.is_none() && self.runs.iter().any(|r| !is_uuid(row_id(r))) {
            main = Some(unnamed("run-row-mismatch", "12"));
        }
        // Rules 19-21 (content and redactions), when the rows are sound and
        // rule 11's tree rows end with the records (else the custody part
        // reports *truncated*, which verify finds first).
        let tree_beyond = self.custody
            && self
                .tree_nodes
                .keys()
                .next_back()
                .is_some_and(|s| last.is_none_or(|l| *s > l));
        if main.is_none() && !tree_beyond {
            main = self.content(conn, walk)?;
        }
        // Rule 13, before rule 12's finding (it names no seq), and before
        // 19-21's when theirs names a record after the checkpoint's head.
        //
        // Docs: numbered the other way round, but verify reports the checkpoint's
        // finding first, and rightly: a truncated tail explains the run rows whose
        // events it took. The page should say so.
        if let Some(cp) = checkpoint
            && let Some(f) = walk.against(cp)
            && main
                .as_ref()
                .is_none_or(|m| m.seq.is_none_or(|s| s > cp.seq))
        {
            return Ok(Some(f));
        }
        Ok(main)
    }
}

fn row_id(row: &RunRow) -> Option<&[u8]> {
    row.get("id").and_then(Cell::text)
}

impl Log {
    fn load(conn: &Connection) -> rusqlite::Result<Log> {
        let mut events = Vec::new();
        let mut stmt = conn.prepare(
            "SELECT seq, run_id, run_seq, at, actor, kind, step, payload, payload_sha256, \
             prev_hash, hash FROM events ORDER BY seq",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let cell = |i| r.get_ref(i).map(Cell::read);
            events.push(Row {
                seq: r.get(0)?,
                cells: [
                    cell(1)?,
                    cell(2)?,
                    cell(3)?,
                    cell(4)?,
                    cell(5)?,
                    cell(6)?,
                    cell(7)?,
                    cell(8)?,
                    cell(9)?,
                    cell(10)?,
                ],
            });
        }
        let mut runs = Vec::new();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM runs ORDER BY started_at, id",
            RUN_COLUMNS.join(", ")
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let mut row = RunRow::new();
            for (i, name) in RUN_COLUMNS.iter().enumerate() {
                row.insert(*name, Cell::read(r.get_ref(i)?));
            }
            runs.push(row);
        }
        let mut sources = Vec::new();
        let mut stmt = conn.prepare("SELECT sha256, format, text FROM procedure_sources")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            sources.push(Source {
                sha256: Cell::read(r.get_ref(0)?),
                format: Cell::read(r.get_ref(1)?),
                text: Cell::read(r.get_ref(2)?),
            });
        }
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let custody = version >= 4;
        let mut tree_nodes = BTreeMap::new();
        let mut checkpoints = Vec::new();
        let mut cosignatures = Vec::new();
        if custody {
            let mut stmt = conn.prepare("SELECT seq, hashes FROM tree_nodes ORDER BY seq")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                tree_nodes.insert(r.get(0)?, Cell::read(r.get_ref(1)?));
            }
            let mut stmt =
                conn.prepare("SELECT tree_size, note FROM checkpoints ORDER BY tree_size")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                checkpoints.push((r.get(0)?, Cell::read(r.get_ref(1)?)));
            }
            let mut stmt = conn.prepare(
                "SELECT tree_size, witness, line FROM cosignatures ORDER BY tree_size, witness",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                cosignatures.push((
                    Cell::read(r.get_ref(0)?),
                    Cell::read(r.get_ref(1)?),
                    Cell::read(r.get_ref(2)?),
                ));
            }
        }
        Ok(Log {
            events,
            runs,
            sources,
            custody,
            tree_nodes,
            checkpoints,
            cosignatures,
        })
    }

    fn run_row(&self, id: &[u8]) -> Option<&RunRow> {
        self.runs.iter().find(|r| row_id(r) == Some(id))
    }

    /// The walk (rules 1-10), until the first finding.
    fn walk(&self) -> Walk {
        let mut state = State {
            expected: 1,
            head: ZEROS.as_bytes().to_vec(),
            format: 1,
            last_log_run_seq: 0,
            runs: HashMap::new(),
            log_key_seen: false,
        };
        let mut walk = Walk::default();
        for (i, row) in self.events.iter().enumerate() {
            match self.check(i, row, &mut state) {
                Ok(rec) => {
                    // Rule 10: the leaf joins the tree, and the record's
                    // tree_nodes row holds exactly the nodes it completes.
                    walk.leaves.push(leaf_hash(rec.hash));
                    if self.custody && !self.tree_row_ok(rec.seq, &walk.leaves) {
                        // Unless the next record (up to the head) no longer
                        // links to this one: then the chain names the
                        // finding there (rule 5), this record accepted.
                        let next_breaks = self
                            .events
                            .iter()
                            .find(|n| n.seq == rec.seq + 1)
                            .is_some_and(|n| {
                                let prev: &[u8] = match &n.cells[8] {
                                    Cell::Text(b) | Cell::Blob(b) => b,
                                    _ => &[],
                                };
                                prev != rec.hash
                            });
                        if !next_breaks {
                            walk.leaves.pop();
                            walk.failure = Some(finding("tree-changed", rec.seq, "10"));
                            break;
                        }
                    }
                    if walk.log_key.is_none()
                        && rec.run_id.is_none()
                        && rec.kind == KIND_LOG_KEY.as_bytes()
                    {
                        walk.log_key = Some((rec.seq, rec.payload.unwrap_or_default().to_vec()));
                    }
                    if rec.kind == KIND_RUN_STARTED.as_bytes() {
                        walk.started.insert(rec.run_id.unwrap_or_default().to_vec());
                    }
                    if rec.kind == KIND_RUN_ENDED.as_bytes() {
                        walk.ended.insert(rec.run_id.unwrap_or_default().to_vec());
                    }
                    walk.verified.push(Verified {
                        seq: rec.seq,
                        hash: rec.hash.to_vec(),
                        at: rec.at.to_vec(),
                        kind: rec.kind.to_vec(),
                        in_run: rec.run_id.is_some(),
                    });
                }
                Err(f) => {
                    walk.failure = Some(f);
                    break;
                }
            }
        }
        walk
    }

    /// Rules 1-10 for the record at index `i` of the walk.
    fn check<'a>(
        &'a self,
        i: usize,
        row: &'a Row,
        state: &mut State,
    ) -> Result<Record<'a>, Finding> {
        let e = state.expected;
        // Rule 1.
        if row.seq > e {
            return Err(finding("missing", e, "1"));
        }
        if row.seq < e {
            // Reading: the finding names the record's own seq (0 or below).
            return Err(finding("inserted", row.seq, "1"));
        }
        // Rule 2.
        let rec = row.record().ok_or(finding("edited", e, "2"))?;
        // Rule 3.
        let payload = rec.payload.ok_or(finding("payload-mismatch", e, "3"))?;
        if sha256_hex(payload).as_bytes() != rec.payload_sha256 {
            return Err(finding("payload-mismatch", e, "3"));
        }
        // Rule 4.
        let format = if rec.switches_format() {
            2
        } else {
            state.format
        };
        let self_ok = rec.hash_at(format, e).as_bytes() == rec.hash;
        let links = rec.prev_hash == state.head.as_slice();
        if !(self_ok && links) {
            return Err(self.diagnose(i, &rec, format, state, self_ok, links));
        }
        // Rule 5.
        let known: &[&str] = if rec.run_id.is_some() {
            &RUN_KINDS
        } else {
            &LOG_KINDS
        };
        if !known.iter().any(|k| k.as_bytes() == rec.kind) {
            return Err(finding("inserted", e, "5"));
        }
        if rec.kind == KIND_LOG_CREATED.as_bytes() && e != 1 {
            return Err(finding("inserted", e, "5"));
        }
        if !well_formed(&rec) {
            return Err(finding("inserted", e, "5"));
        }
        // Docs: custody.md says "A log has exactly one `log-key` event", but
        // rule 5 does not list a second one; verify reports it as
        // *inserted* here, before rule 6, which is the only sensible place
        // (rule 15 reads "the" log-key event). The page should say so.
        if rec.run_id.is_none() && rec.kind == KIND_LOG_KEY.as_bytes() && state.log_key_seen {
            return Err(finding("inserted", e, "5"));
        }
        // Rule 6.
        let Some(id) = rec.run_id else {
            let next = state.last_log_run_seq + 1;
            if rec.run_seq > next {
                return Err(finding("missing", e, "6"));
            }
            if rec.run_seq < next {
                return Err(finding("out-of-order", e, "6"));
            }
            state.last_log_run_seq = rec.run_seq;
            state.log_key_seen |= rec.kind == KIND_LOG_KEY.as_bytes();
            state.verified(&rec, format);
            return Ok(rec);
        };
        if !is_lower_hyphenated_uuid(id) {
            return Err(finding("edited", e, "6"));
        }
        let Some(run) = self.run_row(id) else {
            let wanted = uuid::Uuid::try_parse_ascii(id).ok();
            let respelled = self
                .runs
                .iter()
                .any(|r| row_id(r).and_then(|t| uuid::Uuid::try_parse_ascii(t).ok()) == wanted);
            return Err(finding(
                if respelled {
                    "run-row-mismatch"
                } else {
                    "missing"
                },
                e,
                "6",
            ));
        };
        let prev = state.runs.get(id);
        let next = prev.map_or(1, |p| p.run_seq + 1);
        if rec.run_seq > next {
            return Err(finding("missing", e, "6"));
        }
        if rec.run_seq < next {
            return Err(finding("out-of-order", e, "6"));
        }
        // Rule 7.
        if let Some(p) = prev {
            if p.ended {
                return Err(finding("out-of-order", e, "7"));
            }
            if rec.at < p.at.as_slice() {
                return Err(finding("out-of-order", e, "7"));
            }
        }
        let is_start = rec.kind == KIND_RUN_STARTED.as_bytes();
        if rec.run_seq == 1 && !is_start {
            return Err(finding("run-row-mismatch", e, "7"));
        }
        if rec.run_seq != 1 && is_start {
            return Err(finding("out-of-order", e, "7"));
        }
        let json: Option<Value> = serde_json::from_slice(payload).ok();
        // Rule 8.
        if is_start {
            self.check_started(run, &rec, json.as_ref(), format)?;
        }
        // Rule 9.
        let is_end = rec.kind == KIND_RUN_ENDED.as_bytes();
        if is_end {
            let outcome = json
                .as_ref()
                .and_then(|j| j.get("outcome"))
                .and_then(Value::as_str);
            let ok = run.get("ended_at").and_then(Cell::text) == Some(rec.at)
                && outcome.is_some()
                && run.get("outcome").and_then(Cell::text) == outcome.map(str::as_bytes);
            if !ok {
                return Err(finding("run-row-mismatch", e, "9"));
            }
        }
        // Rule 10.
        state.runs.insert(
            id.to_vec(),
            RunState {
                run_seq: rec.run_seq,
                at: rec.at.to_vec(),
                ended: is_end,
            },
        );
        state.verified(&rec, format);
        Ok(rec)
    }

    /// Rule 8: the source and the run's row against a `run-started` record.
    fn check_started(
        &self,
        run: &RunRow,
        rec: &Record<'_>,
        json: Option<&Value>,
        format: u8,
    ) -> Result<(), Finding> {
        let e = rec.seq;
        // Reading: "the procedure_sources row for procedure_sha256" is the one
        // the run's row names (its foreign key); the payload's procedure_sha256
        // is compared with the row's below.
        let key = run.get("procedure_sha256").and_then(Cell::text);
        let source = key.and_then(|k| self.sources.iter().find(|s| s.sha256.text() == Some(k)));
        let Some(source) = source else {
            return Err(finding("source-mismatch", e, "8"));
        };
        // Reading: the rule asks for `format` to be text, not `text`: a BLOB
        // `text` is hashed as its bytes.
        let text_ok = match &source.text {
            Cell::Text(t) | Cell::Blob(t) => Some(sha256_hex(t).as_bytes()) == key,
            _ => false,
        };
        // Reading: "text" as valid UTF-8 text here, as verify reads it. (Rule 2
        // takes any TEXT value, valid UTF-8 or not, as verify does.)
        let format_ok = source
            .format
            .text()
            .is_some_and(|f| std::str::from_utf8(f).is_ok());
        if !text_ok || !format_ok {
            return Err(finding("source-mismatch", e, "8"));
        }
        let mismatch = Err(finding("run-row-mismatch", e, "8"));
        if run.get("started_at").and_then(Cell::text) != Some(rec.at) {
            return mismatch;
        }
        let field = |name: &str| json.and_then(|j| j.get(name));
        let same = |column: Option<&Cell>, name: &str| -> bool {
            let text = field(name).and_then(Value::as_str);
            text.is_some() && column.and_then(Cell::text) == text.map(str::as_bytes)
        };
        for name in [
            "procedure_id",
            "procedure_version",
            "procedure_sha256",
            "operator",
            "host",
            "runsheet_version",
        ] {
            if !same(run.get(name), name) {
                return mismatch;
            }
        }
        // Absent from runs recorded before schema 3: not compared in format 1.
        let skip = |name: &str| format == 1 && field(name).is_none();
        for name in ["procedure_title", "source_path"] {
            if !skip(name) && !same(run.get(name), name) {
                return mismatch;
            }
        }
        if !skip("procedure_format") && !same(Some(&source.format), "procedure_format") {
            return mismatch;
        }
        // Reading: a payload `"operator_name": null` counts as absent.
        let name_ok = match (run.get("operator_name"), field("operator_name")) {
            (Some(Cell::Null), None | Some(Value::Null)) => true,
            (column, Some(Value::String(_))) => same(column, "operator_name"),
            _ => false,
        };
        if !name_ok {
            return mismatch;
        }
        if !skip("procedure_controls") {
            // Reading: compared as parsed arrays of strings, not as text.
            let strings = |v: &Value| -> Option<Vec<String>> {
                v.as_array()?
                    .iter()
                    .map(|s| s.as_str().map(str::to_string))
                    .collect()
            };
            let column = run
                .get("controls")
                .and_then(Cell::text)
                .and_then(|t| serde_json::from_slice::<Value>(t).ok())
                .and_then(|v| strings(&v));
            let payload = field("procedure_controls").and_then(strings);
            if column.is_none() || column != payload {
                return mismatch;
            }
        }
        Ok(())
    }

    /// D1-D8: what rule 4's failure at seq E (index `i`) means.
    fn diagnose(
        &self,
        i: usize,
        rec: &Record<'_>,
        format: u8,
        state: &State,
        self_ok: bool,
        links: bool,
    ) -> Finding {
        let e = state.expected;
        let hashes_at = |seq: i64| rec.hash_at(format, seq).as_bytes() == rec.hash;
        // D1.
        if !links && rec.hash == state.head.as_slice() && hashes_at(e - 1) {
            return finding("inserted", e, "D1");
        }
        // D2: the lowest other record whose hash is this one's prev_hash.
        if !links {
            let p = self
                .events
                .iter()
                .filter(|r| r.seq != e)
                .find(|r| r.cells[9].text() == Some(rec.prev_hash));
            if let Some(p) = p {
                return if p.seq < e - 1 {
                    finding("inserted", p.seq + 1, "D2")
                } else {
                    finding("out-of-order", e, "D2")
                };
            }
        }
        // D3: the next record links to H and hashes at E.
        //
        // Reading: "the record at E + 1" is the record whose seq is E + 1, in
        // the format it would have at E (the current one, or 2 if it is a
        // switch record itself).
        let next = self.events.get(i + 1).filter(|r| r.seq == e + 1);
        if let Some(next) = next.and_then(Row::record) {
            let next_format = if next.switches_format() {
                2
            } else {
                state.format
            };
            if next.prev_hash == state.head.as_slice()
                && next.hash_at(next_format, e).as_bytes() == next.hash
            {
                return finding("inserted", e, "D3");
            }
        }
        if !links && !self_ok {
            // D4.
            if let Some(k) = (1..=RENUMBER_WINDOW.min(e - 1)).find(|k| hashes_at(e - k)) {
                return finding("inserted", e - k, "D4");
            }
            // D5.
            if (1..=RENUMBER_WINDOW).any(|k| hashes_at(e + k)) {
                return finding("missing", e, "D5");
            }
        }
        if links {
            // D6.
            return finding("edited", e, "D6");
        }
        if self_ok && e > 1 {
            // D7.
            return finding("edited", e - 1, "D7");
        }
        // D8.
        finding("edited", e, "D8")
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lower-case hex.
fn is_lower_hyphenated_uuid(id: &[u8]) -> bool {
    id.len() == 36
        && id.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(b),
        })
}

/// What the walk carries from record to record.
struct State {
    /// E.
    expected: i64,
    /// H.
    head: Vec<u8>,
    format: u8,
    last_log_run_seq: i64,
    runs: HashMap<Vec<u8>, RunState>,
    /// A `log-key` record was verified.
    log_key_seen: bool,
}

impl State {
    /// Rule 10.
    fn verified(&mut self, rec: &Record<'_>, format: u8) {
        self.head = rec.hash.to_vec();
        self.format = format;
        self.expected += 1;
    }
}

/// A run's last verified event.
struct RunState {
    run_seq: i64,
    at: Vec<u8>,
    ended: bool,
}

#[derive(Debug)]
struct Verified {
    seq: i64,
    hash: Vec<u8>,
    at: Vec<u8>,
    kind: Vec<u8>,
    /// It is a run's event (`run_id` is set).
    in_run: bool,
}

/// What the walk saw.
#[derive(Default)]
struct Walk {
    verified: Vec<Verified>,
    /// Run ids whose `run-started` / `run-ended` was verified.
    started: HashSet<Vec<u8>>,
    ended: HashSet<Vec<u8>>,
    /// The leaf hashes of the verified records, leaf i for seq i + 1.
    leaves: Vec<[u8; 32]>,
    /// The first verified `log-key` event: its seq and payload.
    ///
    /// Reading: "the `log-key` event" is the one the walk verified (a second
    /// one is *inserted*, see rule 5), wherever it stands: no rule says where
    /// it must be.
    log_key: Option<(i64, Vec<u8>)>,
    /// The walk's finding.
    failure: Option<Finding>,
}

impl Walk {
    /// Rule 13: the checkpoint against the verified records.
    fn against(&self, cp: &Head) -> Option<Finding> {
        if cp.seq < 1 {
            return None;
        }
        let last = self.verified.last().map_or(0, |v| v.seq);
        if last < cp.seq {
            return Some(finding("truncated", last + 1, "13"));
        }
        let at = self.verified.iter().find(|v| v.seq == cp.seq)?;
        if at.hash != cp.hash.as_bytes()
            || Some(at.at.as_slice()) != cp.at.as_deref().map(str::as_bytes)
        {
            return Some(finding("edited", cp.seq, "13"));
        }
        None
    }
}

#[cfg(test)]
mod tests;

/// Rule 5's last part, the plain way: the time is `YYYY-MM-DDTHH:MM:SS.mmmZ`
/// and chrono reads it, actor, step and payload are UTF-8, and the payload is
/// a JSON object whose `kind` is the record's kind.
fn well_formed(rec: &Record<'_>) -> bool {
    let Ok(at) = std::str::from_utf8(rec.at) else {
        return false;
    };
    let shape = at.len() == 24
        && at.ends_with('Z')
        && at.as_bytes()[19] == b'.'
        && chrono::NaiveDateTime::parse_from_str(&at[..23], "%Y-%m-%dT%H:%M:%S%.3f").is_ok();
    let texts = std::str::from_utf8(rec.actor).is_ok()
        && rec.step.is_none_or(|s| std::str::from_utf8(s).is_ok());
    let kind = rec.payload.and_then(|p| {
        let v: serde_json::Value = serde_json::from_slice(p).ok()?;
        v.as_object()?.get("kind")?.as_str().map(str::to_string)
    });
    shape && texts && kind.as_deref().map(str::as_bytes) == Some(rec.kind)
}

// ------------------------------------------------------- chain of custody

/// SHA-256 of the concatenated parts.
fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Leaf hash: SHA-256(0x00 ‖ the record hash's 32 bytes). The walk only
/// verifies records whose `hash` is 64 lower-case hex digits.
pub fn leaf_hash(record_hash: &[u8]) -> [u8; 32] {
    let bytes = hex::decode(record_hash).unwrap_or_default();
    sha256(&[&[0], &bytes])
}

/// RFC 9162's MTH, recursively: k is the largest power of two below n.
pub fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => sha256(&[]),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            sha256(&[&[1], &mth(&leaves[..k]), &mth(&leaves[k..])])
        }
    }
}

/// The `hashes` the record with seq `s` must have in `tree_nodes` (empty:
/// no row), with `leaves` the leaves of seq 1 ..= s: node (L, (s >> L) - 1)
/// for L = 1 ..= tz(s), level 1 first.
pub fn completed_nodes(s: i64, leaves: &[[u8; 32]]) -> Vec<u8> {
    let mut out = Vec::new();
    for level in 1..=s.trailing_zeros() {
        let j = ((s >> level) - 1) as usize;
        let width = 1usize << level;
        out.extend_from_slice(&mth(&leaves[j * width..(j + 1) * width]));
    }
    out
}

impl Log {
    /// Rule 10's tree part for the record `seq`, whose leaf is the last of
    /// `leaves`.
    ///
    /// Reading: `hashes` is a BLOB (the column's type); the same bytes as
    /// TEXT are not the nodes.
    fn tree_row_ok(&self, seq: i64, leaves: &[[u8; 32]]) -> bool {
        let want = completed_nodes(seq, leaves);
        match self.tree_nodes.get(&seq) {
            None => want.is_empty(),
            Some(Cell::Blob(b)) => !want.is_empty() && *b == want,
            Some(_) => false,
        }
    }

    /// Rules 15-18, every finding they make.
    fn custody(&self, walk: &Walk, trust: &Trust) -> Vec<Finding> {
        let mut found = Vec::new();
        // "The last record": the log's, `max(seq)`, whether or not the walk
        // got there (rules 16 and 18 say so; the walk's own finding names
        // where it stopped).
        let last = self.events.iter().map(|row| row.seq).max().unwrap_or(0);
        let walked = walk.leaves.len() as i64;
        // Rule 11's last part: no tree_nodes row beyond the last record.
        //
        // Docs: evidence-schema.md lists this under rule 11, before rule 13,
        // but custody.md describes it with rules 15-18, whose findings "take
        // their place by the seq they name", and verify places it so (after
        // rule 13's *edited* at an earlier seq). Reading: custody.md's.
        if self.tree_nodes.keys().any(|s| *s > last) {
            found.push(finding("truncated", last + 1, "11"));
        }
        // Rule 15: the log's key: the first log-key record, whether or not
        // the walk got as far (its own finding then comes in its place).
        let mut own: Option<Vkey> = None;
        let first_key: Option<(i64, Vec<u8>)> = self.events.iter().find_map(|row| {
            let rec = row.record()?;
            (rec.run_id.is_none() && rec.kind == KIND_LOG_KEY.as_bytes())
                .then(|| (rec.seq, rec.payload.unwrap_or_default().to_vec()))
        });
        match &first_key {
            Some((seq, payload)) => {
                let parsed = serde_json::from_slice::<Value>(payload).ok().and_then(|j| {
                    let origin = j.get("origin")?.as_str()?.to_string();
                    let vkey = j.get("vkey")?.as_str()?.to_string();
                    let key = Vkey::parse(&vkey).filter(|k| k.kind == 0x01 && k.name == origin)?;
                    Some((vkey, key))
                });
                match parsed {
                    None => found.push(finding("bad-signature", *seq, "15")),
                    Some((vkey, key)) => {
                        if trust.key.as_ref().is_some_and(|k| *k != vkey) {
                            found.push(finding("bad-signature", *seq, "15"));
                        }
                        own = Some(key);
                    }
                }
            }
            // "A schema-4 log with no log-key event": this is one (custody).
            None => found.push(unnamed("missing", "15")),
        }
        // Rule 16's second part: from the log-key event on, every verified
        // record of a kind the writer signs with (run-ended, suspended,
        // export, custodian-added, redaction, procedure-approved,
        // procedure-reviewed; the log-key event itself) has a stored checkpoint whose
        // tree_size is its seq.
        if let Some((key_seq, _)) = &first_key {
            let stored: HashSet<i64> = self.checkpoints.iter().map(|(s, _)| *s).collect();
            let signs_with = |v: &Verified| match v.in_run {
                true => v.kind == KIND_RUN_ENDED.as_bytes() || v.kind == b"suspended",
                false => {
                    v.kind == b"export"
                        || v.kind == KIND_LOG_KEY.as_bytes()
                        || v.kind == b"custodian-added"
                        || v.kind == b"redaction"
                        || v.kind == b"procedure-approved"
                        || v.kind == b"procedure-reviewed"
                }
            };
            if let Some(v) = walk
                .verified
                .iter()
                .find(|v| v.seq >= *key_seq && signs_with(v) && !stored.contains(&v.seq))
            {
                found.push(finding("missing", v.seq, "16"));
            }
        }
        // The key signatures are checked with, and the log's origin.
        //
        // Reading: without a usable log-key event, the log's origin is the
        // `--key` one's name.
        let given = trust.key.as_deref().and_then(Vkey::parse);
        let origin = own.as_ref().or(given.as_ref()).map(|k| k.name.clone());
        let key = given.or(own);
        // A signed checkpoint against the key, the origin and the walk's
        // tree: the finding, if any, naming `size` or the seq after the last.
        //
        // Docs: "else *bad-signature*" follows "signed by the key"; the page
        // does not say what a checkpoint that does not parse, or has another
        // size or origin, is. Reading: *bad-signature* too (it is not one the
        // log's key signed), named at the tree size it is stored under.
        let check = |note: Option<&str>, size: Option<i64>, rule: &'static str| {
            let parsed = note.and_then(SignedNote::parse);
            let Some((note, cp)) = parsed.and_then(|n| Some((n.clone(), n.checkpoint()?))) else {
                return Some(finding("bad-signature", size.unwrap_or(0), rule));
            };
            let at = size.unwrap_or(cp.size);
            let signed = key.as_ref().is_some_and(|k| note.signed_by(k));
            if cp.size != at || !signed || Some(&cp.origin) != origin.as_ref() {
                // Docs: rule 18 does not say what seq its *bad-signature*
                // names. Reading: none, as verify does (the checkpoint is
                // not the log's).
                return Some(match size {
                    Some(_) => finding("bad-signature", at, rule),
                    None => unnamed("bad-signature", rule),
                });
            }
            if cp.size > last {
                return Some(finding("truncated", last + 1, rule));
            }
            // Reading: a size the walk did not reach cannot be compared; the
            // walk's finding stands.
            if cp.size <= walked && mth(&walk.leaves[..cp.size as usize]) != cp.root {
                return Some(finding("edited", cp.size, rule));
            }
            None
        };
        // Rule 16: every stored checkpoint.
        for (size, note) in &self.checkpoints {
            let text = note.text().and_then(|t| std::str::from_utf8(t).ok());
            found.extend(check(text, Some(*size), "16"));
        }
        // Rule 17: every stored cosignature; which witnesses cosigned.
        let mut cosigned: HashSet<String> = HashSet::new();
        for (size, witness, line) in &self.cosignatures {
            let Cell::Int(size) = size else {
                found.push(unnamed("bad-signature", "17"));
                continue;
            };
            let text = |c: &Cell| {
                c.text()
                    .and_then(|t| std::str::from_utf8(t).ok())
                    .map(str::to_string)
            };
            let note = self
                .checkpoints
                .iter()
                .find(|(s, _)| s == size)
                .and_then(|(_, n)| text(n))
                .and_then(|n| SignedNote::parse(&n));
            let ok = match (note, text(witness), text(line)) {
                (Some(note), Some(w), Some(l)) => Vkey::parse(&w)
                    .filter(|k| k.kind == 0x04)
                    .is_some_and(|k| cosignature_ok(&k, &note.text, &l))
                    .then_some(w),
                _ => None,
            };
            match ok {
                Some(w) => {
                    cosigned.insert(w);
                }
                None => found.push(finding("bad-signature", *size, "17")),
            }
        }
        // Reading: a witness is "the same" when its vkey is the same text.
        for w in &trust.witnesses {
            if !cosigned.contains(w) {
                found.push(unnamed("unwitnessed", "17"));
            }
        }
        // Rule 18: the trusted checkpoint.
        if let Some(note) = &trust.trusted {
            found.extend(check(Some(note), None, "18"));
        }
        found
    }
}

/// A C2SP verifier key: `<name>+<key id, 8 hex>+<base64(type ‖ 32 bytes)>`.
#[derive(Debug, Clone)]
struct Vkey {
    name: String,
    kind: u8,
    key: [u8; 32],
    id: [u8; 4],
}

impl Vkey {
    /// Reading: the key id must be the one the name and key give (custody.md
    /// defines it so), in lower-case hex.
    fn parse(vkey: &str) -> Option<Vkey> {
        // The name has no `+`; the base64 may.
        let mut parts = vkey.splitn(3, '+');
        let (name, id, b64) = (parts.next()?, parts.next()?, parts.next()?);
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '+') {
            return None;
        }
        let bytes = base64_decode(b64)?;
        let (kind, key) = bytes.split_first()?;
        let key: [u8; 32] = key.try_into().ok()?;
        let want = key_id(name, *kind, &key);
        (id == hex::encode(want)).then(|| Vkey {
            name: name.to_string(),
            kind: *kind,
            key,
            id: want,
        })
    }
}

/// First 4 bytes of SHA-256(name ‖ 0x0A ‖ type ‖ public key).
pub fn key_id(name: &str, kind: u8, key: &[u8; 32]) -> [u8; 4] {
    let h = sha256(&[name.as_bytes(), b"\n", &[kind], key]);
    [h[0], h[1], h[2], h[3]]
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// RFC 8032 Ed25519, strictly (no small-order keys or R).
fn ed25519_ok(key: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let Ok(signature) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    ed25519_dalek::VerifyingKey::from_bytes(key).is_ok_and(|k| {
        k.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&signature))
            .is_ok()
    })
}

/// A signature line `— <name> <base64>` (no newline): name and bytes.
fn signature_line(line: &str) -> Option<(&str, Vec<u8>)> {
    let rest = line.strip_prefix("\u{2014} ")?;
    let (name, b64) = rest.split_once(' ')?;
    Some((name, base64_decode(b64)?))
}

/// A signed note: its text (ending in a newline) and signature lines.
#[derive(Debug, Clone)]
struct SignedNote {
    text: String,
    signatures: Vec<String>,
}

/// A checkpoint's body.
struct Body {
    origin: String,
    size: i64,
    root: [u8; 32],
}

impl SignedNote {
    /// The text is everything up to the last blank line; after it, one or
    /// more signature lines, each ending in a newline.
    fn parse(note: &str) -> Option<SignedNote> {
        let split = note.rfind("\n\n")?;
        let (text, sigs) = (&note[..=split], &note[split + 2..]);
        let lines = sigs.strip_suffix('\n')?;
        let signatures: Vec<String> = lines.split('\n').map(str::to_string).collect();
        if text.len() < 2 || signatures.iter().any(|l| signature_line(l).is_none()) {
            return None;
        }
        Some(SignedNote {
            text: text.to_string(),
            signatures,
        })
    }

    /// Some signature line with the key's name and id verifies with it.
    fn signed_by(&self, key: &Vkey) -> bool {
        key.kind == 0x01
            && self.signatures.iter().any(|l| {
                signature_line(l).is_some_and(|(name, bytes)| {
                    name == key.name
                        && bytes.len() == 68
                        && bytes[..4] == key.id
                        && ed25519_ok(&key.key, self.text.as_bytes(), &bytes[4..])
                })
            })
    }

    /// The text as a checkpoint: origin, size (decimal, no leading zeros),
    /// root (standard base64 of 32 bytes).
    ///
    /// Reading: extension lines after the root are allowed (C2SP
    /// tlog-checkpoint), though runsheet writes none.
    fn checkpoint(&self) -> Option<Body> {
        let mut lines = self.text.strip_suffix('\n')?.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty())?.to_string();
        let size = lines.next()?;
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return None;
        }
        let size: i64 = size.parse().ok()?;
        let root = base64_decode(lines.next()?)?.try_into().ok()?;
        Some(Body { origin, size, root })
    }
}

/// A witness's cosignature `line` (with its newline) of a checkpoint whose
/// text is `text`: `— <name> <base64(key id ‖ 8-byte timestamp ‖ 64-byte
/// signature)>` over `cosignature/v1\ntime <timestamp>\n` ‖ text.
///
/// Docs: the `line` column holds the line "with its newline", but rule 17
/// only asks that the cosignature verify. Reading: as verify does, a line
/// stored without its newline still verifies (the signature is intact).
fn cosignature_ok(key: &Vkey, text: &str, line: &str) -> bool {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let Some((name, bytes)) = signature_line(line) else {
        return false;
    };
    if name != key.name || bytes.len() != 76 || bytes[..4] != key.id {
        return false;
    }
    let time = u64::from_be_bytes(bytes[4..12].try_into().unwrap_or_default());
    let message = format!("cosignature/v1\ntime {time}\n{text}");
    ed25519_ok(&key.key, message.as_bytes(), &bytes[12..])
}
