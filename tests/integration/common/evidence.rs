//! Output against its committed schema (docs/json/NAME.schema.json) with an
//! independent validator (boon, JSON Schema 2020-12): the `--json` outputs,
//! and evidence.json, for the tests whose scenario makes an event kind or a
//! log event few others make.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use super::{repo, runsheet, stderr, stdout};

/// The committed schema `docs/json/NAME.schema.json`.
pub fn committed_schema(name: &str) -> Value {
    let path = repo().join(format!("docs/json/{name}.schema.json"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("schema file")).expect("JSON")
}

/// The committed evidence schema.
pub fn evidence_schema() -> Value {
    committed_schema("evidence")
}

/// A committed schema, compiled.
pub struct SchemaValidator {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl SchemaValidator {
    /// `docs/json/NAME.schema.json`, compiled.
    pub fn new(name: &str) -> SchemaValidator {
        let schema = committed_schema(name);
        let id = schema["$id"].as_str().expect("$id").to_string();
        let mut compiler = boon::Compiler::new();
        compiler.add_resource(&id, schema).expect("resource");
        let mut schemas = boon::Schemas::new();
        let index = compiler
            .compile(&id, &mut schemas)
            .expect("the schema compiles");
        SchemaValidator { schemas, index }
    }

    /// The evidence schema, compiled.
    pub fn evidence() -> SchemaValidator {
        SchemaValidator::new("evidence")
    }

    /// What boon finds wrong with `instance`, if anything.
    pub fn problems(&self, instance: &Value) -> Option<String> {
        self.schemas
            .validate(instance, self.index)
            .err()
            .map(|e| format!("{e:#}"))
    }
}

/// `runsheet export --out OUT ARGS` on the log `db`, which must succeed.
pub fn export_bundle(db: &Path, out: &Path, args: &[&str]) -> Output {
    let o = runsheet(db)
        .arg("export")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    o
}

/// Export the log on `db` (with `args`, e.g. `--run ID`) into `dir/name`
/// and read its evidence.json.
pub fn export_evidence(db: &Path, dir: &Path, name: &str, args: &[&str]) -> Value {
    let bundle = dir.join(name);
    export_bundle(db, &bundle, args);
    let text = std::fs::read_to_string(bundle.join("evidence.json")).unwrap();
    serde_json::from_str(&text).expect("evidence.json is JSON")
}

/// Export the whole log on `db` beside it and fail unless its evidence.json
/// validates against the committed schema; the evidence, for more checks.
/// (The export is recorded in the log: call it last.)
pub fn assert_evidence_validates(db: &Path) -> Value {
    let dir = db.parent().expect("the log is in a folder");
    let evidence = export_evidence(db, dir, "schema-check-bundle", &[]);
    if let Some(p) = SchemaValidator::evidence().problems(&evidence) {
        panic!("evidence.json of {} does not validate: {p}", db.display());
    }
    evidence
}
