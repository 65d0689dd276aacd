//! Writing an audit bundle: checks on the target directory, a temporary
//! directory next to it (same file system) that is renamed into place at the
//! end, the files written one record at a time and hashed as they are
//! written, the manifest, and the `export` event in the log.
//!
//! Order: runs are listed, then the checkpoint is taken (so every listed run
//! starts at or before it and only events up to it are exported); the files
//! are written into the temporary directory; the manifest last; then the
//! export is recorded in the log (with the manifest's SHA-256, so the
//! manifest's checkpoint cannot include its own export event); then the
//! directory is renamed into place. Any failure before the rename removes
//! the temporary directory: a failed export leaves nothing behind.
//!
//! May not depend on the front ends or the app.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use sha2::{Digest, Sha256};

use super::manifest::{self, FileEntry, Manifest};
use super::timeline::describe;
use super::{
    Catalog, KIND_EXPORT, ReportMeta, RunStats, Summary, csv, filters_json, html, json, markdown,
    run_index, time_text,
};
use crate::error::Error;
use crate::store::{Checkpoint, NewEvent, RunQuery, RunRow, Store, StoreError};

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

fn io_err(path: &Path, e: &io::Error) -> Error {
    Error::io(path, e)
}

/// A writer that hashes and counts what passes through it.
pub struct Hashed<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One bundle file being written.
pub struct BundleFile {
    rel: String,
    path: PathBuf,
    w: Hashed<BufWriter<File>>,
}

impl BundleFile {
    /// Create `rel` (with `/` separators) under `dir`; it must not exist.
    pub fn create(dir: &Path, rel: &str) -> Result<BundleFile, Error> {
        let path = dir.join(rel);
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_err(&path, &e))?;
        Ok(BundleFile {
            rel: rel.to_string(),
            path,
            w: Hashed {
                inner: BufWriter::with_capacity(64 * 1024, file),
                hasher: Sha256::new(),
                bytes: 0,
            },
        })
    }

    /// The writer.
    pub fn w(&mut self) -> &mut Hashed<BufWriter<File>> {
        &mut self.w
    }

    /// The file's path (for error messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flush, sync to disk, and return the manifest entry.
    pub fn finish(self) -> Result<FileEntry, Error> {
        let BundleFile { rel, path, w } = self;
        let Hashed {
            inner,
            hasher,
            bytes,
        } = w;
        let file = inner.into_inner().map_err(|e| io_err(&path, e.error()))?;
        file.sync_all().map_err(|e| io_err(&path, &e))?;
        Ok(FileEntry {
            path: rel,
            sha256: hex::encode(hasher.finalize()),
            bytes,
        })
    }
}

impl Write for BundleFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.w.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// A temporary directory removed on drop unless kept.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    fn create(parent: &Path, name: &str, now: DateTime<Utc>) -> Result<TempDir, Error> {
        let stamp = now.timestamp_nanos_opt().unwrap_or(0);
        let path = parent.join(format!(
            ".{name}.runsheet-tmp-{}-{stamp:x}",
            std::process::id()
        ));
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            // The evidence is as private as the log (0600): owner-only.
            builder.mode(0o700);
        }
        builder.create(&path).map_err(|e| io_err(&path, &e))?;
        fs::create_dir(path.join("procedures")).map_err(|e| io_err(&path, &e))?;
        Ok(TempDir { path, keep: false })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// What is at the target path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Absent,
    Empty,
    /// A previous bundle, replaced with --force.
    Replace,
}

