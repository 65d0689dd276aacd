//! Unit tests of the witness state: tlog-witness's add-checkpoint rules, the
//! state file's migrations and triggers, and its identity.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::state::{APPLICATION_ID, STATE_VERSION};
use super::{CosignOutcome, WitnessError, WitnessState};
use crate::custody::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::custody::cosign::{self, Cosigner};
use crate::custody::merkle::{self, MemoryTree};
use crate::custody::note::Signer;
use crate::custody::proof_text::AddCheckpoint;

const ORIGIN: &str = "runsheet/test/log";
const NOW: u64 = 1_800_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    key: PathBuf,
    state: WitnessState,
    cosigner: Cosigner,
}

/// The log's key.
fn log() -> Signer {
    Signer::from_seed(ORIGIN, &[7; 32]).unwrap()
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w").join("witness.sqlite3");
    let key = dir.path().join("w").join("witness.key");
    let (mut state, vkey) = WitnessState::init(&path, &key, "test.example/w").unwrap();
    let cosigner = state.cosigner(&key).unwrap();
    assert_eq!(cosigner.verifier().to_vkey(), vkey);
    assert!(state.add_log(ORIGIN, &log().verifier()).unwrap());
    Fixture {
        _dir: dir,
        path,
        key,
        state,
        cosigner,
    }
}

/// A tree of `n` leaves; `salt` makes a different tree of the same size.
fn tree(n: u64, salt: u8) -> MemoryTree {
    (0..n)
        .map(|i| {
            let mut input = i.to_be_bytes().to_vec();
            if i >= 2 {
                input.push(salt);
            }
            merkle::leaf_hash(&input)
        })
        .collect()
}

fn note(log: &Signer, t: &MemoryTree) -> String {
    let cp = Checkpoint::new(log.name(), t.size(), t.root()).unwrap();
    SignedCheckpoint::sign(cp, log).unwrap().format()
}

/// The add-checkpoint body from `old` to the whole of `t`, signed by `log`.
fn body(log: &Signer, t: &MemoryTree, old: u64) -> String {
    let proof = merkle::consistency_proof(t, old, t.size()).unwrap();
    AddCheckpoint {
        old_size: old,
        proof,
        checkpoint: note(log, t),
    }
    .format()
}

fn cosign(f: &mut Fixture, body: &str) -> Result<CosignOutcome, WitnessError> {
    f.state.cosign(&f.cosigner, body, NOW)
}

fn cosigned_size(f: &Fixture) -> u64 {
    f.state.status().unwrap()[0].size
}

