//! Every version of a procedure the evidence log knows: each SHA-256 of
//! source text that a run used or an approval (`procedure-approved`)
//! recorded, with its approvals, reviews and runs; and `runsheet history`'s
//! text and `--json` shape. A version's order is when the log first saw it
//! (its first run or approval); the procedures folder's file is marked, and
//! listed too when the log does not hold it yet. Read-only.
//!
//! May use the store and the procedure model; may not depend on the bundle
//! side (`export`), the front ends, the session, `cli` or `app`.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use super::shown_time;
use crate::store::log_payload::{Act, ActSigner};
use crate::store::{RunQuery, Store, StoreError, time_text};

/// One version as the log holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    pub sha256: String,
    pub version: String,
    pub title: String,
    /// When the log first saw it: its first run's start or first approval.
    pub first_seen: DateTime<Utc>,
    /// Runs that were not drills, and drills (run-started's `drill`).
    pub runs: u64,
    pub drills: u64,
    /// The first and last run (drills not counted).
    pub first_run: Option<DateTime<Utc>>,
    pub last_run: Option<DateTime<Utc>>,
    pub approvals: Vec<ApprovalJson>,
    pub reviews: Vec<ReviewJson>,
    /// The source text and format an approval carries (a run's is in the
    /// store's `procedure_sources`, see [`Store::procedure_source`]).
    pub approved_source: Option<(String, String)>,
}

impl Logged {
    fn new(sha256: String, version: String, title: String, first_seen: DateTime<Utc>) -> Logged {
        Logged {
            sha256,
            version,
            title,
            first_seen,
            runs: 0,
            drills: 0,
            first_run: None,
            last_run: None,
            approvals: Vec::new(),
            reviews: Vec::new(),
            approved_source: None,
        }
    }
}

/// Every version of `procedure_id` the log holds, oldest first (by when it
/// was first seen).
pub fn logged(store: &Store, procedure_id: &str) -> Result<Vec<Logged>, StoreError> {
    let mut out: Vec<Logged> = Vec::new();
    let mut runs = store.runs(&RunQuery {
        procedure: Some(procedure_id.to_string()),
        ..RunQuery::default()
    })?;
    // Oldest first.
    runs.reverse();
    for run in &runs {
        let drill = store
            .events(run.id)?
            .first()
            .filter(|e| e.kind == crate::store::KIND_RUN_STARTED)
            .and_then(|e| e.payload.get("drill").and_then(serde_json::Value::as_bool))
            .unwrap_or(false);
        let v = entry(
            &mut out,
            &run.procedure_sha256,
            &run.procedure_version,
            &run.procedure_title,
            run.started_at,
        );
        if drill {
            v.drills += 1;
        } else {
            v.runs += 1;
            // Oldest first: the first sets it, each sets the last.
            v.first_run.get_or_insert(run.started_at);
            v.last_run = Some(run.started_at);
        }
    }
    for act in store.procedure_acts(Some(procedure_id))? {
        match &act.act {
            Act::Approved(a) => {
                let v = entry(
                    &mut out,
                    &a.procedure_sha256,
                    &a.procedure_version,
                    &a.procedure_title,
                    act.at,
                );
                v.approved_source = Some((a.source.clone(), a.procedure_format.clone()));
                v.approvals.push(ApprovalJson {
                    seq: act.seq,
                    at: time_text(act.at),
                    approved_on: a.approved_on.clone(),
                    signer: SignerJson::of(&a.by),
                });
            }
            Act::Reviewed(r) => {
                // A review of a version the log holds no source of is kept
                // under its hash all the same.
                let v = entry(
                    &mut out,
                    &r.procedure_sha256,
                    &r.procedure_version,
                    "",
                    act.at,
                );
                v.reviews.push(ReviewJson {
                    seq: act.seq,
                    at: time_text(act.at),
                    reviewed_on: r.reviewed_on.clone(),
                    outcome: r.outcome.clone(),
                    note: r.note.clone(),
                    next_review: r.next_review.clone(),
                    signer: SignerJson::of(&r.by),
                });
            }
        }
    }
    out.sort_by_key(|v| v.first_seen);
    Ok(out)
}

