//! The one path from a command to standard output and standard error, and the
//! panic hook: what reaches the user's terminal from here is inert, a closed
//! stdout ends the output quietly, and a panic is one line and exit 70
//! (docs/exit-codes.md).
//!
//! - [`line`] (the [`outln!`] macro) and [`text`] sanitize with
//!   [`crate::text::sanitize_terminal`]: for everything a command writes,
//!   messages built from file names, procedure or log text and arguments,
//!   reports, rendered documents and JSON (already inert: a no-op there).
//! - [`rendered`] writes as given, for text that carries runsheet's own colour
//!   codes: the tables and timelines (`list`, `runs`, `show`, `status`), whose
//!   renderers sanitize every field they take from a file or the log.
//!   [`bytes`] is for runsheet's own text (man page, completions).
//! - A closed stdout (`EPIPE`, e.g. `runsheet runs | head -1`) is not an error:
//!   the rest of the output is dropped and the command carries on to the exit
//!   code it decides. Any other write error is [`Error::Io`] on `<stdout>`.
//! - Standard error ([`error_line`], the [`errln!`] macro) is always sanitized;
//!   a failure to write it is ignored (there is nowhere left to report it).
//!
//! May not depend on anything but `text` and `error`.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result, exit_code};
use crate::text::{control_at, sanitize_line, sanitize_terminal};

/// Set once a write to stdout found it closed; later writes are dropped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Standard output that treats a closed pipe as the end of the output: the
/// write that finds it closed, and every later one, succeed without writing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stdout;

impl Stdout {
    fn guard<T>(done: T, result: io::Result<T>) -> io::Result<T> {
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
                Ok(done)
            }
            r => r,
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        Stdout::guard(buf.len(), io::stdout().write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return Ok(());
        }
        Stdout::guard((), io::stdout().flush())
    }
}

/// True once stdout was found closed.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Write bytes to stdout as they are, flushed.
pub fn bytes(b: &[u8]) -> Result<()> {
    let mut out = Stdout;
    out.write_all(b)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("<stdout>", &e))
}

/// Write text that is already safe for a terminal (see the module docs).
pub fn rendered(s: &str) -> Result<()> {
    bytes(s.as_bytes())
}

/// Write text with control characters made visible (newlines and tabs kept).
pub fn text(s: &str) -> Result<()> {
    rendered(&sanitize_terminal(s))
}

/// [`text`] and a newline.
pub fn line(s: &str) -> Result<()> {
    let mut t = sanitize_terminal(s);
    t.push('\n');
    rendered(&t)
}

/// One sanitized message and a newline on stderr; write errors are ignored.
pub fn error_line(s: &str) {
    let mut t = sanitize_terminal(s);
    t.push('\n');
    let mut err = io::stderr().lock();
    let _ = err.write_all(t.as_bytes()).and_then(|()| err.flush());
}

/// Text already safe for a terminal (see the module docs) and a newline on
/// stderr; write errors are ignored.
pub fn error_rendered(s: &str) {
    let mut err = io::stderr().lock();
    let _ = err
        .write_all(s.as_bytes())
        .and_then(|()| err.write_all(b"\n"))
        .and_then(|()| err.flush());
}

/// `println!` for commands: formats, sanitizes ([`line`]) and writes to stdout.
/// Evaluates to `crate::error::Result<()>`.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::out::line(&::std::format!($($arg)*))
    };
}

/// `eprintln!` for commands: formats, sanitizes ([`error_line`]) and writes to stderr.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::out::error_line(&::std::format!($($arg)*))
    };
}

/// Pretty JSON for a terminal. serde_json escapes C0 controls, `"` and `\`;
/// this also escapes DEL, C1 controls and bidi overrides and isolates (see
/// [`control_at`]) as `\uXXXX`, which is the same JSON value.
pub fn json(v: &serde_json::Value) -> String {
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    escape_json_controls(&text)
}

/// The version of the schema of every `--json` output (docs/json.md): it
/// changes only when a member changes meaning or is removed; new members may
/// appear in the same version.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// A command's `--json` output: `value` (an object) with
/// `"schema_version"` as its first member. A value that is not an object
/// is returned as it is.
pub fn versioned(value: &impl serde::Serialize) -> serde_json::Value {
    let body = serde_json::to_value(value).unwrap_or_default();
    match body {
        serde_json::Value::Object(members) => {
            let mut out = serde_json::Map::with_capacity(members.len() + 1);
            out.insert(
                "schema_version".to_string(),
                serde_json::Value::from(JSON_SCHEMA_VERSION),
            );
            out.extend(members.into_iter().filter(|(k, _)| k != "schema_version"));
            serde_json::Value::Object(out)
        }
        other => other,
    }
}

/// Escape, in serialized JSON, the control characters serde_json leaves as
/// they are. They can only be inside strings (JSON's own syntax is ASCII), so
/// `\uXXXX` there keeps the document valid and its values the same.
pub fn escape_json_controls(json: &str) -> String {
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match control_at(bytes, i) {
            Some((c, width)) => {
                out.push_str(&json[start..i]);
                out.push_str(&format!("\\u{c:04x}"));
                i += width;
                start = i;
            }
            None => i += 1,
        }
    }
    out.push_str(&json[start..]);
    out
}

/// Install the panic hook: one sanitized line on stderr, no backtrace (even
/// with `RUST_BACKTRACE` set), then exit with the code of [`Error::Internal`]
/// (70, from [`exit_code`]). Call it
/// first in `main`, so the full-screen runner's hook (`ratatui::try_init`,
/// which restores the terminal and then calls the hook it found) runs it
/// after the terminal is restored. A panic on any thread ends the process.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        error_line(&sanitize_line(&format!(
            "runsheet: internal error (a bug in runsheet, please report it): {message}{at}"
        )));
        std::process::exit(exit_code(&Err(Error::Internal(message.to_string()))));
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_its_values_and_shows_no_control_character() {
        let s = "esc \u{1b}]52;c;eA==\u{7} del \u{7f} csi \u{9b} rlo \u{202e} pdi \u{2069} — ✓";
        let v = serde_json::json!({ s: [s, 1, null] });
        let text = json(&v);
        let shown = |c: char| {
            c == '\n'
                || (!c.is_control()
                    && !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        };
        assert!(text.chars().all(shown), "{text:?}");
        assert!(
            text.contains(r"del \u007f csi \u009b rlo \u202e pdi \u2069 — ✓"),
            "{text}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(back, v);
    }
}
