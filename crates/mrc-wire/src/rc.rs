//! RoCEv2 Reliable Connection packets as the RoCE baseline puts them on the wire: the InfiniBand
//! RC RDMA Write opcodes, Acknowledge, and the RoCEv2 CNP. MRC's own opcodes live in
//! [`crate::mrc`]; this module exists so that a trace of a RoCE run shows RoCE, not MRC.
//!
//! | opcode | headers after the BTH |
//! |---|---|
//! | RDMA WRITE First / Only (0x06 / 0x0A) | RETH, payload |
//! | RDMA WRITE Middle / Last (0x07 / 0x08) | payload |
//! | RDMA WRITE Last / Only with Immediate (0x09 / 0x0B) | (RETH for Only) ImmDt, payload |
//! | Acknowledge (0x11) | AETH |
//! | CNP (0x81) | 16 reserved bytes; BTH.BECN set |
//!
//! Every packet ends with the 4-byte ICRC, written as zeros (the UDP checksum covers the
//! packet, as for MRC). BTH layout as in InfiniBand: opcode, SE/M/Pad/TVer, P_Key (0xFFFF),
//! FECN/BECN, destination QP, AckReq, PSN.

use std::fmt;

use crate::field::{put_u16, put_u24, put_u32, u24_at, u32_at};
use crate::mrc::{ICRC_LEN, aeth, reth};
use crate::{Error, Psn, Result, ipv6, udp};

/// BTH length.
pub const BTH_LEN: usize = 12;
/// Reserved bytes after the BTH of a CNP.
pub const CNP_RESERVED_LEN: usize = 16;
/// RoCEv2 UDP destination port (shared with MRC).
pub const UDP_PORT: u16 = 4791;

/// RC and CNP opcodes of the RoCE baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    /// RC RDMA WRITE First.
    WriteFirst = 0x06,
    /// RC RDMA WRITE Middle.
    WriteMiddle = 0x07,
    /// RC RDMA WRITE Last.
    WriteLast = 0x08,
    /// RC RDMA WRITE Last with Immediate.
    WriteLastImm = 0x09,
    /// RC RDMA WRITE Only.
    WriteOnly = 0x0A,
    /// RC RDMA WRITE Only with Immediate.
    WriteOnlyImm = 0x0B,
    /// RC Acknowledge (ACK or NAK by AETH syndrome).
    Acknowledge = 0x11,
    /// RoCEv2 Congestion Notification Packet.
    Cnp = 0x81,
}

impl Opcode {
    /// Every opcode.
    pub const ALL: [Self; 8] = [
        Self::WriteFirst,
        Self::WriteMiddle,
        Self::WriteLast,
        Self::WriteLastImm,
        Self::WriteOnly,
        Self::WriteOnlyImm,
        Self::Acknowledge,
        Self::Cnp,
    ];

    /// The opcode of a raw byte, or [`Error::BadValue`].
    pub fn from_u8(v: u8) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|o| *o as u8 == v)
            .ok_or(Error::BadValue)
    }

    /// Name as the InfiniBand specification gives it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::WriteFirst => "RC RDMA WRITE First",
            Self::WriteMiddle => "RC RDMA WRITE Middle",
            Self::WriteLast => "RC RDMA WRITE Last",
            Self::WriteLastImm => "RC RDMA WRITE Last with Immediate",
            Self::WriteOnly => "RC RDMA WRITE Only",
            Self::WriteOnlyImm => "RC RDMA WRITE Only with Immediate",
            Self::Acknowledge => "RC Acknowledge",
            Self::Cnp => "CNP",
        }
    }

    /// Carries a RETH (first packet of a Write).
    pub const fn has_reth(self) -> bool {
        matches!(
            self,
            Self::WriteFirst | Self::WriteOnly | Self::WriteOnlyImm
        )
    }

    /// Carries ImmDt.
    pub const fn has_immediate(self) -> bool {
        matches!(self, Self::WriteLastImm | Self::WriteOnlyImm)
    }

    /// Carries payload.
    pub const fn is_write(self) -> bool {
        (self as u8) <= 0x0B
    }
}

/// A parsed RC / CNP packet (BTH onwards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Opcode.
    pub opcode: Opcode,
    /// Destination QP (24 bits).
    pub dest_qp: u32,
    /// Packet sequence number (ACK: the last PSN acknowledged; NAK: the expected one).
    pub psn: Psn,
    /// BTH AckReq.
    pub ack_req: bool,
    /// BTH BECN (set on a CNP).
    pub becn: bool,
    /// RETH of the first packet of a Write.
    pub reth: Option<reth::Repr>,
    /// ImmDt.
    pub imm: Option<u32>,
    /// AETH of an Acknowledge.
    pub aeth: Option<aeth::Repr>,
    /// Payload bytes (Writes only).
    pub payload_len: u32,
}

