//! What a partition of a split run reports of its own nodes, flows and pairs, as plain data
//! (`docs/architecture.md` §3, partitioned runs): partition 0 merges the others' shares into its
//! own state and reports. Plain data, so a share can cross a process boundary (MPI) as bytes;
//! threads hand it over as it is.

use mrc_fabric::NodeId;
use mrc_proto::Transport as _;
use mrc_proto::nic::NicQp as _;

use crate::factory::TransportFactory;
use crate::kernel::Time;
use crate::report::{EvChange, SwitchCounters};

use super::Sim;
use super::ids::{FlowId, Id as _, PairId};
use super::record::Timeline;
use super::report::Counters;

/// The transport statistics the report reads, summed over QPs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct QpSums {
    pub(super) data_sent: u64,
    pub(super) data_retransmitted: u64,
    pub(super) bytes_placed: u64,
    pub(super) ev_retired: u64,
    pub(super) ev_resurrected: u64,
    pub(super) spurious_retransmits: u64,
    pub(super) probes_sent: u64,
}

impl QpSums {
    /// Adds one QP's statistics.
    fn add_stats(&mut self, s: &mrc_proto::Stats) {
        self.data_sent += s.data_sent;
        self.data_retransmitted += s.data_retransmitted;
        self.bytes_placed += s.bytes_placed;
        self.ev_retired += s.ev_retired;
        self.ev_resurrected += s.ev_resurrected;
        self.spurious_retransmits += s.spurious_retransmits;
        self.probes_sent += s.probes_sent;
    }

    /// Adds another partition's sums.
    pub(super) fn add(&mut self, o: &Self) {
        self.data_sent += o.data_sent;
        self.data_retransmitted += o.data_retransmitted;
        self.bytes_placed += o.bytes_placed;
        self.ev_retired += o.ev_retired;
        self.ev_resurrected += o.ev_resurrected;
        self.spurious_retransmits += o.spurious_retransmits;
        self.probes_sent += o.probes_sent;
    }
}

/// The counters of one egress port that the report and the port counters read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct PortShare {
    pub(super) tx_bytes: u64,
    pub(super) tx_pkts: u64,
    pub(super) busy_ps: Time,
    pub(super) data_bytes: u64,
    pub(super) ctrl_bytes: u64,
}

/// One partition's share of a finished run. Lists hold only what the partition owns, in the
/// order every partition can rebuild from the ownership map: ports by node then port, switch
/// counters and NIC payloads by node, flows and pairs by index.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Share {
    /// Its partition.
    pub(super) me: u16,
    /// Ports of its nodes.
    pub(super) ports: Vec<PortShare>,
    /// Counters of its nodes (NICs included, as the whole run keeps them).
    pub(super) switches: Vec<SwitchCounters>,
    /// Write payload bytes sent and received by its NICs.
    pub(super) nic_payload: Vec<(u64, u64)>,
    /// Statistics of the QPs of its NICs.
    pub(super) qp: QpSums,
    /// Whether every pair whose responder it runs placed all or none of its bytes.
    pub(super) placed_ok: bool,
    /// Flows it sends: (writes pending, done, ok).
    pub(super) flow_src: Vec<(u32, Option<Time>, bool)>,
    /// Flows it receives: writes still to arrive.
    pub(super) flow_dst: Vec<u32>,
    /// Pairs it requests on: (done, ok).
    pub(super) pair_src: Vec<(bool, bool)>,
    /// Pairs it responds on: distinct bytes received.
    pub(super) pair_dst: Vec<u64>,
    pub(super) flows_done: u64,
    pub(super) count: Counters,
    pub(super) kinds: [u64; 4],
    /// Events it ran that every partition runs, and all the events it ran.
    pub(super) replicated: u64,
    pub(super) popped: u64,
    /// Its last event's time.
    pub(super) latest: Time,
    pub(super) ev_log: Vec<EvChange>,
    /// Its time series up to the run's end.
    pub(super) timeline: Timeline,
}

impl<F: TransportFactory> Sim<F> {
    /// The statistics of the QPs of this partition's NICs (of all NICs, unsplit).
    pub(super) fn own_qp_sums(&self) -> QpSums {
        let mut sums = QpSums::default();
        for (n, layer) in self.nic.layer.iter().enumerate() {
            if self.owns_nic(n as u32) {
                layer
                    .qps()
                    .iter()
                    .for_each(|q| sums.add_stats(q.conn().stats()));
            }
        }
        sums
    }

    /// Whether every pair whose responder this partition runs placed all or none of its
    /// bytes (a partial placement is a data-integrity failure).
    pub(super) fn own_placed_ok(&self) -> bool {
        self.work
            .pairs
            .iter()
            .filter(|p| self.owns_nic(p.dst.0))
            .all(|p| {
                let placed = self.qp(p.dst).map_or(0, |q| q.conn().stats().bytes_placed);
                placed == p.bytes || placed == 0
            })
    }

