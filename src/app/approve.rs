//! `approve` and `review` (docs/approval.md): record an approval or a review
//! of a procedure's exact content, signed by the approver's login or SSH
//! key, and write the detached approval file beside the procedure; and read
//! what the log records about approvals and reviews for `run`, `lint`,
//! `list` and `status` (read-only, never creating a log).
//!
//! May be used only by `app`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::Serialize;

use super::{Context, host_name, load_procedure};
use crate::approval::{self, Proof, ReviewFinding};
use crate::cli::{ActProof, ApproveArgs, ReviewArgs, ReviewOutcome};
use crate::error::{Error, Exit, Result};
use crate::procedure::control::{
    self, ApprovalCheck, OUTCOME_CHANGED, OUTCOME_UNCHANGED, RecordedById, StartControl, Unapproved,
};
use crate::procedure::parse::Loaded;
use crate::report::status::recorded;
use crate::store::StoredEvent;
use crate::store::log_payload::{ActSigner, LogPayload, ProcedureApproved, ProcedureReviewed};
use crate::{errln, out, outln};

/// The variable that sets the run-time policy for unapproved content.
pub const UNAPPROVED_ENV: &str = "RUNSHEET_UNAPPROVED";

impl Context {
    /// What the log records, read-only, when there is a log (`None`: there
    /// is none). A log that cannot be read is said on stderr, and the
    /// command goes on with the files' dates (list and lint read files).
    pub(super) fn recorded_if_any(&self) -> Option<RecordedById> {
        let db = self.db_path().ok()?;
        if !db.exists() {
            return None;
        }
        match self.read_log(|s| Ok(recorded(s, None)?)) {
            Ok(r) => Some(r),
            Err(e) => {
                errln!(
                    "runsheet: cannot read the approvals and reviews in {} ({e}); showing the files' dates",
                    db.display()
                );
                None
            }
        }
    }

    /// The policy for runs of unapproved content this invocation has.
    pub(super) fn unapproved(&self) -> Unapproved {
        self.unapproved
    }
}

/// The run-time policy from `RUNSHEET_UNAPPROVED`, else the configuration
/// file's `unapproved`, else `warn`.
pub(super) fn unapproved_setting(config: Option<&crate::config::Config>) -> Result<Unapproved> {
    if let Some(v) = std::env::var(UNAPPROVED_ENV).ok().filter(|v| !v.is_empty()) {
        return Unapproved::parse(&v).ok_or_else(|| {
            Error::Usage(format!(
                "{UNAPPROVED_ENV}={v:?} is not a policy: use refuse, warn or allow"
            ))
        });
    }
    Ok(config
        .and_then(|c| c.file.unapproved.as_ref())
        .and_then(|v| Unapproved::parse(v.get_ref()))
        .unwrap_or_default())
}

/// What `run` tells the engine about `loaded`'s record in the log, or a
/// refusal when the policy is `refuse` and the content is not approved.
/// Reads the log read-only (when there is one).
/// A drill (`drill`) of unapproved content is never refused: it gets the
/// warning instead (rehearsing a draft before it is approved is practice).
pub(super) fn start_control(ctx: &Context, loaded: &Loaded, drill: bool) -> Result<StartControl> {
    let p = &loaded.procedure;
    let recorded = if ctx.db_path()?.exists() {
        ctx.read_log(|s| Ok(recorded(s, Some(&p.id))?))?
            .remove(&p.id)
            .unwrap_or_default()
    } else {
        control::Recorded::default()
    };
    let sha = loaded.source.sha256();
    let policy = Unapproved::effective(
        p.unapproved.map(|u| match u {
            crate::procedure::OnUnapproved::Warn => Unapproved::Warn,
            crate::procedure::OnUnapproved::Refuse => Unapproved::Refuse,
        }),
        ctx.unapproved(),
    );
    let approval = match recorded.approvals_of(&sha).next() {
        _ if policy == Unapproved::Allow => ApprovalCheck::NotChecked,
        Some(a) => ApprovalCheck::Approved {
            by: a.by.clone(),
            on: a.on,
        },
        None if policy == Unapproved::Refuse && !drill => {
            return Err(Error::Input(format!(
                "{}; the policy is to refuse (unapproved = \"refuse\"), so no run was started. An approver approves it with `runsheet approve {}`",
                control::unapproved_warning(p, &sha),
                loaded.source.path.display()
            )));
        }
        None => ApprovalCheck::Missing,
    };
    Ok(StartControl {
        approval,
        last_review: recorded.last_review().cloned(),
    })
}

