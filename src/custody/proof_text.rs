//! The text forms of proofs: the C2SP tlog-proof (an inclusion proof with its
//! checkpoint), the tlog-witness add-checkpoint request body (a consistency
//! proof with its checkpoint) and the witness's 409 response body (a tree
//! size), parsed strictly and formatted byte for byte.
//!
//! May not depend on anything in the crate outside `custody` (it uses only
//! `merkle::Hash`).
//!
//! # The formats (exact bytes)
//!
//! Every line ends in a newline (0x0A), the last one too; no line holds a
//! carriage return (0x0D), the checkpoint's lines included. A decimal number is
//! ASCII digits with no sign and no leading zero (zero is `0`) and fits in a
//! `u64`. A hash is the standard base64 (RFC 4648 §4, with `=` padding) of 32
//! bytes: 44 characters, canonical (the encoding of the bytes it decodes to, so
//! the unused low bits of the last character are zero).
//!
//! c2sp.org/tlog-proof@v1 ([`TlogProof`]), one item per line:
//! 1. `c2sp.org/tlog-proof@v1`;
//! 2. only when there is extra data: `extra`, a space and the canonical
//!    standard base64 of the extra bytes (at least one byte; with none, the
//!    line is left out);
//! 3. `index`, a space and the entry's index in decimal;
//! 4. zero to 64 hashes, the inclusion proof from the leaf's sibling up
//!    (RFC 9162 §2.1.3.1; no `u64` tree has a longer one);
//! 5. an empty line;
//! 6. the checkpoint, verbatim to the end of the text: at least one line, the
//!    first not empty (a checkpoint's origin), each ending in a newline.
//!
//! The tlog-witness add-checkpoint body ([`AddCheckpoint`]):
//! 1. `old`, a space and the old tree size in decimal;
//! 2. zero to 63 hashes, the consistency proof (RFC 9162 §2.1.4.1);
//! 3. an empty line;
//! 4. the checkpoint, as above.
//!
//! The 409 Conflict body ([`parse_size_line`], [`format_size_line`]): the tree
//! size in decimal and a newline, and nothing else.
//!
//! The checkpoint is kept as opaque text here (its signed note is parsed by
//! `note` and `checkpoint`). `format` writes the fields as they are: a value
//! `parse` would refuse (a checkpoint without its final newline, too many
//! hashes, empty extra data) gives a text `parse` refuses. For every text
//! `parse` accepts, `format` gives back the same bytes.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

use super::merkle::Hash;

#[cfg(test)]
mod tests;

/// The first line of a tlog-proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// The most inclusion proof lines a tlog-proof may have: the longest
/// inclusion proof in a tree of up to `u64::MAX` leaves.
pub const MAX_INCLUSION_PROOF_LINES: usize = 64;

/// The most consistency proof lines an add-checkpoint body may have
/// (c2sp.org/tlog-witness: "The client MUST NOT send more than 63").
pub const MAX_CONSISTENCY_PROOF_LINES: usize = 63;

/// A C2SP tlog-proof: an entry's index and inclusion proof, with the
/// checkpoint the proof leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque application data from the `extra` line (not authenticated).
    pub extra: Option<Vec<u8>>,
    /// The zero-based index of the entry in the log.
    pub index: u64,
    /// The inclusion proof, from the leaf's sibling up.
    pub proof: Vec<Hash>,
    /// The checkpoint note verbatim, signatures included.
    pub checkpoint: String,
}

/// The body of a tlog-witness add-checkpoint request: the size the witness
/// last cosigned, a consistency proof from it, and the new checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The tree size of the previous checkpoint (0 for none).
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The checkpoint note verbatim, signatures included.
    pub checkpoint: String,
}

/// Why a text is not a well-formed proof text: the line (counting from 1) and
/// what was wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ProofTextError {
    /// The line the problem is on, counting from 1; for a text that ends too
    /// early, the line that is missing.
    pub line: usize,
    pub problem: Problem,
}

/// What was wrong on a line of a proof text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Something else was there (or nothing: `found` is `None` at the end of the text).
    #[error("expected {expected}, {}", found_text(.found))]
    Expected {
        expected: &'static str,
        found: Option<String>,
    },
    /// The text ends without a newline.
    #[error(
        "the line does not end in a newline: every line, the last one too, must end in a newline (\\n)"
    )]
    NoFinalNewline,
    /// A carriage return in a line.
    #[error(
        "the line holds a carriage return (\\r): lines end in a newline (\\n) alone, not \\r\\n"
    )]
    CarriageReturn,
    /// A number with something other than digits.
    #[error(
        "the {what} {found:?} is not a decimal number: only the digits 0-9, with no sign or spaces"
    )]
    NotDecimal { what: &'static str, found: String },
    /// A number with a leading zero.
    #[error(
        "the {what} {found:?} has a leading zero: numbers are written without leading zeroes (zero as `0`)"
    )]
    LeadingZero { what: &'static str, found: String },
    /// A number larger than `u64::MAX`.
    #[error("the {what} {found} is larger than 18446744073709551615, the largest there can be")]
    TooLarge { what: &'static str, found: String },
    /// Not base64 at all.
    #[error("{found:?} is not standard base64 (RFC 4648 §4, with `=` padding), as {what} must be")]
    NotBase64 { what: &'static str, found: String },
    /// Base64 that decodes but is not the one canonical encoding of its bytes.
    #[error(
        "{found:?} is not the canonical base64 of its bytes, which is {canonical:?} (padding and unused bits must be exactly as an encoder writes them)"
    )]
    NotCanonical { found: String, canonical: String },
    /// A hash line that does not decode to 32 bytes.
    #[error("{found:?} decodes to {bytes} bytes, but a SHA-256 hash has 32")]
    HashLength { found: String, bytes: usize },
    /// An `extra` line with no data.
    #[error("the extra line has no data: with no extra data, the line is left out")]
    EmptyExtra,
    /// Too many proof lines.
    #[error("more than {max} {what} lines: {why}")]
    TooManyHashes {
        max: usize,
        what: &'static str,
        why: &'static str,
    },
}

