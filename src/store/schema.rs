//! The evidence log's schema as numbered migrations (documented in
//! docs/evidence-schema.md; keep them in sync).
//!
//! Plain SQL text only. May not depend on anything but the run's vocabulary.

use crate::vocab::Deviation;

/// `PRAGMA application_id` of a runsheet evidence log ("RSHT").
pub const APPLICATION_ID: i64 = 0x5253_4854;

/// One numbered migration.
pub struct Migration {
    pub sql: &'static str,
    /// False when the migration only adds indexes: a read-only connection can
    /// read a log without it (queries are only slower), so it is not refused.
    pub readers_need: bool,
}

/// Migration `i` (0-based) takes the schema from `user_version = i` to `i + 1`.
/// Never edit a released migration: add a new one.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        sql: V1,
        readers_need: true,
    },
    Migration {
        sql: V2,
        readers_need: false,
    },
    Migration {
        sql: V3,
        readers_need: false,
    },
    Migration {
        sql: V4,
        readers_need: false,
    },
    Migration {
        sql: V5,
        readers_need: false,
    },
    Migration {
        sql: V6,
        readers_need: false,
    },
];

/// The event kinds that count as deviations from the documented path (a
/// skipped step, a failed step, going ahead despite document-control
/// warnings), in the order counts are reported. V2 indexes exactly these.
pub const DEVIATION_KINDS: [&str; 3] = [
    Deviation::Skipped.kind().as_str(),
    Deviation::Failed.kind().as_str(),
    Deviation::WarningsAcknowledged.kind().as_str(),
];

/// `kind IN (...)` over [`DEVIATION_KINDS`], exactly as V2's partial index says
/// it (SQLite uses a partial index only for a query that repeats its condition).
pub const DEVIATION_CONDITION: &str =
    "kind IN ('step-skipped', 'step-failed', 'warnings-acknowledged')";

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const V1: &str = r#"
CREATE TABLE procedure_sources (
    sha256 TEXT PRIMARY KEY NOT NULL,   -- lower-case hex SHA-256 of text's UTF-8 bytes
    format TEXT NOT NULL,               -- 'toml' or 'json'
    text   TEXT NOT NULL                -- the exact procedure file text
);

CREATE TABLE runs (
    id                TEXT PRIMARY KEY NOT NULL,  -- UUID v7, lower-case hyphenated
    procedure_id      TEXT NOT NULL,
    procedure_version TEXT NOT NULL,
    procedure_title   TEXT NOT NULL,
    procedure_sha256  TEXT NOT NULL REFERENCES procedure_sources(sha256),
    controls          TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(controls)), -- JSON array of Annex A controls
    source_path       TEXT NOT NULL,              -- where the procedure was loaded from (informational)
    operator          TEXT NOT NULL,              -- OS user
    operator_name     TEXT,                       -- optional display name
    host              TEXT NOT NULL,
    runsheet_version  TEXT NOT NULL,
    started_at        TEXT NOT NULL,              -- RFC 3339 UTC, milliseconds, 'Z'
    ended_at          TEXT,                       -- NULL while the run is open
    outcome           TEXT,                       -- NULL while open; completed|escalated|failed|aborted
    CHECK ((ended_at IS NULL) = (outcome IS NULL))
);
CREATE INDEX runs_by_start ON runs(started_at);
CREATE INDEX runs_by_procedure ON runs(procedure_id, started_at);
CREATE INDEX runs_open ON runs(operator, started_at) WHERE outcome IS NULL;

CREATE TABLE events (
    seq            INTEGER PRIMARY KEY,           -- global chain order, 1, 2, 3, ...
    run_id         TEXT REFERENCES runs(id),      -- NULL for log events (e.g. export)
    run_seq        INTEGER NOT NULL,              -- 1, 2, 3, ... within the run (or among log events)
    at             TEXT NOT NULL,                 -- RFC 3339 UTC, milliseconds, 'Z'
    actor          TEXT NOT NULL,
    kind           TEXT NOT NULL,
    step           TEXT,
    payload        TEXT,                          -- canonical JSON; NULL only when redacted
    payload_sha256 TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
);
CREATE UNIQUE INDEX events_by_run ON events(run_id, run_seq);

-- Append-only. Redaction (setting a payload to NULL) is refused too: a future
-- migration that implements `redact` will replace events_no_update with a
-- trigger that allows exactly that change and nothing else.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'runsheet evidence log: events are append-only and cannot be changed');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'runsheet evidence log: events are append-only and cannot be deleted');
END;
CREATE TRIGGER runs_no_delete BEFORE DELETE ON runs
BEGIN
    SELECT RAISE(ABORT, 'runsheet evidence log: runs cannot be deleted');
