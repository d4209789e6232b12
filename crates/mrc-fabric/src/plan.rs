//! Planner figures (docs/fabric-and-srv6.md §2–§4): the multi-plane two-tier Clos beside the
//! equivalent single-plane design at full NIC speed.
//!
//! Counting rules:
//! - `switch_links`: switch-to-switch cables (T0–T1, and T1–T2… in the single-plane design);
//!   `nic_links`: NIC-to-T0 cables (one per lane). Each cable is counted once.
//! - `transceivers`: optical modules of NIC speed (800G OSFP; a multi-plane NIC port or switch
//!   cage breaks out into lanes), one at each end of every cable:
//!   `2 × (switch_links + nic_links) × lane_gbps / nic_gbps`, rounded up.
//! - Single-plane switch counts for `n` tiers are those of a non-blocking folded Clos:
//!   `⌈N/(k/2)⌉` switches in each of tiers 1..n−1 and `⌈N/k⌉` on top (exact for full k-ary trees:
//!   5k²/4 for 3 tiers).

use crate::clos::ClosParams;
use crate::error::{Param, ParamError};

/// What to plan: the multi-plane request; the single-plane design uses the same NICs and switch.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct PlanParams {
    /// NICs.
    pub nics: u32,
    /// Planes.
    pub planes: u32,
    /// NIC speed, Gb/s.
    pub nic_gbps: u32,
    /// Total switch capacity, Gb/s.
    pub switch_gbps: u32,
    /// T0 uplinks in the multi-plane design (`None` = radix / 2).
    pub t0_uplinks: Option<u32>,
}

impl Default for PlanParams {
    fn default() -> Self {
        let c = ClosParams::default();
        Self {
            nics: c.nics,
            planes: c.planes,
            nic_gbps: c.nic_gbps,
            switch_gbps: c.switch_gbps,
            t0_uplinks: None,
        }
    }
}

impl PlanParams {
    /// A plan request without oversubscription.
    pub fn new(nics: u32, planes: u32, nic_gbps: u32, switch_gbps: u32) -> Self {
        Self {
            nics,
            planes,
            nic_gbps,
            switch_gbps,
            t0_uplinks: None,
        }
    }

    /// Sets the T0 uplinks of the multi-plane design (`None` = radix / 2).
    pub fn with_t0_uplinks(mut self, uplinks: Option<u32>) -> Self {
        self.t0_uplinks = uplinks;
        self
    }

    /// The Clos parameters of the multi-plane design.
    pub fn clos(&self) -> ClosParams {
        let c = ClosParams::new(self.nics, self.planes, self.nic_gbps, self.switch_gbps);
        match self.t0_uplinks {
            Some(u) => c.with_t0_uplinks(u),
            None => c,
        }
    }
}

/// The figures of one design.
#[derive(Clone, PartialEq, Debug)]
#[non_exhaustive]
pub struct Figures {
    /// NICs.
    pub nics: u64,
    /// Planes.
    pub planes: u64,
    /// Lane (switch port) speed, Gb/s.
    pub lane_gbps: u64,
    /// Switch tiers.
    pub tiers: u64,
    /// Switch radix at lane speed.
    pub switch_ports: u64,
    /// T0 switches per plane.
    pub t0_per_plane: u64,
    /// T1 switches per plane.
    pub t1_per_plane: u64,
    /// Switches per plane, tier by tier (T0 first).
    pub switches_per_tier: Vec<u64>,
    /// Switches in all planes.
    pub switches: u64,
    /// Switch-to-switch cables.
    pub switch_links: u64,
    /// NIC-to-switch cables (lanes).
    pub nic_links: u64,
    /// NIC-speed optical modules, two per cable (see the module docs).
    pub transceivers: u64,
    /// Most switches on a path.
    pub max_switch_hops: u64,
    /// Distinct paths between two NICs under different T0s.
    pub paths_per_pair: u64,
    /// Distinct paths between two NICs under the same T0.
    pub paths_same_t0: u64,
    /// Share of a T0's uplink capacity one T0–T1 cable carries, %.
    pub blast_radius_t0_t1_link_pct: f64,
    /// Share of a NIC's capacity one lane carries, %.
    pub blast_radius_nic_lane_pct: f64,
}

/// The multi-plane design beside the single-plane one.
#[derive(Clone, PartialEq, Debug)]
pub struct Plan {
    /// The multi-plane two-tier Clos.
    pub multi_plane: Figures,
    /// The single-plane full-speed design (as many tiers as needed).
    pub single_plane: Figures,
}

