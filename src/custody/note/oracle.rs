//! Differential tests against Cloudflare's `signed_note` crate (an
//! independent Rust port of Go's `sumdb/note`, on ed25519-dalek 2): keys,
//! signatures, parsing and verification must agree.

use proptest::prelude::*;
use signed_note::{Signer as _, Verifier as _};

use super::tests::note_text;
use super::*;

fn oracle_verifier(vkey: &str) -> signed_note::StandardVerifier {
    signed_note::StandardVerifier::new(vkey).expect("the oracle reads our vkey")
}

fn oracle_list(vkeys: &[String]) -> signed_note::VerifierList {
    signed_note::VerifierList::new(
        vkeys
            .iter()
            .map(|v| Box::new(oracle_verifier(v)) as Box<dyn signed_note::Verifier>)
            .collect(),
    )
}

/// The oracle's verdict on a note: the (name, key ID) pairs it verified.
fn oracle_verify(note: &[u8], vkeys: &[String]) -> Option<Vec<(String, u32)>> {
    let note = signed_note::Note::from_bytes(note).ok()?;
    let (verified, _) = note.verify(&oracle_list(vkeys)).ok()?;
    Some(
        verified
            .iter()
            .map(|s| (s.name().to_owned(), s.id()))
            .collect(),
    )
}

fn our_verify(note: &[u8], vkeys: &[String]) -> Option<Vec<(String, u32)>> {
    let known: Vec<Verifier> = vkeys
        .iter()
        .map(|v| Verifier::parse(v).expect("ours"))
        .collect();
    let verified = Note::parse_bytes(note).ok()?.verify(&known).ok()?;
    Some(verified.into_iter().map(|v| (v.name, v.key_id)).collect())
}

fn key_name() -> impl Strategy<Value = String> {
    "[!-*,-~é—]{1,12}"
}

fn seeded(name: &str, seed: [u8; 32], i: usize) -> Signer {
    let mut s = seed;
    s[31] ^= i as u8;
    Signer::from_seed(name, &s).expect("valid name")
}

/// A signed note by distinct keys, the vkeys of a subset of them, and the
/// note's bytes.
fn signed_case() -> impl Strategy<Value = (String, Vec<String>, Vec<bool>)> {
    (
        note_text(),
        prop::collection::vec(key_name(), 1..5),
        any::<[u8; 32]>(),
        prop::collection::vec(any::<bool>(), 5),
    )
        .prop_map(|(text, names, seed, known_mask)| {
            let signers: Vec<Signer> = names
                .iter()
                .enumerate()
                .map(|(i, n)| seeded(n, seed, i))
                .collect();
            let lines: Vec<String> = signers
                .iter()
                .map(|s| s.sign(&text).expect("valid"))
                .collect();
            let note = Note::with_signatures(&text, &lines)
                .expect("valid")
                .format();
            let vkeys = signers.iter().map(|s| s.verifier().to_vkey()).collect();
            (note, vkeys, known_mask)
        })
}

#[test]
fn gos_vectors_agree_in_both() {
    let skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    let theirs = signed_note::StandardSigner::new(skey).expect("oracle reads Go's key");
    let ours = crate::custody::key::PrivateKey::parse(skey).expect("we read Go's key");
    assert_eq!(theirs.key_id(), ours.key_id());
    assert_eq!(theirs.name(), ours.name());
}

