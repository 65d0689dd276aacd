//! What each stored event means, in words, for timelines: step titles,
//! questions, values, exit codes, failures, branches and sign-offs from the
//! procedure the run used, command output trimmed for reading, and the tone an
//! entry stands out in. `show` and the bundle's reports (HTML, Markdown, the
//! `what` column of events.csv) all describe events through here.
//!
//! May not depend on the bundle side (`export`), the front ends, the session
//! or the app. The text it returns is raw: each writer escapes it for its own
//! format.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::Value;

use crate::engine::Event;
use crate::procedure::{BranchEnd, Procedure, StepKind, StepPlace};
use crate::store::{EventRef, RunRow, StoredEvent, time_text};
use crate::vocab::EventKind;

/// Lines of command output kept in timelines (the evidence keeps it all).
pub const OUTPUT_LINES: usize = 12;
/// Characters of command output kept in timelines.
pub const OUTPUT_CHARS: usize = 1500;

/// How an entry should stand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Warn,
    Bad,
}

/// The step an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepRef<'a> {
    pub id: &'a str,
    /// From the procedure the run used; `None` when it is not known.
    pub title: Option<&'a str>,
    /// Title of the escalation branch the step belongs to.
    pub branch: Option<&'a str>,
}

impl StepRef<'_> {
    /// `Title (id)`, or the id alone.
    pub fn label(&self) -> String {
        match self.title {
            Some(t) => format!("{t} ({})", self.id),
            None => self.id.to_string(),
        }
    }
}

/// A command's output, trimmed for reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The first [`OUTPUT_LINES`] lines, at most [`OUTPUT_CHARS`] characters.
    pub text: String,
    /// True when `text` is shorter than what the evidence holds.
    pub trimmed: bool,
    /// Size of the command's whole output, and its SHA-256.
    pub bytes: u64,
    pub sha256: String,
}

/// One event, described. Borrows the event's text and the procedure's titles.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    /// The event's number in the log (its place in the hash chain, events.csv's `seq`).
    pub seq: i64,
    /// As stored: RFC 3339, UTC, milliseconds, `Z` (see [`is_stored_time`]).
    pub at: Cow<'a, str>,
    pub actor: &'a str,
    pub kind: &'a str,
    pub step: Option<StepRef<'a>>,
    /// What happened, in words (may span lines, e.g. a note).
    pub what: String,
    pub output: Option<Output>,
    pub tone: Tone,
    /// Whom to contact, on one line, for a failure whose escalation branch
    /// names a contact (`what` ends with `; contact: ` and it).
    pub contact: Option<String>,
}

impl Entry<'_> {
    /// The time to the second: `2026-11-28 02:14:00`.
    pub fn seconds(&self) -> Seconds<'_> {
        Seconds(&self.at)
    }

    /// `what` without its trailing `; contact: …`, for a writer that shows
    /// [`Entry::contact`] apart, next to the failure.
    pub fn what_before_contact(&self) -> &str {
        self.contact
            .as_deref()
            .and_then(|c| self.what.strip_suffix(c))
            .and_then(|t| t.strip_suffix("; contact: "))
            .unwrap_or(&self.what)
    }
}

/// True when `at` has the shape the log writes: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn is_stored_time(at: &str) -> bool {
    const SHAPE: &[u8; 24] = b"dddd-dd-ddTdd:dd:dd.dddZ";
    at.len() == SHAPE.len()
        && at.bytes().zip(SHAPE).all(|(b, &s)| match s {
            b'd' => b.is_ascii_digit(),
            s => b == s,
        })
}

/// A stored time shown to the second, UTC implied: `2026-11-28 02:14:00`.
#[derive(Debug, Clone, Copy)]
pub struct Seconds<'a>(pub &'a str);

impl<'a> Seconds<'a> {
    /// The day and the time of day, when the time has the stored shape.
    pub fn parts(&self) -> Option<(&'a str, &'a str)> {
        match (self.0.get(..10), self.0.get(11..19)) {
            (Some(day), Some(time)) if is_stored_time(self.0) => Some((day, time)),
            _ => None,
        }
    }
}

impl std::fmt::Display for Seconds<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.parts() {
            Some((day, time)) => write!(f, "{day} {time}"),
            None => f.write_str(self.0),
        }
    }
}

