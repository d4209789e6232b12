//! Topologies as plain data: nodes (NICs and switches), numbered ports, links with speed and
//! latency. NICs always come first, so NIC `n` is node `n`.

/// A node (NIC or switch) of a [`Topology`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct NodeId(pub u32);

/// A link (one cable) of a [`Topology`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct LinkId(pub u32);

/// One end of a link: a node and its local port number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct PortRef {
    /// The node.
    pub node: NodeId,
    /// Port number on that node.
    pub port: u32,
}

/// What a node is.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum NodeKind {
    /// NIC `index` (equal to its node id).
    Nic {
        /// NIC number.
        index: u32,
    },
    /// A switch.
    Switch {
        /// Plane (0 in single-plane topologies).
        plane: u8,
        /// Tier: 0 = T0 (NIC-facing), 1 = T1, 2 = T2 (core of a 3-tier fat tree).
        tier: u8,
        /// Number of the switch within its plane and tier.
        index: u32,
    },
}

/// A node with its port range and the NICs reachable downwards from it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Node {
    /// What the node is.
    pub kind: NodeKind,
    first_port: u32,
    port_count: u32,
    down: (u32, u32),
}

impl Node {
    /// Number of port slots (some may be unconnected in partial builds).
    pub fn port_count(&self) -> u32 {
        self.port_count
    }

    /// The NICs `lo..hi` reachable by only going down from this node (a NIC: itself).
    pub fn down_range(&self) -> core::ops::Range<u32> {
        self.down.0..self.down.1
    }

    /// Whether this node is a switch.
    pub fn is_switch(&self) -> bool {
        matches!(self.kind, NodeKind::Switch { .. })
    }

    fn tier(&self) -> Option<u8> {
        match self.kind {
            NodeKind::Nic { .. } => None,
            NodeKind::Switch { tier, .. } => Some(tier),
        }
    }
}

/// A cable between two ports.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Link {
    /// The two ends; `ends[0]` is the lower-tier (NIC-side) end.
    pub ends: [PortRef; 2],
    /// Speed in Gb/s.
    pub gbps: u32,
    /// One-way propagation latency in nanoseconds.
    pub latency_ns: u32,
}

impl Link {
    /// The end that is not `node`'s (the first end if the link does not touch `node`).
    pub fn other(&self, node: NodeId) -> PortRef {
        if self.ends[0].node == node {
            self.ends[1]
        } else {
            self.ends[0]
        }
    }
}

/// Nodes, ports and links. Port lists are stored flat (CSR), so large fabrics stay compact.
#[derive(Clone, Debug)]
pub struct Topology {
    nodes: Vec<Node>,
    ports: Vec<Option<LinkId>>,
    links: Vec<Link>,
    nics: u32,
}

impl Topology {
    pub(crate) fn with_capacity(nodes: usize, ports: usize, links: usize) -> Self {
        Self {
            nodes: Vec::with_capacity(nodes),
            ports: Vec::with_capacity(ports),
            links: Vec::with_capacity(links),
            nics: 0,
        }
    }

    /// Adds a node with `ports` unconnected port slots. NICs must be added before switches.
    pub(crate) fn add_node(&mut self, kind: NodeKind, ports: u32, down: (u32, u32)) -> NodeId {
        let id = NodeId(self.nodes.len() as u32);
        if matches!(kind, NodeKind::Nic { .. }) {
            debug_assert_eq!(self.nics, id.0, "NICs come first");
            self.nics += 1;
        }
        self.nodes.push(Node {
            kind,
            first_port: self.ports.len() as u32,
            port_count: ports,
            down,
        });
        self.ports.resize(self.ports.len() + ports as usize, None);
        id
    }

    /// Connects two free ports.
    pub(crate) fn connect(&mut self, a: PortRef, b: PortRef, gbps: u32, latency_ns: u32) -> LinkId {
        let id = LinkId(self.links.len() as u32);
        self.links.push(Link {
            ends: [a, b],
            gbps,
            latency_ns,
        });
        for end in [a, b] {
            let node = &self.nodes[end.node.0 as usize];
            debug_assert!(end.port < node.port_count);
            let slot = &mut self.ports[(node.first_port + end.port) as usize];
            debug_assert!(slot.is_none(), "port used twice");
            *slot = Some(id);
        }
        id
    }

    /// All nodes, indexed by [`NodeId`].
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// One node.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0 as usize]
    }

    /// All links, indexed by [`LinkId`].
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// One link.
    pub fn link(&self, id: LinkId) -> &Link {
        &self.links[id.0 as usize]
    }

    /// Number of NICs (nodes `0..nics`).
    pub fn nic_count(&self) -> u32 {
        self.nics
    }

    /// Number of switches.
    pub fn switch_count(&self) -> u32 {
        self.nodes.len() as u32 - self.nics
    }

    /// The node of NIC `nic`.
    pub fn nic_node(&self, nic: u32) -> NodeId {
        NodeId(nic)
    }

    /// The port slots of a node: the link on each port, `None` where unconnected.
    pub fn ports(&self, node: NodeId) -> &[Option<LinkId>] {
        let n = self.node(node);
        &self.ports[n.first_port as usize..(n.first_port + n.port_count) as usize]
    }

    /// The link on a port, if connected.
    pub fn port_link(&self, node: NodeId, port: u32) -> Option<LinkId> {
        self.ports(node).get(port as usize).copied().flatten()
    }

    /// The far end of the cable on a port, if connected.
    pub fn peer(&self, node: NodeId, port: u32) -> Option<PortRef> {
        self.port_link(node, port).map(|l| self.link(l).other(node))
    }

    /// Links between NICs and switches.
    pub fn nic_link_count(&self) -> u64 {
        self.links
            .iter()
            .filter(|l| !self.node(l.ends[0].node).is_switch())
            .count() as u64
    }

    /// Links between two switches.
    pub fn switch_link_count(&self) -> u64 {
        self.links.len() as u64 - self.nic_link_count()
    }

    /// Deterministic ECMP next hops (egress ports, ascending) at `node` towards NIC `dst`,
    /// as conventional up/down routing computes them: down towards `dst` if it is below this node,
    /// otherwise any uplink. A NIC may use any of its ports (lanes).
    pub fn ecmp_next_hops(&self, node: NodeId, dst: u32) -> impl Iterator<Item = u32> + '_ {
        let me = *self.node(node);
        let below = me.down_range().contains(&dst) && me.is_switch();
        self.ports(node)
            .iter()
            .enumerate()
            .filter_map(move |(port, link)| {
                let peer = self.link((*link)?).other(node);
                let peer_node = self.node(peer.node);
                let down = match (me.tier(), peer_node.tier()) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(a), Some(b)) => b < a,
                };
                let ok = if below {
                    down && peer_node.down_range().contains(&dst)
                } else {
                    !down
                };
                ok.then_some(port as u32)
            })
    }

    /// Picks one of [`Self::ecmp_next_hops`] by `hash` (modulo the number of candidates).
    pub fn ecmp_select(&self, node: NodeId, dst: u32, hash: u64) -> Option<u32> {
        let n = self.ecmp_next_hops(node, dst).count() as u64;
        if n == 0 {
            return None;
        }
        self.ecmp_next_hops(node, dst).nth((hash % n) as usize)
    }
}
