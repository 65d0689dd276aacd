use proptest::prelude::*;

use super::*;
use crate::custody::key::PrivateKey;

// ---------------------------------------------------------------------------
// Published vectors.
// ---------------------------------------------------------------------------

/// C2SP/C2SP signed-note.md ("Example"), commit 5ba5ee830903e91240fc6f9f3a7a9293d49e69c9.
const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const SPEC_NOTE: &str = "This is an example message.\n\n\
— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

// golang/mod sumdb/note/note.go (package doc) and note_test.go (TestSign,
// TestOpen, TestNewVerifier), commit fe2ec04f7c3c3aa6fad97631aafcff6e49e2d1db.
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
then you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

// transparency-dev/formats log/note_test.go (TestSumDBNoteParsing,
// BenchmarkParse), commit 0b850f1a7b4a5b70deeacac6535e4b8023809d21: a real
// sum.golang.org checkpoint and three more keys' signatures of it.
const SUMDB_VKEY: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
const SUMDB_NOTE: &str = "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n\
— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n";
const SUMDB_MORE: [(&str, &str); 3] = [
    (
        "monkeys+db4d9f7e+AULaJMvTtDLHPUcUrjdDad9vDlh/PTfC2VV60JUtCfWT",
        "— monkeys 202ffh9ve46Mqbhuyb4wnC2Pwdan5EsXQym/tF1ggXJqhjGosU4T5intH4iKMRgDLxrnXuIjRaU2NbvAnaepM6Y+8ww=",
    ),
    (
        "bananas+cf639f13+AaPjhFnPCQnid/Ql32KWhmh+uk72FVRfK+2DLmO3BI3M",
        "— bananas z2OfE+2bbsBZ7NLgfuslc0v7NFW2QyexJ7fhePpoL2N/P7N/COd5S+JNHbQEAlYzz2C5sg0E+x/MggS1mDR6t3/9rQw=",
    ),
    (
        "witness+f13a86db+AdYV1Ztajd9BvyjP2HgpwrqYL6TjOwIjGMOq8Bu42xbN",
        "— witness 8TqG25yWGFLdT7WPf/WoyeG3LwqtkXP+8S3yykOVm6EMh4hPgCke6eSVPU4BdtXNMPJBXKF+UpDbGgCdcpR8SVSoqAU=",
    ),
];

fn verifier(vkey: &str) -> Verifier {
    Verifier::parse(vkey).expect("a published vkey")
}

fn peter() -> Signer {
    match PrivateKey::parse(PETER_SKEY).expect("Go's test key") {
        PrivateKey::Signer(signer) => signer,
        PrivateKey::Cosigner(_) => panic!("PeterNeumann is a note key"),
    }
}

fn go_note(sigs: &[&str]) -> String {
    format!("{GO_TEXT}\n{}", sigs.concat())
}

#[test]
fn the_spec_example_vkey_verifies_the_spec_example_note() {
    let v = verifier(SPEC_VKEY);
    assert_eq!(v.name(), "example.com/foo");
    assert_eq!(v.key_id(), 0x530d903a);
    assert_eq!(v.kind(), KeyKind::Ed25519);
    // The public key bytes as florolf/tlog-scales tests/test_signing.py
    // (commit dfd5c4bf3b0c9703a6760e52e80e2515ee53f86e) decodes them.
    assert_eq!(
        hex::encode(v.public_key()),
        "e932791ae6e7a840a46164c904786426d5e7821dd8b29a00d61cae72afdd4da4"
    );
    assert_eq!(v.to_vkey(), SPEC_VKEY);
    let note = Note::parse(SPEC_NOTE).expect("the spec's note parses");
    assert_eq!(note.text(), "This is an example message.\n");
    let verified = note.verify(&[v]).expect("the spec's note verifies");
    assert_eq!(
        verified,
        vec![Verified {
            verifier: 0,
            name: "example.com/foo".into(),
            key_id: 0x530d903a,
            kind: KeyKind::Ed25519,
            timestamp: None,
            line: 3,
        }]
    );
}

#[test]
fn signing_reproduces_gos_signature_byte_for_byte() {
    let signer = peter();
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.verifier().to_vkey(), PETER_VKEY);
    let line = signer.sign(GO_TEXT).expect("a valid text");
    assert_eq!(line, PETER_SIG);
    let note = Note::with_signatures(GO_TEXT, [line]).expect("one line");
    assert_eq!(note.format(), go_note(&[PETER_SIG]));
}

