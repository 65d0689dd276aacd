//! The `runsheet` binary: parse arguments, call the library, map the result to an exit code.

use clap::Parser;

fn main() {
    let cli = runsheet::cli::Cli::parse();
    let code = match runsheet::app::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // Messages quote user input (names, paths, file contents): keep them inert.
            eprintln!(
                "runsheet: {}",
                runsheet::text::sanitize_terminal(&err.to_string())
            );
            err.code()
        }
    };
    std::process::exit(code);
}
