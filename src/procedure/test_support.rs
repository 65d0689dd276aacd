//! Test-only builders (compiled under `cfg(test)` only): a valid procedure
//! header plus the roles, steps and branches a test is about, so that a unit
//! test spells out only what it tests. A test whose point is a header field
//! (a missing approver, an overdue review) keeps its header explicit instead.
//!
//! May not depend on anything outside `procedure`: the engine's, session's and
//! front ends' tests use it too.

use super::Procedure;
use super::parse::{Format, Loaded, Source, parse};

/// A valid header as a string literal, for `concat!` in a `const`:
/// `const PROC: &str = concat!(procedure_header!(), "[[steps]]\n…");`.
/// Every required field and a review date, one key a line in this order
/// (tests that check line numbers count on it: `id` is line 1, `controls`
/// line 10, and what follows starts on line 11).
macro_rules! procedure_header {
    () => {
        r#"id = "t"
title = "Test"
version = "1"
owner = "o"
approver = "a"
approved = 2026-01-01
review_every_months = 12
purpose = "p"
cadence = "daily"
controls = ["A.8.13"]
"#
    };
}
pub(crate) use procedure_header;

/// [`procedure_header!`] as a constant.
pub(crate) const HEADER: &str = procedure_header!();

/// A procedure's TOML: [`HEADER`] then `extra` — top-level keys first (such
/// as `default_escalation = "…"`), then `[[roles]]`, `[[steps]]` and
/// `[[branches]]`.
pub(crate) fn procedure_toml(extra: &str) -> String {
    format!("{HEADER}{extra}")
}

/// [`procedure_toml`] parsed by the crate's parser as `test.toml`, with its
/// source and locations; panics with the diagnostic and the text when it does
/// not parse.
pub(crate) fn loaded(extra: &str) -> Loaded {
    let text = procedure_toml(extra);
    parse(Source::from_text("test.toml", text.as_str(), Format::Toml))
        .unwrap_or_else(|d| panic!("the test procedure does not parse: {d}\n{text}"))
}

/// The [`Procedure`] of [`loaded`].
pub(crate) fn procedure(extra: &str) -> Procedure {
    loaded(extra).procedure
}

mod tests {
    use super::*;
    use crate::procedure::lint::lint;
    use chrono::NaiveDate;

    #[test]
    fn the_header_with_one_step_is_a_procedure_that_lints_clean() {
        let steps = "[[steps]]\nid = \"one\"\ntitle = \"One\"\n";
        let l = loaded(steps);
        let today = NaiveDate::from_ymd_opt(2026, 3, 1).expect("date");
        assert_eq!(lint(&l, today), vec![]);
        assert_eq!(l.locate("controls"), (10, 12));
        assert_eq!(l.locate("steps[0]"), (11, 1));
        let p = procedure(steps);
        assert_eq!((p.id.as_str(), p.title.as_str()), ("t", "Test"));
        assert_eq!(p.steps.len(), 1);
        assert_eq!(
            procedure_toml(steps),
            concat!(
                procedure_header!(),
                "[[steps]]\nid = \"one\"\ntitle = \"One\"\n"
            )
        );
    }
}
