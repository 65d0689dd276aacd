//! Commands (what the operator asks for) and events (what happened, as stored).
//!
//! May not depend on IO, the clock, the store or the front ends.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::procedure::BranchEnd;
use crate::vocab::{EventKind, SessionMark};

/// Who and when, supplied with every command (the engine has no clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub at: DateTime<Utc>,
    /// The operator's identity as recorded (OS user, optionally with display name).
    pub actor: String,
}

/// Final outcome of a run (the run's vocabulary: [`crate::vocab`]).
pub use crate::vocab::Outcome;

/// Output of a command run from the runner, already capped by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CommandResult {
    /// The exact command line that ran.
    pub command: String,
    /// Exit code; `None` when killed by a signal or stopped by the operator.
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    /// Combined stdout and stderr as text (lossy UTF-8), at most the cap.
    pub output: String,
    /// SHA-256 (hex) of the full output bytes, before capping.
    pub output_sha256: String,
    /// Size in bytes of the full output.
    pub output_bytes: u64,
    /// True when `output` holds only the first part of the output.
    pub truncated: bool,
}

/// How a sign-off was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SignOffMethod {
    /// A name typed at the operator's keyboard: unauthenticated.
    Typed,
    /// An SSH signature checked against the allowed-signers file.
    Ssh,
    /// The second person's own login on the log's host (`runsheet
    /// sign-off` run by another OS user than the operator's).
    Login,
}

/// A sign-off given from the second person's own login (docs/signoff.md):
/// the OS user the command ran for, as the OS names it (`via` says how
/// runsheet learnt it: absent for the process's own user, `sudo` for the
/// user sudo ran it for), on which host, and the allowed-signers file that
/// gave that user the role (absent: there was no such file, so the role was
/// not checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LoginSignOff {
    pub user: String,
    pub uid: u32,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_from: Option<String>,
}

impl LoginSignOff {
    /// In words: which OS user on which host, how runsheet knew it, and
    /// whether the role was checked.
    pub fn words(&self) -> String {
        format!(
            "their own login: OS user {} (uid {}{}) on {}; {}",
            self.user,
            self.uid,
            self.via
                .as_deref()
                .map(|v| format!(", via {v}"))
                .unwrap_or_default(),
            self.host,
            match &self.role_from {
                Some(f) => format!("role checked in {f}"),
                None => "role not checked: there is no allowed-signers file".into(),
            }
        )
    }
}

/// An SSH-signed sign-off, as checked (docs/signoff.md): who signed
/// (the principal the allowed-signers file gives the key), with which key,
/// in which namespace, over which message, and the signature itself, so
/// anyone can check it again with `ssh-keygen -Y verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SshSignOff {
    pub principal: String,
    /// The key's fingerprint as ssh-keygen prints it (`SHA256:…`).
    pub key: String,
    pub namespace: String,
    pub message: String,
    /// The armored signature (`-----BEGIN SSH SIGNATURE-----` …).
    pub signature: String,
}

/// What the runner tells an operator before the first step when the
/// procedure changed since they last ran it (or drilled it): the version
/// they knew, the version now, and what changed, step by step
/// (docs/history-and-diff.md, "The change notice").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChangeNotice {
    /// The run of this operator the notice compares with (its id).
    pub since_run: String,
    /// When that run started, as shown (`2026-12-03 12:54 UTC`).
    pub since_started: String,
    /// Whether that run was a drill.
    #[serde(default)]
    pub since_drill: bool,
    pub from_version: String,
    pub from_sha256: String,
    /// The one-line summary (e.g. `2 steps changed, 1 added`).
    pub summary: String,
    /// What changed, a line each (steps added, removed, moved, changed).
    pub changes: Vec<String>,
}

impl ChangeNotice {
    /// The command that shows the whole comparison, from the version the
    /// operator knew to the one being run (`to_sha256`).
    pub fn diff_command(&self, procedure_id: &str, to_sha256: &str) -> String {
        let short = |s: &str| s.get(..12).unwrap_or(s).to_string();
        format!(
            "runsheet diff {procedure_id} {} {}",
            short(&self.from_sha256),
            short(to_sha256)
        )
    }

