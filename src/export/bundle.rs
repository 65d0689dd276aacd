//! Writing an audit bundle: checks on the target directory, a temporary
//! directory next to it (same file system) that is renamed into place at the
//! end, the files written one record at a time and hashed as they are
//! written, the manifest, and the `export` event in the log.
//!
//! Order: inside one read snapshot of the log, the whole log is verified
//! (a failure stops the export unless `--allow-unverified`), the data head
//! is taken, then the matching runs are read twice, oldest first — once for
//! their rows (runs.csv, evidence.json's runs, the summary and the report
//! indexes), once for their events (events.csv, evidence.json's events, the
//! timelines), then the records between the first exported event and the
//! data head that belong to no exported run (evidence.json's `links`, one
//! query). Then the export is recorded in the log: an `export` event
//! whose payload lists every data file's SHA-256. Then export.json (that
//! record), checkpoint.json (the chain head at that record, so a checkpoint
//! covers every file) and the manifest; then the directory is renamed into
//! place. Any failure before the record removes the temporary directory: a
//! failed export leaves nothing behind. A log that cannot be written is
//! exported without a record, and the bundle says so. Memory holds the
//! summary and a few runs' events (in short queues), whatever the size of
//! the log.
//!
//! May not depend on the front ends or the app.

pub(super) mod file;
mod outputs;
pub mod signed;
mod target;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use self::file::BundleFile;
use self::outputs::{Outputs, RunBatch};
use self::target::{TempDir, check_target, parent_dir, place, sync_dir};
use super::manifest::{self, FileEntry, Manifest};
use super::{FiltersJson, KIND_EXPORT, ReportMeta, Summary, Verdict, VerdictJson, filters_json};
use crate::error::Error;
use crate::report::{Catalog, RunStats};
use crate::store::log_payload::LogPayload;
use crate::store::{
    Checkpoint, Problem, RunQuery, RunRow, Store, StoredEvent, Visit, canonical_json, time_text,
};

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
    /// runs.xlsx
    pub xlsx: bool,
    /// oscal/assessment-results.json
    pub oscal: bool,
}

