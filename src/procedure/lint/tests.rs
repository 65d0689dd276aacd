//! Unit tests of lint: each check on a small procedure, and no panics on any input.

use super::*;
use crate::procedure::parse::Format;
use crate::procedure::test_support::procedure_header;
use proptest::prelude::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 1).expect("date")
}

/// The shared test header, the escalation branch's id and the one role (the
/// steps start on line 16).
const HEAD: &str = concat!(
    procedure_header!(),
    r#"default_escalation = "esc"

[[roles]]
id = "op"
title = "Operator"
"#
);

/// The tests of header fields (document control, review dates, controls)
/// spell their header out: what they change is here to read.
const DOC_CONTROL: &str = r#"id = "p"
title = "P"
version = "1"
owner = "IT"
approver = "CISO"
approved = 2026-01-05
review_every_months = 12
purpose = "x"
cadence = "daily"
controls = ["A.8.13"]
default_escalation = "esc"

[[roles]]
id = "op"
title = "Operator"
"#;

const ESC: &str = r#"
[[branches]]
id = "esc"
title = "Escalate"
then = "end-escalated"
[[branches.steps]]
id = "call"
title = "Call"
"#;

fn run(text: &str) -> Vec<Diagnostic> {
    let loaded = parse::parse(Source::from_text("p.toml", text, Format::Toml))
        .unwrap_or_else(|d| panic!("does not parse: {d}\n{text}"));
    lint(&loaded, today())
}

/// Lint HEAD + steps + ESC.
fn with_steps(steps: &str) -> Vec<Diagnostic> {
    run(&format!("{HEAD}{steps}{ESC}"))
}

fn codes(d: &[Diagnostic]) -> Vec<&'static str> {
    d.iter().map(|d| d.code).collect()
}

fn only(d: &[Diagnostic], code: &str) -> Diagnostic {
    let found: Vec<_> = d.iter().filter(|x| x.code == code).collect();
    assert_eq!(found.len(), 1, "expected one {code}, got: {d:#?}");
    found[0].clone()
}

const TWO: &str = "[[steps]]\nid = \"a\"\ntitle = \"A\"\n[[steps]]\nid = \"b\"\ntitle = \"B\"\n";

/// A diagnostic quotes the file's name and values: shown as two inert lines.
#[test]
fn a_diagnostic_shows_hostile_names_and_values_as_escapes_on_its_own_lines() {
    let attack = "\u{1b}]52;c;eA==\u{7}\u{9b}\u{202e}\nfake.toml:1:1: error[x]: y";
    let d = Diagnostic::error(
        PathBuf::from(format!("p{attack}.toml")),
        (3, 4),
        "unknown-key",
        format!("unknown key `{attack}`"),
    )
    .with_hint(format!("hint {attack}"));
    let text = d.to_string();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        !text
            .chars()
            .any(|c| c != '\n' && (c.is_control() || c == '\u{202e}')),
        "{text:?}"
    );
    let shown = r"\u{1b}]52;c;eA==\u{07}\u{9b}\u{202e}\nfake.toml:1:1: error[x]: y";
    assert_eq!(
        text,
        format!(
            "p{shown}.toml:3:4: error[unknown-key]: unknown key `{shown}`\n  hint: hint {shown}"
        )
    );
}

#[test]
fn clean_procedure_has_no_findings() {
    assert_eq!(with_steps(TWO), vec![]);
}

#[test]
fn display_has_location_code_and_hint() {
    let d = Diagnostic::error(PathBuf::from("p.toml"), (3, 7), "syntax", "bad".into())
        .with_hint("fix it");
    assert_eq!(
        d.to_string(),
        "p.toml:3:7: error[syntax]: bad\n  hint: fix it"
    );
    let d = Diagnostic::warning(PathBuf::from("p.toml"), (0, 0), "read", "gone".into());
    assert_eq!(d.to_string(), "p.toml: warning[read]: gone");
    let v = serde_json::to_value(&d).expect("serialize");
    assert_eq!(v["severity"], "warning");
    assert_eq!(v["file"], "p.toml");
}