    /// This partition's share of the run that ended at `end` (samples its timeline up to it).
    pub(super) fn share(&mut self, end: Time) -> Share {
        let timeline = self.rec_timeline(end);
        let mut s = Share {
            me: self.part.me,
            qp: self.own_qp_sums(),
            placed_ok: self.own_placed_ok(),
            flows_done: self.work.flows_done,
            count: self.count.clone(),
            kinds: self.kinds,
            replicated: self.part.replicated,
            popped: self.q.popped(),
            latest: self.q.now(),
            ev_log: self.ev_log.clone(),
            timeline,
            ..Share::default()
        };
        for n in (0..self.net.node_up.len()).map(NodeId::new) {
            if !self.part.mine(n) {
                continue;
            }
            for g in self.net.ports_of(n) {
                let p = &self.net.ports[g];
                s.ports.push(PortShare {
                    tx_bytes: p.tx_bytes,
                    tx_pkts: p.tx_pkts,
                    busy_ps: p.busy_ps,
                    data_bytes: p.data_bytes,
                    ctrl_bytes: p.ctrl_bytes,
                });
            }
            s.switches.push(self.sw.counters[n]);
            if self.is_nic(n) {
                let i = n.index();
                s.nic_payload
                    .push((self.nic.tx_payload[i], self.nic.rx_payload[i]));
            }
        }
        for (i, f) in self.spec.workload.flows.iter().enumerate() {
            let st = &self.work.flows[FlowId::new(i)];
            if self.owns_nic(f.src) {
                s.flow_src.push((st.pending, st.done, st.ok));
            }
            if self.owns_nic(f.dst) {
                s.flow_dst.push(st.recv_pending);
            }
        }
        for p in &self.work.pairs {
            if self.owns_nic(p.src.0) {
                s.pair_src.push((p.done, p.ok));
            }
            if self.owns_nic(p.dst.0) {
                s.pair_dst.push(p.covered);
            }
        }
        s
    }

    /// Takes over what partition `s.me` ran, from its share: its nodes' port and switch
    /// counters and NIC payloads, its ends of flows and pairs, its QP statistics, counters
    /// and events (its timeline is the caller's to add).
    pub(super) fn merge(&mut self, s: &Share) {
        let theirs = |node: NodeId| self.part.owner(node) == s.me;
        let (mut ports, mut switches, mut nics) =
            (s.ports.iter(), s.switches.iter(), s.nic_payload.iter());
        for n in (0..self.net.node_up.len()).map(NodeId::new) {
            if !theirs(n) {
                continue;
            }
            for g in self.net.ports_of(n) {
                let o = ports.next().expect("share: a port for every port it owns");
                let p = &mut self.net.ports[g];
                (p.tx_bytes, p.tx_pkts, p.busy_ps) = (o.tx_bytes, o.tx_pkts, o.busy_ps);
                (p.data_bytes, p.ctrl_bytes) = (o.data_bytes, o.ctrl_bytes);
            }
            self.sw.counters[n] = *switches.next().expect("share: counters of every node");
            if self.is_nic(n) {
                let (tx, rx) = *nics.next().expect("share: payload of every NIC");
                (
                    self.nic.tx_payload[n.index()],
                    self.nic.rx_payload[n.index()],
                ) = (tx, rx);
            }
        }
        let (mut src, mut dst) = (s.flow_src.iter(), s.flow_dst.iter());
        for (i, spec) in self.spec.workload.flows.iter().enumerate() {
            let f = &mut self.work.flows[FlowId::new(i)];
            if theirs(NodeId(spec.src)) {
                (f.pending, f.done, f.ok) = *src.next().expect("share: every flow it sends");
            }
            if theirs(NodeId(spec.dst)) {
                f.recv_pending = *dst.next().expect("share: every flow it receives");
            }
        }
        let (mut src, mut dst) = (s.pair_src.iter(), s.pair_dst.iter());
        for i in 0..self.work.pairs.len() {
            let p = &mut self.work.pairs[PairId::new(i)];
            if theirs(NodeId(p.src.0)) {
                (p.done, p.ok) = *src.next().expect("share: every pair it requests on");
            }
            if theirs(NodeId(p.dst.0)) {
                p.covered = *dst.next().expect("share: every pair it responds on");
            }
        }
        self.part.absorbed_qp.add(&s.qp);
        self.part.placed_ok &= s.placed_ok;
        self.work.flows_done += s.flows_done;
        self.count.add(&s.count);
        for (k, o) in self.kinds.iter_mut().zip(s.kinds) {
            *k += o;
        }
        self.kinds[3] -= s.replicated;
        self.part.absorbed_events += s.popped - s.replicated;
        self.part.latest = self.part.latest.max(s.latest);
        self.ev_log.extend_from_slice(&s.ev_log);
    }
}
