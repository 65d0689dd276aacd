//! Witnesses through the real binary: a log's `runsheet cosign` reaching a
//! `runsheet witness` on a second state (through `--via`, or by hand with
//! `--request` and `--add`), the conflict and its retry, a key holder's
//! consistent rewrite refused as a fork and kept, `verify --witness`, and bad
//! input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rusqlite::Connection;

use crate::common::{Input, bin, drill, isolated};
use crate::forge::{rechain_from, resign};
use crate::tamper::attacker;

/// `runsheet --db DB …`.
fn log_cmd(db: &Path) -> Command {
    crate::common::runsheet(db)
}

/// `runsheet witness --state STATE …`.
pub fn witness_cmd(state: &Path) -> Command {
    let mut cmd = Command::new(bin());
    isolated(&mut cmd).arg("witness").arg("--state").arg(state);
    cmd
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

fn run(cmd: &mut Command, code: i32) -> Output {
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(code), "{}", show(&out));
    out
}

fn run_with_input(cmd: &mut Command, input: &[u8], code: i32) -> Output {
    let out = Input::new(input).run(cmd);
    assert_eq!(out.status.code(), Some(code), "{}", show(&out));
    out
}

/// One more run on the log, suspended at once (its input ends): records and
/// a signed checkpoint.
fn suspended_run(db: &Path) {
    run_with_input(
        log_cmd(db).args(["run", "--plain", "--new"]).arg(drill()),
        b"",
        10,
    );
}

/// A log with one run, and a witness configured for it.
struct Setup {
    dir: tempfile::TempDir,
    db: PathBuf,
    state: PathBuf,
    /// The witness's vkey, in a file.
    witness_vkey: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("log.sqlite3");
        suspended_run(&db);
        let state = dir.path().join("witness").join("state.sqlite3");
        let out = run(
            witness_cmd(&state)
                .arg("init")
                .arg("--name")
                .arg("sec.example/witness"),
            0,
        );
        let witness_vkey = dir.path().join("witness.vkey");
        std::fs::write(&witness_vkey, &out.stdout).unwrap();
        let log_vkey = text(&run(log_cmd(&db).arg("key"), 0).stdout)
            .trim()
            .to_string();
        let origin = log_vkey.split('+').next().unwrap().to_string();
        run(
            witness_cmd(&state)
                .arg("add-log")
                .arg("--origin")
                .arg(&origin)
                .arg("--vkey")
                .arg(&log_vkey),
            0,
        );
        Setup {
            dir,
            db,
            state,
            witness_vkey,
        }
    }

    /// The --via command that runs the witness on its state.
    fn via(&self) -> String {
        format!(
            "'{}' witness --state '{}' cosign -",
            bin().display(),
            self.state.display()
        )
    }

    fn cosign_via(&self, db: &Path, code: i32) -> Output {
        run(
            log_cmd(db)
                .arg("cosign")
                .arg("--witness")
                .arg(&self.witness_vkey)
                .arg("--via")
                .arg(self.via()),
            code,
        )
    }

    fn status(&self) -> serde_json::Value {
        let out = run(witness_cmd(&self.state).arg("status").arg("--json"), 0);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["logs"].clone()
    }

    fn verify_witnessed(&self, db: &Path) -> Output {
        log_cmd(db)
            .arg("verify")
            .arg("--witness")
            .arg(&self.witness_vkey)
            .output()
            .unwrap()
    }
}

fn head(db: &Path) -> u64 {
    let conn = Connection::open(db).unwrap();
    conn.query_row("SELECT max(seq) FROM events", [], |r| r.get::<_, i64>(0))
        .unwrap() as u64
}

