//! The RFC 9162 §2.1 Merkle tree of the transparency log: leaf and node hashes,
//! roots and inclusion and consistency proofs read from stored complete-subtree
//! hashes, their verification, and a streaming builder ([`Frontier`]).
//!
//! May not depend on anything in the crate outside `custody` (it depends on
//! nothing in the crate at all).
//!
//! # Hashes (exact bytes)
//!
//! Every hash is SHA-256, 32 bytes ([`Hash`](type@Hash)):
//! - a leaf: `SHA-256(0x00 ‖ leaf input)` ([`leaf_hash`]);
//! - an interior node: `SHA-256(0x01 ‖ left ‖ right)`, 65 bytes hashed: the
//!   byte 0x01 and the two 32-byte child hashes ([`node_hash`]);
//! - the root of the empty tree: `SHA-256("")`, hex
//!   `e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855`, base64
//!   `47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=` ([`EMPTY_ROOT`]).
//!
//! The root of `n > 1` leaves is `node_hash(root of the first k, root of the
//! other n - k)`, `k` the largest power of two below `n` (RFC 9162 MTH); the
//! root of one leaf is its leaf hash. These are the RFC 6962 bytes too.
//!
//! # Stored nodes: which exist after n leaves
//!
//! `node(level, index)` ([`Nodes`]) is the root of the complete (perfect) subtree
//! of the `2^level` leaves `[index · 2^level, (index + 1) · 2^level)`; level 0
//! holds the leaf hashes. After `n` leaves, the node `(level, index)` exists
//! exactly when its leaves all lie inside `[0, n)`, that is when
//! `(index + 1) · 2^level ≤ n`, equivalently `index < n >> level`
//! ([`node_exists`]): level `L` has `⌊n / 2^L⌋` nodes, and levels 1 and up hold
//! `n - popcount(n)` nodes in all. A node never changes once it exists (the
//! tree only grows), so a store can write each node once.
//!
//! The nodes at levels 1 and up come into existence with the leaf that
//! completes them, and [`Frontier::push`] reports exactly those: pushing leaf
//! number `s` (counting from 1, so the size goes from `s - 1` to `s`) reports the
//! nodes at levels `1, 2, …, trailing_zeros(s)`, lowest level first, and the node
//! at level `L` has index `(s >> L) - 1`. An odd `s` reports none. Concatenated,
//! the 32-byte hashes of one push are `32 · trailing_zeros(s)` bytes; over
//! `s = 1..=n` the pushes report every node at levels 1 and up that exists after
//! `n` leaves, each exactly once.
//!
//! [`root`], [`inclusion_proof`], [`consistency_proof`] and [`Frontier::load`]
//! only ever ask for nodes that exist at the tree size they are given (the new
//! size, for a consistency proof), and read O(log n) of them:
//! - the root of `n` leaves reads one node per set bit of `n`: with the set bits
//!   `b₁ > b₂ > … > b_k`, the node `(b_j, (2^b₁ + … + 2^b_{j-1}) >> b_j)`;
//! - each element of a proof is the root of a range of leaves, either one stored
//!   node or the fold of the nodes one per set bit of the range's length, and a
//!   proof reads at most `2 · b + 1` nodes, `b` the bit length of the size
//!   (`⌊log2 n⌋ + 1`).
//!
//! # Proofs
//!
//! Proofs are lists of hashes as RFC 9162 §2.1.3.1 (inclusion: from the leaf's
//! sibling up to the root's child) and §2.1.4.1 (consistency) build them; the
//! same bytes as RFC 6962's audit paths and consistency proofs, and as the C2SP
//! tlog-proof and tlog-witness texts carry (see `proof_text`). For `u64` tree
//! sizes an inclusion proof has at most 64 hashes ([`inclusion_proof_len`])
//! and a consistency proof at most 65 ([`consistency_proof_len`]; 65 only
//! to a new size above `2^63`).
//!
//! [`verify_inclusion`] and [`verify_consistency`] are RFC 9162 §2.1.3.2 and
//! §2.1.4.2 as written. The RFC's consistency check is for `0 < old < new`; the
//! other cases are decided here as follows:
//! - `old > new`: rejected;
//! - `old == new`: the proof must be empty and the two roots equal;
//! - `old == 0`: the proof must be empty (the empty tree is a prefix of every
//!   tree, c2sp.org/tlog-witness) and the old root must be [`EMPTY_ROOT`]; so
//!   `old == new == 0` also needs the new root to be [`EMPTY_ROOT`].
//!
//! A proof checks a leaf (or an old root) against a root; the sizes only shape
//! the path. A proof for one size can verify, against the same root, under
//! another size whose path takes the same turns (leaf 0 of 5 leaves and of 6),
//! so a verifier must take the size and the root together from one signed
//! checkpoint. Given each size's own root, a wrong size fails.
//!
//! Nothing here panics or overflows on any input, `u64::MAX` sizes and proofs
//! of any length included.

