//! `report.html`: a self-contained, printable audit report (inline CSS, no
//! scripts, no external assets; a Content-Security-Policy forbids both). The
//! period and filters, a summary by control and by procedure, an index of
//! runs, then each run's timeline on its own printed page. Written in pieces
//! (head, index rows, one run at a time, foot) so it streams.
//!
//! Every piece of stored text is untrusted: control characters are made
//! visible and HTML special characters escaped. May not depend on the front
//! ends or the app.

use std::io::{self, Write};

use super::escape;
use super::{Counts, ReportMeta, RunHead, Summary, filters_text, period_text};
use crate::report::timeline::{Entry, Tone, operator_text, run_duration};
use crate::report::{RunStats, clock, clock_utc, outcome_text};
use crate::store::RunRow;
use crate::text::natural::natural_cmp;
use crate::vocab::{EventKind, Outcome};

// In print, the body keeps 1px of padding on each side: a collapsed table
// border lies half outside its table, and at the page's edge Chromium cut
// the right border of full-width tables off (depending on rounding).
const CSS: &str = "\
:root{color-scheme:light;--ink:#1a1a1a;--muted:#5a5a5a;--line:#cfcfcf;--bad:#a4161a;--warn:#8a5a00;--good:#1b6e20;--stop:#4a4a4a;--open:#1f4e8c}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--ink);max-width:72rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.6rem;margin:0 0 .4rem}
h2{font-size:1.25rem;border-bottom:1px solid var(--line);padding-bottom:.2rem;margin:2rem 0 .6rem}
h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
p.lead{color:var(--muted);margin:.2rem 0 1rem}
table{border-collapse:collapse;margin:.4rem 0 1rem;width:100%}
th,td{border:1px solid var(--line);padding:.22rem .5rem;text-align:left;vertical-align:top}
thead th{background:#f0f0f0}
th[scope=row]{background:#f7f7f7;width:13rem;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;width:6.5rem}
.mono,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.86em;word-break:break-all}
.runid{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.86em;white-space:nowrap}
.muted{color:var(--muted)}
.alarm{border:3px solid var(--bad);color:var(--bad);padding:.6rem .8rem;font-size:1.1rem;margin:.8rem 0}
.text{white-space:pre-wrap;overflow-wrap:anywhere}
.bad{color:var(--bad);font-weight:600}.warn{color:var(--warn);font-weight:600}.good{color:var(--good)}
.badge{display:inline-block;border:1px solid currentColor;border-radius:3px;padding:0 .35rem;font-size:.8rem;font-weight:700;letter-spacing:.02em;white-space:nowrap;-webkit-print-color-adjust:exact;print-color-adjust:exact}
.badge::before{font-weight:400}
.o-completed{color:var(--good)}.o-completed::before{content:'\\2713\\00a0'}
.o-escalated{color:var(--warn);border:3px double currentColor}.o-escalated::before{content:'\\25B2\\00a0'}
.o-failed{color:#fff;background:var(--bad);border-color:var(--bad)}.o-failed::before{content:'\\2717\\00a0'}
.o-aborted{color:var(--stop);border:2px dashed currentColor;background:#ececec}.o-aborted::before{content:'\\25A0\\00a0'}
.o-open{color:var(--open);border:2px dotted currentColor}.o-open::before{content:'\\25CB\\00a0'}
td.dev{color:var(--warn);font-weight:700}
.contact{display:block;margin-top:.2rem;padding:.1rem .35rem;border-left:4px solid var(--bad);font-weight:600;color:var(--ink)}
.why{border-left:4px solid var(--stop);padding:.1rem .4rem}
table.timeline{table-layout:fixed}
table.timeline th.seq{width:4.5em}table.timeline td.seq{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.timeline th.time{width:12.5em}table.timeline th.step{width:15em}
table.timeline td.time{white-space:nowrap}
table.index th.id{width:22em}.day{white-space:nowrap}
.who{display:block;color:var(--muted);font-size:.85em;white-space:normal;overflow-wrap:anywhere}
table.timeline tr.start td{background:#f7f7f7}
section.training table,section.document-control table{table-layout:fixed}section.training td,section.document-control td{overflow-wrap:anywhere}
section.training th.proc,section.document-control th.proc{width:11em}section.training th.sha,section.document-control th.sha{width:8.5em}
section.training th.act,section.document-control th.act{width:6.5em}section.training th.on,section.document-control th.on{width:8em}
section.document-control th.by{width:11em}section.training th.op{width:8em}section.document-control th.n{width:4em}
section.training td .runid{font-size:.8em}
.stepid{display:block;color:var(--muted);font-size:.8em}
.branch{display:block;color:var(--warn);font-size:.8em}
pre{background:#f6f6f6;border:1px solid var(--line);padding:.35rem .5rem;margin:.3rem 0 0;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.8rem}
.facts{width:auto;min-width:60%}
table.page{border:0;margin:0;width:100%}
table.page>thead>tr>td,table.page>tbody>tr>td{border:0;padding:0}
.running{display:none}
footer{margin-top:2rem;color:var(--muted);font-size:.85rem}
@page{size:A4;margin:14mm 14mm 16mm;@bottom-right{content:'page ' counter(page) ' of ' counter(pages);font:8pt system-ui,sans-serif;color:#444}@bottom-left{content:'runsheet audit report';font:8pt system-ui,sans-serif;color:#444}}
@media print{
body{font-size:9pt;max-width:none;margin:0;padding:0 1px}
h1{font-size:15pt}h2{font-size:12pt}
table.run{break-before:page}
h2,h3{break-after:avoid}
thead{display:table-header-group}
tr,pre{break-inside:avoid}
table.page>tbody>tr{break-inside:auto}
.running{display:flex;justify-content:space-between;gap:1em;border-bottom:1px solid var(--ink);padding:0 0 1mm;margin:0 0 3mm;font-size:8pt}
.running .runid{font-size:8pt}.running .where{white-space:nowrap}
td.n,th.n{width:4.8em}
a{color:inherit;text-decoration:none}
table.timeline th.time{width:12.5em}table.timeline th.step{width:13em}
table.index th.id{width:auto}table.index .runid{font-size:6.5pt}table.index td:nth-child(2){min-width:12em}
section.training td .runid{font-size:6pt}section.training th.op{width:7em}section.document-control th.n{width:3.5em}
}
";

/// Untrusted text for HTML: control characters made visible, then escaped.
pub fn h(s: &str) -> String {
    escape::to_string(s, escape::html)
}

fn tone_class(t: Tone) -> &'static str {
    match t {
        Tone::Plain => "",
        Tone::Good => "good",
        Tone::Warn => "warn",
        Tone::Bad => "bad",
    }
}

/// A CSS class name for an outcome (only known words; anything else is `open`).
fn outcome_class(outcome: &str) -> &'static str {
    match Outcome::parse(outcome) {
        Some(Outcome::Completed) => "o-completed",
        Some(Outcome::Escalated) => "o-escalated",
        Some(Outcome::Failed) => "o-failed",
        Some(Outcome::Aborted) => "o-aborted",
        None => "o-open",
    }
}

fn badge(outcome: &str) -> String {
    let mut out = Vec::new();
    // Writing into memory cannot fail.
    let _ = write_badge(&mut out, outcome);
    String::from_utf8_lossy(&out).into_owned()
}

fn write_badge(w: &mut impl Write, outcome: &str) -> io::Result<()> {
    write!(w, "<span class=\"badge {}\">", outcome_class(outcome))?;
    escape::html(w, &outcome.to_ascii_uppercase())?;
    w.write_all(b"</span>")
}

fn counts_cells(w: &mut impl Write, c: &Counts) -> io::Result<()> {
    let o = &c.outcomes;
    for n in [
        o.runs,
        o.completed,
        o.escalated,
        o.failed,
        o.aborted,
        o.open,
    ] {
        write!(w, "<td class=\"n\">{n}</td>")?;
    }
    let class = if c.deviations > 0 { "n dev" } else { "n" };
    write!(w, "<td class=\"{class}\">{}</td>", c.deviations)
}

const COUNT_HEADERS: &str = "<th class=\"n\">Runs</th><th class=\"n\">Completed</th><th class=\"n\">Escalated</th><th class=\"n\">Failed</th><th class=\"n\">Aborted</th><th class=\"n\">Open</th><th class=\"n\">Deviations</th>";

/// The document head, the export facts, the summaries, and the start of the run index.
pub fn write_head(w: &mut impl Write, meta: &ReportMeta, summary: &Summary) -> io::Result<()> {
    write!(
        w,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Audit report — {}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n",
        h(&period_text(&meta.query))
    )?;
    // The cover, summaries and index print under a running header that says what they are.
    writeln!(
        w,
        "<table class=\"page cover\" role=\"presentation\">\n<thead><tr><td><div class=\"running\">\
         <span>Audit report — cover, summary and run index</span><span>{}</span></div></td></tr></thead>\n<tbody><tr><td>",
        h(&period_text(&meta.query))
    )?;
    writeln!(
        w,
        "<header>\n<h1>Audit report: documented operating procedures</h1>"
    )?;
    if !meta.verdict.verified {
        writeln!(
            w,
            "<p class=\"alarm\" role=\"alert\"><strong>NOT VERIFIED.</strong> {}</p>",
            h(&meta.verdict.sentence())
        )?;
    }
    if meta.verdict.test_data {
        writeln!(
            w,
            "<p class=\"alarm\" role=\"alert\"><strong>GENERATED TEST DATA — NOT EVIDENCE.</strong> \
             The evidence log this was exported from was written by runsheet's development-only log generator.</p>"
        )?;
    }
    writeln!(
        w,
        "<p class=\"lead\">Evidence of procedure runs exported from a runsheet evidence log \
         (ISO/IEC 27001:2022 A.5.37). Every run below is the full record the log holds for it.</p>"
    )?;
    writeln!(w, "<table class=\"facts\">")?;
    let mut fact =
        |k: &str, v: String| writeln!(w, "<tr><th scope=\"row\">{k}</th><td>{v}</td></tr>");
    let span = match (summary.first, summary.last) {
        (Some(f), Some(l)) => format!(
            "<br><span class=\"muted\">first run started {}, last {}</span>",
            clock_utc(f, false),
            clock_utc(l, false)
        ),
        _ => String::new(),
    };
    fact("Period", format!("{}{span}", h(&period_text(&meta.query))))?;
    fact("Filters", h(&filters_text(&meta.query)))?;
    fact(
        "Runs",
        format!("{} runs, {} events", meta.runs, meta.events),
    )?;
    fact(
        "Exported",
        format!(
            "{} by {} with {}",
            clock_utc(meta.created_at, true),
            h(&meta.exported_by),
            h(&meta.generator)
        ),
    )?;
    fact(
        "Verification",
        format!(
            "<strong>{}</strong> {}",
            if meta.verdict.verified {
                "VERIFIED."
            } else {
                "NOT VERIFIED."
            },
            h(&meta.verdict.sentence())
        ),
    )?;
    fact(
        "Evidence log chain head",
        format!(
            "event {}, hash <span class=\"mono\">{}</span>: the head the export read and verified",
            meta.checkpoint.head_seq,
            h(&meta.checkpoint.head_hash)
        ),
    )?;
    fact(
        "How to verify",
        "<code>runsheet verify-bundle &lt;this folder&gt; --key &lt;the log's key&gt;</code> checks every \
         file against manifest.json (signed with the log's key), the log's signed checkpoint, that the \
         log's record of this export (export.json, which lists every file's SHA-256) is in it, and every \
         exported event's hashes; <code>--witness &lt;key&gt;</code> checks a witness's cosignature, \
         <code>--db &lt;evidence log&gt;</code> the log itself. docs/audit-bundle.md also shows how to \
         check it with only openssl and Python."
            .into(),
    )?;
    writeln!(w, "</table>\n</header>")?;
    write_cadence(w, summary)?;

    writeln!(w, "<h2>Summary by control</h2>")?;
    writeln!(
        w,
        "<p class=\"muted\">A run counts under every Annex A control its procedure names. \
         Deviations are skipped steps, failed steps, document-control warnings acknowledged, \
         and one for each run left open or aborted.</p>"
    )?;
    writeln!(
        w,
        "<table>\n<thead><tr><th>Control</th>{COUNT_HEADERS}</tr></thead>\n<tbody>"
    )?;
    for (control, c) in &summary.by_control {
        write!(w, "<tr><td>{}</td>", h(control))?;
        counts_cells(w, c)?;
        writeln!(w, "</tr>")?;
    }
    write!(w, "</tbody>\n<tfoot><tr><th>All runs</th>")?;
    counts_cells(w, &summary.total)?;
    writeln!(w, "</tr></tfoot>\n</table>")?;

    writeln!(w, "<h2>Summary by procedure</h2>")?;
    writeln!(
        w,
        "<table>\n<thead><tr><th>Procedure</th><th>Versions</th>{COUNT_HEADERS}</tr></thead>\n<tbody>"
    )?;
    for (id, (title, versions, c)) in &summary.by_procedure {
        write!(
            w,
            "<tr><td>{}<span class=\"stepid\">{}</span></td><td>{}</td>",
            h(title),
            h(id),
            h(&versions.join(", "))
        )?;
        counts_cells(w, c)?;
        writeln!(w, "</tr>")?;
    }
    writeln!(w, "</tbody>\n</table>")?;

    writeln!(w, "<h2>Runs</h2>")?;
    if meta.runs == 0 {
        writeln!(w, "<p>No runs match the filters.</p>")?;
    }
    writeln!(
        w,
        "<table class=\"index\">\n<thead><tr><th>Started (UTC)</th><th>Procedure</th><th>Operator</th><th>Outcome</th><th class=\"n\">Deviations</th><th class=\"id\">Run id</th></tr></thead>\n<tbody>"
    )
}

/// For each exported procedure with a cadence, the periods over the export's
/// period with no completed run; on-demand procedures are named as not checked.
fn write_cadence(w: &mut impl Write, summary: &Summary) -> io::Result<()> {
    writeln!(w, "<h2>Cadence: periods with no completed run</h2>")?;
    writeln!(
        w,
        "<p class=\"muted\">For each exported procedure with a cadence, every period of it that is over, \
         from the procedure's approval date (or its first run, if earlier; not before the log's first record, \
         nor the export's --since) to yesterday (or the export's --until if earlier), is checked against every \
         completed run of the procedure in the \
         log (runs outside the filters count too). Escalated, failed, aborted and open runs do not \
         fill a period.</p>"
    )?;
    writeln!(
        w,
        "<table class=\"cadence\">\n<thead><tr><th>Procedure</th><th>Cadence</th><th>Span checked (UTC)</th>\
         <th class=\"n\">Periods checked</th><th>Missed (no completed run)</th></tr></thead>\n<tbody>"
    )?;
    const NOT_CHECKED: &str = "no cadence (on demand) or no period over yet: not checked";
    for row in summary.cadence_rows() {
        let Some(c) = row.checked else {
            writeln!(
                w,
                "<tr><td>{}</td><td colspan=\"4\" class=\"muted\">{NOT_CHECKED}</td></tr>",
                h(row.procedure)
            )?;
            continue;
        };
        let missed = match &c.missed {
            None => "none".to_string(),
            Some((count, labels)) => {
                // A label never breaks at its hyphen.
                let labels: Vec<String> = labels
                    .iter()
                    .map(|l| format!("<span class=\"day\">{}</span>", h(l)))
                    .collect();
                format!("<span class=\"bad\">{count}:</span> {}", labels.join(", "))
            }
        };
        writeln!(
            w,
            "<tr><td>{}</td><td>{}</td><td><span class=\"day\">{}</span> to <span class=\"day\">{}</span></td><td class=\"n\">{}</td><td>{missed}</td></tr>",
            h(row.procedure),
            h(c.cadence),
            c.from,
            c.to,
            c.checked,
        )?;
    }
    writeln!(w, "</tbody>\n</table>")
}

/// One row of the run index (oldest first, like the sections).
pub fn write_index_row(w: &mut impl Write, r: &RunRow, stats: &RunStats) -> io::Result<()> {
    let dev = stats.deviations();
    write!(
        w,
        "<tr><td class=\"day\">{}</td><td>",
        clock(r.started_at, false)
    )?;
    escape::html(w, &r.procedure_title)?;
    w.write_all(b" <span class=\"muted\">v")?;
    escape::html(w, &r.procedure_version)?;
    w.write_all(b"</span></td><td>")?;
    write_operator(w, r)?;
    w.write_all(b"</td><td>")?;
    write_badge(w, outcome_text(r))?;
    writeln!(
        w,
        "</td><td class=\"{}\">{dev}</td><td><a class=\"runid\" href=\"#run-{}\">{}</a></td></tr>",
        if dev > 0 { "n dev" } else { "n" },
        r.id,
        r.id
    )
}

/// The operator as [`operator_text`] shows it, escaped.
fn write_operator(w: &mut impl Write, r: &RunRow) -> io::Result<()> {
    match &r.operator_name {
        Some(n) if !n.trim().is_empty() => {
            escape::html(w, n)?;
            w.write_all(b" (")?;
            escape::html(w, &r.operator)?;
            w.write_all(b")")
        }
        _ => escape::html(w, &r.operator),
    }
}

/// Close the run index, and the cover's page table.
pub fn write_index_end(w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "</tbody>\n</table>\n</td></tr></tbody>\n</table>")
}

/// The run's controls in natural order (A.5.3 before A.5.15), `, ` between.
fn controls_text(r: &RunRow) -> String {
    let mut controls: Vec<&str> = r.controls.iter().map(String::as_str).collect();
    controls.sort_by(|a, b| natural_cmp(a, b));
    controls.join(", ")
}

/// The start of one run's section: a page table whose head repeats the
/// procedure and run id on every printed page, the run's facts and the
/// timeline's head. The entries follow ([`write_entry`]), then [`write_run_end`].
pub fn write_run_head(w: &mut impl Write, head: &RunHead<'_>) -> io::Result<()> {
    let r = head.row;
    let stats = head.stats;
    writeln!(
        w,
        "<table class=\"page run\" id=\"run-{}\" role=\"presentation\">\n<thead><tr><td><div class=\"running\">\
         <span>{} <span class=\"muted\">({} v{})</span></span><span class=\"where\">run <span class=\"runid\">{}</span> · {}</span></div></td></tr></thead>\n<tbody><tr><td>\n<section>",
        r.id,
        h(&r.procedure_title),
        h(&r.procedure_id),
        h(&r.procedure_version),
        r.id,
        h(&outcome_text(r).to_ascii_uppercase())
    )?;
    writeln!(
        w,
        "<h2>{} {}</h2>",
        h(&r.procedure_title),
        badge(outcome_text(r))
    )?;
    writeln!(w, "<table class=\"facts\">")?;
    let mut fact =
        |k: &str, v: String| writeln!(w, "<tr><th scope=\"row\">{k}</th><td>{v}</td></tr>");
    fact("Run id", format!("<span class=\"runid\">{}</span>", r.id))?;
    fact(
        "Procedure",
        format!(
            "{} v{}<br><span class=\"muted\">source SHA-256 </span><span class=\"mono\">{}</span> \
             <span class=\"muted\">(procedures/ in this bundle)</span>",
            h(&r.procedure_id),
            h(&r.procedure_version),
            h(&r.procedure_sha256)
        ),
    )?;
    fact(
        "Controls",
        if r.controls.is_empty() {
            "none".into()
        } else {
            h(&controls_text(r))
        },
    )?;
    fact(
        "Operator",
        format!("{} on {}", h(&operator_text(r)), h(&r.host)),
    )?;
    fact("Started", clock_utc(r.started_at, true).to_string())?;
    fact(
        "Ended",
        match (r.ended_at, run_duration(r)) {
            (Some(end), Some(d)) => format!("{} ({d})", clock_utc(end, true)),
            _ => format!(
                "open — not ended at export (last activity {})",
                clock_utc(r.last_at, true)
            ),
        },
    )?;
    if stats.unfinished {
        let state = match r.outcome.as_deref().and_then(Outcome::parse) {
            Some(Outcome::Aborted) => "The run was aborted: it did not finish its procedure.",
            _ => "The run is open: it was not ended when the log was exported.",
        };
        let last = match head.last {
            Some(e) => format!(
                "<br>Its last event, seq {} at {} UTC by {}: <span class=\"text\">{}</span>",
                e.seq,
                e.seconds(),
                h(e.actor),
                h(&e.what)
            ),
            None => String::new(),
        };
        fact(
            "Why not completed",
            format!("<div class=\"why\"><strong>{state}</strong>{last}</div>"),
        )?;
    }
    let dev = stats.deviations();
    fact(
        "Deviations",
        format!(
            "<span class=\"{}\">{dev}</span>: {} skipped, {} failed, {} warning acknowledgement(s){}",
            if dev > 0 { "warn" } else { "" },
            stats.deviations.skipped,
            stats.deviations.failed,
            stats.deviations.warnings_acknowledged,
            if stats.unfinished {
                ", 1 for the run left open or aborted"
            } else {
                ""
            }
        ),
    )?;
    fact(
        "Events",
        match head.seqs {
            Some((first, last)) => format!(
                "{} events, seq {first} to {last} in the log (the <code>seq</code> column of events.csv)",
                stats.events
            ),
            None => "none".into(),
        },
    )?;
    writeln!(w, "</table>")?;
    writeln!(
        w,
        "<table class=\"timeline\">\n<thead><tr><th class=\"seq\">Seq</th><th class=\"time\">Time (UTC), who</th><th class=\"step\">Step</th><th>What happened</th></tr></thead>\n<tbody>"
    )
}

/// One timeline row.
pub fn write_entry(w: &mut impl Write, e: &Entry<'_>) -> io::Result<()> {
    let start = e.kind == EventKind::StepStarted.as_str();
    w.write_all(if start {
        b"<tr class=\"start\">"
    } else {
        b"<tr>"
    })?;
    write!(w, "<td class=\"seq\">{}</td><td class=\"time\">", e.seq)?;
    match e.seconds().parts() {
        Some((day, time)) => {
            w.write_all(day.as_bytes())?;
            w.write_all(b" ")?;
            w.write_all(time.as_bytes())?;
        }
        None => escape::html(w, &e.at)?,
    }
    w.write_all(b"<span class=\"who\">")?;
    escape::html(w, e.actor)?;
    w.write_all(b"</span></td><td class=\"step\">")?;
    if let Some(s) = &e.step {
        match s.title {
            Some(t) => {
                escape::html(w, t)?;
                w.write_all(b"<span class=\"stepid\">")?;
                escape::html(w, s.id)?;
                w.write_all(b"</span>")?;
            }
            None => {
                w.write_all(b"<span class=\"mono\">")?;
                escape::html(w, s.id)?;
                w.write_all(b"</span>")?;
            }
        }
        if let Some(b) = s.branch {
            w.write_all(b"<span class=\"branch\">escalation: ")?;
            escape::html(w, b)?;
            w.write_all(b"</span>")?;
        }
    }
    write!(w, "</td><td><div class=\"text {}\">", tone_class(e.tone))?;
    match e.contact.as_deref() {
        Some(c) => {
            // The failure's words, then whom to contact, set apart beside it.
            escape::html(w, e.what_before_contact())?;
            w.write_all(b"</div><div class=\"contact\">Escalation contact: <span class=\"text\">")?;
            escape::html(w, c)?;
            w.write_all(b"</span></div>")?;
        }
        None => {
            escape::html(w, &e.what)?;
            w.write_all(b"</div>")?;
        }
    }
    if let Some(o) = &e.output {
        w.write_all(b"<pre>")?;
        escape::html(w, &o.text)?;
        w.write_all(b"</pre>")?;
        if o.trimmed {
            write!(
                w,
                "<div class=\"muted\">Output trimmed here; evidence.json keeps what was captured ({} bytes in all, SHA-256 <span class=\"mono\">{}</span>).</div>",
                o.bytes,
                h(&o.sha256)
            )?;
        }
    }
    w.write_all(b"</td></tr>\n")
}

/// The end of one run's section and its page table.
pub fn write_run_end(w: &mut impl Write) -> io::Result<()> {
    writeln!(
        w,
        "</tbody>\n</table>\n</section>\n</td></tr></tbody>\n</table>"
    )
}

/// Close the document: first the recorded approvals and reviews and the
/// training records, when there are any.
pub fn write_foot(w: &mut impl Write, meta: &ReportMeta) -> io::Result<()> {
    if !meta.document_control.is_empty() {
        writeln!(
            w,
            "<section class=\"document-control\"><h2>Document control</h2>\n<p>The approvals and reviews of procedures the evidence log records (<code>runsheet approve</code>, <code>runsheet review</code>; <code>runsheet history ID</code> lists them per version). Their records are in evidence.json.</p>\n<table><thead><tr><th class=\"proc\">Procedure</th><th class=\"sha\">SHA-256</th><th class=\"act\">Act</th><th class=\"on\">On</th><th class=\"by\">By</th><th>Review</th><th class=\"n\">Seq</th></tr></thead><tbody>"
        )?;
        for a in &meta.document_control {
            writeln!(
                w,
                "<tr><td>{} v{}</td><td><code>{}</code></td><td>{}</td><td class=\"day\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                h(&a.procedure_id),
                h(&a.version),
                h(a.sha256.get(..12).unwrap_or(&a.sha256)),
                a.what,
                h(&a.on),
                h(&a.by),
                h(&a.detail),
                a.seq
            )?;
        }
        writeln!(w, "</tbody></table></section>")?;
    }
    if !meta.training.is_empty() {
        writeln!(
            w,
            "<section class=\"training\"><h2>Training records</h2>\n<p>Completed drills (practice runs, not in the runs above) and supervised runs: who trained on which procedure version, when, and who supervised. See training.csv.</p>\n<table><thead><tr><th class=\"op\">Operator</th><th class=\"proc\">Procedure</th><th class=\"sha\">SHA-256</th><th class=\"act\">By</th><th class=\"on\">Completed</th><th class=\"op\">Supervised by</th><th>Run</th></tr></thead><tbody>"
        )?;
        for r in &meta.training {
            writeln!(
                w,
                "<tr><td>{}</td><td>{} v{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td><span class=\"runid\">{}</span></td></tr>",
                h(&r.operator),
                h(&r.procedure_id),
                h(&r.procedure_version),
                h(r.procedure_sha256.get(..12).unwrap_or(&r.procedure_sha256)),
                match r.by {
                    crate::report::training::TrainedBy::Drill => "drill",
                    crate::report::training::TrainedBy::Supervised => "supervised run",
                },
                h(&crate::report::shown_time(&r.completed_at)),
                h(&r.supervisors.join(", ")),
                h(&r.run_id)
            )?;
        }
        writeln!(w, "</tbody></table></section>")?;
    }
    writeln!(
        w,
        "<footer>Generated by {} at {}. The files of this bundle and their SHA-256 are listed in manifest.json.</footer>\n</body>\n</html>",
        h(&meta.generator),
        clock_utc(meta.created_at, true)
    )
}
