//! Reading procedure files (TOML or JSON) into the model, keeping where each
//! value is in the source so lint can say `file:line:column`; finding
//! procedure files in a folder and resolving a procedure by id or name.
//!
//! May not depend on the engine, the store, the exports or the front ends.
//! IO: reads files and lists folders, nothing else.

mod errors;
mod schema;
mod spans;
mod structure;

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::lint::Diagnostic;
use super::model::Procedure;
use crate::error::Error;
pub use schema::json_schema;
use spans::SpanIndex;

/// The file format, from the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
}

impl Format {
    /// `toml` or `json`, as the evidence log stores it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Toml => "toml",
            Format::Json => "json",
        }
    }

    /// The format the evidence log names (`toml`/`json`); `None` for any other text.
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// The format for a path ending in `.toml` or `.json` (any case).
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?;
        if ext.eq_ignore_ascii_case("toml") {
            Some(Format::Toml)
        } else if ext.eq_ignore_ascii_case("json") {
            Some(Format::Json)
        } else {
            None
        }
    }

    /// `toml` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Toml => "toml",
            Format::Json => "json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text of a procedure file, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
    pub format: Format,
}

impl Source {
    /// Read a `.toml` or `.json` file. Errors are diagnostics without a line
    /// (`line == 0`): unreadable file, not UTF-8, unsupported extension.
    pub fn read(path: &Path) -> Result<Source, Diagnostic> {
        let Some(format) = Format::from_path(path) else {
            return Err(Diagnostic::error(
                path.to_path_buf(),
                (0, 0),
                "read",
                "not a procedure file: the name must end in .toml or .json".to_string(),
            )
            .with_hint("rename the file, e.g. to backup.toml"));
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Source::from_text(path, text, format)),
            Err(e) => {
                let (message, hint) = match e.kind() {
                    std::io::ErrorKind::NotFound => (
                        "no such file".to_string(),
                        "check the path; `runsheet list` shows the procedures it finds",
                    ),
                    std::io::ErrorKind::InvalidData => {
                        return Err(not_utf8(path));
                    }
                    std::io::ErrorKind::PermissionDenied => (
                        format!("cannot read the file: {e}"),
                        "check the file's permissions",
                    ),
                    _ => (format!("cannot read the file: {e}"), "check the path"),
                };
                Err(Diagnostic::error(path.to_path_buf(), (0, 0), "read", message).with_hint(hint))
            }
        }
    }

    /// A source from text already in memory (e.g. the copy stored with a run).
    pub fn from_text(path: impl Into<PathBuf>, text: impl Into<String>, format: Format) -> Source {
        Source {
            path: path.into(),
            text: text.into(),
            format,
        }
    }

    /// SHA-256 of the text's bytes, lower-case hex.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.text.as_bytes()))
    }
}

/// A file that is not UTF-8: where its first bad byte is.
fn not_utf8(path: &Path) -> Diagnostic {
    let bytes = std::fs::read(path).unwrap_or_default();
    let (at, message) = match std::str::from_utf8(&bytes) {
        Err(e) => {
            let good = &bytes[..e.valid_up_to()];
            let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
            let start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(&good[start..]).chars().count() + 1;
            let byte = bytes.get(e.valid_up_to()).copied().unwrap_or_default();
            (
                (line, column),
                format!(
                    "the file is not UTF-8 text: byte 0x{byte:02X} at byte offset {} is not UTF-8",
                    e.valid_up_to()
                ),
            )
        }
        Ok(_) => ((0, 0), "the file is not UTF-8 text".to_string()),
    };
    Diagnostic::error(path.to_path_buf(), at, "read", message)
        .with_hint("save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)")
}

/// A parsed procedure with its source and where each value is in it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub procedure: Procedure,
    pub source: Source,
    index: SpanIndex,
}

impl Loaded {
    /// 1-based line and column of a value, by path: `steps[3].next`,
    /// `branches[0].steps[1].id`, `roles[2]`, `approved`. A path that is not in
    /// the file falls back to its nearest parent that is, else 1:1.
    /// For a TOML table written as a `[header]`, the header's position.
    pub fn locate(&self, path: &str) -> (usize, usize) {
        match self.index.nearest(path) {
            Some(e) if !(path.is_empty() && e.value.is_empty()) => {
                spans::line_col(&self.source.text, e.value.start)
            }
            _ => (1, 1),
        }
    }

