//! C2SP transparency log checkpoints (c2sp.org/tlog-checkpoint v1.0.0): the
//! note text that states a log's tree head, and the signed note that carries
//! it with the log's signature and any witness cosignatures.
//!
//! May not depend on anything in the crate outside `custody`.
//!
//! # The bytes
//!
//! A checkpoint is a note text (see [`super::note`]) of at least three lines,
//! each ending in `\n` and none empty:
//!
//! ```text
//! <origin>\n
//! <tree size>\n
//! <root hash>\n
//! <extension line>\n      (zero or more)
//! ```
//!
//! - **origin**: any non-empty line (the spec recommends, but does not
//!   require, a schema-less URL without spaces or `+`, so none is enforced).
//! - **tree size**: ASCII decimal digits only, no sign, no leading zero
//!   (`0` for the empty tree), at most 2^64-1.
//! - **root hash**: the 32-byte RFC 6962 root in canonical standard base64
//!   (RFC 4648 §4): 44 characters ending in one `=`.
//! - **extension lines**: opaque, non-empty. (Not recommended by the spec;
//!   runsheet writes none but reads them.)
//!
//! For example (from the spec):
//!
//! ```text
//! example.com/behind-the-sofa
//! 20852163
//! CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
//! ```
//!
//! A **signed checkpoint** is that text as a signed note. Its log signature
//! must be by a key whose name equals the origin (the spec says SHOULD;
//! runsheet requires it, see [`SignedCheckpoint::verify`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::note::{self, Note, NoteError, Signer, Verified, Verifier, quote};

pub use super::merkle::Hash;

/// Why a checkpoint could not be read, made or verified. Line numbers count
/// from 1.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The text is not a valid note text, or the signed note is malformed or
    /// does not verify.
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error(
        "a checkpoint has at least three lines (origin, tree size, root hash), but this one has {lines}"
    )]
    TooFewLines { lines: usize },
    #[error("line 1: the origin is empty")]
    EmptyOrigin,
    #[error("line {line}: a checkpoint line may not contain a newline")]
    Newline { line: usize },
    #[error("line 2: the tree size {} is not a decimal number (digits 0-9 only)", quote(.text))]
    SizeNotDecimal { text: String },
    #[error("line 2: the tree size {} has a leading zero", quote(.text))]
    SizeLeadingZero { text: String },
    #[error("line 2: the tree size {} is larger than 18446744073709551615", quote(.text))]
    SizeTooLarge { text: String },
    #[error("line 3: the root hash is not valid base64 (standard alphabet, with \"=\" padding)")]
    RootNotBase64,
    #[error("line 3: the root hash is {len} bytes; a SHA-256 root hash is 32")]
    RootLength { len: usize },
    #[error("line {line}: extension lines may not be empty")]
    EmptyExtension { line: usize },
    #[error(
        "the log key is named {} but the checkpoint's origin is {}; a log's key must be named after its origin. Check that this is the right log's key",
        quote(.key_name),
        quote(.origin)
    )]
    NameNotOrigin { key_name: String, origin: String },
    #[error(
        "the checkpoint has no signature by the log key {name} (key ID {key_id:08x}), only by other known keys"
    )]
    NotSignedByLog { name: String, key_id: u32 },
}

/// A checkpoint's note text, checked: every `Checkpoint` has a
/// [`Checkpoint::text`] that [`Checkpoint::parse`] reads back as the same
/// checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Checkpoint, CheckpointError> {
        Checkpoint::with_extensions(origin, size, root, Vec::new())
    }

    /// A checkpoint with extension lines (each non-empty, no newline).
    pub fn with_extensions(
        origin: &str,
        size: u64,
        root: Hash,
        extensions: Vec<String>,
    ) -> Result<Checkpoint, CheckpointError> {
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        if origin.contains('\n') {
            return Err(CheckpointError::Newline { line: 1 });
        }
        for (i, extension) in extensions.iter().enumerate() {
            let line = 4 + i;
            if extension.is_empty() {
                return Err(CheckpointError::EmptyExtension { line });
            }
            if extension.contains('\n') {
                return Err(CheckpointError::Newline { line });
            }
        }
        let checkpoint = Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        };
        // Control characters (with their line and column) and the size limit.
        note::check_text(&checkpoint.text())?;
        Ok(checkpoint)
    }

    /// Reads a checkpoint note text (the text part of a note only: no
    /// separator, no signature lines).
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        note::check_text(text)?;
        // check_text guarantees the final newline.
        let body = text.strip_suffix('\n').unwrap_or(text);
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(CheckpointError::TooFewLines { lines: lines.len() });
        };
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let size = parse_size(size)?;
        let root = parse_root(root)?;
        for (i, extension) in extensions.iter().enumerate() {
            if extension.is_empty() {
                return Err(CheckpointError::EmptyExtension { line: 4 + i });
            }
        }
        Ok(Checkpoint {
            origin: (*origin).to_owned(),
            size,
            root,
            extensions: extensions.iter().map(|e| (*e).to_owned()).collect(),
        })
    }

    /// The note text: `<origin>\n<size>\n<base64 root>\n`, then each
    /// extension line and `\n`.
    pub fn text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        );
        for extension in &self.extensions {
            text.push_str(extension);
            text.push('\n');
        }
        text
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size: the number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree's root hash.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }
}

