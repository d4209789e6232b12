#![allow(clippy::unwrap_used, reason = "test code")]
//! DAG workloads run on persistent connections: one QP pair per (source NIC, destination NIC)
//! (per QP for RoCE with N QPs), every flow a write on it; concurrent and successive flows on
//! one pair complete in order with their bytes accounted; a RoCE QP whose port dies errors.

use mrc_fabric::ClosParams;
use mrc_sim::roce::{RoceFactory, RoceSettings};
use mrc_sim::sim::dag::DagWorkload;
use mrc_sim::testing::{WindowConfig, WindowFactory};
use mrc_sim::transports::MrcFactory;
use mrc_sim::{
    FabricSpec, Failure, FailureKind, NetSpec, RunSpec, Sim, SwitchSpec, Target, TransportFactory,
};
use mrc_workload::collective::{Collective, CollectiveKind};
use mrc_workload::dag::{Dag, ScaleUp};

fn spec() -> RunSpec {
    RunSpec {
        net: NetSpec {
            fabric: FabricSpec::Clos(ClosParams::new(16, 2, 200, 800)),
            switch: SwitchSpec::default(),
            mtu: 4096,
            reconvergence_ps: 2_000_000_000,
        },
        workload: Default::default(),
        failures: Vec::new(),
        seed: 3,
        max_time_ps: 1_000_000_000_000,
    }
}

fn identity(n: u32) -> Vec<u32> {
    (0..n).collect()
}

/// Two concurrent flows 0→5 (one of an odd size), then a third after both, plus one 5→0.
fn shared_pair_dag() -> DagWorkload {
    let mut dag = Dag::new();
    let a = dag.flow(0, 5, 300_001, vec![]);
    let b = dag.flow(0, 5, 70_000, vec![]);
    let c = dag.flow(0, 5, 123_457, vec![a, b]);
    let d = dag.flow(5, 0, 50_000, vec![c]);
    let _ = dag.marker(vec![d]);
    DagWorkload {
        dag,
        nic_of_rank: identity(16),
        scale_up: ScaleUp::default(),
    }
}

fn check_shared_pair<F: TransportFactory>(f: F, qps: usize) {
    let mut sim = Sim::with_dag(spec(), f, shared_pair_dag()).unwrap();
    assert_eq!(sim.qp_pairs(), 2 * qps, "one connection per NIC pair");
    let rep = sim.run(&mut |_| {});
    let o = sim.dag_outcome().unwrap();
    assert!(o.complete && rep.data_intact, "{o:?} {rep:?}");
    assert_eq!(rep.flows, 4);
    assert_eq!(rep.bytes_delivered, 300_001 + 70_000 + 123_457 + 50_000);
    assert_eq!(sim.qp_pairs(), 2 * qps, "no QP opened per flow");
    // c waits for a and b; d for c.
    let fin = |i: usize| o.finish_ps[i].unwrap();
    assert_eq!(o.start_ps[2].unwrap(), fin(0).max(fin(1)));
    assert_eq!(o.start_ps[3].unwrap(), fin(2));
}

#[test]
fn flows_between_two_nics_share_one_connection() {
    check_shared_pair(WindowFactory(WindowConfig::default()), 1);
    check_shared_pair(MrcFactory::default(), 1);
    check_shared_pair(RoceFactory(RoceSettings::default()), 1);
    check_shared_pair(
        RoceFactory(RoceSettings {
            qps: 4,
            ..RoceSettings::default()
        }),
        4,
    );
}

#[test]
fn ring_all_reduce_on_persistent_qps_is_deterministic() {
    let run = || {
        let c = Collective::new(CollectiveKind::AllReduce, identity(8), 800_000).unwrap();
        let w = DagWorkload {
            dag: c.schedule().unwrap(),
            nic_of_rank: identity(8),
            scale_up: ScaleUp::default(),
        };
        let mut sim = Sim::with_dag(spec(), MrcFactory::default(), w).unwrap();
        let rep = sim.run(&mut |_| {});
        (rep, sim.dag_outcome().unwrap(), sim.qp_pairs())
    };
    let (rep, o, pairs) = run();
    assert!(o.complete && rep.data_intact);
    // A ring: 8 connections carry all 112 flows.
    assert_eq!(pairs, 8);
    assert_eq!(rep.flows, 2 * 7 * 8);
    let (rep2, o2, _) = run();
    assert_eq!(o, o2);
    assert_eq!(rep.events, rep2.events);
    assert_eq!(rep.fcts_ps, rep2.fcts_ps);
}

#[test]
fn roce_qp_on_a_dead_port_errors_and_stops_the_job() {
    // A long chain of flows 0→5 over RoCE (one port per QP); every NIC port of NIC 0 dies
    // in the middle: the persistent QP retries into the dead link, errors, and the job stops.
    let mut dag = Dag::new();
    let mut prev = vec![];
    for _ in 0..20 {
        let f = dag.flow(0, 5, 1_000_000, prev);
        prev = vec![f];
    }
    let w = DagWorkload {
        dag,
        nic_of_rank: identity(16),
        scale_up: ScaleUp::default(),
    };
    let mut s = spec();
    s.failures = (0..2)
        .map(|p| Failure {
            target: Target::NicLane { nic: 0, plane: p },
            kind: FailureKind::Down,
            at_ps: 200_000_000,
            until_ps: None,
        })
        .collect();
    let f = RoceFactory(RoceSettings {
        timeout: Some(4),
        ..RoceSettings::default()
    });
    let mut sim = Sim::with_dag(s, f, w).unwrap();
    let rep = sim.run(&mut |_| {});
    let o = sim.dag_outcome().unwrap();
    assert!(!o.complete);
    assert!(rep.qp_errors >= 1, "{rep:?}");
    assert!(o.failed.is_some());
}
