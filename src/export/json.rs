//! `evidence.json`: the full-fidelity export (runs, every event with its
//! hashes and canonical payload, the `links` that join them into one chain
//! up to the data head, the exact procedure sources), written
//! incrementally — one run, event or procedure at a time — and read back the
//! same way by `verify-bundle`. The format is in docs/audit-bundle.md, its
//! JSON Schema in docs/json/evidence.schema.json (`evidence_schema`).
//!
//! May not depend on the front ends or the app.

use std::fmt;
use std::io::{self, Write};

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::escape;
use super::{ReportMeta, filters_json};
use crate::report::outcome_text;
use crate::store::{ContentRef, EventRef, LinkRef, RunRow, time_text};

/// `format` of evidence.json.
pub const FORMAT: &str = "runsheet-evidence";
/// `version` of evidence.json (2: `verification` and `record_format_2_from`;
/// 3: `links`, the records that join the exported events into one chain up
/// to the data head).
pub const VERSION: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Runs,
    Events,
    Links,
    Procedures,
}

/// Writes evidence.json part by part: runs, then events, then links, then procedures.
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
        writeln!(
            w,
            "\"verification\": {},",
            json_text(&meta.verdict.to_json())?
        )?;
        writeln!(
            w,
            "\"record_format_2_from\": {},",
            json_text(&meta.record_format_2_from)?
        )?;
        write!(w, "\"runs\": [")?;
        Ok(EvidenceWriter {
            w,
            part: Part::Runs,
            first: true,
        })
    }

    fn item(&mut self, part: Part, text: &str) -> io::Result<()> {
        self.start_item(part)?;
        self.w.write_all(text.as_bytes())
    }

    fn start_item(&mut self, part: Part) -> io::Result<()> {
        while self.part != part {
            self.next_part()?;
        }
        if !self.first {
            self.w.write_all(b",")?;
        }
        self.first = false;
        self.w.write_all(b"\n")
    }

    fn next_part(&mut self) -> io::Result<()> {
        let close = if self.first { "]" } else { "\n]" };
        let next = match self.part {
            Part::Runs => Part::Events,
            Part::Events => Part::Links,
            Part::Links => Part::Procedures,
            Part::Procedures => return Ok(()),
        };
        let name = match next {
            Part::Events => "events",
            Part::Links => "links",
            _ => "procedures",
        };
        write!(self.w, "{close},\n\"{name}\": [")?;
        self.part = next;
        self.first = true;
        Ok(())
    }

    /// The writer.
    pub fn get(&self) -> &W {
        &self.w
    }

    /// One run (the fields of [`crate::report::runs::RunJson`], written one by one; see [`write_run`]).
    pub fn run(&mut self, r: &RunRow) -> io::Result<()> {
        self.start_item(Part::Runs)?;
        write_run(&mut self.w, r)
    }

    /// Events (after all runs): objects from [`write_event`] with `,\n`
    /// between them, as one run's events are formatted.
    pub fn events(&mut self, objects: &[u8]) -> io::Result<()> {
        if objects.is_empty() {
            return Ok(());
        }
        self.start_item(Part::Events)?;
        self.w.write_all(objects)
    }

    /// One record of `links` (after all events, in seq order): see [`write_link`].
    pub fn link(&mut self, l: &LinkRef<'_>) -> io::Result<()> {
        self.start_item(Part::Links)?;
        write_link(&mut self.w, l)
    }

    /// One procedure source (after all events and links).
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

/// `"name":"value"`.
fn text(w: &mut impl Write, name: &str, value: &str) -> io::Result<()> {
    write!(w, "\"{name}\":")?;
    escape::json(w, value)
}

/// `"name":"value"` or `"name":null`.
fn opt(w: &mut impl Write, name: &str, value: Option<&str>) -> io::Result<()> {
    match value {
        Some(v) => text(w, name, v),
        None => write!(w, "\"{name}\":null"),
    }
}

