//! Fits the ecosystem (issue "Fits the ecosystem"): environment variables,
//! bare invocation, pipes, folders and lint messages behave as people who
//! live in a terminal expect.

use std::path::Path;
use std::process::Command;

use crate::common::{bin, drill_run, isolated, repo, runsheet, stderr, stdout};

/// `runsheet` in `dir` with HOME (and so the default log and procedures
/// folder) inside it, none of the user's settings, and these variables.
fn runsheet_at(dir: &Path, vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin());
    isolated(&mut cmd)
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

/// A variable set but empty counts as unset, as for most tools: the default
/// log and the procedures folder of the working directory are used.
#[test]
fn an_empty_environment_variable_counts_as_unset() {
    let dir = tempfile::tempdir().unwrap();
    let out = runsheet_at(dir.path(), &[("RUNSHEET_DB", "")])
        .arg("runs")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let expected = dir.path().join(".local/share/runsheet/evidence.sqlite3");
    assert!(
        stderr(&out).contains(&format!(
            "evidence log {}: no evidence log exists here yet",
            expected.display()
        )),
        "{}",
        stderr(&out)
    );
    let out = runsheet_at(
        &repo(),
        &[("RUNSHEET_PROCEDURES", ""), ("RUNSHEET_OPERATOR", "")],
    )
    .arg("list")
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("backup-customer-data"),
        "{}",
        stdout(&out)
    );
}

/// A busy timeout that is not a number of milliseconds is an error naming
/// the variable, before anything is read or written; a number works.
#[test]
fn a_busy_timeout_that_is_not_a_number_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let out = runsheet(&db)
        .env("RUNSHEET_BUSY_TIMEOUT_MS", "abc")
        .arg("runs")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("RUNSHEET_BUSY_TIMEOUT_MS=abc is not a whole number of milliseconds"),
        "{}",
        stderr(&out)
    );
    let out = runsheet(&db)
        .env("RUNSHEET_BUSY_TIMEOUT_MS", "250")
        .arg("list")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// `runsheet` alone prints its help (and what it can do), not an error
