//! C2SP checkpoint cosignatures (c2sp.org/tlog-cosignature), Ed25519 only
//! (signature type 0x04, "cosignature/v1"): a cosigner's timestamped
//! statement that it saw a checkpoint as the largest consistent tree head of
//! its log.
//!
//! May not depend on anything in the crate outside `custody`.
//!
//! # The bytes
//!
//! The **key ID** of a cosigner is
//! `SHA-256(<name> ‖ 0x0A ‖ 0x04 ‖ 32-byte Ed25519 public key)[:4]`, and its
//! verifier key is `<name>+<key ID>+<base64(0x04 ‖ public key)>` (see
//! [`super::note`]).
//!
//! The **signed message** for timestamp `t` (POSIX seconds, at most 2^63-1)
//! is
//!
//! ```text
//! cosignature/v1\n
//! time <t in ASCII decimal, no leading zeroes>\n
//! <the checkpoint's whole note text, extension lines included>
//! ```
//!
//! e.g. `"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"`.
//!
//! The **cosignature line** is a note signature line whose decoded bytes are
//! 76: the 4-byte key ID, the 8-byte big-endian timestamp, and the 64-byte
//! Ed25519 signature of the signed message:
//!
//! ```text
//! — <name> base64(key ID ‖ u64 BE timestamp ‖ Ed25519 signature)\n
//! ```
//!
//! [`super::note::Note::verify`] verifies cosignature lines of known
//! cosigners alongside note signatures, so one list of verifiers of either
//! kind checks a log's checkpoint with its witnesses' cosignatures.

use std::fmt;

use ed25519_dalek::Signer as _;
use ed25519_dalek::SigningKey;

use super::checkpoint::{Checkpoint, CheckpointError};
use super::note::{
    self, KeyError, KeyKind, NameError, NoteError, NoteSignature, SignatureFailure,
    SignatureLineProblem, Verifier,
};

/// The first line of the signed message, newline included.
pub const HEADER: &str = "cosignature/v1\n";

/// The largest timestamp a cosignature may carry: 2^63-1.
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// The signed message: `cosignature/v1\ntime <timestamp>\n` ‖ note text.
pub fn signed_message(timestamp: u64, checkpoint_text: &str) -> String {
    format!("{HEADER}time {timestamp}\n{checkpoint_text}")
}

/// Splits the 72 bytes after a cosignature's key ID into the timestamp and
/// the Ed25519 signature; `None` for any other length.
pub fn split_timestamped(bytes: &[u8]) -> Option<(u64, &[u8; 64])> {
    let (timestamp, signature) = bytes.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*timestamp), signature.try_into().ok()?))
}

/// The timestamp a signature line claims if it is shaped as an Ed25519
/// cosignature (72 bytes after the key ID). Not verified: for display only.
pub fn unverified_timestamp(signature: &NoteSignature) -> Option<u64> {
    split_timestamped(signature.bytes()).map(|(timestamp, _)| timestamp)
}

/// Why a cosignature could not be made or verified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CosignError {
    #[error("the text to cosign is not a checkpoint: {0}")]
    NotCheckpoint(CheckpointError),
    #[error("the note text: {0}")]
    Text(NoteError),
    #[error("the timestamp {timestamp} is larger than 2^63-1, the largest a cosignature may carry")]
    Timestamp { timestamp: u64 },
    #[error(
        "the key {name} (key ID {key_id:08x}) is a note signing key (type 0x01), not a cosigner key (type 0x04)"
    )]
    NotCosignerKey { name: String, key_id: u32 },
    #[error("the cosignature line: {0}")]
    BadLine(SignatureLineProblem),
    #[error(
        "the cosignature is by {name} (key ID {key_id:08x}), not by the cosigner {expected_name} (key ID {expected_key_id:08x})"
    )]
    OtherKey {
        name: String,
        key_id: u32,
        expected_name: String,
        expected_key_id: u32,
    },
    #[error("the cosignature by {name} (key ID {key_id:08x}) does not verify: {reason}")]
    BadSignature {
        name: String,
        key_id: u32,
        reason: SignatureFailure,
    },
}

