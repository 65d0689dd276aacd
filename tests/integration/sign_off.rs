//! Second-person sign-off (issue "Safe runs", four-eyes): with an SSH key
//! at the operator's screen or from a second session, and from the second
//! person's own login, into a run that waits for it — suspended, or driven
//! live by the operator's session, which shows it arrive.

use std::path::Path;

use rusqlite::Connection;

use crate::common::{
    Live, assert_evidence_validates, isolated, payloads, plain_run, printed_run_id, run_with_input,
    runsheet, stderr, stdout,
};

/// The new-hire procedure's plain-mode answers up to its team lead's
/// sign-off step (then the input ends and the run is suspended).
pub(crate) const TO_SIGN_OFF: &str = "\nHR-1203\nr\ny\n\n\nana.lopez\n\nengineering\n\ny\n\nLT-0042\n\ndelivered today\ne\nHR-ACK-77\n\n";

/// A run of the new-hire procedure suspended at its sign-off step: its id.
pub(crate) fn at_sign_off(db: &Path) -> String {
    let out = plain_run(db, "onboarding-new-hire", TO_SIGN_OFF);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(10), "{text}");
    assert!(text.contains("Waiting for the sign-off"), "{text}");
    printed_run_id(&text).expect("run id")
}

/// `runsheet sign-off RUN` as OS user `user` (uid `uid`) reached through
/// sudo, as in the deployment of docs/custody.md: runsheet runs as the
/// log's owner, sudo names the user it runs it for in SUDO_USER and
/// SUDO_UID, and is runsheet's parent, running as root. The stand-in for
/// sudo is a shell called `sudo` run by the tests' root user (only root,
/// or sudo itself, can be such a parent).
pub(crate) fn sign_off_as(db: &Path, user: &str, uid: u32, args: &[&str]) -> std::process::Output {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    assert!(
        status.lines().any(|l| l.starts_with("Uid:\t0\t0")),
        "these tests stand in for sudo with a root process named sudo: run them as root, as .ci/run does"
    );
    let sudo = db.with_file_name("sudo");
    if !sudo.exists() {
        std::os::unix::fs::symlink("/bin/sh", &sudo).unwrap();
    }
    let mut inner = runsheet(db);
    inner.arg("sign-off").args(args);
    let mut cmd = std::process::Command::new(&sudo);
    // Not `exec`: runsheet stays the child of the process called sudo.
    cmd.arg("-c")
        .arg("\"$0\" \"$@\"; exit $?")
        .arg(inner.get_program())
        .args(inner.get_args());
    isolated(&mut cmd)
        .env("SUDO_USER", user)
        .env("SUDO_UID", uid.to_string())
        .output()
        .unwrap()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The actor of the run's one `signed-off` event.
fn sign_off_actor(db: &Path) -> String {
    Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT actor FROM events WHERE kind = 'signed-off'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

/// An SSH key made by ssh-keygen in `dir` for `name` (no passphrase): the
/// private key's path and the public key's `type base64` part.
pub(crate) fn ssh_key(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    let key = dir.join(name);
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen (OpenSSH's client tools) is installed");
    assert!(out.status.success(), "{}", stderr(&out));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let public = public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    (key, public)
}

/// `runsheet sign-off-text RUN` piped to `ssh-keygen -Y sign` with `key`
/// in `namespace`: the signature file's path.
fn sign(db: &Path, run: &str, key: &Path, namespace: &str, out: &Path) -> std::path::PathBuf {
    let text = runsheet(db).args(["sign-off-text", run]).output().unwrap();
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    let signed = run_with_input(
        std::process::Command::new("ssh-keygen")
            .args(["-Y", "sign", "-n", namespace, "-f"])
            .arg(key),
        text.stdout,
    );
    assert!(signed.status.success(), "{}", stderr(&signed));
    std::fs::write(out, &signed.stdout).unwrap();
    out.to_path_buf()
}

/// The new-hire procedure completes with its team lead's sign-off signed by
/// the lead's SSH key (made here by ssh-keygen) and checked against an
/// allowed-signers file that lets that key sign for the team-lead role
/// only. Before that, on the same step: a typed name is refused (the step
/// does not allow one), the operator's own key is refused and the refusal
/// recorded, and a signature in another role's namespace does not do. The signer is the event's actor; `show` says
/// how it was signed.
#[test]
fn a_sign_off_is_signed_by_a_second_persons_ssh_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("log.sqlite3");
    let (lead, lead_pub) = ssh_key(d, "lead");
    let (own, own_pub) = ssh_key(d, "own");
    let allowed = d.join("allowed_signers");
    // The operator's own key is allowed to sign for the role too: what
    // refuses it is that it is theirs (its principal names the operator).
    let operator = whoami_user();
    std::fs::write(
        &allowed,
        format!(
            "lead@example.com namespaces=\"runsheet-signoff@team-lead\" {lead_pub}\n{operator}@example.com {own_pub}\n"
        ),
    )
    .unwrap();
    let out = plain_run(
        &db,
        "onboarding-new-hire",
        "\nHR-1203\nr\ny\n\n\nana.lopez\n\nengineering\n\ny\n\nLT-0042\n\ndelivered today\ne\nHR-ACK-77\n\n",
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(10), "{text}");
    assert!(
        text.contains("[ ] sign-off by a second person (o)"),
        "{text}"
    );
    let id = printed_run_id(&text).expect("run id");

    let wrong_role = sign(
        &db,
        &id,
        &lead,
        "runsheet-signoff@it-admin",
        &d.join("role.sig"),
    );
    let mine = sign(
        &db,
        &id,
        &own,
        "runsheet-signoff@team-lead",
        &d.join("own.sig"),
    );
    let good = sign(
        &db,
        &id,
        &lead,
        "runsheet-signoff@team-lead",
        &d.join("lead.sig"),
    );
    // The lead's key over another attempt's text (a replayed signature
    // from an earlier try of the step), the good signature with one byte
    // changed, and a file that is no signature at all.
    let text = stdout(&runsheet(&db).args(["sign-off-text", &id]).output().unwrap());
    assert!(text.contains("\nattempt: 1\n"), "{text}");
    let other_attempt = run_with_input(
        std::process::Command::new("ssh-keygen")
            .args(["-Y", "sign", "-n", "runsheet-signoff@team-lead", "-f"])
            .arg(&lead),
        text.replace("\nattempt: 1\n", "\nattempt: 2\n"),
    );
    assert!(other_attempt.status.success(), "{}", stderr(&other_attempt));
    let replayed = d.join("attempt2.sig");
    std::fs::write(&replayed, &other_attempt.stdout).unwrap();
    let mut forged_text = std::fs::read_to_string(&good).unwrap();
    let at = forged_text.len() / 2;
    let flipped = if forged_text.as_bytes()[at] == b'A' {
        "B"
    } else {
        "A"
    };
    forged_text.replace_range(at..=at, flipped);
    let forged = d.join("forged.sig");
    std::fs::write(&forged, forged_text).unwrap();
    let not_sig = d.join("notes.txt");
    std::fs::write(&not_sig, "I, the lead, approve.\n").unwrap();
    let script = format!(
        "o\nLead Person\no\n{}\no\n{}\no\n{}\no\n{}\no\n{}\no\n{}\n\n",
        wrong_role.display(),
        replayed.display(),
        forged.display(),
        not_sig.display(),
        mine.display(),
        good.display()
    );
    let out = run_with_input(
        runsheet(&db)
            .args(["resume", "--plain", "--allowed-signers"])
            .arg(&allowed)
            .arg(&id),
        script,
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains("✘ this step needs the second person's SSH signature, not a typed name"),
        "{text}"
    );
    assert!(
        text.contains(
            "does not sign this step's sign-off text in namespace runsheet-signoff@team-lead"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "✔ recorded: sign-off by {operator}@example.com refused: the operator cannot sign off their own step"
        )),
        "{text}"
    );
    assert!(
        text.contains("signed off by lead@example.com — SSH signature"),
        "{text}"
    );
    assert!(text.contains("ended: COMPLETED"), "{text}");
    let conn = Connection::open(&db).unwrap();
    let (actor, payload): (String, String) = conn
        .query_row(
            "SELECT actor, payload FROM events WHERE kind = 'signed-off'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(actor, "lead@example.com");
    let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["method"], "ssh");
    assert_eq!(payload["ssh"]["namespace"], "runsheet-signoff@team-lead");
    assert!(
        payload["ssh"]["key"]
            .as_str()
            .unwrap()
            .starts_with("SHA256:")
    );
    // The recorded signature checks again with ssh-keygen alone.
    std::fs::write(
        d.join("again.sig"),
        payload["ssh"]["signature"].as_str().unwrap(),
    )
    .unwrap();
    let again = run_with_input(
        std::process::Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f"])
            .arg(&allowed)
            .args([
                "-I",
                "lead@example.com",
                "-n",
                "runsheet-signoff@team-lead",
                "-s",
            ])
            .arg(d.join("again.sig")),
        payload["ssh"]["message"].as_str().unwrap(),
    );
    assert!(again.status.success(), "{}", stderr(&again));
    let refused = payloads(&db, "sign-off-refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["by"], format!("{operator}@example.com"));
    let shown = stdout(&runsheet(&db).args(["show", &id]).output().unwrap());
    assert!(
        shown.contains(
            "Signed off by lead@example.com (second person, SSH signature by key SHA256:"
        ) && shown.contains("REFUSED: the operator cannot sign off their own step"),
        "{shown}"
    );
    let verify = runsheet(&db).arg("verify").output().unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
    // A signature over this run's text does not sign off another attempt
    // or run: sign-off-text of an ended run is refused.
    let late = runsheet(&db).args(["sign-off-text", &id]).output().unwrap();
    assert_eq!(late.status.code(), Some(3), "{}", stderr(&late));
    // Its events validate against the evidence schema.
    assert_evidence_validates(&db);
}

/// The OS user the tests run as (what runsheet records as the operator).
pub(crate) fn whoami_user() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A run waits, suspended, at the new-hire procedure's team-lead sign-off.
/// From their own logins: the operator is refused (and the refusal
/// recorded), carol is refused because the allowed-signers file gives her
/// another role (recorded too), and bob, whom it makes a team lead, signs
/// off; a second sign-off of the step is refused. The sign-off is bob's
/// act (its actor) and names his OS user, uid and how runsheet knew it;
/// the operator resumes and completes the run; `show` and verify agree.
#[test]
fn a_second_person_signs_off_from_their_own_login_into_a_suspended_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("log.sqlite3");
    let id = at_sign_off(&db);
    let (_, bob_pub) = ssh_key(d, "bob");
    let (_, carol_pub) = ssh_key(d, "carol");
    let allowed = d.join("allowed_signers");
    std::fs::write(
        &allowed,
        format!(
            "bob namespaces=\"runsheet-signoff@team-lead\" {bob_pub}\ncarol namespaces=\"runsheet-signoff@it-admin\" {carol_pub}\n"
        ),
    )
    .unwrap();
    let with_file = ["--allowed-signers", allowed.to_str().unwrap()];
    let args = |extra: &[&str]| -> Vec<String> {
        std::iter::once(id.as_str())
            .chain(with_file)
            .chain(extra.iter().copied())
            .map(String::from)
            .collect()
    };

    // The operator, from their own login (no sudo): refused, recorded.
    let own = runsheet(&db)
        .arg("sign-off")
        .args(strs(&args(&[])))
        .output()
        .unwrap();
    assert_eq!(own.status.code(), Some(3), "{}", stdout(&own));
    assert!(
        stderr(&own)
            .contains("the operator cannot sign off their own step (the refusal is recorded)"),
        "{}",
        stderr(&own)
    );
    let carol = sign_off_as(&db, "carol", 1002, &strs(&args(&[])));
    assert_eq!(carol.status.code(), Some(3), "{}", stdout(&carol));
    assert!(
        stderr(&carol)
            .contains("gives carol no line allowing namespace runsheet-signoff@team-lead")
            && stderr(&carol).contains("(the refusal is recorded)"),
        "{}",
        stderr(&carol)
    );
    // A step that needs no sign-off.
    let other = sign_off_as(
        &db,
        "bob",
        1001,
        &strs(&args(&["--step", "security-induction"])),
    );
    assert_eq!(other.status.code(), Some(3));
    assert!(
        stderr(&other).contains("needs no sign-off"),
        "{}",
        stderr(&other)
    );

    let bob = sign_off_as(&db, "bob", 1001, &strs(&args(&[])));
    assert_eq!(bob.status.code(), Some(0), "{}", stderr(&bob));
    assert!(
        stdout(&bob).contains("Signed off “Team lead confirms the access” of run ")
            && stdout(&bob).contains("as bob (their own login: OS user bob (uid 1001, via sudo)"),
        "{}",
        stdout(&bob)
    );
    let again = sign_off_as(&db, "bob", 1001, &strs(&args(&[])));
    assert_eq!(again.status.code(), Some(3));
    assert!(
        stderr(&again).contains("already signed off"),
        "{}",
        stderr(&again)
    );

    let signed = payloads(&db, "signed-off");
    assert_eq!(signed.len(), 1, "{signed:?}");
    assert_eq!(signed[0]["method"], "login");
    assert_eq!(signed[0]["by"], "bob");
    assert_eq!(signed[0]["login"]["user"], "bob");
    assert_eq!(signed[0]["login"]["uid"], 1001);
    assert_eq!(signed[0]["login"]["via"], "sudo");
    assert_eq!(signed[0]["login"]["role_from"], allowed.to_str().unwrap());
    assert_eq!(sign_off_actor(&db), "bob");
    let refused = payloads(&db, "sign-off-refused");
    let by: Vec<&str> = refused.iter().filter_map(|r| r["by"].as_str()).collect();
    assert_eq!(by, [whoami_user().as_str(), "carol"], "{refused:?}");

    // The operator takes the run up: the step shows signed, and completes.
    let out = run_with_input(runsheet(&db).args(["resume", "--plain", &id]), "\n");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains("[x] sign-off by a second person (o): New hire's team lead"),
        "{text}"
    );
    assert!(text.contains("ended: COMPLETED"), "{text}");
    let shown = stdout(&runsheet(&db).args(["show", &id]).output().unwrap());
    assert!(
        shown.contains("Signed off by bob (second person, their own login: OS user bob (uid 1001, via sudo) on ")
            && shown.contains(&format!("role checked in {}", allowed.display())),
        "{shown}"
    );
    assert!(
        shown.contains("Sign-off by carol REFUSED: ")
            && shown.contains("no line allowing namespace"),
        "{shown}"
    );
    let verify = runsheet(&db).arg("verify").output().unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
    // An ended run takes no sign-off.
    let late = sign_off_as(&db, "bob", 1001, &strs(&args(&[])));
    assert_eq!(late.status.code(), Some(3));
    assert!(stderr(&late).contains("already ended"), "{}", stderr(&late));
    // Its events validate against the evidence schema.
    assert_evidence_validates(&db);
}