#[test]
fn gos_open_cases_give_gos_answers() {
    let peter = verifier(PETER_VKEY);
    let enoch = verifier(ENOCH_VKEY);
    let both = Note::parse(&go_note(&[PETER_SIG, ENOCH_SIG])).expect("parses");
    assert_eq!(both.text(), GO_TEXT);

    // One known key: its line verifies, the other is ignored.
    let v = both
        .verify(std::slice::from_ref(&peter))
        .expect("peter verifies");
    assert_eq!(v.len(), 1);
    assert_eq!(
        (v[0].name.as_str(), v[0].key_id, v[0].line),
        ("PeterNeumann", 0xc74f20a3, 4)
    );

    // Both known, in line order, each naming its verifier.
    let v = both
        .verify(&[enoch.clone(), peter.clone()])
        .expect("both verify");
    let got: Vec<_> = v.iter().map(|v| (v.verifier, v.line)).collect();
    assert_eq!(got, vec![(1, 4), (0, 5)]);

    // None known.
    let err = both.verify(&[]).expect_err("no keys");
    assert_eq!(
        err.to_string(),
        "no verifier key was given to check the note with; it is signed by PeterNeumann (key ID c74f20a3), EnochRoot (key ID af0cfe78)"
    );

    // A duplicated known key, used: refused; unused: harmless.
    let enoch_only = Note::parse(&go_note(&[ENOCH_SIG])).expect("parses");
    let err = enoch_only
        .verify(&[enoch.clone(), peter.clone(), enoch.clone()])
        .expect_err("ambiguous");
    assert_eq!(
        err.to_string(),
        "line 4: 2 of the known keys are named EnochRoot with key ID af0cfe78, so the signature cannot be checked; list each key once"
    );
    let peter_only = Note::parse(&go_note(&[PETER_SIG])).expect("parses");
    assert!(
        peter_only
            .verify(&[enoch.clone(), peter.clone(), enoch])
            .is_ok()
    );

    // Repeated lines, known and unknown, and an unknown line with a damaged
    // signature: accepted on peter's line.
    let mut enoch_abcd = ENOCH_SIG.to_owned();
    enoch_abcd.insert_str(60, "ABCD");
    let repeated = Note::parse(&go_note(&[
        PETER_SIG,
        PETER_SIG,
        ENOCH_SIG,
        ENOCH_SIG,
        &enoch_abcd,
    ]))
    .expect("parses");
    let v = repeated
        .verify(std::slice::from_ref(&peter))
        .expect("verifies");
    assert_eq!(v.len(), 1, "one entry per key, for its first line");
    assert_eq!(v[0].line, 4);

    // A damaged line by a known key refuses the note, naming the line.
    let mut peter_abcd = PETER_SIG.to_owned();
    peter_abcd.insert_str(60, "ABCD");
    let damaged = Note::parse(&go_note(&[&peter_abcd])).expect("parses");
    assert_eq!(
        damaged.verify(&[peter]).expect_err("damaged").to_string(),
        "line 4: the signature by PeterNeumann (key ID c74f20a3) does not verify: an Ed25519 note signature (type 0x01) is 64 bytes after the key ID, but this one is 67"
    );
}

#[test]
fn a_real_sumdb_checkpoint_verifies_with_four_keys() {
    let mut known = vec![verifier(SUMDB_VKEY)];
    let mut lines = Vec::new();
    for (vkey, line) in SUMDB_MORE {
        known.push(verifier(vkey));
        lines.push(format!("{line}\n"));
    }
    let note = Note::parse(SUMDB_NOTE).expect("parses");
    assert_eq!(note.verify(&known[..1]).expect("sum.golang.org").len(), 1);
    let mut signed = note.clone();
    for line in &lines {
        signed.add_signature(line).expect("a valid line");
    }
    // Unknown names carrying copies of known signatures are ignored.
    let witness_copy = SUMDB_MORE[2].1.replace("— witness ", "— random1 ");
    signed.add_signature(&witness_copy).expect("a valid line");
    let verified = signed.verify(&known).expect("all four verify");
    let got: Vec<_> = verified.iter().map(|v| (v.verifier, v.line)).collect();
    assert_eq!(got, vec![(0, 5), (1, 6), (2, 7), (3, 8)]);
    assert_eq!(Note::parse(&signed.format()).expect("round trip"), signed);
}

