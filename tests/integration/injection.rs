//! Injection corpus through the real binary: terminal escape sequences, HTML/JS,
//! CSV formulas, bidi overrides, very long lines, NUL and invalid UTF-8 in
//! procedure files (their names too), notes, values, command output and a
//! tampered log. Output must stay inert (no escape or other control byte and no
//! bidi override reaches stdout or stderr, `--json` included), HTML must stay
//! inert, broken files must be refused with a message, never a panic.
//! (The full-screen runner's side is in src/tui/injection_tests.rs.)

use std::path::Path;
use std::process::Stdio;

use crate::common::{plain_run, printed_run_id, repo, runsheet, runsheet_with, stderr, stdout};

/// Hostile text, as a TOML basic string body (escapes spelled out).
const HOSTILE_TOML: &str = r#"\u001b]0;pwned\u0007\u001b[2J\u001b[31mred\u0000nul\u009b31m <script>alert(1)</script> =HYPERLINK(\"http://x\") @SUM(1) \u202eevil"#;

fn procedure(long: &str) -> String {
    format!(
        r#"id = "hostile"
title = "T {h}"
version = "1 {h}"
owner = "O {h}"
approver = "CISO"
approved = 2026-10-01
review_every_months = 12
purpose = "P {h}"
cadence = "daily"
controls = ["A.5.37"]
default_escalation = "esc"
[[roles]]
id = "op"
title = "R {h}"
[[steps]]
id = "note"
title = "N {h}"
body = "B {h} {long}"
role = "op"
note = "Q {h}"
[[steps]]
id = "value"
title = "V {h}"
value = {{ type = "text", label = "L {h}", hint = "H {h}" }}
[[steps]]
id = "cmd"
title = "C {h}"
command = {{ run = "printf '\\033[2J\\033]0;pwned\\007 out \\000 \\233 \\377\\n'; echo '=cmd|calc'" }}
[[branches]]
id = "esc"
title = "E {h}"
contact = "K {h}"
then = "retry"
[[branches.steps]]
id = "call"
title = "Call {h}"
"#,
        h = HOSTILE_TOML
    )
}

/// Bidi embeddings, overrides and isolates: they reorder the text shown around them.
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Bytes that must never reach a terminal from runsheet's own output (a C1
/// control or a bidi character by its code point's low byte).
fn controls(bytes: &[u8]) -> Vec<(usize, u8)> {
    let text = String::from_utf8_lossy(bytes);
    let mut found: Vec<(usize, u8)> = bytes
        .iter()
        .enumerate()
        .filter(|&(_, &b)| (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f)
        .map(|(i, &b)| (i, b))
        .collect();
    // C1 controls arrive UTF-8 encoded (U+0080..U+009F).
    found.extend(
        text.char_indices()
            .filter(|(_, c)| (0x80..0xa0).contains(&(*c as u32)) || is_bidi(*c))
            .map(|(i, c)| (i, c as u32 as u8)),
    );
    found
}

fn assert_inert(what: &str, out: &std::process::Output) {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert_eq!(controls(&out.stdout), vec![], "{what}: {}", stdout(out));
    assert_eq!(controls(&out.stderr), vec![], "{what} (stderr): {err}");
}

/// `--json` output is data, but it is read on terminals too: every control
/// character (C0, DEL, C1) and bidi character is written as a `\uXXXX`
/// escape, so it is as inert as text output, and it is valid JSON.
fn assert_json_inert(what: &str, out: &std::process::Output) -> serde_json::Value {
    assert_inert(what, out);
    assert!(
        !out.stdout.contains(&b'\t'),
        "{what}: a raw tab: {}",
        stdout(out)
    );
    serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("valid JSON")
}

#[test]
fn hostile_procedure_notes_values_and_output_stay_inert_in_plain_mode() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let file = dir.path().join("hostile.toml");
    let long = "y".repeat(200_000);
    std::fs::write(&file, procedure(&long)).unwrap();

    for args in [
        vec!["lint", file.to_str().unwrap()],
        vec!["render", "--format", "markdown", file.to_str().unwrap()],
        vec!["render", "--format", "mermaid", file.to_str().unwrap()],
    ] {
        let out = runsheet(&db).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_inert(&format!("{args:?}"), &out);
    }
    let out = runsheet(&db)
        .args(["render", "--format", "html", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = stdout(&out);
    assert!(!html.contains("<script"), "live script in the HTML");
    assert!(
        html.contains("&lt;script&gt;"),
        "escaped script shown as text"
    );
    assert_inert("render html", &out);
    let out = runsheet_with(&db, dir.path()).arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("hostile"), "{}", stdout(&out));
    assert_inert("list", &out);

    // A run: notes, values, evidence and command output with escapes, NUL,
    // invalid UTF-8, CSV formulas and a very long line, typed on stdin.
    let mut input: Vec<u8> = Vec::new();
    input
        .extend_from_slice(b"a\n\x1b]0;pwned\x07\x1b[2J note \x00 \xff\xfe =SUM(A1) \xc2\x9b31m\n");
    input.extend_from_slice(b"a\n");
    input.extend_from_slice(&vec![b'z'; 100_000]);
    input.extend_from_slice(b"\n\n");
    input.extend_from_slice(b"\n\x1b[31m<img src=x onerror=alert(1)> \x00\n");
    input.extend_from_slice(b"r\ny\n");
    input.extend_from_slice(b"q\n");
    // The output (the long body) fills its pipe while this is still being written.
    let out = plain_run(&db, &file, &input);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(10), "{text}");
    assert_inert("run --plain", &out);
    assert!(
        text.contains("\\u{1b}"),
        "escapes are shown visibly: {text}"
    );
    assert!(text.contains("out"), "command output is shown: {text}");
    assert_eq!(text.matches("✔ recorded").count(), 7, "{text}");
    let run_id = printed_run_id(&text).unwrap();

    for args in [
        vec!["show", run_id.as_str()],
        vec!["--json", "show", run_id.as_str()],
        vec!["runs"],
        vec!["--json", "runs"],
        vec!["verify"],
    ] {
        let out = runsheet(&db).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        if args[0] == "--json" {
            assert_json_inert(&format!("{args:?}"), &out);
        } else {
            assert_inert(&format!("{args:?}"), &out);
        }
    }
    // Resume prints the hostile step again: still inert.
    let out = runsheet(&db)
        .args(["resume", "--plain", &run_id])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", stdout(&out));
    assert_inert("resume", &out);
}

