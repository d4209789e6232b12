//! Collectives as flow schedules with dependencies, independent of the network
//! (docs/workload.md §3; byte counts per rank in the tests).
//!
//! A collective over `n` member ranks is a sequence of steps; in each step some members send
//! one flow each to another member. Dependency rule (an MPI-style per-rank step barrier): a flow
//! that member `p` sends in step `k` waits for every flow `p` sent or received in the most recent
//! earlier step in which `p` took part, or for `p`'s start dependency if there is none. The
//! hierarchical all-reduce chains three such collectives per member. `S` is the buffer size as
//! nccl-tests counts it (§4): all-reduce input; reduce-scatter total input per rank; all-gather
//! total output; all-to-all send buffer per rank; broadcast and send/recv the message.

use std::fmt;
use std::str::FromStr;

use crate::dag::{CollectiveRecord, Dag, DagFull, OpId};

/// Which collective.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[non_exhaustive]
pub enum CollectiveKind {
    /// All-reduce.
    AllReduce,
    /// Reduce-scatter.
    ReduceScatter,
    /// All-gather.
    AllGather,
    /// All-to-all.
    AllToAll,
    /// Broadcast from a root.
    Broadcast,
    /// One point-to-point message (pipeline parallelism).
    SendRecv,
}

/// How a collective is decomposed into flows.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[non_exhaustive]
pub enum Algorithm {
    /// Ring (all-reduce = reduce-scatter + all-gather rings; broadcast = chain).
    Ring,
    /// Recursive halving (reduce-scatter) and doubling (all-gather); all-reduce = both
    /// (Rabenseifner). Needs a power-of-two rank count.
    HalvingDoubling,
    /// All-to-all in n−1 steps, step k sends to rank + k.
    Pairwise,
    /// All-to-all with every pair at once.
    Direct,
    /// All-reduce with `scale_up_group` GPUs per node: ring reduce-scatter inside the node, ring
    /// all-reduce across nodes per local GPU (rail) on S/g, ring all-gather inside the node.
    Hierarchical,
    /// A single flow (send/recv).
    P2p,
}

impl CollectiveKind {
    /// Every kind, for listings and error messages.
    pub const ALL: [Self; 6] = [
        Self::AllReduce,
        Self::ReduceScatter,
        Self::AllGather,
        Self::AllToAll,
        Self::Broadcast,
        Self::SendRecv,
    ];

    /// snake_case name as used in scenario files.
    pub const fn name(self) -> &'static str {
        match self {
            Self::AllReduce => "all_reduce",
            Self::ReduceScatter => "reduce_scatter",
            Self::AllGather => "all_gather",
            Self::AllToAll => "all_to_all",
            Self::Broadcast => "broadcast",
            Self::SendRecv => "send_recv",
        }
    }

    /// The default algorithm for this kind (ring, pairwise for all-to-all, p2p for send/recv).
    pub const fn default_algorithm(self) -> Algorithm {
        match self {
            Self::AllToAll => Algorithm::Pairwise,
            Self::SendRecv => Algorithm::P2p,
            _ => Algorithm::Ring,
        }
    }
}

impl Algorithm {
    /// Every algorithm.
    pub const ALL: [Self; 6] = [
        Self::Ring,
        Self::HalvingDoubling,
        Self::Pairwise,
        Self::Direct,
        Self::Hierarchical,
        Self::P2p,
    ];

    /// snake_case name as used in scenario files.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ring => "ring",
            Self::HalvingDoubling => "halving_doubling",
            Self::Pairwise => "pairwise",
            Self::Direct => "direct",
            Self::Hierarchical => "hierarchical",
            Self::P2p => "p2p",
        }
    }

    /// Whether this algorithm implements `kind`.
    pub const fn supports(self, kind: CollectiveKind) -> bool {
        use CollectiveKind as K;
        matches!(
            (self, kind),
            (
                Self::Ring,
                K::AllReduce | K::ReduceScatter | K::AllGather | K::Broadcast
            ) | (
                Self::HalvingDoubling,
                K::AllReduce | K::ReduceScatter | K::AllGather
            ) | (Self::Pairwise | Self::Direct, K::AllToAll)
                | (Self::Hierarchical, K::AllReduce)
                | (Self::P2p, K::SendRecv)
        )
    }
}

