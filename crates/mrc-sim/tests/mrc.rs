#![allow(clippy::unwrap_used, reason = "test code")]
//! The real MRC core (`mrc-proto`) in the simulator.

use mrc_fabric::{ClosParams, FatTreeParams};
use mrc_proto::LbMode;
use mrc_sim::transports::{MrcFactory, MrcSettings};
use mrc_sim::{
    FabricSpec, Failure, FailureKind, NetSpec, RunReport, RunSpec, Sim, SwitchSpec, Target,
    Workload,
};
use mrc_workload::{Flow, traffic};

fn spec(fabric: FabricSpec, flows: Vec<Flow>) -> RunSpec {
    RunSpec {
        net: NetSpec {
            fabric,
            switch: SwitchSpec::default(),
            mtu: 4096,
            reconvergence_ps: 2_000_000_000_000,
        },
        workload: Workload {
            flows,
            triggers: Vec::new(),
        },
        failures: Vec::new(),
        seed: 11,
        max_time_ps: 200_000_000_000,
    }
}

fn clos() -> FabricSpec {
    FabricSpec::Clos(ClosParams::new(32, 2, 200, 800))
}

fn run(s: RunSpec, lb: LbMode) -> RunReport {
    let f = MrcFactory(MrcSettings {
        lb,
        ..MrcSettings::default()
    });
    let mut sim = Sim::new(s, f).unwrap();
    sim.run(&mut |_| {})
}

#[test]
fn mrc_permutation_on_clos() {
    let r = run(
        spec(clos(), traffic::permutation(32, 1_000_000, 1)),
        LbMode::Adaptive,
    );
    assert!(r.data_intact, "{r:?}");
    assert_eq!(r.bytes_delivered, 32_000_000);
    assert!(r.goodput_fraction.unwrap() > 0.3, "{r:?}");
}

#[test]
fn spray_permutation_on_fat_tree() {
    let ft = FabricSpec::FatTree(FatTreeParams::new(4, 3).with_gbps(100));
    let r = run(
        spec(ft, traffic::permutation(16, 500_000, 2)),
        LbMode::Oblivious,
    );
    assert!(r.data_intact, "{r:?}");
}

#[test]
fn mrc_incast_and_determinism() {
    let flows = traffic::incast(&[8, 9, 10, 11, 12, 13, 14], 0, 500_000);
    let mut a = run(spec(clos(), flows.clone()), LbMode::Adaptive);
    let mut b = run(spec(clos(), flows), LbMode::Adaptive);
    assert!(a.data_intact, "{a:?}");
    a.wall_s = 0.0;
    b.wall_s = 0.0;
    assert_eq!(a, b);
}

#[test]
fn mrc_survives_t1_reboot_and_lane_down() {
    let mut s = spec(clos(), traffic::permutation(32, 1_000_000, 3));
    s.failures = vec![
        Failure {
            target: Target::Switch {
                plane: 0,
                tier: 1,
                index: 1,
            },
            kind: FailureKind::Down,
            at_ps: 5_000_000,
            until_ps: None,
        },
        Failure {
            target: Target::NicLane { nic: 5, plane: 1 },
            kind: FailureKind::Down,
            at_ps: 5_000_000,
            until_ps: None,
        },
    ];
    let r = run(s, LbMode::Adaptive);
    assert!(r.data_intact, "{r:?}");
    assert!(r.ev_retired > 0, "{r:?}");
}

fn run_roce(s: RunSpec, qps: u32) -> RunReport {
    use mrc_sim::roce::{RoceFactory, RoceSettings};
    let f = RoceFactory(RoceSettings {
        qps,
        ..RoceSettings::default()
    });
    let mut sim = Sim::new(s, f).unwrap();
    sim.run(&mut |_| {})
}

#[test]
fn roce_ecmp_qps_on_fat_tree() {
    let ft = FabricSpec::FatTree(FatTreeParams::new(4, 3).with_gbps(100));
    let r = run_roce(spec(ft, traffic::permutation(16, 400_000, 5)), 4);
    assert!(r.data_intact, "{r:?}");
    assert_eq!(r.flows, 16);
}

#[test]
fn roce_with_pfc_pauses_instead_of_dropping() {
    let ft = FabricSpec::FatTree(FatTreeParams::new(4, 2).with_gbps(100));
    let mut s = spec(ft, traffic::incast(&[2, 3, 4, 5, 6, 7], 0, 300_000));
    s.net.switch.trimming = false;
    s.net.switch.pfc = Some(mrc_sim::PfcSpec {
        xoff_bytes: 30_000,
        xon_bytes: 15_000,
    });
    let r = run_roce(s, 1);
    assert!(r.pfc_pauses > 0, "{r:?}");
    assert_eq!(r.dropped, 0, "{r:?}");
    assert!(r.data_intact, "{r:?}");
}

#[test]
fn mrc_survives_plane_down_and_black_hole() {
    let mut s = spec(clos(), traffic::permutation(32, 1_000_000, 4));
    s.failures = vec![
        Failure {
            target: Target::Plane { plane: 1 },
            kind: FailureKind::Down,
            at_ps: 10_000_000,
            until_ps: Some(60_000_000),
        },
        Failure {
            target: Target::Switch {
                plane: 0,
                tier: 1,
                index: 0,
            },
            kind: FailureKind::BlackHole,
            at_ps: 0,
            until_ps: None,
        },
    ];
    let r = run(s, LbMode::Adaptive);
    assert!(r.data_intact, "{r:?}");
    assert!(r.ev_retired > 0);
}

#[test]
fn ecmp_baseline_reconverges_after_the_configured_delay() {
    use mrc_sim::roce::{RoceFactory, RoceSettings};
    // Single-plane Clos; a T0 uplink dies at 1 µs; routing reacts after 50 µs. RoCE with a
    // short ACK timeout (4.096 µs × 2^4 ≈ 66 µs) recovers once routing avoids the link.
    let fabric = FabricSpec::Clos(ClosParams::new(32, 1, 100, 800));
    let mut s = spec(fabric, traffic::permutation(32, 200_000, 6));
    s.net.reconvergence_ps = 50_000_000;
    s.failures = (0..8)
        .map(|t0| Failure {
            target: Target::T0Uplink {
                plane: 0,
                t0,
                uplink: 1,
            },
            kind: FailureKind::Down,
            at_ps: 1_000_000,
            until_ps: None,
        })
        .collect();
    let f = RoceFactory(RoceSettings {
        qps: 1,
        timeout: Some(4),
        ..RoceSettings::default()
    });
    let mut sim = Sim::new(s, f).unwrap();
    let r = sim.run(&mut |_| {});
    assert!(r.data_intact, "{r:?}");
    assert!(r.dropped > 0);
    // Stalled flows finish after reconvergence, well before a second-scale timeout.
    assert!(
        r.fct_ps.max > 50_000_000 && r.fct_ps.max < 2_000_000_000,
        "{r:?}"
    );
}
