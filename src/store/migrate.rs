//! Opening the log: the file and directory with owner-only permissions, the
//! per-connection pragmas, and schema migrations under `PRAGMA user_version`.
//!
//! May not depend on anything outside the store.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::StoreError;
use super::schema::{APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION};

/// Create the log's parent directories (0700) and the file itself (0600) when
/// they do not exist yet. Existing files and directories are left as they are.
pub(super) fn create_file(path: &Path) -> Result<(), StoreError> {
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
            Ok(_) => {}
            // Another process created it first: fine.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io("the file", path, e)),
        }
    }
    Ok(())
}

/// Open a connection with the log's pragmas and bring its schema up to date.
pub(super) fn connect(
    path: &Path,
    busy_timeout: Duration,
    read_only: bool,
) -> Result<Connection, StoreError> {
    let sql = |e| StoreError::sqlite(path, e);
    // No SQLITE_OPEN_CREATE: the file was created (with its mode) beforehand, or
    // the caller wants an error when it is missing. No SQLITE_OPEN_URI: a path
    // is always a path.
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let mut conn = Connection::open_with_flags(path, flags).map_err(sql)?;
    conn.busy_timeout(busy_timeout).map_err(sql)?;
    if !read_only {
        // Returns the mode now in effect; a file system without WAL support keeps
        // its old mode, which is still correct, only slower with two writers.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(sql)?;
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        .map_err(sql)?;
    migrate(&mut conn, path, read_only)?;
    Ok(conn)
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Apply the migrations this log has not seen yet, in one transaction.
fn migrate(conn: &mut Connection, path: &Path, read_only: bool) -> Result<(), StoreError> {
    let sql = |e| StoreError::sqlite(path, e);
    let version = user_version(conn).map_err(sql)?;
    check_version(conn, path, version)?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    if read_only {
        // A reader can do without index-only migrations (it is only slower);
        // anything else needs the upgrade, which a read-only open cannot do.
        let pending = MIGRATIONS
            .iter()
            .skip(usize::try_from(version).unwrap_or(0));
        if pending.clone().all(|m| !m.readers_need) {
            return Ok(());
        }
        return Err(StoreError::ReadOnly {
            path: path.to_path_buf(),
        });
    }
    // IMMEDIATE: two processes opening a new log at once take turns; the second
    // sees the first one's work below and does nothing.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    let version = user_version(&tx).map_err(sql)?;
    check_version(&tx, path, version)?;
    let start = usize::try_from(version).unwrap_or(0);
    for migration in MIGRATIONS.iter().skip(start) {
        tx.execute_batch(migration.sql).map_err(sql)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(sql)?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(sql)?;
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
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: "it is a SQLite database, but not a runsheet evidence log".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// A log as a version-1 runsheet left it: no deviation index, user_version 1.
    fn version_one_log(path: &Path) {
        drop(Store::open(path).expect("create"));
        let conn = Connection::open(path).expect("open");
        conn.execute_batch("DROP INDEX events_deviations; PRAGMA user_version = 1;")
            .expect("downgrade");
    }

    fn has_index(path: &Path) -> bool {
        let conn = Connection::open(path).expect("open");
        conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'events_deviations'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .expect("query")
            == 1
    }

    #[test]
    fn a_reader_opens_a_log_that_lacks_only_an_index_and_a_writer_adds_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.sqlite3");
        version_one_log(&path);
        let reader = Store::options()
            .read_only(true)
            .open_existing(&path)
            .expect("a read-only open of a version-1 log works");
        assert!(reader.verify().expect("verify").is_ok());
        drop(reader);
        assert!(!has_index(&path), "a reader changes nothing");
        drop(Store::open(&path).expect("a writer upgrades"));
        assert!(has_index(&path));
        let conn = Connection::open(&path).expect("open");
        assert_eq!(user_version(&conn).expect("version"), SCHEMA_VERSION);
    }
}
