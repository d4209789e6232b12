//! Loss detection and path judgement: which transmissions are lost (out of order, timed
//! out), which are only late, and when a loss counts against its EV (`docs/protocol.md`).

use mrc_wire::Psn;

use super::Connection;
use super::requester::{SendRecord, next_set};
use super::timers::Timer;
use crate::Event;
use crate::ev::{EvState, LossOutcome};
use crate::time::{Duration, Instant};

/// Bound of suspected (overdue, not yet judged) transmissions; beyond it a new out-of-order
/// loss counts against its EV at once (the behaviour without the late/lost distinction).
const SUSPECT_CAP: usize = 256;
/// A transmission becomes a suspect (its path is judged; nothing is resent) at this fraction
/// of the out-of-order loss threshold: a black-holed path shows two overdue packets well
/// before the full SLEEK threshold calls either lost, while reordering across paths of
/// different queue depths stays below the full threshold and costs no retransmission.
const SUSPECT_FRACTION: f64 = 1.0 / 3.0;
/// Unexplained losses in a row, with no delivery proven on the EV in between, that retire an
/// EV of a QP that met full queues (trims: they drop trimmed headers when the control queue
/// overflows) or deep ones (ECN: they delay a packet past any timer now and then). Such
/// queues cost a live path a packet here and there; a dead path loses everything sent on it.
/// Uncongested QPs keep the paper's rule: the first loss retires.
const TRIMMED_STRIKES: u8 = 3;
const MARKED_STRIKES: u8 = 2;
/// A congestion signal (trim NACK, ECN echo) keeps the QP "congested" for this many of its
/// next acknowledged packets. Counted in packets, not time: a QP that gets 1/1000 of an
/// incast's bottleneck sends a packet every few hundred RTTs.
pub(super) const CONGESTION_MEMORY: u64 = 64;

/// A transmission declared lost by the out-of-order rule and already retransmitted, whose EV
/// is not judged yet: it may only be late (queued on a congested path). See [`Connection`]'s
/// "late or lost" rule in the crate docs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Suspect {
    pub(super) psn: Psn,
    pub(super) ev: u32,
    pub(super) plane: u8,
    pub(super) sent_at: Instant,
    /// The suspected copy was itself a retransmission (higher-priority class).
    pub(super) rtx: bool,
    /// Retire the EV if nothing cleared it by then (the per-packet timer of that copy).
    pub(super) deadline: Instant,
    /// Transmit sequence number of the suspected copy.
    pub(super) tx_seq: u64,
    /// Proven late, not lost: the copy arrived.
    pub(super) cleared: bool,
    /// Proven lost: a later packet of the same class or lower priority on the same EV arrived
    /// while this PSN was still unacknowledged (one path, FIFO).
    pub(super) overtaken: bool,
}

/// What says a transmission was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Evidence {
    /// A later transmission on the same EV arrived first (one path is FIFO): dropped.
    Overtaken,
    /// Nothing came back in time (timer, or a second overdue packet on the EV): dropped or
    /// late.
    Silence,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LossCause {
    Ooo,
    Timeout,
}

impl Connection {
    pub(super) fn detect_ooo_loss(&mut self, now: Instant) {
        let mtu = u64::from(self.cfg.mtu.max(1));
        let scaled = self.req.cc.window() as f64 * 1.5 * self.cfg.sleek_scale.clamp(0.0, 1.0);
        let srtt = self.req.srtt.unwrap_or(self.cfg.base_rtt);
        if self.req.reo_mult > 1
            && now.saturating_since(self.req.last_spurious) > srtt.saturating_mul(16)
        {
            self.req.reo_mult /= 2;
            self.req.last_spurious = now;
        }
        let thr = (scaled as u64 / mtu).max(5) * self.req.reo_mult;
        let thr_suspect = ((scaled * SUSPECT_FRACTION) as u64 / mtu).max(5) * self.req.reo_mult;
        let count = self.outstanding_psns();
        let mut off = 0;
        while off < count {
            let Some((k, p)) = next_set(&self.req.inflight, self.req.snd_una, off, count) else {
                break;
            };
            let r = self.req.recs.get(self.idx(p)).copied().unwrap_or_default();
            if r.tx_seq + thr < self.req.high_acked_tx_seq {
                self.declare_lost(now, p, LossCause::Ooo);
            } else if r.tx_seq + thr_suspect < self.req.high_acked_tx_seq {
                if !r.suspected && self.masked_planes() & (1 << r.plane) == 0 {
                    self.suspect(&r);
                }
            } else if r.tx_count <= 1 {
                break;
            }
            off = k + 1;
        }
    }

