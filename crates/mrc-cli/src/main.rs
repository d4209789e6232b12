//! The `mrc` command: plan fabrics, simulate MRC against RoCE, run the real transport.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod budget;
mod capture;
mod decode;
mod fabric;
mod failure_cfg;
mod input;
mod output;
mod parallel;
mod perf;
mod plan;
mod ranks;
mod report;
mod results;
mod roce_cfg;
mod scenario;
mod sim;
mod sweep;
mod take;
#[cfg(feature = "train")]
mod train;
#[cfg(feature = "train")]
mod train_report;
mod units;
mod workload_cfg;

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
    /// Simulate MRC, RoCE and oblivious spraying at packet level on the same fabric.
    Sim(sim::Args),
    /// Run a scenario over a grid of values (fabric size, workload, runs: any field), in
    /// parallel over runs; one JSON of headline figures and an HTML plot of tail against scale.
    Sweep(sweep::Args),
    /// Render saved `mrc sim --json` results as a self-contained HTML report (several files:
    /// side by side), or a saved `mrc sweep --json` as its page.
    Report(report::Args),
    /// Linux namespace fabric with kernel SRv6: up, down, status, link down|up (needs root).
    Fabric(fabric::Args),
    /// Real transport throughput over UDP/IPv6 (iperf-like), verified; TCP baseline side by side.
    Perf(perf::Args),
    /// Tiny data-parallel training over the real transport; cable pulls; TCP side by side.
    #[cfg(feature = "train")]
    Train(train::Args),
}

/// `MRC_LOG=error|warn|info|debug|trace`: the `tracing` events of the core (`mrc-proto`), the
/// simulator (`mrc-sim`) and the socket transport (`mrc-net`) go to stderr at that level and above. Unset, no subscriber
/// is installed and the events cost one relaxed load each. An unknown level is reported and
/// ignored, so a typo never changes a run's output.
fn init_logging() {
    let Ok(level) = std::env::var("MRC_LOG") else {
        return;
    };
    let Ok(level) = level.parse::<tracing_subscriber::filter::LevelFilter>() else {
        eprintln!("warning: MRC_LOG={level:?}: expected error, warn, info, debug or trace");
        return;
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    exit_quietly_on_broken_pipe();
    init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(args) => plan::run(&args),
        Command::Decode(args) => decode::run(&args),
        Command::Sim(args) => sim::run(&args),
        Command::Sweep(args) => sweep::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Fabric(args) => fabric::run(&args),
        Command::Perf(args) => perf::run(&args),
        #[cfg(feature = "train")]
        Command::Train(args) => train::run(&args),
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

/// `mrc ... | head` closes stdout early and `println!` then panics; exit as a tool killed by
/// SIGPIPE would (status 141), without a panic message.
fn exit_quietly_on_broken_pipe() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
}
