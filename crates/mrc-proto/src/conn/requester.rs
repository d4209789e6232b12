//! Send side: work requests cut into packets, the send ring, the window and pacing, and the
//! choice of plane and EV for each packet (`docs/protocol.md`).

use std::collections::VecDeque;

use mrc_wire::Psn;
use mrc_wire::mrc::{self, Body, Opcode, Write, bth, meth, reth};

use super::Connection;
use super::loss::Suspect;
use super::timers::Timer;
use crate::bits::RingBits;
use crate::cc::CongestionControl;
use crate::config::{ConnectionConfig, QpState, qp_cap};
use crate::rng::Rng;
use crate::time::{Duration, Instant};
use crate::{PayloadRef, TrafficClass, Transmit, WriteRequest};

/// PSNs the send ring holds at first (it grows by doubling up to the MPR window).
const INITIAL_SEND_RING: u32 = 64;
/// A plane counts as congested for this many base RTTs after an ECN echo for a packet sent
/// on it (see `Connection::degraded_planes`): long enough to span the echoes of one window,
/// short enough that a plane which stopped marking is free again within a few RTTs.
const PLANE_ECN_MEMORY: u64 = 4;

#[derive(Debug, Clone, Copy)]
pub(super) struct PendingWr {
    pub(super) wr: WriteRequest,
    pub(super) msn: u16,
    pub(super) rqmsn: u16,
    pub(super) last_psn: Psn,
    pub(super) next_off: u32,
    pub(super) started: bool,
    pub(super) segmented: bool,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct SendRecord {
    pub(super) psn: Psn,
    pub(super) local_addr: u64,
    pub(super) remote_addr: u64,
    pub(super) rkey: u32,
    pub(super) dma_len: u32,
    pub(super) len: u32,
    pub(super) opcode: Opcode,
    pub(super) msn: u16,
    pub(super) rqmsn: u16,
    pub(super) imm: u32,
    pub(super) ev: u32,
    pub(super) plane: u8,
    pub(super) sent_at: Instant,
    pub(super) deadline: Instant,
    pub(super) not_before: Instant,
    pub(super) tx_seq: u64,
    pub(super) tx_count: u16,
    /// This transmission is held as a suspect (overdue, its path under judgment).
    pub(super) suspected: bool,
    /// A copy was trimmed (a trim NACK came back): that copy never arrived, so a quick ack
    /// after the retransmission is not evidence of reordering.
    pub(super) trimmed: bool,
}

impl Default for SendRecord {
    fn default() -> Self {
        Self {
            psn: Psn::ZERO,
            local_addr: 0,
            remote_addr: 0,
            rkey: 0,
            dma_len: 0,
            len: 0,
            opcode: Opcode::WriteOnly,
            msn: 0,
            rqmsn: 0,
            imm: 0,
            ev: 0,
            plane: 0,
            sent_at: Instant::ZERO,
            deadline: Instant::MAX,
            not_before: Instant::ZERO,
            tx_seq: 0,
            tx_count: 0,
            suspected: false,
            trimmed: false,
        }
    }
}

/// The send side's state.
#[derive(Debug)]
pub(super) struct Requester {
    pub(super) cc: Box<dyn CongestionControl>,
    /// Payload bytes sent per plane since plane health last changed (the EV set's
    /// `health_epoch`, kept alongside): see [`Connection::degraded_planes`].
    pub(super) plane_sent: Vec<u64>,
    /// When an ECN echo last came back for a packet sent on each plane.
    pub(super) plane_ecn_at: Vec<Instant>,
    pub(super) plane_epoch: u32,
    pub(super) plane_rr: u8,
    /// Where the plane rotation restarts after a last-hop trim.
    pub(super) plane_rng: Rng,
    /// No data leaves before this (a window below one packet paces, `Timer::Pace`).
    pub(super) pace_until: Instant,
    /// When the last paced data packet left, and its length.
    pub(super) pace_from: (Instant, u32),
    /// Whether the first pacing gap, drawn at random, has passed (see `send_record`).
    pub(super) pace_phased: bool,
    pub(super) sq: VecDeque<PendingWr>,
    pub(super) seg_idx: usize,
    pub(super) next_msn: u16,
    pub(super) next_rqmsn: u16,
    pub(super) recs: Vec<SendRecord>,
    pub(super) rec_mask: u32,
    /// Largest send ring: the MPR window in PSNs, rounded up to a power of two.
    pub(super) rec_max: u32,
    pub(super) inflight: RingBits,
    pub(super) rtx: RingBits,
    pub(super) rtx_count: u32,
    pub(super) snd_una: Psn,
    pub(super) snd_nxt: Psn,
    pub(super) inflight_bytes: u64,
    pub(super) tx_seq: u64,
    pub(super) high_acked_tx_seq: u64,
    pub(super) wimm_inflight: u16,
    pub(super) srtt: Option<Duration>,
    pub(super) min_rtt: Duration,
    /// Largest recent RTT sample (decays by 1/64 of the gap per smaller sample): how late a
    /// packet on a live path of this QP can be (see [`Connection::patience`]).
    pub(super) rtt_hi: Duration,
    pub(super) qp_retries: u32,
    pub(super) reo_mult: u64,
    pub(super) last_spurious: Instant,
    pub(super) peer_mpr: Option<u8>,
    pub(super) probe_id: u16,
    /// Data packets sent since the last probe (the probe budget).
    pub(super) probe_credit: u32,
    pub(super) last_probe: Instant,
    /// Packets acknowledged so far, and that count at the last trim NACK (a full queue: it
    /// may drop trimmed headers) and at the last congestion signal of any kind (a deep queue:
    /// packets may be late). See [`super::loss::CONGESTION_MEMORY`].
    pub(super) acked_pkts: u64,
    pub(super) trim_at: Option<u64>,
    pub(super) queue_at: Option<u64>,
    pub(super) suspects: VecDeque<Suspect>,
}

impl Requester {
    /// Nothing sent yet: the send ring is allocated by the first write ([`INITIAL_SEND_RING`]).
    pub(super) fn new(
        cfg: &ConnectionConfig,
        cc: Box<dyn CongestionControl>,
        planes: u8,
        psn0: Psn,
    ) -> Self {
        Self {
            cc,
            plane_sent: vec![0; usize::from(planes)],
            plane_ecn_at: vec![Instant::ZERO; usize::from(planes)],
            plane_epoch: 0,
            plane_rr: planes.saturating_sub(1),
            plane_rng: Rng::derive(cfg.seed, u64::from(cfg.qpn)),
            pace_until: Instant::ZERO,
            pace_from: (Instant::ZERO, 0),
            pace_phased: false,
            sq: VecDeque::new(),
            seg_idx: 0,
            next_msn: 0,
            next_rqmsn: 0,
            recs: Vec::new(),
            rec_mask: 0,
            rec_max: 1,
            inflight: RingBits::new(64),
            rtx: RingBits::new(64),
            rtx_count: 0,
            snd_una: psn0,
            snd_nxt: psn0,
            inflight_bytes: 0,
            tx_seq: 0,
            high_acked_tx_seq: 0,
            wimm_inflight: 0,
            srtt: None,
            min_rtt: cfg.base_rtt,
            rtt_hi: cfg.base_rtt,
            qp_retries: 0,
            reo_mult: 1,
            last_spurious: Instant::ZERO,
            peer_mpr: None,
            probe_id: 0,
            probe_credit: 0,
            last_probe: Instant::ZERO,
            acked_pkts: 0,
            trim_at: None,
            queue_at: None,
            // Grown on demand: most QPs never hold a suspect, and a full-capacity ring cost
            // 10 KB per QP (a 131,072-NIC fabric holds 262,144 QPs).
            suspects: VecDeque::new(),
        }
    }

