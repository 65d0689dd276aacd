//! The bundle's data files for the chosen formats, fed in two passes over the
//! runs: first each run's row (runs.csv, runs.xlsx, evidence.json's runs, the report
//! indexes, spooled until the summary is known), then each run's events.
//! In the event pass the reading thread copies each run's events into a
//! [`RunBatch`] and hands the batches in turn to a few format threads; each
//! describes its run's events once and formats them for every file; a merge
//! thread appends the results to the files in run order. The queues are
//! short, so memory holds a few runs whatever the size of the log.
//!
//! May not depend on the store's internals, the front ends or the app.

use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::super::json::EvidenceWriter;
use super::super::manifest::FileEntry;
use super::super::xlsx::{self, RunsSheet};
use super::super::{ReportMeta, RunHead, Summary, csv, html, json, markdown, oscal};
use super::Formats;
use super::file::{BundleFile, Spool};
use crate::engine::Event;
use crate::error::Error;
use crate::report::timeline::{Entry, Payload, describe_ref, is_stored_time};
use crate::report::{Catalog, RunStats};
use crate::store::{ContentRef, EventRef, LinkRef, RunRow};

/// The pieces of one report format (HTML or Markdown).
struct Syntax {
    file: &'static str,
    head: fn(&mut BundleFile, &ReportMeta, &Summary) -> io::Result<()>,
    index_row: fn(&mut Spool, &RunRow, &RunStats) -> io::Result<()>,
    index_end: fn(&mut BundleFile) -> io::Result<()>,
    run_head: fn(&mut Vec<u8>, &RunHead<'_>) -> io::Result<()>,
    entry: fn(&mut Vec<u8>, &Entry<'_>) -> io::Result<()>,
    run_end: fn(&mut Vec<u8>) -> io::Result<()>,
    foot: fn(&mut BundleFile, &ReportMeta) -> io::Result<()>,
}

const HTML: Syntax = Syntax {
    file: "report.html",
    head: html::write_head,
    index_row: html::write_index_row,
    index_end: html::write_index_end,
    run_head: html::write_run_head,
    entry: html::write_entry,
    run_end: html::write_run_end,
    foot: html::write_foot,
};

const MARKDOWN: Syntax = Syntax {
    file: "report.md",
    head: markdown::write_head,
    index_row: markdown::write_index_row,
    index_end: markdown::write_index_end,
    run_head: markdown::write_run_head,
    entry: markdown::write_entry,
    run_end: markdown::write_run_end,
    foot: markdown::write_foot,
};

/// One report: its index spooled during the run pass, then the file itself.
struct Report {
    syntax: &'static Syntax,
    index: Option<Spool>,
    file: Option<BundleFile>,
}

impl Report {
    fn create(dir: &Path, syntax: &'static Syntax) -> Result<Report, Error> {
        Ok(Report {
            syntax,
            index: Some(Spool::create(dir, &format!(".{}.index", syntax.file))?),
            file: None,
        })
    }

    fn index_row(&mut self, r: &RunRow, stats: &RunStats) -> Result<(), Error> {
        if let Some(spool) = self.index.as_mut() {
            (self.syntax.index_row)(spool, r, stats).map_err(|e| spool.err(&e))?;
        }
        Ok(())
    }

    /// Head and summary, then the spooled index.
    fn begin(&mut self, dir: &Path, meta: &ReportMeta, summary: &Summary) -> Result<(), Error> {
        let mut f = BundleFile::create(dir, self.syntax.file)?;
        (self.syntax.head)(&mut f, meta, summary).map_err(|e| f.err(&e))?;
        if let Some(spool) = self.index.take() {
            spool.copy_into(&mut f)?;
        }
        (self.syntax.index_end)(&mut f).map_err(|e| f.err(&e))?;
        self.file = Some(f);
        Ok(())
    }

    /// One run's section, formatted by a format thread.
    fn section(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if let Some(f) = self.file.as_mut() {
            f.write_all(bytes).map_err(|e| f.err(&e))?;
        }
        Ok(())
    }

    fn finish(mut self, meta: &ReportMeta) -> Result<Option<FileEntry>, Error> {
        let Some(mut f) = self.file.take() else {
            return Ok(None);
        };
        (self.syntax.foot)(&mut f, meta).map_err(|e| f.err(&e))?;
        f.finish().map(Some)
    }
}

/// One run and its events, owned (one text buffer), for the format threads.
pub struct RunBatch {
    row: RunRow,
    stats: RunStats,
    text: String,
    events: Vec<Slots>,
}

/// Where one event's fields are in [`RunBatch::text`].
struct Slots {
    seq: i64,
    run_seq: i64,
    /// run_id, at, actor, kind, payload_sha256, prev_hash, hash.
    texts: [Range<usize>; 7],
    step: Option<Range<usize>>,
    payload: Range<usize>,
    content: Option<SlotContent>,
}

/// Where an event's content is in [`RunBatch::text`], or which redaction erased it.
enum SlotContent {
    Held {
        salt: Range<usize>,
        content: Range<usize>,
    },
    Redacted(i64),
}

impl RunBatch {
    /// An empty batch for this run.
    pub fn new(row: &RunRow) -> RunBatch {
        RunBatch {
            row: row.clone(),
            stats: RunStats::default().of_outcome(row.outcome.as_deref()),
            // Room for a typical run, so the copies rarely reallocate.
            text: String::with_capacity(8 * 1024),
            events: Vec::with_capacity(32),
        }
    }

    fn keep(&mut self, s: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(s);
        start..self.text.len()
    }

    /// Copy one event in.
    pub fn push(&mut self, e: &EventRef<'_>) {
        self.stats.add(e.kind);
        let texts = [
            self.keep(e.run_id),
            self.keep(e.at),
            self.keep(e.actor),
            self.keep(e.kind),
            self.keep(e.payload_sha256),
            self.keep(e.prev_hash),
            self.keep(e.hash),
        ];
        let step = e.step.map(|s| self.keep(s));
        let payload = self.keep(e.payload);
        let content = e.content.map(|c| match c {
            ContentRef::Held { salt, content } => SlotContent::Held {
                salt: self.keep(salt),
                content: self.keep(content),
            },
            ContentRef::Redacted { by } => SlotContent::Redacted(by),
        });
        self.events.push(Slots {
            seq: e.seq,
            run_seq: e.run_seq,
            texts,
            step,
            payload,
            content,
        });
    }

    /// How many events, of which kinds.
    pub fn stats(&self) -> &RunStats {
        &self.stats
    }

    /// All events are in: the row's event count and last activity from them
    /// (the run cursor of the event pass does not compute those).
    pub fn complete(&mut self, log: &Path) -> Result<(), Error> {
        self.row.event_count = i64::try_from(self.events.len()).unwrap_or(i64::MAX);
        if let Some(last) = self.events().last().map(|e| (e.seq, e.at.to_string())) {
            let (seq, at) = last;
            self.row.last_at = chrono::DateTime::parse_from_rfc3339(&at)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| corrupt(log, seq, &format!("an unreadable time {at:?}")))?;
        }
        Ok(())
    }

    fn events(&self) -> impl Iterator<Item = EventRef<'_>> {
        let t = |r: &Range<usize>| self.text.get(r.clone()).unwrap_or_default();
        self.events.iter().map(move |s| {
            let [run_id, at, actor, kind, payload_sha256, prev_hash, hash] = &s.texts;
            EventRef {
                seq: s.seq,
                run_id: t(run_id),
                run_seq: s.run_seq,
                at: t(at),
                actor: t(actor),
                kind: t(kind),
                step: s.step.as_ref().map(t),
                payload: t(&s.payload),
                payload_sha256: t(payload_sha256),
                prev_hash: t(prev_hash),
                hash: t(hash),
                content: s.content.as_ref().map(|c| match c {
                    SlotContent::Held { salt, content } => ContentRef::Held {
                        salt: t(salt),
                        content: t(content),
                    },
                    SlotContent::Redacted(by) => ContentRef::Redacted { by: *by },
                }),
            }
        })
    }
}