#[test]
fn document_control_is_required() {
    let text = format!("{DOC_CONTROL}{TWO}{ESC}")
        .replace("approver = \"CISO\"\n", "")
        .replace("review_every_months = 12\n", "");
    let d = run(&text);
    assert_eq!(codes(&d), ["no-approval", "no-review-date"], "{d:#?}");
    assert_eq!(d[0].line, 5, "at `approved`");
    let d = run(&format!("{DOC_CONTROL}{TWO}{ESC}")
        .replace("review_every_months = 12", "review_every_months = 0"));
    assert_eq!(codes(&d), ["no-review-date"]);
    let d = run(&format!("{DOC_CONTROL}{TWO}{ESC}").replace("owner = \"IT\"", "owner = \"  \""));
    assert_eq!(only(&d, "empty-field").line, 4);
}

#[test]
fn overdue_review_is_a_warning_at_the_review_key() {
    let text = format!("{DOC_CONTROL}{TWO}{ESC}").replace("2026-01-05", "2024-01-05");
    let d = run(&text);
    let w = only(&d, "review-overdue");
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!(w.line, 7);
    assert!(w.message.contains("2025-01-05"), "{w}");
    let text = format!("{DOC_CONTROL}{TWO}{ESC}").replace(
        "review_every_months = 12",
        "review_every_months = 12\nnext_review = 2026-02-28",
    );
    let w = only(&run(&text), "review-overdue");
    assert!(w.message.contains("2026-02-28 (1 day ago)"), "{w}");
}

#[test]
fn ids_are_checked() {
    let d = with_steps(
        "[[steps]]\nid = \"Bad_Id\"\ntitle = \"A\"\n[[steps]]\nid = \"end\"\ntitle = \"B\"\n",
    );
    assert_eq!(only(&d, "invalid-id").line, 17);
    assert_eq!(only(&d, "reserved-id").line, 20);
    let d = with_steps("[[steps]]\nid = \"call\"\ntitle = \"A\"\n");
    let dup = only(&d, "duplicate-id");
    assert!(dup.message.contains("first used on line 17"), "{dup}");
    assert!(is_valid_id("a-1") && is_valid_id("9x"));
    assert!(!is_valid_id("-a") && !is_valid_id("") && !is_valid_id("aé") && !is_valid_id("A"));
}

#[test]
fn one_kind_per_step() {
    let d = with_steps(
        "[[steps]]\nid = \"a\"\ntitle = \"A\"\n[steps.value]\ntype = \"text\"\nlabel = \"L\"\n[steps.command]\nrun = \"true\"\n",
    );
    let k = only(&d, "step-kinds");
    assert!(k.message.contains("`value` and `command`"), "{k}");
}

#[test]
fn value_specs_fit_their_type() {
    let value = |spec: &str| {
        with_steps(&format!(
            "[[steps]]\nid = \"a\"\ntitle = \"A\"\n[steps.value]\nlabel = \"L\"\n{spec}\n"
        ))
    };
    assert_eq!(codes(&value("type = \"choice\"")), ["value-spec"]);
    assert_eq!(
        codes(&value("type = \"choice\"\nchoices = [\"a\", \"A\"]")),
        ["value-spec"]
    );
    assert_eq!(codes(&value("type = \"pattern\"")), ["value-spec"]);
    let d = value("type = \"pattern\"\npattern = '[a-'");
    let msg = only(&d, "invalid-pattern").message;
    assert!(msg.contains("unclosed character class"), "{msg}");
    assert_eq!(
        codes(&value("type = \"number\"\nmin = 5\nmax = 1")),
        ["value-spec"]
    );
    assert_eq!(
        codes(&value("type = \"number\"\nmin = nan")),
        ["value-spec"]
    );
    assert_eq!(
        codes(&value("type = \"text\"\nunit = \"GiB\"\nchoices = [\"x\"]")),
        ["value-spec", "value-spec"]
    );
    assert_eq!(
        codes(&value(
            "type = \"number\"\nmin = 0\nmax = 10\nunit = \"GiB\""
        )),
        Vec::<&str>::new()
    );
    assert_eq!(
        codes(&value("type = \"pattern\"\npattern = 'CHG[0-9]{6}'")),
        Vec::<&str>::new()
    );
}

