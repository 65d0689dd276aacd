//! `runsheet runs` and `runsheet show` for people: the runs table and one
//! run's header and timeline for the terminal (untrusted text made harmless,
//! outcomes coloured when asked), and the JSON shapes of a run and an event
//! (`--json`).
//!
//! May not depend on the bundle side (`export`), the front ends, the session
//! or the app.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::timeline::{Entry, Tone, describe, operator_text, run_duration};
use super::{RunStats, clock, clock_utc, outcome_text};
use crate::procedure::Procedure;
use crate::store::{RunRow, StoredEvent, time_text};
use crate::text::{sanitize_line, sanitize_terminal};
use crate::vocab::{EventKind, OPEN, Outcome};

/// A run as JSON (`runs --json`, `show --json`, evidence.json): every column of
/// its row, times as stored, `outcome` `open` while open.
pub fn run_json(r: &RunRow) -> Value {
    json!({
        "id": r.id.hyphenated().to_string(),
        "procedure_id": r.procedure_id,
        "procedure_version": r.procedure_version,
        "procedure_title": r.procedure_title,
        "procedure_sha256": r.procedure_sha256,
        "controls": r.controls,
        "source_path": r.source_path,
        "operator": r.operator,
        "operator_name": r.operator_name,
        "host": r.host,
        "runsheet_version": r.runsheet_version,
        "started_at": time_text(r.started_at),
        "ended_at": r.ended_at.map(time_text),
        "outcome": outcome_text(r),
        "events": r.event_count,
        "last_at": time_text(r.last_at),
    })
}

/// An event as JSON, with its meaning in words (`show --json`).
pub fn event_json(e: &StoredEvent, entry: &Entry) -> Value {
    json!({
        "seq": e.seq,
        "run_seq": e.run_seq,
        "at": time_text(e.at),
        "actor": e.actor,
        "kind": e.kind,
        "step": e.step,
        "step_title": entry.step.and_then(|s| s.title),
        "what": entry.what,
        "payload": e.payload,
        "payload_sha256": e.payload_sha256,
        "content": e.content,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    })
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

/// Cut a one-line text to `max` characters, ending in `…` when cut.
fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
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
                    &sanitize_line(&format!("{} v{}", r.procedure_id, r.procedure_version)),
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
    let total = |w: &[usize; 7]| w.iter().sum::<usize>() + 2 * (w.len() - 1);
    if let Some((max, labels)) = fit_to
        && total(&widths) > max
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
        for (col, floor) in [(2, 10), (3, 7)] {
            let over = total(&widths).saturating_sub(max);
            widths[col] = widths[col].saturating_sub(over).max(floor);
        }
        for row in &mut cells {
            for col in [2, 3] {
                row[col] = fit(&row[col], widths[col]);
            }
        }
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
    let stats = RunStats::of(events);
    let outcome = s(&outcome_text(row).to_ascii_uppercase());
    let _ = writeln!(
        out,
        "  Outcome    {} · {} deviation{} ({} skipped, {} failed, {} warning acknowledgement{})",
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
