//! The NICs: delivering packets to the NIC layer, its transmit opportunities, QP timers and
//! QP events.

use mrc_fabric::{Ev as FabricEv, NodeId};
use mrc_proto::nic::{Demux, Nic, NicQp as _, PeerId, QpId};
use mrc_proto::{
    EvState, Event, Instant, PortMask, Received, TrafficClass, Transmit, Transport as _, WcStatus,
};
use mrc_wire::mrc::Body;

use crate::factory::{Routing, TransportFactory};
use crate::kernel::{PS_PER_NS, Time};
use crate::qp::SimQp;
use crate::report::EvChange;
use crate::rng::mix;

use super::build::Fabric;
use super::ids::{PairId, PktId, PortId};
use super::net::{Meta, Pkt};
use super::{Ev, OVERHEAD_BYTES, SRV6_ENCAP_BYTES, Sim};

/// The `Timer` event of one QP. Each QP has its own, as each end of a pair did before the
/// NIC layer: a QP's timer then runs at its place among the events of its instant, and the
/// NIC sends what it released before the next QP's timer runs.
#[derive(Clone, Copy, Debug)]
pub(super) struct QpTimer {
    /// When it is scheduled (None: none pending).
    pub(super) pending: Option<Time>,
    /// When the QP's timers last ran (a deadline still due right after them moves 1 ns on,
    /// so a transport that does not advance its timer cannot stall simulated time).
    pub(super) fired_at: Time,
}

/// The index of a QP end in `Sim::qp_timer` and `Ev::Timer`: requester `2 × pair`,
/// responder `2 × pair + 1`.
pub(super) fn qp_end(pair: PairId, requester: bool) -> u32 {
    2 * pair.0 + u32::from(!requester)
}

/// Per NIC of a flow list: distinct sources writing to it and destinations it writes to.
pub(super) struct Peers {
    pub(super) recv: Vec<u32>,
    pub(super) send: Vec<u32>,
}

impl Peers {
    pub(super) fn new(flows: &[mrc_workload::Flow], nics: u32) -> Self {
        let mut pairs: Vec<(u32, u32)> = flows.iter().map(|f| (f.src, f.dst)).collect();
        pairs.sort_unstable();
        pairs.dedup();
        let mut recv = vec![0u32; nics as usize];
        let mut send = vec![0u32; nics as usize];
        for (src, dst) in pairs {
            if let Some(c) = send.get_mut(src as usize) {
                *c += 1;
            }
            if let Some(c) = recv.get_mut(dst as usize) {
                *c += 1;
            }
        }
        Self { recv, send }
    }
}

impl<F: TransportFactory> Sim<F> {
    pub(super) fn deliver(&mut self, nic: u32, pk: PktId, in_port: PortId) {
        let p = self.net.pkts[pk];
        let m = self.net.meta[pk];
        self.net.free.push(pk);
        if self.tap.is_some() {
            self.tap_rx(nic, &p, &m);
        }
        if p.dst_nic != nic {
            self.count.misrouted += 1;
            return;
        }
        if let (Body::Write(w), None) = (m.repr.body, p.trim) {
            self.nic.rx_payload[nic as usize] += u64::from(w.payload_len);
            self.cover(m.pair, w.reth.va, w.payload_len);
        }
        let port = (in_port.0 - self.net.port_base[nic as usize].0) as u8;
        let inc = Received {
            repr: m.repr,
            ev: m.ev,
            port,
            ecn_ce: p.ecn,
            trim: p.trim,
            payload: None,
        };
        let now = self.now();
        let from = PeerId(m.src_nic);
        let layer = &mut self.nic.layer[nic as usize];
        match layer.handle_packet(now, from, &inc) {
            Demux::Delivered { qp, .. } => self.after_qp(nic, qp),
            Demux::Endpoint(_) => {
                for k in 0..layer.peer_qps(from).len() {
                    if let Some(&qp) = self.nic.layer[nic as usize].peer_qps(from).get(k) {
                        self.after_qp(nic, qp);
                    }
                }
            }
            // Every pair's QPs exist at both ends from its creation on: a packet for no QP is
            // a simulator fault, counted as such.
            Demux::UnknownQp(_) => {
                layer.count_unknown();
                self.count.misrouted += 1;
            }
            Demux::Foreign => self.count.misrouted += 1,
        }
        self.service_nic(nic);
    }