impl Plan {
    /// Plans both designs.
    pub fn new(p: &PlanParams) -> Result<Self, ParamError> {
        let d = p.clos().dims()?;
        let (nics, planes) = (u64::from(d.nics), u64::from(d.planes));
        let links = d.switch_links() + d.nic_links();
        let multi_plane = Figures {
            nics,
            planes,
            lane_gbps: d.lane_gbps.into(),
            tiers: 2,
            switch_ports: d.radix.into(),
            t0_per_plane: d.t0.into(),
            t1_per_plane: d.t1.into(),
            switches_per_tier: vec![d.t0.into(), d.t1.into()],
            switches: d.switches(),
            switch_links: d.switch_links(),
            nic_links: d.nic_links(),
            transceivers: (2 * links * u64::from(d.lane_gbps)).div_ceil(u64::from(d.nic_gbps)),
            max_switch_hops: if d.t0 > 1 { 3 } else { 1 },
            paths_per_pair: d.paths_per_pair(),
            paths_same_t0: planes,
            blast_radius_t0_t1_link_pct: 100.0 / f64::from(d.t0_up),
            blast_radius_nic_lane_pct: 100.0 / f64::from(d.planes),
        };
        Ok(Self {
            multi_plane,
            single_plane: single_plane(d.nics, d.nic_gbps, p.switch_gbps)?,
        })
    }

    /// Switches of the multi-plane design over the single-plane one.
    pub fn switch_ratio(&self) -> f64 {
        self.multi_plane.switches as f64 / self.single_plane.switches as f64
    }

    /// Transceivers of the multi-plane design over the single-plane one.
    pub fn optics_ratio(&self) -> f64 {
        self.multi_plane.transceivers as f64 / self.single_plane.transceivers as f64
    }
}

