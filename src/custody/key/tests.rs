use std::fs;
use std::os::unix::fs::PermissionsExt as _;

use proptest::prelude::*;

use super::*;

/// golang/mod sumdb/note/note_test.go (TestNewSigner, TestOpen), commit
/// fe2ec04f7c3c3aa6fad97631aafcff6e49e2d1db.
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

/// (private key, verifier key) pairs published with Go tests:
/// transparency-dev/formats log/note_test.go (commit
/// 0b850f1a7b4a5b70deeacac6535e4b8023809d21), transparency-dev/formats
/// note/note_verifier_test.go (TestSignerVerifierFromEd25519Key), and
/// transparency-dev/witness witness/witness_test.go (commit
/// 54dbcdd14f829a301b24b59f7c547c7dceebafa8).
const PAIRS: [(&str, &str); 8] = [
    (PETER_SKEY, PETER_VKEY),
    (
        "PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
        "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs",
    ),
    (
        "PRIVATE+KEY+Known+451c786d+AQPRoE2+Z+Ed1HaHBA9F/FfracvcZ2rDU39kCecMEoci",
        "Known+451c786d+AXAQ0T7lbwuY4ABJ9/MYY9bWV3hmSyOGVt2x42NkmdUH",
    ),
    (
        "PRIVATE+KEY+KnownAgain+4893b26c+ARhZda/l25zjGZswYLDZsLNRzNpmv5wYTN9IoTr1OJ2+",
        "KnownAgain+4893b26c+AQ+LR7BFF/F/dkpIBjBpSvT0crkteizuUkavAoGeaYMj",
    ),
    (
        "PRIVATE+KEY+Unknown+fdbb2e08+Aav2knTC6orbhXX8pMWuNiWgO+Wwk2DB+h1eU2Q1W1nU",
        "Unknown+fdbb2e08+AWgRIYZ+8x1Vl+1Q+sR8zciNHiYI1SdlBjNw+RV0rots",
    ),
    (
        "PRIVATE+KEY+logandmap+38581672+AXJ0FKWOcO2ch6WC8kP705Ed3Gxu7pVtZLhfHAQwp+FE",
        "logandmap+38581672+Ab/PCr1eCclRPRMBqw/r5An1xO71MCnImLiospEq6b4l",
    ),
    (
        "PRIVATE+KEY+monkeys+db4d9f7e+ATWIAF3yVBG+Hv1rZFQoNt/BaURkLPtOFMAM2HrEeIr6",
        "monkeys+db4d9f7e+AULaJMvTtDLHPUcUrjdDad9vDlh/PTfC2VV60JUtCfWT",
    ),
    (
        "PRIVATE+KEY+witness+f13a86db+AaLa/dfyBhyo/m0Z7WCi98ENVZWtrP8pxgRNrx7tIWiA",
        "witness+f13a86db+AdYV1Ztajd9BvyjP2HgpwrqYL6TjOwIjGMOq8Bu42xbN",
    ),
];

#[test]
fn published_private_keys_give_their_published_verifier_keys() {
    for (skey, vkey) in PAIRS {
        let key = PrivateKey::parse(skey).expect(skey);
        assert_eq!(key.kind(), KeyKind::Ed25519);
        assert_eq!(key.verifier().to_vkey(), vkey);
        assert_eq!(key.text(), skey, "the text round-trips");
        assert!(matches!(key, PrivateKey::Signer(_)));
    }
}

#[test]
fn cosigner_keys_round_trip_with_type_0x04() {
    let cosigner = Cosigner::from_seed("witness.example/w1", &[3; 32]).expect("valid");
    let text = cosigner.private_key_text();
    let fields: Vec<&str> = text.splitn(5, '+').collect();
    assert_eq!(
        fields[..4],
        [
            "PRIVATE",
            "KEY",
            "witness.example/w1",
            &format!("{:08x}", cosigner.key_id())
        ]
    );
    assert_eq!(BASE64.decode(fields[4]).expect("base64")[0], 0x04);
    let key = PrivateKey::parse(&text).expect("round trip");
    assert_eq!(key.kind(), KeyKind::CosignatureEd25519);
    assert_eq!(key.key_id(), cosigner.key_id());
    assert_eq!(key.name(), "witness.example/w1");
    assert_eq!(key.verifier(), cosigner.verifier());
    assert_eq!(key.text(), text);
}

