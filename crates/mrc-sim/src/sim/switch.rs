//! Switch queueing: enqueue with trimming or drop, ECN marking, PFC pause/resume, and the
//! transmit start of a port.

use mrc_fabric::{NodeId, Topology};
use mrc_proto::{TrafficClass, Trim};

use crate::config::{EcnAt, NetSpec};
use crate::factory::TransportFactory;
use crate::kernel::Time;
use crate::report::SwitchCounters;
use crate::rng::{SplitMix64, stream};

use super::ids::{IdVec, PktId, PortId};
use super::net::ser_ps;
use super::{Ev, Sim};

impl<F: TransportFactory> Sim<F> {
    pub(super) fn start_tx(&mut self, g: PortId) {
        let now = self.q.now();
        let port = &mut self.net.ports[g];
        if now < port.busy_until {
            let waiting = !port.ctrl.is_empty() || !port.data.is_empty();
            if !port.wake && waiting {
                port.wake = true;
                let at = port.busy_until;
                self.q.schedule(at, Ev::TxDone { port: g });
            }
            return;
        }
        let pk = if let Some(p) = port.ctrl.pop(&self.net.pkts) {
            port.ctrl_bytes -= u64::from(self.net.pkts[p].bytes);
            p
        } else if !port.paused
            && let Some(p) = port.data.pop(&self.net.pkts)
        {
            port.data_bytes -= u64::from(self.net.pkts[p].bytes);
            if self.sw.marking.at == EcnAt::Dequeue {
                let behind = port.data_bytes;
                self.ecn_mark(g, p, behind);
            }
            p
        } else {
            return;
        };
        let port = &mut self.net.ports[g];
        let bytes = self.net.pkts[pk].bytes;
        let t = ser_ps(bytes, port.gbps);
        port.busy_until = now + t;
        port.tx_bytes += u64::from(bytes);
        port.tx_pkts += 1;
        port.busy_ps += t;
        let lat = port.latency_ps;
        let node = port.node;
        if node.0 >= self.nics {
            self.sw.counters[node].bytes_out += u64::from(bytes);
            let inp = self.net.pkts[pk].in_port;
            if !inp.is_none() {
                self.pfc_release(inp, bytes);
            }
        }
        if self.tap.is_some() {
            self.tap_tx(g, pk);
        }
        let port = &mut self.net.ports[g];
        if !port.wake && (node.0 < self.nics || !(port.ctrl.is_empty() && port.data.is_empty())) {
            port.wake = true;
            self.q.schedule(now + t, Ev::TxDone { port: g });
        }
        let at = now + t + lat;
        if port.remote {
            let to = self.part.owner(port.peer);
            let msg = super::part::Msg::Packet {
                port: g,
                pkt: self.net.pkts[pk],
                meta: self.net.meta[pk],
            };
            self.net.free.push(pk);
            self.part.send(to, at, msg);
        } else {
            self.launch(g, pk, at);
        }
    }

    /// Puts `pk` on the cable of egress port `g`, arriving at the far end at `at` (after every
    /// packet already on it).
    pub(super) fn launch(&mut self, g: PortId, pk: PktId, at: Time) {
        let flight = &mut self.net.ports[g].flight;
        let ahead = flight.tail;
        flight.push(&mut self.net.pkts, pk);
        if ahead.is_none() {
            self.q.schedule(at, Ev::Arrive { port: g });
        } else {
            self.net.pkts[ahead].behind_at = at;
        }
    }

    pub(super) fn pfc_release(&mut self, inp: PortId, bytes: u32) {
        let Some(pfc) = self.spec.net.switch.pfc else {
            return;
        };
        let ip = &mut self.net.ports[inp];
        ip.ingress_bytes = ip.ingress_bytes.saturating_sub(u64::from(bytes));
        if ip.pause_sent && ip.ingress_bytes <= pfc.xon_bytes {
            ip.pause_sent = false;
            self.send_pfc(inp, false);
        }
    }

    /// Sends a PFC pause or resume from ingress port `ip` to the egress port at its other end
    /// (across the cable: one latency later, in another partition if the cable crosses).
    fn send_pfc(&mut self, ip: PortId, pause: bool) {
        let p = &mut self.net.ports[ip];
        p.pfc_sent = p.pfc_sent.wrapping_add(1);
        let at = self.q.now() + p.latency_ps;
        let ev = Ev::Pfc {
            port: p.rev,
            pause,
            seq: p.pfc_sent,
        };
        if p.remote {
            self.part
                .send(self.part.owner(p.peer), at, super::part::Msg::Event(ev));
        } else {
            self.q.schedule(at, ev);
        }
    }

    pub(super) fn drop_at(&mut self, node: NodeId, pk: PktId) {
        let p = &self.net.pkts[pk];
        let (b, trimmed, control) = (
            u64::from(p.bytes),
            p.trim.is_some(),
            p.class == TrafficClass::Control,
        );
        let c = &mut self.sw.counters[node];
        c.bytes_dropped += b;
        c.pkts_dropped += 1;
        if trimmed {
            c.dropped_trimmed += 1;
        } else if control {
            c.dropped_control += 1;
        } else {
            c.dropped_data += 1;
        }
        self.net.free.push(pk);
    }

