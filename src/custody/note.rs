//! C2SP signed notes (c2sp.org/signed-note v1.0.0) with Ed25519: key names,
//! key IDs, verifier keys ("vkeys"), signing a note text, and parsing,
//! formatting and verifying signed notes.
//!
//! May not depend on anything in the crate outside `custody`.
//!
//! # The bytes
//!
//! A **note text** is UTF-8, ends in a newline (0x0A) and contains no ASCII
//! control character (U+0000–U+001F) other than newline. It may contain empty
//! lines. `"\n"` alone is a valid note text.
//!
//! A **signed note** is the note text, one newline (the empty separator
//! line), then one or more **signature lines**:
//!
//! ```text
//! <note text>\n
//! — <key name> <base64(key ID ‖ signature)>\n
//! ```
//!
//! `—` is the em dash U+2014 (UTF-8 `e2 80 94`), followed by one space
//! (0x20), the key name, one space, the signature in standard base64 (RFC
//! 4648 §4: alphabet `A–Z a–z 0–9 + /`, `=` padding, no line breaks) and a
//! newline. The decoded signature is the 4-byte key ID (big-endian) followed
//! by the signature proper. Parsing splits the text from the signatures at the
//! **last** empty line, so a text ending in empty lines survives
//! (`"a\n\n"` signed is `"a\n\n\n— …\n"`).
//!
//! A **key name** is non-empty and contains no Unicode white space, no `+` and
//! no control character.
//!
//! A **key ID** is `SHA-256(key name ‖ 0x0A ‖ type ‖ 32-byte public key)[:4]`
//! read big-endian, where `type` is the signature type byte: 0x01 for Ed25519
//! note signatures, 0x04 for Ed25519 cosignatures (c2sp.org/tlog-cosignature,
//! see [`super::cosign`]).
//!
//! A **verifier key** is `<key name>+<key ID as 8 lowercase hex
//! digits>+<base64(type ‖ 32-byte Ed25519 public key)>`, e.g.
//! `example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k`.
//!
//! The signature proper is, for type 0x01, the 64-byte Ed25519 (RFC 8032)
//! signature of the note text's bytes; for type 0x04, the 8-byte big-endian
//! timestamp followed by the 64-byte Ed25519 signature of
//! `cosignature/v1\ntime <timestamp in decimal>\n` ‖ note text.
//!
//! # Rules, as implemented
//!
//! Parsing ([`Note::parse`]) refuses a note larger than [`MAX_NOTE_BYTES`],
//! with more than [`MAX_SIGNATURES`] signature lines, with a malformed
//! signature line, or with a decoded signature shorter than 5 bytes (a key ID
//! and at least one byte, as Go's `golang.org/x/mod/sumdb/note` requires).
//! Base64 must be canonical (padding present, unused bits zero).
//!
//! Verifying ([`Note::verify`]) looks every signature line up by its (key
//! name, key ID) among the known verifiers: a line matching none is ignored,
//! even if its name or its ID (but not both) matches a known key. A line
//! matching one is verified, strictly (`verify_strict`: no small-order keys or
//! `R`, canonical `S`); if it fails, the whole note is refused, naming the
//! line. Every matching line is verified, repeated ones included (Go checks
//! only the first line per key). If no line verifies, the note is refused.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::Signer as _;
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::cosign;

/// The largest signed note [`Note::parse`] reads, in bytes (the whole note:
/// text, separator and signature lines). The text a [`Signer`] signs is held
/// to the same limit.
pub const MAX_NOTE_BYTES: usize = 1_000_000;

/// The most signature lines a note may carry (the spec asks for at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// Signature type byte of Ed25519 note signatures.
pub const TYPE_ED25519: u8 = 0x01;

/// Signature type byte of timestamped Ed25519 checkpoint cosignatures.
pub const TYPE_COSIGNATURE_ED25519: u8 = 0x04;

/// The start of every signature line: an em dash (U+2014) and a space.
pub const SIGNATURE_LINE_PREFIX: &str = "\u{2014} ";

/// Which of the two supported signature types a key makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// 0x01: Ed25519 signatures of the note text.
    Ed25519,
    /// 0x04: timestamped Ed25519 cosignatures (c2sp.org/tlog-cosignature).
    CosignatureEd25519,
}

