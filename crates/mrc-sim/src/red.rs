//! RED-style ECN marking at a switch egress queue: the congestion point of DCQCN
//! (`docs/dcqcn.md`) and the default fractional marking of the MRC runs share this one
//! decision.
//!
//! The probability is 0 up to `kmin`, rises linearly to `pmax` at `kmax` and is 1 above
//! `kmax`, on the instantaneous queue (as the DCQCN paper's switches mark).

use crate::config::{EcnAt, RedSpec, SwitchSpec};
use crate::rng::SplitMix64;

/// Parts per million of a probability of 1.
pub const PPM: u32 = 1_000_000;

/// Resolved marking thresholds of a run (one set: every link of a fabric has the same speed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marking {
    /// Queue bytes above which marking starts.
    pub kmin: u64,
    /// Queue bytes at which the probability reaches `pmax_ppm` (1 above).
    pub kmax: u64,
    /// Probability at `kmax`, parts per million.
    pub pmax_ppm: u32,
    /// Also mark on ports facing NICs (DCQCN's incast bottleneck is the last hop).
    pub last_hop: bool,
    /// On arrival or on departure.
    pub at: EcnAt,
}

impl Marking {
    /// The thresholds of `sw`: absolute RED ([`SwitchSpec::red`]) when set (every hop, on
    /// arrival, as the DCQCN paper's switches), otherwise the `kmin`/`kmax` fractions of
    /// `base_queue` with probability 1 at `kmax`, where [`SwitchSpec::ecn_at`] and
    /// [`SwitchSpec::ecn_last_hop`] say.
    pub fn new(sw: &SwitchSpec, base_queue: u64, link_gbps: u32) -> Self {
        match sw.red {
            Some(r) => {
                let (kmin, kmax) = r.thresholds(link_gbps);
                Self {
                    kmin,
                    kmax: kmax.max(kmin + 1),
                    pmax_ppm: r.pmax_ppm.min(PPM),
                    last_hop: true,
                    at: EcnAt::Enqueue,
                }
            }
            None => {
                let kmin = base_queue * u64::from(sw.kmin_permille) / 1000;
                Self {
                    kmin,
                    kmax: (base_queue * u64::from(sw.kmax_permille) / 1000).max(kmin + 1),
                    pmax_ppm: PPM,
                    last_hop: sw.ecn_last_hop,
                    at: sw.ecn_at,
                }
            }
        }
    }

    /// Whether a packet joining a queue of `q` bytes is marked. Draws from `rng` only between
    /// `kmin` and `kmax` (one draw, so a probability-1 ramp keeps its historical stream).
    pub fn mark(&self, q: u64, rng: &mut SplitMix64) -> bool {
        if q >= self.kmax {
            return true;
        }
        if q <= self.kmin {
            return false;
        }
        let r = rng.below(self.kmax - self.kmin);
        if self.pmax_ppm == PPM {
            r < q - self.kmin
        } else {
            u128::from(r) * u128::from(PPM) < u128::from(q - self.kmin) * u128::from(self.pmax_ppm)
        }
    }
}

impl RedSpec {
    /// DCQCN paper's values at 40 Gb/s (`docs/dcqcn.md`).
    pub const PAPER_KMIN_40G: u64 = 5_000;
    /// See [`Self::PAPER_KMIN_40G`].
    pub const PAPER_KMAX_40G: u64 = 200_000;
    /// Pmax of the paper: 1%.
    pub const PAPER_PMAX_PPM: u32 = 10_000;

    /// Kmin and Kmax in bytes for links of `gbps`: the configured values, or the paper's 40 Gb/s
    /// values scaled with the link speed (the queue a flow builds per RTT grows with it).
    pub fn thresholds(&self, gbps: u32) -> (u64, u64) {
        let scale = |b40: u64| b40 * u64::from(gbps) / 40;
        (
            self.kmin_bytes
                .unwrap_or_else(|| scale(Self::PAPER_KMIN_40G)),
            self.kmax_bytes
                .unwrap_or_else(|| scale(Self::PAPER_KMAX_40G)),
        )
    }
}

impl Default for RedSpec {
    fn default() -> Self {
        Self {
            kmin_bytes: None,
            kmax_bytes: None,
            pmax_ppm: Self::PAPER_PMAX_PPM,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frac(m: &Marking, q: u64) -> f64 {
        let mut rng = SplitMix64::new(7);
        let n = 200_000;
        (0..n).filter(|_| m.mark(q, &mut rng)).count() as f64 / f64::from(n)
    }

    #[test]
    fn ramp_is_zero_then_linear_to_pmax_then_one() {
        let sw = SwitchSpec {
            red: Some(RedSpec::default()),
            ..SwitchSpec::default()
        };
        let m = Marking::new(&sw, 0, 100);
        assert_eq!((m.kmin, m.kmax, m.pmax_ppm), (12_500, 500_000, 10_000));
        assert!(m.last_hop);
        assert_eq!(frac(&m, 12_500), 0.0);
        let mid = 12_500 + (500_000 - 12_500) / 2;
        let p = frac(&m, mid);
        assert!((p - 0.005).abs() < 0.001, "{p}");
        assert!(frac(&m, 499_999) < 0.011);
        assert_eq!(frac(&m, 500_000), 1.0);
    }

    #[test]
    fn fractional_default_marks_with_probability_one_at_kmax_not_on_last_hop() {
        let m = Marking::new(&SwitchSpec::default(), 100_000, 100);
        assert_eq!((m.kmin, m.kmax, m.pmax_ppm), (20_000, 80_000, PPM));
        assert!(!m.last_hop);
        let p = frac(&m, 50_000);
        assert!((p - 0.5).abs() < 0.01, "{p}");
    }
}
