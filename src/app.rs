//! The one place that wires paths, store, engine, front ends and exports to the CLI.
//!
//! May be used only by `main.rs`. Holds no rules of its own: it resolves paths
//! and identity, opens the log, and hands work to the layers below.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, Utc};

use crate::cli::{self, Cli, Command as Cmd, GlobalArgs};
use crate::error::{Error, Exit, Result};
use crate::export;
use crate::out;
use crate::procedure::lint::{self, Severity};
use crate::procedure::parse::{self, Loaded, Source};
use crate::procedure::{render, template};
use crate::report::{self, runs, status, timeline};
use crate::session::{Session, lifecycle};
use crate::store::{RunQuery, Store};
use crate::{errln, outln};

mod approve;
pub mod complete;
mod feed;
mod history;
pub mod json_outputs;
mod man;
mod redact;
mod settings;

/// Run one CLI invocation; returns what it found, which
/// [`crate::error::exit_code`] turns into the exit code.
pub fn run(mut cli: Cli) -> Result<Exit> {
    let name = cli.sources.command.as_str();
    if cli.global.json && crate::cli::help::NO_JSON.contains(&name) {
        return Err(Error::Usage(format!(
            "`runsheet {name}` prints no data to give as JSON; leave out --json (the commands with JSON output: {})",
            json_outputs::json_commands().join(", ")
        )));
    }
    if name == "witness" && cli.sources.flag("db") {
        return Err(Error::Usage(
            "--db names an evidence log, and a witness keeps no log: it keeps its own state (--state PATH or RUNSHEET_WITNESS_STATE, default runsheet/witness.sqlite3 in the platform data directory); leave out --db".into(),
        ));
    }
    crate::store::busy_timeout_setting().map_err(Error::Usage)?;
    let config = crate::config::Config::load(cli.global.config.as_deref()).map_err(Error::Usage)?;
    let settings = settings::effective(&cli, config.as_ref());
    settings::apply(&mut cli, config.as_ref());
    check_procedures_folder(&cli)?;
    let mut ctx = Context::new(cli.global);
    ctx.busy_from_config = config
        .as_ref()
        .and_then(|c| c.file.busy_timeout_ms.as_ref())
        .map(|v| *v.get_ref());
    ctx.operator = config
        .as_ref()
        .and_then(|c| c.file.operator.as_ref())
        .map(|v| v.get_ref().clone());
    ctx.unapproved = approve::unapproved_setting(config.as_ref())?;

    match cli.command {
        Cmd::Lint(a) => lint_cmd(&ctx, a),
        Cmd::List => list_cmd(&ctx),
        Cmd::Render(a) => render_cmd(&ctx, a),
        Cmd::New(a) => new_cmd(&ctx, a),
        Cmd::Schema(a) => {
            match a.output {
                None => out::text(&parse::json_schema())?,
                Some(name) if name == crate::cli::help::EVIDENCE_SCHEMA => {
                    out::text(&crate::export::evidence_schema::schema_text())?
                }
                Some(name) => out::text(&json_outputs::schema_text(&name).ok_or_else(|| {
                    Error::Internal(format!("no schema for the output {name:?}"))
                })?)?,
            }
            Ok(Exit::Success)
        }
        Cmd::Run(a) => run_cmd(&ctx, a),
        Cmd::Resume(a) => resume_cmd(&ctx, a),
        Cmd::Runs(a) => runs_cmd(&ctx, a),
        Cmd::Show(a) => show_cmd(&ctx, a),
        Cmd::History(a) => history::history_cmd(&ctx, a),
        Cmd::Diff(a) => history::diff_cmd(&ctx, a),
        Cmd::SignOffText(a) => sign_off_text_cmd(&ctx, a),
        Cmd::SignOff(a) => sign_off_cmd(&ctx, a),
        Cmd::Approve(a) => approve::approve_cmd(&ctx, a),
        Cmd::Review(a) => approve::review_cmd(&ctx, a),
        Cmd::Verify(a) => verify_cmd(&ctx, a),
        Cmd::Checkpoint(a) => checkpoint_cmd(&ctx, a),
        Cmd::Key => key_cmd(&ctx),
        Cmd::Feed(a) => feed::feed_cmd(&ctx, a),
        Cmd::Prove(a) => prove_cmd(&ctx, a),
        Cmd::Anchor(a) => anchor_cmd(&ctx, a),
        Cmd::Cosign(a) => cosign_cmd(&ctx, a),
        Cmd::Witness(a) => witness_cmd(&ctx, a),
        Cmd::Custodian(a) => redact::custodian_cmd(&ctx, a),
        Cmd::Redact(a) => redact::redact_cmd(&ctx, a),
        Cmd::Export(a) => export_cmd(&ctx, a),
        Cmd::VerifyBundle(a) => verify_bundle_cmd(&ctx, a),
        Cmd::Status(a) => status_cmd(&ctx, a),
        Cmd::Training(a) => training_cmd(&ctx, a),
        Cmd::Config => settings::config_cmd(&ctx, &settings),
        Cmd::Completions(a) => {
            let script = complete::registration(a.shell).map_err(|e| Error::io("<stdout>", &e))?;
            out::bytes(&script)?;
            Ok(Exit::Success)
        }
        Cmd::Man(a) => match a.out {
            Some(dir) => {
                let names = man::write_all(crate::cli::command(), &dir)?;
                outln!("Wrote {} man pages to {}.", names.len(), dir.display())?;
                Ok(Exit::Success)
            }
            None => {
                let pages = man::pages(crate::cli::command());
                let root = pages.first().map(|(_, t)| t.as_str()).unwrap_or_default();
                out::text(root)?;
                Ok(Exit::Success)
            }
        },
    }
}

/// A procedures folder given (`--procedures`, `RUNSHEET_PROCEDURES`) must
/// be one: a file there is refused (`--procedures restore-test`, meant as
/// `--procedure`, would otherwise read no procedures and filter nothing),
/// and so is a path that does not exist, except for `new`, which creates it.
fn check_procedures_folder(cli: &Cli) -> Result<()> {
    let Some(dir) = &cli.global.procedures else {
        return Ok(());
    };
    let creates = matches!(cli.command, Cmd::New(_));
    let what = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => "is not a folder",
        Err(_) if creates => return Ok(()),
        Err(_) => "does not exist",
    };
    Err(Error::Usage(format!(
        "the procedures folder {} {what}: pass --procedures a folder of procedure files (to pick one procedure's runs, the option is --procedure ID)",
        dir.display()
    )))
}

/// Paths, identity and output settings for one invocation.
struct Context {
    global: GlobalArgs,
    /// The configuration file's busy timeout (the variable wins over it).
    busy_from_config: Option<u64>,
    /// The configuration file's display name (the variable wins over it).
    operator: Option<String>,
    /// What `run` does with content no approver approved (docs/approval.md).
    unapproved: crate::procedure::control::Unapproved,
    color: bool,
    today: NaiveDate,
}