impl fmt::Display for CollectiveKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn norm(s: &str) -> String {
    s.trim().to_ascii_lowercase().replace(['-', ' '], "_")
}

impl FromStr for CollectiveKind {
    type Err = CollectiveError;
    /// Accepts the snake_case names plus `allreduce`, `reducescatter`, `allgather`, `alltoall`,
    /// `sendrecv`, `p2p` (case-insensitive, `-` for `_`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let n = norm(s);
        let k = match n.as_str() {
            "all_reduce" | "allreduce" => Self::AllReduce,
            "reduce_scatter" | "reducescatter" => Self::ReduceScatter,
            "all_gather" | "allgather" => Self::AllGather,
            "all_to_all" | "alltoall" => Self::AllToAll,
            "broadcast" => Self::Broadcast,
            "send_recv" | "sendrecv" | "p2p" => Self::SendRecv,
            _ => return Err(CollectiveError::UnknownKind(s.to_owned())),
        };
        Ok(k)
    }
}

impl FromStr for Algorithm {
    type Err = CollectiveError;
    /// Accepts the snake_case names plus `rhd`, `rabenseifner`, `hd` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let n = norm(s);
        let a = match n.as_str() {
            "ring" => Self::Ring,
            "halving_doubling" | "hd" | "rhd" | "rabenseifner" => Self::HalvingDoubling,
            "pairwise" => Self::Pairwise,
            "direct" => Self::Direct,
            "hierarchical" => Self::Hierarchical,
            "p2p" => Self::P2p,
            _ => return Err(CollectiveError::UnknownAlgorithm(s.to_owned())),
        };
        Ok(a)
    }
}

/// Deserialises from any spelling [`FromStr`] accepts (`all_reduce`, `all-reduce`,
/// `allreduce`, …); an unknown name is an error listing the valid ones.
impl<'de> serde::Deserialize<'de> for CollectiveKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Deserialises from any spelling [`FromStr`] accepts (`halving_doubling`, `halving-doubling`,
/// `rhd`, …).
impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Errors describing or placing a collective.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CollectiveError {
    /// Unknown collective name.
    #[error(
        "unknown collective {0:?}; expected one of all_reduce, reduce_scatter, all_gather, all_to_all, broadcast, send_recv"
    )]
    UnknownKind(String),
    /// Unknown algorithm name.
    #[error(
        "unknown algorithm {0:?}; expected one of ring, halving_doubling, pairwise, direct, hierarchical, p2p"
    )]
    UnknownAlgorithm(String),
    /// The algorithm does not implement the collective.
    #[error("algorithm {algorithm} does not implement {kind}")]
    Unsupported {
        /// The collective.
        kind: CollectiveKind,
        /// The algorithm.
        algorithm: Algorithm,
    },
    /// Zero-byte buffer.
    #[error("size_bytes must be > 0")]
    ZeroSize,
    /// The DAG's memory bound is reached.
    #[error(transparent)]
    DagFull(#[from] DagFull),
    /// Fewer than two ranks (send/recv: not exactly two).
    #[error("{kind} needs {expected} ranks, got {got}")]
    RankCount {
        /// The collective.
        kind: CollectiveKind,
        /// What was expected, in words.
        expected: &'static str,
        /// Ranks given.
        got: usize,
    },
    /// A rank appears twice.
    #[error("rank {0} appears twice in the group")]
    DuplicateRank(u32),
    /// Halving-doubling with a rank count that is not a power of two.
    #[error("halving_doubling needs a power-of-two rank count, got {0}")]
    NotPowerOfTwo(usize),
    /// Hierarchical all-reduce whose group size does not divide the rank count.
    #[error(
        "hierarchical all-reduce: scale_up_group {group} must be >= 1 and divide the rank count {ranks}"
    )]
    BadScaleUpGroup {
        /// GPUs per scale-up group.
        group: u32,
        /// Ranks.
        ranks: usize,
    },
    /// Root index outside the group.
    #[error("root index {root} is outside the group of {ranks} ranks")]
    BadRoot {
        /// The root position.
        root: u32,
        /// Ranks.
        ranks: usize,
    },
    /// Per-member start dependencies of the wrong length.
    #[error("{got} per-member start dependencies for {ranks} ranks")]
    StartLength {
        /// Given.
        got: usize,
        /// Ranks.
        ranks: usize,
    },
}

