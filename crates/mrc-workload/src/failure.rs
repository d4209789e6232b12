//! Failure accounting for a training job (docs/workload.md §8–§10).
//!
//! - RoCE baseline (single path per QP): NCCL/RNIC semantics. The local ACK timeout is
//!   `4.096 µs × 2^NCCL_IB_TIMEOUT`; a lost packet is retried every timeout, `NCCL_IB_RETRY_CNT`
//!   times; retry `k` (at `k·T` after the loss) succeeds when the path is back by then, else after
//!   the last retry times out (`(retry_cnt + 1)·T`) the QP errors, NCCL aborts and the job
//!   restarts from its last checkpoint (PyTorch's watchdog is the backstop if that is later).
//!   Where conventional routing reconverges (`reconverge_ns`, reroutable failures only), the
//!   path is back after `min(down, reconverge)`.
//! - MRC: the path is retired in tens of µs and lost packets are resent on other EVs; the job
//!   continues and the step stretches by `mrc_stall_ns` (replace with the simulator's measured
//!   step inflation where available).
//!
//! All times are integer nanoseconds.

/// Which transport the job runs on.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Multipath Reliable Connection: survives path failures.
    Mrc,
    /// Single-path RoCEv2 RC with NCCL retry semantics.
    Roce,
}

/// NCCL / RNIC retry parameters of the RoCE baseline.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RoceRetry {
    /// `NCCL_IB_TIMEOUT`: ACK timeout exponent (default 20 → 4.295 s).
    pub ib_timeout: u8,
    /// `NCCL_IB_RETRY_CNT`: retransmissions before the QP errors out (default 7).
    pub retry_cnt: u8,
    /// PyTorch ProcessGroupNCCL watchdog (default 10 min).
    pub watchdog_ns: u64,
    /// Routing reconvergence for reroutable failures (`None`: static path, no reroute).
    pub reconverge_ns: Option<u64>,
}

impl Default for RoceRetry {
    /// Current NCCL defaults (docs/workload.md §9): timeout 20, retry count 7, watchdog 600 s; static
    /// paths (no reconvergence), as with static SRv6 routing.
    fn default() -> Self {
        Self {
            ib_timeout: 20,
            retry_cnt: 7,
            watchdog_ns: 600_000_000_000,
            reconverge_ns: None,
        }
    }
}

/// What a path outage does to one RoCE QP.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum QpOutcome {
    /// A retry got through; traffic stalled for `stall_ns` after the loss.
    Survives {
        /// Time from the loss until the successful retry.
        stall_ns: u64,
    },
    /// The QP errored (or the watchdog fired) `after_ns` after the loss.
    Error {
        /// Time from the loss until the error.
        after_ns: u64,
    },
}

impl RoceRetry {
    /// Local ACK timeout `4.096 µs × 2^ib_timeout` in ns (saturating).
    pub fn ack_timeout_ns(&self) -> u64 {
        4_096u64
            .checked_shl(u32::from(self.ib_timeout))
            .unwrap_or(u64::MAX)
    }

    /// Time from a loss until the QP errors when no retry succeeds: `(retry_cnt + 1) · T`.
    pub fn retry_budget_ns(&self) -> u64 {
        self.ack_timeout_ns()
            .saturating_mul(u64::from(self.retry_cnt) + 1)
    }

    /// Outcome for a path that is down for `down_ns` (`None` = for good) from the moment a
    /// packet is lost.
    pub fn outcome(&self, down_ns: Option<u64>, reroutable: bool) -> QpOutcome {
        let t = self.ack_timeout_ns().max(1);
        let down = match (down_ns, reroutable.then_some(self.reconverge_ns).flatten()) {
            (Some(d), Some(r)) => Some(d.min(r)),
            (None, Some(r)) => Some(r),
            (d, None) => d,
        };
        let error_at = self.retry_budget_ns().min(self.watchdog_ns);
        match down {
            Some(d) => {
                let k = d.div_ceil(t).max(1);
                if k <= u64::from(self.retry_cnt) {
                    QpOutcome::Survives {
                        stall_ns: k.saturating_mul(t),
                    }
                } else {
                    QpOutcome::Error { after_ns: error_at }
                }
            }
            None => QpOutcome::Error { after_ns: error_at },
        }
    }
}

