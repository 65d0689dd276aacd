//! The run's vocabulary, each word with one string form: the kinds of event
//! the evidence log holds, a run's outcome, the deviations a run can have,
//! and who ran it. The engine, the store, the reports and the front ends all
//! name these through here.
//!
//! May not depend on anything else in the crate.

use serde::{Deserialize, Serialize};

/// The kind of a record in the evidence log: a run's event (written by the
/// engine through the session) or an event of the log itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    RunStarted,
    WarningsAcknowledged,
    /// The operator was shown what changed since they last ran the procedure.
    ChangeNoticeSeen,
    StepStarted,
    StepConfirmed,
    DecisionAnswered,
    ValueRecorded,
    EvidenceRecorded,
    /// A step's command is about to start (durable before the process is).
    CommandStarted,
    CommandRan,
    /// What the operator says became of a command whose result was never
    /// recorded (its session ended while it ran).
    CommandInterrupted,
    /// In a drill, what the operator says they would have done instead of
    /// running a command the procedure does not mark safe to rehearse.
    CommandRehearsed,
    NoteAdded,
    SignedOff,
    /// A sign-off refused because the operator named themself.
    SignOffRefused,
    /// A finished step's record corrected (the original stays).
    Corrected,
    StepSkipped,
    StepFailed,
    BranchEnded,
    Suspended,
    Resumed,
    /// A session took up a run whose previous session ended without
    /// suspending it (a crash, a kill, a lost connection).
    Recovered,
    /// Another operator took the run over, saying why.
    HandedOver,
    RunEnded,
    /// The log's identity: first event of a log created by schema 3 or later.
    LogCreated,
    /// A recorded schema migration.
    SchemaMigrated,
    /// An audit bundle export.
    Export,
    /// The log's origin and signing key (docs/custody.md).
    LogKey,
    /// A custodian's key registered for signing redactions.
    CustodianAdded,
    /// A procedure source approved (`runsheet approve`).
    ProcedureApproved,
    /// A procedure version reviewed (`runsheet review`).
    ProcedureReviewed,
    /// A signed, recorded redaction.
    Redaction,
}

impl EventKind {
    /// Every kind a run's events have, in the order a run meets them.
    pub const RUN: [EventKind; 24] = [
        EventKind::RunStarted,
        EventKind::WarningsAcknowledged,
        EventKind::ChangeNoticeSeen,
        EventKind::StepStarted,
        EventKind::StepConfirmed,
        EventKind::DecisionAnswered,
        EventKind::ValueRecorded,
        EventKind::EvidenceRecorded,
        EventKind::CommandStarted,
        EventKind::CommandRan,
        EventKind::CommandInterrupted,
        EventKind::CommandRehearsed,
        EventKind::NoteAdded,
        EventKind::SignedOff,
        EventKind::SignOffRefused,
        EventKind::Corrected,
        EventKind::StepSkipped,
        EventKind::StepFailed,
        EventKind::BranchEnded,
        EventKind::Suspended,
        EventKind::Resumed,
        EventKind::Recovered,
        EventKind::HandedOver,
        EventKind::RunEnded,
    ];

    /// Every kind a log event (one that belongs to no run) has.
    pub const LOG: [EventKind; 8] = [
        EventKind::LogCreated,
        EventKind::SchemaMigrated,
        EventKind::Export,
        EventKind::LogKey,
        EventKind::CustodianAdded,
        EventKind::Redaction,
        EventKind::ProcedureApproved,
        EventKind::ProcedureReviewed,
    ];