/// about a missing subcommand.
#[test]
fn runsheet_alone_prints_the_help() {
    let dir = tempfile::tempdir().unwrap();
    let out = runsheet_at(dir.path(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let help = stderr(&out);
    assert!(
        help.contains("Usage: runsheet [OPTIONS] <COMMAND>") && help.contains("sign-off"),
        "{help}"
    );
}

/// `runs --limit N` shows the newest N; the count under the table is for a
/// terminal (on stderr): a pipe gets the header and one line per run.
#[test]
fn runs_has_a_limit_and_pipes_only_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    for _ in 0..3 {
        drill_run(&db);
    }
    let all = runsheet(&db).arg("runs").output().unwrap();
    assert_eq!(stdout(&all).lines().count(), 4, "{}", stdout(&all));
    assert_eq!(stderr(&all), "");
    let two = runsheet(&db)
        .args(["runs", "--limit", "2"])
        .output()
        .unwrap();
    let two_text = stdout(&two);
    let all_text = stdout(&all);
    let lines: Vec<&str> = two_text.lines().collect();
    assert_eq!(lines.len(), 3, "{two_text}");
    // The newest two, in the same order as without the limit.
    assert_eq!(lines, all_text.lines().take(3).collect::<Vec<_>>());
    assert_eq!(stderr(&two), "");
    // At a terminal the count follows the table, on stderr.
    let t = crate::tui_e2e::Term::spawn(&db, &["runs", "--limit", "2"]);
    t.wait_for("2 runs (--limit). `runsheet show <RUN ID>` shows one (a prefix is enough).");
    assert_eq!(t.exit_code(), 0);
    let zero = runsheet(&db)
        .args(["runs", "--limit", "0"])
        .output()
        .unwrap();
    assert_eq!(zero.status.code(), Some(2), "{}", stderr(&zero));
}

/// `--procedures restore-test` (meant as `--procedure`) is refused, naming
/// the option meant, and nothing is written; so is a file given as the
/// folder. `new` may name a folder it then creates.
#[test]
fn a_procedures_option_that_is_no_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("bundle");
    let out = runsheet_at(dir.path(), &[])
        .args(["--procedures", "restore-test", "export", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("the procedures folder restore-test does not exist")
            && stderr(&out).contains("the option is --procedure ID"),
        "{}",
        stderr(&out)
    );
    assert!(!out_dir.exists());
    let file = repo().join("procedures/restore-test.toml");
    let out = runsheet_at(dir.path(), &[])
        .arg("--procedures")
        .arg(&file)
        .arg("list")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not a folder"), "{}", stderr(&out));
    let fresh = dir.path().join("new-folder");
    let out = runsheet_at(dir.path(), &[])
        .arg("--procedures")
        .arg(&fresh)
        .args(["new", "first-procedure"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(fresh.join("first-procedure.toml").is_file());
}

/// Outside a folder with procedures, `list` says there are none and how to
/// make one (no OS error), and `status` names the folder it looked in.
#[test]
fn list_and_status_outside_a_procedures_folder_say_where_they_looked() {
    let dir = tempfile::tempdir().unwrap();
    let out = runsheet_at(dir.path(), &[]).arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let folder = dir.path().join(".config/runsheet/procedures");
    assert!(
        stdout(&out).contains(&format!(
            "No procedures in {} (no such folder yet). Create one with `runsheet new <id>`",
            folder.display()
        )),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    let db = dir.path().join("log.sqlite3");
    let out = runsheet_at(dir.path(), &[])
        .arg("--db")
        .arg(&db)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "no procedures in {} (no such folder)",
            folder.display()
        )),
        "{}",
        stderr(&out)
    );
}

/// A JSON procedure saved with a byte-order mark reads as without one (TOML
/// accepts one too): the same diagnostics at the same places.
#[test]
fn a_json_procedure_with_a_byte_order_mark_lints_as_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let plain = repo().join("tests/fixtures/lint/unreachable-json.json");
    let text = std::fs::read_to_string(&plain).unwrap();
    let marked = dir.path().join("unreachable-json.json");
    std::fs::write(&marked, format!("\u{feff}{text}")).unwrap();
    let lint = |p: &Path| {
        let out = Command::new(bin()).arg("lint").arg(p).output().unwrap();
        let shown = stdout(&out).replace(&p.display().to_string(), "FILE");
        (out.status.code(), shown)
    };
    let (code, without) = lint(&plain);
    let (marked_code, with) = lint(&marked);
    assert_eq!(code, marked_code);
    assert_eq!(without, with);
    assert!(with.contains("FILE:"), "{with}");
    assert!(!with.contains("FILE:1:1:"), "{with}");
}

/// A file converted from another tool, with unknown and missing keys at
/// several levels and a value of the wrong kind: one `lint` names every
/// unknown and missing key at its line and column, and the wrong kind with
/// what the key expects — not one problem per run.
#[test]
fn lint_names_every_unknown_and_missing_key_of_a_file_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("converted.toml");
    std::fs::write(
        &file,
        r#"id = "converted"
version = "1"
owner = "IT"
purpose = "p"
cadence = "daily"
controls = ["A.5.37"]
colour = "red"

[[steps]]
id = "a"
title = "A"
nxt = "b"

[[steps]]
id = "b"
command = "echo hi"

[[steps]]
id = "c"
title = "C"
[steps.value]
kind = "text"
"#,
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["--json", "lint"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let found: Vec<String> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{}:{} {} {}",
                d["line"],
                d["column"],
                d["code"],
                d["message"].as_str().unwrap()
            )
        })
        .collect();
    let has = |want: &str| found.iter().any(|f| f.contains(want));
    for want in [
        "7:1 \"unknown-key\" unknown key `colour`",
        "12:1 \"unknown-key\" unknown key `nxt` in steps[0]",
        "22:1 \"unknown-key\" unknown key `kind` in steps[2].value",
        "missing required key `title` at the top level",
        "missing required key `title` in steps[1]",
        "missing required key `type` in steps[2].value",
        "missing required key `label` in steps[2].value",
    ] {
        assert!(has(want), "{want} not in {found:#?}");
    }
    // The string where a table is meant says what `command` expects (not
    // a table missing `run`), in the same run.
    assert!(
        has("16:11 \"wrong-type\" `steps[1].command` is a table, not a string"),
        "{found:#?}"
    );
    assert!(!has("missing required key `run`"), "{found:#?}");
}