#[test]
fn gos_mangled_private_keys_are_all_refused() {
    // Every proper substring, and every single byte + 1 (TestNewSigner).
    let b = PETER_SKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if (i, j) != (0, b.len()) {
                let k = String::from_utf8_lossy(&b[i..j]);
                assert!(PrivateKey::parse(&k).is_err(), "accepted {k:?}");
            }
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] += 1;
        let k = String::from_utf8_lossy(&m);
        assert!(PrivateKey::parse(&k).is_err(), "accepted {k:?}");
    }
}

fn with_key(type_byte: u8, key: &[u8]) -> String {
    let mut bytes = vec![type_byte];
    bytes.extend_from_slice(key);
    format!("PRIVATE+KEY+PeterNeumann+c74f20a3+{}", BASE64.encode(bytes))
}

#[test]
fn bad_private_keys_say_what_is_wrong_without_quoting_the_key() {
    let seed_b64 = &PETER_SKEY["PRIVATE+KEY+PeterNeumann+c74f20a3+".len()..];
    let cases: Vec<(String, &str)> = vec![
        (
            PETER_VKEY.into(),
            "it is a public verifier key (<key name>+<key ID>+<key>), not a private key; a private key starts with \"PRIVATE+KEY+\"",
        ),
        (
            seed_b64.into(),
            "it does not start with \"PRIVATE+KEY+\", so it is not a private key",
        ),
        (
            format!("private+key+{}", &PETER_SKEY[12..]),
            "it does not start with \"PRIVATE+KEY+\", so it is not a private key",
        ),
        (
            format!("PRIVATE+KEY+{seed_b64}"),
            "it has 4 of the 5 fields of a private key, PRIVATE+KEY+<key name>+<key ID>+<key>",
        ),
        (
            "PRIVATE+KEY+".into(),
            "it has 3 of the 5 fields of a private key, PRIVATE+KEY+<key name>+<key ID>+<key>",
        ),
        (
            format!("PRIVATE+KEY++c74f20a3+{seed_b64}"),
            "its key name (the third field) is empty",
        ),
        (
            format!("PRIVATE+KEY+Peter Neumann+c74f20a3+{seed_b64}"),
            "its key name (the third field) contains white space (U+0020); key names may contain none",
        ),
        (
            format!("PRIVATE+KEY+PeterNeumann+C74F20A3+{seed_b64}"),
            "its key ID (the fourth field) is not 8 lowercase hexadecimal digits",
        ),
        (
            format!("PRIVATE+KEY+PeterNeumann+{seed_b64}"),
            "its key ID (the fourth field) is not 8 lowercase hexadecimal digits",
        ),
        (
            format!("PRIVATE+KEY+PeterNeumann+c74f20a3+{}", &seed_b64[1..]),
            "its key (the fifth field) is not valid base64 (standard alphabet, with \"=\" padding)",
        ),
        (
            "PRIVATE+KEY+PeterNeumann+c74f20a3+".into(),
            "its key (the fifth field) is empty",
        ),
        (
            with_key(0x02, &[1; 32]),
            "its key has signature type 0x02; runsheet's private keys have type 0x01 (note signing) or 0x04 (cosigning)",
        ),
        (
            with_key(0x01, &[1; 31]),
            "its key is 31 bytes after the type byte; an Ed25519 private key is 32",
        ),
        (
            with_key(0x01, &[1; 64]),
            "its key is 64 bytes after the type byte; an Ed25519 private key is 32",
        ),
        (
            format!("PRIVATE+KEY+PeterNeumann+c74f20a4+{seed_b64}"),
            "its key ID does not match its key name and key; the key was edited or damaged",
        ),
        (
            format!("PRIVATE+KEY+PeterNeumanm+c74f20a3+{seed_b64}"),
            "its key ID does not match its key name and key; the key was edited or damaged",
        ),
        // The same seed as a cosigner key has another key ID.
        (
            PETER_SKEY.replace("+AYEK", "+BIEK"),
            "its key ID does not match its key name and key; the key was edited or damaged",
        ),
        (
            format!("{PETER_SKEY}\n"),
            "its key (the fifth field) is not valid base64 (standard alphabet, with \"=\" padding)",
        ),
    ];
    for (text, message) in &cases {
        let err = PrivateKey::parse(text).expect_err(message);
        let shown = err.to_string();
        assert_eq!(shown, *message, "for {text:?}");
        for window in seed_b64.as_bytes().windows(6) {
            let window = std::str::from_utf8(window).expect("ASCII");
            assert!(!shown.contains(window), "{shown:?} quotes the key");
        }
    }
}

