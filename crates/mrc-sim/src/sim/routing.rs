//! Forwarding at a switch: conventional ECMP (static, or around routed-down links after
//! reconvergence) and SRv6 uSID lookups, and a packet's arrival at the far end of a link.

use mrc_fabric::{Action, NodeId, Topology};

use crate::factory::TransportFactory;
use crate::rng::{mix, stream};

use super::build::Fabric;
use super::ids::{Id as _, IdVec, PktId, PortId};
use super::{NONE, Sim};

/// Conventional up/down routing of one switch in compact form: the NICs below it, its down
/// ports with the NICs below each, and its up ports (all in port order).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct EcmpInfo {
    pub(super) lo: u32,
    pub(super) hi: u32,
    /// Range of `Sim::ecmp_down`: `(first NIC below, end, port)` per down port.
    pub(super) down: (u32, u32),
    /// Range of `Sim::ecmp_up`: up ports.
    pub(super) up: (u32, u32),
}

impl<F: TransportFactory> Sim<F> {
    pub(super) fn usable(&self, g: PortId) -> bool {
        let p = &self.net.ports[g];
        p.link != NONE
            && self.net.links[p.link as usize].routed_up
            && self.net.node_routed_up[p.peer]
    }

    /// Whether `node` can reach NIC `dst` by the routed (control-plane) view.
    pub(super) fn reaches(&self, node: NodeId, dst: u32, depth: u32) -> bool {
        if node.0 == dst {
            return true;
        }
        if depth == 0 || self.is_nic(node) {
            return false;
        }
        let topo = self.fabric.topo();
        let me = topo.node(node);
        let below = me.down_range().contains(&dst);
        let tier = self.net.node_tier[node];
        self.net.ports_of(node).any(|g| {
            if !self.usable(g) {
                return false;
            }
            let peer = self.net.ports[g].peer;
            let pt = self.net.node_tier[peer];
            if below {
                pt < tier
                    && topo.node(peer).down_range().contains(&dst)
                    && self.reaches(peer, dst, depth - 1)
            } else {
                pt > tier && self.reaches(peer, dst, depth - 1)
            }
        })
    }

    pub(super) fn ecmp_port(&self, node: NodeId, dst: u32, hash: u64) -> Option<u32> {
        let topo = self.fabric.topo();
        if self.routes.routed_down == 0 {
            // Same choice as `Topology::ecmp_select`, from compact per-switch lists.
            let r = self.routes.ecmp[node];
            if r.lo <= dst && dst < r.hi {
                let down = &self.routes.ecmp_down[r.down.0 as usize..r.down.1 as usize];
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
            let up = &self.routes.ecmp_up[r.up.0 as usize..r.up.1 as usize];
            if up.is_empty() {
                return None;
            }
            return Some(up[(hash % up.len() as u64) as usize]);
        }
        let ok = |p: &u32| {
            let g = self.net.port_of(node, *p);
            self.usable(g) && self.reaches(self.net.ports[g].peer, dst, 4)
        };
        let n = topo.ecmp_next_hops(node, dst).filter(ok).count() as u64;
        if n == 0 {
            // Nothing routed works: fall back to the static choice (packets will be lost).
            return topo.ecmp_select(node, dst, hash);
        }
        topo.ecmp_next_hops(node, dst)
            .filter(ok)
            .nth((hash % n) as usize)
    }

    pub(super) fn arrive(&mut self, pk: PktId, g: PortId) {
        let (link, node, in_port) = {
            let p = &self.net.ports[g];
            (p.link, p.peer, p.rev)
        };
        let ls = self.net.links[link as usize];
        let lost = !ls.up
            || ls.black_hole
            || !self.net.node_up[node]
            || (ls.loss_ppm > 0 && self.net.loss_rng[g].chance_ppm(ls.loss_ppm));
        if lost {
            self.count.pkts_dropped_link += 1;
            self.net.free.push(pk);
            return;
        }
        if self.is_nic(node) {
            self.deliver(node.0, pk, in_port);
            return;
        }
        let bytes = self.net.pkts[pk].bytes;
        self.sw.counters[node].bytes_in += u64::from(bytes);
        self.net.pkts[pk].in_port = PortId::NONE;
        let egress = if self.net.pkts[pk].srv6 {
            self.srv6_port(node, pk)
        } else {
            let p = &self.net.pkts[pk];
            let h = mix(p.hash ^ self.routes.node_seed[node]);
            self.ecmp_port(node, p.dst_nic, h)
        };
        match egress {
            Some(local) => {
                let g2 = self.net.port_of(node, local);
                if self.net.ports[g2].link == NONE {
                    self.count.misrouted += 1;
                    self.drop_at(node, pk);
                } else {
                    self.enqueue(g2, pk, in_port);
                }
            }
            None => {
                self.count.misrouted += 1;
                self.drop_at(node, pk);
            }
        }
    }

    pub(super) fn srv6_port(&mut self, node: NodeId, pk: PktId) -> Option<u32> {
        let Fabric::Clos(_, fast) = &self.fabric else {
            return None;
        };
        let table = &fast[node.index()];
        let c = self.net.pkts[pk].carrier.as_mut()?;
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
}

/// Conventional (ECMP) routing state: compact per-switch next-hop lists and what reconvergence
/// has routed around.
pub(super) struct Routes {
    /// Per node (NICs: empty).
    pub(super) ecmp: IdVec<NodeId, EcmpInfo>,
    /// `(first NIC below, end, port)` per down port, ranges per switch in `ecmp`.
    pub(super) ecmp_down: Vec<(u32, u32, u32)>,
    /// Up ports, ranges per switch in `ecmp`.
    pub(super) ecmp_up: Vec<u32>,
    /// Per node: the seed mixed into a packet's hash, so switches choose independently.
    pub(super) node_seed: IdVec<NodeId, u64>,
    /// Links and nodes routed as down: while 0, the compact lists are exact.
    pub(super) routed_down: u32,
}

impl Routes {
    /// The static up/down routes of `topo`.
    pub(super) fn new(topo: &Topology, node_tier: &IdVec<NodeId, u8>, seed: u64) -> Self {
        let nodes = topo.nodes().len() as u32;
        let mut ecmp_down = Vec::new();
        let mut ecmp_up = Vec::new();
        let ecmp: IdVec<NodeId, EcmpInfo> = (0..nodes)
            .map(|n| {
                let me = topo.node(NodeId(n));
                if !me.is_switch() {
                    return EcmpInfo::default();
                }
                let tier = node_tier[NodeId(n)];
                let (d0, u0) = (ecmp_down.len() as u32, ecmp_up.len() as u32);
                for (p, l) in topo.ports(NodeId(n)).iter().enumerate() {
                    let Some(l) = l else { continue };
                    let peer = topo.link(*l).other(NodeId(n)).node;
                    if node_tier[peer] < tier {
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
        Self {
            ecmp,
            ecmp_down,
            ecmp_up,
            node_seed: (0..u64::from(nodes)).map(|n| stream(seed, 1, n)).collect(),
            routed_down: 0,
        }
    }
}
