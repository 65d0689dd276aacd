//! Merkle tree tests: published vectors, the RFC-definition reference and
//! Cloudflare's tlog_tiles as oracles, every-bit tampering, forks, the node
//! rule `Frontier::push` reports by, and inputs at the u64 limits.

use std::cell::Cell;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::reference;
use super::*;

fn hd(hex: &str) -> Hash {
    let bytes = hex::decode(hex).unwrap();
    bytes.try_into().unwrap()
}

/// `n` distinct leaf hashes, derived from a seed.
fn leaves(seed: u64, n: u64) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(&[seed.to_le_bytes(), i.to_le_bytes()].concat()))
        .collect()
}

fn usize_of(n: u64) -> usize {
    usize::try_from(n).unwrap()
}

/// A view of a tree at `size` leaves that refuses every node that does not
/// exist at that size (even when the tree behind it has it) and counts reads.
struct View<'a> {
    tree: &'a MemoryTree,
    size: u64,
    reads: Cell<usize>,
}

impl<'a> View<'a> {
    fn new(tree: &'a MemoryTree, size: u64) -> Self {
        assert!(size <= tree.size());
        Self {
            tree,
            size,
            reads: Cell::new(0),
        }
    }
    fn take_reads(&self) -> usize {
        self.reads.replace(0)
    }
}

impl Nodes for View<'_> {
    type Error = MissingNode;
    fn node(&self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        self.reads.set(self.reads.get() + 1);
        if !node_exists(self.size, level, index) {
            return Err(MissingNode {
                size: self.size,
                level,
                index,
            });
        }
        self.tree.node(level, index)
    }
}

fn bit_len(n: u64) -> usize {
    (64 - n.leading_zeros()) as usize
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut h = *h;
    h[bit / 8 % 32] ^= 1 << (bit % 8);
    h
}

// --- Published vectors -------------------------------------------------------

/// The RFC 6962 test leaves, from github.com/transparency-dev/merkle
/// testonly/constants.go `LeafInputs` (the certificate-transparency reference
/// data, also in google/certificate-transparency's C++ and Go tests).
const LEAF_INPUTS: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

fn published_leaves() -> Vec<Hash> {
    LEAF_INPUTS
        .iter()
        .map(|s| leaf_hash(&hex::decode(s).unwrap()))
        .collect()
}

fn published_tree() -> MemoryTree {
    published_leaves().into_iter().collect()
}

/// transparency-dev/merkle testonly/constants.go `NodeHashes`: every complete
/// subtree of the 8 leaves, by level then index.
fn published_node_hashes() -> Vec<Vec<Hash>> {
    [
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ][..],
        &[
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ][..],
        &[
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ][..],
        &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"][..],
    ]
    .iter()
    .map(|level| level.iter().map(|h| hd(h)).collect())
    .collect()
}

