//! The log's Merkle tree (docs/custody.md): the RFC 9162 tree over the
//! records, its stored nodes in `tree_nodes`, and the frontier a writer keeps
//! to extend it by about two hashes per record.
//!
//! May not depend on the engine, tui, export or app.

use rusqlite::{Connection, OptionalExtension, params};

use crate::custody::merkle::{self, Frontier, Hash, Nodes};

/// The leaf hash of a record: SHA-256(0x00 ‖ the 32 bytes of its record
/// hash). `None` when the stored hash is not 64 lower-case hex digits.
pub(crate) fn record_leaf(hash_hex: &[u8]) -> Option<Hash> {
    let raw = record_hash_bytes(hash_hex)?;
    Some(merkle::leaf_hash(&raw))
}

/// The 32 bytes a record hash's hex text stands for.
pub(crate) fn record_hash_bytes(hash_hex: &[u8]) -> Option<[u8; 32]> {
    if hash_hex.len() != 64
        || !hash_hex
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return None;
    }
    let mut raw = [0u8; 32];
    hex::decode_to_slice(hash_hex, &mut raw).ok()?;
    Some(raw)
}

/// Why a node could not be read from the log.
#[derive(Debug)]
pub(crate) enum NodeError {
    Sql(rusqlite::Error),
    /// The node should be stored but is not, or its bytes cannot be a node.
    Missing {
        level: u32,
        index: u64,
        why: String,
    },
}

impl From<rusqlite::Error> for NodeError {
    fn from(e: rusqlite::Error) -> Self {
        NodeError::Sql(e)
    }
}

impl std::fmt::Display for NodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeError::Sql(e) => write!(f, "{e}"),
            NodeError::Missing { level, index, why } => write!(
                f,
                "the Merkle tree's node at level {level}, index {index} {why}; run `runsheet verify`"
            ),
        }
    }
}

/// The stored tree of one connection: level 0 from the records' hashes,
/// higher levels from `tree_nodes`.
pub(crate) struct SqlNodes<'c> {
    pub conn: &'c Connection,
}

impl Nodes for SqlNodes<'_> {
    type Error = NodeError;

    fn node(&self, level: u32, index: u64) -> Result<Hash, NodeError> {
        let missing = |why: &str| NodeError::Missing {
            level,
            index,
            why: why.to_string(),
        };
        if level == 0 {
            let seq = i64::try_from(index).ok().and_then(|i| i.checked_add(1));
            let Some(seq) = seq else {
                return Err(missing("is beyond any log"));
            };
            let hash: Option<Vec<u8>> = self
                .conn
                .prepare_cached("SELECT hash FROM events WHERE seq = ?1")?
                .query_row([seq], |r| {
                    Ok(r.get_ref(0)?.as_bytes().ok().map(<[u8]>::to_vec))
                })
                .optional()?
                .flatten();
            let Some(hash) = hash else {
                return Err(missing("(a record) is not in the log"));
            };
            return record_leaf(&hash).ok_or_else(|| missing("(a record) has no readable hash"));
        }
        // Stored in the row of the event that completes it: seq (index + 1) << level.
        let seq = index
            .checked_add(1)
            .and_then(|i| i.checked_shl(level))
            .filter(|s| s >> level == index + 1)
            .and_then(|s| i64::try_from(s).ok());
        let Some(seq) = seq else {
            return Err(missing("is beyond any log"));
        };
        let blob: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT hashes FROM tree_nodes WHERE seq = ?1")?
            .query_row([seq], |r| {
                Ok(r.get_ref(0)?.as_blob().ok().map(<[u8]>::to_vec))
            })
            .optional()?
            .flatten();
        let Some(blob) = blob else {
            return Err(missing("is not stored"));
        };
        let at = (level as usize - 1) * 32;
        blob.get(at..at + 32)
            .and_then(|h| <Hash>::try_from(h).ok())
            .ok_or_else(|| missing("is not in its row"))
    }
}

/// Store the nodes the record `seq` completed (nothing when there are none).
pub(crate) fn insert_nodes(conn: &Connection, seq: i64, closed: &[Hash]) -> rusqlite::Result<()> {
    if closed.is_empty() {
        return Ok(());
    }
    let blob: Vec<u8> = closed.iter().flatten().copied().collect();
    conn.prepare_cached("INSERT INTO tree_nodes (seq, hashes) VALUES (?1, ?2)")?
        .execute(params![seq, blob])?;
    Ok(())
}