/// An Ed25519 cosigner key (type 0x04): name, private key, key ID. Its
/// `Debug` shows the name and key ID only.
pub struct Cosigner {
    name: String,
    key: SigningKey,
    key_id: u32,
}

impl Cosigner {
    /// A new cosigner key with `name`, from the operating system's random
    /// source.
    pub fn generate(name: &str) -> Result<Cosigner, KeyError> {
        let seed = note::random_seed()?;
        Ok(Cosigner::from_seed(name, &seed)?)
    }

    /// The cosigner with `name` and the 32-byte Ed25519 private key (seed).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Cosigner, NameError> {
        let name = note::checked_name(name)?;
        let key = SigningKey::from_bytes(seed);
        let key_id = note::key_id(
            &name,
            KeyKind::CosignatureEd25519,
            key.verifying_key().as_bytes(),
        );
        Ok(Cosigner { name, key, key_id })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The public half, as a verifier of kind
    /// [`KeyKind::CosignatureEd25519`].
    pub fn verifier(&self) -> Verifier {
        Verifier::from_parts(
            self.name.clone(),
            KeyKind::CosignatureEd25519,
            self.key.verifying_key(),
        )
    }

    /// The cosignature line for a checkpoint note text at `timestamp`
    /// (POSIX seconds): `— <name> base64(key ID ‖ timestamp BE ‖ signature)\n`.
    /// Refuses a text that is not a checkpoint and a timestamp above 2^63-1.
    pub fn cosign(&self, checkpoint_text: &str, timestamp: u64) -> Result<String, CosignError> {
        Checkpoint::parse(checkpoint_text).map_err(CosignError::NotCheckpoint)?;
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignError::Timestamp { timestamp });
        }
        let message = signed_message(timestamp, checkpoint_text);
        let signature = self.key.sign(message.as_bytes()).to_bytes();
        let mut bytes = Vec::with_capacity(8 + 64);
        bytes.extend_from_slice(&timestamp.to_be_bytes());
        bytes.extend_from_slice(&signature);
        Ok(note::signature_line(&self.name, self.key_id, &bytes))
    }

    /// The 32-byte private key (seed), for the private key text.
    pub(super) fn seed(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }
}

impl fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cosigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

/// Verifies one cosignature line (`— <name> <base64>`, newline optional) of
/// a note text by `verifier`, which must be a cosigner key with the line's
/// name and key ID. Returns the cosignature's timestamp.
pub fn verify_cosignature(
    verifier: &Verifier,
    checkpoint_text: &str,
    line: &str,
) -> Result<u64, CosignError> {
    note::check_text(checkpoint_text).map_err(CosignError::Text)?;
    if verifier.kind() != KeyKind::CosignatureEd25519 {
        return Err(CosignError::NotCosignerKey {
            name: verifier.name().to_owned(),
            key_id: verifier.key_id(),
        });
    }
    let signature = NoteSignature::parse_line(line).map_err(CosignError::BadLine)?;
    if signature.name() != verifier.name() || signature.key_id() != verifier.key_id() {
        return Err(CosignError::OtherKey {
            name: signature.name().to_owned(),
            key_id: signature.key_id(),
            expected_name: verifier.name().to_owned(),
            expected_key_id: verifier.key_id(),
        });
    }
    let bad = |reason| CosignError::BadSignature {
        name: signature.name().to_owned(),
        key_id: signature.key_id(),
        reason,
    };
    match verifier.verify_signature(checkpoint_text, signature.bytes()) {
        Ok(Some(timestamp)) => Ok(timestamp),
        // A cosigner verifier always yields a timestamp.
        Ok(None) => Err(bad(SignatureFailure::Mismatch)),
        Err(reason) => Err(bad(reason)),
    }
}

#[cfg(test)]
mod tests;
