//! The one place that wires paths, store, engine, front ends and exports to the CLI.
//!
//! May be used only by `main.rs`. Holds no rules of its own: it resolves paths
//! and identity, opens the log, and hands work to the layers below.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, Utc};
use clap::CommandFactory;

use crate::cli::{self, Cli, Command as Cmd, GlobalArgs};
use crate::engine::{self, Event, Meta, Outcome, Run, StartInfo};
use crate::error::{Error, Result, code};
use crate::procedure::lint::{self, Severity};
use crate::procedure::parse::{self, Loaded, Source};
use crate::procedure::{render, template};
use crate::session::{Session, StoreSink, SystemClock, new_event};
use crate::store::{NewEvent, NewRun, RunQuery, RunRow, Store};

/// Run one CLI invocation; returns the exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let ctx = Context::new(cli.global);
    match cli.command {
        Cmd::Lint(a) => lint_cmd(&ctx, a),
        Cmd::List => list_cmd(&ctx),
        Cmd::Render(a) => render_cmd(&ctx, a),
        Cmd::New(a) => new_cmd(&ctx, a),
        Cmd::Schema => {
            print!("{}", parse::json_schema());
            Ok(code::OK)
        }
        Cmd::Run(a) => run_cmd(&ctx, a),
        Cmd::Resume(a) => resume_cmd(&ctx, a),
        Cmd::Runs(a) => runs_cmd(&ctx, a),
        Cmd::Show(a) => show_cmd(&ctx, a),
        Cmd::Verify(a) => verify_cmd(&ctx, a),
        Cmd::Checkpoint(a) => checkpoint_cmd(&ctx, a),
        Cmd::Export(_) | Cmd::VerifyBundle(_) | Cmd::Status(_) | Cmd::GenerateLog(_) => Err(
            Error::Input("this command is not available in this build yet".into()),
        ),
        Cmd::Completions(a) => {
            let mut cmd = Cli::command();
            clap_complete::generate(a.shell, &mut cmd, "runsheet", &mut std::io::stdout());
            Ok(code::OK)
        }
        Cmd::Man => {
            let man = clap_mangen::Man::new(Cli::command());
            let mut out = Vec::new();
            man.render(&mut out)
                .map_err(|e| Error::Internal(format!("man page: {e}")))?;
            std::io::stdout()
                .write_all(&out)
                .map_err(|e| Error::io("<stdout>", &e))?;
            Ok(code::OK)
        }
    }
}

/// Paths, identity and output settings for one invocation.
struct Context {
    global: GlobalArgs,
    color: bool,
    today: NaiveDate,
}

impl Context {
    fn new(global: GlobalArgs) -> Context {
        let color = !global.no_color
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stdout().is_terminal();
        Context {
            global,
            color,
            today: Utc::now().date_naive(),
        }
    }

    /// `--procedures`, `RUNSHEET_PROCEDURES`, `./procedures`, then the platform config dir.
    fn procedures_dir(&self) -> PathBuf {
        if let Some(p) = &self.global.procedures {
            return p.clone();
        }
        let local = PathBuf::from("procedures");
        if local.is_dir() {
            return local;
        }
        directories::ProjectDirs::from("", "", "runsheet")
            .map(|d| d.config_dir().join("procedures"))
            .unwrap_or(local)
    }

    /// `--db`, `RUNSHEET_DB`, then the platform data dir.
    fn db_path(&self) -> Result<PathBuf> {
        if let Some(p) = &self.global.db {
            return Ok(p.clone());
        }
        Store::default_path().ok_or_else(|| {
            Error::Input(
                "cannot find a data directory for the evidence log (no HOME?); pass --db PATH or set RUNSHEET_DB".into(),
            )
        })
    }

    fn open_store(&self) -> Result<Store> {
        let path = self.db_path()?;
        Ok(Store::open(&path)?)
    }

    fn open_existing_store(&self) -> Result<Store> {
        let path = self.db_path()?;
        Ok(Store::open_existing(&path)?)
    }
}

/// The operator as recorded: OS user, with the display name if given.
fn operator_identity(display: Option<&str>) -> (String, Option<String>, String) {
    let user = whoami::username().unwrap_or_else(|_| "unknown".into());
    let name = display
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from);
    let actor = match &name {
        Some(n) => format!("{n} ({user})"),
        None => user.clone(),
    };
    (user, name, actor)
}

