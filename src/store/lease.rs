//! One live session per run: a lease is an exclusive OS file lock on
//! `<log>.leases/<run id>.lock`, held by the process driving the run and
//! released by the operating system when that process ends for any reason
//! (kill -9 and power loss included). The file says who holds it, so a
//! second session is refused with who and where. Taking over from a dead
//! holder is simply taking the lock; the session records how it took the
//! run up (`resumed`, `recovered`, `handed-over`) in the log itself. The
//! lease files are as accessible as the log file.
//!
//! May not depend on the engine, tui, export or app.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Store, StoreError, time_text};

/// Who drives a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The operator as recorded (display name and OS user).
    pub operator: String,
    pub host: String,
    pub pid: u32,
    /// When the session took the run (RFC 3339).
    pub since: String,
}

impl Holder {
    /// This process, for `operator`, from `since`.
    pub fn this_process(operator: &str, host: &str, since: DateTime<Utc>) -> Holder {
        Holder {
            operator: operator.to_string(),
            host: host.to_string(),
            pid: std::process::id(),
            since: time_text(since),
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on host {} (process {}, since {})",
            self.operator, self.host, self.pid, self.since
        )
    }
}

/// A held lease: the run is this session's until the value is dropped (or
/// the process ends).
#[derive(Debug)]
pub struct RunLease {
    file: File,
    path: PathBuf,
}

impl RunLease {
    /// The run has ended: nobody will lease it again, so its lock file goes.
    pub fn release_ended(self) {
        let _ = fs::remove_file(&self.path);
        drop(self.file);
    }
}

fn lease_dir(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_os_string();
    name.push(".leases");
    PathBuf::from(name)
}

impl Store {
    /// Take the lease on run `run` for `holder`, or say who holds it
    /// ([`StoreError::RunBusy`]). Never waits.
    pub fn lease_run(&self, run: Uuid, holder: &Holder) -> Result<RunLease, StoreError> {
        let io = |what: &str, e: std::io::Error| StoreError::Io {
            path: self.path.clone(),
            message: format!(
                "cannot {what} the run's lease file beside the evidence log: {e}; check that the log's directory is writable"
            ),
        };
        let dir = lease_dir(&self.path);
        // Whoever may write the log may lease its runs: the lease files are
        // exactly as accessible as the log file (a log shared by a group of
        // operators shares its leases with them, for handovers).
        let file_mode = log_mode(&self.path);
        if !dir.exists() {
            fs::create_dir_all(&dir).map_err(|e| io("create", e))?;
            set_mode(&dir, file_mode | ((file_mode & 0o444) >> 2)).map_err(|e| io("create", e))?;
        }
        let path = dir.join(format!("{}.lock", run.hyphenated()));
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        let fresh = !path.exists();
        let mut file = options.open(&path).map_err(|e| io("open", e))?;
        if fresh {
            set_mode(&path, file_mode).map_err(|e| io("open", e))?;
        }
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::RunBusy {
                    path: self.path.clone(),
                    run,
                    holder: holder_of(&mut file),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io("lock", e)),
        }
        let text = serde_json::to_string(holder).unwrap_or_default();
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(text.as_bytes()))
            .and_then(|()| file.sync_data())
            .map_err(|e| io("write", e))?;
        Ok(RunLease { file, path })
    }
}

/// The permission bits of the log file (0600 when they cannot be read).
fn log_mode(log: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(log).map_or(0o600, |m| m.permissions().mode() & 0o666)
    }
    #[cfg(not(unix))]
    {
        let _ = log;
        0o600
    }
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// Who the lock file says holds the run (its holder writes that just after
/// locking, so a moment later it is there).
fn holder_of(file: &mut File) -> String {
    for _ in 0..20 {
        let mut text = String::new();
        if file.rewind().is_ok()
            && file.read_to_string(&mut text).is_ok()
            && let Ok(h) = serde_json::from_str::<Holder>(&text)
        {
            return h.to_string();
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    "another runsheet process (it has not said who yet)".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn lease_files_are_as_accessible_as_the_log() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.sqlite3");
        let store = Store::open(&path).expect("open");
        // A log shared by a group of operators.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o660)).expect("chmod");
        let run = Uuid::from_u128(9);
        let at = DateTime::from_timestamp(1_750_000_000, 0).expect("time");
        let _lease = store
            .lease_run(run, &Holder::this_process("Alice (alice)", "h", at))
            .expect("lease");
        let mode = |p: &Path| fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        let leases = lease_dir(&path);
        assert_eq!(mode(&leases), 0o770);
        assert_eq!(mode(&leases.join(format!("{run}.lock"))), 0o660);
    }

    #[test]
    fn a_second_lease_is_refused_with_the_holder_and_a_dead_one_is_free_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.sqlite3");
        let store = Store::open(&path).expect("open");
        let other = Store::open(&path).expect("second handle");
        let run = Uuid::from_u128(7);
        let at = DateTime::from_timestamp(1_750_000_000, 0).expect("time");
        let lease = store
            .lease_run(run, &Holder::this_process("Alice (alice)", "host1", at))
            .expect("lease");
        let err = other
            .lease_run(run, &Holder::this_process("Bob (bob)", "host2", at))
            .expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("Alice (alice) on host host1") && text.contains(&run.to_string()),
            "{text}"
        );
        // Another run is free.
        drop(other.lease_run(Uuid::from_u128(8), &Holder::this_process("Bob", "h", at)));
        drop(lease);
        let again = other
            .lease_run(run, &Holder::this_process("Bob (bob)", "host2", at))
            .expect("free once the holder is gone");
        again.release_ended();
        assert!(!lease_dir(&path).join(format!("{run}.lock")).exists());
    }
}