/// transparency-dev/merkle testonly/constants.go `RootHashes` (and
/// cmd/proofgen/main.go `roots`): the root at sizes 0 to 8.
const PUBLISHED_ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// Inclusion proofs (index, size, proof): transparency-dev/merkle
/// cmd/proofgen/main.go `inclusionProofs` (whose indexes count from 1; here
/// from 0) and testonly/reference_test.go `TestRefInclusionProof`.
const PUBLISHED_INCLUSION: &[(u64, u64, &[&str])] = &[
    (0, 1, &[]),
    (
        0,
        2,
        &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
    ),
    (
        1,
        2,
        &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

/// Consistency proofs (old, new, proof): transparency-dev/merkle
/// cmd/proofgen/main.go `consistencyProofs` and testonly/reference_test.go
/// `TestRefConsistencyProof`.
const PUBLISHED_CONSISTENCY: &[(u64, u64, &[&str])] = &[
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

#[test]
fn the_empty_root_is_sha256_of_nothing() {
    let digest: Hash = Sha256::digest(b"").into();
    assert_eq!(EMPTY_ROOT, digest);
    assert_eq!(
        STANDARD.encode(EMPTY_ROOT),
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    );
}

#[test]
fn leaf_and_node_hashes_are_the_documented_bytes() {
    let digest: Hash = Sha256::digest([&[0u8][..], b"abc"].concat()).into();
    assert_eq!(leaf_hash(b"abc"), digest);
    let (l, r) = ([1u8; 32], [2u8; 32]);
    let digest: Hash = Sha256::digest([&[1u8][..], &l, &r].concat()).into();
    assert_eq!(node_hash(&l, &r), digest);
}

#[test]
fn the_stored_nodes_of_the_published_leaves_are_the_published_node_hashes() {
    let tree = published_tree();
    let want = published_node_hashes();
    for (level, row) in want.iter().enumerate() {
        for (index, h) in row.iter().enumerate() {
            let got = tree.node(level as u32, index as u64).unwrap();
            assert_eq!(got, *h, "node ({level}, {index})");
        }
        // And no more than those.
        assert!(tree.node(level as u32, row.len() as u64).is_err());
    }
    assert!(tree.node(4, 0).is_err());
}

#[test]
fn roots_of_the_published_leaves_are_the_published_roots() {
    let tree = published_tree();
    let all = published_leaves();
    let mut frontier = Frontier::new();
    let mut closed = Vec::new();
    for (size, want) in PUBLISHED_ROOTS.iter().enumerate() {
        let want = hd(want);
        let size64 = size as u64;
        assert_eq!(root(&View::new(&tree, size64), size64).unwrap(), want);
        assert_eq!(frontier.root(), want, "frontier at {size}");
        assert_eq!(reference::mth(&all[..size]), want, "reference at {size}");
        if let Some(leaf) = all.get(size) {
            frontier.push(*leaf, &mut closed);
        }
    }
}

#[test]
fn the_frontier_holds_the_published_compact_ranges() {
    // transparency-dev/merkle testonly/constants.go `CompactTrees`, written
    // there as references into `NodeHashes`: (level, index) per size.
    let compact: [&[(usize, usize)]; 9] = [
        &[],
        &[(0, 0)],
        &[(1, 0)],
        &[(1, 0), (0, 2)],
        &[(2, 0)],
        &[(2, 0), (0, 4)],
        &[(2, 0), (1, 2)],
        &[(2, 0), (1, 2), (0, 6)],
        &[(3, 0)],
    ];
    let nodes = published_node_hashes();
    let tree = published_tree();
    let mut frontier = Frontier::new();
    let mut closed = Vec::new();
    for (size, want) in compact.iter().enumerate() {
        let want: Vec<Hash> = want.iter().map(|&(l, i)| nodes[l][i]).collect();
        assert_eq!(frontier.hashes(), &want[..], "size {size}");
        let loaded = Frontier::load(&View::new(&tree, size as u64), size as u64).unwrap();
        assert_eq!(loaded, frontier, "loaded at size {size}");
        if size < 8 {
            frontier.push(nodes[0][size], &mut closed);
        }
    }
}

#[test]
fn inclusion_proofs_of_the_published_leaves_are_the_published_proofs() {
    let tree = published_tree();
    let all = published_leaves();
    for &(index, size, want) in PUBLISHED_INCLUSION {
        let want: Vec<Hash> = want.iter().map(|h| hd(h)).collect();
        let view = View::new(&tree, size);
        assert_eq!(
            inclusion_proof(&view, index, size).unwrap(),
            want,
            "{index} in {size}"
        );
        let sz = usize_of(size);
        assert_eq!(reference::path(usize_of(index), &all[..sz]), want);
        let root = hd(PUBLISHED_ROOTS[sz]);
        verify_inclusion(&all[usize_of(index)], index, size, &want, &root).unwrap();
    }
}

#[test]
fn consistency_proofs_of_the_published_leaves_are_the_published_proofs() {
    let tree = published_tree();
    let all = published_leaves();
    for &(old, new, want) in PUBLISHED_CONSISTENCY {
        let want: Vec<Hash> = want.iter().map(|h| hd(h)).collect();
        let view = View::new(&tree, new);
        assert_eq!(
            consistency_proof(&view, old, new).unwrap(),
            want,
            "{old} to {new}"
        );
        assert_eq!(reference::proof(usize_of(old), &all[..usize_of(new)]), want);
        let (r1, r2) = (
            hd(PUBLISHED_ROOTS[usize_of(old)]),
            hd(PUBLISHED_ROOTS[usize_of(new)]),
        );
        verify_consistency(old, new, &r1, &r2, &want).unwrap();
    }
}

/// The transparency-dev/merkle verification probes (see the file's "source"):
/// a happy path and its mutations (bit flips, wrong sizes and indexes, swapped
/// roots, extra, missing and garbage proof elements) for each published proof,
/// and edge cases. Their `wantErr` is what a verifier must decide.
///
/// The probes stand in for missing or don't-care hashes with values that are
/// not 32 bytes (empty, "don't care 1", 9 bytes of garbage). Our types only
/// hold 32-byte hashes, so such a value `v` becomes SHA-256("stand-in " ‖ v):
/// 32 bytes, equal to none of the real hashes (the empty root included) and
/// to no other stand-in, so every comparison between hashes comes out as it
/// does in the probe.
const PROBES: &str = include_str!("testdata/transparency-dev-probes.json");

fn probe_hash(v: &serde_json::Value) -> Hash {
    let bytes = STANDARD.decode(v.as_str().unwrap()).unwrap();
    match <Hash>::try_from(bytes.as_slice()) {
        Ok(h) => h,
        Err(_) => Sha256::digest([b"stand-in ".as_slice(), &bytes].concat()).into(),
    }
}

fn probe_proof(v: &serde_json::Value) -> Vec<Hash> {
    match v.as_array() {
        None => Vec::new(), // JSON null: no proof
        Some(items) => items.iter().map(probe_hash).collect(),
    }
}

#[test]
fn the_transparency_dev_inclusion_probes_are_decided_as_published() {
    let probes: serde_json::Value = serde_json::from_str(PROBES).unwrap();
    let probes = probes["inclusion"].as_array().unwrap();
    assert_eq!(probes.len(), 98);
    let mut no_leaf = 0;
    for p in probes {
        // A leaf hash that is not 32 bytes cannot even be passed here (Go's
        // verifier refuses it for its length).
        let leaf = STANDARD.decode(p["leafHash"].as_str().unwrap()).unwrap();
        if leaf.len() != 32 {
            assert!(p["wantErr"].as_bool().unwrap(), "{}", p["file"]);
            no_leaf += 1;
            continue;
        }
        let got = verify_inclusion(
            &probe_hash(&p["leafHash"]),
            p["leafIdx"].as_u64().unwrap(),
            p["treeSize"].as_u64().unwrap(),
            &probe_proof(&p["proof"]),
            &probe_hash(&p["root"]),
        );
        let want_err = p["wantErr"].as_bool().unwrap();
        assert_eq!(got.is_err(), want_err, "{}: {got:?}", p["file"]);
    }
    assert_eq!(no_leaf, 11);
}

#[test]
fn the_transparency_dev_consistency_probes_are_decided_as_published_but_from_size_zero() {
    let probes: serde_json::Value = serde_json::from_str(PROBES).unwrap();
    let probes = probes["consistency"].as_array().unwrap();
    assert_eq!(probes.len(), 98);
    // transparency-dev refuses every proof from size 0 ("consistency proof
    // from empty tree is meaningless"). Here, as in c2sp.org/tlog-witness, the
    // empty tree is consistent with every tree: with the empty tree's root and
    // an empty proof, this probe passes.
    let from_empty = "testdata/consistency/additional/size1-is-zero-and-size2-is-not-zero.json";
    let mut seen_from_empty = false;
    for p in probes {
        let got = verify_consistency(
            p["size1"].as_u64().unwrap(),
            p["size2"].as_u64().unwrap(),
            &probe_hash(&p["root1"]),
            &probe_hash(&p["root2"]),
            &probe_proof(&p["proof"]),
        );
        let mut want_err = p["wantErr"].as_bool().unwrap();
        if p["file"] == from_empty {
            assert!(want_err);
            want_err = false;
            seen_from_empty = true;
        }
        assert_eq!(got.is_err(), want_err, "{}: {got:?}", p["file"]);
    }
    assert!(seen_from_empty);
}

/// A subtree `[start, end)` of a tree, as a tree of its own: `start` is a
/// multiple of the smallest power of two at least `end - start`, so its nodes
/// are nodes of the whole tree, `start >> level` along.
struct Subtree<'a> {
    tree: &'a MemoryTree,
    start: u64,
    end: u64,
}

impl Nodes for Subtree<'_> {
    type Error = MissingNode;
    fn node(&self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        assert!(node_exists(self.end - self.start, level, index));
        assert_eq!(self.start % (1 << level), 0);
        self.tree.node(level, index + (self.start >> level))
    }
}

/// draft-ietf-plants-merkle-tree-certs §4.1: whether `[start, end)` is a subtree.
fn valid_subtree(start: u64, end: u64) -> bool {
    start == 0 || start == end || start.is_multiple_of((end - start).next_power_of_two())
}

#[test]
fn the_draft_subtree_hash_and_inclusion_vectors_match() {
    // The accumulated vectors of draft-ietf-plants-merkle-tree-certs, appendix
    // "Subtree Test Vectors", as transparency-dev/merkle testonly/vectors_test.go
    // (TestSubtreeHashVectors, TestSubtreeInclusionProofVectors) computes
    // them: leaves d[i] = the byte i for i < 130; every subtree hash, and every
    // inclusion proof within a subtree, folded into one rolling SHA-256. A
    // subtree's hash and proofs are those of the tree of its leaves, so they
    // exercise root and inclusion_proof at every size up to 130 and every index.
    let tree: MemoryTree = (0u8..130).map(|i| leaf_hash(&[i])).collect();
    let (mut hashes, mut proofs) = (Sha256::new(), Sha256::new());
    for end in 0..=130u64 {
        for start in 0..=end {
            if !valid_subtree(start, end) {
                continue;
            }
            let sub = Subtree {
                tree: &tree,
                start,
                end,
            };
            let h = root(&sub, end - start).unwrap();
            hashes.update(format!("[{start}, {end}) {}\n", hex::encode(h)));
            for index in start..end {
                let proof = inclusion_proof(&sub, index - start, end - start).unwrap();
                let mut line = format!("{index} [{start}, {end})");
                for h in &proof {
                    line.push(' ');
                    line.push_str(&hex::encode(h));
                }
                line.push('\n');
                proofs.update(line);
            }
        }
    }
    assert_eq!(
        hex::encode(hashes.finalize()),
        "b82806ad4265bb151c1119c0f4db437bb4d1a1f887b3a7fba1cd4ebf552e3e81"
    );
    assert_eq!(
        hex::encode(proofs.finalize()),
        "ac2a8f989e44d99e399db448050ff5f19757df53cfb716aa81015d3955d8163f"
    );
}

// --- Edge cases -------------------------------------------------------------

#[test]
fn the_empty_tree_has_the_empty_root_and_no_leaf_to_prove() {
    let tree = MemoryTree::new();
    let view = View::new(&tree, 0);
    assert_eq!(root(&view, 0).unwrap(), EMPTY_ROOT);
    assert_eq!(tree.root(), EMPTY_ROOT);
    assert_eq!(Frontier::new().root(), EMPTY_ROOT);
    assert_eq!(Frontier::load(&view, 0).unwrap(), Frontier::new());
    assert_eq!(view.take_reads(), 0);
    assert_eq!(
        inclusion_proof(&view, 0, 0),
        Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
    );
    assert_eq!(consistency_proof(&view, 0, 0).unwrap(), Vec::<Hash>::new());
    assert_eq!(view.take_reads(), 0);
    assert_eq!(
        verify_inclusion(&EMPTY_ROOT, 0, 0, &[], &EMPTY_ROOT),
        Err(VerifyError::IndexOutOfRange { index: 0, size: 0 })
    );
    verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]).unwrap();
    assert_eq!(
        verify_consistency(0, 0, &[7; 32], &[7; 32], &[]),
        Err(VerifyError::EmptyTreeRoot)
    );
    assert_eq!(
        verify_consistency(0, 0, &EMPTY_ROOT, &[7; 32], &[]),
        Err(VerifyError::SameSizeDifferentRoots { size: 0 })
    );
}