/// No locked dependency built for this host needs a newer Rust than
/// Cargo.toml's `rust-version` says (cargo metadata reports each
/// package's; offline, from the sources this build downloaded).
#[test]
fn no_locked_dependency_needs_a_newer_rust_than_rust_version_says() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let info = Command::new(rustc).arg("-vV").output().unwrap();
    let host = stdout(&info)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc -vV names the host");
    let out = Command::new(cargo)
        .args(["metadata", "--locked", "--offline", "--format-version", "1"])
        .args(["--filter-platform", &host])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // major.minor.patch, a missing part 0 (`1.89` is `1.89.0`).
    let version = |v: &str| -> [u64; 3] {
        let mut parts = v.split('.').map(|p| p.parse().unwrap_or(0));
        [0; 3].map(|_| parts.next().unwrap_or(0))
    };
    let packages = meta["packages"].as_array().unwrap();
    let ours = packages
        .iter()
        .find(|p| p["name"] == "runsheet")
        .and_then(|p| p["rust_version"].as_str())
        .expect("Cargo.toml says rust-version");
    let newer: Vec<String> = packages
        .iter()
        .filter_map(|p| {
            let needs = p["rust_version"].as_str()?;
            (version(needs) > version(ours))
                .then(|| format!("{} {} needs {needs}", p["name"], p["version"]))
        })
        .collect();
    assert!(newer.is_empty(), "rust-version is {ours}, but: {newer:?}");
    assert!(packages.len() > 50, "only {} packages", packages.len());
}

/// A configuration file at `dir`'s platform place (HOME is `dir`).
fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join(".config/runsheet/config.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// The display name set once in the configuration file is recorded with
/// every run; RUNSHEET_OPERATOR wins over it, and --operator over both.
#[test]
fn a_display_name_set_once_in_the_config_file_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "operator = \"Alice Example\"\n");
    let db = dir.path().join("log.sqlite3");
    let run = |vars: &[(&str, &str)], extra: &[&str]| {
        let out = crate::common::run_with_input(
            runsheet_at(dir.path(), vars)
                .arg("--db")
                .arg(&db)
                .arg("--procedures")
                .arg(repo().join("procedures"))
                .args(["run", "--plain", "--new"])
                .args(extra)
                .arg(crate::common::drill()),
            "\nq\n",
        );
        assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    };
    run(&[], &[]);
    run(&[("RUNSHEET_OPERATOR", "Bob Env")], &[]);
    run(
        &[("RUNSHEET_OPERATOR", "Bob Env")],
        &["--operator", "Carol Flag"],
    );
    let names: Vec<String> = crate::common::payloads(&db, "run-started")
        .iter()
        .map(|p| p["operator_name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, ["Alice Example", "Bob Env", "Carol Flag"]);
}

/// `runsheet config` prints each setting's value and where it came from: a
/// flag, its variable, the file (with its line), or the default.
#[test]
fn config_says_where_each_setting_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(
        dir.path(),
        "# team settings\noperator = \"Alice Example\"\ndb = \"logs/evidence.sqlite3\"\nbusy_timeout_ms = 250\n",
    );
    let out = runsheet_at(dir.path(), &[("RUNSHEET_KEY_FILE", "/keys/log.key")])
        .arg("--procedures")
        .arg(repo().join("procedures"))
        .arg("config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_default()
            .to_string()
    };
    let f = file.display();
    assert!(
        line("operator").contains("Alice Example")
            && line("operator").ends_with(&format!("(config {f}:2)")),
        "{text}"
    );
    let db = file.parent().unwrap().join("logs/evidence.sqlite3");
    assert!(
        line("db").contains(&db.display().to_string())
            && line("db").ends_with(&format!("(config {f}:3)")),
        "{text}"
    );
    assert!(
        line("procedures").ends_with("(flag --procedures)"),
        "{text}"
    );
    assert!(
        line("key_file").contains("/keys/log.key")
            && line("key_file").ends_with("(environment RUNSHEET_KEY_FILE)"),
        "{text}"
    );
    assert!(
        line("busy_timeout_ms").contains("250")
            && line("busy_timeout_ms").ends_with(&format!("(config {f}:4)")),
        "{text}"
    );
    assert!(line("allowed_signers").contains("(default: "), "{text}");
    // The variable wins over the file.
    let out = runsheet_at(dir.path(), &[("RUNSHEET_BUSY_TIMEOUT_MS", "99")])
        .args(["--json", "config"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let busy = v["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["setting"] == "busy_timeout_ms")
        .unwrap();
    assert_eq!(busy["value"], "99");
    assert_eq!(busy["origin"], "environment RUNSHEET_BUSY_TIMEOUT_MS");
}

/// An unknown key or a wrong type in the configuration file is an error at
/// its line and column, before anything runs; a named file must exist.
#[test]
fn a_bad_config_file_is_an_error_at_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(dir.path(), "operator = \"A\"\ndatabase = \"x.sqlite3\"\n");
    let out = runsheet_at(dir.path(), &[]).arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains(&format!("{}:2:1: unknown field `database`", file.display())),
        "{}",
        stderr(&out)
    );
    write_config(dir.path(), "busy_timeout_ms = \"soon\"\n");
    let out = runsheet_at(dir.path(), &[]).arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("config.toml:1:19: "),
        "{}",
        stderr(&out)
    );
    let out = runsheet_at(
        dir.path(),
        &[("RUNSHEET_CONFIG", "/nonexistent/runsheet.toml")],
    )
    .arg("list")
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read the configuration file /nonexistent/runsheet.toml"),
        "{}",
        stderr(&out)
    );
}

