//! `verify-bundle`: check an audit bundle on its own — every file against
//! its manifest (none missing, changed or added), the export record
//! (export.json) against checkpoint.json and the manifest, and everything
//! evidence.json makes checkable: each event's payload hash and record hash,
//! the chain across contiguous events, run rows against their events, counts
//! against the manifest, every event within the data head, the walk through
//! the events and `links` from the first exported event to the data head
//! (and on to export.json) — and, given the
//! evidence log, that the log still verifies up to the bundle's checkpoint
//! (whose head is the log's record of this export) and holds every exported
//! event with the same hash. The bundle's signed part is checked in
//! [`custody`].
//!
//! May not depend on the front ends or the app.

pub mod custody;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use self::custody::{BundleTrust, check_custody, is_signed_part};
use super::bundle::signed::MANIFEST_SIG_FILE;
use super::bundle::{EXPORT_FILE, UNVERIFIED_FILE};
use super::json::{BundleEvent, BundleLink, EvidenceVisitor, read_evidence};
use super::manifest::{self, Manifest};
use super::{KIND_EXPORT, json};
use crate::error::Error;
use crate::store::{
    CONTENT_SHA256, Checkpoint, KIND_RUN_ENDED, KIND_RUN_STARTED, Record, RecordFormat, Store,
    StoreError, TEST_DATA_NOTICE, VerifyReport, sha256_hex,
};

/// One thing wrong with a bundle, naming the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct BundleProblem {
    /// The bundle file (relative path), or `evidence log`.
    pub file: String,
    pub message: String,
}

/// What the check against the evidence log found.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct LogCheck {
    /// The evidence log checked against.
    #[schemars(with = "String")]
    pub log: PathBuf,
    /// Exported events compared with the log (0 when the bundle has no evidence.json).
    pub events_checked: u64,
    /// The bundle's checkpoint (the export record, or the data head).
    pub checkpoint_seq: i64,
    /// The log's verify against the bundle's checkpoint.
    pub verify: VerifyReport,
}

/// The result of verify-bundle.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct BundleReport {
    /// The bundle's folder.
    #[schemars(with = "String")]
    pub dir: PathBuf,
    /// Files listed in the manifest.
    pub files: usize,
    /// Runs the manifest says the bundle holds.
    #[serde(rename = "run_count")]
    pub runs: u64,
    /// Events the manifest says the bundle holds.
    #[serde(rename = "event_count")]
    pub events: u64,
    pub created_at: Option<String>,
    pub exported_by: Option<String>,
    /// What was checked and found right, one line each.
    pub checked: Vec<String>,
    /// Things to know that are not failures (generated test data, an
    /// export no log recorded).
    pub notes: Vec<String>,
    pub problems: Vec<BundleProblem>,
    pub log: Option<LogCheck>,
}

impl BundleReport {
    /// True when nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.log.as_ref().is_none_or(|l| l.verify.is_ok())
    }
}

impl fmt::Display for BundleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in &self.notes {
            writeln!(f, "NOTE: {}", crate::text::sanitize_line(n))?;
        }
        for c in &self.checked {
            writeln!(f, "OK: {}", crate::text::sanitize_line(c))?;
        }
        for p in &self.problems {
            writeln!(
                f,
                "FAILED: {}: {}",
                crate::text::sanitize_line(&p.file),
                crate::text::sanitize_line(&p.message)
            )?;
        }
        match &self.log {
            None => write!(
                f,
                "Not checked against the evidence log; pass --db <log> (or set RUNSHEET_DB) to prove the log still holds this export and every event."
            ),
            Some(l) if l.verify.is_ok() => write!(
                f,
                "OK: the log verifies and still reaches the bundle's checkpoint (event {}).",
                l.checkpoint_seq
            ),
            Some(l) => write!(
                f,
                "FAILED: evidence log: {}",
                crate::text::sanitize_terminal(&l.verify.to_string())
            ),
        }
    }
}

fn problem(file: &str, message: impl Into<String>) -> BundleProblem {
    BundleProblem {
        file: file.to_string(),
        message: message.into(),
    }
}

fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

/// Every file under `dir` as a relative `/` path; symlinks and other
/// non-regular entries are reported as problems.
fn walk(dir: &Path, rel: &str, out: &mut BTreeSet<String>, problems: &mut Vec<BundleProblem>) {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(problem(rel, format!("cannot be read: {e}")));
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&entry.path(), &path, out, problems),
            Ok(t) if t.is_file() => {
                out.insert(path);
            }
            _ => problems.push(problem(
                &path,
                "is not a regular file; a bundle holds only files",
            )),
        }
    }
}

