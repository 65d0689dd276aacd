//! "Evidence you can trust", through the real binary: each way a forged or
//! damaged log or bundle used to pass now fails, naming what is wrong.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rusqlite::Connection;
use serde_json::{Value, json};

use crate::common::{
    DRILL_SCRIPT, LIVE_TIMEOUT, Live, drill, drill_run, generate_log, plain_run, repo, runsheet,
    stderr, stdout,
};
use crate::forge::{append_log_event, rechain_from, rehash_one, reseal_bundle};
use crate::tamper::attacker;

fn run_ids(db: &Path) -> Vec<String> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT id FROM runs ORDER BY started_at, id")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn seq_of(conn: &Connection, run: &str, kind: &str) -> i64 {
    conn.query_row(
        "SELECT seq FROM events WHERE run_id = ?1 AND kind = ?2 ORDER BY seq LIMIT 1",
        [run, kind],
        |r| r.get(0),
    )
    .unwrap()
}

/// `runsheet --json verify [--checkpoint cp]`: exit code and the finding.
fn verify_json(db: &Path, checkpoint: Option<&Path>) -> (Option<i32>, Value) {
    let mut cmd = runsheet(db);
    cmd.args(["--json", "verify"]);
    if let Some(cp) = checkpoint {
        cmd.arg("--checkpoint").arg(cp);
    }
    let out = cmd.output().unwrap();
    let v: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    (out.status.code(), v)
}

fn checkpoint(db: &Path, file: &Path) {
    let out = runsheet(db)
        .arg("checkpoint")
        .arg("--out")
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    db: PathBuf,
    cp: PathBuf,
    runs: Vec<String>,
}

/// Two completed drill runs and a checkpoint after them.
fn two_runs() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let db = dir.join("log.sqlite3");
    drill_run(&db);
    drill_run(&db);
    let cp = dir.join("cp.json");
    checkpoint(&db, &cp);
    let runs = run_ids(&db);
    Fixture {
        _dir: tmp,
        dir,
        db,
        cp,
        runs,
    }
}