impl Context {
    fn new(global: GlobalArgs) -> Context {
        let color = match global.color {
            crate::cli::ColorWhen::Always => true,
            crate::cli::ColorWhen::Never => false,
            crate::cli::ColorWhen::Auto => {
                !global.no_color
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        };
        Context {
            global,
            busy_from_config: None,
            operator: None,
            unapproved: Default::default(),
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
        Ok(self.store_options().open(&path)?)
    }

    /// The log, which must exist, opened to be written (resume).
    fn open_existing_store(&self) -> Result<Store> {
        let path = self.db_path()?;
        Ok(self.store_options().open_existing(&path)?)
    }

    /// How every command opens the log: the busy timeout from
    /// `RUNSHEET_BUSY_TIMEOUT_MS`, else from the configuration file.
    fn store_base(&self) -> crate::store::StoreOptions {
        let options = Store::options();
        match (&self.busy_from_config, crate::store::busy_timeout_setting()) {
            (Some(ms), Ok(None)) => options.busy_timeout(std::time::Duration::from_millis(*ms)),
            _ => options,
        }
    }

    /// How a command that writes opens the log: with `--key-file`.
    fn store_options(&self) -> crate::store::StoreOptions {
        self.store_base().key_file(self.global.key_file.clone())
    }

    /// The log opened read-only for a read command: nothing is created,
    /// migrated or changed, and it works on a read-only mount. `f` reads it;
    /// when the file was read without locks (a quiescent log) and a writer
    /// changed it meanwhile, it is read again.
    fn read_log<T>(&self, f: impl Fn(&Store) -> Result<T>) -> Result<T> {
        let path = self.db_path()?;
        for _ in 0..READ_ATTEMPTS {
            let store = self.store_base().read_only(true).open_existing(&path)?;
            let value = f(&store)?;
            if !store.changed_since_open() {
                return Ok(value);
            }
        }
        Err(crate::store::StoreError::Busy { path }.into())
    }

    /// [`Context::read_log`] after SQLite's page check: a damaged log says so
    /// instead of showing part of itself. Also whether it is test data.
    /// How this command checks SSH sign-offs: against `flag`'s file, or
    /// `allowed_signers` in the procedures folder.
    fn allowed_signers(&self, flag: Option<PathBuf>) -> Box<crate::signoff::AllowedSigners> {
        Box::new(crate::signoff::AllowedSigners {
            path: flag.unwrap_or_else(|| self.procedures_dir().join("allowed_signers")),
        })
    }

    fn read_checked<T>(&self, f: impl Fn(&Store) -> Result<T>) -> Result<(T, bool)> {
        self.read_log(|store| {
            store.check_pages()?;
            let test_data = store.is_test_data()?;
            Ok((f(store)?, test_data))
        })
    }
}

/// How often a read command reads a log again that a writer changed while it
/// was read without locks.
const READ_ATTEMPTS: usize = 3;

/// The generated-test-data notice, on standard error when the output is data.
fn test_data_notice(ctx: &Context, test_data: bool) -> Result<()> {
    if !test_data {
        return Ok(());
    }
    if ctx.global.json {
        errln!("runsheet: {}", crate::store::TEST_DATA_NOTICE);
    } else {
        outln!("NOTE: {}", crate::store::TEST_DATA_NOTICE)?;
    }
    Ok(())
}

/// The operator at this process: the OS user on this host (the one sudo
/// ran runsheet for, under sudo: docs/custody.md), with the display name if
/// given.
fn operator(display: Option<&str>) -> lifecycle::Operator {
    let user = crate::signoff::login::this_login()
        .map(|l| l.user)
        .or_else(|_| whoami::username())
        .unwrap_or_else(|_| "unknown".into());
    lifecycle::Operator::new(&user, display, &host_name())
}

impl Context {
    /// The procedures in the procedures folder that read (path and
    /// procedure), and how many files did not, each said on stderr when
    /// `report` (a folder that does not exist yet, or is no folder, holds none).
    fn read_procedures(
        &self,
        report: bool,
    ) -> Result<(Vec<(PathBuf, crate::procedure::Procedure)>, usize)> {
        let (loaded, broken) = self.read_loaded(report)?;
        Ok((
            loaded.into_iter().map(|(p, l)| (p, l.procedure)).collect(),
            broken,
        ))
    }

    /// [`Context::read_procedures`] with each file's source.
    fn read_loaded(&self, report: bool) -> Result<(Vec<(PathBuf, Loaded)>, usize)> {
        let dir = self.procedures_dir();
        let mut procedures = Vec::new();
        let mut broken = 0;
        if !dir.is_dir() {
            return Ok((procedures, broken));
        }
        for path in parse::procedure_files(&dir)? {
            match Source::read(&path).and_then(parse::parse) {
                Ok(loaded) => procedures.push((path, loaded)),
                Err(d) => {
                    broken += 1;
                    if report {
                        errln!("{d}");
                    }
                }
            }
        }
        Ok((procedures, broken))
    }

    /// Who a log event of this command is recorded as: the OS user, with
    /// `RUNSHEET_OPERATOR` (else the configuration file's `operator`) as
    /// display name (as a run's events say it).
    fn recorded_actor(&self) -> String {
        operator(self.display_name().as_deref()).actor()
    }

    /// `RUNSHEET_OPERATOR`, else the configuration file's `operator`.
    fn display_name(&self) -> Option<String> {
        std::env::var("RUNSHEET_OPERATOR")
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| self.operator.clone())
    }
}

fn host_name() -> String {
    whoami::hostname().unwrap_or_else(|_| "unknown".into())
}

// ---------------------------------------------------------------- procedures

fn lint_cmd(ctx: &Context, a: cli::LintArgs) -> Result<Exit> {
    let paths = if a.paths.is_empty() {
        vec![ctx.procedures_dir()]
    } else {
        a.paths
            .into_iter()
            .map(|p| lint_target(ctx, p))
            .collect::<Result<_>>()?
    };
    let recorded = ctx.recorded_if_any();
    let report = lint::lint_paths(&paths, ctx.today, recorded.as_ref())?;
    if ctx.global.json {
        print_json(&report.to_json())?;
    } else {
        out::text(&report.render_text())?;
    }
    let failed = report.errors() > 0 || (a.strict && report.warnings() > 0);
    Ok(Exit::checked(!failed))
}

/// What `lint` checks for one argument: the file or folder it names, else
/// (a bare name that is no path) the procedure with that id or file name in
/// the procedures folder, as `render` and `run` find it.
fn lint_target(ctx: &Context, arg: PathBuf) -> Result<PathBuf> {
    let bare = arg.components().count() == 1 && arg.extension().is_none();
    match arg.to_str() {
        Some(name) if bare && !arg.exists() => Ok(parse::resolve(name, &ctx.procedures_dir())
            .map_err(|e| Error::Input(format!("{name}: no such file or folder, and {e}")))?),
        _ => Ok(arg),
    }
}

fn list_cmd(ctx: &Context) -> Result<Exit> {
    let dir = ctx.procedures_dir();
    let (procedures, broken) = ctx.read_procedures(true)?;
    let recorded = ctx.recorded_if_any();
    let entries: Vec<render::ListEntry> = procedures
        .into_iter()
        .map(|(path, procedure)| render::ListEntry {
            last_review: recorded
                .as_ref()
                .and_then(|r| r.get(&procedure.id))
                .and_then(|r| r.last_review().cloned()),
            path,
            procedure,
        })
        .collect();
    if ctx.global.json {
        print_json(&render::list_json(&entries, ctx.today))?;
    } else if entries.is_empty() {
        outln!(
            "No procedures in {}{}. Create one with `runsheet new <id>`, or pass --procedures DIR.",
            dir.display(),
            if dir.is_dir() {
                ""
            } else {
                " (no such folder yet)"
            }
        )?;
    } else {
        let width = crate::text::columns::stdout_width();
        out::rendered(&render::list_table(&entries, ctx.today, ctx.color, width))?;
    }
    if broken > 0 {
        errln!("{broken} file(s) could not be read; run `runsheet lint` for details");
        return Ok(Exit::UnreadableInput);
    }
    Ok(Exit::Success)
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

fn render_cmd(ctx: &Context, a: cli::RenderArgs) -> Result<Exit> {
    let loaded = load_procedure(ctx, &a.procedure)?;
    let p = &loaded.procedure;
    let text = match (&a.diff, a.format) {
        (Some(_), cli::RenderFormat::Mermaid) => {
            return Err(Error::Usage(
                "--diff renders the change record as Markdown or HTML, not as a Mermaid chart; use --format markdown or --format html".into(),
            ));
        }
        (Some(from), format) => history::render_diff(
            ctx,
            &loaded.source.path.display().to_string(),
            from,
            if format == cli::RenderFormat::Html {
                cli::DiffFormat::Html
            } else {
                cli::DiffFormat::Markdown
            },
        )?,
        (None, cli::RenderFormat::Markdown) => render::markdown(p),
        (None, cli::RenderFormat::Mermaid) => render::mermaid(p),
        (None, cli::RenderFormat::Html) => render::html(p),
    };
    match a.out {
        Some(path) => write_new_file(&path, text.as_bytes())?,
        None => out::text(&text)?,
    }
    Ok(Exit::Success)
}

fn new_cmd(ctx: &Context, a: cli::NewArgs) -> Result<Exit> {
    if !lint::is_valid_id(&a.id) {
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
    outln!(
        "Wrote {}. Edit it, then check it with `runsheet lint {}`.",
        path.display(),
        path.display()
    )?;
    Ok(Exit::Success)
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

/// Pretty JSON with every control character escaped (see [`out::json`]).
fn pretty(v: &serde_json::Value) -> String {
    out::json(v)
}

/// A command's `--json` output on stdout: `value` with its schema version
/// (docs/json.md; the schema of each output is in docs/json/).
pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<()> {
    outln!("{}", pretty(&out::versioned(value)))?;
    Ok(())
}

// ---------------------------------------------------------------- runs

fn run_cmd(ctx: &Context, a: cli::RunArgs) -> Result<Exit> {
    let loaded = load_procedure(ctx, &a.procedure)?;
    // Before the log is opened to be written: a refusal writes nothing.
    let control = approve::start_control(ctx, &loaded, a.drill)?;
    let store = ctx.open_store()?;
    let who = operator(a.operator.as_deref());
    // The operator's latest open run of the same kind: a drill never offers
    // to resume a production run, nor a production run a drill.
    let open = if a.new {
        None
    } else {
        store
            .runs(&RunQuery {
                procedure: Some(loaded.procedure.id.clone()),
                outcome: Some("open".into()),
                drill: Some(a.drill),
                ..RunQuery::default()
            })?
            .into_iter()
            .find(|r| r.operator == who.user)
    };
    if let Some(open) = open {
        match offer_resume(&open, &who, a.plain)? {
            Offer::Resume => {
                return resume_cmd(
                    ctx,
                    cli::ResumeArgs {
                        run_id: Some(open.id.to_string()),
                        plain: a.plain,
                        operator: a.operator,
                        take_over: false,
                        reason: None,
                        allowed_signers: a.allowed_signers,
                    },
                );
            }
            Offer::New => {}
            Offer::Quit => return Ok(Exit::Success),
        }
    }
    let clock = Some(crate::clock::kernel_state());
    let db = ctx.db_path()?;
    let session = lifecycle::start(store, &loaded, &who, ctx.today, clock, control, a.drill)?
        .checking_sign_offs(ctx.allowed_signers(a.allowed_signers));
    let drafts = crate::drafts::DraftFiles::beside(&db, session.run_id());
    let session = session.keeping_drafts(Box::new(drafts));
    let started_at = session.last_event_at().unwrap_or_else(Utc::now);
    front_end(ctx, session, a.plain, None, started_at)
}

/// What the operator chose when `run` found an open run of theirs.
enum Offer {
    Resume,
    New,
    Quit,
}

/// `who` has `open`, an open run of the procedure they asked to run: in a
/// terminal, ask whether to resume it; in plain mode (a script) say so and
/// stop, since starting a second run is rarely what was meant.
fn offer_resume(
    open: &crate::store::RunRow,
    who: &lifecycle::Operator,
    plain: bool,
) -> Result<Offer> {
    let what = format!(
        "{} has an open run of {} v{}: {} (started {})",
        who.user,
        open.procedure_id,
        open.procedure_version,
        open.id,
        crate::vocab::time_text(open.started_at)
    );
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if plain || !tty {
        return Err(Error::Input(format!(
            "{what}. Continue it with `runsheet resume {}`, or start another with `runsheet run {} --new`",
            open.id, open.procedure_id
        )));
    }
    outln!("{}.", crate::text::sanitize_line(&what))?;
    loop {
        let mut stdout = std::io::stdout();
        write!(stdout, "r = resume it · n = start a new run · q = quit: ")
            .and_then(|()| stdout.flush())
            .map_err(|e| Error::io("<terminal>", &e))?;
        let mut line = String::new();
        let read = std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| Error::io("<terminal>", &e))?;
        match (read, line.trim()) {
            (0, _) | (_, "q") => return Ok(Offer::Quit),
            (_, "r") => return Ok(Offer::Resume),
            (_, "n") => return Ok(Offer::New),
            _ => {}
        }
    }
}

fn resume_cmd(ctx: &Context, a: cli::ResumeArgs) -> Result<Exit> {
    let db = ctx.db_path()?;
    let store = ctx.open_existing_store()?;
    let who = operator(a.operator.as_deref());
    let which = a
        .run_id
        .as_deref()
        .map_or(lifecycle::Which::Latest, lifecycle::Which::Prefix);
    let take_over = a.reason.as_deref().filter(|_| a.take_over);
    let resumed = lifecycle::resume(
        store,
        &db,
        which,
        &who,
        crate::clock::kernel_state(),
        take_over,
    )?;
    // The file the run was started from, if it changed since.
    let notice = parse::resolve(&resumed.row.procedure_id, &ctx.procedures_dir())
        .ok()
        .and_then(|path| Source::read(&path).ok())
        .and_then(|now| lifecycle::changed_notice(&resumed.row, &now));
    front_end(
        ctx,
        {
            let drafts = crate::drafts::DraftFiles::beside(&db, &resumed.row.id.to_string());
            resumed
                .session
                .checking_sign_offs(ctx.allowed_signers(a.allowed_signers))
                .keeping_drafts(Box::new(drafts))
        },
        a.plain,
        notice,
        resumed.row.started_at,
    )
}

fn front_end(
    ctx: &Context,
    mut session: Session,
    plain: bool,
    notice: Option<String>,
    started_at: chrono::DateTime<Utc>,
) -> Result<Exit> {
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let outcome = if plain || !tty {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut stdout = out::Stdout;
        outln!(
            "runsheet {} — run {}",
            crate::text::sanitize_line(&session.run().procedure.title),
            session.run_id()
        )?;
        if let Some(n) = &notice {
            outln!("NOTE: {}", crate::text::sanitize_line(n))?;
        }
        match crate::plain::run(&mut session, &mut input, &mut stdout)
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
                outln!(
                    "Suspended. Continue with: runsheet resume {}",
                    session.run_id()
                )?;
                None
            }
        }
    };
    if let Some(n) = session.take_notice() {
        errln!("runsheet: WARNING: {n}");
    }
    Ok(outcome.map_or(Exit::RunSuspended, Exit::RunEnded))
}

fn runs_cmd(ctx: &Context, a: cli::RunsArgs) -> Result<Exit> {
    let mut q = run_query(&a.filter)?;
    q.limit = a.limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    if a.open {
        q.outcome = Some("open".into());
    }
    let terminal = !ctx.global.json && std::io::stdout().is_terminal();
    let ((rows, labels), test_data) = ctx.read_checked(|store| {
        let mut q = q.clone();
        check_filter(ctx, store, &mut q)?;
        let rows = store.runs(&q)?;
        // At a terminal, each run's shortest unique id, for a narrow one.
        let labels = if terminal {
            rows.iter()
                .map(|r| store.unique_prefix(r.id, 8))
                .collect::<std::result::Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        Ok((rows, labels))
    })?;
    test_data_notice(ctx, test_data)?;
    if ctx.global.json {
        print_json(&runs::RunsJson {
            runs: rows.iter().map(runs::run_json).collect(),
        })?;
    } else if rows.is_empty() {
        outln!("No runs match.")?;
    } else {
        // At a terminal the table fits its width; piped, lines are whole.
        let width = terminal
            .then(|| ratatui::crossterm::terminal::size().ok())
            .flatten()
            .map(|(w, _)| (usize::from(w), labels.as_slice()));
        out::rendered(&runs::runs_table(&rows, ctx.color, width))?;
        // For a person at a terminal only: a pipe gets the table alone.
        if terminal && !ctx.global.quiet {
            errln!(
                "{}",
                runs::runs_hint(rows.len(), q.limit.is_some_and(|n| rows.len() >= n))
            );
        }
    }
    Ok(Exit::Success)
}

fn parse_date(s: &str, flag: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        Error::Input(format!(
            "{flag} `{s}` is not a date; write it as YYYY-MM-DD, e.g. 2026-11-01"
        ))
    })
}

