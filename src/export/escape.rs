//! Untrusted text written straight into a bundle file, escaped for its format
//! (HTML, Markdown, CSV, JSON) with control characters made visible — one
//! table-driven byte scan per text and no intermediate strings, because the
//! exports write every stored text this way.
//!
//! May not depend on anything but `text`.

use std::io::{self, Write};

use crate::text::{control_at, control_text};

/// A byte the scan copies as it is.
const PLAIN: u8 = 0;
/// A byte that may start a control character (see [`control_at`]).
const MAYBE_CONTROL: u8 = 1;
/// A byte the format replaces.
const SPECIAL: u8 = 2;

/// The bytes to look at in one format: controls, and `specials`.
const fn table(specials: &[u8]) -> [u8; 256] {
    let mut t = [PLAIN; 256];
    let mut b = 0;
    while b < 0x20 {
        if b != b'\n' as usize && b != b'\t' as usize {
            t[b] = MAYBE_CONTROL;
        }
        b += 1;
    }
    t[0x7f] = MAYBE_CONTROL;
    // C1 controls start with C2, bidi overrides and isolates with E2.
    t[0xc2] = MAYBE_CONTROL;
    t[0xe2] = MAYBE_CONTROL;
    let mut i = 0;
    while i < specials.len() {
        t[specials[i] as usize] = SPECIAL;
        i += 1;
    }
    t
}

/// Write `s`: plain bytes as they are, specials as `special` says, control
/// characters as `\u{..}` after `before_control`.
#[inline]
fn escape_with(
    w: &mut impl Write,
    s: &str,
    t: &[u8; 256],
    special: impl Fn(u8) -> &'static str,
    before_control: &str,
) -> io::Result<()> {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match t[usize::from(bytes[i])] {
            PLAIN => i += 1,
            SPECIAL => {
                w.write_all(&bytes[start..i])?;
                w.write_all(special(bytes[i]).as_bytes())?;
                i += 1;
                start = i;
            }
            _ => match control_at(bytes, i) {
                Some((code, width)) => {
                    w.write_all(&bytes[start..i])?;
                    w.write_all(before_control.as_bytes())?;
                    w.write_all(control_text(code).as_bytes())?;
                    i += width;
                    start = i;
                }
                None => i += 1,
            },
        }
    }
    w.write_all(&bytes[start..])
}

/// True when every byte of `s` is printable ASCII (space to `~`) and none is
/// in `specials`: text any format can take as it is (every control character,
/// bidi overrides included, has a byte outside that range). Written as one
/// fold without early exit, so the compiler checks many bytes per instruction.
#[inline]
fn printable_except(s: &[u8], specials: &[u8]) -> bool {
    s.iter().fold(true, |ok, &b| {
        ok & (0x20..0x7f).contains(&b) & specials.iter().fold(true, |ok, &x| ok & (b != x))
    })
}

const HTML: [u8; 256] = table(b"&<>\"'");

/// HTML element content or a quoted attribute value: control characters
/// visible, `& < > " '` as entities.
pub fn html(w: &mut impl Write, s: &str) -> io::Result<()> {
    if printable_except(s.as_bytes(), b"&<>\"'") {
        return w.write_all(s.as_bytes());
    }
    escape_with(
        w,
        s,
        &HTML,
        |b| match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&#39;",
        },
        "",
    )
}

const MARKDOWN: [u8; 256] = table(b"\n\t\\`*_[]<>|#~!&");

/// One Markdown table cell or heading: control characters visible, every
/// character that could start markup backslash-escaped, tabs as spaces, line
/// breaks as `<br>` (a final line break dropped).
pub fn md(w: &mut impl Write, s: &str) -> io::Result<()> {
    let body = s.strip_suffix('\n').unwrap_or(s);
    if printable_except(body.as_bytes(), b"\\`*_[]<>|#~!&") {
        return w.write_all(body.as_bytes());
    }
    escape_with(
        w,
        body,
        &MARKDOWN,
        |b| match b {
            b'\n' => "<br>",
            b'\t' => " ",
            b'\\' => "\\\\",
            b'`' => "\\`",
            b'*' => "\\*",
            b'_' => "\\_",
            b'[' => "\\[",
            b']' => "\\]",
            b'<' => "\\<",
            b'>' => "\\>",
            b'|' => "\\|",
            b'#' => "\\#",
            b'~' => "\\~",
            b'!' => "\\!",
            _ => "\\&",
        },
        // The escape's backslash is escaped like any other.
        "\\",
    )
}

