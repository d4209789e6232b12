//! The control packets a QP sends ahead of data: its port status announcement, the queued
//! SACKs, NACKs and endpoint answers, and EV probes (`docs/protocol.md`).

use mrc_wire::Psn;
use mrc_wire::mrc::{
    self, Body, ENDPOINT_QPN, EndpointOp, Opcode, TypeNext, bth, eeth, erth, peth, tseth,
};

use super::Connection;
use super::responder::Ctrl;
use super::timers::Timer;
use crate::config::QpState;
use crate::ev::EvState;
use crate::time::{Duration, Instant};
use crate::{TrafficClass, Transmit};

/// A port status announcement to the peer, resent until it is answered.
#[derive(Debug, Clone, Copy)]
pub(super) struct PortStatusTx {
    pub(super) mask: u32,
    pub(super) seq: u16,
    pub(super) next_at: Instant,
}

impl Connection {
    pub(super) fn reverse_plane(&self, want: u8, up: u32) -> Option<u8> {
        let usable = up & self.peer_up;
        if usable & (1 << want) != 0 {
            return Some(want);
        }
        let any = if usable != 0 { usable } else { up };
        (any != 0).then(|| any.trailing_zeros() as u8)
    }

    /// A reverse EV on `plane` that this QP's own sending has not found out of use.
    pub(super) fn reverse_ev(&mut self, plane: u8) -> Option<u32> {
        let own = &self.ev;
        self.rsp.rev.pick(plane, |e| {
            !matches!(own.state(e), Some(EvState::AssumedBad | EvState::Denied))
        })
    }

    pub(super) fn poll_control(&mut self, now: Instant, up: u32) -> Option<Transmit> {
        if let Some(ps) = self.port_status
            && ps.next_at <= now
        {
            let plane = up.trailing_zeros() as u8;
            let ev = self.reverse_ev(plane).unwrap_or(0);
            let interval = self
                .req
                .min_rtt
                .saturating_mul(4)
                .max(Duration::from_micros(10));
            if let Some(p) = self.port_status.as_mut() {
                p.next_at = now + interval;
            }
            self.arm(Timer::PortStatus, now + interval);
            let repr = mrc::Repr {
                // The request id goes in PSN[15:0] (where EV probes carry their probe id, so
                // other implementations can match answers) and in the ERTH timestamp.
                bth: bth::Repr::new(
                    Opcode::EndpointRequest,
                    ENDPOINT_QPN,
                    Psn::new(ps.seq.into()),
                ),
                body: Body::EndpointRequest(erth::Repr {
                    type_next: TypeNext::default(),
                    op: EndpointOp::PortStatusUpdate,
                    vendor_info: 0,
                    port_status_mask: ps.mask,
                    timestamp: tseth::Repr {
                        tx_timestamp: ps.seq,
                        ..Default::default()
                    },
                }),
            };
            return Some(self.control(repr, ev, plane));
        }
        if let Some(c) = self.rsp.ctrl.front().copied() {
            let (want, ev) = match c {
                Ctrl::Sack(t) => (t.plane, t.ev),
                Ctrl::Nack { plane, ev, .. } | Ctrl::EpResponse { plane, ev, .. } => (plane, ev),
            };
            if let Some(plane) = self.reverse_plane(want, up) {
                self.rsp.ctrl.pop_front();
                // Probe answers and NACKs go back on the packet's own EV (it tests that path);
                // SACKs use the reverse set of the plane.
                let ev = match c {
                    Ctrl::Sack(t) if !t.pr => self.reverse_ev(plane).unwrap_or(ev),
                    _ if plane != want => self.reverse_ev(plane).unwrap_or(ev),
                    _ => ev,
                };
                let repr = match c {
                    Ctrl::Sack(t) => {
                        self.stats.sacks_sent += 1;
                        self.sack_repr(t)
                    }
                    Ctrl::Nack {
                        psn,
                        ev: nev,
                        reason,
                        ..
                    } => {
                        self.stats.nacks_sent += 1;
                        self.nack_repr(psn, nev, reason)
                    }
                    Ctrl::EpResponse { op, id, ts, .. } => mrc::Repr {
                        bth: bth::Repr::new(
                            Opcode::EndpointResponse,
                            ENDPOINT_QPN,
                            Psn::new(id.into()),
                        ),
                        body: Body::EndpointResponse(eeth::Repr {
                            type_next: TypeNext::default(),
                            op,
                            tx_timestamp: ts,
                        }),
                    },
                };
                return Some(self.control(repr, ev, plane));
            }
        }
        if self.state == QpState::Rts && self.ev.next_probe_time().is_some_and(|t| t <= now) {
            // Probes whose answer is overdue count as failed here too, not only in
            // `handle_timeout`: a QP that keeps sending has already seen the deadline pass
            // (`poll_timeout` no longer reports it), and with `max_outstanding` lost probes
            // still counted out no EV would ever be probed again.
            self.ev.probe_timeouts(now);
            let per = u32::from(self.cfg.probe.data_per_probe);
            let floor = self.req.last_probe + self.cfg.probe.max_interval;
            if self.req.probe_credit < per && now < floor {
                if self.timer(Timer::ProbeBudget).is_none() {
                    self.arm(Timer::ProbeBudget, floor);
                }
                return None;
            }
            let blocked = !(up & self.peer_up);
            let down = !(self.local_up & self.peer_up);
            if let Some((ev, plane)) = self.ev.next_probe(now, blocked, down) {
                self.req.probe_credit = self.req.probe_credit.saturating_sub(per);
                self.req.last_probe = now;
                self.disarm(Timer::ProbeBudget);
                self.req.probe_id = self.req.probe_id.wrapping_add(1);
                self.stats.probes_sent += 1;
                let repr = mrc::Repr {
                    bth: bth::Repr::new(
                        Opcode::ProbeRequest,
                        self.cfg.remote_qpn,
                        self.req.snd_nxt,
                    ),
                    body: Body::Probe(peth::Repr {
                        type_next: TypeNext::default(),
                        vendor_info: 0,
                        probe_id: self.req.probe_id,
                        spdcid: self.cfg.qpn as u16,
                        dpdcid: self.cfg.remote_qpn as u16,
                        timestamp: tseth::Repr::default(),
                    }),
                };
                return Some(self.control(repr, ev, plane));
            }
        }
        None
    }

    pub(super) fn control(&mut self, repr: mrc::Repr, ev: u32, port: u8) -> Transmit {
        self.stats.control_sent += 1;
        Transmit {
            repr,
            ev,
            port,
            class: TrafficClass::Control,
            payload: None,
        }
    }
}
