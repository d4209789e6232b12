//! `mrc sim`: run a scenario (or the embedded default) with each of its transports on the
//! packet-level simulator and print the results side by side.

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use mrc_proto::LbMode;
use mrc_sim::roce::{RoceFactory, RoceSettings};
use mrc_sim::sim::dag::DagOutcome;
use mrc_sim::transports::{MrcCc, MrcFactory, MrcSettings};
use mrc_sim::{
    Partitions, Progress, RunReport, RunSpec, Sim, SimError, TransportFactory, Workload,
};

use crate::bad_input;
use crate::results::sim::{DroppedByClass, EvChange, Flows, Packets, Paths, SimResults, SimRun};
use crate::results::{PercentilesUs, round, us};
use crate::scenario::{self, CcName, Loaded, Run, TransportName};
use crate::workload_cfg;

/// The embedded default scenario (a copy of `scenarios/default.toml`).
const DEFAULT_SCENARIO: &str = include_str!("../../../scenarios/default.toml");

/// Flags of `mrc sim`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Scenario file (TOML). Without it, the embedded default scenario runs.
    scenario: Option<PathBuf>,
    /// Only run these transports (repeatable): mrc, roce or spray.
    #[arg(long = "transport", value_name = "NAME")]
    transports: Vec<String>,
    /// Seed (overrides the scenario's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Write the results as JSON to FILE (docs/architecture.md §4 shape). The same scenario and seed give
    /// byte-identical JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write a self-contained HTML report (summary, FCT CDF, throughput, EV states, link
    /// utilisation, queues; inline SVG, nothing fetched) to FILE.html.
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
    /// Write the packets seen at the --pcap-filter point as pcap (simulated time, real bytes:
    /// SRv6, UDP, MRC headers; trimmed packets cut short). With several runs each gets its own
    /// file: FILE with the run label added (trace-mrc.pcap). Read with tshark / Wireshark and
    /// tools/wireshark/mrc.lua.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Where --pcap captures: nic:N (what NIC N sends and receives; the default is nic:0),
    /// flow:N (what reaches the two ends of flow N), link:A-B (both directions of a cable; A, B
    /// = nicN or [pP.]tT.I, switch I of tier T in plane P, e.g. link:nic0-p1.t0.0).
    #[arg(long, value_name = "FILTER")]
    pcap_filter: Option<String>,
    /// Also put wall-clock figures (`wall_s`, `events_per_s`) into the JSON; they differ from
    /// run to run, so the file is then no longer byte-identical.
    #[arg(long, requires = "json")]
    timing: bool,
    #[arg(long, value_name = "N", help = crate::parallel::THREADS_HELP)]
    threads: Option<usize>,
}

/// Seconds between progress lines when stderr is not a terminal.
const PROGRESS_EVERY_S: u64 = 5;

