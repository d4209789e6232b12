//! The `[workload]` kinds of scenario files that run a `mrc-workload` DAG on the simulator:
//! `collective` (an nccl-tests style size sweep), `training` (a job model, several steps, with
//! failure accounting) and `chakra` (a Chakra execution trace). Parsing, building the DAG, and
//! rendering the `collectives` / `job` results (text and JSON).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use mrc_sim::failure::{Failure, Target};
use mrc_sim::sim::dag::{DagOutcome, DagWorkload};
use mrc_sim::units::{RateStr, SizeStr, TimeStr};
use mrc_sim::{RunReport, Time};
use mrc_workload::chakra::{ConvertOptions, Trace};
use mrc_workload::collective::{Algorithm, Collective, CollectiveError, CollectiveKind};
use mrc_workload::dag::{Dag, OpKind, ScaleUp};
use mrc_workload::failure::{RestartCost, percentiles};
use mrc_workload::nccl::{self, NcclRow};
use mrc_workload::placement::Placement;
use mrc_workload::training::{JobConfig, JobDag, JobOverrides, StepDagError};
use serde::Deserialize;

use crate::results::sim::{Collective as CollectiveResult, Job, JobFailure};
use crate::results::{PercentilesUs, round, us};
use crate::{bad_input, budget};

/// `kind = "collective"`.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct CollectiveCfg {
    collective: String,
    algorithm: Option<String>,
    ranks: Option<u32>,
    gpus_per_node: Option<u32>,
    scale_up_group: Option<u32>,
    sizes: Option<Vec<SizeStr>>,
    min_size: Option<SizeStr>,
    max_size: Option<SizeStr>,
    factor: Option<u64>,
    iterations: Option<u32>,
    scale_up_speed: Option<RateStr>,
    scale_up_latency: Option<TimeStr>,
}

/// `kind = "training"`.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrainingCfg {
    config: String,
    steps: Option<u32>,
    checkpoint_interval_steps: Option<u64>,
    detect_time: Option<TimeStr>,
    restart_time: Option<TimeStr>,
    reload_time: Option<TimeStr>,
    #[serde(default)]
    overrides: JobOverrides,
    scale_up_speed: Option<RateStr>,
    scale_up_latency: Option<TimeStr>,
}

/// `kind = "chakra"`.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChakraCfg {
    trace: String,
    ranks: Option<u32>,
    gpus_per_node: Option<u32>,
    include_compute: Option<bool>,
    algorithm: Option<String>,
    all_to_all: Option<String>,
    use_ctrl_deps: Option<bool>,
    scale_up_speed: Option<RateStr>,
    scale_up_latency: Option<TimeStr>,
}

/// What a DAG workload is, for rendering its results.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// A size sweep of one collective (nccl-tests rows).
    Collective,
    /// A training job.
    Training {
        /// The job DAG (step barriers).
        job: Box<JobDag>,
        /// Config name.
        name: String,
        /// Steps asked for.
        steps: u32,
        /// Checkpoint every this many steps.
        checkpoint_interval_steps: u64,
        /// Restart cost after a crash.
        restart: RestartCost,
    },
    /// A Chakra trace.
    Chakra,
}

/// A built DAG workload.
#[derive(Clone, Debug)]
pub(crate) struct Built {
    pub(crate) kind: Kind,
    pub(crate) workload: DagWorkload,
}

fn scale_up(speed: Option<RateStr>, latency: Option<TimeStr>) -> ScaleUp {
    let d = ScaleUp::default();
    ScaleUp {
        latency_ns: latency.map_or(d.latency_ns, |t| t.0 / 1000),
        bandwidth_bytes_per_s: speed.map_or(d.bandwidth_bytes_per_s, |r| {
            u64::from(r.0) * 1_000_000_000 / 8
        }),
    }
}

fn nics_of(dag: &Dag, placement: &Placement, ranks: u32) -> Vec<u32> {
    let _ = dag;
    (0..ranks).map(|r| placement.nic(r)).collect()
}

