//! The network's data: packets, the intrusive FIFOs that queue them, egress ports and link state.

use mrc_fabric::{NodeId, NodeKind, Topology};
use mrc_proto::{TrafficClass, Trim};
use mrc_wire::mrc;
use mrc_wire::usid::Carrier;

use crate::kernel::{PS_PER_NS, Time};
use crate::rng::{SplitMix64, stream};

use super::NONE;
use super::ids::{Id as _, IdVec, NO_NODE, PairId, PktId, PortId};

/// What every hop needs of a packet (one cache line).
#[derive(Clone, Copy, Debug)]
#[repr(align(64))]
pub(super) struct Pkt {
    pub(super) carrier: Option<Carrier>,
    /// Next packet in the same port FIFO (intrusive list), or `NONE`.
    pub(super) next: PktId,
    /// While on the wire and not last: when the packet behind this one on the link arrives.
    /// Its `Arrive` event is scheduled when this one arrives, and reading the time here, in a
    /// line just loaded, spares a cache miss on a packet that is not handled yet.
    pub(super) behind_at: Time,
    pub(super) dst_nic: u32,
    pub(super) bytes: u32,
    pub(super) hash: u64,
    /// The switch ingress port whose PFC account holds it, or `NONE`.
    pub(super) in_port: PortId,
    pub(super) class: TrafficClass,
    pub(super) trim: Option<Trim>,
    pub(super) ecn: bool,
    pub(super) srv6: bool,
}

/// What only the NICs need (typed headers, EV, the sending NIC for the demux, the pair).
#[derive(Clone, Copy, Debug)]
pub(super) struct Meta {
    pub(super) repr: mrc::Repr,
    pub(super) ev: u32,
    pub(super) src_nic: u32,
    pub(super) pair: PairId,
}

/// A FIFO of packets linked through [`Pkt::next`]: no buffer of its own, so a port's queues
/// cost no extra cache misses.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fifo {
    pub(super) head: PktId,
    pub(super) tail: PktId,
}

impl Fifo {
    pub(super) const EMPTY: Self = Self {
        head: PktId::NONE,
        tail: PktId::NONE,
    };

    pub(super) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    pub(super) fn push(&mut self, pkts: &mut IdVec<PktId, Pkt>, pk: PktId) {
        pkts[pk].next = PktId::NONE;
        if self.tail.is_none() {
            self.head = pk;
        } else {
            pkts[self.tail].next = pk;
        }
        self.tail = pk;
    }

    pub(super) fn pop(&mut self, pkts: &IdVec<PktId, Pkt>) -> Option<PktId> {
        if self.head.is_none() {
            return None;
        }
        let pk = self.head;
        self.head = pkts[pk].next;
        if self.head.is_none() {
            self.tail = PktId::NONE;
        }
        Some(pk)
    }
}

