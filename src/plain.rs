//! The plain, line-by-line front end: for screen readers, serial consoles,
//! pipes and scripts. Same letters as the TUI (from `keys`), one per line.
//!
//! May not depend on the store, ratatui or crossterm: it acts through a
//! [`Session`] and reads/writes any `BufRead`/`Write`.

use std::io::{BufRead, Write};

use crate::engine::{Action, Command, Event, Outcome, RequirementKind, Run, StepStatus};
use crate::keys::{self, Does, Intent, Key, Mode};
use crate::procedure::{BranchEnd, StepKind};
use crate::runner::RunningCommand;
use crate::session::Session;
use crate::session::flow::{self, Ask, CommandToRun, Next, Question, Reply, TextRequest};
use crate::text::{sanitize_line, sanitize_terminal};

/// How a plain-mode session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainExit {
    Ended(Outcome),
    Suspended,
}

/// Run the session line by line until it ends, is suspended, or input ends
/// (end of input suspends the run, so a piped script can be resumed later).
pub fn run(
    session: &mut Session,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> std::io::Result<PlainExit> {
    let mut shown: Option<(String, u32)> = None;
    if session.run().is_drill() {
        writeln!(out, "{DRILL_LINE}")?;
    }
    print_so_far(session.run(), out)?;
    // Take the run up as the session opened it (resumed, recovered, handed
    // over), then say what became of a command that was never recorded.
    let opened = flow::open(session);
    if opened.failed() {
        report(session.run(), &opened, out)?;
        writeln!(
            out,
            "Stopped: the run cannot continue until its resumption is recorded; it stays {}: runsheet resume {}",
            if session.run().suspended {
                "suspended"
            } else {
                "open"
            },
            session.run_id()
        )?;
        return Ok(PlainExit::Suspended);
    }
    print_recorded(session.run(), &opened.recorded, out)?;
    if matches!(opened.next, Next::Text(_)) {
        // Say where the run is before asking about it.
        print_step(session.run(), out)?;
        shown = session
            .run()
            .current_step()
            .map(|s| (s.id.clone(), session.run().state(&s.id).attempts));
    }
    let opened = Reply {
        recorded: Vec::new(),
        ..opened
    };
    if let Some(exit) = drive(session, opened, input, out)? {
        return Ok(exit);
    }
    loop {
        print_arrived(session, out)?;
        if let Some(outcome) = session.run().outcome {
            print_end(session, out)?;
            return Ok(PlainExit::Ended(outcome));
        }
        if session.run().notice_pending {
            print_change_notice(session.run(), out)?;
        } else if !session.run().pending_warnings.is_empty() {
            writeln!(out, "\nWARNING — document control:")?;
            for w in &session.run().pending_warnings {
                writeln!(out, "  ! {}", sanitize_line(w))?;
            }
            writeln!(
                out,
                "{} = go ahead anyway (recorded) · {} = abort · {} = suspend",
                keys::hint(Action::GoAhead),
                keys::hint(Action::Abort),
                keys::hint(Action::Suspend)
            )?;
        } else {
            let key = session
                .run()
                .current_step()
                .map(|s| (s.id.clone(), session.run().state(&s.id).attempts));
            if key != shown {
                print_step(session.run(), out)?;
                shown = key;
                if session.run().awaiting_sign_off().is_some() {
                    writeln!(
                        out,
                        "  Waiting for the sign-off: the second person runs `runsheet sign-off {}` from their own login (an empty line checks for it), or signs with their SSH key ({} here).",
                        session.run_label(),
                        keys::hint(Action::SignOff)
                    )?;
                }
            }
        }
        write!(out, "{}> ", prompt_keys(session.run()))?;
        out.flush()?;
        let Some(line) = read_line(input)? else {
            writeln!(out)?;
            return suspend(session, out, "end of input");
        };
        if line.trim().is_empty() && session.run().awaiting_sign_off().is_some() {
            continue;
        }
        let Some(intent) = parse_intent(&line) else {
            writeln!(
                out,
                "  ? unknown key `{}` — type ? for help",
                sanitize_line(line.trim())
            )?;
            continue;
        };
        match handle(session, intent, input, out)? {
            Some(exit) => return Ok(exit),
            None => continue,
        }
    }
}

/// While the current step waits for its sign-off, read what other
/// sessions recorded for the run (the second person signing from their own
/// login), and say what arrived.
fn print_arrived(session: &mut Session, out: &mut dyn Write) -> std::io::Result<()> {
    if session.run().awaiting_sign_off().is_some()
        && let Err(e) = session.refresh()
    {
        writeln!(
            out,
            "  ! cannot read the evidence log for a sign-off from another session: {}",
            sanitize_line(&e)
        )?;
    }
    for (m, e) in session.take_arrived() {
        writeln!(
            out,
            "  ✓ {}",
            sanitize_line(&flow::arrival_words(session, &m, &e))
        )?;
    }
    Ok(())
}

fn handle(
    session: &mut Session,
    intent: Intent,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> std::io::Result<Option<PlainExit>> {
    match intent {
        Intent::Help => {
            print_help(out)?;
            return Ok(None);
        }
        Intent::History => {
            print_history(session.run(), out)?;
            return Ok(None);
        }
        Intent::ScrollUp
        | Intent::ScrollDown
        | Intent::PageUp
        | Intent::PageDown
        | Intent::Close => {
            writeln!(out, "  (scrolling is for the full-screen mode)")?;
            return Ok(None);
        }
        _ => {}
    }
    let Some(action) = keys::action_of(session.run(), intent) else {
        return Ok(None);
    };
    let reply = flow::begin(session, action);
    drive(session, reply, input, out)
}

/// Follow the operator flow from `reply` until it asks nothing more: print
/// what was recorded, ask for what it needs, and say why when it is refused.
fn drive(
    session: &mut Session,
    mut reply: Reply,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> std::io::Result<Option<PlainExit>> {
    loop {
        print_recorded(session.run(), &reply.recorded, out)?;
        reply = match reply.next {
            Next::Done => return Ok(None),
            // A command's result is kept and recording retried, never the
            // command run again (its output is not in the log yet).
            Next::NotRecorded {
                message,
                retry: retry @ Command::RecordCommand { .. },
            } => match retry_result(session, &message, retry, input, out)? {
                Some(reply) => reply,
                None => return Ok(Some(PlainExit::Suspended)),
            },
            Next::Refused(_) | Next::NotRecorded { .. } => {
                print_failure(&reply.next, out)?;
                return Ok(None);
            }
            Next::Suspended => {
                print_suspended(session, out, "operator")?;
                return Ok(Some(PlainExit::Suspended));
            }
            Next::Text(request) => {
                if let Some(words) = &request.about {
                    writeln!(out)?;
                    for (i, line) in words.lines().enumerate() {
                        let mark = if i == 0 { "  ! " } else { "    " };
                        writeln!(out, "{mark}{}", sanitize_line(line))?;
                    }
                }
                let choices = value_choices(session.run(), &request);
                if !choices.is_empty() {
                    writeln!(out, "  {}", choices_line(choices))?;
                }
                let prompt = text_prompt(session.run(), &request);
                let Some(mut text) = ask(input, out, &prompt)? else {
                    return suspend(session, out, "end of input").map(Some);
                };
                // An empty line keeps the value already recorded.
                if request.ask == Ask::Value && text.trim().is_empty() {
                    text.clone_from(&request.initial);
                }
                // A choice's item number stands for its text.
                if let Some(i) = keys::choice_item(choices, &text) {
                    text.clone_from(&choices[i]);
                }
                flow::submit(session, &request, text)
            }
            Next::Question(question) => {
                let yes_no = format!("({})", keys::yes_no());
                let prompt = match &question {
                    Question::RunCommand { command, .. } => {
                        writeln!(out, "  Command: {}", sanitize_line(command))?;
                        format!("Run it now? {yes_no}")
                    }
                    Question::Suspend => format!("Suspend and quit? {yes_no}"),
                };
                let Some(line) = ask(input, out, &prompt)? else {
                    return match question {
                        // Not run; the end of input is seen at the prompt.
                        Question::RunCommand { .. } => Ok(None),
                        Question::Suspend => suspend(session, out, "end of input").map(Some),
                    };
                };
                let yes = answer_is_yes(&line);
                if !yes {
                    match question {
                        Question::RunCommand { .. } => writeln!(out, "  not run")?,
                        Question::Suspend => writeln!(out, "  not suspended")?,
                    }
                }
                flow::answer(session, &question, yes)
            }
            Next::Start(command) => {
                let Some(result) = run_command(&command, out)? else {
                    return Ok(None);
                };
                flow::command_finished(session, command.step, result)
            }
            Next::Then(command) => flow::execute(session, command),
        };
    }
}

/// A command's result could not be recorded: keep it and retry recording
/// on the retry key until it is recorded (`Some(reply)`), or stop on the
/// quit key or the end of input (`None`: the result is lost, and resume
/// asks what became of the command, whose start is recorded).
fn retry_result(
    session: &mut Session,
    message: &str,
    retry: Command,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> std::io::Result<Option<Reply>> {
    let mut message = message.to_string();
    loop {
        writeln!(
            out,
            "{}\n    The command's result is kept: {} = try recording it again · {} = stop (the result is then lost; resume asks what became of the command)",
            not_recorded(&message),
            keys::label(Mode::NotRecorded, Does::Retry),
            keys::label(Mode::NotRecorded, Does::SuspendAndQuit),
        )?;
        let line = ask(input, out, "Result")?;
        let does = line
            .as_deref()
            .and_then(single_char)
            .and_then(|c| keys::does(Mode::NotRecorded, Key::Char(c)));
        match (line, does) {
            (None, _) | (_, Some(Does::SuspendAndQuit)) => {
                writeln!(
                    out,
                    "Stopped without recording the command's result; the run is still open: runsheet resume {}",
                    session.run_id()
                )?;
                return Ok(None);
            }
            (_, Some(Does::Retry)) => {
                let reply = flow::retry(session, retry.clone());
                match &reply.next {
                    Next::NotRecorded { message: m, .. } => message.clone_from(m),
                    _ => return Ok(Some(reply)),
                }
            }
            _ => {}
        }
    }
}

/// The choices of the value a request asks for (none for any other request).
fn value_choices<'a>(run: &'a Run, request: &TextRequest) -> &'a [String] {
    match run.procedure.step(&request.step).map(|(s, _)| s.kind()) {
        Some(StepKind::Value(v)) if request.ask == Ask::Value => &v.choices,
        _ => &[],
    }
}

/// A value's choices on one line, numbered where item numbers pick them
/// (`keys::choice_item`): `One of: 1 SEV1 · 2 SEV2 (type it or its number)`.
fn choices_line(choices: &[String]) -> String {
    let numbered = keys::numbers_pick_choices(choices);
    let items: Vec<String> = choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if numbered {
                format!("{} {}", i + 1, sanitize_line(c))
            } else {
                sanitize_line(c)
            }
        })
        .collect();
    format!(
        "One of: {} ({})",
        items.join(" · "),
        if numbered {
            "type it or its number"
        } else {
            "type it"
        }
    )
}

