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

mod conns;
pub mod dag;
pub mod record;
pub mod tap;

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

/// What every hop needs of a packet (one cache line).
#[derive(Clone, Copy, Debug)]
#[repr(align(64))]
struct Pkt {
    carrier: Option<Carrier>,
    /// Next packet in the same port FIFO (intrusive list), or `NONE`.
    next: u32,
    /// While on the wire and not last: when the packet behind this one on the link arrives.
    /// Its `Arrive` event is scheduled when this one arrives, and reading the time here, in a
    /// line just loaded, spares a cache miss on a packet that is not handled yet.
    behind_at: Time,
    dst_nic: u32,
    bytes: u32,
    hash: u64,
    in_port: u32,
    class: TrafficClass,
    trim: Option<Trim>,
    ecn: bool,
    srv6: bool,
}

/// What only the NICs need (typed headers, EV, the sending NIC for the demux, the pair).
#[derive(Clone, Copy, Debug)]
struct Meta {
    repr: mrc::Repr,
    ev: u32,
    src_nic: u32,
    pair: u32,
}

/// A FIFO of packets linked through [`Pkt::next`]: no buffer of its own, so a port's queues
/// cost no extra cache misses.
#[derive(Clone, Copy, Debug)]
struct Fifo {
    head: u32,
    tail: u32,
}

impl Fifo {
    const EMPTY: Self = Self {
        head: NONE,
        tail: NONE,
    };

    fn is_empty(&self) -> bool {
        self.head == NONE
    }

    fn push(&mut self, pkts: &mut [Pkt], pk: u32) {
        pkts[pk as usize].next = NONE;
        if self.tail == NONE {
            self.head = pk;
        } else {
            pkts[self.tail as usize].next = pk;
        }
        self.tail = pk;
    }

    fn pop(&mut self, pkts: &[Pkt]) -> Option<u32> {
        if self.head == NONE {
            return None;
        }
        let pk = self.head;
        self.head = pkts[pk as usize].next;
        if self.head == NONE {
            self.tail = NONE;
        }
        Some(pk)
    }
}

/// An egress port (two cache lines; queues are intrusive packet lists). Field order is the
/// memory layout: the first line holds the FIFOs, link, peer and timing.
#[derive(Debug)]
#[repr(C, align(64))]
struct Port {
    /// Packets on the wire, in arrival order (constant latency, so FIFO): only the head has an
    /// `Arrive` event in the queue, which keeps the event queue small.
    flight: Fifo,
    data: Fifo,
    ctrl: Fifo,
    link: u32,
    peer: u32,
    rev: u32,
    node: u32,
    /// The port serialises until this time.
    busy_until: Time,
    latency_ps: Time,
    data_bytes: u64,
    ctrl_bytes: u64,
    gbps: u32,
    to_nic: bool,
    paused: bool,
    /// A `TxDone` event is pending (only scheduled when something waits, or at NICs).
    wake: bool,
    pause_sent: bool,
    tx_bytes: u64,
    tx_pkts: u64,
    busy_ps: Time,
    ingress_bytes: u64,
}

/// Per-port figures for the conservation / utilisation checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortCounters {
    /// Node owning the port.
    pub node: u32,
    /// Link speed in Gb/s.
    pub gbps: u32,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Time spent serialising, in ps.
    pub busy_ps: Time,
    /// Bytes still queued.
    pub queued_bytes: u64,
}

#[derive(Clone, Copy, Debug)]
struct LinkState {
    up: bool,
    black_hole: bool,
    loss_ppm: u32,
    routed_up: bool,
}

#[derive(Clone, Debug, Default)]
struct Resolved {
    links: Vec<u32>,
    nodes: Vec<u32>,
    nic_ports: Vec<(u32, u8)>,
}

#[derive(Clone, Copy, Debug)]
enum Change {
    Down,
    Up,
    BlackHole(bool),
    Loss(u32),
}

#[derive(Clone, Copy, Debug)]
struct Act {
    target: u32,
    change: Change,
}

#[derive(Clone, Debug)]
struct FlowState {
    pairs: (u32, u32),
    pending: u32,
    recv_pending: u32,
    start: Option<Time>,
    done: Option<Time>,
    ok: bool,
}

#[derive(Clone, Debug)]
struct PairState {
    flow: u32,
    /// The requester: its NIC and its QP there.
    src: (u32, QpId),
    /// The responder.
    dst: (u32, QpId),
    bytes: u64,
    base: u64,
    /// Byte ranges received (one-shot flows; DAG writes keep theirs in `conns`).
    seen: Coverage,
    covered: u64,
    done: bool,
    ok: bool,
}

/// The `Timer` event of one QP. Each QP has its own, as each end of a pair did before the
/// NIC layer: a QP's timer then runs at its place among the events of its instant, and the
/// NIC sends what it released before the next QP's timer runs.
#[derive(Clone, Copy, Debug)]
struct QpTimer {
    /// When it is scheduled (None: none pending).
    pending: Option<Time>,
    /// When the QP's timers last ran (a deadline still due right after them moves 1 ns on,
    /// so a transport that does not advance its timer cannot stall simulated time).
    fired_at: Time,
}

/// The index of a QP end in `Sim::qp_timer` and `Ev::Timer`: requester `2 × pair`,
/// responder `2 × pair + 1`.
fn qp_end(pair: u32, requester: bool) -> u32 {
    2 * pair + u32::from(!requester)
}

#[derive(Clone, Debug)]
struct TrigState {
    kind: TriggerKind,
    count: u32,
    fired: bool,
    waiting: Vec<u32>,
}

