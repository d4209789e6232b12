//! A whole MRC packet as carried in a UDP datagram: BTH, the extension headers its opcode calls
//! for, the payload (data packets only) and the 4-byte ICRC trailer.

use super::{
    IMMDT_LEN, NackReason, Opcode, aeth, bth, cc_state, eeth, erth, meth, neth, peth, reth, seth,
    tseth,
};
use crate::field::{put_u32, u32_at};
use crate::{Error, Result};

/// Length of the ICRC trailer. The UDP transport relies on the UDP checksum and writes zeros.
pub const ICRC_LEN: usize = 4;

/// Length of the headers after BTH for an opcode (without TSETH, with ImmDt).
const fn ext_len(opcode: Opcode) -> usize {
    match opcode {
        Opcode::WriteFirst | Opcode::WriteMiddle | Opcode::WriteLast | Opcode::WriteOnly => {
            meth::LEN + reth::LEN
        }
        Opcode::WriteLastImm | Opcode::WriteOnlyImm => meth::LEN + reth::LEN + IMMDT_LEN,
        Opcode::Ack => aeth::LEN,
        Opcode::EndpointRequest => erth::LEN,
        Opcode::EndpointResponse => eeth::LEN,
        Opcode::Sack => seth::LEN + cc_state::LEN,
        Opcode::Nack => neth::LEN,
        Opcode::ProbeRequest => peth::LEN,
    }
}

/// A read/write view of a whole MRC packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after checking that the opcode is known and that the buffer holds exactly
    /// the headers it calls for, the ICRC and (data packets only) a payload.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// See [`Packet::new_checked`].
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        let header_len = self.header_len()?;
        let control = !self.opcode()?.is_write();
        if len < header_len + ICRC_LEN {
            Err(Error::Truncated)
        } else if control && len != header_len + ICRC_LEN {
            Err(Error::BadLength)
        } else {
            Ok(())
        }
    }

    /// The opcode, or [`Error::Truncated`] / [`Error::BadValue`].
    pub fn opcode(&self) -> Result<Opcode> {
        let b = self.buffer.as_ref();
        if b.len() < bth::LEN {
            return Err(Error::Truncated);
        }
        Opcode::from_u8(b[0])
    }

    /// The BTH view.
    pub fn bth(&self) -> bth::Packet<&[u8]> {
        bth::Packet::new_unchecked(self.buffer.as_ref())
    }

    /// Length of all headers (BTH through ImmDt), without payload and ICRC.
    pub fn header_len(&self) -> Result<usize> {
        let opcode = self.opcode()?;
        let ts = opcode.is_write() && self.bth().timestamp();
        Ok(bth::LEN + ext_len(opcode) + if ts { tseth::LEN } else { 0 })
    }

    /// The payload of a data packet (empty for control packets, trimmed data packets and
    /// buffers that fail [`Packet::check_len`]).
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let start = self.header_len().unwrap_or(b.len());
        b.get(start..b.len().saturating_sub(ICRC_LEN))
            .unwrap_or(&[])
    }

    /// The ICRC trailer (0 if the buffer is too short to hold one).
    pub fn icrc(&self) -> u32 {
        let b = self.buffer.as_ref();
        b.len().checked_sub(ICRC_LEN).map_or(0, |at| u32_at(b, at))
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// The payload, for writing.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let b = self.buffer.as_ref();
        let (start, end) = (
            self.header_len().unwrap_or(b.len()),
            b.len().saturating_sub(ICRC_LEN),
        );
        self.buffer.as_mut().get_mut(start..end).unwrap_or(&mut [])
    }
}

/// The headers of an RDMA Write data packet after BTH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Write {
    /// Message sequence numbers.
    pub meth: meth::Repr,
    /// Timestamp header; present iff BTH.ts is set.
    pub tseth: Option<tseth::Repr>,
    /// Remote address, key and length.
    pub reth: reth::Repr,
    /// Immediate data; present iff the opcode is LAST_IMM or ONLY_IMM.
    pub imm: Option<u32>,
    /// Payload bytes in this packet (0 for a trimmed packet).
    pub payload_len: u32,
}

/// Everything after the BTH, by packet kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Body {
    /// RDMA Write data packet (any of the six Write opcodes).
    Write(Write),
    /// Transport ACK.
    Ack(aeth::Repr),
    /// Selective acknowledgement with congestion-control state.
    Sack {
        /// SACK header.
        seth: seth::Repr,
        /// Congestion-control echo.
        cc: cc_state::Repr,
    },
    /// Negative acknowledgement.
    Nack(neth::Repr),
    /// Reliability probe request.
    Probe(peth::Repr),
    /// Endpoint request (EV probe, port status update).
    EndpointRequest(erth::Repr),
    /// Endpoint response.
    EndpointResponse(eeth::Repr),
}

