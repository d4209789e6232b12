//! RoCEv2 RC baseline: exact delivery with go-back-N, a dead path kills the QP after the retry
//! budget, DCQCN cuts and restores the rate, and MRC beats it under loss.
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use common::{PORT_RATE, pair, regions, run_until_complete, same_bytes, write};
use mrc_proto::roce::{Connection as Roce, Recovery, RoceConfig};
use mrc_proto::testing::{Harness, NetConfig, PathConfig};
use mrc_proto::{Duration, Event, Instant, MrcQpAttr, QpErrorReason, QpState, Transport, WcStatus};

fn roce_pair(seed: u64, path: PathConfig, timeout: u8) -> Harness<Roce> {
    roce_pair_with(seed, path, timeout, Recovery::GoBackN)
}

fn roce_pair_with(seed: u64, path: PathConfig, timeout: u8, recovery: Recovery) -> Harness<Roce> {
    let mut a = RoceConfig::new(0x11, 0x22, 0, 0, seed);
    let mut b = RoceConfig::new(0x22, 0x11, 0, 0, seed ^ 1);
    for c in [&mut a, &mut b] {
        c.timeout = timeout;
        c.recovery = recovery;
    }
    let mut net = NetConfig::uniform(1, 1, PORT_RATE, path);
    net.seed = seed;
    Harness::new(Roce::new(a), Roce::new(b), net)
}

fn fill(h: &mut Harness<Roce>, len: u64) -> (mrc_proto::RegionHandle, mrc_proto::RegionHandle) {
    let src = h.ends[0].regions_mut().register(len);
    let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
    h.ends[0].regions_mut().write_local(src.addr, &bytes);
    let dst = h.ends[1].regions_mut().register(len);
    (src, dst)
}

fn roce_same(
    h: &Harness<Roce>,
    src: mrc_proto::RegionHandle,
    dst: mrc_proto::RegionHandle,
) -> bool {
    h.ends[0].regions().read(src.addr, src.len) == h.ends[1].regions().read(dst.addr, dst.len)
}

#[test]
fn roce_delivers_exactly_with_go_back_n_under_loss_and_reordering() {
    let path = PathConfig {
        loss: 0.002,
        reorder: 0.01,
        ..PathConfig::default()
    };
    let mut h = roce_pair(31, path, 4);
    let (src, dst) = fill(&mut h, 2 << 20);
    for i in 0..4u64 {
        h.ends[0]
            .post_write(write(i, src, dst, i << 19, 1 << 19, (i == 3).then_some(9)))
            .unwrap();
    }
    let done = h.run_until(Instant::ZERO + Duration::from_millis(500), |h| {
        h.completions[0] == 4
    });
    assert!(done, "{:?}", h.stats(0));
    assert!(roce_same(&h, src, dst));
    assert!(h.stats(0).data_retransmitted > 0);
    assert!(h.events[1].contains(&Event::RecvImm {
        imm: 9,
        len: 1 << 19,
        msn: 3
    }));
}

#[test]
fn selective_repeat_resends_only_what_was_lost() {
    let path = PathConfig {
        loss: 0.002,
        reorder: 0.01,
        ..PathConfig::default()
    };
    let mut resent = Vec::new();
    for recovery in [Recovery::GoBackN, Recovery::Selective] {
        let mut h = roce_pair_with(33, path.clone(), 4, recovery);
        let (src, dst) = fill(&mut h, 4 << 20);
        for i in 0..4u64 {
            h.ends[0]
                .post_write(write(i, src, dst, i << 20, 1 << 20, Some(i as u32)))
                .unwrap();
        }
        let done = h.run_until(Instant::ZERO + Duration::from_millis(500), |h| {
            h.completions[0] == 4
        });
        assert!(done, "{recovery:?}: {:?}", h.stats(0));
        assert!(roce_same(&h, src, dst), "{recovery:?}");
        // Immediates complete in order, once each.
        let imms: Vec<u32> = h.events[1]
            .iter()
            .filter_map(|e| match e {
                Event::RecvImm { imm, .. } => Some(*imm),
                _ => None,
            })
            .collect();
        assert_eq!(imms, [0, 1, 2, 3], "{recovery:?}");
        resent.push(h.stats(0).data_retransmitted);
    }
    let (gbn, sr) = (resent[0], resent[1]);
    assert!(sr > 0 && sr * 5 < gbn, "go-back-N {gbn}, selective {sr}");
}

