//! The procedure model: what a procedure file says, as plain data.
//!
//! This module may not depend on IO, the clock, the store, the engine or the TUI.
//! It is the contract between the file format (TOML or JSON, see
//! `docs/procedure-format.md`), lint, render, the engine and the exports.
//! The JSON Schema in `docs/procedure.schema.json` is generated from these types.

use std::fmt;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A documented operating procedure (ISO/IEC 27001:2022 A.5.37).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Procedure {
    /// Stable identifier, lower-case letters, digits and `-` (e.g. `backup-customer-data`).
    pub id: String,
    /// Human title shown in the runner and reports.
    pub title: String,
    /// Version of this document (e.g. `1.2` or `2026.1`); bump it on every approved change.
    pub version: String,
    /// The person or role that owns the procedure (clause 7.5 documented information).
    pub owner: String,
    /// The person or role that approved this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
    /// Date this version was approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<Date>,
    /// Review interval in months, counted from `approved`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_every_months: Option<u32>,
    /// Explicit next review date (takes precedence over `review_every_months`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_review: Option<Date>,
    /// Why the procedure exists.
    pub purpose: String,
    /// What it covers and what it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Information classification of the document (e.g. `internal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// How often the procedure is expected to run.
    pub cadence: Cadence,
    /// Days to keep the content of this procedure's runs (note text,
    /// recorded values, evidence, command output) after a run ended, when it
    /// may hold personal data: `runsheet redact --due` erases older content
    /// (signed by a custodian). Absent: kept until redacted by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_retention_days: Option<u32>,
    /// Annex A controls the procedure implements (e.g. `A.8.13`).
    pub controls: Vec<String>,
    /// Roles that steps are assigned to.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Escalation branch used by steps that name no `on_fail` of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_escalation: Option<String>,
    /// The main path, run in order unless a step says otherwise.
    pub steps: Vec<Step>,
    /// Escalation branches a failing step leads to.
    #[serde(default)]
    pub branches: Vec<Branch>,
}

/// Expected cadence of a procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Cadence {
    Daily,
    /// Monday to Friday.
    Weekdays,
    Weekly,
    Monthly,
    Quarterly,
    Yearly,
    /// Run when needed (e.g. per new hire or per incident); no adherence check.
    OnDemand,
}

/// A role that performs steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// Identifier referenced by `step.role` and `step.signoff`.
    pub id: String,
    /// Display name (e.g. `IT administrator on duty`).
    pub title: String,
    /// Responsibilities and least-privilege reminder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One step. Its kind is given by which of `decision`, `value` or `command`
/// is present; with none of them it is an instruction to confirm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Stable identifier, unique across the whole procedure (main path and branches).
    pub id: String,
    /// Short imperative title.
    pub title: String,
    /// Instructions (multi-line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Role id that performs the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Annex A controls this step provides evidence for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<String>,
    /// A critical step cannot be skipped.
    #[serde(default, skip_serializing_if = "is_false")]
    pub critical: bool,
    /// An escalation branch's step may be skipped only when this says so
    /// (the contact, the incident ticket: an escalation is not optional).
    /// Main-path steps are skippable unless critical; this changes nothing there.
    #[serde(default, skip_serializing_if = "is_false")]
    pub skippable: bool,
    /// A yes/no question with where each answer goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// A value the operator records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<ValueSpec>,
    /// A shell command the operator may run from the runner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandSpec>,
    /// Prompt for a note the operator must write before the step is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Prompt for evidence the operator must give (e.g. `Change ticket id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// Role id of a second person who must sign the step off (not the operator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signoff: Option<String>,
    /// The sign-off may be a typed name (unauthenticated, and marked so in
    /// show and exports) instead of the second person's SSH signature.
    #[serde(default, skip_serializing_if = "is_false")]
    pub typed_signoff: bool,
    /// Where the run goes after this step (default: the next step in the list,
    /// or the end of the branch). A [`Target`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Target>,
    /// Escalation branch entered when this step fails (default: `default_escalation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_fail: Option<String>,
}

/// A yes/no question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// The question, answerable with yes or no.
    pub question: String,
    /// Where a "yes" goes.
    pub yes: Target,
    /// Where a "no" goes.
    pub no: Target,
}