/// A collective call on a group of ranks.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Collective {
    /// Which collective.
    pub kind: CollectiveKind,
    /// How it is decomposed.
    pub algorithm: Algorithm,
    /// Member ranks in ring order (position `i` sends to position `i + 1` in a ring).
    pub ranks: Vec<u32>,
    /// Buffer size S in bytes (see the module docs).
    pub size_bytes: u64,
    /// Position of the root in `ranks` (broadcast: first sender; send/recv: the sender).
    pub root: u32,
    /// GPUs per scale-up group for [`Algorithm::Hierarchical`]: consecutive runs of this many
    /// members share a node.
    pub scale_up_group: u32,
}

/// When the members of a collective may start.
#[derive(Clone, Copy, Debug)]
pub enum Start<'a> {
    /// No dependencies.
    Now,
    /// Every member waits for all of these ops.
    After(&'a [OpId]),
    /// Member `i` waits for op `ops[i]` (one per member).
    PerMember(&'a [OpId]),
}

/// Ops marking the end of a placed collective.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Placed {
    /// Index of the record in [`Dag::collectives`].
    pub index: u32,
    /// Marker that completes when every flow of the collective has completed.
    pub end: OpId,
    /// Per member (same order as `ranks`): a marker that completes when that member has sent
    /// and received all its flows.
    pub member_done: Vec<OpId>,
}

/// One flow of a step: (sender position, receiver position, bytes).
type StepFlow = (u32, u32, u64);

/// Split `total` into `n` chunks whose sizes differ by at most one (larger ones first).
pub fn split_bytes(total: u64, n: u32) -> Vec<u64> {
    let n64 = u64::from(n.max(1));
    let (q, r) = (total / n64, total % n64);
    (0..n64).map(|j| q + u64::from(j < r)).collect()
}