#[test]
fn roce_dead_path_stalls_until_the_retry_budget_then_errors() {
    let mut h = roce_pair(32, PathConfig::default(), 4); // T = 65.5 µs
    let (src, dst) = fill(&mut h, 1 << 20);
    h.ends[0]
        .post_write(write(1, src, dst, 0, 1 << 20, None))
        .unwrap();
    let t = Instant::from_nanos(20_000);
    h.run_until(t, |h| h.now >= t);
    h.net.paths[0].black_hole = true;
    // Packets already on the wire still land; after that nothing does.
    let t1 = t + Duration::from_micros(30);
    h.run_until(t1, |h| h.now >= t1);
    let placed = h.stats(1).bytes_placed;
    let errored = h.run_until(t + Duration::from_secs(1), |h| {
        h.ends[0].state() == QpState::Error
    });
    assert!(errored);
    assert_eq!(
        h.stats(1).bytes_placed,
        placed,
        "nothing got through the dead path"
    );
    assert_eq!(
        h.stats(0).qp_timeouts,
        8,
        "7 retries, the 8th timeout kills the QP"
    );
    let took = h.now.saturating_since(t);
    assert!(took >= Duration::from_micros(8 * 65), "{took:?}");
    assert!(h.events[0].contains(&Event::QpError(QpErrorReason::RetryExceeded)));
    assert!(h.events[0].contains(&Event::SendComplete {
        wr_id: 1,
        status: WcStatus::RetryExceeded
    }));
}

#[test]
fn dcqcn_cuts_on_cnp_and_recovers() {
    let path = PathConfig {
        ecn: 1.0,
        ..PathConfig::default()
    };
    let mut h = roce_pair(33, path, 14);
    h.net.carry_payload = false;
    let src = h.ends[0].regions_mut().register_virtual(64 << 20);
    let dst = h.ends[1].regions_mut().register_virtual(64 << 20);
    for i in 0..64u64 {
        h.ends[0]
            .post_write(write(i, src, dst, i << 20, 1 << 20, None))
            .unwrap();
    }
    let t = Instant::from_nanos(300_000);
    h.run_until(t, |h| h.now >= t);
    let cut = h.ends[0].rate_bps();
    assert!(cut < PORT_RATE / 2, "rate after CNPs {cut}");
    assert!(h.stats(0).ecn_echoes > 2);
    h.net.paths[0].ecn = 0.0;
    let t2 = t + Duration::from_millis(3);
    h.run_until(t2, |h| h.now >= t2);
    let back = h.ends[0].rate_bps();
    assert!(back > cut * 2, "rate {cut} -> {back}");
}

#[test]
fn mrc_finishes_well_ahead_of_one_roce_qp_at_one_percent_loss() {
    let path = PathConfig {
        loss: 0.01,
        ..PathConfig::default()
    };
    // MRC: one QP over 4 planes × 8 EVs; RoCE: one QP on one 100G path (its best case).
    let mut m = pair(34, 4, 8, 2, path.clone(), MrcQpAttr::default());
    let (src, dst) = regions(&mut m, 4 << 20, 1);
    m.ends[0]
        .post_write(write(1, src, dst, 0, 4 << 20, None))
        .unwrap();
    assert!(run_until_complete(&mut m, 1, Duration::from_millis(500)));
    assert!(same_bytes(&m, src, dst));
    let t_mrc = m.now;

    let mut r = roce_pair(34, path, 4);
    let (src, dst) = fill(&mut r, 4 << 20);
    r.ends[0]
        .post_write(write(1, src, dst, 0, 4 << 20, None))
        .unwrap();
    assert!(
        r.run_until(Instant::ZERO + Duration::from_secs(2), |h| h.completions[0]
            == 1)
    );
    assert!(roce_same(&r, src, dst));
    let t_roce = r.now;
    eprintln!("4 MB at 1% loss: MRC {t_mrc:?}, RoCE {t_roce:?}");
    // MRC sprays over 4 × 100G, RoCE is held to its one 100G path: ≥ 2× even before loss
    // recovery differences.
    assert!(t_roce.as_nanos() > 2 * t_mrc.as_nanos());
}

