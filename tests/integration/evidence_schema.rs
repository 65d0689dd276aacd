//! Every exported evidence.json validates against the committed
//! docs/json/evidence.schema.json (which `runsheet schema evidence` prints)
//! with an independent validator (boon, JSON Schema 2020-12): a log of real
//! drill runs — completed (value, command, decision, branch, note),
//! suspended and resumed, failed, aborted; a value redacted —, a log of an older runsheet
//! (schema 2: content inline in the payloads) and a generated 1000-run log.
//! And the schema can fail: a payload member of the wrong type, a missing
//! required member, an unknown kind, a log event's kind, a payload of
//! another kind, a member no type has, a content event without its
//! content, a redacted event with a salt, content on a kind without any
//! and a stored payload with its content inline too are each refused,
//! naming the event; so is a linked log event's payload with a member of
//! the wrong type, missing or unknown, of another kind, or with a file hash
//! or verdict out of shape. A second export (linking the first) and a
//! sample packet validate too.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::common::{
    SchemaValidator, drill, drill_run, evidence_schema, export_evidence, generate_log, repo,
    run_with_input, runsheet, stderr, stdout, suspended_drill_run,
};

fn export(db: &Path, dir: &Path, name: &str) -> Value {
    export_evidence(db, dir, name, &[])
}