/// A command's help lists its own options, then the global ones under their
/// heading, without those that mean nothing to it, then its examples.
#[test]
fn help_shows_global_options_apart_only_where_they_mean_something_then_examples() {
    let help = |args: &[&str]| {
        let out = Command::new(bin())
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        stdout(&out)
    };
    let lint = help(&["lint"]);
    let global = lint.find("Global options:").expect("a global heading");
    let examples = lint.find("Examples:").expect("examples");
    assert!(
        lint.find("--strict").unwrap() < global && global < examples,
        "{lint}"
    );
    // lint reads the log's approvals (read-only) to check `approved` claims.
    assert!(lint.contains("--db"), "{lint}");
    let render = help(&["render"]);
    assert!(
        !render.contains("--db") && !render.contains("--key-file"),
        "{render}"
    );
    assert!(
        lint.contains("  runsheet lint procedures/backup-customer-data.toml --strict"),
        "{lint}"
    );
    let run = help(&["run"]);
    assert!(!run.contains("--json") && run.contains("--db"), "{run}");
    let runs = help(&["runs"]);
    assert!(
        runs.contains("--json") && runs.contains("--limit"),
        "{runs}"
    );
    let top = help(&[]);
    assert!(
        top.contains("`runsheet <COMMAND> --help` has each command's examples"),
        "{top}"
    );
}

/// `--json` on a command that prints no data is refused, naming the
/// commands that have JSON output, and nothing runs.
#[test]
fn json_is_refused_where_there_is_no_data() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("backup.md");
    let out = Command::new(bin())
        .args(["--json", "render", "backup-customer-data", "--out"])
        .arg(&out_file)
        .current_dir(repo())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`runsheet render` prints no data to give as JSON; leave out --json"),
        "{}",
        stderr(&out)
    );
    assert!(!out_file.exists());
    // The list it gives is complete: every command with a committed
    // --json schema (docs/json/) is named.
    let named = stderr(&out);
    let named = &named[named.find("(the commands with JSON output: ").unwrap()..];
    for schema in std::fs::read_dir(repo().join("docs/json")).unwrap() {
        let file = schema.unwrap().file_name().into_string().unwrap();
        let Some(name) = file.strip_suffix(".schema.json") else {
            continue;
        };
        // Not a command's output: any failure's, and the bundle's evidence.json.
        if name == "error" || name == "evidence" {
            continue;
        }
        let words = match name {
            "verify-bundle" => name.to_string(),
            _ => name.replace('-', " "),
        };
        assert!(
            named.contains(&format!(" {words},")) || named.contains(&format!(" {words})")),
            "{words} is not named: {named}"
        );
    }
}

