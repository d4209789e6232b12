//! `mrc sim --json`: one file per scenario, one [`SimRun`] per transport run. Everything but
//! the `--timing` fields is a function of the scenario and seed (byte-identical reruns).

use serde::{Deserialize, Serialize};

use super::PercentilesUs;

/// The whole file.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct SimResults {
    /// The scenario's `claim` (what the paper says), trimmed.
    #[serde(default)]
    pub(crate) claim: String,
    /// The scenario's `description`, trimmed.
    #[serde(default)]
    pub(crate) description: String,
    /// Peak RSS of the whole process when runs ran in parallel (`--timing --threads N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) peak_rss_bytes: Option<u64>,
    /// The runs, in the scenario's order.
    pub(crate) runs: Vec<SimRun>,
    /// The scenario's `name`.
    pub(crate) scenario: String,
    /// The scenario file as given, so the report can echo it (absent from `mrc sweep` points).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) scenario_toml: Option<String>,
    /// The seed used (the file's, or `--seed`).
    pub(crate) seed: u64,
}

/// One run: a transport on the scenario's fabric, workload and failures.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct SimRun {
    /// Distinct payload bytes that arrived intact.
    pub(crate) bytes_delivered: u64,
    /// Payload bytes the workload asked for.
    pub(crate) bytes_expected: u64,
    /// Collectives of a collective or trace workload (empty for training); absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) collectives: Option<Vec<Collective>>,
    /// Every byte arrived exactly once and intact, every flow completed successfully.
    pub(crate) data_intact: bool,
    /// Simulator events processed.
    pub(crate) events: u64,
    /// Events per wall-clock second (`--timing` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) events_per_s: Option<f64>,
    /// Flow counts and completion times.
    pub(crate) flows: Flows,
    /// Ideal time of the busiest NIC at line rate over the makespan, to 4 decimals; `null`
    /// when the run did not finish its work.
    pub(crate) goodput_fraction: Option<f64>,
    /// The training job's summary (training workloads only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) job: Option<Job>,
    /// The run's label (defaults to the transport name).
    pub(crate) label: String,
    /// Packet counters.
    pub(crate) packets: Packets,
    /// Path (EV) management counters.
    pub(crate) paths: Paths,
    /// Peak RSS of the process during this run (`--timing`, runs one at a time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) peak_rss_bytes: Option<u64>,
    /// `peak_rss_bytes` over the NICs simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) peak_rss_per_nic_bytes: Option<u64>,
    /// Simulated time at the end of the run, µs.
    pub(crate) sim_time_us: f64,
    /// Per-bin series the report plots (absent from files older than the report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) timeline: Option<Timeline>,
    /// `mrc`, `spray` or `roce`.
    pub(crate) transport: String,
    /// Wall-clock seconds of the run, to 3 decimals (`--timing` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) wall_s: Option<f64>,
    /// EV state changes of the scenario's `watch_flow` (only when it has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) watched_flow_ev_changes: Option<Vec<EvChange>>,
    /// FCT of the scenario's `watch_flow`, µs; `null` without one or if it never finished.
    #[serde(default)]
    pub(crate) watched_flow_fct_us: Option<f64>,
}

/// Flow counts and completion times.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct Flows {
    /// Flows completed successfully.
    pub(crate) count: u64,
    /// Flows that ended with an error (their QP failed); present only when some did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) failed: Option<u64>,
    /// Flow completion times of successfully completed flows, µs.
    pub(crate) fct_us: PercentilesUs,
    /// Flows in the workload.
    pub(crate) total: u64,
}

/// Packet counters, over all NICs and switches.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct Packets {
    /// Packets dropped (switch queues, failed links and switches, lossy links).
    pub(crate) dropped: u64,
    /// `dropped` by class (absent from older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dropped_by_class: Option<DroppedByClass>,
    /// Packets ECN-marked.
    pub(crate) ecn_marked: u64,
    /// Data packets retransmitted.
    pub(crate) retransmitted: u64,
    /// Packets injected by NICs (data and control).
    pub(crate) sent: u64,
    /// Retransmissions whose original was later found to have arrived (absent from older
    /// files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) spurious_retransmits: Option<u64>,
    /// Packets trimmed by switches.
    pub(crate) trimmed: u64,
}

/// Where packets were lost.
#[derive(Serialize, Deserialize, Clone, Copy, Debug)]
pub(crate) struct DroppedByClass {
    /// Control packets dropped by switches.
    pub(crate) control: u64,
    /// Whole data packets dropped by switches.
    pub(crate) data: u64,
    /// Lost on failed, black-holed or lossy links.
    pub(crate) link: u64,
    /// Trimmed headers dropped by switches.
    pub(crate) trimmed_header: u64,
}

