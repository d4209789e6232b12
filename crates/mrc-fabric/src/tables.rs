//! Static /48 SRv6 tables (docs/fabric-and-srv6.md §7.3) and forwarding through them with the real
//! uN shift-and-forward operation of [`mrc_wire::usid::Carrier`].
//!
//! The tables are highly regular, so each node stores a few *rules*; a rule covers a run of /48
//! keys `first_key + i·key_stride` (`i < count`) mapped to the same action on port
//! `first_port + i·port_stride`. [`Table::lookup`] is an exact /48 match; [`Table::entries`]
//! materialises every entry (for export and table sizes).

use core::net::Ipv6Addr;

use mrc_wire::usid::Carrier;

use crate::clos::{Clos, Ev, Path, RouteError};
use crate::rng::SplitMix64;
use crate::topology::{LinkId, NodeId};
use crate::usid::Usid;

/// What a /48 entry does with a packet.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Action {
    /// uN: the node's own SID — shift the uSIDs and look the new /48 up (End, NEXT-C-SID).
    End,
    /// uA: shift and leave through this port (End.X, NEXT-C-SID).
    EndX(u32),
    /// Static route: forward unchanged out of this port.
    Forward(u32),
    /// Decapsulate and deliver the inner packet locally (End.DT6).
    Decap,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RuleKind {
    End,
    EndX,
    Forward,
    Decap,
}

/// A run of table entries with one action kind (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Rule {
    first_key: u64,
    key_stride: u32,
    count: u32,
    first_port: u32,
    port_stride: u32,
    kind: RuleKind,
}

impl Rule {
    fn new(kind: RuleKind, first: Usid, count: u32, first_port: u32) -> Self {
        Self {
            first_key: first.key(),
            key_stride: 1,
            count,
            first_port,
            port_stride: 1,
            kind,
        }
    }

    fn action(&self, i: u32) -> Action {
        let port = self.first_port + i * self.port_stride;
        match self.kind {
            RuleKind::End => Action::End,
            RuleKind::EndX => Action::EndX(port),
            RuleKind::Forward => Action::Forward(port),
            RuleKind::Decap => Action::Decap,
        }
    }

    fn lookup(&self, key: u64) -> Option<Action> {
        let off = key.checked_sub(self.first_key)?;
        let stride = u64::from(self.key_stride);
        (off.is_multiple_of(stride) && off / stride < u64::from(self.count))
            .then(|| self.action((off / stride) as u32))
    }
}

/// The static table of one node (a view into [`StaticTables`]).
#[derive(Clone, Copy, Debug)]
pub struct Table<'a> {
    rules: &'a [Rule],
}

impl<'a> Table<'a> {
    /// Exact /48 lookup of a key (`block << 16 | uSID`).
    pub fn lookup(&self, key: u64) -> Option<Action> {
        self.rules.iter().find_map(|r| r.lookup(key))
    }

    /// Number of /48 entries.
    pub fn len(&self) -> usize {
        self.rules.iter().map(|r| r.count as usize).sum()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of compact rules stored.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Every entry as `(key, action)`, sorted by key.
    pub fn entries(&self) -> Vec<(u64, Action)> {
        let mut all: Vec<(u64, Action)> = self
            .rules
            .iter()
            .flat_map(|r| {
                (0..r.count).map(move |i| {
                    (
                        r.first_key + u64::from(i) * u64::from(r.key_stride),
                        r.action(i),
                    )
                })
            })
            .collect();
        all.sort_unstable();
        all
    }
}

/// The static tables of every node of a [`Clos`] (switches and NIC lanes), stored flat.
#[derive(Clone, Debug)]
pub struct StaticTables {
    rules: Vec<Rule>,
    start: Vec<u32>,
}

/// Why forwarding through the tables failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardError {
    /// No /48 entry matched at a node.
    #[error("no /48 entry for key {key:#x} at node {node}")]
    NoRoute {
        /// The node.
        node: u32,
        /// The key looked up.
        key: u64,
    },
    /// The outer destination is not a well-formed uSID carrier, or its uSIDs ran out.
    #[error("malformed or exhausted uSID carrier at node {0}")]
    Carrier(u32),
    /// An action pointed to an unconnected port.
    #[error("node {node} port {port} is not connected")]
    DeadPort {
        /// The node.
        node: u32,
        /// The port.
        port: u32,
    },
    /// A NIC was asked to forward or a switch to decapsulate.
    #[error("action not allowed at node {0}")]
    WrongAction(u32),
    /// Too many hops (a loop).
    #[error("forwarding loop")]
    Loop,
}

