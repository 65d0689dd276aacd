//! The signed part of a bundle (docs/audit-bundle.md#signed-bundles-and-sample-packets):
//! `checkpoint`, the log's signed checkpoint made in the same transaction as
//! the export record, with its cosignatures; `export.tlog-proof`, the export
//! record's inclusion in it; for a sample packet, `proofs/seq-N.tlog-proof`
//! for every event of the sampled runs; and `manifest.sig`, the manifest's
//! SHA-256 signed with the log's key.
//!
//! May use the store, `custody` and the proofs; may not depend on the front
//! ends or the app.

use std::path::Path;

use uuid::Uuid;

use super::super::manifest::FileEntry;
use super::super::proofs::{event_leaf, run_proofs};
use crate::custody::checkpoint::SignedCheckpoint;
use crate::custody::merkle;
use crate::custody::proof_text::TlogProof;
use crate::error::{Error, Result};
use crate::store::{Store, StoredEvent};

/// The bundle file holding the signed checkpoint.
pub const CHECKPOINT_FILE: &str = "checkpoint";
/// The bundle file proving the export record is in that checkpoint.
pub const EXPORT_PROOF_FILE: &str = "export.tlog-proof";
/// The manifest's signature (a signed note).
pub const MANIFEST_SIG_FILE: &str = "manifest.sig";
/// The directory of a sample packet's inclusion proofs.
pub const PROOFS_DIR: &str = "proofs";
/// The first line of the manifest signature's note text.
pub const MANIFEST_NOTE_TAG: &str = "runsheet-bundle-manifest/v1";

/// The log's signed checkpoint at the export record, as the bundle carries it.
pub struct BundleCheckpoint {
    /// The note with its cosignatures, verbatim.
    pub note: String,
    pub signed: SignedCheckpoint,
}

/// The signed checkpoint of exactly `seq` records (made with the export
/// record, in its transaction): `Err(why)` when there is none (its signing
/// failed; the export is recorded all the same).
pub fn checkpoint_at(
    store: &mut Store,
    seq: i64,
) -> Result<std::result::Result<BundleCheckpoint, String>> {
    if let Some(why) = store.take_custody_warning() {
        return Ok(Err(why));
    }
    let size = u64::try_from(seq).unwrap_or(0);
    let Some(cp) = store.checkpoint_of_size(size)? else {
        return Ok(Err(format!(
            "the log holds no signed checkpoint of {size} records (the one made with the export record)"
        )));
    };
    let note = store.cosigned_note(&cp)?;
    let signed = SignedCheckpoint::parse(&note)
        .map_err(|e| Error::Internal(format!("the log's own checkpoint: {e}")))?;
    Ok(Ok(BundleCheckpoint { note, signed }))
}

/// Have `w` cosign the checkpoint of `size` records (the latest: the one
/// made with the export record), as `runsheet cosign --via` does. A witness
/// that refuses it (a fork) or fails stops the export.
pub fn cosign(store: &mut Store, w: &super::CosignWith, size: i64) -> Result<()> {
    use crate::witness::client::{self, ViaOutcome};
    client::check_witness_key(&w.witness)?;
    match client::via(store, &w.witness, &w.via, |l| {
        eprintln!("witness: {}", crate::text::sanitize_line(l));
    })? {
        ViaOutcome::Cosigned { added, .. }
            if added
                .stored
                .iter()
                .any(|(s, _)| i64::try_from(*s).ok() == Some(size)) =>
        {
            Ok(())
        }
        ViaOutcome::Cosigned { .. } => Err(Error::CheckFailed(format!(
            "the witness {} returned no cosignature of the export's checkpoint ({size} records)",
            w.witness.to_vkey()
        ))),
        ViaOutcome::Fork { request, .. } => Err(Error::CheckFailed(format!(
            "the witness {} REFUSED the export's checkpoint of {} records as a FORK of the tree of {} records it cosigned before: the log was rewritten (see `runsheet verify --witness`)",
            w.witness.to_vkey(),
            request.new,
            request.old
        ))),
    }
}

/// `export.tlog-proof`: the export record (the text of export.json as
/// `extra`) is leaf `seq − 1` of the checkpoint's tree. Verified first.
pub fn export_proof(
    store: &Store,
    record: &StoredEvent,
    export_json: &str,
    cp: &BundleCheckpoint,
) -> Result<String> {
    let c = cp.signed.checkpoint();
    let index = u64::try_from(record.seq - 1).unwrap_or(u64::MAX);
    let proof = store.inclusion_proof(record.seq, c.size())?;
    let leaf = event_leaf(&record.hash)
        .ok_or_else(|| Error::Internal("the export record has no readable hash".into()))?;
    merkle::verify_inclusion(&leaf, index, c.size(), &proof, c.root()).map_err(|why| {
        Error::Internal(format!(
            "the log's tree does not prove its own export record ({why}); run `runsheet verify`"
        ))
    })?;
    Ok(TlogProof {
        extra: Some(export_json.as_bytes().to_vec()),
        index,
        proof,
        checkpoint: cp.note.clone(),
    }
    .format())
}

/// `proofs/seq-N.tlog-proof` for every event of the sampled runs, written
/// under `dir` with `write` (which hashes each file): the files written.
pub fn sample_proofs(
    store: &Store,
    runs: &[Uuid],
    cp: &BundleCheckpoint,
    dir: &Path,
    mut write: impl FnMut(&Path, &str, &str) -> Result<FileEntry>,
) -> Result<Vec<FileEntry>> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let proofs_dir = dir.join(PROOFS_DIR);
    std::fs::create_dir(&proofs_dir).map_err(|e| Error::io(&proofs_dir, &e))?;
    let mut files = Vec::new();
    for run in runs {
        for p in run_proofs(store, *run, &cp.signed, &cp.note)? {
            files.push(write(
                dir,
                &format!("{PROOFS_DIR}/seq-{}.tlog-proof", p.seq),
                &p.text,
            )?);
        }
    }
    Ok(files)
}

/// The note text `manifest.sig` signs: the tag, the log's origin, and the
/// manifest's SHA-256.
pub fn manifest_note_text(origin: &str, manifest_sha256: &str) -> String {
    format!("{MANIFEST_NOTE_TAG}\n{origin}\n{manifest_sha256}\n")
}
