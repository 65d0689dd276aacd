//! The OSCAL file's UUIDs, derived (UUID version 5, RFC 9562 §5.5) from the
//! log's identity and what each one describes, so the same log exported
//! twice gives the same observation and finding UUIDs, and the same log at
//! the same export time the same bytes. The exact names are in
//! docs/audit-bundle.md ("How the UUIDs are derived").
//!
//! May not depend on the store, the front ends or the app.

use uuid::Uuid;

/// The prefix of the name that makes the log's namespace (under RFC 9562's
/// URL namespace): `urn:runsheet:oscal:<origin>`.
pub const NAMESPACE_PREFIX: &str = "urn:runsheet:oscal:";

/// The UUIDs of one log's OSCAL documents.
#[derive(Debug, Clone)]
pub struct Ids {
    namespace: Uuid,
}

impl Ids {
    /// For the log whose identity is `origin` (its `log-key` origin,
    /// `runsheet/<host>/<log id>`).
    pub fn new(origin: &str) -> Ids {
        let name = format!("{NAMESPACE_PREFIX}{origin}");
        Ids {
            namespace: Uuid::new_v5(&Uuid::NAMESPACE_URL, name.as_bytes()),
        }
    }

    /// The log's namespace UUID.
    pub fn namespace(&self) -> Uuid {
        self.namespace
    }

    fn id(&self, name: &str) -> String {
        Uuid::new_v5(&self.namespace, name.as_bytes())
            .hyphenated()
            .to_string()
    }

    /// The document: one export (data head, export time, filters).
    pub fn document(&self, data_head_seq: i64, created_at: &str, filters: &str) -> String {
        self.id(&format!(
            "assessment-results/{data_head_seq}/{created_at}/{filters}"
        ))
    }

    /// The one result: the log up to its data head, under these filters.
    pub fn result(&self, data_head_seq: i64, filters: &str) -> String {
        self.id(&format!("result/{data_head_seq}/{filters}"))
    }

    /// The observation of one run.
    pub fn observation(&self, run_id: &str) -> String {
        self.id(&format!("observation/{run_id}"))
    }

    /// The finding for one control under these filters.
    pub fn finding(&self, control: &str, filters: &str) -> String {
        self.id(&format!("finding/{control}/{filters}"))
    }

    /// The party of a person (the exporter).
    pub fn party(&self, user: &str) -> String {
        self.id(&format!("party/{user}"))
    }

    /// The component that stands for a procedure (by id).
    pub fn component(&self, procedure_id: &str) -> String {
        self.id(&format!("component/{procedure_id}"))
    }

    /// The back-matter resource of a procedure source (by its SHA-256).
    pub fn procedure(&self, sha256: &str) -> String {
        self.id(&format!("procedure/{sha256}"))
    }

    /// The back-matter resource of any other bundle file (by its path in the bundle).
    pub fn file(&self, path: &str) -> String {
        self.id(&format!("file/{path}"))
    }

    /// A fixed back-matter resource (`assessment-plan`, `catalog`, `manifest`).
    pub fn resource(&self, name: &str) -> String {
        self.id(&format!("resource/{name}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_5_under_the_logs_namespace() {
        let ids = Ids::new("runsheet/host/0190f1b2-0000-7000-8000-000000000001");
        let want_ns = Uuid::new_v5(
            &Uuid::NAMESPACE_URL,
            b"urn:runsheet:oscal:runsheet/host/0190f1b2-0000-7000-8000-000000000001",
        );
        assert_eq!(ids.namespace(), want_ns);
        let obs = ids.observation("0190f1b2-0000-7000-8000-00000000000a");
        let parsed = Uuid::parse_str(&obs).expect("uuid");
        assert_eq!(parsed.get_version_num(), 5);
        assert_eq!(
            parsed,
            Uuid::new_v5(
                &want_ns,
                b"observation/0190f1b2-0000-7000-8000-00000000000a"
            )
        );
        // Another log, another run, another control: other UUIDs.
        let other = Ids::new("runsheet/host/0190f1b2-0000-7000-8000-000000000002");
        assert_ne!(
            other.observation("0190f1b2-0000-7000-8000-00000000000a"),
            obs
        );
        assert_ne!(ids.observation("0190f1b2-0000-7000-8000-00000000000b"), obs);
        assert_ne!(ids.finding("A.8.13", "{}"), ids.finding("A.8.15", "{}"));
    }
}
