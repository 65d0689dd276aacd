//! Text hygiene shared by every output: make untrusted text harmless on a terminal.
//!
//! May not depend on any other module of the crate.

/// Replace control characters (C0 except newline and tab, DEL, C1) with a visible
/// `\u{..}`-style escape so procedure text, notes and command output can never move
/// the cursor, change colours or set the terminal title.
pub fn sanitize_terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || c as u32 == 0x7f || (0x80..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\u{{{:02x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
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