/// Conventional up/down routing of one switch in compact form: the NICs below it, its down
/// ports with the NICs below each, and its up ports (all in port order).
#[derive(Clone, Copy, Debug, Default)]
struct EcmpInfo {
    lo: u32,
    hi: u32,
    /// Range of `Sim::ecmp_down`: `(first NIC below, end, port)` per down port.
    down: (u32, u32),
    /// Range of `Sim::ecmp_up`: up ports.
    up: (u32, u32),
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

enum Fabric {
    /// The Clos and its static tables (`mrc_fabric::StaticTables`) as per-node sorted `(uSID, action)`
    /// arrays for fast lookup (every key shares the fabric's block).
    Clos(Box<Clos>, Vec<Vec<(u16, Action)>>),
    FatTree(Box<FatTree>),
}

impl Fabric {
    fn topo(&self) -> &Topology {
        match self {
            Self::Clos(c, ..) => c.topology(),
            Self::FatTree(f) => f.topology(),
        }
    }
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

/// Per NIC of a flow list: distinct sources writing to it and destinations it writes to.
struct Peers {
    recv: Vec<u32>,
    send: Vec<u32>,
}

impl Peers {
    fn new(flows: &[mrc_workload::Flow], nics: u32) -> Self {
        let mut pairs: Vec<(u32, u32)> = flows.iter().map(|f| (f.src, f.dst)).collect();
        pairs.sort_unstable();
        pairs.dedup();
        let mut recv = vec![0u32; nics as usize];
        let mut send = vec![0u32; nics as usize];
        for (src, dst) in pairs {
            if let Some(c) = send.get_mut(src as usize) {
                *c += 1;
            }
            if let Some(c) = recv.get_mut(dst as usize) {
                *c += 1;
            }
        }
        Self { recv, send }
    }
}

fn ser_ps(bytes: u32, gbps: u32) -> Time {
    (u64::from(bytes) * 8_000).div_ceil(u64::from(gbps.max(1)))
}

impl<F: TransportFactory> Sim<F> {
    /// Builds the fabric, the ports and the failure schedule of a run.
    pub fn new(spec: RunSpec, factory: F) -> Result<Self, SimError> {
        let routing_pref = factory.routing();
        let fabric = match spec.net.fabric {
            FabricSpec::Clos(p) => {
                let clos = Clos::new(p)?;
                let tables = StaticTables::new(&clos);
                let fast = (0..clos.topology().nodes().len() as u32)
                    .map(|n| {
                        let mut v: Vec<(u16, Action)> = tables
                            .table(NodeId(n))
                            .entries()
                            .into_iter()
                            .filter(|(k, _)| k >> 16 == u64::from(mrc_fabric::usid::BLOCK))
                            .map(|(k, a)| (k as u16, a))
                            .collect();
                        v.sort_unstable_by_key(|e| e.0);
                        v
                    })
                    .collect();
                Fabric::Clos(Box::new(clos), fast)
            }
            FabricSpec::FatTree(p) => Fabric::FatTree(Box::new(FatTree::new(p)?)),
        };
        let routing = match (&fabric, routing_pref) {
            (Fabric::Clos(..), Routing::Srv6) => Routing::Srv6,
            _ => Routing::Ecmp,
        };
        let topo = fabric.topo();
        let nics = topo.nic_count();
        let planes = topo.ports(NodeId(0)).len() as u32;
        let nodes = topo.nodes().len();
        let mut port_base = Vec::with_capacity(nodes + 1);
        let mut total = 0u32;
        for n in 0..nodes {
            port_base.push(total);
            total += topo.ports(NodeId(n as u32)).len() as u32;
        }
        port_base.push(total);
        let node_tier: Vec<u8> = topo
            .nodes()
            .iter()
            .map(|n| match n.kind {
                NodeKind::Nic { .. } => 0,
                NodeKind::Switch { tier, .. } => tier + 1,
            })
            .collect();
        let mut ports = Vec::with_capacity(total as usize);
        for n in 0..nodes {
            let node = NodeId(n as u32);
            for (p, link) in topo.ports(node).iter().enumerate() {
                let (peer, rev, link_id, gbps, lat) = match link {
                    Some(l) => {
                        let lk = topo.link(*l);
                        let other = lk.other(node);
                        (
                            other.node.0,
                            port_base[other.node.0 as usize] + other.port,
                            l.0,
                            lk.gbps,
                            u64::from(lk.latency_ns) * PS_PER_NS,
                        )
                    }
                    None => (NONE, NONE, NONE, 1, 0),
                };
                let _ = p;
                ports.push(Port {
                    node: n as u32,
                    peer,
                    rev,
                    link: link_id,
                    gbps,
                    latency_ps: lat,
                    ctrl: Fifo::EMPTY,
                    data: Fifo::EMPTY,
                    ctrl_bytes: 0,
                    data_bytes: 0,
                    busy_until: 0,
                    wake: false,
                    to_nic: peer != NONE && peer < nics,
                    paused: false,
                    tx_bytes: 0,
                    tx_pkts: 0,
                    busy_ps: 0,
                    ingress_bytes: 0,
                    pause_sent: false,
                    flight: Fifo::EMPTY,
                });
            }
        }
        // Fabric figures for the transports and the switch defaults.
        let lane_gbps = topo.links().first().map_or(100, |l| l.gbps);
        let overhead = OVERHEAD_BYTES
            + if routing == Routing::Srv6 {
                SRV6_ENCAP_BYTES
            } else {
                0
            };
        let max_links: u64 = match &fabric {
            Fabric::Clos(..) => 4,
            Fabric::FatTree(f) => 2 * u64::from(f.params().tiers),
        };
        let lat_ns = topo
            .links()
            .iter()
            .map(|l| u64::from(l.latency_ns))
            .max()
            .unwrap_or(0);
        let mtu = spec.net.mtu;
        let data_ser = ser_ps(mtu + 64 + overhead, lane_gbps);
        let ctrl_ser = ser_ps(128, lane_gbps);
        let base_rtt_ps = max_links * (2 * lat_ns * PS_PER_NS + data_ser + ctrl_ser);
        let base_rtt_ns = base_rtt_ps.div_ceil(PS_PER_NS);
        let port_bdp = u64::from(lane_gbps) * base_rtt_ns / 8;
        let (uplinks, uplink_bits) = match &fabric {
            Fabric::Clos(c, ..) => (c.dims().t0_up, c.dims().uplink_bits()),
            Fabric::FatTree(f) => (f.params().k / 2, 8),
        };
        let info = FabricInfo {
            planes: planes as u8,
            lane_gbps,
            base_rtt_ns,
            bdp_bytes: port_bdp * u64::from(planes),
            mtu,
            uplinks,
            uplink_bits,
            routing,
            trimming: spec.net.switch.trimming,
        };
        let sws = &spec.net.switch;
        let qlimit = sws.queue_bytes.unwrap_or_else(|| {
            if sws.trimming || sws.pfc.is_some() {
                port_bdp
            } else {
                5 * port_bdp
            }
        });
        let qlimit = qlimit.max(u64::from(mtu + 64 + overhead));
        let qlimit = if sws.pfc.is_some() {
            qlimit.max(64 * port_bdp)
        } else {
            qlimit
        };
        // Twice the data queue, as UEC's reference simulator sizes its header queue: trimmed
        // headers of a full data queue must not be dropped before the data would have been.
        let ctrl_limit = sws.ctrl_queue_bytes.unwrap_or(2 * qlimit);
        let base_q = sws
            .queue_bytes
            .unwrap_or_else(|| port_bdp.max(u64::from(mtu)));
        let marking = crate::red::Marking::new(sws, base_q, lane_gbps);
        let seed = spec.seed;
        let links = vec![
            LinkState {
                up: true,
                black_hole: false,
                loss_ppm: 0,
                routed_up: true,
            };
            topo.links().len()
        ];
        let mut link_ports = vec![[NONE; 2]; links.len()];
        for (g, p) in ports.iter().enumerate() {
            if p.link != NONE {
                let e = &mut link_ports[p.link as usize];
                if e[0] == NONE {
                    e[0] = g as u32;
                } else {
                    e[1] = g as u32;
                }
            }
        }
        let mut ecmp_down = Vec::new();
        let mut ecmp_up = Vec::new();
        let ecmp: Vec<EcmpInfo> = (0..nodes as u32)
            .map(|n| {
                let me = topo.node(NodeId(n));
                if !me.is_switch() {
                    return EcmpInfo::default();
                }
                let tier = node_tier[n as usize];
                let (d0, u0) = (ecmp_down.len() as u32, ecmp_up.len() as u32);
                for (p, l) in topo.ports(NodeId(n)).iter().enumerate() {
                    let Some(l) = l else { continue };
                    let peer = topo.link(*l).other(NodeId(n)).node;
                    if node_tier[peer.0 as usize] < tier {
                        let r = topo.node(peer).down_range();
                        ecmp_down.push((r.start, r.end, p as u32));
                    } else {
                        ecmp_up.push(p as u32);
                    }
                }
                EcmpInfo {
                    lo: me.down_range().start,
                    hi: me.down_range().end,
                    down: (d0, ecmp_down.len() as u32),
                    up: (u0, ecmp_up.len() as u32),
                }
            })
            .collect();
        let mut sim = Self {
            ecmp,
            ecmp_down,
            ecmp_up,
            kinds: [0; 4],
            link_ports,
            factory,
            info,
            routing,
            nics,
            planes,
            q: EventQueue::new(),
            pkts: Vec::with_capacity(1 << 14),
            meta: Vec::with_capacity(1 << 14),
            free: Vec::new(),
            port_base,
            node_tier,
            node_up: vec![true; nodes],
            node_routed_up: vec![true; nodes],
            links,
            routed_down: 0,
            node_seed: (0..nodes as u64).map(|n| stream(seed, 1, n)).collect(),
            sw: vec![SwitchCounters::default(); nodes],
            sw_rng: (0..nodes as u64)
                .map(|n| SplitMix64::new(stream(seed, 2, n)))
                .collect(),
            link_rng: (0..topo.links().len() as u64)
                .map(|l| SplitMix64::new(stream(seed, 3, l)))
                .collect(),
            qlimit,
            ctrl_limit,
            marking,
            nic_layer: (0..nics).map(|_| Nic::new()).collect(),
            qp_timer: Vec::new(),
            peers: Peers::new(&spec.workload.flows, nics),
            pairs: Vec::new(),
            flows: Vec::new(),
            flows_done: 0,
            triggers: BTreeMap::new(),
            resolved: Vec::new(),
            acts: Vec::new(),
            reroutes: Vec::new(),
            dag: None,
            pkts_sent: 0,
            pkts_dropped_link: 0,
            misrouted: 0,
            corrupt: 0,
            qp_errors: 0,
            ev_watch: None,
            ev_log: Vec::new(),
            nic_tx_payload: vec![0; nics as usize],
            nic_rx_payload: vec![0; nics as usize],
            rec: record::Recorder::default(),
            tap: None,
            ports,
            fabric,
            spec,
        };
        sim.setup_workload()?;
        sim.setup_failures()?;
        sim.rec_init();
        Ok(sim)
    }

