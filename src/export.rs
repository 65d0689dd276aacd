//! Audit exports over the evidence log: the run list and run timelines for
//! people, the audit bundle (HTML, CSV, JSON, Markdown, procedures, manifest,
//! checkpoint) written through a temporary directory, its verification, the
//! per-procedure status (cadence adherence), and the generated benchmark log.
//!
//! May use the store, the procedure model, the engine's event types and
//! `text`; may not depend on the front ends (`tui`, `plain`), the session,
//! `cli` or `app`. Bundle writers stream: memory does not grow with the size of
//! the log (nothing per exported run is held).

pub mod bundle;
pub mod csv;
pub mod escape;
pub mod html;
pub mod json;
pub mod manifest;
pub mod markdown;
pub mod proofs;
pub mod status;
pub mod timeline;
pub mod verify;
pub mod verify_custody;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod time_tests {
    use super::*;
    use chrono::SecondsFormat;

    #[test]
    fn times_are_written_as_chrono_writes_them() {
        for text in [
            "2026-11-28T02:14:05.123Z",
            "2026-01-01T00:00:00.000Z",
            "0999-12-31T23:59:59.999Z",
        ] {
            let at = DateTime::parse_from_rfc3339(text)
                .expect("time")
                .with_timezone(&Utc);
            assert_eq!(
                time_text(at),
                at.to_rfc3339_opts(SecondsFormat::Millis, true)
            );
            assert_eq!(clock(at, false), at.format("%Y-%m-%d %H:%M").to_string());
            assert_eq!(clock(at, true), at.format("%Y-%m-%d %H:%M:%S").to_string());
        }
    }
}

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use serde_json::{Value, json};

use crate::procedure::Procedure;
use crate::procedure::parse::{self, Source};
use crate::store::{
    Checkpoint, DEVIATION_KINDS, Finding, RunQuery, RunRow, Store, StoreError, StoredEvent,
    VerifyReport,
};

pub use bundle::{CosignWith, ExportRequest, ExportSummary, Formats, export};
pub use verify::{BundleReport, verify_bundle};
pub use verify_custody::BundleTrust;

/// Kind of the log event that records an export.
pub use crate::store::KIND_EXPORT;

/// `runsheet <version>`, as written into bundles.
pub fn generator() -> String {
    format!("runsheet {}", env!("CARGO_PKG_VERSION"))
}

/// A time as the log stores it: RFC 3339, UTC, milliseconds, `Z`.
pub use crate::store::time_text;

/// A time as the reports show it, UTC: `2026-11-28 02:14`, or with seconds
/// `2026-11-28 02:14:05`.
pub fn clock(at: DateTime<Utc>, seconds: bool) -> String {
    match (four_digit_year(at), seconds) {
        (Some(y), false) => format!(
            "{y:04}-{:02}-{:02} {:02}:{:02}",
            at.month(),
            at.day(),
            at.hour(),
            at.minute()
        ),
        (Some(y), true) => format!(
            "{y:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            at.month(),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        ),
        (None, false) => at.format("%Y-%m-%d %H:%M").to_string(),
        (None, true) => at.format("%Y-%m-%d %H:%M:%S").to_string(),
    }
}

/// [`clock`] with ` UTC` after it.
pub fn clock_utc(at: DateTime<Utc>, seconds: bool) -> String {
    format!("{} UTC", clock(at, seconds))
}

/// The year when it has four digits (chrono formats others its own way).
fn four_digit_year(at: DateTime<Utc>) -> Option<i32> {
    Some(at.year()).filter(|y| (0..=9999).contains(y))
}

/// The outcome of a run as shown everywhere: `open` while it has none.
pub fn outcome_text(row: &RunRow) -> &str {
    row.outcome.as_deref().unwrap_or("open")
}

/// The filters as data (every field, `null` when not given), for the manifest,
/// evidence.json and the export event.
pub fn filters_json(q: &RunQuery) -> Value {
    let day = |d: Option<NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
    let mut v = json!({
        "procedure": q.procedure,
        "status": q.outcome,
        "operator": q.operator,
        "since": day(q.since),
        "until": day(q.until),
        "control": q.control,
    });
    if !q.ids.is_empty() {
        let ids: Vec<String> = q.ids.iter().map(|id| id.hyphenated().to_string()).collect();
        v["runs"] = json!(ids);
    }
    v
}

/// The filters in words, e.g. `control A.8.13; started 2026-11-01 to 2026-11-30`.
pub fn filters_text(q: &RunQuery) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &q.control {
        parts.push(format!("control {c}"));
    }
    if let Some(p) = &q.procedure {
        parts.push(format!("procedure {p}"));
    }
    if let Some(s) = &q.outcome {
        parts.push(format!("outcome {s}"));
    }
    if let Some(o) = &q.operator {
        parts.push(format!("operator {o}"));
    }
    if q.since.is_some() || q.until.is_some() {
        parts.push(period_text(q));
    }
    if !q.ids.is_empty() {
        let ids: Vec<String> = q.ids.iter().map(|id| id.hyphenated().to_string()).collect();
        parts.push(format!("sample of the runs {}", ids.join(", ")));
    }
    if parts.is_empty() {
        "none (every run in the log)".into()
    } else {
        parts.join("; ")
    }
}

