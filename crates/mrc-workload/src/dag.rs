//! Flow schedules with dependencies: a DAG of flows, compute nodes and join markers.
//!
//! Every op's dependencies point to ops created before it, so `ops` is already in topological
//! order and an op id is its index. A consumer (the simulator, or [`execute`]) starts an op as
//! soon as all its dependencies have completed:
//! - [`OpKind::Flow`]: a point-to-point transfer of `bytes` from `src` to `dst` rank; put it on
//!   the fabric unless [`FlowOp::scale_up`] is set (then it runs over NVLink-class scale-up, see
//!   [`ScaleUp`]);
//! - [`OpKind::Compute`]: busy time on one rank;
//! - [`OpKind::Marker`]: a zero-cost join, complete as soon as its dependencies are.

use crate::placement::Placement;

/// Index of an op in [`Dag::ops`].
pub type OpId = u32;

/// A point-to-point transfer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FlowOp {
    /// Sending rank.
    pub src: u32,
    /// Receiving rank.
    pub dst: u32,
    /// Payload bytes.
    pub bytes: u64,
    /// True when both ranks sit in one scale-up domain (set by [`Dag::place`]): the transfer
    /// does not touch the scale-out fabric.
    pub scale_up: bool,
}

/// What an op does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OpKind {
    /// A transfer between two ranks.
    Flow(FlowOp),
    /// Busy time on one rank.
    Compute {
        /// The rank that computes.
        rank: u32,
        /// Duration in nanoseconds.
        duration_ns: u64,
    },
    /// A zero-cost join of its dependencies.
    Marker,
}

/// One node of the DAG.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Op {
    /// What it does.
    pub kind: OpKind,
    /// Ops that must complete before this one starts (all with smaller ids).
    pub deps: Vec<OpId>,
    /// Index into [`Dag::collectives`] of the collective this op belongs to, if any.
    pub collective: Option<u32>,
}

/// Bookkeeping for one collective placed in a DAG.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CollectiveRecord {
    /// Human-readable name (e.g. `"dp-allreduce step0 bucket3"`).
    pub name: String,
    /// The collective's kind.
    pub kind: crate::collective::CollectiveKind,
    /// Ranks taking part.
    pub ranks: u32,
    /// Buffer size S in bytes, as nccl-tests counts it (§4 of docs/workload.md).
    pub size_bytes: u64,
    /// First op id of the collective.
    pub first_op: OpId,
    /// The marker op that completes when the whole collective has completed.
    pub end_op: OpId,
}

/// A schedule of flows, compute nodes and markers with dependencies.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Dag {
    /// Ops in topological order; an op's id is its index.
    pub ops: Vec<Op>,
    /// Collectives in the order they were added.
    pub collectives: Vec<CollectiveRecord>,
    /// Most ops the builders may add ([`Dag::room_for`]): a caller's memory bound, checked
    /// before each collective is emitted, so a large job is refused instead of exhausting
    /// memory. Never above `u32::MAX` (op ids are `u32`).
    max_ops: usize,
}

impl Default for Dag {
    fn default() -> Self {
        Self::new()
    }
}

/// A DAG builder would go beyond [`Dag::with_max_ops`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the DAG would exceed {max_ops} operations (the memory bound given)")]
pub struct DagFull {
    /// The bound.
    pub max_ops: usize,
}

impl Dag {
    /// An empty DAG (bounded only by `u32` op ids).
    pub const fn new() -> Self {
        Self::with_max_ops(u32::MAX as usize)
    }

    /// An empty DAG whose builders refuse to grow beyond `max_ops` operations.
    pub const fn with_max_ops(max_ops: usize) -> Self {
        Self {
            ops: Vec::new(),
            collectives: Vec::new(),
            max_ops: if max_ops < u32::MAX as usize {
                max_ops
            } else {
                u32::MAX as usize
            },
        }
    }

    /// Whether `extra` more ops fit in the bound.
    pub fn room_for(&self, extra: usize) -> Result<(), DagFull> {
        if self.ops.len().saturating_add(extra) > self.max_ops {
            return Err(DagFull {
                max_ops: self.max_ops,
            });
        }
        Ok(())
    }

    /// Next op id.
    fn next_id(&self) -> OpId {
        u32::try_from(self.ops.len()).unwrap_or(u32::MAX)
    }

