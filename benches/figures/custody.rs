//! The chain-of-custody figures (docs/performance.md, "Chain of custody"),
//! each against a baseline measured in the same run:
//!
//! - `custody-action`: one durable action (a note) with its Merkle append,
//!   through `Store::append` as the session calls it, vs a bare INSERT + COMMIT;
//! - `custody-end`: a run's end (its last `step-confirmed` and `run-ended`,
//!   the row update and the signed checkpoint, one transaction) vs the same;
//! - `custody-proofs`: a run's inclusion proofs and consistency proofs in a
//!   1M-event log (milliseconds; target < 10 ms each);
//! - `custody-verify`: `Store::verify_trusting` with the latest signed
//!   checkpoint and the log's key vs `PRAGMA quick_check` on the same file.
//!
//! `custody` selects all four. `RUNSHEET_BENCH_CUSTODY_SIZE` overrides the
//! log size of the last two (default 1,000,000; the log is the scale
//! section's, generated once and kept).

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use uuid::Uuid;

use runsheet::custody::checkpoint::SignedCheckpoint;
use runsheet::engine::{Command, Event, Meta, Run};
use runsheet::export::proofs;
use runsheet::procedure::parse::Loaded;
use runsheet::session::new_event;
use runsheet::store::{NewEvent, RunQuery, Store, Trust};

use super::{
    Bare, Measured, Process, create_run, many_steps, measure, met, ms, parse_toml, repeat,
    runsheet, scale_log, scratch, stats, table,
};

/// The sub-sections; `custody` selects them all.
pub const PARTS: &[&str] = &[
    "custody-action",
    "custody-end",
    "custody-proofs",
    "custody-verify",
];

const ACTOR: &str = "Alice Admin (alice)";

/// Steps per timed run: a note on each, and the last confirm ends the run.
const STEPS: usize = 3;