/// The version with this hash, added if missing; seen at `at` (its
/// `first_seen` is the earliest).
fn entry<'a>(
    out: &'a mut Vec<Logged>,
    sha256: &str,
    version: &str,
    title: &str,
    at: DateTime<Utc>,
) -> &'a mut Logged {
    let i = match out.iter().position(|v| v.sha256 == sha256) {
        Some(i) => i,
        None => {
            out.push(Logged::new(sha256.into(), version.into(), title.into(), at));
            out.len() - 1
        }
    };
    let v = &mut out[i];
    v.first_seen = v.first_seen.min(at);
    if v.title.is_empty() {
        v.title = title.to_string();
    }
    v
}

/// The procedures folder's file of the procedure.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct CurrentJson {
    pub path: String,
    /// Its `version`; null when the file does not parse.
    pub version: Option<String>,
    pub sha256: String,
    /// The log holds this exact source (a run used it or an approval recorded it).
    pub in_log: bool,
    /// Why the file does not parse, if it does not.
    pub problem: Option<String>,
}

/// Who approved or reviewed, and how runsheet knew it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SignerJson {
    /// The OS user (method `login`) or SSH principal (method `ssh`).
    pub user: String,
    pub name: Option<String>,
    pub role: String,
    /// `login` or `ssh`.
    pub method: String,
    /// The allowed-signers file that granted the role; null: not checked.
    pub role_from: Option<String>,
}

impl SignerJson {
    fn of(s: &ActSigner) -> SignerJson {
        SignerJson {
            user: s.user.clone(),
            name: s.name.clone(),
            role: s.role.clone(),
            method: s.method.clone(),
            role_from: s.role_from.clone(),
        }
    }

    fn words(&self) -> String {
        let who = match &self.name {
            Some(n) if !n.is_empty() => format!("{} ({n})", self.user),
            _ => self.user.clone(),
        };
        format!("{who}, {} as {}", self.method, self.role)
    }
}

/// One recorded approval or review in words, as a bundle's report lists
/// them under "Document control".
#[derive(Debug, Clone, PartialEq)]
pub struct ActLine {
    pub seq: i64,
    pub procedure_id: String,
    pub version: String,
    pub sha256: String,
    /// `approved` or `reviewed`.
    pub what: &'static str,
    /// The act's date (`YYYY-MM-DD`, UTC).
    pub on: String,
    /// Who, how and as what (`root, ssh as approver`).
    pub by: String,
    /// A review's outcome, next due date and note; empty for an approval.
    pub detail: String,
}

impl ActLine {
    pub fn of(act: &crate::store::log_payload::ProcedureAct) -> ActLine {
        let by = SignerJson::of(act.act.by()).words();
        let (what, version, on, detail) = match &act.act {
            Act::Approved(a) => (
                "approved",
                a.procedure_version.clone(),
                a.approved_on.clone(),
                String::new(),
            ),
            Act::Reviewed(r) => (
                "reviewed",
                r.procedure_version.clone(),
                r.reviewed_on.clone(),
                format!("{}, next review {} — {}", r.outcome, r.next_review, r.note),
            ),
        };
        ActLine {
            seq: act.seq,
            procedure_id: act.act.procedure_id().to_string(),
            version,
            sha256: act.act.procedure_sha256().to_string(),
            what,
            on,
            by,
            detail,
        }
    }
}

/// A recorded approval.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ApprovalJson {
    /// The record's seq in the log.
    pub seq: i64,
    /// When it was recorded (RFC 3339 UTC).
    pub at: String,
    /// The approval's date (`YYYY-MM-DD`, UTC).
    pub approved_on: String,
    pub signer: SignerJson,
}

/// A recorded review.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ReviewJson {
    pub seq: i64,
    /// When it was recorded (RFC 3339 UTC).
    pub at: String,
    pub reviewed_on: String,
    /// `unchanged` or `changed`.
    pub outcome: String,
    pub note: String,
    /// The next review's due date (`YYYY-MM-DD`).
    pub next_review: String,
    pub signer: SignerJson,
}

