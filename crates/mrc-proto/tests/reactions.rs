//! Per-packet reactions driven by hand: trim NACK → immediate retransmission on another EV with
//! the rtx flag (oldest first) and SKIP; last-hop trim → no EV penalty; ECN echo → SKIP;
//! peer Port Status Update → plane masked; QP hint → smaller initial window; determinism.
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use common::*;
use mrc_proto::testing::{PathConfig, mrc_pair_configs};
use mrc_proto::{
    Connection, Duration, EvState, Instant, MrcQpAttr, PortMask, QpHint, Received, TrafficClass,
    Transmit, Transport,
};
use mrc_wire::Psn;
use mrc_wire::mrc::{
    self, Body, EndpointOp, NackReason, Opcode, PathMark, TypeNext, bth, cc_state, erth, neth,
    seth, tseth,
};

fn sender() -> (Connection, Vec<Transmit>) {
    let (a, _) = mrc_pair_configs(41, 2, 4, 1, PORT_RATE, Duration::from_micros(10));
    let mut a = Connection::new_rts(a, MrcQpAttr::default()).unwrap();
    let src = a.regions_mut().register_virtual(1 << 20);
    a.post_write(mrc_proto::WriteRequest {
        wr_id: 1,
        local_addr: src.addr,
        len: 16 * 4096,
        remote_addr: 0x1000,
        rkey: 7,
        imm: None,
    })
    .unwrap();
    let now = Instant::from_nanos(100);
    let sent: Vec<Transmit> = (0..16)
        .map(|_| a.poll_transmit(now, PortMask::ALL).unwrap())
        .collect();
    (a, sent)
}

fn nack(psn: Psn, ev: u32, reason: NackReason) -> mrc::Repr {
    mrc::Repr {
        bth: bth::Repr::new(Opcode::Nack, 0x11, psn),
        body: Body::Nack(neth::Repr {
            type_next: TypeNext::default(),
            reason,
            vendor_info: 0,
            entropy: ev,
            spdcid: 0,
            dpdcid: 0,
            nack_psn: psn,
            cc_type: 2,
            cc_flags: 0,
            tx_timestamp: 0,
        }),
    }
}

#[test]
fn trim_nack_retransmits_oldest_first_on_another_ev_and_skips_the_ev() {
    let (mut a, sent) = sender();
    let now = Instant::from_nanos(5_000);
    // NACK two PSNs, the younger first: the older must go first.
    for k in [9usize, 3] {
        let t = sent[k];
        a.handle_packet(
            now,
            &Received::new(
                nack(t.repr.bth.psn, t.ev, NackReason::Trimmed),
                t.ev,
                t.port,
                None,
            ),
        );
    }
    assert_eq!(a.ev_set().state(sent[3].ev), Some(EvState::Skip));
    let r1 = a.poll_transmit(now, PortMask::ALL).unwrap();
    let r2 = a.poll_transmit(now, PortMask::ALL).unwrap();
    for (r, k) in [(r1, 3usize), (r2, 9)] {
        assert_eq!(r.repr.bth.psn, sent[k].repr.bth.psn);
        assert!(r.repr.bth.retransmit);
        assert_eq!(r.class, TrafficClass::Retransmit);
        assert_ne!(r.ev, sent[k].ev, "retransmission on a different EV");
    }
    assert_eq!(a.stats().nacks_trimmed, 2);
    // A stale NACK (EV does not match the retransmission) is ignored.
    let t = sent[3];
    a.handle_packet(
        now,
        &Received::new(
            nack(t.repr.bth.psn, t.ev, NackReason::Trimmed),
            t.ev,
            t.port,
            None,
        ),
    );
    assert_eq!(a.stats().stale_nacks, 1);
}

#[test]
fn last_hop_trim_does_not_penalise_the_ev() {
    let (mut a, sent) = sender();
    let t = sent[2];
    a.handle_packet(
        Instant::from_nanos(5_000),
        &Received::new(
            nack(t.repr.bth.psn, t.ev, NackReason::TrimmedLastHop),
            t.ev,
            t.port,
            None,
        ),
    );
    assert_eq!(a.ev_set().state(t.ev), Some(EvState::Good));
    assert_eq!(a.stats().nacks_trimmed_last_hop, 1);
    let r = a
        .poll_transmit(Instant::from_nanos(5_000), PortMask::ALL)
        .unwrap();
    assert_eq!(r.repr.bth.psn, t.repr.bth.psn);
}

