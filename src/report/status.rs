//! `status`: per procedure, the last run, runs in the look-back period, cadence
//! adherence (which days, weeks, months … had no completed run, from
//! [`super::cadence`]), open runs and the review date — so gaps show before an
//! auditor finds them. The status of each procedure is computed purely from
//! its runs and `today` ([`ProcedureStatus::compute`]); [`collect`] reads them.
//!
//! May not depend on the bundle side (`export`), the front ends or the app.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::Serialize;

use super::cadence::{Adherence, Period, adherence, day_before};
use super::outcome_text;
use super::timeline::operator_text;
use crate::procedure::control::{
    self, DueFrom, RecordedApproval, RecordedById, RecordedReview, RecordedReviewJson,
};
use crate::procedure::{Cadence, Procedure};
use crate::store::log_payload::{Act, ProcedureAct};
use crate::store::{RunQuery, RunRow, Store, StoreError, time_text};
use crate::text::{columns, sanitize_line};
use crate::vocab::Outcome;

/// Days before the review date when it shows as due soon.
pub const REVIEW_SOON_DAYS: i64 = 30;

/// Runs per outcome (the run's vocabulary).
pub use crate::vocab::OutcomeCounts;

/// "N runs: 3 completed, 1 failed" for the status table.
fn counts_text(c: &OutcomeCounts) -> String {
    let mut parts = vec![format!("{} {}", c.completed, Outcome::Completed.as_str())];
    for (n, w) in [
        (c.escalated, Outcome::Escalated.as_str()),
        (c.failed, Outcome::Failed.as_str()),
        (c.aborted, Outcome::Aborted.as_str()),
        (c.open, crate::vocab::OPEN),
    ] {
        if n > 0 {
            parts.push(format!("{n} {w}"));
        }
    }
    format!("{} runs: {}", c.runs, parts.join(", "))
}

/// Where the procedure's review stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Review {
    Ok,
    DueSoon,
    Overdue,
    NotSet,
}

/// `runsheet status --json` (docs/json.md).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StatusJson {
    /// The day the status is for (YYYY-MM-DD).
    pub today: String,
    /// The look-back period in days (`--days`).
    pub days: u32,
    pub procedures: Vec<ProcedureStatusJson>,
    /// How many procedures need attention (missed periods, review overdue).
    pub needing_attention: usize,
}

/// One procedure in `status --json`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProcedureStatusJson {
    pub id: String,
    pub title: String,
    pub version: String,
    /// The procedure file; null when the procedure is known only from the log.
    pub file: Option<String>,
    pub cadence: String,
    pub last_run: Option<LastRunJson>,
    /// Runs started in the look-back period (the `days` days before
    /// `today`; today's runs are not counted here), per outcome.
    pub recent: OutcomeCounts,
    /// Cadence adherence; null for an on-demand procedure.
    pub adherence: Option<AdherenceJson>,
    pub open_runs: Vec<OpenRunJson>,
    /// When the next review is due (YYYY-MM-DD): from the latest review the
    /// log records, else from the file's dates.
    pub review_due: Option<String>,
    /// Where `review_due` comes from (null: no date).
    pub review_due_from: Option<DueFrom>,
    pub review: Review,
    /// The latest review the evidence log records (null: none).
    pub last_review: Option<RecordedReviewJson>,
    /// The latest review found the procedure needs a change and no other
    /// content has been approved since.
    pub change_pending: bool,
    /// Why the procedure needs attention, in words (empty: it does not).
    pub attention: Vec<String>,
    /// Training flags (docs/training.md): operators who, in the window
    /// (`days` days before today, and today), ran a version they were never
    /// trained on; trained operators left out of date by a change. Shown, never counted in `needing_attention` (nor by `--strict`).
    pub training: Vec<String>,
}

/// A procedure's latest run in `status --json`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LastRunJson {
    pub id: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub operator: String,
    pub operator_name: Option<String>,
    pub outcome: String,
}

/// Cadence adherence in `status --json`: periods are labelled as the table shows them.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AdherenceJson {
    /// Closed periods checked.
    pub checked: usize,
    pub first_checked: Option<String>,
    /// Closed periods with no completed run.
    pub missed: Vec<String>,
    pub current_period: Option<String>,
    /// The current period already has a completed run.
    pub current_done: bool,
}

/// An open run in `status --json`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OpenRunJson {
    pub id: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub operator: String,
    /// Its latest event's time (RFC 3339 UTC).
    pub last_at: String,
}

