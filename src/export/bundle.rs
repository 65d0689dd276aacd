//! Writing an audit bundle: checks on the target directory, a temporary
//! directory next to it (same file system) that is renamed into place at the
//! end, the files written one record at a time and hashed as they are
//! written, the manifest, and the `export` event in the log.
//!
//! Order: inside one read snapshot of the log, the checkpoint is taken, then
//! the matching runs are read twice, oldest first — once for their rows
//! (runs.csv, evidence.json's runs, the summary and the report indexes), once
//! for their events (events.csv, evidence.json's events, the timelines). Then
//! the manifest; then the export is recorded in the log (with the manifest's
//! SHA-256, so the manifest's checkpoint cannot include its own export
//! event); then the directory is renamed into place. Any failure before the
//! rename removes the temporary directory: a failed export leaves nothing
//! behind. Memory holds the summary and a few runs' events (in short
//! queues), whatever the size of the log.
//!
//! May not depend on the front ends or the app.

mod file;
mod outputs;
mod target;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use self::file::BundleFile;
use self::outputs::{Outputs, RunBatch};
use self::target::{TempDir, check_target, parent_dir, place, sync_dir};
use super::manifest::{self, FileEntry, Manifest};
use super::{Catalog, KIND_EXPORT, ReportMeta, RunStats, Summary, filters_json, time_text};
use crate::error::Error;
use crate::store::{Checkpoint, NewEvent, RunQuery, RunRow, Store, Visit};

/// Which optional files to write (the manifest, checkpoint and procedures are always written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    /// report.html
    pub html: bool,
    /// runs.csv and events.csv
    pub csv: bool,
    /// evidence.json
    pub json: bool,
    /// report.md
    pub md: bool,
}

impl Default for Formats {
    fn default() -> Self {
        Formats {
            html: true,
            csv: true,
            json: true,
            md: true,
        }
    }
}

impl Formats {
    /// The chosen formats' names, in a fixed order.
    pub fn names(&self) -> Vec<String> {
        [
            (self.html, "html"),
            (self.csv, "csv"),
            (self.json, "json"),
            (self.md, "md"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| n.to_string())
        .collect()
    }
}

/// What to export, where, by whom, when.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// The bundle directory: must not exist, or be empty (or, with `force`, hold a previous bundle).
    pub out: PathBuf,
    pub query: RunQuery,
    pub formats: Formats,
    /// Replace a directory that holds a previous bundle.
    pub force: bool,
    /// Who exports (recorded in the manifest and the export event).
    pub actor: String,
    /// Export time (injected for reproducible tests).
    pub now: DateTime<Utc>,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    pub out: PathBuf,
    pub runs: usize,
    pub events: u64,
    /// Every file but manifest.json, sorted by path.
    pub files: Vec<FileEntry>,
    pub manifest_sha256: String,
    pub checkpoint: Checkpoint,
    /// The `export` event's seq in the log.
    pub export_seq: i64,
}

/// Export an audit bundle (see the module docs for the order of things).
pub fn export(store: &mut Store, req: &ExportRequest) -> Result<ExportSummary, Error> {
    let parent = parent_dir(&req.out)?;
    let target = check_target(&req.out, req.force)?;
    let name = req
        .out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".into());

    let tmp = TempDir::create(&parent, &name, req.now)?;
    let Written {
        mut files,
        runs,
        events,
        checkpoint,
    } = store.read_snapshot(|s| write_bundle(s, req, &tmp.path))?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let generator = super::generator();

    let checkpoint_value: serde_json::Value = serde_json::from_str(&checkpoint.to_json())
        .map_err(|e| Error::Internal(format!("checkpoint JSON: {e}")))?;
    let m = Manifest {
        format: manifest::FORMAT.into(),
        version: manifest::VERSION,
        generator: generator.clone(),
        created_at: time_text(req.now),
        exported_by: req.actor.clone(),
        filters: filters_json(&req.query),
        formats: req.formats.names(),
        runs: runs as u64,
        events,
        checkpoint: checkpoint_value,
        files: files.clone(),
        self_sha256: String::new(),
    };
    let text = m
        .to_text()
        .map_err(|e| Error::Internal(format!("manifest JSON: {e}")))?;
    let manifest_sha256 = crate::store::sha256_hex(text.as_bytes());
    let mut mf = BundleFile::create(&tmp.path, manifest::FILE)?;
    mf.write_all(text.as_bytes()).map_err(|e| mf.err(&e))?;
    mf.finish()?;
    sync_dir(&tmp.path.join("procedures"));
    sync_dir(&tmp.path);

    let out_text = fs::canonicalize(&parent)
        .map(|p| p.join(&name))
        .unwrap_or_else(|_| req.out.clone())
        .display()
        .to_string();
    let event = NewEvent {
        at: req.now,
        actor: req.actor.clone(),
        kind: KIND_EXPORT.into(),
        step: None,
        payload: serde_json::json!({
            "kind": KIND_EXPORT,
            "out": out_text,
            "filters": filters_json(&req.query),
            "formats": req.formats.names(),
            "runs": runs,
            "events": events,
            "manifest_sha256": manifest_sha256,
            "checkpoint_head_seq": checkpoint.head_seq,
            "checkpoint_head_hash": checkpoint.head_hash,
            "generator": generator,
        }),
    };
    let recorded = store.append_log_event(&event).map_err(|e| match Error::from(e) {
        Error::Store { path, message } => Error::Store {
            path,
            message: format!(
                "{message} (an export must be recorded in the log, so no bundle was left at {})",
                req.out.display()
            ),
        },
        other => other,
    })?;

    let mut tmp = tmp;
    place(&tmp.path, &req.out, target, &parent, &name).map_err(|e| Error::Io {
        path: req.out.clone(),
        message: format!(
            "the bundle was written and its export recorded (log event {}), but it could not be moved into place: {e}; nothing was left at the target",
            recorded.seq
        ),
    })?;
    tmp.keep = true;
    sync_dir(&parent);
    Ok(ExportSummary {
        out: req.out.clone(),
        runs,
        events,
        files,
        manifest_sha256,
        checkpoint,
        export_seq: recorded.seq,
    })
}

