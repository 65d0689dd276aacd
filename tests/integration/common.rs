//! Helpers shared by the integration tests: the binaries and a clean
//! `runsheet` command (here), processes fed input on stdin (`process`), the
//! drill and plain-mode runs of it (`drill`), one seeded RNG (`rng`), and the
//! system tools some tests drive (`tools`, installed by `.ci/tools`).
#![allow(dead_code)]

mod drill;
mod evidence;
mod process;
mod rng;
mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use drill::{
    DRILL_ACKS, DRILL_SCRIPT, drill, drill_run, plain_run, printed_run_id, suspended_drill_run,
};
pub use evidence::{
    SchemaValidator, assert_evidence_validates, committed_schema, evidence_schema, export_bundle,
    export_evidence,
};
pub use process::{Input, LIVE_TIMEOUT, Live, run_with_input};
pub use rng::Rng;
pub use tools::{tool, tools_dir};

/// The `runsheet` binary built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runsheet"))
}

/// The development-only `runsheet-testdata` binary (built for the tests).
pub fn testdata_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runsheet-testdata"))
}

/// Write a new generated test-data log at `db` with `runsheet-testdata
/// generate-log` and these extra arguments; returns its standard output.
pub fn generate_log(db: &Path, args: &[&str]) -> String {
    let out = Command::new(testdata_bin())
        .arg("generate-log")
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("runsheet-testdata");
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// The repository root (where `procedures/` lives).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `runsheet` command with a private evidence log and the shipped procedures,
/// isolated from the user's environment.
pub fn runsheet(db: &Path) -> Command {
    runsheet_with(db, &repo().join("procedures"))
}

/// [`runsheet`] with another procedures folder (`--procedures` may be given once).
pub fn runsheet_with(db: &Path, procedures: &Path) -> Command {
    let mut cmd = Command::new(bin());
    isolated(&mut cmd)
        .arg("--db")
        .arg(db)
        .arg("--procedures")
        .arg(procedures);
    cmd
}

/// `cmd` with none of the user's `RUNSHEET_*` settings, no sudo user and no
/// colour; and with `RUNSHEET_UNAPPROVED=allow`, so the run scripts of tests
/// about something else need not acknowledge that no approver approved the
/// procedures they run (tests/integration/approval.rs removes it to test the
/// default, `warn`, and `refuse`).
pub fn isolated(cmd: &mut Command) -> &mut Command {
    for var in [
        "RUNSHEET_DB",
        "RUNSHEET_PROCEDURES",
        "RUNSHEET_OPERATOR",
        "RUNSHEET_KEY_FILE",
        "RUNSHEET_WITNESS_STATE",
        "RUNSHEET_WITNESS_KEY_FILE",
        "RUNSHEET_ALLOWED_SIGNERS",
        // sudo's word for the user it runs runsheet for (the tests that
        // sign off as another user set them).
        "SUDO_USER",
        "SUDO_UID",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1").env("RUNSHEET_UNAPPROVED", "allow")
}

/// Standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The payloads of the run's events of `kind`, in order.
pub fn payloads(db: &Path, kind: &str) -> Vec<serde_json::Value> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT payload FROM events WHERE kind = ?1 ORDER BY seq")
        .unwrap();
    stmt.query_map([kind], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|p| serde_json::from_str(&p.unwrap()).unwrap())
        .collect()
}