#[test]
fn gos_mangled_verifier_keys_are_all_refused() {
    // Every proper substring, and every single byte + 1 (TestNewVerifier).
    let b = PETER_VKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if (i, j) != (0, b.len()) {
                let k = String::from_utf8_lossy(&b[i..j]);
                assert!(Verifier::parse(&k).is_err(), "accepted {k:?}");
            }
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] += 1;
        let k = String::from_utf8_lossy(&m);
        assert!(Verifier::parse(&k).is_err(), "accepted {k:?}");
    }
    // Wrong key length and unknown algorithm, each with an adjusted key ID.
    // Go's wrong-length key ends in the non-canonical "EY==" (unused bits
    // set), which Go's lax decoder accepts and runsheet refuses as base64; the
    // canonical "EQ==" reaches the length check.
    assert_eq!(
        Verifier::parse(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        ),
        Err(VkeyError::BadBase64)
    );
    assert_eq!(
        Verifier::parse(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEQ=="
        ),
        Err(VkeyError::KeyLength { len: 36 })
    );
    assert_eq!(
        Verifier::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(VkeyError::UnsupportedType { type_byte: 0x65 })
    );
}

#[test]
fn bad_verifier_keys_say_what_is_wrong() {
    // An ECDSA (0x02) key from transparency-dev/formats note/note_verifier_test.go.
    let pixel = "pixel6_transparency_log+91c16e30+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABN+4x0Jk1yTwvLFI9A4NDdGZcX0aiWVdWM5XJVy0M4VWD3AvyW5Q6Hs9A0mcDkpUoYgn+KKPNzFC0H3nN3q6JQ8=";
    let identity = format!(
        "weak+00000000+{}",
        BASE64.encode([&[1u8, 1][..], &[0; 31]].concat())
    );
    let cases: &[(&str, &str)] = &[
        (
            "example.com/foo",
            "a verifier key has three parts separated by \"+\": <key name>+<key ID>+<key>; this one has 1",
        ),
        (
            "example.com/foo+530d903a",
            "a verifier key has three parts separated by \"+\": <key name>+<key ID>+<key>; this one has 2",
        ),
        (
            "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "the key name \"\" is empty",
        ),
        (
            "example.com/f\u{a0}o+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "the key name \"example.com/f\\u{a0}o\" contains white space (U+00A0); key names may contain none",
        ),
        (
            "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "the key ID \"530D903A\" must be 8 lowercase hexadecimal digits",
        ),
        (
            "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "the key ID \"530d903\" must be 8 lowercase hexadecimal digits",
        ),
        (
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",
            "the key (the third part) is not valid base64 (standard alphabet, with \"=\" padding)",
        ),
        (
            "example.com/foo+530d903a+",
            "the key (the third part) is empty",
        ),
        (
            pixel,
            "the key has signature type 0x02, which runsheet does not support; it supports 0x01 (Ed25519 note signatures) and 0x04 (Ed25519 cosignatures)",
        ),
        (
            "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "the key ID 530d903b does not match the key name and key, which give 530d903a; the verifier key was mistyped or altered",
        ),
        (
            "example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "the key ID 530d903a does not match the key name and key, which give c6fb2e3e; the verifier key was mistyped or altered",
        ),
        (
            &identity,
            "the key is a small-order Ed25519 point, under which no signature can be trusted; this is not a real public key",
        ),
        (
            " example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "the key name \" example.com/foo\" contains white space (U+0020); key names may contain none",
        ),
    ];
    for (vkey, message) in cases {
        let err = Verifier::parse(vkey).expect_err(vkey);
        assert_eq!(err.to_string(), *message, "for {vkey:?}");
    }
}

#[test]
fn key_names_follow_the_spec() {
    for good in [
        "a",
        "example.com/log",
        "oid/1.3.6.1.4.1.44363.47.1",
        "é—ü",
        "a\u{7f}",
    ] {
        assert_eq!(check_key_name(good), Ok(()), "{good:?}");
    }
    assert_eq!(check_key_name(""), Err(NameProblem::Empty));
    assert_eq!(check_key_name("a+b"), Err(NameProblem::Plus));
    assert_eq!(check_key_name("a b"), Err(NameProblem::Space(' ')));
    assert_eq!(check_key_name("a\tb"), Err(NameProblem::Space('\t')));
    assert_eq!(
        check_key_name("a\u{3000}b"),
        Err(NameProblem::Space('\u{3000}'))
    );
    assert_eq!(
        check_key_name("a\u{2028}b"),
        Err(NameProblem::Space('\u{2028}'))
    );
    assert_eq!(
        check_key_name("a\u{1}b"),
        Err(NameProblem::Control('\u{1}'))
    );
    for bad in ["", "a b", "a+b", "x\u{85}"] {
        let err = Signer::generate(bad).expect_err(bad);
        assert!(err.to_string().starts_with("invalid key name "), "{err}");
    }
    assert_eq!(
        Signer::from_seed("a+b", &[1; 32])
            .expect_err("plus")
            .to_string(),
        "invalid key name \"a+b\": it contains \"+\", which key names may not"
    );
}