    /// Holds transmission `r` as a suspect: its EV is judged once it proves late or lost.
    pub(super) fn suspect(&mut self, r: &SendRecord) {
        if self.req.suspects.len() >= SUSPECT_CAP {
            return;
        }
        self.req.suspects.push_back(Suspect {
            psn: r.psn,
            ev: r.ev,
            plane: r.plane,
            sent_at: r.sent_at,
            rtx: r.tx_count >= 2,
            deadline: r.deadline,
            tx_seq: r.tx_seq,
            cleared: false,
            overtaken: false,
        });
        let i = self.idx(r.psn);
        if let Some(rec) = self.req.recs.get_mut(i) {
            rec.suspected = true;
        }
        if self.timer(Timer::PktRto).is_none_or(|t| t > r.deadline) {
            self.arm(Timer::PktRto, r.deadline);
        }
    }

    /// Moves an in-flight PSN to the retransmit set without any EV or CC effect.
    pub(super) fn mark_lost_quiet(&mut self, p: Psn, not_before: Instant) -> u64 {
        if !self.req.inflight.get(p.value()) {
            return 0;
        }
        let i = self.idx(p);
        let len = self.req.recs.get(i).map_or(0, |r| r.len);
        if let Some(r) = self.req.recs.get_mut(i) {
            r.not_before = not_before;
        }
        self.req.inflight.clear(p.value());
        self.req.inflight_bytes = self.req.inflight_bytes.saturating_sub(u64::from(len));
        self.req.rtx.set(p.value());
        self.req.rtx_count += 1;
        u64::from(len)
    }

    pub(super) fn declare_lost(&mut self, now: Instant, p: Psn, cause: LossCause) {
        let r = self.req.recs.get(self.idx(p)).copied().unwrap_or_default();
        let bytes = self.mark_lost_quiet(p, now);
        if bytes == 0 && r.len != 0 {
            return;
        }
        match cause {
            LossCause::Ooo => self.stats.losses_ooo += 1,
            LossCause::Timeout => {
                self.stats.losses_timeout += 1;
                tracing::trace!(
                    qpn = self.cfg.qpn,
                    psn = p.value(),
                    ev = r.ev,
                    "packet timed out"
                );
            }
        }
        self.req.cc.on_loss(now, bytes, self.req.inflight_bytes);
        if self.masked_planes() & (1 << r.plane) != 0 {
            return;
        }
        if cause == LossCause::Ooo && (r.suspected || self.req.suspects.len() < SUSPECT_CAP) {
            // Retransmitted now; the EV is judged once the copy proves late or lost.
            if !r.suspected {
                self.suspect(&r);
            }
        } else {
            let wait = self.sent_recently(now, r.sent_at);
            if wait.is_some() && !r.suspected && self.req.suspects.len() < SUSPECT_CAP {
                self.suspect(&r);
            }
            if let Some(until) = wait {
                // Maybe only late in a deep queue: judge it once the wait is over.
                for x in self.req.suspects.iter_mut() {
                    if x.psn == p && x.tx_seq == r.tx_seq {
                        x.deadline = x.deadline.max(until);
                    }
                }
                self.arm_suspect_timer();
                return;
            }
            if r.suspected {
                // Judged here, not again at the suspect's deadline.
                self.req
                    .suspects
                    .retain(|x| !(x.psn == p && x.tx_seq == r.tx_seq));
            }
            self.unexplained_loss(now, r.ev, Evidence::Silence, r.tx_seq);
        }
    }