/// What plain mode asks for a text request.
fn text_prompt(run: &Run, request: &TextRequest) -> String {
    let step = run.procedure.step(&request.step).map(|(s, _)| s);
    match request.ask {
        Ask::Value => {
            let label = match step.map(|s| s.kind()) {
                Some(StepKind::Value(v)) => v.label.clone(),
                _ => "value".into(),
            };
            if request.initial.is_empty() {
                sanitize_line(&label)
            } else {
                format!(
                    "{} [{}]",
                    sanitize_line(&label),
                    sanitize_line(&request.initial)
                )
            }
        }
        Ask::Fail => "Reason for the failure".into(),
        Ask::Skip => "Justification for skipping".into(),
        Ask::Note => "Note".into(),
        Ask::Evidence => sanitize_line(
            &step
                .and_then(|s| s.evidence.clone())
                .unwrap_or_else(|| "Evidence".into()),
        ),
        Ask::SignOff if step.is_some_and(|s| s.typed_signoff) => {
            "Second person's signature file, or their name".into()
        }
        Ask::SignOff => "Second person's signature file".into(),
        Ask::Abort => "Reason for aborting the run".into(),
        Ask::CommandAccount => "What became of it".into(),
        Ask::Rehearse => "What you would have done".into(),
        Ask::CorrectStep => "Step number".into(),
        Ask::CorrectValue => match &step.map(|s| s.kind()) {
            Some(StepKind::Value(v)) if !request.initial.is_empty() => format!(
                "The right {} [{}]",
                sanitize_line(&v.label),
                sanitize_line(&request.initial)
            ),
            Some(StepKind::Value(v)) => format!("The right {}", sanitize_line(&v.label)),
            _ => "The right value".into(),
        },
        Ask::CorrectAnswer => "The right answer (yes or no)".into(),
        Ask::CorrectReason => "Why is it corrected".into(),
    }
}

