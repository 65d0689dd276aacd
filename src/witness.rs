//! Witnesses (docs/custody.md#witnesses-runsheet-witness-and-runsheet-cosign):
//! the witness side of C2SP tlog-witness's `add-checkpoint` over its own
//! SQLite state file and cosigner key ([`state`]), and the log side that
//! sends a log's checkpoint to a witness and stores the cosignatures it
//! returns ([`client`]). No HTTP: a request body goes in on standard input or
//! from a file, and the answer comes back on standard output with an exit
//! code standing for the protocol's status code (so ssh is the transport).
//!
//! May use `custody`, `store`, `error` and `text`; may not depend on the
//! engine, the front ends, `cli` or `app`.

use std::path::{Path, PathBuf};

pub mod client;
pub mod state;

#[cfg(test)]
mod tests;

pub use state::{CosignOutcome, LogStatus, WitnessState};

/// What a witness key file's name adds to the state file's:
/// `witness.sqlite3.key`.
pub const KEY_SUFFIX: &str = ".key";

/// `<platform data dir>/runsheet/witness.sqlite3`, when the platform has one.
pub fn default_state_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "runsheet")
        .map(|dirs| dirs.data_dir().join("witness.sqlite3"))
}

/// Where the cosigner key of the witness state at `state` is kept unless
/// configured otherwise: beside it, with `.key` added.
pub fn default_key_path(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_os_string();
    name.push(KEY_SUFFIX);
    PathBuf::from(name)
}

/// Why a witness command could not do its work. Every message says what,
/// where and what to do; none quotes key material.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The state file cannot be used (missing, locked, damaged, another kind
    /// of file, newer); exit 4.
    #[error("witness state {}: {message}", .path.display())]
    State { path: PathBuf, message: String },
    /// The cosigner key file cannot be used; exit 4.
    #[error("{0}")]
    Key(String),
    /// The request or an argument is wrong (unparsable body, unknown origin,
    /// a vkey that is not one); exit 3.
    #[error("{0}")]
    Input(String),
    /// The checkpoint's signature by the log's key does not verify (the
    /// protocol's 403); exit 1.
    #[error("{0}")]
    Signature(String),
}

impl From<WitnessError> for crate::error::Error {
    fn from(err: WitnessError) -> Self {
        use crate::error::Error;
        match err {
            e @ WitnessError::State { .. } => Error::Witness(e.to_string()),
            WitnessError::Key(m) => Error::Witness(m),
            WitnessError::Input(m) => Error::Input(m),
            WitnessError::Signature(m) => Error::CheckFailed(m),
        }
    }
}
