//! Partitions of one run (`docs/design.md` §3, partitioned runs): which partition owns each
//! node, the messages that cross a cable between partitions, and the window loop that runs
//! them on threads.
//!
//! Conservative, windowed synchronisation: every partition runs the events before the window's
//! end, the partitions swap what crossed a cable, and the next window starts at the earliest
//! pending event of any partition, one lookahead long. The lookahead is the shortest cable
//! latency of the fabric, so nothing sent in a window arrives before its end. Every run uses
//! the same windows whatever the partition count (the lookahead does not depend on which
//! cables cross), events pop by content ([`crate::kernel::Tie`]), and a run stops only at a
//! window's end, so the output is the same for any count.
//!
//! Each partition is a whole `Sim` that runs only its own nodes: the fabric, routes, flows and
//! failures are built in every one; failure actions and flow starts run in all of them (each
//! doing its own nodes' part); packets and PFC frames cross as messages.

use std::sync::{Arc, Barrier, Mutex};

use mrc_fabric::{NodeId, NodeKind, Topology};

use crate::factory::TransportFactory;
use crate::kernel::Time;
use crate::report::RunReport;

use super::ids::{FlowId, Id as _, PairId, PortId};
use super::net::{Meta, Pkt};
use super::{Ev, Progress, Sim, SimError};
use crate::config::RunSpec;

/// Messages for each partition, with their arrival times.
type Outbox = Vec<Vec<(Time, Msg)>>;

/// What crosses a cable into another partition.
#[derive(Clone, Copy, Debug)]
pub(super) enum Msg {
    /// A packet sent on egress `port`, whose far end the receiving partition owns.
    Packet { port: PortId, pkt: Pkt, meta: Meta },
    /// An event of a node the receiving partition owns (a PFC frame).
    Event(Ev),
}

/// This partition's share of the run.
#[derive(Debug)]
pub(super) struct Part {
    /// This partition.
    pub(super) me: u16,
    /// The partition of every node (empty when there is one).
    owner: Arc<Vec<u16>>,
    /// Messages for each partition since the last barrier, with their arrival times.
    outbox: Outbox,
    /// Events this partition popped that every partition runs (failures, flow starts): the
    /// run's event count counts them once.
    pub(super) replicated: u64,
    /// Events and the latest event time of the partitions merged into this one ([`Sim::absorb`]).
    absorbed_events: u64,
    latest: Time,
}

impl Part {
    /// The one partition of an unsplit run.
    pub(super) fn whole() -> Self {
        Self {
            me: 0,
            owner: Arc::default(),
            outbox: Vec::new(),
            replicated: 0,
            absorbed_events: 0,
            latest: 0,
        }
    }

    /// The partition owning `node`.
    #[inline]
    pub(super) fn owner(&self, node: NodeId) -> u16 {
        self.owner.get(node.index()).copied().unwrap_or(0)
    }

    /// Whether this partition runs `node`.
    #[inline]
    pub(super) fn mine(&self, node: NodeId) -> bool {
        self.owner(node) == self.me
    }

    /// Queues `msg` for partition `to`, due at `at`.
    pub(super) fn send(&mut self, to: u16, at: Time, msg: Msg) {
        self.outbox[usize::from(to)].push((at, msg));
    }
}