pub(crate) fn run(args: &Args) -> Result<()> {
    // Refuse bad output paths before simulating.
    for (flag, p) in [("--json", &args.json), ("--report", &args.report)] {
        if let Some(p) = p {
            crate::output::check(flag, p)?;
        }
    }
    let (text, path) = match &args.scenario {
        Some(p) => (
            std::fs::read_to_string(p)
                .map_err(|e| crate::BadInput(format!("{}: cannot read: {e}", p.display())))?,
            p.clone(),
        ),
        None => (
            DEFAULT_SCENARIO.to_string(),
            PathBuf::from("scenarios/default.toml (embedded)"),
        ),
    };
    let mut sc = scenario::load(&text, &path)?;
    if let Some(s) = args.seed {
        sc.seed = s;
    }
    let mut wanted = Vec::new();
    for t in &args.transports {
        match t.as_str() {
            "mrc" => wanted.push(TransportName::Mrc),
            "roce" => wanted.push(TransportName::Roce),
            "spray" => wanted.push(TransportName::Spray),
            other => bad_input!("--transport {other}: expected mrc, roce or spray"),
        }
    }
    let runs: Vec<Run> = sc
        .runs
        .iter()
        .filter(|r| wanted.is_empty() || wanted.contains(&r.transport))
        .cloned()
        .collect();
    if runs.is_empty() {
        bad_input!(
            "--transport: the scenario {} has no run with the selected transports",
            path.display()
        );
    }
    let threads = crate::parallel::threads(args.threads)?;
    // Under mpirun with several ranks, every run splits over the ranks, one after another.
    let mut world = crate::ranks::start();
    let threads = match &world {
        Some(w) => {
            if w.rank() == 0 && args.threads.is_some() {
                eprintln!(
                    "note: --threads ignored: {} MPI ranks run each run, one partition per rank",
                    w.size()
                );
            }
            1
        }
        None => threads,
    };
    let mut cap =
        crate::capture::Capture::from_flags(args.pcap.as_deref(), args.pcap_filter.as_deref())?;
    if let Some(c) = &mut cap {
        c.per_run = runs.len() > 1;
        // Runs write their files at the same time: two must never share one.
        for (i, a) in runs.iter().enumerate() {
            if let Some(b) = runs[..i]
                .iter()
                .find(|b| c.file_for(&b.label) == c.file_for(&a.label))
            {
                bad_input!(
                    "--pcap {}: runs `{}` and `{}` would both write {}; give them distinct labels in {}",
                    c.path.display(),
                    b.label,
                    a.label,
                    c.file_for(&a.label).display(),
                    path.display()
                );
            }
        }
    }
    // Every run in flight and every partition of one holds a copy of the fabric and the QPs:
    // as many runs at once as fit, and the threads they leave over split each run into
    // partitions while those fit too (not with a packet capture, which writes one file in
    // event order).
    let fit = copies_fit(&sc);
    let at_once = fewer_if_needed(threads.min(runs.len()), fit, "runs at once", &sc);
    let parts = if cap.is_some() {
        1
    } else {
        fewer_if_needed(threads / at_once, fit / at_once, "partitions", &sc)
    };
    // Runs in flight at once share the process's peak RSS: then it is measured for all of them.
    let parallel = at_once > 1;
    let measured_all = parallel && crate::budget::reset_peak_rss();
    let job = |i: usize, world: Option<&mut crate::ranks::World>| {
        let r = &runs[i];
        let measured = !parallel && crate::budget::reset_peak_rss();
        let Some((mut out, p)) = run_one(&sc, r, &path, cap.as_ref(), &r.label, parts, world)?
        else {
            return Ok(None);
        };
        let Outcome::Done(_, _, rss) = &mut out;
        *rss = crate::budget::peak_rss_bytes().filter(|_| measured);
        Ok(Some((out, p)))
    };
    let outs: Vec<Result<_>> = match world.as_mut() {
        Some(w) => {
            let mut outs = Vec::new();
            for i in 0..runs.len() {
                let o = job(i, Some(&mut *w));
                let failed = o.is_err();
                outs.extend(o.transpose());
                if failed {
                    break;
                }
            }
            if w.rank() != 0 {
                // Rank 0 reports; the others only ran their partitions.
                return outs.into_iter().find_map(Result::err).map_or(Ok(()), Err);
            }
            outs
        }
        None => crate::parallel::run_ordered(runs.len(), at_once, |i| {
            job(i, None).map(|o| o.expect("without MPI ranks every run returns its report"))
        }),
    };
    let peak_all = crate::budget::peak_rss_bytes().filter(|_| measured_all);
    let mut results: Vec<(Run, Outcome)> = Vec::new();
    let mut pcaps: Vec<crate::capture::Pending> = Vec::new();
    let mut failure = None;
    for (r, o) in runs.into_iter().zip(outs) {
        match o {
            Ok((out, p)) => {
                pcaps.extend(p);
                results.push((r, out));
            }
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failure {
        pcaps.iter().for_each(crate::capture::Pending::discard);
        return Err(e);
    }
    for p in &pcaps {
        p.commit()?;
        println!("pcap: {} packets -> {}", p.packets, p.path.display());
    }
    print!("{}", summary(&sc, &results));
    if let Some(b) = peak_all {
        println!(
            "peak RSS of all runs (up to {} at once): {:.0} MiB",
            at_once,
            b as f64 / 1048576.0
        );
    }
    if args.json.is_none() && args.report.is_none() {
        return Ok(());
    }
    let doc = SimResults {
        claim: sc.claim.trim().to_string(),
        description: sc.description.trim().to_string(),
        peak_rss_bytes: peak_all.filter(|_| args.timing),
        runs: results
            .iter()
            .map(|(r, out)| to_run(&sc, r, out, args.timing))
            .collect(),
        scenario: sc.name.clone(),
        scenario_toml: Some(text),
        seed: sc.seed,
    };
    if let Some(j) = &args.json {
        let s = crate::report::data::to_text(&doc)?;
        crate::output::write_atomic("--json", j, s.as_bytes())?;
    }
    if let Some(out) = &args.report {
        let d = crate::report::Doc {
            source: format!("mrc sim {}", path.display()),
            results: doc,
        };
        let html = crate::report::render(std::slice::from_ref(&d))?;
        crate::output::write_atomic("--report", out, html.as_bytes())?;
        println!("report: {}", out.display());
    }
    Ok(())
}

/// Runs `r` of a loaded scenario and returns its `--json` run (without wall-clock figures), as
/// `mrc sweep` keeps each grid point; progress lines on stderr start with `tag`.
pub(crate) fn run_to_result(sc: &Loaded, r: &Run, path: &Path, tag: &str) -> Result<SimRun> {
    let out = run_one(sc, r, path, None, tag, 1, None)?;
    let (out, _) = out.expect("without MPI ranks every run returns its report");
    Ok(to_run(sc, r, &out, false))
}

enum Outcome {
    /// The report, what happened to a DAG workload, and the process's peak RSS during the run.
    Done(Box<RunReport>, Option<Box<DagOutcome>>, Option<u64>),
}

fn spec(sc: &Loaded, r: &Run) -> RunSpec {
    RunSpec {
        net: r.net,
        workload: Workload {
            flows: sc.flows.clone(),
            triggers: sc.triggers.clone(),
        },
        failures: r.failures.clone(),
        seed: sc.seed,
        max_time_ps: sc.max_time_ps,
    }
}

type Captured = Option<crate::capture::Pending>;

/// How many copies of a run (runs in flight, and partitions of each) fit in memory.
fn copies_fit(sc: &Loaded) -> usize {
    let Some(machine) = crate::budget::machine_bytes() else {
        return usize::MAX;
    };
    // The estimate is about half the measured peak RSS at full scale (6.4 GiB against 11.8
    // GiB for full-scale-perm's MRC run), so a copy is charged twice it, and all of them
    // three quarters of the machine at most.
    let each = sc.estimate_bytes.saturating_mul(2).max(1);
    usize::try_from(machine / 4 * 3 / each).unwrap_or(usize::MAX)
}

/// `wanted` copies (runs at once or partitions), or as many as `fit` (at least one), saying
/// so on stderr when that is fewer.
fn fewer_if_needed(wanted: usize, fit: usize, what: &str, sc: &Loaded) -> usize {
    let n = wanted.min(fit).max(1);
    if n < wanted {
        eprintln!(
            "note: {wanted} {what} of about {} MiB each would not fit in memory; running {n}",
            sc.estimate_bytes.saturating_mul(2) >> 20
        );
    }
    n
}

/// Runs `r` split into `parts` partitions where it can be, or over the MPI ranks of `world`
/// (then only rank 0 returns the outcome); progress lines on stderr start with `tag`.
fn run_one(
    sc: &Loaded,
    r: &Run,
    path: &Path,
    cap: Option<&crate::capture::Capture>,
    tag: &str,
    parts: usize,
    world: Option<&mut crate::ranks::World>,
) -> Result<Option<(Outcome, Captured)>> {
    let s = spec(sc, r);
    match r.transport {
        TransportName::Mrc | TransportName::Spray => {
            let f = MrcFactory(MrcSettings {
                lb: if r.transport == TransportName::Mrc {
                    LbMode::Adaptive
                } else {
                    LbMode::Oblivious
                },
                active_per_plane: r.evs_per_plane,
                qp_hint: r.qp_hint,
                cc: match r.cc {
                    CcName::Nscc => MrcCc::Nscc,
                    CcName::Dcqcn => MrcCc::Dcqcn(r.dcqcn_params),
                },
                ..MrcSettings::default()
            });
            drive(s, f, sc, r, path, cap, tag, parts, world).map(done)
        }
        TransportName::Roce => {
            let f = RoceFactory(RoceSettings {
                qps: r.qps,
                dcqcn: r.dcqcn,
                timeout: r.roce_timeout,
                dcqcn_params: r.dcqcn_params,
                recovery: r.roce_recovery,
            });
            drive(s, f, sc, r, path, cap, tag, parts, world).map(done)
        }
    }
}

/// The outcome of a run `drive` returned, if this process reports it.
fn done(d: Option<Driven>) -> Option<(Outcome, Captured)> {
    d.map(|(rep, o, p)| (Outcome::Done(Box::new(rep), o, None), p))
}

/// What `drive` returns: the report, a DAG workload's outcome, the packet capture.
type Driven = (RunReport, Option<Box<DagOutcome>>, Captured);

#[allow(clippy::too_many_arguments, reason = "one call site per transport")]
fn drive<F>(
    s: RunSpec,
    f: F,
    sc: &Loaded,
    r: &Run,
    path: &Path,
    cap: Option<&crate::capture::Capture>,
    tag: &str,
    parts: usize,
    world: Option<&mut crate::ranks::World>,
) -> Result<Option<Driven>>
where
    F: TransportFactory + Clone,
    Sim<F>: Send,
{
    let reports = world.as_deref().is_none_or(|w| w.rank() == 0);
    // Whether the run splits over MPI ranks: a packet capture writes one file in event order,
    // so its run stays whole (on rank 0), as does a DAG workload.
    let over_ranks = world.is_some() && cap.is_none() && sc.dag.is_none();
    let built = match (&sc.dag, world.as_deref()) {
        (Some(b), _) => {
            Sim::with_dag(s, f, b.workload.clone()).map(|s| (Partitions::whole(s), None))
        }
        (None, Some(w)) if over_ranks => w.split(s, f),
        (None, _) => Partitions::new(s, f, parts),
    };
    let (mut sim, whole) = match built {
        Ok(sim) => sim,
        Err(SimError::BadFailure { index, msg }) => {
            let field = sc
                .failure_fields
                .get(index)
                .cloned()
                .unwrap_or_else(|| format!("failures[{index}]"));
            bad_input!("{}: field `{field}`: {msg}", path.display())
        }
        Err(e @ SimError::BadWorkload(_)) => bad_input!("{}: {e}", path.display()),
        Err(e @ SimError::Fabric(_)) => {
            bad_input!("{}: field `fabric` (run {}): {e}", path.display(), r.label)
        }
        Err(e) => return Err(e.into()),
    };
    match (whole, world.as_deref()) {
        (Some(why), _) if reports => eprintln!("note: {tag}: runs as one partition: {why}"),
        (None, Some(w)) if reports && over_ranks => {
            eprintln!("{tag}: {} partitions, one MPI rank each", w.size());
        }
        (None, None) if sim.len() > 1 => {
            eprintln!("{tag}: {} partitions, one thread each", sim.len());
        }
        _ => {}
    }
    let pending = cap
        .filter(|_| reports)
        .map(|c| c.start(sim.first_mut(), &r.label))
        .transpose()?;
    if let Some(w) = sc.watch_flow {
        sim.watch_ev_changes(w as u32);
    }
    let tty = std::io::stderr().is_terminal();
    let mut last = 0u64;
    let started = std::time::Instant::now();
    let mut last_line = started;
    let mut progress = |p: Progress| {
        if p.events < last + (1 << 20) {
            return;
        }
        last = p.events;
        let line = format!(
            "{tag}: {}/{} flows, {:.1} µs simulated, {} events",
            p.flows_done,
            p.flows_total,
            p.sim_time_ps as f64 / 1e6,
            p.events
        );
        if tty {
            eprint!("\r{line}   ");
        } else if last_line.elapsed().as_secs() >= PROGRESS_EVERY_S {
            // Logs and CI: a line every few seconds, so a long run is visibly alive.
            last_line = std::time::Instant::now();
            eprintln!("{line} ({:.0} s)", started.elapsed().as_secs_f64());
        }
    };
    let report = match world {
        Some(w) => w.run(&mut sim, &mut progress),
        None => Some(sim.run(&mut progress)),
    };
    let Some(report) = report else {
        return Ok(None);
    };
    if tty {
        eprint!("\r\x1b[2K");
    }
    let pending = pending.map(|p| p.finish(sim.first_mut())).transpose()?;
    Ok(Some((
        report,
        sim.first().dag_outcome().map(Box::new),
        pending,
    )))
}

fn watched(sc: &Loaded, rep: &RunReport) -> Option<f64> {
    let w = sc.watch_flow?;
    rep.fcts_ps.get(w).copied().flatten().map(us)
}

fn summary(sc: &Loaded, results: &[(Run, Outcome)]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "scenario {} (seed {})", sc.name, sc.seed);
    if !sc.description.is_empty() {
        let _ = writeln!(o, "  {}", sc.description.trim());
    }
    if !sc.claim.is_empty() {
        let _ = writeln!(o, "  paper: {}", sc.claim.trim());
    }
    let _ = writeln!(o);
    let mut rows: Vec<(&str, Vec<String>)> = vec![
        ("flows done", vec![]),
        ("FCT p50 (µs)", vec![]),
        ("FCT p99 (µs)", vec![]),
        ("FCT max (µs)", vec![]),
        ("watched flow FCT (µs)", vec![]),
        ("goodput fraction", vec![]),
        ("data intact", vec![]),
        ("packets sent", vec![]),
        ("retransmitted", vec![]),
        ("trimmed", vec![]),
        ("spurious rtx", vec![]),
        ("dropped data/ctrl/trim/link", vec![]),
        ("ECN-marked", vec![]),
        ("EVs retired/resurr.", vec![]),
        ("probes sent", vec![]),
        ("simulated (µs)", vec![]),
        ("wall (s)", vec![]),
        ("events/s (M)", vec![]),
        ("peak RSS (MiB)", vec![]),
        ("RSS per NIC (KiB)", vec![]),
    ];
    let mut heads = Vec::new();
    for (r, out) in results {
        heads.push(r.label.clone());
        let Outcome::Done(rep, _, rss) = out;
        let vals: Vec<String> = {
            vec![
                if rep.flows_failed > 0 {
                    format!(
                        "{}/{} ({} failed)",
                        rep.flows, rep.flows_total, rep.flows_failed
                    )
                } else {
                    format!("{}/{}", rep.flows, rep.flows_total)
                },
                format!("{:.1}", us(rep.fct_ps.p50)),
                format!("{:.1}", us(rep.fct_ps.p99)),
                format!("{:.1}", us(rep.fct_ps.max)),
                watched(sc, rep).map_or_else(|| "-".into(), |v| format!("{v:.1}")),
                rep.goodput_fraction
                    .map_or_else(|| "-".into(), |g| format!("{g:.3}")),
                if rep.data_intact { "yes" } else { "NO" }.to_string(),
                rep.packets_sent.to_string(),
                rep.retransmitted.to_string(),
                rep.trimmed.to_string(),
                rep.spurious_retransmits.to_string(),
                format!(
                    "{}/{}/{}/{}",
                    rep.switches.dropped_data,
                    rep.switches.dropped_control,
                    rep.switches.dropped_trimmed,
                    rep.dropped_link
                ),
                rep.ecn_marked.to_string(),
                format!("{}/{}", rep.ev_retired, rep.ev_resurrected),
                rep.probes_sent.to_string(),
                format!("{:.1}", us(rep.sim_time_ps)),
                format!("{:.2}", rep.wall_s),
                format!("{:.2}", rep.events as f64 / rep.wall_s.max(1e-9) / 1e6),
                rss.map_or_else(|| "-".into(), |b| format!("{:.0}", b as f64 / 1048576.0)),
                rss.map_or_else(
                    || "-".into(),
                    |b| format!("{:.1}", b as f64 / 1024.0 / f64::from(rep.nics.max(1))),
                ),
            ]
        };
        for (row, v) in rows.iter_mut().zip(vals) {
            row.1.push(v);
        }
    }
    if sc.dag.is_some() {
        rows.retain(|r| !r.0.starts_with("FCT"));
    }
    if sc.watch_flow.is_none() {
        rows.retain(|r| !r.0.starts_with("watched"));
    }
    let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..heads.len())
        .map(|i| {
            rows.iter()
                .map(|r| r.1[i].len())
                .chain([heads[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let _ = write!(o, "{:w0$}", "");
    for (h, w) in heads.iter().zip(&widths) {
        let _ = write!(o, "  {h:>w$}");
    }
    let _ = writeln!(o);
    for (name, vals) in &rows {
        let pad = w0 - name.chars().count();
        let _ = write!(o, "{name}{:pad$}", "");
        for (v, w) in vals.iter().zip(&widths) {
            let _ = write!(o, "  {v:>w$}");
        }
        let _ = writeln!(o);
    }
    if let Some(b) = &sc.dag {
        for (r, out) in results {
            let Outcome::Done(rep, Some(d), _) = out else {
                continue;
            };
            let _ = writeln!(o);
            let job = workload_cfg::job_summary(b, d, rep, &r.failures);
            o.push_str(&workload_cfg::text(&r.label, b, d, job.as_ref()));
        }
    }
    o
}

/// The `--json` object of run `r`; wall-clock and RSS figures only with `timing`.
fn to_run(sc: &Loaded, r: &Run, out: &Outcome, timing: bool) -> SimRun {
    let Outcome::Done(rep, dag, rss) = out;
    let rss = rss.filter(|_| timing);
    let dag = sc.dag.as_ref().zip(dag.as_deref());
    SimRun {
        bytes_delivered: rep.bytes_delivered,
        bytes_expected: rep.bytes_expected,
        collectives: dag.map(|(b, o)| workload_cfg::collectives(b, o)),
        data_intact: rep.data_intact,
        events: rep.events,
        events_per_s: timing.then(|| round(rep.events as f64 / rep.wall_s.max(1e-9), 0)),
        flows: Flows {
            count: rep.flows,
            // Only when some failed, so runs without errors keep their shape.
            failed: (rep.flows_failed > 0).then_some(rep.flows_failed),
            fct_us: PercentilesUs {
                max: us(rep.fct_ps.max),
                p50: us(rep.fct_ps.p50),
                p99: us(rep.fct_ps.p99),
            },
            total: rep.flows_total,
        },
        goodput_fraction: rep.goodput_fraction.map(|g| round(g, 4)),
        job: dag
            .and_then(|(b, o)| workload_cfg::job_summary(b, o, rep, &r.failures))
            .map(|j| workload_cfg::job(&j)),
        label: r.label.clone(),
        packets: Packets {
            dropped: rep.dropped,
            dropped_by_class: Some(DroppedByClass {
                control: rep.switches.dropped_control,
                data: rep.switches.dropped_data,
                link: rep.dropped_link,
                trimmed_header: rep.switches.dropped_trimmed,
            }),
            ecn_marked: rep.ecn_marked,
            retransmitted: rep.retransmitted,
            sent: rep.packets_sent,
            spurious_retransmits: Some(rep.spurious_retransmits),
            trimmed: rep.trimmed,
        },
        paths: Paths {
            ev_resurrected: rep.ev_resurrected,
            ev_retired: rep.ev_retired,
            probes_sent: Some(rep.probes_sent),
        },
        peak_rss_bytes: rss,
        peak_rss_per_nic_bytes: rss.map(|b| b / u64::from(rep.nics.max(1))),
        sim_time_us: us(rep.sim_time_ps),
        timeline: Some(crate::report::data::timeline(rep, &r.failures)),
        transport: r.transport.as_str().to_string(),
        wall_s: timing.then(|| round(rep.wall_s, 3)),
        watched_flow_ev_changes: sc.watch_flow.map(|_| {
            rep.watched_ev_changes
                .iter()
                .map(|c| EvChange {
                    ev: c.ev,
                    good: c.good,
                    t_us: us(c.at_ps),
                })
                .collect()
        }),
        watched_flow_fct_us: watched(sc, rep),
    }
}