    /// Queues a work request (checked by `post_write`), allocating the send ring on the
    /// first one: responder-only QPs, most of a simulated cluster's, never pay for it.
    pub(super) fn queue(&mut self, wr: WriteRequest) {
        if self.recs.is_empty() {
            let cap = self.rec_max.min(INITIAL_SEND_RING);
            self.rec_mask = cap - 1;
            self.recs = vec![SendRecord::default(); cap as usize];
            self.inflight = RingBits::new(cap);
            self.rtx = RingBits::new(cap);
        }
        let msn = self.next_msn;
        self.next_msn = self.next_msn.wrapping_add(1);
        let rqmsn = self.next_rqmsn;
        if wr.imm.is_some() {
            self.next_rqmsn = self.next_rqmsn.wrapping_add(1);
        }
        self.sq.push_back(PendingWr {
            wr,
            msn,
            rqmsn,
            last_psn: Psn::ZERO,
            next_off: 0,
            started: false,
            segmented: false,
        });
    }
}

impl Connection {
    pub(super) fn idx(&self, p: Psn) -> usize {
        (p.value() & self.req.rec_mask) as usize
    }

    pub(super) fn outstanding_psns(&self) -> u32 {
        self.req.snd_nxt.distance_from(self.req.snd_una)
    }

    pub(super) fn in_send_window(&self, p: Psn) -> bool {
        p.distance_from(self.req.snd_una) < self.outstanding_psns()
    }

