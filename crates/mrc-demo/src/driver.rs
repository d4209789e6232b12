//! The job driver: starts one process per rank, holds the start barrier, checks every step
//! that all ranks hold bit-identical parameters, pulls and restores a cable on the namespace
//! fabric, and kills the ranks on any failure.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mrc_net::Fabric;

use crate::error::{DemoError, Result};
use crate::model::ModelConfig;
use crate::rank::{DONE_TAG, READY_TAG, RankConfig, StepRecord, TransportKind};

/// A cable to pull during the run.
#[derive(Clone, Debug, PartialEq)]
pub struct FailPlan {
    /// Pull the cable when rank 0 starts this step.
    pub at_step: u32,
    /// One end (node, optionally `node:dev`).
    pub a: String,
    /// The other end.
    pub b: String,
    /// Restore it this long after pulling it (None: at the end of the run).
    pub restore_after: Option<Duration>,
}

/// Where the ranks run.
#[derive(Clone, Copy, Debug)]
pub enum Net<'a> {
    /// Plain UDP/TCP on `::1`, ports from `port_base` up (no SRv6, no cables).
    Loopback {
        /// First port.
        port_base: u16,
    },
    /// Rank `r` on NIC `r` of the namespace fabric.
    Fabric(&'a Fabric),
}

/// One training job.
#[derive(Clone, Debug)]
pub struct JobConfig {
    /// Transport of the all-reduce.
    pub transport: TransportKind,
    /// Ranks (processes).
    pub world: u32,
    /// Training steps.
    pub steps: u32,
    /// Model size.
    pub model: ModelConfig,
    /// Samples per rank per step.
    pub batch: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// Seed of everything.
    pub seed: u64,
    /// Held-out evaluation every this many steps.
    pub eval_every: u32,
    /// Held-out samples.
    pub val_size: usize,
    /// Cable pull, if any (fabric only).
    pub fail: Option<FailPlan>,
    /// TCP pinned to this EV on the fabric (`SO_MARK`).
    pub tcp_ev: u32,
    /// A rank gives up on one all-reduce after this long.
    pub step_timeout: Duration,
    /// The whole job is killed after this long.
    pub job_timeout: Duration,
}

impl JobConfig {
    /// Defaults: 4 ranks, 300 steps, batch 32 per rank, lr 3e-3.
    pub fn new(transport: TransportKind) -> Self {
        Self {
            transport,
            world: 4,
            steps: 300,
            model: ModelConfig::default(),
            batch: 32,
            lr: 3e-3,
            seed: 1,
            eval_every: 10,
            val_size: 512,
            fail: None,
            tcp_ev: 1,
            step_timeout: Duration::from_secs(30),
            job_timeout: Duration::from_secs(900),
        }
    }
}

/// How to start a rank process: `exe args… <rank config JSON>`.
#[derive(Clone, Debug)]
pub struct Launcher {
    /// Executable.
    pub exe: PathBuf,
    /// Arguments before the JSON.
    pub args: Vec<String>,
}

/// One step, over all ranks.
#[derive(Clone, Debug, PartialEq)]
pub struct StepSummary {
    /// Step.
    pub step: u32,
    /// Mean training loss over the ranks.
    pub loss: f64,
    /// Training accuracy over all shards.
    pub acc: f64,
    /// Held-out accuracy (all ranks' shares), when evaluated.
    pub val_acc: Option<f64>,
    /// Slowest rank's step time (data, forward, backward, all-reduce, update), ms.
    pub step_ms: f64,
    /// Slowest rank's all-reduce time, ms.
    pub comm_ms: f64,
    /// Seconds since the start barrier when the last rank reported the step.
    pub t_s: f64,
    /// The parameter digest (identical on every rank).
    pub digest: u64,
    /// Retransmissions so far, all ranks.
    pub retransmits: u64,
    /// EVs retired so far, all ranks.
    pub ev_retired: u64,
}