/// One version in `runsheet history`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct VersionJson {
    pub version: String,
    pub sha256: String,
    pub title: String,
    /// The procedures folder's file is this version.
    pub current: bool,
    /// The log holds it (false only for a current file never run or approved).
    pub in_log: bool,
    /// When the log first saw it (RFC 3339 UTC); null when not in the log.
    pub first_seen: Option<String>,
    /// Runs of this version, drills not counted.
    pub runs: u64,
    /// Drill runs of this version.
    pub drills: u64,
    pub first_run: Option<String>,
    pub last_run: Option<String>,
    pub approvals: Vec<ApprovalJson>,
    pub reviews: Vec<ReviewJson>,
}

/// `runsheet history ID --json`: every version of a procedure, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct HistoryJson {
    pub procedure_id: String,
    /// The procedures folder's file; null when there is none.
    pub current: Option<CurrentJson>,
    pub versions: Vec<VersionJson>,
}

/// The history: the logged versions, newest first, with the current file's
/// marked (or added on top when the log does not hold it).
pub fn history(
    procedure_id: &str,
    logged: &[Logged],
    current: Option<(CurrentJson, Option<String>)>,
) -> HistoryJson {
    let current_sha = current.as_ref().map(|(c, _)| c.sha256.clone());
    let mut versions: Vec<VersionJson> = logged
        .iter()
        .rev()
        .map(|v| VersionJson {
            version: v.version.clone(),
            sha256: v.sha256.clone(),
            title: v.title.clone(),
            current: current_sha.as_deref() == Some(v.sha256.as_str()),
            in_log: true,
            first_seen: Some(time_text(v.first_seen)),
            runs: v.runs,
            drills: v.drills,
            first_run: v.first_run.map(time_text),
            last_run: v.last_run.map(time_text),
            approvals: v.approvals.clone(),
            reviews: v.reviews.clone(),
        })
        .collect();
    let current = current.map(|(mut c, title)| {
        c.in_log = versions.iter().any(|v| v.current);
        if !c.in_log
            && let Some(version) = &c.version
        {
            versions.insert(
                0,
                VersionJson {
                    version: version.clone(),
                    sha256: c.sha256.clone(),
                    title: title.unwrap_or_default(),
                    current: true,
                    in_log: false,
                    first_seen: None,
                    runs: 0,
                    drills: 0,
                    first_run: None,
                    last_run: None,
                    approvals: Vec::new(),
                    reviews: Vec::new(),
                },
            );
        }
        c
    });
    HistoryJson {
        procedure_id: procedure_id.to_string(),
        current,
        versions,
    }
}

