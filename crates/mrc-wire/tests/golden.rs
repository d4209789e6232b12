//! Golden bytes: pins every MRC header layout (docs/protocol.md §5.4) byte for byte. The expected
//! bytes were written by hand from the layout tables, not produced by the codec.
#![allow(clippy::unwrap_used, reason = "test code")]

use mrc_wire::Psn;
use mrc_wire::mrc::{
    self, EndpointOp, NackReason, Opcode, PathMark, TypeNext, aeth, bth, cc_state, eeth, erth,
    meth, neth, peth, reth, seth, tseth,
};

/// Emits `repr` through `emit` into a buffer of `len` bytes, compares with `golden`, parses the
/// golden bytes back with `parse` and compares with `repr`.
fn check<R: PartialEq + core::fmt::Debug>(
    repr: R,
    golden: &[u8],
    emit: impl Fn(&R, &mut [u8]) -> mrc_wire::Result<()>,
    parse: impl Fn(&[u8]) -> mrc_wire::Result<R>,
) {
    let mut buf = vec![0xEEu8; golden.len()];
    emit(&repr, &mut buf).unwrap();
    assert_eq!(buf, golden, "emitted bytes differ from the golden layout");
    assert_eq!(parse(golden).unwrap(), repr);
    for cut in 0..golden.len() {
        assert!(
            parse(&golden[..cut]).is_err(),
            "parsed a header cut to {cut} bytes"
        );
    }
}

macro_rules! golden {
    ($m:ident, $repr:expr, $bytes:expr) => {
        check(
            $repr,
            &$bytes,
            |r, b| r.emit(&mut $m::Packet::new_unchecked(b)),
            |b| $m::Repr::parse(&$m::Packet::new_checked(b)?),
        )
    };
}

#[test]
fn bth() {
    let repr = bth::Repr {
        opcode: Opcode::WriteFirst,
        migreq: true,
        solicited: false,
        pad_count: 2,
        tver: 5,
        pkey: 0xFFFF,
        dest_qp: 0x12_3456,
        ack_req: true,
        r_flag: false,
        retransmit: true,
        timestamp: true,
        psn: Psn::new(0xAB_CDEF),
    };
    golden!(
        bth,
        repr,
        [
            0xC6, 0xA5, 0xFF, 0xFF, 0x00, 0x12, 0x34, 0x56, 0xB0, 0xAB, 0xCD, 0xEF
        ]
    );
}

#[test]
fn bth_opcodes() {
    let codes: Vec<u8> = Opcode::ALL.iter().map(|&o| o as u8).collect();
    assert_eq!(
        codes,
        [
            0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xCB, 0xD1, 0xD8, 0xD9, 0xDC, 0xDD, 0xDE
        ]
    );
    for byte in 0..=255u8 {
        assert_eq!(Opcode::from_u8(byte).is_ok(), codes.contains(&byte));
    }
}

#[test]
fn meth() {
    golden!(
        meth,
        meth::Repr {
            rqmsn: 0x0102,
            msn: 0x0304
        },
        [1, 2, 3, 4]
    );
}

#[test]
fn tseth() {
    let repr = tseth::Repr {
        tx_timestamp: 0xBEEF,
        tsr: true,
        ftype: 1,
    };
    golden!(tseth, repr, [0xBE, 0xEF, 0x80, 0x01]);
}

#[test]
fn reth() {
    let repr = reth::Repr {
        va: 0x0011_2233_4455_6677,
        rkey: 0x89AB_CDEF,
        dma_len: 0x1000,
    };
    golden!(
        reth,
        repr,
        [
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x89, 0xAB, 0xCD, 0xEF, 0, 0, 0x10, 0
        ]
    );
}

#[test]
fn aeth() {
    golden!(
        aeth,
        aeth::Repr {
            syndrome: 0x1F,
            msn: 0x102
        },
        [0x1F, 0x00, 0x01, 0x02]
    );
}

#[test]
fn seth() {
    let repr = seth::Repr {
        type_next: TypeNext {
            hdr_type: 0xA,
            next_hdr: 0x15,
        },
        mark: PathMark::SkipOnce,
        pr: true,
        ack_psn_offset: -2,
        entropy: 0x512,
        spdcid: 0x11,
        dpdcid: 0x22,
        cack_psn: Psn::new(0x100),
        cc_type: 3,
        cc_flags: 4,
        mpr: 8,
        sack_offset: 1,
        sack_bitmap: 0x8000_0000_0000_0005,
    };
    assert_eq!(repr.ack_psn(), Psn::new(0xFE));
    assert_eq!(repr.bitmap_base(), Psn::new(0x101));
    golden!(
        seth,
        repr,
        [
            0xAA, 0xA2, 0xFF, 0xFE, 0x00, 0x00, 0x05, 0x12, 0x00, 0x11, 0x00, 0x22, 0x00, 0x00,
            0x01, 0x00, 0x34, 0x08, 0x00, 0x01, 0x80, 0, 0, 0, 0, 0, 0, 0x05
        ]
    );
    // The reserved path mark 3 decodes as Other(3) (the rest of the SACK still counts) and
    // re-emits as it came.
    let mut other = [0u8; seth::LEN];
    other[1] = 0x60;
    let parsed = seth::Repr::parse(&seth::Packet::new_checked(&other[..]).unwrap()).unwrap();
    assert_eq!(parsed.mark, PathMark::Other(3));
    let mut again = [0xEEu8; seth::LEN];
    parsed
        .emit(&mut seth::Packet::new_unchecked(&mut again[..]))
        .unwrap();
    assert_eq!(again, other);
    // A value wider than the 2-bit field is refused on emit.
    let wide = seth::Repr {
        mark: PathMark::Other(4),
        ..parsed
    };
    assert!(
        wide.emit(&mut seth::Packet::new_unchecked(&mut again[..]))
            .is_err()
    );
}