/// Refuses, before the DAG is built, `ranks` that need more NICs than the fabric has (one NIC
/// per GPU) or a DAG of at least `ops` operations beyond the memory bound.
fn check_size(file: &str, field: &str, ranks: u64, nics: u32, ops: u64) -> Result<()> {
    if ranks > u64::from(nics) {
        bad_input!(
            "{file}: field `{field}`: {ranks} ranks need {ranks} NICs (one per GPU), the fabric has {nics} (field `fabric.nics`)"
        );
    }
    budget::check(
        file,
        field,
        &format!("a DAG of at least {ops} operations"),
        ops.saturating_mul(budget::OP_BYTES),
    )
}

fn check_nics(file: &str, nic_of_rank: &[u32], nics: u32) -> Result<()> {
    if let Some(m) = nic_of_rank.iter().max()
        && *m >= nics
    {
        bad_input!(
            "{file}: field `workload`: {} ranks need {} NICs (one per GPU, rail-aligned), the fabric has {nics} (field `fabric.nics`)",
            nic_of_rank.len(),
            m + 1
        );
    }
    Ok(())
}

/// Builds a collective sweep.
pub(crate) fn collective(c: &CollectiveCfg, nics: u32, file: &str) -> Result<Built> {
    let kind: CollectiveKind = match c.collective.parse() {
        Ok(k) => k,
        Err(_) => bad_input!(
            "{file}: field `workload.collective`: unknown collective `{}`: expected one of all-reduce, reduce-scatter, all-gather, all-to-all, broadcast, send-recv",
            c.collective
        ),
    };
    let algorithm: Algorithm = match &c.algorithm {
        None => kind.default_algorithm(),
        Some(a) => match a.parse() {
            Ok(a) => a,
            Err(_) => bad_input!(
                "{file}: field `workload.algorithm`: unknown algorithm `{a}`: expected ring, halving-doubling, pairwise, direct, hierarchical or p2p"
            ),
        },
    };
    let g = c.gpus_per_node.unwrap_or(1);
    if g == 0 {
        bad_input!("{file}: field `workload.gpus_per_node`: expected at least 1, got 0");
    }
    let ranks = c.ranks.unwrap_or(nics);
    let sizes: Vec<u64> = match (&c.sizes, c.min_size, c.max_size) {
        (Some(s), None, None) => s.iter().map(|s| s.0).collect(),
        (None, Some(lo), Some(hi)) => {
            if hi.0 < lo.0 {
                bad_input!("{file}: field `workload.max_size`: expected ≥ `min_size`");
            }
            let f = c.factor.unwrap_or(2);
            if f < 2 {
                bad_input!("{file}: field `workload.factor`: expected at least 2, got {f}");
            }
            nccl::sweep_sizes(lo.0, hi.0, f)
        }
        _ => bad_input!(
            "{file}: field `workload.sizes`: give `sizes = [\"4MB\", …]` or both `min_size` and `max_size`"
        ),
    };
    if sizes.is_empty() {
        bad_input!("{file}: field `workload.sizes`: expected at least one size");
    }
    if let Some(i) = sizes.iter().position(|&s| s == 0) {
        bad_input!("{file}: field `workload.sizes[{i}]`: expected a size > 0, got 0");
    }
    let iterations = c.iterations.unwrap_or(1);
    if iterations == 0 {
        bad_input!("{file}: field `workload.iterations`: expected at least 1, got 0");
    }
    if let Some(i) = sizes.iter().position(|&s| s > budget::MAX_FLOW_BYTES) {
        bad_input!(
            "{file}: field `workload.sizes[{i}]`: expected at most {} bytes (1 PiB), got {}",
            budget::MAX_FLOW_BYTES,
            sizes[i]
        );
    }
    // Every rank does at least one operation per collective.
    let ops = (sizes.len() as u64)
        .saturating_mul(u64::from(iterations))
        .saturating_mul(u64::from(ranks));
    check_size(file, "workload.ranks", u64::from(ranks), nics, ops)?;
    let members: Vec<u32> = if kind == CollectiveKind::SendRecv {
        vec![0, ranks.saturating_sub(1)]
    } else {
        (0..ranks).collect()
    };
    let mut t = match Collective::with_algorithm(kind, algorithm, members, sizes[0]) {
        Ok(t) => t,
        Err(e) => bad_input!("{file}: field `workload`: {e}"),
    };
    if algorithm == Algorithm::Hierarchical {
        t = match t.with_scale_up_group(c.scale_up_group.unwrap_or(g)) {
            Ok(t) => t,
            Err(e) => bad_input!("{file}: field `workload.scale_up_group`: {e}"),
        };
    }
    let mut dag = match nccl::sweep_dag(&t, &sizes, iterations) {
        Ok(d) => d,
        Err(e) => bad_input!("{file}: field `workload`: {e}"),
    };
    let placement = match Placement::rail_aligned(g) {
        Ok(p) => p,
        Err(e) => bad_input!("{file}: field `workload.gpus_per_node`: {e}"),
    };
    dag.place(&placement);
    let nic_of_rank = nics_of(&dag, &placement, ranks);
    check_nics(file, &nic_of_rank, nics)?;
    Ok(Built {
        kind: Kind::Collective,
        workload: DagWorkload {
            dag,
            nic_of_rank,
            scale_up: scale_up(c.scale_up_speed, c.scale_up_latency),
        },
    })
}

