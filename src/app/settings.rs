//! The settings of one invocation and where each came from (`runsheet
//! config`, like `git config --show-origin`): a flag, its environment
//! variable, the configuration file, or runsheet's default; and the
//! configuration file's values put where no flag or variable gave one.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Serialize;

use super::Context;
use crate::cli::{Cli, Command as Cmd};
use crate::config::Config;
use crate::error::{Exit, Result};
use crate::outln;

/// One setting: its name (the configuration file's key), its value (none:
/// unset) and where that came from.
#[derive(Debug, Clone)]
pub struct Setting {
    pub name: &'static str,
    pub value: Option<String>,
    pub origin: String,
}

/// Where a value came from, in words.
fn origin(
    cli: &Cli,
    id: &str,
    flag: &str,
    var: &str,
    from_file: Option<String>,
    default: &str,
) -> String {
    if cli.sources.flag(id) {
        format!("flag {flag}")
    } else if cli.sources.env(id) || std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
        format!("environment {var}")
    } else if let Some(place) = from_file {
        format!("config {place}")
    } else {
        format!("default: {default}")
    }
}

/// The settings as this invocation sees them, before the configuration file
/// is applied (so a value's origin can still be told apart).
pub fn effective(cli: &Cli, config: Option<&Config>) -> Vec<Setting> {
    let file = config.map(|c| &c.file);
    let place = |v: Option<&toml::Spanned<PathBuf>>| config.zip(v).map(|(c, v)| c.place(v));
    let path_value = |flag: &Option<PathBuf>, v: Option<&toml::Spanned<PathBuf>>| {
        flag.clone()
            .or_else(|| v.map(|v| v.get_ref().clone()))
            .map(|p| p.display().to_string())
    };
    let g = &cli.global;
    let (cmd_operator, cmd_signers) = match &cli.command {
        Cmd::Run(a) => (a.operator.clone(), a.allowed_signers.clone()),
        Cmd::Resume(a) => (a.operator.clone(), a.allowed_signers.clone()),
        Cmd::SignOff(a) => (None, a.allowed_signers.clone()),
        Cmd::Approve(a) => (None, a.proof.allowed_signers.clone()),
        Cmd::Review(a) => (None, a.proof.allowed_signers.clone()),
        _ => (None, None),
    };
    let env_text = |var: &str| std::env::var(var).ok().filter(|v| !v.is_empty());
    let db = file.and_then(|f| f.db.as_ref());
    let procedures = file.and_then(|f| f.procedures.as_ref());
    let key_file = file.and_then(|f| f.key_file.as_ref());
    let signers = file.and_then(|f| f.allowed_signers.as_ref());
    let operator = file.and_then(|f| f.operator.as_ref());
    let busy = file.and_then(|f| f.busy_timeout_ms.as_ref());
    let unapproved = file.and_then(|f| f.unapproved.as_ref());
    vec![
        Setting {
            name: "operator",
            value: cmd_operator
                .or_else(|| env_text("RUNSHEET_OPERATOR"))
                .or_else(|| operator.map(|v| v.get_ref().clone())),
            origin: origin(
                cli,
                "operator",
                "--operator",
                "RUNSHEET_OPERATOR",
                config.zip(operator).map(|(c, v)| c.place(v)),
                "none (runs record your OS user only)",
            ),
        },
        Setting {
            name: "db",
            value: path_value(&g.db, db)
                .or_else(|| crate::store::Store::default_path().map(|p| p.display().to_string())),
            origin: origin(
                cli,
                "db",
                "--db",
                "RUNSHEET_DB",
                place(db),
                "the platform data directory",
            ),
        },
        Setting {
            name: "procedures",
            value: path_value(&g.procedures, procedures),
            origin: origin(
                cli,
                "procedures",
                "--procedures",
                "RUNSHEET_PROCEDURES",
                place(procedures),
                "./procedures if it exists, else the platform config directory",
            ),
        },
        Setting {
            name: "key_file",
            value: path_value(&g.key_file, key_file),
            origin: origin(
                cli,
                "key_file",
                "--key-file",
                "RUNSHEET_KEY_FILE",
                place(key_file),
                "the log's path with .key added",
            ),
        },
        Setting {
            name: "allowed_signers",
            value: cmd_signers
                .or_else(|| env_text("RUNSHEET_ALLOWED_SIGNERS").map(PathBuf::from))
                .or_else(|| signers.map(|v| v.get_ref().clone()))
                .map(|p| p.display().to_string()),
            origin: origin(
                cli,
                "allowed_signers",
                "--allowed-signers",
                "RUNSHEET_ALLOWED_SIGNERS",
                place(signers),
                "allowed_signers in the procedures folder",
            ),
        },
        Setting {
            name: "busy_timeout_ms",
            value: Some(
                crate::store::busy_timeout_setting()
                    .ok()
                    .flatten()
                    .map(|d| d.as_millis().to_string())
                    .or_else(|| busy.map(|v| v.get_ref().to_string()))
                    .unwrap_or_else(|| {
                        crate::store::Store::DEFAULT_BUSY_TIMEOUT
                            .as_millis()
                            .to_string()
                    }),
            ),
            origin: origin(
                cli,
                "busy_timeout_ms",
                "(none)",
                crate::store::BUSY_TIMEOUT_ENV,
                config.zip(busy).map(|(c, v)| c.place(v)),
                "5000",
            ),
        },
        Setting {
            name: "unapproved",
            value: Some(
                env_text(super::approve::UNAPPROVED_ENV)
                    .or_else(|| unapproved.map(|v| v.get_ref().clone()))
                    .unwrap_or_else(|| "warn".into()),
            ),
            origin: origin(
                cli,
                "unapproved",
                "(none)",
                super::approve::UNAPPROVED_ENV,
                config.zip(unapproved).map(|(c, v)| c.place(v)),
                "warn",
            ),
        },
        Setting {
            name: "config",
            value: config.map(|c| c.path.display().to_string()).or_else(|| {
                crate::config::default_path().map(|p| format!("{} (not there)", p.display()))
            }),
            origin: if cli.sources.flag("config") {
                "flag --config".into()
            } else if config.is_some_and(|c| c.explicit) {
                format!("environment {}", crate::config::CONFIG_ENV)
            } else {
                "default: runsheet/config.toml in the platform config directory".into()
            },
        },
    ]
}

