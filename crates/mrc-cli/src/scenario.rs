//! Scenario files of `mrc sim` (TOML, `deny_unknown_fields`, units as strings). Every default
//! is documented in `scenarios/README.md`; keep the two in step.

use std::path::{Path, PathBuf};

use anyhow::Result;
use mrc_fabric::{ClosParams, FatTreeParams};
use mrc_sim::config::{EcnAt, FabricSpec, NetSpec, PfcSpec, RedSpec, SwitchSpec};
use mrc_sim::failure::{Failure, FailureKind, Target};
use mrc_sim::units::{ProbStr, RateStr, SizeStr, TimeStr};
use mrc_workload::{ConnMatrix, Flow, traffic};
use serde::Deserialize;

use crate::{bad_input, budget, failure_cfg};

// ------------------------------------------------------------------ file shape

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scenario {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: String,
    #[serde(default)]
    pub(crate) claim: String,
    #[serde(default = "one")]
    pub(crate) seed: u64,
    #[serde(default)]
    max_time: Option<TimeStr>,
    #[serde(default)]
    mtu: Option<SizeStr>,
    #[serde(default)]
    reconvergence: Option<TimeStr>,
    fabric: FabricCfg,
    #[serde(default)]
    switch: SwitchCfg,
    workload: WorkloadCfg,
    #[serde(default)]
    extra_flows: Vec<FlowCfg>,
    /// Read by `failure_cfg` (the fields every failure has, then its kind's).
    #[serde(default)]
    failures: Vec<toml::Table>,
    #[serde(default)]
    runs: Vec<RunCfg>,
    /// Index of a flow whose completion time is reported on its own (e.g. a victim flow).
    #[serde(default)]
    watch_flow: Option<usize>,
}

const fn one() -> u64 {
    1
}

#[derive(Deserialize, Debug, Clone, Copy)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
enum FabricCfg {
    Clos {
        nics: u32,
        planes: Option<u32>,
        nic_speed: Option<RateStr>,
        switch_speed: Option<RateStr>,
        t0_uplinks: Option<u32>,
        nic_link_latency: Option<TimeStr>,
        switch_link_latency: Option<TimeStr>,
    },
    FatTree {
        nics: u32,
        tiers: Option<u32>,
        k: Option<u32>,
        speed: Option<RateStr>,
        nic_link_latency: Option<TimeStr>,
        switch_link_latency: Option<TimeStr>,
    },
}

impl FabricCfg {
    /// Its planes (a fat tree has one).
    fn planes(self) -> u32 {
        match self {
            Self::Clos { planes, .. } => planes.unwrap_or(8),
            Self::FatTree { .. } => 1,
        }
    }
}

#[derive(Deserialize, Debug, Clone, Copy, Default)]
#[serde(deny_unknown_fields)]
struct SwitchCfg {
    queue: Option<SizeStr>,
    trimming: Option<bool>,
    trim_size: Option<SizeStr>,
    ecn: Option<bool>,
    /// Where marking looks at the queue: `"dequeue"` (default, as UEC's htsim) or `"enqueue"`.
    ecn_at: Option<EcnAtCfg>,
    /// Also mark on the last hop (default false, as the paper).
    ecn_last_hop: Option<bool>,
    kmin: Option<f64>,
    kmax: Option<f64>,
    control_queue: Option<SizeStr>,
    pfc: Option<bool>,
    pfc_xoff: Option<SizeStr>,
    pfc_xon: Option<SizeStr>,
    /// Absolute RED marking (DCQCN's congestion point; `docs/dcqcn.md`).
    red: Option<bool>,
    red_kmin: Option<SizeStr>,
    red_kmax: Option<SizeStr>,
    red_pmax: Option<ProbStr>,
}

#[derive(Deserialize, Debug, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum EcnAtCfg {
    Enqueue,
    Dequeue,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
