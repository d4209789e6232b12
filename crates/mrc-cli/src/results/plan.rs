//! `mrc plan --json`: the multi-plane design's figures at the top level, the single-plane
//! design's beside them, and the sizes of the static SRv6 tables.

use mrc_fabric::plan::Figures;
use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(crate) struct PlanResults {
    /// The multi-plane design.
    #[serde(flatten)]
    pub(crate) multi_plane: PlanFigures,
    /// The single-plane full-speed design of the same size.
    pub(crate) single_plane: PlanFigures,
    /// /48 entries in a T0's static table.
    pub(crate) t0_table_entries: u64,
    /// /48 entries in a T1's static table.
    pub(crate) t1_table_entries: u64,
}

/// The figures of one design (see `mrc plan --help` for the counting rules).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(crate) struct PlanFigures {
    /// Share of a NIC's capacity one lane carries, %.
    pub(crate) blast_radius_nic_lane_pct: f64,
    /// Share of a T0's uplink capacity one T0–T1 cable carries, %.
    pub(crate) blast_radius_t0_t1_link_pct: f64,
    /// Lane (switch port) speed, Gb/s.
    pub(crate) lane_gbps: u64,
    /// Most switches on a path.
    pub(crate) max_switch_hops: u64,
    /// NIC-to-switch cables (lanes).
    pub(crate) nic_links: u64,
    /// NICs.
    pub(crate) nics: u64,
    /// Distinct paths between two NICs under different T0s.
    pub(crate) paths_per_pair: u64,
    /// Distinct paths between two NICs under the same T0.
    pub(crate) paths_same_t0: u64,
    /// Planes.
    pub(crate) planes: u64,
    /// Switch-to-switch cables.
    pub(crate) switch_links: u64,
    /// Switch radix at lane speed.
    pub(crate) switch_ports: u64,
    /// Switches in all planes.
    pub(crate) switches: u64,
    /// T0 switches per plane.
    pub(crate) t0_per_plane: u64,
    /// T1 switches per plane.
    pub(crate) t1_per_plane: u64,
    /// Switch tiers.
    pub(crate) tiers: u64,
    /// NIC-speed optical modules, one at each end of every cable.
    pub(crate) transceivers: u64,
}

impl From<&Figures> for PlanFigures {
    fn from(f: &Figures) -> Self {
        Self {
            blast_radius_nic_lane_pct: f.blast_radius_nic_lane_pct,
            blast_radius_t0_t1_link_pct: f.blast_radius_t0_t1_link_pct,
            lane_gbps: f.lane_gbps,
            max_switch_hops: f.max_switch_hops,
            nic_links: f.nic_links,
            nics: f.nics,
            paths_per_pair: f.paths_per_pair,
            paths_same_t0: f.paths_same_t0,
            planes: f.planes,
            switch_links: f.switch_links,
            switch_ports: f.switch_ports,
            switches: f.switches,
            t0_per_plane: f.t0_per_plane,
            t1_per_plane: f.t1_per_plane,
            tiers: f.tiers,
            transceivers: f.transceivers,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use mrc_fabric::plan::{Plan, PlanParams};

    #[test]
    fn keys_are_sorted_and_read_back() {
        let plan = Plan::new(&PlanParams::new(2048, 4, 400, 12_800)).unwrap();
        let doc = PlanResults {
            multi_plane: (&plan.multi_plane).into(),
            single_plane: (&plan.single_plane).into(),
            t0_table_entries: 1,
            t1_table_entries: 2,
        };
        crate::results::order::assert_sorted(&doc.single_plane);
        let text = crate::results::to_pretty(&doc).unwrap();
        let keys: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("  \""))
            .map(|l| l.trim().split('"').nth(1).unwrap())
            .collect();
        assert!(keys.is_sorted() && keys.len() == 19, "{keys:?}");
        let back: PlanResults = serde_json::from_str(&text).unwrap();
        assert_eq!(back, doc);
    }
}