fn pos(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl Collective {
    /// A collective with the kind's default algorithm; validated.
    pub fn new(
        kind: CollectiveKind,
        ranks: Vec<u32>,
        size_bytes: u64,
    ) -> Result<Self, CollectiveError> {
        Self::with_algorithm(kind, kind.default_algorithm(), ranks, size_bytes)
    }

    /// A collective with an explicit algorithm; validated.
    pub fn with_algorithm(
        kind: CollectiveKind,
        algorithm: Algorithm,
        ranks: Vec<u32>,
        size_bytes: u64,
    ) -> Result<Self, CollectiveError> {
        let c = Self {
            kind,
            algorithm,
            ranks,
            size_bytes,
            root: 0,
            scale_up_group: 1,
        };
        c.validate()?;
        Ok(c)
    }

    /// Set the scale-up group size (hierarchical all-reduce) and re-validate.
    pub fn with_scale_up_group(mut self, g: u32) -> Result<Self, CollectiveError> {
        self.scale_up_group = g;
        self.validate()?;
        Ok(self)
    }

    /// Set the root position and re-validate.
    pub fn with_root(mut self, root: u32) -> Result<Self, CollectiveError> {
        self.root = root;
        self.validate()?;
        Ok(self)
    }

    /// Check sizes, rank counts and algorithm support.
    pub fn validate(&self) -> Result<(), CollectiveError> {
        let n = self.ranks.len();
        if !self.algorithm.supports(self.kind) {
            return Err(CollectiveError::Unsupported {
                kind: self.kind,
                algorithm: self.algorithm,
            });
        }
        if self.size_bytes == 0 {
            return Err(CollectiveError::ZeroSize);
        }
        if self.kind == CollectiveKind::SendRecv {
            if n != 2 {
                return Err(CollectiveError::RankCount {
                    kind: self.kind,
                    expected: "exactly 2 (sender, receiver)",
                    got: n,
                });
            }
        } else if n < 2 {
            return Err(CollectiveError::RankCount {
                kind: self.kind,
                expected: "at least 2",
                got: n,
            });
        }
        let mut sorted = self.ranks.clone();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(CollectiveError::DuplicateRank(w[0]));
        }
        if self.algorithm == Algorithm::HalvingDoubling && !n.is_power_of_two() {
            return Err(CollectiveError::NotPowerOfTwo(n));
        }
        if self.algorithm == Algorithm::Hierarchical
            && (self.scale_up_group == 0 || !n.is_multiple_of(self.scale_up_group as usize))
        {
            return Err(CollectiveError::BadScaleUpGroup {
                group: self.scale_up_group,
                ranks: n,
            });
        }
        if self.root as usize >= n {
            return Err(CollectiveError::BadRoot {
                root: self.root,
                ranks: n,
            });
        }
        Ok(())
    }

    /// Number of member ranks.
    pub fn n(&self) -> u32 {
        pos(self.ranks.len())
    }

    /// This collective alone as a DAG (no start dependencies).
    pub fn schedule(&self) -> Result<Dag, CollectiveError> {
        let mut dag = Dag::new();
        self.add_to(&mut dag, self.to_string(), Start::Now)?;
        Ok(dag)
    }

    /// Append this collective's flows to `dag` after `start`; records it in
    /// [`Dag::collectives`] under `name`.
    pub fn add_to(
        &self,
        dag: &mut Dag,
        name: impl Into<String>,
        start: Start<'_>,
    ) -> Result<Placed, CollectiveError> {
        self.validate()?;
        let n = self.ranks.len();
        let starts: Vec<Vec<OpId>> = match start {
            Start::Now => vec![Vec::new(); n],
            Start::After(ops) => vec![ops.to_vec(); n],
            Start::PerMember(ops) => {
                if ops.len() != n {
                    return Err(CollectiveError::StartLength {
                        got: ops.len(),
                        ranks: n,
                    });
                }
                ops.iter().map(|&o| vec![o]).collect()
            }
        };
        let first_op = u32::try_from(dag.ops.len()).unwrap_or(u32::MAX);
        let index = u32::try_from(dag.collectives.len()).unwrap_or(u32::MAX);
        let member_done = self.emit(dag, starts)?;
        let end = dag.marker(member_done.clone());
        for op in dag.ops.iter_mut().skip(first_op as usize) {
            op.collective = Some(index);
        }
        dag.collectives.push(CollectiveRecord {
            name: name.into(),
            kind: self.kind,
            ranks: self.n(),
            size_bytes: self.size_bytes,
            first_op,
            end_op: end,
        });
        Ok(Placed {
            index,
            end,
            member_done,
        })
    }

    /// Emit flows; returns per-member done markers.
    fn emit(&self, dag: &mut Dag, starts: Vec<Vec<OpId>>) -> Result<Vec<OpId>, CollectiveError> {
        if self.algorithm == Algorithm::Hierarchical {
            return self.emit_hierarchical(dag, starts);
        }
        emit_steps(dag, &self.ranks, &self.steps(), starts)
    }

    /// The step program of a non-hierarchical algorithm, in member positions.
    fn steps(&self) -> Vec<Vec<StepFlow>> {
        let n = self.n();
        let s = self.size_bytes;
        match (self.kind, self.algorithm) {
            (CollectiveKind::AllReduce, Algorithm::Ring) => {
                let mut st = ring_reduce_scatter(n, s);
                st.extend(ring_all_gather(n, s));
                st
            }
            (CollectiveKind::ReduceScatter, Algorithm::Ring) => ring_reduce_scatter(n, s),
            (CollectiveKind::AllGather, Algorithm::Ring) => ring_all_gather(n, s),
            (CollectiveKind::AllReduce, Algorithm::HalvingDoubling) => {
                let (mut rs, ranges) = halving(n, s);
                rs.extend(doubling(n, ranges));
                rs
            }
            (CollectiveKind::ReduceScatter, Algorithm::HalvingDoubling) => halving(n, s).0,
            (CollectiveKind::AllGather, Algorithm::HalvingDoubling) => {
                // Start from the blocks a halving would leave each rank with.
                doubling(n, halving(n, s).1)
            }
            (CollectiveKind::AllToAll, Algorithm::Pairwise) => {
                let blocks = split_bytes(s, n);
                (1..n)
                    .map(|k| {
                        (0..n)
                            .map(|p| {
                                let d = (p + k) % n;
                                (p, d, blocks[d as usize])
                            })
                            .collect()
                    })
                    .collect()
            }
            (CollectiveKind::AllToAll, Algorithm::Direct) => {
                let blocks = split_bytes(s, n);
                vec![
                    (0..n)
                        .flat_map(|p| {
                            let blocks = &blocks;
                            (1..n).map(move |k| {
                                let d = (p + k) % n;
                                (p, d, blocks[d as usize])
                            })
                        })
                        .collect(),
                ]
            }
            (CollectiveKind::Broadcast, _) => (0..n - 1)
                .map(|k| {
                    let from = (self.root + k) % n;
                    vec![(from, (from + 1) % n, s)]
                })
                .collect(),
            (CollectiveKind::SendRecv, _) => {
                let from = self.root;
                vec![vec![(from, 1 - from, s)]]
            }
            _ => Vec::new(),
        }
    }

    fn emit_hierarchical(
        &self,
        dag: &mut Dag,
        starts: Vec<Vec<OpId>>,
    ) -> Result<Vec<OpId>, CollectiveError> {
        let g = self.scale_up_group as usize;
        let n = self.ranks.len();
        let nodes = n / g;
        let chunks = split_bytes(self.size_bytes, self.scale_up_group);
        let mut cursor: Vec<Vec<OpId>> = starts;
        let mut done = vec![0; n];
        if g > 1 {
            // Phase 1: reduce-scatter inside each node.
            for node in 0..nodes {
                let members = &self.ranks[node * g..(node + 1) * g];
                let st = ring_reduce_scatter(pos(g), self.size_bytes);
                let out = emit_steps(dag, members, &st, cursor[node * g..(node + 1) * g].to_vec())?;
                for (j, o) in out.into_iter().enumerate() {
                    cursor[node * g + j] = vec![o];
                    done[node * g + j] = o;
                }
            }
        }
        if nodes > 1 {
            // Phase 2: all-reduce across nodes per local index j on the chunk j owns after a
            // ring reduce-scatter ((j + 1) mod g).
            for j in 0..g {
                let members: Vec<u32> = (0..nodes).map(|k| self.ranks[k * g + j]).collect();
                let bytes = chunks[(j + 1) % g];
                if bytes == 0 {
                    continue;
                }
                let mut st = ring_reduce_scatter(pos(nodes), bytes);
                st.extend(ring_all_gather(pos(nodes), bytes));
                let st_cursor = (0..nodes).map(|k| cursor[k * g + j].clone()).collect();
                let out = emit_steps(dag, &members, &st, st_cursor)?;
                for (k, o) in out.into_iter().enumerate() {
                    cursor[k * g + j] = vec![o];
                    done[k * g + j] = o;
                }
            }
        }
        if g > 1 {
            // Phase 3: all-gather inside each node.
            for node in 0..nodes {
                let members = &self.ranks[node * g..(node + 1) * g];
                let st = ring_all_gather(pos(g), self.size_bytes);
                let out = emit_steps(dag, members, &st, cursor[node * g..(node + 1) * g].to_vec())?;
                for (j, o) in out.into_iter().enumerate() {
                    done[node * g + j] = o;
                }
            }
        }
        Ok(done)
    }
}

