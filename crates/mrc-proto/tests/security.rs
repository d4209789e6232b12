//! Rejected writes (wrong key, out of bounds, QP not ready, wrong QP), forged SACKs/NACKs,
//! the Write-IMM bound and the QP state machine.
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use common::*;
use mrc_proto::config::{attr_mask, ibv_mask};
use mrc_proto::testing::{NetConfig, PathConfig, mrc_pair_configs};
use mrc_proto::{
    Connection, Duration, Event, Instant, ModifyQpError, MrcQpAttr, PortMask, PostError,
    QpErrorReason, QpState, Received, Transport, WcStatus,
};
use mrc_wire::Psn;
use mrc_wire::mrc::{
    self, Body, NackReason, Opcode, PathMark, TypeNext, bth, cc_state, neth, seth,
};

fn small_attr() -> MrcQpAttr {
    MrcQpAttr {
        timeout: 4, // 16 µs
        retry: mrc_proto::Retry {
            linear_cnt: 2,
            exp_cnt: 2,
        },
        ..MrcQpAttr::default()
    }
}

#[test]
fn wrong_key_is_rejected_counted_and_fails_the_request() {
    let mut h = pair(11, 2, 4, 1, PathConfig::default(), MrcQpAttr::default());
    let (src, dst) = regions(&mut h, 64 << 10, 1);
    let mut w = write(1, src, dst, 0, 16 << 10, None);
    w.rkey ^= 0x5A5A;
    h.ends[0].post_write(w).unwrap();
    h.run_until(Instant::from_nanos(1_000_000), |h| {
        h.ends[0].state() == QpState::Error
    });
    assert_eq!(h.ends[0].state(), QpState::Error);
    assert!(h.stats(1).rejected_bad_key > 0);
    assert_eq!(h.stats(1).bytes_placed, 0);
    assert!(
        h.ends[1]
            .regions()
            .read(dst.addr, dst.len)
            .unwrap()
            .iter()
            .all(|&b| b == 0)
    );
    assert!(h.events[0].contains(&Event::SendComplete {
        wr_id: 1,
        status: WcStatus::RemoteAccessError
    }));
    assert!(h.events[0].contains(&Event::QpError(QpErrorReason::RemoteAccess)));
    assert_eq!(
        h.ends[1].state(),
        QpState::Rts,
        "a bad packet does not kill the responder"
    );
}

#[test]
fn out_of_bounds_write_is_rejected_and_nothing_lands_outside() {
    let mut h = pair(12, 2, 4, 1, PathConfig::default(), MrcQpAttr::default());
    let (src, dst) = regions(&mut h, 64 << 10, 1);
    // Starts inside, ends 4 KB past the region.
    h.ends[0]
        .post_write(write(1, src, dst, 0, 68 << 10, None))
        .unwrap_err();
    let mut w = write(2, src, dst, 0, 32 << 10, None);
    w.remote_addr = dst.addr + dst.len - (16 << 10);
    h.ends[0].post_write(w).unwrap();
    h.run_until(Instant::from_nanos(1_000_000), |h| {
        h.ends[0].state() == QpState::Error
    });
    let s = h.stats(1);
    assert!(s.rejected_out_of_bounds > 0, "{s:?}");
    // The packets that fit were placed (any order), the ones past the end were not.
    assert!(s.bytes_placed <= 16 << 10);
    assert_eq!(h.ends[0].state(), QpState::Error);
}