/// A stored event the export cannot read: nothing is exported.
fn corrupt(log: &Path, seq: i64, what: &str) -> Error {
    Error::Store {
        path: log.to_path_buf(),
        message: format!("event seq {seq} has {what}; run `runsheet verify`. Nothing was exported"),
    }
}

/// An event described for people, with a command's exit code; or why the
/// stored event cannot be exported.
fn described<'a>(
    e: &EventRef<'a>,
    catalog: &'a Catalog,
    row: &RunRow,
    log: &Path,
) -> Result<(Entry<'a>, Option<i64>), Error> {
    if !is_stored_time(e.at) {
        return Err(corrupt(
            log,
            e.seq,
            &format!("an unreadable time {:?}", e.at),
        ));
    }
    let Some(payload) = Payload::read_ref(e) else {
        return Err(corrupt(log, e.seq, "a payload that is not JSON"));
    };
    let exit_code = match &payload {
        Payload::Known(Event::CommandRan { result, .. }) => result.exit_code.map(i64::from),
        _ => None,
    };
    let p = catalog.loaded(&row.procedure_sha256);
    Ok((describe_ref(e, payload, p), exit_code))
}

/// What one run becomes in each file.
#[derive(Default)]
struct RunOutput {
    csv: Vec<u8>,
    /// evidence.json's event objects, `,\n` between them.
    json: Vec<u8>,
    /// One section per report, in [`Plan::reports`] order.
    reports: Vec<Vec<u8>>,
    /// The run's OSCAL observation.
    oscal: Vec<u8>,
}