impl Repr {
    /// Bytes from the BTH to the ICRC, both included.
    pub fn buffer_len(&self) -> usize {
        BTH_LEN
            + self.reth.map_or(0, |_| reth::LEN)
            + self.imm.map_or(0, |_| 4)
            + self.aeth.map_or(0, |_| aeth::LEN)
            + if self.opcode == Opcode::Cnp {
                CNP_RESERVED_LEN
            } else {
                0
            }
            + self.payload_len as usize
            + ICRC_LEN
    }

    /// Whether the optional headers are the ones the opcode calls for.
    fn consistent(&self) -> bool {
        let op = self.opcode;
        self.reth.is_some() == op.has_reth()
            && self.imm.is_some() == op.has_immediate()
            && self.aeth.is_some() == (op == Opcode::Acknowledge)
            && (op.is_write() || self.payload_len == 0)
    }

    /// Writes the packet into `buf` (exactly [`Self::buffer_len`] bytes) with `payload`.
    pub fn emit(&self, buf: &mut [u8], payload: &[u8]) -> Result<()> {
        if !self.consistent() {
            return Err(Error::BadValue);
        }
        if buf.len() != self.buffer_len() || payload.len() != self.payload_len as usize {
            return Err(Error::BadLength);
        }
        if self.dest_qp >= 1 << 24 {
            return Err(Error::Oversized);
        }
        buf.fill(0);
        buf[0] = self.opcode as u8;
        put_u16(buf, 2, 0xFFFF);
        buf[4] = if self.becn { 0x40 } else { 0 };
        put_u24(buf, 5, self.dest_qp);
        buf[8] = if self.ack_req { 0x80 } else { 0 };
        put_u24(buf, 9, self.psn.value());
        let mut at = BTH_LEN;
        if let Some(r) = &self.reth {
            r.emit(&mut reth::Packet::new_unchecked(
                &mut buf[at..at + reth::LEN],
            ))?;
            at += reth::LEN;
        }
        if let Some(imm) = self.imm {
            put_u32(buf, at, imm);
            at += 4;
        }
        if let Some(a) = &self.aeth {
            a.emit(&mut aeth::Packet::new_unchecked(
                &mut buf[at..at + aeth::LEN],
            ))?;
            at += aeth::LEN;
        }
        if self.opcode == Opcode::Cnp {
            at += CNP_RESERVED_LEN;
        }
        buf[at..at + payload.len()].copy_from_slice(payload);
        Ok(())
    }

    /// Parses a packet (BTH through ICRC); returns it and its payload.
    pub fn parse(buf: &[u8]) -> Result<(Self, &[u8])> {
        if buf.len() < BTH_LEN + ICRC_LEN {
            return Err(Error::Truncated);
        }
        let opcode = Opcode::from_u8(buf[0])?;
        let mut at = BTH_LEN;
        let mut take = |n: usize| -> Result<usize> {
            let start = at;
            at += n;
            (at + ICRC_LEN <= buf.len())
                .then_some(start)
                .ok_or(Error::Truncated)
        };
        let reth = match opcode.has_reth() {
            true => {
                let s = take(reth::LEN)?;
                Some(reth::Repr::parse(&reth::Packet::new_unchecked(
                    &buf[s..s + reth::LEN],
                ))?)
            }
            false => None,
        };
        let imm = match opcode.has_immediate() {
            true => Some(u32_at(buf, take(4)?)),
            false => None,
        };
        let aeth = match opcode == Opcode::Acknowledge {
            true => {
                let s = take(aeth::LEN)?;
                Some(aeth::Repr::parse(&aeth::Packet::new_unchecked(
                    &buf[s..s + aeth::LEN],
                ))?)
            }
            false => None,
        };
        if opcode == Opcode::Cnp {
            take(CNP_RESERVED_LEN)?;
        }
        let payload = &buf[at..buf.len() - ICRC_LEN];
        if !opcode.is_write() && !payload.is_empty() {
            return Err(Error::BadLength);
        }
        let repr = Self {
            opcode,
            dest_qp: u24_at(buf, 5),
            psn: Psn::new(u24_at(buf, 9)),
            ack_req: buf[8] & 0x80 != 0,
            becn: buf[4] & 0x40 != 0,
            reth,
            imm,
            aeth,
            payload_len: payload.len() as u32,
        };
        Ok((repr, payload))
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} QP {:#08x} PSN {}",
            self.opcode.name(),
            self.dest_qp,
            self.psn.value()
        )?;
        if self.ack_req {
            f.write_str(" A")?;
        }
        if self.becn {
            f.write_str(" BECN")?;
        }
        if let Some(r) = &self.reth {
            write!(
                f,
                " RETH va {:#x} rkey {:#x} len {}",
                r.va, r.rkey, r.dma_len
            )?;
        }
        if let Some(i) = self.imm {
            write!(f, " imm {i:#x}")?;
        }
        if let Some(a) = &self.aeth {
            let kind = match a.syndrome >> 5 {
                0 => "ACK",
                3 => "NAK",
                _ => "syndrome",
            };
            write!(f, " AETH {kind} {:#04x} MSN {}", a.syndrome, a.msn)?;
        }
        if self.payload_len > 0 {
            write!(f, " payload {}", self.payload_len)?;
        }
        Ok(())
    }
}