impl fmt::Display for Collective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} n={} {} B",
            self.kind,
            self.algorithm,
            self.ranks.len(),
            self.size_bytes
        )
    }
}

/// Ring reduce-scatter: step k, position i sends chunk (i − k) mod n to i + 1.
fn ring_reduce_scatter(n: u32, s: u64) -> Vec<Vec<StepFlow>> {
    let c = split_bytes(s, n);
    (0..n.saturating_sub(1))
        .map(|k| {
            (0..n)
                .map(|i| (i, (i + 1) % n, c[((i + n - k) % n) as usize]))
                .collect()
        })
        .collect()
}

/// Ring all-gather: step k, position i sends chunk (i + 1 − k) mod n to i + 1.
fn ring_all_gather(n: u32, s: u64) -> Vec<Vec<StepFlow>> {
    let c = split_bytes(s, n);
    (0..n.saturating_sub(1))
        .map(|k| {
            (0..n)
                .map(|i| (i, (i + 1) % n, c[((i + 1 + n - k) % n) as usize]))
                .collect()
        })
        .collect()
}

/// Recursive halving: step i, partner at distance n / 2^(i+1); each keeps half of its current
/// byte range and sends the other half. Returns the steps and the final range of each position.
fn halving(n: u32, s: u64) -> (Vec<Vec<StepFlow>>, Vec<(u64, u64)>) {
    let mut ranges = vec![(0u64, s); n as usize];
    let mut steps = Vec::new();
    let mut d = n / 2;
    while d >= 1 {
        let mut step = Vec::new();
        let mut next = ranges.clone();
        for p in 0..n {
            let (lo, hi) = ranges[p as usize];
            let mid = lo + (hi - lo) / 2;
            let (keep, give) = if p & d == 0 {
                ((lo, mid), (mid, hi))
            } else {
                ((mid, hi), (lo, mid))
            };
            step.push((p, p ^ d, give.1 - give.0));
            next[p as usize] = keep;
        }
        ranges = next;
        steps.push(step);
        d /= 2;
    }
    (steps, ranges)
}

