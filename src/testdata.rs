//! Generated test data, for tests, benchmarks and demos — never evidence. A
//! realistic evidence log of N runs of the shipped nightly-backup procedure,
//! written through the real store path (`create_run` + `append`) with events
//! the real engine decides: a fixed-seed pseudo-random mix of clean runs,
//! runs with warnings, skipped and failed steps (retried), escalated, failed,
//! aborted and open runs, spread over the last N days with a few days that
//! have no run at all. Deterministic for a given `now` and seed.
//!
//! It writes back-dated runs by invented operators, so it is compiled only
//! for tests and with the `test-data` feature (the `runsheet-testdata`
//! development binary), never into `runsheet`; and every log it writes is
//! marked: its `log-created` event says `test_data`, which `verify`, `runs`,
//! `show`, `status` and `export` display. It writes only into a log it
//! created.
//!
//! May not depend on the front ends or the app.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, Duration, NaiveDate, Utc};

use crate::engine::{self, Command, CommandResult, Meta, Run, StartInfo};
use crate::error::Error;
use crate::procedure::parse::{self, Format, Source};
use crate::procedure::{Procedure, Step, StepKind, ValueKind};
use crate::session::new_event;
use crate::store::{NewEvent, Store, sha256_hex};
use crate::vocab::actor;

/// The procedure every generated run uses (the shipped file, byte for byte).
pub const BACKUP_SOURCE: &str = include_str!("../procedures/backup-customer-data.toml");
/// Where the generated runs say the procedure came from.
pub const BACKUP_PATH: &str = "procedures/backup-customer-data.toml";

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub runs: u64,
    /// Target events per run: notes are added to reach it (a run has at least
    /// the events its path needs, about 15 for a clean backup run).
    pub events_per_run: u64,
    /// Runs are spread over the `days` days before `now`'s date.
    pub days: u32,
    pub now: DateTime<Utc>,
    pub seed: u64,
}

/// What was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenerateSummary {
    pub runs: u64,
    pub events: u64,
    /// Runs per outcome (`open` for runs left open).
    pub outcomes: BTreeMap<String, u64>,
    /// Days of the period with no run at all.
    pub days_without_run: Vec<NaiveDate>,
    pub first: Option<NaiveDate>,
    pub last: Option<NaiveDate>,
}

/// Deterministic pseudo-random numbers (SplitMix64): the same seed gives the
/// same sequence on every machine, so generated logs, benchmarks and the
/// integration tests' random choices can be replayed. The one such generator
/// of the tests, the benches and the generator.
pub struct Rng(pub u64);

impl Rng {
    /// The next number. (Not an `Iterator`: the sequence never ends, and an
    /// `Option` at every call would say it might.)
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In `0..n` (0 for n = 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// `len` random-looking bytes: each draw gives 8, little-endian.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }

    fn bytes10(&mut self) -> [u8; 10] {
        let mut out = [0u8; 10];
        out.copy_from_slice(&self.bytes(10));
        out
    }
}

/// How a generated run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Clean,
    Warnings,
    SkipSpaceCheck,
    RetryBackup,
    Escalated,
    FailedInBranch,
    Aborted,
    LeftOpen,
}

impl Scenario {
    fn pick(rng: &mut Rng) -> Scenario {
        match rng.below(100) {
            0..62 => Scenario::Clean,
            62..72 => Scenario::Warnings,
            72..79 => Scenario::SkipSpaceCheck,
            79..87 => Scenario::RetryBackup,
            87..93 => Scenario::Escalated,
            93..96 => Scenario::FailedInBranch,
            96..98 => Scenario::Aborted,
            _ => Scenario::LeftOpen,
        }
    }
}

const OPERATORS: &[(&str, Option<&str>)] = &[
    ("alice", Some("Alice Moreau")),
    ("bob", Some("Bob Okafor")),
    ("chen", None),
];

