//! Partitions of one run (`docs/architecture.md` §3, partitioned runs): which partition owns each
//! node, the messages that cross a cable between partitions, and the window loop, written
//! once over how partitions meet ([`Meet`]): threads of one process here, MPI ranks in
//! `mpi` (feature `mpi`). A finished partition hands partition 0 a plain-data share of what
//! it owns (`share`), which partition 0 merges and reports.
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

use super::ids::{Id as _, PortId};
use super::net::{Meta, Pkt};
use super::share::{QpSums, Share};
use super::{Ev, Progress, Sim, SimError};
use crate::config::RunSpec;

/// Messages for each partition, with their arrival times.
pub(super) type Outbox = Vec<Vec<(Time, Msg)>>;

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
    /// Events, the latest event time, the QP statistics and the placement check of the
    /// partitions merged into this one ([`Sim::merge`]).
    pub(super) absorbed_events: u64,
    pub(super) latest: Time,
    pub(super) absorbed_qp: QpSums,
    pub(super) placed_ok: bool,
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
            absorbed_qp: QpSums::default(),
            placed_ok: true,
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Status {
    /// The earliest event it has pending or sends: the earliest it has once every partition
    /// took delivery (a message schedules its arrival, or a packet ahead of it on the same
    /// cable arrives earlier), so the status goes out with the messages, in one meeting.
    pub(super) next: Option<Time>,
    pub(super) flows_done: u64,
    pub(super) events: u64,
    /// A DAG run's end (its last op done, or a QP error).
    pub(super) finished: bool,
    /// Once the run stopped (else 0): when its last flow ended, and its last event's time.
    pub(super) last_end: Time,
    pub(super) now: Time,
}

/// How the partitions of a run meet at a window's barrier: threads of one process
/// ([`Local`]) or processes (MPI ranks), so the window loop ([`Sim::run_partition`]) is
/// written once. Every call is collective: all partitions make the same calls in one order.
pub(super) trait Meet {
    /// The number of partitions.
    fn count(&self) -> usize;
    /// Posts this partition's messages (`out`, by destination partition; one list per
    /// partition, or none at all when there is one) and status; returns what the others
    /// posted for it (by source) and every partition's status (by partition).
    fn meet(&mut self, out: Outbox, st: Status) -> (Vec<Vec<(Time, Msg)>>, Vec<Status>);
}

/// Runs partitions `parts` (from [`Partitions::new`]) to the end, each on a thread of its own
/// (the first on the calling thread, which reports `progress`), and merges the others'
/// shares into `parts[0]`, whose report it returns.
pub(super) fn run_threads<F>(parts: &mut [Sim<F>], progress: &mut dyn FnMut(Progress)) -> RunReport
where
    F: TransportFactory,
    Sim<F>: Send,
{
    let wall = std::time::Instant::now();
    let ex = Exchange::new(parts.len());
    let (first, rest) = parts.split_first_mut().expect("at least one partition");
    let (end, shares) = std::thread::scope(|s| {
        let ex = &ex;
        let handles: Vec<_> = rest
            .iter_mut()
            .map(|sim| {
                s.spawn(move || {
                    let mut local = Local::new(ex, usize::from(sim.part.me));
                    let end = sim.run_partition(&mut local, &mut |_| {});
                    sim.share(end)
                })
            })
            .collect();
        let end = first.run_partition(&mut Local::new(ex, 0), progress);
        let shares: Vec<Share> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect();
        (end, shares)
    });
    first.merged_report(end, &shares, wall)
}

/// What the partitions' threads share: a barrier, each partition's outbox of the last meeting
/// (by destination) and its status. Two slots of each: successive meetings alternate, so a
/// partition that is ahead never overwrites what a slower one has still to read (it passed a
/// barrier since, which the slower one reached after reading).
pub(super) struct Exchange {
    barrier: Barrier,
    mail: [Vec<Mutex<Outbox>>; 2],
    status: [Vec<Mutex<Status>>; 2],
}

impl Exchange {
    /// The exchange of `n` partitions.
    pub(super) fn new(n: usize) -> Self {
        fn slots<T: Default>(n: usize) -> Vec<Mutex<T>> {
            (0..n).map(|_| Mutex::default()).collect()
        }
        Self {
            barrier: Barrier::new(n),
            mail: [slots(n), slots(n)],
            status: [slots(n), slots(n)],
        }
    }
}

/// One partition's side of an [`Exchange`]: which it is, and how many times it met (the
/// parity picks the slots).
pub(super) struct Local<'a> {
    ex: &'a Exchange,
    me: usize,
    meetings: usize,
}

impl<'a> Local<'a> {
    /// Partition `me`'s side of `ex`.
    pub(super) fn new(ex: &'a Exchange, me: usize) -> Self {
        Self {
            ex,
            me,
            meetings: 0,
        }
    }
}

/// Locks `m`; a poisoned lock means another partition's thread panicked, which the scope
/// re-raises.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Meet for Local<'_> {
    fn count(&self) -> usize {
        self.ex.status[0].len()
    }

    /// Messages pass as they are, no copy beyond the move into and out of the slot; one
    /// barrier per meeting, none for a single partition.
    fn meet(&mut self, out: Outbox, st: Status) -> (Vec<Vec<(Time, Msg)>>, Vec<Status>) {
        if self.count() == 1 {
            return (Vec::new(), vec![st]);
        }
        let slot = self.meetings % 2;
        self.meetings += 1;
        let (mail, status) = (&self.ex.mail[slot], &self.ex.status[slot]);
        *lock(&mail[self.me]) = out;
        *lock(&status[self.me]) = st;
        self.ex.barrier.wait();
        let inbox = mail
            .iter()
            .map(|from| std::mem::take(&mut lock(from)[self.me]))
            .collect();
        (inbox, status.iter().map(|s| *lock(s)).collect())
    }
}

