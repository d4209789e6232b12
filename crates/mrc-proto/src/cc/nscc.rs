//! NSCC, the UET 1.0 sender CC as applied to MRC (`docs/protocol.md` §8).
//!
//! //= docs/protocol.md §8.5–§8.7: the per-SACK algorithm, Quick Adapt, trim handling and the
//! responder penalty. Units: bytes and nanoseconds; gains as in §8.3 (α in bytes per µs).

use super::{AckSample, CcFactory, CongestionControl};
use crate::config::QpHint;
use crate::time::{Duration, Instant};

/// NSCC configuration; field names follow `mrc_ctl_cc_nscc_cfg` (§8.8), plus sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct NsccConfig {
    /// Non-zero disables Quick Adapt.
    pub disable_qa: u8,
    /// Bytes acked between window adjustments.
    pub adjust_bytes_threshold: u32,
    /// Time between window adjustments, ns.
    pub adjust_period_threshold: u32,
    /// Base (unloaded network) RTT, ns.
    pub base_rtt: u32,
    /// Additive increase per adjust period, bytes.
    pub eta: f32,
    /// Fair-increase gain, bytes.
    pub fi: f32,
    /// Fast-increase scale.
    pub fi_scale: f32,
    /// Multiplicative-decrease gain.
    pub gamma: f32,
    /// Floor of the multiplicative factor.
    pub max_md_jump: f32,
    /// Largest window, bytes.
    pub max_cwnd: u32,
    /// Quick Adapt gate (shift of `max_cwnd`).
    pub qa_gate: u8,
    /// Quick Adapt delay threshold, ns.
    pub qa_threshold: u32,
    /// Target queueing delay, ns.
    pub target_delay: u32,
    /// Proportional gain α, bytes per µs of delay headroom.
    pub alpha: f32,
    /// Maximum segment size (payload), bytes.
    pub mss: u32,
    /// Smallest window, bytes: one packet, or less with the QP hint (a rate, paced).
    pub min_cwnd: u32,
    /// Initial window, bytes (default = `max_cwnd`).
    pub initial_cwnd: u32,
}

impl NsccConfig {
    /// The UETSIM scaling of §8.3 for a sender of `bps` bits/s and a network RTT `rtt`:
    /// a = BDP / 150 KB, b = target / 12 µs, target = 0.75 RTT with trimming (1.0 without).
    pub fn for_network(bps: u64, rtt: Duration, mss: u32, trimming: bool) -> Self {
        let rtt_ns = rtt.as_nanos().max(1) as f64;
        let bdp = bps as f64 / 8.0 * rtt_ns / 1e9;
        let a = bdp / 150_000.0;
        let target = if trimming { 0.75 } else { 1.0 } * rtt_ns;
        let b = target / 12_000.0;
        let mssf = f64::from(mss);
        let maxwnd = 1.5 * bdp;
        Self {
            disable_qa: 0,
            adjust_bytes_threshold: 8 * mss,
            adjust_period_threshold: rtt_ns as u32,
            base_rtt: rtt_ns as u32,
            eta: (0.15 * mssf * a) as f32,
            fi: (5.0 * mssf * a) as f32,
            fi_scale: (0.25 * a) as f32,
            gamma: 0.8,
            max_md_jump: 0.5,
            max_cwnd: maxwnd as u32,
            qa_gate: 3,
            qa_threshold: (4.0 * target) as u32,
            target_delay: target as u32,
            alpha: (4.0 * mssf * a * b / (target / 1_000.0)) as f32,
            mss,
            min_cwnd: mss,
            initial_cwnd: maxwnd as u32,
        }
    }