/// `man --out DIR` writes runsheet.1 and a page per command, each with
/// ENVIRONMENT, FILES, EXIT STATUS and EXAMPLES; every page runsheet(1)
/// refers to exists, and man renders them.
#[test]
fn man_writes_a_page_per_command_with_its_examples() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .arg("man")
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for page in [
        "runsheet.1",
        "runsheet-run.1",
        "runsheet-sign-off.1",
        "runsheet-witness-init.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap_or_default();
        for section in [
            ".SH ENVIRONMENT",
            ".SH FILES",
            ".SH \"EXIT STATUS\"",
            ".SH EXAMPLES",
        ] {
            assert!(text.contains(section), "{page} has no {section}");
        }
    }
    let root = std::fs::read_to_string(dir.path().join("runsheet.1")).unwrap();
    let see_also = root.split(".SH \"SEE ALSO\"").nth(1).expect("SEE ALSO");
    for name in see_also
        .split(", ")
        .filter_map(|w| w.trim().split("(1)").next())
    {
        if name.starts_with("runsheet-") {
            assert!(
                dir.path().join(format!("{name}.1")).is_file(),
                "{name}(1) is referred to but not written"
            );
        }
    }
    let shown = Command::new("man")
        .arg("-l")
        .arg(dir.path().join("runsheet-run.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("man (man-db) is installed");
    let text = stdout(&shown);
    assert!(
        text.contains("EXAMPLES") && text.contains("runsheet run backup-customer-data"),
        "{text}"
    );
    assert!(
        text.contains("EXIT STATUS") && text.contains("RUNSHEET_DB"),
        "{text}"
    );
}

/// A filter that cannot match anything is an error, not an empty answer:
/// a control that is no 2022 Annex A control (or is not written as one),
/// a procedure id known neither to the folder nor to the log (with the
/// nearest one). `export` with one writes no bundle. A real control or
/// procedure with no runs says so and exits 0; a control's case does not
/// matter.
#[test]
fn a_filter_that_cannot_match_anything_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    drill_run(&db);
    for (args, says) in [
        (
            &["--control", "A.99.99"][..],
            "`A.99.99` is not an ISO/IEC 27001:2022 Annex A control",
        ),
        (
            &["--control", "banana"][..],
            "`banana` is not written as an Annex A control",
        ),
        (
            &["--control", "A.9.2"][..],
            "2013 numbers, A.9–A.18, must be mapped",
        ),
        (
            &["--procedure", "backup-customer-dat"][..],
            "no procedure `backup-customer-dat` in ",
        ),
    ] {
        let out = runsheet(&db).arg("runs").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stdout(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    let near = runsheet(&db)
        .args(["runs", "--procedure", "backup-customer-dat"])
        .output()
        .unwrap();
    assert!(
        stderr(&near).contains("(did you mean `backup-customer-data`?); the known ones: "),
        "{}",
        stderr(&near)
    );
    let bundle = dir.path().join("bundle");
    let out = runsheet(&db)
        .args(["export", "--control", "banana", "--out"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(!bundle.exists());
    let none = runsheet(&db)
        .args(["runs", "--procedure", "restore-test"])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(0), "{}", stderr(&none));
    assert_eq!(stdout(&none), "No runs match.\n");
    let drill = runsheet(&db)
        .args(["runs", "--control", "a.5.37"])
        .output()
        .unwrap();
    assert_eq!(drill.status.code(), Some(0), "{}", stderr(&drill));
    assert_eq!(stdout(&drill).lines().count(), 2, "{}", stdout(&drill));
}

/// Under `--json` an error is one JSON object on stderr, with the message
/// and the exit code, for the command's own errors and for usage errors.
#[test]
fn errors_under_json_are_json_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.sqlite3");
    for (args, code) in [
        (vec!["--json", "--db", missing.to_str().unwrap(), "runs"], 4),
        (vec!["--json", "runs", "--bogus"], 2),
        (vec!["--json", "run", "backup-customer-data"], 2),
    ] {
        let out = Command::new(bin())
            .args(&args)
            .current_dir(repo())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        let v: serde_json::Value =
            serde_json::from_str(&err).unwrap_or_else(|e| panic!("{args:?}: {e}: {err}"));
        assert_eq!(v["code"], code, "{v}");
        assert!(v["error"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
}

/// A procedure file that is not UTF-8 is refused at its first bad byte:
/// line, column and byte offset.
#[test]
fn a_file_that_is_not_utf8_is_refused_at_its_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latin1.toml");
    std::fs::write(
        &file,
        b"id = \"latin1\"\ntitle = \"Sauvegarde quotidienne \xe9t\xe9\"\n",
    )
    .unwrap();
    let out = Command::new(bin()).arg("lint").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "{}:2:33: error[read]: the file is not UTF-8 text: byte 0xE9 at byte offset 46 is not UTF-8",
            file.display()
        )),
        "{}",
        stdout(&out)
    );
}

/// At a terminal narrower than the `runs` table, the table fits: each
/// run's shortest unique id, the procedure and operator cut with `…`;
/// piped, every line is whole.
#[test]
fn the_runs_table_fits_the_terminal_and_is_whole_in_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    crate::common::generate_log(&db, &[]);
    let piped = stdout(
        &runsheet(&db)
            .args(["runs", "--limit", "3"])
            .output()
            .unwrap(),
    );
    let table: Vec<&str> = piped.lines().filter(|l| !l.starts_with("NOTE")).collect();
    assert!(table.iter().all(|l| l.chars().count() > 100), "{piped}");
    let id = table[1].split_whitespace().next().unwrap().to_string();
    assert_eq!(id.len(), 36, "{piped}");
    let t = crate::tui_e2e::Term::spawn(&db, &["runs", "--limit", "3"]);
    t.wait_for("3 runs (--limit).");
    let screen = t.screen();
    assert!(screen.contains(&format!("{}  ", &id[..8])), "{screen}");
    assert!(!screen.contains(&id), "{screen}");
    assert!(screen.contains('…'), "{screen}");
    assert_eq!(t.exit_code(), 0);
}

