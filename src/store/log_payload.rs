//! The payloads of the log's own events (those of no run): one type per kind,
//! which the writer serializes and the evidence schema is generated from
//! (`payload-<kind>` in docs/json/evidence.schema.json). The export event's
//! type lives with the export, which is the only writer of it.
//!
//! May not depend on rusqlite, the engine or anything outside the store.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::NewEvent;
/// `redaction`: a signed, recorded redaction (its reader lives with the
/// content it erases).
pub use super::content::RedactionClaim;
use super::kinds::{
    KIND_CUSTODIAN_ADDED, KIND_LOG_CREATED, KIND_LOG_KEY, KIND_PROCEDURE_APPROVED,
    KIND_PROCEDURE_REVIEWED, KIND_SCHEMA_MIGRATED,
};

/// A log event's payload type: what it is recorded as, and its kind.
pub trait LogPayload: Serialize + JsonSchema {
    /// The event kind (one of [`super::kinds::LOG_KINDS`]).
    const KIND: &'static str;

    /// The payload as recorded: the type's members and `kind`.
    fn to_payload(&self) -> Value {
        let mut value = match serde_json::to_value(self) {
            Ok(v @ Value::Object(_)) => v,
            // Every implementor is a struct of plain members.
            _ => Value::Object(serde_json::Map::new()),
        };
        if let Value::Object(members) = &mut value {
            members.insert("kind".into(), Value::String(Self::KIND.into()));
        }
        value
    }

    /// The event recording this payload.
    fn event(&self, actor: &str, at: DateTime<Utc>) -> NewEvent {
        NewEvent {
            at,
            actor: actor.to_string(),
            kind: Self::KIND.to_string(),
            step: None,
            payload: self.to_payload(),
        }
    }
}

/// `log-created`: the first event of a log made by schema 3 or later.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LogCreated {
    /// The log's identity (a UUID, hyphenated).
    pub log_id: String,
    /// The schema version the log was created with.
    pub schema: i64,
    /// The record-hash format the log's records use from this one on.
    pub record_hash: u8,
    /// The runsheet that created the log.
    pub runsheet_version: String,
    /// The log holds generated test data, not evidence.
    pub test_data: bool,
}

impl LogPayload for LogCreated {
    const KIND: &'static str = KIND_LOG_CREATED;
}

/// `schema-migrated`: a recorded schema migration.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SchemaMigrated {
    /// The schema version before.
    pub from: i64,
    /// The schema version after.
    pub to: i64,
    /// The record-hash format the log's records use from this one on.
    pub record_hash: u8,
    /// The runsheet that migrated the log.
    pub runsheet_version: String,
}

impl LogPayload for SchemaMigrated {
    const KIND: &'static str = KIND_SCHEMA_MIGRATED;
}

/// `log-key`: the log's origin and the public key its checkpoints are
/// signed with (docs/custody.md).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LogKey {
    /// The log's origin, the checkpoints' first line.
    pub origin: String,
    /// The public key as a C2SP signed-note verifier key.
    pub vkey: String,
    /// Always `ed25519`.
    pub algorithm: String,
}

impl LogPayload for LogKey {
    const KIND: &'static str = KIND_LOG_KEY;
}

/// `custodian-added`: a custodian's verifier key, registered for signing
/// redactions (`runsheet custodian add`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CustodianAdded {
    /// The custodian's key as a C2SP signed-note verifier key.
    pub vkey: String,
}

impl LogPayload for CustodianAdded {
    const KIND: &'static str = KIND_CUSTODIAN_ADDED;
}

/// Who performed a procedure's approval or review, and how runsheet knew
/// it: from their own login, or by their SSH signature checked against the
/// allowed-signers file (the identities of a second-person sign-off,
/// docs/signoff.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ActSigner {
    /// The OS user (method `login`) or the SSH principal (method `ssh`).
    pub user: String,
    /// Their display name, if given.
    pub name: Option<String>,
    /// The role the act was performed in (an approval's is `approver`).
    pub role: String,
    /// `login` or `ssh`.
    pub method: String,
    /// Method `login`: the OS user as the OS reported it.
    pub login: Option<ActLogin>,
    /// Method `ssh`: the signature and what it signed.
    pub ssh: Option<ActSsh>,
    /// The allowed-signers file that granted the role; `null`: the role was
    /// not checked (no allowed-signers file, method `login` only).
    pub role_from: Option<String>,
}

