//! Feedback at the requester: SACKs (cumulative and selective acks, RTT samples, ECN
//! echoes, probe answers, the congestion controller's ack) and NACKs (trims, resource
//! shortages, fatal errors), and the work completions they release (`docs/protocol.md`).

use mrc_wire::Psn;
use mrc_wire::mrc::{NackReason, PathMark, cc_state, neth, seth};

use super::Connection;
use super::requester::PendingWr;
use super::timers::Timer;
use crate::cc::AckSample;
use crate::config::QpState;
use crate::time::{Duration, Instant};
use crate::{Event, QpErrorReason, WcStatus};

impl Connection {
    pub(super) fn ack_one(&mut self, now: Instant, p: Psn) -> u64 {
        let i = self.idx(p);
        let Some(r) = self.req.recs.get(i).copied() else {
            return 0;
        };
        if self.req.inflight.get(p.value()) {
            if r.tx_count >= 2 && !r.trimmed && now.saturating_since(r.sent_at) < self.req.min_rtt {
                // Acked sooner than any round trip after the retransmission: the original
                // arrived, the loss was reordering. Widen the out-of-order threshold (RACK).
                self.stats.spurious_retransmits += 1;
                self.req.reo_mult = (self.req.reo_mult * 2).min(16);
                self.req.last_spurious = now;
                self.clear_suspects(p);
            }
            if r.suspected {
                // The suspected transmission itself was acknowledged: late, not lost.
                for x in self.req.suspects.iter_mut() {
                    if x.psn == p && x.tx_seq == r.tx_seq {
                        x.cleared = true;
                    }
                }
            }
            if !self.req.suspects.is_empty() {
                self.suspect_evidence(&r);
            }
            self.req.inflight.clear(p.value());
            self.req.inflight_bytes = self.req.inflight_bytes.saturating_sub(u64::from(r.len));
            self.req.high_acked_tx_seq = self.req.high_acked_tx_seq.max(r.tx_seq);
            self.req.acked_pkts += 1;
            self.ev.delivered(r.ev);
            u64::from(r.len)
        } else if self.req.rtx.get(p.value()) {
            // Acked before its retransmission left: the suspected copy arrived.
            self.clear_suspects(p);
            self.req.rtx.clear(p.value());
            self.req.rtx_count = self.req.rtx_count.saturating_sub(1);
            u64::from(r.len)
        } else {
            0
        }
    }

