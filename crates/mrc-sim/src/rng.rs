//! Seeded randomness: one SplitMix64 stream per entity, derived as
//! `SplitMix64::new(stream(seed, entity_tag, id))` (the workspace's `mrc-rng`).

pub use mrc_rng::{SplitMix64, mix, stream};