/// `runsheet history` for people (the caller makes it safe for a terminal).
pub fn history_text(h: &HistoryJson) -> String {
    let mut out = String::new();
    let logged = h.versions.iter().filter(|v| v.in_log).count();
    let title = h
        .versions
        .iter()
        .map(|v| v.title.as_str())
        .find(|t| !t.is_empty())
        .unwrap_or("");
    let _ = writeln!(out, "{} — {}", h.procedure_id, title);
    let _ = write!(
        out,
        "{logged} version{} in the evidence log",
        if logged == 1 { "" } else { "s" }
    );
    match &h.current {
        None => out.push_str("; no file of it in the procedures folder.\n"),
        Some(c) => match &c.version {
            Some(v) => {
                let _ = writeln!(
                    out,
                    "; the file {} is version {v} ({}).",
                    c.path,
                    if c.in_log {
                        "in the log"
                    } else {
                        "not in the log yet: never run or approved"
                    }
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "; the file {} does not parse: {}",
                    c.path,
                    c.problem.as_deref().unwrap_or("")
                );
            }
        },
    }
    for v in &h.versions {
        let mark = match (v.current, v.in_log) {
            (true, true) => "  ← current file",
            (true, false) => "  ← current file, not in the log",
            _ => "",
        };
        let _ = writeln!(
            out,
            "\n{}  sha256 {}{mark}",
            v.version,
            v.sha256.get(..12).unwrap_or(&v.sha256)
        );
        if let Some(t) = &v.first_seen {
            let _ = writeln!(out, "  first seen  {}", shown_time(t));
        }
        if v.approvals.is_empty() {
            let _ = writeln!(out, "  approved    no recorded approval");
        }
        for a in &v.approvals {
            let _ = writeln!(
                out,
                "  approved    {} by {} (recorded {})",
                a.approved_on,
                a.signer.words(),
                shown_time(&a.at)
            );
        }
        for r in &v.reviews {
            let _ = writeln!(
                out,
                "  reviewed    {} by {}: {}, next review {}{}",
                r.reviewed_on,
                r.signer.words(),
                r.outcome,
                r.next_review,
                if r.note.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", r.note.replace('\n', " "))
                }
            );
        }
        let runs = match (v.first_run.as_deref(), v.last_run.as_deref()) {
            (Some(first), Some(last)) if v.runs > 1 => {
                format!(
                    "{}: first {}, last {}",
                    v.runs,
                    shown_time(first),
                    shown_time(last)
                )
            }
            (Some(first), _) => format!("1: {}", shown_time(first)),
            _ => "none".to_string(),
        };
        let _ = writeln!(out, "  runs        {runs}");
        if v.drills > 0 {
            let _ = writeln!(out, "  drills      {}", v.drills);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2026, 12, 3, 12, minute, 0)
            .single()
            .expect("time")
    }

    fn logged(sha: &str, version: &str, minute: u32) -> Logged {
        Logged::new(sha.into(), version.into(), "T".into(), at(minute))
    }

    fn file(sha: &str, version: Option<&str>) -> (CurrentJson, Option<String>) {
        (
            CurrentJson {
                path: "procedures/t.toml".into(),
                version: version.map(str::to_string),
                sha256: sha.into(),
                in_log: false,
                problem: version.is_none().then(|| "t.toml:1:1: bad".to_string()),
            },
            Some("T".into()),
        )
    }

    #[test]
    fn versions_are_listed_newest_first_with_the_file_marked() {
        let mut old = logged("aa", "1", 1);
        old.runs = 2;
        old.drills = 1;
        old.first_run = Some(at(1));
        old.last_run = Some(at(5));
        let new = logged("bb", "2", 10);
        let h = history("t", &[old, new], Some(file("aa", Some("1"))));
        let listed: Vec<(&str, bool, bool)> = h
            .versions
            .iter()
            .map(|v| (v.version.as_str(), v.current, v.in_log))
            .collect();
        assert_eq!(listed, [("2", false, true), ("1", true, true)]);
        assert_eq!(h.current.as_ref().map(|c| c.in_log), Some(true));
        let text = history_text(&h);
        assert!(
            text.contains("2 versions in the evidence log; the file procedures/t.toml is version 1 (in the log)."),
            "{text}"
        );
        assert!(
            text.contains("  runs        2: first 2026-12-03 12:01 UTC, last 2026-12-03 12:05 UTC\n  drills      1\n"),
            "{text}"
        );
        assert!(text.contains("1  sha256 aa  ← current file\n"), "{text}");
    }

    #[test]
    fn a_file_the_log_does_not_hold_is_listed_on_top() {
        let h = history("t", &[logged("aa", "1", 1)], Some(file("cc", Some("2"))));
        assert_eq!(h.versions[0].version, "2");
        assert!(h.versions[0].current && !h.versions[0].in_log);
        assert!(history_text(&h).contains("not in the log yet: never run or approved"));
    }

    #[test]
    fn a_file_that_does_not_parse_is_said_and_not_listed() {
        let h = history("t", &[logged("aa", "1", 1)], Some(file("cc", None)));
        assert_eq!(h.versions.len(), 1);
        assert!(history_text(&h).contains("does not parse: t.toml:1:1: bad"));
        let none = history("t", &[logged("aa", "1", 1)], None);
        assert!(history_text(&none).contains("no file of it in the procedures folder"));
    }
}
