//! verify-bundle's check of a bundle's signed part
//! (docs/audit-bundle.md#signed-bundles-and-sample-packets), with no log:
//! the signed checkpoint (against `--key`, else the key the manifest names),
//! the witnesses' cosignatures (`--witness`), the export record's inclusion
//! proof, the manifest's signature, and a sample packet's inclusion proofs —
//! each event's own hashes, its inclusion in the checkpoint, and that the
//! sampled runs' events are all there.
//!
//! May not depend on the store's tables, the front ends or the app.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use serde_json::Value;

use super::super::bundle::EXPORT_FILE;
use super::super::bundle::signed::{
    CHECKPOINT_FILE, EXPORT_PROOF_FILE, MANIFEST_SIG_FILE, PROOFS_DIR, manifest_note_text,
};
use super::super::json::BundleEvent;
use super::super::manifest::{self, Manifest};
use super::super::proofs::event_leaf;
use super::{BundleProblem, BundleReport};
use crate::custody::checkpoint::SignedCheckpoint;
use crate::custody::merkle;
use crate::custody::note::{Note, Verifier};
use crate::custody::proof_text::TlogProof;
use crate::store::{RecordFormat, sha256_hex};

/// The fields of an event as evidence.json (and a proof's `extra`) holds it.
const EVENT_FIELDS: [&str; 11] = [
    "seq",
    "run_id",
    "run_seq",
    "at",
    "actor",
    "kind",
    "step",
    "payload",
    "payload_sha256",
    "prev_hash",
    "hash",
];

/// The fields an event with content adds (schema 5): its salt and content
/// text, or (once redacted) a null content and the redaction's seq.
const CONTENT_FIELDS: [[&str; 2]; 2] = [["content_salt", "content"], ["content", "redacted_by"]];

/// The keys an auditor brings to verify-bundle.
#[derive(Debug, Clone, Default)]
pub struct BundleTrust {
    /// The log's key (`--key`): the bundle's signatures must be by it.
    pub key: Option<Verifier>,
    /// Witnesses (`--witness`): each must have cosigned the checkpoint.
    pub witnesses: Vec<Verifier>,
}

fn problem(file: &str, message: impl Into<String>) -> BundleProblem {
    BundleProblem {
        file: file.to_string(),
        message: message.into(),
    }
}