    /// Whether the file has a value at exactly this path.
    pub fn has(&self, path: &str) -> bool {
        self.index.get(path).is_some()
    }
}

/// The exact procedure a run used, from the source text and format name the
/// evidence log holds under its SHA-256 (named `<stored procedure …>` in
/// diagnostics). The log holds only `toml` and `json`; verify checks that.
pub fn stored(sha256: &str, text: String, format: &str) -> Result<Loaded, Diagnostic> {
    let short = sha256.get(..12).unwrap_or(sha256);
    parse(Source::from_text(
        PathBuf::from(format!("<stored procedure {short}>")),
        text,
        Format::from_name(format).unwrap_or(Format::Toml),
    ))
}

/// Parse a source into a procedure. Syntax errors and data errors (unknown
/// keys, wrong types, missing fields, bad values) come back as one diagnostic
/// with line:column and a hint.
pub fn parse(source: Source) -> Result<Loaded, Diagnostic> {
    match source.format {
        Format::Toml => parse_toml(source),
        Format::Json => parse_json(source),
    }
}

/// [`parse`], with every unknown and every missing required key of a file
/// that fails on one (serde stops at the first): what `lint` reports, in
/// file order. A syntax error is the only diagnostic.
pub fn parse_all(source: Source) -> Result<Loaded, Vec<Diagnostic>> {
    let first = match parse(source.clone()) {
        Ok(loaded) => return Ok(loaded),
        Err(d) => d,
    };
    if first.code == "syntax" {
        return Err(vec![first]);
    }
    let index = match source.format {
        Format::Toml => parse_toml_index(&source),
        Format::Json => Some(spans::json_index(&json_text(&source)).0),
    };
    let Some(index) = index else {
        return Err(vec![first]);
    };
    let schema: serde_json::Value = serde_json::from_str(&json_schema()).unwrap_or_default();
    let mut all: Vec<Diagnostic> = structure::check(&schema, &index)
        .into_iter()
        .filter_map(|p| errors::structure_error(&source, &index, &p))
        .collect();
    let same = |d: &Diagnostic| d.code == first.code && d.message == first.message;
    if !all.iter().any(same) {
        all.push(first);
    }
    all.sort_by_key(|d| (d.line, d.column));
    Err(all)
}

/// The span index of TOML text, `None` on a syntax error.
pub(crate) fn parse_toml_index(source: &Source) -> Option<SpanIndex> {
    toml::de::DeTable::parse(&source.text)
        .ok()
        .map(|root| spans::toml_index(&root))
}

/// JSON text as serde reads it: a byte-order mark read as blanks (TOML
/// accepts one too), so positions stay those of the file's bytes.
fn json_text(source: &Source) -> std::borrow::Cow<'_, str> {
    let bom = '\u{feff}'.len_utf8();
    if source.text.starts_with('\u{feff}') {
        std::borrow::Cow::Owned(spans::blank(&source.text, 0..bom))
    } else {
        std::borrow::Cow::Borrowed(source.text.as_str())
    }
}

fn parse_toml(source: Source) -> Result<Loaded, Diagnostic> {
    let root = match toml::de::DeTable::parse(&source.text) {
        Ok(root) => root,
        Err(e) => return Err(errors::toml_error(&source, &e, None)),
    };
    let index = spans::toml_index(&root);
    // Deserialize the tree already parsed: the text is parsed once, not twice
    // (half of `lint`'s time on large folders).
    match <Procedure as serde::Deserialize>::deserialize(toml::de::Deserializer::from(root)) {
        Ok(procedure) => Ok(Loaded {
            procedure,
            source,
            index,
        }),
        Err(e) => Err(errors::toml_error(&source, &e, Some(&index))),
    }
}

fn parse_json(source: Source) -> Result<Loaded, Diagnostic> {
    let plain = json_text(&source);
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&plain) {
        return Err(errors::json_error(&source, &e, None));
    }
    let (index, schema_member) = spans::json_index(&plain);
    // `$schema` tells editors which schema to use; it is not part of the model.
    let text = match schema_member {
        Some(range) => std::borrow::Cow::Owned(spans::blank(&plain, range)),
        None => plain,
    };
    let parsed = serde_json::from_str::<Procedure>(&text);
    drop(text);
    match parsed {
        Ok(procedure) => Ok(Loaded {
            procedure,
            source,
            index,
        }),
        Err(e) => Err(errors::json_error(&source, &e, Some(&index))),
    }
}

