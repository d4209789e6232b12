//! `mrc plan`: fabric sizing (placeholder until the fabric crate lands).

use anyhow::Result;

/// Flags of `mrc plan`.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: &Args) -> Result<()> {
    anyhow::bail!("mrc plan is not built yet")
}