    pub(super) fn pick_plane_ev(&mut self, planes: u32, avoid: Option<u32>) -> Option<(u8, u32)> {
        let n = self.planes.max(1);
        for k in 1..=n {
            let p = (self.req.plane_rr + k) % n;
            if planes & (1 << p) == 0 {
                continue;
            }
            if let Some(ev) = self.ev.next(p, avoid) {
                self.req.plane_rr = p;
                return Some((p, ev));
            }
        }
        None
    }

    /// Planes among `ready` that have had their share for now: a plane with EVs out of use
    /// has lost that share of its capacity (a dead T1 takes its paths), so it carries at
    /// most `1 − out/total` of what a healthy plane carries, while a NIC port, which drains
    /// at line rate whatever is behind it, would give it an equal share and congest the rest
    /// of that plane. Healthy planes are never held back; without a healthy plane nothing is.
    ///
    /// Which healthy planes count depends on whether the degraded plane is congested (an ECN
    /// echo for it within [`PLANE_ECN_MEMORY`] base RTTs). If it is, all planes that can
    /// carry: at full load the healthy ports are busy whenever the degraded one is free, and
    /// comparing with the ready ports only would let it take every such gap. If it is not,
    /// its remaining paths have room and only the ready healthy ports are preferred to it,
    /// so a lightly loaded QP never waits for a busy port.
    pub(super) fn degraded_planes(&self, now: Instant, ready: u32) -> u32 {
        let live = self.usable_planes();
        let mean = |planes: u32| {
            let (mut sum, mut n) = (0u64, 0u64);
            for p in 0..self.planes {
                if planes & (1 << p) != 0 && self.ev.plane_health(p).0 == 0 {
                    sum += self
                        .req
                        .plane_sent
                        .get(usize::from(p))
                        .copied()
                        .unwrap_or(0);
                    n += 1;
                }
            }
            (n > 0).then(|| sum as f64 / n as f64)
        };
        let (mean_ready, mean_live) = (mean(ready), mean(live));
        let memory = self.cfg.base_rtt.saturating_mul(PLANE_ECN_MEMORY);
        let slack = f64::from(self.cfg.mtu) * 4.0;
        let mut held = 0;
        for p in 0..self.planes {
            let (out, total) = self.ev.plane_health(p);
            if out == 0 || total == 0 || ready & (1 << p) == 0 {
                continue;
            }
            let congested = self
                .req
                .plane_ecn_at
                .get(usize::from(p))
                .is_some_and(|&t| t > Instant::ZERO && now.saturating_since(t) <= memory);
            let Some(mean) = (if congested { mean_live } else { mean_ready }) else {
                continue;
            };
            let share = 1.0 - f64::from(out) / f64::from(total);
            let sent = self
                .req
                .plane_sent
                .get(usize::from(p))
                .copied()
                .unwrap_or(0) as f64;
            if sent > share * mean + slack {
                held |= 1 << p;
            }
        }
        held
    }

    pub(super) fn next_rtx(&mut self, now: Instant) -> Option<Psn> {
        let count = self.outstanding_psns();
        let mut off = 0;
        let mut wake: Option<Instant> = None;
        while off < count {
            let (k, p) = next_set(&self.req.rtx, self.req.snd_una, off, count)?;
            let nb = self.req.recs.get(self.idx(p)).map_or(now, |r| r.not_before);
            if nb <= now {
                return Some(p);
            }
            wake = Some(wake.map_or(nb, |w| w.min(nb)));
            off = k + 1;
        }
        if let Some(w) = wake {
            self.arm(Timer::RtxDelay, w);
        }
        None
    }

    pub(super) fn data_repr(&self, r: &SendRecord, rtx: bool) -> mrc::Repr {
        let mut b = bth::Repr::new(r.opcode, self.cfg.remote_qpn, r.psn);
        b.retransmit = rtx;
        mrc::Repr {
            bth: b,
            body: Body::Write(Write {
                meth: meth::Repr {
                    rqmsn: r.rqmsn,
                    msn: r.msn,
                },
                tseth: None,
                reth: reth::Repr {
                    va: r.remote_addr,
                    rkey: r.rkey,
                    dma_len: r.dma_len,
                },
                imm: r.opcode.has_immediate().then_some(r.imm),
                payload_len: r.len,
            }),
        }
    }

