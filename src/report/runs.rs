//! `runsheet runs` and `runsheet show` for people: the runs table and one
//! run's header and timeline for the terminal (untrusted text made harmless,
//! outcomes coloured when asked), and the JSON shapes of a run and an event
//! (`--json`).
//!
//! May not depend on the bundle side (`export`), the front ends, the session
//! or the app.

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::timeline::{Entry, Tone, describe, operator_text, run_duration};
use super::{RunStats, clock, clock_utc, outcome_text};
use crate::procedure::Procedure;
use crate::store::{RunRow, StoredEvent, time_text};
use crate::text::columns::{self, cut as fit};
use crate::text::{sanitize_line, sanitize_terminal};
use crate::vocab::{EventKind, OPEN, Outcome};

/// A run in `runs --json` and `show --json` (docs/json.md).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RunJson {
    /// The run id (a UUID).
    pub id: String,
    pub procedure_id: String,
    pub procedure_version: String,
    pub procedure_title: String,
    /// SHA-256 (hex) of the procedure source the run used, as stored in the log.
    pub procedure_sha256: String,
    /// The procedure's Annex A controls.
    pub controls: Vec<String>,
    /// Where the procedure file was when the run started.
    pub source_path: String,
    /// The OS user who started the run.
    pub operator: String,
    pub operator_name: Option<String>,
    pub host: String,
    pub runsheet_version: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// RFC 3339 UTC; null while the run is open.
    pub ended_at: Option<String>,
    /// completed, escalated, aborted, or open.
    pub outcome: String,
    /// A practice run (`run --drill`, docs/training.md): never counted in
    /// status or in an export's runs.
    pub drill: bool,
    /// How many events the run has in the log.
    pub event_count: i64,
    /// The time of the run's latest event (RFC 3339 UTC).
    pub last_at: String,
}

/// `runsheet runs --json`: the runs that match, newest first.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RunsJson {
    pub runs: Vec<RunJson>,
}

/// `runsheet show --json`: the run and every one of its events in log order.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ShowJson {
    #[serde(flatten)]
    pub run: RunJson,
    /// The run's events (`event_count` of them), oldest first.
    pub events: Vec<EventJson>,
}

/// An event in `show --json`, as stored, with its meaning in words.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EventJson {
    /// Position in the whole log (1, 2, 3 …).
    pub seq: i64,
    /// Position within the run (1 = run-started).
    pub run_seq: i64,
    /// RFC 3339 UTC.
    pub at: String,
    pub actor: String,
    /// The event kind (docs/evidence-schema.md).
    pub kind: String,
    pub step: Option<String>,
    pub step_title: Option<String>,
    /// What the event means, in words.
    pub what: String,
    /// The payload as stored (the text `payload_sha256` covers); its members
    /// per kind are in docs/evidence-schema.md.
    pub payload: Value,
    pub payload_sha256: String,
    /// The redactable content the payload commits to, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<crate::store::Content>,
    pub prev_hash: String,
    pub hash: String,
}

/// A run as JSON (`runs --json`, `show --json`).
pub fn run_json(r: &RunRow) -> RunJson {
    RunJson {
        id: r.id.hyphenated().to_string(),
        procedure_id: r.procedure_id.clone(),
        procedure_version: r.procedure_version.clone(),
        procedure_title: r.procedure_title.clone(),
        procedure_sha256: r.procedure_sha256.clone(),
        controls: r.controls.clone(),
        source_path: r.source_path.clone(),
        operator: r.operator.clone(),
        operator_name: r.operator_name.clone(),
        host: r.host.clone(),
        runsheet_version: r.runsheet_version.clone(),
        started_at: time_text(r.started_at),
        ended_at: r.ended_at.map(time_text),
        outcome: outcome_text(r).to_string(),
        drill: r.drill,
        event_count: r.event_count,
        last_at: time_text(r.last_at),
    }
}

/// An event as JSON, with its meaning in words (`show --json`).
pub fn event_json(e: &StoredEvent, entry: &Entry) -> EventJson {
    EventJson {
        seq: e.seq,
        run_seq: e.run_seq,
        at: time_text(e.at),
        actor: e.actor.clone(),
        kind: e.kind.clone(),
        step: e.step.clone(),
        step_title: entry.step.and_then(|s| s.title).map(str::to_string),
        what: entry.what.clone(),
        payload: e.payload.clone(),
        payload_sha256: e.payload_sha256.clone(),
        content: e.content.clone(),
        prev_hash: e.prev_hash.clone(),
        hash: e.hash.clone(),
    }
}

