//! Export tests on a fixed log (fixed run ids and times): golden CSV, JSON,
//! Markdown and HTML; hostile text coming out inert; failed exports leaving nothing
//! behind; verify-bundle catching every changed byte; bounded memory.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::*;
use crate::engine::{self, Command, CommandResult, Event, Meta, Run, StartInfo};
use crate::error::exit_code;
use crate::procedure::parse::{Format, Source};
use crate::report::Catalog;
use crate::store::{NewEvent, Store, StoreError, sha256_hex};
use crate::testdata::{GenerateOptions, generate, new_log};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

fn now() -> DateTime<Utc> {
    t("2026-11-29T08:00:00Z")
}

/// A procedure full of hostile text: markup, quotes, formulas, escapes.
const NASTY: &str = r#"
id = "nasty-proc"
title = "<script>alert('title')</script> \"Quoted\" & co"
version = "1.0"
owner = "=HYPERLINK(\"http://evil.example\")"
approver = "ISO"
approved = 2026-01-01
review_every_months = 12
cadence = "weekly"
controls = ["A.5.37", "<b>A.8.13</b>"]
purpose = "Test that every writer escapes."

[[roles]]
id = "op"
title = "Operator"

[[roles]]
id = "lead"
title = "Lead"

[[steps]]
id = "check"
title = "Check <img src=x onerror=alert(1)>"
[steps.command]
run = "printf '=cmd|calc'"

[[steps]]
id = "ask"
title = "Ask \"twice\""
[steps.decision]
question = "Is it =1+1?"
yes = "record"
no = "record"

[[steps]]
id = "record"
title = "Record"
signoff = "lead"
typed_signoff = true
note = "Why?"
[steps.value]
type = "text"
label = "@SUM(A1:A9)"

[[steps]]
id = "optional"
title = "Optional step"
"#;

/// The hostile strings the nasty run records.
const NOTE: &str = "line one\nline two \x1b]0;pwned\x07 <script>steal()</script> \u{9b}31m";
const VALUE: &str = "=cmd|'/c calc'!A1";
const SIGNER: &str = "+Eve \"the second\" <eve@example.com>";
const JUSTIFICATION: &str = "\t@evil justification\r\nwith CR";
const OUTPUT: &str = "\x1b[2J<script>alert('out')</script>\n-2+3\n";

/// Drive a run of `text` through the engine into the store; times from `start`, one second apart.
fn record_run(store: &mut Store, text: &str, id: Uuid, start: DateTime<Utc>, commands: &[Command]) {
    let mut driver = begin_run(store, text, id, start);
    for c in commands {
        driver.act(store, c);
    }
}

/// A run being driven through the engine into the store, one command at a time.
struct Driver {
    run: Run,
    id: Uuid,
    actor: String,
    start: DateTime<Utc>,
    done: i64,
}

fn new_event(m: &Meta, e: &Event) -> NewEvent {
    NewEvent {
        at: m.at,
        actor: m.actor.clone(),
        kind: e.kind().into(),
        step: e.step().map(String::from),
        payload: e.to_payload(),
    }
}

impl Driver {
    /// One command, one second after the previous one.
    fn act(&mut self, store: &mut Store, c: &Command) {
        self.done += 1;
        let m = Meta {
            at: self.start + Duration::seconds(self.done),
            actor: self.actor.clone(),
        };
        let events = self.run.decide(c, &m).expect("engine accepts");
        for e in &events {
            self.run.apply(e);
        }
        let new: Vec<NewEvent> = events.iter().map(|e| new_event(&m, e)).collect();
        let end = self.run.outcome.map(|o| (o.as_str(), m.at));
        store.append(self.id, &new, end).expect("append");
    }
}

/// Create a run of `text` (its first events) and return its driver.
fn begin_run(store: &mut Store, text: &str, id: Uuid, start: DateTime<Utc>) -> Driver {
    let loaded = crate::procedure::parse::parse(Source::from_text(
        "procedures/nasty.toml",
        text,
        Format::Toml,
    ))
    .expect("parse");
    let p = loaded.procedure;
    let info = StartInfo {
        procedure_sha256: sha256_hex(text.as_bytes()),
        procedure_format: "toml".into(),
        source_path: "procedures/nasty.toml".into(),
        operator: crate::vocab::Operator::new("ops", Some("=Ops <Team>"), "host-1"),
        runsheet_version: "0.1.0".into(),
        today: start.date_naive(),
        clock: None,
        pid: None,
        control: Default::default(),
        change_notice: None,
        drill: false,
    };
    let actor = "=Ops <Team> (ops)".to_string();
    let started = engine::start(&p, &info);
    let meta = Meta {
        at: start,
        actor: actor.clone(),
    };
    let first: Vec<NewEvent> = started.iter().map(|e| new_event(&meta, e)).collect();
    store
        .create_run(&crate::session::new_run(id, &p, &info, text, start), &first)
        .expect("create run");
    Driver {
        run: Run::replay(p, &started),
        id,
        actor,
        start,
        done: 0,
    }
}

