//! `verify-bundle`: re-hash every file of an audit bundle against its
//! manifest (no file missing, changed or added), and, given the evidence log,
//! check that every exported event is in the log with the same hash, that the
//! log still reaches the bundle's checkpoint, and that the log recorded this
//! very export (the manifest's SHA-256 is in its `export` event).
//!
//! May not depend on the front ends or the app.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::KIND_EXPORT;
use super::json::for_each_event_key;
use super::manifest::{self, Manifest};
use crate::error::Error;
use crate::store::{Checkpoint, Store, StoreError, VerifyReport, sha256_hex};

/// One thing wrong with a bundle, naming the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleProblem {
    /// The bundle file (relative path), or `evidence log`.
    pub file: String,
    pub message: String,
}

/// What the check against the evidence log found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogCheck {
    pub log: PathBuf,
    /// Exported events compared with the log (0 when the bundle has no evidence.json).
    pub events_checked: u64,
    /// The bundle's checkpoint (chain head at export).
    pub checkpoint_seq: i64,
    /// The log's verify against the bundle's checkpoint.
    pub verify: VerifyReport,
    /// The log event that recorded this export.
    pub export_seq: Option<i64>,
}

/// The result of verify-bundle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BundleReport {
    pub dir: PathBuf,
    /// Files listed in the manifest.
    pub files: usize,
    pub runs: u64,
    pub events: u64,
    pub created_at: Option<String>,
    pub exported_by: Option<String>,
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
        let files_bad = self.problems.iter().any(|p| p.file != "evidence log");
        if !files_bad {
            writeln!(
                f,
                "OK: all {} files match manifest.json, and no file is missing or added ({} runs, {} events; exported {} by {}).",
                self.files,
                self.runs,
                self.events,
                self.created_at.as_deref().unwrap_or("?"),
                crate::text::sanitize_line(self.exported_by.as_deref().unwrap_or("?"))
            )?;
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
                "Not checked against the evidence log; pass --db <log> (or set RUNSHEET_DB) to prove every event is still in it."
            ),
            Some(l) => {
                let log_bad = self.problems.iter().any(|p| p.file == "evidence log");
                if l.events_checked > 0 && !self.problems.iter().any(|p| p.file == "evidence.json")
                {
                    writeln!(
                        f,
                        "OK: all {} exported events are in {} with the same hashes.",
                        l.events_checked,
                        l.log.display()
                    )?;
                }
                if l.verify.is_ok() {
                    writeln!(
                        f,
                        "OK: the log's chain is intact and still reaches the bundle's checkpoint (event {}).",
                        l.checkpoint_seq
                    )?;
                } else {
                    writeln!(f, "FAILED: evidence log: {}", l.verify)?;
                }
                match l.export_seq {
                    Some(seq) => write!(f, "OK: the log recorded this export (event {seq})."),
                    None if log_bad => Ok(()),
                    None => write!(f, "FAILED: the log has no record of this export."),
                }
            }
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
pub fn verify_bundle(dir: &Path, store: Option<&Store>) -> Result<BundleReport, Error> {
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
        problems: Vec::new(),
        log: None,
    };
    let manifest_path = dir.join(manifest::FILE);
    let text = match fs::read(&manifest_path) {
        Ok(bytes) => bytes,
        Err(e) => {
            report
                .problems
                .push(problem(manifest::FILE, format!("cannot be read: {e}")));
            return Ok(report);
        }
    };
    let manifest_sha = sha256_hex(&text);
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

    // Every listed file: present, same size, same SHA-256.
    let mut changed: BTreeSet<&str> = BTreeSet::new();
    for f in &m.files {
        let path = dir.join(&f.path);
        match hash_file(&path) {
            Ok((sha, bytes)) => {
                if sha != f.sha256 || bytes != f.bytes {
                    changed.insert(&f.path);
                    report.problems.push(problem(
                        &f.path,
                        format!(
                            "changed after export: SHA-256 {sha} ({bytes} bytes), the manifest says {} ({} bytes)",
                            f.sha256, f.bytes
                        ),
                    ));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                changed.insert(&f.path);
                report
                    .problems
                    .push(problem(&f.path, "is listed in manifest.json but missing"));
            }
            Err(e) => {
                changed.insert(&f.path);
                report
                    .problems
                    .push(problem(&f.path, format!("cannot be read: {e}")));
            }
        }
    }
    // No file the manifest does not list.
    let mut present = BTreeSet::new();
    walk(dir, "", &mut present, &mut report.problems);
    let listed: BTreeSet<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    for p in &present {
        if p != manifest::FILE && !listed.contains(p.as_str()) {
            report.problems.push(problem(
                p,
                "is not listed in manifest.json (added after export)",
            ));
        }
    }
    // Cross-checks of unchanged files: procedure sources are named by their hash;
    // checkpoint.json is the manifest's checkpoint.
    for f in &m.files {
        if changed.contains(f.path.as_str()) {
            continue;
        }
        if let Some(name) = f.path.strip_prefix("procedures/") {
            let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
            if stem != f.sha256 {
                report.problems.push(problem(
                    &f.path,
                    "its SHA-256 is not the one its name says; this is not the procedure source the runs used",
                ));
            }
        }
    }
    // checkpoint.json must be the manifest's checkpoint; the manifest's (covered
    // by its self-hash and, in the log, by the export event) is the one used.
    if !changed.contains("checkpoint.json") && listed.contains("checkpoint.json") {
        let as_value: Option<serde_json::Value> = fs::read_to_string(dir.join("checkpoint.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        if as_value.as_ref() != Some(&m.checkpoint) {
            report.problems.push(problem(
                "checkpoint.json",
                "differs from the checkpoint embedded in manifest.json",
            ));
        }
    }
    let checkpoint = serde_json::to_string(&m.checkpoint)
        .ok()
        .and_then(|t| Checkpoint::from_json(&t).ok());

    let Some(store) = store else {
        return Ok(report);
    };
    let Some(cp) = checkpoint else {
        report.problems.push(problem(
            manifest::FILE,
            "its checkpoint cannot be read, so the bundle cannot be checked against the log",
        ));
        return Ok(report);
    };
    let mut log = LogCheck {
        log: store.path().to_path_buf(),
        events_checked: 0,
        checkpoint_seq: cp.head_seq,
        verify: store.verify_checkpoint(&cp)?,
        export_seq: None,
    };
    let evidence = dir.join("evidence.json");
    if listed.contains("evidence.json") && !changed.contains("evidence.json") {
        let (checked, problems) = compare_events(&evidence, store, cp.head_seq)?;
        log.events_checked = checked;
        if problems.is_empty() && checked != m.events {
            report.problems.push(problem(
                "evidence.json",
                format!("holds {checked} events, the manifest says {}", m.events),
            ));
        }
        report.problems.extend(problems);
    }
    log.export_seq = find_export(store, cp.head_seq, &manifest_sha)?;
    if log.export_seq.is_none() {
        report.problems.push(problem(
            "evidence log",
            format!(
                "no `export` event after the checkpoint records manifest SHA-256 {manifest_sha}: this bundle was not exported from this log, or manifest.json was replaced"
            ),
        ));
    }
    report.log = Some(log);
    Ok(report)
}

/// Compare evidence.json's events with the log, one at a time: each must be
/// in the log at its `seq` with the same run, `run_seq` and hash, at or before
/// the checkpoint, and each run's events in order. Memory stays constant.
fn compare_events(
    evidence: &Path,
    store: &Store,
    head: i64,
) -> Result<(u64, Vec<BundleProblem>), Error> {
    let file = File::open(evidence).map_err(|e| Error::io(evidence, &e))?;
    let mut problems = Vec::new();
    let mut checked = 0u64;
    let mut missing: Vec<i64> = Vec::new();
    let mut missing_count = 0u64;
    let mut differing = 0u64;
    let mut previous: Option<(Option<String>, i64)> = None;
    let mut failure: Option<StoreError> = None;
    let read = for_each_event_key(file, &mut |k| {
        checked += 1;
        if let Some((run, run_seq)) = &previous
            && *run == k.run_id
            && *run_seq >= k.run_seq
        {
            return Err(format!(
                "its events are not in order (run {} event {} after event {run_seq}); it was changed after export",
                k.run_id.as_deref().unwrap_or("-"),
                k.run_seq
            ));
        }
        previous = Some((k.run_id.clone(), k.run_seq));
        let found = if k.seq > head {
            None
        } else {
            match store.event_key(k.seq) {
                Ok(found) => found,
                Err(e) => {
                    failure = Some(e);
                    return Err("the log could not be read".into());
                }
            }
        };
        match found {
            None => {
                missing_count += 1;
                if missing.len() < 5 {
                    missing.push(k.seq);
                }
            }
            Some(log)
                if log.hash != k.hash || log.run_id != k.run_id || log.run_seq != k.run_seq =>
            {
                differing += 1;
                if differing <= 5 {
                    problems.push(problem(
                        "evidence.json",
                        format!(
                            "event seq {} differs from the log (bundle hash {}, log hash {})",
                            k.seq, k.hash, log.hash
                        ),
                    ));
                }
            }
            Some(_) => {}
        }
        Ok(())
    });
    if let Some(e) = failure {
        return Err(e.into());
    }
    if let Err(msg) = read {
        problems.push(problem("evidence.json", msg));
        return Ok((checked, problems));
    }
    if differing > 5 {
        problems.push(problem(
            "evidence.json",
            format!("{} more events differ from the log", differing - 5),
        ));
    }
    if missing_count > 0 {
        let seqs: Vec<String> = missing.iter().map(i64::to_string).collect();
        problems.push(problem(
            "evidence.json",
            format!(
                "{missing_count} exported event(s) are not in the log up to the bundle's checkpoint (seq {}{})",
                seqs.join(", "),
                if missing_count > 5 { ", ..." } else { "" }
            ),
        ));
    }
    Ok((checked, problems))
}

/// The seq of the `export` event (after the checkpoint) that names this manifest.
fn find_export(store: &Store, head: i64, manifest_sha: &str) -> Result<Option<i64>, Error> {
    let mut found = None;
    let walked = store.for_each_event(head + 1, |e| {
        let names_it = e.kind == KIND_EXPORT
            && e.payload
                .get("manifest_sha256")
                .and_then(serde_json::Value::as_str)
                == Some(manifest_sha);
        if names_it {
            found = Some(e.seq);
            return Err(StoreError::Invalid("found".into()));
        }
        Ok(())
    });
    match (walked, found) {
        (_, Some(seq)) => Ok(Some(seq)),
        (Ok(()), None) => Ok(None),
        (Err(e), None) => Err(e.into()),
    }
}
