//! What changed between two versions of a procedure, step by step: the
//! header's fields (version, title, approver, controls, roles, review …),
//! steps added, removed, moved and changed (text, command, requirements,
//! decisions, `next` and `on_fail`), and escalation branches added, removed
//! and changed. Steps and branches are matched by id; pure (no IO).
//!
//! May not depend on the engine, the store, the front ends or the exports
//! (`runsheet diff`, the change notice and their renderings use it).
//!
//! A kept step is *moved* when it changed lists (main path ↔ a branch) or
//! when, within its list, it is not on the longest run of common steps whose
//! order both versions share: inserting or removing a step moves nothing,
//! swapping two steps moves one.

use std::collections::{BTreeSet, HashMap};

use schemars::JsonSchema;
use serde::Serialize;

use super::{Procedure, Step, StepPlace};

/// Every difference between two procedures (`before` → `after`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct ProcedureDiff {
    /// Header fields (and roles, as `roles.<id>.title` and
    /// `roles.<id>.description`) that differ, in file order.
    pub header: Vec<FieldChange>,
    /// Steps added, removed, moved or changed: the new version's steps in
    /// order (main path, then each branch), then the removed ones.
    pub steps: Vec<StepDiff>,
    /// Escalation branches added, removed or changed (title, contact, `then`).
    pub branches: Vec<BranchDiff>,
}

/// One field's value before and after (`null`: absent in that version).
/// Values are as the file writes them: lists joined with `, `, targets and
/// words as written, booleans `true`/`false`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct FieldChange {
    /// The field's key in the file, e.g. `body`, `command.run`, `next`.
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Whether a step or branch is new, gone or in both versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Added,
    Removed,
    /// In both versions (then moved and/or changed).
    Kept,
}

/// Where a step is in one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Place {
    /// The escalation branch's id; `null`: the main path.
    pub branch: Option<String>,
    /// Position in its list, from 1.
    pub position: usize,
    /// The number documents show it with: `3` on the main path, `E1.2` for
    /// the second step of the first branch.
    pub number: String,
}

/// A step that differs.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StepDiff {
    pub id: String,
    /// Its title (in the new version, when it has one).
    pub title: String,
    pub status: Status,
    /// Where it was (`null`: added).
    pub before: Option<Place>,
    /// Where it is (`null`: removed).
    pub after: Option<Place>,
    /// Its place changed other than by steps added or removed around it.
    pub moved: bool,
    /// What changed in it; for a step added or removed, every field it has
    /// (`before` or `after` null).
    pub fields: Vec<FieldChange>,
}

/// A branch that differs.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct BranchDiff {
    pub id: String,
    pub title: String,
    pub status: Status,
    /// What changed in it (every field of one added or removed; its steps
    /// are in `steps`).
    pub fields: Vec<FieldChange>,
}

/// One version compared: which it is and where it was read from.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Side {
    /// The file's `version`.
    pub version: String,
    /// SHA-256 of its exact source text (as runs and approvals record it).
    pub sha256: String,
    /// Where the source came from, in words: `the file procedures/x.toml`,
    /// `the log (run 01a2351c)`, `the log (approval of 2026-12-01)`.
    pub origin: String,
}

/// Two versions of a procedure and what changed between them: what
/// `runsheet diff` prints (`--json`, and the text, Markdown and HTML
/// renderings in [`super::render`]).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Comparison {
    pub procedure_id: String,
    /// The newer side's title.
    pub title: String,
    pub from: Side,
    pub to: Side,
    /// [`ProcedureDiff::summary`].
    pub summary: String,
    pub changes: ProcedureDiff,
}

impl Comparison {
    /// Compare `before` (`from`) with `after` (`to`).
    pub fn new(before: &Procedure, from: Side, after: &Procedure, to: Side) -> Comparison {
        let changes = diff(before, after);
        Comparison {
            procedure_id: after.id.clone(),
            title: after.title.clone(),
            from,
            to,
            summary: changes.summary(),
            changes,
        }
    }
}