/// What the format threads write.
struct Plan {
    csv: bool,
    json: bool,
    reports: Vec<&'static Syntax>,
    catalog: Catalog,
    log: PathBuf,
    /// Each CSV row's `log_verification`.
    mark: String,
    oscal: Option<oscal::Observer>,
}

impl RunOutput {
    /// Empty, keeping the capacity (buffers go round between the threads).
    fn cleared(mut self, reports: usize) -> RunOutput {
        self.csv.clear();
        self.json.clear();
        self.oscal.clear();
        self.reports.resize_with(reports, Vec::new);
        self.reports.iter_mut().for_each(Vec::clear);
        self
    }
}

impl Plan {
    /// Describe a run's events once and format them for every file, into `out`.
    fn format(&self, batch: &RunBatch, out: RunOutput) -> Result<RunOutput, Error> {
        let mut out = out.cleared(self.reports.len());
        let seqs = batch.events.first().zip(batch.events.last());
        // An unfinished run's head says where it stopped: its last event, described.
        let last = match batch.events().last() {
            Some(e) if batch.stats.unfinished && !self.reports.is_empty() => {
                Some(described(&e, &self.catalog, &batch.row, &self.log)?.0)
            }
            _ => None,
        };
        let head = RunHead {
            row: &batch.row,
            stats: &batch.stats,
            seqs: seqs.map(|(f, l)| (f.seq, l.seq)),
            last: last.as_ref(),
        };
        // Writing into memory cannot fail; `described` can.
        for (syntax, section) in self.reports.iter().zip(&mut out.reports) {
            let _ = (syntax.run_head)(section, &head);
        }
        let mut commands_ran = 0u64;
        for e in batch.events() {
            if e.kind == crate::vocab::EventKind::CommandRan.as_str() {
                commands_ran += 1;
            }
            let (entry, exit_code) = described(&e, &self.catalog, &batch.row, &self.log)?;
            if self.csv {
                let _ = csv::write_event(
                    &mut out.csv,
                    &e,
                    &batch.row.procedure_id,
                    &entry,
                    exit_code,
                    &self.mark,
                );
            }
            if self.json {
                if !out.json.is_empty() {
                    out.json.extend_from_slice(b",\n");
                }
                let _ = json::write_event(&mut out.json, &e);
            }
            for (syntax, section) in self.reports.iter().zip(&mut out.reports) {
                let _ = (syntax.entry)(section, &entry);
            }
        }
        for (syntax, section) in self.reports.iter().zip(&mut out.reports) {
            let _ = (syntax.run_end)(section);
        }
        if let Some(o) = &self.oscal {
            o.observation(&batch.row, &batch.stats, commands_ran, &mut out.oscal)
                .map_err(|e| Error::Internal(format!("the OSCAL observation: {e}")))?;
        }
        Ok(out)
    }
}