fn nasty_commands() -> Vec<Command> {
    let s = |x: &str| x.to_string();
    vec![
        Command::RecordCommand {
            step: s("check"),
            result: CommandResult {
                command: s("printf '=cmd|calc'"),
                exit_code: Some(0),
                duration_ms: 12,
                output: s(OUTPUT),
                output_sha256: sha256_hex(OUTPUT.as_bytes()),
                output_bytes: OUTPUT.len() as u64,
                truncated: false,
            },
        },
        Command::Confirm { step: s("check") },
        Command::Answer {
            step: s("ask"),
            yes: true,
        },
        Command::RecordValue {
            step: s("record"),
            value: s(VALUE),
        },
        Command::AddNote {
            step: s("record"),
            text: s(NOTE),
        },
        Command::SignOff {
            step: s("record"),
            by: s(SIGNER),
        },
        Command::Confirm { step: s("record") },
        Command::Skip {
            step: s("optional"),
            justification: s(JUSTIFICATION),
        },
    ]
}

/// The fixed log: a few generated backup runs plus the hostile run.
fn fixed_log(dir: &Path) -> Store {
    let mut store = new_log(&dir.join("log.sqlite3"), now(), 11).expect("store");
    generate(
        &mut store,
        &GenerateOptions {
            runs: 4,
            events_per_run: 0,
            days: 3,
            now: now(),
            seed: 11,
        },
    )
    .expect("generate");
    record_run(
        &mut store,
        NASTY,
        Uuid::parse_str("01a20000-0000-7000-8000-000000000001").expect("uuid"),
        t("2026-11-28T22:00:00Z"),
        &nasty_commands(),
    );
    store
}

fn request(out: PathBuf) -> ExportRequest {
    ExportRequest {
        out,
        query: RunQuery::default(),
        formats: Formats::default(),
        force: false,
        allow_unverified: false,
        actor: "auditor".into(),
        now: now(),
        cosign: Vec::new(),
    }
}

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).expect("read bundle file")
}

/// CRLF made visible so the snapshots show the record ends.
fn crlf(s: &str) -> String {
    s.replace("\r\n", "␍␊\n")
}

#[test]
fn golden_bundle_files() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = fixed_log(dir.path());
    let out = dir.path().join("bundle");
    let summary = export(&mut store, &request(out.clone())).expect("export");
    assert_eq!(summary.runs, 5);
    insta::assert_snapshot!("runs_csv", crlf(&read(&out, "runs.csv")));
    insta::assert_snapshot!("events_csv", crlf(&read(&out, "events.csv")));
    insta::assert_snapshot!("evidence_json", read(&out, "evidence.json"));
    insta::assert_snapshot!("report_md", read(&out, "report.md"));
    // Pretty-printed for review (the file has an observation, finding and resource a line).
    let oscal: serde_json::Value = serde_json::from_str(&read(&out, oscal::FILE)).expect("JSON");
    insta::assert_snapshot!(
        "oscal_assessment_results_json",
        serde_json::to_string_pretty(&oscal).expect("JSON")
    );
    // The export record names the bundle's (temporary) path, so its hash,
    // the checkpoint at it, and those two files' and the manifest's hashes
    // differ from run to run; the rest is fixed.
    let mut manifest = read(&out, "manifest.json")
        .replace(&summary.checkpoint.head_hash, "<hash of the export record>");
    for name in [
        "export.json",
        "checkpoint.json",
        "checkpoint",
        "export.tlog-proof",
    ] {
        let entry = summary.files.iter().find(|f| f.path == name).expect(name);
        manifest = manifest
            .replace(&entry.sha256, &format!("<sha256 of {name}>"))
            .replace(
                &format!("\"bytes\": {}\n", entry.bytes),
                "\"bytes\": <bytes>\n",
            );
    }
    let self_hash = regex::Regex::new("\"self_sha256\": \"[0-9a-f]{64}\"").expect("regex");
    let manifest = self_hash.replace(&manifest, "\"self_sha256\": \"<self hash>\"");
    insta::assert_snapshot!("manifest_json", manifest);
    // evidence.json is one JSON document, and its payloads hash to their payload_sha256.
    let v: serde_json::Value = serde_json::from_str(&read(&out, "evidence.json")).expect("JSON");
    for e in v["events"].as_array().expect("events") {
        let text = crate::store::canonical_json(&e["payload"]);
        assert_eq!(sha256_hex(text.as_bytes()), e["payload_sha256"], "{e}");
    }
    assert_eq!(v["procedures"].as_array().map(Vec::len), Some(2));
}