/// The status of one procedure.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcedureStatus {
    pub id: String,
    pub title: String,
    pub version: String,
    /// The procedure file, or `None` when the procedure is only known from the log.
    pub file: Option<PathBuf>,
    pub cadence: Cadence,
    pub last_run: Option<RunRow>,
    /// Runs started in the look-back period.
    pub recent: OutcomeCounts,
    pub adherence: Option<Adherence>,
    pub open_runs: Vec<RunRow>,
    pub review_due: Option<NaiveDate>,
    pub review_due_from: Option<DueFrom>,
    pub review: Review,
    pub last_review: Option<RecordedReview>,
    /// The latest review found a change needed, not approved since.
    pub change_pending: Option<RecordedReview>,
    /// Training flags ([`super::training::ProcedureTraining::flags`]).
    pub training: Vec<String>,
}

impl ProcedureStatus {
    /// Compute the status from the procedure, its runs (any order) and what
    /// the log records of its approvals and reviews. Pure.
    pub fn compute(
        procedure: &Procedure,
        file: Option<PathBuf>,
        runs: &[&RunRow],
        recorded: Option<&control::Recorded>,
        today: NaiveDate,
        days: u32,
        log_start: Option<NaiveDate>,
    ) -> ProcedureStatus {
        let window_start = super::cadence::window_start(today, days);
        let mut recent = OutcomeCounts::default();
        let mut completed = BTreeSet::new();
        let mut first_run: Option<NaiveDate> = None;
        for r in runs {
            let day = r.started_at.date_naive();
            first_run = Some(first_run.map_or(day, |f| f.min(day)));
            // The window `render_text` states: the `days` days before today
            // (today is the current period, shown on its own).
            if day >= window_start && day < today {
                recent.count(r.outcome.as_deref());
            }
            if r.outcome.as_deref() == Some(Outcome::Completed.as_str()) {
                completed.insert(day);
            }
        }
        let not_before =
            super::cadence::judged_from(procedure.approved.map(|d| d.0), first_run, log_start);
        let last_run = runs
            .iter()
            .max_by_key(|r| (r.started_at, r.id))
            .map(|r| (*r).clone());
        let mut open_runs: Vec<RunRow> = runs
            .iter()
            .filter(|r| r.outcome.is_none())
            .map(|r| (*r).clone())
            .collect();
        open_runs.sort_by_key(|r| r.started_at);
        let last_review = recorded.and_then(|r| r.last_review().cloned());
        let due = control::next_review(procedure, last_review.as_ref());
        let review_due = due.map(|(d, _)| d);
        let review = match review_due {
            None => Review::NotSet,
            Some(d) if d < today => Review::Overdue,
            Some(d) if (d - today).num_days() <= REVIEW_SOON_DAYS => Review::DueSoon,
            Some(_) => Review::Ok,
        };
        ProcedureStatus {
            id: procedure.id.clone(),
            title: procedure.title.clone(),
            version: procedure.version.clone(),
            file,
            cadence: procedure.cadence,
            last_run,
            recent,
            adherence: adherence(procedure.cadence, &completed, today, days, not_before),
            open_runs,
            review_due,
            review_due_from: due.map(|(_, f)| f),
            review,
            last_review,
            change_pending: recorded.and_then(|r| r.change_pending().cloned()),
            training: Vec::new(),
        }
    }

    /// This procedure in `status --json`.
    pub fn to_json(&self) -> ProcedureStatusJson {
        ProcedureStatusJson {
            id: self.id.clone(),
            title: self.title.clone(),
            version: self.version.clone(),
            file: self.file.as_ref().map(|f| f.display().to_string()),
            cadence: self.cadence.as_str().to_string(),
            last_run: self.last_run.as_ref().map(|r| LastRunJson {
                id: r.id.hyphenated().to_string(),
                started_at: time_text(r.started_at),
                operator: r.operator.clone(),
                operator_name: r.operator_name.clone(),
                outcome: outcome_text(r).to_string(),
            }),
            recent: self.recent,
            adherence: self.adherence.as_ref().map(|a| AdherenceJson {
                checked: a.checked.len(),
                first_checked: a.checked.first().map(|x| x.label(a.cadence)),
                missed: a.missed.iter().map(|x| x.label(a.cadence)).collect(),
                current_period: a.current.map(|x| x.label(a.cadence)),
                current_done: a.current_done,
            }),
            open_runs: self
                .open_runs
                .iter()
                .map(|r| OpenRunJson {
                    id: r.id.hyphenated().to_string(),
                    started_at: time_text(r.started_at),
                    operator: r.operator.clone(),
                    last_at: time_text(r.last_at),
                })
                .collect(),
            review_due: self.review_due.map(|d| d.format("%Y-%m-%d").to_string()),
            review_due_from: self.review_due_from,
            review: self.review,
            last_review: self.last_review.as_ref().map(RecordedReviewJson::from),
            change_pending: self.change_pending.is_some(),
            attention: self.attention(),
            training: self.training.clone(),
        }
    }

