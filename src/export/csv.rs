//! `runs.csv` and `events.csv`: RFC 4180 (CRLF; every text field quoted,
//! quotes doubled; numbers and empty fields bare), UTF-8 with a byte-order
//! mark, one header row. Text a spreadsheet would execute as a formula is
//! neutralised with a leading `'`, and control characters are made visible.
//! Why text is always quoted and what a spreadsheet still does to it: see
//! docs/audit-bundle.md ("runs.csv and events.csv").
//!
//! Hand-written: the whole writer is the two functions below; the `csv` crate
//! would add a dependency for no extra behaviour. May not depend on the front
//! ends or the app.

use std::borrow::Cow;
use std::io::{self, Write};

use chrono::{DateTime, Utc};

use super::escape;
use crate::report::timeline::Entry;
use crate::report::{RunStats, outcome_text};
use crate::store::{EventRef, RunRow, time_text};

/// Columns of `runs.csv` (documented in docs/audit-bundle.md; keep in sync).
pub const RUNS_COLUMNS: &[&str] = &[
    "run_id",
    "procedure_id",
    "procedure_version",
    "procedure_title",
    "procedure_sha256",
    "controls",
    "operator",
    "operator_name",
    "host",
    "started_at",
    "ended_at",
    "duration_s",
    "outcome",
    "events",
    "skips",
    "failures",
    "warnings_acknowledged",
    "deviations",
    "runsheet_version",
    "log_verification",
];

/// Columns of `events.csv` (documented in docs/audit-bundle.md; keep in sync).
pub const EVENTS_COLUMNS: &[&str] = &[
    "seq",
    "run_id",
    "run_seq",
    "at",
    "actor",
    "procedure_id",
    "kind",
    "step",
    "step_title",
    "detail",
    "exit_code",
    "payload_sha256",
    "prev_hash",
    "hash",
    "log_verification",
];

/// The training records' file (written with the CSV format).
pub const TRAINING_FILE: &str = "training.csv";

/// Columns of `training.csv` (documented in docs/audit-bundle.md; keep in sync).
pub const TRAINING_COLUMNS: &[&str] = &[
    "run_id",
    "procedure_id",
    "procedure_version",
    "procedure_sha256",
    "operator",
    "operator_name",
    "trained_by",
    "completed_at",
    "supervisors",
    "log_verification",
];

/// training.csv whole: the header, then one row per record.
pub fn write_training(
    w: &mut impl Write,
    records: &[crate::report::training::TrainingRecord],
    mark: &str,
) -> io::Result<()> {
    use crate::report::training::TrainedBy;
    write_header(w, TRAINING_COLUMNS)?;
    for r in records {
        let supervisors = r.supervisors.join("; ");
        write_record(
            w,
            &[
                Cell::Text(&r.run_id),
                Cell::Text(&r.procedure_id),
                Cell::Text(&r.procedure_version),
                Cell::Text(&r.procedure_sha256),
                Cell::Text(&r.operator),
                opt(r.operator_name.as_deref()),
                Cell::Text(match r.by {
                    TrainedBy::Drill => "drill",
                    TrainedBy::Supervised => "supervised",
                }),
                Cell::Text(&r.completed_at),
                Cell::Text(&supervisors),
                Cell::Text(mark),
            ],
        )?;
    }
    Ok(())
}

/// One cell. Text is written with [`escape::csv`]: control characters made
/// visible, formulas neutralised, quoted as needed.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    /// Any text.
    Text(&'a str),
    /// A number we produced.
    Int(i64),
    /// Nothing (an empty field).
    Empty,
}

/// Write one record, terminated by CRLF.
pub fn write_record(w: &mut impl Write, cells: &[Cell<'_>]) -> io::Result<()> {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        match cell {
            Cell::Int(n) => write!(w, "{n}")?,
            Cell::Empty => {}
            Cell::Text(s) => escape::csv(w, s)?,
        }
    }
    w.write_all(b"\r\n")
}

/// The UTF-8 byte-order mark every CSV file starts with: Excel reads the file
/// as UTF-8 only with it (else "—" shows as "â€”").
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The byte-order mark, then the header row.
pub fn write_header(w: &mut impl Write, columns: &[&str]) -> io::Result<()> {
    w.write_all(BOM)?;
    let cells: Vec<Cell<'_>> = columns.iter().map(|c| Cell::Text(c)).collect();
    write_record(w, &cells)
}

fn opt<'a>(s: Option<&'a str>) -> Cell<'a> {
    s.map_or(Cell::Empty, Cell::Text)
}

/// One value of a run's row, typed: runs.csv writes a time as text, runs.xlsx
/// as a date-time.
pub enum RunValue<'a> {
    Text(Cow<'a, str>),
    Time(DateTime<Utc>),
    Count(i64),
    Empty,
}

