//! Store errors: what went wrong with the evidence log and what to do about it,
//! and the mapping from SQLite result codes.
//!
//! May not depend on anything outside the store except `crate::error`.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

/// Why the evidence log could not be used. Messages say what and what to do;
/// the log's path is added by the conversion to [`crate::error::Error`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process held the write lock past the busy timeout.
    #[error(
        "the evidence log is locked by another runsheet process; nothing was written. Wait for it to finish and retry"
    )]
    Locked { path: PathBuf },
    /// The file (or its directory) cannot be written.
    #[error(
        "the evidence log is read-only; nothing was written. Make the file and its directory writable, or pass a writable --db"
    )]
    ReadOnly { path: PathBuf },
    /// The disk, or the log's configured size limit, is full.
    #[error(
        "the disk (or the evidence log's size limit) is full; nothing was written. Free some space and retry"
    )]
    Full { path: PathBuf },
    /// The file is damaged, or is not a runsheet evidence log.
    #[error(
        "the file is damaged or is not a runsheet evidence log ({detail}); restore it from a backup or pass another --db"
    )]
    Corrupt { path: PathBuf, detail: String },
    /// Another live session drives this run.
    #[error(
        "run {run} is being driven by another runsheet session: {holder}. Only one session may drive a run at a time; nothing was written. Continue or suspend it there; if that session is stuck, end its process: the next `runsheet resume {run}` then takes the run up and records the recovery"
    )]
    RunBusy {
        path: PathBuf,
        run: uuid::Uuid,
        holder: String,
    },
    /// Another session recorded events for the run since this writer last
    /// knew it (a second person's sign-off from their own login).
    #[error(
        "run {run} changed in the evidence log since this session last read it (another session recorded an event for it); nothing was written. Read the run again and retry"
    )]
    RunChanged { path: PathBuf, run: uuid::Uuid },
    /// A log read without locks kept changing under the reader.
    #[error(
        "the evidence log changed several times while it was being read; nothing is shown. Retry when the runs writing to it are idle"
    )]
    Busy { path: PathBuf },
    /// A SQLite database of some other program.
    #[error(
        "the file is a SQLite database, but not a runsheet evidence log; it was left unchanged. Pass the log's path with --db"
    )]
    Foreign { path: PathBuf },
    /// An older schema that only a command that writes (and records the
    /// upgrade) can bring up to date; a read-only open cannot.
    #[error(
        "the evidence log has schema version {found}, which this runsheet can read only after an upgrade; the upgrade is recorded by the next command that writes to the log (run, resume, export) on a writable copy"
    )]
    NeedsUpgrade { path: PathBuf, found: i64 },
    /// Written by a newer runsheet with a schema this one does not know.
    #[error(
        "the evidence log has schema version {found}, but this runsheet knows versions up to {known}; use a newer runsheet"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// A read command was pointed at a log that does not exist.
    #[error(
        "no evidence log exists here yet; run a procedure first, or pass --db (or set RUNSHEET_DB) to the log's path"
    )]
    NoLog { path: PathBuf },
    /// No run (or record) matches what the user asked for.
    #[error("{0}")]
    NotFound(String),
    /// A run id prefix matches more than one run.
    #[error("{0}")]
    Ambiguous(String),
    /// A checkpoint file that cannot be read as one.
    #[error("{0}")]
    BadCheckpoint(String),
    /// runsheet asked the store to write something inconsistent (a bug); nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// The user asked for a change the log does not allow as asked (the
    /// message says why and what to do); nothing was written.
    #[error("{0}")]
    Refused(String),
    /// The log's signing key cannot be used (missing, another log's, unreadable).
    #[error("{message}")]
    Key { path: PathBuf, message: String },
    /// A file-system operation around the log failed (creating its directory or file).
    #[error("{message}")]
    Io { path: PathBuf, message: String },
    /// Any other SQLite failure.
    #[error("SQLite error: {message}")]
    Sqlite { path: PathBuf, message: String },
}

impl StoreError {
    /// The evidence log the error is about, when it is about the log itself.
    pub fn path(&self) -> Option<&Path> {
        match self {
            StoreError::Locked { path }
            | StoreError::ReadOnly { path }
            | StoreError::Full { path }
            | StoreError::Corrupt { path, .. }
            | StoreError::Foreign { path }
            | StoreError::Busy { path }
            | StoreError::RunBusy { path, .. }
            | StoreError::RunChanged { path, .. }
            | StoreError::NeedsUpgrade { path, .. }
            | StoreError::NewerSchema { path, .. }
            | StoreError::NoLog { path }
            | StoreError::Io { path, .. }
            | StoreError::Key { path, .. }
            | StoreError::Sqlite { path, .. } => Some(path),
            StoreError::NotFound(_)
            | StoreError::Ambiguous(_)
            | StoreError::BadCheckpoint(_)
            | StoreError::Refused(_)
            | StoreError::Invalid(_) => None,
        }
    }

    /// Map a SQLite error on the log at `path` to the variant the user can act on.
    pub(crate) fn sqlite(path: &Path, err: rusqlite::Error) -> StoreError {
        let path = path.to_path_buf();
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Locked { path }
            }
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly { path },
            Some(ErrorCode::DiskFull) => StoreError::Full { path },
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt {
                path,
                detail: err.to_string(),
            },
            // A write the operating system refused (a full disk can show up as
            // this rather than SQLITE_FULL, e.g. with a file-size limit) or a
            // failing disk: say so in words, not as "disk I/O error".
            Some(ErrorCode::SystemIoFailure) => StoreError::Io {
                path,
                message: format!(
                    "the operating system refused to read or write the evidence log ({err}); nothing was written. Check that the disk is not full or failing and that the file is writable, then retry"
                ),
            },
            Some(ErrorCode::CannotOpen) => StoreError::Io {
                path,
                message: format!(
                    "cannot open the evidence log ({err}); check that the file and its directory exist and are readable and writable"
                ),
            },
            _ => StoreError::Sqlite {
                path,
                message: err.to_string(),
            },
        }
    }
}

impl From<StoreError> for crate::error::Error {
    fn from(err: StoreError) -> Self {
        use crate::error::Error;
        match err {
            StoreError::NotFound(m)
            | StoreError::Ambiguous(m)
            | StoreError::BadCheckpoint(m)
            | StoreError::Refused(m) => Error::Input(m),
            StoreError::Invalid(m) => Error::Internal(m),
            other => {
                let path = other.path().map(Path::to_path_buf).unwrap_or_default();
                Error::Store {
                    path,
                    message: other.to_string(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, code, exit_code};

    #[test]
    fn store_errors_map_to_exit_codes_with_the_path() {
        let e: Error = StoreError::Locked {
            path: PathBuf::from("/x/evidence.sqlite3"),
        }
        .into();
        let text = e.to_string();
        assert_eq!(exit_code(&Err(e)), code::STORE);
        assert!(
            text.starts_with("evidence log /x/evidence.sqlite3: "),
            "{text}"
        );
        assert!(
            text.contains("locked by another runsheet process"),
            "{text}"
        );

        let e: Error = StoreError::NotFound("no run matches \"abc\"".into()).into();
        assert_eq!(exit_code(&Err(e)), code::INPUT);
        let e: Error = StoreError::Invalid("bug".into()).into();
        assert_eq!(exit_code(&Err(e)), code::INTERNAL);
    }
}
