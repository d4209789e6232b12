#![allow(clippy::unwrap_used, reason = "test code")]
//! A run split into partitions on threads reports exactly what the unsplit run does: same
//! report (flows, counters, timeline), same port and switch counters, for any partition count.

use mrc_fabric::{ClosParams, FatTreeParams};
use mrc_sim::roce::{RoceFactory, RoceSettings};
use mrc_sim::transports::MrcFactory;
use mrc_sim::{
    FabricSpec, Failure, FailureKind, NetSpec, Partitions, PfcSpec, PortCounters, RunReport,
    RunSpec, SwitchCounters, SwitchSpec, Target, TransportFactory, Workload,
};
use mrc_workload::{Trigger, TriggerKind, traffic};

const US: u64 = 1_000_000;

fn spec(fabric: FabricSpec, switch: SwitchSpec, flows: Vec<mrc_workload::Flow>) -> RunSpec {
    RunSpec {
        net: NetSpec {
            fabric,
            switch,
            mtu: 4096,
            reconvergence_ps: 20 * US,
        },
        workload: Workload {
            flows,
            triggers: Vec::new(),
        },
        failures: Vec::new(),
        seed: 11,
        max_time_ps: 1_000_000 * US,
    }
}

fn failure(target: Target, kind: FailureKind, at_us: u64, until_us: Option<u64>) -> Failure {
    Failure {
        target,
        kind,
        at_ps: at_us * US,
        until_ps: until_us.map(|u| u * US),
    }
}

type Outcome = (RunReport, Vec<PortCounters>, Vec<SwitchCounters>, usize);

/// Runs `s` in `n` partitions: the report (wall time zeroed), the counters, the partitions.
fn run<F: TransportFactory + Clone>(s: &RunSpec, f: &F, n: usize) -> Outcome
where
    mrc_sim::Sim<F>: Send,
{
    let (mut p, why) = Partitions::new(s.clone(), f.clone(), n).unwrap();
    assert_eq!(why, None);
    let mut r = p.run(&mut |_| {});
    r.wall_s = 0.0;
    let sim = p.first();
    (
        r,
        sim.port_counters(),
        sim.switch_counters().to_vec(),
        p.len(),
    )
}

fn same_for_any_count<F: TransportFactory + Clone>(s: &RunSpec, f: &F) -> RunReport
where
    mrc_sim::Sim<F>: Send,
{
    let one = run(s, f, 1);
    assert_eq!(one.3, 1);
    for n in [2, 3, 4] {
        let split = run(s, f, n);
        assert_eq!(split.3, n);
        assert!(split.0 == one.0, "{n} partitions: report differs");
        assert!(split.1 == one.1, "{n} partitions: port counters differ");
        assert!(split.2 == one.2, "{n} partitions: switch counters differ");
    }
    one.0
}

/// MRC over a two-plane Clos with SRv6 while a T0 uplink goes down and up, a T1 reboots, a
/// link loses packets and a NIC lane fails: EVs retire and return, packets drop and trim.
#[test]
fn mrc_on_a_clos_with_failures() {
    let mut s = spec(
        FabricSpec::Clos(ClosParams::new(32, 2, 200, 800)),
        SwitchSpec::default(),
        traffic::permutation(32, 400_000, 3),
    );
    s.workload
        .flows
        .extend(traffic::incast(&[1, 2, 3, 4, 5, 6], 0, 200_000));
    s.failures = vec![
        failure(
            Target::T0Uplink {
                plane: 0,
                t0: 1,
                uplink: 2,
            },
            FailureKind::Down,
            3,
            Some(30),
        ),
        failure(
            Target::Switch {
                plane: 1,
                tier: 1,
                index: 2,
            },
            FailureKind::Down,
            5,
            Some(25),
        ),
        failure(
            Target::T0Uplink {
                plane: 1,
                t0: 3,
                uplink: 0,
            },
            FailureKind::Lossy { ppm: 20_000 },
            0,
            None,
        ),
        failure(
            Target::NicLane { nic: 9, plane: 0 },
            FailureKind::Down,
            4,
            Some(40),
        ),
    ];
    let r = same_for_any_count(&s, &MrcFactory::default());
    assert!(r.data_intact, "{r:?}");
    assert!(r.dropped > 0 && r.trimmed > 0 && r.ev_retired > 0, "{r:?}");
}

/// RoCE over a fat tree (ECMP) with PFC: pauses cross partitions as messages.
#[test]
fn roce_with_pfc_on_a_fat_tree() {
    let switch = SwitchSpec {
        trimming: false,
        pfc: Some(PfcSpec {
            xoff_bytes: 60_000,
            xon_bytes: 30_000,
        }),
        ..SwitchSpec::default()
    };
    let mut flows = traffic::permutation(32, 300_000, 5);
    flows.extend(traffic::incast(&[8, 16, 24, 30], 0, 300_000));
    let s = spec(
        FabricSpec::FatTree(FatTreeParams::new(8, 2).with_gbps(100)),
        switch,
        flows,
    );
    let f = RoceFactory(RoceSettings {
        qps: 2,
        ..RoceSettings::default()
    });
    let r = same_for_any_count(&s, &f);
    assert!(r.data_intact, "{r:?}");
    assert!(r.pfc_pauses > 0, "{r:?}");
}

/// Triggers start flows the instant others end, anywhere: such a run stays whole, saying why.
#[test]
fn triggered_flows_run_whole() {
    let mut s = spec(
        FabricSpec::FatTree(FatTreeParams::new(4, 2).with_gbps(100)),
        SwitchSpec::default(),
        traffic::permutation(8, 10_000, 1),
    );
    s.workload.triggers = vec![Trigger {
        id: 1,
        kind: TriggerKind::Oneshot,
    }];
    s.workload.flows[1].trigger = Some(1);
    s.workload.flows[0].send_done_trigger = Some(1);
    let (p, why) = Partitions::new(s, MrcFactory::default(), 2).unwrap();
    assert_eq!(p.len(), 1);
    assert!(why.unwrap().contains("trigger"), "{why:?}");
}