/// Build the tree over every record of a log that has none yet (the schema 4
/// migration): stream the records in order, store every node, and return the
/// frontier at the head. A record whose hash is not 64 hex digits stops it.
pub(crate) fn build(conn: &Connection) -> Result<Frontier, NodeError> {
    let mut frontier = Frontier::new();
    let mut closed = Vec::new();
    let mut stmt = conn.prepare("SELECT seq, hash FROM events ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    let mut insert = conn.prepare("INSERT INTO tree_nodes (seq, hashes) VALUES (?1, ?2)")?;
    let mut blob = Vec::new();
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let expected = i64::try_from(frontier.size() + 1).unwrap_or(i64::MAX);
        let index = frontier.size();
        if seq != expected {
            return Err(NodeError::Missing {
                level: 0,
                index,
                why: format!(
                    "(seq {expected}) is not in the log: the records go on at seq {seq}, so the tree cannot be built over them"
                ),
            });
        }
        let leaf = record_leaf(row.get_ref(1)?.as_bytes().unwrap_or_default()).ok_or(
            NodeError::Missing {
                level: 0,
                index,
                why: format!("(seq {seq}) has no readable record hash"),
            },
        )?;
        frontier.push(leaf, &mut closed);
        if !closed.is_empty() {
            blob.clear();
            blob.extend(closed.iter().flatten());
            insert.execute(params![seq, blob])?;
        }
    }
    Ok(frontier)
}

/// The frontier of the stored tree at `size` leaves.
pub(crate) fn load(conn: &Connection, size: u64) -> Result<Frontier, NodeError> {
    Frontier::load(&SqlNodes { conn }, size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custody::checkpoint::{Checkpoint, SignedCheckpoint};
    use crate::custody::note::Signer;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;

    /// The record hashes of docs/evidence-schema.md's test vectors.
    const RECORDS: [&str; 3] = [
        "8f39e4868089b60c45bce0bd3ee4d7ba5af2ee3876e6ac42e6c0ee23e8b152c4",
        "02d8ce76bcb9b1d6d5bb7d5c1e7ca0d93f622fe6a07fe0befff70678f43cf677",
        "c0fed204d9db2bf5bbdda3807a2b111bfedca80151bad286c006e3d8a7474092",
    ];

    /// docs/custody.md's test vectors: leaf hashes, the roots of one to
    /// three leaves, and a checkpoint signed with a key from a fixed seed.
    #[test]
    fn documented_tree_and_checkpoint_vectors() {
        let leaves: Vec<Hash> = RECORDS
            .iter()
            .map(|h| record_leaf(h.as_bytes()).expect("leaf"))
            .collect();
        // By hand: SHA-256(0x00 ‖ 32 raw bytes).
        let raw = hex::decode(RECORDS[0]).expect("hex");
        let mut input = vec![0u8];
        input.extend_from_slice(&raw);
        assert_eq!(
            leaves[0].as_slice(),
            hex::decode(crate::store::sha256_hex(&input)).expect("hex")
        );
        let hexes: Vec<String> = leaves.iter().map(hex::encode).collect();
        assert_eq!(
            hexes,
            [
                "99d3e39c46d8a95073e116f58b053b36aa4f2f7bad3bae6b72abb0b0d7e8cc91",
                "293863102e2aeb588bdebabc9155776d2f955c4d0bfb9dff31fd099e4526cd24",
                "63f72c8bc84f81ef785e035fdbb3729a7d184bdbd52b2c4223c65029d700b8d8",
            ]
        );
        let mut f = Frontier::new();
        let mut closed = Vec::new();
        let mut roots = Vec::new();
        for leaf in &leaves {
            f.push(*leaf, &mut closed);
            roots.push(BASE64.encode(f.root()));
        }
        assert_eq!(
            roots,
            [
                "mdPjnEbYqVBz4Rb1iwU7NqpPL3utO65rcquwsNfozJE=",
                "fccFBl6zLJr3qq+Tp5TAosgDv+7KrP26q4ERCt0ZOqs=",
                "ePfQdaAwau5EG4349LgUJpxg/d8buiXdbeXxky64mGc=",
            ]
        );
        let signer = Signer::from_seed("runsheet/example/0190", &[7u8; 32]).expect("signer");
        let cp = Checkpoint::new("runsheet/example/0190", 3, f.root()).expect("checkpoint");
        let signed = SignedCheckpoint::sign(cp, &signer).expect("sign");
        assert_eq!(
            signer.verifier().to_vkey(),
            "runsheet/example/0190+48af6e8d+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs"
        );
        // Checked with openssl (Ed25519 from the same seed) when written.
        assert_eq!(
            signed.format(),
            "runsheet/example/0190\n3\nePfQdaAwau5EG4349LgUJpxg/d8buiXdbeXxky64mGc=\n\n\
             — runsheet/example/0190 SK9ujUmznESTYhRBaEVYZEa3+k01dbMQI5WjfysNeXaNGRezGBkkzeMZ0voWXh4x+aZg7gTt2Jpi5p+11VIiz+dx9Aw=\n"
        );
    }
}
