//! `vf-post`: parse the command line, run, map the outcome to an exit code. Nothing else.

mod cli;
mod engine;
mod exceptions;
mod output;
mod policy;
mod policy_test;
mod report;
mod run;
mod settings;
mod suite;
mod timings;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: parsing allocates one node at a time, and glibc's malloc costs ~10% there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How a run ended; the exit code is decided here and only here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Rendered, or lint found nothing at error level (exit 0).
    Clean,
    /// An error-level finding denied the release (exit 1).
    Denied,
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match run::run(cli) {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Denied) => ExitCode::from(1),
        Err(error) if output::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, whatever a module or a chart put in the message.
            output::fatal(&report::text::clean(&format!("vf-post: {error:#}")));
            ExitCode::from(2)
        }
    }
}