fn step_ref<'a>(p: Option<&'a Procedure>, id: &'a str) -> StepRef<'a> {
    let found = p.and_then(|p| p.step(id).map(|(s, place)| (p, s, place)));
    StepRef {
        id,
        title: found.map(|(_, s, _)| s.title.as_str()),
        branch: found.and_then(|(p, _, place)| match place {
            StepPlace::Branch(b, _) => p.branches.get(b).map(|b| b.title.as_str()),
            StepPlace::Main(_) => None,
        }),
    }
}

fn branch_title(p: Option<&Procedure>, id: &str) -> String {
    p.and_then(|p| p.branch(id))
        .map(|b| format!("“{}” ({id})", b.title))
        .unwrap_or_else(|| format!("“{id}”"))
}

/// Milliseconds in words: `20 ms`, `1.2 s`, `3 min 5 s`.
pub fn duration_text(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{}.{} s", ms / 1000, (ms % 1000) / 100)
    } else {
        span_text(ms / 1000)
    }
}

/// Seconds in words: `45 s`, `17 min 27 s`, `2 h 5 min`, `3 d 4 h`.
pub fn span_text(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        s => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Trim command output for a timeline.
pub fn trim_output(text: &str, bytes: u64, sha256: &str, truncated: bool) -> Output {
    let mut kept = String::new();
    let mut trimmed = truncated;
    for (i, line) in text.lines().enumerate() {
        if i >= OUTPUT_LINES || kept.chars().count() + line.chars().count() > OUTPUT_CHARS {
            trimmed = true;
            break;
        }
        if i > 0 {
            kept.push('\n');
        }
        kept.push_str(line);
    }
    if kept.is_empty() && !text.is_empty() {
        kept = text.chars().take(OUTPUT_CHARS).collect();
        trimmed = true;
    }
    Output {
        text: kept,
        trimmed,
        bytes,
        sha256: sha256.to_string(),
    }
}

/// A payload as the describer sees it. Short-lived, on the stack, once per
/// exported event: boxing the large variant would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub enum Payload {
    /// An event runsheet knows.
    Known(Event),
    /// Any other JSON (a newer kind, or a log event such as `export`).
    Other(Value),
}

impl Payload {
    /// Read an event's payload. The two commonest kinds (`step-started`,
    /// `step-confirmed`) carry nothing but their step, which the step column
    /// holds too: their payload is only checked to be JSON, not built.
    /// `None` when the payload is not JSON at all.
    pub fn read(kind: &str, step: Option<&str>, text: &str) -> Option<Payload> {
        let simple = match (EventKind::parse(kind), step) {
            (Some(EventKind::StepStarted), Some(step)) => {
                Some(Event::StepStarted { step: step.into() })
            }
            (Some(EventKind::StepConfirmed), Some(step)) => {
                Some(Event::StepConfirmed { step: step.into() })
            }
            _ => None,
        };
        match simple {
            Some(event) => serde_json::from_str::<serde::de::IgnoredAny>(text)
                .ok()
                .map(|_| Payload::Known(event)),
            None => Payload::parse(text),
        }
    }

    /// Read an event's payload with its content (or the mark of its
    /// redaction) put back; `None` when the payload is not JSON at all.
    pub fn read_ref(e: &EventRef<'_>) -> Option<Payload> {
        let Some(content) = e.content else {
            return Payload::read(e.kind, e.step, e.payload);
        };
        if let crate::store::ContentRef::Held { content, .. } = content
            && let Some(text) = crate::store::merged_payload_text(e.payload, content)
        {
            return Payload::parse(&text);
        }
        let stored: Value = serde_json::from_str(e.payload).ok()?;
        let merged = crate::store::merged_payload(e.kind, &stored, Some(&content.to_content()));
        Some(Payload::from_value(merged))
    }

    fn from_value(v: Value) -> Payload {
        match Event::deserialize(&v) {
            Ok(event) => Payload::Known(event),
            Err(_) => Payload::Other(v),
        }
    }

    /// Read a stored payload's text; `None` when it is not JSON at all.
    pub fn parse(text: &str) -> Option<Payload> {
        match serde_json::from_str::<Event>(text) {
            Ok(event) => Some(Payload::Known(event)),
            Err(_) => serde_json::from_str::<Value>(text).ok().map(Payload::Other),
        }
    }
}

/// Describe a stored event. `p` is the procedure the run used, for titles.
pub fn describe<'a>(e: &'a StoredEvent, p: Option<&'a Procedure>) -> Entry<'a> {
    let payload = Payload::from_value(e.event_payload().into_owned());
    describe_parts(
        e.seq,
        Cow::Owned(time_text(e.at)),
        &e.actor,
        &e.kind,
        e.step.as_deref(),
        payload,
        p,
    )
}