/// Assigns every node of `topo` to one of `count` partitions: NICs in contiguous blocks (a
/// fat tree's pods, a Clos's T0 groups), then each switch, tier by tier, to the partition
/// holding a majority of its lower-tier neighbours (a fat tree's edge and aggregation
/// switches, a Clos's T0s), or round-robin when none does (cores, spines: they connect every
/// block alike).
pub(super) fn assign(topo: &Topology, count: u16) -> Vec<u16> {
    let nodes = topo.nodes();
    let nics = topo.nic_count();
    let mut owner = vec![u16::MAX; nodes.len()];
    for n in 0..nics {
        owner[n as usize] = (u64::from(n) * u64::from(count) / u64::from(nics.max(1))) as u16;
    }
    let tier = |n: usize| match nodes[n].kind {
        NodeKind::Nic { .. } => 0,
        NodeKind::Switch { tier, .. } => u32::from(tier) + 1,
    };
    let mut switches: Vec<usize> = (nics as usize..nodes.len()).collect();
    switches.sort_by_key(|&n| (tier(n), n));
    let mut round_robin = 0u16;
    let mut votes = vec![0u32; usize::from(count)];
    for n in switches {
        votes.iter_mut().for_each(|v| *v = 0);
        let mut voters = 0;
        for l in topo.ports(NodeId(n as u32)).iter().flatten() {
            let other = topo.link(*l).other(NodeId(n as u32)).node.index();
            if owner[other] != u16::MAX && tier(other) < tier(n) {
                votes[usize::from(owner[other])] += 1;
                voters += 1;
            }
        }
        owner[n] = match votes.iter().position(|&v| 2 * v > voters) {
            Some(p) => p as u16,
            None => {
                round_robin = (round_robin + 1) % count;
                round_robin
            }
        };
    }
    owner
}

impl<F: TransportFactory> Sim<F> {
    /// Makes this simulation partition `me` of `owner`'s split.
    pub(super) fn join(&mut self, me: u16, owner: Arc<Vec<u16>>) {
        let count = owner.iter().copied().max().map_or(1, |m| m + 1);
        self.part = Part {
            me,
            owner,
            outbox: vec![Vec::new(); usize::from(count)],
            ..Part::whole()
        };
        for g in 0..self.net.ports.len() {
            let g = PortId::new(g);
            let p = &self.net.ports[g];
            let remote = !p.rev.is_none() && self.part.mine(p.node) && !self.part.mine(p.peer);
            self.net.ports[g].remote = remote;
        }
    }

    /// Whether this partition runs NIC `nic`.
    #[inline]
    pub(super) fn owns_nic(&self, nic: u32) -> bool {
        self.part.mine(NodeId(nic))
    }

    /// Takes delivery of what other partitions sent for the next window.
    fn receive(&mut self, msgs: Vec<(Time, Msg)>) {
        for (at, msg) in msgs {
            match msg {
                Msg::Packet { port, pkt, meta } => {
                    let pk = self.net.alloc(pkt, meta);
                    self.launch(port, pk, at);
                }
                Msg::Event(ev) => self.q.schedule(at, ev),
            }
        }
    }
}

/// What one partition tells the others at a barrier.
#[derive(Clone, Copy, Debug, Default)]
struct Status {
    /// Its earliest pending event.
    next: Option<Time>,
    flows_done: u64,
    events: u64,
    /// A DAG run's end (its last op done, or a QP error).
    finished: bool,
}

/// Runs partitions `parts` (from [`Sim::partitions`]) to the end, each on a thread of its own
/// (the first on the calling thread, which reports `progress`), and merges them into
/// `parts[0]`, whose report it returns.
pub(super) fn run_threads<F>(parts: &mut [Sim<F>], progress: &mut dyn FnMut(Progress)) -> RunReport
where
    F: TransportFactory,
    Sim<F>: Send,
{
    let wall = std::time::Instant::now();
    let sync = Exchange::new(parts.len());
    std::thread::scope(|s| {
        let (first, rest) = parts.split_first_mut().expect("at least one partition");
        for sim in rest {
            let sync = &sync;
            s.spawn(move || sim.run_partition(sync, &mut |_| {}));
        }
        first.run_partition(&sync, progress);
    });
    // The timelines first: each partition samples its own ports and QPs, which merging moves.
    let total = parts[0].work.flows.len() as u64;
    let end = if parts.iter().map(|p| p.work.flows_done).sum::<u64>() == total {
        parts.iter().map(Sim::last_flow_end).max()
    } else {
        parts.iter().map(|p| p.q.now()).max()
    };
    let end = end.unwrap_or(0);
    let mut timelines = parts.iter_mut().map(|p| p.rec_timeline(end));
    let mut tl = timelines.next().unwrap_or_default();
    timelines.for_each(|o| tl.add(&o));
    let (first, rest) = parts.split_first_mut().expect("at least one partition");
    for other in rest.iter_mut() {
        first.absorb(other);
    }
    let mut rep = first.report(wall.elapsed().as_secs_f64());
    debug_assert_eq!(rep.sim_time_ps, end);
    rep.timeline = tl;
    rep
}