/// Builds a training job.
pub(crate) fn training(
    c: &TrainingCfg,
    nics: u32,
    seed: u64,
    scenario: &Path,
    file: &str,
) -> Result<Built> {
    let cfg = match JobConfig::builtin(&c.config) {
        Some(Ok(cfg)) => cfg,
        Some(Err(e)) => bad_input!(
            "{file}: field `workload.config`: built-in `{}`: {e}",
            c.config
        ),
        None => {
            let p = resolve(scenario, &c.config);
            match JobConfig::from_file(&p) {
                Ok(cfg) => cfg,
                Err(e) => bad_input!(
                    "{file}: field `workload.config`: expected a built-in name (dense-400b, moe, omni-proxy) or a JobConfig TOML file: {}: {e}",
                    p.display()
                ),
            }
        }
    };
    let cfg = match cfg.with_overrides(&c.overrides) {
        Ok(c) => c,
        Err(e) => bad_input!("{file}: field `workload.overrides`: {e}"),
    };
    if let Err(e) = cfg.validate() {
        bad_input!("{file}: field `workload` (config `{}`): {e}", c.config);
    }
    let steps = c.steps.unwrap_or(3);
    if steps == 0 {
        bad_input!("{file}: field `workload.steps`: expected at least 1, got 0");
    }
    let interval = c.checkpoint_interval_steps.unwrap_or(100);
    if interval == 0 {
        bad_input!(
            "{file}: field `workload.checkpoint_interval_steps`: expected at least 1, got 0"
        );
    }
    // Every rank does at least one operation per micro-batch of every step.
    let ops = u64::from(steps)
        .saturating_mul(u64::from(cfg.gpus))
        .saturating_mul(u64::from(cfg.micro_batches_per_step));
    check_size(file, "workload.config", u64::from(cfg.gpus), nics, ops)?;
    let job = match cfg.job_dag_within(steps, seed, budget::max_dag_ops()) {
        Ok(j) => j,
        Err(StepDagError::Collective(CollectiveError::DagFull(f))) => bad_input!(
            "{file}: field `workload.config`: `{}` over {} GPUs × {steps} steps needs more than {} DAG operations, more than fit in this machine's memory (about {} GiB); use fewer `workload.steps` or a smaller config",
            c.config,
            cfg.gpus,
            f.max_ops,
            budget::dag_bytes(f.max_ops) >> 30
        ),
        Err(e) => bad_input!("{file}: field `workload` (config `{}`): {e}", c.config),
    };
    let nic_of_rank: Vec<u32> = (0..job.ranks).map(|r| job.placement.nic(r)).collect();
    check_nics(file, &nic_of_rank, nics)?;
    let d = RestartCost::default();
    let restart = RestartCost {
        detect_ns: c.detect_time.map_or(d.detect_ns, |t| t.0 / 1000),
        restart_ns: c.restart_time.map_or(d.restart_ns, |t| t.0 / 1000),
        reload_ns: c.reload_time.map_or(d.reload_ns, |t| t.0 / 1000),
    };
    Ok(Built {
        workload: DagWorkload {
            dag: job.dag.clone(),
            nic_of_rank,
            scale_up: scale_up(c.scale_up_speed, c.scale_up_latency),
        },
        kind: Kind::Training {
            name: cfg.name.clone(),
            job: Box::new(job),
            steps,
            checkpoint_interval_steps: interval,
            restart,
        },
    })
}

