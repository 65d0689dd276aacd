//! Lint checks on the flow: targets, escalation references, failure paths,
//! reachability and loops with no way out, for the main path and each branch.
//!
//! Flow rules (also in docs/procedure-format.md): a step goes to its `next`,
//! else the following step in its list, else the end of its list; a decision
//! goes where its answer says (`next` on a decision is used only when the step
//! is skipped, and is not a flow edge here). Flow never jumps between the main
//! path and a branch or between branches; escalation is entered by failing.
//!
//! May not depend on anything outside `procedure`; no IO.

use std::collections::{HashMap, HashSet};

use super::{Ctx, Region, steps_at, suggest};
use crate::procedure::model::{Step, Target};

/// Where a target leads, seen from a step in `region`.
enum Edge {
    /// To a step in the same region, by index.
    Step(usize),
    /// Out of the region (end, fail, a branch end).
    Exit,
    /// To an unknown step or into another region (reported on its own). Counts
    /// as a way out; unreachable steps are not reported while one is reachable,
    /// since the author's intended target is unknown.
    Invalid,
}

pub(super) fn flow(ctx: &mut Ctx<'_>) {
    let p = ctx.p;
    let mut place: HashMap<&str, (Region, usize)> = HashMap::new();
    for (i, s) in p.steps.iter().enumerate() {
        place.entry(s.id.as_str()).or_insert((Region::Main, i));
    }
    for (b, branch) in p.branches.iter().enumerate() {
        for (i, s) in branch.steps.iter().enumerate() {
            place.entry(s.id.as_str()).or_insert((Region::Branch(b), i));
        }
    }

    if p.steps.is_empty() {
        ctx.error(
            "steps",
            "empty-steps",
            "the procedure has no steps".to_string(),
            "add at least one [[steps]] entry with an id and a title",
        );
    }
    for (b, branch) in p.branches.iter().enumerate() {
        if branch.steps.is_empty() {
            ctx.error(
                &format!("branches[{b}].steps"),
                "empty-steps",
                format!("branch `{}` has no steps", branch.id),
                "add at least one step saying what to do (e.g. open an incident ticket)",
            );
        }
    }

    escalation(ctx);
    targets(ctx, &place);

    region_graph(ctx, Region::Main, &p.steps, &place);
    for (b, branch) in p.branches.iter().enumerate() {
        region_graph(ctx, Region::Branch(b), &branch.steps, &place);
    }
}

fn step_path(region: Region, i: usize) -> String {
    match region {
        Region::Main => format!("steps[{i}]"),
        Region::Branch(b) => format!("branches[{b}].steps[{i}]"),
    }
}

/// `on_fail`, `default_escalation`, failure paths and unused branches.
fn escalation(ctx: &mut Ctx<'_>) {
    let p = ctx.p;
    let branch_ids: Vec<&str> = p.branches.iter().map(|b| b.id.as_str()).collect();
    let unknown_branch = |ctx: &mut Ctx<'_>, path: &str, key: &str, id: &str| {
        let hint = match suggest(id, branch_ids.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? branches: {}", branch_ids.join(", ")),
            None if branch_ids.is_empty() => {
                format!("add a [[branches]] entry with id = \"{id}\", its steps and `then`")
            }
            None => format!("use one of the branches: {}", branch_ids.join(", ")),
        };
        ctx.error(
            path,
            "unknown-branch",
            format!("`{key}` names unknown branch `{id}`"),
            hint,
        );
    };
    if let Some(id) = &p.default_escalation
        && !branch_ids.contains(&id.as_str())
    {
        unknown_branch(ctx, "default_escalation", "default_escalation", id);
    }
    for s in steps_at(p) {
        let Some(id) = &s.step.on_fail else { continue };
        let path = format!("{}.on_fail", s.path);
        match s.region {
            Region::Branch(b) => ctx.error(
                &path,
                "branch-on-fail",
                format!(
                    "step `{}` in branch `{}` has `on_fail`: branch steps cannot escalate",
                    s.step.id, p.branches[b].id
                ),
                "remove `on_fail`; a failure inside a branch ends the run failed",
            ),
            Region::Main => {
                if !branch_ids.contains(&id.as_str()) {
                    unknown_branch(ctx, &path, "on_fail", id);
                }
            }
        }
    }

    for (i, step) in p.steps.iter().enumerate() {
        if has_escalation(ctx, step) {
            continue;
        }
        let why = if step.command.is_some() {
            Some((
                "command",
                "its command can end with an unexpected exit code",
            ))
        } else if step.critical {
            Some(("critical", "it is critical, so it cannot be skipped"))
        } else {
            None
        };
        if let Some((key, why)) = why {
            ctx.error(
                &format!("steps[{i}].{key}"),
                "no-failure-path",
                format!(
                    "step `{}` can fail ({why}) but has no escalation branch",
                    step.id
                ),
                NO_FAILURE_HINT,
            );
        }
    }

    let mut used: HashSet<&str> = HashSet::new();
    used.extend(p.default_escalation.as_deref());
    used.extend(p.all_steps().filter_map(|s| s.on_fail.as_deref()));
    for (b, branch) in p.branches.iter().enumerate() {
        if !used.contains(branch.id.as_str()) {
            ctx.warning(
                &format!("branches[{b}].id"),
                "unused-branch",
                format!("branch `{}` is never used", branch.id),
                format!(
                    "refer to it with on_fail = \"{}\" on a step, or with `default_escalation`; or remove it",
                    branch.id
                ),
            );
        }
    }
}

