//! Fuzz target: any bytes as the operator's input to plain mode over an
//! in-memory session. Must never panic or fail, never write an escape byte, and
//! the recorded events must replay to the live state.
#![no_main]

use chrono::TimeZone;
use libfuzzer_sys::fuzz_target;
use runsheet::engine::{self, Run, StartInfo};
use runsheet::procedure::parse::{self, Format, Source};
use runsheet::session::{MemorySink, Session, SteppingClock};

const PROC: &str = r#"id = "t"
title = "Test \u001b[31m"
version = "1"
owner = "o"
approver = "a"
approved = 2026-10-01
review_every_months = 12
purpose = "p"
cadence = "daily"
controls = ["A.8.13"]
default_escalation = "oncall"
[[roles]]
id = "lead"
title = "Lead"
[[steps]]
id = "size"
title = "Size"
value = { type = "number", label = "Size", min = 0, max = 100 }
note = "Why?"
[[steps]]
id = "ok"
title = "OK?"
decision = { question = "OK?", yes = "ticket", no = "fail" }
[[steps]]
id = "ticket"
title = "Ticket"
value = { type = "pattern", label = "Ticket", pattern = "INC-[0-9]+" }
evidence = "Where?"
signoff = "lead"
[[branches]]
id = "oncall"
title = "Call on-call"
then = "retry"
[[branches.steps]]
id = "call"
title = "Call"
value = { type = "choice", label = "Who", choices = ["Bob", "Eve"] }
"#;

fuzz_target!(|data: &[u8]| {
    let loaded = parse::parse(Source::from_text("t.toml", PROC, Format::Toml)).expect("parses");
    let info = StartInfo {
        procedure_sha256: "x".into(),
        procedure_format: "toml".into(),
        source_path: "fuzz.toml".into(),
        operator: "alice".into(),
        operator_name: None,
        host: "h".into(),
        runsheet_version: "0".into(),
        today: chrono::NaiveDate::from_ymd_opt(2026, 11, 29).expect("date"),
    };
    let start = engine::start(&loaded.procedure, &info);
    let run = Run::replay(loaded.procedure.clone(), &start);
    let sink = MemorySink::default();
    let clock = SteppingClock::starting_at(
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 29, 0, 0, 0)
            .single()
            .expect("time"),
    );
    let mut session = Session::new(
        run,
        "run".into(),
        "alice".into(),
        Box::new(sink.clone()),
        Box::new(clock),
    );
    let mut input = std::io::Cursor::new(data);
    let mut out = Vec::new();
    runsheet::plain::run(&mut session, &mut input, &mut out)
        .expect("plain mode never fails on input");
    assert!(!out.contains(&0x1b), "escape byte in plain output");
    let mut all = start;
    all.extend(sink.events.borrow().iter().map(|(_, e)| e.clone()));
    assert_eq!(
        &Run::replay(loaded.procedure, &all),
        session.run(),
        "replay drifts"
    );
});
