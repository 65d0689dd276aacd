use proptest::prelude::*;

use super::*;

/// C2SP/C2SP tlog-checkpoint.md, commit 5ba5ee830903e91240fc6f9f3a7a9293d49e69c9.
const SPEC_TEXT: &str =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const SPEC_SIGNED: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\
— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

/// transparency-dev/formats log/note_test.go (TestSumDBNoteParsing), commit
/// 0b850f1a7b4a5b70deeacac6535e4b8023809d21.
const SUMDB_VKEY: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
const SUMDB_SIGNED: &str = "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n\
— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n";

/// transparency-dev/witness witness/witness_test.go (mPK, mInit, mNext),
/// commit 54dbcdd14f829a301b24b59f7c547c7dceebafa8: checkpoints of a log
/// whose key is named after its origin.
const MONKEYS_VKEY: &str = "monkeys+db4d9f7e+AULaJMvTtDLHPUcUrjdDad9vDlh/PTfC2VV60JUtCfWT";
const MONKEYS_INIT: &str = "monkeys\n5\n41smjBUiAU70EtKlT6lIOIYtRTYxYXsDB+XHfcvu/BE=\n\n\
— monkeys 202fftzGl3LVoqjXfwCFZZXs8I+5G22+Ek2K0AOyBuSJ/8/CZawNF+6fNlTKOCd622pbzJNkkJFWuw9DbicZCkEx9AY=\n";
const MONKEYS_NEXT: &str = "monkeys\n8\nV8K9aklZ4EPB+RMOk1/8VsJUdFZR77GDtZUQq84vSbo=\n\n\
— monkeys 202ffoUEboiQYpHzICeaFmoy3RNviHTpAxYrq/eO4QQVQMvu9UebKBMX2MJC76NLthZaKsnKbCA8GxrjePZhvDCH7Ag=\n";

fn verifier(vkey: &str) -> Verifier {
    Verifier::parse(vkey).expect("a published vkey")
}

#[test]
fn the_spec_example_parses_and_formats_back() {
    let c = Checkpoint::parse(SPEC_TEXT).expect("the spec's checkpoint");
    assert_eq!(c.origin(), "example.com/behind-the-sofa");
    assert_eq!(c.size(), 20852163);
    assert_eq!(
        hex::encode(c.root()),
        "0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62"
    );
    assert!(c.extensions().is_empty());
    assert_eq!(c.text(), SPEC_TEXT);
    let signed = SignedCheckpoint::parse(SPEC_SIGNED).expect("the spec's signed checkpoint");
    assert_eq!(signed.checkpoint(), &c);
    assert_eq!(signed.format(), SPEC_SIGNED);
}

#[test]
fn real_log_checkpoints_verify() {
    for (note, size) in [(MONKEYS_INIT, 5), (MONKEYS_NEXT, 8)] {
        let signed = SignedCheckpoint::parse(note).expect("parses");
        assert_eq!(signed.checkpoint().size(), size);
        let log = signed.verify(&verifier(MONKEYS_VKEY)).expect("verifies");
        assert_eq!(
            (log.name.as_str(), log.key_id, log.line),
            ("monkeys", 0xdb4d9f7e, 5)
        );
    }
    // The same signature under the other checkpoint's text does not.
    let init = SignedCheckpoint::parse(MONKEYS_INIT).expect("parses");
    let next = SignedCheckpoint::parse(MONKEYS_NEXT).expect("parses");
    let swapped = format!(
        "{}\n{}",
        next.note().text(),
        init.note().signatures()[0].line()
    );
    let swapped = SignedCheckpoint::parse(&swapped).expect("parses");
    assert!(matches!(
        swapped.verify(&verifier(MONKEYS_VKEY)),
        Err(CheckpointError::Note(NoteError::BadSignature {
            line: 5,
            ..
        }))
    ));
}