#[test]
fn roles_must_exist() {
    let d = with_steps("[[steps]]\nid = \"a\"\ntitle = \"A\"\nrole = \"oq\"\nsignoff = \"boss\"\n");
    let r: Vec<_> = d.iter().filter(|d| d.code == "unknown-role").collect();
    assert_eq!(r.len(), 2, "{d:#?}");
    assert!(
        r[0].hint
            .as_deref()
            .unwrap_or_default()
            .contains("did you mean `op`?")
    );
}

#[test]
fn controls_are_annex_a_2022() {
    let text = format!("{DOC_CONTROL}{TWO}{ESC}")
        .replace("[\"A.8.13\"]", "[\"A.8.35\", \"8.13\", \"A.12.3\"]");
    let d = run(&text);
    assert_eq!(
        codes(&d),
        ["unknown-control", "control-format", "unknown-control"],
        "{d:#?}"
    );
    assert!(d[1].hint.as_deref().unwrap_or_default().contains("A.8.13"));
    let d = run(&format!("{DOC_CONTROL}{TWO}{ESC}").replace("[\"A.8.13\"]", "[]"));
    assert_eq!(codes(&d), ["no-controls"]);
}

#[test]
fn targets_must_exist_and_stay_in_their_list() {
    let d = with_steps(
        "[[steps]]\nid = \"a\"\ntitle = \"A\"\nnext = \"bb\"\n[[steps]]\nid = \"b\"\ntitle = \"B\"\n",
    );
    let t = only(&d, "unknown-target");
    assert_eq!((t.line, t.column), (19, 8));
    assert!(
        t.hint
            .as_deref()
            .unwrap_or_default()
            .contains("did you mean `b`?")
    );
    let d = with_steps("[[steps]]\nid = \"a\"\ntitle = \"A\"\nnext = \"call\"\n");
    assert!(only(&d, "cross-flow").message.contains("branch `esc`"));
    let d = with_steps("[[steps]]\nid = \"a\"\ntitle = \"A\"\nnext = \"retry\"\n");
    assert_eq!(codes(&d), ["branch-only-target"]);
    let text = format!("{HEAD}{TWO}{ESC}next = \"a\"\n");
    assert_eq!(codes(&run(&text)), ["cross-flow"]);
}

#[test]
fn escalation_references_are_checked() {
    let d = run(&format!("{HEAD}{TWO}{ESC}").replace(
        "default_escalation = \"esc\"",
        "default_escalation = \"ecs\"",
    ));
    assert!(codes(&d).contains(&"unknown-branch"), "{d:#?}");
    assert!(codes(&d).contains(&"unused-branch"), "{d:#?}");
    let d = run(&format!("{HEAD}{TWO}{ESC}on_fail = \"esc\"\n"));
    assert_eq!(codes(&d), ["branch-on-fail"]);
}

#[test]
fn failures_need_a_path() {
    let head = HEAD.replace("default_escalation = \"esc\"\n", "");
    let steps = "[[steps]]\nid = \"a\"\ntitle = \"A\"\ncritical = true\n[[steps]]\nid = \"b\"\ntitle = \"B\"\n[steps.command]\nrun = \"true\"\n[[steps]]\nid = \"c\"\ntitle = \"C\"\n[steps.decision]\nquestion = \"Q?\"\nyes = \"end\"\nno = \"fail\"\n";
    let d = run(&format!("{head}{steps}"));
    assert_eq!(codes(&d), ["no-failure-path"; 3], "{d:#?}");
    // on_fail on each step fixes it; the branch is then used.
    let fixed = steps.replace("title = \"", "on_fail = \"esc\"\ntitle = \"");
    assert_eq!(run(&format!("{head}{fixed}{ESC}")), vec![]);
}