fn found_text(found: &Option<String>) -> String {
    match found {
        None => "but the text ends here".to_owned(),
        Some(line) => format!("found {line:?}"),
    }
}

/// A line as an error message quotes it: at most 64 characters.
fn quote(line: &str) -> String {
    const MAX: usize = 64;
    match line.char_indices().nth(MAX) {
        None => line.to_owned(),
        Some((cut, _)) => format!("{}…", &line[..cut]),
    }
}

/// Decodes any base64 that has the standard alphabet, so that a non-canonical
/// encoding can be told apart from one that is not base64 at all.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The lines of a text, numbered from 1, each without its newline.
struct Lines<'a> {
    rest: &'a str,
    line: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            rest: text,
            line: 0,
        }
    }

    fn error(&self, problem: Problem) -> ProofTextError {
        ProofTextError {
            line: self.line,
            problem,
        }
    }

    /// An error about the line after the last one read (one that is missing).
    fn error_next(&self, problem: Problem) -> ProofTextError {
        ProofTextError {
            line: self.line + 1,
            problem,
        }
    }

    /// The next line, `None` at the end of the text.
    fn next(&mut self) -> Result<Option<&'a str>, ProofTextError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        self.line += 1;
        let Some((line, rest)) = self.rest.split_once('\n') else {
            return Err(self.error(Problem::NoFinalNewline));
        };
        if line.contains('\r') {
            return Err(self.error(Problem::CarriageReturn));
        }
        self.rest = rest;
        Ok(Some(line))
    }

    /// The next line, which must be there.
    fn expect(&mut self, expected: &'static str) -> Result<&'a str, ProofTextError> {
        match self.next()? {
            Some(line) => Ok(line),
            None => Err(self.error_next(Problem::Expected {
                expected,
                found: None,
            })),
        }
    }

    /// The proof hashes up to the empty line, at most `max` of them.
    fn hashes(
        &mut self,
        max: usize,
        what: &'static str,
        why: &'static str,
    ) -> Result<Vec<Hash>, ProofTextError> {
        let mut proof = Vec::new();
        loop {
            let line = self.expect("a proof hash or the empty line before the checkpoint")?;
            if line.is_empty() {
                return Ok(proof);
            }
            if proof.len() == max {
                return Err(self.error(Problem::TooManyHashes { max, what, why }));
            }
            proof.push(parse_hash(line).map_err(|p| self.error(p))?);
        }
    }

    /// The rest of the text, which must be a checkpoint: at least one line,
    /// the first not empty, every one ending in a newline with no carriage return.
    fn checkpoint(mut self) -> Result<String, ProofTextError> {
        let text = self.rest;
        let first = self.expect("the checkpoint after the empty line")?;
        if first.is_empty() {
            return Err(self.error(Problem::Expected {
                expected: "the checkpoint's first line, its origin (one empty line alone comes before the checkpoint)",
                found: Some(String::new()),
            }));
        }
        while self.next()?.is_some() {}
        Ok(text.to_owned())
    }
}

/// A decimal number as the formats write them.
fn parse_decimal(s: &str, what: &'static str) -> Result<u64, Problem> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::NotDecimal {
            what,
            found: quote(s),
        });
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(Problem::LeadingZero {
            what,
            found: quote(s),
        });
    }
    s.parse().map_err(|_| Problem::TooLarge {
        what,
        found: quote(s),
    })
}

/// Canonical standard base64 with padding.
fn parse_base64(s: &str, what: &'static str) -> Result<Vec<u8>, Problem> {
    let bytes = LENIENT.decode(s).map_err(|_| Problem::NotBase64 {
        what,
        found: quote(s),
    })?;
    let canonical = STANDARD.encode(&bytes);
    if canonical != s {
        return Err(Problem::NotCanonical {
            found: quote(s),
            canonical: quote(&canonical),
        });
    }
    Ok(bytes)
}

