//! Engine tests: rules, escalation routing, and the replay property.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::procedure::test_support::procedure_header;
use crate::procedure::{Procedure, ValueSpec};

const PROC: &str = concat!(
    procedure_header!(),
    r#"default_escalation = "lead"
[[roles]]
id = "op"
title = "Operator"
[[roles]]
id = "lead"
title = "Lead"

[[steps]]
id = "one"
title = "Confirm"
note = "What did you see?"

[[steps]]
id = "two"
title = "Value"
critical = true
on_fail = "oncall"
value = { type = "pattern", label = "Ticket", pattern = "INC-[0-9]+" }

[[steps]]
id = "three"
title = "Ask"
decision = { question = "OK?", yes = "four", no = "fail" }

[[steps]]
id = "four"
title = "Command"
command = { run = "true" }
signoff = "lead"
typed_signoff = true

[[branches]]
id = "oncall"
title = "On-call"
then = "retry"
[[branches.steps]]
id = "call"
title = "Call on-call"
value = { type = "text", label = "Who" }

[[branches]]
id = "lead"
title = "Lead"
then = "end-escalated"
[[branches.steps]]
id = "tell-lead"
title = "Tell the lead"
"#
);

fn procedure() -> Procedure {
    toml::from_str(PROC).expect("test procedure parses")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 2, 0, 0).unwrap()
}

fn meta() -> Meta {
    Meta {
        at: t0(),
        actor: "alice".into(),
    }
}

fn info(today: NaiveDate) -> StartInfo {
    StartInfo {
        procedure_sha256: "00".into(),
        procedure_format: "toml".into(),
        source_path: "test.toml".into(),
        operator: crate::vocab::Operator::new("Alice (alice)", None, "h"),
        runsheet_version: "0".into(),
        today,
        clock: None,
        pid: None,
        control: Default::default(),
        change_notice: None,
        drill: false,
    }
}

fn notice() -> ChangeNotice {
    ChangeNotice {
        since_run: "01a2351c-0000-7000-8000-000000000000".into(),
        since_started: "2026-10-31 02:00 UTC".into(),
        since_drill: false,
        from_version: "0.9".into(),
        from_sha256: "ab".repeat(32),
        summary: "1 step changed".into(),
        changes: vec!["changed: step `one` — text".into()],
    }
}

fn started() -> Run {
    let p = procedure();
    let events = start(&p, &info(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()));
    Run::replay(p, &events)
}

/// Decide and apply, panicking on rejection.
fn act(run: &mut Run, c: Command) -> Vec<Event> {
    let events = run
        .decide(&c, &meta())
        .unwrap_or_else(|r| panic!("{c:?}: {r}"));
    for e in &events {
        run.apply(e);
    }
    events
}

/// Step one needs a note; give it one and confirm, so the run is on step two.
fn finish_step_one(run: &mut Run) {
    act(
        run,
        Command::AddNote {
            step: "one".into(),
            text: "n".into(),
        },
    );
    act(run, Command::Confirm { step: "one".into() });
    assert_eq!(run.current.as_deref(), Some("two"));
}

/// Steps one and two done (a valid ticket recorded): the run is on step three.
fn finish_steps_one_and_two(run: &mut Run) {
    finish_step_one(run);
    act(
        run,
        Command::RecordValue {
            step: "two".into(),
            value: "INC-1".into(),
        },
    );
    act(run, Command::Confirm { step: "two".into() });
    assert_eq!(run.current.as_deref(), Some("three"));
}

fn cmd_result(exit: i32) -> CommandResult {
    CommandResult {
        command: "true".into(),
        exit_code: Some(exit),
        duration_ms: 1,
        output: String::new(),
        output_sha256: String::new(),
        output_bytes: 0,
        truncated: false,
    }
}

#[test]
fn a_run_starts_at_the_first_step() {
    let run = started();
    assert_eq!(run.current.as_deref(), Some("one"));
    assert_eq!(run.status("one"), StepStatus::Current);
}

#[test]
fn requirements_block_confirmation_until_met() {
    let mut run = started();
    let err = run
        .decide(&Command::Confirm { step: "one".into() }, &meta())
        .unwrap_err();
    assert!(err.to_string().contains("needs a note"), "{err}");
    act(
        &mut run,
        Command::AddNote {
            step: "one".into(),
            text: "all fine".into(),
        },
    );
    act(&mut run, Command::Confirm { step: "one".into() });
    assert_eq!(run.current.as_deref(), Some("two"));
    assert_eq!(run.status("one"), StepStatus::Done);
}

