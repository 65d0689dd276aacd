//! Opening the log: the file and directory with owner-only permissions, the
//! per-connection pragmas, read-only opens that change no byte of any file,
//! and schema migrations under `PRAGMA user_version`, each recorded in the
//! chain as an event.
//!
//! May not depend on anything outside the store.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::Utc;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::RecordFormat;
use super::StoreError;
use super::kinds::{KIND_LOG_CREATED, KIND_SCHEMA_MIGRATED};
use super::log_payload::{LogCreated, LogPayload, SchemaMigrated};
use super::schema::{APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION};
use super::signing;
use super::write::{WriteError, insert_log_event};
use crate::custody::merkle::Frontier;

/// Create the log's parent directories (0700) and the file itself (0600) when
/// they do not exist yet. Existing files and directories are left as they are.
/// True when this call created the file.
pub(super) fn create_file(path: &Path) -> Result<bool, StoreError> {
    let io = |what: &str, at: &Path, err: std::io::Error| StoreError::Io {
        path: path.to_path_buf(),
        message: format!(
            "cannot create {what} {}: {err}; check the permissions or pass another --db",
            at.display()
        ),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(parent)
            .map_err(|e| io("the directory", parent, e))?;
    }
    if !path.exists() {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(_) => return Ok(true),
            // Another process created it first: fine.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io("the file", path, e)),
        }
    }
    Ok(false)
}

/// What a writing connection records when it creates or migrates the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct LogIdentity {
    /// Who opened the log (the actor of a `log-created`/`schema-migrated` event).
    pub actor: String,
    /// Mark a log created now as generated test data, not evidence.
    pub test_data: bool,
    /// The log id and time of a `log-created` event written now (reproducible
    /// test logs); `None`: a fresh UUID and the clock.
    pub created: Option<(uuid::Uuid, chrono::DateTime<Utc>)>,
    /// The signing key's file; `None`: beside the log (`signing::default_key_path`).
    pub key_file: Option<PathBuf>,
}

impl LogIdentity {
    /// Where the key of the log at `db` is.
    pub fn key_path(&self, db: &Path) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| signing::default_key_path(db))
    }
}

/// How a connection opens the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Mode {
    /// Read and write; migrate (recorded) when the schema is older.
    Write(LogIdentity),
    /// `SQLITE_OPEN_READ_ONLY`, never migrates, never creates or changes a file.
    Read,
}

/// The size, modification time and inode of the log file when an immutable
/// connection opened it: if they differ later, a writer changed the file
/// while it was read without locks, and what was read cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl FileStamp {
    pub(super) fn of(path: &Path) -> std::io::Result<FileStamp> {
        let meta = std::fs::metadata(path)?;
        #[cfg(unix)]
        let inode = {
            use std::os::unix::fs::MetadataExt;
            meta.ino()
        };
        #[cfg(not(unix))]
        let inode = 0;
        Ok(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        })
    }
}

/// An open connection, and for an immutable read the file's stamp.
pub(super) struct Opened {
    pub conn: Connection,
    pub stamp: Option<FileStamp>,
}

/// Open a connection with the log's pragmas: a writer brings the schema up to
/// date (recorded in the chain); a reader checks it can read this schema.
pub(super) fn connect(
    path: &Path,
    busy_timeout: Duration,
    mode: &Mode,
    created: bool,
) -> Result<Opened, StoreError> {
    match mode {
        Mode::Read => connect_read(path, busy_timeout),
        Mode::Write(identity) => connect_write(path, busy_timeout, identity, created),
    }
}