    /// The notice's first line: `v1.2 → v1.3, 2 steps changed (since your
    /// run of 2026-12-01 09:14 UTC)`, for a run of version `to_version`.
    pub fn headline(&self, to_version: &str) -> String {
        let from = if self.from_version == to_version {
            format!(
                "v{} (sha256 {}…) → v{to_version} (this content)",
                self.from_version,
                self.from_sha256.get(..12).unwrap_or(&self.from_sha256)
            )
        } else {
            format!("v{} → v{to_version}", self.from_version)
        };
        format!(
            "{from}, {} (since your {} of {})",
            self.summary,
            if self.since_drill { "drill" } else { "run" },
            self.since_started
        )
    }
}

/// What the operator asks the engine to do. Commands about a step name it, so a
/// stale screen can never act on a step that is no longer current.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Go ahead past what comes before the first step: having read the
    /// change notice, then although the procedure's review is overdue or it
    /// lacks an approval (one at a time, the notice first).
    AcknowledgeWarnings,
    /// Mark the current step done (requirements must be met).
    Confirm { step: String },
    /// Answer the current decision step.
    Answer { step: String, yes: bool },
    /// Record the current step's value (validated).
    RecordValue { step: String, value: String },
    /// Record the evidence the current step asks for (e.g. a ticket id).
    RecordEvidence { step: String, evidence: String },
    /// The current step's command is about to start: made durable before
    /// the process is, so a crash while it runs is known.
    StartCommand { step: String, command: String },
    /// Record the result of running the current step's command.
    RecordCommand { step: String, result: CommandResult },
    /// Say what became of a command whose session ended while it ran (its
    /// result was never recorded); `started_at` is when it was started.
    AccountForCommand {
        step: String,
        started_at: String,
        account: String,
    },
    /// In a drill, say what you would have done instead of running the
    /// current step's command (one not safe to rehearse).
    RehearseCommand { step: String, rehearsal: String },
    /// Add a note to the current step.
    AddNote { step: String, text: String },
    /// A second person signs the current step off by a typed name (only
    /// where the step allows it: it proves nobody).
    SignOff { step: String, by: String },
    /// A second person signs the current step off with their SSH key: the
    /// signature was checked against the allowed signers before this.
    SignOffSigned { step: String, ssh: SshSignOff },
    /// A second person signs the current step off from their own login
    /// (another OS user than the run's operators; their role was checked
    /// before this where an allowed-signers file maps people to roles).
    SignOffLogin { step: String, login: LoginSignOff },
    /// Correct what a finished step recorded: its value (`value`), its
    /// answer (`answer`) or its confirmation (neither), saying why.
    Correct {
        step: String,
        value: Option<String>,
        answer: Option<bool>,
        reason: String,
    },
    /// Record a sign-off that was refused (the operator named themself).
    RefuseSignOff {
        step: String,
        by: String,
        reason: String,
    },
    /// The current step failed; enter its escalation branch.
    Fail { step: String, reason: String },
    /// Skip the current step (refused for critical steps).
    Skip { step: String, justification: String },
    /// Stop for now; the run stays open and resumable.
    Suspend,
    /// Continue a suspended run.
    Resume,
    /// A new session takes the run up: a suspended run is resumed, an open
    /// one whose session ended without suspending it is recovered (its last
    /// event was at `previous_last_event_at`); `handover` is the reason when
    /// this session's operator is not the previous session's.
    TakeUp {
        previous_last_event_at: String,
        handover: Option<String>,
    },
    /// End the run as aborted.
    Abort { reason: String },
}

impl Command {
    /// The operator action this command carries out.
    pub fn action(&self) -> super::Action {
        use super::Action;
        match self {
            Command::AcknowledgeWarnings => Action::GoAhead,
            Command::Confirm { .. } => Action::Confirm,
            Command::Answer { yes: true, .. } => Action::Yes,
            Command::Answer { yes: false, .. } => Action::No,
            Command::RecordValue { .. } => Action::Value,
            Command::RecordEvidence { .. } => Action::Evidence,
            Command::StartCommand { .. }
            | Command::RecordCommand { .. }
            | Command::RehearseCommand { .. } => Action::RunCommand,
            Command::AccountForCommand { .. } => Action::AccountForCommand,
            Command::AddNote { .. } => Action::Note,
            Command::SignOff { .. }
            | Command::SignOffSigned { .. }
            | Command::SignOffLogin { .. }
            | Command::RefuseSignOff { .. } => Action::SignOff,
            Command::Fail { .. } => Action::Fail,
            Command::Skip { .. } => Action::Skip,
            Command::Suspend => Action::Suspend,
            Command::Resume => Action::Resume,
            Command::Correct { .. } => Action::Correct,
            Command::TakeUp { .. } => Action::TakeUp,
            Command::Abort { .. } => Action::Abort,
        }
    }
}