pub fn section(want: impl Fn(&str) -> bool) {
    if want("custody-action") || want("custody-end") {
        writes_in(&scratch(), "the build's disk", true);
        let shm = Path::new("/dev/shm");
        if shm.is_dir() {
            writes_in(shm, "tmpfs /dev/shm (fsync is free: CPU cost only)", false);
        }
    }
    let (want_proofs, want_verify) = (want("custody-proofs"), want("custody-verify"));
    if want_proofs || want_verify {
        let size = std::env::var("RUNSHEET_BENCH_CUSTODY_SIZE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let (db, generated) = scale_log(size);
        if let Some(d) = generated {
            println!(
                "\n(generated the {size}-event log in {:.1} s)",
                d.as_secs_f64()
            );
        }
        if want_proofs {
            proofs_section(&db, size);
        }
        if want_verify {
            verify_section(&db, size);
        }
    }
}

// ------------------------------------------------------- action and run end

/// A run driven as `Session::execute` with a `StoreSink` drives it (decide,
/// `Store::append` in one transaction, then apply), on a store kept open
/// across runs, so a new run costs no re-open.
struct Live {
    store: Store,
    id: Uuid,
    run: Run,
    last_at: Option<DateTime<Utc>>,
}

impl Live {
    /// The store with a new run of `loaded` open in it.
    fn new(mut store: Store, loaded: &Loaded) -> Live {
        let (id, run) = create_run(&mut store, loaded, Utc::now());
        Live {
            store,
            id,
            run,
            last_at: None,
        }
    }

    fn start(&mut self, loaded: &Loaded) {
        let (id, run) = create_run(&mut self.store, loaded, Utc::now());
        self.id = id;
        self.run = run;
        self.last_at = None;
    }

    fn act(&mut self, command: &Command) {
        let now = Utc::now();
        let meta = Meta {
            at: self.last_at.map_or(now, |last| now.max(last)),
            actor: ACTOR.into(),
        };
        let events = self.run.decide(command, &meta).unwrap();
        let ended = events.iter().find_map(|e| match e {
            Event::RunEnded { outcome, .. } => Some(*outcome),
            _ => None,
        });
        let new: Vec<NewEvent> = events.iter().map(|e| new_event(&meta, e)).collect();
        self.store
            .append(self.id, &new, ended.map(|o| (o.as_str(), meta.at)))
            .unwrap();
        if let Some(w) = self.store.take_custody_warning() {
            panic!("the write made no signed checkpoint: {w}");
        }
        self.last_at = Some(meta.at);
        for e in &events {
            self.run.apply(e);
        }
    }
}

fn writes_in(parent: &Path, label: &str, target: bool) {
    let runs = repeat(1200).div_ceil(STEPS);
    let warmup = 10;
    let dir = tempfile::tempdir_in(parent).unwrap();
    let loaded = parse_toml(&many_steps(STEPS));
    let store = Store::open(&dir.path().join("runsheet.sqlite3")).unwrap();
    let checkpoints_before = store.checkpoints().unwrap().len();
    let mut live = Live::new(store, &loaded);
    let mut bare = Bare::open(&dir.path().join("bare.sqlite3"));
    let note = "Checked the console: job 4711 succeeded at 02:13, 1.2 TiB written.";
    let (mut action, mut end, mut bare_a, mut bare_e) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut flip = false;
    // Times `ours` and one bare insert, interleaved (alternating which goes first).
    let mut pair = |live: &mut Live,
                    ours: &dyn Fn(&mut Live),
                    a: &mut Vec<Duration>,
                    b: &mut Vec<Duration>| {
        flip = !flip;
        let mut time_bare = |b: &mut Vec<Duration>| {
            let t = Instant::now();
            bare.insert(note);
            b.push(t.elapsed());
        };
        if flip {
            time_bare(b);
        }
        let t = Instant::now();
        ours(live);
        a.push(t.elapsed());
        if !flip {
            time_bare(b);
        }
    };
    for r in 0..warmup + runs {
        let keep = r >= warmup;
        let mut scratch_a = Vec::new();
        let mut scratch_b = Vec::new();
        if r > 0 {
            live.start(&loaded);
        }
        for s in 0..STEPS {
            let step = live.run.current.clone().unwrap();
            let add_note = Command::AddNote {
                step: step.clone(),
                text: note.into(),
            };
            let confirm = Command::Confirm { step };
            let (a, b) = if keep {
                (&mut action, &mut bare_a)
            } else {
                (&mut scratch_a, &mut scratch_b)
            };
            pair(&mut live, &|l: &mut Live| l.act(&add_note), a, b);
            if s + 1 < STEPS {
                // Untimed: the next note lands on a fresh step.
                live.act(&confirm);
            } else {
                let (a, b) = if keep {
                    (&mut end, &mut bare_e)
                } else {
                    (&mut scratch_a, &mut scratch_b)
                };
                pair(&mut live, &|l: &mut Live| l.act(&confirm), a, b);
            }
        }
        assert!(live.run.is_ended(), "the timed run did not end");
    }
    // Every run end made its signed checkpoint, and the last covers the head.
    let made = live.store.checkpoints().unwrap().len() - checkpoints_before;
    assert_eq!(
        made,
        warmup + runs,
        "signed checkpoints made by the run ends"
    );
    let latest = live.store.latest_checkpoint().unwrap().unwrap();
    let head = live.store.checkpoint().unwrap().head_seq;
    assert_eq!(i64::try_from(latest.tree_size).unwrap(), head);

    let wal = wal_frames(parent, &loaded, note);
    let (sa, sb, se, sf) = (stats(action), stats(bare_a), stats(end), stats(bare_e));
    let ratio = |x: Duration, y: Duration| format!("{:.2}×", x.as_secs_f64() / y.as_secs_f64());
    let row = |name: &str, s: super::Stats| {
        vec![name.into(), ms(s.median), ms(s.p90), ms(s.p99), ms(s.min)]
    };
    let ratio_row = |name: &str, x: super::Stats, y: super::Stats| {
        vec![
            format!("**{name}**"),
            format!("**{}**", ratio(x.median, y.median)),
            ratio(x.p90, y.p90),
            ratio(x.p99, y.p99),
            ratio(x.min, y.min),
        ]
    };
    table(
        &format!(
            "Chain of custody, writes on {label}: {} actions and {runs} run ends through Store::append (Merkle append; a run end also updates the row and signs a checkpoint), each interleaved with a bare INSERT + COMMIT (same directory, WAL + synchronous=FULL)",
            runs * STEPS
        ),
        &["path", "median", "p90", "p99", "min"],
        &[
            row(
                "one action (a note): decide, append with hash chain and Merkle tree, commit, apply",
                sa,
            ),
            row("bare rusqlite INSERT + COMMIT", sb),
            ratio_row("ratio action / bare", sa, sb),
            row(
                "run end: step-confirmed + run-ended, row closed, checkpoint signed and stored, commit",
                se,
            ),
            row("bare rusqlite INSERT + COMMIT", sf),
            ratio_row("ratio run end / bare", se, sf),
        ],
    );
    let extra =
        |x: super::Stats, y: super::Stats| (x.median.as_secs_f64() - y.median.as_secs_f64()) * 1e6;
    println!(
        "pages each commit writes to the WAL (what its fsync must write): action {}, run end {}, bare INSERT {}",
        wal.0, wal.1, wal.2
    );
    if target {
        for (what, x, y) in [("action", sa, sb), ("run end", se, sf)] {
            println!(
                "target: {what} median ratio ≤ 1.2× — {}; extra time: {:.0} µs (median)",
                met(x.median.as_secs_f64() <= 1.2 * y.median.as_secs_f64()),
                extra(x, y)
            );
        }
    } else {
        println!(
            "extra CPU time: action {:.0} µs, run end {:.0} µs (medians)",
            extra(sa, sb),
            extra(se, sf)
        );
    }
}

/// WAL frames (pages) one commit appends (median), for an action, a run end and a
/// bare INSERT: the growth of the `-wal` file of a fresh log, read before
/// SQLite's first automatic checkpoint starts the WAL over (and the file
/// stops growing).
fn wal_frames(parent: &Path, loaded: &Loaded, note: &str) -> (u64, u64, u64) {
    let dir = tempfile::tempdir_in(parent).unwrap();
    let db = dir.path().join("runsheet.sqlite3");
    let bare_db = dir.path().join("bare.sqlite3");
    let wal = |db: &Path| {
        let mut name = db.as_os_str().to_os_string();
        name.push("-wal");
        std::fs::metadata(name).map_or(0, |m| m.len())
    };
    let page = 4096 + 24; // frame header + page (runsheet's and the bare log's page size)
    let grew = |db: &Path, f: &mut dyn FnMut()| {
        let before = wal(db);
        f();
        (wal(db) - before) / page
    };
    let mut live = Live::new(Store::open(&db).unwrap(), loaded);
    let mut bare = Bare::open(&bare_db);
    bare.insert(note);
    let (mut action, mut end, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        for s in 0..STEPS {
            let step = live.run.current.clone().unwrap();
            let add_note = Command::AddNote {
                step: step.clone(),
                text: note.into(),
            };
            action.push(grew(&db, &mut || live.act(&add_note)));
            let confirm = Command::Confirm { step };
            if s + 1 < STEPS {
                live.act(&confirm);
            } else {
                end.push(grew(&db, &mut || live.act(&confirm)));
            }
            plain.push(grew(&bare_db, &mut || bare.insert(note)));
        }
        live.start(loaded);
    }
    let median = |mut v: Vec<u64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    (median(action), median(end), median(plain))
}

// ------------------------------------------------------------------- proofs

/// `count` items of `v`, evenly spread from its start to its end.
fn spread<T: Clone>(v: &[T], count: usize) -> Vec<T> {
    if v.len() <= count {
        return v.to_vec();
    }
    (0..count)
        .map(|i| v[i * (v.len() - 1) / (count - 1)].clone())
        .collect()
}

fn proofs_section(db: &Path, size: u64) {
    let samples = repeat(40).max(2);
    let store = Store::options().read_only(true).open_existing(db).unwrap();
    let cp = store
        .latest_checkpoint()
        .unwrap()
        .expect("a signed checkpoint");
    let note = store.cosigned_note(&cp).unwrap();
    let latest = SignedCheckpoint::parse(&note).unwrap();
    let tree = cp.tree_size;

    // Runs inside the checkpoint, spread over the whole log.
    let mut ended: Vec<_> = store
        .runs(&RunQuery::default())
        .unwrap()
        .into_iter()
        .filter(|r| r.outcome.is_some())
        .collect();
    ended.reverse();
    let runs = spread(&ended, samples);
    let mut events = 0;
    let mut run_t = Vec::new();
    let mut raw_t = Vec::new();
    // Warm-up: the statements get prepared.
    proofs::run_proofs(&store, runs[0].id, &latest, &note).unwrap();
    for r in &runs {
        let t = Instant::now();
        let p = proofs::run_proofs(&store, r.id, &latest, &note).unwrap();
        run_t.push(t.elapsed());
        assert_eq!(p.len() as i64, r.event_count);
        events += p.len();
        let seqs: Vec<i64> = p.iter().map(|p| p.seq).collect();
        let t = Instant::now();
        for &seq in &seqs {
            let proof = store.inclusion_proof(seq, tree).unwrap();
            assert!(!proof.is_empty());
        }
        raw_t.push(t.elapsed());
    }

    // Consistency from stored checkpoints spread over the log to the latest.
    let olds = spread(&store.checkpoints().unwrap(), samples + 1);
    let olds: Vec<_> = olds.into_iter().filter(|c| c.tree_size < tree).collect();
    let mut cons_t = Vec::new();
    let mut cons_raw_t = Vec::new();
    for old in &olds {
        let signed = SignedCheckpoint::parse(&old.note).unwrap();
        let t = Instant::now();
        let body = proofs::consistency(&store, &signed, &latest, &note).unwrap();
        cons_t.push(t.elapsed());
        assert!(!body.is_empty());
        let t = Instant::now();
        let proof = store.consistency_proof(old.tree_size, tree).unwrap();
        cons_raw_t.push(t.elapsed());
        assert!(!proof.is_empty());
    }

    // The same through the command line: a whole `runsheet prove` process.
    let n = repeat(3).max(1);
    let dir = tempfile::tempdir_in(scratch()).unwrap();
    let from = dir.path().join("old.checkpoint");
    std::fs::write(&from, &olds[olds.len() / 2].note).unwrap();
    let prove_run = |i: usize| {
        let mut c = runsheet();
        let out = dir.path().join(format!("proofs-{i}"));
        c.arg("--db")
            .arg(db)
            .arg("prove")
            .arg("--run")
            .arg(runs[runs.len() / 2].id.to_string())
            .arg("--out")
            .arg(out);
        c
    };
    let prove_from = || {
        let mut c = runsheet();
        c.arg("--db").arg(db).arg("prove").arg("--from").arg(&from);
        c
    };
    let whole = |make: &dyn Fn(usize) -> Process| -> super::Stats {
        let walls: Vec<Duration> = (0..n)
            .map(|i| {
                let m: Measured = measure(&make(i));
                assert_eq!(m.code, Some(0), "prove failed: {}", m.stdout);
                m.wall
            })
            .collect();
        stats(walls)
    };
    let whole_run = whole(&prove_run);
    let whole_from = whole(&|_| prove_from());
    // The page check every read command starts with, alone, for comparison.
    let qc = stats((0..n).map(|_| time_quick_check(db)).collect());

    let (sr, sw, sc, sk) = (stats(run_t), stats(raw_t), stats(cons_t), stats(cons_raw_t));
    let row = |name: String, s: super::Stats, target: bool| {
        vec![
            name,
            ms(s.median),
            ms(s.p90),
            ms(s.min),
            if target {
                met(s.median < Duration::from_millis(10)).into()
            } else {
                "—".into()
            },
        ]
    };
    table(
        &format!(
            "Chain of custody, proofs in a {size}-event log (signed checkpoint of {tree} records; in-process on an open read-only store, {} runs and {} older checkpoints spread over the log; whole processes: median of {n})",
            runs.len(),
            olds.len()
        ),
        &["what", "median", "p90", "min", "< 10 ms (median)"],
        &[
            row(
                format!(
                    "inclusion proofs of one run's events (`export::proofs::run_proofs`: read, prove, verify against the root, format; {:.0} events per run)",
                    events as f64 / runs.len() as f64
                ),
                sr,
                true,
            ),
            row(
                "  … `Store::inclusion_proof` for each of its events alone".into(),
                sw,
                false,
            ),
            row(
                "consistency proof to the latest checkpoint (`export::proofs::consistency`: prove, verify both roots, format)".into(),
                sc,
                true,
            ),
            row(
                "  … `Store::consistency_proof(old, new)` alone".into(),
                sk,
                false,
            ),
            row(
                "`runsheet prove --run ID --out DIR` (whole process)".into(),
                whole_run,
                false,
            ),
            row(
                "`runsheet prove --from FILE` (whole process)".into(),
                whole_from,
                false,
            ),
            row(
                "  `PRAGMA quick_check` alone (in-process), which every read command runs first".into(),
                qc,
                false,
            ),
        ],
    );
    for (what, s) in [("inclusion proofs of a run", sr), ("consistency proof", sc)] {
        println!(
            "target: {what} < 10 ms — {} (median {}, p90 {})",
            met(s.median < Duration::from_millis(10)),
            ms(s.median),
            ms(s.p90)
        );
    }
}

// ------------------------------------------------------------------- verify

/// `PRAGMA quick_check` on a fresh read-only, immutable connection, as
/// `--quick-check` does in a child process.
fn time_quick_check(db: &Path) -> Duration {
    let t = Instant::now();
    let uri = format!("file:{}?mode=ro&immutable=1", db.display());
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(uri, flags).unwrap();
    let answer: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(answer, "ok");
    t.elapsed()
}

/// This process's user + system CPU time so far (all threads).
fn cpu() -> Duration {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).unwrap();
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(u.user_time()) + tv(u.system_time())
}

