//! Drills and training records (docs/training.md), through the binary: a
//! drill is marked, left out of status and of an export's population (which
//! still verifies) and listed in its training records; a drill runs only the
//! commands marked safe to rehearse; `training` shows an operator out of date
//! after the procedure changes, and changes no byte of the log.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::common::{
    export_bundle, generate_log, printed_run_id, repo, run_with_input, runsheet_with, stderr,
    stdout,
};

/// The shipped nightly backup procedure in plain mode, to its end: its
/// command run (`df -h /` is marked safe to rehearse, so a drill runs it
/// too), then a snapshot id, no warnings, the off-site transfer id,
/// checksums match, the size.
fn backup_script(_drill: bool) -> String {
    "r\ny\n\n\n3f9c2a1b\ny\ne\nXFER-1\n\ny\n\n412\n".to_string()
}

/// A temporary procedures folder holding a copy of the shipped backup
/// procedure, and a log beside it.
struct Folder {
    _dir: tempfile::TempDir,
    procs: PathBuf,
    db: PathBuf,
}

fn folder() -> Folder {
    let dir = tempfile::tempdir().unwrap();
    let procs = dir.path().join("procedures");
    std::fs::create_dir(&procs).unwrap();
    std::fs::copy(
        repo().join("procedures/backup-customer-data.toml"),
        procs.join("backup-customer-data.toml"),
    )
    .unwrap();
    let db = dir.path().join("log.db");
    Folder {
        _dir: dir,
        procs,
        db,
    }
}

impl Folder {
    /// `runsheet run --plain --new [--drill] ID`, answering with `script`.
    fn run(&self, id: &str, drill: bool, script: &str) -> Output {
        let mut cmd = runsheet_with(&self.db, &self.procs);
        cmd.args(["run", "--plain", "--new"]);
        if drill {
            cmd.arg("--drill");
        }
        run_with_input(cmd.arg(id), script)
    }

    /// A completed run of the backup procedure; its id.
    fn backup(&self, drill: bool) -> String {
        self.backup_after(drill, "")
    }

    /// A completed run of the backup procedure after `first` (the key that
    /// reads a change notice, when one is expected); its id.
    fn backup_after(&self, drill: bool, first: &str) -> String {
        let script = format!("{first}{}", backup_script(drill));
        let out = self.run("backup-customer-data", drill, &script);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        printed_run_id(&stdout(&out)).expect("run id printed")
    }

    /// What `runsheet ARGS` prints (whatever its exit code).
    fn text(&self, args: &[&str]) -> String {
        stdout(
            &runsheet_with(&self.db, &self.procs)
                .args(args)
                .output()
                .unwrap(),
        )
    }

    /// `status --json` flags the backup procedure's training with `words`.
    fn assert_flagged(&self, words: &str) {
        let status = self.json(&["status"]);
        let flags = &status["procedures"][0]["training"];
        assert!(
            flags
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f.as_str().unwrap().contains(words)),
            "{words}: {status:#}"
        );
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = runsheet_with(&self.db, &self.procs)
            .arg("--json")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

#[test]
fn a_drill_says_drill_and_is_marked_in_the_log_runs_and_show() {
    let f = folder();
    let out = f.run("backup-customer-data", true, &backup_script(true));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("DRILL — a practice run")),
        "{text}"
    );
    assert!(text.contains("DRILL [0/7] Check free space"), "{text}");
    assert!(text.contains("DRILL [r Enter"), "{text}");
    // Its command is marked safe to rehearse (read-only): run in the drill.
    assert!(text.contains("exit code 0"), "{text}");
    assert!(!text.contains("drill: not run"), "{text}");
    let id = printed_run_id(&text).unwrap();
    let runs = f.json(&["runs"]);
    assert_eq!(runs["runs"][0]["drill"], true, "{runs:#}");
    let show = f.text(&["show", &id]);
    assert!(show.contains("  DRILL      a practice run"), "{show}");
    let table = f.text(&["runs"]);
    assert!(table.contains("backup-customer-data v1.0 DRILL"), "{table}");
    // A production run is not marked, and its run-started has no `drill`.
    f.backup(false);
    let conn = rusqlite::Connection::open(&f.db).unwrap();
    let marks: Vec<Option<i64>> = conn
        .prepare("SELECT json_extract(payload, '$.drill') FROM events WHERE kind = 'run-started' ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(marks, [Some(1), None]);
    let verify = runsheet_with(&f.db, &f.procs)
        .arg("verify")
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
    // A drill turned into a production run by hand is caught by verify.
    conn.execute_batch(
        "DROP TRIGGER events_no_update; \
         UPDATE events SET payload = replace(payload, ',\"drill\":true', '') \
         WHERE kind = 'run-started' AND json_extract(payload, '$.drill') = 1;",
    )
    .unwrap();
    drop(conn);
    assert_eq!(f.json(&["runs"])["runs"][1]["drill"], false);
    let verify = runsheet_with(&f.db, &f.procs)
        .arg("verify")
        .output()
        .unwrap();
    assert_ne!(verify.status.code(), Some(0), "{}", stdout(&verify));
}