#[test]
fn a_tree_of_one_leaf_has_the_leaf_hash_as_root_and_empty_proofs() {
    let leaf = leaf_hash(b"only");
    let tree: MemoryTree = [leaf].into_iter().collect();
    let view = View::new(&tree, 1);
    assert_eq!(root(&view, 1).unwrap(), leaf);
    assert_eq!(inclusion_proof(&view, 0, 1).unwrap(), Vec::<Hash>::new());
    verify_inclusion(&leaf, 0, 1, &[], &leaf).unwrap();
    assert_eq!(
        verify_inclusion(&leaf, 0, 1, &[leaf], &leaf),
        Err(VerifyError::InclusionProofLength {
            index: 0,
            size: 1,
            got: 1,
            want: 0
        })
    );
    assert_eq!(
        verify_inclusion(&leaf, 1, 1, &[], &leaf),
        Err(VerifyError::IndexOutOfRange { index: 1, size: 1 })
    );
    assert_eq!(consistency_proof(&view, 0, 1).unwrap(), Vec::<Hash>::new());
    assert_eq!(consistency_proof(&view, 1, 1).unwrap(), Vec::<Hash>::new());
    verify_consistency(0, 1, &EMPTY_ROOT, &leaf, &[]).unwrap();
    verify_consistency(1, 1, &leaf, &leaf, &[]).unwrap();
}

