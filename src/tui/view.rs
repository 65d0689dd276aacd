//! The pure `view`: draws the whole screen from the UI state and the run. Also the
//! layout arithmetic `update` needs to clamp scrolling (same functions, so the two
//! cannot disagree).
//!
//! May not depend on the store or the session, and never changes state. Every piece
//! of procedure text, note, value and command output passes through
//! `text::sanitize_terminal` (via [`clean`]/[`clean_line`]) before it is drawn.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::app::{
    App, CommandPane, Dialog, LineDialog, MIN_HEIGHT, MIN_WIDTH, Saved, acts_on_step,
};
use crate::engine::{Action, RequirementKind, Run, StepStatus};
use crate::keys::{self, Does, Intent, Mode};
use crate::procedure::{StepKind, StepPlace, ValueKind};
use crate::report::history::{Entry, Row};
use crate::session::flow::Ask;
use crate::text::{reflow, sanitize_line, sanitize_terminal};

/// Untrusted multi-line text made harmless for the terminal (tabs become spaces).
pub(crate) fn clean(s: &str) -> String {
    sanitize_terminal(s).replace('\t', "    ")
}

/// Untrusted text for one line (newlines shown as `\n`).
pub(crate) fn clean_line(s: &str) -> String {
    sanitize_line(s)
}

/// Styles; without colour only bold/reverse remain, and meaning is always in the text too.
#[derive(Clone, Copy)]
struct Theme {
    color: bool,
}

impl Theme {
    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }
    fn bold(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    fn err(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    fn ok(self) -> Style {
        self.fg(Color::Green)
    }
    fn warn(self) -> Style {
        self.fg(Color::Yellow)
    }
    fn dim(self) -> Style {
        self.fg(Color::DarkGray)
    }
    fn accent(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    fn banner(self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        }
    }
}

/// Where everything goes on the step screen.
struct Areas {
    header: Rect,
    notice: Rect,
    banner: Rect,
    outline: Rect,
    step: Rect,
    output: Option<Rect>,
    message: Rect,
    footer: Rect,
}

/// Rows the step screen's body (outline and step pane, borders included) keeps
/// under an escalation banner: a long failure reason gives way before it does.
const MIN_BODY: u16 = 8;

/// The message line's rows: the last action's result or refusal, wrapped to
/// the width (at most [`MESSAGE_ROWS`], the last cut with "…"; a refusal
/// says what to do, so it is never cut silently).
fn message_lines(app: &App, th: Theme, width: u16) -> Vec<Line<'static>> {
    let Some(m) = &app.message else {
        return Vec::new();
    };
    let (mark, style) = if m.error {
        ("✘ ", th.err())
    } else {
        ("✔ ", th.ok())
    };
    let line = Line::from(vec![
        Span::styled(mark, style),
        Span::styled(clean_line(&m.text), style),
    ]);
    let mut lines = wrap(vec![line], width);
    if lines.len() > MESSAGE_ROWS {
        lines.truncate(MESSAGE_ROWS);
        if let Some(last) = lines.last_mut() {
            let text: String = last.spans.iter().map(|s| s.content.as_ref()).collect();
            let keep: String = text
                .chars()
                .take(usize::from(width).saturating_sub(1))
                .collect();
            *last = Line::from(Span::styled(format!("{keep}…"), style));
        }
    }
    lines
}

/// At most this many rows for the message line.
const MESSAGE_ROWS: usize = 3;

fn areas(area: Rect, app: &App, run: &Run) -> Areas {
    let notice_h = u16::from(app.notice.is_some());
    let footer_h = footer_lines(app, run, Theme { color: false }, area.width).len() as u16;
    let message_h = message_lines(app, Theme { color: false }, area.width)
        .len()
        .max(1) as u16;
    // Header (2 rows) and message lines (1 to 3) are fixed; the banner and
    // the body share the rest.
    let shared = area
        .height
        .saturating_sub(2 + notice_h + message_h + footer_h);
    let banner_h = if run.escalation.is_some() && !run.is_ended() {
        let room = shared.saturating_sub(MIN_BODY).saturating_sub(2);
        let lines = banner_lines(run, Theme { color: false }, area.width, room).len();
        u16::try_from(lines).unwrap_or(u16::MAX).saturating_add(2)
    } else {
        0
    };
    let [header, notice, banner, body, message, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(notice_h),
        Constraint::Length(banner_h),
        Constraint::Fill(1),
        Constraint::Length(message_h),
        Constraint::Length(footer_h),
    ])
    .areas(area);
    let outline_w = (area.width * 3 / 10).clamp(26, 40);
    let [outline, main] =
        Layout::horizontal([Constraint::Length(outline_w), Constraint::Fill(1)]).areas(body);
    let step_screen = !run.is_ended() && run.pending_warnings.is_empty() && !run.notice_pending;
    let (step, output) = if app.command.is_some() && step_screen {
        let [s, o] =
            Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(main);
        (s, Some(o))
    } else {
        (main, None)
    };
    Areas {
        header,
        notice,
        banner,
        outline,
        step,
        output,
        message,
        footer,
    }
}

fn full_area(app: &App) -> Rect {
    Rect::new(0, 0, app.size.0, app.size.1)
}

/// Rows of step-pane content and rows visible, for scrolling.
pub(crate) fn step_metrics(app: &App, run: &Run) -> (usize, usize) {
    let a = areas(full_area(app), app, run);
    let inner = a.step.inner(ratatui::layout::Margin::new(1, 1));
    let lines = step_lines(run, &app.run_label, Theme { color: false }, inner.width);
    (lines.len(), usize::from(inner.height))
}

/// Rows of command output and rows visible, for scrolling.
pub(crate) fn output_metrics(app: &App, run: &Run) -> (usize, usize) {
    let a = areas(full_area(app), app, run);
    let Some(pane) = app.command.as_ref() else {
        return (0, 0);
    };
    let inner = a
        .output
        .unwrap_or_default()
        .inner(ratatui::layout::Margin::new(1, 1));
    let status = wrap(
        vec![command_status(pane, Theme { color: false })],
        inner.width,
    )
    .len();
    let visible = usize::from(inner.height).saturating_sub(status);
    (output_rows(pane).len(), visible)
}

/// Rows of help text and rows visible, for scrolling.
pub(crate) fn help_metrics(app: &App) -> (usize, usize) {
    let area = help_area(full_area(app));
    let lines = help_lines(Theme { color: false }, area.width.saturating_sub(2));
    (lines.len(), usize::from(area.height.saturating_sub(2)))
}

/// Rows of history and rows visible, for scrolling.
pub(crate) fn history_metrics(app: &App, run: &Run) -> (usize, usize) {
    let area = help_area(full_area(app));
    let lines = history_lines(run, Theme { color: false }, area.width.saturating_sub(2));
    (lines.len(), usize::from(area.height.saturating_sub(2)))
}

/// Draw the whole screen.
pub(crate) fn view(frame: &mut Frame, app: &App, run: &Run) {
    let th = Theme { color: app.color };
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, th);
        return;
    }
    let a = areas(area, app, run);
    header(frame, a.header, app, run, th);
    if let Some(n) = &app.notice {
        let line = Line::from(vec![
            Span::styled("Note: ", th.warn().add_modifier(Modifier::BOLD)),
            Span::raw(clean_line(n)),
        ]);
        frame.render_widget(Paragraph::new(line), a.notice);
    }
    if a.banner.height > 0 {
        banner(frame, a.banner, run, th);
    }
    outline(frame, a.outline, run, th);
    if run.is_ended() {
        completion(frame, a.step, app, run, th);
    } else if run.notice_pending {
        change_notice(frame, a.step, run, th);
    } else if !run.pending_warnings.is_empty() {
        warnings(frame, a.step, run, th);
    } else {
        step_pane(frame, a.step, app, run, th);
        if let (Some(o), Some(pane)) = (a.output, &app.command) {
            output_pane(frame, o, pane, th);
        }
    }
    if app.message.is_some() {
        frame.render_widget(
            Paragraph::new(message_lines(app, th, area.width)),
            a.message,
        );
    }
    frame.render_widget(
        Paragraph::new(footer_lines(app, run, th, area.width)),
        a.footer,
    );
    if let Some(d) = &app.dialog {
        dialog(frame, area, d, run, th);
    } else if let Some(offset) = app.help {
        help(frame, area, offset, th);
    } else if let Some(offset) = app.history {
        history(frame, area, offset, run, th);
    }
}

