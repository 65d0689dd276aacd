//! Proof text tests: the specs' examples, one malformed text per rule with the
//! line it is reported on, a proof text verified end to end, and round trips.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;

use super::*;
use crate::custody::merkle::{self, MemoryTree};

/// The example request body of c2sp.org/tlog-witness, "add-checkpoint"
/// (/tmp/specs/tlog-witness.md), without the four spaces of indentation.
const WITNESS_EXAMPLE: &str = "old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
";

/// The example of c2sp.org/tlog-proof (/tmp/specs/tlog-proof.md), verbatim:
/// its signatures are cut short with `[...]`, which this module, keeping the
/// checkpoint as opaque text, does not look at.
const PROOF_EXAMPLE: &str = "c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

— example.com/fancylog hI2DJw[...]1roloI=
— witness1.example mJirIklj[...]qY9v2B/5bg==
— witness2.example TnKKVHLX[...]xwYwrSjgow==
— witness3.example S4X82uH5[...]3oEcROGLFQ==
";

/// The example checkpoint of c2sp.org/tlog-checkpoint, complete with its signature.
const CHECKPOINT: &str = "example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
";

fn b64(s: &str) -> Hash {
    STANDARD.decode(s).unwrap().try_into().unwrap()
}

#[test]
fn the_witness_spec_example_body_parses_and_formats_to_the_same_bytes() {
    let body = AddCheckpoint::parse(WITNESS_EXAMPLE).unwrap();
    assert_eq!(body.old_size, 20852014);
    assert_eq!(
        body.proof,
        vec![
            b64("PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw="),
            b64("jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk="),
            b64("5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8="),
            b64("/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0="),
        ]
    );
    assert!(
        body.checkpoint
            .starts_with("example.com/behind-the-sofa\n20852163\n")
    );
    assert!(body.checkpoint.ends_with("qbSzm9Q=\n"));
    assert_eq!(body.checkpoint.lines().count(), 6);
    assert_eq!(body.format(), WITNESS_EXAMPLE);
}

#[test]
fn the_proof_spec_example_parses_and_formats_to_the_same_bytes() {
    let proof = TlogProof::parse(PROOF_EXAMPLE).unwrap();
    assert_eq!(
        proof.extra.as_deref(),
        Some(&b"age-v1.2.1-darwin-arm64.tar.gz\x91\x85\xc9\xdd\xa5\xb8\xb5\x85\xc9"[..])
    );
    assert_eq!(proof.index, 73894);
    assert_eq!(proof.proof.len(), 5);
    assert_eq!(
        proof.proof[4],
        b64("AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=")
    );
    assert!(
        proof
            .checkpoint
            .starts_with("example.com/fancylog\n109482\n")
    );
    assert_eq!(proof.format(), PROOF_EXAMPLE);
}

#[test]
fn a_complete_proof_text_is_verified_end_to_end() {
    // A log of 10 entries, a tlog-proof for entry 7 with a checkpoint whose
    // third line is the root, and a signature line in the note form (its
    // signature bytes are not checked here): parse it and verify the proof.
    let tree: MemoryTree = (0u8..10).map(|i| merkle::leaf_hash(&[i])).collect();
    let root = tree.root();
    let checkpoint = format!(
        "example.com/runsheet\n10\n{}\n\n— example.com/runsheet {}\n",
        STANDARD.encode(root),
        STANDARD.encode([7u8; 68])
    );
    let proof = TlogProof {
        extra: Some(b"run 42".to_vec()),
        index: 7,
        proof: merkle::inclusion_proof(&tree, 7, 10).unwrap(),
        checkpoint,
    };
    let text = proof.format();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra cnVuIDQy\nindex 7\n"));
    let parsed = TlogProof::parse(&text).unwrap();
    assert_eq!(parsed, proof);
    let mut cp = parsed.checkpoint.lines();
    cp.next();
    let size: u64 = cp.next().unwrap().parse().unwrap();
    let root_line = b64(cp.next().unwrap());
    merkle::verify_inclusion(
        &merkle::leaf_hash(&[7]),
        parsed.index,
        size,
        &parsed.proof,
        &root_line,
    )
    .unwrap();

    // And the consistency proof from 6 entries, as a witness would get it.
    let body = AddCheckpoint {
        old_size: 6,
        proof: merkle::consistency_proof(&tree, 6, 10).unwrap(),
        checkpoint: parsed.checkpoint.clone(),
    };
    let parsed = AddCheckpoint::parse(&body.format()).unwrap();
    assert_eq!(parsed, body);
    let old_root = merkle::root(&tree, 6).unwrap();
    merkle::verify_consistency(6, size, &old_root, &root_line, &parsed.proof).unwrap();
}

