//! Sample datagrams: one or more of every MRC opcode in the SRv6 encapsulation, for demos,
//! dissector tests and fuzz seeds.

use core::net::Ipv6Addr;

use crate::mrc::{
    self, Body, EndpointOp, NackReason, Opcode, PathMark, TypeNext, aeth, bth, cc_state, eeth,
    erth, meth, neth, peth, reth, seth, tseth,
};
use crate::usid::Carrier;
use crate::{Psn, ipv6, stack, udp};

/// One sample: a datagram, its payload and a short description.
#[derive(Debug, Clone)]
pub struct Sample {
    /// What the sample shows.
    pub what: String,
    /// The datagram.
    pub repr: stack::Repr,
    /// Its MRC payload.
    pub payload: Vec<u8>,
}

const BLOCK: u32 = 0xfc00_0000;

fn nic_addr(n: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, n)
}

/// An SRv6-encapsulated datagram from NIC 0x0a to NIC 0x0b (docs/fabric-and-srv6.md §7.4 example
/// path, plane 0, T1 5), with the EV striped into the UDP source port and flow label.
fn datagram(ev: u32, mrc: mrc::Repr) -> stack::Repr {
    let (sport, flow_label) = udp::stev_encode(ev);
    let inner = ipv6::Repr {
        traffic_class: 0,
        flow_label,
        payload_len: 0,
        next_header: 0,
        hop_limit: 64,
        src: nic_addr(0xa),
        dst: nic_addr(0xb),
    };
    let carrier = Carrier::new(BLOCK, &[0x0801, 0x1005, 0x0802, 0x1807])
        .map_or(Ipv6Addr::UNSPECIFIED, |c| c.addr());
    let outer = ipv6::Repr {
        dst: carrier,
        ..inner
    };
    let repr = stack::Repr {
        outer,
        srh: None,
        inner: Some(inner),
        udp: udp::Repr {
            src_port: sport,
            dst_port: mrc::UDP_PORT,
        },
        mrc,
    };
    repr.with_lengths().unwrap_or(repr)
}

fn write(opcode: Opcode, psn: u32, payload_len: u32, ts: bool, rtx: bool) -> mrc::Repr {
    let mut bth = bth::Repr::new(opcode, 0x11, Psn::new(psn));
    bth.timestamp = ts;
    bth.retransmit = rtx;
    bth.ack_req = opcode.ends_message();
    mrc::Repr {
        bth,
        body: Body::Write(mrc::Write {
            meth: meth::Repr { rqmsn: 1, msn: 4 },
            tseth: ts.then_some(tseth::Repr {
                tx_timestamp: 0x1234,
                tsr: false,
                ftype: 1,
            }),
            reth: reth::Repr {
                va: 0x7f00_0000_0000 + u64::from(psn - 100) * 256,
                rkey: 0xbeef,
                dma_len: 1024,
            },
            imm: opcode.has_immediate().then_some(0xC0FF_EE00),
            payload_len,
        }),
    }
}

fn control(opcode: Opcode, psn: u32, body: Body) -> mrc::Repr {
    mrc::Repr {
        bth: bth::Repr::new(opcode, 0x22, Psn::new(psn)),
        body,
    }
}

