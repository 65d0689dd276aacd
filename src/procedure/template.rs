//! The starter procedure `runsheet new` writes: commented TOML that shows
//! every step kind and an escalation branch, and lints clean.
//!
//! May not depend on anything outside `procedure`; no IO, no clock (the date is passed in).

use chrono::{Months, NaiveDate};

/// A commented TOML procedure with id `id`, approved `today`, reviewed yearly.
/// It lints clean when `id` is a valid id (see [`super::lint::is_valid_id`]).
pub fn starter(id: &str, today: NaiveDate) -> String {
    let quoted = toml_string(id);
    let next_review = today
        .checked_add_months(Months::new(12))
        .unwrap_or(today)
        .format("%Y-%m-%d");
    let today = today.format("%Y-%m-%d");
    format!(
        r##"# A documented operating procedure for runsheet (ISO/IEC 27001:2022 A.5.37).
# Reference: docs/procedure-format.md.  Check it with: runsheet lint <this file>
# Editors with taplo (e.g. VS Code "Even Better TOML") validate and complete the
# keys when the first line is:  #:schema <path to>/procedure.schema.json
# (write the schema with: runsheet schema > procedure.schema.json)

# --- Document control (ISO/IEC 27001 clause 7.5) ---------------------------
id = {quoted}               # lower-case letters, digits and -
title = "Describe the procedure in a few words"
version = "0.1"                   # bump on every approved change
owner = "IT operations"           # person or role that owns the procedure
approver = "Head of IT"           # who approved this version
approved = {today}              # when (a TOML date, YYYY-MM-DD)
next_review = {next_review}           # or: review_every_months = 12
purpose = """
Why this procedure exists and what it protects.
"""
scope = "What it covers, and what it does not."
classification = "internal"
cadence = "on-demand"             # daily, weekdays, weekly, monthly, quarterly, yearly, on-demand
controls = ["A.5.37"]             # Annex A controls it implements, e.g. "A.8.13"
default_escalation = "escalate"   # branch entered when a step fails (steps may set on_fail)

# --- Roles: who performs steps; `signoff` needs a second person -------------
[[roles]]
id = "operator"
title = "IT administrator on duty"
description = "Uses their own admin account; no shared credentials."

[[roles]]
id = "reviewer"
title = "Second IT administrator"

# --- Steps: the main path, in order unless a step says `next` ----------------

# An instruction to confirm (the simplest kind). `evidence` asks for a
# reference the auditor can follow; `note` would ask for free text.
[[steps]]
id = "open-ticket"
title = "Open a change ticket"
role = "operator"
body = """
Open a ticket in the service desk for this run.
Multi-line instructions go here.
"""
evidence = "Change ticket id"

# A command the operator may run from the runner, never without confirmation.
# Its exit code and output are kept as evidence; another exit code than
# `expect_exit` lets the operator fail the step, which escalates.
[[steps]]
id = "run-check"
title = "Run the check"
role = "operator"
critical = true                   # cannot be skipped
[steps.command]
run = "echo replace this with the real command"
expect_exit = 0
timeout_secs = 60

# A recorded value with validation: text, number (min/max/unit),
# choice (choices = [...]) or pattern (a regular expression).
[[steps]]
id = "record-size"
title = "Record the size of the result"
role = "operator"
[steps.value]
type = "number"
label = "Size"
unit = "GiB"
min = 0

# A yes/no decision; each answer names where the run goes:
# a step id, `end` (run completed) or `fail` (escalate).
[[steps]]
id = "result-ok"
title = "Compare the result with the last run"
[steps.decision]
question = "Is the result as expected?"
yes = "sign-off"
no = "fail"

# A second person signs off (not the operator).
[[steps]]
id = "sign-off"
title = "Second person checks the result"
role = "operator"
signoff = "reviewer"
controls = ["A.5.37"]
next = "end"

# --- Escalation: what to do when a step fails ---------------------------------
[[branches]]
id = "escalate"
title = "The check failed"
contact = "IT service desk: +00 000 000 000, #it-operations"
then = "end-escalated"            # after the last step: retry, continue, end-escalated or end-failed

[[branches.steps]]
id = "open-incident"
title = "Open an incident"
body = "Describe what failed and attach the output."
role = "operator"
evidence = "Incident ticket id"

[[branches.steps]]
id = "can-retry"
title = "Decide whether to try again"
[branches.steps.decision]
question = "Has the cause been fixed?"
yes = "retry"                     # back to the step that failed
no = "end"                        # the branch's `then`
"##
    )
}

/// A TOML basic string for `s` (quotes and escapes).
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procedure::StepKind;
    use crate::procedure::lint::lint;
    use crate::procedure::parse::{Format, Source, parse};

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn starter_lints_clean_and_shows_every_kind() {
        let today = date("2026-03-31");
        let text = starter("nightly-backup", today);
        let loaded = parse(Source::from_text("nightly-backup.toml", text, Format::Toml))
            .unwrap_or_else(|d| panic!("starter does not parse: {d}"));
        let diags = lint(&loaded, today);
        assert!(
            diags.is_empty(),
            "{}",
            diags
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
        let p = &loaded.procedure;
        assert_eq!(p.id, "nightly-backup");
        assert_eq!(p.approved.map(|d| d.0), Some(today));
        assert_eq!(p.review_due(), Some(date("2027-03-31")));
        let kinds: Vec<&str> = p.all_steps().map(|s| s.kind().name()).collect();
        for k in ["confirm", "decision", "value", "command"] {
            assert!(kinds.contains(&k), "no {k} step");
        }
        assert!(p.all_steps().any(|s| s.signoff.is_some()));
        assert_eq!(p.branches.len(), 1);
        assert!(matches!(p.steps[3].kind(), StepKind::Decision(_)));
        // Still clean just before the review falls due, overdue the day after.
        assert!(lint(&loaded, date("2027-03-31")).is_empty());
        let later = lint(&loaded, date("2027-04-01"));
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].code, "review-overdue");
    }

    #[test]
    fn starter_quotes_odd_ids() {
        let text = starter("a\"b", date("2026-01-01"));
        let loaded = parse(Source::from_text("x.toml", text, Format::Toml)).expect("parses");
        assert_eq!(loaded.procedure.id, "a\"b");
        assert!(
            lint(&loaded, date("2026-01-01"))
                .iter()
                .any(|d| d.code == "invalid-id")
        );
    }
}