#[test]
fn key_ids_include_the_signature_type() {
    let signer = Signer::from_seed("example.com/log", &[9; 32]).expect("valid");
    let pk = *signer.verifier().public_key();
    assert_eq!(
        signer.key_id(),
        key_id("example.com/log", KeyKind::Ed25519, &pk)
    );
    assert_ne!(
        key_id("example.com/log", KeyKind::Ed25519, &pk),
        key_id("example.com/log", KeyKind::CosignatureEd25519, &pk)
    );
    let cosigner =
        Verifier::new("example.com/log", KeyKind::CosignatureEd25519, &pk).expect("valid");
    assert_eq!(
        cosigner.to_vkey().split('+').nth(2).map(|k| &k[..1]),
        Some("B"),
        "0x04 encodes as B…"
    );
    assert_eq!(Verifier::parse(&cosigner.to_vkey()), Ok(cosigner));
}

#[test]
fn generated_keys_differ_and_work() {
    let a = Signer::generate("example.com/a").expect("random bytes");
    let b = Signer::generate("example.com/a").expect("random bytes");
    assert_ne!(a.verifier().public_key(), b.verifier().public_key());
    let line = a.sign("hello\n").expect("valid");
    let note = Note::with_signatures("hello\n", [line]).expect("valid");
    assert!(note.verify(&[a.verifier()]).is_ok());
    assert!(matches!(
        note.verify(&[b.verifier()]),
        Err(NoteError::NotVerified { .. })
    ));
    assert!(
        !format!("{a:?}").contains(&hex::encode(a.seed())),
        "Debug hides the key"
    );
}

// ---------------------------------------------------------------------------
// Parsing and formatting.
// ---------------------------------------------------------------------------

