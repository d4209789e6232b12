//! Property tests: byte totals of every collective against the §3 formulas for random rank
//! counts and sizes; DAG well-formedness; the tracker drains every schedule.
#![allow(clippy::unwrap_used, reason = "test code")]

use mrc_workload::collective::{Algorithm, Collective, CollectiveKind};
use mrc_workload::dag::{OpKind, Tracker};
use proptest::prelude::*;

fn case() -> impl Strategy<Value = (CollectiveKind, Algorithm, u32, u64, u32)> {
    let kinds = prop_oneof![
        Just((CollectiveKind::AllReduce, Algorithm::Ring)),
        Just((CollectiveKind::AllReduce, Algorithm::HalvingDoubling)),
        Just((CollectiveKind::AllReduce, Algorithm::Hierarchical)),
        Just((CollectiveKind::ReduceScatter, Algorithm::Ring)),
        Just((CollectiveKind::ReduceScatter, Algorithm::HalvingDoubling)),
        Just((CollectiveKind::AllGather, Algorithm::Ring)),
        Just((CollectiveKind::AllGather, Algorithm::HalvingDoubling)),
        Just((CollectiveKind::AllToAll, Algorithm::Pairwise)),
        Just((CollectiveKind::AllToAll, Algorithm::Direct)),
        Just((CollectiveKind::Broadcast, Algorithm::Ring)),
    ];
    (kinds, 1u32..6, 1u64..=1u64 << 32, 1u32..5).prop_map(|((k, a), e, s, g)| {
        // n: 2^e for halving-doubling, a multiple of g for hierarchical, else 2..40.
        let n = match a {
            Algorithm::HalvingDoubling => 1 << e,
            Algorithm::Hierarchical => g * (e + 1),
            _ => e * 7 + 2,
        };
        (k, a, n, s, g)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn totals_and_wellformed((kind, alg, n, s, g) in case()) {
        let ranks: Vec<u32> = (0..n).map(|i| 1000 + 3 * i).collect();
        let mut c = Collective::with_algorithm(kind, alg, ranks.clone(), s).unwrap();
        if alg == Algorithm::Hierarchical {
            c = c.with_scale_up_group(g).unwrap();
        }
        let dag = c.schedule().unwrap();
        let total: u64 = dag.flows().map(|(_, f)| f.bytes).sum();
        let n64 = u64::from(n);
        let want = match kind {
            CollectiveKind::AllReduce if alg == Algorithm::Hierarchical => {
                // RS + AG inside each node (g − 1 chunks each), AR across nodes on S/g per rail.
                let nodes = n64 / u64::from(g);
                nodes * 2 * (u64::from(g) - 1) * s + 2 * (nodes - 1) * s
            }
            CollectiveKind::AllReduce => 2 * (n64 - 1) * s,
            CollectiveKind::Broadcast => (n64 - 1) * s,
            _ => (n64 - 1) * s,
        };
        prop_assert_eq!(total, want);
        for (i, op) in dag.ops.iter().enumerate() {
            prop_assert!(op.deps.iter().all(|&d| (d as usize) < i));
            if let OpKind::Flow(f) = op.kind {
                prop_assert!(f.src != f.dst);
                prop_assert!(ranks.contains(&f.src) && ranks.contains(&f.dst));
            }
        }
        let mut t = Tracker::new(&dag);
        let mut guard = 0;
        while !t.all_done() {
            let ready = t.take_ready();
            prop_assert!(!ready.is_empty());
            for id in ready {
                t.complete(id);
            }
            guard += 1;
            prop_assert!(guard < 100_000);
        }
    }
}
