//! Render a procedure for people: a Markdown or HTML document for the ISMS, a
//! Mermaid flow chart, the `list` table, and what changed between two
//! versions (`diff`: text, Markdown, HTML). Pure functions from the model to
//! text: no IO, no clock (callers pass `today`).
//!
//! May not depend on the engine, the store, the TUI or the exports.
//!
//! All procedure text is untrusted. Every writer escapes for its own format
//! (HTML entities, Markdown backslash escapes, Mermaid `#…;` entity codes) and
//! makes terminal control characters visible with [`crate::text::sanitize_terminal`].
//!
//! The flow chart (see [`flow`]) draws failures like this: a step with its own
//! `on_fail` gets a dashed `fail` edge to the first step of that branch; the
//! default escalation is drawn once, from an "Any step fails" note node, so a
//! long procedure is not covered in dashed edges. A failure inside a branch ends
//! the run failed; that is said in the document and not drawn. Branch endings go
//! to shared terminal nodes ("Retry the failed step", "Continue after the failed
//! step", "End: escalated", "End: failed"), because where a retry or continue
//! lands depends on which step failed.

mod diff;
mod flow;
mod html;
mod list;
mod markdown;
mod mermaid;

pub use diff::{change_lines, diff_html, diff_markdown, diff_text};
pub use html::html;
pub use list::{ListEntry, ListItemJson, ListJson, due_suffix, list_json, list_table};
pub use markdown::markdown;
pub use mermaid::mermaid;

use super::{Procedure, Step, StepKind, StepPlace, Target, ValueKind};

/// The number a step is shown with: `3` on the main path, `E1.2` for the second
/// step of the first escalation branch.
pub(crate) fn number(place: StepPlace) -> String {
    match place {
        StepPlace::Main(i) => format!("{}", i + 1),
        StepPlace::Branch(b, i) => format!("E{}.{}", b + 1, i + 1),
    }
}

/// Number and title, e.g. `3. Run the backup` or `E1.2 Call the vendor`.
fn heading(step: &Step, place: StepPlace) -> String {
    match place {
        StepPlace::Main(_) => format!("{}. {}", number(place), step.title),
        StepPlace::Branch(..) => format!("{} {}", number(place), step.title),
    }
}

/// The number a branch is shown with, e.g. `E1`.
fn branch_number(index: usize) -> String {
    format!("E{}", index + 1)
}

/// A reference to a step by id, in words: `step 3 (Run the backup)`.
fn step_ref(p: &Procedure, id: &str) -> String {
    match p.step(id) {
        Some((s, place)) => format!("step {} ({})", number(place), s.title),
        None => format!("unknown step \"{id}\""),
    }
}

/// A role by id, in words: its title, or the id with a warning when unknown.
fn role_ref(p: &Procedure, id: &str) -> String {
    match p.role(id) {
        Some(r) => r.title.clone(),
        None => format!("{id} (unknown role)"),
    }
}

/// What happens when `step` fails, in words.
fn fail_words(p: &Procedure, place: StepPlace, step: &Step) -> String {
    if let StepPlace::Branch(..) = place {
        return "the run ends failed (a step inside an escalation branch cannot escalate again)"
            .into();
    }
    let own = step.on_fail.is_some();
    match step.on_fail.as_deref().or(p.default_escalation.as_deref()) {
        None => "the run ends failed (no escalation branch)".into(),
        Some(id) => match p.branches.iter().position(|b| b.id == id) {
            None => format!("unknown escalation branch \"{id}\""),
            Some(i) => {
                let b = &p.branches[i];
                let which = if own { "" } else { ", the default escalation" };
                format!("enter escalation {} ({}){which}", branch_number(i), b.title)
            }
        },
    }
}

/// Where a target sends the run from `place`, in words.
fn target_words(p: &Procedure, place: StepPlace, step: &Step, target: &Target) -> String {
    match (target, place) {
        (Target::Step(id), _) => format!("go to {}", step_ref(p, id)),
        (Target::End, StepPlace::Main(_)) => "the end: the run is completed".into(),
        (Target::End, StepPlace::Branch(b, _)) => match p.branches.get(b) {
            Some(br) => format!("end of the branch, then {}", br.then.words()),
            None => "end of the branch".into(),
        },
        (Target::Fail, _) => format!("the step fails: {}", fail_words(p, place, step)),
        (Target::Branch(end), StepPlace::Branch(..)) => end.words().into(),
        (Target::Branch(end), StepPlace::Main(_)) => {
            format!("{} (only valid inside an escalation branch)", end.words())
        }
    }
}

