//! A QP of the real endpoint only takes packets from the peer it is bound to: a valid Write to
//! the right QPN and key from another address or port is dropped and counted.
#![allow(clippy::unwrap_used, reason = "test code")]

use std::net::UdpSocket;

use mrc_net::endpoint::{Endpoint, PathMode, Qp, SPORT_BASE};
use mrc_net::perf::loopback;
use mrc_proto::testing::mrc_pair_configs;
use mrc_proto::{Connection, Duration, MrcQpAttr, Transport};
use mrc_wire::Psn;
use mrc_wire::mrc::{self, Body, Opcode, bth, meth, reth};

fn write_to(qpn: u32, va: u64, rkey: u32) -> Vec<u8> {
    mrc::Repr {
        bth: bth::Repr::new(Opcode::WriteOnly, qpn, Psn::ZERO),
        body: Body::Write(mrc::Write {
            meth: meth::Repr { rqmsn: 0, msn: 0 },
            tseth: None,
            reth: reth::Repr {
                va,
                rkey,
                dma_len: 64,
            },
            imm: None,
            payload_len: 64,
        }),
    }
    .to_bytes(&[0x5A; 64])
    .unwrap()
}

#[test]
fn a_packet_from_anyone_but_the_bound_peer_is_dropped_and_counted() {
    let base = 21_000 + (std::process::id() % 8_000) as u16 * 2;
    let (_, b) = mrc_pair_configs(3, 1, 4, 0, 100_000_000_000, Duration::from_micros(10));
    let qpn = b.qpn;
    let mut conn = Connection::new_rts(b, MrcQpAttr::default()).unwrap();
    let dst = conn.regions_mut().register(4096);
    let mut ep = Endpoint::bind(loopback(base), PathMode::Loopback, &[]).unwrap();
    // Bound at connect to a peer at [::1]:base+1 (which sends from its EV ports).
    ep.add_qp(Qp {
        conn,
        peer: Some(loopback(base + 1)),
    })
    .unwrap();
    // An intruder on the same host, from an ordinary port, with the right QPN and R_Key.
    let intruder = UdpSocket::bind(loopback(base + 1)).unwrap();
    assert!(base + 1 < SPORT_BASE);
    intruder
        .send_to(&write_to(qpn, dst.addr, dst.rkey), loopback(base))
        .unwrap();
    let mut accept = |_: u32, _| -> Option<Qp> { None };
    for _ in 0..50 {
        ep.step(1_000_000, &mut accept).unwrap();
        if ep.io.datagrams_received > 0 {
            break;
        }
    }
    assert_eq!(ep.io.datagrams_received, 1);
    let qp = &ep.qps()[0];
    assert_eq!(
        qp.conn.stats().bytes_placed,
        0,
        "a stranger's write was placed"
    );
    assert_eq!(ep.io.foreign, 1);
    assert!(
        qp.conn
            .regions()
            .read(dst.addr, 64)
            .unwrap()
            .iter()
            .all(|&b| b == 0)
    );
}

/// A datagram that arrives ECN-CE marked (IPv6 traffic class, read with `IPV6_RECVTCLASS`)
/// reaches its QP as `Received::ecn_ce`, as a switch's mark does in the simulator.
#[test]
fn an_ecn_ce_mark_reaches_the_qp() {
    let base = 37_000 + (std::process::id() % 4_000) as u16 * 2;
    let (_, b) = mrc_pair_configs(5, 1, 4, 0, 100_000_000_000, Duration::from_micros(10));
    let qpn = b.qpn;
    let mut conn = Connection::new_rts(b, MrcQpAttr::default()).unwrap();
    let dst = conn.regions_mut().register(4096);
    let mut ep = Endpoint::bind(loopback(base), PathMode::Loopback, &[]).unwrap();
    ep.add_qp(Qp {
        conn,
        peer: Some(loopback(base + 1)),
    })
    .unwrap();
    // The peer, sending from an EV port (loopback mode), ECN-CE in the traffic class.
    let ev_port = SPORT_BASE + 3_000 + (std::process::id() % 1_000) as u16;
    let peer = UdpSocket::bind(loopback(ev_port)).unwrap();
    mrc_net::sys::setsockopt_int(
        std::os::fd::AsRawFd::as_raw_fd(&peer),
        libc::IPPROTO_IPV6,
        libc::IPV6_TCLASS,
        3,
    )
    .unwrap();
    peer.send_to(&write_to(qpn, dst.addr, dst.rkey), loopback(base))
        .unwrap();
    let mut accept = |_: u32, _| -> Option<Qp> { None };
    for _ in 0..50 {
        ep.step(1_000_000, &mut accept).unwrap();
        if ep.io.datagrams_received > 0 {
            break;
        }
    }
    assert_eq!(ep.io.datagrams_received, 1);
    assert_eq!(ep.io.ecn_ce, 1);
    let s = ep.qps()[0].conn.stats();
    assert_eq!((s.ecn_received, s.bytes_placed), (1, 64));
}
