//! Lint fixtures: one invalid procedure per check in tests/fixtures/lint, each
//! naming the diagnostic it must produce. TOML fixtures carry it in their first
//! comment lines (`# expect: <line>:<col> <severity>[<code>] <message part>`);
//! JSON fixtures in a sidecar `<name>.expect`. Every diagnostic a fixture
//! produces must be expected, so each fixture is invalid for one reason only.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use runsheet::procedure::lint::{CHECKS, Diagnostic, lint_file};

use crate::common::repo;

/// The date fixtures are linted on (review dates are relative to it).
fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).expect("date")
}

#[derive(Debug)]
struct Expect {
    line: usize,
    column: usize,
    severity: String,
    code: String,
    message: String,
}

impl Expect {
    fn matches(&self, d: &Diagnostic) -> bool {
        d.line == self.line
            && d.column == self.column
            && d.severity.as_str() == self.severity
            && d.code == self.code
            && d.message.contains(&self.message)
    }
}

/// Parse `expect: 12:8 error[unknown-target] goes to unknown step`.
fn parse_expect(line: &str) -> Option<Expect> {
    let rest = line
        .trim_start_matches('#')
        .trim()
        .strip_prefix("expect:")?
        .trim();
    let (at, rest) = rest.split_once(' ')?;
    let (l, c) = at.split_once(':')?;
    let (severity, rest) = rest.split_once('[')?;
    let (code, message) = rest.split_once(']')?;
    Some(Expect {
        line: l.parse().ok()?,
        column: c.parse().ok()?,
        severity: severity.to_string(),
        code: code.to_string(),
        message: message.trim().to_string(),
    })
}

fn expectations(fixture: &Path) -> Vec<Expect> {
    let text = if fixture.extension().is_some_and(|e| e == "json") {
        std::fs::read_to_string(fixture.with_extension("expect")).unwrap_or_default()
    } else {
        std::fs::read_to_string(fixture).unwrap_or_default()
    };
    let lines: Vec<&str> = text
        .lines()
        .take_while(|l| l.trim_start().starts_with('#') || l.starts_with("expect:"))
        .filter(|l| l.contains("expect:"))
        .collect();
    lines
        .iter()
        .map(|l| {
            parse_expect(l).unwrap_or_else(|| panic!("{}: bad expect line: {l}", fixture.display()))
        })
        .collect()
}

fn fixtures() -> Vec<PathBuf> {
    let dir = repo().join("tests/fixtures/lint");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/lint")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml" || e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_fixture_gives_exactly_its_expected_diagnostics() {
    let files = fixtures();
    assert!(files.len() >= 20, "only {} lint fixtures", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let expected = expectations(file);
        if expected.is_empty() {
            failures.push(format!("{}: no `expect:` line", file.display()));
            continue;
        }
        let got = lint_file(file, today());
        let shown = || {
            got.iter()
                .map(|d| format!("    {d}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        for e in &expected {
            if !got.iter().any(|d| e.matches(d)) {
                failures.push(format!(
                    "{}: expected {}:{} {}[{}] {:?}; got:\n{}",
                    file.display(),
                    e.line,
                    e.column,
                    e.severity,
                    e.code,
                    e.message,
                    shown()
                ));
            }
        }
        for d in &got {
            if !expected.iter().any(|e| e.matches(d)) {
                failures.push(format!(
                    "{}: unexpected diagnostic:\n    {d}",
                    file.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_check_has_a_fixture() {
    // Checked elsewhere: `read` (file-level, unit test),
    // `duplicate-procedure` (needs two files, unit test of lint_paths) and
    // `approval-claim` (needs a log with approvals: approval.rs).
    let covered: Vec<String> = fixtures()
        .iter()
        .flat_map(|f| expectations(f))
        .map(|e| e.code)
        .collect();
    let missing: Vec<&str> = CHECKS
        .iter()
        .map(|c| c.code)
        .filter(|c| !["read", "duplicate-procedure", "approval-claim"].contains(c))
        .filter(|c| !covered.iter().any(|x| x == c))
        .collect();
    assert!(missing.is_empty(), "no lint fixture for: {missing:?}");
}

#[test]
fn diagnostics_print_as_path_line_col_with_a_hint() {
    let file = repo().join("tests/fixtures/lint/unknown-target.toml");
    let d = lint_file(&file, today());
    let text = d.first().map(ToString::to_string).unwrap_or_default();
    let expected_prefix = format!("{}:21:8: error[unknown-target]: ", file.display());
    assert!(text.starts_with(&expected_prefix), "{text}");
    assert!(text.contains("\n  hint: did you mean `second`?"), "{text}");
}