enum WorkloadCfg {
    Permutation {
        size: SizeStr,
        nics: Option<u32>,
        seed: Option<u64>,
    },
    Incast {
        senders: Vec<u32>,
        receiver: u32,
        size: SizeStr,
    },
    AllToAll {
        size: SizeStr,
        nics: Option<u32>,
    },
    Uniform {
        flows: u32,
        size: SizeStr,
        window: Option<TimeStr>,
        seed: Option<u64>,
    },
    Cm {
        file: String,
    },
    Flows {},
    /// A collective size sweep (`crate::workload_cfg`).
    Collective(crate::workload_cfg::CollectiveCfg),
    /// A training job (`crate::workload_cfg`).
    Training(crate::workload_cfg::TrainingCfg),
    /// A Chakra execution trace (`crate::workload_cfg`).
    Chakra(crate::workload_cfg::ChakraCfg),
}

#[derive(Deserialize, Debug, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct FlowCfg {
    src: u32,
    dst: u32,
    size: SizeStr,
    start: Option<TimeStr>,
}

/// Congestion control of a run's MRC QPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CcName {
    /// NSCC (`docs/protocol.md` §8).
    Nscc,
    /// DCQCN driven by ECN echoes (`docs/dcqcn.md`), with the run's `dcqcn_params`.
    Dcqcn,
}

/// Which transport a run uses.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum TransportName {
    /// MRC (adaptive load balancing).
    Mrc,
    /// MRC with oblivious spraying.
    Spray,
    /// RoCEv2 RC baseline.
    Roce,
}

impl TransportName {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Mrc => "mrc",
            Self::Spray => "spray",
            Self::Roce => "roce",
        }
    }
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct RunCfg {
    transport: TransportName,
    label: Option<String>,
    qps: Option<u32>,
    dcqcn: Option<bool>,
    dcqcn_params: Option<crate::roce_cfg::DcqcnCfg>,
    roce_timeout: Option<u8>,
    roce_recovery: Option<crate::roce_cfg::RecoveryCfg>,
    evs_per_plane: Option<u32>,
    /// Give MRC QPs the QP hint the flow list implies (default true; false: as an
    /// application that gives none, NSCC's one-packet floor and full initial window).
    qp_hint: Option<bool>,
    /// Congestion control of MRC QPs: `"nscc"` (default) or `"dcqcn"`.
    cc: Option<String>,
    /// Random loss on every link of every plane for this run only.
    loss: Option<ProbStr>,
    /// Apply the scenario's `failures` to this run (default true).
    failures: Option<bool>,
    fabric: Option<FabricCfg>,
    switch: Option<SwitchCfg>,
}

// ------------------------------------------------------------------ typed result

/// One run of a scenario, ready for the simulator.
#[derive(Clone, Debug)]
pub(crate) struct Run {
    pub(crate) label: String,
    pub(crate) transport: TransportName,
    pub(crate) qps: u32,
    pub(crate) dcqcn: bool,
    pub(crate) dcqcn_params: mrc_proto::roce::DcqcnConfig,
    pub(crate) roce_timeout: Option<u8>,
    pub(crate) roce_recovery: mrc_proto::roce::Recovery,
    pub(crate) evs_per_plane: u32,
    pub(crate) qp_hint: bool,
    pub(crate) cc: CcName,
    pub(crate) net: NetSpec,
    /// Failures of this run (the scenario's, unless disabled, plus its own loss).
    pub(crate) failures: Vec<Failure>,
}

/// A loaded scenario.
#[derive(Clone, Debug)]
pub(crate) struct Loaded {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) claim: String,
    pub(crate) seed: u64,
    pub(crate) max_time_ps: u64,
    pub(crate) flows: Vec<Flow>,
    pub(crate) triggers: Vec<mrc_workload::Trigger>,
    pub(crate) runs: Vec<Run>,
    pub(crate) watch_flow: Option<usize>,
    /// Estimated memory of the largest run (`budget::estimate` of its flows or a DAG's
    /// persistent QP pairs): every run in flight and every partition holds one copy.
    pub(crate) estimate_bytes: u64,
    /// Where each failure came from (for error messages): `failures[i]`.
    pub(crate) failure_fields: Vec<String>,
    /// A DAG workload (collective, training, chakra) instead of the flow list.
    pub(crate) dag: Option<crate::workload_cfg::Built>,
}

