//! `mrc train --json`: one object per training run over the real transport (timings differ
//! from run to run; losses, accuracies and digests follow from the seed).

use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct TrainResults {
    /// The runs, MRC first.
    pub(crate) runs: Vec<TrainRun>,
}

/// One training run.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct TrainRun {
    /// Every step planned was done and no rank failed.
    pub(crate) completed: bool,
    /// EVs retired (all ranks, whole run).
    pub(crate) ev_retired: u64,
    /// Cables pulled and restored.
    pub(crate) events: Vec<TrainLinkEvent>,
    /// Why the job stopped early (a rank failed or timed out); `null` if it did not.
    pub(crate) failure: Option<String>,
    /// Mean training loss over the last (up to) 10 steps.
    pub(crate) loss_end: f64,
    /// Mean training loss of the first step.
    pub(crate) loss_start: f64,
    /// The run's name in the report.
    pub(crate) name: String,
    /// Model parameters.
    pub(crate) params: usize,
    /// Ranks.
    pub(crate) ranks: u32,
    /// Retransmissions (all ranks, whole run).
    pub(crate) retransmits: u64,
    /// Step times after the warm-up step 0.
    pub(crate) step_ms: TrainStepMs,
    /// Every completed step, in order.
    pub(crate) steps: Vec<TrainStep>,
    /// Steps asked for.
    pub(crate) steps_planned: u32,
    /// Training accuracy over the last (up to) 10 steps.
    pub(crate) train_acc_end: f64,
    /// `mrc` or `tcp`.
    pub(crate) transport: String,
    /// Held-out accuracy at the last evaluation; `null` if none ran.
    pub(crate) val_acc_end: Option<f64>,
    /// Held-out accuracy at the first evaluation; `null` if none ran.
    pub(crate) val_acc_start: Option<f64>,
    /// Wall seconds from the start barrier to the end.
    pub(crate) wall_s: f64,
}

/// Step times of a run, ms (steps after step 0, which is warm-up).
#[derive(Serialize, Deserialize, Clone, Copy, Debug)]
pub(crate) struct TrainStepMs {
    /// Slowest.
    pub(crate) max: f64,
    /// Median.
    pub(crate) p50: f64,
    /// The slowest step.
    pub(crate) slowest_step: u32,
}

/// A cable pulled or restored.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct TrainLinkEvent {
    /// Pulled (true) or restored.
    pub(crate) down: bool,
    /// Restored because the run ended (the planned restore time had not come).
    pub(crate) end_of_run: bool,
    /// `A–B`.
    pub(crate) link: String,
    /// The step rank 0 was in.
    pub(crate) step: u32,
    /// Seconds since the start barrier.
    pub(crate) t_s: f64,
}

/// One completed step (digest-checked across all ranks).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct TrainStep {
    /// Training accuracy over all shards.
    pub(crate) acc: f64,
    /// Slowest rank's all-reduce time, ms.
    pub(crate) comm_ms: f64,
    /// The parameter digest (identical on every rank), 16 hex digits.
    pub(crate) digest: String,
    /// EVs retired so far, all ranks.
    pub(crate) ev_retired: u64,
    /// Mean training loss over the ranks.
    pub(crate) loss: f64,
    /// Retransmissions so far, all ranks.
    pub(crate) retransmits: u64,
    /// Step.
    pub(crate) step: u32,
    /// Slowest rank's step time (data, forward, backward, all-reduce, update), ms.
    pub(crate) step_ms: f64,
    /// Seconds since the start barrier when the last rank reported the step.
    pub(crate) t_s: f64,
    /// Held-out accuracy (all ranks' shares); `null` when not evaluated at this step.
    pub(crate) val_acc: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_declared_alphabetically() {
        crate::results::order::assert_sorted(&TrainResults {
            runs: vec![TrainRun {
                completed: true,
                ev_retired: 0,
                events: vec![TrainLinkEvent {
                    down: true,
                    end_of_run: false,
                    link: "a–b".into(),
                    step: 1,
                    t_s: 0.5,
                }],
                failure: Some("f".into()),
                loss_end: 0.1,
                loss_start: 2.0,
                name: "MRC".into(),
                params: 10,
                ranks: 2,
                retransmits: 0,
                step_ms: TrainStepMs {
                    max: 2.0,
                    p50: 1.0,
                    slowest_step: 1,
                },
                steps: vec![TrainStep {
                    acc: 0.5,
                    comm_ms: 0.1,
                    digest: "00".into(),
                    ev_retired: 0,
                    loss: 1.0,
                    retransmits: 0,
                    step: 0,
                    step_ms: 1.0,
                    t_s: 0.1,
                    val_acc: Some(0.5),
                }],
                steps_planned: 1,
                train_acc_end: 0.5,
                transport: "mrc".into(),
                val_acc_end: Some(0.6),
                val_acc_start: Some(0.4),
                wall_s: 1.0,
            }],
        });
    }
}
