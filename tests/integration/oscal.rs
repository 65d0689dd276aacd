//! oscal/assessment-results.json through the binary: valid for
//! compliance-trestle and for oscal-validate (and broken copies rejected by
//! both, as negative controls),
//! every UUID reference resolving, every hash the SHA-256 of the bundle file
//! it names, methods from OSCAL's list, UUIDs recomputable from the
//! documented v5 names and stable across exports; and the checks fail on
//! a changed bundle file or a dangling reference.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{
    drill_run, export_bundle, generate_log, runsheet, stderr, stdout, tool, tools_dir,
};

const FILE: &str = "oscal/assessment-results.json";
const METHODS: [&str; 4] = ["EXAMINE", "INTERVIEW", "TEST", "UNKNOWN"];

fn export(db: &Path, out: &Path) {
    export_bundle(db, out, &[]);
}

fn read(bundle: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(bundle.join(FILE)).unwrap()).unwrap()
}

fn walk<'a>(v: &'a Value, f: &mut dyn FnMut(&'a str, &'a Value)) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                f(k, x);
                walk(x, f);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
        _ => {}
    }
}

fn strs(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// Our own checks of what trestle does not check. `Err` names the first failure.
fn check(bundle: &Path, doc: &Value) -> Result<(), String> {
    let ar = &doc["assessment-results"];
    let result = &ar["results"][0];
    let ids = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x["uuid"].as_str().map(String::from))
            .collect()
    };
    let observations = ids(&result["observations"]);
    let components = ids(&result["local-definitions"]["components"]);
    let parties = ids(&ar["metadata"]["parties"]);
    let resources = ids(&ar["back-matter"]["resources"]);
    // Every uuid defined once.
    let mut defined = Vec::new();
    walk(ar, &mut |k, v| {
        if k == "uuid" {
            defined.push(v.as_str().unwrap_or_default().to_string());
        }
    });
    let unique: BTreeSet<&String> = defined.iter().collect();
    if unique.len() != defined.len() {
        return Err("a uuid is defined twice".into());
    }
    let mut problems = Vec::new();
    walk(ar, &mut |k, v| match k {
        "observation-uuid" if !observations.contains(v.as_str().unwrap_or("")) => {
            problems.push(format!("related observation {v} is no observation"));
        }
        "subject-uuid" if !components.contains(v.as_str().unwrap_or("")) => {
            problems.push(format!("subject {v} is no component"));
        }
        "party-uuids" => {
            for p in strs(v) {
                if !parties.contains(p) {
                    problems.push(format!("party {p} is not defined"));
                }
            }
        }
        "href" => {
            let href = v.as_str().unwrap_or("");
            if let Some(uuid) = href.strip_prefix('#') {
                if !resources.contains(uuid) {
                    problems.push(format!("{href} is no back-matter resource"));
                }
            } else if !href.starts_with("https://") {
                let path = href.split('#').next().unwrap_or("");
                let rel = path.strip_prefix("../").unwrap_or(path);
                if !bundle.join(rel).is_file() {
                    problems.push(format!("{href} names no file of the bundle"));
                }
            }
        }
        "methods" => {
            for m in strs(v) {
                if !METHODS.contains(&m) {
                    problems.push(format!("method {m} is not one of OSCAL's"));
                }
            }
        }
        _ => {}
    });
    if let Some(p) = problems.into_iter().next() {
        return Err(p);
    }
    // Every hash is the SHA-256 of the file it names.
    let mut hashed = BTreeSet::new();
    for r in ar["back-matter"]["resources"].as_array().unwrap() {
        for l in r["rlinks"].as_array().into_iter().flatten() {
            for h in l["hashes"].as_array().into_iter().flatten() {
                let href = l["href"].as_str().unwrap();
                let rel = href.strip_prefix("../").unwrap_or(href);
                if h["algorithm"] != "SHA-256" {
                    return Err(format!("{rel}: hash algorithm {}", h["algorithm"]));
                }
                let bytes = fs::read(bundle.join(rel)).map_err(|e| format!("{rel}: {e}"))?;
                if hex::encode(Sha256::digest(&bytes)) != h["value"].as_str().unwrap_or("") {
                    return Err(format!(
                        "{rel}: its SHA-256 is not the one the OSCAL file carries"
                    ));
                }
                hashed.insert(rel.to_string());
            }
        }
    }
    // ...and every data file (export.json lists them; the OSCAL file itself aside) has one.
    let export: Value =
        serde_json::from_str(&fs::read_to_string(bundle.join("export.json")).unwrap()).unwrap();
    for f in export["payload"]["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        if path != FILE && !hashed.contains(path) {
            return Err(format!("{path}: no back-matter resource carries its hash"));
        }
    }
    Ok(())
}

