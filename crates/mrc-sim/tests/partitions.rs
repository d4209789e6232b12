#![allow(clippy::unwrap_used, reason = "test code")]
//! A run split into partitions on threads reports exactly what the unsplit run does: same
//! report (flows, counters, timeline), same port and switch counters, for any partition count.

use mrc_sim::roce::{RoceFactory, RoceSettings};
use mrc_sim::testing::split_runs;
use mrc_sim::transports::MrcFactory;
use mrc_sim::{Partitions, PortCounters, RunReport, RunSpec, SwitchCounters, TransportFactory};
use mrc_workload::{Trigger, TriggerKind};

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
    let r = same_for_any_count(&split_runs::clos_with_failures(), &MrcFactory::default());
    assert!(r.data_intact, "{r:?}");
    assert!(r.dropped > 0 && r.trimmed > 0 && r.ev_retired > 0, "{r:?}");
}

/// RoCE over a fat tree (ECMP) with PFC: pauses cross partitions as messages.
#[test]
fn roce_with_pfc_on_a_fat_tree() {
    let f = RoceFactory(RoceSettings {
        qps: 2,
        ..RoceSettings::default()
    });
    let r = same_for_any_count(&split_runs::fat_tree_with_pfc(), &f);
    assert!(r.data_intact, "{r:?}");
    assert!(r.pfc_pauses > 0, "{r:?}");
}

/// Triggers start flows the instant others end, anywhere: such a run stays whole, saying why.
#[test]
fn triggered_flows_run_whole() {
    let mut s = split_runs::fat_tree_with_pfc();
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