END;
CREATE TRIGGER runs_end_once BEFORE UPDATE ON runs
WHEN NEW.id IS NOT OLD.id
  OR NEW.procedure_id IS NOT OLD.procedure_id
  OR NEW.procedure_version IS NOT OLD.procedure_version
  OR NEW.procedure_title IS NOT OLD.procedure_title
  OR NEW.procedure_sha256 IS NOT OLD.procedure_sha256
  OR NEW.controls IS NOT OLD.controls
  OR NEW.source_path IS NOT OLD.source_path
  OR NEW.operator IS NOT OLD.operator
  OR NEW.operator_name IS NOT OLD.operator_name
  OR NEW.host IS NOT OLD.host
  OR NEW.runsheet_version IS NOT OLD.runsheet_version
  OR NEW.started_at IS NOT OLD.started_at
  OR (OLD.ended_at IS NOT NULL AND NEW.ended_at IS NOT OLD.ended_at)
  OR (OLD.outcome IS NOT NULL AND NEW.outcome IS NOT OLD.outcome)
BEGIN
    SELECT RAISE(ABORT, 'runsheet evidence log: a run can only be ended once; its other columns never change');
END;
CREATE TRIGGER sources_no_update BEFORE UPDATE ON procedure_sources
BEGIN
    SELECT RAISE(ABORT, 'runsheet evidence log: procedure sources cannot be changed');
END;
CREATE TRIGGER sources_no_delete BEFORE DELETE ON procedure_sources
BEGIN
    SELECT RAISE(ABORT, 'runsheet evidence log: procedure sources cannot be deleted');
END;

-- Read-only conveniences for people using plain sqlite3.
CREATE VIEW runs_v AS
SELECT r.id,
       r.procedure_id,
       r.procedure_version,
       r.procedure_title,
       r.operator,
       r.operator_name,
       r.host,
       r.started_at,
       r.ended_at,
       coalesce(r.outcome, 'open') AS outcome,
       CASE WHEN r.ended_at IS NULL THEN NULL
            ELSE round((julianday(r.ended_at) - julianday(r.started_at)) * 86400.0, 3)
       END AS duration_s,
       (SELECT count(*) FROM events e WHERE e.run_id = r.id) AS event_count,
       (SELECT max(e.at) FROM events e WHERE e.run_id = r.id) AS last_at,
       r.controls,
       r.procedure_sha256
FROM runs r;

CREATE VIEW events_v AS
SELECT e.seq,
       e.run_id,
       e.run_seq,
       e.at,
       r.procedure_id,
       e.actor,
       e.kind,
       e.step,
       CASE
         WHEN e.payload IS NULL THEN '(redacted)'
         WHEN NOT json_valid(e.payload) THEN '(unreadable payload)'
         WHEN e.kind = 'decision-answered' THEN
              CASE json_extract(e.payload, '$.answer') WHEN 1 THEN 'yes' ELSE 'no' END
         WHEN e.kind = 'run-ended' THEN
              json_extract(e.payload, '$.outcome') ||
              coalesce(': ' || json_extract(e.payload, '$.reason'), '')
         WHEN e.kind = 'command-ran' THEN
              json_extract(e.payload, '$.command') || ' (exit ' ||
              coalesce(json_extract(e.payload, '$.exit_code'), 'none') || ')'
         ELSE coalesce(json_extract(e.payload, '$.text'),
                       json_extract(e.payload, '$.value'),
                       json_extract(e.payload, '$.evidence'),
                       json_extract(e.payload, '$.reason'),
                       json_extract(e.payload, '$.justification'),
                       json_extract(e.payload, '$.by'),
                       json_extract(e.payload, '$.outcome'),
                       json_extract(e.payload, '$.procedure_id'))
       END AS detail,
       e.payload
FROM events e
LEFT JOIN runs r ON r.id = e.run_id;
"#;

/// Deviation events by run (small: only those events are indexed), so audit
/// exports count each run's deviations without reading all its events.
const V2: &str = "CREATE INDEX IF NOT EXISTS events_deviations ON events(run_id, kind) \
    WHERE kind IN ('step-skipped', 'step-failed', 'warnings-acknowledged');";