/// The shipped backup procedure, parsed.
pub fn backup_procedure() -> Result<Procedure, Error> {
    parse::parse(Source::from_text(BACKUP_PATH, BACKUP_SOURCE, Format::Toml))
        .map(|l| l.procedure)
        .map_err(|d| Error::Internal(format!("the built-in backup procedure: {d}")))
}

/// Write the generated runs into `store`.
/// A new evidence log at `path` marked as generated test data (its
/// `log-created` event names a log id from `seed` and the time `now`, so the
/// same arguments give the same log). Refused when a file is there already:
/// test data never goes into an existing log.
pub fn new_log(path: &std::path::Path, now: DateTime<Utc>, seed: u64) -> Result<Store, Error> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
        return Err(Error::Input(format!(
            "{} exists; generated test data goes only into a new log, never into an existing one (evidence or not)",
            path.display()
        )));
    }
    let log_id = uuid::Uuid::from_u64_pair(0x7e57_da7a_0000_4000, seed);
    Ok(Store::options()
        .actor("runsheet-testdata")
        .test_data(true)
        .created_as(log_id, now)
        .open(path)?)
}

/// Write generated runs into `store`, a log [`new_log`] created (any other
/// log is refused).
pub fn generate(store: &mut Store, opts: &GenerateOptions) -> Result<GenerateSummary, Error> {
    if !store.is_test_data()? {
        return Err(Error::Input(format!(
            "{} is not a generated test-data log; generated runs go only into a log made for them (runsheet-testdata generate-log)",
            store.path().display()
        )));
    }
    let procedure = backup_procedure()?;
    let sha = sha256_hex(BACKUP_SOURCE.as_bytes());
    let mut rng = Rng(opts.seed);
    let today = opts.now.date_naive();
    let days: Vec<NaiveDate> = (1..=u64::from(opts.days))
        .rev()
        .filter_map(|back| today.checked_sub_days(Days::new(back)))
        .collect();
    // About one day in nine has no run; at least one when there are a few days.
    let mut active: Vec<NaiveDate> = Vec::new();
    let mut skipped: Vec<NaiveDate> = Vec::new();
    for (i, d) in days.iter().enumerate() {
        let forced = days.len() >= 5 && i == days.len() / 2;
        if forced || rng.below(9) == 0 {
            skipped.push(*d);
        } else {
            active.push(*d);
        }
    }
    let mut summary = GenerateSummary::default();
    if active.is_empty() || opts.runs == 0 {
        summary.days_without_run = days;
        return Ok(summary);
    }
    // Spread the runs over the active days, in order.
    let n = active.len() as u64;
    let mut per_day: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    for k in 0..opts.runs {
        let idx = usize::try_from(k * n / opts.runs).unwrap_or(0);
        *per_day.entry(active[idx]).or_default() += 1;
    }
    for d in &active {
        if !per_day.contains_key(d) {
            skipped.push(*d);
        }
    }
    skipped.sort();
    summary.days_without_run = skipped;

    for (day, count) in &per_day {
        let spacing = 79_200 / count.max(&1); // within the first 22 hours
        for j in 0..*count {
            let midnight = day
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc())
                .ok_or_else(|| Error::Internal(format!("no midnight on {day}")))?;
            let offset = 5400 + j * spacing + rng.below(spacing.clamp(1, 2400));
            let start = midnight + Duration::seconds(i64::try_from(offset).unwrap_or(0));
            let (user, name) =
                OPERATORS[usize::try_from(rng.below(OPERATORS.len() as u64)).unwrap_or(0)];
            let scenario = Scenario::pick(&mut rng);
            let plan = Plan {
                scenario,
                user,
                name,
                start,
                day: *day,
                sha: sha.clone(),
            };
            let (f0, r0, _) = simulate(&procedure, &plan, &mut Rng(rng.0), 0)?;
            let natural = (f0.len() + r0.len()) as u64;
            let pad = opts.events_per_run.saturating_sub(natural);
            let (first, rest, outcome) = simulate(&procedure, &plan, &mut rng, pad)?;
            let id = uuid::Builder::from_unix_timestamp_millis(
                u64::try_from(start.timestamp_millis()).unwrap_or(0),
                &rng.bytes10(),
            )
            .into_uuid();
            let new_run =
                crate::session::new_run(id, &procedure, &plan.start_info(), BACKUP_SOURCE, start);
            store.create_run(&new_run, &first)?;
            if !rest.is_empty() {
                let end = outcome.map(|(o, at)| (o.as_str(), at));
                store.append(id, &rest, end)?;
            }
            summary.runs += 1;
            summary.events += (first.len() + rest.len()) as u64;
            let word = outcome.map_or("open", |(o, _)| o.as_str());
            *summary.outcomes.entry(word.to_string()).or_default() += 1;
            summary.first = Some(summary.first.map_or(*day, |f| f.min(*day)));
            summary.last = Some(summary.last.map_or(*day, |l| l.max(*day)));
        }
    }
    Ok(summary)
}