fn host_name() -> String {
    whoami::hostname().unwrap_or_else(|_| "unknown".into())
}

// ---------------------------------------------------------------- procedures

fn lint_cmd(ctx: &Context, a: cli::LintArgs) -> Result<i32> {
    let paths = if a.paths.is_empty() {
        vec![ctx.procedures_dir()]
    } else {
        a.paths
    };
    let report = lint::lint_paths(&paths, ctx.today)?;
    if ctx.global.json {
        println!("{}", pretty(&report.to_json()));
    } else {
        print!("{}", report.render_text());
    }
    let failed = report.errors() > 0 || (a.strict && report.warnings() > 0);
    Ok(if failed { code::CHECK_FAILED } else { code::OK })
}

fn list_cmd(ctx: &Context) -> Result<i32> {
    let dir = ctx.procedures_dir();
    let mut entries = Vec::new();
    let mut broken = 0;
    for path in parse::procedure_files(&dir)? {
        match Source::read(&path).and_then(parse::parse) {
            Ok(loaded) => entries.push(render::ListEntry {
                path,
                procedure: loaded.procedure,
            }),
            Err(d) => {
                broken += 1;
                eprintln!("{d}");
            }
        }
    }
    if ctx.global.json {
        println!("{}", pretty(&render::list_json(&entries, ctx.today)));
    } else if entries.is_empty() {
        println!(
            "No procedures in {}. Create one with `runsheet new <id>`.",
            dir.display()
        );
    } else {
        print!("{}", render::list_table(&entries, ctx.today, ctx.color));
    }
    if broken > 0 {
        eprintln!("{broken} file(s) could not be read; run `runsheet lint` for details");
        return Ok(code::INPUT);
    }
    Ok(code::OK)
}

/// Find, parse and lint a procedure; lint errors refuse it.
fn load_procedure(ctx: &Context, name: &str) -> Result<Loaded> {
    let path = parse::resolve(name, &ctx.procedures_dir())?;
    let loaded = Source::read(&path)
        .and_then(parse::parse)
        .map_err(|d| Error::Input(d.to_string()))?;
    let errors: Vec<String> = lint::lint(&loaded, ctx.today)
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.to_string())
        .collect();
    if !errors.is_empty() {
        return Err(Error::Input(format!(
            "{} has {} lint error(s); fix them first:\n{}",
            path.display(),
            errors.len(),
            errors.join("\n")
        )));
    }
    Ok(loaded)
}

fn render_cmd(ctx: &Context, a: cli::RenderArgs) -> Result<i32> {
    let loaded = load_procedure(ctx, &a.procedure)?;
    let p = &loaded.procedure;
    let text = match a.format {
        cli::RenderFormat::Markdown => render::markdown(p),
        cli::RenderFormat::Mermaid => render::mermaid(p),
        cli::RenderFormat::Html => render::html(p),
    };
    match a.out {
        Some(path) => write_new_file(&path, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(code::OK)
}

fn new_cmd(ctx: &Context, a: cli::NewArgs) -> Result<i32> {
    let valid = !a.id.is_empty()
        && a.id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !a.id.starts_with('-');
    if !valid {
        return Err(Error::Input(format!(
            "`{}` is not a valid procedure id: use lower-case letters, digits and -, e.g. `vendor-review`",
            a.id
        )));
    }
    let path = a
        .out
        .unwrap_or_else(|| ctx.procedures_dir().join(format!("{}.toml", a.id)));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, &e))?;
    }
    write_new_file(&path, template::starter(&a.id, ctx.today).as_bytes())?;
    println!(
        "Wrote {}. Edit it, then check it with `runsheet lint {}`.",
        path.display(),
        path.display()
    );
    Ok(code::OK)
}

/// Write a file that must not exist yet (no silent overwrite).
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Io {
                    path: path.to_path_buf(),
                    message: "already exists; choose another path or remove it first".into(),
                }
            } else {
                Error::io(path, &e)
            }
        })?;
    f.write_all(bytes).map_err(|e| Error::io(path, &e))
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