    /// The kind as the log stores it.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::RunStarted => "run-started",
            EventKind::WarningsAcknowledged => "warnings-acknowledged",
            EventKind::ChangeNoticeSeen => "change-notice-seen",
            EventKind::StepStarted => "step-started",
            EventKind::StepConfirmed => "step-confirmed",
            EventKind::DecisionAnswered => "decision-answered",
            EventKind::ValueRecorded => "value-recorded",
            EventKind::EvidenceRecorded => "evidence-recorded",
            EventKind::CommandStarted => "command-started",
            EventKind::CommandRan => "command-ran",
            EventKind::CommandInterrupted => "command-interrupted",
            EventKind::CommandRehearsed => "command-rehearsed",
            EventKind::NoteAdded => "note-added",
            EventKind::SignedOff => "signed-off",
            EventKind::SignOffRefused => "sign-off-refused",
            EventKind::Corrected => "corrected",
            EventKind::StepSkipped => "step-skipped",
            EventKind::StepFailed => "step-failed",
            EventKind::BranchEnded => "branch-ended",
            EventKind::Suspended => "suspended",
            EventKind::Resumed => "resumed",
            EventKind::Recovered => "recovered",
            EventKind::HandedOver => "handed-over",
            EventKind::RunEnded => "run-ended",
            EventKind::LogCreated => "log-created",
            EventKind::SchemaMigrated => "schema-migrated",
            EventKind::Export => "export",
            EventKind::LogKey => "log-key",
            EventKind::CustodianAdded => "custodian-added",
            EventKind::Redaction => "redaction",
            EventKind::ProcedureApproved => "procedure-approved",
            EventKind::ProcedureReviewed => "procedure-reviewed",
        }
    }

    /// The kind stored as `kind`, if it is one runsheet writes. Verify calls
    /// this for every record it walks: a match, not a search (a test checks
    /// it against [`EventKind::as_str`]).
    pub fn from_bytes(kind: &[u8]) -> Option<EventKind> {
        Some(match kind {
            b"run-started" => EventKind::RunStarted,
            b"warnings-acknowledged" => EventKind::WarningsAcknowledged,
            b"change-notice-seen" => EventKind::ChangeNoticeSeen,
            b"step-started" => EventKind::StepStarted,
            b"step-confirmed" => EventKind::StepConfirmed,
            b"decision-answered" => EventKind::DecisionAnswered,
            b"value-recorded" => EventKind::ValueRecorded,
            b"evidence-recorded" => EventKind::EvidenceRecorded,
            b"command-started" => EventKind::CommandStarted,
            b"command-ran" => EventKind::CommandRan,
            b"command-interrupted" => EventKind::CommandInterrupted,
            b"command-rehearsed" => EventKind::CommandRehearsed,
            b"note-added" => EventKind::NoteAdded,
            b"signed-off" => EventKind::SignedOff,
            b"sign-off-refused" => EventKind::SignOffRefused,
            b"corrected" => EventKind::Corrected,
            b"step-skipped" => EventKind::StepSkipped,
            b"step-failed" => EventKind::StepFailed,
            b"branch-ended" => EventKind::BranchEnded,
            b"suspended" => EventKind::Suspended,
            b"resumed" => EventKind::Resumed,
            b"recovered" => EventKind::Recovered,
            b"handed-over" => EventKind::HandedOver,
            b"run-ended" => EventKind::RunEnded,
            b"log-created" => EventKind::LogCreated,
            b"schema-migrated" => EventKind::SchemaMigrated,
            b"export" => EventKind::Export,
            b"log-key" => EventKind::LogKey,
            b"custodian-added" => EventKind::CustodianAdded,
            b"redaction" => EventKind::Redaction,
            b"procedure-approved" => EventKind::ProcedureApproved,
            b"procedure-reviewed" => EventKind::ProcedureReviewed,
            _ => return None,
        })
    }

    /// The kind named `kind`, if it is one runsheet writes.
    pub fn parse(kind: &str) -> Option<EventKind> {
        EventKind::from_bytes(kind.as_bytes())
    }

    /// True for a run's event, false for a log event. (Verify asks this
    /// of every record: a match, not a search.)
    pub fn in_run(self) -> bool {
        !matches!(
            self,
            EventKind::LogCreated
                | EventKind::SchemaMigrated
                | EventKind::Export
                | EventKind::LogKey
                | EventKind::CustodianAdded
                | EventKind::Redaction
                | EventKind::ProcedureApproved
                | EventKind::ProcedureReviewed
        )
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What filters and reports call a run that has no outcome yet.
pub const OPEN: &str = "open";

/// Final outcome of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Completed,
    Escalated,
    Failed,
    Aborted,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Completed,
        Outcome::Escalated,
        Outcome::Failed,
        Outcome::Aborted,
    ];

    /// The outcome as the log stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Escalated => "escalated",
            Outcome::Failed => "failed",
            Outcome::Aborted => "aborted",
        }
    }

    /// The outcome named `text`, if it is one.
    pub fn parse(text: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// Runs per outcome (`open`: no outcome yet, or one runsheet does not write).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct OutcomeCounts {
    pub runs: u64,
    pub completed: u64,
    pub escalated: u64,
    pub failed: u64,
    pub aborted: u64,
    pub open: u64,
}

impl OutcomeCounts {
    /// Count one run with this stored outcome.
    pub fn count(&mut self, outcome: Option<&str>) {
        self.runs += 1;
        match outcome.and_then(Outcome::parse) {
            Some(Outcome::Completed) => self.completed += 1,
            Some(Outcome::Escalated) => self.escalated += 1,
            Some(Outcome::Failed) => self.failed += 1,
            Some(Outcome::Aborted) => self.aborted += 1,
            None => self.open += 1,
        }
    }
}

/// What in a run departs from its procedure's happy path, counted per run
/// (the `runs` table, the reports; a partial index of the log lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Deviation {
    /// A step skipped with a justification.
    Skipped,
    /// A step that failed.
    Failed,
    /// Going ahead past the procedure's document-control warnings.
    WarningsAcknowledged,
}

impl Deviation {
    pub const ALL: [Deviation; 3] = [
        Deviation::Skipped,
        Deviation::Failed,
        Deviation::WarningsAcknowledged,
    ];