/// What the operator records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValueSpec {
    /// Kind of value.
    #[serde(rename = "type")]
    pub kind: ValueKind,
    /// Label of the input field (e.g. `Backup size`).
    pub label: String,
    /// Whether an empty value is refused (default true).
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub required: bool,
    /// Help shown under the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Unit shown after a number (e.g. `GiB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Allowed answers, for `type = "choice"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// Regular expression the whole value must match, for `type = "pattern"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Smallest allowed number, for `type = "number"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest allowed number, for `type = "number"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// Kind of recorded value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ValueKind {
    Text,
    Number,
    /// A whole number (`min`, `max` and `unit` apply as to a number).
    Integer,
    Choice,
    Pattern,
}

impl ValueKind {
    /// The kind as procedure files write it.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::Text => "text",
            ValueKind::Number => "number",
            ValueKind::Integer => "integer",
            ValueKind::Choice => "choice",
            ValueKind::Pattern => "pattern",
        }
    }

    /// A number (`number` or `integer`): `min`, `max` and `unit` apply.
    pub fn is_numeric(self) -> bool {
        matches!(self, ValueKind::Number | ValueKind::Integer)
    }
}

/// A command the operator may run (never without confirmation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    /// Shell command, run with `sh -c`.
    pub run: String,
    /// Exit code that means success (default 0), 0 to 255. Another code offers fail → escalation.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "exit_code"
    )]
    #[schemars(range(min = 0, max = 255))]
    pub expect_exit: Option<i32>,
    /// Seconds after which the runner offers to stop the command (at least 1).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "timeout"
    )]
    #[schemars(range(min = 1))]
    pub timeout_secs: Option<u64>,
    /// Safe to run in a drill (`runsheet run --drill`): it changes nothing
    /// that matters (a read-only check, a dry run). Otherwise a drill shows
    /// the command and the operator says what they would have done.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub safe_to_rehearse: bool,
}

/// An exit code a command can end with: 0 to 255 (a shell reports a
/// signal as 128 + its number).
fn exit_code<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    let n = i64::deserialize(d)?;
    match i32::try_from(n) {
        Ok(code) if (0..=255).contains(&code) => Ok(Some(code)),
        _ => Err(serde::de::Error::custom(format!(
            "{n} is out of range: an exit code is 0 to 255, e.g. expect_exit = 1"
        ))),
    }
}

/// A timeout of at least one second.
fn timeout<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n = i64::deserialize(d)?;
    match u64::try_from(n) {
        Ok(secs) if secs >= 1 => Ok(Some(secs)),
        _ => Err(serde::de::Error::custom(format!(
            "{n} is out of range: a timeout is at least 1 second, e.g. timeout_secs = 600 (leave it out for none)"
        ))),
    }
}

/// An escalation branch: steps to follow when a step fails, and where the run goes next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    /// Identifier referenced by `on_fail` and `default_escalation`.
    pub id: String,
    /// What the branch is for (e.g. `Backup job failed`).
    pub title: String,
    /// Who to contact and how (shown at the top of escalation mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// The branch's steps, in order.
    pub steps: Vec<Step>,
    /// Where the run goes when the branch's last step is done.
    pub then: BranchEnd,
}

/// Where a run goes when an escalation branch ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BranchEnd {
    /// Back to the failed step, to try it again.
    Retry,
    /// On to the step after the failed one.
    Continue,
    /// End the run with outcome `escalated`.
    EndEscalated,
    /// End the run with outcome `failed`.
    EndFailed,
}

/// Where the flow goes: a step id, or one of the reserved words
/// `end` (main path: run completed; branch: the branch's `then`),
/// `fail` (this step fails and its escalation branch is entered),
/// or, inside a branch only, `retry`, `continue`, `end-escalated`, `end-failed`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(with = "String")]
pub enum Target {
    Step(String),
    End,
    Fail,
    Branch(BranchEnd),
}

