//! The configuration file (docs/config.md): `runsheet/config.toml` in the
//! platform config directory, or the file `--config` / `RUNSHEET_CONFIG`
//! names. It gives defaults for what flags and variables also set; a flag
//! wins over its variable, a variable over the file, the file over
//! runsheet's default. Unknown keys and wrong types are errors at their
//! line and column.
//!
//! May not depend on anything in the crate but `text`.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// The variable naming the configuration file.
pub const CONFIG_ENV: &str = "RUNSHEET_CONFIG";

/// What a configuration file sets (each value with where it is in the file).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Your display name, recorded beside your OS user (`--operator`).
    pub operator: Option<Spanned<String>>,
    /// The evidence log (`--db`).
    pub db: Option<Spanned<PathBuf>>,
    /// The procedures folder (`--procedures`).
    pub procedures: Option<Spanned<PathBuf>>,
    /// The log's signing key file (`--key-file`).
    pub key_file: Option<Spanned<PathBuf>>,
    /// The allowed-signers file for sign-offs (`--allowed-signers`).
    pub allowed_signers: Option<Spanned<PathBuf>>,
    /// How long a write waits for another runsheet process, in milliseconds.
    pub busy_timeout_ms: Option<Spanned<u64>>,
    /// What `run` does with content no approver approved: `refuse`, `warn`
    /// (the default) or `allow` (docs/approval.md).
    pub unapproved: Option<Spanned<String>>,
}

/// The values `unapproved` takes.
pub const UNAPPROVED_VALUES: [&str; 3] = ["refuse", "warn", "allow"];

/// A configuration file as read: its path, its text (for line numbers) and
/// what it sets, relative paths taken from the file's folder.
#[derive(Debug)]
pub struct Config {
    pub path: PathBuf,
    /// Given by `--config` or `RUNSHEET_CONFIG` (else found at the default place).
    pub explicit: bool,
    text: String,
    pub file: File,
}

/// Where the configuration file is looked for when none is named.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "runsheet").map(|d| d.config_dir().join("config.toml"))
}

impl Config {
    /// Read the configuration: the file named (`explicit`), which must
    /// exist, else the default file if there is one. `Ok(None)`: no file.
    pub fn load(named: Option<&Path>) -> Result<Option<Config>, String> {
        let (path, explicit) = match named {
            Some(p) => (p.to_path_buf(), true),
            None => match default_path() {
                Some(p) if p.exists() => (p, false),
                _ => return Ok(None),
            },
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "cannot read the configuration file {}: {e}{}",
                path.display(),
                if explicit {
                    " (named by --config or RUNSHEET_CONFIG)"
                } else {
                    ""
                }
            )
        })?;
        let mut file: File = toml::from_str(&text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let (l, c) = line_col(&text, s.start);
                    format!(":{l}:{c}")
                })
                .unwrap_or_default();
            format!(
                "{}{at}: {} (docs/config.md lists the keys)",
                path.display(),
                crate::text::one_line(e.message())
            )
        })?;
        if let Some(v) = &file.unapproved
            && !UNAPPROVED_VALUES.contains(&v.get_ref().as_str())
        {
            let (l, c) = line_col(&text, v.span().start);
            return Err(format!(
                "{}:{l}:{c}: unapproved = {:?} is not a policy: use \"refuse\", \"warn\" or \"allow\" (docs/approval.md)",
                path.display(),
                v.get_ref()
            ));
        }
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for p in [
            &mut file.db,
            &mut file.procedures,
            &mut file.key_file,
            &mut file.allowed_signers,
        ]
        .into_iter()
        .flatten()
        {
            if p.get_ref().is_relative() {
                let span = p.span();
                *p = Spanned::new(span, base.join(p.get_ref()));
            }
        }
        Ok(Some(Config {
            path,
            explicit,
            text,
            file,
        }))
    }

    /// "FILE:LINE" of a value in the file.
    pub fn place<T>(&self, value: &Spanned<T>) -> String {
        let (line, _) = line_col(&self.text, value.span().start);
        format!("{}:{line}", self.path.display())
    }
}

/// The 1-based line and column of byte `at` in `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path)).map(|c| c.expect("a file"))
    }

    #[test]
    fn values_are_read_with_their_lines_and_relative_paths_from_the_files_folder() {
        let c = load("# mine\noperator = \"Alice Example\"\ndb = \"log/evidence.sqlite3\"\nbusy_timeout_ms = 250\n").unwrap();
        let op = c.file.operator.as_ref().unwrap();
        assert_eq!(op.get_ref(), "Alice Example");
        assert!(c.place(op).ends_with("config.toml:2"), "{}", c.place(op));
        let db = c.file.db.as_ref().unwrap().get_ref();
        assert_eq!(db, &c.path.parent().unwrap().join("log/evidence.sqlite3"));
        assert_eq!(*c.file.busy_timeout_ms.as_ref().unwrap().get_ref(), 250);
    }

    #[test]
    fn an_unknown_key_or_a_wrong_type_is_an_error_at_its_line_and_column() {
        let e = load("operator = \"A\"\n  databse = \"x\"\n").unwrap_err();
        assert!(
            e.contains("config.toml:2:3: unknown field `databse`"),
            "{e}"
        );
        let e = load("busy_timeout_ms = \"soon\"\n").unwrap_err();
        assert!(e.contains("config.toml:1:19:"), "{e}");
    }

    #[test]
    fn the_unapproved_policy_is_one_of_three_words() {
        let c = load("unapproved = \"refuse\"\n").unwrap();
        assert_eq!(c.file.unapproved.unwrap().get_ref(), "refuse");
        let e = load("\nunapproved = \"never\"\n").unwrap_err();
        assert!(
            e.contains("config.toml:2:14: unapproved = \"never\""),
            "{e}"
        );
    }

    #[test]
    fn a_named_file_must_exist() {
        let e = Config::load(Some(Path::new("/nonexistent/runsheet.toml"))).unwrap_err();
        assert!(e.contains("(named by --config or RUNSHEET_CONFIG)"), "{e}");
    }
}