#[test]
fn malformed_notes_are_refused_with_the_right_message() {
    let text = GO_TEXT;
    let sig = PETER_SIG;
    let noncanonical = sig.replace("nAM=", "nAN=");
    let hundred_and_one = go_note(&vec![sig; 101]);
    let cases: Vec<(String, &str)> = vec![
        (
            text.into(),
            "the note has no empty line before its signature lines; a signed note is its text, an empty line, then one or more lines \"— <key name> <signature>\"",
        ),
        (
            format!("{text}\n"),
            "the note ends with an empty line (line 3) and has no signature lines after it",
        ),
        (
            format!("{text}\n{}", &sig[..sig.len() - 1]),
            "the note does not end with a newline; its text and every signature line end with one",
        ),
        (
            format!("\x01{text}\n{sig}"),
            "line 1, column 1: the control character U+0001 is not allowed; a note may contain no control characters other than newline",
        ),
        (
            format!(
                "{text}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            ),
            "line 4: there is a space after the signature; a signature line is \"— <key name> <signature>\", and a key name contains no spaces",
        ),
        (
            format!("{text}\n{sig}Unexpected line.\n"),
            "line 5: a signature line must start with \"— \" (an em dash, U+2014, then a space)",
        ),
        (
            format!("{text}\n{}", sig.replacen('—', "--", 1)),
            "line 4: the line starts with '-' (U+002D); a signature line must start with an em dash (U+2014, \"—\"), then a space",
        ),
        (
            format!("{text}\n—PeterNeumann x08go=\n"),
            "line 4: a signature line must start with \"— \" (an em dash, U+2014, then a space)",
        ),
        (
            format!("{text}\n— PeterNeumann\n"),
            "line 4: there is no space between the key name and the signature; a signature line is \"— <key name> <signature>\"",
        ),
        (
            format!("{text}\n— Peter+Neumann AAAAAAA=\n"),
            "line 4: the key name \"Peter+Neumann\" contains \"+\", which key names may not",
        ),
        (
            format!("{text}\n—  AAAAAAA=\n"),
            "line 4: the key name \"\" is empty",
        ),
        (
            format!("{text}\n— PeterNeumann \n"),
            "line 4: the signature is empty",
        ),
        (
            format!("{text}\n— PeterNeumann !!!!\n"),
            "line 4: the signature is not valid base64 (standard alphabet, with \"=\" padding)",
        ),
        (
            format!("{text}\n— PeterNeumann AAAAAAA\n"),
            "line 4: the signature is not valid base64 (standard alphabet, with \"=\" padding)",
        ),
        (
            format!("{text}\n{sig}{noncanonical}"),
            "line 5: the signature is not valid base64 (standard alphabet, with \"=\" padding)",
        ),
        (
            format!("{text}\n— PeterNeumann AAAAAA==\n"),
            "line 4: the signature is 4 bytes; it must be at least 5: a 4-byte key ID, then the signature itself",
        ),
        (
            hundred_and_one,
            "the note has 101 signature lines; runsheet reads at most 100",
        ),
        (
            format!("{}\n\n{sig}", "x".repeat(MAX_NOTE_BYTES)),
            "the note is 1000112 bytes; runsheet reads notes of at most 1000000 bytes",
        ),
        (
            format!("a\r\nb\n\n{sig}"),
            "line 1, column 2: the control character U+000D is not allowed; a note may contain no control characters other than newline",
        ),
        (
            format!("a\nb\tc\n\n{sig}"),
            "line 2, column 2: the control character U+0009 is not allowed; a note may contain no control characters other than newline",
        ),
        (
            String::new(),
            "the note does not end with a newline; its text and every signature line end with one",
        ),
        (
            "\n".into(),
            "the note has no empty line before its signature lines; a signed note is its text, an empty line, then one or more lines \"— <key name> <signature>\"",
        ),
        (
            "\n\n".into(),
            "the note ends with an empty line (line 2) and has no signature lines after it",
        ),
        (
            format!("{text}{sig}"),
            "the note has no empty line before its signature lines; a signed note is its text, an empty line, then one or more lines \"— <key name> <signature>\"",
        ),
    ];
    for (note, message) in &cases {
        let err = Note::parse(note).expect_err(message);
        assert_eq!(err.to_string(), *message, "for {note:?}");
        assert_eq!(Note::parse_bytes(note.as_bytes()), Err(err));
    }
    // Exactly 100 signatures and exactly the size limit are accepted.
    assert!(Note::parse(&go_note(&vec![sig; 100])).is_ok());
    let pad = MAX_NOTE_BYTES - 1 - 1 - sig.len();
    let at_limit = format!("{}\n\n{sig}", "x".repeat(pad));
    assert_eq!(at_limit.len(), MAX_NOTE_BYTES);
    assert!(Note::parse(&at_limit).is_ok());
}

#[test]
fn invalid_utf8_is_refused_naming_the_line() {
    let mut note = go_note(&[PETER_SIG]).into_bytes();
    note.insert(GO_TEXT.find('\n').map_or(0, |i| i + 3), 0xff);
    assert_eq!(
        Note::parse_bytes(&note).expect_err("not UTF-8").to_string(),
        "line 2 is not valid UTF-8; a note is UTF-8 text"
    );
    assert_eq!(
        Note::parse_bytes(b"\xff\n\n"),
        Err(NoteError::NotUtf8 { line: 1 })
    );
}

#[test]
fn the_text_ends_at_the_last_empty_line() {
    let signer = Signer::from_seed("k", &[3; 32]).expect("valid");
    for text in ["\n", "a\n", "a\n\n", "a\n\n\n", "\n\na\n", "a\n\nb\n"] {
        let line = signer.sign(text).expect("valid text");
        let note = Note::with_signatures(text, [&line]).expect("valid");
        let formatted = note.format();
        assert_eq!(formatted, format!("{text}\n{line}"));
        let parsed = Note::parse(&formatted).expect("parses");
        assert_eq!(parsed.text(), text);
        assert_eq!(parsed, note);
        assert!(parsed.verify(&[signer.verifier()]).is_ok(), "{text:?}");
        assert_eq!(
            parsed.signature_line_number(0),
            text.matches('\n').count() + 2
        );
    }
}

#[test]
fn signature_lines_are_kept_verbatim() {
    let note = Note::parse(&go_note(&[PETER_SIG, ENOCH_SIG])).expect("parses");
    let [peter, enoch] = note.signatures() else {
        panic!("two lines");
    };
    assert_eq!(peter.line(), PETER_SIG);
    assert_eq!(enoch.line(), ENOCH_SIG);
    assert_eq!(peter.name(), "PeterNeumann");
    assert_eq!(peter.key_id(), 0xc74f20a3);
    assert_eq!(peter.bytes().len(), 64);
    assert_eq!(enoch.key_id(), 0xaf0cfe78);
    assert_eq!(
        NoteSignature::parse_line(PETER_SIG.trim_end()).expect("without newline"),
        peter.clone()
    );
    assert_eq!(
        NoteSignature::parse_line("— a AAAAAAA=\n— b AAAAAAA=\n"),
        Err(SignatureLineProblem::Newline)
    );
}

#[test]
fn signing_refuses_texts_that_are_not_note_texts() {
    let signer = peter();
    assert_eq!(signer.sign("no newline"), Err(NoteError::NoFinalNewline));
    assert_eq!(signer.sign(""), Err(NoteError::NoFinalNewline));
    assert_eq!(
        signer.sign("a\nb\x1bc\n"),
        Err(NoteError::ControlCharacter {
            line: 2,
            column: 2,
            code: 0x1b
        })
    );
    assert!(matches!(
        signer.sign(&"x\n".repeat(MAX_NOTE_BYTES / 2 + 1)),
        Err(NoteError::TooLarge { .. })
    ));
}

#[test]
fn adding_a_signature_replaces_the_same_keys_line() {
    let a = Signer::from_seed("a", &[1; 32]).expect("valid");
    let b = Signer::from_seed("b", &[2; 32]).expect("valid");
    let text = "text\n";
    let mut note =
        Note::with_signatures(text, [a.sign(text).expect("ok"), b.sign(text).expect("ok")])
            .expect("valid");
    let stale = format!(
        "— a {}\n",
        BASE64.encode([&a.key_id().to_be_bytes()[..], &[0; 64]].concat())
    );
    note.add_signature(&stale).expect("well-formed");
    let names: Vec<_> = note.signatures().iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        ["b", "a"],
        "a's line was replaced and moved to the end"
    );
    assert!(
        note.verify(&[a.verifier()]).is_err(),
        "the replacement is what is kept"
    );
    note.add_signature(&a.sign(text).expect("ok"))
        .expect("valid");
    assert_eq!(note.signatures().len(), 2);
    assert!(note.verify(&[a.verifier(), b.verifier()]).is_ok());

    // A bad line leaves the note unchanged and names the line it would be.
    let before = note.clone();
    assert_eq!(
        note.add_signature("- a AAAAAAA=")
            .expect_err("hyphen")
            .to_string(),
        "line 5: the line starts with '-' (U+002D); a signature line must start with an em dash (U+2014, \"—\"), then a space"
    );
    assert_eq!(note, before);

    // Same name, other key ID: a different key, so both lines stay.
    let other = Signer::from_seed("a", &[7; 32]).expect("valid");
    note.add_signature(&other.sign(text).expect("ok"))
        .expect("valid");
    assert_eq!(note.signatures().len(), 3);
}

