//! Every `--json` output's schema: one JSON Schema (draft 2020-12) per
//! output, generated from the type the command serializes, with the
//! `schema_version` member [`crate::out::versioned`] puts first. Printed by
//! `runsheet schema OUTPUT`, committed under docs/json/ (a test fails when a
//! committed file is stale) and the shapes `key` and `checkpoint` print.
//!
//! Used only by `app` and `main`.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};

use crate::export::evidence_schema::closed;
use crate::out::JSON_SCHEMA_VERSION;

/// `runsheet key --json` (docs/json.md): the log's identity.
#[derive(Debug, Serialize, JsonSchema)]
pub struct KeyJson {
    /// The log's origin (the first line of its checkpoints).
    pub origin: String,
    /// Its verifier key (C2SP signed-note form).
    pub vkey: String,
    /// Where the signing key is looked for.
    pub key_file: String,
    /// The signing key file exists (at this path, for this user).
    pub key_file_present: bool,
}

/// `runsheet checkpoint --json` (docs/json.md): the latest signed checkpoint.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckpointJson {
    /// The log's origin (the checkpoint's first line).
    pub origin: String,
    /// Records in the tree the checkpoint commits to.
    pub tree_size: u64,
    /// The tree's root hash (base64, as in the note).
    pub root_hash: String,
    /// The log's last record (its seq) when this was read.
    pub head_seq: u64,
    /// The checkpoint covers every record of the log (`tree_size == head_seq`).
    pub covers_head: bool,
    /// Signature lines on the note: the log's, then witnesses' cosignatures.
    pub signatures: usize,
    /// The signed note itself (C2SP tlog-checkpoint), every byte as `checkpoint` prints it.
    pub note: String,
    /// The file the note was written to (`--out`), else null.
    pub written_to: Option<String>,
}

/// `runsheet witness status --json`: the logs this witness cosigns for.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WitnessStatusJson {
    pub logs: Vec<crate::witness::LogStatus>,
}

/// One output: the name `runsheet schema` takes (and its file
/// docs/json/NAME.schema.json), what prints it, and its schema.
pub struct Output {
    pub name: &'static str,
    pub printed_by: &'static str,
    schema: fn() -> schemars::Schema,
}

fn of<T: JsonSchema>() -> schemars::Schema {
    schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>()
}

/// Every output with a schema, in the order docs/json.md lists them.
pub const OUTPUTS: &[Output] = &[
    Output {
        name: "lint",
        printed_by: "runsheet lint --json",
        schema: of::<crate::procedure::lint::LintJson<'static>>,
    },
    Output {
        name: "list",
        printed_by: "runsheet list --json",
        schema: of::<crate::procedure::render::ListJson>,
    },
    Output {
        name: "runs",
        printed_by: "runsheet runs --json",
        schema: of::<crate::report::runs::RunsJson>,
    },
    Output {
        name: "show",
        printed_by: "runsheet show RUN --json",
        schema: of::<crate::report::runs::ShowJson>,
    },
    Output {
        name: "status",
        printed_by: "runsheet status --json",
        schema: of::<crate::report::status::StatusJson>,
    },
    Output {
        name: "history",
        printed_by: "runsheet history ID --json",
        schema: of::<crate::report::versions::HistoryJson>,
    },
    Output {
        name: "diff",
        printed_by: "runsheet diff ID [FROM] [TO] --json",
        schema: of::<crate::procedure::diff::Comparison>,
    },
    Output {
        name: "training",
        printed_by: "runsheet training --json",
        schema: of::<crate::report::training::TrainingReport>,
    },
    Output {
        name: "verify",
        printed_by: "runsheet verify --json",
        schema: of::<crate::store::VerifyReport>,
    },
    Output {
        name: "checkpoint",
        printed_by: "runsheet checkpoint --json",
        schema: of::<CheckpointJson>,
    },
    Output {
        name: "key",
        printed_by: "runsheet key --json",
        schema: of::<KeyJson>,
    },
    Output {
        name: "export",
        printed_by: "runsheet export --json",
        schema: of::<crate::export::ExportJson>,
    },
    Output {
        name: "verify-bundle",
        printed_by: "runsheet verify-bundle DIR --json",
        schema: of::<crate::export::BundleReport>,
    },
    Output {
        name: "config",
        printed_by: "runsheet config --json",
        schema: of::<super::settings::ConfigJson>,
    },
    Output {
        name: "custodian-init",
        printed_by: "runsheet custodian init --json",
        schema: of::<super::redact::CustodianKeyJson>,
    },
    Output {
        name: "custodian-add",
        printed_by: "runsheet custodian add VKEY --json",
        schema: of::<super::redact::CustodianJson>,
    },
    Output {
        name: "custodian-list",
        printed_by: "runsheet custodian list --json",
        schema: of::<super::redact::CustodiansJson>,
    },
    Output {
        name: "witness-status",
        printed_by: "runsheet witness status --json",
        schema: of::<WitnessStatusJson>,
    },
    Output {
        name: "error",
        printed_by: "any command under --json that fails (one line on standard error)",
        schema: of::<crate::error::ErrorJson>,
    },
];

