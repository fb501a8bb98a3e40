//! The `nightwatch` binary: parse the command line and hand over to [`nightwatch::cli`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = nightwatch::cli::Cli::parse();
    if !matches!(cli.command, nightwatch::cli::Command::Run { .. }) {
        nightwatch::cli::init_logging("warn");
    }
    nightwatch::cli::main(cli)
}
