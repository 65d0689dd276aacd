//! The command-line interface: clap derive definitions, and parsing them
//! with the environment variables the options read (an empty one counts as
//! unset); no behaviour.
//!
//! May depend only on `text` (to make the arguments a usage error quotes inert).

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

mod acts;
pub mod help;

pub use acts::{ActProof, ApproveArgs, ReviewArgs, ReviewOutcome};

/// The command line as people see it: the derived definitions with each
/// command's examples, and without the global options a command ignores
/// (see [`help`]). Completions and man pages are made from it.
pub fn command() -> clap::Command {
    help::decorate(Cli::command())
}

/// Parse `args` (the program name first). An option's environment variable
/// that `is_empty` says is set but empty counts as unset, as it does for
/// most tools (`RUNSHEET_DB= runsheet runs` reads the default log).
pub fn parse_from<I, T>(args: I, is_empty: &dyn Fn(&OsStr) -> bool) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    // Before `decorate`, which builds the command: only then does the
    // choice reach every subcommand's help.
    let cmd = help::decorate(
        without_empty_env(Cli::command(), is_empty).color(color_choice(&args, no_color_env)),
    );
    let matches = cmd.try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    cli.sources = Sources::of(&matches);
    Ok(cli)
}

/// Which options were given on the command line and which came from their
/// environment variables (for `runsheet config`), by option id.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The command's name (`run`, `sign-off`, …).
    pub command: String,
    pub flags: Vec<String>,
    pub env: Vec<String>,
}

impl Sources {
    /// The options whose origin `runsheet config` reports, wherever the
    /// parser put them (global ones, and the subcommand's).
    const IDS: [&'static str; 6] = [
        "db",
        "procedures",
        "key_file",
        "config",
        "operator",
        "allowed_signers",
    ];

    fn of(matches: &clap::ArgMatches) -> Sources {
        let mut out = Sources {
            command: matches.subcommand_name().unwrap_or_default().to_string(),
            ..Sources::default()
        };
        let sub = matches.subcommand().map(|(_, m)| m);
        for id in Self::IDS {
            let source = [Some(matches), sub].into_iter().flatten().find_map(|m| {
                m.try_get_raw(id)
                    .ok()
                    .flatten()
                    .and_then(|_| m.value_source(id))
            });
            match source {
                Some(clap::parser::ValueSource::CommandLine) => out.flags.push(id.into()),
                Some(clap::parser::ValueSource::EnvVariable) => out.env.push(id.into()),
                _ => {}
            }
        }
        out
    }

    /// Given on the command line?
    pub fn flag(&self, id: &str) -> bool {
        self.flags.iter().any(|f| f == id)
    }

    /// From its environment variable?
    pub fn env(&self, id: &str) -> bool {
        self.env.iter().any(|f| f == id)
    }
}

/// The process's arguments, with its environment.
pub fn parse() -> Result<Cli, clap::Error> {
    parse_from(std::env::args_os(), &|name| {
        std::env::var_os(name).is_some_and(|v| v.is_empty())
    })
}

/// A usage error as stderr shows it: clap's words with the arguments it
/// quotes made inert (they can hold anything, e.g. a file name from a glob),
/// then coloured as clap colours them (`error:` red, `Usage:` bold and
/// underlined, `tip:` green, quoted values yellow) when `--color`,
/// `--no-color` and NO_COLOR allow it and stderr is a terminal.
pub fn usage_error_text(err: &clap::Error) -> String {
    use std::io::IsTerminal as _;
    let plain = crate::text::sanitize_terminal(err.render().to_string().trim_end());
    let args: Vec<OsString> = std::env::args_os().collect();
    let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let color = match color_choice(&args, no_color_env) {
        clap::ColorChoice::Always => true,
        clap::ColorChoice::Never => false,
        clap::ColorChoice::Auto => std::io::stderr().is_terminal(),
    };
    if color {
        paint_usage_error(&plain)
    } else {
        plain
    }
}