impl KeyKind {
    /// The signature type byte.
    pub const fn type_byte(self) -> u8 {
        match self {
            KeyKind::Ed25519 => TYPE_ED25519,
            KeyKind::CosignatureEd25519 => TYPE_COSIGNATURE_ED25519,
        }
    }

    /// The kind of a signature type byte, if runsheet supports it.
    pub const fn from_type_byte(byte: u8) -> Option<KeyKind> {
        match byte {
            TYPE_ED25519 => Some(KeyKind::Ed25519),
            TYPE_COSIGNATURE_ED25519 => Some(KeyKind::CosignatureEd25519),
            _ => None,
        }
    }

    /// Length of the signature proper (after the 4-byte key ID).
    pub const fn signature_len(self) -> usize {
        match self {
            KeyKind::Ed25519 => 64,
            KeyKind::CosignatureEd25519 => 8 + 64,
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::Ed25519 => f.write_str("Ed25519 note signature (type 0x01)"),
            KeyKind::CosignatureEd25519 => f.write_str("Ed25519 cosignature (type 0x04)"),
        }
    }
}

/// The key ID of a key: `SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]`,
/// big-endian.
pub fn key_id(name: &str, kind: KeyKind, public_key: &[u8; 32]) -> u32 {
    let mut hash = Sha256::new();
    hash.update(name.as_bytes());
    hash.update([b'\n', kind.type_byte()]);
    hash.update(public_key);
    let digest = hash.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// What makes a key name invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    #[error("is empty")]
    Empty,
    #[error("contains white space (U+{:04X}); key names may contain none", code(&.0))]
    Space(char),
    #[error("contains \"+\", which key names may not")]
    Plus,
    #[error("contains the control character U+{:04X}", code(&.0))]
    Control(char),
}

fn code(c: &char) -> u32 {
    u32::from(*c)
}

/// Checks a key name: non-empty, no Unicode white space, no `+`, no control
/// character (a name with one could never appear in a note).
pub fn check_key_name(name: &str) -> Result<(), NameProblem> {
    if name.is_empty() {
        return Err(NameProblem::Empty);
    }
    for c in name.chars() {
        if c == '+' {
            return Err(NameProblem::Plus);
        }
        if c.is_whitespace() {
            return Err(NameProblem::Space(c));
        }
        if c < ' ' {
            return Err(NameProblem::Control(c));
        }
    }
    Ok(())
}

/// A string for an error message: quoted, escaped, and cut to 60 characters.
pub(super) fn quote(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut:?}…")
    }
}

/// An invalid key name, quoted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid key name {}: it {problem}", quote(.name))]
pub struct NameError {
    pub name: String,
    pub problem: NameProblem,
}

/// Why a new key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    BadName(#[from] NameError),
    #[error("could not read random bytes from the operating system for a new key: {0}")]
    Random(String),
}

/// 32 bytes from the operating system's random source.
pub(super) fn random_seed() -> Result<[u8; 32], KeyError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(seed)
}

/// The name, if valid.
pub(super) fn checked_name(name: &str) -> Result<String, NameError> {
    check_key_name(name).map_err(|problem| NameError {
        name: name.to_owned(),
        problem,
    })?;
    Ok(name.to_owned())
}

/// A note signing key (type 0x01): key name, Ed25519 private key, key ID.
/// Its `Debug` shows the name and key ID only.
pub struct Signer {
    name: String,
    key: SigningKey,
    key_id: u32,
}

impl Signer {
    /// A new key with `name`, from the operating system's random source.
    pub fn generate(name: &str) -> Result<Signer, KeyError> {
        let seed = random_seed()?;
        Ok(Signer::from_seed(name, &seed)?)
    }

    /// The key with `name` and the 32-byte Ed25519 private key (RFC 8032
    /// seed) `seed`.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Signer, NameError> {
        let name = checked_name(name)?;
        let key = SigningKey::from_bytes(seed);
        let key_id = key_id(&name, KeyKind::Ed25519, key.verifying_key().as_bytes());
        Ok(Signer { name, key, key_id })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The public half, as a verifier of kind [`KeyKind::Ed25519`].
    pub fn verifier(&self) -> Verifier {
        Verifier::from_parts(
            self.name.clone(),
            KeyKind::Ed25519,
            self.key.verifying_key(),
        )
    }

