//! The `list` command's output: a plain-text table and its JSON twin.
//!
//! May not depend on anything outside `procedure` and `text`.

use std::path::PathBuf;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::Serialize;

use super::Procedure;
use crate::procedure::control::{DueFrom, RecordedReview, RecordedReviewJson, next_review};
use crate::text::{columns, sanitize_line};

/// One procedure found in the procedures folder, the file it came from, and
/// its latest review the evidence log records.
#[derive(Debug, Clone, PartialEq)]
pub struct ListEntry {
    pub path: PathBuf,
    pub procedure: Procedure,
    pub last_review: Option<RecordedReview>,
}

const HEADERS: [&str; 8] = [
    "ID",
    "TITLE",
    "VERSION",
    "OWNER",
    "CONTROLS",
    "CADENCE",
    "LAST REVIEW",
    "REVIEW DUE",
];

/// Review state of a procedure on `today`.
enum Review {
    Due(NaiveDate, DueFrom),
    Overdue(NaiveDate, DueFrom),
    NotSet,
}

fn review(e: &ListEntry, today: NaiveDate) -> Review {
    match next_review(&e.procedure, e.last_review.as_ref()) {
        Some((d, from)) if d < today => Review::Overdue(d, from),
        Some((d, from)) => Review::Due(d, from),
        None => Review::NotSet,
    }
}

/// ` (review)` after a date the log's latest review set; nothing after the
/// file's (as status shows it).
pub fn due_suffix(from: DueFrom) -> &'static str {
    match from {
        DueFrom::Log => " (review)",
        DueFrom::File => "",
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
/// cadence, the last recorded review and the review due date, marked
/// `(review)` when the last recorded review set it (else the file's dates did). An overdue review says `OVERDUE` in words and a
/// missing one `not set`; with `color` they are also red / yellow. All procedure
/// text is made safe for a terminal. With no entries, only the header line.
pub fn list_table(
    entries: &[ListEntry],
    today: NaiveDate,
    color: bool,
    width: Option<usize>,
) -> String {
    let rows: Vec<([String; 8], Review)> = sorted(entries)
        .into_iter()
        .map(|e| {
            let p = &e.procedure;
            let r = review(e, today);
            let due = match r {
                Review::Due(d, f) => format!("{}{}", d.format("%Y-%m-%d"), due_suffix(f)),
                Review::Overdue(d, f) => {
                    format!("{}{} OVERDUE", d.format("%Y-%m-%d"), due_suffix(f))
                }
                Review::NotSet => "not set".to_string(),
            };
            let last = e.last_review.as_ref().map_or("none".to_string(), |r| {
                format!("{} {}", r.on.format("%Y-%m-%d"), sanitize_line(&r.by))
            });
            let cells = [
                sanitize_line(&p.id),
                sanitize_line(&p.title),
                sanitize_line(&p.version),
                sanitize_line(&p.owner),
                sanitize_line(&p.controls.join(", ")),
                p.cadence.as_str().to_string(),
                last,
                due,
            ];
            (cells, r)
        })
        .collect();
    let mut widths: [usize; 8] = HEADERS.map(|h| h.chars().count());
    for (cells, _) in &rows {
        for (w, c) in widths.iter_mut().zip(cells) {
            *w = (*w).max(c.chars().count());
        }
    }
    let (mut cells, reviews): (Vec<[String; 8]>, Vec<Review>) = rows.into_iter().unzip();
    // At a terminal: cut the title, then the controls, then the owner; the
    // id (what `run` takes) and the dates stay whole.
    if let Some(max) = width {
        let order = [
            (1, 24),
            (4, 14),
            (3, 14),
            (1, 12),
            (4, 8),
            (3, 8),
            (1, 8),
            (4, 6),
            (3, 6),
            (1, 6),
            (3, 5),
            (1, 4),
            (3, 4),
            (4, 4),
            (6, 4),
        ];
        columns::fit(&mut widths, &mut cells, max, &order);
    }
    let rows: Vec<([String; 8], Review)> = cells.into_iter().zip(reviews).collect();
    let mut out = String::new();
    // A column cut below its heading's width cuts the heading too.
    let header: Vec<String> = HEADERS
        .iter()
        .zip(widths)
        .map(|(h, w)| columns::cut(h, w))
        .collect();
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
            Review::Overdue(..) => Some("\x1b[31m"),
            Review::NotSet => Some("\x1b[33m"),
            Review::Due(..) => None,
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
            s.push_str(&" ".repeat(w.saturating_sub(c.chars().count()) + 2));
        }
    }
    s.trim_end().to_string()
}

/// `runsheet list --json` (docs/json.md): the procedures, sorted as the table.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ListJson {
    pub procedures: Vec<ListItemJson>,
}

/// A procedure in `list --json`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ListItemJson {
    pub id: String,
    pub title: String,
    pub version: String,
    pub owner: String,
    pub approver: Option<String>,
    /// The approval date the file states (YYYY-MM-DD).
    pub approved: Option<String>,
    /// When the next review is due (YYYY-MM-DD): from the latest review the
    /// log records, else from the file's dates.
    pub review_due: Option<String>,
    /// Where `review_due` comes from (null: no date).
    pub review_due_from: Option<DueFrom>,
    /// The review is due before today.
    pub review_overdue: bool,
    /// The latest review the evidence log records (null: none, or no log).
    pub last_review: Option<RecordedReviewJson>,
    pub cadence: String,
    pub classification: Option<String>,
    /// Annex A controls.
    pub controls: Vec<String>,
    /// The file it was read from.
    pub path: String,
}

/// The `list --json` output.
pub fn list_json(entries: &[ListEntry], today: NaiveDate) -> ListJson {
    ListJson {
        procedures: sorted(entries)
            .into_iter()
            .map(|e| {
                let p = &e.procedure;
                let due = next_review(p, e.last_review.as_ref());
                ListItemJson {
                    id: p.id.clone(),
                    title: p.title.clone(),
                    version: p.version.clone(),
                    owner: p.owner.clone(),
                    approver: p.approver.clone(),
                    approved: p.approved.map(|d| d.to_string()),
                    review_due: due.map(|(d, _)| d.format("%Y-%m-%d").to_string()),
                    review_due_from: due.map(|(_, f)| f),
                    review_overdue: matches!(review(e, today), Review::Overdue(..)),
                    last_review: e.last_review.as_ref().map(RecordedReviewJson::from),
                    cadence: p.cadence.as_str().to_string(),
                    classification: p.classification.clone(),
                    controls: p.controls.clone(),
                    path: e.path.display().to_string(),
                }
            })
            .collect(),
    }
}
