//! The log's signed checkpoints and the witnesses' cosignatures against the
//! records: every stored checkpoint must be signed by the log's key (or the
//! key the caller trusts) and hold the root the walk computed at its size;
//! every cosignature must verify; a checkpoint kept outside the log
//! (`--trusted`) must be a tree the log extends.
//!
//! May not depend on the engine, tui, export or app.

use rusqlite::Connection;
use serde::Serialize;

use super::{Finding, Problem, Trust};
use crate::custody::checkpoint::SignedCheckpoint;
use crate::custody::merkle::Hash;
use crate::custody::note::Verifier;
use crate::store::signing::{self, LogKey, StoredCheckpoint};

/// A cosignature as the log stores it.
#[derive(Debug, Clone)]
pub(super) struct CosignatureRow {
    pub tree_size: u64,
    pub witness: String,
    pub line: String,
    pub added_at: String,
}

/// What the log holds for chain of custody, read in the walk's snapshot.
#[derive(Debug, Default)]
pub(super) struct Stored {
    pub log_key: Option<LogKey>,
    /// The log's key event could not be read (verify names the record).
    pub log_key_error: Option<String>,
    pub checkpoints: Vec<(StoredCheckpoint, Result<SignedCheckpoint, String>)>,
    pub cosignatures: Vec<CosignatureRow>,
}

impl Stored {
    pub fn read(conn: &Connection) -> rusqlite::Result<Stored> {
        let (log_key, log_key_error) = match signing::read_log_key(conn)? {
            Ok(k) => (k, None),
            Err(e) => (None, Some(e)),
        };
        let checkpoints = signing::all_checkpoints(conn)?
            .into_iter()
            .map(|row| {
                let parsed = SignedCheckpoint::parse(&row.note).map_err(|e| e.to_string());
                (row, parsed)
            })
            .collect();
        let cosignatures = conn
            .prepare(
                "SELECT tree_size, witness, line, added_at FROM cosignatures ORDER BY tree_size, witness",
            )?
            .query_map([], |r| {
                Ok(CosignatureRow {
                    tree_size: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                    witness: r.get(1)?,
                    line: r.get(2)?,
                    added_at: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Stored {
            log_key,
            log_key_error,
            checkpoints,
            cosignatures,
        })
    }

    /// The tree sizes whose roots the walk must record.
    pub fn watch_sizes(&self, trust: &Trust) -> Vec<u64> {
        let mut sizes: Vec<u64> = self
            .checkpoints
            .iter()
            .filter_map(|(_, p)| p.as_ref().ok().map(|s| s.checkpoint().size()))
            .collect();
        if let Some(t) = &trust.trusted {
            sizes.push(t.checkpoint().size());
        }
        sizes
    }
}

/// The key the checkpoints are checked with: the caller's, else the log's own.
pub(super) fn checking_key(stored: &Stored, trust: &Trust) -> Option<Verifier> {
    trust
        .key
        .clone()
        .or_else(|| stored.log_key.as_ref().and_then(LogKey::verifier))
}

/// One signature's verdict (computed beside the walk).
#[derive(Debug, Clone)]
pub(super) struct Signatures {
    /// Per stored checkpoint, in order: `Err(why)` when it does not verify.
    pub checkpoints: Vec<Result<(), String>>,
    /// Per stored cosignature, in order: the timestamp, or why it does not verify.
    pub cosignatures: Vec<Result<u64, String>>,
    /// The trusted checkpoint's signature.
    pub trusted: Option<Result<(), String>>,
}

/// Verify every signature (Ed25519: the expensive part, run on its own thread).
pub(super) fn check_signatures(stored: &Stored, trust: &Trust) -> Signatures {
    let key = checking_key(stored, trust);
    let checkpoints = stored
        .checkpoints
        .iter()
        .map(|(_, parsed)| {
            let signed = parsed.as_ref().map_err(Clone::clone)?;
            let key = key.as_ref().ok_or("the log has no key to check it with")?;
            signed.verify(key).map(|_| ()).map_err(|e| e.to_string())
        })
        .collect();
    let cosignatures = stored
        .cosignatures
        .iter()
        .map(|row| {
            let witness = Verifier::parse(&row.witness)
                .map_err(|e| format!("its witness key is not a verifier key: {e}"))?;
            let cp = stored
                .checkpoints
                .iter()
                .find(|(c, _)| c.tree_size == row.tree_size)
                .and_then(|(_, p)| p.as_ref().ok())
                .ok_or_else(|| {
                    format!("there is no readable checkpoint of size {}", row.tree_size)
                })?;
            let mut with = cp.clone();
            with.add_signature(&row.line).map_err(|e| e.to_string())?;
            let verified = with
                .note()
                .verify(std::slice::from_ref(&witness))
                .map_err(|e| e.to_string())?;
            verified
                .first()
                .and_then(|v| v.timestamp)
                .ok_or_else(|| "it is not a cosignature by that witness".to_string())
        })
        .collect();
    let trusted = trust.trusted.as_ref().map(|t| match &key {
        Some(k) => t.verify(k).map(|_| ()).map_err(|e| e.to_string()),
        None => Err("there is no key to check it with".into()),
    });
    Signatures {
        checkpoints,
        cosignatures,
        trusted,
    }
}

/// One witness's cosignatures, as verify reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct WitnessReport {
    /// The witness's verifier key.
    pub vkey: String,
    /// Given with `--witness` (trusted), or only named by the log.
    pub trusted: bool,
    /// Cosignatures that verify.
    pub cosignatures: u64,
    /// The largest tree it cosigned, and when (POSIX seconds, the witness's clock).
    pub latest_size: Option<u64>,
    pub latest_time: Option<u64>,
}

/// What verify says about chain of custody (schema 4 logs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CustodyReport {
    /// The log's origin and verifier key (its log-key event).
    pub origin: Option<String>,
    pub vkey: Option<String>,
    /// The key signatures were checked with was given by the caller (else the log's own).
    pub key_trusted: bool,
    /// Signed checkpoints stored in the log.
    pub checkpoints: u64,
    /// The latest one's tree size.
    pub latest_checkpoint: Option<u64>,
    /// A `--trusted` checkpoint's size, when one was proved.
    pub trusted_checkpoint: Option<u64>,
    pub witnesses: Vec<WitnessReport>,
}

/// What the walk found that the custody checks need.
pub(super) struct Walked<'a> {
    /// The log stores a Merkle tree (schema 4).
    pub stored_tree: bool,
    /// The tree's root at each stored or trusted checkpoint's size the walk reached.
    pub roots: &'a [(u64, Hash)],
    /// The log's last record (`max(seq)` of the snapshot), whether or not
    /// the walk reached it.
    pub last: i64,
    /// The seq of the `log-key` event, when the walk verified it.
    pub log_key_seen: Option<i64>,
    /// The verified records that must have a checkpoint of their own (seq, kind).
    pub own_checkpoints: &'a [(i64, &'static str)],
}

