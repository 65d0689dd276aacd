//! Every unknown key and every missing required key of a file at once: the
//! file's paths (from its span index) walked against the procedure schema
//! generated from the model types. serde stops at the first data error; lint
//! uses this so a converted file's problems come in one run, not one per run.
//!
//! May not depend on anything outside `procedure::parse`; no IO.

use std::collections::BTreeMap;

use serde_json::Value;

use super::spans::{Kind, SpanIndex, parent};

/// One structural problem, by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// `key` (at `path`) is not allowed in its table; `allowed` are the keys that are.
    Unknown {
        path: String,
        key: String,
        allowed: Vec<String>,
    },
    /// The table at `table` lacks the required `field`.
    Missing { table: String, field: String },
    /// A table is meant at `path` but the file has a list there (`listed`,
    /// e.g. `[[steps.decision]]`) or a single value (`command = "…"`).
    NotTable { path: String, listed: bool },
}

/// The structural problems of a file whose paths are `index`, against
/// `schema` (the procedure JSON Schema), in path order.
pub(crate) fn check(schema: &Value, index: &SpanIndex) -> Vec<Problem> {
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for path in index.paths() {
        if !path.is_empty() {
            children.entry(parent(path)).or_default().push(path);
        }
    }
    let mut problems = Vec::new();
    let walk = Walk {
        root: schema,
        index,
        children,
    };
    walk.node(schema, "", &mut problems);
    problems
}

struct Walk<'a> {
    root: &'a Value,
    index: &'a SpanIndex,
    children: BTreeMap<&'a str, Vec<&'a str>>,
}

impl<'a> Walk<'a> {
    /// The kind of value at `path` (the root is a table).
    fn kind(&self, path: &str) -> Kind {
        self.index.get(path).map_or(Kind::Table, |e| e.kind)
    }

    fn node(&self, node: &Value, path: &'a str, problems: &mut Vec<Problem>) {
        let root = self.root;
        let node = resolve(root, node);
        let kids = self
            .children
            .get(path)
            .map(Vec::as_slice)
            .unwrap_or_default();
        // A value of another kind than the schema wants (a string where a table
        // is meant, an array of tables for one table) is the typed parse's
        // error, with the example of what the key expects: nothing under it is
        // judged here.
        let kind = self.kind(path);
        if node.get("properties").is_some() && kind != Kind::Table {
            problems.push(Problem::NotTable {
                path: path.to_string(),
                listed: kind == Kind::Array,
            });
            return;
        }
        if let Some(props) = node
            .get("properties")
            .and_then(Value::as_object)
            .filter(|_| kind == Kind::Table)
        {
            let closed = node.get("additionalProperties") == Some(&Value::Bool(false));
            let mut present = Vec::new();
            for &kid in kids {
                let Some(key) = key_of(path, kid) else {
                    continue;
                };
                present.push(key);
                match props.get(key) {
                    Some(sub) => self.node(sub, kid, problems),
                    None if closed => problems.push(Problem::Unknown {
                        path: kid.to_string(),
                        key: key.to_string(),
                        allowed: props.keys().filter(|k| *k != "$schema").cloned().collect(),
                    }),
                    None => {}
                }
            }
            for field in node
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !present.contains(&field) {
                    problems.push(Problem::Missing {
                        table: path.to_string(),
                        field: field.to_string(),
                    });
                }
            }
        } else if let Some(items) = node.get("items").filter(|_| kind == Kind::Array) {
            for &kid in kids {
                if kid.ends_with(']') {
                    self.node(items, kid, problems);
                }
            }
        }
    }
}

/// A child path's key in its table (`steps[2].next` under `steps[2]` →
/// `next`); `None` for an array element.
fn key_of<'p>(table: &str, child: &'p str) -> Option<&'p str> {
    let rest = &child[table.len()..];
    let key = rest.strip_prefix('.').unwrap_or(rest);
    (!key.starts_with('[') && !key.is_empty()).then_some(key)
}

