//! Anchors through the binary: `runsheet anchor` shows the latest signed
//! checkpoint with a QR code, appends it to a file, commits it into another
//! git repository; and an anchored checkpoint catches what the log alone
//! cannot — a rewrite by someone holding the signing key, and a cut tail
//! with its tree and checkpoints removed.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{runsheet, stderr, stdout};
use crate::forge::{cover_custody, rechain_from, resign};
use crate::tamper::{attacker, drill_run, first_seq};

fn git(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "auditor")
        .env("GIT_AUTHOR_EMAIL", "auditor@example.com")
        .env("GIT_COMMITTER_NAME", "auditor")
        .env("GIT_COMMITTER_EMAIL", "auditor@example.com")
        .output()
        .expect("git runs (installed by .ci/run)")
}

fn anchor(db: &Path, args: &[&str]) -> Output {
    runsheet(db)
        .arg("anchor")
        .args(args)
        .env("GIT_AUTHOR_NAME", "auditor")
        .env("GIT_AUTHOR_EMAIL", "auditor@example.com")
        .env("GIT_COMMITTER_NAME", "auditor")
        .env("GIT_COMMITTER_EMAIL", "auditor@example.com")
        .output()
        .unwrap()
}

fn verify(db: &Path, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = runsheet(db)
        .args(["--json", "verify"])
        .args(args)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (out.status.code(), v)
}

#[test]
fn an_anchored_checkpoint_catches_a_rewrite_with_the_key_and_a_cut_tail() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    drill_run(&db);
    drill_run(&db);
    let key = stdout(&runsheet(&db).arg("key").output().unwrap())
        .trim()
        .to_string();

    // On screen: the note and a QR code of half blocks.
    let out = anchor(&db, &["--qr"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let origin = key.split('+').next().unwrap();
    assert!(text.starts_with(origin), "{text}");
    assert!(
        text.lines().filter(|l| l.contains('▀')).count() > 10,
        "{text}"
    );

    // Into a file, and into another git repository.
    let file = dir.path().join("anchors.txt");
    let out = anchor(&db, &["--no-qr", "--append", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let repo = dir.path().join("anchors");
    std::fs::create_dir(&repo).unwrap();
    assert!(git(&repo, &["init", "-q"]).status.success());
    let out = anchor(&db, &["--no-qr", "--git", repo.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stdout(&git(&repo, &["log", "--format=%s"]));
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(log.contains("runsheet anchor"), "{log}");
    let committed: Vec<_> = std::fs::read_dir(&repo)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".checkpoint"))
        .collect();
    assert_eq!(committed.len(), 1, "{committed:?}");
    let anchored = repo.join(&committed[0]);
    assert_eq!(
        std::fs::read_to_string(&anchored).unwrap(),
        std::fs::read_to_string(&file)
            .unwrap()
            .trim_end()
            .to_string()
            + "\n"
    );
    // Nothing new: no second commit.
    let out = anchor(&db, &["--no-qr", "--git", repo.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&git(&repo, &["log", "--format=%s"])).lines().count(),
        1
    );
    let (code, v) = verify(
        &db,
        &["--trusted", anchored.to_str().unwrap(), "--key", &key],
    );
    assert_eq!(code, Some(0), "{v:#}");

    // The key holder rewrites the first run's outcome, re-chains, rebuilds
    // the tree and re-signs every checkpoint: the log agrees with itself...
    let rewritten = dir.path().join("rewritten.sqlite3");
    std::fs::copy(&db, &rewritten).unwrap();
    {
        let conn = attacker(&rewritten);
        let runs: Vec<String> = conn
            .prepare("SELECT id FROM runs ORDER BY started_at")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let seq: i64 = conn
            .query_row(
                "SELECT seq FROM events WHERE run_id = ?1 AND kind = 'note-added' LIMIT 1",
                [&runs[0]],
                |r| r.get(0),
            )
            .unwrap();
        conn.execute(
            "UPDATE events SET payload = replace(payload, '\"text\":\"', '\"text\":\"(rewritten) ') WHERE seq = ?1",
            [seq],
        )
        .unwrap();
        rechain_from(&conn, seq);
        resign(&conn, &dir.path().join("log.sqlite3.key"));
    }
    let (code, v) = verify(&rewritten, &["--key", &key]);
    assert_eq!(code, Some(0), "the rewrite agrees with itself: {v:#}");
    // ...but not with the anchor.
    let (code, v) = verify(
        &rewritten,
        &["--trusted", anchored.to_str().unwrap(), "--key", &key],
    );
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["finding"]["problem"], "edited", "{v:#}");

    // The last run cut off, its tree rows and checkpoints deleted too: the
    // log agrees with itself, the anchor shows the cut.
    let cut = dir.path().join("cut.sqlite3");
    std::fs::copy(&db, &cut).unwrap();
    {
        let conn = attacker(&cut);
        let last: String = conn
            .query_row(
                "SELECT run_id FROM events WHERE run_id IS NOT NULL ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let from = first_seq(&conn, &last);
        conn.execute("DELETE FROM events WHERE seq >= ?1", [from])
            .unwrap();
        conn.execute("DELETE FROM runs WHERE id = ?1", [&last])
            .unwrap();
        cover_custody(&conn);
    }
    let (code, v) = verify(&cut, &[]);
    assert_eq!(code, Some(0), "a cut tail agrees with itself: {v:#}");
    let (code, v) = verify(&cut, &["--trusted", anchored.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["finding"]["problem"], "truncated", "{v:#}");
}