/// Is `path` a file of the signed part (written after the export record,
/// so not among the data files it lists)?
pub fn is_signed_part(path: &str) -> bool {
    path == CHECKPOINT_FILE
        || path == EXPORT_PROOF_FILE
        || path
            .strip_prefix(PROOFS_DIR)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Check the signed part. `intact(name)`: the file is listed and matches
/// the manifest. `event_check(e)`: what is wrong with an event's own hashes
/// (record format as the bundle says), if anything.
pub fn check_custody(
    dir: &Path,
    m: &Manifest,
    trust: &BundleTrust,
    intact: &dyn Fn(&str) -> bool,
    event_check: &dyn Fn(&BundleEvent, RecordFormat) -> Option<String>,
    evidence: Option<&BTreeMap<i64, (Option<String>, String)>>,
    report: &mut BundleReport,
) {
    let wanted = trust.key.is_some() || !trust.witnesses.is_empty();
    let c = &m.custody;
    // A verified export this runsheet recorded is always signed (its
    // checkpoint is made in the export record's transaction, or nothing is
    // written): an unsigned one had its signed part removed.
    if !c.is_null()
        && c["signed"] != true
        && m.export["recorded"] == true
        && m.verification["verified"] == true
    {
        report.problems.push(problem(
            manifest::FILE,
            "says the bundle is not signed, but its export was recorded in a log that verified, and such an export is always signed: the signed part was removed",
        ));
        return;
    }
    if c.is_null() || c["signed"] != true {
        let why = if c.is_null() {
            "it is an older bundle (manifest version 2), which carries no signed checkpoint"
                .to_string()
        } else {
            format!(
                "it carries no signed checkpoint: {}",
                c["why"].as_str().unwrap_or("the manifest does not say why")
            )
        };
        if wanted {
            report.problems.push(problem(
                manifest::FILE,
                format!("{why}; nothing in it is signed, so --key/--witness cannot be checked"),
            ));
        } else {
            report.notes.push(format!("Not signed: {why}."));
        }
        return;
    }
    let Some(cp) = checkpoint(dir, m, trust, intact, report) else {
        return;
    };
    let key_source = if trust.key.is_some() {
        "the key you gave (--key)"
    } else {
        "the key the manifest names (pass --key with the log's key you hold to trust it)"
    };
    let size = cp.checkpoint().size();
    report.checked.push(format!(
        "checkpoint: the log's signed checkpoint of {size} records ({}) verifies with {key_source}",
        cp.checkpoint().origin()
    ));
    let Some(key) = key_of(m, trust) else {
        return;
    };
    export_proof(dir, m, &cp, intact, report);
    manifest_signature(dir, m, &key, report);
    sample_proofs(dir, m, &cp, intact, event_check, evidence, report);
}

/// The key the signatures are checked with: `--key`, else the manifest's.
fn key_of(m: &Manifest, trust: &BundleTrust) -> Option<Verifier> {
    trust.key.clone().or_else(|| {
        m.custody["vkey"]
            .as_str()
            .and_then(|v| Verifier::parse(v).ok())
    })
}

/// `checkpoint`: listed and intact, a signed checkpoint of the export's
/// tree size and origin, signed by the key, cosigned by every witness given.
fn checkpoint(
    dir: &Path,
    m: &Manifest,
    trust: &BundleTrust,
    intact: &dyn Fn(&str) -> bool,
    report: &mut BundleReport,
) -> Option<SignedCheckpoint> {
    let bad = |report: &mut BundleReport, msg: String| {
        report.problems.push(problem(CHECKPOINT_FILE, msg));
        None
    };
    if !intact(CHECKPOINT_FILE) {
        return bad(
            report,
            "is missing, changed or not listed, so nothing of the signed part can be checked"
                .into(),
        );
    }
    let text = fs::read_to_string(dir.join(CHECKPOINT_FILE)).unwrap_or_default();
    let cp = match SignedCheckpoint::parse(&text) {
        Ok(cp) => cp,
        Err(e) => return bad(report, format!("is not a signed checkpoint: {e}")),
    };
    let c = cp.checkpoint();
    let export_seq = m.export["seq"].as_u64();
    if Some(c.size()) != m.custody["tree_size"].as_u64() || Some(c.size()) != export_seq {
        return bad(
            report,
            format!(
                "is of {} records, but the export record is seq {}: it is not the checkpoint made with this export",
                c.size(),
                m.export["seq"]
            ),
        );
    }
    if Some(c.origin()) != m.custody["origin"].as_str() {
        return bad(
            report,
            format!(
                "is of the log {:?}, but the manifest names {}",
                c.origin(),
                m.custody["origin"]
            ),
        );
    }
    let Some(key) = key_of(m, trust) else {
        return bad(
            report,
            "the manifest names no readable log key; pass --key with the log's key".into(),
        );
    };
    if let Err(e) = cp.verify(&key) {
        return bad(
            report,
            format!(
                "is not signed by {} ({e}): forged, or another log's",
                key.to_vkey()
            ),
        );
    }
    match cp.verify_cosigned(&key, &trust.witnesses) {
        Err(e) => bad(
            report,
            format!(
                "the log's signature holds, but a witness's cosignature on it does not verify ({e}): it was forged or changed"
            ),
        ),
        Ok(v) => {
            for (i, w) in trust.witnesses.iter().enumerate() {
                if v.cosignatures.iter().any(|c| c.verifier == i) {
                    report.checked.push(format!(
                        "checkpoint: cosigned by the witness {}",
                        w.to_vkey()
                    ));
                } else {
                    report.problems.push(problem(
                        CHECKPOINT_FILE,
                        format!(
                            "unwitnessed: the witness {} did not cosign this checkpoint (cosign it with `runsheet cosign`, and export again)",
                            w.to_vkey()
                        ),
                    ));
                }
            }
            Some(cp)
        }
    }
}

/// The checkpoint a proof embeds must be the bundle's (the same checkpoint
/// text; signatures may differ only by cosignatures added later).
fn same_checkpoint(note: &str, cp: &SignedCheckpoint) -> bool {
    SignedCheckpoint::parse(note).is_ok_and(|p| p.checkpoint() == cp.checkpoint())
}

/// `export.tlog-proof`: export.json (verbatim as `extra`) is the last leaf
/// of the checkpoint's tree.
fn export_proof(
    dir: &Path,
    m: &Manifest,
    cp: &SignedCheckpoint,
    intact: &dyn Fn(&str) -> bool,
    report: &mut BundleReport,
) {
    let bad = |report: &mut BundleReport, msg: String| {
        report.problems.push(problem(EXPORT_PROOF_FILE, msg));
    };
    if !intact(EXPORT_PROOF_FILE) || !intact(EXPORT_FILE) {
        return bad(
            report,
            "it or export.json is missing, changed or not listed".into(),
        );
    }
    let text = fs::read_to_string(dir.join(EXPORT_PROOF_FILE)).unwrap_or_default();
    let export = fs::read(dir.join(EXPORT_FILE)).unwrap_or_default();
    let proof = match TlogProof::parse(&text) {
        Ok(p) => p,
        Err(e) => return bad(report, format!("is not a tlog-proof: {e}")),
    };
    if proof.extra.as_deref() != Some(export.as_slice()) {
        return bad(report, "its extra data is not export.json".into());
    }
    if !same_checkpoint(&proof.checkpoint, cp) {
        return bad(report, "embeds another checkpoint than the bundle's".into());
    }
    let record: Value = serde_json::from_slice(&export).unwrap_or_default();
    let leaf = record["hash"].as_str().and_then(event_leaf);
    let seq = m.export["seq"].as_u64().unwrap_or(0);
    let c = cp.checkpoint();
    let ok = leaf.is_some_and(|leaf| {
        proof.index + 1 == seq
            && merkle::verify_inclusion(&leaf, proof.index, c.size(), &proof.proof, c.root())
                .is_ok()
    });
    if !ok {
        return bad(
            report,
            format!(
                "does not prove export.json (seq {seq}) is in the checkpoint of {} records",
                c.size()
            ),
        );
    }
    report.checked.push(format!(
        "export.tlog-proof: export.json, which lists every data file's SHA-256, is record {seq} of the signed checkpoint"
    ));
}

/// `manifest.sig`: the manifest's SHA-256 and the log's origin, signed by the key.
fn manifest_signature(dir: &Path, m: &Manifest, key: &Verifier, report: &mut BundleReport) {
    let bad = |report: &mut BundleReport, msg: String| {
        report.problems.push(problem(MANIFEST_SIG_FILE, msg));
    };
    let Ok(text) = fs::read_to_string(dir.join(MANIFEST_SIG_FILE)) else {
        return bad(report, "is missing or unreadable".into());
    };
    let Ok(manifest_bytes) = fs::read(dir.join(manifest::FILE)) else {
        return;
    };
    let origin = m.custody["origin"].as_str().unwrap_or_default();
    let want = manifest_note_text(origin, &sha256_hex(&manifest_bytes));
    match Note::parse(&text) {
        Err(e) => bad(report, format!("is not a signed note: {e}")),
        Ok(note) if note.text() != want => bad(
            report,
            "does not sign this manifest.json (its SHA-256 or the origin differs)".into(),
        ),
        Ok(note) => match note.verify(std::slice::from_ref(key)) {
            Ok(v) if !v.is_empty() => report
                .checked
                .push("manifest.sig: manifest.json is signed by the log's key".to_string()),
            Ok(_) | Err(_) => bad(
                report,
                format!("is not signed by {}: forged", key.to_vkey()),
            ),
        },
    }
}

/// A sample packet's `proofs/seq-N.tlog-proof`: each event's own hashes,
/// its inclusion in the checkpoint, one proof per event of every sampled
/// run (and, with evidence.json, the same events it holds).
fn sample_proofs(
    dir: &Path,
    m: &Manifest,
    cp: &SignedCheckpoint,
    intact: &dyn Fn(&str) -> bool,
    event_check: &dyn Fn(&BundleEvent, RecordFormat) -> Option<String>,
    evidence: Option<&BTreeMap<i64, (Option<String>, String)>>,
    report: &mut BundleReport,
) {
    let sample: BTreeSet<String> = m.custody["sample"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let files: Vec<&str> = m
        .files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| p.starts_with(&format!("{PROOFS_DIR}/")))
        .collect();
    if sample.is_empty() && files.is_empty() {
        return;
    }
    let format_2_from = fs::read(dir.join(EXPORT_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|r| r["payload"]["record_format_2_from"].as_i64());
    let c = cp.checkpoint();
    let before = report.problems.len();
    // Per sampled run: the run_seqs proved.
    let mut proved: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    let mut by_seq: BTreeMap<i64, (Option<String>, String)> = BTreeMap::new();
    for name in &files {
        let bad = |report: &mut BundleReport, msg: String| {
            report.problems.push(problem(name, msg));
        };
        if !intact(name) {
            continue; // named by the file check already
        }
        let text = fs::read_to_string(dir.join(name)).unwrap_or_default();
        let proof = match TlogProof::parse(&text) {
            Ok(p) => p,
            Err(e) => {
                bad(report, format!("is not a tlog-proof: {e}"));
                continue;
            }
        };
        if !same_checkpoint(&proof.checkpoint, cp) {
            bad(report, "embeds another checkpoint than the bundle's".into());
            continue;
        }
        // The event's fields as evidence.json writes them, and no other (a
        // field no hash covers is not carried along).
        let fields_ok = proof.extra.as_deref().is_some_and(|x| {
            serde_json::from_slice::<serde_json::Map<String, Value>>(x).is_ok_and(|m| {
                let content = CONTENT_FIELDS
                    .iter()
                    .find(|set| set.iter().all(|f| m.contains_key(*f)))
                    .map_or(0, |set| set.len());
                m.len() == EVENT_FIELDS.len() + content
                    && EVENT_FIELDS.iter().all(|f| m.contains_key(*f))
            })
        });
        let Some(e) = proof
            .extra
            .as_deref()
            .filter(|_| fields_ok)
            .and_then(|x| serde_json::from_slice::<BundleEvent>(x).ok())
        else {
            bad(
                report,
                "its extra data is not an exported event (evidence.json's fields, no other)".into(),
            );
            continue;
        };
        if *name != format!("{PROOFS_DIR}/seq-{}.tlog-proof", e.seq) {
            bad(report, format!("holds the proof of seq {}", e.seq));
            continue;
        }
        let format = match format_2_from {
            Some(from) if e.seq >= from => RecordFormat::V2,
            _ => RecordFormat::V1,
        };
        if let Some(why) = event_check(&e, format) {
            bad(report, why);
            continue;
        }
        let included = event_leaf(&e.hash).is_some_and(|leaf| {
            u64::try_from(e.seq).is_ok_and(|s| s == proof.index + 1)
                && merkle::verify_inclusion(&leaf, proof.index, c.size(), &proof.proof, c.root())
                    .is_ok()
        });
        if !included {
            bad(
                report,
                format!(
                    "does not prove event seq {} is in the checkpoint of {} records",
                    e.seq,
                    c.size()
                ),
            );
            continue;
        }
        match &e.run_id {
            Some(run) if sample.contains(run) => {
                proved.entry(run.clone()).or_default().insert(e.run_seq);
            }
            _ => bad(
                report,
                format!(
                    "proves seq {}, which is not an event of a sampled run",
                    e.seq
                ),
            ),
        }
        by_seq.insert(e.seq, (e.run_id.clone(), e.hash.clone()));
    }
    for run in &sample {
        let seqs = proved.get(run);
        let n = seqs.map_or(0, BTreeSet::len);
        let contiguous = seqs.is_some_and(|s| s.iter().copied().eq(1..=n as i64));
        if !contiguous {
            report.problems.push(problem(
                PROOFS_DIR,
                format!(
                    "the sampled run {run}'s events are not all proved (one proof per event, from its first): a proof was removed"
                ),
            ));
        }
    }
    if let Some(ev) = evidence {
        let sampled: BTreeMap<i64, (Option<String>, String)> = ev
            .iter()
            .filter(|(_, (run, _))| run.as_ref().is_some_and(|r| sample.contains(r)))
            .map(|(s, v)| (*s, v.clone()))
            .collect();
        if sampled != by_seq {
            report.problems.push(problem(
                PROOFS_DIR,
                "the proved events are not the sampled runs' events in evidence.json",
            ));
        }
    }
    if report.problems.len() == before {
        report.checked.push(format!(
            "proofs: {} events of {} sampled runs, each with its hashes holding and proved in the signed checkpoint",
            by_seq.len(),
            sample.len()
        ));
    }
}