#[test]
fn a_log_is_cosigned_through_via_and_then_verifies_witnessed() {
    let s = Setup::new();
    let out = s.verify_witnessed(&s.db);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(text(&out.stdout).contains("unwitnessed"), "{}", show(&out));

    let size = head(&s.db);
    let out = s.cosign_via(&s.db, 0);
    assert!(
        text(&out.stdout).contains(&format!(
            "Stored the cosignature by sec.example/witness of the checkpoint of {size} records"
        )),
        "{}",
        show(&out)
    );
    let out = s.verify_witnessed(&s.db);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // The checkpoint now carries the cosignature.
    let cp = text(&run(log_cmd(&s.db).arg("checkpoint"), 0).stdout);
    assert!(cp.contains("\n\u{2014} sec.example/witness "), "{cp}");

    // The log grows; the next cosign goes on from the witnessed size.
    suspended_run(&s.db);
    let bigger = head(&s.db);
    assert!(bigger > size);
    let out = s.cosign_via(&s.db, 0);
    assert!(
        text(&out.stdout).contains(&format!("of the checkpoint of {bigger} records")),
        "{}",
        show(&out)
    );
    let status = s.status();
    assert_eq!(status[0]["size"], bigger);
    assert_eq!(status[0]["forks"], 0);
    // Again: the same cosignature, nothing new stored.
    let out = s.cosign_via(&s.db, 0);
    assert!(text(&out.stdout).contains("Already had"), "{}", show(&out));
}

#[test]
fn request_and_add_carry_a_cosignature_by_hand() {
    let s = Setup::new();
    let body = run(
        log_cmd(&s.db)
            .arg("cosign")
            .arg("--witness")
            .arg(&s.witness_vkey)
            .arg("--request"),
        0,
    )
    .stdout;
    assert!(text(&body).starts_with("old 0\n\n"), "{}", text(&body));
    // RUNSHEET_KEY_FILE is the log's key: a witness command never reads it.
    let log_key = format!("{}.key", s.db.display());
    let lines = run_with_input(
        witness_cmd(&s.state)
            .env("RUNSHEET_KEY_FILE", &log_key)
            .arg("cosign"),
        &body,
        0,
    )
    .stdout;
    let file = s.dir.path().join("cosignature");
    std::fs::write(&file, &lines).unwrap();
    let out = run(
        log_cmd(&s.db)
            .arg("cosign")
            .arg("--witness")
            .arg(&s.witness_vkey)
            .arg("--add")
            .arg(&file),
        0,
    );
    assert!(text(&out.stdout).contains("Stored"), "{}", show(&out));
    assert_eq!(s.verify_witnessed(&s.db).status.code(), Some(0));
}

#[test]
fn a_stale_old_size_is_a_conflict_and_via_retries_from_the_witnesses_size() {
    let s = Setup::new();
    // The witness cosigns, but the log never stores the answer.
    let body = run(
        log_cmd(&s.db)
            .arg("cosign")
            .arg("--witness")
            .arg(&s.witness_vkey)
            .arg("--request"),
        0,
    )
    .stdout;
    run_with_input(witness_cmd(&s.state).arg("cosign").arg("-"), &body, 0);
    let witnessed = head(&s.db);
    suspended_run(&s.db);
    let size = head(&s.db);

    // Sent from 0 again: refused with the witness's size on stdout, exit 9.
    let stale = run(
        log_cmd(&s.db)
            .arg("cosign")
            .arg("--witness")
            .arg(&s.witness_vkey)
            .arg("--request"),
        0,
    )
    .stdout;
    assert!(text(&stale).starts_with("old 0\n"));
    let out = run_with_input(witness_cmd(&s.state).arg("cosign"), &stale, 9);
    assert_eq!(text(&out.stdout), format!("{witnessed}\n"));

    // --via reads that size and resends a proof from it (a size the log
    // holds no cosignature for).
    let out = s.cosign_via(&s.db, 0);
    assert!(
        text(&out.stdout).contains(&format!("of the checkpoint of {size} records")),
        "{}",
        show(&out)
    );
    assert_eq!(s.status()[0]["size"], size);
    assert_eq!(s.verify_witnessed(&s.db).status.code(), Some(0));
}

/// What someone holding the log's key can do: change a record in a copy of
/// the log, recompute the chain and the tree, and re-sign every checkpoint
/// the log had (each size, with the root the records now give) with the
/// log's own key. The copy verifies on its own.
fn rewrite_with_the_key(db: &Path, copy: &Path) {
    Connection::open(db)
        .unwrap()
        .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
        .unwrap();
    let key = PathBuf::from(format!("{}.key", copy.display()));
    std::fs::copy(format!("{}.key", db.display()), &key).unwrap();
    let conn = attacker(copy);
    conn.execute("UPDATE events SET actor = 'mallory' WHERE seq = 3", [])
        .unwrap();
    rechain_from(&conn, 3);
    resign(&conn, &key);
}