/// A run's JSON object: [`crate::report::runs::RunJson`]'s fields in its
/// order, without building it, except that the event count is `events` (the
/// bundle format's member since its first version; `runs --json` calls it
/// `event_count`, as its `events` would be `show --json`'s list).
pub fn write_run(w: &mut impl Write, r: &RunRow) -> io::Result<()> {
    w.write_all(b"{")?;
    text(w, "id", &r.id.hyphenated().to_string())?;
    w.write_all(b",")?;
    text(w, "procedure_id", &r.procedure_id)?;
    w.write_all(b",")?;
    text(w, "procedure_version", &r.procedure_version)?;
    w.write_all(b",")?;
    text(w, "procedure_title", &r.procedure_title)?;
    w.write_all(b",")?;
    text(w, "procedure_sha256", &r.procedure_sha256)?;
    w.write_all(b",\"controls\":[")?;
    for (i, c) in r.controls.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        escape::json(w, c)?;
    }
    w.write_all(b"],")?;
    text(w, "source_path", &r.source_path)?;
    w.write_all(b",")?;
    text(w, "operator", &r.operator)?;
    w.write_all(b",")?;
    opt(w, "operator_name", r.operator_name.as_deref())?;
    w.write_all(b",")?;
    text(w, "host", &r.host)?;
    w.write_all(b",")?;
    text(w, "runsheet_version", &r.runsheet_version)?;
    w.write_all(b",")?;
    text(w, "started_at", &time_text(r.started_at))?;
    w.write_all(b",")?;
    opt(w, "ended_at", r.ended_at.map(time_text).as_deref())?;
    w.write_all(b",")?;
    text(w, "outcome", outcome_text(r))?;
    write!(w, ",\"events\":{},", r.event_count)?;
    text(w, "last_at", &time_text(r.last_at))?;
    w.write_all(b"}")
}

/// An event's JSON object, fields in a fixed order; `payload` is the stored
/// canonical JSON as it is (the caller has checked it is JSON), so its SHA-256
/// can be recomputed from the bundle.
pub fn write_event(w: &mut impl Write, e: &EventRef<'_>) -> io::Result<()> {
    let head = RecordHead {
        seq: e.seq,
        run_id: Some(e.run_id),
        run_seq: e.run_seq,
        at: e.at,
        actor: e.actor,
        kind: e.kind,
        step: e.step,
    };
    head.write(w)?;
    w.write_all(b",\"payload\":")?;
    w.write_all(e.payload.as_bytes())?;
    w.write_all(b",\"payload_sha256\":")?;
    escape::json(w, e.payload_sha256)?;
    match e.content {
        Some(ContentRef::Held { salt, content }) => {
            w.write_all(b",\"content_salt\":")?;
            escape::json(w, salt)?;
            w.write_all(b",\"content\":")?;
            escape::json(w, content)?;
        }
        Some(ContentRef::Redacted { by }) => write!(w, ",\"content\":null,\"redacted_by\":{by}")?,
        None => {}
    }
    write_record_tail(w, e.prev_hash, e.hash)
}

/// A record of `links`: an event's fields in [`write_event`]'s order, but
/// `payload` only for a log event (no run); a left-out run's event carries
/// none (nor content): its record hash covers only its `payload_sha256`.
/// The payload is the stored canonical JSON (the caller has checked it is JSON).
pub fn write_link(w: &mut impl Write, l: &LinkRef<'_>) -> io::Result<()> {
    let head = RecordHead {
        seq: l.seq,
        run_id: l.run_id,
        run_seq: l.run_seq,
        at: l.at,
        actor: l.actor,
        kind: l.kind,
        step: l.step,
    };
    head.write(w)?;
    if let Some(p) = l.payload {
        w.write_all(b",\"payload\":")?;
        w.write_all(p.as_bytes())?;
    }
    w.write_all(b",\"payload_sha256\":")?;
    escape::json(w, l.payload_sha256)?;
    write_record_tail(w, l.prev_hash, l.hash)
}

/// The fields every record of `events` and `links` starts with, in order.
struct RecordHead<'a> {
    seq: i64,
    run_id: Option<&'a str>,
    run_seq: i64,
    at: &'a str,
    actor: &'a str,
    kind: &'a str,
    step: Option<&'a str>,
}

impl RecordHead<'_> {
    /// `{"seq":…,"run_id":…,"run_seq":…,"at":…,"actor":…,"kind":…,"step":…` (object left open).
    fn write(&self, w: &mut impl Write) -> io::Result<()> {
        write!(w, "{{\"seq\":{},\"run_id\":", self.seq)?;
        json_opt(w, self.run_id)?;
        write!(w, ",\"run_seq\":{},\"at\":", self.run_seq)?;
        escape::json(w, self.at)?;
        w.write_all(b",\"actor\":")?;
        escape::json(w, self.actor)?;
        w.write_all(b",\"kind\":")?;
        escape::json(w, self.kind)?;
        w.write_all(b",\"step\":")?;
        json_opt(w, self.step)
    }
}

/// A JSON string, or `null`.
fn json_opt(w: &mut impl Write, s: Option<&str>) -> io::Result<()> {
    match s {
        Some(s) => escape::json(w, s),
        None => w.write_all(b"null"),
    }
}