#[test]
fn writes_to_a_qp_not_in_rts_or_rtr_are_rejected_and_the_requester_gives_up() {
    let (a, b) = mrc_pair_configs(13, 2, 4, 1, PORT_RATE, Duration::from_micros(10));
    let attr = small_attr();
    let ca = Connection::new_rts(a, attr).unwrap();
    let mut cb = Connection::new(b);
    cb.modify_qp(
        QpState::Init,
        ibv_mask::STATE,
        &attr,
        attr_mask::INIT_REQUIRED,
    )
    .unwrap();
    let dst = cb.regions_mut().register(1 << 16);
    let mut h = mrc_proto::testing::Harness::new(
        ca,
        cb,
        NetConfig::uniform(10, 2, PORT_RATE, PathConfig::default()),
    );
    let src = h.ends[0].regions_mut().register(1 << 16);
    assert_eq!(
        h.ends[1].post_write(write(9, dst, src, 0, 10, None)),
        Err(PostError::NotReady(QpState::Init))
    );
    h.ends[0]
        .post_write(write(1, src, dst, 0, 8192, None))
        .unwrap();
    let done = h.run_until(Instant::from_nanos(100_000_000), |h| {
        h.ends[0].state() == QpState::Error
    });
    assert!(done, "requester never gave up");
    assert!(h.stats(1).rejected_not_ready > 0);
    assert_eq!(h.stats(1).bytes_placed, 0);
    assert!(h.events[0].contains(&Event::QpError(QpErrorReason::RetryExceeded)));
    assert!(h.events[0].contains(&Event::SendComplete {
        wr_id: 1,
        status: WcStatus::RetryExceeded
    }));
    // Linear retries at T = 16.4 µs, then 2 exponential (2T, 4T): error at ≈ 10 T, not before.
    let t = h.now.as_nanos();
    assert!((100_000..400_000).contains(&t), "gave up at {t} ns");
}

fn sack(dest_qp: u32, cack: u32, base_off: i16, bitmap: u64) -> mrc::Repr {
    mrc::Repr {
        bth: bth::Repr::new(Opcode::Sack, dest_qp, Psn::new(cack)),
        body: Body::Sack {
            seth: seth::Repr {
                type_next: TypeNext::default(),
                mark: PathMark::None,
                pr: false,
                ack_psn_offset: 0,
                entropy: 0,
                spdcid: 0,
                dpdcid: 0,
                cack_psn: Psn::new(cack),
                cc_type: 0,
                cc_flags: 0,
                mpr: 0,
                sack_offset: base_off,
                sack_bitmap: bitmap,
            },
            cc: cc_state::Repr::default(),
        },
    }
}

#[test]
fn forged_sacks_and_nacks_do_not_corrupt_sender_state() {
    let mut h = pair(14, 2, 4, 1, PathConfig::default(), MrcQpAttr::default());
    let (src, dst) = regions(&mut h, 1 << 20, 4);
    for i in 0..4u64 {
        h.ends[0]
            .post_write(write(i, src, dst, i << 18, 1 << 18, None))
            .unwrap();
    }
    // Let a few packets out, then forge.
    h.run_until(Instant::from_nanos(3_000), |h| {
        h.now >= Instant::from_nanos(3_000)
    });
    let now = h.now;
    let qpn = 0x11;
    // Cumulative ack far beyond anything sent.
    let forged = [
        sack(qpn, 200_000, 1, u64::MAX),
        sack(qpn, 0xFF_FFF0, 1, u64::MAX),
        // Plausible cack (nothing acked) but a bitmap reaching past snd_nxt.
        sack(qpn, 0xFF_FFFF, 1, u64::MAX),
    ];
    for f in forged {
        h.ends[0].handle_packet(now, &Received::new(f, 0, 0, None));
    }
    let nack = mrc::Repr {
        bth: bth::Repr::new(Opcode::Nack, qpn, Psn::new(900_000)),
        body: Body::Nack(neth::Repr {
            type_next: TypeNext::default(),
            reason: NackReason::UnexpEvent,
            vendor_info: 0,
            entropy: 0,
            spdcid: 0,
            dpdcid: 0,
            nack_psn: Psn::new(900_000),
            cc_type: 2,
            cc_flags: 0,
            tx_timestamp: 0,
        }),
    };
    h.ends[0].handle_packet(now, &Received::new(nack, 0, 0, None));
    // Wrong destination QP.
    h.ends[0].handle_packet(now, &Received::new(sack(0x999, 5, 1, 1), 0, 0, None));
    let s = *h.stats(0);
    assert!(s.forged_acks >= 2, "{s:?}");
    assert_eq!(s.stale_nacks, 1);
    assert_eq!(s.rejected_wrong_qp, 1);
    assert_eq!(s.completions, 0, "no completion from forged acks");
    assert_eq!(h.ends[0].state(), QpState::Rts);
    assert!(run_until_complete(&mut h, 4, Duration::from_millis(20)));
    assert!(same_bytes(&h, src, dst));
    // Completions only ever after the real bytes landed: checked by same_bytes at the end and
    // by the order of events.
    let ids: Vec<u64> = h.events[0]
        .iter()
        .filter_map(|e| match e {
            Event::SendComplete { wr_id, .. } => Some(*wr_id),
            _ => None,
        })
        .collect();
    assert_eq!(ids, [0, 1, 2, 3]);
}