fn refused(db: &Path, file: &Path, what: &str) {
    for args in [vec!["lint"], vec!["run", "--plain"], vec!["render"]] {
        let out = runsheet(db)
            .args(&args)
            .arg(file)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let code = out.status.code();
        assert!(
            code == Some(1) || code == Some(3),
            "{what} {args:?}: exit {code:?}: {}",
            stderr(&out)
        );
        assert_inert(&format!("{what} {args:?}"), &out);
        let said = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            said.contains("hostile.toml"),
            "{what} {args:?}: the message names the file: {said}"
        );
    }
    assert!(!db.exists(), "{what}: no run was started");
}

#[test]
fn nul_and_invalid_utf8_in_procedure_files_are_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let file = dir.path().join("hostile.toml");
    let good = procedure("");
    // Raw NUL and ESC bytes inside a string (TOML forbids raw control characters).
    std::fs::write(&file, good.replacen("T ", "T \u{0}\u{1b}[2J", 1)).unwrap();
    refused(&db, &file, "raw NUL/ESC");
    // Invalid UTF-8.
    let mut bytes = good.into_bytes();
    bytes.splice(20..20, [0xff, 0xfe, 0x1b, b'[', b'2', b'J']);
    std::fs::write(&file, bytes).unwrap();
    refused(&db, &file, "invalid UTF-8");
}

/// Terminal attacks as a TOML basic string body: OSC 52 (write the clipboard),
/// OSC 0 (set the title), CSI, C1 controls and every bidi override and isolate.
const ATTACK_TOML: &str = r"\u001b]52;c;cHduZWQ=\u0007\u001b]0;pwned\u0007\u001b[2J\u009b31m\u0085\u202egnp.exe\u2066\u2069\u202a\u202b\u202c\u202d\u2067\u2068";
/// The same text, raw: for file names and the log.
const ATTACK: &str = "\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{85}\u{202e}gnp.exe\u{2066}\u{2069}\u{202a}\u{202b}\u{202c}\u{202d}\u{2067}\u{2068}";
/// How the start of it shows once made visible.
const SHOWN: &str = r"\u{1b}]52;c;cHduZWQ=\u{07}\u{1b}]0;pwned\u{07}";

/// A procedure that parses, with the attack in its id, title, version, owner,
/// approver, a control and a step's role; its review is long overdue.
fn attack_procedure() -> String {
    format!(
        r#"id = "x{h}"
title = "T{h}"
version = "1{h}"
owner = "O{h}"
approver = "A{h}"
approved = 2020-01-01
review_every_months = 12
purpose = "P"
cadence = "daily"
controls = ["A.5.37{h}"]
[[roles]]
id = "op"
title = "Operator"
[[steps]]
id = "one"
title = "S"
role = "r{h}"
"#,
        h = ATTACK_TOML
    )
}

/// Every string in a JSON value.
fn json_strings(v: &serde_json::Value, found: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => found.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_strings(x, found)),
        serde_json::Value::Object(o) => o.values().for_each(|x| json_strings(x, found)),
        _ => {}
    }
}