#[test]
fn golden_report_html() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = fixed_log(dir.path());
    let out = dir.path().join("bundle");
    export(&mut store, &request(out.clone())).expect("export");
    insta::assert_snapshot!("report_html", read(&out, "report.html"));
}

/// A minimal RFC 4180 reader for the tests (the product only writes CSV).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let text = text
        .strip_prefix('\u{feff}')
        .expect("a CSV file starts with a UTF-8 byte-order mark");
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
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
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "a bare CR outside quotes");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\n') => panic!("a bare LF ends a record"),
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && row.is_empty(),
        "the last record ends with CRLF"
    );
    rows
}

#[test]
fn hostile_text_is_inert_in_html_csv_and_markdown() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = fixed_log(dir.path());
    let out = dir.path().join("bundle");
    export(&mut store, &request(out.clone())).expect("export");

    let html = read(&out, "report.html");
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "a script tag got through");
    assert!(!lower.contains("<img"), "an img tag got through");
    assert!(
        !lower.contains("<b>a.8.13"),
        "markup in a control got through"
    );
    assert!(
        !html.contains('\x1b') && !html.contains('\u{9b}'),
        "raw escapes in HTML"
    );
    assert!(html.contains("&lt;script&gt;steal()&lt;/script&gt;"));
    assert!(html.contains("=cmd|&#39;/c calc&#39;!A1"));
    assert!(html.contains("+Eve &quot;the second&quot; &lt;eve@example.com&gt;"));
    assert!(
        html.contains("\\u{1b}]0;pwned\\u{07}"),
        "escapes are shown, not run"
    );
    assert!(
        html.contains("default-src 'none'"),
        "the CSP forbids scripts anyway"
    );
    // Self-contained: no external references at all.
    for needle in ["src=\"", "href=\"http", "@import", "url("] {
        assert!(!lower.contains(needle), "report.html references {needle}");
    }

    for name in ["runs.csv", "events.csv"] {
        let text = read(&out, name);
        assert!(
            !text.contains('\x1b') && !text.contains('\u{9b}'),
            "raw escapes in {name}"
        );
        let rows = parse_csv(&text);
        let width = rows[0].len();
        for row in &rows {
            assert_eq!(row.len(), width, "{name}: ragged row {row:?}");
            for cell in row {
                let risky = matches!(
                    cell.chars().next(),
                    Some('=' | '+' | '-' | '@' | '\t' | '\r')
                );
                assert!(!risky, "{name}: a spreadsheet would execute {cell:?}");
            }
        }
    }
    let events = read(&out, "events.csv");
    assert!(events.contains("'=cmd|'/c calc'!A1") || events.contains(": =cmd|'/c calc'!A1"));
    let runs = parse_csv(&read(&out, "runs.csv"));
    let nasty = runs
        .iter()
        .find(|r| r[1] == "nasty-proc")
        .expect("nasty run row");
    assert_eq!(nasty[7], "'=Ops <Team>", "operator_name neutralised");

    let md = read(&out, "report.md");
    assert!(!md.contains('\x1b') && !md.contains('\u{9b}'));
    for (i, _) in md.match_indices('<') {
        let tail = &md[i..];
        let ours = ["<br>", "<a id=\"run-", "</a>"]
            .iter()
            .any(|ok| tail.starts_with(ok));
        let escaped = i > 0 && md.as_bytes()[i - 1] == b'\\';
        assert!(
            ours || escaped,
            "raw markup in report.md: {:?}",
            &tail[..tail.len().min(30)]
        );
    }
}

#[test]
fn filters_select_runs_and_are_stated() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = fixed_log(dir.path());
    let out = dir.path().join("bundle");
    let mut req = request(out.clone());
    req.query.control = Some("a.8.13".into());
    req.query.since = NaiveDate::from_ymd_opt(2026, 11, 27);
    req.formats = Formats {
        html: true,
        csv: true,
        json: false,
        md: false,
        xlsx: false,
        oscal: false,
    };
    let summary = export(&mut store, &req).expect("export");
    let rows = parse_csv(&read(&out, "runs.csv"));
    assert_eq!(rows.len() - 1, summary.runs);
    assert!(rows[1..].iter().all(|r| r[1] == "backup-customer-data"));
    assert!(rows[1..].iter().all(|r| r[9].as_str() >= "2026-11-27"));
    assert!(!out.join("evidence.json").exists() && !out.join("report.md").exists());
    let html = read(&out, "report.html");
    assert!(html.contains("control a.8.13; runs started on or after 2026-11-27"));
    let listed: Vec<String> = summary.files.iter().map(|f| f.path.clone()).collect();
    assert!(listed.contains(&"checkpoint.json".to_string()));
    assert!(listed.iter().any(|p| p.starts_with("procedures/")));
}

