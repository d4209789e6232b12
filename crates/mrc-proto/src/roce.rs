//! RoCEv2 RC baseline with DCQCN, behind the same [`Transport`] API as MRC.
//!
//! What it models (for comparisons in the simulator, not as a product):
//! - **One fixed path per QP**: every packet of the QP uses [`RoceConfig::ev`] on
//!   [`RoceConfig::port`] (ECMP hashes a flow to one path; open several QPs for more).
//! - **Loss recovery, [`Recovery`]**: go-back-N (the responder accepts only the expected PSN;
//!   a gap gets one NAK (PSN sequence error) and the requester resends everything from the NAKed
//!   PSN), or selective repeat as current RNICs do (the responder places packets past a gap and
//!   NAKs the first missing PSN; the requester resends only the NAKed packet; completions and
//!   immediates stay in order). A timeout resends from the oldest unacked PSN in both.
//! - **RNIC retry semantics** (`docs/workload.md` §9): local ACK timeout 4.096 µs × 2^timeout
//!   restarted on progress; every expiry resends from the oldest unacked PSN and counts a retry;
//!   more than `retry_cnt` (≤ 7) retries without progress → QP ERROR. A dead path therefore
//!   stalls the QP for (retry_cnt + 1) timeouts and then kills it.
//! - **DCQCN** (Zhu et al., SIGCOMM 2015; every value and its source in `docs/dcqcn.md`): the
//!   responder (NP) sends a CNP for ECN-CE marked packets at most once per `cnp_interval`; the
//!   requester (RP) cuts `Rc ← Rc (1 − α/2)`, updates α with gain g, decays α every
//!   `alpha_timer` without CNP, and raises the rate on timer / byte-counter events: fast recovery
//!   (`Rc ← (Rt + Rc)/2`) for the first F events, then additive (`Rt += R_AI`), then hyper
//!   increase (`Rt += i·R_HAI`). Packets are paced at Rc. The reaction point is
//!   [`crate::cc::Dcqcn`], which MRC QPs can use too ([`crate::cc::DcqcnCc`]).
//!
//! Typed packets: inside the [`Transport`] API data uses the MRC Write reprs (METH + RETH) and
//! ACK / NAK / CNP use `ACKNOWLEDGE` with AETH syndromes 0x00 (ACK), 0x60 (NAK PSN sequence
//! error), 0x62 (NAK remote access error) and [`CNP_SYNDROME`] (CNP; class 010 is reserved in
//! IB). BTH.PSN of an ACK is the last PSN received in order; of a NAK the expected PSN. On the
//! wire (pcap) [`rc_repr`] turns them into what a RoCE NIC sends: RC RDMA Write opcodes (RETH on
//! the first packet only), RC Acknowledge, and the RoCEv2 CNP (`mrc_wire::rc`).

use std::collections::VecDeque;

use mrc_wire::Psn;
use mrc_wire::mrc::{self, Body, Opcode, Write, aeth, bth, meth, reth};
use mrc_wire::rc;

use crate::cc::Dcqcn;
use crate::mr::MemoryRegions;
use crate::time::{Duration, Instant};
use crate::{
    Event, PayloadRef, PortMask, PostError, QpErrorReason, QpState, Received, Stats, TrafficClass,
    Transmit, Transport, WcStatus, WriteRequest,
};

/// AETH syndrome of an ACK.
pub const ACK_SYNDROME: u8 = 0x00;
/// AETH syndrome of a NAK for a PSN sequence error.
pub const NAK_SEQ_SYNDROME: u8 = 0x60;
/// AETH syndrome of a NAK for a remote access error.
pub const NAK_ACCESS_SYNDROME: u8 = 0x62;
/// AETH syndrome we use for a CNP (congestion notification packet).
pub const CNP_SYNDROME: u8 = 0x5F;

pub use crate::cc::DcqcnConfig;

/// How a QP recovers lost packets (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recovery {
    /// Resend everything from the NAKed PSN; the responder drops packets past a gap.
    #[default]
    GoBackN,
    /// Resend only NAKed packets; the responder keeps packets past a gap.
    Selective,
}

