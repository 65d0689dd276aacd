//! `runsheet custodian` and `runsheet redact`: the custodian's key, its
//! registration in the log, and redactions by seq or by retention.
//!
//! Part of `app` (wiring only): the rules live in `store` (`redact`, and
//! verify's content check). May not depend on the front ends.

use std::collections::HashMap;
use std::path::Path;

use chrono::{Duration, Utc};

use super::{Context, read_vkey};
use crate::cli::{self, CustodianCommand};
use crate::custody::key;
use crate::custody::note::Signer;
use crate::error::{Error, Exit, Result};
use crate::outln;
use crate::session::lifecycle::stored_procedure;
use crate::store::{HeldContent, RunQuery};

/// `runsheet custodian init --json` (docs/json.md): the new custodian key.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct CustodianKeyJson {
    /// Its verifier key (C2SP signed-note form), for `custodian add`.
    pub vkey: String,
    /// The private key file written (mode 0600).
    pub key_file: String,
}

/// A registered custodian (`custodian add --json`, and each of `custodian list --json`).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct CustodianJson {
    /// The `custodian-added` event's seq.
    pub seq: i64,
    pub vkey: String,
}

/// `runsheet custodian list --json`: the log's custodians in log order.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct CustodiansJson {
    pub custodians: Vec<CustodianJson>,
}

pub(super) fn custodian_cmd(ctx: &Context, a: cli::CustodianArgs) -> Result<Exit> {
    match a.command {
        CustodianCommand::Init {
            custodian_key,
            name,
        } => {
            let signer = Signer::generate(&name)
                .map_err(|e| Error::Input(format!("--name {name:?}: {e}")))?;
            let mut text = signer.private_key_text();
            text.push('\n');
            key::create_key_file(&custodian_key, &text).map_err(|e| Error::Input(e.to_string()))?;
            let vkey = signer.verifier().to_vkey();
            if ctx.global.json {
                super::print_json(&CustodianKeyJson {
                    vkey,
                    key_file: custodian_key.display().to_string(),
                })?;
            } else {
                outln!("{vkey}")?;
                crate::errln!(
                    "runsheet: custodian key written to {} (keep it away from the log's writers); register it in a log with: runsheet custodian add '{vkey}'",
                    custodian_key.display()
                );
            }
            Ok(Exit::Success)
        }
        CustodianCommand::Add { vkey } => {
            let verifier = read_vkey(&vkey, "custodian add")?;
            if verifier.kind() != crate::custody::note::KeyKind::Ed25519 {
                return Err(Error::Input(format!(
                    "custodian add {vkey:?}: a custodian's key is an Ed25519 note-signing key (as `runsheet custodian init` makes), not a witness's cosigner key"
                )));
            }
            let mut store = ctx.open_existing_store()?;
            let actor = ctx.recorded_actor();
            let e = store.add_custodian(&verifier, &actor, Utc::now())?;
            if ctx.global.json {
                super::print_json(&CustodianJson {
                    seq: e.seq,
                    vkey: verifier.to_vkey(),
                })?;
                return Ok(Exit::Success);
            }
            outln!(
                "Registered custodian {} (seq {}): redactions signed with its key now verify",
                verifier.to_vkey(),
                e.seq
            )?;
            Ok(Exit::Success)
        }
        CustodianCommand::List => {
            let list = ctx.read_log(|store| Ok(store.custodians()?))?;
            if ctx.global.json {
                super::print_json(&CustodiansJson {
                    custodians: list
                        .iter()
                        .map(|(seq, vkey)| CustodianJson {
                            seq: *seq,
                            vkey: vkey.clone(),
                        })
                        .collect(),
                })?;
            } else if list.is_empty() {
                outln!("No custodian is registered in this log (`runsheet custodian add VKEY`).")?;
            } else {
                for (seq, vkey) in &list {
                    outln!("seq {seq}\t{vkey}")?;
                }
            }
            Ok(Exit::Success)
        }
    }
}