/// A parsed MRC packet: BTH plus the headers its opcode calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Base transport header.
    pub bth: bth::Repr,
    /// The rest.
    pub body: Body,
}

impl Repr {
    /// Parses a checked packet.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        p.check_len()?;
        let b = p.buffer.as_ref();
        let bth = bth::Repr::parse(&bth::Packet::new_unchecked(b))?;
        let mut at = bth::LEN;
        let body = match bth.opcode {
            op if op.is_write() => {
                let meth = meth::Repr::parse(&meth::Packet::new_unchecked(&b[at..]))?;
                at += meth::LEN;
                let tseth = if bth.timestamp {
                    let t = tseth::Repr::parse(&tseth::Packet::new_unchecked(&b[at..]))?;
                    at += tseth::LEN;
                    Some(t)
                } else {
                    None
                };
                let reth = reth::Repr::parse(&reth::Packet::new_unchecked(&b[at..]))?;
                at += reth::LEN;
                let imm = op.has_immediate().then(|| u32_at(b, at));
                let payload_len = u32::try_from(p.payload().len()).map_err(|_| Error::Oversized)?;
                Body::Write(Write {
                    meth,
                    tseth,
                    reth,
                    imm,
                    payload_len,
                })
            }
            Opcode::Ack => Body::Ack(aeth::Repr::parse(&aeth::Packet::new_unchecked(&b[at..]))?),
            Opcode::Sack => Body::Sack {
                seth: seth::Repr::parse(&seth::Packet::new_unchecked(&b[at..]))?,
                cc: cc_state::Repr::parse(&cc_state::Packet::new_unchecked(&b[at + seth::LEN..]))?,
            },
            Opcode::Nack => Body::Nack(neth::Repr::parse(&neth::Packet::new_unchecked(&b[at..]))?),
            Opcode::ProbeRequest => {
                Body::Probe(peth::Repr::parse(&peth::Packet::new_unchecked(&b[at..]))?)
            }
            Opcode::EndpointRequest => {
                Body::EndpointRequest(erth::Repr::parse(&erth::Packet::new_unchecked(&b[at..]))?)
            }
            Opcode::EndpointResponse => {
                Body::EndpointResponse(eeth::Repr::parse(&eeth::Packet::new_unchecked(&b[at..]))?)
            }
            _ => return Err(Error::BadValue),
        };
        Ok(Self { bth, body })
    }

    /// Checks and parses `bytes` in one call; returns the packet and its payload.
    pub fn parse_bytes(bytes: &[u8]) -> Result<(Self, &[u8])> {
        let p = Packet::new_checked(bytes)?;
        let repr = Self::parse(&p)?;
        let start = p.header_len()?;
        Ok((repr, &bytes[start..bytes.len() - ICRC_LEN]))
    }

    /// Fails with [`Error::BadValue`] unless the BTH opcode and flags agree with the body:
    /// a Write body for a Write opcode (TSETH present iff BTH.ts, ImmDt iff an `_IMM` opcode),
    /// the matching header for each control opcode.
    pub fn check(&self) -> Result<()> {
        let op = self.bth.opcode;
        let ok = match &self.body {
            Body::Write(w) => {
                op.is_write()
                    && w.tseth.is_some() == self.bth.timestamp
                    && w.imm.is_some() == op.has_immediate()
            }
            Body::Ack(_) => op == Opcode::Ack,
            Body::Sack { .. } => op == Opcode::Sack,
            Body::Nack(_) => op == Opcode::Nack,
            Body::Probe(_) => op == Opcode::ProbeRequest,
            Body::EndpointRequest(_) => op == Opcode::EndpointRequest,
            Body::EndpointResponse(_) => op == Opcode::EndpointResponse,
        };
        if ok { Ok(()) } else { Err(Error::BadValue) }
    }

    /// Length of the headers, BTH through ImmDt.
    pub fn header_len(&self) -> usize {
        let ts = matches!(self.body, Body::Write(Write { tseth: Some(_), .. }));
        bth::LEN + ext_len(self.bth.opcode) + if ts { tseth::LEN } else { 0 }
    }

    /// Payload length (data packets only).
    pub fn payload_len(&self) -> usize {
        match self.body {
            Body::Write(w) => w.payload_len as usize,
            _ => 0,
        }
    }

    /// Whole packet length: headers, payload and ICRC.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len() + ICRC_LEN
    }

    /// Writes the headers and a zero ICRC into a buffer of exactly [`Repr::buffer_len`] bytes;
    /// the caller fills the payload through [`Packet::payload_mut`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) -> Result<()> {
        self.check()?;
        let b = p.buffer.as_mut();
        if b.len() != self.buffer_len() {
            return Err(if b.len() < self.buffer_len() {
                Error::Truncated
            } else {
                Error::BadLength
            });
        }
        self.bth.emit(&mut bth::Packet::new_unchecked(&mut b[..]))?;
        let mut at = bth::LEN;
        match &self.body {
            Body::Write(w) => {
                w.meth
                    .emit(&mut meth::Packet::new_unchecked(&mut b[at..]))?;
                at += meth::LEN;
                if let Some(t) = &w.tseth {
                    t.emit(&mut tseth::Packet::new_unchecked(&mut b[at..]))?;
                    at += tseth::LEN;
                }
                w.reth
                    .emit(&mut reth::Packet::new_unchecked(&mut b[at..]))?;
                at += reth::LEN;
                if let Some(imm) = w.imm {
                    put_u32(b, at, imm);
                }
            }
            Body::Ack(a) => a.emit(&mut aeth::Packet::new_unchecked(&mut b[at..]))?,
            Body::Sack { seth, cc } => {
                seth.emit(&mut seth::Packet::new_unchecked(&mut b[at..]))?;
                cc.emit(&mut cc_state::Packet::new_unchecked(
                    &mut b[at + seth::LEN..],
                ))?;
            }
            Body::Nack(n) => n.emit(&mut neth::Packet::new_unchecked(&mut b[at..]))?,
            Body::Probe(pr) => pr.emit(&mut peth::Packet::new_unchecked(&mut b[at..]))?,
            Body::EndpointRequest(r) => r.emit(&mut erth::Packet::new_unchecked(&mut b[at..]))?,
            Body::EndpointResponse(r) => r.emit(&mut eeth::Packet::new_unchecked(&mut b[at..]))?,
        }
        let len = b.len();
        b[len - ICRC_LEN..].fill(0);
        Ok(())
    }

    /// Emits into a new vector, with `payload` copied in (it must be `payload_len` bytes long).
    pub fn to_bytes(&self, payload: &[u8]) -> Result<Vec<u8>> {
        if payload.len() != self.payload_len() {
            return Err(Error::BadLength);
        }
        let mut buf = vec![0u8; self.buffer_len()];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        self.emit(&mut p)?;
        p.payload_mut().copy_from_slice(payload);
        Ok(buf)
    }
}