/// [`usage_error_text`]'s colours on text already made inert.
fn paint_usage_error(plain: &str) -> String {
    const RESET: &str = "\x1b[0m";
    let mut out = String::with_capacity(plain.len() + 64);
    for (i, line) in plain.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let (head, rest) = [
            ("error:", "\x1b[1;31m"),
            ("Usage:", "\x1b[1;4m"),
            ("  tip:", "\x1b[32m"),
        ]
        .iter()
        .find_map(|(p, code)| {
            line.strip_prefix(p)
                .map(|rest| (format!("{code}{p}{RESET}"), rest))
        })
        .unwrap_or((String::new(), line));
        out.push_str(&head);
        // clap quotes values as 'value'; colour each quoted run.
        let mut quoted = false;
        for (j, part) in rest.split('\'').enumerate() {
            if j > 0 {
                if quoted {
                    out.push('\'');
                    out.push_str(RESET);
                } else {
                    out.push_str("\x1b[33m'");
                }
                quoted = !quoted;
            }
            out.push_str(part);
        }
        if quoted {
            out.push_str(RESET);
        }
    }
    out
}

/// `cmd` and its subcommands with no option reading an empty variable.
fn without_empty_env(cmd: clap::Command, is_empty: &dyn Fn(&OsStr) -> bool) -> clap::Command {
    let cmd = cmd.mut_args(|a| match a.get_env() {
        Some(name) if is_empty(name) => a.env(None::<&'static str>),
        _ => a,
    });
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    names.into_iter().fold(cmd, |c, n| {
        c.mut_subcommand(n, |s| without_empty_env(s, is_empty))
    })
}

/// Walk an operator through a documented operating procedure and keep
/// tamper-evident evidence that it was followed (ISO/IEC 27001:2022 A.5.37).
#[derive(Debug, Parser)]
#[command(
    name = "runsheet",
    version,
    about,
    long_about = None,
    propagate_version = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
    /// Where the options' values came from (set by [`parse_from`]).
    #[arg(skip)]
    pub sources: Sources,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// The colour choice of a command line before it is parsed (for clap's own
/// help and usage output): `--color` as given (its last word wins), else
/// never with `--no-color` or a non-empty NO_COLOR, else auto.
fn color_choice(args: &[OsString], no_color_env: bool) -> clap::ColorChoice {
    let mut when = None;
    let mut no_color = no_color_env;
    let mut it = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == "--no-color" {
            no_color = true;
        } else if let Some(v) = a.strip_prefix("--color=") {
            when = Some(v.to_string());
        } else if a == "--color" {
            when = it.next().map(|v| v.to_string());
        }
    }
    match when.as_deref() {
        Some("always") => clap::ColorChoice::Always,
        Some("never") => clap::ColorChoice::Never,
        _ if no_color => clap::ColorChoice::Never,
        _ => clap::ColorChoice::Auto,
    }
}

