//! Private keys as text and in key files: the log's note signing key (type
//! 0x01) and a cosigner's key (type 0x04), in the text format of Go's
//! `golang.org/x/mod/sumdb/note`, created and loaded with strict file
//! permissions.
//!
//! May not depend on anything in the crate outside `custody`. (The one
//! module of `custody` that does IO: key files only.)
//!
//! # The bytes
//!
//! A private key text is one line:
//!
//! ```text
//! PRIVATE+KEY+<key name>+<key ID, 8 lowercase hex digits>+<base64(type ‖ 32-byte Ed25519 seed)>
//! ```
//!
//! `type` is 0x01 for a note signing key ([`Signer`]) and 0x04 for a
//! cosigner key ([`Cosigner`]); the seed is the RFC 8032 private key. The key
//! ID is that of the public key (see [`super::note`]) and must match it. The
//! base64 is standard with padding (44 characters), so it may itself contain
//! `+`. Go's `note.NewSigner` reads the 0x01 form, e.g.
//! `PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz`.
//!
//! A **key file** holds the private key text followed by at most one
//! newline, nothing else.
//!
//! # Key file rules
//!
//! [`create_key_file`] creates the file with `O_CREAT | O_EXCL` (never
//! overwriting anything, not following a symlink at the path) and mode 0600
//! from the start, writes it, and fsyncs the file and then its directory. A
//! partly written file is removed.
//!
//! [`load_key_file`] opens the path (following symlinks: a symlinked key,
//! as systemd credentials and Kubernetes secrets are, is allowed) and checks
//! the opened file itself, so the checks apply to the bytes read:
//!
//! - a regular file (not a directory, FIFO or device; opened non-blocking so
//!   a FIFO cannot hang the read),
//! - no permission bits for group or others (`mode & 0o077 == 0`: 0600 and
//!   0400 are the usual modes),
//! - owned by the effective user or by root (a key another user owns is a
//!   key that user can replace or read),
//! - at most 4 KiB, UTF-8, exactly one line (a final newline is allowed; no
//!   carriage return, no surrounding spaces).
//!
//! No error message quotes any part of a private key text (not even the
//! name, which in a damaged file may be key material).

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::cosign::Cosigner;
use super::note::{self, KeyKind, NameProblem, Signer, Verifier};

/// The start of every private key text.
pub const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// The largest key file [`load_key_file`] reads (a key text is under 100
/// bytes plus the name).
pub const MAX_KEY_FILE_BYTES: u64 = 4096;

/// What is wrong with a private key text. Never quotes the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrivateKeyError {
    #[error(
        "it is a public verifier key (<key name>+<key ID>+<key>), not a private key; a private key starts with \"PRIVATE+KEY+\""
    )]
    PublicKey,
    #[error("it does not start with \"PRIVATE+KEY+\", so it is not a private key")]
    NoPrefix,
    #[error(
        "it has {fields} of the 5 fields of a private key, PRIVATE+KEY+<key name>+<key ID>+<key>"
    )]
    Fields { fields: usize },
    #[error("its key name (the third field) {0}")]
    BadName(NameProblem),
    #[error("its key ID (the fourth field) is not 8 lowercase hexadecimal digits")]
    BadKeyId,
    #[error(
        "its key (the fifth field) is not valid base64 (standard alphabet, with \"=\" padding)"
    )]
    BadBase64,
    #[error("its key (the fifth field) is empty")]
    Empty,
    #[error(
        "its key has signature type 0x{0:02x}; runsheet's private keys have type 0x01 (note signing) or 0x04 (cosigning)"
    )]
    UnsupportedType(u8),
    #[error("its key is {len} bytes after the type byte; an Ed25519 private key is 32")]
    Length { len: usize },
    #[error("its key ID does not match its key name and key; the key was edited or damaged")]
    KeyIdMismatch,
}

/// A private key of either kind.
#[derive(Debug)]
pub enum PrivateKey {
    /// Type 0x01: signs notes (a log's checkpoints).
    Signer(Signer),
    /// Type 0x04: cosigns checkpoints.
    Cosigner(Cosigner),
}