impl Default for Formats {
    fn default() -> Self {
        Formats {
            html: true,
            csv: true,
            json: true,
            md: true,
            xlsx: true,
            oscal: true,
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
            (self.xlsx, "xlsx"),
            (self.oscal, "oscal"),
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
    /// Write the bundle even when the log fails verification; every file
    /// then says so.
    pub allow_unverified: bool,
    /// Who exports (recorded in the manifest and the export event).
    pub actor: String,
    /// Export time (injected for reproducible tests).
    pub now: DateTime<Utc>,
    /// Witnesses to cosign the export's checkpoint before the bundle is
    /// written, each reached through a shell command (as `cosign --via`).
    pub cosign: Vec<CosignWith>,
}

/// A witness and the command that reaches it.
#[derive(Debug, Clone)]
pub struct CosignWith {
    pub witness: crate::custody::note::Verifier,
    pub via: String,
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
    /// checkpoint.json: the chain head at the export record (or, unrecorded,
    /// the data head).
    pub checkpoint: Checkpoint,
    /// The head the export read and verified.
    pub data_head: Checkpoint,
    pub verdict: Verdict,
    /// The `export` event's seq in the log; `None` when the log could not be written.
    pub export_seq: Option<i64>,
    /// The tree size of the signed checkpoint the bundle carries; `None`
    /// when it carries none (the log could not be written, or signing failed).
    pub signed_size: Option<u64>,
    /// Inclusion proofs written (a sample packet's).
    pub proofs: usize,
}

/// `runsheet export --json` (docs/json.md): what the export wrote.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ExportJson {
    /// The bundle's folder.
    pub out: String,
    /// Runs in the bundle.
    pub run_count: usize,
    /// Events in the bundle.
    pub event_count: u64,
    /// Every file but manifest.json, sorted by path.
    pub files: Vec<FileEntry>,
    /// SHA-256 (hex) of manifest.json.
    pub manifest_sha256: String,
    /// checkpoint.json's head: the export event, or (not recorded) the data head.
    pub checkpoint_head_seq: i64,
    /// The last event the export read and verified.
    pub data_head_seq: i64,
    /// The `export` event's seq; null when the log could not be written.
    pub export_event_seq: Option<i64>,
    /// The tree size of the signed checkpoint the bundle carries; null when it carries none.
    pub signed_checkpoint_size: Option<u64>,
    /// Inclusion proofs written (a sample packet's).
    pub proofs: usize,
    pub verification: crate::export::VerdictJson,
}

impl ExportSummary {
    /// The `export --json` output.
    pub fn to_json(&self) -> ExportJson {
        ExportJson {
            out: self.out.display().to_string(),
            run_count: self.runs,
            event_count: self.events,
            files: self.files.clone(),
            manifest_sha256: self.manifest_sha256.clone(),
            checkpoint_head_seq: self.checkpoint.head_seq,
            data_head_seq: self.data_head.head_seq,
            export_event_seq: self.export_seq,
            signed_checkpoint_size: self.signed_size,
            proofs: self.proofs,
            verification: self.verdict.data(),
        }
    }
}

/// Export an audit bundle (see the module docs for the order of things).
pub fn export(store: &mut Store, req: &ExportRequest) -> Result<ExportSummary, Error> {
    // Drills are practice: never in the population of production runs
    // (docs/training.md); their records are links, and training.csv lists them.
    let production = ExportRequest {
        query: RunQuery {
            drill: Some(false),
            ..req.query.clone()
        },
        ..req.clone()
    };
    let req = &production;
    let parent = parent_dir(&req.out)?;
    let target = check_target(&req.out, req.force)?;
    let name = req
        .out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".into());

    let (tmp, written) = store.read_snapshot(|s| {
        let report = s.verify()?;
        let verdict = Verdict::of(&report);
        if let Some(f) = report.finding.as_ref().filter(|f| f.problem == Problem::Damaged) {
            // Not even --allow-unverified: a damaged file cannot be read whole.
            return Err(Error::Store {
                path: s.path().to_path_buf(),
                message: format!(
                    "the file is damaged ({}); nothing was exported, since part of the log could be taken for all of it. Restore it from a backup",
                    f.message
                ),
            });
        }
        if !verdict.verified && !req.allow_unverified {
            return Err(Error::CheckFailed(format!(
                "the evidence log failed verification, so nothing was exported:\n{report}\n\
                 Find out what happened with `runsheet verify` and restore the log from a backup; \
                 or export anyway with --allow-unverified, and every file of that bundle will say it is unverified and why"
            )));
        }
        let tmp = TempDir::create(&parent, &name, req.now)?;
        let written = write_bundle(s, req, &tmp.path, verdict)?;
        Ok::<_, Error>((tmp, written))
    })?;
    let Written {
        mut files,
        runs,
        events,
        checkpoint: data_head,
        verdict,
        record_format_2_from,
    } = written;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let generator = super::generator();
    if store.changed_since_open() {
        return Err(Error::Store {
            path: store.path().to_path_buf(),
            message: "the log was changed by another process while it was exported without locks (it is read-only to this process); nothing was exported. Export again when it is idle".into(),
        });
    }

    // The record of the export: every data file's SHA-256, in the chain.
    let out_text = fs::canonicalize(&parent)
        .map(|p| p.join(&name))
        .unwrap_or_else(|_| req.out.clone())
        .display()
        .to_string();
    let event = ExportRecord {
        out: out_text,
        filters: FiltersJson::of(&req.query),
        formats: req.formats.names(),
        runs,
        events,
        files: files.clone(),
        data_head_seq: data_head.head_seq,
        data_head_hash: data_head.head_hash.clone(),
        record_format_2_from,
        verification: verdict.data(),
        generator: generator.clone(),
    }
    .event(&req.actor, req.now);
    let recorded = if store.is_read_only() {
        None
    } else {
        Some(store.append_log_event(&event).map_err(|e| match Error::from(e) {
            Error::Store { path, message } => Error::Store {
                path,
                message: format!(
                    "{message} (an export must be recorded in the log, so no bundle was left at {})",
                    req.out.display()
                ),
            },
            other => other,
        })?)
    };
    let checkpoint = match &recorded {
        Some(r) => Checkpoint {
            events: r.seq,
            head_seq: r.seq,
            head_hash: r.hash.clone(),
            at: Some(r.at),
        },
        None => data_head.clone(),
    };
    let after_record = |e: Error| match &recorded {
        Some(r) => Error::Io {
            path: req.out.clone(),
            message: format!(
                "the bundle's data was written and its export recorded (log event {}), but finishing it failed: {e}; nothing was left at the target",
                r.seq
            ),
        },
        None => e,
    };

    let mut all = files.clone();
    let export_text = recorded.as_ref().map(export_record_json);
    if let Some(text) = &export_text {
        all.push(write_text(&tmp.path, EXPORT_FILE, text).map_err(after_record)?);
    }
    all.push(
        write_text(&tmp.path, "checkpoint.json", &checkpoint.to_json()).map_err(after_record)?,
    );
    // The signed part: the checkpoint made with the export record, its
    // proof, and a sample packet's proofs.
    let signed_cp = match &recorded {
        Some(r) => {
            let cp = signed::checkpoint_at(store, r.seq).map_err(after_record)?;
            if cp.is_ok() {
                for w in &req.cosign {
                    signed::cosign(store, w, r.seq).map_err(after_record)?;
                }
                // Again, now with the cosignatures.
                signed::checkpoint_at(store, r.seq).map_err(after_record)?
            } else {
                cp
            }
        }
        None => Err("the evidence log could not be written (read-only), so no checkpoint was signed for this export".into()),
    };
    let mut proofs = 0;
    let custody = match (&signed_cp, &recorded, &export_text) {
        (Ok(cp), Some(r), Some(text)) => {
            all.push(
                write_text(&tmp.path, signed::CHECKPOINT_FILE, &cp.note).map_err(after_record)?,
            );
            let proof = signed::export_proof(store, r, text, cp).map_err(after_record)?;
            all.push(
                write_text(&tmp.path, signed::EXPORT_PROOF_FILE, &proof).map_err(after_record)?,
            );
            let sample = signed::sample_proofs(store, &req.query.ids, cp, &tmp.path, write_text)
                .map_err(after_record)?;
            proofs = sample.len();
            all.extend(sample);
            let vkey = store.log_key()?.map(|k| k.vkey);
            let c = cp.signed.checkpoint();
            serde_json::json!({
                "signed": true,
                "checkpoint": signed::CHECKPOINT_FILE,
                "origin": c.origin(),
                "vkey": vkey,
                "tree_size": c.size(),
                "export_proof": signed::EXPORT_PROOF_FILE,
                "manifest_signature": signed::MANIFEST_SIG_FILE,
                "sample": req.query.ids.iter().map(|id| id.hyphenated().to_string()).collect::<Vec<_>>(),
                "proofs": proofs,
            })
        }
        (Err(why), _, _) if !req.query.ids.is_empty() => {
            return Err(after_record(Error::Store {
                path: store.path().to_path_buf(),
                message: format!(
                    "a sample packet needs the log's signed checkpoint for its proofs, and there is none: {why}"
                ),
            }));
        }
        (Err(why), _, _) => serde_json::json!({"signed": false, "why": why}),
        _ => serde_json::json!({"signed": false, "why": "the export is in no log"}),
    };
    all.sort_by(|a, b| a.path.cmp(&b.path));
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
        verification: verdict.to_json(),
        data_head: serde_json::json!({"seq": data_head.head_seq, "hash": data_head.head_hash}),
        export: match &recorded {
            Some(r) => serde_json::json!({"recorded": true, "seq": r.seq, "hash": r.hash}),
            None => serde_json::json!({
                "recorded": false,
                "seq": null,
                "hash": null,
                "why": "the evidence log could not be written (read-only), so this export is in no log and its files are bound only by this manifest",
            }),
        },
        checkpoint: checkpoint_value,
        custody,
        files: all.clone(),
        self_sha256: String::new(),
    };
    let text = m
        .to_text()
        .map_err(|e| Error::Internal(format!("manifest JSON: {e}")))?;
    let manifest_sha256 = crate::store::sha256_hex(text.as_bytes());
    write_text(&tmp.path, manifest::FILE, &text).map_err(after_record)?;
    // The manifest's signature, by the log's key (not listed in the manifest
    // it signs).
    if let Ok(cp) = &signed_cp {
        let note = store
            .sign_note(&signed::manifest_note_text(
                cp.signed.checkpoint().origin(),
                &manifest_sha256,
            ))
            .map_err(|e| after_record(e.into()))?;
        write_text(&tmp.path, signed::MANIFEST_SIG_FILE, &note).map_err(after_record)?;
    }
    sync_dir(&tmp.path.join("procedures"));
    sync_dir(&tmp.path);

