//! The procedure commands through the real binary: lint, render, new, list,
//! schema, completions and man.

use crate::common::{repo, runsheet, stderr, stdout};

#[test]
fn the_shipped_library_lints_clean() {
    let dir = tempfile::tempdir().unwrap();
    let out = runsheet(&dir.path().join("db"))
        .args(["lint", "--strict"])
        .arg(repo().join("procedures"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(": 0 errors, 0 warnings"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_broken_file_gets_a_located_error_with_a_hint_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("procedures/backup-customer-data.toml"))
        .unwrap()
        .replacen("then = \"retry\"", "then = \"retyr\"", 1);
    let file = dir.path().join("broken.toml");
    std::fs::write(&file, &text).unwrap();
    let line = text.lines().position(|l| l.contains("retyr")).unwrap() + 1;
    let out = runsheet(&dir.path().join("db"))
        .arg("lint")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("broken.toml:{line}:")),
        "no file:line in {text}"
    );
    assert!(text.contains("did you mean `retry`"), "{text}");
    // --json gives the same as data.
    let out = runsheet(&dir.path().join("db"))
        .args(["--json", "lint"])
        .arg(&file)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(v.to_string().contains("retyr"), "{v}");
}

/// `lint ID` checks the procedure with that id (or file name) in the
/// procedures folder, as `run` and `render` find it; an unknown name is
/// refused with the ids there, a missing path as before.
#[test]
fn lint_takes_a_procedure_id_from_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let procs = dir.path().join("procs");
    std::fs::create_dir(&procs).unwrap();
    let text = std::fs::read_to_string(repo().join("procedures/backup-customer-data.toml"))
        .unwrap()
        .replacen("yes = \"copy-offsite\"", "yes = \"copy-ofsite\"", 1);
    std::fs::write(procs.join("nightly.toml"), &text).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("copy-ofsite"))
        .unwrap()
        + 1;
    let lint = |arg: &str| {
        crate::common::runsheet_with(&dir.path().join("db"), &procs)
            .args(["lint", arg])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    for arg in ["backup-customer-data", "nightly"] {
        let out = lint(arg);
        assert_eq!(out.status.code(), Some(1), "{arg}: {}", stderr(&out));
        assert!(
            stdout(&out).contains(&format!("nightly.toml:{line}:")),
            "{arg}: {}",
            stdout(&out)
        );
        assert!(stdout(&out).contains("checked 1 file"), "{}", stdout(&out));
    }
    let out = lint("backup-custmer-data");
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("backup-custmer-data: no such file or folder, and no procedure")
            && stderr(&out).contains("did you mean `backup-customer-data`?"),
        "{}",
        stderr(&out)
    );
    let out = lint("procs/missing.toml");
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("procs/missing.toml: no such file or folder"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("db").exists(), "lint wrote a log");
}

#[test]
fn running_a_procedure_with_lint_errors_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "id = \"x\"\n").unwrap();
    let db = dir.path().join("db.sqlite3");
    let out = runsheet(&db)
        .args(["run", "--plain"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("bad.toml:"), "{}", stderr(&out));
    assert!(
        !db.exists(),
        "no evidence log may be created for a refused run"
    );
}

#[test]
fn an_unknown_procedure_names_the_available_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = runsheet(&dir.path().join("db"))
        .args(["run", "--plain", "backup-custmer-data"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("backup-customer-data"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn render_shows_the_backup_escalation_path_in_mermaid() {
    let dir = tempfile::tempdir().unwrap();
    let out = runsheet(&dir.path().join("db"))
        .args(["render", "backup-customer-data", "--format", "mermaid"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("flowchart TD"), "{text}");
    assert!(text.contains("subgraph"), "{text}");
    assert!(text.contains("-. \"fail\" .->"), "{text}");
    assert!(text.contains("retry"), "{text}");
    for format in ["markdown", "html"] {
        let out = runsheet(&dir.path().join("db"))
            .args(["render", "backup-customer-data", "--format", format])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(stdout(&out).contains("Nightly backup of customer data"));
    }
}

#[test]
fn new_writes_a_starter_that_lints_clean_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let procs = dir.path().join("procs");
    let new = || {
        runsheet(&db)
            .args(["new", "vendor-review", "--out"])
            .arg(procs.join("vendor-review.toml"))
            .output()
            .unwrap()
    };
    let out = new();
    assert!(out.status.success(), "{}", stderr(&out));
    let file = procs.join("vendor-review.toml");
    assert!(file.exists());
    let lint = runsheet(&db).arg("lint").arg(&file).output().unwrap();
    assert!(lint.status.success(), "{}", stdout(&lint));
    let before = std::fs::read(&file).unwrap();
    let again = new();
    assert_eq!(again.status.code(), Some(5), "{}", stderr(&again));
    assert!(stderr(&again).contains("already exists"));
    assert_eq!(std::fs::read(&file).unwrap(), before);
    let bad = runsheet(&db).args(["new", "Bad Id"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(3), "{}", stderr(&bad));
}

#[test]
fn list_completions_man_and_schema_generate() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let list = runsheet(&db).args(["--json", "list"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
    assert!(v["procedures"].as_array().unwrap().len() >= 10);
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = runsheet(&db).args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        // The script asks the binary (COMPLETE=<shell> runsheet -- …).
        assert!(stdout(&out).contains("COMPLETE"), "{shell}");
        assert!(stdout(&out).contains("runsheet"), "{shell}");
    }
    let man = runsheet(&db).arg("man").output().unwrap();
    assert!(stdout(&man).starts_with(".ie") || stdout(&man).contains(".TH"));
    let schema = runsheet(&db).arg("schema").output().unwrap();
    let committed = std::fs::read_to_string(repo().join("docs/procedure.schema.json")).unwrap();
    assert_eq!(
        stdout(&schema),
        committed,
        "docs/procedure.schema.json is stale"
    );
}