    /// Fabric figures handed to the transport.
    pub fn fabric_info(&self) -> FabricInfo {
        self.info
    }

    /// Data queue limit per egress port in bytes.
    pub fn queue_limit(&self) -> u64 {
        self.qlimit
    }

    fn setup_workload(&mut self) -> Result<(), SimError> {
        for t in &self.spec.workload.triggers {
            self.triggers.insert(
                t.id,
                TrigState {
                    kind: t.kind,
                    count: 0,
                    fired: false,
                    waiting: Vec::new(),
                },
            );
        }
        let flows = self.spec.workload.flows.clone();
        for (i, f) in flows.iter().enumerate() {
            if f.src >= self.nics || f.dst >= self.nics {
                return Err(SimError::BadWorkload(format!(
                    "flow {} ({}->{}) names a NIC outside 0..{}",
                    f.id, f.src, f.dst, self.nics
                )));
            }
            if f.src == f.dst {
                return Err(SimError::BadWorkload(format!(
                    "flow {} sends from NIC {} to itself",
                    f.id, f.src
                )));
            }
            for id in [f.trigger, f.send_done_trigger, f.recv_done_trigger]
                .into_iter()
                .flatten()
            {
                self.triggers.entry(id).or_insert(TrigState {
                    kind: TriggerKind::Oneshot,
                    count: 0,
                    fired: false,
                    waiting: Vec::new(),
                });
            }
            self.flows.push(FlowState {
                pairs: (0, 0),
                pending: 0,
                recv_pending: 0,
                start: None,
                done: None,
                ok: false,
            });
            match f.trigger {
                Some(id) => {
                    if let Some(t) = self.triggers.get_mut(&id) {
                        t.waiting.push(i as u32);
                    }
                }
                None => self
                    .q
                    .schedule(f.start_ps, Ev::FlowStart { flow: i as u32 }),
            }
        }
        Ok(())
    }

    fn find_switch(&self, plane: u32, tier: u32, index: u32) -> Option<u32> {
        let topo = self.fabric.topo();
        if let Fabric::Clos(c, ..) = &self.fabric {
            let d = c.dims();
            if plane >= d.planes {
                return None;
            }
            return match tier {
                0 if index < d.t0 => Some(c.t0(plane, index).0),
                1 if index < d.t1 => Some(c.t1(plane, index).0),
                _ => None,
            };
        }
        topo.nodes()
            .iter()
            .position(|n| {
                matches!(n.kind, NodeKind::Switch { plane: p, tier: t, index: i }
                    if u32::from(p) == plane && u32::from(t) == tier && i == index)
            })
            .map(|p| p as u32)
    }

    fn resolve(&self, index: usize, target: Target) -> Result<Resolved, SimError> {
        let bad = |msg: String| SimError::BadFailure { index, msg };
        let topo = self.fabric.topo();
        let mut r = Resolved::default();
        match target {
            Target::T0Uplink { plane, t0, uplink } => {
                let node = self.find_switch(plane, 0, t0).ok_or_else(|| {
                    bad(format!(
                        "no T0 {t0} in plane {plane} (link t0-uplink {plane}/{t0}/{uplink})"
                    ))
                })?;
                let ups: Vec<u32> = topo
                    .ports(NodeId(node))
                    .iter()
                    .filter_map(|l| {
                        let l = (*l)?;
                        let other = topo.link(l).other(NodeId(node));
                        (self.node_tier[other.node.0 as usize] > 1).then_some(l.0)
                    })
                    .collect();
                let l = ups.get(uplink as usize).ok_or_else(|| {
                    bad(format!(
                        "T0 {t0} of plane {plane} has {} uplinks, no uplink {uplink}",
                        ups.len()
                    ))
                })?;
                r.links.push(*l);
            }
            Target::Switch {
                plane,
                tier,
                index: i,
            } => {
                let node = self.find_switch(plane, tier, i).ok_or_else(|| {
                    bad(format!("no switch tier {tier} index {i} in plane {plane}"))
                })?;
                r.nodes.push(node);
            }
            Target::NicLane { nic, plane } => {
                if nic >= self.nics || plane >= self.planes {
                    return Err(bad(format!(
                        "no lane {plane} of NIC {nic} (fabric has {} NICs × {} planes)",
                        self.nics, self.planes
                    )));
                }
                let g = self.port_base[nic as usize] + plane;
                r.links.push(self.ports[g as usize].link);
                r.nic_ports.push((nic, plane as u8));
            }
            Target::Plane { plane } => {
                if plane >= self.planes {
                    return Err(bad(format!(
                        "no plane {plane} (fabric has {} planes)",
                        self.planes
                    )));
                }
                for (n, node) in topo.nodes().iter().enumerate() {
                    if let NodeKind::Switch { plane: p, .. } = node.kind
                        && u32::from(p) == plane
                    {
                        r.nodes.push(n as u32);
                    }
                }
                for nic in 0..self.nics {
                    let g = self.port_base[nic as usize] + plane;
                    r.links.push(self.ports[g as usize].link);
                    r.nic_ports.push((nic, plane as u8));
                }
            }
        }
        Ok(r)
    }

