//! The synthetic "omni" task: 16 text tokens and 4 image patches of 4×4 pixels per sample.
//!
//! Label = 2·\[most tokens are in the low half of the vocabulary\] + \[mean pixel brightness > 0\]:
//! the model needs both modalities. Every sample comes from a seeded SplitMix64 stream: rank `r`
//! at step `s` draws its own shard; the validation set is a fixed stream of its own.

/// Vocabulary size.
pub const VOCAB: usize = 64;
/// Text tokens per sample.
pub const TEXT_LEN: usize = 16;
/// Image patches per sample.
pub const PATCHES: usize = 4;
/// Pixels per patch (4×4).
pub const PATCH_DIM: usize = 16;
/// Sequence length seen by the model (tokens + patches).
pub const SEQ: usize = TEXT_LEN + PATCHES;
/// Classes.
pub const CLASSES: usize = 4;

/// A seeded sample stream: the workspace's SplitMix64 for `seed` mixed with a stream id.
#[derive(Clone, Debug)]
pub struct SplitMix64(mrc_rng::SplitMix64);

impl SplitMix64 {
    /// A stream for `seed` mixed with a stream id.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut s = mrc_rng::SplitMix64::new(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        s.next_u64();
        Self(s)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0.unit()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// A batch in flat row-major form.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Samples.
    pub len: usize,
    /// `len × TEXT_LEN` token ids.
    pub tokens: Vec<u32>,
    /// `len × PATCHES × PATCH_DIM` pixels.
    pub patches: Vec<f32>,
    /// `len` labels in `0..CLASSES`.
    pub labels: Vec<u32>,
}

/// Draws `len` samples from `rng`.
pub fn sample(rng: &mut SplitMix64, len: usize) -> Batch {
    let mut b = Batch {
        len,
        tokens: Vec::with_capacity(len * TEXT_LEN),
        patches: Vec::with_capacity(len * PATCHES * PATCH_DIM),
        labels: Vec::with_capacity(len),
    };
    let half = (VOCAB / 2) as u64;
    for _ in 0..len {
        // Text: tokens drawn from the low half with probability 0.6 or 0.4.
        let p_low = if rng.next_u64() & 1 == 1 { 0.6 } else { 0.4 };
        let mut low = 0;
        for _ in 0..TEXT_LEN {
            let t = if rng.unit() < p_low {
                rng.next_u64() % half
            } else {
                half + rng.next_u64() % half
            };
            low += usize::from(t < half);
            b.tokens.push(t as u32);
        }
        // Image: noisy pixels around a brightness of ±0.2.
        let offset = if rng.next_u64() & 1 == 1 { 0.2 } else { -0.2 };
        let mut sum = 0.0;
        for _ in 0..PATCHES * PATCH_DIM {
            let px = offset + rng.normal();
            sum += px;
            b.patches.push(px as f32);
        }
        let text = u32::from(2 * low > TEXT_LEN);
        let image = u32::from(sum > 0.0);
        b.labels.push(2 * text + image);
    }
    b
}

/// The training shard of `rank` at `step`.
pub fn train_batch(seed: u64, rank: u32, step: u32, len: usize) -> Batch {
    let stream = (u64::from(rank) + 1) << 32 | u64::from(step);
    sample(&mut SplitMix64::new(seed, stream), len)
}

/// The held-out validation set (the same on every rank).
pub fn validation(seed: u64, len: usize) -> Batch {
    sample(&mut SplitMix64::new(seed, u64::MAX), len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_differ_and_repeat() {
        let a = train_batch(1, 0, 5, 8);
        assert_eq!(a, train_batch(1, 0, 5, 8));
        assert_ne!(a, train_batch(1, 1, 5, 8));
        assert_ne!(a, train_batch(1, 0, 6, 8));
        assert_eq!(a.tokens.len(), 8 * TEXT_LEN);
        assert_eq!(a.patches.len(), 8 * PATCHES * PATCH_DIM);
        let v = validation(1, 512);
        let mut counts = [0; CLASSES];
        for l in &v.labels {
            counts[*l as usize] += 1;
        }
        // Every class is well represented.
        assert!(counts.iter().all(|&c| c > 80), "{counts:?}");
    }
}