/// The period the filters select, in words.
pub fn period_text(q: &RunQuery) -> String {
    let d = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    match (q.since, q.until) {
        (Some(s), Some(u)) => format!("runs started {} to {} (UTC, inclusive)", d(s), d(u)),
        (Some(s), None) => format!("runs started on or after {} (UTC)", d(s)),
        (None, Some(u)) => format!("runs started on or before {} (UTC)", d(u)),
        (None, None) => "all runs in the log".into(),
    }
}

/// Per-run counts gathered while streaming its events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    pub events: u64,
    pub skips: u64,
    pub failures: u64,
    pub warnings_acknowledged: u64,
}

impl RunStats {
    /// Count one event.
    pub fn add(&mut self, kind: &str) {
        self.events += 1;
        match DEVIATION_KINDS.iter().position(|k| *k == kind) {
            Some(0) => self.skips += 1,
            Some(1) => self.failures += 1,
            Some(2) => self.warnings_acknowledged += 1,
            _ => {}
        }
    }

    /// Stats from a run's event count and its counts of [`DEVIATION_KINDS`].
    pub fn from_counts(
        events: u64,
        [skips, failures, warnings_acknowledged]: [u64; 3],
    ) -> RunStats {
        RunStats {
            events,
            skips,
            failures,
            warnings_acknowledged,
        }
    }

    /// Departures from the documented path: skips, failures and acknowledged warnings.
    pub fn deviations(&self) -> u64 {
        self.skips + self.failures + self.warnings_acknowledged
    }

    /// Stats of a run's events.
    pub fn of(events: &[StoredEvent]) -> RunStats {
        let mut s = RunStats::default();
        for e in events {
            s.add(&e.kind);
        }
        s
    }
}

/// Runs per outcome, and deviations, for one summary row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub runs: u64,
    pub completed: u64,
    pub escalated: u64,
    pub failed: u64,
    pub aborted: u64,
    pub open: u64,
    pub deviations: u64,
}

impl Counts {
    /// Count one run.
    pub fn add(&mut self, row: &RunRow, stats: &RunStats) {
        self.runs += 1;
        match row.outcome.as_deref() {
            Some("completed") => self.completed += 1,
            Some("escalated") => self.escalated += 1,
            Some("failed") => self.failed += 1,
            Some("aborted") => self.aborted += 1,
            _ => self.open += 1,
        }
        self.deviations += stats.deviations();
    }
}

/// The report's summary: by control and by procedure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub total: Counts,
    /// Control → counts. A run counts under each control its procedure names.
    pub by_control: BTreeMap<String, Counts>,
    /// Procedure id → (latest title seen, versions seen, counts).
    pub by_procedure: BTreeMap<String, (String, Vec<String>, Counts)>,
    /// Earliest and latest run start.
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
}

impl Summary {
    /// Add a run.
    pub fn add(&mut self, row: &RunRow, stats: &RunStats) {
        self.total.add(row, stats);
        if row.controls.is_empty() {
            self.by_control
                .entry("(no control)".into())
                .or_default()
                .add(row, stats);
        }
        for c in &row.controls {
            self.by_control
                .entry(c.clone())
                .or_default()
                .add(row, stats);
        }
        let entry = self
            .by_procedure
            .entry(row.procedure_id.clone())
            .or_insert_with(|| (row.procedure_title.clone(), Vec::new(), Counts::default()));
        if !entry.1.contains(&row.procedure_version) {
            entry.1.push(row.procedure_version.clone());
        }
        entry.2.add(row, stats);
        self.first = Some(self.first.map_or(row.started_at, |f| f.min(row.started_at)));
        self.last = Some(self.last.map_or(row.started_at, |l| l.max(row.started_at)));
    }
}

