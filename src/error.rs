//! The crate's error type and the one function that maps errors and outcomes
//! to exit codes (documented in docs/exit-codes.md).
//!
//! May not depend on the TUI or the front ends.

use std::path::PathBuf;

/// Exit codes. Keep in sync with docs/exit-codes.md.
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
}

/// Errors every layer can return to the CLI.
#[derive(Debug, thiserror::Error)]
pub enum Error {
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
    /// The process exit code for this error.
    pub fn code(&self) -> i32 {
        match self {
            Error::Input(_) => code::INPUT,
            Error::CheckFailed(_) => code::CHECK_FAILED,
            Error::Store { .. } => code::STORE,
            Error::Io { .. } => code::IO,
            Error::Witness(_) => code::STORE,
            Error::Internal(_) => code::INTERNAL,
        }
    }

    /// An I/O error on a path, with the OS message.
    pub fn io(path: impl Into<PathBuf>, err: &std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            message: err.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