/// Who performs an approval or review, and the display name recorded
/// beside a login.
fn signer(
    ctx: &Context,
    proof: ActProof,
    message: &str,
    purpose: &crate::signoff::Purpose,
) -> Result<ActSigner> {
    let signers = ctx.allowed_signers(proof.allowed_signers);
    let host = host_name();
    let name = ctx.display_name();
    let login;
    let proof = match &proof.signature {
        Some(file) => Proof::Signature(file),
        None => {
            login = crate::signoff::login::this_login().map_err(Error::Input)?;
            Proof::Login {
                login: &login,
                host: &host,
                name: name.as_deref(),
            }
        }
    };
    approval::signer(&signers, proof, message, purpose).map_err(Error::Input)
}

/// How a signer's events are recorded: a login as the run's operators are
/// (`Name (user)`), an SSH principal as itself.
fn actor(by: &ActSigner) -> String {
    crate::vocab::actor(&by.user, by.name.as_deref())
}

/// Print the text to sign, and (unless quiet) how to sign it on stderr.
fn print_text(ctx: &Context, text: &str, command: &str) -> Result<Exit> {
    out::text(text)?;
    if !ctx.global.quiet {
        errln!(
            "runsheet: sign this with your SSH key: {command} --text | ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n {} > FILE.sig, then {command} --signature FILE.sig",
            approval::namespace()
        );
    }
    Ok(Exit::Success)
}

/// `runsheet approve FILE`.
pub(super) fn approve_cmd(ctx: &Context, a: ApproveArgs) -> Result<Exit> {
    let loaded = load_procedure(ctx, &a.procedure)?;
    let p = &loaded.procedure;
    let sha = loaded.source.sha256();
    let text = approval::approval_text(&p.id, &p.version, &sha);
    if a.proof.text {
        return print_text(ctx, &text, &format!("runsheet approve {}", a.procedure));
    }
    let by = signer(ctx, a.proof, &text, &approval::APPROVAL)?;
    let earlier = ctx
        .recorded_if_any()
        .and_then(|mut r| r.remove(&p.id))
        .unwrap_or_default();
    if let Some(earlier) = earlier.approvals_of(&sha).find(|e| e.by == by.user) {
        return Err(Error::Input(format!(
            "{} already approved this content of {} (sha256 {}…, v{}) on {} (seq {}); nothing was recorded again",
            by.user,
            p.id,
            short(&sha),
            p.version,
            earlier.on,
            earlier.seq
        )));
    }
    // The same version string for other content: approved, but said.
    if let Some(other) = earlier
        .approvals
        .iter()
        .rfind(|e| e.version == p.version && e.sha256 != sha)
    {
        errln!(
            "runsheet: note: v{} of {} was approved before with other content (sha256 {}…, seq {}); bump `version` on every approved change so the two can be told apart",
            p.version,
            p.id,
            short(&other.sha256),
            other.seq
        );
    }
    let now = Utc::now();
    let payload = ProcedureApproved {
        procedure_id: p.id.clone(),
        procedure_version: p.version.clone(),
        procedure_title: p.title.clone(),
        procedure_sha256: sha.clone(),
        procedure_format: loaded.source.format.name().into(),
        source: loaded.source.text.clone(),
        source_path: loaded.source.path.display().to_string(),
        approved_on: now.date_naive().format("%Y-%m-%d").to_string(),
        by,
    };
    let mut store = ctx.open_store()?;
    let stored = store.append_log_event(&payload.event(&actor(&payload.by), now))?;
    let file = approval_file(&loaded.source.path);
    let body = approval_file_text(&payload, &stored);
    if let Err(e) = write_replacing(&file, body.as_bytes()) {
        out::text(&body)?;
        return Err(Error::Io {
            path: file.clone(),
            message: format!(
                "the approval IS recorded in the evidence log (seq {}), which is the evidence, but the approval file could not be written ({e}); its content is on standard output: save it as {}",
                stored.seq,
                file.display()
            ),
        });
    }
    outln!(
        "Approved {} v{} (sha256 {}…) as {}: recorded at seq {}. Wrote {}; commit it with the procedure.",
        p.id,
        p.version,
        short(&sha),
        approval::signer_words(&payload.by),
        stored.seq,
        file.display()
    )?;
    Ok(Exit::Success)
}