impl<F: TransportFactory> Sim<F> {
    /// One partition's window loop: run the window, post the outbox, take the inbox, agree on
    /// the next window (or the end) with the others. Returns the run's end (agreed by all):
    /// when the last flow ended if every flow did, else the last event's time anywhere.
    pub(super) fn run_partition(
        &mut self,
        meet: &mut dyn Meet,
        progress: &mut dyn FnMut(Progress),
    ) -> Time {
        let n = meet.count();
        let total = self.work.flows.len() as u64;
        let mut end = None;
        loop {
            if let Some(end) = end {
                self.run_until(end);
            }
            let sent = self.part.outbox.iter().flatten().map(|&(at, _)| at).min();
            let st = Status {
                next: self.q.peek_time().into_iter().chain(sent).min(),
                flows_done: self.work.flows_done,
                events: self.q.popped(),
                finished: self.dag.is_some() && self.finished(total),
                ..Status::default()
            };
            let (inbox, all) = meet.meet(self.take_outbox(n), st);
            for msgs in inbox {
                self.receive(msgs);
            }
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
        self.run_end(meet, total)
    }

    /// The end of a stopped run, agreed by all partitions (each knows only its own flows'
    /// ends): when the last flow ended if every flow did, else the last event's time.
    fn run_end(&mut self, meet: &mut dyn Meet, total: u64) -> Time {
        let st = Status {
            flows_done: self.work.flows_done,
            last_end: self.last_flow_end(),
            now: self.q.now(),
            ..Status::default()
        };
        let (_, all) = meet.meet(self.take_outbox(meet.count()), st);
        let ends = if all.iter().map(|s| s.flows_done).sum::<u64>() == total {
            all.iter().map(|s| s.last_end).max()
        } else {
            all.iter().map(|s| s.now).max()
        };
        ends.unwrap_or(0)
    }

    /// The messages for the `n` partitions since the last meeting (none when unsplit).
    fn take_outbox(&mut self, n: usize) -> Outbox {
        if n > 1 {
            std::mem::replace(&mut self.part.outbox, vec![Vec::new(); n])
        } else {
            Vec::new()
        }
    }

    /// Partition 0's report of a split run that ended at `end`, with the other partitions'
    /// `shares` merged in; `wall` is when the run started.
    pub(super) fn merged_report(
        &mut self,
        end: Time,
        shares: &[Share],
        wall: std::time::Instant,
    ) -> RunReport {
        // The timeline first: it samples this partition's own ports, which merging overwrites.
        let mut tl = self.rec_timeline(end);
        for s in shares {
            tl.add(&s.timeline);
            self.merge(s);
        }
        let mut rep = self.report(wall.elapsed().as_secs_f64());
        debug_assert_eq!(rep.sim_time_ps, end);
        rep.timeline = tl;
        rep
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

/// A run split into partitions that run on threads of their own (or, with feature `mpi`, this
/// rank's partition of a run split over MPI ranks); one partition is the plain run. After
/// [`Partitions::run`] the first holds the merged state (port and switch counters).
pub struct Partitions<F: TransportFactory>(pub(super) Vec<Sim<F>>);

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
        if count <= 1 {
            return Ok((Self(vec![first]), None));
        }
        if let Some(why) = first.unsplittable() {
            return Ok((Self(vec![first]), Some(why)));
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

impl<F: TransportFactory> Sim<F> {
    /// Why this run cannot be split, if it cannot: a cable without latency leaves no
    /// lookahead, and a trigger starts a flow the instant another one ends, at any NIC.
    fn unsplittable(&self) -> Option<&'static str> {
        if self.lookahead == 0 {
            Some("a cable has no latency, so partitions could not run ahead of each other")
        } else if !self.work.triggers.is_empty() {
            Some("its flows start on triggers, at any NIC the instant another flow ends")
        } else {
            None
        }
    }
}

#[cfg(feature = "mpi")]
impl<F: TransportFactory> Partitions<F> {
    /// This rank's partition of the run of `spec` split over all of `world`'s ranks (one
    /// partition each, as [`Partitions::new`] assigns them), or the whole run when it cannot
    /// be split, with the reason; every rank decides alike.
    pub fn for_rank(
        spec: RunSpec,
        factory: F,
        world: &super::mpi::MpiWorld,
    ) -> Result<(Self, Option<&'static str>), SimError> {
        let mut sim = Sim::new(spec, factory)?;
        let count = world.size();
        let why = if count > sim.nics as usize || count > usize::from(u16::MAX) {
            Some("there are more ranks than NICs")
        } else {
            sim.unsplittable()
        };
        if count > 1 && why.is_none() {
            let owner = Arc::new(assign(sim.fabric.topo(), count as u16));
            sim.join(world.rank() as u16, owner);
        }
        Ok((Self(vec![sim]), why.filter(|_| count > 1)))
    }

    /// Runs a run made by [`Partitions::for_rank`] on every rank: split, each rank runs its
    /// partition; whole, rank 0 runs it and the others skip it. Returns the report on rank 0
    /// (which alone calls `progress`), `None` on the others.
    pub fn run_mpi(
        &mut self,
        world: &mut super::mpi::MpiWorld,
        progress: &mut dyn FnMut(Progress),
    ) -> Option<RunReport> {
        let sim = &mut self.0[0];
        if sim.part.owner.is_empty() {
            return (world.rank() == 0).then(|| sim.run(progress));
        }
        sim.run_rank(world, progress)
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
