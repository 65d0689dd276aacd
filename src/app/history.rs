//! `runsheet history ID` and `runsheet diff ID [FROM] [TO]`: a procedure's
//! versions from the evidence log (opened read-only) and the procedures
//! folder's file, and what changed between two of them.
//!
//! Used only by `app`. The rules are elsewhere: which versions the log holds
//! in `report::versions`, the comparison in `procedure::diff`, its words in
//! `procedure::render`.

use std::path::PathBuf;

use super::{Context, print_json, test_data_notice, write_new_file};
use crate::cli::{self, DiffFormat};
use crate::error::{Error, Exit, Result};
use crate::out;
use crate::procedure::Procedure;
use crate::procedure::diff::{Comparison, Side};
use crate::procedure::parse::{self, Source};
use crate::procedure::render;
use crate::report::versions::{self, CurrentJson, Logged};
use crate::store::Store;

/// The procedures folder's file of a procedure, as read.
struct Current {
    path: PathBuf,
    source: Source,
    /// Parsed, or why not.
    parsed: std::result::Result<Procedure, String>,
}

/// The file `name` names in the procedures folder (an id, a file name or a
/// path), or why there is none (the resolver's words: the ids it knows).
fn current_file(ctx: &Context, name: &str) -> std::result::Result<Current, String> {
    let path = parse::resolve(name, &ctx.procedures_dir()).map_err(|e| e.to_string())?;
    let source = Source::read(&path).map_err(|d| d.to_string())?;
    let parsed = parse::parse(source.clone())
        .map(|l| l.procedure)
        .map_err(|d| d.to_string());
    Ok(Current {
        path,
        source,
        parsed,
    })
}

/// The procedure's id: the file's, when it names one, else as given.
fn procedure_id(name: &str, current: Option<&Current>) -> String {
    current
        .and_then(|c| c.parsed.as_ref().ok())
        .map_or_else(|| name.to_string(), |p| p.id.clone())
}

/// Neither the folder nor the log knows the procedure.
fn unknown(id: &str, why: Option<&str>) -> Error {
    Error::Input(format!(
        "{}\n  and the evidence log holds no run or approval of `{id}`",
        why.unwrap_or("no such procedure")
    ))
}

pub(super) fn history_cmd(ctx: &Context, a: cli::HistoryArgs) -> Result<Exit> {
    let current = current_file(ctx, &a.procedure);
    let id = procedure_id(&a.procedure, current.as_ref().ok());
    let (logged, test_data) = ctx.read_checked(|store| Ok(versions::logged(store, &id)?))?;
    if logged.is_empty() && current.is_err() {
        return Err(unknown(&id, current.as_ref().err().map(String::as_str)));
    }
    let current = current.ok().map(|c| {
        let json = CurrentJson {
            path: c.path.display().to_string(),
            version: c.parsed.as_ref().ok().map(|p| p.version.clone()),
            sha256: c.source.sha256(),
            in_log: false,
            problem: c.parsed.as_ref().err().cloned(),
        };
        (json, c.parsed.ok().map(|p| p.title))
    });
    let history = versions::history(&id, &logged, current);
    test_data_notice(ctx, test_data)?;
    if ctx.global.json {
        print_json(&history)?;
    } else {
        out::text(&versions::history_text(&history))?;
    }
    Ok(Exit::Success)
}

/// FROM's word for the version before TO (its default).
const PREVIOUS: &str = "previous";

/// A version `diff` can compare: what it is, where it came from, and its
/// source text and format.
struct Candidate {
    version: String,
    sha256: String,
    origin: String,
    source: Option<(String, String)>,
}