/// A checked fabric: its spec, NICs and ports (for the memory estimate).
struct Fabric {
    spec: FabricSpec,
    nics: u32,
    ports: u64,
}

/// A cable latency in whole ns (the fabric's unit), refusing what a `u32` cannot hold.
fn latency_ns(t: Option<TimeStr>, default: u32, file: &str, field: &str) -> Result<u32> {
    let Some(t) = t else {
        return Ok(default);
    };
    match u32::try_from(t.0 / 1000) {
        Ok(ns) => Ok(ns),
        Err(_) => bad_input!(
            "{file}: field `{field}`: expected at most {} s, got {} ps",
            u32::MAX / 1_000_000_000,
            t.0
        ),
    }
}

/// Builds and checks a fabric's parameters (not the fabric: that comes after every check).
/// `at` is the field path of the table (`fabric`, `runs[i].fabric`).
fn fabric_spec(f: FabricCfg, file: &str, at: &str) -> Result<Fabric> {
    match f {
        FabricCfg::Clos {
            nics,
            planes,
            nic_speed,
            switch_speed,
            t0_uplinks,
            nic_link_latency,
            switch_link_latency,
        } => {
            let mut p = ClosParams::new(
                nics,
                planes.unwrap_or(8),
                nic_speed.map_or(800, |r| r.0),
                switch_speed.map_or(51_200, |r| r.0),
            );
            if let Some(u) = t0_uplinks {
                p = p.with_t0_uplinks(u);
            }
            p = p.with_latency_ns(
                latency_ns(
                    nic_link_latency,
                    500,
                    file,
                    &format!("{at}.nic_link_latency"),
                )?,
                latency_ns(
                    switch_link_latency,
                    500,
                    file,
                    &format!("{at}.switch_link_latency"),
                )?,
            );
            let d = match p.dims() {
                Ok(d) => d,
                Err(e) => bad_input!("{file}: field `{at}`: {e}"),
            };
            let ports = 2 * (d.switch_links() + d.nic_links());
            Ok(Fabric {
                spec: FabricSpec::Clos(p),
                nics,
                ports,
            })
        }
        FabricCfg::FatTree {
            nics,
            tiers,
            k,
            speed,
            nic_link_latency,
            switch_link_latency,
        } => {
            let tiers = tiers.unwrap_or(3);
            if !(2..=3).contains(&tiers) {
                bad_input!("{file}: field `{at}.tiers`: expected 2 or 3, got {tiers}");
            }
            if nics == 0 {
                bad_input!("{file}: field `{at}.nics`: expected at least 1, got 0");
            }
            let mut p = FatTreeParams::for_nics(nics, tiers);
            if let Some(k) = k {
                p = FatTreeParams::new(k, tiers).with_nics(nics);
            }
            let hosts = mrc_fabric::fattree::max_hosts(p.k, tiers);
            if u64::from(nics) > hosts {
                bad_input!(
                    "{file}: field `{at}.nics`: a {tiers}-tier fat tree of k = {} holds {hosts} NICs, got {nics}",
                    p.k
                );
            }
            p = p.with_gbps(speed.map_or(100, |r| r.0)).with_latency_ns(
                latency_ns(
                    nic_link_latency,
                    1000,
                    file,
                    &format!("{at}.nic_link_latency"),
                )?,
                latency_ns(
                    switch_link_latency,
                    1000,
                    file,
                    &format!("{at}.switch_link_latency"),
                )?,
            );
            // Every tier has about as many links as hosts; two ports each.
            let ports = 2 * u64::from(tiers) * hosts;
            Ok(Fabric {
                spec: FabricSpec::FatTree(p),
                nics,
                ports,
            })
        }
    }
}

