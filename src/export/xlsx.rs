//! `runs.xlsx`: runs.csv as a typed spreadsheet (Office Open XML, written
//! with `rust_xlsxwriter`): one sheet `runs`, one row per exported run, the
//! columns of runs.csv in its order. Ids, versions, hashes and every other
//! text are string cells (so `1.0`, `0000…` and `1e57…` stay what they
//! are), the two times are date-time cells in UTC (the header says so),
//! durations and counts are numbers. The header row is frozen and carries an
//! autofilter over every row.
//!
//! Hostile text stays inert: a string cell is never a formula, and every
//! text cell has Excel's quote prefix, so editing it keeps it text. Control
//! characters are made visible as in the other files; text longer than a
//! cell can hold (32,767 characters) is cut, saying so.
//!
//! Streams: the sheet is written in `rust_xlsxwriter`'s constant-memory mode,
//! each row to a temporary file in the bundle's temporary directory as it
//! comes, so memory does not grow with the number of runs.
//!
//! May not depend on the store's internals, the front ends or the app.

use std::io::Write;
use std::path::Path;

use rust_xlsxwriter::{DocProperties, Format, Workbook, Worksheet, XlsxError};

use super::csv::{RUNS_COLUMNS, RunValue, run_values};
use crate::error::Error;
use crate::report::RunStats;
use crate::store::RunRow;

/// The file's name in the bundle.
pub const FILE: &str = "runs.xlsx";
/// The sheet's name.
pub const SHEET: &str = "runs";
/// How the time cells are shown (the value is the exact UTC time to the millisecond).
pub const TIME_FORMAT: &str = "yyyy-mm-dd hh:mm:ss.000";
/// The most characters an xlsx cell holds.
pub const MAX_CELL_CHARS: usize = 32_767;
/// What ends a text cut to [`MAX_CELL_CHARS`].
pub const CUT_MARK: &str = " [cut: the full text is in evidence.json]";

/// The header of a column: runs.csv's name, and for a time column ` (UTC)`.
pub fn header(column: &str) -> String {
    if matches!(column, "started_at" | "ended_at") {
        format!("{column} (UTC)")
    } else {
        column.to_string()
    }
}

/// runs.xlsx being written, one run at a time.
pub struct RunsSheet {
    workbook: Workbook,
    /// Rows written so far, the header included.
    rows: u32,
    text: Format,
    time: Format,
}

fn xlsx_err(dir: &Path, e: &XlsxError) -> Error {
    Error::Io {
        path: dir.join(FILE),
        message: format!("cannot write the spreadsheet: {e}"),
    }
}

/// Text as a cell shows it: control characters visible, at most
/// [`MAX_CELL_CHARS`] characters.
fn cell_text(s: &str) -> String {
    let visible = crate::text::sanitize_terminal(s);
    // Excel counts UTF-16 units; rust_xlsxwriter characters. Cut by the stricter.
    if visible.encode_utf16().count() <= MAX_CELL_CHARS {
        return visible;
    }
    let room = MAX_CELL_CHARS - CUT_MARK.encode_utf16().count();
    let mut used = 0;
    let mut out = String::new();
    for c in visible.chars() {
        used += c.len_utf16();
        if used > room {
            break;
        }
        out.push(c);
    }
    out.push_str(CUT_MARK);
    out
}

impl RunsSheet {
    /// Start the workbook; its temporary files go into `tmp` (the bundle's
    /// temporary directory, removed with it). Its creation time is the
    /// export's, so the same export gives the same bytes.
    pub fn create(tmp: &Path, created: chrono::DateTime<chrono::Utc>) -> Result<RunsSheet, Error> {
        let err = |e: XlsxError| xlsx_err(tmp, &e);
        let mut workbook = Workbook::new();
        workbook.set_properties(&DocProperties::new().set_creation_datetime(&created));
        workbook.set_tempdir(tmp).map_err(err)?;
        let bold = Format::new().set_bold();
        let sheet = workbook.add_worksheet_with_constant_memory().map_err(err)?;
        sheet.set_name(SHEET).map_err(err)?;
        for (col, name) in (0u16..).zip(RUNS_COLUMNS) {
            sheet
                .write_string_with_format(0, col, header(name), &bold)
                .map_err(err)?;
            let width = match *name {
                "run_id" => 38.0,
                "procedure_sha256" => 66.0,
                "started_at" | "ended_at" => 24.0,
                "procedure_title" | "log_verification" => 40.0,
                "procedure_id" | "controls" | "operator_name" | "host" => 24.0,
                "procedure_version" | "warnings_acknowledged" | "runsheet_version" => 18.0,
                _ => 14.0,
            };
            sheet.set_column_width(col, width).map_err(err)?;
        }
        sheet.set_freeze_panes(1, 0).map_err(err)?;
        Ok(RunsSheet {
            workbook,
            rows: 1,
            text: Format::new().set_quote_prefix(),
            time: Format::new().set_num_format(TIME_FORMAT),
        })
    }

    fn sheet(&mut self) -> Result<&mut Worksheet, XlsxError> {
        self.workbook.worksheet_from_index(0)
    }

    /// One run's row (the values of its runs.csv row, typed).
    pub fn run(
        &mut self,
        dir: &Path,
        r: &RunRow,
        stats: &RunStats,
        mark: &str,
    ) -> Result<(), Error> {
        self.write_run(r, stats, mark)
            .map_err(|e| xlsx_err(dir, &e))
    }

    fn write_run(&mut self, r: &RunRow, stats: &RunStats, mark: &str) -> Result<(), XlsxError> {
        let cells = run_values(r, stats, mark);
        let row = self.rows;
        let (text, time) = (self.text.clone(), self.time.clone());
        let sheet = self.sheet()?;
        for (col, cell) in (0u16..).zip(cells) {
            match cell {
                RunValue::Text(s) => {
                    sheet.write_string_with_format(row, col, cell_text(&s), &text)?;
                }
                RunValue::Time(t) => {
                    sheet.write_datetime_with_format(row, col, t.naive_utc(), &time)?;
                }
                // Counts below 2^53 are exact as an xlsx number.
                #[allow(clippy::cast_precision_loss)]
                RunValue::Count(n) => {
                    sheet.write_number(row, col, n as f64)?;
                }
                RunValue::Empty => {}
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// The autofilter over every row, then the whole file into `w`.
    pub fn finish(mut self, dir: &Path, w: &mut (impl Write + Send)) -> Result<(), Error> {
        let err = |e: XlsxError| xlsx_err(dir, &e);
        let last_row = self.rows - 1;
        let last_col = u16::try_from(RUNS_COLUMNS.len() - 1).unwrap_or(0);
        self.sheet()
            .and_then(|s| s.autofilter(0, 0, last_row, last_col).map(|_| ()))
            .map_err(err)?;
        self.workbook.save_to_writer(w).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_saying_so_and_controls_are_visible() {
        let long = "x".repeat(MAX_CELL_CHARS + 10);
        let cut = cell_text(&long);
        assert_eq!(cut.encode_utf16().count(), MAX_CELL_CHARS);
        assert!(cut.ends_with(CUT_MARK));
        assert_eq!(cell_text("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(cell_text("1.0"), "1.0");
    }

    #[test]
    fn time_columns_say_utc() {
        assert_eq!(header("started_at"), "started_at (UTC)");
        assert_eq!(header("run_id"), "run_id");
    }
}