fn forks_kept(state: &Path) -> Vec<(u64, u64, String)> {
    let conn = Connection::open(state).unwrap();
    conn.prepare("SELECT state_size, new_size, request FROM forks ORDER BY id")
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, i64>(1)? as u64,
                r.get(2)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_consistent_rewrite_by_the_key_holder_is_refused_as_a_fork_and_kept() {
    let s = Setup::new();
    s.cosign_via(&s.db, 0);
    let size = head(&s.db);
    let forged = s.dir.path().join("forged.sqlite3");
    rewrite_with_the_key(&s.db, &forged);
    // The rewrite agrees with itself: verify alone cannot see it.
    let out = run(log_cmd(&forged).arg("verify"), 0);
    assert!(!text(&out.stdout).contains("FAIL"), "{}", show(&out));

    // Same size, another root.
    let out = s.cosign_via(&forged, 8);
    assert!(text(&out.stderr).contains("FORK"), "{}", show(&out));
    let forks = forks_kept(&s.state);
    assert_eq!(forks.len(), 1);
    assert_eq!((forks[0].0, forks[0].1), (size, size));
    assert!(
        forks[0].2.starts_with(&format!("old {size}\n\n")),
        "{}",
        forks[0].2
    );

    // Grown further: the proof from the witnessed size fails.
    suspended_run(&forged);
    let bigger = head(&forged);
    s.cosign_via(&forged, 8);
    let forks = forks_kept(&s.state);
    assert_eq!(forks.len(), 2);
    assert_eq!((forks[1].0, forks[1].1), (size, bigger));
    let status = s.status();
    assert_eq!(status[0]["forks"], 2);
    assert_eq!(status[0]["size"], size);
    // The rewritten copy never got the witness's cosignature.
    assert_eq!(s.verify_witnessed(&forged).status.code(), Some(1));

    // The honest log goes on being cosigned.
    suspended_run(&s.db);
    s.cosign_via(&s.db, 0);
    assert_eq!(s.status()[0]["size"], head(&s.db));
}

#[test]
fn bad_input_is_refused_with_a_message_and_changes_nothing() {
    let s = Setup::new();
    let before = std::fs::read(&s.state).unwrap();

    // Garbage body: exit 3, the line named.
    let out = run_with_input(witness_cmd(&s.state).arg("cosign"), b"hello\n", 3);
    assert!(text(&out.stderr).contains("line 1"), "{}", show(&out));

    // A log the witness does not know: exit 3.
    let other = s.dir.path().join("other.sqlite3");
    suspended_run(&other);
    let body = run(
        log_cmd(&other)
            .arg("cosign")
            .arg("--witness")
            .arg(&s.witness_vkey)
            .arg("--request"),
        0,
    )
    .stdout;
    let out = run_with_input(witness_cmd(&s.state).arg("cosign"), &body, 3);
    assert!(
        text(&out.stderr).contains("does not know the log"),
        "{}",
        show(&out)
    );
    assert_eq!(std::fs::read(&s.state).unwrap(), before);

    // add-log with a vkey named after another origin.
    let other_vkey = text(&run(log_cmd(&other).arg("key"), 0).stdout)
        .trim()
        .to_string();
    let out = run(
        witness_cmd(&s.state)
            .arg("add-log")
            .arg("--origin")
            .arg("runsheet/somewhere/else")
            .arg("--vkey")
            .arg(&other_vkey),
        3,
    );
    assert!(
        text(&out.stderr).contains("named after its origin"),
        "{}",
        show(&out)
    );

    // A cosignature line by another witness, stored with --add: refused.
    let state2 = s.dir.path().join("w2.sqlite3");
    let w2 = run(
        witness_cmd(&state2)
            .arg("init")
            .arg("--name")
            .arg("other.example/witness"),
        0,
    );
    let log_vkey = text(&run(log_cmd(&s.db).arg("key"), 0).stdout)
        .trim()
        .to_string();
    run(
        witness_cmd(&state2)
            .arg("add-log")
            .arg("--origin")
            .arg(log_vkey.split('+').next().unwrap())
            .arg("--vkey")
            .arg(&log_vkey),
        0,
    );
    let body = run(
        log_cmd(&s.db)
            .arg("cosign")
            .arg("--witness")
            .arg(&s.witness_vkey)
            .arg("--request"),
        0,
    )
    .stdout;
    let lines = run_with_input(witness_cmd(&state2).arg("cosign"), &body, 0).stdout;
    let file = s.dir.path().join("lines");
    std::fs::write(&file, &lines).unwrap();
    let out = run(
        log_cmd(&s.db)
            .arg("cosign")
            .arg("--witness")
            .arg(&s.witness_vkey)
            .arg("--add")
            .arg(&file),
        3,
    );
    assert!(
        text(&out.stderr).contains("not by the witness"),
        "{}",
        show(&out)
    );
    // With that witness's own key it is stored; a changed line is not.
    let w2_vkey = text(&w2.stdout).trim().to_string();
    let mut changed = text(&lines);
    let at = changed.len() - 5;
    let c = if &changed[at..at + 1] == "A" {
        "B"
    } else {
        "A"
    };
    changed.replace_range(at..at + 1, c);
    std::fs::write(&file, changed).unwrap();
    let out = run(
        log_cmd(&s.db)
            .arg("cosign")
            .arg("--witness")
            .arg(&w2_vkey)
            .arg("--add")
            .arg(&file),
        1,
    );
    assert!(
        text(&out.stderr).contains("verifies against none"),
        "{}",
        show(&out)
    );
    std::fs::write(&file, &lines).unwrap();
    run(
        log_cmd(&s.db)
            .arg("cosign")
            .arg("--witness")
            .arg(&w2_vkey)
            .arg("--add")
            .arg(&file),
        0,
    );

    // A log key given as the witness's key.
    let out = run(
        log_cmd(&s.db)
            .arg("cosign")
            .arg("--witness")
            .arg(&log_vkey)
            .arg("--request"),
        3,
    );
    assert!(text(&out.stderr).contains("cosigner key"), "{}", show(&out));

    // A witness command that fails: its messages shown, exit 1, nothing stored.
    let out = run(
        log_cmd(&s.db)
            .arg("cosign")
            .arg("--witness")
            .arg(&s.witness_vkey)
            .arg("--via")
            .arg("cat >/dev/null; echo unreachable >&2; exit 3"),
        1,
    );
    assert!(
        text(&out.stderr).contains("witness: unreachable"),
        "{}",
        show(&out)
    );

    // A witness state that does not exist.
    let out = run(
        witness_cmd(&s.dir.path().join("missing.sqlite3")).arg("status"),
        4,
    );
    assert!(text(&out.stderr).contains("witness init"), "{}", show(&out));
}

#[test]
fn witness_read_commands_change_no_byte() {
    let s = Setup::new();
    s.cosign_via(&s.db, 0);
    let before = std::fs::read(&s.state).unwrap();
    let key = text(&run(witness_cmd(&s.state).arg("key"), 0).stdout);
    assert_eq!(key, std::fs::read_to_string(&s.witness_vkey).unwrap());
    run(witness_cmd(&s.state).arg("status"), 0);
    s.status();
    assert_eq!(std::fs::read(&s.state).unwrap(), before);
}

/// `--db` names an evidence log; a witness keeps none, so `witness … --db`
/// is refused (it used to be ignored, and the state went to the default
/// place), and nothing is created.
#[test]
fn a_witness_refuses_db() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--db", "log.db", "witness", "init", "--name", "w"],
        vec!["witness", "init", "--name", "w", "--db", "log.db"],
    ] {
        let out = isolated(&mut Command::new(bin()))
            .args(&args)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("a witness keeps no log: it keeps its own state (--state PATH"),
            "{err}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{args:?} created {left:?}");
    }
}
