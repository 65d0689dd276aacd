//! `manifest.json`: every file of a bundle with its SHA-256 and size, the
//! filters, the generator, the time and the evidence log's checkpoint; plus a
//! self-hash so a change to the manifest itself is named as such.
//!
//! May not depend on the front ends or the app.

use std::path::{Component, Path};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::sha256_hex;

/// `format` of manifest.json.
pub const FORMAT: &str = "runsheet-audit-bundle";
/// `version` of manifest.json (2: the verdict, the data head, and the
/// log's record of the export, which checkpoint.json's head is; 3: and the
/// signed part, `custody`).
pub const VERSION: u32 = 3;
/// The oldest version verify-bundle reads (a version-2 bundle has no
/// signed part).
pub const OLDEST_VERSION: u32 = 2;
/// The manifest's own file name (it does not list itself).
pub const FILE: &str = "manifest.json";

const SELF_KEY: &str = "\"self_sha256\": \"";
const ZEROS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FileEntry {
    /// Relative path with `/` separators, e.g. `procedures/<sha256>.toml`.
    pub path: String,
    #[schemars(extend("pattern" = "^[0-9a-f]{64}$"))]
    pub sha256: String,
    pub bytes: u64,
}

/// The manifest, field order as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub generator: String,
    pub created_at: String,
    pub exported_by: String,
    pub filters: Value,
    pub formats: Vec<String>,
    pub runs: u64,
    pub events: u64,
    /// What verify said of the log just before the export read it.
    pub verification: Value,
    /// The chain head the export read: every exported event is at or before
    /// it (`{"seq": n, "hash": h}`).
    pub data_head: Value,
    /// The log's record of this export: `{"recorded": true, "seq": n,
    /// "hash": h}` (export.json), or `{"recorded": false, ...}` for a log
    /// that could not be written.
    pub export: Value,
    /// checkpoint.json's content: the chain head at the export record (or
    /// the data head when the export could not be recorded).
    pub checkpoint: Value,
    /// The signed part (version 3): `{"signed": true, "checkpoint":
    /// "checkpoint", "origin", "vkey", "tree_size", "export_proof",
    /// "manifest_signature", "sample": [run ids], "proofs": n}`, or
    /// `{"signed": false, "why": ...}`. Null in a version-2 manifest.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub custody: Value,
    /// Sorted by path.
    pub files: Vec<FileEntry>,
    /// SHA-256 of this file's text with this value written as 64 zeros.
    pub self_sha256: String,
}

impl Manifest {
    /// The manifest's text (pretty JSON, trailing newline) with its self-hash filled in.
    pub fn to_text(&self) -> Result<String, serde_json::Error> {
        let mut m = self.clone();
        m.files.sort_by(|a, b| a.path.cmp(&b.path));
        m.self_sha256 = ZEROS.to_string();
        let mut text = serde_json::to_string_pretty(&m)?;
        text.push('\n');
        let hash = sha256_hex(text.as_bytes());
        Ok(text.replacen(
            &format!("{SELF_KEY}{ZEROS}\""),
            &format!("{SELF_KEY}{hash}\""),
            1,
        ))
    }

    /// Read a manifest: it must parse, be this format and version, and match its self-hash.
    pub fn from_text(text: &str) -> Result<Manifest, String> {
        let unreadable = |e: serde_json::Error| {
            format!(
                "cannot be read ({e}); it was changed after export, or is not a runsheet bundle manifest"
            )
        };
        let v: Value = serde_json::from_str(text).map_err(unreadable)?;
        if v["format"] != FORMAT {
            return Err(format!("has format {}, expected {FORMAT:?}", v["format"]));
        }
        let version = v["version"].as_u64().unwrap_or(0);
        if !(u64::from(OLDEST_VERSION)..=u64::from(VERSION)).contains(&version) {
            return Err(format!(
                "is version {}; this runsheet reads versions {OLDEST_VERSION} to {VERSION} (a version-1 bundle's files are not bound by a checkpoint: export it again)",
                v["version"]
            ));
        }
        if version >= 3 && !v["custody"].is_object() {
            return Err(
                "is version 3 but has no `custody` object; it was changed after export".into(),
            );
        }
        let m: Manifest = serde_json::from_value(v).map_err(unreadable)?;
        if !self_hash_ok(text) {
            return Err(
                "was changed after export: its self_sha256 does not match its content".into(),
            );
        }
        for f in &m.files {
            if !safe_relative(&f.path) {
                return Err(format!(
                    "lists {:?}, which is not a plain relative path inside the bundle",
                    f.path
                ));
            }
        }
        Ok(m)
    }
}

/// Recompute the self-hash: the text with the value replaced by zeros.
fn self_hash_ok(text: &str) -> bool {
    let Some(start) = text.find(SELF_KEY).map(|i| i + SELF_KEY.len()) else {
        return false;
    };
    let Some(value) = text.get(start..start + 64) else {
        return false;
    };
    let mut zeroed = String::with_capacity(text.len());
    zeroed.push_str(&text[..start]);
    zeroed.push_str(ZEROS);
    zeroed.push_str(&text[start + 64..]);
    sha256_hex(zeroed.as_bytes()) == value
}

/// A relative path of normal components only (no `..`, no root, no `\`).
pub fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            version: VERSION,
            generator: "runsheet 0.0.0".into(),
            created_at: "2026-11-01T00:00:00.000Z".into(),
            exported_by: "alice".into(),
            filters: serde_json::json!({"control": "A.8.13"}),
            formats: vec!["csv".into()],
            runs: 1,
            events: 2,
            verification: serde_json::json!({"verified": true}),
            data_head: serde_json::json!({"seq": 2}),
            export: serde_json::json!({"recorded": true, "seq": 3}),
            checkpoint: serde_json::json!({"head_seq": 3}),
            custody: serde_json::json!({"signed": false, "why": "test"}),
            files: vec![FileEntry {
                path: "runs.csv".into(),
                sha256: ZEROS.into(),
                bytes: 3,
            }],
            self_sha256: String::new(),
        }
    }

    #[test]
    fn the_manifest_reads_back_and_any_change_is_caught() {
        let text = sample().to_text().expect("text");
        let back = Manifest::from_text(&text).expect("reads back");
        assert_eq!(back.files, sample().files);
        // Change one byte anywhere: it no longer reads as the manifest.
        for i in 0..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[i] ^= 0x01;
            let Ok(changed) = String::from_utf8(bytes) else {
                continue;
            };
            assert!(
                Manifest::from_text(&changed).is_err(),
                "a change at byte {i} went unnoticed"
            );
        }
    }

    #[test]
    fn paths_must_stay_inside_the_bundle() {
        assert!(safe_relative("procedures/ab.toml"));
        assert!(!safe_relative("../etc/passwd"));
        assert!(!safe_relative("/etc/passwd"));
        assert!(!safe_relative("a\\b"));
        assert!(!safe_relative(""));
    }
}
