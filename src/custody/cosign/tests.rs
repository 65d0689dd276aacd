use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, VerifyingKey};
use proptest::prelude::*;

use super::*;
use crate::custody::checkpoint::SignedCheckpoint;
use crate::custody::note::{Note, Signer, Verified};
use sha2::Digest as _;

/// C2SP/C2SP tlog-cosignature.md, commit 5ba5ee830903e91240fc6f9f3a7a9293d49e69c9.
const SPEC_TEXT: &str =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const SPEC_MESSAGE: &str = "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const SPEC_COSIGNATURE: &str = "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";

/// A real staging CT log checkpoint with its log signature (0x01), an RFC
/// 6962 signature (0x05) under the same name, and four witnesses'
/// cosignatures (0x04), from florolf/tlog-scales tests/test_signing.py
/// (TestCheckpointSigning), commit dfd5c4bf3b0c9703a6760e52e80e2515ee53f86e.
/// The log's vkey is also listed in transparency-dev/witness-network
/// lists/testing/log-list.1, and remora's in transparency-dev/formats
/// note/note_cosigv1_test.go (TestCoSigV1NewVerifier).
const ARCHE_VKEY: &str =
    "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f";
const REMORA_VKEY: &str = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2";
const ARCHE_TEXT: &str = "arche2025h1.staging.ct.transparency.dev\n1432088532\nU7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=\n";
const ARCHE_SIGNATURES: &str = "\
— arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=
— arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=
— transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==
— witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==
— remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==
— witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==
";
const REMORA_TIMESTAMP: u64 = 1_779_573_024;

fn verifier(vkey: &str) -> Verifier {
    Verifier::parse(vkey).expect("a published vkey")
}

fn arche() -> String {
    format!("{ARCHE_TEXT}\n{ARCHE_SIGNATURES}")
}

#[test]
fn the_signed_message_is_the_specs() {
    assert_eq!(signed_message(1679315147, SPEC_TEXT), SPEC_MESSAGE);
    assert_eq!(
        signed_message(0, "o\n0\nr\n"),
        "cosignature/v1\ntime 0\no\n0\nr\n"
    );
}

#[test]
fn the_spec_example_cosignature_has_the_specs_layout() {
    let line = NoteSignature::parse_line(SPEC_COSIGNATURE).expect("the spec's line");
    assert_eq!(line.name(), "witness.example.com/w1");
    assert_eq!(line.key_id(), 0x8d66cf3f);
    assert_eq!(
        line.bytes().len(),
        72,
        "8-byte timestamp and 64-byte signature"
    );
    assert_eq!(
        unverified_timestamp(&line),
        Some(1679315147),
        "the spec's time line"
    );
}

#[test]
fn a_published_cosignature_timestamp_is_read() {
    // transparency-dev/formats note/note_cosigv1_test.go (TestCoSigV1Timestamp),
    // commit 0b850f1a7b4a5b70deeacac6535e4b8023809d21.
    let line = NoteSignature::parse_line(
        "— w ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==",
    )
    .expect("well-formed");
    assert_eq!(unverified_timestamp(&line), Some(1727964367));
    // Their "wrong type of signature" (an Ed25519 note signature) has none.
    let plain = NoteSignature::parse_line(
        "— w eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY=",
    )
    .expect("well-formed");
    assert_eq!(unverified_timestamp(&plain), None);
}

#[test]
fn a_real_witnessed_checkpoint_verifies_log_and_witness_together() {
    let log = verifier(ARCHE_VKEY);
    let remora = verifier(REMORA_VKEY);
    assert_eq!(remora.kind(), KeyKind::CosignatureEd25519);
    let note = Note::parse(&arche()).expect("parses");
    let verified = note
        .verify(&[remora.clone(), log.clone()])
        .expect("verifies");
    // Line 5 is an RFC 6962 signature under the log's name with another key
    // ID, so an unknown key: ignored. The other witnesses are not known.
    assert_eq!(
        verified,
        vec![
            Verified {
                verifier: 1,
                name: "arche2025h1.staging.ct.transparency.dev".into(),
                key_id: 0xba2f06c0,
                kind: KeyKind::Ed25519,
                timestamp: None,
                line: 6,
            },
            Verified {
                verifier: 0,
                name: "remora.n621.de".into(),
                key_id: 0xda77ade7,
                kind: KeyKind::CosignatureEd25519,
                timestamp: Some(REMORA_TIMESTAMP),
                line: 9,
            },
        ]
    );
    let signed = SignedCheckpoint::parse(&arche()).expect("a checkpoint");
    let result = signed
        .verify_cosigned(&log, std::slice::from_ref(&remora))
        .expect("verifies");
    assert_eq!(result.cosignatures.len(), 1);
    assert_eq!(result.cosignatures[0].timestamp, Some(REMORA_TIMESTAMP));

    let remora_line = ARCHE_SIGNATURES.lines().nth(4).expect("the remora line");
    assert_eq!(
        verify_cosignature(&remora, ARCHE_TEXT, remora_line),
        Ok(REMORA_TIMESTAMP)
    );

    // The same cosignature of another tree size does not verify.
    let changed = ARCHE_TEXT.replace("1432088532", "42");
    assert_eq!(
        verify_cosignature(&remora, &changed, remora_line),
        Err(CosignError::BadSignature {
            name: "remora.n621.de".into(),
            key_id: 0xda77ade7,
            reason: SignatureFailure::Mismatch,
        })
    );
    let tampered = Note::parse(&format!("{changed}\n{ARCHE_SIGNATURES}")).expect("parses");
    assert_eq!(
        tampered
            .verify(&[remora])
            .expect_err("tampered")
            .to_string(),
        "line 9: the signature by remora.n621.de (key ID da77ade7) does not verify: the note was changed after it was signed, or it was signed by another key with the same name and key ID"
    );
}

