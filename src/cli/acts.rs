//! The arguments of `approve` and `review` (docs/approval.md): clap derive only.
//!
//! May depend only on clap.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Args)]
pub struct ApproveArgs {
    /// Procedure id, file name or path (as `run` takes it)
    pub procedure: String,
    #[command(flatten)]
    pub proof: ActProof,
}

/// How the approver proves who they are (docs/approval.md), for `approve`
/// and `review`.
#[derive(Debug, Clone, Args)]
pub struct ActProof {
    /// Print the exact text to sign with your SSH key, and nothing else (pipe it to `ssh-keygen -Y sign`)
    #[arg(long, conflicts_with = "signature")]
    pub text: bool,
    /// Sign with this SSH signature file over that text instead of as your login
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,
    /// The allowed-signers file that gives people the approver role [default: allowed_signers in the procedures folder]
    #[arg(long, env = "RUNSHEET_ALLOWED_SIGNERS", value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
}

/// What a review found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReviewOutcome {
    /// The procedure is still suitable as it is
    Unchanged,
    /// The procedure needs a change: edit it, bump its version and approve the new content
    Changed,
}

#[derive(Debug, Clone, Args)]
pub struct ReviewArgs {
    /// Procedure id, file name or path (the version reviewed is the file's current content)
    pub procedure: String,
    /// What the review found
    #[arg(long, value_enum)]
    pub outcome: ReviewOutcome,
    /// What was reviewed and why this outcome (one line; recorded)
    #[arg(long, value_name = "TEXT")]
    pub note: String,
    /// The next review date (YYYY-MM-DD, after today) [default: today plus the procedure's review_every_months, else 12 months]
    #[arg(long, value_name = "DATE")]
    pub next: Option<String>,
    #[command(flatten)]
    pub proof: ActProof,
}
