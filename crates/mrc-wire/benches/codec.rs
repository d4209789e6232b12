//! Parse + emit of a full data-packet header stack (criterion).
//!
//! `cargo bench -p mrc-wire`. Target (issue 2): under 100 ns per packet for parse + emit.
#![allow(clippy::unwrap_used, reason = "benchmark code")]
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mrc_wire::mrc::{self, Body, Opcode, meth, reth};
use mrc_wire::usid::Carrier;
use mrc_wire::{Psn, ipv6, stack, udp};

fn data_packet(payload_len: u32, srv6: bool) -> stack::Repr {
    let mut bth = mrc::bth::Repr::new(Opcode::WriteMiddle, 0x42, Psn::new(1000));
    bth.ack_req = true;
    let mrc = mrc::Repr {
        bth,
        body: Body::Write(mrc::Write {
            meth: meth::Repr { rqmsn: 3, msn: 7 },
            tseth: None,
            reth: reth::Repr {
                va: 0x7f00_0000_1000,
                rkey: 0xabcd,
                dma_len: 1 << 20,
            },
            imm: None,
            payload_len,
        }),
    };
    let (sport, flow) = udp::stev_encode(0x0000_0512);
    let nic = |n: u16| ipv6::Repr {
        traffic_class: 4 << 2,
        flow_label: flow,
        payload_len: 0,
        next_header: 0,
        hop_limit: 64,
        src: "fd00::1".parse().unwrap(),
        dst: core::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, n),
    };
    let carrier = Carrier::new(0xfc00_0000, &[0x0801, 0x1005, 0x0802, 0x1807]).unwrap();
    let outer = if srv6 {
        ipv6::Repr {
            dst: carrier.addr(),
            ..nic(0)
        }
    } else {
        nic(2)
    };
    stack::Repr {
        outer,
        srh: None,
        inner: srv6.then(|| nic(2)),
        udp: udp::Repr {
            src_port: sport,
            dst_port: mrc::UDP_PORT,
        },
        mrc,
    }
    .with_lengths()
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse+emit");
    g.throughput(Throughput::Elements(1));

    // MRC headers alone: what the UDP transport encodes and decodes per datagram.
    let repr = data_packet(4096, true).mrc;
    let mut buf = repr.to_bytes(&[0x5a; 4096]).unwrap();
    g.bench_function("mrc headers (BTH+METH+RETH), 4 KiB payload", |b| {
        b.iter(|| {
            let (parsed, payload) = mrc::Repr::parse_bytes(black_box(&buf)).unwrap();
            black_box(payload.len());
            let mut p = mrc::Packet::new_unchecked(&mut buf[..]);
            black_box(parsed).emit(&mut p).unwrap();
        })
    });

    // The whole SRv6 stack with a 4 KiB payload, checksum computed on emit and verified on parse.
    for (name, srv6, payload_len, verify) in [
        ("SRv6 stack, 64 B payload, checksum", true, 64, true),
        ("SRv6 stack, 4 KiB payload, checksum", true, 4096, true),
        (
            "plain IPv6 stack, 4 KiB payload, checksum",
            false,
            4096,
            true,
        ),
    ] {
        let repr = data_packet(payload_len, srv6);
        let payload = vec![0x5a; payload_len as usize];
        let mut buf = repr.to_bytes(&payload).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                let (parsed, range) = stack::Repr::parse(black_box(&buf), verify).unwrap();
                black_box(range);
                black_box(parsed).emit(&mut buf, &payload).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