use sha2::{Digest, Sha256};

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

/// A SHA-256 hash: a leaf hash, a node hash or a root.
pub type Hash = [u8; 32];

/// MTH of the empty tree: SHA-256 of the empty string.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The leaf hash of a leaf input: SHA-256(0x00 ‖ input).
pub fn leaf_hash(leaf_input: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(leaf_input);
    h.finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Whether the node `(level, index)` exists in a tree of `size` leaves: whether
/// its leaves `[index · 2^level, (index + 1) · 2^level)` all lie inside `[0, size)`.
pub fn node_exists(size: u64, level: u32, index: u64) -> bool {
    size.checked_shr(level).is_some_and(|count| index < count)
}

/// Where proofs read complete-subtree hashes from. node(level, index) is the root of the
/// complete subtree of 2^level leaves that starts at leaf index * 2^level (level 0 = leaf hashes).
/// Callers only ask for nodes that lie wholly inside the tree size they work with.
pub trait Nodes {
    /// Why a node could not be read.
    type Error;
    /// The root of the complete subtree of the `2^level` leaves from `index · 2^level`.
    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

impl<N: Nodes + ?Sized> Nodes for &N {
    type Error = N::Error;
    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        (**self).node(level, index)
    }
}

/// Why a proof could not be made: the request makes no sense, or the store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError<E> {
    /// The leaf is not in the tree (this includes every leaf of the empty tree).
    #[error("there is no leaf {index} in a tree of {}: leaf indexes run from 0 to the size minus 1", leaves(.size))]
    IndexOutOfRange { index: u64, size: u64 },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error(
        "there is no consistency proof from a tree of {} to a smaller tree of {}",
        leaves(.old),
        leaves(.new)
    )]
    OldAfterNew { old: u64, new: u64 },
    /// The store could not give a node.
    #[error("a stored tree node could not be read: {0}")]
    Nodes(E),
}

/// Why a proof did not verify, in words an auditor can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The leaf index is not below the tree size.
    #[error("there is no leaf {index} in a tree of {}: leaf indexes run from 0 to the size minus 1", leaves(.size))]
    IndexOutOfRange { index: u64, size: u64 },
    /// The old tree is larger than the new one.
    #[error(
        "the old tree ({}) is larger than the new tree ({}): a log only grows, so no proof can show they are consistent",
        leaves(.old),
        leaves(.new)
    )]
    OldAfterNew { old: u64, new: u64 },
    /// The inclusion proof has the wrong number of hashes for the index and size.
    #[error(
        "the inclusion proof has {}, but one for leaf {index} in a tree of {} has exactly {}",
        hashes(.got),
        leaves(.size),
        hashes(.want)
    )]
    InclusionProofLength {
        index: u64,
        size: u64,
        got: usize,
        want: usize,
    },
    /// The consistency proof has the wrong number of hashes for the two sizes.
    #[error(
        "the consistency proof has {}, but one from a tree of {} to a tree of {} has exactly {}",
        hashes(.got),
        leaves(.old),
        leaves(.new),
        hashes(.want)
    )]
    ConsistencyProofLength {
        old: u64,
        new: u64,
        got: usize,
        want: usize,
    },
    /// The leaf hash and the proof lead to another root than the one given.
    #[error(
        "the leaf hash and the inclusion proof lead to a different root hash than the tree's: the leaf is not entry {index} of that tree of {}, or the proof is wrong",
        leaves(.size)
    )]
    InclusionRootMismatch { index: u64, size: u64 },
    /// The consistency proof does not lead to the old root given.
    #[error(
        "the consistency proof leads to a different root hash for the old tree of {} than the one given: the proof is not about that old tree",
        leaves(.old)
    )]
    OldRootMismatch { old: u64, new: u64 },
    /// The consistency proof does not lead to the new root given.
    #[error(
        "the consistency proof leads to a different root hash for the new tree of {} than the one given: the new tree does not begin with the old tree of {}, or the proof is wrong",
        leaves(.new),
        leaves(.old)
    )]
    NewRootMismatch { old: u64, new: u64 },
    /// Two trees of the same size with different roots: a fork.
    #[error(
        "both trees have {} but their root hashes differ: they are two different trees of the same size (a fork of the log)",
        leaves(.size)
    )]
    SameSizeDifferentRoots { size: u64 },
    /// A tree of size 0 was given a root other than the empty tree's.
    #[error(
        "a tree of 0 leaves must have the empty tree's root hash (SHA-256 of nothing, 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=), but a different root hash was given"
    )]
    EmptyTreeRoot,
}

