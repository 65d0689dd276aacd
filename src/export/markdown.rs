//! `report.md`: the HTML report's content as Markdown (CommonMark + GFM
//! tables), written in the same pieces so it streams.
//!
//! Every piece of stored text is untrusted: control characters are made
//! visible and every character that could start Markdown or HTML markup is
//! backslash-escaped, so `<script>` stays text even in renderers that pass raw
//! HTML through. May not depend on the front ends or the app.

use std::io::{self, Write};

use super::escape;
use super::{Counts, ReportMeta, RunHead, Summary, filters_text, period_text};
use crate::report::timeline::{Entry, operator_text, run_duration};
use crate::report::{RunStats, clock, clock_utc, outcome_text};
use crate::store::RunRow;
use crate::text::natural::natural_cmp;
use crate::vocab::{EventKind, Outcome};

/// Untrusted text for one Markdown table cell or heading: control characters
/// visible, markup characters escaped, line breaks as `<br>`.
pub fn md(s: &str) -> String {
    escape::to_string(s, escape::md)
}

fn counts_cells(c: &Counts) -> String {
    format!(
        "{} | {} | {} | {} | {} | {} | {}",
        c.outcomes.runs,
        c.outcomes.completed,
        c.outcomes.escalated,
        c.outcomes.failed,
        c.outcomes.aborted,
        c.outcomes.open,
        c.deviations
    )
}

const COUNT_HEADERS: &str = "Runs | Completed | Escalated | Failed | Aborted | Open | Deviations";
const COUNT_RULE: &str = "---: | ---: | ---: | ---: | ---: | ---: | ---:";

/// Title, export facts, summaries and the start of the run index.
pub fn write_head(w: &mut impl Write, meta: &ReportMeta, summary: &Summary) -> io::Result<()> {
    writeln!(w, "# Audit report: documented operating procedures\n")?;
    if !meta.verdict.verified {
        writeln!(w, "> **NOT VERIFIED.** {}\n", md(&meta.verdict.sentence()))?;
    }
    if meta.verdict.test_data {
        writeln!(
            w,
            "> **GENERATED TEST DATA — NOT EVIDENCE.** The evidence log this was exported from was written by runsheet's development-only log generator.\n"
        )?;
    }
    writeln!(
        w,
        "Evidence of procedure runs exported from a runsheet evidence log \
         (ISO/IEC 27001:2022 A.5.37). Every run below is the full record the log holds for it.\n"
    )?;
    writeln!(w, "| | |\n| --- | --- |")?;
    let span = match (summary.first, summary.last) {
        (Some(f), Some(l)) => format!(
            " (first run started {}, last {})",
            clock_utc(f, false),
            clock_utc(l, false)
        ),
        _ => String::new(),
    };
    writeln!(w, "| Period | {}{span} |", md(&period_text(&meta.query)))?;
    writeln!(w, "| Filters | {} |", md(&filters_text(&meta.query)))?;
    writeln!(w, "| Runs | {} runs, {} events |", meta.runs, meta.events)?;
    writeln!(
        w,
        "| Exported | {} by {} with {} |",
        clock_utc(meta.created_at, true),
        md(&meta.exported_by),
        md(&meta.generator)
    )?;
    writeln!(
        w,
        "| Verification | **{}** {} |",
        if meta.verdict.verified {
            "VERIFIED."
        } else {
            "NOT VERIFIED."
        },
        md(&meta.verdict.sentence())
    )?;
    writeln!(
        w,
        "| Evidence log chain head | event {}, hash `{}`: the head the export read and verified |",
        meta.checkpoint.head_seq, meta.checkpoint.head_hash
    )?;
    writeln!(
        w,
        "| How to verify | `runsheet verify-bundle THIS_FOLDER --key LOG_KEY` checks every file against manifest.json (signed with the log's key), the log's signed checkpoint, that the log's record of this export (export.json, which lists every file's SHA-256) is in it, and every exported event's hashes; `--witness KEY` checks a witness's cosignature, `--db EVIDENCE_LOG` the log itself. docs/audit-bundle.md also shows how to check it with only openssl and Python. |\n"
    )?;

    write_cadence(w, summary)?;

    writeln!(w, "## Summary by control\n")?;
    writeln!(
        w,
        "A run counts under every Annex A control its procedure names. Deviations are skipped \
         steps, failed steps, document-control warnings acknowledged, and one for each run left \
         open or aborted.\n"
    )?;
    writeln!(w, "| Control | {COUNT_HEADERS} |\n| --- | {COUNT_RULE} |")?;
    for (control, c) in &summary.by_control {
        writeln!(w, "| {} | {} |", md(control), counts_cells(c))?;
    }
    writeln!(w, "| **All runs** | {} |\n", counts_cells(&summary.total))?;

    writeln!(w, "## Summary by procedure\n")?;
    writeln!(
        w,
        "| Procedure | Id | Versions | {COUNT_HEADERS} |\n| --- | --- | --- | {COUNT_RULE} |"
    )?;
    for (id, (title, versions, c)) in &summary.by_procedure {
        writeln!(
            w,
            "| {} | {} | {} | {} |",
            md(title),
            md(id),
            md(&versions.join(", ")),
            counts_cells(c)
        )?;
    }
    writeln!(w, "\n## Runs\n")?;
    if meta.runs == 0 {
        writeln!(w, "No runs match the filters.\n")?;
    }
    writeln!(
        w,
        "| Started (UTC) | Procedure | Operator | Outcome | Deviations | Run id |\n| --- | --- | --- | --- | ---: | --- |"
    )
}

