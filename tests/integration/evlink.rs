//! evidence.json's `links` through the binary: on a generated log with an
//! earlier export, an unfiltered export and filtered ones (`--since`, and
//! `--status` so left-out runs' events are links) walk from the first
//! exported event to the checkpoint head, both by `verify-bundle` and by the
//! Python (standard library) walk of docs/audit-bundle.md, taken from the
//! page itself. Copies with one byte of a link's payload changed, a link
//! dropped, or two links swapped — each resealed as a forger would — fail
//! both, naming the seq.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::{bin, export_bundle, generate_log, repo, stderr, stdout};
use crate::forge::{copy_dir, reseal_bundle};

/// The ```python block under docs/audit-bundle.md's "Linking the events to the checkpoint".
fn walk_script(dir: &Path) -> PathBuf {
    let page = std::fs::read_to_string(repo().join("docs/audit-bundle.md")).unwrap();
    let at = page
        .find("### Linking the events to the checkpoint")
        .expect("the walk's heading");
    let rest = &page[at..];
    let start = rest.find("```python\n").expect("a python block") + "```python\n".len();
    let end = rest[start..].find("\n```").expect("its end");
    let path = dir.join("walk.py");
    std::fs::write(&path, &rest[start..start + end + 1]).unwrap();
    path
}

fn python(script: &Path, bundle: &Path) -> Output {
    Command::new("python3")
        .arg(script)
        .arg(bundle)
        .output()
        .expect("python3 runs")
}

fn verify_bundle(bundle: &Path) -> Output {
    Command::new(bin())
        .env_remove("RUNSHEET_DB")
        .arg("verify-bundle")
        .arg(bundle)
        .output()
        .unwrap()
}

fn export(db: &Path, out: &Path, args: &[&str]) {
    export_bundle(db, out, args);
}

fn evidence(bundle: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(bundle.join("evidence.json")).unwrap()).unwrap()
}