// ---------------------------------------------------------------------------
// Key files.
// ---------------------------------------------------------------------------

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("exists").permissions().mode() & 0o7777
}

fn write_with_mode(path: &Path, contents: &[u8], mode: u32) {
    fs::write(path, contents).expect("written");
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn a_created_key_file_is_private_from_the_start_and_loads_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.key");
    let signer = Signer::from_seed("example.com/log", &[1; 32]).expect("valid");
    let text = format!("{}\n", signer.private_key_text());
    create_key_file(&path, &text).expect("created");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(fs::read_to_string(&path).expect("readable"), text);

    let loaded = load_key_file(&path).expect("loads");
    assert_eq!(loaded.verifier(), signer.verifier());
    assert_eq!(
        load_signer(&path).expect("a note key").key_id(),
        signer.key_id()
    );
    assert_eq!(
        load_cosigner(&path)
            .expect_err("not a cosigner")
            .to_string(),
        format!(
            "key file {}: it holds an Ed25519 note signature (type 0x01) key, but an Ed25519 cosignature (type 0x04) key is needed here",
            path.display()
        )
    );
}

#[test]
fn a_cosigner_key_file_needs_no_final_newline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("w.key");
    let cosigner = Cosigner::from_seed("w", &[2; 32]).expect("valid");
    create_key_file(&path, &cosigner.private_key_text()).expect("created");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(
        load_cosigner(&path).expect("no newline is fine").key_id(),
        cosigner.key_id()
    );
}

#[test]
fn an_existing_file_is_never_overwritten() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.key");
    fs::write(&path, "precious").expect("written");
    let err = create_key_file(&path, "new").expect_err("exists");
    assert_eq!(
        err.to_string(),
        format!(
            "key file {}: it already exists, and runsheet never overwrites a key file. Choose another path, or move the old file away if you are sure it is no longer needed (a lost signing key cannot be recovered)",
            path.display()
        )
    );
    assert_eq!(fs::read_to_string(&path).expect("kept"), "precious");

    // Nor is a symlink followed, dangling or not.
    let target = dir.path().join("elsewhere");
    let link = dir.path().join("link.key");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    assert!(matches!(
        create_key_file(&link, "new"),
        Err(KeyFileError::Exists { .. })
    ));
    assert!(!target.exists(), "nothing was created through the link");
}

#[test]
fn a_file_that_cannot_be_created_says_why() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("missing-dir").join("log.key");
    let err = create_key_file(&path, "x").expect_err("no directory");
    assert!(matches!(err, KeyFileError::Create { .. }));
    assert!(
        err.to_string()
            .starts_with(&format!("key file {}: cannot create it: ", path.display())),
        "{err}"
    );
}