    /// The signature line for a note text:
    /// `— <name> <base64(key ID ‖ 64-byte Ed25519 signature of text)>\n`.
    /// Refuses a text that is not a valid note text.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let signature = self.key.sign(text.as_bytes()).to_bytes();
        Ok(signature_line(&self.name, self.key_id, &signature))
    }

    /// The 32-byte private key (seed), for the private key text.
    pub(super) fn seed(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

/// `— <name> <base64(key ID ‖ signature)>\n`.
pub(super) fn signature_line(name: &str, key_id: u32, signature: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(4 + signature.len());
    bytes.extend_from_slice(&key_id.to_be_bytes());
    bytes.extend_from_slice(signature);
    format!("{SIGNATURE_LINE_PREFIX}{name} {}\n", BASE64.encode(bytes))
}

/// Why a verifier key could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VkeyError {
    #[error(
        "a verifier key has three parts separated by \"+\": <key name>+<key ID>+<key>; this one has {parts}"
    )]
    Parts { parts: usize },
    #[error("the key name {} {problem}", quote(.name))]
    BadName { name: String, problem: NameProblem },
    #[error("the key ID {} must be 8 lowercase hexadecimal digits", quote(.id))]
    BadKeyId { id: String },
    #[error("the key (the third part) is not valid base64 (standard alphabet, with \"=\" padding)")]
    BadBase64,
    #[error("the key (the third part) is empty")]
    Empty,
    #[error(
        "the key has signature type 0x{type_byte:02x}, which runsheet does not support; it supports 0x01 (Ed25519 note signatures) and 0x04 (Ed25519 cosignatures)"
    )]
    UnsupportedType { type_byte: u8 },
    #[error("an Ed25519 public key is 32 bytes, but this one is {len}")]
    KeyLength { len: usize },
    #[error("the key is not a valid Ed25519 public key")]
    InvalidKey,
    #[error(
        "the key is a small-order Ed25519 point, under which no signature can be trusted; this is not a real public key"
    )]
    WeakKey,
    #[error(
        "the key ID {found:08x} does not match the key name and key, which give {expected:08x}; the verifier key was mistyped or altered"
    )]
    KeyIdMismatch { found: u32, expected: u32 },
}

/// A public key that verifies signature lines: key name, key ID, kind and
/// Ed25519 public key. Made from a verifier key with [`Verifier::parse`] or
/// from a private key with `verifier()`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Verifier {
    name: String,
    key_id: u32,
    kind: KeyKind,
    key: VerifyingKey,
}

impl Verifier {
    /// The verifier of a key pair's public half (never a weak key).
    pub(super) fn from_parts(name: String, kind: KeyKind, key: VerifyingKey) -> Verifier {
        let key_id = key_id(&name, kind, key.as_bytes());
        Verifier {
            name,
            key_id,
            kind,
            key,
        }
    }

