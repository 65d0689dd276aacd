//! Second-person sign-off (docs/signoff.md): with an SSH key — the text a
//! signer signs for one step of one run, the namespace that carries the
//! role, and checking a signature against an allowed-signers file (the
//! format git uses for signed commits) with `ssh-keygen -Y` — or from the
//! signer's own login (`login`).
//!
//! May not depend on the store, the front ends or `app`.

pub mod login;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::engine::SshSignOff;
use crate::session::SignOffCheck;

/// The namespace prefix of a sign-off signature; the role id follows.
pub const NAMESPACE_PREFIX: &str = "runsheet-signoff@";

/// The armor an SSH signature file starts with.
const ARMOR: &str = "-----BEGIN SSH SIGNATURE-----";

/// Largest signature file read (an Ed25519 or RSA-4096 signature is well under).
const MAX_SIGNATURE: u64 = 64 * 1024;

/// The namespace a signer signs in for `role`: only keys the
/// allowed-signers file allows that namespace (or any) may sign for it.
pub fn namespace(role: &str) -> String {
    format!("{NAMESPACE_PREFIX}{role}")
}

/// The exact text a second person signs to sign off `step` (its `attempt`)
/// of run `run_id` of the procedure whose source has SHA-256
/// `procedure_sha256`, in `role`. One line per field, each ending in a
/// line feed.
pub fn message(
    run_id: &str,
    step: &str,
    attempt: u32,
    procedure_sha256: &str,
    role: &str,
) -> String {
    format!(
        "runsheet sign-off v1\nrun: {run_id}\nstep: {step}\nattempt: {attempt}\nprocedure-sha256: {procedure_sha256}\nrole: {role}\n"
    )
}

/// The text a second person signs to sign off `step` of `run` (run id
/// `run_id`) in its current attempt, and the namespace they sign it in;
/// `None` when the step has no sign-off.
pub fn text_for(run: &crate::engine::Run, run_id: &str, step: &str) -> Option<(String, String)> {
    let role = run.procedure.step(step)?.0.signoff.clone()?;
    let sha = run
        .info
        .as_ref()
        .map(|i| i.procedure_sha256.clone())
        .unwrap_or_default();
    Some((
        message(run_id, step, run.state(step).attempts, &sha, &role),
        namespace(&role),
    ))
}

/// The allowed-signers file sign-off signatures are checked against.
#[derive(Debug, Clone)]
pub struct AllowedSigners {
    pub path: PathBuf,
}

/// What a signature is checked for, in the words of its refusals.
#[derive(Debug, Clone, Copy)]
pub struct Purpose {
    /// The text signed, e.g. "this step's sign-off text".
    pub text: &'static str,
    /// What a signature over another text was made for.
    pub other: &'static str,
    /// What a refusal leaves undone, e.g. "nothing was signed off".
    pub nothing: &'static str,
}

/// A step's sign-off.
pub const SIGN_OFF: Purpose = Purpose {
    text: "this step's sign-off text",
    other: "signed for another run, step or attempt",
    nothing: "nothing was signed off",
};

/// The armored SSH signature in the file at `path` (at most 64 KiB).
fn read_signature(path: &Path) -> Result<String, String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() <= MAX_SIGNATURE => match std::fs::read_to_string(path) {
            Ok(text) if text.trim_start().starts_with(ARMOR) => Ok(text),
            Ok(_) | Err(_) => Err(format!(
                "{} is not an SSH signature file (it does not start with {ARMOR})",
                path.display()
            )),
        },
        Ok(_) => Err(format!("{} is not an SSH signature file", path.display())),
        Err(_) => Err(format!("there is no signature file {}", path.display())),
    }
}

impl SignOffCheck for AllowedSigners {
    fn check(
        &self,
        typed: &str,
        message: &str,
        namespace: &str,
    ) -> Option<Result<SshSignOff, String>> {
        let path = Path::new(typed.trim());
        // A name, unless it can only be meant as a file.
        if !path.exists() && !typed.contains('/') && !typed.trim().ends_with(".sig") {
            return None;
        }
        Some(self.verify_file(path, message, namespace, &SIGN_OFF))
    }
}

impl AllowedSigners {
    /// Who signed `message` in `namespace` with the signature file at
    /// `sig`: the principal the allowed-signers file gives its key, checked
    /// by `ssh-keygen -Y verify`. Refusals say what for (`purpose`).
    pub fn verify_file(
        &self,
        sig: &Path,
        message: &str,
        namespace: &str,
        purpose: &Purpose,
    ) -> Result<SshSignOff, String> {
        let signature = read_signature(sig)?;
        if !self.path.is_file() {
            return Err(format!(
                "there is no allowed-signers file at {}: create it (one line per person: principal, namespaces=\"{NAMESPACE_PREFIX}<role>\", key; the format of git's gpg.ssh.allowedSignersFile) or pass --allowed-signers",
                self.path.display()
            ));
        }
        let found = ssh_keygen(
            &[
                "-Y",
                "find-principals",
                "-f",
                &self.path.display().to_string(),
                "-s",
                &sig.display().to_string(),
            ],
            None,
        )?;
        if !found.ok {
            return Err(format!(
                "the key that made {} is not in the allowed signers ({}); {}",
                sig.display(),
                self.path.display(),
                purpose.nothing
            ));
        }
        let mut last = String::new();
        for principal in found
            .stdout
            .lines()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let checked = ssh_keygen(
                &[
                    "-Y",
                    "verify",
                    "-f",
                    &self.path.display().to_string(),
                    "-I",
                    principal,
                    "-n",
                    namespace,
                    "-s",
                    &sig.display().to_string(),
                ],
                Some(message),
            )?;
            if checked.ok {
                let key = checked
                    .stdout
                    .rsplit_once(" key ")
                    .map(|(_, k)| k.trim().to_string())
                    .unwrap_or_default();
                return Ok(SshSignOff {
                    principal: principal.to_string(),
                    key,
                    namespace: namespace.to_string(),
                    message: message.to_string(),
                    signature,
                });
            }
            last = checked.stderr.trim().to_string();
        }
        Err(format!(
            "the signature in {} does not sign {} in namespace {namespace} ({}, or by a key not allowed to sign for this role): {}; {}",
            sig.display(),
            purpose.text,
            purpose.other,
            crate::text::one_line(&last),
            purpose.nothing
        ))
    }
}

struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Run `ssh-keygen args`, with `input` on its standard input.
fn ssh_keygen(args: &[&str], input: Option<&str>) -> Result<Ran, String> {
    let mut child = Command::new("ssh-keygen")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!(
                "cannot run ssh-keygen to check the signature ({e}); install OpenSSH's client tools"
            )
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.unwrap_or_default().as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("ssh-keygen failed: {e}"))?;
    Ok(Ran {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