/// An existing empty file may be a log another runsheet process is creating
/// this instant (it writes the header within milliseconds): wait for that,
/// up to the busy timeout; still empty, it is a log truncated to nothing.
fn wait_for_creator(path: &Path, busy_timeout: Duration) -> Result<(), StoreError> {
    let until = std::time::Instant::now() + busy_timeout.min(Duration::from_secs(2));
    loop {
        if header(path)?.is_some() {
            return Ok(());
        }
        if std::time::Instant::now() >= until {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: "the file is empty (0 bytes): a runsheet log is never empty, so it was truncated or is not a log, and nothing was written to it. If runsheet was interrupted while creating this very log, delete the empty file and try again".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The first 100 bytes of a SQLite file, checked to be one.
fn header(path: &Path) -> Result<Option<[u8; 100]>, StoreError> {
    let mut file = std::fs::File::open(path).map_err(|e| open_error(path, &e))?;
    let mut head = [0u8; 100];
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) => return Err(open_error(path, &e)),
        }
    }
    if read == 0 {
        return Ok(None);
    }
    if read < head.len() || !head.starts_with(b"SQLite format 3\0") {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!(
                "it does not start with a SQLite header ({read} bytes read); it is not a database, or its first page was overwritten"
            ),
        });
    }
    Ok(Some(head))
}

fn open_error(path: &Path, e: &std::io::Error) -> StoreError {
    match e.kind() {
        std::io::ErrorKind::NotFound => StoreError::NoLog {
            path: path.to_path_buf(),
        },
        _ => StoreError::Io {
            path: path.to_path_buf(),
            message: format!(
                "cannot read the evidence log: {e}; check that it exists and is readable"
            ),
        },
    }
}

fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push("-wal");
    PathBuf::from(name)
}

/// `file:` URI of `path` with SQLite's `immutable=1`: reads without locks and
/// without the `-wal`/`-shm` files (which a read-only connection would
/// otherwise create and leave behind, or fail to create on a read-only mount).
fn immutable_uri(path: &Path) -> Result<String, StoreError> {
    let absolute = std::path::absolute(path).map_err(|e| open_error(path, &e))?;
    let mut uri = String::from("file:");
    for b in absolute.as_os_str().as_encoded_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                uri.push(char::from(*b))
            }
            _ => uri.push_str(&format!("%{b:02X}")),
        }
    }
    uri.push_str("?mode=ro&immutable=1");
    Ok(uri)
}

/// A read-only connection. A WAL log with no `-wal` file is quiescent: it is
/// opened immutable (no side files; works on read-only mounts) and stamped,
/// so a writer that changes it meanwhile is noticed ([`FileStamp`]). A log
/// that a writer has open (its `-wal` exists) or one in rollback mode is
/// opened as a normal read-only connection, which changes neither the log
/// nor its `-wal`, but (as every SQLite reader of a WAL log) creates or
/// updates the `-shm` index beside them (docs/evidence-schema.md).
fn connect_read(path: &Path, busy_timeout: Duration) -> Result<Opened, StoreError> {
    let sql = |e| StoreError::sqlite(path, e);
    let Some(head) = header(path)? else {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: "the file is empty (0 bytes): a runsheet log is never empty, so it was truncated or is not a log".into(),
        });
    };
    let wal_mode = head[18] == 2 && head[19] == 2;
    let before = FileStamp::of(path).map_err(|e| open_error(path, &e))?;
    let (conn, stamp) = if wal_mode && !wal_path(path).exists() {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(immutable_uri(path)?, flags).map_err(sql)?;
        (conn, Some(before))
    } else {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(sql)?;
        (conn, None)
    };
    conn.busy_timeout(busy_timeout).map_err(sql)?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")
        .map_err(sql)?;
    let version = user_version(&conn).map_err(sql)?;
    check_version(&conn, path, version)?;
    if version == 0 {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: "the file is an empty SQLite database with no runsheet schema".into(),
        });
    }
    // A reader can do without migrations that readers do not need (indexes,
    // views, the record-hash format of later events); anything else needs the
    // upgrade, which only a command that writes does.
    let pending = MIGRATIONS
        .iter()
        .skip(usize::try_from(version).unwrap_or(0));
    if !pending.clone().all(|m| !m.readers_need) {
        return Err(StoreError::NeedsUpgrade {
            path: path.to_path_buf(),
            found: version,
        });
    }
    Ok(Opened { conn, stamp })
}

