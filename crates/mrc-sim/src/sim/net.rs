//! The network's data: packets, the intrusive FIFOs that queue them, egress ports and link state.

use super::NONE;
use super::Sim;
use crate::factory::TransportFactory;
use crate::kernel::PS_PER_NS;
use crate::kernel::Time;
use crate::rng::SplitMix64;
use crate::rng::stream;
use mrc_fabric::NodeId;
use mrc_fabric::NodeKind;
use mrc_fabric::Topology;
use mrc_proto::TrafficClass;
use mrc_proto::Trim;
use mrc_wire::mrc;
use mrc_wire::usid::Carrier;

/// What every hop needs of a packet (one cache line).
#[derive(Clone, Copy, Debug)]
#[repr(align(64))]
pub(super) struct Pkt {
    pub(super) carrier: Option<Carrier>,
    /// Next packet in the same port FIFO (intrusive list), or `NONE`.
    pub(super) next: u32,
    /// While on the wire and not last: when the packet behind this one on the link arrives.
    /// Its `Arrive` event is scheduled when this one arrives, and reading the time here, in a
    /// line just loaded, spares a cache miss on a packet that is not handled yet.
    pub(super) behind_at: Time,
    pub(super) dst_nic: u32,
    pub(super) bytes: u32,
    pub(super) hash: u64,
    pub(super) in_port: u32,
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
    pub(super) pair: u32,
}

/// A FIFO of packets linked through [`Pkt::next`]: no buffer of its own, so a port's queues
/// cost no extra cache misses.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fifo {
    pub(super) head: u32,
    pub(super) tail: u32,
}

impl Fifo {
    pub(super) const EMPTY: Self = Self {
        head: NONE,
        tail: NONE,
    };

    pub(super) fn is_empty(&self) -> bool {
        self.head == NONE
    }

    pub(super) fn push(&mut self, pkts: &mut [Pkt], pk: u32) {
        pkts[pk as usize].next = NONE;
        if self.tail == NONE {
            self.head = pk;
        } else {
            pkts[self.tail as usize].next = pk;
        }
        self.tail = pk;
    }

    pub(super) fn pop(&mut self, pkts: &[Pkt]) -> Option<u32> {
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
pub(super) struct Port {
    /// Packets on the wire, in arrival order (constant latency, so FIFO): only the head has an
    /// `Arrive` event in the queue, which keeps the event queue small.
    pub(super) flight: Fifo,
    pub(super) data: Fifo,
    pub(super) ctrl: Fifo,
    pub(super) link: u32,
    pub(super) peer: u32,
    pub(super) rev: u32,
    pub(super) node: u32,
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

impl<F: TransportFactory> Sim<F> {
    pub(super) fn alloc(&mut self, p: Pkt, m: Meta) -> u32 {
        if let Some(i) = self.net.free.pop() {
            self.net.pkts[i as usize] = p;
            self.net.meta[i as usize] = m;
            i
        } else {
            self.net.pkts.push(p);
            self.net.meta.push(m);
            (self.net.pkts.len() - 1) as u32
        }
    }
}

/// The network's state: every egress port, the packet arena, links and node status. Node
/// `n`'s ports are `port_base[n]..port_base[n + 1]`, in the topology's port order.
pub(super) struct Net {
    /// Packet arena: what every hop reads ([`Pkt`]) and what only NICs read ([`Meta`]).
    pub(super) pkts: Vec<Pkt>,
    pub(super) meta: Vec<Meta>,
    /// Free arena slots.
    pub(super) free: Vec<u32>,
    pub(super) ports: Vec<Port>,
    pub(super) port_base: Vec<u32>,
    /// 0 for NICs, switch tier + 1 for switches.
    pub(super) node_tier: Vec<u8>,
    /// Whether a node forwards (a rebooting switch drops everything).
    pub(super) node_up: Vec<bool>,
    /// Whether conventional routing believes the node is up (after reconvergence).
    pub(super) node_routed_up: Vec<bool>,
    pub(super) links: Vec<LinkState>,
    /// The two ports (directions) of each link.
    pub(super) link_ports: Vec<[u32; 2]>,
    /// Per link: the random stream of its losses.
    pub(super) link_rng: Vec<SplitMix64>,
}

impl Net {
    /// The ports, links and nodes of `topo`, all up and idle.
    pub(super) fn new(topo: &Topology, seed: u64) -> Self {
        let nics = topo.nic_count();
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
            for link in topo.ports(node) {
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
        Self {
            pkts: Vec::with_capacity(1 << 14),
            meta: Vec::with_capacity(1 << 14),
            free: Vec::new(),
            ports,
            port_base,
            node_tier,
            node_up: vec![true; nodes],
            node_routed_up: vec![true; nodes],
            link_rng: (0..links.len() as u64)
                .map(|l| SplitMix64::new(stream(seed, 3, l)))
                .collect(),
            links,
            link_ports,
        }
    }
}