#[test]
fn cc_state() {
    let repr = cc_state::Repr {
        tx_timestamp: 0x1234,
        ooo_count: 0x7FFF,
        r_c: true,
        rcv_cwnd_pen: 5,
        rcvd_bytes: 0x12_3456,
    };
    golden!(
        cc_state,
        repr,
        [0x12, 0x34, 0x7F, 0xFF, 0x85, 0x12, 0x34, 0x56]
    );
}

#[test]
fn neth() {
    let repr = neth::Repr {
        type_next: TypeNext {
            hdr_type: 1,
            next_hdr: 2,
        },
        reason: NackReason::TrimmedLastHop,
        vendor_info: 0x7E,
        entropy: 0xDEAD_BEEF,
        spdcid: 0x0102,
        dpdcid: 0x0304,
        nack_psn: Psn::new(0xFF_FFFF),
        cc_type: 2,
        cc_flags: 0,
        tx_timestamp: 0xCAFE,
    };
    golden!(
        neth,
        repr,
        [
            0x11, 0x00, 0x02, 0x7E, 0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x02, 0x03, 0x04, 0x00, 0xFF,
            0xFF, 0xFF, 0x20, 0x00, 0xCA, 0xFE
        ]
    );
}

#[test]
fn nack_reason_codes() {
    let codes: Vec<u8> = NackReason::ALL.iter().map(|r| r.code()).collect();
    // WIMM_LIMIT is ours, in the vendor range: 0x1A is UET PDS's RCVR_INFER_LOSS.
    assert_eq!(codes, [0x01, 0x02, 0x06, 0x07, 0x0A, 0x0B, 0x19, 0xE0]);
    for byte in 0..=255u8 {
        let r = NackReason::from_u8(byte);
        assert_eq!(r.code(), byte);
        assert_eq!(
            matches!(r, NackReason::Other(_)),
            !codes.contains(&byte),
            "{byte:#x}"
        );
    }
    assert_eq!(NackReason::from_u8(0x1A), NackReason::Other(0x1A));
}

#[test]
fn peth() {
    let repr = peth::Repr {
        type_next: TypeNext {
            hdr_type: 2,
            next_hdr: 3,
        },
        vendor_info: 9,
        probe_id: 0x4242,
        spdcid: 5,
        dpdcid: 6,
        timestamp: tseth::Repr {
            tx_timestamp: 0x0102,
            tsr: false,
            ftype: 1,
        },
    };
    golden!(
        peth,
        repr,
        [
            0x21, 0x80, 0, 0x09, 0x42, 0x42, 0, 0, 0, 5, 0, 6, 0x01, 0x02, 0x00, 0x01
        ]
    );
}

#[test]
fn erth() {
    let repr = erth::Repr {
        type_next: TypeNext::default(),
        op: EndpointOp::EvProbe,
        vendor_info: 0,
        port_status_mask: 0xFE,
        timestamp: tseth::Repr {
            tx_timestamp: 0x0A0B,
            tsr: true,
            ftype: 0,
        },
    };
    golden!(
        erth,
        repr,
        [
            0, 0x01, 0, 0, 0, 0, 0, 0xFE, 0, 0, 0, 0, 0x0A, 0x0B, 0x80, 0x00
        ]
    );
}

#[test]
fn eeth() {
    let repr = eeth::Repr {
        type_next: TypeNext {
            hdr_type: 0xF,
            next_hdr: 0x1F,
        },
        op: EndpointOp::PortStatusUpdate,
        tx_timestamp: 0x7777,
    };
    let mut bytes = [0u8; 36];
    bytes[0] = 0xFF;
    bytes[1] = 0x80;
    bytes[28] = 0x77;
    bytes[29] = 0x77;
    golden!(eeth, repr, bytes);
}

#[test]
fn unknown_endpoint_ops_decode_as_other() {
    let mut erth_bytes = [0u8; erth::LEN];
    erth_bytes[1] = 0x03;
    let r = erth::Repr::parse(&erth::Packet::new_checked(&erth_bytes[..]).unwrap()).unwrap();
    assert_eq!(r.op, EndpointOp::Other(3));
    let mut eeth_bytes = [0u8; eeth::LEN];
    eeth_bytes[1] = 0x20;
    let r = eeth::Repr::parse(&eeth::Packet::new_checked(&eeth_bytes[..]).unwrap()).unwrap();
    assert_eq!(r.op, EndpointOp::Other(2));
    let mut again = [0xEEu8; eeth::LEN];
    r.emit(&mut eeth::Packet::new_unchecked(&mut again[..]))
        .unwrap();
    assert_eq!(again, eeth_bytes);
}