#[test]
fn a_forged_redaction_hides_no_change_of_outcome_operator_or_source() {
    // The hole: NULL a payload, append a "redaction" listing it, change the
    // row, and verify used to pass (with a checkpoint too).
    let cases: [(&str, &str, &str); 3] = [
        (
            "outcome",
            "run-ended",
            "UPDATE runs SET outcome = 'failed' WHERE id = ?1",
        ),
        (
            "operator",
            "run-started",
            "UPDATE runs SET operator = 'mallory' WHERE id = ?1",
        ),
        (
            "procedure source",
            "run-started",
            "UPDATE runs SET procedure_version = '9.9' WHERE id = ?1",
        ),
    ];
    for (what, kind, row_sql) in cases {
        let f = two_runs();
        let run = &f.runs[0];
        let seq = {
            let conn = attacker(&f.db);
            let seq = seq_of(&conn, run, kind);
            conn.execute("UPDATE events SET payload = NULL WHERE seq = ?1", [seq])
                .unwrap();
            conn.execute(row_sql, [run]).unwrap();
            append_log_event(
                &conn,
                &json!({"kind": "redaction", "seqs": [seq], "by": "mallory", "reason": "personal data"}),
            );
            seq
        };
        for cp in [None, Some(f.cp.as_path())] {
            let (code, v) = verify_json(&f.db, cp);
            assert_eq!(code, Some(1), "{what}: {v:#}");
            assert_eq!(v["finding"]["problem"], "payload-mismatch", "{what}: {v:#}");
            assert_eq!(v["finding"]["seq"], seq, "{what}: {v:#}");
            assert!(
                v["finding"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("removed"),
                "{v:#}"
            );
        }
        // show and export do not read the event without its payload.
        let out = runsheet(&f.db).args(["show", run]).output().unwrap();
        assert_eq!(out.status.code(), Some(4), "{what}: {}", stdout(&out));
        assert!(stderr(&out).contains("no payload"), "{}", stderr(&out));
    }

    // A redaction event alone, with correct hashes, is named as inserted.
    let f = two_runs();
    let seq = append_log_event(
        &attacker(&f.db),
        &json!({"kind": "redaction", "seqs": [], "by": "mallory"}),
    );
    let (code, v) = verify_json(&f.db, None);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(
        (
            v["finding"]["problem"].as_str(),
            v["finding"]["seq"].as_i64()
        ),
        (Some("inserted"), Some(seq)),
        "{v:#}"
    );
}

#[test]
fn export_of_a_log_that_fails_verify_writes_nothing_unless_allowed_and_then_says_so_everywhere() {
    let f = two_runs();
    {
        let conn = attacker(&f.db);
        let seq = seq_of(&conn, &f.runs[1], "value-recorded");
        crate::forge::rewrite_content(&conn, seq, "\"12\"", "\"120\"");
    }
    let out_dir = f.dir.join("bundle");
    let out = runsheet(&f.db)
        .arg("export")
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("failed verification") && err.contains("payload-mismatch"),
        "{err}"
    );
    assert!(!out_dir.exists(), "nothing was written");
    assert_eq!(
        std::fs::read_dir(&f.dir)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("runsheet-tmp"))
            .count(),
        0
    );

    let out = runsheet(&f.db)
        .arg("export")
        .arg("--allow-unverified")
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("FAILED VERIFICATION"),
        "{}",
        stderr(&out)
    );
    let read = |name: &str| std::fs::read_to_string(out_dir.join(name)).unwrap();
    assert!(read("UNVERIFIED.txt").contains("NOT VERIFIED EVIDENCE"));
    let html = read("report.html");
    assert!(
        html.contains("NOT VERIFIED") && html.contains("payload-mismatch"),
        "the report cover says so"
    );
    assert!(read("report.md").contains("**NOT VERIFIED.**"));
    // The OSCAL file says so too: its props, every finding, and UNVERIFIED.txt's hash.
    let oscal: serde_json::Value =
        serde_json::from_str(&read("oscal/assessment-results.json")).unwrap();
    assert!(oscal.to_string().contains("FAILED: payload-mismatch"));
    let findings = oscal["assessment-results"]["results"][0]["findings"]
        .as_array()
        .unwrap();
    assert!(!findings.is_empty());
    for f in findings {
        assert_eq!(f["target"]["status"]["state"], "not-satisfied", "{f}");
        assert!(f.to_string().contains("failed verification"), "{f}");
    }
    assert!(
        oscal["assessment-results"]["back-matter"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rlinks"][0]["href"] == "../UNVERIFIED.txt")
    );
    for csv in ["runs.csv", "events.csv"] {
        let text = read(csv);
        // Records, not lines: a quoted field may hold a line break (RFC 4180).
        let mut records = Vec::new();
        let mut current = String::new();
        for line in text.lines() {
            if !current.is_empty() {
                current.push('\n');
            }
            current.push_str(line);
            if current.matches('"').count().is_multiple_of(2) {
                records.push(std::mem::take(&mut current));
            }
        }
        let mut records = records.into_iter();
        assert!(
            records.next().unwrap().ends_with(",\"log_verification\""),
            "{csv}"
        );
        assert!(
            records.all(|l| l.contains("FAILED: payload-mismatch")),
            "{csv}: every row says so"
        );
    }
    let evidence: Value = serde_json::from_str(&read("evidence.json")).unwrap();
    assert_eq!(evidence["verification"]["verified"], false);
    let manifest: Value = serde_json::from_str(&read("manifest.json")).unwrap();
    assert_eq!(manifest["verification"]["problem"], "payload-mismatch");
    let vb = runsheet(&f.db)
        .arg("verify-bundle")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_eq!(vb.status.code(), Some(1), "{}", stdout(&vb));
    assert!(
        stdout(&vb).contains("FAILED verification"),
        "{}",
        stdout(&vb)
    );
}

