//! Flows of a one-shot workload: triggers, flow start, QP pairs, posted writes, received
//! coverage and completion.

use std::collections::BTreeMap;

use mrc_proto::nic::{PeerId, QpId};
use mrc_workload::TriggerKind;

use crate::coverage::{Added, Coverage};
use crate::factory::{PairInfo, TransportFactory};
use crate::kernel::Time;
use crate::qp::SimQp;
use crate::rng::stream;

use super::ids::{FlowId, Id as _, IdVec, PairId};
use super::nic::QpTimer;
use super::{Ev, Sim, SimError};

#[derive(Clone, Debug)]
pub(super) struct FlowState {
    pub(super) pairs: (PairId, PairId),
    pub(super) pending: u32,
    pub(super) recv_pending: u32,
    pub(super) start: Option<Time>,
    pub(super) done: Option<Time>,
    pub(super) ok: bool,
}

impl FlowState {
    /// A flow before it starts (its pairs are set when it does).
    pub(super) const NOT_STARTED: Self = Self {
        pairs: (PairId(0), PairId(0)),
        pending: 0,
        recv_pending: 0,
        start: None,
        done: None,
        ok: false,
    };
}

#[derive(Clone, Debug)]
pub(super) struct PairState {
    pub(super) flow: FlowId,
    /// The requester: its NIC and its QP there.
    pub(super) src: (u32, QpId),
    /// The responder.
    pub(super) dst: (u32, QpId),
    pub(super) bytes: u64,
    pub(super) base: u64,
    /// Byte ranges received (one-shot flows; DAG writes keep theirs in `conns`).
    pub(super) seen: Coverage,
    pub(super) covered: u64,
    pub(super) done: bool,
    pub(super) ok: bool,
}

#[derive(Clone, Debug)]
pub(super) struct TrigState {
    pub(super) kind: TriggerKind,
    pub(super) count: u32,
    pub(super) fired: bool,
    pub(super) waiting: Vec<FlowId>,
}

impl<F: TransportFactory> Sim<F> {
    pub(super) fn setup_workload(&mut self) -> Result<(), SimError> {
        for t in &self.spec.workload.triggers {
            self.work.triggers.insert(
                t.id,
                TrigState {
                    kind: t.kind,
                    count: 0,
                    fired: false,
                    waiting: Vec::new(),
                },
            );
        }
        let flows = self.spec.workload.flows.clone();
        for (i, f) in flows.iter().enumerate() {
            if f.src >= self.nics || f.dst >= self.nics {
                return Err(SimError::BadWorkload(format!(
                    "flow {} ({}->{}) names a NIC outside 0..{}",
                    f.id, f.src, f.dst, self.nics
                )));
            }
            if f.src == f.dst {
                return Err(SimError::BadWorkload(format!(
                    "flow {} sends from NIC {} to itself",
                    f.id, f.src
                )));
            }
            for id in [f.trigger, f.send_done_trigger, f.recv_done_trigger]
                .into_iter()
                .flatten()
            {
                self.work.triggers.entry(id).or_insert(TrigState {
                    kind: TriggerKind::Oneshot,
                    count: 0,
                    fired: false,
                    waiting: Vec::new(),
                });
            }
            self.work.flows.push(FlowState::NOT_STARTED);
            match f.trigger {
                Some(id) => {
                    if let Some(t) = self.work.triggers.get_mut(&id) {
                        t.waiting.push(FlowId::new(i));
                    }
                }
                None => self.q.schedule(
                    f.start_ps,
                    Ev::FlowStart {
                        flow: FlowId::new(i),
                    },
                ),
            }
        }
        Ok(())
    }