impl PrivateKey {
    /// Reads `PRIVATE+KEY+<name>+<hex id>+<base64(type ‖ seed)>` (no
    /// surrounding white space, no newline), checking the key ID.
    pub fn parse(text: &str) -> Result<PrivateKey, PrivateKeyError> {
        let Some(rest) = text.strip_prefix(PRIVATE_KEY_PREFIX) else {
            return Err(if Verifier::parse(text).is_ok() {
                PrivateKeyError::PublicKey
            } else {
                PrivateKeyError::NoPrefix
            });
        };
        let mut fields = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(key64)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(PrivateKeyError::Fields {
                fields: 2 + rest.split('+').count(),
            });
        };
        note::check_key_name(name).map_err(PrivateKeyError::BadName)?;
        let found = note::parse_key_id(id).ok_or(PrivateKeyError::BadKeyId)?;
        let bytes = BASE64
            .decode(key64)
            .map_err(|_| PrivateKeyError::BadBase64)?;
        let (&type_byte, seed) = bytes.split_first().ok_or(PrivateKeyError::Empty)?;
        let kind = KeyKind::from_type_byte(type_byte)
            .ok_or(PrivateKeyError::UnsupportedType(type_byte))?;
        let seed: &[u8; 32] = seed
            .try_into()
            .map_err(|_| PrivateKeyError::Length { len: seed.len() })?;
        let key = match kind {
            KeyKind::Ed25519 => Signer::from_seed(name, seed).map(PrivateKey::Signer),
            KeyKind::CosignatureEd25519 => {
                Cosigner::from_seed(name, seed).map(PrivateKey::Cosigner)
            }
        }
        .map_err(|e| PrivateKeyError::BadName(e.problem))?;
        if key.key_id() != found {
            return Err(PrivateKeyError::KeyIdMismatch);
        }
        Ok(key)
    }

    /// The private key text (secret: write it only to a key file).
    pub fn text(&self) -> String {
        match self {
            PrivateKey::Signer(s) => s.private_key_text(),
            PrivateKey::Cosigner(c) => c.private_key_text(),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            PrivateKey::Signer(s) => s.name(),
            PrivateKey::Cosigner(c) => c.name(),
        }
    }

    pub fn key_id(&self) -> u32 {
        match self {
            PrivateKey::Signer(s) => s.key_id(),
            PrivateKey::Cosigner(c) => c.key_id(),
        }
    }

    pub fn kind(&self) -> KeyKind {
        match self {
            PrivateKey::Signer(_) => KeyKind::Ed25519,
            PrivateKey::Cosigner(_) => KeyKind::CosignatureEd25519,
        }
    }

    /// The public half.
    pub fn verifier(&self) -> Verifier {
        match self {
            PrivateKey::Signer(s) => s.verifier(),
            PrivateKey::Cosigner(c) => c.verifier(),
        }
    }
}

fn private_key_text(name: &str, key_id: u32, kind: KeyKind, seed: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(33);
    bytes.push(kind.type_byte());
    bytes.extend_from_slice(seed);
    format!(
        "{PRIVATE_KEY_PREFIX}{name}+{key_id:08x}+{}",
        BASE64.encode(bytes)
    )
}

impl Signer {
    /// `PRIVATE+KEY+<name>+<key ID>+<base64(0x01 ‖ seed)>` (secret).
    pub fn private_key_text(&self) -> String {
        private_key_text(self.name(), self.key_id(), KeyKind::Ed25519, self.seed())
    }
}

impl Cosigner {
    /// `PRIVATE+KEY+<name>+<key ID>+<base64(0x04 ‖ seed)>` (secret).
    pub fn private_key_text(&self) -> String {
        private_key_text(
            self.name(),
            self.key_id(),
            KeyKind::CosignatureEd25519,
            self.seed(),
        )
    }
}

/// Why a key file could not be created or used. Each message starts with the
/// file's path.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error(
        "key file {}: it already exists, and runsheet never overwrites a key file. Choose another path, or move the old file away if you are sure it is no longer needed (a lost signing key cannot be recovered)",
        .path.display()
    )]
    Exists { path: PathBuf },
    #[error("key file {}: cannot create it: {source}", .path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error(
        "key file {}: the file system did not keep mode 0600 (the new file has mode {mode:04o}), so the key would be readable by others; the file was removed. Put the key on a local file system",
        .path.display()
    )]
    ModeNotKept { path: PathBuf, mode: u32 },
    #[error("key file {}: cannot write it: {source}; the file was removed", .path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("key file {}: cannot open it: {source}", .path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("key file {}: cannot read it: {source}", .path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("key file {}: it is {what}, not a regular file", .path.display())]
    NotRegular { path: PathBuf, what: &'static str },
    #[error(
        "key file {}: it has mode {mode:04o}, which gives {who} access to it; a key file must be private to its owner. Run: chmod 600 {}",
        .path.display(), .path.display()
    )]
    Permissions {
        path: PathBuf,
        mode: u32,
        who: &'static str,
    },
    #[error(
        "key file {}: it belongs to user ID {owner}, not to you (user ID {user}) or root; a key file must belong to the user that signs with it. Run as its owner, or chown it",
        .path.display()
    )]
    Owner {
        path: PathBuf,
        owner: u32,
        user: u32,
    },
    #[error(
        "key file {}: it is {size} bytes, too large to be a key file (at most {MAX_KEY_FILE_BYTES})",
        .path.display()
    )]
    TooLarge { path: PathBuf, size: u64 },
    #[error("key file {}: {problem}", .path.display())]
    Contents {
        path: PathBuf,
        problem: ContentsProblem,
    },
    #[error("key file {}: the key is not valid: {problem}", .path.display())]
    Key {
        path: PathBuf,
        problem: PrivateKeyError,
    },
    #[error(
        "key file {}: it holds an {found} key, but an {wanted} key is needed here",
        .path.display()
    )]
    WrongKind {
        path: PathBuf,
        found: KeyKind,
        wanted: KeyKind,
    },
}