/// Export the log of `f` into `name`; returns the bundle's path.
fn export(f: &Fixture, name: &str) -> PathBuf {
    let out_dir = f.dir.join(name);
    let out = runsheet(&f.db)
        .arg("export")
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    out_dir
}

fn verify_bundle(bundle: &Path, db: Option<&Path>) -> (Option<i32>, String) {
    let mut cmd = Command::new(crate::common::bin());
    cmd.env_remove("RUNSHEET_DB").env("NO_COLOR", "1");
    if let Some(db) = db {
        cmd.arg("--db").arg(db);
    }
    let out = cmd.arg("verify-bundle").arg(bundle).output().unwrap();
    (out.status.code(), stdout(&out))
}

#[test]
fn every_file_of_a_bundle_is_bound_by_its_checkpoint_and_a_rewrite_after_the_export_is_caught() {
    let f = two_runs();
    let bundle = export(&f, "bundle");
    assert_eq!(verify_bundle(&bundle, Some(&f.db)).0, Some(0));
    let kept = f.dir.join("kept-checkpoint.json");
    std::fs::copy(bundle.join("checkpoint.json"), &kept).unwrap();

    // The old attack: change the report, reseal the manifest and the export
    // record, re-chain the log from there — but checkpoint.json is the
    // head at the original record, so the log no longer reaches it.
    let report = bundle.join("report.html");
    let html = std::fs::read_to_string(&report).unwrap();
    std::fs::write(
        &report,
        html.replace("ESCALATED", "COMPLETED").replace("Bob", "Eve"),
    )
    .unwrap();
    let cp_before = std::fs::read(bundle.join("checkpoint.json")).unwrap();
    reseal_bundle(&bundle, Some(&f.db));
    // The forger rewrote checkpoint.json too; put the real one back to see
    // what the bundle's own checkpoint proves.
    let partial = f.dir.join("partial");
    crate::forge::copy_dir(&bundle, &partial);
    std::fs::write(partial.join("checkpoint.json"), &cp_before).unwrap();
    let (code, text) = verify_bundle(&partial, Some(&f.db));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("FAILED"), "{text}");

    // Resealed without the log's key, the bundle's signed part no longer
    // matches, even with no log at hand...
    let (code, text) = verify_bundle(&bundle, None);
    assert_eq!(code, Some(1), "the signed part: {text}");
    assert!(
        text.contains("FAILED: manifest.sig") && text.contains("FAILED: export.tlog-proof"),
        "{text}"
    );
    // ...and the rewritten log no longer gives the roots its own signed
    // checkpoints hold.
    let (code, text) = verify_bundle(&bundle, Some(&f.db));
    assert_eq!(code, Some(1), "the log's checkpoints: {text}");
    assert!(text.contains("signed checkpoint"), "{text}");
    // The key holder re-signs the rewritten log (tree rebuilt, checkpoints
    // re-signed) and exports it again: a consistent forgery...
    crate::forge::resign(&attacker(&f.db), &f.dir.join("log.sqlite3.key"));
    let forged = export(&f, "forged");
    let (code, text) = verify_bundle(&forged, Some(&f.db));
    assert_eq!(code, Some(0), "the consistent rewrite: {text}");
    // ...and a checkpoint kept out of the forger's reach catches it.
    let (code, v) = verify_json(&f.db, Some(&kept));
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["finding"]["problem"], "edited", "{v:#}");
}

