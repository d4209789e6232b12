//! DCQCN's reaction point (`docs/dcqcn.md`): one rate per QP, cut on a congestion notification
//! and raised by timer and byte-counter events. [`Dcqcn`] is the one implementation: the RoCE
//! baseline drives it with CNPs and the bytes it sends; [`DcqcnCc`] drives it for an MRC QP with
//! the ECN echoes of SACKs and the bytes they acknowledge.

use super::{AckSample, CcFactory, CongestionControl};
use crate::config::QpHint;
use crate::time::{Duration, Instant};

/// DCQCN parameters: defaults are the DCQCN paper's; `docs/dcqcn.md` gives each value's
/// source and the ConnectX defaults next to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DcqcnConfig {
    /// Rate control on (false = always line rate).
    pub enabled: bool,
    /// α gain g (1/256).
    pub g: f64,
    /// α decay period without CNP (55 µs).
    pub alpha_timer: Duration,
    /// Rate-increase timer period (55 µs).
    pub increase_timer: Duration,
    /// Rate-increase byte counter (10 MB).
    pub byte_counter: u64,
    /// Fast-recovery steps F (5).
    pub f: u32,
    /// Additive increase R_AI, bits/s (40 Mb/s).
    pub rai_bps: u64,
    /// Hyper increase R_HAI, bits/s (400 Mb/s: the paper gives none; 10 × R_AI as in QCN and
    /// the ConnectX defaults).
    pub rhai_bps: u64,
    /// Lowest rate, bits/s (10 Mb/s).
    pub min_rate_bps: u64,
    /// NP: at most one CNP per this interval per QP (50 µs).
    pub cnp_interval: Duration,
}

impl Default for DcqcnConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            g: 1.0 / 256.0,
            alpha_timer: Duration::from_micros(55),
            increase_timer: Duration::from_micros(55),
            byte_counter: 10_000_000,
            f: 5,
            rai_bps: 40_000_000,
            rhai_bps: 400_000_000,
            min_rate_bps: 10_000_000,
            cnp_interval: Duration::from_micros(50),
        }
    }
}

/// The DCQCN reaction point of one QP: current rate Rc, target rate Rt, α, the α and
/// rate-increase timers and the byte counter. The caller checks [`DcqcnConfig::enabled`].
#[derive(Debug, Clone)]
pub struct Dcqcn {
    cfg: DcqcnConfig,
    line: f64,
    rc: f64,
    rt: f64,
    alpha: f64,
    rate_limited: bool,
    alpha_at: Instant,
    inc_at: Instant,
    t_count: u32,
    b_count: u32,
    bytes_since_inc: u64,
}

impl Dcqcn {
    /// At line rate, α = 1, no timer running.
    pub fn new(cfg: DcqcnConfig, line_rate_bps: u64) -> Self {
        let line = line_rate_bps as f64;
        Self {
            cfg,
            line,
            rc: line,
            rt: line,
            alpha: 1.0,
            rate_limited: false,
            alpha_at: Instant::MAX,
            inc_at: Instant::MAX,
            t_count: 0,
            b_count: 0,
            bytes_since_inc: 0,
        }
    }

    /// Current rate Rc, bits/s.
    pub fn rate(&self) -> f64 {
        self.rc
    }

    /// Below line rate (the timers run).
    pub fn rate_limited(&self) -> bool {
        self.rate_limited
    }

    /// When a timer is next due, while the rate is limited.
    pub fn next_timer(&self) -> Option<Instant> {
        self.rate_limited.then(|| self.alpha_at.min(self.inc_at))
    }