#[test]
fn a_log_key_named_otherwise_than_the_origin_is_refused() {
    // sum.golang.org signs checkpoints whose origin is "go.sum database
    // tree": a valid note signature, but not a key named after the origin,
    // which runsheet requires of a log key.
    let signed = SignedCheckpoint::parse(SUMDB_SIGNED).expect("parses");
    assert_eq!(signed.checkpoint().origin(), "go.sum database tree");
    assert_eq!(signed.checkpoint().size(), 6476701);
    let sumdb = verifier(SUMDB_VKEY);
    assert!(
        signed.note().verify(std::slice::from_ref(&sumdb)).is_ok(),
        "the note verifies"
    );
    assert_eq!(
        signed
            .verify(&sumdb)
            .expect_err("name is not the origin")
            .to_string(),
        "the log key is named \"sum.golang.org\" but the checkpoint's origin is \"go.sum database tree\"; a log's key must be named after its origin. Check that this is the right log's key"
    );
}

#[test]
fn malformed_checkpoints_are_refused_with_the_right_message() {
    let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
    let cases: Vec<(String, &str)> = vec![
        (
            "o\n5\n".into(),
            "a checkpoint has at least three lines (origin, tree size, root hash), but this one has 2",
        ),
        (
            "\n".into(),
            "a checkpoint has at least three lines (origin, tree size, root hash), but this one has 1",
        ),
        (format!("\n5\n{root}\n"), "line 1: the origin is empty"),
        (
            format!("o\n\n{root}\n"),
            "line 2: the tree size \"\" is not a decimal number (digits 0-9 only)",
        ),
        (
            format!("o\n+5\n{root}\n"),
            "line 2: the tree size \"+5\" is not a decimal number (digits 0-9 only)",
        ),
        (
            format!("o\n-1\n{root}\n"),
            "line 2: the tree size \"-1\" is not a decimal number (digits 0-9 only)",
        ),
        (
            format!("o\n 5\n{root}\n"),
            "line 2: the tree size \" 5\" is not a decimal number (digits 0-9 only)",
        ),
        (
            format!("o\n1e3\n{root}\n"),
            "line 2: the tree size \"1e3\" is not a decimal number (digits 0-9 only)",
        ),
        (
            format!("o\n٣\n{root}\n"),
            "line 2: the tree size \"٣\" is not a decimal number (digits 0-9 only)",
        ),
        (
            format!("o\n05\n{root}\n"),
            "line 2: the tree size \"05\" has a leading zero",
        ),
        (
            format!("o\n00\n{root}\n"),
            "line 2: the tree size \"00\" has a leading zero",
        ),
        (
            format!("o\n18446744073709551616\n{root}\n"),
            "line 2: the tree size \"18446744073709551616\" is larger than 18446744073709551615",
        ),
        (
            "o\n5\nnot base64!\n".into(),
            "line 3: the root hash is not valid base64 (standard alphabet, with \"=\" padding)",
        ),
        (
            format!("o\n5\n{}\n", root.trim_end_matches('=')),
            "line 3: the root hash is not valid base64 (standard alphabet, with \"=\" padding)",
        ),
        // Unused bits set: "2I=" -> "2J=", the same bytes to a lax decoder.
        (
            format!("o\n5\n{}\n", root.replace("2I=", "2J=")),
            "line 3: the root hash is not valid base64 (standard alphabet, with \"=\" padding)",
        ),
        (
            format!("o\n5\n{}\n", BASE64.encode([0u8; 31])),
            "line 3: the root hash is 31 bytes; a SHA-256 root hash is 32",
        ),
        (
            format!("o\n5\n{}\n", BASE64.encode([0u8; 33])),
            "line 3: the root hash is 33 bytes; a SHA-256 root hash is 32",
        ),
        (
            format!("o\n5\n{root}\n\n"),
            "line 4: extension lines may not be empty",
        ),
        (
            format!("o\n5\n{root}\next\n\nmore\n"),
            "line 5: extension lines may not be empty",
        ),
        (
            format!("o\n5\n{root}"),
            "the note does not end with a newline; its text and every signature line end with one",
        ),
        (
            format!("o\t1\n5\n{root}\n"),
            "line 1, column 2: the control character U+0009 is not allowed; a note may contain no control characters other than newline",
        ),
        (
            format!("o\r\n5\n{root}\n"),
            "line 1, column 2: the control character U+000D is not allowed; a note may contain no control characters other than newline",
        ),
    ];
    for (text, message) in &cases {
        let err = Checkpoint::parse(text).expect_err(message);
        assert_eq!(err.to_string(), *message, "for {text:?}");
    }
}