/// Configuration of a RoCEv2 RC QP.
#[derive(Debug, Clone, PartialEq)]
pub struct RoceConfig {
    /// Local QP number.
    pub qpn: u32,
    /// Remote QP number.
    pub remote_qpn: u32,
    /// Payload bytes per packet.
    pub mtu: u32,
    /// First PSN (both sides).
    pub initial_psn: u32,
    /// Seed (memory keys).
    pub seed: u64,
    /// The one EV (UDP source port hash input) of this QP.
    pub ev: u32,
    /// The port the QP is bound to.
    pub port: u8,
    /// Local ACK timeout exponent: 4.096 µs × 2^timeout (NCCL default 20 ≈ 4.3 s).
    pub timeout: u8,
    /// Retries before QP error (≤ 7; NCCL default 7).
    pub retry_cnt: u8,
    /// Loss recovery.
    pub recovery: Recovery,
    /// Port line rate, bits/s (the DCQCN ceiling).
    pub line_rate_bps: u64,
    /// DCQCN.
    pub dcqcn: DcqcnConfig,
    /// Largest number of unacknowledged PSNs.
    pub max_inflight: u32,
    /// Responder ACKs every this many packets (and on LAST/ONLY, ack-request, duplicates).
    pub ack_every: u32,
    /// Largest posted-but-not-completed work requests.
    pub max_send_wr: u32,
}

impl RoceConfig {
    /// Defaults: 4 KB MTU, timeout 14 (67 ms), 7 retries, 100 Gb/s, DCQCN on.
    pub fn new(qpn: u32, remote_qpn: u32, ev: u32, port: u8, seed: u64) -> Self {
        Self {
            qpn,
            remote_qpn,
            mtu: 4096,
            initial_psn: 0,
            seed,
            ev,
            port,
            timeout: 14,
            retry_cnt: 7,
            recovery: Recovery::GoBackN,
            line_rate_bps: 100_000_000_000,
            dcqcn: DcqcnConfig::default(),
            max_inflight: 4096,
            ack_every: 4,
            max_send_wr: 4096,
        }
    }

    /// Local ACK timeout 4.096 µs × 2^timeout.
    pub fn ack_timeout(&self) -> Duration {
        Duration::from_nanos(4_096u64 << self.timeout.min(31))
    }
}

/// The RoCEv2 form of a packet of this baseline (see the module docs), or `None` for a packet
/// it never sends.
pub fn rc_repr(repr: &mrc::Repr) -> Option<rc::Repr> {
    let (opcode, reth, imm, aeth, payload_len) = match &repr.body {
        Body::Write(w) => {
            let op = match repr.bth.opcode {
                Opcode::WriteFirst => rc::Opcode::WriteFirst,
                Opcode::WriteMiddle => rc::Opcode::WriteMiddle,
                Opcode::WriteLast => rc::Opcode::WriteLast,
                Opcode::WriteLastImm => rc::Opcode::WriteLastImm,
                Opcode::WriteOnly => rc::Opcode::WriteOnly,
                Opcode::WriteOnlyImm => rc::Opcode::WriteOnlyImm,
                _ => return None,
            };
            let reth = op.has_reth().then_some(w.reth);
            let imm = if op.has_immediate() { w.imm } else { None };
            (op, reth, imm, None, w.payload_len)
        }
        Body::Ack(a) if a.syndrome == CNP_SYNDROME => (rc::Opcode::Cnp, None, None, None, 0),
        Body::Ack(a) => (rc::Opcode::Acknowledge, None, None, Some(*a), 0),
        _ => return None,
    };
    let cnp = opcode == rc::Opcode::Cnp;
    Some(rc::Repr {
        opcode,
        dest_qp: repr.bth.dest_qp,
        psn: if cnp { Psn::new(0) } else { repr.bth.psn },
        ack_req: repr.bth.ack_req,
        becn: cnp,
        reth,
        imm,
        aeth,
        payload_len,
    })
}

#[derive(Debug, Clone, Copy)]
struct PendingWr {
    wr: WriteRequest,
    msn: u16,
    first_psn: Psn,
    npkts: u32,
}

/// A packet placed past a gap (selective repeat): what its in-order arrival still owes.
#[derive(Debug, Clone, Copy)]
struct Held {
    /// Its Write-with-Immediate completion.
    imm: Option<Event>,
    /// It ends a message or asked for an ACK.
    ack_now: bool,
}

#[derive(Debug, Clone, Copy)]
enum Ctrl {
    Ack(Psn),
    Nak(Psn, u8),
    Cnp,
}