fn kinds(evidence: &Value) -> BTreeSet<String> {
    evidence["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

/// A log of real runs through the binary: a completed drill, a suspended
/// one resumed and suspended again, a failed step (left open), an abort.
fn real_log(db: &Path) {
    drill_run(db);
    let id = suspended_drill_run(db);
    let out = run_with_input(runsheet(db).args(["resume", "--plain", &id]), "q\n");
    assert_eq!(out.status.code(), Some(10), "resumed: {}", stdout(&out));
    let failed = run_with_input(
        runsheet(db)
            .arg("run")
            .arg("--plain")
            .arg("--new")
            .arg(drill()),
        "\nf\ntarget disk full\n",
    );
    assert!(
        stdout(&failed).contains("✔ recorded"),
        "{}",
        stdout(&failed)
    );
    let aborted = run_with_input(
        runsheet(db)
            .arg("run")
            .arg("--plain")
            .arg("--new")
            .arg(drill()),
        "X\nchange window closed\ny\n",
    );
    assert!(
        stdout(&aborted).contains("✔ recorded"),
        "{}",
        stdout(&aborted)
    );
    // A custodian erases the first recorded value (content null, redacted_by).
    let key = db.with_file_name("custodian.key");
    let out = runsheet(db)
        .args([
            "custodian",
            "init",
            "--name",
            "security-officer",
            "--custodian-key",
        ])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let vkey = stdout(&out).trim().to_string();
    let out = runsheet(db)
        .args(["custodian", "add", &vkey])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let seq: i64 = rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT seq FROM events WHERE kind = 'value-recorded' ORDER BY seq LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let out = runsheet(db)
        .args(["redact", "--seq", &seq.to_string(), "--reason", "test"])
        .arg("--custodian-key")
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn runsheet_schema_evidence_prints_the_committed_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = runsheet(&dir.path().join("log.db"))
        .args(["schema", "evidence"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let printed: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(printed, evidence_schema());
    // Reading the schema made no log.
    assert!(!dir.path().join("log.db").exists());
}

#[test]
fn every_exported_evidence_json_validates_against_the_committed_schema() {
    let v = SchemaValidator::evidence();
    let dir = tempfile::tempdir().unwrap();

    let db = dir.path().join("real.db");
    real_log(&db);
    let real = export(&db, dir.path(), "real");
    if let Some(p) = v.problems(&real) {
        panic!("the real log's evidence.json does not validate: {p}");
    }
    // A second export links the first (an export event) and the custodian's
    // events, each payload checked against its kind's schema.
    let again = export(&db, dir.path(), "again");
    if let Some(p) = v.problems(&again) {
        panic!("the second export's evidence.json does not validate: {p}");
    }
    let linked = link_kinds(&again);
    for k in ["export", "custodian-added", "redaction"] {
        assert!(
            linked.contains(k),
            "the second export links a {k}: {linked:?}"
        );
    }
    // A sample packet says which runs it samples.
    let sampled = real["runs"][0]["id"].as_str().unwrap().to_string();
    let packet = export_evidence(&db, dir.path(), "packet", &["--run", &sampled]);
    assert_eq!(packet["filters"]["runs"][0], sampled.as_str());
    if let Some(p) = v.problems(&packet) {
        panic!("the sample packet's evidence.json does not validate: {p}");
    }
    let seen = kinds(&real);
    for k in [
        "run-started",
        "step-confirmed",
        "value-recorded",
        "command-started",
        "command-ran",
        "decision-answered",
        "note-added",
        "suspended",
        "resumed",
        "step-failed",
        "branch-ended",
        "run-ended",
    ] {
        assert!(seen.contains(k), "the real log has a {k} event: {seen:?}");
    }
    let outcomes: BTreeSet<&str> = real["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains("completed") && outcomes.contains("aborted") && outcomes.contains("open"),
        "{outcomes:?}"
    );
    // Content kinds are exported in their stored form, content beside them.
    let note = real["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "note-added")
        .unwrap();
    assert!(note["payload"]["content_sha256"].is_string(), "{note:#}");
    assert!(
        note["content"].as_str().unwrap().contains("all good"),
        "{note:#}"
    );
    let value = &real["events"][first(&real, "value-recorded")];
    assert!(
        value["content"].is_null() && value["redacted_by"].is_i64(),
        "the redacted value: {value:#}"
    );

    // A log written by an older runsheet (schema 2): its content kinds are
    // inline, its run-started has none of the later members.
    let db = dir.path().join("schema2.sqlite3");
    std::fs::copy(repo().join("tests/fixtures/logs/schema2.sqlite3"), &db).unwrap();
    let old = export(&db, dir.path(), "old");
    if let Some(p) = v.problems(&old) {
        panic!("the schema-2 log's evidence.json does not validate: {p}");
    }
    let note = &old["events"][first(&old, "note-added")];
    assert!(
        note["payload"]["text"].is_string() && note["payload"].get("content_sha256").is_none(),
        "the old note is inline: {note:#}"
    );
    assert!(note.get("content").is_none(), "{note:#}");

    let db = dir.path().join("generated.db");
    generate_log(&db, &[]);
    let generated = export(&db, dir.path(), "generated");
    assert_eq!(generated["runs"].as_array().unwrap().len(), 1000);
    if let Some(p) = v.problems(&generated) {
        panic!("the generated log's evidence.json does not validate: {p}");
    }
    eprintln!(
        "evidence.json validated: real log {} events ({} kinds), generated log {} runs, {} events ({:?})",
        real["events"].as_array().unwrap().len(),
        seen.len(),
        generated["runs"].as_array().unwrap().len(),
        generated["events"].as_array().unwrap().len(),
        kinds(&generated)
    );
}

/// The index of the first event of `kind` in `evidence`.
fn first(evidence: &Value, kind: &str) -> usize {
    first_in(evidence, "events", kind)
}

fn first_in(evidence: &Value, list: &str, kind: &str) -> usize {
    evidence[list]
        .as_array()
        .unwrap()
        .iter()
        .position(|e| e["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {list}"))
}

/// The kinds of the log events among `links`.
fn link_kinds(evidence: &Value) -> BTreeSet<String> {
    evidence["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["run_id"].is_null())
        .map(|l| l["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_schema_refuses_a_wrong_payload_a_missing_member_and_an_unknown_kind() {
    let v = SchemaValidator::evidence();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.db");
    real_log(&db);
    let good = export(&db, dir.path(), "bundle");
    assert_eq!(v.problems(&good), None, "the untouched export validates");

    type Damage = fn(&mut Value, usize);
    let cases: [(&str, &str, Damage); 11] = [
        (
            "decision-answered",
            "a payload member of the wrong type",
            |e, i| {
                e["events"][i]["payload"]["answer"] = "yes".into();
            },
        ),
        (
            "step-confirmed",
            "a missing required payload member",
            |e, i| {
                e["events"][i]["payload"]
                    .as_object_mut()
                    .unwrap()
                    .remove("step");
            },
        ),
        ("step-started", "an unknown kind", |e, i| {
            e["events"][i]["kind"] = "step-exploded".into();
            e["events"][i]["payload"]["kind"] = "step-exploded".into();
        }),
        ("run-ended", "a log event's kind (no run event)", |e, i| {
            e["events"][i]["kind"] = "export".into();
            e["events"][i]["payload"]["kind"] = "export".into();
        }),
        (
            "step-confirmed",
            "a payload of another kind than the event's",
            |e, i| {
                e["events"][i]["kind"] = "step-skipped".into();
            },
        ),
        ("run-started", "a payload member no type has", |e, i| {
            e["events"][i]["payload"]["approved_by"] = "nobody".into();
        }),
        (
            "note-added",
            "a content event without its content",
            |e, i| {
                e["events"][i].as_object_mut().unwrap().remove("content");
            },
        ),
        (
            "run-ended",
            "an outcome the engine does not write",
            |e, i| {
                e["events"][i]["payload"]["outcome"] = "passed".into();
            },
        ),
        // The first value-recorded is the redacted one (real_log).
        ("value-recorded", "a redacted event with a salt", |e, i| {
            e["events"][i]["content_salt"] = "0".repeat(64).into();
        }),
        (
            "step-confirmed",
            "content on a kind that has none",
            |e, i| {
                e["events"][i]["content"] = "{}".into();
            },
        ),
        (
            "command-ran",
            "a stored payload with its content inline too",
            |e, i| {
                e["events"][i]["payload"]["output"] = "service ok\n".into();
            },
        ),
    ];
    for (kind, what, damage) in cases {
        refused(&v, &good, "events", kind, what, damage);
    }

    // The log events among the links of a second export (the first export,
    // the custodian's registration and redaction).
    let good = export(&db, dir.path(), "again");
    assert_eq!(v.problems(&good), None, "the second export validates");
    let link_cases: [(&str, &str, Damage); 6] = [
        (
            "redaction",
            "a log payload member of the wrong type",
            |e, i| {
                e["links"][i]["payload"]["seq"] = "4".into();
            },
        ),
        ("custodian-added", "a missing log payload member", |e, i| {
            e["links"][i]["payload"]
                .as_object_mut()
                .unwrap()
                .remove("vkey");
        }),
        ("redaction", "a log payload member no type has", |e, i| {
            e["links"][i]["payload"]["approved_by"] = "nobody".into();
        }),
        ("redaction", "a log payload of another kind", |e, i| {
            e["links"][i]["kind"] = "custodian-added".into();
        }),
        ("export", "a file hash that is no SHA-256", |e, i| {
            e["links"][i]["payload"]["files"][0]["sha256"] = "not-a-hash".into();
        }),
        ("export", "a verdict without its head", |e, i| {
            e["links"][i]["payload"]["verification"]
                .as_object_mut()
                .unwrap()
                .remove("head_hash");
        }),
    ];
    for (kind, what, damage) in link_cases {
        refused(&v, &good, "links", kind, what, damage);
    }
}

/// `damage` done to the first `kind` in `list` fails validation, naming it.
fn refused(
    v: &SchemaValidator,
    good: &Value,
    list: &str,
    kind: &str,
    what: &str,
    damage: fn(&mut Value, usize),
) {
    let mut bad = good.clone();
    let i = first_in(&bad, list, kind);
    damage(&mut bad, i);
    let problem = v
        .problems(&bad)
        .unwrap_or_else(|| panic!("{what} ({kind}) validated"));
    eprintln!(
        "{what}: {}",
        problem.lines().last().unwrap_or_default().trim()
    );
    assert!(
        problem.contains(&format!("/{list}/{i}")),
        "{what}: the problem names the record: {problem}"
    );
}
