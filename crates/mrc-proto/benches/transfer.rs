//! Bulk transfer through sender + receiver logic, no payload bytes (the simulator's case).
//!
//! - `direct`: A's transmits are handed straight to B and B's SACKs straight back (zero
//!   latency): the cost of the protocol logic alone, per data packet.
//! - `harness`: the same transfer through the test harness network (8 planes × 32 EVs, queues,
//!   event heap), as an upper bound of what a simulator pays per packet.
//!
//! Throughput is reported in data packets per second.
#![allow(clippy::unwrap_used, reason = "bench code")]
#![allow(missing_docs, reason = "bench code")]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mrc_proto::testing::{NetConfig, PathConfig, mrc_harness, mrc_pair_configs};
use mrc_proto::{
    Connection, Duration, Instant, MrcQpAttr, PortMask, Received, Transport, WriteRequest,
};

const BYTES: u64 = 64 << 20;
const MTU: u64 = 4096;
const PACKETS: u64 = BYTES / MTU;

fn pair() -> (Connection, Connection) {
    let (a, b) = mrc_pair_configs(1, 8, 32, 8, 100_000_000_000, Duration::from_micros(10));
    let mut a = Connection::new_rts(a, MrcQpAttr::default()).unwrap();
    let mut b = Connection::new_rts(b, MrcQpAttr::default()).unwrap();
    let src = a.regions_mut().register_virtual(BYTES);
    let dst = b.regions_mut().register_virtual(BYTES);
    for i in 0..(BYTES >> 20) {
        a.post_write(WriteRequest {
            wr_id: i,
            local_addr: src.addr + (i << 20),
            len: 1 << 20,
            remote_addr: dst.addr + (i << 20),
            rkey: dst.rkey,
            imm: None,
        })
        .unwrap();
    }
    (a, b)
}

fn direct((mut a, mut b): (Connection, Connection)) -> u64 {
    let mut now = Instant::ZERO;
    let step = Duration::from_nanos(42); // 8 × 100G ports: one 4 KB packet every ~42 ns
    while a.outstanding() > 0 {
        now += step;
        if a.poll_timeout().is_some_and(|t| t <= now) {
            a.handle_timeout(now);
        }
        if b.poll_timeout().is_some_and(|t| t <= now) {
            b.handle_timeout(now);
        }
        if let Some(tx) = a.poll_transmit(now, PortMask::ALL) {
            b.handle_packet(now, &Received::new(tx.repr, tx.ev, tx.port, None));
        }
        while let Some(tx) = b.poll_transmit(now, PortMask::ALL) {
            a.handle_packet(now, &Received::new(tx.repr, tx.ev, tx.port, None));
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
    }
    a.stats().data_sent
}

fn harness() -> u64 {
    let (a, b) = mrc_pair_configs(1, 8, 32, 8, 100_000_000_000, Duration::from_micros(10));
    // Every path is a 100G fabric link; the NIC ports are the bottleneck.
    let path = PathConfig::default();
    let mut net = NetConfig::uniform(8 * 40, 8, 100_000_000_000, path);
    net.carry_payload = false;
    net.keep_events = false;
    let mut h = mrc_harness(a, b, MrcQpAttr::default(), net);
    let src = h.ends[0].regions_mut().register_virtual(BYTES);
    let dst = h.ends[1].regions_mut().register_virtual(BYTES);
    for i in 0..(BYTES >> 20) {
        h.ends[0]
            .post_write(WriteRequest {
                wr_id: i,
                local_addr: src.addr + (i << 20),
                len: 1 << 20,
                remote_addr: dst.addr + (i << 20),
                rkey: dst.rkey,
                imm: None,
            })
            .unwrap();
    }
    let n = BYTES >> 20;
    h.run_until(Instant::ZERO + Duration::from_secs(1), |h| {
        h.completions[0] == n
    });
    h.ends[0].stats().data_sent
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("transfer_64MB");
    g.throughput(Throughput::Elements(PACKETS));
    g.sample_size(20);
    g.bench_function("direct", |bch| {
        bch.iter_batched(pair, |p| black_box(direct(p)), BatchSize::PerIteration);
    });
    g.bench_function("harness", |bch| bch.iter(|| black_box(harness())));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