#[test]
fn whole_write_only_imm_packet() {
    let mut bth = bth::Repr::new(Opcode::WriteOnlyImm, 0x000102, Psn::new(7));
    bth.ack_req = true;
    let repr = mrc::Repr {
        bth,
        body: mrc::Body::Write(mrc::Write {
            meth: meth::Repr { rqmsn: 1, msn: 2 },
            tseth: None,
            reth: reth::Repr {
                va: 0x1000,
                rkey: 0x55,
                dma_len: 2,
            },
            imm: Some(0xA1B2_C3D4),
            payload_len: 2,
        }),
    };
    let golden = [
        0xCB, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x01, 0x02, 0x80, 0x00, 0x00, 0x07, // BTH
        0x00, 0x01, 0x00, 0x02, // METH
        0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0x55, 0, 0, 0, 2, // RETH
        0xA1, 0xB2, 0xC3, 0xD4, // ImmDt
        0xAB, 0xCD, // payload
        0, 0, 0, 0, // ICRC
    ];
    assert_eq!(repr.to_bytes(&[0xAB, 0xCD]).unwrap(), golden);
    let (parsed, payload) = mrc::Repr::parse_bytes(&golden).unwrap();
    assert_eq!(parsed, repr);
    assert_eq!(payload, [0xAB, 0xCD]);
}

#[test]
fn control_packets_with_trailing_bytes_are_refused() {
    let bth = bth::Repr::new(Opcode::Ack, 1, Psn::new(1));
    let repr = mrc::Repr {
        bth,
        body: mrc::Body::Ack(aeth::Repr::default()),
    };
    let mut bytes = repr.to_bytes(&[]).unwrap();
    assert_eq!(bytes.len(), 12 + 4 + 4);
    bytes.push(0);
    assert_eq!(
        mrc::Repr::parse_bytes(&bytes),
        Err(mrc_wire::Error::BadLength)
    );
}

/// The SRH Linux writes for `encap seg6 mode encap.red segs fc00::1,fc00::2`: the first SID is
/// only in the outer destination address, the list holds the second, Segments Left = 1 = Last
/// Entry + 1 (RFC 8754 §4.3.1.1).
#[test]
fn reduced_srh_from_linux_encap_red() {
    use mrc_wire::srh;
    let sid2: core::net::Ipv6Addr = "fc00::2".parse().unwrap();
    let mut golden = vec![
        41, // next header: IPv6 (encapsulated packet)
        2,  // hdr ext len: one segment
        4,  // routing type
        1,  // segments left
        0,  // last entry
        0, 0, 0, // flags, tag
    ];
    golden.extend_from_slice(&sid2.octets());
    let repr = srh::Repr::new(41, &[sid2], 1).unwrap();
    assert!(repr.is_reduced());
    assert_eq!(repr.final_destination(), sid2);
    check(
        repr,
        &golden,
        |r, b| r.emit(b),
        |b| srh::Repr::parse(&srh::Packet::new_checked(b)?),
    );
    // One further is not a segment list any more.
    golden[3] = 2;
    assert_eq!(
        srh::Packet::new_checked(&golden[..]).err(),
        Some(mrc_wire::Error::BadLength)
    );
    assert_eq!(
        srh::Repr::new(41, &[sid2], 2).err(),
        Some(mrc_wire::Error::BadValue)
    );
}

/// `mrc decode` prints through `Display`: unknown codes show their value, endpoint packets
/// their request id (PSN[15:0]).
#[test]
fn display_names_unknown_codes_and_endpoint_ids() {
    let nack = mrc::Repr {
        bth: bth::Repr::new(Opcode::Nack, 0x11, Psn::new(5)),
        body: mrc::Body::Nack(neth::Repr {
            type_next: TypeNext::default(),
            reason: NackReason::from_u8(0x30),
            vendor_info: 0,
            entropy: 1,
            spdcid: 0,
            dpdcid: 0,
            nack_psn: Psn::new(5),
            cc_type: 2,
            cc_flags: 0,
            tx_timestamp: 0,
        }),
    };
    assert!(nack.to_string().contains("reason=UNKNOWN(0x30)"), "{nack}");
    let rsp = mrc::Repr {
        bth: bth::Repr::new(
            Opcode::EndpointResponse,
            mrc::ENDPOINT_QPN,
            Psn::new(0x01_0042),
        ),
        body: mrc::Body::EndpointResponse(eeth::Repr {
            type_next: TypeNext::default(),
            op: EndpointOp::PortStatusUpdate,
            tx_timestamp: 0x42,
        }),
    };
    assert!(
        rsp.to_string().contains("id=66 op=PortStatusUpdate"),
        "{rsp}"
    );
}