/// A run's row in [`RUNS_COLUMNS`] order, the one list runs.csv and
/// runs.xlsx both write.
pub fn run_values<'a>(r: &'a RunRow, stats: &RunStats, mark: &'a str) -> Vec<RunValue<'a>> {
    use RunValue::{Count, Empty, Text, Time};
    let text = |s: &'a str| Text(Cow::Borrowed(s));
    let n = |v: u64| Count(i64::try_from(v).unwrap_or(i64::MAX));
    let duration = r.ended_at.map(|e| (e - r.started_at).num_seconds().max(0));
    vec![
        Text(Cow::Owned(r.id.hyphenated().to_string())),
        text(&r.procedure_id),
        text(&r.procedure_version),
        text(&r.procedure_title),
        text(&r.procedure_sha256),
        Text(Cow::Owned(r.controls.join(";"))),
        text(&r.operator),
        r.operator_name.as_deref().map_or(Empty, text),
        text(&r.host),
        Time(r.started_at),
        r.ended_at.map_or(Empty, Time),
        duration.map_or(Empty, Count),
        text(outcome_text(r)),
        n(stats.events),
        n(stats.deviations.skipped),
        n(stats.deviations.failed),
        n(stats.deviations.warnings_acknowledged),
        n(stats.deviations()),
        text(&r.runsheet_version),
        text(mark),
    ]
}

/// One `runs.csv` row.
pub fn write_run(w: &mut impl Write, r: &RunRow, stats: &RunStats, mark: &str) -> io::Result<()> {
    let values = run_values(r, stats, mark);
    let times: Vec<Option<String>> = values
        .iter()
        .map(|v| match v {
            RunValue::Time(t) => Some(time_text(*t)),
            _ => None,
        })
        .collect();
    let cells: Vec<Cell<'_>> = values
        .iter()
        .zip(&times)
        .map(|(v, time)| match (v, time) {
            (RunValue::Text(s), _) => Cell::Text(s),
            (RunValue::Time(_), Some(t)) => Cell::Text(t),
            (RunValue::Count(n), _) => Cell::Int(*n),
            (RunValue::Time(_), None) | (RunValue::Empty, _) => Cell::Empty,
        })
        .collect();
    write_record(w, &cells)
}

/// One `events.csv` row. `detail` is the event in words (without command
/// output); `exit_code` is a command's exit code.
pub fn write_event(
    w: &mut impl Write,
    e: &EventRef<'_>,
    procedure_id: &str,
    entry: &Entry<'_>,
    exit_code: Option<i64>,
    mark: &str,
) -> io::Result<()> {
    write_record(
        w,
        &[
            Cell::Int(e.seq),
            Cell::Text(e.run_id),
            Cell::Int(e.run_seq),
            Cell::Text(e.at),
            Cell::Text(e.actor),
            Cell::Text(procedure_id),
            Cell::Text(e.kind),
            opt(e.step),
            opt(entry.step.and_then(|s| s.title)),
            Cell::Text(&entry.what),
            exit_code.map_or(Cell::Empty, Cell::Int),
            Cell::Text(e.payload_sha256),
            Cell::Text(e.prev_hash),
            Cell::Text(e.hash),
            Cell::Text(mark),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(cells: &[Cell<'_>]) -> String {
        let mut out = Vec::new();
        write_record(&mut out, cells).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn fields_are_quoted_per_rfc_4180() {
        assert_eq!(
            record(&[
                Cell::Text("a"),
                Cell::Int(3),
                Cell::Empty,
                Cell::Text("x,y")
            ]),
            "\"a\",3,,\"x,y\"\r\n"
        );
        assert_eq!(
            record(&[Cell::Text("say \"hi\"")]),
            "\"say \"\"hi\"\"\"\r\n"
        );
        assert_eq!(record(&[Cell::Text("two\nlines")]), "\"two\nlines\"\r\n");
        assert_eq!(record(&[Cell::Text("ünïcode ✓")]), "\"ünïcode ✓\"\r\n");
    }

    #[test]
    fn formulas_are_neutralised() {
        for risky in ["=cmd|'/c calc'!A1", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            let out = record(&[Cell::Text(risky)]);
            let inner = out.trim_start_matches('"');
            assert!(inner.starts_with('\''), "{risky:?} -> {out:?}");
        }
        assert_eq!(record(&[Cell::Text("a=b")]), "\"a=b\"\r\n");
        assert_eq!(record(&[Cell::Int(-5)]), "-5\r\n");
    }

    #[test]
    fn control_characters_are_made_visible() {
        assert_eq!(record(&[Cell::Text("a\x1b[2Jb")]), "\"a\\u{1b}[2Jb\"\r\n");
        // A CR inside a field is made visible too, so a record never holds a bare CR.
        assert_eq!(record(&[Cell::Text("a\rb")]), "\"a\\u{0d}b\"\r\n");
    }
}
