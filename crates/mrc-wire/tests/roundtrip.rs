//! Property tests: every `Repr` survives `emit` → bytes → `parse`, for each header and for whole
//! datagrams; arbitrary bytes never make a decoder panic.
#![allow(clippy::unwrap_used, reason = "test code")]

use core::net::Ipv6Addr;

use mrc_wire::mrc::{
    self, Body, EndpointOp, NackReason, Opcode, PathMark, TypeNext, aeth, bth, cc_state, eeth,
    erth, meth, neth, peth, reth, seth, tseth,
};
use mrc_wire::{Psn, ipv6, srh, stack, udp};
use proptest::prelude::*;

fn psn() -> impl Strategy<Value = Psn> {
    (0u32..1 << 24).prop_map(Psn::new)
}

fn type_next() -> impl Strategy<Value = TypeNext> {
    (0u8..16, 0u8..32).prop_map(|(hdr_type, next_hdr)| TypeNext { hdr_type, next_hdr })
}

fn bth_for(opcode: Opcode) -> impl Strategy<Value = bth::Repr> {
    (
        any::<[bool; 6]>(),
        0u8..4,
        0u8..16,
        any::<u16>(),
        0u32..1 << 24,
        psn(),
    )
        .prop_map(move |(f, pad_count, tver, pkey, dest_qp, psn)| bth::Repr {
            opcode,
            migreq: f[0],
            solicited: f[1],
            pad_count,
            tver,
            pkey,
            dest_qp,
            ack_req: f[2],
            r_flag: f[3],
            retransmit: f[4],
            timestamp: f[5],
            psn,
        })
}

fn mark() -> impl Strategy<Value = PathMark> {
    prop_oneof![
        Just(PathMark::None),
        Just(PathMark::SkipOnce),
        Just(PathMark::AlwaysSkip),
        Just(PathMark::Other(3))
    ]
}

fn endpoint_op() -> impl Strategy<Value = EndpointOp> {
    prop_oneof![
        Just(EndpointOp::PortStatusUpdate),
        Just(EndpointOp::EvProbe),
        (2u8..4).prop_map(EndpointOp::Other)
    ]
}

fn tseth() -> impl Strategy<Value = tseth::Repr> {
    (any::<u16>(), any::<bool>(), 0u8..16).prop_map(|(tx_timestamp, tsr, ftype)| tseth::Repr {
        tx_timestamp,
        tsr,
        ftype,
    })
}

fn seth() -> impl Strategy<Value = seth::Repr> {
    (
        type_next(),
        mark(),
        any::<bool>(),
        any::<(i16, u32, u16, u16)>(),
        psn(),
        (0u8..16, 0u8..16, any::<u8>(), any::<i16>(), any::<u64>()),
    )
        .prop_map(
            |(type_next, mark, pr, (ack_off, entropy, spdcid, dpdcid), cack_psn, c)| seth::Repr {
                type_next,
                mark,
                pr,
                ack_psn_offset: ack_off,
                entropy,
                spdcid,
                dpdcid,
                cack_psn,
                cc_type: c.0,
                cc_flags: c.1,
                mpr: c.2,
                sack_offset: c.3,
                sack_bitmap: c.4,
            },
        )
}

fn cc_state() -> impl Strategy<Value = cc_state::Repr> {
    (
        any::<u16>(),
        0u16..1 << 15,
        any::<bool>(),
        0u8..128,
        0u32..1 << 24,
    )
        .prop_map(
            |(tx_timestamp, ooo_count, r_c, rcv_cwnd_pen, rcvd_bytes)| cc_state::Repr {
                tx_timestamp,
                ooo_count,
                r_c,
                rcv_cwnd_pen,
                rcvd_bytes,
            },
        )
}

fn neth() -> impl Strategy<Value = neth::Repr> {
    (
        type_next(),
        any::<u8>().prop_map(NackReason::from_u8),
        any::<(u8, u32, u16, u16, u16)>(),
        psn(),
        (0u8..16, 0u8..16),
    )
        .prop_map(
            |(type_next, reason, (vendor_info, entropy, spdcid, dpdcid, ts), nack_psn, c)| {
                neth::Repr {
                    type_next,
                    reason,
                    vendor_info,
                    entropy,
                    spdcid,
                    dpdcid,
                    nack_psn,
                    cc_type: c.0,
                    cc_flags: c.1,
                    tx_timestamp: ts,
                }
            },
        )
}

