//! The flow of a procedure as a graph of nodes and labelled edges, shared by the
//! Mermaid chart and the HTML "Flow" list so the two can never disagree.
//! Labels here are plain, unescaped text; each writer escapes them.
//!
//! May not depend on anything outside `procedure`.

use std::collections::BTreeMap;

use super::{Procedure, Step, StepKind, StepPlace, Target, following, heading, role_ref};
use crate::procedure::BranchEnd;

/// How a node is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// Start and the ends of the run (stadium).
    Terminal,
    /// Retry / continue: the run goes on elsewhere (rounded box).
    Rounded,
    /// An instruction to confirm (rectangle).
    Rect,
    /// A yes/no decision (rhombus).
    Rhombus,
    /// A recorded value (parallelogram, "input").
    Parallelogram,
    /// A shell command (subroutine).
    Subroutine,
    /// A note such as "Any step fails" (flag).
    Flag,
    /// A reference to something the procedure does not define (hexagon).
    Hexagon,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Node {
    /// Mermaid-safe id, generated (never taken from the procedure).
    pub id: String,
    /// Main label, e.g. `3. Run the backup`.
    pub label: String,
    /// Second line: role, critical, sign-off.
    pub detail: Option<String>,
    pub shape: Shape,
    /// Index of the escalation branch the node is drawn in.
    pub branch: Option<usize>,
    pub critical: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    Normal,
    /// A failure path (dashed).
    Fail,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Edge {
    pub from: String,
    pub to: String,
    pub label: Option<String>,
    pub style: Style,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Flow {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Flow {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

const START: &str = "start";
const DONE: &str = "done";
const ANY_FAIL: &str = "anyfail";
const RETRY: &str = "retry";
const CONTINUE: &str = "cont";
const ESCALATED: &str = "escalated";
const FAILED: &str = "failed";

/// The generated node id of a step.
fn step_node(place: StepPlace) -> String {
    match place {
        StepPlace::Main(i) => format!("s{}", i + 1),
        StepPlace::Branch(b, i) => format!("b{}s{}", b + 1, i + 1),
    }
}

fn end_node(end: BranchEnd) -> &'static str {
    match end {
        BranchEnd::Retry => RETRY,
        BranchEnd::Continue => CONTINUE,
        BranchEnd::EndEscalated => ESCALATED,
        BranchEnd::EndFailed => FAILED,
    }
}

struct Builder<'a> {
    p: &'a Procedure,
    edges: Vec<Edge>,
    /// Label of an unknown step or branch → its node id.
    unknown: BTreeMap<String, String>,
}

/// Build the flow graph of a procedure.
pub(super) fn build(p: &Procedure) -> Flow {
    let mut b = Builder {
        p,
        edges: Vec::new(),
        unknown: BTreeMap::new(),
    };
    match p.steps.first() {
        Some(_) => b.edge(START, step_node(StepPlace::Main(0)), None, Style::Normal),
        None => b.edge(START, DONE.into(), None, Style::Normal),
    }
    for (i, step) in p.steps.iter().enumerate() {
        b.outgoing(step, StepPlace::Main(i));
    }
    let uses_default = p.steps.iter().filter(|s| s.on_fail.is_none()).count();
    if uses_default > 0 {
        let to = b.escalation_entry(p.default_escalation.as_deref());
        b.edge(ANY_FAIL, to, Some("fail".into()), Style::Fail);
    }
    for (bi, branch) in p.branches.iter().enumerate() {
        for (si, step) in branch.steps.iter().enumerate() {
            b.outgoing(step, StepPlace::Branch(bi, si));
        }
    }

    let used = |id: &str| b.edges.iter().any(|e| e.from == id || e.to == id);
    let mut nodes = vec![terminal(START, "Start", Shape::Terminal)];
    for (i, step) in p.steps.iter().enumerate() {
        nodes.push(step_to_node(p, step, StepPlace::Main(i)));
    }
    if used(ANY_FAIL) {
        let label = if uses_default == p.steps.len() {
            "Any step fails"
        } else {
            "Any other step fails"
        };
        nodes.push(terminal(ANY_FAIL, label, Shape::Flag));
    }
    for (label, id) in &b.unknown {
        nodes.push(terminal(id, label, Shape::Hexagon));
    }
    for (id, label, shape) in [
        (DONE, "End: completed", Shape::Terminal),
        (RETRY, "Retry the failed step", Shape::Rounded),
        (CONTINUE, "Continue after the failed step", Shape::Rounded),
        (ESCALATED, "End: escalated", Shape::Terminal),
        (FAILED, "End: failed", Shape::Terminal),
    ] {
        if used(id) {
            nodes.push(terminal(id, label, shape));
        }
    }
    for (bi, branch) in p.branches.iter().enumerate() {
        for (si, step) in branch.steps.iter().enumerate() {
            nodes.push(step_to_node(p, step, StepPlace::Branch(bi, si)));
        }
    }
    Flow {
        nodes,
        edges: b.edges,
    }
}

fn terminal(id: &str, label: &str, shape: Shape) -> Node {
    Node {
        id: id.into(),
        label: label.into(),
        detail: None,
        shape,
        branch: None,
        critical: false,
    }
}

fn step_to_node(p: &Procedure, step: &Step, place: StepPlace) -> Node {
    let shape = match step.kind() {
        StepKind::Confirm => Shape::Rect,
        StepKind::Decision(_) => Shape::Rhombus,
        StepKind::Value(_) => Shape::Parallelogram,
        StepKind::Command(_) => Shape::Subroutine,
    };
    let mut detail = Vec::new();
    if let Some(role) = &step.role {
        detail.push(format!("role: {}", role_ref(p, role)));
    }
    if step.critical {
        detail.push("critical".to_string());
    }
    if let Some(role) = &step.signoff {
        detail.push(format!("sign-off: {}", role_ref(p, role)));
    }
    Node {
        id: step_node(place),
        label: heading(step, place),
        detail: (!detail.is_empty()).then(|| detail.join(" · ")),
        shape,
        branch: match place {
            StepPlace::Main(_) => None,
            StepPlace::Branch(b, _) => Some(b),
        },
        critical: step.critical,
    }
}

impl Builder<'_> {
    /// Add an edge unless the same one is already there (e.g. `next = "fail"`
    /// on a step whose own `on_fail` edge was drawn too).
    fn edge(&mut self, from: &str, to: String, label: Option<String>, style: Style) {
        let edge = Edge {
            from: from.into(),
            to,
            label,
            style,
        };
        if !self.edges.contains(&edge) {
            self.edges.push(edge);
        }
    }

    fn unknown_node(&mut self, label: String) -> String {
        let n = self.unknown.len() + 1;
        self.unknown
            .entry(label)
            .or_insert_with(|| format!("u{n}"))
            .clone()
    }

    /// The node a failure entering branch `id` goes to.
    fn escalation_entry(&mut self, id: Option<&str>) -> String {
        let Some(id) = id else {
            return FAILED.into();
        };
        match self.p.branches.iter().position(|b| b.id == id) {
            None => self.unknown_node(format!("Unknown branch: {id}")),
            Some(bi) => match self.p.branches[bi].steps.first() {
                Some(_) => step_node(StepPlace::Branch(bi, 0)),
                None => FAILED.into(),
            },
        }
    }

    fn outgoing(&mut self, step: &Step, place: StepPlace) {
        let from = step_node(place);
        match step.kind() {
            StepKind::Decision(d) => {
                self.target(&from, step, place, &d.yes, Some("yes"));
                self.target(&from, step, place, &d.no, Some("no"));
            }
            _ => {
                let next = step
                    .next
                    .clone()
                    .unwrap_or_else(|| following(self.p, place));
                self.target(&from, step, place, &next, None);
            }
        }
        if let (StepPlace::Main(_), Some(id)) = (place, step.on_fail.as_deref()) {
            let to = self.escalation_entry(Some(id));
            self.edge(&from, to, Some("fail".into()), Style::Fail);
        }
    }

    fn target(
        &mut self,
        from: &str,
        step: &Step,
        place: StepPlace,
        target: &Target,
        answer: Option<&str>,
    ) {
        let label = |word: &str| Some(answer.map_or_else(|| word.to_string(), |a| a.to_string()));
        match target {
            Target::Step(id) => {
                let to = match self.p.step(id) {
                    Some((_, at)) => step_node(at),
                    None => self.unknown_node(format!("Unknown step: {id}")),
                };
                self.edge(from, to, answer.map(str::to_string), Style::Normal);
            }
            Target::End => match place {
                StepPlace::Main(_) => {
                    self.edge(from, DONE.into(), answer.map(str::to_string), Style::Normal)
                }
                StepPlace::Branch(b, _) => {
                    let then = self
                        .p
                        .branches
                        .get(b)
                        .map_or(BranchEnd::EndFailed, |br| br.then);
                    self.edge(
                        from,
                        end_node(then).into(),
                        label(then.as_str()),
                        Style::Normal,
                    );
                }
            },
            Target::Fail => {
                let to = match place {
                    StepPlace::Main(_) => {
                        let id = step
                            .on_fail
                            .as_deref()
                            .or(self.p.default_escalation.as_deref());
                        self.escalation_entry(id)
                    }
                    StepPlace::Branch(..) => FAILED.into(),
                };
                let text = answer.map_or_else(|| "fail".to_string(), |a| format!("{a}: fail"));
                self.edge(from, to, Some(text), Style::Fail);
            }
            Target::Branch(end) => {
                self.edge(
                    from,
                    end_node(*end).into(),
                    label(end.as_str()),
                    Style::Normal,
                );
            }
        }
    }
}