fn too_small(frame: &mut Frame, area: Rect, th: Theme) {
    let lines = vec![
        Line::styled(
            format!(
                "Terminal too small: {}x{}, need at least {MIN_WIDTH}x{MIN_HEIGHT} — resize",
                area.width, area.height
            ),
            th.err(),
        ),
        Line::from("q suspends the run and quits"),
    ];
    let lines = wrap(lines, area.width);
    let h = (lines.len() as u16).min(area.height);
    let rect = area.centered_vertically(Constraint::Length(h));
    frame.render_widget(Paragraph::new(lines), rect);
}

fn header(frame: &mut Frame, area: Rect, app: &App, run: &Run, th: Theme) {
    let p = &run.procedure;
    let saved = match app.saved {
        Saved::At(t) => Span::styled(format!("✔ saved {} UTC", t.format("%H:%M:%S")), th.ok()),
        Saved::NotSaved => Span::styled("✘ NOT SAVED", th.banner()),
    };
    let [top, bottom] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let saved_w = saved.width() as u16 + 1;
    let [left, right] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(saved_w)]).areas(top);
    // The title keeps a blank before the saved mark: the procedure id goes
    // first, then the title is cut with `…`. A drill says so first, always.
    let drill = if run.is_drill() { DRILL_MARK } else { "" };
    let cols = |s: &str| Span::raw(s).width();
    let room = usize::from(left.width)
        .saturating_sub(1)
        .saturating_sub(cols(drill));
    let (name, version, id) = (
        clean_line(&p.title),
        format!(" v{}", clean_line(&p.version)),
        format!("  ({})", clean_line(&p.id)),
    );
    let mut title = Vec::new();
    if !drill.is_empty() {
        title.push(Span::styled(drill, th.banner()));
    }
    title.extend([
        Span::styled(
            truncate(&name, room.saturating_sub(cols(&version))),
            th.bold(),
        ),
        Span::raw(version.clone()),
    ]);
    if cols(&name) + cols(&version) + cols(&id) <= room {
        title.push(Span::styled(id, th.dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(title)), left);
    frame.render_widget(Paragraph::new(Line::from(saved)), right);
    frame.render_widget(Paragraph::new(run_line(app, run, th, area.width)), bottom);
}

/// The header's second row: the run, who is at the keys in this session,
/// who started the run when that was someone else, and the time since it
/// started. Made to fit `width`: the starter shrinks to their user name,
/// then goes; then the operator's name is cut with `…`. The run and the
/// elapsed time always stay.
fn run_line(app: &App, run: &Run, th: Theme, width: u16) -> Line<'static> {
    let width = usize::from(width);
    let label = clean_line(&app.run_label);
    let operator = clean_line(&app.operator);
    let elapsed = elapsed(app.started_at, app.now);
    let starter = run
        .info
        .as_ref()
        .filter(|i| i.operator.actor() != app.operator)
        .map(|i| {
            (
                clean_line(&i.operator.actor()),
                clean_line(&i.operator.user),
            )
        });
    let cols = |s: &str| Span::raw(s).width();
    let fixed = cols("run ") + cols(&label) + cols(" · operator ") + cols(" · elapsed ");
    let fixed = fixed + cols(&elapsed);
    let by = starter.and_then(|(full, user)| {
        let left = width.saturating_sub(fixed + cols(&operator) + cols(" · started by "));
        [full, user].into_iter().find(|s| cols(s) <= left)
    });
    let operator = truncate(&operator, width.saturating_sub(fixed).max(8));
    let mut spans = vec![
        Span::styled("run ", th.dim()),
        Span::raw(label),
        Span::styled(" · operator ", th.dim()),
        Span::styled(operator, th.bold()),
    ];
    if let Some(by) = by {
        spans.push(Span::styled(" · started by ", th.dim()));
        spans.push(Span::raw(by));
    }
    spans.push(Span::styled(" · elapsed ", th.dim()));
    spans.push(Span::raw(elapsed));
    Line::from(spans)
}

/// What the header starts with in a drill (docs/training.md).
const DRILL_MARK: &str = " DRILL — practice run ";

fn elapsed(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let s = (to - from).num_seconds().max(0);
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

fn banner(frame: &mut Frame, area: Rect, run: &Run, th: Theme) {
    let lines = banner_lines(run, th, area.width, area.height.saturating_sub(2));
    let block = Block::bordered()
        .border_style(th.err())
        .title(Span::styled(" ⚠ ESCALATION ", th.banner()));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The escalation banner's rows inside its borders, wrapped to a banner
/// `width` columns wide with at most `room` rows. Whom to contact, the branch
/// to follow and what happens next are always shown in full; the failure
/// (step and reason) gets the rows that remain, at least one, and ends with
/// `…` when it is cut (`runsheet show` has the whole reason).
fn banner_lines(run: &Run, th: Theme, width: u16, room: u16) -> Vec<Line<'static>> {
    let Some(esc) = &run.escalation else {
        return Vec::new();
    };
    let inner = width.saturating_sub(2);
    let failed = run
        .procedure
        .step(&esc.failed_step)
        .map(|(s, _)| s.title.clone())
        .unwrap_or_else(|| esc.failed_step.clone());
    let branch = run.active_branch();
    let field = |label: &'static str, value: String| {
        Line::from(vec![Span::styled(label, th.bold()), Span::raw(value)])
    };
    let failure = wrap_under_label(
        field(
            "Step failed: ",
            format!("“{}” — {}", clean_line(&failed), clean_line(&esc.reason)),
        ),
        inner,
    );
    let mut rest = vec![field(
        "Follow: ",
        clean_line(branch.map_or(esc.branch.as_str(), |b| b.title.as_str())),
    )];
    if let Some(c) = branch.and_then(|b| b.contact.as_deref()) {
        rest.push(field("Contact: ", contact_text(c)));
    }
    rest.push(field(
        "Then: ",
        branch.map_or("", |b| b.then.words()).to_string(),
    ));
    let rest: Vec<Line<'static>> = rest
        .into_iter()
        .flat_map(|l| wrap_under_label(l, inner))
        .collect();
    let rows = usize::from(room).saturating_sub(rest.len()).max(1);
    let mut lines = cut(failure, rows, inner);
    lines.extend(rest);
    lines
}

