//! Injection corpus through the real binary: terminal escape sequences, HTML/JS,
//! CSV formulas, very long lines, NUL and invalid UTF-8 in procedure files,
//! notes, values and command output. Plain output must stay inert (no escape or
//! other control byte reaches stdout), HTML must stay inert, broken files must
//! be refused with a message, never a panic.
//! (The full-screen runner's side is in src/tui/injection_tests.rs.)

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use crate::common::{runsheet, stderr, stdout};

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

/// Bytes that must never reach a terminal from runsheet's own output.
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
            .filter(|(_, c)| (0x80..0xa0).contains(&(*c as u32)))
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

/// `--json` output is data: JSON escapes C0 controls (so no ESC byte), but
/// C1 characters and DEL are legal unescaped JSON string content.
fn assert_json_inert(what: &str, out: &std::process::Output) {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "{what}: {err}");
    let c0: Vec<u8> = out
        .stdout
        .iter()
        .copied()
        .filter(|&b| b < 0x20 && b != b'\n')
        .collect();
    assert_eq!(c0, Vec::<u8>::new(), "{what}: {}", stdout(out));
    serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("valid JSON");
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
    let out = runsheet(&db)
        .arg("--procedures")
        .arg(dir.path())
        .arg("list")
        .output()
        .unwrap();
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
    let mut child = runsheet(&db)
        .arg("run")
        .arg("--plain")
        .arg(&file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Written on a thread: the output (the long body) fills the pipe meanwhile.
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(10), "{text}");
    assert_inert("run --plain", &out);
    assert!(
        text.contains("\\u{1b}"),
        "escapes are shown visibly: {text}"
    );
    assert!(text.contains("out"), "command output is shown: {text}");
    assert_eq!(text.matches("✔ recorded").count(), 7, "{text}");
    let run_id = text
        .lines()
        .find_map(|l| l.trim().rsplit_once("— run ").map(|(_, id)| id.to_string()))
        .unwrap();

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
