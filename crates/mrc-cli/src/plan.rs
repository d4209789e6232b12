//! `mrc plan`: size a multi-plane two-tier Clos beside the single-plane full-speed design, and
//! optionally export its static SRv6 configuration. All the model logic is in `mrc-fabric`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use mrc_fabric::export::{self, Format};
use mrc_fabric::plan::{Figures, Plan, PlanParams};
use mrc_fabric::{Clos, Param, ParamError, StaticTables};

use crate::bad_input;
use crate::results::plan::PlanResults;

/// Flags of `mrc plan`.
#[derive(clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub(crate) struct Args {
    /// Number of NICs (at most radix²/2 for two tiers: 131,072 at radix 512).
    #[arg(long, default_value_t = 131_072)]
    nics: u32,
    /// Planes = lanes per NIC; must divide the NIC speed (8 → 8 × 100G lanes).
    #[arg(long, default_value_t = 8)]
    planes: u32,
    /// NIC speed in Gb/s.
    #[arg(long, default_value_t = 800)]
    nic_gbps: u32,
    /// Total switch capacity in Gb/s (51.2 Tb/s = 51200); radix = switch-gbps / lane speed,
    /// and 64 ports of NIC speed for the single-plane design.
    #[arg(long, default_value_t = 51_200)]
    switch_gbps: u32,
    /// T0 uplinks (default radix/2, i.e. no oversubscription; fewer uplinks oversubscribe).
    #[arg(long)]
    t0_uplinks: Option<u32>,
    /// Write the figures as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Export static configuration: `iproute2` (one shell script per switch and NIC, plus
    /// links.tsv) or `frr` (one frr.conf per switch and NIC) into DIR.
    #[arg(long, num_args = 2, value_names = ["FORMAT", "DIR"])]
    export: Option<Vec<String>>,
    /// Build the fabric and its static tables and forward COUNT random (src, dst, EV) triples
    /// through them (seeded, deterministic).
    #[arg(long, value_name = "COUNT")]
    verify: Option<u64>,
}

const AFTER_HELP: &str = "\
Counting rules:
  switch_links   switch-to-switch cables (each counted once)
  nic_links      NIC-to-T0 cables, one per lane
  transceivers   optical modules of NIC speed (800G OSFP; a multi-plane NIC port or switch cage
                 breaks out into lanes), one at each end of every cable:
                 2 × (switch_links + nic_links) × lane_gbps / nic_gbps
  paths_per_pair distinct paths between NICs under different T0s (planes × T0 uplinks)
  blast_radius_* share of a T0's uplink capacity one T0–T1 cable carries, and of a NIC one lane
The single-plane design uses switch-gbps/nic-gbps-port switches (64 × 800G) with as many tiers as
needed; below full size its tiers hold ⌈N/(k/2)⌉ switches and the top tier ⌈N/k⌉.
Below full size the multi-plane fabric has parallel T0–T1 links, told apart by uA SIDs (see
mrc-fabric docs).";

fn flag(p: Param) -> &'static str {
    match p {
        Param::Nics => "--nics",
        Param::Planes => "--planes",
        Param::NicGbps => "--nic-gbps",
        Param::T0Uplinks => "--t0-uplinks",
        _ => "--switch-gbps",
    }
}

fn bad(err: &ParamError, args: &Args) -> anyhow::Error {
    let p = err.param();
    let value = match p {
        Param::Nics => args.nics.to_string(),
        Param::Planes => args.planes.to_string(),
        Param::NicGbps => args.nic_gbps.to_string(),
        Param::T0Uplinks => args
            .t0_uplinks
            .map_or_else(|| "default".into(), |u| u.to_string()),
        _ => args.switch_gbps.to_string(),
    };
    anyhow::Error::new(crate::BadInput(format!("{} {value}: {err}", flag(p))))
}

/// Most random (src, dst, EV) triples `--verify` walks (about a minute of work).
const MAX_VERIFY: u64 = 10_000_000;