#[test]
fn the_export_record_lists_every_data_file_and_the_checkpoint_is_at_it() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = fixed_log(dir.path());
    let before = store.checkpoint().expect("cp");
    let summary = export(&mut store, &request(dir.path().join("b"))).expect("export");
    assert_eq!(summary.data_head, before);
    let seq = summary.export_seq.expect("recorded");
    assert_eq!(seq, before.head_seq + 1);
    assert_eq!(summary.checkpoint.head_seq, seq);
    let mut export_event = None;
    store
        .for_each_event(seq, |e| {
            export_event = Some(e);
            Ok(())
        })
        .expect("read");
    let e = export_event.expect("export event");
    assert_eq!(e.kind, KIND_EXPORT);
    assert_eq!(e.actor, "auditor");
    assert_eq!(e.hash, summary.checkpoint.head_hash);
    let p = e.payload;
    let data: Vec<&str> = summary
        .files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| {
            *p != "checkpoint.json"
                && *p != "export.json"
                && !crate::export::verify::custody::is_signed_part(p)
        })
        .collect();
    let listed: Vec<&str> = p["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    assert_eq!(listed, data);
    assert_eq!(p["runs"], 5);
    assert_eq!(p["data_head_seq"], before.head_seq);
    assert_eq!(p["verification"]["verified"], true);
    assert!(store.verify().expect("verify").is_ok());
}

/// A failed export left no bundle at `out` and no temporary directory in `dir`.
fn assert_nothing_left(dir: &Path, out: &Path) {
    assert!(!out.exists(), "no bundle at the target");
    assert!(leftovers(dir).is_empty(), "{:?}", leftovers(dir));
}

fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("runsheet-tmp") || n.contains("runsheet-old"))
        .collect()
}

#[test]
fn an_export_under_a_regular_file_fails_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = fixed_log(dir.path());
    let file = dir.path().join("not-a-dir");
    fs::write(&file, "x").expect("file");
    let err = export(&mut store, &request(file.join("bundle"))).expect_err("must fail");
    assert!(err.to_string().contains("is not a directory"), "{err}");
    assert_eq!(fs::read_to_string(&file).expect("file"), "x");
    assert!(leftovers(dir.path()).is_empty());
    // And nothing was recorded.
    let cp = store.checkpoint().expect("cp");
    assert_eq!(cp.head_seq, store.checkpoint().expect("cp").head_seq);
}

#[test]
fn a_failure_after_writing_removes_the_temporary_bundle() {
    let dir = tempfile::tempdir().expect("dir");
    let store = fixed_log(dir.path());
    let path = store.path().to_path_buf();
    drop(store);
    // Every data file is written, then recording the export fails: another
    // process holds the write lock past the busy timeout.
    let mut store =
        Store::open_with_timeout(&path, std::time::Duration::from_millis(50)).expect("store");
    let holder = rusqlite::Connection::open(&path).expect("raw");
    holder.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let out = dir.path().join("bundle");
    let err = export(&mut store, &request(out.clone())).expect_err("must fail");
    let text = err.to_string();
    assert_eq!(exit_code(&Err(err)), crate::error::code::STORE, "{text}");
    assert!(text.contains("no bundle was left"), "{text}");
    assert_nothing_left(dir.path(), &out);
}

#[test]
fn a_read_only_log_is_exported_without_a_record_and_the_bundle_says_so() {
    let dir = tempfile::tempdir().expect("dir");
    let store = fixed_log(dir.path());
    let path = store.path().to_path_buf();
    drop(store);
    let before = fs::read(&path).expect("log");
    let mut ro = Store::options()
        .read_only(true)
        .open_existing(&path)
        .expect("read-only");
    let out = dir.path().join("bundle");
    let summary = export(&mut ro, &request(out.clone())).expect("export");
    assert_eq!(summary.export_seq, None);
    assert_eq!(summary.checkpoint, summary.data_head);
    assert!(!out.join("export.json").exists());
    let m: serde_json::Value = serde_json::from_str(&read(&out, "manifest.json")).expect("json");
    assert_eq!(m["export"]["recorded"], false);
    let report =
        verify_bundle(&out, Some(&ro), &crate::export::BundleTrust::default()).expect("verify");
    assert!(report.is_ok(), "{report}");
    assert!(
        report.to_string().contains("recorded in no log"),
        "{report}"
    );
    drop(ro);
    assert_eq!(
        fs::read(&path).expect("log"),
        before,
        "the log is unchanged"
    );
}

