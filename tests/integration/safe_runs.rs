//! Safe runs (issue "Safe runs"): what the runner refuses so that a run
//! cannot end looking better than it went.

use rusqlite::Connection;

use crate::common::{plain_run, stdout};

/// An escalation cannot be skipped through: on the shipped backup procedure,
/// a failed free-space check enters its escalation branch, whose steps are
/// not marked `skippable`. `s` is refused before any justification is asked,
/// the prompt does not offer it, and nothing is recorded as skipped.
#[test]
fn an_escalation_step_cannot_be_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let out = plain_run(&db, "backup-customer-data", "f\nthe disk is 91% full\ns\n");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(10), "{text}");
    assert!(text.contains("ESCALATION"), "{text}");
    // Whom to contact, on one line: the procedure's line breaks are not
    // shown as escapes.
    assert!(
        text.contains(
            "    Contact: Head of IT Operations (mobile in the on-call rota); deputy: Information Security Officer.\n"
        ),
        "{text}"
    );
    assert!(!text.contains("\\n"), "an escaped line break: {text}");
    assert!(
        text.contains(
            "✘ this is an escalation step and the procedure does not let it be skipped; do it, or fail it (f) (the run then ends as failed)"
        ),
        "{text}"
    );
    assert!(!text.contains("Justification for skipping"), "{text}");
    let prompt = text
        .lines()
        .rfind(|l| l.starts_with('['))
        .expect("a prompt in the branch");
    assert!(!prompt.contains(" s "), "skip is offered: {prompt}");
    let skipped: i64 = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM events WHERE kind = 'step-skipped'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(skipped, 0);
    // The failure records whom the branch says to contact, and `show` says it.
    let id = crate::common::printed_run_id(&text).expect("run id");
    let shown = crate::common::runsheet(&db)
        .args(["show", &id])
        .output()
        .unwrap();
    assert!(
        stdout(&shown).contains(
            "contact: Head of IT Operations (mobile in the on-call rota); deputy: Information Security Officer."
        ),
        "{}",
        stdout(&shown)
    );
}

/// A whole-number value refuses 2.5 through the binary and keeps asking;
/// the whole number is recorded and the run completes.
#[test]
fn an_integer_value_refuses_a_fraction() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let procedure = dir.path().join("grant.toml");
    std::fs::write(
        &procedure,
        r#"id = "grant"
title = "Grant"
version = "1"
owner = "o"
approver = "a"
approved = 2026-11-01
review_every_months = 12
purpose = "p"
cadence = "on-demand"
controls = ["A.8.2"]
[[steps]]
id = "duration"
title = "Record the duration"
value = { type = "integer", label = "Duration", unit = "hours", min = 1, max = 72 }
"#,
    )
    .unwrap();
    let out = plain_run(&db, &procedure, "\n2.5\n\n4\n");
    let text = stdout(&out);
    assert!(text.contains("✘ `2.5` is not a whole number"), "{text}");
    assert!(
        text.contains("✔ recorded: Record the duration = 4"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
}
