//! End-to-end transfers through the harness.
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use common::*;
use mrc_proto::testing::PathConfig;
use mrc_proto::{Duration, Event, MrcQpAttr, QpState, Transport, WcStatus};

#[test]
fn clean_bulk_transfer_places_every_byte() {
    let mut h = pair(1, 4, 8, 2, PathConfig::default(), MrcQpAttr::default());
    let (src, dst) = regions(&mut h, 4 << 20, 3);
    for i in 0..4u64 {
        h.ends[0]
            .post_write(write(i, src, dst, i << 20, 1 << 20, None))
            .unwrap();
    }
    assert!(run_until_complete(&mut h, 4, Duration::from_millis(50)));
    assert!(same_bytes(&h, src, dst));
    let ids: Vec<u64> = h.events[0]
        .iter()
        .filter_map(|e| match e {
            Event::SendComplete { wr_id, status } => {
                assert_eq!(*status, WcStatus::Success);
                Some(*wr_id)
            }
            _ => None,
        })
        .collect();
    assert_eq!(ids, [0, 1, 2, 3]);
    let s = h.stats(0);
    assert_eq!(s.data_retransmitted, 0, "{s:?}");
    assert_eq!(h.stats(1).bytes_placed, 4 << 20);
    eprintln!("time {:?} a={:?} net={:?}", h.now, h.stats(0), h.net_stats);
}

#[test]
fn write_imm_completes_after_earlier_writes_in_order() {
    let mut h = pair(2, 2, 4, 1, PathConfig::default(), MrcQpAttr::default());
    let (src, dst) = regions(&mut h, 1 << 20, 5);
    let mut n = 0;
    for i in 0..16u64 {
        let w = write(i, src, dst, i << 16, 1 << 16, None);
        if i % 4 == 3 {
            h.ends[0].post_write_imm(w, i as u32 * 10).unwrap();
        } else {
            h.ends[0].post_write(w).unwrap();
        }
        n += 1;
    }
    // Random reordering makes later packets overtake earlier ones.
    for p in &mut h.net.paths {
        p.reorder = 0.3;
    }
    assert!(run_until_complete(&mut h, n, Duration::from_millis(50)));
    assert!(same_bytes(&h, src, dst));
    let imms: Vec<u32> = h.events[1]
        .iter()
        .filter_map(|e| match e {
            Event::RecvImm { imm, len, .. } => {
                assert_eq!(*len, 1 << 16);
                Some(*imm)
            }
            _ => None,
        })
        .collect();
    assert_eq!(imms, [30, 70, 110, 150]);
}

#[test]
fn lossy_trimming_reordering_network_still_delivers_exactly() {
    let path = PathConfig {
        loss: 0.01,
        trim: 0.02,
        ecn: 0.02,
        dup: 0.01,
        reorder: 0.05,
        ..PathConfig::default()
    };
    let mut h = pair(3, 4, 8, 2, path, MrcQpAttr::default());
    let (src, dst) = regions(&mut h, 2 << 20, 9);
    for i in 0..8u64 {
        h.ends[0]
            .post_write(write(i, src, dst, i << 18, 1 << 18, (i == 7).then_some(7)))
            .unwrap();
    }
    assert!(run_until_complete(&mut h, 8, Duration::from_millis(200)));
    assert!(same_bytes(&h, src, dst));
    let s = h.stats(0);
    assert!(s.data_retransmitted > 0);
    assert!(s.nacks_trimmed > 0);
    assert_eq!(h.ends[0].state(), QpState::Rts);
    eprintln!("a={s:?}\nnet={:?}", h.net_stats);
}

#[test]
fn slow_paths_with_heavy_reordering_do_not_cause_a_retirement_storm() {
    // 8 planes × 32 EVs, each path at 1/32 of the port: a 4 KB packet takes 10.7 µs to cross a
    // path, so packets overtake each other by up to ~10 µs (more than the OOO threshold).
    let mut h = pair(5, 8, 32, 8, PathConfig::default(), MrcQpAttr::default());
    h.net.carry_payload = false;
    let src = h.ends[0].regions_mut().register_virtual(64 << 20);
    let dst = h.ends[1].regions_mut().register_virtual(64 << 20);
    for i in 0..64u64 {
        h.ends[0]
            .post_write(write(i, src, dst, i << 20, 1 << 20, None))
            .unwrap();
    }
    assert!(run_until_complete(&mut h, 64, Duration::from_millis(20)));
    let s = h.stats(0);
    eprintln!("{:?} {s:?}", h.now);
    // Reordering stays within the full SLEEK threshold (1.5 × cwnd): it makes suspects whose
    // packets then arrive, so no path is blamed and nothing is resent.
    assert_eq!(s.ev_retired, 0, "{s:?}");
    assert_eq!(s.data_retransmitted, 0, "{s:?}");
}

#[test]
fn zero_latency_loop_has_no_spurious_retransmissions() {
    // Regression: the per-packet timer must not collapse with a near-zero RTT sample.
    use mrc_proto::{Connection, Instant, PortMask, Received};
    let (a, b) =
        mrc_proto::testing::mrc_pair_configs(1, 2, 4, 1, PORT_RATE, Duration::from_micros(10));
    let mut a = Connection::new_rts(a, MrcQpAttr::default()).unwrap();
    let mut b = Connection::new_rts(b, MrcQpAttr::default()).unwrap();
    let src = a.regions_mut().register_virtual(4 << 20);
    let dst = b.regions_mut().register_virtual(4 << 20);
    a.post_write(write(1, src, dst, 0, 4 << 20, None)).unwrap();
    let mut now = Instant::ZERO;
    while a.outstanding() > 0 && now < Instant::from_nanos(10_000_000) {
        now += Duration::from_nanos(40);
        for c in [&mut a, &mut b] {
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
            }
        }
        if let Some(tx) = a.poll_transmit(now, PortMask::ALL) {
            b.handle_packet(now, &Received::new(tx.repr, tx.ev, tx.port, None));
        }
        while let Some(tx) = b.poll_transmit(now, PortMask::ALL) {
            a.handle_packet(now, &Received::new(tx.repr, tx.ev, tx.port, None));
        }
    }
    assert_eq!(a.outstanding(), 0);
    assert_eq!(a.stats().data_retransmitted, 0, "{:?}", a.stats());
    assert_eq!(a.stats().data_sent, 1024);
}

#[test]
fn psn_wraparound_under_loss_is_exact() {
    use mrc_proto::testing::{NetConfig, mrc_harness, mrc_pair_configs};
    let (mut a, mut b) = mrc_pair_configs(6, 2, 4, 1, PORT_RATE, Duration::from_micros(10));
    a.initial_psn = (1 << 24) - 300;
    b.initial_psn = (1 << 24) - 300;
    let path = PathConfig {
        rate_bps: PORT_RATE / 4,
        loss: 0.01,
        trim: 0.02,
        reorder: 0.05,
        ..PathConfig::default()
    };
    let net = NetConfig::uniform(10, 2, PORT_RATE, path);
    let mut h = mrc_harness(a, b, MrcQpAttr::default(), net);
    let (src, dst) = regions(&mut h, 4 << 20, 8);
    for i in 0..4u64 {
        h.ends[0]
            .post_write(write(i, src, dst, i << 20, 1 << 20, Some(i as u32)))
            .unwrap();
    }
    assert!(run_until_complete(&mut h, 4, Duration::from_millis(200)));
    assert!(same_bytes(&h, src, dst));
    let imms = h.events[1]
        .iter()
        .filter(|e| matches!(e, Event::RecvImm { .. }))
        .count();
    assert_eq!(imms, 4);
}
