//! What a finished run reports: the run report and the per-port and per-switch counters.

use mrc_fabric::NodeId;

use crate::factory::TransportFactory;
use crate::kernel::Time;
use crate::report::{RunReport, SwitchCounters};

use super::{NONE, Sim};

/// Per-port figures for the conservation / utilisation checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortCounters {
    /// Node owning the port.
    pub node: u32,
    /// Link speed in Gb/s.
    pub gbps: u32,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Time spent serialising, in ps.
    pub busy_ps: Time,
    /// Bytes still queued.
    pub queued_bytes: u64,
}

impl<F: TransportFactory> Sim<F> {
    /// Per-port counters (for conservation and utilisation tests).
    pub fn port_counters(&self) -> Vec<PortCounters> {
        self.net
            .ports
            .iter()
            .filter(|p| p.link != NONE)
            .map(|p| PortCounters {
                node: p.node.0,
                gbps: p.gbps,
                tx_bytes: p.tx_bytes,
                busy_ps: p.busy_ps,
                queued_bytes: p.data_bytes + p.ctrl_bytes,
            })
            .collect()
    }

    pub(super) fn report(&self, wall_s: f64) -> RunReport {
        let mut fcts: Vec<u64> = Vec::new();
        let mut first_start = u64::MAX;
        let mut all_ok = true;
        let mut failed = 0u64;
        for f in &self.work.flows {
            if let Some(s) = f.start {
                first_start = first_start.min(s);
            }
            match (f.start, f.done) {
                (Some(s), Some(d)) if f.ok => fcts.push(d - s),
                // Ended with an error (a QP error): failed, not done; no FCT.
                (Some(_), Some(_)) => {
                    failed += 1;
                    all_ok = false;
                }
                _ => all_ok = false,
            }
        }
        let end = if let Some(e) = self.dag_end() {
            e
        } else if self.dag.is_none() && self.work.flows_done == self.work.flows.len() as u64 {
            self.last_flow_end()
        } else {
            self.latest()
        };
        // This partition's QPs and those merged from the others (`share`).
        let mut st = self.own_qp_sums();
        st.add(&self.part.absorbed_qp);
        let expected: u64 = self.spec.workload.flows.iter().map(|f| f.bytes).sum();
        let covered: u64 = self.work.pairs.iter().map(|p| p.covered).sum();
        let placed_ok = self.own_placed_ok() && self.part.placed_ok;
        let data_intact = all_ok
            && covered == expected
            && self.count.corrupt == 0
            && self.count.misrouted == 0
            && placed_ok
            && self.work.flows_done == self.work.flows.len() as u64;
        let mut sw = SwitchCounters::default();
        for c in &self.sw.counters.as_slice()[self.nics as usize..] {
            sw.add(c);
        }
        // Ideal: the busiest NIC moving its payload at line rate.
        let nic_gbps = u64::from(self.info.lane_gbps) * u64::from(self.planes);
        let busiest = self
            .nic_tx_payload_expected()
            .into_iter()
            .max()
            .unwrap_or(0);
        let ideal_ps = busiest * 8_000 / nic_gbps.max(1);
        let makespan = end.saturating_sub(if first_start == u64::MAX {
            0
        } else {
            first_start
        });
        // Only a run that finished all its work has a makespan to compare with the ideal.
        let finished = if self.dag.is_some() {
            self.dag_end().is_some()
        } else {
            self.work.flows_done == self.work.flows.len() as u64
        };
        let goodput_fraction =
            (finished && makespan > 0).then(|| (ideal_ps as f64 / makespan as f64).min(1.0));
        RunReport {
            transport: self.factory.name(),
            sim_time_ps: end,
            wall_s,
            nics: self.nics,
            events: self.events(),
            flows: fcts.len() as u64,
            flows_failed: failed,
            flows_total: self.work.flows.len() as u64,
            fct_ps: mrc_workload::failure::percentiles(&fcts),
            fcts_ps: self
                .work
                .flows
                .iter()
                .map(|f| match (f.start, f.done) {
                    (Some(s), Some(d)) if f.ok => Some(d - s),
                    _ => None,
                })
                .collect(),
            goodput_fraction,
            bytes_expected: expected,
            bytes_delivered: covered,
            data_intact,
            packets_sent: self.count.pkts_sent,
            data_packets_sent: st.data_sent,
            retransmitted: st.data_retransmitted,
            trimmed: sw.pkts_trimmed,
            dropped: sw.pkts_dropped + self.count.pkts_dropped_link,
            dropped_link: self.count.pkts_dropped_link,
            ecn_marked: sw.pkts_marked,
            pfc_pauses: sw.pfc_pauses,
            ev_retired: st.ev_retired,
            ev_resurrected: st.ev_resurrected,
            spurious_retransmits: st.spurious_retransmits,
            probes_sent: st.probes_sent,
            qp_errors: self.count.qp_errors,
            switches: sw,
            timeline: Default::default(),
            watched_ev_changes: self.ev_log.clone(),
        }
    }

    /// When the last flow that ended (done or failed) ended, 0 if none has.
    pub(super) fn last_flow_end(&self) -> Time {
        let ends = self.work.flows.iter().filter_map(|f| f.start.and(f.done));
        ends.max().unwrap_or(0)
    }

    pub(super) fn nic_tx_payload_expected(&self) -> Vec<u64> {
        let mut tx = vec![0u64; self.nics as usize];
        let mut rx = vec![0u64; self.nics as usize];
        for f in &self.spec.workload.flows {
            tx[f.src as usize] += f.bytes;
            rx[f.dst as usize] += f.bytes;
        }
        tx.iter().zip(&rx).map(|(a, b)| *a.max(b)).collect()
    }

    /// Switch counters of every switch (index = node id − NICs).
    pub fn switch_counters(&self) -> &[SwitchCounters] {
        &self.sw.counters.as_slice()[self.nics as usize..]
    }

    /// Bytes queued at each switch right now.
    pub fn switch_queued(&self) -> Vec<u64> {
        (self.nics..self.sw.counters.len() as u32)
            .map(|n| {
                self.net
                    .ports_of(NodeId(n))
                    .map(|g| {
                        let p = &self.net.ports[g];
                        p.data_bytes + p.ctrl_bytes
                    })
                    .sum()
            })
            .collect()
    }
}

/// Run-wide packet counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Counters {
    pub(super) pkts_sent: u64,
    /// Lost on a link (down, black hole, loss) or flushed at a NIC port.
    pub(super) pkts_dropped_link: u64,
    /// Packets with no route or at the wrong NIC (a simulator or table fault).
    pub(super) misrouted: u64,
    /// Writes that do not fit their region or overlap earlier data.
    pub(super) corrupt: u64,
    pub(super) qp_errors: u64,
}

impl Counters {
    /// Adds another partition's counts.
    pub(super) fn add(&mut self, o: &Self) {
        self.pkts_sent += o.pkts_sent;
        self.pkts_dropped_link += o.pkts_dropped_link;
        self.misrouted += o.misrouted;
        self.corrupt += o.corrupt;
        self.qp_errors += o.qp_errors;
    }
}