/// Cost of a job restart after a crash.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RestartCost {
    /// From the QP error to the job being torn down (NCCL abort, scheduler notices).
    pub detect_ns: u64,
    /// Reschedule and re-initialise (allocate nodes, start processes, NCCL init).
    pub restart_ns: u64,
    /// Reload the last checkpoint.
    pub reload_ns: u64,
}

impl Default for RestartCost {
    /// Our choice (docs/workload.md §8 gives no numbers): detect 10 s, restart 5 min, reload 2 min.
    fn default() -> Self {
        Self {
            detect_ns: 10_000_000_000,
            restart_ns: 300_000_000_000,
            reload_ns: 120_000_000_000,
        }
    }
}

/// One failure event on the job's wall clock.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Failure {
    /// When it starts, ns of wall-clock time since the run began.
    pub start_ns: u64,
    /// How long the path is down (`None`: until repaired, longer than any retry budget).
    pub down_ns: Option<u64>,
    /// Whether traffic of some rank uses the failed element (otherwise nothing happens).
    pub hits_traffic: bool,
    /// Whether conventional routing could route around it (a switch/link in the fabric: yes;
    /// the NIC lane or port a QP is bound to: no).
    pub reroutable: bool,
}

/// Parameters of a run for [`replay`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RunParams {
    /// Transport.
    pub transport: Transport,
    /// Steps the job must complete.
    pub steps: u64,
    /// A checkpoint is taken after every this many steps (0 = never).
    pub checkpoint_interval_steps: u64,
    /// Time to write a checkpoint (counted as unproductive).
    pub checkpoint_write_ns: u64,
    /// RoCE retry semantics.
    pub roce: RoceRetry,
    /// Restart cost after a crash.
    pub restart: RestartCost,
    /// MRC: step stretch per failure that hits traffic.
    pub mrc_stall_ns: u64,
    /// Give up after this much wall time (guards against a job that never finishes).
    pub max_wall_ns: u64,
}

impl RunParams {
    /// Defaults: checkpoint every 100 steps, checkpoint write 0, NCCL defaults, restart defaults,
    /// MRC stall 100 µs (path retirement "tens of µs" plus resends), wall limit 30 days.
    pub fn new(transport: Transport, steps: u64) -> Self {
        Self {
            transport,
            steps,
            checkpoint_interval_steps: 100,
            checkpoint_write_ns: 0,
            roce: RoceRetry::default(),
            restart: RestartCost::default(),
            mrc_stall_ns: 100_000,
            max_wall_ns: 30 * 86_400 * 1_000_000_000,
        }
    }
}

/// What one failure cost.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FailureOutcome {
    /// When it started.
    pub start_ns: u64,
    /// Time the job stood still because of it (stall of a surviving step; for a crash, from the
    /// failure until training resumes).
    pub stall_ns: u64,
    /// Whether the job crashed.
    pub crashed: bool,
    /// Work thrown away: time since the last checkpoint at the crash (0 if it survived).
    pub work_lost_ns: u64,
    /// Completed steps rolled back.
    pub lost_steps: u64,
}

/// Result of [`replay`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RunReport {
    /// Per failure, in time order (failures after the job ended are dropped).
    pub failures: Vec<FailureOutcome>,
    /// Steps completed and kept (≤ `steps`; less if `max_wall_ns` ran out).
    pub steps_completed: u64,
    /// Wall-clock time of the run.
    pub wall_ns: u64,
    /// Duration of every executed step in order (including steps later rolled back).
    pub step_ns: Vec<u64>,
    /// Crashes.
    pub crashes: u32,
    /// Sum of failure-free durations of the kept steps.
    pub productive_ns: u64,
}

/// p50 / p99 / max.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Percentiles {
    /// Median (nearest rank).
    pub p50: u64,
    /// 99th percentile (nearest rank).
    pub p99: u64,
    /// Maximum.
    pub max: u64,
}