#[test]
fn a_cosignature_is_the_specs_bytes() {
    let cosigner = Cosigner::from_seed("witness.example/w1", &[6; 32]).expect("valid");
    let line = cosigner
        .cosign(SPEC_TEXT, 1679315147)
        .expect("a checkpoint");
    let encoded = line
        .strip_prefix("— witness.example/w1 ")
        .and_then(|l| l.strip_suffix('\n'))
        .expect("— <name> <base64>\\n");
    let bytes = BASE64.decode(encoded).expect("base64");
    assert_eq!(bytes.len(), 76);
    assert_eq!(bytes[..4], cosigner.key_id().to_be_bytes());
    assert_eq!(bytes[4..12], 1679315147u64.to_be_bytes());
    // Checked with ed25519-dalek directly over the spec's message, not via
    // this module's verifier.
    let public = VerifyingKey::from_bytes(cosigner.verifier().public_key()).expect("a key");
    let signature = Signature::from_slice(&bytes[12..]).expect("64 bytes");
    public
        .verify_strict(SPEC_MESSAGE.as_bytes(), &signature)
        .expect("the signature is over the spec's message");
    // The key ID is the 0x04 one.
    let mut hashed = b"witness.example/w1\n\x04".to_vec();
    hashed.extend_from_slice(public.as_bytes());
    let digest = sha2::Sha256::digest(&hashed);
    assert_eq!(cosigner.key_id().to_be_bytes(), digest[..4]);
    assert_eq!(
        verify_cosignature(&cosigner.verifier(), SPEC_TEXT, &line),
        Ok(1679315147)
    );
}

#[test]
fn cosignatures_cover_extension_lines() {
    // As transparency-dev/formats TestSigCoversExtensionLines.
    let cosigner = Cosigner::from_seed("w", &[6; 32]).expect("valid");
    let text = "test\n123\nf+7CoKgXKE/tNys9TTXcr/ad6U/K3xvznmzew9y6SP0=\nExtendo\n";
    let line = cosigner.cosign(text, 10).expect("a checkpoint");
    assert_eq!(
        verify_cosignature(&cosigner.verifier(), text, &line),
        Ok(10)
    );
    let changed = text.replace("Extendo", "Extend@");
    assert!(verify_cosignature(&cosigner.verifier(), &changed, &line).is_err());
}

#[test]
fn cosigning_refuses_what_is_not_a_checkpoint_and_huge_timestamps() {
    let cosigner = Cosigner::from_seed("w", &[6; 32]).expect("valid");
    assert_eq!(
        cosigner
            .cosign("Note\n\n", 1)
            .expect_err("not a checkpoint")
            .to_string(),
        "the text to cosign is not a checkpoint: a checkpoint has at least three lines (origin, tree size, root hash), but this one has 2"
    );
    assert_eq!(
        cosigner
            .cosign(SPEC_TEXT, MAX_TIMESTAMP + 1)
            .expect_err("too late")
            .to_string(),
        "the timestamp 9223372036854775808 is larger than 2^63-1, the largest a cosignature may carry"
    );
    assert!(cosigner.cosign(SPEC_TEXT, MAX_TIMESTAMP).is_ok());
    assert!(cosigner.cosign(SPEC_TEXT, 0).is_ok());
}

#[test]
fn a_timestamp_above_the_limit_is_refused_on_verification() {
    let cosigner = Cosigner::from_seed("w", &[6; 32]).expect("valid");
    let mut bytes = (MAX_TIMESTAMP + 1).to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0; 64]);
    let line = note::signature_line("w", cosigner.key_id(), &bytes);
    assert_eq!(
        verify_cosignature(&cosigner.verifier(), SPEC_TEXT, &line)
            .expect_err("too large")
            .to_string(),
        format!(
            "the cosignature by w (key ID {:08x}) does not verify: its timestamp 9223372036854775808 is larger than 2^63-1, the largest a cosignature may carry",
            cosigner.key_id()
        )
    );
}