/// Figures of a single-plane folded Clos of `switch_gbps / nic_gbps`-port switches at NIC speed.
pub fn single_plane(nics: u32, nic_gbps: u32, switch_gbps: u32) -> Result<Figures, ParamError> {
    for (v, p) in [
        (nics, Param::Nics),
        (nic_gbps, Param::NicGbps),
        (switch_gbps, Param::SwitchGbps),
    ] {
        if v == 0 {
            return Err(ParamError::Zero(p));
        }
    }
    if !switch_gbps.is_multiple_of(nic_gbps) {
        return Err(ParamError::LaneDoesNotDivideSwitch {
            switch_gbps,
            lane_gbps: nic_gbps,
        });
    }
    let k = switch_gbps / nic_gbps;
    if k < 2 || !k.is_multiple_of(2) {
        return Err(ParamError::RadixNotEven { radix: k });
    }
    let (n, h) = (u64::from(nics), u64::from(k / 2));
    if h < 2 && n > u64::from(k) {
        return Err(ParamError::SinglePlaneRadix { k, nic_gbps });
    }
    let mut tiers = 1u32;
    while 2 * h.pow(tiers) < n {
        tiers += 1;
    }
    let lower = n.div_ceil(h);
    let mut per_tier = vec![lower; tiers as usize - 1];
    per_tier.push(n.div_ceil(u64::from(k)));
    let switch_links = (u64::from(tiers) - 1) * n;
    Ok(Figures {
        nics: n,
        planes: 1,
        lane_gbps: nic_gbps.into(),
        tiers: tiers.into(),
        switch_ports: k.into(),
        t0_per_plane: per_tier[0],
        t1_per_plane: per_tier.get(1).copied().unwrap_or(0),
        switches: per_tier.iter().sum(),
        switches_per_tier: per_tier,
        switch_links,
        nic_links: n,
        transceivers: 2 * (switch_links + n),
        max_switch_hops: 2 * u64::from(tiers) - 1,
        paths_per_pair: h.pow(tiers - 1),
        paths_same_t0: 1,
        blast_radius_t0_t1_link_pct: if tiers > 1 { 100.0 / h as f64 } else { 0.0 },
        blast_radius_nic_lane_pct: 100.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fattree::{FatTree, FatTreeParams};
    use crate::{Clos, ClosParams};

    fn plan(nics: u32, planes: u32) -> Plan {
        Plan::new(&PlanParams {
            nics,
            planes,
            ..PlanParams::default()
        })
        .unwrap()
    }

    #[test]
    fn paper_fabric() {
        let p = plan(131_072, 8);
        let m = &p.multi_plane;
        assert_eq!((m.tiers, m.switch_ports, m.lane_gbps), (2, 512, 100));
        assert_eq!((m.t0_per_plane, m.t1_per_plane), (512, 256));
        assert_eq!(m.switches, 6_144);
        assert_eq!(m.switches_per_tier.iter().sum::<u64>() * 8, 6_144);
        assert_eq!((m.nic_links, m.switch_links), (1_048_576, 1_048_576));
        assert_eq!(
            (m.paths_per_pair, m.paths_same_t0, m.max_switch_hops),
            (2_048, 8, 3)
        );
        assert!((m.blast_radius_t0_t1_link_pct - 0.39).abs() < 0.005);
        assert_eq!(m.blast_radius_nic_lane_pct, 12.5);
        // 64-port 800G needs a 4th tier at 131,072 NICs.
        assert_eq!(p.single_plane.tiers, 4);
        assert!((p.single_plane.blast_radius_t0_t1_link_pct - 3.125).abs() < 1e-9);
    }

    #[test]
    fn comparison_at_65536() {
        let p = plan(65_536, 8);
        let (m, s) = (&p.multi_plane, &p.single_plane);
        assert_eq!(
            (m.t0_per_plane, m.t1_per_plane, m.switches),
            (256, 128, 3_072)
        );
        assert_eq!((s.tiers, s.switch_ports, s.switches), (3, 64, 5_120));
        assert_eq!(s.switches_per_tier, vec![2_048, 2_048, 1_024]);
        assert_eq!((s.max_switch_hops, s.t0_per_plane), (5, 2_048));
        assert!(
            (p.switch_ratio() - 0.60).abs() < 0.005,
            "{}",
            p.switch_ratio()
        );
        assert!(
            (p.optics_ratio() - 2.0 / 3.0).abs() < 0.005,
            "{}",
            p.optics_ratio()
        );
        assert_eq!(s.transceivers, 2 * 196_608);
        assert_eq!(m.transceivers, 2 * 131_072);
    }

    #[test]
    fn blast_radius_four_planes() {
        let p = plan(32_768, 4);
        assert_eq!(p.multi_plane.blast_radius_nic_lane_pct, 25.0);
        assert_eq!(p.multi_plane.switch_ports, 256);
    }

    #[test]
    fn bad_requests_name_the_parameter() {
        let err = |nics, planes, nic, sw| {
            Plan::new(&PlanParams {
                nics,
                planes,
                nic_gbps: nic,
                switch_gbps: sw,
                t0_uplinks: None,
            })
            .unwrap_err()
        };
        assert_eq!(err(131_073, 8, 800, 51_200).param(), Param::Nics);
        assert_eq!(err(0, 8, 800, 51_200), ParamError::Zero(Param::Nics));
        assert_eq!(err(10, 3, 800, 51_200).param(), Param::Planes);
        assert_eq!(err(10, 8, 800, 51_300).param(), Param::SwitchGbps);
        assert_eq!(err(10, 8, 800, 300).param(), Param::SwitchGbps); // radix 3
        assert_eq!(err(10, 0, 800, 51_200), ParamError::Zero(Param::Planes));
    }

    #[test]
    fn figures_match_built_topologies() {
        for (nics, planes, nic, sw) in [
            (1_024, 8, 800, 6_400),
            (1_000, 4, 400, 6_400),
            (96, 2, 200, 1_600),
            (131_072, 8, 800, 51_200),
        ] {
            let params = ClosParams::new(nics, planes, nic, sw);
            let plan = Plan::new(&PlanParams {
                nics,
                planes,
                nic_gbps: nic,
                switch_gbps: sw,
                t0_uplinks: None,
            })
            .unwrap();
            let clos = Clos::new(params).unwrap();
            let t = clos.topology();
            let m = &plan.multi_plane;
            assert_eq!(u64::from(t.switch_count()), m.switches);
            assert_eq!(t.switch_link_count(), m.switch_links);
            assert_eq!(t.nic_link_count(), m.nic_links);
        }
        for (k, tiers) in [(8, 2), (8, 3), (64, 2), (64, 3)] {
            let ft = FatTree::new(FatTreeParams::new(k, tiers)).unwrap();
            let t = ft.topology();
            let s = single_plane(t.nic_count(), 800, 800 * k).unwrap();
            assert_eq!(u64::from(tiers), s.tiers);
            assert_eq!(u64::from(t.switch_count()), s.switches);
            assert_eq!(t.switch_link_count(), s.switch_links);
            assert_eq!(t.nic_link_count(), s.nic_links);
        }
    }
}