/// events.csv, evidence.json and the reports while the event pass appends to them.
struct EventFiles {
    events_csv: Option<BundleFile>,
    evidence: Option<EvidenceWriter<BundleFile>>,
    reports: Vec<Report>,
    oscal: Option<oscal::Writer>,
}

impl EventFiles {
    fn append(&mut self, out: &RunOutput) -> Result<(), Error> {
        if let Some(f) = self.events_csv.as_mut() {
            f.write_all(&out.csv).map_err(|e| f.err(&e))?;
        }
        if let Some(ev) = self.evidence.as_mut() {
            ev.events(&out.json).map_err(|e| ev.get().err(&e))?;
        }
        for (report, section) in self.reports.iter_mut().zip(&out.reports) {
            report.section(section)?;
        }
        if let Some(o) = self.oscal.as_mut() {
            o.append(&out.oscal)?;
        }
        Ok(())
    }
}

/// Batches waiting for each format thread, and results waiting for the merge.
const QUEUE: usize = 16;

/// The event pass's threads: format threads taking runs in turn, and the
/// merge thread appending their results in the same turn.
struct Pipeline {
    inputs: Vec<SyncSender<RunBatch>>,
    formatters: Vec<JoinHandle<()>>,
    /// Returns the files and how many runs it appended.
    merger: Option<JoinHandle<Result<(EventFiles, usize), Error>>>,
    next: usize,
}

impl Pipeline {
    fn start(plan: Plan, mut files: EventFiles) -> Result<Pipeline, Error> {
        let spawn_err =
            |e: io::Error| Error::Internal(format!("cannot start an export thread: {e}"));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
        let plan = Arc::new(plan);
        let mut inputs = Vec::new();
        let mut results = Vec::new();
        let mut formatters = Vec::new();
        let mut recycle = Vec::new();
        for i in 0..threads {
            let (input, batches) = sync_channel::<RunBatch>(QUEUE);
            let (result, outputs) = sync_channel::<Result<RunOutput, Error>>(QUEUE);
            let (give_back, spare) = sync_channel::<RunOutput>(QUEUE + 2);
            let plan = Arc::clone(&plan);
            let handle = std::thread::Builder::new()
                .name(format!("export format {i}"))
                .spawn(move || {
                    for batch in batches {
                        let out = spare.try_recv().unwrap_or_default();
                        let formatted = plan.format(&batch, out);
                        let failed = formatted.is_err();
                        if result.send(formatted).is_err() || failed {
                            return;
                        }
                    }
                })
                .map_err(spawn_err)?;
            inputs.push(input);
            results.push(outputs);
            recycle.push(give_back);
            formatters.push(handle);
        }
        let merger = std::thread::Builder::new()
            .name("export merge".into())
            .spawn(move || {
                // Run i went to format thread i % n: take the results in that turn.
                let mut merged = 0;
                for turn in (0..results.len()).cycle() {
                    let Ok(formatted) = results[turn].recv() else {
                        break; // that thread had no run i: all runs are in
                    };
                    let formatted = formatted?;
                    files.append(&formatted)?;
                    merged += 1;
                    let _ = recycle[turn].try_send(formatted);
                }
                Ok((files, merged))
            })
            .map_err(spawn_err)?;
        Ok(Pipeline {
            inputs,
            formatters,
            merger: Some(merger),
            next: 0,
        })
    }

    /// Hand over the next run; false when the threads stopped (their error comes from `finish`).
    fn send(&mut self, batch: RunBatch) -> bool {
        let i = self.next % self.inputs.len();
        self.next += 1;
        self.inputs.get(i).is_some_and(|tx| tx.send(batch).is_ok())
    }

