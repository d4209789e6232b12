//! Seeded randomness: SplitMix64 (Steele, Lea, Flood 2014), one stream per entity, derived as
//! `SplitMix64::new(mix(seed ^ mix(entity_tag ^ id)))`.

/// SplitMix64 generator.
#[derive(Clone, Copy, Debug)]
pub struct SplitMix64(u64);

/// The SplitMix64 finaliser (a good 64-bit mixing function).
pub const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of the stream for entity `id` of kind `tag` under the run seed `seed`.
pub const fn stream(seed: u64, tag: u64, id: u64) -> u64 {
    mix(seed ^ mix(tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ id))
}

impl SplitMix64 {
    /// A generator from a seed.
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// True with probability `ppm` / 1,000,000.
    pub fn chance_ppm(&mut self, ppm: u32) -> bool {
        ppm > 0 && (self.next_u64() % 1_000_000) < u64::from(ppm)
    }

    /// Uniform in `0..n` (0 for n = 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}