#[test]
fn the_size_line_is_a_decimal_and_a_newline() {
    assert_eq!(parse_size_line("0\n"), Ok(0));
    assert_eq!(parse_size_line("20852163\n"), Ok(20852163));
    assert_eq!(parse_size_line("18446744073709551615\n"), Ok(u64::MAX));
    assert_eq!(format_size_line(20852163), "20852163\n");
    assert_eq!(format_size_line(0), "0\n");
}

/// A hash line of `n` bytes.
fn hash_of(n: usize) -> String {
    STANDARD.encode(vec![0xab; n])
}

/// An add-checkpoint body with `n` proof lines.
fn body_with(n: usize) -> String {
    let mut text = "old 3\n".to_owned();
    for _ in 0..n {
        text.push_str(&hash_of(32));
        text.push('\n');
    }
    text.push('\n');
    text.push_str(CHECKPOINT);
    text
}

/// A tlog-proof with `n` proof lines.
fn proof_with(n: usize) -> String {
    let mut text = "c2sp.org/tlog-proof@v1\nindex 3\n".to_owned();
    for _ in 0..n {
        text.push_str(&hash_of(32));
        text.push('\n');
    }
    text.push('\n');
    text.push_str(CHECKPOINT);
    text
}

fn expected(expected: &'static str, found: Option<&str>) -> Problem {
    Problem::Expected {
        expected,
        found: found.map(str::to_owned),
    }
}

const HASH_OR_BLANK: &str =
    "a proof hash (standard base64 of 32 bytes) or the empty line before the checkpoint";
const INDEX: &str = "`index` and the entry's index, as in `index 73894`";
const INDEX_OR_EXTRA: &str =
    "`index` and the entry's index (or first `extra` and base64 extra data)";
const OLD: &str = "`old` and the old tree size, as in `old 20852014`";
const ORIGIN: &str =
    "the checkpoint's first line, its origin (one empty line alone comes before the checkpoint)";

fn not_decimal(what: &'static str, found: &str) -> Problem {
    Problem::NotDecimal {
        what,
        found: found.to_owned(),
    }
}

fn leading_zero(what: &'static str, found: &str) -> Problem {
    Problem::LeadingZero {
        what,
        found: found.to_owned(),
    }
}

