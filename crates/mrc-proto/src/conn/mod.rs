//! The MRC connection: one QP, requester and responder in one sans-IO state machine.
//!
//! The state is split by direction: [`Requester`] (this end's writes: send ring, window,
//! loss recovery) and [`Responder`] (the peer's writes: placement, coverage, SACKs), with
//! the QP state, EV set, port masks and timers shared. Each job lives in its own module;
//! all are `impl Connection` blocks, since most paths touch both halves (a SACK updates the
//! send ring, the EV set and the timers). The protocol itself is in `docs/protocol.md`.

mod ack;
mod control;
mod loss;
mod requester;
mod responder;
#[cfg(test)]
mod tests;
mod timers;

use std::collections::VecDeque;

use mrc_wire::Psn;
use mrc_wire::mrc::{Body, ENDPOINT_QPN, EndpointOp};

use crate::bits::RingBits;
use crate::cc::CcFactory;
use crate::config::{ConnectionConfig, ModifyQpError, MrcQpAttr, QpState, attr_mask, ibv_mask};
use crate::ev::{EvSet, ReverseEvs};
use crate::mr::MemoryRegions;
use crate::time::{Duration, Instant};
use crate::{
    Event, PortMask, PostError, QpErrorReason, Received, Stats, Transmit, Transport, WcStatus,
    WriteRequest,
};

use control::PortStatusTx;
use requester::Requester;
use responder::{Ctrl, Responder, SackTrigger, ce_mark};
use timers::{N_TIMERS, Timer};

/// An MRC connection (one QP): requester and responder.
///
/// Create with [`Connection::new`] (state RESET) and drive through INIT/RTR/RTS with
/// [`Connection::modify_qp`], or use [`Connection::new_rts`]. Then feed packets and timeouts and
/// pull transmits and events through [`Transport`].
#[derive(Debug)]
pub struct Connection {
    cfg: ConnectionConfig,
    attr: MrcQpAttr,
    state: QpState,
    regions: MemoryRegions,
    ev: EvSet,
    plane_bits: u32,
    planes: u8,
    local_up: u32,
    peer_up: u32,
    /// A port status announcement to the peer awaiting its answer.
    port_status: Option<PortStatusTx>,
    port_status_seq: u16,
    /// Send side: this end's writes.
    req: Requester,
    /// Receive side: the peer's writes.
    rsp: Responder,
    timers: [Option<Instant>; N_TIMERS],
    last_now: Instant,
    events: VecDeque<Event>,
    stats: Stats,
}

impl Connection {
    /// A connection in state RESET.
    pub fn new(mut cfg: ConnectionConfig) -> Self {
        let planes = cfg.ev_profile.plane_count();
        let plane_bits = PortMask::first(planes).0;
        let ev = EvSet::new(
            &cfg.ev_profile,
            cfg.lb_mode,
            cfg.probe,
            cfg.seed ^ u64::from(cfg.qpn).wrapping_mul(0x9E37_79B9),
        );
        let rev = ReverseEvs::new(&cfg.ev_profile);
        // The EV set and the reverse EVs hold the lists from here on; a copy per QP cost
        // 4 bytes per EV (1.7 KB for 8 planes × 40, on each of 262,144 QP ends of a
        // 131,072-NIC permutation).
        cfg.ev_profile.planes = Vec::new();
        let cc = cfg.cc_profile.algorithm.build(None);
        let psn0 = Psn::new(cfg.initial_psn);
        Self {
            regions: MemoryRegions::new(cfg.seed ^ u64::from(cfg.qpn)),
            attr: MrcQpAttr::default(),
            state: QpState::Reset,
            ev,
            plane_bits,
            planes,
            local_up: plane_bits,
            peer_up: plane_bits,
            port_status: None,
            port_status_seq: 0,
            req: Requester::new(&cfg, cc, planes, psn0),
            rsp: Responder::new(rev, psn0),
            timers: [None; N_TIMERS],
            last_now: Instant::ZERO,
            events: VecDeque::with_capacity(16),
            stats: Stats::default(),
            cfg,
        }
    }

    /// A connection taken through INIT, RTR and RTS with `attr` (all mask bits set).
    pub fn new_rts(cfg: ConnectionConfig, attr: MrcQpAttr) -> Result<Self, ModifyQpError> {
        let mut c = Self::new(cfg);
        c.modify_qp(
            QpState::Init,
            ibv_mask::STATE,
            &attr,
            attr_mask::INIT_REQUIRED,
        )?;
        c.modify_qp(
            QpState::Rtr,
            ibv_mask::STATE,
            &attr,
            attr_mask::RTR_REQUIRED,
        )?;
        c.modify_qp(
            QpState::Rts,
            ibv_mask::STATE,
            &attr,
            attr_mask::RTS_REQUIRED,
        )?;
        Ok(c)
    }