const CSV: [u8; 256] = table(b"\"");

/// One CSV text field (RFC 4180), always quoted (quotes doubled): a
/// leading `=`, `+`, `-`, `@`, tab or CR gets a `'` in front so a spreadsheet
/// shows it rather than runs it; control characters visible. Always quoted,
/// so that a reader told to take quoted fields as text (LibreOffice's
/// "Format quoted field as text") keeps `1.0`, `0042` and hashes as text,
/// while the value a CSV reader gets is the same (docs/audit-bundle.md).
pub fn csv(w: &mut impl Write, s: &str) -> io::Result<()> {
    let risky = matches!(
        s.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    );
    w.write_all(b"\"")?;
    if risky {
        w.write_all(b"'")?;
    }
    if printable_except(s.as_bytes(), b"\"") {
        // Ids, hashes, times and most text: nothing to do.
        w.write_all(s.as_bytes())?;
    } else {
        escape_with(w, s, &CSV, |_| "\"\"", "")?;
    }
    w.write_all(b"\"")
}

/// Bytes JSON needs escaped: every C0 control, `"` and `\`.
const JSON: [u8; 256] = {
    let mut t = [PLAIN; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = SPECIAL;
        b += 1;
    }
    t[b'"' as usize] = SPECIAL;
    t[b'\\' as usize] = SPECIAL;
    t
};

/// A JSON string, escaped as serde_json does (short escapes where JSON has
/// them, `\u00xx` for other controls; everything else as it is).
pub fn json(w: &mut impl Write, s: &str) -> io::Result<()> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    w.write_all(b"\"")?;
    if printable_except(bytes, b"\"\\") {
        w.write_all(bytes)?;
        return w.write_all(b"\"");
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if JSON[usize::from(b)] == PLAIN {
            continue;
        }
        w.write_all(&bytes[start..i])?;
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            _ => b"",
        };
        if short.is_empty() {
            w.write_all(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ])?;
        } else {
            w.write_all(short)?;
        }
        start = i + 1;
    }
    w.write_all(&bytes[start..])?;
    w.write_all(b"\"")
}