#[test]
fn verify_bundle_without_the_log_checks_every_event_the_chain_and_the_counts() {
    let f = two_runs();
    let bundle = export(&f, "bundle");
    assert_eq!(verify_bundle(&bundle, None).0, Some(0));

    // A payload changed in evidence.json, the whole bundle resealed.
    let b1 = f.dir.join("b1");
    crate::forge::copy_dir(&bundle, &b1);
    let ev = b1.join("evidence.json");
    let text = std::fs::read_to_string(&ev).unwrap();
    // The value is content: evidence.json carries its exact text and salt.
    let value = r#"{\"value\":\"12\"}"#;
    assert!(text.contains(value), "{text}");
    std::fs::write(&ev, text.replacen(value, r#"{\"value\":\"120\"}"#, 1)).unwrap();
    reseal_bundle(&b1, None);
    let (code, text) = verify_bundle(&b1, None);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("content does not match its payload's commitment"),
        "{text}"
    );
    // A payload changed (its commitment), the whole bundle resealed.
    let b5 = f.dir.join("b5");
    crate::forge::copy_dir(&bundle, &b5);
    let ev = b5.join("evidence.json");
    let text = std::fs::read_to_string(&ev).unwrap();
    std::fs::write(
        &ev,
        text.replacen("\"content_sha256\":\"", "\"content_sha256\":\"0", 1),
    )
    .unwrap();
    reseal_bundle(&b5, None);
    let (code, text) = verify_bundle(&b5, None);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("payload no longer matches its payload_sha256"),
        "{text}"
    );

    // The manifest's run count changed (and resealed).
    let b2 = f.dir.join("b2");
    crate::forge::copy_dir(&bundle, &b2);
    let m = b2.join("manifest.json");
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(&m, text.replacen("\"runs\": 2,", "\"runs\": 3,", 1)).unwrap();
    reseal_bundle(&b2, None);
    let (code, text) = verify_bundle(&b2, None);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("lists 2 runs, the manifest says 3"), "{text}");

    // A run's title and controls changed in its row (every run-row field is
    // covered by its run-started event).
    let b4 = f.dir.join("b4");
    crate::forge::copy_dir(&bundle, &b4);
    let ev = b4.join("evidence.json");
    let text = std::fs::read_to_string(&ev).unwrap();
    assert!(text.contains("\"procedure_title\":\"Test drill\""));
    std::fs::write(
        &ev,
        text.replacen(
            "\"procedure_title\":\"Test drill\"",
            "\"procedure_title\":\"Drill of another kind\"",
            1,
        ),
    )
    .unwrap();
    reseal_bundle(&b4, None);
    let (code, text) = verify_bundle(&b4, None);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("procedure_title differs from its run-started event"),
        "{text}"
    );

    // An event's hash rewritten to match its edited fields: the link to the
    // next event breaks.
    let b3 = f.dir.join("b3");
    crate::forge::copy_dir(&bundle, &b3);
    let ev = b3.join("evidence.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&ev).unwrap()).unwrap();
    let e = &mut doc["events"][3];
    e["actor"] = "Eve (eve)".into();
    let rec = runsheet::store::Record {
        format: runsheet::store::RecordFormat::V2,
        seq: e["seq"].as_i64().unwrap(),
        run_id: e["run_id"].as_str().map(str::as_bytes),
        run_seq: e["run_seq"].as_i64().unwrap(),
        at: e["at"].as_str().unwrap().as_bytes(),
        actor: b"Eve (eve)",
        kind: e["kind"].as_str().unwrap().as_bytes(),
        step: e["step"].as_str().map(str::as_bytes),
        payload_sha256: e["payload_sha256"].as_str().unwrap().as_bytes(),
        prev_hash: e["prev_hash"].as_str().unwrap().as_bytes(),
    }
    .hash();
    e["hash"] = rec.into();
    // Payloads must keep their exact text: write them back canonical.
    let mut out = String::from("{\"format\":\"runsheet-evidence\"");
    for (k, v) in doc.as_object().unwrap() {
        if k == "format" {
            continue;
        }
        out.push_str(&format!(",{}:", serde_json::to_string(k).unwrap()));
        out.push_str(&runsheet::store::canonical_json(v));
    }
    out.push('}');
    std::fs::write(&ev, out).unwrap();
    reseal_bundle(&b3, None);
    let (code, text) = verify_bundle(&b3, None);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("the chain between them is broken"), "{text}");
}

