//! Procedures as controlled documents (issue 16): approval and review as
//! recorded acts — `approve` by an SSH key made here by ssh-keygen and from
//! the approver's own login, refused with nothing written for a forged
//! signature, a key not in allowed-signers or another content; `run`
//! checking the exact content is approved (warn and record by default,
//! `refuse` by policy); `lint` checking the file's `approved` claim;
//! `review` moving the due date `list` and `status` show; read commands
//! changing no byte; verify and export with the new events.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{
    DRILL_SCRIPT, assert_evidence_validates, payloads, printed_run_id, repo, run_with_input,
    runsheet_with, stderr, stdout,
};
use crate::sign_off::{ssh_key, whoami_user};

/// A procedures folder holding a copy of the drill (as `drill.toml`), and
/// the log beside it.
struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    procs: PathBuf,
    db: PathBuf,
    file: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let procs = root.join("procedures");
    std::fs::create_dir(&procs).unwrap();
    let file = procs.join("drill.toml");
    std::fs::copy(repo().join("tests/fixtures/run/drill.toml"), &file).unwrap();
    Setup {
        db: root.join("log.sqlite3"),
        _dir: dir,
        root,
        procs,
        file,
    }
}

impl Setup {
    /// `runsheet` on this log and folder, with the default approval policy.
    fn cmd(&self) -> Command {
        let mut c = runsheet_with(&self.db, &self.procs);
        c.env_remove("RUNSHEET_UNAPPROVED");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// `run --plain --new drill` answering with `script`.
    fn run_drill(&self, script: &str) -> Output {
        run_with_input(
            self.cmd().args(["run", "--plain", "--new", "drill"]),
            script,
        )
    }

    /// The allowed-signers file in the procedures folder, with `lines`.
    fn allow(&self, lines: &str) {
        std::fs::write(self.procs.join("allowed_signers"), lines).unwrap();
    }

    /// The allowed-signers file, making the tests' OS user an approver
    /// (for approvals from their login): that user's name.
    fn allow_me(&self) -> String {
        let me = whoami_user();
        let (_, key) = ssh_key(&self.root, "me");
        self.allow(&format!(
            "{me} namespaces=\"runsheet-signoff@approver\" {key}\n"
        ));
        me
    }

    /// The drill's file with an explicit `next_review` instead of its interval.
    fn due_for_review_on(&self, date: &str) {
        let source = std::fs::read_to_string(&self.file).unwrap();
        let changed = source.replace("review_every_months = 12", &format!("next_review = {date}"));
        assert_ne!(changed, source);
        std::fs::write(&self.file, changed).unwrap();
    }

    /// `runsheet export --out ROOT/bundle`, which must succeed: the bundle.
    fn export(&self) -> PathBuf {
        let bundle = self.root.join("bundle");
        crate::common::export_bundle(&self.db, &bundle, &[]);
        bundle
    }

    fn approvals(&self) -> Vec<serde_json::Value> {
        if self.db.exists() {
            payloads(&self.db, "procedure-approved")
        } else {
            Vec::new()
        }
    }

    /// Every file in the folder of the log, with its bytes.
    fn files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        for dir in [&self.root, &self.procs] {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_file() {
                    out.insert(p.clone(), std::fs::read(&p).unwrap());
                }
            }
        }
        out
    }
}