#[test]
fn an_unreadable_payload_stops_the_export_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let store = fixed_log(dir.path());
    let path = store.path().to_path_buf();
    drop(store);
    let conn = rusqlite::Connection::open(&path).expect("sqlite");
    conn.execute_batch(
        "DROP TRIGGER events_no_update; UPDATE events SET payload = 'not json' WHERE seq = 3;",
    )
    .expect("tamper");
    drop(conn);
    let mut store = Store::open(&path).expect("store");
    let out = dir.path().join("bundle");
    // verify finds it first: nothing is exported, and the finding is shown.
    let err = export(&mut store, &request(out.clone())).expect_err("must fail");
    let text = err.to_string();
    assert_eq!(
        exit_code(&Err(err)),
        crate::error::code::CHECK_FAILED,
        "{text}"
    );
    assert!(
        text.contains("failed verification") && text.contains("seq 3"),
        "{text}"
    );
    assert_nothing_left(dir.path(), &out);
    // Even with --allow-unverified, a payload that cannot be read stops it.
    let mut anyway = request(out.clone());
    anyway.allow_unverified = true;
    let err = export(&mut store, &anyway).expect_err("must fail");
    let text = err.to_string();
    assert!(
        text.contains("event seq 3")
            && text.contains("not JSON")
            && text.contains("runsheet verify"),
        "{text}"
    );
    assert_nothing_left(dir.path(), &out);
}

/// Two runs whose events alternate in the chain: each file groups the events
/// by run (runs oldest first, each run's events in order), and the bundle
/// still checks out against the log.
#[test]
fn interleaved_runs_are_exported_run_by_run_and_verify() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = Store::open(&dir.path().join("log.sqlite3")).expect("store");
    let first = Uuid::parse_str("01a20000-0000-7000-8000-00000000000a").expect("uuid");
    let second = Uuid::parse_str("01a20000-0000-7000-8000-00000000000b").expect("uuid");
    let start = t("2026-11-28T10:00:00Z");
    let mut a = begin_run(&mut store, NASTY, first, start);
    let mut b = begin_run(
        &mut store,
        NASTY,
        second,
        start + Duration::milliseconds(500),
    );
    for c in nasty_commands() {
        a.act(&mut store, &c);
        b.act(&mut store, &c);
    }
    let out = dir.path().join("bundle");
    let summary = export(&mut store, &request(out.clone())).expect("export");
    assert_eq!(summary.runs, 2);

    let evidence: serde_json::Value =
        serde_json::from_str(&read(&out, "evidence.json")).expect("json");
    let events = evidence["events"].as_array().expect("events");
    let order: Vec<(String, i64, i64)> = events
        .iter()
        .map(|e| {
            (
                e["run_id"].as_str().expect("run").to_string(),
                e["run_seq"].as_i64().expect("run_seq"),
                e["seq"].as_i64().expect("seq"),
            )
        })
        .collect();
    let half = order.len() / 2;
    assert_eq!(order.len() as u64, summary.events);
    assert!(
        order[..half].iter().all(|(r, ..)| *r == first.to_string()),
        "{order:?}"
    );
    assert!(
        order[half..].iter().all(|(r, ..)| *r == second.to_string()),
        "{order:?}"
    );
    for run in [&order[..half], &order[half..]] {
        let run_seqs: Vec<i64> = run.iter().map(|(_, n, _)| *n).collect();
        assert_eq!(run_seqs, (1..=half as i64).collect::<Vec<_>>());
    }
    assert!(
        order.windows(2).any(|w| w[0].2 > w[1].2),
        "the chain order differs from the run order: {order:?}"
    );
    let csv_runs: Vec<String> = parse_csv(&read(&out, "events.csv"))
        .into_iter()
        .skip(1)
        .map(|row| row[1].clone())
        .collect();
    let json_runs: Vec<String> = order.iter().map(|(r, ..)| r.clone()).collect();
    assert_eq!(csv_runs, json_runs, "events.csv in the same order");

    let report = verify_bundle(&out, Some(&store), &crate::export::BundleTrust::default())
        .expect("verify-bundle");
    assert!(report.is_ok(), "{report}");
}

/// Everything an export reads comes from one snapshot, whatever another
/// process appends meanwhile.
#[test]
fn a_read_snapshot_does_not_see_later_appends() {
    let dir = tempfile::tempdir().expect("dir");
    let reader = fixed_log(dir.path());
    let mut writer = Store::open(reader.path()).expect("second handle");
    let count = |s: &Store| {
        let mut n = 0;
        s.for_each_run(&RunQuery::default(), false, |_, _| {
            n += 1;
            Ok::<(), StoreError>(())
        })
        .map(|()| n)
    };
    let (before, after, runs_before, runs_after) = reader
        .read_snapshot(|s| {
            let before = s.checkpoint()?;
            let runs_before = count(s)?;
            record_run(
                &mut writer,
                NASTY,
                Uuid::parse_str("01a20000-0000-7000-8000-0000000000cc").expect("uuid"),
                t("2026-11-29T07:00:00Z"),
                &nasty_commands(),
            );
            Ok::<_, StoreError>((before, s.checkpoint()?, runs_before, count(s)?))
        })
        .expect("snapshot");
    assert_eq!(before, after);
    assert_eq!(runs_before, runs_after);
    let now_seen = reader.checkpoint().expect("checkpoint");
    assert!(
        now_seen.head_seq > before.head_seq,
        "outside the snapshot the new run shows"
    );
}