/// A RoCEv2 RC QP (requester and responder). Created directly in RTS.
#[derive(Debug)]
pub struct Connection {
    cfg: RoceConfig,
    state: QpState,
    regions: MemoryRegions,
    // requester
    sq: VecDeque<PendingWr>,
    next_msn: u16,
    cur: usize,
    snd_una: Psn,
    snd_nxt: Psn,
    snd_max: Psn,
    /// Selective repeat: NAKed PSNs to resend before new data.
    resend: VecDeque<Psn>,
    last_now: Instant,
    retries: u32,
    ack_deadline: Option<Instant>,
    /// DCQCN reaction point (CNPs in, the bytes sent counted).
    rp: Dcqcn,
    next_tx: Instant,
    // responder
    epsn: Psn,
    nak_sent: bool,
    /// Selective repeat: packets held past a gap, index 0 = `epsn` (always `None`).
    held: VecDeque<Option<Held>>,
    unacked: u32,
    ack_at: Option<Instant>,
    last_cnp: Option<Instant>,
    ctrl: VecDeque<Ctrl>,
    events: VecDeque<Event>,
    stats: Stats,
}

impl Connection {
    /// A QP in RTS.
    pub fn new(cfg: RoceConfig) -> Self {
        let psn0 = Psn::new(cfg.initial_psn);
        Self {
            regions: MemoryRegions::new(cfg.seed ^ u64::from(cfg.qpn) ^ 0x524F_4345),
            state: QpState::Rts,
            sq: VecDeque::new(),
            next_msn: 0,
            cur: 0,
            snd_una: psn0,
            snd_nxt: psn0,
            snd_max: psn0,
            resend: VecDeque::new(),
            last_now: Instant::ZERO,
            retries: 0,
            ack_deadline: None,
            rp: Dcqcn::new(cfg.dcqcn, cfg.line_rate_bps),
            next_tx: Instant::ZERO,
            epsn: psn0,
            nak_sent: false,
            held: VecDeque::new(),
            unacked: 0,
            ack_at: None,
            last_cnp: None,
            ctrl: VecDeque::with_capacity(64),
            events: VecDeque::with_capacity(64),
            stats: Stats::default(),
            cfg,
        }
    }

    /// Current DCQCN rate Rc, bits/s.
    pub fn rate_bps(&self) -> u64 {
        self.rp.rate() as u64
    }

    /// The configuration.
    pub fn config(&self) -> &RoceConfig {
        &self.cfg
    }

    /// Index in the send queue of the WR that holds PSN `p` (go-back-N restarts).
    fn wr_index(&self, p: Psn) -> usize {
        self.sq
            .iter()
            .position(|w| p.distance_from(w.first_psn) < w.npkts)
            .unwrap_or(self.sq.len())
    }

    fn enter_error(&mut self, reason: QpErrorReason, status: WcStatus) {
        if self.state == QpState::Error {
            return;
        }
        self.state = QpState::Error;
        let mut first = true;
        while let Some(w) = self.sq.pop_front() {
            self.stats.completions += 1;
            self.events.push_back(Event::SendComplete {
                wr_id: w.wr.wr_id,
                status: if first { status } else { WcStatus::Flushed },
            });
            first = false;
        }
        self.ctrl.clear();
        self.ack_deadline = None;
        self.ack_at = None;
        tracing::warn!(qpn = self.cfg.qpn, reason = ?reason, "RoCE QP error");
        self.events.push_back(Event::QpError(reason));
    }

    fn on_ack(&mut self, now: Instant, psn: Psn) {
        // Everything up to and including `psn` is acknowledged.
        let adv = psn.add(1).diff(self.snd_una);
        if adv <= 0 {
            return;
        }
        if adv > self.snd_max.diff(self.snd_una) {
            self.stats.forged_acks += 1;
            return;
        }
        self.snd_una = psn.add(1);
        if self.snd_nxt.diff(self.snd_una) < 0 {
            self.snd_nxt = self.snd_una;
            self.cur = usize::MAX;
        }
        self.retries = 0;
        self.ack_deadline = (self.snd_max != self.snd_una).then(|| now + self.cfg.ack_timeout());
        while let Some(w) = self.sq.front() {
            let last = w.first_psn.add(w.npkts.max(1) - 1);
            if !last.precedes(self.snd_una) {
                break;
            }
            let wr_id = w.wr.wr_id;
            self.sq.pop_front();
            self.cur = self.cur.saturating_sub(1);
            if self.cur == usize::MAX - 1 {
                self.cur = usize::MAX;
            }
            self.stats.completions += 1;
            self.events.push_back(Event::SendComplete {
                wr_id,
                status: WcStatus::Success,
            });
        }
        if self.cur == usize::MAX {
            self.cur = self.wr_index(self.snd_nxt);
        }
    }