/// Everything verify checks about the signed checkpoints and cosignatures,
/// given the walk's roots; findings in the order of the records they name.
pub(super) fn findings(
    stored: &Stored,
    sigs: &Signatures,
    trust: &Trust,
    walked: &Walked<'_>,
) -> (Vec<Finding>, CustodyReport) {
    let mut found = Vec::new();
    let finding = |seq: Option<i64>, problem, message: String| Finding {
        seq,
        run_id: None,
        run_seq: None,
        problem,
        message,
    };
    let log_key_seen = walked.log_key_seen;
    // Rule 16 and 18 compare a size with the log's last record, not the last
    // one the walk verified: a walk that stopped early says why itself, and a
    // checkpoint beyond where it stopped cannot be compared at all.
    let head = u64::try_from(walked.last).unwrap_or(0);
    let roots = walked.roots;
    let root_at = |size: u64| roots.iter().find(|(s, _)| *s == size).map(|(_, r)| r);
    let seq_of = |size: u64| i64::try_from(size).ok();

    if let Some(e) = &stored.log_key_error {
        found.push(finding(None, Problem::BadSignature, e.clone()));
    }
    if let (Some(k), Some(trusted)) = (&stored.log_key, &trust.key)
        && k.vkey != trusted.to_vkey()
    {
        found.push(finding(
            Some(k.seq),
            Problem::BadSignature,
            format!(
                "the log's key (seq {}) is {}, not the trusted key {}: the log was re-keyed, so it was rewritten by someone who made a new key",
                k.seq,
                k.vkey,
                trusted.to_vkey()
            ),
        ));
    }
    let no_key = log_key_seen.is_none() && stored.log_key.is_none();
    if let Some(trusted) = &trust.key
        && no_key
        && !walked.stored_tree
        && stored.log_key_error.is_none()
    {
        found.push(finding(
            None,
            Problem::BadSignature,
            format!(
                "the log records no signing key and holds no signed checkpoint (it is of a schema from before chain of custody), so nothing in it is signed by the trusted key {}: it is not the log that key signs, or it was rewritten to look like an older log",
                trusted.to_vkey()
            ),
        ));
    }
    if no_key && !stored.checkpoints.is_empty() {
        found.push(finding(
            None,
            Problem::Missing,
            "the log holds signed checkpoints but no log-key event: the record of its key was removed".into(),
        ));
    } else if no_key && walked.stored_tree && stored.log_key_error.is_none() {
        found.push(finding(
            None,
            Problem::Missing,
            "the log is of schema 4 but holds no log-key event, which the command that made it schema 4 wrote: the record of its key was removed, with every signed checkpoint".into(),
        ));
    }
    // Rule 16's second part: every record the writer signs a checkpoint with
    // (from the log-key event on) still has that checkpoint, of its seq.
    if let Some(key_seq) = stored.log_key.as_ref().map(|k| k.seq).or(log_key_seen) {
        let lacking: Vec<&(i64, &str)> = walked
            .own_checkpoints
            .iter()
            .filter(|(seq, _)| *seq >= key_seq)
            // `checkpoints` is in tree-size order.
            .filter(|(seq, _)| {
                let size = u64::try_from(*seq).unwrap_or(0);
                stored
                    .checkpoints
                    .binary_search_by_key(&size, |(c, _)| c.tree_size)
                    .is_err()
            })
            .collect();
        if let Some(&&(seq, kind)) = lacking.first() {
            let more = match lacking.len() {
                1 => String::new(),
                n => format!(
                    "; so do {} more such records, up to seq {}",
                    n - 1,
                    lacking[n - 1].0
                ),
            };
            found.push(finding(
                Some(seq),
                Problem::Missing,
                format!(
                    "seq {seq} ({kind}) was written with a signed checkpoint of {seq} records, but the log no longer holds it: its signed checkpoint was deleted, which covers up a rewrite or a cut from there on{more}"
                ),
            ));
        }
    }
    let origin = stored.log_key.as_ref().map(|k| k.origin.clone());
    for ((row, parsed), sig) in stored.checkpoints.iter().zip(&sigs.checkpoints) {
        let n = row.tree_size;
        let made = format!("made {} at {}", row.reason, row.made_at);
        let signed = match parsed {
            Ok(s) => s,
            Err(e) => {
                found.push(finding(
                    seq_of(n),
                    Problem::BadSignature,
                    format!("the stored checkpoint of {n} records ({made}) cannot be read: {e}"),
                ));
                continue;
            }
        };
        let cp = signed.checkpoint();
        if cp.size() != n {
            found.push(finding(
                seq_of(n),
                Problem::BadSignature,
                format!(
                    "the stored checkpoint filed under {n} records covers {}: the row was edited",
                    cp.size()
                ),
            ));
            continue;
        }
        if let Err(e) = sig {
            found.push(finding(
                seq_of(n),
                Problem::BadSignature,
                format!(
                    "the stored checkpoint of {n} records ({made}) is not signed by the log's key: {e}; it was forged"
                ),
            ));
            continue;
        }
        if origin.as_deref().is_some_and(|o| o != cp.origin()) {
            found.push(finding(
                seq_of(n),
                Problem::BadSignature,
                format!(
                    "the stored checkpoint of {n} records names the origin {:?}, not this log's",
                    cp.origin()
                ),
            ));
            continue;
        }
        if n > head {
            found.push(finding(
                seq_of(head + 1),
                Problem::Truncated,
                format!(
                    "the log ends at seq {head}, but its own signed checkpoint ({made}) covers {n} records: records were removed from the end"
                ),
            ));
        } else if let Some(root) = root_at(n)
            // None: the walk stopped before n, and its finding stands.
            && root != cp.root()
        {
            found.push(finding(
                seq_of(n),
                Problem::Edited,
                format!(
                    "the log was rewritten: its records up to seq {n} no longer give the root its signed checkpoint of {n} records holds ({made}); some record up to seq {n} was changed and the chain and tree recomputed"
                ),
            ));
        }
    }
    // Cosignatures: each must verify with the witness key it names.
    let mut witnesses: Vec<WitnessReport> = trust
        .witnesses
        .iter()
        .map(|w| WitnessReport {
            vkey: w.to_vkey(),
            trusted: true,
            cosignatures: 0,
            latest_size: None,
            latest_time: None,
        })
        .collect();
    for (row, sig) in stored.cosignatures.iter().zip(&sigs.cosignatures) {
        match sig {
            Err(e) => found.push(finding(
                seq_of(row.tree_size),
                Problem::BadSignature,
                format!(
                    "the cosignature of the checkpoint of {} records added {} does not verify with the witness key it names ({}): {e}",
                    row.tree_size, row.added_at, row.witness
                ),
            )),
            Ok(time) => {
                let w = match witnesses.iter_mut().find(|w| w.vkey == row.witness) {
                    Some(w) => w,
                    None => {
                        witnesses.push(WitnessReport {
                            vkey: row.witness.clone(),
                            trusted: false,
                            cosignatures: 0,
                            latest_size: None,
                            latest_time: None,
                        });
                        let last = witnesses.len() - 1;
                        &mut witnesses[last]
                    }
                };
                w.cosignatures += 1;
                if w.latest_size.is_none_or(|s| s <= row.tree_size) {
                    w.latest_size = Some(row.tree_size);
                    w.latest_time = Some(*time);
                }
            }
        }
    }
    for w in witnesses
        .iter()
        .filter(|w| w.trusted && w.cosignatures == 0)
    {
        found.push(finding(
            None,
            Problem::Unwitnessed,
            format!(
                "the witness {} cosigned none of the log's checkpoints: nobody outside the log has seen it grow",
                w.vkey
            ),
        ));
    }
    // A checkpoint kept outside the log.
    let mut trusted_checkpoint = None;
    if let Some(t) = &trust.trusted {
        let cp = t.checkpoint();
        let n = cp.size();
        match &sigs.trusted {
            Some(Err(e)) => found.push(finding(
                None,
                Problem::BadSignature,
                format!("the trusted checkpoint ({n} records) is not signed by the log's key: {e}"),
            )),
            _ if origin.as_deref().is_some_and(|o| o != cp.origin()) => found.push(finding(
                None,
                Problem::BadSignature,
                format!(
                    "the trusted checkpoint is of the log {:?}, not of this one ({})",
                    cp.origin(),
                    origin.as_deref().unwrap_or_default()
                ),
            )),
            _ if n > head => found.push(finding(
                seq_of(head + 1),
                Problem::Truncated,
                format!(
                    "the log does not reach the trusted checkpoint: it ends at seq {head}, but the checkpoint shows {n} records, so seq {} to {n} are gone; events were cut from the end (or removed anywhere and the rest re-chained)",
                    head + 1
                ),
            )),
            _ => match root_at(n) {
                Some(root) if root == cp.root() => trusted_checkpoint = Some(n),
                Some(_) => found.push(finding(
                    seq_of(n),
                    Problem::Edited,
                    format!(
                        "the log was rewritten after the trusted checkpoint: its first {n} records no longer give the checkpoint's root; some record up to seq {n} was changed and the chain and tree recomputed"
                    ),
                )),
                // The walk stopped before it: its finding comes first.
                None => {}
            },
        }
    }
    found.sort_by_key(|f| f.seq.unwrap_or(i64::MAX));
    let report = CustodyReport {
        origin,
        vkey: stored.log_key.as_ref().map(|k| k.vkey.clone()),
        key_trusted: trust.key.is_some(),
        checkpoints: stored.checkpoints.len() as u64,
        latest_checkpoint: stored.checkpoints.last().map(|(c, _)| c.tree_size),
        trusted_checkpoint,
        witnesses,
    };
    (found, report)
}
