//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
    cmd.env_remove("RUNSHEET_DB")
        .env_remove("RUNSHEET_PROCEDURES")
        .env_remove("RUNSHEET_OPERATOR")
        .env("NO_COLOR", "1")
        .arg("--db")
        .arg(db)
        .arg("--procedures")
        .arg(procedures);
    cmd
}

/// Standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