/// A cable pulled or restored.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkEvent {
    /// The step rank 0 was in.
    pub step: u32,
    /// Seconds since the start barrier.
    pub t_s: f64,
    /// Pulled (true) or restored.
    pub down: bool,
    /// Restored because the run ended (the planned restore time had not come).
    pub end_of_run: bool,
    /// `A–B`.
    pub link: String,
}

/// The outcome of a job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobReport {
    /// Transport.
    pub transport: TransportKind,
    /// Ranks.
    pub world: u32,
    /// Model parameters.
    pub params: usize,
    /// Completed steps, in order (every one digest-checked across all ranks).
    pub steps: Vec<StepSummary>,
    /// Steps that were asked for.
    pub steps_planned: u32,
    /// Cable events.
    pub events: Vec<LinkEvent>,
    /// Why the job stopped early (a rank failed or timed out), if it did.
    pub failure: Option<String>,
    /// Wall seconds from the start barrier to the end.
    pub wall_s: f64,
}

impl JobReport {
    /// Every planned step completed.
    pub fn completed(&self) -> bool {
        self.failure.is_none() && self.steps.len() == self.steps_planned as usize
    }
}

enum Msg {
    Out(u32, String),
    Err(u32, String),
    Closed(u32),
}

struct Ranks {
    children: Vec<Child>,
    stdins: Vec<Option<ChildStdin>>,
}

impl Drop for Ranks {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Cable<'a> {
    fabric: &'a Fabric,
    a: String,
    b: String,
    down: bool,
}

impl Cable<'_> {
    fn set(&mut self, down: bool) -> Result<()> {
        self.fabric.set_link(&self.a, &self.b, !down)?;
        self.down = down;
        Ok(())
    }
}

impl Drop for Cable<'_> {
    fn drop(&mut self) {
        if self.down {
            let _ = self.fabric.set_link(&self.a, &self.b, true);
        }
    }
}

struct Plan {
    srv6: bool,
    mrc: Vec<SocketAddrV6>,
    tcp: Vec<SocketAddrV6>,
    srcs: Vec<Option<Ipv6Addr>>,
    evs: Vec<Vec<u32>>,
    payload: u32,
    mark: Option<u32>,
    ns: Vec<Option<String>>,
}