#[test]
fn each_malformed_add_checkpoint_body_is_refused_on_its_line() {
    let h = hash_of(32);
    let cp = CHECKPOINT;
    let cases: Vec<(&str, String, usize, Problem)> = vec![
        ("empty text", String::new(), 1, expected(OLD, None)),
        (
            "leading zero",
            format!("old 05\n\n{cp}"),
            1,
            leading_zero("old tree size", "05"),
        ),
        (
            "zero written twice",
            format!("old 00\n\n{cp}"),
            1,
            leading_zero("old tree size", "00"),
        ),
        (
            "a sign",
            format!("old +5\n\n{cp}"),
            1,
            not_decimal("old tree size", "+5"),
        ),
        (
            "a negative size",
            format!("old -1\n\n{cp}"),
            1,
            not_decimal("old tree size", "-1"),
        ),
        (
            "no size",
            format!("old \n\n{cp}"),
            1,
            not_decimal("old tree size", ""),
        ),
        (
            "two spaces",
            format!("old  5\n\n{cp}"),
            1,
            not_decimal("old tree size", " 5"),
        ),
        (
            "trailing garbage after the size",
            format!("old 5 x\n\n{cp}"),
            1,
            not_decimal("old tree size", "5 x"),
        ),
        (
            "larger than u64",
            format!("old 18446744073709551616\n\n{cp}"),
            1,
            Problem::TooLarge {
                what: "old tree size",
                found: "18446744073709551616".to_owned(),
            },
        ),
        (
            "no old line",
            format!("{h}\n\n{cp}"),
            1,
            expected(OLD, Some(&h)),
        ),
        (
            "capitalised",
            format!("Old 5\n\n{cp}"),
            1,
            expected(OLD, Some("Old 5")),
        ),
        (
            "missing blank line",
            format!("old 5\n{h}\n{cp}"),
            3,
            expected(HASH_OR_BLANK, Some("example.com/behind-the-sofa")),
        ),
        (
            "64 proof lines",
            body_with(64),
            65,
            Problem::TooManyHashes {
                max: 63,
                what: "consistency proof",
                why: "the witness protocol allows at most 63",
            },
        ),
        (
            "a 31-byte hash",
            format!("old 5\n{h}\n{}\n\n{cp}", hash_of(31)),
            3,
            Problem::HashLength {
                found: hash_of(31),
                bytes: 31,
            },
        ),
        (
            "a 33-byte hash",
            format!("old 5\n{}\n\n{cp}", hash_of(33)),
            2,
            Problem::HashLength {
                found: hash_of(33),
                bytes: 33,
            },
        ),
        (
            "bad base64",
            format!("old 5\n!!!!PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDD=\n\n{cp}"),
            2,
            expected(
                HASH_OR_BLANK,
                Some("!!!!PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDD="),
            ),
        ),
        (
            "URL-safe base64",
            format!("old 5\n_6WVhPs2CwSsb5rYBH5cjHV_wSmA79abXAwhXw3Kj_0=\n\n{cp}"),
            2,
            expected(
                HASH_OR_BLANK,
                Some("_6WVhPs2CwSsb5rYBH5cjHV_wSmA79abXAwhXw3Kj_0="),
            ),
        ),
        (
            "base64 without padding",
            format!("old 5\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw\n\n{cp}"),
            2,
            Problem::NotCanonical {
                found: "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw".to_owned(),
                canonical: "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=".to_owned(),
            },
        ),
        (
            "base64 with unused bits set",
            format!("old 5\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkax=\n\n{cp}"),
            2,
            Problem::NotCanonical {
                found: "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkax=".to_owned(),
                canonical: "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=".to_owned(),
            },
        ),
        (
            "trailing space after a hash",
            format!("old 5\n{h} \n\n{cp}"),
            2,
            expected(HASH_OR_BLANK, Some(&format!("{h} "))),
        ),
        (
            "CRLF line ends",
            WITNESS_EXAMPLE.replace('\n', "\r\n"),
            1,
            Problem::CarriageReturn,
        ),
        (
            "a carriage return in the checkpoint",
            "old 5\n\nexample.com/log\r\n2\n".to_owned(),
            3,
            Problem::CarriageReturn,
        ),
        (
            "missing final newline",
            WITNESS_EXAMPLE.trim_end_matches('\n').to_owned(),
            12,
            Problem::NoFinalNewline,
        ),
        (
            "missing newline on the old line",
            "old 5".to_owned(),
            1,
            Problem::NoFinalNewline,
        ),
        (
            "ends after the old line",
            "old 5\n".to_owned(),
            2,
            expected("a proof hash or the empty line before the checkpoint", None),
        ),
        (
            "ends after the proof",
            format!("old 5\n{h}\n"),
            3,
            expected("a proof hash or the empty line before the checkpoint", None),
        ),
        (
            "no checkpoint",
            format!("old 5\n{h}\n\n"),
            4,
            expected("the checkpoint after the empty line", None),
        ),
        (
            "two empty lines",
            format!("old 5\n\n\n{cp}"),
            3,
            expected(ORIGIN, Some("")),
        ),
    ];
    for (name, text, line, problem) in cases {
        assert_eq!(
            AddCheckpoint::parse(&text),
            Err(ProofTextError { line, problem }),
            "{name}"
        );
    }
    // The limit itself is allowed.
    assert_eq!(
        AddCheckpoint::parse(&body_with(63)).unwrap().proof.len(),
        63
    );
    assert_eq!(AddCheckpoint::parse(&body_with(0)).unwrap().proof.len(), 0);
    assert_eq!(
        AddCheckpoint::parse(&format!("old 18446744073709551615\n\n{cp}"))
            .unwrap()
            .old_size,
        u64::MAX
    );
    assert_eq!(
        AddCheckpoint::parse(&format!("old 0\n\n{cp}"))
            .unwrap()
            .old_size,
        0
    );
}

