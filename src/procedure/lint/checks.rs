//! Lint checks on single fields and references: document control, ids,
//! controls, step kinds, value specs and roles.
//!
//! May not depend on anything outside `procedure`; no IO.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::{Ctx, is_valid_id, steps_at, suggest};
use crate::procedure::model::{RESERVED_TARGETS, ValueKind, ValueSpec};

const ID_HINT: &str =
    "use lower-case letters, digits and `-`, starting with a letter or digit (e.g. `check-backup`)";

/// Document control (ISO/IEC 27001 clause 7.5): required texts, approval, review date.
pub(super) fn document(ctx: &mut Ctx<'_>, today: NaiveDate) {
    let p = ctx.p;
    for (key, value) in [
        ("id", &p.id),
        ("title", &p.title),
        ("version", &p.version),
        ("owner", &p.owner),
        ("purpose", &p.purpose),
    ] {
        if value.trim().is_empty() {
            ctx.error(
                key,
                "empty-field",
                format!("`{key}` is empty"),
                format!("write the procedure's {key}; it is part of its document control"),
            );
        }
    }

    let approver_missing = p.approver.as_deref().is_none_or(|a| a.trim().is_empty());
    if approver_missing || p.approved.is_none() {
        let missing = match (approver_missing, p.approved.is_none()) {
            (true, true) => "`approver` and `approved` are missing",
            (true, false) => "`approver` is missing",
            _ => "`approved` is missing",
        };
        let at = if ctx.loaded.has("approver") {
            "approver"
        } else if ctx.loaded.has("approved") {
            "approved"
        } else {
            "owner"
        };
        ctx.error(
            at,
            "no-approval",
            format!("no recorded approval: {missing}"),
            "add `approver` (who approved this version) and `approved` (the date, YYYY-MM-DD) next to `owner`; ISO/IEC 27001 7.5.2 asks for approved documented information",
        );
    }

    if p.review_every_months == Some(0) {
        ctx.error(
            "review_every_months",
            "no-review-date",
            "`review_every_months` is 0".to_string(),
            "give the review interval in months, e.g. 12",
        );
    } else if p.next_review.is_none() && p.review_every_months.is_none() {
        ctx.error(
            if ctx.loaded.has("approved") { "approved" } else { "owner" },
            "no-review-date",
            "no review date: neither `next_review` nor `review_every_months` is given".to_string(),
            "add `review_every_months = 12` (counted from `approved`) or `next_review = YYYY-MM-DD`",
        );
    }

    if let Some(due) = p.review_due()
        && due < today
        && (p.next_review.is_some() || p.review_every_months != Some(0))
    {
        let days = (today - due).num_days();
        let at = if p.next_review.is_some() {
            "next_review"
        } else {
            "review_every_months"
        };
        ctx.warning(
            at,
            "review-overdue",
            format!(
                "review was due on {due} ({days} day{} ago)",
                if days == 1 { "" } else { "s" }
            ),
            "review the procedure; then bump `version` and update `approved` (and `next_review`)",
        );
    }
}

/// Id format, reserved words and duplicates for the procedure, steps, branches and roles.
pub(super) fn ids(ctx: &mut Ctx<'_>) {
    let p = ctx.p;
    if !p.id.trim().is_empty() && !is_valid_id(&p.id) {
        ctx.error(
            "id",
            "invalid-id",
            format!("procedure id `{}` is not a valid id", p.id),
            ID_HINT,
        );
    }

    let mut seen: HashMap<&str, String> = HashMap::new();
    for s in steps_at(p) {
        let path = format!("{}.id", s.path);
        let id = s.step.id.as_str();
        if RESERVED_TARGETS.contains(&id) {
            ctx.error(
                &path,
                "reserved-id",
                format!("`{id}` is a reserved word and cannot be a step id"),
                format!(
                    "rename the step; these words are flow targets: {}",
                    RESERVED_TARGETS.join(", ")
                ),
            );
        } else if !is_valid_id(id) {
            ctx.error(
                &path,
                "invalid-id",
                format!("step id `{id}` is not a valid id"),
                ID_HINT,
            );
        }
        duplicate(ctx, &mut seen, id, &path, "step");
    }

    let mut seen: HashMap<&str, String> = HashMap::new();
    for (b, branch) in p.branches.iter().enumerate() {
        let path = format!("branches[{b}].id");
        if !is_valid_id(&branch.id) {
            ctx.error(
                &path,
                "invalid-id",
                format!("branch id `{}` is not a valid id", branch.id),
                ID_HINT,
            );
        }
        duplicate(ctx, &mut seen, &branch.id, &path, "branch");
    }

    let mut seen: HashMap<&str, String> = HashMap::new();
    for (r, role) in p.roles.iter().enumerate() {
        let path = format!("roles[{r}].id");
        if !is_valid_id(&role.id) {
            ctx.error(
                &path,
                "invalid-id",
                format!("role id `{}` is not a valid id", role.id),
                ID_HINT,
            );
        }
        duplicate(ctx, &mut seen, &role.id, &path, "role");
        if role.title.trim().is_empty() {
            ctx.error(
                &format!("roles[{r}].title"),
                "empty-field",
                format!("role `{}` has an empty `title`", role.id),
                "name the role as people know it, e.g. \"IT administrator on duty\"",
            );
        }
    }
}