    /// The verifier for `name`, `kind` and a 32-byte Ed25519 public key; the
    /// key ID is computed. Refuses an invalid name, bytes that are not an
    /// Ed25519 point, and small-order points (under which `verify_strict`
    /// accepts nothing).
    pub fn new(name: &str, kind: KeyKind, public_key: &[u8; 32]) -> Result<Verifier, VkeyError> {
        check_key_name(name).map_err(|problem| VkeyError::BadName {
            name: name.to_owned(),
            problem,
        })?;
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| VkeyError::InvalidKey)?;
        if key.is_weak() {
            return Err(VkeyError::WeakKey);
        }
        Ok(Verifier::from_parts(name.to_owned(), kind, key))
    }

    /// Reads `<key name>+<8 lowercase hex digits>+<base64(type ‖ key)>` for
    /// type 0x01 or 0x04, refusing a key ID that does not match the name,
    /// type and key. Nothing may surround it (no spaces, no newline).
    pub fn parse(vkey: &str) -> Result<Verifier, VkeyError> {
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(key64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(VkeyError::Parts {
                parts: vkey.split('+').count(),
            });
        };
        check_key_name(name).map_err(|problem| VkeyError::BadName {
            name: name.to_owned(),
            problem,
        })?;
        let found = parse_key_id(id).ok_or_else(|| VkeyError::BadKeyId { id: id.to_owned() })?;
        let bytes = BASE64.decode(key64).map_err(|_| VkeyError::BadBase64)?;
        let (&type_byte, public_key) = bytes.split_first().ok_or(VkeyError::Empty)?;
        let kind =
            KeyKind::from_type_byte(type_byte).ok_or(VkeyError::UnsupportedType { type_byte })?;
        let public_key: &[u8; 32] = public_key.try_into().map_err(|_| VkeyError::KeyLength {
            len: public_key.len(),
        })?;
        let verifier = Verifier::new(name, kind, public_key)?;
        if verifier.key_id != found {
            return Err(VkeyError::KeyIdMismatch {
                found,
                expected: verifier.key_id,
            });
        }
        Ok(verifier)
    }

    /// The verifier key text: `<name>+<key ID, 8 lowercase hex>+<base64(type ‖ key)>`.
    pub fn to_vkey(&self) -> String {
        let mut bytes = Vec::with_capacity(33);
        bytes.push(self.kind.type_byte());
        bytes.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, BASE64.encode(bytes))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The 32-byte Ed25519 public key (RFC 8032 encoding).
    pub fn public_key(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// Verifies the signature proper (the bytes after the key ID) of a note
    /// text, strictly. Returns the cosignature's timestamp for a
    /// [`KeyKind::CosignatureEd25519`] key, `None` for a note key. Does not
    /// check that `text` is a valid note text.
    pub fn verify_signature(
        &self,
        text: &str,
        signature: &[u8],
    ) -> Result<Option<u64>, SignatureFailure> {
        let length = SignatureFailure::Length {
            kind: self.kind,
            len: signature.len(),
        };
        match self.kind {
            KeyKind::Ed25519 => {
                let signature: &[u8; 64] = signature.try_into().map_err(|_| length)?;
                self.verify_ed25519(text.as_bytes(), signature)?;
                Ok(None)
            }
            KeyKind::CosignatureEd25519 => {
                let (timestamp, signature) = cosign::split_timestamped(signature).ok_or(length)?;
                if timestamp > cosign::MAX_TIMESTAMP {
                    return Err(SignatureFailure::Timestamp { timestamp });
                }
                let message = cosign::signed_message(timestamp, text);
                self.verify_ed25519(message.as_bytes(), signature)?;
                Ok(Some(timestamp))
            }
        }
    }

    fn verify_ed25519(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), SignatureFailure> {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        self.key
            .verify_strict(message, &signature)
            .map_err(|_| SignatureFailure::Mismatch)
    }
}

impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_vkey())
    }
}

impl std::str::FromStr for Verifier {
    type Err = VkeyError;
    fn from_str(s: &str) -> Result<Verifier, VkeyError> {
        Verifier::parse(s)
    }
}

/// Exactly 8 lowercase hex digits.
pub(super) fn parse_key_id(id: &str) -> Option<u32> {
    if id.len() != 8 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u32::from_str_radix(id, 16).ok()
}

/// Why a signature from a known key did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureFailure {
    #[error(
        "an {kind} is {} bytes after the key ID, but this one is {len}",
        kind.signature_len()
    )]
    Length { kind: KeyKind, len: usize },
    #[error("its timestamp {timestamp} is larger than 2^63-1, the largest a cosignature may carry")]
    Timestamp { timestamp: u64 },
    #[error(
        "the note was changed after it was signed, or it was signed by another key with the same name and key ID"
    )]
    Mismatch,
}

/// What is wrong with a signature line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureLineProblem {
    #[error("a signature line must start with \"— \" (an em dash, U+2014, then a space)")]
    NoEmDash,
    #[error(
        "the line starts with {:?} (U+{:04X}); a signature line must start with an em dash (U+2014, \"—\"), then a space",
        .0, code(&.0)
    )]
    WrongDash(char),
    #[error("a signature line is one line, but this one contains a newline")]
    Newline,
    #[error(
        "there is no space between the key name and the signature; a signature line is \"— <key name> <signature>\""
    )]
    NoSpace,
    #[error("the key name {} {problem}", quote(.name))]
    BadName { name: String, problem: NameProblem },
    #[error("the signature is empty")]
    EmptySignature,
    #[error(
        "there is a space after the signature; a signature line is \"— <key name> <signature>\", and a key name contains no spaces"
    )]
    ExtraField,
    #[error("the signature is not valid base64 (standard alphabet, with \"=\" padding)")]
    BadBase64,
    #[error(
        "the signature is {len} bytes; it must be at least 5: a 4-byte key ID, then the signature itself"
    )]
    TooShort { len: usize },
}

