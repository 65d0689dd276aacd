//! Drafts of notes being written, kept in files beside the evidence log
//! (`<log>.drafts/<run id>.<step id>.txt`), so a note is not lost when the
//! editor is closed, the run suspended or runsheet killed while it is
//! written. A draft is evidence of nothing: it is not in the log, and it is
//! removed once the note is recorded.
//!
//! May not depend on the store, the engine or the front ends.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::session::Drafts;

/// The drafts of one run, as files in one folder.
#[derive(Debug, Clone)]
pub struct DraftFiles {
    dir: PathBuf,
    run: String,
}

impl DraftFiles {
    /// The drafts of run `run` of the log at `log`.
    pub fn beside(log: &Path, run: &str) -> DraftFiles {
        let mut name = log.as_os_str().to_os_string();
        name.push(".drafts");
        DraftFiles {
            dir: PathBuf::from(name),
            run: run.to_string(),
        }
    }

    fn path(&self, step: &str) -> Option<PathBuf> {
        // Step ids are lower-case letters, digits and dashes (lint checks);
        // anything else has no draft file.
        let safe = !step.is_empty()
            && step
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        safe.then(|| self.dir.join(format!("{}.{step}.txt", self.run)))
    }
}

impl Drafts for DraftFiles {
    fn load(&self, step: &str) -> Option<String> {
        fs::read_to_string(self.path(step)?)
            .ok()
            .filter(|t| !t.is_empty())
    }

    fn save(&self, step: &str, text: &str) -> Result<(), String> {
        let Some(path) = self.path(step) else {
            return Ok(());
        };
        if text.is_empty() {
            self.clear(step);
            return Ok(());
        }
        let fail = |e: std::io::Error| {
            format!("the draft could not be kept in {}: {e}", self.dir.display())
        };
        let mut dirs = fs::DirBuilder::new();
        dirs.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            dirs.mode(0o700);
        }
        dirs.create(&self.dir).map_err(fail)?;
        // Written whole, then renamed over the old one: a kill leaves the
        // old draft or the new one, never half of one.
        let tmp = path.with_extension("txt.tmp");
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp).map_err(fail)?;
        f.write_all(text.as_bytes()).map_err(fail)?;
        fs::rename(&tmp, &path).map_err(fail)
    }

    fn clear(&self, step: &str) {
        if let Some(path) = self.path(step) {
            let _ = fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_is_kept_replaced_and_cleared() {
        let dir = tempfile::tempdir().expect("tempdir");
        let drafts = DraftFiles::beside(&dir.path().join("log.sqlite3"), "r1");
        assert_eq!(drafts.load("wrap-up"), None);
        drafts.save("wrap-up", "first").expect("save");
        drafts.save("wrap-up", "first line\nsecond").expect("save");
        assert_eq!(
            drafts.load("wrap-up").as_deref(),
            Some("first line\nsecond")
        );
        // Another run's drafts are its own; odd step ids have none.
        let other = DraftFiles::beside(&dir.path().join("log.sqlite3"), "r2");
        assert_eq!(other.load("wrap-up"), None);
        drafts.save("../x", "no").expect("ignored");
        assert_eq!(drafts.load("../x"), None);
        drafts.clear("wrap-up");
        assert_eq!(drafts.load("wrap-up"), None);
        drafts.save("wrap-up", "again").expect("save");
        drafts.save("wrap-up", "").expect("empty clears");
        assert_eq!(drafts.load("wrap-up"), None);
    }
}
