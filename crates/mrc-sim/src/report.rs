//! What a run reports (docs/architecture.md §4 `mrc sim --json`; the CLI renders it).

use crate::kernel::Time;

/// p50 / p99 / max of a sample (nearest rank): the workload crate's one implementation.
pub use mrc_workload::failure::Percentiles;

/// Byte and packet counters of a switch (or a sum over switches).
///
/// Conservation: `bytes_in = bytes_out + queued + bytes_dropped + bytes_trimmed`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SwitchCounters {
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes transmitted.
    pub bytes_out: u64,
    /// Bytes dropped (queue overflow, no route, reboot flush).
    pub bytes_dropped: u64,
    /// Bytes cut off by trimming.
    pub bytes_trimmed: u64,
    /// Packets dropped.
    pub pkts_dropped: u64,
    /// Of the dropped packets: data (and retransmissions) at full length.
    pub dropped_data: u64,
    /// Of the dropped packets: control (SACK, NACK, probes, endpoint messages).
    pub dropped_control: u64,
    /// Of the dropped packets: trimmed headers.
    pub dropped_trimmed: u64,
    /// Packets trimmed.
    pub pkts_trimmed: u64,
    /// Packets ECN-marked.
    pub pkts_marked: u64,
    /// PFC pause frames sent.
    pub pfc_pauses: u64,
}

impl SwitchCounters {
    /// Adds another switch's counters.
    pub fn add(&mut self, o: &Self) {
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.bytes_dropped += o.bytes_dropped;
        self.bytes_trimmed += o.bytes_trimmed;
        self.pkts_dropped += o.pkts_dropped;
        self.dropped_data += o.dropped_data;
        self.dropped_control += o.dropped_control;
        self.dropped_trimmed += o.dropped_trimmed;
        self.pkts_trimmed += o.pkts_trimmed;
        self.pkts_marked += o.pkts_marked;
        self.pfc_pauses += o.pfc_pauses;
    }
}

/// The result of one run.
#[derive(Clone, PartialEq, Debug)]
pub struct RunReport {
    /// Transport name.
    pub transport: String,
    /// Simulated time at the end (last completion, or the time limit), ps.
    pub sim_time_ps: Time,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// NICs of the fabric (for per-NIC figures such as memory).
    pub nics: u32,
    /// Events processed.
    pub events: u64,
    /// Flows completed successfully.
    pub flows: u64,
    /// Flows that ended with an error (their QP failed): not completed, no FCT.
    pub flows_failed: u64,
    /// Flows in the workload.
    pub flows_total: u64,
    /// Flow completion times of successfully completed flows, ps.
    pub fct_ps: Percentiles,
    /// Completion time of every flow in workload order (`None` = unfinished or failed), ps.
    pub fcts_ps: Vec<Option<Time>>,
    /// Ideal time of the busiest NIC at line rate over the makespan; `None` when the run did
    /// not finish its work (there is no makespan to compare).
    pub goodput_fraction: Option<f64>,
    /// Payload bytes the workload asked for.
    pub bytes_expected: u64,
    /// Distinct payload bytes that arrived intact.
    pub bytes_delivered: u64,
    /// Every byte arrived exactly once and intact, every flow completed successfully.
    pub data_intact: bool,
    /// Packets injected by NICs (data and control).
    pub packets_sent: u64,
    /// Data packets sent by the transports.
    pub data_packets_sent: u64,
    /// Data packets retransmitted.
    pub retransmitted: u64,
    /// Packets trimmed by switches.
    pub trimmed: u64,
    /// Packets dropped (switch queues, failed links and switches, lossy links).
    pub dropped: u64,
    /// Of those, lost on failed, black-holed or lossy links (the rest are in
    /// [`SwitchCounters`]' `dropped_*`).
    pub dropped_link: u64,
    /// Packets ECN-marked.
    pub ecn_marked: u64,
    /// PFC pause frames.
    pub pfc_pauses: u64,
    /// EVs retired.
    pub ev_retired: u64,
    /// EVs resurrected.
    pub ev_resurrected: u64,
    /// Retransmissions whose original was later found to have arrived.
    pub spurious_retransmits: u64,
    /// Reliability probes sent.
    pub probes_sent: u64,
    /// QPs that failed.
    pub qp_errors: u64,
    /// Sum of all switch counters.
    pub switches: SwitchCounters,
    /// Time series for plots (delivered bytes, EV states, links, failures).
    pub timeline: crate::sim::record::Timeline,
    /// EV state changes of the flow given to [`crate::Sim::watch_ev_changes`] (its
    /// requesters), in time order.
    pub watched_ev_changes: Vec<EvChange>,
}

/// One EV state change of a QP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvChange {
    /// When, ps.
    pub at_ps: Time,
    /// The EV.
    pub ev: u32,
    /// Resurrected rather than retired.
    pub good: bool,
}