/// One `Label: value` line wrapped to `width`, its continuation rows under the value.
fn wrap_under_label(line: Line<'static>, width: u16) -> Vec<Line<'static>> {
    let label = line.spans.first().map_or(0, Span::width);
    wrap_indented(vec![line], width, |_| label)
}

/// The first `rows` of wrapped `lines`; when some are left out, the last row
/// kept ends with `…` (within `width` columns).
fn cut(mut lines: Vec<Line<'static>>, rows: usize, width: u16) -> Vec<Line<'static>> {
    if lines.len() <= rows {
        return lines;
    }
    lines.truncate(rows);
    if let Some(last) = lines.last_mut() {
        let width = usize::from(width);
        // Drop trailing blanks, then characters, until the mark fits.
        loop {
            let over = last.width() + 1 > width;
            let Some(span) = last.spans.last_mut() else {
                break;
            };
            let trimmed = span.content.trim_end().len();
            if trimmed < span.content.len() {
                span.content.to_mut().truncate(trimmed);
            } else if over {
                span.content.to_mut().pop();
            } else {
                break;
            }
            if last.spans.last().is_some_and(|s| s.content.is_empty()) {
                last.spans.pop();
            }
        }
        last.spans.push(Span::raw("…"));
    }
    lines
}

/// A branch's contact as one (wrapping) line: hard line breaks become spaces.
fn contact_text(c: &str) -> String {
    clean_line(&crate::text::one_line(c))
}

fn status_mark(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Pending => "[ ]",
        StepStatus::Current => "[>]",
        StepStatus::Done => "[x]",
        StepStatus::Failed => "[!]",
        StepStatus::Skipped => "[~]",
        StepStatus::Escalated => "[E]",
    }
}

fn status_style(s: StepStatus, th: Theme) -> Style {
    match s {
        StepStatus::Pending => Style::new(),
        StepStatus::Current => th.accent(),
        StepStatus::Done => th.ok(),
        StepStatus::Failed => th.err(),
        StepStatus::Skipped => th.warn(),
        StepStatus::Escalated => th.fg(Color::Magenta).add_modifier(Modifier::BOLD),
    }
}

fn outline(frame: &mut Frame, area: Rect, run: &Run, th: Theme) {
    let block = Block::bordered().title(" Steps ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [list, gauge] = Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(inner);
    let mut lines = Vec::new();
    let mut current_row = 0;
    let item = |indent: &str, id: &str, title: &str| {
        let status = run.status(id);
        let style = status_style(status, th);
        let room = usize::from(list.width).saturating_sub(Span::raw(indent).width() + 4);
        Line::from(vec![
            Span::raw(indent.to_string()),
            Span::styled(status_mark(status), style),
            Span::raw(" "),
            Span::styled(truncate(&clean_line(title), room), style),
        ])
    };
    for s in &run.procedure.steps {
        if run.current.as_deref() == Some(s.id.as_str()) {
            current_row = lines.len();
        }
        lines.push(item("", &s.id, &s.title));
        if let (Some(esc), Some(branch)) = (&run.escalation, run.active_branch())
            && esc.failed_step == s.id
        {
            for b in &branch.steps {
                if run.current.as_deref() == Some(b.id.as_str()) {
                    current_row = lines.len();
                }
                lines.push(item("  ↳ ", &b.id, &b.title));
            }
        }
    }
    let height = usize::from(list.height);
    let offset = if lines.len() > height {
        current_row
            .saturating_sub(height / 2)
            .min(lines.len() - height)
    } else {
        0
    };
    let visible: Vec<Line> = lines.into_iter().skip(offset).take(height).collect();
    frame.render_widget(Paragraph::new(visible), list);
    let (done, total) = run.progress();
    let label = format!(" {done}/{total} done");
    let bar_w = usize::from(gauge.width).saturating_sub(label.chars().count());
    let filled = (bar_w * done).checked_div(total).unwrap_or(bar_w);
    let line = Line::from(vec![
        Span::styled("█".repeat(filled), th.ok()),
        Span::styled("░".repeat(bar_w - filled), th.dim()),
        Span::raw(label),
    ]);
    frame.render_widget(Paragraph::new(line), gauge);
}

fn requirement_text(what: &RequirementKind) -> String {
    match what {
        RequirementKind::Answer(q) => format!("answer: {}", clean_line(q)),
        RequirementKind::Value { label, required } => format!(
            "value: {}{}",
            clean_line(label),
            if *required { "" } else { " (optional)" }
        ),
        RequirementKind::Command { expect_exit, .. } => {
            format!("the command run, with exit code {expect_exit}")
        }
        RequirementKind::Note(p) => format!("a note: {}", clean_line(p)),
        RequirementKind::Evidence(p) => format!("evidence: {}", clean_line(p)),
        RequirementKind::SignOff(role) => {
            format!("sign-off by a second person: {}", clean_line(role))
        }
    }
}

/// Who signed a step off, and how ("bob — their own login").
fn signed_off_words(by: &str, st: &crate::engine::StepState) -> String {
    format!(
        "{}{}",
        clean_line(by),
        crate::report::timeline::sign_off_how(st.sign_off_method)
    )
}

fn kind_name(k: ValueKind) -> &'static str {
    match k {
        ValueKind::Integer => "whole number",
        other => other.as_str(),
    }
}

fn seconds(ms: u64) -> String {
    format!("{}.{} s", ms / 1000, (ms % 1000) / 100)
}

/// The step pane's content, wrapped to `width`.
fn step_lines(run: &Run, label: &str, th: Theme, width: u16) -> Vec<Line<'static>> {
    let Some(step) = run.current_step() else {
        return vec![Line::from("There is no current step.")];
    };
    let st = run.state(&step.id);
    let mut out: Vec<Line<'static>> = Vec::new();
    out.push(Line::styled(clean_line(&step.title), th.bold()));
    let mut meta = Vec::new();
    let role = step.role.as_deref().map(|r| {
        (
            run.procedure
                .role(r)
                .map_or(r.to_string(), |x| x.title.clone()),
            run.procedure.role(r).and_then(|x| x.description.clone()),
        )
    });
    if let Some((title, _)) = &role {
        meta.push(format!("Role: {}", clean_line(title)));
    }
    if step.critical {
        meta.push("CRITICAL: cannot be skipped".to_string());
    }
    if !step.controls.is_empty() {
        meta.push(format!(
            "Controls: {}",
            clean_line(&step.controls.join(", "))
        ));
    }
    if st.attempts > 1 {
        meta.push(format!("attempt {}", st.attempts));
    }
    if !meta.is_empty() {
        out.push(Line::styled(meta.join(" · "), th.dim()));
    }
    if let Some((_, Some(desc))) = &role {
        for l in clean(&reflow(desc)).lines() {
            out.push(Line::styled(l.to_string(), th.dim()));
        }
    }
    if let Some(body) = &step.body {
        out.push(Line::default());
        for l in clean(&reflow(body)).lines() {
            out.push(Line::from(l.to_string()));
        }
    }
    if !matches!(step.kind(), StepKind::Confirm) {
        out.push(Line::default());
    }
    match step.kind() {
        StepKind::Confirm => {}
        StepKind::Decision(d) => out.push(Line::from(vec![
            Span::styled("Question: ", th.accent()),
            Span::styled(clean_line(&d.question), th.bold()),
            Span::raw(format!(
                "  ({} yes · {} no)",
                keys::hint(Action::Yes),
                keys::hint(Action::No)
            )),
        ])),
        StepKind::Value(v) => {
            let mut what = kind_name(v.kind).to_string();
            if let Some(u) = &v.unit {
                what.push_str(&format!(", in {}", clean_line(u)));
            }
            if !v.required {
                what.push_str(", optional");
            }
            out.push(Line::from(vec![
                Span::styled("Value: ", th.accent()),
                Span::styled(clean_line(&v.label), th.bold()),
                Span::raw(format!(
                    " ({what}) — {} to type it",
                    keys::hint(Action::Value)
                )),
            ]));
            if !v.choices.is_empty() {
                out.push(Line::from(format!(
                    "  one of: {}",
                    clean_line(&v.choices.join(", "))
                )));
            }
            if let Some(h) = &v.hint {
                out.push(Line::styled(format!("  {}", clean_line(h)), th.dim()));
            }
        }
        StepKind::Command(c) => {
            out.push(Line::from(vec![
                Span::styled("Command: ", th.accent()),
                Span::styled(format!("$ {}", clean_line(&c.run)), th.bold()),
            ]));
            if run.rehearses_instead(c) {
                out.push(Line::styled(
                    format!(
                        "  DRILL: not run (not marked safe to rehearse); {} says what you would have done",
                        keys::hint(Action::RunCommand)
                    ),
                    th.warn(),
                ));
            } else {
                out.push(Line::from(format!(
                    "  {} runs it (asks first); expected exit code {}",
                    keys::hint(Action::RunCommand),
                    c.expect_exit.unwrap_or(0)
                )));
            }
        }
    }
    let reqs = run.requirements();
    if !reqs.is_empty() {
        out.push(Line::default());
        out.push(Line::styled("Needs", th.bold()));
        for r in &reqs {
            let (mark, style) = if r.met {
                ("[x] ", th.ok())
            } else {
                ("[ ] ", th.warn())
            };
            out.push(Line::from(vec![
                Span::raw("  "),
                Span::styled(mark, style),
                Span::raw(requirement_text(&r.what)),
            ]));
        }
        if run.awaiting_sign_off().is_some() {
            out.push(Line::styled(
                format!(
                    "  Waiting: the second person runs `runsheet sign-off {}` from their own login (it shows here when it arrives), or {} takes their SSH signature.",
                    clean_line(label),
                    keys::hint(Action::SignOff)
                ),
                th.dim(),
            ));
        }
    }
    let mut rec: Vec<Line<'static>> = Vec::new();
    let field = |name: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("  {name}: "), th.bold()),
            Span::raw(value),
        ])
    };
    if let Some(v) = &st.value {
        rec.push(field("Value", clean_line(v)));
    }
    if let Some(e) = &st.evidence {
        rec.push(field("Evidence", clean_line(e)));
    }
    if let Some(by) = &st.signed_off_by {
        rec.push(field("Signed off by", signed_off_words(by, &st)));
    }
    for (i, c) in st.commands.iter().enumerate() {
        let exit = c
            .exit_code
            .map_or("stopped".to_string(), |e| format!("exit {e}"));
        rec.push(field(
            &format!("Command run {}", i + 1),
            format!(
                "{exit} in {}, {} bytes of output",
                seconds(c.duration_ms),
                c.output_bytes
            ),
        ));
    }
    for f in &st.failures {
        rec.push(field("Failed earlier", clean_line(f)));
    }
    for (i, n) in st.notes.iter().enumerate() {
        let text = clean(n);
        let mut lines = text.lines();
        rec.push(field(
            &format!("Note {}", i + 1),
            lines.next().unwrap_or_default().to_string(),
        ));
        for l in lines {
            rec.push(Line::from(format!("    {l}")));
        }
    }
    if !rec.is_empty() {
        out.push(Line::default());
        out.push(Line::styled("Recorded", th.bold()));
        out.extend(rec);
    }
    wrap(out, width)
}