#[test]
fn equal_sizes_need_an_empty_proof_and_equal_roots() {
    let tree: MemoryTree = leaves(1, 5).into_iter().collect();
    let r = tree.root();
    assert!(consistency_proof(&tree, 5, 5).unwrap().is_empty());
    verify_consistency(5, 5, &r, &r, &[]).unwrap();
    assert_eq!(
        verify_consistency(5, 5, &r, &flip(&r, 0), &[]),
        Err(VerifyError::SameSizeDifferentRoots { size: 5 })
    );
    assert_eq!(
        verify_consistency(5, 5, &r, &r, &[r]),
        Err(VerifyError::ConsistencyProofLength {
            old: 5,
            new: 5,
            got: 1,
            want: 0
        })
    );
}

#[test]
fn from_size_zero_the_proof_is_empty_and_the_old_root_the_empty_root() {
    let tree: MemoryTree = leaves(2, 9).into_iter().collect();
    let r = tree.root();
    assert!(consistency_proof(&tree, 0, 9).unwrap().is_empty());
    verify_consistency(0, 9, &EMPTY_ROOT, &r, &[]).unwrap();
    assert_eq!(
        verify_consistency(0, 9, &EMPTY_ROOT, &r, &[r]),
        Err(VerifyError::ConsistencyProofLength {
            old: 0,
            new: 9,
            got: 1,
            want: 0
        })
    );
    assert_eq!(
        verify_consistency(0, 9, &r, &r, &[]),
        Err(VerifyError::EmptyTreeRoot)
    );
}

#[test]
fn requests_outside_the_tree_are_refused_without_reading() {
    let tree: MemoryTree = leaves(3, 6).into_iter().collect();
    let view = View::new(&tree, 6);
    for (index, size) in [(6, 6), (7, 6), (u64::MAX, 6), (u64::MAX, u64::MAX)] {
        assert_eq!(
            inclusion_proof(&view, index, size),
            Err(ProofError::IndexOutOfRange { index, size })
        );
    }
    for (old, new) in [(7, 6), (u64::MAX, 0), (u64::MAX, u64::MAX - 1)] {
        assert_eq!(
            consistency_proof(&view, old, new),
            Err(ProofError::OldAfterNew { old, new })
        );
        assert_eq!(
            verify_consistency(old, new, &EMPTY_ROOT, &EMPTY_ROOT, &[]),
            Err(VerifyError::OldAfterNew { old, new })
        );
    }
    assert_eq!(view.take_reads(), 0);
}

#[test]
fn a_failing_store_is_reported_as_a_store_failure() {
    let tree: MemoryTree = leaves(4, 6).into_iter().collect();
    // The tree has 6 leaves, so asking for 7 reads a node it does not have.
    let err = inclusion_proof(&tree, 0, 7).unwrap_err();
    assert!(matches!(
        err,
        ProofError::Nodes(MissingNode { size: 6, .. })
    ));
    assert_eq!(
        err.to_string(),
        "a stored tree node could not be read: the tree of 6 leaves has no node at level 0, index 6"
    );
    assert!(matches!(
        consistency_proof(&tree, 3, 7),
        Err(ProofError::Nodes(_))
    ));
    assert!(root(&tree, 7).is_err());
    assert!(Frontier::load(&tree, 7).is_err());
}

#[test]
fn node_exists_is_the_wholly_inside_rule() {
    for size in 0..=70u64 {
        for level in 0..=8u32 {
            for index in 0..=70u64 {
                let inside = (u128::from(index) + 1) << level <= u128::from(size);
                assert_eq!(node_exists(size, level, index), inside);
            }
        }
    }
    assert!(node_exists(u64::MAX, 63, 0));
    assert!(!node_exists(u64::MAX, 63, 1));
    assert!(!node_exists(u64::MAX, 64, 0));
    assert!(!node_exists(u64::MAX, u32::MAX, 0));
    assert!(node_exists(u64::MAX, 0, u64::MAX - 1));
    assert!(!node_exists(u64::MAX, 0, u64::MAX));
}

#[test]
fn proofs_have_at_most_64_or_65_hashes() {
    // Inclusion: at most one hash per level of a tree of up to 2^64 - 1 leaves.
    assert_eq!(inclusion_proof_len(0, u64::MAX), Some(64));
    assert_eq!(inclusion_proof_len(u64::MAX - 1, u64::MAX), Some(63));
    assert_eq!(inclusion_proof_len(u64::MAX, u64::MAX), None);
    // Consistency: one more, when the old tree's last complete subtree is a
    // single leaf deep down (old = 2^63 - 1: one hash per level, and the leaf);
    // only new sizes above 2^63 have room for that.
    assert_eq!(consistency_proof_len(1, u64::MAX), Some(64));
    assert_eq!(consistency_proof_len((1 << 63) - 1, u64::MAX - 1), Some(65));
    assert_eq!(consistency_proof_len(3, (1 << 63) + 1), Some(65));
    assert_eq!(consistency_proof_len(1 << 63, u64::MAX), Some(1));
    assert_eq!(consistency_proof_len(3, 1 << 63), Some(64));
    assert_eq!(
        consistency_proof_len((1 << 63) + 3, (3 << 62) + 1),
        Some(65)
    );
    assert_eq!(consistency_proof_len(7, 14), Some(5));
    assert_eq!(consistency_proof_len(u64::MAX, u64::MAX), Some(0));
    assert_eq!(consistency_proof_len(u64::MAX, u64::MAX - 1), None);
    for size in [
        1,
        2,
        3,
        u64::MAX / 2,
        u64::MAX / 2 + 1,
        u64::MAX - 1,
        u64::MAX,
    ] {
        for index in [0, 1, size / 2, size - 1] {
            if index < size {
                assert!(inclusion_proof_len(index, size).unwrap() <= 64);
                assert!(consistency_proof_len(index, size).unwrap() <= 65);
            }
        }
    }
}

/// A tree whose leaves are all the same hash, of any size up to `u64::MAX`:
/// every node at a level is then the same hash, so it is cheap to serve.
struct Uniform {
    size: u64,
    levels: [Hash; 64],
}

