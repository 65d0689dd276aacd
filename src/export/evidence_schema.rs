//! The JSON Schema (draft 2020-12) of a bundle's evidence.json, with one
//! payload schema per run event kind generated from the engine's
//! [`Event`](crate::engine::Event) (schemars): committed as
//! docs/json/evidence.schema.json (a test fails when it is stale) and
//! printed by `runsheet schema evidence`.
//!
//! An event's `kind` must be one of the run kinds the store accepts
//! ([`RUN_KINDS`]), and its `payload` must match that kind's schema. A kind
//! with content kept apart ([`CONTENT_KINDS`], schema 5) is stored with
//! `content_sha256` in place of its content members
//! ([`content_fields`]), so its payload is either that stored form or the
//! inline form of a record written before schema 5. Every payload may carry
//! the session's [`ELAPSED_MS`] beside the engine's members. Log events (exports,
//! migrations, keys, custodians, redactions) belong to no run: in `events` a
//! `kind` of theirs fails like any unknown one; in `links` each is checked
//! against its kind's payload schema, generated from the type it is written
//! with ([`LogPayload`]).
//!
//! May not depend on the store's SQLite side, the front ends, the session,
//! `cli` or `app`.

use serde_json::{Map, Value, json};

use schemars::SchemaGenerator;

use super::bundle::ExportRecord;
use crate::engine::Event;
use crate::store::kinds::{
    CONTENT_KINDS, CONTENT_SHA256, ELAPSED_MS, LOG_KINDS, RUN_KINDS, content_fields,
};
use crate::store::log_payload::{
    CustodianAdded, LogCreated, LogKey, LogPayload, ProcedureApproved, ProcedureReviewed,
    RedactionClaim, SchemaMigrated,
};

/// The schema's `$id`: evidence.json's `format` and `version`.
pub const ID: &str = "urn:runsheet:evidence:3";

/// The schema as committed (pretty, with a trailing newline).
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// The `$defs` name of the payload schema of run event kind `kind`.
fn payload_def(kind: &str) -> String {
    format!("payload-{kind}")
}

/// One rule per kind of `kinds`: a record of that kind has a payload of
/// that kind's schema.
fn payload_by_kind(kinds: &[&str]) -> Vec<Value> {
    kinds
        .iter()
        .map(|k| {
            json!({
                "if": { "properties": { "kind": { "const": k } }, "required": ["kind"] },
                "then": { "properties": { "payload": { "$ref": format!("#/$defs/{}", payload_def(k)) } } }
            })
        })
        .collect()
}

