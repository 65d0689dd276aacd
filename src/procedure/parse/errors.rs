//! Turning TOML/JSON syntax errors and serde errors into diagnostics that say
//! what is wrong, where (path and line:column) and what to do.
//!
//! May not depend on anything outside `procedure`; no IO.

use super::spans::{SpanIndex, line_col, offset_of, parent};
use super::structure::Problem;
use super::{Format, Source};
use crate::procedure::lint::{Diagnostic, suggest};

/// What kind of data error serde reported, with its quoted words.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    UnknownKey { key: String, allowed: Vec<String> },
    UnknownValue { value: String, allowed: Vec<String> },
    MissingField(String),
    WrongType,
    Other,
}

/// The words between backticks in a serde message.
fn quoted(msg: &str) -> Vec<String> {
    msg.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn classify(msg: &str) -> Kind {
    let words = quoted(msg);
    let mut rest = words.iter().skip(1).cloned().collect::<Vec<_>>();
    if msg.contains("there are no fields") {
        rest.clear();
    }
    if msg.starts_with("unknown field `") {
        Kind::UnknownKey {
            key: words.first().cloned().unwrap_or_default(),
            allowed: rest,
        }
    } else if msg.starts_with("unknown variant `") {
        Kind::UnknownValue {
            value: words.first().cloned().unwrap_or_default(),
            allowed: rest,
        }
    } else if msg.starts_with("missing field `") {
        Kind::MissingField(words.first().cloned().unwrap_or_default())
    } else if msg.starts_with("invalid type:") {
        Kind::WrongType
    } else {
        Kind::Other
    }
}

/// `in steps[2]` / `at the top level` for a table path.
fn place(table: &str) -> String {
    if table.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in {table}")
    }
}

/// A hint for a wrong type, from what serde expected.
fn type_hint(msg: &str, format: Format) -> String {
    let expected = msg.rsplit("expected ").next().unwrap_or_default();
    if expected.contains("a date") {
        "write the date as YYYY-MM-DD, e.g. 2026-03-31".to_string()
    } else if expected.contains("a string") {
        "put the value in double quotes".to_string()
    } else if expected.contains("a boolean") {
        "write true or false, without quotes".to_string()
    } else if expected.contains("sequence") {
        "write a list, e.g. [\"A.8.13\", \"A.5.37\"]".to_string()
    } else if expected.contains("integer") || expected.contains("f64") {
        "write a number, without quotes".to_string()
    } else if expected.contains("struct") || expected.contains("map") {
        match format {
            Format::Toml => "write a table: a [header] section or { key = value, ... }".to_string(),
            Format::Json => "write an object: { \"key\": value, ... }".to_string(),
        }
    } else {
        "see docs/procedure-format.md for the type of each key".to_string()
    }
}

/// A step's keys whose value is one table, and an example of each (TOML,
/// JSON).
const TABLE_KEYS: &[(&str, &str, &str)] = &[
    (
        "decision",
        "[steps.decision] then question = \"Is the service healthy?\", yes = \"next-step\", no = \"escalate\" on their own lines",
        "\"decision\": { \"question\": \"Is the service healthy?\", \"yes\": \"next-step\", \"no\": \"escalate\" }",
    ),
    (
        "value",
        "[steps.value] then label = \"Backup size\" and type = \"integer\" on their own lines",
        "\"value\": { \"label\": \"Backup size\", \"type\": \"integer\" }",
    ),
    (
        "command",
        "[steps.command] then run = \"df -h /\" on the next line",
        "\"command\": { \"run\": \"df -h /\" }",
    ),
];

/// A step's table-valued key written as something else — a list of tables
/// (`[[steps.decision]]`), a string (`command = "…"`) — said as what the
/// key expects, with a corrected example.
fn table_key_error(path: &str, format: Format) -> Option<(&'static str, String, String)> {
    let (step, rest) = path.rsplit_once('.')?;
    if !step.starts_with("steps[") && !step.contains(".steps[") {
        return None;
    }
    let (key, listed) = match rest.split_once('[') {
        Some((k, _)) => (k, true),
        None => (rest, false),
    };
    let (_, toml, json) = TABLE_KEYS.iter().find(|(k, ..)| *k == key)?;
    let example = match format {
        Format::Toml => toml,
        Format::Json => json,
    };
    let message = if listed {
        match format {
            Format::Toml => format!(
                "`{step}.{key}` is one table, not a list of tables: write [steps.{key}] with single brackets"
            ),
            Format::Json => format!("`{step}.{key}` is one object, not a list"),
        }
    } else if key == "command" {
        format!("`{step}.command` is a table, not a string: the command goes in its `run` key")
    } else {
        format!("`{step}.{key}` is a table of its own keys, not a single value")
    };
    Some(("wrong-type", message, format!("e.g. {example}")))
}

