//! The SIEM feed's line format (docs/siem-feed.md): one evidence-log event
//! as one OCSF 1.3.0 Compliance Finding (class_uid 2003, Findings category),
//! carrying the log's origin, the event's seq, record hash, run, kind, actor
//! and time so the SIEM's copy can be checked against the log later. Pure:
//! an event and its run in, a JSON object out.
//!
//! May not depend on the engine, front ends, export or `app`.

use serde_json::{Value, json};

use crate::store::{RunRow, StoredEvent};

/// The OCSF schema version every line names (`metadata.version`).
pub const OCSF_VERSION: &str = "1.3.0";
/// Compliance Finding.
pub const CLASS_UID: u32 = 2003;
/// Findings.
pub const CATEGORY_UID: u32 = 2;
/// Finding activity "Create": each event is a new, immutable finding.
const ACTIVITY_CREATE: u32 = 1;

/// OCSF `compliance.status_id` and `severity_id` for an event kind (and a
/// run end's outcome): run ends and deviations are the findings that pass or
/// fail; every other event is informational and carries no compliance status.
fn judgement(kind: &str, payload: &Value) -> (Option<(u32, &'static str)>, u32, &'static str) {
    const PASS: (u32, &str) = (1, "Pass");
    const FAIL: (u32, &str) = (3, "Fail");
    match kind {
        "run-ended" => match payload.get("outcome").and_then(Value::as_str) {
            Some("completed") => (Some(PASS), 1, "Informational"),
            Some("aborted") => (Some(FAIL), 3, "Medium"),
            _ => (Some(FAIL), 4, "High"),
        },
        "step-failed" => (Some(FAIL), 3, "Medium"),
        "step-skipped" | "warnings-acknowledged" => (Some(FAIL), 2, "Low"),
        _ => (None, 1, "Informational"),
    }
}

/// One event as an OCSF Compliance Finding. `origin` is the log's origin
/// line (its `log-key` event; empty for a log older than schema 4), `run`
/// the event's run (`None` for log events).
pub fn line(origin: &str, event: &StoredEvent, run: Option<&RunRow>) -> Value {
    let (status, severity_id, severity) = judgement(&event.kind, &event.payload);
    let time = event.at.timestamp_millis();
    let run_id = event.run_id.map(|id| id.hyphenated().to_string());
    let title = match run {
        Some(r) => format!("{}: {} ({})", event.kind, r.procedure_title, r.procedure_id),
        None => format!("{}: evidence log event", event.kind),
    };
    let mut compliance = json!({ "standards": ["ISO/IEC 27001:2022"] });
    if let Some(r) = run
        && !r.controls.is_empty()
    {
        compliance["control"] = Value::from(r.controls.join(", "));
    }
    if let Some((id, name)) = status {
        compliance["status_id"] = Value::from(id);
        compliance["status"] = Value::from(name);
    }
    let mut finding_info = json!({
        "uid": format!("{origin}/{}", event.seq),
        "title": title,
        "types": [event.kind],
    });
    if let Some(r) = run {
        finding_info["desc"] = Value::from(format!(
            "run {} of procedure {} version {} on {}",
            r.id.hyphenated(),
            r.procedure_id,
            r.procedure_version,
            r.host
        ));
    }
    json!({
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Compliance Finding",
        "type_uid": u64::from(CLASS_UID) * 100 + u64::from(ACTIVITY_CREATE),
        "type_name": "Compliance Finding: Create",
        "severity_id": severity_id,
        "severity": severity,
        "time": time,
        "message": title,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {
                "name": "runsheet",
                "vendor_name": "runsheet",
                "version": env!("CARGO_PKG_VERSION"),
            },
            "log_name": origin,
            "log_provider": "runsheet evidence log",
            "sequence": event.seq,
            "uid": event.hash,
            "original_time": event.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        },
        "finding_info": finding_info,
        "compliance": compliance,
        "unmapped": {
            "origin": origin,
            "seq": event.seq,
            "hash": event.hash,
            "prev_hash": event.prev_hash,
            "payload_sha256": event.payload_sha256,
            "run_id": run_id,
            "run_seq": event.run_seq,
            "kind": event.kind,
            "actor": event.actor,
            "step": event.step,
            "at": event.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        },
    })
}

/// The seq a feed line carries (`metadata.sequence`), if it is one.
pub fn seq_of(line: &[u8]) -> Option<i64> {
    let v: Value = serde_json::from_slice(line).ok()?;
    v.get("metadata")?.get("sequence")?.as_i64()
}
