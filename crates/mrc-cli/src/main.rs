//! The `mrc` command: plan fabrics, simulate MRC against RoCE, run the real transport.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod decode;
mod input;
mod plan;

pub(crate) use input::BadInput;

/// MRC: Multipath Reliable Connection transport, multi-plane Clos fabrics and static SRv6 routing.
#[derive(Parser)]
#[command(name = "mrc", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Size a multi-plane two-tier Clos fabric and compare it with a single-plane design.
    Plan(plan::Args),
    /// Decode MRC packets (hex bytes or a built-in sample of every opcode).
    Decode(decode::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(args) => plan::run(&args),
        Command::Decode(args) => decode::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if err.downcast_ref::<BadInput>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