/// Why a note could not be read, built or verified. Line numbers count from 1
/// over the whole note (text, the empty line, then the signature lines).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("the note is {size} bytes; runsheet reads notes of at most {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("line {line} is not valid UTF-8; a note is UTF-8 text")]
    NotUtf8 { line: usize },
    #[error(
        "line {line}, column {column}: the control character U+{code:04X} is not allowed; a note may contain no control characters other than newline"
    )]
    ControlCharacter {
        line: usize,
        column: usize,
        code: u32,
    },
    #[error("the note does not end with a newline; its text and every signature line end with one")]
    NoFinalNewline,
    #[error(
        "the note has no empty line before its signature lines; a signed note is its text, an empty line, then one or more lines \"— <key name> <signature>\""
    )]
    NoSignatureBlock,
    #[error("the note ends with an empty line (line {line}) and has no signature lines after it")]
    NoSignatures { line: usize },
    #[error("the note has {count} signature lines; runsheet reads at most {limit}")]
    TooManySignatures { count: usize, limit: usize },
    #[error("line {line}: {problem}")]
    BadSignatureLine {
        line: usize,
        problem: SignatureLineProblem,
    },
    #[error("line {line}: the signature by {name} (key ID {key_id:08x}) does not verify: {reason}")]
    BadSignature {
        line: usize,
        name: String,
        key_id: u32,
        reason: SignatureFailure,
    },
    #[error(
        "line {line}: {count} of the known keys are named {name} with key ID {key_id:08x}, so the signature cannot be checked; list each key once"
    )]
    AmbiguousKey {
        line: usize,
        name: String,
        key_id: u32,
        count: usize,
    },
    #[error("{}", not_verified_message(.signed_by, .known))]
    NotVerified {
        /// (name, key ID) of every signature line, in order.
        signed_by: Vec<(String, u32)>,
        /// (name, key ID) of every known verifier, in order.
        known: Vec<(String, u32)>,
    },
}

fn key_list(keys: &[(String, u32)]) -> String {
    keys.iter()
        .map(|(name, id)| format!("{name} (key ID {id:08x})"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn not_verified_message(signed_by: &[(String, u32)], known: &[(String, u32)]) -> String {
    let signed = key_list(signed_by);
    if known.is_empty() {
        format!("no verifier key was given to check the note with; it is signed by {signed}")
    } else {
        format!(
            "the note has no signature by a known key: it is signed by {signed}, but the known keys are {}. Check that the right verifier key was given",
            key_list(known)
        )
    }
}

/// Checks a note text: at most [`MAX_NOTE_BYTES`], no control character but
/// newline, ends with a newline.
pub fn check_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge {
            size: text.len(),
            limit: MAX_NOTE_BYTES,
        });
    }
    check_characters(text)?;
    if !text.ends_with('\n') {
        return Err(NoteError::NoFinalNewline);
    }
    Ok(())
}

fn check_characters(s: &str) -> Result<(), NoteError> {
    if !s.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Ok(());
    }
    for (index, line) in s.split('\n').enumerate() {
        if let Some((column, c)) = line.chars().enumerate().find(|(_, c)| *c < ' ') {
            return Err(NoteError::ControlCharacter {
                line: index + 1,
                column: column + 1,
                code: c as u32,
            });
        }
    }
    Ok(())
}

/// One signature line of a note, as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    name: String,
    key_id: u32,
    bytes: Vec<u8>,
    line: String,
}

