//! Sample packets through the binary: `export --run` with a witness's
//! cosignature, checked offline by `verify-bundle --key --witness` and by the
//! openssl + Python recipe in docs/audit-bundle.md (the script taken from the
//! page itself), on the packet as written and on copies with any byte
//! changed, a proof removed, or the wrong keys.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{bin, drill_run, repo, runsheet, stderr, stdout};
use crate::forge::edit_manifest;
use crate::witness::witness_cmd as witness;

/// The ```python block of docs/audit-bundle.md's openssl + Python recipe.
fn recipe() -> String {
    let page = std::fs::read_to_string(repo().join("docs/audit-bundle.md")).unwrap();
    let at = page
        .find("### Checking a packet without runsheet")
        .expect("the recipe's heading");
    let rest = &page[at..];
    let start = rest.find("```python\n").expect("a python block") + "```python\n".len();
    let end = rest[start..].find("\n```").expect("its end");
    rest[start..start + end + 1].to_string()
}

struct Packet {
    dir: tempfile::TempDir,
    packet: PathBuf,
    log_key: String,
    witness_key: String,
    script: PathBuf,
    sampled: String,
}

fn key_of(out: &Output) -> String {
    assert!(out.status.success(), "{}", stderr(out));
    stdout(out).trim().to_string()
}