    pub(super) fn clear_suspects(&mut self, p: Psn) {
        for x in self.req.suspects.iter_mut() {
            if x.psn == p {
                x.cleared = true;
            }
        }
    }

    /// `r` (a transmission on one EV) was acked: a suspect sent earlier on the same EV, whose
    /// PSN is still unacked, was overtaken on its own path, so it was dropped, not delayed.
    /// A retransmission may overtake data (higher-priority class), so it only counts against
    /// a suspect of the same class.
    pub(super) fn suspect_evidence(&mut self, r: &SendRecord) {
        let later_rtx = r.tx_count >= 2;
        for i in 0..self.req.suspects.len() {
            let Some(x) = self.req.suspects.get(i).copied() else {
                break;
            };
            if x.cleared || x.overtaken || x.ev != r.ev || x.sent_at >= r.sent_at {
                continue;
            }
            if later_rtx && !x.rtx {
                continue;
            }
            let unacked = self.req.inflight.get(x.psn.value()) || self.req.rtx.get(x.psn.value());
            if unacked
                && x.psn != r.psn
                && let Some(y) = self.req.suspects.get_mut(i)
            {
                y.overtaken = true;
            }
        }
    }

    /// Judges the suspects: cleared ones are dropped; an EV is retired when one of its
    /// suspects was overtaken on its own path, when it holds two uncleared suspects, or when a
    /// suspect's per-packet timer passed without a sign that the copy arrived.
    pub(super) fn judge_suspects(&mut self, now: Instant) {
        if self.req.suspects.is_empty() {
            return;
        }
        let mut i = 0;
        while let Some(x) = self.req.suspects.get(i).copied() {
            if x.cleared {
                self.req.suspects.remove(i);
                continue;
            }
            // In a deep queue every packet behind a late one is late too: two overdue packets
            // on one EV only mean a dead path when the QP sees no congestion.
            let twice = !self.recent(self.req.queue_at)
                && self
                    .req
                    .suspects
                    .iter()
                    .skip(i + 1)
                    .any(|y| y.ev == x.ev && !y.cleared);
            // An overtaken packet may have been trimmed, its NACK still on the way back (on
            // another reverse path than the SACK that overtook it): give the NACK time.
            let ripe_at = x.sent_at + self.patience();
            if x.overtaken && now < ripe_at {
                if let Some(y) = self.req.suspects.get_mut(i) {
                    y.deadline = y.deadline.min(ripe_at);
                }
                i += 1;
                continue;
            }
            let mut expired = x.deadline <= now;
            if expired
                && !x.overtaken
                && let Some(until) = self.sent_recently(now, x.sent_at)
            {
                if let Some(y) = self.req.suspects.get_mut(i) {
                    y.deadline = until;
                }
                expired = false;
            }
            if x.overtaken || twice || expired {
                self.req.suspects.remove(i);
                if self.masked_planes() & (1 << x.plane) == 0 {
                    let evidence = if x.overtaken {
                        Evidence::Overtaken
                    } else {
                        Evidence::Silence
                    };
                    self.unexplained_loss(now, x.ev, evidence, x.tx_seq);
                }
                i = 0;
                continue;
            }
            i += 1;
        }
        self.arm_suspect_timer();
    }

    /// How long silence must last before it counts against a path while the QP sees
    /// congestion: twice the largest recent RTT, since a deep queue delays every packet behind
    /// it on that path.
    pub(super) fn patience(&self) -> Duration {
        self.req.rtt_hi.saturating_mul(2).max(self.pkt_rto())
    }

    /// `Some(until)` if a transmission sent at `sent_at` may still only be late at `now`: the
    /// QP sees congestion and [`Connection::patience`] has not passed since.
    pub(super) fn sent_recently(&self, now: Instant, sent_at: Instant) -> Option<Instant> {
        let until = sent_at + self.patience();
        (self.recent(self.req.queue_at) && now < until).then_some(until)
    }

