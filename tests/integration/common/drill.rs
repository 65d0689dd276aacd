//! The drill (tests/fixtures/run/drill.toml) in plain mode: its path, the
//! script that completes it, and runs of it on a log.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

use super::{repo, run_with_input, runsheet, stdout};

/// The whole drill, one line per key or answer; 14 "recorded" lines in all.
pub const DRILL_SCRIPT: &str = "\n\n12\nr\ny\n\nn\n\nBob\ny\na\nall good\n\n";
/// The "✔ recorded" lines [`DRILL_SCRIPT`] gets.
pub const DRILL_ACKS: usize = 14;

/// The drill procedure's file.
pub fn drill() -> PathBuf {
    repo().join("tests/fixtures/run/drill.toml")
}

/// `runsheet run --plain --new <procedure>` on `db` (a file or an id),
/// answering with `script` (see [`run_with_input`]): always a new run, even
/// when the log holds an open run of the procedure (without `--new`, plain
/// mode then refuses; safe_runs.rs tests that).
pub fn plain_run(db: &Path, procedure: impl AsRef<OsStr>, script: impl AsRef<[u8]>) -> Output {
    run_with_input(
        runsheet(db)
            .arg("run")
            .arg("--plain")
            .arg("--new")
            .arg(procedure),
        script,
    )
}

/// A completed run of the drill on `db`.
pub fn drill_run(db: &Path) {
    let out = plain_run(db, drill(), DRILL_SCRIPT);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// A drill run suspended after its first step (`\nq\n`); returns its id.
pub fn suspended_drill_run(db: &Path) -> String {
    let out = plain_run(db, drill(), "\nq\n");
    assert_eq!(out.status.code(), Some(10), "{}", stdout(&out));
    printed_run_id(&stdout(&out)).expect("run id printed")
}

/// The run id a `run` or `resume` printed in its first line (`… — run <id>`).
pub fn printed_run_id(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .find_map(|l| l.trim().rsplit_once("— run ").map(|(_, id)| id.to_string()))
}