/// A filter's procedure or control that cannot match anything is refused:
/// a control that is no ISO/IEC 27001:2022 Annex A control (`banana`,
/// 2013's `A.9.2`), a procedure id known neither to the procedures folder
/// nor to the log (with the nearest known one, and the list). A control
/// is matched written the canonical way (`a.8.13` is `A.8.13`).
fn check_filter(ctx: &Context, store: &Store, q: &mut RunQuery) -> Result<()> {
    if q.control.is_none() && q.procedure.is_none() {
        return Ok(());
    }
    let (mut ids, logged_controls) = store.procedures_and_controls()?;
    let dir = ctx.procedures_dir();
    let mut controls = logged_controls;
    for (_, p) in ctx
        .read_procedures(false)
        .map(|(p, _)| p)
        .unwrap_or_default()
    {
        controls.extend(p.controls.iter().cloned());
        ids.push(p.id);
    }
    ids.sort();
    ids.dedup();
    // In Annex A's order: A.5.3 before A.5.15.
    let number = |c: &String| -> Vec<u32> {
        c.trim_start_matches(['A', 'a', '.'])
            .split('.')
            .map(|n| n.parse().unwrap_or(u32::MAX))
            .collect()
    };
    controls.sort_by_key(number);
    controls.dedup();
    if let Some(c) = &q.control {
        let known = if controls.is_empty() {
            String::new()
        } else {
            format!("; the procedures and runs link {}", controls.join(", "))
        };
        q.control = Some(
            crate::procedure::lint::annex_a_control(c)
                .map_err(|e| Error::Input(format!("--control: {e}{known}")))?,
        );
    }
    if let Some(p) = &q.procedure
        && !ids.contains(p)
    {
        let near = crate::procedure::lint::suggest(p, ids.iter().map(String::as_str))
            .map(|id| format!(" (did you mean `{id}`?)"))
            .unwrap_or_default();
        return Err(Error::Input(format!(
            "--procedure: no procedure `{p}` in {} or in the log{near}; the known ones: {}",
            dir.display(),
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            }
        )));
    }
    Ok(())
}