/// The default successor of a step: the next one in its list, else `end`.
fn following(p: &Procedure, place: StepPlace) -> Target {
    let next = match place {
        StepPlace::Main(i) => p.steps.get(i + 1),
        StepPlace::Branch(b, i) => p.branches.get(b).and_then(|br| br.steps.get(i + 1)),
    };
    next.map(|s| Target::Step(s.id.clone()))
        .unwrap_or(Target::End)
}

/// Main-path step numbers whose failure enters branch `index`.
fn steps_entering(p: &Procedure, index: usize) -> Vec<String> {
    let Some(branch) = p.branches.get(index) else {
        return Vec::new();
    };
    p.steps
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.on_fail
                .as_deref()
                .or(p.default_escalation.as_deref())
                .is_some_and(|id| id == branch.id)
        })
        .map(|(i, _)| number(StepPlace::Main(i)))
        .collect()
}

/// How a value step's input is validated, in words (without the label).
fn value_rules(v: &super::ValueSpec) -> String {
    let mut parts = vec![
        match v.kind {
            ValueKind::Text => "text".to_string(),
            ValueKind::Number => "number".to_string(),
            ValueKind::Integer => "whole number".to_string(),
            ValueKind::Choice => "choice".to_string(),
            ValueKind::Pattern => "text in a set format".to_string(),
        },
        if v.required { "required" } else { "optional" }.to_string(),
    ];
    if let Some(u) = &v.unit {
        parts.push(format!("unit {u}"));
    }
    match (v.min, v.max) {
        (Some(min), Some(max)) => parts.push(format!("from {min} to {max}")),
        (Some(min), None) => parts.push(format!("at least {min}")),
        (None, Some(max)) => parts.push(format!("at most {max}")),
        (None, None) => {}
    }
    if !v.choices.is_empty() {
        parts.push(format!("one of: {}", v.choices.join(", ")));
    }
    parts.join("; ")
}

/// The procedure's review interval, in words.
fn review_interval(p: &Procedure) -> Option<String> {
    p.review_every_months.map(|m| match m {
        1 => "every month".to_string(),
        m => format!("every {m} months"),
    })
}

/// The document-control table (ISO/IEC 27001 clause 7.5) as label/value rows,
/// shared by the Markdown and HTML documents. Values are raw (unescaped).
fn document_control(p: &Procedure) -> Vec<(&'static str, String)> {
    let none = || "not recorded".to_string();
    let mut rows = vec![
        ("Id", p.id.clone()),
        ("Version", p.version.clone()),
        ("Owner", p.owner.clone()),
        ("Approver", p.approver.clone().unwrap_or_else(none)),
        (
            "Approved",
            p.approved.map(|d| d.to_string()).unwrap_or_else(none),
        ),
    ];
    if let Some(every) = review_interval(p) {
        rows.push(("Review", every));
    }
    rows.extend([
        (
            "Next review",
            p.review_due()
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| "not set".into()),
        ),
        ("Cadence", p.cadence.as_str().to_string()),
        (
            "Classification",
            p.classification.clone().unwrap_or_else(|| "not set".into()),
        ),
        (
            "Annex A controls",
            if p.controls.is_empty() {
                "none".to_string()
            } else {
                p.controls.join(", ")
            },
        ),
    ]);
    rows
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use chrono::NaiveDate;

    use super::*;
    use crate::procedure::BranchEnd;

    /// A procedure that uses every step kind, a decision, `next`, `fail`, its own
    /// and the default escalation, and two branches that end differently.
    const BACKUP: &str = r#"
id = "backup-nightly"
title = "Nightly backup of customer data"
version = "1.2"
owner = "IT operations lead"
approver = "CISO"
approved = 2026-01-15
review_every_months = 12
purpose = """
Make sure customer data can be restored after loss.
Evidence for A.8.13."""
scope = "The customer database on db-prod-1. Not: laptops."
classification = "internal"
cadence = "daily"
controls = ["A.8.13", "A.5.37"]
default_escalation = "backup-failed"

[[roles]]
id = "admin"
title = "IT administrator on duty"
description = "Runs the backup. Uses the backup account, not root."

[[roles]]
id = "lead"
title = "Team lead"

