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

use std::collections::BTreeMap;

use mrc_fabric::{Action, Clos, Ev as FabricEv, FatTree, NodeId, NodeKind, StaticTables, Topology};
use mrc_proto::nic::{Demux, Nic, NicQp, PeerId, QpId};
use mrc_proto::{
    EvState, Event, Instant, PortMask, Received, TrafficClass, Transmit, Transport, Trim, WcStatus,
};
use mrc_wire::mrc::{self, Body};
use mrc_wire::usid::Carrier;
use mrc_workload::TriggerKind;

use crate::config::{EcnAt, FabricSpec, Failure, FailureKind, RunSpec, Target};
use crate::coverage::{Added, Coverage};
use crate::factory::{FabricInfo, PairInfo, Routing, TransportFactory};
use crate::kernel::{EventQueue, PS_PER_NS, Time};
use crate::qp::SimQp;
use crate::report::{EvChange, RunReport, SwitchCounters};
use crate::rng::{SplitMix64, mix, stream};

/// Bytes added to every packet on the wire besides the MRC packet: Ethernet header + FCS (18),
/// IPv6 (40), UDP (8).
pub const OVERHEAD_BYTES: u32 = 66;
/// Extra bytes of the outer IPv6 header of SRv6 encapsulation.
pub const SRV6_ENCAP_BYTES: u32 = 40;

const NONE: u32 = u32::MAX;

mod build;
mod conns;
pub mod dag;
mod failures;
mod flows;
mod net;
mod nic;
pub mod record;
mod report;
mod routing;
mod switch;
pub mod tap;

use build::Fabric;
use failures::{Act, Change, Resolved};
use flows::{FlowState, PairState, TrigState};
use net::{Fifo, LinkState, Meta, Pkt, Port, ser_ps};
use nic::{Peers, QpTimer};
pub use report::PortCounters;
use routing::EcmpInfo;

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
        port: u32,
    },
    TxDone {
        port: u32,
    },
    /// The timer of one QP ([`qp_end`]).
    Timer {
        ep: u32,
    },
    FlowStart {
        flow: u32,
    },
    Action {
        idx: u32,
    },
    Reroute {
        idx: u32,
    },
    Pfc {
        port: u32,
        pause: bool,
    },
    /// A timed op of a workload DAG (compute, scale-up transfer) finishes.
    Op {
        op: u32,
    },
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
    info: FabricInfo,
    routing: Routing,
    nics: u32,
    planes: u32,
    q: EventQueue<Ev>,
    pkts: Vec<Pkt>,
    meta: Vec<Meta>,
    free: Vec<u32>,
    ports: Vec<Port>,
    port_base: Vec<u32>,
    node_tier: Vec<u8>,
    node_up: Vec<bool>,
    node_routed_up: Vec<bool>,
    links: Vec<LinkState>,
    link_ports: Vec<[u32; 2]>,
    ecmp: Vec<EcmpInfo>,
    ecmp_down: Vec<(u32, u32, u32)>,
    ecmp_up: Vec<u32>,
    kinds: [u64; 4],
    routed_down: u32,
    node_seed: Vec<u64>,
    sw: Vec<SwitchCounters>,
    sw_rng: Vec<SplitMix64>,
    link_rng: Vec<SplitMix64>,
    qlimit: u64,
    ctrl_limit: u64,
    marking: crate::red::Marking,
    /// The NIC layer of every NIC (index = NIC).
    nic_layer: Vec<Nic<SimQp<F::Conn>>>,
    /// Per QP end ([`qp_end`]): its `Timer` event.
    qp_timer: Vec<QpTimer>,
    /// Per NIC: distinct NICs that write to it and that it writes to in the flow list (the
    /// QP hint's `num_remote_recv_peers` and `num_send_peers` an application that knows its
    /// traffic would give).
    peers: Peers,
    pairs: Vec<PairState>,
    flows: Vec<FlowState>,
    flows_done: u64,
    triggers: BTreeMap<u32, TrigState>,
    resolved: Vec<Resolved>,
    acts: Vec<Act>,
    reroutes: Vec<(u32, bool)>,
    dag: Option<Box<dag::DagState>>,
    // counters
    pkts_sent: u64,
    pkts_dropped_link: u64,
    misrouted: u64,
    corrupt: u64,
    qp_errors: u64,
    /// The flow whose EV state changes are logged, and the log (`watch_ev_changes`).
    ev_watch: Option<u32>,
    ev_log: Vec<EvChange>,
    nic_tx_payload: Vec<u64>,
    nic_rx_payload: Vec<u64>,
    /// Time series for plots (`record`).
    rec: record::Recorder,
    /// Packet capture (`tap`), off unless set.
    tap: Option<Box<tap::Tap>>,
}

