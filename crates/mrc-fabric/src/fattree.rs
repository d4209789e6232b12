//! Single-plane k-ary fat trees of 2 or 3 tiers at full NIC speed, shaped like htsim's default
//! `FatTreeTopology`: the full tree is built and the first `nics` host slots are populated.
//!
//! 2 tiers: `k` T0 (k/2 down, k/2 up) and `k/2` T1 (k down), `k²/2` hosts.
//! 3 tiers: `k` pods of `k/2` T0 + `k/2` T1 (aggregation), `(k/2)²` T2 (core), `k³/4` hosts.

use crate::error::{Param, ParamError};
use crate::topology::{NodeId, NodeKind, PortRef, Topology};

/// Parameters of a fat tree.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct FatTreeParams {
    /// Switch radix `k` (even).
    pub k: u32,
    /// Tiers: 2 or 3.
    pub tiers: u32,
    /// NICs to attach; `None` = every host slot.
    pub nics: Option<u32>,
    /// Link speed in Gb/s (every link runs at full NIC speed).
    pub gbps: u32,
    /// One-way latency of a NIC–T0 cable in ns.
    pub nic_link_latency_ns: u32,
    /// One-way latency of a switch–switch cable in ns.
    pub switch_link_latency_ns: u32,
}

impl FatTreeParams {
    /// A full k-ary tree of `tiers` tiers with 800G links and 500 ns cables.
    pub fn new(k: u32, tiers: u32) -> Self {
        Self {
            k,
            tiers,
            nics: None,
            gbps: 800,
            nic_link_latency_ns: 500,
            switch_link_latency_ns: 500,
        }
    }

    /// The smallest even `k` whose `tiers`-tier tree holds `nics` hosts (htsim's choice of K).
    pub fn for_nics(nics: u32, tiers: u32) -> Self {
        let mut k = 2;
        while (2..=3).contains(&tiers) && max_hosts(k, tiers) < u64::from(nics) {
            k += 2;
        }
        Self {
            nics: Some(nics),
            ..Self::new(k, tiers)
        }
    }

    /// Attaches only `nics` NICs.
    pub fn with_nics(mut self, nics: u32) -> Self {
        self.nics = Some(nics);
        self
    }

    /// Sets the link speed.
    pub fn with_gbps(mut self, gbps: u32) -> Self {
        self.gbps = gbps;
        self
    }

    /// Sets the cable latencies.
    pub fn with_latency_ns(mut self, nic_link: u32, switch_link: u32) -> Self {
        self.nic_link_latency_ns = nic_link;
        self.switch_link_latency_ns = switch_link;
        self
    }
}

/// Host slots of a full k-ary tree with `tiers` tiers: `2·(k/2)^tiers`.
pub fn max_hosts(k: u32, tiers: u32) -> u64 {
    2 * u64::from(k / 2).pow(tiers)
}

/// A built fat tree.
#[derive(Clone, Debug)]
pub struct FatTree {
    params: FatTreeParams,
    per_tier: Vec<u32>,
    topo: Topology,
}

