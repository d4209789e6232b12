#![allow(clippy::unwrap_used, reason = "test code")]
//! DES-level tests with the simple window transport: delivery, determinism, conservation,
//! utilisation, failures.

use mrc_fabric::{ClosParams, FatTreeParams};
use mrc_sim::testing::{WindowConfig, WindowFactory};
use mrc_sim::{
    FabricSpec, Failure, FailureKind, NetSpec, Routing, RunSpec, Sim, SwitchSpec, Target, Workload,
};
use mrc_workload::traffic;

fn clos() -> FabricSpec {
    // 32 NICs, 2 planes of 100G lanes, radix 8: 8 T0 and 4 T1 per plane.
    FabricSpec::Clos(ClosParams::new(32, 2, 200, 800))
}

fn spec(fabric: FabricSpec, flows: Vec<mrc_workload::Flow>) -> RunSpec {
    RunSpec {
        net: NetSpec {
            fabric,
            switch: SwitchSpec::default(),
            mtu: 4096,
            reconvergence_ps: 2_000_000_000,
        },
        workload: Workload {
            flows,
            triggers: Vec::new(),
        },
        failures: Vec::new(),
        seed: 7,
        max_time_ps: 1_000_000_000_000,
    }
}

fn run(
    s: RunSpec,
    routing: Routing,
) -> (
    mrc_sim::RunReport,
    Vec<mrc_sim::PortCounters>,
    Vec<u64>,
    Vec<mrc_sim::SwitchCounters>,
) {
    let f = WindowFactory(WindowConfig {
        routing,
        ..WindowConfig::default()
    });
    let mut sim = Sim::new(s, f).unwrap();
    let r = sim.run(&mut |_| {});
    (
        r,
        sim.port_counters(),
        sim.switch_queued(),
        sim.switch_counters().to_vec(),
    )
}

#[test]
fn permutation_on_clos_srv6_delivers_everything() {
    let s = spec(clos(), traffic::permutation(32, 200_000, 1));
    let (r, ports, queued, sw) = run(s, Routing::Srv6);
    assert!(r.data_intact, "{r:?}");
    assert_eq!(r.flows, 32);
    assert_eq!(r.bytes_delivered, 32 * 200_000);
    assert!(r.events > 0);
    // conservation at every switch
    for (c, q) in sw.iter().zip(&queued) {
        assert_eq!(
            c.bytes_in,
            c.bytes_out + q + c.bytes_dropped + c.bytes_trimmed,
            "{c:?}"
        );
    }
    // line rate never exceeded: busy time ≤ run time and bytes ≤ rate × time
    for p in &ports {
        assert!(p.busy_ps <= r.sim_time_ps + 1_000_000, "{p:?}");
        assert!(p.tx_bytes * 8_000 / u64::from(p.gbps) <= p.busy_ps);
    }
}

#[test]
fn permutation_on_fat_tree_ecmp_delivers_everything() {
    let ft = FabricSpec::FatTree(FatTreeParams::new(4, 3).with_gbps(100));
    let s = spec(ft, traffic::permutation(16, 100_000, 2));
    let (r, ..) = run(s, Routing::Ecmp);
    assert!(r.data_intact, "{r:?}");
    assert_eq!(r.flows, 16);
}

#[test]
fn same_seed_same_report() {
    let mk = || spec(clos(), traffic::all_to_all(8, 50_000));
    let (mut a, ..) = run(mk(), Routing::Srv6);
    let (mut b, ..) = run(mk(), Routing::Srv6);
    a.wall_s = 0.0;
    b.wall_s = 0.0;
    assert_eq!(a, b);
    assert!(a.data_intact);
}

#[test]
fn incast_trims_and_still_delivers() {
    let flows = traffic::incast(&[8, 9, 10, 11, 12, 13, 14], 0, 300_000);
    let mut s = spec(clos(), flows);
    s.net.switch.queue_bytes = Some(20_000);
    let (r, ..) = run(s, Routing::Srv6);
    assert!(r.trimmed > 0, "{r:?}");
    assert!(r.data_intact, "{r:?}");
}

#[test]
fn drop_tail_without_trimming() {
    let flows = traffic::incast(&[8, 9, 10, 11, 12, 13, 14], 0, 300_000);
    let mut s = spec(clos(), flows);
    s.net.switch.queue_bytes = Some(20_000);
    s.net.switch.trimming = false;
    let (r, ..) = run(s, Routing::Srv6);
    assert_eq!(r.trimmed, 0);
    assert!(r.dropped > 0, "{r:?}");
    assert!(r.data_intact, "{r:?}");
}

#[test]
fn failures_resolve_and_run() {
    let mut s = spec(clos(), traffic::permutation(32, 100_000, 3));
    s.failures = vec![
        Failure {
            target: Target::T0Uplink {
                plane: 0,
                t0: 0,
                uplink: 1,
            },
            kind: FailureKind::Down,
            at_ps: 1_000_000,
            until_ps: Some(200_000_000),
        },
        Failure {
            target: Target::Switch {
                plane: 1,
                tier: 1,
                index: 2,
            },
            kind: FailureKind::Down,
            at_ps: 2_000_000,
            until_ps: Some(100_000_000),
        },
        Failure {
            target: Target::T0Uplink {
                plane: 1,
                t0: 3,
                uplink: 0,
            },
            kind: FailureKind::Lossy { ppm: 10_000 },
            at_ps: 0,
            until_ps: None,
        },
    ];
    let (r, _, queued, sw) = run(s, Routing::Srv6);
    assert!(r.dropped > 0);
    assert!(r.data_intact, "{r:?}");
    for (c, q) in sw.iter().zip(&queued) {
        assert_eq!(
            c.bytes_in,
            c.bytes_out + q + c.bytes_dropped + c.bytes_trimmed
        );
    }
    let mut bad = spec(clos(), Vec::new());
    bad.failures = vec![Failure {
        target: Target::T0Uplink {
            plane: 0,
            t0: 99,
            uplink: 0,
        },
        kind: FailureKind::Down,
        at_ps: 0,
        until_ps: None,
    }];
    let e = Sim::new(bad, WindowFactory::default()).err().unwrap();
    assert!(e.to_string().contains("failure 0"), "{e}");
}

#[test]
fn below_full_size_clos_uses_ua_sids_and_delivers() {
    // 16 NICs, radix 8: 4 T0 and 2 T1 per plane, two parallel links per T0–T1 pair, so paths
    // carry adjacency (uA) SIDs through the static tables.
    let fabric = FabricSpec::Clos(ClosParams::new(16, 2, 200, 800));
    let s = spec(fabric, traffic::permutation(16, 200_000, 9));
    let (r, _, queued, sw) = run(s, Routing::Srv6);
    assert!(r.data_intact, "{r:?}");
    for (c, q) in sw.iter().zip(&queued) {
        assert_eq!(
            c.bytes_in,
            c.bytes_out + q + c.bytes_dropped + c.bytes_trimmed
        );
    }
}