fn run_query(f: &cli::RunFilter) -> Result<RunQuery> {
    // `--status` is one of cli::OUTCOMES: clap refuses anything else.
    let since = f
        .since
        .as_deref()
        .map(|s| parse_date(s, "--since"))
        .transpose()?;
    let until = f
        .until
        .as_deref()
        .map(|s| parse_date(s, "--until"))
        .transpose()?;
    if let (Some(s), Some(u)) = (since, until)
        && s > u
    {
        return Err(Error::Input(format!(
            "--since {s} is after --until {u}; no run can match"
        )));
    }
    Ok(RunQuery {
        procedure: f.procedure.clone(),
        outcome: f.status.clone(),
        operator: f.operator.clone(),
        since,
        until,
        control: f.control.clone(),
        ..RunQuery::default()
    })
}

fn show_cmd(ctx: &Context, a: cli::ShowArgs) -> Result<Exit> {
    let ((row, events, catalog), test_data) = ctx.read_checked(|store| {
        let row = store.find_run(&a.run_id)?;
        let events = store.events(row.id)?;
        let mut catalog = report::Catalog::new();
        catalog.get(store, &row.procedure_sha256)?;
        Ok((row, events, catalog))
    })?;
    let procedure = catalog.loaded(&row.procedure_sha256);
    test_data_notice(ctx, test_data)?;
    if ctx.global.json {
        print_json(&runs::ShowJson {
            run: runs::run_json(&row),
            events: events
                .iter()
                .map(|e| runs::event_json(e, &timeline::describe(e, procedure)))
                .collect(),
        })?;
    } else {
        out::rendered(&runs::show_text(&row, &events, procedure, ctx.color))?;
    }
    Ok(Exit::Success)
}

fn sign_off_text_cmd(ctx: &Context, a: cli::SignOffTextArgs) -> Result<Exit> {
    let db = ctx.db_path()?;
    let ((row, stored), test_data) = ctx.read_checked(|store| {
        let row = store.find_run(&a.run_id)?;
        let stored = lifecycle::stored_run(store, &row, &db)?;
        Ok((row, stored))
    })?;
    test_data_notice(ctx, test_data)?;
    let run = crate::engine::Run::replay(stored.loaded.procedure, &stored.events);
    if let Some(outcome) = run.outcome {
        return Err(Error::Input(format!(
            "run {} has already ended ({}); only an open run's step can be signed off",
            row.id,
            outcome.as_str()
        )));
    }
    let step = a.step.or_else(|| run.current.clone()).ok_or_else(|| {
        Error::Input(format!(
            "run {} has no current step; name the step with --step",
            row.id
        ))
    })?;
    let (message, namespace) = crate::signoff::text_for(&run, &row.id.to_string(), &step)
        .ok_or_else(|| {
            Error::Input(format!(
                "step `{step}` of run {} needs no sign-off (or is not a step of its procedure)",
                row.id
            ))
        })?;
    out::text(&message)?;
    if ctx.global.quiet {
        return Ok(Exit::Success);
    }
    let role = namespace
        .strip_prefix(crate::signoff::NAMESPACE_PREFIX)
        .unwrap_or_default();
    errln!(
        "runsheet: the second person ({role}) signs this with their SSH key: runsheet sign-off-text {} | ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n {namespace} > signoff.sig",
        row.id
    );
    Ok(Exit::Success)
}

/// A second person signs a step off from their own session: as their login
/// (the OS user, its role checked in the allowed-signers file when there
/// is one), or with an SSH signature file. The run may be driven by another
/// session meanwhile (which then shows the sign-off) or suspended.
fn sign_off_cmd(ctx: &Context, a: cli::SignOffArgs) -> Result<Exit> {
    use crate::engine::{Command, LoginSignOff};
    use crate::session::flow::{Next, second_person_sign_off};
    let db = ctx.db_path()?;
    let store = ctx.open_existing_store()?;
    let login = crate::signoff::login::this_login().map_err(Error::Input)?;
    let host = host_name();
    let signers = ctx.allowed_signers(a.allowed_signers);
    let mut second = lifecycle::second_person(store, &db, &a.run_id, &login.user)?;
    let session = &mut second.session;
    let label = session.run_label();
    let step = a
        .step
        .clone()
        .or_else(|| session.run().current.clone())
        .ok_or_else(|| {
            Error::Input(format!(
                "run {label} has no current step; name the step with --step"
            ))
        })?;
    let (message, namespace) = crate::signoff::text_for(session.run(), session.run_id(), &step)
        .ok_or_else(|| {
            Error::Input(format!(
                "step `{step}` of run {label} needs no sign-off (or is not a step of its procedure)"
            ))
        })?;
    let (by, command) = match &a.signature {
        Some(file) => {
            let typed = file.display().to_string();
            let ssh = match crate::session::SignOffCheck::check(
                &*signers, &typed, &message, &namespace,
            ) {
                Some(Ok(ssh)) => ssh,
                Some(Err(words)) => return Err(Error::Input(words)),
                None => {
                    return Err(Error::Input(format!("there is no signature file {typed}")));
                }
            };
            (
                ssh.principal.clone(),
                Command::SignOffSigned {
                    step: step.clone(),
                    ssh,
                },
            )
        }
        None => {
            let mut signed = LoginSignOff {
                user: login.user.clone(),
                uid: login.uid,
                host: host.clone(),
                via: login.via.map(str::to_string),
                role_from: None,
            };
            // The operator's own sign-off is refused as that, whatever their role.
            let own = matches!(
                session.run().decide(
                    &Command::SignOffLogin {
                        step: step.clone(),
                        login: signed.clone(),
                    },
                    &crate::engine::Meta {
                        at: Utc::now(),
                        actor: login.user.clone(),
                    },
                ),
                Err(crate::engine::Refusal::OwnSignOff { .. })
            );
            let role_from = match signers.role_for_login(
                &login.user,
                &host,
                &namespace,
                &crate::signoff::SIGN_OFF,
            ) {
                _ if own => None,
                Ok(from) => from,
                Err(words) => {
                    let refused = second_person_sign_off(
                        session,
                        step.clone(),
                        &login.user,
                        Command::RefuseSignOff {
                            step: step.clone(),
                            by: login.user.clone(),
                            reason: words.clone(),
                        },
                    );
                    return Err(Error::Input(match refused.next {
                        Next::Done => format!("{words} (the refusal is recorded)"),
                        _ => words,
                    }));
                }
            };
            signed.role_from = role_from;
            (
                login.user.clone(),
                Command::SignOffLogin {
                    step: step.clone(),
                    login: signed,
                },
            )
        }
    };
    let reply = second_person_sign_off(session, step.clone(), &by, command);
    let title = session
        .run()
        .procedure
        .step(&step)
        .map_or(step.clone(), |(s, _)| s.title.clone());
    match reply.next {
        Next::Done => {
            let how = reply
                .recorded
                .iter()
                .find_map(|e| match e {
                    crate::engine::Event::SignedOff { login: Some(l), .. } => Some(l.words()),
                    crate::engine::Event::SignedOff { ssh: Some(s), .. } => {
                        Some(format!("SSH signature by key {}", s.key))
                    }
                    _ => None,
                })
                .unwrap_or_default();
            outln!(
                "Signed off “{}” of run {label} as {by} ({how}).",
                crate::text::sanitize_line(&title)
            )?;
            Ok(Exit::Success)
        }
        Next::Refused(refusal) => {
            let recorded = if reply.recorded.is_empty() {
                ""
            } else {
                " (the refusal is recorded)"
            };
            Err(Error::Input(format!(
                "{}{recorded}; nothing was signed off",
                refusal.words(&|_| None)
            )))
        }
        Next::NotRecorded { message, .. } => Err(Error::Store { path: db, message }),
        _ => Err(Error::Internal("a sign-off asked for more input".into())),
    }
}

