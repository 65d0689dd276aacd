//! Anchoring (docs/custody.md#anchoring-runsheet-anchor): a signed checkpoint
//! put where the log's writers cannot change it — a QR code for a paper
//! logbook or a phone photo, a text file, a commit in another git repository.
//!
//! May not depend on the store, the engine, the front ends or the exports.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

use crate::error::{Error, Result};

/// The note as a QR code drawn with Unicode half blocks (two rows of modules
/// per line), dark on light, with the quiet zone around it.
pub fn qr_text(note: &str) -> Result<String> {
    let code = QrCode::new(note.as_bytes())
        .map_err(|e| Error::Internal(format!("the checkpoint does not fit a QR code: {e}")))?;
    let mut text = code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build();
    text.push('\n');
    Ok(text)
}

/// The path `p` names, with symbolic links resolved, when it exists; else
/// its directory resolved and its name (following a dangling link's target),
/// so a file about to be created is compared where it will be.
fn resolved(p: &Path) -> PathBuf {
    let mut p = p.to_path_buf();
    for _ in 0..40 {
        if let Ok(real) = std::fs::canonicalize(&p) {
            return real;
        }
        match std::fs::read_link(&p) {
            Ok(target) => {
                p = match p.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            Err(_) => break,
        }
    }
    match (p.parent(), p.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            std::fs::canonicalize(dir)
                .map(|d| d.join(name))
                .unwrap_or(p.clone())
        }
        _ => p,
    }
}

/// May `anchor --append` write to `file`? Not if it is one of the log's own
/// files (`own`: the log, its -wal/-shm/-journal, its key file), by any
/// path or link, nor an existing non-empty file that does not already hold
/// anchors of this log (its first line is not the log's `origin`; with no
/// origin known yet, any non-empty file is refused).
pub fn check_append_target(file: &Path, own: &[PathBuf], origin: Option<&str>) -> Result<()> {
    if let Ok(meta) = std::fs::metadata(file)
        && !meta.is_file()
    {
        return Err(Error::Input(format!(
            "{}: not a regular file (a directory, FIFO or device); nothing was written. Name a text file for the anchors",
            file.display()
        )));
    }
    let target = resolved(file);
    if let Some(hit) = own.iter().find(|p| resolved(p) == target) {
        return Err(Error::Input(format!(
            "{}: it is the evidence log's own file ({}); an anchor belongs somewhere the log's writers cannot reach, and appending there would break the log. Nothing was written; choose another file",
            file.display(),
            hit.display()
        )));
    }
    let text = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(file, &e)),
    };
    if text.is_empty() {
        return Ok(());
    }
    let first = text.split(|b| *b == b'\n').next().unwrap_or_default();
    if origin.is_some_and(|o| first == o.as_bytes()) {
        return Ok(());
    }
    Err(Error::Input(format!(
        "{}: it exists and does not hold this log's anchors (its first line is not the log's origin{}); nothing was written. Append to a file of this log's anchors, or name a new file",
        file.display(),
        origin.map(|o| format!(" {o}")).unwrap_or_default()
    )))
}

/// Append `note` and a blank line to `file` (created, 0644, if missing), and
/// make it durable.
pub fn append(file: &Path, note: &str) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    let mut f = options.open(file).map_err(|e| Error::io(file, &e))?;
    f.write_all(format!("{note}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(file, &e))
}

/// The file an origin's anchors go to in a git repository: the origin with
/// every `/` (and anything but letters, digits, `.`, `-`, `_`) as `_`.
pub fn file_name(origin: &str) -> String {
    let safe: String = origin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.checkpoint")
}

/// git in `dir`, with the repository's hooks off (an anchor commit runs no
/// code the repository brings) and none of runsheet's variables (the key
/// file's path) in its environment.
fn git(dir: &Path, args: &[&str]) -> Result<std::process::Output> {
    let mut cmd = Command::new("git");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("RUNSHEET_") {
            cmd.env_remove(name);
        }
    }
    cmd.arg("-C")
        .arg(dir)
        .args(["-c", "core.hooksPath=/dev/null"])
        .args(args)
        .output()
        .map_err(|e| Error::Io {
            path: dir.to_path_buf(),
            message: format!("cannot run git: {e}; install git or anchor with --append instead"),
        })
}