fn check_target(out: &Path, force: bool) -> Result<Target, Error> {
    let meta = match fs::symlink_metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Target::Absent),
        Err(e) => return Err(io_err(out, &e)),
    };
    if !meta.is_dir() {
        return Err(Error::Io {
            path: out.to_path_buf(),
            message: "exists and is not a directory; choose a new directory for the bundle".into(),
        });
    }
    let mut entries = fs::read_dir(out).map_err(|e| io_err(out, &e))?;
    let first = entries.next();
    let Some(first) = first else {
        return Ok(Target::Empty);
    };
    if !force {
        return Err(Error::Io {
            path: out.to_path_buf(),
            message: "is not empty; nothing was written. Choose a new or empty directory, or pass --force to replace a previous bundle there".into(),
        });
    }
    let is_bundle = fs::read_to_string(out.join(manifest::FILE))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v["format"] == manifest::FORMAT);
    if !is_bundle {
        let example = first
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .unwrap_or_default();
        return Err(Error::Io {
            path: out.to_path_buf(),
            message: format!(
                "holds files that are not an audit bundle (e.g. {example:?}); --force only replaces a previous bundle, so nothing was written or deleted. Choose a new or empty directory"
            ),
        });
    }
    Ok(Target::Replace)
}

/// The directory the target lives in; it must exist.
fn parent_dir(out: &Path) -> Result<PathBuf, Error> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match fs::metadata(&parent) {
        Ok(m) if m.is_dir() => Ok(parent),
        Ok(_) => Err(Error::Io {
            path: out.to_path_buf(),
            message: format!(
                "cannot be created: {} is not a directory; nothing was written",
                parent.display()
            ),
        }),
        Err(e) => Err(Error::Io {
            path: out.to_path_buf(),
            message: format!(
                "cannot be created: {} ({e}); create the parent directory first. Nothing was written",
                parent.display()
            ),
        }),
    }
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

    // Runs first, then the checkpoint: every listed run started at or before it.
    let mut rows = store.runs(&req.query)?;
    rows.reverse(); // oldest first in the bundle
    let checkpoint = store.checkpoint()?;

    let tmp = TempDir::create(&parent, &name, req.now)?;
    let meta = ReportMeta {
        created_at: req.now,
        exported_by: req.actor.clone(),
        generator: super::generator(),
        query: req.query.clone(),
        checkpoint: checkpoint.clone(),
        runs: rows.len(),
        events: 0,
    };
    let (mut files, events) = write_files(store, req, &meta, &rows, &tmp.path)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));

    let checkpoint_value: serde_json::Value = serde_json::from_str(&checkpoint.to_json())
        .map_err(|e| Error::Internal(format!("checkpoint JSON: {e}")))?;
    let m = Manifest {
        format: manifest::FORMAT.into(),
        version: manifest::VERSION,
        generator: meta.generator.clone(),
        created_at: time_text(req.now),
        exported_by: req.actor.clone(),
        filters: filters_json(&req.query),
        formats: req.formats.names(),
        runs: rows.len() as u64,
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
    mf.w()
        .write_all(text.as_bytes())
        .map_err(|e| io_err(&tmp.path.join(manifest::FILE), &e))?;
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
            "runs": rows.len(),
            "events": events,
            "manifest_sha256": manifest_sha256,
            "checkpoint_head_seq": checkpoint.head_seq,
            "checkpoint_head_hash": checkpoint.head_hash,
            "generator": meta.generator,
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
        runs: rows.len(),
        events,
        files,
        manifest_sha256,
        checkpoint,
        export_seq: recorded.seq,
    })
}

/// Best effort: make a directory's entries durable.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Rename the finished temporary directory to the target.
fn place(tmp: &Path, out: &Path, target: Target, parent: &Path, name: &str) -> io::Result<()> {
    match target {
        Target::Absent => fs::rename(tmp, out),
        Target::Empty => fs::rename(tmp, out).or_else(|_| {
            fs::remove_dir(out)?;
            fs::rename(tmp, out)
        }),
        Target::Replace => {
            let old = parent.join(format!(".{name}.runsheet-old-{}", std::process::id()));
            fs::rename(out, &old)?;
            if let Err(e) = fs::rename(tmp, out) {
                let _ = fs::rename(&old, out);
                return Err(e);
            }
            let _ = fs::remove_dir_all(&old);
            Ok(())
        }
    }
}