#[test]
fn building_a_note_keeps_the_limits() {
    let text = "t\n";
    assert_eq!(
        Note::with_signatures(text, Vec::<String>::new()),
        Err(NoteError::NoSignatures { line: 2 })
    );
    assert_eq!(
        Note::with_signatures("t", ["— a AAAAAAA="]),
        Err(NoteError::NoFinalNewline)
    );
    let lines: Vec<String> = (0..MAX_SIGNATURES)
        .map(|i| format!("— k{i} AAAAAAA=\n"))
        .collect();
    let mut note = Note::with_signatures(text, &lines).expect("100 lines");
    let before = note.clone();
    assert_eq!(
        note.add_signature("— k100 AAAAAAA="),
        Err(NoteError::TooManySignatures {
            count: 101,
            limit: 100
        })
    );
    assert_eq!(note, before);
    note.add_signature("— k0 AAAAAAAA")
        .expect("a replacement keeps the count");

    let big = "x".repeat(MAX_NOTE_BYTES - 20) + "\n";
    assert!(matches!(
        Note::with_signatures(&big, ["— a AAAAAAAAAAAAAAAA"]),
        Err(NoteError::TooLarge { .. })
    ));
}

// ---------------------------------------------------------------------------
// Verification rules.
// ---------------------------------------------------------------------------

#[test]
fn unknown_keys_are_ignored_even_sharing_a_name_or_an_id() {
    let log = Signer::from_seed("example.com/log", &[5; 32]).expect("valid");
    let text = "checkpoint\n";
    let good = log.sign(text).expect("ok");
    let junk_sig = BASE64.encode([&log.key_id().to_be_bytes()[..], &[0; 64]].concat());
    let other_id = format!(
        "— example.com/log {}\n",
        BASE64.encode([&(log.key_id() ^ 1).to_be_bytes()[..], &[0; 64]].concat())
    );
    let other_name = format!("— example.com/other {junk_sig}\n");
    let note = Note::with_signatures(text, [other_id, other_name, good]).expect("valid");
    let verified = note
        .verify(&[log.verifier()])
        .expect("the log's line verifies");
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0].line, 5);
}

#[test]
fn every_line_of_a_known_key_is_verified() {
    // Go's note.Open checks only the first line per key; runsheet checks all,
    // as the spec says ("verifiers MUST verify the signature").
    let log = Signer::from_seed("example.com/log", &[5; 32]).expect("valid");
    let text = "checkpoint\n";
    let good = log.sign(text).expect("ok");
    let forged = format!(
        "— example.com/log {}\n",
        BASE64.encode([&log.key_id().to_be_bytes()[..], &[0; 64]].concat())
    );
    let note = Note::parse(&format!("{text}\n{good}{forged}")).expect("parses");
    assert_eq!(
        note.verify(&[log.verifier()])
            .expect_err("the second line is forged")
            .to_string(),
        format!(
            "line 4: the signature by example.com/log (key ID {:08x}) does not verify: the note was changed after it was signed, or it was signed by another key with the same name and key ID",
            log.key_id()
        )
    );
    let twice = Note::parse(&format!("{text}\n{good}{good}")).expect("parses");
    assert_eq!(twice.verify(&[log.verifier()]).expect("both good").len(), 1);
}