/// An egress port (two cache lines; queues are intrusive packet lists). Field order is the
/// memory layout: the first line holds the FIFOs, link, peer and timing.
#[derive(Debug)]
#[repr(C, align(64))]
pub(super) struct Port {
    /// Packets on the wire, in arrival order (constant latency, so FIFO): only the head has an
    /// `Arrive` event in the queue, which keeps the event queue small.
    pub(super) flight: Fifo,
    pub(super) data: Fifo,
    pub(super) ctrl: Fifo,
    /// The link (`NONE`: an unconnected port).
    pub(super) link: u32,
    /// The node at the far end.
    pub(super) peer: NodeId,
    /// The port of the same link in the other direction.
    pub(super) rev: PortId,
    /// The node it belongs to.
    pub(super) node: NodeId,
    /// The port serialises until this time.
    pub(super) busy_until: Time,
    pub(super) latency_ps: Time,
    pub(super) data_bytes: u64,
    pub(super) ctrl_bytes: u64,
    pub(super) gbps: u32,
    pub(super) to_nic: bool,
    pub(super) paused: bool,
    /// A `TxDone` event is pending (only scheduled when something waits, or at NICs).
    pub(super) wake: bool,
    pub(super) pause_sent: bool,
    /// Whether the far end belongs to another partition: what this port sends crosses over
    /// as a message at the next window barrier.
    pub(super) remote: bool,
    /// PFC frames sent from this (ingress) port, and the last frame applied to this (egress)
    /// port: `Ev::Pfc`'s `seq`.
    pub(super) pfc_sent: u16,
    pub(super) pfc_seen: u16,
    pub(super) tx_bytes: u64,
    pub(super) tx_pkts: u64,
    pub(super) busy_ps: Time,
    pub(super) ingress_bytes: u64,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct LinkState {
    pub(super) up: bool,
    pub(super) black_hole: bool,
    pub(super) loss_ppm: u32,
    pub(super) routed_up: bool,
}

pub(super) fn ser_ps(bytes: u32, gbps: u32) -> Time {
    (u64::from(bytes) * 8_000).div_ceil(u64::from(gbps.max(1)))
}

/// The network's state: every egress port, the packet arena, links and node status. Node
/// `n`'s ports are `port_base[n]..port_base[n + 1]`, in the topology's port order.
pub(super) struct Net {
    /// Packet arena: what every hop reads ([`Pkt`]) and what only NICs read ([`Meta`]).
    pub(super) pkts: IdVec<PktId, Pkt>,
    pub(super) meta: IdVec<PktId, Meta>,
    /// Free arena slots.
    pub(super) free: Vec<PktId>,
    pub(super) ports: IdVec<PortId, Port>,
    /// Per node: its first port (one more entry: the number of ports).
    pub(super) port_base: Vec<PortId>,
    /// 0 for NICs, switch tier + 1 for switches.
    pub(super) node_tier: IdVec<NodeId, u8>,
    /// Whether a node forwards (a rebooting switch drops everything).
    pub(super) node_up: IdVec<NodeId, bool>,
    /// Whether conventional routing believes the node is up (after reconvergence).
    pub(super) node_routed_up: IdVec<NodeId, bool>,
    pub(super) links: Vec<LinkState>,
    /// The two ports (directions) of each link.
    pub(super) link_ports: Vec<[PortId; 2]>,
    /// Per link direction (the egress port sending into it): the random stream of its losses.
    /// One per direction, not per link: the two directions are received by different nodes,
    /// which may run in different partitions.
    pub(super) loss_rng: IdVec<PortId, SplitMix64>,
}

impl Net {
    /// The ports, links and nodes of `topo`, all up and idle.
    pub(super) fn new(topo: &Topology, seed: u64) -> Self {
        let nics = topo.nic_count();
        let nodes = topo.nodes().len();
        let mut port_base = Vec::with_capacity(nodes + 1);
        let mut total = 0u32;
        for n in 0..nodes {
            port_base.push(PortId(total));
            total += topo.ports(NodeId(n as u32)).len() as u32;
        }
        port_base.push(PortId(total));
        let node_tier: IdVec<NodeId, u8> = topo
            .nodes()
            .iter()
            .map(|n| match n.kind {
                NodeKind::Nic { .. } => 0,
                NodeKind::Switch { tier, .. } => tier + 1,
            })
            .collect::<Vec<_>>()
            .into();
        let mut ports = IdVec::with_capacity(total as usize);
        for n in 0..nodes {
            let node = NodeId(n as u32);
            for link in topo.ports(node) {
                let (peer, rev, link_id, gbps, lat) = match link {
                    Some(l) => {
                        let lk = topo.link(*l);
                        let other = lk.other(node);
                        (
                            other.node,
                            PortId(port_base[other.node.index()].0 + other.port),
                            l.0,
                            lk.gbps,
                            u64::from(lk.latency_ns) * PS_PER_NS,
                        )
                    }
                    None => (NO_NODE, PortId::NONE, NONE, 1, 0),
                };
                ports.push(Port {
                    node,
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
                    to_nic: peer != NO_NODE && peer.0 < nics,
                    paused: false,
                    tx_bytes: 0,
                    tx_pkts: 0,
                    busy_ps: 0,
                    ingress_bytes: 0,
                    pause_sent: false,
                    remote: false,
                    pfc_sent: 0,
                    pfc_seen: 0,
                    flight: Fifo::EMPTY,
                });
            }
        }
        let links = vec![
            LinkState {
                up: true,
                black_hole: false,
                loss_ppm: 0,
                routed_up: true,
            };
            topo.links().len()
        ];
        let mut link_ports = vec![[PortId::NONE; 2]; links.len()];
        for (g, p) in ports.iter_enumerated() {
            if p.link != NONE {
                let e = &mut link_ports[p.link as usize];
                if e[0].is_none() {
                    e[0] = g;
                } else {
                    e[1] = g;
                }
            }
        }
        let loss_rng = (0..ports.len() as u64)
            .map(|g| SplitMix64::new(stream(seed, 3, g)))
            .collect();
        Self {
            pkts: IdVec::with_capacity(1 << 14),
            meta: IdVec::with_capacity(1 << 14),
            free: Vec::new(),
            ports,
            port_base,
            node_tier,
            node_up: vec![true; nodes].into(),
            node_routed_up: vec![true; nodes].into(),
            loss_rng,
            links,
            link_ports,
        }
    }
}

impl Net {
    /// Port `local` of `node`.
    #[inline]
    pub(super) fn port_of(&self, node: NodeId, local: u32) -> PortId {
        PortId(self.port_base[node.index()].0 + local)
    }

    /// The ports of `node`.
    pub(super) fn ports_of(&self, node: NodeId) -> impl Iterator<Item = PortId> + use<> {
        (self.port_base[node.index()].0..self.port_base[node.index() + 1].0).map(PortId)
    }

    /// Stores a new packet in a free slot of the arena (inlined: it is on the per-packet path).
    #[inline]
    pub(super) fn alloc(&mut self, p: Pkt, m: Meta) -> PktId {
        if let Some(i) = self.free.pop() {
            self.pkts[i] = p;
            self.meta[i] = m;
            i
        } else {
            self.meta.push(m);
            self.pkts.push(p)
        }
    }
}