fn both(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// evidence.json's lines, and the index range of the `links` items among them.
fn link_lines(bundle: &Path) -> (Vec<String>, std::ops::Range<usize>) {
    let text = std::fs::read_to_string(bundle.join("evidence.json")).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let open = lines.iter().position(|l| l == "\"links\": [").unwrap();
    let close = (open..lines.len())
        .find(|&i| lines[i].starts_with("],"))
        .unwrap();
    (lines, open + 1..close)
}

fn write_lines(bundle: &Path, lines: &[String]) {
    std::fs::write(bundle.join("evidence.json"), lines.join("\n") + "\n").unwrap();
    reseal_bundle(bundle, None);
}

fn seq_of(line: &str) -> i64 {
    let v: Value = serde_json::from_str(line.trim_end_matches(',')).unwrap();
    v["seq"].as_i64().unwrap()
}

fn assert_walks(script: &Path, bundle: &Path) {
    let py = python(script, bundle);
    assert!(py.status.success(), "python: {}", both(&py));
    assert!(stdout(&py).starts_with("ok: "), "{}", both(&py));
    let v = verify_bundle(bundle);
    assert!(v.status.success(), "verify-bundle: {}", both(&v));
    assert!(
        stdout(&v).contains("the chain walks unbroken from the first exported event"),
        "{}",
        both(&v)
    );
}

/// Both verifiers fail, and each names `seq` (as `seq N`).
fn assert_both_fail(script: &Path, bundle: &Path, seq: i64, rust_says: &str) {
    let py = python(script, bundle);
    assert!(!py.status.success(), "python accepted it: {}", both(&py));
    assert!(
        stderr(&py).contains(&format!("seq {seq}")),
        "python does not name seq {seq}: {}",
        both(&py)
    );
    let v = verify_bundle(bundle);
    assert_eq!(v.status.code(), Some(1), "{}", both(&v));
    let out = both(&v);
    assert!(
        out.lines()
            .any(|l| l.contains("evidence.json") && l.contains(rust_says)),
        "verify-bundle does not say {rust_says:?}: {out}"
    );
}

#[test]
fn links_walk_unfiltered_and_filtered_exports_to_the_checkpoint_and_breaks_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    generate_log(&db, &[]);
    let script = walk_script(dir.path());
    // An earlier export: a log event every later walk crosses.
    export(&db, &dir.path().join("earlier"), &["--format", "csv"]);

    let full = dir.path().join("full");
    export(&db, &full, &[]);
    let since = dir.path().join("since");
    export(&db, &since, &["--since", "2026-11-15"]);
    let failed = dir.path().join("failed");
    export(
        &db,
        &failed,
        &["--status", "failed", "--since", "2026-11-10"],
    );
    for b in [&full, &since, &failed] {
        assert_walks(&script, b);
    }

    // What the links hold: the earlier export in full; with --status, the
    // left-out runs' events without payload, and no exported run's event.
    let ev = evidence(&failed);
    let runs: Vec<&str> = ev["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let links = ev["links"].as_array().unwrap();
    let earlier = links
        .iter()
        .find(|l| l["kind"] == "export")
        .expect("the earlier export is a link");
    assert!(earlier["run_id"].is_null() && earlier["payload"].is_object());
    let withheld: Vec<&Value> = links.iter().filter(|l| !l["run_id"].is_null()).collect();
    assert!(withheld.len() > 100, "{} left-out events", withheld.len());
    for l in &withheld {
        assert!(l.get("payload").is_none() && l.get("content").is_none());
        assert!(!runs.contains(&l["run_id"].as_str().unwrap()));
    }
    let full_ev = evidence(&full);
    assert!(
        full_ev["links"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["run_id"].is_null()),
        "an unfiltered export links only log events"
    );
    // The data head is the last link (the earlier export, or later log events).
    let head = ev["checkpoint"]["head_seq"].as_i64().unwrap();
    assert_eq!(links.last().unwrap()["seq"], head);

    // One byte of a linking record's payload: the earlier export's.
    let t = dir.path().join("t-byte");
    copy_dir(&failed, &t);
    let (mut lines, range) = link_lines(&t);
    let i = range
        .clone()
        .find(|&i| lines[i].contains("\"kind\":\"export\""))
        .unwrap();
    let seq = seq_of(&lines[i]);
    lines[i] = lines[i].replacen("\"runs\":", "\"runs\":1", 1);
    assert!(lines[i].contains("\"runs\":1"));
    write_lines(&t, &lines);
    assert_both_fail(
        &script,
        &t,
        seq,
        &format!("link seq {seq}'s payload no longer matches"),
    );

    // A log event's payload withheld, as a left-out run's event's is.
    let t = dir.path().join("t-withheld");
    copy_dir(&failed, &t);
    let (mut lines, range) = link_lines(&t);
    let i = range
        .clone()
        .find(|&i| lines[i].contains("\"kind\":\"export\""))
        .unwrap();
    let seq = seq_of(&lines[i]);
    let mut v: Value = serde_json::from_str(lines[i].trim_end_matches(',')).unwrap();
    v.as_object_mut().unwrap().remove("payload");
    let comma = if lines[i].ends_with(',') { "," } else { "" };
    lines[i] = format!("{v}{comma}");
    write_lines(&t, &lines);
    assert_both_fail(
        &script,
        &t,
        seq,
        &format!("link seq {seq} is a log event without its payload"),
    );

    // One linking record dropped (a left-out run's event in the middle).
    let t = dir.path().join("t-drop");
    copy_dir(&failed, &t);
    let (mut lines, range) = link_lines(&t);
    let i = range.start + range.len() / 2;
    let seq = seq_of(&lines[i]);
    lines.remove(i);
    write_lines(&t, &lines);
    assert_both_fail(&script, &t, seq, &format!("breaks at seq {seq}:"));

    // Two linking records swapped.
    let t = dir.path().join("t-swap");
    copy_dir(&failed, &t);
    let (mut lines, range) = link_lines(&t);
    let i = range.start + range.len() / 3;
    let (a, b) = (seq_of(&lines[i]), seq_of(&lines[i + 1]));
    assert!(a < b);
    lines.swap(i, i + 1);
    write_lines(&t, &lines);
    assert_both_fail(
        &script,
        &t,
        a,
        &format!("links are not in seq order: seq {a} comes after seq {b}"),
    );

    // With the log: every link is compared with the log's record at its seq.
    let with_log = |b: &Path| {
        Command::new(bin())
            .env_remove("RUNSHEET_DB")
            .arg("verify-bundle")
            .arg(b)
            .arg("--db")
            .arg(&db)
            .output()
            .unwrap()
    };
    let o = with_log(&failed);
    assert!(o.status.success(), "{}", both(&o));
    let left_out = withheld[withheld.len() / 2]["seq"].as_i64().unwrap();
    {
        let conn = crate::tamper::attacker(&db);
        conn.execute(
            "UPDATE events SET run_seq = run_seq + 1000 WHERE seq = ?1",
            [left_out],
        )
        .unwrap();
    }
    let o = with_log(&failed);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(
        both(&o).contains(&format!("event seq {left_out} differs from the log")),
        "{}",
        both(&o)
    );

    // An unfiltered bundle's only links dropped: the walk to the data head breaks.
    let t = dir.path().join("t-full-drop");
    copy_dir(&full, &t);
    let (mut lines, range) = link_lines(&t);
    let seq = seq_of(&lines[range.start]);
    lines.remove(range.start); // if it was the only one: `"links": [` then `],`
    write_lines(&t, &lines);
    assert_both_fail(&script, &t, seq, &format!("breaks at seq {seq}:"));
}

/// A bundle exported before evidence.json carried `links` (version 2, by the
/// runsheet of the commit before them; tests/fixtures/bundles/evidence-v2)
/// still verifies, saying the walk is not in it to check — and a changed
/// byte in it still fails.
#[test]
fn a_version_2_bundle_still_verifies_and_says_the_walk_is_not_in_it() {
    let fixture = repo().join("tests/fixtures/bundles/evidence-v2");
    let key = repo().join("tests/fixtures/bundles/evidence-v2.pub");
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    copy_dir(&fixture, &bundle);
    let ok = Command::new(bin())
        .arg("verify-bundle")
        .arg(&bundle)
        .arg("--key")
        .arg(&key)
        .env_remove("RUNSHEET_DB")
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}{}", stdout(&ok), stderr(&ok));
    assert!(
        stdout(&ok).contains("evidence.json is version 2"),
        "{}",
        stdout(&ok)
    );
    assert!(
        !stdout(&ok).contains("the chain walks unbroken"),
        "{}",
        stdout(&ok)
    );
    let path = bundle.join("evidence.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = text.replacen("\"actor\":\"root\"", "\"actor\":\"rooT\"", 1);
    assert_ne!(changed, text, "the fixture names its actor");
    std::fs::write(&path, changed).unwrap();
    let bad = Command::new(bin())
        .arg("verify-bundle")
        .arg(&bundle)
        .arg("--key")
        .arg(&key)
        .env_remove("RUNSHEET_DB")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1), "{}", stdout(&bad));
    assert!(stdout(&bad).contains("evidence.json"), "{}", stdout(&bad));
}