    /// Why this procedure needs attention (empty when it does not).
    pub fn attention(&self) -> Vec<String> {
        let mut why = Vec::new();
        if let Some(a) = &self.adherence
            && !a.missed.is_empty()
        {
            let (one, many) = Period::unit(a.cadence);
            let n = a.missed.len();
            why.push(format!("{n} missed {}", if n == 1 { one } else { many }));
        }
        if self.review == Review::Overdue {
            why.push("review overdue".into());
        }
        if self.change_pending.is_some() {
            why.push("review found a change needed".into());
        }
        why
    }
}

/// The status of every procedure.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusReport {
    pub today: NaiveDate,
    pub days: u32,
    pub procedures: Vec<ProcedureStatus>,
}

/// Status of the procedures in the folder plus any the log knows that the
/// folder does not (parsed from the source their latest run used).
pub fn collect(
    store: Option<&Store>,
    procedures: &[(PathBuf, Procedure)],
    today: NaiveDate,
    days: u32,
) -> Result<StatusReport, StoreError> {
    let (rows, recorded) = match store {
        // Drills are practice: never counted here (docs/training.md).
        Some(s) => (
            s.runs(&RunQuery {
                drill: Some(false),
                ..RunQuery::default()
            })?,
            recorded(s, None)?,
        ),
        None => (Vec::new(), RecordedById::new()),
    };
    // No log yet, or an empty one: it starts today.
    let log_start = match store {
        Some(s) => s.first_record_day()?.or(Some(today)),
        None => Some(today),
    };
    let mut by_procedure: BTreeMap<&str, Vec<&RunRow>> = BTreeMap::new();
    for r in &rows {
        by_procedure.entry(&r.procedure_id).or_default().push(r);
    }
    let mut out = Vec::new();
    let mut known = BTreeSet::new();
    for (path, p) in procedures {
        if !known.insert(p.id.clone()) {
            continue;
        }
        let runs = by_procedure.get(p.id.as_str()).cloned().unwrap_or_default();
        out.push(ProcedureStatus::compute(
            p,
            Some(path.clone()),
            &runs,
            recorded.get(&p.id),
            today,
            days,
            log_start,
        ));
    }
    if let Some(store) = store {
        for (id, runs) in &by_procedure {
            if known.contains(*id) {
                continue;
            }
            // Newest first from the store: the latest run's source.
            let Some(latest) = runs.first() else { continue };
            let parsed =
                store
                    .procedure_source(&latest.procedure_sha256)?
                    .and_then(|(text, format)| {
                        super::parse_stored(&latest.procedure_sha256, text, &format)
                    });
            if let Some(p) = parsed {
                out.push(ProcedureStatus::compute(
                    &p,
                    None,
                    runs,
                    recorded.get(*id),
                    today,
                    days,
                    log_start,
                ));
            }
        }
    }
    Ok(StatusReport {
        today,
        days,
        procedures: out,
    })
}

impl StatusReport {
    /// Procedures that need attention.
    pub fn attention(&self) -> usize {
        self.procedures
            .iter()
            .filter(|p| !p.attention().is_empty())
            .count()
    }

    fn window_text(&self) -> String {
        let from = self.window_start();
        format!(
            "looking back {} day{} ({} to {})",
            self.days,
            if self.days == 1 { "" } else { "s" },
            from.format("%Y-%m-%d"),
            day_before(self.today).format("%Y-%m-%d")
        )
    }

    /// The `status --json` output.
    pub fn to_json(&self) -> StatusJson {
        StatusJson {
            today: self.today.format("%Y-%m-%d").to_string(),
            days: self.days,
            procedures: self
                .procedures
                .iter()
                .map(ProcedureStatus::to_json)
                .collect(),
            needing_attention: self.attention(),
        }
    }

