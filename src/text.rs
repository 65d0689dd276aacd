//! Text hygiene shared by every output: make untrusted text harmless on a terminal.
//!
//! May not depend on any other module of the crate.

pub mod columns;
pub mod natural;

/// A piece of text as [`split_controls`] yields it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'a> {
    /// Text with no control characters (newlines and tabs included).
    Text(&'a str),
    /// One control character (see [`control_at`]), by code point.
    Control(u32),
}

/// The control character that starts at `bytes[i]`, if any: its code point
/// and its length in bytes. Control characters are C0 except newline and tab,
/// DEL, C1, and the Unicode bidirectional embeddings, overrides and isolates
/// U+202A..U+202E and U+2066..U+2069 (which reorder how the text around them
/// is shown: "Trojan Source").
#[inline]
pub fn control_at(bytes: &[u8], i: usize) -> Option<(u32, usize)> {
    match bytes.get(i)? {
        b'\n' | b'\t' => None,
        &b @ (0..=0x1f | 0x7f) => Some((u32::from(b), 1)),
        // C1 controls U+0080..U+009F are the two bytes C2 80..C2 9F in UTF-8.
        0xc2 => match bytes.get(i + 1)? {
            &c @ 0x80..=0x9f => Some((u32::from(c), 2)),
            _ => None,
        },
        // U+202A..U+202E are E2 80 AA..AE; U+2066..U+2069 are E2 81 A6..A9.
        0xe2 => match (*bytes.get(i + 1)?, *bytes.get(i + 2)?) {
            (b1 @ 0x80, c @ 0xaa..=0xae) | (b1 @ 0x81, c @ 0xa6..=0xa9) => Some((
                0x2000 | (u32::from(b1 & 0x3f) << 6) | u32::from(c & 0x3f),
                3,
            )),
            _ => None,
        },
        _ => None,
    }
}

/// Walk `s` as runs of harmless text and the control characters between them
/// (see [`control_at`]). One byte scan, no allocation.
fn split_controls<E>(s: &str, mut f: impl FnMut(Piece<'_>) -> Result<(), E>) -> Result<(), E> {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match control_at(bytes, i) {
            Some((code, width)) => {
                if start < i {
                    f(Piece::Text(&s[start..i]))?;
                }
                f(Piece::Control(code))?;
                i += width;
                start = i;
            }
            None => i += 1,
        }
    }
    if start < bytes.len() {
        f(Piece::Text(&s[start..]))?;
    }
    Ok(())
}

/// How a control character is shown: `\u{1b}`.
pub fn control_text(code: u32) -> String {
    format!("\\u{{{code:02x}}}")
}

/// Replace control characters (C0 except newline and tab, DEL, C1, bidi
/// overrides and isolates; see [`control_at`]) with a visible `\u{..}`-style
/// escape so procedure text, notes and command output can never move the
/// cursor, change colours, set the terminal title, write the clipboard or
/// reorder the text shown around them.
pub fn sanitize_terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let _ = split_controls(s, |piece| {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Control(c) => out.push_str(&control_text(c)),
        }
        Ok::<(), ()>(())
    });
    out
}

/// Like [`sanitize_terminal`] but also turns newlines and tabs into escapes, for one-line fields.
pub fn sanitize_line(s: &str) -> String {
    sanitize_terminal(s).replace('\n', "\\n").replace('\t', " ")
}

/// Escape text for HTML element content and quoted attribute values: `&`, `<`, `>`,
/// `"` and `'`. Does not touch control characters; combine with [`sanitize_terminal`]
/// when they should be made visible too.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A multi-line text from a procedure (a contact, a note prompt) as one
/// line: its paragraphs reflowed and joined with spaces.
pub fn one_line(s: &str) -> String {
    reflow(s).replace('\n', " ")
}

/// Reflow hard-wrapped prose for a pane that wraps by itself: lines of one
/// paragraph are joined with spaces; blank lines, list items (`- `, `* `, `1. `)
/// and indented lines keep their line breaks.
pub fn reflow(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_blank = true;
    for line in s.trim_end().lines() {
        let t = line.trim_end();
        let starts_block = t.is_empty()
            || t.starts_with([' ', '\t'])
            || t.starts_with("- ")
            || t.starts_with("* ")
            || t.split_once(". ")
                .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if out.is_empty() {
            out.push_str(t);
        } else if t.is_empty() {
            out.push('\n');
        } else if starts_block || prev_blank {
            out.push('\n');
            out.push_str(t);
        } else {
            out.push(' ');
            out.push_str(t.trim_start());
        }
        prev_blank = t.is_empty();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflow_joins_paragraph_lines_and_keeps_lists_and_blank_lines() {
        let s = "one\ntwo\n\nthree\n- a\n- b\n  code\n1. x\nmore";
        assert_eq!(reflow(s), "one two\n\nthree\n- a\n- b\n  code\n1. x more");
    }

    #[test]
    fn escapes_are_made_visible() {
        assert_eq!(sanitize_terminal("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(sanitize_terminal("x\u{9b}y"), "x\\u{9b}y");
        assert_eq!(
            sanitize_terminal("keep\nlines\tand tabs"),
            "keep\nlines\tand tabs"
        );
        assert_eq!(sanitize_line("a\nb"), "a\\nb");
        assert_eq!(
            sanitize_terminal("\x7f\u{85}é\u{a0}\0"),
            "\\u{7f}\\u{85}é\u{a0}\\u{00}"
        );
    }

    /// Every bidi embedding, override and isolate, and nothing next to them.
    #[test]
    fn bidi_overrides_and_isolates_are_made_visible() {
        let bidi: Vec<char> = ('\u{2000}'..='\u{206f}')
            .filter(|c| sanitize_terminal(&c.to_string()) != c.to_string())
            .collect();
        assert_eq!(
            bidi,
            [
                '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}',
                '\u{2068}', '\u{2069}'
            ]
        );
        assert_eq!(
            sanitize_terminal("if \u{202e}x\u{2066}y\u{2069}"),
            "if \\u{202e}x\\u{2066}y\\u{2069}"
        );
        assert_eq!(sanitize_line("a\u{202d}\nb"), "a\\u{202d}\\nb");
        // Neighbours that share the lead bytes stay as they are.
        assert_eq!(
            sanitize_terminal("— … ‰ \u{2060} ⁰ ‹›"),
            "— … ‰ \u{2060} ⁰ ‹›"
        );
        // A cut-off sequence at the end of the text is no control.
        assert_eq!(control_at(b"\xe2\x80", 0), None);
    }

    #[test]
    fn html_special_characters_are_escaped() {
        assert_eq!(
            escape_html(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape_html("plain text, ünïcode"), "plain text, ünïcode");
    }
}
