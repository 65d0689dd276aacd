//! A deliberately simple second verifier of the evidence log, written from
//! docs/evidence-schema.md alone ("Tables", "Log events", "The hash chain",
//! rules 1-14 of "What verify checks, in order", D1-D8 of "Which record a
//! finding names" and "Checkpoints"): an oracle for the tuned `verify`,
//! which the property test in `reference/tests.rs` holds it against on
//! random logs and random tampering.
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
//! May not depend on `chain` or `verify` (independence is the point), nor on
//! anything in the crate but the kind names in `kinds`.

use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::kinds::{
    KIND_LOG_CREATED, KIND_RUN_ENDED, KIND_RUN_STARTED, KIND_SCHEMA_MIGRATED, LOG_KINDS, RUN_KINDS,
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

/// The three tables, whole.
struct Log {
    events: Vec<Row>,
    /// In `started_at, id` order (rule 12's order).
    runs: Vec<RunRow>,
    sources: Vec<Source>,
}

/// Verify the log on `conn` as the docs say, optionally against a
/// checkpoint; the first finding, or `None` for OK.
pub fn verify(conn: &Connection, checkpoint: Option<&Head>) -> rusqlite::Result<Option<Finding>> {
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
    // Rule 13, before rule 12.
    //
    // Docs: numbered the other way round, but verify reports the checkpoint's
    // finding first, and rightly: a truncated tail explains the run rows whose
    // events it took. The page should say so.
    if let Some(f) = checkpoint.and_then(|cp| walk.against(cp)) {
        return Ok(Some(f));
    }
    // Rule 12: every run row was covered by the walk.
    //
    // Reading: the first two checks row by row in `started_at, id` order (the
    // first row that fails either), then the third, as verify does. Docs: a
    // row whose id is no UUID can never have its run-started verified, so
    // taken literally the third check could never apply; verify leaves such
    // rows to it. The page should say both.
    let is_uuid = |id: Option<&[u8]>| id.is_some_and(|id| uuid::Uuid::try_parse_ascii(id).is_ok());
    for row in log.runs.iter().filter(|r| is_uuid(row_id(r))) {
        let id = row_id(row).unwrap_or_default();
        let problem = if !walk.started.contains(id) {
            "missing"
        } else if row.get("outcome").is_some_and(|c| *c != Cell::Null) && !walk.ended.contains(id) {
            "run-row-mismatch"
        } else {
            continue;
        };
        return Ok(Some(unnamed(problem, "12")));
    }
    if log.runs.iter().any(|r| !is_uuid(row_id(r))) {
        return Ok(Some(unnamed("run-row-mismatch", "12")));
    }
    Ok(None)
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
        Ok(Log {
            events,
            runs,
            sources,
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
        };
        let mut walk = Walk::default();
        for (i, row) in self.events.iter().enumerate() {
            match self.check(i, row, &mut state) {
                Ok(rec) => {
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
        let known = if rec.run_id.is_some() {
            RUN_KINDS
        } else {
            LOG_KINDS
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
}

/// What the walk saw.
#[derive(Default)]
struct Walk {
    verified: Vec<Verified>,
    /// Run ids whose `run-started` / `run-ended` was verified.
    started: HashSet<Vec<u8>>,
    ended: HashSet<Vec<u8>>,
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
