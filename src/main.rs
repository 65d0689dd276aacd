//! The `runsheet` binary: parse arguments, call the library, map the result to an exit code.

use runsheet::error::{Error, exit_code};

fn main() {
    // First, so that the full-screen runner's hook (which restores the
    // terminal) wraps it: a panic is one line on stderr and exit 70.
    runsheet::out::install_panic_hook();
    // A way to make the binary panic, for the test of the hook (the escape in
    // the message checks that the line is sanitized). Debug builds only: a
    // release binary has no such switch.
    #[cfg(debug_assertions)]
    if std::env::var_os("RUNSHEET_DEBUG_PANIC").is_some_and(|v| v == "1") {
        panic!("RUNSHEET_DEBUG_PANIC=1 asked for a panic \u{1b}]0;title\u{7}");
    }
    // The shell asking for completions (COMPLETE=bash runsheet -- …): answered, then exit.
    runsheet::app::complete::answer_shell();
    let cli = match runsheet::cli::parse() {
        Ok(cli) => cli,
        // Help and version, as clap prints them (no user input in them).
        Err(e) if !e.use_stderr() => e.exit(),
        // A usage error quotes the arguments, which can hold anything (a file
        // name from a glob): printed sanitized, then coloured as allowed.
        Err(e) => {
            let result = Err(Error::Usage(e.render().to_string().trim_end().to_string()));
            let code = exit_code(&result);
            if let Err(usage) = &result {
                if std::env::args_os().any(|a| a == "--json") {
                    json_error(usage, code);
                } else {
                    runsheet::out::error_rendered(&runsheet::cli::usage_error_text(&e));
                }
            }
            std::process::exit(code);
        }
    };
    let json = cli.global.json;
    let result = runsheet::app::run(cli);
    let code = exit_code(&result);
    if let Err(err) = &result {
        if json {
            json_error(err, code);
        } else {
            // Messages quote user input (names, paths, file contents): kept inert.
            runsheet::errln!("runsheet: {err}");
        }
    }
    std::process::exit(code);
}

/// An error under `--json`: one JSON object on stderr, `{"schema_version":
/// 1, "error": the message, "code": the exit code}` (control characters
/// escaped; docs/json/error.schema.json).
fn json_error(err: &Error, code: i32) {
    let v = runsheet::out::versioned(&runsheet::error::ErrorJson {
        error: err.to_string(),
        code,
    });
    let line = serde_json::to_string(&v).unwrap_or_default();
    runsheet::out::error_line(&runsheet::out::escape_json_controls(&line));
}