    let mut tmp = tmp;
    place(&tmp.path, &req.out, target, &parent, &name).map_err(|e| Error::Io {
        path: req.out.clone(),
        message: match &recorded {
            Some(r) => format!(
                "the bundle was written and its export recorded (log event {}), but it could not be moved into place: {e}; nothing was left at the target",
                r.seq
            ),
            None => format!("the bundle could not be moved into place: {e}; nothing was left at the target"),
        },
    })?;
    tmp.keep = true;
    sync_dir(&parent);
    Ok(ExportSummary {
        out: req.out.clone(),
        runs,
        events,
        files: all,
        manifest_sha256,
        checkpoint,
        data_head,
        verdict,
        export_seq: recorded.map(|r| r.seq),
        signed_size: signed_cp.ok().map(|cp| cp.signed.checkpoint().size()),
        proofs,
    })
}

/// The bundle file that holds the log's record of the export.
pub const EXPORT_FILE: &str = "export.json";
/// The bundle file an unverified bundle carries at its root.
pub const UNVERIFIED_FILE: &str = "UNVERIFIED.txt";

/// export.json: the `export` event exactly as the log stores it (its
/// payload the canonical text its hash covers), so a checkpoint whose head it
/// is proves every file it lists.
pub fn export_record_json(r: &StoredEvent) -> String {
    let payload = canonical_json(&r.payload);
    let mut text = String::from("{\n");
    let mut field = |name: &str, value: String, last: bool| {
        text.push_str(&format!(
            "  \"{name}\": {value}{}\n",
            if last { "" } else { "," }
        ));
    };
    let s = |v: &str| serde_json::Value::String(v.to_string()).to_string();
    field("format", s("runsheet-export-record"), false);
    field("record_format", "2".into(), false);
    field("seq", r.seq.to_string(), false);
    field("run_id", "null".into(), false);
    field("run_seq", r.run_seq.to_string(), false);
    field("at", s(&time_text(r.at)), false);
    field("actor", s(&r.actor), false);
    field("kind", s(&r.kind), false);
    field("step", "null".into(), false);
    field("payload", payload, false);
    field("payload_sha256", s(&r.payload_sha256), false);
    field("prev_hash", s(&r.prev_hash), false);
    field("hash", s(&r.hash), true);
    text.push_str("}\n");
    text
}