/// What the two passes wrote.
struct Written {
    files: Vec<FileEntry>,
    runs: usize,
    events: u64,
    checkpoint: Checkpoint,
}

/// Every file but the manifest, from one read snapshot of the log.
fn write_bundle(store: &Store, req: &ExportRequest, dir: &Path) -> Result<Written, Error> {
    let checkpoint = store.checkpoint()?;
    let mut meta = ReportMeta {
        created_at: req.now,
        exported_by: req.actor.clone(),
        generator: super::generator(),
        query: req.query.clone(),
        checkpoint: checkpoint.clone(),
        runs: 0,
        events: 0,
    };
    let mut out = Outputs::create(dir, req.formats, &meta)?;
    let mut files = Vec::new();

    // Run pass: rows, counts, the summary, and each procedure source once.
    let mut summary = Summary::default();
    let mut catalog = Catalog::new();
    // sha256 -> (format, text), for procedures/ and evidence.json.
    let mut sources: BTreeMap<String, (String, String)> = BTreeMap::new();
    store.for_each_run(&req.query, true, |r, counts| {
        let stats = RunStats::from_counts(u64::try_from(r.event_count).unwrap_or(0), counts);
        summary.add(&r, &stats);
        meta.runs += 1;
        meta.events += stats.events;
        if !sources.contains_key(&r.procedure_sha256) {
            let (format, text) = read_source(store, &r)?;
            files.push(write_source(dir, &r.procedure_sha256, &format, &text)?);
            catalog.add(&r.procedure_sha256, &text, &format);
            sources.insert(r.procedure_sha256.clone(), (format, text));
        }
        out.run(&r, &stats)
    })?;

    out.begin_events(dir, &meta, &summary)?;

    // Event pass: each run's events, copied once and formatted on the format threads.
    let (out, exported) = out.events(catalog, store.path(), |send| {
        let mut exported = 0u64;
        let mut batch: Option<RunBatch> = None;
        store.for_each_run_with_events(&req.query, |visit| {
            match visit {
                Visit::Start(r) => batch = Some(RunBatch::new(r)),
                Visit::Event(e) => {
                    if let Some(b) = batch.as_mut() {
                        b.push(e);
                    }
                }
                Visit::End(_) => {
                    if let Some(mut b) = batch.take() {
                        b.complete(store.path())?;
                        exported += b.stats().events;
                        send(b)?;
                    }
                }
            }
            Ok::<(), Error>(())
        })?;
        Ok(exported)
    })?;
    if exported != meta.events {
        return Err(Error::Internal(format!(
            "the log changed during the export ({} events counted, {exported} read); nothing was exported",
            meta.events
        )));
    }

    let procedures = sources
        .into_iter()
        .map(|(sha, (format, text))| (sha, format, text));
    files.extend(out.finish(&meta, procedures)?);

    let mut f = BundleFile::create(dir, "checkpoint.json")?;
    f.write_all(checkpoint.to_json().as_bytes())
        .map_err(|e| f.err(&e))?;
    files.push(f.finish()?);
    Ok(Written {
        files,
        runs: meta.runs,
        events: meta.events,
        checkpoint,
    })
}

/// The exact source a run used and its format (`toml` or `json`), checked
/// to be there and to be named by a usable hash.
fn read_source(store: &Store, r: &RunRow) -> Result<(String, String), Error> {
    let Some((text, format)) = store.procedure_source(&r.procedure_sha256)? else {
        return Err(Error::Store {
            path: store.path().to_path_buf(),
            message: format!(
                "the procedure source {} of run {} is missing; run `runsheet verify`. Nothing was exported",
                r.procedure_sha256, r.id
            ),
        });
    };
    if !is_sha256(&r.procedure_sha256) {
        return Err(Error::Store {
            path: store.path().to_path_buf(),
            message: format!(
                "run {} names an unreadable procedure hash {:?}; run `runsheet verify`. Nothing was exported",
                r.id, r.procedure_sha256
            ),
        });
    }
    let format = if format == "json" { "json" } else { "toml" };
    Ok((format.to_string(), text))
}

/// procedures/<sha256>.<format>.
fn write_source(dir: &Path, sha256: &str, format: &str, text: &str) -> Result<FileEntry, Error> {
    let mut f = BundleFile::create(dir, &format!("procedures/{sha256}.{format}"))?;
    f.write_all(text.as_bytes()).map_err(|e| f.err(&e))?;
    f.finish()
}

/// 64 lower-case hex digits (safe as a file name).
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