/// Describe an event read straight from the log, its payload already parsed.
pub fn describe_ref<'a>(e: &EventRef<'a>, payload: Payload, p: Option<&'a Procedure>) -> Entry<'a> {
    describe_parts(
        e.seq,
        Cow::Borrowed(e.at),
        e.actor,
        e.kind,
        e.step,
        payload,
        p,
    )
}

fn describe_parts<'a>(
    seq: i64,
    at: Cow<'a, str>,
    actor: &'a str,
    kind: &'a str,
    step: Option<&'a str>,
    payload: Payload,
    p: Option<&'a Procedure>,
) -> Entry<'a> {
    let mut entry = Entry {
        seq,
        at,
        actor,
        kind,
        step: step.map(|s| step_ref(p, s)),
        what: String::new(),
        output: None,
        tone: Tone::Plain,
        contact: None,
    };
    let event = match payload {
        Payload::Other(v) => {
            entry.what = generic(kind, &v);
            return entry;
        }
        Payload::Known(event) => event,
    };
    let step_of = |id: &str| p.and_then(|p| p.step(id)).map(|(s, _)| s);
    let (what, tone) = match &event {
        Event::RunStarted {
            procedure_id,
            procedure_version,
            host,
            runsheet_version,
            warnings,
            clock,
            change_notice,
            drill,
            ..
        } => {
            let mut w = format!(
                "{}: {procedure_id} v{procedure_version} on {host} (runsheet {runsheet_version})",
                if *drill {
                    "DRILL started (a practice run, not a production run)"
                } else {
                    "Run started"
                }
            );
            if let Some(c) = clock {
                let _ = write!(w, "\nClock: {}", c.describe());
            }
            if let Some(n) = change_notice {
                let _ = write!(
                    w,
                    "\nChange notice: changed since the operator's {} {} of {} (v{} → v{procedure_version}): {}",
                    if n.since_drill { "drill" } else { "run" },
                    n.since_run,
                    n.since_started,
                    n.from_version,
                    n.summary
                );
                for c in &n.changes {
                    let _ = write!(w, "\n  {c}");
                }
            }
            for warning in warnings {
                let _ = write!(w, "\nWarning: {warning}");
            }
            let tone = if warnings.is_empty() {
                Tone::Plain
            } else {
                Tone::Warn
            };
            (w, tone)
        }
        Event::ChangeNoticeSeen {
            from_version,
            summary,
            ..
        } => (
            format!("Read the change notice (changed since v{from_version}: {summary})"),
            Tone::Plain,
        ),
        Event::WarningsAcknowledged { warnings } => {
            let mut w = "Went ahead despite document-control warnings".to_string();
            for warning in warnings {
                let _ = write!(w, "\nWarning: {warning}");
            }
            (w, Tone::Warn)
        }
        Event::StepStarted { step } => match step_ref(p, step).branch {
            Some(b) => (
                format!("Escalation step started (branch “{b}”)"),
                Tone::Warn,
            ),
            None => ("Step started".into(), Tone::Plain),
        },
        Event::StepConfirmed { .. } => ("Done".into(), Tone::Good),
        Event::DecisionAnswered { step, answer } => {
            let word = if *answer { "YES" } else { "NO" };
            match step_of(step).and_then(|s| s.decision.as_ref()) {
                Some(d) => (format!("Answered {word}: {}", d.question), Tone::Plain),
                None => (format!("Answered {word}"), Tone::Plain),
            }
        }
        Event::ValueRecorded { step, value } => {
            let spec = step_of(step).and_then(|s| match s.kind() {
                StepKind::Value(v) => Some(v),
                _ => None,
            });
            match spec {
                Some(v) => {
                    let unit = v
                        .unit
                        .as_deref()
                        .map(|u| format!(" {u}"))
                        .unwrap_or_default();
                    (format!("Recorded {}: {value}{unit}", v.label), Tone::Plain)
                }
                None => (format!("Recorded value: {value}"), Tone::Plain),
            }
        }
        Event::EvidenceRecorded { step, evidence } => {
            match step_of(step).and_then(|s| s.evidence.as_deref()) {
                Some(prompt) => (format!("Evidence — {prompt}: {evidence}"), Tone::Plain),
                None => (format!("Evidence: {evidence}"), Tone::Plain),
            }
        }
        Event::CommandRan { step, result } => {
            let expected = step_of(step)
                .and_then(|s| s.command.as_ref())
                .map(|c| c.expect_exit.unwrap_or(0));
            let (code, tone) = match result.exit_code {
                Some(c) if expected.is_none_or(|x| x == c) => (format!("exit {c}"), Tone::Plain),
                Some(c) => (
                    format!("exit {c} (expected {})", expected.unwrap_or(0)),
                    Tone::Bad,
                ),
                None => ("stopped, no exit code".into(), Tone::Bad),
            };
            entry.output = Some(trim_output(
                &result.output,
                result.output_bytes,
                &result.output_sha256,
                result.truncated,
            ));
            (
                format!(
                    "Ran `{}`: {code} after {}",
                    result.command,
                    duration_text(result.duration_ms)
                ),
                tone,
            )
        }
        Event::NoteAdded { text, .. } => (format!("Note: {text}"), Tone::Plain),
        Event::SignedOff {
            by,
            method,
            ssh,
            login,
            ..
        } => match (ssh, login) {
            (Some(s), _) => (
                format!(
                    "Signed off by {by} (second person, SSH signature by key {} in namespace {})",
                    s.key, s.namespace
                ),
                Tone::Good,
            ),
            (None, Some(l)) => (
                format!("Signed off by {by} (second person, {})", l.words()),
                if l.role_from.is_some() {
                    Tone::Good
                } else {
                    Tone::Warn
                },
            ),
            (None, None) => (
                format!(
                    "Signed off by {by}{} (second person; recorded by {actor})",
                    sign_off_how(*method)
                ),
                Tone::Warn,
            ),
        },
        Event::Corrected { .. } => (
            format!(
                "CORRECTION {}",
                correction_words(&event).unwrap_or_default()
            ),
            Tone::Warn,
        ),
        Event::SignOffRefused { by, reason, .. } => (
            format!("Sign-off by {by} REFUSED: {reason} (recorded by {actor})"),
            Tone::Bad,
        ),
        Event::StepSkipped { justification, .. } => (
            format!("SKIPPED — justification: {justification}"),
            Tone::Warn,
        ),
        Event::StepFailed {
            reason,
            branch,
            contact,
            ..
        } => {
            let mut next = match branch {
                Some(b) => format!("; escalation branch {} entered", branch_title(p, b)),
                None => String::new(),
            };
            // Events written before the contact was recorded with the failure
            // name only the branch: its contact comes from the procedure the run used.
            let contact = contact.as_deref().or_else(|| {
                branch
                    .as_deref()
                    .and_then(|b| p.and_then(|p| p.branch(b)))
                    .and_then(|b| b.contact.as_deref())
            });
            if let Some(c) = contact {
                let c = crate::text::one_line(c);
                let _ = write!(next, "; contact: {c}");
                entry.contact = Some(c);
            }
            (format!("FAILED — reason: {reason}{next}"), Tone::Bad)
        }
        Event::BranchEnded {
            branch,
            failed_step,
            then,
        } => {
            let failed = step_ref(p, failed_step).label();
            let how = match then {
                BranchEnd::Retry => format!("retry the failed step {failed}"),
                BranchEnd::Continue => format!("continue after the failed step {failed}"),
                BranchEnd::EndEscalated => "the run ends ESCALATED".into(),
                BranchEnd::EndFailed => "the run ends FAILED".into(),
            };
            (
                format!(
                    "Escalation branch {} finished → {how}",
                    branch_title(p, branch)
                ),
                Tone::Warn,
            )
        }
        Event::Suspended => ("Suspended (the run stays open)".into(), Tone::Plain),
        Event::Resumed { clock, session } => (
            format!(
                "Resumed{}{}",
                by_session(session.as_ref()),
                clock_words(clock.as_ref())
            ),
            Tone::Plain,
        ),
        Event::Recovered {
            previous,
            previous_last_event_at,
            clock,
            session,
        } => (
            format!(
                "Taken up{} after the previous session{} ended without suspending; its last event was at {previous_last_event_at}{}",
                by_session(session.as_ref()),
                previous
                    .as_ref()
                    .map(|s| format!(", {s},"))
                    .unwrap_or_default(),
                clock_words(clock.as_ref())
            ),
            Tone::Warn,
        ),
        Event::HandedOver { from, reason } => (
            format!("Handed over from {from} to {actor} — reason: {reason}"),
            Tone::Warn,
        ),
        Event::CommandStarted { command, .. } => (format!("Started `{command}`"), Tone::Plain),
        Event::CommandRehearsed {
            command, rehearsal, ..
        } => (
            format!(
                "Drill: `{command}` not run (not marked safe to rehearse); the operator would have: {rehearsal}"
            ),
            Tone::Plain,
        ),
        Event::CommandInterrupted {
            command,
            started_at,
            account,
            ..
        } => (
            format!(
                "Command `{command}` started at {started_at}: its result was never recorded (its session ended); the operator says: {account}"
            ),
            Tone::Warn,
        ),
        Event::RunEnded { outcome, reason } => {
            let tone = match outcome {
                crate::engine::Outcome::Completed => Tone::Good,
                crate::engine::Outcome::Escalated | crate::engine::Outcome::Aborted => Tone::Warn,
                crate::engine::Outcome::Failed => Tone::Bad,
            };
            let reason = reason
                .as_deref()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default();
            (
                format!(
                    "Run ended: {}{reason}",
                    outcome.as_str().to_ascii_uppercase()
                ),
                tone,
            )
        }
    };
    entry.what = what;
    entry.tone = tone;
    entry
}

