//! The simulator proper: ports, switches, NICs, failures, flows and the event loop.
//!
//! Every link direction is an egress `Port` with a strict-priority control queue and a
//! byte-accounted data queue. A packet costs two events per hop: `TxDone` when its last bit
//! leaves the port (the port starts the next packet) and `Arrive` one propagation delay later.
//!
//! Every NIC is an `mrc_proto::nic::Nic` over `SimQp`s, driven as `mrc-net` drives it:
//! arriving packets go through its demux (peer = source NIC index), port failures through its
//! port status, each transmit opportunity (a NIC port idle) asks it for the next packet over
//! the ready ports, and each QP has a `Timer` event of its own (`Nic::handle_timeout_of`; one
//! event per NIC for its earliest deadline would run a NIC's timers of one instant together,
//! before it sends anything, and so change the results).
//!
//! This file holds [`Sim`], its events and the event loop ([`Sim::run`]); the rest is split
//! by job (`docs/architecture.md` §3, simulator module map): `build` (constructor), `net` (ports,
//! packets, links), `switch` (queueing), `routing` (forwarding), `nic` (NICs and QP timers),
//! `flows` (one-shot workloads), `failures`, `report`, and [`dag`], `conns`, [`record`],
//! [`tap`].

use mrc_fabric::NodeId;
use mrc_proto::Instant;
use mrc_proto::nic::QpId;

use crate::config::RunSpec;
use crate::factory::{FabricInfo, Routing, TransportFactory};
use crate::kernel::{EventQueue, PS_PER_NS, Tie, Time};
use crate::qp::SimQp;
use crate::report::{EvChange, RunReport};

/// Bytes added to every packet on the wire besides the MRC packet: Ethernet header + FCS (18),
/// IPv6 (40), UDP (8).
pub const OVERHEAD_BYTES: u32 = 66;
/// Extra bytes of the outer IPv6 header of SRv6 encapsulation.
pub const SRV6_ENCAP_BYTES: u32 = 40;

const NONE: u32 = u32::MAX;

mod build;
#[cfg(any(test, feature = "mpi"))]
mod codec;
mod conns;
pub mod dag;
mod failures;
mod flows;
mod ids;
#[cfg(feature = "mpi")]
mod mpi;
mod net;
mod nic;
mod part;
pub mod record;
mod report;
mod routing;
mod share;
mod switch;
pub mod tap;

use build::Fabric;
use failures::Failures;
use flows::Work;
pub(crate) use ids::PairId;
use ids::{FlowId, PortId};
#[cfg(feature = "mpi")]
pub use mpi::MpiWorld;
use net::Net;
use nic::Nics;
pub use part::Partitions;
use report::Counters;
pub use report::PortCounters;
use routing::Routes;
use switch::Switches;

/// Errors building a simulation.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The fabric parameters are impossible.
    #[error("fabric: {0}")]
    Fabric(#[from] mrc_fabric::ParamError),
    /// A failure names something the fabric does not have.
    #[error("failure {index}: {msg}")]
    BadFailure {
        /// Index of the failure in the run's list.
        index: usize,
        /// What was wrong.
        msg: String,
    },
    /// A flow names a NIC the fabric does not have, or similar.
    #[error("workload: {0}")]
    BadWorkload(String),
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    Arrive {
        port: PortId,
    },
    TxDone {
        port: PortId,
    },
    /// The timer of one QP ([`qp_end`]).
    Timer {
        ep: u32,
    },
    FlowStart {
        flow: FlowId,
    },
    Action {
        idx: u32,
    },
    Reroute {
        idx: u32,
    },
    /// A PFC pause or resume reaches the upstream egress `port`; `seq` counts the frames the
    /// sending ingress port has sent, so of two arriving at one instant the later one wins
    /// whatever order they run in.
    Pfc {
        port: PortId,
        pause: bool,
        seq: u16,
    },
    /// A timed op of a workload DAG (compute, scale-up transfer) finishes.
    Op {
        op: u32,
    },
}