#[test]
fn a_drill_is_left_out_of_status_and_the_exports_population_but_is_in_its_training_records() {
    let f = folder();
    let drill = f.backup(true);
    // Nothing in status: no last run, no runs counted.
    let status = f.json(&["status"]);
    let p = &status["procedures"][0];
    assert_eq!(p["id"], "backup-customer-data");
    assert!(p["last_run"].is_null(), "{p:#}");
    assert_eq!(p["open_runs"].as_array().unwrap().len(), 0, "{p:#}");
    // A production run, then another drill: the export holds the production run only.
    let production = f.backup(false);
    let second = f.backup(true);
    let status = f.json(&["status"]);
    assert_eq!(
        status["procedures"][0]["last_run"]["id"],
        production.as_str()
    );

    // A sample packet cannot name a drill: refused, nothing written.
    let before = std::fs::read(&f.db).unwrap();
    let packet = f.db.with_file_name("packet");
    let refused = runsheet_with(&f.db, &f.procs)
        .args(["export", "--run", &second, "--run", &production, "--out"])
        .arg(&packet)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains(&format!("run {second} is a drill")),
        "{}",
        stderr(&refused)
    );
    assert!(!packet.exists());
    assert_eq!(std::fs::read(&f.db).unwrap(), before);

    let bundle = f.db.with_file_name("bundle");
    let out = export_bundle(&f.db, &bundle, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let runs_csv = std::fs::read_to_string(bundle.join("runs.csv")).unwrap();
    assert_eq!(runs_csv.lines().count(), 2, "{runs_csv}");
    assert!(runs_csv.contains(&production));
    let events_csv = std::fs::read_to_string(bundle.join("events.csv")).unwrap();
    let evidence: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("evidence.json")).unwrap())
            .unwrap();
    let ids: Vec<&str> = evidence["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [production.as_str()]);
    // The drill after the first exported event: its records are links
    // without payload, so the walk to the checkpoint still verifies.
    let links: Vec<&Value> = evidence["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["run_id"] == second.as_str())
        .collect();
    assert!(
        !links.is_empty() && links.iter().all(|l| l.get("payload").is_none()),
        "{links:?}"
    );
    for id in [&drill, &second] {
        assert!(!runs_csv.contains(id.as_str()) && !events_csv.contains(id.as_str()));
        let report = std::fs::read_to_string(bundle.join("report.html")).unwrap();
        assert!(report.contains("Training records") && report.contains(id.as_str()));
    }
    for name in ["oscal/assessment-results.json", "report.md", "events.csv"] {
        let text = std::fs::read_to_string(bundle.join(name)).unwrap();
        assert!(!text.contains(&drill), "{name} holds the drill");
    }
    // Training records: both drills, listed in the manifest.
    let training = std::fs::read_to_string(bundle.join("training.csv")).unwrap();
    assert!(
        training.contains(&drill) && training.contains(&second),
        "{training}"
    );
    assert!(!training.contains(&production), "{training}");
    assert!(training.contains("\"drill\""), "{training}");
    let manifest = std::fs::read_to_string(bundle.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"training.csv\""), "{manifest}");
    let verify = runsheet_with(&f.db, &f.procs)
        .arg("verify-bundle")
        .arg(&bundle)
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
}

/// A procedure whose two command steps each create a file in `dir`: the
/// first is not marked safe to rehearse, the second is.
fn touching(dir: &Path) -> String {
    format!(
        r#"id = "touching"
title = "Two commands"
version = "1.0"
owner = "IT"
approver = "CISO"
approved = 2026-10-01
review_every_months = 12
purpose = "Prove which commands a drill runs."
cadence = "on-demand"
controls = ["A.5.37"]
default_escalation = "help"

[[steps]]
id = "unsafe"
title = "Change something"
[steps.command]
run = "touch '{unsafe}'"

[[steps]]
id = "safe"
title = "Look at something"
[steps.command]
run = "touch '{safe}'"
safe_to_rehearse = true

[[branches]]
id = "help"
title = "Ask for help"
then = "end-failed"
[[branches.steps]]
id = "ask"
title = "Ask the team lead"
"#,
        unsafe = dir.join("unsafe-ran").display(),
        safe = dir.join("safe-ran").display(),
    )
}