fn verify_cmd(ctx: &Context, a: cli::VerifyArgs) -> Result<Exit> {
    let mut trust = crate::store::Trust {
        key: a
            .key
            .as_deref()
            .map(|k| read_vkey(k, "--key"))
            .transpose()?,
        ..Default::default()
    };
    for w in &a.witnesses {
        trust.witnesses.push(read_witness_key(w)?);
    }
    for c in &a.custodians {
        trust.custodians.push(read_vkey(c, "--custodian")?);
    }
    if let Some(file) = &a.trusted {
        let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, &e))?;
        if text.trim_start().starts_with('{') {
            trust.checkpoint = Some(
                crate::store::Checkpoint::from_json(&text)
                    .map_err(|e| Error::Input(format!("{}: {e}", file.display())))?,
            );
        } else {
            trust.trusted = Some(read_signed_checkpoint(file)?);
        }
    }
    let report = crate::store::verify_log(&ctx.db_path()?, &trust)?;
    let ok = report.is_ok();
    print_report(ctx, &report)?;
    Ok(Exit::checked(ok))
}

/// A check's report, as JSON with `--json`, else as text; the caller says
/// whether it passed.
fn print_report(ctx: &Context, report: &(impl serde::Serialize + std::fmt::Display)) -> Result<()> {
    if ctx.global.json {
        print_json(report)?;
    } else {
        outln!("{report}")?;
    }
    Ok(())
}

fn checkpoint_cmd(ctx: &Context, a: cli::CheckpointArgs) -> Result<Exit> {
    let (note, size, head, test_data) = latest_signed_checkpoint(ctx, a.sign)?;
    if test_data {
        // On stderr: the checkpoint itself is the output.
        errln!("runsheet: {}", crate::store::TEST_DATA_NOTICE);
    }
    uncovered_notice(size, head, a.sign);
    if let Some(path) = &a.out {
        write_new_file(path, note.as_bytes())?;
        errln!(
            "Wrote the signed checkpoint of {size} records to {}",
            path.display()
        );
    }
    if ctx.global.json {
        let signed = crate::custody::checkpoint::SignedCheckpoint::parse(&note)
            .map_err(|e| Error::Internal(format!("the stored checkpoint does not parse: {e}")))?;
        let cp = signed.checkpoint();
        use base64::Engine as _;
        print_json(&json_outputs::CheckpointJson {
            origin: cp.origin().to_string(),
            tree_size: cp.size(),
            root_hash: base64::engine::general_purpose::STANDARD.encode(cp.root()),
            head_seq: head,
            covers_head: size >= head,
            signatures: note
                .split_once("\n\n")
                .map_or(0, |(_, sigs)| sigs.lines().count()),
            note: note.clone(),
            written_to: a.out.as_ref().map(|p| p.display().to_string()),
        })?;
    } else if a.out.is_none() {
        out::rendered(&note)?;
    }
    Ok(Exit::Success)
}

/// The latest signed checkpoint with its cosignatures; with `sign`, making one
/// first when none covers the log's head (a log that cannot be written gives
/// its latest stored one); without, read-only: the note, its tree size, the head, and whether the log is
/// generated test data. A damaged log is refused before anything is signed.
fn latest_signed_checkpoint(ctx: &Context, sign: bool) -> Result<(String, u64, u64, bool)> {
    let path = ctx.db_path()?;
    let actor = ctx.recorded_actor();
    let opened = if sign {
        ctx.store_options().actor(&actor).open_existing(&path)
    } else {
        Err(crate::store::StoreError::ReadOnly { path: path.clone() })
    };
    match opened {
        Ok(mut store) => {
            store.check_pages()?;
            let test_data = store.is_test_data()?;
            let cp = store.make_checkpoint("requested")?;
            let note = store.cosigned_note(&cp)?;
            Ok((note, cp.tree_size, cp.tree_size, test_data))
        }
        Err(crate::store::StoreError::ReadOnly { .. }) => {
            let ((note, size, head), test_data) = ctx.read_checked(|store| {
                let head = u64::try_from(store.checkpoint()?.head_seq).unwrap_or(0);
                let cp = store.latest_checkpoint()?.ok_or_else(|| {
                    let fix = if sign {
                        "it cannot be written here to upgrade it; copy it somewhere writable, or use `runsheet verify`"
                    } else {
                        "`runsheet checkpoint --sign` upgrades it (recorded) and signs one"
                    };
                    Error::Input(format!(
                        "{} holds no signed checkpoint: it is older than schema 4; {fix}",
                        path.display()
                    ))
                })?;
                Ok((store.cosigned_note(&cp)?, cp.tree_size, head))
            })?;
            Ok((note, size, head, test_data))
        }
        Err(e) => Err(e.into()),
    }
}

/// Say on stderr when the checkpoint given does not cover the log's head.
fn uncovered_notice(size: u64, head: u64, tried_to_sign: bool) {
    if size >= head {
        return;
    }
    let why = if tried_to_sign {
        "the log cannot be written here, so this is its latest stored checkpoint"
    } else {
        "this is its latest stored checkpoint"
    };
    let fix = if tried_to_sign {
        ""
    } else {
        "; `runsheet checkpoint --sign` signs one that covers them"
    };
    errln!(
        "runsheet: {why} ({size} records); records {} to {head} are in none yet{fix}",
        size + 1
    );
}

fn key_cmd(ctx: &Context) -> Result<Exit> {
    let path = ctx.db_path()?;
    let (key, _) = ctx.read_checked(|store| Ok(store.log_key()?))?;
    let Some(key) = key else {
        return Err(Error::Input(format!(
            "{} records no signing key yet: it is older than schema 4; the next command that writes to it (run, resume, export, checkpoint --sign, anchor) upgrades it and makes one",
            path.display()
        )));
    };
    let key_file = ctx
        .global
        .key_file
        .clone()
        .unwrap_or_else(|| crate::store::default_key_path(&path));
    let present = key_file.exists();
    if ctx.global.json {
        print_json(&json_outputs::KeyJson {
            origin: key.origin.clone(),
            vkey: key.vkey.clone(),
            key_file: key_file.display().to_string(),
            key_file_present: present,
        })?;
    } else {
        outln!("{}", key.vkey)?;
        if !ctx.global.quiet {
            errln!(
                "The log's verifier key (origin {}); its private key is {} {}.",
                key.origin,
                if present { "in" } else { "NOT at" },
                key_file.display()
            );
        }
    }
    Ok(Exit::Success)
}