/// The OS user an act was performed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ActLogin {
    pub user: String,
    pub uid: u32,
    pub host: String,
    /// `sudo` when runsheet ran under sudo for this user; `null` for the
    /// process's own user.
    pub via: Option<String>,
}

/// An SSH signature over an act's text (`ssh-keygen -Y sign`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ActSsh {
    pub principal: String,
    /// The key's fingerprint as ssh-keygen prints it (`SHA256:…`).
    pub key: String,
    pub namespace: String,
    /// The exact text signed.
    pub message: String,
    /// The armored signature (`-----BEGIN SSH SIGNATURE-----` …).
    pub signature: String,
}

/// `procedure-approved`: someone holding the approver role approved this
/// exact procedure source (`runsheet approve`). The source is kept whole, so
/// every approved version can be compared later even if it never ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProcedureApproved {
    pub procedure_id: String,
    pub procedure_version: String,
    pub procedure_title: String,
    /// SHA-256 of the exact source bytes (as a run's `procedure_sha256`).
    pub procedure_sha256: String,
    /// `toml` or `json`.
    pub procedure_format: String,
    /// The whole source text approved.
    pub source: String,
    /// Where it was read from (informational).
    pub source_path: String,
    /// The UTC date of the approval (`YYYY-MM-DD`).
    pub approved_on: String,
    pub by: ActSigner,
}

impl LogPayload for ProcedureApproved {
    const KIND: &'static str = KIND_PROCEDURE_APPROVED;
}

/// `procedure-reviewed`: someone reviewed a version of a procedure
/// (`runsheet review`), found it unchanged or changed, and set the next
/// review date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProcedureReviewed {
    pub procedure_id: String,
    pub procedure_version: String,
    /// SHA-256 of the exact source reviewed.
    pub procedure_sha256: String,
    /// `unchanged` or `changed`.
    pub outcome: String,
    pub note: String,
    /// The UTC date of the review (`YYYY-MM-DD`).
    pub reviewed_on: String,
    /// When the next review is due (`YYYY-MM-DD`).
    pub next_review: String,
    pub by: ActSigner,
}

impl LogPayload for ProcedureReviewed {
    const KIND: &'static str = KIND_PROCEDURE_REVIEWED;
}

/// A recorded approval or review, as read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub enum Act {
    Approved(ProcedureApproved),
    Reviewed(ProcedureReviewed),
}

impl Act {
    pub fn procedure_id(&self) -> &str {
        match self {
            Act::Approved(a) => &a.procedure_id,
            Act::Reviewed(r) => &r.procedure_id,
        }
    }

    pub fn procedure_sha256(&self) -> &str {
        match self {
            Act::Approved(a) => &a.procedure_sha256,
            Act::Reviewed(r) => &r.procedure_sha256,
        }
    }

    pub fn by(&self) -> &ActSigner {
        match self {
            Act::Approved(a) => &a.by,
            Act::Reviewed(r) => &r.by,
        }
    }
}

/// One recorded approval or review with its record's seq, time and actor.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcedureAct {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub act: Act,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_carries_its_kind_and_every_member() {
        let p = LogKey {
            origin: "runsheet/host/x".into(),
            vkey: "runsheet/host/x+0000+AA".into(),
            algorithm: "ed25519".into(),
        }
        .to_payload();
        assert_eq!(p["kind"], KIND_LOG_KEY);
        assert_eq!(
            super::super::chain::canonical_json(&p),
            r#"{"algorithm":"ed25519","kind":"log-key","origin":"runsheet/host/x","vkey":"runsheet/host/x+0000+AA"}"#
        );
        let e = CustodianAdded { vkey: "k".into() }.event("alice", Utc::now());
        assert_eq!(e.kind, KIND_CUSTODIAN_ADDED);
        assert_eq!(e.step, None);
        assert_eq!(e.payload["vkey"], "k");
    }
}
