//! `status` counts the window it states: the runs counted as recent are
//! exactly those started in the days `status` names ("looking back N days
//! (FROM to TO)"), checked against `runs --json` on a generated log with a
//! real run today (today is the current period, not in the window).

use chrono::{NaiveDate, Utc};

use crate::common::{generate_log, run_with_input, runsheet, stdout};

/// A plain-mode run of the shipped backup procedure that completes.
const BACKUP_SCRIPT: &str = "\nr\ny\n\n\n3f9c2a1b\ny\ne\nXFER-1\n\ny\n\n412.6\n\n";

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The window `status` states, from its first line.
fn stated_window(text: &str) -> (u32, NaiveDate, NaiveDate) {
    let line = text
        .lines()
        .find(|l| l.starts_with("Status on "))
        .unwrap_or_else(|| panic!("no status line:\n{text}"));
    let rest = line.split("looking back ").nth(1).expect("looking back");
    let (days, rest) = rest.split_once(" days (").expect("days (");
    let (from, rest) = rest.split_once(" to ").expect(" to ");
    (days.parse().unwrap(), day(from), day(&rest[..10]))
}

#[test]
fn status_counts_the_runs_of_the_window_it_states() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    generate_log(&db, &["--runs", "30", "--days", "10"]);
    let run = run_with_input(
        runsheet(&db).args(["run", "--plain", "backup-customer-data"]),
        BACKUP_SCRIPT,
    );
    assert_eq!(run.status.code(), Some(0), "{}", stdout(&run));
    let today = Utc::now().date_naive();

    let runs = runsheet(&db).args(["--json", "runs"]).output().unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    let started: Vec<NaiveDate> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["procedure_id"] == "backup-customer-data")
        .map(|r| day(&r["started_at"].as_str().unwrap()[..10]))
        .collect();
    assert!(started.contains(&today), "the real run is today's");

    for days in [3u32, 7] {
        let text = stdout(
            &runsheet(&db)
                .args(["status", "--days", &days.to_string()])
                .output()
                .unwrap(),
        );
        let (n, from, to) = stated_window(&text);
        assert_eq!(n, days, "{text}");
        assert_eq!((to - from).num_days() + 1, i64::from(days), "{text}");
        assert!(to < today, "the stated window ends before today: {text}");
        let expected = started.iter().filter(|d| **d >= from && **d <= to).count();
        assert!(expected > 0, "the generator ran in the window");

        let json = runsheet(&db)
            .args(["--json", "status", "--days", &days.to_string()])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        let backup = v["procedures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == "backup-customer-data")
            .unwrap()
            .clone();
        assert_eq!(
            backup["recent"]["runs"].as_u64(),
            Some(expected as u64),
            "status --days {days} states {from} to {to}, which holds {expected} runs; it counted {}",
            backup["recent"]
        );
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("backup-customer-data"))
            .unwrap();
        assert!(
            line.contains(&format!("{expected} runs")),
            "the table counts the stated window: {line}"
        );
    }
}