proptest! {
    #[test]
    fn key_ids_vkeys_and_private_keys_agree(name in key_name(), seed in any::<[u8; 32]>()) {
        let ours = Signer::from_seed(&name, &seed).expect("valid");
        let v = ours.verifier();
        let mut typed = vec![TYPE_ED25519];
        typed.extend_from_slice(v.public_key());
        prop_assert_eq!(signed_note::key_id(&name, &typed), ours.key_id());
        let theirs = oracle_verifier(&v.to_vkey());
        prop_assert_eq!(theirs.name(), name.as_str());
        prop_assert_eq!(theirs.key_id(), ours.key_id());
        let their_signer = signed_note::StandardSigner::new(&ours.private_key_text())
            .expect("the oracle reads our private key text");
        prop_assert_eq!(their_signer.key_id(), ours.key_id());
        prop_assert_eq!(signed_note::is_key_name_valid(&name), check_key_name(&name).is_ok());
    }

    #[test]
    fn our_notes_verify_with_theirs((note, vkeys, _) in signed_case()) {
        let verified = oracle_verify(note.as_bytes(), &vkeys).expect("the oracle verifies");
        prop_assert_eq!(verified.len(), vkeys.len());
        prop_assert_eq!(Some(verified), our_verify(note.as_bytes(), &vkeys));
    }

    #[test]
    fn their_notes_are_ours_byte_for_byte(
        text in note_text(),
        names in prop::collection::vec(key_name(), 1..4),
        seed in any::<[u8; 32]>(),
    ) {
        let ours: Vec<Signer> = names.iter().enumerate().map(|(i, n)| seeded(n, seed, i)).collect();
        let theirs: Vec<signed_note::StandardSigner> = ours
            .iter()
            .map(|s| signed_note::StandardSigner::new(&s.private_key_text()).expect("oracle key"))
            .collect();
        let mut their_note = signed_note::Note::new(text.as_bytes(), &[]).expect("valid text");
        let refs: Vec<&dyn signed_note::Signer> = theirs.iter().map(|s| s as &dyn signed_note::Signer).collect();
        their_note.add_sigs(&refs).expect("oracle signs");
        let their_bytes = their_note.to_bytes();

        let lines: Vec<String> = ours.iter().map(|s| s.sign(&text).expect("valid")).collect();
        let our_note = Note::with_signatures(&text, &lines).expect("valid");
        prop_assert_eq!(our_note.format().into_bytes(), their_bytes.clone());

        let known: Vec<Verifier> = ours.iter().map(Signer::verifier).collect();
        let parsed = Note::parse_bytes(&their_bytes).expect("we read their note");
        prop_assert_eq!(parsed.verify(&known).expect("we verify their note").len(), known.len());
    }

    #[test]
    fn tampering_fails_in_both(
        (note, vkeys, _) in signed_case(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let mut bytes = note.into_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        // A changed text fails everywhere; a changed signature line fails or
        // (if its name or key ID changed) becomes an unknown key's line that
        // both ignore. Never do all keys still verify.
        let ours = our_verify(&bytes, &vkeys);
        prop_assert_eq!(oracle_verify(&bytes, &vkeys), ours.clone());
        prop_assert!(ours.as_ref().is_none_or(|v| v.len() < vkeys.len()), "still verifies: {:?}", ours);
    }

    #[test]
    fn verification_agrees_on_subsets_of_known_keys((note, vkeys, mask) in signed_case()) {
        let known: Vec<String> = vkeys
            .iter()
            .zip(&mask)
            .filter(|(_, keep)| **keep)
            .map(|(v, _)| v.clone())
            .collect();
        prop_assert_eq!(oracle_verify(note.as_bytes(), &known), our_verify(note.as_bytes(), &known));
    }

    #[test]
    fn parsers_agree_on_what_is_a_note(
        (note, _, _) in signed_case(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..4, edit_piece()), 0..4),
    ) {
        let mut s = note.into_bytes();
        for (at, what, piece) in edits {
            let i = at.index(s.len() + 1);
            match what {
                0 => { s.insert(i.min(s.len()), piece.as_bytes().first().copied().unwrap_or(b'x')); }
                1 => { if i < s.len() { s.remove(i); } }
                2 => { let tail = s.split_off(i.min(s.len())); s.extend_from_slice(piece.as_bytes()); s.extend(tail); }
                _ => { if i < s.len() { s[i] ^= 0x20; } }
            }
        }
        let ours = Note::parse_bytes(&s);
        let theirs = signed_note::Note::from_bytes(&s);
        prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "ours: {:?}", ours);
        if let (Ok(ours), Ok(theirs)) = (ours, theirs) {
            prop_assert_eq!(ours.format().into_bytes(), theirs.to_bytes());
            prop_assert_eq!(ours.text().as_bytes(), theirs.text());
        }
    }
}

fn edit_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\n".to_owned()),
        Just("\n\n".to_owned()),
        Just("— ".to_owned()),
        Just(" ".to_owned()),
        Just("+".to_owned()),
        Just("=".to_owned()),
        Just("\u{a0}".to_owned()),
        Just("— k AAAAAAA=\n".to_owned()),
        Just("— k AAAAAA==\n".to_owned()),
        "[A-Za-z0-9+/=]{1,8}",
        "\\PC{1,3}",
    ]
}