/// Put the configuration file's values where no flag or variable gave one.
pub fn apply(cli: &mut Cli, config: Option<&Config>) {
    let Some(c) = config else {
        return;
    };
    let f = &c.file;
    let path = |v: &Option<toml::Spanned<PathBuf>>| v.as_ref().map(|v| v.get_ref().clone());
    let g = &mut cli.global;
    g.db = g.db.take().or_else(|| path(&f.db));
    g.procedures = g.procedures.take().or_else(|| path(&f.procedures));
    g.key_file = g.key_file.take().or_else(|| path(&f.key_file));
    let operator = f.operator.as_ref().map(|v| v.get_ref().clone());
    let signers = path(&f.allowed_signers);
    match &mut cli.command {
        Cmd::Run(a) => {
            a.operator = a.operator.take().or(operator);
            a.allowed_signers = a.allowed_signers.take().or(signers);
        }
        Cmd::Resume(a) => {
            a.operator = a.operator.take().or(operator);
            a.allowed_signers = a.allowed_signers.take().or(signers);
        }
        Cmd::SignOff(a) => a.allowed_signers = a.allowed_signers.take().or(signers),
        Cmd::Approve(a) => a.proof.allowed_signers = a.proof.allowed_signers.take().or(signers),
        Cmd::Review(a) => a.proof.allowed_signers = a.proof.allowed_signers.take().or(signers),
        _ => {}
    }
}

/// `runsheet config --json` (docs/json.md).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConfigJson {
    pub settings: Vec<SettingJson>,
}

/// A setting in `config --json`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SettingJson {
    /// The setting's name, as in the configuration file.
    pub setting: String,
    /// The effective value (`(none)` when nothing gave one and there is no default).
    pub value: String,
    /// Where it came from: a flag, an environment variable, `FILE:LINE:COLUMN`, or `default`.
    pub origin: String,
}

/// `runsheet config`: each setting, its value and where it came from.
pub fn config_cmd(ctx: &Context, settings: &[Setting]) -> Result<Exit> {
    if ctx.global.json {
        super::print_json(&ConfigJson {
            settings: settings
                .iter()
                .map(|s| SettingJson {
                    setting: s.name.to_string(),
                    value: s
                        .value
                        .clone()
                        .unwrap_or_else(|| default_value(ctx, s.name)),
                    origin: s.origin.clone(),
                })
                .collect(),
        })?;
        return Ok(Exit::Success);
    }
    let rows: Vec<(&str, String, &str)> = settings
        .iter()
        .map(|s| {
            (
                s.name,
                s.value
                    .clone()
                    .unwrap_or_else(|| default_value(ctx, s.name)),
                s.origin.as_str(),
            )
        })
        .collect();
    let name_w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let value_w = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    for (name, value, origin) in rows {
        outln!("{name:<name_w$}  {value:<value_w$}  ({origin})")?;
    }
    Ok(Exit::Success)
}

/// What runsheet uses for a setting nothing gave.
fn default_value(ctx: &Context, name: &str) -> String {
    let path = match name {
        "procedures" => Some(ctx.procedures_dir()),
        "key_file" => ctx
            .db_path()
            .ok()
            .map(|db| crate::store::default_key_path(&db)),
        "allowed_signers" => Some(ctx.procedures_dir().join("allowed_signers")),
        _ => None,
    };
    path.map_or_else(|| "(none)".into(), |p| p.display().to_string())
}