/// The whole schema: the document (its top level as docs/audit-bundle.md
/// describes it), each event tied to its kind's payload schema.
pub fn schema() -> Value {
    let (payloads, mut defs) = payload_schemas();
    let by_kind = payload_by_kind(&RUN_KINDS);
    let mut all_of = by_kind;
    // A payload that commits to content kept apart comes with that content
    // (salt and text) or the mark of its redaction (a null content and the
    // redaction's seq); an inline payload comes with neither.
    all_of.push(json!({
        "if": {
            "properties": { "payload": { "required": [CONTENT_SHA256] } },
            "required": ["payload"]
        },
        "then": {
            "oneOf": [
                {
                    "required": ["content_salt", "content"],
                    "properties": { "content": { "type": "string" } },
                    "not": { "required": ["redacted_by"] }
                },
                {
                    "required": ["content", "redacted_by"],
                    "properties": { "content": { "type": "null" } },
                    "not": { "required": ["content_salt"] }
                }
            ]
        },
        "else": {
            "not": { "anyOf": [
                { "required": ["content_salt"] },
                { "required": ["content"] },
                { "required": ["redacted_by"] }
            ] }
        }
    }));
    defs.extend(payloads);
    let (log_payloads, log_defs) = log_payload_schemas();
    let by_log_kind = payload_by_kind(&LOG_KINDS);
    for (name, def) in log_defs.into_iter().chain(log_payloads) {
        defs.insert(name, def);
    }
    defs.insert(
        "sha256".into(),
        json!({ "type": "string", "pattern": "^[0-9a-f]{64}$" }),
    );
    defs.insert(
        "time".into(),
        json!({ "type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$" }),
    );
    let nullable_time = json!({ "oneOf": [{ "$ref": "#/$defs/time" }, { "type": "null" }] });
    let mut value = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": ID,
        "title": "runsheet evidence.json, version 3",
        "description": "An audit bundle's evidence.json (docs/audit-bundle.md). Each event's payload is checked against the schema of its kind, generated from the types runsheet writes it with.",
        "type": "object",
        "required": ["format", "version", "generator", "created_at", "exported_by", "filters", "checkpoint", "verification", "record_format_2_from", "runs", "events", "links", "procedures"],
        "properties": {
            "format": { "const": "runsheet-evidence" },
            "version": { "const": 3 },
            "generator": { "type": "string" },
            "created_at": { "$ref": "#/$defs/time" },
            "exported_by": { "type": "string" },
            "filters": { "$ref": "#/$defs/FiltersJson" },
            "checkpoint": {
                "type": "object",
                "required": ["format", "version", "events", "head_seq", "head_hash", "at"],
                "properties": {
                    "format": { "const": "runsheet-checkpoint" },
                    "version": { "const": 1 },
                    "events": { "type": "integer", "minimum": 0 },
                    "head_seq": { "type": "integer", "minimum": 0 },
                    "head_hash": { "$ref": "#/$defs/sha256" },
                    "at": nullable_time
                }
            },
            "verification": {
                "type": "object",
                "required": ["verified", "problem", "seq", "message", "head_seq", "head_hash", "test_data"],
                "properties": {
                    "verified": { "type": "boolean" },
                    "problem": { "type": ["string", "null"] },
                    "seq": { "type": ["integer", "null"] },
                    "message": { "type": ["string", "null"] },
                    "head_seq": { "type": "integer", "minimum": 0 },
                    "head_hash": { "$ref": "#/$defs/sha256" },
                    "test_data": { "type": "boolean" }
                }
            },
            "record_format_2_from": { "type": ["integer", "null"], "minimum": 1 },
            "runs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "procedure_id", "procedure_version", "procedure_title", "procedure_sha256", "controls", "source_path", "operator", "operator_name", "host", "runsheet_version", "started_at", "ended_at", "outcome", "events", "last_at"],
                    "properties": {
                        "id": { "type": "string", "format": "uuid" },
                        "procedure_id": { "type": "string" },
                        "procedure_version": { "type": "string" },
                        "procedure_title": { "type": "string" },
                        "procedure_sha256": { "$ref": "#/$defs/sha256" },
                        "controls": { "type": "array", "items": { "type": "string" } },
                        "source_path": { "type": "string" },
                        "operator": { "type": "string" },
                        "operator_name": { "type": ["string", "null"] },
                        "host": { "type": "string" },
                        "runsheet_version": { "type": "string" },
                        "started_at": { "$ref": "#/$defs/time" },
                        "ended_at": nullable_time,
                        "outcome": { "enum": ["completed", "escalated", "failed", "aborted", "open"] },
                        "events": { "type": "integer", "minimum": 1 },
                        "last_at": { "$ref": "#/$defs/time" }
                    }
                }
            },
            "events": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["seq", "run_id", "run_seq", "at", "actor", "kind", "step", "payload", "payload_sha256", "prev_hash", "hash"],
                    "properties": {
                        "seq": { "type": "integer", "minimum": 1 },
                        "run_id": { "type": "string", "format": "uuid" },
                        "run_seq": { "type": "integer", "minimum": 1 },
                        "at": { "$ref": "#/$defs/time" },
                        "actor": { "type": "string" },
                        "kind": {
                            "description": "A run event's kind (the store refuses any other); the payload must match the schema of this kind.",
                            "enum": RUN_KINDS
                        },
                        "step": { "type": ["string", "null"] },
                        "payload": {
                            "description": "The stored canonical payload; its kind's schema applies (allOf below).",
                            "type": "object",
                            "required": ["kind"]
                        },
                        "payload_sha256": { "$ref": "#/$defs/sha256" },
                        "content_salt": { "$ref": "#/$defs/sha256" },
                        "content": { "type": ["string", "null"] },
                        "redacted_by": { "type": "integer", "minimum": 1 },
                        "prev_hash": { "$ref": "#/$defs/sha256" },
                        "hash": { "$ref": "#/$defs/sha256" }
                    },
                    "allOf": all_of
                }
            },
            "links": {
                "description": "The records between the first exported event and the data head that events does not hold, in seq order: log events in full (each payload checked against its kind's schema), events of runs the filters left out without payload or content (docs/audit-bundle.md, Linking the events to the checkpoint).",
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["seq", "run_id", "run_seq", "at", "actor", "kind", "step", "payload_sha256", "prev_hash", "hash"],
                    "additionalProperties": false,
                    "properties": {
                        "seq": { "type": "integer", "minimum": 1 },
                        "run_id": { "type": ["string", "null"], "format": "uuid" },
                        "run_seq": { "type": "integer", "minimum": 1 },
                        "at": { "$ref": "#/$defs/time" },
                        "actor": { "type": "string" },
                        "kind": { "type": "string" },
                        "step": { "type": ["string", "null"] },
                        "payload": { "type": "object" },
                        "payload_sha256": { "$ref": "#/$defs/sha256" },
                        "prev_hash": { "$ref": "#/$defs/sha256" },
                        "hash": { "$ref": "#/$defs/sha256" }
                    },
                    "if": { "properties": { "run_id": { "type": "null" } } },
                    "then": { "required": ["payload"], "properties": { "kind": { "enum": LOG_KINDS } } },
                    "else": { "not": { "required": ["payload"] }, "properties": { "kind": { "enum": RUN_KINDS } } },
                    "allOf": by_log_kind
                }
            },
            "procedures": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["sha256", "format", "file", "text"],
                    "properties": {
                        "sha256": { "$ref": "#/$defs/sha256" },
                        "format": { "enum": ["toml", "json"] },
                        "file": { "type": "string" },
                        "text": { "type": "string" }
                    }
                }
            }
        },
        "$defs": Value::Object(defs)
    });
    closed(&mut value);
    value
}