#[test]
fn too_many_stashed_write_imm_moves_the_responder_to_error() {
    let (a, b) = mrc_pair_configs(15, 1, 4, 0, PORT_RATE, Duration::from_micros(10));
    let attr = MrcQpAttr {
        max_wimm_dest: 2,
        ..MrcQpAttr::default()
    };
    let mut resp = Connection::new_rts(b, attr).unwrap();
    let _ = a;
    let dst = resp.regions_mut().register(1 << 16);
    let now = Instant::from_nanos(10);
    // PSN 0 never arrives, so Write-IMMs at PSN 1, 2, 3 are stashed: the third exceeds 2.
    for psn in 1..=3u32 {
        let mut b = bth::Repr::new(Opcode::WriteOnlyImm, 0x22, Psn::new(psn));
        b.ack_req = false;
        let repr = mrc::Repr {
            bth: b,
            body: Body::Write(mrc::Write {
                meth: mrc::meth::Repr {
                    rqmsn: psn as u16,
                    msn: psn as u16,
                },
                tseth: None,
                reth: mrc::reth::Repr {
                    va: dst.addr + u64::from(psn) * 64,
                    rkey: dst.rkey,
                    dma_len: 64,
                },
                imm: Some(psn),
                payload_len: 64,
            }),
        };
        resp.handle_packet(now, &Received::new(repr, 0, 0, Some(&[7; 64])));
    }
    assert_eq!(resp.state(), QpState::Error);
    let mut got_err = false;
    while let Some(e) = resp.poll_event() {
        got_err |= e == Event::QpError(QpErrorReason::WimmLimitDest);
        assert!(!matches!(e, Event::RecvImm { .. }), "nothing may complete");
    }
    assert!(got_err);
    assert!(resp.poll_transmit(now, PortMask::ALL).is_none());
}

