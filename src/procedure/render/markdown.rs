//! The Markdown document writer (CommonMark + GFM tables) and its escaping.
//!
//! May not depend on anything outside `procedure` and `text`.

use std::fmt::Write;

use super::{
    Procedure, Step, StepKind, StepPlace, branch_number, document_control, fail_words, following,
    heading, mermaid::mermaid, role_ref, steps_entering, target_words, value_rules,
};
use crate::text::sanitize_terminal;

/// The procedure as a Markdown document for the ISMS: document control, purpose,
/// scope, roles, the flow chart (a ```mermaid block), the steps, the branches.
pub fn markdown(p: &Procedure) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", inline(&p.title));

    out.push_str("| Document control | |\n| --- | --- |\n");
    for (k, v) in document_control(p) {
        let _ = writeln!(out, "| {k} | {} |", inline(&v));
    }

    let _ = writeln!(out, "\n## Purpose\n\n{}", block(&p.purpose));
    if let Some(scope) = &p.scope {
        let _ = writeln!(out, "## Scope\n\n{}", block(scope));
    }
    if !p.roles.is_empty() {
        out.push_str("## Roles\n\n| Role | Id | Responsibilities |\n| --- | --- | --- |\n");
        for r in &p.roles {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                inline(&r.title),
                inline(&r.id),
                inline(r.description.as_deref().unwrap_or(""))
            );
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Flow chart\n\n```mermaid\n{}```\n", mermaid(p));

    out.push_str("## Steps\n\n");
    if p.steps.is_empty() {
        out.push_str("The procedure has no steps.\n\n");
    }
    for (i, step) in p.steps.iter().enumerate() {
        write_step(&mut out, p, step, StepPlace::Main(i), "###");
    }

    if !p.branches.is_empty() {
        out.push_str("## Escalation branches\n\n");
        out.push_str(
            "A failing step enters its escalation branch. A step inside a branch that fails \
             ends the run failed.\n\n",
        );
    }
    for (bi, branch) in p.branches.iter().enumerate() {
        let default = if p.default_escalation.as_deref() == Some(branch.id.as_str()) {
            " (default escalation)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "### {}. {}{default}\n",
            branch_number(bi),
            inline(&branch.title)
        );
        let _ = writeln!(out, "- **Id:** {}", inline(&branch.id));
        if let Some(c) = &branch.contact {
            let _ = writeln!(out, "- **Contact:** {}", inline(c));
        }
        let entering = steps_entering(p, bi);
        let _ = writeln!(
            out,
            "- **Entered when these steps fail:** {}",
            if entering.is_empty() {
                "none".to_string()
            } else {
                entering.join(", ")
            }
        );
        let _ = writeln!(out, "- **Then:** {}\n", branch.then.words());
        if branch.steps.is_empty() {
            out.push_str("The branch has no steps.\n\n");
        }
        for (si, step) in branch.steps.iter().enumerate() {
            write_step(&mut out, p, step, StepPlace::Branch(bi, si), "####");
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn write_step(out: &mut String, p: &Procedure, step: &Step, place: StepPlace, level: &str) {
    let _ = writeln!(out, "{level} {}\n", inline(&heading(step, place)));
    if let Some(body) = &step.body {
        let _ = writeln!(out, "{}", block(body));
    }
    let mut items: Vec<(&str, String)> = vec![
        ("Id", step.id.clone()),
        ("Kind", step.kind().name().to_string()),
    ];
    if let Some(role) = &step.role {
        items.push(("Role", role_ref(p, role)));
    }
    if step.critical {
        items.push(("Critical", "yes, the step cannot be skipped".into()));
    }
    if !step.controls.is_empty() {
        items.push(("Controls", step.controls.join(", ")));
    }
    let mut command = None;
    let mut pattern = None;
    match step.kind() {
        StepKind::Confirm => {}
        StepKind::Decision(d) => {
            items.push(("Question", d.question.clone()));
            items.push(("If yes", target_words(p, place, step, &d.yes)));
            items.push(("If no", target_words(p, place, step, &d.no)));
        }
        StepKind::Value(v) => {
            items.push(("Record", format!("{} ({})", v.label, value_rules(v))));
            pattern = v.pattern.as_deref();
            if let Some(h) = &v.hint {
                items.push(("Hint", h.clone()));
            }
        }
        StepKind::Command(c) => {
            let mut words = format!(
                "run from the runner after confirmation (below); expected exit code {}",
                c.expect_exit.unwrap_or(0)
            );
            if let Some(t) = c.timeout_secs {
                let _ = write!(words, "; the runner offers to stop it after {t} s");
            }
            items.push(("Command", words));
            command = Some(c.run.as_str());
        }
    }
    if let Some(n) = &step.note {
        items.push(("Note required", n.clone()));
    }
    if let Some(e) = &step.evidence {
        items.push(("Evidence required", e.clone()));
    }
    if let Some(role) = &step.signoff {
        items.push((
            "Sign-off",
            format!("a second person, {}, signs the step off", role_ref(p, role)),
        ));
    }
    if !matches!(step.kind(), StepKind::Decision(_)) {
        let next = step.next.clone().unwrap_or_else(|| following(p, place));
        items.push(("Next", target_words(p, place, step, &next)));
    }
    items.push(("On failure", fail_words(p, place, step)));
    for (k, v) in items {
        let _ = writeln!(out, "- **{k}:** {}", inline(&v));
    }
    out.push('\n');
    if let Some(run) = command {
        let _ = writeln!(out, "{}", fenced(run, "sh"));
    }
    if let Some(pat) = pattern {
        let _ = writeln!(out, "Format (regular expression):\n\n{}", fenced(pat, ""));
    }
}

/// Untrusted text for one line of Markdown (a table cell, a heading, a list item):
/// control characters made visible, newlines folded into spaces, and every
/// character that could start markup (HTML, links, emphasis, code, table cells)
/// backslash-escaped. Ordinary prose stays readable.
pub(super) fn inline(s: &str) -> String {
    let clean = sanitize_terminal(s).replace(['\n', '\t'], " ");
    let chars: Vec<char> = clean.chars().collect();
    let mut out = String::with_capacity(clean.len());
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|j| chars.get(j));
        let next = chars.get(i + 1);
        let escape = match c {
            '\\' | '`' | '*' | '[' | ']' | '<' | '>' | '|' => true,
            // `#` after a space could close an ATX heading (`### C #`).
            '#' => prev.is_none_or(|p| p.is_whitespace()),
            // `~~` is strikethrough in GFM.
            '~' => prev == Some(&'~') || next == Some(&'~'),
            // Intra-word underscores (snake_case) cannot start emphasis.
            '_' => {
                !(prev.is_some_and(|p| p.is_alphanumeric())
                    && next.is_some_and(|n| n.is_alphanumeric()))
            }
            // Only an `&` that could start an entity reference.
            '&' => next.is_some_and(|n| n.is_ascii_alphanumeric() || *n == '#'),
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Untrusted multi-line text as Markdown paragraphs: each line escaped like
/// [`inline`], line breaks kept (hard breaks), blank lines separating paragraphs,
/// leading indentation dropped (no accidental code blocks), and block markers at
/// the start of a line escaped (headings, quotes, fences, rules) except simple
/// `- item` and `1. item` lists, which stay lists. Ends with one newline.
pub(super) fn block(s: &str) -> String {
    let clean = sanitize_terminal(s);
    let mut paragraphs: Vec<Vec<String>> = vec![Vec::new()];
    for line in clean.lines() {
        let line = line.trim();
        if line.is_empty() {
            if paragraphs.last().is_some_and(|p| !p.is_empty()) {
                paragraphs.push(Vec::new());
            }
            continue;
        }
        let mut escaped = inline(line);
        if needs_line_start_escape(line) && !escaped.starts_with('\\') {
            escaped.insert(0, '\\');
        }
        if let Some(last) = paragraphs.last_mut() {
            last.push(escaped);
        }
    }
    let paras: Vec<String> = paragraphs
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| p.join("  \n"))
        .collect();
    format!("{}\n", paras.join("\n\n"))
}

/// Whether the first character of a (trimmed) line would start a block construct
/// that [`inline`] does not already neutralise.
fn needs_line_start_escape(line: &str) -> bool {
    let Some(first) = line.chars().next() else {
        return false;
    };
    match first {
        '#' | '=' | '~' => true,
        '-' | '+' => {
            // A list item `- text` stays a list; a rule or a setext underline does not.
            let rest = &line[1..];
            !(rest.starts_with(' ') && rest.chars().any(|c| !matches!(c, '-' | '+' | ' ' | '*')))
        }
        _ => false,
    }
}

/// A fenced code block whose fence is longer than any backtick run in `code`,
/// so the content cannot close it. Control characters are made visible.
pub(super) fn fenced(code: &str, info: &str) -> String {
    let clean = sanitize_terminal(code);
    let mut longest = 0;
    let mut run = 0;
    for c in clean.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat((longest + 1).max(3));
    let body = clean.trim_end_matches('\n');
    format!("{fence}{info}\n{body}\n{fence}\n")
}
