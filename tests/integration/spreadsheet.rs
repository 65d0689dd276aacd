//! The bundle's spreadsheet files: runs.csv and events.csv start with a
//! UTF-8 byte-order mark and quote every text field, so Python's csv module
//! (`encoding="utf-8-sig"`) reads exactly the values evidence.json holds and
//! LibreOffice with "Format quoted field as text" keeps them as text; runs.xlsx
//! holds runs.csv's values typed, with an autofilter and a frozen header.

use std::path::Path;
use std::process::Command;

use calamine::{Data, Reader, Xlsx, open_workbook};
use serde_json::Value;

use crate::common::{drill_run, export_bundle, generate_log, stderr, tool};

/// A generated log (50 runs) and a real drill run, exported with every format.
fn exported(root: &Path) -> std::path::PathBuf {
    let db = root.join("log.sqlite3");
    generate_log(&db, &["--runs", "50", "--days", "20"]);
    drill_run(&db);
    let bundle = root.join("bundle");
    export_bundle(&db, &bundle, &[]);
    bundle
}

/// runs.csv as Python's csv module reads it (the way docs/audit-bundle.md says).
fn python_rows(python: &Path, csv: &Path) -> Vec<Vec<String>> {
    let out = Command::new(python)
        .args([
            "-c",
            "import csv, json, sys\n\
             with open(sys.argv[1], newline='', encoding='utf-8-sig') as f:\n\
             \x20   print(json.dumps(list(csv.reader(f))))",
        ])
        .arg(csv)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// An xlsx serial date-time as runsheet writes times (RFC 3339, milliseconds, Z).
fn serial_time(serial: f64) -> String {
    let base = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let ms = (serial * 86_400_000.0).round() as i64;
    (base + chrono::Duration::milliseconds(ms))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

const TIMES: [&str; 2] = ["started_at", "ended_at"];
const NUMBERS: [&str; 6] = [
    "duration_s",
    "events",
    "skips",
    "failures",
    "warnings_acknowledged",
    "deviations",
];

#[test]
fn runs_xlsx_holds_the_values_of_runs_csv_typed() {
    let Some(python) = tool("python3", "runs_xlsx_holds_the_values_of_runs_csv_typed") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bundle = exported(dir.path());
    let csv = python_rows(&python, &bundle.join("runs.csv"));
    let evidence: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("evidence.json")).unwrap())
            .unwrap();
    let runs = evidence["runs"].as_array().unwrap();
    assert_eq!(csv.len(), runs.len() + 1, "a header and a row per run");
    // Python reads the values evidence.json holds: no BOM in the first
    // name, versions and hashes as they are.
    assert_eq!(csv[0][0], "run_id");
    for (row, run) in csv[1..].iter().zip(runs) {
        assert_eq!(row[0], run["id"].as_str().unwrap());
        assert_eq!(row[2], run["procedure_version"].as_str().unwrap());
        assert_eq!(row[4], run["procedure_sha256"].as_str().unwrap());
    }
    assert!(csv[1..].iter().any(|r| r[2] == "1.0"), "a version 1.0");

    let mut book: Xlsx<_> = open_workbook(bundle.join("runs.xlsx")).unwrap();
    let sheet = book.worksheet_range("runs").unwrap();
    let rows: Vec<&[Data]> = sheet.rows().collect();
    assert_eq!(rows.len(), csv.len(), "one row per run, as runs.csv");
    for (col, name) in csv[0].iter().enumerate() {
        let want = if TIMES.contains(&name.as_str()) {
            format!("{name} (UTC)")
        } else {
            name.clone()
        };
        assert_eq!(rows[0][col], Data::String(want), "header {col}");
    }
    for (xl, text) in rows[1..].iter().zip(&csv[1..]) {
        for (col, name) in csv[0].iter().enumerate() {
            let cell = xl.get(col).unwrap_or(&Data::Empty);
            let value = &text[col];
            match cell {
                _ if value.is_empty() => assert_eq!(cell, &Data::Empty, "{name}"),
                Data::DateTime(t) => {
                    assert!(TIMES.contains(&name.as_str()), "{name} is a time");
                    assert_eq!(&serial_time(t.as_f64()), value, "{name}");
                }
                Data::Float(x) => {
                    assert!(NUMBERS.contains(&name.as_str()), "{name} is a number");
                    assert_eq!(x.to_string(), *value, "{name}");
                }
                Data::Int(x) => {
                    assert!(NUMBERS.contains(&name.as_str()), "{name} is a number");
                    assert_eq!(x.to_string(), *value, "{name}");
                }
                Data::String(s) => {
                    assert!(
                        !TIMES.contains(&name.as_str()) && !NUMBERS.contains(&name.as_str()),
                        "{name} is text"
                    );
                    // runs.csv neutralises formulas with a `'`; the xlsx
                    // cell is a string (and quote-prefixed) instead.
                    let neutral = value
                        .strip_prefix('\'')
                        .filter(|v| matches!(v.chars().next(), Some('=' | '+' | '-' | '@' | '\t')));
                    assert_eq!(s, neutral.unwrap_or(value), "{name}");
                }
                other => panic!("{name}: unexpected cell {other:?}"),
            }
        }
    }
    // Text stays text: versions, hashes and ids.
    assert!(rows[1..].iter().all(|r| matches!(&r[2], Data::String(_))));
    assert!(
        rows[1..]
            .iter()
            .all(|r| matches!(&r[4], Data::String(s) if s.len() == 64))
    );

    // The autofilter over every row and the frozen header, read by openpyxl.
    let Some(venv) = tool("python", "runs_xlsx_holds_the_values_of_runs_csv_typed") else {
        return;
    };
    let out = Command::new(venv)
        .args([
            "-c",
            "import openpyxl, sys\n\
             ws = openpyxl.load_workbook(sys.argv[1])['runs']\n\
             print(ws.auto_filter.ref, ws.freeze_panes)",
        ])
        .arg(bundle.join("runs.xlsx"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("A1:T{} A2", csv.len())
    );
}

/// runs.csv's values as LibreOffice imports them with `filter` (token 7 of
/// the CSV filter options: quoted fields as text).
fn libreoffice_import(soffice: &Path, csv: &Path, work: &Path, filter: &str) -> Vec<Vec<Data>> {
    let out = Command::new(soffice)
        .env("HOME", work)
        .args([
            "--headless",
            &format!("--infilter={filter}"),
            "--convert-to",
            "xlsx",
            "--outdir",
        ])
        .arg(work)
        .arg(csv)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let name = csv.file_stem().unwrap().to_string_lossy().into_owned();
    let mut book: Xlsx<_> = open_workbook(work.join(format!("{name}.xlsx"))).unwrap();
    let range = book.worksheet_range_at(0).unwrap().unwrap();
    range.rows().map(<[Data]>::to_vec).collect()
}

#[test]
fn libreoffice_keeps_quoted_text_as_text_as_the_docs_say() {
    let Some(soffice) = tool(
        "soffice",
        "libreoffice_keeps_quoted_text_as_text_as_the_docs_say",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bundle = exported(dir.path());
    let filter = "CSV:44,34,76,1,,0,true";
    let rows = libreoffice_import(&soffice, &bundle.join("runs.csv"), dir.path(), filter);
    assert_eq!(
        rows[0][0],
        Data::String("run_id".into()),
        "the BOM is not in the name"
    );
    let drill = rows.iter().find(|r| r[1] == Data::String("drill".into()));
    let any = drill.unwrap_or(&rows[1]);
    assert!(
        matches!(&any[2], Data::String(_)),
        "version as text: {:?}",
        any[2]
    );
    assert!(
        matches!(&any[4], Data::String(s) if s.len() == 64),
        "{:?}",
        any[4]
    );
    assert!(
        matches!(&any[13], Data::Float(_) | Data::Int(_)),
        "events a number"
    );
    assert!(rows[1..].iter().any(|r| r[2] == Data::String("1.0".into())));

    // Break it: the same rows with text unquoted (as runsheet wrote them
    // before) lose "1.0" to the number 1 under the same import.
    let text = std::fs::read_to_string(bundle.join("runs.csv")).unwrap();
    let bare = dir.path().join("bare.csv");
    std::fs::write(&bare, text.replace('"', "")).unwrap();
    let rows = libreoffice_import(&soffice, &bare, dir.path(), filter);
    assert!(
        rows[1..].iter().all(|r| r[2] != Data::String("1.0".into())),
        "unquoted, 1.0 is not kept as text"
    );
}