/// Run a command the operator agreed to, its output streamed to `out`;
/// `None` when it could not be started (nothing is recorded then).
fn run_command(
    command: &CommandToRun,
    out: &mut dyn Write,
) -> std::io::Result<Option<crate::engine::CommandResult>> {
    let child = match RunningCommand::spawn(&command.command) {
        Ok(c) => c,
        Err(e) => {
            writeln!(out, "  ✘ could not start the command: {e}")?;
            return Ok(None);
        }
    };
    writeln!(out, "  --- output ---")?;
    let mut write_err = None;
    let result = child.wait_streaming(|chunk| {
        if write_err.is_none()
            && let Err(e) =
                out.write_all(sanitize_terminal(&String::from_utf8_lossy(chunk)).as_bytes())
        {
            write_err = Some(e);
        }
    });
    if let Some(e) = write_err {
        return Err(e);
    }
    writeln!(out, "\n  --- end of output ---")?;
    let code = result
        .exit_code
        .map(|c| c.to_string())
        .unwrap_or_else(|| "none (stopped)".into());
    writeln!(out, "  exit code {code} after {} ms", result.duration_ms)?;
    let expect = command.expect_exit;
    if result.exit_code != Some(expect) {
        writeln!(
            out,
            "  ! expected exit code {expect}: type {} to fail the step and escalate, or {} to run it again",
            keys::hint(Action::Fail),
            keys::hint(Action::RunCommand)
        )?;
    }
    Ok(Some(result))
}

/// The "recorded" lines of events just made durable.
fn print_recorded(run: &Run, events: &[Event], out: &mut dyn Write) -> std::io::Result<()> {
    for e in events {
        if let Some(text) = describe(run, e) {
            writeln!(out, "  ✔ recorded: {}", sanitize_line(&text))?;
        }
    }
    Ok(())
}

/// Why an input did not go through.
fn print_failure(next: &Next, out: &mut dyn Write) -> std::io::Result<()> {
    match next {
        Next::Refused(r) => writeln!(out, "  ✘ {}", sanitize_line(&keys::refusal_words(r))),
        Next::NotRecorded { message, .. } => writeln!(
            out,
            "{}\n    Nothing changed; try again, or {} to suspend.",
            not_recorded(message),
            keys::hint(Action::Suspend)
        ),
        _ => Ok(()),
    }
}

/// The line that says the evidence log could not be written, and why.
fn not_recorded(message: &str) -> String {
    format!(
        "  ✘ NOT RECORDED — the evidence log could not be written: {}",
        sanitize_line(message)
    )
}

/// Print a reply's recorded lines and failure; true when it went through.
fn report(run: &Run, reply: &Reply, out: &mut dyn Write) -> std::io::Result<bool> {
    print_recorded(run, &reply.recorded, out)?;
    print_failure(&reply.next, out)?;
    Ok(!reply.failed())
}

fn print_suspended(session: &Session, out: &mut dyn Write, why: &str) -> std::io::Result<()> {
    writeln!(
        out,
        "Suspended ({why}). Continue with: runsheet resume {}",
        session.run_id()
    )
}