    /// Wait for every run to be appended. A format thread that stopped
    /// without a result (a bug) would look like the end of the runs to the
    /// merge thread, so the runs appended are counted against the runs sent.
    fn finish(mut self) -> Result<EventFiles, Error> {
        self.inputs.clear(); // the format threads end when their queues are empty
        // Join every thread (no short cut), then see whether one panicked.
        let joined: Vec<bool> = self
            .formatters
            .drain(..)
            .map(|f| f.join().is_ok())
            .collect();
        let formatters_ok = joined.iter().all(|ok| *ok);
        let (files, merged) = match self.merger.take().map(JoinHandle::join) {
            Some(Ok(result)) => result?,
            _ => return Err(Error::Internal("an export thread stopped".into())),
        };
        if !formatters_ok || merged != self.next {
            return Err(Error::Internal(format!(
                "an export thread stopped: {merged} of {} runs were written; nothing was exported",
                self.next
            )));
        }
        Ok(files)
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.inputs.clear();
        for f in self.formatters.drain(..) {
            let _ = f.join();
        }
        if let Some(m) = self.merger.take() {
            let _ = m.join();
        }
    }
}

/// The data files of one bundle being written.
pub struct Outputs {
    runs_csv: Option<BundleFile>,
    /// runs.xlsx, written in the run pass; the bundle's temporary directory.
    runs_xlsx: Option<(RunsSheet, PathBuf)>,
    files: EventFiles,
    /// Each CSV row's `log_verification` (the verdict's mark).
    mark: String,
}

impl Outputs {
    /// Create the files of the chosen formats (reports: their index spools).
    /// `origin`: the log's identity, for the OSCAL file's UUIDs (when it is written).
    pub fn create(
        dir: &Path,
        formats: Formats,
        meta: &ReportMeta,
        origin: Option<&str>,
    ) -> Result<Outputs, Error> {
        let mut out = Outputs {
            runs_csv: None,
            runs_xlsx: None,
            files: EventFiles {
                events_csv: None,
                evidence: None,
                reports: Vec::new(),
                oscal: None,
            },
            mark: meta.verdict.mark(),
        };
        if formats.csv {
            let mut runs = BundleFile::create(dir, "runs.csv")?;
            csv::write_header(&mut runs, csv::RUNS_COLUMNS).map_err(|e| runs.err(&e))?;
            out.runs_csv = Some(runs);
            let mut events = BundleFile::create(dir, "events.csv")?;
            csv::write_header(&mut events, csv::EVENTS_COLUMNS).map_err(|e| events.err(&e))?;
            out.files.events_csv = Some(events);
        }
        if formats.xlsx {
            out.runs_xlsx = Some((RunsSheet::create(dir, meta.created_at)?, dir.to_path_buf()));
        }
        if formats.json {
            let f = BundleFile::create(dir, "evidence.json")?;
            let path = f.path().to_path_buf();
            out.files.evidence =
                Some(EvidenceWriter::begin(f, meta).map_err(|e| Error::io(&path, &e))?);
        }
        if formats.html {
            out.files.reports.push(Report::create(dir, &HTML)?);
        }
        if formats.md {
            out.files.reports.push(Report::create(dir, &MARKDOWN)?);
        }
        if let (true, Some(origin)) = (formats.oscal, origin) {
            out.files.oscal = Some(oscal::Writer::create(dir, origin, formats, meta)?);
        }
        Ok(out)
    }

    /// Run pass: one run's row.
    pub fn run(&mut self, r: &RunRow, stats: &RunStats) -> Result<(), Error> {
        if let Some(f) = self.runs_csv.as_mut() {
            csv::write_run(f, r, stats, &self.mark).map_err(|e| f.err(&e))?;
        }
        if let Some((sheet, dir)) = self.runs_xlsx.as_mut() {
            sheet.run(dir, r, stats, &self.mark)?;
        }
        if let Some(ev) = self.files.evidence.as_mut() {
            ev.run(r).map_err(|e| ev.get().err(&e))?;
        }
        for report in &mut self.files.reports {
            report.index_row(r, stats)?;
        }
        if let Some(o) = self.files.oscal.as_mut() {
            o.run(r)?;
        }
        Ok(())
    }

