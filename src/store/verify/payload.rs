//! The few payload fields verify compares with a run's row (`run-started`,
//! `run-ended`), read straight from the stored JSON bytes without building a
//! whole `serde_json::Value` per run (that was ≈ 10 % of verify's time, mostly
//! `malloc`). Same answers as `Value::get(name).and_then(Value::as_str)`:
//! the same JSON is accepted and refused, and a repeated key's last value wins.
//!
//! Pure functions over bytes. May not depend on rusqlite, the engine or anything
//! outside the store.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The string values of the top-level fields `names` of the JSON text `json`:
/// `None` for a field that is absent or not a string, or when the text is
/// JSON but not an object. `Err` when the text is not JSON.
pub(super) fn string_fields<'a, const N: usize>(
    json: &'a [u8],
    names: [&str; N],
) -> Result<[Option<Cow<'a, str>>; N], serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let fields = de.deserialize_any(Fields { names: &names })?;
    de.end()?;
    Ok(fields)
}

/// The `procedure_controls` array of a `run-started` payload: `Ok(None)` when
/// absent, `Err` when the text is not JSON or the field is not an array of
/// strings.
pub(super) fn controls_field(json: &[u8]) -> Result<Option<Vec<String>>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Controls {
        procedure_controls: Option<Vec<String>>,
    }
    serde_json::from_slice::<Controls>(json).map(|c| c.procedure_controls)
}

/// Visits the top-level value: picks `names` out of an object.
struct Fields<'n, const N: usize> {
    names: &'n [&'n str; N],
}

fn none<'a, const N: usize>() -> [Option<Cow<'a, str>>; N] {
    std::array::from_fn(|_| None)
}

impl<'de, const N: usize> Visitor<'de> for Fields<'_, N> {
    type Value = [Option<Cow<'de, str>>; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = none();
        while let Some(key) = map.next_key_seed(MaybeStr)? {
            let slot = key
                .as_deref()
                .and_then(|k| self.names.iter().position(|n| *n == k));
            match slot {
                Some(i) => out[i] = map.next_value_seed(MaybeStr)?,
                // Parsed as `Value` would parse it, so the same texts are refused.
                None => drop(map.next_value::<Value>()?),
            }
        }
        Ok(out)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Value>()?.is_some() {}
        Ok(none())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(none())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(none())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(none())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(none())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(none())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(none())
    }
}

/// A value that is kept when it is a string (borrowed when it has no escapes)
/// and checked and dropped otherwise.
struct MaybeStr;

impl<'de> DeserializeSeed<'de> for MaybeStr {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MaybeStr {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<String, Value>()?.is_some() {}
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Value>()?.is_some() {}
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What verify compared before: a whole `Value`.
    fn by_value<const N: usize>(json: &str, names: [&str; N]) -> Option<[Option<String>; N]> {
        let v: Value = serde_json::from_str(json).ok()?;
        Some(names.map(|n| v.get(n).and_then(Value::as_str).map(str::to_string)))
    }

    fn by_fields<const N: usize>(json: &str, names: [&str; N]) -> Option<[Option<String>; N]> {
        let got = string_fields(json.as_bytes(), names).ok()?;
        Some(got.map(|v| v.map(Cow::into_owned)))
    }

    #[test]
    fn agrees_with_value_get() {
        let names = ["operator", "host", "outcome"];
        for json in [
            r#"{"kind":"run-started","operator":"alice","host":"h1"}"#,
            r#"{"operator":"al\"ice","host":"h\u00e9","x":[1,{"y":null}],"outcome":3}"#,
            r#"{"operator":"a","operator":"b","host":{"nested":"x"}}"#,
            r#"{"procedure\u005fid":"p","operator":null}"#,
            r#"  {"outcome" : "completed"}  "#,
            r#"{}"#,
            r#"["operator","alice"]"#,
            r#""operator""#,
            r#"12"#,
            r#"null"#,
            // Not JSON, or JSON `Value` refuses:
            r#"{"operator":"alice""#,
            r#"{"operator":"alice"} trailing"#,
            r#"{"x":1e999,"operator":"alice"}"#,
            r#"{"operator":1e999}"#,
            r#"{"x":"\ud800","operator":"alice"}"#,
            "",
        ] {
            assert_eq!(by_fields(json, names), by_value(json, names), "{json}");
        }
    }

