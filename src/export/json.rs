//! `evidence.json`: the full-fidelity export (runs, every event with its
//! hashes and canonical payload, the exact procedure sources), written
//! incrementally — one run, event or procedure at a time — and read back the
//! same way by `verify-bundle`. The schema is in docs/audit-bundle.md.
//!
//! May not depend on the front ends or the app.

use std::fmt;
use std::io::{self, Write};

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::timeline::run_json;
use super::{ReportMeta, filters_json, time_text};
use crate::store::{RunRow, StoredEvent, canonical_json};

/// `format` of evidence.json.
pub const FORMAT: &str = "runsheet-evidence";
/// `version` of evidence.json.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Runs,
    Events,
    Procedures,
}

/// Writes evidence.json part by part: runs, then events, then procedures.
pub struct EvidenceWriter<W: Write> {
    w: W,
    part: Part,
    first: bool,
}

fn json_text(v: &impl serde::Serialize) -> io::Result<String> {
    serde_json::to_string(v).map_err(io::Error::other)
}

impl<W: Write> EvidenceWriter<W> {
    /// Write the header fields and open the `runs` array.
    pub fn begin(mut w: W, meta: &ReportMeta) -> io::Result<EvidenceWriter<W>> {
        let checkpoint: Value =
            serde_json::from_str(&meta.checkpoint.to_json()).map_err(io::Error::other)?;
        writeln!(w, "{{")?;
        writeln!(w, "\"format\": {},", json_text(&FORMAT)?)?;
        writeln!(w, "\"version\": {VERSION},")?;
        writeln!(w, "\"generator\": {},", json_text(&meta.generator)?)?;
        writeln!(
            w,
            "\"created_at\": {},",
            json_text(&time_text(meta.created_at))?
        )?;
        writeln!(w, "\"exported_by\": {},", json_text(&meta.exported_by)?)?;
        writeln!(
            w,
            "\"filters\": {},",
            json_text(&filters_json(&meta.query))?
        )?;
        writeln!(w, "\"checkpoint\": {},", json_text(&checkpoint)?)?;
        write!(w, "\"runs\": [")?;
        Ok(EvidenceWriter {
            w,
            part: Part::Runs,
            first: true,
        })
    }

    fn item(&mut self, part: Part, text: &str) -> io::Result<()> {
        while self.part != part {
            self.next_part()?;
        }
        if !self.first {
            self.w.write_all(b",")?;
        }
        self.first = false;
        self.w.write_all(b"\n")?;
        self.w.write_all(text.as_bytes())
    }

    fn next_part(&mut self) -> io::Result<()> {
        let close = if self.first { "]" } else { "\n]" };
        let next = match self.part {
            Part::Runs => Part::Events,
            Part::Events => Part::Procedures,
            Part::Procedures => return Ok(()),
        };
        let name = match next {
            Part::Events => "events",
            _ => "procedures",
        };
        write!(self.w, "{close},\n\"{name}\": [")?;
        self.part = next;
        self.first = true;
        Ok(())
    }

    /// One run.
    pub fn run(&mut self, r: &RunRow) -> io::Result<()> {
        let text = json_text(&run_json(r))?;
        self.item(Part::Runs, &text)
    }

    /// One event (after all runs).
    pub fn event(&mut self, e: &StoredEvent) -> io::Result<()> {
        let text = event_text(e)?;
        self.item(Part::Events, &text)
    }

    /// One procedure source (after all events).
    pub fn procedure(&mut self, sha256: &str, format: &str, text: &str) -> io::Result<()> {
        let v = serde_json::json!({
            "sha256": sha256,
            "format": format,
            "file": format!("procedures/{sha256}.{format}"),
            "text": text,
        });
        let t = json_text(&v)?;
        self.item(Part::Procedures, &t)
    }

    /// Close the document; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        while self.part != Part::Procedures {
            self.next_part()?;
        }
        let close = if self.first { "]" } else { "\n]" };
        write!(self.w, "{close}\n}}\n")?;
        Ok(self.w)
    }
}

/// An event's JSON object, fields in a fixed order; `payload` is the stored
/// canonical JSON, so its SHA-256 can be recomputed from the bundle.
pub fn event_text(e: &StoredEvent) -> io::Result<String> {
    let run_id = e.run_id.map(|id| id.hyphenated().to_string());
    let payload = e
        .payload
        .as_ref()
        .map_or_else(|| "null".to_string(), canonical_json);
    Ok(format!(
        "{{\"seq\":{},\"run_id\":{},\"run_seq\":{},\"at\":{},\"actor\":{},\"kind\":{},\"step\":{},\"payload\":{payload},\"payload_sha256\":{},\"prev_hash\":{},\"hash\":{}}}",
        e.seq,
        json_text(&run_id)?,
        e.run_seq,
        json_text(&time_text(e.at))?,
        json_text(&e.actor)?,
        json_text(&e.kind)?,
        json_text(&e.step)?,
        json_text(&e.payload_sha256)?,
        json_text(&e.prev_hash)?,
        json_text(&e.hash)?,
    ))
}

/// What verify-bundle needs of each exported event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EventKey {
    pub seq: i64,
    pub run_id: Option<String>,
    pub run_seq: i64,
    pub hash: String,
}

/// Read evidence.json's `events` array one event at a time (everything else
/// is skipped), calling `f` for each. Memory stays constant.
pub fn for_each_event_key(
    r: impl io::Read,
    f: &mut dyn FnMut(EventKey) -> Result<(), String>,
) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_reader(io::BufReader::new(r));
    let found = de::Deserializer::deserialize_map(&mut de, Top { f })
        .map_err(|e| format!("not a readable evidence.json: {e}"))?;
    de.end()
        .map_err(|e| format!("not a readable evidence.json: {e}"))?;
    if found {
        Ok(())
    } else {
        Err("evidence.json has no `events` array".into())
    }
}

struct Top<'f> {
    f: &'f mut dyn FnMut(EventKey) -> Result<(), String>,
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the evidence.json object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "events" {
                map.next_value_seed(Events { f: &mut *self.f })?;
                found = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct Events<'a, 'f> {
    f: &'a mut (dyn FnMut(EventKey) -> Result<(), String> + 'f),
}

impl<'de> DeserializeSeed<'de> for Events<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Events<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(key) = seq.next_element::<EventKey>()? {
            (self.f)(key).map_err(de::Error::custom)?;
        }
        Ok(())
    }
}
