//! Chain of custody: the formats a transparency log is checked with, as pure
//! functions over bytes — the RFC 9162 Merkle tree and its proofs, C2SP signed
//! notes, verifier keys, checkpoints, cosignatures, and the text forms of
//! proofs (docs/custody.md specifies every byte; keep them in sync) — and
//! private key files, the one IO here (`key`).
//!
//! May not depend on rusqlite, the engine, the store or anything else in the
//! crate: the store, export and the witness build on this, never the reverse.

pub mod checkpoint;
pub mod cosign;
pub mod key;
pub mod merkle;
pub mod note;
pub mod proof_text;