/// The operator's session waits at the sign-off step; bob signs off from
/// his own login while it runs. An empty line shows the sign-off arrived
/// (with no allowed-signers file the role is not checked, and the log
/// says so); Enter then completes the run.
#[test]
fn the_operator_sees_a_sign_off_arrive_from_another_session() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let id = at_sign_off(&db);
    let mut live = Live::spawn(runsheet(&db).args(["resume", "--plain", &id]));
    live.wait_for("Waiting for the sign-off", 1);
    live.wait_for("]> ", 1);
    let bob = sign_off_as(&db, "bob", 1001, &[&id]);
    assert_eq!(bob.status.code(), Some(0), "{}", stderr(&bob));
    live.send("\n");
    live.wait_for("✓ Signed off by bob at ", 1);
    assert!(
        live.text().contains(" from their own login (uid 1001)."),
        "{}",
        live.text()
    );
    live.send("\n");
    live.wait_for("ended: COMPLETED", 1);
    let (code, text, err) = live.finish();
    assert_eq!(code, Some(0), "{text}{err}");
    let signed = payloads(&db, "signed-off");
    assert_eq!(signed.len(), 1);
    assert!(signed[0]["login"].get("role_from").is_none(), "{signed:?}");
    let shown = stdout(&runsheet(&db).args(["show", &id]).output().unwrap());
    assert!(
        shown.contains("role not checked: there is no allowed-signers file"),
        "{shown}"
    );
}

