//! Fuzz target: any text as a procedure file (TOML and JSON) through parse,
//! lint and every renderer. Must never panic; rendered output never carries a
//! raw escape byte or live HTML from the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runsheet::procedure::parse::{self, Format, Source};
use runsheet::procedure::{lint, render};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 29).expect("date");
    for format in [Format::Toml, Format::Json] {
        let Ok(loaded) = parse::parse(Source::from_text("fuzz.toml", text, format)) else {
            continue;
        };
        let _ = lint::lint(&loaded, today);
        let p = &loaded.procedure;
        for out in [render::markdown(p), render::html(p), render::mermaid(p)] {
            assert!(!out.contains('\u{1b}'), "escape byte in rendered output");
        }
        assert!(!render::html(p).contains("<script"), "live script in HTML");
    }
});