impl Tie for Ev {
    /// Events of one time run failures first, then PFC, arrivals, transmit-done, timers, flow
    /// starts and DAG ops; within a kind by the port, QP end, flow or index they name. Two
    /// events with one tie are the same event (a stale timer and its re-arm), so either may
    /// run first.
    fn tie(&self) -> u64 {
        const KIND: u32 = 50;
        let (kind, id): (u64, u64) = match *self {
            Self::Action { idx } => (0, idx.into()),
            Self::Reroute { idx } => (1, idx.into()),
            Self::Pfc { port, pause, seq } => (
                2,
                u64::from(port.0) << 17 | u64::from(seq) << 1 | u64::from(pause),
            ),
            Self::Arrive { port } => (3, port.0.into()),
            Self::TxDone { port } => (4, port.0.into()),
            Self::Timer { ep } => (5, ep.into()),
            Self::FlowStart { flow } => (6, flow.0.into()),
            Self::Op { op } => (7, op.into()),
        };
        kind << KIND | id
    }
}

/// Progress of a running simulation (for progress bars).
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Simulated time in ps.
    pub sim_time_ps: Time,
    /// Flows finished.
    pub flows_done: u64,
    /// Flows in the workload.
    pub flows_total: u64,
    /// Events processed.
    pub events: u64,
}

/// A simulation of one transport over one fabric.
pub struct Sim<F: TransportFactory> {
    factory: F,
    fabric: Fabric,
    spec: RunSpec,
    /// Fabric figures handed to the transports.
    info: FabricInfo,
    routing: Routing,
    /// NICs in the fabric (they are nodes `0..nics`; switches follow).
    nics: u32,
    /// Ports per NIC (one lane per plane).
    planes: u32,
    q: EventQueue<Ev>,
    /// Ports, packets, links and node status.
    net: Net,
    /// Conventional routing: per-switch ECMP lists and what reconvergence has routed around.
    routes: Routes,
    /// Switch queue limits, ECN marking and per-switch counters.
    sw: Switches,
    /// The NIC layer of every NIC and the timers of its QPs.
    nic: Nics<F::Conn>,
    /// Flows, QP pairs and triggers of the workload.
    work: Work,
    /// Resolved failure targets and the scheduled changes.
    fail: Failures,
    /// Run-wide packet counters.
    count: Counters,
    /// Events processed by kind (`event_counts`).
    kinds: [u64; 4],
    dag: Option<Box<dag::DagState>>,
    /// The flow whose EV state changes are logged, and the log (`watch_ev_changes`).
    ev_watch: Option<FlowId>,
    ev_log: Vec<EvChange>,
    /// Time series for plots (`record`).
    rec: record::Recorder,
    /// Packet capture (`tap`), off unless set.
    tap: Option<Box<tap::Tap>>,
    /// The shortest cable latency: the length of a synchronisation window (`part`).
    lookahead: Time,
    /// This simulation's share of a partitioned run (all of it, unsplit).
    part: part::Part,
}

impl<F: TransportFactory> Sim<F> {
    /// Whether `node` is a NIC (NICs come first: NIC `n` is node `n`).
    #[inline]
    fn is_nic(&self, node: NodeId) -> bool {
        node.0 < self.nics
    }

    /// Simulated time in the transports' unit.
    fn now(&self) -> Instant {
        Instant::from_nanos(self.q.now() / PS_PER_NS)
    }

    /// A QP by (NIC, id).
    fn qp(&self, (nic, qp): (u32, QpId)) -> Option<&SimQp<F::Conn>> {
        self.nic.layer.get(nic as usize)?.qp(qp)
    }

    // ---------------------------------------------------------------- run

