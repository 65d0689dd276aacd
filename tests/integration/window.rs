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

/// No period before the log's first record is judged, in `status` as in the
/// export's cadence table: a log made today misses no day of a daily
/// procedure (so `status --strict` passes on day one), and a generated log
/// whose first record is some days back is judged only from that day on.
#[test]
fn status_judges_no_period_before_the_logs_first_record() {
    let dir = tempfile::tempdir().unwrap();
    let procs = dir.path().join("procs");
    std::fs::create_dir(&procs).unwrap();
    let source =
        std::fs::read_to_string(crate::common::repo().join("procedures/backup-customer-data.toml"))
            .unwrap();
    // A fixed review date, so the review does not fall due in a later year.
    let source = source.replace("review_every_months = 12", "next_review = 2099-01-01");
    assert!(source.contains("next_review = 2099-01-01"));
    std::fs::write(procs.join("backup-customer-data.toml"), source).unwrap();
    let status = |db: &std::path::Path, args: &[&str]| {
        crate::common::runsheet_with(db, &procs)
            .args(["--json", "status", "--days", "30"])
            .args(args)
            .output()
            .unwrap()
    };

    // A log created today (its first record: a run of another procedure).
    let today_db = dir.path().join("today.sqlite3");
    crate::common::drill_run(&today_db);
    let out = status(&today_db, &[]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let backup = &v["procedures"][0];
    assert_eq!(backup["id"], "backup-customer-data");
    assert_eq!(
        backup["adherence"]["missed"].as_array().unwrap().len(),
        0,
        "{v:#}"
    );
    assert_eq!(status(&today_db, &["--strict"]).status.code(), Some(0));
    // A window of no days is refused (it used to state an inverted span).
    let zero = crate::common::runsheet_with(&today_db, &procs)
        .args(["status", "--days", "0"])
        .output()
        .unwrap();
    assert_eq!(zero.status.code(), Some(2));
    assert!(
        crate::common::stderr(&zero).contains("0 is not in 1.."),
        "{}",
        crate::common::stderr(&zero)
    );

    // A generated log: four days of runs, its first record four days back.
    let old_db = dir.path().join("old.sqlite3");
    generate_log(&old_db, &["--runs", "2", "--days", "4"]);
    let first = rusqlite::Connection::open(&old_db)
        .unwrap()
        .query_row(
            "SELECT substr(min(t), 1, 10) FROM (SELECT at AS t FROM events WHERE seq = 1 UNION ALL SELECT min(started_at) FROM runs)",
            [],
            |r| r.get::<_, String>(0),
        )
        .unwrap();
    let out = status(&old_db, &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let adherence = &v["procedures"][0]["adherence"];
    let first_checked = adherence["first_checked"].as_str().unwrap();
    assert_eq!(first_checked, first, "{v:#}");
    let checked = adherence["checked"].as_u64().unwrap();
    assert!((1..=4).contains(&checked), "{v:#}");
    for missed in adherence["missed"].as_array().unwrap() {
        assert!(missed.as_str().unwrap() >= first.as_str(), "{v:#}");
    }
}