[[steps]]
id = "check-space"
title = "Check free space on the backup target"
body = """
Open the storage console.
- look at the backup volume
- note the free space"""
role = "admin"
[steps.value]
type = "number"
label = "Free space"
unit = "GiB"
min = 50

[[steps]]
id = "target-ok"
title = "Is the backup target reachable?"
role = "admin"
[steps.decision]
question = "Does `ping backup-1` answer?"
yes = "run-backup"
no = "fail"

[[steps]]
id = "run-backup"
title = "Run the backup job"
role = "admin"
critical = true
controls = ["A.8.13"]
on_fail = "vendor"
[steps.command]
run = "backupctl run --job customer-db && backupctl status"
expect_exit = 0
timeout_secs = 3600

[[steps]]
id = "ticket"
title = "Record the change ticket"
evidence = "Change ticket id"
[steps.value]
type = "pattern"
label = "Ticket"
pattern = "CHG-[0-9]+"
hint = "e.g. CHG-1234"

[[steps]]
id = "result"
title = "Classify the result"
[steps.value]
type = "choice"
label = "Result"
choices = ["clean", "warnings"]
required = false

[[steps]]
id = "sign"
title = "Lead signs off"
note = "Anything unusual?"
signoff = "lead"
next = "end"

[[branches]]
id = "backup-failed"
title = "Backup target or space problem"
contact = "Storage on-call, +49 30 1234"
then = "retry"

[[branches.steps]]
id = "free-space"
title = "Free space or fix the target"
note = "What did you do?"

[[branches]]
id = "vendor"
title = "Backup job failed"
contact = "Vendor support, ticket portal"
then = "end-escalated"

[[branches.steps]]
id = "open-case"
title = "Open a vendor case"
evidence = "Vendor case number"