    /// Sends what the NIC's QPs have for its idle ports, one packet per port at a time (the
    /// NIC layer arbitrates).
    pub(super) fn service_nic(&mut self, nic: u32) {
        let base = self.net.port_base[nic as usize];
        let now = self.now();
        let now_ps = self.q.now();
        // A RoCE QP is bound to its port and ignores its status (a real NIC's QP on a dead
        // link sends into it, times out and errors), so ECMP transports see dead ports as
        // ready and their packets are lost on the link; MRC is told and avoids them.
        let blind = self.routing == Routing::Ecmp;
        loop {
            let mut ready = 0u32;
            for p in 0..self.planes {
                let port = &self.net.ports[PortId(base.0 + p)];
                if now_ps >= port.busy_until
                    && port.data.is_empty()
                    && port.ctrl.is_empty()
                    && !port.paused
                {
                    ready |= 1 << p;
                }
            }
            if ready == 0 {
                break;
            }
            let layer = &mut self.nic.layer[nic as usize];
            let sent = if blind {
                layer.poll_transmit_masked(now, PortMask(ready))
            } else {
                layer.poll_transmit(now, PortMask(ready))
            };
            let Some((qp, tx)) = sent else {
                break;
            };
            self.inject(nic, qp, tx);
            self.after_qp(nic, qp);
        }
    }

    /// Schedules QP end `ep`'s `Timer` event for its deadline `t`, unless one at or before it
    /// is pending (a stale later one finds nothing due and re-arms).
    pub(super) fn arm_timer(&mut self, ep: u32, t: Instant) {
        let now = self.q.now();
        let mut tp = t.as_nanos().saturating_mul(PS_PER_NS).max(now);
        let timer = &mut self.nic.timers[ep as usize];
        if tp == now && timer.fired_at == now {
            tp = now + PS_PER_NS;
        }
        if timer.pending.is_none_or(|a| tp < a) {
            timer.pending = Some(tp);
            self.q.schedule(tp, Ev::Timer { ep });
        }
    }

    /// The `Timer` event of QP end `ep` at `t`: runs its timers if due, then the NIC sends.
    pub(super) fn qp_timer(&mut self, ep: u32, t: Time) {
        let timer = &mut self.nic.timers[ep as usize];
        if timer.pending != Some(t) {
            return;
        }
        timer.pending = None;
        let pair = &self.work.pairs[PairId(ep / 2)];
        let (nic, qp) = if ep.is_multiple_of(2) {
            pair.src
        } else {
            pair.dst
        };
        let now = self.now();
        if self.nic.layer[nic as usize].handle_timeout_of(now, qp) {
            self.nic.timers[ep as usize].fired_at = t;
        }
        self.after_qp(nic, qp);
        self.service_nic(nic);
    }

