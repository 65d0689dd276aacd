//! Procedure lint: document control, ids, references, value specs and the
//! flow graph (unknown targets, unreachable steps, loops with no way out,
//! failures with no path), each finding with `file:line:column` and a hint.
//!
//! May not depend on the engine, the store, the exports or the front ends.
//! IO: reads the files it is asked to check, nothing else. Never panics on input.

mod checks;

pub use checks::annex_a_control;
mod flow;

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Serialize, Serializer};

use super::control::{Recorded, RecordedById};
use super::model::{Procedure, Step};
use super::parse::{self, Loaded, Source};
use crate::error::Error;
use crate::text::sanitize_line;
use schemars::JsonSchema;

/// How bad a finding is. Errors fail `runsheet lint`; warnings only with `--strict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding in one file. `line` and `column` are 1-based; both are 0 when
/// the finding is about the file as a whole (e.g. it cannot be read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file, as given or found in a folder.
    #[serde(serialize_with = "lossy_path")]
    #[schemars(with = "String")]
    pub file: PathBuf,
    /// 1-based; 0 when the finding is about the file as a whole.
    pub line: usize,
    /// 1-based; 0 when the finding is about the file as a whole.
    pub column: usize,
    /// Stable short name of the check (see docs/procedure-format.md).
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

fn lossy_path<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

impl Diagnostic {
    /// An error at `(line, column)`.
    pub fn error(
        file: PathBuf,
        at: (usize, usize),
        code: &'static str,
        message: String,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            file,
            line: at.0,
            column: at.1,
            code,
            message,
            hint: None,
        }
    }

    /// A warning at `(line, column)`.
    pub fn warning(
        file: PathBuf,
        at: (usize, usize),
        code: &'static str,
        message: String,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, at, code, message)
        }
    }

    /// The same diagnostic with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }
}

/// `file:line:col: severity[code]: message` and an indented hint line. The
/// file name, message and hint quote what is in the file (and the file name
/// itself can hold anything): each is one line with its control characters
/// shown as escapes ([`sanitize_line`]), so a diagnostic can neither drive a
/// terminal nor fake another diagnostic line.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", sanitize_line(&self.file.to_string_lossy()))?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        write!(
            f,
            ": {}[{}]: {}",
            self.severity,
            self.code,
            sanitize_line(&self.message)
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {}", sanitize_line(hint))?;
        }
        Ok(())
    }
}

/// A lint check: its code, severity and what it finds (the docs' table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    pub code: &'static str,
    pub severity: Severity,
    pub finds: &'static str,
}

const fn check(code: &'static str, severity: Severity, finds: &'static str) -> Check {
    Check {
        code,
        severity,
        finds,
    }
}

