//! The log's identity and key, and its signed checkpoints (docs/custody.md):
//! the key file beside the log (or where configured), the `log-key` event
//! that records the public key, and checkpoints signed inside the write
//! transaction that makes them necessary, after checking that the tree only
//! grew since the last one.
//!
//! May not depend on the engine, tui, export or app.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::kinds::KIND_LOG_KEY;
use super::log_payload::{self, LogPayload};
use super::tree::SqlNodes;
use super::write::time_text;
use super::{NewEvent, StoreError};
use crate::custody::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::custody::key::{self, KeyFileError};
use crate::custody::merkle::{self, Frontier, Hash};
use crate::custody::note::{Signer, Verifier};

/// What a key file's name adds to the log's: `evidence.sqlite3.key`.
pub const KEY_SUFFIX: &str = ".key";

/// Where the key of the log at `db` is kept unless configured otherwise.
pub fn default_key_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(KEY_SUFFIX);
    PathBuf::from(name)
}

/// The log's origin: `runsheet/<host>/<log id>` (the host with anything but
/// letters, digits, `.`, `-` and `_` replaced by `-`, as key names allow).
pub fn origin_for(host: &str, log_id: &uuid::Uuid) -> String {
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let host = if host.is_empty() { "host".into() } else { host };
    format!("runsheet/{host}/{}", log_id.hyphenated())
}

/// The log's identity as its `log-key` event records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogKey {
    /// The event's seq.
    pub seq: i64,
    /// The checkpoints' origin line and the key's name.
    pub origin: String,
    /// The public key as a C2SP signed-note verifier key.
    pub vkey: String,
}

impl LogKey {
    /// The verifier the vkey stands for (it was checked when it was read).
    pub fn verifier(&self) -> Option<Verifier> {
        Verifier::parse(&self.vkey).ok()
    }
}

/// Read a `log-key` payload: its origin and vkey, which must agree.
pub fn parse_log_key(seq: i64, payload: &[u8]) -> Result<LogKey, String> {
    let v: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| format!("its payload is not JSON: {e}"))?;
    let field = |name: &str| {
        v.get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("its payload has no {name}"))
    };
    let origin = field("origin")?;
    let vkey = field("vkey")?;
    let verifier = Verifier::parse(&vkey).map_err(|e| format!("its vkey is not one: {e}"))?;
    if verifier.name() != origin {
        return Err(format!(
            "its key is named {:?}, not after the origin {origin:?}",
            verifier.name()
        ));
    }
    if verifier.kind() != crate::custody::note::KeyKind::Ed25519 {
        return Err("its key is not an Ed25519 note-signing key".into());
    }
    Ok(LogKey { seq, origin, vkey })
}

/// The log's first `log-key` event, when it has one.
/// The log's key event: an SQL failure outside (so a damaged file is named
/// as such), a key event that cannot be read inside.
pub(super) fn read_log_key(conn: &Connection) -> rusqlite::Result<Result<Option<LogKey>, String>> {
    let row: Option<(i64, Option<Vec<u8>>)> = conn
        .query_row(
            "SELECT seq, payload FROM events WHERE run_id IS NULL AND kind = ?1 ORDER BY seq LIMIT 1",
            [KIND_LOG_KEY],
            |r| Ok((r.get(0)?, r.get_ref(1)?.as_bytes().ok().map(<[u8]>::to_vec))),
        )
        .optional()?;
    Ok(match row {
        None => Ok(None),
        Some((seq, payload)) => parse_log_key(seq, &payload.unwrap_or_default())
            .map(Some)
            .map_err(|why| {
                format!(
                    "the log's key event (seq {seq}) cannot be read: {why}; run `runsheet verify`"
                )
            }),
    })
}

/// The `log-key` event recording `signer`'s public key.
pub(super) fn log_key_event(signer: &Signer, actor: &str, at: DateTime<Utc>) -> NewEvent {
    log_payload::LogKey {
        origin: signer.name().to_string(),
        vkey: signer.verifier().to_vkey(),
        algorithm: "ed25519".into(),
    }
    .event(actor, at)
}

fn key_error(db: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Key {
        path: db.to_path_buf(),
        message: e.to_string(),
    }
}

