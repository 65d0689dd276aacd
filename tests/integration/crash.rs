//! Kill test: a plain-mode run killed with SIGKILL after N acknowledged actions
//! loses none of them; `resume` continues and the chain verifies.

use std::process::Stdio;

use crate::common::{
    DRILL_ACKS, DRILL_SCRIPT, LIVE_TIMEOUT, Live, drill, plain_run, printed_run_id, runsheet,
    stdout,
};

/// Count the DB events that plain mode acknowledges with a "recorded" line.
fn recorded_events(db: &std::path::Path, run_id: &str) -> usize {
    let out = runsheet(db)
        .args(["--json", "show", run_id])
        .output()
        .expect("show runs");
    assert!(
        out.status.success(),
        "show failed: {}",
        crate::common::stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("show --json is JSON");
    v["events"]
        .as_array()
        .expect("events array")
        .iter()
        .filter(|e| !matches!(e["kind"].as_str(), Some("run-started" | "step-started")))
        .count()
}

#[test]
fn the_whole_drill_completes_from_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let out = plain_run(&db, drill(), DRILL_SCRIPT);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(text.matches("✔ recorded").count(), DRILL_ACKS, "{text}");
    assert!(
        text.contains("ESCALATION: Call the on-call engineer"),
        "{text}"
    );
    assert!(text.contains("ended: COMPLETED"), "{text}");
    let verify = runsheet(&db).arg("verify").output().unwrap();
    assert!(verify.status.success(), "{}", stdout(&verify));
}

#[test]
fn killed_runs_lose_no_acknowledged_action_and_resume() {
    for n in 1..DRILL_ACKS {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("log.sqlite3");
        let mut live = Live::spawn(runsheet(&db).arg("run").arg("--plain").arg(drill()));
        live.send(DRILL_SCRIPT);
        let acks_in = |text: &str| text.matches("✔ recorded").count();
        live.wait_until(LIVE_TIMEOUT, |text| acks_in(text) >= n);
        // What the operator had seen when the kill was decided.
        let seen = live.text();
        live.kill(); // SIGKILL
        let acks = acks_in(&seen);
        let run_id = printed_run_id(&seen).unwrap_or_default();
        assert!(
            acks >= n,
            "only {acks} acknowledgements before the output ended"
        );
        assert!(!run_id.is_empty(), "run id not printed");
        let stored = recorded_events(&db, &run_id);
        assert!(
            stored >= acks,
            "kill after {n}: {acks} actions acknowledged but only {stored} stored"
        );
        let verify = runsheet(&db).arg("verify").output().unwrap();
        assert!(
            verify.status.success(),
            "kill after {n}: {}",
            stdout(&verify)
        );
        // Resume shows the run where it stopped; with no input it suspends again.
        let resumed = runsheet(&db)
            .args(["resume", "--plain", &run_id])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = stdout(&resumed);
        if stored < DRILL_ACKS {
            assert_eq!(resumed.status.code(), Some(10), "kill after {n}: {text}");
            assert!(text.contains("Suspended"), "{text}");
        }
        let verify = runsheet(&db).arg("verify").output().unwrap();
        assert!(
            verify.status.success(),
            "after resume {n}: {}",
            stdout(&verify)
        );
    }
}