fn duplicate<'a>(
    ctx: &mut Ctx<'_>,
    seen: &mut HashMap<&'a str, String>,
    id: &'a str,
    path: &str,
    what: &str,
) {
    if let Some(first) = seen.get(id) {
        let line = ctx.line_of(first);
        ctx.error(
            path,
            "duplicate-id",
            format!("duplicate {what} id `{id}` (first used on line {line})"),
            format!("give every {what} its own id"),
        );
    } else {
        seen.insert(id, path.to_string());
    }
}

/// Highest control number per Annex A theme (ISO/IEC 27001:2022).
const ANNEX_A: [(u32, u32); 4] = [(5, 37), (6, 8), (7, 14), (8, 34)];

/// Controls linked by the procedure and its steps.
pub(super) fn controls(ctx: &mut Ctx<'_>) {
    let p = ctx.p;
    if p.controls.is_empty() {
        ctx.warning(
            "controls",
            "no-controls",
            "the procedure lists no Annex A controls".to_string(),
            "add the controls it implements, e.g. controls = [\"A.5.37\", \"A.8.13\"]; audits group evidence by control",
        );
    }
    let mut all: Vec<(String, &str)> = p
        .controls
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("controls[{i}]"), c.as_str()))
        .collect();
    for s in steps_at(p) {
        for (i, c) in s.step.controls.iter().enumerate() {
            all.push((format!("{}.controls[{i}]", s.path), c.as_str()));
        }
    }
    for (path, control) in all {
        match parse_control(control) {
            Some((theme, n)) => {
                let known = ANNEX_A
                    .iter()
                    .any(|&(t, max)| t == theme && (1..=max).contains(&n));
                if !known {
                    ctx.warning(
                        &path,
                        "unknown-control",
                        format!("`{control}` is not an ISO/IEC 27001:2022 Annex A control"),
                        "Annex A (2022) has A.5.1–A.5.37, A.6.1–A.6.8, A.7.1–A.7.14 and A.8.1–A.8.34; 2013 numbers (A.9–A.18) must be mapped",
                    );
                }
            }
            None => {
                let hint = match normalised_control(control) {
                    Some(s) => format!("did you mean `{s}`? write controls as A.<theme>.<number>"),
                    None => "write controls as A.<theme>.<number>, e.g. A.8.13".to_string(),
                };
                ctx.error(
                    &path,
                    "control-format",
                    format!("`{control}` is not written as an Annex A control"),
                    hint,
                );
            }
        }
    }
}

/// `A.8.13` → (8, 13).
fn parse_control(s: &str) -> Option<(u32, u32)> {
    let rest = s.strip_prefix("A.")?;
    let (theme, n) = rest.split_once('.')?;
    let digits = |x: &str| !x.is_empty() && x.len() <= 3 && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(theme) || !digits(n) {
        return None;
    }
    Some((theme.parse().ok()?, n.parse().ok()?))
}

/// `control` as an ISO/IEC 27001:2022 Annex A control, written the
/// canonical way (`a.8.13` → `A.8.13`); or why it is not one.
pub fn annex_a_control(control: &str) -> Result<String, String> {
    let Some(c) = normalised_control(control) else {
        return Err(format!(
            "`{control}` is not written as an Annex A control; write it as A.<theme>.<number>, e.g. A.8.13"
        ));
    };
    let known = parse_control(&c).is_some_and(|(theme, n)| {
        ANNEX_A
            .iter()
            .any(|&(t, max)| t == theme && (1..=max).contains(&n))
    });
    if known {
        Ok(c)
    } else {
        Err(format!(
            "`{control}` is not an ISO/IEC 27001:2022 Annex A control: Annex A has A.5.1–A.5.37, A.6.1–A.6.8, A.7.1–A.7.14 and A.8.1–A.8.34 (2013 numbers, A.9–A.18, must be mapped to 2022's)"
        ))
    }
}

