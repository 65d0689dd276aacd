//! Audit through the real binary: a generated log plus a real run; `runs`
//! filters, `show`, `status` (a missed day), `export` → `verify-bundle`, one
//! changed byte in any file fails naming it, non-empty targets refused.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{run_with_input, runsheet, stderr, stdout};

/// A plain-mode run of the shipped backup procedure that completes.
const BACKUP_SCRIPT: &str = "\nr\ny\n\n\n3f9c2a1b\ny\ne\nXFER-1\n\ny\n\n412.6\n\n";

struct Log {
    _dir: tempfile::TempDir,
    db: PathBuf,
    root: PathBuf,
    days_without_run: Vec<String>,
}

fn generated_log() -> Log {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let text = crate::common::generate_log(&db, &["--runs", "30", "--days", "21"]);
    let days_without_run = text
        .lines()
        .find_map(|l| l.strip_prefix("Days with no run: "))
        .map(|l| {
            l.trim_end_matches('.')
                .split(", ")
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    // And one real run, typed line by line.
    let run = run_with_input(
        runsheet(&db).args([
            "run",
            "--plain",
            "backup-customer-data",
            "--operator",
            "Real Person",
        ]),
        BACKUP_SCRIPT,
    );
    assert_eq!(run.status.code(), Some(0), "{}", stdout(&run));
    Log {
        root: dir.path().to_path_buf(),
        _dir: dir,
        db,
        days_without_run,
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\n{}\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

fn runs_json(db: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let out = runsheet(db)
        .args(["--json", "runs"])
        .args(args)
        .output()
        .unwrap();
    serde_json::from_str::<serde_json::Value>(&ok(&out)).unwrap()["runs"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn runs_filters_and_show_work_on_a_generated_log() {
    let log = generated_log();
    let all = runs_json(&log.db, &[]);
    assert_eq!(all.len(), 31);
    let starts: Vec<&str> = all
        .iter()
        .map(|r| r["started_at"].as_str().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert_eq!(
        all[0]["operator_name"], "Real Person",
        "the real run is the newest"
    );

    for (args, check) in [
        (vec!["--control", "a.8.13"], "controls"),
        (vec!["--status", "completed"], "outcome"),
        (vec!["--operator", "bob"], "operator"),
        (vec!["--operator", "Real Person"], "operator_name"),
        (vec!["--procedure", "backup-customer-data"], "procedure_id"),
    ] {
        let rows = runs_json(&log.db, &args);
        assert!(!rows.is_empty(), "{args:?} matched nothing");
        for r in &rows {
            let ok = match check {
                "controls" => r["controls"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c == "A.8.13"),
                "outcome" => r["outcome"] == "completed",
                "operator" => r["operator"] == "bob",
                "operator_name" => r["operator_name"] == "Real Person",
                _ => r["procedure_id"] == "backup-customer-data",
            };
            assert!(ok, "{args:?} let through {r}");
        }
    }
    assert!(runs_json(&log.db, &["--control", "A.5.1"]).is_empty());
    let since = &starts[5][..10];
    let recent = runs_json(&log.db, &["--since", since]);
    assert!(
        recent
            .iter()
            .all(|r| &r["started_at"].as_str().unwrap()[..10] >= since)
    );
    let older = runs_json(&log.db, &["--until", since]);
    assert!(
        older
            .iter()
            .all(|r| &r["started_at"].as_str().unwrap()[..10] <= since)
    );
    assert!(
        recent.len() + older.len() > all.len(),
        "the day itself is in both"
    );

    let table = ok(&runsheet(&log.db).arg("runs").output().unwrap());
    // A generated log says so before anything else.
    let (notice, table) = table.split_once('\n').unwrap();
    assert!(
        notice.starts_with("NOTE: GENERATED TEST DATA — NOT EVIDENCE"),
        "{notice}"
    );
    assert!(table.starts_with("RUN ID"), "{table}");
    // The header and one line per run: the count is for terminals only.
    assert_eq!(table.lines().count(), 32, "{table}");

    // show with a unique prefix: the timeline with step titles and the outcome.
    let id = all[0]["id"].as_str().unwrap();
    let shown = ok(&runsheet(&log.db)
        .args(["show", &id[..18]])
        .output()
        .unwrap());
    assert!(shown.contains(&format!("Run {id}")), "{shown}");
    assert!(
        shown.contains("▶ Run the backup job and record the snapshot id (run-backup)"),
        "{shown}"
    );
    assert!(shown.contains("Recorded Snapshot id: 3f9c2a1b"), "{shown}");
    assert!(shown.contains("Ran `df -h /`: exit 0"), "{shown}");
    assert!(shown.contains("Run ended: COMPLETED"), "{shown}");

    let bad = runsheet(&log.db)
        .args(["runs", "--since", "yesterday"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(3));
    assert!(stderr(&bad).contains("YYYY-MM-DD"), "{}", stderr(&bad));
}

#[test]
fn status_shows_missed_days_and_strict_fails() {
    let log = generated_log();
    assert!(
        !log.days_without_run.is_empty(),
        "the generator leaves gaps"
    );
    let out = runsheet(&log.db)
        .args(["status", "--days", "21"])
        .output()
        .unwrap();
    let text = ok(&out);
    assert!(text.contains("backup-customer-data"), "{text}");
    assert!(text.contains("MISSED"), "{text}");
    for day in &log.days_without_run {
        assert!(
            text.contains(day.as_str()),
            "missed day {day} not listed:\n{text}"
        );
    }
    let strict = runsheet(&log.db)
        .args(["status", "--days", "21", "--strict"])
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(1), "{}", stdout(&strict));

    let json = runsheet(&log.db)
        .args(["--json", "status", "--days", "21"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(&json)).unwrap();
    let backup = v["procedures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "backup-customer-data")
        .unwrap();
    let missed: Vec<&str> = backup["adherence"]["missed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    for day in &log.days_without_run {
        assert!(missed.contains(&day.as_str()), "{day} not in {missed:?}");
    }
    assert_eq!(backup["last_run"]["operator_name"], "Real Person");
}

fn flip_one_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = bytes.len() / 3;
    bytes[i] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn export_verifies_and_any_changed_byte_is_named() {
    let log = generated_log();
    let bundle = log.root.join("bundle");
    let out = runsheet(&log.db)
        .args([
            "export",
            "--control",
            "A.8.13",
            "--since",
            "2000-01-01",
            "--out",
        ])
        .arg(&bundle)
        .output()
        .unwrap();
    let text = ok(&out);
    assert!(text.contains("31 runs"), "{text}");
    let verify = runsheet(&log.db)
        .arg("verify-bundle")
        .arg(&bundle)
        .output()
        .unwrap();
    let report = ok(&verify);
    assert!(
        report.contains("OK: export.json is the log's record of this export"),
        "{report}"
    );
    // The log still verifies, with the export event in it.
    ok(&runsheet(&log.db).arg("verify").output().unwrap());

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("manifest.json")).unwrap())
            .unwrap();
    let mut files: Vec<String> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    files.push("manifest.json".into());
    for name in [
        "report.html",
        "report.md",
        "runs.csv",
        "events.csv",
        "evidence.json",
        "checkpoint.json",
    ] {
        assert!(
            files.iter().any(|f| f == name),
            "{name} missing from {files:?}"
        );
    }
    for (i, name) in files.iter().enumerate() {
        let copy = log.root.join(format!("copy-{i}"));
        copy_dir(&bundle, &copy);
        flip_one_byte(&copy.join(name));
        let out = runsheet(&log.db)
            .arg("verify-bundle")
            .arg(&copy)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stdout(&out));
        assert!(
            stdout(&out).contains(&format!("FAILED: {name}:")),
            "{name} not named:\n{}",
            stdout(&out)
        );
    }
}

#[test]
fn exports_refuse_non_empty_directories_and_leave_nothing_on_failure() {
    let log = generated_log();
    let target = log.root.join("occupied");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep.txt"), "mine").unwrap();
    let out = runsheet(&log.db)
        .arg("export")
        .arg("--out")
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("is not empty"), "{}", stderr(&out));
    let forced = runsheet(&log.db)
        .args(["export", "--force", "--out"])
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(forced.status.code(), Some(5), "{}", stderr(&forced));
    assert_eq!(
        std::fs::read_to_string(target.join("keep.txt")).unwrap(),
        "mine"
    );
    let entries = std::fs::read_dir(&target).unwrap().count();
    assert_eq!(entries, 1, "nothing added to the occupied directory");

    // Under a regular file: fails, and no temporary directory is left next to it.
    let file = log.root.join("file");
    std::fs::write(&file, "x").unwrap();
    let out = runsheet(&log.db)
        .arg("export")
        .arg("--out")
        .arg(file.join("bundle"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let leftovers: Vec<String> = std::fs::read_dir(&log.root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("runsheet-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The report's cover lists the days with no completed run over the export's
/// period (as `status` does), and none from before the log holds anything.
#[test]
fn the_cover_lists_the_missed_days_and_none_before_the_log() {
    let log = generated_log();
    let bundle = log.root.join("missed-bundle");
    let out = runsheet(&log.db)
        .args(["export", "--format", "md", "--out"])
        .arg(&bundle)
        .output()
        .unwrap();
    ok(&out);
    let md = std::fs::read_to_string(bundle.join("report.md")).unwrap();
    let row = md
        .lines()
        .find(|l| l.starts_with("| backup-customer-data | daily |"))
        .unwrap_or_else(|| panic!("no cadence row:\n{md}"));
    for day in &log.days_without_run {
        assert!(
            row.contains(day.as_str()),
            "missed day {day} not on the cover: {row}"
        );
    }
    let first_run = runsheet(&log.db)
        .args(["--json", "runs", "--procedure", "backup-customer-data"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(&first_run)).unwrap();
    let first = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["started_at"].as_str().unwrap()[..10].to_string())
        .min()
        .unwrap();
    // The span starts no earlier than the log's first run (the procedure's
    // approval date is earlier: periods before the log cannot be judged from it).
    assert!(
        row.contains(&format!("| {first} to ")),
        "the span does not start at the log's first day {first}: {row}"
    );
}