fn peth() -> impl Strategy<Value = peth::Repr> {
    (type_next(), any::<(u8, u16, u16, u16)>(), tseth()).prop_map(|(type_next, f, timestamp)| {
        peth::Repr {
            type_next,
            vendor_info: f.0,
            probe_id: f.1,
            spdcid: f.2,
            dpdcid: f.3,
            timestamp,
        }
    })
}

fn erth() -> impl Strategy<Value = erth::Repr> {
    (type_next(), endpoint_op(), any::<(u8, u32)>(), tseth()).prop_map(
        |(type_next, op, f, timestamp)| erth::Repr {
            type_next,
            op,
            vendor_info: f.0,
            port_status_mask: f.1,
            timestamp,
        },
    )
}

fn eeth() -> impl Strategy<Value = eeth::Repr> {
    (type_next(), endpoint_op(), any::<u16>()).prop_map(|(type_next, op, tx_timestamp)| {
        eeth::Repr {
            type_next,
            op,
            tx_timestamp,
        }
    })
}

/// A consistent MRC packet of any opcode.
fn mrc_packet() -> impl Strategy<Value = mrc::Repr> {
    proptest::sample::select(Opcode::ALL.to_vec()).prop_flat_map(|opcode| {
        let body = match opcode {
            op if op.is_write() => (
                any::<(u16, u16, u64, u32, u32, u32)>(),
                proptest::option::of(tseth()),
                0u32..600,
            )
                .prop_map(move |(f, tseth, payload_len)| {
                    Body::Write(mrc::Write {
                        meth: meth::Repr {
                            rqmsn: f.0,
                            msn: f.1,
                        },
                        tseth,
                        reth: reth::Repr {
                            va: f.2,
                            rkey: f.3,
                            dma_len: f.4,
                        },
                        imm: op.has_immediate().then_some(f.5),
                        payload_len,
                    })
                })
                .boxed(),
            Opcode::Ack => (any::<u8>(), 0u32..1 << 24)
                .prop_map(|(syndrome, msn)| Body::Ack(aeth::Repr { syndrome, msn }))
                .boxed(),
            Opcode::Sack => (seth(), cc_state())
                .prop_map(|(seth, cc)| Body::Sack { seth, cc })
                .boxed(),
            Opcode::Nack => neth().prop_map(Body::Nack).boxed(),
            Opcode::ProbeRequest => peth().prop_map(Body::Probe).boxed(),
            Opcode::EndpointRequest => erth().prop_map(Body::EndpointRequest).boxed(),
            _ => eeth().prop_map(Body::EndpointResponse).boxed(),
        };
        (bth_for(opcode), body).prop_map(|(mut bth, body)| {
            // Keep BTH.ts consistent with the body, as `mrc::Repr::check` requires.
            if let Body::Write(w) = &body {
                bth.timestamp = w.tseth.is_some();
            }
            mrc::Repr { bth, body }
        })
    })
}

fn addr() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

fn ipv6_hdr() -> impl Strategy<Value = ipv6::Repr> {
    (any::<u8>(), 0u32..1 << 20, any::<u8>(), addr(), addr()).prop_map(
        |(traffic_class, flow_label, hop_limit, src, dst)| ipv6::Repr {
            traffic_class,
            flow_label,
            payload_len: 0,
            next_header: 0,
            hop_limit,
            src,
            dst,
        },
    )
}

fn srh_hdr() -> impl Strategy<Value = srh::Repr> {
    proptest::collection::vec(addr(), 1..=srh::MAX_SEGMENTS).prop_flat_map(|segs| {
        let n = segs.len() as u8;
        // Up to n: Segments Left = Last Entry + 1 is a reduced SRH (RFC 8754 §4.3.1.1).
        (Just(segs), 0..=n, any::<u8>(), any::<u16>(), 0u16..4).prop_map(
            |(segs, left, flags, tag, tlv_words)| {
                let mut s = srh::Repr::new(0, &segs, left).unwrap();
                s.flags = flags;
                s.tag = tag;
                s.tlv_len = 8 * tlv_words;
                s
            },
        )
    })
}

