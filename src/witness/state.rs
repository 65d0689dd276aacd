//! A witness's state file: its identity, the logs it witnesses (origin and
//! verifier key), every checkpoint it cosigned, and the forks it refused,
//! with numbered migrations under `PRAGMA user_version` and append-only
//! triggers. [`WitnessState::cosign`] is tlog-witness's `add-checkpoint`:
//! check, store and cosign in one immediate transaction.
//!
//! May use `custody` and `text` only (and rusqlite); may not depend on the
//! store, the engine, the front ends, `cli` or `app`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::WitnessError;
use crate::custody::checkpoint::SignedCheckpoint;
use crate::custody::cosign::Cosigner;
use crate::custody::key::{self, KeyFileError};
use crate::custody::merkle::{self, EMPTY_ROOT, Hash};
use crate::custody::note::{KeyKind, Verifier};
use crate::custody::proof_text::AddCheckpoint;

/// `PRAGMA application_id` of a witness state file ("RSWT").
pub const APPLICATION_ID: i64 = 0x5253_5754;

/// `PRAGMA application_id` of a runsheet evidence log ("RSHT"), to name it
/// when one is passed as a witness state.
const LOG_APPLICATION_ID: i64 = 0x5253_4854;

/// How long a command waits for another one holding the state's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The migrations, in order: migration *i* (from 0) brings the state from
/// `user_version` *i* to *i* + 1.
const MIGRATIONS: &[&str] = &[V1];

/// The state version this runsheet writes.
pub const STATE_VERSION: i64 = MIGRATIONS.len() as i64;

const V1: &str = r#"
-- The witness's identity: its name and cosigner verifier key (the private
-- key is in the key file, never here). One row.
CREATE TABLE identity (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    name       TEXT NOT NULL,
    vkey       TEXT NOT NULL,
    created_at TEXT NOT NULL        -- RFC 3339 UTC
);

-- The logs this witness cosigns for: origin and the log's verifier key.
CREATE TABLE logs (
    origin   TEXT PRIMARY KEY,
    vkey     TEXT NOT NULL,
    added_at TEXT NOT NULL
);

-- Every checkpoint cosigned, per log; the largest tree_size is the log's
-- state (the size the next add-checkpoint's old line must name).
CREATE TABLE checkpoints (
    origin      TEXT NOT NULL REFERENCES logs(origin),
    tree_size   INTEGER NOT NULL,
    root        TEXT NOT NULL,      -- base64, as in the checkpoint
    note        TEXT NOT NULL,      -- the signed checkpoint as received
    cosignature TEXT NOT NULL,      -- the cosignature line returned, with its newline
    cosigned_at INTEGER NOT NULL,   -- the cosignature's timestamp (POSIX seconds)
    PRIMARY KEY (origin, tree_size)
);

-- Validly signed checkpoints refused as not consistent with the state:
-- evidence that the log forked (or was rewritten by its key holder).
CREATE TABLE forks (
    id          INTEGER PRIMARY KEY,
    origin      TEXT NOT NULL REFERENCES logs(origin),
    detected_at TEXT NOT NULL,
    state_size  INTEGER NOT NULL,   -- the size the witness had cosigned
    state_root  TEXT NOT NULL,
    new_size    INTEGER NOT NULL,   -- the refused checkpoint's
    new_root    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    request     TEXT NOT NULL       -- the add-checkpoint body, verbatim
);

CREATE TRIGGER identity_no_update BEFORE UPDATE ON identity
BEGIN SELECT RAISE(ABORT, 'runsheet witness state: the identity cannot be changed'); END;
CREATE TRIGGER identity_no_delete BEFORE DELETE ON identity
BEGIN SELECT RAISE(ABORT, 'runsheet witness state: the identity cannot be deleted'); END;
CREATE TRIGGER logs_no_update BEFORE UPDATE ON logs
BEGIN SELECT RAISE(ABORT, 'runsheet witness state: a log''s key cannot be changed'); END;
CREATE TRIGGER logs_no_delete BEFORE DELETE ON logs
BEGIN SELECT RAISE(ABORT, 'runsheet witness state: logs cannot be removed'); END;
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'runsheet witness state: checkpoints cannot be changed'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'runsheet witness state: checkpoints cannot be deleted'); END;
CREATE TRIGGER checkpoints_only_grow BEFORE INSERT ON checkpoints
WHEN NEW.tree_size <= (SELECT max(tree_size) FROM checkpoints WHERE origin = NEW.origin)
BEGIN SELECT RAISE(ABORT, 'runsheet witness state: a log''s cosigned size can only grow'); END;
CREATE TRIGGER forks_no_update BEFORE UPDATE ON forks
BEGIN SELECT RAISE(ABORT, 'runsheet witness state: fork evidence cannot be changed'); END;
CREATE TRIGGER forks_no_delete BEFORE DELETE ON forks
BEGIN SELECT RAISE(ABORT, 'runsheet witness state: fork evidence cannot be deleted'); END;
"#;