    pub(super) fn on_sack(&mut self, now: Instant, s: &seth::Repr, cc: &cc_state::Repr) {
        if self.state != QpState::Rts {
            return;
        }
        self.stats.sacks_received += 1;
        let outstanding = self.outstanding_psns();
        let adv = s.cack_psn.add(1).diff(self.req.snd_una);
        if adv > outstanding as i32 {
            self.stats.forged_acks += 1;
            return;
        }
        // RTT sample (Karn: first transmissions only, and only from the EV that carried it).
        let ack = s.ack_psn();
        let mut rtt = None;
        if self.in_send_window(ack) && self.req.inflight.get(ack.value()) {
            let r = self
                .req
                .recs
                .get(self.idx(ack))
                .copied()
                .unwrap_or_default();
            if r.tx_count == 1 && r.ev == s.entropy && r.psn == ack {
                rtt = Some(now.saturating_since(r.sent_at));
            }
        }
        if s.pr {
            if let Some((plane, state, was_exhausted)) =
                self.ev
                    .probe_response(s.entropy, s.mark == PathMark::SkipOnce, now)
            {
                self.stats.ev_resurrected += 1;
                tracing::debug!(qpn = self.cfg.qpn, ev = s.entropy, plane, "EV resurrected");
                self.events.push_back(Event::EvState {
                    ev: s.entropy,
                    plane,
                    state,
                });
                if was_exhausted {
                    self.events.push_back(Event::PlaneUnmasked { plane });
                }
            }
        } else {
            match s.mark {
                PathMark::SkipOnce => {
                    self.stats.ecn_echoes += 1;
                    if let Some(t) = self
                        .ev
                        .plane_of(s.entropy)
                        .and_then(|p| self.req.plane_ecn_at.get_mut(usize::from(p)))
                    {
                        *t = now;
                    }
                    self.req.queue_at = Some(self.req.acked_pkts);
                    if self.ev.skip(s.entropy) {
                        self.stats.ev_skipped += 1;
                    }
                }
                PathMark::AlwaysSkip => {
                    let masked = self
                        .ev
                        .plane_of(s.entropy)
                        .is_some_and(|p| self.masked_planes() & (1 << p) != 0);
                    if !masked {
                        self.retire_ev(now, s.entropy);
                    }
                }
                PathMark::None => {}
                PathMark::Other(_) => self.stats.unknown_received += 1,
            }
        }
        self.ev.delivered(s.entropy);
        if !s.pr && !self.req.suspects.is_empty() {
            // The trigger of a SACK arrived on the echoed EV: a suspected copy of that PSN on
            // that EV was late, not lost (gap-filling and duplicate arrivals are SACKed at once).
            for x in self.req.suspects.iter_mut() {
                if x.psn == ack && x.ev == s.entropy {
                    x.cleared = true;
                }
            }
        }
        let mut newly = 0u64;
        if adv > 0 {
            for _ in 0..adv {
                newly += self.ack_one(now, self.req.snd_una);
                self.req.snd_una = self.req.snd_una.add(1);
            }
        }
        let base = s.bitmap_base();
        let mut bits = s.sack_bitmap;
        while bits != 0 {
            let i = bits.trailing_zeros();
            bits &= bits - 1;
            let p = base.add(i);
            if self.in_send_window(p) {
                newly += self.ack_one(now, p);
            } else if p.distance_from(self.req.snd_una) < (1 << 23) {
                // A bit at or beyond snd_nxt: never sent.
                self.stats.forged_acks += 1;
                break;
            }
        }
        if s.mpr > 0 {
            self.req.peer_mpr = Some(s.mpr);
        }
        if let Some(r) = rtt {
            self.req.min_rtt = self.req.min_rtt.min(r);
            self.req.rtt_hi = if r >= self.req.rtt_hi {
                r
            } else {
                let (hi, r) = (self.req.rtt_hi.as_nanos(), r.as_nanos());
                Duration::from_nanos(hi - (hi - r) / 64)
            };
            self.req.srtt = Some(match self.req.srtt {
                None => r,
                Some(sr) => Duration::from_nanos((sr.as_nanos() * 7 + r.as_nanos()) / 8),
            });
        }
        if newly > 0 {
            self.req.qp_retries = 0;
            if self.outstanding_psns() > 0 {
                let at = now + self.qp_backoff(0);
                self.arm(Timer::QpRto, at);
            } else {
                self.disarm(Timer::QpRto);
            }
        }
        self.detect_ooo_loss(now);
        self.judge_suspects(now);
        let sample = AckSample {
            newly_acked: newly,
            rtt,
            ecn: s.mark == PathMark::SkipOnce,
            rcv_cwnd_pen: cc.rcv_cwnd_pen,
            in_flight: self.req.inflight_bytes,
        };
        self.req.cc.on_ack(now, &sample);
        self.repace(now);
        self.complete_wrs();
        if self.outstanding_psns() == 0 {
            match self.req.suspects.iter().map(|x| x.deadline).min() {
                Some(t) => self.arm(Timer::PktRto, t),
                None => self.disarm(Timer::PktRto),
            }
            self.disarm(Timer::QpRto);
        }
    }