/// Check a bundle; with `store`, also check it against the evidence log.
/// Problems are reported in the [`BundleReport`]; an `Err` means the check
/// itself could not run (no such directory, the log cannot be read).
pub fn verify_bundle(
    dir: &Path,
    store: Option<&Store>,
    trust: &BundleTrust,
) -> Result<BundleReport, Error> {
    let meta = fs::metadata(dir).map_err(|e| Error::io(dir, &e))?;
    if !meta.is_dir() {
        return Err(Error::Io {
            path: dir.to_path_buf(),
            message: "is not a directory; give the bundle directory written by `runsheet export`"
                .into(),
        });
    }
    let mut report = BundleReport {
        dir: dir.to_path_buf(),
        files: 0,
        runs: 0,
        events: 0,
        created_at: None,
        exported_by: None,
        checked: Vec::new(),
        notes: Vec::new(),
        problems: Vec::new(),
        log: None,
    };
    let text = match fs::read(dir.join(manifest::FILE)) {
        Ok(bytes) => bytes,
        Err(e) => {
            report
                .problems
                .push(problem(manifest::FILE, format!("cannot be read: {e}")));
            return Ok(report);
        }
    };
    let m = match String::from_utf8(text)
        .map_err(|_| "is not UTF-8 text; it was changed after export".to_string())
        .and_then(|t| Manifest::from_text(&t))
    {
        Ok(m) => m,
        Err(msg) => {
            report.problems.push(problem(manifest::FILE, msg));
            return Ok(report);
        }
    };
    report.files = m.files.len();
    report.runs = m.runs;
    report.events = m.events;
    report.created_at = Some(m.created_at.clone());
    report.exported_by = Some(m.exported_by.clone());

    let changed = check_files(dir, &m, &mut report);
    let intact = |name: &str| m.files.iter().any(|f| f.path == name) && !changed.contains(name);
    let checkpoint = check_checkpoint(dir, &m, &intact, &mut report);
    check_export_record(dir, &m, checkpoint.as_ref(), &intact, &mut report);
    check_verdict(&m, &mut report);
    if intact("evidence.json") {
        check_evidence(dir, &m, &mut report)?;
    }
    let sampled = sampled_events(dir, &m, &intact);
    check_custody(
        dir,
        &m,
        trust,
        &intact,
        &record_problem,
        sampled.as_ref(),
        &mut report,
    );
    for name in ["runs.csv", "events.csv"] {
        if intact(name) {
            check_csv_rows(dir, name, &m, &mut report);
        }
    }

    let Some(store) = store else {
        return Ok(report);
    };
    // A signed bundle names its log: another log's is not compared record
    // by record as if it were this one's.
    if let (Some(theirs), Some(ours)) = (
        m.custody["origin"].as_str(),
        store.log_key()?.map(|k| k.origin),
    ) && theirs != ours
    {
        report.problems.push(problem(
            "evidence log",
            format!(
                "the bundle is of the log {theirs:?}, not of {} ({ours:?}); pass the log it was exported from",
                store.path().display()
            ),
        ));
        return Ok(report);
    }
    let Some(cp) = checkpoint else {
        report.problems.push(problem(
            "checkpoint.json",
            "cannot be read, so the bundle cannot be checked against the log",
        ));
        return Ok(report);
    };
    let mut log = LogCheck {
        log: store.path().to_path_buf(),
        events_checked: 0,
        checkpoint_seq: cp.head_seq,
        verify: store.verify_checkpoint(&cp)?,
    };
    if intact("evidence.json") {
        let (checked, problems) =
            compare_events(&dir.join("evidence.json"), store, data_head(&m).0)?;
        log.events_checked = checked;
        if problems.is_empty() && checked > 0 {
            report.checked.push(format!(
                "all {checked} exported events are in {} with the same hashes",
                store.path().display()
            ));
        }
        report.problems.extend(problems);
    }
    report.log = Some(log);
    Ok(report)
}

/// Every listed file present with its size and SHA-256, no file unlisted,
/// procedure sources named by their hash. Returns the files that differ.
fn check_files(dir: &Path, m: &Manifest, report: &mut BundleReport) -> BTreeSet<String> {
    let mut changed = BTreeSet::new();
    for f in &m.files {
        match hash_file(&dir.join(&f.path)) {
            Ok((sha, bytes)) if sha == f.sha256 && bytes == f.bytes => {}
            Ok((sha, bytes)) => {
                changed.insert(f.path.clone());
                report.problems.push(problem(
                    &f.path,
                    format!(
                        "changed after export: SHA-256 {sha} ({bytes} bytes), the manifest says {} ({} bytes)",
                        f.sha256, f.bytes
                    ),
                ));
            }
            Err(e) => {
                changed.insert(f.path.clone());
                let msg = if e.kind() == io::ErrorKind::NotFound {
                    "is listed in manifest.json but missing".to_string()
                } else {
                    format!("cannot be read: {e}")
                };
                report.problems.push(problem(&f.path, msg));
            }
        }
    }
    let mut present = BTreeSet::new();
    walk(dir, "", &mut present, &mut report.problems);
    let listed: BTreeSet<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    for p in &present {
        if p != manifest::FILE && p != MANIFEST_SIG_FILE && !listed.contains(p.as_str()) {
            report.problems.push(problem(
                p,
                "is not listed in manifest.json (added after export)",
            ));
        }
    }
    for f in &m.files {
        if let Some(name) = f.path.strip_prefix("procedures/")
            && !changed.contains(&f.path)
            && name.rsplit_once('.').map_or(name, |(s, _)| s) != f.sha256
        {
            report.problems.push(problem(
                &f.path,
                "its SHA-256 is not the one its name says; this is not the procedure source the runs used",
            ));
        }
    }
    if changed.is_empty() && !report.problems.iter().any(|p| p.file != "evidence log") {
        report.checked.push(format!(
            "all {} files match manifest.json, and no file is missing or added ({} runs, {} events; exported {} by {})",
            m.files.len(),
            m.runs,
            m.events,
            m.created_at,
            m.exported_by
        ));
    }
    changed
}