    #[test]
    fn plain_strings_are_borrowed() {
        let json = br#"{"host":"h1","operator":"al\"ice"}"#;
        let [host, operator] = string_fields(json, ["host", "operator"]).expect("json");
        assert!(matches!(host, Some(Cow::Borrowed("h1"))));
        assert_eq!(operator.as_deref(), Some("al\"ice"));
    }
}

/// Why a record whose hashes hold is still not one runsheet wrote: its time
/// is not a stored time, a text is not UTF-8, or its payload is not a JSON
/// object whose `kind` is the record's kind. `None` when it is well formed.
/// (What every reader of the log then reads without a complaint.)
pub(super) fn malformed(
    at: &[u8],
    actor: &[u8],
    step: Option<&[u8]>,
    kind: &[u8],
    payload: &[u8],
) -> Option<String> {
    if !is_stored_time(at) {
        return Some(format!(
            "its time {:?} is not one runsheet writes (UTC, milliseconds, e.g. 2026-11-28T02:14:05.123Z)",
            String::from_utf8_lossy(at)
        ));
    }
    // (The payload's UTF-8 is checked by parsing it: JSON outside strings is
    // ASCII, and the parser checks every string.)
    for (name, text) in [("actor", Some(actor)), ("step", step)] {
        if text.is_some_and(|t| std::str::from_utf8(t).is_err()) {
            return Some(format!("its {name} is not UTF-8 text"));
        }
    }
    match top_level_kind_is(payload, kind) {
        Ok(Kind::Same) => None,
        Ok(Kind::Other(k)) => Some(format!(
            "its payload is a {k:?} event but the record says {:?}",
            String::from_utf8_lossy(kind)
        )),
        Ok(Kind::Missing) => Some("its payload is not a JSON object with a kind".into()),
        Err(e) => Some(format!("its payload is not JSON ({e})")),
    }
}

/// What a payload's top-level `kind` is, against the record's.
enum Kind {
    Same,
    Other(String),
    Missing,
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` with the numbers in range.
fn is_stored_time(t: &[u8]) -> bool {
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let mut n = 0u32;
        for &b in t.get(r)? {
            if !b.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u32::from(b - b'0');
        }
        Some(n)
    };
    let sep = |i: usize, c: u8| t.get(i) == Some(&c);
    t.len() == 24
        && sep(4, b'-')
        && sep(7, b'-')
        && sep(10, b'T')
        && sep(13, b':')
        && sep(16, b':')
        && sep(19, b'.')
        && sep(23, b'Z')
        && digits(0..4).is_some()
        && digits(5..7).is_some_and(|m| (1..=12).contains(&m))
        && digits(8..10).is_some_and(|d| (1..=31).contains(&d))
        && digits(11..13).is_some_and(|h| h <= 23)
        && digits(14..16).is_some_and(|m| m <= 59)
        && digits(17..19).is_some_and(|s| s <= 60)
        && digits(20..23).is_some()
}

/// A visitor's answer for a JSON value that is not what is looked for.
macro_rules! not_this {
    ($v:ty, $answer:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$v, E> {
            Ok($answer)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<$v, E> {
            Ok($answer)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<$v, E> {
            Ok($answer)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<$v, E> {
            Ok($answer)
        }
        fn visit_unit<E: de::Error>(self) -> Result<$v, E> {
            Ok($answer)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<$v, A::Error> {
            while seq.next_element::<de::IgnoredAny>()?.is_some() {}
            Ok($answer)
        }
    };
}

/// Is the top-level `kind` of the JSON object `json` the text `want`? Every
/// other value is checked as JSON and skipped without being built; nothing
/// is allocated unless the kind differs.
fn top_level_kind_is(json: &[u8], want: &[u8]) -> Result<Kind, serde_json::Error> {
    struct Object<'w>(&'w [u8]);
    struct KindValue<'w>(&'w [u8]);
    struct IsKind;

    impl<'de> DeserializeSeed<'de> for KindValue<'_> {
        type Value = Kind;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for KindValue<'_> {
        type Value = Kind;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
            Ok(if v.as_bytes() == self.0 {
                Kind::Same
            } else {
                Kind::Other(v.to_string())
            })
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
            while map
                .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                .is_some()
            {}
            Ok(Kind::Missing)
        }
        not_this!(Kind, Kind::Missing);
    }
    impl<'de> DeserializeSeed<'de> for IsKind {
        type Value = bool;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_str(self)
        }
    }
    impl<'de> Visitor<'de> for IsKind {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a key")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
            Ok(v == "kind")
        }
    }
    impl<'de> Visitor<'de> for Object<'_> {
        type Value = Kind;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
            let mut kind = Kind::Missing;
            while let Some(is_kind) = map.next_key_seed(IsKind)? {
                if is_kind {
                    kind = map.next_value_seed(KindValue(self.0))?;
                } else {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
            Ok(kind)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Kind, E> {
            Ok(Kind::Missing)
        }
        not_this!(Kind, Kind::Missing);
    }
    let mut de = serde_json::Deserializer::from_slice(json);
    let kind = de.deserialize_any(Object(want))?;
    de.end()?;
    Ok(kind)
}

#[cfg(test)]
mod malformed_tests {
    use super::*;

    #[test]
    fn well_formed_records_pass_and_each_flaw_is_named() {
        let ok = br#"{"kind":"note-added","step":"s","text":"x \" y"}"#;
        let at = b"2026-11-28T02:14:05.123Z";
        assert_eq!(malformed(at, b"alice", Some(b"s"), b"note-added", ok), None);
        for bad_at in [
            &b"yesterday"[..],
            b"2026-11-28T02:14:05.123+01:00",
            b"2026-13-28T02:14:05.123Z",
            b"2026-11-28 02:14:05.123Z",
            b"2026-11-28T02:14:05Z",
        ] {
            assert!(malformed(bad_at, b"a", None, b"note-added", ok).is_some());
        }
        assert!(malformed(at, b"\xc0\xff", None, b"note-added", ok).is_some());
        assert!(malformed(at, b"a", None, b"note-added", b"not json").is_some());
        assert!(malformed(at, b"a", None, b"note-added", br#"["kind","note-added"]"#).is_some());
        assert!(malformed(at, b"a", None, b"run-ended", ok).is_some());
        assert!(malformed(at, b"a", None, b"note-added", br#"{"kind":"note-added"} x"#).is_some());
        // Nested objects with their own kind do not count.
        assert!(
            malformed(
                at,
                b"a",
                None,
                b"note-added",
                br#"{"x":{"kind":"note-added"}}"#
            )
            .is_some()
        );
    }
}
