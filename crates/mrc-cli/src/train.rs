//! `mrc train`: a tiny omni-style model trained data-parallel by R rank processes, the gradient
//! all-reduce over the real MRC transport on the namespace fabric (or loopback), a cable pulled
//! mid-training, and the same run over TCP for comparison. HTML report with plots.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use mrc_demo::driver::{FailPlan, JobConfig, JobReport, Launcher, Net, run_job};
use mrc_demo::model::ModelConfig;
use mrc_demo::rank::TransportKind;
use mrc_demo::report;

use crate::bad_input;
use crate::fabric::{Which, load};
use crate::results::train::{TrainLinkEvent, TrainResults, TrainRun, TrainStep, TrainStepMs};

/// Flags of `mrc train`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Ranks (processes), one per NIC of the fabric.
    #[arg(long, default_value_t = 4)]
    ranks: u32,
    /// Training steps.
    #[arg(long, default_value_t = 300)]
    steps: u32,
    /// Samples per rank per step.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Model width (hidden size).
    #[arg(long, default_value_t = 48)]
    dim: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Seed of data, initialisation and QPs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Evaluate on the held-out set every this many steps.
    #[arg(long, default_value_t = 10)]
    eval_every: u32,
    /// All-reduce transport(s): mrc, tcp or both (MRC first, then TCP with the same failure).
    #[arg(long, default_value = "both")]
    transport: String,
    /// Pull a cable when this step starts (needs the namespace fabric).
    #[arg(long, value_name = "STEP")]
    fail_at: Option<u32>,
    /// The cable to pull: `A-B` or `A,B` with node names (e.g. `p0-t0-0:u1,p0-t1-1`).
    #[arg(long, default_value = "p0-t0-0:u1,p0-t1-1")]
    link: String,
    /// Seconds after the pull to restore the cable (≤ 0: at the end of the run).
    #[arg(long, default_value_t = 2.0)]
    restore_after: f64,
    /// EV the TCP baseline is pinned to (SO_MARK; TCP has one path).
    #[arg(long, default_value_t = 1)]
    tcp_ev: u32,
    /// Plain UDP/TCP on ::1 (no fabric, no root needed; no cable pulls).
    #[arg(long)]
    loopback: bool,
    #[command(flatten)]
    which: Which,
    /// A rank gives up on one all-reduce after this many seconds.
    #[arg(long, default_value_t = 30)]
    step_timeout_s: u64,
    /// Write the HTML report (loss, step time, held-out accuracy; cable events marked) here.
    #[arg(long, value_name = "FILE.html", default_value = "train-report.html")]
    report: PathBuf,
    /// Write the per-step results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Internal: run as one rank with this configuration (JSON).
    #[arg(long, hide = true)]
    rank_config: Option<String>,
}

struct FabricGuard(String);
impl Drop for FabricGuard {
    fn drop(&mut self) {
        let _ = mrc_net::fabric::down(&self.0);
    }
}

fn split_link(f: &mrc_net::Fabric, s: &str) -> Result<(String, String)> {
    if let Some((a, b)) = s.split_once(',') {
        if f.find_links(a.trim(), b.trim()).is_ok() {
            return Ok((a.trim().to_owned(), b.trim().to_owned()));
        }
    } else {
        for (i, _) in s.match_indices('-') {
            let (a, b) = (&s[..i], &s[i + 1..]);
            if f.find_links(a, b).is_ok() {
                return Ok((a.to_owned(), b.to_owned()));
            }
        }
    }
    bad_input!(
        "--link {s}: expected two adjacent nodes `A-B` or `A,B` (e.g. p0-t0-0:u1,p0-t1-1 or nic0,p1-t0-0)"
    )
}