#[test]
fn files_others_can_read_are_refused_with_the_chmod_to_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.key");
    let text = format!("{PETER_SKEY}\n");
    for (m, who) in [
        (0o644, "its group and all other users"),
        (0o640, "its group"),
        (0o604, "all other users"),
        (0o660, "its group"),
        (0o602, "all other users"),
        (0o610, "its group"),
    ] {
        write_with_mode(&path, text.as_bytes(), m);
        assert_eq!(
            load_key_file(&path).expect_err("too open").to_string(),
            format!(
                "key file {0}: it has mode {m:04o}, which gives {who} access to it; a key file must be private to its owner. Run: chmod 600 {0}",
                path.display()
            )
        );
    }
    for m in [0o600, 0o400, 0o700] {
        write_with_mode(&path, text.as_bytes(), m);
        assert!(load_key_file(&path).is_ok(), "mode {m:o}");
    }
}

#[test]
fn a_symlink_is_followed_and_its_target_checked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("real.key");
    let link = dir.path().join("link.key");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    write_with_mode(&target, PETER_SKEY.as_bytes(), 0o600);
    assert_eq!(
        load_key_file(&link).expect("followed").verifier().to_vkey(),
        PETER_VKEY
    );
    fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).expect("chmod");
    assert!(matches!(
        load_key_file(&link),
        Err(KeyFileError::Permissions { mode: 0o644, .. })
    ));
}

#[test]
fn a_file_owned_by_another_user_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.key");
    write_with_mode(&path, PETER_SKEY.as_bytes(), 0o600);
    if rustix::process::geteuid().as_raw() != 0 {
        // Only root can give a file away; owned by us, it loads.
        assert!(load_key_file(&path).is_ok());
        return;
    }
    // As root: a root-owned file loads, another user's does not.
    assert!(load_key_file(&path).is_ok());
    std::os::unix::fs::chown(&path, Some(54321), None).expect("chown as root");
    assert_eq!(
        load_key_file(&path)
            .expect_err("someone else's")
            .to_string(),
        format!(
            "key file {}: it belongs to user ID 54321, not to you (user ID 0) or root; a key file must belong to the user that signs with it. Run as its owner, or chown it",
            path.display()
        )
    );
}

#[test]
fn special_files_are_refused_without_blocking() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert_eq!(
        load_key_file(dir.path())
            .expect_err("a directory")
            .to_string(),
        format!(
            "key file {}: it is a directory, not a regular file",
            dir.path().display()
        )
    );
    let fifo = dir.path().join("fifo.key");
    let made = std::process::Command::new("mkfifo")
        .arg("-m")
        .arg("600")
        .arg(&fifo)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if made {
        // Opened non-blocking: this returns at once instead of waiting for a
        // writer.
        assert_eq!(
            load_key_file(&fifo).expect_err("a FIFO").to_string(),
            format!(
                "key file {}: it is a named pipe, not a regular file",
                fifo.display()
            )
        );
    }
    assert!(matches!(
        load_key_file(Path::new("/dev/null")),
        Err(KeyFileError::NotRegular {
            what: "a device",
            ..
        })
    ));
}

#[test]
fn a_missing_file_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("absent.key");
    let err = load_key_file(&path).expect_err("missing");
    assert!(
        matches!(&err, KeyFileError::Open { source, .. } if source.kind() == io::ErrorKind::NotFound)
    );
    assert!(
        err.to_string()
            .starts_with(&format!("key file {}: cannot open it: ", path.display()))
    );
}