/// One payload schema per run kind (`$defs` name → schema) and the `$defs`
/// the generated schemas refer to, from [`Event`]'s `JsonSchema`.
fn payload_schemas() -> (Map<String, Value>, Map<String, Value>) {
    let mut generated = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<Event>()
        .to_value();
    let defs = match generated.get_mut("$defs").map(Value::take) {
        Some(Value::Object(d)) => d,
        _ => Map::new(),
    };
    let variants = match generated.get_mut("oneOf").map(Value::take) {
        Some(Value::Array(v)) => v,
        _ => Vec::new(),
    };
    let mut payloads = Map::new();
    for mut variant in variants {
        // What the session adds to the engine's event (`ELAPSED_MS`).
        if let Some(Value::Object(props)) = variant.get_mut("properties") {
            props.insert(
                ELAPSED_MS.into(),
                json!({
                    "description": "Milliseconds since the recording session began, on the monotonic clock (absent in runs recorded before it was kept, and in generated logs).",
                    "type": "integer",
                    "minimum": 0
                }),
            );
        }
        let Some(kind) = variant
            .pointer("/properties/kind/const")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            continue;
        };
        let schema = if CONTENT_KINDS.contains(&kind.as_str()) {
            let fields = content_fields(kind.as_bytes()).unwrap_or(&[]);
            json!({
                "oneOf": [
                    stored_form(&variant, fields),
                    titled(variant, "inline (recorded before schema 5)")
                ]
            })
        } else {
            variant
        };
        payloads.insert(payload_def(&kind), schema);
    }
    (payloads, defs)
}

/// One payload schema per log kind (`$defs` name → schema) and the `$defs`
/// they refer to, from the types the log events are written with
/// ([`LogPayload`]): each type's members and its `kind`.
fn log_payload_schemas() -> (Map<String, Value>, Map<String, Value>) {
    fn add<T: LogPayload>(generator: &mut SchemaGenerator, payloads: &mut Map<String, Value>) {
        let mut schema = generator.root_schema_for::<T>().to_value();
        if let Some(o) = schema.as_object_mut() {
            o.remove("$schema");
            o.remove("$defs");
            if let Some(Value::Object(props)) = o.get_mut("properties") {
                props.insert("kind".into(), json!({ "const": T::KIND }));
            }
            if let Value::Array(required) = o.entry("required").or_insert_with(|| json!([])) {
                required.insert(0, json!("kind"));
            }
        }
        payloads.insert(payload_def(T::KIND), schema);
    }
    // As serialized: every member written is required (`null` when absent).
    let mut generator = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let mut payloads = Map::new();
    add::<LogCreated>(&mut generator, &mut payloads);
    add::<SchemaMigrated>(&mut generator, &mut payloads);
    add::<LogKey>(&mut generator, &mut payloads);
    add::<CustodianAdded>(&mut generator, &mut payloads);
    add::<RedactionClaim>(&mut generator, &mut payloads);
    add::<ProcedureApproved>(&mut generator, &mut payloads);
    add::<ProcedureReviewed>(&mut generator, &mut payloads);
    add::<ExportRecord>(&mut generator, &mut payloads);
    (payloads, generator.take_definitions(true))
}