    /// The event kind that records it.
    pub const fn kind(self) -> EventKind {
        match self {
            Deviation::Skipped => EventKind::StepSkipped,
            Deviation::Failed => EventKind::StepFailed,
            Deviation::WarningsAcknowledged => EventKind::WarningsAcknowledged,
        }
    }

    /// The deviation an event of `kind` records, if any.
    pub fn of_kind(kind: &str) -> Option<Deviation> {
        Deviation::ALL
            .into_iter()
            .find(|d| d.kind().as_str() == kind)
    }
}

/// How many of each deviation a run has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviationCounts {
    pub skipped: u64,
    pub failed: u64,
    pub warnings_acknowledged: u64,
}

impl DeviationCounts {
    /// Count an event of `kind` (events that are no deviation count nothing).
    pub fn count(&mut self, kind: &str) {
        match Deviation::of_kind(kind) {
            Some(Deviation::Skipped) => self.skipped += 1,
            Some(Deviation::Failed) => self.failed += 1,
            Some(Deviation::WarningsAcknowledged) => self.warnings_acknowledged += 1,
            None => {}
        }
    }
}

/// Who is at the keyboard, and where: the identity every run and its events
/// record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The OS user.
    pub user: String,
    /// A display name, if given.
    pub name: Option<String>,
    pub host: String,
}

impl Operator {
    /// An operator; a blank display name counts as none.
    pub fn new(user: &str, name: Option<&str>, host: &str) -> Operator {
        Operator {
            user: user.to_string(),
            name: name
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
            host: host.to_string(),
        }
    }

    /// How events name the operator: `Name (user)`, or the user.
    pub fn actor(&self) -> String {
        actor(&self.user, self.name.as_deref())
    }
}

/// One session's hold on a run, as the log records it when the session
/// takes the run up (`run-started`, `resumed`, `recovered`): who, on which
/// host, in which process. The event's time says since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionMark {
    /// The operator's OS user.
    pub operator: String,
    /// The operator's display name, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_name: Option<String>,
    pub host: String,
    /// The process id of the runsheet that drove the run (absent when the
    /// log does not say: a run started before sessions were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

impl SessionMark {
    /// The session of this process for `who`.
    pub fn this_process(who: &Operator) -> SessionMark {
        SessionMark {
            operator: who.user.clone(),
            operator_name: who.name.clone(),
            host: who.host.clone(),
            pid: Some(std::process::id()),
        }
    }
}

impl std::fmt::Display for SessionMark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on host {}",
            actor(&self.operator, self.operator_name.as_deref()),
            self.host
        )?;
        match self.pid {
            Some(pid) => write!(f, " (process {pid})"),
            None => Ok(()),
        }
    }
}

/// A time as the log writes it: RFC 3339 in UTC, to the millisecond.
pub fn time_text(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// How events name an operator: `Name (user)`, or the user.
pub fn actor(user: &str, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("{n} ({user})"),
        None => user.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_one_string_form_and_the_match_agrees_with_it() {
        let all: Vec<EventKind> = EventKind::RUN.into_iter().chain(EventKind::LOG).collect();
        let mut names = std::collections::HashSet::new();
        for k in &all {
            assert!(names.insert(k.as_str()), "{k} twice");
            assert_eq!(EventKind::from_bytes(k.as_str().as_bytes()), Some(*k));
            assert_eq!(k.in_run(), EventKind::RUN.contains(k));
        }
        assert_eq!(all.len(), 32);
        for k in ["redactions", "", "run-started ", "Run-started"] {
            assert_eq!(EventKind::parse(k), None, "{k:?}");
        }
        let mut runs = OutcomeCounts::default();
        for o in Outcome::ALL {
            runs.count(Some(o.as_str()));
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
            assert_eq!(
                serde_json::to_value(o).expect("json"),
                serde_json::json!(o.as_str())
            );
        }
        runs.count(None);
        runs.count(Some("lost"));
        assert_eq!(
            runs,
            OutcomeCounts {
                runs: 6,
                completed: 1,
                escalated: 1,
                failed: 1,
                aborted: 1,
                open: 2
            }
        );
        let mut counts = DeviationCounts::default();
        for d in Deviation::ALL {
            assert_eq!(Deviation::of_kind(d.kind().as_str()), Some(d));
            counts.count(d.kind().as_str());
        }
        counts.count("note-added");
        assert_eq!(
            counts,
            DeviationCounts {
                skipped: 1,
                failed: 1,
                warnings_acknowledged: 1
            }
        );
    }

    #[test]
    fn an_operator_is_named_with_the_display_name_first() {
        assert_eq!(Operator::new("alice", Some(" "), "h").actor(), "alice");
        assert_eq!(
            Operator::new("alice", Some("Alice A"), "h").actor(),
            "Alice A (alice)"
        );
    }
}
