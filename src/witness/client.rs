//! The log's side of cosigning (`runsheet cosign`): the add-checkpoint body
//! from the size a witness last cosigned to the log's latest checkpoint, a
//! witness reached through a command (`sh -c`, e.g. over ssh) with one retry
//! from the size it names on a conflict, and the cosignature lines it returns
//! checked against the witness's key and a stored checkpoint before they are
//! stored.
//!
//! May use the store, `custody`, `error` and `text`; may not depend on the engine,
//! the front ends, `cli` or `app`.

use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};

use crate::custody::checkpoint::SignedCheckpoint;
use crate::custody::cosign;
use crate::custody::merkle::{self, EMPTY_ROOT};
use crate::custody::note::{KeyKind, NoteSignature, Verifier};
use crate::custody::proof_text::{self, AddCheckpoint};
use crate::error::{Error, Result, code};
use crate::store::Store;

/// The most a witness command's standard output may hold (cosignature lines
/// are ~130 bytes each).
const MAX_RESPONSE_BYTES: u64 = 1 << 20;

/// An add-checkpoint request for a witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The old size (the witness's last cosigned size).
    pub old: u64,
    /// The size of the checkpoint sent.
    pub new: u64,
    /// The body, verbatim.
    pub body: String,
}

/// What storing a witness's cosignature lines did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Added {
    /// `(tree size, newly stored)` per cosignature by the witness.
    pub stored: Vec<(u64, bool)>,
    /// Lines by other keys, ignored (lenient mode only).
    pub ignored: usize,
}

/// How `cosign --via` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViaOutcome {
    /// The witness cosigned; its lines are stored.
    Cosigned { request: Request, added: Added },
    /// The witness refused the checkpoint as a fork (exit 8): its message.
    Fork { request: Request, message: String },
}

/// Refuses a witness key that is not an Ed25519 cosigner key.
pub fn check_witness_key(witness: &Verifier) -> Result<()> {
    if witness.kind() != KeyKind::CosignatureEd25519 {
        return Err(Error::Input(format!(
            "--witness {}: not a witness's cosigner key (type 0x04) but a key of kind {}, such as a log's; pass the key `runsheet witness key` prints on the witness's machine",
            witness.to_vkey(),
            witness.kind()
        )));
    }
    Ok(())
}

/// The add-checkpoint body from the tree of `old` records to the log's latest
/// signed checkpoint (signed now when none covers the head). The proof is
/// read from the stored tree, so `old` needs no stored checkpoint, and it is
/// verified against the tree's root at `old` before it is handed out.
pub fn request(store: &mut Store, old: u64) -> Result<Request> {
    let cp = store.make_checkpoint("requested")?;
    let signed = SignedCheckpoint::parse(&cp.note)
        .map_err(|e| Error::Internal(format!("the log's own checkpoint: {e}")))?;
    let new = signed.checkpoint().size();
    if old > new {
        return Err(Error::CheckFailed(format!(
            "the witness has cosigned a tree of {old} records, but this log's latest signed checkpoint covers {new}: the log was cut short, or the witness knows another log by this origin. Run `runsheet verify`"
        )));
    }
    let proof = store.consistency_proof(old, new)?;
    let old_root = if old == 0 {
        EMPTY_ROOT
    } else {
        store.tree_root(old)?
    };
    merkle::verify_consistency(old, new, &old_root, signed.checkpoint().root(), &proof).map_err(
        |why| {
            Error::CheckFailed(format!(
                "the log's stored tree does not prove its latest checkpoint ({new} records) consistent with its tree of {old} ({why}); nothing was sent. Run `runsheet verify`"
            ))
        },
    )?;
    let body = AddCheckpoint {
        old_size: old,
        proof,
        checkpoint: cp.note,
    }
    .format();
    Ok(Request { old, new, body })
}