#[test]
fn non_empty_directories_are_refused_and_force_replaces_only_bundles() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = fixed_log(dir.path());
    let out = dir.path().join("bundle");
    fs::create_dir(&out).expect("dir");
    fs::write(out.join("notes.txt"), "mine").expect("file");
    let err = export(&mut store, &request(out.clone())).expect_err("refused");
    assert!(err.to_string().contains("is not empty"), "{err}");
    let mut forced = request(out.clone());
    forced.force = true;
    let err = export(&mut store, &forced).expect_err("not a bundle");
    assert!(err.to_string().contains("not an audit bundle"), "{err}");
    assert_eq!(
        fs::read_to_string(out.join("notes.txt")).expect("kept"),
        "mine"
    );

    // An empty directory is fine; a previous bundle is replaced with --force.
    fs::remove_file(out.join("notes.txt")).expect("rm");
    export(&mut store, &request(out.clone())).expect("into an empty dir");
    export(&mut store, &request(out.clone())).expect_err("now it is not empty");
    let again = export(&mut store, &forced).expect("replaced");
    let report =
        verify_bundle(&out, Some(&store), &crate::export::BundleTrust::default()).expect("verify");
    assert!(report.is_ok(), "{report}");
    assert_eq!(
        report.log.as_ref().map(|l| l.checkpoint_seq),
        again.export_seq
    );
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn verify_bundle_names_every_changed_file() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = fixed_log(dir.path());
    let out = dir.path().join("bundle");
    let summary = export(&mut store, &request(out.clone())).expect("export");
    let ok =
        verify_bundle(&out, Some(&store), &crate::export::BundleTrust::default()).expect("verify");
    assert!(ok.is_ok(), "{ok}");
    assert_eq!(
        ok.log.as_ref().map(|l| l.events_checked),
        Some(summary.events)
    );

    let mut names: Vec<String> = summary.files.iter().map(|f| f.path.clone()).collect();
    names.push("manifest.json".into());
    for name in &names {
        let copy = dir.path().join("copy");
        let _ = fs::remove_dir_all(&copy);
        copy_dir(&out, &copy);
        let path = copy.join(name);
        let mut bytes = fs::read(&path).expect("read");
        let i = bytes.len() / 2;
        bytes[i] ^= 0x01;
        fs::write(&path, bytes).expect("write");
        for with_log in [false, true] {
            let report = verify_bundle(
                &copy,
                with_log.then_some(&store),
                &crate::export::BundleTrust::default(),
            )
            .expect("verify");
            assert!(!report.is_ok(), "{name}: a changed byte went unnoticed");
            assert!(
                report.problems.iter().any(|p| &p.file == name),
                "{name} not named: {report}"
            );
        }
    }
    // Added and removed files.
    let copy = dir.path().join("copy2");
    copy_dir(&out, &copy);
    fs::write(copy.join("procedures/extra.toml"), "x").expect("extra");
    fs::remove_file(copy.join("report.md")).expect("rm");
    let report =
        verify_bundle(&copy, None, &crate::export::BundleTrust::default()).expect("verify");
    let named: Vec<&str> = report.problems.iter().map(|p| p.file.as_str()).collect();
    assert!(
        named.contains(&"procedures/extra.toml") && named.contains(&"report.md"),
        "{report}"
    );
}

#[test]
fn a_bundle_from_another_log_fails_against_this_one() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = fixed_log(dir.path());
    let out = dir.path().join("bundle");
    export(&mut store, &request(out.clone())).expect("export");
    let other_dir = tempfile::tempdir().expect("dir");
    let mut other = new_log(&other_dir.path().join("other.sqlite3"), now(), 99).expect("other");
    generate(
        &mut other,
        &GenerateOptions {
            runs: 2,
            events_per_run: 0,
            days: 2,
            now: now(),
            seed: 99,
        },
    )
    .expect("generate");
    let report =
        verify_bundle(&out, Some(&other), &crate::export::BundleTrust::default()).expect("verify");
    assert!(!report.is_ok());
    // The two logs' origins differ, and that is what it says.
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.file == "evidence log" && p.message.contains("the bundle is of the log")),
        "{report}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("list").flatten() {
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), target).expect("copy");
        }
    }
}