#[test]
fn a_drill_runs_only_the_commands_marked_safe_to_rehearse() {
    let f = folder();
    let marks = f.db.with_file_name("marks");
    std::fs::create_dir(&marks).unwrap();
    std::fs::write(f.procs.join("touching.toml"), touching(&marks)).unwrap();
    // The unsafe step: r asks what you would have done (never y/n), Enter
    // confirms; the safe step: r, y runs it, Enter confirms.
    let out = f.run(
        "touching",
        true,
        "r\nI would touch the file and check it is there\n\nr\ny\n\n",
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("not marked safe to rehearse"), "{text}");
    assert!(
        !marks.join("unsafe-ran").exists(),
        "the drill ran a command not safe to rehearse: {text}"
    );
    assert!(marks.join("safe-ran").exists(), "{text}");
    let rehearsed = crate::common::payloads(&f.db, "command-rehearsed");
    assert_eq!(rehearsed.len(), 1);
    assert_eq!(
        rehearsed[0]["rehearsal"],
        "I would touch the file and check it is there"
    );
    assert_eq!(crate::common::payloads(&f.db, "command-ran").len(), 1);
    // The same script in a production run: r asks y/n, so the text is no
    // answer; with y the command runs (the test above could fail).
    std::fs::remove_file(marks.join("safe-ran")).unwrap();
    let out = f.run("touching", false, "r\ny\n\nr\ny\n\n");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(marks.join("unsafe-ran").exists());
    assert!(marks.join("safe-ran").exists());

    // The procedure changes: status flags the operator out of date, and
    // --strict does not fail on training alone (docs/training.md).
    std::fs::remove_file(f.procs.join("backup-customer-data.toml")).unwrap();
    let file = f.procs.join("touching.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("version = \"1.0\"", "version = \"1.1\""),
    )
    .unwrap();
    let strict = runsheet_with(&f.db, &f.procs)
        .args(["status", "--strict"])
        .output()
        .unwrap();
    assert!(
        stdout(&strict).contains("touching: changed to v1.1: trained operators out of date ("),
        "{}",
        stdout(&strict)
    );
    assert_eq!(strict.status.code(), Some(0), "{}", stdout(&strict));
}

#[test]
fn training_shows_an_operator_out_of_date_after_the_procedure_changes() {
    let f = folder();
    let drill = f.backup(true);
    let t = f.json(&["training", "backup-customer-data"]);
    let p = &t["procedures"][0];
    let me = &p["operators"][0];
    assert_eq!(me["standing"], "trained", "{t:#}");
    assert_eq!(me["current"]["run_id"], drill.as_str());
    assert_eq!(me["current"]["by"], "drill");
    let old_sha = p["sha256"].as_str().unwrap().to_string();

    // The procedure changes: a new version in the folder.
    let file = f.procs.join("backup-customer-data.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("version = \"1.0\""));
    std::fs::write(
        &file,
        text.replace("version = \"1.0\"", "version = \"1.1\""),
    )
    .unwrap();

    // diff names the old version by what the log holds of it, as history
    // counts it: a drill, not a run.
    let d = f.json(&["diff", "backup-customer-data"]);
    assert_eq!(d["from"]["origin"], "the evidence log (1 drill)", "{d:#}");

    let before = std::fs::read(&f.db).unwrap();
    let t = f.json(&["training"]);
    assert_eq!(
        std::fs::read(&f.db).unwrap(),
        before,
        "training changed the log"
    );
    let p = &t["procedures"][0];
    assert_eq!(p["version"], "1.1");
    assert_ne!(p["sha256"], old_sha.as_str());
    let me = &p["operators"][0];
    assert_eq!(me["standing"], "out-of-date", "{t:#}");
    assert!(me["current"].is_null());
    assert_eq!(me["latest_other"]["procedure_version"], "1.0");
    let words = f.text(&["training"]);
    assert!(
        words.contains("OUT OF DATE") && words.contains("trained on v1.0"),
        "{words}"
    );

    // status flags it (not counted as needing attention: docs/training.md).
    f.assert_flagged("trained operators out of date (");
    // A production run of v1.1 by the untrained operator is flagged too;
    // its start shows what changed since their drill (Enter reads it).
    f.backup_after(false, "\n");
    f.assert_flagged("ran v1.1 without training on it");
    let strict = f.text(&["status", "--strict"]);
    assert!(strict.contains("Training (runs since "), "{strict}");
    // A drill of the new version brings them up to date.
    f.backup(true);
    let t = f.json(&["training"]);
    assert_eq!(
        t["procedures"][0]["operators"][0]["standing"], "trained",
        "{t:#}"
    );
}

