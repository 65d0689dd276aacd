//! The self-contained HTML document writer: inline CSS (screen and print), no
//! scripts, no external assets; a Content-Security-Policy forbids both anyway.
//!
//! May not depend on anything outside `procedure` and `text`.

use std::fmt::Write;

use super::flow::{self, Style};
use super::{
    Procedure, Step, StepKind, StepPlace, branch_number, document_control, fail_words, following,
    heading, mermaid::mermaid, role_ref, steps_entering, target_words, value_rules,
};
use crate::text::{escape_html, sanitize_terminal};

pub(super) const CSS: &str = "\
:root{color-scheme:light;--ink:#1a1a1a;--muted:#555;--line:#c8c8c8;--warn:#8a1c00}
body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--ink);max-width:52rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.5rem}h2{border-bottom:1px solid var(--line);padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid var(--line);padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}
.step{border:1px solid var(--line);border-radius:4px;padding:.2rem 1rem .6rem;margin:1rem 0;break-inside:avoid}
.step h3,.step h4{margin:.5rem 0}
.text{white-space:pre-wrap}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.5rem 0}dt{font-weight:600}dd{margin:0}
pre{background:#f5f5f5;border:1px solid var(--line);padding:.5rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
.badge{display:inline-block;border:1px solid var(--warn);color:var(--warn);border-radius:3px;padding:0 .3rem;font-size:.8rem;font-weight:600;margin-left:.4rem}
.branch{border-left:4px solid var(--warn);padding-left:1rem;margin:1.5rem 0}
.flow li{margin:.15rem 0}.fail{color:var(--warn)}
@media print{
@page{margin:18mm}
body{font-size:10.5pt;max-width:none;margin:0}
details{display:none}
h2{break-after:avoid}.step,.branch>ul,tr{break-inside:avoid}
a{color:inherit;text-decoration:none}
}
";

/// Untrusted text for HTML: control characters made visible, then entity-escaped.
fn h(s: &str) -> String {
    escape_html(&sanitize_terminal(s))
}

/// The procedure as a self-contained, printable HTML page: document control,
/// purpose, scope, roles, the flow as a list of transitions (plus the Mermaid
/// source in a `<details>` block), the steps and the escalation branches.
pub fn html(p: &Procedure) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} (v{})</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n",
        h(&p.title),
        h(&p.version)
    );
    let _ = writeln!(out, "<h1>{}</h1>", h(&p.title));

    out.push_str("<table class=\"control\">\n<caption hidden>Document control</caption>\n");
    for (k, v) in document_control(p) {
        let _ = writeln!(out, "<tr><th scope=\"row\">{k}</th><td>{}</td></tr>", h(&v));
    }
    out.push_str("</table>\n");

    let _ = writeln!(
        out,
        "<h2>Purpose</h2>\n<p class=\"text\">{}</p>",
        h(p.purpose.trim())
    );
    if let Some(scope) = &p.scope {
        let _ = writeln!(
            out,
            "<h2>Scope</h2>\n<p class=\"text\">{}</p>",
            h(scope.trim())
        );
    }
    if !p.roles.is_empty() {
        out.push_str(
            "<h2>Roles</h2>\n<table>\n<tr><th>Role</th><th>Id</th><th>Responsibilities</th></tr>\n",
        );
        for r in &p.roles {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"text\">{}</td></tr>",
                h(&r.title),
                h(&r.id),
                h(r.description.as_deref().unwrap_or("").trim())
            );
        }
        out.push_str("</table>\n");
    }

    write_flow(&mut out, p);

    out.push_str("<h2>Steps</h2>\n");
    if p.steps.is_empty() {
        out.push_str("<p>The procedure has no steps.</p>\n");
    }
    for (i, step) in p.steps.iter().enumerate() {
        write_step(&mut out, p, step, StepPlace::Main(i), "h3");
    }

    if !p.branches.is_empty() {
        out.push_str(
            "<h2>Escalation branches</h2>\n<p>A failing step enters its escalation branch. \
             A step inside a branch that fails ends the run failed.</p>\n",
        );
    }
    for (bi, branch) in p.branches.iter().enumerate() {
        let default = if p.default_escalation.as_deref() == Some(branch.id.as_str()) {
            " <span class=\"badge\">default escalation</span>"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<section class=\"branch\">\n<h3>{}. {}{default}</h3>\n<dl>",
            branch_number(bi),
            h(&branch.title)
        );
        let _ = writeln!(out, "<dt>Id</dt><dd>{}</dd>", h(&branch.id));
        if let Some(c) = &branch.contact {
            let _ = writeln!(out, "<dt>Contact</dt><dd class=\"text\">{}</dd>", h(c));
        }
        let entering = steps_entering(p, bi);
        let _ = writeln!(
            out,
            "<dt>Entered when these steps fail</dt><dd>{}</dd>",
            if entering.is_empty() {
                "none".to_string()
            } else {
                h(&entering.join(", "))
            }
        );
        let _ = writeln!(out, "<dt>Then</dt><dd>{}</dd>\n</dl>", branch.then.words());
        if branch.steps.is_empty() {
            out.push_str("<p>The branch has no steps.</p>\n");
        }
        for (si, step) in branch.steps.iter().enumerate() {
            write_step(&mut out, p, step, StepPlace::Branch(bi, si), "h4");
        }
        out.push_str("</section>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// The flow as a readable list of transitions, and the Mermaid source.
fn write_flow(out: &mut String, p: &Procedure) {
    let flow = flow::build(p);
    out.push_str("<h2>Flow</h2>\n<ul class=\"flow\">\n");
    let name = |id: &str| {
        flow.node(id)
            .map_or_else(|| id.to_string(), |n| n.label.clone())
    };
    for e in &flow.edges {
        let (class, arrow) = match e.style {
            Style::Normal => ("", "→"),
            Style::Fail => (" class=\"fail\"", "⇢"),
        };
        let label = e
            .label
            .as_deref()
            .map(|l| format!(" <em>{}</em>", h(l)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<li{class}>{}{label} {arrow} {}</li>",
            h(&name(&e.from)),
            h(&name(&e.to))
        );
    }
    out.push_str("</ul>\n");
    let _ = writeln!(
        out,
        "<details>\n<summary>Flow chart source (Mermaid)</summary>\n<pre><code>{}</code></pre>\n</details>",
        escape_html(&mermaid(p))
    );
}

fn write_step(out: &mut String, p: &Procedure, step: &Step, place: StepPlace, tag: &str) {
    let critical = if step.critical {
        " <span class=\"badge\">critical</span>"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "<section class=\"step\">\n<{tag}>{}{critical}</{tag}>",
        h(&heading(step, place))
    );
    if let Some(body) = &step.body {
        let _ = writeln!(out, "<p class=\"text\">{}</p>", h(body.trim()));
    }
    out.push_str("<dl>\n");
    let mut item = |k: &str, v: &str| {
        let _ = writeln!(out, "<dt>{k}</dt><dd>{v}</dd>");
    };
    item("Id", &h(&step.id));
    item("Kind", step.kind().name());
    if let Some(role) = &step.role {
        item("Role", &h(&role_ref(p, role)));
    }
    if step.critical {
        item("Critical", "yes, the step cannot be skipped");
    }
    if !step.controls.is_empty() {
        item("Controls", &h(&step.controls.join(", ")));
    }
    match step.kind() {
        StepKind::Confirm => {}
        StepKind::Decision(d) => {
            item("Question", &h(&d.question));
            item("If yes", &h(&target_words(p, place, step, &d.yes)));
            item("If no", &h(&target_words(p, place, step, &d.no)));
        }
        StepKind::Value(v) => {
            item("Record", &h(&format!("{} ({})", v.label, value_rules(v))));
            if let Some(pat) = &v.pattern {
                item(
                    "Format",
                    &format!("<code>{}</code> (regular expression)", h(pat)),
                );
            }
            if let Some(hint) = &v.hint {
                item("Hint", &h(hint));
            }
        }
        StepKind::Command(c) => {
            let mut words = format!(
                "<pre><code>{}</code></pre>run from the runner after confirmation; expected exit code {}",
                h(&c.run),
                c.expect_exit.unwrap_or(0)
            );
            if let Some(t) = c.timeout_secs {
                let _ = write!(words, "; the runner offers to stop it after {t} s");
            }
            item("Command", &words);
        }
    }
    if let Some(n) = &step.note {
        item("Note required", &h(n));
    }
    if let Some(e) = &step.evidence {
        item("Evidence required", &h(e));
    }
    if let Some(role) = &step.signoff {
        item(
            "Sign-off",
            &h(&format!(
                "a second person, {}, signs the step off",
                role_ref(p, role)
            )),
        );
    }
    if !matches!(step.kind(), StepKind::Decision(_)) {
        let next = step.next.clone().unwrap_or_else(|| following(p, place));
        item("Next", &h(&target_words(p, place, step, &next)));
    }
    item("On failure", &h(&fail_words(p, place, step)));
    out.push_str("</dl>\n</section>\n");
}