struct Plan {
    scenario: Scenario,
    user: &'static str,
    name: Option<&'static str>,
    start: DateTime<Utc>,
    day: NaiveDate,
    sha: String,
}

impl Plan {
    /// What the engine is told at the start of the planned run.
    fn start_info(&self) -> StartInfo {
        StartInfo {
            procedure_sha256: self.sha.clone(),
            procedure_format: "toml".into(),
            source_path: BACKUP_PATH.into(),
            operator: crate::vocab::Operator::new(self.user, self.name, "backup01"),
            runsheet_version: env!("CARGO_PKG_VERSION").into(),
            today: self.day,
            clock: None,
            pid: None,
            control: Default::default(),
            change_notice: None,
            drill: false,
        }
    }
}

type Simulated = (
    Vec<NewEvent>,
    Vec<NewEvent>,
    Option<(engine::Outcome, DateTime<Utc>)>,
);

/// Drive the engine through one run; returns the `create_run` events, the
/// rest, and the outcome if the run ended.
fn simulate(p: &Procedure, plan: &Plan, rng: &mut Rng, mut pad: u64) -> Result<Simulated, Error> {
    let who = actor(plan.user, plan.name);
    let info = plan.start_info();
    let start_meta = Meta {
        at: plan.start,
        actor: who.clone(),
    };
    let started = engine::start(p, &info);
    let mut run = Run::replay(p.clone(), &started);
    let first: Vec<NewEvent> = started.iter().map(|e| new_event(&start_meta, e)).collect();
    let mut rest = Vec::new();
    let mut t = plan.start;
    let mut failed_once = false;
    let mut guard = 0;
    loop {
        guard += 1;
        if guard > 200 || run.is_ended() || run.suspended {
            break;
        }
        let commands = if !run.pending_warnings.is_empty() {
            vec![Command::AcknowledgeWarnings]
        } else {
            let Some(step) = run.current_step().cloned() else {
                break;
            };
            let mut cmds = Vec::new();
            while pad > 0 {
                pad -= 1;
                cmds.push(Command::AddNote {
                    step: step.id.clone(),
                    text: format!(
                        "Checked the backup console before starting (note {}).",
                        pad + 1
                    ),
                });
            }
            cmds.extend(step_commands(&step, plan.scenario, &mut failed_once, rng));
            cmds
        };
        for cmd in commands {
            t += Duration::seconds(i64::try_from(5 + rng.below(110)).unwrap_or(5));
            let meta = Meta {
                at: t,
                actor: who.clone(),
            };
            let events = run.decide(&cmd, &meta).map_err(|r| {
                Error::Internal(format!("generate-log: the engine refused {cmd:?}: {r}"))
            })?;
            for e in &events {
                run.apply(e);
                rest.push(new_event(&meta, e));
            }
            if run.is_ended() || run.suspended {
                break;
            }
        }
    }
    let outcome = run.outcome.map(|o| {
        let at = rest.last().map_or(plan.start, |e: &NewEvent| e.at);
        (o, at)
    });
    Ok((first, rest, outcome))
}

fn hex8(rng: &mut Rng) -> String {
    format!("{:08x}", rng.next() & 0xffff_ffff)
}

