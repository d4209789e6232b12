//! Switch queueing: enqueue with trimming or drop, ECN marking, PFC pause/resume, and the
//! transmit start of a port.

use super::*;

impl<F: TransportFactory> Sim<F> {
    pub(super) fn start_tx(&mut self, g: u32) {
        let now = self.q.now();
        let port = &mut self.ports[g as usize];
        if now < port.busy_until {
            let waiting = !port.ctrl.is_empty() || !port.data.is_empty();
            if !port.wake && waiting {
                port.wake = true;
                let at = port.busy_until;
                self.q.schedule(at, Ev::TxDone { port: g });
            }
            return;
        }
        let pk = if let Some(p) = port.ctrl.pop(&self.pkts) {
            port.ctrl_bytes -= u64::from(self.pkts[p as usize].bytes);
            p
        } else if !port.paused
            && let Some(p) = port.data.pop(&self.pkts)
        {
            port.data_bytes -= u64::from(self.pkts[p as usize].bytes);
            if self.marking.at == EcnAt::Dequeue {
                let behind = port.data_bytes;
                self.ecn_mark(g, p, behind);
            }
            p
        } else {
            return;
        };
        let port = &mut self.ports[g as usize];
        let bytes = self.pkts[pk as usize].bytes;
        let t = ser_ps(bytes, port.gbps);
        port.busy_until = now + t;
        port.tx_bytes += u64::from(bytes);
        port.tx_pkts += 1;
        port.busy_ps += t;
        let lat = port.latency_ps;
        let node = port.node;
        if node >= self.nics {
            self.sw[node as usize].bytes_out += u64::from(bytes);
            let inp = self.pkts[pk as usize].in_port;
            if inp != NONE {
                self.pfc_release(inp, bytes);
            }
        }
        if self.tap.is_some() {
            self.tap_tx(g, pk);
        }
        let port = &mut self.ports[g as usize];
        if !port.wake && (node < self.nics || !(port.ctrl.is_empty() && port.data.is_empty())) {
            port.wake = true;
            self.q.schedule(now + t, Ev::TxDone { port: g });
        }
        let (at, ahead) = (now + t + lat, port.flight.tail);
        port.flight.push(&mut self.pkts, pk);
        if ahead == NONE {
            self.q.schedule(at, Ev::Arrive { port: g });
        } else {
            self.pkts[ahead as usize].behind_at = at;
        }
    }

    pub(super) fn pfc_release(&mut self, inp: u32, bytes: u32) {
        let Some(pfc) = self.spec.net.switch.pfc else {
            return;
        };
        let now = self.q.now();
        let ip = &mut self.ports[inp as usize];
        ip.ingress_bytes = ip.ingress_bytes.saturating_sub(u64::from(bytes));
        if ip.pause_sent && ip.ingress_bytes <= pfc.xon_bytes {
            ip.pause_sent = false;
            let (up, lat) = (ip.rev, ip.latency_ps);
            self.q.schedule(
                now + lat,
                Ev::Pfc {
                    port: up,
                    pause: false,
                },
            );
        }
    }

    pub(super) fn drop_at(&mut self, node: u32, pk: u32) {
        let p = &self.pkts[pk as usize];
        let (b, trimmed, control) = (
            u64::from(p.bytes),
            p.trim.is_some(),
            p.class == TrafficClass::Control,
        );
        let c = &mut self.sw[node as usize];
        c.bytes_dropped += b;
        c.pkts_dropped += 1;
        if trimmed {
            c.dropped_trimmed += 1;
        } else if control {
            c.dropped_control += 1;
        } else {
            c.dropped_data += 1;
        }
        self.free.push(pk);
    }

    pub(super) fn enqueue(&mut self, g: u32, pk: u32, in_port: u32) {
        let node = self.ports[g as usize].node;
        let sws = self.spec.net.switch;
        let (to_nic, data_bytes, ctrl_bytes) = {
            let p = &self.ports[g as usize];
            (p.to_nic, p.data_bytes, p.ctrl_bytes)
        };
        let (is_ctrl, bytes) = {
            let p = &self.pkts[pk as usize];
            (
                p.class == TrafficClass::Control || p.trim.is_some(),
                u64::from(p.bytes),
            )
        };
        let to_ctrl = if is_ctrl {
            if ctrl_bytes + bytes > self.ctrl_limit {
                self.drop_at(node, pk);
                return;
            }
            true
        } else if data_bytes + bytes > self.qlimit {
            if !(sws.trimming && bytes > u64::from(sws.trim_bytes)) {
                self.drop_at(node, pk);
                return;
            }
            let p = &mut self.pkts[pk as usize];
            p.bytes = sws.trim_bytes;
            p.trim = Some(if to_nic { Trim::LastHop } else { Trim::Fabric });
            let c = &mut self.sw[node as usize];
            c.bytes_trimmed += bytes - u64::from(sws.trim_bytes);
            c.pkts_trimmed += 1;
            if ctrl_bytes + u64::from(sws.trim_bytes) > self.ctrl_limit {
                self.drop_at(node, pk);
                return;
            }
            true
        } else {
            if self.marking.at == EcnAt::Enqueue {
                self.ecn_mark(g, pk, data_bytes);
            }
            false
        };
        let b = u64::from(self.pkts[pk as usize].bytes);
        if to_ctrl {
            self.ports[g as usize].ctrl_bytes += b;
            self.ports[g as usize].ctrl.push(&mut self.pkts, pk);
        } else {
            self.ports[g as usize].data_bytes += b;
            self.ports[g as usize].data.push(&mut self.pkts, pk);
            if let Some(pfc) = sws.pfc
                && in_port != NONE
            {
                self.pkts[pk as usize].in_port = in_port;
                let now = self.q.now();
                let ip = &mut self.ports[in_port as usize];
                ip.ingress_bytes += b;
                if !ip.pause_sent && ip.ingress_bytes >= pfc.xoff_bytes {
                    ip.pause_sent = true;
                    self.sw[node as usize].pfc_pauses += 1;
                    let (up, lat) = (ip.rev, ip.latency_ps);
                    self.q.schedule(
                        now + lat,
                        Ev::Pfc {
                            port: up,
                            pause: true,
                        },
                    );
                }
            }
        }
        self.start_tx(g);
    }

    /// ECN-marks data packet `pk` at switch port `g` whose data queue holds `q` bytes, as the
    /// run's marking says (never at a NIC; at the last hop only if configured).
    pub(super) fn ecn_mark(&mut self, g: u32, pk: u32, q: u64) {
        let (node, to_nic) = {
            let p = &self.ports[g as usize];
            (p.node, p.to_nic)
        };
        if self.spec.net.switch.ecn
            && node >= self.nics
            && (!to_nic || self.marking.last_hop)
            && !self.pkts[pk as usize].ecn
            && self.marking.mark(q, &mut self.sw_rng[node as usize])
        {
            self.pkts[pk as usize].ecn = true;
            self.sw[node as usize].pkts_marked += 1;
        }
    }
}
