//! `mrc perf --json`: real transfers, so every figure is a measurement (timings differ from
//! run to run; byte counts, digests and `verified` do not).

use mrc_net::perf::PerfReport;
use serde::{Deserialize, Serialize};

/// `mrc perf server` and `mrc perf client`: one side of one transfer.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct PerfOneSide {
    /// What this side measured.
    pub(crate) result: PerfResult,
    /// `server` or `client`.
    pub(crate) role: String,
    /// `mrc` or `tcp`.
    pub(crate) transport: String,
}

/// `mrc perf bench`: one transfer with MRC, then one with TCP pinned to an EV.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct PerfBench {
    /// Sending NIC.
    pub(crate) from: u32,
    /// The MRC transfer.
    pub(crate) mrc: BenchMrc,
    /// The TCP transfer (absent with `--no-tcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tcp: Option<BenchTcp>,
    /// Receiving NIC.
    pub(crate) to: u32,
}

/// Both ends of the MRC transfer of `mrc perf bench`.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct BenchMrc {
    /// The sender's figures.
    pub(crate) client: PerfResult,
    /// How the transfer reacted to the pulled cable (only with `--pull`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pull: Option<Pull>,
    /// The receiver's figures.
    pub(crate) server: PerfResult,
}

/// A cable pulled during the MRC transfer, and the transport's reaction.
#[derive(Serialize, Deserialize, Clone, Copy, Debug)]
pub(crate) struct Pull {
    /// When the cable went down, s since the transfer started.
    pub(crate) down_at: f64,
    /// First resurrection after the repair, ms after it; `null` if none.
    pub(crate) resurrect_ms: Option<f64>,
    /// First retirement after the pull, ms after it; `null` if none.
    pub(crate) retire_ms: Option<f64>,
    /// When it came back up, s; `null` if the transfer ended first.
    pub(crate) up_at: Option<f64>,
}

/// The TCP transfer of `mrc perf bench`: its result, or the error that ended it.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct BenchTcp {
    /// Why the transfer failed (then `result` is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// The EV the connection was pinned to.
    pub(crate) ev: u32,
    /// When the cable was pulled, s since the transfer started; `null` without `--pull`.
    pub(crate) pulled_at: Option<f64>,
    /// Longest gap between the receiver's 1 MiB reads, ms (on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) receiver_max_gap_ms: Option<f64>,
    /// When the cable came back, s; `null` if never.
    pub(crate) restored_at: Option<f64>,
    /// The sender's figures (on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) result: Option<PerfResult>,
}

/// `mrc perf perm`: every NIC sends to its partner at once.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct PerfPerm {
    /// What the NICs' lanes can carry in all, Gb/s; `null` on an unshaped fabric.
    pub(crate) capacity_gbps: Option<f64>,
    /// The MRC transfers.
    pub(crate) mrc: PermSide,
    /// (sender, receiver) NICs, in the order of `flows`.
    pub(crate) pairs: Vec<(u32, u32)>,
    /// The TCP transfers (absent with `--no-tcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tcp: Option<PermSide>,
}

/// All transfers of one transport in `mrc perf perm`.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct PermSide {
    /// Bytes of all transfers over `span_s`, Gb/s.
    pub(crate) aggregate_gbps: f64,
    /// The EV each TCP connection was pinned to (TCP only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) evs: Option<Vec<u32>>,
    /// The senders' figures, one per pair.
    pub(crate) flows: Vec<PerfResult>,
    /// `aggregate_gbps` over `capacity_gbps`; `null` on an unshaped fabric.
    pub(crate) fraction: Option<f64>,
    /// First start to last end of the transfers, s.
    pub(crate) span_s: f64,
}

/// What one end of a transfer measured.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct PerfResult {
    /// Payload bytes transferred (all QPs).
    pub(crate) bytes: u64,
    /// CPU seconds of the transport thread.
    pub(crate) cpu_secs: f64,
    /// (EV, data packets received on it).
    pub(crate) data_per_ev: Vec<(u32, u64)>,
    /// UDP datagrams received.
    pub(crate) datagrams_received: u64,
    /// UDP datagrams sent.
    pub(crate) datagrams_sent: u64,
    /// Digest of the transferred bytes, 16 hex digits.
    pub(crate) digest: String,
    /// Duplicate data packets received (a resent packet that had arrived).
    pub(crate) duplicates: u64,
    /// EV retirements and resurrections in time order.
    pub(crate) ev_changes: Vec<PerfEvChange>,
    /// EVs resurrected.
    pub(crate) ev_resurrected: u64,
    /// EVs retired.
    pub(crate) ev_retired: u64,
    /// EVs by state at the end.
    pub(crate) ev_states: PerfEvStates,
    /// Goodput, Gbit/s.
    pub(crate) gbps: f64,
    /// Loss detections of the sender, by rule.
    pub(crate) losses: Losses,
    /// `max_gap_ms` between the packets' arrivals on the socket (kernel timestamps), ms.
    pub(crate) max_arrival_gap_ms: f64,
    /// Longest time the transfer did not move as this side's thread saw it, ms: between two
    /// data packets (server) or two acknowledgements (client), first to last.
    pub(crate) max_gap_ms: f64,
    /// Longest time this side's thread left its socket alone, ms.
    pub(crate) max_round_gap_ms: f64,
    /// NACKs received (trims, resources, fatal).
    pub(crate) nacks: u64,
    /// Packets (sent + received) per second.
    pub(crate) pps: f64,
    /// Data packets retransmitted.
    pub(crate) retransmits: u64,
    /// Seconds from the first post to the last completion (client) or first to last data
    /// (server).
    pub(crate) secs: f64,
    /// (EV, datagrams sent on it).
    pub(crate) sent_per_ev: Vec<(u32, u64)>,
    /// Trimmed packets received.
    pub(crate) trims: u64,
    /// Byte-for-byte check passed (server: data == pattern; client: digests equal).
    pub(crate) verified: bool,
}