/// The operator's session has not read the log since bob signed off, and
/// records a note: its write is refused on top of an event it has not
/// seen, so it reads the sign-off, decides the note again after it, and
/// records it. The run's events stay in order, the sign-off is shown, and
/// the log verifies.
#[test]
fn an_action_on_a_run_another_session_wrote_to_is_decided_again_on_top_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let id = at_sign_off(&db);
    let mut live = Live::spawn(runsheet(&db).args(["resume", "--plain", &id]));
    live.wait_for("]> ", 1);
    let bob = sign_off_as(&db, "bob", 1001, &[&id]);
    assert_eq!(bob.status.code(), Some(0), "{}", stderr(&bob));
    live.send("a\nlead checked the groups on screen\n");
    live.wait_for("✔ recorded: note: lead checked the groups on screen", 1);
    live.wait_for("✓ Signed off by bob at ", 1);
    live.send("\n");
    live.wait_for("ended: COMPLETED", 1);
    let (code, text, err) = live.finish();
    assert_eq!(code, Some(0), "{text}{err}");
    // Its own note is not read back as another session's.
    assert!(!text.contains("Another session recorded"), "{text}");
    assert_eq!(text.matches("✓ ").count(), 1, "{text}");
    let conn = Connection::open(&db).unwrap();
    let kinds: Vec<(i64, String)> = conn
        .prepare(
            "SELECT e.run_seq, e.kind FROM events e WHERE e.run_id LIKE ?1 || '%' ORDER BY e.seq",
        )
        .unwrap()
        .query_map([&id], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let tail: Vec<&str> = kinds[kinds.len() - 4..]
        .iter()
        .map(|(_, k)| k.as_str())
        .collect();
    assert_eq!(
        tail,
        ["signed-off", "note-added", "step-confirmed", "run-ended"],
        "{kinds:?}"
    );
    assert!(
        kinds.windows(2).all(|w| w[1].0 == w[0].0 + 1),
        "run_seq has a gap: {kinds:?}"
    );
    let verify = runsheet(&db).arg("verify").output().unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
}