fn unverified_text(verdict: &Verdict) -> String {
    format!(
        "THIS AUDIT BUNDLE IS NOT VERIFIED EVIDENCE.\n\n\
         The evidence log it was exported from failed verification at export:\n\n{}\n\n\
         It was written anyway because the export was asked to (--allow-unverified). Every file \
         says so: the report covers, evidence.json's and manifest.json's \"verification\", and the \
         log_verification column of runs.csv and events.csv. Do not rely on it as evidence of the \
         procedures followed; find out what happened to the log (runsheet verify) first.\n",
        verdict.sentence()
    )
}

/// Write a small file of the bundle in one go.
fn write_text(dir: &Path, name: &str, text: &str) -> Result<FileEntry, Error> {
    let mut f = BundleFile::create(dir, name)?;
    f.write_all(text.as_bytes()).map_err(|e| f.err(&e))?;
    f.finish()
}

/// The payload of the `export` event: who exported what, when, with every
/// data file's SHA-256 (docs/audit-bundle.md, "The export record").
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ExportRecord {
    /// Where the bundle was written (its absolute path when it resolved).
    pub out: String,
    pub filters: FiltersJson,
    /// The formats written (`--format`).
    pub formats: Vec<String>,
    /// How many runs the bundle holds.
    pub runs: usize,
    /// How many of their events it holds.
    pub events: u64,
    /// Every data file (all but export.json, checkpoint.json and the
    /// manifest), sorted by path.
    pub files: Vec<FileEntry>,
    /// The data head: the last record the bundle's files were made from.
    pub data_head_seq: i64,
    #[schemars(extend("pattern" = "^[0-9a-f]{64}$"))]
    pub data_head_hash: String,
    /// The first seq hashed as record format 2, `null` when none is.
    pub record_format_2_from: Option<i64>,
    /// The verify verdict at export.
    pub verification: VerdictJson,
    /// The runsheet that exported, e.g. `runsheet 0.1.0`.
    pub generator: String,
}

