//! What changed between two versions ([`Comparison`]) for people: plain
//! text for the terminal, and Markdown and a self-contained HTML page for
//! the ISMS change record. Procedure text is untrusted: each writer escapes
//! it as the procedure documents do (the Markdown [`inline`] escapes, HTML
//! entities after [`sanitize_terminal`]).
//!
//! May not depend on anything outside `procedure` and `text`.

use std::fmt::Write;

use super::html::CSS;
use super::markdown::inline;
use crate::procedure::diff::{
    BranchDiff, Comparison, FieldChange, Line, ProcedureDiff, Side, Status, StepDiff, field_words,
    lines,
};
use crate::text::{escape_html, sanitize_terminal};

/// What happened to a step, in one or three words.
fn step_status(s: &StepDiff) -> &'static str {
    match (s.status, s.moved, s.fields.is_empty()) {
        (Status::Added, ..) => "added",
        (Status::Removed, ..) => "removed",
        (Status::Kept, true, false) => "moved and changed",
        (Status::Kept, true, true) => "moved",
        (Status::Kept, false, _) => "changed",
    }
}

fn branch_status(b: &BranchDiff) -> &'static str {
    match b.status {
        Status::Added => "added",
        Status::Removed => "removed",
        Status::Kept => "changed",
    }
}

/// `step 3 (was 2)`, `step E1.2`, `step 4 of the old version`.
fn step_place(s: &StepDiff) -> String {
    match (&s.before, &s.after) {
        (Some(b), Some(a)) if b.number != a.number => {
            format!("step {} (was {})", a.number, b.number)
        }
        (_, Some(a)) => format!("step {}", a.number),
        (Some(b), None) => format!("step {} of the old version", b.number),
        (None, None) => "step".into(),
    }
}

fn side_line(label: &str, s: &Side) -> String {
    format!(
        "  {label:<4} {}  sha256 {}  {}",
        s.version,
        s.sha256.get(..12).unwrap_or(&s.sha256),
        s.origin
    )
}

/// The comparison as plain text (the caller makes it safe for a terminal).
pub fn diff_text(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: what changed from {} to {}",
        c.procedure_id, c.from.version, c.to.version
    );
    let _ = writeln!(out, "{}", side_line("from", &c.from));
    let _ = writeln!(out, "{}", side_line("to", &c.to));
    let _ = writeln!(out, "Summary: {}", c.summary);
    let d = &c.changes;
    if !d.header.is_empty() {
        out.push_str("\nHeader\n");
        for f in &d.header {
            text_field(&mut out, Status::Kept, f, "  ");
        }
    }
    if !d.steps.is_empty() {
        out.push_str("\nSteps\n");
        let width = d.steps.iter().map(|s| step_status(s).len()).max();
        let width = width.unwrap_or(0).max(8);
        let indent = " ".repeat(width + 3);
        for s in &d.steps {
            let _ = writeln!(
                out,
                "  {:<width$} {}: {} ({})",
                step_status(s),
                step_place(s),
                one_line(&s.title),
                s.id
            );
            for f in listed(s.status, &s.fields) {
                text_field(&mut out, s.status, f, &indent);
            }
        }
    }
    if !d.branches.is_empty() {
        out.push_str("\nEscalation branches\n");
        for b in &d.branches {
            let _ = writeln!(
                out,
                "  {:<8} {}: {}",
                branch_status(b),
                b.id,
                one_line(&b.title)
            );
            for f in listed(b.status, &b.fields) {
                text_field(&mut out, b.status, f, "           ");
            }
        }
    }
    out
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\t'], " ")
}

/// The fields of a step or branch added or removed worth listing (its
/// title is in its heading already).
fn listed(status: Status, fields: &[FieldChange]) -> impl Iterator<Item = &FieldChange> {
    fields
        .iter()
        .filter(move |f| status == Status::Kept || f.field != "title")
}

