//! runsheet: walk an operator through a documented operating procedure and keep
//! tamper-evident evidence that it was followed (ISO/IEC 27001:2022 A.5.37).
//!
//! Layers, from the bottom up (a layer may use the ones above it in this list, never below):
//! - [`vocab`]: the run's words with one string form each: event kinds, outcomes, deviations,
//!   the operator's identity. Depends on nothing in the crate.
//! - [`procedure`]: the procedure model, parsing with spans, lint, render. No IO beyond reading files.
//! - [`engine`]: a run as a pure state machine (commands in, events out). No IO, clock or terminal.
//! - [`clock`]: the kernel's clock synchronisation state (one read-only `adjtimex` call).
//! - [`custody`]: the RFC 9162 tree, C2SP signed notes, checkpoints, cosignatures and proof
//!   texts, as pure functions over bytes; private key files are its only IO.
//! - [`store`]: the SQLite evidence log: schema, migrations, hash-chained append, verify.
//! - [`report`]: runs and events for people: the `runs` table, `show` timelines, `status` with
//!   its cadence calendar, and the words for each event that the bundle's reports use too.
//! - [`export`]: audit bundles (HTML, CSV, JSON, Markdown, manifest, signed part) over the store,
//!   `verify-bundle`, and proofs out of the log.
//! - [`approval`]: the texts an approver signs and who performs an approval or review
//!   (login or SSH signature, role from the allowed-signers file); uses [`signoff`].
//! - [`session`]: decide, persist, then apply — the one path front ends act through.
//! - [`runner`]: running a step's command as a child process, output capped and hashed.
//! - [`tui`] and [`plain`]: the two front ends over a session.
//! - [`out`]: the one path to stdout and stderr (sanitized, quiet on a closed pipe) and the panic hook.
//! - [`anchor`]: a signed checkpoint put out of the log writers' reach (QR text, a file, git).
//! - [`witness`]: a witness's state and `add-checkpoint` (cosigning other logs), and the
//!   log's side that sends its checkpoints to witnesses and stores their cosignatures.
//! - [`app`]: the one place that wires paths, store, engine, front ends and exports to the CLI.
//! - `testdata` (tests and the `test-data` feature only, never in `runsheet`):
//!   generated logs, marked as test data, for tests, benchmarks and demos.

pub mod anchor;
pub mod app;
pub mod approval;
pub mod cli;
pub mod clock;
pub mod config;
pub mod custody;
pub mod drafts;
pub mod engine;
pub mod error;
pub mod export;
pub mod feed;
pub mod keys;
pub mod out;
pub mod plain;
pub mod procedure;
pub mod report;
pub mod runner;
pub mod session;
pub mod signoff;
pub mod store;
#[cfg(any(test, feature = "test-data"))]
pub mod testdata;
pub mod text;
pub mod tui;
pub mod vocab;
pub mod witness;