/// What the partitions' threads share: a barrier, each partition's outbox of the last window
/// (by destination) and each one's status.
pub(super) struct Exchange {
    barrier: Barrier,
    mail: Vec<Mutex<Outbox>>,
    status: Vec<Mutex<Status>>,
}

impl Exchange {
    /// The exchange of `n` partitions.
    pub(super) fn new(n: usize) -> Self {
        Self {
            barrier: Barrier::new(n),
            mail: (0..n).map(|_| Mutex::default()).collect(),
            status: (0..n).map(|_| Mutex::default()).collect(),
        }
    }
}

/// Locks `m`; a poisoned lock means another partition's thread panicked, which the scope
/// re-raises.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<F: TransportFactory> Sim<F> {
    /// One partition's window loop: run the window, post the outbox, take the inbox, agree on
    /// the next window (or the end) with the others.
    pub(super) fn run_partition(&mut self, ex: &Exchange, progress: &mut dyn FnMut(Progress)) {
        let me = usize::from(self.part.me);
        let n = ex.mail.len();
        let total = self.work.flows.len() as u64;
        let mut end = None;
        loop {
            if let Some(end) = end {
                self.run_until(end);
            }
            if n > 1 {
                *lock(&ex.mail[me]) = std::mem::replace(&mut self.part.outbox, vec![Vec::new(); n]);
                ex.barrier.wait();
                for from in &ex.mail {
                    let msgs = std::mem::take(&mut lock(from)[me]);
                    self.receive(msgs);
                }
            }
            *lock(&ex.status[me]) = Status {
                next: self.q.peek_time(),
                flows_done: self.work.flows_done,
                events: self.q.popped(),
                finished: self.dag.is_some() && self.finished(total),
            };
            ex.barrier.wait();
            let all: Vec<Status> = ex.status.iter().map(|s| *lock(s)).collect();
            let next = all.iter().filter_map(|s| s.next).min();
            let done: u64 = all.iter().map(|s| s.flows_done).sum();
            let finished = all.iter().any(|s| s.finished) || (total > 0 && done == total);
            match next {
                Some(t) if t <= self.spec.max_time_ps && !finished => {
                    end = Some(self.window_end(t));
                    progress(Progress {
                        sim_time_ps: t,
                        flows_done: done,
                        flows_total: total,
                        events: all.iter().map(|s| s.events).sum(),
                    });
                }
                _ => break,
            }
        }
    }
}

impl<F: TransportFactory> Sim<F> {
    /// Takes over what partition `other` ran: its nodes' port and switch counters, its NICs
    /// (with their QPs), its ends of flows and pairs, its counters and events.
    fn absorb(&mut self, other: &mut Self) {
        let them = other.part.me;
        let theirs = |node: NodeId| other.part.owner(node) == them;
        for n in 0..self.net.node_up.len() {
            let node = NodeId::new(n);
            if !theirs(node) {
                continue;
            }
            for g in self.net.ports_of(node) {
                let (p, o) = (&mut self.net.ports[g], &other.net.ports[g]);
                p.tx_bytes = o.tx_bytes;
                p.tx_pkts = o.tx_pkts;
                p.busy_ps = o.busy_ps;
                p.data_bytes = o.data_bytes;
                p.ctrl_bytes = o.ctrl_bytes;
            }
            self.sw.counters[node] = other.sw.counters[node];
            if self.is_nic(node) {
                std::mem::swap(&mut self.nic.layer[n], &mut other.nic.layer[n]);
                self.nic.tx_payload[n] = other.nic.tx_payload[n];
                self.nic.rx_payload[n] = other.nic.rx_payload[n];
            }
        }
        for (i, spec) in self.spec.workload.flows.iter().enumerate() {
            let (f, o) = (
                &mut self.work.flows[FlowId::new(i)],
                &other.work.flows[FlowId::new(i)],
            );
            if theirs(NodeId(spec.src)) {
                (f.pending, f.done, f.ok) = (o.pending, o.done, o.ok);
            }
            if theirs(NodeId(spec.dst)) {
                f.recv_pending = o.recv_pending;
            }
        }
        for i in 0..self.work.pairs.len() {
            let (p, o) = (
                &mut self.work.pairs[PairId::new(i)],
                &mut other.work.pairs[PairId::new(i)],
            );
            if theirs(NodeId(p.src.0)) {
                (p.done, p.ok) = (o.done, o.ok);
            }
            if theirs(NodeId(p.dst.0)) {
                p.covered = o.covered;
                std::mem::swap(&mut p.seen, &mut o.seen);
            }
        }
        self.work.flows_done += other.work.flows_done;
        self.count.add(&other.count);
        for (k, o) in self.kinds.iter_mut().zip(other.kinds) {
            *k += o;
        }
        self.kinds[3] -= other.part.replicated;
        self.part.absorbed_events += other.q.popped() - other.part.replicated;
        self.part.latest = self.part.latest.max(other.q.now());
        self.ev_log.append(&mut other.ev_log);
    }

