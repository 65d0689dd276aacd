//! Benchmark figures for docs/performance.md: prints tables, asserts nothing
//! about time. Run (release build):
//!
//! ```sh
//! cargo bench --bench figures                       # every section
//! cargo bench --bench figures -- durable startup   # some sections
//! cargo bench --bench figures -- custody-verify     # one custody part
//! ```
//!
//! Sections: `durable` (one operator action through the real store path next
//! to a bare rusqlite INSERT + COMMIT), `startup` (`--version` and `list` as
//! whole processes, the first TUI frame of a 200-step procedure), `scale`
//! (`runsheet verify` and `runsheet export` over 100k/300k/1M-event logs: time
//! and peak RSS), `lint`
//! (`runsheet lint` over 1,000 generated procedures), `custody` (the
//! chain-of-custody targets; alone: `custody-action`, `custody-end`,
//! `custody-proofs`, `custody-verify`; see `figures/custody.rs`).
//!
//! Environment: `RUNSHEET_BENCH_SIZES=100000,300000` overrides the scale sizes;
//! `RUNSHEET_BENCH_REPEAT=N` the repeats of whole-process measurements.
//! The generated scale logs are kept (and reused) under
//! `<target>/tmp/runsheet-bench/`; delete that folder to regenerate them.
//!
//! May depend on anything in the crate; only the public API is used. Not part
//! of CI (see docs/performance.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rusqlite::{Connection, TransactionBehavior, params};
use uuid::Uuid;

use runsheet::engine::{self, Command, CommandResult, RequirementKind, Run, StartInfo};
use runsheet::procedure::lint::{self, Severity};
use runsheet::procedure::parse::{self, Format, Loaded, Source};
use runsheet::procedure::{StepKind, ValueKind};
use runsheet::session::{Clock, MemorySink, Session, StoreSink, new_event};
use runsheet::store::{NewEvent, SCHEMA_VERSION, Store};
use runsheet::testdata::Rng;

#[path = "figures/custody.rs"]
mod custody;

const SECTIONS: &[&str] = &["durable", "startup", "scale", "lint", "custody"];
/// Bump when the scale-log generator changes, so old cached logs are not reused.
const GENERATOR_VERSION: u32 = 1;
/// The argument that turns this binary into the child-measuring helper.
const MEASURE_CHILD: &str = "--measure-child";
/// The argument that turns this binary into `PRAGMA quick_check` alone on a
/// log, opened as runsheet's read commands open a quiescent log (read-only,
/// immutable): the baseline verify is compared with.
const QUICK_CHECK: &str = "--quick-check";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(MEASURE_CHILD) {
        measure_child_helper(&args[1..]);
        return;
    }
    if args.first().map(String::as_str) == Some(QUICK_CHECK) {
        quick_check_alone(Path::new(&args[1]));
        return;
    }
    let wanted: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    for w in &wanted {
        assert!(
            SECTIONS.contains(w) || custody::PARTS.contains(w),
            "unknown section {w:?}; sections: {}, {}",
            SECTIONS.join(", "),
            custody::PARTS.join(", ")
        );
    }
    // A sub-section `custody-end` runs with its section `custody`.
    let run = |s: &str| {
        wanted.is_empty()
            || wanted.contains(&s)
            || s.split_once('-')
                .is_some_and(|(section, _)| wanted.contains(&section))
    };
    println!("{}", machine());
    if run("durable") {
        durable_section();
    }
    if run("startup") {
        startup_section();
    }
    if run("scale") {
        scale_section();
    }
    if run("lint") {
        lint_section();
    }
    if custody::PARTS.iter().any(|p| run(p)) {
        custody::section(run);
    }
}

// ------------------------------------------------------------------ helpers

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runsheet"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Scratch space on the same disk as the build (not a tmpfs).
fn scratch() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("runsheet-bench");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn repeat(default: usize) -> usize {
    std::env::var("RUNSHEET_BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "machine: {cpu}, {cores} cores, Linux {}; runsheet {} (bench profile = release); {}",
        kernel.trim(),
        env!("CARGO_PKG_VERSION"),
        Utc::now().format("%Y-%m-%d %H:%M UTC")
    )
}