    /// A congestion notification: cut the rate by α/2 and raise α.
    pub fn on_cnp(&mut self, now: Instant) {
        let d = self.cfg;
        if !self.rate_limited && self.alpha_at <= now {
            // α kept decaying every alpha_timer while the QP ran at line rate (no timer ran).
            let periods = now.saturating_since(self.alpha_at).as_nanos()
                / d.alpha_timer.as_nanos().max(1)
                + 1;
            self.alpha *= (1.0 - d.g).powf(periods as f64);
        }
        self.rate_limited = true;
        self.rt = self.rc;
        self.rc = (self.rc * (1.0 - self.alpha / 2.0)).max(d.min_rate_bps as f64);
        self.alpha = (1.0 - d.g) * self.alpha + d.g;
        self.t_count = 0;
        self.b_count = 0;
        self.bytes_since_inc = 0;
        self.alpha_at = now + d.alpha_timer;
        self.inc_at = now + d.increase_timer;
    }

    /// `bytes` counted towards the byte counter (sent, for RoCE): a rate-increase event per
    /// [`DcqcnConfig::byte_counter`] bytes while the rate is limited.
    pub fn on_bytes(&mut self, bytes: u64) {
        if self.rate_limited {
            self.bytes_since_inc += bytes;
            if self.bytes_since_inc >= self.cfg.byte_counter {
                self.bytes_since_inc = 0;
                self.b_count += 1;
                self.rate_increase();
            }
        }
    }

    /// Runs the α and rate-increase timers due by `now`.
    pub fn on_timers(&mut self, now: Instant) {
        let d = self.cfg;
        if self.rate_limited {
            while self.alpha_at <= now {
                self.alpha *= 1.0 - d.g;
                self.alpha_at += d.alpha_timer;
            }
            while self.rate_limited && self.inc_at <= now {
                self.t_count += 1;
                self.inc_at += d.increase_timer;
                self.rate_increase();
            }
        }
    }

    fn rate_increase(&mut self) {
        let d = &self.cfg;
        let line = self.line;
        let (t, b, f) = (self.t_count, self.b_count, d.f);
        if t.max(b) < f {
            // fast recovery
        } else if t.min(b) > f {
            self.rt += f64::from(t.min(b) - f) * d.rhai_bps as f64;
        } else {
            self.rt += d.rai_bps as f64;
        }
        self.rt = self.rt.min(line);
        self.rc = ((self.rt + self.rc) / 2.0).min(line);
        if self.rc >= line * 0.999_999 {
            // Back at line rate: the timers stop; α's decay is caught up at the next CNP
            // (`alpha_at` keeps its next due time).
            self.rc = line;
            self.rate_limited = false;
            self.inc_at = Instant::MAX;
        }
    }
}

/// DCQCN for an MRC QP: the reaction point's parameters and the numbers that map its rate to a
/// window (`docs/dcqcn.md`, "DCQCN on an MRC QP").
#[derive(Debug, Clone, PartialEq)]
pub struct DcqcnCcConfig {
    /// Reaction-point parameters ([`DcqcnConfig::cnp_interval`] spaces the reactions to ECN
    /// echoes, as the notification point spaces CNPs).
    pub dcqcn: DcqcnConfig,
    /// Line rate of the QP's NIC (all planes), bits/s.
    pub line_rate_bps: u64,
    /// Base (unloaded network) RTT: window = rate × base RTT.
    pub base_rtt: Duration,
}

/// A [`Dcqcn`] reaction point per QP; the QP hint is not used (DCQCN starts at line rate).
impl CcFactory for DcqcnCcConfig {
    fn build(&self, _hint: Option<&QpHint>) -> Box<dyn CongestionControl> {
        Box::new(DcqcnCc::new(self))
    }
}

/// DCQCN as an MRC congestion controller. An ECN echo in a SACK stands for the CNP (at most
/// one reaction per CNP interval); acknowledged bytes drive the byte counter; the timers are
/// caught up at each SACK. The rate becomes a window of rate × base RTT and a pacing gap of
/// one packet's bytes at the rate. Trims and losses do not change the rate: DCQCN's only
/// signal is ECN.
#[derive(Debug, Clone)]
pub struct DcqcnCc {
    rp: Dcqcn,
    enabled: bool,
    base_rtt_ns: f64,
    cnp_interval: Duration,
    last_cnp: Option<Instant>,
}