#[test]
fn a_known_key_without_a_signature_names_the_keys() {
    let note = Note::parse(&go_note(&[PETER_SIG])).expect("parses");
    assert_eq!(
        note.verify(&[verifier(ENOCH_VKEY), verifier(SPEC_VKEY)])
            .expect_err("not signed by them")
            .to_string(),
        "the note has no signature by a known key: it is signed by PeterNeumann (key ID c74f20a3), but the known keys are EnochRoot (key ID af0cfe78), example.com/foo (key ID 530d903a). Check that the right verifier key was given"
    );
}

#[test]
fn malleated_signatures_are_refused() {
    // S + L (the group order) is the same signature to a lax verifier.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let signer = peter();
    let note = Note::parse(&go_note(&[PETER_SIG])).expect("parses");
    let mut sig = note.signatures()[0].bytes().to_vec();
    let mut carry = 0u16;
    for (s, l) in sig[32..].iter_mut().zip(L) {
        let sum = u16::from(*s) + u16::from(l) + carry;
        *s = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    let line = signature_line(signer.name(), signer.key_id(), &sig);
    let malleated = Note::with_signatures(GO_TEXT, [line]).expect("well-formed");
    assert!(matches!(
        malleated.verify(&[signer.verifier()]),
        Err(NoteError::BadSignature {
            reason: SignatureFailure::Mismatch,
            ..
        })
    ));
}

#[test]
fn every_tampered_byte_fails() {
    let signer = peter();
    let signed = go_note(&[PETER_SIG]);
    let known = [signer.verifier()];
    assert!(Note::parse(&signed).and_then(|n| n.verify(&known)).is_ok());
    let bytes = signed.as_bytes();
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x20, 0x80] {
            let mut t = bytes.to_vec();
            t[i] ^= flip;
            let result = Note::parse_bytes(&t).and_then(|n| n.verify(&known));
            assert!(result.is_err(), "byte {i} ^ {flip:#x} still verifies");
        }
    }
}

// ---------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------

/// Valid note texts: lines of printable characters (some non-ASCII), each
/// ending in a newline, empty lines included.
pub(super) fn note_text() -> impl Strategy<Value = String> {
    prop::collection::vec("[ -~é—ü€😀]{0,12}", 1..6)
        .prop_map(|lines| lines.iter().map(|l| format!("{l}\n")).collect::<String>())
}

fn key_name() -> impl Strategy<Value = String> {
    "[!-*,-~é—]{1,16}"
}

/// Strings that look like notes, for the parser to chew on.
fn note_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\n".to_owned()),
        Just("\n\n".to_owned()),
        Just("— ".to_owned()),
        Just("—".to_owned()),
        Just(" ".to_owned()),
        Just("+".to_owned()),
        Just("=".to_owned()),
        Just("\t".to_owned()),
        Just("\r".to_owned()),
        Just(PETER_SIG.to_owned()),
        "[A-Za-z0-9+/=]{0,12}",
        "\\PC{0,6}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn parsing_never_panics(s in any::<String>()) {
        let _ = Note::parse(&s);
        let _ = Verifier::parse(&s);
        let _ = NoteSignature::parse_line(&s);
    }

    #[test]
    fn parsing_note_like_text_never_panics(s in note_like()) {
        if let Ok(note) = Note::parse(&s) {
            prop_assert_eq!(note.format(), s.clone());
            let _ = note.verify(&[verifier(PETER_VKEY)]);
        }
        let _ = Note::parse_bytes(s.as_bytes());
    }

    #[test]
    fn parsing_bytes_never_panics(b in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Note::parse_bytes(&b);
    }

    #[test]
    fn valid_notes_round_trip_and_verify(
        text in note_text(),
        names in prop::collection::vec(key_name(), 1..5),
        seed in any::<[u8; 32]>(),
    ) {
        let signers: Vec<Signer> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut s = seed;
                s[0] ^= i as u8;
                Signer::from_seed(name, &s).expect("valid name")
            })
            .collect();
        let lines: Vec<String> = signers.iter().map(|s| s.sign(&text).expect("valid")).collect();
        let note = Note::with_signatures(&text, &lines).expect("valid");
        let formatted = note.format();
        let parsed = Note::parse(&formatted).expect("parses");
        prop_assert_eq!(&parsed, &note);
        prop_assert_eq!(parsed.format(), formatted);
        let known: Vec<Verifier> = signers.iter().map(Signer::verifier).collect();
        prop_assert!(!parsed.verify(&known).expect("verifies").is_empty());
    }

    #[test]
    fn tampering_with_the_text_fails(text in note_text(), at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let signer = Signer::from_seed("k", &[4; 32]).expect("valid");
        let signed = Note::with_signatures(&text, [signer.sign(&text).expect("valid")]).expect("valid").format();
        let mut bytes = signed.into_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        prop_assert!(Note::parse_bytes(&bytes).and_then(|n| n.verify(&[signer.verifier()])).is_err());
    }

    #[test]
    fn vkeys_round_trip(name in key_name(), seed in any::<[u8; 32]>(), cosign in any::<bool>()) {
        let kind = if cosign { KeyKind::CosignatureEd25519 } else { KeyKind::Ed25519 };
        let pk = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        let v = Verifier::new(&name, kind, &pk).expect("valid");
        prop_assert_eq!(Verifier::parse(&v.to_vkey()), Ok(v));
    }
}