/// Suspend without asking (input ended).
fn suspend(session: &mut Session, out: &mut dyn Write, why: &str) -> std::io::Result<PlainExit> {
    if session.run().is_ended() {
        return Ok(PlainExit::Ended(
            session.run().outcome.unwrap_or(Outcome::Aborted),
        ));
    }
    let reply = flow::suspend(session);
    if report(session.run(), &reply, out)? {
        print_suspended(session, out, why)?;
    } else {
        writeln!(
            out,
            "Stopped ({why}) without recording the suspension; the run is still open: runsheet resume {}",
            session.run_id()
        )?;
    }
    Ok(PlainExit::Suspended)
}

/// The change notice before the first step: what changed since the
/// operator's last run, a line each, and the keys to go on.
fn print_change_notice(run: &Run, out: &mut dyn Write) -> std::io::Result<()> {
    let Some(n) = &run.change_notice else {
        return Ok(());
    };
    writeln!(
        out,
        "\nCHANGED since you last ran it — {}",
        sanitize_line(&n.headline(&run.procedure.version))
    )?;
    for c in &n.changes {
        writeln!(out, "  * {}", sanitize_line(c))?;
    }
    let to = run
        .info
        .as_ref()
        .map_or("", |i| i.procedure_sha256.as_str());
    writeln!(
        out,
        "The whole comparison: {}",
        sanitize_line(&n.diff_command(&run.procedure.id, to))
    )?;
    writeln!(
        out,
        "Read the changes above before you start. {} = go ahead (recorded as read) · {} = abort · {} = suspend",
        keys::hint(Action::GoAhead),
        keys::hint(Action::Abort),
        keys::hint(Action::Suspend)
    )
}

/// A short description of an event for the "recorded" line.
fn describe(run: &Run, e: &Event) -> Option<String> {
    let title = |id: &str| {
        run.procedure
            .step(id)
            .map(|(s, _)| s.title.clone())
            .unwrap_or_else(|| id.to_string())
    };
    Some(match e {
        Event::StepStarted { .. } | Event::RunStarted { .. } => return None,
        Event::WarningsAcknowledged { .. } => "going ahead despite the warnings".into(),
        Event::ChangeNoticeSeen { .. } => "change notice read".into(),
        Event::StepConfirmed { step } => format!("done: {}", title(step)),
        Event::DecisionAnswered { step, answer } => {
            format!("{}: {}", title(step), if *answer { "yes" } else { "no" })
        }
        Event::ValueRecorded { step, value } => format!("{} = {value}", title(step)),
        Event::EvidenceRecorded { evidence, .. } => format!("evidence: {evidence}"),
        Event::CommandRan { result, .. } => format!(
            "command output ({} bytes{}), exit code {}",
            result.output_bytes,
            if result.truncated { ", cut" } else { "" },
            result
                .exit_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "none".into())
        ),
        Event::NoteAdded { text, .. } => format!("note: {text}"),
        Event::SignedOff {
            step, by, method, ..
        } => format!(
            "{} signed off by {by}{}",
            title(step),
            crate::report::timeline::sign_off_how(*method)
        ),
        Event::SignOffRefused { by, reason, .. } => {
            format!("sign-off by {by} refused: {reason}")
        }
        Event::Corrected { .. } => format!(
            "correction {}",
            crate::report::timeline::correction_words(e)?
        ),
        Event::StepSkipped {
            step,
            justification,
        } => format!("skipped {}: {justification}", title(step)),
        Event::StepFailed {
            step,
            reason,
            branch,
            ..
        } => match branch.as_deref().and_then(|b| run.procedure.branch(b)) {
            Some(b) => format!(
                "FAILED {}: {reason} — ESCALATION: {} ({})",
                title(step),
                b.title,
                then_words(b.then)
            ),
            None => format!("FAILED {}: {reason}", title(step)),
        },
        Event::BranchEnded { then, .. } => format!("escalation ended: {}", then_words(*then)),
        Event::Suspended => "suspended".into(),
        Event::Resumed { .. } => "resumed".into(),
        // The output follows at once.
        Event::CommandStarted { .. } => return None,
        Event::CommandInterrupted {
            command, account, ..
        } => format!("what became of `{command}`: {account}"),
        Event::CommandRehearsed { rehearsal, .. } => {
            format!("drill: not run; you would have: {rehearsal}")
        }
        Event::Recovered {
            previous,
            previous_last_event_at,
            ..
        } => format!(
            "taken up after the previous session{} ended without suspending (its last event: {previous_last_event_at})",
            previous
                .as_ref()
                .map(|s| format!(", {s},"))
                .unwrap_or_default()
        ),
        Event::HandedOver { from, reason } => format!("handed over from {from}: {reason}"),
        Event::RunEnded { outcome, .. } => format!("run ended: {}", outcome.as_str()),
    })
}

/// How a branch ends, in words ("then …").
fn then_words(then: BranchEnd) -> String {
    format!("then {}", then.words())
}

