//! `mrc fabric up|down|status|link`: the Linux namespace fabric with kernel SRv6 (needs root).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mrc_net::{Fabric, FabricSpec, NetError};
use serde::Deserialize;

use crate::bad_input;
use crate::results::fabric::{FabricLink, FabricNode, FabricStatus};

/// The embedded default spec (a copy of `fabrics/small.toml`).
pub(crate) const DEFAULT_SPEC: &str = include_str!("../../../fabrics/small.toml");

/// Flags of `mrc fabric`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

/// Which fabric.
#[derive(clap::Args, Clone)]
pub(crate) struct Which {
    /// Fabric spec (TOML). Without it, the embedded `fabrics/small.toml` is used.
    #[arg(long, value_name = "FILE")]
    pub(crate) spec: Option<PathBuf>,
    /// Namespace name prefix (overrides the spec's `prefix`).
    #[arg(long)]
    pub(crate) prefix: Option<String>,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Create the namespaces, cables and static SRv6 tables.
    Up {
        #[command(flatten)]
        which: Which,
    },
    /// Remove every namespace of the fabric (idempotent).
    Down {
        #[command(flatten)]
        which: Which,
    },
    /// Show nodes, cables and cable states.
    Status {
        #[command(flatten)]
        which: Which,
        /// Write the status as JSON to FILE.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Pull (`down`) or restore (`up`) the cable(s) between nodes A and B (e.g. `p0-t0-0
    /// p0-t1-1`, `nic0 p1-t0-0`; `p0-t0-0:u1` picks one port).
    Link {
        /// `down` or `up`.
        state: String,
        /// One end (node name, optionally `:dev`).
        a: String,
        /// The other end.
        b: String,
        #[command(flatten)]
        which: Which,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    #[serde(default = "default_prefix")]
    prefix: String,
    nics: u32,
    planes: u32,
    t0: u32,
    t1: u32,
    t0_uplinks: Option<u32>,
    #[serde(default = "default_mtu")]
    mtu: u32,
    lane_mbit: Option<u32>,
    switch_mbit: Option<u32>,
}

fn default_prefix() -> String {
    "mrc".into()
}
fn default_mtu() -> u32 {
    9000
}

/// Loads the spec (file or embedded default), applies `--prefix`, validates it.
pub(crate) fn load(which: &Which) -> Result<Fabric> {
    let (text, path) = match &which.spec {
        Some(p) => (
            std::fs::read_to_string(p)
                .map_err(|e| crate::BadInput(format!("{}: cannot read: {e}", p.display())))?,
            p.clone(),
        ),
        None => (
            DEFAULT_SPEC.to_owned(),
            PathBuf::from("fabrics/small.toml (embedded)"),
        ),
    };
    parse(&text, &path, which.prefix.as_deref())
}

fn parse(text: &str, path: &Path, prefix: Option<&str>) -> Result<Fabric> {
    let f: SpecFile = match toml::from_str(text) {
        Ok(f) => f,
        Err(e) => bad_input!("{}: {}", path.display(), e.to_string().trim_end()),
    };
    let spec = FabricSpec {
        prefix: prefix.map_or(f.prefix, str::to_owned),
        nics: f.nics,
        planes: f.planes,
        t0: f.t0,
        t1: f.t1,
        t0_uplinks: f.t0_uplinks,
        mtu: f.mtu,
        lane_mbit: f.lane_mbit,
        switch_mbit: f.switch_mbit,
    };
    match Fabric::new(spec) {
        Ok(f) => Ok(f),
        Err(NetError::Spec { field, msg }) => {
            let field = if field == "prefix" && prefix.is_some() {
                "--prefix"
            } else {
                field
            };
            bad_input!("{}: field `{field}`: {msg}", path.display())
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn require_root(what: &str) -> Result<()> {
    if !mrc_net::sys::is_root() {
        anyhow::bail!("{what} needs root (CAP_NET_ADMIN) to create network namespaces");
    }
    Ok(())
}

pub(crate) fn run(args: &Args) -> Result<()> {
    match &args.action {
        Action::Up { which } => {
            let f = load(which)?;
            require_root("mrc fabric up")?;
            let t = std::time::Instant::now();
            match f.up() {
                Ok(()) => {}
                Err(e @ NetError::Exists { .. }) => bad_input!("{e}"),
                Err(NetError::Interrupted(sig)) => {
                    // Rolled back; end as the signal asked, with the shell's code for it.
                    eprintln!(
                        "mrc fabric up: interrupted by signal {sig}; everything created was removed"
                    );
                    std::process::exit(128 + sig);
                }
                Err(e) => return Err(e).context("mrc fabric up (everything created was removed)"),
            }
            let d = f.clos().dims();
            let st = f.status()?;
            println!(
                "fabric `{}` up in {:.2} s: {} planes × ({} T0 + {} T1), {} NICs, {} namespaces, {} cables, MTU {}",
                f.spec().prefix,
                t.elapsed().as_secs_f64(),
                d.planes,
                d.t0,
                d.t1,
                d.nics,
                st.nodes.len(),
                st.links.len(),
                f.spec().mtu
            );
            println!(
                "paths per NIC pair (different T0): {} EVs {:?}; NIC n = {} in namespace {}-nic<n>",
                f.evs().len(),
                f.evs(),
                f.nic_addr(0).to_string().replace("::", "::<n>"),
                f.spec().prefix
            );
            Ok(())
        }
        Action::Down { which } => {
            let prefix = match (&which.prefix, &which.spec) {
                (Some(p), _) => p.clone(),
                (None, _) => load(which)?.spec().prefix.clone(),
            };
            if let Err(NetError::Spec { msg, .. }) = FabricSpec::check_prefix(&prefix) {
                bad_input!("--prefix: {msg}");
            }
            require_root("mrc fabric down")?;
            let removed = mrc_net::fabric::down(&prefix)?;
            println!(
                "fabric `{prefix}` down: {} namespaces removed",
                removed.len()
            );
            Ok(())
        }
        Action::Status { which, json } => {
            let f = load(which)?;
            require_root("mrc fabric status")?;
            let st = f.status()?;
            let present = st.nodes.iter().filter(|n| n.1).count();
            let up = st.links.iter().filter(|l| l.up).count();
            println!(
                "fabric `{}`: {present}/{} namespaces present, {up}/{} cables up",
                f.spec().prefix,
                st.nodes.len(),
                st.links.len()
            );
            if present > 0 {
                println!("nodes:");
                for (n, ok) in &st.nodes {
                    println!("  {:<12} {}", n, if *ok { "present" } else { "MISSING" });
                }
                println!("cables:");
                for l in &st.links {
                    println!(
                        "  {:>3}  {:<14} — {:<14} {}",
                        l.id,
                        l.a,
                        l.b,
                        if l.up { "up" } else { "DOWN" }
                    );
                }
            }
            if let Some(j) = json {
                let doc = FabricStatus {
                    links: st
                        .links
                        .iter()
                        .map(|l| FabricLink {
                            a: l.a.clone(),
                            b: l.b.clone(),
                            id: l.id,
                            up: l.up,
                        })
                        .collect(),
                    nodes: st
                        .nodes
                        .iter()
                        .map(|(name, present)| FabricNode {
                            name: name.clone(),
                            present: *present,
                        })
                        .collect(),
                    prefix: f.spec().prefix.clone(),
                };
                let text = crate::results::to_pretty(&doc)?;
                crate::output::write_atomic("--json", j, text.as_bytes())?;
            }
            Ok(())
        }
        Action::Link { state, a, b, which } => {
            let up = match state.as_str() {
                "up" => true,
                "down" => false,
                other => bad_input!("mrc fabric link {other}: expected `down` or `up`"),
            };
            let f = load(which)?;
            if let Err(e) = f.find_links(a, b) {
                bad_input!("mrc fabric link {state} {a} {b}: {e}");
            }
            require_root("mrc fabric link")?;
            let links = f.set_link(a, b, up)?;
            for l in links {
                let [x, y] = f.link_ends(l);
                println!(
                    "cable {} {}:{} — {}:{} {}",
                    l.0,
                    x.0,
                    x.1,
                    y.0,
                    y.1,
                    if up { "up" } else { "down" }
                );
            }
            Ok(())
        }
    }
}