/// A second session hands in an SSH signature file (`sign-off
/// --signature`): checked against the allowed signers as at the
/// operator's screen; the signer is the actor. A file that is no
/// signature is refused and nothing is recorded.
#[test]
fn a_second_session_signs_off_with_an_ssh_signature_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("log.sqlite3");
    let id = at_sign_off(&db);
    let (lead, lead_pub) = ssh_key(d, "lead");
    let allowed = d.join("allowed_signers");
    std::fs::write(
        &allowed,
        format!("lead@example.com namespaces=\"runsheet-signoff@team-lead\" {lead_pub}\n"),
    )
    .unwrap();
    let not_sig = d.join("notes.txt");
    std::fs::write(&not_sig, "approved\n").unwrap();
    let bad = runsheet(&db)
        .args(["sign-off", &id, "--allowed-signers"])
        .arg(&allowed)
        .arg("--signature")
        .arg(&not_sig)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(3));
    assert!(
        stderr(&bad).contains("is not an SSH signature file"),
        "{}",
        stderr(&bad)
    );
    assert!(payloads(&db, "signed-off").is_empty());
    let sig = sign(
        &db,
        &id,
        &lead,
        "runsheet-signoff@team-lead",
        &d.join("lead.sig"),
    );
    let good = runsheet(&db)
        .args(["sign-off", &id, "--allowed-signers"])
        .arg(&allowed)
        .arg("--signature")
        .arg(&sig)
        .output()
        .unwrap();
    assert_eq!(good.status.code(), Some(0), "{}", stderr(&good));
    assert!(
        stdout(&good).contains("as lead@example.com (SSH signature by key SHA256:"),
        "{}",
        stdout(&good)
    );
    assert_eq!(sign_off_actor(&db), "lead@example.com");
    assert_eq!(payloads(&db, "signed-off")[0]["method"], "ssh");
}

/// sudo's variables set by hand, without sudo as runsheet's parent, name
/// nobody: the operator who sets SUDO_USER=bob to sign their own step off
/// is their own OS user, refused and recorded as such.
#[test]
fn sudo_variables_without_sudo_do_not_make_a_second_person() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let id = at_sign_off(&db);
    let forged = runsheet(&db)
        .args(["sign-off", &id])
        .env("SUDO_USER", "bob")
        .env("SUDO_UID", "1001")
        .output()
        .unwrap();
    assert_eq!(forged.status.code(), Some(3), "{}", stdout(&forged));
    assert!(
        stderr(&forged).contains("the operator cannot sign off their own step"),
        "{}",
        stderr(&forged)
    );
    assert!(payloads(&db, "signed-off").is_empty());
    let refused = payloads(&db, "sign-off-refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["by"], whoami_user());
}