    /// This configuration for a QP with hint `h` (crate docs, QP hint). With
    /// `num_remote_recv_peers` = k > 1 the QP's share of its receiver is 1/k: initial window
    /// BDP / k (BDP = max_cwnd / 1.5 under the scaling above) and fair increase / k. Where
    /// BDP / k is below one packet and the QP sends to fewer destinations than k
    /// (`num_send_peers`), the floor is BDP / k too, a rate that the QP paces
    /// ([`CongestionControl::pacing_gap`]): k senders at a one-packet floor would keep k packets
    /// in flight into one receiver, however few it can hold. A QP whose own NIC is shared by k
    /// or more destinations is already held to its share there and keeps the one-packet floor.
    pub fn for_hint(&self, h: &QpHint) -> Self {
        let mut c = self.clone();
        let k = h.num_remote_recv_peers;
        if k > 1 {
            let kf = f64::from(k);
            c.initial_cwnd = ((f64::from(c.max_cwnd) / 1.5 / kf) as u32).max(1);
            c.fi = (f64::from(c.fi) / kf) as f32;
            if h.num_send_peers < k {
                c.min_cwnd = c.min_cwnd.min(c.initial_cwnd);
            }
        }
        c
    }
}

/// NSCC (UET 1.0 sender CC) as applied to MRC (§8.5–§8.7).
#[derive(Debug, Clone)]
pub struct Nscc {
    cfg: NsccConfig,
    cwnd: f64,
    inc: f64,
    base_rtt: u64,
    avg_delay: f64,
    last_delay: u64,
    last_adjust: Instant,
    bytes_since_adjust: u64,
    last_md: Option<Instant>,
    fast_bytes: u64,
    fast: bool,
    qa_epoch: Instant,
    qa_achieved: u64,
    qa_trigger: bool,
    qa_ignore: u64,
    started: bool,
}