// ---------------------------------------------------------------- runs

fn run_cmd(ctx: &Context, a: cli::RunArgs) -> Result<i32> {
    let loaded = load_procedure(ctx, &a.procedure)?;
    let mut store = ctx.open_store()?;
    let (user, name, actor) = operator_identity(a.operator.as_deref());
    let now = Utc::now();
    let sha = loaded.source.sha256();
    let host = host_name();
    let p = &loaded.procedure;
    let info = StartInfo {
        procedure_sha256: sha.clone(),
        operator: user.clone(),
        operator_name: name.clone(),
        host: host.clone(),
        runsheet_version: env!("CARGO_PKG_VERSION").into(),
        today: ctx.today,
    };
    let events = engine::start(p, &info);
    let run_id = uuid::Uuid::now_v7();
    let new_run = NewRun {
        id: run_id,
        procedure_id: p.id.clone(),
        procedure_version: p.version.clone(),
        procedure_title: p.title.clone(),
        procedure_controls: p.controls.clone(),
        source_text: loaded.source.text.clone(),
        source_format: match loaded.source.format {
            parse::Format::Toml => "toml".into(),
            parse::Format::Json => "json".into(),
        },
        source_path: loaded.source.path.display().to_string(),
        operator: user,
        operator_name: name,
        host,
        runsheet_version: env!("CARGO_PKG_VERSION").into(),
        started_at: now,
    };
    let meta = Meta {
        at: now,
        actor: actor.clone(),
    };
    let first: Vec<NewEvent> = events.iter().map(|e| new_event(&meta, e)).collect();
    store.create_run(&new_run, &first)?;
    let run = Run::replay(loaded.procedure.clone(), &events);
    let session = Session::new(
        run,
        run_id.to_string(),
        actor,
        Box::new(StoreSink::new(store, run_id)),
        Box::new(SystemClock),
    );
    front_end(ctx, session, a.plain, None, now)
}

fn resume_cmd(ctx: &Context, a: cli::ResumeArgs) -> Result<i32> {
    let db = ctx.db_path()?;
    let store = ctx.open_existing_store()?;
    let (user, _name, actor) = operator_identity(a.operator.as_deref());
    let row: RunRow = match &a.run_id {
        Some(prefix) => store.find_run(prefix)?,
        None => store.latest_open_run(&user)?.ok_or_else(|| {
            Error::Input(format!(
                "{user} has no open run in {}; see `runsheet runs --open`",
                db.display()
            ))
        })?,
    };
    if let Some(outcome) = &row.outcome {
        return Err(Error::Input(format!(
            "run {} has already ended ({outcome}); only open runs can be resumed",
            row.id
        )));
    }
    let (text, format) = store
        .procedure_source(&row.procedure_sha256)?
        .ok_or_else(|| Error::Store {
            path: db.clone(),
            message: format!(
                "the procedure source of run {} is missing; run `runsheet verify`",
                row.id
            ),
        })?;
    let fmt = if format == "json" {
        parse::Format::Json
    } else {
        parse::Format::Toml
    };
    let source = Source::from_text(
        PathBuf::from(format!(
            "<stored procedure {}>",
            &row.procedure_sha256[..12.min(row.procedure_sha256.len())]
        )),
        text,
        fmt,
    );
    let loaded = parse::parse(source).map_err(|d| Error::Input(d.to_string()))?;
    let stored = store.events(row.id)?;
    let mut events = Vec::with_capacity(stored.len());
    for ev in &stored {
        let Some(payload) = &ev.payload else {
            continue; // redacted payloads carry no state-changing content
        };
        events.push(Event::from_payload(payload).map_err(|e| Error::Store {
            path: db.clone(),
            message: format!("event {} of run {} cannot be read: {e}", ev.seq, row.id),
        })?);
    }
    let run = Run::replay(loaded.procedure.clone(), &events);
    let notice = changed_file_notice(ctx, &row);
    let session = Session::new(
        run,
        row.id.to_string(),
        actor,
        Box::new(StoreSink::new(store, row.id)),
        Box::new(SystemClock),
    );
    front_end(ctx, session, a.plain, notice, row.started_at)
}

