//! Persistent connections of DAG workloads.
//!
//! NCCL keeps one set of connections per peer for the whole job, so a DAG run opens one QP
//! pair per (source NIC, destination NIC) — `qps_per_flow` pairs for RoCE with N QPs — when
//! the simulation is built, and never closes it. Every network flow of the DAG is posted as
//! one RDMA Write per QP at the pair's next free offset of its (bookkeeping-only) regions,
//! sized up front to all the bytes the DAG will ever write on that pair. A flow completes when
//! all its writes completed at the requester (in post order, per QP); a QP error fails every
//! write still queued on it, so the job stops there as NCCL would.
//!
//! Why: a fresh QP per flow costs ≈ 110 KB each (millions of flows do not fit), re-learns a
//! dead path by losing packets on every flow, and a RoCE QP opened on a dead port simply never
//! sends (hang) where a persistent one times out and errors.
//!
//! Data integrity: every write keeps the byte ranges that reached the destination NIC
//! ([`Coverage`]) while it is in flight; a packet below the oldest in-flight write of its
//! pair is a duplicate of a completed write, one beyond the pair's posted bytes is corrupt.

use std::collections::{BTreeMap, VecDeque};

use super::Sim;
use super::ids::{FlowId, Id as _, PairId};
use crate::coverage::{Added, Coverage};
use crate::factory::TransportFactory;

/// One write in flight on a persistent pair.
#[derive(Clone, Debug)]
struct Write {
    flow: FlowId,
    /// Offset in the pair's regions.
    off: u64,
    bytes: u64,
    seen: Coverage,
}

/// The persistent pairs of a DAG run (every pair of the run is one; index = pair).
#[derive(Debug, Default)]
pub(super) struct Conns {
    /// First pair of every (source NIC, destination NIC); `qps` consecutive pairs each.
    by_nics: BTreeMap<(u32, u32), u32>,
    qps: u64,
    /// Next free offset of every pair.
    cursor: Vec<u64>,
    /// Writes in flight on every pair, in post order.
    writes: Vec<VecDeque<Write>>,
}

impl Conns {
    /// The number of QPs a flow of `bytes` uses (never more than it has bytes).
    fn qps_for(&self, bytes: u64) -> u64 {
        self.qps.min(bytes.max(1))
    }
}

/// Bytes of QP `k` of a flow of `bytes` split over `qps` QPs.
fn part(bytes: u64, qps: u64, k: u64) -> u64 {
    bytes / qps + u64::from(k < bytes % qps)
}

impl<F: TransportFactory> Sim<F> {
    /// Opens the persistent pairs for the network flows `first..` of the run's flow list
    /// (in order of first use, so pair numbers, QPNs and seeds are deterministic).
    pub(super) fn open_conns(&mut self, first: u32) -> Conns {
        let qps = u64::from(self.factory.qps_per_flow().max(1));
        let mut c = Conns {
            qps,
            ..Conns::default()
        };
        // Total bytes per (NIC pair, QP), in order of first use.
        let mut order: Vec<(u32, u32)> = Vec::new();
        let mut total: BTreeMap<(u32, u32), Vec<u64>> = BTreeMap::new();
        for f in &self.spec.workload.flows[first as usize..] {
            let t = total.entry((f.src, f.dst)).or_insert_with(|| {
                order.push((f.src, f.dst));
                vec![0; qps as usize]
            });
            let n = c.qps_for(f.bytes);
            for k in 0..n {
                t[k as usize] += part(f.bytes, n, k);
            }
        }
        for (s, d) in order {
            c.by_nics.insert((s, d), self.work.pairs.len() as u32);
            for &bytes in &total[&(s, d)] {
                self.new_pair(FlowId::NONE, s, d, bytes.max(1));
                c.cursor.push(0);
                c.writes.push(VecDeque::new());
            }
        }
        c
    }

    /// Starts `flow` on its persistent pair(s) if this run has them (else `false`).
    pub(super) fn dag_conn_flow(&mut self, flow: FlowId) -> bool {
        let spec = self.spec.workload.flows[flow.index()];
        let Some(c) = self.dag.as_mut().map(|d| &mut d.conns) else {
            return false;
        };
        let Some(&first) = c.by_nics.get(&(spec.src, spec.dst)) else {
            return false;
        };
        let qps = c.qps_for(spec.bytes);
        let now = self.q.now();
        {
            let f = &mut self.work.flows[flow];
            f.start = Some(now);
            f.ok = true;
            f.pending = qps as u32;
            f.recv_pending = qps as u32;
            f.pairs = (PairId(0), PairId(0));
        }
        for k in 0..qps {
            let bytes = part(spec.bytes, qps, k);
            let pair = PairId(first + k as u32);
            let Some(c) = self.dag.as_mut().map(|d| &mut d.conns) else {
                return true;
            };
            let off = c.cursor[pair.index()];
            c.cursor[pair.index()] += bytes;
            c.writes[pair.index()].push_back(Write {
                flow,
                off,
                bytes,
                seen: Coverage::default(),
            });
            if self.post_write(pair, u64::from(flow.0), off, bytes) {
                self.work.pairs[pair].bytes += bytes;
            } else {
                if let Some(c) = self.dag.as_mut().map(|d| &mut d.conns) {
                    c.writes[pair.index()].pop_back();
                }
                self.flow_part_done(flow, false);
            }
            self.after_pair(pair);
        }
        self.service_nic(spec.src);
        true
    }

    /// A write on persistent pair `pair` completed at the requester.
    pub(super) fn conn_write_done(&mut self, pair: PairId, wr_id: u64, ok: bool) {
        let Some(c) = self.dag.as_mut().map(|d| &mut d.conns) else {
            return;
        };
        let Some(w) = c.writes[pair.index()].pop_front() else {
            return;
        };
        debug_assert_eq!(u64::from(w.flow.0), wr_id);
        self.flow_part_done(w.flow, ok);
    }

    /// A data packet of persistent pair `pair` reached its destination NIC intact.
    pub(super) fn conn_cover(&mut self, pair: PairId, va: u64, len: u32) {
        let mtu = u64::from(self.info.mtu);
        let base = self.work.pairs[pair].base;
        let Some(c) = self.dag.as_mut().map(|d| &mut d.conns) else {
            self.count.corrupt += 1;
            return;
        };
        let Some(off) = va.checked_sub(base) else {
            self.count.corrupt += 1;
            return;
        };
        if off >= c.cursor[pair.index()] {
            self.count.corrupt += 1;
            return;
        }
        let ws = &mut c.writes[pair.index()];
        let i = ws.partition_point(|w| w.off + w.bytes <= off);
        let Some(w) = ws.get_mut(i) else {
            return;
        };
        if off < w.off {
            // Below every write in flight: a duplicate of a completed one.
            return;
        }
        let rel = off - w.off;
        if !rel.is_multiple_of(mtu) || rel.saturating_add(u64::from(len)) > w.bytes {
            self.count.corrupt += 1;
            return;
        }
        match w.seen.add(rel, u64::from(len)) {
            Added::New => {}
            Added::Duplicate => return,
            Added::Overlap => {
                self.count.corrupt += 1;
                return;
            }
        }
        let done = (w.seen.covered() == w.bytes).then_some(w.flow);
        self.work.pairs[pair].covered += u64::from(len);
        self.rec.delivered += u64::from(len);
        if let Some(flow) = done {
            self.recv_pair_done(flow);
        }
    }
}

impl<F: TransportFactory> Sim<F> {
    /// QP pairs opened so far (DAG runs: the persistent connections).
    pub fn qp_pairs(&self) -> usize {
        self.work.pairs.len()
    }
}