/// Record-hash format 2 from the `schema-migrated` (or `log-created`) event
/// that the migration writes (see `migrate`), and `events_v` without the
/// speculative "(redacted)" label: a missing payload is tampering.
const V3: &str = r#"
DROP VIEW events_v;
CREATE VIEW events_v AS
SELECT e.seq,
       e.run_id,
       e.run_seq,
       e.at,
       r.procedure_id,
       e.actor,
       e.kind,
       e.step,
       CASE
         WHEN e.payload IS NULL THEN '(payload missing: run runsheet verify)'
         WHEN NOT json_valid(e.payload) THEN '(unreadable payload)'
         WHEN e.kind = 'decision-answered' THEN
              CASE json_extract(e.payload, '$.answer') WHEN 1 THEN 'yes' ELSE 'no' END
         WHEN e.kind = 'run-ended' THEN
              json_extract(e.payload, '$.outcome') ||
              coalesce(': ' || json_extract(e.payload, '$.reason'), '')
         WHEN e.kind = 'command-ran' THEN
              json_extract(e.payload, '$.command') || ' (exit ' ||
              coalesce(json_extract(e.payload, '$.exit_code'), 'none') || ')'
         ELSE coalesce(json_extract(e.payload, '$.text'),
                       json_extract(e.payload, '$.value'),
                       json_extract(e.payload, '$.evidence'),
                       json_extract(e.payload, '$.reason'),
                       json_extract(e.payload, '$.justification'),
                       json_extract(e.payload, '$.by'),
                       json_extract(e.payload, '$.outcome'),
                       json_extract(e.payload, '$.procedure_id'))
       END AS detail,
       e.payload
FROM events e
LEFT JOIN runs r ON r.id = e.run_id;
"#;

/// Chain of custody (docs/custody.md): the Merkle tree over the records, the
/// log's signed checkpoints and the witnesses' cosignatures of them. The
/// migration also builds the tree over every existing record and records the
/// log's key (see `migrate`). Readers can do without it: verify recomputes the
/// tree from the records, and a log without these tables has no checkpoints.
const V4: &str = r#"
-- The RFC 9162 Merkle tree over the records: leaf i (from 0) is the event
-- with seq i + 1, its leaf hash SHA-256(0x00 || the record hash's 32 bytes).
-- Leaf hashes are not stored. Each complete subtree of two or more leaves is
-- stored in the row of the event that completes it: event seq s completes the
-- subtrees at levels 1 .. (number of trailing zero bits of s), and their
-- hashes are concatenated here, level 1 first, 32 bytes each.
CREATE TABLE tree_nodes (
    seq    INTEGER PRIMARY KEY,    -- the completing event (an even seq)
    hashes BLOB NOT NULL CHECK (length(hashes) % 32 = 0 AND length(hashes) > 0)
);

-- Signed checkpoints (C2SP tlog-checkpoint notes signed with the log's key):
-- one at every run end, suspension and export, and on request.
CREATE TABLE checkpoints (
    tree_size INTEGER PRIMARY KEY,  -- leaves covered: events 1 .. tree_size
    note      TEXT NOT NULL,        -- the signed note, verbatim
    made_at   TEXT NOT NULL,        -- RFC 3339 UTC, milliseconds, 'Z'
    reason    TEXT NOT NULL         -- what made it: run-ended, suspended, export, ...
);

-- Witnesses' cosignatures (C2SP tlog-cosignature) of stored checkpoints.
CREATE TABLE cosignatures (
    tree_size INTEGER NOT NULL REFERENCES checkpoints(tree_size),
    witness   TEXT NOT NULL,        -- the witness's verifier key (vkey)
    line      TEXT NOT NULL,        -- the signature line, verbatim, with its newline
    added_at  TEXT NOT NULL,
    PRIMARY KEY (tree_size, witness)
);

CREATE TRIGGER tree_nodes_no_update BEFORE UPDATE ON tree_nodes
BEGIN
    SELECT RAISE(ABORT, 'runsheet evidence log: the Merkle tree is append-only');
END;
CREATE TRIGGER tree_nodes_no_delete BEFORE DELETE ON tree_nodes
BEGIN
    SELECT RAISE(ABORT, 'runsheet evidence log: the Merkle tree is append-only');
END;
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'runsheet evidence log: checkpoints cannot be changed');
END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'runsheet evidence log: checkpoints cannot be deleted');
END;
CREATE TRIGGER cosignatures_no_update BEFORE UPDATE ON cosignatures
BEGIN
    SELECT RAISE(ABORT, 'runsheet evidence log: cosignatures cannot be changed');
END;
CREATE TRIGGER cosignatures_no_delete BEFORE DELETE ON cosignatures
BEGIN
    SELECT RAISE(ABORT, 'runsheet evidence log: cosignatures cannot be deleted');
END;
"#;