    fn on_cnp(&mut self, now: Instant) {
        self.stats.ecn_echoes += 1;
        if self.cfg.dcqcn.enabled {
            self.rp.on_cnp(now);
        }
    }

    fn data_repr(&self, w: &PendingWr, p: Psn, rtx: bool) -> (mrc::Repr, PayloadRef) {
        let k = p.distance_from(w.first_psn);
        let off = k * self.cfg.mtu;
        let len = w.wr.len.saturating_sub(off).min(self.cfg.mtu);
        let first = k == 0;
        let last = k + 1 >= w.npkts;
        let imm = w.wr.imm.is_some();
        let opcode = match (first, last, imm) {
            (true, true, false) => Opcode::WriteOnly,
            (true, true, true) => Opcode::WriteOnlyImm,
            (true, false, _) => Opcode::WriteFirst,
            (false, false, _) => Opcode::WriteMiddle,
            (false, true, false) => Opcode::WriteLast,
            (false, true, true) => Opcode::WriteLastImm,
        };
        let mut b = bth::Repr::new(opcode, self.cfg.remote_qpn, p);
        b.retransmit = rtx;
        b.ack_req = last;
        let repr = mrc::Repr {
            bth: b,
            body: Body::Write(Write {
                meth: meth::Repr {
                    rqmsn: 0,
                    msn: w.msn,
                },
                tseth: None,
                reth: reth::Repr {
                    va: w.wr.remote_addr + u64::from(off),
                    rkey: w.wr.rkey,
                    dma_len: w.wr.len,
                },
                imm: if opcode.has_immediate() {
                    w.wr.imm
                } else {
                    None
                },
                payload_len: len,
            }),
        };
        (
            repr,
            PayloadRef {
                addr: w.wr.local_addr + u64::from(off),
                len,
            },
        )
    }

    /// The next NAKed PSN still unacknowledged (selective repeat) and its WR.
    fn next_resend(&mut self) -> Option<(Psn, PendingWr)> {
        while let Some(p) = self.resend.pop_front() {
            if p.precedes(self.snd_una) || !p.precedes(self.snd_max) {
                continue;
            }
            if let Some(w) = self.sq.get(self.wr_index(p)) {
                return Some((p, *w));
            }
        }
        None
    }

    fn next_data(&mut self, now: Instant) -> Option<Transmit> {
        if now < self.next_tx {
            return None;
        }
        let (p, w, rtx) = if let Some((p, w)) = self.next_resend() {
            (p, w, true)
        } else {
            if self.snd_nxt.distance_from(self.snd_una) >= self.cfg.max_inflight {
                return None;
            }
            let p = self.snd_nxt;
            let rtx = p.precedes(self.snd_max);
            let w = *self.sq.get(self.cur)?;
            if p.distance_from(w.first_psn) + 1 >= w.npkts {
                self.cur += 1;
            }
            self.snd_nxt = p.add(1);
            if !rtx {
                self.snd_max = self.snd_nxt;
            }
            (p, w, rtx)
        };
        let (repr, payload) = self.data_repr(&w, p, rtx);
        if rtx {
            self.stats.data_retransmitted += 1;
        }
        self.stats.data_sent += 1;
        self.stats.bytes_sent += u64::from(payload.len);
        if self.ack_deadline.is_none() {
            self.ack_deadline = Some(now + self.cfg.ack_timeout());
        }
        let wire = repr.buffer_len() as u64 + 66;
        self.rp.on_bytes(wire);
        let gap = Duration::from_nanos((wire as f64 * 8.0 * 1e9 / self.rp.rate().max(1.0)) as u64);
        self.next_tx = now.max(self.next_tx) + gap;
        Some(Transmit {
            repr,
            ev: self.cfg.ev,
            port: self.cfg.port,
            class: if rtx {
                TrafficClass::Retransmit
            } else {
                TrafficClass::Data
            },
            payload: Some(payload),
        })
    }

    fn push_ctrl(&mut self, c: Ctrl) {
        if let (Ctrl::Ack(p), Some(Ctrl::Ack(last))) = (c, self.ctrl.back_mut()) {
            *last = p;
            return;
        }
        if self.ctrl.len() < 1024 {
            self.ctrl.push_back(c);
        }
    }