/// The versions in the order the log first saw them, the current file's
/// last when the log does not hold it; and which one the file is.
fn candidates(logged: &[Logged], current: Option<&Current>) -> (Vec<Candidate>, Option<usize>) {
    let file_sha = current.map(|c| c.source.sha256());
    let mut out: Vec<Candidate> = logged
        .iter()
        .map(|v| {
            let plural = |n: usize, word: &str| match n {
                1 => format!("1 {word}"),
                n => format!("{n} {word}s"),
            };
            let mut what = Vec::new();
            // As `history` counts them: runs and drills apart.
            if v.runs > 0 {
                what.push(plural(usize::try_from(v.runs).unwrap_or(usize::MAX), "run"));
            }
            if v.drills > 0 {
                what.push(plural(
                    usize::try_from(v.drills).unwrap_or(usize::MAX),
                    "drill",
                ));
            }
            if !v.approvals.is_empty() {
                what.push(plural(v.approvals.len(), "approval"));
            }
            let mut origin = format!("the evidence log ({})", what.join(", "));
            if let Some(c) = current.filter(|_| file_sha.as_deref() == Some(v.sha256.as_str())) {
                origin = format!("the file {}, and {origin}", c.path.display());
            }
            Candidate {
                version: v.version.clone(),
                sha256: v.sha256.clone(),
                origin,
                source: v.approved_source.clone(),
            }
        })
        .collect();
    let mut at = file_sha
        .as_deref()
        .and_then(|sha| out.iter().position(|c| c.sha256 == sha));
    if let (None, Some(c)) = (at, current) {
        out.push(Candidate {
            version: c
                .parsed
                .as_ref()
                .map_or_else(|_| "?".into(), |p| p.version.clone()),
            sha256: c.source.sha256(),
            origin: format!("the file {}", c.path.display()),
            source: Some((c.source.text.clone(), c.source.format.name().to_string())),
        });
        at = Some(out.len() - 1);
    }
    (out, at)
}