    pub(super) fn on_nack(&mut self, now: Instant, n: &neth::Repr) {
        if self.state != QpState::Rts {
            return;
        }
        let p = n.nack_psn;
        if matches!(n.reason, NackReason::Trimmed | NackReason::TrimmedLastHop) {
            // Even late (the copy was resent already): that copy was trimmed, not lost.
            for x in self.req.suspects.iter_mut() {
                if x.psn == p && x.ev == n.entropy {
                    x.cleared = true;
                }
            }
        }
        if !self.in_send_window(p) || !self.req.inflight.get(p.value()) {
            self.stats.stale_nacks += 1;
            return;
        }
        let r = self.req.recs.get(self.idx(p)).copied().unwrap_or_default();
        if r.ev != n.entropy {
            self.stats.stale_nacks += 1;
            return;
        }
        match n.reason {
            NackReason::Trimmed | NackReason::TrimmedLastHop => {
                let last_hop = n.reason == NackReason::TrimmedLastHop;
                // The header crossed the path: it is alive, and the QP meets full queues.
                self.ev.delivered(n.entropy);
                self.req.trim_at = Some(self.req.acked_pkts);
                self.req.queue_at = Some(self.req.acked_pkts);
                if last_hop {
                    self.stats.nacks_trimmed_last_hop += 1;
                    // The receiver's lane on this plane is full, and QPs that sent to it in
                    // step (an incast's floor windows) would all move to the next plane in
                    // step: restart the rotation at a random plane (crate docs).
                    self.req.plane_rr =
                        self.req.plane_rng.below(u64::from(self.planes.max(1))) as u8;
                } else {
                    self.stats.nacks_trimmed += 1;
                    if self.ev.skip(n.entropy) {
                        self.stats.ev_skipped += 1;
                    }
                }
                let i = self.idx(p);
                if let Some(rec) = self.req.recs.get_mut(i) {
                    rec.trimmed = true;
                }
                let bytes = self.mark_lost_quiet(p, now);
                self.req
                    .cc
                    .on_trim(now, bytes, last_hop, self.req.inflight_bytes);
            }
            NackReason::NoBitmap
            | NackReason::NoPktBuffer
            | NackReason::NoResource
            | NackReason::PsnOorWindow => {
                self.stats.nacks_resource += 1;
                let at = now + self.req.min_rtt;
                self.mark_lost_quiet(p, at);
                if self.timer(Timer::RtxDelay).is_none_or(|t| t > at) {
                    self.arm(Timer::RtxDelay, at);
                }
            }
            NackReason::UnexpEvent => {
                self.stats.nacks_fatal += 1;
                self.fail_psn(p, WcStatus::RemoteAccessError, QpErrorReason::RemoteAccess);
            }
            NackReason::WimmLimit => {
                self.stats.nacks_fatal += 1;
                self.fail_psn(p, WcStatus::WimmLimit, QpErrorReason::WimmLimitPeer);
            }
            NackReason::Other(code) => {
                self.stats.unknown_received += 1;
                self.stats.nacks_fatal += 1;
                let reason = QpErrorReason::UnknownNack(code);
                self.fail_psn(p, WcStatus::RemoteOperationError, reason);
            }
        }
    }

    /// A fatal NACK for PSN `p`: WRs completed by the cumulative ack complete normally; the WR
    /// holding `p` completes with `status`; every other outstanding WR is flushed (RC
    /// semantics: after an error nothing else is reported as done).
    pub(super) fn fail_psn(&mut self, p: Psn, status: WcStatus, reason: QpErrorReason) {
        self.complete_wrs();
        let holds = |w: &PendingWr| !w.segmented || !w.last_psn.precedes(p);
        let failing = self.req.sq.iter().position(holds).unwrap_or(0);
        let mut k = 0;
        while let Some(w) = self.req.sq.pop_front() {
            self.stats.completions += 1;
            self.events.push_back(Event::SendComplete {
                wr_id: w.wr.wr_id,
                status: if k == failing {
                    status
                } else {
                    WcStatus::Flushed
                },
            });
            k += 1;
        }
        self.req.seg_idx = 0;
        self.enter_error(Some(reason));
    }

    pub(super) fn complete_wrs(&mut self) {
        while let Some(f) = self.req.sq.front() {
            if !(f.segmented && f.last_psn.precedes(self.req.snd_una)) {
                break;
            }
            let imm = f.wr.imm.is_some();
            let wr_id = f.wr.wr_id;
            self.req.sq.pop_front();
            self.req.seg_idx = self.req.seg_idx.saturating_sub(1);
            if imm {
                self.req.wimm_inflight = self.req.wimm_inflight.saturating_sub(1);
            }
            self.stats.completions += 1;
            self.events.push_back(Event::SendComplete {
                wr_id,
                status: WcStatus::Success,
            });
        }
    }
}