#[test]
fn qp_state_machine_checks_attributes() {
    let (a, _) = mrc_pair_configs(16, 1, 4, 0, PORT_RATE, Duration::from_micros(10));
    let attr = MrcQpAttr::default();
    let mut c = Connection::new(a);
    assert_eq!(c.state(), QpState::Reset);
    assert!(matches!(
        c.modify_qp(QpState::Rts, ibv_mask::STATE, &attr, u32::MAX),
        Err(ModifyQpError::InvalidTransition { .. })
    ));
    assert_eq!(
        c.modify_qp(
            QpState::Init,
            ibv_mask::STATE,
            &attr,
            attr_mask::EV_PROFILE_ID
        ),
        Err(ModifyQpError::MissingAttribute("MRC_QP_HINT"))
    );
    assert_eq!(
        c.modify_qp(
            QpState::Init,
            ibv_mask::STATE | ibv_mask::TIMEOUT,
            &attr,
            attr_mask::INIT_REQUIRED
        ),
        Err(ModifyQpError::Unsupported("IBV_QP_TIMEOUT"))
    );
    let bad = MrcQpAttr {
        ev_profile_id: 77,
        ..attr
    };
    assert!(matches!(
        c.modify_qp(
            QpState::Init,
            ibv_mask::STATE,
            &bad,
            attr_mask::INIT_REQUIRED
        ),
        Err(ModifyQpError::UnknownProfile { kind: "EV", id: 77 })
    ));
    c.modify_qp(
        QpState::Init,
        ibv_mask::STATE,
        &attr,
        attr_mask::INIT_REQUIRED,
    )
    .unwrap();
    c.modify_qp(
        QpState::Rtr,
        ibv_mask::STATE,
        &attr,
        attr_mask::RTR_REQUIRED,
    )
    .unwrap();
    for (bad, name) in [
        (
            MrcQpAttr {
                timeout: 25,
                ..attr
            },
            "timeout",
        ),
        (
            MrcQpAttr {
                retry: mrc_proto::Retry {
                    linear_cnt: 8,
                    exp_cnt: 0,
                },
                ..attr
            },
            "retry.linear_cnt",
        ),
        (
            MrcQpAttr {
                retry: mrc_proto::Retry {
                    linear_cnt: 7,
                    exp_cnt: 26,
                },
                ..attr
            },
            "retry.exp_cnt",
        ),
        (MrcQpAttr { mpr: 65, ..attr }, "mpr"),
    ] {
        match c.modify_qp(QpState::Rts, ibv_mask::STATE, &bad, attr_mask::RTS_REQUIRED) {
            Err(ModifyQpError::OutOfRange { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name}: {other:?}"),
        }
    }
    c.modify_qp(
        QpState::Rts,
        ibv_mask::STATE,
        &attr,
        attr_mask::RTS_REQUIRED,
    )
    .unwrap();
    assert_eq!(c.state(), QpState::Rts);
    assert_eq!(c.attr().ack_timeout(), Duration::from_nanos(262_144));
    c.modify_qp(QpState::Error, 0, &attr, 0).unwrap();
    assert_eq!(c.state(), QpState::Error);
}

fn port_status(mask: u32) -> mrc::Repr {
    mrc::Repr {
        bth: bth::Repr::new(Opcode::EndpointRequest, mrc::ENDPOINT_QPN, Psn::ZERO),
        body: Body::EndpointRequest(mrc::erth::Repr {
            type_next: TypeNext::default(),
            op: mrc::EndpointOp::PortStatusUpdate,
            vendor_info: 0,
            port_status_mask: mask,
            timestamp: mrc::tseth::Repr::default(),
        }),
    }
}

#[test]
fn a_peer_with_no_port_up_ends_the_request_in_error_not_in_a_hang() {
    let mut h = pair(17, 2, 4, 1, PathConfig::default(), small_attr());
    let (src, dst) = regions(&mut h, 64 << 10, 5);
    // The peer (or anyone writing to the endpoint QPN) reports every port down.
    h.ends[0].handle_packet(Instant::ZERO, &Received::new(port_status(0), 0, 0, None));
    h.ends[0]
        .post_write(write(1, src, dst, 0, 16 << 10, None))
        .unwrap();
    let done = h.run_until(Instant::from_nanos(100_000_000), |h| {
        h.ends[0].state() == QpState::Error
    });
    assert!(done, "requester hangs in {:?}", h.ends[0].state());
    assert!(h.events[0].contains(&Event::SendComplete {
        wr_id: 1,
        status: WcStatus::RetryExceeded
    }));
    assert!(h.events[0].contains(&Event::QpError(QpErrorReason::RetryExceeded)));
    assert_eq!(h.stats(1).bytes_placed, 0);
}

#[test]
fn a_port_coming_back_before_the_retries_run_out_completes_the_request() {
    let mut h = pair(18, 2, 4, 1, PathConfig::default(), small_attr());
    let (src, dst) = regions(&mut h, 16 << 10, 6);
    h.ends[0].handle_packet(Instant::ZERO, &Received::new(port_status(0), 0, 0, None));
    h.ends[0]
        .post_write(write(1, src, dst, 0, 16 << 10, None))
        .unwrap();
    // One QP timeout (T = 16.4 µs) passes with no port, then plane 1 is back.
    h.run_until(Instant::from_nanos(20_000), |_| false);
    assert!(h.stats(0).qp_timeouts >= 1, "{:?}", h.stats(0));
    let now = h.now;
    h.ends[0].handle_packet(now, &Received::new(port_status(0b10), 0, 1, None));
    assert!(run_until_complete(&mut h, 1, Duration::from_millis(20)));
    assert!(same_bytes(&h, src, dst));
    assert_eq!(h.ends[0].state(), QpState::Rts);
}

fn write_only_imm(dst: mrc_proto::RegionHandle, psn: u32, dma_len: u32, len: u32) -> mrc::Repr {
    mrc::Repr {
        bth: bth::Repr::new(Opcode::WriteOnlyImm, 0x22, Psn::new(psn)),
        body: Body::Write(mrc::Write {
            meth: mrc::meth::Repr { rqmsn: 0, msn: 0 },
            tseth: None,
            reth: mrc::reth::Repr {
                va: dst.addr,
                rkey: dst.rkey,
                dma_len,
            },
            imm: Some(0xC0DE),
            payload_len: len,
        }),
    }
}

#[test]
fn a_write_imm_reports_the_bytes_placed_never_the_claimed_dma_length() {
    let (_, b) = mrc_pair_configs(19, 1, 4, 0, PORT_RATE, Duration::from_micros(10));
    let mut resp = Connection::new_rts(b, MrcQpAttr::default()).unwrap();
    let dst = resp.regions_mut().register(1 << 16);
    let now = Instant::from_nanos(10);
    // 64 B placed, RETH claims 1 GiB: refused, nothing placed, nothing completed.
    let lie = write_only_imm(dst, 0, 1 << 30, 64);
    resp.handle_packet(now, &Received::new(lie, 0, 0, Some(&[7; 64])));
    assert_eq!(resp.stats().bytes_placed, 0);
    assert_eq!(resp.stats().rejected_out_of_bounds, 1);
    // The honest one is placed and reports 64.
    let ok = write_only_imm(dst, 0, 64, 64);
    resp.handle_packet(now, &Received::new(ok, 0, 0, Some(&[7; 64])));
    let imms: Vec<Event> = std::iter::from_fn(|| resp.poll_event())
        .filter(|e| matches!(e, Event::RecvImm { .. }))
        .collect();
    assert_eq!(
        imms,
        [Event::RecvImm {
            imm: 0xC0DE,
            len: 64,
            msn: 0
        }]
    );
    assert_eq!(resp.stats().bytes_placed, 64);
    assert_eq!(
        resp.state(),
        QpState::Rts,
        "a bad packet does not kill the responder"
    );
}

#[test]
fn an_unknown_nack_code_for_a_packet_in_flight_errors_the_qp() {
    let (a, _) = mrc_pair_configs(20, 1, 4, 0, PORT_RATE, Duration::from_micros(10));
    let mut req = Connection::new_rts(a, MrcQpAttr::default()).unwrap();
    let src = req.regions_mut().register(4096);
    let now = Instant::from_nanos(10);
    req.post_write(mrc_proto::WriteRequest {
        wr_id: 7,
        local_addr: src.addr,
        len: 1024,
        remote_addr: 0x1000,
        rkey: 1,
        imm: None,
    })
    .unwrap();
    let tx = req.poll_transmit(now, PortMask::ALL).unwrap();
    let psn = tx.repr.bth.psn;
    // A newer peer's fatal code this side does not know: not dropped, not retried blindly.
    let nack = mrc::Repr {
        bth: bth::Repr::new(Opcode::Nack, 0x11, psn),
        body: Body::Nack(neth::Repr {
            type_next: TypeNext::default(),
            reason: NackReason::from_u8(0x30),
            vendor_info: 0,
            entropy: tx.ev,
            spdcid: 0x22,
            dpdcid: 0x11,
            nack_psn: psn,
            cc_type: 2,
            cc_flags: 0,
            tx_timestamp: 0,
        }),
    };
    req.handle_packet(now, &Received::new(nack, tx.ev, 0, None));
    assert_eq!(req.state(), QpState::Error);
    let events: Vec<Event> = std::iter::from_fn(|| req.poll_event()).collect();
    assert!(events.contains(&Event::SendComplete {
        wr_id: 7,
        status: WcStatus::RemoteOperationError
    }));
    assert!(events.contains(&Event::QpError(QpErrorReason::UnknownNack(0x30))));
    assert_eq!(req.stats().unknown_received, 1);
}

#[test]
fn endpoint_requests_and_responses_carry_their_id_in_the_psn() {
    let (a, b) = mrc_pair_configs(21, 2, 4, 0, PORT_RATE, Duration::from_micros(10));
    let mut a = Connection::new_rts(a, MrcQpAttr::default()).unwrap();
    let mut b = Connection::new_rts(b, MrcQpAttr::default()).unwrap();
    let now = Instant::from_nanos(10);
    a.handle_port_status(now, 1, false);
    let req = a.poll_transmit(now, PortMask::ALL).unwrap();
    let Body::EndpointRequest(erth) = req.repr.body else {
        panic!("{:?}", req.repr)
    };
    let id = req.repr.bth.psn.value();
    assert_eq!(id, u32::from(erth.timestamp.tx_timestamp));
    assert_ne!(id, 0);
    b.handle_packet(now, &Received::new(req.repr, req.ev, 0, None));
    let rsp = b.poll_transmit(now, PortMask::ALL).unwrap();
    assert!(matches!(rsp.repr.body, Body::EndpointResponse(_)));
    assert_eq!(rsp.repr.bth.psn.value(), id);
    // An operation this side does not know is counted, not answered.
    let mut unknown = req.repr;
    if let Body::EndpointRequest(r) = &mut unknown.body {
        r.op = mrc::EndpointOp::Other(3);
    }
    b.handle_packet(now, &Received::new(unknown, req.ev, 0, None));
    assert!(b.poll_transmit(now, PortMask::ALL).is_none());
    assert_eq!(b.stats().unknown_received, 1);
}

/// The off-path forger of the trust model (crate docs): it does not see the traffic, so its
/// packets carry a wrong QPN, a PSN outside the window or a wrong key. None may place a byte,
/// complete or fail a request, or stall the QP.
#[test]
fn off_path_forged_writes_neither_place_nor_stall() {
    let mut h = pair(22, 2, 4, 1, PathConfig::default(), MrcQpAttr::default());
    let (src, dst) = regions(&mut h, 256 << 10, 9);
    for i in 0..4u64 {
        h.ends[0]
            .post_write(write(i, src, dst, i << 16, 1 << 16, Some(i as u32)))
            .unwrap();
    }
    let forged = |dest_qp: u32, psn: u32, rkey: u32, off: u64| mrc::Repr {
        bth: bth::Repr::new(Opcode::WriteOnlyImm, dest_qp, Psn::new(psn)),
        body: Body::Write(mrc::Write {
            meth: mrc::meth::Repr { rqmsn: 0, msn: 0 },
            tseth: None,
            reth: mrc::reth::Repr {
                va: dst.addr + off,
                rkey,
                dma_len: 64,
            },
            imm: Some(0xBAD),
            payload_len: 64,
        }),
    };
    let mut t = 0;
    for round in 0..40u32 {
        t += 1_000;
        let at = Instant::from_nanos(t);
        h.run_until(at, |h| h.now >= at);
        let now = h.now;
        let off = u64::from(round) * 4096 % (256 << 10);
        let next = h.ends[0].stats().data_sent as u32;
        for f in [
            forged(0x33, next, dst.rkey, off),             // wrong QPN
            forged(0x22, next + (1 << 23), dst.rkey, off), // PSN half the space away
            forged(0x22, next, dst.rkey ^ 0x0101, off),    // wrong key
        ] {
            // On an EV no path uses, so the NACK a bad key draws cannot match a packet.
            h.ends[1].handle_packet(now, &Received::new(f, 0xFFFF, 0, Some(&[0xEE; 64])));
        }
    }
    assert!(run_until_complete(&mut h, 4, Duration::from_millis(20)));
    assert!(same_bytes(&h, src, dst), "a forged byte landed");
    let s = *h.stats(1);
    assert_eq!(s.rejected_wrong_qp, 40, "{s:?}");
    assert!(
        s.rejected_out_of_window + s.duplicates_received >= 40,
        "{s:?}"
    );
    assert!(s.rejected_bad_key > 0, "{s:?}");
    assert!(
        !h.events[1]
            .iter()
            .any(|e| matches!(e, Event::RecvImm { imm: 0xBAD, .. }))
    );
    assert_eq!(h.ends[0].state(), QpState::Rts);
    assert!(h.events[0].iter().all(|e| !matches!(
        e,
        Event::SendComplete { status, .. } if *status != WcStatus::Success
    )));
}