#[test]
fn roce_psn_wraparound_is_exact() {
    let mut a = RoceConfig::new(0x11, 0x22, 0, 0, 35);
    let mut b = RoceConfig::new(0x22, 0x11, 0, 0, 36);
    for c in [&mut a, &mut b] {
        c.initial_psn = (1 << 24) - 100;
        c.timeout = 4;
    }
    let path = PathConfig {
        loss: 0.005,
        ..PathConfig::default()
    };
    let mut h = Harness::new(
        Roce::new(a),
        Roce::new(b),
        NetConfig::uniform(1, 1, PORT_RATE, path),
    );
    let (src, dst) = fill(&mut h, 2 << 20);
    h.ends[0]
        .post_write(write(1, src, dst, 0, 2 << 20, None))
        .unwrap();
    assert!(
        h.run_until(Instant::ZERO + Duration::from_secs(1), |h| h.completions[0]
            == 1)
    );
    assert!(roce_same(&h, src, dst));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Random loss, duplication and reordering: RoCE still delivers exactly, in order, with
        /// either recovery.
        #[test]
        fn roce_random_faults_exact(
            seed in any::<u64>(),
            loss in 0.0..0.02f64,
            dup in 0.0..0.02f64,
            reorder in 0.0..0.05f64,
            writes in proptest::collection::vec((0u64..(1 << 19), 0u32..100_000, any::<bool>()), 1..6),
            selective in any::<bool>(),
        ) {
            let path = PathConfig { loss, dup, reorder, ..PathConfig::default() };
            let recovery = if selective { Recovery::Selective } else { Recovery::GoBackN };
            let mut h = roce_pair_with(seed, path, 4, recovery);
            let (src, dst) = fill(&mut h, 1 << 20);
            let n = writes.len() as u64;
            for (i, &(off, len, imm)) in writes.iter().enumerate() {
                h.ends[0].post_write(write(i as u64, src, dst, off, len, imm.then_some(i as u32))).unwrap();
            }
            let done = h.run_until(Instant::ZERO + Duration::from_secs(1), |h| h.completions[0] == n);
            prop_assert!(done, "{:?}", h.stats(0));
            prop_assert_eq!(h.ends[0].state(), QpState::Rts);
            let ids: Vec<u64> = h.events[0].iter().filter_map(|e| match e {
                Event::SendComplete { wr_id, .. } => Some(*wr_id),
                _ => None,
            }).collect();
            prop_assert_eq!(ids, (0..n).collect::<Vec<_>>());
            for &(off, len, _) in &writes {
                let a = h.ends[0].regions().read(src.addr + off, u64::from(len));
                let b = h.ends[1].regions().read(dst.addr + off, u64::from(len));
                prop_assert!(a.is_some() && a == b, "bytes differ at {off}+{len}");
            }
        }
    }
}

#[test]
fn roce_packets_map_to_rc_opcodes_and_cnp_on_the_wire() {
    use mrc_proto::roce::rc_repr;
    use mrc_proto::{PortMask, Received};
    use mrc_wire::rc::Opcode;
    let mut a = Roce::new(RoceConfig::new(0x11, 0x22, 0, 0, 1));
    let mut b = Roce::new(RoceConfig::new(0x22, 0x11, 0, 0, 2));
    let src = a.regions_mut().register(3 * 4096);
    let dst = b.regions_mut().register(3 * 4096);
    a.post_write(write(1, src, dst, 0, 3 * 4096, Some(5)))
        .unwrap();
    let now = Instant::ZERO;
    // Paced at line rate: one packet per poll a microsecond apart.
    let data: Vec<_> = (0..3)
        .map(|k| {
            a.poll_transmit(Instant::from_nanos(k * 1_000), PortMask::ALL)
                .unwrap()
        })
        .collect();
    let ops: Vec<_> = data
        .iter()
        .map(|t| {
            let rc = rc_repr(&t.repr).unwrap();
            (rc.opcode, rc.reth.is_some(), rc.imm, rc.payload_len)
        })
        .collect();
    assert_eq!(
        ops,
        [
            (Opcode::WriteFirst, true, None, 4096),
            (Opcode::WriteMiddle, false, None, 4096),
            (Opcode::WriteLastImm, false, Some(5), 4096),
        ]
    );
    // The first packet arrives CE-marked: the responder sends a CNP, then the ACK.
    for (i, t) in data.iter().enumerate() {
        let mut r = Received::new(t.repr, t.ev, t.port, None);
        r.ecn_ce = i == 0;
        b.handle_packet(now, &r);
    }
    let ctrl: Vec<_> = std::iter::from_fn(|| b.poll_transmit(now, PortMask::ALL))
        .map(|t| rc_repr(&t.repr).unwrap())
        .collect();
    assert_eq!(ctrl.len(), 2, "{ctrl:?}");
    assert_eq!(
        (ctrl[0].opcode, ctrl[0].becn, ctrl[0].dest_qp),
        (Opcode::Cnp, true, 0x11)
    );
    assert_eq!(ctrl[1].opcode, Opcode::Acknowledge);
    assert_eq!(ctrl[1].aeth.unwrap().syndrome, 0x00);
    assert_eq!(ctrl[1].psn, data[2].repr.bth.psn);
}