pub(crate) fn run(args: &Args) -> Result<()> {
    let params = PlanParams::new(args.nics, args.planes, args.nic_gbps, args.switch_gbps)
        .with_t0_uplinks(args.t0_uplinks);
    let plan = Plan::new(&params).map_err(|e| bad(&e, args))?;
    let dims = params.clos().dims().map_err(|e| bad(&e, args))?;
    let format = match args.export.as_deref() {
        None => None,
        Some([f, dir]) => match f.as_str() {
            "iproute2" => Some((Format::Iproute2, PathBuf::from(dir))),
            "frr" => Some((Format::Frr, PathBuf::from(dir))),
            other => {
                bad_input!("--export {other}: expected `iproute2` or `frr` followed by a directory")
            }
        },
        Some(_) => bad_input!("--export: expected FORMAT DIR"),
    };
    // Refuse bad output paths before any work.
    if let Some(path) = &args.json {
        crate::output::check("--json", path)?;
    }
    if let Some((_, dir)) = &format
        && dir.exists()
        && !dir.is_dir()
    {
        bad_input!("--export {}: exists and is not a directory", dir.display());
    }
    if let Some(n) = args.verify
        && n > MAX_VERIFY
    {
        bad_input!("--verify {n}: expected at most {MAX_VERIFY} triples");
    }

    print!("{}", table(&plan, &params));
    println!(
        "static /48 tables: T0 {} entries, T1 {} entries, NIC 2 per lane",
        dims.t0_table_entries(),
        dims.t1_table_entries()
    );

    if let Some(path) = &args.json {
        let doc = PlanResults {
            multi_plane: (&plan.multi_plane).into(),
            single_plane: (&plan.single_plane).into(),
            t0_table_entries: dims.t0_table_entries(),
            t1_table_entries: dims.t1_table_entries(),
        };
        let text = crate::results::to_pretty(&doc)?;
        crate::output::write_atomic("--json", path, text.as_bytes())?;
    }

    if format.is_some() || args.verify.is_some() {
        let clos = Clos::new(params.clos()).map_err(|e| bad(&e, args))?;
        let tables = StaticTables::new(&clos);
        if let Some(count) = args.verify {
            let n = tables.verify_random(&clos, 0x5eed, count)?;
            println!("verified {n} random (src, dst, EV) triples through the static tables");
        }
        if let Some((format, dir)) = format {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut files = 0u64;
            for f in export::export(&clos, &tables, format) {
                crate::output::write_atomic("--export", &dir.join(&f.name), f.contents.as_bytes())?;
                files += 1;
            }
            println!("exported {files} files to {}", dir.display());
        }
    }
    Ok(())
}

/// Thousands separators.
fn n(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn pct(v: f64) -> String {
    if v < 1.0 {
        format!("{v:.2}%")
    } else {
        format!("{v:.1}%")
    }
}

fn table(plan: &Plan, p: &PlanParams) -> String {
    let (m, s) = (&plan.multi_plane, &plan.single_plane);
    let tiers = |f: &Figures| {
        f.switches_per_tier
            .iter()
            .map(|&x| n(x))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let rows: Vec<(&str, String, String)> = vec![
        (
            "design",
            format!("{} × {}G planes", m.planes, m.lane_gbps),
            format!("1 × {}G plane", s.lane_gbps),
        ),
        ("switch ports", n(m.switch_ports), n(s.switch_ports)),
        ("tiers", n(m.tiers), n(s.tiers)),
        ("switches per plane by tier", tiers(m), tiers(s)),
        ("switches", n(m.switches), n(s.switches)),
        ("switch links", n(m.switch_links), n(s.switch_links)),
        ("NIC links", n(m.nic_links), n(s.nic_links)),
        (
            "transceivers",
            format!("{} ({}G)", n(m.transceivers), p.nic_gbps),
            format!("{} ({}G)", n(s.transceivers), p.nic_gbps),
        ),
        (
            "max switch hops",
            n(m.max_switch_hops),
            n(s.max_switch_hops),
        ),
        (
            "paths per NIC pair",
            n(m.paths_per_pair),
            n(s.paths_per_pair),
        ),
        (
            "  under the same T0",
            n(m.paths_same_t0),
            n(s.paths_same_t0),
        ),
        (
            "blast radius: T0–T1 link",
            pct(m.blast_radius_t0_t1_link_pct),
            pct(s.blast_radius_t0_t1_link_pct),
        ),
        (
            "blast radius: NIC lane",
            pct(m.blast_radius_nic_lane_pct),
            pct(s.blast_radius_nic_lane_pct),
        ),
    ];
    let w1 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let w2 = rows
        .iter()
        .map(|r| r.1.chars().count())
        .max()
        .unwrap_or(0)
        .max("multi-plane".len());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "mrc plan: {} NICs at {}G, {} Gb/s switches",
        n(m.nics),
        p.nic_gbps,
        n(u64::from(p.switch_gbps))
    );
    let _ = writeln!(out);
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
    let _ = writeln!(
        out,
        "{}  {}  single-plane",
        pad("", w1),
        pad("multi-plane", w2)
    );
    for (k, a, b) in &rows {
        let _ = writeln!(out, "{}  {}  {b}", pad(k, w1), pad(a, w2));
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "multi-plane uses {:.0}% of the switches and {:.0}% of the transceivers of the single-plane design",
        100.0 * plan.switch_ratio(),
        100.0 * plan.optics_ratio()
    );
    out
}