/// The switch settings of a run: its own `switch` table over the scenario's, checked. `at`
/// names the run's table in messages (the scenario's `switch` fields when it does not set them).
/// `dcqcn` = a RoCE run with DCQCN: its switches mark with absolute RED unless a file says
/// `red = false`.
fn switch_spec(
    base: SwitchCfg,
    over: Option<SwitchCfg>,
    roce: bool,
    dcqcn: bool,
    file: &str,
    at: &str,
) -> Result<SwitchSpec> {
    let o = over.unwrap_or_default();
    let red_on = o.red.or(base.red).unwrap_or_else(|| {
        dcqcn
            || [o, base]
                .iter()
                .any(|c| c.red_kmin.is_some() || c.red_kmax.is_some() || c.red_pmax.is_some())
    });
    let red = red_on.then(|| RedSpec {
        kmin_bytes: o.red_kmin.or(base.red_kmin).map(|s| s.0),
        kmax_bytes: o.red_kmax.or(base.red_kmax).map(|s| s.0),
        pmax_ppm: o
            .red_pmax
            .or(base.red_pmax)
            .map_or(RedSpec::PAPER_PMAX_PPM, |p| p.0),
    });
    let d = SwitchSpec::default();
    // The field a value came from, for messages.
    let from = |own: bool, name: &str| {
        if own {
            format!("{at}.{name}")
        } else {
            format!("switch.{name}")
        }
    };
    let pfc = o.pfc.or(base.pfc).unwrap_or(false);
    let xoff = o.pfc_xoff.or(base.pfc_xoff).map_or(100_000, |s| s.0);
    let xon = o.pfc_xon.or(base.pfc_xon).map_or(xoff / 2, |s| s.0);
    if pfc && xon > xoff {
        bad_input!(
            "{file}: field `{}`: expected at most `pfc_xoff` ({xoff} B), got {xon} B",
            from(o.pfc_xon.is_some(), "pfc_xon")
        );
    }
    let trim = o
        .trim_size
        .or(base.trim_size)
        .map_or(Ok(d.trim_bytes), |s| {
            u32::try_from(s.0).ok().filter(|b| *b > 0).ok_or(s.0)
        });
    let trim_bytes = match trim {
        Ok(b) => b,
        Err(b) => bad_input!(
            "{file}: field `{}`: expected 1 B ..= {} B, got {b} B",
            from(o.trim_size.is_some(), "trim_size"),
            u32::MAX
        ),
    };
    for (name, v) in [("kmin", o.kmin), ("kmax", o.kmax)] {
        if let Some(v) = v
            && !(0.0..=1.0).contains(&v)
        {
            bad_input!(
                "{file}: field `{at}.{name}`: expected a fraction of the queue in 0..=1, got {v}"
            );
        }
    }
    let permille = |f: f64| (f * 1000.0) as u32;
    let kmin = o.kmin.or(base.kmin).map_or(d.kmin_permille, permille);
    let kmax = o.kmax.or(base.kmax).map_or(d.kmax_permille, permille);
    if kmin > kmax {
        bad_input!(
            "{file}: field `{}`: expected `kmin` ≤ `kmax`, got kmin {} > kmax {}",
            from(o.kmin.is_some() || o.kmax.is_some(), "kmin"),
            f64::from(kmin) / 1000.0,
            f64::from(kmax) / 1000.0
        );
    }
    Ok(SwitchSpec {
        queue_bytes: o.queue.or(base.queue).map(|s| s.0),
        // RoCE fabrics do not trim (drop-tail, or lossless with PFC) unless a file says so.
        trimming: o.trimming.or(base.trimming).unwrap_or(d.trimming && !roce),
        trim_bytes,
        ecn: o.ecn.or(base.ecn).unwrap_or(d.ecn),
        ecn_at: o.ecn_at.or(base.ecn_at).map_or(d.ecn_at, |a| match a {
            EcnAtCfg::Enqueue => EcnAt::Enqueue,
            EcnAtCfg::Dequeue => EcnAt::Dequeue,
        }),
        ecn_last_hop: o
            .ecn_last_hop
            .or(base.ecn_last_hop)
            .unwrap_or(d.ecn_last_hop),
        kmin_permille: kmin,
        kmax_permille: kmax,
        ctrl_queue_bytes: o.control_queue.or(base.control_queue).map(|s| s.0),
        pfc: pfc.then_some(PfcSpec {
            xoff_bytes: xoff,
            xon_bytes: xon,
        }),
        red,
    })
}