impl NoteSignature {
    /// Reads one signature line, `— <name> <base64>`, with or without its
    /// final newline.
    pub fn parse_line(line: &str) -> Result<NoteSignature, SignatureLineProblem> {
        let body = line.strip_suffix('\n').unwrap_or(line);
        if body.contains('\n') {
            return Err(SignatureLineProblem::Newline);
        }
        let Some(rest) = body.strip_prefix(SIGNATURE_LINE_PREFIX) else {
            return Err(match body.chars().next() {
                // Hyphen-minus, hyphen, en dash, figure dash, minus sign.
                Some(c @ ('-' | '\u{2010}' | '\u{2013}' | '\u{2012}' | '\u{2212}')) => {
                    SignatureLineProblem::WrongDash(c)
                }
                _ => SignatureLineProblem::NoEmDash,
            });
        };
        let Some((name, encoded)) = rest.split_once(' ') else {
            return Err(SignatureLineProblem::NoSpace);
        };
        check_key_name(name).map_err(|problem| SignatureLineProblem::BadName {
            name: name.to_owned(),
            problem,
        })?;
        if encoded.is_empty() {
            return Err(SignatureLineProblem::EmptySignature);
        }
        if encoded.contains(' ') {
            return Err(SignatureLineProblem::ExtraField);
        }
        let decoded = BASE64
            .decode(encoded)
            .map_err(|_| SignatureLineProblem::BadBase64)?;
        let (id, bytes) = match decoded.split_first_chunk::<4>() {
            Some((id, bytes)) if !bytes.is_empty() => (id, bytes),
            _ => {
                return Err(SignatureLineProblem::TooShort { len: decoded.len() });
            }
        };
        Ok(NoteSignature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes(*id),
            bytes: bytes.to_vec(),
            line: format!("{body}\n"),
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID (the first 4 decoded bytes, big-endian).
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature proper: the decoded bytes after the key ID.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The line exactly as in the note, final newline included.
    pub fn line(&self) -> &str {
        &self.line
    }
}

/// A signature line that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Index of the verifier in the `known` list given to [`Note::verify`].
    pub verifier: usize,
    pub name: String,
    pub key_id: u32,
    pub kind: KeyKind,
    /// The timestamp of a cosignature; `None` for a note signature.
    pub timestamp: Option<u64>,
    /// The line number of the signature line in the note (from 1).
    pub line: usize,
}

/// A signed note: a valid note text and one to [`MAX_SIGNATURES`] signature
/// lines. Every `Note` formats to a note [`Note::parse`] reads back as the
/// same `Note`, of at most [`MAX_NOTE_BYTES`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// Reads a signed note.
    pub fn parse(note: &str) -> Result<Note, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                size: note.len(),
                limit: MAX_NOTE_BYTES,
            });
        }
        check_characters(note)?;
        if !note.ends_with('\n') {
            return Err(NoteError::NoFinalNewline);
        }
        let split = note.rfind("\n\n").ok_or(NoteError::NoSignatureBlock)?;
        let (text, block) = (&note[..=split], &note[split + 2..]);
        let first = first_signature_line(text);
        // The note ends with a newline, so a non-empty block does too.
        let Some(block) = block.strip_suffix('\n') else {
            return Err(NoteError::NoSignatures { line: first - 1 });
        };
        let count = block.split('\n').count();
        if count > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                count,
                limit: MAX_SIGNATURES,
            });
        }
        let signatures = block
            .split('\n')
            .enumerate()
            .map(|(i, line)| {
                NoteSignature::parse_line(line).map_err(|problem| NoteError::BadSignatureLine {
                    line: first + i,
                    problem,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Reads a signed note from bytes, refusing invalid UTF-8 (naming the
    /// line).
    pub fn parse_bytes(note: &[u8]) -> Result<Note, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                size: note.len(),
                limit: MAX_NOTE_BYTES,
            });
        }
        match std::str::from_utf8(note) {
            Ok(s) => Note::parse(s),
            Err(e) => {
                let good = &note[..e.valid_up_to()];
                let line = 1 + good.iter().filter(|&&b| b == b'\n').count();
                Err(NoteError::NotUtf8 { line })
            }
        }
    }

    /// A note of `text` and signature `lines` (each `— <name> <base64>`, with
    /// or without its newline), in order; a later line with the same (name,
    /// key ID) as an earlier one replaces it, as [`Note::add_signature`]
    /// does. At least one line is needed.
    pub fn with_signatures<I, S>(text: &str, lines: I) -> Result<Note, NoteError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        check_text(text)?;
        let mut note = Note {
            text: text.to_owned(),
            signatures: Vec::new(),
        };
        for line in lines {
            note.add_signature(line.as_ref())?;
        }
        if note.signatures.is_empty() {
            return Err(NoteError::NoSignatures {
                line: first_signature_line(text) - 1,
            });
        }
        Ok(note)
    }

    /// Adds a signature line at the end. An existing line with the same
    /// (name, key ID) is removed first, so a key has one line (as Go's
    /// `note.Sign` does). Refuses a malformed line, or one that would take
    /// the note past [`MAX_SIGNATURES`] or [`MAX_NOTE_BYTES`]; the note is
    /// then unchanged.
    pub fn add_signature(&mut self, line: &str) -> Result<(), NoteError> {
        let first = first_signature_line(&self.text);
        let signature =
            NoteSignature::parse_line(line).map_err(|problem| NoteError::BadSignatureLine {
                line: first + self.signatures.len(),
                problem,
            })?;
        let same = |s: &NoteSignature| s.name == signature.name && s.key_id == signature.key_id;
        let remaining = self.signatures.iter().filter(|s| !same(s)).count();
        let count = remaining + 1;
        if count > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                count,
                limit: MAX_SIGNATURES,
            });
        }
        let size = self.text.len()
            + 1
            + self
                .signatures
                .iter()
                .filter(|s| !same(s))
                .map(|s| s.line.len())
                .sum::<usize>()
            + signature.line.len();
        if size > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                size,
                limit: MAX_NOTE_BYTES,
            });
        }
        self.signatures.retain(|s| !same(s));
        self.signatures.push(signature);
        Ok(())
    }

    /// The note text (final newline included, separator excluded): the
    /// bytes the signatures sign.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// The signed note: text, `\n`, then every signature line verbatim.
    pub fn format(&self) -> String {
        let mut out = String::with_capacity(
            self.text.len() + 1 + self.signatures.iter().map(|s| s.line.len()).sum::<usize>(),
        );
        out.push_str(&self.text);
        out.push('\n');
        for signature in &self.signatures {
            out.push_str(&signature.line);
        }
        out
    }

    /// The line number of the `i`th signature line (from 0).
    pub fn signature_line_number(&self, i: usize) -> usize {
        first_signature_line(&self.text) + i
    }

    /// Verifies the note against the `known` verifiers (of either kind), per
    /// the module's rules: lines by unknown (name, key ID) pairs are
    /// ignored; a line by a known key must verify; at least one must. Returns
    /// one [`Verified`] per known key that signed, for its first line, in
    /// line order.
    pub fn verify(&self, known: &[Verifier]) -> Result<Vec<Verified>, NoteError> {
        let mut verified: Vec<Verified> = Vec::new();
        for (i, signature) in self.signatures.iter().enumerate() {
            let line = self.signature_line_number(i);
            let mut matching = known
                .iter()
                .enumerate()
                .filter(|(_, v)| v.name == signature.name && v.key_id == signature.key_id);
            let Some((index, verifier)) = matching.next() else {
                continue;
            };
            let others = matching.count();
            if others > 0 {
                return Err(NoteError::AmbiguousKey {
                    line,
                    name: signature.name.clone(),
                    key_id: signature.key_id,
                    count: others + 1,
                });
            }
            let timestamp = verifier
                .verify_signature(&self.text, &signature.bytes)
                .map_err(|reason| NoteError::BadSignature {
                    line,
                    name: signature.name.clone(),
                    key_id: signature.key_id,
                    reason,
                })?;
            if !verified.iter().any(|v| v.verifier == index) {
                verified.push(Verified {
                    verifier: index,
                    name: verifier.name.clone(),
                    key_id: verifier.key_id,
                    kind: verifier.kind,
                    timestamp,
                    line,
                });
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NotVerified {
                signed_by: self
                    .signatures
                    .iter()
                    .map(|s| (s.name.clone(), s.key_id))
                    .collect(),
                known: known.iter().map(|v| (v.name.clone(), v.key_id)).collect(),
            });
        }
        Ok(verified)
    }
}

/// The line number of the first signature line after `text`.
fn first_signature_line(text: &str) -> usize {
    text.bytes().filter(|&b| b == b'\n').count() + 2
}

#[cfg(test)]
mod oracle;
#[cfg(test)]
mod tests;