/// Builds a Chakra trace workload.
pub(crate) fn chakra(c: &ChakraCfg, nics: u32, scenario: &Path, file: &str) -> Result<Built> {
    let p = resolve(scenario, &c.trace);
    let trace = match Trace::read(&p) {
        Ok(t) => t,
        Err(e) => bad_input!("{file}: field `workload.trace`: {e}"),
    };
    let d = ConvertOptions::default();
    let alg = |field: &str, v: &Option<String>, def: Algorithm| -> Result<Algorithm> {
        match v {
            None => Ok(def),
            Some(a) => match a.parse() {
                Ok(a) => Ok(a),
                Err(_) => bad_input!("{file}: field `workload.{field}`: unknown algorithm `{a}`"),
            },
        }
    };
    let ranks = c.ranks.unwrap_or(d.ranks);
    if ranks < 2 {
        bad_input!("{file}: field `workload.ranks`: expected at least 2, got {ranks}");
    }
    let comm = match trace.comm_nodes() {
        Ok(c) => c,
        Err(e) => bad_input!("{file}: field `workload.trace`: {}: {e}", p.display()),
    };
    if let Some(n) = comm.iter().find(|n| n.size_bytes > budget::MAX_FLOW_BYTES) {
        bad_input!(
            "{file}: field `workload.trace`: {}: node {}: comm_size {} exceeds {} bytes (1 PiB)",
            p.display(),
            n.id,
            n.size_bytes,
            budget::MAX_FLOW_BYTES
        );
    }
    // Every rank takes part in every collective at least once.
    let ops = (comm.len() as u64).saturating_mul(u64::from(ranks));
    check_size(file, "workload.ranks", u64::from(ranks), nics, ops)?;
    let opts = ConvertOptions {
        ranks,
        include_compute: c.include_compute.unwrap_or(d.include_compute),
        algorithm: alg("algorithm", &c.algorithm, d.algorithm)?,
        all_to_all: alg("all_to_all", &c.all_to_all, d.all_to_all)?,
        use_ctrl_deps: c.use_ctrl_deps.unwrap_or(d.use_ctrl_deps),
    };
    let conv = match trace.to_dag(&opts) {
        Ok(c) => c,
        Err(e) => bad_input!("{file}: field `workload.trace`: {}: {e}", p.display()),
    };
    let g = c.gpus_per_node.unwrap_or(1);
    let placement = match Placement::rail_aligned(g) {
        Ok(p) => p,
        Err(e) => bad_input!("{file}: field `workload.gpus_per_node`: {e}"),
    };
    let mut dag = conv.dag;
    dag.place(&placement);
    let nic_of_rank = nics_of(&dag, &placement, ranks);
    check_nics(file, &nic_of_rank, nics)?;
    Ok(Built {
        kind: Kind::Chakra,
        workload: DagWorkload {
            dag,
            nic_of_rank,
            scale_up: scale_up(c.scale_up_speed, c.scale_up_latency),
        },
    })
}

fn resolve(scenario: &Path, file: &str) -> PathBuf {
    let p = PathBuf::from(file);
    if p.is_absolute() {
        return p;
    }
    scenario.parent().map_or_else(|| p.clone(), |d| d.join(&p))
}

// ------------------------------------------------------------------ results

/// Per collective: name, start and end in ps (end `None` when unfinished).
fn collective_times(dag: &Dag, o: &DagOutcome) -> Vec<(String, Time, Option<Time>)> {
    dag.collectives
        .iter()
        .map(|rec| {
            let (a, b) = (rec.first_op as usize, rec.end_op as usize);
            let start = (a..=b.min(o.start_ps.len().saturating_sub(1)))
                .filter(|&i| !matches!(dag.ops[i].kind, OpKind::Marker))
                .filter_map(|i| o.start_ps[i])
                .min()
                .unwrap_or(0);
            (
                rec.name.clone(),
                start,
                o.finish_ps.get(b).copied().flatten(),
            )
        })
        .collect()
}