    pub(super) fn cover(&mut self, pair: PairId, va: u64, len: u32) {
        let mtu = u64::from(self.info.mtu);
        if self.work.pairs[pair].flow.is_none() {
            self.conn_cover(pair, va, len);
            return;
        }
        let ps = &mut self.work.pairs[pair];
        let Some(off) = va.checked_sub(ps.base) else {
            self.count.corrupt += 1;
            return;
        };
        if !off.is_multiple_of(mtu) || off.saturating_add(u64::from(len)) > ps.bytes {
            self.count.corrupt += 1;
            return;
        }
        match ps.seen.add(off, u64::from(len)) {
            Added::New => {}
            Added::Duplicate => return,
            Added::Overlap => {
                self.count.corrupt += 1;
                return;
            }
        }
        ps.covered += u64::from(len);
        self.rec.delivered += u64::from(len);
        if ps.covered == ps.bytes {
            let flow = ps.flow;
            self.recv_pair_done(flow);
        }
    }

    pub(super) fn recv_pair_done(&mut self, flow: FlowId) {
        let f = &mut self.work.flows[flow];
        f.recv_pending = f.recv_pending.saturating_sub(1);
        if f.recv_pending == 0
            && let Some(t) = self.spec.workload.flows[flow.index()].recv_done_trigger
        {
            self.activate(t);
        }
    }

    pub(super) fn pair_done(&mut self, pair: PairId, ok: bool) {
        let ps = &mut self.work.pairs[pair];
        if ps.done {
            return;
        }
        ps.done = true;
        ps.ok = ok;
        let flow = ps.flow;
        self.flow_part_done(flow, ok);
    }

    /// One of the QPs (or writes) of `flow` completed.
    pub(super) fn flow_part_done(&mut self, flow: FlowId, ok: bool) {
        let f = &mut self.work.flows[flow];
        f.pending = f.pending.saturating_sub(1);
        f.ok &= ok;
        if f.pending == 0 {
            f.done = Some(self.q.now());
            if f.ok {
                tracing::trace!(sim_ps = self.q.now(), flow = flow.index(), "flow done");
            } else {
                tracing::warn!(sim_ps = self.q.now(), flow = flow.index(), "flow failed");
            }
            self.work.flows_done += 1;
            if let Some(t) = self.spec.workload.flows[flow.index()].send_done_trigger {
                self.activate(t);
            }
            if self.dag.is_some() {
                self.dag_flow_done(flow);
            }
        }
    }

    pub(super) fn activate(&mut self, id: u32) {
        let now = self.q.now();
        let Some(t) = self.work.triggers.get_mut(&id) else {
            return;
        };
        t.count += 1;
        let fire = match t.kind {
            TriggerKind::Oneshot => !t.fired,
            TriggerKind::Multishot => true,
            TriggerKind::Barrier { count } => !t.fired && t.count >= count,
        };
        if fire {
            t.fired = true;
            for &f in &t.waiting {
                self.q.schedule(now, Ev::FlowStart { flow: f });
            }
            t.waiting.clear();
        }
    }

    pub(super) fn start_flow(&mut self, flow: FlowId) {
        if self.work.flows[flow].start.is_some() {
            return;
        }
        if self.dag_conn_flow(flow) {
            return;
        }
        let now = self.q.now();
        let spec = self.spec.workload.flows[flow.index()];
        let qps = u64::from(self.factory.qps_per_flow().max(1)).min(spec.bytes.max(1));
        let first_pair = self.work.pairs.len() as u32;
        {
            let f = &mut self.work.flows[flow];
            f.start = Some(now);
            f.ok = true;
            f.pending = qps as u32;
            f.recv_pending = qps as u32;
            f.pairs = (PairId(first_pair), PairId(first_pair + qps as u32));
        }
        if spec.bytes == 0 {
            let f = &mut self.work.flows[flow];
            f.pending = 0;
            f.recv_pending = 0;
            f.done = Some(now);
            if !self.owns_nic(spec.src) {
                return;
            }
            self.work.flows_done += 1;
            if let Some(t) = spec.send_done_trigger {
                self.activate(t);
            }
            if let Some(t) = spec.recv_done_trigger {
                self.activate(t);
            }
            return;
        }
        // Every partition creates the pairs (their ids and QPNs must agree); each runs its own
        // NIC's end.
        let src = self.owns_nic(spec.src);
        for k in 0..qps {
            let bytes = spec.bytes / qps + u64::from(k < spec.bytes % qps);
            let pair = self.new_pair(flow, spec.src, spec.dst, bytes);
            if src && !self.post_write(pair, u64::from(pair.0), 0, bytes) {
                self.pair_done(pair, false);
            }
            self.after_pair(pair);
        }
        if src {
            self.service_nic(spec.src);
        }
    }

