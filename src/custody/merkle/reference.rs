//! A deliberately simple Merkle tree, written straight from RFC 9162's recursive
//! definitions over the whole list of leaf hashes (§2.1.1 MTH, §2.1.3.1 PATH,
//! §2.1.4.1 PROOF and SUBPROOF): the oracle the stored-node code in `merkle` is
//! held against. Test-only; slices and recursion, no cleverness.
//!
//! The RFC defines MTH over leaf inputs, with `MTH({d(0)}) = SHA-256(0x00 ‖
//! d(0))`; these functions take the leaf hashes instead, so the one-leaf case
//! is the leaf hash itself.
//!
//! May not depend on anything in `merkle` but the two hash functions.

use super::{Hash, node_hash};
use sha2::{Digest, Sha256};

/// k: the largest power of two smaller than n (n > 1), found by counting.
fn k(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]).
pub fn mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => Sha256::digest(b"").into(),
        1 => d[0],
        n => {
            let k = k(n);
            node_hash(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

/// PATH(m, D[n]): the inclusion proof of leaf m. Panics when m >= n.
pub fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    assert!(m < n, "PATH({m}, D[{n}]) is not defined");
    if n == 1 {
        return Vec::new();
    }
    let k = k(n);
    if m < k {
        let mut p = path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

/// PROOF(m, D[n]): the consistency proof from m leaves to all of them.
/// RFC 9162 defines it for 0 < m < n; it is empty for m == n here, and for
/// m == 0 (the empty tree needs no proof). Panics when m > n.
pub fn proof(m: usize, d: &[Hash]) -> Vec<Hash> {
    assert!(m <= d.len(), "PROOF({m}, D[{}]) is not defined", d.len());
    if m == 0 {
        return Vec::new();
    }
    subproof(m, d, true)
}

/// SUBPROOF(m, D[n], b).
fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(d)] };
    }
    let k = k(n);
    if m <= k {
        let mut p = subproof(m, &d[..k], b);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}
