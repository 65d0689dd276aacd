//! `runsheet feed`'s lines against OCSF and against the log: every line of a
//! feed of a generated 1000-run log validates against the committed JSON
//! Schema derived from OCSF 1.3.0's Compliance Finding
//! (docs/ocsf/compliance_finding-1.3.0.schema.json, checked with boon), and
//! lines short of a required member, with a member OCSF does not define or a
//! wrong class fail it; each line's seq, record hash, run, kind, actor and
//! time are the log's; two feeds racing on one file write each event once;
//! an old (schema 2) log is upgraded by `feed` and still verifies; a file
//! whose last line is not a feed line is refused unchanged.

use serde_json::Value;

use crate::common::{drill_run, generate_log, repo, runsheet, stderr, stdout};
use crate::feed::{feed, lines};

/// The committed OCSF class schema, compiled.
fn ocsf() -> (boon::Schemas, boon::SchemaIndex) {
    let path = repo().join("docs/ocsf/compliance_finding-1.3.0.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let id = schema["$id"].as_str().unwrap().to_string();
    let mut compiler = boon::Compiler::new();
    compiler.add_resource(&id, schema).unwrap();
    let mut schemas = boon::Schemas::new();
    let index = compiler
        .compile(&id, &mut schemas)
        .expect("the schema compiles");
    (schemas, index)
}

fn problems(ocsf: &(boon::Schemas, boon::SchemaIndex), line: &Value) -> Option<String> {
    ocsf.0
        .validate(line, ocsf.1)
        .err()
        .map(|e| format!("{e:#}"))
}

#[test]
fn every_feed_line_of_a_generated_log_is_a_valid_ocsf_compliance_finding_naming_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let (db, out) = (dir.path().join("log.db"), dir.path().join("feed.jsonl"));
    generate_log(&db, &[]);
    let fed = feed(&db, &out);
    assert!(fed.status.success(), "{}", stderr(&fed));
    let schema = ocsf();
    let got = lines(&out);
    let key = runsheet(&db).arg("key").output().unwrap();
    let origin = stdout(&key).trim().split('+').next().unwrap().to_string();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = conn
        .prepare("SELECT seq, hash, run_id, kind, actor, at FROM events ORDER BY seq")
        .unwrap();
    let rows: Vec<(i64, String, Option<String>, String, String, String)> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(rows.len() > 1000, "a generated log has many events");
    assert_eq!(got.len(), rows.len(), "one line per event");
    let mut outcomes = std::collections::BTreeSet::new();
    for (line, (seq, hash, run_id, kind, actor, at)) in got.iter().zip(&rows) {
        if let Some(p) = problems(&schema, line) {
            panic!("seq {seq} is not a valid OCSF Compliance Finding: {p}\n{line}");
        }
        let u = &line["unmapped"];
        assert_eq!(line["metadata"]["sequence"], *seq);
        assert_eq!(u["seq"], *seq);
        assert_eq!(u["hash"], hash.as_str());
        assert_eq!(u["run_id"].as_str(), run_id.as_deref(), "seq {seq}");
        assert_eq!(u["kind"], kind.as_str());
        assert_eq!(u["actor"], actor.as_str());
        assert_eq!(u["at"], at.as_str());
        assert_eq!(
            u["origin"],
            origin.as_str(),
            "the log's origin, as `runsheet key` names it"
        );
        let millis = chrono::DateTime::parse_from_rfc3339(at)
            .unwrap()
            .timestamp_millis();
        assert_eq!(line["time"], millis, "OCSF time is the event's, in ms");
        if kind == "run-ended" {
            outcomes.insert(line["compliance"]["status_id"].as_i64().unwrap());
        }
    }
    assert_eq!(
        outcomes.into_iter().collect::<Vec<_>>(),
        [1, 3],
        "completed runs pass, other endings fail"
    );
    // A feed is not evidence: the log still verifies.
    let verify = runsheet(&db).arg("verify").output().unwrap();
    assert!(verify.status.success(), "{}", stderr(&verify));
}

#[test]
fn the_ocsf_schema_refuses_a_line_without_a_required_member_an_unknown_member_or_another_class() {
    let dir = tempfile::tempdir().unwrap();
    let (db, out) = (dir.path().join("log.db"), dir.path().join("feed.jsonl"));
    drill_run(&db);
    assert!(feed(&db, &out).status.success());
    let schema = ocsf();
    let line = lines(&out).pop().unwrap();
    assert_eq!(problems(&schema, &line), None, "{line}");
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut l = line.clone();
        f(&mut l);
        problems(&schema, &l)
    };
    for (what, damage) in [
        (
            "no finding_info",
            &(|l: &mut Value| drop(l.as_object_mut().unwrap().remove("finding_info")))
                as &dyn Fn(&mut Value),
        ),
        ("no metadata.version", &|l: &mut Value| {
            drop(l["metadata"].as_object_mut().unwrap().remove("version"))
        }),
        ("no compliance.standards", &|l: &mut Value| {
            drop(l["compliance"].as_object_mut().unwrap().remove("standards"))
        }),
        ("no time", &|l: &mut Value| {
            drop(l.as_object_mut().unwrap().remove("time"))
        }),
        ("a member OCSF does not define", &|l: &mut Value| {
            l["seq"] = Value::from(1)
        }),
        ("another class", &|l: &mut Value| {
            l["class_uid"] = Value::from(2004)
        }),
        ("a severity_id OCSF does not list", &|l: &mut Value| {
            l["severity_id"] = Value::from(7)
        }),
        ("time as text", &|l: &mut Value| {
            l["time"] = Value::from("2026-01-01T00:00:00Z")
        }),
    ] {
        assert!(
            broken(damage).is_some(),
            "a line with {what} passed the OCSF schema"
        );
    }
}

