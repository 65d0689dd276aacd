//! The event kinds the evidence log holds: those of a run (written by the
//! engine through the session) and those of the log itself. Verify refuses a
//! record of any other kind: nothing but runsheet writes to the log.
//!
//! The names come from the run's vocabulary ([`crate::vocab::EventKind`]);
//! this module says which of them the log treats how. May not depend on
//! anything but `vocab`.

use crate::vocab::EventKind;

/// First event of every run (the engine's `Event::RunStarted`).
pub const KIND_RUN_STARTED: &str = EventKind::RunStarted.as_str();
/// Last event of an ended run (the engine's `Event::RunEnded`).
pub const KIND_RUN_ENDED: &str = EventKind::RunEnded.as_str();
/// First event of a log created by schema 3 or later: the log's identity.
pub const KIND_LOG_CREATED: &str = EventKind::LogCreated.as_str();
/// A recorded schema migration (the only way a log's schema changes).
pub const KIND_SCHEMA_MIGRATED: &str = EventKind::SchemaMigrated.as_str();
/// An audit bundle export: who exported what, when, with every file's hash.
pub const KIND_EXPORT: &str = EventKind::Export.as_str();
/// The log's origin and the public key its checkpoints are signed with
/// (docs/custody.md): written once, when the log is created or migrated to schema 4.
pub const KIND_LOG_KEY: &str = EventKind::LogKey.as_str();
/// A custodian's verifier key, registered for signing redactions
/// (`runsheet custodian add`; docs/evidence-schema.md, "Content and redaction").
pub const KIND_CUSTODIAN_ADDED: &str = EventKind::CustodianAdded.as_str();
/// A signed, recorded redaction: one event's content was erased (`runsheet redact`).
pub const KIND_REDACTION: &str = EventKind::Redaction.as_str();

/// A recorded approval of one exact procedure source (`runsheet approve`).
pub const KIND_PROCEDURE_APPROVED: &str = EventKind::ProcedureApproved.as_str();
/// A recorded review of a procedure version (`runsheet review`).
pub const KIND_PROCEDURE_REVIEWED: &str = EventKind::ProcedureReviewed.as_str();

/// The payload member that commits to an event's content kept in `contents`.
pub const CONTENT_SHA256: &str = "content_sha256";

/// The payload member a session adds to every run event it records besides
/// the engine's event: milliseconds since the session began on the
/// monotonic clock (clock provenance, docs/evidence-schema.md).
pub const ELAPSED_MS: &str = "elapsed_ms";

/// The run event kinds that have redactable content (see [`content_fields`]).
pub const CONTENT_KINDS: [&str; 4] = [
    EventKind::NoteAdded.as_str(),
    EventKind::ValueRecorded.as_str(),
    EventKind::EvidenceRecorded.as_str(),
    EventKind::CommandRan.as_str(),
];

/// The members of a run event's payload that are its *content* (what a
/// redaction may erase): note text, recorded values, evidence and command
/// output, never identity, kind, step, time, outcome or procedure source.
/// `None` for a kind with no redactable content. Since schema 5 runsheet
/// keeps these members in `contents`, committed to by a salted hash.
pub fn content_fields(kind: &[u8]) -> Option<&'static [&'static str]> {
    match EventKind::from_bytes(kind)? {
        EventKind::NoteAdded => Some(&["text"]),
        EventKind::ValueRecorded => Some(&["value"]),
        EventKind::EvidenceRecorded => Some(&["evidence"]),
        // The output's own SHA-256 goes with it: a short output could be
        // guessed back from an unsalted hash.
        EventKind::CommandRan => Some(&["output", "output_sha256"]),
        _ => None,
    }
}

/// Every kind a run's events have, as the engine names them (a test in
/// `session` checks this list against the engine's events).
pub const RUN_KINDS: [&str; 24] = names(EventKind::RUN);

/// Every kind a log event (one that belongs to no run) has.
pub const LOG_KINDS: [&str; 8] = names(EventKind::LOG);

const fn names<const N: usize>(kinds: [EventKind; N]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = kinds[i].as_str();
        i += 1;
    }
    out
}

/// The events whose write also makes a signed checkpoint, in the same
/// transaction (docs/custody.md, "Signed checkpoints"): a run's end and
/// suspension, an export, a custodian's registration and a redaction. Each is the last record of its transaction,
/// so that checkpoint's tree size is the record's seq.
/// A custodian's registration and a redaction are signed too: without the
/// log's key neither can be forged into the log (rule 16 asks for it).
pub const CHECKPOINT_KINDS: [&str; 7] = [
    KIND_RUN_ENDED,
    KIND_SUSPENDED,
    KIND_EXPORT,
    KIND_CUSTODIAN_ADDED,
    KIND_REDACTION,
    KIND_PROCEDURE_APPROVED,
    KIND_PROCEDURE_REVIEWED,
];

/// A run's suspension (the operator stopped; the run can be resumed).
pub const KIND_SUSPENDED: &str = EventKind::Suspended.as_str();

/// Is a verified record of `kind` (a run's event when `in_run`) one the log
/// always holds a signed checkpoint of exactly its seq for, once it has a
/// key (docs/custody.md rule 16): the kinds in [`CHECKPOINT_KINDS`] and the
/// `log-key` event itself (signed when the log was created or upgraded).
/// Its name when it is. (Called for every record verify walks: a match, not
/// a search.)
pub fn own_checkpoint_kind(kind: &[u8], in_run: bool) -> Option<&'static str> {
    let k = EventKind::from_bytes(kind).filter(|k| k.in_run() == in_run)?;
    matches!(
        k,
        EventKind::RunEnded
            | EventKind::Suspended
            | EventKind::Export
            | EventKind::CustodianAdded
            | EventKind::Redaction
            | EventKind::ProcedureApproved
            | EventKind::ProcedureReviewed
            | EventKind::LogKey
    )
    .then(|| k.as_str())
}

/// Is `kind` one runsheet writes for a run's event (`in_run`) or a log event?
/// (Called for every record verify walks: a match, not a search.)
pub fn is_known(kind: &[u8], in_run: bool) -> bool {
    EventKind::from_bytes(kind).is_some_and(|k| k.in_run() == in_run)
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
        for k in CHECKPOINT_KINDS {
            let in_run = RUN_KINDS.contains(&k);
            assert!(in_run || LOG_KINDS.contains(&k), "{k}");
            assert!(own_checkpoint_kind(k.as_bytes(), in_run) == Some(k), "{k}");
        }
        assert!(own_checkpoint_kind(KIND_LOG_KEY.as_bytes(), false).is_some());
        for k in RUN_KINDS.iter().chain(&LOG_KINDS) {
            let listed = CHECKPOINT_KINDS.contains(k) || *k == KIND_LOG_KEY;
            let in_run = RUN_KINDS.contains(k);
            assert_eq!(
                own_checkpoint_kind(k.as_bytes(), in_run).is_some(),
                listed,
                "{k}"
            );
        }
        for k in RUN_KINDS.iter().chain(&LOG_KINDS) {
            assert_eq!(
                content_fields(k.as_bytes()).is_some(),
                CONTENT_KINDS.contains(k) && RUN_KINDS.contains(k),
                "{k}"
            );
        }
        for k in ["redactions", "", "run-started ", "Run-started"] {
            assert!(
                !is_known(k.as_bytes(), true) && !is_known(k.as_bytes(), false),
                "{k}"
            );
        }
    }
}