#[test]
fn each_malformed_tlog_proof_is_refused_on_its_line() {
    let h = hash_of(32);
    let cp = CHECKPOINT;
    let head = "c2sp.org/tlog-proof@v1";
    let cases: Vec<(&str, String, usize, Problem)> = vec![
        (
            "empty text",
            String::new(),
            1,
            expected("`c2sp.org/tlog-proof@v1`", None),
        ),
        (
            "another version",
            format!("c2sp.org/tlog-proof@v2\nindex 1\n\n{cp}"),
            1,
            expected("`c2sp.org/tlog-proof@v1`", Some("c2sp.org/tlog-proof@v2")),
        ),
        (
            "a byte order mark",
            format!("\u{feff}{head}\nindex 1\n\n{cp}"),
            1,
            expected(
                "`c2sp.org/tlog-proof@v1`",
                Some("\u{feff}c2sp.org/tlog-proof@v1"),
            ),
        ),
        (
            "leading zero",
            format!("{head}\nindex 01\n\n{cp}"),
            2,
            leading_zero("index", "01"),
        ),
        (
            "leading zero after extra",
            format!("{head}\nextra AA==\nindex 01\n\n{cp}"),
            3,
            leading_zero("index", "01"),
        ),
        (
            "trailing garbage after the index",
            format!("{head}\nindex 7\t\n\n{cp}"),
            2,
            not_decimal("index", "7\t"),
        ),
        (
            "no index line",
            format!("{head}\n{h}\n\n{cp}"),
            2,
            expected(INDEX_OR_EXTRA, Some(&h)),
        ),
        (
            "extra without a space",
            format!("{head}\nextra\nindex 1\n\n{cp}"),
            2,
            expected(INDEX_OR_EXTRA, Some("extra")),
        ),
        (
            "extra after the index",
            format!("{head}\nindex 1\nextra AA==\n\n{cp}"),
            3,
            expected(HASH_OR_BLANK, Some("extra AA==")),
        ),
        (
            "extra twice",
            format!("{head}\nextra AA==\nextra AA==\nindex 1\n\n{cp}"),
            3,
            expected(INDEX, Some("extra AA==")),
        ),
        (
            "empty extra",
            format!("{head}\nextra \nindex 1\n\n{cp}"),
            2,
            Problem::EmptyExtra,
        ),
        (
            "extra not base64",
            format!("{head}\nextra a b\nindex 1\n\n{cp}"),
            2,
            Problem::NotBase64 {
                what: "extra data",
                found: "a b".to_owned(),
            },
        ),
        (
            "extra not canonical",
            format!("{head}\nextra AB==\nindex 1\n\n{cp}"),
            2,
            Problem::NotCanonical {
                found: "AB==".to_owned(),
                canonical: "AA==".to_owned(),
            },
        ),
        (
            "ends after the extra line",
            format!("{head}\nextra AA==\n"),
            3,
            expected(INDEX, None),
        ),
        (
            "65 proof lines",
            proof_with(65),
            67,
            Problem::TooManyHashes {
                max: 64,
                what: "inclusion proof",
                why: "no tree of up to 18446744073709551615 leaves has a longer inclusion proof",
            },
        ),
        (
            "a 31-byte hash",
            format!("{head}\nindex 1\n{}\n\n{cp}", hash_of(31)),
            3,
            Problem::HashLength {
                found: hash_of(31),
                bytes: 31,
            },
        ),
        (
            "missing blank line",
            format!("{head}\nindex 1\n{h}\n{cp}"),
            4,
            expected(HASH_OR_BLANK, Some("example.com/behind-the-sofa")),
        ),
        (
            "CRLF line ends",
            PROOF_EXAMPLE.replace('\n', "\r\n"),
            1,
            Problem::CarriageReturn,
        ),
        (
            "a carriage return in a signature line",
            PROOF_EXAMPLE.replace("1roloI=\n", "1roloI=\r\n"),
            14,
            Problem::CarriageReturn,
        ),
        (
            "missing final newline",
            PROOF_EXAMPLE.trim_end_matches('\n').to_owned(),
            17,
            Problem::NoFinalNewline,
        ),
        (
            "two empty lines",
            format!("{head}\nindex 1\n\n\n{cp}"),
            4,
            expected(ORIGIN, Some("")),
        ),
        (
            "no checkpoint",
            format!("{head}\nindex 1\n\n"),
            4,
            expected("the checkpoint after the empty line", None),
        ),
    ];
    for (name, text, line, problem) in cases {
        assert_eq!(
            TlogProof::parse(&text),
            Err(ProofTextError { line, problem }),
            "{name}"
        );
    }
    assert_eq!(TlogProof::parse(&proof_with(64)).unwrap().proof.len(), 64);
}