/// A writing connection: WAL, `synchronous=FULL`, and the schema brought up
/// to date. The file is checked to be a runsheet log (or new) before any
/// pragma that would change it.
fn connect_write(
    path: &Path,
    busy_timeout: Duration,
    identity: &LogIdentity,
    created: bool,
) -> Result<Opened, StoreError> {
    let sql = |e| StoreError::sqlite(path, e);
    if header(path)?.is_none() && !created {
        wait_for_creator(path, busy_timeout)?;
    }
    // No SQLITE_OPEN_CREATE: the file was created (with its mode) beforehand, or
    // the caller wants an error when it is missing. No SQLITE_OPEN_URI: a path
    // is always a path.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(sql)?;
    conn.busy_timeout(busy_timeout).map_err(sql)?;
    // The first read of a WAL log creates its -wal and -shm files: in a
    // directory that cannot be written (a read-only mount, say) it cannot open.
    let version = user_version(&conn).map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::CannotOpen) => StoreError::ReadOnly {
            path: path.to_path_buf(),
        },
        _ => sql(e),
    })?;
    check_version(&conn, path, version)?;
    if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
        return Err(StoreError::ReadOnly {
            path: path.to_path_buf(),
        });
    }
    // Returns the mode now in effect; a file system without WAL support keeps
    // its old mode, which is still correct, only slower with two writers.
    let _mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(sql)?;
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        .map_err(sql)?;
    migrate(&mut conn, path, identity)?;
    Ok(Opened { conn, stamp: None })
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Apply the migrations this log has not seen yet, in one transaction, and
/// record them in the chain in that transaction: a new log gets its
/// `log-created` event (seq 1), an older one a `schema-migrated` event. Both
/// are hashed with record format 2, as is every event after them.
fn migrate(conn: &mut Connection, path: &Path, identity: &LogIdentity) -> Result<(), StoreError> {
    let sql = |e| StoreError::sqlite(path, e);
    if user_version(conn).map_err(sql)? == SCHEMA_VERSION {
        return Ok(());
    }
    // IMMEDIATE: two processes opening a new log at once take turns; the second
    // sees the first one's work below and does nothing.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    let version = user_version(&tx).map_err(sql)?;
    check_version(&tx, path, version)?;
    if version == SCHEMA_VERSION {
        return tx.commit().map_err(sql);
    }
    // A log from before signed checkpoints (schema 1 to 3) never had a key,
    // so a key file already at its key path belongs to a log that did: this
    // one was rewritten to look older, which would switch its checkpoint
    // rules off (verify exempts what came before a log-key event), and
    // upgrading it would sign the rewrite with the real key. Refused before
    // anything is written (docs/custody.md, "Upgrading an older log").
    let key_path = identity.key_path(path);
    if (1..4).contains(&version) && std::fs::symlink_metadata(&key_path).is_ok() {
        return Err(StoreError::Key {
            path: path.to_path_buf(),
            message: format!(
                "this log says it is of schema {version}, from before signed checkpoints, yet a signing key already exists at {}: a log older than its key was rewritten to look older (which switches its checkpoints off), so it was not upgraded and nothing was written. Check it against an anchor or an earlier bundle (`runsheet verify --trusted FILE --key KEY`, `runsheet verify-bundle DIR --db LOG`); if it really is an old log and the key was made for something else, give the upgrade another key path (--key-file)",
                key_path.display()
            ),
        });
    }
    let start = usize::try_from(version).unwrap_or(0);
    for migration in MIGRATIONS.iter().skip(start) {
        tx.execute_batch(migration.sql).map_err(sql)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(sql)?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(sql)?;
    let runsheet_version = env!("CARGO_PKG_VERSION");
    let (log_id, at) = identity
        .created
        .unwrap_or_else(|| (uuid::Uuid::now_v7(), Utc::now()));
    let event = if version == 0 {
        LogCreated {
            log_id: log_id.hyphenated().to_string(),
            schema: SCHEMA_VERSION,
            record_hash: RecordFormat::V2.number(),
            runsheet_version: runsheet_version.into(),
            test_data: identity.test_data,
        }
        .event(&identity.actor, at)
    } else {
        SchemaMigrated {
            from: version,
            to: SCHEMA_VERSION,
            record_hash: RecordFormat::V2.number(),
            runsheet_version: runsheet_version.into(),
        }
        .event(&identity.actor, at)
    };
    // A log older than schema 4 gets its tree over every record first; a
    // schema-4 log has one, which the migration event extends.
    let tree = match version {
        0 => Some(Frontier::new()),
        1..4 => Some(super::tree::build(&tx).map_err(|e| WriteError::from(e).into_store(path))?),
        _ => None,
    };
    let (_, mut tree) = insert_log_event(&tx, tree, &event).map_err(|e| e.into_store(path))?;
    if version < 4 {
        // The log's key: its origin names the host and the log.
        let origin_id = if version == 0 {
            log_id
        } else {
            uuid::Uuid::now_v7()
        };
        // A reproducible test log (generated, marked as not evidence) gets
        // the same origin and key on every machine: the host "testdata" and
        // a key derived from its log id. Nothing else does.
        let (host, seed) = match identity.created {
            Some((id, _)) => ("testdata".to_string(), Some(signing::test_log_seed(&id))),
            None => (whoami::hostname().unwrap_or_else(|_| "host".into()), None),
        };
        let origin = signing::origin_for(&host, &origin_id);
        let signer = signing::obtain_key(path, &key_path, &origin, seed)?;
        let key_event = signing::log_key_event(&signer, &identity.actor, at);
        (_, tree) =
            insert_log_event(&tx, Some(tree), &key_event).map_err(|e| e.into_store(path))?;
        let mut custodian = signing::Custodian::new(signer);
        let reason = if version == 0 {
            KIND_LOG_CREATED
        } else {
            KIND_SCHEMA_MIGRATED
        };
        signing::sign_in_tx(&tx, &mut custodian, &tree, reason, at).map_err(|e| {
            StoreError::Key {
                path: path.to_path_buf(),
                message: e.message(),
            }
        })?;
    }
    tx.commit().map_err(sql)
}

/// Refuse newer schemas and SQLite files that are not runsheet logs.
fn check_version(conn: &Connection, path: &Path, version: i64) -> Result<(), StoreError> {
    let sql = |e| StoreError::sqlite(path, e);
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    let foreign = if version == 0 {
        let objects: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(sql)?;
        objects > 0
    } else {
        let app: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(sql)?;
        app != APPLICATION_ID
    };
    if foreign {
        return Err(StoreError::Foreign {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// A log as a version-2 runsheet created it: migrations 1 and 2, WAL.
    fn version_two_log(path: &Path) {
        let conn = Connection::open(path).expect("create");
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .expect("wal");
        for m in &MIGRATIONS[..2] {
            conn.execute_batch(m.sql).expect("migration");
        }
        conn.pragma_update(None, "user_version", 2)
            .expect("version");
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .expect("id");
    }

    fn bytes(path: &Path) -> Vec<u8> {
        std::fs::read(path).expect("read")
    }

    #[test]
    fn a_reader_opens_an_older_log_without_changing_it_and_a_writer_records_the_upgrade() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.sqlite3");
        version_two_log(&path);
        let before = bytes(&path);
        let reader = Store::options()
            .read_only(true)
            .open_existing(&path)
            .expect("a read-only open of a version-2 log works");
        assert!(reader.verify().expect("verify").is_ok());
        drop(reader);
        assert_eq!(bytes(&path), before, "a reader changes nothing");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["log.sqlite3"], "and leaves no side files");
        drop(Store::open(&path).expect("a writer upgrades"));
        let conn = Connection::open(&path).expect("open");
        assert_eq!(user_version(&conn).expect("version"), SCHEMA_VERSION);
        let (kind, payload): (String, String) = conn
            .query_row("SELECT kind, payload FROM events ORDER BY seq", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("migration event");
        assert_eq!(kind, KIND_SCHEMA_MIGRATED);
        assert!(payload.contains(r#""from":2"#), "{payload}");
    }

    #[test]
    fn the_immutable_uri_escapes_the_path() {
        let uri = immutable_uri(Path::new("/tmp/a b/100%?#.sqlite3")).expect("uri");
        assert_eq!(
            uri,
            "file:/tmp/a%20b/100%25%3F%23.sqlite3?mode=ro&immutable=1"
        );
    }
}
