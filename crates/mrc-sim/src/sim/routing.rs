//! Forwarding at a switch: conventional ECMP (static, or around routed-down links after
//! reconvergence) and SRv6 uSID lookups, and a packet's arrival at the far end of a link.

use super::*;

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
    pub(super) fn usable(&self, g: u32) -> bool {
        let p = &self.ports[g as usize];
        p.link != NONE
            && self.links[p.link as usize].routed_up
            && self.node_routed_up[p.peer as usize]
    }

    /// Whether `node` can reach NIC `dst` by the routed (control-plane) view.
    pub(super) fn reaches(&self, node: u32, dst: u32, depth: u32) -> bool {
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

    pub(super) fn ecmp_port(&self, node: u32, dst: u32, hash: u64) -> Option<u32> {
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

    pub(super) fn arrive(&mut self, pk: u32, g: u32) {
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

    pub(super) fn srv6_port(&mut self, node: u32, pk: u32) -> Option<u32> {
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
}