impl LogPayload for ExportRecord {
    const KIND: &'static str = KIND_EXPORT;
}

/// What the two passes wrote.
struct Written {
    files: Vec<FileEntry>,
    runs: usize,
    events: u64,
    /// The data head.
    checkpoint: Checkpoint,
    verdict: Verdict,
    record_format_2_from: Option<i64>,
}

/// Every data file (all but export.json, checkpoint.json and the manifest),
/// from one read snapshot of the log.
fn write_bundle(
    store: &Store,
    req: &ExportRequest,
    dir: &Path,
    verdict: Verdict,
) -> Result<Written, Error> {
    let checkpoint = store.checkpoint()?;
    let record_format_2_from = store.record_format_2_from()?;
    let mut meta = ReportMeta {
        created_at: req.now,
        exported_by: req.actor.clone(),
        generator: super::generator(),
        query: req.query.clone(),
        checkpoint: checkpoint.clone(),
        verdict,
        record_format_2_from,
        runs: 0,
        events: 0,
        training: training_records(store, &req.query)?,
        document_control: document_control(store, &req.query, checkpoint.head_seq)?,
    };
    let origin = oscal_origin(store, req.formats)?;
    let mut out = Outputs::create(dir, req.formats, &meta, origin.as_deref())?;
    let mut files = Vec::new();

    // Run pass: rows, counts, the summary, and each procedure source once.
    let mut summary = Summary::default();
    let mut catalog = Catalog::new();
    // sha256 -> (format, text), for procedures/ and evidence.json.
    let mut sources: BTreeMap<String, (String, String)> = BTreeMap::new();
    // procedure id -> the source of its latest exported run, for its cadence.
    let mut latest: BTreeMap<String, (DateTime<Utc>, String)> = BTreeMap::new();
    store.for_each_run(&req.query, true, |r, counts| {
        let stats = RunStats::from_counts(u64::try_from(r.event_count).unwrap_or(0), counts)
            .of_outcome(r.outcome.as_deref());
        summary.add(&r, &stats);
        match latest.get_mut(&r.procedure_id) {
            Some(l) if l.0 >= r.started_at => {}
            Some(l) => *l = (r.started_at, r.procedure_sha256.clone()),
            None => {
                latest.insert(
                    r.procedure_id.clone(),
                    (r.started_at, r.procedure_sha256.clone()),
                );
            }
        }
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

    for (id, (_, sha)) in &latest {
        let Some((format, text)) = sources.get(sha) else {
            continue;
        };
        if let Some(p) = crate::report::parse_stored(sha, text.clone(), format) {
            summary.check_cadence(store, id, &p, &req.query, req.now.date_naive())?;
        }
    }

    out.begin_events(dir, &meta, &summary)?;

    // Event pass: each run's events, copied once and formatted on the format threads.
    let (mut out, (exported, first_seq)) = out.events(catalog, store.path(), |send| {
        let mut exported = 0u64;
        let mut first_seq: Option<i64> = None;
        let mut batch: Option<RunBatch> = None;
        store.for_each_run_with_events(&req.query, |visit| {
            match visit {
                Visit::Start(r) => batch = Some(RunBatch::new(r)),
                Visit::Event(e) => {
                    first_seq = Some(first_seq.map_or(e.seq, |f| f.min(e.seq)));
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
        Ok((exported, first_seq))
    })?;
    if exported != meta.events {
        return Err(Error::Internal(format!(
            "the log changed during the export ({} events counted, {exported} read); nothing was exported",
            meta.events
        )));
    }

    // evidence.json's links: every record after the first exported event,
    // up to the data head, that its events do not hold (docs/audit-bundle.md).
    if let (Some(first), true) = (first_seq, out.has_evidence()) {
        store.for_each_link(&req.query, first, checkpoint.head_seq, |l| {
            out.link(store.path(), l)
        })?;
    }

    if req.formats.csv {
        files.push(write_training_csv(dir, &meta)?);
    }
    let procedures = sources
        .into_iter()
        .map(|(sha, (format, text))| (sha, format, text));
    let (more, oscal) = out.finish(&meta, procedures)?;
    files.extend(more);
    if !meta.verdict.verified {
        files.push(write_text(
            dir,
            UNVERIFIED_FILE,
            &unverified_text(&meta.verdict),
        )?);
    }
    // Last: the OSCAL file's back-matter carries every other data file's hash.
    if let Some(o) = oscal {
        files.push(o.finish(&meta, &summary, &files)?);
    }
    Ok(Written {
        files,
        runs: meta.runs,
        events: meta.events,
        checkpoint,
        verdict: meta.verdict,
        record_format_2_from,
    })
}

/// The approvals and reviews the log records up to `head` (of the query's
/// procedure, or of all), in words.
fn document_control(
    store: &Store,
    query: &RunQuery,
    head: i64,
) -> Result<Vec<crate::report::versions::ActLine>, Error> {
    Ok(store
        .procedure_acts(query.procedure.as_deref())?
        .iter()
        .filter(|a| a.seq <= head)
        .map(crate::report::versions::ActLine::of)
        .collect())
}

/// The training records (completed drills and supervised runs) of the runs
/// `query` selects, drills or not.
fn training_records(
    store: &Store,
    query: &RunQuery,
) -> Result<Vec<crate::report::training::TrainingRecord>, Error> {
    let all = RunQuery {
        drill: None,
        limit: None,
        ..query.clone()
    };
    let runs = store.runs(&all)?;
    Ok(crate::report::training::records(&runs, &store.sign_offs()?))
}

/// training.csv: one row per training record (docs/audit-bundle.md).
fn write_training_csv(dir: &Path, meta: &ReportMeta) -> Result<FileEntry, Error> {
    let mut f = BundleFile::create(dir, super::csv::TRAINING_FILE)?;
    super::csv::write_training(&mut f, &meta.training, &meta.verdict.mark())
        .map_err(|e| f.err(&e))?;
    f.finish()
}

/// The log's identity for the OSCAL file's UUIDs (when it is written):
/// its `log-key` origin, or for a log without a key (an old log read
/// read-only) `runsheet-unkeyed/<hash of its first record>`.
fn oscal_origin(store: &Store, formats: Formats) -> Result<Option<String>, Error> {
    if !formats.oscal {
        return Ok(None);
    }
    if let Some(k) = store.log_key()? {
        return Ok(Some(k.origin));
    }
    let first = store.event_key(1)?.map(|k| k.hash).unwrap_or_default();
    Ok(Some(format!("runsheet-unkeyed/{first}")))
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
    let format = crate::procedure::parse::Format::from_name(&format)
        .unwrap_or(crate::procedure::parse::Format::Toml)
        .name();
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