/// Every opcode at least once, every NACK reason once, a retransmission and a trimmed packet.
/// PSNs and EVs differ between samples so a decoder's output can be matched to its input.
pub fn all() -> Vec<Sample> {
    let mut out = Vec::new();
    let mut push = |what: &str, ev: u32, mrc: mrc::Repr| {
        let payload = (0..mrc.payload_len()).map(|i| (i % 251) as u8).collect();
        out.push(Sample {
            what: what.to_owned(),
            repr: datagram(ev, mrc),
            payload,
        });
    };
    push(
        "write, first packet",
        0x0105,
        write(Opcode::WriteFirst, 100, 256, false, false),
    );
    push(
        "write, middle packet with TSETH",
        0x0205,
        write(Opcode::WriteMiddle, 101, 256, true, false),
    );
    push(
        "write, last packet",
        0x0305,
        write(Opcode::WriteLast, 102, 256, false, false),
    );
    push(
        "write-with-immediate, last",
        0x0405,
        write(Opcode::WriteLastImm, 103, 256, false, false),
    );
    push(
        "write, only packet",
        0x0505,
        write(Opcode::WriteOnly, 104, 64, false, false),
    );
    push(
        "write-with-immediate, only",
        0x0605,
        write(Opcode::WriteOnlyImm, 105, 64, false, false),
    );
    push(
        "retransmission",
        0x0707,
        write(Opcode::WriteMiddle, 101, 256, false, true),
    );
    push(
        "trimmed (payload cut by a switch)",
        0x0006,
        write(Opcode::WriteMiddle, 106, 0, false, false),
    );
    push(
        "transport ACK",
        0x0010,
        control(
            Opcode::Ack,
            105,
            Body::Ack(aeth::Repr {
                syndrome: 0,
                msn: 4,
            }),
        ),
    );
    let seth = seth::Repr {
        mark: PathMark::SkipOnce,
        ack_psn_offset: 2,
        entropy: 0x0205,
        spdcid: 0x22,
        dpdcid: 0x11,
        cack_psn: Psn::new(101),
        mpr: 8,
        sack_offset: 2,
        sack_bitmap: 0b1011,
        ..seth::Repr::default()
    };
    let cc = cc_state::Repr {
        tx_timestamp: 0x1234,
        ooo_count: 3,
        rcvd_bytes: 12,
        ..Default::default()
    };
    push(
        "selective ack",
        0x0011,
        control(Opcode::Sack, 0, Body::Sack { seth, cc }),
    );
    for (i, reason) in NackReason::ALL.into_iter().enumerate() {
        let neth = neth::Repr {
            type_next: TypeNext::default(),
            reason,
            vendor_info: 0,
            entropy: 0x0006,
            spdcid: 0x22,
            dpdcid: 0x11,
            nack_psn: Psn::new(200 + i as u32),
            cc_type: 2,
            cc_flags: 0,
            tx_timestamp: 0,
        };
        push(
            &format!("NACK {}", reason.name()),
            0x0012,
            control(Opcode::Nack, 0, Body::Nack(neth)),
        );
    }
    let probe = peth::Repr {
        probe_id: 77,
        spdcid: 0x11,
        dpdcid: 0x22,
        timestamp: tseth::Repr {
            tx_timestamp: 0,
            tsr: false,
            ftype: 1,
        },
        ..Default::default()
    };
    push(
        "reliability probe",
        0x0013,
        control(Opcode::ProbeRequest, 0, Body::Probe(probe)),
    );
    let request = |op| erth::Repr {
        type_next: TypeNext::default(),
        op,
        vendor_info: 0,
        port_status_mask: 0xFE,
        timestamp: tseth::Repr {
            tx_timestamp: 0x42,
            tsr: false,
            ftype: 1,
        },
    };
    let ep = mrc::ENDPOINT_QPN;
    let ev_probe = mrc::Repr {
        bth: bth::Repr::new(Opcode::EndpointRequest, ep, Psn::new(78)),
        body: Body::EndpointRequest(request(EndpointOp::EvProbe)),
    };
    push("endpoint request: EV probe", 0x0014, ev_probe);
    let port_status = mrc::Repr {
        bth: bth::Repr::new(Opcode::EndpointRequest, ep, Psn::new(79)),
        body: Body::EndpointRequest(request(EndpointOp::PortStatusUpdate)),
    };
    push(
        "endpoint request: port status update (port 1 down)",
        0x0015,
        port_status,
    );
    let response = eeth::Repr {
        type_next: TypeNext::default(),
        op: EndpointOp::EvProbe,
        tx_timestamp: 0x42,
    };
    let response = mrc::Repr {
        bth: bth::Repr::new(Opcode::EndpointResponse, ep, Psn::new(78)),
        body: Body::EndpointResponse(response),
    };
    push("endpoint response", 0x0016, response);
    out
}