/// What is wrong with the layout of a key file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContentsProblem {
    #[error("it is empty")]
    Empty,
    #[error("it is not UTF-8 text")]
    NotText,
    #[error("it has more than one line; a key file holds the key on one line and nothing else")]
    ExtraLines,
    #[error("it has Windows line endings (a carriage return); save it with a plain newline")]
    CarriageReturn,
    #[error("the key is surrounded by spaces or tabs; a key file holds the key and nothing else")]
    Whitespace,
}

/// Creates a new key file holding `contents` exactly (callers write the key
/// text and one newline): `O_CREAT | O_EXCL`, mode 0600 from creation, then
/// fsync of the file and of its directory. Refuses a path that exists (a
/// symlink included). On any failure after creation the file is removed.
pub fn create_key_file(path: &Path, contents: &str) -> Result<(), KeyFileError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                KeyFileError::Exists {
                    path: path.to_owned(),
                }
            } else {
                KeyFileError::Create {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
    let written = write_new(&mut file, path, contents);
    drop(file);
    if written.is_err() {
        // Best effort: the file is ours and incomplete; the error reported is
        // the one that made it so.
        let _ = std::fs::remove_file(path);
    }
    written
}

fn write_new(file: &mut File, path: &Path, contents: &str) -> Result<(), KeyFileError> {
    let write = |source| KeyFileError::Write {
        path: path.to_owned(),
        source,
    };
    let mode = file.metadata().map_err(write)?.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::ModeNotKept {
            path: path.to_owned(),
            mode,
        });
    }
    file.write_all(contents.as_bytes()).map_err(write)?;
    file.sync_all().map_err(write)?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(directory)
        .and_then(|d| d.sync_all())
        .map_err(write)
}

/// Loads a private key of either kind from a key file, checking the file as
/// the module documentation says.
pub fn load_key_file(path: &Path) -> Result<PrivateKey, KeyFileError> {
    let text = read_key_file(path)?;
    PrivateKey::parse(&text).map_err(|problem| KeyFileError::Key {
        path: path.to_owned(),
        problem,
    })
}

/// Loads a note signing key (type 0x01), refusing a cosigner key.
pub fn load_signer(path: &Path) -> Result<Signer, KeyFileError> {
    match load_key_file(path)? {
        PrivateKey::Signer(signer) => Ok(signer),
        other => Err(KeyFileError::WrongKind {
            path: path.to_owned(),
            found: other.kind(),
            wanted: KeyKind::Ed25519,
        }),
    }
}

/// Loads a cosigner key (type 0x04), refusing a note signing key.
pub fn load_cosigner(path: &Path) -> Result<Cosigner, KeyFileError> {
    match load_key_file(path)? {
        PrivateKey::Cosigner(cosigner) => Ok(cosigner),
        other => Err(KeyFileError::WrongKind {
            path: path.to_owned(),
            found: other.kind(),
            wanted: KeyKind::CosignatureEd25519,
        }),
    }
}

fn read_key_file(path: &Path) -> Result<String, KeyFileError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|source| KeyFileError::Open {
            path: path.to_owned(),
            source,
        })?;
    let read = |source| KeyFileError::Read {
        path: path.to_owned(),
        source,
    };
    let metadata = file.metadata().map_err(read)?;
    let file_type = metadata.file_type();
    if !file_type.is_file() {
        let what = if file_type.is_dir() {
            "a directory"
        } else if file_type.is_fifo() {
            "a named pipe"
        } else if file_type.is_socket() {
            "a socket"
        } else if file_type.is_block_device() || file_type.is_char_device() {
            "a device"
        } else {
            "a special file"
        };
        return Err(KeyFileError::NotRegular {
            path: path.to_owned(),
            what,
        });
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o077 != 0 {
        let who = match (mode & 0o070 != 0, mode & 0o007 != 0) {
            (true, true) => "its group and all other users",
            (true, false) => "its group",
            _ => "all other users",
        };
        return Err(KeyFileError::Permissions {
            path: path.to_owned(),
            mode,
            who,
        });
    }
    let user = rustix::process::geteuid().as_raw();
    let owner = metadata.uid();
    if owner != user && owner != 0 {
        return Err(KeyFileError::Owner {
            path: path.to_owned(),
            owner,
            user,
        });
    }
    if metadata.len() > MAX_KEY_FILE_BYTES {
        return Err(KeyFileError::TooLarge {
            path: path.to_owned(),
            size: metadata.len(),
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(KeyFileError::TooLarge {
            path: path.to_owned(),
            size: bytes.len() as u64,
        });
    }
    let contents = |problem| KeyFileError::Contents {
        path: path.to_owned(),
        problem,
    };
    let text = String::from_utf8(bytes).map_err(|_| contents(ContentsProblem::NotText))?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    if line.contains('\r') {
        return Err(contents(ContentsProblem::CarriageReturn));
    }
    if line.contains('\n') {
        return Err(contents(ContentsProblem::ExtraLines));
    }
    if line.trim().is_empty() {
        return Err(contents(ContentsProblem::Empty));
    }
    if line.trim() != line {
        return Err(contents(ContentsProblem::Whitespace));
    }
    Ok(line.to_owned())
}

#[cfg(test)]
mod tests;