/// Where a packet went: the links it crossed and the NIC that decapsulated it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Trace {
    links: [LinkId; 8],
    n_links: u8,
    /// The NIC that decapsulated the packet.
    pub delivered_to: u32,
}

impl Trace {
    /// The links crossed, in order.
    pub fn links(&self) -> &[LinkId] {
        &self.links[..self.n_links as usize]
    }
}

/// A verification failure: the tables disagree with `path(ev)`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The triple is not routable.
    #[error("src {src} dst {dst} EV {ev:#x}: {err}")]
    Route {
        /// Source NIC.
        src: u32,
        /// Destination NIC.
        dst: u32,
        /// EV.
        ev: u32,
        /// The error.
        err: RouteError,
    },
    /// The packet was dropped.
    #[error("src {src} dst {dst} EV {ev:#x}: {err}")]
    Forward {
        /// Source NIC.
        src: u32,
        /// Destination NIC.
        dst: u32,
        /// EV.
        ev: u32,
        /// The error.
        err: ForwardError,
    },
    /// The packet arrived elsewhere or took other links than `path(ev)` names.
    #[error("src {src} dst {dst} EV {ev:#x}: tables and path(ev) disagree")]
    Mismatch {
        /// Source NIC.
        src: u32,
        /// Destination NIC.
        dst: u32,
        /// EV.
        ev: u32,
    },
}

impl StaticTables {
    /// Builds the tables of every switch and NIC of `clos` (§7.3; uA entries below full size).
    pub fn new(clos: &Clos) -> Self {
        let d = *clos.dims();
        let topo = clos.topology();
        let nodes = topo.nodes().len();
        let mut rules = Vec::with_capacity(d.nics as usize * 2 + d.switches() as usize * 5);
        let mut start = Vec::with_capacity(nodes + 1);
        let plane_stride = u32::from(Usid::t0(1, 0).encode() - Usid::t0(0, 0).encode());
        for n in 0..d.nics {
            start.push(rules.len() as u32);
            let (a, q) = clos.attachment(n);
            // NIC(p,q) → decap and T0(p,a) → lane p, for every plane p.
            rules.push(Rule {
                key_stride: plane_stride,
                port_stride: 0,
                ..Rule::new(RuleKind::Decap, Usid::nic(0, q as u16), d.planes, 0)
            });
            rules.push(Rule {
                key_stride: plane_stride,
                ..Rule::new(RuleKind::Forward, Usid::t0(0, a as u16), d.planes, 0)
            });
        }
        for p in 0..d.planes {
            let p8 = p as u8;
            for i in 0..d.t0 {
                start.push(rules.len() as u32);
                let attached = (d.nics - i * d.t0_down).min(d.t0_down);
                rules.push(Rule::new(RuleKind::End, Usid::t0(p8, i as u16), 1, 0));
                rules.push(Rule::new(
                    RuleKind::Forward,
                    Usid::t1(p8, 0),
                    d.t1,
                    d.t0_down,
                ));
                rules.push(Rule::new(RuleKind::Forward, Usid::nic(p8, 0), attached, 0));
                if d.parallel > 1 {
                    rules.push(Rule::new(
                        RuleKind::EndX,
                        Usid::adj(p8, d.t0_down as u16),
                        d.t0_up,
                        d.t0_down,
                    ));
                }
            }
            for j in 0..d.t1 {
                start.push(rules.len() as u32);
                rules.push(Rule::new(RuleKind::End, Usid::t1(p8, j as u16), 1, 0));
                rules.push(Rule::new(RuleKind::Forward, Usid::t0(p8, 0), d.t0, 0));
                if d.parallel > 1 {
                    rules.push(Rule::new(
                        RuleKind::EndX,
                        Usid::adj(p8, 0),
                        d.t0 * d.parallel,
                        0,
                    ));
                }
            }
        }
        start.push(rules.len() as u32);
        debug_assert_eq!(start.len(), nodes + 1);
        Self { rules, start }
    }