/// Options every command shares.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Evidence log (SQLite file) [default: runsheet/evidence.sqlite3 in the platform data directory]
    #[arg(long, global = true, env = "RUNSHEET_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Folder of procedure files [default: ./procedures if it exists, else the platform config directory]
    #[arg(long, global = true, env = "RUNSHEET_PROCEDURES", value_name = "DIR")]
    pub procedures: Option<PathBuf>,
    /// The log's signing key file [default: the log's path with .key added]
    #[arg(long, global = true, env = "RUNSHEET_KEY_FILE", value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Configuration file [default: runsheet/config.toml in the platform config directory, if it exists]
    #[arg(long, global = true, env = "RUNSHEET_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print data as JSON instead of a table or text
    #[arg(long, global = true)]
    pub json: bool,
    /// No colours (as --color never; also when the NO_COLOR environment variable is set)
    #[arg(long, global = true)]
    pub no_color: bool,
    /// When to colour output, help and usage included: auto (a terminal, and
    /// neither --no-color nor NO_COLOR), always, never
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
    /// No hints or summaries (export's file list, the line under `runs`,
    /// sign-off-text's how-to, key's note): only data, warnings and errors
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check procedure files: syntax, required fields, references and flow
    Lint(LintArgs),
    /// List the procedures found in the procedures folder
    List,
    /// Render a procedure as a document (Markdown, HTML) or a flow chart (Mermaid)
    Render(RenderArgs),
    /// Write a commented starter procedure that lints clean
    New(NewArgs),
    /// Print the JSON Schema of the procedure format, or of a command's --json output
    Schema(SchemaArgs),
    /// Print the effective settings and where each came from (flag, environment
    /// variable, configuration file, or default)
    Config,
    /// Run a procedure: full-screen in a terminal, line by line otherwise
    Run(RunArgs),
    /// Continue an open run at the exact step where it stopped
    Resume(ResumeArgs),
    /// List runs in the evidence log, newest first
    Runs(RunsArgs),
    /// Show one run's timeline
    Show(ShowArgs),
    /// Every version of a procedure the evidence log holds (run or approved): its
    /// approvals, reviews and runs, and which one the procedures folder's file is
    History(HistoryArgs),
    /// What changed between two versions of a procedure, step by step (text, or
    /// Markdown or HTML for the ISMS change record)
    Diff(DiffArgs),
    /// Print the exact text a second person signs with their SSH key to sign off
    /// a run's step (pipe it to `ssh-keygen -Y sign`; docs/signoff.md)
    SignOffText(SignOffTextArgs),
    /// Sign off a run's step as the second person: from your own login (another OS
    /// user than the operator's), or with an SSH signature file (docs/signoff.md)
    SignOff(SignOffArgs),
    /// Approve a procedure's exact content as the approver (your login or your SSH
    /// signature; recorded, and written beside the file as FILE.approval; docs/approval.md)
    Approve(ApproveArgs),
    /// Record a review of a procedure: who, which version, the outcome and the next review date
    Review(ReviewArgs),
    /// Check the evidence log: every page, the hash chain, the Merkle tree, every signed
    /// checkpoint and cosignature (and a checkpoint kept elsewhere); report the first bad record
    Verify(VerifyArgs),
    /// Print the log's latest signed checkpoint (--sign: sign one that covers the head first)
    Checkpoint(CheckpointArgs),
    /// Print the log's public key (C2SP verifier key) that its checkpoints verify with
    Key,
    /// Append every event since the last feed to FILE as OCSF JSON lines, for a
    /// SIEM's log shipper (exactly once; safe from cron or a systemd timer; docs/siem-feed.md)
    Feed(FeedArgs),
    /// Prove a run's events are in the log, or that the log only grew since a checkpoint
    Prove(ProveArgs),
    /// Put the latest signed checkpoint somewhere the log's writers cannot reach:
    /// on screen as text and a QR code, into a file, or into a git repository
    Anchor(AnchorArgs),
    /// Have a witness cosign the log's latest checkpoint, and store its cosignatures
    Cosign(CosignArgs),
    /// Be a witness for other runsheet logs: check their checkpoints only grow, and cosign them
    Witness(WitnessArgs),
    /// Make a custodian's key, or register one in the log: custodians sign redactions
    Custodian(CustodianArgs),
    /// Erase one record's content (note text, value, evidence, command output), signed by a
    /// registered custodian; or, with --due, all content past its procedure's retention
    Redact(RedactArgs),
    /// Export an audit bundle (HTML, CSV, JSON, Markdown, manifest, signed checkpoint), or a
    /// sample packet of some runs with inclusion proofs
    Export(ExportArgs),
    /// Check an exported audit bundle or sample packet: files, signatures and proofs with
    /// --key/--witness (and the log with --db)
    VerifyBundle(VerifyBundleArgs),
    /// Per procedure: last run, cadence adherence, open runs, review due
    Status(StatusArgs),
    /// Per procedure and operator: trained (a completed drill or supervised run) on the
    /// version in the procedures folder now, when, who supervised; or out of date
    Training(TrainingArgs),
    /// Print shell completions
    Completions(CompletionsArgs),
    /// Print the man page (roff)
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CustodianArgs {
    #[command(subcommand)]
    pub command: CustodianCommand,
}

#[derive(Debug, Subcommand)]
pub enum CustodianCommand {
    /// Create a custodian key file (mode 0600; refuses to overwrite) and print its
    /// verifier key. Touches no log: keep the key away from the log's writers
    Init {
        /// Where to write the custodian's private key
        #[arg(long, value_name = "FILE")]
        custodian_key: PathBuf,
        /// The key's name (e.g. security-officer@example.com)
        #[arg(long)]
        name: String,
    },
    /// Register a custodian's verifier key in the log (a recorded custodian-added event)
    Add {
        /// The custodian's verifier key (as `custodian init` printed it), or a file with one
        vkey: String,
    },
    /// List the custodians registered in the log
    List,
}

