//! Where each value of a procedure file is: an index from a path such as
//! `steps[3].next` to byte ranges in the source, for TOML (from the toml
//! crate's spans) and JSON (from a small scanner over already-valid JSON).
//!
//! May not depend on anything outside `procedure::parse`; no IO.

use std::collections::HashMap;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// Byte ranges of one entry: its key (for table members) and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub key: Option<Range<usize>>,
    pub value: Range<usize>,
    pub kind: Kind,
}

/// What kind of value an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Table,
    Array,
    Scalar,
}

impl Kind {
    fn of_toml(value: &DeValue<'_>) -> Kind {
        match value {
            DeValue::Table(_) => Kind::Table,
            DeValue::Array(_) => Kind::Array,
            _ => Kind::Scalar,
        }
    }

    fn of_json(first: Option<u8>) -> Kind {
        match first {
            Some(b'{') => Kind::Table,
            Some(b'[') => Kind::Array,
            _ => Kind::Scalar,
        }
    }
}

/// Path → byte ranges, for one source text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SpanIndex {
    entries: HashMap<String, Entry>,
}

impl SpanIndex {
    /// The entry for exactly this path.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// The entry for `path`, else for its nearest parent that has one.
    pub fn nearest(&self, path: &str) -> Option<&Entry> {
        let mut p = path;
        loop {
            if let Some(e) = self.entries.get(p) {
                return Some(e);
            }
            if p.is_empty() {
                return None;
            }
            p = parent(p);
        }
    }

    /// The path whose key or value span is exactly `span` (TOML error spans).
    /// Returns the path and whether the key matched.
    pub fn path_with_span(&self, span: &Range<usize>) -> Option<(&str, bool)> {
        let mut best: Option<(&str, bool)> = None;
        for (path, e) in &self.entries {
            let hit = if e.key.as_ref() == Some(span) {
                Some(true)
            } else if &e.value == span {
                Some(false)
            } else {
                None
            };
            if let Some(is_key) = hit {
                // Deepest path wins (an array of tables and its first element share a span).
                if best.is_none_or(|(b, _)| path.len() > b.len()) {
                    best = Some((path.as_str(), is_key));
                }
            }
        }
        best
    }

    /// The path of the key or value that ends at byte `end` (serde_json reports
    /// the position just after the token it was reading). Returns the path and
    /// whether the key matched.
    pub fn path_ending_at(&self, end: usize) -> Option<(&str, bool)> {
        let mut best: Option<(&str, bool)> = None;
        for (path, e) in &self.entries {
            let hit = if e.key.as_ref().is_some_and(|k| k.end == end) {
                Some(true)
            } else if e.value.end == end && !path.is_empty() {
                Some(false)
            } else {
                None
            };
            if let Some(is_key) = hit
                && best.is_none_or(|(b, _)| path.len() > b.len())
            {
                best = Some((path.as_str(), is_key));
            }
        }
        best
    }

    /// Every path in the file (unordered).
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    fn insert(&mut self, path: String, key: Option<Range<usize>>, value: Range<usize>, kind: Kind) {
        self.entries.insert(path, Entry { key, value, kind });
    }
}

/// The parent of a path: `steps[3].next` → `steps[3]` → `steps` → ``.
pub(crate) fn parent(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(i) => &path[..i],
        None => "",
    }
}

/// Join a table key onto a path.
pub(crate) fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Build the index of a TOML document that parsed.
pub(crate) fn toml_index(root: &toml::Spanned<DeTable<'_>>) -> SpanIndex {
    let mut index = SpanIndex::default();
    index.insert(String::new(), None, root.span(), Kind::Table);
    toml_table(&mut index, "", root.get_ref());
    index
}

fn toml_table(index: &mut SpanIndex, path: &str, table: &DeTable<'_>) {
    for (key, value) in table.iter() {
        let p = join_key(path, key.get_ref());
        index.insert(
            p.clone(),
            Some(key.span()),
            value.span(),
            Kind::of_toml(value.get_ref()),
        );
        toml_value(index, &p, value.get_ref());
    }
}