/// Recursive doubling from the given ranges: step i, partner at distance 2^i; each sends its
/// whole current range and then owns the union.
fn doubling(n: u32, mut ranges: Vec<(u64, u64)>) -> Vec<Vec<StepFlow>> {
    let mut steps = Vec::new();
    let mut d = 1;
    while d < n {
        let mut step = Vec::new();
        let mut next = ranges.clone();
        for p in 0..n {
            let q = p ^ d;
            let (a, b) = (ranges[p as usize], ranges[q as usize]);
            step.push((p, q, a.1 - a.0));
            next[p as usize] = (a.0.min(b.0), a.1.max(b.1));
        }
        ranges = next;
        steps.push(step);
        d *= 2;
    }
    steps
}

/// Emit a step program with the per-rank step-barrier dependency rule; returns per-member done
/// markers.
fn emit_steps(
    dag: &mut Dag,
    ranks: &[u32],
    steps: &[Vec<StepFlow>],
    starts: Vec<Vec<OpId>>,
) -> Result<Vec<OpId>, CollectiveError> {
    let n = ranks.len();
    dag.room_for(steps.iter().map(Vec::len).sum::<usize>() + n + 1)?;
    // Ops member p took part in during its latest active step; starts to begin with.
    let mut last: Vec<Vec<OpId>> = starts;
    for step in steps {
        let mut touched: Vec<Vec<OpId>> = vec![Vec::new(); n];
        for &(src, dst, bytes) in step {
            let deps = last[src as usize].clone();
            let id = dag.flow(ranks[src as usize], ranks[dst as usize], bytes, deps);
            touched[src as usize].push(id);
            touched[dst as usize].push(id);
        }
        for (p, t) in touched.into_iter().enumerate() {
            if !t.is_empty() {
                last[p] = t;
            }
        }
    }
    Ok(last.into_iter().map(|deps| dag.marker(deps)).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use crate::dag::{AlphaBeta, ScaleUp, execute_alpha_beta};
    use crate::placement::Placement;

    fn ranks(n: u32) -> Vec<u32> {
        (0..n).collect()
    }

    fn per_rank(c: &Collective) -> Vec<u64> {
        let dag = c.schedule().unwrap();
        let max = c.ranks.iter().copied().max().unwrap_or(0) + 1;
        dag.bytes_sent_per_rank(max, |_| true)
    }

    const SIZES: [u64; 5] = [1, 1_000, 4 << 20, 1_000_003, 1 << 30];

    #[test]
    fn ring_all_reduce_bytes_match_formula() {
        for n in [2u32, 3, 4, 8, 16, 64] {
            for s in SIZES {
                let c = Collective::new(CollectiveKind::AllReduce, ranks(n), s).unwrap();
                let b = per_rank(&c);
                let total: u64 = b.iter().sum();
                // Every chunk goes n − 1 times around in each of the two phases.
                assert_eq!(total, 2 * u64::from(n - 1) * s, "n={n} s={s}");
                if s % u64::from(n) == 0 {
                    assert!(
                        b.iter()
                            .all(|&x| x == 2 * u64::from(n - 1) * s / u64::from(n))
                    );
                }
                let dag = c.schedule().unwrap();
                assert_eq!(dag.flow_count(), (2 * (n - 1) * n) as usize);
            }
        }
    }

    #[test]
    fn rs_ag_bytes_match_formula() {
        for kind in [CollectiveKind::ReduceScatter, CollectiveKind::AllGather] {
            for alg in [Algorithm::Ring, Algorithm::HalvingDoubling] {
                for n in [2u32, 4, 8, 32] {
                    for s in SIZES {
                        let c = Collective::with_algorithm(kind, alg, ranks(n), s).unwrap();
                        let b = per_rank(&c);
                        assert_eq!(b.iter().sum::<u64>(), u64::from(n - 1) * s, "{c}");
                        if s % u64::from(n) == 0 {
                            let want = u64::from(n - 1) * s / u64::from(n);
                            assert!(b.iter().all(|&x| x == want), "{c}: {b:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn halving_doubling_all_reduce_bytes_and_steps() {
        for n in [2u32, 4, 16, 128] {
            for s in SIZES {
                let c = Collective::with_algorithm(
                    CollectiveKind::AllReduce,
                    Algorithm::HalvingDoubling,
                    ranks(n),
                    s,
                )
                .unwrap();
                let b = per_rank(&c);
                assert_eq!(b.iter().sum::<u64>(), 2 * u64::from(n - 1) * s);
                if s % u64::from(n) == 0 {
                    assert!(
                        b.iter()
                            .all(|&x| x == 2 * u64::from(n - 1) * s / u64::from(n))
                    );
                }
                // 2·log2(n) latency steps: with α only, the makespan is 2·log2(n)·α.
                let dag = c.schedule().unwrap();
                let t = crate::dag::execute(&dag, |_, _| 1_000);
                assert_eq!(t.makespan_ns(), 2 * u64::from(n.ilog2()) * 1_000);
            }
        }
        assert_eq!(
            Collective::with_algorithm(
                CollectiveKind::AllReduce,
                Algorithm::HalvingDoubling,
                ranks(6),
                8
            ),
            Err(CollectiveError::NotPowerOfTwo(6))
        );
    }

    #[test]
    fn all_to_all_bytes_match_formula() {
        for alg in [Algorithm::Pairwise, Algorithm::Direct] {
            for n in [2u32, 3, 8, 16] {
                for s in SIZES {
                    let c = Collective::with_algorithm(CollectiveKind::AllToAll, alg, ranks(n), s)
                        .unwrap();
                    let b = per_rank(&c);
                    assert_eq!(b.iter().sum::<u64>(), u64::from(n - 1) * s);
                    if s % u64::from(n) == 0 {
                        assert!(b.iter().all(|&x| x == u64::from(n - 1) * s / u64::from(n)));
                    }
                    assert_eq!(c.schedule().unwrap().flow_count(), (n * (n - 1)) as usize);
                }
            }
        }
    }

    #[test]
    fn broadcast_and_send_recv() {
        let c = Collective::new(CollectiveKind::Broadcast, vec![5, 6, 7, 8], 100)
            .unwrap()
            .with_root(2)
            .unwrap();
        let b = per_rank(&c);
        assert_eq!(b.iter().sum::<u64>(), 300);
        assert_eq!(b[6], 0, "the rank before the root sends nothing");
        let p = Collective::new(CollectiveKind::SendRecv, vec![3, 9], 42).unwrap();
        let dag = p.schedule().unwrap();
        let f: Vec<_> = dag.flows().map(|(_, f)| (f.src, f.dst, f.bytes)).collect();
        assert_eq!(f, vec![(3, 9, 42)]);
    }

    #[test]
    fn hierarchical_all_reduce_inter_node_bytes() {
        let place = Placement::rail_aligned(8).unwrap();
        for nodes in [1u32, 2, 4, 16] {
            for s in [8u64 << 20, 1 << 30, 999_999] {
                let n = nodes * 8;
                let c = Collective::with_algorithm(
                    CollectiveKind::AllReduce,
                    Algorithm::Hierarchical,
                    ranks(n),
                    s,
                )
                .unwrap()
                .with_scale_up_group(8)
                .unwrap();
                let mut dag = c.schedule().unwrap();
                dag.place(&place);
                let inter = dag.bytes_sent_per_rank(
                    n,
                    |op| matches!(op.kind, crate::dag::OpKind::Flow(f) if !f.scale_up),
                );
                let intra = dag.bytes_sent_per_rank(
                    n,
                    |op| matches!(op.kind, crate::dag::OpKind::Flow(f) if f.scale_up),
                );
                // Inter-node: 2(nodes−1)/nodes · S/g per GPU (exact in total).
                assert_eq!(
                    inter.iter().sum::<u64>(),
                    2 * u64::from(nodes - 1) * s,
                    "nodes={nodes}"
                );
                if s % u64::from(n) == 0 {
                    let want = 2 * u64::from(nodes - 1) * s / u64::from(nodes) / 8;
                    assert!(inter.iter().all(|&x| x == want));
                }
                // Intra-node: RS + AG of S over 8 GPUs in each node.
                assert_eq!(intra.iter().sum::<u64>(), u64::from(nodes) * 2 * 7 * s);
            }
        }
    }

    #[test]
    fn ring_time_is_alpha_beta_formula() {
        // 2(n−1) sequential steps of S/n each.
        let n = 8u32;
        let s = 8u64 << 20;
        let c = Collective::new(CollectiveKind::AllReduce, ranks(n), s).unwrap();
        let m = AlphaBeta {
            alpha_ns: 5_000,
            bandwidth_bytes_per_s: 50_000_000_000,
            scale_up: ScaleUp::default(),
        };
        let t = execute_alpha_beta(&c.schedule().unwrap(), &m);
        let step = 5_000 + crate::dag::transfer_ns(s / u64::from(n), 50_000_000_000);
        assert_eq!(t.makespan_ns(), 2 * u64::from(n - 1) * step);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert_eq!(
            Collective::new(CollectiveKind::AllReduce, ranks(4), 0),
            Err(CollectiveError::ZeroSize)
        );
        assert!(matches!(
            Collective::new(CollectiveKind::AllReduce, ranks(1), 8),
            Err(CollectiveError::RankCount { .. })
        ));
        assert_eq!(
            Collective::new(CollectiveKind::AllReduce, vec![1, 2, 1], 8),
            Err(CollectiveError::DuplicateRank(1))
        );
        assert!(matches!(
            Collective::with_algorithm(CollectiveKind::AllToAll, Algorithm::Ring, ranks(4), 8),
            Err(CollectiveError::Unsupported { .. })
        ));
        assert!(matches!(
            "all_scatter".parse::<CollectiveKind>(),
            Err(CollectiveError::UnknownKind(_))
        ));
        assert_eq!(
            "AllReduce".parse::<CollectiveKind>(),
            Ok(CollectiveKind::AllReduce)
        );
        assert_eq!(
            "all-to-all".parse::<CollectiveKind>(),
            Ok(CollectiveKind::AllToAll)
        );
        assert_eq!("rhd".parse::<Algorithm>(), Ok(Algorithm::HalvingDoubling));
        assert!(
            Collective::with_algorithm(
                CollectiveKind::AllReduce,
                Algorithm::Hierarchical,
                ranks(12),
                8
            )
            .unwrap()
            .with_scale_up_group(8)
            .is_err()
        );
    }

    #[test]
    fn deserialize_any_spelling() {
        #[derive(serde::Deserialize)]
        struct W {
            collective: CollectiveKind,
            algorithm: Algorithm,
        }
        let w: W = toml::from_str("collective = \"all-gather\"\nalgorithm = \"halving-doubling\"")
            .unwrap();
        assert_eq!(w.collective, CollectiveKind::AllGather);
        assert_eq!(w.algorithm, Algorithm::HalvingDoubling);
        let e = toml::from_str::<W>("collective = \"allscatter\"\nalgorithm = \"ring\"")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("unknown collective \"allscatter\""), "{e}");
    }

    #[test]
    fn start_dependencies_and_records() {
        let mut dag = Dag::new();
        let a = dag.compute(0, 100, vec![]);
        let b = dag.compute(1, 300, vec![]);
        let c = Collective::new(CollectiveKind::AllReduce, vec![0, 1], 2_000).unwrap();
        let placed = c.add_to(&mut dag, "x", Start::PerMember(&[a, b])).unwrap();
        let m = AlphaBeta {
            alpha_ns: 0,
            bandwidth_bytes_per_s: 1_000_000_000,
            scale_up: ScaleUp::default(),
        };
        let t = execute_alpha_beta(&dag, &m);
        // Step 1: rank 0 sends at 100, rank 1 at 300 (1000 ns each); step 2 waits for both.
        assert_eq!(t.finish_ns[placed.end as usize], 300 + 1_000 + 1_000);
        assert_eq!(dag.collectives[0].name, "x");
        assert_eq!(t.collective_completion_ns(&dag), vec![2_300]);
        assert!(matches!(
            c.add_to(&mut dag, "y", Start::PerMember(&[a])),
            Err(CollectiveError::StartLength { .. })
        ));
    }
}