/// `,"prev_hash":…,"hash":…}`: every record's end.
fn write_record_tail(w: &mut impl Write, prev_hash: &str, hash: &str) -> io::Result<()> {
    w.write_all(b",\"prev_hash\":")?;
    escape::json(w, prev_hash)?;
    w.write_all(b",\"hash\":")?;
    escape::json(w, hash)?;
    w.write_all(b"}")
}

/// A record of evidence.json's `links`: [`BundleEvent`]'s fields, the
/// payload present only for a log event.
#[derive(Debug, Deserialize)]
pub struct BundleLink {
    pub seq: i64,
    pub run_id: Option<String>,
    pub run_seq: i64,
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub step: Option<String>,
    #[serde(default)]
    pub payload: Option<Box<serde_json::value::RawValue>>,
    pub payload_sha256: String,
    pub prev_hash: String,
    pub hash: String,
}

/// One exported event as evidence.json holds it, its payload the exact text
/// (the bytes its `payload_sha256` covers).
#[derive(Debug, Deserialize)]
pub struct BundleEvent {
    pub seq: i64,
    pub run_id: Option<String>,
    pub run_seq: i64,
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub step: Option<String>,
    pub payload: Box<serde_json::value::RawValue>,
    pub payload_sha256: String,
    /// Schema 5: the salt (hex) and the exact content text the payload's
    /// `content_sha256` commits to, or `redacted_by` (and a null content)
    /// once a custodian erased it.
    #[serde(default)]
    pub content_salt: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub redacted_by: Option<i64>,
    pub prev_hash: String,
    pub hash: String,
}

/// What a reader of evidence.json is shown, part by part, in file order.
pub trait EvidenceVisitor {
    /// A top-level field other than the three arrays (format, version,
    /// checkpoint, verification, ...).
    fn header(&mut self, name: &str, value: Value) -> Result<(), String>;
    fn run(&mut self, run: Value) -> Result<(), String>;
    fn event(&mut self, event: BundleEvent) -> Result<(), String>;
    /// A record of `links` (readers that do not walk the chain ignore them).
    fn link(&mut self, _link: BundleLink) -> Result<(), String> {
        Ok(())
    }
    fn procedure(&mut self, procedure: Value) -> Result<(), String>;
}

/// Read evidence.json one run, event and procedure at a time. Memory stays
/// constant (but for what the visitor keeps). `Err` when it is not readable
/// as evidence.json or the visitor stops.
pub fn read_evidence(r: impl io::Read, v: &mut dyn EvidenceVisitor) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_reader(io::BufReader::new(r));
    let found = de::Deserializer::deserialize_map(&mut de, Top { v })
        .map_err(|e| format!("not a readable evidence.json: {e}"))?;
    de.end()
        .map_err(|e| format!("not a readable evidence.json: {e}"))?;
    if found {
        Ok(())
    } else {
        Err("evidence.json has no `events` array".into())
    }
}

struct Top<'v> {
    v: &'v mut dyn EvidenceVisitor,
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the evidence.json object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "runs" => map.next_value_seed(Items {
                    v: &mut *self.v,
                    part: Part::Runs,
                })?,
                "events" => {
                    map.next_value_seed(Items {
                        v: &mut *self.v,
                        part: Part::Events,
                    })?;
                    found = true;
                }
                "links" => map.next_value_seed(Items {
                    v: &mut *self.v,
                    part: Part::Links,
                })?,
                "procedures" => map.next_value_seed(Items {
                    v: &mut *self.v,
                    part: Part::Procedures,
                })?,
                other => {
                    let value: Value = map.next_value()?;
                    self.v.header(other, value).map_err(de::Error::custom)?;
                }
            }
        }
        Ok(found)
    }
}

struct Items<'a, 'v> {
    v: &'a mut (dyn EvidenceVisitor + 'v),
    part: Part,
}

impl<'de> DeserializeSeed<'de> for Items<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Items<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        match self.part {
            Part::Events => {
                while let Some(e) = seq.next_element::<BundleEvent>()? {
                    self.v.event(e).map_err(de::Error::custom)?;
                }
            }
            Part::Links => {
                while let Some(l) = seq.next_element::<BundleLink>()? {
                    self.v.link(l).map_err(de::Error::custom)?;
                }
            }
            Part::Runs => {
                while let Some(r) = seq.next_element::<Value>()? {
                    self.v.run(r).map_err(de::Error::custom)?;
                }
            }
            Part::Procedures => {
                while let Some(p) = seq.next_element::<Value>()? {
                    self.v.procedure(p).map_err(de::Error::custom)?;
                }
            }
        }
        Ok(())
    }
}
