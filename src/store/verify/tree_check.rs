//! The stored Merkle tree against the records: as the walk recomputes the
//! tree record by record, every row of `tree_nodes` must hold exactly the
//! nodes its record completed, in order, with no row missing or extra.
//!
//! May not depend on the engine, tui, export or app.

use rusqlite::types::ValueRef;

use crate::custody::merkle::Hash;

/// `tree_nodes` rows in seq order, beside the walk.
pub(super) struct NodeCursor<'s> {
    rows: rusqlite::Rows<'s>,
    /// The next row's seq, and whether its `hashes` is a BLOB (held in `blob`).
    next: Option<(i64, bool)>,
    /// The next row's hashes, in a buffer kept across rows.
    blob: Vec<u8>,
}

pub(super) const NODE_ROWS_SQL: &str =
    "SELECT seq, hashes FROM tree_nodes WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq";

impl<'s> NodeCursor<'s> {
    pub fn new(mut rows: rusqlite::Rows<'s>) -> rusqlite::Result<NodeCursor<'s>> {
        let mut blob = Vec::new();
        let next = read(&mut rows, &mut blob)?;
        Ok(NodeCursor { rows, next, blob })
    }

    /// The record `seq` completed the nodes `closed` (lowest level first):
    /// `Some(why)` when the stored rows say otherwise.
    pub fn check(&mut self, seq: i64, closed: &[Hash]) -> rusqlite::Result<Option<String>> {
        if let Some((row, _)) = &self.next
            && *row < seq
        {
            return Ok(Some(format!(
                "the Merkle tree holds a row for seq {row}, which completes no subtree: it was inserted"
            )));
        }
        if closed.is_empty() {
            if let Some((row, _)) = &self.next
                && *row == seq
            {
                return Ok(Some(format!(
                    "the Merkle tree holds a row for seq {seq}, which completes no subtree: it was inserted"
                )));
            }
            return Ok(None);
        }
        let Some((row, is_blob)) = self.next.take().filter(|(row, _)| *row == seq) else {
            return Ok(Some(format!(
                "the Merkle tree's nodes completed by seq {seq} are missing: they were deleted"
            )));
        };
        debug_assert_eq!(row, seq);
        let h = self.blob.as_slice();
        let matches = is_blob
            && h.len() == closed.len() * 32
            && h.chunks_exact(32).zip(closed).all(|(a, b)| a == b);
        self.next = read(&mut self.rows, &mut self.blob)?;
        Ok((!matches).then(|| {
            format!(
                "the Merkle tree's nodes completed by seq {seq} do not match the records: they were edited"
            )
        }))
    }
}

/// The next row: its seq, and whether its hashes are a BLOB (copied into `blob`).
fn read(
    rows: &mut rusqlite::Rows<'_>,
    blob: &mut Vec<u8>,
) -> rusqlite::Result<Option<(i64, bool)>> {
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let seq = row.get_ref(0)?.as_i64().unwrap_or(i64::MIN);
    blob.clear();
    let is_blob = match row.get_ref(1)? {
        ValueRef::Blob(b) => {
            blob.extend_from_slice(b);
            true
        }
        _ => false,
    };
    Ok(Some((seq, is_blob)))
}