/// A correction in words: which event of the run it corrects, the right
/// value or answer, and why (`None` for another event).
pub fn correction_words(event: &Event) -> Option<String> {
    let Event::Corrected {
        corrects,
        run_seq,
        value,
        answer,
        reason,
        ..
    } = event
    else {
        return None;
    };
    let right = match (value, answer) {
        (Some(v), _) => format!(": the right value is {v}"),
        (None, Some(a)) => format!(": the right answer is {}", if *a { "yes" } else { "no" }),
        (None, None) => ": it should not have been confirmed".into(),
    };
    Some(format!(
        "of event {run_seq} of the run ({corrects}){right} — reason: {reason} (the original stays)"
    ))
}

/// How a sign-off that is not SSH-signed was given, in words: a typed name
/// proves nobody, and says so.
pub fn sign_off_how(method: Option<crate::engine::SignOffMethod>) -> &'static str {
    match method {
        Some(crate::engine::SignOffMethod::Ssh) => " — SSH signature",
        Some(crate::engine::SignOffMethod::Login) => " — their own login",
        Some(crate::engine::SignOffMethod::Typed) | None => " — typed name, unauthenticated",
    }
}

/// " by <session>" when the event names the session that took the run up.
fn by_session(session: Option<&crate::vocab::SessionMark>) -> String {
    session.map(|s| format!(" by {s}")).unwrap_or_default()
}

