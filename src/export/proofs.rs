//! Proofs out of the log (docs/custody.md#proofs): a run's events as C2SP
//! tlog-proofs against a signed checkpoint, and a consistency proof from an
//! earlier checkpoint as the body of tlog-witness's `add-checkpoint`. Every
//! proof is verified against the checkpoint's root before it is handed out.
//!
//! May use the store and `custody`; may not depend on the front ends, the
//! session, `cli` or `app`.

use std::path::Path;

use uuid::Uuid;

use super::json::write_event;
use crate::custody::checkpoint::SignedCheckpoint;
use crate::custody::merkle::{self, Hash};
use crate::custody::proof_text::{AddCheckpoint, TlogProof};
use crate::error::{Error, Result};
use crate::store::{EventRef, Store};

/// The leaf hash of an exported event: SHA-256(0x00 ‖ its record hash's 32 bytes).
pub fn event_leaf(hash_hex: &str) -> Option<Hash> {
    let mut raw = [0u8; 32];
    hex::decode_to_slice(hash_hex, &mut raw).ok()?;
    Some(merkle::leaf_hash(&raw))
}

/// One event's proof: its seq and the tlog-proof text.
pub struct EventProof {
    pub seq: i64,
    pub text: String,
}

fn store_error(log: &Path, message: String) -> Error {
    Error::Store {
        path: log.to_path_buf(),
        message,
    }
}

/// The tlog-proof of one exported event against `checkpoint` (whose note,
/// `note`, is embedded verbatim): `extra` is the event's JSON as evidence.json
/// holds it. Verified before it is returned.
pub fn event_proof(
    store: &Store,
    e: &EventRef<'_>,
    checkpoint: &SignedCheckpoint,
    note: &str,
) -> Result<EventProof> {
    let size = checkpoint.checkpoint().size();
    let index = u64::try_from(e.seq - 1).unwrap_or(u64::MAX);
    let proof = store.inclusion_proof(e.seq, size)?;
    let leaf = event_leaf(e.hash).ok_or_else(|| {
        store_error(
            store.path(),
            format!(
                "event seq {} has no readable record hash; run `runsheet verify`",
                e.seq
            ),
        )
    })?;
    merkle::verify_inclusion(&leaf, index, size, &proof, checkpoint.checkpoint().root())
        .map_err(|why| {
            store_error(
                store.path(),
                format!(
                    "the stored tree does not prove event seq {} against the signed checkpoint of {size} records ({why}); nothing was written. Run `runsheet verify`",
                    e.seq
                ),
            )
        })?;
    let mut extra = Vec::with_capacity(512);
    write_event(&mut extra, e).map_err(|err| Error::io("<memory>", &err))?;
    let text = TlogProof {
        extra: Some(extra),
        index,
        proof,
        checkpoint: note.to_string(),
    }
    .format();
    Ok(EventProof { seq: e.seq, text })
}

/// The tlog-proofs of every event of `run` against the checkpoint.
pub fn run_proofs(
    store: &Store,
    run: Uuid,
    checkpoint: &SignedCheckpoint,
    note: &str,
) -> Result<Vec<EventProof>> {
    let size = checkpoint.checkpoint().size();
    let mut proofs = Vec::new();
    store.for_each_event_of_run(run, |e| {
        if u64::try_from(e.seq).unwrap_or(u64::MAX) > size {
            return Err(Error::Input(format!(
                "event seq {} of run {run} is not in the signed checkpoint of {size} records; sign a newer one with `runsheet checkpoint --sign`",
                e.seq
            )));
        }
        proofs.push(event_proof(store, e, checkpoint, note)?);
        Ok(())
    })?;
    Ok(proofs)
}

/// The consistency proof from `old` (a checkpoint of this log kept
/// elsewhere) to `new` (the log's latest, whose note is `new_note`): the
/// body of an `add-checkpoint` request. Refused when `old` is not a tree this
/// log extends.
pub fn consistency(
    store: &Store,
    old: &SignedCheckpoint,
    new: &SignedCheckpoint,
    new_note: &str,
) -> Result<String> {
    let (o, n) = (old.checkpoint(), new.checkpoint());
    if o.origin() != n.origin() {
        return Err(Error::Input(format!(
            "the checkpoint is of the log {:?}, not of this one ({:?})",
            o.origin(),
            n.origin()
        )));
    }
    if o.size() > n.size() {
        return Err(Error::CheckFailed(format!(
            "the checkpoint covers {} records but the log's latest signed checkpoint only {}: the log was cut short (run `runsheet verify --trusted` with it)",
            o.size(),
            n.size()
        )));
    }
    let proof = store.consistency_proof(o.size(), n.size())?;
    merkle::verify_consistency(o.size(), n.size(), o.root(), n.root(), &proof).map_err(|why| {
        Error::CheckFailed(format!(
            "the log is not an extension of that checkpoint ({why}): its first {} records were changed; run `runsheet verify --trusted` with it",
            o.size()
        ))
    })?;
    Ok(AddCheckpoint {
        old_size: o.size(),
        proof,
        checkpoint: new_note.to_string(),
    }
    .format())
}