/// Points out that the procedure file changed since the run started.
fn changed_file_notice(ctx: &Context, row: &RunRow) -> Option<String> {
    let path = parse::resolve(&row.procedure_id, &ctx.procedures_dir()).ok()?;
    let now = Source::read(&path).ok()?;
    (now.sha256() != row.procedure_sha256).then(|| {
        format!(
            "{} has changed since this run started; the run continues with the version it started with (v{})",
            path.display(),
            row.procedure_version
        )
    })
}

fn front_end(
    ctx: &Context,
    mut session: Session,
    plain: bool,
    notice: Option<String>,
    started_at: chrono::DateTime<Utc>,
) -> Result<i32> {
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let outcome = if plain || !tty {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut out = std::io::stdout();
        println!(
            "runsheet {} — run {}",
            crate::text::sanitize_line(&session.run().procedure.title),
            session.run_id()
        );
        if let Some(n) = &notice {
            println!("NOTE: {}", crate::text::sanitize_line(n));
        }
        match crate::plain::run(&mut session, &mut input, &mut out)
            .map_err(|e| Error::io("<terminal>", &e))?
        {
            crate::plain::PlainExit::Ended(o) => Some(o),
            crate::plain::PlainExit::Suspended => None,
        }
    } else {
        let opts = crate::tui::TuiOptions {
            color: ctx.color,
            notice,
            started_at: Some(started_at),
        };
        match crate::tui::run(&mut session, &opts)? {
            crate::tui::TuiExit::Ended(o) => Some(o),
            crate::tui::TuiExit::Suspended => {
                println!(
                    "Suspended. Continue with: runsheet resume {}",
                    session.run_id()
                );
                None
            }
        }
    };
    Ok(match outcome {
        None => code::SUSPENDED,
        Some(Outcome::Completed) => code::OK,
        Some(Outcome::Escalated) => code::ESCALATED,
        Some(Outcome::Failed) => code::FAILED,
        Some(Outcome::Aborted) => code::ABORTED,
    })
}

fn runs_cmd(ctx: &Context, a: cli::RunsArgs) -> Result<i32> {
    let store = ctx.open_existing_store()?;
    let mut q = run_query(&a.filter)?;
    if a.open {
        q.outcome = Some("open".into());
    }
    let rows = store.runs(&q)?;
    if ctx.global.json {
        let v: Vec<serde_json::Value> = rows.iter().map(run_json).collect();
        println!("{}", pretty(&serde_json::Value::Array(v)));
        return Ok(code::OK);
    }
    if rows.is_empty() {
        println!("No runs match.");
        return Ok(code::OK);
    }
    println!(
        "{:<36}  {:<26}  {:<10}  {:<17}  {:<16}  events",
        "run id", "procedure", "outcome", "started (UTC)", "operator"
    );
    for r in &rows {
        println!(
            "{:<36}  {:<26}  {:<10}  {:<17}  {:<16}  {}",
            r.id,
            crate::text::sanitize_line(&format!("{} v{}", r.procedure_id, r.procedure_version)),
            r.outcome.as_deref().unwrap_or("open"),
            r.started_at.format("%Y-%m-%d %H:%M"),
            crate::text::sanitize_line(r.operator_name.as_deref().unwrap_or(&r.operator)),
            r.event_count
        );
    }
    Ok(code::OK)
}

fn run_json(r: &RunRow) -> serde_json::Value {
    serde_json::json!({
        "id": r.id.to_string(),
        "procedure_id": r.procedure_id,
        "procedure_version": r.procedure_version,
        "procedure_title": r.procedure_title,
        "procedure_sha256": r.procedure_sha256,
        "controls": r.controls,
        "operator": r.operator,
        "operator_name": r.operator_name,
        "host": r.host,
        "started_at": r.started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "ended_at": r.ended_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        "outcome": r.outcome.as_deref().unwrap_or("open"),
        "events": r.event_count,
    })
}

fn parse_date(s: &str, flag: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        Error::Input(format!(
            "{flag} `{s}` is not a date; write it as YYYY-MM-DD, e.g. 2026-11-01"
        ))
    })
}

