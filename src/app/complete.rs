//! Shell completion that knows the procedures and the runs: the shell asks
//! the binary (`COMPLETE=bash runsheet -- runsheet run b<TAB>`), which offers
//! the procedure ids of the procedures folder for `run`, `render`, `history`
//! and `diff`, the open runs for `resume` and `sign-off`, every run for
//! `show`, and from clap the commands (never a hidden one), options and their values.
//! `runsheet completions SHELL` prints the script that registers it.
//!
//! The folder and the log are the ones the command line being completed
//! would use (its `--procedures`, `--db` and `--config`, then the
//! environment, the config file and the defaults). The log is only read
//! (opened read-only, as every read command does); a missing or damaged
//! one offers nothing. May not depend on the front ends.

use std::ffi::{OsStr, OsString};

use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};

use super::Context;

/// The variable the shell scripts set to ask for completions.
const VAR: &str = "COMPLETE";

/// At most this many runs are offered (newest first).
const MAX_RUNS: usize = 50;

/// Answer the shell when it asks for completions, then exit; otherwise
/// return at once. Call before anything is written to stdout.
pub fn answer_shell() {
    clap_complete::CompleteEnv::with_factory(command)
        .var(VAR)
        .completer("runsheet")
        .complete();
}

/// The registration script for `shell` (`runsheet completions SHELL`).
pub fn registration(shell: clap_complete::Shell) -> std::io::Result<Vec<u8>> {
    use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};
    let completer: &dyn EnvCompleter = match shell {
        clap_complete::Shell::Bash => &Bash,
        clap_complete::Shell::Zsh => &Zsh,
        clap_complete::Shell::Fish => &Fish,
        clap_complete::Shell::Elvish => &Elvish,
        _ => &Powershell,
    };
    let mut buf = Vec::new();
    completer.write_registration(VAR, "runsheet", "runsheet", "runsheet", &mut buf)?;
    Ok(buf)
}

/// The command with the completers of its procedure and run arguments.
fn command() -> clap::Command {
    let procedures = || ArgValueCompleter::new(procedure_ids);
    crate::cli::command()
        .mut_subcommand("run", |s| s.mut_arg("procedure", |a| a.add(procedures())))
        .mut_subcommand("render", |s| {
            s.mut_arg("procedure", |a| a.add(procedures()))
        })
        .mut_subcommand("history", |s| {
            s.mut_arg("procedure", |a| a.add(procedures()))
        })
        .mut_subcommand("diff", |s| s.mut_arg("procedure", |a| a.add(procedures())))
        .mut_subcommand("resume", |s| {
            s.mut_arg("run_id", |a| a.add(ArgValueCompleter::new(open_runs)))
        })
        .mut_subcommand("sign-off", |s| {
            s.mut_arg("run_id", |a| a.add(ArgValueCompleter::new(open_runs)))
        })
        .mut_subcommand("show", |s| {
            s.mut_arg("run_id", |a| a.add(ArgValueCompleter::new(all_runs)))
        })
}

/// The settings of the command line being completed: its global options
/// (the words after `--` in the process's arguments), the environment and
/// the config file, as a real run of it would have them.
fn context() -> Option<Context> {
    let words: Vec<OsString> = std::env::args_os()
        .skip_while(|a| a != "--")
        .skip(1)
        .collect();
    let mut args: Vec<OsString> = vec!["runsheet".into()];
    let mut it = words.iter().skip(1);
    while let Some(w) = it.next() {
        let text = w.to_string_lossy();
        for flag in ["--db", "--procedures", "--config"] {
            if text == flag {
                if let Some(v) = it.clone().next() {
                    args.push(w.clone());
                    args.push(v.clone());
                }
            } else if text.starts_with(&format!("{flag}=")) {
                args.push(w.clone());
            }
        }
    }
    args.push("config".into());
    let mut cli = crate::cli::parse_from(args, &|name| {
        std::env::var_os(name).is_some_and(|v| v.is_empty())
    })
    .ok()?;
    let config = crate::config::Config::load(cli.global.config.as_deref()).ok()?;
    super::settings::apply(&mut cli, config.as_ref());
    Some(Context::new(cli.global))
}

/// The ids of the procedures in the folder, with their titles.
fn procedure_ids(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(ctx) = context() else {
        return Vec::new();
    };
    let typed = current.to_string_lossy();
    let Ok((found, _)) = ctx.read_procedures(false) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = found
        .into_iter()
        .map(|(_, p)| (p.id, p.title))
        .filter(|(id, _)| id.starts_with(typed.as_ref()))
        .collect();
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out.into_iter()
        .map(|(id, title)| {
            CompletionCandidate::new(id).help(Some(crate::text::sanitize_line(&title).into()))
        })
        .collect()
}

fn open_runs(current: &OsStr) -> Vec<CompletionCandidate> {
    runs(current, true)
}

fn all_runs(current: &OsStr) -> Vec<CompletionCandidate> {
    runs(current, false)
}

/// Run ids starting with what was typed, newest first, each with its
/// procedure and start time.
fn runs(current: &OsStr, open_only: bool) -> Vec<CompletionCandidate> {
    let Some(ctx) = context() else {
        return Vec::new();
    };
    let typed = current.to_string_lossy();
    let found = ctx.read_log(|store| Ok(store.run_ids_starting(&typed, open_only, MAX_RUNS)?));
    found
        .unwrap_or_default()
        .into_iter()
        .map(|(id, procedure, started, open)| {
            let state = if open { ", open" } else { "" };
            let help =
                crate::text::sanitize_line(&format!("{procedure}, started {started}{state}"));
            CompletionCandidate::new(id).help(Some(help.into()))
        })
        .collect()
}
