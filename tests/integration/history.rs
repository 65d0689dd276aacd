//! `runsheet history` and `runsheet diff` across three versions of a shipped
//! procedure (restore-test), each run from a temporary procedures folder in
//! plain mode: the versions with their run counts, approvals and reviews
//! (recorded with `runsheet approve` and `review`), what
//! changed between each pair, Markdown and HTML with hostile text escaped,
//! the errors, and that neither command changes a byte of the log.

use std::path::{Path, PathBuf};
use std::process::Output;

use chrono::Utc;
use serde_json::Value;

use crate::common::{SchemaValidator, plain_run, repo, runsheet_with, stderr, stdout};
use crate::sign_off::{ssh_key, whoami_user};

/// Pick the snapshot, then suspend: one run of the version in the folder.
const FIRST_STEP: &str = "\n3f9c2a1b\nq\ny\n";

/// `text` with `old` (which must be there) replaced by `new`.
fn edit(text: &str, old: &str, new: &str) -> String {
    assert!(text.contains(old), "{old:?} not in the procedure");
    text.replacen(old, new, 1)
}

/// Version 1.1 as shipped.
fn v1() -> String {
    std::fs::read_to_string(repo().join("procedures/restore-test.toml")).unwrap()
}

/// 1.2: a step's instructions changed, a step added.
fn v2() -> String {
    let t = edit(&v1(), "version = \"1.1\"", "version = \"1.2\"");
    let t = edit(
        &t,
        "and monthly ones must be restorable too.",
        "and monthly ones must be restorable too. Write the die rolls down.",
    );
    edit(
        &t,
        "[[steps]]\nid = \"destroy-scratch\"",
        "[[steps]]\nid = \"check-restore-log\"\ntitle = \"Read the restore job's log for warnings\"\nrole = \"it-admin\"\nnote = \"Warnings found, or none\"\n\n[[steps]]\nid = \"destroy-scratch\"",
    )
}

/// 1.3: a step removed (and the decision that led to it retargeted), two
/// steps swapped, a command changed.
fn v3() -> String {
    let t = edit(&v2(), "version = \"1.2\"", "version = \"1.3\"");
    let t = edit(&t, "run = \"df -h / /tmp\"", "run = \"df -h /srv/restore\"");
    let start = t.find("[[steps]]\nid = \"record-test-host\"").unwrap();
    let end = t.find("[[steps]]\nid = \"check-restore-log\"").unwrap();
    let t = format!("{}{}", &t[..start], &t[end..]);
    let t = edit(
        &t,
        "yes = \"record-test-host\"",
        "yes = \"check-restore-log\"",
    );
    let start = t.find("[[steps]]\nid = \"check-scratch-space\"").unwrap();
    let end = t.find("[[steps]]\nid = \"restore-to-scratch\"").unwrap();
    let moved = t[start..end].to_string();
    let t = format!("{}{}", &t[..start], &t[end..]);
    let at = t.find("[[steps]]\nid = \"pick-snapshot\"").unwrap();
    format!("{}{moved}{}", &t[..at], &t[at..])
}

/// A log with runs of the three versions (1, 2 and 1 of them), the folder
/// holding 1.3; returns (tempdir, log, folder).
fn three_versions() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.db");
    let procs = dir.path().join("procs");
    std::fs::create_dir(&procs).unwrap();
    let file = procs.join("restore-test.toml");
    for (text, runs) in [(v1(), 1), (v2(), 2), (v3(), 1)] {
        std::fs::write(&file, text).unwrap();
        let lint = runsheet_with(&db, &procs).arg("lint").output().unwrap();
        assert!(lint.status.success(), "{}", stdout(&lint));
        for _ in 0..runs {
            let out = plain_run(&db, &file, FIRST_STEP);
            assert_eq!(out.status.code(), Some(10), "{}", stdout(&out));
        }
    }
    (dir, db, procs)
}

fn run(db: &Path, procs: &Path, args: &[&str]) -> Output {
    runsheet_with(db, procs).args(args).output().unwrap()
}