    /// The status for a terminal: a table, then what needs attention in detail.
    /// `width`: the terminal's columns, which the table fits (cutting the
    /// adherence, last-run and then procedure columns with `…`); `None` (piped):
    /// lines are whole.
    pub fn render_text(&self, color: bool, width: Option<usize>) -> String {
        let paint = |s: &str, code: &str| {
            if color {
                format!("\x1b[{code}m{s}\x1b[0m")
            } else {
                s.to_string()
            }
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Status on {} (UTC), {}.\n",
            self.today.format("%Y-%m-%d"),
            self.window_text()
        );
        if self.procedures.is_empty() {
            out.push_str("No procedures found, and no runs in the log.\n");
            return out;
        }
        let header = [
            "PROCEDURE",
            "CADENCE",
            "LAST RUN",
            "RECENT",
            "ADHERENCE",
            "OPEN",
            "REVIEW",
        ];
        let mut rows: Vec<[String; 7]> = self
            .procedures
            .iter()
            .map(|p| {
                let last = p.last_run.as_ref().map_or("never".to_string(), |r| {
                    let outcome = sanitize_line(outcome_text(r));
                    format!("{} {outcome}", r.started_at.format("%Y-%m-%d"))
                });
                let adherence = match &p.adherence {
                    None => "—".to_string(),
                    Some(a) if a.checked.is_empty() => "none due yet".to_string(),
                    Some(a) if a.missed.is_empty() => {
                        let (one, many) = Period::unit(a.cadence);
                        let n = a.checked.len();
                        format!("ok ({n} {})", if n == 1 { one } else { many })
                    }
                    Some(a) => {
                        let (_, many) = Period::unit(a.cadence);
                        format!("{} of {} {many} missed", a.missed.len(), a.checked.len())
                    }
                };
                let from = p
                    .review_due_from
                    .map_or("", crate::procedure::render::due_suffix);
                let review = match (p.review, p.review_due) {
                    (Review::NotSet, _) | (_, None) => "not set".to_string(),
                    (Review::Overdue, Some(d)) => format!("OVERDUE {d}{from}"),
                    (Review::DueSoon, Some(d)) => format!("due {d}{from}"),
                    (Review::Ok, Some(d)) => format!("{d}{from}"),
                };
                [
                    sanitize_line(&p.id),
                    p.cadence.as_str().to_string(),
                    last,
                    format!("{} runs", p.recent.runs),
                    adherence,
                    p.open_runs.len().to_string(),
                    review,
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r.iter()) {
                *w = (*w).max(c.chars().count());
            }
        }
        if let Some(max) = width {
            columns::fit(&mut widths, &mut rows, max, &[(4, 12), (2, 10), (0, 12)]);
        }
        let pad =
            |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
        let line: Vec<String> = header.iter().zip(widths).map(|(h, w)| pad(h, w)).collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
        for (r, p) in rows.iter().zip(&self.procedures) {
            let cells: Vec<String> = r
                .iter()
                .zip(widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    let padded = pad(c, w);
                    let bad = (i == 4
                        && p.adherence.as_ref().is_some_and(|a| !a.missed.is_empty()))
                        || (i == 6 && p.review == Review::Overdue);
                    if bad { paint(&padded, "31") } else { padded }
                })
                .collect();
            let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        }

        for p in &self.procedures {
            let why = p.attention();
            if why.is_empty() && p.open_runs.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "\n{} — {} (v{})",
                sanitize_line(&p.id),
                sanitize_line(&p.title),
                sanitize_line(&p.version)
            );
            if p.file.is_none() {
                let _ = writeln!(
                    out,
                    "  not in the procedures folder; known from the log (source of its latest run)"
                );
            }
            if let Some(r) = &p.last_run {
                let _ = writeln!(
                    out,
                    "  last run    {} by {}: {}",
                    r.started_at.format("%Y-%m-%d %H:%M UTC"),
                    sanitize_line(&operator_text(r)),
                    sanitize_line(outcome_text(r))
                );
            }
            let _ = writeln!(out, "  recent      {}", counts_text(&p.recent));
            if let Some(a) = &p.adherence {
                if !a.missed.is_empty() {
                    let (_, many) = Period::unit(a.cadence);
                    let _ = writeln!(
                        out,
                        "  {}",
                        paint(
                            &format!(
                                "MISSED      {} of {} {many} had no completed run:",
                                a.missed.len(),
                                a.checked.len()
                            ),
                            "31"
                        )
                    );
                    let labels: Vec<String> = a.missed.iter().map(|m| m.label(a.cadence)).collect();
                    for chunk in labels.chunks(6) {
                        let _ = writeln!(out, "              {}", chunk.join(", "));
                    }
                }
                if let Some(c) = a.current {
                    let _ = writeln!(
                        out,
                        "  now         {}: {}",
                        c.label(a.cadence),
                        if a.current_done {
                            "done"
                        } else {
                            "not run yet"
                        }
                    );
                }
            }
            for r in &p.open_runs {
                let _ = writeln!(
                    out,
                    "  open run    {} started {} by {} (last activity {}); `runsheet resume {}`",
                    r.id,
                    r.started_at.format("%Y-%m-%d %H:%M UTC"),
                    sanitize_line(&operator_text(r)),
                    r.last_at.format("%Y-%m-%d %H:%M UTC"),
                    r.id
                );
            }
            if let Some(r) = &p.last_review {
                let _ = writeln!(
                    out,
                    "  last review {} by {} of v{}: {}",
                    r.on,
                    sanitize_line(&r.by),
                    sanitize_line(&r.version),
                    r.outcome
                );
            }
            if p.review == Review::Overdue
                && let Some(d) = p.review_due
            {
                let from = p.review_due_from.map_or("file", DueFrom::words);
                let _ = writeln!(
                    out,
                    "  {}",
                    paint(
                        &format!(
                            "REVIEW      was due on {d} ({from}); review it: `runsheet review {} --outcome unchanged|changed --note …`",
                            sanitize_line(&p.id)
                        ),
                        "31"
                    )
                );
            }
            if let Some(r) = &p.change_pending {
                let _ = writeln!(
                    out,
                    "  {}",
                    paint(
                        &format!(
                            "CHANGE      the review on {} by {} found the procedure needs a change; no new version is approved since",
                            r.on,
                            sanitize_line(&r.by)
                        ),
                        "31"
                    )
                );
            }
        }
        let n = self.attention();
        if n == 0 {
            let _ = writeln!(out, "\nNothing missed or overdue.");
        } else {
            let names: Vec<String> = self
                .procedures
                .iter()
                .filter(|p| !p.attention().is_empty())
                .map(|p| format!("{} ({})", sanitize_line(&p.id), p.attention().join(", ")))
                .collect();
            let _ = writeln!(
                out,
                "\n{n} procedure{} need{} attention: {}.",
                if n == 1 { "" } else { "s" },
                if n == 1 { "s" } else { "" },
                names.join("; ")
            );
        }
        let flagged: Vec<&ProcedureStatus> = self
            .procedures
            .iter()
            .filter(|p| !p.training.is_empty())
            .collect();
        if !flagged.is_empty() {
            let _ = writeln!(
                out,
                "
Training (runs since {}; see `runsheet training`):",
                self.window_start().format("%Y-%m-%d")
            );
            for p in flagged {
                for f in &p.training {
                    let _ = writeln!(out, "  {}: {}", sanitize_line(&p.id), sanitize_line(f));
                }
            }
        }
        out
    }

    /// Attach each procedure's training flags: untrained runs started in
    /// the window (the `days` days before today, and today).
    pub fn set_training(&mut self, training: &super::training::TrainingReport) {
        let since = self.window_start();
        for p in &mut self.procedures {
            if let Some(t) = training.procedures.iter().find(|t| t.id == p.id) {
                p.training = t.flags(Some(since));
            }
        }
    }

    /// The first day of the window: `days` days before today.
    fn window_start(&self) -> NaiveDate {
        super::cadence::window_start(self.today, self.days)
    }
}