/// `--color always` colours tables and clap's own help even into a pipe;
/// `never`, `--no-color` and NO_COLOR keep them plain; auto into a pipe is
/// plain.
#[test]
fn color_reaches_tables_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    drill_run(&db);
    let coloured = |args: &[&str], no_color: bool| {
        let mut cmd = runsheet(&db);
        if !no_color {
            cmd.env_remove("NO_COLOR");
        }
        let out = cmd.args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        out.stdout.contains(&0x1b)
    };
    assert!(coloured(&["--color", "always", "runs"], false));
    assert!(coloured(&["--color", "always", "runs", "--help"], false));
    assert!(coloured(&["runs", "--color=always", "--help"], false));
    assert!(!coloured(&["runs"], false));
    assert!(!coloured(&["runs", "--help"], false));
    assert!(!coloured(&["--color", "never", "runs", "--help"], false));
    assert!(!coloured(&["--no-color", "--help"], false));
    // NO_COLOR (the helper sets it) keeps auto plain; --color always wins.
    assert!(!coloured(&["runs", "--help"], true));
    assert!(coloured(&["--color", "always", "runs"], true));
}

/// `-q` leaves only data: export writes its bundle and says nothing;
/// sign-off-text prints the text to sign and no how-to.
#[test]
fn quiet_leaves_only_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    drill_run(&db);
    let bundle = dir.path().join("bundle");
    let out = runsheet(&db)
        .args(["-q", "export", "--out"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!((stdout(&out).as_str(), stderr(&out).as_str()), ("", ""));
    assert!(bundle.join("manifest.json").is_file());
    let id = crate::sign_off::at_sign_off(&db);
    let loud = runsheet(&db).args(["sign-off-text", &id]).output().unwrap();
    let quiet = runsheet(&db)
        .args(["--quiet", "sign-off-text", &id])
        .output()
        .unwrap();
    assert_eq!(quiet.stdout, loud.stdout);
    assert!(!stderr(&loud).is_empty());
    assert_eq!(stderr(&quiet), "");
}

/// What the shell gets for `words` (the command line so far, the last one
/// being completed) from `runsheet` in `dir`, as bash asks: one candidate
/// per line.
fn complete(dir: &Path, vars: &[(&str, &str)], words: &[&str]) -> Vec<String> {
    let mut cmd = runsheet_at(dir, vars);
    cmd.env("COMPLETE", "bash")
        .env("_CLAP_IFS", "\n")
        .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
        .arg("--")
        .args(words);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).lines().map(str::to_string).collect()
}

/// [`complete`]'s candidates that are not options (an empty word is offered
/// the options too).
fn values(dir: &Path, vars: &[(&str, &str)], words: &[&str]) -> Vec<String> {
    let mut v = complete(dir, vars, words);
    v.retain(|c| !c.starts_with('-'));
    v
}