fn job_result(name: &str, r: &JobReport) -> TrainRun {
    let f = report::figures(r);
    TrainRun {
        completed: r.completed(),
        ev_retired: f.ev_retired,
        events: r
            .events
            .iter()
            .map(|e| TrainLinkEvent {
                down: e.down,
                end_of_run: e.end_of_run,
                link: e.link.clone(),
                step: e.step,
                t_s: e.t_s,
            })
            .collect(),
        failure: r.failure.clone(),
        loss_end: f.loss_end,
        loss_start: f.loss_start,
        name: name.to_string(),
        params: r.params,
        ranks: r.world,
        retransmits: f.retransmits,
        step_ms: TrainStepMs {
            max: f.step_ms_max,
            p50: f.step_ms_p50,
            slowest_step: f.slowest_step,
        },
        steps: r
            .steps
            .iter()
            .map(|s| TrainStep {
                acc: s.acc,
                comm_ms: s.comm_ms,
                digest: format!("{:016x}", s.digest),
                ev_retired: s.ev_retired,
                loss: s.loss,
                retransmits: s.retransmits,
                step: s.step,
                step_ms: s.step_ms,
                t_s: s.t_s,
                val_acc: s.val_acc,
            })
            .collect(),
        steps_planned: r.steps_planned,
        train_acc_end: f.train_acc_end,
        transport: r.transport.name().to_string(),
        val_acc_end: f.val_acc_end,
        val_acc_start: f.val_acc_start,
        wall_s: r.wall_s,
    }
}