/// `x mod L` for a little-endian number, bit by bit (tests only).
fn mod_l(x: &[u8]) -> [u8; 32] {
    // L = 2^252 + 27742317777372353535851937790883648493, little-endian.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let ge = |a: &[u8; 33], b: &[u8; 33]| {
        for i in (0..33).rev() {
            if a[i] != b[i] {
                return a[i] > b[i];
            }
        }
        true
    };
    let mut l = [0u8; 33];
    l[..32].copy_from_slice(&L);
    let mut r = [0u8; 33];
    for bit in (0..x.len() * 8).rev() {
        // r = 2r + bit
        let mut carry = (x[bit / 8] >> (bit % 8)) & 1;
        for byte in r.iter_mut() {
            let next = *byte >> 7;
            *byte = (*byte << 1) | carry;
            carry = next;
        }
        if ge(&r, &l) {
            let mut borrow = 0i16;
            for (a, b) in r.iter_mut().zip(l) {
                let d = i16::from(*a) - i16::from(b) - borrow;
                borrow = i16::from(d < 0);
                *a = (d + 256 * borrow) as u8;
            }
        }
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(&r[..32]);
    out
}

/// Little-endian product (tests only).
fn mul(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut acc = vec![0u32; a.len() + b.len() + 1];
    for (i, &x) in a.iter().enumerate() {
        let mut carry = 0u32;
        for (j, &y) in b.iter().enumerate() {
            let t = acc[i + j] + u32::from(x) * u32::from(y) + carry;
            acc[i + j] = t & 0xff;
            carry = t >> 8;
        }
        let mut k = i + b.len();
        while carry > 0 {
            let t = acc[k] + carry;
            acc[k] = t & 0xff;
            carry = t >> 8;
            k += 1;
        }
    }
    acc.into_iter().map(|v| v as u8).collect()
}

#[test]
fn verification_is_strict_about_a_small_order_r() {
    // A signature whose R is the identity point: [S]B = R + [k]A holds with
    // S = k·a, so a lax (cofactorless) verifier accepts it; verify_strict
    // refuses small-order R. Built from the private scalar a.
    use sha2::Sha512;
    let seed = [42u8; 32];
    let signing = SigningKey::from_bytes(&seed);
    let public = signing.verifying_key();
    let mut a: [u8; 32] = Sha512::digest(seed)[..32].try_into().expect("32 bytes");
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    let text = "small order R\n";
    let mut r = [0u8; 32];
    r[0] = 1; // the identity point, compressed
    let mut hash = Sha512::new();
    hash.update(r);
    hash.update(public.as_bytes());
    hash.update(text.as_bytes());
    let k = mod_l(&hash.finalize());
    let s = mod_l(&mul(&k, &a));
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r);
    sig[32..].copy_from_slice(&s);
    let signature = ed25519_dalek::Signature::from_bytes(&sig);
    use ed25519_dalek::Verifier as _;
    assert!(
        public.verify(text.as_bytes(), &signature).is_ok(),
        "the lax check accepts it, so this test shows strictness"
    );
    assert!(public.verify_strict(text.as_bytes(), &signature).is_err());

    let signer = Signer::from_seed("k", &seed).expect("valid");
    let note = Note::with_signatures(text, [signature_line("k", signer.key_id(), &sig)])
        .expect("well-formed");
    assert!(matches!(
        note.verify(&[signer.verifier()]),
        Err(NoteError::BadSignature {
            reason: SignatureFailure::Mismatch,
            line: 3,
            ..
        })
    ));
}