fn step_pane(frame: &mut Frame, area: Rect, app: &App, run: &Run, th: Theme) {
    let title = match run
        .current
        .as_deref()
        .and_then(|id| run.procedure.step(id))
        .map(|(_, p)| p)
    {
        Some(StepPlace::Main(i)) => format!(" Step {} of {} ", i + 1, run.procedure.steps.len()),
        Some(StepPlace::Branch(b, i)) => format!(
            " ESCALATION step {} of {} ",
            i + 1,
            run.procedure.branches[b].steps.len()
        ),
        None => " Step ".to_string(),
    };
    let mut block = Block::bordered().title(Span::styled(title, th.bold()));
    if run.escalation.is_some() {
        block = block.border_style(th.err());
    }
    let inner = block.inner(area);
    let lines = step_lines(run, &app.run_label, th, inner.width);
    let height = usize::from(inner.height);
    let max = lines.len().saturating_sub(height);
    let offset = app.step_scroll.min(max);
    if offset < max {
        block = block.title_bottom(Line::from(" ↓ more: j / PgDn ").right_aligned());
    } else if offset > 0 {
        block = block.title_bottom(Line::from(" ↑ k / PgUp ").right_aligned());
    }
    frame.render_widget(block, area);
    let visible: Vec<Line> = lines.into_iter().skip(offset).take(height).collect();
    frame.render_widget(Paragraph::new(visible), inner);
}

/// Output rows of the command pane (not wrapped; long lines are cut at the edge).
fn output_rows(pane: &CommandPane) -> Vec<&str> {
    let mut rows: Vec<&str> = Vec::new();
    if pane.dropped {
        rows.push("… earlier output is not shown here (the evidence log keeps it)");
    }
    rows.extend(pane.text.lines());
    rows
}

fn command_status(pane: &CommandPane, th: Theme) -> Line<'static> {
    if let Some(rc) = &pane.running {
        let secs = rc.elapsed().as_secs();
        let stop = keys::label(Mode::CommandRunning, Does::StopCommand);
        let mut text = format!("running {secs} s · {stop} stops it");
        if let Some(t) = pane.timeout_secs
            && secs >= t
        {
            text = format!("running {secs} s — past its {t} s time limit; {stop} stops it");
        }
        return Line::styled(text, th.warn());
    }
    let Some(f) = &pane.finished else {
        return Line::default();
    };
    let mut extra = String::new();
    if f.truncated {
        extra = format!(
            " · the log keeps the first {} KiB of {} bytes, and the hash of all",
            crate::runner::OUTPUT_CAP / 1024,
            f.output_bytes
        );
    }
    match f.exit_code {
        Some(code) if code == pane.expect_exit => Line::styled(
            format!(
                "✔ exit {code} in {} — as expected; {} confirms the step{extra}",
                seconds(f.duration_ms),
                keys::hint(Action::Confirm)
            ),
            th.ok(),
        ),
        other => {
            let got = other.map_or("stopped (no exit code)".to_string(), |c| {
                format!("exit {c}")
            });
            Line::styled(
                format!(
                    "✘ {got}, expected {} — press {} to fail and escalate, {} to run again{extra}",
                    pane.expect_exit,
                    keys::hint(Action::Fail),
                    keys::hint(Action::RunCommand)
                ),
                th.err(),
            )
        }
    }
}

fn output_pane(frame: &mut Frame, area: Rect, pane: &CommandPane, th: Theme) {
    let title = format!(" Output: $ {} ", clean_line(&pane.command));
    let mut block = Block::bordered().title(title);
    if pane.running.is_none() {
        block = block.title_bottom(
            Line::from(format!(" {} closes ", intent_key(Intent::Close))).right_aligned(),
        );
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let status_lines = wrap(vec![command_status(pane, th)], inner.width);
    let [out, status] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(status_lines.len() as u16),
    ])
    .areas(inner);
    let rows = output_rows(pane);
    let height = usize::from(out.height);
    let max = rows.len().saturating_sub(height);
    let offset = pane.scroll.unwrap_or(max).min(max);
    let visible: Vec<Line> = rows
        .into_iter()
        .skip(offset)
        .take(height)
        .map(|r| Line::from(r.to_string()))
        .collect();
    frame.render_widget(Paragraph::new(visible), out);
    frame.render_widget(Paragraph::new(status_lines), status);
}

fn warnings(frame: &mut Frame, area: Rect, run: &Run, th: Theme) {
    let block = Block::bordered()
        .border_style(th.warn())
        .title(Span::styled(" ⚠ DOCUMENT-CONTROL WARNINGS ", th.bold()));
    let inner = block.inner(area);
    let mut lines = vec![
        Line::from("Before the first step: this procedure's document control needs attention."),
        Line::default(),
    ];
    for w in &run.pending_warnings {
        lines.push(Line::from(vec![
            Span::styled("  [!] ", th.warn()),
            Span::raw(clean_line(w)),
        ]));
    }
    lines.extend([
        Line::default(),
        Line::from("Going ahead is recorded in the evidence log together with these warnings."),
        Line::default(),
    ]);
    lines.extend(before_first_step_keys(th));
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(wrap(lines, inner.width)), inner);
}