#[test]
fn each_malformed_size_line_is_refused_on_its_line() {
    let cases: [(&str, usize, Problem); 9] = [
        ("", 1, expected("the tree size", None)),
        ("5", 1, Problem::NoFinalNewline),
        ("05\n", 1, leading_zero("tree size", "05")),
        ("5 \n", 1, not_decimal("tree size", "5 ")),
        ("\n", 1, not_decimal("tree size", "")),
        ("5\r\n", 1, Problem::CarriageReturn),
        (
            "5\n\n",
            2,
            expected("the end of the text after the size line", Some("")),
        ),
        (
            "5\nold 4",
            2,
            expected("the end of the text after the size line", Some("old 4")),
        ),
        (
            "99999999999999999999\n",
            1,
            Problem::TooLarge {
                what: "tree size",
                found: "99999999999999999999".to_owned(),
            },
        ),
    ];
    for (text, line, problem) in cases {
        assert_eq!(
            parse_size_line(text),
            Err(ProofTextError { line, problem }),
            "{text:?}"
        );
    }
}

#[test]
fn error_messages_name_the_line_and_what_was_expected() {
    let err = |text: &str| AddCheckpoint::parse(text).unwrap_err().to_string();
    assert_eq!(
        err("old 05\n\nx\n"),
        "line 1: the old tree size \"05\" has a leading zero: numbers are written without leading zeroes (zero as `0`)"
    );
    assert_eq!(
        err(&format!("old 5\n{}\nx\n", hash_of(32))),
        "line 3: expected a proof hash (standard base64 of 32 bytes) or the empty line before the checkpoint, found \"x\""
    );
    assert_eq!(
        err(&body_with(64)),
        "line 65: more than 63 consistency proof lines: the witness protocol allows at most 63"
    );
    assert_eq!(
        err(&format!("old 5\n{}\n\nx\n", hash_of(31))),
        format!(
            "line 2: \"{}\" decodes to 31 bytes, but a SHA-256 hash has 32",
            hash_of(31)
        )
    );
    assert_eq!(
        err("old 5\r\n"),
        "line 1: the line holds a carriage return (\\r): lines end in a newline (\\n) alone, not \\r\\n"
    );
    assert_eq!(
        err("old 5\n\nx"),
        "line 3: the line does not end in a newline: every line, the last one too, must end in a newline (\\n)"
    );
    assert_eq!(
        err("old 5\n"),
        "line 2: expected a proof hash or the empty line before the checkpoint, but the text ends here"
    );
    assert_eq!(
        err("old 99999999999999999999\n"),
        "line 1: the old tree size 99999999999999999999 is larger than 18446744073709551615, the largest there can be"
    );
    assert_eq!(
        err("old 5\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw\n\nx\n"),
        "line 2: \"PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw\" is not the canonical base64 of its bytes, which is \"PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\" (padding and unused bits must be exactly as an encoder writes them)"
    );
    // Long or odd lines are quoted short and escaped.
    let long = format!("old 5 {}\u{1b}\n", "x".repeat(100));
    let msg = err(&long);
    assert!(
        msg.starts_with("line 1: the old tree size \"5 xxx"),
        "{msg}"
    );
    assert!(msg.contains("x…\" is not a decimal number"), "{msg}");
    assert!(!msg.contains('\u{1b}'));
    let msg = err("old 5\u{1b}[2J\n");
    assert!(msg.contains("\\u{1b}"), "{msg}");
}