#[test]
fn unreachable_steps_are_found_in_main_and_branches() {
    let d = with_steps(
        "[[steps]]\nid = \"a\"\ntitle = \"A\"\nnext = \"end\"\n[[steps]]\nid = \"b\"\ntitle = \"B\"\n",
    );
    let u = only(&d, "unreachable");
    assert!(u.message.contains("`b`"), "{u}");
    assert!(
        u.hint
            .as_deref()
            .unwrap_or_default()
            .contains("(`a`) goes elsewhere")
    );
    let text = format!(
        "{HEAD}{TWO}{ESC}next = \"end\"\n[[branches.steps]]\nid = \"later\"\ntitle = \"L\"\n"
    );
    let u = only(&run(&text), "unreachable");
    assert!(u.message.contains("`later`"), "{u}");
}

#[test]
fn decision_answers_are_edges_and_skip_fallthrough_is_not() {
    let steps = "[[steps]]\nid = \"q\"\ntitle = \"Q\"\n[steps.decision]\nquestion = \"?\"\nyes = \"c\"\nno = \"end\"\n[[steps]]\nid = \"b\"\ntitle = \"B\"\n[[steps]]\nid = \"c\"\ntitle = \"C\"\n";
    let d = with_steps(steps);
    assert!(only(&d, "unreachable").message.contains("`b`"));
}

#[test]
fn loops_without_exit_are_reported_once() {
    let steps = "[[steps]]\nid = \"a\"\ntitle = \"A\"\n[[steps]]\nid = \"b\"\ntitle = \"B\"\n[[steps]]\nid = \"c\"\ntitle = \"C\"\nnext = \"b\"\n";
    let d = with_steps(steps);
    let l = only(&d, "no-exit");
    assert!(l.message.contains("`b` → `c` → `b`"), "{l}");
    // A decision with one way out is a fine loop.
    let steps = "[[steps]]\nid = \"a\"\ntitle = \"A\"\n[[steps]]\nid = \"b\"\ntitle = \"B\"\n[steps.decision]\nquestion = \"Again?\"\nyes = \"a\"\nno = \"end\"\n";
    assert_eq!(with_steps(steps), vec![]);
    // A self-loop decision.
    let steps = "[[steps]]\nid = \"a\"\ntitle = \"A\"\n[steps.decision]\nquestion = \"?\"\nyes = \"a\"\nno = \"a\"\n";
    assert!(
        only(&with_steps(steps), "no-exit")
            .message
            .contains("`a` → `a`")
    );
    // A loop inside a branch.
    let text = format!("{HEAD}{TWO}{ESC}next = \"call\"\n");
    let l = only(&run(&text), "no-exit");
    assert!(l.message.contains("branch `esc`"), "{l}");
}

#[test]
fn empty_lists_are_errors() {
    let text = format!(
        "{}[[branches]]\nid = \"esc\"\ntitle = \"E\"\nthen = \"retry\"\nsteps = []\n",
        HEAD.replace("[[roles]]", "steps = []\n[[roles]]")
    );
    let d = run(&text);
    assert_eq!(codes(&d), ["empty-steps", "empty-steps"], "{d:#?}");
}