/// Kind of a step, derived from which of its kind tables is present.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepKind<'a> {
    Confirm,
    Decision(&'a Decision),
    Value(&'a ValueSpec),
    Command(&'a CommandSpec),
}

/// Where a step lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepPlace {
    /// Index into `Procedure::steps`.
    Main(usize),
    /// Branch index, step index within it.
    Branch(usize, usize),
}

/// A calendar date (`YYYY-MM-DD`). TOML authors may write a bare date; JSON uses a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[schemars(with = "String")]
pub struct Date(pub NaiveDate);

impl Procedure {
    /// Find a step anywhere in the procedure.
    pub fn step(&self, id: &str) -> Option<(&Step, StepPlace)> {
        if let Some(i) = self.steps.iter().position(|s| s.id == id) {
            return Some((&self.steps[i], StepPlace::Main(i)));
        }
        self.branches.iter().enumerate().find_map(|(b, branch)| {
            branch
                .steps
                .iter()
                .position(|s| s.id == id)
                .map(|i| (&branch.steps[i], StepPlace::Branch(b, i)))
        })
    }

    /// The branch with this id.
    pub fn branch(&self, id: &str) -> Option<&Branch> {
        self.branches.iter().find(|b| b.id == id)
    }

    /// The escalation branch a failure of `step` enters, if any.
    pub fn escalation_for(&self, step: &Step) -> Option<&Branch> {
        step.on_fail
            .as_deref()
            .or(self.default_escalation.as_deref())
            .and_then(|id| self.branch(id))
    }

    /// The role with this id.
    pub fn role(&self, id: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.id == id)
    }

    /// Next review date: `next_review`, else `approved` plus `review_every_months`.
    pub fn review_due(&self) -> Option<NaiveDate> {
        if let Some(d) = self.next_review {
            return Some(d.0);
        }
        let approved = self.approved?.0;
        let months = self.review_every_months?;
        approved.checked_add_months(chrono::Months::new(months))
    }

    /// All steps, main path first, then each branch's.
    pub fn all_steps(&self) -> impl Iterator<Item = &Step> {
        self.steps
            .iter()
            .chain(self.branches.iter().flat_map(|b| b.steps.iter()))
    }
}

impl Step {
    /// The step's kind.
    pub fn kind(&self) -> StepKind<'_> {
        if let Some(d) = &self.decision {
            StepKind::Decision(d)
        } else if let Some(v) = &self.value {
            StepKind::Value(v)
        } else if let Some(c) = &self.command {
            StepKind::Command(c)
        } else {
            StepKind::Confirm
        }
    }
}

impl StepKind<'_> {
    /// Lower-case name used in docs, events and reports.
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Confirm => "confirm",
            StepKind::Decision(_) => "decision",
            StepKind::Value(_) => "value",
            StepKind::Command(_) => "command",
        }
    }
}

impl BranchEnd {
    /// The reserved word used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            BranchEnd::Retry => "retry",
            BranchEnd::Continue => "continue",
            BranchEnd::EndEscalated => "end-escalated",
            BranchEnd::EndFailed => "end-failed",
        }
    }

    /// What the ending does, in words, as procedure documents (`render`) and
    /// the runner's escalation banner say it: `retry the failed step`,
    /// `continue with the step after the failed one`, `end the run as
    /// escalated`, `end the run as failed`.
    pub fn words(self) -> &'static str {
        match self {
            BranchEnd::Retry => "retry the failed step",
            BranchEnd::Continue => "continue with the step after the failed one",
            BranchEnd::EndEscalated => "end the run as escalated",
            BranchEnd::EndFailed => "end the run as failed",
        }
    }
}

impl Cadence {
    /// The word used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Cadence::Daily => "daily",
            Cadence::Weekdays => "weekdays",
            Cadence::Weekly => "weekly",
            Cadence::Monthly => "monthly",
            Cadence::Quarterly => "quarterly",
            Cadence::Yearly => "yearly",
            Cadence::OnDemand => "on-demand",
        }
    }
}

/// Words that cannot be used as step ids because targets use them.
pub const RESERVED_TARGETS: &[&str] = &[
    "end",
    "fail",
    "retry",
    "continue",
    "end-escalated",
    "end-failed",
];

impl Target {
    /// Parse a target as written in a file.
    pub fn parse(s: &str) -> Target {
        match s {
            "end" => Target::End,
            "fail" => Target::Fail,
            "retry" => Target::Branch(BranchEnd::Retry),
            "continue" => Target::Branch(BranchEnd::Continue),
            "end-escalated" => Target::Branch(BranchEnd::EndEscalated),
            "end-failed" => Target::Branch(BranchEnd::EndFailed),
            other => Target::Step(other.to_string()),
        }
    }

    /// The target as written in a file.
    pub fn as_str(&self) -> &str {
        match self {
            Target::Step(s) => s,
            Target::End => "end",
            Target::Fail => "fail",
            Target::Branch(b) => b.as_str(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Target::parse(&s))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// A TOML bare date arrives as toml's datetime map; JSON gives a string.
        struct DateText;
        impl<'de> serde::de::Visitor<'de> for DateText {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a date written as YYYY-MM-DD")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<String, E> {
                Ok(s.to_string())
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<String, A::Error> {
                let dt = toml::value::Datetime::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(dt.to_string())
            }
        }
        let text = d.deserialize_any(DateText)?;
        NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .map(Date)
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "`{text}` is not a date; write it as YYYY-MM-DD, e.g. 2026-03-31"
                ))
            })
    }
}

fn default_true() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}
