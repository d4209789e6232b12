//! First-set traffic patterns as flow lists: permutation, N→1 incast, all-to-all and uniform
//! random. Ranks are plain indices; times are picoseconds (as in htsim's `.cm` files).

use mrc_rng::SplitMix64;
/// One point-to-point transfer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Flow {
    /// Caller's id (htsim `id`; 1-based in `.cm` files, otherwise the index).
    pub id: u64,
    /// Sending rank.
    pub src: u32,
    /// Receiving rank.
    pub dst: u32,
    /// Bytes to transfer.
    pub bytes: u64,
    /// Start time in picoseconds (ignored while `trigger` is set and has not fired).
    pub start_ps: u64,
    /// Start when this trigger fires instead of at `start_ps`.
    pub trigger: Option<u32>,
    /// Trigger activated when the sender has its completion.
    pub send_done_trigger: Option<u32>,
    /// Trigger activated when the receiver holds every byte.
    pub recv_done_trigger: Option<u32>,
}

impl Flow {
    /// A flow starting at `start_ps` with no triggers.
    pub const fn new(id: u64, src: u32, dst: u32, bytes: u64, start_ps: u64) -> Self {
        Self {
            id,
            src,
            dst,
            bytes,
            start_ps,
            trigger: None,
            send_done_trigger: None,
            recv_done_trigger: None,
        }
    }
}

/// How a trigger fires (htsim `connection_matrix.cpp`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TriggerKind {
    /// Fires on its first activation only.
    Oneshot,
    /// Fires on every activation.
    Multishot,
    /// Fires once, when it has been activated `count` times.
    Barrier {
        /// Activations needed.
        count: u32,
    },
}

/// A trigger that starts the flows waiting on it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Trigger {
    /// Trigger id.
    pub id: u32,
    /// Firing rule.
    pub kind: TriggerKind,
}

/// A random permutation without fixed points over `n` ranks: rank `i` sends `bytes` to
/// `dst[i] ≠ i`, every rank receives once (Sattolo's algorithm: a single cycle, seeded).
pub fn permutation(n: u32, bytes: u64, seed: u64) -> Vec<Flow> {
    if n < 2 {
        return Vec::new();
    }
    let mut rng = SplitMix64::new(seed);
    let mut dst: Vec<u32> = (0..n).collect();
    for i in (1..n as usize).rev() {
        let j = rng.below(i as u64) as usize;
        dst.swap(i, j);
    }
    (0..n)
        .map(|i| Flow::new(u64::from(i), i, dst[i as usize], bytes, 0))
        .collect()
}

/// `senders` → `dst` incast, one flow of `bytes` each.
pub fn incast(senders: &[u32], dst: u32, bytes: u64) -> Vec<Flow> {
    senders
        .iter()
        .enumerate()
        .map(|(i, &s)| Flow::new(i as u64, s, dst, bytes, 0))
        .collect()
}

/// Every rank sends `bytes` to every other rank, all at once. Rank `s` lists (so posts) its
/// flows to `s + 1, s + 2, …` (mod `n`), as collective libraries post an all-to-all
/// (`docs/workload.md` §All-to-all order): in ascending order every NIC would start on rank 0,
/// then all move on to rank 1, a synchronised incast at each rank in turn.
pub fn all_to_all(n: u32, bytes: u64) -> Vec<Flow> {
    let mut flows = Vec::with_capacity((n as usize) * (n.saturating_sub(1) as usize));
    for s in 0..n {
        for k in 1..n {
            flows.push(Flow::new(flows.len() as u64, s, (s + k) % n, bytes, 0));
        }
    }
    flows
}

/// `count` flows between uniformly random distinct ranks, starting at uniformly random times in
/// `[0, window_ps)` (seeded).
pub fn uniform_random(n: u32, count: u32, bytes: u64, window_ps: u64, seed: u64) -> Vec<Flow> {
    if n < 2 {
        return Vec::new();
    }
    let mut rng = SplitMix64::new(seed);
    (0..count)
        .map(|i| {
            let s = rng.below(u64::from(n)) as u32;
            let mut d = rng.below(u64::from(n) - 1) as u32;
            if d >= s {
                d += 1;
            }
            let start = if window_ps == 0 {
                0
            } else {
                rng.below(window_ps)
            };
            Flow::new(u64::from(i), s, d, bytes, start)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_is_derangement_and_seeded() {
        let f = permutation(64, 10, 7);
        let mut seen = [false; 64];
        for fl in &f {
            assert_ne!(fl.src, fl.dst);
            assert!(!seen[fl.dst as usize]);
            seen[fl.dst as usize] = true;
        }
        assert_eq!(f, permutation(64, 10, 7));
        assert_ne!(f, permutation(64, 10, 8));
    }

    #[test]
    fn all_to_all_covers_every_pair_and_staggers_receivers() {
        let n = 6;
        let f = all_to_all(n, 1);
        let mut pairs: Vec<(u32, u32)> = f.iter().map(|fl| (fl.src, fl.dst)).collect();
        pairs.sort_unstable();
        pairs.dedup();
        assert_eq!(pairs.len(), f.len());
        assert!(pairs.iter().all(|(s, d)| s != d && *s < n && *d < n));
        // The k-th flow of every rank goes to a different receiver.
        for k in 0..(n - 1) as usize {
            let mut dsts: Vec<u32> = (0..n as usize)
                .map(|s| f[s * (n - 1) as usize + k].dst)
                .collect();
            dsts.sort_unstable();
            dsts.dedup();
            assert_eq!(dsts.len(), n as usize, "position {k}");
        }
    }

    #[test]
    fn shapes() {
        assert_eq!(all_to_all(4, 1).len(), 12);
        assert_eq!(incast(&[1, 2, 3], 0, 5).len(), 3);
        let u = uniform_random(10, 100, 1, 1000, 3);
        assert!(
            u.iter()
                .all(|f| f.src != f.dst && f.dst < 10 && f.start_ps < 1000)
        );
    }
}