const RESET: &str = "\x1b[0m";

fn paint(text: &str, tone: Tone, color: bool) -> String {
    let code = match tone {
        Tone::Plain => return text.to_string(),
        Tone::Good => "\x1b[32m",
        Tone::Warn => "\x1b[33m",
        Tone::Bad => "\x1b[31m",
    };
    if color {
        format!("{code}{text}{RESET}")
    } else {
        text.to_string()
    }
}

fn outcome_tone(outcome: &str) -> Tone {
    match Outcome::parse(outcome) {
        Some(Outcome::Completed) => Tone::Good,
        Some(Outcome::Escalated | Outcome::Aborted) => Tone::Warn,
        None if outcome == OPEN => Tone::Warn,
        _ => Tone::Bad,
    }
}

fn pad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(width.saturating_sub(n)))
}

/// The `runs` table: a header, then newest first as given, one line per
/// run, columns sized to their content; untrusted text made harmless.
/// `fit`: the terminal's columns when the table goes to one, and each
/// row's shortest unique run id. A table wider than the terminal shows
/// those ids, then cuts the procedure and operator columns (with `…`),
/// down to 10 and 7 characters. Piped, lines are whole.
pub fn runs_table(rows: &[RunRow], color: bool, fit_to: Option<(usize, &[String])>) -> String {
    let header = [
        "RUN ID",
        "STARTED (UTC)",
        "PROCEDURE",
        "OPERATOR",
        "OUTCOME",
        "DURATION",
        "EVENTS",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.id.hyphenated().to_string(),
                clock(r.started_at, false).to_string(),
                fit(
                    &sanitize_line(&format!(
                        "{} v{}{}",
                        r.procedure_id,
                        r.procedure_version,
                        if r.drill { " DRILL" } else { "" }
                    )),
                    40,
                ),
                fit(&sanitize_line(&operator_text(r)), 28),
                sanitize_line(outcome_text(r)),
                run_duration(r).unwrap_or_else(|| "—".into()),
                r.event_count.to_string(),
            ]
        })
        .collect();
    let mut cells = cells;
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    if let Some((max, labels)) = fit_to
        && columns::total(&widths) > max
    {
        if labels.len() == cells.len() {
            for (row, label) in cells.iter_mut().zip(labels) {
                row[0].clone_from(label);
            }
            widths[0] = cells
                .iter()
                .map(|r| r[0].chars().count())
                .chain([header[0].chars().count()])
                .max()
                .unwrap_or(0);
        }
        // Cut the procedure column first, then the operator's.
        columns::fit(&mut widths, &mut cells, max, &[(2, 10), (3, 7)]);
    }
    let mut out = String::new();
    let line: Vec<String> = header.iter().zip(widths).map(|(h, w)| pad(h, w)).collect();
    let _ = writeln!(out, "{}", line.join("  ").trim_end());
    for (row, r) in cells.iter().zip(rows) {
        let mut parts = Vec::with_capacity(7);
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            let cell = match i {
                4 => paint(&pad(c, w), outcome_tone(outcome_text(r)), color),
                5 | 6 => format!("{}{c}", " ".repeat(w.saturating_sub(c.chars().count()))),
                _ => pad(c, w),
            };
            parts.push(cell);
        }
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    }
    out
}

/// The line under the `runs` table at a terminal (on stderr, and never
/// into a pipe, so `runs | wc -l` counts the header and the runs only):
/// how many, and how to see one.
pub fn runs_hint(shown: usize, limited: bool) -> String {
    format!(
        "{shown} run{}{}. `runsheet show <RUN ID>` shows one (a prefix is enough).",
        if shown == 1 { "" } else { "s" },
        if limited { " (--limit)" } else { "" }
    )
}