/// Into a `String`, for the few places that build text first.
pub fn to_string(s: &str, f: impl FnOnce(&mut Vec<u8>, &str) -> io::Result<()>) -> String {
    let mut out = Vec::with_capacity(s.len() + 8);
    // Writing into a Vec cannot fail, and every escape keeps UTF-8 whole.
    let _ = f(&mut out, s);
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: fn(&mut Vec<u8>, &str) -> io::Result<()>, s: &str) -> String {
        to_string(s, f)
    }

    #[test]
    fn html_escapes_markup_and_shows_controls() {
        assert_eq!(
            run(html, r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(run(html, "a\x1b[2Jb\u{9b}ü"), "a\\u{1b}[2Jb\\u{9b}ü");
    }

    #[test]
    fn markdown_escapes_markup_and_breaks_lines() {
        assert_eq!(
            run(md, "<script>alert(1)</script> | *x*"),
            "\\<script\\>alert(1)\\</script\\> \\| \\*x\\*"
        );
        assert_eq!(run(md, "a\nb"), "a<br>b");
        assert_eq!(run(md, "a\n"), "a");
        assert_eq!(run(md, "a\n\n"), "a<br>");
        assert_eq!(run(md, "esc \x1b[31m\tx"), "esc \\\\u{1b}\\[31m x");
    }

    #[test]
    fn csv_neutralises_formulas_and_quotes() {
        assert_eq!(run(csv, "=cmd|'/c calc'!A1"), "\"'=cmd|'/c calc'!A1\"");
        assert_eq!(run(csv, "-2,+3"), "\"'-2,+3\"");
        assert_eq!(run(csv, "say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(run(csv, "a\rb"), "\"a\\u{0d}b\"");
        assert_eq!(run(csv, "\rb"), "\"'\\u{0d}b\"");
        assert_eq!(run(csv, "two\nlines"), "\"two\nlines\"");
        assert_eq!(run(csv, "a=b"), "\"a=b\"");
        assert_eq!(run(csv, "=a,b"), "\"'=a,b\"");
        assert_eq!(run(csv, "0123abcdef"), "\"0123abcdef\"");
        assert_eq!(run(csv, "x\u{85}y"), "\"x\\u{85}y\"");
        assert_eq!(run(html, "ok \u{85} <"), "ok \\u{85} &lt;");
        assert_eq!(run(md, "ok\u{7f}"), "ok\\\\u{7f}");
    }

    #[test]
    fn bidi_overrides_are_shown_in_every_format_but_json() {
        let s = "a\u{202e}b\u{2066}c — ok";
        assert_eq!(run(html, s), "a\\u{202e}b\\u{2066}c — ok");
        assert_eq!(run(md, s), "a\\\\u{202e}b\\\\u{2066}c — ok");
        assert_eq!(run(csv, s), "\"a\\u{202e}b\\u{2066}c — ok\"");
        assert_eq!(run(csv, "\u{202e}=1"), "\"\\u{202e}=1\"");
        // JSON is data: the character is kept, as serde_json keeps it.
        assert_eq!(run(json, s), serde_json::to_string(s).unwrap_or_default());
    }

    #[test]
    fn json_strings_match_serde_json() {
        for s in [
            "plain",
            "quote \" backslash \\ slash /",
            "\n\r\t\u{8}\u{c}\u{0}\u{1b}\u{1f}\u{7f}\u{85}",
            "ünïcode ✓ \u{2028}",
            "",
        ] {
            let expected = serde_json::to_string(s).expect("serde_json");
            assert_eq!(run(json, s), expected, "{s:?}");
        }
    }

    /// The straightforward versions the fast ones replace: sanitize, then escape.
    mod reference {
        use crate::text::{escape_html, sanitize_terminal};

        pub fn html(s: &str) -> String {
            escape_html(&sanitize_terminal(s))
        }

        pub fn md(s: &str) -> String {
            let clean = sanitize_terminal(s);
            let mut out = String::new();
            for (i, line) in clean.lines().enumerate() {
                if i > 0 {
                    out.push_str("<br>");
                }
                for c in line.chars() {
                    match c {
                        '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' | '!'
                        | '&' => {
                            out.push('\\');
                            out.push(c);
                        }
                        '\t' => out.push(' '),
                        c => out.push(c),
                    }
                }
            }
            out
        }

        pub fn csv(s: &str) -> String {
            let risky = matches!(s.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r'));
            let clean = sanitize_terminal(s);
            let text = if risky { format!("'{clean}") } else { clean };
            format!("\"{}\"", text.replace('"', "\"\""))
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any text, including controls, C1, markup, quotes and multi-byte
        /// characters: the fast escapers write exactly what the plain ones do.
        #[test]
        fn fast_escaping_equals_the_plain_escaping(
            s in proptest::prop_oneof![
                "[ -~]{0,40}",
                "[a-z'\"&<>|*_#~!`=+@,\\[\\]\\\\-]{0,20}",
                "(\\PC|[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{a0}\"',=+@&<>|*_#~!`\\[\\]\\\\-])*",
                // Bidi overrides and isolates, and the characters that share their lead bytes.
                "([ -~]|[\\u{2000}-\\u{206f}\\u{80}-\\u{9f}])*",
            ]
        ) {
            proptest::prop_assert_eq!(run(html, &s), reference::html(&s));
            proptest::prop_assert_eq!(run(csv, &s), reference::csv(&s));
            proptest::prop_assert_eq!(run(json, &s), serde_json::to_string(&s).unwrap_or_default());
            proptest::prop_assert_eq!(run(md, &s), reference::md(&s));
        }
    }
}