    fn setup_failures(&mut self) -> Result<(), SimError> {
        let failures: Vec<Failure> = self.spec.failures.clone();
        for (i, f) in failures.iter().enumerate() {
            let r = self.resolve(i, f.target)?;
            if let (FailureKind::Lossy { ppm }, true) = (f.kind, r.links.is_empty()) {
                let _ = ppm;
                // A lossy switch or plane: every link touching it.
                let topo = self.fabric.topo();
                let mut r2 = r.clone();
                for &n in &r.nodes {
                    for l in topo.ports(NodeId(n)).iter().flatten() {
                        r2.links.push(l.0);
                    }
                }
                r2.nodes.clear();
                r2.nic_ports.clear();
                self.resolved.push(r2);
            } else {
                self.resolved.push(r);
            }
            let target = (self.resolved.len() - 1) as u32;
            let push = |at: Time, change: Change, q: &mut EventQueue<Ev>, acts: &mut Vec<Act>| {
                acts.push(Act { target, change });
                q.schedule(
                    at,
                    Ev::Action {
                        idx: (acts.len() - 1) as u32,
                    },
                );
            };
            match f.kind {
                FailureKind::Down => {
                    push(f.at_ps, Change::Down, &mut self.q, &mut self.acts);
                    if let Some(u) = f.until_ps {
                        push(u, Change::Up, &mut self.q, &mut self.acts);
                    }
                }
                FailureKind::BlackHole => {
                    push(
                        f.at_ps,
                        Change::BlackHole(true),
                        &mut self.q,
                        &mut self.acts,
                    );
                    if let Some(u) = f.until_ps {
                        push(u, Change::BlackHole(false), &mut self.q, &mut self.acts);
                    }
                }
                FailureKind::Lossy { ppm } => {
                    push(f.at_ps, Change::Loss(ppm), &mut self.q, &mut self.acts);
                    if let Some(u) = f.until_ps {
                        push(u, Change::Loss(0), &mut self.q, &mut self.acts);
                    }
                }
                FailureKind::Flap {
                    period_ps,
                    down_ps,
                    count,
                } => {
                    for k in 0..u64::from(count) {
                        // Flaps beyond the clock never happen (scenario files are checked).
                        let Some(t) = k
                            .checked_mul(period_ps)
                            .and_then(|t| t.checked_add(f.at_ps))
                        else {
                            break;
                        };
                        push(t, Change::Down, &mut self.q, &mut self.acts);
                        let up = t.saturating_add(down_ps);
                        push(up, Change::Up, &mut self.q, &mut self.acts);
                    }
                }
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- packets

    fn alloc(&mut self, p: Pkt, m: Meta) -> u32 {
        if let Some(i) = self.free.pop() {
            self.pkts[i as usize] = p;
            self.meta[i as usize] = m;
            i
        } else {
            self.pkts.push(p);
            self.meta.push(m);
            (self.pkts.len() - 1) as u32
        }
    }

    /// Simulated time in the transports' unit.
    fn now(&self) -> Instant {
        Instant::from_nanos(self.q.now() / PS_PER_NS)
    }

    /// A QP by (NIC, id).
    fn qp(&self, (nic, qp): (u32, QpId)) -> Option<&SimQp<F::Conn>> {
        self.nic_layer.get(nic as usize)?.qp(qp)
    }

    fn start_tx(&mut self, g: u32) {
        let now = self.q.now();
        let port = &mut self.ports[g as usize];
        if now < port.busy_until {
            let waiting = !port.ctrl.is_empty() || !port.data.is_empty();
            if !port.wake && waiting {
                port.wake = true;
                let at = port.busy_until;
                self.q.schedule(at, Ev::TxDone { port: g });
            }
            return;
        }
        let pk = if let Some(p) = port.ctrl.pop(&self.pkts) {
            port.ctrl_bytes -= u64::from(self.pkts[p as usize].bytes);
            p
        } else if !port.paused
            && let Some(p) = port.data.pop(&self.pkts)
        {
            port.data_bytes -= u64::from(self.pkts[p as usize].bytes);
            if self.marking.at == EcnAt::Dequeue {
                let behind = port.data_bytes;
                self.ecn_mark(g, p, behind);
            }
            p
        } else {
            return;
        };
        let port = &mut self.ports[g as usize];
        let bytes = self.pkts[pk as usize].bytes;
        let t = ser_ps(bytes, port.gbps);
        port.busy_until = now + t;
        port.tx_bytes += u64::from(bytes);
        port.tx_pkts += 1;
        port.busy_ps += t;
        let lat = port.latency_ps;
        let node = port.node;
        if node >= self.nics {
            self.sw[node as usize].bytes_out += u64::from(bytes);
            let inp = self.pkts[pk as usize].in_port;
            if inp != NONE {
                self.pfc_release(inp, bytes);
            }
        }
        if self.tap.is_some() {
            self.tap_tx(g, pk);
        }
        let port = &mut self.ports[g as usize];
        if !port.wake && (node < self.nics || !(port.ctrl.is_empty() && port.data.is_empty())) {
            port.wake = true;
            self.q.schedule(now + t, Ev::TxDone { port: g });
        }
        let (at, ahead) = (now + t + lat, port.flight.tail);
        port.flight.push(&mut self.pkts, pk);
        if ahead == NONE {
            self.q.schedule(at, Ev::Arrive { port: g });
        } else {
            self.pkts[ahead as usize].behind_at = at;
        }
    }

    fn pfc_release(&mut self, inp: u32, bytes: u32) {
        let Some(pfc) = self.spec.net.switch.pfc else {
            return;
        };
        let now = self.q.now();
        let ip = &mut self.ports[inp as usize];
        ip.ingress_bytes = ip.ingress_bytes.saturating_sub(u64::from(bytes));
        if ip.pause_sent && ip.ingress_bytes <= pfc.xon_bytes {
            ip.pause_sent = false;
            let (up, lat) = (ip.rev, ip.latency_ps);
            self.q.schedule(
                now + lat,
                Ev::Pfc {
                    port: up,
                    pause: false,
                },
            );
        }
    }

    fn drop_at(&mut self, node: u32, pk: u32) {
        let p = &self.pkts[pk as usize];
        let (b, trimmed, control) = (
            u64::from(p.bytes),
            p.trim.is_some(),
            p.class == TrafficClass::Control,
        );
        let c = &mut self.sw[node as usize];
        c.bytes_dropped += b;
        c.pkts_dropped += 1;
        if trimmed {
            c.dropped_trimmed += 1;
        } else if control {
            c.dropped_control += 1;
        } else {
            c.dropped_data += 1;
        }
        self.free.push(pk);
    }

    fn enqueue(&mut self, g: u32, pk: u32, in_port: u32) {
        let node = self.ports[g as usize].node;
        let sws = self.spec.net.switch;
        let (to_nic, data_bytes, ctrl_bytes) = {
            let p = &self.ports[g as usize];
            (p.to_nic, p.data_bytes, p.ctrl_bytes)
        };
        let (is_ctrl, bytes) = {
            let p = &self.pkts[pk as usize];
            (
                p.class == TrafficClass::Control || p.trim.is_some(),
                u64::from(p.bytes),
            )
        };
        let to_ctrl = if is_ctrl {
            if ctrl_bytes + bytes > self.ctrl_limit {
                self.drop_at(node, pk);
                return;
            }
            true
        } else if data_bytes + bytes > self.qlimit {
            if !(sws.trimming && bytes > u64::from(sws.trim_bytes)) {
                self.drop_at(node, pk);
                return;
            }
            let p = &mut self.pkts[pk as usize];
            p.bytes = sws.trim_bytes;
            p.trim = Some(if to_nic { Trim::LastHop } else { Trim::Fabric });
            let c = &mut self.sw[node as usize];
            c.bytes_trimmed += bytes - u64::from(sws.trim_bytes);
            c.pkts_trimmed += 1;
            if ctrl_bytes + u64::from(sws.trim_bytes) > self.ctrl_limit {
                self.drop_at(node, pk);
                return;
            }
            true
        } else {
            if self.marking.at == EcnAt::Enqueue {
                self.ecn_mark(g, pk, data_bytes);
            }
            false
        };
        let b = u64::from(self.pkts[pk as usize].bytes);
        if to_ctrl {
            self.ports[g as usize].ctrl_bytes += b;
            self.ports[g as usize].ctrl.push(&mut self.pkts, pk);
        } else {
            self.ports[g as usize].data_bytes += b;
            self.ports[g as usize].data.push(&mut self.pkts, pk);
            if let Some(pfc) = sws.pfc
                && in_port != NONE
            {
                self.pkts[pk as usize].in_port = in_port;
                let now = self.q.now();
                let ip = &mut self.ports[in_port as usize];
                ip.ingress_bytes += b;
                if !ip.pause_sent && ip.ingress_bytes >= pfc.xoff_bytes {
                    ip.pause_sent = true;
                    self.sw[node as usize].pfc_pauses += 1;
                    let (up, lat) = (ip.rev, ip.latency_ps);
                    self.q.schedule(
                        now + lat,
                        Ev::Pfc {
                            port: up,
                            pause: true,
                        },
                    );
                }
            }
        }
        self.start_tx(g);
    }

    /// ECN-marks data packet `pk` at switch port `g` whose data queue holds `q` bytes, as the
    /// run's marking says (never at a NIC; at the last hop only if configured).
    fn ecn_mark(&mut self, g: u32, pk: u32, q: u64) {
        let (node, to_nic) = {
            let p = &self.ports[g as usize];
            (p.node, p.to_nic)
        };
        if self.spec.net.switch.ecn
            && node >= self.nics
            && (!to_nic || self.marking.last_hop)
            && !self.pkts[pk as usize].ecn
            && self.marking.mark(q, &mut self.sw_rng[node as usize])
        {
            self.pkts[pk as usize].ecn = true;
            self.sw[node as usize].pkts_marked += 1;
        }
    }

    fn usable(&self, g: u32) -> bool {
        let p = &self.ports[g as usize];
        p.link != NONE
            && self.links[p.link as usize].routed_up
            && self.node_routed_up[p.peer as usize]
    }

    /// Whether `node` can reach NIC `dst` by the routed (control-plane) view.
    fn reaches(&self, node: u32, dst: u32, depth: u32) -> bool {
        if node == dst {
            return true;
        }
        if depth == 0 || node < self.nics {
            return false;
        }
        let topo = self.fabric.topo();
        let me = topo.node(NodeId(node));
        let base = self.port_base[node as usize];
        let n = topo.ports(NodeId(node)).len() as u32;
        let below = me.down_range().contains(&dst);
        let tier = self.node_tier[node as usize];
        (0..n).any(|p| {
            let g = base + p;
            if !self.usable(g) {
                return false;
            }
            let peer = self.ports[g as usize].peer;
            let pt = self.node_tier[peer as usize];
            if below {
                pt < tier
                    && topo.node(NodeId(peer)).down_range().contains(&dst)
                    && self.reaches(peer, dst, depth - 1)
            } else {
                pt > tier && self.reaches(peer, dst, depth - 1)
            }
        })
    }

    fn ecmp_port(&self, node: u32, dst: u32, hash: u64) -> Option<u32> {
        let topo = self.fabric.topo();
        if self.routed_down == 0 {
            // Same choice as `Topology::ecmp_select`, from compact per-switch lists.
            let r = self.ecmp[node as usize];
            if r.lo <= dst && dst < r.hi {
                let down = &self.ecmp_down[r.down.0 as usize..r.down.1 as usize];
                let n = down.iter().filter(|d| d.0 <= dst && dst < d.1).count() as u64;
                if n == 0 {
                    return None;
                }
                return down
                    .iter()
                    .filter(|d| d.0 <= dst && dst < d.1)
                    .nth((hash % n) as usize)
                    .map(|d| d.2);
            }
            let up = &self.ecmp_up[r.up.0 as usize..r.up.1 as usize];
            if up.is_empty() {
                return None;
            }
            return Some(up[(hash % up.len() as u64) as usize]);
        }
        let base = self.port_base[node as usize];
        let ok = |p: &u32| {
            let g = base + *p;
            self.usable(g) && self.reaches(self.ports[g as usize].peer, dst, 4)
        };
        let n = topo.ecmp_next_hops(NodeId(node), dst).filter(ok).count() as u64;
        if n == 0 {
            // Nothing routed works: fall back to the static choice (packets will be lost).
            return topo.ecmp_select(NodeId(node), dst, hash);
        }
        topo.ecmp_next_hops(NodeId(node), dst)
            .filter(ok)
            .nth((hash % n) as usize)
    }

    fn arrive(&mut self, pk: u32, g: u32) {
        let (link, node, in_port) = {
            let p = &self.ports[g as usize];
            (p.link, p.peer, p.rev)
        };
        let ls = self.links[link as usize];
        let lost = !ls.up
            || ls.black_hole
            || !self.node_up[node as usize]
            || (ls.loss_ppm > 0 && self.link_rng[link as usize].chance_ppm(ls.loss_ppm));
        if lost {
            self.pkts_dropped_link += 1;
            self.free.push(pk);
            return;
        }
        if node < self.nics {
            self.deliver(node, pk, in_port);
            return;
        }
        let bytes = self.pkts[pk as usize].bytes;
        self.sw[node as usize].bytes_in += u64::from(bytes);
        self.pkts[pk as usize].in_port = NONE;
        let egress = if self.pkts[pk as usize].srv6 {
            self.srv6_port(node, pk)
        } else {
            let p = &self.pkts[pk as usize];
            let h = mix(p.hash ^ self.node_seed[node as usize]);
            self.ecmp_port(node, p.dst_nic, h)
        };
        match egress {
            Some(local) => {
                let g2 = self.port_base[node as usize] + local;
                if self.ports[g2 as usize].link == NONE {
                    self.misrouted += 1;
                    self.drop_at(node, pk);
                } else {
                    self.enqueue(g2, pk, in_port);
                }
            }
            None => {
                self.misrouted += 1;
                self.drop_at(node, pk);
            }
        }
    }

    fn srv6_port(&mut self, node: u32, pk: u32) -> Option<u32> {
        let Fabric::Clos(_, fast) = &self.fabric else {
            return None;
        };
        let table = &fast[node as usize];
        let c = self.pkts[pk as usize].carrier.as_mut()?;
        for _ in 0..8 {
            let key = c.lookup_key();
            if key >> 16 != u64::from(mrc_fabric::usid::BLOCK) {
                return None;
            }
            let i = table.binary_search_by_key(&(key as u16), |e| e.0).ok()?;
            match table[i].1 {
                Action::End => {
                    c.shift()?;
                }
                Action::EndX(p) => {
                    c.shift();
                    return Some(p);
                }
                Action::Forward(p) => return Some(p),
                Action::Decap => return None,
            }
        }
        None
    }

    // ---------------------------------------------------------------- NICs

    fn deliver(&mut self, nic: u32, pk: u32, in_port: u32) {
        let p = self.pkts[pk as usize];
        let m = self.meta[pk as usize];
        self.free.push(pk);
        if self.tap.is_some() {
            self.tap_rx(nic, &p, &m);
        }
        if p.dst_nic != nic {
            self.misrouted += 1;
            return;
        }
        if let (Body::Write(w), None) = (m.repr.body, p.trim) {
            self.nic_rx_payload[nic as usize] += u64::from(w.payload_len);
            self.cover(m.pair, w.reth.va, w.payload_len);
        }
        let port = (in_port - self.port_base[nic as usize]) as u8;
        let inc = Received {
            repr: m.repr,
            ev: m.ev,
            port,
            ecn_ce: p.ecn,
            trim: p.trim,
            payload: None,
        };
        let now = self.now();
        let from = PeerId(m.src_nic);
        let layer = &mut self.nic_layer[nic as usize];
        match layer.handle_packet(now, from, &inc) {
            Demux::Delivered { qp, .. } => self.after_qp(nic, qp),
            Demux::Endpoint(_) => {
                for k in 0..layer.peer_qps(from).len() {
                    if let Some(&qp) = self.nic_layer[nic as usize].peer_qps(from).get(k) {
                        self.after_qp(nic, qp);
                    }
                }
            }
            // Every pair's QPs exist at both ends from its creation on: a packet for no QP is
            // a simulator fault, counted as such.
            Demux::UnknownQp(_) => {
                layer.count_unknown();
                self.misrouted += 1;
            }
            Demux::Foreign => self.misrouted += 1,
        }
        self.service_nic(nic);
    }

    fn cover(&mut self, pair: u32, va: u64, len: u32) {
        let mtu = u64::from(self.info.mtu);
        if self.pairs[pair as usize].flow == NONE {
            self.conn_cover(pair, va, len);
            return;
        }
        let ps = &mut self.pairs[pair as usize];
        let Some(off) = va.checked_sub(ps.base) else {
            self.corrupt += 1;
            return;
        };
        if !off.is_multiple_of(mtu) || off.saturating_add(u64::from(len)) > ps.bytes {
            self.corrupt += 1;
            return;
        }
        match ps.seen.add(off, u64::from(len)) {
            Added::New => {}
            Added::Duplicate => return,
            Added::Overlap => {
                self.corrupt += 1;
                return;
            }
        }
        ps.covered += u64::from(len);
        self.rec.delivered += u64::from(len);
        if ps.covered == ps.bytes {
            let flow = ps.flow;
            self.recv_pair_done(flow);
        }
    }

    fn recv_pair_done(&mut self, flow: u32) {
        let f = &mut self.flows[flow as usize];
        f.recv_pending = f.recv_pending.saturating_sub(1);
        if f.recv_pending == 0
            && let Some(t) = self.spec.workload.flows[flow as usize].recv_done_trigger
        {
            self.activate(t);
        }
    }

    /// Sends what the NIC's QPs have for its idle ports, one packet per port at a time (the
    /// NIC layer arbitrates).
    fn service_nic(&mut self, nic: u32) {
        let base = self.port_base[nic as usize];
        let now = self.now();
        let now_ps = self.q.now();
        // A RoCE QP is bound to its port and ignores its status (a real NIC's QP on a dead
        // link sends into it, times out and errors), so ECMP transports see dead ports as
        // ready and their packets are lost on the link; MRC is told and avoids them.
        let blind = self.routing == Routing::Ecmp;
        loop {
            let mut ready = 0u32;
            for p in 0..self.planes {
                let port = &self.ports[(base + p) as usize];
                if now_ps >= port.busy_until
                    && port.data.is_empty()
                    && port.ctrl.is_empty()
                    && !port.paused
                {
                    ready |= 1 << p;
                }
            }
            if ready == 0 {
                break;
            }
            let layer = &mut self.nic_layer[nic as usize];
            let sent = if blind {
                layer.poll_transmit_masked(now, PortMask(ready))
            } else {
                layer.poll_transmit(now, PortMask(ready))
            };
            let Some((qp, tx)) = sent else {
                break;
            };
            self.inject(nic, qp, tx);
            self.after_qp(nic, qp);
        }
    }

    /// Schedules QP end `ep`'s `Timer` event for its deadline `t`, unless one at or before it
    /// is pending (a stale later one finds nothing due and re-arms).
    fn arm_timer(&mut self, ep: u32, t: Instant) {
        let now = self.q.now();
        let mut tp = t.as_nanos().saturating_mul(PS_PER_NS).max(now);
        let timer = &mut self.qp_timer[ep as usize];
        if tp == now && timer.fired_at == now {
            tp = now + PS_PER_NS;
        }
        if timer.pending.is_none_or(|a| tp < a) {
            timer.pending = Some(tp);
            self.q.schedule(tp, Ev::Timer { ep });
        }
    }

    /// The `Timer` event of QP end `ep` at `t`: runs its timers if due, then the NIC sends.
    fn qp_timer(&mut self, ep: u32, t: Time) {
        let timer = &mut self.qp_timer[ep as usize];
        if timer.pending != Some(t) {
            return;
        }
        timer.pending = None;
        let pair = &self.pairs[(ep / 2) as usize];
        let (nic, qp) = if ep.is_multiple_of(2) {
            pair.src
        } else {
            pair.dst
        };
        let now = self.now();
        if self.nic_layer[nic as usize].handle_timeout_of(now, qp) {
            self.qp_timer[ep as usize].fired_at = t;
        }
        self.after_qp(nic, qp);
        self.service_nic(nic);
    }

    fn inject(&mut self, nic: u32, qp: QpId, tx: Transmit) {
        if u32::from(tx.port) >= self.planes {
            self.misrouted += 1;
            return;
        }
        let layer = &self.nic_layer[nic as usize];
        let (Some(PeerId(dst_nic)), Some(pair)) = (layer.peer(qp), layer.qp(qp).map(|q| q.pair))
        else {
            self.misrouted += 1;
            return;
        };
        let srv6 = self.routing == Routing::Srv6;
        let carrier = match &self.fabric {
            Fabric::Clos(c, ..) if srv6 => match c.usids(FabricEv(tx.ev), nic, dst_nic) {
                Ok(c) => Some(c),
                Err(_) => {
                    self.misrouted += 1;
                    return;
                }
            },
            _ => None,
        };
        let overhead = OVERHEAD_BYTES + if srv6 { SRV6_ENCAP_BYTES } else { 0 };
        let bytes = tx.repr.buffer_len() as u32 + overhead;
        if let Body::Write(w) = tx.repr.body {
            self.nic_tx_payload[nic as usize] += u64::from(w.payload_len);
        }
        let hash = mix((u64::from(nic) << 40)
            ^ (u64::from(dst_nic) << 16)
            ^ mix(u64::from(tx.repr.bth.dest_qp) << 32 | u64::from(tx.ev)));
        let pk = self.alloc(
            Pkt {
                carrier,
                next: NONE,
                behind_at: 0,
                dst_nic,
                bytes,
                hash,
                in_port: NONE,
                class: tx.class,
                trim: None,
                ecn: false,
                srv6,
            },
            Meta {
                repr: tx.repr,
                ev: tx.ev,
                src_nic: nic,
                pair,
            },
        );
        self.pkts_sent += 1;
        let g = self.port_base[nic as usize] + u32::from(tx.port);
        let port = &mut self.ports[g as usize];
        if tx.class == TrafficClass::Control {
            port.ctrl_bytes += u64::from(bytes);
            port.ctrl.push(&mut self.pkts, pk);
        } else {
            port.data_bytes += u64::from(bytes);
            port.data.push(&mut self.pkts, pk);
        }
        self.start_tx(g);
    }

    /// After anything that may have changed QP `qp` (a packet, a transmit, its timer, a post,
    /// a port change): acts on its events (completed writes, QP errors, EV state changes),
    /// then follows its timer.
    fn after_qp(&mut self, nic: u32, qp: QpId) {
        while let Some(q) = self.nic_layer[nic as usize].qp_mut(qp) {
            let (pair, requester) = (q.pair, q.is_requester());
            if let Some(e) = q.poll_event() {
                self.qp_event(pair, requester, e);
            } else {
                if let Some(t) = q.conn().poll_timeout() {
                    self.arm_timer(qp_end(pair, requester), t);
                }
                return;
            }
        }
    }

    fn qp_event(&mut self, pair: u32, requester: bool, e: Event) {
        match e {
            Event::SendComplete { wr_id, status } if requester => {
                let ok = status == WcStatus::Success;
                if self.pairs[pair as usize].flow == NONE {
                    self.conn_write_done(pair, wr_id, ok);
                } else {
                    self.pair_done(pair, ok);
                }
            }
            Event::QpError(_) => self.qp_errors += 1,
            Event::EvState { ev, state, .. }
                if requester
                    && self
                        .ev_watch
                        .is_some_and(|w| w == self.pairs[pair as usize].flow) =>
            {
                let at_ps = self.q.now();
                let good = state == EvState::Good;
                self.ev_log.push(EvChange { at_ps, ev, good });
            }
            _ => {}
        }
    }

    fn pair_done(&mut self, pair: u32, ok: bool) {
        let ps = &mut self.pairs[pair as usize];
        if ps.done {
            return;
        }
        ps.done = true;
        ps.ok = ok;
        let flow = ps.flow;
        self.flow_part_done(flow, ok);
    }

    /// One of the QPs (or writes) of `flow` completed.
    fn flow_part_done(&mut self, flow: u32, ok: bool) {
        let f = &mut self.flows[flow as usize];
        f.pending = f.pending.saturating_sub(1);
        f.ok &= ok;
        if f.pending == 0 {
            f.done = Some(self.q.now());
            self.flows_done += 1;
            if let Some(t) = self.spec.workload.flows[flow as usize].send_done_trigger {
                self.activate(t);
            }
            if self.dag.is_some() {
                self.dag_flow_done(flow);
            }
        }
    }

    fn activate(&mut self, id: u32) {
        let now = self.q.now();
        let Some(t) = self.triggers.get_mut(&id) else {
            return;
        };
        t.count += 1;
        let fire = match t.kind {
            TriggerKind::Oneshot => !t.fired,
            TriggerKind::Multishot => true,
            TriggerKind::Barrier { count } => !t.fired && t.count >= count,
        };
        if fire {
            t.fired = true;
            for &f in &t.waiting {
                self.q.schedule(now, Ev::FlowStart { flow: f });
            }
            t.waiting.clear();
        }
    }

    fn start_flow(&mut self, flow: u32) {
        if self.flows[flow as usize].start.is_some() {
            return;
        }
        if self.dag_conn_flow(flow) {
            return;
        }
        let now = self.q.now();
        let spec = self.spec.workload.flows[flow as usize];
        let qps = u64::from(self.factory.qps_per_flow().max(1)).min(spec.bytes.max(1));
        let first_pair = self.pairs.len() as u32;
        {
            let f = &mut self.flows[flow as usize];
            f.start = Some(now);
            f.ok = true;
            f.pending = qps as u32;
            f.recv_pending = qps as u32;
            f.pairs = (first_pair, first_pair + qps as u32);
        }
        if spec.bytes == 0 {
            let f = &mut self.flows[flow as usize];
            f.pending = 0;
            f.recv_pending = 0;
            f.done = Some(now);
            self.flows_done += 1;
            if let Some(t) = spec.send_done_trigger {
                self.activate(t);
            }
            if let Some(t) = spec.recv_done_trigger {
                self.activate(t);
            }
            return;
        }
        for k in 0..qps {
            let bytes = spec.bytes / qps + u64::from(k < spec.bytes % qps);
            let pair = self.new_pair(flow, spec.src, spec.dst, bytes);
            if !self.post_write(pair, u64::from(pair), 0, bytes) {
                self.pair_done(pair, false);
            }
            self.after_pair(pair);
        }
        self.service_nic(spec.src);
    }

    /// Posts a write of `len` bytes at `offset` of pair `pair`'s regions, completing with
    /// `id`; false if the requester refused it. The caller follows with `after_pair`.
    fn post_write(&mut self, pair: u32, id: u64, offset: u64, len: u64) -> bool {
        let (nic, qp) = self.pairs[pair as usize].src;
        self.nic_layer[nic as usize]
            .qp_mut(qp)
            .is_some_and(|q| q.post_write(id, offset, len))
    }

    /// `after_qp` for both ends of pair `pair` (requester first).
    fn after_pair(&mut self, pair: u32) {
        let PairState { src, dst, .. } = self.pairs[pair as usize];
        self.after_qp(src.0, src.1);
        self.after_qp(dst.0, dst.1);
    }

    /// Creates a QP pair `src` → `dst` whose responder region holds `bytes` (`flow` = NONE: a
    /// persistent connection of a DAG workload, see `conns`), with both ends scheduled at their
    /// NICs and told which ports are down.
    fn new_pair(&mut self, flow: u32, src: u32, dst: u32, bytes: u64) -> u32 {
        let pair = self.pairs.len() as u32;
        let qpn = (2 * pair + 0x100, 2 * pair + 0x101);
        let pi = PairInfo {
            pair,
            src,
            dst,
            bytes,
            planes: self.planes as u8,
            qpn,
            recv_peers: self.peers.recv.get(dst as usize).copied().unwrap_or(0),
            send_peers: self.peers.send.get(src as usize).copied().unwrap_or(0),
            seed: stream(self.spec.seed, 4, u64::from(pair)),
        };
        let (a, b) = self.factory.make_pair(&self.info, &pi);
        let responder = SimQp::new(b, (qpn.1, qpn.0), bytes, None, pair);
        let remote = responder.region();
        let requester = SimQp::new(a, qpn, bytes, Some(remote), pair);
        let now = self.now();
        // QPNs are unique per pair, so neither NIC can refuse them; each NIC tells its new QP
        // which of its ports are down.
        let src_qp = self.nic_layer[src as usize]
            .add_qp(now, requester, Some(PeerId(dst)))
            .expect("QPNs are unique per pair");
        let dst_qp = self.nic_layer[dst as usize]
            .add_qp(now, responder, Some(PeerId(src)))
            .expect("QPNs are unique per pair");
        let idle = QpTimer {
            pending: None,
            fired_at: Time::MAX,
        };
        self.qp_timer.extend([idle, idle]);
        self.pairs.push(PairState {
            flow,
            src: (src, src_qp),
            dst: (dst, dst_qp),
            bytes: if flow == NONE { 0 } else { bytes },
            base: remote.addr,
            seen: Coverage::default(),
            covered: 0,
            done: false,
            ok: false,
        });
        pair
    }

    // ---------------------------------------------------------------- failures

    fn apply(&mut self, idx: u32) {
        let act = self.acts[idx as usize];
        self.rec_mark(act.target, act.change);
        let r = self.resolved[act.target as usize].clone();
        let now = self.q.now();
        let delay = self.spec.net.reconvergence_ps;
        match act.change {
            Change::Down | Change::Up => {
                let up = matches!(act.change, Change::Up);
                for &l in &r.links {
                    self.links[l as usize].up = up;
                    if !up {
                        let [a, b] = self.link_ports[l as usize];
                        self.flush_port(a);
                        self.flush_port(b);
                    }
                }
                for &n in &r.nodes {
                    self.node_up[n as usize] = up;
                    if !up {
                        self.flush_node(n);
                    }
                }
                let now_ns = self.now();
                for &(nic, port) in &r.nic_ports {
                    let layer = &mut self.nic_layer[nic as usize];
                    layer.handle_port_status(now_ns, port, up);
                    for i in 0..layer.len() as u32 {
                        self.after_qp(nic, QpId(i));
                    }
                    if up {
                        self.service_nic(nic);
                    }
                }
                self.reroutes.push((act.target, up));
                self.q.schedule(
                    now + delay,
                    Ev::Reroute {
                        idx: (self.reroutes.len() - 1) as u32,
                    },
                );
            }
            Change::BlackHole(on) => {
                for &l in &r.links {
                    self.links[l as usize].black_hole = on;
                }
                for &n in &r.nodes {
                    for l in self.node_links(n) {
                        self.links[l as usize].black_hole = on;
                    }
                }
            }
            Change::Loss(ppm) => {
                for &l in &r.links {
                    self.links[l as usize].loss_ppm = ppm;
                }
            }
        }
    }

    fn node_links(&self, n: u32) -> Vec<u32> {
        self.fabric
            .topo()
            .ports(NodeId(n))
            .iter()
            .flatten()
            .map(|l| l.0)
            .collect()
    }

    fn flush_node(&mut self, n: u32) {
        let (a, b) = (self.port_base[n as usize], self.port_base[n as usize + 1]);
        for g in a..b {
            self.flush_port(g);
            self.ports[g as usize].ingress_bytes = 0;
            self.ports[g as usize].pause_sent = false;
            let rev = self.ports[g as usize].rev;
            if rev != NONE {
                self.flush_port(rev);
            }
        }
    }

    /// A port whose link went down: its queues are lost and PFC pause state is cleared (the
    /// switch sees loss of signal). Silent failures (black holes) do not call this.
    fn flush_port(&mut self, g: u32) {
        let node = self.ports[g as usize].node;
        let port = &mut self.ports[g as usize];
        let mut drained = Vec::new();
        while let Some(pk) = port.ctrl.pop(&self.pkts) {
            drained.push(pk);
        }
        while let Some(pk) = port.data.pop(&self.pkts) {
            drained.push(pk);
        }
        port.ctrl_bytes = 0;
        port.data_bytes = 0;
        port.paused = false;
        for pk in drained {
            let (inp, bytes) = {
                let p = &self.pkts[pk as usize];
                (p.in_port, p.bytes)
            };
            if node < self.nics {
                self.pkts_dropped_link += 1;
                self.free.push(pk);
            } else {
                if inp != NONE {
                    self.pfc_release(inp, bytes);
                }
                self.drop_at(node, pk);
            }
        }
    }

    fn reroute(&mut self, idx: u32) {
        let (target, up) = self.reroutes[idx as usize];
        let r = self.resolved[target as usize].clone();
        for &l in &r.links {
            let ls = &mut self.links[l as usize];
            if ls.routed_up != up {
                ls.routed_up = up;
                if up {
                    self.routed_down -= 1;
                } else {
                    self.routed_down += 1;
                }
            }
        }
        for &n in &r.nodes {
            if self.node_routed_up[n as usize] != up {
                self.node_routed_up[n as usize] = up;
                if up {
                    self.routed_down -= 1;
                } else {
                    self.routed_down += 1;
                }
            }
        }
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

    /// Per-port counters (for conservation and utilisation tests).
    pub fn port_counters(&self) -> Vec<PortCounters> {
        self.ports
            .iter()
            .filter(|p| p.link != NONE)
            .map(|p| PortCounters {
                node: p.node,
                gbps: p.gbps,
                tx_bytes: p.tx_bytes,
                busy_ps: p.busy_ps,
                queued_bytes: p.data_bytes + p.ctrl_bytes,
            })
            .collect()
    }

    fn report(&self, wall_s: f64) -> RunReport {
        let mut fcts: Vec<u64> = Vec::new();
        let mut first_start = u64::MAX;
        let mut last_end = 0u64;
        let mut all_ok = true;
        let mut failed = 0u64;
        for f in &self.flows {
            if let Some(s) = f.start {
                first_start = first_start.min(s);
            }
            match (f.start, f.done) {
                (Some(s), Some(d)) if f.ok => {
                    fcts.push(d - s);
                    last_end = last_end.max(d);
                }
                // Ended with an error (a QP error): failed, not done; no FCT.
                (Some(_), Some(d)) => {
                    failed += 1;
                    last_end = last_end.max(d);
                    all_ok = false;
                }
                _ => all_ok = false,
            }
        }
        let end = if let Some(e) = self.dag_end() {
            e
        } else if self.dag.is_none() && self.flows_done == self.flows.len() as u64 {
            last_end
        } else {
            self.q.now()
        };
        let mut st = mrc_proto::Stats::default();
        for q in self.nic_layer.iter().flat_map(Nic::qps) {
            let s = q.conn().stats();
            st.data_sent += s.data_sent;
            st.data_retransmitted += s.data_retransmitted;
            st.bytes_placed += s.bytes_placed;
            st.ev_retired += s.ev_retired;
            st.ev_resurrected += s.ev_resurrected;
            st.spurious_retransmits += s.spurious_retransmits;
            st.probes_sent += s.probes_sent;
        }
        let expected: u64 = self.spec.workload.flows.iter().map(|f| f.bytes).sum();
        let covered: u64 = self.pairs.iter().map(|p| p.covered).sum();
        let placed_ok = self.pairs.iter().all(|p| {
            let placed = self.qp(p.dst).map_or(0, |q| q.conn().stats().bytes_placed);
            placed == p.bytes || placed == 0
        });
        let data_intact = all_ok
            && covered == expected
            && self.corrupt == 0
            && self.misrouted == 0
            && placed_ok
            && self.flows_done == self.flows.len() as u64;
        let mut sw = SwitchCounters::default();
        for c in &self.sw[self.nics as usize..] {
            sw.add(c);
        }
        // Ideal: the busiest NIC moving its payload at line rate.
        let nic_gbps = u64::from(self.info.lane_gbps) * u64::from(self.planes);
        let busiest = self
            .nic_tx_payload_expected()
            .into_iter()
            .max()
            .unwrap_or(0);
        let ideal_ps = busiest * 8_000 / nic_gbps.max(1);
        let makespan = end.saturating_sub(if first_start == u64::MAX {
            0
        } else {
            first_start
        });
        // Only a run that finished all its work has a makespan to compare with the ideal.
        let finished = if self.dag.is_some() {
            self.dag_end().is_some()
        } else {
            self.flows_done == self.flows.len() as u64
        };
        let goodput_fraction =
            (finished && makespan > 0).then(|| (ideal_ps as f64 / makespan as f64).min(1.0));
        RunReport {
            transport: self.factory.name(),
            sim_time_ps: end,
            wall_s,
            nics: self.nics,
            events: self.q.popped(),
            flows: fcts.len() as u64,
            flows_failed: failed,
            flows_total: self.flows.len() as u64,
            fct_ps: mrc_workload::failure::percentiles(&fcts),
            fcts_ps: self
                .flows
                .iter()
                .map(|f| match (f.start, f.done) {
                    (Some(s), Some(d)) if f.ok => Some(d - s),
                    _ => None,
                })
                .collect(),
            goodput_fraction,
            bytes_expected: expected,
            bytes_delivered: covered,
            data_intact,
            packets_sent: self.pkts_sent,
            data_packets_sent: st.data_sent,
            retransmitted: st.data_retransmitted,
            trimmed: sw.pkts_trimmed,
            dropped: sw.pkts_dropped + self.pkts_dropped_link,
            dropped_link: self.pkts_dropped_link,
            ecn_marked: sw.pkts_marked,
            pfc_pauses: sw.pfc_pauses,
            ev_retired: st.ev_retired,
            ev_resurrected: st.ev_resurrected,
            spurious_retransmits: st.spurious_retransmits,
            probes_sent: st.probes_sent,
            qp_errors: self.qp_errors,
            switches: sw,
            timeline: Default::default(),
            watched_ev_changes: self.ev_log.clone(),
        }
    }

    fn nic_tx_payload_expected(&self) -> Vec<u64> {
        let mut tx = vec![0u64; self.nics as usize];
        let mut rx = vec![0u64; self.nics as usize];
        for f in &self.spec.workload.flows {
            tx[f.src as usize] += f.bytes;
            rx[f.dst as usize] += f.bytes;
        }
        tx.iter().zip(&rx).map(|(a, b)| *a.max(b)).collect()
    }

    /// Switch counters of every switch (index = node id − NICs).
    pub fn switch_counters(&self) -> &[SwitchCounters] {
        &self.sw[self.nics as usize..]
    }

    /// Bytes queued at each switch right now.
    pub fn switch_queued(&self) -> Vec<u64> {
        (self.nics..self.sw.len() as u32)
            .map(|n| {
                let (a, b) = (self.port_base[n as usize], self.port_base[n as usize + 1]);
                (a..b)
                    .map(|g| {
                        let p = &self.ports[g as usize];
                        p.data_bytes + p.ctrl_bytes
                    })
                    .sum()
            })
            .collect()
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