/// The payload of a content kind as stored since schema 5: its content
/// members (`fields`) replaced by `content_sha256`.
fn stored_form(variant: &Value, fields: &[&str]) -> Value {
    let mut stored = variant.clone();
    if let Some(Value::Object(props)) = stored.get_mut("properties") {
        for f in fields {
            props.remove(*f);
        }
        props.insert(
            CONTENT_SHA256.into(),
            json!({
                "description": "SHA-256 (hex) of the content's salt followed by the content (the event's `content`): the content members are kept apart, redactable.",
                "$ref": "#/$defs/sha256"
            }),
        );
    }
    if let Some(Value::Array(required)) = stored.get_mut("required") {
        required.retain(|r| !r.as_str().is_some_and(|r| fields.contains(&r)));
        required.push(json!(CONTENT_SHA256));
    }
    titled(stored, "stored (schema 5: content kept apart)")
}

fn titled(mut schema: Value, title: &str) -> Value {
    if let Some(o) = schema.as_object_mut() {
        o.insert("title".into(), json!(title));
    }
    schema
}

/// Every object schema with properties (`"type": "object"`; not an `if`
/// clause's bare `properties`) allows no other member: a member no type
/// declares fails validation. This schema's and the `--json` outputs'
/// (`app::json_outputs`) are closed by it.
pub fn closed(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("properties")
                && map.get("type") == Some(&json!("object"))
                && !map.contains_key("additionalProperties")
            {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for v in map.values_mut() {
                closed(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(closed),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed_path() -> String {
        format!(
            "{}/docs/json/evidence.schema.json",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    /// The committed file is what the types give; regenerate with
    /// `RUNSHEET_UPDATE_SCHEMA=1 cargo test --lib committed_evidence_schema`.
    #[test]
    fn committed_evidence_schema_is_current() {
        let text = schema_text();
        if std::env::var_os("RUNSHEET_UPDATE_SCHEMA").is_some() {
            std::fs::write(committed_path(), &text).expect("write schema");
        }
        assert!(
            std::fs::read_to_string(committed_path()).unwrap_or_default() == text,
            "docs/json/evidence.schema.json is stale; regenerate with \
             `RUNSHEET_UPDATE_SCHEMA=1 cargo test --lib committed_evidence_schema`"
        );
    }

    #[test]
    fn every_kind_has_a_payload_schema_and_no_other_kind_does() {
        let v = schema();
        let defs = v["$defs"].as_object().unwrap();
        for k in RUN_KINDS {
            let def = &defs[&payload_def(k)];
            assert!(def.is_object(), "{k}");
            let text = def.to_string();
            assert!(text.contains(&format!("\"const\":\"{k}\"")), "{k}: {text}");
            assert_eq!(
                text.contains(CONTENT_SHA256),
                CONTENT_KINDS.contains(&k),
                "{k}"
            );
        }
        for k in LOG_KINDS {
            let def = &defs[&payload_def(k)];
            assert_eq!(def["properties"]["kind"]["const"], k, "{k}: {def:#}");
            assert_eq!(def["required"][0], "kind", "{k}");
            assert_eq!(def["additionalProperties"], false, "{k}");
        }
        let payload_defs = defs.keys().filter(|d| d.starts_with("payload-")).count();
        assert_eq!(payload_defs, RUN_KINDS.len() + LOG_KINDS.len());
        // The two generators' `$defs` share no name (one would hide the other).
        let (_, run_defs) = payload_schemas();
        let (_, log_defs) = log_payload_schemas();
        for name in log_defs.keys() {
            assert!(!run_defs.contains_key(name), "{name} is in both");
        }
        assert_eq!(
            v["properties"]["events"]["items"]["properties"]["kind"]["enum"],
            json!(RUN_KINDS)
        );
    }

    #[test]
    fn the_stored_form_drops_exactly_the_content_members() {
        let v = schema();
        let note = &v["$defs"]["payload-note-added"]["oneOf"][0];
        assert!(note["properties"].get("text").is_none(), "{note:#}");
        assert_eq!(note["required"], json!(["kind", "step", "content_sha256"]));
        assert_eq!(note["additionalProperties"], false);
        let ran = &v["$defs"]["payload-command-ran"]["oneOf"][0];
        for f in ["output", "output_sha256"] {
            assert!(ran["properties"].get(f).is_none(), "{f}");
        }
        assert!(ran["properties"].get("exit_code").is_some(), "{ran:#}");
    }
}
