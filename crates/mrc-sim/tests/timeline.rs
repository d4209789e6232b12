#![allow(clippy::unwrap_used, reason = "test code")]
//! The run timeline (time bins for plots) and the pcap tap.

use std::io::Write;
use std::sync::{Arc, Mutex};

use mrc_fabric::ClosParams;
use mrc_proto::LbMode;
use mrc_sim::transports::{MrcFactory, MrcSettings};
use mrc_sim::{
    FabricSpec, Failure, FailureKind, NetSpec, RunReport, RunSpec, Sim, SwitchSpec, TapNode,
    TapPoint, Target, Workload,
};
use mrc_wire::mrc::Body;
use mrc_wire::{pcap, stack};
use mrc_workload::{Flow, traffic};

fn spec(flows: Vec<Flow>, failures: Vec<Failure>) -> RunSpec {
    RunSpec {
        net: NetSpec {
            fabric: FabricSpec::Clos(ClosParams::new(32, 2, 200, 800)),
            switch: SwitchSpec::default(),
            mtu: 4096,
            reconvergence_ps: 2_000_000_000_000,
        },
        workload: Workload {
            flows,
            triggers: Vec::new(),
        },
        failures,
        seed: 5,
        max_time_ps: 200_000_000_000,
    }
}

fn t1_down() -> Vec<Failure> {
    vec![Failure {
        target: Target::Switch {
            plane: 0,
            tier: 1,
            index: 1,
        },
        kind: FailureKind::Down,
        at_ps: 5_000_000,
        until_ps: None,
    }]
}

fn mrc() -> MrcFactory {
    MrcFactory(MrcSettings {
        lb: LbMode::Adaptive,
        ..MrcSettings::default()
    })
}

fn run(s: RunSpec) -> RunReport {
    let mut sim = Sim::new(s, mrc()).unwrap();
    sim.run(&mut |_| {})
}

#[test]
fn timeline_accounts_for_every_byte() {
    let r = run(spec(traffic::permutation(32, 1_000_000, 3), t1_down()));
    assert!(r.data_intact);
    let tl = &r.timeline;
    assert!(tl.bins() > 8 && tl.bins() <= mrc_sim::sim::record::BINS);
    assert_eq!(tl.delivered_bytes.iter().sum::<u64>(), r.bytes_delivered);
    // The bins cover the run.
    assert!(tl.bins() as u64 * tl.bin_ps >= r.sim_time_ps);
    assert!((tl.bins() as u64 - 1) * tl.bin_ps < r.sim_time_ps.max(1));
    assert_eq!(tl.ev_good.len(), tl.bins());
    assert!(tl.ev_good.iter().any(|&g| g > 0));
    assert!(
        tl.ev_assumed_bad.iter().any(|&b| b > 0),
        "the dead T1 retires EVs"
    );
    // Groups: NIC→T0, T0→T1, T1→T0, T0→NIC in 2 planes.
    let labels: Vec<String> = tl.links.iter().map(|g| g.label()).collect();
    assert_eq!(labels.len(), 8, "{labels:?}");
    assert_eq!(labels[0], "NIC→T0");
    assert_eq!(labels[7], "T0→NIC");
    // Bytes leaving NICs in the timeline = bytes the ports sent.
    let nic_tx: u64 = tl
        .links
        .iter()
        .filter(|g| g.from_tier == 0)
        .flat_map(|g| g.tx_bytes.iter())
        .sum();
    assert!(nic_tx > r.bytes_delivered);
    assert!(tl.links.iter().all(|g| g.tx_bytes.len() == tl.bins()));
    assert!(
        tl.links
            .iter()
            .any(|g| (0..tl.bins()).any(|b| g.util_permille(b, tl.bin_ps) > 300))
    );
    assert_eq!(tl.failures.len(), 1);
    assert_eq!(tl.failures[0].at_ps, 5_000_000);
    assert_eq!(tl.failures[0].change, "down");
    // Deterministic.
    let r2 = run(spec(traffic::permutation(32, 1_000_000, 3), t1_down()));
    assert_eq!(r2.timeline, r.timeline);
}

#[test]
fn long_runs_coarsen_bins() {
    // A flow that starts late: the bins double until the run fits.
    let mut flows = traffic::permutation(4, 100_000, 1);
    for f in &mut flows {
        f.start_ps = 3_000_000_000; // 3 ms
    }
    let r = run(spec(flows, Vec::new()));
    let tl = &r.timeline;
    assert!(tl.bin_ps > mrc_sim::sim::record::FIRST_BIN_PS);
    assert!(tl.bins() >= mrc_sim::sim::record::BINS / 2 && tl.bins() <= mrc_sim::sim::record::BINS);
    assert_eq!(tl.delivered_bytes.iter().sum::<u64>(), r.bytes_delivered);
    assert_eq!(tl.delivered_bytes[..tl.bins() / 2].iter().sum::<u64>(), 0);
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture(point: TapPoint, s: RunSpec) -> Vec<pcap::Record> {
    let buf = Shared::default();
    let mut sim = Sim::new(s, mrc()).unwrap();
    sim.set_tap(point, Box::new(buf.clone())).unwrap();
    let r = sim.run(&mut |_| {});
    assert!(r.data_intact);
    let n = sim.take_tap().unwrap().unwrap();
    let bytes = buf.0.lock().unwrap().clone();
    let mut rd = pcap::Reader::new(&bytes[..]).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = rd.next_record().unwrap() {
        out.push(rec);
    }
    assert_eq!(out.len() as u64, n);
    out
}

#[test]
fn tap_writes_parseable_srv6_packets() {
    // Incast: the last hop trims.
    let flows = traffic::incast(&[1, 2, 3, 4, 5, 6, 7, 8], 0, 300_000);
    let recs = capture(TapPoint::Nic(0), spec(flows.clone(), Vec::new()));
    assert!(!recs.is_empty());
    let mut trimmed = 0;
    let mut prev = 0;
    for rec in &recs {
        assert!(rec.time_ns >= prev);
        prev = rec.time_ns;
        if rec.data.len() < rec.orig_len as usize {
            trimmed += 1;
            continue;
        }
        let (repr, payload) = stack::Repr::parse(&rec.data, true).unwrap();
        assert!(repr.inner.is_some(), "SRv6 encapsulation");
        let inner = repr.inner.unwrap();
        assert!(
            inner.src == mrc_fabric::usid::nic_addr(0)
                || inner.dst == mrc_fabric::usid::nic_addr(0)
        );
        if let Body::Write(w) = repr.mrc.body {
            assert_eq!(payload.len(), w.payload_len as usize);
        }
    }
    assert!(trimmed > 0, "incast trims at the last hop");

    // A flow tap sees only that flow's QP; a link tap sees packets in both directions.
    let recs = capture(TapPoint::Flow(2), spec(flows.clone(), Vec::new()));
    assert!(!recs.is_empty());
    let recs = capture(
        TapPoint::Link(
            TapNode::Nic(0),
            TapNode::Switch {
                plane: 1,
                tier: 0,
                index: 0,
            },
        ),
        spec(flows, Vec::new()),
    );
    assert!(!recs.is_empty());

    let mut sim = Sim::new(spec(Vec::new(), Vec::new()), mrc()).unwrap();
    assert!(
        sim.set_tap(TapPoint::Nic(99), Box::new(std::io::sink()))
            .is_err()
    );
    assert!(
        sim.set_tap(
            TapPoint::Link(TapNode::Nic(0), TapNode::Nic(1)),
            Box::new(std::io::sink())
        )
        .is_err()
    );
}