#[derive(Debug, Args)]
pub struct RedactArgs {
    /// The record (its seq, as `show` and `verify` print it) whose content to erase
    #[arg(
        long,
        value_name = "SEQ",
        required_unless_present = "due",
        conflicts_with = "due"
    )]
    pub seq: Option<i64>,
    /// Why (recorded and signed with the redaction)
    #[arg(long, value_name = "TEXT", required_unless_present = "due")]
    pub reason: Option<String>,
    /// Erase all content of ended runs older than their procedure's content_retention_days
    #[arg(long)]
    pub due: bool,
    /// With --due: list what would be erased, erase nothing
    #[arg(long, requires = "due")]
    pub dry_run: bool,
    /// The custodian's private key file (from `custodian init`)
    #[arg(long, env = "RUNSHEET_CUSTODIAN_KEY", value_name = "FILE")]
    pub custodian_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Procedure ids (found in the procedures folder), files or folders to check [default: the procedures folder]
    pub paths: Vec<PathBuf>,
    /// Fail on warnings too (e.g. a review date that has passed)
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderFormat {
    Markdown,
    Mermaid,
    Html,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Procedure id, file name or path
    pub procedure: String,
    /// Output format
    #[arg(long, short, value_enum, default_value_t = RenderFormat::Markdown)]
    pub format: RenderFormat,
    /// Render the change record instead: what changed from version FROM (a
    /// version, a start of its SHA-256, `run:RUN-ID` or `previous`, as
    /// `runsheet diff` takes it) to this file, in Markdown or HTML
    #[arg(long, value_name = "FROM")]
    pub diff: Option<String>,
    /// Write to this file instead of standard output (refuses to overwrite)
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// Id of the new procedure (lower-case letters, digits and -)
    pub id: String,
    /// Where to write it [default: <procedures folder>/<id>.toml]
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Procedure id, file name or path
    pub procedure: String,
    /// Line-by-line mode (automatic when standard input or output is not a terminal)
    #[arg(long)]
    pub plain: bool,
    /// Your display name, recorded next to your OS user name
    #[arg(long, env = "RUNSHEET_OPERATOR", value_name = "NAME")]
    pub operator: Option<String>,
    /// Start a new run even though you have an open run of this procedure
    #[arg(long)]
    pub new: bool,
    /// The allowed-signers file SSH sign-offs are checked against [default: allowed_signers in the procedures folder]
    #[arg(long, env = "RUNSHEET_ALLOWED_SIGNERS", value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
    /// A practice run: recorded and marked as a drill, never counted in status or an export's runs; only commands marked safe_to_rehearse run
    #[arg(long)]
    pub drill: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ResumeArgs {
    /// Run id or a unique prefix [default: your most recent open run]
    pub run_id: Option<String>,
    /// Line-by-line mode (automatic when standard input or output is not a terminal)
    #[arg(long)]
    pub plain: bool,
    /// Your display name, recorded next to your OS user name
    #[arg(long, env = "RUNSHEET_OPERATOR", value_name = "NAME")]
    pub operator: Option<String>,
    /// Take over a run another operator drove last (recorded as a handover; needs --reason)
    #[arg(long, requires = "reason")]
    pub take_over: bool,
    /// Why you take the run over (recorded with the handover)
    #[arg(long, value_name = "TEXT", requires = "take_over")]
    pub reason: Option<String>,
    /// The allowed-signers file SSH sign-offs are checked against [default: allowed_signers in the procedures folder]
    #[arg(long, env = "RUNSHEET_ALLOWED_SIGNERS", value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
}

/// What `--status` takes (a run's outcomes, and `open`), so shells complete
/// them; a test checks it against the engine's words.
pub const OUTCOMES: [&str; 5] = ["open", "completed", "escalated", "failed", "aborted"];

/// Filters shared by `runs` and `export`.
#[derive(Debug, Clone, Default, Args)]
pub struct RunFilter {
    /// Only runs of this procedure id
    #[arg(long, value_name = "ID")]
    pub procedure: Option<String>,
    /// Only runs with this outcome
    #[arg(long, value_name = "OUTCOME", value_parser = OUTCOMES)]
    pub status: Option<String>,
    /// Only runs by this operator (OS user or display name)
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
    /// Only runs started on or after this date (YYYY-MM-DD, UTC)
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only runs started on or before this date (YYYY-MM-DD, UTC)
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Only runs of procedures linked to this Annex A control (e.g. A.8.13)
    #[arg(long, value_name = "CONTROL")]
    pub control: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs that are still open (resumable)
    #[arg(long)]
    pub open: bool,
    /// At most this many runs, the newest
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    #[command(flatten)]
    pub filter: RunFilter,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Run id or a unique prefix
    pub run_id: String,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Procedure id (or its file's name or path)
    pub procedure: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Markdown,
    Html,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Procedure id (or its file's name or path)
    pub procedure: String,
    /// The older version: a version (`1.2`), a start of its SHA-256, `current` (the
    /// file in the procedures folder), `run:RUN-ID` (the version a run used) or
    /// `previous` (the version before TO, in the order the log first saw them)
    /// [default: previous]
    pub from: Option<String>,
    /// The newer version, named as FROM [default: current, or the log's newest
    /// version when the procedures folder has no file of it]
    pub to: Option<String>,
    /// Output format (Markdown and HTML for the ISMS change record)
    #[arg(long, short, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Write to this file instead of standard output (refuses to overwrite)
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct SignOffTextArgs {
    /// Run id or a unique prefix
    pub run_id: String,
    /// The step to sign off [default: the run's current step]
    #[arg(long, value_name = "STEP")]
    pub step: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write every page (runsheet.1 and one per command, runsheet-run.1 …) into
    /// this folder instead of printing runsheet(1)
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct SignOffArgs {
    /// Run id or a unique prefix
    pub run_id: String,
    /// The step to sign off [default: the run's current step]
    #[arg(long, value_name = "STEP")]
    pub step: Option<String>,
    /// Sign with this SSH signature file of the step's sign-off text instead of
    /// as your login (made with `runsheet sign-off-text RUN | ssh-keygen -Y sign …`)
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,
    /// The allowed-signers file that maps people to roles [default: allowed_signers in the procedures folder]
    #[arg(long, env = "RUNSHEET_ALLOWED_SIGNERS", value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Also prove the log is an append-only extension of this checkpoint kept
    /// outside it: a signed checkpoint (from `checkpoint`, `anchor`, a witness
    /// or a bundle), or an older runsheet's JSON checkpoint file
    #[arg(long, visible_alias = "checkpoint", value_name = "FILE")]
    pub trusted: Option<PathBuf>,
    /// The log's public key as you hold it (a verifier key, or a file with one);
    /// without it, signatures are checked with the key the log itself records
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// A witness you trust (its verifier key, or a file with one): its
    /// cosignatures must verify and it must have cosigned (repeatable)
    #[arg(long = "witness", value_name = "KEY")]
    pub witnesses: Vec<String>,
    /// A custodian you trust (its verifier key, or a file with one): every
    /// redaction must be signed by one of these (repeatable)
    #[arg(long = "custodian", value_name = "KEY")]
    pub custodians: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// Write the signed checkpoint here instead of standard output (refuses to overwrite)
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Sign a checkpoint of the log as it is now when the latest one does not
    /// cover every record (writes to the log; needs its key). Without it the
    /// command only reads
    #[arg(long)]
    pub sign: bool,
}

#[derive(Debug, Args)]
pub struct FeedArgs {
    /// The feed file: created (0600) when missing, appended to; the log keeps
    /// how far it was fed, keyed by its canonical path
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
    /// FILE was rotated (moved away and a new one started): continue after the
    /// stored position instead of refusing a file that ends before it
    #[arg(long)]
    pub rotated: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["run", "from"])))]
pub struct ProveArgs {
    /// Inclusion proofs (C2SP tlog-proof) of this run's events against the latest signed checkpoint
    #[arg(long, value_name = "ID", requires = "out")]
    pub run: Option<String>,
    /// A consistency proof from this earlier signed checkpoint to the latest
    /// (the body of a tlog-witness add-checkpoint request)
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Where to write: a new directory for --run (one .tlog-proof file per
    /// event, and the checkpoint); a new file for --from [default: standard output]
    #[arg(long, short, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AnchorArgs {
    /// Append the checkpoint to this text file (created if missing)
    #[arg(long, value_name = "FILE")]
    pub append: Option<PathBuf>,
    /// Commit the checkpoint into the git repository at DIR (a file named
    /// after the log's origin, replaced and committed; the history keeps every anchor)
    #[arg(long, value_name = "DIR")]
    pub git: Option<PathBuf>,
    /// Show the QR code even when standard output is not a terminal
    #[arg(long, conflicts_with = "no_qr")]
    pub qr: bool,
    /// Do not show the QR code
    #[arg(long)]
    pub no_qr: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("how").required(true).args(["via", "request", "add"])))]
pub struct CosignArgs {
    /// The witness's cosigner key (its verifier key, or a file with one)
    #[arg(long, value_name = "KEY")]
    pub witness: String,
    /// Reach the witness through this shell command (`sh -c`): it gets the
    /// add-checkpoint request on stdin and answers with cosignature lines, e.g.
    /// 'ssh sec@host runsheet witness cosign -'
    #[arg(long, value_name = "CMD")]
    pub via: Option<String>,
    /// Print the add-checkpoint request for the witness (to carry to it by hand)
    #[arg(long)]
    pub request: bool,
    /// With --request: the size the witness last cosigned [default: the largest this log holds a cosignature of]
    #[arg(long, value_name = "N", requires = "request")]
    pub from_size: Option<u64>,
    /// Store the cosignature lines the witness returned (a file, or - for stdin)
    #[arg(long, value_name = "FILE")]
    pub add: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WitnessArgs {
    /// The witness's state file [default: runsheet/witness.sqlite3 in the platform data directory]
    #[arg(
        long,
        global = true,
        env = "RUNSHEET_WITNESS_STATE",
        value_name = "PATH"
    )]
    pub state: Option<PathBuf>,
    /// The witness's cosigner key file [default: the state file's path with .key
    /// added]; RUNSHEET_KEY_FILE (the log's key) is never read here
    #[arg(
        long = "key-file",
        global = true,
        env = "RUNSHEET_WITNESS_KEY_FILE",
        value_name = "PATH"
    )]
    pub key_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: WitnessCommand,
}