/// Median, p90 and p99 of a sample (nearest rank).
#[derive(Debug, Clone, Copy)]
struct Stats {
    median: Duration,
    p90: Duration,
    p99: Duration,
    min: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    assert!(!v.is_empty());
    v.sort();
    let rank = |p: f64| {
        let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[i]
    };
    Stats {
        median: rank(0.5),
        p90: rank(0.9),
        p99: rank(0.99),
        min: v[0],
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Print a Markdown table.
fn table(title: &str, head: &[&str], rows: &[Vec<String>]) {
    let mut out = String::new();
    let _ = writeln!(out, "\n### {title}\n");
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        head.iter().map(|_| " --- |").collect::<String>()
    );
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    print!("{out}");
}

/// A fixed clock for procedures' review dates.
fn today() -> NaiveDate {
    Utc::now().date_naive()
}

// --------------------------------------------------------- whole processes

/// One finished child process: wall time, peak RSS, exit code, stdout.
#[derive(Debug, Clone)]
struct Measured {
    wall: Duration,
    max_rss_kib: u64,
    code: Option<i32>,
    stdout: String,
}

/// Run `cmd` under this binary in helper mode, which spawns it as its only
/// child, waits, and reads `getrusage(RUSAGE_CHILDREN)`: the child's exact
/// peak RSS (VmHWM), and the wall time from spawn to exit.
fn measure(cmd: &Process) -> Measured {
    let mut helper = Process::new(std::env::current_exe().unwrap());
    helper.arg(MEASURE_CHILD).arg(cmd.get_program());
    helper.args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => helper.env(k, v),
            None => helper.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        helper.current_dir(dir);
    }
    let out = helper
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .rev()
        .find(|l| l.starts_with("measured "))
        .unwrap_or_else(|| panic!("helper failed: {err}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    Measured {
        wall: Duration::from_nanos(f[1].parse().unwrap()),
        max_rss_kib: f[2].parse().unwrap(),
        code: f[3].parse().ok(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

fn measure_child_helper(args: &[String]) {
    let start = Instant::now();
    let status = Process::new(&args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let wall = start.elapsed();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    // Linux reports ru_maxrss in KiB.
    eprintln!(
        "measured {} {} {}",
        wall.as_nanos(),
        usage.max_rss(),
        status.code().map_or("signal".into(), |c| c.to_string())
    );
}

fn runsheet() -> Process {
    let mut cmd = Process::new(bin());
    cmd.env_remove("RUNSHEET_DB")
        .env_remove("RUNSHEET_PROCEDURES")
        .env("NO_COLOR", "1");
    cmd
}

/// Run a whole process `n` times (plus one warm-up): wall-time stats and the largest peak RSS.
fn processes(n: usize, make: impl Fn() -> Process, expect_code: i32) -> (Stats, u64, Measured) {
    let first = measure(&make());
    assert_eq!(
        first.code,
        Some(expect_code),
        "{:?} exited {:?}: {}",
        make(),
        first.code,
        first.stdout
    );
    let mut walls = Vec::with_capacity(n);
    let mut rss = 0;
    let mut last = first;
    for _ in 0..n {
        let m = measure(&make());
        assert_eq!(m.code, Some(expect_code));
        walls.push(m.wall);
        rss = rss.max(m.max_rss_kib);
        last = m;
    }
    (stats(walls), rss, last)
}

// ------------------------------------------------------- procedure generator

/// A lint-clean procedure with `steps` main-path steps of every kind, roles,
/// multi-line bodies and an escalation branch.
fn gen_procedure(id: &str, steps: usize, seed: u64) -> String {
    let mut r = Rng(seed);
    let mut t = String::with_capacity(steps * 400);
    let _ = write!(
        t,
        r#"# Generated for benchmarks.
id = "{id}"
title = "Generated procedure {id}"
version = "1.{seed}"
owner = "IT Operations"
approver = "CISO"
approved = {approved}
review_every_months = 12
purpose = "Exercise runsheet with a generated procedure of {steps} steps."
scope = "Benchmarks only."
cadence = "daily"
controls = ["A.5.37", "A.8.13"]
default_escalation = "oncall"

[[roles]]
id = "operator"
title = "IT administrator on duty"
description = "Use your personal admin account."

[[roles]]
id = "lead"
title = "Team lead"
"#,
        approved = today().format("%Y-%m-%d")
    );
    for i in 0..steps {
        let _ = write!(
            t,
            "\n[[steps]]\nid = \"s{i}\"\ntitle = \"Step {i}: check item {}\"\nrole = \"operator\"\nbody = \"\"\"\nOpen the console for item {i} and check its state.\nWrite down anything unusual; compare with yesterday's value.\"\"\"\n",
            r.below(1000)
        );
        if i % 10 == 3 {
            t.push_str("controls = [\"A.8.13\"]\ncritical = true\n");
        }
        match i % 6 {
            0 => t.push_str("note = \"What did you see?\"\n"),
            1 => t.push_str(
                "value = { type = \"number\", label = \"Size\", unit = \"GiB\", min = 0, max = 100000 }\n",
            ),
            2 => {
                let yes = if i + 1 < steps {
                    format!("s{}", i + 1)
                } else {
                    "end".into()
                };
                let _ = writeln!(
                    t,
                    "decision = {{ question = \"Is item {i} healthy?\", yes = \"{yes}\", no = \"fail\" }}"
                );
            }
            3 => {
                let _ = writeln!(t, "command = {{ run = \"echo item {i} ok\" }}");
            }
            4 => t.push_str(
                "value = { type = \"choice\", label = \"State\", choices = [\"green\", \"amber\", \"red\"] }\n",
            ),
            // A typed name, as the generator signs off (a typed sign-off must
            // be allowed by the step since issue 13).
            _ => t.push_str("evidence = \"Ticket id\"\nsignoff = \"lead\"\ntyped_signoff = true\n"),
        }
    }
    t.push_str(
        r#"
[[branches]]
id = "oncall"
title = "Call the on-call engineer"
contact = "On-call phone +1 555 0100"
then = "retry"

[[branches.steps]]
id = "call"
title = "Call the on-call engineer"
value = { type = "text", label = "Who answered" }

[[branches.steps]]
id = "ticket"
title = "Open an incident ticket"
evidence = "Incident ticket id"
"#,
    );
    t
}

fn parse_toml(text: &str) -> Loaded {
    parse::parse(Source::from_text("generated.toml", text, Format::Toml))
        .unwrap_or_else(|d| panic!("generated procedure does not parse: {d}"))
}

fn start_info(sha: &str) -> StartInfo {
    StartInfo {
        procedure_sha256: sha.into(),
        procedure_format: "toml".into(),
        source_path: "generated.toml".into(),
        operator: runsheet::vocab::Operator::new("alice", Some("Alice Admin"), "bench-host"),
        runsheet_version: env!("CARGO_PKG_VERSION").into(),
        today: today(),
        clock: None,
        pid: None,
        control: Default::default(),
        change_notice: None,
        drill: false,
    }
}

/// Create a run in `store` the way `runsheet run` does; returns its id and the replayed run.
fn create_run(store: &mut Store, loaded: &Loaded, at: DateTime<Utc>) -> (Uuid, Run) {
    let info = start_info(&loaded.source.sha256());
    let created = runsheet::session::lifecycle::create(
        store,
        Uuid::now_v7(),
        loaded,
        &info,
        "Alice Admin (alice)",
        at,
    )
    .unwrap();
    (created.id, created.run)
}

// ------------------------------------------------------------ durable action

/// The bare baseline's table: the shape of `events`, with its unique index.
const BARE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, run_id TEXT, run_seq INTEGER NOT NULL, at TEXT NOT NULL,
    actor TEXT NOT NULL, kind TEXT NOT NULL, step TEXT, payload TEXT,
    payload_sha256 TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
    CREATE UNIQUE INDEX IF NOT EXISTS events_by_run ON events(run_id, run_seq);";

/// A procedure of `steps` plain steps: each timed note lands on its own step,
/// as in a real run (a step's history stays small).
fn many_steps(steps: usize) -> String {
    let mut t = String::from(
        r#"id = "durable"
title = "Durable action benchmark"
version = "1"
owner = "IT"
approver = "CISO"
approved = 2026-01-01
review_every_months = 120
purpose = "Plain steps that take notes."
cadence = "on-demand"
controls = ["A.5.37"]
"#,
    );
    for i in 0..steps {
        let _ = write!(t, "[[steps]]\nid = \"s{i}\"\ntitle = \"Check item {i}\"\n");
    }
    t
}

struct Bare {
    conn: Connection,
    seq: i64,
}

impl Bare {
    fn open(path: &Path) -> Bare {
        let conn = Connection::open(path).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .unwrap();
        conn.execute_batch(BARE_SCHEMA).unwrap();
        Bare { conn, seq: 0 }
    }

    /// One row of the size runsheet writes for a note, in its own transaction.
    fn insert(&mut self, note: &str) {
        self.seq += 1;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        tx.prepare_cached(
            "INSERT INTO events (seq, run_id, run_seq, at, actor, kind, step, payload, \
             payload_sha256, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .unwrap()
        .execute(params![
            self.seq,
            "0190f3a2-7c1d-7e4b-9a55-1234567890ab",
            self.seq,
            "2026-11-29T01:02:03.456Z",
            "Alice Admin (alice)",
            "note-added",
            "check",
            format!(r#"{{"kind":"note-added","step":"check","text":"{note}"}}"#),
            "a".repeat(64),
            "b".repeat(64),
            "c".repeat(64),
        ])
        .unwrap();
        tx.commit().unwrap();
    }
}

fn durable_section() {
    durable_in(&scratch(), "the build's disk", true);
    // On tmpfs fsync costs nothing: what is left is runsheet's CPU cost per action.
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        durable_in(shm, "tmpfs /dev/shm (fsync is free: CPU cost only)", false);
    }
}

/// Steps of the durable-action procedure: a realistic size, so the engine's
/// per-step look-ups cost what they cost in a real run.
const DURABLE_STEPS: usize = 30;

fn durable_in(parent: &Path, label: &str, target: bool) {
    let n = repeat(400);
    let warmup = 20;
    let dir = tempfile::tempdir_in(parent).unwrap();
    let db = dir.path().join("runsheet.sqlite3");
    let loaded = parse_toml(&many_steps(DURABLE_STEPS));
    let new_session = || {
        let mut store = Store::open(&db).unwrap();
        let (id, run) = create_run(&mut store, &loaded, Utc::now());
        Session::new(
            run,
            id.to_string(),
            "Alice Admin (alice)".into(),
            Box::new(StoreSink::new(store, id)),
            Box::new(runsheet::session::SystemClock),
        )
    };
    let mut session = new_session();
    let mut bare = Bare::open(&dir.path().join("bare.sqlite3"));
    let note = "Checked the console: job 4711 succeeded at 02:13, 1.2 TiB written.";
    // The timed action: a note on the current step. Then, untimed, the step is
    // confirmed (and the bare log gets one more row), so the next note is on a
    // fresh step and both logs grow alike; a finished run is followed by a new one.
    let mut action = |timed: &mut Vec<Duration>| {
        let step = session.run().current.clone().unwrap();
        let t = Instant::now();
        session
            .execute(Command::AddNote {
                step: step.clone(),
                text: note.into(),
            })
            .unwrap();
        timed.push(t.elapsed());
        session.execute(Command::Confirm { step }).unwrap();
        if session.run().is_ended() {
            session = new_session();
        }
    };
    let mut baseline = |timed: &mut Vec<Duration>| {
        let t = Instant::now();
        bare.insert(note);
        timed.push(t.elapsed());
        bare.insert(note);
    };
    let mut ignored = Vec::new();
    for _ in 0..warmup {
        action(&mut ignored);
        baseline(&mut ignored);
    }
    let (mut a, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        // Interleaved, alternating who goes first.
        if i % 2 == 0 {
            action(&mut a);
            baseline(&mut b);
        } else {
            baseline(&mut b);
            action(&mut a);
        }
    }
    let (sa, sb) = (stats(a), stats(b));
    let ratio = |x: Duration, y: Duration| format!("{:.2}×", x.as_secs_f64() / y.as_secs_f64());
    table(
        &format!(
            "Durable action on {label}: one note through Session::execute → StoreSink → Store::append, vs a bare INSERT + COMMIT ({n} each, interleaved, same directory, WAL + synchronous=FULL)"
        ),
        &["path", "median", "p90", "p99", "min"],
        &[
            vec![
                "runsheet (decide, append with hash chain, commit, apply)".into(),
                ms(sa.median),
                ms(sa.p90),
                ms(sa.p99),
                ms(sa.min),
            ],
            vec![
                "bare rusqlite INSERT + COMMIT".into(),
                ms(sb.median),
                ms(sb.p90),
                ms(sb.p99),
                ms(sb.min),
            ],
            vec![
                "**ratio runsheet / bare**".into(),
                format!("**{}**", ratio(sa.median, sb.median)),
                ratio(sa.p90, sb.p90),
                ratio(sa.p99, sb.p99),
                ratio(sa.min, sb.min),
            ],
        ],
    );
    let extra = (sa.median.as_secs_f64() - sb.median.as_secs_f64()) * 1e6;
    if target {
        println!(
            "target: median ratio ≤ 1.2× — {}; runsheet's extra time per action: {extra:.0} µs (median)",
            met(sa.median.as_secs_f64() <= 1.2 * sb.median.as_secs_f64()),
        );
    } else {
        println!("runsheet's extra CPU time per action: {extra:.0} µs (median)");
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "MET" } else { "MISSED" }
}

// ------------------------------------------------------------------ start-up

fn startup_section() {
    let n = repeat(30);
    let lib = repo().join("procedures");
    let (version, version_rss, _) = processes(
        n,
        || {
            let mut c = runsheet();
            c.arg("--version");
            c
        },
        0,
    );
    let (list, list_rss, out) = processes(
        n,
        || {
            let mut c = runsheet();
            c.arg("--procedures").arg(&lib).arg("list");
            c
        },
        0,
    );
    let shipped = std::fs::read_dir(&lib)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "toml"))
        })
        .count();
    assert!(out.stdout.lines().count() >= shipped, "{}", out.stdout);
    let frame = first_frame_times(200, n);
    table(
        &format!("Start-up (median of {n} runs after one warm-up)"),
        &["what", "median", "p90", "min", "peak RSS"],
        &[
            vec![
                "`runsheet --version` (whole process)".into(),
                ms(version.median),
                ms(version.p90),
                ms(version.min),
                mib(version_rss),
            ],
            vec![
                format!("`runsheet list` ({shipped} shipped procedures, whole process)"),
                ms(list.median),
                ms(list.p90),
                ms(list.min),
                mib(list_rss),
            ],
            vec![
                "first TUI frame, 200-step procedure: parse".into(),
                ms(frame.parse.median),
                ms(frame.parse.p90),
                ms(frame.parse.min),
                "—".into(),
            ],
            vec![
                "  … lint".into(),
                ms(frame.lint.median),
                ms(frame.lint.p90),
                ms(frame.lint.min),
                "—".into(),
            ],
            vec![
                "  … start the run and draw into TestBackend 120×40".into(),
                ms(frame.draw.median),
                ms(frame.draw.p90),
                ms(frame.draw.min),
                "—".into(),
            ],
            vec![
                "**first TUI frame, text → drawn buffer (total)**".into(),
                format!("**{}**", ms(frame.total.median)),
                ms(frame.total.p90),
                ms(frame.total.min),
                "—".into(),
            ],
        ],
    );
    println!(
        "target: first frame < 20 ms — {}",
        met(frame.total.median < Duration::from_millis(20))
    );
}

struct FrameTimes {
    parse: Stats,
    lint: Stats,
    draw: Stats,
    total: Stats,
}

/// A fixed clock, so each frame is the same work.
struct FixedClock(DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// From procedure text to the first drawn frame, as `runsheet run` does it
/// (minus creating the run in the log, which is the durable-action cost).
fn first_frame_times(steps: usize, n: usize) -> FrameTimes {
    let text = gen_procedure("frame-bench", steps, 7);
    let mut parse_t = Vec::new();
    let mut lint_t = Vec::new();
    let mut draw_t = Vec::new();
    let mut total_t = Vec::new();
    for i in 0..=n {
        let t0 = Instant::now();
        let loaded = parse_toml(&text);
        let t1 = Instant::now();
        let errors = lint::lint(&loaded, today())
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        let t2 = Instant::now();
        assert_eq!(errors, 0, "generated procedure has lint errors");
        let sha = loaded.source.sha256();
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 2, 0, 0).unwrap();
        let mut session = Session::begin(
            loaded.procedure,
            &start_info(&sha),
            "0190f3a2-7c1d-7e4b-9a55-1234567890ab",
            "alice",
            Box::new(MemorySink::default()),
            Box::new(FixedClock(now)),
        );
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
        let opts = runsheet::tui::TuiOptions {
            color: true,
            notice: None,
            started_at: Some(now),
        };
        runsheet::tui::first_frame(&mut terminal, &mut session, &opts).unwrap();
        let t3 = Instant::now();
        if i == 0 {
            // Warm-up; and make sure the frame shows the first step.
            let screen: String = terminal
                .backend()
                .buffer()
                .content()
                .iter()
                .map(|c| c.symbol())
                .collect();
            assert!(screen.contains("Step 0"), "first frame: {screen}");
            continue;
        }
        parse_t.push(t1 - t0);
        lint_t.push(t2 - t1);
        draw_t.push(t3 - t2);
        total_t.push(t3 - t0);
    }
    FrameTimes {
        parse: stats(parse_t),
        lint: stats(lint_t),
        draw: stats(draw_t),
        total: stats(total_t),
    }
}

// --------------------------------------------------------------------- scale

fn scale_sizes() -> Vec<u64> {
    std::env::var("RUNSHEET_BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100_000, 300_000, 1_000_000])
}

/// One measured operation over a generated log. Add exports here.
type ScaleOp = fn(&Path) -> Measured;

/// The operations timed at every size, with their targets (time, RSS).
const SCALE_OPS: &[(&str, ScaleOp)] = &[
    ("PRAGMA quick_check alone (baseline)", quick_check_op),
    ("runsheet verify", verify_op),
    ("runsheet export (all formats)", export_op),
];

/// `PRAGMA quick_check` on `path` and nothing else; exits 0 when "ok".
fn quick_check_alone(path: &Path) {
    let uri = format!("file:{}?mode=ro&immutable=1", path.display());
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(uri, flags).unwrap();
    let answer: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .unwrap();
    println!("{answer}");
    std::process::exit(i32::from(answer != "ok"));
}

fn quick_check_op(db: &Path) -> Measured {
    let mut c = Process::new(std::env::current_exe().unwrap());
    c.arg(QUICK_CHECK).arg(db);
    let m = measure(&c);
    assert_eq!(m.code, Some(0), "quick_check failed: {}", m.stdout);
    m
}

fn verify_op(db: &Path) -> Measured {
    let mut c = runsheet();
    c.arg("--db").arg(db).arg("verify");
    let m = measure(&c);
    assert_eq!(m.code, Some(0), "verify failed: {}", m.stdout);
    assert!(m.stdout.starts_with("OK"), "{}", m.stdout);
    m
}

/// A whole audit bundle of every run (each export also records itself in
/// the log: one event more per repeat). The bundle is deleted afterwards.
fn export_op(db: &Path) -> Measured {
    let out = scratch().join("export-bundle");
    let _ = std::fs::remove_dir_all(&out);
    let mut c = runsheet();
    c.arg("--db").arg(db).arg("export").arg("--out").arg(&out);
    let m = measure(&c);
    assert_eq!(m.code, Some(0), "export failed: {}", m.stdout);
    let _ = std::fs::remove_dir_all(&out);
    m
}

fn scale_section() {
    let sizes = scale_sizes();
    let n = repeat(3).max(1);
    let mut rows = Vec::new();
    let mut per_event = Vec::new();
    for &size in &sizes {
        let (db, generated) = scale_log(size);
        let bytes = std::fs::metadata(&db).map_or(0, |m| m.len());
        for (name, op) in SCALE_OPS {
            let runs: Vec<Measured> = (0..n).map(|_| op(&db)).collect();
            let s = stats(runs.iter().map(|m| m.wall).collect());
            let rss = runs.iter().map(|m| m.max_rss_kib).max().unwrap_or(0);
            per_event.push((name, size, s.median, rss));
            rows.push(vec![
                format!("{size}"),
                format!("{:.0} MiB", bytes as f64 / 1_048_576.0),
                (*name).to_string(),
                ms(s.median),
                ms(s.min),
                mib(rss),
                generated.map_or("reused".into(), |d| format!("{:.1} s", d.as_secs_f64())),
            ]);
        }
    }
    table(
        &format!(
            "Scale: whole-process time and peak RSS (median of {n} runs; peak RSS = getrusage max RSS of the child)"
        ),
        &[
            "events",
            "log size",
            "operation",
            "median",
            "min",
            "peak RSS",
            "log generated in",
        ],
        &rows,
    );
    for (name, size, time, rss) in &per_event {
        println!(
            "{name} at {size}: {:.2} µs/event, {:.0} bytes RSS/event",
            time.as_secs_f64() * 1e6 / *size as f64,
            *rss as f64 * 1024.0 / *size as f64
        );
    }
    // Verify (page check and chain) against the page check alone, same file, same run.
    for &size in &sizes {
        let at = |name: &str| {
            per_event
                .iter()
                .find(|(n, s, ..)| **n == name && *s == size)
                .map(|(_, _, t, _)| *t)
        };
        if let (Some(v), Some(q)) = (
            at("runsheet verify"),
            at("PRAGMA quick_check alone (baseline)"),
        ) {
            let ratio = v.as_secs_f64() / q.as_secs_f64();
            println!(
                "verify / quick_check alone at {size} events: {ratio:.2}× (target ≤ 1.5× at 1M) — {}",
                met(ratio <= 1.5)
            );
        }
    }
    for (op, target) in [("runsheet verify", 2), ("runsheet export (all formats)", 5)] {
        if let Some((_, size, time, rss)) = per_event
            .iter()
            .filter(|(n, ..)| **n == op)
            .max_by_key(|(_, s, ..)| *s)
        {
            println!(
                "target: {op} < {target} s and peak RSS < 100 MB at {size} events — {} / {}",
                met(*time < Duration::from_secs(target)),
                met(*rss * 1024 < 100_000_000)
            );
        }
    }
}

/// The log with exactly `size` events, generated through the store API once
/// and kept: built by copying the largest smaller cached log and extending it.
/// Returns the path and, when generated now, how long that took.
fn scale_log(size: u64) -> (PathBuf, Option<Duration>) {
    let dir = scratch();
    let name = |n: u64| {
        dir.join(format!(
            "events-{n}-g{GENERATOR_VERSION}-s{SCHEMA_VERSION}.sqlite3"
        ))
    };
    let path = name(size);
    if path.exists() {
        return (path, None);
    }
    let start = Instant::now();
    let partial = dir.join(format!("events-{size}.partial.sqlite3"));
    let _ = std::fs::remove_file(&partial);
    let base = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let f = e.file_name().into_string().ok()?;
            let rest = f.strip_prefix("events-")?;
            let (n, tail) = rest.split_once('-')?;
            let n: u64 = n.parse().ok()?;
            (tail == format!("g{GENERATOR_VERSION}-s{SCHEMA_VERSION}.sqlite3") && n < size)
                .then_some(n)
        })
        .max();
    // The log's signing key lives beside it (`<log>.key`): it moves with it.
    let key = |db: &Path| runsheet::store::default_key_path(db);
    let _ = std::fs::remove_file(key(&partial));
    if let Some(b) = base {
        std::fs::copy(name(b), &partial).unwrap();
        std::fs::copy(key(&name(b)), key(&partial)).unwrap();
    }
    eprintln!(
        "generating a {size}-event log (from {} events)…",
        base.unwrap_or(0)
    );
    {
        let mut store = Store::open(&partial).unwrap();
        extend_log(&mut store, size);
    }
    std::fs::rename(key(&partial), key(&path)).unwrap();
    std::fs::rename(&partial, &path).unwrap();
    (path, Some(start.elapsed()))
}

/// A fast clock for generated runs: one second per reading.
#[derive(Clone)]
struct GenClock(std::rc::Rc<std::cell::Cell<DateTime<Utc>>>);

impl Clock for GenClock {
    fn now(&self) -> DateTime<Utc> {
        let t = self.0.get();
        self.0.set(t + chrono::Duration::seconds(1));
        t
    }
}

/// Append runs until the log holds exactly `target` events. Each run is a
/// real engine run of a generated 24-step procedure (every step kind, some
/// failures and escalations, command output), driven in memory and written
/// with `Store::create_run` + one `Store::append` (two transactions per run).
/// To hit `target` exactly, the last run (sometimes the last two) is cut
/// short and left open, as a run interrupted by the operator would be.
fn extend_log(store: &mut Store, target: u64) {
    let procedures: Vec<Loaded> = (0..4)
        .map(|i| parse_toml(&gen_procedure(&format!("daily-check-{i}"), 24, i)))
        .collect();
    // Events `create_run` writes (run-started, step-started): the smallest run.
    let min_run = engine::start(&procedures[0].procedure, &start_info("x")).len() as u64;
    let cp = store.checkpoint().unwrap();
    let mut have = u64::try_from(cp.events).unwrap();
    assert!(
        target == have || target >= have + min_run,
        "cannot grow {have} to {target}"
    );
    let base = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut at = cp.at.map_or(base, |t| t + chrono::Duration::minutes(1));
    let mut rng = Rng(have ^ 0x5eed);
    let mut i = 0usize;
    while have < target {
        let loaded = &procedures[i % procedures.len()];
        i += 1;
        let (id, run) = create_run(store, loaded, at);
        let started = run.events;
        assert_eq!(started, min_run);
        let clock = GenClock(std::rc::Rc::new(std::cell::Cell::new(at)));
        let sink = MemorySink::default();
        let mut session = Session::new(
            run,
            id.to_string(),
            "Alice Admin (alice)".into(),
            Box::new(sink.clone()),
            Box::new(clock.clone()),
        );
        drive(&mut session, &mut rng);
        let events = sink.events.borrow();
        let rest = target - have - started;
        let len = events.len() as u64;
        let keep = if len <= rest && (len == rest || rest - len >= min_run) {
            len
        } else if len <= rest {
            // Leave room for exactly one more (minimal) run.
            len - (min_run - (rest - len))
        } else {
            rest
        };
        let keep = usize::try_from(keep).unwrap();
        let outcome = if keep == events.len() {
            session
                .run()
                .outcome
                .map(|o| (o.as_str(), events.last().map_or(at, |(m, _)| m.at)))
        } else {
            None
        };
        let new: Vec<NewEvent> = events[..keep]
            .iter()
            .map(|(m, e)| new_event(m, e))
            .collect();
        store.append(id, &new, outcome).unwrap();
        have += started + keep as u64;
        at = clock.0.get() + chrono::Duration::minutes(5);
    }
    let cp = store.checkpoint().unwrap();
    assert_eq!(
        u64::try_from(cp.events).unwrap(),
        target,
        "generated log size"
    );
}

/// Play a run to its end like a diligent operator: meet every requirement,
/// confirm, sometimes add notes, sometimes fail a step (escalation, retry).
fn drive(session: &mut Session, rng: &mut Rng) {
    let mut guard = 0;
    while !session.run().is_ended() {
        guard += 1;
        assert!(guard < 10_000, "generated run does not end");
        let run = session.run();
        if !run.pending_warnings.is_empty() {
            session.execute(Command::AcknowledgeWarnings).unwrap();
            continue;
        }
        let Some(step) = run.current_step().cloned() else {
            panic!("open run without a current step");
        };
        let id = step.id.clone();
        let in_branch = run.escalation.is_some();
        if !in_branch && rng.below(40) == 0 {
            session
                .execute(Command::Fail {
                    step: id,
                    reason: "the console showed an error".into(),
                })
                .unwrap();
            continue;
        }
        if rng.below(4) == 0 {
            session
                .execute(Command::AddNote {
                    step: id.clone(),
                    text: format!("Observed value {} in the console.", rng.below(10_000)),
                })
                .unwrap();
        }
        let mut moved = false;
        for req in session.run().requirements() {
            if req.met {
                continue;
            }
            let cmd = match req.what {
                RequirementKind::Answer(_) => {
                    moved = true;
                    Command::Answer {
                        step: id.clone(),
                        yes: true,
                    }
                }
                RequirementKind::Value { .. } => Command::RecordValue {
                    step: id.clone(),
                    value: match step.kind() {
                        StepKind::Value(v) if v.kind == ValueKind::Choice => v.choices[0].clone(),
                        StepKind::Value(v) if v.kind == ValueKind::Number => {
                            format!("{}", rng.below(5000))
                        }
                        _ => "Bob Oncall".into(),
                    },
                },
                RequirementKind::Command {
                    run, expect_exit, ..
                } => {
                    let output = format!("{run}\n").repeat(1 + rng.below(20) as usize);
                    Command::RecordCommand {
                        step: id.clone(),
                        result: CommandResult {
                            command: run,
                            exit_code: Some(expect_exit),
                            duration_ms: rng.below(2000),
                            output_sha256: runsheet::store::sha256_hex(output.as_bytes()),
                            output_bytes: output.len() as u64,
                            output,
                            truncated: false,
                        },
                    }
                }
                RequirementKind::Note(_) => Command::AddNote {
                    step: id.clone(),
                    text: "All as expected.".into(),
                },
                RequirementKind::Evidence(_) => Command::RecordEvidence {
                    step: id.clone(),
                    evidence: format!("INC-{}", rng.below(100_000)),
                },
                RequirementKind::SignOff(_) => Command::SignOff {
                    step: id.clone(),
                    by: "Bob Lead".into(),
                },
            };
            session.execute(cmd).unwrap();
        }
        if !moved && session.run().current.as_deref() == Some(id.as_str()) {
            session.execute(Command::Confirm { step: id }).unwrap();
        }
    }
}

// ---------------------------------------------------------------------- lint

fn lint_section() {
    let n = repeat(10);
    let dir = tempfile::tempdir_in(scratch()).unwrap();
    let mut bytes = 0;
    for i in 0..1000u64 {
        let text = gen_procedure(&format!("proc-{i:04}"), 8 + (i % 25) as usize, i);
        bytes += text.len();
        std::fs::write(dir.path().join(format!("proc-{i:04}.toml")), text).unwrap();
    }
    let (s, rss, out) = processes(
        n,
        || {
            let mut c = runsheet();
            c.arg("lint").arg(dir.path());
            c
        },
        0,
    );
    assert!(out.stdout.contains(" 0 errors"), "{}", out.stdout);
    table(
        &format!("Lint (median of {n} runs after one warm-up)"),
        &["what", "median", "p90", "min", "peak RSS"],
        &[vec![
            format!(
                "`runsheet lint DIR`, 1,000 generated procedures (8–32 steps, {:.1} MiB)",
                bytes as f64 / 1_048_576.0
            ),
            ms(s.median),
            ms(s.p90),
            ms(s.min),
            mib(rss),
        ]],
    );
    println!(
        "target: lint of 1,000 procedures < 0.5 s — {}",
        met(s.median < Duration::from_millis(500))
    );
}