/// The log's approvals and reviews (of `id`, or of every procedure), per
/// procedure id, in log order.
pub fn recorded(store: &Store, id: Option<&str>) -> Result<RecordedById, StoreError> {
    let mut out = RecordedById::new();
    for act in store.procedure_acts(id)? {
        let entry = out.entry(act.act.procedure_id().to_string()).or_default();
        match recorded_act(&act) {
            Recorded::Approval(a) => entry.approvals.push(a),
            Recorded::Review(r) => entry.reviews.push(r),
        }
    }
    Ok(out)
}

enum Recorded {
    Approval(RecordedApproval),
    Review(RecordedReview),
}

fn recorded_act(act: &ProcedureAct) -> Recorded {
    let day = |s: &str| s.parse::<NaiveDate>().unwrap_or(act.at.date_naive());
    match &act.act {
        Act::Approved(a) => Recorded::Approval(RecordedApproval {
            seq: act.seq,
            sha256: a.procedure_sha256.clone(),
            version: a.procedure_version.clone(),
            on: day(&a.approved_on),
            by: a.by.user.clone(),
            name: a.by.name.clone(),
            method: a.by.method.clone(),
            role_checked: a.by.role_from.is_some(),
        }),
        Act::Reviewed(r) => Recorded::Review(RecordedReview {
            seq: act.seq,
            sha256: r.procedure_sha256.clone(),
            version: r.procedure_version.clone(),
            on: day(&r.reviewed_on),
            by: r.by.user.clone(),
            outcome: r.outcome.clone(),
            next: day(&r.next_review),
        }),
    }
}
