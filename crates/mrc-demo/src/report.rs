//! Summary figures of a run (the HTML report with plots is rendered by `mrc train` in mrc-cli).

use crate::driver::JobReport;

/// The headline numbers of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    /// Completed steps.
    pub steps: usize,
    /// Mean training loss of the first step.
    pub loss_start: f64,
    /// Mean training loss over the last (up to) 10 steps.
    pub loss_end: f64,
    /// Held-out accuracy at the first evaluation.
    pub val_acc_start: Option<f64>,
    /// Held-out accuracy at the last evaluation.
    pub val_acc_end: Option<f64>,
    /// Training accuracy over the last (up to) 10 steps.
    pub train_acc_end: f64,
    /// Median step time, ms (steps after step 0, which is warm-up).
    pub step_ms_p50: f64,
    /// Slowest step time, ms (steps after step 0).
    pub step_ms_max: f64,
    /// The slowest step.
    pub slowest_step: u32,
    /// Retransmissions (all ranks, whole run).
    pub retransmits: u64,
    /// EVs retired (all ranks, whole run).
    pub ev_retired: u64,
}

/// Figures of a run (zeros for a run without steps).
pub fn figures(r: &JobReport) -> Figures {
    let s = &r.steps;
    let tail = &s[s.len().saturating_sub(10)..];
    let mean = |f: &dyn Fn(&crate::driver::StepSummary) -> f64| {
        if tail.is_empty() {
            0.0
        } else {
            tail.iter().map(f).sum::<f64>() / tail.len() as f64
        }
    };
    // Step 0 is warm-up (allocations, first packets); step-time figures start at step 1.
    let timed = if s.len() > 1 { &s[1..] } else { &s[..] };
    let mut times: Vec<f64> = timed.iter().map(|x| x.step_ms).collect();
    times.sort_by(f64::total_cmp);
    let slowest = timed
        .iter()
        .max_by(|a, b| a.step_ms.total_cmp(&b.step_ms))
        .map_or(0, |x| x.step);
    Figures {
        steps: s.len(),
        loss_start: s.first().map_or(0.0, |x| x.loss),
        loss_end: mean(&|x| x.loss),
        val_acc_start: s.iter().find_map(|x| x.val_acc),
        val_acc_end: s.iter().rev().find_map(|x| x.val_acc),
        train_acc_end: mean(&|x| x.acc),
        step_ms_p50: times.get(times.len() / 2).copied().unwrap_or(0.0),
        step_ms_max: times.last().copied().unwrap_or(0.0),
        slowest_step: slowest,
        retransmits: s.last().map_or(0, |x| x.retransmits),
        ev_retired: s.last().map_or(0, |x| x.ev_retired),
    }
}

/// One summary line of a run.
pub fn summary_line(r: &JobReport) -> String {
    let f = figures(r);
    let acc = |a: Option<f64>| a.map_or_else(|| "–".to_owned(), |a| format!("{:.3}", a));
    let status = match &r.failure {
        None if r.completed() => "completed".to_owned(),
        None => format!("{} of {} steps", r.steps.len(), r.steps_planned),
        Some(why) => format!(
            "STOPPED after {} of {} steps: {why}",
            r.steps.len(),
            r.steps_planned
        ),
    };
    format!(
        "{:<4} steps {:>4}/{:<4} loss {:.3} → {:.3}  val acc {} → {}  step p50 {:.1} ms  max {:.1} ms (step {})  retx {}  EVs retired {}  params identical every step  {}",
        r.transport.name(),
        f.steps,
        r.steps_planned,
        f.loss_start,
        f.loss_end,
        acc(f.val_acc_start),
        acc(f.val_acc_end),
        f.step_ms_p50,
        f.step_ms_max,
        f.slowest_step,
        f.retransmits,
        f.ev_retired,
        status
    )
}
