//! Builds a multi-plane fabric with all static tables and reports time, sizes and table figures.
//!
//! `cargo run --release -p mrc-fabric --example fabric_build` — the paper's 131,072-NIC fabric;
//! `… -- NICS PLANES NIC_GBPS SWITCH_GBPS` for another one;
//! `… -- exhaustive` — every (src, dst, EV) triple of the 1,024-NIC, 8-plane, radix-64 fabric
//! (268 M triples; about a minute).
#![allow(clippy::unwrap_used, reason = "example")]

use std::time::Instant;

use mrc_fabric::{Clos, ClosParams, NodeId, StaticTables};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("exhaustive") {
        let clos = Clos::new(ClosParams::new(1_024, 8, 800, 6_400)).unwrap();
        let tables = StaticTables::new(&clos);
        let t = Instant::now();
        let n = tables.verify_all(&clos).unwrap();
        println!(
            "verified all {n} (src, dst, EV) triples in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        return;
    }
    let num = |i: usize, d: u32| args.get(i).map_or(d, |s| s.parse().unwrap());
    let params = ClosParams::new(num(0, 131_072), num(1, 8), num(2, 800), num(3, 51_200));
    let t = Instant::now();
    let clos = Clos::new(params).unwrap();
    let built = t.elapsed();
    let tables = StaticTables::new(&clos);
    let total = t.elapsed();
    let topo = clos.topology();
    let d = clos.dims();
    println!(
        "{} NICs, {} planes, radix {}: {} switches, {} links",
        d.nics,
        d.planes,
        d.radix,
        topo.switch_count(),
        topo.links().len()
    );
    println!(
        "topology {:.3} s, + static tables {:.3} s (total {:.3} s)",
        built.as_secs_f64(),
        (total - built).as_secs_f64(),
        total.as_secs_f64()
    );
    let t0 = tables.table(clos.t0(0, 0));
    let t1 = tables.table(clos.t1(0, 0));
    let nic = tables.table(NodeId(0));
    println!(
        "per-switch /48 entries: T0 {} ({} rules), T1 {} ({} rules); per NIC {} ({} rules)",
        t0.len(),
        t0.rule_count(),
        t1.len(),
        t1.rule_count(),
        nic.len(),
        nic.rule_count()
    );
    let entries: usize = topo
        .nodes()
        .iter()
        .enumerate()
        .map(|(i, _)| tables.table(NodeId(i as u32)).len())
        .sum();
    println!(
        "all tables: {} /48 entries stored as {} rules in {:.1} MiB",
        entries,
        tables.rule_count(),
        tables.heap_bytes() as f64 / (1 << 20) as f64
    );
    let t = Instant::now();
    let n = tables.verify_random(&clos, 0x5eed, 1_000_000).unwrap();
    println!(
        "verified {n} random triples in {:.2} s",
        t.elapsed().as_secs_f64()
    );
}