/// For each exported procedure with a cadence, the periods with no completed run.
fn write_cadence(w: &mut impl Write, summary: &Summary) -> io::Result<()> {
    writeln!(w, "## Cadence: periods with no completed run\n")?;
    writeln!(
        w,
        "For each exported procedure with a cadence, every period of it that is over, \
         from the procedure's approval date (or its first run, if earlier; not before the log's first record, \
         nor the export's --since) to yesterday (or the export's --until if earlier), is checked against every \
         completed run of the procedure in the log (runs \
         outside the filters count too). Escalated, failed, aborted and open runs do not fill a period.\n"
    )?;
    writeln!(
        w,
        "| Procedure | Cadence | Span checked (UTC) | Periods checked | Missed (no completed run) |\n| --- | --- | --- | ---: | --- |"
    )?;
    for row in summary.cadence_rows() {
        let Some(c) = row.checked else {
            writeln!(
                w,
                "| {} | — | — | — | no cadence (on demand) or no period over yet: not checked |",
                md(row.procedure)
            )?;
            continue;
        };
        let missed = match &c.missed {
            None => "none".to_string(),
            Some((count, labels)) => format!("**{count}:** {}", md(&labels.join(", "))),
        };
        writeln!(
            w,
            "| {} | {} | {} to {} | {} | {missed} |",
            md(row.procedure),
            md(c.cadence),
            c.from,
            c.to,
            c.checked,
        )?;
    }
    writeln!(w)
}

/// One row of the run index.
pub fn write_index_row(w: &mut impl Write, r: &RunRow, stats: &RunStats) -> io::Result<()> {
    write!(w, "| {} | ", clock(r.started_at, false))?;
    escape::md(w, &r.procedure_title)?;
    w.write_all(b" v")?;
    escape::md(w, &r.procedure_version)?;
    w.write_all(b" | ")?;
    match &r.operator_name {
        Some(n) if !n.trim().is_empty() => {
            escape::md(w, n)?;
            w.write_all(b" (")?;
            escape::md(w, &r.operator)?;
            w.write_all(b")")?;
        }
        _ => escape::md(w, &r.operator)?,
    }
    w.write_all(b" | ")?;
    escape::md(w, &outcome_text(r).to_ascii_uppercase())?;
    writeln!(
        w,
        " | {} | [`{}`](#run-{}) |",
        stats.deviations(),
        r.id,
        r.id
    )
}

/// Close the run index.
pub fn write_index_end(w: &mut impl Write) -> io::Result<()> {
    writeln!(w)
}

/// The start of one run's section: its facts and the timeline's head. The
/// entries follow ([`write_entry`]), then [`write_run_end`].
pub fn write_run_head(w: &mut impl Write, head: &RunHead<'_>) -> io::Result<()> {
    let r = head.row;
    let stats = head.stats;
    writeln!(w, "<a id=\"run-{}\"></a>\n", r.id)?;
    writeln!(
        w,
        "## {} — {}\n",
        md(&r.procedure_title),
        md(&outcome_text(r).to_ascii_uppercase())
    )?;
    writeln!(w, "| | |\n| --- | --- |")?;
    writeln!(w, "| Run id | `{}` |", r.id)?;
    writeln!(
        w,
        "| Procedure | {} v{}, source SHA-256 {} |",
        md(&r.procedure_id),
        md(&r.procedure_version),
        md(&r.procedure_sha256)
    )?;
    let controls = if r.controls.is_empty() {
        "none".to_string()
    } else {
        let mut c: Vec<&str> = r.controls.iter().map(String::as_str).collect();
        c.sort_by(|a, b| natural_cmp(a, b));
        c.join(", ")
    };
    writeln!(w, "| Controls | {} |", md(&controls))?;
    writeln!(
        w,
        "| Operator | {} on {} |",
        md(&operator_text(r)),
        md(&r.host)
    )?;
    writeln!(w, "| Started | {} |", clock_utc(r.started_at, true))?;
    match (r.ended_at, run_duration(r)) {
        (Some(end), Some(d)) => writeln!(w, "| Ended | {} ({d}) |", clock_utc(end, true))?,
        _ => writeln!(
            w,
            "| Ended | open — not ended at export (last activity {}) |",
            clock_utc(r.last_at, true)
        )?,
    }
    if stats.unfinished {
        let state = match r.outcome.as_deref().and_then(Outcome::parse) {
            Some(Outcome::Aborted) => "The run was aborted: it did not finish its procedure.",
            _ => "The run is open: it was not ended when the log was exported.",
        };
        write!(w, "| Why not completed | **{state}**")?;
        if let Some(e) = head.last {
            write!(
                w,
                " Its last event, seq {} at {} UTC by {}: {}",
                e.seq,
                e.seconds(),
                md(e.actor),
                md(&e.what)
            )?;
        }
        writeln!(w, " |")?;
    }
    writeln!(
        w,
        "| Deviations | {}: {} skipped, {} failed, {} warning acknowledgement(s){} |",
        stats.deviations(),
        stats.deviations.skipped,
        stats.deviations.failed,
        stats.deviations.warnings_acknowledged,
        if stats.unfinished {
            ", 1 for the run left open or aborted"
        } else {
            ""
        }
    )?;
    match head.seqs {
        Some((first, last)) => writeln!(
            w,
            "| Events | {} events, seq {first} to {last} in the log (the `seq` column of events.csv) |\n",
            stats.events
        )?,
        None => writeln!(w, "| Events | none |\n")?,
    }
    writeln!(
        w,
        "| Seq | Time (UTC) | Who | Step | What happened |\n| ---: | --- | --- | --- | --- |"
    )
}