/// The key for a log that gets one now (created, or migrated to schema 4):
/// the key file at `key_path` when it exists (a key prepared beforehand; its
/// name becomes the origin), else a new key named `origin`, written there
/// (mode 0600, never over an existing file).
pub(super) fn obtain_key(
    db: &Path,
    key_path: &Path,
    origin: &str,
    seed: Option<[u8; 32]>,
) -> Result<Signer, StoreError> {
    match key::load_signer(key_path) {
        Ok(signer) => Ok(signer),
        Err(KeyFileError::Open { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            let signer = match seed {
                Some(seed) => Signer::from_seed(origin, &seed).map_err(|e| key_error(db, e))?,
                None => Signer::generate(origin).map_err(|e| key_error(db, e))?,
            };
            let mut text = signer.private_key_text();
            text.push('\n');
            key::create_key_file(key_path, &text).map_err(|e| key_error(db, e))?;
            Ok(signer)
        }
        Err(e) => Err(key_error(db, e)),
    }
}

/// The key seed of a reproducible test log (development-only generator; its
/// log-created event marks it as not evidence): public by construction.
pub(super) fn test_log_seed(log_id: &uuid::Uuid) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::new()
        .chain_update(b"runsheet generated test log key\n")
        .chain_update(log_id.as_bytes())
        .finalize()
        .into()
}

/// A writer's signing state: the log's key, and the latest checkpoint it
/// knows the tree to be consistent with.
#[derive(Debug)]
pub(super) struct Custodian {
    signer: Signer,
    /// `(size, root)` of the latest checkpoint this handle signed or checked
    /// the tree against.
    known_good: Option<(u64, Hash)>,
    /// The checkpoint this handle stored last, with the connection's
    /// `PRAGMA data_version` in that transaction: while no other connection
    /// has committed since (the version is the same) and the table's largest
    /// tree is still its size (the transaction was not rolled back), it is
    /// the latest stored checkpoint, and need not be read and parsed again.
    mine: Option<(i64, StoredCheckpoint)>,
}

impl Custodian {
    /// A writer's state for a key just obtained (nothing checked yet).
    pub fn new(signer: Signer) -> Custodian {
        Custodian {
            signer,
            known_good: None,
            mine: None,
        }
    }

    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    pub fn verifier(&self) -> Verifier {
        self.signer.verifier()
    }

    /// `text` signed with the log's key: the signed note (text, a blank
    /// line, the signature line).
    pub fn sign_note(&self, text: &str) -> Result<String, String> {
        let line = self
            .signer
            .sign(text)
            .map_err(|e| format!("the note could not be signed: {e}"))?;
        Ok(format!("{text}\n{line}"))
    }
}

/// The signing state of a writer on the log at `db`: its `log-key` event and
/// the key file, which must hold that key.
pub(super) fn open_custodian(
    conn: &Connection,
    db: &Path,
    key_path: &Path,
) -> Result<Custodian, StoreError> {
    let Some(log_key) = read_log_key(conn)
        .map_err(|e| StoreError::sqlite(db, e))?
        .map_err(|e| key_error(db, e))?
    else {
        return Err(key_error(
            db,
            "the evidence log records no signing key (no log-key event), so nothing can be signed; run `runsheet verify`",
        ));
    };
    let signer = key::load_signer(key_path).map_err(|e| match e {
        KeyFileError::Open { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            key_error(
                db,
                format!(
                    "the log's signing key is not at {}: its checkpoints cannot be signed, so nothing was written. Restore the key file (it belongs with the log, as {}), or pass --key-file (RUNSHEET_KEY_FILE) where it is kept",
                    key_path.display(),
                    log_key.vkey
                ),
            )
        }
        other => key_error(db, other),
    })?;
    if signer.verifier().to_vkey() != log_key.vkey {
        return Err(key_error(
            db,
            format!(
                "the key file {} holds the key {}, but the log's key is {}: it is another log's key, so nothing was written. Pass --key-file (RUNSHEET_KEY_FILE) with this log's key",
                key_path.display(),
                signer.verifier().to_vkey(),
                log_key.vkey
            ),
        ));
    }
    Ok(Custodian {
        signer,
        known_good: None,
        mine: None,
    })
}

/// A checkpoint as the log stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredCheckpoint {
    /// Leaves covered: events 1 ..= tree_size.
    pub tree_size: u64,
    /// The signed note, verbatim (with any cosignatures added when read
    /// through [`super::Store::cosigned_checkpoint`]).
    pub note: String,
    pub made_at: String,
    /// What made it: `log-created`, `schema-migrated`, `run-ended`, `suspended`, `export`, `requested`.
    pub reason: String,
}

const CHECKPOINT_COLUMNS: &str = "SELECT tree_size, note, made_at, reason FROM checkpoints";

fn checkpoint_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredCheckpoint> {
    // runsheet stores the note as text; anything else (a BLOB, a number)
    // is no note it wrote, and is read as an empty one, which no check passes.
    let note = match r.get_ref(1)? {
        rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        _ => String::new(),
    };
    Ok(StoredCheckpoint {
        tree_size: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
        note,
        made_at: r.get(2)?,
        reason: r.get(3)?,
    })
}