#[test]
fn invalid_values_are_refused_and_change_nothing() {
    let mut run = started();
    finish_step_one(&mut run);
    let before = run.clone();
    let err = run
        .decide(
            &Command::RecordValue {
                step: "two".into(),
                value: "INC-x".into(),
            },
            &meta(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    assert_eq!(run, before);
}

#[test]
fn a_stale_step_id_is_refused() {
    let run = started();
    let err = run
        .decide(&Command::Confirm { step: "two".into() }, &meta())
        .unwrap_err();
    assert!(err.to_string().contains("not the current step"), "{err}");
}

#[test]
fn critical_steps_cannot_be_skipped() {
    let mut run = started();
    finish_step_one(&mut run);
    let err = run
        .decide(
            &Command::Skip {
                step: "two".into(),
                justification: "busy".into(),
            },
            &meta(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("critical"), "{err}");
}

/// An escalation is not optional: a branch's steps cannot be skipped (and
/// are not offered for it) unless the procedure marks them `skippable`.
#[test]
fn escalation_steps_cannot_be_skipped_unless_the_procedure_says_so() {
    let skip = |run: &Run| {
        run.decide(
            &Command::Skip {
                step: "call".into(),
                justification: "no answer".into(),
            },
            &meta(),
        )
    };
    let fail_two = |run: &mut Run| {
        finish_step_one(run);
        act(
            run,
            Command::Fail {
                step: "two".into(),
                reason: "no ticket system".into(),
            },
        );
        assert_eq!(run.current.as_deref(), Some("call"));
    };
    let mut run = started();
    fail_two(&mut run);
    assert_eq!(skip(&run), Err(Refusal::EscalationStep));
    assert_eq!(run.allows(Action::Skip), Err(Refusal::EscalationStep));
    assert!(!run.offered().contains(&Action::Skip));

    let text = PROC.replace(
        "id = \"call\"\ntitle = \"Call on-call\"",
        "id = \"call\"\ntitle = \"Call on-call\"\nskippable = true",
    );
    assert_ne!(text, PROC);
    let p: Procedure = toml::from_str(&text).expect("parses");
    let mut run = Run::replay(
        p.clone(),
        &start(&p, &info(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap())),
    );
    fail_two(&mut run);
    assert!(run.offered().contains(&Action::Skip));
    assert!(skip(&run).is_ok());
}

#[test]
fn failure_enters_the_branch_and_retry_returns_to_the_failed_step() {
    let mut run = started();
    finish_step_one(&mut run);
    act(
        &mut run,
        Command::Fail {
            step: "two".into(),
            reason: "no ticket system".into(),
        },
    );
    assert_eq!(run.status("two"), StepStatus::Escalated);
    let esc = run.escalation.clone().unwrap();
    assert_eq!(
        (esc.branch.as_str(), esc.failed_step.as_str()),
        ("oncall", "two")
    );
    assert_eq!(run.current.as_deref(), Some("call"));
    act(
        &mut run,
        Command::RecordValue {
            step: "call".into(),
            value: "Bob".into(),
        },
    );
    let events = act(
        &mut run,
        Command::Confirm {
            step: "call".into(),
        },
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::BranchEnded {
            then: crate::procedure::BranchEnd::Retry,
            ..
        }
    )));
    assert_eq!(run.current.as_deref(), Some("two"));
    assert!(run.escalation.is_none());
    assert_eq!(run.state("two").attempts, 2);
}

#[test]
fn decision_no_to_fail_uses_the_default_branch_and_ends_escalated() {
    let mut run = started();
    finish_steps_one_and_two(&mut run);
    act(
        &mut run,
        Command::Answer {
            step: "three".into(),
            yes: false,
        },
    );
    assert_eq!(run.escalation.as_ref().unwrap().branch, "lead");
    act(
        &mut run,
        Command::Confirm {
            step: "tell-lead".into(),
        },
    );
    assert_eq!(run.outcome, Some(Outcome::Escalated));
}

#[test]
fn commands_need_the_expected_exit_and_sign_off_needs_a_second_person() {
    let mut run = started();
    finish_step_one(&mut run);
    act(
        &mut run,
        Command::RecordValue {
            step: "two".into(),
            value: "INC-7".into(),
        },
    );
    act(&mut run, Command::Confirm { step: "two".into() });
    act(
        &mut run,
        Command::Answer {
            step: "three".into(),
            yes: true,
        },
    );
    act(
        &mut run,
        Command::RecordCommand {
            step: "four".into(),
            result: cmd_result(1),
        },
    );
    let err = run
        .decide(
            &Command::Confirm {
                step: "four".into(),
            },
            &meta(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("exit code 0"), "{err}");
    act(
        &mut run,
        Command::RecordCommand {
            step: "four".into(),
            result: cmd_result(0),
        },
    );
    for me in ["alice", "Alice", " ALICE "] {
        let err = run
            .decide(
                &Command::SignOff {
                    step: "four".into(),
                    by: me.into(),
                },
                &meta(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("second person"), "{me}: {err}");
    }
    assert!(run.offered().contains(&Action::SignOff));
    act(
        &mut run,
        Command::SignOff {
            step: "four".into(),
            by: "Bob Lead".into(),
        },
    );
    // Signed off: no longer offered (a second one is refused).
    assert!(!run.offered().contains(&Action::SignOff));
    assert_eq!(run.allows(Action::SignOff), Err(Refusal::AlreadySignedOff));
    act(
        &mut run,
        Command::Confirm {
            step: "four".into(),
        },
    );
    assert_eq!(run.outcome, Some(Outcome::Completed));
    assert_eq!(run.progress(), (4, 4));
}

#[test]
fn overdue_review_must_be_acknowledged_first() {
    let p = procedure();
    let events = start(&p, &info(NaiveDate::from_ymd_opt(2028, 1, 1).unwrap()));
    let mut run = Run::replay(p, &events);
    assert_eq!(run.current, None);
    assert_eq!(run.pending_warnings.len(), 1);
    assert!(
        run.decide(&Command::Confirm { step: "one".into() }, &meta())
            .is_err()
    );
    act(&mut run, Command::AcknowledgeWarnings);
    assert_eq!(run.current.as_deref(), Some("one"));
}

#[test]
fn unapproved_content_must_be_acknowledged_and_a_recorded_review_sets_the_due_date() {
    use crate::procedure::control::{ApprovalCheck, RecordedReview};
    let p = procedure();
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let mut i = info(day(2026, 11, 1));
    i.control.approval = ApprovalCheck::Missing;
    let run = Run::replay(p.clone(), &start(&p, &i));
    assert_eq!(run.current, None);
    assert_eq!(run.pending_warnings.len(), 1);
    assert!(
        run.pending_warnings[0].contains("the content being run (sha256 00…"),
        "{:?}",
        run.pending_warnings
    );
    i.control.approval = ApprovalCheck::Approved {
        by: "ciso".into(),
        on: day(2026, 10, 1),
    };
    let run = Run::replay(p.clone(), &start(&p, &i));
    assert_eq!(run.current.as_deref(), Some("one"));
    // Overdue by the file's dates, not by the recorded review's.
    let mut later = info(day(2028, 1, 1));
    later.control.last_review = Some(RecordedReview {
        seq: 1,
        sha256: "00".into(),
        version: "1".into(),
        on: day(2027, 12, 1),
        by: "ciso".into(),
        outcome: "unchanged".into(),
        next: day(2028, 12, 1),
    });
    let run = Run::replay(p.clone(), &start(&p, &later));
    assert_eq!(run.current.as_deref(), Some("one"));
    later.today = day(2029, 1, 1);
    let run = Run::replay(p.clone(), &start(&p, &later));
    assert!(
        run.pending_warnings[0].ends_with("was due for review on 2028-12-01 (recorded review)"),
        "{:?}",
        run.pending_warnings
    );
}

#[test]
fn a_change_notice_is_read_before_the_warnings_and_the_first_step() {
    let p = procedure();
    let mut start_info = info(NaiveDate::from_ymd_opt(2028, 1, 1).unwrap());
    start_info.change_notice = Some(notice());
    let events = start(&p, &start_info);
    assert_eq!(events.len(), 1, "only run-started: the notice comes first");
    let mut run = Run::replay(p.clone(), &events);
    assert!(run.notice_pending);
    assert_eq!(run.offered()[0], Action::GoAhead);
    assert!(
        run.decide(&Command::Confirm { step: "one".into() }, &meta())
            .is_err()
    );
    assert_eq!(
        run.allows(Action::Confirm),
        Err(Refusal::ChangeNoticePending)
    );
    let seen = act(&mut run, Command::AcknowledgeWarnings);
    assert_eq!(
        seen,
        [Event::ChangeNoticeSeen {
            from_version: "0.9".into(),
            from_sha256: "ab".repeat(32),
            summary: "1 step changed".into(),
        }],
        "the overdue review's warning still waits"
    );
    assert!(!run.notice_pending);
    assert_eq!(run.pending_warnings.len(), 1);
    let acknowledged = act(&mut run, Command::AcknowledgeWarnings);
    assert!(matches!(
        acknowledged[0],
        Event::WarningsAcknowledged { .. }
    ));
    assert_eq!(run.current.as_deref(), Some("one"));

    // With no warnings, reading the notice starts the first step.
    let mut start_info = info(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
    start_info.change_notice = Some(notice());
    let mut run = Run::replay(p.clone(), &start(&p, &start_info));
    let events = act(&mut run, Command::AcknowledgeWarnings);
    assert_eq!(events.len(), 2);
    assert_eq!(run.current.as_deref(), Some("one"));
    // The notice round-trips through the stored payload.
    let first = &start(&p, &start_info)[0];
    assert_eq!(&Event::from_payload(&first.to_payload()).unwrap(), first);
}

#[test]
fn suspended_runs_accept_only_resume_or_abort() {
    let mut run = started();
    act(&mut run, Command::Suspend);
    assert!(
        run.decide(
            &Command::AddNote {
                step: "one".into(),
                text: "x".into()
            },
            &meta()
        )
        .is_err()
    );
    act(&mut run, Command::Resume);
    act(
        &mut run,
        Command::AddNote {
            step: "one".into(),
            text: "x".into(),
        },
    );
    act(
        &mut run,
        Command::Abort {
            reason: "wrong window".into(),
        },
    );
    assert_eq!(run.outcome, Some(Outcome::Aborted));
    assert!(run.decide(&Command::Resume, &meta()).is_err());
}

fn any_command() -> impl Strategy<Value = (u8, u8, bool)> {
    (0u8..12, 0u8..4, any::<bool>())
}

/// Build a plausible command for the current step from random choices.
fn make(run: &Run, (kind, text, yes): (u8, u8, bool)) -> Command {
    let step = run.current.clone().unwrap_or_else(|| "one".into());
    let word = ["", "INC-42", "Bob", "a note"][text as usize].to_string();
    match kind {
        0 => Command::Confirm { step },
        1 => Command::Answer { step, yes },
        2 => Command::RecordValue { step, value: word },
        3 => Command::AddNote { step, text: word },
        4 => Command::SignOff { step, by: word },
        5 => Command::Fail { step, reason: word },
        6 => Command::Skip {
            step,
            justification: word,
        },
        7 => Command::RecordCommand {
            step,
            result: cmd_result(if yes { 0 } else { 2 }),
        },
        8 => Command::Suspend,
        9 => Command::Resume,
        10 => Command::AcknowledgeWarnings,
        _ => Command::RecordEvidence {
            step,
            evidence: word,
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Replaying the persisted events gives exactly the live state.
    #[test]
    fn replay_equals_live(cmds in proptest::collection::vec(any_command(), 0..80), overdue in any::<bool>(), changed in any::<bool>()) {
        let p = procedure();
        let today = if overdue { NaiveDate::from_ymd_opt(2028, 1, 1).unwrap() } else { NaiveDate::from_ymd_opt(2026, 11, 1).unwrap() };
        let mut start_info = info(today);
        start_info.change_notice = changed.then(notice);
        let mut persisted = start(&p, &start_info);
        let mut live = Run::replay(p.clone(), &persisted);
        for c in cmds {
            let c = make(&live, c);
            let before = live.clone();
            match live.decide(&c, &meta()) {
                Ok(events) => {
                    for e in &events { live.apply(e); }
                    persisted.extend(events);
                }
                Err(_) => prop_assert_eq!(&live, &before),
            }
        }
        let replayed = Run::replay(p, &persisted);
        prop_assert_eq!(replayed, live);
    }

    /// Events survive the JSON payload round trip used by the store.
    #[test]
    fn events_round_trip_through_payloads(cmds in proptest::collection::vec(any_command(), 0..40)) {
        let p = procedure();
        let mut live = Run::replay(p, &start(&procedure(), &info(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap())));
        for c in cmds {
            let c = make(&live, c);
            if let Ok(events) = live.decide(&c, &meta()) {
                for e in &events {
                    prop_assert_eq!(&Event::from_payload(&e.to_payload()).unwrap(), e);
                    live.apply(e);
                }
            }
        }
    }

    /// `allows` is exactly `decide` without the text: when it refuses, every
    /// command of that action is refused with the same reason whatever its
    /// text; when it allows, a refusal can only be about the text (or the
    /// command result), so a front end that asks `allows` before asking for
    /// text never asks for text the engine refuses anyway.
    #[test]
    fn allows_is_decide_without_the_text(cmds in proptest::collection::vec(any_command(), 0..60), overdue in any::<bool>()) {
        let p = procedure();
        let today = if overdue { NaiveDate::from_ymd_opt(2028, 1, 1).unwrap() } else { NaiveDate::from_ymd_opt(2026, 11, 1).unwrap() };
        let mut live = Run::replay(p, &start(&procedure(), &info(today)));
        for c in cmds {
            for probe_kind in 0u8..12 {
                for text in 0u8..4 {
                    let probe = make(&live, (probe_kind, text, true));
                    let allowed = live.allows(probe.action());
                    match (allowed, live.decide(&probe, &meta())) {
                        (Err(a), Err(d)) => prop_assert_eq!(a, d),
                        (Err(a), Ok(_)) => prop_assert!(false, "allows refused {probe:?} ({a}) but decide accepts it"),
                        (Ok(()), Err(d)) => prop_assert!(
                            matches!(d, Refusal::Empty(_) | Refusal::Invalid(_) | Refusal::OwnSignOff { .. } | Refusal::WrongCommand),
                            "allows accepted {probe:?} but decide refused it for a reason that is not its text: {d}"
                        ),
                        (Ok(()), Ok(_)) => {}
                    }
                }
            }
            let c = make(&live, c);
            if let Ok(events) = live.decide(&c, &meta()) {
                for e in &events {
                    live.apply(e);
                }
            }
        }
    }
}

/// A whole-number value takes whole numbers only ("whole hours" once took 2.5).
#[test]
fn an_integer_value_takes_whole_numbers_only() {
    let spec: ValueSpec = toml::from_str(
        r#"type = "integer"
label = "Duration"
min = 1
max = 72"#,
    )
    .expect("spec");
    for ok in ["1", "72", "+4", " 12 "] {
        assert!(validate_value(&spec, ok).is_ok(), "{ok}");
    }
    for (bad, why) in [
        ("2.5", "not a whole number"),
        ("1e3", "not a whole number"),
        ("0x10", "not a whole number"),
        ("-", "not a whole number"),
        ("0", "below the minimum 1"),
        ("73", "above the maximum 72"),
        ("99999999999999999999", "too large"),
    ] {
        let err = validate_value(&spec, bad).expect_err(bad).to_string();
        assert!(err.contains(why), "{bad}: {err}");
    }
}

/// A run on step `four` (the command step), its first three steps done.
fn on_command_step() -> Run {
    to_command_step(started())
}

/// `run` (just started) taken to step four, the command step.
fn to_command_step(mut run: Run) -> Run {
    finish_steps_one_and_two(&mut run);
    act(
        &mut run,
        Command::Answer {
            step: "three".into(),
            yes: true,
        },
    );
    assert_eq!(run.current.as_deref(), Some("four"));
    run
}

#[test]
fn a_started_command_must_be_accounted_for_before_anything_else_but_its_result() {
    let mut run = on_command_step();
    // Only the step's own command line may be started.
    assert_eq!(
        run.decide(
            &Command::StartCommand {
                step: "four".into(),
                command: "rm -rf /".into()
            },
            &meta()
        ),
        Err(Refusal::WrongCommand)
    );
    let started = act(
        &mut run,
        Command::StartCommand {
            step: "four".into(),
            command: "true".into(),
        },
    );
    assert_eq!(
        started,
        vec![Event::CommandStarted {
            step: "four".into(),
            command: "true".into()
        }]
    );
    // Its result is what may follow (the live path) ...
    let mut live = run.clone();
    act(
        &mut live,
        Command::RecordCommand {
            step: "four".into(),
            result: cmd_result(0),
        },
    );
    assert_eq!(live.started_command, None);
    // ... and after a crash nothing else but saying what became of it,
    // suspending or aborting.
    let unaccounted = Refusal::CommandUnaccounted {
        command: "true".into(),
    };
    for c in [
        Command::AddNote {
            step: "four".into(),
            text: "x".into(),
        },
        Command::StartCommand {
            step: "four".into(),
            command: "true".into(),
        },
        Command::Fail {
            step: "four".into(),
            reason: "x".into(),
        },
    ] {
        assert_eq!(run.decide(&c, &meta()), Err(unaccounted.clone()), "{c:?}");
    }
    assert_eq!(run.allows(Action::RunCommand), Err(unaccounted));
    assert_eq!(
        run.offered(),
        vec![Action::AccountForCommand, Action::Abort, Action::Suspend]
    );
    assert!(run.allows(Action::Suspend).is_ok() && run.allows(Action::Abort).is_ok());
    let account = |text: &str| Command::AccountForCommand {
        step: "four".into(),
        started_at: "2026-11-01T02:00:00.000Z".into(),
        account: text.into(),
    };
    assert_eq!(
        run.decide(&account("  "), &meta()),
        Err(Refusal::Empty("say what became of the command"))
    );
    let events = act(&mut run, account("it finished; the backup is there"));
    assert_eq!(
        events,
        vec![Event::CommandInterrupted {
            step: "four".into(),
            command: "true".into(),
            started_at: "2026-11-01T02:00:00.000Z".into(),
            account: "it finished; the backup is there".into(),
        }]
    );
    // Accounted for: the step goes on, its command still to be run.
    assert_eq!(run.started_command, None);
    assert_eq!(
        run.decide(&account("again"), &meta()),
        Err(Refusal::NoInterruptedCommand)
    );
    assert!(matches!(
        run.allows(Action::Confirm),
        Err(Refusal::Unmet(RequirementKind::Command { .. }))
    ));
    assert!(run.allows(Action::RunCommand).is_ok());
}

#[test]
fn taking_a_run_up_resumes_or_recovers_it_and_records_a_handover() {
    let mut run = started();
    // The first session is named from run-started.
    assert_eq!(run.last_operator(), "Alice (alice)");
    let take_up = |handover: Option<&str>| Command::TakeUp {
        previous_last_event_at: "2026-11-01T02:00:00.000Z".into(),
        handover: handover.map(str::to_string),
    };
    // Not suspended: its session ended without suspending it.
    let events = run.decide(&take_up(None), &meta()).expect("take up");
    assert_eq!(
        events,
        vec![Event::Recovered {
            previous: run.session.clone(),
            previous_last_event_at: "2026-11-01T02:00:00.000Z".into(),
            clock: None,
            session: None,
        }]
    );
    assert_eq!(run.session.as_ref().map(|s| s.host.as_str()), Some("h"));
    // Suspended: resumed, and handed over with a reason.
    act(&mut run, Command::Suspend);
    assert_eq!(
        run.decide(&take_up(Some(" ")), &meta()),
        Err(Refusal::Empty("say why you take the run over"))
    );
    let events = act(&mut run, take_up(Some("Alice is off sick")));
    assert_eq!(
        events,
        vec![
            Event::Resumed {
                clock: None,
                session: None
            },
            Event::HandedOver {
                from: "Alice (alice)".into(),
                reason: "Alice is off sick".into()
            }
        ]
    );
    assert!(!run.suspended);
    // The session recorded by the taking-up event is the last one now.
    run.apply(&Event::Recovered {
        previous: None,
        previous_last_event_at: String::new(),
        clock: None,
        session: Some(crate::vocab::SessionMark {
            operator: "bob".into(),
            operator_name: Some("Bob".into()),
            host: "h2".into(),
            pid: Some(7),
        }),
    });
    assert_eq!(run.last_operator(), "Bob (bob)");
    // An ended run is not taken up.
    act(
        &mut run,
        Command::Abort {
            reason: "done".into(),
        },
    );
    assert!(matches!(
        run.decide(&take_up(None), &meta()),
        Err(Refusal::Ended(_))
    ));
}

#[test]
fn a_typed_sign_off_needs_the_step_to_allow_it_and_names_nobody_the_operator_is() {
    // The operator, however spelt, is not a second person.
    for by in [
        "Root.",
        " ROOT ",
        "root@example.com",
        "Alice Admin",
        "alice",
    ] {
        assert!(
            same_person(by, "Alice Admin (alice)") || same_person(by, "root"),
            "{by}"
        );
    }
    assert!(!same_person("Bob", "Alice Admin (alice)"));
    assert!(!same_person("...", "root"));
    // A step that does not allow a typed name refuses one, whatever it is.
    let p: Procedure =
        toml::from_str(&PROC.replace("typed_signoff = true\n", "")).expect("test procedure parses");
    let mut run = on_command_step();
    run.procedure = p;
    act(
        &mut run,
        Command::RecordCommand {
            step: "four".into(),
            result: cmd_result(0),
        },
    );
    assert_eq!(
        run.decide(
            &Command::SignOff {
                step: "four".into(),
                by: "Bob".into()
            },
            &meta()
        ),
        Err(Refusal::TypedSignOff)
    );
    // An SSH sign-off by the operator's principal is refused; another's is
    // recorded with its signature, by its principal.
    let ssh = |principal: &str| SshSignOff {
        principal: principal.into(),
        key: "SHA256:x".into(),
        namespace: "runsheet-signoff@lead".into(),
        message: "m".into(),
        signature: "s".into(),
    };
    assert!(matches!(
        run.decide(
            &Command::SignOffSigned {
                step: "four".into(),
                ssh: ssh("alice@example.com")
            },
            &meta()
        ),
        Err(Refusal::OwnSignOff { .. })
    ));
    let events = act(
        &mut run,
        Command::SignOffSigned {
            step: "four".into(),
            ssh: ssh("bob@example.com"),
        },
    );
    assert_eq!(
        events,
        vec![Event::SignedOff {
            step: "four".into(),
            by: "bob@example.com".into(),
            method: Some(SignOffMethod::Ssh),
            ssh: Some(ssh("bob@example.com")),
            login: None,
        }]
    );
    assert_eq!(
        run.state("four").signed_off_by.as_deref(),
        Some("bob@example.com")
    );
}

#[test]
fn a_correction_refers_to_the_finished_record_and_leaves_the_path() {
    let mut run = on_command_step();
    assert_eq!(
        run.correctable()
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        ["one", "two", "three"]
    );
    assert!(run.offered().contains(&Action::Correct));
    let correct = |step: &str, value: Option<&str>, answer: Option<bool>| Command::Correct {
        step: step.into(),
        value: value.map(str::to_string),
        answer,
        reason: "typo".into(),
    };
    // The current step is not finished; a value must still be valid.
    assert!(matches!(
        run.decide(&correct("four", None, None), &meta()),
        Err(Refusal::NothingToCorrect { .. })
    ));
    assert!(matches!(
        run.decide(&correct("two", Some("nope"), None), &meta()),
        Err(Refusal::Invalid(_))
    ));
    assert_eq!(
        run.decide(&correct("three", None, None), &meta()),
        Err(Refusal::Empty("say what the right answer was: yes or no"))
    );
    let value_seq = run.state("two").record.expect("recorded").run_seq;
    let events = act(&mut run, correct("two", Some("INC-2"), None));
    assert_eq!(
        events,
        vec![Event::Corrected {
            step: "two".into(),
            corrects: "value-recorded".into(),
            run_seq: value_seq,
            value: Some("INC-2".into()),
            answer: None,
            reason: "typo".into(),
        }]
    );
    act(&mut run, correct("three", None, Some(false)));
    // The path is as it was taken; the state shows the right records.
    assert_eq!(run.current.as_deref(), Some("four"));
    assert_eq!(run.state("two").value.as_deref(), Some("INC-2"));
    assert_eq!(run.state("three").answer, Some(false));
    assert_eq!(run.state("two").corrections, vec!["typo".to_string()]);
    // The run_seq is the event's number in the run: replay agrees.
    let replayed = Run::replay(procedure(), &[]);
    assert!(replayed.correctable().is_empty());
}

/// On step four (its command `true`) of a drill; the command is marked
/// safe to rehearse when `safe`.
fn drill_on_command_step(safe: bool) -> Run {
    let mut p = procedure();
    for s in &mut p.steps {
        if let Some(c) = s.command.as_mut() {
            c.safe_to_rehearse = safe;
        }
    }
    let mut i = info(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
    i.drill = true;
    let events = start(&p, &i);
    assert!(matches!(&events[0], Event::RunStarted { drill: true, .. }));
    let run = Run::replay(p, &events);
    assert!(run.is_drill());
    to_command_step(run)
}

/// What `run` decides when the operator says they would have done `text`
/// instead of step four's command.
fn rehearse(run: &Run, text: &str) -> Result<Vec<Event>, Refusal> {
    run.decide(
        &Command::RehearseCommand {
            step: "four".into(),
            rehearsal: text.into(),
        },
        &meta(),
    )
}

#[test]
fn a_drill_never_starts_a_command_not_marked_safe_to_rehearse() {
    let run = drill_on_command_step(false);
    assert_eq!(
        run.decide(
            &Command::StartCommand {
                step: "four".into(),
                command: "true".into()
            },
            &meta()
        ),
        Err(Refusal::NotRehearsable)
    );
}

#[test]
fn in_a_drill_what_you_would_have_done_stands_for_the_command() {
    let mut run = drill_on_command_step(false);
    assert!(matches!(rehearse(&run, "  "), Err(Refusal::Empty(_))));
    let events = act(
        &mut run,
        Command::RehearseCommand {
            step: "four".into(),
            rehearsal: "run it, expect exit 0".into(),
        },
    );
    assert_eq!(
        events,
        [Event::CommandRehearsed {
            step: "four".into(),
            command: "true".into(),
            rehearsal: "run it, expect exit 0".into(),
        }]
    );
    // The command requirement is met; the sign-off still is not.
    assert!(
        run.requirements()
            .iter()
            .any(|r| matches!(r.what, RequirementKind::Command { .. }) && r.met)
    );
}

#[test]
fn a_drill_runs_a_command_marked_safe_to_rehearse_and_rehearses_nothing() {
    let run = drill_on_command_step(true);
    let start = Command::StartCommand {
        step: "four".into(),
        command: "true".into(),
    };
    assert!(run.decide(&start, &meta()).is_ok());
    assert_eq!(rehearse(&run, "x"), Err(Refusal::NothingToRehearse));
}

#[test]
fn outside_a_drill_nothing_is_rehearsed_and_no_run_started_says_drill() {
    let run = on_command_step();
    assert!(!run.is_drill());
    assert_eq!(rehearse(&run, "x"), Err(Refusal::NothingToRehearse));
    let events = start(
        &procedure(),
        &info(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()),
    );
    assert!(events[0].to_payload().get("drill").is_none());
}

/// A command step's unmet requirement offers a skip only where the step may
/// be skipped: not on a critical step.
#[test]
fn an_unrun_command_offers_skip_only_where_the_step_may_be_skipped() {
    let key = |a: Action| Some(format!("{a:?}"));
    let run = to_command_step(started());
    let err = run.allows(Action::Confirm).unwrap_err();
    assert!(
        err.words(&key)
            .contains("or fail (Fail) / skip (Skip) the step"),
        "{}",
        err.words(&key)
    );

    let critical: Procedure = toml::from_str(&PROC.replace(
        "command = { run = \"true\" }",
        "command = { run = \"true\" }\ncritical = true\non_fail = \"oncall\"",
    ))
    .expect("test procedure parses");
    let events = start(
        &critical,
        &info(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()),
    );
    let run = to_command_step(Run::replay(critical, &events));
    let err = run.allows(Action::Confirm).unwrap_err();
    let words = err.words(&key);
    assert!(words.contains("— or fail (Fail) the step"), "{words}");
    assert!(!words.contains("skip"), "{words}");
    assert_eq!(run.allows(Action::Skip), Err(Refusal::Critical));
}