#[test]
fn show_text_has_titles_outcomes_and_both_names() {
    let dir = tempfile::tempdir().expect("dir");
    let store = fixed_log(dir.path());
    let row = store.find_run("01a20000").expect("nasty run");
    let events = store.events(row.id).expect("events");
    let mut catalog = Catalog::new();
    let p = catalog.get(&store, &row.procedure_sha256).expect("catalog");
    let text = crate::report::runs::show_text(&row, &events, p, false);
    assert!(
        text.contains("▶ Check <img src=x onerror=alert(1)> (check)"),
        "{text}"
    );
    assert!(
        text.contains("Ran `printf '=cmd|calc'`: exit 0 after 12 ms"),
        "{text}"
    );
    assert!(
        text.contains("│ \\u{1b}[2J<script>"),
        "output shown, escapes visible: {text}"
    );
    assert!(text.contains("Answered YES: Is it =1+1?"), "{text}");
    assert!(
        text.contains("Recorded @SUM(A1:A9): =cmd|'/c calc'!A1"),
        "{text}"
    );
    assert!(
        text.contains("Signed off by +Eve \"the second\" <eve@example.com> — typed name, unauthenticated (second person; recorded by =Ops <Team> (ops))"),
        "{text}"
    );
    assert!(text.contains("SKIPPED — justification:"), "{text}");
    assert!(
        text.contains("COMPLETED · 1 deviation (1 skipped"),
        "{text}"
    );
    assert!(
        !text.contains('\x1b') && !text.contains('\u{9b}'),
        "raw escapes: {text:?}"
    );
}

// ------------------------------------------------------------------ memory

/// Peak resident set size of this process, in KiB (Linux).
fn vm_hwm_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Runs in a child process (see `peak_rss_of_export`): export the log named by
/// the environment and print this process's peak RSS. A no-op otherwise.
#[test]
#[ignore = "run by peak_rss_of_export in a child process"]
fn memory_child() {
    let Ok(db) = std::env::var("RUNSHEET_TEST_EXPORT_DB") else {
        return;
    };
    let out = PathBuf::from(std::env::var("RUNSHEET_TEST_EXPORT_OUT").expect("out"));
    let mut store = Store::open_existing(Path::new(&db)).expect("log");
    let started = std::time::Instant::now();
    let s = export(&mut store, &request(out)).expect("export");
    println!(
        "EXPORT events={} runs={} ms={} vmhwm_kib={}",
        s.events,
        s.runs,
        started.elapsed().as_millis(),
        vm_hwm_kib().unwrap_or(0)
    );
}

/// Export `db` in a child process; returns (events, milliseconds, peak RSS KiB).
fn peak_rss_of_export(db: &Path, out: &Path) -> (u64, u64, u64) {
    let exe = std::env::current_exe().expect("test binary");
    let output = std::process::Command::new(exe)
        .args([
            "export::tests::memory_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RUNSHEET_TEST_EXPORT_DB", db)
        .env("RUNSHEET_TEST_EXPORT_OUT", out)
        .output()
        .expect("child");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed: {text}");
    let line = text
        .lines()
        .find_map(|l| l.find("EXPORT ").map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("no report from the child: {text}"));
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .expect("field")
    };
    (field("events="), field("ms="), field("vmhwm_kib="))
}

fn generated_log(dir: &Path, runs: u64, events_per_run: u64) -> PathBuf {
    let path = dir.join(format!("log-{runs}.sqlite3"));
    let mut store = new_log(&path, now(), 5).expect("store");
    generate(
        &mut store,
        &GenerateOptions {
            runs,
            events_per_run,
            days: 60,
            now: now(),
            seed: 5,
        },
    )
    .expect("generate");
    path
}

/// Exporting twice the events costs about the same memory: the writers
/// stream. Both logs are large enough to fill SQLite's page caches (a few
/// MiB, bounded), so what is left to grow is what would grow with the log.
/// (Only Linux has /proc/self/status.)
#[test]
fn export_memory_does_not_grow_with_the_log() {
    if vm_hwm_kib().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let small = generated_log(dir.path(), 480, 20);
    let large = generated_log(dir.path(), 960, 20);
    let (e_small, _, kib_small) = peak_rss_of_export(&small, &dir.path().join("b-small"));
    let (e_large, _, kib_large) = peak_rss_of_export(&large, &dir.path().join("b-large"));
    assert!(e_large >= 2 * e_small - 40, "{e_small} vs {e_large} events");
    let bundle_kib =
        dir_size(&dir.path().join("b-large")) / 1024 - dir_size(&dir.path().join("b-small")) / 1024;
    let growth = kib_large.saturating_sub(kib_small);
    println!(
        "export peak RSS: {e_small} events {kib_small} KiB, {e_large} events {kib_large} KiB; bundle {bundle_kib} KiB"
    );
    // The larger bundle is several MiB more; memory stays where it was (the
    // queues hold a few runs, SQLite's page caches are capped).
    assert!(
        growth < bundle_kib / 4,
        "peak RSS grew by {growth} KiB for {bundle_kib} KiB more bundle"
    );
}

