//! One rank: generate its shard, forward/backward, ring all-reduce of the gradients, AdamW,
//! parameter digest; one [`StepRecord`] per step.
//!
//! As a process ([`rank_main`]): the configuration arrives as JSON; the rank enters its NIC's
//! network namespace, sets up its transport, prints `MRCREADY`, waits for a line on stdin (the
//! start barrier), then prints one `MRCSTEP …` line per step and `MRCDONE` at the end.

use std::io::{BufRead as _, Write as _};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::data::{train_batch, validation};
use crate::error::{DemoError, Result};
use crate::model::{Model, ModelConfig, apply, flat_grads, set_grads};
use crate::ring::{AllReduce, MrcRing, MrcRingConfig, TcpRing, TcpRingConfig};

/// Which transport carries the all-reduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransportKind {
    /// The MRC transport (multipath, SRv6 paths on the fabric).
    Mrc,
    /// TCP (one path).
    Tcp,
}

impl TransportKind {
    /// `mrc` or `tcp`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mrc => "mrc",
            Self::Tcp => "tcp",
        }
    }
}

/// Everything one rank needs (the driver hands it to the rank process as JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankConfig {
    /// This rank.
    pub rank: u32,
    /// Ranks.
    pub world: u32,
    /// Transport of the all-reduce.
    pub transport: TransportKind,
    /// Training steps.
    pub steps: u32,
    /// Model width.
    pub dim: usize,
    /// Samples per rank per step.
    pub batch: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// Seed of data, initialisation and QPs.
    pub seed: u64,
    /// Evaluate on the held-out set every this many steps (and at the last step); each rank
    /// evaluates its share of the set.
    pub eval_every: u32,
    /// Held-out samples.
    pub val_size: usize,
    /// Network namespace to enter (the rank's NIC), if any.
    pub netns: Option<String>,
    /// SRv6 path selection (fabric) rather than loopback.
    pub srv6: bool,
    /// MRC endpoint of every rank.
    pub mrc_addrs: Vec<SocketAddrV6>,
    /// TCP listening address of every rank.
    pub tcp_addrs: Vec<SocketAddrV6>,
    /// TCP source address of this rank (its NIC address), if any.
    pub tcp_src: Option<Ipv6Addr>,
    /// EVs per plane.
    pub evs: Vec<Vec<u32>>,
    /// MRC payload bytes per packet.
    pub payload: u32,
    /// `SO_MARK` pinning TCP to one path.
    pub tcp_mark: Option<u32>,
    /// Give up on one all-reduce after this many milliseconds.
    pub step_timeout_ms: u64,
}

/// What one rank reports after each step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    /// Rank.
    pub rank: u32,
    /// Step (from 0).
    pub step: u32,
    /// Training loss on this rank's shard (before the update).
    pub loss: f32,
    /// Samples of the shard predicted right.
    pub correct: u32,
    /// Samples in the shard.
    pub batch: u32,
    /// Held-out samples of this rank's share predicted right, and the share's size (when
    /// evaluated; after the update, outside the step time).
    pub val: Option<(u32, u32)>,
    /// Time in the all-reduce, ms.
    pub comm_ms: f64,
    /// Time of the whole step, ms.
    pub step_ms: f64,
    /// Digest of all parameters after the update.
    pub digest: u64,
    /// Retransmissions so far (cumulative).
    pub retransmits: u64,
    /// EVs retired so far (cumulative, MRC).
    pub ev_retired: u64,
}

/// Prefix of a step line.
pub const STEP_TAG: &str = "MRCSTEP";
/// Line printed when the transport is set up.
pub const READY_TAG: &str = "MRCREADY";
/// Line printed after the last step.
pub const DONE_TAG: &str = "MRCDONE";

impl StepRecord {
    /// The line a rank process prints.
    pub fn to_line(&self) -> String {
        format!(
            "{STEP_TAG} {} {} {:e} {} {} {} {:.3} {:.3} {:016x} {} {}",
            self.rank,
            self.step,
            self.loss,
            self.correct,
            self.batch,
            self.val
                .map_or_else(|| "-".to_owned(), |(c, n)| format!("{c}/{n}")),
            self.comm_ms,
            self.step_ms,
            self.digest,
            self.retransmits,
            self.ev_retired
        )
    }

    /// Parses [`to_line`](Self::to_line)'s output.
    pub fn parse(line: &str) -> Option<Self> {
        let mut it = line.split_whitespace();
        if it.next()? != STEP_TAG {
            return None;
        }
        let mut f = || it.next();
        Some(Self {
            rank: f()?.parse().ok()?,
            step: f()?.parse().ok()?,
            loss: f()?.parse().ok()?,
            correct: f()?.parse().ok()?,
            batch: f()?.parse().ok()?,
            val: match f()? {
                "-" => None,
                s => {
                    let (c, n) = s.split_once('/')?;
                    Some((c.parse().ok()?, n.parse().ok()?))
                }
            },
            comm_ms: f()?.parse().ok()?,
            step_ms: f()?.parse().ok()?,
            digest: u64::from_str_radix(f()?, 16).ok()?,
            retransmits: f()?.parse().ok()?,
            ev_retired: f()?.parse().ok()?,
        })
    }
}