/// What happened. Stored in the evidence log as `kind` + JSON payload; the state
/// of a run is a fold of its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Event {
    /// First event of every run.
    RunStarted {
        procedure_id: String,
        procedure_version: String,
        procedure_sha256: String,
        /// The procedure's title and linked controls, the source's format
        /// (`toml`/`json`) and where it was loaded from: with these the chain
        /// covers every column of the run's row. Absent in runs recorded
        /// before schema 3.
        #[serde(default)]
        procedure_title: String,
        #[serde(default)]
        procedure_controls: Vec<String>,
        #[serde(default)]
        procedure_format: String,
        #[serde(default)]
        source_path: String,
        /// The operator's OS user name.
        operator: String,
        /// The operator's display name, if given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator_name: Option<String>,
        host: String,
        /// The process id of the session that started the run (absent in
        /// runs recorded before sessions were recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
        runsheet_version: String,
        /// Warnings (review overdue, no approval) the operator must acknowledge first.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<String>,
        /// What changed since the operator last ran this procedure, shown
        /// before the first step (absent when nothing changed, or for a
        /// first run).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        change_notice: Option<Box<ChangeNotice>>,
        /// The system clock's synchronisation state as the kernel reported it
        /// when the run started (clock provenance, docs/evidence-schema.md).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clock: Option<Box<crate::clock::ClockState>>,
        /// A practice run (`runsheet run --drill`, docs/training.md): never
        /// counted in status or in an export's population of production
        /// runs. Absent (false) in every other run, so their records are
        /// as they were before drills.
        #[serde(default, skip_serializing_if = "is_false")]
        drill: bool,
    },
    /// The operator chose to go ahead despite the warnings.
    WarningsAcknowledged {
        warnings: Vec<String>,
    },
    /// The operator was shown the run's change notice and went on.
    ChangeNoticeSeen {
        from_version: String,
        from_sha256: String,
        summary: String,
    },
    /// A step became current.
    StepStarted {
        step: String,
    },
    StepConfirmed {
        step: String,
    },
    DecisionAnswered {
        step: String,
        answer: bool,
    },
    ValueRecorded {
        step: String,
        value: String,
    },
    EvidenceRecorded {
        step: String,
        evidence: String,
    },
    /// The step's command is about to start (durable before the process).
    CommandStarted {
        step: String,
        command: String,
    },
    CommandRan {
        step: String,
        #[serde(flatten)]
        result: CommandResult,
    },
    /// What the operator says became of a command that was started (at
    /// `started_at`, the time of its `command-started`) and whose result was
    /// never recorded because its session ended.
    CommandInterrupted {
        step: String,
        command: String,
        started_at: String,
        account: String,
    },
    /// In a drill, the step's command was not run (the procedure does not
    /// mark it `safe_to_rehearse`): `rehearsal` is what the operator says
    /// they would have done.
    CommandRehearsed {
        step: String,
        command: String,
        rehearsal: String,
    },
    NoteAdded {
        step: String,
        text: String,
    },
    /// A second person signed the step off: `by` is the name typed
    /// (`method` typed, or absent in events recorded before methods were)
    /// or the signer's principal in the allowed-signers file (`method` ssh,
    /// with the signature in `ssh`; the event's actor is then the signer),
    /// or the second person's OS user (`method` login, with `login`; the
    /// actor is that user).
    SignedOff {
        step: String,
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        method: Option<SignOffMethod>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ssh: Option<SshSignOff>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        login: Option<LoginSignOff>,
    },
    /// What a finished step recorded is corrected: `corrects` is the kind of
    /// the event corrected and `run_seq` its number in the run (that event
    /// stays as it was); `value` or `answer` is the right one (neither: the
    /// confirmation itself was wrong). The run's path is not changed.
    Corrected {
        step: String,
        corrects: String,
        run_seq: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<bool>,
        reason: String,
    },
    /// A sign-off was refused and nothing signed: the operator named
    /// themself (or their key signed).
    SignOffRefused {
        step: String,
        by: String,
        reason: String,
    },
    StepSkipped {
        step: String,
        justification: String,
    },
    /// A step failed; `branch` is the escalation branch entered, if any.
    StepFailed {
        step: String,
        reason: String,
        branch: Option<String>,
        /// Whom the branch says to contact, as the procedure had it when the
        /// step failed (absent without a branch or a contact, and in events
        /// recorded before it was kept).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contact: Option<String>,
    },
    /// An escalation branch ended, sending the run to `then`.
    BranchEnded {
        branch: String,
        failed_step: String,
        then: BranchEnd,
    },
    Suspended,
    Resumed {
        /// The clock's state when this session took the run up again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clock: Option<crate::clock::ClockState>,
        /// The session that took it up (absent in events recorded before
        /// sessions were recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<SessionMark>,
    },
    /// A session took up a run whose previous session ended without
    /// suspending it: `previous` is that session as the log knew it (absent
    /// when the log does not say), `previous_last_event_at` the time of the
    /// run's last event before this one.
    Recovered {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<SessionMark>,
        previous_last_event_at: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clock: Option<crate::clock::ClockState>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<SessionMark>,
    },
    /// Another operator took the run over from `from` (how events named
    /// the previous session's operator), saying why.
    HandedOver {
        from: String,
        reason: String,
    },
    RunEnded {
        outcome: Outcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Event {
    /// The `kind` as stored (kebab-case).
    pub fn kind(&self) -> &'static str {
        self.event_kind().as_str()
    }

    /// The event's kind in the run's vocabulary.
    pub fn event_kind(&self) -> EventKind {
        match self {
            Event::RunStarted { .. } => EventKind::RunStarted,
            Event::WarningsAcknowledged { .. } => EventKind::WarningsAcknowledged,
            Event::ChangeNoticeSeen { .. } => EventKind::ChangeNoticeSeen,
            Event::StepStarted { .. } => EventKind::StepStarted,
            Event::StepConfirmed { .. } => EventKind::StepConfirmed,
            Event::DecisionAnswered { .. } => EventKind::DecisionAnswered,
            Event::ValueRecorded { .. } => EventKind::ValueRecorded,
            Event::EvidenceRecorded { .. } => EventKind::EvidenceRecorded,
            Event::CommandStarted { .. } => EventKind::CommandStarted,
            Event::CommandRan { .. } => EventKind::CommandRan,
            Event::CommandInterrupted { .. } => EventKind::CommandInterrupted,
            Event::CommandRehearsed { .. } => EventKind::CommandRehearsed,
            Event::NoteAdded { .. } => EventKind::NoteAdded,
            Event::SignedOff { .. } => EventKind::SignedOff,
            Event::SignOffRefused { .. } => EventKind::SignOffRefused,
            Event::Corrected { .. } => EventKind::Corrected,
            Event::StepSkipped { .. } => EventKind::StepSkipped,
            Event::StepFailed { .. } => EventKind::StepFailed,
            Event::BranchEnded { .. } => EventKind::BranchEnded,
            Event::Suspended => EventKind::Suspended,
            Event::Resumed { .. } => EventKind::Resumed,
            Event::Recovered { .. } => EventKind::Recovered,
            Event::HandedOver { .. } => EventKind::HandedOver,
            Event::RunEnded { .. } => EventKind::RunEnded,
        }
    }

    /// The step the event is about, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            Event::StepStarted { step }
            | Event::StepConfirmed { step }
            | Event::DecisionAnswered { step, .. }
            | Event::ValueRecorded { step, .. }
            | Event::EvidenceRecorded { step, .. }
            | Event::CommandStarted { step, .. }
            | Event::CommandRan { step, .. }
            | Event::CommandInterrupted { step, .. }
            | Event::CommandRehearsed { step, .. }
            | Event::NoteAdded { step, .. }
            | Event::SignedOff { step, .. }
            | Event::SignOffRefused { step, .. }
            | Event::Corrected { step, .. }
            | Event::StepSkipped { step, .. }
            | Event::StepFailed { step, .. } => Some(step),
            Event::BranchEnded { failed_step, .. } => Some(failed_step),
            Event::RunStarted { .. }
            | Event::WarningsAcknowledged { .. }
            | Event::ChangeNoticeSeen { .. }
            | Event::Suspended
            | Event::Resumed { .. }
            | Event::Recovered { .. }
            | Event::HandedOver { .. }
            | Event::RunEnded { .. } => None,
        }
    }

    /// The event as the JSON payload stored in the log (includes `kind`).
    pub fn to_payload(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Read an event back from its stored payload.
    pub fn from_payload(payload: &serde_json::Value) -> Result<Event, serde_json::Error> {
        serde_json::from_value(payload.clone())
    }
}