/// On resume: what is already recorded, step by step, so the operator sees where they are.
fn print_so_far(run: &Run, out: &mut dyn Write) -> std::io::Result<()> {
    let finished: Vec<_> = run
        .procedure
        .all_steps()
        .filter_map(|s| {
            let st = run.steps.get(&s.id)?;
            (st.status != StepStatus::Current).then_some((s, st))
        })
        .collect();
    if finished.is_empty() {
        return Ok(());
    }
    writeln!(out, "Already recorded in this run:")?;
    for (step, st) in finished {
        let mut line = format!("  [{}] {}", st.status.as_str(), step.title);
        if let Some(v) = &st.value {
            line.push_str(&format!(" = {v}"));
        }
        if let Some(a) = st.answer {
            line.push_str(if a { ": yes" } else { ": no" });
        }
        for reason in &st.failures {
            line.push_str(&format!(" (failed: {reason})"));
        }
        writeln!(out, "{}", sanitize_line(&line))?;
    }
    Ok(())
}

fn print_step(run: &Run, out: &mut dyn Write) -> std::io::Result<()> {
    let Some(step) = run.current_step() else {
        return Ok(());
    };
    let (done, total) = run.progress();
    writeln!(out)?;
    if let Some(esc) = &run.escalation {
        let branch = run.active_branch();
        writeln!(
            out,
            "=== ESCALATION: {} — step `{}` failed: {} ===",
            sanitize_line(&branch.map(|b| b.title.clone()).unwrap_or_default()),
            sanitize_line(&esc.failed_step),
            sanitize_line(&esc.reason)
        )?;
        if let Some(b) = branch {
            if let Some(c) = &b.contact {
                writeln!(
                    out,
                    "    Contact: {}",
                    sanitize_line(&crate::text::one_line(c))
                )?;
            }
            writeln!(out, "    {}", then_words(b.then))?;
        }
    }
    let attempt = run.state(&step.id).attempts;
    writeln!(
        out,
        "{}[{done}/{total}] {}{}",
        drill_mark(run),
        sanitize_line(&step.title),
        if attempt > 1 {
            format!(" (attempt {attempt})")
        } else {
            String::new()
        }
    )?;
    if let Some(role) = step.role.as_deref() {
        let title = run
            .procedure
            .role(role)
            .map(|r| r.title.as_str())
            .unwrap_or(role);
        writeln!(out, "    Role: {}", sanitize_line(title))?;
    }
    if !step.controls.is_empty() {
        writeln!(
            out,
            "    Controls: {}",
            sanitize_line(&step.controls.join(", "))
        )?;
    }
    if step.critical {
        writeln!(out, "    Critical: cannot be skipped")?;
    }
    if let Some(body) = &step.body {
        for line in sanitize_terminal(body.trim_end()).lines() {
            writeln!(out, "    {line}")?;
        }
    }
    for r in run.requirements() {
        let mark = if r.met { "x" } else { " " };
        let text = match &r.what {
            RequirementKind::Answer(q) => {
                format!(
                    "answer: {q} ({}/{})",
                    keys::hint(Action::Yes),
                    keys::hint(Action::No)
                )
            }
            RequirementKind::Value { label, required } => format!(
                "value: {label}{} ({} to type it)",
                if *required { "" } else { " (optional)" },
                keys::hint(Action::Value)
            ),
            RequirementKind::Command { run: cmd, .. }
                if step
                    .command
                    .as_ref()
                    .is_some_and(|c| run.rehearses_instead(c)) =>
            {
                format!(
                    "DRILL — not run, not marked safe to rehearse ({}: say what you would have done): {cmd}",
                    keys::hint(Action::RunCommand)
                )
            }
            RequirementKind::Command {
                run, expect_exit, ..
            } => format!(
                "run command ({}): {run} — expect exit {expect_exit}",
                keys::hint(Action::RunCommand)
            ),
            RequirementKind::Note(p) => format!("note ({}): {p}", keys::hint(Action::Note)),
            RequirementKind::Evidence(p) => {
                format!("evidence ({}): {p}", keys::hint(Action::Evidence))
            }
            RequirementKind::SignOff(role) => format!(
                "sign-off by a second person ({}): {role}",
                keys::hint(Action::SignOff)
            ),
        };
        writeln!(out, "    [{mark}] {}", sanitize_line(&text))?;
    }
    Ok(())
}

fn print_end(session: &Session, out: &mut dyn Write) -> std::io::Result<()> {
    let run = session.run();
    let t = run.tally();
    writeln!(out)?;
    writeln!(
        out,
        "{}Run {} ended: {}",
        drill_mark(run),
        session.run_id(),
        run.outcome
            .map(|o| o.as_str())
            .unwrap_or("open")
            .to_uppercase()
    )?;
    if let Some(reason) = &run.end_reason {
        writeln!(out, "  {}", sanitize_line(reason))?;
    }
    writeln!(
        out,
        "  steps done {}, skipped {}, failures {}",
        t.done, t.skipped, t.failures
    )?;
    writeln!(out, "  Verify the log:  runsheet verify")?;
    writeln!(out, "  See the run:     runsheet show {}", session.run_id())?;
    writeln!(out, "  Export evidence: runsheet export --out DIR")?;
    Ok(())
}

/// Output lines of a recorded command the history shows, and the
/// characters of each.
const HISTORY_OUTPUT: (usize, usize) = (3, 200);

