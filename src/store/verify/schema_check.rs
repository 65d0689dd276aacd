//! The log's schema against the one runsheet's migrations create for its
//! `user_version`: every table, index, trigger and view, with its exact SQL.
//! A dropped append-only trigger, a changed view (what `sqlite3` users read)
//! or an added object is reported, even when every record is intact.
//!
//! May not depend on the engine, tui, export or app.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::{Finding, Problem};
use crate::store::schema::MIGRATIONS;

/// (type, table) and SQL of each schema object, by name. SQLite's own
/// statistics tables (`ANALYZE`) hold no evidence and are left out.
type Objects = BTreeMap<String, (String, String, Option<String>)>;

fn objects(conn: &Connection) -> rusqlite::Result<Objects> {
    let mut stmt = conn.prepare(
        "SELECT name, type, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_stat%'",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
    })?;
    rows.collect()
}

/// The schema the migrations up to `version` create, in a scratch database.
fn expected(version: i64) -> rusqlite::Result<Objects> {
    let conn = Connection::open_in_memory()?;
    let n = usize::try_from(version).unwrap_or(0).min(MIGRATIONS.len());
    for m in &MIGRATIONS[..n] {
        conn.execute_batch(m.sql)?;
    }
    objects(&conn)
}

fn what(kind: &str, name: &str) -> String {
    match (kind, name) {
        ("trigger", n) => format!("the append-only trigger {n}"),
        (k, n) => format!("the {k} {n}"),
    }
}

/// The first difference between the log's schema and the expected one.
pub(super) fn finding(conn: &Connection) -> rusqlite::Result<Option<Finding>> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let want = expected(version)?;
    let have = objects(conn)?;
    let message = want
        .iter()
        .find_map(|(name, (kind, _, sql))| match have.get(name) {
            None => Some(format!("{} was dropped", what(kind, name))),
            Some((k, _, s)) if k != kind || s != sql => Some(format!(
                "{} was replaced by a different definition",
                what(kind, name)
            )),
            Some(_) => None,
        })
        .or_else(|| {
            have.iter().find(|(name, _)| !want.contains_key(*name)).map(
                |(name, (kind, table, _))| {
                    format!(
                        "{} (on {table}) was added; runsheet never creates it",
                        what(kind, name)
                    )
                },
            )
        });
    Ok(message.map(|m| Finding {
        seq: None,
        run_id: None,
        run_seq: None,
        problem: Problem::SchemaChanged,
        message: format!(
            "the log's schema was changed: {m} (schema version {version}). Only someone editing the file by hand changes the schema; check every record against a checkpoint"
        ),
    }))
}
