#![allow(clippy::unwrap_used, reason = "test code")]
//! Workload DAGs on the simulator: dependencies respected, compute and scale-up as delays,
//! byte accounting, determinism, MRC on a collective.

use mrc_fabric::ClosParams;
use mrc_sim::sim::dag::DagWorkload;
use mrc_sim::testing::{WindowConfig, WindowFactory};
use mrc_sim::transports::MrcFactory;
use mrc_sim::{FabricSpec, NetSpec, RunSpec, Sim, SwitchSpec};
use mrc_workload::collective::{Collective, CollectiveKind};
use mrc_workload::dag::{Dag, ScaleUp};
use mrc_workload::placement::Placement;

fn spec() -> RunSpec {
    RunSpec {
        net: NetSpec {
            // 16 NICs, 2 planes of 100G lanes.
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

#[test]
fn chain_of_flow_compute_flow_respects_dependencies() {
    let mut dag = Dag::new();
    let a = dag.flow(0, 5, 100_000, vec![]);
    let c = dag.compute(5, 10_000, vec![a]); // 10 µs
    let b = dag.flow(5, 9, 100_000, vec![c]);
    let _end = dag.marker(vec![b]);
    let w = DagWorkload {
        dag,
        nic_of_rank: identity(16),
        scale_up: ScaleUp::default(),
    };
    let mut sim = Sim::with_dag(spec(), WindowFactory(WindowConfig::default()), w).unwrap();
    let rep = sim.run(&mut |_| {});
    let o = sim.dag_outcome().unwrap();
    assert!(o.complete && rep.data_intact, "{o:?}");
    assert_eq!(rep.flows, 2);
    assert_eq!(rep.bytes_delivered, 200_000);
    let fa = o.finish_ps[0].unwrap();
    assert_eq!(o.start_ps[1], Some(fa));
    assert_eq!(o.finish_ps[1], Some(fa + 10_000_000));
    assert_eq!(o.start_ps[2], o.finish_ps[1]);
    assert_eq!(o.finish_ps[3], o.finish_ps[2]);
    assert_eq!(rep.sim_time_ps, o.finish_ps[3].unwrap());
}

#[test]
fn scale_up_flows_and_trailing_compute_stay_off_the_fabric() {
    let mut dag = Dag::new();
    let a = dag.flow(0, 1, 450_000, vec![]);
    dag.place(&Placement::rail_aligned(2).unwrap());
    let c = dag.compute(1, 5_000, vec![a]);
    let _ = dag.marker(vec![c]);
    let w = DagWorkload {
        dag,
        nic_of_rank: identity(16),
        scale_up: ScaleUp {
            latency_ns: 1_000,
            bandwidth_bytes_per_s: 450_000_000_000,
        },
    };
    let mut sim = Sim::with_dag(spec(), WindowFactory(WindowConfig::default()), w).unwrap();
    let rep = sim.run(&mut |_| {});
    let o = sim.dag_outcome().unwrap();
    assert!(o.complete);
    assert_eq!(rep.flows_total, 0);
    assert_eq!(rep.packets_sent, 0);
    // 1 µs + 1 µs of scale-up, then 5 µs of compute.
    assert_eq!(rep.sim_time_ps, 7_000_000);
}

#[test]
fn ring_all_reduce_with_mrc_delivers_the_formula_bytes_deterministically() {
    let run = || {
        let c = Collective::new(CollectiveKind::AllReduce, identity(8), 800_000).unwrap();
        let w = DagWorkload {
            dag: c.schedule().unwrap(),
            nic_of_rank: identity(8),
            scale_up: ScaleUp::default(),
        };
        let mut sim = Sim::with_dag(spec(), MrcFactory::default(), w).unwrap();
        let rep = sim.run(&mut |_| {});
        (rep, sim.dag_outcome().unwrap())
    };
    let (rep, o) = run();
    assert!(o.complete && rep.data_intact);
    // Ring all-reduce: every rank sends 2(n−1)/n · S.
    assert_eq!(rep.bytes_delivered, 8 * 2 * 7 * 800_000 / 8);
    assert_eq!(rep.flows, 2 * 7 * 8);
    let (rep2, o2) = run();
    assert_eq!(o, o2);
    assert_eq!(rep.events, rep2.events);
    assert_eq!(rep.sim_time_ps, rep2.sim_time_ps);
}

#[test]
fn rank_without_a_nic_is_rejected() {
    let mut dag = Dag::new();
    dag.flow(0, 40, 1_000, vec![]);
    let w = DagWorkload {
        dag,
        nic_of_rank: identity(41),
        scale_up: ScaleUp::default(),
    };
    assert!(Sim::with_dag(spec(), WindowFactory(WindowConfig::default()), w).is_err());
}
