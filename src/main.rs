//! The `runsheet` binary: parse arguments, call the library, map the result to an exit code.

use clap::Parser;

fn main() {
    let cli = runsheet::cli::Cli::parse();
    let code = match runsheet::app::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // Messages quote user input (names, paths, file contents): kept inert.
            runsheet::errln!("runsheet: {err}");
            err.code()
        }
    };
    std::process::exit(code);
}