/// `runsheet review ID --outcome … --note …`.
pub(super) fn review_cmd(ctx: &Context, a: ReviewArgs) -> Result<Exit> {
    let loaded = load_procedure(ctx, &a.procedure)?;
    let p = &loaded.procedure;
    let sha = loaded.source.sha256();
    let note = a.note.trim();
    if note.is_empty() || note.chars().any(char::is_control) {
        return Err(Error::Input(
            "--note must be one line of text saying what was reviewed (no line breaks or control characters); no review was recorded".into(),
        ));
    }
    let next = match &a.next {
        Some(s) => super::parse_date(s, "--next")?,
        None => control::default_next_review(p, ctx.today).ok_or_else(|| {
            Error::Input("the next review date is out of range; give --next".into())
        })?,
    };
    if next <= ctx.today {
        return Err(Error::Input(format!(
            "--next {next} is not after today ({}): the next review must be in the future; no review was recorded",
            ctx.today
        )));
    }
    let outcome = match a.outcome {
        ReviewOutcome::Unchanged => OUTCOME_UNCHANGED,
        ReviewOutcome::Changed => OUTCOME_CHANGED,
    };
    let next_text = next.format("%Y-%m-%d").to_string();
    let finding = ReviewFinding {
        outcome,
        note,
        next_review: &next_text,
    };
    let text = approval::review_text(&p.id, &p.version, &sha, &finding);
    if a.proof.text {
        let mut command = format!(
            "runsheet review {} --outcome {outcome} --note {:?}",
            a.procedure, note
        );
        if a.next.is_some() {
            command.push_str(&format!(" --next {next_text}"));
        }
        return print_text(ctx, &text, &command);
    }
    let by = signer(ctx, a.proof, &text, &approval::REVIEW)?;
    let now = Utc::now();
    let payload = ProcedureReviewed {
        procedure_id: p.id.clone(),
        procedure_version: p.version.clone(),
        procedure_sha256: sha.clone(),
        outcome: outcome.into(),
        note: note.into(),
        reviewed_on: now.date_naive().format("%Y-%m-%d").to_string(),
        next_review: next_text.clone(),
        by,
    };
    let mut store = ctx.open_store()?;
    let stored = store.append_log_event(&payload.event(&actor(&payload.by), now))?;
    outln!(
        "Reviewed {} v{} (sha256 {}…) as {}: {outcome}; next review due {next_text}. Recorded at seq {}.",
        p.id,
        p.version,
        short(&sha),
        approval::signer_words(&payload.by),
        stored.seq
    )?;
    if outcome == OUTCOME_CHANGED {
        outln!(
            "The review found the procedure needs a change: edit {}, bump its version, and have an approver approve the new content (`runsheet approve`). Until then `status` shows the change as pending.",
            loaded.source.path.display()
        )?;
    }
    Ok(Exit::Success)
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// The detached approval file of the procedure at `path`: `<path>.approval`.
pub fn approval_file(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".approval");
    PathBuf::from(name)
}

/// The detached approval file: what was approved, by whom and how, and
/// the log record that holds it.
#[derive(Serialize)]
struct ApprovalFile<'a> {
    procedure: &'a str,
    version: &'a str,
    procedure_sha256: &'a str,
    approver: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    approver_name: Option<&'a str>,
    role: &'a str,
    /// `login` or `ssh`.
    method: &'a str,
    approved_on: &'a str,
    /// The allowed-signers file that gave the role.
    role_from: Option<&'a str>,
    log_seq: i64,
    record_hash: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ssh: Option<ApprovalFileSsh<'a>>,
}

#[derive(Serialize)]
struct ApprovalFileSsh<'a> {
    principal: &'a str,
    key: &'a str,
    namespace: &'a str,
    /// The exact text signed (`runsheet approve FILE --text`).
    message: &'a str,
    signature: &'a str,
}

fn approval_file_text(a: &ProcedureApproved, stored: &StoredEvent) -> String {
    let file = ApprovalFile {
        procedure: &a.procedure_id,
        version: &a.procedure_version,
        procedure_sha256: &a.procedure_sha256,
        approver: &a.by.user,
        approver_name: a.by.name.as_deref(),
        role: &a.by.role,
        method: &a.by.method,
        approved_on: &a.approved_on,
        role_from: a.by.role_from.as_deref(),
        log_seq: stored.seq,
        record_hash: &stored.hash,
        ssh: a.by.ssh.as_ref().map(|s| ApprovalFileSsh {
            principal: &s.principal,
            key: &s.key,
            namespace: &s.namespace,
            message: &s.message,
            signature: &s.signature,
        }),
    };
    let body = toml::to_string(&file).unwrap_or_default();
    format!(
        "# runsheet approval (docs/approval.md): commit this file with the procedure.\n# The evidence log holds the record (seq {}); this file says which one.\n{body}",
        stored.seq
    )
}

/// Write `bytes` to `path` whole: into a new file beside it, then renamed
/// over it, so a crash leaves the old file or the new one.
fn write_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_approval_file_sits_beside_the_procedure() {
        assert_eq!(
            approval_file(Path::new("procedures/backup.toml")),
            PathBuf::from("procedures/backup.toml.approval")
        );
    }

    #[test]
    fn writing_replaces_the_old_file_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("p.toml.approval");
        std::fs::write(&path, "old").expect("write");
        write_replacing(&path, b"new").expect("replaced");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
        let missing = dir.path().join("no-such-dir").join("x.approval");
        assert!(write_replacing(&missing, b"x").is_err());
    }
}
