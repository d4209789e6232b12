//! Seeded sampling (EV sets, tests) and ECMP hashes, from the workspace's one SplitMix64.

pub use mrc_rng::{SplitMix64, mix};

/// Deterministic ECMP hash of a flow key at a switch with a per-switch seed (§7.5 STEV mode).
pub const fn ecmp_hash(switch_seed: u64, flow_key: u64) -> u64 {
    mix(switch_seed ^ mix(flow_key))
}