/// Completion knows the procedures and the runs: procedure ids for `run` and
/// `render` (from the folder the command line would use), open runs for
/// `resume`, every run for `show`, the values of `--status` and `--format`,
/// and every command but no hidden one; reading the log changes no byte.
#[test]
fn completion_offers_procedure_ids_runs_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    crate::common::generate_log(&db, &[]);
    let procs = repo().join("procedures");
    let db_s = db.to_str().unwrap();
    let procs_s = procs.to_str().unwrap();
    let vars = [("RUNSHEET_DB", db_s), ("RUNSHEET_PROCEDURES", procs_s)];

    let ids = values(dir.path(), &vars, &["runsheet", "run", "b"]);
    assert_eq!(ids, ["backup-customer-data"], "{ids:?}");
    let all = values(dir.path(), &vars, &["runsheet", "render", ""]);
    assert!(all.contains(&"onboarding-new-hire".to_string()), "{all:?}");
    assert!(all.len() >= 10, "{all:?}");
    // The command line's own --procedures wins over the variable.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::copy(procs.join("restore-test.toml"), other.join("r.toml")).unwrap();
    let only = values(
        dir.path(),
        &vars,
        &[
            "runsheet",
            "--procedures",
            other.to_str().unwrap(),
            "run",
            "",
        ],
    );
    assert_eq!(only, ["restore-test"], "{only:?}");

    let before = std::fs::read(&db).unwrap();
    let every = values(dir.path(), &vars, &["runsheet", "show", ""]);
    let open = values(dir.path(), &vars, &["runsheet", "resume", ""]);
    assert!(
        !every.is_empty() && every.iter().all(|id| id.len() == 36),
        "{every:?}"
    );
    assert!(
        !open.is_empty() && open.len() < every.len(),
        "{open:?} of {every:?}"
    );
    let listed = stdout(
        &runsheet(&db)
            .args(["runs", "--status", "open", "--limit", "50"])
            .output()
            .unwrap(),
    );
    for id in &open {
        assert!(listed.contains(id.as_str()), "{id} is not open:\n{listed}");
    }
    let prefix = &every[0][..6];
    let narrowed = values(dir.path(), &vars, &["runsheet", "show", prefix]);
    assert!(
        narrowed.iter().all(|id| id.starts_with(prefix)),
        "{narrowed:?}"
    );
    assert!(narrowed.contains(&every[0]), "{narrowed:?}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "completion changed the log"
    );
    let side = ["-wal", "-shm"].map(|s| dir.path().join(format!("log.sqlite3{s}")));
    assert!(
        side.iter().all(|p| !p.exists()),
        "completion left side files"
    );

    // No log, or a damaged one: nothing offered, no error, nothing created.
    let missing = dir.path().join("none.sqlite3");
    let none = values(
        dir.path(),
        &[("RUNSHEET_DB", missing.to_str().unwrap())],
        &["runsheet", "show", ""],
    );
    assert!(none.is_empty(), "{none:?}");
    assert!(!missing.exists());

    let status = values(dir.path(), &vars, &["runsheet", "runs", "--status", ""]);
    assert_eq!(
        status,
        ["open", "completed", "escalated", "failed", "aborted"]
    );
    let formats = values(
        dir.path(),
        &vars,
        &["runsheet", "render", "x", "--format", ""],
    );
    assert!(formats.contains(&"html".to_string()), "{formats:?}");

    let commands = complete(dir.path(), &vars, &["runsheet", ""]);
    let visible: Vec<String> = runsheet::cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect();
    for c in &visible {
        assert!(commands.contains(c), "{c} not offered: {commands:?}");
    }
    let hidden: Vec<&String> = commands
        .iter()
        .filter(|c| !c.starts_with('-') && !visible.contains(c) && c.as_str() != "help")
        .collect();
    assert!(
        hidden.is_empty(),
        "offered but not a visible command: {hidden:?}"
    );
}

/// The registration script works in a real bash: sourced, its function
/// fills COMPREPLY from the binary.
#[test]
fn the_bash_completion_script_completes_in_bash() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("runsheet.bash");
    let out = runsheet_at(dir.path(), &[])
        .args(["completions", "bash"])
        .output()
        .unwrap();
    std::fs::write(&script, &out.stdout).unwrap();
    let bin_dir = bin().parent().unwrap().to_path_buf();
    let procs = repo().join("procedures");
    let test = format!(
        "source '{}'; COMP_WORDS=(runsheet run backup-c); COMP_CWORD=2; COMP_TYPE=9; _clap_complete_runsheet runsheet backup-c runsheet; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let mut bash = Command::new("bash");
    isolated(&mut bash)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("RUNSHEET_PROCEDURES", &procs)
        .args(["--norc", "-c", &test]);
    let got = bash.output().unwrap();
    assert!(got.status.success(), "{}", stderr(&got));
    assert_eq!(
        stdout(&got).trim(),
        "backup-customer-data",
        "{}",
        stderr(&got)
    );
}