    /// Append an op; returns its id. Dependencies must be ids of existing ops.
    pub fn push(&mut self, kind: OpKind, deps: Vec<OpId>) -> OpId {
        let id = self.next_id();
        debug_assert!(deps.iter().all(|&d| d < id), "deps must point backwards");
        self.ops.push(Op {
            kind,
            deps,
            collective: None,
        });
        id
    }

    /// Append a flow (not yet classified as scale-up; see [`Dag::place`]).
    pub fn flow(&mut self, src: u32, dst: u32, bytes: u64, deps: Vec<OpId>) -> OpId {
        self.push(
            OpKind::Flow(FlowOp {
                src,
                dst,
                bytes,
                scale_up: false,
            }),
            deps,
        )
    }

    /// Append a compute node.
    pub fn compute(&mut self, rank: u32, duration_ns: u64, deps: Vec<OpId>) -> OpId {
        self.push(OpKind::Compute { rank, duration_ns }, deps)
    }

    /// Append a join marker.
    pub fn marker(&mut self, deps: Vec<OpId>) -> OpId {
        self.push(OpKind::Marker, deps)
    }

    /// Mark every flow whose two ranks share a scale-up domain under `placement`.
    pub fn place(&mut self, placement: &Placement) {
        for op in &mut self.ops {
            if let OpKind::Flow(f) = &mut op.kind {
                f.scale_up = placement.same_scale_up(f.src, f.dst);
            }
        }
    }

    /// Iterate over `(id, flow)` of all flows.
    pub fn flows(&self) -> impl Iterator<Item = (OpId, &FlowOp)> {
        self.ops
            .iter()
            .enumerate()
            .filter_map(|(i, op)| match &op.kind {
                OpKind::Flow(f) => Some((u32::try_from(i).unwrap_or(u32::MAX), f)),
                _ => None,
            })
    }

    /// Number of flow ops.
    pub fn flow_count(&self) -> usize {
        self.flows().count()
    }

    /// Bytes sent by each rank (index = rank), over `ranks` ranks; flows filtered by `keep`.
    pub fn bytes_sent_per_rank(&self, ranks: u32, keep: impl Fn(&Op) -> bool) -> Vec<u64> {
        let mut out = vec![0u64; ranks as usize];
        for op in &self.ops {
            if let OpKind::Flow(f) = &op.kind
                && keep(op)
                && let Some(slot) = out.get_mut(f.src as usize)
            {
                *slot += f.bytes;
            }
        }
        out
    }
}

/// Duration model of a scale-up (NVLink-class) transfer: `latency_ns + bytes / bandwidth`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ScaleUp {
    /// Per-transfer latency in ns.
    pub latency_ns: u64,
    /// Unidirectional bandwidth per GPU in bytes per second.
    pub bandwidth_bytes_per_s: u64,
}

impl Default for ScaleUp {
    /// NVLink4-class: 450 GB/s per direction per GPU, 2 µs per transfer.
    fn default() -> Self {
        Self {
            latency_ns: 2_000,
            bandwidth_bytes_per_s: 450_000_000_000,
        }
    }
}

impl ScaleUp {
    /// Time to move `bytes` over scale-up, in ns.
    pub fn duration_ns(&self, bytes: u64) -> u64 {
        self.latency_ns + transfer_ns(bytes, self.bandwidth_bytes_per_s)
    }
}

/// `bytes / bandwidth` in ns, rounded up; 0 bandwidth gives `u64::MAX`.
pub fn transfer_ns(bytes: u64, bandwidth_bytes_per_s: u64) -> u64 {
    if bandwidth_bytes_per_s == 0 {
        return u64::MAX;
    }
    let ns = (u128::from(bytes) * 1_000_000_000).div_ceil(u128::from(bandwidth_bytes_per_s));
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// α–β cost model for [`execute`]: network flows take `alpha_ns + bytes / bandwidth`, scale-up
/// flows use [`ScaleUp`]. No contention: each flow runs at full rate.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AlphaBeta {
    /// Per-flow latency (α) in ns.
    pub alpha_ns: u64,
    /// Per-flow bandwidth (B) in bytes per second.
    pub bandwidth_bytes_per_s: u64,
    /// Scale-up transfer model.
    pub scale_up: ScaleUp,
}

impl AlphaBeta {
    /// Duration of one flow.
    pub fn flow_ns(&self, f: &FlowOp) -> u64 {
        if f.scale_up {
            self.scale_up.duration_ns(f.bytes)
        } else {
            self.alpha_ns + transfer_ns(f.bytes, self.bandwidth_bytes_per_s)
        }
    }
}

