//! Audit bundles over the evidence log: the bundle written through a
//! temporary directory (`bundle`: HTML, CSV, JSON and Markdown by streaming
//! writers that escape through `escape`, OSCAL assessment results
//! (`oscal`), the procedures, a self-hashed
//! `manifest`, the export record and the signed part), its verification
//! (`verify`, with `verify/custody` for the signed part), and inclusion and
//! consistency proofs out of the log (`proofs`). The reports' timelines are
//! written in the words of [`crate::report`].
//!
//! May use the store, `custody`, the report side (`report`), the procedure
//! model, the engine's event types and `text`; may not depend on the front
//! ends (`tui`, `plain`), the session, `cli` or `app`. Bundle writers stream:
//! memory does not grow with the size of the log (nothing per exported run is
//! held).

pub mod bundle;
pub mod csv;
pub mod escape;
pub mod evidence_schema;
pub mod html;
pub mod json;
pub mod manifest;
pub mod markdown;
pub mod oscal;
pub mod proofs;
pub mod verify;
pub mod xlsx;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::procedure::Procedure;
use crate::report::RunStats;
use crate::report::cadence::{Coverage, Period, coverage};
use crate::store::{Checkpoint, Finding, RunQuery, RunRow, Store, StoreError, VerifyReport};
use crate::text::natural::Natural;
use crate::vocab::OutcomeCounts;

pub use bundle::{CosignWith, ExportJson, ExportRequest, ExportSummary, Formats, export};
pub use verify::custody::BundleTrust;
pub use verify::{BundleReport, verify_bundle};

/// Kind of the log event that records an export.
pub use crate::store::KIND_EXPORT;

/// `runsheet <version>`, as written into bundles.
pub fn generator() -> String {
    format!("runsheet {}", env!("CARGO_PKG_VERSION"))
}

/// The filters an export was made with, as data: every filter, `null` when
/// not given, and `runs` only for a sample packet (`export --run`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FiltersJson {
    /// `--procedure`: a procedure id.
    pub procedure: Option<String>,
    /// `--status`: an outcome.
    pub status: Option<String>,
    /// `--operator`.
    pub operator: Option<String>,
    /// `--since`: runs started on or after this day (UTC).
    #[schemars(extend("format" = "date"))]
    pub since: Option<String>,
    /// `--until`: runs started on or before this day (UTC).
    #[schemars(extend("format" = "date"))]
    pub until: Option<String>,
    /// `--control`: an Annex A control.
    pub control: Option<String>,
    /// `--run`: the sampled run ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("items" = {"type": "string", "format": "uuid"}))]
    pub runs: Option<Vec<String>>,
}

impl FiltersJson {
    pub fn of(q: &RunQuery) -> FiltersJson {
        let day = |d: Option<NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
        FiltersJson {
            procedure: q.procedure.clone(),
            status: q.outcome.clone(),
            operator: q.operator.clone(),
            since: day(q.since),
            until: day(q.until),
            control: q.control.clone(),
            runs: (!q.ids.is_empty())
                .then(|| q.ids.iter().map(|id| id.hyphenated().to_string()).collect()),
        }
    }
}

/// [`FiltersJson`] as a JSON value, for the manifest, evidence.json and the
/// export event.
pub fn filters_json(q: &RunQuery) -> Value {
    serde_json::to_value(FiltersJson::of(q)).unwrap_or_default()
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

/// Runs per outcome, and deviations, for one summary row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub outcomes: OutcomeCounts,
    pub deviations: u64,
}

impl Counts {
    /// Count one run.
    pub fn add(&mut self, row: &RunRow, stats: &RunStats) {
        self.outcomes.count(row.outcome.as_deref());
        self.deviations += stats.deviations();
    }
}

/// The report's summary: by control and by procedure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub total: Counts,
    /// Control → counts, in natural order (A.5.3 before A.5.15). A run
    /// counts under each control its procedure names.
    pub by_control: BTreeMap<Natural, Counts>,
    /// Procedure id → (latest title seen, versions seen, counts).
    pub by_procedure: BTreeMap<String, (String, Vec<String>, Counts)>,
    /// Earliest and latest run start.
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    /// Procedure id → the periods of its cadence over the export's period
    /// and those with no completed run (procedures with a cadence only; see
    /// [`Summary::check_cadence`]).
    pub coverage: BTreeMap<String, Coverage>,
}

