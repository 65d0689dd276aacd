//! The one place that wires paths, store, engine, front ends and exports to the CLI.
//!
//! May be used only by `main.rs`.

use crate::cli::Cli;
use crate::error::{Error, Result};

/// Run one CLI invocation; returns the exit code.
pub fn run(cli: Cli) -> Result<i32> {
    Err(Error::Internal(format!(
        "{:?} is not wired yet",
        cli.command
    )))
}