fn toml_value(index: &mut SpanIndex, path: &str, value: &DeValue<'_>) {
    match value {
        DeValue::Table(t) => toml_table(index, path, t),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                index.insert(p.clone(), None, item.span(), Kind::of_toml(item.get_ref()));
                toml_value(index, &p, item.get_ref());
            }
        }
        _ => {}
    }
}

/// Build the index of a JSON text. Meant for text serde_json has accepted; on
/// anything unexpected it stops and returns what it has so far (never panics).
/// Also returns the byte range to blank out to drop a top-level `$schema`
/// member (with its separating comma), if there is one.
pub(crate) fn json_index(text: &str) -> (SpanIndex, Option<Range<usize>>) {
    let mut s = JsonScanner {
        text,
        b: text.as_bytes(),
        i: 0,
        index: SpanIndex::default(),
        schema_member: None,
    };
    let _ = s.value("", None, 0);
    (s.index, s.schema_member)
}

/// Deepest nesting the scanner follows (serde_json itself stops at 128).
const MAX_DEPTH: usize = 200;

struct JsonScanner<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    index: SpanIndex,
    schema_member: Option<Range<usize>>,
}

impl JsonScanner<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Scan one value at the current position and record it under `path`.
    fn value(&mut self, path: &str, key: Option<Range<usize>>, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        let start = self.i;
        match self.peek()? {
            b'{' => self.object(path, depth)?,
            b'[' => self.array(path, depth)?,
            b'"' => {
                self.string()?;
            }
            _ => {
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.i += 1;
                }
                if self.i == start {
                    return None;
                }
            }
        }
        let kind = Kind::of_json(self.b.get(start).copied());
        self.index
            .insert(path.to_string(), key, start..self.i, kind);
        Some(())
    }

    /// Scan a string starting at the opening quote; returns its range including quotes.
    fn string(&mut self) -> Option<Range<usize>> {
        let start = self.i;
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        loop {
            match self.peek()? {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Some(start..self.i);
                }
                _ => self.i += 1,
            }
        }
    }

    fn object(&mut self, path: &str, depth: usize) -> Option<()> {
        self.i += 1; // {
        let mut members: Vec<(String, Range<usize>, Range<usize>)> = Vec::new();
        loop {
            self.ws();
            match self.peek()? {
                b'}' => {
                    self.i += 1;
                    break;
                }
                b',' => {
                    self.i += 1;
                    continue;
                }
                _ => {}
            }
            let key = self.string()?;
            let name: String = serde_json::from_str(self.text.get(key.clone())?).ok()?;
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            let p = join_key(path, &name);
            self.value(&p, Some(key.clone()), depth + 1)?;
            let value = self.index.get(&p).map(|e| e.value.clone())?;
            members.push((name, key, value));
        }
        if path.is_empty() && depth == 0 {
            self.schema_member = schema_member(&members);
        }
        Some(())
    }

    fn array(&mut self, path: &str, depth: usize) -> Option<()> {
        self.i += 1; // [
        let mut n = 0;
        loop {
            self.ws();
            match self.peek()? {
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                b',' => {
                    self.i += 1;
                    continue;
                }
                _ => {}
            }
            self.value(&format!("{path}[{n}]"), None, depth + 1)?;
            n += 1;
        }
    }
}

/// The byte range covering the `$schema` member and one adjacent comma.
fn schema_member(members: &[(String, Range<usize>, Range<usize>)]) -> Option<Range<usize>> {
    let at = members.iter().position(|(name, _, _)| name == "$schema")?;
    let (_, key, value) = &members[at];
    if let Some((_, next_key, _)) = members.get(at + 1) {
        Some(key.start..next_key.start)
    } else if at > 0 {
        Some(members[at - 1].2.end..value.end)
    } else {
        Some(key.start..value.end)
    }
}