/// A proof line: canonical standard base64 of exactly 32 bytes.
fn parse_hash(s: &str) -> Result<Hash, Problem> {
    let bytes = parse_base64(s, "a proof hash").map_err(|p| match p {
        // Most likely the empty line is missing and the checkpoint begins here.
        Problem::NotBase64 { found, .. } => Problem::Expected {
            expected: "a proof hash (standard base64 of 32 bytes) or the empty line before the checkpoint",
            found: Some(found),
        },
        other => other,
    })?;
    Hash::try_from(bytes.as_slice()).map_err(|_| Problem::HashLength {
        found: quote(s),
        bytes: bytes.len(),
    })
}

fn push_hashes(out: &mut String, proof: &[Hash]) {
    for h in proof {
        STANDARD.encode_string(h, out);
        out.push('\n');
    }
}

impl TlogProof {
    /// Parse a tlog-proof text (see the module doc for the exact format).
    pub fn parse(text: &str) -> Result<Self, ProofTextError> {
        let mut lines = Lines::new(text);
        let header = lines.expect("`c2sp.org/tlog-proof@v1`")?;
        if header != TLOG_PROOF_HEADER {
            return Err(lines.error(Problem::Expected {
                expected: "`c2sp.org/tlog-proof@v1`",
                found: Some(quote(header)),
            }));
        }
        const INDEX: &str = "`index` and the entry's index, as in `index 73894`";
        let mut line = lines.expect(INDEX)?;
        let extra = match line.strip_prefix("extra ") {
            None => None,
            Some(data) => {
                let bytes = parse_base64(data, "extra data").map_err(|p| lines.error(p))?;
                if bytes.is_empty() {
                    return Err(lines.error(Problem::EmptyExtra));
                }
                line = lines.expect(INDEX)?;
                Some(bytes)
            }
        };
        let Some(index) = line.strip_prefix("index ") else {
            let expected = if extra.is_some() {
                INDEX
            } else {
                "`index` and the entry's index (or first `extra` and base64 extra data)"
            };
            return Err(lines.error(Problem::Expected {
                expected,
                found: Some(quote(line)),
            }));
        };
        let index = parse_decimal(index, "index").map_err(|p| lines.error(p))?;
        let proof = lines.hashes(
            MAX_INCLUSION_PROOF_LINES,
            "inclusion proof",
            "no tree of up to 18446744073709551615 leaves has a longer inclusion proof",
        )?;
        let checkpoint = lines.checkpoint()?;
        Ok(Self {
            extra,
            index,
            proof,
            checkpoint,
        })
    }

    /// The text of this proof (see the module doc for the exact format).
    pub fn format(&self) -> String {
        let mut out = String::with_capacity(80 + 45 * self.proof.len() + self.checkpoint.len());
        out.push_str(TLOG_PROOF_HEADER);
        out.push('\n');
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            STANDARD.encode_string(extra, &mut out);
            out.push('\n');
        }
        out.push_str("index ");
        out.push_str(&self.index.to_string());
        out.push('\n');
        push_hashes(&mut out, &self.proof);
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }
}

impl AddCheckpoint {
    /// Parse an add-checkpoint request body (see the module doc for the exact format).
    pub fn parse(text: &str) -> Result<Self, ProofTextError> {
        let mut lines = Lines::new(text);
        const OLD: &str = "`old` and the old tree size, as in `old 20852014`";
        let line = lines.expect(OLD)?;
        let Some(old) = line.strip_prefix("old ") else {
            return Err(lines.error(Problem::Expected {
                expected: OLD,
                found: Some(quote(line)),
            }));
        };
        let old_size = parse_decimal(old, "old tree size").map_err(|p| lines.error(p))?;
        let proof = lines.hashes(
            MAX_CONSISTENCY_PROOF_LINES,
            "consistency proof",
            "the witness protocol allows at most 63",
        )?;
        let checkpoint = lines.checkpoint()?;
        Ok(Self {
            old_size,
            proof,
            checkpoint,
        })
    }

    /// The request body (see the module doc for the exact format).
    pub fn format(&self) -> String {
        let mut out = String::with_capacity(30 + 45 * self.proof.len() + self.checkpoint.len());
        out.push_str("old ");
        out.push_str(&self.old_size.to_string());
        out.push('\n');
        push_hashes(&mut out, &self.proof);
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }
}

/// Parse a witness's 409 Conflict body: the size of the latest checkpoint it
/// cosigned, in decimal, and a newline.
pub fn parse_size_line(text: &str) -> Result<u64, ProofTextError> {
    let mut lines = Lines::new(text);
    let line = lines.expect("the tree size")?;
    let size = parse_decimal(line, "tree size").map_err(|p| lines.error(p))?;
    if !lines.rest.is_empty() {
        let more = lines.rest.split('\n').next().unwrap_or_default();
        return Err(lines.error_next(Problem::Expected {
            expected: "the end of the text after the size line",
            found: Some(quote(more)),
        }));
    }
    Ok(size)
}

/// A witness's 409 Conflict body for `size`: the size in decimal and a newline.
pub fn format_size_line(size: u64) -> String {
    format!("{size}\n")
}