/// Counts of what changed, for a summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub steps_changed: usize,
    pub steps_added: usize,
    pub steps_removed: usize,
    pub steps_moved: usize,
    pub branches_changed: usize,
    pub branches_added: usize,
    pub branches_removed: usize,
    pub header: usize,
}

impl ProcedureDiff {
    /// No difference at all.
    pub fn is_empty(&self) -> bool {
        self.header.is_empty() && self.steps.is_empty() && self.branches.is_empty()
    }

    /// How many steps, branches and header fields changed, and how.
    /// A step both moved and changed counts in both.
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            header: self.header.len(),
            ..Counts::default()
        };
        for s in &self.steps {
            match s.status {
                Status::Added => c.steps_added += 1,
                Status::Removed => c.steps_removed += 1,
                Status::Kept => {
                    c.steps_changed += usize::from(!s.fields.is_empty());
                    c.steps_moved += usize::from(s.moved);
                }
            }
        }
        for b in &self.branches {
            match b.status {
                Status::Added => c.branches_added += 1,
                Status::Removed => c.branches_removed += 1,
                Status::Kept => c.branches_changed += 1,
            }
        }
        c
    }

    /// One line: `2 steps changed, 1 added, 1 moved; 1 branch added;
    /// header: version, approved` (`no changes` when empty). The header's
    /// fields are named, three at most (`and 2 more`).
    pub fn summary(&self) -> String {
        let c = self.counts();
        let mut groups = Vec::new();
        let steps = [
            (c.steps_changed, "changed"),
            (c.steps_added, "added"),
            (c.steps_removed, "removed"),
            (c.steps_moved, "moved"),
        ];
        if let Some(g) = group(&steps, "step", "steps") {
            groups.push(g);
        }
        let branches = [
            (c.branches_changed, "changed"),
            (c.branches_added, "added"),
            (c.branches_removed, "removed"),
        ];
        if let Some(g) = group(&branches, "branch", "branches") {
            groups.push(g);
        }
        if !self.header.is_empty() {
            let mut names: Vec<String> = self
                .header
                .iter()
                .take(3)
                .map(|f| f.field.clone())
                .collect();
            if self.header.len() > 3 {
                names.push(format!("and {} more", self.header.len() - 3));
            }
            groups.push(format!("header: {}", names.join(", ")));
        }
        if groups.is_empty() {
            "no changes".into()
        } else {
            groups.join("; ")
        }
    }
}

