//! Building a simulation: the fabric, its ports, the fabric figures handed to the transports,
//! switch queue limits, and finding a failure's or tap's target.

use super::*;

pub(super) enum Fabric {
    /// The Clos and its static tables (`mrc_fabric::StaticTables`) as per-node sorted `(uSID, action)`
    /// arrays for fast lookup (every key shares the fabric's block).
    Clos(Box<Clos>, Vec<Vec<(u16, Action)>>),
    FatTree(Box<FatTree>),
}

impl Fabric {
    pub(super) fn topo(&self) -> &Topology {
        match self {
            Self::Clos(c, ..) => c.topology(),
            Self::FatTree(f) => f.topology(),
        }
    }
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

    pub(super) fn find_switch(&self, plane: u32, tier: u32, index: u32) -> Option<u32> {
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

    pub(super) fn resolve(&self, index: usize, target: Target) -> Result<Resolved, SimError> {
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
}