/// "; clock <state>" when the event records the clock's state.
fn clock_words(clock: Option<&crate::clock::ClockState>) -> String {
    clock
        .map(|c| format!("; clock {}", c.describe()))
        .unwrap_or_default()
}

/// An event runsheet does not describe specially: its kind and payload fields.
fn generic(kind: &str, payload: &Value) -> String {
    let fields: Vec<String> = payload
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| k.as_str() != "kind")
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}: {s}"),
                    other => format!("{k}: {other}"),
                })
                .collect()
        })
        .unwrap_or_default();
    if fields.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} — {}", fields.join("; "))
    }
}

/// The operator as shown: `Display Name (user)` or `user`.
pub fn operator_text(r: &RunRow) -> String {
    let name = r.operator_name.as_deref().filter(|n| !n.trim().is_empty());
    crate::vocab::actor(&r.operator, name)
}

/// How long a run took, or `open` facts.
pub fn run_duration(r: &RunRow) -> Option<String> {
    r.ended_at.map(|end| {
        let secs = (end - r.started_at).num_seconds().max(0);
        span_text(u64::try_from(secs).unwrap_or(0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_trimmed_by_lines_and_characters() {
        let long: String = (0..40).map(|i| format!("line {i}\n")).collect();
        let o = trim_output(&long, 999, "ab", false);
        assert_eq!(o.text.lines().count(), OUTPUT_LINES);
        assert!(o.trimmed);
        let short = trim_output("a\nb\n", 4, "ab", false);
        assert_eq!(short.text, "a\nb");
        assert!(!short.trimmed);
        let one_huge = "x".repeat(OUTPUT_CHARS * 2);
        let o = trim_output(&one_huge, 3000, "ab", false);
        assert_eq!(o.text.chars().count(), OUTPUT_CHARS);
        assert!(o.trimmed);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_text(20), "20 ms");
        assert_eq!(duration_text(1234), "1.2 s");
        assert_eq!(duration_text(185_000), "3 min 5 s");
        assert_eq!(span_text(7500), "2 h 5 min");
        assert_eq!(span_text(3 * 86_400 + 4 * 3600), "3 d 4 h");
    }
}