fn leaves(n: &u64) -> String {
    if *n == 1 {
        "1 leaf".to_owned()
    } else {
        format!("{n} leaves")
    }
}

fn hashes(n: &usize) -> String {
    if *n == 1 {
        "1 hash".to_owned()
    } else {
        format!("{n} hashes")
    }
}

/// The largest power of two below `n`; `n` must be at least 2.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The root of the leaves `[lo, hi)`, `lo < hi`, where `lo` is a multiple of a
/// power of two at least `hi - lo` (every range RFC 9162's recursion visits is):
/// the fold of the complete subtrees, one per set bit of `hi - lo`, largest first.
/// Reads them right to left, so no list is needed.
fn range_root<N: Nodes>(nodes: &N, lo: u64, hi: u64) -> Result<Hash, N::Error> {
    let len = hi - lo;
    let mut acc: Option<Hash> = None;
    for level in 0..64u32 {
        if len >> level & 1 == 0 {
            continue;
        }
        // The subtrees for the higher bits come first.
        let before = len.checked_shr(level + 1).map_or(0, |v| v << (level + 1));
        let start = lo + before;
        let node = nodes.node(level, start >> level)?;
        acc = Some(match acc {
            None => node,
            Some(right) => node_hash(&node, &right),
        });
    }
    Ok(acc.unwrap_or(EMPTY_ROOT))
}

/// The root of the first `size` leaves, read from at most ~log2(size) stored nodes
/// (one per set bit of size: the complete subtrees the size decomposes into).
pub fn root<N: Nodes>(nodes: &N, size: u64) -> Result<Hash, N::Error> {
    if size == 0 {
        return Ok(EMPTY_ROOT);
    }
    range_root(nodes, 0, size)
}

/// RFC 9162 §2.1.3.1 inclusion proof (audit path) of leaf `index` in the tree of `size` leaves,
/// from the leaf's sibling up, built only from complete-subtree nodes (each proof element is
/// either one stored node or the root of a range computed from O(log n) stored nodes).
pub fn inclusion_proof<N: Nodes>(
    nodes: &N,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<N::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // PATH(m, D[lo:hi]) walked from the top: each step records the subtree not
    // taken, so the list comes out root-first and is reversed at the end.
    let (mut lo, mut hi) = (0u64, size);
    let mut path = Vec::with_capacity(64);
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            path.push(range_root(nodes, lo + k, hi).map_err(ProofError::Nodes)?);
            hi = lo + k;
        } else {
            path.push(range_root(nodes, lo, lo + k).map_err(ProofError::Nodes)?);
            lo += k;
        }
    }
    path.reverse();
    Ok(path)
}

