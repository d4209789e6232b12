//! A small seeded RNG (the workspace's SplitMix64, `mrc-rng`, seeding a xoshiro256++), written
//! out so that the stream never changes with a dependency update (`docs/rust-models.md` §2.5).
//! Same seed, same numbers.

use mrc_rng::SplitMix64;

/// xoshiro256++ (Blackman & Vigna), seeded through SplitMix64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator for `seed`.
    pub const fn new(seed: u64) -> Self {
        let mut st = SplitMix64::new(seed);
        let s = [st.next_u64(), st.next_u64(), st.next_u64(), st.next_u64()];
        Self { s }
    }

    /// A generator for a sub-stream (`seed` ⊕ entity id, then SplitMix64).
    pub const fn derive(seed: u64, entity: u64) -> Self {
        Self::new(mrc_rng::hash(
            seed ^ entity.wrapping_mul(0xA24B_AED4_963E_E407),
        ))
    }

    /// The next 64 random bits.
    pub const fn next_u64(&mut self) -> u64 {
        let result = self.s[0]
            .wrapping_add(self.s[3])
            .rotate_left(23)
            .wrapping_add(self.s[0]);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A uniform integer in `0..n` (`n > 0`; returns 0 for `n == 0`).
    pub const fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// Fisher–Yates shuffle in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_bounded() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
            assert!(a.below(10) < 10);
            b.below(10);
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
        let mut v = [0, 1, 2, 3, 4, 5, 6, 7];
        a.shuffle(&mut v);
        let mut s = v;
        s.sort_unstable();
        assert_eq!(s, [0, 1, 2, 3, 4, 5, 6, 7]);
    }
}