/// checkpoint.json, which must be the manifest's checkpoint.
fn check_checkpoint(
    dir: &Path,
    m: &Manifest,
    intact: &dyn Fn(&str) -> bool,
    report: &mut BundleReport,
) -> Option<Checkpoint> {
    if !intact("checkpoint.json") {
        return None;
    }
    let text = fs::read_to_string(dir.join("checkpoint.json")).ok()?;
    let as_value: Option<Value> = serde_json::from_str(&text).ok();
    if as_value.as_ref() != Some(&m.checkpoint) {
        report.problems.push(problem(
            "checkpoint.json",
            "differs from the checkpoint embedded in manifest.json",
        ));
        return None;
    }
    match Checkpoint::from_json(&text) {
        Ok(cp) => Some(cp),
        Err(e) => {
            report
                .problems
                .push(problem("checkpoint.json", e.to_string()));
            None
        }
    }
}

/// The data head the manifest names: (seq, hash).
fn data_head(m: &Manifest) -> (i64, String) {
    (
        m.data_head["seq"].as_i64().unwrap_or(-1),
        m.data_head["hash"].as_str().unwrap_or_default().to_string(),
    )
}

/// export.json: the log's record of the export. Its own hashes hold, it is
/// checkpoint.json's head, and it lists exactly the bundle's data files, the
/// data head, the verdict and the counts the manifest gives. Unrecorded:
/// checkpoint.json is the data head, and that is said.
fn check_export_record(
    dir: &Path,
    m: &Manifest,
    cp: Option<&Checkpoint>,
    intact: &dyn Fn(&str) -> bool,
    report: &mut BundleReport,
) {
    let (head_seq, head_hash) = data_head(m);
    if m.export["recorded"] != true {
        report.notes.push(
            "this export is recorded in no log: the log it came from could not be written (read-only), so its files are bound only by manifest.json".into(),
        );
        if cp.is_some_and(|cp| cp.head_seq != head_seq || cp.head_hash != head_hash) {
            report.problems.push(problem(
                "checkpoint.json",
                "an unrecorded export's checkpoint must be its data head, and it is not",
            ));
        }
        return;
    }
    if !intact(EXPORT_FILE) {
        if !m.files.iter().any(|f| f.path == EXPORT_FILE) {
            report.problems.push(problem(
                manifest::FILE,
                "says the export was recorded but lists no export.json",
            ));
        }
        return;
    }
    let bad =
        |report: &mut BundleReport, msg: String| report.problems.push(problem(EXPORT_FILE, msg));
    let Ok(text) = fs::read_to_string(dir.join(EXPORT_FILE)) else {
        return bad(report, "cannot be read".into());
    };
    #[derive(serde::Deserialize)]
    struct Head {
        format: String,
        record_format: u8,
    }
    // (`flatten` cannot carry the payload's raw text: read the record twice.)
    let (head, e) = match (
        serde_json::from_str::<Head>(&text),
        serde_json::from_str::<BundleEvent>(&text),
    ) {
        (Ok(h), Ok(e)) => (h, e),
        (Err(err), _) | (_, Err(err)) => {
            return bad(report, format!("is not an export record: {err}"));
        }
    };
    let e = &e;
    if head.format != "runsheet-export-record"
        || head.record_format != 2
        || e.kind != KIND_EXPORT
        || e.run_id.is_some()
        || e.step.is_some()
    {
        return bad(report, "is not a runsheet export record".into());
    }
    if let Some(msg) = record_problem(e, RecordFormat::V2) {
        return bad(report, msg);
    }
    if let Some(cp) = cp
        && (cp.head_seq != e.seq || cp.head_hash != e.hash)
    {
        return bad(
            report,
            format!(
                "is seq {} with hash {}, but checkpoint.json's head is seq {} with hash {}: the checkpoint does not cover this export",
                e.seq, e.hash, cp.head_seq, cp.head_hash
            ),
        );
    }
    if m.export["seq"] != e.seq || m.export["hash"] != e.hash.as_str() {
        return bad(report, "differs from the export the manifest names".into());
    }
    let payload: Value = match serde_json::from_str(e.payload.get()) {
        Ok(p) => p,
        Err(err) => return bad(report, format!("has an unreadable payload: {err}")),
    };
    let data_files: Vec<&manifest::FileEntry> = m
        .files
        .iter()
        .filter(|f| {
            f.path != EXPORT_FILE && f.path != "checkpoint.json" && !is_signed_part(&f.path)
        })
        .collect();
    let listed = serde_json::to_value(&data_files).unwrap_or_default();
    let same = [
        ("files", listed),
        ("data_head_seq", Value::from(head_seq)),
        ("data_head_hash", Value::from(head_hash.as_str())),
        ("verification", m.verification.clone()),
        ("runs", Value::from(m.runs)),
        ("events", Value::from(m.events)),
    ];
    for (name, want) in same {
        if payload[name] != want {
            return bad(
                report,
                format!(
                    "its {name} differ from manifest.json's: a file or the manifest was changed after the export was recorded"
                ),
            );
        }
    }
    if e.seq <= head_seq {
        return bad(
            report,
            format!("is seq {}, not after the data head (seq {head_seq})", e.seq),
        );
    }
    if e.seq == head_seq + 1 && e.prev_hash != head_hash {
        return bad(
            report,
            format!(
                "is seq {}, next after the data head (seq {head_seq}), but its prev_hash is not the data head's hash: the chain between them is broken",
                e.seq
            ),
        );
    }
    report.checked.push(format!(
        "export.json is the log's record of this export (seq {}, its hashes hold), it lists every data file's SHA-256, and checkpoint.json's head is that record",
        e.seq
    ));
}