/// `trestle validate` on a copy of `doc` in a fresh trestle workspace: its exit code.
fn trestle(trestle: &Path, doc: &str) -> i32 {
    let ws = tempfile::tempdir().unwrap();
    let init = Command::new(trestle)
        .arg("init")
        .current_dir(ws.path())
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "trestle init failed (tools under {}): {}",
        tools_dir().display(),
        stderr(&init)
    );
    let dir = ws.path().join("assessment-results/runsheet");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("assessment-results.json"), doc).unwrap();
    let out = Command::new(trestle)
        .args([
            "validate",
            "-f",
            "assessment-results/runsheet/assessment-results.json",
        ])
        .current_dir(ws.path())
        .output()
        .unwrap();
    eprintln!("trestle: {}{}", stdout(&out), stderr(&out));
    out.status.code().unwrap_or(-1)
}

fn log() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    generate_log(&db, &["--runs", "30", "--days", "14"]);
    drill_run(&db);
    (dir, db)
}

#[test]
fn oscal_assessment_results_are_valid_and_every_reference_and_hash_holds() {
    let (dir, db) = log();
    let bundle = dir.path().join("b");
    export(&db, &bundle);
    let doc = read(&bundle);
    check(&bundle, &doc).unwrap();

    let ar = &doc["assessment-results"];
    assert_eq!(ar["metadata"]["oscal-version"], "1.2.1");
    let result = &ar["results"][0];
    let observations = result["observations"].as_array().unwrap();
    // One observation per run; TEST exactly when a step's command ran.
    let runs = fs::read_to_string(bundle.join("runs.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert_eq!(observations.len(), runs);
    let prop = |o: &Value, name: &str| -> Option<String> {
        o["props"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["value"].as_str().map(String::from))
    };
    let mut methods = BTreeMap::new();
    for o in observations {
        let ran: u64 = prop(o, "commands-ran").unwrap().parse().unwrap();
        let m = o["methods"][0].as_str().unwrap();
        assert_eq!(m == "TEST", ran > 0, "{o}");
        *methods.entry(m.to_string()).or_insert(0) += 1;
    }
    assert!(methods.contains_key("TEST"), "{methods:?}");
    // The UUIDs are the documented v5 names under the log's namespace.
    let origin = prop(&ar["metadata"], "log-origin").unwrap();
    let ns = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("urn:runsheet:oscal:{origin}").as_bytes(),
    );
    for o in observations {
        let run = prop(o, "run-id").unwrap();
        let want = uuid::Uuid::new_v5(&ns, format!("observation/{run}").as_bytes());
        assert_eq!(o["uuid"], want.hyphenated().to_string());
    }
    let filters = prop(result, "filters").unwrap();
    let findings = result["findings"].as_array().unwrap();
    let controls: Vec<&str> =
        result["reviewed-controls"]["control-selections"][0]["include-controls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["control-id"].as_str().unwrap())
            .collect();
    assert_eq!(findings.len(), controls.len());
    for (f, c) in findings.iter().zip(&controls) {
        assert_eq!(f["target"]["target-id"], *c);
        let want = uuid::Uuid::new_v5(&ns, format!("finding/{c}/{filters}").as_bytes());
        assert_eq!(f["uuid"], want.hyphenated().to_string());
        let related = f["related-observations"].as_array().map_or(0, Vec::len);
        let of_control = observations
            .iter()
            .filter(|o| {
                o["props"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "control" && p["value"] == *c)
            })
            .count();
        assert_eq!(related, of_control, "{c}");
        // The generated log has escalated and failed runs: not satisfied, and why.
        let state = &f["target"]["status"];
        if prop(f, "escalated").unwrap() != "0" {
            assert_eq!(state["state"], "not-satisfied");
            assert!(
                state["remarks"].as_str().unwrap().contains("escalated"),
                "{state}"
            );
        }
    }

    // compliance-trestle 5.2.0 says valid; and it rejects a broken copy.
    if let Some(t) = tool("trestle", "oscal_assessment_results_are_valid") {
        let text = fs::read_to_string(bundle.join(FILE)).unwrap();
        assert_eq!(trestle(&t, &text), 0, "trestle rejected the file");
        let broken = text.replacen("\"methods\":[\"", "\"methods\":[], \"x\":[\"", 1);
        assert_ne!(broken, text);
        assert_eq!(trestle(&t, &broken), 4, "trestle took a broken file");
        let no_collected = text.replacen("\"collected\":", "\"gathered\":", 1);
        assert_eq!(
            trestle(&t, &no_collected),
            4,
            "trestle took an observation without collected"
        );
    }

    // oscal-validate 0.5.0 (NIST's 1.2.3 schema and constraint layer, offline):
    // no ERROR; and ERRORs (exit 1) for the same broken copies.
    if let Some(v) = tool("oscal-validate", "oscal_assessment_results_are_valid") {
        let text = fs::read_to_string(bundle.join(FILE)).unwrap();
        let (code, errors) = oscal_validate(&v, dir.path(), &text);
        assert_eq!((code, errors), (0, 0), "oscal-validate rejected the file");
        for broken in [
            text.replacen("\"methods\":[\"", "\"methods\":[], \"x\":[\"", 1),
            text.replacen("\"collected\":", "\"gathered\":", 1),
        ] {
            assert_ne!(broken, text);
            let (code, errors) = oscal_validate(&v, dir.path(), &broken);
            assert!(code == 1 && errors > 0, "oscal-validate took a broken file");
        }
    }
}

/// `oscal-validate --format json` on a copy of `doc`: its exit code and its count of ERROR findings.
fn oscal_validate(program: &Path, scratch: &Path, doc: &str) -> (i32, u64) {
    let file = scratch.join("oscal-validate.json");
    fs::write(&file, doc).unwrap();
    let out = Command::new(program)
        .args(["--format", "json"])
        .arg(&file)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("oscal-validate: {e}\n{}{}", stdout(&out), stderr(&out)));
    eprintln!("oscal-validate: {}", report["summary"]);
    let errors = report["summary"]["ERROR"].as_u64().unwrap();
    (out.status.code().unwrap_or(-1), errors)
}

#[test]
fn the_oscal_checks_fail_on_a_changed_file_and_a_dangling_reference() {
    let (dir, db) = log();
    let bundle = dir.path().join("b");
    export(&db, &bundle);
    let doc = read(&bundle);
    check(&bundle, &doc).unwrap();
    let scratch = dir.path().join("scratch");

    // A changed data file: its hash no longer holds.
    for victim in ["report.html", "evidence.json", "runs.csv"] {
        let _ = fs::remove_dir_all(&scratch);
        copy_dir(&bundle, &scratch);
        let mut bytes = fs::read(scratch.join(victim)).unwrap();
        bytes.push(b' ');
        fs::write(scratch.join(victim), bytes).unwrap();
        let err = check(&scratch, &doc).unwrap_err();
        assert!(err.starts_with(victim), "{victim}: {err}");
    }
    // A changed procedure source.
    let _ = fs::remove_dir_all(&scratch);
    copy_dir(&bundle, &scratch);
    let proc = fs::read_dir(scratch.join("procedures"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut text = fs::read_to_string(&proc).unwrap();
    text.push_str("# changed\n");
    fs::write(&proc, text).unwrap();
    assert!(
        check(&scratch, &doc)
            .unwrap_err()
            .starts_with("procedures/")
    );

    // A dangling related observation, subject and resource link.
    let text = fs::read_to_string(bundle.join(FILE)).unwrap();
    let obs = doc["assessment-results"]["results"][0]["observations"][0]["uuid"]
        .as_str()
        .unwrap();
    let gone = "00000000-0000-5000-8000-000000000000";
    let dangling = text.replace(
        &format!("\"uuid\":\"{obs}\""),
        &format!("\"uuid\":\"{gone}\""),
    );
    let err = check(&bundle, &serde_json::from_str(&dangling).unwrap()).unwrap_err();
    assert!(err.contains("is no observation"), "{err}");
    let ap = doc["assessment-results"]["import-ap"]["href"]
        .as_str()
        .unwrap();
    let dangling = text.replacen(ap, &format!("#{gone}"), 1);
    let err = check(&bundle, &serde_json::from_str(&dangling).unwrap()).unwrap_err();
    assert!(err.contains("no back-matter resource"), "{err}");
    let bad_method = text.replacen("\"methods\":[\"", "\"methods\":[\"LOOK\",\"", 1);
    let err = check(&bundle, &serde_json::from_str(&bad_method).unwrap()).unwrap_err();
    assert!(err.contains("LOOK"), "{err}");
}

#[test]
fn verify_bundle_catches_a_changed_oscal_file() {
    let (dir, db) = log();
    let bundle = dir.path().join("b");
    export(&db, &bundle);
    let verify = || {
        runsheet(&db)
            .arg("verify-bundle")
            .arg(&bundle)
            .output()
            .unwrap()
    };
    let o = verify();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    // A GRC-minded edit: a run that ran commands claimed as merely examined.
    let text = fs::read_to_string(bundle.join(FILE)).unwrap();
    let changed = text.replacen("\"methods\":[\"TEST\"]", "\"methods\":[\"EXAMINE\"]", 1);
    assert_ne!(changed, text);
    fs::write(bundle.join(FILE), changed).unwrap();
    let o = verify();
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let said = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        said.contains("FAILED: oscal/assessment-results.json: changed after export"),
        "{said}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn oscal_uuids_of_runs_and_findings_are_the_same_in_two_exports() {
    let (dir, db) = log();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    export(&db, &a);
    export(&db, &b);
    let uuids = |bundle: &Path, part: &str| -> Vec<String> {
        read(bundle)["assessment-results"]["results"][0][part]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["uuid"].as_str().unwrap().to_string())
            .collect()
    };
    for part in ["observations", "findings"] {
        let (x, y) = (uuids(&a, part), uuids(&b, part));
        assert!(!x.is_empty());
        assert_eq!(x, y, "{part}");
    }
    // The documents themselves are two (another export time, another data head).
    assert_ne!(
        read(&a)["assessment-results"]["uuid"],
        read(&b)["assessment-results"]["uuid"]
    );
}