fn parse_size(text: &str) -> Result<u64, CheckpointError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CheckpointError::SizeNotDecimal {
            text: text.to_owned(),
        });
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(CheckpointError::SizeLeadingZero {
            text: text.to_owned(),
        });
    }
    text.parse::<u64>()
        .map_err(|_| CheckpointError::SizeTooLarge {
            text: text.to_owned(),
        })
}

fn parse_root(text: &str) -> Result<Hash, CheckpointError> {
    let bytes = BASE64
        .decode(text)
        .map_err(|_| CheckpointError::RootNotBase64)?;
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| CheckpointError::RootLength { len })
}

/// What [`SignedCheckpoint::verify_cosigned`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointVerification {
    /// The log's signature (its `verifier` is 0).
    pub log: Verified,
    /// One entry per given cosigner that cosigned, in line order; `verifier`
    /// is the index into the `cosigners` list.
    pub cosignatures: Vec<Verified>,
}

/// A checkpoint with its signed note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    note: Note,
}

impl SignedCheckpoint {
    /// Reads a signed note whose text is a checkpoint. Verifies nothing.
    pub fn parse(note: &str) -> Result<SignedCheckpoint, CheckpointError> {
        let note = Note::parse(note)?;
        let checkpoint = Checkpoint::parse(note.text())?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// Signs a checkpoint with the log's key, which must be named after the
    /// origin.
    pub fn sign(checkpoint: Checkpoint, log: &Signer) -> Result<SignedCheckpoint, CheckpointError> {
        if log.name() != checkpoint.origin {
            return Err(CheckpointError::NameNotOrigin {
                key_name: log.name().to_owned(),
                origin: checkpoint.origin,
            });
        }
        let text = checkpoint.text();
        let line = log.sign(&text)?;
        let note = Note::with_signatures(&text, [line])?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    pub fn note(&self) -> &Note {
        &self.note
    }

    /// Adds (or replaces, for the same name and key ID) a signature line,
    /// e.g. a witness's cosignature. Verifies nothing.
    pub fn add_signature(&mut self, line: &str) -> Result<(), CheckpointError> {
        Ok(self.note.add_signature(line)?)
    }

    /// The signed note's exact bytes.
    pub fn format(&self) -> String {
        self.note.format()
    }

    /// Verifies the log's signature. Refuses a log verifier whose name is not
    /// the origin; other signature lines are ignored.
    pub fn verify(&self, log: &Verifier) -> Result<Verified, CheckpointError> {
        Ok(self.verify_cosigned(log, &[])?.log)
    }

    /// Verifies the log's signature and the cosignatures of the given
    /// cosigners (verifiers of either kind) that signed. A known key's line
    /// that fails refuses the whole checkpoint; cosigners that did not sign
    /// are simply absent from the result (any quorum is the caller's
    /// policy).
    pub fn verify_cosigned(
        &self,
        log: &Verifier,
        cosigners: &[Verifier],
    ) -> Result<CheckpointVerification, CheckpointError> {
        if log.name() != self.checkpoint.origin {
            return Err(CheckpointError::NameNotOrigin {
                key_name: log.name().to_owned(),
                origin: self.checkpoint.origin.clone(),
            });
        }
        let mut known = Vec::with_capacity(1 + cosigners.len());
        known.push(log.clone());
        known.extend_from_slice(cosigners);
        let mut log_signature = None;
        let mut cosignatures = Vec::new();
        for mut verified in self.note.verify(&known)? {
            if verified.verifier == 0 {
                log_signature = Some(verified);
            } else {
                verified.verifier -= 1;
                cosignatures.push(verified);
            }
        }
        let log = log_signature.ok_or_else(|| CheckpointError::NotSignedByLog {
            name: log.name().to_owned(),
            key_id: log.key_id(),
        })?;
        Ok(CheckpointVerification { log, cosignatures })
    }
}

#[cfg(test)]
mod tests;