[[branches.steps]]
id = "can-wait"
title = "Can the backup wait until tomorrow?"
[branches.steps.decision]
question = "Does the data owner accept one missed backup?"
yes = "end"
no = "end-failed"
"#;

    fn backup() -> Procedure {
        toml::from_str(BACKUP).expect("the test procedure parses")
    }

    const EVIL: &str = "<script>alert(1)</script> \"q\" 'a' | pipe & amp; `tick` # hash [x](javascript:alert(1)) \x1b]0;owned\x07\x1b[2J";

    /// The test procedure with every piece of text its author controls replaced by `text`.
    fn filled(text: &str) -> Procedure {
        let mut p = backup();
        p.title = text.into();
        p.id = text.into();
        p.version = text.into();
        p.owner = text.into();
        p.purpose = format!("{text}\n# heading\n```\n<img src=x onerror=alert(1)>");
        p.scope = Some(text.into());
        p.controls = vec![text.into()];
        p.roles[0].title = text.into();
        p.roles[0].description = Some(text.into());
        for b in &mut p.branches {
            b.title = text.into();
            b.contact = Some(text.into());
        }
        let steps = p
            .steps
            .iter_mut()
            .chain(p.branches.iter_mut().flat_map(|b| b.steps.iter_mut()));
        for s in steps {
            s.title = text.into();
            s.body = Some(format!("{text}\n---\n    indented\n> quote"));
            if let Some(d) = &mut s.decision {
                d.question = text.into();
            }
            if let Some(v) = &mut s.value {
                v.label = text.into();
                v.hint = Some(text.into());
            }
            if let Some(c) = &mut s.command {
                c.run = format!("{text}\n```\n````");
            }
        }
        p
    }

    /// Markup, quotes, pipes and terminal escape sequences everywhere.
    fn hostile() -> Procedure {
        filled(EVIL)
    }

    /// The same shape with harmless text, to compare structure against.
    fn benign() -> Procedure {
        filled("plain text")
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
    }

    #[test]
    fn markdown_document() {
        insta::assert_snapshot!(markdown(&backup()));
    }

    #[test]
    fn mermaid_chart() {
        insta::assert_snapshot!(mermaid(&backup()));
    }

    #[test]
    fn html_document() {
        insta::assert_snapshot!(html(&backup()));
    }

    #[test]
    fn the_chart_draws_every_transition() {
        let m = mermaid(&backup());
        // Shapes by kind.
        assert!(m.contains("    s1[/\"1. Check free space"), "{m}");
        assert!(
            m.contains("    s2{\"2. Is the backup target reachable?"),
            "{m}"
        );
        assert!(m.contains("    s3[[\"3. Run the backup job"), "{m}");
        assert!(m.contains("    s6[\"6. Lead signs off"), "{m}");
        // Default order, decision answers, next, failures and branch ends.
        for edge in [
            "start --> s1",
            "s1 --> s2",
            "s2 -->|\"yes\"| s3",
            "s2 -. \"no: fail\" .-> b1s1",
            "s3 -. \"fail\" .-> b2s1",
            "anyfail -. \"fail\" .-> b1s1",
            "s6 --> done",
            "b1s1 -->|\"retry\"| retry",
            "b2s1 --> b2s2",
            "b2s2 -->|\"yes\"| escalated",
            "b2s2 -->|\"no\"| failed",
        ] {
            assert!(
                m.contains(&format!("    {edge}\n")),
                "missing `{edge}` in\n{m}"
            );
        }
        assert!(m.contains("subgraph br1 [\"Escalation E1: Backup target or space problem\"]"));
        assert!(m.contains("anyfail>\"Any other step fails\"]"), "{m}");
        assert!(m.contains("class s3 critical"), "{m}");
        assert!(!m.contains("cont("), "no step continues: {m}");
    }

    #[test]
    fn a_procedure_without_escalation_shows_failures_end_the_run() {
        let mut p = backup();
        p.default_escalation = None;
        p.branches.clear();
        for s in &mut p.steps {
            s.on_fail = None;
        }
        let m = mermaid(&p);
        assert!(m.contains("anyfail>\"Any step fails\"]"), "{m}");
        assert!(m.contains("    anyfail -. \"fail\" .-> failed\n"), "{m}");
        assert!(m.contains("    s2 -. \"no: fail\" .-> failed\n"), "{m}");
        assert!(!m.contains("subgraph"), "{m}");
        let md = markdown(&p);
        assert!(
            md.contains("the run ends failed (no escalation branch)"),
            "{md}"
        );
    }

    #[test]
    fn unknown_targets_are_drawn_not_dropped() {
        let mut p = backup();
        p.steps[0].next = Some(Target::Step("nowhere".into()));
        p.steps[2].on_fail = Some("no-such-branch".into());
        let m = mermaid(&p);
        assert!(m.contains("{{\"Unknown step: nowhere\"}}"), "{m}");
        assert!(m.contains("{{\"Unknown branch: no-such-branch\"}}"), "{m}");
        let md = markdown(&p);
        assert!(md.contains("go to unknown step \"nowhere\""), "{md}");
    }

    #[test]
    fn a_failure_drawn_twice_is_one_edge() {
        let mut p = backup();
        p.steps[2].next = Some(Target::Fail);
        let m = mermaid(&p);
        assert_eq!(m.matches("    s3 -. \"fail\" .-> b2s1\n").count(), 1, "{m}");
        assert!(!m.contains("s3 --> s4"), "{m}");
    }

    #[test]
    fn an_empty_procedure_renders() {
        let mut p = backup();
        p.steps.clear();
        p.branches.clear();
        p.default_escalation = None;
        let m = mermaid(&p);
        assert!(m.contains("    start --> done\n"), "{m}");
        assert!(!m.contains("anyfail"), "{m}");
        assert!(markdown(&p).contains("The procedure has no steps."));
        assert!(html(&p).contains("The procedure has no steps."));
    }

    #[test]
    fn continue_goes_to_its_own_terminal() {
        let mut p = backup();
        p.branches[0].then = BranchEnd::Continue;
        let m = mermaid(&p);
        assert!(m.contains("    b1s1 -->|\"continue\"| cont\n"), "{m}");
        assert!(
            m.contains("cont(\"Continue after the failed step\")"),
            "{m}"
        );
        assert!(markdown(&p).contains("**Then:** continue with the step after the failed one"));
    }

    #[test]
    fn html_output_is_inert() {
        let out = html(&hostile());
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("<img"), "{out}");
        assert!(!out.contains('\x1b'));
        assert!(!out.contains('\x07'));
        assert!(out.contains("&lt;script&gt;alert(1)&lt;/script&gt; &quot;q&quot; &#39;a&#39;"));
        assert!(out.contains("\\u{1b}]0;owned\\u{07}\\u{1b}[2J"));
        // Nothing from the procedure can open an attribute or a tag.
        let tags = out.matches('<').count();
        let clean_tags = html(&benign()).matches('<').count();
        assert_eq!(tags, clean_tags, "the hostile text added markup");
        assert!(out.contains("content=\"default-src 'none'; style-src 'unsafe-inline'\""));
    }

    #[test]
    fn markdown_output_is_inert() {
        let out = markdown(&hostile());
        assert!(!out.contains('\x1b'));
        assert!(!out.contains('\x07'));
        // Outside code blocks (shown literally) every `<` is backslash-escaped.
        let mut fence: Option<String> = None;
        for line in out.lines() {
            let ticks: String = line.chars().take_while(|c| *c == '`').collect();
            match &fence {
                Some(f) if ticks.len() >= f.len() && line.trim_end() == ticks => fence = None,
                Some(_) => {}
                None if ticks.len() >= 3 => fence = Some(ticks),
                None => {
                    let raw = line.replace("\\\\", "").replace("\\<", "");
                    assert!(!raw.contains('<'), "unescaped markup: {line}");
                }
            }
        }
        assert!(fence.is_none(), "a fence was left open");
        assert!(out.contains("\\<script\\>alert(1)\\</script\\>"), "{out}");
        assert!(out.contains("\\[x\\](javascript:alert(1))"), "{out}");
        // Every table row still has exactly its columns: escaped pipes do not split cells.
        for line in out.lines().filter(|l| l.starts_with("| ")) {
            let cells = line.replace("\\|", "").matches('|').count();
            assert!(cells == 3 || cells == 4, "a pipe escaped a cell: {line}");
        }
        // No line from the procedure becomes a heading, quote, rule or code block.
        let headings: Vec<&str> = out.lines().filter(|l| l.starts_with('#')).collect();
        assert!(
            headings.iter().all(|h| h.starts_with("# \\<script")
                || h.starts_with("## ")
                || h.starts_with("### ")
                || h.starts_with("#### ")),
            "{headings:?}"
        );
        assert_eq!(
            headings.len(),
            markdown(&benign())
                .lines()
                .filter(|l| l.starts_with('#'))
                .count()
        );
        assert!(out.contains("\n\\# heading"), "{out}");
        assert!(out.contains("\n\\---"), "{out}");
        assert!(out.contains("\n\\> quote"), "{out}");
        assert!(!out.contains("\n    indented"), "{out}");
        // The command's backticks cannot close its fence.
        assert!(out.contains("`````sh\n"), "{out}");
    }

    #[test]
    fn mermaid_output_is_inert() {
        let out = mermaid(&hostile());
        assert!(!out.contains('\x1b'));
        assert!(!out.contains('\x07'));
        for bad in ["<script", "`", "\"q\""] {
            assert!(!out.contains(bad), "{bad} in {out}");
        }
        // Each label is one quoted string: inside a line, quotes pair up.
        for line in out.lines() {
            assert_eq!(line.matches('"').count() % 2, 0, "{line}");
        }
        assert!(
            out.contains("#lt;script#gt;alert(1)#lt;/script#gt; #quot;q#quot;"),
            "{out}"
        );
        assert_eq!(out.lines().count(), mermaid(&benign()).lines().count());
        // Also inside the Markdown's mermaid block.
        let md = markdown(&hostile());
        assert!(md.contains(&out));
    }

    #[test]
    fn markdown_keeps_author_lists_and_plain_prose_readable() {
        assert_eq!(
            markdown::block("Open the console.\n- look\n- note\n\n1. then this"),
            "Open the console.  \n- look  \n- note\n\n1. then this\n"
        );
        assert_eq!(
            markdown::inline("db_prod & backup_1 C#"),
            "db_prod & backup_1 C#"
        );
        assert_eq!(
            markdown::inline("_x_ *y* a|b &amp;"),
            "\\_x\\_ \\*y\\* a\\|b \\&amp;"
        );
    }

    fn entry(path: &str, p: Procedure) -> ListEntry {
        ListEntry {
            path: PathBuf::from(path),
            procedure: p,
            last_review: None,
        }
    }

    fn entries() -> Vec<ListEntry> {
        let mut overdue = backup();
        overdue.id = "access-review".into();
        overdue.title = "Quarterly access review".into();
        overdue.cadence = crate::procedure::Cadence::Quarterly;
        overdue.next_review = Some(crate::procedure::Date(date("2026-03-01")));
        let mut unset = backup();
        unset.id = "leaver".into();
        unset.title = "Leaver offboarding\x1b[2J".into();
        unset.approved = None;
        unset.controls = vec!["A.5.18".into()];
        unset.cadence = crate::procedure::Cadence::OnDemand;
        let mut reviewed = entry("procedures/backup.toml", backup());
        reviewed.last_review = Some(crate::procedure::control::RecordedReview {
            seq: 9,
            sha256: "ab".into(),
            version: "1.2".into(),
            on: date("2026-03-15"),
            by: "ciso".into(),
            outcome: "unchanged".into(),
            next: date("2027-03-15"),
        });
        vec![
            reviewed,
            entry("procedures/leaver.toml", unset),
            entry("procedures/access.toml", overdue),
        ]
    }

    #[test]
    fn list_table_marks_overdue_in_words() {
        let out = list_table(&entries(), date("2026-04-01"), false, None);
        insta::assert_snapshot!(out, @r"
        ID              TITLE                            VERSION  OWNER               CONTROLS        CADENCE    LAST REVIEW      REVIEW DUE
        access-review   Quarterly access review          1.2      IT operations lead  A.8.13, A.5.37  quarterly  none             2026-03-01 OVERDUE
        backup-nightly  Nightly backup of customer data  1.2      IT operations lead  A.8.13, A.5.37  daily      2026-03-15 ciso  2027-03-15 (review)
        leaver          Leaver offboarding\u{1b}[2J      1.2      IT operations lead  A.5.18          on-demand  none             not set
        ");
        assert!(!out.contains('\x1b'));
    }

    #[test]
    fn list_table_fits_a_narrow_terminal_and_keeps_ids_whole() {
        let out = list_table(&entries(), date("2026-04-01"), false, Some(80));
        for line in out.lines() {
            assert!(
                line.chars().count() <= 80,
                "{line:?} ({})",
                line.chars().count()
            );
        }
        assert!(out.contains("backup-nightly  "), "{out}");
        assert!(out.contains('…'), "{out}");
        assert!(out.contains("2026-03-01 OVERDUE"), "{out}");
        // Narrower than every floor: still no panic, headings cut with the columns.
        for width in [0, 20, 60] {
            let narrow = list_table(&entries(), date("2026-04-01"), false, Some(width));
            assert!(narrow.contains("access-review"), "{narrow}");
        }
        // Wide enough: nothing is cut.
        let wide = list_table(&entries(), date("2026-04-01"), false, Some(200));
        assert_eq!(
            wide,
            list_table(&entries(), date("2026-04-01"), false, None)
        );
    }

    #[test]
    fn list_table_colours_only_with_color() {
        let out = list_table(&entries(), date("2026-04-01"), true, None);
        assert!(
            out.contains("\x1b[31m2026-03-01 OVERDUE\x1b[0m\n"),
            "{out:?}"
        );
        assert!(out.contains("\x1b[33mnot set\x1b[0m\n"), "{out:?}");
        assert!(out.starts_with("\x1b[1mID"));
        // The day it is due is not overdue yet.
        let out = list_table(&entries(), date("2026-03-01"), false, None);
        assert!(!out.contains("OVERDUE"), "{out}");
        assert_eq!(
            list_table(&[], date("2026-03-01"), false, None)
                .lines()
                .count(),
            1
        );
    }

    #[test]
    fn list_json_has_the_same_facts() {
        let v = serde_json::to_value(list_json(&entries(), date("2026-04-01"))).expect("JSON");
        let arr = v["procedures"].as_array().expect("an array");
        assert_eq!(arr.len(), 3);
        assert_eq!(arr[0]["id"], "access-review");
        assert_eq!(arr[0]["review_due"], "2026-03-01");
        assert_eq!(arr[0]["review_overdue"], true);
        assert_eq!(arr[0]["cadence"], "quarterly");
        assert_eq!(arr[0]["path"], "procedures/access.toml");
        assert_eq!(arr[1]["review_overdue"], false);
        assert_eq!(arr[1]["review_due"], "2027-03-15");
        assert_eq!(arr[1]["review_due_from"], "log");
        assert_eq!(arr[1]["last_review"]["by"], "ciso");
        assert_eq!(arr[0]["review_due_from"], "file");
        assert_eq!(arr[0]["last_review"], serde_json::Value::Null);
        assert_eq!(arr[1]["controls"], serde_json::json!(["A.8.13", "A.5.37"]));
        assert_eq!(arr[1]["approved"], "2026-01-15");
        assert_eq!(arr[2]["review_due"], serde_json::Value::Null);
        assert_eq!(arr[2]["approved"], serde_json::Value::Null);
        // JSON keeps the raw text (serde_json escapes control characters itself).
        assert_eq!(arr[2]["title"], "Leaver offboarding\x1b[2J");
    }
}