impl FatTree {
    /// Builds the tree.
    pub fn new(params: FatTreeParams) -> Result<Self, ParamError> {
        let k = params.k;
        if k == 0 {
            return Err(ParamError::Zero(Param::Radix));
        }
        if params.gbps == 0 {
            return Err(ParamError::Zero(Param::NicGbps));
        }
        if k < 2 || !k.is_multiple_of(2) {
            return Err(ParamError::RadixNotEven { radix: k });
        }
        if !(2..=3).contains(&params.tiers) {
            return Err(ParamError::BadTiers {
                tiers: params.tiers,
            });
        }
        let max = max_hosts(k, params.tiers);
        if max > 1 << 26 {
            return Err(ParamError::TooLarge {
                param: Param::Radix,
                what: "hosts",
                value: max,
            });
        }
        let nics = params.nics.unwrap_or(max as u32);
        if nics == 0 {
            return Err(ParamError::Zero(Param::Nics));
        }
        if u64::from(nics) > max {
            return Err(ParamError::FatTreeTooSmall {
                nics,
                max,
                k,
                tiers: params.tiers,
            });
        }
        let h = k / 2;
        let per_tier = if params.tiers == 2 {
            vec![k, h]
        } else {
            vec![k * h, k * h, h * h]
        };
        let switches: u32 = per_tier.iter().sum();
        let mut topo = Topology::with_capacity(
            (nics + switches) as usize,
            (nics + switches * k) as usize,
            (nics + switches * k) as usize,
        );
        for n in 0..nics {
            topo.add_node(NodeKind::Nic { index: n }, 1, (n, n + 1));
        }
        let clip = |lo: u32, len: u32| (lo.min(nics), (lo + len).min(nics));
        let base = nics;
        let t0_count = per_tier[0];
        for i in 0..t0_count {
            topo.add_node(
                NodeKind::Switch {
                    plane: 0,
                    tier: 0,
                    index: i,
                },
                k,
                clip(i * h, h),
            );
        }
        let t0 = |i: u32| NodeId(base + i);
        let t1 = |j: u32| NodeId(base + t0_count + j);
        for n in 0..nics {
            let port = PortRef {
                node: t0(n / h),
                port: n % h,
            };
            topo.connect(
                PortRef {
                    node: NodeId(n),
                    port: 0,
                },
                port,
                params.gbps,
                params.nic_link_latency_ns,
            );
        }
        let lat = params.switch_link_latency_ns;
        if params.tiers == 2 {
            for j in 0..h {
                topo.add_node(
                    NodeKind::Switch {
                        plane: 0,
                        tier: 1,
                        index: j,
                    },
                    k,
                    (0, nics),
                );
            }
            for i in 0..k {
                for u in 0..h {
                    topo.connect(
                        PortRef {
                            node: t0(i),
                            port: h + u,
                        },
                        PortRef {
                            node: t1(u),
                            port: i,
                        },
                        params.gbps,
                        lat,
                    );
                }
            }
        } else {
            for j in 0..k * h {
                topo.add_node(
                    NodeKind::Switch {
                        plane: 0,
                        tier: 1,
                        index: j,
                    },
                    k,
                    clip((j / h) * h * h, h * h),
                );
            }
            for c in 0..h * h {
                topo.add_node(
                    NodeKind::Switch {
                        plane: 0,
                        tier: 2,
                        index: c,
                    },
                    k,
                    (0, nics),
                );
            }
            let t2 = |c: u32| NodeId(base + 2 * k * h + c);
            for pod in 0..k {
                for e in 0..h {
                    for u in 0..h {
                        let a = PortRef {
                            node: t0(pod * h + e),
                            port: h + u,
                        };
                        topo.connect(
                            a,
                            PortRef {
                                node: t1(pod * h + u),
                                port: e,
                            },
                            params.gbps,
                            lat,
                        );
                    }
                }
            }
            for pod in 0..k {
                for a in 0..h {
                    for m in 0..h {
                        let agg = PortRef {
                            node: t1(pod * h + a),
                            port: h + m,
                        };
                        topo.connect(
                            agg,
                            PortRef {
                                node: t2(a * h + m),
                                port: pod,
                            },
                            params.gbps,
                            lat,
                        );
                    }
                }
            }
        }
        Ok(Self {
            params,
            per_tier,
            topo,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &FatTreeParams {
        &self.params
    }
    /// Switches per tier, T0 first.
    pub fn switches_per_tier(&self) -> &[u32] {
        &self.per_tier
    }
    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k64_three_tiers() {
        let ft = FatTree::new(FatTreeParams::new(64, 3)).unwrap();
        assert_eq!(ft.topology().nic_count(), 65_536);
        assert_eq!(ft.switches_per_tier(), &[2_048, 2_048, 1_024]);
        assert_eq!(ft.topology().switch_count(), 5_120);
    }

    #[test]
    fn htsim_k_choice_and_partial() {
        let p = FatTreeParams::for_nics(128, 3);
        assert_eq!(p.k, 8);
        let ft = FatTree::new(p.with_nics(100)).unwrap();
        assert_eq!(ft.topology().nic_count(), 100);
        assert!(FatTree::new(FatTreeParams::new(8, 3).with_nics(129)).is_err());
        assert!(FatTree::new(FatTreeParams::new(7, 3)).is_err());
        assert!(FatTree::new(FatTreeParams::new(8, 4)).is_err());
    }

    #[test]
    fn ecmp_up_down() {
        let ft = FatTree::new(FatTreeParams::new(8, 3)).unwrap();
        let t = ft.topology();
        // T0 0 holds NICs 0..4; ports 4..8 are uplinks.
        let t0 = NodeId(128);
        assert_eq!(t.ecmp_next_hops(t0, 1).collect::<Vec<_>>(), vec![1]);
        assert_eq!(
            t.ecmp_next_hops(t0, 100).collect::<Vec<_>>(),
            vec![4, 5, 6, 7]
        );
        // Every ECMP walk from any NIC reaches its destination in ≤ 5 switch hops.
        for (src, dst) in [(0, 127), (5, 6), (0, 1), (64, 3)] {
            let mut node = NodeId(src);
            let mut hops = 0;
            while node != NodeId(dst) {
                let port = t.ecmp_select(node, dst, (hops * 7 + src) as u64).unwrap();
                node = t.peer(node, port).unwrap().node;
                hops += 1;
                assert!(hops <= 6);
            }
        }
    }
}