/// Run `args` (with the procedures in `procedures`); the output is inert
/// (text or JSON) and still says what was there: the attack made visible in
/// text (letter case aside: `show` shouts the outcome), kept as data in JSON.
fn assert_inert_and_shown(db: &Path, procedures: &Path, args: &[&str], code: i32) {
    let out = runsheet_with(db, procedures).args(args).output().unwrap();
    let what = format!("{args:?}");
    assert_eq!(out.status.code(), Some(code), "{what}: {}", stderr(&out));
    if args.contains(&"--json") {
        let v = assert_json_inert(&what, &out);
        let mut strings = Vec::new();
        json_strings(&v, &mut strings);
        assert!(
            strings.iter().any(|s| s.contains(ATTACK)),
            "{what}: the JSON keeps the text as data: {}",
            stdout(&out)
        );
    } else {
        assert_inert(&what, &out);
        let said = format!("{}{}", stdout(&out), stderr(&out)).to_lowercase();
        assert!(
            said.contains(&SHOWN.to_lowercase()) && said.contains(r"\u{202e}gnp.exe\u{2066}"),
            "{what}: the attack is shown as escapes: {said}"
        );
    }
}

#[test]
fn hostile_file_names_ids_keys_and_dates_stay_inert_in_lint_list_status_render_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let procs = dir.path().join("procedures");
    std::fs::create_dir(&procs).unwrap();
    let good = attack_procedure();
    // One file that parses (its fields reach list and status), and three that
    // do not: a hostile cadence, an unknown hostile key, a hostile date. Every
    // file name carries the attack too.
    let files = [
        ("ok", good.clone()),
        (
            "cadence",
            good.replace(
                r#"cadence = "daily""#,
                &format!(r#"cadence = "d{ATTACK_TOML}""#),
            ),
        ),
        (
            "key",
            good.replace(
                r#"purpose = "P""#,
                &format!("purpose = \"P\"\n\"k{ATTACK_TOML}\" = 1"),
            ),
        ),
        (
            "date",
            good.replace(
                "approved = 2020-01-01",
                &format!(r#"approved = "{ATTACK_TOML}""#),
            ),
        ),
    ];
    for (name, text) in &files {
        std::fs::write(procs.join(format!("{name}-{ATTACK}.toml")), text).unwrap();
    }
    for (args, code) in [
        (vec!["lint"], 1),
        (vec!["--json", "lint"], 1),
        (vec!["list"], 3),
        (vec!["--json", "list"], 3),
        (vec!["status"], 0),
        (vec!["--json", "status"], 0),
        (vec!["status", "--strict"], 1),
    ] {
        assert_inert_and_shown(&db, &procs, &args, code);
    }
    // `render` and `run` refuse them, saying why on stderr.
    let path = |name: &str| {
        procs
            .join(format!("{name}-{ATTACK}.toml"))
            .to_str()
            .unwrap()
            .to_string()
    };
    for name in ["ok", "cadence", "key", "date"] {
        assert_inert_and_shown(&db, &procs, &["render", &path(name)], 3);
        assert_inert_and_shown(&db, &procs, &["run", "--plain", &path(name)], 3);
    }
    assert!(!db.exists(), "no run was started");
    // The broken files are named on stderr, visibly.
    let out = runsheet_with(&db, &procs).arg("list").output().unwrap();
    assert!(
        stderr(&out).contains(&format!("cadence-{SHOWN}")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_tampered_log_with_a_hostile_outcome_and_actor_stays_inert() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    crate::common::drill_run(&db);
    let conn = crate::tamper::attacker(&db);
    conn.execute("UPDATE runs SET outcome = ?1", [ATTACK])
        .unwrap();
    conn.execute(
        "UPDATE events SET actor = ?1 WHERE seq = (SELECT min(seq) FROM events)",
        [ATTACK],
    )
    .unwrap();
    let run_id: String = conn
        .query_row("SELECT id FROM runs", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    let procedures = repo().join("tests/fixtures/run");
    for (args, code) in [
        (vec!["runs"], 0),
        (vec!["--json", "runs"], 0),
        (vec!["show", &run_id], 0),
        (vec!["--json", "show", &run_id], 0),
        (vec!["status"], 0),
        (vec!["--json", "status"], 0),
    ] {
        assert_inert_and_shown(&db, &procedures, &args, code);
    }
    // The edit breaks the chain: verify says so, inertly.
    for args in [vec!["verify"], vec!["--json", "verify"]] {
        let out = runsheet(&db).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stdout(&out));
        assert_inert(&format!("{args:?}"), &out);
    }
}

#[test]
fn a_usage_error_quoting_a_hostile_argument_stays_inert() {
    // clap quotes the argument (here one a shell glob could produce from a file name).
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    // No `=`: after one, clap takes the rest as the flag's value.
    let attack = "\u{1b}]0;pwned\u{7}\u{9b}31m\u{202e}gnp.exe\u{2066}";
    for args in [
        vec![format!("--{attack}")],
        vec!["lint".to_string(), format!("--{attack}")],
        vec!["completions".to_string(), attack.to_string()],
    ] {
        let out = runsheet(&db).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_inert(&format!("{args:?}"), &out);
        assert!(
            stderr(&out).contains(r"\u{202e}gnp.exe"),
            "{}",
            stderr(&out)
        );
    }
}