#[test]
fn two_feeds_racing_on_one_file_append_each_event_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (db, out) = (dir.path().join("log.db"), dir.path().join("feed.jsonl"));
    generate_log(&db, &[]);
    let spawn = || {
        runsheet(&db)
            .arg("feed")
            .arg("--out")
            .arg(&out)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for o in [&a, &b] {
        assert!(
            o.status.success() || stderr(o).contains("another runsheet feed"),
            "{}",
            stderr(o)
        );
    }
    // Whoever lost the race (if anyone) catches up now.
    assert!(feed(&db, &out).status.success());
    let seqs: Vec<i64> = lines(&out)
        .iter()
        .map(|l| l["metadata"]["sequence"].as_i64().unwrap())
        .collect();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = conn
        .query_row("SELECT max(seq) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        seqs,
        (1..=n).collect::<Vec<_>>(),
        "interleaved or duplicated"
    );
}

#[test]
fn feed_upgrades_an_old_log_which_still_verifies_and_keeps_its_position_outside_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (db, out) = (
        dir.path().join("old.sqlite3"),
        dir.path().join("feed.jsonl"),
    );
    std::fs::copy(repo().join("tests/fixtures/logs/schema2.sqlite3"), &db).unwrap();
    let fed = feed(&db, &out);
    assert!(fed.status.success(), "{}", stderr(&fed));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 6);
    let (seq, hash): (i64, String) = conn
        .query_row("SELECT seq, record_hash FROM feed_positions", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let (last, last_hash): (i64, String) = conn
        .query_row(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (seq, hash),
        (last, last_hash),
        "the position is the last record fed"
    );
    let kinds: Vec<String> = lines(&out)
        .iter()
        .map(|l| l["unmapped"]["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(
        kinds.contains(&"schema-migrated".to_string()),
        "the upgrade is fed too: {kinds:?}"
    );
    drop(conn);
    let verify = runsheet(&db).arg("verify").output().unwrap();
    assert!(verify.status.success(), "{}", stderr(&verify));
    // Moving the position is not tampering with evidence: verify still passes.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE feed_positions SET seq = 1", [])
        .unwrap();
    drop(conn);
    let verify = runsheet(&db).arg("verify").output().unwrap();
    assert!(verify.status.success(), "{}", stderr(&verify));
}

#[test]
fn feed_refuses_a_file_whose_last_line_is_not_a_feed_line_and_changes_no_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (db, out) = (dir.path().join("log.db"), dir.path().join("feed.jsonl"));
    drill_run(&db);
    let foreign = b"Dec  3 08:00:00 host sshd[1]: Accepted publickey for root\n";
    std::fs::write(&out, foreign).unwrap();
    let refused = feed(&db, &out);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("not a runsheet feed line"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(std::fs::read(&out).unwrap(), foreign);
}

#[test]
fn feed_without_a_log_exits_4_and_creates_no_feed_file() {
    let dir = tempfile::tempdir().unwrap();
    let (db, out) = (dir.path().join("none.db"), dir.path().join("feed.jsonl"));
    let refused = feed(&db, &out);
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    assert!(!out.exists(), "a feed file was left behind");
    assert!(!db.exists(), "a log was created");
}

#[test]
fn after_a_rotation_taken_up_with_nothing_new_plain_feeds_go_on_and_a_later_truncation_is_refused()
{
    let dir = tempfile::tempdir().unwrap();
    let (db, out) = (dir.path().join("log.db"), dir.path().join("feed.jsonl"));
    drill_run(&db);
    assert!(feed(&db, &out).status.success());
    let fed = lines(&out).len();
    // logrotate `create`: the file moved away, a new empty one in its place.
    std::fs::rename(&out, dir.path().join("feed.jsonl.1")).unwrap();
    std::fs::write(&out, b"").unwrap();
    assert_eq!(
        feed(&db, &out).status.code(),
        Some(3),
        "an unexplained empty file"
    );
    let rotated = runsheet(&db)
        .args(["feed", "--rotated", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    assert_eq!(std::fs::read(&out).unwrap(), b"", "nothing new to append");
    // cron's plain feed takes the accepted empty file up, appending nothing…
    let plain = feed(&db, &out);
    assert!(plain.status.success(), "{}", stderr(&plain));
    assert_eq!(std::fs::read(&out).unwrap(), b"");
    // …and then only what is new.
    drill_run(&db);
    assert!(feed(&db, &out).status.success());
    let first_new = lines(&out)[0]["metadata"]["sequence"].as_i64().unwrap();
    assert_eq!(
        first_new,
        i64::try_from(fed).unwrap() + 1,
        "the events after the rotation only"
    );
    // copytruncate later (same inode, emptied): refused again, not taken up.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&out)
        .unwrap()
        .set_len(0)
        .unwrap();
    let truncated = feed(&db, &out);
    assert_eq!(truncated.status.code(), Some(3), "{}", stderr(&truncated));
    assert_eq!(std::fs::read(&out).unwrap(), b"");
}
