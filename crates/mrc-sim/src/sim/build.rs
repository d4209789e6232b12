//! Building a simulation: the fabric, its ports, the fabric figures handed to the transports,
//! switch queue limits, and finding a failure's or tap's target.

use mrc_fabric::{Action, Clos, FatTree, NodeId, NodeKind, StaticTables, Topology};

use crate::config::{FabricSpec, RunSpec};
use crate::factory::{FabricInfo, Routing, TransportFactory};
use crate::failure::Target;
use crate::kernel::{EventQueue, PS_PER_NS};

use super::failures::{Failures, Resolved};
use super::flows::Work;
use super::ids::Id;
use super::net::{Net, ser_ps};
use super::nic::Nics;
use super::part::Part;
use super::report::Counters;
use super::routing::Routes;
use super::switch::Switches;
use super::{OVERHEAD_BYTES, SRV6_ENCAP_BYTES, Sim, SimError, record};

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

impl Fabric {
    /// Builds the fabric of `spec`; a Clos's static tables become per-node sorted arrays.
    fn new(spec: FabricSpec) -> Result<Self, SimError> {
        Ok(match spec {
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
                Self::Clos(Box::new(clos), fast)
            }
            FabricSpec::FatTree(p) => Self::FatTree(Box::new(FatTree::new(p)?)),
        })
    }

    /// The fabric figures handed to the transports, and one port's bandwidth-delay product
    /// in bytes (the switch queue defaults scale with it).
    fn figures(&self, spec: &RunSpec, routing: Routing) -> (FabricInfo, u64) {
        let topo = self.topo();
        let planes = topo.ports(NodeId(0)).len() as u32;
        let lane_gbps = topo.links().first().map_or(100, |l| l.gbps);
        let overhead = OVERHEAD_BYTES
            + if routing == Routing::Srv6 {
                SRV6_ENCAP_BYTES
            } else {
                0
            };
        let max_links: u64 = match self {
            Self::Clos(..) => 4,
            Self::FatTree(f) => 2 * u64::from(f.params().tiers),
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
        let (uplinks, uplink_bits) = match self {
            Self::Clos(c, ..) => (c.dims().t0_up, c.dims().uplink_bits()),
            Self::FatTree(f) => (f.params().k / 2, 8),
        };
        let info = FabricInfo {
            planes: planes as u8,
            lane_gbps,
            base_rtt_ns,
            mtu,
            uplinks,
            uplink_bits,
            routing,
            trimming: spec.net.switch.trimming,
        };
        (info, port_bdp)
    }
}

impl<F: TransportFactory> Sim<F> {
    /// Builds the fabric, the ports and the failure schedule of a run.
    pub fn new(spec: RunSpec, factory: F) -> Result<Self, SimError> {
        let fabric = Fabric::new(spec.net.fabric)?;
        // SRv6 needs the Clos's static tables; everything else routes by ECMP.
        let routing = match (&fabric, factory.routing()) {
            (Fabric::Clos(..), Routing::Srv6) => Routing::Srv6,
            _ => Routing::Ecmp,
        };
        let (info, port_bdp) = fabric.figures(&spec, routing);
        let topo = fabric.topo();
        let nics = topo.nic_count();
        let net = Net::new(topo, spec.seed);
        let routes = Routes::new(topo, &net.node_tier, spec.seed);
        let overhead = OVERHEAD_BYTES
            + if routing == Routing::Srv6 {
                SRV6_ENCAP_BYTES
            } else {
                0
            };
        let sw = Switches::new(
            &spec.net,
            overhead,
            port_bdp,
            info.lane_gbps,
            topo,
            spec.seed,
        );
        let mut sim = Self {
            nic: Nics::new(nics, &spec.workload.flows),
            factory,
            info,
            routing,
            nics,
            planes: topo.ports(NodeId(0)).len() as u32,
            q: EventQueue::new(),
            net,
            routes,
            sw,
            work: Work::default(),
            fail: Failures::default(),
            count: Counters::default(),
            kinds: [0; 4],
            dag: None,
            ev_watch: None,
            ev_log: Vec::new(),
            rec: record::Recorder::default(),
            tap: None,
            lookahead: 0,
            part: Part::whole(),
            fabric,
            spec,
        };
        sim.lookahead = sim
            .net
            .ports
            .iter()
            .filter(|p| !p.rev.is_none())
            .map(|p| p.latency_ps)
            .min()
            .unwrap_or(0);
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
        self.sw.qlimit
    }

    pub(super) fn find_switch(&self, plane: u32, tier: u32, index: u32) -> Option<NodeId> {
        let topo = self.fabric.topo();
        if let Fabric::Clos(c, ..) = &self.fabric {
            let d = c.dims();
            if plane >= d.planes {
                return None;
            }
            return match tier {
                0 if index < d.t0 => Some(c.t0(plane, index)),
                1 if index < d.t1 => Some(c.t1(plane, index)),
                _ => None,
            };
        }
        topo.nodes()
            .iter()
            .position(|n| {
                matches!(n.kind, NodeKind::Switch { plane: p, tier: t, index: i }
                    if u32::from(p) == plane && u32::from(t) == tier && i == index)
            })
            .map(NodeId::new)
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
                    .ports(node)
                    .iter()
                    .filter_map(|l| {
                        let l = (*l)?;
                        let other = topo.link(l).other(node);
                        (self.net.node_tier[other.node] > 1).then_some(l.0)
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
                let g = self.net.port_of(NodeId(nic), plane);
                r.links.push(self.net.ports[g].link);
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
                        r.nodes.push(NodeId::new(n));
                    }
                }
                for nic in 0..self.nics {
                    let g = self.net.port_of(NodeId(nic), plane);
                    r.links.push(self.net.ports[g].link);
                    r.nic_ports.push((nic, plane as u8));
                }
            }
        }
        Ok(r)
    }
}