    pub(super) fn send_record(
        &mut self,
        now: Instant,
        p: Psn,
        plane: u8,
        ev: u32,
        rtx: bool,
    ) -> Transmit {
        self.req.tx_seq += 1;
        let deadline = now + self.pkt_rto();
        let i = self.idx(p);
        let tx_seq = self.req.tx_seq;
        let r = match self.req.recs.get_mut(i) {
            Some(r) => {
                r.ev = ev;
                r.plane = plane;
                r.sent_at = now;
                r.deadline = deadline;
                r.tx_seq = tx_seq;
                r.tx_count = r.tx_count.saturating_add(1);
                r.suspected = false;
                *r
            }
            None => SendRecord::default(),
        };
        if rtx {
            self.req.rtx.clear(p.value());
            self.req.rtx_count = self.req.rtx_count.saturating_sub(1);
            self.stats.data_retransmitted += 1;
        }
        self.req.inflight.set(p.value());
        self.req.inflight_bytes += u64::from(r.len);
        let mut gap = self.req.cc.pacing_gap(u64::from(r.len));
        if gap > Duration::ZERO {
            if !self.req.pace_phased {
                // QPs that start together would stay in step, one burst per gap into the
                // receiver they share; a random first gap spreads them over the period.
                self.req.pace_phased = true;
                let u = self.req.plane_rng.below(1024) + 1;
                gap = Duration::from_nanos(gap.as_nanos() * u / 1024);
            }
            self.req.pace_from = (now, r.len);
            self.req.pace_until = now + gap;
            self.arm(Timer::Pace, self.req.pace_until);
        }
        let cap = u32::from(self.cfg.probe.data_per_probe).saturating_mul(4);
        self.req.probe_credit = (self.req.probe_credit + 1).min(cap);
        if let Some(b) = self.req.plane_sent.get_mut(usize::from(plane)) {
            *b += u64::from(r.len);
        }
        self.stats.data_sent += 1;
        self.stats.bytes_sent += u64::from(r.len);
        if self.timer(Timer::PktRto).is_none_or(|t| t > deadline) {
            self.arm(Timer::PktRto, deadline);
        }
        if self.timer(Timer::QpRto).is_none() {
            let at = now + self.qp_backoff(self.req.qp_retries);
            self.arm(Timer::QpRto, at);
        }
        Transmit {
            repr: self.data_repr(&r, rtx),
            ev,
            port: plane,
            class: if rtx {
                TrafficClass::Retransmit
            } else {
                TrafficClass::Data
            },
            payload: Some(PayloadRef {
                addr: r.local_addr,
                len: r.len,
            }),
        }
    }

    /// Doubles the send ring (up to [`Connection::rec_max`]), keeping the records and bits
    /// of the PSNs in flight. False when it is at its largest already.
    pub(super) fn grow_send_ring(&mut self) -> bool {
        let cap = self.req.rec_mask + 1;
        let new = (cap * 2).min(self.req.rec_max);
        if new <= cap {
            return false;
        }
        let start = self.req.snd_una.value();
        let n = self.outstanding_psns();
        let mut recs = vec![SendRecord::default(); new as usize];
        for k in 0..n {
            let p = self.req.snd_una.add(k);
            if let (Some(r), Some(slot)) = (
                self.req.recs.get(self.idx(p)),
                recs.get_mut((p.value() & (new - 1)) as usize),
            ) {
                *slot = *r;
            }
        }
        self.req.recs = recs;
        self.req.inflight = self.req.inflight.regrown(new, start, n);
        self.req.rtx = self.req.rtx.regrown(new, start, n);
        self.req.rec_mask = new - 1;
        true
    }

    pub(super) fn send_window(&self) -> u32 {
        let own = self.attr.mpr_psns();
        match self.req.peer_mpr {
            Some(m) if self.attr.cap & qp_cap::DYNAMIC_MPR != 0 && m > 0 => {
                own.min(u32::from(m) * 128)
            }
            _ => own,
        }
    }

    /// Planes data may use: up here and at the peer, with an EV left.
    pub(super) fn usable_planes(&self) -> u32 {
        let mut planes = self.plane_bits & self.local_up & self.peer_up;
        for p in 0..self.planes {
            if self.ev.plane_exhausted(p) {
                planes &= !(1 << p);
            }
        }
        planes
    }

    /// With work queued but no usable plane nothing is sent, so nothing would arm the QP timer
    /// and the work request would hang forever: arm it, so the QP either resumes when a plane
    /// comes back or ends in ERROR (`RetryExceeded`) as after any other loss of progress.
    pub(super) fn arm_if_stalled(&mut self, now: Instant) {
        if self.state == QpState::Rts
            && !self.req.sq.is_empty()
            && self.timer(Timer::QpRto).is_none()
            && self.usable_planes() == 0
        {
            self.arm(Timer::QpRto, now + self.qp_backoff(self.req.qp_retries));
        }
    }