impl core::fmt::Display for Repr {
    /// One line: opcode, QP, PSN, flags and the fields that matter for the opcode.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let b = &self.bth;
        write!(f, "{} qp={:#x} psn={}", b.opcode.name(), b.dest_qp, b.psn)?;
        for (set, flag) in [(b.ack_req, "A"), (b.retransmit, "rtx"), (b.timestamp, "ts")] {
            if set {
                write!(f, " [{flag}]")?;
            }
        }
        match &self.body {
            Body::Write(w) => {
                write!(f, " msn={} rqmsn={}", w.meth.msn, w.meth.rqmsn)?;
                write!(
                    f,
                    " va={:#x} rkey={:#x} dma_len={}",
                    w.reth.va, w.reth.rkey, w.reth.dma_len
                )?;
                if let Some(imm) = w.imm {
                    write!(f, " imm={imm:#010x}")?;
                }
                if w.payload_len == 0 {
                    f.write_str(" payload=0 (trimmed)")
                } else {
                    write!(f, " payload={}", w.payload_len)
                }
            }
            Body::Ack(a) => write!(f, " syndrome={:#04x} msn={}", a.syndrome, a.msn),
            Body::Sack { seth, cc } => write!(
                f,
                " cack={} ack_psn={} ev={:#010x} mark={:?} base={} bitmap={:#018x} mpr={} ooo={} pen={} rcvd={}",
                seth.cack_psn,
                seth.ack_psn(),
                seth.entropy,
                seth.mark,
                seth.bitmap_base(),
                seth.sack_bitmap,
                seth.mpr,
                cc.ooo_count,
                cc.rcv_cwnd_pen,
                cc.rcvd_bytes
            ),
            Body::Nack(n) => {
                write!(f, " reason={}", n.reason.name())?;
                if let NackReason::Other(code) = n.reason {
                    write!(f, "({code:#04x})")?;
                }
                write!(f, " nack_psn={} ev={:#010x}", n.nack_psn, n.entropy)
            }
            Body::Probe(p) => write!(f, " probe_id={}", p.probe_id),
            // Endpoint packets carry their request (probe) id in PSN[15:0].
            Body::EndpointRequest(r) => write!(
                f,
                " id={} op={:?} port_status_mask={:#x}",
                b.psn.value() & 0xFFFF,
                r.op,
                r.port_status_mask
            ),
            Body::EndpointResponse(r) => {
                write!(f, " id={} op={:?}", b.psn.value() & 0xFFFF, r.op)
            }
        }
    }
}