/// Exit codes of `witness cosign`: 0 cosigned, 9 conflict (the witness's size
/// on stdout), 8 fork (refused and kept), 1 bad signature, 3 bad request or
/// unknown log, 4 state or key unusable.
#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Create the witness's state and cosigner key; prints its verifier key
    Init {
        /// The witness's name (a key name, e.g. sec.example.com/witness)
        #[arg(long, value_name = "NAME")]
        name: String,
    },
    /// Print the witness's verifier key (for the logs' `cosign --witness`)
    Key,
    /// Witness a log: its origin and its verifier key (`runsheet key` on its machine)
    AddLog {
        #[arg(long, value_name = "ORIGIN")]
        origin: String,
        /// The log's verifier key, or a file with one
        #[arg(long, value_name = "VKEY")]
        vkey: String,
    },
    /// Answer a tlog-witness add-checkpoint request (a file, or - / nothing for
    /// stdin): cosignature lines on stdout; exit 9 and the witness's size on a
    /// conflict, exit 8 on a fork
    Cosign {
        /// The request body [default: standard input]
        file: Option<PathBuf>,
    },
    /// List the witnessed logs: latest cosigned size, root and time, and forks refused
    Status,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Directory to write the bundle into (must not exist or be empty, unless --force)
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub filter: RunFilter,
    /// Formats to write, comma-separated
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "html,csv,json,md,xlsx,oscal"
    )]
    pub format: Vec<ExportFormat>,
    /// Replace an output directory that holds a previous audit bundle
    #[arg(long)]
    pub force: bool,
    /// Write the bundle even when the log fails verification (every file then says so)
    #[arg(long)]
    pub allow_unverified: bool,
    /// A sample packet: only this run (id or unique prefix; repeat for more),
    /// with an inclusion proof of each of its events in proofs/
    #[arg(long = "run", value_name = "ID")]
    pub runs: Vec<String>,
    /// Have this witness (its verifier key, or a file with one) cosign the
    /// export's checkpoint before the bundle is written; with --witness-via
    #[arg(long = "witness", value_name = "KEY", requires = "witness_via")]
    pub witness: Option<String>,
    /// The shell command that reaches the witness (as `cosign --via`), e.g.
    /// 'ssh sec@host runsheet witness cosign -'
    #[arg(long = "witness-via", value_name = "CMD", requires = "witness")]
    pub witness_via: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Html,
    Csv,
    Json,
    Md,
    Xlsx,
    /// oscal/assessment-results.json (OSCAL 1.2 assessment results)
    Oscal,
}

#[derive(Debug, Args)]
pub struct VerifyBundleArgs {
    /// The bundle directory
    pub dir: PathBuf,
    /// The log's public key (as `runsheet key` prints it, or a file holding
    /// it): the bundle's checkpoint, proofs and manifest must be signed by it
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// A witness's public key (repeatable): it must have cosigned the bundle's checkpoint
    #[arg(long = "witness", value_name = "KEY")]
    pub witnesses: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Days to look back for cadence adherence (at least 1)
    #[arg(long, default_value_t = 30, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub days: u32,
    /// Exit non-zero when anything is overdue (for cron and monitoring)
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct TrainingArgs {
    /// Procedure id [default: every procedure in the procedures folder]
    pub procedure: Option<String>,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// A --json output (e.g. runs, show, status, error) or `evidence` (a bundle's evidence.json); without it, the procedure format
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(
        help::JSON_OUTPUTS.iter().copied().chain([help::EVIDENCE_SCHEMA])
    ))]
    pub output: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate completions for
    pub shell: clap_complete::Shell,
}
