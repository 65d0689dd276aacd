//! The crate's error type, what a command found when it ran to its end
//! ([`Exit`]), and the one function that maps both to the process exit code
//! ([`exit_code`], documented in docs/exit-codes.md).
//!
//! May not depend on anything in the crate but the run's vocabulary
//! ([`Outcome`]: a run's ending is its exit code); never on the front ends.

use std::path::PathBuf;

use crate::vocab::Outcome;

/// Exit codes, by name; [`exit_code`] decides which one a command exits
/// with. Keep in sync with docs/exit-codes.md.
pub mod code {
    /// Success; for `run`/`resume`: the run completed.
    pub const OK: i32 = 0;
    /// A check found problems: lint errors, a broken chain, a bundle mismatch, overdue with --strict.
    pub const CHECK_FAILED: i32 = 1;
    /// Command-line usage error (from clap).
    pub const USAGE: i32 = 2;
    /// Bad input: a procedure that cannot be found or parsed, an unknown run id, a bad value.
    pub const INPUT: i32 = 3;
    /// The evidence log cannot be used: locked, read-only, full, corrupted, newer schema.
    pub const STORE: i32 = 4;
    /// A file could not be read or written (e.g. an export target that exists).
    pub const IO: i32 = 5;
    /// `run`/`resume`: the run was suspended and can be resumed.
    pub const SUSPENDED: i32 = 10;
    /// `run`/`resume`: the run ended escalated.
    pub const ESCALATED: i32 = 11;
    /// `run`/`resume`: the run ended failed.
    pub const FAILED: i32 = 12;
    /// `run`/`resume`: the run was aborted.
    pub const ABORTED: i32 = 13;
    /// `witness cosign`/`cosign`: the witness refused a checkpoint that is not
    /// consistent with the one it cosigned before (a fork; kept as evidence).
    pub const WITNESS_FORK: i32 = 8;
    /// `witness cosign`: the request's old size is not the size the witness
    /// last cosigned, which is printed on stdout (tlog-witness's 409).
    pub const WITNESS_CONFLICT: i32 = 9;
    /// A bug in runsheet.
    pub const INTERNAL: i32 = 70;

    /// Every exit code and what it means, as the man pages say it.
    pub const ALL: &[(i32, &str)] = &[
        (OK, "success; for run and resume: the run completed"),
        (
            CHECK_FAILED,
            "a check found problems: lint errors, a log or bundle that does not verify, something overdue with status --strict",
        ),
        (
            USAGE,
            "a usage error: an unknown option, a bad value, a bad configuration file",
        ),
        (
            INPUT,
            "bad input: a procedure that cannot be found or read, an unknown run id, a refused sign-off",
        ),
        (
            STORE,
            "the evidence log cannot be used: missing, locked, read-only, full, damaged, or of a newer schema",
        ),
        (IO, "a file could not be read or written"),
        (
            WITNESS_FORK,
            "a witness refused a checkpoint inconsistent with one it cosigned",
        ),
        (
            WITNESS_CONFLICT,
            "a witness last cosigned another size (printed)",
        ),
        (
            SUSPENDED,
            "run, resume: the run was suspended and can be resumed",
        ),
        (ESCALATED, "run, resume: the run ended escalated"),
        (FAILED, "run, resume: the run ended failed"),
        (ABORTED, "run, resume: the run was aborted"),
        (INTERNAL, "a bug in runsheet"),
    ];
}

/// What a command found when it ran to its end; the other way a command
/// ends is an [`Error`]. [`exit_code`] maps both to the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done, nothing to report (exit 0).
    Success,
    /// A check found problems, and its report is printed: lint errors (or
    /// warnings with `--strict`), a log that fails `verify`, a bundle that
    /// does not check out, something missed or overdue with `status --strict`.
    ChecksFailed,
    /// The output is written, but input files named on stderr could not be
    /// read (`list`).
    UnreadableInput,
    /// `run`/`resume`: the run ended with this outcome (completed is success).
    RunEnded(Outcome),
    /// `run`/`resume`: the run was suspended, or its input ended; it can be resumed.
    RunSuspended,
    /// A witness refused the log's checkpoint as a fork (`witness cosign`
    /// itself, or `cosign --via` passing on its answer).
    WitnessFork,
    /// `witness cosign`: the request's old size is not the size the witness
    /// last cosigned (which is printed on stdout).
    WitnessConflict,
}

impl Exit {
    /// [`Exit::Success`] when the check passed, else [`Exit::ChecksFailed`].
    pub fn checked(passed: bool) -> Exit {
        if passed {
            Exit::Success
        } else {
            Exit::ChecksFailed
        }
    }
}

/// The process exit code of a command's result: the one place where codes
/// are decided (docs/exit-codes.md). `main` and the development binaries
/// exit with it; the panic hook with that of [`Error::Internal`].
pub fn exit_code(result: &Result<Exit>) -> i32 {
    match result {
        Ok(Exit::Success | Exit::RunEnded(Outcome::Completed)) => code::OK,
        Ok(Exit::ChecksFailed) => code::CHECK_FAILED,
        Ok(Exit::UnreadableInput) => code::INPUT,
        Ok(Exit::RunEnded(Outcome::Escalated)) => code::ESCALATED,
        Ok(Exit::RunEnded(Outcome::Failed)) => code::FAILED,
        Ok(Exit::RunEnded(Outcome::Aborted)) => code::ABORTED,
        Ok(Exit::RunSuspended) => code::SUSPENDED,
        Ok(Exit::WitnessFork) => code::WITNESS_FORK,
        Ok(Exit::WitnessConflict) => code::WITNESS_CONFLICT,
        Err(Error::Usage(_)) => code::USAGE,
        Err(Error::Input(_)) => code::INPUT,
        Err(Error::CheckFailed(_)) => code::CHECK_FAILED,
        Err(Error::Store { .. } | Error::Witness(_)) => code::STORE,
        Err(Error::Io { .. }) => code::IO,
        Err(Error::Internal(_)) => code::INTERNAL,
    }
}