/// The latest stored checkpoint (largest tree).
pub(super) fn latest_checkpoint(conn: &Connection) -> rusqlite::Result<Option<StoredCheckpoint>> {
    conn.prepare_cached(&format!(
        "{CHECKPOINT_COLUMNS} ORDER BY tree_size DESC LIMIT 1"
    ))?
    .query_row([], checkpoint_row)
    .optional()
}

/// Every stored checkpoint, smallest tree first.
pub(super) fn all_checkpoints(conn: &Connection) -> rusqlite::Result<Vec<StoredCheckpoint>> {
    conn.prepare(&format!("{CHECKPOINT_COLUMNS} ORDER BY tree_size"))?
        .query_map([], checkpoint_row)?
        .collect()
}

/// The stored checkpoint of exactly `size` leaves.
pub(super) fn checkpoint_at(
    conn: &Connection,
    size: u64,
) -> rusqlite::Result<Option<StoredCheckpoint>> {
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    conn.prepare_cached(&format!("{CHECKPOINT_COLUMNS} WHERE tree_size = ?1"))?
        .query_row([size], checkpoint_row)
        .optional()
}

/// A stored checkpoint's note with the cosignatures the log holds for it
/// appended (each a signature line; a note's signature lines are its end).
pub(super) fn with_cosignatures(
    conn: &Connection,
    cp: &StoredCheckpoint,
) -> rusqlite::Result<String> {
    let mut note = cp.note.clone();
    let size = i64::try_from(cp.tree_size).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(
        "SELECT line FROM cosignatures WHERE tree_size = ?1 ORDER BY added_at, witness",
    )?;
    let lines = stmt.query_map([size], |r| r.get::<_, String>(0))?;
    for line in lines {
        note.push_str(&line?);
    }
    Ok(note)
}

/// Add a witness's cosignature of the stored checkpoint of `tree_size`
/// records, after checking that it verifies (a type-0x04 line by `witness`
/// over that checkpoint's text). Adding the same witness's cosignature of
/// the same checkpoint again replaces nothing and is not an error.
pub(super) fn add_cosignature(
    conn: &Connection,
    tree_size: u64,
    witness: &Verifier,
    line: &str,
    at: DateTime<Utc>,
) -> Result<bool, String> {
    let cp = checkpoint_at(conn, tree_size)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("the log holds no signed checkpoint of {tree_size} records"))?;
    let mut signed = SignedCheckpoint::parse(&cp.note).map_err(|e| e.to_string())?;
    let line = if line.ends_with('\n') {
        line.to_string()
    } else {
        format!("{line}\n")
    };
    signed.add_signature(&line).map_err(|e| e.to_string())?;
    let verified = signed
        .note()
        .verify(std::slice::from_ref(witness))
        .map_err(|e| format!("the cosignature does not verify: {e}"))?;
    if verified.first().and_then(|v| v.timestamp).is_none() {
        return Err(format!(
            "the line is not a cosignature by the witness {}",
            witness.to_vkey()
        ));
    }
    let n = conn
        .prepare_cached(
            "INSERT INTO cosignatures (tree_size, witness, line, added_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (tree_size, witness) DO NOTHING",
        )
        .and_then(|mut s| {
            s.execute(params![
                i64::try_from(tree_size).unwrap_or(i64::MAX),
                witness.to_vkey(),
                line,
                time_text(at)
            ])
        })
        .map_err(|e| e.to_string())?;
    Ok(n > 0)
}

/// The largest tree `witness` cosigned in this log, if any.
pub(super) fn witnessed_size(
    conn: &Connection,
    witness: &Verifier,
) -> rusqlite::Result<Option<u64>> {
    conn.prepare_cached("SELECT max(tree_size) FROM cosignatures WHERE witness = ?1")?
        .query_row([witness.to_vkey()], |r| r.get::<_, Option<i64>>(0))
        .map(|n| n.and_then(|n| u64::try_from(n).ok()))
}

/// Why [`sign_in_tx`] signed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SignError {
    /// The log was tampered with: its latest stored checkpoint cannot be
    /// read, is not signed by the log's key, or the tree is not an extension
    /// of it. `verify` names that earlier damage; the caller's records may
    /// still commit (the operator's evidence is kept, with a warning).
    Refused(String),
    /// The checkpoint could not be made, signed or stored (an SQLite error,
    /// say): the caller must not commit its records without it, since a
    /// record of a kind in `CHECKPOINT_KINDS` without its checkpoint is what
    /// `verify` reports as a deleted checkpoint.
    Failed(String),
}

impl SignError {
    /// The message, whichever it is.
    pub fn message(self) -> String {
        match self {
            SignError::Refused(m) | SignError::Failed(m) => m,
        }
    }
}