impl Nscc {
    /// A controller with this configuration.
    pub fn new(cfg: NsccConfig) -> Self {
        let cwnd = f64::from(
            cfg.initial_cwnd
                .clamp(cfg.min_cwnd, cfg.max_cwnd.max(cfg.min_cwnd)),
        );
        Self {
            base_rtt: u64::from(cfg.base_rtt),
            cwnd,
            inc: 0.0,
            avg_delay: 0.0,
            last_delay: 0,
            last_adjust: Instant::ZERO,
            bytes_since_adjust: 0,
            last_md: None,
            fast_bytes: 0,
            fast: false,
            qa_epoch: Instant::ZERO,
            qa_achieved: 0,
            qa_trigger: false,
            qa_ignore: 0,
            started: false,
            cfg,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NsccConfig {
        &self.cfg
    }

    fn clamp(&mut self) {
        let lo = f64::from(self.cfg.min_cwnd);
        let hi = f64::from(self.cfg.max_cwnd).max(lo);
        self.cwnd = self.cwnd.clamp(lo, hi);
    }

    fn start(&mut self, now: Instant) {
        if !self.started {
            self.started = true;
            self.last_adjust = now;
            self.qa_epoch = now;
        }
    }

    /// Quick Adapt (§8.6): once per epoch of base_rtt + target.
    fn quick_adapt(&mut self, now: Instant, in_flight: u64) -> bool {
        if self.cfg.disable_qa != 0 {
            return false;
        }
        let epoch = Duration::from_nanos(self.base_rtt + u64::from(self.cfg.target_delay));
        if now < self.qa_epoch + epoch {
            return false;
        }
        let gate = u64::from(self.cfg.max_cwnd) >> self.cfg.qa_gate;
        let fire = self.qa_trigger && self.qa_achieved < gate;
        if fire {
            self.cwnd = (self.qa_achieved as f64).max(f64::from(self.cfg.min_cwnd));
            self.clamp();
            self.qa_ignore = in_flight;
            self.inc = 0.0;
        }
        self.qa_epoch = now;
        self.qa_achieved = 0;
        self.qa_trigger = false;
        fire
    }

    fn fulfil(&mut self, now: Instant, newly: u64) {
        self.bytes_since_adjust += newly;
        let period = Duration::from_nanos(u64::from(self.cfg.adjust_period_threshold));
        let period_over = now.saturating_since(self.last_adjust) > period;
        if self.bytes_since_adjust > u64::from(self.cfg.adjust_bytes_threshold) || period_over {
            self.cwnd += self.inc / self.cwnd.max(1.0);
            if period_over {
                self.cwnd += f64::from(self.cfg.eta);
            }
            self.inc = 0.0;
            self.bytes_since_adjust = 0;
            self.last_adjust = now;
            self.clamp();
        }
    }
}

impl CongestionControl for Nscc {
    fn on_ack(&mut self, now: Instant, s: &AckSample) {
        self.start(now);
        let target = u64::from(self.cfg.target_delay);
        let delay = match s.rtt {
            Some(rtt) => {
                let r = rtt.as_nanos();
                if r < self.base_rtt {
                    self.base_rtt = r;
                }
                r - self.base_rtt
            }
            None => self.last_delay,
        };
        self.last_delay = delay;
        let input = if !s.ecn && delay > target {
            0.25 * self.base_rtt as f64
        } else {
            delay as f64
        };
        self.avg_delay += 0.0125 * (input - self.avg_delay);
        self.qa_achieved += s.newly_acked;
        if delay > u64::from(self.cfg.qa_threshold) {
            self.qa_trigger = true;
        }
        if self.qa_ignore > 0 {
            self.qa_ignore = self.qa_ignore.saturating_sub(s.newly_acked);
            return;
        }
        if self.quick_adapt(now, s.in_flight) {
            return;
        }
        let newly = s.newly_acked as f64;
        match (s.ecn, delay >= target) {
            (false, true) => {
                self.fast_bytes = 0;
                self.fast = false;
                self.inc += f64::from(self.cfg.fi) * newly;
            }
            (false, false) => {
                if delay < 1_000 {
                    self.fast_bytes += s.newly_acked;
                    if self.fast_bytes as f64 > self.cwnd {
                        self.fast = true;
                    }
                } else {
                    self.fast_bytes = 0;
                    self.fast = false;
                }
                if self.fast {
                    self.cwnd += newly * f64::from(self.cfg.fi_scale);
                    self.clamp();
                } else {
                    let headroom_us = (target - delay) as f64 / 1_000.0;
                    self.inc += f64::from(self.cfg.alpha) * newly * headroom_us;
                }
            }
            (true, true) => {
                self.fast_bytes = 0;
                self.fast = false;
                let due = self
                    .last_md
                    .is_none_or(|t| now.saturating_since(t).as_nanos() >= self.base_rtt);
                if due && self.avg_delay > 0.0 {
                    let f = 1.0
                        - f64::from(self.cfg.gamma) * (self.avg_delay - target as f64)
                            / self.avg_delay;
                    self.cwnd *= f.max(f64::from(self.cfg.max_md_jump)).min(1.0);
                    self.last_md = Some(now);
                    self.clamp();
                }
            }
            (true, false) => {}
        }
        if s.rcv_cwnd_pen > 0 {
            // //= §8.7, scaled by 127 (7-bit field); 127 = one packet per RTT.
            if s.rcv_cwnd_pen >= 127 {
                self.cwnd = f64::from(self.cfg.min_cwnd);
            } else {
                self.cwnd -= newly * f64::from(s.rcv_cwnd_pen) / 127.0;
            }
            self.clamp();
        }
        self.fulfil(now, s.newly_acked);
    }

    fn on_trim(&mut self, now: Instant, bytes: u64, _last_hop: bool, in_flight: u64) {
        self.start(now);
        // //= §8.7: delay sample = network RTT; try Quick Adapt, else cwnd -= nacked bytes.
        self.last_delay = self.base_rtt;
        self.qa_trigger = true;
        if !self.quick_adapt(now, in_flight) {
            self.cwnd -= bytes as f64;
            self.clamp();
        }
    }

    fn on_loss(&mut self, now: Instant, _bytes: u64, in_flight: u64) {
        // Unexplained loss is path failure first (the EV is retired); it only arms Quick Adapt.
        self.start(now);
        self.qa_trigger = true;
        let _ = self.quick_adapt(now, in_flight);
    }

    fn window(&self) -> u64 {
        self.cwnd as u64
    }

    fn pacing_gap(&self, len: u64) -> Duration {
        if self.cwnd >= len as f64 {
            return Duration::ZERO;
        }
        Duration::from_nanos((self.base_rtt as f64 * len as f64 / self.cwnd.max(1.0)) as u64)
    }
}

/// An NSCC controller per QP; with a QP hint, the configuration [`NsccConfig::for_hint`] makes.
impl CcFactory for NsccConfig {
    fn build(&self, hint: Option<&QpHint>) -> Box<dyn CongestionControl> {
        Box::new(Nscc::new(match hint {
            Some(h) => self.for_hint(h),
            None => self.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_match_worked_example() {
        // §8.4 row 1: 100 Gb/s, 12 µs, trimming.
        let c = NsccConfig::for_network(100_000_000_000, Duration::from_micros(12), 4096, true);
        assert_eq!(c.target_delay, 9_000);
        assert!((c.alpha - 1365.3).abs() < 1.0, "{}", c.alpha);
        assert!((c.fi - 20_480.0).abs() < 1.0);
        assert!((c.eta - 614.4).abs() < 1.0);
        assert_eq!(c.max_cwnd, 225_000);
        assert_eq!(c.max_cwnd >> c.qa_gate, 28_125);
    }

    fn hint(recv: u32, send: u32) -> QpHint {
        QpHint {
            num_remote_recv_peers: recv,
            num_send_peers: send,
            ..Default::default()
        }
    }

    /// A window below one packet is a rate: the gap is base RTT × packet / window, and trims
    /// cannot push it under the hint's share. Without the hint's floor the window stays a
    /// packet and nothing is paced.
    #[test]
    fn a_sub_packet_window_is_paced_at_its_rate() {
        let cfg = NsccConfig::for_network(800_000_000_000, Duration::from_micros(3), 4096, true);
        let incast = cfg.for_hint(&hint(1023, 1));
        let share = incast.initial_cwnd;
        assert_eq!(incast.min_cwnd, share);
        assert!(share < 4096, "{share}");
        let mut n = Nscc::new(incast);
        assert_eq!(n.window(), u64::from(share));
        assert_eq!(
            n.pacing_gap(4096).as_nanos(),
            3_000 * 4096 / u64::from(share)
        );
        n.on_trim(Instant::from_nanos(100), 4096, true, 0);
        assert_eq!(n.window(), u64::from(share), "trims stop at the share");
        let mut fanout = Nscc::new(cfg.for_hint(&hint(1023, 1023)));
        fanout.on_trim(Instant::from_nanos(100), 4096, true, 0);
        assert_eq!(fanout.window(), 4096);
        assert_eq!(fanout.pacing_gap(4096), Duration::ZERO);
    }

    fn sample(newly: u64, rtt_us: u64, ecn: bool) -> AckSample {
        AckSample {
            newly_acked: newly,
            rtt: Some(Duration::from_micros(rtt_us)),
            ecn,
            rcv_cwnd_pen: 0,
            in_flight: 100_000,
        }
    }

    #[test]
    fn quadrants() {
        let mut cfg =
            NsccConfig::for_network(100_000_000_000, Duration::from_micros(12), 4096, true);
        cfg.initial_cwnd = 100_000;
        cfg.disable_qa = 1;
        // ECN + high delay: multiplicative decrease.
        let mut n = Nscc::new(cfg.clone());
        let mut t = Instant::ZERO;
        for _ in 0..200 {
            t += Duration::from_micros(1);
            n.on_ack(t, &sample(4096, 40, true));
        }
        assert!(n.window() < 100_000, "{}", n.window());
        // No ECN, low delay: increase.
        let mut n = Nscc::new(cfg.clone());
        let mut t = Instant::ZERO;
        for _ in 0..200 {
            t += Duration::from_micros(1);
            n.on_ack(t, &sample(4096, 12, false));
        }
        assert!(n.window() > 100_000);
        // ECN + low delay: unchanged.
        let mut n = Nscc::new(cfg.clone());
        n.on_ack(Instant::ZERO, &sample(4096, 12, false));
        let w = n.window();
        for i in 0..5 {
            n.on_ack(Instant::from_nanos(i * 10), &sample(4096, 13, true));
        }
        assert!(n.window() >= w);
        // Trim without Quick Adapt: cwnd -= bytes.
        let mut n = Nscc::new(cfg);
        n.on_trim(Instant::ZERO, 4096, false, 0);
        assert_eq!(n.window(), 100_000 - 4096);
    }

    #[test]
    fn fast_increase_after_a_window_of_near_zero_delay() {
        let mut cfg =
            NsccConfig::for_network(100_000_000_000, Duration::from_micros(12), 4096, true);
        cfg.initial_cwnd = 50_000;
        cfg.disable_qa = 1;
        let mut n = Nscc::new(cfg.clone());
        // Zero queueing delay (rtt = base): once more than a window of bytes has been acked
        // that way, cwnd grows by newly_acked × fi_scale per ACK (no adjust period needed).
        let mut t = Instant::ZERO;
        for _ in 0..64 {
            if n.fast {
                break;
            }
            n.on_ack(t, &sample(4096, 12, false));
        }
        assert!(n.fast, "fast increase never engaged");
        let before = n.window();
        t += Duration::from_nanos(10);
        n.on_ack(t, &sample(4096, 12, false));
        let grew = n.window() - before;
        assert!(
            grew >= (4096.0 * f64::from(cfg.fi_scale)) as u64 - 1,
            "{grew}"
        );
        // A delay sample above 1 µs ends fast mode.
        n.on_ack(t, &sample(4096, 14, false));
        assert!(!n.fast);
    }

    #[test]
    fn responder_penalty_shrinks_the_window() {
        let mut cfg =
            NsccConfig::for_network(100_000_000_000, Duration::from_micros(12), 4096, true);
        cfg.initial_cwnd = 100_000;
        cfg.disable_qa = 1;
        let mut n = Nscc::new(cfg.clone());
        let mut s = sample(8192, 30, false); // high delay: fair increase only accumulates
        s.rcv_cwnd_pen = 127;
        n.on_ack(Instant::ZERO, &s);
        assert_eq!(
            n.window(),
            u64::from(cfg.min_cwnd),
            "127 = one packet per RTT"
        );
        let mut n = Nscc::new(cfg);
        s.rcv_cwnd_pen = 64;
        n.on_ack(Instant::ZERO, &s);
        assert!(
            n.window() < 100_000 && n.window() > 90_000,
            "{}",
            n.window()
        );
    }

    /// High delay without ECN (congestion at the unmarked last hop): a QP told it is one of
    /// 8 senders grows by an eighth of what a lone QP grows.
    #[test]
    fn recv_peers_hint_scales_the_fair_increase() {
        let mut cfg =
            NsccConfig::for_network(100_000_000_000, Duration::from_micros(12), 4096, true);
        cfg.disable_qa = 1;
        let growth = |cfg: NsccConfig| {
            let mut cfg = cfg;
            cfg.initial_cwnd = 20_000;
            let mut n = Nscc::new(cfg);
            // One SACK of more than adjust_bytes_threshold, within the adjust period: the
            // window grows by fi × newly / cwnd once (no η).
            n.on_ack(Instant::from_nanos(1_000), &sample(40_960, 40, false));
            n.window() - 20_000
        };
        let hinted = cfg.for_hint(&hint(8, 1));
        assert_eq!(hinted.initial_cwnd, cfg.max_cwnd * 2 / 3 / 8);
        assert_eq!(hinted.alpha, cfg.alpha);
        let (lone, one_of_8) = (growth(cfg.clone()), growth(hinted));
        assert!(
            lone > 0 && one_of_8.abs_diff(lone / 8) <= 1,
            "{lone} {one_of_8}"
        );
        assert_eq!(cfg.for_hint(&hint(1, 1)).fi, cfg.fi);
    }

    #[test]
    fn quick_adapt_collapses_window_when_little_is_acked() {
        let cfg = NsccConfig::for_network(100_000_000_000, Duration::from_micros(12), 4096, true);
        let mut n = Nscc::new(cfg);
        n.on_ack(Instant::ZERO, &sample(4096, 12, false));
        n.on_trim(Instant::from_nanos(1_000), 4096, true, 200_000);
        n.on_ack(Instant::from_nanos(30_000), &sample(4096, 60, false));
        assert!(n.window() <= 8192, "{}", n.window());
    }
}
