//! The Mermaid `flowchart TD` writer over the shared flow graph.
//!
//! May not depend on anything outside `procedure` and `text`.
//! Node ids are generated (`s3`, `b1s2`, `done` …), never taken from the
//! procedure; every label is quoted and escaped with Mermaid entity codes.

use std::fmt::Write;

use super::flow::{self, Shape, Style};
use super::{Procedure, branch_number};
use crate::text::sanitize_line;

/// A Mermaid `flowchart TD` of the procedure: Start and End nodes, one node per
/// step shaped by kind, yes/no edges for decisions, dashed `fail` edges into
/// escalation branches (drawn as subgraphs), and terminal nodes for how each
/// branch ends.
pub fn mermaid(p: &Procedure) -> String {
    let flow = flow::build(p);
    let mut out = String::from("flowchart TD\n");
    for node in flow.nodes.iter().filter(|n| n.branch.is_none()) {
        let _ = writeln!(out, "    {}", node_decl(node));
    }
    for (bi, branch) in p.branches.iter().enumerate() {
        let title = format!("Escalation {}: {}", branch_number(bi), branch.title);
        let _ = writeln!(out, "    subgraph br{} [\"{}\"]", bi + 1, text(&title));
        for node in flow.nodes.iter().filter(|n| n.branch == Some(bi)) {
            let _ = writeln!(out, "        {}", node_decl(node));
        }
        out.push_str("    end\n");
    }
    for e in &flow.edges {
        let arrow = match (e.style, &e.label) {
            (Style::Normal, None) => "-->".to_string(),
            (Style::Normal, Some(l)) => format!("-->|\"{}\"|", text(l)),
            (Style::Fail, None) => "-.->".to_string(),
            (Style::Fail, Some(l)) => format!("-. \"{}\" .->", text(l)),
        };
        let _ = writeln!(out, "    {} {arrow} {}", e.from, e.to);
    }
    let critical: Vec<&str> = flow
        .nodes
        .iter()
        .filter(|n| n.critical)
        .map(|n| n.id.as_str())
        .collect();
    out.push_str("    classDef critical stroke-width:3px\n");
    out.push_str("    classDef ending stroke-dasharray:4 2\n");
    if !critical.is_empty() {
        let _ = writeln!(out, "    class {} critical", critical.join(","));
    }
    let endings: Vec<&str> = ["escalated", "failed"]
        .into_iter()
        .filter(|id| flow.node(id).is_some())
        .collect();
    if !endings.is_empty() {
        let _ = writeln!(out, "    class {} ending", endings.join(","));
    }
    out
}

fn node_decl(node: &flow::Node) -> String {
    let mut label = text(&node.label);
    if let Some(d) = &node.detail {
        label.push_str("<br/>");
        label.push_str(&text(d));
    }
    let (open, close) = match node.shape {
        Shape::Terminal => ("([", "])"),
        Shape::Rounded => ("(", ")"),
        Shape::Rect => ("[", "]"),
        Shape::Rhombus => ("{", "}"),
        Shape::Parallelogram => ("[/", "/]"),
        Shape::Subroutine => ("[[", "]]"),
        Shape::Flag => (">", "]"),
        Shape::Hexagon => ("{{", "}}"),
    };
    format!("{}{open}\"{label}\"{close}", node.id)
}

/// Escape untrusted text for a quoted Mermaid label: one line, control characters
/// made visible, and every character Mermaid or the HTML it renders into could
/// treat as markup replaced with a Mermaid entity code (`#quot;`, `#lt;` …).
pub(super) fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in sanitize_line(s).chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '`' => out.push_str("#96;"),
            c => out.push(c),
        }
    }
    out
}
