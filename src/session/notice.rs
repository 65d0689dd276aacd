//! The change notice a run starts with: when the procedure's content changed
//! since the operator last ran it (a drill counts: it is how they trained),
//! what changed, step by step, from the version that run used to the one
//! being started (docs/history-and-diff.md, "The change notice").
//!
//! May not depend on the terminal, the front ends or `app`; it reads the
//! store only through its public API.

use crate::engine::ChangeNotice;
use crate::error::Result;
use crate::procedure::diff::diff;
use crate::procedure::parse::{self, Loaded};
use crate::procedure::render::change_lines;
use crate::store::{RunQuery, Store};
use crate::vocab::Operator;

/// How many of the operator's latest runs of the procedure are looked
/// through for one that is theirs by user name (the query also matches
/// display names).
const LOOK_BACK: usize = 64;

/// The notice for `who` starting `loaded`: `None` on their first run of it,
/// when their last run used this exact content, and when only comments or
/// layout changed. A last run whose
/// stored source no longer parses gives a notice that says so.
pub fn for_start(store: &Store, who: &Operator, loaded: &Loaded) -> Result<Option<ChangeNotice>> {
    let p = &loaded.procedure;
    let runs = store.runs(&RunQuery {
        procedure: Some(p.id.clone()),
        operator: Some(who.user.clone()),
        limit: Some(LOOK_BACK),
        ..RunQuery::default()
    })?;
    let Some(last) = runs.into_iter().find(|r| r.operator == who.user) else {
        return Ok(None);
    };
    let sha = loaded.source.sha256();
    if last.procedure_sha256 == sha {
        return Ok(None);
    }
    let before = store
        .procedure_source(&last.procedure_sha256)?
        .and_then(|(text, format)| parse::stored(&last.procedure_sha256, text, &format).ok());
    let (summary, changes) = match before {
        Some(before) => {
            let d = diff(&before.procedure, p);
            if d.is_empty() {
                // Only comments or layout changed: nothing to read.
                return Ok(None);
            }
            (d.summary(), change_lines(&d))
        }
        None => (
            "the version you ran last cannot be read back from the log".into(),
            vec![format!(
                "compare it with: runsheet diff {} {} current",
                p.id,
                last.procedure_sha256
                    .get(..12)
                    .unwrap_or(&last.procedure_sha256)
            )],
        ),
    };
    Ok(Some(ChangeNotice {
        since_run: last.id.to_string(),
        since_started: last.started_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        since_drill: last.drill,
        from_version: last.procedure_version,
        from_sha256: last.procedure_sha256,
        summary,
        changes,
    }))
}
