//! The sample Chakra trace `tests/data/chakra.0.et.gz` (mlcommons/chakra
//! `tests/data/feeder_tests_trace.tar.gz`, MIT).
//!
//! Expected numbers were obtained independently of this crate: a 40-line Python script using only
//! `gzip` and a hand-written varint/protobuf wire-format walker (no protobuf library) counted
//! 3,665 length-delimited messages (2,978,371 B unpacked) = 1 metadata + 3,643 COMP (type 4) +
//! 21 COMM_COLL (type 7); 14 of the 21 COMM_COLL are host-side `c10d::*` records with
//! `is_cpu_op = true` and no `comm_type`/`comm_size`; the other 7 are `ncclKernel_*` GPU nodes
//! with `comm_type` and `comm_size` as `int64_val` (field 9). docs/workload.md §11 independently
//! states the same message/COMP/COMM_COLL counts and the 212,480-byte broadcast.
#![allow(clippy::unwrap_used, reason = "test code")]

use std::path::PathBuf;

use mrc_workload::chakra::{CommOp, ConvertOptions, NodeType, Trace};
use mrc_workload::collective::CollectiveKind;
use mrc_workload::dag::{AlphaBeta, ScaleUp, execute_alpha_beta};

fn sample() -> Trace {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/chakra.0.et.gz");
    Trace::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// (node id, kind, comm_size) of the 7 communication nodes, from the independent script.
const COMM: [(u64, CollectiveKind, u64); 7] = [
    (435, CollectiveKind::Broadcast, 212_480),
    (622, CollectiveKind::Broadcast, 424),
    (3256, CollectiveKind::AllReduce, 8_196_000),
    (3512, CollectiveKind::AllReduce, 31_502_336),
    (3686, CollectiveKind::AllReduce, 26_255_360),
    (4486, CollectiveKind::AllReduce, 26_550_272),
    (5700, CollectiveKind::AllReduce, 9_724_160),
];

#[test]
fn sample_trace_counts_and_sizes() {
    let t = sample();
    assert_eq!(t.nodes.len(), 3_664);
    let comp = t
        .nodes
        .iter()
        .filter(|n| n.node_type() == NodeType::Comp)
        .count();
    let coll = t
        .nodes
        .iter()
        .filter(|n| n.node_type() == NodeType::CommColl)
        .count();
    assert_eq!((comp, coll), (3_643, 21));
    let schema = t.metadata.attr.iter().find(|a| a.name == "schema").unwrap();
    assert_eq!(
        schema.value,
        Some(mrc_workload::chakra::AttrValue::StringVal("1.0.1".into()))
    );
    let comm = t.comm_nodes().unwrap();
    let got: Vec<_> = comm
        .iter()
        .map(|c| match c.op {
            CommOp::Collective(k) => (c.id, k, c.size_bytes),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(got, COMM.to_vec());
    assert!(comm[0].name.starts_with("ncclKernel_Broadcast_RING_LL"));
    assert_eq!(comm.iter().map(|c| c.size_bytes).sum::<u64>(), 102_441_032);
}

#[test]
fn sample_trace_becomes_a_dag() {
    let t = sample();
    let conv = t
        .to_dag(&ConvertOptions {
            ranks: 4,
            ..ConvertOptions::default()
        })
        .unwrap();
    assert_eq!(
        conv.collective_node_ids,
        COMM.iter().map(|c| c.0).collect::<Vec<_>>()
    );
    assert_eq!(conv.dag.collectives.len(), 7);
    // Ring all-reduce on 4 ranks: 2·3·4 flows; broadcast chain: 3 flows.
    assert_eq!(conv.dag.flow_count(), 5 * 24 + 2 * 3);
    let sizes: Vec<u64> = conv.dag.collectives.iter().map(|c| c.size_bytes).collect();
    assert_eq!(sizes, COMM.iter().map(|c| c.2).collect::<Vec<_>>());
    let tl = execute_alpha_beta(
        &conv.dag,
        &AlphaBeta {
            alpha_ns: 5_000,
            bandwidth_bytes_per_s: 50_000_000_000,
            scale_up: ScaleUp::default(),
        },
    );
    // The five gradient all-reduces complete in trace order (each depends on earlier work);
    // the two broadcasts are independent of each other.
    let done = tl.collective_completion_ns(&conv.dag);
    assert!(done[2..].windows(2).all(|w| w[0] < w[1]), "{done:?}");
    assert!(tl.makespan_ns() >= *done.last().unwrap());
}

#[test]
fn sample_ctrl_deps_are_parent_links() {
    // Independent script: following ctrl_deps too gives a cycle (3317 → ctrl 3318 → data 3317);
    // data_deps alone are acyclic with no missing targets.
    let t = sample();
    assert!(t.topo_order(false).is_ok());
    assert!(matches!(
        t.topo_order(true),
        Err(mrc_workload::chakra::ChakraError::Cycle(_))
    ));
}