/// The bundle's verdict: a bundle of a log that failed verification, or of
/// generated test data, says so.
fn check_verdict(m: &Manifest, report: &mut BundleReport) {
    let v = &m.verification;
    if v["verified"] != true {
        report.problems.push(problem(
            manifest::FILE,
            format!(
                "the evidence log FAILED verification when this bundle was exported ({}: {}); it was written with --allow-unverified and is not evidence to rely on",
                v["problem"].as_str().unwrap_or("?"),
                v["message"].as_str().unwrap_or("?")
            ),
        ));
        if !m.files.iter().any(|f| f.path == UNVERIFIED_FILE) {
            report.problems.push(problem(
                manifest::FILE,
                "an unverified bundle must carry UNVERIFIED.txt, and this one does not",
            ));
        }
    }
    if v["test_data"] == true {
        report.notes.push(TEST_DATA_NOTICE.into());
    }
}

/// The events of a sample packet's sampled runs in evidence.json (seq →
/// run id, hash); `None` without an intact evidence.json or a sample.
fn sampled_events(
    dir: &Path,
    m: &Manifest,
    intact: &dyn Fn(&str) -> bool,
) -> Option<BTreeMap<i64, (Option<String>, String)>> {
    struct Collect<'a> {
        sample: &'a BTreeSet<String>,
        events: BTreeMap<i64, (Option<String>, String)>,
    }
    impl EvidenceVisitor for Collect<'_> {
        fn header(&mut self, _: &str, _: Value) -> Result<(), String> {
            Ok(())
        }
        fn run(&mut self, _: Value) -> Result<(), String> {
            Ok(())
        }
        fn procedure(&mut self, _: Value) -> Result<(), String> {
            Ok(())
        }
        fn event(&mut self, e: BundleEvent) -> Result<(), String> {
            if e.run_id.as_ref().is_some_and(|r| self.sample.contains(r)) {
                self.events.insert(e.seq, (e.run_id, e.hash));
            }
            Ok(())
        }
    }
    let sample: BTreeSet<String> = m.custody["sample"]
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if sample.is_empty() || !intact("evidence.json") {
        return None;
    }
    let mut c = Collect {
        sample: &sample,
        events: BTreeMap::new(),
    };
    let file = File::open(dir.join("evidence.json")).ok()?;
    read_evidence(io::BufReader::new(file), &mut c).ok()?;
    Some(c.events)
}

/// What is wrong with an exported event's own hashes, if anything.
fn record_problem(e: &BundleEvent, format: RecordFormat) -> Option<String> {
    let payload = e.payload.get();
    if sha256_hex(payload.as_bytes()) != e.payload_sha256 {
        return Some(format!(
            "event seq {}'s payload no longer matches its payload_sha256",
            e.seq
        ));
    }
    if let Some(why) = content_problem(e) {
        return Some(format!("event seq {}'s content {why}", e.seq));
    }
    hash_problem(
        e.seq,
        e.run_id.as_deref(),
        e.run_seq,
        [&e.at, &e.actor, &e.kind],
        e.step.as_deref(),
        [&e.payload_sha256, &e.prev_hash, &e.hash],
        format,
    )
}

/// A record's hash over its fields (`[at, actor, kind]`, `[payload_sha256,
/// prev_hash, hash]`), or why it does not hold.
fn hash_problem(
    seq: i64,
    run_id: Option<&str>,
    run_seq: i64,
    [at, actor, kind]: [&str; 3],
    step: Option<&str>,
    [payload_sha256, prev_hash, want]: [&str; 3],
    format: RecordFormat,
) -> Option<String> {
    let hash = Record {
        format,
        seq,
        run_id: run_id.map(str::as_bytes),
        run_seq,
        at: at.as_bytes(),
        actor: actor.as_bytes(),
        kind: kind.as_bytes(),
        step: step.map(str::as_bytes),
        payload_sha256: payload_sha256.as_bytes(),
        prev_hash: prev_hash.as_bytes(),
    }
    .hash();
    (hash != want).then(|| {
        format!(
            "event seq {seq}'s fields no longer match its hash (record format {})",
            format.number()
        )
    })
}

/// What is wrong with an exported event's content (schema 5), if anything:
/// a payload that commits to content carries it (salt and exact text, which
/// must hash to the commitment) or says which redaction erased it; one that
/// commits to none carries none.
fn content_problem(e: &BundleEvent) -> Option<String> {
    let payload = e.payload.get();
    let want = if payload.contains(CONTENT_SHA256) {
        serde_json::from_str::<Value>(payload)
            .ok()
            .and_then(|v| v.get(CONTENT_SHA256)?.as_str().map(str::to_string))
    } else {
        None
    };
    match (want, &e.content_salt, &e.content, e.redacted_by) {
        (None, None, None, None) => None,
        (None, ..) => Some("is there, but its payload commits to no content".into()),
        (Some(want), Some(salt), Some(content), None) => {
            crate::store::check_content(&e.kind, &want, salt, content)
                .err()
                .map(|m| format!("does not match its payload's commitment: {m}"))
        }
        (Some(_), None, None, Some(_)) => None,
        (Some(_), ..) => {
            Some("is missing: the bundle holds neither it nor the redaction that erased it".into())
        }
    }
}

