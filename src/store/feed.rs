//! The SIEM feeds' positions (`feed_positions`, schema 6): for each feed
//! file, by its canonical path, the last event appended to it. Not evidence:
//! no event records it, and it is outside the hash chain and the tree.
//!
//! May not depend on the engine, tui, export or app.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::OptionalExtension;

use super::{Store, StoreError, has_table};

/// How far a feed has got.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FeedPosition {
    /// The last event appended to the feed (0: none yet).
    pub seq: i64,
    /// Its record hash ("" when `seq` is 0).
    pub record_hash: String,
    /// The file (`dev:inode`) `feed --rotated` accepted while it was empty:
    /// a plain feed takes that same empty file up again. `None` once a line
    /// was appended (a later truncation is then refused again).
    pub accepted_file: Option<String>,
}

impl Store {
    /// The stored position of the feed written to `feed` (a canonical path);
    /// `None` when this feed never ran (or the log predates schema 6).
    pub fn feed_position(&self, feed: &str) -> Result<Option<FeedPosition>, StoreError> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        if !has_table(&self.conn, "feed_positions").map_err(sql)? {
            return Ok(None);
        }
        self.conn
            .query_row(
                "SELECT seq, record_hash, accepted_file FROM feed_positions WHERE feed = ?1",
                [feed],
                |r| {
                    Ok(FeedPosition {
                        seq: r.get(0)?,
                        record_hash: r.get(1)?,
                        accepted_file: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(sql)
    }

    /// Advance (or first set) the position of the feed written to `feed`.
    pub fn set_feed_position(
        &mut self,
        feed: &str,
        position: &FeedPosition,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        self.conn
            .execute(
                "INSERT INTO feed_positions (feed, seq, record_hash, updated_at, accepted_file) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT(feed) DO UPDATE SET seq = excluded.seq, \
                 record_hash = excluded.record_hash, updated_at = excluded.updated_at, \
                 accepted_file = excluded.accepted_file",
                rusqlite::params![
                    feed,
                    position.seq,
                    position.record_hash,
                    at.to_rfc3339_opts(SecondsFormat::Millis, true),
                    position.accepted_file
                ],
            )
            .map(|_| ())
            .map_err(sql)
    }

    /// The hash of the event at `seq`, if the log has one.
    pub fn record_hash_at(&self, seq: i64) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT hash FROM events WHERE seq = ?1", [seq], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }
}