#[test]
fn report_counts_and_renders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = format!("{DOC_CONTROL}{TWO}{ESC}");
    std::fs::write(dir.path().join("a.toml"), &good).expect("write");
    std::fs::write(
        dir.path().join("b.toml"),
        good.replace("2026-01-05", "2024-01-05"),
    )
    .expect("write");
    std::fs::write(dir.path().join("c.toml"), "id = [").expect("write");
    let report = lint_paths(&[dir.path().to_path_buf()], today(), None).expect("report");
    assert_eq!(report.files, 3);
    assert_eq!(
        codes(&report.diagnostics),
        ["duplicate-procedure", "review-overdue", "syntax"]
    );
    assert_eq!((report.errors(), report.warnings()), (2, 1));
    let text = report.render_text();
    assert!(
        text.ends_with("checked 3 files: 2 errors, 1 warning\n"),
        "{text}"
    );
    assert!(
        text.contains("b.toml:1:6: error[duplicate-procedure]"),
        "{text}"
    );
    let json = serde_json::to_value(report.to_json()).expect("JSON");
    assert_eq!(json["errors"], 2);
    assert_eq!(json["diagnostics"][2]["code"], "syntax");

    let missing = lint_paths(&[dir.path().join("nope.toml")], today(), None);
    assert!(matches!(missing, Err(Error::Input(_))));
    let single = lint_paths(
        &[dir.path().join("a.toml"), dir.path().join("a.toml")],
        today(),
        None,
    )
    .expect("report");
    assert_eq!((single.files, single.diagnostics.len()), (1, 0));
}

#[test]
fn suggestions_are_for_typos_only() {
    assert_eq!(suggest("nxt", ["next", "note"]), Some("next"));
    assert_eq!(suggest("on-fail", ["on_fail", "next"]), Some("on_fail"));
    assert_eq!(suggest("zzzz", ["next", "note"]), None);
    assert_eq!(suggest("a", ["b"]), None);
}

#[test]
fn every_check_has_a_unique_code() {
    let mut seen = std::collections::HashSet::new();
    for c in CHECKS {
        assert!(seen.insert(c.code), "duplicate code {}", c.code);
    }
}

#[test]
fn docs_list_every_check() {
    let doc = include_str!("../../../docs/procedure-format.md");
    for c in CHECKS {
        assert!(
            doc.contains(&format!("| `{}` | {} |", c.code, c.severity)),
            "docs/procedure-format.md does not list `{}` as {}",
            c.code,
            c.severity
        );
    }
}

#[test]
fn docs_complete_example_lints_clean() {
    let doc = include_str!("../../../docs/procedure-format.md");
    let example = doc
        .split("## A complete example")
        .nth(1)
        .and_then(|rest| rest.split("```toml\n").nth(1))
        .and_then(|block| block.split("```").next())
        .expect("the docs have a complete TOML example");
    let loaded = parse::parse(Source::from_text("example.toml", example, Format::Toml))
        .unwrap_or_else(|d| panic!("docs example does not parse: {d}"));
    let today = NaiveDate::from_ymd_opt(2026, 4, 1).expect("date");
    let d = lint(&loaded, today);
    assert!(d.is_empty(), "docs example: {d:#?}");
    let kinds: std::collections::HashSet<&str> = loaded
        .procedure
        .all_steps()
        .map(|s| s.kind().name())
        .collect();
    assert_eq!(kinds.len(), 4, "every step kind: {kinds:?}");
}

