//! Where a bundle goes: checks on the target directory (absent, empty, or a
//! previous bundle to replace with `--force`), the temporary directory next
//! to it (same file system) that is removed unless kept, and the final rename.
//!
//! May not depend on the store, the front ends or the app.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::super::manifest;
use crate::error::Error;

fn io_err(path: &Path, e: &io::Error) -> Error {
    Error::io(path, e)
}

/// A temporary directory removed on drop unless kept.
pub struct TempDir {
    pub path: PathBuf,
    pub keep: bool,
}

impl TempDir {
    pub fn create(parent: &Path, name: &str, now: DateTime<Utc>) -> Result<TempDir, Error> {
        let stamp = now.timestamp_nanos_opt().unwrap_or(0);
        let path = parent.join(format!(
            ".{name}.runsheet-tmp-{}-{stamp:x}",
            std::process::id()
        ));
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            // The evidence is as private as the log (0600): owner-only.
            builder.mode(0o700);
        }
        builder.create(&path).map_err(|e| io_err(&path, &e))?;
        fs::create_dir(path.join("procedures")).map_err(|e| io_err(&path, &e))?;
        Ok(TempDir { path, keep: false })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// What is at the target path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Absent,
    Empty,
    /// A previous bundle, replaced with --force.
    Replace,
}

pub fn check_target(out: &Path, force: bool) -> Result<Target, Error> {
    let meta = match fs::symlink_metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Target::Absent),
        Err(e) => return Err(io_err(out, &e)),
    };
    if !meta.is_dir() {
        return Err(Error::Io {
            path: out.to_path_buf(),
            message: "exists and is not a directory; choose a new directory for the bundle".into(),
        });
    }
    let mut entries = fs::read_dir(out).map_err(|e| io_err(out, &e))?;
    let first = entries.next();
    let Some(first) = first else {
        return Ok(Target::Empty);
    };
    if !force {
        return Err(Error::Io {
            path: out.to_path_buf(),
            message: "is not empty; nothing was written. Choose a new or empty directory, or pass --force to replace a previous bundle there".into(),
        });
    }
    let is_bundle = fs::read_to_string(out.join(manifest::FILE))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v["format"] == manifest::FORMAT);
    if !is_bundle {
        let example = first
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .unwrap_or_default();
        return Err(Error::Io {
            path: out.to_path_buf(),
            message: format!(
                "holds files that are not an audit bundle (e.g. {example:?}); --force only replaces a previous bundle, so nothing was written or deleted. Choose a new or empty directory"
            ),
        });
    }
    Ok(Target::Replace)
}

/// The directory the target lives in; it must exist.
pub fn parent_dir(out: &Path) -> Result<PathBuf, Error> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match fs::metadata(&parent) {
        Ok(m) if m.is_dir() => Ok(parent),
        Ok(_) => Err(Error::Io {
            path: out.to_path_buf(),
            message: format!(
                "cannot be created: {} is not a directory; nothing was written",
                parent.display()
            ),
        }),
        Err(e) => Err(Error::Io {
            path: out.to_path_buf(),
            message: format!(
                "cannot be created: {} ({e}); create the parent directory first. Nothing was written",
                parent.display()
            ),
        }),
    }
}

/// Best effort: make a directory's entries durable.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Rename the finished temporary directory to the target.
pub fn place(tmp: &Path, out: &Path, target: Target, parent: &Path, name: &str) -> io::Result<()> {
    match target {
        Target::Absent => fs::rename(tmp, out),
        Target::Empty => fs::rename(tmp, out).or_else(|_| {
            fs::remove_dir(out)?;
            fs::rename(tmp, out)
        }),
        Target::Replace => {
            let old = parent.join(format!(".{name}.runsheet-old-{}", std::process::id()));
            fs::rename(out, &old)?;
            if let Err(e) = fs::rename(tmp, out) {
                let _ = fs::rename(&old, out);
                return Err(e);
            }
            let _ = fs::remove_dir_all(&old);
            Ok(())
        }
    }
}
