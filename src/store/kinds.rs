//! The event kinds the evidence log holds: those of a run (written by the
//! engine through the session) and those of the log itself. Verify refuses a
//! record of any other kind: nothing but runsheet writes to the log.
//!
//! Plain constants. May not depend on anything.

/// First event of every run (the engine's `Event::RunStarted`).
pub const KIND_RUN_STARTED: &str = "run-started";
/// Last event of an ended run (the engine's `Event::RunEnded`).
pub const KIND_RUN_ENDED: &str = "run-ended";
/// First event of a log created by schema 3 or later: the log's identity.
pub const KIND_LOG_CREATED: &str = "log-created";
/// A recorded schema migration (the only way a log's schema changes).
pub const KIND_SCHEMA_MIGRATED: &str = "schema-migrated";
/// An audit bundle export: who exported what, when, with every file's hash.
pub const KIND_EXPORT: &str = "export";
/// The log's origin and the public key its checkpoints are signed with
/// (docs/custody.md): written once, when the log is created or migrated to schema 4.
pub const KIND_LOG_KEY: &str = "log-key";

/// Every kind a run's events have, as the engine names them (a test in
/// `session` checks this list against the engine's events).
pub const RUN_KINDS: &[&str] = &[
    KIND_RUN_STARTED,
    "warnings-acknowledged",
    "step-started",
    "step-confirmed",
    "decision-answered",
    "value-recorded",
    "evidence-recorded",
    "command-ran",
    "note-added",
    "signed-off",
    "step-skipped",
    "step-failed",
    "branch-ended",
    "suspended",
    "resumed",
    KIND_RUN_ENDED,
];

/// Every kind a log event (one that belongs to no run) has.
pub const LOG_KINDS: &[&str] = &[
    KIND_LOG_CREATED,
    KIND_SCHEMA_MIGRATED,
    KIND_EXPORT,
    KIND_LOG_KEY,
];

/// Is `kind` one runsheet writes for a run's event (`in_run`) or a log event?
/// (Called for every record verify walks: a match, not a search.)
pub fn is_known(kind: &[u8], in_run: bool) -> bool {
    if in_run {
        matches!(
            kind,
            b"run-started"
                | b"warnings-acknowledged"
                | b"step-started"
                | b"step-confirmed"
                | b"decision-answered"
                | b"value-recorded"
                | b"evidence-recorded"
                | b"command-ran"
                | b"note-added"
                | b"signed-off"
                | b"step-skipped"
                | b"step-failed"
                | b"branch-ended"
                | b"suspended"
                | b"resumed"
                | b"run-ended"
        )
    } else {
        matches!(
            kind,
            b"log-created" | b"schema-migrated" | b"export" | b"log-key"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_match_knows_exactly_the_listed_kinds() {
        for k in RUN_KINDS {
            assert!(
                is_known(k.as_bytes(), true) && !is_known(k.as_bytes(), false),
                "{k}"
            );
        }
        for k in LOG_KINDS {
            assert!(
                is_known(k.as_bytes(), false) && !is_known(k.as_bytes(), true),
                "{k}"
            );
        }
        for k in ["redaction", "", "run-started ", "Run-started"] {
            assert!(
                !is_known(k.as_bytes(), true) && !is_known(k.as_bytes(), false),
                "{k}"
            );
        }
    }
}