/// How many of a kind of problem are listed before the rest are counted.
const LIST_AT_MOST: usize = 5;

/// A run as evidence.json lists it, and what its events showed.
struct RunSeen {
    /// The row's text fields, in [`ROW_FIELDS`] order (`None`: null or absent).
    fields: [Option<Box<str>>; ROW_FIELDS.len()],
    controls: Option<Vec<String>>,
    /// The row's `events`.
    listed_events: Option<u64>,
    events: u64,
    last_run_seq: i64,
    /// The source format its run-started event names (checked against the
    /// procedures once they are read).
    claimed_format: Option<Box<str>>,
}

/// The run-row fields verify-bundle compares with the run's events.
const ROW_FIELDS: [&str; 12] = [
    "procedure_id",
    "procedure_version",
    "procedure_sha256",
    "operator",
    "host",
    "runsheet_version",
    "operator_name",
    "procedure_title",
    "source_path",
    "started_at",
    "ended_at",
    "outcome",
];

impl RunSeen {
    fn of(row: &Value) -> RunSeen {
        RunSeen {
            fields: ROW_FIELDS.map(|f| row[f].as_str().map(Box::from)),
            controls: serde_json::from_value(row["controls"].clone()).ok(),
            listed_events: row["events"].as_u64(),
            events: 0,
            last_run_seq: 0,
            claimed_format: None,
        }
    }

    fn field(&self, name: &str) -> Option<&str> {
        let i = ROW_FIELDS.iter().position(|f| *f == name)?;
        self.fields[i].as_deref()
    }
}

/// The evidence.json checks that need only the bundle.
struct EvidenceCheck<'m> {
    m: &'m Manifest,
    head_seq: i64,
    head_hash: String,
    format_2_from: Option<i64>,
    runs: HashMap<String, RunSeen>,
    run_count: u64,
    /// The links between exported events still waiting for their other end:
    /// the hash of event *s* until *s* + 1 is read, the prev_hash of event
    /// *s* until *s* − 1 is read. Events come run by run, so most links close
    /// at once; what stays is the events next to ones not exported.
    hash_of: HashMap<i64, [u8; 32]>,
    prev_of: HashMap<i64, [u8; 32]>,
    events: u64,
    /// The first (smallest) exported seq: where the walk starts.
    first_seq: Option<i64>,
    /// evidence.json's version: 2 (before `links`, written by earlier
    /// runsheets) has no walk to check; 3 has.
    version: Option<u64>,
    /// The last record of `links` read (they come in seq order), and how many.
    last_link: Option<i64>,
    links: u64,
    /// (sha256, format) of each procedure source.
    procedures: Vec<(String, String)>,
    problems: Vec<String>,
    more: usize,
}