/// `field: before → after` (`field: value` for a step or branch added or
/// removed), or for text over several lines each side as an indented block.
fn text_field(out: &mut String, status: Status, f: &FieldChange, indent: &str) {
    let name = field_words(&f.field);
    if status != Status::Kept {
        let value = f.after.as_ref().or(f.before.as_ref());
        let text = value.map_or("", String::as_str);
        let mut lines = text.lines();
        let _ = writeln!(out, "{indent}{name}: {}", lines.next().unwrap_or(""));
        for l in lines {
            let _ = writeln!(out, "{indent}  {l}");
        }
        return;
    }
    let multi = |v: &Option<String>| v.as_deref().is_some_and(|t| t.contains('\n'));
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
    if !multi(&f.before) && !multi(&f.after) {
        let _ = writeln!(
            out,
            "{indent}{name}: {} → {}",
            show(&f.before),
            show(&f.after)
        );
        return;
    }
    // Line by line: `-` removed, `+` added, the kept lines between.
    let _ = writeln!(out, "{indent}{name} (- before, + after):");
    let (before, after) = (f.before.as_deref(), f.after.as_deref());
    for line in lines(before.unwrap_or(""), after.unwrap_or("")) {
        let (mark, text) = match line {
            Line::Same(t) => (' ', t),
            Line::Removed(t) => ('-', t),
            Line::Added(t) => ('+', t),
        };
        let _ = writeln!(out, "{indent}  {mark} {text}");
    }
}

/// A value for a Markdown table cell.
fn md_value(v: &Option<String>) -> String {
    v.as_deref().map_or_else(|| "*none*".into(), inline)
}

fn md_fields(out: &mut String, status: Status, fields: &[FieldChange]) {
    if fields.is_empty() {
        return;
    }
    if status != Status::Kept {
        out.push_str("| Field | Value |\n| --- | --- |\n");
        for f in listed(status, fields) {
            let _ = writeln!(
                out,
                "| {} | {} |",
                inline(&field_words(&f.field)),
                md_value(if f.after.is_some() {
                    &f.after
                } else {
                    &f.before
                })
            );
        }
        out.push('\n');
        return;
    }
    out.push_str("| Field | Before | After |\n| --- | --- | --- |\n");
    for f in fields {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            inline(&field_words(&f.field)),
            md_value(&f.before),
            md_value(&f.after)
        );
    }
    out.push('\n');
}