impl Uniform {
    fn new(size: u64) -> Self {
        let mut levels = [leaf_hash(b"same"); 64];
        for l in 1..64 {
            levels[l] = node_hash(&levels[l - 1], &levels[l - 1]);
        }
        Self { size, levels }
    }
}

impl Nodes for Uniform {
    type Error = MissingNode;
    fn node(&self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        if !node_exists(self.size, level, index) {
            return Err(MissingNode {
                size: self.size,
                level,
                index,
            });
        }
        Ok(self.levels[level as usize])
    }
}

#[test]
fn proofs_at_the_u64_limit_are_made_and_verified() {
    let leaf = leaf_hash(b"same");
    let sizes = [
        u64::MAX,
        u64::MAX - 1,
        1 << 63,
        (1 << 63) + 1,
        (1 << 63) - 1,
        (3 << 62) + 1,
        u64::MAX / 3,
    ];
    for &size in &sizes {
        let tree = Uniform::new(size);
        let r = root(&tree, size).unwrap();
        let frontier = Frontier::load(&tree, size).unwrap();
        assert_eq!(frontier.root(), r);
        assert_eq!(frontier.size(), size);
        for index in [0, 1, size / 2, size - 2, size - 1] {
            let proof = inclusion_proof(&tree, index, size).unwrap();
            assert_eq!(Some(proof.len()), inclusion_proof_len(index, size));
            verify_inclusion(&leaf, index, size, &proof, &r).unwrap();
            assert!(verify_inclusion(&flip(&leaf, 3), index, size, &proof, &r).is_err());
        }
        for old in [1, 2, 3, 5, (1 << 63) + 3, size / 2, size - 1, size] {
            if old > size {
                continue;
            }
            let old_tree = Uniform::new(old);
            let old_root = root(&old_tree, old).unwrap();
            let proof = consistency_proof(&tree, old, size).unwrap();
            assert_eq!(Some(proof.len()), consistency_proof_len(old, size));
            verify_consistency(old, size, &old_root, &r, &proof).unwrap();
            assert!(verify_consistency(old, size, &old_root, &flip(&r, 9), &proof).is_err());
        }
    }
}

#[test]
fn a_full_frontier_ignores_a_push() {
    let tree = Uniform::new(u64::MAX);
    let mut frontier = Frontier::load(&tree, u64::MAX).unwrap();
    let before = frontier.clone();
    let mut closed = vec![EMPTY_ROOT];
    frontier.push(leaf_hash(b"one too many"), &mut closed);
    assert_eq!(frontier, before);
    assert!(closed.is_empty());
}

#[test]
fn an_inclusion_proof_binds_the_root_not_the_size() {
    // Leaf 0 of 5 and of 6 leaves take the same turns (right, right, right), so
    // the proof for 5 also verifies against the root of 5 claimed for 6: a
    // verifier must take the size and the root together from one signed
    // checkpoint. Against the true root of 6, it fails.
    let all = leaves(5, 6);
    let tree: MemoryTree = all.iter().copied().collect();
    let proof5 = inclusion_proof(&View::new(&tree, 5), 0, 5).unwrap();
    let root5 = root(&tree, 5).unwrap();
    let root6 = root(&tree, 6).unwrap();
    verify_inclusion(&all[0], 0, 6, &proof5, &root5).unwrap();
    assert_eq!(
        verify_inclusion(&all[0], 0, 6, &proof5, &root6),
        Err(VerifyError::InclusionRootMismatch { index: 0, size: 6 })
    );
    // The same holds for consistency: 4 to 5 and 4 to 6 take the same turns.
    let proof45 = consistency_proof(&tree, 4, 5).unwrap();
    let root4 = root(&tree, 4).unwrap();
    verify_consistency(4, 6, &root4, &root5, &proof45).unwrap();
    assert!(verify_consistency(4, 6, &root4, &root6, &proof45).is_err());
}

#[test]
fn verify_errors_read_as_plain_english() {
    let cases = [
        (
            VerifyError::IndexOutOfRange { index: 9, size: 1 },
            "there is no leaf 9 in a tree of 1 leaf: leaf indexes run from 0 to the size minus 1",
        ),
        (
            VerifyError::OldAfterNew { old: 9, new: 4 },
            "the old tree (9 leaves) is larger than the new tree (4 leaves): a log only grows, so no proof can show they are consistent",
        ),
        (
            VerifyError::InclusionProofLength {
                index: 5,
                size: 8,
                got: 1,
                want: 3,
            },
            "the inclusion proof has 1 hash, but one for leaf 5 in a tree of 8 leaves has exactly 3 hashes",
        ),
        (
            VerifyError::ConsistencyProofLength {
                old: 0,
                new: 8,
                got: 2,
                want: 0,
            },
            "the consistency proof has 2 hashes, but one from a tree of 0 leaves to a tree of 8 leaves has exactly 0 hashes",
        ),
        (
            VerifyError::InclusionRootMismatch { index: 5, size: 8 },
            "the leaf hash and the inclusion proof lead to a different root hash than the tree's: the leaf is not entry 5 of that tree of 8 leaves, or the proof is wrong",
        ),
        (
            VerifyError::OldRootMismatch { old: 3, new: 8 },
            "the consistency proof leads to a different root hash for the old tree of 3 leaves than the one given: the proof is not about that old tree",
        ),
        (
            VerifyError::NewRootMismatch { old: 3, new: 8 },
            "the consistency proof leads to a different root hash for the new tree of 8 leaves than the one given: the new tree does not begin with the old tree of 3 leaves, or the proof is wrong",
        ),
        (
            VerifyError::SameSizeDifferentRoots { size: 8 },
            "both trees have 8 leaves but their root hashes differ: they are two different trees of the same size (a fork of the log)",
        ),
        (
            VerifyError::EmptyTreeRoot,
            "a tree of 0 leaves must have the empty tree's root hash (SHA-256 of nothing, 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=), but a different root hash was given",
        ),
    ];
    for (err, want) in cases {
        assert_eq!(err.to_string(), want);
    }
}