    /// Keeps the per-packet timer armed for the earliest suspect deadline.
    pub(super) fn arm_suspect_timer(&mut self) {
        if let Some(t) = self.req.suspects.iter().map(|x| x.deadline).min()
            && self.timer(Timer::PktRto).is_none_or(|a| a > t)
        {
            self.arm(Timer::PktRto, t);
        }
    }

    /// Whether a congestion signal came within the last [`CONGESTION_MEMORY`] acked packets,
    /// or the QP has not yet acked that many (it cannot know its paths are quiet).
    pub(super) fn recent(&self, at: Option<u64>) -> bool {
        self.req.acked_pkts - at.unwrap_or(0) < CONGESTION_MEMORY
    }

    /// An unexplained loss on `ev` of the transmission numbered `tx_seq`: one strike, enough
    /// to retire it unless congestion could explain it ([`TRIMMED_STRIKES`],
    /// [`MARKED_STRIKES`]). Silence blames the path only if a later transmission (on another path) came back:
    /// when nothing sent since did, the whole QP is waiting (its receiver's link, an incast
    /// burst whose trimmed headers were dropped), and no path is worse than another.
    pub(super) fn unexplained_loss(
        &mut self,
        now: Instant,
        ev: u32,
        evidence: Evidence,
        tx_seq: u64,
    ) {
        if evidence == Evidence::Silence && self.req.high_acked_tx_seq <= tx_seq {
            return;
        }
        let needed = if self.recent(self.req.trim_at) {
            TRIMMED_STRIKES
        } else if self.recent(self.req.queue_at) {
            MARKED_STRIKES
        } else {
            1
        };
        let outcome = self.ev.strike(ev, needed, now);
        self.ev_outcome(now, ev, outcome);
    }

    pub(super) fn retire_ev(&mut self, now: Instant, ev: u32) {
        let outcome = self.ev.loss(ev, now);
        self.ev_outcome(now, ev, outcome);
    }

    pub(super) fn ev_outcome(&mut self, now: Instant, ev: u32, outcome: LossOutcome) {
        if outcome == LossOutcome::Struck {
            self.stats.ev_strikes += 1;
            return;
        }
        self.req.suspects.retain(|x| x.ev != ev);
        match outcome {
            LossOutcome::Retired {
                plane_exhausted, ..
            } => {
                let plane = self.ev.plane_of(ev).unwrap_or(0);
                self.stats.ev_retired += 1;
                tracing::debug!(qpn = self.cfg.qpn, ev, plane, plane_exhausted, "EV retired");
                self.events.push_back(Event::EvState {
                    ev,
                    plane,
                    state: EvState::AssumedBad,
                });
                if plane_exhausted {
                    self.events.push_back(Event::PlaneMasked { plane });
                }
                // The path is presumed failed: everything else in flight on it is lost too.
                self.mark_lost_where(now, |r| r.ev == ev);
            }
            LossOutcome::AtFloor => {
                self.stats.ev_loss_at_floor += 1;
                self.events.push_back(Event::EvLossAtFloor { ev });
            }
            LossOutcome::Ignored | LossOutcome::Struck => {}
        }
    }

    pub(super) fn mark_lost_where(&mut self, now: Instant, f: impl Fn(&SendRecord) -> bool) {
        let count = self.outstanding_psns();
        let mut off = 0;
        while off < count {
            let Some((k, p)) = next_set(&self.req.inflight, self.req.snd_una, off, count) else {
                break;
            };
            if self.req.recs.get(self.idx(p)).is_some_and(&f) {
                self.mark_lost_quiet(p, now);
            }
            off = k + 1;
        }
    }

    pub(super) fn set_planes_lost(&mut self, now: Instant, lost_planes: u32) {
        if lost_planes != 0 {
            self.mark_lost_where(now, |r| lost_planes & (1 << r.plane) != 0);
        }
    }
}
