//! Redaction, the one change to recorded content the log allows: a
//! custodian's key registered by a recorded `custodian-added` event, and a
//! `redaction` event signed by that custodian that erases one record's
//! content (never the record) in the same transaction.
//!
//! May not depend on the engine, tui, export or app.

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::content::{RedactionClaim, redaction_statement};
use super::kinds::{CONTENT_SHA256, KIND_CUSTODIAN_ADDED};
use super::log_payload::{CustodianAdded, LogPayload};
use super::write::{insert_log_event, sign_for};
use super::{Store, StoreError, StoredEvent};
use crate::custody::note::{Signer, Verifier};

/// A record whose content is still held, for `redact --due`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldContent {
    pub seq: i64,
    pub run_id: Uuid,
    pub kind: String,
}

impl Store {
    /// The custodians registered in the log: (seq, verifier key), in order.
    pub fn custodians(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let sql = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, json_extract(payload, '$.vkey') FROM events \
                 WHERE run_id IS NULL AND kind = ?1 ORDER BY seq",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map([KIND_CUSTODIAN_ADDED], |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                ))
            })
            .map_err(sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(sql)
    }

    /// Record `custodian` as a key allowed to sign redactions (a
    /// `custodian-added` log event). Refused for the log's own key and for a
    /// key already registered.
    pub fn add_custodian(
        &mut self,
        custodian: &Verifier,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<StoredEvent, StoreError> {
        let vkey = custodian.to_vkey();
        if let Some(log) = self.log_key()?.and_then(|k| k.verifier())
            && log.public_key() == custodian.public_key()
        {
            return Err(StoreError::Refused(
                "that is the log's own signing key: a custodian's key must be another one (make one with `runsheet custodian init --custodian-key FILE --name NAME`); nothing was written".into(),
            ));
        }
        if self.custodians()?.iter().any(|(_, k)| *k == vkey) {
            return Err(StoreError::Refused(format!(
                "custodian {vkey} is already registered in this log; nothing was written"
            )));
        }
        self.append_log_event_impl(&CustodianAdded { vkey }.event(actor, at))
    }

    /// The records of run `run_id` whose content is still held.
    pub fn held_contents(&self, run_id: Uuid) -> Result<Vec<HeldContent>, StoreError> {
        if !self.has_contents()? {
            return Ok(Vec::new());
        }
        let sql = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT e.seq, e.kind FROM events e JOIN contents c ON c.seq = e.seq \
                 WHERE e.run_id = ?1 AND c.content IS NOT NULL ORDER BY e.seq",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map([run_id.hyphenated().to_string()], |r| {
                Ok(HeldContent {
                    seq: r.get(0)?,
                    run_id,
                    kind: r.get(1)?,
                })
            })
            .map_err(sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(sql)
    }

    /// Erase the content of the record at `seq`, signed by `custodian` (a
    /// registered custodian's key, not the log's): one transaction records
    /// the signed `redaction` event and erases the content row. Refused, with
    /// nothing written, for a record with no content, content already
    /// redacted, or an unregistered key.
    pub fn redact(
        &mut self,
        seq: i64,
        reason: &str,
        custodian: &Signer,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<StoredEvent, StoreError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(StoreError::Refused(
                "a redaction needs a reason (--reason TEXT); nothing was written".into(),
            ));
        }
        if !self.has_contents()? {
            return Err(StoreError::Refused(format!(
                "seq {seq} has no content that can be redacted: this log keeps no content apart (it was written before schema 5); nothing was written"
            )));
        }
        let vkey = custodian.verifier().to_vkey();
        if !self.custodians()?.iter().any(|(_, k)| *k == vkey) {
            return Err(StoreError::Refused(format!(
                "the key in the custodian key file ({vkey}) is not a registered custodian of this log: register it first with `runsheet custodian add '{vkey}'`; nothing was written"
            )));
        }
        let Some(log_key) = self.log_key()? else {
            return Err(StoreError::Refused(
                "this log records no key yet, so a redaction cannot name it; nothing was written"
                    .into(),
            ));
        };
        if log_key
            .verifier()
            .is_some_and(|k| k.public_key() == custodian.verifier().public_key())
        {
            return Err(StoreError::Refused(
                "the custodian key file holds the log's own signing key: a redaction must be signed by a custodian's own key; nothing was written".into(),
            ));
        }
        let Store {
            conn,
            path,
            tree,
            custodian: log_signer,
            custody_warning,
            ..
        } = self;
        let sql = |e| StoreError::sqlite(path, e);
        // Overwrite freed space with zeros: the erased content must not stay
        // readable in the file's free pages.
        conn.pragma_update(None, "secure_delete", true)
            .map_err(sql)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        type Target = (Option<String>, String, String, String, Option<i64>, bool);
        let target: Option<Target> = tx
            .query_row(
                "SELECT e.run_id, e.kind, e.hash, e.payload, c.redacted_by, c.seq IS NOT NULL \
                 FROM events e LEFT JOIN contents c ON c.seq = e.seq WHERE e.seq = ?1",
                [seq],
                |r| {
                    let t = |i: usize| -> rusqlite::Result<String> {
                        Ok(match r.get_ref(i)? {
                            ValueRef::Text(b) => String::from_utf8_lossy(b).into_owned(),
                            _ => String::new(),
                        })
                    };
                    Ok((r.get(0)?, t(1)?, t(2)?, t(3)?, r.get(4)?, r.get(5)?))
                },
            )
            .optional()
            .map_err(sql)?;
        let Some((run_id, kind, hash, payload, redacted_by, has_row)) = target else {
            return Err(StoreError::NotFound(format!(
                "no record seq {seq} in the evidence log; nothing was written"
            )));
        };
        if let Some(by) = redacted_by {
            return Err(StoreError::Refused(format!(
                "the content of seq {seq} was already redacted (by seq {by}); nothing was written"
            )));
        }
        let commitment = serde_json::from_str::<serde_json::Value>(&payload)
            .ok()
            .and_then(|v| v.get(CONTENT_SHA256)?.as_str().map(str::to_string));
        let (Some(_), true, Some(content_sha256)) = (run_id, has_row, commitment) else {
            return Err(StoreError::Refused(format!(
                "seq {seq} ({kind}) has no content that can be redacted: only a note's text, a recorded value, evidence or a command's output recorded since schema 5 can be; nothing was written"
            )));
        };
        let statement = redaction_statement(&log_key.origin, seq, &hash, &content_sha256, reason);
        let line = custodian.sign(&statement).map_err(|e| StoreError::Key {
            path: path.clone(),
            message: format!("the redaction could not be signed: {e}; nothing was written"),
        })?;
        // The signed note: the statement, a blank line, the signature line.
        let note = format!("{statement}\n{line}");
        let claim = RedactionClaim {
            seq,
            record_hash: hash,
            content_sha256,
            reason: reason.to_string(),
            custodian: vkey,
            note,
        };
        let event = claim.event(actor, at);
        let (stored, frontier) =
            insert_log_event(&tx, tree.take(), &event).map_err(|e| e.into_store(path))?;
        let erased = tx
            .execute(
                "UPDATE contents SET salt = NULL, content = NULL, redacted_by = ?2 \
                 WHERE seq = ?1 AND redacted_by IS NULL",
                params![seq, stored.seq],
            )
            .map_err(sql)?;
        if erased != 1 {
            return Err(StoreError::Refused(format!(
                "the content of seq {seq} could not be erased; nothing was written"
            )));
        }
        // Signed with the log's key too, in this transaction (rule 16).
        let warning = sign_for(
            &tx,
            log_signer.as_mut(),
            &frontier,
            std::slice::from_ref(&event),
            path,
        )?;
        tx.commit().map_err(sql)?;
        *tree = Some(frontier);
        *custody_warning = warning;
        // The content's old page images leave the write-ahead log too (best
        // effort: a reader holding an old snapshot keeps them until it ends).
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        Ok(stored)
    }
}