/// Write every file but the manifest; returns their entries and the number of events exported.
fn write_files(
    store: &Store,
    req: &ExportRequest,
    meta: &ReportMeta,
    rows: &[RunRow],
    dir: &Path,
) -> Result<(Vec<FileEntry>, u64), Error> {
    let mut files = Vec::new();
    let head = meta.checkpoint.head_seq;

    // procedures/<sha256>.<format>: the exact sources, once each.
    let mut catalog = Catalog::new();
    let mut sources: BTreeMap<String, String> = BTreeMap::new(); // sha -> format
    for r in rows {
        if sources.contains_key(&r.procedure_sha256) {
            continue;
        }
        let Some((text, format)) = store.procedure_source(&r.procedure_sha256)? else {
            return Err(Error::Store {
                path: store.path().to_path_buf(),
                message: format!(
                    "the procedure source {} of run {} is missing; run `runsheet verify`. Nothing was exported",
                    r.procedure_sha256, r.id
                ),
            });
        };
        let format = if format == "json" { "json" } else { "toml" }.to_string();
        if !is_sha256(&r.procedure_sha256) {
            return Err(Error::Store {
                path: store.path().to_path_buf(),
                message: format!(
                    "run {} names an unreadable procedure hash {:?}; run `runsheet verify`. Nothing was exported",
                    r.id, r.procedure_sha256
                ),
            });
        }
        let rel = format!("procedures/{}.{format}", r.procedure_sha256);
        let mut f = BundleFile::create(dir, &rel)?;
        f.w()
            .write_all(text.as_bytes())
            .map_err(|e| io_err(&dir.join(&rel), &e))?;
        files.push(f.finish()?);
        catalog.get(store, &r.procedure_sha256)?;
        sources.insert(r.procedure_sha256.clone(), format);
    }

    // One pass over the log: events.csv, evidence.json's events, per-run stats.
    let index = run_index(rows);
    let mut stats = vec![RunStats::default(); rows.len()];
    let mut events_csv = if req.formats.csv {
        let mut f = BundleFile::create(dir, "events.csv")?;
        csv::write_header(f.w(), csv::EVENTS_COLUMNS).map_err(|e| io_err(f.path(), &e))?;
        Some(f)
    } else {
        None
    };
    let mut evidence = if req.formats.json {
        let f = BundleFile::create(dir, "evidence.json")?;
        let path = f.path().to_path_buf();
        let mut ew = json::EvidenceWriter::begin(f, meta).map_err(|e| io_err(&path, &e))?;
        for r in rows {
            ew.run(r).map_err(|e| io_err(&path, &e))?;
        }
        Some((ew, path))
    } else {
        None
    };
    let mut failure: Option<Error> = None;
    let walked = store.for_each_event(1, |e| {
        if e.seq > head {
            return Ok(());
        }
        let Some(&i) = e.run_id.as_ref().and_then(|id| index.get(id)) else {
            return Ok(());
        };
        let row = &rows[i];
        stats[i].add(&e.kind);
        let result = (|| -> Result<(), Error> {
            if let Some(f) = events_csv.as_mut() {
                let entry = describe(&e, catalog.loaded(&row.procedure_sha256));
                csv::write_event(f.w(), &e, &row.procedure_id, &entry)
                    .map_err(|err| io_err(f.path(), &err))?;
            }
            if let Some((ew, path)) = evidence.as_mut() {
                ew.event(&e).map_err(|err| io_err(path, &err))?;
            }
            Ok(())
        })();
        result.map_err(|err| {
            failure = Some(err);
            StoreError::Invalid("export stopped".into())
        })
    });
    if let Some(err) = failure {
        return Err(err);
    }
    walked?;
    if let Some(f) = events_csv {
        files.push(f.finish()?);
    }
    if let Some((mut ew, path)) = evidence {
        for (sha, format) in &sources {
            let (text, _) = store.procedure_source(sha)?.unwrap_or_default();
            ew.procedure(sha, format, &text)
                .map_err(|e| io_err(&path, &e))?;
        }
        let f = ew.finish().map_err(|e| io_err(&path, &e))?;
        files.push(f.finish()?);
    }
    let events: u64 = stats.iter().map(|s| s.events).sum();

    if req.formats.csv {
        let mut f = BundleFile::create(dir, "runs.csv")?;
        let path = f.path().to_path_buf();
        csv::write_header(f.w(), csv::RUNS_COLUMNS).map_err(|e| io_err(&path, &e))?;
        for (r, s) in rows.iter().zip(&stats) {
            csv::write_run(f.w(), r, s).map_err(|e| io_err(&path, &e))?;
        }
        files.push(f.finish()?);
    }

    if req.formats.html || req.formats.md {
        let mut summary = Summary::default();
        for (r, s) in rows.iter().zip(&stats) {
            summary.add(r, s);
        }
        let meta = ReportMeta {
            events,
            ..meta.clone()
        };
        files.extend(write_reports(
            store, req, &meta, &summary, rows, &stats, &catalog, dir,
        )?);
    }

    let mut f = BundleFile::create(dir, "checkpoint.json")?;
    f.w()
        .write_all(meta.checkpoint.to_json().as_bytes())
        .map_err(|e| io_err(&dir.join("checkpoint.json"), &e))?;
    files.push(f.finish()?);
    Ok((files, events))
}