#[test]
fn a_new_log_is_cosigned_from_zero_and_the_line_verifies() {
    let mut f = fixture();
    let t = tree(5, 0);
    let out = cosign(&mut f, &body(&log(), &t, 0)).unwrap();
    let CosignOutcome::Cosigned {
        lines, size, again, ..
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!((size, again), (5, false));
    let text = Checkpoint::new(ORIGIN, 5, t.root()).unwrap().text();
    let at = cosign::verify_cosignature(&f.cosigner.verifier(), &text, &lines).unwrap();
    assert_eq!(at, NOW);
    assert_eq!(cosigned_size(&f), 5);
}

#[test]
fn an_old_size_other_than_the_witnesses_is_a_conflict_naming_its_size() {
    let mut f = fixture();
    cosign(&mut f, &body(&log(), &tree(5, 0), 0)).unwrap();
    let out = cosign(&mut f, &body(&log(), &tree(9, 0), 3)).unwrap();
    assert!(
        matches!(
            out,
            CosignOutcome::Conflict {
                sent: 3,
                size: 5,
                ..
            }
        ),
        "{out:?}"
    );
    // A conflict changes nothing.
    assert_eq!(cosigned_size(&f), 5);
    assert!(f.state.forks().unwrap().is_empty());
}

#[test]
fn a_consistent_extension_advances_the_state() {
    let mut f = fixture();
    cosign(&mut f, &body(&log(), &tree(5, 0), 0)).unwrap();
    let out = cosign(&mut f, &body(&log(), &tree(12, 0), 5)).unwrap();
    assert!(matches!(
        out,
        CosignOutcome::Cosigned {
            size: 12,
            again: false,
            ..
        }
    ));
    assert_eq!(cosigned_size(&f), 12);
}

#[test]
fn the_same_checkpoint_again_returns_the_same_cosignature() {
    let mut f = fixture();
    let t = tree(5, 0);
    let CosignOutcome::Cosigned { lines: first, .. } =
        cosign(&mut f, &body(&log(), &t, 0)).unwrap()
    else {
        panic!()
    };
    let out = f
        .state
        .cosign(&f.cosigner, &body(&log(), &t, 5), NOW + 60)
        .unwrap();
    assert_eq!(
        out,
        CosignOutcome::Cosigned {
            origin: ORIGIN.into(),
            size: 5,
            lines: first,
            again: true
        }
    );
}

#[test]
fn the_same_size_with_another_root_is_a_fork_kept_as_evidence() {
    let mut f = fixture();
    cosign(&mut f, &body(&log(), &tree(5, 0), 0)).unwrap();
    let forged = body(&log(), &tree(5, 1), 5);
    let out = cosign(&mut f, &forged).unwrap();
    assert!(
        matches!(
            out,
            CosignOutcome::Fork {
                state_size: 5,
                new_size: 5,
                ..
            }
        ),
        "{out:?}"
    );
    let forks = f.state.forks().unwrap();
    assert_eq!(forks.len(), 1);
    assert_eq!(forks[0].request, forged);
    assert_eq!(forks[0].state_root, base64_root(&tree(5, 0)));
    assert_eq!(forks[0].new_root, base64_root(&tree(5, 1)));
    assert_eq!(f.state.status().unwrap()[0].forks, 1);
    // The state stays where it was; the honest log can still go on.
    assert_eq!(cosigned_size(&f), 5);
    let out = cosign(&mut f, &body(&log(), &tree(8, 0), 5)).unwrap();
    assert!(matches!(out, CosignOutcome::Cosigned { size: 8, .. }));
}

#[test]
fn a_larger_tree_that_does_not_extend_the_cosigned_one_is_a_fork() {
    let mut f = fixture();
    cosign(&mut f, &body(&log(), &tree(5, 0), 0)).unwrap();
    // A proof from 5 in the rewritten tree: valid there, not against the
    // root the witness holds.
    let out = cosign(&mut f, &body(&log(), &tree(9, 1), 5)).unwrap();
    assert!(
        matches!(
            out,
            CosignOutcome::Fork {
                state_size: 5,
                new_size: 9,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(f.state.forks().unwrap().len(), 1);
    assert_eq!(cosigned_size(&f), 5);
}

#[test]
fn a_checkpoint_not_signed_by_the_logs_key_is_refused_and_not_kept() {
    let mut f = fixture();
    let impostor = Signer::from_seed(ORIGIN, &[8; 32]).unwrap();
    let err = cosign(&mut f, &body(&impostor, &tree(5, 0), 0)).unwrap_err();
    assert!(matches!(err, WitnessError::Signature(_)), "{err}");
    assert!(f.state.forks().unwrap().is_empty());
    assert_eq!(cosigned_size(&f), 0);
}

#[test]
fn an_unknown_origin_is_refused() {
    let mut f = fixture();
    let other = Signer::from_seed("runsheet/test/other", &[7; 32]).unwrap();
    let err = cosign(&mut f, &body(&other, &tree(5, 0), 0)).unwrap_err();
    assert!(err.to_string().contains("does not know the log"), "{err}");
}

#[test]
fn malformed_requests_are_refused_with_the_line() {
    let mut f = fixture();
    let err = cosign(&mut f, "hello\n").unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
    let t = tree(5, 0);
    // old larger than the checkpoint
    let mut b = body(&log(), &t, 5);
    b = b.replacen("old 5", "old 6", 1);
    let err = cosign(&mut f, &b).unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
    // a proof from the empty tree
    let proof = merkle::consistency_proof(&t, 2, 5).unwrap();
    let b = AddCheckpoint {
        old_size: 0,
        proof,
        checkpoint: note(&log(), &t),
    }
    .format();
    let err = cosign(&mut f, &b).unwrap_err();
    assert!(err.to_string().contains("the proof is empty"), "{err}");
    assert!(f.state.forks().unwrap().is_empty());
}

#[test]
fn add_log_refuses_a_key_not_named_after_the_origin_and_never_rekeys() {
    let mut f = fixture();
    let other = Signer::from_seed("runsheet/test/other", &[9; 32]).unwrap();
    let err = f.state.add_log(ORIGIN, &other.verifier()).unwrap_err();
    assert!(err.to_string().contains("named after its origin"), "{err}");
    assert!(!f.state.add_log(ORIGIN, &log().verifier()).unwrap());
    let rekeyed = Signer::from_seed(ORIGIN, &[10; 32]).unwrap();
    let err = f.state.add_log(ORIGIN, &rekeyed.verifier()).unwrap_err();
    assert!(
        err.to_string().contains("never changes a log's key"),
        "{err}"
    );
    let err = f
        .state
        .add_log("test.example/w", &f.cosigner.verifier())
        .unwrap_err();
    assert!(
        err.to_string().contains("Ed25519 note signing key"),
        "{err}"
    );
}

#[test]
fn the_state_file_has_its_version_id_and_owner_only_files() {
    use std::os::unix::fs::PermissionsExt as _;
    let f = fixture();
    let conn = Connection::open(&f.path).unwrap();
    let (version, app): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version), (SELECT application_id FROM pragma_application_id)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((version, app), (STATE_VERSION, APPLICATION_ID));
    for p in [&f.path, &f.key] {
        let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
    }
}

#[test]
fn the_state_refuses_rewriting_its_history() {
    let mut f = fixture();
    cosign(&mut f, &body(&log(), &tree(5, 0), 0)).unwrap();
    cosign(&mut f, &body(&log(), &tree(5, 1), 5)).unwrap();
    let conn = Connection::open(&f.path).unwrap();
    for sql in [
        "UPDATE checkpoints SET tree_size = 3",
        "DELETE FROM checkpoints",
        "DELETE FROM forks",
        "UPDATE logs SET vkey = 'x'",
        "DELETE FROM identity",
        "INSERT INTO checkpoints (origin, tree_size, root, note, cosignature, cosigned_at) SELECT origin, 4, root, note, cosignature, cosigned_at FROM checkpoints",
    ] {
        let err = conn.execute(sql, []).unwrap_err();
        assert!(
            err.to_string().contains("runsheet witness state"),
            "{sql}: {err}"
        );
    }
}

#[test]
fn init_twice_is_refused_and_a_prepared_key_is_used() {
    let f = fixture();
    let err = WitnessState::init(&f.path, &f.key, "test.example/w").unwrap_err();
    assert!(err.to_string().contains("already initialised"), "{err}");
    // A key prepared beforehand (same name) is taken; another name is refused.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let err = WitnessState::init(&state, &f.key, "other.example/w").unwrap_err();
    assert!(err.to_string().contains("pass --name"), "{err}");
    let (_, vkey) = WitnessState::init(&state, &f.key, "test.example/w").unwrap();
    assert_eq!(vkey, f.cosigner.verifier().to_vkey());
}

#[test]
fn another_witnesses_key_file_is_refused() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("k");
    WitnessState::init(&dir.path().join("s"), &other, "test.example/w").unwrap();
    let err = f.state.cosigner(&other).unwrap_err();
    assert!(err.to_string().contains("but this witness is"), "{err}");
    let err = f.state.cosigner(&dir.path().join("missing")).unwrap_err();
    assert!(err.to_string().contains("is not there"), "{err}");
}

#[test]
fn read_only_opens_change_no_byte_and_refuse_other_files() {
    let f = fixture();
    drop(f.state);
    let before = std::fs::read(&f.path).unwrap();
    let state = WitnessState::open_read_only(&f.path).unwrap();
    state.status().unwrap();
    state.identity().unwrap();
    drop(state);
    assert_eq!(std::fs::read(&f.path).unwrap(), before);
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.sqlite3");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    for err in [
        WitnessState::open(&other).unwrap_err(),
        WitnessState::open_read_only(&other).unwrap_err(),
    ] {
        assert!(
            err.to_string().contains("not a runsheet witness state"),
            "{err}"
        );
    }
    let err = WitnessState::open(Path::new("/nonexistent/w.sqlite3")).unwrap_err();
    assert!(err.to_string().contains("witness init"), "{err}");
}

fn base64_root(t: &MemoryTree) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(t.root())
}

#[test]
fn a_second_connection_sees_the_size_the_first_cosigned() {
    let mut f = fixture();
    let mut other = WitnessState::open(&f.path).unwrap();
    cosign(&mut f, &body(&log(), &tree(5, 0), 0)).unwrap();
    // The same old size from another process: the check and the store are
    // one transaction, so it cannot advance from 0 as well.
    let out = other
        .cosign(&f.cosigner, &body(&log(), &tree(7, 0), 0), NOW)
        .unwrap();
    assert!(
        matches!(out, CosignOutcome::Conflict { size: 5, .. }),
        "{out:?}"
    );
}