/// Three drill runs; a witness; a packet of the middle run, cosigned.
fn packet() -> Packet {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    for _ in 0..3 {
        drill_run(&db);
    }
    let log_key = key_of(&runsheet(&db).arg("key").output().unwrap());
    let state = dir.path().join("witness.sqlite3");
    let witness_key = key_of(
        &witness(&state)
            .args(["init", "--name", "sec.example/witness"])
            .output()
            .unwrap(),
    );
    let origin = log_key.split('+').next().unwrap().to_string();
    let out = witness(&state)
        .args(["add-log", "--origin", &origin, "--vkey", &log_key])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let runs: serde_json::Value = serde_json::from_slice(
        &runsheet(&db)
            .args(["--json", "runs"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let sampled = runs["runs"][1]["id"].as_str().unwrap().to_string();
    let packet = dir.path().join("packet");
    let via = format!(
        "'{}' witness --state '{}' cosign -",
        bin().display(),
        state.display()
    );
    let out = runsheet(&db)
        .args(["export", "--run", &sampled[..13], "--out"])
        .arg(&packet)
        .args(["--witness", &witness_key, "--witness-via", &via])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let script = dir.path().join("verify_packet.py");
    std::fs::write(&script, recipe()).unwrap();
    Packet {
        dir,
        packet,
        log_key,
        witness_key,
        script,
        sampled,
    }
}

fn verify_bundle(dir: &Path, key: &str, witness: Option<&str>) -> Output {
    let mut c = Command::new(bin());
    c.env_remove("RUNSHEET_DB")
        .arg("verify-bundle")
        .arg(dir)
        .args(["--key", key]);
    if let Some(w) = witness {
        c.args(["--witness", w]);
    }
    c.output().unwrap()
}

fn python(p: &Packet, dir: &Path, keys: &[&str]) -> Output {
    Command::new("python3")
        .arg(&p.script)
        .arg(dir)
        .args(keys)
        .output()
        .expect("python3 runs (installed by .ci/run)")
}

fn copy_dir(from: &Path, to: &Path) {
    crate::forge::copy_dir(from, to);
}

/// Every file of the packet, relative paths.
fn files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn a_sample_packet_verifies_offline_with_runsheet_and_with_openssl_and_python() {
    let p = packet();
    let names = files(&p.packet);
    for must in [
        "checkpoint",
        "export.tlog-proof",
        "manifest.sig",
        "manifest.json",
        "evidence.json",
    ] {
        assert!(names.iter().any(|n| n == must), "{must} in {names:?}");
    }
    let proofs = names.iter().filter(|n| n.starts_with("proofs/")).count();
    assert!(
        proofs >= 5,
        "one proof per event of the sampled run: {names:?}"
    );

    let out = verify_bundle(&p.packet, &p.log_key, Some(&p.witness_key));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    for says in [
        "verifies with the key you gave",
        "cosigned by the witness",
        "export.tlog-proof",
        "manifest.sig",
        &format!("{proofs} events of 1 sampled runs"),
    ] {
        assert!(text.contains(says), "{says}: {text}");
    }
    let out = python(&p, &p.packet, &[&p.log_key, &p.witness_key]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("OK: the packet verifies"));
    assert!(stdout(&out).contains(&p.sampled), "{}", stdout(&out));

    // The wrong keys: the witness's as the log's, the log's as a witness's,
    // and a witness that never cosigned.
    let out = verify_bundle(&p.packet, &p.witness_key, None);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let out = python(&p, &p.packet, &[&p.witness_key]);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    // Checked against another log, it says so rather than listing differences.
    let other_log = p.dir.path().join("other-log.sqlite3");
    drill_run(&other_log);
    let out = Command::new(bin())
        .env_remove("RUNSHEET_DB")
        .arg("--db")
        .arg(&other_log)
        .arg("verify-bundle")
        .arg(&p.packet)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("the bundle is of the log"),
        "{}",
        stdout(&out)
    );

    // The log's key passed as a witness's is refused as such.
    let out = verify_bundle(&p.packet, &p.log_key, Some(&p.log_key));
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("not a witness's cosigner key"),
        "{}",
        stderr(&out)
    );
    let other = p.dir.path().join("other.sqlite3");
    let other_witness = key_of(
        &witness(&other)
            .args(["init", "--name", "other/witness"])
            .output()
            .unwrap(),
    );
    let out = verify_bundle(&p.packet, &p.log_key, Some(&other_witness));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("unwitnessed"), "{}", stdout(&out));
    let out = python(&p, &p.packet, &[&p.log_key, &other_witness]);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn a_sample_packet_fails_when_any_byte_changes_or_a_proof_goes() {
    let p = packet();
    let mut tried = 0;
    for name in files(&p.packet) {
        let len = std::fs::metadata(p.packet.join(&name)).unwrap().len() as usize;
        let mut at: Vec<usize> = vec![0, len / 3, len / 2, len.saturating_sub(2)];
        at.dedup();
        for i in at {
            let copy = p.dir.path().join(format!("t{tried}"));
            copy_dir(&p.packet, &copy);
            let path = copy.join(&name);
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[i] ^= 0x01;
            std::fs::write(&path, &bytes).unwrap();
            let out = verify_bundle(&copy, &p.log_key, Some(&p.witness_key));
            assert_eq!(
                out.status.code(),
                Some(1),
                "{name} byte {i} changed, verify-bundle: {}",
                stdout(&out)
            );
            // The recipe (slower: openssl per signature) on one byte a file.
            if i == len / 2 {
                let out = python(&p, &copy, &[&p.log_key, &p.witness_key]);
                assert_ne!(
                    out.status.code(),
                    Some(0),
                    "{name} byte {i} changed, the recipe: {}",
                    stdout(&out)
                );
            }
            std::fs::remove_dir_all(&copy).unwrap();
            tried += 1;
        }
    }
    assert!(tried >= 40, "{tried}");

    // A proof removed, and the manifest resealed to match without the key:
    // the manifest's signature no longer holds.
    let copy = p.dir.path().join("gone");
    copy_dir(&p.packet, &copy);
    let victim = files(&copy)
        .into_iter()
        .find(|n| n.starts_with("proofs/"))
        .unwrap();
    std::fs::remove_file(copy.join(&victim)).unwrap();
    let out = verify_bundle(&copy, &p.log_key, None);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("missing"), "{}", stdout(&out));
    let manifest = copy.join("manifest.json");
    edit_manifest(&manifest, |m| {
        m["files"]
            .as_array_mut()
            .unwrap()
            .retain(|f| f["path"] != victim.as_str());
    });
    let out = verify_bundle(&copy, &p.log_key, None);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("FAILED: manifest.sig") && text.contains("not all proved"),
        "{text}"
    );
    let out = python(&p, &copy, &[&p.log_key]);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));

    // The key holder re-signs the resealed manifest too: the signatures
    // hold, and both verifiers still see the sampled run is not all proved.
    let signer =
        runsheet::custody::key::load_signer(&p.dir.path().join("log.sqlite3.key")).unwrap();
    let sha = runsheet::store::sha256_hex(&std::fs::read(&manifest).unwrap());
    let text = format!("runsheet-bundle-manifest/v1\n{}\n{sha}\n", signer.name());
    let line = signer.sign(&text).unwrap();
    std::fs::write(copy.join("manifest.sig"), format!("{text}\n{line}")).unwrap();
    let out = verify_bundle(&copy, &p.log_key, None);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("OK: manifest.sig") && text.contains("not all proved"),
        "{text}"
    );
    let out = python(&p, &copy, &[&p.log_key]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("not every event is proved"),
        "{}",
        stdout(&out)
    );

    // The signed part stripped and the manifest made to say "not signed":
    // refused even without --key, since a recorded, verified export is
    // always signed.
    let bare = p.dir.path().join("bare");
    copy_dir(&p.packet, &bare);
    for f in ["manifest.sig", "checkpoint", "export.tlog-proof"] {
        std::fs::remove_file(bare.join(f)).unwrap();
    }
    std::fs::remove_dir_all(bare.join("proofs")).unwrap();
    edit_manifest(&bare.join("manifest.json"), |m| {
        m["files"].as_array_mut().unwrap().retain(|f| {
            let path = f["path"].as_str().unwrap();
            path != "checkpoint" && path != "export.tlog-proof" && !path.starts_with("proofs/")
        });
        m["custody"] = serde_json::json!({"signed": false, "why": "trust me"});
    });
    let out = Command::new(bin())
        .env_remove("RUNSHEET_DB")
        .arg("verify-bundle")
        .arg(&bare)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("the signed part was removed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_witness_that_refuses_or_fails_stops_the_export_and_leaves_no_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    drill_run(&db);
    let state = dir.path().join("witness.sqlite3");
    let witness_key = key_of(
        &witness(&state)
            .args(["init", "--name", "sec.example/witness"])
            .output()
            .unwrap(),
    );
    let exports = || -> i64 {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row(
                "SELECT count(*) FROM events WHERE kind = 'export'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    // `cosign --via` a witness that answers a malformed line: exit 1, nothing stored.
    let out = runsheet(&db)
        .args([
            "cosign",
            "--witness",
            &witness_key,
            "--via",
            "echo '\u{2014} sec.example/witness AAAA'",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the witness's answer cannot be stored"),
        "{}",
        stderr(&out)
    );
    // A witness that answers "fork" (exit 8), and one that fails (exit 1).
    for (via, says) in [
        ("echo 'a fork' >&2; exit 8", "FORK"),
        ("echo 'down' >&2; exit 1", "exited 1"),
    ] {
        let before = exports();
        let out_dir = dir.path().join("bundle");
        let out = runsheet(&db)
            .args(["export", "--out"])
            .arg(&out_dir)
            .args(["--witness", &witness_key, "--witness-via", via])
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(0), "{via}: {}", stdout(&out));
        assert!(stderr(&out).contains(says), "{via}: {}", stderr(&out));
        assert!(!out_dir.exists(), "{via}: no bundle is left");
        // The export stays recorded (the log is append-only), and says so.
        assert_eq!(exports(), before + 1, "{via}");
        assert!(
            stderr(&out).contains("nothing was left at the target"),
            "{via}: {}",
            stderr(&out)
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("bundle"))
            .collect();
        assert!(leftovers.is_empty(), "{via}: {leftovers:?}");
    }
}
