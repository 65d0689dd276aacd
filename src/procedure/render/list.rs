//! The `list` command's output: a plain-text table and its JSON twin.
//!
//! May not depend on anything outside `procedure` and `text`.

use std::path::PathBuf;

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::Procedure;
use crate::text::sanitize_line;

/// One procedure found in the procedures folder, and the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ListEntry {
    pub path: PathBuf,
    pub procedure: Procedure,
}

const HEADERS: [&str; 7] = [
    "ID",
    "TITLE",
    "VERSION",
    "OWNER",
    "CONTROLS",
    "CADENCE",
    "REVIEW DUE",
];

/// Review state of a procedure on `today`.
enum Review {
    Due(NaiveDate),
    Overdue(NaiveDate),
    NotSet,
}

fn review(p: &Procedure, today: NaiveDate) -> Review {
    match p.review_due() {
        Some(d) if d < today => Review::Overdue(d),
        Some(d) => Review::Due(d),
        None => Review::NotSet,
    }
}

/// Entries sorted by id, then path, so the output does not depend on directory order.
fn sorted(entries: &[ListEntry]) -> Vec<&ListEntry> {
    let mut v: Vec<&ListEntry> = entries.iter().collect();
    v.sort_by(|a, b| {
        a.procedure
            .id
            .cmp(&b.procedure.id)
            .then_with(|| a.path.cmp(&b.path))
    });
    v
}

/// A table of procedures (sorted by id): id, title, version, owner, controls,
/// cadence and review due date. An overdue review says `OVERDUE` in words and a
/// missing one `not set`; with `color` they are also red / yellow. All procedure
/// text is made safe for a terminal. With no entries, only the header line.
pub fn list_table(entries: &[ListEntry], today: NaiveDate, color: bool) -> String {
    let rows: Vec<(Vec<String>, Review)> = sorted(entries)
        .into_iter()
        .map(|e| {
            let p = &e.procedure;
            let r = review(p, today);
            let due = match r {
                Review::Due(d) => d.format("%Y-%m-%d").to_string(),
                Review::Overdue(d) => format!("{} OVERDUE", d.format("%Y-%m-%d")),
                Review::NotSet => "not set".to_string(),
            };
            let cells = vec![
                sanitize_line(&p.id),
                sanitize_line(&p.title),
                sanitize_line(&p.version),
                sanitize_line(&p.owner),
                sanitize_line(&p.controls.join(", ")),
                p.cadence.as_str().to_string(),
                due,
            ];
            (cells, r)
        })
        .collect();
    let mut widths: Vec<usize> = HEADERS.iter().map(|h| h.chars().count()).collect();
    for (cells, _) in &rows {
        for (w, c) in widths.iter_mut().zip(cells) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = HEADERS.iter().map(|h| h.to_string()).collect();
    let header = line(&header, &widths);
    if color {
        out.push_str(&format!("\x1b[1m{header}\x1b[0m\n"));
    } else {
        out.push_str(&header);
        out.push('\n');
    }
    for (cells, r) in &rows {
        let text = line(cells, &widths);
        let paint = match r {
            _ if !color => None,
            Review::Overdue(_) => Some("\x1b[31m"),
            Review::NotSet => Some("\x1b[33m"),
            Review::Due(_) => None,
        };
        match paint {
            // The review column is last: colour it without disturbing the padding.
            Some(code) => {
                let last = cells.last().map_or("", String::as_str);
                let head = text.strip_suffix(last).unwrap_or(&text);
                out.push_str(&format!("{head}{code}{last}\x1b[0m\n"));
            }
            None => {
                out.push_str(&text);
                out.push('\n');
            }
        }
    }
    out
}

/// Cells padded to their column widths, two spaces apart, no trailing spaces.
fn line(cells: &[String], widths: &[usize]) -> String {
    let mut s = String::new();
    for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
        if i + 1 == cells.len() {
            s.push_str(c);
        } else {
            s.push_str(c);
            s.push_str(&" ".repeat(w - c.chars().count() + 2));
        }
    }
    s.trim_end().to_string()
}

/// The same list as JSON: an array (sorted by id) of objects with `id`, `title`,
/// `version`, `owner`, `approver`, `approved`, `review_due` (date or null),
/// `review_overdue`, `cadence`, `classification`, `controls` and `path`.
pub fn list_json(entries: &[ListEntry], today: NaiveDate) -> Value {
    Value::Array(
        sorted(entries)
            .into_iter()
            .map(|e| {
                let p = &e.procedure;
                json!({
                    "id": p.id,
                    "title": p.title,
                    "version": p.version,
                    "owner": p.owner,
                    "approver": p.approver,
                    "approved": p.approved.map(|d| d.to_string()),
                    "review_due": p.review_due().map(|d| d.format("%Y-%m-%d").to_string()),
                    "review_overdue": matches!(review(p, today), Review::Overdue(_)),
                    "cadence": p.cadence.as_str(),
                    "classification": p.classification,
                    "controls": p.controls,
                    "path": e.path.display().to_string(),
                })
            })
            .collect(),
    )
}