/// The rank configurations of a job.
pub fn rank_configs(cfg: &JobConfig, net: Net<'_>) -> Result<Vec<RankConfig>> {
    if cfg.world < 2 || cfg.world > 64 {
        return Err(DemoError::Config {
            field: "ranks",
            msg: format!("{}: expected 2..=64", cfg.world),
        });
    }
    if cfg.steps == 0 || cfg.batch == 0 || cfg.model.dim == 0 {
        return Err(DemoError::Config {
            field: "steps",
            msg: "steps, batch and dim must be positive".into(),
        });
    }
    let n = cfg.world;
    let Plan {
        srv6,
        mrc,
        tcp,
        srcs,
        evs,
        payload,
        mark,
        ns,
    } = match net {
        Net::Loopback { port_base } => {
            let port = |i: u32| -> Result<u16> {
                u16::try_from(u32::from(port_base) + i).map_err(|_| DemoError::Config {
                    field: "port_base",
                    msg: format!("{port_base} + {i} is not a port"),
                })
            };
            let lo = Ipv6Addr::LOCALHOST;
            let mut mrc = Vec::new();
            let mut tcp = Vec::new();
            for r in 0..n {
                mrc.push(SocketAddrV6::new(lo, port(r)?, 0, 0));
                tcp.push(SocketAddrV6::new(lo, port(n + r)?, 0, 0));
            }
            let evs = (0..2u32)
                .map(|p| (0..4).map(|u| (p << 8) | u).collect())
                .collect();
            Plan {
                srv6: false,
                mrc,
                tcp,
                srcs: vec![None; n as usize],
                evs,
                payload: 8192,
                mark: None,
                ns: vec![None; n as usize],
            }
        }
        Net::Fabric(f) => {
            if n > f.spec().nics {
                return Err(DemoError::Config {
                    field: "ranks",
                    msg: format!(
                        "{n}: the fabric has {} NICs (one rank per NIC)",
                        f.spec().nics
                    ),
                });
            }
            let evs = mrc_net::perf::fabric_evs(f, None);
            if !evs.iter().flatten().any(|&e| e == cfg.tcp_ev) {
                return Err(DemoError::Config {
                    field: "tcp_ev",
                    msg: format!("EV {}: not an EV of this fabric ({evs:?})", cfg.tcp_ev),
                });
            }
            let port = mrc_net::endpoint::PORT;
            let payload = 8192.min(f.max_udp_payload().saturating_sub(64));
            Plan {
                srv6: true,
                mrc: (0..n)
                    .map(|r| SocketAddrV6::new(f.nic_addr(r), port, 0, 0))
                    .collect(),
                tcp: (0..n)
                    .map(|r| SocketAddrV6::new(f.nic_addr(r), port + 9, 0, 0))
                    .collect(),
                srcs: (0..n).map(|r| Some(f.nic_addr(r))).collect(),
                evs,
                payload,
                mark: Some(mrc_net::fabric::MARK_BASE + cfg.tcp_ev),
                ns: (0..n).map(|r| Some(f.nic_ns(r))).collect(),
            }
        }
    };
    Ok((0..n)
        .map(|r| RankConfig {
            rank: r,
            world: n,
            transport: cfg.transport,
            steps: cfg.steps,
            dim: cfg.model.dim,
            batch: cfg.batch,
            lr: cfg.lr,
            seed: cfg.seed,
            eval_every: cfg.eval_every,
            val_size: cfg.val_size,
            netns: ns[r as usize].clone(),
            srv6,
            mrc_addrs: mrc.clone(),
            tcp_addrs: tcp.clone(),
            tcp_src: srcs[r as usize],
            evs: evs.clone(),
            payload,
            tcp_mark: mark,
            step_timeout_ms: cfg.step_timeout.as_millis() as u64,
        })
        .collect())
}

fn summarize(step: u32, recs: &[StepRecord], t_s: f64) -> Result<StepSummary> {
    let first = recs
        .first()
        .ok_or_else(|| DemoError::Job("no records".into()))?;
    if let Some(bad) = recs.iter().find(|r| r.digest != first.digest) {
        return Err(DemoError::Job(format!(
            "parameters differ after step {step}: rank {} digest {:016x}, rank {} digest {:016x}",
            first.rank, first.digest, bad.rank, bad.digest
        )));
    }
    let n = recs.len() as f64;
    let samples: u32 = recs.iter().map(|r| r.batch).sum();
    Ok(StepSummary {
        step,
        loss: recs.iter().map(|r| f64::from(r.loss)).sum::<f64>() / n,
        acc: f64::from(recs.iter().map(|r| r.correct).sum::<u32>()) / f64::from(samples.max(1)),
        val_acc: {
            let (c, n) = recs
                .iter()
                .filter_map(|r| r.val)
                .fold((0u32, 0u32), |(c, n), (rc, rn)| (c + rc, n + rn));
            (n > 0).then(|| f64::from(c) / f64::from(n))
        },
        step_ms: recs.iter().map(|r| r.step_ms).fold(0.0, f64::max),
        comm_ms: recs.iter().map(|r| r.comm_ms).fold(0.0, f64::max),
        t_s,
        digest: first.digest,
        retransmits: recs.iter().map(|r| r.retransmits).sum(),
        ev_retired: recs.iter().map(|r| r.ev_retired).sum(),
    })
}