/// Parses and checks a scenario; `path` is used in messages and to resolve `.cm` files.
pub(crate) fn load(text: &str, path: &Path) -> Result<Loaded> {
    let file = path.display();
    let sc: Scenario = match toml::from_str(text) {
        Ok(s) => s,
        Err(e) => bad_input!("{file}: {}", e.to_string().trim_end()),
    };
    let mtu = sc.mtu.map_or(4096, |s| s.0);
    if !(256..=65_536).contains(&mtu) {
        bad_input!("{file}: field `mtu`: expected 256 B ..= 64 KiB, got {mtu} B");
    }
    for (field, v) in [
        ("switch.kmin", sc.switch.kmin),
        ("switch.kmax", sc.switch.kmax),
    ] {
        if let Some(v) = v
            && !(0.0..=1.0).contains(&v)
        {
            bad_input!(
                "{file}: field `{field}`: expected a fraction of the queue in 0..=1, got {v}"
            );
        }
    }
    let file_s = file.to_string();
    let Fabric {
        spec: fabric,
        nics,
        ports,
    } = fabric_spec(sc.fabric, &file_s, "fabric")?;
    let reconvergence_ps = sc.reconvergence.map_or(2_000_000_000_000, |t| t.0);
    // The largest per-flow QP state of any run, to estimate memory before generating flows.
    let run_fabrics = sc
        .runs
        .iter()
        .enumerate()
        .map(|(i, r)| match r.fabric {
            Some(f) => fabric_spec(f, &file_s, &format!("runs[{i}].fabric")).map(|f| f.ports),
            None => Ok(ports),
        })
        .collect::<Result<Vec<u64>>>()?;
    let max_ports = run_fabrics.iter().copied().fold(ports, u64::max);
    // Runs are simulated one at a time (or each on its own thread, which the bound does not
    // cover), so the largest run's QPs per flow × bytes per QP pair counts, not the largest
    // QP count of one run times the largest pair of another.
    let flow_pairs = if sc.runs.is_empty() {
        budget::pair_bytes(false, u64::from(sc.fabric.planes()) * 32)
    } else {
        sc.runs
            .iter()
            .map(|r| {
                let evs = u64::from(r.fabric.unwrap_or(sc.fabric).planes())
                    * u64::from(r.evs_per_plane.unwrap_or(32));
                let roce = r.transport == TransportName::Roce;
                u64::from(r.qps.unwrap_or(1)).saturating_mul(budget::pair_bytes(roce, evs))
            })
            .max()
            .unwrap_or(0)
    };
    let fits = |field: &str, what: &str, flows: u64| {
        let bytes = budget::estimate(max_ports, flows, flow_pairs);
        budget::check(&file_s, field, what, bytes)
    };
    fits("fabric", "the fabric", 0)?;
    let ranks = |n: Option<u32>, field: &str| -> Result<u32> {
        let n = n.unwrap_or(nics);
        if n > nics {
            bad_input!(
                "{file}: field `{field}`: expected at most the fabric's {nics} NICs, got {n}"
            );
        }
        Ok(n)
    };
    let size_ok = |size: SizeStr, field: &str| -> Result<u64> {
        if size.0 > budget::MAX_FLOW_BYTES {
            bad_input!(
                "{file}: field `{field}`: expected at most {} bytes (1 PiB), got {}",
                budget::MAX_FLOW_BYTES,
                size.0
            );
        }
        Ok(size.0)
    };
    // Workload.
    let (mut flows, triggers) = match &sc.workload {
        WorkloadCfg::Permutation {
            size,
            nics: n,
            seed,
        } => {
            let n = ranks(*n, "workload.nics")?;
            let size = size_ok(*size, "workload.size")?;
            fits("workload.nics", "the permutation", u64::from(n))?;
            (
                traffic::permutation(n, size, seed.unwrap_or(sc.seed)),
                Vec::new(),
            )
        }
        WorkloadCfg::Incast {
            senders,
            receiver,
            size,
        } => {
            let size = size_ok(*size, "workload.size")?;
            fits("workload.senders", "the incast", senders.len() as u64)?;
            (traffic::incast(senders, *receiver, size), Vec::new())
        }
        WorkloadCfg::AllToAll { size, nics: n } => {
            let n = ranks(*n, "workload.nics")?;
            let size = size_ok(*size, "workload.size")?;
            let count = u64::from(n) * u64::from(n.saturating_sub(1));
            fits("workload.nics", &format!("all-to-all over {n} NICs"), count)?;
            (traffic::all_to_all(n, size), Vec::new())
        }
        WorkloadCfg::Uniform {
            flows,
            size,
            window,
            seed,
        } => {
            let size = size_ok(*size, "workload.size")?;
            fits(
                "workload.flows",
                &format!("{flows} flows"),
                u64::from(*flows),
            )?;
            (
                traffic::uniform_random(
                    nics,
                    *flows,
                    size,
                    window.map_or(0, |t| t.0),
                    seed.unwrap_or(sc.seed),
                ),
                Vec::new(),
            )
        }
        WorkloadCfg::Cm { file: f } => {
            let cm_path = resolve(path, f);
            let text = match std::fs::read_to_string(&cm_path) {
                Ok(t) => t,
                Err(e) => bad_input!(
                    "{file}: field `workload.file`: cannot read {}: {e}",
                    cm_path.display()
                ),
            };
            let cm = match ConnMatrix::parse(&text) {
                Ok(c) => c,
                Err(e) if e.line == 0 => bad_input!("{}: {}", cm_path.display(), e.msg),
                Err(e) => bad_input!("{}:{}: {}", cm_path.display(), e.line, e.msg),
            };
            if cm.nodes > nics {
                bad_input!(
                    "{}: `Nodes {}` but the scenario's fabric has {nics} NICs (field `fabric.nics`)",
                    cm_path.display(),
                    cm.nodes
                );
            }
            if let Some(f) = cm.flows.iter().find(|f| f.bytes > budget::MAX_FLOW_BYTES) {
                bad_input!(
                    "{}: flow id {}: `size {}`: expected at most {} bytes (1 PiB)",
                    cm_path.display(),
                    f.id,
                    f.bytes,
                    budget::MAX_FLOW_BYTES
                );
            }
            fits(
                "workload.file",
                &format!("{} flows", cm.flows.len()),
                cm.flows.len() as u64,
            )?;
            (cm.flows, cm.triggers)
        }
        WorkloadCfg::Flows {} => (Vec::new(), Vec::new()),
        WorkloadCfg::Collective(_) | WorkloadCfg::Training(_) | WorkloadCfg::Chakra(_) => {
            (Vec::new(), Vec::new())
        }
    };
    let dag = match &sc.workload {
        WorkloadCfg::Collective(c) => {
            Some(crate::workload_cfg::collective(c, nics, &file.to_string())?)
        }
        WorkloadCfg::Training(c) => Some(crate::workload_cfg::training(
            c,
            nics,
            sc.seed,
            path,
            &file.to_string(),
        )?),
        WorkloadCfg::Chakra(c) => Some(crate::workload_cfg::chakra(
            c,
            nics,
            path,
            &file.to_string(),
        )?),
        _ => None,
    };
    // Persistent QP pairs of a DAG workload, counted in the memory estimate like flows.
    let mut dag_pairs = 0u64;
    if let Some(b) = &dag {
        // Persistent QP pairs: one set per (source NIC, destination NIC) of the network flows,
        // each sized to every byte the DAG writes on it.
        let w = &b.workload;
        let mut pairs = std::collections::BTreeSet::new();
        let mut total = 0u64;
        for op in &w.dag.ops {
            if let mrc_workload::dag::OpKind::Flow(f) = op.kind
                && !f.scale_up
            {
                let nic = |r: u32| w.nic_of_rank.get(r as usize).copied().unwrap_or(r);
                pairs.insert((nic(f.src), nic(f.dst)));
                total = total.saturating_add(f.bytes);
            }
        }
        if total > budget::MAX_DAG_BYTES {
            bad_input!(
                "{file}: field `workload`: the DAG writes {total} bytes in all, more than {} (1 EiB)",
                budget::MAX_DAG_BYTES
            );
        }
        dag_pairs = pairs.len() as u64;
        fits(
            "workload",
            &format!("{dag_pairs} NIC pairs of persistent QPs"),
            dag_pairs,
        )?;
    }
    if dag.is_some() && !sc.extra_flows.is_empty() {
        bad_input!(
            "{file}: field `extra_flows`: not supported with a collective, training or chakra workload"
        );
    }
    for (i, f) in sc.extra_flows.iter().enumerate() {
        let size = size_ok(f.size, &format!("extra_flows[{i}].size"))?;
        flows.push(Flow::new(
            flows.len() as u64,
            f.src,
            f.dst,
            size,
            f.start.map_or(0, |t| t.0),
        ));
        if f.src >= nics || f.dst >= nics || f.src == f.dst {
            bad_input!(
                "{file}: field `extra_flows[{i}]`: expected src ≠ dst, both < {nics} NICs, got {}->{}",
                f.src,
                f.dst
            );
        }
    }
    for f in &flows {
        if f.src >= nics || f.dst >= nics {
            bad_input!(
                "{file}: field `workload`: flow {}->{} names a NIC outside 0..{nics}",
                f.src,
                f.dst
            );
        }
    }
    if let Some(w) = sc.watch_flow
        && w >= flows.len()
    {
        bad_input!(
            "{file}: field `watch_flow`: expected a flow index < {}, got {w}",
            flows.len()
        );
    }
    if flows.is_empty() && dag.is_none() {
        bad_input!("{file}: field `workload`: the workload has no flows");
    }
    // Failures.
    let mut failures = Vec::new();
    let mut failure_fields = Vec::new();
    for (i, f) in sc.failures.iter().enumerate() {
        let field = format!("failures[{i}]");
        for fl in failure_cfg::failures(f.clone(), &field, sc.fabric.planes(), &file_s)? {
            failures.push(fl);
            failure_fields.push(field.clone());
        }
    }
    // Runs.
    let run_cfgs = if sc.runs.is_empty() {
        vec![RunCfg {
            transport: TransportName::Mrc,
            label: None,
            qps: None,
            dcqcn: None,
            dcqcn_params: None,
            roce_timeout: None,
            roce_recovery: None,
            evs_per_plane: None,
            qp_hint: None,
            cc: None,
            loss: None,
            failures: None,
            fabric: None,
            switch: None,
        }]
    } else {
        sc.runs.clone()
    };
    let mut runs = Vec::new();
    for (i, r) in run_cfgs.iter().enumerate() {
        let (fab, n) = match r.fabric {
            Some(f) => {
                let f = fabric_spec(f, &file_s, &format!("runs[{i}].fabric"))?;
                (f.spec, f.nics)
            }
            None => (fabric, nics),
        };
        let planes = r.fabric.unwrap_or(sc.fabric).planes();
        // A failure in plane p (< the scenario's planes, checked) hits plane p mod P of a run's
        // fabric with P planes (so a RoCE run on the single-plane equivalent sees the same
        // switch or link, in its one plane).
        let remap = |mut f: Failure| {
            let p = |x: u32| x % planes.max(1);
            f.target = match f.target {
                Target::T0Uplink { plane, t0, uplink } => Target::T0Uplink {
                    plane: p(plane),
                    t0,
                    uplink,
                },
                Target::Switch { plane, tier, index } => Target::Switch {
                    plane: p(plane),
                    tier,
                    index,
                },
                Target::NicLane { nic, plane } => Target::NicLane {
                    nic,
                    plane: p(plane),
                },
                Target::Plane { plane } => Target::Plane { plane: p(plane) },
            };
            f
        };
        let mut run_failures: Vec<Failure> = if r.failures.unwrap_or(true) {
            failures.iter().copied().map(remap).collect()
        } else {
            Vec::new()
        };
        if let Some(p) = r.loss {
            run_failures.extend((0..planes).map(|plane| Failure {
                target: Target::Plane { plane },
                kind: FailureKind::Lossy { ppm: p.0 },
                at_ps: 0,
                until_ps: None,
            }));
        }
        if n != nics {
            bad_input!(
                "{file}: field `runs[{i}].fabric.nics`: expected the scenario's {nics} NICs, got {n}"
            );
        }
        let qps = r.qps.unwrap_or(1);
        if qps == 0 || qps > 1024 {
            bad_input!("{file}: field `runs[{i}].qps`: expected 1..=1024, got {qps}");
        }
        let evs_per_plane = r.evs_per_plane.unwrap_or(32);
        if evs_per_plane == 0 {
            bad_input!("{file}: field `runs[{i}].evs_per_plane`: expected at least 1, got 0");
        }
        if let Some(t) = r.roce_timeout
            && t > 31
        {
            // The IB local ACK timeout is a 5-bit exponent (4.096 µs × 2^t).
            bad_input!("{file}: field `runs[{i}].roce_timeout`: expected 0..=31, got {t}");
        }
        let cc = match r.cc.as_deref() {
            None | Some("nscc") => CcName::Nscc,
            Some("dcqcn") => CcName::Dcqcn,
            Some(other) => bad_input!(
                "{file}: field `runs[{i}].cc`: expected \"nscc\" or \"dcqcn\", got {other:?}"
            ),
        };
        if cc != CcName::Nscc && r.transport == TransportName::Roce {
            bad_input!(
                "{file}: field `runs[{i}].cc`: applies to MRC runs (a RoCE run's CC is `dcqcn`)"
            );
        }
        let roce = r.transport == TransportName::Roce;
        let dcqcn = r.dcqcn.unwrap_or(true);
        let switch = switch_spec(
            sc.switch,
            r.switch,
            roce,
            roce && dcqcn,
            &file_s,
            &format!("runs[{i}].switch"),
        )?;
        let label = r.label.clone().unwrap_or_else(|| {
            if r.transport == TransportName::Roce {
                format!("roce-{qps}qp")
            } else if cc == CcName::Dcqcn {
                format!("{}-dcqcn", r.transport.as_str())
            } else {
                r.transport.as_str().to_string()
            }
        });
        let dcqcn_params = match r.dcqcn_params.unwrap_or_default().resolve() {
            Ok(c) => c,
            Err((field, want)) => {
                bad_input!("{file}: field `runs[{i}].dcqcn_params.{field}`: expected {want}")
            }
        };
        if let Some(red) = switch.red {
            if let (Some(lo), Some(hi)) = (red.kmin_bytes, red.kmax_bytes)
                && lo >= hi
            {
                bad_input!(
                    "{file}: field `red_kmax` (run {i}): expected more than red_kmin ({lo} B), got {hi} B"
                );
            }
            if red.pmax_ppm == 0 {
                bad_input!("{file}: field `red_pmax` (run {i}): expected a probability above 0");
            }
        }
        runs.push(Run {
            label,
            transport: r.transport,
            qps,
            dcqcn,
            dcqcn_params,
            roce_timeout: r.roce_timeout,
            roce_recovery: r.roce_recovery.map_or_else(Default::default, Into::into),
            evs_per_plane,
            qp_hint: r.qp_hint.unwrap_or(true),
            cc,
            net: NetSpec {
                fabric: fab,
                switch,
                mtu: mtu as u32,
                reconvergence_ps,
            },
            failures: run_failures,
        });
    }
    Ok(Loaded {
        estimate_bytes: budget::estimate(max_ports, flows.len() as u64 + dag_pairs, flow_pairs),
        name: sc.name,
        description: sc.description,
        claim: sc.claim,
        seed: sc.seed,
        max_time_ps: sc.max_time.map_or(1_000_000_000_000, |t| t.0),
        flows,
        triggers,
        runs,
        watch_flow: sc.watch_flow,
        failure_fields,
        dag,
    })
}

fn resolve(scenario: &Path, file: &str) -> PathBuf {
    let p = PathBuf::from(file);
    if p.is_absolute() {
        return p;
    }
    scenario.parent().map_or_else(|| p.clone(), |d| d.join(&p))
}