    /// Logs the EV state changes of `flow`'s requesting QPs (index in the workload) into
    /// [`RunReport::watched_ev_changes`]: which paths the transport gave up on and brought
    /// back, to compare with the live transport's decisions on the same fabric.
    pub fn watch_ev_changes(&mut self, flow: u32) {
        self.ev_watch = Some(FlowId(flow));
    }

    /// Runs to completion (every flow done) or to the time limit, calling `progress` now and
    /// then, and returns the report.
    pub fn run(&mut self, progress: &mut dyn FnMut(Progress)) -> RunReport {
        let wall = std::time::Instant::now();
        self.run_partition(&mut part::Local::new(&part::Exchange::new(1), 0), progress);
        let wall_s = wall.elapsed().as_secs_f64();
        let mut rep = self.report(wall_s);
        rep.timeline = self.rec_timeline(rep.sim_time_ps);
        rep
    }

    /// The end of the window starting at `t`: one lookahead later (at least 1 ps).
    fn window_end(&self, t: Time) -> Time {
        t.saturating_add(self.lookahead.max(1))
    }

    /// Runs the events before `end` that are within the time limit (a DAG run stops as soon as
    /// it is finished).
    fn run_until(&mut self, end: Time) {
        let total = self.work.flows.len() as u64;
        let max = self.spec.max_time_ps;
        while let Some(t) = self.q.peek_time() {
            if t >= end || t > max || (self.dag.is_some() && self.finished(total)) {
                break;
            }
            if t >= self.rec.next_ps {
                self.rec_sample(t);
            }
            let Some((_, ev)) = self.q.pop() else { break };
            self.kinds[match ev {
                Ev::Arrive { .. } => 0,
                Ev::TxDone { .. } => 1,
                Ev::Timer { .. } => 2,
                _ => 3,
            }] += 1;
            match ev {
                Ev::Arrive { port } => {
                    let p = &mut self.net.ports[port];
                    if let Some(pkt) = p.flight.pop(&self.net.pkts) {
                        if !p.flight.head.is_none() {
                            let at = self.net.pkts[pkt].behind_at;
                            self.q.schedule(at, Ev::Arrive { port });
                        }
                        self.arrive(pkt, port);
                    }
                }
                Ev::TxDone { port } => {
                    self.net.ports[port].wake = false;
                    let node = self.net.ports[port].node;
                    if self.is_nic(node) {
                        self.start_tx(port);
                        self.service_nic(node.0);
                    } else {
                        self.start_tx(port);
                    }
                }
                Ev::Timer { ep } => self.qp_timer(ep, t),
                Ev::FlowStart { flow } => {
                    self.part.replicated += 1;
                    self.start_flow(flow);
                }
                Ev::Action { idx } => {
                    self.part.replicated += 1;
                    self.apply(idx);
                }
                Ev::Reroute { idx } => {
                    self.part.replicated += 1;
                    self.reroute(idx);
                }
                Ev::Op { op } => self.dag_op_done(op),
                Ev::Pfc { port, pause, seq } => {
                    let p = &mut self.net.ports[port];
                    // Frames count from 1; applied only if newer (wrapping) than the last.
                    if seq.wrapping_sub(p.pfc_seen) as i16 > 0 {
                        p.pfc_seen = seq;
                        p.paused = pause;
                        if !pause {
                            let node = p.node;
                            self.start_tx(port);
                            if self.is_nic(node) {
                                self.service_nic(node.0);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Events processed by kind: packet arrivals, port transmit-done, transport timers, other
    /// (flow starts, failures, reroutes, PFC), and the largest event-queue length seen.
    pub fn event_counts(&self) -> ([u64; 4], usize) {
        (self.kinds, self.q.max_len())
    }
}

#[cfg(test)]
mod size_tests {
    #[test]
    fn hot_structs_stay_small() {
        // One cache line per packet on the per-hop path; three per port.
        assert_eq!(size_of::<super::net::Pkt>(), 64);
        assert_eq!(size_of::<super::net::Port>(), 128);
        assert!(size_of::<super::Ev>() <= 12);
    }
}