    fn on_write(&mut self, now: Instant, pkt: &Received<'_>, w: &Write) {
        let b = pkt.repr.bth;
        let psn = b.psn;
        if pkt.ecn_ce {
            self.stats.ecn_received += 1;
            if self.cfg.dcqcn.enabled
                && self
                    .last_cnp
                    .is_none_or(|t| now.saturating_since(t) >= self.cfg.dcqcn.cnp_interval)
            {
                self.last_cnp = Some(now);
                self.push_ctrl(Ctrl::Cnp);
            }
        }
        if pkt.trim.is_some() {
            // RoCE has no trimming: a trimmed packet is a lost packet.
            self.stats.trimmed_received += 1;
            return;
        }
        let d = psn.diff(self.epsn);
        if d < 0 {
            self.stats.duplicates_received += 1;
            self.push_ctrl(Ctrl::Ack(self.epsn.sub(1)));
            return;
        }
        let hold = self.cfg.recovery == Recovery::Selective && (d as u32) < self.cfg.max_inflight;
        if d > 0 && !hold {
            self.nak_gap();
            return;
        }
        if d > 0 && self.held.get(d as usize).is_some_and(Option::is_some) {
            self.stats.duplicates_received += 1;
            return;
        }
        let len = u64::from(w.payload_len);
        if pkt.payload.is_some_and(|p| p.len() as u64 != len)
            || self
                .regions
                .check_remote(w.reth.rkey, w.reth.va, len)
                .is_err()
        {
            match self.regions.check_remote(w.reth.rkey, w.reth.va, len) {
                Err(crate::AccessError::BadKey) => self.stats.rejected_bad_key += 1,
                _ => self.stats.rejected_out_of_bounds += 1,
            }
            self.push_ctrl(Ctrl::Nak(self.epsn, NAK_ACCESS_SYNDROME));
            return;
        }
        let _ = self.regions.place(w.reth.rkey, w.reth.va, len, pkt.payload);
        self.stats.data_received += 1;
        self.stats.bytes_placed += len;
        let this = Held {
            imm: w.imm.map(|imm| Event::RecvImm {
                imm,
                len: w.reth.dma_len,
                msn: w.meth.msn,
            }),
            ack_now: b.ack_req || b.opcode.ends_message(),
        };
        if d > 0 {
            // Placed past a gap: its completion waits for the gap (selective repeat).
            let d = d as usize;
            if self.held.len() <= d {
                self.held.resize(d + 1, None);
            }
            self.held[d] = Some(this);
            self.nak_gap();
            return;
        }
        // In order: this packet, then every held one it uncovers.
        self.held.pop_front();
        let mut ack_now = self.complete_in_order(this);
        while let Some(Some(h)) = self.held.front().copied() {
            self.held.pop_front();
            ack_now |= self.complete_in_order(h);
        }
        if self.unacked >= self.cfg.ack_every || ack_now {
            self.unacked = 0;
            self.ack_at = None;
            self.push_ctrl(Ctrl::Ack(self.epsn.sub(1)));
        } else if self.ack_at.is_none() {
            self.ack_at = Some(now + Duration::from_micros(2));
        }
        if !self.held.is_empty() {
            // Packets past the next gap are already here: ask for the gap at once.
            self.nak_gap();
        }
    }

    /// The expected PSN arrived (or was held): advance, deliver its immediate; whether it asks
    /// for an ACK now.
    fn complete_in_order(&mut self, h: Held) -> bool {
        self.epsn = self.epsn.add(1);
        self.nak_sent = false;
        if let Some(ev) = h.imm {
            self.stats.imm_completions += 1;
            self.events.push_back(ev);
        }
        self.unacked += 1;
        h.ack_now
    }

    /// A gap at `epsn`: one NAK (PSN sequence error) until it fills.
    fn nak_gap(&mut self) {
        if !self.nak_sent {
            self.nak_sent = true;
            self.stats.nacks_sent += 1;
            self.push_ctrl(Ctrl::Nak(self.epsn, NAK_SEQ_SYNDROME));
        }
    }
}