#[test]
fn the_memory_tree_holds_every_existing_node_and_no_other() {
    let all = leaves(6, 37);
    let tree: MemoryTree = all.iter().copied().collect();
    for level in 0..7u32 {
        for index in 0..40u64 {
            let got = tree.node(level, index);
            if node_exists(37, level, index) {
                let lo = usize_of(index << level);
                let hi = usize_of((index + 1) << level);
                assert_eq!(got.unwrap(), reference::mth(&all[lo..hi]));
            } else {
                assert_eq!(
                    got,
                    Err(MissingNode {
                        size: 37,
                        level,
                        index
                    })
                );
            }
        }
    }
    assert!(tree.node(u32::MAX, u64::MAX).is_err());
}

// --- tlog_tiles as an oracle -------------------------------------------------

/// Go sumdb tlog's hash storage (Crosby–Wallach order), as tlog_tiles keeps it.
struct TlogStorage(Vec<tlog_tiles::Hash>);

impl tlog_tiles::HashReader for TlogStorage {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                self.0
                    .get(usize_of(i))
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

fn tlog_hashes(proof: &[Hash]) -> Vec<tlog_tiles::Hash> {
    proof.iter().map(|h| tlog_tiles::Hash(*h)).collect()
}

fn ours(proof: &[tlog_tiles::Hash]) -> Vec<Hash> {
    proof.iter().map(|h| h.0).collect()
}

// --- Properties -------------------------------------------------------------

/// Tree sizes: small ones, powers of two and their neighbours, up to a few thousand.
fn size_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..=40,
        (0u32..=12, 0u64..=2).prop_map(|(p, d)| (1u64 << p) + d - 1),
        0u64..=3000,
    ]
}

/// A position in `0..=n` (or `0..n` when `below`): the ends, the middle and
/// powers of two more often than chance would give them.
fn pick(n: u64, which: u8, any: u64, below: bool) -> u64 {
    let top = if below { n.saturating_sub(1) } else { n };
    let v = match which % 6 {
        0 => 0,
        1 => top,
        2 => top / 2,
        3 => 1u64 << (63 - top.max(1).leading_zeros()),
        4 => top.saturating_sub(1),
        _ => any % (top + 1),
    };
    v.min(top)
}