    /// The table of a node (switch or NIC).
    pub fn table(&self, node: NodeId) -> Table<'_> {
        let (a, b) = (
            self.start[node.0 as usize] as usize,
            self.start[node.0 as usize + 1] as usize,
        );
        Table {
            rules: &self.rules[a..b],
        }
    }

    /// Total compact rules stored.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Heap bytes of the compact representation.
    pub fn heap_bytes(&self) -> usize {
        self.rules.capacity() * size_of::<Rule>() + self.start.capacity() * size_of::<u32>()
    }

    /// Sends a packet from NIC `src` to the outer destination `da` through the tables: the NIC's
    /// first-hop entry, then at every switch a /48 lookup, uN/uA shifting the carrier, until a NIC
    /// decapsulates.
    pub fn forward(&self, clos: &Clos, src: u32, da: Ipv6Addr) -> Result<Trace, ForwardError> {
        let topo = clos.topology();
        let mut carrier = Carrier::from_addr(da).map_err(|_| ForwardError::Carrier(src))?;
        let mut trace = Trace {
            links: [LinkId(0); 8],
            n_links: 0,
            delivered_to: u32::MAX,
        };
        let mut node = NodeId(src);
        let port = match self.table(node).lookup(carrier.lookup_key()) {
            Some(Action::Forward(port)) => port,
            Some(_) => return Err(ForwardError::WrongAction(node.0)),
            None => {
                return Err(ForwardError::NoRoute {
                    node: node.0,
                    key: carrier.lookup_key(),
                });
            }
        };
        let mut port = port;
        loop {
            let link = topo
                .port_link(node, port)
                .ok_or(ForwardError::DeadPort { node: node.0, port })?;
            if usize::from(trace.n_links) == trace.links.len() {
                return Err(ForwardError::Loop);
            }
            trace.links[usize::from(trace.n_links)] = link;
            trace.n_links += 1;
            node = topo.link(link).other(node).node;
            let is_switch = topo.node(node).is_switch();
            port = loop {
                let key = carrier.lookup_key();
                if carrier.active().is_none() {
                    return Err(ForwardError::Carrier(node.0));
                }
                match self.table(node).lookup(key) {
                    None => return Err(ForwardError::NoRoute { node: node.0, key }),
                    Some(Action::Decap) if !is_switch => {
                        trace.delivered_to = node.0;
                        return Ok(trace);
                    }
                    Some(_) if !is_switch => return Err(ForwardError::WrongAction(node.0)),
                    Some(Action::Decap) => return Err(ForwardError::WrongAction(node.0)),
                    Some(Action::End) => {
                        carrier.shift();
                    }
                    Some(Action::EndX(port)) => {
                        carrier.shift();
                        break port;
                    }
                    Some(Action::Forward(port)) => break port,
                }
            };
        }
    }

    /// Checks one triple: the packet for `da(ev, src, dst)` reaches `dst` over exactly the links
    /// `path(ev, src, dst)` names, and the DA decodes back to that path.
    pub fn verify(&self, clos: &Clos, src: u32, dst: u32, ev: Ev) -> Result<Path, VerifyError> {
        let route = |err| VerifyError::Route {
            src,
            dst,
            ev: ev.0,
            err,
        };
        let da = clos.da(ev, src, dst).map_err(route)?;
        let path = clos.path(ev, src, dst).map_err(route)?;
        let trace = self
            .forward(clos, src, da)
            .map_err(|err| VerifyError::Forward {
                src,
                dst,
                ev: ev.0,
                err,
            })?;
        let back = clos.path_of_da(src, da).map_err(route)?;
        if trace.delivered_to != dst || trace.links() != path.links() || back != path {
            return Err(VerifyError::Mismatch { src, dst, ev: ev.0 });
        }
        Ok(path)
    }

    /// Verifies every (source, destination, EV) triple; returns the number checked.
    pub fn verify_all(&self, clos: &Clos) -> Result<u64, VerifyError> {
        let n = clos.dims().nics;
        let evs: Vec<Ev> = clos.evs().collect();
        let mut checked = 0;
        for src in 0..n {
            for dst in 0..n {
                for &ev in &evs {
                    self.verify(clos, src, dst, ev)?;
                    checked += 1;
                }
            }
        }
        Ok(checked)
    }

    /// Verifies `count` random triples drawn with a seeded SplitMix64.
    pub fn verify_random(&self, clos: &Clos, seed: u64, count: u64) -> Result<u64, VerifyError> {
        let d = clos.dims();
        let mut rng = SplitMix64::new(seed);
        for _ in 0..count {
            let src = rng.below(d.nics.into()) as u32;
            let dst = rng.below(d.nics.into()) as u32;
            let plane = rng.below(d.planes.into()) as u32;
            let uplink = rng.below(d.t0_up.into()) as u32;
            self.verify(clos, src, dst, clos.ev(plane, uplink))?;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clos::ClosParams;

    /// Exhaustive verification: every (src, dst, EV) of several small fabrics, full size and
    /// partial (parallel T0–T1 links with uA SIDs, a partly filled last T0, oversubscription).
    #[test]
    fn exhaustive_small_fabrics() {
        for params in [
            ClosParams::new(128, 8, 800, 1_600), // radix 16, full size: 16 T0, 8 T1
            ClosParams::new(100, 4, 400, 1_600), // radix 16, partly filled last T0
            ClosParams::new(20, 8, 800, 1_600),  // radix 16: 3 T0, 2 T1, 4 parallel links
            ClosParams::new(40, 8, 800, 1_600), // radix 16: 5 T0, 4 T1 (3 needed → divisor 4), 2 parallel
            ClosParams::new(48, 2, 200, 1_600), // radix 16, 6 T0, 4 T1 (parallel 2)
            ClosParams::new(96, 8, 800, 1_600).with_t0_uplinks(4), // 3:1 oversubscribed
            ClosParams::new(1_024, 1, 100, 6_400), // radix 64, 1,024 NICs, one plane
        ] {
            let clos = Clos::new(params).unwrap();
            let tables = StaticTables::new(&clos);
            let d = *clos.dims();
            let n = tables.verify_all(&clos).unwrap();
            assert_eq!(
                n,
                u64::from(d.nics).pow(2) * d.paths_per_pair(),
                "{params:?}"
            );
        }
    }

    /// 1,024 NICs, 8 planes: every (src, dst) pair with EVs sampled (every plane, a stride of
    /// uplinks) — the full cube (268 M triples) is left to `examples/verify.rs`.
    #[test]
    fn all_pairs_1024_nics() {
        let clos = Clos::new(ClosParams::new(1_024, 8, 800, 6_400)).unwrap();
        let tables = StaticTables::new(&clos);
        for src in 0..1_024 {
            for dst in 0..1_024 {
                let ev = clos.ev((src + dst) % 8, (src * 7 + dst) % 32);
                tables.verify(&clos, src, dst, ev).unwrap();
            }
        }
    }

    #[test]
    fn million_random_triples_full_fabric() {
        let clos = Clos::new(ClosParams::default()).unwrap();
        let tables = StaticTables::new(&clos);
        assert_eq!(
            tables.verify_random(&clos, 0x5eed, 1_000_000).unwrap(),
            1_000_000
        );
    }

    #[test]
    fn partial_fabric_uses_ua_and_distinct_links() {
        // N = 65,536 on radix 512: 256 T0, 128 T1, two parallel links per pair (§2).
        let clos = Clos::new(ClosParams::new(65_536, 8, 800, 51_200)).unwrap();
        let d = *clos.dims();
        assert_eq!((d.t0, d.t1, d.parallel), (256, 128, 2));
        let tables = StaticTables::new(&clos);
        let (p0, p1) = (
            clos.path(clos.ev(0, 3), 0, 60_000).unwrap(),
            clos.path(clos.ev(0, 131), 0, 60_000).unwrap(),
        );
        assert_eq!(p0.switches(), p1.switches());
        assert_ne!(p0.links()[1], p1.links()[1]);
        assert_ne!(p0.links()[2], p1.links()[2]);
        for ev in [clos.ev(0, 3), clos.ev(0, 131)] {
            tables.verify(&clos, 0, 60_000, ev).unwrap();
        }
        assert_eq!(tables.verify_random(&clos, 7, 100_000).unwrap(), 100_000);
        assert_eq!(tables.table(clos.t0(0, 0)).len(), 1 + 128 + 256 + 256);
        assert_eq!(tables.table(clos.t1(0, 0)).len(), 1 + 256 + 512);
    }

    #[test]
    fn drops_unknown_destinations() {
        let clos = Clos::new(ClosParams::new(128, 8, 800, 1_600)).unwrap();
        let tables = StaticTables::new(&clos);
        // A T0 uSID of another plane than the lane's T0 at the T1: no entry.
        let da: Ipv6Addr = "fc00:0:800:1000:2801:1800::".parse().unwrap();
        assert!(matches!(
            tables.forward(&clos, 0, da),
            Err(ForwardError::NoRoute { .. })
        ));
        let da: Ipv6Addr = "fc00:0:800:1000::".parse().unwrap();
        assert!(matches!(
            tables.forward(&clos, 0, da),
            Err(ForwardError::Carrier(_))
        ));
    }
}