    /// `mrc_modify_qp`: moves to `to`, taking the attributes whose bits are in `mrc_mask`.
    /// `ibv_mask` carries the verbs attribute bits given alongside; the ones MRC replaces or
    /// does not support are rejected ([`ibv_mask::REJECTED`]).
    pub fn modify_qp(
        &mut self,
        to: QpState,
        ibv_mask: u32,
        attr: &MrcQpAttr,
        mrc_mask: u32,
    ) -> Result<(), ModifyQpError> {
        for (bit, name) in ibv_mask::REJECTED {
            if ibv_mask & bit != 0 {
                return Err(ModifyQpError::Unsupported(name));
            }
        }
        let need = |bits: u32, name: &'static str| {
            if mrc_mask & bits == bits {
                Ok(())
            } else {
                Err(ModifyQpError::MissingAttribute(name))
            }
        };
        let range = |name: &'static str, value: u64, max: u64| {
            if value <= max {
                Ok(())
            } else {
                Err(ModifyQpError::OutOfRange { name, value, max })
            }
        };
        let dev = self.cfg.device;
        match (self.state, to) {
            (_, QpState::Reset) => {
                let cfg = self.cfg.clone();
                *self = Self::new(cfg);
                return Ok(());
            }
            (_, QpState::Error) => {
                self.enter_error(None);
                return Ok(());
            }
            (QpState::Reset, QpState::Init) => {
                need(attr_mask::HINT, "MRC_QP_HINT")?;
                need(attr_mask::EV_PROFILE_ID, "MRC_QP_EV_PROFILE_ID")?;
                need(attr_mask::CC_PROFILE_ID, "MRC_QP_CC_PROFILE_ID")?;
                if attr.ev_profile_id != self.cfg.ev_profile.id {
                    return Err(ModifyQpError::UnknownProfile {
                        kind: "EV",
                        id: attr.ev_profile_id,
                    });
                }
                if attr.cc_profile_id != self.cfg.cc_profile.id {
                    return Err(ModifyQpError::UnknownProfile {
                        kind: "CC",
                        id: attr.cc_profile_id,
                    });
                }
                self.attr.ev_profile_id = attr.ev_profile_id;
                self.attr.cc_profile_id = attr.cc_profile_id;
                self.attr.hint = attr.hint;
                // //= docs/protocol.md §13 item 12: with `num_remote_recv_peers` = k, initial
                // cwnd = BDP / k and fair increase / k (crate docs, QP hint).
                // The controller is built again, from the hint ([`CcFactory::build`]).
                if let Some(h) = attr.hint {
                    self.req.cc = self.cfg.cc_profile.algorithm.build(Some(&h));
                }
            }
            (QpState::Init, QpState::Rtr) => {
                need(attr_mask::MAX_WIMM_DEST, "MRC_QP_MAX_WIMM_DEST")?;
                need(attr_mask::MPR_DEST, "MRC_QP_MPR_DEST")?;
                need(attr_mask::CAP, "MRC_QP_CAP")?;
                range("mpr_dest", u64::from(attr.mpr_dest), u64::from(dev.max_mpr))?;
                if attr.mpr_dest == 0 || !attr.mpr_dest.is_multiple_of(dev.mpr_resolution.max(1)) {
                    return Err(ModifyQpError::OutOfRange {
                        name: "mpr_dest",
                        value: u64::from(attr.mpr_dest),
                        max: u64::from(dev.max_mpr),
                    });
                }
                range(
                    "max_wimm_dest",
                    u64::from(attr.max_wimm_dest),
                    u64::from(dev.max_wimm_dest),
                )?;
                self.attr.mpr_dest = attr.mpr_dest;
                self.attr.max_wimm_dest = attr.max_wimm_dest;
                self.attr.cap = attr.cap;
                self.rsp.rcv_window = attr.mpr_dest_psns();
                self.rsp.rcv_bits = RingBits::new(self.rsp.rcv_window + 64);
                self.rsp.imm_pending = VecDeque::with_capacity(usize::from(attr.max_wimm_dest) + 1);
            }
            (QpState::Rtr, QpState::Rts) => {
                need(attr_mask::MAX_WIMM, "MRC_QP_MAX_WIMM")?;
                need(attr_mask::MPR, "MRC_QP_MPR")?;
                need(attr_mask::RETRY_CNT, "MRC_QP_RETRY_CNT")?;
                need(attr_mask::TIMEOUT, "MRC_QP_TIMEOUT")?;
                range("mpr", u64::from(attr.mpr), u64::from(dev.max_mpr))?;
                if attr.mpr == 0 {
                    return Err(ModifyQpError::OutOfRange {
                        name: "mpr",
                        value: 0,
                        max: u64::from(dev.max_mpr),
                    });
                }
                range(
                    "max_wimm",
                    u64::from(attr.max_wimm),
                    u64::from(dev.max_wimm),
                )?;
                range("timeout", u64::from(attr.timeout), 24)?;
                range("retry.linear_cnt", u64::from(attr.retry.linear_cnt), 7)?;
                range("retry.exp_cnt", u64::from(attr.retry.exp_cnt), 25)?;
                self.attr.mpr = attr.mpr;
                self.attr.max_wimm = attr.max_wimm;
                self.attr.timeout = attr.timeout;
                self.attr.retry = attr.retry;
                // The send ring is allocated by the first post_write (responder-only QPs, most
                // of a simulated cluster's, never pay for it) and grows with the PSNs in flight
                // up to the MPR window (small writes of an all-to-all never need it all).
                self.req.rec_max = attr.mpr_psns().next_power_of_two();
            }
            (from, to) => return Err(ModifyQpError::InvalidTransition { from, to }),
        }
        self.state = to;
        Ok(())
    }

    /// The QP attributes in force.
    pub fn attr(&self) -> &MrcQpAttr {
        &self.attr
    }

    /// The configuration, less the EV profile's per-plane lists (its id stays): the EV set
    /// ([`Connection::ev_set`]) holds those.
    pub fn config(&self) -> &ConnectionConfig {
        &self.cfg
    }

    /// The EV set (states, active lists).
    pub fn ev_set(&self) -> &EvSet {
        &self.ev
    }

    /// Controller `MODIFY_EV_STATE(DENIED)` for one EV of this QP.
    pub fn deny_ev(&mut self, ev: u32) -> bool {
        self.ev.deny(ev)
    }

    /// Current congestion window, bytes.
    pub fn cwnd(&self) -> u64 {
        self.req.cc.window()
    }

    /// Payload bytes in flight.
    pub fn in_flight_bytes(&self) -> u64 {
        self.req.inflight_bytes
    }

    /// Smoothed RTT, if sampled.
    pub fn srtt(&self) -> Option<Duration> {
        self.req.srtt
    }

    /// Ports the peer reported up (bit p = plane p).
    pub fn peer_ports(&self) -> u32 {
        self.peer_up
    }

    fn masked_planes(&self) -> u32 {
        !(self.local_up & self.peer_up)
    }

    fn enter_error(&mut self, reason: Option<QpErrorReason>) {
        if self.state == QpState::Error {
            return;
        }
        self.state = QpState::Error;
        let status = match reason {
            Some(QpErrorReason::RetryExceeded) => WcStatus::RetryExceeded,
            _ => WcStatus::Flushed,
        };
        let mut first = true;
        while let Some(w) = self.req.sq.pop_front() {
            self.stats.completions += 1;
            self.events.push_back(Event::SendComplete {
                wr_id: w.wr.wr_id,
                status: if first { status } else { WcStatus::Flushed },
            });
            first = false;
        }
        self.req.seg_idx = 0;
        self.rsp.ctrl.clear();
        self.timers = [None; N_TIMERS];
        self.port_status = None;
        if let Some(r) = reason {
            tracing::warn!(qpn = self.cfg.qpn, reason = ?r, "QP error");
            self.events.push_back(Event::QpError(r));
        }
    }
}