/// `runsheet approve drill --text` signed by `key` with ssh-keygen in
/// `namespace`: the signature file's path.
fn sign(s: &Setup, key: &Path, namespace: &str, name: &str) -> PathBuf {
    let text = s.run(&["approve", "drill", "--text"]);
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    let signed = run_with_input(
        Command::new("ssh-keygen")
            .args(["-Y", "sign", "-n", namespace, "-f"])
            .arg(key),
        text.stdout,
    );
    assert!(signed.status.success(), "{}", stderr(&signed));
    let out = s.root.join(name);
    std::fs::write(&out, &signed.stdout).unwrap();
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// An approval signed with an SSH key made here: the text to sign is one
/// field a line; a tampered signature, a key not in allowed-signers and a
/// signature over content that changed after signing are each refused with
/// nothing written (no log is even created); the good one is recorded with
/// the key, the text and the signature, written beside the procedure as
/// `drill.toml.approval`, and checks again with ssh-keygen alone. The same
/// approver approving the same content again records nothing.
#[test]
fn an_approval_is_signed_with_an_ssh_key_and_forgeries_are_refused() {
    let s = setup();
    let (ciso, ciso_pub) = ssh_key(&s.root, "ciso");
    let (mallory, _) = ssh_key(&s.root, "mallory");
    s.allow(&format!(
        "ciso@example.com namespaces=\"runsheet-signoff@approver\" {ciso_pub}\n"
    ));
    let source = std::fs::read(&s.file).unwrap();
    let sha = sha256_hex(&source);

    let text = s.run(&["approve", "drill", "--text"]);
    assert_eq!(
        stdout(&text),
        format!(
            "runsheet approval v1\nprocedure: drill\nversion: 1.0\nprocedure-sha256: {sha}\nrole: approver\n"
        )
    );
    assert!(
        stderr(&text).contains("-n runsheet-signoff@approver"),
        "{}",
        stderr(&text)
    );

    let good = sign(&s, &ciso, "runsheet-signoff@approver", "good.sig");
    let refused = |sig: &Path, words: &str| {
        let out = s.run(&["approve", "drill", "--signature", sig.to_str().unwrap()]);
        assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
        assert!(stderr(&out).contains(words), "{words}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("nothing was approved"),
            "{}",
            stderr(&out)
        );
        assert!(!s.db.exists(), "a refused approval created the log");
        assert!(!s.procs.join("drill.toml.approval").exists());
    };
    // Forged: one character of the signature changed.
    let sig = std::fs::read_to_string(&good).unwrap();
    let body = sig.lines().nth(1).unwrap().to_string();
    let mut forged_body: Vec<char> = body.chars().collect();
    forged_body[20] = if forged_body[20] == 'A' { 'B' } else { 'A' };
    let forged_body: String = forged_body.into_iter().collect();
    let forged = s.root.join("forged.sig");
    std::fs::write(&forged, sig.replacen(&body, &forged_body, 1)).unwrap();
    refused(&forged, "");
    // A key the allowed-signers file does not name.
    let other = sign(&s, &mallory, "runsheet-signoff@approver", "mallory.sig");
    refused(&other, "is not in the allowed signers");
    // The approver's key, in another role's namespace.
    let lead = sign(&s, &ciso, "runsheet-signoff@team-lead", "lead.sig");
    refused(&lead, "does not sign this procedure's approval text");
    // The file changed after it was signed: the signature is of other content.
    std::fs::write(&s.file, [source.as_slice(), b"# edited\n"].concat()).unwrap();
    refused(&good, "does not sign this procedure's approval text");
    std::fs::write(&s.file, &source).unwrap();

    let out = s.run(&["approve", "drill", "--signature", good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Approved drill v1.0") && stdout(&out).contains("ciso@example.com"),
        "{}",
        stdout(&out)
    );
    let recorded = s.approvals();
    assert_eq!(recorded.len(), 1);
    let a = &recorded[0];
    assert_eq!(a["procedure_sha256"], sha);
    assert_eq!(a["source"], String::from_utf8(source.clone()).unwrap());
    assert_eq!(a["by"]["method"], "ssh");
    assert_eq!(a["by"]["user"], "ciso@example.com");
    assert_eq!(a["by"]["role"], "approver");
    assert!(
        a["by"]["role_from"]
            .as_str()
            .unwrap()
            .ends_with("allowed_signers")
    );
    assert_eq!(a["by"]["ssh"]["namespace"], "runsheet-signoff@approver");

    // The detached file names the content, the approver and the record.
    let detached = std::fs::read_to_string(s.procs.join("drill.toml.approval")).unwrap();
    let parsed: toml::Table = toml::from_str(&detached).unwrap();
    assert_eq!(parsed["procedure"].as_str(), Some("drill"));
    assert_eq!(parsed["procedure_sha256"].as_str(), Some(sha.as_str()));
    assert_eq!(parsed["approver"].as_str(), Some("ciso@example.com"));
    assert_eq!(parsed["method"].as_str(), Some("ssh"));
    assert!(parsed["log_seq"].as_integer().unwrap() > 0);
    assert_eq!(parsed["record_hash"].as_str().unwrap().len(), 64);
    assert!(
        parsed["ssh"]["signature"]
            .as_str()
            .unwrap()
            .contains("BEGIN SSH SIGNATURE")
    );

    // The recorded signature checks again with ssh-keygen alone.
    let sig_file = s.root.join("recorded.sig");
    std::fs::write(&sig_file, a["by"]["ssh"]["signature"].as_str().unwrap()).unwrap();
    let check = run_with_input(
        Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f"])
            .arg(s.procs.join("allowed_signers"))
            .args([
                "-I",
                "ciso@example.com",
                "-n",
                "runsheet-signoff@approver",
                "-s",
            ])
            .arg(&sig_file),
        a["by"]["ssh"]["message"].as_str().unwrap(),
    );
    assert!(check.status.success(), "{}", stderr(&check));

    // Again, by the same approver: nothing recorded.
    let again = s.run(&["approve", "drill", "--signature", good.to_str().unwrap()]);
    assert_ne!(again.status.code(), Some(0));
    assert!(
        stderr(&again).contains("already approved this content"),
        "{}",
        stderr(&again)
    );
    assert_eq!(s.approvals().len(), 1);

    // verify passes and the export validates with the approval in it.
    let verify = s.run(&["verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
    assert_evidence_validates(&s.db);
}

/// From their own login: refused with nothing written while no
/// allowed-signers file says who holds the approver role, or when it gives
/// them another role; recorded when it makes them an approver.
#[test]
fn an_approval_from_the_approvers_login_needs_the_role() {
    let s = setup();
    let me = whoami_user();
    let (_, key) = ssh_key(&s.root, "me");
    let out = s.run(&["approve", "drill"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("nothing says who holds the approver role"),
        "{}",
        stderr(&out)
    );
    assert!(!s.db.exists());
    s.allow(&format!(
        "{me} namespaces=\"runsheet-signoff@team-lead\" {key}\n"
    ));
    let out = s.run(&["approve", "drill"]);
    assert!(
        stderr(&out).contains("the role is not theirs to sign for; nothing was approved"),
        "{}",
        stderr(&out)
    );
    assert!(!s.db.exists());
    s.allow(&format!(
        "{me} namespaces=\"runsheet-signoff@approver\" {key}\n"
    ));
    let out = s.run(&["approve", "drill"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("(their login, uid"),
        "{}",
        stdout(&out)
    );
    let a = &s.approvals()[0];
    assert_eq!(a["by"]["method"], "login");
    assert_eq!(a["by"]["user"], me.as_str());
    assert_eq!(a["by"]["login"]["user"], me.as_str());
    assert!(s.procs.join("drill.toml.approval").exists());
}

/// A run of unapproved content warns before the first step (default
/// policy); going ahead is recorded as `warnings-acknowledged` with the
/// approval warning and counted as the run's deviation. After an approval
/// the same content runs with no warning; one byte changed makes it
/// unapproved again. With `unapproved = "refuse"` (procedure or
/// configuration) the run is refused and nothing is written.
#[test]
fn run_checks_the_exact_content_is_approved() {
    let s = setup();
    let out = s.run_drill(&format!("\n{DRILL_SCRIPT}"));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("has no recorded approval by an approver (`runsheet approve drill`)"),
        "{text}"
    );
    let acks = payloads(&s.db, "warnings-acknowledged");
    assert_eq!(acks.len(), 1);
    assert!(
        acks[0]
            .to_string()
            .contains("has no recorded approval by an approver"),
        "{}",
        acks[0]
    );
    let id = printed_run_id(&text).unwrap();
    let show = s.run(&["show", &id]);
    assert!(
        stdout(&show).contains("2 deviations (0 skipped, 1 failed, 1 warning acknowledgement)"),
        "{}",
        stdout(&show)
    );

    // Approved: no warning, straight to the first step.
    s.allow_me();
    assert_eq!(s.run(&["approve", "drill"]).status.code(), Some(0));
    let out = s.run_drill(DRILL_SCRIPT);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(!stdout(&out).contains("WARNING"), "{}", stdout(&out));
    assert_eq!(payloads(&s.db, "warnings-acknowledged").len(), 1);

    // One byte changed: unapproved again.
    let source = std::fs::read_to_string(&s.file).unwrap();
    // (The change notice first: Enter reads it, Enter again goes ahead.)
    std::fs::write(&s.file, source.replace("Test drill", "Test drilL")).unwrap();
    let out = s.run_drill(&format!("\n\n{DRILL_SCRIPT}"));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("has no recorded approval by an approver"),
        "{}",
        stdout(&out)
    );
    assert_eq!(payloads(&s.db, "warnings-acknowledged").len(), 2);

    // Refuse, from the procedure: nothing written.
    std::fs::write(
        &s.file,
        source.replace("Test drill", "Test drilL").replacen(
            "cadence = ",
            "unapproved = \"refuse\"\ncadence = ",
            1,
        ),
    )
    .unwrap();
    let before = std::fs::read(&s.db).unwrap();
    let out = s.run_drill(DRILL_SCRIPT);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("the policy is to refuse")
            && stderr(&out).contains("no run was started"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&s.db).unwrap(), before, "a refused run wrote");
    // A drill of the same content is practice: started, with the warning,
    // and its acknowledgement recorded.
    let out = run_with_input(
        s.cmd()
            .args(["run", "--plain", "--new", "--drill", "drill"]),
        "\n\n",
    );
    assert!(
        stdout(&out).contains("has no recorded approval by an approver")
            && stdout(&out).contains("DRILL"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(payloads(&s.db, "warnings-acknowledged").len(), 3);
    let drills: Vec<_> = payloads(&s.db, "run-started")
        .into_iter()
        .filter(|p| p["drill"] == true)
        .collect();
    assert_eq!(drills.len(), 1, "the drill was not started");

    // Refuse, from the configuration, on a log that does not exist yet.
    std::fs::write(&s.file, &source).unwrap();
    let config = s.root.join("config.toml");
    std::fs::write(&config, "unapproved = \"refuse\"\n").unwrap();
    let fresh = s.root.join("fresh.sqlite3");
    let out = run_with_input(
        s.cmd()
            .arg("--db")
            .arg(&fresh)
            .arg("--config")
            .arg(&config)
            .args(["run", "--plain", "--new", "drill"]),
        DRILL_SCRIPT,
    );
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(!fresh.exists(), "a refused run created the log");
    // `allow` in the procedure is not a value; a procedure's `warn` does not
    // loosen the configuration's `refuse`.
    let config_says = s
        .cmd()
        .arg("--config")
        .arg(&config)
        .arg("config")
        .output()
        .unwrap();
    assert!(
        stdout(&config_says).contains("unapproved") && stdout(&config_says).contains("refuse"),
        "{}",
        stdout(&config_says)
    );

    assert_eq!(s.run(&["verify"]).status.code(), Some(0));
    // The approval, recorded after the first exported run, is in the
    // bundle's records in full and validates against its kind's schema.
    let evidence = assert_evidence_validates(&s.db);
    assert!(evidence.to_string().contains("procedure-approved"));
}

/// `lint` checks the file's `approved` claim against the log (read-only,
/// and only when a log exists): no recorded approval of this content is a
/// warning (`--strict` fails); after an approval on another date, by
/// another approver than `approver` names, lint says so too.
#[test]
fn lint_checks_the_approved_claim_against_the_log() {
    let s = setup();
    let out = s.run(&["lint", s.file.to_str().unwrap(), "--strict"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "no log: nothing to check against: {}",
        stdout(&out)
    );
    assert!(!s.db.exists(), "lint created a log");

    // A log (one run), with no approval.
    let run = s.run_drill(&format!("\n{DRILL_SCRIPT}"));
    assert_eq!(run.status.code(), Some(0), "{}", stdout(&run));
    let out = s.run(&["lint", s.file.to_str().unwrap(), "--strict"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("warning[approval-claim]: approved = 2026-10-01 but the log records no approval of this content"),
        "{text}"
    );
    assert!(text.contains("runsheet approve drill"), "{text}");

    let me = s.allow_me();
    assert_eq!(s.run(&["approve", "drill"]).status.code(), Some(0));
    let out = s.run(&["lint", s.file.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(
        text.contains("approved = 2026-10-01 but this content's recorded approval is dated"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "approver = \"CISO\" but this content was approved by {me}"
        )),
        "{text}"
    );
    // The claim made true: no approval-claim warning.
    let today = chrono::Utc::now().date_naive().to_string();
    let source = std::fs::read_to_string(&s.file).unwrap();
    std::fs::write(
        &s.file,
        source
            .replace("approver = \"CISO\"", &format!("approver = \"{me}\""))
            .replace("approved = 2026-10-01", &format!("approved = {today}")),
    )
    .unwrap();
    let again = s.run(&["approve", "drill"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("v1.0 of drill was approved before with other content"),
        "{}",
        stderr(&again)
    );
    let out = s.run(&["lint", s.file.to_str().unwrap(), "--strict"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// A review moves the due date `list` and `status` show from the file's to
/// the recorded one, and says who reviewed when; `status --strict` fails on
/// an overdue review and passes after one; `--next` must be in the future;
/// `--outcome changed` leaves a pending change in status until other
/// content is approved. The read commands change no byte of any file.
#[test]
fn a_review_moves_the_due_date_and_status_strict_follows_it() {
    let s = setup();
    let me = s.allow_me();
    // Overdue by the file's dates.
    s.due_for_review_on("2026-01-01");
    assert_eq!(s.run(&["approve", "drill"]).status.code(), Some(0));

    let before = s.files();
    let status = s.run(&["status", "--strict"]);
    assert_eq!(status.status.code(), Some(1), "{}", stdout(&status));
    assert!(
        stdout(&status).contains("OVERDUE 2026-01-01"),
        "{}",
        stdout(&status)
    );
    let list = s.run(&["list"]);
    assert!(
        stdout(&list).contains("2026-01-01 OVERDUE"),
        "{}",
        stdout(&list)
    );
    let lint = s.run(&["lint"]);
    assert_eq!(lint.status.code(), Some(0), "{}", stdout(&lint));
    assert!(
        stdout(&lint).contains("warning[review-overdue]"),
        "{}",
        stdout(&lint)
    );
    assert_eq!(s.files(), before, "a read command changed a file");

    let past = s.run(&[
        "review",
        "drill",
        "--outcome",
        "unchanged",
        "--note",
        "ok",
        "--next",
        "2026-01-02",
    ]);
    assert_ne!(past.status.code(), Some(0));
    assert!(
        stderr(&past).contains("must be in the future"),
        "{}",
        stderr(&past)
    );
    let out = s.run(&[
        "review",
        "drill",
        "--outcome",
        "unchanged",
        "--note",
        "still matches the drill",
        "--next",
        "2099-06-30",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("next review due 2099-06-30"),
        "{}",
        stdout(&out)
    );
    let reviews = payloads(&s.db, "procedure-reviewed");
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0]["outcome"], "unchanged");
    assert_eq!(reviews[0]["next_review"], "2099-06-30");
    assert_eq!(reviews[0]["by"]["user"], me.as_str());

    // lint's review-overdue follows the recorded review too.
    let lint = s.run(&["lint", "--strict"]);
    assert!(
        !stdout(&lint).contains("review-overdue"),
        "{}",
        stdout(&lint)
    );
    let status = s.run(&["status", "--strict"]);
    assert_eq!(status.status.code(), Some(0), "{}", stdout(&status));
    assert!(
        stdout(&status).contains("2099-06-30 (review)"),
        "{}",
        stdout(&status)
    );
    let json = s.run(&["--json", "status"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let p = &v["procedures"][0];
    assert_eq!(p["review_due"], "2099-06-30");
    assert_eq!(p["review_due_from"], "log");
    assert_eq!(p["last_review"]["by"], me.as_str());
    let list = s.run(&["list"]);
    let row = stdout(&list);
    assert!(
        row.contains(&format!("{} {me}", chrono::Utc::now().date_naive()))
            && row.contains("2099-06-30 (review)"),
        "{row}"
    );
    let json = s.run(&["--json", "list"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["procedures"][0]["review_due_from"], "log");

    // The default next date: the procedure's interval (none here: 12 months).
    let out = s.run(&[
        "review",
        "drill",
        "--outcome",
        "changed",
        "--note",
        "the steps are out of date",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let next = chrono::Utc::now()
        .date_naive()
        .checked_add_months(chrono::Months::new(12))
        .unwrap()
        .to_string();
    assert!(stdout(&out).contains(&next), "{}", stdout(&out));
    assert!(stdout(&out).contains("needs a change"), "{}", stdout(&out));
    let status = s.run(&["status", "--strict"]);
    assert_eq!(status.status.code(), Some(1), "{}", stdout(&status));
    assert!(
        stdout(&status).contains("review found a change needed"),
        "{}",
        stdout(&status)
    );
    // A new version approved: the change is no longer pending.
    let now = std::fs::read_to_string(&s.file).unwrap();
    std::fs::write(
        &s.file,
        now.replace("version = \"1.0\"", "version = \"1.1\""),
    )
    .unwrap();
    assert_eq!(s.run(&["approve", "drill"]).status.code(), Some(0));
    let status = s.run(&["status", "--strict"]);
    assert_eq!(status.status.code(), Some(0), "{}", stdout(&status));

    assert_eq!(s.run(&["verify"]).status.code(), Some(0));
    assert_evidence_validates(&s.db);

    // The bundle's reports list the recorded approvals and reviews, in log
    // order, with who and how, the review's outcome, due date and note.
    let bundle = s.export();
    let md = std::fs::read_to_string(bundle.join("report.md")).unwrap();
    let section = &md[md.find("## Document control").expect("document control")..];
    let rows: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("| drill v"))
        .collect();
    assert_eq!(rows.len(), 4, "{section}");
    assert!(rows[0].contains("| approved |"), "{section}");
    assert!(
        rows[1].contains("| reviewed |")
            && rows[1].contains("unchanged, next review 2099-06-30 — still matches the drill")
            && rows[1].contains(&format!("{me}, login as approver")),
        "{section}"
    );
    assert!(rows[2].contains("changed, next review") && rows[2].contains("| reviewed |"));
    assert!(rows[3].starts_with("| drill v1.1 |") && rows[3].contains("| approved |"));
    let html = std::fs::read_to_string(bundle.join("report.html")).unwrap();
    assert!(html.contains("<h2>Document control</h2>"));
    assert!(html.contains("still matches the drill"));
}

/// The run-start review warning uses the recorded review: a file whose
/// review date has passed does not warn once a review set a later date.
#[test]
fn the_run_start_review_warning_follows_the_recorded_review() {
    let s = setup();
    s.allow_me();
    s.due_for_review_on("2026-01-01");
    assert_eq!(s.run(&["approve", "drill"]).status.code(), Some(0));
    let out = s.run_drill(&format!("\n{DRILL_SCRIPT}"));
    assert!(
        stdout(&out).contains("was due for review on 2026-01-01 (file)"),
        "{}",
        stdout(&out)
    );
    let review = s.run(&[
        "review",
        "drill",
        "--outcome",
        "unchanged",
        "--note",
        "fine",
    ]);
    assert_eq!(review.status.code(), Some(0), "{}", stderr(&review));
    let out = s.run_drill(DRILL_SCRIPT);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(!stdout(&out).contains("WARNING"), "{}", stdout(&out));
}

/// A review signed with an SSH key: `review … --text` prints what to sign
/// (the outcome, note and next date included), and a signature over
/// another note is refused with nothing written.
#[test]
fn a_review_is_signed_with_an_ssh_key() {
    let s = setup();
    let (ciso, ciso_pub) = ssh_key(&s.root, "ciso");
    s.allow(&format!(
        "ciso@example.com namespaces=\"runsheet-signoff@approver\" {ciso_pub}\n"
    ));
    let args = [
        "review",
        "drill",
        "--outcome",
        "unchanged",
        "--note",
        "checked with the team",
        "--next",
        "2099-01-31",
    ];
    let text = s.cmd().args(args).arg("--text").output().unwrap();
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    assert!(
        stdout(&text)
            .contains("outcome: unchanged\nnote: checked with the team\nnext-review: 2099-01-31\n"),
        "{}",
        stdout(&text)
    );
    let signed = run_with_input(
        Command::new("ssh-keygen")
            .args(["-Y", "sign", "-n", "runsheet-signoff@approver", "-f"])
            .arg(&ciso),
        text.stdout,
    );
    assert!(signed.status.success(), "{}", stderr(&signed));
    let sig = s.root.join("review.sig");
    std::fs::write(&sig, &signed.stdout).unwrap();

    let mut other = args;
    other[5] = "another note";
    let out = s
        .cmd()
        .args(other)
        .args(["--signature", sig.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("no review was recorded"),
        "{}",
        stderr(&out)
    );
    assert!(!s.db.exists());

    let out = s
        .cmd()
        .args(args)
        .args(["--signature", sig.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = &payloads(&s.db, "procedure-reviewed")[0];
    assert_eq!(r["by"]["method"], "ssh");
    assert_eq!(r["by"]["user"], "ciso@example.com");
    assert_eq!(r["note"], "checked with the team");
}

/// The approval file cannot be written (its path is a folder): the approval
/// is recorded all the same, `approve` says so and exits non-zero, and
/// prints the file's content to save by hand; no temporary file is left.
#[test]
fn an_approval_file_that_cannot_be_written_is_said_and_the_log_keeps_the_approval() {
    let s = setup();
    s.allow_me();
    let blocker = s.procs.join("drill.toml.approval");
    std::fs::create_dir(&blocker).unwrap();
    std::fs::write(blocker.join("keep"), "x").unwrap();
    let out = s.run(&["approve", "drill"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("the approval IS recorded in the evidence log"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("procedure = \"drill\""),
        "{}",
        stdout(&out)
    );
    assert_eq!(s.approvals().len(), 1);
    let left: Vec<_> = std::fs::read_dir(&s.procs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A review's note is free text from whoever reviews: markup, a pipe that
/// would split a Markdown table, a link, a spreadsheet formula and a bidi
/// override stay inert in `history`, in the bundle's report.html and
/// report.md (the Document control table) and in evidence.json; a control
/// character is refused before anything is written.
#[test]
fn a_hostile_review_note_stays_inert_in_history_and_the_bundle_reports() {
    let s = setup();
    s.allow_me();
    assert_eq!(s.run(&["approve", "drill"]).status.code(), Some(0));
    let review = |note: &str| {
        s.run(&[
            "review",
            "drill",
            "--outcome",
            "unchanged",
            "--note",
            note,
            "--next",
            "2099-06-30",
        ])
    };
    let before = s.files();
    let out = review("fine \u{1b}[2J\u{1b}]0;pwned\u{7}");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no review was recorded"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains('\u{1b}'), "{}", stderr(&out));
    assert_eq!(s.files(), before, "a refused review changed a file");

    let note = "<script>alert(1)</script> | **bold** [x](javascript:alert(1)) =HYPERLINK(\"http://x\") \u{202e}evil";
    let out = review(note);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stdout(&out).contains('\u{202e}'), "{}", stdout(&out));

    let history = s.run(&["history", "drill"]);
    assert_eq!(history.status.code(), Some(0), "{}", stderr(&history));
    let text = stdout(&history);
    assert!(
        !text.contains('\u{202e}'),
        "bidi override reached the terminal: {text}"
    );
    assert!(
        text.contains("<script>alert(1)</script> | **bold**"),
        "{text}"
    );

    let bundle = s.export();
    let html = std::fs::read_to_string(bundle.join("report.html")).unwrap();
    let section = &html[html
        .find("<h2>Document control</h2>")
        .expect("document control")..];
    let section = &section[..section.find("</section>").unwrap()];
    assert!(!section.contains("<script"), "{section}");
    assert!(!section.contains("href"), "{section}");
    assert!(!section.contains('\u{202e}'), "{section}");
    assert!(
        section.contains("&lt;script&gt;alert(1)&lt;/script&gt; | **bold** [x](javascript:alert(1)) =HYPERLINK(&quot;http://x&quot;) \\u{202e}evil"),
        "{section}"
    );
    let md = std::fs::read_to_string(bundle.join("report.md")).unwrap();
    let row = md
        .lines()
        .find(|l| l.starts_with("| drill v") && l.contains("| reviewed |"))
        .expect("the review's row");
    // Seven cells: eight pipes that are not escaped.
    assert_eq!(
        row.matches('|').count() - row.matches("\\|").count(),
        8,
        "{row}"
    );
    assert!(
        row.contains(
            "\\<script\\>alert(1)\\</script\\> \\| \\*\\*bold\\*\\* \\[x\\](javascript:alert(1))"
        ),
        "{row}"
    );
    assert!(!row.contains('\u{202e}'), "{row}");
    assert_evidence_validates(&s.db);
    let reviews = payloads(&s.db, "procedure-reviewed");
    assert_eq!(reviews.len(), 1, "the refused review was recorded");
    assert_eq!(reviews[0]["note"], note);
}