#[test]
fn the_runsheet_binary_has_no_log_generator_and_generated_logs_say_they_are_test_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gen.sqlite3");
    let out = runsheet(&db)
        .args(["generate-log", "--runs", "3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(!db.exists());
    let help = stdout(&runsheet(&db).arg("--help").output().unwrap());
    assert!(!help.contains("generate"), "{help}");

    generate_log(&db, &["--runs", "5", "--days", "5"]);
    let notice = "GENERATED TEST DATA — NOT EVIDENCE";
    let id = run_ids(&db)[0].clone();
    for args in [
        vec!["verify"],
        vec!["runs"],
        vec!["show", id.as_str()],
        vec!["status"],
    ] {
        let out = runsheet(&db).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).contains(notice), "{args:?}: {}", stdout(&out));
    }
    let bundle = dir.path().join("bundle");
    let out = runsheet(&db)
        .arg("export")
        .arg("--out")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(notice), "{}", stderr(&out));
    for file in ["report.html", "report.md", "runs.csv"] {
        let text = std::fs::read_to_string(bundle.join(file)).unwrap();
        assert!(
            text.contains("GENERATED TEST DATA")
                || text.contains("generated test data, not evidence"),
            "{file}"
        );
    }
    let (code, text) = verify_bundle(&bundle, Some(&db));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(notice), "{text}");
    // The generator never writes into an existing log.
    let out = Command::new(crate::common::testdata_bin())
        .args(["generate-log", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("never into an existing one"),
        "{}",
        stderr(&out)
    );
}

/// A plain-mode `resume` left waiting for input on a pipe, once it holds the
/// run (it prints its first line then).
fn waiting_resume(db: &Path, run: &str) -> Live {
    let live = Live::spawn(runsheet(db).args(["resume", "--plain", run]));
    live.wait_until(LIVE_TIMEOUT, |text| text.contains('\n'));
    let text = live.text();
    let first = text.lines().next().unwrap_or_default();
    assert!(first.contains("run"), "{first}");
    live
}

/// Send the waiting session the rest of its input and let it end; its exit code.
fn finish(mut live: Live, input: &str) -> Option<i32> {
    live.send(input);
    live.finish().0
}

#[test]
fn a_second_session_on_a_run_is_refused_with_who_holds_it_and_the_log_stays_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    // A run suspended after its first steps (input ends).
    let out = plain_run(&db, drill(), "\n\n");
    assert_eq!(out.status.code(), Some(10));
    let run = run_ids(&db)[0].clone();

    let first = waiting_resume(&db, &run);
    let second = runsheet(&db)
        .args(["resume", "--plain", &run])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(4), "{}", stdout(&second));
    let err = stderr(&second);
    assert!(
        err.contains("being driven by another runsheet session")
            && err.contains("(process ")
            && err.contains(&run),
        "{err}"
    );
    assert!(!stdout(&second).contains("recorded"), "{}", stdout(&second));
    // The first session goes on to the end; the log verifies.
    let rest = &DRILL_SCRIPT[1..];
    assert_eq!(finish(first, rest), Some(0));
    let (code, v) = verify_json(&db, None);
    assert_eq!(code, Some(0), "{v:#}");
    // Once it has ended, resuming says so (no lease file is left behind).
    let out = runsheet(&db)
        .args(["resume", "--plain", &run])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("already ended"), "{}", stderr(&out));
    let leases = dir.path().join("log.sqlite3.leases");
    assert_eq!(std::fs::read_dir(&leases).unwrap().count(), 0);

    // A holder that died (kill -9) leaves the run free for the next resume.
    plain_run(&db, drill(), "\n\n");
    let run = run_ids(&db)[1].clone();
    let holder = waiting_resume(&db, &run);
    holder.kill();
    let again = waiting_resume(&db, &run);
    assert_eq!(finish(again, rest), Some(0));
    assert_eq!(verify_json(&db, None).0, Some(0));
}