fn fuzz_cases(default: u32) -> u32 {
    std::env::var("RUNSHEET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Roots and proofs from stored nodes are the RFC definitions' (the
    /// reference), read only from nodes that exist at the size asked, and in
    /// O(log n) reads, even from a store holding a larger tree.
    #[test]
    fn roots_and_proofs_equal_the_reference(
        n in size_strategy(), extra in 0u64..40, seed: u64,
        wi: u8, ai: u64, wo: u8, ao: u64,
    ) {
        let all = leaves(seed, n + extra);
        let tree: MemoryTree = all.iter().copied().collect();
        let view = View::new(&tree, n);
        let d = &all[..usize_of(n)];
        let limit = 2 * bit_len(n) + 1;

        prop_assert_eq!(root(&view, n).unwrap(), reference::mth(d));
        prop_assert_eq!(view.take_reads(), n.count_ones() as usize);

        if n > 0 {
            let index = pick(n, wi, ai, true);
            let proof = inclusion_proof(&view, index, n).unwrap();
            prop_assert!(view.take_reads() <= limit);
            prop_assert_eq!(&proof, &reference::path(usize_of(index), d));
            prop_assert_eq!(Some(proof.len()), inclusion_proof_len(index, n));
        }

        let old = pick(n, wo, ao, false);
        let proof = consistency_proof(&view, old, n).unwrap();
        prop_assert!(view.take_reads() <= limit);
        prop_assert_eq!(&proof, &reference::proof(usize_of(old), d));
        prop_assert_eq!(Some(proof.len()), consistency_proof_len(old, n));
    }

    /// A proof verifies, and changing any bit of any proof element, of the
    /// leaf or of a root, or claiming another index or size (with that size's
    /// root), makes it fail; so does any proof one hash too long or too short,
    /// with a length error naming the right length.
    #[test]
    fn proofs_verify_and_every_change_fails(
        n in size_strategy(), seed: u64,
        wi: u8, ai: u64, wo: u8, ao: u64, other: u64, bit in 0usize..256,
    ) {
        prop_assume!(n > 0);
        let all = leaves(seed, n);
        let tree: MemoryTree = all.iter().copied().collect();
        let r = tree.root();

        let index = pick(n, wi, ai, true);
        let leaf = all[usize_of(index)];
        let proof = inclusion_proof(&tree, index, n).unwrap();
        prop_assert_eq!(verify_inclusion(&leaf, index, n, &proof, &r), Ok(()));
        for i in 0..proof.len() {
            for b in [bit, (bit + 85) % 256, (bit + 170) % 256] {
                let mut bad = proof.clone();
                bad[i] = flip(&bad[i], b);
                prop_assert_eq!(
                    verify_inclusion(&leaf, index, n, &bad, &r),
                    Err(VerifyError::InclusionRootMismatch { index, size: n })
                );
            }
        }
        prop_assert!(verify_inclusion(&flip(&leaf, bit), index, n, &proof, &r).is_err());
        prop_assert!(verify_inclusion(&leaf, index, n, &proof, &flip(&r, bit)).is_err());
        let other_index = other % n;
        if other_index != index {
            prop_assert!(verify_inclusion(&leaf, other_index, n, &proof, &r).is_err());
        }
        let other_size = index + 1 + other % (n + 40);
        if other_size != n {
            let other_tree: MemoryTree = leaves(seed, other_size).into_iter().collect();
            let other_root = other_tree.root();
            prop_assert!(verify_inclusion(&leaf, index, other_size, &proof, &other_root).is_err());
        }
        let mut long = proof.clone();
        long.push(r);
        let want = proof.len();
        prop_assert_eq!(
            verify_inclusion(&leaf, index, n, &long, &r),
            Err(VerifyError::InclusionProofLength { index, size: n, got: want + 1, want })
        );
        if want > 0 {
            prop_assert_eq!(
                verify_inclusion(&leaf, index, n, &proof[1..], &r),
                Err(VerifyError::InclusionProofLength { index, size: n, got: want - 1, want })
            );
        }

        let old = pick(n, wo, ao, false);
        let old_root = reference::mth(&all[..usize_of(old)]);
        let proof = consistency_proof(&tree, old, n).unwrap();
        prop_assert_eq!(verify_consistency(old, n, &old_root, &r, &proof), Ok(()));
        for i in 0..proof.len() {
            for b in [bit, (bit + 85) % 256, (bit + 170) % 256] {
                let mut bad = proof.clone();
                bad[i] = flip(&bad[i], b);
                prop_assert!(verify_consistency(old, n, &old_root, &r, &bad).is_err());
            }
        }
        prop_assert!(verify_consistency(old, n, &flip(&old_root, bit), &r, &proof).is_err());
        if old > 0 {
            // (The empty tree is a prefix of every tree, whatever its root.)
            prop_assert!(verify_consistency(old, n, &old_root, &flip(&r, bit), &proof).is_err());
        }
        if old > 0 && old < n {
            // Another old size, with that size's true root.
            let other_old = 1 + other % n;
            if other_old != old {
                let other_root = reference::mth(&all[..usize_of(other_old)]);
                prop_assert!(verify_consistency(other_old, n, &other_root, &r, &proof).is_err());
            }
        }
        let want = proof.len();
        let mut long = proof.clone();
        long.push(r);
        prop_assert_eq!(
            verify_consistency(old, n, &old_root, &r, &long),
            Err(VerifyError::ConsistencyProofLength { old, new: n, got: want + 1, want })
        );
        if want > 0 {
            prop_assert_eq!(
                verify_consistency(old, n, &old_root, &r, &proof[..want - 1]),
                Err(VerifyError::ConsistencyProofLength { old, new: n, got: want - 1, want })
            );
        }
    }

    /// A fork: a second tree B that agrees with A on the leaves before `f` and
    /// differs from there on. B's proofs fail against A's roots, except where
    /// they are A's proofs too: the consistency of an old size the fork does
    /// not reach (old <= f) truly holds, and an inclusion proof whose
    /// siblings all lie before the fork is also A's.
    #[test]
    fn proofs_from_a_forked_tree_fail(
        n in 1u64..1500, seed: u64, fork: u64, wi: u8, ai: u64, wo: u8, ao: u64,
    ) {
        let a = leaves(seed, n);
        let f = usize_of(fork % n);
        let mut b = a.clone();
        for leaf in &mut b[f..] {
            *leaf = flip(leaf, 0);
        }
        let (ta, tb): (MemoryTree, MemoryTree) =
            (a.iter().copied().collect(), b.iter().copied().collect());
        let (ra, rb) = (ta.root(), tb.root());
        prop_assert_ne!(ra, rb);

        let index = pick(n, wi, ai, true);
        let i = usize_of(index);
        let proof_b = inclusion_proof(&tb, index, n).unwrap();
        let proof_a = inclusion_proof(&ta, index, n).unwrap();
        verify_inclusion(&b[i], index, n, &proof_b, &rb).unwrap();
        prop_assert!(verify_inclusion(&b[i], index, n, &proof_b, &ra).is_err());
        prop_assert_eq!(
            verify_inclusion(&a[i], index, n, &proof_b, &ra).is_ok(),
            proof_a == proof_b
        );

        let old = pick(n, wo, ao, false);
        let proof = consistency_proof(&tb, old, n).unwrap();
        let old_a = reference::mth(&a[..usize_of(old)]);
        let result = verify_consistency(old, n, &old_a, &rb, &proof);
        if usize_of(old) <= f {
            prop_assert_eq!(result, Ok(()), "B extends A's first {} leaves", old);
        } else {
            prop_assert!(result.is_err());
        }
        if old > 0 && old < n {
            prop_assert!(verify_consistency(old, n, &old_a, &ra, &proof).is_err());
        }
    }

    /// Cloudflare's tlog_tiles (a port of Go's sumdb tlog) agrees: the same
    /// stored nodes at the same coordinates, roots, and proofs, and each side
    /// accepts the other's proofs.
    #[test]
    fn tlog_tiles_agrees(n in 1u64..2000, seed: u64, wi: u8, ai: u64, wo: u8, ao: u64, ws: u8, as_: u64) {
        let all = leaves(seed, n);
        let tree: MemoryTree = all.iter().copied().collect();
        let mut storage = TlogStorage(Vec::new());
        for (i, leaf) in all.iter().enumerate() {
            let new = tlog_tiles::stored_hashes_for_record_hash(i as u64, tlog_tiles::Hash(*leaf), &storage).unwrap();
            storage.0.extend(new);
        }
        for level in 0..=bit_len(n) as u8 {
            for index in 0..(n >> level) {
                let theirs = storage.0[usize_of(tlog_tiles::stored_hash_index(level, index))];
                prop_assert_eq!(theirs.0, tree.node(u32::from(level), index).unwrap());
            }
        }
        let size = 1 + pick(n - 1, ws, as_, false);
        let view = View::new(&tree, size);
        let r = root(&view, size).unwrap();
        prop_assert_eq!(tlog_tiles::tree_hash(size, &storage).unwrap().0, r);

        let index = pick(size, wi, ai, true);
        let proof = inclusion_proof(&view, index, size).unwrap();
        let theirs = tlog_tiles::prove_record(size, index, &storage).unwrap();
        prop_assert_eq!(&ours(&theirs), &proof);
        let leaf = all[usize_of(index)];
        prop_assert!(tlog_tiles::check_record(&tlog_hashes(&proof), size, tlog_tiles::Hash(r), index, tlog_tiles::Hash(leaf)).is_ok());
        prop_assert_eq!(verify_inclusion(&leaf, index, size, &ours(&theirs), &r), Ok(()));

        let old = 1 + pick(size - 1, wo, ao, false);
        let proof = consistency_proof(&view, old, size).unwrap();
        let theirs = tlog_tiles::prove_tree(size, old, &storage).unwrap();
        prop_assert_eq!(&ours(&theirs), &proof);
        let old_root = root(&view, old).unwrap();
        prop_assert!(tlog_tiles::check_tree(&tlog_hashes(&proof), size, tlog_tiles::Hash(r), old, tlog_tiles::Hash(old_root)).is_ok());
        prop_assert_eq!(verify_consistency(old, size, &old_root, &r, &ours(&theirs)), Ok(()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The frontier's root after every push is the reference root of the
    /// leaves so far, and each push reports exactly the nodes the module doc
    /// says: levels 1..=trailing_zeros(s), the node at level L being
    /// (L, (s >> L) - 1), lowest first; together, every node at levels 1 and up.
    #[test]
    fn the_frontier_reports_closed_nodes_by_the_documented_rule(n in 0u64..300, seed: u64) {
        let all = leaves(seed, n);
        let mut frontier = Frontier::new();
        let mut closed = vec![EMPTY_ROOT; 3];
        let mut reported = 0u64;
        prop_assert_eq!(frontier.root(), EMPTY_ROOT);
        for (i, leaf) in all.iter().enumerate() {
            let s = i as u64 + 1;
            frontier.push(*leaf, &mut closed);
            prop_assert_eq!(frontier.size(), s);
            prop_assert_eq!(frontier.root(), reference::mth(&all[..usize_of(s)]));
            prop_assert_eq!(frontier.hashes().len(), s.count_ones() as usize);
            prop_assert_eq!(closed.len(), s.trailing_zeros() as usize);
            for (j, h) in closed.iter().enumerate() {
                let level = j as u32 + 1;
                let index = (s >> level) - 1;
                let lo = usize_of(index << level);
                let hi = usize_of((index + 1) << level);
                prop_assert_eq!(hi, usize_of(s));
                prop_assert_eq!(*h, reference::mth(&all[lo..hi]));
            }
            reported += closed.len() as u64;
        }
        prop_assert_eq!(reported, n - u64::from(n.count_ones()));
    }

    /// A frontier loaded from stored nodes at any size continues exactly as
    /// the one that pushed every leaf: same state, same closed nodes, same roots.
    #[test]
    fn a_loaded_frontier_continues_identically(n in 0u64..1200, at: u64, seed: u64) {
        let all = leaves(seed, n);
        let tree: MemoryTree = all.iter().copied().collect();
        let m = at % (n + 1);
        let view = View::new(&tree, m);
        let mut loaded = Frontier::load(&view, m).unwrap();
        prop_assert_eq!(view.take_reads(), m.count_ones() as usize);
        let mut pushed = Frontier::new();
        let (mut c1, mut c2) = (Vec::new(), Vec::new());
        for leaf in &all[..usize_of(m)] {
            pushed.push(*leaf, &mut c1);
        }
        prop_assert_eq!(&loaded, &pushed);
        for leaf in &all[usize_of(m)..] {
            loaded.push(*leaf, &mut c1);
            pushed.push(*leaf, &mut c2);
            prop_assert_eq!(&c1, &c2);
            prop_assert_eq!(&loaded, &pushed);
        }
        prop_assert_eq!(loaded.root(), tree.root());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fuzz_cases(256)))]

    /// Any sizes, indexes and proofs, sizes near u64::MAX included: the
    /// verifiers answer without panicking, and a proof of the wrong length is
    /// always a length error naming the right length.
    #[test]
    fn verification_never_panics(
        index in prop_oneof![any::<u64>(), Just(0u64), Just(u64::MAX), Just(u64::MAX - 1), Just(1u64 << 63)],
        size in prop_oneof![any::<u64>(), Just(0u64), Just(1u64), Just(u64::MAX), Just(u64::MAX - 1), Just(1u64 << 63)],
        len in 0usize..70,
        fill: u8,
    ) {
        let proof: Vec<Hash> = (0..len).map(|i| [fill ^ i as u8; 32]).collect();
        if let Some(l) = inclusion_proof_len(index, size) {
            prop_assert!(l <= 64);
        }
        if let Some(l) = consistency_proof_len(index, size) {
            prop_assert!(l <= 64 || (l == 65 && size > 1 << 63));
        }
        let leaf = [fill; 32];
        match verify_inclusion(&leaf, index, size, &proof, &EMPTY_ROOT) {
            Err(VerifyError::IndexOutOfRange { .. }) => prop_assert!(index >= size),
            Err(VerifyError::InclusionProofLength { got, want, .. }) => {
                prop_assert_eq!(got, len);
                prop_assert_eq!(Some(want), inclusion_proof_len(index, size));
                prop_assert_ne!(got, want);
            }
            Err(VerifyError::InclusionRootMismatch { .. }) => {
                prop_assert_eq!(Some(len), inclusion_proof_len(index, size));
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
        let (old, new) = (index, size);
        match verify_consistency(old, new, &leaf, &EMPTY_ROOT, &proof) {
            Err(VerifyError::OldAfterNew { .. }) => prop_assert!(old > new),
            Err(VerifyError::ConsistencyProofLength { got, want, .. }) => {
                prop_assert_eq!(got, len);
                prop_assert_eq!(Some(want), consistency_proof_len(old, new));
                prop_assert_ne!(got, want);
            }
            Err(VerifyError::OldRootMismatch { .. } | VerifyError::NewRootMismatch { .. }) => {
                prop_assert_eq!(Some(len), consistency_proof_len(old, new));
            }
            Err(VerifyError::EmptyTreeRoot | VerifyError::SameSizeDifferentRoots { .. }) => {
                prop_assert!(old == 0 || old == new);
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}