/// `8.13`, `a.8.13`, `A 8.13`, `A8.13` → `A.8.13`.
fn normalised_control(s: &str) -> Option<String> {
    let t = s.trim();
    let t = t
        .strip_prefix(['A', 'a'])
        .unwrap_or(t)
        .trim_start_matches([' ', '.']);
    let candidate = format!("A.{t}");
    parse_control(&candidate).map(|_| candidate)
}

fn kind_name(kind: ValueKind) -> &'static str {
    kind.as_str()
}

/// Step kinds, required texts, value specs and role references.
pub(super) fn steps(ctx: &mut Ctx<'_>) {
    let p = ctx.p;
    let role_ids: Vec<&str> = p.roles.iter().map(|r| r.id.as_str()).collect();
    for (b, branch) in p.branches.iter().enumerate() {
        if branch.title.trim().is_empty() {
            ctx.error(
                &format!("branches[{b}].title"),
                "empty-field",
                format!("branch `{}` has an empty `title`", branch.id),
                "say what went wrong, e.g. \"Backup job failed\"",
            );
        }
    }
    for s in steps_at(p) {
        let step = s.step;
        let path = &s.path;
        if step.title.trim().is_empty() {
            ctx.error(
                &format!("{path}.title"),
                "empty-field",
                format!("step `{}` has an empty `title`", step.id),
                "give the step a short imperative title, e.g. \"Check the backup log\"",
            );
        }
        let kinds: Vec<&str> = [
            ("decision", step.decision.is_some()),
            ("value", step.value.is_some()),
            ("command", step.command.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, present)| present.then_some(k))
        .collect();
        if kinds.len() > 1 {
            let at = format!("{path}.{}", kinds[1]);
            ctx.error(
                &at,
                "step-kinds",
                format!(
                    "step `{}` has {}; a step is one kind",
                    step.id,
                    kinds
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
                "split it into one step per kind (e.g. run the command, then record the value)",
            );
        }
        let texts = [
            (
                "decision.question",
                step.decision.as_ref().map(|d| &d.question),
            ),
            ("value.label", step.value.as_ref().map(|v| &v.label)),
            ("command.run", step.command.as_ref().map(|c| &c.run)),
            ("note", step.note.as_ref()),
            ("evidence", step.evidence.as_ref()),
        ];
        for (key, text) in texts {
            if text.is_some_and(|t| t.trim().is_empty()) {
                ctx.error(
                    &format!("{path}.{key}"),
                    "empty-field",
                    format!("step `{}` has an empty `{key}`", step.id),
                    "write the text, or remove the key",
                );
            }
        }
        if let Some(v) = &step.value {
            value_spec(ctx, &format!("{path}.value"), &step.id, v);
        }
        for (key, role) in [("role", &step.role), ("signoff", &step.signoff)] {
            let Some(role) = role else { continue };
            if !role_ids.contains(&role.as_str()) {
                let hint = match suggest(role, role_ids.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`? roles: {}", role_ids.join(", ")),
                    None if role_ids.is_empty() => {
                        format!("add a [[roles]] entry with id = \"{role}\" and a title")
                    }
                    None => format!(
                        "use one of the roles ({}) or add a [[roles]] entry with id = \"{role}\"",
                        role_ids.join(", ")
                    ),
                };
                ctx.error(
                    &format!("{path}.{key}"),
                    "unknown-role",
                    format!("step `{}`: `{key}` names unknown role `{role}`", step.id),
                    hint,
                );
            }
        }
    }
}

fn value_spec(ctx: &mut Ctx<'_>, path: &str, step: &str, v: &ValueSpec) {
    let kind = kind_name(v.kind);
    let not_applicable = |ctx: &mut Ctx<'_>, key: &str, applies_to: &str| {
        ctx.error(
            &format!("{path}.{key}"),
            "value-spec",
            format!(
                "step `{step}`: `{key}` only applies to type \"{applies_to}\", this value is \"{kind}\""
            ),
            format!("remove `{key}`, or set type = \"{applies_to}\""),
        );
    };
    if v.kind != ValueKind::Choice && !v.choices.is_empty() {
        not_applicable(ctx, "choices", "choice");
    }
    if v.kind != ValueKind::Pattern && v.pattern.is_some() {
        not_applicable(ctx, "pattern", "pattern");
    }
    if !v.kind.is_numeric() {
        for (key, present) in [
            ("min", v.min.is_some()),
            ("max", v.max.is_some()),
            ("unit", v.unit.is_some()),
        ] {
            if present {
                not_applicable(ctx, key, "number");
            }
        }
    }
    match v.kind {
        ValueKind::Choice => {
            if v.choices.is_empty() {
                ctx.error(
                    &format!("{path}.type"),
                    "value-spec",
                    format!("step `{step}`: a choice value needs `choices`"),
                    "list the allowed answers, e.g. choices = [\"full\", \"incremental\"]",
                );
            }
            let mut seen: Vec<String> = Vec::new();
            for (i, c) in v.choices.iter().enumerate() {
                let at = format!("{path}.choices[{i}]");
                let lc = c.trim().to_lowercase();
                if lc.is_empty() {
                    ctx.error(
                        &at,
                        "value-spec",
                        format!("step `{step}`: choice {} is empty", i + 1),
                        "remove the empty choice",
                    );
                } else if seen.contains(&lc) {
                    ctx.error(
                        &at,
                        "value-spec",
                        format!("step `{step}`: choice `{c}` is listed twice (choices ignore case)"),
                        "remove the duplicate",
                    );
                }
                seen.push(lc);
            }
        }
        ValueKind::Pattern => match &v.pattern {
            None => ctx.error(
                &format!("{path}.type"),
                "value-spec",
                format!("step `{step}`: a pattern value needs `pattern`"),
                "add a regular expression the whole value must match, e.g. pattern = \"CHG[0-9]{6}\"",
            ),
            Some(pattern) => {
                // The engine anchors the pattern; report errors against the pattern as written.
                let compiled = regex::Regex::new(pattern)
                    .and_then(|_| regex::Regex::new(&format!("^(?:{pattern})$")));
                if let Err(e) = compiled {
                    ctx.error(
                        &format!("{path}.pattern"),
                        "invalid-pattern",
                        format!(
                            "step `{step}`: pattern `{pattern}` is not a valid regular expression: {}",
                            regex_reason(&e)
                        ),
                        "fix the regular expression (syntax: https://docs.rs/regex/latest/regex/#syntax); in TOML write it in 'single quotes' so backslashes stay as they are",
                    );
                }
            }
        },
        ValueKind::Number | ValueKind::Integer => {
            for (key, n) in [("min", v.min), ("max", v.max)] {
                if n.is_some_and(|n| !n.is_finite()) {
                    ctx.error(
                        &format!("{path}.{key}"),
                        "value-spec",
                        format!("step `{step}`: `{key}` must be a finite number"),
                        "write a number such as 0 or 100",
                    );
                } else if v.kind == ValueKind::Integer && n.is_some_and(|n| n.fract() != 0.0) {
                    ctx.error(
                        &format!("{path}.{key}"),
                        "value-spec",
                        format!("step `{step}`: `{key}` of an integer value must be a whole number"),
                        "write a whole number such as 1 or 72, or use type = \"number\"",
                    );
                }
            }
            if let (Some(min), Some(max)) = (v.min, v.max)
                && min > max
            {
                ctx.error(
                    &format!("{path}.min"),
                    "value-spec",
                    format!("step `{step}`: `min` ({min}) is greater than `max` ({max})"),
                    "swap them, or fix the one that is wrong",
                );
            }
        }
        ValueKind::Text => {}
    }
}

/// The one-line reason from a regex error (its Display spans several lines).
fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map_or_else(
            || text.lines().last().unwrap_or_default().to_string(),
            str::to_string,
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_parse_and_normalise() {
        assert_eq!(parse_control("A.8.13"), Some((8, 13)));
        assert_eq!(parse_control("A.12.3.1"), None);
        assert_eq!(parse_control("8.13"), None);
        assert_eq!(parse_control("A.8."), None);
        assert_eq!(normalised_control("8.13").as_deref(), Some("A.8.13"));
        assert_eq!(normalised_control("a.5.37").as_deref(), Some("A.5.37"));
        assert_eq!(normalised_control("A 8.1").as_deref(), Some("A.8.1"));
        assert_eq!(normalised_control("backup"), None);
    }

    #[test]
    fn regex_reason_is_one_line() {
        let unclosed = String::from("(") + "a";
        let e = regex::Regex::new(&unclosed).expect_err("invalid");
        assert_eq!(regex_reason(&e), "unclosed group");
    }
}