impl EvidenceCheck<'_> {
    fn found(&mut self, msg: String) {
        if self.problems.len() < LIST_AT_MOST {
            self.problems.push(msg);
        } else {
            self.more += 1;
        }
    }

    fn format_at(&self, seq: i64) -> RecordFormat {
        match self.format_2_from {
            Some(from) if seq >= from => RecordFormat::V2,
            _ => RecordFormat::V1,
        }
    }

    /// Record `seq`'s two ends of the chain: its `prev_hash` meets the
    /// hash of `seq` − 1, its hash the `prev_hash` of `seq` + 1, whichever
    /// comes first waiting in `hash_of` / `prev_of` for the other.
    fn join(&mut self, seq: i64, prev_hash: &str, hash: &str) {
        let hash_bytes = |h: &str| {
            let mut out = [0u8; 32];
            let _ = hex::decode_to_slice(h, &mut out);
            out
        };
        let (h, p) = (hash_bytes(hash), hash_bytes(prev_hash));
        let broken = |a: i64, b: i64| {
            format!(
                "event seq {b}'s prev_hash is not the hash of event seq {a}: the chain between them is broken"
            )
        };
        match self.hash_of.remove(&(seq - 1)) {
            Some(before) if before != p => self.found(broken(seq - 1, seq)),
            Some(_) => {}
            None => {
                if self.prev_of.insert(seq, p).is_some() {
                    self.found(format!("event seq {seq} appears twice"));
                }
            }
        }
        match self.prev_of.remove(&(seq + 1)) {
            Some(after) if after != h => self.found(broken(seq, seq + 1)),
            Some(_) => {}
            None => {
                if self.hash_of.insert(seq, h).is_some() {
                    self.found(format!("event seq {seq} appears twice"));
                }
            }
        }
    }

    /// A record of `links`: after the first exported event, at or before the
    /// data head, in seq order; a log event's payload hashes to its
    /// `payload_sha256`; a run's event belongs to a run the bundle does not
    /// list; its record hash holds; then it joins the chain.
    fn check_link(&mut self, l: &BundleLink) {
        let seq = l.seq;
        match self.first_seq {
            None => self.found(format!(
                "links holds seq {seq}, but the bundle exports no event for it to link"
            )),
            Some(first) if seq <= first || seq > self.head_seq => self.found(format!(
                "links holds seq {seq}, outside the walk from the first exported event (seq {first}) to the data head (seq {})",
                self.head_seq
            )),
            Some(_) => {}
        }
        if let Some(last) = self.last_link
            && seq <= last
        {
            self.found(format!(
                "links are not in seq order: seq {seq} comes after seq {last}"
            ));
        }
        self.last_link = Some(seq);
        self.links += 1;
        match (&l.run_id, &l.payload) {
            (None, None) => self.found(format!(
                "link seq {seq} is a log event without its payload; only a left-out run's events withhold theirs"
            )),
            (Some(run), _) if self.runs.contains_key(run) => self.found(format!(
                "link seq {seq} belongs to run {run}, which the bundle exports: it belongs in events"
            )),
            _ => {}
        }
        if let Some(p) = &l.payload
            && sha256_hex(p.get().as_bytes()) != l.payload_sha256
        {
            self.found(format!(
                "link seq {seq}'s payload no longer matches its payload_sha256"
            ));
        }
        if let Some(msg) = hash_problem(
            seq,
            l.run_id.as_deref(),
            l.run_seq,
            [&l.at, &l.actor, &l.kind],
            l.step.as_deref(),
            [&l.payload_sha256, &l.prev_hash, &l.hash],
            self.format_at(seq),
        ) {
            self.found(format!("link {msg}"));
        }
        if seq == self.head_seq && l.hash != self.head_hash {
            self.found(format!(
                "link seq {seq} is the data head, but its hash is not the data head's"
            ));
        }
        self.join(seq, &l.prev_hash, &l.hash);
    }

    /// After events and links: the walk from the first exported event to
    /// the data head is whole when every record's ends met but the first's
    /// `prev_hash` and the head's hash. Names each seq the walk lacks.
    fn check_walk(&mut self) {
        let Some(first) = self.first_seq else {
            return;
        };
        let head = self.head_seq;
        let mut missing: BTreeSet<i64> = BTreeSet::new();
        for &s in self.hash_of.keys() {
            if s != head {
                missing.insert(s + 1);
            }
        }
        for &s in self.prev_of.keys() {
            if s != first {
                missing.insert(s - 1);
            }
        }
        if !self.hash_of.contains_key(&head) && !missing.contains(&head) && first <= head {
            missing.insert(head);
        }
        for s in missing {
            self.found(format!(
                "the walk from the first exported event (seq {first}) to the data head (seq {head}) breaks at seq {s}: it is in neither events nor links"
            ));
        }
    }

    fn check_event(&mut self, e: &BundleEvent) {
        let format = self.format_at(e.seq);
        self.first_seq = Some(self.first_seq.map_or(e.seq, |f| f.min(e.seq)));
        if let Some(msg) = record_problem(e, format) {
            self.found(msg);
        }
        if e.seq > self.head_seq || (e.seq == self.head_seq && e.hash != self.head_hash) {
            self.found(format!(
                "event seq {} is not in the log up to the data head (seq {})",
                e.seq, self.head_seq
            ));
        }
        let Some(run_id) = e.run_id.clone() else {
            self.found(format!(
                "event seq {} belongs to no run; a bundle holds only runs' events",
                e.seq
            ));
            return;
        };
        let Some(run) = self.runs.get_mut(&run_id) else {
            self.found(format!(
                "event seq {} belongs to run {run_id}, which the bundle does not list",
                e.seq
            ));
            return;
        };
        run.events += 1;
        let previous = run.last_run_seq;
        run.last_run_seq = e.run_seq;
        let mut found = Vec::new();
        if e.run_seq != previous + 1 {
            found.push(format!(
                "run {run_id}'s events are not complete and in order (event {} after {previous})",
                e.run_seq
            ));
        }
        let payload: Value = serde_json::from_str(e.payload.get()).unwrap_or(Value::Null);
        if e.kind == KIND_RUN_STARTED {
            // The fields every run-started event carries, then those a
            // format-2 one must carry (and a format-1 one may).
            let always = [
                "procedure_id",
                "procedure_version",
                "procedure_sha256",
                "operator",
                "host",
                "runsheet_version",
                "operator_name",
            ];
            let since_v2 = ["procedure_title", "source_path"];
            let differs = always
                .iter()
                .chain(
                    since_v2
                        .iter()
                        .filter(|f| format == RecordFormat::V2 || payload.get(**f).is_some()),
                )
                .find(|f| payload[**f].as_str() != run.field(f))
                .copied()
                .or_else(|| {
                    (run.field("started_at") != Some(e.at.as_str())).then_some("started_at")
                })
                .or_else(|| {
                    let controls: Option<Vec<String>> =
                        serde_json::from_value(payload["procedure_controls"].clone()).ok();
                    let compared = format == RecordFormat::V2 || controls.is_some();
                    (compared && controls != run.controls).then_some("controls")
                });
            if let Some(f) = differs {
                found.push(format!(
                    "run {run_id}'s {f} differs from its run-started event (seq {})",
                    e.seq
                ));
            }
            run.claimed_format = payload["procedure_format"].as_str().map(Box::from);
            if format == RecordFormat::V2 && run.claimed_format.is_none() {
                found.push(format!(
                    "run {run_id}'s run-started event (seq {}) names no procedure_format",
                    e.seq
                ));
            }
        }
        if e.kind == KIND_RUN_ENDED
            && (payload["outcome"].as_str() != run.field("outcome")
                || run.field("ended_at") != Some(e.at.as_str()))
        {
            found.push(format!(
                "run {run_id}'s outcome or end differs from its run-ended event (seq {})",
                e.seq
            ));
        }
        for msg in found {
            self.found(msg);
        }
        self.join(e.seq, &e.prev_hash, &e.hash);
        self.events += 1;
    }

    fn finish(mut self) -> (Vec<String>, usize) {
        // Version 2 (before `links`) holds only the exported runs' events:
        // the walk to the data head is not in it to check.
        if self.version != Some(2) {
            self.check_walk();
        }
        if self.run_count != self.m.runs {
            let msg = format!(
                "lists {} runs, the manifest says {}",
                self.run_count, self.m.runs
            );
            self.found(msg);
        }
        if self.events != self.m.events {
            let msg = format!(
                "holds {} events, the manifest says {}",
                self.events, self.m.events
            );
            self.found(msg);
        }
        let mut short: Vec<String> = self
            .runs
            .iter()
            .filter(|(_, r)| Some(r.events) != r.listed_events || r.events == 0)
            .map(|(id, r)| {
                format!(
                    "run {id} has {} events in the bundle, its row says {}",
                    r.events,
                    r.listed_events
                        .map_or_else(|| "nothing".to_string(), |n| n.to_string())
                )
            })
            .collect();
        short.sort();
        for msg in short {
            self.found(msg);
        }
        let mut missing: Vec<String> = self
            .runs
            .iter()
            .filter_map(|(id, r)| {
                let sha = r.field("procedure_sha256")?;
                match self.procedures.iter().find(|(p, _)| p == sha) {
                    None => Some(format!("no procedure source {sha}, which a run used")),
                    Some((_, format)) => r
                        .claimed_format
                        .as_deref()
                        .filter(|claimed| claimed != format)
                        .map(|claimed| {
                            format!(
                                "run {id}'s run-started event says its source is {claimed}, the bundle's source {sha} is {format}"
                            )
                        }),
                }
            })
            .collect();
        missing.sort();
        missing.dedup();
        for msg in missing {
            self.found(msg);
        }
        (self.problems, self.more)
    }
}