/// One timeline row.
pub fn write_entry(w: &mut impl Write, e: &Entry<'_>) -> io::Result<()> {
    write!(w, "| {} | ", e.seq)?;
    match e.seconds().parts() {
        Some((day, time)) => {
            w.write_all(day.as_bytes())?;
            w.write_all(b" ")?;
            w.write_all(time.as_bytes())?;
        }
        None => escape::md(w, &e.at)?,
    }
    w.write_all(b" | ")?;
    escape::md(w, e.actor)?;
    w.write_all(b" | ")?;
    if let Some(s) = &e.step {
        match s.title {
            Some(title) => {
                escape::md(w, title)?;
                w.write_all(b" (")?;
                escape::md(w, s.id)?;
                w.write_all(b")")?;
            }
            None => escape::md(w, s.id)?,
        }
        if let Some(b) = s.branch {
            w.write_all(b"<br>escalation: ")?;
            escape::md(w, b)?;
        }
    }
    w.write_all(b" | ")?;
    let strong = e.kind == EventKind::StepStarted.as_str();
    if strong {
        w.write_all(b"**")?;
    }
    escape::md(w, e.what_before_contact())?;
    if strong {
        w.write_all(b"**")?;
    }
    if let Some(c) = &e.contact {
        w.write_all(b"<br>**Escalation contact:** ")?;
        escape::md(w, c)?;
    }
    if let Some(o) = &e.output {
        w.write_all(b"<br>Output:")?;
        for line in o.text.lines() {
            w.write_all("<br>│ ".as_bytes())?;
            escape::md(w, line)?;
        }
        if o.trimmed {
            write!(
                w,
                "<br>(trimmed; evidence.json keeps what was captured: {} bytes in all, SHA-256 {})",
                o.bytes,
                md(&o.sha256)
            )?;
        }
    }
    w.write_all(b" |\n")
}

/// The end of one run's section.
pub fn write_run_end(w: &mut impl Write) -> io::Result<()> {
    writeln!(w)
}

/// The recorded approvals and reviews, when there are any; the closing line.
pub fn write_foot(w: &mut impl Write, meta: &ReportMeta) -> io::Result<()> {
    if !meta.document_control.is_empty() {
        writeln!(
            w,
            "## Document control\n\nThe approvals and reviews of procedures the evidence log records (`runsheet history ID` lists them per version).\n\n| Procedure | SHA-256 | Act | On | By | Review | Seq |\n| --- | --- | --- | --- | --- | --- | --- |"
        )?;
        for a in &meta.document_control {
            writeln!(
                w,
                "| {} v{} | `{}` | {} | {} | {} | {} | {} |",
                md(&a.procedure_id),
                md(&a.version),
                md(a.sha256.get(..12).unwrap_or(&a.sha256)),
                a.what,
                md(&a.on),
                md(&a.by),
                md(&a.detail),
                a.seq
            )?;
        }
        writeln!(w)?;
    }
    writeln!(
        w,
        "---\n\nGenerated by {} at {}. The files of this bundle and their SHA-256 are listed in manifest.json.",
        md(&meta.generator),
        clock_utc(meta.created_at, true)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped_and_lines_become_breaks() {
        assert_eq!(
            md("<script>alert(1)</script> | *x*"),
            "\\<script\\>alert(1)\\</script\\> \\| \\*x\\*"
        );
        assert_eq!(md("a\nb"), "a<br>b");
        assert_eq!(md("esc \x1b[31m"), "esc \\\\u{1b}\\[31m");
    }
}