/// What every report writer is told about the export.
#[derive(Debug, Clone)]
pub struct ReportMeta {
    pub created_at: DateTime<Utc>,
    pub exported_by: String,
    pub generator: String,
    pub query: RunQuery,
    /// The chain head the export read (and verified): every exported event
    /// is at or before it.
    pub checkpoint: Checkpoint,
    /// What verify said of the log, just before the export read it.
    pub verdict: Verdict,
    /// The seq from which the log's records use record-hash format 2
    /// (docs/evidence-schema.md), if any: a verifier of evidence.json needs it.
    pub record_format_2_from: Option<i64>,
    pub runs: usize,
    pub events: u64,
}

/// What `verify` said of the log an export read, as every file of the
/// bundle states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The page check and the hash chain found nothing.
    pub verified: bool,
    /// The first problem verify found, when it failed.
    pub finding: Option<Finding>,
    /// The head verify walked to.
    pub head_seq: i64,
    pub head_hash: String,
    /// The log says it holds generated test data, not evidence.
    pub test_data: bool,
}

impl Verdict {
    pub fn of(report: &VerifyReport) -> Verdict {
        Verdict {
            verified: report.is_ok(),
            finding: report.finding.clone(),
            head_seq: report.head_seq,
            head_hash: report.head_hash.clone(),
            test_data: report.test_data,
        }
    }

    /// The short mark each CSV row carries: `verified`, or `FAILED: <problem>
    /// at seq N`; with `; generated test data, not evidence` for test data.
    pub fn mark(&self) -> String {
        let mut mark = match &self.finding {
            None => "verified".to_string(),
            Some(f) => match f.seq {
                Some(seq) => format!("FAILED: {} at seq {seq}", f.problem.as_str()),
                None => format!("FAILED: {}", f.problem.as_str()),
            },
        };
        if self.test_data {
            mark.push_str("; generated test data, not evidence");
        }
        mark
    }

    /// The verdict in a sentence, for the reports' covers.
    pub fn sentence(&self) -> String {
        match &self.finding {
            None => format!(
                "Verified at export: every page of the log reads (SQLite's page check), and its hash chain holds every record up to event {} (hash {}).",
                self.head_seq, self.head_hash
            ),
            Some(f) => format!(
                "THE EVIDENCE LOG FAILED VERIFICATION at export ({}): {}. This bundle was written anyway (--allow-unverified); do not rely on it as evidence.",
                f.problem.as_str(),
                f.message
            ),
        }
    }

    /// As data (manifest, evidence.json, the export event).
    pub fn to_json(&self) -> Value {
        json!({
            "verified": self.verified,
            "problem": self.finding.as_ref().map(|f| f.problem.as_str()),
            "seq": self.finding.as_ref().and_then(|f| f.seq),
            "message": self.finding.as_ref().map(|f| f.message.clone()),
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "test_data": self.test_data,
        })
    }
}

/// The procedures runs used, parsed from the stored sources (for step titles,
/// questions and labels). A source that does not parse any more maps to `None`
/// and timelines fall back to step ids.
#[derive(Debug, Default)]
pub struct Catalog {
    procedures: HashMap<String, Option<Procedure>>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Catalog {
        Catalog::default()
    }

    /// The procedure with this source SHA-256, loaded from the store once.
    pub fn get(&mut self, store: &Store, sha256: &str) -> Result<Option<&Procedure>, StoreError> {
        if !self.procedures.contains_key(sha256) {
            let parsed = store
                .procedure_source(sha256)?
                .and_then(|(text, format)| parse_stored(sha256, text, &format));
            self.procedures.insert(sha256.to_string(), parsed);
        }
        Ok(self.loaded(sha256))
    }

    /// Add a source the caller has read already (parsed here).
    pub fn add(&mut self, sha256: &str, text: &str, format: &str) {
        if !self.procedures.contains_key(sha256) {
            let parsed = parse_stored(sha256, text.to_string(), format);
            self.procedures.insert(sha256.to_string(), parsed);
        }
    }

    /// The procedure if it was loaded already.
    pub fn loaded(&self, sha256: &str) -> Option<&Procedure> {
        self.procedures.get(sha256).and_then(Option::as_ref)
    }
}

/// Parse a stored procedure source (`format` is `toml` or `json`).
pub fn parse_stored(sha256: &str, text: String, format: &str) -> Option<Procedure> {
    let fmt = if format == "json" {
        parse::Format::Json
    } else {
        parse::Format::Toml
    };
    let short = &sha256[..12.min(sha256.len())];
    parse::parse(Source::from_text(
        PathBuf::from(format!("<stored procedure {short}>")),
        text,
        fmt,
    ))
    .ok()
    .map(|l| l.procedure)
}
