//! Unit tests of the connection internals.

#![allow(clippy::unwrap_used, reason = "test code")]
use super::*;
use crate::QpHint;
use crate::testing::{NetConfig, PathConfig, mrc_harness, mrc_pair_configs};
use mrc_wire::mrc::{NackReason, PathMark};

/// Offers a QP with 3 of plane 1's 4 EVs denied plane 1's port three times for each time
/// plane 0's (as at full load, where the healthy port is busy whenever plane 1's is free)
/// until its window is full; payload bytes sent per plane. `congested`: an ECN echo came
/// back for plane 1 just now.
fn offered_gaps(congested: bool) -> ([u64; 2], u64) {
    let rate = 100_000_000_000;
    let (a, b) = mrc_pair_configs(3, 2, 4, 0, rate, Duration::from_micros(200));
    let net = NetConfig::uniform(8, 2, rate, PathConfig::default());
    let mut h = mrc_harness(a, b, MrcQpAttr::default(), net);
    let c = &mut h.ends[0];
    let src = c.regions_mut().register(16 << 20);
    c.post_write(WriteRequest {
        wr_id: 0,
        local_addr: src.addr,
        len: 16 << 20,
        remote_addr: 0,
        rkey: 0,
        imm: None,
    })
    .unwrap();
    let plane1: Vec<u32> = (0..64).filter(|&e| c.ev.plane_of(e) == Some(1)).collect();
    for &ev in &plane1[..3] {
        assert!(c.deny_ev(ev));
    }
    let now = Instant::from_nanos(1_000);
    if congested {
        c.req.plane_ecn_at[1] = now;
    }
    let mut sent = [0u64; 2];
    'rounds: loop {
        for ready in [0b10, 0b10, 0b10, 0b01] {
            match c.poll_transmit(now, PortMask(ready)) {
                Some(t) => sent[usize::from(t.port)] += t.payload.map_or(0, |p| u64::from(p.len)),
                None if ready == 0b01 => break 'rounds, // the window is full
                None => {}
            }
        }
    }
    (sent, u64::from(c.cfg.mtu))
}

/// QPs that send in step (all started on the same plane) leave it for planes spread at
/// random after a last-hop trim; other NACKs keep the rotation.
#[test]
fn a_last_hop_trim_restarts_the_plane_rotation_at_random() {
    let next_plane = |qpn: u32, reason: NackReason| {
        let rate = 100_000_000_000;
        let (mut a, mut b) = mrc_pair_configs(3, 8, 4, 0, rate, Duration::from_micros(10));
        a.qpn = qpn;
        b.remote_qpn = qpn;
        let net = NetConfig::uniform(32, 8, rate, PathConfig::default());
        let mut h = mrc_harness(a, b, MrcQpAttr::default(), net);
        let src = h.ends[0].regions_mut().register(1 << 20);
        h.ends[0]
            .post_write(WriteRequest {
                wr_id: 0,
                local_addr: src.addr,
                len: 4096,
                remote_addr: 0,
                rkey: 0,
                imm: None,
            })
            .unwrap();
        let now = Instant::from_nanos(1_000);
        let t = h.ends[0].poll_transmit(now, PortMask::ALL).unwrap();
        assert_eq!(t.port, 0, "every QP starts on plane 0");
        let nack = h.ends[1].nack_repr(t.repr.bth.psn, t.ev, reason);
        let later = now + Duration::from_micros(5);
        h.ends[0].handle_packet(later, &Received::new(nack, t.ev, 0, None));
        h.ends[0].poll_transmit(later, PortMask::ALL).unwrap().port
    };
    let planes = |reason| -> std::collections::BTreeSet<u8> {
        (0..64).map(|q| next_plane(0x100 + q, reason)).collect()
    };
    assert_eq!(planes(NackReason::Trimmed).len(), 1);
    assert!(planes(NackReason::TrimmedLastHop).len() >= 6);
}

/// A 2-plane pair at 100 Gb/s a plane, 10 µs base RTT, in RTS.
fn two_plane_pair() -> crate::testing::Harness<Connection> {
    let rate = 100_000_000_000;
    let (a, b) = mrc_pair_configs(3, 2, 4, 0, rate, Duration::from_micros(10));
    let net = NetConfig::uniform(8, 2, rate, PathConfig::default());
    mrc_harness(a, b, MrcQpAttr::default(), net)
}

/// A trim NACK leaves before SACKs queued ahead of it (they are rebuilt when they leave;
/// the NACK is what keeps a trimmed packet from being judged lost).
#[test]
fn a_nack_overtakes_queued_sacks() {
    let mut h = two_plane_pair();
    let r = &mut h.ends[1];
    for i in 0..3 {
        let psn = Psn::new(i);
        r.push_ctrl(Ctrl::Sack(SackTrigger {
            psn,
            cover: psn,
            ev: i,
            plane: 0,
            mark: PathMark::SkipOnce,
            pr: false,
        }));
    }
    let nack = |psn| Ctrl::Nack {
        psn: Psn::new(psn),
        ev: 1,
        plane: 0,
        reason: NackReason::Trimmed,
    };
    r.push_ctrl(nack(7));
    r.push_ctrl(nack(8));
    let order: Vec<bool> = r
        .rsp
        .ctrl
        .iter()
        .map(|c| matches!(c, Ctrl::Nack { .. }))
        .collect();
    assert_eq!(order, [true, true, false, false, false]);
    let first = r
        .poll_transmit(Instant::from_nanos(1), PortMask::ALL)
        .unwrap();
    assert!(matches!(first.repr.body, Body::Nack(ref n) if n.nack_psn == Psn::new(7)));
}

