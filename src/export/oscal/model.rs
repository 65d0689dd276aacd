//! The part of the OSCAL 1.2 assessment-results model the bundle writes, as
//! serde types with OSCAL's JSON names (kebab-case, optional parts left out
//! when empty, since OSCAL forbids empty arrays), and the text rules OSCAL
//! puts on one-line fields.
//!
//! May not depend on the store, the front ends or the app.

use serde::Serialize;

/// The namespace of runsheet's own properties.
pub const NS: &str = "urn:runsheet:oscal";

/// `name = value` in runsheet's namespace.
#[derive(Debug, Clone, Serialize)]
pub struct Prop {
    pub name: &'static str,
    pub ns: &'static str,
    pub value: String,
}

/// Properties, each value made a valid OSCAL property value (one line,
/// no space at either end); an empty value is left out.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(transparent)]
pub struct Props(pub Vec<Prop>);

impl Props {
    pub fn add(&mut self, name: &'static str, value: impl AsRef<str>) -> &mut Self {
        if let Some(value) = one_line(value.as_ref()) {
            self.0.push(Prop {
                name,
                ns: NS,
                value,
            });
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `text` as an OSCAL one-line string (a title, a property value): control
/// characters and newlines made visible escapes, trimmed; `None` when
/// nothing is left.
pub fn one_line(text: &str) -> Option<String> {
    let line = crate::text::sanitize_line(text);
    let line = line.trim();
    (!line.is_empty()).then(|| line.to_string())
}

/// A title: [`one_line`], or `fallback` when empty.
pub fn title(text: &str, fallback: &str) -> String {
    one_line(text).unwrap_or_else(|| fallback.to_string())
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Link {
    pub href: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rel: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Role {
    pub id: &'static str,
    pub title: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Party {
    pub uuid: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    #[serde(skip_serializing_if = "Props::is_empty")]
    pub props: Props,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ResponsibleParty {
    pub role_id: &'static str,
    pub party_uuids: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Metadata {
    pub title: String,
    pub published: String,
    pub last_modified: String,
    pub version: String,
    pub oscal_version: &'static str,
    #[serde(skip_serializing_if = "Props::is_empty")]
    pub props: Props,
    pub roles: Vec<Role>,
    pub parties: Vec<Party>,
    pub responsible_parties: Vec<ResponsibleParty>,
    pub remarks: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ImportAp {
    pub href: String,
    pub remarks: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub state: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Component {
    pub uuid: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub description: String,
    #[serde(skip_serializing_if = "Props::is_empty")]
    pub props: Props,
    pub status: Status,
}

#[derive(Debug, Clone, Serialize)]
pub struct LocalDefinitions {
    pub components: Vec<Component>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ControlId {
    pub control_id: String,
}

/// A control selection: by id, or (when no control was reviewed) OSCAL's
/// `include-all`, described as standing for none.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ControlSelection {
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_all: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub include_controls: Vec<ControlId>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ReviewedControls {
    pub description: String,
    #[serde(skip_serializing_if = "Props::is_empty")]
    pub props: Props,
    pub links: Vec<Link>,
    pub control_selections: Vec<ControlSelection>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SubjectReference {
    pub subject_uuid: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct RelevantEvidence {
    pub href: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Observation {
    pub uuid: String,
    pub title: String,
    pub description: String,
    pub props: Props,
    pub methods: Vec<&'static str>,
    pub types: Vec<&'static str>,
    pub subjects: Vec<SubjectReference>,
    pub relevant_evidence: Vec<RelevantEvidence>,
    pub collected: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ObjectiveStatus {
    pub state: &'static str,
    pub reason: &'static str,
    pub remarks: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct FindingTarget {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub target_id: String,
    pub title: String,
    pub description: String,
    pub status: ObjectiveStatus,
}

/// A finding without its related observations (streamed after it).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Finding {
    pub uuid: String,
    pub title: String,
    pub description: String,
    pub props: Props,
    pub target: FindingTarget,
}

#[derive(Debug, Clone, Serialize)]
pub struct Hash {
    pub algorithm: &'static str,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Rlink {
    pub href: String,
    pub media_type: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hashes: Vec<Hash>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Citation {
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Resource {
    pub uuid: String,
    pub title: String,
    pub description: String,
    #[serde(skip_serializing_if = "Props::is_empty")]
    pub props: Props,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub citation: Option<Citation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rlinks: Vec<Rlink>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base64: Option<Base64>,
}

/// A resource's content, embedded.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Base64 {
    pub filename: &'static str,
    pub media_type: &'static str,
    pub value: String,
}

/// The media type of a bundle file, by its extension.
pub fn media_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html",
        Some("md") => "text/markdown",
        Some("csv") => "text/csv",
        Some("json") => "application/json",
        Some("toml") => "application/toml",
        _ => "text/plain",
    }
}