// --- Properties -------------------------------------------------------------

fn hash_strategy() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>()
}

/// A checkpoint-like text: a non-empty first line, more lines (empty ones
/// too), each ending in a newline, none with a carriage return.
fn checkpoint_strategy() -> impl Strategy<Value = String> {
    (
        "[a-z0-9./-]{1,30}",
        prop::collection::vec("[ -~—é]{0,40}", 0..8),
    )
        .prop_map(|(origin, lines)| {
            let mut text = origin + "\n";
            for line in lines {
                text.push_str(&line);
                text.push('\n');
            }
            text
        })
}

fn tlog_proof_strategy() -> impl Strategy<Value = TlogProof> {
    (
        prop::option::of(prop::collection::vec(any::<u8>(), 1..60)),
        prop_oneof![any::<u64>(), 0u64..10, Just(u64::MAX)],
        prop::collection::vec(hash_strategy(), 0..=MAX_INCLUSION_PROOF_LINES),
        checkpoint_strategy(),
    )
        .prop_map(|(extra, index, proof, checkpoint)| TlogProof {
            extra,
            index,
            proof,
            checkpoint,
        })
}

fn add_checkpoint_strategy() -> impl Strategy<Value = AddCheckpoint> {
    (
        prop_oneof![any::<u64>(), 0u64..10, Just(u64::MAX)],
        prop::collection::vec(hash_strategy(), 0..=MAX_CONSISTENCY_PROOF_LINES),
        checkpoint_strategy(),
    )
        .prop_map(|(old_size, proof, checkpoint)| AddCheckpoint {
            old_size,
            proof,
            checkpoint,
        })
}

/// An edit to a text: cut a range, insert a snippet, or both.
fn edit(text: &str, at: usize, cut: usize, insert: &str) -> String {
    let mut a = at % (text.len() + 1);
    while !text.is_char_boundary(a) {
        a -= 1;
    }
    let mut b = (a + cut).min(text.len());
    while !text.is_char_boundary(b) {
        b += 1;
    }
    format!("{}{insert}{}", &text[..a], &text[b..])
}

const SNIPPET: &str = "[\n\r 0-9A-Za-z+/=—-]{0,6}|extra |index |old |\n\n|=";

