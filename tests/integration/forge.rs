//! A forger's tools, for the tests that check what verify and verify-bundle
//! catch: recompute hashes in a log (as anyone who reads
//! docs/evidence-schema.md can) and reseal a bundle after changing it.

use std::path::Path;

use runsheet::store::{Record, RecordFormat, sha256_hex};
use rusqlite::Connection;
use serde_json::Value;

/// Recompute the payload hash and record hash of every event from `seq` on
/// (record format 2, as in a log created by this runsheet), so the chain is
/// consistent again after an edit.
pub fn rechain_from(conn: &Connection, seq: i64) {
    let prev: String = conn
        .query_row(
            "SELECT coalesce((SELECT hash FROM events WHERE seq = ?1 - 1), ?2)",
            rusqlite::params![seq, "0".repeat(64)],
            |r| r.get(0),
        )
        .unwrap();
    type Row = (
        i64,
        Option<String>,
        i64,
        String,
        String,
        String,
        Option<String>,
        String,
    );
    let rows: Vec<Row> = conn
        .prepare(
            "SELECT seq, run_id, run_seq, at, actor, kind, step, payload FROM events \
             WHERE seq >= ?1 ORDER BY seq",
        )
        .unwrap()
        .query_map([seq], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut prev = prev;
    for (seq, run, run_seq, at, actor, kind, step, payload) in rows {
        let sha = sha256_hex(payload.as_bytes());
        let hash = Record {
            format: RecordFormat::V2,
            seq,
            run_id: run.as_deref().map(str::as_bytes),
            run_seq,
            at: at.as_bytes(),
            actor: actor.as_bytes(),
            kind: kind.as_bytes(),
            step: step.as_deref().map(str::as_bytes),
            payload_sha256: sha.as_bytes(),
            prev_hash: prev.as_bytes(),
        }
        .hash();
        conn.execute(
            "UPDATE events SET payload_sha256 = ?2, prev_hash = ?3, hash = ?4 WHERE seq = ?1",
            rusqlite::params![seq, sha, prev, hash],
        )
        .unwrap();
        prev = hash;
    }
}

/// Append a log event at the chain head with correct hashes (format 2).
pub fn append_log_event(conn: &Connection, payload: &Value) -> i64 {
    let (seq, run_seq): (i64, i64) = conn
        .query_row(
            "SELECT max(seq), (SELECT max(run_seq) FROM events WHERE run_id IS NULL) FROM events",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let kind = payload["kind"].as_str().unwrap().to_string();
    conn.execute(
        "INSERT INTO events VALUES (?1, NULL, ?2, '2026-12-01T00:00:00.000Z', 'mallory', ?3, NULL, ?4, '', '', '')",
        rusqlite::params![seq + 1, run_seq + 1, kind, runsheet::store::canonical_json(payload)],
    )
    .unwrap();
    rechain_from(conn, seq + 1);
    seq + 1
}

/// A file of a bundle's signed part, written after its export record (the
/// forger cannot re-sign it without the log's key).
fn signed_part(path: &str) -> bool {
    path == "checkpoint" || path == "export.tlog-proof" || path.starts_with("proofs/")
}

fn sha_file(path: &Path) -> (String, u64) {
    let bytes = std::fs::read(path).unwrap();
    (sha256_hex(&bytes), bytes.len() as u64)
}

/// Reseal a bundle after its files were changed, as a forger who also
/// controls the log would: every file's hash in the manifest, export.json's
/// list of files and its hashes (the record is rewritten in `log` at its
/// seq and the log re-chained from there), checkpoint.json and the
/// manifest's copies of it, and the manifest's self-hash.
pub fn reseal_bundle(dir: &Path, log: Option<&Path>) {
    let manifest_path = dir.join("manifest.json");
    let mut m: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    // Data files first.
    let mut data = Vec::new();
    for f in m["files"].as_array_mut().unwrap() {
        let path = f["path"].as_str().unwrap().to_string();
        if path == "export.json" || path == "checkpoint.json" || signed_part(&path) {
            continue;
        }
        let (sha, bytes) = sha_file(&dir.join(&path));
        f["sha256"] = sha.into();
        f["bytes"] = bytes.into();
        data.push(f.clone());
    }
    // The export record: its payload lists the data files.
    let export_path = dir.join("export.json");
    let text = std::fs::read_to_string(&export_path).unwrap();
    let mut record: Value = serde_json::from_str(&text).unwrap();
    let mut payload = record["payload"].clone();
    payload["files"] = Value::Array(data);
    payload["runs"] = m["runs"].clone();
    payload["events"] = m["events"].clone();
    let payload_text = runsheet::store::canonical_json(&payload);
    let seq = record["seq"].as_i64().unwrap();
    let hash = match log {
        Some(log) => {
            let conn = crate::tamper::attacker(log);
            conn.execute(
                "UPDATE events SET payload = ?2 WHERE seq = ?1",
                rusqlite::params![seq, payload_text],
            )
            .unwrap();
            rechain_from(&conn, seq);
            conn.query_row("SELECT hash FROM events WHERE seq = ?1", [seq], |r| {
                r.get::<_, String>(0)
            })
            .unwrap()
        }
        None => {
            let sha = sha256_hex(payload_text.as_bytes());
            Record {
                format: RecordFormat::V2,
                seq,
                run_id: None,
                run_seq: record["run_seq"].as_i64().unwrap(),
                at: record["at"].as_str().unwrap().as_bytes(),
                actor: record["actor"].as_str().unwrap().as_bytes(),
                kind: b"export",
                step: None,
                payload_sha256: sha.as_bytes(),
                prev_hash: record["prev_hash"].as_str().unwrap().as_bytes(),
            }
            .hash()
        }
    };
    let payload_sha = sha256_hex(payload_text.as_bytes());
    let q = |v: &Value| serde_json::to_string(v).unwrap();
    let out = format!(
        "{{\"format\":\"runsheet-export-record\",\"record_format\":2,\"seq\":{seq},\"run_id\":null,\
         \"run_seq\":{},\"at\":{},\"actor\":{},\"kind\":\"export\",\"step\":null,\"payload\":{payload_text},\
         \"payload_sha256\":\"{payload_sha}\",\"prev_hash\":{},\"hash\":\"{hash}\"}}\n",
        record["run_seq"],
        q(&record["at"]),
        q(&record["actor"]),
        q(&record["prev_hash"]),
    );
    record["hash"] = hash.clone().into();
    std::fs::write(&export_path, out).unwrap();
    // checkpoint.json at the rewritten record.
    let cp_path = dir.join("checkpoint.json");
    let mut cp: Value = serde_json::from_str(&std::fs::read_to_string(&cp_path).unwrap()).unwrap();
    cp["head_hash"] = hash.clone().into();
    let mut cp_text = serde_json::to_string_pretty(&cp).unwrap();
    cp_text.push('\n');
    std::fs::write(&cp_path, &cp_text).unwrap();
    m["checkpoint"] = cp;
    m["export"]["hash"] = hash.into();
    for f in m["files"].as_array_mut().unwrap() {
        let path = f["path"].as_str().unwrap().to_string();
        if path == "export.json" || path == "checkpoint.json" {
            let (sha, bytes) = sha_file(&dir.join(&path));
            f["sha256"] = sha.into();
            f["bytes"] = bytes.into();
        }
    }
    write_manifest(&manifest_path, &mut m);
}

/// Write `m` as the manifest at `path` with its self-hash recomputed (over
/// the text with the value as 64 zeros), as a forger without the log's key
/// can.
pub fn write_manifest(path: &Path, m: &mut Value) {
    let zeros = format!("\"self_sha256\": \"{}\"", "0".repeat(64));
    m["self_sha256"] = "0".repeat(64).into();
    let mut text = serde_json::to_string_pretty(&m).unwrap();
    text.push('\n');
    let hash = sha256_hex(text.as_bytes());
    let text = text.replacen(&zeros, &format!("\"self_sha256\": \"{hash}\""), 1);
    std::fs::write(path, text).unwrap();
}

/// Edit the manifest at `path` and reseal its self-hash.
pub fn edit_manifest(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut m);
    write_manifest(path, &mut m);
}

/// Recompute one record's payload hash and record hash (format 2) from its
/// fields and its stored prev_hash, leaving every other record as it is.
pub fn rehash_one(conn: &Connection, seq: i64) {
    let (run, run_seq, at, actor, kind, step, payload, prev): (
        Option<String>,
        i64,
        String,
        String,
        String,
        Option<String>,
        String,
        String,
    ) = conn
        .query_row(
            "SELECT run_id, run_seq, at, actor, kind, step, payload, prev_hash FROM events WHERE seq = ?1",
            [seq],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            },
        )
        .unwrap();
    let sha = sha256_hex(payload.as_bytes());
    let hash = Record {
        format: RecordFormat::V2,
        seq,
        run_id: run.as_deref().map(str::as_bytes),
        run_seq,
        at: at.as_bytes(),
        actor: actor.as_bytes(),
        kind: kind.as_bytes(),
        step: step.as_deref().map(str::as_bytes),
        payload_sha256: sha.as_bytes(),
        prev_hash: prev.as_bytes(),
    }
    .hash();
    conn.execute(
        "UPDATE events SET payload_sha256 = ?2, hash = ?3 WHERE seq = ?1",
        rusqlite::params![seq, sha, hash],
    )
    .unwrap();
}