/// An EV state change.
#[derive(Serialize, Deserialize, Clone, Copy, Debug)]
pub(crate) struct PerfEvChange {
    /// The EV.
    pub(crate) ev: u32,
    /// It became good (resurrected) rather than retired.
    pub(crate) good: bool,
    /// Seconds since the transfer started.
    pub(crate) t: f64,
}

/// EV counts by state.
#[derive(Serialize, Deserialize, Clone, Copy, Debug)]
pub(crate) struct PerfEvStates {
    /// Retired, only probed.
    pub(crate) assumed_bad: u32,
    /// Refused by the path policy.
    pub(crate) denied: u32,
    /// Carrying data.
    pub(crate) good: u32,
    /// Passed over after congestion feedback, or being probed.
    pub(crate) skip_or_probing: u32,
}

/// Loss detections of the sender, by rule (summed over the QPs).
#[derive(Serialize, Deserialize, Clone, Copy, Debug)]
pub(crate) struct Losses {
    /// Declared lost by the out-of-order rule.
    pub(crate) ooo: u64,
    /// QP-level timeouts.
    pub(crate) qp_timeouts: u64,
    /// Retransmissions the sender found spurious.
    pub(crate) spurious: u64,
    /// Declared lost by the per-packet timer.
    pub(crate) timeout: u64,
}

impl From<&PerfReport> for PerfResult {
    fn from(r: &PerfReport) -> Self {
        Self {
            bytes: r.bytes,
            cpu_secs: r.cpu_secs,
            data_per_ev: r.data_per_ev.clone(),
            datagrams_received: r.datagrams_received,
            datagrams_sent: r.datagrams_sent,
            digest: format!("{:016x}", r.digest),
            duplicates: r.duplicates,
            ev_changes: r
                .ev_changes
                .iter()
                .map(|e| PerfEvChange {
                    ev: e.ev,
                    good: e.good,
                    t: e.t,
                })
                .collect(),
            ev_resurrected: r.ev_resurrected,
            ev_retired: r.ev_retired,
            ev_states: PerfEvStates {
                assumed_bad: r.ev_states.2,
                denied: r.ev_states.3,
                good: r.ev_states.0,
                skip_or_probing: r.ev_states.1,
            },
            gbps: r.gbps,
            losses: Losses {
                ooo: r.losses.ooo,
                qp_timeouts: r.losses.qp_timeouts,
                spurious: r.losses.spurious,
                timeout: r.losses.timeout,
            },
            max_arrival_gap_ms: r.max_arrival_gap_ms,
            max_gap_ms: r.max_gap_ms,
            max_round_gap_ms: r.max_round_gap_ms,
            nacks: r.nacks,
            pps: r.pps,
            retransmits: r.retransmits,
            secs: r.secs,
            sent_per_ev: r.sent_per_ev.clone(),
            trims: r.trims,
            verified: r.verified,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_declared_alphabetically() {
        let r = PerfResult::from(&PerfReport::default());
        let side = PermSide {
            aggregate_gbps: 1.0,
            evs: Some(vec![1]),
            flows: vec![r.clone()],
            fraction: Some(0.5),
            span_s: 1.0,
        };
        use crate::results::order::assert_sorted;
        assert_sorted(&PerfOneSide {
            result: r.clone(),
            role: "client".into(),
            transport: "mrc".into(),
        });
        assert_sorted(&PerfPerm {
            capacity_gbps: Some(2.0),
            mrc: side.clone(),
            pairs: vec![(0, 1)],
            tcp: Some(side),
        });
        assert_sorted(&PerfBench {
            from: 0,
            mrc: BenchMrc {
                client: r.clone(),
                pull: Some(Pull {
                    down_at: 0.1,
                    resurrect_ms: Some(1.0),
                    retire_ms: Some(1.0),
                    up_at: Some(0.2),
                }),
                server: r.clone(),
            },
            tcp: Some(BenchTcp {
                error: Some("e".into()),
                ev: 1,
                pulled_at: Some(0.1),
                receiver_max_gap_ms: Some(1.0),
                restored_at: Some(0.2),
                result: Some(r),
            }),
            to: 3,
        });
    }
}