    pub(super) fn inject(&mut self, nic: u32, qp: QpId, tx: Transmit) {
        if u32::from(tx.port) >= self.planes {
            self.count.misrouted += 1;
            return;
        }
        let layer = &self.nic.layer[nic as usize];
        let (Some(PeerId(dst_nic)), Some(pair)) = (layer.peer(qp), layer.qp(qp).map(|q| q.pair))
        else {
            self.count.misrouted += 1;
            return;
        };
        let srv6 = self.routing == Routing::Srv6;
        let carrier = match &self.fabric {
            Fabric::Clos(c, ..) if srv6 => match c.usids(FabricEv(tx.ev), nic, dst_nic) {
                Ok(c) => Some(c),
                Err(_) => {
                    self.count.misrouted += 1;
                    return;
                }
            },
            _ => None,
        };
        let overhead = OVERHEAD_BYTES + if srv6 { SRV6_ENCAP_BYTES } else { 0 };
        let bytes = tx.repr.buffer_len() as u32 + overhead;
        if let Body::Write(w) = tx.repr.body {
            self.nic.tx_payload[nic as usize] += u64::from(w.payload_len);
        }
        let hash = mix((u64::from(nic) << 40)
            ^ (u64::from(dst_nic) << 16)
            ^ mix(u64::from(tx.repr.bth.dest_qp) << 32 | u64::from(tx.ev)));
        let pk = self.net.alloc(
            Pkt {
                carrier,
                next: PktId::NONE,
                behind_at: 0,
                dst_nic,
                bytes,
                hash,
                in_port: PortId::NONE,
                class: tx.class,
                trim: None,
                ecn: false,
                srv6,
            },
            Meta {
                repr: tx.repr,
                ev: tx.ev,
                src_nic: nic,
                pair,
            },
        );
        self.count.pkts_sent += 1;
        let g = self.net.port_of(NodeId(nic), u32::from(tx.port));
        let port = &mut self.net.ports[g];
        if tx.class == TrafficClass::Control {
            port.ctrl_bytes += u64::from(bytes);
            port.ctrl.push(&mut self.net.pkts, pk);
        } else {
            port.data_bytes += u64::from(bytes);
            port.data.push(&mut self.net.pkts, pk);
        }
        self.start_tx(g);
    }

    /// After anything that may have changed QP `qp` (a packet, a transmit, its timer, a post,
    /// a port change): acts on its events (completed writes, QP errors, EV state changes),
    /// then follows its timer.
    pub(super) fn after_qp(&mut self, nic: u32, qp: QpId) {
        while let Some(q) = self.nic.layer[nic as usize].qp_mut(qp) {
            let (pair, requester) = (q.pair, q.is_requester());
            if let Some(e) = q.poll_event() {
                self.qp_event(pair, requester, e);
            } else {
                if let Some(t) = q.conn().poll_timeout() {
                    self.arm_timer(qp_end(pair, requester), t);
                }
                return;
            }
        }
    }

    pub(super) fn qp_event(&mut self, pair: PairId, requester: bool, e: Event) {
        match e {
            Event::SendComplete { wr_id, status } if requester => {
                let ok = status == WcStatus::Success;
                if self.work.pairs[pair].flow.is_none() {
                    self.conn_write_done(pair, wr_id, ok);
                } else {
                    self.pair_done(pair, ok);
                }
            }
            Event::QpError(_) => self.count.qp_errors += 1,
            Event::EvState { ev, state, .. }
                if requester
                    && self
                        .ev_watch
                        .is_some_and(|w| w == self.work.pairs[pair].flow) =>
            {
                let at_ps = self.q.now();
                let good = state == EvState::Good;
                self.ev_log.push(EvChange { at_ps, ev, good });
            }
            _ => {}
        }
    }
}

/// Every NIC's layer and per-NIC figures, and the timer of every QP end.
pub(super) struct Nics<C: mrc_proto::Transport> {
    /// The NIC layer of every NIC (index = NIC).
    pub(super) layer: Vec<Nic<SimQp<C>>>,
    /// Per QP end ([`qp_end`]): its `Timer` event.
    pub(super) timers: Vec<QpTimer>,
    /// Per NIC: distinct NICs that write to it and that it writes to in the flow list (the
    /// QP hint's `num_remote_recv_peers` and `num_send_peers` an application that knows its
    /// traffic would give).
    pub(super) peers: Peers,
    /// Per NIC: write payload bytes sent and received.
    pub(super) tx_payload: Vec<u64>,
    pub(super) rx_payload: Vec<u64>,
}

impl<C: mrc_proto::Transport> Nics<C> {
    /// `nics` NICs without QPs, for a workload of `flows`.
    pub(super) fn new(nics: u32, flows: &[mrc_workload::Flow]) -> Self {
        Self {
            layer: (0..nics).map(|_| Nic::new()).collect(),
            timers: Vec::new(),
            peers: Peers::new(flows, nics),
            tx_payload: vec![0; nics as usize],
            rx_payload: vec![0; nics as usize],
        }
    }
}