#[test]
fn note_keys_and_cosigner_keys_do_not_mix() {
    let seed = [8; 32];
    let signer = Signer::from_seed("w", &seed).expect("valid");
    let cosigner = Cosigner::from_seed("w", &seed).expect("valid");
    assert_eq!(
        signer.verifier().public_key(),
        cosigner.verifier().public_key()
    );
    assert_ne!(
        signer.key_id(),
        cosigner.key_id(),
        "the type byte is in the key ID"
    );

    // A cosignature is an unknown key's line to the note key, and the other
    // way round: each key verifies only its own kind.
    let line = cosigner.cosign(SPEC_TEXT, 7).expect("ok");
    let note = Note::with_signatures(SPEC_TEXT, [&line]).expect("valid");
    assert!(matches!(
        note.verify(&[signer.verifier()]),
        Err(NoteError::NotVerified { .. })
    ));
    assert_eq!(
        note.verify(&[cosigner.verifier()]).expect("ok")[0].timestamp,
        Some(7)
    );

    assert_eq!(
        verify_cosignature(&signer.verifier(), SPEC_TEXT, &line)
            .expect_err("a note key")
            .to_string(),
        format!(
            "the key w (key ID {:08x}) is a note signing key (type 0x01), not a cosigner key (type 0x04)",
            signer.key_id()
        )
    );
    let other = Cosigner::from_seed("w2", &seed).expect("valid");
    assert!(matches!(
        verify_cosignature(&other.verifier(), SPEC_TEXT, &line),
        Err(CosignError::OtherKey { .. })
    ));

    // A 64-byte line forged under the cosigner's name and key ID is refused
    // for its length, naming both.
    let forged = note::signature_line("w", cosigner.key_id(), &[0; 64]);
    let note = Note::with_signatures(SPEC_TEXT, [&forged]).expect("valid");
    assert_eq!(
        note.verify(&[cosigner.verifier()])
            .expect_err("forged")
            .to_string(),
        format!(
            "line 5: the signature by w (key ID {:08x}) does not verify: an Ed25519 cosignature (type 0x04) is 72 bytes after the key ID, but this one is 64",
            cosigner.key_id()
        )
    );
}

#[test]
fn verification_refuses_bad_input_with_messages() {
    let cosigner = Cosigner::from_seed("w", &[6; 32]).expect("valid");
    let line = cosigner.cosign(SPEC_TEXT, 1).expect("ok");
    assert_eq!(
        verify_cosignature(&cosigner.verifier(), "no newline", &line)
            .expect_err("bad text")
            .to_string(),
        "the note text: the note does not end with a newline; its text and every signature line end with one"
    );
    assert_eq!(
        verify_cosignature(&cosigner.verifier(), SPEC_TEXT, "w AAAA")
            .expect_err("bad line")
            .to_string(),
        "the cosignature line: a signature line must start with \"— \" (an em dash, U+2014, then a space)"
    );
}

#[test]
fn generated_cosigners_work_and_hide_their_key() {
    let c = Cosigner::generate("witness.example/new").expect("random bytes");
    let line = c.cosign(SPEC_TEXT, 99).expect("ok");
    assert_eq!(verify_cosignature(&c.verifier(), SPEC_TEXT, &line), Ok(99));
    assert!(!format!("{c:?}").contains(&hex::encode(c.seed())));
    assert!(Cosigner::generate("bad name").is_err());
}

proptest! {
    #[test]
    fn cosignatures_round_trip(
        seed in any::<[u8; 32]>(),
        timestamp in 0..=MAX_TIMESTAMP,
        size in any::<u64>(),
        root in any::<[u8; 32]>(),
    ) {
        let text = crate::custody::checkpoint::Checkpoint::new("example.com/log", size, root)
            .expect("valid")
            .text();
        let cosigner = Cosigner::from_seed("witness.example/w", &seed).expect("valid");
        let line = cosigner.cosign(&text, timestamp).expect("ok");
        prop_assert_eq!(verify_cosignature(&cosigner.verifier(), &text, &line), Ok(timestamp));
        let note = Note::with_signatures(&text, [&line]).expect("valid");
        let verified = Note::parse(&note.format()).expect("parses").verify(&[cosigner.verifier()]).expect("ok");
        prop_assert_eq!(verified[0].timestamp, Some(timestamp));
    }

    #[test]
    fn verifying_arbitrary_lines_never_panics(line in any::<String>(), text in any::<String>()) {
        let cosigner = Cosigner::from_seed("w", &[6; 32]).expect("valid");
        let _ = verify_cosignature(&cosigner.verifier(), &text, &line);
    }
}