fn datagram() -> impl Strategy<Value = (stack::Repr, Vec<u8>)> {
    (
        ipv6_hdr(),
        proptest::option::of(srh_hdr()),
        proptest::option::of(ipv6_hdr()),
        any::<u16>(),
        mrc_packet(),
    )
        .prop_flat_map(|(outer, srh, inner, sport, mrc)| {
            let repr = stack::Repr {
                outer,
                srh,
                inner,
                udp: udp::Repr {
                    src_port: sport,
                    dst_port: mrc::UDP_PORT,
                },
                mrc,
            }
            .with_lengths()
            .unwrap();
            let payload = proptest::collection::vec(any::<u8>(), repr.mrc.payload_len());
            (Just(repr), payload)
        })
}

macro_rules! round_trip {
    ($m:ident, $repr:expr) => {{
        let repr = $repr;
        let mut buf = vec![0u8; $m::LEN];
        repr.emit(&mut $m::Packet::new_unchecked(&mut buf[..]))
            .unwrap();
        prop_assert_eq!(
            $m::Repr::parse(&$m::Packet::new_checked(&buf[..]).unwrap()).unwrap(),
            repr
        );
    }};
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn each_header_round_trips(
        bth in proptest::sample::select(Opcode::ALL.to_vec()).prop_flat_map(bth_for),
        meth in any::<(u16, u16)>(),
        tseth in tseth(),
        reth in any::<(u64, u32, u32)>(),
        aeth in (any::<u8>(), 0u32..1 << 24),
        seth in seth(),
        cc in cc_state(),
        neth in neth(),
        peth in peth(),
        erth in erth(),
        eeth in eeth(),
    ) {
        round_trip!(bth, bth);
        round_trip!(meth, meth::Repr { rqmsn: meth.0, msn: meth.1 });
        round_trip!(tseth, tseth);
        round_trip!(reth, reth::Repr { va: reth.0, rkey: reth.1, dma_len: reth.2 });
        round_trip!(aeth, aeth::Repr { syndrome: aeth.0, msn: aeth.1 });
        round_trip!(seth, seth);
        round_trip!(cc_state, cc);
        round_trip!(neth, neth);
        round_trip!(peth, peth);
        round_trip!(erth, erth);
        round_trip!(eeth, eeth);
    }

    #[test]
    fn mrc_packets_round_trip(repr in mrc_packet(), fill in any::<u8>()) {
        let payload = vec![fill; repr.payload_len()];
        let bytes = repr.to_bytes(&payload).unwrap();
        prop_assert_eq!(bytes.len(), repr.buffer_len());
        let (parsed, got) = mrc::Repr::parse_bytes(&bytes).unwrap();
        prop_assert_eq!(parsed, repr);
        prop_assert_eq!(got, &payload[..]);
    }

    #[test]
    fn datagrams_round_trip((repr, payload) in datagram()) {
        let bytes = repr.to_bytes(&payload).unwrap();
        let (parsed, range) = stack::Repr::parse(&bytes, true).unwrap();
        prop_assert_eq!(parsed, repr);
        prop_assert_eq!(&bytes[range], &payload[..]);
    }

    #[test]
    fn corrupted_datagrams_are_refused((repr, payload) in datagram(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        // TLV contents are not part of the `Repr` (only their length), so flips there go unseen.
        prop_assume!(repr.srh.is_none_or(|s| s.tlv_len == 0));
        let mut bytes = repr.to_bytes(&payload).unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        // A flipped bit is either caught (length, value or checksum) or lands in a field that
        // every value is valid for; the codec never returns the original packet unchanged.
        if let Ok((parsed, _)) = stack::Repr::parse(&bytes, true) {
            prop_assert_ne!(parsed, repr);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = stack::Repr::parse(&bytes, true);
        let _ = stack::Repr::parse(&bytes, false);
        let _ = mrc::Repr::parse_bytes(&bytes);
        if let Ok(p) = srh::Packet::new_checked(&bytes[..]) {
            let _ = srh::Repr::parse(&p);
        }
    }
}