/// A signed checkpoint read from a file (which may end in extra blank lines).
/// A file `anchor --append` wrote holds several, one after another: the last
/// one (the latest anchor) is used, and stderr says which.
fn read_signed_checkpoint(file: &Path) -> Result<crate::custody::checkpoint::SignedCheckpoint> {
    use crate::custody::checkpoint::SignedCheckpoint;
    let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, &e))?;
    let bad = |e: String| {
        Error::Input(format!(
            "{}: not a signed checkpoint: {e}; use a file written by `runsheet checkpoint` or `runsheet anchor`, or a bundle's checkpoint",
            file.display()
        ))
    };
    let notes = split_notes(&text);
    if notes.len() <= 1 {
        let note = format!("{}\n", text.trim_end_matches(['\n', ' ', '\t']));
        return SignedCheckpoint::parse(&note).map_err(|e| bad(e.to_string()));
    }
    let count = notes.len();
    let mut last = None;
    for (i, note) in notes.iter().enumerate() {
        let parsed = SignedCheckpoint::parse(note)
            .map_err(|e| bad(format!("checkpoint {} of the {count} in it: {e}", i + 1)))?;
        last = Some(parsed);
    }
    let last = last.ok_or_else(|| bad("it is empty".into()))?;
    errln!(
        "runsheet: {} holds {count} signed checkpoints (appended anchors); using the last one, of {} records",
        file.display(),
        last.checkpoint().size()
    );
    Ok(last)
}

/// The signed notes in a file of notes appended one after another (each its
/// text, a blank line, its signature lines, and a blank line), each with its
/// final newline. Blocks of text without signature lines after them stay
/// joined to the next, so a malformed file still fails to parse.
fn split_notes(text: &str) -> Vec<String> {
    let blocks: Vec<&str> = text
        .split("\n\n")
        .map(|b| b.trim_matches('\n'))
        .filter(|b| !b.trim().is_empty())
        .collect();
    let is_signatures = |b: &str| b.lines().all(|l| l.starts_with("\u{2014} "));
    let mut notes = Vec::new();
    let mut pending: Option<String> = None;
    for block in blocks {
        match (pending.take(), is_signatures(block)) {
            (Some(body), true) => notes.push(format!("{body}\n\n{block}\n")),
            (Some(body), false) => {
                notes.push(format!("{body}\n"));
                pending = Some(block.to_string());
            }
            (None, true) => notes.push(format!("{block}\n")),
            (None, false) => pending = Some(block.to_string()),
        }
    }
    if let Some(body) = pending {
        notes.push(format!("{body}\n"));
    }
    notes
}

fn prove_cmd(ctx: &Context, a: cli::ProveArgs) -> Result<Exit> {
    use crate::custody::checkpoint::SignedCheckpoint;
    let old = a.from.as_deref().map(read_signed_checkpoint).transpose()?;
    let (note, size, _head, test_data) = latest_signed_checkpoint(ctx, false)?;
    if test_data {
        errln!("runsheet: {}", crate::store::TEST_DATA_NOTICE);
    }
    let latest = SignedCheckpoint::parse(&note)
        .map_err(|e| Error::Internal(format!("the log's own checkpoint: {e}")))?;
    let path = ctx.db_path()?;
    let store = ctx.store_base().read_only(true).open_existing(&path)?;
    if let Some(old) = old {
        let key = store
            .log_key()?
            .and_then(|k| k.verifier())
            .ok_or_else(|| Error::Input(format!("{} records no signing key", path.display())))?;
        old.verify(&key).map_err(|e| {
            Error::CheckFailed(format!(
                "{}: not signed by this log's key ({e}); it is another log's checkpoint, or forged",
                a.from.as_deref().unwrap_or(Path::new("")).display()
            ))
        })?;
        let body = export::proofs::consistency(&store, &old, &latest, &note)?;
        match &a.out {
            Some(file) => {
                write_new_file(file, body.as_bytes())?;
                errln!(
                    "Wrote the consistency proof from {} to {size} records to {}",
                    old.checkpoint().size(),
                    file.display()
                );
            }
            None => out::rendered(&body)?,
        }
        return Ok(Exit::Success);
    }
    let (Some(run), Some(dir)) = (&a.run, &a.out) else {
        return Err(Error::Input(
            "give --run ID --out DIR, or --from FILE".into(),
        ));
    };
    let row = store.find_run(run)?;
    let proofs = export::proofs::run_proofs(&store, row.id, &latest, &note)?;
    create_new_dir(dir)?;
    write_new_file(&dir.join("checkpoint"), note.as_bytes())?;
    for p in &proofs {
        write_new_file(
            &dir.join(format!("seq-{}.tlog-proof", p.seq)),
            p.text.as_bytes(),
        )?;
    }
    errln!(
        "Wrote {} inclusion proofs of run {}'s events against the signed checkpoint of {size} records to {}",
        proofs.len(),
        row.id,
        dir.display()
    );
    Ok(Exit::Success)
}

/// The log's own files: the log, its -wal/-shm/-journal, its key file.
fn own_files(ctx: &Context) -> Result<Vec<PathBuf>> {
    let db = ctx.db_path()?;
    let key_file = ctx
        .global
        .key_file
        .clone()
        .unwrap_or_else(|| crate::store::default_key_path(&db));
    let mut own = vec![db.clone(), key_file];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = db.as_os_str().to_os_string();
        name.push(suffix);
        own.push(PathBuf::from(name));
    }
    Ok(own)
}

fn anchor_cmd(ctx: &Context, a: cli::AnchorArgs) -> Result<Exit> {
    // Before anything is signed: a refused target leaves the log as it was.
    let own = own_files(ctx)?;
    let origin = ctx
        .store_base()
        .read_only(true)
        .open_existing(&ctx.db_path()?)
        .ok()
        .and_then(|store| store.log_key().ok().flatten())
        .map(|k| k.origin);
    if let Some(file) = &a.append {
        crate::anchor::check_append_target(file, &own, origin.as_deref())?;
    }
    if let (Some(dir), Some(origin)) = (&a.git, &origin) {
        crate::anchor::check_git_target(&dir.join(crate::anchor::file_name(origin)), &own)?;
    }
    let (note, size, head, test_data) = latest_signed_checkpoint(ctx, true)?;
    if test_data {
        errln!("runsheet: {}", crate::store::TEST_DATA_NOTICE);
    }
    uncovered_notice(size, head, true);
    let signed = crate::custody::checkpoint::SignedCheckpoint::parse(&note)
        .map_err(|e| Error::Internal(format!("the log's own checkpoint: {e}")))?;
    let origin = signed.checkpoint().origin().to_string();
    out::rendered(&note)?;
    let qr = a.qr || (!a.no_qr && std::io::stdout().is_terminal());
    if qr {
        outln!("")?;
        out::rendered(&crate::anchor::qr_text(&note)?)?;
    }
    if let Some(file) = &a.append {
        crate::anchor::append(file, &note)?;
        errln!(
            "Appended the checkpoint of {size} records to {}",
            file.display()
        );
    }
    if let Some(dir) = &a.git {
        match crate::anchor::commit_to_git(dir, &origin, size, &note, &own)? {
            Some(file) => errln!(
                "Committed the checkpoint of {size} records to {} in the git repository {}",
                file,
                dir.display()
            ),
            None => errln!(
                "The git repository {} already holds this checkpoint ({size} records); nothing to commit",
                dir.display()
            ),
        }
    }
    Ok(Exit::Success)
}

/// Create a directory that must not exist yet, or be empty.
fn create_new_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, &e))?
            .next()
            .is_none();
        if !empty {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                message: "exists and is not empty; nothing was written. Choose a new directory"
                    .into(),
            });
        }
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, &e))
}

/// A verifier key given on the command line: the key itself
/// (`name+id+base64`), or the path of a file holding one.
/// A `--witness` key: a verifier key (or a file with one) of a witness's
/// cosigner key, not a log's.
fn read_witness_key(arg: &str) -> Result<crate::custody::note::Verifier> {
    let w = read_vkey(arg, "--witness")?;
    crate::witness::client::check_witness_key(&w)?;
    Ok(w)
}

