//! A live run's history, for the runners' history views (`h` in the
//! full-screen and in the plain runner): every step that has state, in the
//! procedure's order with each escalation branch after the step that
//! entered it, and what is recorded for it, in words. The front ends only
//! lay it out (wrapping, cutting, marks and styles) and make its text
//! harmless for the terminal: the words are here, once.
//!
//! May use the engine's run state and the procedure model; may not depend
//! on the store, the session or the front ends.

use crate::engine::{CommandResult, Run, StepState, StepStatus};
use crate::procedure::{Branch, Step, StepKind};

/// One row of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// An escalation branch begins: its steps follow.
    Branch {
        title: String,
    },
    Step(Entry),
}

/// One step with state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// A step of an escalation branch (after a [`Row::Branch`]).
    pub in_branch: bool,
    /// Its number in its list (the procedure's steps, or the branch's).
    pub number: usize,
    pub title: String,
    pub status: StepStatus,
    pub attempts: u32,
    pub fields: Vec<Field>,
}

/// Something recorded for a step: a label and its text (a note's text may
/// have several lines), and for a command run, its output's first lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub label: String,
    pub text: String,
    pub output: Option<Output>,
}

/// The first lines of a command's output, and how many more there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub lines: Vec<String>,
    pub more: usize,
}

/// The history of `run`, with up to `output_lines` lines of each command's output.
pub fn history(run: &Run, output_lines: usize) -> Vec<Row> {
    let p = &run.procedure;
    let mut rows = Vec::new();
    let mut shown: Vec<&str> = Vec::new();
    let branch_rows = |b: &Branch, rows: &mut Vec<Row>| {
        let steps: Vec<Row> = b
            .steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let st = run.steps.get(&s.id)?;
                Some(Row::Step(entry(s, st, true, i + 1, output_lines)))
            })
            .collect();
        if !steps.is_empty() {
            rows.push(Row::Branch {
                title: b.title.clone(),
            });
            rows.extend(steps);
        }
    };
    for (i, s) in p.steps.iter().enumerate() {
        let Some(st) = run.steps.get(&s.id) else {
            continue;
        };
        rows.push(Row::Step(entry(s, st, false, i + 1, output_lines)));
        if st.escalations > 0
            && let Some(b) = p.escalation_for(s)
            && !shown.contains(&b.id.as_str())
        {
            shown.push(&b.id);
            branch_rows(b, &mut rows);
        }
    }
    for b in &p.branches {
        if !shown.contains(&b.id.as_str()) {
            branch_rows(b, &mut rows);
        }
    }
    rows
}

/// What is recorded for `step`, in words.
fn entry(
    step: &Step,
    st: &StepState,
    in_branch: bool,
    number: usize,
    output_lines: usize,
) -> Entry {
    let mut fields = Vec::new();
    let mut field = |label: &str, text: String| {
        fields.push(Field {
            label: label.to_string(),
            text,
            output: None,
        });
    };
    if let Some(v) = &st.value {
        let unit = match step.kind() {
            StepKind::Value(spec) => spec.unit.clone(),
            _ => None,
        };
        field(
            "Value",
            match (v.is_empty(), unit) {
                (true, _) => "(left empty)".to_string(),
                (false, Some(u)) => format!("{v} {u}"),
                (false, None) => v.clone(),
            },
        );
    }
    if let Some(a) = st.answer {
        let question = match step.kind() {
            StepKind::Decision(d) => format!(" — {}", d.question),
            _ => String::new(),
        };
        field(
            "Answer",
            format!("{}{question}", if a { "yes" } else { "no" }),
        );
    }
    if let Some(e) = &st.evidence {
        field("Evidence", e.clone());
    }
    for (i, n) in st.notes.iter().enumerate() {
        field(
            &numbered("Note", i, st.notes.len()),
            n.trim_end().to_string(),
        );
    }
    let expect = match step.kind() {
        StepKind::Command(c) => c.expect_exit.unwrap_or(0),
        _ => 0,
    };
    for (i, c) in st.commands.iter().enumerate() {
        fields.push(command_field(
            &numbered("Command run", i, st.commands.len()),
            c,
            expect,
            output_lines,
        ));
    }
    let mut field = |label: &str, text: String| {
        fields.push(Field {
            label: label.to_string(),
            text,
            output: None,
        });
    };
    if let Some(by) = &st.signed_off_by {
        field(
            "Signed off by",
            format!("{by}{}", super::timeline::sign_off_how(st.sign_off_method)),
        );
    }
    for f in &st.failures {
        field("Failed", f.clone());
    }
    if let Some(j) = &st.skip_justification {
        field("Skipped", j.clone());
    }
    for c in &st.corrections {
        field("Corrected", c.clone());
    }
    Entry {
        in_branch,
        number,
        title: step.title.clone(),
        status: st.status,
        attempts: st.attempts,
        fields,
    }
}

/// `label`, numbered when there are several.
fn numbered(label: &str, i: usize, of: usize) -> String {
    if of > 1 {
        format!("{label} {}", i + 1)
    } else {
        label.to_string()
    }
}

/// A command run: the command, its exit against the expected one, its time
/// and output size, and the first lines of its output.
fn command_field(label: &str, c: &CommandResult, expect: i32, output_lines: usize) -> Field {
    let exit = match c.exit_code {
        Some(code) if code == expect => format!("exit {code}"),
        Some(code) => format!("exit {code}, expected {expect}"),
        None => "stopped (no exit code)".to_string(),
    };
    let kept = if c.truncated {
        format!(
            " (the log keeps the first {} KiB)",
            crate::runner::OUTPUT_CAP / 1024
        )
    } else {
        String::new()
    };
    let mut lines = c.output.lines();
    let first: Vec<String> = lines
        .by_ref()
        .take(output_lines)
        .map(String::from)
        .collect();
    Field {
        label: label.to_string(),
        text: format!(
            "$ {} — {exit} in {}, {} bytes of output{kept}",
            c.command,
            super::timeline::duration_text(c.duration_ms),
            c.output_bytes
        ),
        output: Some(Output {
            lines: first,
            more: lines.count(),
        }),
    }
}

/// "… 3 more lines (runsheet show has it all)".
pub fn more_words(more: usize) -> String {
    format!(
        "… {more} more {} (runsheet show has it all)",
        if more == 1 { "line" } else { "lines" }
    )
}