impl EvidenceVisitor for EvidenceCheck<'_> {
    fn header(&mut self, name: &str, value: Value) -> Result<(), String> {
        match name {
            "format" if value != json::FORMAT => self.found(format!("has format {value}")),
            "version" => match value.as_u64() {
                Some(v @ (2 | 3)) if v <= u64::from(json::VERSION) => self.version = Some(v),
                _ => self.found(format!(
                    "is version {value}; this runsheet reads versions 2 and {}",
                    json::VERSION
                )),
            },
            "verification" if value != self.m.verification => {
                self.found("its verification differs from manifest.json's".into())
            }
            "checkpoint"
                if value["head_seq"] != self.head_seq
                    || value["head_hash"] != self.head_hash.as_str() =>
            {
                self.found(
                    "its checkpoint (the data head) differs from manifest.json's data_head".into(),
                )
            }
            "record_format_2_from" => self.format_2_from = value.as_i64(),
            _ => {}
        }
        Ok(())
    }

    fn run(&mut self, row: Value) -> Result<(), String> {
        self.run_count += 1;
        let id = row["id"].as_str().unwrap_or_default().to_string();
        if self.runs.contains_key(&id) {
            self.found(format!("run {id} is listed twice"));
        }
        self.runs.insert(id, RunSeen::of(&row));
        Ok(())
    }

    fn event(&mut self, event: BundleEvent) -> Result<(), String> {
        self.check_event(&event);
        Ok(())
    }

    fn link(&mut self, link: BundleLink) -> Result<(), String> {
        self.check_link(&link);
        Ok(())
    }

    fn procedure(&mut self, p: Value) -> Result<(), String> {
        let sha = p["sha256"].as_str().unwrap_or_default().to_string();
        let text = p["text"].as_str().unwrap_or_default();
        if sha256_hex(text.as_bytes()) != sha {
            self.found(format!(
                "procedure source {sha}'s text no longer has that hash"
            ));
        }
        let format = p["format"].as_str().unwrap_or_default().to_string();
        self.procedures.push((sha, format));
        Ok(())
    }
}

/// evidence.json on its own: every event's hashes, the chain between
/// contiguous events, runs against their events, counts, the data head.
/// Memory: a row per run, and the links to events that were not exported.
fn check_evidence(dir: &Path, m: &Manifest, report: &mut BundleReport) -> Result<(), Error> {
    let path = dir.join("evidence.json");
    let file = File::open(&path).map_err(|e| Error::io(&path, &e))?;
    let (head_seq, head_hash) = data_head(m);
    let mut check = EvidenceCheck {
        m,
        head_seq,
        head_hash,
        format_2_from: None,
        runs: HashMap::new(),
        run_count: 0,
        hash_of: HashMap::new(),
        prev_of: HashMap::new(),
        events: 0,
        first_seq: None,
        version: None,
        last_link: None,
        links: 0,
        procedures: Vec::new(),
        problems: Vec::new(),
        more: 0,
    };
    let read = read_evidence(file, &mut check);
    let events = check.events;
    let version = check.version;
    let walk = check.first_seq.map(|f| (f, check.links));
    let (problems, more) = check.finish();
    if let Err(msg) = read {
        report.problems.push(problem("evidence.json", msg));
        return Ok(());
    }
    let clean = problems.is_empty();
    for msg in problems {
        report.problems.push(problem("evidence.json", msg));
    }
    if more > 0 {
        report.problems.push(problem(
            "evidence.json",
            format!("and {more} more problems"),
        ));
    }
    if clean {
        report.checked.push(format!(
            "evidence.json: all {events} events' payload and record hashes hold, contiguous events link, every run's events are complete and agree with its row, and none lies after the data head (seq {})",
            data_head(m).0
        ));
        if version == Some(2) {
            report.checked.push(
                "evidence.json is version 2 (written before it carried `links`): it holds only the exported runs' events, so the walk from them to the data head is not in it to check; pass --db to check the chain across what was not exported".into(),
            );
        } else if let Some((first, links)) = walk {
            report.checked.push(format!(
                "evidence.json: the chain walks unbroken from the first exported event (seq {first}) to the data head (seq {}) through its events and {links} links",
                data_head(m).0
            ));
        }
    }
    Ok(())
}

