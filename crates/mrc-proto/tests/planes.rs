//! Plane failure (local port down + Port Status Update to the peer), all paths dead (QP error
//! only after the retry budget), and the oblivious-spray ablation.
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use common::*;
use mrc_proto::testing::{PathConfig, mrc_harness, mrc_pair_configs};
use mrc_proto::{
    Duration, EvState, Event, Instant, LbMode, MrcQpAttr, QpErrorReason, QpState, Retry, Transport,
};

#[test]
fn local_port_down_masks_the_plane_and_tells_the_peer() {
    let mut h = pair(21, 4, 8, 2, PathConfig::default(), MrcQpAttr::default());
    let (src, dst) = regions(&mut h, 8 << 20, 2);
    for i in 0..8u64 {
        h.ends[0]
            .post_write(write(i, src, dst, i << 20, 1 << 20, None))
            .unwrap();
    }
    let t = Instant::from_nanos(20_000);
    h.run_until(t, |h| h.now >= t);
    // Plane 2 dies: every path of it black-holes, A's port 2 goes down.
    for p in 20..30 {
        h.net.paths[p].black_hole = true;
    }
    let now = h.now;
    h.ends[0].handle_port_status(now, 2, false);
    assert!(run_until_complete(&mut h, 8, Duration::from_millis(50)));
    assert!(same_bytes(&h, src, dst));
    assert!(h.events[1].contains(&Event::PeerPortStatus { mask: 0b1011 }));
    assert!(h.events[0].contains(&Event::PortStatusAcked));
    assert_eq!(h.ends[1].peer_ports(), 0b1011);
    // No EV of the dead plane was blamed for the loss of the port.
    let retired_on_2 = h.events[0].iter().any(|e| {
        matches!(
            e,
            Event::EvState {
                plane: 2,
                state: EvState::AssumedBad,
                ..
            }
        )
    });
    assert!(!retired_on_2);
}

#[test]
fn all_paths_dead_errors_only_after_the_retry_budget() {
    let attr = MrcQpAttr {
        timeout: 6, // 65.5 µs
        retry: Retry {
            linear_cnt: 3,
            exp_cnt: 2,
        },
        ..MrcQpAttr::default()
    };
    let mut h = pair(22, 2, 4, 1, PathConfig::default(), attr);
    let (src, dst) = regions(&mut h, 1 << 20, 2);
    h.ends[0]
        .post_write(write(1, src, dst, 0, 1 << 20, None))
        .unwrap();
    let t = Instant::from_nanos(10_000);
    h.run_until(t, |h| h.now >= t);
    for p in &mut h.net.paths {
        p.black_hole = true;
    }
    let dead_at = h.now;
    h.run_until(dead_at + Duration::from_secs(1), |h| {
        h.ends[0].state() == QpState::Error
    });
    assert_eq!(h.ends[0].state(), QpState::Error);
    assert!(h.events[0].contains(&Event::QpError(QpErrorReason::RetryExceeded)));
    // Budget: T + 3 T (linear) + 2T + 4T (exponential) = 10 T = 655 µs after the last progress
    // (the harness clock stops at the wake-up after the error, hence the slack above).
    let took = h.now.saturating_since(dead_at);
    assert_eq!(h.stats(0).qp_timeouts, 6);
    eprintln!(
        "took {took:?} qp_timeouts {} stats {:?}",
        h.stats(0).qp_timeouts,
        h.stats(0)
    );
    assert!(
        took >= Duration::from_micros(600) && took <= Duration::from_micros(900),
        "{took:?}"
    );
    // Every path went silent at once. Only packets in flight at that moment, overtaken by
    // later ones acked on other paths, can blame their path; once nothing sent later comes
    // back, silence is QP-wide and blames none, so the QP neither churns through its EV set
    // nor reaches the floor (which `ev.rs` tests). The QP timer owns the outage.
    let s = h.stats(0);
    assert!(s.ev_retired < 8 && s.ev_loss_at_floor == 0, "{s:?}");
}

#[test]
fn oblivious_spray_keeps_using_a_dead_path() {
    let (mut a, b) = mrc_pair_configs(23, 2, 4, 1, PORT_RATE, Duration::from_micros(10));
    a.lb_mode = LbMode::Oblivious;
    let mut net = mrc_proto::testing::NetConfig::uniform(
        10,
        2,
        PORT_RATE,
        PathConfig {
            rate_bps: PORT_RATE / 4,
            ..PathConfig::default()
        },
    );
    net.paths[1].black_hole = true;
    let mut h = mrc_harness(a, b, MrcQpAttr::default(), net);
    let (src, dst) = regions(&mut h, 1 << 20, 2);
    h.ends[0]
        .post_write(write(1, src, dst, 0, 1 << 20, None))
        .unwrap();
    assert!(run_until_complete(&mut h, 1, Duration::from_millis(100)));
    assert!(same_bytes(&h, src, dst));
    let s = h.stats(0);
    assert_eq!(s.ev_retired, 0);
    assert_eq!(h.ends[0].ev_set().state(1), Some(EvState::Good));
    assert!(h.net_stats.black_holed > 10, "{:?}", h.net_stats);
}