impl Summary {
    /// Add a run.
    pub fn add(&mut self, row: &RunRow, stats: &RunStats) {
        self.total.add(row, stats);
        if row.controls.is_empty() {
            self.by_control
                .entry(Natural("(no control)".into()))
                .or_default()
                .add(row, stats);
        }
        for c in &row.controls {
            self.by_control
                .entry(Natural(c.clone()))
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

    /// Check the cadence of exported procedure `id` (as its latest exported
    /// version states it) over the export's period: from the filter's
    /// `since` (but not before the procedure was approved or first run, nor
    /// before the log's first record) to
    /// its `until` (or yesterday), against every completed run of the
    /// procedure in the log — a run outside the filters still fills its
    /// period. Periods not over by `today` are not checked.
    pub fn check_cadence(
        &mut self,
        store: &Store,
        id: &str,
        procedure: &Procedure,
        query: &RunQuery,
        today: NaiveDate,
    ) -> Result<(), StoreError> {
        let days = store.run_days(id)?;
        let approved = procedure.approved.map(|d| d.0);
        // Not before the procedure existed nor before the log's first record.
        let not_before = crate::report::cadence::judged_from(approved, days.first, days.log_start);
        let from = match (query.since, not_before) {
            (Some(s), Some(n)) => Some(s.max(n)),
            (s, n) => s.or(n).or(self.first.map(|f| f.date_naive())),
        };
        let yesterday = today.pred_opt().unwrap_or(today);
        let to = query.until.map_or(yesterday, |u| u.min(yesterday));
        if let Some(from) = from
            && let Some(c) = coverage(procedure.cadence, &days.completed, from, to, today)
        {
            self.coverage.insert(id.to_string(), c);
        }
        Ok(())
    }
}

/// What a report writer is told of one run before its timeline: the run, its
/// counts, the seqs of its first and last events, and — for a run left open
/// or aborted — its last event in words.
#[derive(Debug, Clone, Copy)]
pub struct RunHead<'a> {
    pub row: &'a RunRow,
    pub stats: &'a RunStats,
    /// Seq of the run's first and last event (`None`: no events).
    pub seqs: Option<(i64, i64)>,
    /// The last event, described (set when [`RunStats::unfinished`]).
    pub last: Option<&'a crate::report::timeline::Entry<'a>>,
}

/// One row of the report covers' cadence table, in words both reports lay out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CadenceRow<'a> {
    pub procedure: &'a str,
    /// `None`: on demand, or no period over yet — not checked.
    pub checked: Option<CadenceChecked>,
}

/// What was checked of one procedure's cadence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CadenceChecked {
    pub cadence: &'static str,
    /// The span, `YYYY-MM-DD` (UTC), both ends inclusive.
    pub from: String,
    pub to: String,
    /// How many periods were checked, in words: `5 days`, `1 week`.
    pub checked: String,
    /// `1 of 5 days` when some were missed, and their labels (`2026-11-30`, `2026-W48` …).
    pub missed: Option<(String, Vec<String>)>,
}

impl Summary {
    /// The cover's cadence table: every procedure with a cadence checked,
    /// then those not checked.
    pub fn cadence_rows(&self) -> Vec<CadenceRow<'_>> {
        let mut rows: Vec<CadenceRow<'_>> = self
            .coverage
            .iter()
            .map(|(id, c)| {
                let (one, many) = Period::unit(c.cadence);
                let n = c.checked.len();
                let missed = (!c.missed.is_empty()).then(|| {
                    (
                        format!("{} of {n} {many}", c.missed.len()),
                        c.missed.iter().map(|p| p.label(c.cadence)).collect(),
                    )
                });
                CadenceRow {
                    procedure: id,
                    checked: Some(CadenceChecked {
                        cadence: c.cadence.as_str(),
                        from: c.from.format("%Y-%m-%d").to_string(),
                        to: c.to.format("%Y-%m-%d").to_string(),
                        checked: format!("{n} {}", if n == 1 { one } else { many }),
                        missed,
                    }),
                }
            })
            .collect();
        rows.extend(
            self.by_procedure
                .keys()
                .filter(|id| !self.coverage.contains_key(*id))
                .map(|id| CadenceRow {
                    procedure: id,
                    checked: None,
                }),
        );
        rows
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
    /// The training records of the runs the filters select, drills
    /// included (training.csv, report.html's "Training records";
    /// docs/training.md): drills are in no other part of the bundle.
    pub training: Vec<crate::report::training::TrainingRecord>,
    /// The recorded approvals and reviews (of the filtered procedure, or of
    /// every procedure) up to the export's checkpoint, in log order:
    /// report.html's and report.md's "Document control".
    pub document_control: Vec<crate::report::versions::ActLine>,
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

/// The verify verdict an export states, as data.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct VerdictJson {
    /// The page check and the hash chain found nothing.
    pub verified: bool,
    /// The first problem's name (docs/evidence-schema.md), when it failed.
    pub problem: Option<String>,
    /// The first problem's seq.
    pub seq: Option<i64>,
    pub message: Option<String>,
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

    /// As data (manifest, evidence.json, the export event, `export --json`).
    pub fn data(&self) -> VerdictJson {
        VerdictJson {
            verified: self.verified,
            problem: self
                .finding
                .as_ref()
                .map(|f| f.problem.as_str().to_string()),
            seq: self.finding.as_ref().and_then(|f| f.seq),
            message: self.finding.as_ref().map(|f| f.message.clone()),
            head_seq: self.head_seq,
            head_hash: self.head_hash.clone(),
            test_data: self.test_data,
        }
    }

    /// [`Verdict::data`] as a JSON value.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.data()).unwrap_or_default()
    }
}