    /// Events processed by every partition so far (each replicated one once).
    pub(super) fn events(&self) -> u64 {
        self.q.popped() + self.part.absorbed_events
    }

    /// Time of the last event any partition processed.
    pub(super) fn latest(&self) -> Time {
        self.q.now().max(self.part.latest)
    }
}

/// A run split into partitions that run on threads of their own; one partition is the plain
/// run. After [`Partitions::run`] the first holds the merged state (port and switch counters).
pub struct Partitions<F: TransportFactory>(Vec<Sim<F>>);

impl<F: TransportFactory + Clone> Partitions<F> {
    /// Builds the run of `spec` split into `count` partitions (at most one per NIC), or whole
    /// when it cannot be split, with the reason: a cable without latency leaves no lookahead,
    /// and a trigger starts a flow the instant another one ends, at any NIC.
    pub fn new(
        spec: RunSpec,
        factory: F,
        count: usize,
    ) -> Result<(Self, Option<&'static str>), SimError> {
        let first = Sim::new(spec.clone(), factory.clone())?;
        let count = count.min(first.nics as usize).min(usize::from(u16::MAX));
        let why = if count <= 1 {
            return Ok((Self(vec![first]), None));
        } else if first.lookahead == 0 {
            Some("a cable has no latency, so partitions could not run ahead of each other")
        } else if !first.work.triggers.is_empty() {
            Some("its flows start on triggers, at any NIC the instant another flow ends")
        } else {
            None
        };
        if why.is_some() {
            return Ok((Self(vec![first]), why));
        }
        let owner = Arc::new(assign(first.fabric.topo(), count as u16));
        let mut parts = vec![first];
        for _ in 1..count {
            parts.push(Sim::new(spec.clone(), factory.clone())?);
        }
        for (me, sim) in parts.iter_mut().enumerate() {
            sim.join(me as u16, Arc::clone(&owner));
        }
        Ok((Self(parts), None))
    }
}

impl<F: TransportFactory> Partitions<F> {
    /// A run that is not split.
    pub fn whole(sim: Sim<F>) -> Self {
        Self(vec![sim])
    }

    /// The number of partitions.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none (never: there is at least one).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first partition: the whole run if unsplit, the merged state after a run.
    pub fn first(&self) -> &Sim<F> {
        &self.0[0]
    }

    /// The first partition, to set up the unsplit run (packet capture, watched flow).
    pub fn first_mut(&mut self) -> &mut Sim<F> {
        &mut self.0[0]
    }

    /// Logs the EV state changes of `flow` ([`Sim::watch_ev_changes`]) in every partition.
    pub fn watch_ev_changes(&mut self, flow: u32) {
        self.0.iter_mut().for_each(|s| s.watch_ev_changes(flow));
    }

    /// Runs to completion or the time limit and returns the report, the same for any number
    /// of partitions.
    pub fn run(&mut self, progress: &mut dyn FnMut(Progress)) -> RunReport
    where
        Sim<F>: Send,
    {
        if self.0.len() == 1 {
            self.0[0].run(progress)
        } else {
            run_threads(&mut self.0, progress)
        }
    }
}