/// Stores the cosignature lines in `text` (one per line; empty lines are
/// skipped) by `witness`. Each is verified against the stored checkpoint it
/// cosigns (`hint`'s size first, then every stored one, newest first) and
/// then stored with [`Store::add_cosignature`], which verifies it again.
/// `strict`: a line by another key is refused (nothing is stored); else it
/// is ignored, as tlog-witness asks of a client. At least one line must be
/// the witness's.
pub fn add_lines(
    store: &mut Store,
    witness: &Verifier,
    text: &str,
    hint: Option<u64>,
    strict: bool,
) -> Result<Added> {
    let mut ours = Vec::new();
    let mut added = Added::default();
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let signature = NoteSignature::parse_line(line).map_err(|e| {
            Error::Input(format!(
                "line {number} is not a cosignature line (`— <witness name> <base64>`): {e}"
            ))
        })?;
        if signature.name() != witness.name() || signature.key_id() != witness.key_id() {
            if strict {
                return Err(Error::Input(format!(
                    "line {number} is a signature by {:?} (key ID {:08x}), not by the witness {}; nothing was stored. Pass --witness with the key of the witness that returned it",
                    crate::text::sanitize_line(signature.name()),
                    signature.key_id(),
                    witness.to_vkey()
                )));
            }
            added.ignored += 1;
            continue;
        }
        ours.push((number, line.to_string()));
    }
    if ours.is_empty() {
        return Err(Error::CheckFailed(format!(
            "the witness's answer holds no cosignature by {}; nothing was stored",
            witness.to_vkey()
        )));
    }
    let mut checkpoints = store.checkpoints()?;
    checkpoints.reverse();
    if let Some(size) = hint
        && let Some(at) = checkpoints.iter().position(|c| c.tree_size == size)
    {
        let first = checkpoints.remove(at);
        checkpoints.insert(0, first);
    }
    let mut found = Vec::with_capacity(ours.len());
    for (number, line) in &ours {
        let size = checkpoints.iter().find_map(|cp| {
            let signed = SignedCheckpoint::parse(&cp.note).ok()?;
            cosign::verify_cosignature(witness, signed.note().text(), line)
                .ok()
                .map(|_| cp.tree_size)
        });
        let Some(size) = size else {
            return Err(Error::CheckFailed(format!(
                "line {number}: the cosignature by {} verifies against none of this log's signed checkpoints; nothing was stored. It was made for another log or another checkpoint, or changed on the way",
                witness.to_vkey()
            )));
        };
        found.push((size, line));
    }
    for (size, line) in found {
        let new = store.add_cosignature(size, witness, line)?;
        added.stored.push((size, new));
    }
    Ok(added)
}

/// `cosign --via CMD`: sends the request from the size the log knows the
/// witness cosigned to `sh -c CMD`'s standard input and stores the
/// cosignatures from its standard output. On the conflict exit code the
/// witness's size is read from its output and the request is sent once more
/// from there. The command's standard error is passed on through
/// `on_stderr`; the log's key file variable is not passed to it.
pub fn via(
    store: &mut Store,
    witness: &Verifier,
    cmd: &str,
    mut on_stderr: impl FnMut(&str),
) -> Result<ViaOutcome> {
    let mut old = store.witnessed_size(witness)?;
    for attempt in 0..2 {
        let request = request(store, old)?;
        let (status, stdout, stderr) = run(cmd, &request.body)?;
        for line in stderr.lines() {
            on_stderr(line);
        }
        match status {
            Some(code::OK) => {
                // An answer that cannot be stored is the witness's failure
                // (exit 1, as any other), not bad input of the operator's.
                let added =
                    add_lines(store, witness, &stdout, Some(request.new), false).map_err(|e| {
                        match e {
                            Error::Input(m) => Error::CheckFailed(format!(
                                "the witness's answer cannot be stored: {m}"
                            )),
                            other => other,
                        }
                    })?;
                return Ok(ViaOutcome::Cosigned { request, added });
            }
            Some(code::WITNESS_CONFLICT) if attempt == 0 => {
                old = proof_text::parse_size_line(&stdout).map_err(|e| {
                    Error::CheckFailed(format!(
                        "the witness command exited {} (conflict) but its output is not its tree size: {e}",
                        code::WITNESS_CONFLICT
                    ))
                })?;
            }
            Some(code::WITNESS_CONFLICT) => {
                return Err(Error::CheckFailed(format!(
                    "the witness refused the request from its own size {old} again (conflict); another log may be cosigning under this origin. Nothing was stored"
                )));
            }
            Some(code::WITNESS_FORK) => {
                return Ok(ViaOutcome::Fork {
                    request,
                    message: stderr.trim().to_string(),
                });
            }
            other => {
                return Err(Error::CheckFailed(format!(
                    "the witness command `{}` {}; nothing was stored (its messages are above)",
                    crate::text::sanitize_line(cmd),
                    match other {
                        Some(n) => format!("exited {n}"),
                        None => "was killed by a signal".to_string(),
                    }
                )));
            }
        }
    }
    Err(Error::Internal("cosign --via: no attempt left".into()))
}

/// Runs `sh -c cmd` with `input` on its standard input: its exit code, and
/// its standard output and error (each at most 1 MiB, as text).
fn run(cmd: &str, input: &str) -> Result<(Option<i32>, String, String)> {
    let io = |e: &std::io::Error| Error::io("<witness command>", e);
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env_remove("RUNSHEET_KEY_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io(&e))?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| Error::Internal("the witness command has no stdin".into()))?;
    let body = input.to_string();
    // A command that does not read its input gets EPIPE here: not an error
    // of ours, its exit code says what happened.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(body.as_bytes());
    });
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(pipe) = pipe {
                let _ = pipe.take(MAX_RESPONSE_BYTES).read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let status = child.wait().map_err(|e| io(&e))?;
    let _ = writer.join();
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok((status.code(), stdout, stderr))
}