/// report.html and report.md, one run at a time.
#[allow(clippy::too_many_arguments)]
fn write_reports(
    store: &Store,
    req: &ExportRequest,
    meta: &ReportMeta,
    summary: &Summary,
    rows: &[RunRow],
    stats: &[RunStats],
    catalog: &Catalog,
    dir: &Path,
) -> Result<Vec<FileEntry>, Error> {
    let mut html_f = if req.formats.html {
        Some(BundleFile::create(dir, "report.html")?)
    } else {
        None
    };
    let mut md_f = if req.formats.md {
        Some(BundleFile::create(dir, "report.md")?)
    } else {
        None
    };
    let wrap = |f: &BundleFile| {
        let p = f.path().to_path_buf();
        move |e: io::Error| io_err(&p, &e)
    };
    if let Some(f) = html_f.as_mut() {
        let err = wrap(f);
        html::write_head(f.w(), meta, summary).map_err(&err)?;
        for (r, s) in rows.iter().zip(stats) {
            html::write_index_row(f.w(), r, s).map_err(&err)?;
        }
        html::write_index_end(f.w()).map_err(&err)?;
    }
    if let Some(f) = md_f.as_mut() {
        let err = wrap(f);
        markdown::write_head(f.w(), meta, summary).map_err(&err)?;
        for (r, s) in rows.iter().zip(stats) {
            markdown::write_index_row(f.w(), r, s).map_err(&err)?;
        }
        markdown::write_index_end(f.w()).map_err(&err)?;
    }
    let head = meta.checkpoint.head_seq;
    for (r, s) in rows.iter().zip(stats) {
        let events = store.events(r.id)?;
        let p = catalog.loaded(&r.procedure_sha256);
        let entries: Vec<_> = events
            .iter()
            .filter(|e| e.seq <= head)
            .map(|e| describe(e, p))
            .collect();
        if let Some(f) = html_f.as_mut() {
            let err = wrap(f);
            html::write_run(f.w(), r, s, &entries).map_err(&err)?;
        }
        if let Some(f) = md_f.as_mut() {
            let err = wrap(f);
            markdown::write_run(f.w(), r, s, &entries).map_err(&err)?;
        }
    }
    let mut out = Vec::new();
    if let Some(mut f) = html_f {
        let err = wrap(&f);
        html::write_foot(f.w(), meta).map_err(&err)?;
        out.push(f.finish()?);
    }
    if let Some(mut f) = md_f {
        let err = wrap(&f);
        markdown::write_foot(f.w(), meta).map_err(&err)?;
        out.push(f.finish()?);
    }
    Ok(out)
}

/// 64 lower-case hex digits (safe as a file name).
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