/// `2 steps changed, 1 added`: the nonzero counts, the noun after the first.
fn group(counts: &[(usize, &str)], one: &str, many: &str) -> Option<String> {
    let parts: Vec<String> = counts
        .iter()
        .filter(|(n, _)| *n > 0)
        .enumerate()
        .map(|(i, (n, word))| match (i, n) {
            (0, 1) => format!("1 {one} {word}"),
            (0, n) => format!("{n} {many} {word}"),
            (_, n) => format!("{n} {word}"),
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// What a field is, in words, for documents: `instructions` for `body`,
/// `on failure` for `on_fail`; a role's fields name the role.
pub fn field_words(field: &str) -> String {
    if let Some(rest) = field.strip_prefix("roles.") {
        return match rest.rsplit_once('.') {
            Some((id, "description")) => format!("role {id}: responsibilities"),
            Some((id, _)) => format!("role {id}"),
            None => field.to_string(),
        };
    }
    match field {
        "body" => "instructions",
        "kind" => "kind of step",
        "decision.question" => "question",
        "decision.yes" => "if yes",
        "decision.no" => "if no",
        "value.type" => "value type",
        "value.label" => "value label",
        "value.required" => "value required",
        "value.hint" => "value hint",
        "value.unit" => "unit",
        "value.choices" => "choices",
        "value.pattern" => "value format (pattern)",
        "value.min" => "minimum",
        "value.max" => "maximum",
        "command.run" => "command",
        "command.expect_exit" => "expected exit code",
        "command.timeout_secs" => "command timeout (s)",
        "note" => "required note",
        "evidence" => "required evidence",
        "signoff" => "sign-off role",
        "typed_signoff" => "typed sign-off allowed",
        "on_fail" => "on failure",
        "then" => "then",
        "review_every_months" => "review every (months)",
        "next_review" => "next review",
        "content_retention_days" => "content retention (days)",
        "default_escalation" => "default escalation",
        other => other,
    }
    .to_string()
}

/// One line of a text compared line by line ([`lines`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

/// `before` and `after` line by line: the lines both keep (a longest
/// common subsequence), the ones removed and the ones added, in order.
pub fn lines<'a>(before: &'a str, after: &'a str) -> Vec<Line<'a>> {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    align(&a, &b)
        .into_iter()
        .map(|step| match step {
            Aligned::Both(i, _) => Line::Same(a[i]),
            Aligned::Left(i) => Line::Removed(a[i]),
            Aligned::Right(j) => Line::Added(b[j]),
        })
        .collect()
}

/// One step of two sequences aligned: an element of both (by index in
/// each), of the left only, or of the right only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aligned {
    Both(usize, usize),
    Left(usize),
    Right(usize),
}

/// `a` and `b` aligned on a longest common subsequence, in order (the
/// left's elements first where both differ).
fn align<T: PartialEq>(a: &[T], b: &[T]) -> Vec<Aligned> {
    let (n, m) = (a.len(), b.len());
    let mut table = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[i][j] = if a[i] == b[j] {
                table[i + 1][j + 1] + 1
            } else {
                table[i + 1][j].max(table[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(n.max(m));
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push(Aligned::Both(i, j));
            i += 1;
            j += 1;
        } else if j == m || (i < n && table[i + 1][j] >= table[i][j + 1]) {
            out.push(Aligned::Left(i));
            i += 1;
        } else {
            out.push(Aligned::Right(j));
            j += 1;
        }
    }
    out
}

/// Compare two procedures.
pub fn diff(before: &Procedure, after: &Procedure) -> ProcedureDiff {
    ProcedureDiff {
        header: changes(&header_fields(before), &header_fields(after)),
        steps: step_diffs(before, after),
        branches: branch_diffs(before, after),
    }
}

/// A version's fields as (key, value), absent ones left out.
type Fields = Vec<(String, String)>;

/// The changed, added and removed fields, in `after`'s order then the
/// removed ones in `before`'s.
fn changes(before: &Fields, after: &Fields) -> Vec<FieldChange> {
    let old: HashMap<&str, &str> = before
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let new: HashMap<&str, &str> = after
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut out: Vec<FieldChange> = after
        .iter()
        .filter(|(k, v)| old.get(k.as_str()) != Some(&v.as_str()))
        .map(|(k, v)| FieldChange {
            field: k.clone(),
            before: old.get(k.as_str()).map(|s| s.to_string()),
            after: Some(v.clone()),
        })
        .collect();
    out.extend(
        before
            .iter()
            .filter(|(k, _)| !new.contains_key(k.as_str()))
            .map(|(k, v)| FieldChange {
                field: k.clone(),
                before: Some(v.clone()),
                after: None,
            }),
    );
    out
}

fn push(fields: &mut Fields, key: &str, value: Option<String>) {
    if let Some(v) = value {
        fields.push((key.to_string(), v));
    }
}

fn list(items: &[String]) -> Option<String> {
    (!items.is_empty()).then(|| items.join(", "))
}

fn flag(b: bool) -> Option<String> {
    b.then(|| "true".to_string())
}

fn header_fields(p: &Procedure) -> Fields {
    let mut f = Fields::new();
    push(&mut f, "id", Some(p.id.clone()));
    push(&mut f, "title", Some(p.title.clone()));
    push(&mut f, "version", Some(p.version.clone()));
    push(&mut f, "owner", Some(p.owner.clone()));
    push(&mut f, "approver", p.approver.clone());
    push(&mut f, "approved", p.approved.map(|d| d.to_string()));
    push(
        &mut f,
        "review_every_months",
        p.review_every_months.map(|m| m.to_string()),
    );
    push(&mut f, "next_review", p.next_review.map(|d| d.to_string()));
    push(&mut f, "purpose", Some(p.purpose.trim().to_string()));
    push(
        &mut f,
        "scope",
        p.scope.as_ref().map(|s| s.trim().to_string()),
    );
    push(&mut f, "classification", p.classification.clone());
    push(&mut f, "cadence", Some(p.cadence.as_str().to_string()));
    push(
        &mut f,
        "content_retention_days",
        p.content_retention_days.map(|d| d.to_string()),
    );
    push(&mut f, "controls", list(&p.controls));
    push(&mut f, "default_escalation", p.default_escalation.clone());
    for r in &p.roles {
        push(
            &mut f,
            &format!("roles.{}.title", r.id),
            Some(r.title.clone()),
        );
        push(
            &mut f,
            &format!("roles.{}.description", r.id),
            r.description.as_ref().map(|d| d.trim().to_string()),
        );
    }
    f
}

fn step_fields(s: &Step) -> Fields {
    let mut f = Fields::new();
    push(&mut f, "title", Some(s.title.clone()));
    push(&mut f, "kind", Some(s.kind().name().to_string()));
    push(
        &mut f,
        "body",
        s.body.as_ref().map(|b| b.trim().to_string()),
    );
    push(&mut f, "role", s.role.clone());
    push(&mut f, "controls", list(&s.controls));
    push(&mut f, "critical", flag(s.critical));
    push(&mut f, "skippable", flag(s.skippable));
    if let Some(d) = &s.decision {
        push(&mut f, "decision.question", Some(d.question.clone()));
        push(&mut f, "decision.yes", Some(d.yes.to_string()));
        push(&mut f, "decision.no", Some(d.no.to_string()));
    }
    if let Some(v) = &s.value {
        push(&mut f, "value.type", Some(v.kind.as_str().to_string()));
        push(&mut f, "value.label", Some(v.label.clone()));
        push(&mut f, "value.required", Some(v.required.to_string()));
        push(&mut f, "value.hint", v.hint.clone());
        push(&mut f, "value.unit", v.unit.clone());
        push(&mut f, "value.choices", list(&v.choices));
        push(&mut f, "value.pattern", v.pattern.clone());
        push(&mut f, "value.min", v.min.map(|n| n.to_string()));
        push(&mut f, "value.max", v.max.map(|n| n.to_string()));
    }
    if let Some(c) = &s.command {
        push(&mut f, "command.run", Some(c.run.clone()));
        push(
            &mut f,
            "command.expect_exit",
            c.expect_exit.map(|n| n.to_string()),
        );
        push(
            &mut f,
            "command.timeout_secs",
            c.timeout_secs.map(|n| n.to_string()),
        );
    }
    push(&mut f, "note", s.note.clone());
    push(&mut f, "evidence", s.evidence.clone());
    push(&mut f, "signoff", s.signoff.clone());
    push(&mut f, "typed_signoff", flag(s.typed_signoff));
    push(&mut f, "next", s.next.as_ref().map(|t| t.to_string()));
    push(&mut f, "on_fail", s.on_fail.clone());
    f
}

/// Where `place` is, in words a diff keeps.
fn place(p: &Procedure, at: StepPlace) -> Place {
    let number = super::render::number(at);
    match at {
        StepPlace::Main(i) => Place {
            branch: None,
            position: i + 1,
            number,
        },
        StepPlace::Branch(b, i) => Place {
            branch: p.branches.get(b).map(|br| br.id.clone()),
            position: i + 1,
            number,
        },
    }
}

/// Every step with its place, main path first, then each branch's.
fn placed(p: &Procedure) -> Vec<(&Step, Place)> {
    let main = p
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s, place(p, StepPlace::Main(i))));
    let branches = p.branches.iter().enumerate().flat_map(move |(b, br)| {
        br.steps
            .iter()
            .enumerate()
            .map(move |(i, s)| (s, place(p, StepPlace::Branch(b, i))))
    });
    main.chain(branches).collect()
}

fn step_diffs(before: &Procedure, after: &Procedure) -> Vec<StepDiff> {
    let old = placed(before);
    let new = placed(after);
    let old_by_id: HashMap<&str, &(&Step, Place)> =
        old.iter().map(|e| (e.0.id.as_str(), e)).collect();
    let new_ids: BTreeSet<&str> = new.iter().map(|(s, _)| s.id.as_str()).collect();
    let moved = moved_steps(&old, &new);
    let mut out = Vec::new();
    for (step, at) in &new {
        match old_by_id.get(step.id.as_str()) {
            None => out.push(StepDiff {
                id: step.id.clone(),
                title: step.title.clone(),
                status: Status::Added,
                before: None,
                after: Some(at.clone()),
                moved: false,
                fields: changes(&Fields::new(), &step_fields(step)),
            }),
            Some((was, was_at)) => {
                let fields = changes(&step_fields(was), &step_fields(step));
                let moved = moved.contains(step.id.as_str());
                if moved || !fields.is_empty() {
                    out.push(StepDiff {
                        id: step.id.clone(),
                        title: step.title.clone(),
                        status: Status::Kept,
                        before: Some(was_at.clone()),
                        after: Some(at.clone()),
                        moved,
                        fields,
                    });
                }
            }
        }
    }
    for (step, at) in &old {
        if !new_ids.contains(step.id.as_str()) {
            out.push(StepDiff {
                id: step.id.clone(),
                title: step.title.clone(),
                status: Status::Removed,
                before: Some(at.clone()),
                after: None,
                moved: false,
                fields: changes(&step_fields(step), &Fields::new()),
            });
        }
    }
    out
}

/// The ids of steps in both versions that moved: into another list, or out
/// of the longest common order of their list's common steps.
fn moved_steps<'a>(old: &[(&'a Step, Place)], new: &[(&'a Step, Place)]) -> BTreeSet<&'a str> {
    let list_of = |v: &[(&'a Step, Place)]| -> HashMap<&'a str, Option<String>> {
        v.iter()
            .map(|(s, p)| (s.id.as_str(), p.branch.clone()))
            .collect()
    };
    let old_list = list_of(old);
    let new_list = list_of(new);
    let mut moved = BTreeSet::new();
    let lists: BTreeSet<Option<String>> = new.iter().map(|(_, p)| p.branch.clone()).collect();
    for list in lists {
        let common = |v: &[(&'a Step, Place)], other: &HashMap<&'a str, Option<String>>| {
            v.iter()
                .filter(|(s, p)| p.branch == list && other.get(s.id.as_str()) == Some(&list))
                .map(|(s, _)| s.id.as_str())
                .collect::<Vec<&str>>()
        };
        let a = common(old, &new_list);
        let b = common(new, &old_list);
        let kept = longest_common(&a, &b);
        moved.extend(b.into_iter().filter(|id| !kept.contains(id)));
    }
    for (id, list) in &new_list {
        if old_list.get(id).is_some_and(|was| was != list) {
            moved.insert(*id);
        }
    }
    moved
}

/// The elements of a longest common subsequence of `a` and `b` (whose
/// elements are distinct).
fn longest_common<'a>(a: &[&'a str], b: &[&'a str]) -> BTreeSet<&'a str> {
    align(a, b)
        .into_iter()
        .filter_map(|step| match step {
            Aligned::Both(i, _) => Some(a[i]),
            _ => None,
        })
        .collect()
}

fn branch_diffs(before: &Procedure, after: &Procedure) -> Vec<BranchDiff> {
    let fields = |b: &super::Branch| -> Fields {
        let mut f = Fields::new();
        push(&mut f, "title", Some(b.title.clone()));
        push(
            &mut f,
            "contact",
            b.contact.as_ref().map(|c| c.trim().to_string()),
        );
        push(&mut f, "then", Some(b.then.as_str().to_string()));
        f
    };
    let mut out = Vec::new();
    for b in &after.branches {
        match before.branch(&b.id) {
            None => out.push(BranchDiff {
                id: b.id.clone(),
                title: b.title.clone(),
                status: Status::Added,
                fields: changes(&Fields::new(), &fields(b)),
            }),
            Some(was) => {
                let changed = changes(&fields(was), &fields(b));
                if !changed.is_empty() {
                    out.push(BranchDiff {
                        id: b.id.clone(),
                        title: b.title.clone(),
                        status: Status::Kept,
                        fields: changed,
                    });
                }
            }
        }
    }
    for b in &before.branches {
        if after.branch(&b.id).is_none() {
            out.push(BranchDiff {
                id: b.id.clone(),
                title: b.title.clone(),
                status: Status::Removed,
                fields: changes(&fields(b), &Fields::new()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procedure::test_support::procedure;

    const STEPS: &str = r#"
default_escalation = "esc"

[[roles]]
id = "admin"
title = "Admin"

[[roles]]
id = "lead"
title = "Lead"

[[steps]]
id = "a"
title = "Step A"
body = "Do A."
role = "admin"

[[steps]]
id = "b"
title = "Step B"
[steps.command]
run = "df -h"

[[steps]]
id = "c"
title = "Step C"
[steps.decision]
question = "Fine?"
yes = "d"
no = "fail"

[[steps]]
id = "d"
title = "Step D"
evidence = "Ticket"
signoff = "lead"

[[branches]]
id = "esc"
title = "Escalate"
contact = "On-call"
then = "end-failed"

[[branches.steps]]
id = "e1"
title = "Tell someone"
"#;

    fn base() -> Procedure {
        procedure(STEPS)
    }

    fn only(d: &ProcedureDiff) -> &StepDiff {
        assert_eq!(d.steps.len(), 1, "{d:#?}");
        &d.steps[0]
    }

    fn field<'a>(s: &'a StepDiff, name: &str) -> &'a FieldChange {
        s.fields
            .iter()
            .find(|f| f.field == name)
            .unwrap_or_else(|| panic!("no change of {name}: {s:#?}"))
    }

    #[test]
    fn the_same_procedure_has_no_changes() {
        let d = diff(&base(), &base());
        assert!(d.is_empty(), "{d:#?}");
        assert_eq!(d.summary(), "no changes");
    }

    #[test]
    fn header_fields_and_roles_are_compared() {
        let mut p = base();
        p.version = "2".into();
        p.approver = None;
        p.controls.push("A.5.37".into());
        p.roles[1].title = "Team lead".into();
        p.roles.push(crate::procedure::Role {
            id: "auditor".into(),
            title: "Auditor".into(),
            description: None,
        });
        let d = diff(&base(), &p);
        let fields: Vec<&str> = d.header.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "version",
                "controls",
                "roles.lead.title",
                "roles.auditor.title",
                "approver"
            ]
        );
        assert_eq!(d.header[0].before.as_deref(), Some("1"));
        assert_eq!(d.header[0].after.as_deref(), Some("2"));
        assert_eq!(d.header[1].after.as_deref(), Some("A.8.13, A.5.37"));
        assert_eq!(d.header[3].before, None);
        assert_eq!(d.header[4].after, None);
        assert!(d.steps.is_empty() && d.branches.is_empty());
        assert_eq!(
            d.summary(),
            "header: version, controls, roles.lead.title, and 2 more"
        );
    }

    #[test]
    fn a_changed_text_and_command_are_named() {
        let mut p = base();
        p.steps[0].body = Some("Do A, then check.".into());
        if let Some(c) = &mut p.steps[1].command {
            c.run = "df -h /".into();
        }
        let d = diff(&base(), &p);
        assert_eq!(d.steps.len(), 2);
        assert_eq!(d.steps[0].id, "a");
        assert_eq!(d.steps[0].status, Status::Kept);
        assert!(!d.steps[0].moved);
        let body = field(&d.steps[0], "body");
        assert_eq!(body.before.as_deref(), Some("Do A."));
        assert_eq!(body.after.as_deref(), Some("Do A, then check."));
        let run = field(&d.steps[1], "command.run");
        assert_eq!(
            (run.before.as_deref(), run.after.as_deref()),
            (Some("df -h"), Some("df -h /"))
        );
        assert_eq!(d.steps[1].fields.len(), 1);
        assert_eq!(d.summary(), "2 steps changed");
    }

    #[test]
    fn requirements_decisions_and_targets_are_compared() {
        let mut p = base();
        p.steps[3].signoff = None;
        p.steps[3].evidence = Some("Change ticket".into());
        p.steps[3].note = Some("Anything odd?".into());
        p.steps[3].critical = true;
        p.steps[3].next = Some(crate::procedure::Target::End);
        p.steps[3].on_fail = Some("esc".into());
        if let Some(dec) = &mut p.steps[2].decision {
            dec.no = crate::procedure::Target::Step("a".into());
        }
        let d = diff(&base(), &p);
        let c = &d.steps[0];
        assert_eq!(c.id, "c");
        let no = field(c, "decision.no");
        assert_eq!(
            (no.before.as_deref(), no.after.as_deref()),
            (Some("fail"), Some("a"))
        );
        let s = &d.steps[1];
        assert_eq!(s.id, "d");
        assert_eq!(field(s, "signoff").after, None);
        assert_eq!(field(s, "evidence").after.as_deref(), Some("Change ticket"));
        assert_eq!(field(s, "note").before, None);
        assert_eq!(field(s, "critical").after.as_deref(), Some("true"));
        assert_eq!(field(s, "next").after.as_deref(), Some("end"));
        assert_eq!(field(s, "on_fail").after.as_deref(), Some("esc"));
    }

    #[test]
    fn a_step_that_becomes_another_kind_says_so() {
        let mut p = base();
        p.steps[1].command = None;
        let d = diff(&base(), &p);
        let s = only(&d);
        assert_eq!(field(s, "kind").before.as_deref(), Some("command"));
        assert_eq!(field(s, "kind").after.as_deref(), Some("confirm"));
        assert_eq!(field(s, "command.run").after, None);
    }

    #[test]
    fn an_added_step_moves_nothing_after_it() {
        let mut p = base();
        let mut new = p.steps[0].clone();
        new.id = "a2".into();
        new.title = "Step A2".into();
        p.steps.insert(1, new);
        let d = diff(&base(), &p);
        let s = only(&d);
        assert_eq!((s.id.as_str(), s.status), ("a2", Status::Added));
        assert_eq!(s.after.as_ref().map(|a| a.number.as_str()), Some("2"));
        assert_eq!(d.summary(), "1 step added");
        // All it says, for the change record.
        assert_eq!(field(s, "body").after.as_deref(), Some("Do A."));
        assert!(s.fields.iter().all(|f| f.before.is_none()));
    }

    #[test]
    fn a_removed_step_moves_nothing_and_keeps_its_old_place() {
        let mut p = base();
        p.steps.remove(0);
        let d = diff(&base(), &p);
        let s = only(&d);
        assert_eq!((s.id.as_str(), s.status), ("a", Status::Removed));
        assert_eq!(s.before.as_ref().map(|a| a.position), Some(1));
        assert_eq!(s.title, "Step A");
        assert_eq!(d.summary(), "1 step removed");
    }

    #[test]
    fn swapping_two_steps_moves_one() {
        let mut p = base();
        p.steps.swap(0, 1);
        let d = diff(&base(), &p);
        let s = only(&d);
        assert!(s.moved && s.fields.is_empty(), "{s:#?}");
        assert_eq!(s.status, Status::Kept);
        assert_eq!(d.summary(), "1 step moved");
    }

    #[test]
    fn moving_a_step_to_the_end_moves_only_it() {
        let mut p = base();
        let a = p.steps.remove(0);
        p.steps.push(a);
        let d = diff(&base(), &p);
        let s = only(&d);
        assert_eq!(s.id, "a");
        assert!(s.moved);
        assert_eq!(s.before.as_ref().map(|x| x.number.as_str()), Some("1"));
        assert_eq!(s.after.as_ref().map(|x| x.number.as_str()), Some("4"));
    }

    #[test]
    fn a_step_moved_into_a_branch_is_moved_and_may_change_too() {
        let mut p = base();
        let mut d_step = p.steps.remove(3);
        d_step.title = "Step D, escalated".into();
        p.branches[0].steps.push(d_step);
        let d = diff(&base(), &p);
        let s = only(&d);
        assert!(s.moved);
        assert_eq!(
            s.after.as_ref().and_then(|a| a.branch.as_deref()),
            Some("esc")
        );
        assert_eq!(s.after.as_ref().map(|a| a.number.as_str()), Some("E1.2"));
        assert_eq!(
            field(s, "title").after.as_deref(),
            Some("Step D, escalated")
        );
        assert_eq!(d.summary(), "1 step changed, 1 moved");
    }

    #[test]
    fn branches_added_removed_and_changed() {
        let mut p = base();
        p.branches[0].then = crate::procedure::BranchEnd::Retry;
        p.branches[0].contact = None;
        let mut extra = p.branches[0].clone();
        extra.id = "vendor".into();
        extra.steps[0].id = "v1".into();
        p.branches.push(extra);
        let d = diff(&base(), &p);
        assert_eq!(d.branches.len(), 2);
        assert_eq!(d.branches[0].status, Status::Kept);
        let names: Vec<&str> = d.branches[0]
            .fields
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(names, ["then", "contact"]);
        assert_eq!(d.branches[1].status, Status::Added);
        assert_eq!(only(&d).id, "v1");
        assert_eq!(d.summary(), "1 step added; 1 branch changed, 1 added");

        let back = diff(&p, &base());
        assert_eq!(back.branches[1].status, Status::Removed);
        assert_eq!(back.steps[0].status, Status::Removed);
    }

    #[test]
    fn every_kind_of_change_at_once_is_counted() {
        let mut p = base();
        p.version = "2".into();
        p.steps.swap(0, 1); // b, a, c, d: `a` moved (either could be)
        p.steps.remove(3); // d removed
        p.steps[2].title = "Step C, checked".into();
        let mut new = p.steps[0].clone();
        new.id = "z".into();
        p.steps.push(new);
        let d = diff(&base(), &p);
        assert_eq!(
            d.counts(),
            Counts {
                steps_changed: 1,
                steps_added: 1,
                steps_removed: 1,
                steps_moved: 1,
                header: 1,
                ..Counts::default()
            }
        );
        assert_eq!(
            d.summary(),
            "1 step changed, 1 added, 1 removed, 1 moved; header: version"
        );
        // The new version's order, then what was removed.
        let ids: Vec<&str> = d.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "z", "d"]);
    }

    #[test]
    fn texts_are_compared_line_by_line() {
        use Line::*;
        assert_eq!(
            lines("a\nb\nc\nb", "a\nB\nc\nb\nd"),
            [
                Same("a"),
                Removed("b"),
                Added("B"),
                Same("c"),
                Same("b"),
                Added("d")
            ]
        );
        assert_eq!(lines("", "x"), [Added("x")]);
        assert_eq!(lines("x", ""), [Removed("x")]);
    }

    #[test]
    fn longest_common_keeps_the_shared_order() {
        let kept = longest_common(&["a", "b", "c", "d"], &["b", "c", "d", "a"]);
        assert_eq!(kept.into_iter().collect::<Vec<_>>(), ["b", "c", "d"]);
        assert!(longest_common(&[], &["a"]).is_empty());
    }

    #[test]
    fn field_words_are_for_people() {
        assert_eq!(field_words("body"), "instructions");
        assert_eq!(field_words("roles.lead.title"), "role lead");
        assert_eq!(
            field_words("roles.lead.description"),
            "role lead: responsibilities"
        );
        assert_eq!(field_words("title"), "title");
    }
}
