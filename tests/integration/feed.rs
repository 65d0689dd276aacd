//! `runsheet feed`: OCSF JSON lines appended exactly once (idempotent, after a
//! crash between the append and the position, after a torn line), refusals
//! (a file behind the position), and a real rsyslog imfile → omfile pipeline.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{drill_run, runsheet, stderr, tool};

/// `runsheet feed --out OUT` on the log `db` (feed_ocsf.rs uses it too).
pub fn feed(db: &Path, out: &Path) -> std::process::Output {
    runsheet(db)
        .arg("feed")
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// The feed file's lines, each parsed (feed_ocsf.rs uses it too).
pub fn lines(file: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn seqs(file: &Path) -> Vec<i64> {
    lines(file)
        .iter()
        .map(|v| {
            assert_eq!(v["class_uid"], 2003, "{v}");
            assert_eq!(v["metadata"]["sequence"], v["unmapped"]["seq"], "{v}");
            assert_eq!(v["metadata"]["uid"], v["unmapped"]["hash"], "{v}");
            v["metadata"]["sequence"].as_i64().unwrap()
        })
        .collect()
}

fn head(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT max(seq) FROM events", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn feed_appends_every_event_once_and_a_second_run_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, out) = (dir.path().join("log.db"), dir.path().join("feed.jsonl"));
    drill_run(&db);
    assert!(feed(&db, &out).status.success());
    let first = std::fs::read(&out).unwrap();
    let n = head(&db);
    assert_eq!(seqs(&out), (1..=n).collect::<Vec<_>>());
    let again = feed(&db, &out);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        first,
        "a second feed appended"
    );
    drill_run(&db);
    assert!(feed(&db, &out).status.success());
    // The feed's position is not evidence: verify still passes.
    let verify = runsheet(&db).arg("verify").output().unwrap();
    assert!(verify.status.success(), "{}", stderr(&verify));
    // verify itself changed nothing, so the head is the drills' last event.
    assert_eq!(seqs(&out), (1..=head(&db)).collect::<Vec<_>>());
    // A second feed file gets every event too.
    let other = dir.path().join("other.jsonl");
    assert!(feed(&db, &other).status.success());
    assert_eq!(seqs(&other), (1..=head(&db)).collect::<Vec<_>>());
}

#[test]
fn feed_after_a_crash_before_the_position_was_stored_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, out) = (dir.path().join("log.db"), dir.path().join("feed.jsonl"));
    drill_run(&db);
    assert!(feed(&db, &out).status.success());
    let fed = std::fs::read(&out).unwrap();
    // The crash: lines appended and synced, the position never advanced.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("DELETE FROM feed_positions", []).unwrap();
    drop(conn);
    let after = feed(&db, &out);
    assert!(after.status.success(), "{}", stderr(&after));
    assert_eq!(std::fs::read(&out).unwrap(), fed, "lines were duplicated");
    // Killed mid-write of a second feed: some new lines and a torn one are in
    // the file, the position is still the first feed's.
    let first_seq = head(&db);
    drill_run(&db);
    assert!(feed(&db, &out).status.success());
    let full = std::fs::read(&out).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE feed_positions SET seq = ?1", [first_seq])
        .unwrap();
    drop(conn);
    let cut = fed.len() + (full.len() - fed.len()) / 2;
    std::fs::write(&out, &full[..cut]).unwrap();
    let repaired = feed(&db, &out);
    assert!(repaired.status.success(), "{}", stderr(&repaired));
    assert!(
        stderr(&repaired).contains("torn last line"),
        "{}",
        stderr(&repaired)
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        full,
        "the torn line was not replaced exactly"
    );
    assert_eq!(seqs(&out), (1..=head(&db)).collect::<Vec<_>>());
}

#[test]
fn feed_refuses_a_file_truncated_behind_its_position_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, out) = (dir.path().join("log.db"), dir.path().join("feed.jsonl"));
    drill_run(&db);
    assert!(feed(&db, &out).status.success());
    std::fs::write(&out, b"").unwrap();
    let refused = feed(&db, &out);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("truncated, rotated or replaced"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"");
    // Rotated on purpose: continue after the position, with the new events only.
    drill_run(&db);
    let before = head(&db);
    let rotated = runsheet(&db)
        .args(["feed", "--rotated", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let got = seqs(&out);
    assert_eq!(got.last().copied(), Some(before));
    assert!(got.len() < usize::try_from(before).unwrap());
}

#[test]
fn rsyslog_ships_every_feed_line_exactly_once_in_order() {
    let Some(rsyslogd) = tool(
        "rsyslogd",
        "rsyslog_ships_every_feed_line_exactly_once_in_order",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (db, input, output) = (
        d.join("log.db"),
        d.join("feed.jsonl"),
        d.join("shipped.jsonl"),
    );
    std::fs::create_dir(d.join("work")).unwrap();
    let conf = d.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{work}" maxMessageSize="64k")
module(load="imfile")
template(name="msgonly" type="string" string="%msg%\n")
ruleset(name="feed") {{
  action(type="omfile" file="{output}" template="msgonly")
}}
input(type="imfile" file="{input}" tag="runsheet" ruleset="feed" addMetadata="off")
"#,
            work = d.join("work").display(),
            output = output.display(),
            input = input.display(),
        ),
    )
    .unwrap();
    drill_run(&db);
    assert!(feed(&db, &input).status.success());
    let mut child = std::process::Command::new(rsyslogd)
        .arg("-n")
        .arg("-f")
        .arg(&conf)
        .arg("-i")
        .arg(d.join("rsyslogd.pid"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let wait_for = |lines: usize| {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let n = std::fs::read_to_string(&output).map_or(0, |t| t.lines().count());
            if n >= lines || Instant::now() > until {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for(seqs(&input).len());
    drill_run(&db);
    assert!(feed(&db, &input).status.success());
    assert!(feed(&db, &input).status.success());
    let expected = std::fs::read_to_string(&input).unwrap();
    wait_for(expected.lines().count());
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    let shipped = std::fs::read_to_string(&output).unwrap();
    assert_eq!(seqs(&input), (1..=head(&db)).collect::<Vec<_>>());
    assert_eq!(shipped, expected, "rsyslog's copy differs from the feed");
}
