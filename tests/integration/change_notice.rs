//! The change notice, through the binary: an operator who starts a
//! procedure whose content changed since their last run of it is told what
//! changed before the first step, and the log records that they saw it.

use std::path::Path;

use crate::common::{
    DRILL_SCRIPT, assert_evidence_validates, drill, payloads, plain_run, printed_run_id, runsheet,
    stdout,
};

/// A copy of the drill procedure in `dir`, as `d.toml`.
fn copy_drill(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("d.toml");
    std::fs::copy(drill(), &path).expect("copy the drill");
    path
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("read");
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).expect("write");
}

#[test]
fn a_changed_procedure_is_announced_before_the_first_step_and_the_notice_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.db");
    let path = copy_drill(dir.path());

    // The first run: nothing to announce.
    let out = plain_run(&db, &path, DRILL_SCRIPT);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(!stdout(&out).contains("CHANGED"), "{}", stdout(&out));
    assert!(payloads(&db, "change-notice-seen").is_empty());

    // v1.1: one step's instructions changed.
    edit(&path, "version = \"1.0\"", "version = \"1.1\"");
    edit(
        &path,
        "Open the runbook and check you are on the right host.",
        "Open the runbook, check the host name and the ticket.",
    );
    // A step key before going on is refused, then Enter goes on.
    let out = plain_run(&db, &path, format!("a\n\n{DRILL_SCRIPT}"));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("CHANGED since you last ran it — v1.0 → v1.1, 1 step changed; header: version (since your run of "),
        "{text}"
    );
    assert!(
        text.contains("  * step 1 changed: Prepare the workspace (prepare) — instructions"),
        "{text}"
    );
    assert!(
        text.contains("read what changed in the procedure"),
        "{text}"
    );
    let notice_at = text.find("CHANGED since").unwrap();
    let first_step = text
        .find("[0/5] Prepare the workspace")
        .expect("first step");
    assert!(notice_at < first_step, "the notice comes first:\n{text}");

    // The log: run-started carries the notice as shown; change-notice-seen
    // follows it, before the first step.
    let run = printed_run_id(&text).expect("run id");
    let started = payloads(&db, "run-started");
    let notice = &started[1]["change_notice"];
    assert_eq!(notice["from_version"], "1.0");
    assert_eq!(
        notice["from_sha256"], started[0]["procedure_sha256"],
        "compared with the version the first run used"
    );
    assert_eq!(notice["since_drill"], false);
    assert_eq!(
        notice["changes"],
        serde_json::json!([
            "step 1 changed: Prepare the workspace (prepare) — instructions",
            "header changed: version"
        ])
    );
    assert!(started[0].get("change_notice").is_none());
    let seen = payloads(&db, "change-notice-seen");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["from_version"], "1.0");
    assert_eq!(seen[0]["summary"], notice["summary"]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let kinds: Vec<String> = conn
        .prepare("SELECT kind FROM events WHERE run_id = ?1 ORDER BY run_seq LIMIT 3")
        .unwrap()
        .query_map([&run], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(kinds, ["run-started", "change-notice-seen", "step-started"]);
    let shown = runsheet(&db).args(["show", &run]).output().unwrap();
    assert!(
        stdout(&shown).contains("Read the change notice (changed since v1.0: 1 step changed"),
        "{}",
        stdout(&shown)
    );

    // The same content again: no notice.
    let out = plain_run(&db, &path, DRILL_SCRIPT);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(!stdout(&out).contains("CHANGED"), "{}", stdout(&out));

    // Only a comment changed: the bytes differ, the procedure does not.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("# reviewed, no change\n{text}")).unwrap();
    let out = plain_run(&db, &path, DRILL_SCRIPT);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(!stdout(&out).contains("CHANGED"), "{}", stdout(&out));
    assert_eq!(payloads(&db, "change-notice-seen").len(), 1);

    let verify = runsheet(&db).arg("verify").output().unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
    assert_evidence_validates(&db);
}

#[test]
fn an_operator_who_aborts_at_the_notice_has_not_seen_it_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.db");
    let path = copy_drill(dir.path());
    let out = plain_run(&db, &path, DRILL_SCRIPT);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    edit(
        &path,
        "title = \"Record the backup size\"",
        "title = \"Record the archive size\"",
    );
    let out = plain_run(&db, &path, "X\nwrong window\n");
    let text = stdout(&out);
    assert!(
        text.contains("step 2 changed: Record the archive size (size) — title"),
        "{text}"
    );
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(payloads(&db, "change-notice-seen").is_empty());
    let ended = payloads(&db, "run-ended");
    assert_eq!(ended.last().unwrap()["outcome"], "aborted");
}

#[test]
fn a_drill_counts_as_the_last_run_the_notice_compares_with() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.db");
    let path = copy_drill(dir.path());
    let out = crate::common::run_with_input(
        runsheet(&db)
            .args(["run", "--plain", "--new", "--drill"])
            .arg(&path),
        "\nq\n",
    );
    assert_eq!(out.status.code(), Some(10), "{}", stdout(&out));
    edit(
        &path,
        "title = \"Check the service\"",
        "title = \"Check the web service\"",
    );
    let out = plain_run(&db, &path, "q\n");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(10), "{text}");
    assert!(
        text.contains("1 step changed (since your drill of "),
        "{text}"
    );
    let started = payloads(&db, "run-started");
    assert_eq!(started[1]["change_notice"]["since_drill"], true);
    // Suspended at the notice: it was shown, not yet read.
    assert!(payloads(&db, "change-notice-seen").is_empty());
}