/// RFC 9162 §2.1.4.1 consistency proof from `old` to `new` leaves (empty when old == new or old == 0).
pub fn consistency_proof<N: Nodes>(
    nodes: &N,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, ProofError<N::Error>> {
    if old > new {
        return Err(ProofError::OldAfterNew { old, new });
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[lo:hi], known) walked from the top, with m = old - lo; the
    // list comes out root-first and is reversed at the end.
    let (mut lo, mut hi) = (0u64, new);
    let mut known = true;
    let mut path = Vec::with_capacity(64);
    loop {
        if old == hi {
            if !known {
                path.push(range_root(nodes, lo, hi).map_err(ProofError::Nodes)?);
            }
            break;
        }
        // lo < old < hi here, so hi - lo >= 2.
        let k = split(hi - lo);
        if old <= lo + k {
            path.push(range_root(nodes, lo + k, hi).map_err(ProofError::Nodes)?);
            hi = lo + k;
        } else {
            path.push(range_root(nodes, lo, lo + k).map_err(ProofError::Nodes)?);
            lo += k;
            known = false;
        }
    }
    path.reverse();
    Ok(path)
}

/// The number of hashes in the inclusion proof of leaf `index` in a tree of
/// `size` leaves; `None` when the leaf is not in the tree.
pub fn inclusion_proof_len(index: u64, size: u64) -> Option<usize> {
    if index >= size {
        return None;
    }
    // Below the level where the paths to `index` and to the last leaf part,
    // one sibling per level; above it, one left sibling per set bit.
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    Some((inner + border) as usize)
}

/// The number of hashes in the consistency proof from `old` to `new` leaves;
/// `None` when `old > new`.
pub fn consistency_proof_len(old: u64, new: u64) -> Option<usize> {
    if old > new {
        return None;
    }
    if old == 0 || old == new {
        return Some(0);
    }
    // The inclusion proof of the old tree's last leaf in the new tree, less the
    // levels inside the old tree's last complete subtree, plus that subtree's
    // root unless it is the whole old tree (old a power of two).
    let inner = 64 - ((old - 1) ^ (new - 1)).leading_zeros();
    let border = (old - 1).checked_shr(inner).unwrap_or(0).count_ones();
    let shift = old.trailing_zeros();
    let seed = u32::from(!old.is_power_of_two());
    Some((inner.saturating_sub(shift) + border + seed) as usize)
}

/// RFC 9162 §2.1.3.2; Ok(()) or why not.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    // 1. leaf_index must be below tree_size.
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let length = || VerifyError::InclusionProofLength {
        index,
        size,
        got: proof.len(),
        want: inclusion_proof_len(index, size).unwrap_or(0),
    };
    // 2. fn = leaf_index, sn = tree_size - 1. 3. r = hash.
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    // 4.
    for p in proof {
        if s == 0 {
            return Err(length());
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    // 5.
    if s != 0 {
        return Err(length());
    }
    if r != *root {
        return Err(VerifyError::InclusionRootMismatch { index, size });
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2, including the old == new (roots equal, proof empty) and old == 0 (proof empty) cases.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    let (old, new) = (old_size, new_size);
    if old > new {
        return Err(VerifyError::OldAfterNew { old, new });
    }
    let length = || VerifyError::ConsistencyProofLength {
        old,
        new,
        got: proof.len(),
        want: consistency_proof_len(old, new).unwrap_or(0),
    };
    if old == 0 || old == new {
        if !proof.is_empty() {
            return Err(length());
        }
        if old == 0 && *old_root != EMPTY_ROOT {
            return Err(VerifyError::EmptyTreeRoot);
        }
        if old == new && old_root != new_root {
            return Err(VerifyError::SameSizeDifferentRoots { size: old });
        }
        return Ok(());
    }
    // 0 < first < second from here on.
    // 1. An empty proof fails.
    let Some((head, rest)) = proof.split_first() else {
        return Err(length());
    };
    // 2. When first is a power of two, first_hash is prepended to the path.
    let (seed, rest) = if old.is_power_of_two() {
        (old_root, proof)
    } else {
        (head, rest)
    };
    // 3. fn = first - 1, sn = second - 1.
    let (mut f, mut s) = (old - 1, new - 1);
    // 4.
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    // 5.
    let (mut fr, mut sr) = (*seed, *seed);
    // 6.
    for c in rest {
        if s == 0 {
            return Err(length());
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    // 7.
    if s != 0 {
        return Err(length());
    }
    if fr != *old_root {
        return Err(VerifyError::OldRootMismatch { old, new });
    }
    if sr != *new_root {
        return Err(VerifyError::NewRootMismatch { old, new });
    }
    Ok(())
}

/// A streaming builder (compact range [0, size)): leaves pushed in order; after each push it
/// reports the complete subtrees that push closed; it gives the root at any size in O(log n).
///
/// It holds one hash per set bit of the size: the roots of the complete
/// subtrees `[0, size)` decomposes into, largest (leftmost) first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    stack: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuild the frontier of a tree of `size` leaves from stored nodes (one node per set bit of size).
    pub fn load<N: Nodes>(nodes: &N, size: u64) -> Result<Self, N::Error> {
        let mut stack = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size >> level & 1 == 1 {
                stack.push(nodes.node(level, start >> level)?);
                start += 1 << level;
            }
        }
        Ok(Self { size, stack })
    }

    /// The number of leaves pushed (or loaded).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The roots of the complete subtrees `[0, size)` decomposes into, one per
    /// set bit of the size, largest (leftmost) first: the nodes
    /// [`Frontier::load`] reads.
    pub fn hashes(&self) -> &[Hash] {
        &self.stack
    }

    /// Push the next leaf hash. `closed` is cleared and then receives the nodes at levels 1, 2, ...
    /// that this leaf completes, lowest level first (after pushing leaf number s, counting from 1,
    /// these are exactly levels 1..=trailing_zeros(s), and the node at level L has index (s >> L) - 1).
    ///
    /// A frontier of `u64::MAX` leaves is full: a push leaves it as it is and
    /// reports nothing (the size stays `u64::MAX`).
    pub fn push(&mut self, leaf: Hash, closed: &mut Vec<Hash>) {
        closed.clear();
        let Some(size) = self.size.checked_add(1) else {
            return;
        };
        let mut h = leaf;
        for _ in 0..self.size.trailing_ones() {
            // One stack entry per set bit of the old size, so there is one here.
            let Some(left) = self.stack.pop() else { break };
            h = node_hash(&left, &h);
            closed.push(h);
        }
        self.stack.push(h);
        self.size = size;
    }

    /// The root of the leaves pushed so far ([`EMPTY_ROOT`] at size 0).
    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        let Some(last) = it.next() else {
            return EMPTY_ROOT;
        };
        it.fold(*last, |right, left| node_hash(left, &right))
    }
}

/// A node a [`MemoryTree`] does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the tree of {} has no node at level {level}, index {index}", leaves(.size))]
pub struct MissingNode {
    pub size: u64,
    pub level: u32,
    pub index: u64,
}

/// An in-memory [`Nodes`] store: every node of every level, built by pushing
/// leaf hashes through a [`Frontier`] and keeping what it reports (level 0 is
/// the leaf hashes). It holds exactly the nodes that exist at its size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
    frontier: Frontier,
    closed: Vec<Hash>,
}

impl MemoryTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a leaf hash (see [`leaf_hash`]).
    pub fn push(&mut self, leaf: Hash) {
        let before = self.frontier.size();
        self.frontier.push(leaf, &mut self.closed);
        if self.frontier.size() == before {
            return;
        }
        let levels = 1 + self.closed.len();
        if self.levels.len() < levels {
            self.levels.resize_with(levels, Vec::new);
        }
        for (level, h) in std::iter::once(leaf)
            .chain(self.closed.iter().copied())
            .enumerate()
        {
            if let Some(row) = self.levels.get_mut(level) {
                row.push(h);
            }
        }
    }

    /// Append the leaf hash of a leaf input.
    pub fn push_input(&mut self, leaf_input: &[u8]) {
        self.push(leaf_hash(leaf_input));
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The root of all the leaves.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The frontier of all the leaves.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }
}

impl FromIterator<Hash> for MemoryTree {
    fn from_iter<I: IntoIterator<Item = Hash>>(leaves: I) -> Self {
        let mut tree = Self::new();
        tree.extend(leaves);
        tree
    }
}

impl Extend<Hash> for MemoryTree {
    fn extend<I: IntoIterator<Item = Hash>>(&mut self, leaves: I) {
        for leaf in leaves {
            self.push(leaf);
        }
    }
}

impl Nodes for MemoryTree {
    type Error = MissingNode;
    fn node(&self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        let missing = MissingNode {
            size: self.size(),
            level,
            index,
        };
        let row = self.levels.get(level as usize).ok_or(missing.clone())?;
        let i = usize::try_from(index).map_err(|_| missing.clone())?;
        row.get(i).copied().ok_or(missing)
    }
}