/// Sets up this rank's transport (after entering `cfg.netns`, if any). TCP needs every rank
/// listening before anyone connects: call [`Transport::connect`] after the start barrier.
pub fn setup(cfg: &RankConfig) -> Result<Transport> {
    if let Some(ns) = &cfg.netns {
        mrc_net::sys::enter_netns(ns)?;
    }
    let timeout = Duration::from_millis(cfg.step_timeout_ms);
    let model = Model::new(ModelConfig { dim: cfg.dim }, cfg.seed)?;
    Ok(match cfg.transport {
        TransportKind::Mrc => Transport::Mrc(MrcRing::start(MrcRingConfig {
            rank: cfg.rank,
            world: cfg.world,
            mode: if cfg.srv6 {
                mrc_net::endpoint::PathMode::Srv6
            } else {
                mrc_net::endpoint::PathMode::Loopback
            },
            addrs: cfg.mrc_addrs.clone(),
            evs: cfg.evs.clone(),
            payload: cfg.payload,
            seed: cfg.seed,
            max_len: model.num_params(),
            timeout,
        })?),
        TransportKind::Tcp => Transport::TcpListening(TcpRing::listen(TcpRingConfig {
            rank: cfg.rank,
            world: cfg.world,
            addrs: cfg.tcp_addrs.clone(),
            src: cfg.tcp_src,
            mark: cfg.tcp_mark,
            timeout,
        })?),
    })
}

/// A rank's all-reduce transport.
#[derive(Debug)]
pub enum Transport {
    /// MRC ring, ready.
    Mrc(MrcRing),
    /// TCP ring, listening.
    TcpListening(crate::ring::TcpListening),
    /// TCP ring, connected.
    Tcp(TcpRing),
}

impl Transport {
    /// Connects a listening TCP ring (a no-op for MRC: its QPs need no handshake).
    pub fn connect(self) -> Result<Self> {
        Ok(match self {
            Self::TcpListening(l) => Self::Tcp(l.connect()?),
            t => t,
        })
    }

    fn ring(&mut self) -> Result<&mut dyn AllReduce> {
        match self {
            Self::Mrc(r) => Ok(r),
            Self::Tcp(r) => Ok(r),
            Self::TcpListening(_) => Err(DemoError::AllReduce("TCP ring not connected".into())),
        }
    }
}

/// Trains `cfg.steps` steps with `transport` (connected), calling `on_step` after each.
pub fn train(
    cfg: &RankConfig,
    transport: &mut Transport,
    on_step: &mut dyn FnMut(&StepRecord) -> Result<()>,
) -> Result<()> {
    let model = Model::new(ModelConfig { dim: cfg.dim }, cfg.seed)?;
    let mut opt = model.adamw(cfg.lr)?;
    let val = validation_share(cfg.seed, cfg.val_size, cfg.rank, cfg.world);
    let ring = transport.ring()?;
    let world = cfg.world.max(1) as f32;
    for step in 0..cfg.steps {
        let t0 = Instant::now();
        let batch = train_batch(cfg.seed, cfg.rank, step, cfg.batch);
        let out = model.forward(&batch)?;
        let loss = out.loss.to_scalar::<f32>()?;
        let mut grads = out.loss.backward()?;
        let mut flat = flat_grads(model.vars(), &grads)?;
        let tc = Instant::now();
        let stats = ring.all_reduce_sum(&mut flat)?;
        let comm_ms = tc.elapsed().as_secs_f64() * 1e3;
        for x in &mut flat {
            *x /= world;
        }
        set_grads(model.vars(), &mut grads, &flat)?;
        apply(&mut opt, &grads)?;
        let digest = model.digest()?;
        let step_ms = t0.elapsed().as_secs_f64() * 1e3;
        let last = step + 1 == cfg.steps;
        let val = if val.len > 0 && (last || (cfg.eval_every > 0 && step % cfg.eval_every == 0)) {
            Some((model.forward(&val)?.correct, val.len as u32))
        } else {
            None
        };
        on_step(&StepRecord {
            rank: cfg.rank,
            step,
            loss,
            correct: out.correct,
            batch: batch.len as u32,
            val,
            comm_ms,
            step_ms,
            digest,
            retransmits: stats.retransmits,
            ev_retired: stats.ev_retired,
        })?;
    }
    Ok(())
}

/// Rank `rank`'s contiguous share of the held-out set (all shares together are the whole set).
pub fn validation_share(seed: u64, len: usize, rank: u32, world: u32) -> crate::data::Batch {
    use crate::data::{PATCH_DIM, PATCHES, TEXT_LEN};
    let all = validation(seed, len);
    let r = crate::ring::chunks(len, world)
        .get(rank as usize)
        .cloned()
        .unwrap_or(0..0);
    crate::data::Batch {
        len: r.len(),
        tokens: all
            .tokens
            .get(r.start * TEXT_LEN..r.end * TEXT_LEN)
            .unwrap_or(&[])
            .to_vec(),
        patches: all
            .patches
            .get(r.start * PATCHES * PATCH_DIM..r.end * PATCHES * PATCH_DIM)
            .unwrap_or(&[])
            .to_vec(),
        labels: all.labels.get(r).unwrap_or(&[]).to_vec(),
    }
}

/// The rank process: `json` is a [`RankConfig`]. Dies with its parent (`PR_SET_PDEATHSIG`).
pub fn rank_main(json: &str) -> Result<()> {
    // SAFETY: prctl with PR_SET_PDEATHSIG and a signal number has no memory effects.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    let cfg: RankConfig = serde_json::from_str(json).map_err(|e| DemoError::Config {
        field: "rank config",
        msg: e.to_string(),
    })?;
    let t = setup(&cfg)?;
    let out = std::io::stdout();
    let say = |s: &str| -> Result<()> {
        let mut o = out.lock();
        writeln!(o, "{s}")
            .and_then(|()| o.flush())
            .map_err(DemoError::io("stdout"))
    };
    say(READY_TAG)?;
    let mut go = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut go)
        .map_err(DemoError::io("stdin"))?;
    if go.trim() != "go" {
        return Err(DemoError::Job("no start signal from the driver".into()));
    }
    let mut t = t.connect()?;
    train(&cfg, &mut t, &mut |r| say(&r.to_line()))?;
    say(DONE_TAG)
}