impl DcqcnCc {
    /// At line rate.
    pub fn new(cfg: &DcqcnCcConfig) -> Self {
        Self {
            rp: Dcqcn::new(cfg.dcqcn, cfg.line_rate_bps),
            enabled: cfg.dcqcn.enabled,
            base_rtt_ns: cfg.base_rtt.as_nanos() as f64,
            cnp_interval: cfg.dcqcn.cnp_interval,
            last_cnp: None,
        }
    }

    /// The reaction point.
    pub fn reaction_point(&self) -> &Dcqcn {
        &self.rp
    }
}

impl CongestionControl for DcqcnCc {
    fn on_ack(&mut self, now: Instant, s: &AckSample) {
        if !self.enabled {
            return;
        }
        self.rp.on_timers(now);
        self.rp.on_bytes(s.newly_acked);
        if s.ecn
            && self
                .last_cnp
                .is_none_or(|t| now.saturating_since(t) >= self.cnp_interval)
        {
            self.last_cnp = Some(now);
            self.rp.on_cnp(now);
        }
    }

    fn on_trim(&mut self, _now: Instant, _bytes: u64, _last_hop: bool, _in_flight: u64) {}

    fn on_loss(&mut self, _now: Instant, _bytes: u64, _in_flight: u64) {}

    fn window(&self) -> u64 {
        (self.rp.rate() / 8.0 * self.base_rtt_ns / 1e9) as u64
    }

    fn pacing_gap(&self, len: u64) -> Duration {
        Duration::from_nanos((len as f64 * 8.0 * 1e9 / self.rp.rate().max(1.0)) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc() -> DcqcnCc {
        DcqcnCc::new(&DcqcnCcConfig {
            dcqcn: DcqcnConfig::default(),
            line_rate_bps: 800_000_000_000,
            base_rtt: Duration::from_micros(10),
        })
    }

    fn sack(ecn: bool) -> AckSample {
        AckSample {
            newly_acked: 4096,
            rtt: None,
            ecn,
            rcv_cwnd_pen: 0,
            in_flight: 0,
        }
    }

    /// At line rate the window is the BDP; the first ECN echo halves the rate (α = 1) and so
    /// the window and the pacing rate; a second echo within the CNP interval changes nothing,
    /// one after it halves the rate again (α is still 1, its timer not yet due).
    #[test]
    fn an_ecn_echo_cuts_the_rate_once_per_cnp_interval() {
        let mut c = cc();
        let bdp = 800_000_000_000 / 8 * 10 / 1_000_000;
        assert_eq!(c.window(), bdp);
        let t0 = Instant::from_nanos(1_000);
        c.on_ack(t0, &sack(false));
        assert_eq!(c.window(), bdp, "no echo, no cut");
        c.on_ack(t0, &sack(true));
        assert_eq!(c.window(), bdp / 2);
        assert!(c.reaction_point().rate_limited());
        assert_eq!(c.pacing_gap(4096), Duration::from_nanos(4096 * 8 / 400));
        c.on_ack(t0 + Duration::from_micros(10), &sack(true));
        assert_eq!(c.window(), bdp / 2, "within the CNP interval");
        c.on_ack(t0 + Duration::from_micros(50), &sack(true));
        assert_eq!(c.window(), bdp / 4, "α stays 1 after a cut from α = 1");
    }

    /// Without echoes the timers raise the rate back to line rate (fast recovery halves the
    /// gap to the target each period), and then stop.
    #[test]
    fn the_rate_recovers_without_echoes() {
        let mut c = cc();
        let t0 = Instant::from_nanos(1_000);
        c.on_ack(t0, &sack(true));
        let cut = c.reaction_point().rate();
        c.on_ack(t0 + Duration::from_micros(56), &sack(false));
        let once = c.reaction_point().rate();
        assert!(once > cut && once < 800e9, "{cut} {once}");
        c.on_ack(t0 + Duration::from_millis(100), &sack(false));
        assert!(!c.reaction_point().rate_limited());
        assert_eq!(c.reaction_point().next_timer(), None);
        assert_eq!(c.window(), 800_000_000_000 / 8 * 10 / 1_000_000);
    }
}