/// The procedure files (`*.toml`, `*.json`) directly in `dir`, sorted by
/// name. Not recursive; hidden files (starting with `.`) are skipped.
pub fn procedure_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, &e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, &e))?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && Format::from_path(&path).is_some() && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Find a procedure by what the user typed: an existing file path; else
/// `dir/name`, `dir/name.toml` or `dir/name.json`; else the file in `dir`
/// whose `id` is `name`. Not found: [`Error::Input`] listing the ids available.
pub fn resolve(name: &str, dir: &Path) -> Result<PathBuf, Error> {
    let direct = Path::new(name);
    if !name.is_empty() && direct.is_file() {
        return Ok(direct.to_path_buf());
    }
    if !name.is_empty() {
        for candidate in [
            dir.join(name),
            dir.join(format!("{name}.toml")),
            dir.join(format!("{name}.json")),
        ] {
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    if !dir.is_dir() {
        return Err(Error::Input(format!(
            "no procedure `{name}`: the procedures folder {} does not exist\n  hint: give a path to a procedure file, or set the folder with --procedures or RUNSHEET_PROCEDURES",
            dir.display()
        )));
    }
    let mut ids = Vec::new();
    let mut unreadable = 0;
    for file in procedure_files(dir)? {
        match Source::read(&file).and_then(parse) {
            Ok(loaded) if loaded.procedure.id == name => return Ok(file),
            Ok(loaded) => ids.push(loaded.procedure.id),
            Err(_) => unreadable += 1,
        }
    }
    ids.sort();
    let mut msg = format!("no procedure `{name}` in {}", dir.display());
    if ids.is_empty() {
        msg.push_str("; the folder has no valid procedures");
    } else {
        if let Some(s) = super::lint::suggest(name, ids.iter().map(String::as_str)) {
            msg.push_str(&format!("; did you mean `{s}`?"));
        }
        msg.push_str(&format!("\n  available: {}", ids.join(", ")));
    }
    if unreadable > 0 {
        msg.push_str(&format!(
            "\n  hint: {unreadable} file(s) in the folder could not be parsed; `runsheet lint` shows why"
        ));
    } else {
        msg.push_str("\n  hint: give a procedure id, a file name in the folder, or a path");
    }
    Err(Error::Input(msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procedure::lint::Severity;
    use proptest::prelude::*;

    fn toml(text: &str) -> Result<Loaded, Diagnostic> {
        parse(Source::from_text("p.toml", text, Format::Toml))
    }

    fn json(text: &str) -> Result<Loaded, Diagnostic> {
        parse(Source::from_text("p.json", text, Format::Json))
    }

    const MINIMAL: &str = r#"id = "p"
title = "P"
version = "1"
owner = "IT"
approver = "CISO"
approved = 2026-01-05
next_review = "2027-01-05"
purpose = "x"
cadence = "daily"
controls = ["A.8.13"]

[[steps]]
id = "a"
title = "A"
next = "end"
"#;

    #[test]
    fn toml_bare_and_quoted_dates_parse() {
        let loaded = toml(MINIMAL).expect("parses");
        let p = &loaded.procedure;
        assert_eq!(
            p.approved.map(|d| d.to_string()).as_deref(),
            Some("2026-01-05")
        );
        assert_eq!(
            p.next_review.map(|d| d.to_string()).as_deref(),
            Some("2027-01-05")
        );
    }

    #[test]
    fn bad_dates_say_how_to_write_them() {
        let d = toml(&MINIMAL.replace("2026-01-05", "5")).expect_err("bad date");
        assert_eq!(d.code, "wrong-type", "{d}");
        assert!(d.message.contains("YYYY-MM-DD"), "{d}");
        assert!(!d.message.contains("untagged"), "{d}");
        assert_eq!((d.line, d.column), (6, 12));
        let d = toml(&MINIMAL.replace("2026-01-05", "2026-02-30")).expect_err("bad date");
        assert_eq!(d.code, "syntax", "toml rejects the day itself: {d}");
        assert!(d.message.contains("invalid date"), "{d}");
        assert!(d.hint.unwrap_or_default().contains("YYYY-MM-DD"));
        let d = toml(&MINIMAL.replace("2026-01-05", "\"2026-02-30\"")).expect_err("bad date");
        assert_eq!(d.code, "invalid-value", "{d}");
        assert!(
            d.message.contains("`approved`") && d.message.contains("YYYY-MM-DD"),
            "{d}"
        );
        let d = toml(&MINIMAL.replace("2026-01-05", "2026-01-05T10:00:00Z")).expect_err("datetime");
        assert!(d.message.contains("YYYY-MM-DD"), "{d}");
    }

    #[test]
    fn locate_finds_values_and_falls_back_to_parents() {
        let loaded = toml(MINIMAL).expect("parses");
        assert_eq!(loaded.locate("steps[0].next"), (15, 8));
        assert_eq!(loaded.locate("steps[0]"), (12, 1));
        assert_eq!(loaded.locate("steps[0].decision.yes"), (12, 1));
        assert_eq!(loaded.locate("branches[0].steps[1].id"), (1, 1));
        assert_eq!(loaded.locate(""), (1, 1));
        assert_eq!(loaded.locate("controls[0]"), (10, 13));
    }

    #[test]
    fn toml_unknown_key_names_key_table_and_suggestion() {
        let d = toml(&MINIMAL.replace("next = \"end\"", "nxt = \"end\"")).expect_err("unknown key");
        assert_eq!(d.code, "unknown-key");
        assert_eq!((d.line, d.column), (15, 1));
        assert!(d.message.contains("`nxt` in steps[0]"), "{d}");
        let hint = d.hint.unwrap_or_default();
        assert!(hint.contains("did you mean `next`?"), "{hint}");
        assert!(hint.contains("on_fail"), "{hint}");
    }

    #[test]
    fn toml_missing_field_names_the_table() {
        let d = toml(&MINIMAL.replace("title = \"A\"\n", "")).expect_err("missing");
        assert_eq!(d.code, "missing-field");
        assert!(d.message.contains("`title` in steps[0]"), "{d}");
        assert_eq!((d.line, d.column), (12, 1));
        let d = toml(&MINIMAL.replace("owner = \"IT\"\n", "")).expect_err("missing");
        assert!(d.message.contains("`owner` at the top level"), "{d}");
        assert_eq!((d.line, d.column), (1, 1));
    }

    #[test]
    fn toml_wrong_type_and_unknown_value() {
        let d = toml(&MINIMAL.replace("title = \"A\"", "title = \"A\"\ncritical = \"yes\""))
            .expect_err("type");
        assert_eq!(d.code, "wrong-type");
        assert!(d.message.contains("steps[0].critical"), "{d}");
        assert_eq!((d.line, d.column), (15, 12));
        assert!(d.hint.unwrap_or_default().contains("true or false"));
        let d = toml(&MINIMAL.replace("\"daily\"", "\"dayly\"")).expect_err("variant");
        assert_eq!(d.code, "unknown-value");
        assert!(
            d.message.contains("`dayly`") && d.message.contains("`cadence`"),
            "{d}"
        );
        assert!(d.hint.unwrap_or_default().contains("did you mean `daily`?"));
    }

    #[test]
    fn toml_syntax_error_has_location() {
        let d = toml("id = \"p\"\ntitle = \n").expect_err("syntax");
        assert_eq!(d.code, "syntax");
        assert_eq!(d.severity, Severity::Error);
        assert_eq!(d.line, 2);
        assert!(d.message.starts_with("TOML syntax error"), "{d}");
    }

    const MINIMAL_JSON: &str = r#"{
  "$schema": "../docs/procedure.schema.json",
  "id": "p",
  "title": "P",
  "version": "1",
  "owner": "IT",
  "approver": "CISO",
  "approved": "2026-01-05",
  "review_every_months": 12,
  "purpose": "x",
  "cadence": "daily",
  "controls": ["A.8.13"],
  "steps": [
    {"id": "a", "title": "A", "next": "end"}
  ]
}
"#;

    #[test]
    fn json_parses_with_schema_member() {
        let loaded = json(MINIMAL_JSON).expect("parses");
        assert_eq!(loaded.procedure.id, "p");
        assert_eq!(loaded.locate("steps[0].next"), (14, 39));
        assert_eq!(loaded.locate("review_every_months"), (9, 26));
        assert_eq!(loaded.source.text, MINIMAL_JSON, "source keeps $schema");
    }

    #[test]
    fn json_errors_have_locations_and_paths() {
        let d = json(&MINIMAL_JSON.replace("\"next\"", "\"nxt\"")).expect_err("unknown");
        assert_eq!(d.code, "unknown-key", "{d}");
        assert_eq!((d.line, d.column), (14, 31), "{d}");
        assert!(d.message.contains("`nxt` in steps[0]"), "{d}");
        let d = json(&MINIMAL_JSON.replace("12,", "\"12\",")).expect_err("type");
        assert_eq!(d.code, "wrong-type", "{d}");
        assert_eq!((d.line, d.column), (9, 26), "{d}");
        assert!(d.message.contains("review_every_months"), "{d}");
        let d = json(&MINIMAL_JSON.replace("\"title\": \"A\", ", "")).expect_err("missing");
        assert_eq!(d.code, "missing-field", "{d}");
        assert!(d.message.contains("`title` in steps[0]"), "{d}");
        assert_eq!(d.line, 14, "{d}");
        let d = json(&MINIMAL_JSON.replace("\"daily\"", "\"dayly\"")).expect_err("variant");
        assert_eq!(d.code, "unknown-value", "{d}");
        assert_eq!((d.line, d.column), (11, 14), "{d}");
        let d = json("{\n  \"id\": \"p\",\n}").expect_err("syntax");
        assert_eq!(d.code, "syntax", "{d}");
        assert_eq!(d.line, 3, "{d}");
        let d = json("").expect_err("empty");
        assert_eq!(d.code, "syntax", "{d}");
    }

    #[test]
    fn sha256_is_hex_of_text() {
        let s = Source::from_text("x.toml", "abc", Format::Toml);
        assert_eq!(
            s.sha256(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn read_refuses_other_extensions_and_missing_files() {
        let d = Source::read(Path::new("notes.txt")).expect_err("ext");
        assert_eq!((d.code, d.line), ("read", 0));
        let d = Source::read(Path::new("/nonexistent/x.toml")).expect_err("missing");
        assert_eq!(d.message, "no such file");
    }

    #[test]
    fn procedure_files_and_resolve() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write =
            |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("write");
        write("b.toml", &MINIMAL.replace("id = \"p\"", "id = \"backup\""));
        write("a.json", MINIMAL_JSON);
        write("notes.md", "x");
        write(".hidden.toml", "x");
        write("broken.toml", "id = ");
        std::fs::create_dir(dir.path().join("sub.toml")).expect("mkdir");
        let files = procedure_files(dir.path()).expect("list");
        let names: Vec<_> = files
            .iter()
            .map(|f| {
                f.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["a.json", "b.toml", "broken.toml"]);

        assert_eq!(
            resolve("backup", dir.path()).expect("by id"),
            dir.path().join("b.toml")
        );
        assert_eq!(
            resolve("b", dir.path()).expect("by stem"),
            dir.path().join("b.toml")
        );
        assert_eq!(
            resolve("a.json", dir.path()).expect("by name"),
            dir.path().join("a.json")
        );
        let path = dir.path().join("b.toml");
        let as_str = path.to_string_lossy();
        assert_eq!(
            resolve(&as_str, Path::new("/nonexistent")).expect("path"),
            path
        );

        let err = resolve("bakup", dir.path())
            .expect_err("unknown")
            .to_string();
        assert!(err.contains("no procedure `bakup`"), "{err}");
        assert!(err.contains("did you mean `backup`?"), "{err}");
        assert!(err.contains("available: backup, p"), "{err}");
        assert!(err.contains("1 file(s)"), "{err}");
        let err = resolve("x", &dir.path().join("missing")).expect_err("no dir");
        assert!(matches!(err, Error::Input(_)));
        assert!(procedure_files(&dir.path().join("missing")).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn random_text_never_panics(text in "\\PC{0,200}") {
            let _ = toml(&text);
            let _ = json(&text);
        }

        #[test]
        fn mutated_procedures_never_panic(cut in 0usize..400, insert in "[\\[\\]{}\"=,\n a-z0-9.]{0,8}") {
            for base in [MINIMAL, MINIMAL_JSON] {
                let mut cut = cut.min(base.len());
                while !base.is_char_boundary(cut) { cut -= 1; }
                let text = format!("{}{}{}", &base[..cut], insert, &base[cut..]);
                let _ = toml(&text);
                let _ = json(&text);
            }
        }
    }
}