    /// Between the passes: the reports' heads, summaries and indexes.
    pub fn begin_events(
        &mut self,
        dir: &Path,
        meta: &ReportMeta,
        summary: &Summary,
    ) -> Result<(), Error> {
        for report in &mut self.files.reports {
            report.begin(dir, meta, summary)?;
        }
        if let Some(o) = self.files.oscal.as_mut() {
            o.begin(dir, meta, summary)?;
        }
        Ok(())
    }

    /// Event pass: `read` feeds the run batches, in run order, through `send`
    /// to the format threads; then the files come back for [`Outputs::finish`].
    pub fn events<T>(
        self,
        catalog: Catalog,
        log: &Path,
        read: impl FnOnce(&mut dyn FnMut(RunBatch) -> Result<(), Error>) -> Result<T, Error>,
    ) -> Result<(Outputs, T), Error> {
        let Outputs {
            runs_csv,
            runs_xlsx,
            files,
            mark,
        } = self;
        let plan = Plan {
            csv: files.events_csv.is_some(),
            json: files.evidence.is_some(),
            reports: files.reports.iter().map(|r| r.syntax).collect(),
            catalog,
            log: log.to_path_buf(),
            mark: mark.clone(),
            oscal: files.oscal.as_ref().map(oscal::Writer::observer),
        };
        let mut pipeline = Pipeline::start(plan, files)?;
        let mut send = |batch: RunBatch| {
            if pipeline.send(batch) {
                Ok(())
            } else {
                Err(Error::Internal("an export thread stopped".into()))
            }
        };
        let read = read(&mut send);
        // A thread's own error explains a failed send better than the send does.
        let files = pipeline.finish();
        let (files, value) = match (files, read) {
            (Err(e), _) | (Ok(_), Err(e)) => return Err(e),
            (Ok(f), Ok(v)) => (f, v),
        };
        Ok((
            Outputs {
                runs_csv,
                runs_xlsx,
                files,
                mark,
            },
            value,
        ))
    }

    /// Is evidence.json written (and so its `links`)?
    pub fn has_evidence(&self) -> bool {
        self.files.evidence.is_some()
    }

    /// After the event pass: one record of evidence.json's `links`, in seq
    /// order. A log event's payload must be JSON (it is written as it is).
    pub fn link(&mut self, log: &Path, l: &LinkRef<'_>) -> Result<(), Error> {
        if let Some(p) = l.payload
            && serde_json::from_str::<serde::de::IgnoredAny>(p).is_err()
        {
            return Err(corrupt(log, l.seq, "a payload that is not JSON"));
        }
        if let Some(ev) = self.files.evidence.as_mut() {
            ev.link(l).map_err(|e| ev.get().err(&e))?;
        }
        Ok(())
    }

    /// Close every file; `procedures` go into evidence.json (sha256, format, text).
    /// The OSCAL file comes back open: its back-matter needs every other
    /// data file's hash.
    pub fn finish(
        mut self,
        meta: &ReportMeta,
        procedures: impl IntoIterator<Item = (String, String, String)>,
    ) -> Result<(Vec<FileEntry>, Option<oscal::Writer>), Error> {
        let oscal = self.files.oscal.take();
        let mut files = Vec::new();
        for f in [self.runs_csv, self.files.events_csv].into_iter().flatten() {
            files.push(f.finish()?);
        }
        if let Some((sheet, dir)) = self.runs_xlsx {
            let mut f = BundleFile::create(&dir, xlsx::FILE)?;
            sheet.finish(&dir, &mut f)?;
            files.push(f.finish()?);
        }
        if let Some(mut ev) = self.files.evidence {
            for (sha, format, text) in procedures {
                ev.procedure(&sha, &format, &text)
                    .map_err(|e| ev.get().err(&e))?;
            }
            let path = ev.get().path().to_path_buf();
            let f = ev.finish().map_err(|e| Error::io(&path, &e))?;
            files.push(f.finish()?);
        }
        for report in self.files.reports {
            files.extend(report.finish(meta)?);
        }
        Ok((files, oscal))
    }
}