    pub(super) fn enqueue(&mut self, g: PortId, pk: PktId, in_port: PortId) {
        let node = self.net.ports[g].node;
        let sws = self.spec.net.switch;
        let (to_nic, data_bytes, ctrl_bytes) = {
            let p = &self.net.ports[g];
            (p.to_nic, p.data_bytes, p.ctrl_bytes)
        };
        let (is_ctrl, bytes) = {
            let p = &self.net.pkts[pk];
            (
                p.class == TrafficClass::Control || p.trim.is_some(),
                u64::from(p.bytes),
            )
        };
        let to_ctrl = if is_ctrl {
            if ctrl_bytes + bytes > self.sw.ctrl_limit {
                self.drop_at(node, pk);
                return;
            }
            true
        } else if data_bytes + bytes > self.sw.qlimit {
            if !(sws.trimming && bytes > u64::from(sws.trim_bytes)) {
                self.drop_at(node, pk);
                return;
            }
            let p = &mut self.net.pkts[pk];
            p.bytes = sws.trim_bytes;
            p.trim = Some(if to_nic { Trim::LastHop } else { Trim::Fabric });
            let c = &mut self.sw.counters[node];
            c.bytes_trimmed += bytes - u64::from(sws.trim_bytes);
            c.pkts_trimmed += 1;
            if ctrl_bytes + u64::from(sws.trim_bytes) > self.sw.ctrl_limit {
                self.drop_at(node, pk);
                return;
            }
            true
        } else {
            if self.sw.marking.at == EcnAt::Enqueue {
                self.ecn_mark(g, pk, data_bytes);
            }
            false
        };
        let b = u64::from(self.net.pkts[pk].bytes);
        if to_ctrl {
            self.net.ports[g].ctrl_bytes += b;
            self.net.ports[g].ctrl.push(&mut self.net.pkts, pk);
        } else {
            self.net.ports[g].data_bytes += b;
            self.net.ports[g].data.push(&mut self.net.pkts, pk);
            if let Some(pfc) = sws.pfc
                && !in_port.is_none()
            {
                self.net.pkts[pk].in_port = in_port;
                let ip = &mut self.net.ports[in_port];
                ip.ingress_bytes += b;
                if !ip.pause_sent && ip.ingress_bytes >= pfc.xoff_bytes {
                    ip.pause_sent = true;
                    self.sw.counters[node].pfc_pauses += 1;
                    self.send_pfc(in_port, true);
                }
            }
        }
        self.start_tx(g);
    }

    /// ECN-marks data packet `pk` at switch port `g` whose data queue holds `q` bytes, as the
    /// run's marking says (never at a NIC; at the last hop only if configured).
    pub(super) fn ecn_mark(&mut self, g: PortId, pk: PktId, q: u64) {
        let (node, to_nic) = {
            let p = &self.net.ports[g];
            (p.node, p.to_nic)
        };
        if self.spec.net.switch.ecn
            && node.0 >= self.nics
            && (!to_nic || self.sw.marking.last_hop)
            && !self.net.pkts[pk].ecn
            && self.sw.marking.mark(q, &mut self.sw.rng[node])
        {
            self.net.pkts[pk].ecn = true;
            self.sw.counters[node].pkts_marked += 1;
        }
    }
}

/// What every switch shares (queue limits, ECN marking) and has of its own (counters, the
/// random stream of its marking).
pub(super) struct Switches {
    /// Per node (NICs' entries stay zero).
    pub(super) counters: IdVec<NodeId, SwitchCounters>,
    pub(super) rng: IdVec<NodeId, SplitMix64>,
    /// Data queue limit per egress port in bytes.
    pub(super) qlimit: u64,
    /// Control queue limit per egress port in bytes.
    pub(super) ctrl_limit: u64,
    pub(super) marking: crate::red::Marking,
}

impl Switches {
    /// Queue limits from the run's switch spec (defaults scale with one port's BDP) for packets
    /// carrying `overhead` bytes of headers.
    pub(super) fn new(
        net: &NetSpec,
        overhead: u32,
        port_bdp: u64,
        lane_gbps: u32,
        topo: &Topology,
        seed: u64,
    ) -> Self {
        let sws = &net.switch;
        let mtu = net.mtu;
        let qlimit = sws.queue_bytes.unwrap_or_else(|| {
            if sws.trimming || sws.pfc.is_some() {
                port_bdp
            } else {
                5 * port_bdp
            }
        });
        let qlimit = qlimit.max(u64::from(mtu + 64 + overhead));
        let qlimit = if sws.pfc.is_some() {
            qlimit.max(64 * port_bdp)
        } else {
            qlimit
        };
        // Twice the data queue, as UEC's reference simulator sizes its header queue: trimmed
        // headers of a full data queue must not be dropped before the data would have been.
        let ctrl_limit = sws.ctrl_queue_bytes.unwrap_or(2 * qlimit);
        let base_q = sws
            .queue_bytes
            .unwrap_or_else(|| port_bdp.max(u64::from(mtu)));
        let nodes = topo.nodes().len();
        Self {
            counters: vec![SwitchCounters::default(); nodes].into(),
            rng: (0..nodes as u64)
                .map(|n| SplitMix64::new(stream(seed, 2, n)))
                .collect(),
            qlimit,
            ctrl_limit,
            marking: crate::red::Marking::new(sws, base_q, lane_gbps),
        }
    }
}
