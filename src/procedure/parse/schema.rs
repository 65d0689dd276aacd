//! The JSON Schema of the procedure format, generated from the model types
//! (committed as `docs/procedure.schema.json` for editors).
//!
//! May not depend on anything outside `procedure::model`; no IO.

use serde_json::{Value, json};

use crate::procedure::model::Procedure;

/// The JSON Schema of a procedure file, pretty-printed with a trailing newline.
///
/// JSON files may name the schema with a top-level `"$schema"` key; parsing
/// ignores it, and the schema allows it.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Procedure);
    let mut value = schema.to_value();
    if let Some(props) = value.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert(
            "$schema".to_string(),
            json!({
                "description": "Where editors find this schema (JSON files only; ignored by runsheet).",
                "type": "string"
            }),
        );
    }
    // Editors (taplo) accept a TOML bare date for a string with format "date".
    if let Some(date) = value
        .pointer_mut("/$defs/Date")
        .and_then(Value::as_object_mut)
    {
        date.insert("format".to_string(), json!("date"));
    }
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_schema_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/procedure.schema.json");
        if std::env::var_os("RUNSHEET_UPDATE_SCHEMA").is_some() {
            std::fs::write(path, json_schema()).expect("write schema");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == json_schema(),
            "docs/procedure.schema.json is stale or missing; regenerate it with \
             `runsheet schema > docs/procedure.schema.json` or \
             `RUNSHEET_UPDATE_SCHEMA=1 cargo test committed_schema`"
        );
    }

    #[test]
    fn schema_describes_the_format() {
        let v: Value = serde_json::from_str(&json_schema()).expect("valid JSON");
        let props = &v["properties"];
        for key in ["id", "steps", "branches", "$schema", "approved", "cadence"] {
            assert!(props.get(key).is_some(), "missing property {key}");
        }
        assert_eq!(v["additionalProperties"], json!(false));
        assert_eq!(v["$defs"]["Date"]["format"], "date");
        let required: Vec<&str> = v["required"]
            .as_array()
            .expect("required list")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for key in [
            "id", "title", "version", "owner", "purpose", "cadence", "controls", "steps",
        ] {
            assert!(required.contains(&key), "{key} should be required");
        }
    }
}