const NO_FAILURE_HINT: &str = "add on_fail = \"<branch id>\" to the step or `default_escalation` to the procedure, and a [[branches]] entry that says who to contact and whether to retry, continue or end the run";

/// Whether a failure of this main step enters a branch (an unknown branch
/// counts: it is reported on its own).
fn has_escalation(ctx: &Ctx<'_>, step: &Step) -> bool {
    step.on_fail.is_some() || ctx.p.default_escalation.is_some()
}

/// The targets a step names, with their paths. `next` on a decision is
/// included (it is used when the step is skipped).
fn step_targets(step: &Step, path: &str) -> Vec<(String, &'static str, Target)> {
    let mut out = Vec::new();
    if let Some(d) = &step.decision {
        out.push((format!("{path}.decision.yes"), "yes", d.yes.clone()));
        out.push((format!("{path}.decision.no"), "no", d.no.clone()));
    }
    if let Some(next) = &step.next {
        out.push((format!("{path}.next"), "next", next.clone()));
    }
    out
}

/// Each target: known, in the same region, allowed there, with a failure path.
fn targets(ctx: &mut Ctx<'_>, place: &HashMap<&str, (Region, usize)>) {
    let p = ctx.p;
    for s in steps_at(p) {
        for (path, key, target) in step_targets(s.step, &s.path) {
            match &target {
                Target::Step(id) => match place.get(id.as_str()) {
                    None => {
                        let region_ids: Vec<&str> = region_steps(ctx, s.region)
                            .iter()
                            .map(|s| s.id.as_str())
                            .collect();
                        let words: &[&str] = match s.region {
                            Region::Main => &["end", "fail"],
                            Region::Branch(_) => &[
                                "end",
                                "fail",
                                "retry",
                                "continue",
                                "end-escalated",
                                "end-failed",
                            ],
                        };
                        let candidates = region_ids.iter().chain(words.iter()).copied();
                        let hint = match suggest(id, candidates) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!(
                                "use a step id from the same list, or one of: {}",
                                words.join(", ")
                            ),
                        };
                        ctx.error(
                            &path,
                            "unknown-target",
                            format!("step `{}`: `{key}` goes to unknown step `{id}`", s.step.id),
                            hint,
                        );
                    }
                    Some((region, _)) if *region != s.region => {
                        let there = region_name(ctx, *region);
                        let here = region_name(ctx, s.region);
                        ctx.error(
                            &path,
                            "cross-flow",
                            format!(
                                "step `{}` on {here}: `{key}` jumps to `{id}` on {there}; flow may not jump between the main path and a branch",
                                s.step.id
                            ),
                            match s.region {
                                Region::Main => "to escalate, go to `fail` (the step's escalation branch is entered)",
                                Region::Branch(_) => "end the branch with `end` (its `then`), `retry`, `continue`, `end-escalated` or `end-failed`",
                            },
                        );
                    }
                    Some(_) => {}
                },
                Target::Branch(end) => {
                    if s.region == Region::Main {
                        ctx.error(
                            &path,
                            "branch-only-target",
                            format!(
                                "step `{}`: `{}` is only possible inside an escalation branch",
                                s.step.id,
                                end.as_str()
                            ),
                            "on the main path go to a step id, `end` (run completed) or `fail` (enter the escalation branch)",
                        );
                    }
                }
                Target::Fail => {
                    if s.region == Region::Main && !has_escalation(ctx, s.step) {
                        ctx.error(
                            &path,
                            "no-failure-path",
                            format!(
                                "step `{}`: `{key}` goes to `fail` but the step has no escalation branch",
                                s.step.id
                            ),
                            NO_FAILURE_HINT,
                        );
                    }
                }
                Target::End => {}
            }
        }
    }
}

fn region_steps<'a>(ctx: &Ctx<'a>, region: Region) -> &'a [Step] {
    match region {
        Region::Main => &ctx.p.steps,
        Region::Branch(b) => ctx.p.branches.get(b).map_or(&[], |br| &br.steps),
    }
}

fn region_name(ctx: &Ctx<'_>, region: Region) -> String {
    match region {
        Region::Main => "the main path".to_string(),
        Region::Branch(b) => format!(
            "branch `{}`",
            ctx.p.branches.get(b).map_or("", |br| br.id.as_str())
        ),
    }
}