    /// A window that grew while paced shortens the wait for the next packet (never lengthens
    /// it: a smaller window paces from the next packet on).
    pub(super) fn repace(&mut self, now: Instant) {
        if self.req.pace_until <= now {
            return;
        }
        let (from, len) = self.req.pace_from;
        let at = (from + self.req.cc.pacing_gap(u64::from(len))).max(now);
        if at < self.req.pace_until {
            self.req.pace_until = at;
            self.arm(Timer::Pace, at);
        }
    }

    pub(super) fn poll_data(&mut self, now: Instant, up: u32) -> Option<Transmit> {
        let mut planes = up & self.usable_planes();
        if self.ev.health_epoch() != self.req.plane_epoch {
            // Shares count from the change: the past was sent under other shares.
            self.req.plane_epoch = self.ev.health_epoch();
            self.req.plane_sent.fill(0);
        }
        if self.ev.any_out() {
            planes &= !self.degraded_planes(now, planes);
        }
        if planes == 0 {
            return None;
        }
        let cwnd = self.req.cc.window();
        let inflight = self.req.inflight_bytes;
        let cwnd_ok = |len: u32| inflight == 0 || inflight + u64::from(len) <= cwnd;
        if self.req.rtx_count > 0
            && let Some(p) = self.next_rtx(now)
        {
            let r = self.req.recs.get(self.idx(p)).copied().unwrap_or_default();
            if !cwnd_ok(r.len) || now < self.req.pace_until {
                return None;
            }
            let (plane, ev) = self.pick_plane_ev(planes, Some(r.ev))?;
            return Some(self.send_record(now, p, plane, ev, true));
        }
        // New data.
        if self.outstanding_psns() >= self.send_window() {
            return None;
        }
        if self.outstanding_psns() > self.req.rec_mask && !self.grow_send_ring() {
            return None;
        }
        let mtu = self.cfg.mtu.max(1);
        let max_wimm = self.attr.max_wimm;
        let wimm_inflight = self.req.wimm_inflight;
        let wr = *self.req.sq.get(self.req.seg_idx)?;
        if !wr.started && wr.wr.imm.is_some() && wimm_inflight >= max_wimm {
            return None;
        }
        let len = (wr.wr.len - wr.next_off).min(mtu);
        if !cwnd_ok(len) || now < self.req.pace_until {
            return None;
        }
        let (plane, ev) = self.pick_plane_ev(planes, None)?;
        let first = wr.next_off == 0;
        let last = wr.next_off + len >= wr.wr.len;
        let imm = wr.wr.imm.is_some();
        let opcode = match (first, last, imm) {
            (true, true, false) => Opcode::WriteOnly,
            (true, true, true) => Opcode::WriteOnlyImm,
            (true, false, _) => Opcode::WriteFirst,
            (false, false, _) => Opcode::WriteMiddle,
            (false, true, false) => Opcode::WriteLast,
            (false, true, true) => Opcode::WriteLastImm,
        };
        let p = self.req.snd_nxt;
        let rec = SendRecord {
            psn: p,
            local_addr: wr.wr.local_addr + u64::from(wr.next_off),
            remote_addr: wr.wr.remote_addr + u64::from(wr.next_off),
            rkey: wr.wr.rkey,
            dma_len: wr.wr.len,
            len,
            opcode,
            msn: wr.msn,
            rqmsn: wr.rqmsn,
            imm: wr.wr.imm.unwrap_or(0),
            ev,
            plane,
            sent_at: now,
            deadline: Instant::MAX,
            not_before: now,
            tx_seq: 0,
            tx_count: 0,
            suspected: false,
            trimmed: false,
        };
        let i = self.idx(p);
        if let Some(slot) = self.req.recs.get_mut(i) {
            *slot = rec;
        }
        self.req.snd_nxt = p.add(1);
        if let Some(w) = self.req.sq.get_mut(self.req.seg_idx) {
            if !w.started && imm {
                self.req.wimm_inflight += 1;
            }
            w.started = true;
            w.next_off += len;
            if last {
                w.segmented = true;
                w.last_psn = p;
                self.req.seg_idx += 1;
            }
        }
        Some(self.send_record(now, p, plane, ev, false))
    }
}

/// The first PSN marked in `bits` at offset `off` or later from `una`, among the `count`
/// outstanding ones: its offset and PSN (the walk over in-flight or to-resend PSNs).
pub(super) fn next_set(bits: &RingBits, una: Psn, off: u32, count: u32) -> Option<(u32, Psn)> {
    let k = off + bits.find_next(una.add(off).value(), count - off)?;
    Some((k, una.add(k)))
}