/// Follow `$ref`s and pick the one structured branch of an `anyOf`/`oneOf`
/// (an optional table is `anyOf [table, null]`); a node with several
/// structured branches is left as it is, so nothing under it is judged.
fn resolve<'v>(root: &'v Value, mut node: &'v Value) -> &'v Value {
    for _ in 0..16 {
        if let Some(name) = node
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
        {
            match root.pointer(&format!("/$defs/{name}")) {
                Some(target) => node = target,
                None => return node,
            }
            continue;
        }
        let branches = node
            .get("anyOf")
            .or_else(|| node.get("oneOf"))
            .and_then(Value::as_array);
        if let Some(branches) = branches {
            let structured: Vec<&Value> = branches
                .iter()
                .map(|b| resolve(root, b))
                .filter(|b| b.get("properties").is_some() || b.get("items").is_some())
                .collect();
            if let [one] = structured.as_slice() {
                return one;
            }
        }
        return node;
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procedure::parse::{Format, Source, parse_toml_index};

    fn problems(text: &str) -> Vec<Problem> {
        let schema: Value = serde_json::from_str(&super::super::json_schema()).expect("schema");
        let index = parse_toml_index(&Source::from_text("p.toml", text, Format::Toml))
            .expect("toml syntax");
        check(&schema, &index)
    }

    #[test]
    fn finds_every_unknown_and_missing_key_at_every_level() {
        let text = r#"
id = "x"
colour = "red"
version = "1"
owner = "IT"
purpose = "p"
cadence = "daily"
controls = []
[[steps]]
id = "a"
title = "A"
nxt = "end"
[[steps]]
id = "b"
[steps.command]
run = "true"
shell = "sh"
"#;
        let found = problems(text);
        let unknown: Vec<&str> = found
            .iter()
            .filter_map(|p| match p {
                Problem::Unknown { path, .. } => Some(path.as_str()),
                _ => None,
            })
            .collect();
        let missing: Vec<(&str, &str)> = found
            .iter()
            .filter_map(|p| match p {
                Problem::Missing { table, field } => Some((table.as_str(), field.as_str())),
                _ => None,
            })
            .collect();
        assert!(unknown.contains(&"colour"), "{found:?}");
        assert!(unknown.contains(&"steps[0].nxt"), "{found:?}");
        assert!(unknown.contains(&"steps[1].command.shell"), "{found:?}");
        assert!(missing.contains(&("", "title")), "{found:?}");
        assert!(missing.contains(&("steps[1]", "title")), "{found:?}");
    }

    #[test]
    fn a_value_of_the_wrong_kind_is_said_to_be_no_table() {
        let text = r#"
id = "x"
title = "X"
version = "1"
owner = "IT"
purpose = "p"
cadence = "daily"
controls = []
[[steps]]
id = "a"
title = "A"
command = "echo hi"
[[steps]]
id = "b"
title = "B"
[[steps.decision]]
question = "ok?"
yes = "end"
no = "end"
[[steps]]
id = "c"
title = "C"
[steps.value]
"#;
        // The string and the array of tables are said to be no table (and
        // nothing under them is judged); the empty table lacks its keys.
        let found = problems(text);
        assert!(
            found.contains(&Problem::NotTable {
                path: "steps[0].command".into(),
                listed: false
            }),
            "{found:?}"
        );
        assert!(
            found.contains(&Problem::NotTable {
                path: "steps[1].decision".into(),
                listed: true
            }),
            "{found:?}"
        );
        let others: Vec<&Problem> = found
            .iter()
            .filter(|p| !matches!(p, Problem::NotTable { .. }))
            .collect();
        assert!(
            others
                .iter()
                .all(|p| matches!(p, Problem::Missing { table, .. } if table == "steps[2].value")),
            "{found:?}"
        );
        assert_eq!(others.len(), 2, "{found:?}");
    }

    #[test]
    fn a_valid_file_has_no_problems() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/procedures/onboarding-new-hire.toml"
        ))
        .expect("shipped procedure");
        assert_eq!(problems(&text), vec![]);
    }
}