/// `text` with the bytes in `range` replaced by spaces (newlines kept), so
/// every other byte keeps its offset, line and column.
pub(crate) fn blank(text: &str, range: Range<usize>) -> String {
    let mut bytes = text.as_bytes().to_vec();
    if let Some(slice) = bytes.get_mut(range) {
        for b in slice {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    }
    // Only whole UTF-8 sequences inside a JSON member were replaced, so the
    // result is valid; fall back to the original text if not.
    String::from_utf8(bytes).unwrap_or_else(|_| text.to_string())
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// Byte offset of a 1-based line and a column counted in bytes the way
/// serde_json does (the number of bytes read on that line).
pub(crate) fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    (start + column).min(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_walks_up_paths() {
        assert_eq!(parent("branches[0].steps[1].id"), "branches[0].steps[1]");
        assert_eq!(parent("branches[0].steps[1]"), "branches[0].steps");
        assert_eq!(parent("branches[0]"), "branches");
        assert_eq!(parent("branches"), "");
    }

    #[test]
    fn toml_index_has_headers_keys_and_values() {
        let text = "id = \"x\"\n[[steps]]\nid = \"a\"\n[steps.decision]\nyes = \"end\"\n";
        let root = DeTable::parse(text).expect("valid toml");
        let index = toml_index(&root);
        let at = |p: &str| line_col(text, index.get(p).expect(p).value.start);
        assert_eq!(at("id"), (1, 6));
        assert_eq!(at("steps[0]"), (2, 1));
        assert_eq!(at("steps[0].id"), (3, 6));
        assert_eq!(at("steps[0].decision"), (4, 1));
        assert_eq!(at("steps[0].decision.yes"), (5, 7));
    }

    #[test]
    fn json_index_finds_nested_values_and_schema_member() {
        let text = "{\n  \"$schema\": \"x.json\",\n  \"id\": \"p\",\n  \"steps\": [\n    {\"id\": \"a\\\"b\", \"next\": \"end\"}\n  ]\n}\n";
        let (index, schema) = json_index(text);
        let at = |p: &str| line_col(text, index.get(p).expect(p).value.start);
        assert_eq!(at("id"), (3, 9));
        assert_eq!(at("steps[0]"), (5, 5));
        assert_eq!(at("steps[0].next"), (5, 28));
        let blanked = blank(text, schema.expect("schema member"));
        let v: serde_json::Value = serde_json::from_str(&blanked).expect("still json");
        assert!(v.get("$schema").is_none());
        assert_eq!(v["id"], "p");
        assert_eq!(blanked.len(), text.len());
    }

    #[test]
    fn schema_member_last_or_only_is_blanked_with_its_comma() {
        for text in [
            "{\"id\": \"p\", \"$schema\": \"s\"}",
            "{\"$schema\": \"s\"}",
            "{\"a\": 1, \"$schema\": \"s\", \"b\": [1, 2]}",
        ] {
            let (_, schema) = json_index(text);
            let blanked = blank(text, schema.expect("member"));
            let v: serde_json::Value = serde_json::from_str(&blanked).expect(text);
            assert!(v.get("$schema").is_none(), "{text}");
        }
    }

    #[test]
    fn json_scanner_survives_garbage() {
        for text in [
            "",
            "{",
            "[1,",
            "{\"a\" 1}",
            "\"abc",
            "{\"a\":{\"b\":[{\"c\":",
        ] {
            let _ = json_index(text);
        }
        let deep = "[".repeat(10_000);
        let _ = json_index(&deep);
    }

    #[test]
    fn line_col_counts_characters() {
        let text = "ab\nçd\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 5), (2, 2));
        assert_eq!(line_col(text, 4), (2, 1)); // inside 'ç': clamps back
        assert_eq!(line_col(text, 999), (3, 1));
        assert_eq!(offset_of(text, 2, 2), 5);
    }
}