/// nccl-tests rows of the completed prefix of a sweep.
pub(crate) fn nccl_rows(b: &Built, o: &DagOutcome) -> Vec<NcclRow> {
    let dag = &b.workload.dag;
    let ends: Vec<u64> = collective_times(dag, o)
        .into_iter()
        .map_while(|(_, _, e)| e.map(|e| e / 1000))
        .collect();
    let mut prefix = dag.clone();
    prefix.collectives.truncate(ends.len());
    nccl::sweep_rows(&prefix, &ends)
}

/// Job figures of a training run.
#[derive(Clone, Debug)]
pub(crate) struct JobSummary {
    steps: u32,
    completed: u32,
    step_ns: Vec<u64>,
    crashed: bool,
    hung: bool,
    crash_at_ps: Option<Time>,
    failures: Vec<JobFailure>,
    ettr: f64,
    wall_ns: u64,
    lost_steps: u64,
}

fn failure_name(f: &Failure) -> String {
    let what = match f.target {
        Target::T0Uplink { plane, t0, uplink } => {
            format!("T0 {t0} uplink {uplink} (plane {plane})")
        }
        Target::Switch { plane, tier, index } => {
            format!("T{tier} switch {index} (plane {plane})")
        }
        Target::NicLane { nic, plane } => format!("NIC {nic} lane {plane}"),
        Target::Plane { plane } => format!("plane {plane}"),
    };
    format!("{what} {}", f.kind.what())
}