/// Nearest-rank percentiles of `values` (all zero when empty).
pub fn percentiles(values: &[u64]) -> Percentiles {
    if values.is_empty() {
        return Percentiles::default();
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = |q: u64| {
        let n = v.len() as u64;
        let r = (q * n).div_ceil(100).clamp(1, n);
        v[usize::try_from(r - 1).unwrap_or(0)]
    };
    Percentiles {
        p50: rank(50),
        p99: rank(99),
        max: v[v.len() - 1],
    }
}

impl RunReport {
    /// Step-time distribution over executed steps.
    pub fn step_time(&self) -> Percentiles {
        percentiles(&self.step_ns)
    }

    /// Effective training time fraction (ETTR): failure-free time of the kept steps over wall
    /// time.
    pub fn ettr(&self) -> f64 {
        if self.wall_ns == 0 {
            return 0.0;
        }
        self.productive_ns as f64 / self.wall_ns as f64
    }

    /// Whether the job crashed at least once.
    pub fn crashed(&self) -> bool {
        self.crashes > 0
    }
}

/// Replay a job on the wall clock: steps run back to back with failure-free durations
/// `step_ns(i)` (i = index of the step within the job, so a rerun after a rollback takes the same
/// time); failures (any order) hit the step running at their start. MRC: the step stretches by
/// `mrc_stall_ns`. RoCE: [`RoceRetry::outcome`] — a surviving QP stretches the step by its stall,
/// an error crashes the job: detection, restart and reload are added, progress rolls back to the
/// last checkpoint and the lost work is reported.
pub fn replay(params: &RunParams, step_ns: impl Fn(u64) -> u64, failures: &[Failure]) -> RunReport {
    let mut fs: Vec<Failure> = failures
        .iter()
        .copied()
        .filter(|f| f.hits_traffic)
        .collect();
    fs.sort_by_key(|f| f.start_ns);
    let mut next_f = 0usize;
    let mut now = 0u64;
    let mut done = 0u64; // completed steps kept
    let mut last_ckpt_step = 0u64;
    let mut last_ckpt_ns = 0u64;
    let mut out = Vec::new();
    let mut executed = Vec::new();
    let mut crashes = 0u32;
    // Failures that arrive while the job is down (restarting) are skipped: nothing runs.
    'steps: while done < params.steps && now < params.max_wall_ns {
        let base = step_ns(done);
        let mut dur = base;
        // Failures that start during this step.
        while next_f < fs.len() && fs[next_f].start_ns < now.saturating_add(dur) {
            let f = fs[next_f];
            next_f += 1;
            if f.start_ns < now {
                continue;
            }
            match params.transport {
                Transport::Mrc => {
                    dur = dur.saturating_add(params.mrc_stall_ns);
                    out.push(FailureOutcome {
                        start_ns: f.start_ns,
                        stall_ns: params.mrc_stall_ns,
                        crashed: false,
                        work_lost_ns: 0,
                        lost_steps: 0,
                    });
                }
                Transport::Roce => match params.roce.outcome(f.down_ns, f.reroutable) {
                    QpOutcome::Survives { stall_ns } => {
                        dur = dur.saturating_add(stall_ns);
                        out.push(FailureOutcome {
                            start_ns: f.start_ns,
                            stall_ns,
                            crashed: false,
                            work_lost_ns: 0,
                            lost_steps: 0,
                        });
                    }
                    QpOutcome::Error { after_ns } => {
                        let crash_at = f.start_ns.saturating_add(after_ns);
                        let resume = crash_at
                            .saturating_add(params.restart.detect_ns)
                            .saturating_add(params.restart.restart_ns)
                            .saturating_add(params.restart.reload_ns);
                        executed.push(crash_at - now);
                        out.push(FailureOutcome {
                            start_ns: f.start_ns,
                            stall_ns: resume - f.start_ns,
                            crashed: true,
                            work_lost_ns: crash_at.saturating_sub(last_ckpt_ns),
                            lost_steps: done - last_ckpt_step,
                        });
                        crashes += 1;
                        done = last_ckpt_step;
                        now = resume;
                        // Skip failures that start while the job is down.
                        while next_f < fs.len() && fs[next_f].start_ns < now {
                            next_f += 1;
                        }
                        continue 'steps;
                    }
                },
            }
        }
        now = now.saturating_add(dur);
        executed.push(dur);
        done += 1;
        if params.checkpoint_interval_steps > 0
            && done.is_multiple_of(params.checkpoint_interval_steps)
            && done < params.steps
        {
            now = now.saturating_add(params.checkpoint_write_ns);
            last_ckpt_step = done;
            last_ckpt_ns = now;
        }
    }
    let productive_ns = (0..done).map(&step_ns).sum();
    RunReport {
        failures: out,
        steps_completed: done,
        wall_ns: now,
        step_ns: executed,
        crashes,
        productive_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn nccl_default_timeouts() {
        let r = RoceRetry::default();
        // 4.096 µs × 2^20 = 4.295 s; (7 + 1) × that ≈ 34.4 s (docs/workload.md §9).
        assert_eq!(r.ack_timeout_ns(), 4_294_967_296);
        assert_eq!(r.retry_budget_ns(), 8 * 4_294_967_296);
        let old = RoceRetry {
            ib_timeout: 14,
            ..r
        };
        assert_eq!(old.ack_timeout_ns(), 67_108_864); // ≈ 67 ms
    }

    #[test]
    fn flap_shorter_than_budget_stalls_until_next_retry() {
        let r = RoceRetry::default();
        let t = r.ack_timeout_ns();
        assert_eq!(
            r.outcome(Some(10_000_000), false),
            QpOutcome::Survives { stall_ns: t }
        );
        assert_eq!(
            r.outcome(Some(t + 1), false),
            QpOutcome::Survives { stall_ns: 2 * t }
        );
        assert_eq!(
            r.outcome(Some(7 * t), false),
            QpOutcome::Survives { stall_ns: 7 * t }
        );
        // A 2-minute T1 reboot outlasts 7 retries of 4.3 s.
        assert_eq!(
            r.outcome(Some(120 * S), false),
            QpOutcome::Error { after_ns: 8 * t }
        );
        assert_eq!(r.outcome(None, true), QpOutcome::Error { after_ns: 8 * t });
        // With routing that reconverges in 1 s, the reroutable reboot costs one timeout.
        let rr = RoceRetry {
            reconverge_ns: Some(S),
            ..r
        };
        assert_eq!(
            rr.outcome(Some(120 * S), true),
            QpOutcome::Survives { stall_ns: t }
        );
        assert!(matches!(
            rr.outcome(Some(120 * S), false),
            QpOutcome::Error { .. }
        ));
    }

    #[test]
    fn mrc_continues_roce_crashes_and_loses_work() {
        let step = 2 * S;
        let f = [
            Failure {
                start_ns: 251 * S, // during step 125 (0-based), 25 steps after the checkpoint at 100
                down_ns: Some(120 * S),
                hits_traffic: true,
                reroutable: true,
            },
            Failure {
                start_ns: 10 * S,
                down_ns: Some(S),
                hits_traffic: false,
                reroutable: true,
            },
        ];
        let mrc = replay(&RunParams::new(Transport::Mrc, 200), |_| step, &f);
        assert_eq!(mrc.steps_completed, 200);
        assert!(!mrc.crashed());
        assert_eq!(mrc.failures.len(), 1);
        assert_eq!(mrc.failures[0].stall_ns, 100_000);
        assert_eq!(mrc.wall_ns, 200 * step + 100_000);
        assert_eq!(mrc.step_time().max, step + 100_000);
        assert_eq!(mrc.step_time().p50, step);

        let p = RunParams::new(Transport::Roce, 200);
        let roce = replay(&p, |_| step, &f);
        assert_eq!(roce.steps_completed, 200);
        assert_eq!(roce.crashes, 1);
        let o = roce.failures[0];
        assert!(o.crashed);
        assert_eq!(o.lost_steps, 25);
        let crash_at = 251 * S + p.roce.retry_budget_ns();
        assert_eq!(o.work_lost_ns, crash_at - 200 * S);
        let down = p.restart.detect_ns + p.restart.restart_ns + p.restart.reload_ns;
        assert_eq!(o.stall_ns, p.roce.retry_budget_ns() + down);
        // Resume at crash + restart, then redo steps 100..200.
        assert_eq!(roce.wall_ns, crash_at + down + 100 * step);
        assert_eq!(roce.productive_ns, 200 * step);
        assert!(roce.ettr() < mrc.ettr());
        assert!((mrc.ettr() - 400.0 / 400.0001).abs() < 1e-9);
    }

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        let p = percentiles(&v);
        assert_eq!((p.p50, p.p99, p.max), (50, 99, 100));
        assert_eq!(percentiles(&[]), Percentiles::default());
        assert_eq!(percentiles(&[7]).p99, 7);
    }

    #[test]
    fn wall_limit_stops_a_job_that_keeps_crashing() {
        let mut p = RunParams::new(Transport::Roce, 1_000);
        p.max_wall_ns = 3_600 * S;
        let f: Vec<Failure> = (0..100)
            .map(|i| Failure {
                start_ns: i * 600 * S + S,
                down_ns: None,
                hits_traffic: true,
                reroutable: false,
            })
            .collect();
        let r = replay(&p, |_| S, &f);
        assert!(r.steps_completed < 1_000);
        assert!(r.crashes >= 1);
    }
}