/// Start and finish time of every op of a DAG, in ns.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Timeline {
    /// Start time per op.
    pub start_ns: Vec<u64>,
    /// Finish time per op.
    pub finish_ns: Vec<u64>,
}

impl Timeline {
    /// Finish time of the last op (the critical path length when everything starts at 0).
    pub fn makespan_ns(&self) -> u64 {
        self.finish_ns.iter().copied().max().unwrap_or(0)
    }

    /// Completion time of each collective (finish of its end marker).
    pub fn collective_completion_ns(&self, dag: &Dag) -> Vec<u64> {
        dag.collectives
            .iter()
            .map(|c| self.finish_ns.get(c.end_op as usize).copied().unwrap_or(0))
            .collect()
    }
}

/// Run a DAG when the duration of each op is known in advance (no contention between flows and
/// no serialisation of compute on a rank beyond what the dependencies say): each op starts when
/// its last dependency finishes. `duration(id, op)` gives an op's duration in ns; markers get 0
/// regardless. The simulator instead reports real flow completion times and uses
/// [`finish_times`] logic itself.
pub fn execute(dag: &Dag, mut duration: impl FnMut(OpId, &Op) -> u64) -> Timeline {
    let n = dag.ops.len();
    let mut start_ns = vec![0u64; n];
    let mut finish_ns = vec![0u64; n];
    for (i, op) in dag.ops.iter().enumerate() {
        let s = op
            .deps
            .iter()
            .filter_map(|&d| finish_ns.get(d as usize).copied())
            .max()
            .unwrap_or(0);
        let id = u32::try_from(i).unwrap_or(u32::MAX);
        let d = match op.kind {
            OpKind::Marker => 0,
            _ => duration(id, op),
        };
        start_ns[i] = s;
        finish_ns[i] = s.saturating_add(d);
    }
    Timeline {
        start_ns,
        finish_ns,
    }
}

/// [`execute`] with an α–β model for flows and the nodes' own durations for compute.
pub fn execute_alpha_beta(dag: &Dag, model: &AlphaBeta) -> Timeline {
    execute(dag, |_, op| match &op.kind {
        OpKind::Flow(f) => model.flow_ns(f),
        OpKind::Compute { duration_ns, .. } => *duration_ns,
        OpKind::Marker => 0,
    })
}

/// Given the completion time of every flow as measured elsewhere (e.g. by the simulator), the
/// finish time of every op: compute nodes take their duration after their deps, markers finish
/// with their last dep, flows finish at `flow_finish_ns[id]` (which must not precede their deps).
pub fn finish_times(dag: &Dag, flow_finish_ns: impl Fn(OpId) -> u64) -> Timeline {
    let n = dag.ops.len();
    let mut start_ns = vec![0u64; n];
    let mut finish_ns = vec![0u64; n];
    for (i, op) in dag.ops.iter().enumerate() {
        let s = op
            .deps
            .iter()
            .filter_map(|&d| finish_ns.get(d as usize).copied())
            .max()
            .unwrap_or(0);
        let id = u32::try_from(i).unwrap_or(u32::MAX);
        start_ns[i] = s;
        finish_ns[i] = match op.kind {
            OpKind::Flow(_) => flow_finish_ns(id).max(s),
            OpKind::Compute { duration_ns, .. } => s.saturating_add(duration_ns),
            OpKind::Marker => s,
        };
    }
    Timeline {
        start_ns,
        finish_ns,
    }
}

/// Event-driven readiness tracking for a consumer that learns completions one at a time (the
/// simulator): call [`Tracker::take_ready`] to get ops that may start, and
/// [`Tracker::complete`] when one has finished. Markers never appear as ready: they complete
/// implicitly.
#[derive(Clone, Debug)]
pub struct Tracker {
    pending: Vec<u32>,
    dependents: Vec<Vec<OpId>>,
    ready: Vec<OpId>,
    done: Vec<bool>,
    remaining: usize,
    is_marker: Vec<bool>,
}

