//! The bundle's data files for the chosen formats, fed in two passes over the
//! runs: first each run's row (runs.csv, evidence.json's runs, the report
//! indexes, spooled until the summary is known), then each run's events.
//! In the event pass the reading thread copies each run's events into a
//! [`RunBatch`] and two format threads take every batch: one writes
//! events.csv and evidence.json's events, the other the report timelines (one
//! run's section buffered at a time, because its facts come first). The
//! queues are short, so memory holds a few runs whatever the size of the log.
//!
//! May not depend on the store's internals, the front ends or the app.

use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::super::json::EvidenceWriter;
use super::super::manifest::FileEntry;
use super::super::timeline::{Entry, Payload, describe_ref, is_stored_time};
use super::super::{Catalog, ReportMeta, RunStats, Summary, csv, html, markdown};
use super::Formats;
use super::file::{BundleFile, Spool};
use crate::engine::Event;
use crate::error::Error;
use crate::store::{EventRef, RunRow};

/// Runs waiting for each format thread before the reading side waits.
const QUEUE: usize = 32;

/// The pieces of one report format (HTML or Markdown).
struct Syntax {
    file: &'static str,
    head: fn(&mut BundleFile, &ReportMeta, &Summary) -> io::Result<()>,
    index_row: fn(&mut Spool, &RunRow, &RunStats) -> io::Result<()>,
    index_end: fn(&mut BundleFile) -> io::Result<()>,
    run_head: fn(&mut BundleFile, &RunRow, &RunStats) -> io::Result<()>,
    entry: fn(&mut Vec<u8>, &Entry<'_>) -> io::Result<()>,
    run_end: fn(&mut BundleFile) -> io::Result<()>,
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
    /// The current run's timeline rows.
    section: Vec<u8>,
}

impl Report {
    fn create(dir: &Path, syntax: &'static Syntax) -> Result<Report, Error> {
        Ok(Report {
            syntax,
            index: Some(Spool::create(dir, &format!(".{}.index", syntax.file))?),
            file: None,
            section: Vec::new(),
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

    fn entry(&mut self, e: &Entry<'_>) {
        // Writing into memory cannot fail.
        let _ = (self.syntax.entry)(&mut self.section, e);
    }

    fn end_run(&mut self, r: &RunRow, stats: &RunStats) -> Result<(), Error> {
        if let Some(f) = self.file.as_mut() {
            let s = self.syntax;
            (s.run_head)(f, r, stats)
                .and_then(|()| f.write_all(&self.section))
                .and_then(|()| (s.run_end)(f))
                .map_err(|e| f.err(&e))?;
        }
        self.section.clear();
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
    payload: Option<Range<usize>>,
}

impl RunBatch {
    /// An empty batch for this run.
    pub fn new(row: &RunRow) -> RunBatch {
        RunBatch {
            row: row.clone(),
            stats: RunStats::default(),
            text: String::new(),
            events: Vec::new(),
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
        let payload = e.payload.map(|s| self.keep(s));
        self.events.push(Slots {
            seq: e.seq,
            run_seq: e.run_seq,
            texts,
            step,
            payload,
        });
    }

    /// How many events, of which kinds.
    pub fn stats(&self) -> &RunStats {
        &self.stats
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
                payload: s.payload.as_ref().map(t),
                payload_sha256: t(payload_sha256),
                prev_hash: t(prev_hash),
                hash: t(hash),
            }
        })
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
    let corrupt = |what: String| Error::Store {
        path: log.to_path_buf(),
        message: format!(
            "event seq {} has {what}; run `runsheet verify`. Nothing was exported",
            e.seq
        ),
    };
    if !is_stored_time(e.at) {
        return Err(corrupt(format!("an unreadable time {:?}", e.at)));
    }
    let Some(payload) = Payload::read(e.kind, e.step, e.payload) else {
        return Err(corrupt("a payload that is not JSON".into()));
    };
    let exit_code = match &payload {
        Payload::Known(Event::CommandRan { result, .. }) => result.exit_code.map(i64::from),
        _ => None,
    };
    let p = catalog.loaded(&row.procedure_sha256);
    Ok((describe_ref(e, payload, p), exit_code))
}

/// What a format thread does with each run.
trait RunSink: Send + 'static {
    fn run(&mut self, batch: &RunBatch, catalog: &Catalog, log: &Path) -> Result<(), Error>;
}

/// events.csv and evidence.json's events.
struct DataFiles {
    events_csv: Option<BundleFile>,
    evidence: Option<EvidenceWriter<BundleFile>>,
}

impl RunSink for DataFiles {
    fn run(&mut self, batch: &RunBatch, catalog: &Catalog, log: &Path) -> Result<(), Error> {
        for e in batch.events() {
            if let Some(f) = self.events_csv.as_mut() {
                let (entry, exit_code) = described(&e, catalog, &batch.row, log)?;
                csv::write_event(f, &e, &batch.row.procedure_id, &entry, exit_code)
                    .map_err(|err| f.err(&err))?;
            }
            if let Some(ev) = self.evidence.as_mut() {
                if self.events_csv.is_none() {
                    // Still refuse what cannot be read back.
                    described(&e, catalog, &batch.row, log)?;
                }
                ev.event(&e).map_err(|err| ev.get().err(&err))?;
            }
        }
        Ok(())
    }
}

/// The reports' timelines.
struct ReportFiles {
    reports: Vec<Report>,
}

impl RunSink for ReportFiles {
    fn run(&mut self, batch: &RunBatch, catalog: &Catalog, log: &Path) -> Result<(), Error> {
        if self.reports.is_empty() {
            return Ok(());
        }
        for e in batch.events() {
            let (entry, _) = described(&e, catalog, &batch.row, log)?;
            for report in &mut self.reports {
                report.entry(&entry);
            }
        }
        for report in &mut self.reports {
            report.end_run(&batch.row, &batch.stats)?;
        }
        Ok(())
    }
}

/// A format thread: takes batches until the queue closes, returns its files.
struct Worker<S> {
    queue: Option<SyncSender<Arc<RunBatch>>>,
    thread: Option<JoinHandle<Result<S, Error>>>,
}

impl<S: RunSink> Worker<S> {
    fn start(mut sink: S, catalog: Arc<Catalog>, log: PathBuf) -> Result<Worker<S>, Error> {
        let (queue, batches) = sync_channel::<Arc<RunBatch>>(QUEUE);
        let thread = std::thread::Builder::new()
            .name("export format".into())
            .spawn(move || {
                let batches: Receiver<Arc<RunBatch>> = batches;
                for batch in batches {
                    sink.run(&batch, &catalog, &log)?;
                }
                Ok(sink)
            })
            .map_err(|e| Error::Internal(format!("cannot start an export thread: {e}")))?;
        Ok(Worker {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Hand over a batch; false when the thread stopped (its error comes from `finish`).
    fn send(&self, batch: &Arc<RunBatch>) -> bool {
        self.queue
            .as_ref()
            .is_some_and(|q| q.send(Arc::clone(batch)).is_ok())
    }

    fn finish(mut self) -> Result<S, Error> {
        self.queue = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(Error::Internal("an export thread stopped".into())),
        }
    }
}

impl<S> Drop for Worker<S> {
    fn drop(&mut self) {
        self.queue = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The data files of one bundle being written.
pub struct Outputs {
    runs_csv: Option<BundleFile>,
    data: DataFiles,
    reports: ReportFiles,
}

impl Outputs {
    /// Create the files of the chosen formats (reports: their index spools).
    pub fn create(dir: &Path, formats: Formats, meta: &ReportMeta) -> Result<Outputs, Error> {
        let mut out = Outputs {
            runs_csv: None,
            data: DataFiles {
                events_csv: None,
                evidence: None,
            },
            reports: ReportFiles {
                reports: Vec::new(),
            },
        };
        if formats.csv {
            let mut runs = BundleFile::create(dir, "runs.csv")?;
            csv::write_header(&mut runs, csv::RUNS_COLUMNS).map_err(|e| runs.err(&e))?;
            out.runs_csv = Some(runs);
            let mut events = BundleFile::create(dir, "events.csv")?;
            csv::write_header(&mut events, csv::EVENTS_COLUMNS).map_err(|e| events.err(&e))?;
            out.data.events_csv = Some(events);
        }
        if formats.json {
            let f = BundleFile::create(dir, "evidence.json")?;
            let path = f.path().to_path_buf();
            out.data.evidence =
                Some(EvidenceWriter::begin(f, meta).map_err(|e| Error::io(&path, &e))?);
        }
        if formats.html {
            out.reports.reports.push(Report::create(dir, &HTML)?);
        }
        if formats.md {
            out.reports.reports.push(Report::create(dir, &MARKDOWN)?);
        }
        Ok(out)
    }

    /// Run pass: one run's row.
    pub fn run(&mut self, r: &RunRow, stats: &RunStats) -> Result<(), Error> {
        if let Some(f) = self.runs_csv.as_mut() {
            csv::write_run(f, r, stats).map_err(|e| f.err(&e))?;
        }
        if let Some(ev) = self.data.evidence.as_mut() {
            ev.run(r).map_err(|e| ev.get().err(&e))?;
        }
        for report in &mut self.reports.reports {
            report.index_row(r, stats)?;
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
        for report in &mut self.reports.reports {
            report.begin(dir, meta, summary)?;
        }
        Ok(())
    }

    /// Event pass: `read` feeds the run batches (through `send`) to the two
    /// format threads; then the files come back for [`Outputs::finish`].
    pub fn events<T>(
        self,
        catalog: Catalog,
        log: &Path,
        read: impl FnOnce(&mut dyn FnMut(RunBatch) -> Result<(), Error>) -> Result<T, Error>,
    ) -> Result<(Outputs, T), Error> {
        let Outputs {
            runs_csv,
            data,
            reports,
        } = self;
        let catalog = Arc::new(catalog);
        let data = Worker::start(data, Arc::clone(&catalog), log.to_path_buf())?;
        let reports = Worker::start(reports, catalog, log.to_path_buf())?;
        let mut send = |batch: RunBatch| {
            let batch = Arc::new(batch);
            if data.send(&batch) && reports.send(&batch) {
                Ok(())
            } else {
                Err(Error::Internal("an export thread stopped".into()))
            }
        };
        let read = read(&mut send);
        // A thread's own error explains a failed send better than the send does.
        let data = data.finish();
        let reports = reports.finish();
        let (data, reports, value) = match (data, reports, read) {
            (Err(e), _, _) | (_, Err(e), _) => return Err(e),
            (Ok(_), Ok(_), Err(e)) => return Err(e),
            (Ok(d), Ok(r), Ok(v)) => (d, r, v),
        };
        Ok((
            Outputs {
                runs_csv,
                data,
                reports,
            },
            value,
        ))
    }

    /// Close every file; `procedures` go into evidence.json (sha256, format, text).
    pub fn finish(
        self,
        meta: &ReportMeta,
        procedures: impl Iterator<Item = Result<(String, String, String), Error>>,
    ) -> Result<Vec<FileEntry>, Error> {
        let mut files = Vec::new();
        for f in [self.runs_csv, self.data.events_csv].into_iter().flatten() {
            files.push(f.finish()?);
        }
        if let Some(mut ev) = self.data.evidence {
            for p in procedures {
                let (sha, format, text) = p?;
                ev.procedure(&sha, &format, &text)
                    .map_err(|e| ev.get().err(&e))?;
            }
            let path = ev.get().path().to_path_buf();
            let f = ev.finish().map_err(|e| Error::io(&path, &e))?;
            files.push(f.finish()?);
        }
        for report in self.reports.reports {
            files.extend(report.finish(meta)?);
        }
        Ok(files)
    }
}