/// A hole behind a lost packet fills the tracking window, which is loss, not host
/// backpressure: no penalty by default; the out-of-order rule only when asked for.
#[test]
fn out_of_order_occupancy_is_no_penalty_unless_configured() {
    let mut h = two_plane_pair();
    let r = &mut h.ends[1];
    assert!(r.rsp.rcv_window > 0);
    r.rsp.ooo = r.rsp.rcv_window * 3 / 4;
    assert_eq!(r.penalty(), 0);
    r.cfg.penalty_start = Some(0.5);
    assert_eq!(r.penalty(), 63);
}

/// Congested: the degraded plane keeps to a quarter of plane 0's bytes (plus the rule's
/// slack of 4 packets and the packet that crosses it), even though only its port is
/// ready most of the time.
#[test]
fn a_congested_degraded_plane_keeps_its_share_when_only_its_port_is_ready() {
    let (sent, mtu) = offered_gaps(true);
    assert!(
        sent[0] > 100 * mtu,
        "the window must allow many packets: {sent:?}"
    );
    assert!(sent[1] <= sent[0] / 4 + 5 * mtu, "{sent:?}");
}

/// Not congested: its remaining paths have room, so it takes the gaps the busy healthy
/// port leaves (3 packets for each of plane 0's).
#[test]
fn an_uncongested_degraded_plane_takes_the_gaps() {
    let (sent, _) = offered_gaps(false);
    assert!(sent[1] >= 2 * sent[0], "{sent:?}");
}

/// Send times of a QP's data packets and its window at each, writing 8 packets with `hint`
/// on a 2-plane pair (200 Gb/s, 10 µs base RTT).
fn data_sends(hint: QpHint) -> Vec<(Instant, u64)> {
    let rate = 100_000_000_000;
    let (a, b) = mrc_pair_configs(3, 2, 4, 0, rate, Duration::from_micros(10));
    let net = NetConfig::uniform(8, 2, rate, PathConfig::default());
    let attr = MrcQpAttr {
        hint: Some(hint),
        ..MrcQpAttr::default()
    };
    let mut h = mrc_harness(a, b, attr, net);
    let src = h.ends[0].regions_mut().register_virtual(1 << 20);
    let dst = h.ends[1].regions_mut().register_virtual(1 << 20);
    let wr = WriteRequest {
        wr_id: 0,
        local_addr: src.addr,
        len: 8 * 4096,
        remote_addr: dst.addr,
        rkey: dst.rkey,
        imm: None,
    };
    h.ends[0].post_write(wr).unwrap();
    let mut sends = Vec::new();
    while h.completions[0] == 0 && h.now < Instant::from_nanos(100_000_000) && h.step() {
        let sent = h.stats(0).data_sent as usize;
        if sent > sends.len() {
            sends.push((h.now, h.ends[0].cwnd()));
        }
    }
    assert_eq!(h.completions[0], 1, "the write completes: {sends:?}");
    sends
}

/// The hint of a 1,023 → 1 incast puts the window below one packet (BDP / 1,023 ≈ 244 B):
/// the QP paces, each packet at least base RTT × 4 KB / window after the one before. Told
/// its own NIC writes to as many destinations, the same QP keeps the one-packet floor.
#[test]
fn a_window_below_one_packet_paces_the_qp() {
    let incast = |send| QpHint {
        num_remote_recv_peers: 1023,
        num_send_peers: send,
        ..QpHint::default()
    };
    let paced = data_sends(incast(1));
    let gap = |cwnd: u64| 10_000 * 4096 / cwnd;
    let share = paced[0].1;
    assert!(share < 4096 / 8, "initial window {share}");
    // The first gap is drawn within the share's period, so QPs that start together
    // spread out; every later one is at least the period of the window it left with.
    let first = paced[1].0.saturating_since(paced[0].0).as_nanos();
    assert!(first > 0 && first <= gap(share), "{paced:?}");
    for w in paced[1..].windows(2) {
        let ((t0, _), (t1, cwnd)) = (w[0], w[1]);
        if cwnd < 4096 {
            assert!(
                t1.saturating_since(t0).as_nanos() + 1 >= gap(cwnd),
                "{paced:?}"
            );
        }
    }
    let floor = data_sends(incast(1023));
    assert!(floor.iter().all(|&(_, w)| w >= 4096), "{floor:?}");
    let span = |s: &[(Instant, u64)]| s[s.len() - 1].0.saturating_since(s[0].0);
    assert!(span(&paced) > span(&floor), "{paced:?} {floor:?}");
}

/// A custom CC factory builds each QP's controller, and builds it again at INIT with the
/// QP hint.
#[test]
fn a_custom_cc_factory_builds_the_controller() {
    use crate::cc::{CcFactory, CongestionControl, FixedWindow};
    #[derive(Debug)]
    struct PeersWindow;
    impl CcFactory for PeersWindow {
        fn build(&self, hint: Option<&QpHint>) -> Box<dyn CongestionControl> {
            Box::new(FixedWindow(
                hint.map_or(1, |h| u64::from(h.num_remote_recv_peers)),
            ))
        }
    }
    let (mut cfg, _) = mrc_pair_configs(3, 2, 4, 0, 100_000_000_000, Duration::from_micros(10));
    cfg.cc_profile.algorithm = crate::CcAlgorithm::Custom(std::sync::Arc::new(PeersWindow));
    assert_eq!(Connection::new(cfg.clone()).cwnd(), 1);
    let attr = MrcQpAttr {
        hint: Some(QpHint {
            num_remote_recv_peers: 7,
            ..QpHint::default()
        }),
        ..MrcQpAttr::default()
    };
    assert_eq!(Connection::new_rts(cfg, attr).unwrap().cwnd(), 7);
}
