//! Crash safety at random points: a scripted plain-mode run of the drill is
//! killed with SIGKILL at a pseudo-random moment (deterministic seed); then
//! every acknowledged action must be in the log, `resume` must land on the
//! step the log says is current, and `verify` must be OK.
//!
//! The CI test does 10 kills; the ignored one does 100 and prints the table
//! for docs/reliability.md:
//! `cargo test --release --test integration reliability -- --ignored --nocapture`

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::common::{
    DRILL_ACKS, DRILL_SCRIPT, LIVE_TIMEOUT, Live, Rng, drill, printed_run_id, runsheet, stderr,
    stdout,
};

/// Titles of the drill's steps, as plain mode prints them.
fn title(step: &str) -> &'static str {
    match step {
        "prepare" => "Prepare the workspace",
        "size" => "Record the backup size",
        "check" => "Check the service",
        "healthy" => "Is the service healthy?",
        "wrap-up" => "Wrap up",
        "call" => "Call the on-call engineer",
        other => panic!("unknown drill step {other}"),
    }
}

/// What one kill left behind.
#[derive(Debug, Default, Clone, Copy)]
struct Kill {
    /// "✔ recorded" lines the operator saw before the kill.
    acked: usize,
    /// Operator actions (events other than run-started/step-started) in the log.
    stored: usize,
    /// Acknowledged but not in the log (must be 0).
    lost: usize,
    verify_ok: bool,
    /// `resume` showed the step the log says is current (or refused an ended run).
    resume_ok: bool,
}

/// The run's events as `show --json` lists them: (kind, step).
fn events(db: &Path, run_id: &str) -> Vec<(String, Option<String>)> {
    let out = runsheet(db)
        .args(["--json", "show", run_id])
        .output()
        .unwrap();
    assert!(out.status.success(), "show: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["step"].as_str().map(String::from),
            )
        })
        .collect()
}

fn verify_ok(db: &Path) -> bool {
    if !db.exists() {
        return true;
    }
    let out = runsheet(db).arg("verify").output().unwrap();
    out.status.success() && stdout(&out).starts_with("OK")
}

/// Start the drill, kill it after `after_acks` acknowledgements plus `delay_us`, check.
fn kill_once(after_acks: usize, delay_us: u64) -> Kill {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let mut live = Live::spawn(runsheet(&db).arg("run").arg("--plain").arg(drill()));
    live.send(DRILL_SCRIPT);
    let count = |text: &str| text.lines().filter(|l| l.contains("✔ recorded")).count();
    live.wait_until(LIVE_TIMEOUT, |text| count(text) >= after_acks);
    if delay_us > 0 {
        std::thread::sleep(Duration::from_micros(delay_us));
    }
    // Everything the process wrote before it died was seen by the operator.
    let text = live.kill(); // SIGKILL
    let acked = count(&text);
    let run_id = printed_run_id(&text).unwrap_or_default();
    if run_id.is_empty() {
        // Killed before the run was created: nothing was acknowledged.
        return Kill {
            acked,
            stored: 0,
            lost: acked,
            verify_ok: verify_ok(&db),
            resume_ok: true,
        };
    }
    let evs = events(&db, &run_id);
    let stored = evs
        .iter()
        .filter(|(k, _)| k != "run-started" && k != "step-started")
        .count();
    let ended = evs.iter().any(|(k, _)| k == "run-ended");
    let current = evs
        .iter()
        .rev()
        .find(|(k, _)| k == "step-started")
        .and_then(|(_, s)| s.clone());
    let verify_before = verify_ok(&db);
    let resumed = runsheet(&db)
        .args(["resume", "--plain", &run_id])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = stdout(&resumed);
    let resume_ok = if ended {
        resumed.status.code() == Some(3) && stderr(&resumed).contains("already ended")
    } else {
        let step = current.expect("an open run has a current step");
        resumed.status.code() == Some(10)
            && text.contains(&format!("] {}", title(&step)))
            && text.contains("Suspended")
    };
    Kill {
        acked,
        stored,
        lost: acked.saturating_sub(stored),
        verify_ok: verify_before && verify_ok(&db),
        resume_ok,
    }
}

/// `kills` kills at pseudo-random points; prints the table; asserts nothing was lost.
fn kills(kills: usize, seed: u64) {
    let mut rng = Rng(seed);
    let mut total = Kill {
        verify_ok: true,
        resume_ok: true,
        ..Kill::default()
    };
    let mut verify_failures = 0;
    let mut resume_failures = 0;
    let mut points = Vec::new();
    for _ in 0..kills {
        let after = rng.below(DRILL_ACKS as u64) as usize;
        let delay = match rng.below(3) {
            0 => 0,
            1 => rng.below(500),
            _ => rng.below(20_000),
        };
        let k = kill_once(after, delay);
        points.push((after, delay, k));
        total.acked += k.acked;
        total.stored += k.stored;
        total.lost += k.lost;
        verify_failures += usize::from(!k.verify_ok);
        resume_failures += usize::from(!k.resume_ok);
    }
    println!(
        "\n| kills | actions acknowledged | actions in the log | actions lost | verify failures | resume mismatches |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| {kills} | {} | {} | **{}** | {verify_failures} | {resume_failures} |",
        total.acked, total.stored, total.lost
    );
    let bad: Vec<_> = points
        .iter()
        .filter(|(_, _, k)| k.lost > 0 || !k.verify_ok || !k.resume_ok)
        .collect();
    assert!(bad.is_empty(), "seed {seed}: failing kill points: {bad:#?}");
    assert!(total.acked > 0, "no kill happened after an acknowledgement");
}

#[test]
fn ten_kills_at_random_points_lose_nothing() {
    kills(10, 0x5EED_0001);
}

#[test]
#[ignore = "long run (about 10 s in release): cargo test --release --test integration reliability -- --ignored --nocapture"]
fn hundred_kills_at_random_points_lose_nothing() {
    kills(100, 0x5EED_2026);
}