/// Every check lint runs, in the order of docs/procedure-format.md.
pub const CHECKS: &[Check] = &[
    check(
        "read",
        Severity::Error,
        "the file cannot be read, is not UTF-8, or is not named *.toml / *.json",
    ),
    check("syntax", Severity::Error, "TOML or JSON syntax error"),
    check(
        "unknown-key",
        Severity::Error,
        "a key the format does not have (with the allowed keys and a suggestion)",
    ),
    check(
        "missing-field",
        Severity::Error,
        "a required key is missing",
    ),
    check(
        "wrong-type",
        Severity::Error,
        "a value of the wrong type (e.g. a quoted number, a string instead of a list)",
    ),
    check(
        "unknown-value",
        Severity::Error,
        "a value outside a fixed set (cadence, value type, branch `then`)",
    ),
    check(
        "invalid-value",
        Severity::Error,
        "a value that cannot be read, e.g. a date not written YYYY-MM-DD",
    ),
    check(
        "empty-field",
        Severity::Error,
        "a required text (id, title, version, owner, purpose, question, label, command, …) is empty",
    ),
    check(
        "no-approval",
        Severity::Error,
        "`approver` or `approved` is missing (ISO/IEC 27001 7.5.2: approved documented information)",
    ),
    check(
        "no-review-date",
        Severity::Error,
        "neither `next_review` nor `review_every_months` is given, or the interval is 0",
    ),
    check(
        "review-overdue",
        Severity::Warning,
        "the review date has passed",
    ),
    check(
        "approval-claim",
        Severity::Warning,
        "the file's `approved` (or `approver`) is not what the evidence log records for this content (`runsheet approve`; docs/approval.md)",
    ),
    check(
        "invalid-id",
        Severity::Error,
        "an id that is not lower-case letters, digits and `-` (starting with a letter or digit)",
    ),
    check(
        "duplicate-id",
        Severity::Error,
        "two steps (main path and branches together), branches or roles share an id",
    ),
    check(
        "reserved-id",
        Severity::Error,
        "a step id that is a reserved target word (end, fail, retry, continue, end-escalated, end-failed)",
    ),
    check(
        "duplicate-procedure",
        Severity::Error,
        "two files checked together have the same procedure id",
    ),
    check(
        "step-kinds",
        Severity::Error,
        "a step has more than one of `decision`, `value`, `command`",
    ),
    check(
        "value-spec",
        Severity::Error,
        "a value spec that does not fit its type: choice without choices, pattern without a pattern, min > max, keys that do not apply to the type",
    ),
    check(
        "invalid-pattern",
        Severity::Error,
        "a `pattern` that is not a valid regular expression",
    ),
    check(
        "unknown-role",
        Severity::Error,
        "`role` or `signoff` names a role that is not in `roles`",
    ),
    check(
        "control-format",
        Severity::Error,
        "a control not written as A.<clause>.<number>, e.g. A.8.13",
    ),
    check(
        "unknown-control",
        Severity::Warning,
        "a control outside ISO/IEC 27001:2022 Annex A (A.5.1–A.5.37, A.6.1–A.6.8, A.7.1–A.7.14, A.8.1–A.8.34)",
    ),
    check(
        "no-controls",
        Severity::Warning,
        "the procedure lists no Annex A controls",
    ),
    check(
        "empty-steps",
        Severity::Error,
        "the procedure or a branch has no steps",
    ),
    check(
        "unknown-target",
        Severity::Error,
        "`next`, `yes` or `no` names a step that does not exist",
    ),
    check(
        "cross-flow",
        Severity::Error,
        "`next`, `yes` or `no` jumps between the main path and a branch, or between branches",
    ),
    check(
        "branch-only-target",
        Severity::Error,
        "`retry`, `continue`, `end-escalated` or `end-failed` used on the main path",
    ),
    check(
        "unknown-branch",
        Severity::Error,
        "`on_fail` or `default_escalation` names a branch that does not exist",
    ),
    check(
        "branch-on-fail",
        Severity::Error,
        "`on_fail` on a branch step (branch steps cannot escalate; a failure there ends the run failed)",
    ),
    check(
        "no-failure-path",
        Severity::Error,
        "a main step that can fail (a command or a critical step, or a decision answer `fail`) has no escalation branch",
    ),
    check(
        "unreachable",
        Severity::Error,
        "a step that no path from the first step (of the main path or its branch) reaches",
    ),
    check(
        "no-exit",
        Severity::Error,
        "steps that loop with no way to reach the end",
    ),
    check(
        "unused-branch",
        Severity::Warning,
        "a branch no `on_fail` or `default_escalation` refers to",
    ),
];

/// Whether `id` is a valid procedure, step, branch or role id:
/// lower-case ASCII letters, digits and `-`, not starting with `-`.
pub fn is_valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The closest of `candidates` to `word`, if close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word_lc = word.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (edit_distance(&word_lc, &c.to_lowercase()), c))
        .filter(|(d, c)| {
            let len = c.chars().count().max(word.chars().count());
            *d <= 2.max(len / 3) && *d < len
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Where a step lives, for lint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    Main,
    Branch(usize),
}

/// A step with its path in the file and its region.
struct StepAt<'a> {
    step: &'a Step,
    path: String,
    region: Region,
}

fn steps_at(p: &Procedure) -> Vec<StepAt<'_>> {
    let main = p.steps.iter().enumerate().map(|(i, step)| StepAt {
        step,
        path: format!("steps[{i}]"),
        region: Region::Main,
    });
    let branches = p.branches.iter().enumerate().flat_map(|(b, branch)| {
        branch
            .steps
            .iter()
            .enumerate()
            .map(move |(i, step)| StepAt {
                step,
                path: format!("branches[{b}].steps[{i}]"),
                region: Region::Branch(b),
            })
    });
    main.chain(branches).collect()
}

/// Collects the findings for one loaded file.
struct Ctx<'a> {
    loaded: &'a Loaded,
    p: &'a Procedure,
    out: Vec<Diagnostic>,
}

