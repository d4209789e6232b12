//! `mrc decode`: show what the codec reads in a packet.

use anyhow::Result;

/// Flags of `mrc decode`.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: &Args) -> Result<()> {
    Ok(())
}