fn read_vkey(arg: &str, flag: &str) -> Result<crate::custody::note::Verifier> {
    use crate::custody::note::Verifier;
    if let Ok(v) = Verifier::parse(arg.trim()) {
        return Ok(v);
    }
    let path = Path::new(arg);
    if !path.exists() {
        return Err(Error::Input(format!(
            "{flag} {arg:?} is neither a verifier key (<name>+<key id>+<key>, as `runsheet key` prints it) nor a file holding one"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, &e))?;
    Verifier::parse(text.trim()).map_err(|e| {
        Error::Input(format!(
            "{flag} {}: the file does not hold a verifier key: {e}",
            path.display()
        ))
    })
}

// ---------------------------------------------------------------- audit

fn export_cmd(ctx: &Context, a: cli::ExportArgs) -> Result<Exit> {
    let actor = ctx.recorded_actor();
    // The export is recorded in the log; a log that cannot be written (an
    // archived copy on a read-only mount) is exported without that record.
    let path = ctx.db_path()?;
    let mut store = match ctx.store_options().actor(&actor).open_existing(&path) {
        Err(crate::store::StoreError::ReadOnly { .. }) => {
            ctx.store_base().read_only(true).open_existing(&path)?
        }
        other => other?,
    };
    let has = |f: cli::ExportFormat| a.format.contains(&f);
    let mut query = run_query(&a.filter)?;
    check_filter(ctx, &store, &mut query)?;
    for id in &a.runs {
        let row = store.find_run(id)?;
        if row.drill {
            return Err(Error::Input(format!(
                "run {} is a drill: drills are never among an export's runs (docs/training.md), so a sample packet cannot hold it; leave it out of --run. A completed drill is a training record: every bundle lists it in training.csv, and `runsheet show {}` shows it",
                row.id, row.id
            )));
        }
        if !query.ids.contains(&row.id) {
            query.ids.push(row.id);
        }
    }
    let req = export::ExportRequest {
        out: a.out,
        query,
        formats: export::Formats {
            html: has(cli::ExportFormat::Html),
            csv: has(cli::ExportFormat::Csv),
            json: has(cli::ExportFormat::Json),
            md: has(cli::ExportFormat::Md),
            xlsx: has(cli::ExportFormat::Xlsx),
            oscal: has(cli::ExportFormat::Oscal),
        },
        force: a.force,
        allow_unverified: a.allow_unverified,
        actor,
        now: Utc::now(),
        cosign: match (&a.witness, &a.witness_via) {
            (Some(w), Some(via)) => vec![export::CosignWith {
                witness: read_witness_key(w)?,
                via: via.clone(),
            }],
            _ => Vec::new(),
        },
    };
    let summary = export::export(&mut store, &req)?;
    if !summary.verdict.verified {
        errln!(
            "runsheet: WARNING: {} Every file of the bundle says so.",
            summary.verdict.sentence()
        );
    }
    if summary.verdict.test_data {
        errln!("runsheet: {}", crate::store::TEST_DATA_NOTICE);
    }
    if ctx.global.json {
        print_json(&summary.to_json())?;
        return Ok(Exit::Success);
    }
    if ctx.global.quiet {
        return Ok(Exit::Success);
    }
    outln!(
        "Wrote the audit bundle {}: {} runs, {} events (filters: {}).",
        summary.out.display(),
        summary.runs,
        summary.events,
        crate::text::sanitize_line(&export::filters_text(&req.query))
    )?;
    let width = summary
        .files
        .iter()
        .map(|f| f.path.len())
        .max()
        .unwrap_or(0);
    for f in &summary.files {
        outln!("  {:<width$}  {:>10} bytes", f.path, f.bytes)?;
    }
    outln!("  manifest.json (SHA-256 {})", summary.manifest_sha256)?;
    outln!(
        "The export read the log up to event {} ({}).",
        summary.data_head.head_seq,
        if summary.verdict.verified {
            "verified first"
        } else {
            "it FAILED verification"
        }
    )?;
    match (summary.export_seq, summary.signed_size) {
        (Some(seq), Some(size)) => outln!(
            "The export is recorded in the log as event {seq}, which lists every file's SHA-256 (export.json); the bundle carries the log's signed checkpoint of {size} records made with it (checkpoint), the proof that event is in it, and manifest.json's signature{}.",
            if summary.proofs > 0 {
                format!(
                    ", and {} inclusion proofs of the sampled runs' events (proofs/)",
                    summary.proofs
                )
            } else {
                String::new()
            }
        )?,
        (Some(seq), None) => outln!(
            "The export is recorded in the log as event {seq}, which lists every file's SHA-256 (export.json); checkpoint.json is the chain head at that event. No checkpoint could be signed for it, so nothing in the bundle is signed."
        )?,
        (None, _) => outln!(
            "The export is NOT recorded in the log: the log is read-only here. Its files are bound only by manifest.json."
        )?,
    }
    let db = ctx.db_path()?;
    outln!(
        "Check it any time with: runsheet verify-bundle {} --key <the log's key: runsheet key> [--db {}]",
        summary.out.display(),
        db.display()
    )?;
    Ok(Exit::Success)
}

fn verify_bundle_cmd(ctx: &Context, a: cli::VerifyBundleArgs) -> Result<Exit> {
    // Only an explicitly given log (--db or RUNSHEET_DB) is checked: the default
    // log may not be the one the bundle came from.
    let store = match &ctx.global.db {
        Some(path) => Some(ctx.store_base().read_only(true).open_existing(path)?),
        None => None,
    };
    let trust = export::BundleTrust {
        key: a
            .key
            .as_deref()
            .map(|k| read_vkey(k, "--key"))
            .transpose()?,
        witnesses: a
            .witnesses
            .iter()
            .map(|w| read_witness_key(w))
            .collect::<Result<_>>()?,
    };
    let report = export::verify_bundle(&a.dir, store.as_ref(), &trust)?;
    print_report(ctx, &report)?;
    Ok(Exit::checked(report.is_ok()))
}

/// The procedures in the folder now, each as the version training is
/// measured against (its version string and the SHA-256 of its source);
/// files that cannot be read are left out (`report`: and said on stderr).
fn current_versions(ctx: &Context, report: bool) -> Result<Vec<crate::report::training::Current>> {
    let (loaded, broken) = ctx.read_loaded(report)?;
    if report && broken > 0 {
        errln!("{broken} procedure file(s) could not be read; run `runsheet lint` for details");
    }
    Ok(loaded
        .into_iter()
        .map(|(_, l)| crate::report::training::Current {
            sha256: l.source.sha256(),
            id: l.procedure.id,
            title: l.procedure.title,
            version: l.procedure.version,
        })
        .collect())
}

/// `runsheet training [ID]`: read-only.
fn training_cmd(ctx: &Context, a: cli::TrainingArgs) -> Result<Exit> {
    use crate::report::training::{self, TrainingReport};
    let mut current = current_versions(ctx, true)?;
    if let Some(id) = &a.procedure {
        current.retain(|c| &c.id == id);
        if current.is_empty() {
            return Err(Error::Input(format!(
                "no procedure {id:?} in {}; `runsheet list` shows the ids",
                ctx.procedures_dir().display()
            )));
        }
    }
    let ((runs, sign_offs), test_data) = if ctx.db_path()?.exists() {
        ctx.read_checked(|store| Ok(training::read(store)?))?
    } else {
        ((Vec::new(), Vec::new()), false)
    };
    test_data_notice(ctx, test_data)?;
    let report = TrainingReport::compute(&current, &runs, &sign_offs);
    if ctx.global.json {
        print_json(&report)?;
    } else {
        out::rendered(&report.render_text())?;
    }
    Ok(Exit::Success)
}

fn status_cmd(ctx: &Context, a: cli::StatusArgs) -> Result<Exit> {
    let dir = ctx.procedures_dir();
    let (procedures, broken) = ctx.read_procedures(true)?;
    // No log yet: every procedure simply has no runs.
    let current = current_versions(ctx, false)?;
    let (report, test_data) = if ctx.db_path()?.exists() {
        ctx.read_checked(|store| {
            let mut report = status::collect(Some(store), &procedures, ctx.today, a.days)?;
            let (runs, sign_offs) = crate::report::training::read(store)?;
            report.set_training(&crate::report::training::TrainingReport::compute(
                &current, &runs, &sign_offs,
            ));
            Ok(report)
        })?
    } else {
        (
            status::collect(None, &procedures, ctx.today, a.days)?,
            false,
        )
    };
    test_data_notice(ctx, test_data)?;
    if ctx.global.json {
        print_json(&report.to_json())?;
    } else {
        let width = crate::text::columns::stdout_width();
        out::rendered(&report.render_text(ctx.color, width))?;
        if procedures.is_empty() {
            errln!(
                "runsheet: no procedures in {}{}; pass --procedures DIR, or create one with `runsheet new <id>`",
                dir.display(),
                if dir.is_dir() {
                    ""
                } else {
                    " (no such folder)"
                }
            );
        }
    }
    if broken > 0 {
        errln!("{broken} procedure file(s) could not be read; run `runsheet lint` for details");
    }
    Ok(if a.strict && report.attention() > 0 {
        Exit::ChecksFailed
    } else {
        Exit::Success
    })
}

// ---------------------------------------------------------------- witnesses

/// A request body or cosignature lines: a file, or standard input for `-` or none.
fn read_input(file: Option<&Path>) -> Result<String> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    match file.filter(|f| *f != Path::new("-")) {
        Some(f) => std::fs::File::open(f)
            .and_then(|h| h.take(2 << 20).read_to_end(&mut bytes))
            .map_err(|e| Error::io(f, &e))?,
        None => std::io::stdin()
            .lock()
            .take(2 << 20)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("<stdin>", &e))?,
    };
    String::from_utf8(bytes).map_err(|_| {
        Error::Input(format!(
            "{}: not UTF-8 text",
            file.map_or("<stdin>".into(), |f| f.display().to_string())
        ))
    })
}