fn run_query(f: &cli::RunFilter) -> Result<RunQuery> {
    if let Some(s) = &f.status
        && !["open", "completed", "escalated", "failed", "aborted"].contains(&s.as_str())
    {
        return Err(Error::Input(format!(
            "--status `{s}` is not an outcome; use open, completed, escalated, failed or aborted"
        )));
    }
    Ok(RunQuery {
        procedure: f.procedure.clone(),
        outcome: f.status.clone(),
        operator: f.operator.clone(),
        since: f
            .since
            .as_deref()
            .map(|s| parse_date(s, "--since"))
            .transpose()?,
        until: f
            .until
            .as_deref()
            .map(|s| parse_date(s, "--until"))
            .transpose()?,
        control: f.control.clone(),
        ..RunQuery::default()
    })
}

fn show_cmd(ctx: &Context, a: cli::ShowArgs) -> Result<i32> {
    let store = ctx.open_existing_store()?;
    let row = store.find_run(&a.run_id)?;
    let events = store.events(row.id)?;
    if ctx.global.json {
        let evs: Vec<serde_json::Value> = events
            .iter()
            .map(|e| {
                serde_json::json!({
                    "seq": e.seq, "run_seq": e.run_seq,
                    "at": e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "actor": e.actor, "kind": e.kind, "step": e.step, "payload": e.payload,
                    "hash": e.hash,
                })
            })
            .collect();
        let mut v = run_json(&row);
        v["events"] = serde_json::Value::Array(evs);
        println!("{}", pretty(&v));
        return Ok(code::OK);
    }
    println!("Run {}", row.id);
    println!(
        "  procedure {} v{} ({}) sha256 {}",
        crate::text::sanitize_line(&row.procedure_id),
        crate::text::sanitize_line(&row.procedure_version),
        crate::text::sanitize_line(&row.procedure_title),
        row.procedure_sha256
    );
    println!(
        "  operator {} on {}; outcome {}",
        crate::text::sanitize_line(
            &row.operator_name
                .clone()
                .map(|n| format!("{n} ({})", row.operator))
                .unwrap_or(row.operator.clone())
        ),
        crate::text::sanitize_line(&row.host),
        row.outcome.as_deref().unwrap_or("open")
    );
    for e in &events {
        let detail = e
            .payload
            .as_ref()
            .map(|p| {
                let mut p = p.clone();
                if let Some(obj) = p.as_object_mut() {
                    obj.remove("kind");
                    obj.remove("step");
                    if let Some(o) = obj.get("output").and_then(|o| o.as_str())
                        && o.len() > 200
                    {
                        let cut: String = o.chars().take(200).collect();
                        obj.insert("output".into(), format!("{cut}…").into());
                    }
                }
                if p.as_object().is_some_and(|o| o.is_empty()) {
                    String::new()
                } else {
                    p.to_string()
                }
            })
            .unwrap_or_else(|| "[redacted]".into());
        println!(
            "  {}  #{:<4} {:<22} {:<20} {}",
            e.at.format("%Y-%m-%d %H:%M:%S"),
            e.run_seq,
            e.kind,
            crate::text::sanitize_line(e.step.as_deref().unwrap_or("")),
            crate::text::sanitize_line(&detail)
        );
    }
    Ok(code::OK)
}

fn verify_cmd(ctx: &Context, a: cli::VerifyArgs) -> Result<i32> {
    let store = ctx.open_existing_store()?;
    let report = match &a.checkpoint {
        None => store.verify(),
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, &e))?;
            let cp = crate::store::Checkpoint::from_json(&text)
                .map_err(|e| Error::Input(format!("{}: {e}", file.display())))?;
            store.verify_checkpoint(&cp)
        }
    }?;
    if ctx.global.json {
        println!(
            "{}",
            pretty(&serde_json::to_value(&report).unwrap_or_default())
        );
    } else {
        println!("{report}");
    }
    Ok(if report.is_ok() {
        code::OK
    } else {
        code::CHECK_FAILED
    })
}

fn checkpoint_cmd(ctx: &Context, a: cli::CheckpointArgs) -> Result<i32> {
    let store = ctx.open_existing_store()?;
    let cp = store.checkpoint()?;
    let text = cp.to_json();
    match a.out {
        Some(path) => {
            write_new_file(&path, text.as_bytes())?;
            eprintln!("Wrote checkpoint to {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(code::OK)
}