/// The known versions in words, for an error: `1.1 (3f9c2a1b4d5e), 1.2 (…)`.
fn known(cands: &[Candidate]) -> String {
    cands
        .iter()
        .map(|c| {
            format!(
                "{} ({})",
                c.version,
                c.sha256.get(..12).unwrap_or(&c.sha256)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The candidate a FROM or TO names.
fn pick(
    store: &Store,
    id: &str,
    sel: &str,
    cands: &[Candidate],
    current: Option<usize>,
    folder: &str,
) -> Result<usize> {
    if sel == "current" {
        return current.ok_or_else(|| {
            Error::Input(format!(
                "`current` is the procedure's file in the procedures folder, and {folder} has no file of `{id}`; name a version the log holds: {}",
                known(cands)
            ))
        });
    }
    if let Some(prefix) = sel.strip_prefix("run:") {
        let row = store.find_run(prefix)?;
        if row.procedure_id != id {
            return Err(Error::Input(format!(
                "run {} is a run of `{}`, not of `{id}`",
                row.id, row.procedure_id
            )));
        }
        return cands
            .iter()
            .position(|c| c.sha256 == row.procedure_sha256)
            .ok_or_else(|| Error::Internal(format!("run {} has no version", row.id)));
    }
    let by_version: Vec<usize> = (0..cands.len())
        .filter(|&i| cands[i].version == sel)
        .collect();
    let hex = sel.len() >= 4 && sel.chars().all(|c| c.is_ascii_hexdigit());
    let by_hash: Vec<usize> = (0..cands.len())
        .filter(|&i| hex && cands[i].sha256.starts_with(&sel.to_ascii_lowercase()))
        .collect();
    let found = if by_version.is_empty() {
        by_hash
    } else {
        by_version
    };
    match found.as_slice() {
        [i] => Ok(*i),
        [] => Err(Error::Input(format!(
            "no version `{sel}` of `{id}` in the evidence log or the procedures folder; name a version (`1.2`), a start of its SHA-256, `current` or `run:RUN-ID`. The versions: {}",
            known(cands)
        ))),
        many => Err(Error::Input(format!(
            "`{sel}` names {} versions of `{id}`: {}; name one by a longer start of its SHA-256",
            many.len(),
            many.iter()
                .map(|&i| format!(
                    "{} ({})",
                    cands[i].version,
                    cands[i].sha256.get(..12).unwrap_or(&cands[i].sha256)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A candidate's procedure: parsed from the file, the approval's copy or
/// the run's stored source.
fn load(store: &Store, c: &Candidate) -> Result<Procedure> {
    let source = match &c.source {
        Some(s) => Some(s.clone()),
        None => store.procedure_source(&c.sha256)?,
    };
    let (text, format) = source.ok_or_else(|| {
        Error::Input(format!(
            "the evidence log holds no source text of version {} ({}): a review names it, but no run or approval kept it",
            c.version, c.sha256
        ))
    })?;
    parse::stored(&c.sha256, text, &format)
        .map(|l| l.procedure)
        .map_err(|d| {
            Error::Input(format!(
                "version {} ({}) from {} does not parse: {d}",
                c.version, c.sha256, c.origin
            ))
        })
}

pub(super) fn diff_cmd(ctx: &Context, a: cli::DiffArgs) -> Result<Exit> {
    if ctx.global.json && (a.format != DiffFormat::Text || a.out.is_some()) {
        return Err(Error::Usage(
            "--json prints the comparison as JSON on standard output; leave out --format and --out, or --json".into(),
        ));
    }
    let (comparison, test_data) = compare(ctx, &a.procedure, a.from.as_ref(), a.to.as_ref())?;
    test_data_notice(ctx, test_data)?;
    if ctx.global.json {
        print_json(&comparison)?;
        return Ok(Exit::Success);
    }
    let text = written(&comparison, a.format);
    match a.out {
        Some(path) => write_new_file(&path, text.as_bytes())?,
        None => out::text(&text)?,
    }
    Ok(Exit::Success)
}

/// `render PROCEDURE --diff FROM`: the change record from FROM to the file,
/// as Markdown or HTML (the same comparison and words as `diff`).
pub(super) fn render_diff(
    ctx: &Context,
    procedure: &str,
    from: &String,
    format: DiffFormat,
) -> Result<String> {
    let (comparison, test_data) = compare(ctx, procedure, Some(from), None)?;
    test_data_notice(ctx, test_data)?;
    Ok(written(&comparison, format))
}

/// The change record in `format`, as `diff` and `render --diff` write it.
fn written(comparison: &Comparison, format: DiffFormat) -> String {
    match format {
        DiffFormat::Text => render::diff_text(comparison),
        DiffFormat::Markdown => render::diff_markdown(comparison),
        DiffFormat::Html => render::diff_html(comparison),
    }
}

/// The comparison of FROM and TO (selectors as `diff` takes them; TO
/// defaults to the file, FROM to the version before TO), read from the log
/// opened read-only; and whether the log is test data.
fn compare(
    ctx: &Context,
    procedure: &str,
    from_sel: Option<&String>,
    to_sel: Option<&String>,
) -> Result<(Comparison, bool)> {
    let current = current_file(ctx, procedure);
    let id = procedure_id(procedure, current.as_ref().ok());
    let folder = ctx.procedures_dir().display().to_string();
    ctx.read_checked(|store| {
        let logged = versions::logged(store, &id)?;
        if logged.is_empty() && current.is_err() {
            return Err(unknown(&id, current.as_ref().err().map(String::as_str)));
        }
        let file = current.as_ref().ok();
        let (cands, at) = candidates(&logged, file);
        let to = match to_sel {
            Some(sel) => pick(store, &id, sel, &cands, at, &folder)?,
            None => at.unwrap_or(cands.len().saturating_sub(1)),
        };
        let from = match from_sel.map(String::as_str) {
            Some(sel) if sel != PREVIOUS => pick(store, &id, sel, &cands, at, &folder)?,
            _ => to.checked_sub(1).ok_or_else(|| {
                Error::Input(format!(
                    "{} ({}) is the first version of `{id}` the log knows: there is none before it; name FROM (the versions: {})",
                    cands[to].version,
                    cands[to].sha256.get(..12).unwrap_or(&cands[to].sha256),
                    known(&cands)
                ))
            })?,
        };
        let side = |i: usize, sel: Option<&String>| {
            let c = &cands[i];
            let origin = match sel.and_then(|s| s.strip_prefix("run:")) {
                Some(run) => format!("the evidence log (run {run})"),
                None => c.origin.clone(),
            };
            Side {
                version: c.version.clone(),
                sha256: c.sha256.clone(),
                origin,
            }
        };
        Ok(Comparison::new(
            &load(store, &cands[from])?,
            side(from, from_sel),
            &load(store, &cands[to])?,
            side(to, to_sel),
        ))
    })
}