fn cosign_cmd(ctx: &Context, a: cli::CosignArgs) -> Result<Exit> {
    use crate::witness::client::{self, ViaOutcome};
    let witness = read_witness_key(&a.witness)?;
    let actor = ctx.recorded_actor();
    let mut store = ctx
        .store_options()
        .actor(&actor)
        .open_existing(&ctx.db_path()?)?;
    store.check_pages()?;
    if a.request {
        let old = match a.from_size {
            Some(n) => n,
            None => store.witnessed_size(&witness)?,
        };
        out::rendered(&client::request(&mut store, old)?.body)?;
        return Ok(Exit::Success);
    }
    let added = match (&a.add, &a.via) {
        (Some(file), _) => {
            client::add_lines(&mut store, &witness, &read_input(Some(file))?, None, true)?
        }
        (None, Some(cmd)) => {
            match client::via(&mut store, &witness, cmd, |l| errln!("witness: {l}"))? {
                ViaOutcome::Cosigned { added, .. } => added,
                ViaOutcome::Fork { request, .. } => {
                    errln!(
                        "runsheet: the witness {} REFUSED this log's checkpoint of {} records as a FORK: it is not consistent with the tree of {} records the witness cosigned before. The log was rewritten since (see `runsheet verify --witness {}`); the witness keeps the request as evidence",
                        witness.to_vkey(),
                        request.new,
                        request.old,
                        witness.to_vkey()
                    );
                    return Ok(Exit::WitnessFork);
                }
            }
        }
        (None, None) => {
            return Err(Error::Input(
                "give --via CMD, --request or --add FILE".into(),
            ));
        }
    };
    for (size, new) in &added.stored {
        outln!(
            "{} the cosignature by {} of the checkpoint of {size} records",
            if *new { "Stored" } else { "Already had" },
            witness.name()
        )?;
    }
    if added.ignored > 0 {
        errln!(
            "runsheet: ignored {} signature line(s) by other keys",
            added.ignored
        );
    }
    Ok(Exit::Success)
}

fn witness_cmd(ctx: &Context, a: cli::WitnessArgs) -> Result<Exit> {
    use crate::cli::WitnessCommand as W;
    use crate::witness::{CosignOutcome, WitnessState};
    let state = match a.state {
        Some(p) => p,
        None => crate::witness::default_state_path().ok_or_else(|| {
            Error::Input("cannot find a data directory for the witness state (no HOME?); pass --state PATH or set RUNSHEET_WITNESS_STATE".into())
        })?,
    };
    // The global --key-file is the log's (RUNSHEET_KEY_FILE): never read it here.
    let leaked = std::env::var_os("RUNSHEET_WITNESS_KEY_FILE").is_none()
        && a.key_file.as_ref().map(|k| k.as_os_str())
            == std::env::var_os("RUNSHEET_KEY_FILE").as_deref();
    let key_file = a
        .key_file
        .filter(|_| !leaked)
        .unwrap_or_else(|| crate::witness::default_key_path(&state));
    if ctx.global.json && !matches!(a.command, W::Status) {
        // Checked before anything is done: their output is a key or a
        // cosignature for another program, or a sentence.
        return Err(Error::Usage(
            "--json: only `runsheet witness status` prints JSON; the other witness commands print a verifier key, a cosignature or a sentence (drop --json)".into(),
        ));
    }
    match a.command {
        W::Init { name } => {
            let (_, vkey) = WitnessState::init(&state, &key_file, &name)?;
            outln!("{vkey}")?;
            errln!(
                "Created the witness state {} with the cosigner key {} (mode 0600). Give the logs this verifier key for `runsheet cosign --witness`; add each log with `runsheet witness add-log`.",
                state.display(),
                key_file.display()
            );
        }
        W::Key => {
            let vkey = WitnessState::open_read_only(&state)?
                .identity()?
                .unwrap_or_default();
            outln!("{vkey}")?;
        }
        W::AddLog { origin, vkey } => {
            let log = read_vkey(&vkey, "--vkey")?;
            let added = WitnessState::open(&state)?.add_log(&origin, &log)?;
            outln!(
                "{} the log {origin} with the key {}",
                if added {
                    "Witnessing"
                } else {
                    "Already witnessing"
                },
                log.to_vkey()
            )?;
        }
        W::Cosign { file } => {
            let body = read_input(file.as_deref())?;
            let mut st = WitnessState::open(&state)?;
            let cosigner = st.cosigner(&key_file)?;
            match st.cosign(&cosigner, &body, crate::witness::state::unix_now())? {
                CosignOutcome::Cosigned {
                    origin,
                    size,
                    lines,
                    again,
                } => {
                    out::text(&lines)?;
                    errln!(
                        "{} the checkpoint of {size} records of {origin}",
                        if again {
                            "Already cosigned; the cosignature again for"
                        } else {
                            "Cosigned"
                        }
                    );
                }
                CosignOutcome::Conflict { origin, sent, size } => {
                    out::text(&crate::custody::proof_text::format_size_line(size))?;
                    errln!(
                        "runsheet: the request is from {sent} records, but this witness last cosigned {size} of {origin}; nothing was cosigned. Send a consistency proof from {size} (`runsheet cosign --via` does so itself)"
                    );
                    return Ok(Exit::WitnessConflict);
                }
                CosignOutcome::Fork {
                    origin,
                    state_size,
                    new_size,
                    reason,
                } => {
                    errln!(
                        "runsheet: FORK: the checkpoint of {new_size} records of {origin} is not consistent with the tree of {state_size} records this witness cosigned ({reason}); it was refused and kept as evidence in {}",
                        state.display()
                    );
                    return Ok(Exit::WitnessFork);
                }
            }
        }
        W::Status => {
            let logs = WitnessState::open_read_only(&state)?.status()?;
            if ctx.global.json {
                print_json(&json_outputs::WitnessStatusJson { logs })?;
            } else if logs.is_empty() {
                outln!(
                    "No logs yet; add one with `runsheet witness add-log --origin ORIGIN --vkey VKEY`."
                )?;
            } else {
                for l in &logs {
                    outln!(
                        "{}  size {}  root {}  cosigned {}  forks {}",
                        l.origin,
                        l.size,
                        l.root.as_deref().unwrap_or("-"),
                        l.cosigned_at.as_deref().unwrap_or("never"),
                        l.forks
                    )?;
                }
            }
        }
    }
    Ok(Exit::Success)
}