#[test]
fn a_trimmed_packet_resent_and_acked_soon_is_not_a_spurious_retransmission() {
    // The original was trimmed: only the retransmission can have arrived, however soon its
    // ack comes (the configured base RTT is the fabric's longest path, 10 µs here).
    let (mut a, sent) = sender();
    let t = sent[0];
    let now = Instant::from_nanos(5_000);
    a.handle_packet(
        now,
        &Received::new(
            nack(t.repr.bth.psn, t.ev, NackReason::TrimmedLastHop),
            t.ev,
            t.port,
            None,
        ),
    );
    let r = a.poll_transmit(now, PortMask::ALL).unwrap();
    assert!(r.repr.bth.retransmit);
    let sack = mrc::Repr {
        bth: bth::Repr::new(Opcode::Sack, 0x11, t.repr.bth.psn),
        body: Body::Sack {
            seth: seth::Repr {
                entropy: r.ev,
                cack_psn: t.repr.bth.psn,
                sack_offset: 1,
                ..seth::Repr::default()
            },
            cc: cc_state::Repr::default(),
        },
    };
    a.handle_packet(Instant::from_nanos(6_000), &Received::new(sack, 0, 0, None));
    assert_eq!(a.stats().sacks_received, 1);
    assert_eq!(a.stats().spurious_retransmits, 0);
}

#[test]
fn ecn_echo_skips_the_ev_for_one_pass() {
    let (mut a, sent) = sender();
    let t = sent[0];
    let sack = mrc::Repr {
        bth: bth::Repr::new(Opcode::Sack, 0x11, t.repr.bth.psn),
        body: Body::Sack {
            seth: seth::Repr {
                mark: PathMark::SkipOnce,
                entropy: t.ev,
                cack_psn: t.repr.bth.psn,
                sack_offset: 1,
                ..seth::Repr::default()
            },
            cc: cc_state::Repr::default(),
        },
    };
    a.handle_packet(Instant::from_nanos(9_000), &Received::new(sack, 0, 0, None));
    assert_eq!(a.ev_set().state(t.ev), Some(EvState::Skip));
    assert_eq!(a.stats().ecn_echoes, 1);
    assert_eq!(a.stats().completions, 0);
}

#[test]
fn peer_port_status_update_masks_the_plane_for_data() {
    let (mut a, _) = sender();
    let upd = mrc::Repr {
        bth: bth::Repr::new(Opcode::EndpointRequest, mrc::ENDPOINT_QPN, Psn::ZERO),
        body: Body::EndpointRequest(erth::Repr {
            type_next: TypeNext::default(),
            op: EndpointOp::PortStatusUpdate,
            vendor_info: 0,
            port_status_mask: 0b01, // the peer's plane 1 is down
            timestamp: tseth::Repr {
                tx_timestamp: 5,
                ..Default::default()
            },
        }),
    };
    let now = Instant::from_nanos(6_000);
    a.handle_packet(now, &Received::new(upd, 0, 0, None));
    assert_eq!(a.peer_ports(), 0b01);
    // The response goes out first, then data only on plane 0.
    let resp = a.poll_transmit(now, PortMask::ALL).unwrap();
    assert!(matches!(resp.repr.body, Body::EndpointResponse(r) if r.tx_timestamp == 5));
    let mut n = 0;
    while let Some(t) = a.poll_transmit(now, PortMask::ALL) {
        assert_eq!(t.port, 0);
        n += 1;
    }
    assert!(n > 0);
}

#[test]
fn qp_hint_divides_the_initial_window_by_the_incast_degree() {
    let (a, _) = mrc_pair_configs(42, 2, 4, 1, PORT_RATE, Duration::from_micros(10));
    let plain = Connection::new_rts(a.clone(), MrcQpAttr::default()).unwrap();
    let attr = MrcQpAttr {
        hint: Some(QpHint {
            num_remote_recv_peers: 8,
            ..QpHint::default()
        }),
        ..MrcQpAttr::default()
    };
    let hinted = Connection::new_rts(a, attr).unwrap();
    // max_cwnd = 1.5 BDP; with k = 8 the first window is BDP / 8 = max_cwnd / 12.
    assert_eq!(hinted.cwnd(), plain.cwnd() * 2 / 3 / 8);
}

#[test]
fn same_seed_same_run() {
    let run = || {
        let path = PathConfig {
            loss: 0.01,
            trim: 0.02,
            ecn: 0.02,
            reorder: 0.05,
            dup: 0.01,
            ..PathConfig::default()
        };
        let mut h = pair(43, 4, 8, 2, path, MrcQpAttr::default());
        let (src, dst) = regions(&mut h, 1 << 20, 3);
        for i in 0..4u64 {
            h.ends[0]
                .post_write(write(i, src, dst, i << 18, 1 << 18, Some(i as u32)))
                .unwrap();
        }
        assert!(run_until_complete(&mut h, 4, Duration::from_millis(50)));
        (
            h.now,
            *h.stats(0),
            *h.stats(1),
            h.net_stats,
            h.events.clone(),
        )
    };
    assert_eq!(run(), run());
}