/// What the operator does on `step` in this scenario.
fn step_commands(step: &Step, s: Scenario, failed_once: &mut bool, rng: &mut Rng) -> Vec<Command> {
    let id = step.id.clone();
    let special = match (s, id.as_str()) {
        (Scenario::SkipSpaceCheck, "check-target-space") => Some(Command::Skip {
            step: id.clone(),
            justification: "df is unavailable on the backup server during the OS migration; free space (62%) checked in the storage console instead".into(),
        }),
        (Scenario::Escalated, "check-target-space") if !*failed_once => {
            *failed_once = true;
            Some(Command::Fail {
                step: id.clone(),
                reason: format!("backup target file system at {}% (Use%); tonight's snapshot will not fit", 86 + rng.below(12)),
            })
        }
        (Scenario::RetryBackup | Scenario::FailedInBranch, "run-backup") if !*failed_once => {
            *failed_once = true;
            Some(Command::Fail {
                step: id.clone(),
                reason: "backup job stopped: snapshot target unreachable (error 113, no route to host)".into(),
            })
        }
        (Scenario::FailedInBranch, "contact-on-call") => Some(Command::Fail {
            step: id.clone(),
            reason: "on-call administrator not reachable (two calls, no answer)".into(),
        }),
        (Scenario::Aborted, "copy-offsite") => Some(Command::Abort {
            reason: "maintenance window ended before the off-site copy; rescheduled for tomorrow".into(),
        }),
        (Scenario::LeftOpen, "verify-checksums") => Some(Command::Suspend),
        _ => None,
    };
    if let Some(c) = special {
        return vec![c];
    }
    let mut cmds = Vec::new();
    match step.kind() {
        StepKind::Command(c) => {
            let used = 40 + rng.below(40);
            let output = format!(
                "Filesystem      Size  Used Avail Use% Mounted on\n/dev/sdb1       4.0T  {:.1}T  {:.1}T  {used}% /srv/backup\n",
                4.0 * used as f64 / 100.0,
                4.0 * (100 - used) as f64 / 100.0
            );
            cmds.push(Command::RecordCommand {
                step: id.clone(),
                result: CommandResult {
                    command: c.run.clone(),
                    exit_code: Some(c.expect_exit.unwrap_or(0)),
                    duration_ms: 15 + rng.below(60),
                    output_sha256: sha256_hex(output.as_bytes()),
                    output_bytes: output.len() as u64,
                    output,
                    truncated: false,
                },
            });
        }
        StepKind::Value(v) => {
            let value = match (id.as_str(), v.kind) {
                ("run-backup", _) => hex8(rng),
                ("contact-on-call", _) => {
                    format!("Sam Patel, 0{}:{:02} UTC", 2 + rng.below(3), rng.below(60))
                }
                (_, ValueKind::Number) => format!("{}.{}", 380 + rng.below(60), rng.below(10)),
                (_, ValueKind::Integer) => format!("{}", 1 + rng.below(60)),
                (_, ValueKind::Pattern) => format!("INC-{}", 4000 + rng.below(6000)),
                (_, ValueKind::Choice) => v.choices.first().cloned().unwrap_or_default(),
                (_, ValueKind::Text) => "recorded by the generator".into(),
            };
            cmds.push(Command::RecordValue {
                step: id.clone(),
                value,
            });
        }
        StepKind::Decision(_) | StepKind::Confirm => {}
    }
    if step.note.is_some() {
        let text = if id == "record-warnings" {
            "2 warnings: /var/log/app/current.log changed while read (rotated at 02:00); /srv/tmp/lockfile could not be opened (held by the app). Both harmless, no customer data affected.".to_string()
        } else {
            "Target file system too full for tonight's snapshot; job not started. Head of IT Operations informed by phone; retention review requested.".to_string()
        };
        cmds.push(Command::AddNote {
            step: id.clone(),
            text,
        });
    }
    if step.evidence.is_some() {
        cmds.push(Command::RecordEvidence {
            step: id.clone(),
            evidence: format!("XFER-{}", 100_000 + rng.below(900_000)),
        });
    }
    if step.signoff.is_some() {
        cmds.push(Command::SignOff {
            step: id.clone(),
            by: "Dana Reviewer".into(),
        });
    }
    match step.kind() {
        StepKind::Decision(_) => {
            let yes = !(id == "job-warnings" && s == Scenario::Warnings);
            cmds.push(Command::Answer { step: id, yes });
        }
        _ => cmds.push(Command::Confirm { step: id }),
    }
    cmds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(runs: u64, days: u32) -> GenerateOptions {
        GenerateOptions {
            runs,
            events_per_run: 0,
            days,
            now: DateTime::parse_from_rfc3339("2026-11-29T08:00:00Z")
                .expect("time")
                .with_timezone(&Utc),
            seed: 7,
        }
    }

    #[test]
    fn every_scenario_runs_through_the_real_engine() {
        let p = backup_procedure().expect("procedure");
        for scenario in [
            Scenario::Clean,
            Scenario::Warnings,
            Scenario::SkipSpaceCheck,
            Scenario::RetryBackup,
            Scenario::Escalated,
            Scenario::FailedInBranch,
            Scenario::Aborted,
            Scenario::LeftOpen,
        ] {
            let plan = Plan {
                scenario,
                user: "alice",
                name: None,
                start: opts(1, 1).now,
                day: opts(1, 1).now.date_naive(),
                sha: sha256_hex(BACKUP_SOURCE.as_bytes()),
            };
            let (first, rest, outcome) = simulate(&p, &plan, &mut Rng(1), 0).expect("simulate");
            let expected = match scenario {
                Scenario::Escalated => Some("escalated"),
                Scenario::FailedInBranch => Some("failed"),
                Scenario::Aborted => Some("aborted"),
                Scenario::LeftOpen => None,
                _ => Some("completed"),
            };
            assert_eq!(outcome.map(|(o, _)| o.as_str()), expected, "{scenario:?}");
            assert_eq!(first[0].kind, "run-started");
            assert!(rest.len() >= 3, "{scenario:?}");
        }
    }

    #[test]
    fn padding_reaches_the_requested_events_per_run() {
        let p = backup_procedure().expect("procedure");
        let plan = Plan {
            scenario: Scenario::Clean,
            user: "bob",
            name: Some("Bob Okafor"),
            start: opts(1, 1).now,
            day: opts(1, 1).now.date_naive(),
            sha: sha256_hex(BACKUP_SOURCE.as_bytes()),
        };
        let (f0, r0, _) = simulate(&p, &plan, &mut Rng(3), 0).expect("natural");
        let natural = (f0.len() + r0.len()) as u64;
        let (f, r, _) = simulate(&p, &plan, &mut Rng(3), 25).expect("padded");
        assert_eq!((f.len() + r.len()) as u64, natural + 25);
    }

    #[test]
    fn generated_logs_verify_and_leave_days_without_runs() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store =
            new_log(&dir.path().join("log.sqlite3"), opts(40, 21).now, 1).expect("store");
        let summary = generate(&mut store, &opts(40, 21)).expect("generate");
        assert_eq!(summary.runs, 40);
        assert!(!summary.days_without_run.is_empty());
        assert!(store.verify().expect("verify").is_ok());
        let rows = store.runs(&Default::default()).expect("runs");
        assert_eq!(rows.len(), 40);
        for d in &summary.days_without_run {
            assert!(
                rows.iter().all(|r| r.started_at.date_naive() != *d),
                "a run on {d}, which should have none"
            );
        }
        // Deterministic: the same options give the same chain head.
        let dir2 = tempfile::tempdir().expect("dir");
        let mut store2 =
            new_log(&dir2.path().join("log.sqlite3"), opts(40, 21).now, 1).expect("store");
        generate(&mut store2, &opts(40, 21)).expect("generate");
        assert_eq!(
            store.checkpoint().expect("cp").head_hash,
            store2.checkpoint().expect("cp").head_hash
        );
    }
}