/// Path (EV) management counters.
#[derive(Serialize, Deserialize, Clone, Copy, Debug)]
pub(crate) struct Paths {
    /// EVs resurrected.
    pub(crate) ev_resurrected: u64,
    /// EVs retired.
    pub(crate) ev_retired: u64,
    /// Reliability probes sent (absent from older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) probes_sent: Option<u64>,
}

/// A state change of one EV of the watched flow.
#[derive(Serialize, Deserialize, Clone, Copy, Debug)]
pub(crate) struct EvChange {
    /// The EV.
    pub(crate) ev: u32,
    /// Resurrected rather than retired.
    pub(crate) good: bool,
    /// Simulated time, µs.
    pub(crate) t_us: f64,
}

/// Per-bin series of a run (integers only: deterministic).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct Timeline {
    /// Width of a bin, ns.
    pub(crate) bin_ns: u64,
    /// Payload bytes delivered intact per bin.
    pub(crate) delivered_bytes: Vec<u64>,
    /// EVs of running QPs by state at the end of each bin.
    pub(crate) ev_states: EvStates,
    /// Failure events (each start and end).
    pub(crate) failures: Vec<FailureMark>,
    /// Flows that completed.
    pub(crate) fct_finished: u64,
    /// Sorted FCTs in ns, thinned to evenly spaced ranks (the maximum always kept).
    pub(crate) fct_ns: Vec<u64>,
    /// Flows that never completed.
    pub(crate) fct_unfinished: u64,
    /// Link groups (one per hop direction and plane).
    pub(crate) links: Vec<LinkGroup>,
}

/// EV counts per bin, by state.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct EvStates {
    /// Retired after an unexplained loss, only probed.
    pub(crate) assumed_bad: Vec<u32>,
    /// Carrying new data.
    pub(crate) good: Vec<u32>,
    /// Passed over once after congestion feedback.
    pub(crate) skip: Vec<u32>,
}

/// One failure event on the timeline.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct FailureMark {
    /// Simulated time, ns.
    pub(crate) at_ns: u64,
    /// What happened: `down`, `up`, `black-hole`, `black-hole-end`, `lossy`, `loss-end`.
    pub(crate) change: String,
    /// Index of the failure in the run's list.
    pub(crate) failure: u32,
    /// What failed, in words.
    pub(crate) what: String,
}

/// The links of one hop direction in one plane.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct LinkGroup {
    /// Tier of the transmitting node: 0 = NIC, 1 = T0, 2 = T1, 3 = T2.
    pub(crate) from_tier: u8,
    /// The ports' summed speed, Gb/s.
    pub(crate) gbps: u64,
    /// The hop direction: `NIC→T0`, `T0→T1`, `T1→T0`, `T0→NIC`, ...
    pub(crate) group: String,
    /// Plane (0 in single-plane fabrics).
    pub(crate) plane: u8,
    /// Ports (link directions) in the group.
    pub(crate) ports: u32,
    /// Largest queue (data + control bytes) of one port of the group at the end of each bin.
    pub(crate) queue_max_bytes: Vec<u64>,
    /// Tier of the receiving node (same numbering).
    pub(crate) to_tier: u8,
    /// Utilisation of the group per bin, in permille of its capacity.
    pub(crate) util_permille: Vec<u32>,
}

/// One collective of a collective or trace workload.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct Collective {
    /// Algorithm bandwidth (nccl-tests), Gb/s to 3 decimals; `null` if it never finished.
    pub(crate) algbw_gbps: Option<f64>,
    /// Bus bandwidth (nccl-tests), Gb/s to 3 decimals; `null` if it never finished.
    pub(crate) busbw_gbps: Option<f64>,
    /// First operation start to last operation end, µs; `null` if it never finished.
    pub(crate) completion_us: Option<f64>,
    /// Collective kind (e.g. `allreduce`).
    pub(crate) kind: String,
    /// Its name in the workload.
    pub(crate) name: String,
    /// Ranks taking part.
    pub(crate) ranks: u32,
    /// Size S in bytes (as nccl-tests counts it).
    pub(crate) size_bytes: u64,
}

/// Summary of a training job.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct Job {
    /// When the job crashed, µs; `null` if it did not.
    pub(crate) crash_at_us: Option<f64>,
    /// A failure crashed the job (a collective errored).
    pub(crate) crashed: bool,
    /// Productive time (steps kept × failure-free step time) over wall time with the restart,
    /// to 4 decimals.
    pub(crate) effective_training_time_fraction: f64,
    /// What each of the scenario's failures cost.
    pub(crate) failures: Vec<JobFailure>,
    /// The job stopped without crashing or finishing (time limit or no events left).
    pub(crate) hung: bool,
    /// Steps completed since the last checkpoint and lost with a crash.
    pub(crate) lost_steps: u64,
    /// Step times, µs.
    pub(crate) step_time_us: PercentilesUs,
    /// Every completed step's time, µs.
    pub(crate) step_times_us: Vec<f64>,
    /// Steps planned.
    pub(crate) steps: u32,
    /// Steps completed.
    pub(crate) steps_completed: u32,
    /// Simulated time plus the restart after a crash, µs.
    pub(crate) wall_with_restart_us: f64,
}