impl<'a> Ctx<'a> {
    fn new(loaded: &'a Loaded) -> Ctx<'a> {
        Ctx {
            loaded,
            p: &loaded.procedure,
            out: Vec::new(),
        }
    }

    fn push(
        &mut self,
        severity: Severity,
        path: &str,
        code: &'static str,
        message: String,
        hint: String,
    ) {
        let (line, column) = self.loaded.locate(path);
        self.out.push(Diagnostic {
            severity,
            file: self.loaded.source.path.clone(),
            line,
            column,
            code,
            message,
            hint: Some(hint),
        });
    }

    fn error(&mut self, path: &str, code: &'static str, message: String, hint: impl Into<String>) {
        self.push(Severity::Error, path, code, message, hint.into());
    }

    fn warning(
        &mut self,
        path: &str,
        code: &'static str,
        message: String,
        hint: impl Into<String>,
    ) {
        self.push(Severity::Warning, path, code, message, hint.into());
    }

    /// `line N` of a path, for messages that point at a second place.
    fn line_of(&self, path: &str) -> usize {
        self.loaded.locate(path).0
    }
}

/// Check a parsed procedure. `today` decides whether the review is overdue.
pub fn lint(loaded: &Loaded, today: NaiveDate) -> Vec<Diagnostic> {
    let mut ctx = Ctx::new(loaded);
    checks::document(&mut ctx, today);
    checks::ids(&mut ctx);
    checks::controls(&mut ctx);
    checks::steps(&mut ctx);
    flow::flow(&mut ctx);
    let mut out = ctx.out;
    out.sort_by_key(|d| (d.line, d.column));
    out
}

/// The file's `approved` and `approver` claims against what the log
/// records (`recorded`: this procedure's approvals and reviews): warnings
/// when no approval of this exact content is recorded, when none is dated
/// as the file says, or when none is by the approver it names.
pub fn approval_claim(loaded: &Loaded, recorded: Option<&Recorded>) -> Vec<Diagnostic> {
    let p = &loaded.procedure;
    let Some(claimed) = p.approved.map(|d| d.0) else {
        return Vec::new();
    };
    let file = loaded.source.path.clone();
    let warn = |key: &str, message: String, hint: String| {
        Diagnostic::warning(file.clone(), loaded.locate(key), "approval-claim", message)
            .with_hint(hint)
    };
    let sha = loaded.source.sha256();
    let short = sha.get(..12).unwrap_or(&sha);
    let empty = Recorded::default();
    let recorded = recorded.unwrap_or(&empty);
    let these: Vec<_> = recorded.approvals_of(&sha).collect();
    if these.is_empty() {
        let other = recorded
            .approvals
            .iter()
            .rfind(|a| a.role_checked)
            .map(|a| {
                format!(
                    " (its latest recorded approval is of other content: v{} on {} by {}, seq {}; the file changed since)",
                    a.version, a.on, a.by, a.seq
                )
            })
            .unwrap_or_default();
        return vec![warn(
            "approved",
            format!(
                "approved = {claimed} but the log records no approval of this content (sha256 {short}…, v{}){other}",
                p.version
            ),
            format!(
                "an approver records it with `runsheet approve {}`; until then runs of it warn (docs/approval.md)",
                p.id
            ),
        )];
    }
    let mut out = Vec::new();
    if !these.iter().any(|a| a.on == claimed) {
        let dates: Vec<String> = these
            .iter()
            .map(|a| format!("{} by {} (seq {})", a.on, a.by, a.seq))
            .collect();
        out.push(warn(
            "approved",
            format!(
                "approved = {claimed} but this content's recorded approval is dated {}",
                dates.join(", ")
            ),
            format!("write the recorded date: approved = {}", these[0].on),
        ));
    }
    if let Some(claim) = p.approver.as_deref().filter(|c| !c.trim().is_empty())
        && !these.iter().any(|a| names_approver(claim, a))
    {
        let who: Vec<&str> = these.iter().map(|a| a.by.as_str()).collect();
        out.push(warn(
            "approver",
            format!(
                "approver = {claim:?} but this content was approved by {}",
                who.join(", ")
            ),
            "name the approver as the log records them (user, principal or display name), or have them approve it".into(),
        ));
    }
    out
}

/// A recorded review sets the review date over the file's: the file's
/// `review-overdue` gives way to one from the review's next date.
fn recorded_review_due(
    loaded: &Loaded,
    review: &crate::procedure::control::RecordedReview,
    today: NaiveDate,
    out: &mut Vec<Diagnostic>,
) {
    out.retain(|d| d.code != "review-overdue");
    if review.next < today {
        let at = if loaded.has("next_review") {
            "next_review"
        } else {
            "review_every_months"
        };
        out.push(
            Diagnostic::warning(
                loaded.source.path.clone(),
                loaded.locate(at),
                "review-overdue",
                format!(
                    "review was due on {} (set by the review recorded on {} by {}, seq {})",
                    review.next, review.on, review.by, review.seq
                ),
            )
            .with_hint(
                "review the procedure: `runsheet review ID --outcome unchanged|changed --note …`",
            ),
        );
    }
}

/// Does the file's `approver` name the recorded approver (user, SSH
/// principal or its user part, display name; case and spaces ignored)?
fn names_approver(claim: &str, a: &crate::procedure::control::RecordedApproval) -> bool {
    let norm = |s: &str| s.trim().to_lowercase();
    let claim = norm(claim);
    let user_part = a.by.split('@').next().unwrap_or(&a.by);
    [Some(a.by.as_str()), Some(user_part), a.name.as_deref()]
        .into_iter()
        .flatten()
        .any(|n| norm(n) == claim)
}

/// Read, parse and check one file. Never panics; every problem is a diagnostic.
pub fn lint_file(path: &Path, today: NaiveDate) -> Vec<Diagnostic> {
    check_file(path, today, None).1
}

/// A parsed file's procedure id and where the id is written.
struct IdAt {
    id: String,
    at: (usize, usize),
}

/// Lint one file; also returns the procedure id when the file parsed.
fn check_file(
    path: &Path,
    today: NaiveDate,
    recorded: Option<&RecordedById>,
) -> (Option<IdAt>, Vec<Diagnostic>) {
    match Source::read(path)
        .map_err(|d| vec![d])
        .and_then(parse::parse_all)
    {
        Ok(loaded) => {
            let id = IdAt {
                id: loaded.procedure.id.clone(),
                at: loaded.locate("id"),
            };
            let mut out = lint(&loaded, today);
            if let Some(r) = recorded {
                let r = r.get(&loaded.procedure.id);
                out.extend(approval_claim(&loaded, r));
                if let Some(review) = r.and_then(Recorded::last_review) {
                    recorded_review_due(&loaded, review, today, &mut out);
                }
                out.sort_by_key(|d| (d.line, d.column));
            }
            (Some(id), out)
        }
        Err(ds) => (None, ds),
    }
}

/// The result of checking some files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LintReport {
    /// Number of files checked.
    pub files: usize,
    /// All findings, file by file, in line order within each file.
    pub diagnostics: Vec<Diagnostic>,
}