/// Redactable content (docs/evidence-schema.md, "Content and redaction"):
/// the content of a note, recorded value, evidence or command output is kept
/// here beside a random salt, and the event's payload holds only
/// `content_sha256` = SHA-256(salt || content). `runsheet redact` erases a
/// row's salt and content (never the row) and names the signed `redaction`
/// event that did it. `events_v` shows the content, or that it was redacted.
/// Readers can do without it: an older log holds no such payloads.
const V5: &str = r#"
CREATE TABLE contents (
    seq         INTEGER PRIMARY KEY REFERENCES events(seq), -- the event whose content this is
    salt        TEXT,     -- 64 hex digits (32 random bytes); NULL once redacted
    content     TEXT,     -- canonical JSON object of the content fields; NULL once redacted
    redacted_by INTEGER REFERENCES events(seq), -- the redaction event; NULL until redacted
    CHECK ((salt IS NULL) = (content IS NULL)),
    CHECK ((content IS NULL) = (redacted_by IS NOT NULL))
);

CREATE TRIGGER contents_no_delete BEFORE DELETE ON contents
BEGIN
    SELECT RAISE(ABORT, 'runsheet evidence log: content is erased only by runsheet redact, never deleted');
END;
CREATE TRIGGER contents_erase_only BEFORE UPDATE ON contents
WHEN OLD.redacted_by IS NOT NULL OR NEW.seq IS NOT OLD.seq
     OR NEW.salt IS NOT NULL OR NEW.content IS NOT NULL OR NEW.redacted_by IS NULL
BEGIN
    SELECT RAISE(ABORT, 'runsheet evidence log: content can only be erased, once, by runsheet redact');
END;

DROP VIEW events_v;
CREATE VIEW events_v AS
SELECT e.seq,
       e.run_id,
       e.run_seq,
       e.at,
       r.procedure_id,
       e.actor,
       e.kind,
       e.step,
       CASE
         WHEN e.payload IS NULL THEN '(payload missing: run runsheet verify)'
         WHEN NOT json_valid(e.payload) THEN '(unreadable payload)'
         WHEN c.redacted_by IS NOT NULL THEN '(redacted by seq ' || c.redacted_by || ')'
         WHEN e.kind = 'decision-answered' THEN
              CASE json_extract(e.payload, '$.answer') WHEN 1 THEN 'yes' ELSE 'no' END
         WHEN e.kind = 'run-ended' THEN
              json_extract(e.payload, '$.outcome') ||
              coalesce(': ' || json_extract(e.payload, '$.reason'), '')
         WHEN e.kind = 'command-ran' THEN
              json_extract(e.payload, '$.command') || ' (exit ' ||
              coalesce(json_extract(e.payload, '$.exit_code'), 'none') || ')'
         WHEN e.kind = 'redaction' THEN
              'seq ' || json_extract(e.payload, '$.seq') || ': ' || json_extract(e.payload, '$.reason')
         ELSE coalesce(json_extract(c.content, '$.text'),
                       json_extract(c.content, '$.value'),
                       json_extract(c.content, '$.evidence'),
                       json_extract(e.payload, '$.text'),
                       json_extract(e.payload, '$.value'),
                       json_extract(e.payload, '$.evidence'),
                       json_extract(e.payload, '$.reason'),
                       json_extract(e.payload, '$.justification'),
                       json_extract(e.payload, '$.by'),
                       json_extract(e.payload, '$.outcome'),
                       json_extract(e.payload, '$.procedure_id'))
       END AS detail,
       e.payload,
       c.content
FROM events e
LEFT JOIN runs r ON r.id = e.run_id
LEFT JOIN contents c ON c.seq = e.seq;
"#;

/// Where each SIEM feed (`runsheet feed --out FILE`, docs/siem-feed.md) has
/// got to: the last event appended to that file. Not evidence: outside the
/// hash chain and the tree, overwritten on every feed run, never exported.
/// Readers can do without it (only `feed`, which writes, reads it).
const V6: &str = r#"
CREATE TABLE feed_positions (
    feed        TEXT PRIMARY KEY,  -- the feed file's canonical path
    seq         INTEGER NOT NULL,  -- the last event appended to it (0: none yet)
    record_hash TEXT NOT NULL,     -- that event's record hash ('' when seq is 0)
    updated_at  TEXT NOT NULL,     -- when feed last advanced it (RFC 3339, UTC)
    accepted_file TEXT             -- 'dev:inode' of an empty file `feed --rotated` accepted; NULL once a line is appended
);
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deviation_index_and_its_queries_name_the_same_kinds() {
        let listed: Vec<String> = DEVIATION_KINDS.iter().map(|k| format!("'{k}'")).collect();
        let condition = format!("kind IN ({})", listed.join(", "));
        assert_eq!(DEVIATION_CONDITION, condition);
        assert!(V2.contains(&condition), "{V2}");
    }
}