/// Rewrite the content of the record at `seq` (`from` replaced by `to` in
/// its `contents` row), as a forger who read docs/evidence-schema.md would:
/// the payload's `content_sha256` recomputed over the stored salt and the
/// new content, so the record still matches its content. The record's own
/// hashes are left to the caller (`rehash_one`, `rechain_from`).
pub fn rewrite_content(conn: &Connection, seq: i64, from: &str, to: &str) {
    let (salt, content): (String, String) = conn
        .query_row(
            "SELECT salt, content FROM contents WHERE seq = ?1",
            [seq],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let new = content.replace(from, to);
    assert_ne!(new, content, "seq {seq}'s content holds no {from:?}");
    let salt = hex::decode(salt).unwrap();
    let commitment = sha256_hex(&[salt.as_slice(), new.as_bytes()].concat());
    conn.execute(
        "UPDATE contents SET content = ?2 WHERE seq = ?1",
        rusqlite::params![seq, new],
    )
    .unwrap();
    conn.execute(
        "UPDATE events SET payload = json_set(payload, '$.content_sha256', ?2) WHERE seq = ?1",
        rusqlite::params![seq, commitment],
    )
    .unwrap();
}

/// Copy a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Rebuild the Merkle tree's rows over the records as they now are, as the
/// documented algorithm says (docs/custody.md): every record's completed
/// nodes, levels 1 up, for seq 1 to the first gap. Returns the tree's root
/// at every size: `roots[n - 1]` is the root of the first `n` records.
fn rebuild_tree(conn: &Connection) -> Vec<[u8; 32]> {
    use runsheet::custody::merkle::{Frontier, leaf_hash};
    conn.execute_batch("DELETE FROM tree_nodes").unwrap();
    let hashes: Vec<(i64, String)> = conn
        .prepare("SELECT seq, hash FROM events ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut frontier = Frontier::new();
    let mut closed = Vec::new();
    let mut roots = Vec::new();
    for (seq, hash) in hashes {
        if u64::try_from(seq).ok() != Some(frontier.size() + 1) {
            break;
        }
        let raw = hex::decode(&hash).unwrap_or_else(|_| vec![0; 32]);
        frontier.push(leaf_hash(&raw), &mut closed);
        roots.push(frontier.root());
        if !closed.is_empty() {
            let blob: Vec<u8> = closed.iter().flatten().copied().collect();
            conn.execute(
                "INSERT INTO tree_nodes (seq, hashes) VALUES (?1, ?2)",
                rusqlite::params![seq, blob],
            )
            .unwrap();
        }
    }
    roots
}

/// The stored checkpoints: (tree size, note, made_at, reason).
fn checkpoints(conn: &Connection) -> Vec<(i64, String, String, String)> {
    conn.prepare("SELECT tree_size, note, made_at, reason FROM checkpoints ORDER BY tree_size")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn delete_checkpoint(conn: &Connection, size: i64) {
    conn.execute("DELETE FROM cosignatures WHERE tree_size = ?1", [size])
        .unwrap();
    conn.execute("DELETE FROM checkpoints WHERE tree_size = ?1", [size])
        .unwrap();
}

/// Cover the tracks custody shows, as well as an attacker without the log's
/// key can: rebuild the tree over the records as they now are and delete
/// every signed checkpoint (with its cosignatures) the change invalidated —
/// those beyond the head and those whose root the records no longer give.
/// What verify finds then is what the records alone give away, and the
/// records the writer signed a checkpoint with whose checkpoint is now gone
/// (custody.md rule 16); and what an earlier checkpoint kept elsewhere shows.
pub fn cover_custody(conn: &Connection) {
    use runsheet::custody::checkpoint::SignedCheckpoint;
    drop_orphan_contents(conn);
    let roots = rebuild_tree(conn);
    for (size, note, ..) in checkpoints(conn) {
        let now = usize::try_from(size)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| roots.get(i));
        let signed = SignedCheckpoint::parse(&note).ok();
        if signed.is_none_or(|s| Some(s.checkpoint().root()) != now) {
            delete_checkpoint(conn, size);
        }
    }
}

/// The content rows of records the forger removed go too.
fn drop_orphan_contents(conn: &Connection) {
    conn.execute(
        "DELETE FROM contents WHERE seq NOT IN (SELECT seq FROM events)",
        [],
    )
    .unwrap();
}

/// Delete the run event at `gone` as a careful forger would: the run's
/// later events and every later record renumbered down by one, content rows
/// with them. Hashes are left to the caller (`rechain_from`).
pub fn delete_and_renumber(conn: &Connection, gone: i64) {
    let (run, n): (String, i64) = conn
        .query_row(
            "SELECT run_id, run_seq FROM events WHERE seq = ?1",
            [gone],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    conn.execute("DELETE FROM events WHERE seq = ?1", [gone])
        .unwrap();
    conn.execute(
        "UPDATE events SET run_seq = run_seq - 1 WHERE run_id = ?1 AND run_seq > ?2",
        rusqlite::params![run, n],
    )
    .unwrap();
    conn.execute_batch(&format!(
        "UPDATE events SET seq = -(seq - 1) WHERE seq > {gone}; UPDATE events SET seq = -seq WHERE seq < 0; \
         DELETE FROM contents WHERE seq = {gone}; \
         UPDATE contents SET seq = -(seq - 1) WHERE seq > {gone}; \
         UPDATE contents SET seq = -seq WHERE seq < 0;"
    ))
    .unwrap();
}

/// What the holder of the log's key can do after a rewrite: rebuild the
/// tree, delete every checkpoint and cosignature, and re-sign every
/// checkpoint the log had (each size up to the new head, with the root the
/// records now give) with the key in `key_file`, plus one at the head. Only
/// a checkpoint kept elsewhere (`verify --trusted`) or a witness catches it.
pub fn resign(conn: &Connection, key_file: &Path) {
    use runsheet::custody::checkpoint::{Checkpoint, SignedCheckpoint};
    drop_orphan_contents(conn);
    let roots = rebuild_tree(conn);
    let old = checkpoints(conn);
    conn.execute_batch("DELETE FROM checkpoints; DELETE FROM cosignatures;")
        .unwrap();
    let signer = runsheet::custody::key::load_signer(key_file).unwrap();
    let head = i64::try_from(roots.len()).unwrap();
    let mut sizes: Vec<(i64, String, String)> = old
        .into_iter()
        .filter(|(size, ..)| (1..=head).contains(size))
        .map(|(size, _, made_at, reason)| (size, made_at, reason))
        .collect();
    if sizes.last().is_none_or(|(s, ..)| *s < head) && head > 0 {
        sizes.push((head, "2026-12-01T00:00:00.000Z".into(), "requested".into()));
    }
    for (size, made_at, reason) in sizes {
        let root = roots[usize::try_from(size - 1).unwrap()];
        let cp = Checkpoint::new(signer.name(), u64::try_from(size).unwrap(), root).unwrap();
        let note = SignedCheckpoint::sign(cp, &signer).unwrap().format();
        conn.execute(
            "INSERT INTO checkpoints (tree_size, note, made_at, reason) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![size, note, made_at, reason],
        )
        .unwrap();
    }
}