/// Write the unsigned JSON checkpoint an earlier runsheet's `checkpoint`
/// printed (format runsheet-checkpoint 1) for the log's head.
fn legacy_checkpoint(db: &Path, out: &Path) {
    let (seq, hash, at): (i64, String, String) = Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT seq, hash, at FROM events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let cp = json!({
        "format": "runsheet-checkpoint", "version": 1, "events": seq,
        "head_seq": seq, "head_hash": hash, "at": at,
    });
    let mut text = serde_json::to_string_pretty(&cp).unwrap();
    text.push('\n');
    std::fs::write(out, text).unwrap();
}

#[test]
fn the_encoding_gaps_are_closed() {
    // A NULL step changed to '' (format 2 tells them apart).
    let f = two_runs();
    let seq = {
        let conn = attacker(&f.db);
        let seq: i64 = conn
            .query_row(
                "SELECT seq FROM events WHERE step IS NULL AND run_id IS NOT NULL ORDER BY seq LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        conn.execute("UPDATE events SET step = '' WHERE seq = ?1", [seq])
            .unwrap();
        seq
    };
    let (code, v) = verify_json(&f.db, None);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(
        (
            v["finding"]["problem"].as_str(),
            v["finding"]["seq"].as_i64()
        ),
        (Some("edited"), Some(seq)),
        "{v:#}"
    );

    // The procedure source's format, covered by run-started.
    let f = two_runs();
    attacker(&f.db)
        .execute("UPDATE procedure_sources SET format = 'json'", [])
        .unwrap();
    let (code, v) = verify_json(&f.db, None);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["finding"]["problem"], "run-row-mismatch", "{v:#}");
    assert!(
        v["finding"]["message"].as_str().unwrap().contains("format"),
        "{v:#}"
    );

    // Dropped append-only triggers are reported even when no record changed.
    let f = two_runs();
    Connection::open(&f.db)
        .unwrap()
        .execute_batch("DROP TRIGGER events_no_update")
        .unwrap();
    let (code, v) = verify_json(&f.db, None);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["finding"]["problem"], "schema-changed", "{v:#}");
    assert!(
        v["finding"]["message"]
            .as_str()
            .unwrap()
            .contains("events_no_update"),
        "{v:#}"
    );

    // An old (unsigned JSON) checkpoint's `at` and `events` are checked.
    let f = two_runs();
    legacy_checkpoint(&f.db, &f.cp);
    let text = std::fs::read_to_string(&f.cp).unwrap();
    let cp: Value = serde_json::from_str(&text).unwrap();
    let at = cp["at"].as_str().unwrap();
    std::fs::write(&f.cp, text.replace(at, "2020-01-01T00:00:00.000Z")).unwrap();
    let (code, v) = verify_json(&f.db, Some(&f.cp));
    assert_eq!(code, Some(1), "{v:#}");
    assert!(
        v["finding"]["message"]
            .as_str()
            .unwrap()
            .contains("checkpoint was edited"),
        "{v:#}"
    );
    let events = format!("\"events\": {}", cp["events"]);
    std::fs::write(&f.cp, text.replace(&events, "\"events\": 1")).unwrap();
    let out = runsheet(&f.db)
        .arg("verify")
        .arg("--checkpoint")
        .arg(&f.cp)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("the checkpoint was edited"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn diagnoses_name_the_record_that_was_changed() {
    // Rewritten and its own hash recomputed: the record after it is intact
    // but no longer links; the rewritten one is named (rule D7).
    let f = two_runs();
    let seq = {
        let conn = attacker(&f.db);
        let seq = seq_of(&conn, &f.runs[1], "note-added");
        crate::forge::rewrite_content(&conn, seq, "all good", "all bad");
        rehash_one(&conn, seq);
        seq
    };
    let (code, v) = verify_json(&f.db, None);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(
        (
            v["finding"]["problem"].as_str(),
            v["finding"]["seq"].as_i64()
        ),
        (Some("edited"), Some(seq)),
        "{v:#}"
    );

    // Inserted at N with correct hashes, the originals renumbered up: N is
    // named as inserted (rule D2), not N + 1 as out of order.
    let f = two_runs();
    let at = {
        let conn = attacker(&f.db);
        let at = seq_of(&conn, &f.runs[1], "step-confirmed");
        let (run, n): (String, i64) = conn
            .query_row(
                "SELECT run_id, run_seq FROM events WHERE seq = ?1",
                [at],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        // Make room: later seqs up by one, and the run's later events too.
        conn.execute_batch(&format!(
            "UPDATE events SET seq = -seq WHERE seq >= {at}; UPDATE events SET seq = -seq + 1 WHERE seq < 0;"
        ))
        .unwrap();
        conn.execute(
            "UPDATE events SET run_seq = -run_seq WHERE run_id = ?1 AND run_seq >= ?2",
            rusqlite::params![run, n],
        )
        .unwrap();
        conn.execute(
            "UPDATE events SET run_seq = -run_seq + 1 WHERE run_id = ?1 AND run_seq < 0",
            [&run],
        )
        .unwrap();
        // A careful forger: the forged note takes the place (run, run_seq,
        // time) of the record it pushes up, and links to the one before.
        conn.execute(
            "INSERT INTO events SELECT ?1, o.run_id, o.run_seq - 1, o.at, o.actor, 'note-added', o.step, \
             json_object('kind', 'note-added', 'step', o.step, 'text', 'forged'), '', p.hash, '' \
             FROM events o, events p WHERE o.seq = ?1 + 1 AND p.seq = ?1 - 1",
            [at],
        )
        .unwrap();
        rehash_one(&conn, at);
        at
    };
    let (code, v) = verify_json(&f.db, None);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(
        (
            v["finding"]["problem"].as_str(),
            v["finding"]["seq"].as_i64()
        ),
        (Some("inserted"), Some(at)),
        "{v:#}"
    );

    // Deleted in the middle and everything after re-chained, its run's
    // numbering left with the gap: the gap is named as missing.
    let f = two_runs();
    let gone = {
        let conn = attacker(&f.db);
        let gone = seq_of(&conn, &f.runs[0], "note-added");
        conn.execute("DELETE FROM events WHERE seq = ?1", [gone])
            .unwrap();
        conn.execute_batch(&format!(
            "UPDATE events SET seq = -(seq - 1) WHERE seq > {gone}; UPDATE events SET seq = -seq WHERE seq < 0;"
        ))
        .unwrap();
        rechain_from(&conn, gone);
        gone
    };
    let (code, v) = verify_json(&f.db, None);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(
        (
            v["finding"]["problem"].as_str(),
            v["finding"]["seq"].as_i64()
        ),
        (Some("missing"), Some(gone)),
        "{v:#}"
    );
    assert!(
        v["finding"]["message"]
            .as_str()
            .unwrap()
            .contains("is missing"),
        "{v:#}"
    );

    // The same with the run renumbered too: a consistent rewrite, which only
    // a checkpoint catches — and it does not pretend to know where.
    let f = two_runs();
    {
        let conn = attacker(&f.db);
        let gone = seq_of(&conn, &f.runs[0], "note-added");
        crate::forge::delete_and_renumber(&conn, gone);
        rechain_from(&conn, gone);
    }
    // The Merkle tree still holds the old records: the rewrite shows.
    let (code, v) = verify_json(&f.db, None);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["finding"]["problem"], "tree-changed", "{v:#}");
    // With the tree rebuilt and the checkpoints it invalidated deleted too,
    // the run's end (written with a checkpoint of its own) shows that one
    // was deleted (custody.md rule 16); a checkpoint kept elsewhere also
    // shows the log no longer reaches it.
    crate::forge::cover_custody(&attacker(&f.db));
    let (code, v) = verify_json(&f.db, None);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["finding"]["problem"], "missing", "{v:#}");
    let message = v["finding"]["message"].as_str().unwrap();
    assert!(
        message.contains("its signed checkpoint was deleted"),
        "{message}"
    );
    let (code, v) = verify_json(&f.db, Some(&f.cp));
    assert_eq!(code, Some(1), "{v:#}");
    let truncated = v["also"]
        .as_array()
        .unwrap()
        .iter()
        .chain([&v["finding"]])
        .find(|f| f["problem"] == "truncated")
        .unwrap_or_else(|| panic!("{v:#}"));
    let message = truncated["message"].as_str().unwrap();
    assert!(message.contains("re-chained"), "{message}");
    assert!(!message.contains(" to {} were removed"), "{message}");
}