/// The keys of a screen before the first step (a change notice, warnings).
fn before_first_step_keys(th: Theme) -> Vec<Line<'static>> {
    [
        (Action::GoAhead, "go ahead (recorded)"),
        (Action::Abort, "abort the run"),
        (Action::Suspend, "suspend and quit"),
    ]
    .into_iter()
    .map(|(action, what)| {
        Line::from(vec![
            Span::styled(format!("  {:<6}", keys::hint(action)), th.bold()),
            Span::raw(what),
        ])
    })
    .collect()
}

/// The change notice before the first step: the versions, what changed
/// step by step (as many lines as fit, then how many more and the command
/// that shows them all), and the keys.
fn change_notice(frame: &mut Frame, area: Rect, run: &Run, th: Theme) {
    let Some(n) = &run.change_notice else {
        return;
    };
    let block = Block::bordered()
        .border_style(th.warn())
        .title(Span::styled(" ⓘ CHANGED SINCE YOU LAST RAN IT ", th.bold()));
    let inner = block.inner(area);
    let mut lines = vec![
        Line::from(Span::styled(
            clean_line(&n.headline(&run.procedure.version)),
            th.bold(),
        )),
        Line::default(),
    ];
    let to = run
        .info
        .as_ref()
        .map_or("", |i| i.procedure_sha256.as_str());
    let tail = [
        Line::default(),
        Line::from(format!(
            "The whole comparison: {}",
            clean_line(&n.diff_command(&run.procedure.id, to))
        )),
        Line::from(
            "Read what changed before the first step: going ahead records that you saw this notice.",
        ),
        Line::default(),
    ];
    let keys = before_first_step_keys(th);
    let room = usize::from(inner.height).saturating_sub(lines.len() + tail.len() + keys.len() + 1);
    let shown = if n.changes.len() > room {
        room.saturating_sub(1)
    } else {
        n.changes.len()
    };
    for c in &n.changes[..shown] {
        lines.push(Line::from(vec![
            Span::styled("  • ", th.warn()),
            Span::raw(clean_line(c)),
        ]));
    }
    if shown < n.changes.len() {
        lines.push(Line::from(format!(
            "  … and {} more",
            n.changes.len() - shown
        )));
    }
    lines.extend(tail);
    lines.extend(keys);
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(wrap(lines, inner.width)), inner);
}

fn completion(frame: &mut Frame, area: Rect, app: &App, run: &Run, th: Theme) {
    let outcome = run.outcome.map_or("?", |o| o.as_str());
    let style = match run.outcome {
        Some(crate::engine::Outcome::Completed) => th.ok().add_modifier(Modifier::BOLD),
        _ => th.err(),
    };
    let block = Block::bordered().title(Span::styled(
        format!(" Run ended: {} ", outcome.to_uppercase()),
        style,
    ));
    let inner = block.inner(area);
    let t = run.tally();
    let mut lines = vec![Line::from(vec![
        Span::styled("Outcome: ", th.bold()),
        Span::styled(outcome.to_string(), style),
    ])];
    if let Some(r) = &run.end_reason {
        lines.push(Line::from(vec![
            Span::styled("Reason: ", th.bold()),
            Span::raw(clean_line(r)),
        ]));
    }
    lines.extend([
        Line::from(format!(
            "Steps: {} done · {} skipped · {} failed · {} · {}",
            t.done,
            t.skipped,
            t.failures,
            plural(t.escalations, "escalation"),
            plural(t.notes, "note"),
        )),
        Line::from(vec![
            Span::styled("Run id: ", th.bold()),
            Span::raw(clean_line(&app.run_id)),
        ]),
        Line::default(),
        Line::styled(
            "Next: check the log, review this run, export an audit bundle",
            th.bold(),
        ),
        Line::from("  runsheet verify"),
        Line::from(format!("  runsheet show {}", clean_line(&app.run_id))),
        Line::from("  runsheet export --out DIR"),
        Line::default(),
        Line::styled("Press any key to exit.", th.accent()),
    ]);
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(wrap(lines, inner.width)), inner);
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The footer's key hints for the current mode: key, what it does, and
/// whether it waits out the settle time right now (shown dimmed).
fn footer_items(app: &App, run: &Run) -> Vec<(String, String, bool)> {
    if let Some(mode) = app.mode(run) {
        // The choice keys only where there are choices.
        let choices = matches!(&app.dialog, Some(Dialog::Line(d)) if !d.choices.is_empty());
        return keys::mode(mode)
            .rows
            .iter()
            .filter(|r| !r.short.is_empty())
            .filter(|r| choices || !matches!(r.does, Does::Choose | Does::Complete))
            .map(|r| (r.label.to_string(), r.short.to_string(), false))
            .collect();
    }
    let warnings = !run.pending_warnings.is_empty() || run.notice_pending;
    let mut items: Vec<(String, String, bool)> = keys::available(run)
        .into_iter()
        .filter_map(keys::binding)
        .map(|b| {
            let short = if warnings && b.intent == Intent::Confirm {
                "go ahead"
            } else {
                b.short
            };
            let waits = app.settling && acts_on_step(b.intent);
            (b.label.to_string(), short.to_string(), waits)
        })
        .collect();
    if app.command.is_some()
        && let Some(b) = keys::binding(Intent::Close)
    {
        items.push((b.label.to_string(), "close output".to_string(), false));
    }
    if let Some(b) = keys::binding(Intent::Help) {
        items.push((b.label.to_string(), b.short.to_string(), false));
    }
    items
}

/// The footer for the current mode. On the step screen, once something is
/// recorded, the history key is offered too where it fits on the rows the
/// other keys take (the help lists it always).
fn footer_lines(app: &App, run: &Run, th: Theme, width: u16) -> Vec<Line<'static>> {
    let mut items = footer_items(app, run);
    let lines = footer_rows(items.clone(), th, width);
    if app.mode(run).is_some() || !has_history(run) {
        return lines;
    }
    if let Some(b) = keys::binding(Intent::History) {
        let at = items.len().saturating_sub(1);
        items.insert(at, (b.label.to_string(), b.short.to_string(), false));
        let with = footer_rows(items, th, width);
        if with.len() <= lines.len().max(1) {
            return with;
        }
    }
    lines
}

/// The footer's key hints laid out in rows of `width` columns.
fn footer_rows(items: Vec<(String, String, bool)>, th: Theme, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width);
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for (k, v, waits) in items {
        let w = Span::raw(format!("{k} {v}  ")).width();
        if used + w > width && !spans.is_empty() {
            lines.push(Line::from(std::mem::take(&mut spans)));
            used = 0;
        }
        let (key_style, text_style) = if waits {
            (th.dim(), th.dim())
        } else {
            (th.accent().add_modifier(Modifier::REVERSED), Style::new())
        };
        spans.push(Span::styled(k, key_style));
        spans.push(Span::styled(format!(" {v}  "), text_style));
        used += w;
    }
    if !spans.is_empty() {
        lines.push(Line::from(spans));
    }
    lines
}

/// The key of a keymap intent, for a hint.
fn intent_key(intent: Intent) -> &'static str {
    keys::binding(intent).map_or("?", |b| b.label)
}

fn help_area(area: Rect) -> Rect {
    area.inner(ratatui::layout::Margin::new(3, 1))
}

