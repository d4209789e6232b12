#![allow(clippy::unwrap_used, reason = "test code")]
//! DCQCN behaviour the paper shows (`docs/dcqcn.md`), on the RoCE baseline in the simulator:
//! convergence to fair rates at a shared 100G bottleneck, an incast queue held below the
//! marking ramp's top, and far fewer PFC pauses than PFC alone. Figures are in
//! `scenarios/README.md` ("DCQCN behaviour checks").

use mrc_fabric::FatTreeParams;
use mrc_sim::roce::{RoceFactory, RoceSettings};
use mrc_sim::{
    FabricSpec, NetSpec, PfcSpec, RedSpec, RunReport, RunSpec, Sim, SwitchSpec, Workload,
};
use mrc_workload::{Flow, traffic};

const MS: u64 = 1_000_000_000;
const NICS: usize = 32;

/// Two-tier k = 8 fat tree at 100 Gb/s (4 hosts per T0), RoCE switches: no trimming, DCQCN's
/// RED marking at the paper's thresholds scaled to 100G (Kmin 12.5 KB, Kmax 500 KB, Pmax 1%),
/// PFC pausing above Kmax as the paper's buffer guideline asks (ECN acts before PFC).
fn spec(flows: Vec<Flow>, max_time_ps: u64) -> RunSpec {
    RunSpec {
        net: NetSpec {
            fabric: FabricSpec::FatTree(FatTreeParams::new(8, 2).with_gbps(100)),
            switch: SwitchSpec {
                trimming: false,
                red: Some(RedSpec::default()),
                pfc: Some(PfcSpec {
                    xoff_bytes: 600_000,
                    xon_bytes: 300_000,
                }),
                ..SwitchSpec::default()
            },
            mtu: 4096,
            reconvergence_ps: 2_000 * MS,
        },
        workload: Workload {
            flows,
            triggers: Vec::new(),
        },
        failures: Vec::new(),
        seed: 3,
        max_time_ps,
    }
}

/// Runs `s` with RoCE (DCQCN on or off); the report and the bytes each NIC transmitted.
fn run(s: RunSpec, dcqcn: bool) -> (RunReport, Vec<u64>) {
    let f = RoceFactory(RoceSettings {
        dcqcn,
        ..RoceSettings::default()
    });
    let mut sim = Sim::new(s, f).unwrap();
    let rep = sim.run(&mut |_| {});
    let mut tx = vec![0u64; NICS];
    for p in sim.port_counters() {
        if (p.node as usize) < NICS {
            tx[p.node as usize] += p.tx_bytes;
        }
    }
    (rep, tx)
}

#[test]
fn two_flows_converge_to_fair_rates() {
    // Flow A (host 4 → host 0) runs alone at line rate; flow B (host 8 → host 0) joins at
    // 1 ms. Rates over a window come from two runs cut at its ends (the simulator is
    // deterministic, so the shorter run is a prefix of the longer one).
    let join = MS;
    let flows = vec![
        Flow::new(0, 4, 0, 1_500_000_000, 0),
        Flow::new(1, 8, 0, 1_500_000_000, join),
    ];
    let rates = |from_ms: u64, to_ms: u64| {
        let (_, a) = run(spec(flows.clone(), join + from_ms * MS), true);
        let (_, b) = run(spec(flows.clone(), join + to_ms * MS), true);
        let gbps = |n: usize| (b[n] - a[n]) as f64 * 8.0 / ((to_ms - from_ms) as f64 * 1e6);
        (gbps(4), gbps(8))
    };
    let jain = |(a, b): (f64, f64)| (a + b).powi(2) / (2.0 * (a * a + b * b));
    // 20–25 ms after the join the incumbent still holds about two thirds of the link.
    let early = rates(20, 25);
    assert!(jain(early) < 0.95, "{early:?}");
    // 65–70 ms after the join: equal shares (within a few %) of a fully used link.
    let late = rates(65, 70);
    assert!(jain(late) > 0.99, "{late:?}");
    assert!(late.0 + late.1 > 95.0, "{late:?}");
}

#[test]
fn incast_queue_stays_below_the_marking_ramp_top() {
    // 8 → 1 incast of 50 MB each into a 4 MB drop-tail queue (no PFC): without DCQCN the
    // receiver's port sits at the full buffer and drops; with it, once the start-up burst has
    // drained, the queue stays below Kmax.
    let senders: Vec<u32> = (4..12).collect();
    let kmax = RedSpec::default().thresholds(100).1;
    for dcqcn in [false, true] {
        let mut s = spec(traffic::incast(&senders, 0, 50_000_000), 20 * MS);
        s.net.switch.queue_bytes = Some(4_000_000);
        s.net.switch.pfc = None;
        let (rep, _) = run(s, dcqcn);
        let tl = &rep.timeline;
        let q = &tl.links.iter().find(|g| g.label() == "T0→NIC").unwrap();
        let second_half = (tl.bins() / 2)..tl.bins();
        let qmax = second_half
            .clone()
            .map(|b| q.queue_max_bytes[b])
            .max()
            .unwrap();
        if dcqcn {
            assert!(qmax <= kmax, "{qmax} > {kmax}");
            assert!(qmax > 0, "the bottleneck went idle");
        } else {
            assert!(qmax > 3_900_000, "{qmax}");
            assert!(rep.dropped > 0);
        }
    }
}

#[test]
fn dcqcn_cuts_pfc_pauses() {
    // 8 → 1 incast of 20 MB each on the lossless fabric: PFC alone pauses hundreds of times;
    // DCQCN brings the senders down before the ingress queues reach XOFF.
    let senders: Vec<u32> = (4..12).collect();
    let pauses = |dcqcn| {
        let (rep, _) = run(
            spec(traffic::incast(&senders, 0, 20_000_000), 50 * MS),
            dcqcn,
        );
        assert!(rep.data_intact && rep.dropped == 0, "{rep:?}");
        rep.pfc_pauses
    };
    let (alone, with) = (pauses(false), pauses(true));
    assert!(alone >= 100, "{alone}");
    assert!(with * 10 <= alone, "{with} vs {alone}");
}