fn ok(db: &Path, procs: &Path, args: &[&str]) -> String {
    let out = run(db, procs, args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

/// `--json` output of `args`, valid against its committed schema.
fn json(db: &Path, procs: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend(args);
    let v: Value = serde_json::from_str(&ok(db, procs, &all)).unwrap();
    if let Some(p) = SchemaValidator::new(args[0]).problems(&v) {
        panic!("{args:?} does not match its schema: {p}\n{v:#}");
    }
    v
}

/// Each changed step's id with what happened to it, and the summary.
fn changes(v: &Value) -> (Vec<String>, String) {
    let steps = v["changes"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            // An added or removed step's fields are all it has.
            let fields: Vec<&str> = s["fields"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|_| s["status"] == "kept")
                .map(|f| f["field"].as_str().unwrap())
                .collect();
            format!(
                "{} {}{} [{}]",
                s["id"].as_str().unwrap(),
                s["status"].as_str().unwrap(),
                if s["moved"] == true { " moved" } else { "" },
                fields.join(",")
            )
        })
        .collect();
    (steps, v["summary"].as_str().unwrap().to_string())
}

#[test]
fn diff_names_exactly_what_changed_between_each_pair_of_versions() {
    let (_dir, db, procs) = three_versions();
    let pair =
        |from: &str, to: &str| changes(&json(&db, &procs, &["diff", "restore-test", from, to]));

    assert_eq!(
        pair("1.1", "1.2"),
        (
            vec![
                "pick-snapshot kept [body]".to_string(),
                "check-restore-log added []".to_string(),
            ],
            "1 step changed, 1 added; header: version".to_string()
        )
    );
    assert_eq!(
        pair("1.2", "1.3"),
        (
            vec![
                "check-scratch-space kept [command.run]".to_string(),
                "pick-snapshot kept moved []".to_string(),
                "verify-sample kept [decision.yes]".to_string(),
                "record-test-host removed []".to_string(),
            ],
            "2 steps changed, 1 removed, 1 moved; header: version".to_string()
        )
    );
    assert_eq!(
        pair("1.1", "1.3"),
        (
            vec![
                "check-scratch-space kept [command.run]".to_string(),
                "pick-snapshot kept moved [body]".to_string(),
                "verify-sample kept [decision.yes]".to_string(),
                "check-restore-log added []".to_string(),
                "record-test-host removed []".to_string(),
            ],
            "3 steps changed, 1 added, 1 removed, 1 moved; header: version".to_string()
        )
    );

    // The defaults: the version before the file's, to the file.
    let default = json(&db, &procs, &["diff", "restore-test"]);
    assert_eq!(default["from"]["version"], "1.2");
    assert_eq!(default["to"]["version"], "1.3");
    assert!(
        default["to"]["origin"]
            .as_str()
            .unwrap()
            .starts_with("the file "),
        "{default:#}"
    );
    // FROM alone: to the file.
    assert_eq!(
        json(&db, &procs, &["diff", "restore-test", "1.1"])["to"]["version"],
        "1.3"
    );
    // `previous`: the version before TO.
    let previous = json(&db, &procs, &["diff", "restore-test", "previous", "1.2"]);
    assert_eq!(previous["from"]["version"], "1.1");
    let before = json(&db, &procs, &["diff", "restore-test", "1.1", "1.2"]);
    let by_hash = json(
        &db,
        &procs,
        &[
            "diff",
            "restore-test",
            &before["from"]["sha256"].as_str().unwrap()[..10],
            "1.2",
        ],
    );
    assert_eq!(by_hash["changes"], before["changes"]);
    // A run's version: the oldest run used 1.1.
    let runs = json(&db, &procs, &["runs"]);
    let oldest = runs["runs"].as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let since_run = json(
        &db,
        &procs,
        &["diff", "restore-test", &format!("run:{oldest}"), "current"],
    );
    assert_eq!(since_run["from"]["version"], "1.1");
    assert_eq!(
        changes(&since_run).1,
        "3 steps changed, 1 added, 1 removed, 1 moved; header: version"
    );

    // The text says the same, step by step.
    let text = ok(&db, &procs, &["diff", "restore-test", "1.2", "1.3"]);
    assert!(
        text.starts_with("restore-test: what changed from 1.2 to 1.3\n"),
        "{text}"
    );
    assert!(text.contains("Summary: 2 steps changed, 1 removed, 1 moved; header: version"));
    assert!(
        text.contains("command: df -h / /tmp → df -h /srv/restore"),
        "{text}"
    );
    assert!(
        text.contains("if yes: record-test-host → check-restore-log"),
        "{text}"
    );
    assert!(
        text.contains("removed  step 7 of the old version: Record where and when the test ran (record-test-host)"),
        "{text}"
    );
    // The same version twice: no changes.
    let same = json(&db, &procs, &["diff", "restore-test", "1.3", "current"]);
    assert_eq!(same["summary"], "no changes");
}

/// The folder's allowed-signers file makes the tests' OS user an approver:
/// that user's name.
fn allow_me(db: &Path, procs: &Path) -> String {
    let me = whoami_user();
    let (_, key) = ssh_key(db.parent().unwrap(), "me");
    std::fs::write(
        procs.join("allowed_signers"),
        format!("{me} namespaces=\"runsheet-signoff@approver\" {key}\n"),
    )
    .unwrap();
    me
}

/// `source` written to a file of its own, outside the procedures folder
/// (a version the folder does not hold): its path.
fn version_file(db: &Path, name: &str, source: &str) -> PathBuf {
    let dir = db.parent().unwrap().join(name);
    std::fs::create_dir(&dir).unwrap();
    let file = dir.join("restore-test.toml");
    std::fs::write(&file, source).unwrap();
    file
}

/// `runsheet approve FILE` of `source` from the approver's login; its SHA-256.
fn approve(db: &Path, procs: &Path, name: &str, source: &str) -> String {
    let file = version_file(db, name, source);
    ok(db, procs, &["approve", file.to_str().unwrap()]);
    runsheet::store::sha256_hex(source.as_bytes())
}

/// Today's date as approve and review record it (UTC).
fn today() -> String {
    Utc::now().date_naive().to_string()
}

#[test]
fn a_version_approved_and_never_run_is_in_the_history_and_can_be_compared() {
    let (_dir, db, procs) = three_versions();
    let draft = edit(&v3(), "version = \"1.3\"", "version = \"1.4\"");
    let draft = edit(
        &draft,
        "title = \"Record how long the restore took\"",
        "title = \"Record the restore's duration\"",
    );
    let me = allow_me(&db, &procs);
    let sha = approve(&db, &procs, "draft", &draft);
    // The file is still 1.3; the folder need not hold 1.4 at all.
    let h = json(&db, &procs, &["history", "restore-test"]);
    let newest = &h["versions"][0];
    assert_eq!(newest["version"], "1.4");
    assert_eq!(newest["sha256"], sha.as_str());
    assert_eq!(newest["runs"], 0);
    assert_eq!(newest["current"], false);
    assert_eq!(newest["approvals"][0]["signer"]["user"], me.as_str());
    assert_eq!(h["versions"][1]["current"], true);
    let text = ok(&db, &procs, &["history", "restore-test"]);
    assert!(text.contains("  runs        none\n"), "{text}");
    let d = json(&db, &procs, &["diff", "restore-test", "current", "1.4"]);
    assert_eq!(changes(&d).0, ["record-restore-duration kept [title]"]);
    assert!(
        d["to"]["origin"].as_str().unwrap().contains("1 approval"),
        "{d:#}"
    );
}

#[test]
fn history_lists_every_version_with_its_runs_approvals_and_reviews() {
    let (_dir, db, procs) = three_versions();
    // 1.2 approved and reviewed with `runsheet approve` and `review`.
    let me = allow_me(&db, &procs);
    let sha = approve(&db, &procs, "v1.2", &v2());
    let file = db.parent().unwrap().join("v1.2/restore-test.toml");
    ok(
        &db,
        &procs,
        &[
            "review",
            file.to_str().unwrap(),
            "--outcome",
            "changed",
            "--note",
            "new log check",
            "--next",
            "2099-12-02",
        ],
    );

    let h = json(&db, &procs, &["history", "restore-test"]);
    let versions = h["versions"].as_array().unwrap();
    let listed: Vec<(&str, u64, bool)> = versions
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap(),
                v["runs"].as_u64().unwrap(),
                v["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [("1.3", 1, true), ("1.2", 2, false), ("1.1", 1, false)]
    );
    assert_eq!(h["current"]["in_log"], true);
    assert_eq!(h["current"]["version"], "1.3");
    let v12 = &versions[1];
    assert_eq!(v12["sha256"], sha.as_str());
    assert_eq!(v12["approvals"][0]["approved_on"], today().as_str());
    assert_eq!(v12["approvals"][0]["signer"]["user"], me.as_str());
    assert_eq!(v12["reviews"][0]["outcome"], "changed");
    assert_eq!(v12["reviews"][0]["next_review"], "2099-12-02");
    assert!(v12["first_run"].as_str().unwrap() <= v12["last_run"].as_str().unwrap());
    assert!(versions[2]["approvals"].as_array().unwrap().is_empty());

    let text = ok(&db, &procs, &["history", "restore-test"]);
    assert!(
        text.contains("3 versions in the evidence log; the file "),
        "{text}"
    );
    assert!(text.contains("is version 1.3 (in the log)."), "{text}");
    assert!(text.contains("← current file"), "{text}");
    let today = today();
    assert!(
        text.contains(&format!("  approved    {today} by {me}, login as approver")),
        "{text}"
    );
    assert!(
        text.contains(&format!("  reviewed    {today} by {me}, login as approver: changed, next review 2099-12-02 — new log check")),
        "{text}"
    );
    assert!(text.contains("  runs        2: first "), "{text}");

    // The approval's source is what diff compares with when named by hash.
    let d = json(&db, &procs, &["diff", "restore-test", &sha[..8], "1.3"]);
    assert_eq!(d["from"]["version"], "1.2");
}

#[test]
fn a_file_not_in_the_log_yet_is_listed_and_is_the_default_to() {
    let (_dir, db, procs) = three_versions();
    let file = procs.join("restore-test.toml");
    std::fs::write(&file, edit(&v3(), "version = \"1.3\"", "version = \"1.4\"")).unwrap();
    let h = json(&db, &procs, &["history", "restore-test"]);
    assert_eq!(h["current"]["in_log"], false);
    assert_eq!(h["versions"][0]["version"], "1.4");
    assert_eq!(h["versions"][0]["in_log"], false);
    assert_eq!(h["versions"].as_array().unwrap().len(), 4);
    let text = ok(&db, &procs, &["history", "restore-test"]);
    assert!(
        text.contains("not in the log yet: never run or approved"),
        "{text}"
    );
    let d = json(&db, &procs, &["diff", "restore-test"]);
    assert_eq!(
        (d["from"]["version"].as_str(), d["to"]["version"].as_str()),
        (Some("1.3"), Some("1.4"))
    );
    assert_eq!(d["summary"], "header: version");

    // With the file gone, the log alone: history still lists the three.
    std::fs::remove_file(&file).unwrap();
    let h = json(&db, &procs, &["history", "restore-test"]);
    assert!(h["current"].is_null());
    assert_eq!(h["versions"].as_array().unwrap().len(), 3);
    let d = json(&db, &procs, &["diff", "restore-test"]);
    assert_eq!(
        (d["from"]["version"].as_str(), d["to"]["version"].as_str()),
        (Some("1.2"), Some("1.3"))
    );
    let out = run(&db, &procs, &["diff", "restore-test", "1.1", "current"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has no file of `restore-test`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn markdown_and_html_are_change_records_with_hostile_text_escaped() {
    let (_dir, db, procs) = three_versions();
    let evil = "<script>alert(1)</script> | [x](javascript:alert(1)) \u{1b}]0;owned\u{7}";
    let hostile = edit(
        &v3(),
        "title = \"Read the restore job's log for warnings\"",
        &format!(
            "title = \"{}\"",
            evil.replace('\u{1b}', "\\u001b")
                .replace('\u{7}', "\\u0007")
        ),
    );
    std::fs::write(procs.join("restore-test.toml"), hostile).unwrap();

    let md = ok(
        &db,
        &procs,
        &[
            "diff",
            "restore-test",
            "1.1",
            "current",
            "--format",
            "markdown",
        ],
    );
    assert!(
        md.starts_with("# Changes to Monthly restore test of customer data backups: 1.1 → 1.3\n"),
        "{md}"
    );
    assert!(
        md.contains("| command | df -h / /tmp | df -h /srv/restore |"),
        "{md}"
    );
    assert!(
        md.contains("### Removed step 7 of the old version: Record where and when the test ran"),
        "{md}"
    );
    assert!(
        md.contains("| required note | Warnings found, or none |"),
        "{md}"
    );
    assert!(!md.contains("<script>"), "{md}");
    assert!(md.contains("\\<script\\>"), "{md}");
    assert!(!md.contains('\u{1b}') && !md.contains('\u{7}'));

    let html = ok(
        &db,
        &procs,
        &["diff", "restore-test", "1.1", "current", "-f", "html"],
    );
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(
        html.contains("<td class=\"text\"><del>df -h / /tmp</del></td><td class=\"text\"><ins>df -h /srv/restore</ins></td>"),
        "{html}"
    );
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains('\u{1b}') && !html.contains('\u{7}'));

    // Two sources under one version string (the file was edited without a
    // new version): named by hash instead.
    let out = run(&db, &procs, &["diff", "restore-test", "1.2", "1.3"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("`1.3` names 2 versions of `restore-test`: 1.3 ("),
        "{}",
        stderr(&out)
    );

    // --out writes the record, and never over an existing file.
    let record = procs.parent().unwrap().join("change.html");
    let args = [
        "diff",
        "restore-test",
        "1.2",
        "current",
        "-f",
        "html",
        "--out",
        record.to_str().unwrap(),
    ];
    ok(&db, &procs, &args);
    assert!(
        std::fs::read_to_string(&record)
            .unwrap()
            .contains("<h1>Changes to")
    );
    let again = run(&db, &procs, &args);
    assert_ne!(again.status.code(), Some(0));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn unknown_procedures_and_versions_are_refused_clearly() {
    let (_dir, db, procs) = three_versions();
    let out = run(&db, &procs, &["history", "no-such-procedure"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no procedure `no-such-procedure`"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("the evidence log holds no run or approval of `no-such-procedure`")
    );
    let out = run(&db, &procs, &["diff", "restore-tst"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("did you mean `restore-test`?"),
        "{}",
        stderr(&out)
    );

    let out = run(&db, &procs, &["diff", "restore-test", "9.9"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("no version `9.9` of `restore-test`"), "{err}");
    assert!(err.contains("The versions: 1.1 ("), "{err}");
    let out = run(
        &db,
        &procs,
        &["diff", "restore-test", "1.1", "run:ffffffff"],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("ffffffff"), "{}", stderr(&out));
    // The first version has none before it.
    let out = run(&db, &procs, &["diff", "restore-test", "previous", "1.1"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("is the first version of `restore-test` the log knows"),
        "{}",
        stderr(&out)
    );
    // --json with a document format is a usage error.
    let out = run(
        &db,
        &procs,
        &["--json", "diff", "restore-test", "-f", "html"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn history_and_diff_change_no_byte_of_the_log() {
    let (dir, db, procs) = three_versions();
    let snapshot = |dir: &Path| {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let before = snapshot(dir.path());
    ok(&db, &procs, &["history", "restore-test"]);
    ok(&db, &procs, &["--json", "history", "restore-test"]);
    ok(&db, &procs, &["diff", "restore-test"]);
    ok(
        &db,
        &procs,
        &["diff", "restore-test", "1.1", "1.2", "-f", "markdown"],
    );
    ok(&db, &procs, &["--json", "diff", "restore-test", "1.1"]);
    assert!(before.iter().any(|(n, _)| n == "log.db"));
    assert!(
        before == snapshot(dir.path()),
        "a read command changed the log's files"
    );
}

/// `render --diff FROM` is the change record from FROM to the file, in
/// render's Markdown or HTML: the same document as `diff … --format`.
#[test]
fn render_diff_is_the_change_record_of_the_file() {
    let (_dir, db, procs) = three_versions();
    for format in ["markdown", "html"] {
        let rendered = ok(
            &db,
            &procs,
            &["render", "restore-test", "--diff", "1.1", "-f", format],
        );
        let diffed = ok(
            &db,
            &procs,
            &["diff", "restore-test", "1.1", "current", "--format", format],
        );
        assert_eq!(rendered, diffed, "{format}");
        assert!(rendered.contains("1.1 → 1.3"), "{rendered}");
    }
    let mermaid = run(
        &db,
        &procs,
        &["render", "restore-test", "--diff", "1.1", "-f", "mermaid"],
    );
    assert_eq!(mermaid.status.code(), Some(2), "{}", stderr(&mermaid));
    assert!(stderr(&mermaid).contains("not as a Mermaid chart"));
    let unknown = run(&db, &procs, &["render", "restore-test", "--diff", "9.9"]);
    assert_ne!(unknown.status.code(), Some(0));
    assert!(
        stderr(&unknown).contains("no version `9.9`"),
        "{}",
        stderr(&unknown)
    );
}