/// What is recorded for each step that has state, in procedure order
/// (each escalation branch after the step that entered it, its steps
/// marked `↳`): `report::history`'s words, a line each.
fn print_history(run: &Run, out: &mut dyn Write) -> std::io::Result<()> {
    use crate::report::history::{Row, history, more_words};
    let (rows, chars) = HISTORY_OUTPUT;
    let history = history(run, rows);
    if history.is_empty() {
        return writeln!(out, "  Nothing is recorded for any step yet.");
    }
    writeln!(out, "  History — what is recorded for each step so far:")?;
    for row in history {
        let e = match row {
            Row::Branch { title } => {
                writeln!(out, "  ⚠ Escalation: {}", sanitize_line(&title))?;
                continue;
            }
            Row::Step(e) => e,
        };
        let attempts = if e.attempts > 1 {
            format!(", {} attempts", e.attempts)
        } else {
            String::new()
        };
        writeln!(
            out,
            "  {}[{}{attempts}] {}. {}",
            if e.in_branch { "↳ " } else { "" },
            e.status.as_str(),
            e.number,
            sanitize_line(&e.title)
        )?;
        for f in &e.fields {
            let text = sanitize_terminal(&f.text);
            let mut lines = text.lines();
            writeln!(
                out,
                "      {}: {}",
                f.label,
                lines.next().unwrap_or_default()
            )?;
            let under = " ".repeat(f.label.chars().count() + 2);
            for l in lines {
                writeln!(out, "      {under}{l}")?;
            }
            let Some(o) = &f.output else {
                continue;
            };
            for l in &o.lines {
                let mut cut: String = l.chars().take(chars).collect();
                if cut.len() < l.len() {
                    cut.push('…');
                }
                writeln!(out, "        | {}", sanitize_line(&cut))?;
            }
            if o.more > 0 {
                writeln!(out, "        | {}", more_words(o.more))?;
            }
        }
    }
    Ok(())
}

fn print_help(out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "  Type one key per line (an empty line is Enter):")?;
    for b in keys::BINDINGS {
        if b.intent.is_screen_only() {
            continue;
        }
        writeln!(out, "  {:<6} {}", b.label, b.help)?;
    }
    Ok(())
}

fn prompt_keys(run: &Run) -> String {
    let mut labels: Vec<&str> = keys::available(run)
        .into_iter()
        .filter_map(keys::binding)
        .map(|b| b.label)
        .collect();
    labels.extend(
        [Intent::History, Intent::Help]
            .into_iter()
            .filter_map(|i| keys::binding(i).map(|b| b.label)),
    );
    format!("{}[{}]", drill_mark(run), labels.join(" "))
}

/// What plain mode says first in a drill (docs/training.md).
pub const DRILL_LINE: &str = "DRILL — a practice run: recorded as a drill, never counted in status or in an export's runs; only commands the procedure marks safe to rehearse are run.";

/// `DRILL ` before a step's header and the prompt of a drill; nothing otherwise.
fn drill_mark(run: &Run) -> &'static str {
    if run.is_drill() { "DRILL " } else { "" }
}

/// An input line to an intent: empty = Enter, otherwise one key letter.
fn parse_intent(line: &str) -> Option<Intent> {
    if line.trim().is_empty() {
        return keys::intent_for(Key::Enter);
    }
    let c = single_char(line)?;
    keys::intent_for(Key::Char(c)).or_else(|| {
        // Accept Y/N typed in capitals.
        keys::intent_for(Key::Char(c.to_ascii_lowercase()))
            .filter(|i| matches!(i, Intent::Yes | Intent::No))
    })
}

/// A line answering a yes/no question: the question mode's yes key, in
/// either case.
fn answer_is_yes(line: &str) -> bool {
    single_char(line).is_some_and(|c| {
        keys::does(Mode::Question, Key::Char(c.to_ascii_lowercase())) == Some(Does::Yes)
    })
}