impl LintReport {
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }

    /// Every diagnostic (with its hint), then `checked N files: E errors, W warnings`.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            out.push_str(&d.to_string());
            out.push('\n');
        }
        out.push_str(&format!(
            "checked {}: {}, {}\n",
            plural(self.files, "file"),
            plural(self.errors(), "error"),
            plural(self.warnings(), "warning")
        ));
        out
    }

    /// The `lint --json` output.
    pub fn to_json(&self) -> LintJson<'_> {
        LintJson {
            files: self.files,
            errors: self.errors(),
            warnings: self.warnings(),
            diagnostics: &self.diagnostics,
        }
    }
}

/// `runsheet lint --json` (docs/json.md).
#[derive(Debug, Serialize, JsonSchema)]
pub struct LintJson<'a> {
    /// Files checked.
    pub files: usize,
    pub errors: usize,
    pub warnings: usize,
    /// Every finding, file by file in the order checked.
    pub diagnostics: &'a [Diagnostic],
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Check files and folders (each folder's `*.toml` and `*.json`, not
/// recursive). Also finds procedure ids used by more than one file.
/// A path that does not exist, or a folder that cannot be listed, is an error.
/// With `recorded` (the log's approvals, read by the caller), each file's
/// `approved` claim is checked against them ([`approval_claim`]).
pub fn lint_paths(
    paths: &[PathBuf],
    today: NaiveDate,
    recorded: Option<&RecordedById>,
) -> Result<LintReport, Error> {
    let mut files: Vec<PathBuf> = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(parse::procedure_files(path)?);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(Error::Input(format!(
                "{}: no such file or folder\n  hint: give procedure ids, files or folders to check",
                path.display()
            )));
        }
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(f.clone()));

    let mut report = LintReport {
        files: files.len(),
        diagnostics: Vec::new(),
    };
    let mut ids: std::collections::HashMap<String, PathBuf> = std::collections::HashMap::new();
    for file in &files {
        let (id, mut diagnostics) = check_file(file, today, recorded);
        if let Some(IdAt { id, at }) = id {
            if let Some(first) = ids.get(&id) {
                diagnostics.push(
                    Diagnostic::error(
                        file.clone(),
                        at,
                        "duplicate-procedure",
                        format!("procedure id `{id}` is also used by {}", first.display()),
                    )
                    .with_hint("give each procedure its own id; runs and reports are keyed by it"),
                );
                diagnostics.sort_by_key(|d| (d.line, d.column));
            } else {
                ids.insert(id, file.clone());
            }
        }
        report.diagnostics.extend(diagnostics);
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