/// RFC 4180 records in a CSV file, the header not counted.
fn csv_records(path: &Path) -> io::Result<u64> {
    let mut f = io::BufReader::new(File::open(path)?);
    let mut buf = [0u8; 64 * 1024];
    let (mut quoted, mut records, mut any) = (false, 0u64, false);
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            match b {
                b'"' => quoted = !quoted,
                b'\n' if !quoted => {
                    records += 1;
                    any = false;
                    continue;
                }
                _ => {}
            }
            any = true;
        }
    }
    Ok((records + u64::from(any)).saturating_sub(1))
}

/// runs.csv has a row per run, events.csv a row per event.
fn check_csv_rows(dir: &Path, name: &str, m: &Manifest, report: &mut BundleReport) {
    let want = if name == "runs.csv" { m.runs } else { m.events };
    match csv_records(&dir.join(name)) {
        Ok(n) if n == want => {}
        Ok(n) => report.problems.push(problem(
            name,
            format!("holds {n} rows, the manifest says {want}"),
        )),
        Err(e) => report
            .problems
            .push(problem(name, format!("cannot be read: {e}"))),
    }
}

/// Compare evidence.json's events with the log, one at a time: each must be
/// in the log at its `seq` with the same run, `run_seq` and hash, at or before
/// the data head. Memory stays constant.
fn compare_events(
    evidence: &Path,
    store: &Store,
    head: i64,
) -> Result<(u64, Vec<BundleProblem>), Error> {
    struct Compare<'s> {
        store: &'s Store,
        head: i64,
        checked: u64,
        missing: Vec<i64>,
        missing_count: u64,
        differing: Vec<BundleProblem>,
        differing_count: u64,
        failure: Option<StoreError>,
    }
    impl EvidenceVisitor for Compare<'_> {
        fn header(&mut self, _: &str, _: Value) -> Result<(), String> {
            Ok(())
        }
        fn run(&mut self, _: Value) -> Result<(), String> {
            Ok(())
        }
        fn procedure(&mut self, _: Value) -> Result<(), String> {
            Ok(())
        }
        fn event(&mut self, k: BundleEvent) -> Result<(), String> {
            self.checked += 1;
            self.compare(k.seq, k.run_id, k.run_seq, &k.hash)
        }
        fn link(&mut self, l: BundleLink) -> Result<(), String> {
            self.compare(l.seq, l.run_id, l.run_seq, &l.hash)
        }
    }
    impl Compare<'_> {
        /// The record at `seq` in the log has this run, run_seq and hash.
        fn compare(
            &mut self,
            seq: i64,
            run_id: Option<String>,
            run_seq: i64,
            hash: &str,
        ) -> Result<(), String> {
            let found = if seq > self.head {
                None
            } else {
                match self.store.event_key(seq) {
                    Ok(found) => found,
                    Err(e) => {
                        self.failure = Some(e);
                        return Err("the log could not be read".into());
                    }
                }
            };
            match found {
                None => {
                    self.missing_count += 1;
                    if self.missing.len() < LIST_AT_MOST {
                        self.missing.push(seq);
                    }
                }
                Some(log) if log.hash != hash || log.run_id != run_id || log.run_seq != run_seq => {
                    self.differing_count += 1;
                    if self.differing.len() < LIST_AT_MOST {
                        self.differing.push(problem(
                            "evidence.json",
                            format!(
                                "event seq {seq} differs from the log (bundle hash {hash}, log hash {})",
                                log.hash
                            ),
                        ));
                    }
                }
                Some(_) => {}
            }
            Ok(())
        }
    }
    let file = File::open(evidence).map_err(|e| Error::io(evidence, &e))?;
    let mut c = Compare {
        store,
        head,
        checked: 0,
        missing: Vec::new(),
        missing_count: 0,
        differing: Vec::new(),
        differing_count: 0,
        failure: None,
    };
    let read = read_evidence(file, &mut c);
    if let Some(e) = c.failure {
        return Err(e.into());
    }
    let mut problems = c.differing;
    if let Err(msg) = read {
        problems.push(problem("evidence.json", msg));
        return Ok((c.checked, problems));
    }
    if c.differing_count > LIST_AT_MOST as u64 {
        problems.push(problem(
            "evidence.json",
            format!(
                "{} more events differ from the log",
                c.differing_count - LIST_AT_MOST as u64
            ),
        ));
    }
    if c.missing_count > 0 {
        let seqs: Vec<String> = c.missing.iter().map(i64::to_string).collect();
        problems.push(problem(
            "evidence.json",
            format!(
                "{} exported event(s) or link(s) are not in the log up to the bundle's data head (seq {}{})",
                c.missing_count,
                seqs.join(", "),
                if c.missing_count > LIST_AT_MOST as u64 {
                    ", ..."
                } else {
                    ""
                }
            ),
        ));
    }
    Ok((c.checked, problems))
}