fn help_lines(th: Theme, width: u16) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled("On a step", th.bold())];
    for b in keys::BINDINGS {
        let keys: Vec<String> = b.keys.iter().map(|k| k.name()).collect();
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<14}", keys.join(" / ")), th.accent()),
            Span::raw(b.help),
        ]));
    }
    for m in keys::MODES.iter().filter(|m| !m.help_title.is_empty()) {
        lines.push(Line::default());
        lines.push(Line::styled(m.help_title.to_string(), th.bold()));
        for r in m.rows.iter().filter(|r| !r.help.is_empty()) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<14}", r.help_label), th.accent()),
                Span::raw(r.help),
            ]));
        }
    }
    lines.push(Line::default());
    lines.push(Line::from(
        "Every action is written to the evidence log before the screen moves on.",
    ));
    wrap(lines, width)
}

fn help(frame: &mut Frame, area: Rect, offset: usize, th: Theme) {
    let rect = help_area(area);
    let block = Block::bordered()
        .border_style(th.accent())
        .title(Span::styled(
            format!(
                " Help: keys ({} or {} closes) ",
                intent_key(Intent::Help),
                intent_key(Intent::Close)
            ),
            th.bold(),
        ));
    let inner = block.inner(rect);
    let lines = help_lines(th, inner.width);
    let max = lines.len().saturating_sub(usize::from(inner.height));
    let visible: Vec<Line> = lines
        .into_iter()
        .skip(offset.min(max))
        .take(usize::from(inner.height))
        .collect();
    frame.render_widget(Clear, rect);
    frame.render_widget(block, rect);
    frame.render_widget(Paragraph::new(visible), inner);
}

/// True when the history has something to show beyond the step on screen:
/// a step that is over, or anything recorded on the current one.
pub(crate) fn has_history(run: &Run) -> bool {
    run.steps.values().any(|st| {
        !matches!(st.status, StepStatus::Current | StepStatus::Pending)
            || st.attempts > 1
            || !st.notes.is_empty()
            || !st.commands.is_empty()
            || !st.failures.is_empty()
            || st.value.is_some()
            || st.evidence.is_some()
            || st.signed_off_by.is_some()
    })
}

/// Output lines of a recorded command the history shows.
const HISTORY_OUTPUT_LINES: usize = 3;

/// The history overlay's content, wrapped to `width`: every step that has
/// state, in procedure order, each escalation branch's steps under the
/// first main step whose failure entered it (the outline's order), and any
/// other branch's steps after the main steps. Read from the run; every
/// recorded text is cleaned for the terminal.
fn history_lines(run: &Run, th: Theme, width: u16) -> Vec<Line<'static>> {
    let mut out: Vec<Line<'static>> = Vec::new();
    for row in crate::report::history::history(run, HISTORY_OUTPUT_LINES) {
        match row {
            Row::Branch { title } => out.extend(wrap_under_label(
                Line::from(vec![
                    Span::styled("  ⚠ Escalation: ", th.err()),
                    Span::styled(clean_line(&title), th.bold()),
                ]),
                width,
            )),
            Row::Step(e) => history_step(&e, th, width, &mut out),
        }
    }
    if out.is_empty() {
        out.push(Line::from("Nothing is recorded for any step yet."));
    }
    out
}

/// One step's entry in the history: its title and status (after a lead,
/// `↳ ` for a branch step, and its number in the list it is in), then what
/// is recorded for it, each field's continuation rows under its value.
fn history_step(e: &Entry, th: Theme, width: u16, out: &mut Vec<Line<'static>>) {
    let status = e.status;
    let mut words = status.as_str().to_string();
    if e.attempts > 1 {
        words.push_str(&format!(" · {} attempts", e.attempts));
    }
    let head = Line::from(vec![
        Span::raw(if e.in_branch { "  ↳ " } else { "" }.to_string()),
        Span::styled(status_mark(status), status_style(status, th)),
        Span::raw(format!(" {}. ", e.number)),
        Span::styled(clean_line(&e.title), th.bold()),
        Span::styled(format!(" — {words}"), status_style(status, th)),
    ]);
    // What is recorded lines up under the title.
    let pad = " ".repeat(head.spans[..3].iter().map(Span::width).sum::<usize>());
    out.extend(wrap_indented(vec![head], width, |_| pad.len()));
    for f in &e.fields {
        // Continuation rows, and a note's further lines, line up under the value.
        let under = " ".repeat(pad.len() + Span::raw(format!("{}: ", f.label)).width());
        let text = clean(&f.text);
        let mut lines = text.lines();
        out.extend(wrap_indented(
            vec![Line::from(vec![
                Span::raw(pad.clone()),
                Span::styled(format!("{}: ", f.label), th.bold()),
                Span::raw(lines.next().unwrap_or_default().to_string()),
            ])],
            width,
            |_| under.len(),
        ));
        for l in lines {
            out.extend(wrap_indented(
                vec![Line::from(format!("{under}{l}"))],
                width,
                |_| under.len(),
            ));
        }
        // The first lines of output, each cut at the edge (a line may be
        // the whole megabyte).
        if let Some(o) = &f.output {
            let under = format!("{pad}  ");
            let room = usize::from(width).saturating_sub(under.len() + 2);
            for l in &o.lines {
                out.push(Line::from(vec![
                    Span::styled(format!("{under}│ "), th.dim()),
                    Span::raw(truncate(&clean_line(l), room)),
                ]));
            }
            if o.more > 0 {
                out.push(Line::styled(
                    format!("{under}│ {}", crate::report::history::more_words(o.more)),
                    th.dim(),
                ));
            }
        }
    }
}

fn history(frame: &mut Frame, area: Rect, offset: usize, run: &Run, th: Theme) {
    let rect = help_area(area);
    let mut block = Block::bordered()
        .border_style(th.accent())
        .title(Span::styled(
            format!(
                " History: what is recorded so far ({} or {} closes) ",
                intent_key(Intent::History),
                keys::label(Mode::History, Does::Close)
            ),
            th.bold(),
        ));
    let inner = block.inner(rect);
    let lines = history_lines(run, th, inner.width);
    let height = usize::from(inner.height);
    let max = lines.len().saturating_sub(height);
    let offset = offset.min(max);
    if offset < max {
        block = block.title_bottom(Line::from(" ↓ more: j / PgDn ").right_aligned());
    } else if offset > 0 {
        block = block.title_bottom(Line::from(" ↑ k / PgUp ").right_aligned());
    }
    let visible: Vec<Line> = lines.into_iter().skip(offset).take(height).collect();
    frame.render_widget(Clear, rect);
    frame.render_widget(block, rect);
    frame.render_widget(Paragraph::new(visible), inner);
}

fn popup(area: Rect, height: u16) -> Rect {
    let w = area.width.saturating_sub(4).min(78);
    area.centered(
        Constraint::Length(w),
        Constraint::Length(height.min(area.height)),
    )
}