/// What `add-checkpoint` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CosignOutcome {
    /// Cosigned (tlog-witness 200): the cosignature line(s), each ending in a
    /// newline. `again` when the checkpoint was the one already cosigned and
    /// its stored cosignature is returned as it was.
    Cosigned {
        origin: String,
        size: u64,
        lines: String,
        again: bool,
    },
    /// The old size is not the witness's (409): its size, for the log to
    /// resend a proof from.
    Conflict {
        origin: String,
        sent: u64,
        size: u64,
    },
    /// Not consistent with what the witness cosigned (422): refused, and
    /// kept in `forks`.
    Fork {
        origin: String,
        state_size: u64,
        new_size: u64,
        reason: String,
    },
}

/// One witnessed log, as `witness status` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LogStatus {
    pub origin: String,
    pub vkey: String,
    /// The size of the latest checkpoint cosigned (0 when none).
    pub size: u64,
    /// Its root (base64), when one was cosigned.
    pub root: Option<String>,
    /// Its cosignature's time (RFC 3339 UTC), when one was cosigned.
    pub cosigned_at: Option<String>,
    /// Checkpoints refused as forks.
    pub forks: u64,
}

/// A fork kept as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForkRecord {
    pub origin: String,
    pub detected_at: String,
    pub state_size: u64,
    pub state_root: String,
    pub new_size: u64,
    pub new_root: String,
    pub reason: String,
    pub request: String,
}

/// An open witness state file.
#[derive(Debug)]
pub struct WitnessState {
    conn: Connection,
    path: PathBuf,
}

fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl WitnessState {
    fn error(&self, message: impl Into<String>) -> WitnessError {
        WitnessError::State {
            path: self.path.clone(),
            message: message.into(),
        }
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> WitnessError + '_ {
        move |e| self.error(sql_message(&e))
    }

    /// The state's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the state at `path` (refusing one that already has an
    /// identity) and the witness's identity: the cosigner key in `key_path`
    /// (an existing cosigner key file named `name` is used, so a key can be
    /// prepared beforehand; otherwise a new key is written there with mode
    /// 0600, never over an existing file). Returns the state and the vkey.
    pub fn init(
        path: &Path,
        key_path: &Path,
        name: &str,
    ) -> Result<(WitnessState, String), WitnessError> {
        crate::custody::note::check_key_name(name).map_err(|problem| {
            WitnessError::Input(format!(
                "--name {name:?}: a witness name {problem}; use a name like example.com/witness"
            ))
        })?;
        let mut state = WitnessState::open_write(path, true)?;
        if let Some(vkey) = state.identity()? {
            return Err(state.error(format!(
                "it is already initialised as the witness {vkey}; nothing was changed. Use another --state to make another witness"
            )));
        }
        let cosigner = match key::load_cosigner(key_path) {
            Ok(c) if c.name() == name => c,
            Ok(c) => {
                return Err(WitnessError::Key(format!(
                    "key file {}: it holds the cosigner key of the witness {:?}, not {name:?}; pass --name {:?}, or another --key-file",
                    key_path.display(),
                    c.name(),
                    c.name()
                )));
            }
            Err(KeyFileError::Open { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                let c = Cosigner::generate(name)
                    .map_err(|e| WitnessError::Input(format!("--name {name:?}: {e}")))?;
                let mut text = c.private_key_text();
                text.push('\n');
                key::create_key_file(key_path, &text)
                    .map_err(|e| WitnessError::Key(e.to_string()))?;
                c
            }
            Err(e) => return Err(WitnessError::Key(e.to_string())),
        };
        let vkey = cosigner.verifier().to_vkey();
        let tx = state
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| WitnessError::State {
                path: path.to_owned(),
                message: sql_message(&e),
            })?;
        tx.execute(
            "INSERT INTO identity (id, name, vkey, created_at) VALUES (1, ?1, ?2, ?3)",
            params![name, vkey, now_text()],
        )
        .and_then(|_| tx.commit())
        .map_err(|e| WitnessError::State {
            path: path.to_owned(),
            message: sql_message(&e),
        })?;
        Ok((state, vkey))
    }

    /// Opens an existing state to write it (migrating it up to date).
    pub fn open(path: &Path) -> Result<WitnessState, WitnessError> {
        let state = WitnessState::open_write(path, false)?;
        if state.identity()?.is_none() {
            return Err(state.error(
                "it has no witness identity yet; run `runsheet witness init --name NAME` first",
            ));
        }
        Ok(state)
    }

    fn open_write(path: &Path, create: bool) -> Result<WitnessState, WitnessError> {
        let err = |message: String| WitnessError::State {
            path: path.to_owned(),
            message,
        };
        if !create && !path.exists() {
            return Err(err(
                "there is no witness state here; run `runsheet witness init --name NAME` (with the same --state), or pass --state (RUNSHEET_WITNESS_STATE) where it is".into(),
            ));
        }
        if create {
            create_private(path).map_err(err)?;
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| err(sql_message(&e)))?;
        let mut state = WitnessState {
            conn,
            path: path.to_owned(),
        };
        state.check_kind()?;
        state
            .conn
            .busy_timeout(BUSY_TIMEOUT)
            .and_then(|()| {
                state
                    .conn
                    .execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            })
            .map_err(state.sql())?;
        state.migrate()?;
        Ok(state)
    }

    /// Opens an existing state read-only: no byte of it changes.
    pub fn open_read_only(path: &Path) -> Result<WitnessState, WitnessError> {
        let err = |message: String| WitnessError::State {
            path: path.to_owned(),
            message,
        };
        if !path.exists() {
            return Err(err(
                "there is no witness state here; run `runsheet witness init --name NAME`, or pass --state (RUNSHEET_WITNESS_STATE) where it is".into(),
            ));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| err(sql_message(&e)))?;
        let state = WitnessState {
            conn,
            path: path.to_owned(),
        };
        state.conn.busy_timeout(BUSY_TIMEOUT).map_err(state.sql())?;
        state.check_kind()?;
        let version = state.user_version()?;
        if version != STATE_VERSION {
            return Err(state.error(format!(
                "it has state version {version}, but this runsheet reads version {STATE_VERSION}; {}",
                if version > STATE_VERSION {
                    "use a newer runsheet"
                } else {
                    "run a witness command that writes (add-log, cosign) to upgrade it"
                }
            )));
        }
        if state.identity()?.is_none() {
            return Err(state.error(
                "it has no witness identity yet; run `runsheet witness init --name NAME` first",
            ));
        }
        Ok(state)
    }

    fn user_version(&self) -> Result<i64, WitnessError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(self.sql())
    }

    /// A new (empty) file, or one with the witness application id.
    fn check_kind(&self) -> Result<(), WitnessError> {
        let (app, tables): (i64, i64) = self
            .conn
            .query_row(
                "SELECT (SELECT application_id FROM pragma_application_id), (SELECT count(*) FROM sqlite_schema)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.sql())?;
        if app == APPLICATION_ID || (app == 0 && tables == 0) {
            return Ok(());
        }
        Err(self.error(if app == LOG_APPLICATION_ID {
            "it is a runsheet evidence log, not a witness state; it was left unchanged. Pass the witness's own --state".to_string()
        } else {
            "it is not a runsheet witness state (another SQLite file, or not SQLite); it was left unchanged. Pass the witness's --state".to_string()
        }))
    }

    fn migrate(&mut self) -> Result<(), WitnessError> {
        let path = self.path.clone();
        let sql = |e: rusqlite::Error| WitnessError::State {
            path: path.clone(),
            message: sql_message(&e),
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql)?;
        if version > STATE_VERSION {
            return Err(WitnessError::State {
                path: path.clone(),
                message: format!(
                    "it has state version {version}, but this runsheet knows versions up to {STATE_VERSION}; use a newer runsheet"
                ),
            });
        }
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(to_u64(version) as usize) {
            tx.execute_batch(migration).map_err(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)
                .map_err(sql)?;
        }
        if version == 0 {
            tx.pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(sql)?;
        }
        tx.commit().map_err(sql)
    }

    /// The witness's vkey, once initialised.
    pub fn identity(&self) -> Result<Option<String>, WitnessError> {
        self.conn
            .query_row("SELECT vkey FROM identity WHERE id = 1", [], |r| r.get(0))
            .optional()
            .map_err(self.sql())
    }

    /// The cosigner key in `key_path`, which must be this witness's.
    pub fn cosigner(&self, key_path: &Path) -> Result<Cosigner, WitnessError> {
        let vkey = self.identity()?.unwrap_or_default();
        let cosigner = key::load_cosigner(key_path).map_err(|e| match e {
            KeyFileError::Open { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                WitnessError::Key(format!(
                    "key file {}: the witness's cosigner key ({vkey}) is not there, so nothing can be cosigned and nothing was changed. Restore it, or pass --key-file (RUNSHEET_WITNESS_KEY_FILE) where it is kept",
                    key_path.display()
                ))
            }
            other => WitnessError::Key(other.to_string()),
        })?;
        let found = cosigner.verifier().to_vkey();
        if found != vkey {
            return Err(WitnessError::Key(format!(
                "key file {}: it holds the cosigner key {found}, but this witness is {vkey}; nothing was changed. Pass --key-file (RUNSHEET_WITNESS_KEY_FILE) with this witness's key",
                key_path.display()
            )));
        }
        Ok(cosigner)
    }

    /// Configures the log `origin` with its verifier key. The key must be an
    /// Ed25519 note key named after the origin. Adding a log again with the
    /// same key changes nothing (false); with another key it is refused.
    pub fn add_log(&mut self, origin: &str, log: &Verifier) -> Result<bool, WitnessError> {
        if log.kind() != KeyKind::Ed25519 {
            return Err(WitnessError::Input(format!(
                "--vkey {}: it is a {} key, but a log signs its checkpoints with an Ed25519 note signing key (type 0x01); pass the key `runsheet key` prints on the log's machine",
                log.to_vkey(),
                log.kind()
            )));
        }
        if log.name() != origin {
            return Err(WitnessError::Input(format!(
                "--vkey {}: the key is named {:?}, but the origin is {origin:?}; a log's key is named after its origin (the first line of its checkpoints). Check --origin and --vkey",
                log.to_vkey(),
                log.name()
            )));
        }
        let path = self.path.clone();
        let sql = |e: rusqlite::Error| WitnessError::State {
            path: path.clone(),
            message: sql_message(&e),
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let known: Option<String> = tx
            .query_row("SELECT vkey FROM logs WHERE origin = ?1", [origin], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql)?;
        match known {
            Some(vkey) if vkey == log.to_vkey() => Ok(false),
            Some(vkey) => Err(WitnessError::Input(format!(
                "the log {origin:?} is already configured with the key {vkey}; a witness never changes a log's key, so nothing was changed. A log with a new key is a new log: give it a new origin"
            ))),
            None => {
                tx.execute(
                    "INSERT INTO logs (origin, vkey, added_at) VALUES (?1, ?2, ?3)",
                    params![origin, log.to_vkey(), now_text()],
                )
                .map_err(sql)?;
                tx.commit().map_err(sql)?;
                Ok(true)
            }
        }
    }

    /// tlog-witness `add-checkpoint` with the cosigner `cosigner` at the
    /// time `now` (POSIX seconds): see docs/custody.md for every rule. The
    /// check of the old size and the store of the new checkpoint are one
    /// immediate transaction, so two requests cannot both advance from the
    /// same size. A fork is committed to `forks` before it is reported.
    pub fn cosign(
        &mut self,
        cosigner: &Cosigner,
        body: &str,
        now: u64,
    ) -> Result<CosignOutcome, WitnessError> {
        let request = AddCheckpoint::parse(body).map_err(|e| {
            WitnessError::Input(format!(
                "the request is not a tlog-witness add-checkpoint body: {e}; send what `runsheet cosign --request` or `runsheet prove --from` writes"
            ))
        })?;
        let signed = SignedCheckpoint::parse(&request.checkpoint).map_err(|e| {
            WitnessError::Input(format!(
                "the request's checkpoint is not a signed checkpoint: {e}"
            ))
        })?;
        let checkpoint = signed.checkpoint();
        let origin = checkpoint.origin().to_owned();
        let new_size = checkpoint.size();
        let new_root = *checkpoint.root();
        let path = self.path.clone();
        let sql = |e: rusqlite::Error| WitnessError::State {
            path: path.clone(),
            message: sql_message(&e),
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let vkey: Option<String> = tx
            .query_row("SELECT vkey FROM logs WHERE origin = ?1", [&origin], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql)?;
        let Some(vkey) = vkey else {
            return Err(WitnessError::Input(format!(
                "this witness does not know the log {:?}; nothing was cosigned. Configure it first: runsheet witness add-log --origin ORIGIN --vkey VKEY",
                crate::text::sanitize_line(&origin)
            )));
        };
        let log = Verifier::parse(&vkey).map_err(|e| WitnessError::State {
            path: path.clone(),
            message: format!("the stored key of the log {origin:?} cannot be read: {e}"),
        })?;
        signed.verify(&log).map_err(|e| {
            WitnessError::Signature(format!(
                "the checkpoint is not signed by the log's key {vkey} ({e}); nothing was cosigned"
            ))
        })?;
        if request.old_size > new_size {
            return Err(WitnessError::Input(format!(
                "the request's old size {} is larger than its checkpoint's size {new_size}; nothing was cosigned",
                request.old_size
            )));
        }
        let latest: Option<(i64, String, String)> = tx
            .query_row(
                "SELECT tree_size, root, cosignature FROM checkpoints WHERE origin = ?1 ORDER BY tree_size DESC LIMIT 1",
                [&origin],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(sql)?;
        let (state_size, state_root, state_line) = match latest {
            Some((size, root, line)) => {
                let root = decode_root(&root).ok_or_else(|| WitnessError::State {
                    path: path.clone(),
                    message: format!(
                        "the stored root of the log {origin:?} at size {size} is not a base64 hash; the state is damaged"
                    ),
                })?;
                (to_u64(size), root, Some(line))
            }
            None => (0, EMPTY_ROOT, None),
        };
        if request.old_size != state_size {
            return Ok(CosignOutcome::Conflict {
                origin,
                sent: request.old_size,
                size: state_size,
            });
        }
        if request.old_size == 0 && !request.proof.is_empty() {
            return Err(WitnessError::Input(format!(
                "the request's old size is 0 but it carries {} consistency proof lines; from the empty tree the proof is empty. Nothing was cosigned",
                request.proof.len()
            )));
        }
        if let Err(why) =
            merkle::verify_consistency(state_size, new_size, &state_root, &new_root, &request.proof)
        {
            let reason = why.to_string();
            tx.execute(
                "INSERT INTO forks (origin, detected_at, state_size, state_root, new_size, new_root, reason, request) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    origin,
                    now_text(),
                    to_i64(state_size),
                    BASE64.encode(state_root),
                    to_i64(new_size),
                    BASE64.encode(new_root),
                    reason,
                    body
                ],
            )
            .map_err(sql)?;
            tx.commit().map_err(sql)?;
            return Ok(CosignOutcome::Fork {
                origin,
                state_size,
                new_size,
                reason,
            });
        }
        if new_size == state_size
            && let Some(line) = state_line
        {
            return Ok(CosignOutcome::Cosigned {
                origin,
                size: new_size,
                lines: line,
                again: true,
            });
        }
        let now = now.max(1);
        let line = cosigner
            .cosign(signed.note().text(), now)
            .map_err(|e| WitnessError::Input(format!("the checkpoint cannot be cosigned: {e}")))?;
        tx.execute(
            "INSERT INTO checkpoints (origin, tree_size, root, note, cosignature, cosigned_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                origin,
                to_i64(new_size),
                BASE64.encode(new_root),
                request.checkpoint,
                line,
                to_i64(now)
            ],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(CosignOutcome::Cosigned {
            origin,
            size: new_size,
            lines: line,
            again: false,
        })
    }

    /// Every configured log with its latest cosigned checkpoint and forks.
    pub fn status(&self) -> Result<Vec<LogStatus>, WitnessError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT l.origin, l.vkey, c.tree_size, c.root, c.cosigned_at, \
                 (SELECT count(*) FROM forks f WHERE f.origin = l.origin) \
                 FROM logs l LEFT JOIN checkpoints c ON c.origin = l.origin \
                 AND c.tree_size = (SELECT max(tree_size) FROM checkpoints WHERE origin = l.origin) \
                 ORDER BY l.origin",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |r| {
                let at: Option<i64> = r.get(4)?;
                Ok(LogStatus {
                    origin: r.get(0)?,
                    vkey: r.get(1)?,
                    size: to_u64(r.get::<_, Option<i64>>(2)?.unwrap_or(0)),
                    root: r.get(3)?,
                    cosigned_at: at.map(time_of),
                    forks: to_u64(r.get(5)?),
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// Every fork kept, oldest first.
    pub fn forks(&self) -> Result<Vec<ForkRecord>, WitnessError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT origin, detected_at, state_size, state_root, new_size, new_root, reason, request \
                 FROM forks ORDER BY id",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ForkRecord {
                    origin: r.get(0)?,
                    detected_at: r.get(1)?,
                    state_size: to_u64(r.get(2)?),
                    state_root: r.get(3)?,
                    new_size: to_u64(r.get(4)?),
                    new_root: r.get(5)?,
                    reason: r.get(6)?,
                    request: r.get(7)?,
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }
}

/// The current time in POSIX seconds, for a cosignature.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A cosignature timestamp as RFC 3339 UTC.
fn time_of(seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(seconds, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| seconds.to_string())
}

fn decode_root(text: &str) -> Option<Hash> {
    BASE64.decode(text).ok()?.try_into().ok()
}

/// A SQLite error in words: the lock, a full disk, a damaged file.
fn sql_message(e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            "it is locked by another runsheet witness command; nothing was changed. Retry when it has finished".into()
        }
        Some(ErrorCode::ReadOnly) => {
            "it is read-only; nothing was changed. Make the file and its directory writable".into()
        }
        Some(ErrorCode::DiskFull) => "the disk is full; nothing was changed. Free some space".into(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            "it is damaged or not a SQLite file; it was left unchanged. Restore it from a backup".into()
        }
        Some(ErrorCode::CannotOpen) => {
            "it cannot be opened; check that the directory exists and is readable".into()
        }
        _ => format!("SQLite: {e}"),
    }
}

/// Creates the file (0600) and its missing parent directories (0700); an
/// existing file is left as it is.
fn create_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| format!("cannot create the directory {}: {e}", parent.display()))?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot create it: {e}")),
    }
}
