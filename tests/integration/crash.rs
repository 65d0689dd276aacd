//! Kill test: a plain-mode run killed with SIGKILL after N acknowledged actions
//! loses none of them; `resume` continues and the chain verifies.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use crate::common::{repo, runsheet, stdout};

/// The whole drill, one line per key or answer; 14 "recorded" lines in all.
pub const DRILL_SCRIPT: &str = "\n\n12\nr\ny\n\nn\n\nBob\ny\na\nall good\n\n";
pub const DRILL_ACKS: usize = 14;

fn drill() -> String {
    repo()
        .join("tests/fixtures/run/drill.toml")
        .display()
        .to_string()
}

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
    let mut child = runsheet(&db)
        .args(["run", "--plain", &drill()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(DRILL_SCRIPT.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
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
        let mut child = runsheet(&db)
            .args(["run", "--plain", &drill()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(DRILL_SCRIPT.as_bytes()).unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut run_id = String::new();
        let mut acks = 0;
        let mut line = String::new();
        while acks < n {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            if let Some(rest) = line.trim().rsplit_once("— run ") {
                run_id = rest.1.to_string();
            }
            acks += line.matches("✔ recorded").count();
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        drop(stdin);
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