fn dialog(frame: &mut Frame, area: Rect, d: &Dialog, run: &Run, th: Theme) {
    match d {
        Dialog::Line(ld) => line_dialog(frame, area, ld, run, th),
        Dialog::Note {
            request,
            editor,
            error,
        } => {
            let prompt = run
                .procedure
                .step(&request.step)
                .and_then(|(s, _)| s.note.clone())
                .map(|p| format!("This step asks: {}", clean_line(&p)))
                .unwrap_or_else(|| "Write what happened; it is kept as evidence.".into());
            let width = popup(area, 1).width.saturating_sub(2);
            let head = wrap(vec![Line::from(prompt)], width);
            let err = error_lines(error.as_deref(), th, width);
            let h = head.len() as u16 + 10 + err.len() as u16 + 1 + 2;
            let rect = popup(area, h);
            let block = Block::bordered()
                .border_style(th.accent())
                .title(Span::styled(" Add a note ", th.bold()));
            let inner = block.inner(rect);
            frame.render_widget(Clear, rect);
            frame.render_widget(block, rect);
            let [head_a, edit_a, err_a, hint_a] = Layout::vertical([
                Constraint::Length(head.len() as u16),
                Constraint::Length(10),
                Constraint::Length(err.len() as u16),
                Constraint::Length(1),
            ])
            .areas(inner);
            frame.render_widget(Paragraph::new(head), head_a);
            let mut ed = (**editor).clone();
            ed.set_block(Block::bordered().border_style(th.dim()));
            frame.render_widget(&ed, edit_a);
            frame.render_widget(Paragraph::new(err), err_a);
            frame.render_widget(
                Paragraph::new(Line::styled(
                    format!(
                        "{} save · {} close (the draft is kept) · {} new line",
                        keys::label(Mode::NoteEditor, Does::Save),
                        keys::label(Mode::NoteEditor, Does::Cancel),
                        keys::label(Mode::NoteEditor, Does::NewLine)
                    ),
                    th.dim(),
                )),
                hint_a,
            );
        }
        Dialog::ConfirmRun { command, .. } => {
            let lines = vec![
                Line::styled(format!("$ {}", clean_line(command)), th.bold()),
                Line::default(),
                Line::from("It runs with sh -c; its output and exit code are kept as evidence."),
                Line::default(),
                Line::styled(format!("Run this command? {}", keys::yes_no()), th.accent()),
            ];
            simple_dialog(frame, area, " Run this command? ", lines, th.accent(), th);
        }
        Dialog::ConfirmSuspend { .. } => {
            let lines = vec![
                Line::styled(format!("Suspend and quit? {}", keys::yes_no()), th.accent()),
                Line::default(),
                Line::from("The run stays open: `runsheet resume` brings you back to this step."),
            ];
            simple_dialog(frame, area, " Suspend ", lines, th.accent(), th);
        }
        Dialog::NotSaved { message, .. } => {
            let lines = vec![
                Line::styled(
                    format!(
                        "NOT RECORDED — the evidence log could not be written: {}.",
                        clean_line(message)
                    ),
                    th.err(),
                ),
                Line::default(),
                Line::from(
                    "The last action did not happen; the screen shows only what is on disk.",
                ),
                Line::default(),
                Line::styled(
                    format!(
                        "{} retry · {} suspend and quit",
                        keys::label(Mode::NotRecorded, Does::Retry),
                        keys::label(Mode::NotRecorded, Does::SuspendAndQuit)
                    ),
                    th.bold(),
                ),
            ];
            simple_dialog(frame, area, " ✘ NOT RECORDED ", lines, th.err(), th);
        }
    }
}

fn simple_dialog(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    lines: Vec<Line<'static>>,
    border: Style,
    th: Theme,
) {
    let width = popup(area, 1).width.saturating_sub(2);
    let lines = wrap(lines, width);
    let rect = popup(area, lines.len() as u16 + 2);
    let block = Block::bordered()
        .border_style(border)
        .title(Span::styled(title.to_string(), th.bold()));
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

fn error_lines(error: Option<&str>, th: Theme, width: u16) -> Vec<Line<'static>> {
    match error {
        Some(e) => wrap(
            vec![Line::styled(format!("✘ {}", clean_line(e)), th.err())],
            width,
        ),
        None => Vec::new(),
    }
}

fn line_dialog(frame: &mut Frame, area: Rect, d: &LineDialog, run: &Run, th: Theme) {
    let step = run.procedure.step(&d.request.step).map(|(s, _)| s);
    let step_title = step.map(|s| clean_line(&s.title)).unwrap_or_default();
    let mut head: Vec<Line<'static>> = Vec::new();
    // A value's choices (listed between the head and the hint) and its hint.
    let mut list: Vec<Line<'static>> = Vec::new();
    let mut tail: Vec<Line<'static>> = Vec::new();
    let popup_width = popup(area, 1).width.saturating_sub(2);
    let title = match d.request.ask {
        Ask::Value => {
            if let Some(StepKind::Value(v)) = step.map(|s| s.kind()) {
                let mut what = kind_name(v.kind).to_string();
                if let Some(u) = &v.unit {
                    what.push_str(&format!(", in {}", clean_line(u)));
                }
                head.push(Line::from(vec![
                    Span::styled(clean_line(&v.label), th.bold()),
                    Span::raw(format!(" ({what})")),
                ]));
                if !d.choices.is_empty() {
                    let numbered = keys::numbers_pick_choices(&d.choices);
                    head.push(Line::from(if numbered {
                        "One of these: type it or its number, or choose with the arrows"
                    } else {
                        "One of these: type it, or choose with the arrows"
                    }));
                    list = choice_lines(d, numbered, popup_width, th);
                }
                if let Some(h) = &v.hint {
                    tail.push(Line::styled(clean_line(h), th.dim()));
                }
            }
            " Record the value "
        }
        Ask::Fail => {
            head.push(Line::from(format!("Why did “{step_title}” fail?")));
            let branch = step.and_then(|s| {
                if run.escalation.is_some() {
                    None
                } else {
                    run.procedure.escalation_for(s)
                }
            });
            head.push(Line::styled(
                match branch {
                    Some(b) => format!("The run then follows: {}", clean_line(&b.title)),
                    None if run.escalation.is_some() => {
                        "This is an escalation step: the run then ends as failed.".into()
                    }
                    None => "There is no escalation branch: the run then ends as failed.".into(),
                },
                th.warn(),
            ));
            " Fail the step "
        }
        Ask::Skip => {
            head.push(Line::from(format!(
                "Why is it right to skip “{step_title}”?"
            )));
            " Skip the step "
        }
        Ask::Evidence => {
            let prompt = step
                .and_then(|s| s.evidence.clone())
                .unwrap_or_else(|| "Evidence".into());
            head.push(Line::styled(clean_line(&prompt), th.bold()));
            " Evidence "
        }
        Ask::SignOff => {
            let role = step
                .and_then(|s| s.signoff.as_deref())
                .map(|r| {
                    run.procedure
                        .role(r)
                        .map_or(r.to_string(), |x| x.title.clone())
                })
                .unwrap_or_default();
            head.push(Line::from(format!(
                "A second person ({}) signs “{step_title}” off.",
                clean_line(&role)
            )));
            if let Some(words) = &d.request.about {
                head.push(Line::from(clean_line(words)));
            }
            head.push(Line::styled(
                "The operator cannot sign off their own step; a refused attempt is recorded.",
                th.dim(),
            ));
            " Sign-off "
        }
        Ask::Abort => {
            head.push(Line::from(
                "Abort the whole run: it ends as aborted and cannot be resumed.",
            ));
            head.push(Line::from("Why?"));
            " Abort the run "
        }
        Ask::CorrectStep | Ask::CorrectValue | Ask::CorrectAnswer | Ask::CorrectReason => {
            if let Some(words) = &d.request.about {
                for line in words.lines() {
                    head.push(Line::from(clean_line(line)));
                }
            }
            match d.request.ask {
                Ask::CorrectStep => {}
                Ask::CorrectValue => {
                    head.push(Line::from(format!("The right value of “{step_title}”:")))
                }
                Ask::CorrectAnswer => head.push(Line::from(format!(
                    "The right answer to “{step_title}” (yes or no):"
                ))),
                _ => head.push(Line::from(format!(
                    "Why is the record of “{step_title}” corrected? The original stays."
                ))),
            }
            " Correct a finished step "
        }
        Ask::CommandAccount => {
            if let Some(words) = &d.request.about {
                head.push(Line::styled(clean_line(words), th.warn()));
            }
            head.push(Line::from("What became of it?"));
            " Command result never recorded "
        }
        Ask::Rehearse => {
            if let Some(words) = &d.request.about {
                head.push(Line::styled(clean_line(words), th.warn()));
            }
            head.push(Line::from("What would you have done?"));
            " DRILL: command not run "
        }
        // A note is written in the note editor, never in a one-line input.
        Ask::Note => " Note ",
    };
    let width = popup_width;
    let mut head = wrap(head, width);
    let tail = wrap(tail, width);
    let err = error_lines(d.error.as_deref(), th, width);
    let fixed = head.len() + tail.len() + 1 + 1 + err.len() + 1 + 1 + 2;
    // A long list gives way before the header and the footer do.
    let room = usize::from(area.height).saturating_sub(fixed + 4);
    head.extend(window(list, d.selected(), room, th));
    head.extend(tail);
    let h = head.len() as u16 + 1 + 1 + err.len() as u16 + 1 + 1 + 2;
    let rect = popup(area, h);
    let block = Block::bordered()
        .border_style(th.accent())
        .title(Span::styled(title, th.bold()));
    let inner = block.inner(rect);
    frame.render_widget(Clear, rect);
    frame.render_widget(block, rect);
    let [head_a, _, input_a, err_a, _, hint_a] = Layout::vertical([
        Constraint::Length(head.len() as u16),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(err.len() as u16),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(head), head_a);
    // The input, scrolled so the cursor stays visible.
    let text: Vec<char> = d.input.text.chars().collect();
    let room = usize::from(input_a.width.saturating_sub(3)).max(1);
    let start = d.input.cursor.saturating_sub(room);
    let shown: String = text[start..text.len().min(start + room)].iter().collect();
    let line = Line::from(vec![
        Span::styled("> ", th.accent()),
        Span::styled(clean_line(&shown), th.bold()),
    ]);
    frame.render_widget(Paragraph::new(line), input_a);
    let before: String = text[start..d.input.cursor.min(text.len())].iter().collect();
    let cx = input_a.x + 2 + Span::raw(clean_line(&before)).width() as u16;
    frame.set_cursor_position((cx.min(input_a.right().saturating_sub(1)), input_a.y));
    frame.render_widget(Paragraph::new(err), err_a);
    let mut hint = String::new();
    if !d.choices.is_empty() {
        hint = format!(
            "{} choose · {} complete · ",
            keys::label(Mode::LineInput, Does::Choose),
            keys::label(Mode::LineInput, Does::Complete)
        );
    }
    hint.push_str(&format!(
        "{} submit · {} cancel",
        keys::label(Mode::LineInput, Does::Submit),
        keys::label(Mode::LineInput, Does::Cancel)
    ));
    frame.render_widget(Paragraph::new(Line::styled(hint, th.dim())), hint_a);
}

/// A value's choices, one row each (cut at `width`), numbered when item
/// numbers pick them; the one the input names is marked `▸` and shown
/// reversed.
fn choice_lines(d: &LineDialog, numbered: bool, width: u16, th: Theme) -> Vec<Line<'static>> {
    let selected = d.selected();
    let digits = d.choices.len().to_string().len();
    d.choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let on = selected == Some(i);
            let mark = if on { "▸ " } else { "  " };
            let number = if numbered {
                format!("{:>digits$}  ", i + 1)
            } else {
                String::new()
            };
            let room = usize::from(width).saturating_sub(2 + number.len());
            let text = truncate(&clean_line(c), room);
            if on {
                Line::from(vec![
                    Span::styled(mark, th.accent()),
                    Span::styled(
                        format!("{number}{text}"),
                        th.accent().add_modifier(Modifier::REVERSED),
                    ),
                ])
            } else {
                Line::from(format!("{mark}{number}{text}"))
            }
        })
        .collect()
}