/// IPv6 + UDP + RC datagram of the RoCE baseline (plain ECMP routing: no SRH).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    /// IPv6 header (`payload_len` and `next_header` are filled on emit).
    pub ip: ipv6::Repr,
    /// UDP ports.
    pub udp: udp::Repr,
    /// The RC packet.
    pub rc: Repr,
}

impl Datagram {
    /// Encodes the datagram with `payload`.
    pub fn to_bytes(&self, payload: &[u8]) -> Result<Vec<u8>> {
        let rc_len = self.rc.buffer_len();
        let udp_len = udp::LEN + rc_len;
        let ip = ipv6::Repr {
            payload_len: u16::try_from(udp_len).map_err(|_| Error::Oversized)?,
            next_header: ipv6::NEXT_UDP,
            ..self.ip
        };
        let mut buf = vec![0u8; ipv6::LEN + udp_len];
        ip.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..]))?;
        self.rc.emit(&mut buf[ipv6::LEN + udp::LEN..], payload)?;
        self.udp.emit(&mut buf[ipv6::LEN..], ip.src, ip.dst)?;
        Ok(buf)
    }

    /// Parses an IPv6 / UDP datagram carrying an RC or CNP packet (checksum verified); returns
    /// it and its payload.
    pub fn parse(buf: &[u8]) -> Result<(Self, &[u8])> {
        let ip = ipv6::Repr::parse(&ipv6::Packet::new_unchecked(buf))?;
        if ip.next_header != ipv6::NEXT_UDP {
            return Err(Error::BadValue);
        }
        let end = ipv6::LEN + usize::from(ip.payload_len);
        let dgram = &buf[ipv6::LEN..end];
        let u = udp::Repr::parse(&udp::Packet::new_unchecked(dgram), ip.src, ip.dst, true)?;
        if u.dst_port != UDP_PORT {
            return Err(Error::BadValue);
        }
        let (rc, payload) = Repr::parse(&dgram[udp::LEN..])?;
        Ok((Self { ip, udp: u, rc }, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(op: Opcode, len: u32) -> Repr {
        Repr {
            opcode: op,
            dest_qp: 0x12,
            psn: Psn::new(7),
            ack_req: matches!(op, Opcode::WriteLast | Opcode::WriteOnly),
            becn: false,
            reth: op.has_reth().then_some(reth::Repr {
                va: 0x1000,
                rkey: 0xbeef,
                dma_len: 9000,
            }),
            imm: op.has_immediate().then_some(0xabcd),
            aeth: None,
            payload_len: len,
        }
    }

    #[test]
    fn every_opcode_round_trips_through_a_datagram() {
        let mut reprs: Vec<Repr> = Opcode::ALL[..6].iter().map(|&o| write(o, 64)).collect();
        reprs.push(Repr {
            aeth: Some(aeth::Repr {
                syndrome: 0x60,
                msn: 3,
            }),
            ..write(Opcode::Acknowledge, 0)
        });
        reprs.push(Repr {
            becn: true,
            ..write(Opcode::Cnp, 0)
        });
        for rc in reprs {
            let d = Datagram {
                ip: ipv6::Repr {
                    traffic_class: 0x02,
                    flow_label: 5,
                    payload_len: 0,
                    next_header: 0,
                    hop_limit: 64,
                    src: "fd00::1".parse().unwrap(),
                    dst: "fd00::2".parse().unwrap(),
                },
                udp: udp::Repr {
                    src_port: 0xC000,
                    dst_port: UDP_PORT,
                },
                rc,
            };
            let payload = vec![0x5a; rc.payload_len as usize];
            let bytes = d.to_bytes(&payload).unwrap();
            let (back, p) = Datagram::parse(&bytes).unwrap();
            assert_eq!(back.rc, rc);
            assert_eq!(p, &payload[..]);
            assert_eq!(bytes[ipv6::LEN + udp::LEN], rc.opcode as u8);
        }
    }

    #[test]
    fn rejects_inconsistent_headers_and_unknown_opcodes() {
        let mut r = write(Opcode::WriteMiddle, 8);
        r.reth = write(Opcode::WriteFirst, 8).reth;
        let mut buf = vec![0u8; r.buffer_len()];
        assert_eq!(r.emit(&mut buf, &[0; 8]), Err(Error::BadValue));
        assert_eq!(Opcode::from_u8(0xC6), Err(Error::BadValue));
        let mut cnp = vec![0u8; BTH_LEN + ICRC_LEN];
        cnp[0] = 0x81;
        assert_eq!(Repr::parse(&cnp).unwrap_err(), Error::Truncated);
    }
}