#[test]
fn malformed_key_files_are_refused_with_the_right_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.key");
    let cases: Vec<(Vec<u8>, String)> = vec![
        (Vec::new(), "it is empty".into()),
        (b"\n".to_vec(), "it is empty".into()),
        (b"  \n".to_vec(), "it is empty".into()),
        (vec![0xff, 0xfe, b'\n'], "it is not UTF-8 text".into()),
        (format!("{PETER_SKEY}\n\n").into_bytes(), "it has more than one line; a key file holds the key on one line and nothing else".into()),
        (format!("{PETER_SKEY}\n{PETER_SKEY}\n").into_bytes(), "it has more than one line; a key file holds the key on one line and nothing else".into()),
        (format!("{PETER_SKEY}\r\n").into_bytes(), "it has Windows line endings (a carriage return); save it with a plain newline".into()),
        (format!(" {PETER_SKEY}\n").into_bytes(), "the key is surrounded by spaces or tabs; a key file holds the key and nothing else".into()),
        (format!("{PETER_SKEY}\t").into_bytes(), "the key is surrounded by spaces or tabs; a key file holds the key and nothing else".into()),
        (format!("\u{feff}{PETER_SKEY}\n").into_bytes(), "the key is not valid: it does not start with \"PRIVATE+KEY+\", so it is not a private key".into()),
        (format!("{PETER_VKEY}\n").into_bytes(), "the key is not valid: it is a public verifier key (<key name>+<key ID>+<key>), not a private key; a private key starts with \"PRIVATE+KEY+\"".into()),
        (vec![b'x'; 5000], format!("it is 5000 bytes, too large to be a key file (at most {MAX_KEY_FILE_BYTES})")),
    ];
    for (contents, message) in &cases {
        write_with_mode(&path, contents, 0o600);
        let err = load_key_file(&path).expect_err(message);
        assert_eq!(
            err.to_string(),
            format!("key file {}: {message}", path.display())
        );
    }
    // A key text with or without one final newline loads.
    for contents in [PETER_SKEY.to_owned(), format!("{PETER_SKEY}\n")] {
        write_with_mode(&path, contents.as_bytes(), 0o600);
        assert_eq!(
            load_key_file(&path).expect("loads").verifier().to_vkey(),
            PETER_VKEY
        );
    }
}

#[test]
fn generated_keys_survive_a_file_round_trip() {
    let dir = tempfile::tempdir().expect("temp dir");
    let signer = Signer::generate("example.com/log").expect("random bytes");
    let cosigner = Cosigner::generate("witness.example/w").expect("random bytes");
    let a = dir.path().join("a.key");
    let b = dir.path().join("b.key");
    create_key_file(&a, &format!("{}\n", signer.private_key_text())).expect("created");
    create_key_file(&b, &format!("{}\n", cosigner.private_key_text())).expect("created");
    assert_eq!(
        load_signer(&a).expect("loads").verifier(),
        signer.verifier()
    );
    assert_eq!(
        load_cosigner(&b).expect("loads").verifier(),
        cosigner.verifier()
    );
    assert!(matches!(
        load_signer(&b),
        Err(KeyFileError::WrongKind { .. })
    ));
}

proptest! {
    #[test]
    fn private_keys_round_trip(name in "[!-*,-~é—]{1,20}", seed in any::<[u8; 32]>(), cosign in any::<bool>()) {
        let key = if cosign {
            PrivateKey::Cosigner(Cosigner::from_seed(&name, &seed).expect("valid"))
        } else {
            PrivateKey::Signer(Signer::from_seed(&name, &seed).expect("valid"))
        };
        let parsed = PrivateKey::parse(&key.text()).expect("round trip");
        prop_assert_eq!(parsed.text(), key.text());
        prop_assert_eq!(parsed.verifier(), key.verifier());
    }

    #[test]
    fn parsing_private_keys_never_panics(s in any::<String>()) {
        let _ = PrivateKey::parse(&s);
    }

    #[test]
    fn key_errors_never_show_the_key(seed in any::<[u8; 32]>(), at in any::<prop::sample::Index>(), flip in 1u8..=127) {
        let text = Signer::from_seed("example.com/log", &seed).expect("valid").private_key_text();
        let key_b64 = text.splitn(5, '+').nth(4).expect("five fields").to_owned();
        let mut bytes = text.into_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        if let Ok(mangled) = String::from_utf8(bytes)
            && let Err(err) = PrivateKey::parse(&mangled)
        {
            let shown = err.to_string();
            for window in key_b64.as_bytes().windows(8) {
                let window = std::str::from_utf8(window).expect("ASCII");
                prop_assert!(!shown.contains(window), "{} quotes the key", shown);
            }
        }
    }
}