/// At most `room` (at least 3) of `rows`, around `selected` when they do
/// not all fit; the first and last row shown then say how many are left
/// out above and below.
fn window(
    rows: Vec<Line<'static>>,
    selected: Option<usize>,
    room: usize,
    th: Theme,
) -> Vec<Line<'static>> {
    let len = rows.len();
    let room = room.max(3);
    if len <= room {
        return rows;
    }
    let start = selected
        .unwrap_or(0)
        .saturating_sub(room / 2)
        .min(len - room);
    let end = start + room;
    let mut kept: Vec<Line<'static>> = rows.into_iter().skip(start).take(room).collect();
    // A row that says how many are left out stands in for one of them.
    if start > 0 {
        kept[0] = Line::styled(format!("  ↑ {} more", start + 1), th.dim());
    }
    if end < len {
        kept[room - 1] = Line::styled(format!("  ↓ {} more", len - end + 1), th.dim());
    }
    kept
}

/// Word-wrap styled lines to `width` columns (long words are split);
/// continuation rows line up under the text (see [`hanging_indent`]).
fn wrap(lines: Vec<Line<'static>>, width: u16) -> Vec<Line<'static>> {
    wrap_indented(lines, width, hanging_indent)
}

/// [`wrap`], with each line's continuation rows indented by `indent(line)`
/// columns (at most half the width).
fn wrap_indented(
    lines: Vec<Line<'static>>,
    width: u16,
    indent: impl Fn(&Line) -> usize,
) -> Vec<Line<'static>> {
    let width = usize::from(width).max(1);
    let mut out = Vec::new();
    for line in lines {
        let line_style = line.style;
        let indent = indent(&line).min(width / 2);
        let mut row: Vec<Span<'static>> = Vec::new();
        let mut used = 0usize;
        let mut pushed_any = false;
        let mut flush = |row: &mut Vec<Span<'static>>, used: &mut usize| {
            out.push(Line::from(std::mem::take(row)).style(line_style));
            row.push(Span::raw(" ".repeat(indent)));
            *used = indent;
        };
        for span in line.spans {
            let style = span.style;
            for token in tokens(&span.content) {
                let w = Span::raw(token.as_str()).width();
                let blank = token.chars().all(char::is_whitespace);
                if used + w <= width {
                    row.push(Span::styled(token, style));
                    used += w;
                    continue;
                }
                if blank {
                    if used > indent {
                        flush(&mut row, &mut used);
                        pushed_any = true;
                    }
                    continue;
                }
                if w + indent <= width {
                    if used > indent {
                        flush(&mut row, &mut used);
                        pushed_any = true;
                    }
                    row.push(Span::styled(token, style));
                    used += w;
                    continue;
                }
                // A word longer than the line: split it.
                let mut piece = String::new();
                for c in token.chars() {
                    let cw = Span::raw(c.to_string()).width();
                    if used + cw > width && (used > indent || !piece.is_empty()) {
                        row.push(Span::styled(std::mem::take(&mut piece), style));
                        flush(&mut row, &mut used);
                        pushed_any = true;
                    }
                    piece.push(c);
                    used += cw;
                }
                if !piece.is_empty() {
                    row.push(Span::styled(piece, style));
                }
            }
        }
        if used > indent || !pushed_any {
            flush(&mut row, &mut used);
        }
    }
    out
}

/// Continuation rows of a wrapped line line up under its text: after its
/// leading spaces and a `[x] `-style mark.
fn hanging_indent(line: &Line) -> usize {
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let rest = text.trim_start_matches(' ');
    let lead = text.len() - rest.len();
    let b = rest.as_bytes();
    let mark = if b.len() >= 4 && b[0] == b'[' && b[2] == b']' && b[3] == b' ' {
        4
    } else {
        0
    };
    lead + mark
}

/// Cut `s` to `width` columns, ending with `…` when cut.
fn truncate(s: &str, width: usize) -> String {
    if Span::raw(s).width() <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = Span::raw(c.to_string()).width();
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// Split text into runs of whitespace and runs of non-whitespace.
fn tokens(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut last_blank = None;
    for c in s.chars() {
        let blank = c.is_whitespace();
        match out.last_mut() {
            Some(t) if last_blank == Some(blank) => t.push(c),
            _ => out.push(c.to_string()),
        }
        last_blank = Some(blank);
    }
    out
}