/// Step times, failure outcomes and the effective training time fraction of a training run.
pub(crate) fn job_summary(
    b: &Built,
    o: &DagOutcome,
    rep: &RunReport,
    failures: &[Failure],
) -> Option<JobSummary> {
    let Kind::Training {
        job,
        steps,
        checkpoint_interval_steps,
        restart,
        ..
    } = &b.kind
    else {
        return None;
    };
    // Step ends in ns (only finished steps).
    let ends: Vec<u64> = job
        .step_end
        .iter()
        .map_while(|&e| {
            o.finish_ps
                .get(e as usize)
                .copied()
                .flatten()
                .map(|t| t / 1000)
        })
        .collect();
    let completed = ends.len() as u32;
    let mut prev = 0;
    let step_ns: Vec<u64> = ends
        .iter()
        .map(|&e| {
            let d = e - prev;
            prev = e;
            d
        })
        .collect();
    let crashed = o.failed.is_some();
    let crash_at_ps = o.failed.map(|f| f.0);
    // Baseline (failure-free) step: the fastest step that ended before the first failure
    // started (else the fastest step).
    let step_of = |t_ns: u64| ends.iter().position(|&e| t_ns < e);
    let first_fail_ns = failures
        .iter()
        .map(|f| f.at_ps / 1000)
        .min()
        .unwrap_or(u64::MAX);
    let before: Vec<u64> = step_ns
        .iter()
        .zip(&ends)
        .filter(|(_, e)| **e <= first_fail_ns)
        .map(|(s, _)| *s)
        .collect();
    let base = before
        .iter()
        .chain(if before.is_empty() {
            step_ns.iter()
        } else {
            [].iter()
        })
        .copied()
        .min()
        .unwrap_or(0);
    let restart_ns = restart.detect_ns + restart.restart_ns + restart.reload_ns;
    let kept = if crashed {
        u64::from(completed) / checkpoint_interval_steps * checkpoint_interval_steps
    } else {
        u64::from(completed)
    };
    let lost_steps = u64::from(completed) - kept;
    let end_ns = rep.sim_time_ps / 1000;
    let wall_ns = end_ns + if crashed { restart_ns } else { 0 };
    let last_ckpt_ns = if kept == 0 {
        0
    } else {
        ends[kept as usize - 1]
    };
    let crash_ns = crash_at_ps.map(|t| t / 1000);
    let crash_failure = crash_ns.and_then(|c| {
        failures
            .iter()
            .enumerate()
            .filter(|(_, f)| f.at_ps / 1000 <= c)
            .max_by_key(|(_, f)| f.at_ps)
            .map(|(i, _)| i)
    });
    let mut out = Vec::new();
    for (i, f) in failures.iter().enumerate() {
        let at_ns = f.at_ps / 1000;
        let until = f.until_ps.map(us);
        let hit = |step, stall_us, note: Option<&str>| JobFailure {
            at_us: us(f.at_ps),
            crashed: false,
            lost_steps: None,
            note: note.map(str::to_string),
            stall_us,
            step,
            until_us: until,
            what: failure_name(f),
            work_lost_us: 0.0,
        };
        let v = if crash_failure == Some(i) {
            let c = crash_ns.unwrap_or(at_ns);
            JobFailure {
                crashed: true,
                lost_steps: Some(lost_steps),
                work_lost_us: us(c.saturating_sub(last_ckpt_ns) * 1000),
                ..hit(
                    Some(step_of(at_ns).map_or_else(|| u64::from(completed), |k| k as u64)),
                    us((c.saturating_sub(at_ns) + restart_ns) * 1000),
                    None,
                )
            }
        } else if step_of(at_ns).is_none() && at_ns < crash_ns.unwrap_or(end_ns) {
            // The step it hit never finished (the run hung until the time limit or ran out of
            // events, or a later failure crashed it): the stall lasts at least until then.
            let stop_ns = crash_ns.unwrap_or(end_ns);
            hit(
                Some(u64::from(completed)),
                us((stop_ns - at_ns) * 1000),
                Some(if crash_ns.is_some() {
                    "the step never finished: stalled until the crash"
                } else {
                    "the step never finished: stalled at least until the end of the run"
                }),
            )
        } else if crash_ns.is_some_and(|c| at_ns > c) || step_of(at_ns).is_none() {
            hit(
                None,
                0.0,
                Some("not reached (the job ended or crashed before)"),
            )
        } else {
            let k = step_of(at_ns).unwrap_or(0);
            hit(
                Some(k as u64),
                us(step_ns[k].saturating_sub(base) * 1000),
                None,
            )
        };
        out.push(v);
    }
    let productive = kept * base;
    let ettr = if wall_ns == 0 {
        0.0
    } else {
        (productive as f64 / wall_ns as f64).min(1.0)
    };
    Some(JobSummary {
        steps: *steps,
        completed,
        step_ns,
        crashed,
        hung: !crashed && !o.complete,
        crash_at_ps,
        failures: out,
        ettr,
        wall_ns,
        lost_steps,
    })
}

/// A number as the JSON file writes it (`5.0`, not `5`), so the text and the file agree.
fn as_json(v: f64) -> String {
    serde_json::to_string(&v).unwrap_or_default()
}

/// The `collectives` section: every collective with its completion time and bandwidths.
pub(crate) fn collectives(b: &Built, o: &DagOutcome) -> Vec<CollectiveResult> {
    if matches!(b.kind, Kind::Training { .. }) {
        // Thousands per step: the job section summarises them.
        return Vec::new();
    }
    let dag = &b.workload.dag;
    collective_times(dag, o)
        .into_iter()
        .zip(&dag.collectives)
        .map(|((name, s, e), rec)| {
            let t_ns = e.map(|e| (e.saturating_sub(s)) / 1000);
            let row = t_ns.map(|t| NcclRow::new(rec.kind, rec.ranks, rec.size_bytes, t));
            CollectiveResult {
                algbw_gbps: row.map(|r| round(r.algbw_gbps, 3)),
                busbw_gbps: row.map(|r| round(r.busbw_gbps, 3)),
                completion_us: t_ns.map(|t| us(t * 1000)),
                kind: rec.kind.name().to_string(),
                name,
                ranks: rec.ranks,
                size_bytes: rec.size_bytes,
            }
        })
        .collect()
}