fn load_custodian(path: Option<&Path>) -> Result<Signer> {
    let Some(path) = path else {
        return Err(Error::Input(
            "a redaction is signed by a custodian: pass --custodian-key FILE (or set RUNSHEET_CUSTODIAN_KEY), a key made with `runsheet custodian init` and registered with `runsheet custodian add`".into(),
        ));
    };
    key::load_signer(path).map_err(|e| Error::Input(format!("--custodian-key: {e}")))
}

/// One content a `redact --due` erases, and why.
struct Due {
    held: HeldContent,
    reason: String,
}

pub(super) fn redact_cmd(ctx: &Context, a: cli::RedactArgs) -> Result<Exit> {
    match (a.due, a.seq, a.reason.as_deref()) {
        (true, ..) => redact_due(ctx, a.dry_run, a.custodian_key.as_deref()),
        (false, Some(seq), Some(reason)) => {
            let custodian = load_custodian(a.custodian_key.as_deref())?;
            let mut store = ctx.open_existing_store()?;
            let e = store.redact(seq, reason, &custodian, &ctx.recorded_actor(), Utc::now())?;
            outln!(
                "Redacted the content of seq {seq}: recorded as seq {}, signed by custodian {}",
                e.seq,
                custodian.verifier().to_vkey()
            )?;
            Ok(Exit::Success)
        }
        _ => Err(Error::Input(
            "redact needs --seq N --reason TEXT, or --due".into(),
        )),
    }
}

/// `redact --due [--dry-run]`: list, or erase, what is past its retention.
fn redact_due(ctx: &Context, dry_run: bool, key: Option<&Path>) -> Result<Exit> {
    let db = ctx.db_path()?;
    // The key first: a redaction that cannot be signed erases nothing.
    let custodian = (!dry_run).then(|| load_custodian(key)).transpose()?;
    let now = Utc::now();
    let due = ctx.read_log(|store| due_contents(store, &db, now))?;
    let Some(custodian) = custodian.filter(|_| !due.is_empty()) else {
        for d in &due {
            outln!(
                "seq {}\t{}\trun {}\t{}",
                d.held.seq,
                d.held.kind,
                d.held.run_id,
                d.reason
            )?;
        }
        let dry = if due.is_empty() {
            ""
        } else {
            " (dry run: nothing was erased)"
        };
        outln!(
            "{} content(s) past their procedure's retention{dry}",
            due.len()
        )?;
        return Ok(Exit::Success);
    };
    let actor = ctx.recorded_actor();
    let mut store = ctx.open_existing_store()?;
    for (i, d) in due.iter().enumerate() {
        match store.redact(d.held.seq, &d.reason, &custodian, &actor, now) {
            Ok(e) => outln!(
                "seq {}\t{}\tredacted as seq {}",
                d.held.seq,
                d.held.kind,
                e.seq
            )?,
            Err(e) => {
                crate::errln!("runsheet: {i} of {} redacted before this failed", due.len());
                return Err(e.into());
            }
        }
    }
    outln!(
        "Redacted {} content(s) past their procedure's retention",
        due.len()
    )?;
    Ok(Exit::Success)
}

/// Every held content of an ended run whose procedure (as the run used it)
/// keeps content fewer days than have passed since the run ended.
fn due_contents(
    store: &crate::store::Store,
    db: &Path,
    now: chrono::DateTime<Utc>,
) -> Result<Vec<Due>> {
    let mut retention: HashMap<String, Option<u32>> = HashMap::new();
    let mut due = Vec::new();
    let mut runs = store.runs(&RunQuery::default())?;
    runs.reverse(); // oldest first
    for row in runs {
        let Some(ended) = row.ended_at else { continue };
        let days = match retention.get(&row.procedure_sha256) {
            Some(d) => *d,
            None => {
                let d = stored_procedure(store, &row, db)?
                    .procedure
                    .content_retention_days;
                retention.insert(row.procedure_sha256.clone(), d);
                d
            }
        };
        let Some(days) = days else { continue };
        if ended + Duration::days(i64::from(days)) > now {
            continue;
        }
        for held in store.held_contents(row.id)? {
            due.push(Due {
                held,
                reason: format!(
                    "retention: procedure {} v{} keeps run content {days} days after the run ended ({})",
                    row.procedure_id,
                    row.procedure_version,
                    crate::store::time_text(ended)
                ),
            });
        }
    }
    Ok(due)
}