#[test]
fn an_older_log_is_read_as_it_is_and_upgraded_only_by_a_write_that_records_it() {
    // A log written by the previous runsheet (schema 2, record format 1):
    // one completed run and one suspended.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.sqlite3");
    std::fs::copy(repo().join("tests/fixtures/logs/schema2.sqlite3"), &db).unwrap();
    let before = std::fs::read(&db).unwrap();
    for args in [vec!["verify"], vec!["runs"], vec!["status"]] {
        let out = runsheet(&db).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    // It holds no signed checkpoint; `checkpoint` says how to get one.
    let out = runsheet(&db).arg("checkpoint").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("--sign"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "reading changed nothing"
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["old.sqlite3"], "and created no file");

    // Resuming the open run writes: the upgrade is recorded first, and the
    // run goes on across the switch to record format 2.
    let open: String = Connection::open(&db)
        .unwrap()
        .query_row("SELECT id FROM runs WHERE outcome IS NULL", [], |r| {
            r.get(0)
        })
        .unwrap();
    let waiting = waiting_resume(&db, &open);
    assert_eq!(finish(waiting, &DRILL_SCRIPT[1..]), Some(0));
    let conn = Connection::open(&db).unwrap();
    let (version, migrated): (i64, String) = conn
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version), payload FROM events \
             WHERE kind = 'schema-migrated'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(version, 6);
    assert!(
        migrated.contains(r#""from":2"#) && migrated.contains(r#""record_hash":2"#),
        "{migrated}"
    );
    // The upgrade built the tree over the old records, recorded the log's
    // key right after the migration, and the run's end was signed.
    let (key_seq, tree_rows, signed): (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT seq FROM events WHERE kind = 'log-key'),              (SELECT count(*) FROM tree_nodes), (SELECT count(*) FROM checkpoints)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let migrated_seq: i64 = conn
        .query_row(
            "SELECT seq FROM events WHERE kind = 'schema-migrated'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(key_seq, migrated_seq + 1);
    assert!(tree_rows > 0 && signed >= 2, "{tree_rows} {signed}");
    assert!(dir.path().join("old.sqlite3.key").exists());
    let (code, v) = verify_json(&db, None);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["custody"]["checkpoints"], signed, "{v:#}");
    // And the mixed log exports and verifies as a bundle.
    let bundle = dir.path().join("bundle");
    let out = runsheet(&db)
        .arg("export")
        .arg("--out")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, text) = verify_bundle(&bundle, Some(&db));
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = verify_bundle(&bundle, None);
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn a_log_truncated_to_nothing_is_not_silently_started_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    std::fs::write(&db, b"").unwrap();
    let out = runsheet(&db)
        .args(["run", "--plain"])
        .arg(drill())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("the file is empty"),
        "{}",
        stderr(&out)
    );
    let out = runsheet(&db)
        .arg("export")
        .arg("--out")
        .arg(dir.path().join("b"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0, "left as it was");
    let (code, v) = verify_json(&db, None);
    assert_eq!(
        (code, v["finding"]["problem"].as_str()),
        (Some(1), Some("damaged"))
    );
    // No lease was left for the run that could not be recorded.
    let leases = dir.path().join("log.sqlite3.leases");
    assert!(!leases.exists() || std::fs::read_dir(&leases).unwrap().count() == 0);
    // A new log (no file yet) is created as always.
    let fresh = dir.path().join("fresh.sqlite3");
    drill_run(&fresh);
    assert_eq!(verify_json(&fresh, None).0, Some(0));
}
