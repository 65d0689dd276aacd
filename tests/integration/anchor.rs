//! Anchors through the binary: `runsheet anchor` shows the latest signed
//! checkpoint with a QR code, appends it to a file, commits it into another
//! git repository; and an anchored checkpoint catches what the log alone
//! cannot — a rewrite by someone holding the signing key, and a cut tail
//! with its tree and checkpoints removed.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{drill_run, runsheet, stderr, stdout};
use crate::forge::{cover_custody, rechain_from, resign};
use crate::tamper::{attacker, first_seq};

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
        crate::forge::rewrite_content(&conn, seq, "\"text\":\"", "\"text\":\"(rewritten) ");
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

#[test]
fn anchor_git_never_writes_through_a_link_and_runs_no_hook() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    drill_run(&db);
    let key = stdout(&runsheet(&db).arg("key").output().unwrap())
        .trim()
        .to_string();
    let origin = key.split('+').next().unwrap().to_string();
    let name = format!("{}.checkpoint", origin.replace('/', "_"));
    let snapshot = |paths: &[&Path]| -> Vec<Vec<u8>> {
        paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
    };
    let key_file = dir.path().join("log.sqlite3.key");
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "keep me\n").unwrap();
    for (i, (what, target)) in [
        ("a symbolic link to the log", Some(db.clone())),
        ("a symbolic link to the key", Some(key_file.clone())),
        ("a symbolic link to another file", Some(victim.clone())),
        ("a hard link to the key", None),
    ]
    .into_iter()
    .enumerate()
    {
        let repo = dir.path().join(format!("repo-{i}"));
        std::fs::create_dir(&repo).unwrap();
        assert!(git(&repo, &["init", "-q"]).status.success());
        match &target {
            Some(t) => std::os::unix::fs::symlink(t, repo.join(&name)).unwrap(),
            None => std::fs::hard_link(&key_file, repo.join(&name)).unwrap(),
        }
        let before = snapshot(&[&db, &key_file, &victim]);
        let checkpoints = rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("SELECT count(*) FROM checkpoints", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap();
        let out = anchor(&db, &["--no-qr", "--git", repo.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(3), "{what}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("Nothing was written"),
            "{what}: {}",
            stderr(&out)
        );
        assert_eq!(snapshot(&[&db, &key_file, &victim]), before, "{what}");
        let after = rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("SELECT count(*) FROM checkpoints", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap();
        assert_eq!(after, checkpoints, "{what}: nothing signed before refusing");
    }

    // --append to a FIFO (or anything not a regular file) is refused, not blocked on.
    let fifo = dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let out = anchor(&db, &["--no-qr", "--append", fifo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );

    // A repository's hooks do not run, and see no key path if they did.
    let repo = dir.path().join("hooked");
    std::fs::create_dir(&repo).unwrap();
    assert!(git(&repo, &["init", "-q"]).status.success());
    let marker = dir.path().join("hook-ran");
    let hook = repo.join(".git/hooks/pre-commit");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho \"$RUNSHEET_KEY_FILE\" > '{}'\n",
            marker.display()
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&hook).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&hook, perms).unwrap();
    let out = runsheet(&db)
        .args(["anchor", "--no-qr", "--git", repo.to_str().unwrap()])
        .env("RUNSHEET_KEY_FILE", &key_file)
        .env("GIT_AUTHOR_NAME", "auditor")
        .env("GIT_AUTHOR_EMAIL", "auditor@example.com")
        .env("GIT_COMMITTER_NAME", "auditor")
        .env("GIT_COMMITTER_EMAIL", "auditor@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!marker.exists(), "the repository's pre-commit hook ran");
    assert_eq!(
        stdout(&git(&repo, &["log", "--format=%s"])).lines().count(),
        1
    );
}