pub(crate) fn run(args: &Args) -> Result<()> {
    if let Some(cfg) = &args.rank_config {
        return mrc_demo::rank::rank_main(cfg).map_err(Into::into);
    }
    let transports = match args.transport.as_str() {
        "mrc" => vec![TransportKind::Mrc],
        "tcp" => vec![TransportKind::Tcp],
        "both" => vec![TransportKind::Mrc, TransportKind::Tcp],
        t => bad_input!("--transport {t}: expected mrc, tcp or both"),
    };
    if !(2..=64).contains(&args.ranks) {
        bad_input!("--ranks {}: expected 2..=64", args.ranks);
    }
    if args.steps == 0 || args.steps > 100_000 {
        bad_input!("--steps {}: expected 1..=100000", args.steps);
    }
    if args.batch == 0 || args.batch > 4096 {
        bad_input!("--batch {}: expected 1..=4096", args.batch);
    }
    if args.dim == 0 || args.dim > 1024 {
        bad_input!("--dim {}: expected 1..=1024", args.dim);
    }
    if !(args.lr > 0.0 && args.lr < 1.0) {
        bad_input!("--lr {}: expected a rate in (0, 1)", args.lr);
    }
    if args.step_timeout_s == 0 {
        bad_input!("--step-timeout-s 0: expected a positive number of seconds");
    }
    if let Some(s) = args.fail_at
        && s >= args.steps
    {
        bad_input!(
            "--fail-at {s}: expected a step below --steps {}",
            args.steps
        );
    }
    let root = mrc_net::sys::is_root();
    let loopback = args.loopback || !root;
    if !args.loopback && !root {
        println!("not root: running on loopback (::1) instead of the namespace fabric");
    }
    if loopback && args.fail_at.is_some() {
        bad_input!(
            "--fail-at: pulling a cable needs the namespace fabric (root, without --loopback)"
        );
    }
    let pid = std::process::id();
    let mut which = args.which.clone();
    if which.prefix.is_none() {
        which.prefix = Some(format!("mrctr{pid}"));
    }
    let (fabric, _guard) = if loopback {
        (None, None)
    } else {
        let f = load(&which)?;
        let prefix = f.spec().prefix.clone();
        f.up().context("creating the namespace fabric")?;
        let g = FabricGuard(prefix.clone());
        println!(
            "fabric `{prefix}` up: {} NICs, {} planes, EVs {:?}",
            f.spec().nics,
            f.spec().planes,
            mrc_net::perf::fabric_evs(&f, None)
        );
        (Some(f), Some(g))
    };
    let fail = match (args.fail_at, &fabric) {
        (Some(at), Some(f)) => {
            let (a, b) = split_link(f, &args.link)?;
            Some(FailPlan {
                at_step: at,
                a,
                b,
                restore_after: (args.restore_after > 0.0)
                    .then(|| Duration::from_secs_f64(args.restore_after)),
            })
        }
        _ => None,
    };
    let net = match &fabric {
        Some(f) => Net::Fabric(f),
        None => Net::Loopback {
            port_base: 20_000 + (pid % 2000) as u16 * 10,
        },
    };
    let launcher = Launcher {
        exe: std::env::current_exe().context("finding the mrc executable")?,
        args: vec!["train".into(), "--rank-config".into()],
    };
    let mut runs: Vec<(String, JobReport)> = Vec::new();
    for t in transports {
        let mut cfg = JobConfig::new(t);
        cfg.world = args.ranks;
        cfg.steps = args.steps;
        cfg.batch = args.batch;
        cfg.model = ModelConfig { dim: args.dim };
        cfg.lr = args.lr;
        cfg.seed = args.seed;
        cfg.eval_every = args.eval_every;
        cfg.fail = fail.clone();
        cfg.tcp_ev = args.tcp_ev;
        cfg.step_timeout = Duration::from_secs(args.step_timeout_s);
        let name = match t {
            TransportKind::Mrc => "mrc".to_owned(),
            TransportKind::Tcp if fabric.is_some() => format!("tcp (pinned to EV {})", args.tcp_ev),
            TransportKind::Tcp => "tcp".to_owned(),
        };
        println!(
            "{name}: {} ranks × batch {}, {} steps{}",
            args.ranks,
            args.batch,
            args.steps,
            fail.as_ref().map_or(String::new(), |f| format!(
                ", cable {}–{} pulled at step {}{}",
                f.a,
                f.b,
                f.at_step,
                f.restore_after.map_or_else(
                    || ", never restored".to_owned(),
                    |d| format!(", restored {:.1} s later", d.as_secs_f64())
                )
            ))
        );
        let every = (args.steps / 10).max(1);
        let mut progress = |s: &mrc_demo::driver::StepSummary| {
            if s.step.is_multiple_of(every) || s.step + 1 == args.steps {
                println!(
                    "  step {:>4}  loss {:.4}  acc {:.3}{}  step {:>7.1} ms  all-reduce {:>7.1} ms  retx {}  EVs retired {}",
                    s.step,
                    s.loss,
                    s.acc,
                    s.val_acc.map_or(String::new(), |a| format!("  val {a:.3}")),
                    s.step_ms,
                    s.comm_ms,
                    s.retransmits,
                    s.ev_retired
                );
            }
        };
        let r = run_job(&cfg, net, &launcher, &mut progress)
            .with_context(|| format!("{name} training run"))?;
        for e in &r.events {
            println!(
                "  cable {} {} at t={:.2} s (step {})",
                e.link,
                match (e.down, e.end_of_run) {
                    (true, _) => "pulled",
                    (false, false) => "restored",
                    (false, true) => "restored at the end of the run",
                },
                e.t_s,
                e.step
            );
        }
        runs.push((name, r));
    }
    println!();
    for (_, r) in &runs {
        println!("{}", report::summary_line(r));
    }
    let params = runs.first().map_or(0, |(_, r)| r.params);
    let notes = vec![
        format!(
            "{} ranks as separate processes ({}), model of {params} parameters (dim {}), batch {} per rank, AdamW lr {}, seed {}; ring all-reduce of {} KiB of gradients per step; every step all ranks' parameter digests were compared and were identical.",
            args.ranks,
            if loopback { "loopback ::1".to_owned() } else { "one per NIC of the namespace fabric, kernel SRv6".to_owned() },
            args.dim,
            args.batch,
            args.lr,
            args.seed,
            params * 4 / 1024
        ),
        fail.as_ref().map_or_else(|| "No cable pulled.".to_owned(), |f| format!(
            "Cable {}–{} pulled when step {} started; TCP is pinned to EV {} (one path), MRC sprays over every EV.",
            f.a, f.b, f.at_step, args.tcp_ev
        )),
    ];
    let html =
        crate::train_report::html("mrc train: data-parallel training over MRC", &notes, &runs);
    std::fs::write(&args.report, html)
        .with_context(|| format!("writing {}", args.report.display()))?;
    println!("report: {}", args.report.display());
    if let Some(p) = &args.json {
        let doc = TrainResults {
            runs: runs.iter().map(|(n, r)| job_result(n, r)).collect(),
        };
        std::fs::write(p, crate::results::to_pretty(&doc)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some((name, r)) = runs
        .iter()
        .find(|(_, r)| r.transport == TransportKind::Mrc && !r.completed())
    {
        anyhow::bail!(
            "{name} run did not complete: {}",
            r.failure.clone().unwrap_or_default()
        );
    }
    Ok(())
}
