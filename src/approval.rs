//! Approval and review of a procedure as recorded acts (docs/approval.md):
//! the exact text an approver signs with their SSH key, and who performed
//! the act — their own login, its role checked in the allowed-signers file,
//! or their SSH signature checked against it (the identities of a
//! second-person sign-off, docs/signoff.md, whose checking code this uses).
//!
//! May not depend on the engine's rules, the front ends or `app`; of the
//! store, only its payload types.

use std::path::Path;

use crate::procedure::control::APPROVER_ROLE;
use crate::signoff::{self, AllowedSigners, Purpose};
use crate::store::log_payload::{ActLogin, ActSigner, ActSsh};

/// An approval's refusals.
pub const APPROVAL: Purpose = Purpose {
    text: "this procedure's approval text",
    other: "signed for another procedure, version or content",
    nothing: "nothing was approved",
};

/// A review's refusals.
pub const REVIEW: Purpose = Purpose {
    text: "this procedure's review text",
    other: "signed for another procedure, content, outcome, note or next date",
    nothing: "no review was recorded",
};

/// The namespace approvals and reviews are signed in: the one that gives a
/// key the approver role for sign-offs too (`runsheet-signoff@approver`).
pub fn namespace() -> String {
    signoff::namespace(APPROVER_ROLE)
}

/// The exact text an approver signs to approve the procedure `id` at
/// `version` whose source has SHA-256 `sha256`: one field per line, each
/// ending in a line feed.
pub fn approval_text(id: &str, version: &str, sha256: &str) -> String {
    format!(
        "runsheet approval v1\nprocedure: {id}\nversion: {version}\nprocedure-sha256: {sha256}\nrole: {APPROVER_ROLE}\n"
    )
}

/// What a review finds and sets, as [`review_text`] signs it.
#[derive(Debug, Clone, Copy)]
pub struct ReviewFinding<'a> {
    pub outcome: &'a str,
    pub note: &'a str,
    /// YYYY-MM-DD.
    pub next_review: &'a str,
}

/// The exact text a reviewer signs to record their review of the content
/// with SHA-256 `sha256`: its outcome, note (one line) and next review date.
pub fn review_text(id: &str, version: &str, sha256: &str, f: &ReviewFinding<'_>) -> String {
    format!(
        "runsheet review v1\nprocedure: {id}\nversion: {version}\nprocedure-sha256: {sha256}\noutcome: {}\nnote: {}\nnext-review: {}\nrole: {APPROVER_ROLE}\n",
        f.outcome, f.note, f.next_review
    )
}

/// How the person performing the act proves who they are.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// Their own login on this host: `user`, `uid`, `via` (`sudo`), `host`.
    Login {
        login: &'a signoff::login::Login,
        host: &'a str,
        /// Their display name (`RUNSHEET_OPERATOR` or the configuration's `operator`).
        name: Option<&'a str>,
    },
    /// An SSH signature file over the act's text.
    Signature(&'a Path),
}

/// Who performs an act whose text is `message`, in the approver role:
/// refused (with what to do) unless the allowed-signers file gives them the
/// role. With no allowed-signers file nothing says who holds the role, so a
/// login is refused too: every recorded approval and review has its role
/// checked.
pub fn signer(
    signers: &AllowedSigners,
    proof: Proof<'_>,
    message: &str,
    purpose: &Purpose,
) -> Result<ActSigner, String> {
    let namespace = namespace();
    match proof {
        Proof::Signature(file) => {
            let ssh = signers.verify_file(file, message, &namespace, purpose)?;
            Ok(ActSigner {
                user: ssh.principal.clone(),
                name: None,
                role: APPROVER_ROLE.into(),
                method: "ssh".into(),
                login: None,
                ssh: Some(ActSsh {
                    principal: ssh.principal,
                    key: ssh.key,
                    namespace: ssh.namespace,
                    message: ssh.message,
                    signature: ssh.signature,
                }),
                role_from: Some(signers.path.display().to_string()),
            })
        }
        Proof::Login { login, host, name } => {
            let from = signers
                .role_for_login(&login.user, host, &namespace, purpose)?
                .ok_or_else(|| {
                    format!(
                        "there is no allowed-signers file at {}, so nothing says who holds the {APPROVER_ROLE} role: add a line for {} with namespaces=\"{namespace}\" (docs/approval.md) or pass --allowed-signers; {}",
                        signers.path.display(),
                        login.user,
                        purpose.nothing
                    )
                })?;
            Ok(ActSigner {
                user: login.user.clone(),
                name: name.map(str::to_string),
                role: APPROVER_ROLE.into(),
                method: "login".into(),
                login: Some(ActLogin {
                    user: login.user.clone(),
                    uid: login.uid,
                    host: host.to_string(),
                    via: login.via.map(str::to_string),
                }),
                ssh: None,
                role_from: Some(from),
            })
        }
    }
}

/// How a signer is named in messages: `alice (login, uid 1001)`, or
/// `ciso@example.com (SSH key SHA256:…)`.
pub fn signer_words(s: &ActSigner) -> String {
    match (&s.login, &s.ssh) {
        (Some(l), _) => format!(
            "{} (their login, uid {}{})",
            s.user,
            l.uid,
            if l.via.is_some() { ", via sudo" } else { "" }
        ),
        (_, Some(k)) => format!("{} (SSH key {})", s.user, k.key),
        _ => s.user.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_approval_text_is_one_field_a_line() {
        assert_eq!(
            approval_text("backup", "1.2", "ab12"),
            "runsheet approval v1\nprocedure: backup\nversion: 1.2\nprocedure-sha256: ab12\nrole: approver\n"
        );
        assert_eq!(namespace(), "runsheet-signoff@approver");
        let f = ReviewFinding {
            outcome: "unchanged",
            note: "still right",
            next_review: "2027-12-03",
        };
        assert!(review_text("b", "1", "ab", &f).ends_with(
            "outcome: unchanged\nnote: still right\nnext-review: 2027-12-03\nrole: approver\n"
        ));
    }

    #[test]
    fn a_login_without_an_allowed_signers_file_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let signers = AllowedSigners {
            path: dir.path().join("allowed_signers"),
        };
        let login = signoff::login::Login {
            user: "alice".into(),
            uid: 1000,
            via: None,
        };
        let proof = Proof::Login {
            login: &login,
            host: "h",
            name: None,
        };
        let e = signer(&signers, proof, "x", &APPROVAL).expect_err("refused");
        assert!(
            e.contains("nothing says who holds the approver role"),
            "{e}"
        );
        std::fs::write(
            &signers.path,
            "alice namespaces=\"runsheet-signoff@approver\" ssh-ed25519 AAAA\n",
        )
        .expect("write");
        let s = signer(&signers, proof, "x", &APPROVAL).expect("granted");
        assert_eq!((s.user.as_str(), s.method.as_str()), ("alice", "login"));
        assert!(s.role_from.is_some());
        std::fs::write(
            &signers.path,
            "alice namespaces=\"runsheet-signoff@team-lead\" ssh-ed25519 AAAA\n",
        )
        .expect("write");
        let e = signer(&signers, proof, "x", &APPROVAL).expect_err("not an approver");
        assert!(e.ends_with("nothing was approved"), "{e}");
    }
}