/// The comparison as Markdown, for the ISMS change record.
pub fn diff_markdown(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Changes to {}: {} → {}\n",
        inline(&c.title),
        inline(&c.from.version),
        inline(&c.to.version)
    );
    out.push_str("| | Version | SHA-256 | Source |\n| --- | --- | --- | --- |\n");
    for (label, s) in [("From", &c.from), ("To", &c.to)] {
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} |",
            inline(&s.version),
            inline(&s.sha256),
            inline(&s.origin)
        );
    }
    let _ = writeln!(
        out,
        "\n- **Procedure:** {}\n- **Summary:** {}\n",
        inline(&c.procedure_id),
        inline(&c.summary)
    );
    let d = &c.changes;
    if d.is_empty() {
        out.push_str("The two versions are the same procedure.\n");
        return out;
    }
    if !d.header.is_empty() {
        out.push_str("## Document control and header\n\n");
        md_fields(&mut out, Status::Kept, &d.header);
    }
    if !d.steps.is_empty() {
        out.push_str("## Steps\n\n");
        for s in &d.steps {
            let _ = writeln!(
                out,
                "### {} {}: {}\n\n- **Id:** {}\n",
                capital(step_status(s)),
                step_place(s),
                inline(&s.title),
                inline(&s.id)
            );
            md_fields(&mut out, s.status, &s.fields);
        }
    }
    if !d.branches.is_empty() {
        out.push_str("## Escalation branches\n\n");
        for b in &d.branches {
            let _ = writeln!(
                out,
                "### {} branch {}: {}\n",
                capital(branch_status(b)),
                inline(&b.id),
                inline(&b.title)
            );
            md_fields(&mut out, b.status, &b.fields);
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Untrusted text for HTML: control characters made visible, then entity-escaped.
fn h(s: &str) -> String {
    escape_html(&sanitize_terminal(s))
}

fn html_value(v: &Option<String>) -> String {
    v.as_deref()
        .map_or_else(|| "<em>none</em>".into(), |t| h(t.trim_end()))
}

fn html_fields(out: &mut String, status: Status, fields: &[FieldChange]) {
    if fields.is_empty() {
        return;
    }
    if status != Status::Kept {
        out.push_str("<table>\n<tr><th>Field</th><th>Value</th></tr>\n");
        for f in listed(status, fields) {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"text\">{}</td></tr>",
                h(&field_words(&f.field)),
                html_value(if f.after.is_some() {
                    &f.after
                } else {
                    &f.before
                })
            );
        }
        out.push_str("</table>\n");
        return;
    }
    out.push_str("<table>\n<tr><th>Field</th><th>Before</th><th>After</th></tr>\n");
    for f in fields {
        let (before, after) = match (&f.before, &f.after) {
            (Some(b), Some(a)) => marked(b, a),
            _ => (html_value(&f.before), html_value(&f.after)),
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"text\">{before}</td><td class=\"text\">{after}</td></tr>",
            h(&field_words(&f.field)),
        );
    }
    out.push_str("</table>\n");
}

/// Both sides of a changed text, escaped, the lines one removed in
/// `<del>` and the lines the other added in `<ins>`.
fn marked(before: &str, after: &str) -> (String, String) {
    let (mut old, mut new) = (Vec::new(), Vec::new());
    for line in lines(before.trim_end(), after.trim_end()) {
        match line {
            Line::Same(t) => {
                old.push(h(t));
                new.push(h(t));
            }
            Line::Removed(t) => old.push(format!("<del>{}</del>", h(t))),
            Line::Added(t) => new.push(format!("<ins>{}</ins>", h(t))),
        }
    }
    (old.join("\n"), new.join("\n"))
}

/// The comparison as a self-contained, printable HTML page (the procedure
/// documents' style sheet; no scripts, no external assets).
pub fn diff_html(c: &Comparison) -> String {
    let mut out = String::new();
    let title = format!(
        "Changes to {}: {} → {}",
        c.title, c.from.version, c.to.version
    );
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        h(&title),
        h(&title)
    );
    out.push_str("<table>\n<tr><th></th><th>Version</th><th>SHA-256</th><th>Source</th></tr>\n");
    for (label, s) in [("From", &c.from), ("To", &c.to)] {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{label}</th><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            h(&s.version),
            h(&s.sha256),
            h(&s.origin)
        );
    }
    out.push_str("</table>\n");
    let _ = writeln!(
        out,
        "<dl>\n<dt>Procedure</dt><dd>{}</dd>\n<dt>Summary</dt><dd>{}</dd>\n</dl>",
        h(&c.procedure_id),
        h(&c.summary)
    );
    let d = &c.changes;
    if d.is_empty() {
        out.push_str("<p>The two versions are the same procedure.</p>\n");
    }
    if !d.header.is_empty() {
        out.push_str("<h2>Document control and header</h2>\n");
        html_fields(&mut out, Status::Kept, &d.header);
    }
    if !d.steps.is_empty() {
        out.push_str("<h2>Steps</h2>\n");
        for s in &d.steps {
            let _ = writeln!(
                out,
                "<section class=\"step\">\n<h3>{} {}: {}</h3>\n<dl><dt>Id</dt><dd>{}</dd></dl>",
                capital(step_status(s)),
                h(&step_place(s)),
                h(&s.title),
                h(&s.id)
            );
            html_fields(&mut out, s.status, &s.fields);
            out.push_str("</section>\n");
        }
    }
    if !d.branches.is_empty() {
        out.push_str("<h2>Escalation branches</h2>\n");
        for b in &d.branches {
            let _ = writeln!(
                out,
                "<section class=\"branch\">\n<h3>{} branch {}: {}</h3>",
                capital(branch_status(b)),
                h(&b.id),
                h(&b.title)
            );
            html_fields(&mut out, b.status, &b.fields);
            out.push_str("</section>\n");
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// What changed, a short line each, for the change notice a runner shows
/// before the first step: `step 3 added: Verify the copy (verify-copy)`,
/// `step 2 changed: Check the job (check-job) — instructions, command`,
/// then branches and the header's fields (the caller makes it safe for a
/// terminal).
pub fn change_lines(d: &ProcedureDiff) -> Vec<String> {
    // An added or removed step or branch is named, not taken apart.
    let fields = |status: Status, fs: &[FieldChange]| {
        if fs.is_empty() || status != Status::Kept {
            String::new()
        } else {
            let names: Vec<String> = fs.iter().map(|f| field_words(&f.field)).collect();
            format!(" — {}", names.join(", "))
        }
    };
    let mut out: Vec<String> = d
        .steps
        .iter()
        .map(|s| {
            format!(
                "{} {}: {} ({}){}",
                step_place(s),
                step_status(s),
                one_line(&s.title),
                s.id,
                fields(s.status, &s.fields)
            )
        })
        .collect();
    out.extend(d.branches.iter().map(|b| {
        format!(
            "escalation branch {}: {} ({}){}",
            branch_status(b),
            one_line(&b.title),
            b.id,
            fields(b.status, &b.fields)
        )
    }));
    if !d.header.is_empty() {
        let names: Vec<String> = d.header.iter().map(|f| field_words(&f.field)).collect();
        out.push(format!("header changed: {}", names.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procedure::Procedure;
    use crate::procedure::test_support::procedure;

    const STEPS: &str = r#"
[[steps]]
id = "a"
title = "Step A"
body = "Line one.\nLine two."

[[steps]]
id = "b"
title = "Step B"
[steps.command]
run = "df -h"
"#;

    fn side(version: &str) -> Side {
        Side {
            version: version.into(),
            sha256: "ab".repeat(32),
            origin: "the log (run 01a2351c)".into(),
        }
    }

    fn compare(before: &Procedure, after: &Procedure) -> Comparison {
        Comparison::new(before, side("1"), after, side("2"))
    }

    fn changed() -> Comparison {
        let old = procedure(STEPS);
        let mut new = old.clone();
        new.version = "2".into();
        new.steps[0].body = Some("Line one.\nLine three.".into());
        if let Some(c) = &mut new.steps[1].command {
            c.run = "df -h /".into();
        }
        new.steps.swap(0, 1);
        let mut c = new.steps[0].clone();
        c.id = "c".into();
        c.title = "Step C".into();
        new.steps.push(c);
        compare(&old, &new)
    }

    #[test]
    fn text_names_each_change() {
        let t = diff_text(&changed());
        assert!(t.starts_with("t: what changed from 1 to 2\n"), "{t}");
        assert!(
            t.contains("Summary: 2 steps changed, 1 added, 1 moved; header: version"),
            "{t}"
        );
        assert!(t.contains("  version: 1 → 2\n"), "{t}");
        assert!(
            t.contains(
                "changed           step 1 (was 2): Step B (b)\n                    command: df -h → df -h /\n"
            ),
            "{t}"
        );
        assert!(
            t.contains("moved and changed step 2 (was 1): Step A (a)\n                    instructions (- before, + after):\n                        Line one.\n                      - Line two.\n                      + Line three.\n"),
            "{t}"
        );
        assert!(
            t.contains("added             step 3: Step C (c)\n                    kind of step: command\n                    command: df -h /\n"),
            "{t}"
        );
    }

    #[test]
    fn markdown_and_html_have_a_table_per_change() {
        let c = changed();
        let md = diff_markdown(&c);
        assert!(md.starts_with("# Changes to Test: 1 → 2\n"), "{md}");
        assert!(md.contains("### Changed step 1 (was 2): Step B"), "{md}");
        assert!(md.contains("| command | df -h | df -h / |"), "{md}");
        assert!(md.contains("### Added step 3: Step C"), "{md}");
        assert!(md.contains("| Field | Value |\n| --- | --- |\n| kind of step | command |\n| command | df -h / |\n"), "{md}");
        let html = diff_html(&c);
        assert!(html.contains("<h3>Moved and changed step 2 (was 1): Step A</h3>"));
        assert!(
            html.contains("<td class=\"text\">Line one.\n<del>Line two.</del></td><td class=\"text\">Line one.\n<ins>Line three.</ins></td>"),
            "{html}"
        );
    }

    #[test]
    fn the_same_version_says_so() {
        let p = procedure(STEPS);
        let c = compare(&p, &p);
        assert!(diff_markdown(&c).contains("The two versions are the same procedure."));
        assert!(diff_text(&c).contains("Summary: no changes"));
    }

    #[test]
    fn hostile_text_is_escaped() {
        let evil = "<script>alert(1)</script> | [x](javascript:y) \x1b[2J";
        let old = procedure(STEPS);
        let mut new = old.clone();
        new.title = evil.into();
        new.steps[0].title = evil.into();
        new.steps[0].body = Some(evil.into());
        let c = compare(&old, &new);
        let html = diff_html(&c);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains('\x1b'));
        let md = diff_markdown(&c);
        assert!(!md.contains("<script>"), "{md}");
        assert!(md.contains("\\<script\\>"), "{md}");
        assert!(!md.contains('\x1b'));
    }
}
