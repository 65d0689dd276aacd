//! `runsheet-testdata`: writes a new evidence log of generated runs, marked
//! as test data, for benchmarks and demos. Development only: built with the
//! `test-data` feature (as `cargo test` and `cargo bench` do), never by
//! `cargo build` or `cargo install`, so the shipped `runsheet` cannot forge
//! evidence.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use runsheet::error::exit_code;
use runsheet::testdata::{GenerateOptions, generate, new_log};

/// Write generated test data (never evidence) for benchmarks and demos
#[derive(Debug, Parser)]
#[command(name = "runsheet-testdata", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a new evidence log of N generated runs, marked as test data
    GenerateLog {
        /// The new log (refused if it exists)
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
        /// Number of runs to write
        #[arg(long, default_value_t = 1000)]
        runs: u64,
        /// Events per run (approximately)
        #[arg(long, default_value_t = 10)]
        events_per_run: u64,
        /// Days back the first run starts
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
}

fn main() {
    let Command::GenerateLog {
        db,
        runs,
        events_per_run,
        days,
    } = Cli::parse().command;
    let now = chrono::Utc::now();
    let seed = 0x5eed;
    let written = new_log(&db, now, seed).and_then(|mut store| {
        let opts = GenerateOptions {
            runs,
            events_per_run,
            days,
            now,
            seed,
        };
        generate(&mut store, &opts)
    });
    match written {
        Ok(s) => {
            let outcomes: Vec<String> =
                s.outcomes.iter().map(|(k, v)| format!("{v} {k}")).collect();
            println!(
                "Wrote {} generated runs ({} events) of backup-customer-data to {}: {}. The log is marked as test data, not evidence.",
                s.runs,
                s.events,
                db.display(),
                outcomes.join(", ")
            );
            if !s.days_without_run.is_empty() {
                let days: Vec<String> = s.days_without_run.iter().map(|d| d.to_string()).collect();
                println!("Days with no run: {}.", days.join(", "));
            }
        }
        Err(e) => {
            eprintln!("runsheet-testdata: {e}");
            std::process::exit(exit_code(&Err(e)));
        }
    }
}