/// The schema of output `name` (pretty, with a trailing newline), or `None`
/// for a name that is not an output.
/// The commands that print JSON under `--json`, as a user types them
/// (`show`, `custodian init`), in [`OUTPUTS`]' order: the words of each
/// `printed_by` after `runsheet` up to its first argument or option.
pub fn json_commands() -> Vec<String> {
    OUTPUTS
        .iter()
        .filter(|o| o.name != "error")
        .map(|o| {
            o.printed_by
                .split(' ')
                .skip(1)
                .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
                .filter(|w| !w.starts_with('-'))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

pub fn schema_text(name: &str) -> Option<String> {
    let output = OUTPUTS.iter().find(|o| o.name == name)?;
    let mut value = (output.schema)().to_value();
    finish(&mut value, output);
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    Some(text)
}

/// The generated schema made exact: the version member first and required,
/// a title naming the command, and no member the type does not have.
fn finish(value: &mut Value, output: &Output) {
    closed(value);
    let Some(root) = value.as_object_mut() else {
        return;
    };
    let mut top = serde_json::Map::new();
    for key in ["$schema"] {
        if let Some(v) = root.remove(key) {
            top.insert(key.to_string(), v);
        }
    }
    top.insert(
        "$id".into(),
        json!(format!(
            "urn:runsheet:json:{}:{JSON_SCHEMA_VERSION}",
            output.name
        )),
    );
    top.insert(
        "title".into(),
        json!(format!(
            "{}, schema version {JSON_SCHEMA_VERSION}",
            output.printed_by
        )),
    );
    root.remove("title");
    let mut properties = serde_json::Map::new();
    properties.insert(
        "schema_version".into(),
        json!({
            "description": "The version of this output's schema (docs/json.md).",
            "const": JSON_SCHEMA_VERSION
        }),
    );
    if let Some(Value::Object(p)) = root.remove("properties") {
        properties.extend(p);
    }
    let mut required = vec![json!("schema_version")];
    if let Some(Value::Array(r)) = root.remove("required") {
        required.extend(r);
    }
    let defs = root.remove("$defs");
    top.extend(std::mem::take(root));
    top.insert("properties".into(), Value::Object(properties));
    top.insert("required".into(), Value::Array(required));
    if let Some(defs) = defs {
        top.insert("$defs".into(), defs);
    }
    *value = Value::Object(top);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed_path(name: &str) -> String {
        format!(
            "{}/docs/json/{name}.schema.json",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    #[test]
    fn committed_json_schemas_are_current() {
        let update = std::env::var_os("RUNSHEET_UPDATE_SCHEMA").is_some();
        let mut stale = Vec::new();
        for o in OUTPUTS {
            let text = schema_text(o.name).expect("an output");
            let path = committed_path(o.name);
            if update {
                std::fs::create_dir_all(std::path::Path::new(&path).parent().unwrap())
                    .expect("docs/json");
                std::fs::write(&path, &text).expect("write schema");
            }
            if std::fs::read_to_string(&path).unwrap_or_default() != text {
                stale.push(o.name);
            }
        }
        assert!(
            stale.is_empty(),
            "docs/json/ is stale for {stale:?}; regenerate with \
             `RUNSHEET_UPDATE_SCHEMA=1 cargo test committed_json_schemas`"
        );
        // No stray file for an output that no longer exists.
        let dir = format!("{}/docs/json", env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(dir).expect("docs/json") {
            let name = entry.expect("entry").file_name();
            let name = name.to_string_lossy();
            let stem = name.trim_end_matches(".schema.json");
            assert!(
                OUTPUTS.iter().any(|o| o.name == stem) || stem == crate::cli::help::EVIDENCE_SCHEMA,
                "docs/json/{name} names no output"
            );
        }
    }

    #[test]
    fn every_output_is_versioned_and_closed() {
        for o in OUTPUTS {
            let v: Value = serde_json::from_str(&schema_text(o.name).unwrap()).unwrap();
            assert_eq!(v["properties"]["schema_version"]["const"], 1, "{}", o.name);
            assert_eq!(v["required"][0], "schema_version", "{}", o.name);
            assert_eq!(v["additionalProperties"], false, "{}", o.name);
            assert_eq!(v["type"], "object", "{}", o.name);
        }
        assert!(schema_text("nope").is_none());
    }

    #[test]
    fn the_cli_names_every_output() {
        let names: Vec<&str> = OUTPUTS.iter().map(|o| o.name).collect();
        assert_eq!(names, crate::cli::help::JSON_OUTPUTS);
    }

    #[test]
    fn versioned_puts_the_version_first() {
        let v = crate::out::versioned(&KeyJson {
            origin: "o".into(),
            vkey: "k".into(),
            key_file: "f".into(),
            key_file_present: true,
        });
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys[0], "schema_version");
        assert_eq!(v["schema_version"], 1);
        assert_eq!(keys.len(), 5);
    }
}