/// A diagnostic for a serde data error.
/// `path` is the path of the key or value the error points at, if known,
/// and whether the key (rather than the value) matched.
pub(super) fn data_error(
    source: &Source,
    msg: &str,
    at: (usize, usize),
    path: Option<(&str, bool)>,
) -> Diagnostic {
    let file = source.path.clone();
    let path_desc = |p: Option<(&str, bool)>| p.map(|(p, _)| p.to_string()).unwrap_or_default();
    let misshapen =
        matches!(classify(msg), Kind::WrongType) || msg.contains("wanted exactly 1 element");
    if let Some((code, message, hint)) = path
        .filter(|_| misshapen)
        .and_then(|(p, _)| table_key_error(p, source.format))
    {
        return Diagnostic::error(file, at, code, message).with_hint(hint);
    }
    match classify(msg) {
        Kind::UnknownKey { key, allowed } => {
            // The key's own path was matched; its table is the parent.
            let table = path.map(|(p, _)| parent(p)).unwrap_or_default();
            unknown_key(source, at, &key, table, &allowed)
        }
        Kind::UnknownValue { value, allowed } => {
            let what = path_desc(path);
            let mut hint = String::new();
            if let Some(s) = suggest(&value, allowed.iter().map(String::as_str)) {
                hint.push_str(&format!("did you mean `{s}`? "));
            }
            hint.push_str(&format!("allowed values: {}", allowed.join(", ")));
            let message = if what.is_empty() {
                format!("`{value}` is not an allowed value")
            } else {
                format!("`{value}` is not an allowed value for `{what}`")
            };
            Diagnostic::error(file, at, "unknown-value", message).with_hint(hint)
        }
        Kind::MissingField(field) => missing_field(source, at, &field, &path_desc(path)),
        Kind::WrongType => {
            let what = path_desc(path);
            let message = if what.is_empty() {
                format!("wrong type: {msg}")
            } else {
                format!("wrong type for `{what}`: {msg}")
            };
            Diagnostic::error(file, at, "wrong-type", message)
                .with_hint(type_hint(msg, source.format))
        }
        Kind::Other => {
            let what = path_desc(path);
            let message = if what.is_empty() {
                msg.to_string()
            } else {
                format!("`{what}`: {msg}")
            };
            Diagnostic::error(file, at, "invalid-value", message)
                .with_hint("see docs/procedure-format.md for the allowed values")
        }
    }
}

/// `unknown key `K` in TABLE`, with a did-you-mean and the keys allowed there.
fn unknown_key(
    source: &Source,
    at: (usize, usize),
    key: &str,
    table: &str,
    allowed: &[String],
) -> Diagnostic {
    let mut hint = String::new();
    if let Some(s) = suggest(key, allowed.iter().map(String::as_str)) {
        hint.push_str(&format!("did you mean `{s}`? "));
    }
    if allowed.is_empty() {
        hint.push_str("no keys are allowed here");
    } else {
        hint.push_str(&format!("allowed keys here: {}", allowed.join(", ")));
    }
    Diagnostic::error(
        source.path.clone(),
        at,
        "unknown-key",
        format!("unknown key `{key}` {}", place(table)),
    )
    .with_hint(hint)
}

/// `missing required key `F` in TABLE`, with the line to add.
fn missing_field(source: &Source, at: (usize, usize), field: &str, table: &str) -> Diagnostic {
    let example = match source.format {
        Format::Toml => format!("{field} = …"),
        Format::Json => format!("\"{field}\": …"),
    };
    Diagnostic::error(
        source.path.clone(),
        at,
        "missing-field",
        format!("missing required key `{field}` {}", place(table)),
    )
    .with_hint(format!(
        "add `{example}`; docs/procedure-format.md lists the required keys"
    ))
}