    /// Posts a write of `len` bytes at `offset` of pair `pair`'s regions, completing with
    /// `id`; false if the requester refused it. The caller follows with `after_pair`.
    pub(super) fn post_write(&mut self, pair: PairId, id: u64, offset: u64, len: u64) -> bool {
        let (nic, qp) = self.work.pairs[pair].src;
        self.nic.layer[nic as usize]
            .qp_mut(qp)
            .is_some_and(|q| q.post_write(id, offset, len))
    }

    /// `after_qp` for the ends of pair `pair` this partition runs (requester first).
    pub(super) fn after_pair(&mut self, pair: PairId) {
        let PairState { src, dst, .. } = self.work.pairs[pair];
        for (nic, qp) in [src, dst] {
            if self.owns_nic(nic) {
                self.after_qp(nic, qp);
            }
        }
    }

    /// Creates a QP pair `src` → `dst` whose responder region holds `bytes` (`flow` = NONE: a
    /// persistent connection of a DAG workload, see `conns`), with both ends scheduled at their
    /// NICs and told which ports are down.
    pub(super) fn new_pair(&mut self, flow: FlowId, src: u32, dst: u32, bytes: u64) -> PairId {
        let pair = PairId::new(self.work.pairs.len());
        let qpn = (2 * pair.0 + 0x100, 2 * pair.0 + 0x101);
        let pi = PairInfo {
            pair: pair.0,
            src,
            dst,
            bytes,
            planes: self.planes as u8,
            qpn,
            recv_peers: self.nic.peers.recv.get(dst as usize).copied().unwrap_or(0),
            send_peers: self.nic.peers.send.get(src as usize).copied().unwrap_or(0),
            seed: stream(self.spec.seed, 4, u64::from(pair.0)),
        };
        let (a, b) = self.factory.make_pair(&self.info, &pi);
        let responder = SimQp::new(b, (qpn.1, qpn.0), bytes, None, pair);
        let remote = responder.region();
        let requester = SimQp::new(a, qpn, bytes, Some(remote), pair);
        let now = self.now();
        // QPNs are unique per pair, so neither NIC can refuse them; each NIC tells its new QP
        // which of its ports are down.
        let src_qp = self.nic.layer[src as usize]
            .add_qp(now, requester, Some(PeerId(dst)))
            .expect("QPNs are unique per pair");
        let dst_qp = self.nic.layer[dst as usize]
            .add_qp(now, responder, Some(PeerId(src)))
            .expect("QPNs are unique per pair");
        let idle = QpTimer {
            pending: None,
            fired_at: Time::MAX,
        };
        self.nic.timers.extend([idle, idle]);
        self.work.pairs.push(PairState {
            flow,
            src: (src, src_qp),
            dst: (dst, dst_qp),
            bytes: if flow.is_none() { 0 } else { bytes },
            base: remote.addr,
            seen: Coverage::default(),
            covered: 0,
            done: false,
            ok: false,
        });
        pair
    }
}

/// The workload's progress: flows, QP pairs (one-shot flows' and DAG connections') and
/// triggers.
#[derive(Default)]
pub(super) struct Work {
    pub(super) flows: IdVec<FlowId, FlowState>,
    pub(super) pairs: IdVec<PairId, PairState>,
    pub(super) flows_done: u64,
    pub(super) triggers: BTreeMap<u32, TrigState>,
}