#[test]
fn the_tree_size_spans_u64() {
    let root = BASE64.encode([7u8; 32]);
    for size in [0u64, 1, 10, u64::MAX] {
        let text = format!("o\n{size}\n{root}\n");
        let c = Checkpoint::parse(&text).expect("valid");
        assert_eq!(c.size(), size);
        assert_eq!(c.text(), text);
    }
}

#[test]
fn extension_lines_and_unusual_origins_are_kept() {
    let root = [1u8; 32];
    let c = Checkpoint::with_extensions(
        "Log with spaces + plus — and dashes",
        42,
        root,
        vec!["ext one".into(), "— looks like a signature".into()],
    )
    .expect("valid");
    assert_eq!(
        c.text(),
        format!(
            "Log with spaces + plus — and dashes\n42\n{}\next one\n— looks like a signature\n",
            BASE64.encode(root)
        )
    );
    assert_eq!(Checkpoint::parse(&c.text()), Ok(c));
}

#[test]
fn making_a_checkpoint_checks_each_line() {
    let root = [0u8; 32];
    assert_eq!(
        Checkpoint::new("", 1, root),
        Err(CheckpointError::EmptyOrigin)
    );
    assert_eq!(
        Checkpoint::new("a\nb", 1, root),
        Err(CheckpointError::Newline { line: 1 })
    );
    assert_eq!(
        Checkpoint::with_extensions("o", 1, root, vec!["x".into(), String::new()]),
        Err(CheckpointError::EmptyExtension { line: 5 })
    );
    assert_eq!(
        Checkpoint::with_extensions("o", 1, root, vec!["x\ny".into()]),
        Err(CheckpointError::Newline { line: 4 })
    );
    assert_eq!(
        Checkpoint::new("o\u{7}", 1, root),
        Err(CheckpointError::Note(NoteError::ControlCharacter {
            line: 1,
            column: 2,
            code: 7
        }))
    );
    assert!(matches!(
        Checkpoint::with_extensions("o", 1, root, vec!["x".repeat(note::MAX_NOTE_BYTES)]),
        Err(CheckpointError::Note(NoteError::TooLarge { .. }))
    ));
}

#[test]
fn a_log_signs_and_verifies_its_checkpoint_with_cosignatures() {
    use crate::custody::cosign::Cosigner;
    let log = Signer::from_seed("example.com/log", &[1; 32]).expect("valid");
    let w1 = Cosigner::from_seed("witness.example/w1", &[2; 32]).expect("valid");
    let w2 = Cosigner::from_seed("witness.example/w2", &[3; 32]).expect("valid");
    let checkpoint = Checkpoint::new("example.com/log", 3, [9; 32]).expect("valid");

    let wrong = Signer::from_seed("example.com/other", &[1; 32]).expect("valid");
    assert_eq!(
        SignedCheckpoint::sign(checkpoint.clone(), &wrong),
        Err(CheckpointError::NameNotOrigin {
            key_name: "example.com/other".into(),
            origin: "example.com/log".into(),
        })
    );

    let mut signed =
        SignedCheckpoint::sign(checkpoint.clone(), &log).expect("named after the origin");
    let text = checkpoint.text();
    signed
        .add_signature(&w2.cosign(&text, 1_700_000_002).expect("a checkpoint"))
        .expect("valid line");
    signed
        .add_signature(&w1.cosign(&text, 1_700_000_001).expect("a checkpoint"))
        .expect("valid line");
    let reread = SignedCheckpoint::parse(&signed.format()).expect("parses");
    assert_eq!(reread, signed);

    let result = reread
        .verify_cosigned(&log.verifier(), &[w1.verifier(), w2.verifier()])
        .expect("verifies");
    assert_eq!(
        (result.log.verifier, result.log.line, result.log.timestamp),
        (0, 5, None)
    );
    let got: Vec<_> = result
        .cosignatures
        .iter()
        .map(|v| (v.verifier, v.name.as_str(), v.timestamp, v.line))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "witness.example/w2", Some(1_700_000_002), 6),
            (0, "witness.example/w1", Some(1_700_000_001), 7),
        ]
    );
    // The log's signature alone is enough for verify; witnesses not given
    // are ignored, witnesses that did not sign are absent.
    assert_eq!(reread.verify(&log.verifier()).expect("verifies").line, 5);
    let w3 = Cosigner::from_seed("witness.example/w3", &[4; 32]).expect("valid");
    assert!(
        reread
            .verify_cosigned(&log.verifier(), &[w3.verifier()])
            .expect("verifies")
            .cosignatures
            .is_empty()
    );
}