fn git_failed(dir: &Path, what: &str, out: &std::process::Output) -> Error {
    Error::Io {
        path: dir.to_path_buf(),
        message: format!(
            "git {what} failed: {}{}",
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        ),
    }
}

/// Write the checkpoint into the repository's file for `origin` and commit
/// it (that file only). `None` when the repository already holds exactly it.
/// The file is replaced by a rename, never written through: a link the
/// repository holds under that name (to the log, its key, anything) is
/// refused, and nothing is written anywhere else.
pub fn commit_to_git(
    dir: &Path,
    origin: &str,
    size: u64,
    note: &str,
    own: &[PathBuf],
) -> Result<Option<String>> {
    let inside = git(dir, &["rev-parse", "--is-inside-work-tree"])?;
    if !inside.status.success() || !String::from_utf8_lossy(&inside.stdout).starts_with("true") {
        return Err(Error::Input(format!(
            "{} is not a git work tree git will use ({}); create one with `git init {}` (ideally somewhere the log's writers cannot push to), owned by the user who anchors",
            dir.display(),
            String::from_utf8_lossy(&inside.stderr).trim(),
            dir.display()
        )));
    }
    let name = file_name(origin);
    let path = dir.join(&name);
    check_git_target(&path, own)?;
    if std::fs::read_to_string(&path).is_ok_and(|old| old == note) {
        return Ok(None);
    }
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(note.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(&path, &e));
    }
    let add = git(dir, &["add", "--", &name])?;
    if !add.status.success() {
        return Err(git_failed(dir, "add", &add));
    }
    let message = format!("runsheet anchor: {origin} at {size} records");
    let commit = git(dir, &["commit", "--quiet", "-m", &message, "--", &name])?;
    if !commit.status.success() {
        return Err(git_failed(dir, "commit", &commit));
    }
    Ok(Some(name))
}

/// The anchor file in a repository must be a plain file of its own (or not
/// exist yet): not a link (symbolic, or hard with another name), not the
/// log's own files.
pub fn check_git_target(path: &Path, own: &[PathBuf]) -> Result<()> {
    let refuse = |why: &str| {
        Err(Error::Input(format!(
            "{}: {why}; an anchor replaces only a plain file of its own. Nothing was written; remove it from the repository, or anchor into another one",
            path.display()
        )))
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, &e)),
    };
    if meta.file_type().is_symlink() {
        return refuse("it is a symbolic link");
    }
    if !meta.is_file() {
        return refuse("it is not a regular file");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.nlink() > 1 {
            return refuse("it is a hard link to another file");
        }
    }
    let target = resolved(path);
    if own.iter().any(|p| resolved(p) == target) {
        return refuse("it is the evidence log's own file");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_become_safe_file_names() {
        assert_eq!(
            file_name("runsheet/host-1/0190a0b1-0000-7000-8000-000000000001"),
            "runsheet_host-1_0190a0b1-0000-7000-8000-000000000001.checkpoint"
        );
        assert_eq!(file_name("a b/../c"), "a_b_.._c.checkpoint");
    }

    #[test]
    fn a_checkpoint_fits_a_qr_code_of_half_blocks() {
        let note = "runsheet/example/0190\n3\nePfQdaAwau5EG4349LgUJpxg/d8buiXdbeXxky64mGc=\n\n— runsheet/example/0190 SK9ujUmznESTYhRBaEVYZEa3+k01dbMQI5WjfysNeXaNGRezGBkkzeMZ0voWXh4x+aZg7gTt2Jpi5p+11VIiz+dx9Aw=\n";
        let qr = qr_text(note).expect("qr");
        let lines: Vec<&str> = qr.lines().collect();
        assert!(lines.len() > 20, "{qr}");
        assert!(
            lines.iter().all(|l| l.chars().all(|c| " ▀▄█".contains(c))),
            "{qr}"
        );
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width));
    }
}