/// An error under `--json`: one line on standard error (docs/json.md).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct ErrorJson {
    /// The message, as it would be printed without `--json`.
    pub error: String,
    /// The exit code (docs/exit-codes.md).
    pub code: i32,
}

/// Errors every layer can return to the CLI.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line is wrong: clap's message, with its usage line.
    #[error("{0}")]
    Usage(String),
    /// Input the user can fix: message already says what, where and what to do.
    #[error("{0}")]
    Input(String),
    /// A check failed; the report has already been printed.
    #[error("{0}")]
    CheckFailed(String),
    /// The evidence log cannot be used.
    #[error("evidence log {path}: {message}")]
    Store { path: PathBuf, message: String },
    /// File-system trouble outside the log.
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    /// A witness's state file or key cannot be used (the message names it).
    #[error("{0}")]
    Witness(String),
    /// Something that should not happen.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// An I/O error on a path, with the OS message.
    pub fn io(path: impl Into<PathBuf>, err: &std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            message: err.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Each line: an example, the pattern of the variant it stands for, and
    /// the code docs/exit-codes.md gives it. The patterns make one match with
    /// no wildcard, so a new `Exit`, `Error` or `Outcome` variant does not
    /// compile until a line here gives it an example and its documented code.
    macro_rules! documented {
        ($($example:expr, $variant:pat => $code:expr;)*) => {{
            fn listed(r: &Result<Exit>) {
                match r {
                    $($variant => {})*
                }
            }
            let cases: Vec<Case> = vec![$((
                $example,
                |r: &Result<Exit>| matches!(r, $variant),
                $code,
            )),*];
            for (example, _, _) in &cases {
                listed(example);
            }
            cases
        }};
    }

    /// An example, a test that a result is of the example's variant, and the
    /// documented code.
    type Case = (Result<Exit>, fn(&Result<Exit>) -> bool, i32);

    /// Every `Exit` and `Error` variant (every run outcome too), an example of
    /// each, and its documented code.
    fn cases() -> Vec<Case> {
        let s = String::new;
        documented! {
            Ok(Exit::Success), Ok(Exit::Success) => 0;
            Ok(Exit::ChecksFailed), Ok(Exit::ChecksFailed) => 1;
            Ok(Exit::UnreadableInput), Ok(Exit::UnreadableInput) => 3;
            Ok(Exit::RunEnded(Outcome::Completed)), Ok(Exit::RunEnded(Outcome::Completed)) => 0;
            Ok(Exit::RunEnded(Outcome::Escalated)), Ok(Exit::RunEnded(Outcome::Escalated)) => 11;
            Ok(Exit::RunEnded(Outcome::Failed)), Ok(Exit::RunEnded(Outcome::Failed)) => 12;
            Ok(Exit::RunEnded(Outcome::Aborted)), Ok(Exit::RunEnded(Outcome::Aborted)) => 13;
            Ok(Exit::RunSuspended), Ok(Exit::RunSuspended) => 10;
            Ok(Exit::WitnessFork), Ok(Exit::WitnessFork) => 8;
            Ok(Exit::WitnessConflict), Ok(Exit::WitnessConflict) => 9;
            Err(Error::Usage(s())), Err(Error::Usage(_)) => 2;
            Err(Error::Input(s())), Err(Error::Input(_)) => 3;
            Err(Error::CheckFailed(s())), Err(Error::CheckFailed(_)) => 1;
            Err(Error::Store { path: PathBuf::new(), message: s() }), Err(Error::Store { .. }) => 4;
            Err(Error::Io { path: PathBuf::new(), message: s() }), Err(Error::Io { .. }) => 5;
            Err(Error::Witness(s())), Err(Error::Witness(_)) => 4;
            Err(Error::Internal(s())), Err(Error::Internal(_)) => 70;
        }
    }

    #[test]
    fn every_exit_and_every_error_has_its_documented_code() {
        let cases = cases();
        for (example, is_variant, documented) in &cases {
            assert!(
                is_variant(example),
                "{example:?} is not the variant of its line"
            );
            assert_eq!(exit_code(example), *documented, "{example:?}");
        }
        assert_eq!(Exit::checked(true), Exit::Success);
        assert_eq!(Exit::checked(false), Exit::ChecksFailed);
    }

    #[test]
    fn docs_exit_codes_lists_exactly_the_codes_runsheet_exits_with() {
        const DOC: &str = include_str!("../docs/exit-codes.md");
        let listed: std::collections::BTreeSet<i32> = DOC
            .lines()
            .filter_map(|l| l.strip_prefix("| ")?.split(" |").next()?.parse().ok())
            .collect();
        let used: std::collections::BTreeSet<i32> = cases()
            .iter()
            .map(|(example, _, _)| exit_code(example))
            .collect();
        assert_eq!(listed, used, "docs/exit-codes.md's table");
        let in_man: std::collections::BTreeSet<i32> = code::ALL.iter().map(|(c, _)| *c).collect();
        assert_eq!(in_man, used, "code::ALL (the man pages' EXIT STATUS)");
    }
}
