//! Runs and events for people: the `runs` table and the `show` timeline
//! (`runs`), what each stored event means in words (`timeline`), a live
//! run's history for the runners' history views (`history`), `status`
//! with its cadence calendar (`status`, `cadence`), and every version of a
//! procedure the log holds (`versions`, for `runsheet history`); with what they share —
//! times and outcomes as shown, per-run counts, and the procedures runs used,
//! parsed from the log's stored sources. The bundle side (`export`) writes its
//! reports' timelines with these words.
//!
//! May use the store, the procedure model, the engine's event types and
//! `text`; may not depend on the bundle side (`export`), the front ends
//! (`tui`, `plain`), the session, `cli` or `app`.

pub mod cadence;
pub mod history;
pub mod runs;
pub mod status;
pub mod timeline;
pub mod training;
pub mod versions;

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::procedure::Procedure;
use crate::procedure::parse;
use crate::store::{RunRow, Store, StoreError, StoredEvent};
use crate::vocab::DeviationCounts;

/// A time as the reports show it, UTC: `2026-11-28 02:14`, or with seconds
/// `2026-11-28 02:14:05`.
pub fn clock(at: DateTime<Utc>, seconds: bool) -> String {
    match (four_digit_year(at), seconds) {
        (Some(y), false) => format!(
            "{y:04}-{:02}-{:02} {:02}:{:02}",
            at.month(),
            at.day(),
            at.hour(),
            at.minute()
        ),
        (Some(y), true) => format!(
            "{y:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            at.month(),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        ),
        (None, false) => at.format("%Y-%m-%d %H:%M").to_string(),
        (None, true) => at.format("%Y-%m-%d %H:%M:%S").to_string(),
    }
}

/// [`clock`] with ` UTC` after it.
pub fn clock_utc(at: DateTime<Utc>, seconds: bool) -> String {
    format!("{} UTC", clock(at, seconds))
}

/// A stored RFC 3339 time as the reports show it (`2026-11-28 02:14 UTC`);
/// a text that is no such time is shown as it is.
pub fn shown_time(t: &str) -> String {
    DateTime::parse_from_rfc3339(t)
        .map(|d| clock_utc(d.with_timezone(&Utc), false))
        .unwrap_or_else(|_| t.to_string())
}

/// The year when it has four digits (chrono formats others its own way).
fn four_digit_year(at: DateTime<Utc>) -> Option<i32> {
    Some(at.year()).filter(|y| (0..=9999).contains(y))
}

/// The outcome of a run as shown everywhere: `open` while it has none.
pub fn outcome_text(row: &RunRow) -> &str {
    row.outcome.as_deref().unwrap_or("open")
}

/// Per-run counts gathered while streaming its events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    pub events: u64,
    pub deviations: DeviationCounts,
    /// The run did not end as its procedure expects (open at export, or
    /// aborted): one more deviation. No procedure may end unfinished.
    pub unfinished: bool,
}

impl RunStats {
    /// Count one event.
    pub fn add(&mut self, kind: &str) {
        self.events += 1;
        self.deviations.count(kind);
    }

    /// Stats from a run's event count and its deviations.
    pub fn from_counts(events: u64, deviations: DeviationCounts) -> RunStats {
        RunStats {
            events,
            deviations,
            unfinished: false,
        }
    }

    /// These stats for a run with this stored outcome (`None`: open):
    /// [`RunStats::unfinished`] set when it is open or aborted.
    pub fn of_outcome(mut self, outcome: Option<&str>) -> RunStats {
        self.unfinished = is_unfinished(outcome);
        self
    }

    /// Departures from the documented path: skips, failures, acknowledged
    /// warnings, and one for a run left open or aborted.
    pub fn deviations(&self) -> u64 {
        self.deviations.skipped
            + self.deviations.failed
            + self.deviations.warnings_acknowledged
            + u64::from(self.unfinished)
    }

    /// Stats of a run's events.
    pub fn of(events: &[StoredEvent]) -> RunStats {
        let mut s = RunStats::default();
        for e in events {
            s.add(&e.kind);
        }
        s
    }
}

/// A run with this stored outcome did not end as a procedure expects: it is
/// open (no outcome, or one runsheet does not write) or was aborted. Every
/// procedure's steps lead to an end (lint checks it), and none may be left
/// unfinished: escalated and failed runs ended as their procedure says.
pub fn is_unfinished(outcome: Option<&str>) -> bool {
    !matches!(
        outcome.and_then(crate::vocab::Outcome::parse),
        Some(
            crate::vocab::Outcome::Completed
                | crate::vocab::Outcome::Escalated
                | crate::vocab::Outcome::Failed
        )
    )
}

/// The procedures runs used, parsed from the stored sources (for step titles,
/// questions and labels). A source that does not parse any more maps to `None`
/// and timelines fall back to step ids.
#[derive(Debug, Default)]
pub struct Catalog {
    procedures: HashMap<String, Option<Procedure>>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Catalog {
        Catalog::default()
    }

    /// The procedure with this source SHA-256, loaded from the store once.
    pub fn get(&mut self, store: &Store, sha256: &str) -> Result<Option<&Procedure>, StoreError> {
        if !self.procedures.contains_key(sha256) {
            let parsed = store
                .procedure_source(sha256)?
                .and_then(|(text, format)| parse_stored(sha256, text, &format));
            self.procedures.insert(sha256.to_string(), parsed);
        }
        Ok(self.loaded(sha256))
    }

    /// Add a source the caller has read already (parsed here).
    pub fn add(&mut self, sha256: &str, text: &str, format: &str) {
        if !self.procedures.contains_key(sha256) {
            let parsed = parse_stored(sha256, text.to_string(), format);
            self.procedures.insert(sha256.to_string(), parsed);
        }
    }

    /// The procedure if it was loaded already.
    pub fn loaded(&self, sha256: &str) -> Option<&Procedure> {
        self.procedures.get(sha256).and_then(Option::as_ref)
    }
}

/// Parse a stored procedure source (`format` is `toml` or `json`).
pub fn parse_stored(sha256: &str, text: String, format: &str) -> Option<Procedure> {
    parse::stored(sha256, text, format)
        .ok()
        .map(|l| l.procedure)
}

#[cfg(test)]
mod time_tests {
    use super::*;
    use crate::store::time_text;
    use chrono::SecondsFormat;

    #[test]
    fn times_are_written_as_chrono_writes_them() {
        for text in [
            "2026-11-28T02:14:05.123Z",
            "2026-01-01T00:00:00.000Z",
            "0999-12-31T23:59:59.999Z",
        ] {
            let at = DateTime::parse_from_rfc3339(text)
                .expect("time")
                .with_timezone(&Utc);
            assert_eq!(
                time_text(at),
                at.to_rfc3339_opts(SecondsFormat::Millis, true)
            );
            assert_eq!(clock(at, false), at.format("%Y-%m-%d %H:%M").to_string());
            assert_eq!(clock(at, true), at.format("%Y-%m-%d %H:%M:%S").to_string());
        }
    }
}