impl Transport for Connection {
    fn handle_packet(&mut self, now: Instant, pkt: &Received<'_>) {
        self.last_now = self.last_now.max(now);
        let b = pkt.repr.bth;
        let endpoint = matches!(
            pkt.repr.body,
            Body::EndpointRequest(_) | Body::EndpointResponse(_)
        );
        if b.dest_qp != self.cfg.qpn && !(endpoint && b.dest_qp == ENDPOINT_QPN) {
            self.stats.rejected_wrong_qp += 1;
            return;
        }
        if matches!(self.state, QpState::Reset | QpState::Init | QpState::Error) {
            self.stats.rejected_not_ready += 1;
            return;
        }
        match &pkt.repr.body {
            Body::Write(w) => {
                if pkt.repr.check().is_err() {
                    self.stats.rejected_not_ready += 1;
                    return;
                }
                self.on_write(now, pkt, w);
            }
            Body::Sack { seth, cc } => self.on_sack(now, seth, cc),
            Body::Nack(n) => self.on_nack(now, n),
            Body::Probe(_) => {
                let t = SackTrigger {
                    psn: self.rsp.rcv_cack,
                    cover: self.rsp.rcv_cack,
                    ev: pkt.ev,
                    plane: pkt.port,
                    mark: ce_mark(pkt.ecn_ce),
                    pr: true,
                };
                self.push_ctrl(Ctrl::Sack(t));
            }
            Body::EndpointRequest(r) if matches!(r.op, EndpointOp::Other(_)) => {
                self.stats.unknown_received += 1;
            }
            Body::EndpointRequest(r) => {
                if r.op == EndpointOp::PortStatusUpdate {
                    let new = r.port_status_mask & self.plane_bits;
                    let lost = self.peer_up & !new;
                    self.peer_up = new;
                    self.events.push_back(Event::PeerPortStatus { mask: new });
                    self.set_planes_lost(now, lost);
                }
                self.push_ctrl(Ctrl::EpResponse {
                    op: r.op,
                    id: b.psn.value() as u16,
                    ts: r.timestamp.tx_timestamp,
                    ev: pkt.ev,
                    plane: pkt.port,
                });
            }
            Body::EndpointResponse(r) => {
                if r.op == EndpointOp::PortStatusUpdate
                    && self.port_status.is_some_and(|p| p.seq == r.tx_timestamp)
                {
                    self.port_status = None;
                    self.disarm(Timer::PortStatus);
                    self.events.push_back(Event::PortStatusAcked);
                }
            }
            Body::Ack(_) => {}
        }
        self.arm_if_stalled(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        if self.state == QpState::Error {
            return;
        }
        self.expire_timers(now);
    }

    fn poll_transmit(&mut self, now: Instant, ready: PortMask) -> Option<Transmit> {
        self.last_now = self.last_now.max(now);
        if matches!(self.state, QpState::Reset | QpState::Init | QpState::Error) {
            return None;
        }
        let up = ready.0 & self.local_up & self.plane_bits;
        if up == 0 {
            return None;
        }
        if let Some(t) = self.poll_control(now, up) {
            return Some(t);
        }
        if self.state != QpState::Rts {
            return None;
        }
        self.poll_data(now, up)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.timers.iter().flatten().copied().min();
        if let Some(p) = self.ev.next_probe_time()
            && p > self.last_now
        {
            t = Some(t.map_or(p, |x| x.min(p)));
        }
        t
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn post_write(&mut self, wr: WriteRequest) -> Result<(), PostError> {
        if self.state != QpState::Rts {
            return Err(PostError::NotReady(self.state));
        }
        if !self.regions.contains(wr.local_addr, u64::from(wr.len)) {
            return Err(PostError::LocalOutOfBounds);
        }
        if self.req.sq.len() >= self.cfg.max_send_wr as usize {
            return Err(PostError::QueueFull);
        }
        self.req.queue(wr);
        self.arm_if_stalled(self.last_now);
        Ok(())
    }

    fn handle_port_status(&mut self, now: Instant, port: u8, up: bool) {
        if port >= self.planes {
            return;
        }
        let bit = 1u32 << port;
        let old = self.local_up;
        if up {
            self.local_up |= bit;
        } else {
            self.local_up &= !bit;
        }
        if old == self.local_up {
            return;
        }
        if !up {
            self.set_planes_lost(now, bit);
            self.arm_if_stalled(now);
        }
        if !matches!(self.state, QpState::Rtr | QpState::Rts) {
            return;
        }
        self.port_status_seq = self.port_status_seq.wrapping_add(1);
        self.port_status = Some(PortStatusTx {
            mask: self.local_up,
            seq: self.port_status_seq,
            next_at: now,
        });
        self.arm(Timer::PortStatus, now);
    }

    fn regions(&self) -> &MemoryRegions {
        &self.regions
    }

    fn regions_mut(&mut self) -> &mut MemoryRegions {
        &mut self.regions
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }

    fn state(&self) -> QpState {
        self.state
    }

    fn outstanding(&self) -> usize {
        self.req.sq.len()
    }
}