impl<F: TransportFactory> Sim<F> {
    /// Simulated time in the transports' unit.
    fn now(&self) -> Instant {
        Instant::from_nanos(self.q.now() / PS_PER_NS)
    }

    /// A QP by (NIC, id).
    fn qp(&self, (nic, qp): (u32, QpId)) -> Option<&SimQp<F::Conn>> {
        self.nic_layer.get(nic as usize)?.qp(qp)
    }

    // ---------------------------------------------------------------- run

    /// Logs the EV state changes of `flow`'s requesting QPs (index in the workload) into
    /// [`RunReport::watched_ev_changes`]: which paths the transport gave up on and brought
    /// back, to compare with the live transport's decisions on the same fabric.
    pub fn watch_ev_changes(&mut self, flow: u32) {
        self.ev_watch = Some(flow);
    }

    /// Runs to completion (every flow done) or to the time limit, calling `progress` now and
    /// then, and returns the report.
    pub fn run(&mut self, progress: &mut dyn FnMut(Progress)) -> RunReport {
        let wall = std::time::Instant::now();
        let total = self.flows.len() as u64;
        let max = self.spec.max_time_ps;
        let mut next_progress = 0u64;
        while let Some(t) = self.q.peek_time() {
            if t > max || self.finished(total) {
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
                    let p = &mut self.ports[port as usize];
                    if let Some(pkt) = p.flight.pop(&self.pkts) {
                        if p.flight.head != NONE {
                            let at = self.pkts[pkt as usize].behind_at;
                            self.q.schedule(at, Ev::Arrive { port });
                        }
                        self.arrive(pkt, port);
                    }
                }
                Ev::TxDone { port } => {
                    self.ports[port as usize].wake = false;
                    let node = self.ports[port as usize].node;
                    if node < self.nics {
                        self.start_tx(port);
                        self.service_nic(node);
                    } else {
                        self.start_tx(port);
                    }
                }
                Ev::Timer { ep } => self.qp_timer(ep, t),
                Ev::FlowStart { flow } => self.start_flow(flow),
                Ev::Action { idx } => self.apply(idx),
                Ev::Reroute { idx } => self.reroute(idx),
                Ev::Op { op } => self.dag_op_done(op),
                Ev::Pfc { port, pause } => {
                    self.ports[port as usize].paused = pause;
                    if !pause {
                        let node = self.ports[port as usize].node;
                        self.start_tx(port);
                        if node < self.nics {
                            self.service_nic(node);
                        }
                    }
                }
            }
            let events = self.q.popped();
            if events >= next_progress {
                next_progress = events + (1 << 16);
                progress(Progress {
                    sim_time_ps: t,
                    flows_done: self.flows_done,
                    flows_total: total,
                    events,
                });
            }
        }
        let wall_s = wall.elapsed().as_secs_f64();
        let mut rep = self.report(wall_s);
        rep.timeline = self.rec_timeline(rep.sim_time_ps);
        rep
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
        assert_eq!(size_of::<super::Pkt>(), 64);
        assert_eq!(size_of::<super::Port>(), 128);
        assert!(size_of::<super::Ev>() <= 12);
    }
}