/// The flow edges out of step `i` of a region's list.
fn edges(
    steps: &[Step],
    i: usize,
    region: Region,
    place: &HashMap<&str, (Region, usize)>,
) -> Vec<Edge> {
    let resolve = |t: &Target| match t {
        Target::Step(id) => match place.get(id.as_str()) {
            Some((r, j)) if *r == region => Edge::Step(*j),
            _ => Edge::Invalid,
        },
        _ => Edge::Exit,
    };
    let step = &steps[i];
    if let Some(d) = &step.decision {
        return vec![resolve(&d.yes), resolve(&d.no)];
    }
    match &step.next {
        Some(t) => vec![resolve(t)],
        None if i + 1 < steps.len() => vec![Edge::Step(i + 1)],
        None => vec![Edge::Exit],
    }
}

/// Reachability from the region's first step, and loops with no way out.
fn region_graph(
    ctx: &mut Ctx<'_>,
    region: Region,
    steps: &[Step],
    place: &HashMap<&str, (Region, usize)>,
) {
    let n = steps.len();
    if n == 0 {
        return;
    }
    let out: Vec<Vec<Edge>> = (0..n).map(|i| edges(steps, i, region, place)).collect();
    let succ = |i: usize| {
        out[i].iter().filter_map(|e| match e {
            Edge::Step(j) => Some(*j),
            Edge::Exit | Edge::Invalid => None,
        })
    };

    // Reachable from the first step.
    let mut reached = vec![false; n];
    let mut todo = vec![0];
    reached[0] = true;
    while let Some(i) = todo.pop() {
        for j in succ(i) {
            if !reached[j] {
                reached[j] = true;
                todo.push(j);
            }
        }
    }
    let end_word = match region {
        Region::Main => "the main path",
        Region::Branch(_) => "its branch",
    };
    let guessing = (0..n).any(|i| reached[i] && out[i].iter().any(|e| matches!(e, Edge::Invalid)));
    for (i, step) in steps.iter().enumerate() {
        if reached[i] || guessing {
            continue;
        }
        let hint = match i.checked_sub(1).map(|k| &steps[k]) {
            Some(prev) if prev.decision.is_some() || prev.next.is_some() => format!(
                "the step before it (`{}`) goes elsewhere; name `{}` in a `next`, `yes` or `no`, or remove it",
                prev.id, step.id
            ),
            _ => format!(
                "name `{}` in a `next`, `yes` or `no` of a reachable step, or remove it",
                step.id
            ),
        };
        ctx.error(
            &format!("{}.id", step_path(region, i)),
            "unreachable",
            format!(
                "step `{}` is never reached from the first step of {end_word}",
                step.id
            ),
            hint,
        );
    }

    // Steps that can reach an exit: a fixed point over the reverse edges.
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut can_exit = vec![false; n];
    let mut todo = Vec::new();
    for i in 0..n {
        for e in &out[i] {
            match e {
                Edge::Step(j) => preds[*j].push(i),
                Edge::Exit | Edge::Invalid => {
                    if !can_exit[i] {
                        can_exit[i] = true;
                        todo.push(i);
                    }
                }
            }
        }
    }
    while let Some(j) = todo.pop() {
        for &i in &preds[j] {
            if !can_exit[i] {
                can_exit[i] = true;
                todo.push(i);
            }
        }
    }

    // Each loop among reachable steps that cannot exit, reported once.
    let stuck = |i: usize| reached[i] && !can_exit[i];
    let mut covered = vec![false; n];
    for start in 0..n {
        if !stuck(start) || covered[start] {
            continue;
        }
        let mut walk: Vec<usize> = Vec::new();
        let mut cur = start;
        let cycle = loop {
            if covered[cur] {
                break None;
            }
            covered[cur] = true;
            walk.push(cur);
            let Some(next) = succ(cur).find(|&j| stuck(j)) else {
                break None;
            };
            if let Some(k) = walk.iter().position(|&w| w == next) {
                break Some(walk[k..].to_vec());
            }
            cur = next;
        };
        let Some(cycle) = cycle else { continue };
        let first = cycle.iter().copied().min().unwrap_or(start);
        let rot = cycle.iter().position(|&c| c == first).unwrap_or(0);
        let mut names: Vec<&str> = cycle[rot..]
            .iter()
            .chain(cycle[..rot].iter())
            .map(|&c| steps[c].id.as_str())
            .collect();
        names.push(steps[first].id.as_str());
        let chain = names
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(" → ");
        let goal = match region {
            Region::Main => "the end of the procedure".to_string(),
            Region::Branch(_) => format!("the end of {}", region_name(ctx, region)),
        };
        ctx.error(
            &format!("{}.id", step_path(region, first)),
            "no-exit",
            format!("steps loop with no way to reach {goal}: {chain}"),
            "give one of them a `next`, or a decision answer, that leads out of the loop (to a later step, `end` or `fail`)",
        );
    }
}
