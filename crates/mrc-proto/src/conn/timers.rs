//! The QP's timers: one deadline per [`Timer`], the retransmission timeouts (QP and
//! per-packet) and their expiry.

use super::Connection;
use super::loss::LossCause;
use super::requester::next_set;
use crate::QpErrorReason;
use crate::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    QpRto = 0,
    PktRto = 1,
    SackCoalesce = 2,
    PortStatus = 3,
    RtxDelay = 4,
    /// A probe is due but the QP has not earned it yet ([`crate::ProbePolicy::data_per_probe`]).
    ProbeBudget = 5,
    /// A window below one packet paces data ([`CongestionControl::pacing_gap`]).
    Pace = 6,
}
pub(super) const N_TIMERS: usize = 7;

impl Connection {
    pub(super) fn ack_timeout(&self) -> Duration {
        self.attr.ack_timeout()
    }

    /// QP timer wait before timeout number `n` (0-based): T for the first and the linear
    /// retries, then T·2^k, capped at 2^24 · 1.024 µs.
    pub(super) fn qp_backoff(&self, n: u32) -> Duration {
        let t = self.ack_timeout();
        let lin = u32::from(self.attr.retry.linear_cnt);
        let cap = Duration::from_nanos(1_024u64 << 24);
        if n <= lin {
            t
        } else {
            t.saturating_mul(1u64 << (n - lin).min(24)).min(cap.max(t))
        }
    }

    /// Per-packet timer: clamp(3 × SRTT, 2 × base RTT, QP timeout). The floor uses the
    /// configured base RTT (a property of the network), never a smaller observed sample.
    pub(super) fn pkt_rto(&self) -> Duration {
        let base = self.cfg.base_rtt;
        let s = self.req.srtt.unwrap_or(base).saturating_mul(3);
        s.max(base.saturating_mul(2)).min(self.ack_timeout())
    }

    pub(super) fn arm(&mut self, t: Timer, at: Instant) {
        if let Some(slot) = self.timers.get_mut(t as usize) {
            *slot = Some(at);
        }
    }

    pub(super) fn disarm(&mut self, t: Timer) {
        if let Some(slot) = self.timers.get_mut(t as usize) {
            *slot = None;
        }
    }

    pub(super) fn timer(&self, t: Timer) -> Option<Instant> {
        self.timers.get(t as usize).copied().flatten()
    }

    pub(super) fn on_qp_timeout(&mut self, now: Instant) {
        self.stats.qp_timeouts += 1;
        self.req.qp_retries += 1;
        tracing::debug!(
            qpn = self.cfg.qpn,
            retries = self.req.qp_retries,
            "QP retransmission timeout"
        );
        let lin = u32::from(self.attr.retry.linear_cnt);
        let exp = u32::from(self.attr.retry.exp_cnt);
        if exp < 25 && self.req.qp_retries > lin + exp {
            self.enter_error(Some(QpErrorReason::RetryExceeded));
            return;
        }
        self.mark_lost_where(now, |_| true);
        let at = now + self.qp_backoff(self.req.qp_retries);
        self.arm(Timer::QpRto, at);
    }

    pub(super) fn on_pkt_timeout(&mut self, now: Instant) {
        let count = self.outstanding_psns();
        let mut off = 0;
        let mut next: Option<Instant> = None;
        while off < self.outstanding_psns().min(count) {
            let Some((k, p)) = next_set(&self.req.inflight, self.req.snd_una, off, count) else {
                break;
            };
            let dl = self
                .req
                .recs
                .get(self.idx(p))
                .map_or(Instant::MAX, |r| r.deadline);
            if dl <= now {
                self.declare_lost(now, p, LossCause::Timeout);
            } else {
                next = Some(next.map_or(dl, |n| n.min(dl)));
            }
            off = k + 1;
        }
        self.judge_suspects(now);
        for x in &self.req.suspects {
            next = Some(next.map_or(x.deadline, |n| n.min(x.deadline)));
        }
        match next {
            Some(t) => self.arm(Timer::PktRto, t),
            None => self.disarm(Timer::PktRto),
        }
    }

    /// Acts on every timer that is due at `now` (the QP is not in ERROR).
    pub(super) fn expire_timers(&mut self, now: Instant) {
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.timer(Timer::SackCoalesce)) {
            self.disarm(Timer::SackCoalesce);
            if let Some(t) = self.rsp.sack_pending.take() {
                self.sack_now(t);
            }
        }
        if due(self.timer(Timer::PktRto)) {
            self.on_pkt_timeout(now);
        }
        if due(self.timer(Timer::QpRto)) {
            self.on_qp_timeout(now);
        }
        self.arm_if_stalled(now);
        if due(self.timer(Timer::PortStatus)) {
            self.disarm(Timer::PortStatus);
        }
        if due(self.timer(Timer::RtxDelay)) {
            self.disarm(Timer::RtxDelay);
        }
        if due(self.timer(Timer::ProbeBudget)) {
            self.disarm(Timer::ProbeBudget);
        }
        if due(self.timer(Timer::Pace)) {
            self.disarm(Timer::Pace);
        }
        if self.ev.next_probe_time().is_some_and(|t| t <= now) {
            self.ev.probe_timeouts(now);
        }
    }
}