#[test]
fn cosignatures_without_the_log_signature_are_not_enough() {
    use crate::custody::cosign::Cosigner;
    let log = Signer::from_seed("example.com/log", &[1; 32]).expect("valid");
    let w1 = Cosigner::from_seed("witness.example/w1", &[2; 32]).expect("valid");
    let text = Checkpoint::new("example.com/log", 3, [9; 32])
        .expect("valid")
        .text();
    let note = Note::with_signatures(&text, [w1.cosign(&text, 5).expect("ok")]).expect("valid");
    let signed = SignedCheckpoint::parse(&note.format()).expect("parses");
    let err = signed
        .verify_cosigned(&log.verifier(), &[w1.verifier()])
        .expect_err("no log signature");
    assert_eq!(
        err.to_string(),
        format!(
            "the checkpoint has no signature by the log key example.com/log (key ID {:08x}), only by other known keys",
            log.key_id()
        )
    );
    assert!(matches!(
        signed.verify(&log.verifier()),
        Err(CheckpointError::Note(NoteError::NotVerified { .. }))
    ));
}

#[test]
fn a_signed_note_that_is_not_a_checkpoint_is_refused() {
    let signer = Signer::from_seed("o", &[1; 32]).expect("valid");
    let text = "o\nfive\nroot\n";
    let note = Note::with_signatures(text, [signer.sign(text).expect("ok")]).expect("valid");
    assert_eq!(
        SignedCheckpoint::parse(&note.format())
            .expect_err("not a checkpoint")
            .to_string(),
        "line 2: the tree size \"five\" is not a decimal number (digits 0-9 only)"
    );
}

fn line() -> impl Strategy<Value = String> {
    "[ -~é—ü€]{1,20}"
}

proptest! {
    #[test]
    fn checkpoints_round_trip(
        origin in line(),
        size in any::<u64>(),
        root in any::<[u8; 32]>(),
        extensions in prop::collection::vec(line(), 0..3),
    ) {
        let c = Checkpoint::with_extensions(&origin, size, root, extensions.clone()).expect("valid");
        let text = c.text();
        prop_assert_eq!(Checkpoint::parse(&text), Ok(c.clone()));
        // The independent tlog_tiles crate writes the same bytes.
        let ext: String = extensions.iter().map(|e| format!("{e}\n")).collect();
        let theirs = tlog_tiles::Checkpoint::new(&origin, size, tlog_tiles::Hash(root), &ext)
            .expect("the oracle accepts it");
        prop_assert_eq!(text.into_bytes(), theirs.to_bytes());
    }

    #[test]
    fn parsing_never_panics(s in any::<String>()) {
        let _ = Checkpoint::parse(&s);
        let _ = SignedCheckpoint::parse(&s);
    }

    #[test]
    fn parsing_checkpoint_like_text_never_panics(
        lines in prop::collection::vec(prop_oneof![
            Just(String::new()),
            Just("0".to_owned()),
            "[0-9]{1,22}",
            "[A-Za-z0-9+/=]{40,46}",
            "\\PC{0,10}",
        ], 0..6),
    ) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        if let Ok(c) = Checkpoint::parse(&text) {
            prop_assert_eq!(c.text(), text);
        }
    }
}