/// Cases per property: `default`, or `RUNSHEET_FUZZ_CASES` for long runs (docs/reliability.md).
fn fuzz_cases(default: u32) -> u32 {
    std::env::var("RUNSHEET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fuzz_cases(48)))]

    /// Any edit of a valid procedure parses or fails with a diagnostic, lints and renders, without panicking.
    #[test]
    fn lint_never_panics(cut in 0usize..900, len in 0usize..40, insert in "[\\[\\]{}\"=,\n a-z0-9.]{0,12}") {
        let base = format!("{HEAD}{TWO}{ESC}");
        let mut a = cut.min(base.len());
        while !base.is_char_boundary(a) { a -= 1; }
        let mut b = (a + len).min(base.len());
        while !base.is_char_boundary(b) { b -= 1; }
        let text = format!("{}{}{}", &base[..a], insert, &base[b..]);
        if let Ok(loaded) = parse::parse(Source::from_text("p.toml", text, Format::Toml)) {
            let _ = lint(&loaded, today());
            render_inert(&loaded)?;
        }
    }

    /// Hostile text in every free-text field: parse, lint and every renderer
    /// cope, and no output carries an escape byte or live HTML.
    #[test]
    fn hostile_text_parses_lints_and_renders_inert(
        title in hostile(),
        body in hostile(),
        note in hostile(),
        label in hostile(),
        choice in hostile(),
    ) {
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        let text = format!(
            "{HEAD}[[steps]]\nid = \"a\"\ntitle = {}\nbody = {}\nnote = {}\n\
             [[steps]]\nid = \"b\"\ntitle = \"B\"\nvalue = {{ type = \"choice\", label = {}, choices = [{}, \"ok\"] }}\n{ESC}",
            q(&title), q(&body), q(&note), q(&label), q(&choice)
        );
        let loaded = parse::parse(Source::from_text("p.toml", text, Format::Toml));
        if let Ok(loaded) = loaded {
            let _ = lint(&loaded, today());
            render_inert(&loaded)?;
        }
    }
}

/// Text an attacker or a careless paste could put in a procedure.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        any::<String>(),
        Just("\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[31m".to_string()),
        Just("<script>alert(1)</script><img src=x onerror=alert(1)>".to_string()),
        Just("=HYPERLINK(\"http://evil\")".to_string()),
        Just("\u{0}\u{9b}31m\u{202e}\r\n".to_string()),
        Just("`|*_[x](javascript:alert(1))".to_string()),
        "[a-z ]{0,5000}",
    ];
    proptest::collection::vec(piece, 1..4).prop_map(|v| v.concat())
}

/// Every renderer's output for a parsed procedure is free of raw escapes and live HTML.
fn render_inert(loaded: &parse::Loaded) -> Result<(), TestCaseError> {
    let p = &loaded.procedure;
    for (name, out) in [
        ("markdown", crate::procedure::render::markdown(p)),
        ("html", crate::procedure::render::html(p)),
        ("mermaid", crate::procedure::render::mermaid(p)),
    ] {
        prop_assert!(!out.contains('\u{1b}'), "{name} output has an ESC byte");
        prop_assert!(!out.contains('\u{9b}'), "{name} output has a CSI byte");
        if name == "html" {
            prop_assert!(!out.contains("<script"), "live script in html");
            prop_assert!(!out.contains("<img"), "live tag in html");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random flow graphs: lint terminates and never panics.
    #[test]
    fn random_flows_never_panic(targets in proptest::collection::vec((0usize..6, 0usize..8), 1..6)) {
        let words = ["s0", "s1", "s2", "end", "fail", "retry", "nowhere", "call"];
        let mut steps = String::new();
        for (i, (kind, t)) in targets.iter().enumerate() {
            steps.push_str(&format!("[[steps]]\nid = \"s{i}\"\ntitle = \"S\"\n"));
            match kind {
                0 | 1 => steps.push_str(&format!("next = \"{}\"\n", words[*t])),
                2 => steps.push_str(&format!("[steps.decision]\nquestion = \"?\"\nyes = \"{}\"\nno = \"{}\"\n", words[*t], words[(*t + 1) % 8])),
                _ => {}
            }
        }
        let _ = with_steps(&steps);
    }
}

#[test]
fn an_integer_value_needs_whole_bounds_and_takes_unit_min_and_max() {
    let d = with_steps(
        r#"[[steps]]
id = "duration"
title = "Duration"
value = { type = "integer", label = "Hours", unit = "hours", min = 1.5, max = 72 }
"#,
    );
    let e = only(&d, "value-spec");
    assert!(e.message.contains("must be a whole number"), "{e}");
    assert!(
        with_steps(
            r#"[[steps]]
id = "duration"
title = "Duration"
value = { type = "integer", label = "Hours", unit = "hours", min = 1, max = 72 }
"#
        )
        .is_empty()
    );
}