/// An open production run is not offered to a drill (nor the other way
/// round): `run --drill` starts a drill beside it, and `run` still finds
/// the open production run.
#[test]
fn a_drill_and_a_production_run_do_not_resume_each_other() {
    let f = folder();
    let open = f.run("backup-customer-data", false, "");
    assert_eq!(open.status.code(), Some(10), "{}", stdout(&open));
    let production = printed_run_id(&stdout(&open)).unwrap();

    // Without --new: the open production run is not offered to the drill.
    let out = run_with_input(
        runsheet_with(&f.db, &f.procs).args(["run", "--plain", "--drill", "backup-customer-data"]),
        "",
    );
    assert_eq!(
        out.status.code(),
        Some(10),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let drill = printed_run_id(&stdout(&out)).unwrap();
    assert_ne!(drill, production);
    assert!(stdout(&out).contains("DRILL"), "{}", stdout(&out));

    // Each kind finds its own open run.
    for (is_drill, id) in [(false, &production), (true, &drill)] {
        let mut cmd = runsheet_with(&f.db, &f.procs);
        cmd.args(["run", "--plain", "backup-customer-data"]);
        if is_drill {
            cmd.arg("--drill");
        }
        let again = run_with_input(&mut cmd, "");
        assert_ne!(again.status.code(), Some(0), "{}", stdout(&again));
        assert!(
            stderr(&again).contains(&format!(
                "has an open run of backup-customer-data v1.0: {id}"
            )),
            "{}{}",
            stdout(&again),
            stderr(&again)
        );
    }
}

/// A command the procedure does not mark safe to rehearse is shown and not
/// run in a drill: the operator records what they would have done.
#[test]
fn a_command_not_marked_safe_to_rehearse_is_not_run_in_a_drill() {
    let f = folder();
    let file = f.procs.join("backup-customer-data.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let unmarked = text.replace(
        "safe_to_rehearse = true  # read-only: a drill runs it too\n",
        "",
    );
    assert_ne!(unmarked, text);
    std::fs::write(&file, unmarked).unwrap();
    let script = "r\nI would run df -h / and check Use% is below 85%\n\n\n3f9c2a1b\ny\ne\nXFER-1\n\ny\n\n412\n";
    let out = f.run("backup-customer-data", true, script);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("drill: not run; you would have: I would run df"),
        "{text}"
    );
    assert!(!text.contains("exit code 0"), "{text}");
    let conn = rusqlite::Connection::open(&f.db).unwrap();
    let rehearsed: i64 = conn
        .query_row(
            "SELECT count(*) FROM events WHERE kind = 'command-rehearsed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rehearsed, 1);
    let ran: i64 = conn
        .query_row(
            "SELECT count(*) FROM events WHERE kind IN ('command-started', 'command-ran')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(ran, 0);
}

/// `status` flags an untrained operator's production run only when it
/// started in the window status states (the `--days` days before today, and
/// today): a generated log of four days of runs by operators who never
/// trained, looked at with windows of 30, 2 and 1 days. `training` still
/// lists every one.
#[test]
fn status_flags_untrained_runs_only_in_the_window_it_states() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.db");
    generate_log(&db, &["--runs", "6", "--days", "4"]);
    let procs = repo().join("procedures");
    let runs: Value = serde_json::from_slice(
        &runsheet_with(&db, &procs)
            .args(["--json", "runs"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let today = chrono::Utc::now().date_naive();
    let mut counts = Vec::new();
    for days in [30u64, 2, 1] {
        let since = today - chrono::Days::new(days);
        let mut expected: Vec<String> = runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["started_at"].as_str().unwrap()[..10] >= *since.to_string())
            .map(|r| {
                format!(
                    "{} ran v1.0 without training on it",
                    r["operator"].as_str().unwrap()
                )
            })
            .collect();
        expected.sort();
        expected.dedup();
        let out = runsheet_with(&db, &procs)
            .args(["--json", "status", "--days", &days.to_string()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let backup = v["procedures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == "backup-customer-data")
            .unwrap();
        let flagged: Vec<String> = backup["training"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect();
        assert_eq!(flagged, expected, "--days {days}");
        counts.push(flagged.len());
        let text = stdout(
            &runsheet_with(&db, &procs)
                .args(["status", "--days", &days.to_string()])
                .output()
                .unwrap(),
        );
        assert_eq!(
            text.contains(&format!(
                "Training (runs since {since}; see `runsheet training`)"
            )),
            !expected.is_empty(),
            "--days {days}: {text}"
        );
    }
    // 30 days hold every run (its three operators), 2 and 1 days fewer
    // (the generated runs end yesterday).
    assert_eq!(counts[0], 3, "{counts:?}");
    assert!(counts[1] < 3 && counts[2] <= counts[1], "{counts:?}");
    // `training` lists every untrained run, whatever status's window.
    let t: Value = serde_json::from_slice(
        &runsheet_with(&db, &procs)
            .args(["--json", "training", "backup-customer-data"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(
        t["procedures"][0]["untrained_runs"]
            .as_array()
            .unwrap()
            .len(),
        runs["runs"].as_array().unwrap().len()
    );
}