impl Tracker {
    /// Start tracking a DAG; ops without dependencies are ready at once.
    pub fn new(dag: &Dag) -> Self {
        let n = dag.ops.len();
        let mut pending = vec![0u32; n];
        let mut dependents: Vec<Vec<OpId>> = vec![Vec::new(); n];
        let mut is_marker = vec![false; n];
        for (i, op) in dag.ops.iter().enumerate() {
            pending[i] = u32::try_from(op.deps.len()).unwrap_or(u32::MAX);
            is_marker[i] = matches!(op.kind, OpKind::Marker);
            for &d in &op.deps {
                if let Some(v) = dependents.get_mut(d as usize) {
                    v.push(u32::try_from(i).unwrap_or(u32::MAX));
                }
            }
        }
        let mut t = Self {
            pending,
            dependents,
            ready: Vec::new(),
            done: vec![false; n],
            remaining: n,
            is_marker,
        };
        // Collect the roots first: completing a root marker releases later ops itself.
        let roots: Vec<OpId> = (0..n)
            .filter(|&i| t.pending[i] == 0)
            .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
            .collect();
        for id in roots {
            t.became_ready(id);
        }
        t
    }

    fn became_ready(&mut self, id: OpId) {
        if self.is_marker[id as usize] {
            self.complete(id);
        } else {
            self.ready.push(id);
        }
    }

    /// Ops (flows and compute) that became ready since the last call, in id order of release.
    #[must_use]
    pub fn take_ready(&mut self) -> Vec<OpId> {
        std::mem::take(&mut self.ready)
    }

    /// Record that `id` has completed; releases its dependents.
    pub fn complete(&mut self, id: OpId) {
        let i = id as usize;
        if i >= self.done.len() || self.done[i] {
            return;
        }
        self.done[i] = true;
        self.remaining -= 1;
        let deps = std::mem::take(&mut self.dependents[i]);
        for d in deps {
            let p = &mut self.pending[d as usize];
            *p -= 1;
            if *p == 0 {
                self.became_ready(d);
            }
        }
    }

    /// Whether `id` has completed.
    pub fn is_done(&self, id: OpId) -> bool {
        self.done.get(id as usize).copied().unwrap_or(false)
    }

    /// True when every op has completed.
    pub fn all_done(&self) -> bool {
        self.remaining == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn critical_path_of_diamond() {
        let mut d = Dag::new();
        let a = d.compute(0, 10, vec![]);
        let b = d.flow(0, 1, 1_000, vec![a]); // 1000 B at 1 GB/s = 1000 ns (+α 5)
        let c = d.compute(0, 50, vec![a]);
        let m = d.marker(vec![b, c]);
        let e = d.compute(1, 7, vec![m]);
        let model = AlphaBeta {
            alpha_ns: 5,
            bandwidth_bytes_per_s: 1_000_000_000,
            scale_up: ScaleUp::default(),
        };
        let t = execute_alpha_beta(&d, &model);
        assert_eq!(t.finish_ns[b as usize], 10 + 1_005);
        assert_eq!(t.finish_ns[e as usize], 10 + 1_005 + 7);
        assert_eq!(t.makespan_ns(), 1_022);
        let t2 = finish_times(&d, |_| 100);
        assert_eq!(t2.finish_ns[e as usize], 100 + 7);
    }

    #[test]
    fn tracker_releases_in_dependency_order() {
        let mut d = Dag::new();
        let a = d.flow(0, 1, 1, vec![]);
        let b = d.flow(1, 2, 1, vec![]);
        let m = d.marker(vec![a, b]);
        let c = d.compute(2, 1, vec![m]);
        let mut t = Tracker::new(&d);
        assert_eq!(t.take_ready(), vec![a, b]);
        t.complete(a);
        assert!(t.take_ready().is_empty());
        t.complete(b);
        assert!(t.is_done(m));
        assert_eq!(t.take_ready(), vec![c]);
        t.complete(c);
        assert!(t.all_done());
    }

    #[test]
    fn tracker_root_marker_releases_each_op_once() {
        let mut d = Dag::new();
        let m = d.marker(vec![]);
        let a = d.flow(0, 1, 1, vec![m]);
        let b = d.compute(0, 1, vec![m]);
        let mut t = Tracker::new(&d);
        assert!(t.is_done(m));
        assert_eq!(t.take_ready(), vec![a, b]);
        t.complete(a);
        t.complete(b);
        assert!(t.all_done());
        assert!(t.take_ready().is_empty());
    }

    #[test]
    fn transfer_rounds_up() {
        assert_eq!(transfer_ns(1, 1_000_000_000), 1);
        assert_eq!(transfer_ns(3, 2_000_000_000), 2);
        assert_eq!(transfer_ns(0, 0), u64::MAX);
    }
}
