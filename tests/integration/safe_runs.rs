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
}
