//! Every `--json` output, printed by the real binary, validates against its
//! committed schema (docs/json/NAME.schema.json) with an independent
//! validator (boon, JSON Schema 2020-12); `runsheet schema NAME` prints that
//! file; and the validator refuses an output a member too many or short of
//! its version, so the check can fail.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{
    SchemaValidator, bin, committed_schema, drill, drill_run, isolated, repo, runsheet,
    runsheet_with, stderr, stdout,
};

/// Problems boon finds in `instance` against output `name`'s committed schema.
fn problems(name: &str, instance: &Value) -> Option<String> {
    SchemaValidator::new(name).problems(instance)
}

/// `cmd` must exit `code` and print one JSON document valid as output `name`.
fn valid(name: &str, cmd: &mut Command, code: i32) -> Value {
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(code), "{name}: {}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {}", stdout(&out)));
    if let Some(p) = problems(name, &v) {
        panic!("{name} does not match docs/json/{name}.schema.json: {p}\n{v:#}");
    }
    assert_eq!(v["schema_version"], 1, "{name}");
    v
}

fn witness(state: &Path) -> Command {
    let mut cmd = Command::new(bin());
    isolated(&mut cmd).arg("witness").arg("--state").arg(state);
    cmd
}

#[test]
fn every_json_output_validates_against_its_committed_schema() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.db");
    drill_run(&db);
    let j = |db: &Path| {
        let mut c = runsheet(db);
        c.arg("--json");
        c
    };
    let mut seen = Vec::new();
    let mut check = |name: &'static str, cmd: &mut Command, code: i32| {
        seen.push(name);
        valid(name, cmd, code)
    };

    // A procedures folder with one good file and one with two mistakes.
    let procs = dir.path().join("procs");
    std::fs::create_dir(&procs).unwrap();
    std::fs::copy(drill(), procs.join("drill.toml")).unwrap();
    std::fs::write(procs.join("bad.toml"), "id = \"bad\"\ntitel = \"x\"\n").unwrap();
    let lint = check("lint", j(&db).arg("lint").arg(&procs), 1);
    assert!(lint["errors"].as_u64().unwrap() >= 2, "{lint:#}");

    let list = check("list", j(&db).arg("list"), 0);
    assert!(!list["procedures"].as_array().unwrap().is_empty());

    let runs = check("runs", j(&db).arg("runs"), 0);
    let run = &runs["runs"][0];
    let id = run["id"].as_str().unwrap().to_string();
    let show = check("show", j(&db).args(["show", &id]), 0);
    // `events` is the list in show; the count is `event_count` in both.
    assert_eq!(show["event_count"], run["event_count"]);
    assert_eq!(
        show["events"].as_array().unwrap().len() as u64,
        run["event_count"].as_u64().unwrap()
    );
    assert!(run.get("events").is_none(), "{run:#}");

    check("status", j(&db).arg("status"), 0);
    let history = check("history", j(&db).args(["history", "drill"]), 0);
    assert_eq!(history["versions"][0]["runs"], 1);
    let diff = check("diff", j(&db).args(["diff", "drill", "1.0", "1.0"]), 0);
    assert_eq!(diff["summary"], "no changes");
    let training = check(
        "training",
        runsheet_with(&db, &procs).args(["--json", "training", "drill"]),
        0,
    );
    assert_eq!(training["procedures"][0]["id"], "drill", "{training:#}");
    let verify = check("verify", j(&db).arg("verify"), 0);
    assert!(verify["finding"].is_null());
    let cp = check("checkpoint", j(&db).arg("checkpoint"), 0);
    assert!(
        cp["note"]
            .as_str()
            .unwrap()
            .starts_with(cp["origin"].as_str().unwrap())
    );
    assert!(cp["signatures"].as_u64().unwrap() >= 1);
    let out_file = dir.path().join("cp.txt");
    let written = valid(
        "checkpoint",
        j(&db)
            .args(["checkpoint", "--sign", "--out"])
            .arg(&out_file),
        0,
    );
    assert_eq!(written["covers_head"], true);
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        written["note"].as_str().unwrap()
    );
    check("key", j(&db).arg("key"), 0);
    let bundle = dir.path().join("bundle");
    let export = check("export", j(&db).args(["export", "--out"]).arg(&bundle), 0);
    assert_eq!(export["run_count"], 1);
    check("verify-bundle", j(&db).arg("verify-bundle").arg(&bundle), 0);
    let config = check("config", j(&db).arg("config"), 0);
    assert!(!config["settings"].as_array().unwrap().is_empty());

    let key = dir.path().join("custodian.key");
    let init = check(
        "custodian-init",
        j(&db)
            .args(["custodian", "init", "--name", "records", "--custodian-key"])
            .arg(&key),
        0,
    );
    let vkey = init["vkey"].as_str().unwrap().to_string();
    check("custodian-add", j(&db).args(["custodian", "add", &vkey]), 0);
    let list = check("custodian-list", j(&db).args(["custodian", "list"]), 0);
    assert_eq!(list["custodians"][0]["vkey"], vkey.as_str());

    let state = dir.path().join("witness.db");
    let out = witness(&state)
        .args(["init", "--name", "w.example"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    check(
        "witness-status",
        witness(&state).args(["status", "--json"]),
        0,
    );

    // A damaged log: verify's finding validates too.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("DROP TRIGGER IF EXISTS events_no_update; UPDATE events SET actor = 'mallory' WHERE seq = 2;")
        .unwrap();
    drop(conn);
    let damaged = valid("verify", j(&db).arg("verify"), 1);
    assert!(!damaged["finding"].is_null(), "{damaged:#}");

    // An error: one line on stderr.
    let out = j(&db).args(["show", "no-such-run"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err: Value = serde_json::from_str(stderr(&out).trim()).expect("JSON error");
    assert!(problems("error", &err).is_none(), "{err:#}");
    seen.push("error");

    // Every output with a schema was checked here, and each schema file is
    // what `runsheet schema NAME` prints.
    let names: Vec<String> = std::fs::read_dir(repo().join("docs/json"))
        .unwrap()
        .map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            n.trim_end_matches(".schema.json").to_string()
        })
        // evidence.json's schema is checked in evidence_schema.rs.
        .filter(|n| n != "evidence")
        .collect();
    for name in &names {
        assert!(seen.contains(&name.as_str()), "{name} not checked");
        let out = Command::new(bin()).args(["schema", name]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let printed: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(printed, committed_schema(name), "{name}");
    }
    assert_eq!(names.len(), seen.len());
}

#[test]
fn the_schemas_refuse_what_the_binary_does_not_print() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.db");
    drill_run(&db);
    let v = valid("runs", runsheet(&db).args(["--json", "runs"]), 0);
    let mut extra = v.clone();
    extra["runs"][0]["events"] = Value::from(12);
    assert!(
        problems("runs", &extra).is_some(),
        "an undeclared member passes"
    );
    let mut unversioned = v.clone();
    unversioned
        .as_object_mut()
        .unwrap()
        .remove("schema_version");
    assert!(
        problems("runs", &unversioned).is_some(),
        "no version passes"
    );
    let mut later = v.clone();
    later["schema_version"] = Value::from(2);
    assert!(problems("runs", &later).is_some(), "another version passes");
    let mut wrong = v;
    wrong["runs"][0]["event_count"] = Value::from("12");
    assert!(problems("runs", &wrong).is_some(), "a string count passes");
}

#[test]
fn json_is_refused_where_a_command_prints_no_data() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("witness.db");
    // Refused before anything is done: no state file is made.
    let out = witness(&state)
        .args(["--json", "init", "--name", "w.example"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("witness status"), "{}", stderr(&out));
    assert!(!state.exists());
    let err: Value = serde_json::from_str(stderr(&out).trim()).expect("JSON error");
    assert!(problems("error", &err).is_none());
    // A command with no JSON output at all refuses it by name.
    let db = dir.path().join("log.db");
    let out = runsheet(&db)
        .args(["--json", "render", "backup-restore-test"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