/// The one character a line holds (surrounding blanks aside), if it holds one.
fn single_char(line: &str) -> Option<char> {
    let mut chars = line.trim().chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

fn read_line(input: &mut dyn BufRead) -> std::io::Result<Option<String>> {
    let mut bytes = Vec::new();
    if input.read_until(b'\n', &mut bytes)? == 0 {
        return Ok(None);
    }
    // Bytes that are not UTF-8 (a mis-set terminal, binary on a pipe) are taken
    // lossily: they must not end the session.
    let line = String::from_utf8_lossy(&bytes);
    Ok(Some(line.trim_end_matches(['\n', '\r']).to_string()))
}

fn ask(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    prompt: &str,
) -> std::io::Result<Option<String>> {
    write!(out, "  {prompt}: ")?;
    out.flush()?;
    read_line(input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Run, StartInfo, start};
    use crate::procedure::test_support::procedure_header;
    use crate::session::{MemorySink, SteppingClock};
    use chrono::{TimeZone, Utc};

    const PROC: &str = concat!(
        procedure_header!(),
        r#"default_escalation = "oncall"
[[steps]]
id = "check"
title = "Check \u001b[31mred\u001b[0m"
command = { run = "echo checked" }
[[steps]]
id = "ticket"
title = "Ticket"
critical = true
value = { type = "pattern", label = "Ticket", pattern = "INC-[0-9]+" }
[[branches]]
id = "oncall"
title = "Call on-call"
then = "retry"
[[branches.steps]]
id = "call"
title = "Call"
note = "Who did you call?"
"#
    );

    fn session(sink: MemorySink) -> Session {
        let p: crate::procedure::Procedure = toml::from_str(PROC).unwrap();
        let info = StartInfo::for_tests();
        let clock = SteppingClock::starting_at(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap());
        Session::begin(p, &info, "run-1", "alice", Box::new(sink), Box::new(clock))
    }

    fn play(session: &mut Session, script: &str) -> (PlainExit, String) {
        let mut input = std::io::Cursor::new(script.as_bytes().to_vec());
        let mut out = Vec::new();
        let exit = run(session, &mut input, &mut out).unwrap();
        (exit, String::from_utf8(out).unwrap())
    }

    #[test]
    fn a_scripted_run_with_failure_escalation_and_retry_completes() {
        let sink = MemorySink::default();
        let mut s = session(sink.clone());
        // run the command, confirm; fail the ticket step; in the branch add a note and
        // confirm (retry); then give an invalid and a valid ticket.
        let script = "r\ny\n\nf\nno ticket system\na\ncalled Bob\n\n\nINC-x\n\nINC-42\n";
        let (exit, out) = play(&mut s, script);
        assert_eq!(exit, PlainExit::Ended(Outcome::Completed), "{out}");
        assert!(out.contains("checked"), "{out}");
        assert!(out.contains("ESCALATION: Call on-call"), "{out}");
        assert!(out.contains("does not match"), "{out}");
        assert!(out.contains("(attempt 2)"), "{out}");
        assert!(
            !out.contains('\u{1b}'),
            "escape sequences must not reach the terminal"
        );
        let kinds: Vec<&str> = sink.events.borrow().iter().map(|(_, e)| e.kind()).collect();
        assert!(kinds.contains(&"command-ran") && kinds.contains(&"branch-ended"));
        assert_eq!(kinds.last(), Some(&"run-ended"));
    }

    /// Plain mode asks the engine first, as the full-screen mode does: an
    /// action the engine would refuse is refused before any text is asked.
    #[test]
    fn a_refused_action_is_refused_before_its_text_is_asked() {
        let sink = MemorySink::default();
        let mut s = session(sink.clone());
        let (_, out) = play(&mut s, "e\nr\ny\n\ns\n");
        assert!(
            out.contains("✘ this step does not ask for evidence"),
            "{out}"
        );
        assert!(
            out.contains(
                "✘ this step is critical and cannot be skipped; fail it (f) to escalate instead"
            ),
            "{out}"
        );
        assert!(!out.contains("Justification for skipping"), "{out}");
        assert!(!out.contains("  Evidence:"), "{out}");
        let kinds: Vec<&str> = sink.events.borrow().iter().map(|(_, e)| e.kind()).collect();
        assert!(!kinds.contains(&"step-skipped"), "{kinds:?}");
    }

    /// `q` asks first, as the full-screen mode does; `n` keeps the run going.
    #[test]
    fn suspend_asks_first() {
        let sink = MemorySink::default();
        let mut s = session(sink.clone());
        let (exit, out) = play(&mut s, "q\nn\nq\ny\n");
        assert_eq!(exit, PlainExit::Suspended);
        assert_eq!(out.matches("Suspend and quit? (y/n)").count(), 2, "{out}");
        assert!(out.contains("not suspended"), "{out}");
        assert!(out.contains("Suspended (operator)"), "{out}");
        assert!(s.run().suspended);
    }

    #[test]
    fn end_of_input_suspends_and_nothing_unsaved_is_shown_as_done() {
        let sink = MemorySink::default();
        let mut s = session(sink.clone());
        *sink.fail_with.borrow_mut() = Some("disk full".into());
        let (exit, out) = play(&mut s, "r\ny\n");
        assert!(out.contains("NOT RECORDED"), "{out}");
        assert!(s.run().state("check").commands.is_empty());
        // Still failing: the suspension cannot be recorded either, and says so.
        assert_eq!(exit, PlainExit::Suspended);
        assert!(out.contains("without recording the suspension"), "{out}");
        *sink.fail_with.borrow_mut() = None;
        let (exit, out) = play(&mut s, "q\n");
        assert_eq!(exit, PlainExit::Suspended);
        assert!(out.contains("runsheet resume run-1"), "{out}");
        assert!(s.run().suspended);
    }

    #[test]
    fn a_suspended_run_whose_resumption_cannot_be_saved_stops_instead_of_looping() {
        let sink = MemorySink::default();
        let mut s = session(sink.clone());
        let (exit, _) = play(&mut s, "q\n");
        assert_eq!(exit, PlainExit::Suspended);
        *sink.fail_with.borrow_mut() = Some("read-only".into());
        let (exit, out) = play(&mut s, "\n\n\n");
        assert_eq!(exit, PlainExit::Suspended);
        assert_eq!(out.matches("NOT RECORDED").count(), 1, "{out}");
        assert!(out.contains("stays suspended"), "{out}");
        assert!(s.run().suspended);
    }

    #[test]
    fn invalid_utf8_input_is_read_lossily_not_fatal() {
        let sink = MemorySink::default();
        let mut s = session(sink.clone());
        let mut input = std::io::Cursor::new(b"r\nn\na\nbad \xff\xfe\x1b[2J note\n".to_vec());
        let mut out = Vec::new();
        let exit = run(&mut s, &mut input, &mut out).expect("no I/O error");
        assert_eq!(exit, PlainExit::Suspended);
        let notes = s.run().state("check").notes;
        assert_eq!(notes, ["bad \u{fffd}\u{fffd}\u{1b}[2J note"]);
        assert!(!out.contains(&0x1b), "no escape byte reaches the terminal");
    }

    /// A procedure whose one step asks for one of `choices`.
    fn choice_session(choices: &str, sink: MemorySink) -> Session {
        let source = format!(
            "{}[[steps]]\nid = \"sev\"\ntitle = \"Classify\"\nvalue = {{ type = \"choice\", label = \"Severity\", choices = {choices} }}\n",
            procedure_header!(),
        );
        let p: crate::procedure::Procedure = toml::from_str(&source).unwrap();
        let info = StartInfo::for_tests();
        let clock = SteppingClock::starting_at(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap());
        Session::begin(p, &info, "run-1", "alice", Box::new(sink), Box::new(clock))
    }

    const SEVERITIES: &str = r#"["SEV1", "SEV2", "SEV3", "SEV4"]"#;

    #[test]
    fn a_choice_is_listed_numbered_and_picked_by_its_number() {
        let mut s = choice_session(SEVERITIES, MemorySink::default());
        let (exit, out) = play(&mut s, "\n2\n");
        assert_eq!(exit, PlainExit::Ended(Outcome::Completed), "{out}");
        assert!(
            out.contains(
                "  One of: 1 SEV1 · 2 SEV2 · 3 SEV3 · 4 SEV4 (type it or its number)\n  Severity: "
            ),
            "{out}"
        );
        assert!(out.contains("✔ recorded: Classify = SEV2"), "{out}");
        assert_eq!(s.run().state("sev").value.as_deref(), Some("SEV2"));
    }

    #[test]
    fn a_choice_is_picked_by_its_text_and_a_number_past_the_list_is_refused() {
        let mut s = choice_session(SEVERITIES, MemorySink::default());
        let (exit, out) = play(&mut s, "\n5\n\nsev3\n");
        assert_eq!(exit, PlainExit::Ended(Outcome::Completed), "{out}");
        assert!(
            out.contains("✘ `5` is not one of: SEV1, SEV2, SEV3, SEV4"),
            "{out}"
        );
        assert_eq!(s.run().state("sev").value.as_deref(), Some("SEV3"));
    }

    #[test]
    fn where_a_choice_is_a_number_a_number_is_its_text() {
        let mut s = choice_session(r#"["1", "5", "10"]"#, MemorySink::default());
        let (exit, out) = play(&mut s, "\n2\n\n10\n");
        assert_eq!(exit, PlainExit::Ended(Outcome::Completed), "{out}");
        assert!(out.contains("One of: 1 · 5 · 10 (type it)"), "{out}");
        assert!(out.contains("✘ `2` is not one of: 1, 5, 10"), "{out}");
        assert_eq!(s.run().state("sev").value.as_deref(), Some("10"));
    }

    #[test]
    fn h_prints_what_is_recorded_for_each_step() {
        let mut s = session(MemorySink::default());
        let (_, before) = play(&mut s, "h\n");
        assert!(
            before
                .contains("History — what is recorded for each step so far:\n  [current] 1. Check"),
            "{before}"
        );
        // Run the command, confirm; fail the ticket step; a note in the branch.
        let (_, out) = play(
            &mut s,
            "r\ny\n\nf\nno ticket system\na\ncalled Bob\nline two\nh\n",
        );
        let history = out
            .rsplit_once("History —")
            .map(|(_, h)| h)
            .unwrap_or_default();
        for line in [
            "  [done] 1. Check \\u{1b}[31mred\\u{1b}[0m\n",
            "      Command run: $ echo checked — exit 0 in ",
            "        | checked\n",
            "  [escalated] 2. Ticket\n      Failed: no ticket system\n",
            "  ⚠ Escalation: ",
            "  ↳ [current] 1. Call\n      Note: called Bob\n",
        ] {
            assert!(history.contains(line), "no {line:?} in:\n{history}");
        }
        assert!(!out.contains('\u{1b}'), "{out}");
    }

    /// One line of operator input: keys, answers, or arbitrary bytes.
    fn input_line() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            Just(b"\n".to_vec()),
            "[a-zA-Z?]".prop_map(|k| format!("{k}\n").into_bytes()),
            Just(b"INC-42\n".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(|mut b| {
                b.push(b'\n');
                b
            }),
        ]
    }

    /// Cases per property: 256, or `RUNSHEET_FUZZ_CASES` for long runs (docs/reliability.md).
    fn fuzz_cases(default: u32) -> u32 {
        std::env::var("RUNSHEET_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(fuzz_cases(256)))]

        /// Any input, including invalid UTF-8, NUL and escape sequences: plain mode
        /// never panics or fails, writes no escape byte, and what it shows as recorded
        /// is what the sink holds (replaying the sink gives the live state).
        #[test]
        fn any_input_is_handled_and_output_stays_inert(
            lines in proptest::collection::vec(input_line(), 0..30),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20),
        ) {
            let sink = MemorySink::default();
            let mut s = session(sink.clone());
            let mut bytes: Vec<u8> = lines.concat();
            bytes.extend(tail);
            let mut input = std::io::Cursor::new(bytes);
            let mut out = Vec::new();
            let exit = run(&mut s, &mut input, &mut out);
            proptest::prop_assert!(exit.is_ok(), "{exit:?}");
            proptest::prop_assert!(!out.contains(&0x1b), "escape byte in output");
            let events: Vec<Event> = sink.events.borrow().iter().map(|(_, e)| e.clone()).collect();
            let p: crate::procedure::Procedure = toml::from_str(PROC).expect("parses");
            let info = StartInfo::for_tests();
            let mut all = start(&p, &info);
            all.extend(events);
            let replayed = Run::replay(p, &all);
            proptest::prop_assert_eq!(&replayed, s.run());
        }
    }
}