fn dir_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .expect("list")
        .flatten()
        .map(|e| {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                dir_size(&e.path())
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

/// The documented 100k-event figure:
/// `cargo test --release --lib export::tests::export_memory_100k -- --ignored --nocapture`
#[test]
#[ignore = "slow: generates a 100k-event log; run in release to get the documented figures"]
fn export_memory_100k() {
    let dir = tempfile::tempdir().expect("dir");
    let db = generated_log(dir.path(), 5000, 20);
    let (events, ms, kib) = peak_rss_of_export(&db, &dir.path().join("bundle"));
    let bundle_kib = dir_size(&dir.path().join("bundle")) / 1024;
    println!(
        "100k: exported {events} events in {ms} ms, peak RSS {kib} KiB, bundle {bundle_kib} KiB"
    );
    assert!(events >= 100_000);
}

#[test]
fn controls_are_in_natural_order_in_every_report() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = new_log(&dir.path().join("log.sqlite3"), now(), 11).expect("store");
    let text = NASTY.replace(
        r#"controls = ["A.5.37", "<b>A.8.13</b>"]"#,
        r#"controls = ["A.8.13", "A.5.15", "A.8.2", "A.5.3"]"#,
    );
    assert_ne!(text, NASTY);
    record_run(
        &mut store,
        &text,
        Uuid::parse_str("01a20000-0000-7000-8000-000000000002").expect("uuid"),
        t("2026-11-28T22:00:00Z"),
        &[],
    );
    let out = dir.path().join("bundle");
    export(&mut store, &request(out.clone())).expect("export");
    let natural = ["A.5.3", "A.5.15", "A.8.2", "A.8.13"];
    for file in ["report.html", "report.md"] {
        let report = read(&out, file);
        // The run's own list of controls.
        assert!(
            report.contains(&natural.join(", ")),
            "{file}: the run's controls are not A.5.3, A.5.15, A.8.2, A.8.13"
        );
        // The summary by control: each row's first appearance, in order.
        let at: Vec<usize> = natural
            .iter()
            .map(|c| {
                let cell = if file == "report.html" {
                    format!("<tr><td>{c}</td>")
                } else {
                    format!("| {c} |")
                };
                report
                    .find(&cell)
                    .unwrap_or_else(|| panic!("{file}: no row {c}"))
            })
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{file}: {at:?}");
    }
}

#[test]
fn oscal_file_is_byte_identical_for_the_same_log_and_export_time() {
    let export_of = |dir: &Path| {
        let mut store = fixed_log(dir);
        let out = dir.join("bundle");
        export(&mut store, &request(out.clone())).expect("export");
        fs::read(out.join(oscal::FILE)).expect("oscal file")
    };
    let (a, b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (x, y) = (export_of(a.path()), export_of(b.path()));
    assert!(!x.is_empty());
    assert!(
        x == y,
        "two exports of the same log at the same time differ"
    );
    // Another export time: another document (its uuid and times), the same observations.
    let c = tempfile::tempdir().expect("dir");
    let mut store = fixed_log(c.path());
    let mut req = request(c.path().join("bundle"));
    req.now = now() + Duration::seconds(1);
    export(&mut store, &req).expect("export");
    let z = fs::read(c.path().join("bundle").join(oscal::FILE)).expect("oscal file");
    assert_ne!(x, z);
    let observations = |bytes: &[u8]| {
        let v: serde_json::Value = serde_json::from_slice(bytes).expect("json");
        v["assessment-results"]["results"][0]["observations"].clone()
    };
    assert_eq!(observations(&x), observations(&z));
}

#[test]
fn oscal_can_be_left_out_and_then_nothing_of_it_is_written() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = fixed_log(dir.path());
    let out = dir.path().join("bundle");
    let mut req = request(out.clone());
    req.formats.oscal = false;
    let summary = export(&mut store, &req).expect("export");
    assert!(!out.join("oscal").exists());
    assert!(!out.join(".oscal.related").exists());
    assert!(summary.files.iter().all(|f| !f.path.starts_with("oscal/")));
}

#[test]
fn oscal_of_an_export_with_no_run_reviews_the_filters_control_and_finds_it_not_satisfied() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = fixed_log(dir.path());
    let out = dir.path().join("bundle");
    let mut req = request(out.clone());
    req.query.until = NaiveDate::from_ymd_opt(2020, 1, 1);
    req.query.control = Some("A.8.13".into());
    let summary = export(&mut store, &req).expect("export");
    assert_eq!(summary.runs, 0);
    let v: serde_json::Value = serde_json::from_str(&read(&out, oscal::FILE)).expect("JSON");
    let r = &v["assessment-results"]["results"][0];
    assert!(
        r.get("observations").is_none(),
        "OSCAL forbids an empty list"
    );
    assert_eq!(r["start"], "2020-01-01T23:59:59.999Z");
    assert_eq!(r["end"], r["start"]);
    let f = &r["findings"][0];
    assert_eq!(f["target"]["target-id"], "A.8.13");
    assert_eq!(f["target"]["status"]["state"], "not-satisfied");
    assert!(f.get("related-observations").is_none());
}
