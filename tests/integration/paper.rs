//! report.html on paper: a real bundle (a generated log, a real run that
//! fails a step of a shipped procedure with an escalation contact, a real
//! aborted run) printed to PDF by headless Chromium and read back per page
//! with poppler-utils: enough pages, every page says what it belongs to (the
//! cover's header, or the run's procedure and run id), every page has
//! "page n of m", every timeline row's seq, time and last words on one page.
//! Each run's deviations (one more for an open or aborted run) agree in
//! runs.csv, `runsheet show` and report.html's run head and total.
//! The same checks reject the report with its running header removed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::common::{generate_log, run_with_input, runsheet, stdout, tool};

struct Tools {
    chromium: std::path::PathBuf,
    pdfinfo: std::path::PathBuf,
    pdftotext: std::path::PathBuf,
}

fn print_pdf(t: &Tools, html: &Path, pdf: &Path, profile: &Path) {
    let out = Command::new(&t.chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg("--no-pdf-header-footer")
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(
        pdf.exists(),
        "chromium wrote no PDF: {}",
        crate::common::stderr(&out)
    );
}

fn pages(t: &Tools, pdf: &Path) -> Vec<String> {
    let info = stdout(&Command::new(&t.pdfinfo).arg(pdf).output().unwrap());
    let n: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .map(|v| v.trim().parse().unwrap())
        .expect("pdfinfo Pages");
    (1..=n)
        .map(|i| {
            let s = i.to_string();
            stdout(
                &Command::new(&t.pdftotext)
                    .args(["-f", &s, "-l", &s, "-layout"])
                    .arg(pdf)
                    .arg("-")
                    .output()
                    .unwrap(),
            )
        })
        .collect()
}

/// One run as events.csv and runs.csv give it.
struct RunFacts {
    procedure: String,
    /// seq → the time to the second and the last word of its detail.
    events: BTreeMap<i64, (String, Option<String>)>,
}

/// The records of a CSV file (RFC 4180: quoted fields, `""`, CRLF).
fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    // The bundle's CSV files start with a UTF-8 byte-order mark (docs/audit-bundle.md).
    let text = text
        .strip_prefix('\u{feff}')
        .expect("runs.csv and events.csv start with the BOM");
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

fn facts(bundle: &Path) -> BTreeMap<String, RunFacts> {
    let mut runs = BTreeMap::new();
    for row in read_csv(&bundle.join("runs.csv")).iter().skip(1) {
        runs.insert(
            row[0].to_string(),
            RunFacts {
                procedure: row[1].to_string(),
                events: BTreeMap::new(),
            },
        );
    }
    let events = read_csv(&bundle.join("events.csv"));
    let head = &events[0];
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let (seq, run, at, detail) = (col("seq"), col("run_id"), col("at"), col("detail"));
    for row in &events[1..] {
        let last = row[detail]
            .split_whitespace()
            .rev()
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
            .find(|w| (3..=14).contains(&w.len()) && w.chars().all(char::is_alphabetic))
            .map(String::from);
        let time = row[at].replace('T', " ")[..19].to_string();
        if let Some(f) = runs.get_mut(row[run].as_str()) {
            f.events.insert(row[seq].parse().unwrap(), (time, last));
        }
    }
    runs
}

/// The paper checks; `Err` says the first thing wrong.
fn check(pages: &[String], runs: &BTreeMap<String, RunFacts>) -> Result<(), String> {
    let m = pages.len();
    if m < 1 + runs.len() {
        return Err(format!("{m} pages for a cover and {} runs", runs.len()));
    }
    // Which run each page's running header names (None: the cover's pages).
    let mut owner: Vec<Option<&str>> = Vec::new();
    for (i, text) in pages.iter().enumerate() {
        let n = i + 1;
        if !text.contains(&format!("page {n} of {m}")) {
            return Err(format!("page {n} does not say \"page {n} of {m}\""));
        }
        let header = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if header.contains("Audit report — cover, summary and run index") {
            owner.push(None);
            continue;
        }
        let Some((id, f)) = runs
            .iter()
            .find(|(id, _)| header.contains(&format!("run {id}")))
        else {
            return Err(format!("page {n} has no running header: {header:?}"));
        };
        if !header.contains(&f.procedure) {
            return Err(format!(
                "page {n}'s running header lacks {}: {header:?}",
                f.procedure
            ));
        }
        owner.push(Some(id.as_str()));
    }
    for (id, f) in runs {
        for (seq, (time, last)) in &f.events {
            let start = format!("{seq} {time}");
            let found: Vec<usize> = pages
                .iter()
                .enumerate()
                .filter(|(_, t)| {
                    t.lines().any(|l| {
                        l.split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                            .starts_with(&start)
                    })
                })
                .map(|(i, _)| i)
                .collect();
            let [p] = found[..] else {
                return Err(format!(
                    "seq {seq} of run {id} is on pages {found:?}, not one"
                ));
            };
            if owner[p] != Some(id.as_str()) {
                return Err(format!(
                    "seq {seq} of run {id} is on page {}, whose header names {:?}",
                    p + 1,
                    owner[p]
                ));
            }
            if let Some(w) = last
                && !pages[p].contains(w.as_str())
            {
                return Err(format!(
                    "the row of seq {seq} is cut: {w:?} is not on its page {}",
                    p + 1
                ));
            }
        }
    }
    Ok(())
}

/// Each run's deviations agree in runs.csv, `runsheet show` and report.html
/// (the run's head, and the summary's total): an open or aborted run counts
/// one more than its skips, failures and acknowledged warnings.
fn deviations_agree(db: &Path, bundle: &Path, html: &str) {
    let rows = read_csv(&bundle.join("runs.csv"));
    let col = |n: &str| rows[0].iter().position(|h| h == n).unwrap();
    let (id, outcome, dev) = (col("run_id"), col("outcome"), col("deviations"));
    let (skipped, failed, acks) = (col("skips"), col("failures"), col("warnings_acknowledged"));
    let mut total = 0;
    let mut unfinished = 0;
    for row in &rows[1..] {
        let n: u64 = row[dev].parse().unwrap();
        let parts: u64 = [skipped, failed, acks]
            .iter()
            .map(|&c| row[c].parse::<u64>().unwrap())
            .sum();
        let open_or_aborted = matches!(row[outcome].as_str(), "open" | "aborted");
        unfinished += u64::from(open_or_aborted);
        assert_eq!(n, parts + u64::from(open_or_aborted), "runs.csv: {row:?}");
        total += n;
        let shown = stdout(&runsheet(db).args(["show", &row[id]]).output().unwrap());
        let word = if n == 1 { "deviation" } else { "deviations" };
        assert!(
            shown.contains(&format!(" · {n} {word} (")),
            "show {} does not state {n} {word}:\n{shown}",
            row[id]
        );
        let head = html
            .split(&format!("id=\"run-{}\"", row[id]))
            .nth(1)
            .and_then(|r| r.split("<th scope=\"row\">Deviations</th>").nth(1))
            .and_then(|r| r.split("</td>").next())
            .unwrap_or_else(|| panic!("no head for {}", row[id]));
        assert!(
            untag(head).starts_with(&format!("{n}:")),
            "report.html's head of {} does not state {n}: {head}",
            row[id]
        );
    }
    assert!(
        unfinished >= 2,
        "the real open and aborted runs are counted"
    );
    // The summary's total (by control, "All runs"): its last cell.
    let totals: Vec<String> = html
        .split("<tfoot><tr><th>All runs</th>")
        .skip(1)
        .map(|t| {
            let row = t.split("</tr>").next().unwrap();
            untag(&format!("<td{}", row.rsplit("<td").next().unwrap()))
        })
        .collect();
    assert_eq!(totals.len(), 1, "one \"All runs\" row");
    for t in totals {
        assert_eq!(t, total.to_string(), "report.html's total deviations");
    }
}

/// The text of an HTML fragment without its tags.
fn untag(html: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in html.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// Fail the first step of the shipped backup procedure (its branch names a
/// contact in the on-call rota); the run stays open (suspended).
const FAIL_FIRST_STEP: &str = "\nf\ntarget disk full\n";
/// Abort a restore test at its first step.
const ABORT: &str = "X\nchange window closed\ny\n";

#[test]
fn the_printed_report_names_its_run_on_every_page_and_cuts_no_row() {
    let (Some(chromium), Some(pdfinfo), Some(pdftotext)) = (
        tool("chromium", "paper"),
        tool("pdfinfo", "paper"),
        tool("pdftotext", "paper"),
    ) else {
        return;
    };
    let t = Tools {
        chromium,
        pdfinfo,
        pdftotext,
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    generate_log(&db, &["--runs", "8", "--days", "5"]);
    for (procedure, script) in [
        ("backup-customer-data", FAIL_FIRST_STEP),
        ("restore-test", ABORT),
    ] {
        let run = run_with_input(runsheet(&db).args(["run", "--plain", procedure]), script);
        // The failed run is left suspended (its own exit code), the other aborted.
        assert!(stdout(&run).contains("✔ recorded"), "{}", stdout(&run));
    }
    let bundle = dir.path().join("bundle");
    crate::common::export_bundle(&db, &bundle, &[]);
    let html_path = bundle.join("report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();

    // The failure of a shipped procedure shows whom to contact, in its row.
    let failed = html
        .split("<tr")
        .find(|row| row.contains("FAILED — reason: target disk full"))
        .expect("the failure's row");
    assert!(
        failed.contains("class=\"contact\">Escalation contact:") && failed.contains("on-call rota"),
        "{failed}"
    );
    // Open and aborted runs say why, with their last event.
    assert!(
        html.contains("The run is open: it was not ended"),
        "open run explained"
    );
    assert!(
        html.contains("The run was aborted"),
        "aborted run explained"
    );
    assert!(html.contains("Run ended: ABORTED — change window closed"));

    let runs = facts(&bundle);
    assert_eq!(runs.len(), 10, "8 generated runs and 2 real ones");
    deviations_agree(&db, &bundle, &html);
    assert!(runs.values().all(|r| !r.events.is_empty()));
    let pdf = dir.path().join("report.pdf");
    print_pdf(&t, &html_path, &pdf, &dir.path().join("profile"));
    let printed = pages(&t, &pdf);
    check(&printed, &runs).unwrap_or_else(|e| panic!("report.pdf: {e}"));
    assert!(
        printed[0].contains("VERIFIED."),
        "the cover states the verdict"
    );
    assert!(printed[0].contains("Cadence: periods with no completed run"));
    let contact_page = printed
        .iter()
        .find(|p| p.contains("FAILED — reason: target disk full"))
        .expect("the failure is printed");
    assert!(
        contact_page.contains("Escalation contact"),
        "{contact_page}"
    );

    // Negative control: the same checks reject the report without its running header.
    let mut bare = String::new();
    let mut rest = html.as_str();
    while let Some(i) = rest.find("<thead><tr><td><div class=\"running\">") {
        bare.push_str(&rest[..i]);
        let end = rest[i..].find("</thead>").unwrap() + i + "</thead>".len();
        rest = &rest[end..];
    }
    bare.push_str(rest);
    assert_ne!(bare, html, "the running headers were found");
    let bare_path = bundle.join("bare.html");
    std::fs::write(&bare_path, bare).unwrap();
    let bare_pdf = dir.path().join("bare.pdf");
    print_pdf(&t, &bare_path, &bare_pdf, &dir.path().join("profile"));
    let err = check(&pages(&t, &bare_pdf), &runs).expect_err("no header must fail");
    assert!(err.contains("running header"), "{err}");
}