/// The `job` section (training runs).
pub(crate) fn job(j: &JobSummary) -> Job {
    let p = percentiles(&j.step_ns);
    Job {
        crash_at_us: j.crash_at_ps.map(us),
        crashed: j.crashed,
        effective_training_time_fraction: round(j.ettr, 4),
        failures: j.failures.clone(),
        hung: j.hung,
        lost_steps: j.lost_steps,
        step_time_us: PercentilesUs {
            max: us(p.max * 1000),
            p50: us(p.p50 * 1000),
            p99: us(p.p99 * 1000),
        },
        step_times_us: j.step_ns.iter().map(|s| us(s * 1000)).collect(),
        steps: j.steps,
        steps_completed: j.completed,
        wall_with_restart_us: us(j.wall_ns * 1000),
    }
}

/// Text for one run: nccl-tests rows, the job summary, or the collectives of a trace.
pub(crate) fn text(label: &str, b: &Built, o: &DagOutcome, job: Option<&JobSummary>) -> String {
    let mut s = String::new();
    match &b.kind {
        Kind::Collective => {
            let rows = nccl_rows(b, o);
            let _ = writeln!(s, "# {label}");
            let _ = writeln!(s, "{}", nccl::table_header());
            for r in &rows {
                let _ = writeln!(s, "{r}");
            }
            let _ = writeln!(
                s,
                "# Avg bus bandwidth    : {:.3} GB/s{}",
                nccl::avg_busbw_gbps(&rows),
                if o.complete {
                    String::new()
                } else {
                    format!("  ({} of {} sizes finished)", rows.len(), sweep_len(b))
                }
            );
        }
        Kind::Training { name, .. } => {
            if let Some(j) = job {
                let p = percentiles(&j.step_ns);
                let ms = |ns: u64| ns as f64 / 1e6;
                let _ = writeln!(
                    s,
                    "# {label}: job {name}: {}/{} steps, step time p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; {}; effective training time {:.1}%",
                    j.completed,
                    j.steps,
                    ms(p.p50),
                    ms(p.p99),
                    ms(p.max),
                    match j.crash_at_ps {
                        Some(t) => format!("CRASHED at {:.3} ms (QP error)", t as f64 / 1e9),
                        None if j.hung => "HUNG: no progress until the time limit".into(),
                        None => "no crash".into(),
                    },
                    j.ettr * 100.0
                );
                let steps: Vec<String> =
                    j.step_ns.iter().map(|&n| format!("{:.3}", ms(n))).collect();
                let _ = writeln!(s, "#   step times (ms): {}", steps.join(" "));
                for f in &j.failures {
                    let what = &f.what;
                    let Some(step) = f.step else {
                        let _ = writeln!(
                            s,
                            "#   failure {what} at {} µs: not reached (the job ended or crashed before)",
                            as_json(f.at_us)
                        );
                        continue;
                    };
                    let _ = writeln!(
                        s,
                        "#   failure {what} at {} µs: step {step}, stall {} µs, crashed {}, work lost {} µs",
                        as_json(f.at_us),
                        as_json(f.stall_us),
                        f.crashed,
                        as_json(f.work_lost_us)
                    );
                }
            }
        }
        Kind::Chakra => {
            let _ = writeln!(s, "# {label}: collectives");
            let dag = &b.workload.dag;
            for ((name, st, e), rec) in collective_times(dag, o).into_iter().zip(&dag.collectives) {
                match e {
                    Some(e) => {
                        let t = (e - st) / 1000;
                        let r = NcclRow::new(rec.kind, rec.ranks, rec.size_bytes, t);
                        let _ = writeln!(
                            s,
                            "#   {name:40} {:>12} B  {:10.2} µs  algbw {:7.2}  busbw {:7.2} GB/s",
                            rec.size_bytes,
                            r.time_us(),
                            r.algbw_gbps,
                            r.busbw_gbps
                        );
                    }
                    None => {
                        let _ = writeln!(s, "#   {name:40} {:>12} B  unfinished", rec.size_bytes);
                    }
                }
            }
        }
    }
    s
}

fn sweep_len(b: &Built) -> usize {
    let mut n = 0;
    let mut last: Option<(CollectiveKind, u64)> = None;
    for r in &b.workload.dag.collectives {
        if last != Some((r.kind, r.size_bytes)) {
            n += 1;
            last = Some((r.kind, r.size_bytes));
        }
    }
    n
}