impl Transport for Connection {
    fn handle_packet(&mut self, now: Instant, pkt: &Received<'_>) {
        if pkt.repr.bth.dest_qp != self.cfg.qpn {
            self.stats.rejected_wrong_qp += 1;
            return;
        }
        if self.state != QpState::Rts {
            self.stats.rejected_not_ready += 1;
            return;
        }
        match &pkt.repr.body {
            Body::Write(w) => self.on_write(now, pkt, w),
            Body::Ack(a) => match a.syndrome {
                CNP_SYNDROME => self.on_cnp(now),
                NAK_SEQ_SYNDROME => {
                    // Go-back-N from the expected PSN.
                    let p = pkt.repr.bth.psn;
                    let in_range =
                        p.distance_from(self.snd_una) <= self.snd_max.distance_from(self.snd_una);
                    if !in_range {
                        self.stats.stale_nacks += 1;
                        return;
                    }
                    self.stats.nacks_resource += 1;
                    self.on_ack(now, p.sub(1));
                    match self.cfg.recovery {
                        Recovery::GoBackN => {
                            self.snd_nxt = p;
                            self.cur = self.wr_index(p);
                        }
                        Recovery::Selective => {
                            if p.precedes(self.snd_nxt) && !self.resend.contains(&p) {
                                self.resend.push_back(p);
                            }
                        }
                    }
                }
                NAK_ACCESS_SYNDROME => {
                    self.stats.nacks_fatal += 1;
                    self.enter_error(QpErrorReason::RemoteAccess, WcStatus::RemoteAccessError);
                }
                s if s >> 5 == 0 => {
                    self.stats.sacks_received += 1;
                    self.on_ack(now, pkt.repr.bth.psn);
                }
                _ => self.stats.stale_nacks += 1,
            },
            _ => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        if self.state != QpState::Rts {
            return;
        }
        if self.ack_at.is_some_and(|t| t <= now) {
            self.ack_at = None;
            self.unacked = 0;
            self.push_ctrl(Ctrl::Ack(self.epsn.sub(1)));
        }
        if self.ack_deadline.is_some_and(|t| t <= now) {
            self.stats.qp_timeouts += 1;
            self.retries += 1;
            tracing::debug!(
                qpn = self.cfg.qpn,
                retries = self.retries,
                "RoCE retransmission timeout"
            );
            if self.retries > u32::from(self.cfg.retry_cnt) {
                self.enter_error(QpErrorReason::RetryExceeded, WcStatus::RetryExceeded);
                return;
            }
            self.stats.losses_timeout += 1;
            self.resend.clear();
            self.snd_nxt = self.snd_una;
            self.cur = self.wr_index(self.snd_una);
            self.ack_deadline = Some(now + self.cfg.ack_timeout());
        }
        self.rp.on_timers(now);
    }

    fn poll_transmit(&mut self, now: Instant, ready: PortMask) -> Option<Transmit> {
        self.last_now = self.last_now.max(now);
        if self.state != QpState::Rts || !ready.contains(self.cfg.port) {
            return None;
        }
        if let Some(c) = self.ctrl.pop_front() {
            let (syn, psn) = match c {
                Ctrl::Ack(p) => {
                    self.stats.sacks_sent += 1;
                    (ACK_SYNDROME, p)
                }
                Ctrl::Nak(p, s) => (s, p),
                Ctrl::Cnp => (CNP_SYNDROME, self.epsn),
            };
            self.stats.control_sent += 1;
            return Some(Transmit {
                repr: mrc::Repr {
                    bth: bth::Repr::new(Opcode::Ack, self.cfg.remote_qpn, psn),
                    body: Body::Ack(aeth::Repr {
                        syndrome: syn,
                        msn: 0,
                    }),
                },
                ev: self.cfg.ev,
                port: self.cfg.port,
                class: TrafficClass::Control,
                payload: None,
            });
        }
        self.next_data(now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let mut t = [self.ack_at, self.ack_deadline].into_iter().flatten().min();
        let mut add = |x: Instant| t = Some(t.map_or(x, |y| y.min(x)));
        if let Some(at) = self.rp.next_timer() {
            add(at);
        }
        let has_data = !self.resend.is_empty()
            || (self.cur < self.sq.len()
                && self.snd_nxt.distance_from(self.snd_una) < self.cfg.max_inflight);
        if has_data && self.next_tx > self.last_now {
            add(self.next_tx);
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
        if self.sq.len() >= self.cfg.max_send_wr as usize {
            return Err(PostError::QueueFull);
        }
        let npkts = wr.len.div_ceil(self.cfg.mtu.max(1)).max(1);
        let first_psn = match self.sq.back() {
            Some(w) => w.first_psn.add(w.npkts),
            None => self.snd_max,
        };
        let msn = self.next_msn;
        self.next_msn = self.next_msn.wrapping_add(1);
        self.sq.push_back(PendingWr {
            wr,
            msn,
            first_psn,
            npkts,
        });
        Ok(())
    }

    fn handle_port_status(&mut self, _now: Instant, _port: u8, _up: bool) {
        // A RoCE QP is bound to its port: nothing to remap (the path simply stays dead).
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
        self.sq.len()
    }
}