/// What one failure cost a training job.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct JobFailure {
    /// When it started, µs.
    pub(crate) at_us: f64,
    /// It crashed the job.
    pub(crate) crashed: bool,
    /// Steps lost with the crash (the failure that crashed the job only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) lost_steps: Option<u64>,
    /// Why the figures are bounds or zero (present only then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
    /// Time the job stood still because of it, µs.
    pub(crate) stall_us: f64,
    /// Step it hit (0-based); `null` if the job never reached it.
    pub(crate) step: Option<u64>,
    /// When it ended, µs; `null` if it never did.
    pub(crate) until_us: Option<f64>,
    /// What failed, in words.
    pub(crate) what: String,
    /// Work since the last checkpoint lost with a crash, µs.
    pub(crate) work_lost_us: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_declared_alphabetically() {
        let p = PercentilesUs {
            max: 3.0,
            p50: 1.0,
            p99: 2.0,
        };
        let run = SimRun {
            bytes_delivered: 1,
            bytes_expected: 1,
            collectives: Some(vec![Collective {
                algbw_gbps: Some(1.0),
                busbw_gbps: None,
                completion_us: Some(2.0),
                kind: "allreduce".into(),
                name: "c".into(),
                ranks: 8,
                size_bytes: 1 << 20,
            }]),
            data_intact: true,
            events: 10,
            events_per_s: Some(1e6),
            flows: Flows {
                count: 1,
                failed: Some(1),
                fct_us: p,
                total: 2,
            },
            goodput_fraction: Some(0.5),
            job: Some(Job {
                crash_at_us: Some(1.0),
                crashed: true,
                effective_training_time_fraction: 0.9,
                failures: vec![JobFailure {
                    at_us: 1.0,
                    crashed: true,
                    lost_steps: Some(1),
                    note: Some("n".into()),
                    stall_us: 1.0,
                    step: Some(0),
                    until_us: None,
                    what: "T1 0".into(),
                    work_lost_us: 1.0,
                }],
                hung: false,
                lost_steps: 1,
                step_time_us: p,
                step_times_us: vec![1.0],
                steps: 2,
                steps_completed: 1,
                wall_with_restart_us: 5.0,
            }),
            label: "mrc".into(),
            packets: Packets {
                dropped: 1,
                dropped_by_class: Some(DroppedByClass {
                    control: 0,
                    data: 1,
                    link: 0,
                    trimmed_header: 0,
                }),
                ecn_marked: 0,
                retransmitted: 1,
                sent: 9,
                spurious_retransmits: Some(0),
                trimmed: 0,
            },
            paths: Paths {
                ev_resurrected: 0,
                ev_retired: 1,
                probes_sent: Some(2),
            },
            peak_rss_bytes: Some(1),
            peak_rss_per_nic_bytes: Some(1),
            sim_time_us: 4.0,
            timeline: Some(Timeline {
                bin_ns: 1000,
                delivered_bytes: vec![1],
                ev_states: EvStates {
                    assumed_bad: vec![0],
                    good: vec![1],
                    skip: vec![0],
                },
                failures: vec![FailureMark {
                    at_ns: 1,
                    change: "down".into(),
                    failure: 0,
                    what: "T1 0".into(),
                }],
                fct_finished: 1,
                fct_ns: vec![1],
                fct_unfinished: 1,
                links: vec![LinkGroup {
                    from_tier: 0,
                    gbps: 100,
                    group: "NIC→T0".into(),
                    plane: 0,
                    ports: 2,
                    queue_max_bytes: vec![0],
                    to_tier: 1,
                    util_permille: vec![10],
                }],
            }),
            transport: "mrc".into(),
            wall_s: Some(0.1),
            watched_flow_ev_changes: Some(vec![EvChange {
                ev: 1,
                good: false,
                t_us: 1.0,
            }]),
            watched_flow_fct_us: Some(1.0),
        };
        let doc = SimResults {
            claim: "c".into(),
            description: "d".into(),
            peak_rss_bytes: Some(1),
            runs: vec![run],
            scenario: "s".into(),
            scenario_toml: Some("t".into()),
            seed: 1,
        };
        crate::results::order::assert_sorted(&doc);
    }
}