/// Runs one job: spawns the ranks, trains, returns the per-step summaries. A rank that fails
/// or stalls ends the job early (`failure` says why); ranks that disagree on the parameters are
/// an error. `progress` sees every step as soon as all ranks reported it.
pub fn run_job(
    cfg: &JobConfig,
    net: Net<'_>,
    launcher: &Launcher,
    progress: &mut dyn FnMut(&StepSummary),
) -> Result<JobReport> {
    let configs = rank_configs(cfg, net)?;
    let mut cable = match (&cfg.fail, net) {
        (Some(f), Net::Fabric(fabric)) => {
            fabric.find_links(&f.a, &f.b)?;
            Some(Cable {
                fabric,
                a: f.a.clone(),
                b: f.b.clone(),
                down: false,
            })
        }
        (Some(_), Net::Loopback { .. }) => {
            return Err(DemoError::Config {
                field: "fail",
                msg: "pulling a cable needs the namespace fabric (not loopback)".into(),
            });
        }
        (None, _) => None,
    };
    let params = crate::model::Model::new(cfg.model, cfg.seed)?.num_params();
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut ranks = Ranks {
        children: Vec::new(),
        stdins: Vec::new(),
    };
    for rc in &configs {
        let json = serde_json::to_string(rc).map_err(|e| DemoError::Job(e.to_string()))?;
        let mut child = Command::new(&launcher.exe)
            .args(&launcher.args)
            .arg(json)
            .env("RAYON_NUM_THREADS", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(DemoError::io(format!(
                "starting {}",
                launcher.exe.display()
            )))?;
        let r = rc.rank;
        if let Some(out) = child.stdout.take() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
                    if tx.send(Msg::Out(r, line)).is_err() {
                        break;
                    }
                }
                let _ = tx.send(Msg::Closed(r));
            });
        }
        if let Some(err) = child.stderr.take() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(|l| l.ok()) {
                    if tx.send(Msg::Err(r, line)).is_err() {
                        break;
                    }
                }
            });
        }
        ranks.stdins.push(child.stdin.take());
        ranks.children.push(child);
    }
    drop(tx);
    let n = cfg.world as usize;
    let mut report = JobReport {
        transport: cfg.transport,
        world: cfg.world,
        params,
        steps: Vec::new(),
        steps_planned: cfg.steps,
        events: Vec::new(),
        failure: None,
        wall_s: 0.0,
    };
    let mut stderr_tail: Vec<String> = Vec::new();
    let mut note_err = |r: u32, l: String| {
        if stderr_tail.len() >= 20 {
            stderr_tail.remove(0);
        }
        stderr_tail.push(format!("rank {r}: {l}"));
    };

    // Start barrier: every rank has its transport up.
    let mut ready = 0;
    let until = Instant::now() + Duration::from_secs(120);
    while ready < n {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(Msg::Out(_, l)) if l.trim() == READY_TAG => ready += 1,
            Ok(Msg::Out(..)) => {}
            Ok(Msg::Err(r, l)) => note_err(r, l),
            Ok(Msg::Closed(r)) => {
                std::thread::sleep(Duration::from_millis(50));
                while let Ok(m) = rx.try_recv() {
                    if let Msg::Err(r, l) = m {
                        note_err(r, l);
                    }
                }
                return Err(DemoError::Job(format!(
                    "rank {r} exited during setup: {}",
                    stderr_tail.join(" | ")
                )));
            }
            Err(_) => return Err(DemoError::Job("ranks not ready after 120 s".into())),
        }
    }
    let start = Instant::now();
    let ts = |at: Instant| at.duration_since(start).as_secs_f64();
    let link_name = |f: &FailPlan| format!("{}–{}", f.a, f.b);
    let mut pulled_at: Option<Instant> = None;
    let mut rank0_step: u32 = 0;
    if let (Some(f), Some(c)) = (&cfg.fail, cable.as_mut())
        && f.at_step == 0
    {
        c.set(true)?;
        pulled_at = Some(Instant::now());
        report.events.push(LinkEvent {
            step: 0,
            t_s: 0.0,
            down: true,
            end_of_run: false,
            link: link_name(f),
        });
    }
    for s in ranks.stdins.iter_mut().flatten() {
        {
            s.write_all(b"go\n")
                .and_then(|()| s.flush())
                .map_err(DemoError::io("starting a rank"))?;
        }
    }
    let mut pending: Vec<Vec<StepRecord>> = vec![Vec::new(); cfg.steps as usize];
    let mut next = 0u32;
    let mut done = 0;
    let mut finished = vec![false; n];
    let mut closed = 0;
    let deadline = start + cfg.job_timeout;
    while done < n || (next as usize) < pending.len() {
        let msg = rx.recv_timeout(Duration::from_millis(10));
        // Cable restore on time.
        if let (Some(f), Some(c), Some(at)) = (&cfg.fail, cable.as_mut(), pulled_at)
            && c.down
            && f.restore_after.is_some_and(|d| at.elapsed() >= d)
        {
            c.set(false)?;
            report.events.push(LinkEvent {
                step: rank0_step,
                t_s: ts(Instant::now()),
                down: false,
                end_of_run: false,
                link: link_name(f),
            });
        }
        if Instant::now() > deadline {
            report.failure = Some(format!(
                "job timeout ({} s) at step {next}",
                cfg.job_timeout.as_secs()
            ));
            break;
        }
        let msg = match msg {
            Ok(m) => m,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match msg {
            Msg::Err(r, l) => note_err(r, l),
            Msg::Closed(r) => {
                closed += 1;
                if !finished.get(r as usize).copied().unwrap_or(false) {
                    // A rank ended without finishing: collect its last words, stop the job.
                    let _ = ranks.children.get_mut(r as usize).map(Child::wait);
                    std::thread::sleep(Duration::from_millis(100));
                    while let Ok(m) = rx.try_recv() {
                        if let Msg::Err(r, l) = m {
                            note_err(r, l);
                        }
                    }
                    report.failure = Some(format!(
                        "rank {r} stopped at step {next}: {}",
                        stderr_tail.join(" | ")
                    ));
                    break;
                }
                if closed == n {
                    break;
                }
            }
            Msg::Out(r, l) if l.trim() == DONE_TAG => {
                done += 1;
                if let Some(f) = finished.get_mut(r as usize) {
                    *f = true;
                }
            }
            Msg::Out(_, l) => {
                let Some(rec) = StepRecord::parse(&l) else {
                    continue;
                };
                if rec.rank == 0 {
                    rank0_step = rec.step + 1;
                    if let (Some(f), Some(c)) = (&cfg.fail, cable.as_mut())
                        && pulled_at.is_none()
                        && rec.step + 1 == f.at_step
                    {
                        c.set(true)?;
                        pulled_at = Some(Instant::now());
                        report.events.push(LinkEvent {
                            step: f.at_step,
                            t_s: ts(Instant::now()),
                            down: true,
                            end_of_run: false,
                            link: link_name(f),
                        });
                    }
                }
                let Some(slot) = pending.get_mut(rec.step as usize) else {
                    continue;
                };
                slot.push(rec);
                while let Some(recs) = pending.get(next as usize) {
                    if recs.len() < n {
                        break;
                    }
                    let s = summarize(next, recs, ts(Instant::now()))?;
                    progress(&s);
                    report.steps.push(s);
                    next += 1;
                }
            }
        }
    }
    report.wall_s = ts(Instant::now());
    // Restore the cable before returning (also done by the guard on errors).
    if let (Some(f), Some(c)) = (&cfg.fail, cable.as_mut())
        && c.down
    {
        c.set(false)?;
        report.events.push(LinkEvent {
            step: rank0_step,
            t_s: report.wall_s,
            down: false,
            end_of_run: true,
            link: link_name(f),
        });
    }
    if report.failure.is_none() && report.steps.len() < cfg.steps as usize {
        report.failure = Some(format!(
            "only {} of {} steps: {}",
            report.steps.len(),
            cfg.steps,
            stderr_tail.join(" | ")
        ));
    }
    drop(ranks);
    Ok(report)
}