/// One problem [`super::structure::check`] found, as the same diagnostic
/// serde's error would give: an unknown key at the key, a missing one at its
/// table, a step's table written as a list or a value with what the key
/// expects; `None` for a misshapen value only the typed parse words.
pub(super) fn structure_error(
    source: &Source,
    index: &SpanIndex,
    p: &Problem,
) -> Option<Diagnostic> {
    let at = |path: &str, key: bool| {
        let offset = index.get(path).map_or(0, |e| match (&e.key, key) {
            (Some(k), true) => k.start,
            _ => e.value.start,
        });
        line_col(&source.text, offset)
    };
    Some(match p {
        Problem::Unknown { path, key, allowed } => {
            unknown_key(source, at(path, true), key, parent(path), allowed)
        }
        Problem::Missing { table, field } => missing_field(source, at(table, false), field, table),
        Problem::NotTable { path, listed } => {
            // A list is judged at its first element, as serde's error is.
            let at_path = if *listed {
                format!("{path}[0]")
            } else {
                path.clone()
            };
            let (code, message, hint) = table_key_error(&at_path, source.format)?;
            Diagnostic::error(source.path.clone(), at(&at_path, false), code, message)
                .with_hint(hint)
        }
    })
}

/// A TOML error (syntax or data).
pub(super) fn toml_error(
    source: &Source,
    err: &toml::de::Error,
    index: Option<&SpanIndex>,
) -> Diagnostic {
    let span = err.span().unwrap_or(0..0);
    let at = line_col(&source.text, span.start);
    match index {
        None => Diagnostic::error(
            source.path.clone(),
            at,
            "syntax",
            format!("TOML syntax error: {}", err.message()),
        )
        .with_hint(if err.message().contains("date") {
            "write dates as YYYY-MM-DD with a real day, e.g. 2026-03-31"
        } else {
            "check quotes, brackets and `key = value` pairs near this position (TOML reference: https://toml.io)"
        }),
        Some(index) => {
            let path = index.path_with_span(&span);
            data_error(source, err.message(), at, path)
        }
    }
}

/// A JSON error (syntax or data). `text` is the text serde_json read (the
/// source with any `$schema` member blanked, so offsets are the same).
pub(super) fn json_error(
    source: &Source,
    err: &serde_json::Error,
    index: Option<&SpanIndex>,
) -> Diagnostic {
    let full = err.to_string();
    let msg = match full.rfind(" at line ") {
        Some(i) => &full[..i],
        None => full.as_str(),
    };
    let offset = offset_of(&source.text, err.line(), err.column());
    // serde_json's column is the count of bytes read on the line; the token
    // in error ends there, and starts at or before it.
    let (path, at_offset) = match index {
        Some(index) => match index.path_ending_at(offset) {
            Some((p, is_key)) => {
                let start = index.get(p).map(|e| {
                    if is_key {
                        e.key.clone().map_or(e.value.start, |k| k.start)
                    } else {
                        e.value.start
                    }
                });
                (Some((p, is_key)), start.unwrap_or(offset.saturating_sub(1)))
            }
            None => (None, offset.saturating_sub(1)),
        },
        None => (None, offset.saturating_sub(1)),
    };
    let at = if err.line() == 0 {
        (1, 1)
    } else {
        line_col(&source.text, at_offset)
    };
    match index {
        None => Diagnostic::error(
            source.path.clone(),
            at,
            "syntax",
            format!("JSON syntax error: {msg}"),
        )
        .with_hint("check for a missing comma, quote, colon or closing bracket near this position"),
        Some(_) => {
            // A missing field is reported at the end of its object: name the object.
            let path = match classify(msg) {
                Kind::MissingField(_) => path.map(|(p, _)| (p, false)),
                _ => path,
            };
            data_error(source, msg, at, path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_serde_messages() {
        assert_eq!(
            classify("unknown field `nxt`, expected one of `id`, `next`"),
            Kind::UnknownKey {
                key: "nxt".into(),
                allowed: vec!["id".into(), "next".into()]
            }
        );
        assert_eq!(
            classify("unknown field `x`, there are no fields"),
            Kind::UnknownKey {
                key: "x".into(),
                allowed: vec![]
            }
        );
        assert_eq!(
            classify("unknown variant `dayly`, expected `daily` or `weekly`"),
            Kind::UnknownValue {
                value: "dayly".into(),
                allowed: vec!["daily".into(), "weekly".into()]
            }
        );
        assert_eq!(
            classify("missing field `owner`"),
            Kind::MissingField("owner".into())
        );
        assert_eq!(
            classify("invalid type: string \"yes\", expected a boolean"),
            Kind::WrongType
        );
        assert_eq!(classify("`x` is not a date"), Kind::Other);
    }

    #[test]
    fn type_hints_name_the_fix() {
        assert!(
            type_hint(
                "invalid type: string \"x\", expected a boolean",
                Format::Toml
            )
            .contains("true or false")
        );
        assert!(
            type_hint("invalid type: integer `4`, expected a string", Format::Toml)
                .contains("quotes")
        );
        assert!(
            type_hint(
                "invalid type: string \"A\", expected a sequence",
                Format::Json
            )
            .contains("list")
        );
    }
}