/// The `show` header and timeline for a terminal.
pub fn show_text(
    row: &RunRow,
    events: &[StoredEvent],
    p: Option<&Procedure>,
    color: bool,
) -> String {
    let mut out = String::new();
    let s = |t: &str| sanitize_line(t);
    let _ = writeln!(out, "Run {}", row.id);
    if row.drill {
        let _ = writeln!(
            out,
            "  DRILL      a practice run: not a production run, never counted in status or an export's runs (docs/training.md)"
        );
    }
    let _ = writeln!(
        out,
        "  Procedure  {} — {} v{}",
        s(&row.procedure_title),
        s(&row.procedure_id),
        s(&row.procedure_version)
    );
    let _ = writeln!(
        out,
        "             source SHA-256 {}",
        s(&row.procedure_sha256)
    );
    if !row.controls.is_empty() {
        let _ = writeln!(out, "  Controls   {}", s(&row.controls.join(", ")));
    }
    let _ = writeln!(
        out,
        "  Operator   {} on {}",
        s(&operator_text(row)),
        s(&row.host)
    );
    let _ = writeln!(out, "  Started    {}", clock_utc(row.started_at, true));
    match (row.ended_at, run_duration(row)) {
        (Some(end), Some(d)) => {
            let _ = writeln!(out, "  Ended      {} ({d})", clock_utc(end, true));
        }
        _ => {
            let _ = writeln!(
                out,
                "  Ended      not yet — the run is open (last activity {}); `runsheet resume {}`",
                clock_utc(row.last_at, true),
                row.id
            );
        }
    }
    let stats = RunStats::of(events).of_outcome(row.outcome.as_deref());
    let outcome = s(&outcome_text(row).to_ascii_uppercase());
    let _ = writeln!(
        out,
        "  Outcome    {} · {} deviation{} ({} skipped, {} failed, {} warning acknowledgement{}{})",
        paint(&outcome, outcome_tone(outcome_text(row)), color),
        stats.deviations(),
        if stats.deviations() == 1 { "" } else { "s" },
        stats.deviations.skipped,
        stats.deviations.failed,
        stats.deviations.warnings_acknowledged,
        if stats.deviations.warnings_acknowledged == 1 {
            ""
        } else {
            "s"
        },
        if stats.unfinished {
            "; the run is open or aborted"
        } else {
            ""
        },
    );
    let _ = writeln!(out, "  Events     {}", events.len());
    out.push('\n');

    let entries: Vec<Entry> = events.iter().map(|e| describe(e, p)).collect();
    let who_width = entries
        .iter()
        .map(|e| s(e.actor).chars().count().min(24))
        .max()
        .unwrap_or(3)
        .max(3);
    let _ = writeln!(
        out,
        "  {:<19}  {}  WHAT",
        "TIME (UTC)",
        pad("WHO", who_width)
    );
    let indent = " ".repeat(2 + 19 + 2 + who_width + 2);
    let mut current: Option<String> = None;
    for entry in &entries {
        let time = entry.seconds().to_string();
        let who = pad(&fit(&s(entry.actor), 24), who_width);
        let mut lines: Vec<String> = Vec::new();
        match (&entry.step, EventKind::parse(entry.kind)) {
            (Some(step), Some(EventKind::StepStarted)) => {
                current = Some(step.id.to_string());
                lines.push(format!("▶ {}", s(&step.label())));
                if entry.tone == Tone::Warn {
                    lines.push(format!("  {}", s(&entry.what)));
                }
            }
            (Some(step), _) => {
                let mut first = true;
                if current.as_deref() != Some(step.id) {
                    lines.push(format!("  [{}]", s(&step.label())));
                    first = false;
                }
                for (i, l) in sanitize_terminal(&entry.what).lines().enumerate() {
                    let l = l.replace('\t', " ");
                    let text = if i == 0 {
                        paint(&l, entry.tone, color)
                    } else {
                        l
                    };
                    lines.push(format!(
                        "  {}{text}",
                        if i == 0 || first { "" } else { "  " }
                    ));
                }
            }
            (None, _) => {
                for (i, l) in sanitize_terminal(&entry.what).lines().enumerate() {
                    let l = l.replace('\t', " ");
                    lines.push(if i == 0 {
                        paint(&l, entry.tone, color)
                    } else {
                        format!("  {l}")
                    });
                }
            }
        }
        if let Some(o) = &entry.output {
            for l in sanitize_terminal(&o.text).lines() {
                lines.push(format!("    │ {}", l.replace('\t', "    ")));
            }
            if o.trimmed {
                lines.push(format!(
                    "    │ … (trimmed; the evidence keeps {} bytes, SHA-256 {})",
                    o.bytes,
                    s(&o.sha256)
                ));
            }
        }
        if lines.is_empty() {
            lines.push(String::new());
        }
        for (i, l) in lines.iter().enumerate() {
            if i == 0 {
                let _ = writeln!(out, "  {time}  {who}  {l}");
            } else {
                let _ = writeln!(out, "{indent}{l}");
            }
        }
    }
    out
}