fn fuzz_cases(default: u32) -> u32 {
    std::env::var("RUNSHEET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fuzz_cases(256)))]

    /// Every valid value formats to a text that parses back to it.
    #[test]
    fn a_tlog_proof_round_trips(proof in tlog_proof_strategy()) {
        let text = proof.format();
        prop_assert_eq!(TlogProof::parse(&text), Ok(proof));
    }

    #[test]
    fn an_add_checkpoint_body_round_trips(body in add_checkpoint_strategy()) {
        let text = body.format();
        prop_assert_eq!(AddCheckpoint::parse(&text), Ok(body));
    }

    #[test]
    fn a_size_line_round_trips(size: u64) {
        prop_assert_eq!(parse_size_line(&format_size_line(size)), Ok(size));
    }

    /// Any edit of a valid text parses to something that formats back to
    /// exactly the edited bytes, or is refused with a line inside the text
    /// (or the one just after it): one text per value, and no panics.
    #[test]
    fn an_edited_text_is_refused_or_formats_to_the_same_bytes(
        proof in tlog_proof_strategy(), body in add_checkpoint_strategy(),
        at: usize, cut in 0usize..50, insert in SNIPPET,
    ) {
        let text = edit(&proof.format(), at, cut, &insert);
        let lines = text.split('\n').count();
        match TlogProof::parse(&text) {
            Ok(p) => prop_assert_eq!(p.format(), text),
            Err(e) => prop_assert!(e.line >= 1 && e.line <= lines, "{e} in {} lines", lines),
        }
        let text = edit(&body.format(), at, cut, &insert);
        let lines = text.split('\n').count();
        match AddCheckpoint::parse(&text) {
            Ok(b) => prop_assert_eq!(b.format(), text),
            Err(e) => prop_assert!(e.line >= 1 && e.line <= lines, "{e} in {} lines", lines),
        }
        let text = edit(&format_size_line(at as u64), at, cut, &insert);
        if let Ok(size) = parse_size_line(&text) {
            prop_assert_eq!(format_size_line(size), text);
        }
    }

    /// Any text at all: no panics, and what parses formats back to itself.
    #[test]
    fn any_text_is_refused_or_formats_to_the_same_bytes(text in any::<String>()) {
        if let Ok(p) = TlogProof::parse(&text) {
            prop_assert_eq!(p.format(), text.clone());
        }
        if let Ok(b) = AddCheckpoint::parse(&text) {
            prop_assert_eq!(b.format(), text.clone());
        }
        if let Ok(size) = parse_size_line(&text) {
            prop_assert_eq!(format_size_line(size), text);
        }
    }

    /// Junk in place of any line before the checkpoint (header, extra, index
    /// or old line, proof lines, the empty line) is reported on that line, and
    /// so is a carriage return on any line at all, the checkpoint's included.
    #[test]
    fn a_broken_line_is_reported_on_its_line(
        proof in tlog_proof_strategy(), body in add_checkpoint_strategy(), pick: usize,
    ) {
        for (text, is_proof) in [(proof.format(), true), (body.format(), false)] {
            let lines: Vec<&str> = text.split_terminator('\n').collect();
            let before = lines.iter().position(|l| l.is_empty()).unwrap() + 1;
            let parse = |t: &str| {
                if is_proof {
                    TlogProof::parse(t).map(|_| ())
                } else {
                    AddCheckpoint::parse(t).map(|_| ())
                }
            };
            let k = pick % before;
            let mut junk = lines.clone();
            junk[k] = "x y";
            let junk = junk.join("\n") + "\n";
            let err = parse(&junk).unwrap_err();
            prop_assert_eq!(err.line, k + 1, "{}", err);

            let k = pick % lines.len();
            let mut cr = lines.clone();
            let with_cr = format!("{}\r", cr[k]);
            cr[k] = &with_cr;
            let cr = cr.join("\n") + "\n";
            prop_assert_eq!(
                parse(&cr),
                Err(ProofTextError { line: k + 1, problem: Problem::CarriageReturn })
            );
        }
    }
}