/// At a 100-column terminal the `list` and `status` tables fit: each row
/// is one screen line from its id to its last column (a row wider than the
/// terminal would wrap onto the next line); piped, rows are whole.
#[test]
fn list_and_status_tables_fit_the_terminal_and_are_whole_in_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    crate::common::generate_log(&db, &[]);
    let piped = stdout(&runsheet(&db).arg("list").output().unwrap());
    assert!(piped.lines().any(|l| l.chars().count() > 100), "{piped}");
    let row = |screen: &str, id: &str| {
        screen
            .lines()
            .find(|l| l.starts_with(id) && !l.contains(" — "))
            .unwrap_or_else(|| panic!("no row {id}:\n{screen}"))
            .to_string()
    };
    let t = crate::tui_e2e::Term::spawn(&db, &["list"]);
    t.wait_for("supplier-access-review");
    let screen = t.screen();
    assert_eq!(t.exit_code(), 0);
    let line = row(&screen, "backup-customer-data");
    let whole = row(&piped, "backup-customer-data");
    let due = whole.split("  ").last().unwrap().trim();
    assert!(
        line.trim_end().ends_with(due),
        "{line:?} / {whole:?}\n{screen}"
    );
    assert!(line.contains("daily"), "{screen}");
    assert!(screen.contains('…'), "{screen}");

    // Two procedures, so that the whole status is on the screen.
    let two = dir.path().join("two");
    std::fs::create_dir(&two).unwrap();
    for f in ["backup-customer-data.toml", "access-review-quarterly.toml"] {
        std::fs::copy(repo().join("procedures").join(f), two.join(f)).unwrap();
    }
    // A log with one run (many open runs would fill the screen).
    let db = dir.path().join("one.sqlite3");
    drill_run(&db);
    let piped = stdout(
        &crate::common::runsheet_with(&db, &two)
            .arg("status")
            .output()
            .unwrap(),
    );
    let whole = piped
        .lines()
        .find(|l| l.starts_with("backup-customer-data"))
        .unwrap()
        .to_string();
    let t = crate::tui_e2e::Term::spawn_with(&db, &two, &["status"]);
    t.wait_for("Status on");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let screen = t.screen();
    assert_eq!(t.exit_code(), 0);
    let line = row(&screen, "backup-customer-data");
    // The row's last column (the review date) is on its line.
    let last = whole.split_whitespace().last().unwrap();
    assert!(
        line.trim_end().ends_with(last),
        "{line:?} / {whole:?}\n{screen}"
    );
    assert!(line.chars().count() <= 100, "{screen}");
}

/// A usage error is coloured as clap colours it when `--color always` says
/// so (plain with `never`, NO_COLOR, or into a pipe), and a hostile value it
/// quotes stays inert either way.
#[test]
fn usage_errors_are_coloured_as_asked_and_quote_values_inertly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let hostile = "x\u{1b}[2Jy";
    let err = |args: &[&str], no_color: bool| {
        let mut cmd = runsheet(&db);
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        let out = cmd.args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        stderr(&out)
    };
    let coloured = err(&["--color", "always", "runs", "--status", hostile], false);
    assert!(
        coloured.contains("\u{1b}[1;31merror:\u{1b}[0m"),
        "{coloured:?}"
    );
    assert!(
        coloured.contains("\u{1b}[33m'--help'\u{1b}[0m"),
        "{coloured:?}"
    );
    // The escape sequence in the value is not passed to the terminal.
    assert!(!coloured.contains("\u{1b}[2J"), "{coloured:?}");
    assert!(
        coloured.contains("'xy'") || coloured.contains("'x^[[2Jy'"),
        "{coloured:?}"
    );
    let usage = err(&["--color", "always", "lint", "--bogus"], false);
    assert!(usage.contains("\u{1b}[1;4mUsage:\u{1b}[0m"), "{usage:?}");
    for plain in [
        err(&["--color", "never", "runs", "--status", hostile], false),
        err(&["runs", "--status", hostile], true),
        err(&["runs", "--status", hostile], false),
    ] {
        assert!(!plain.contains('\u{1b}'), "{plain:?}");
        assert!(plain.starts_with("error: invalid value"), "{plain:?}");
    }
}