/// Sign the tree at `frontier` (the head of the caller's write transaction)
/// and store the checkpoint, unless one of that size is stored already.
/// First the tree is checked to have only grown since the latest stored
/// checkpoint (a consistency proof from it, verified): a log never signs a
/// tree that is not an extension of what it signed before (the latest is
/// not read again when this handle stored it and nothing else has written
/// since: see `Custodian::mine`). `Err` when nothing was signed (see
/// [`SignError`] for what the caller does then).
pub(super) fn sign_in_tx(
    conn: &Connection,
    custodian: &mut Custodian,
    frontier: &Frontier,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<StoredCheckpoint, SignError> {
    let size = frontier.size();
    let root = frontier.root();
    let sql =
        |e: rusqlite::Error| SignError::Failed(format!("the checkpoint could not be stored: {e}"));
    let version = data_version(conn).map_err(sql)?;
    let mine = custodian.mine.take();
    let latest = match mine {
        // Nothing else wrote since this handle stored its checkpoint, and it
        // is still the largest: it is the latest, and `known_good`.
        Some((v, cp))
            if v == version && max_tree_size(conn).map_err(sql)? == Some(cp.tree_size) =>
        {
            if cp.tree_size == size {
                custodian.mine = Some((v, cp.clone()));
                return Ok(cp);
            }
            None
        }
        _ => latest_checkpoint(conn).map_err(sql)?,
    };
    if let Some(latest) = latest {
        let signed = SignedCheckpoint::parse(&latest.note).map_err(|e| {
            SignError::Refused(format!(
                "the log's latest checkpoint (tree size {}) cannot be read: {e}; nothing new was signed. Run `runsheet verify`",
                latest.tree_size
            ))
        })?;
        let cp = signed.checkpoint();
        let old = (cp.size(), *cp.root());
        if custodian.known_good != Some(old) {
            check_grew(conn, custodian, &signed, size, &root).map_err(SignError::Refused)?;
            custodian.known_good = Some(old);
        }
        if cp.size() == size {
            return Ok(latest);
        }
    }
    let checkpoint = Checkpoint::new(custodian.origin(), size, root)
        .map_err(|e| SignError::Failed(format!("the checkpoint could not be made: {e}")))?;
    let signed = SignedCheckpoint::sign(checkpoint, &custodian.signer)
        .map_err(|e| SignError::Failed(format!("the checkpoint could not be signed: {e}")))?;
    let stored = StoredCheckpoint {
        tree_size: size,
        note: signed.format(),
        made_at: time_text(at),
        reason: reason.to_string(),
    };
    conn.prepare_cached(
        "INSERT INTO checkpoints (tree_size, note, made_at, reason) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut s| {
        s.execute(params![
            i64::try_from(size).unwrap_or(i64::MAX),
            stored.note,
            stored.made_at,
            stored.reason
        ])
    })
    .map_err(sql)?;
    custodian.known_good = Some((size, root));
    custodian.mine = Some((version, stored.clone()));
    Ok(stored)
}

/// The connection's `PRAGMA data_version`: it changes when another
/// connection (of any process) commits to the database, and only then.
fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))
}

/// The largest stored checkpoint's tree size.
fn max_tree_size(conn: &Connection) -> rusqlite::Result<Option<u64>> {
    conn.prepare_cached("SELECT max(tree_size) FROM checkpoints")?
        .query_row([], |r| r.get::<_, Option<i64>>(0))
        .map(|n| n.and_then(|n| u64::try_from(n).ok()))
}

/// The latest checkpoint is the log's own, and the tree at `size` (root
/// `root`) is an extension of it.
fn check_grew(
    conn: &Connection,
    custodian: &Custodian,
    latest: &SignedCheckpoint,
    size: u64,
    root: &Hash,
) -> Result<(), String> {
    let cp = latest.checkpoint();
    let refuse = |why: String| {
        format!("nothing was signed: {why}. The log may have been rewritten; run `runsheet verify`")
    };
    latest.verify(&custodian.verifier()).map_err(|e| {
        refuse(format!(
            "the latest stored checkpoint (tree size {}) is not signed by this log's key ({e})",
            cp.size()
        ))
    })?;
    if cp.size() > size {
        return Err(refuse(format!(
            "the latest checkpoint covers {} records, but the log holds {size}",
            cp.size()
        )));
    }
    let proof = merkle::consistency_proof(&SqlNodes { conn }, cp.size(), size)
        .map_err(|e| refuse(format!("the tree cannot be read: {e:?}")))?;
    merkle::verify_consistency(cp.size(), size, cp.root(), root, &proof).map_err(|e| {
        refuse(format!(
            "the tree of {size} records is not an extension of the latest checkpoint's tree of {} ({e})",
            cp.size()
        ))
    })
}