fn verify_section(db: &Path, size: u64) {
    let n = repeat(5).max(1);
    let (trust, tree) = {
        let store = Store::options().read_only(true).open_existing(db).unwrap();
        let cp = store
            .latest_checkpoint()
            .unwrap()
            .expect("a signed checkpoint");
        let key = store.log_key().unwrap().and_then(|k| k.verifier()).unwrap();
        let trusted = SignedCheckpoint::parse(&store.cosigned_note(&cp).unwrap()).unwrap();
        let trust = Trust {
            trusted: Some(trusted),
            key: Some(key),
            ..Trust::default()
        };
        (trust, cp.tree_size)
    };
    // Opened as `runsheet verify` opens it (read-only), verified, closed.
    let verify = |trust: &Trust| {
        let store = Store::options().read_only(true).open_existing(db).unwrap();
        let report = store.verify_trusting(trust).unwrap();
        assert!(report.is_ok(), "{report}");
        report
    };
    let report = verify(&trust); // warm-up, and the trusted checkpoint must be proved
    assert!(report.custody.is_some(), "no custody part in {report}");
    time_quick_check(db);
    let timed = |f: &dyn Fn()| {
        let (c, t) = (cpu(), Instant::now());
        f();
        (t.elapsed(), cpu() - c)
    };
    let (mut vt, mut vc, mut pt, mut pc, mut qt, mut qc) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for i in 0..n {
        // Interleaved, rotating which goes first.
        for k in 0..3 {
            match (i + k) % 3 {
                0 => {
                    let (w, c) = timed(&|| {
                        verify(&trust);
                    });
                    vt.push(w);
                    vc.push(c);
                }
                1 => {
                    let (w, c) = timed(&|| {
                        verify(&Trust::default());
                    });
                    pt.push(w);
                    pc.push(c);
                }
                _ => {
                    let (w, c) = timed(&|| {
                        time_quick_check(db);
                    });
                    qt.push(w);
                    qc.push(c);
                }
            }
        }
    }
    let bytes = std::fs::metadata(db).map_or(0, |m| m.len());
    let (sv, sp, sq) = (stats(vt), stats(pt), stats(qt));
    let (cv, cp, cq) = (stats(vc), stats(pc), stats(qc));
    let secs = |d: Duration| format!("{:.3} s", d.as_secs_f64());
    let x = |a: Duration, b: Duration| format!("{:.2}×", a.as_secs_f64() / b.as_secs_f64());
    table(
        &format!(
            "Chain of custody, verify of a {size}-event log ({:.0} MiB) trusting its latest signed checkpoint ({tree} records) and the log's key, vs `PRAGMA quick_check` on the same file (in-process, median of {n}, interleaved; CPU = user + system of all threads)",
            bytes as f64 / 1_048_576.0
        ),
        &[
            "what",
            "median",
            "min",
            "CPU (median)",
            "ratio to quick_check (median)",
        ],
        &[
            vec![
                "`Store::verify_trusting` (page check beside the chain walk, tree, signatures, trusted checkpoint)".into(),
                secs(sv.median),
                secs(sv.min),
                secs(cv.median),
                format!("**{}**", x(sv.median, sq.median)),
            ],
            vec![
                "`Store::verify_trusting` with no trust (plain verify)".into(),
                secs(sp.median),
                secs(sp.min),
                secs(cp.median),
                x(sp.median, sq.median),
            ],
            vec![
                "`PRAGMA quick_check` alone (baseline)".into(),
                secs(sq.median),
                secs(sq.min),
                secs(cq.median),
                "1.00×".into(),
            ],
        ],
    );
    let ratio = sv.median.as_secs_f64() / sq.median.as_secs_f64();
    println!(
        "target: verify trusting a signed checkpoint ≤ 1.5× quick_check — {} ({ratio:.2}×; CPU {:.2}× quick_check's)",
        met(ratio <= 1.5),
        cv.median.as_secs_f64() / cq.median.as_secs_f64()
    );
}
