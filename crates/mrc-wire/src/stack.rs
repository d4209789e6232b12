//! A whole MRC datagram as it crosses the fabric: outer IPv6, an optional Segment Routing
//! Header, an optional inner IPv6 header (SRv6 encapsulation), UDP and the MRC packet.
//!
//! | mode | stack |
//! |---|---|
//! | plain (STEV / UDP) | IPv6 · UDP · MRC |
//! | SRv6 | outer IPv6 (DA = uSID carrier) · inner IPv6 (DA = destination NIC) · UDP · MRC |
//! | SRv6 + SRH | outer IPv6 · SRH · inner IPv6 · UDP · MRC |
//! | SRH inline | IPv6 · SRH · UDP · MRC |

use core::net::Ipv6Addr;
use core::ops::Range;

use crate::ipv6::{NEXT_IPV6, NEXT_ROUTING, NEXT_UDP};
use crate::{Error, Result, ipv6, mrc, srh, udp};

/// A parsed datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// The outermost IPv6 header (in SRv6 mode its destination is the uSID carrier).
    pub outer: ipv6::Repr,
    /// Segment Routing Header, if any.
    pub srh: Option<srh::Repr>,
    /// Inner IPv6 header of an SRv6-encapsulated packet.
    pub inner: Option<ipv6::Repr>,
    /// UDP header.
    pub udp: udp::Repr,
    /// The MRC packet.
    pub mrc: mrc::Repr,
}

impl Repr {
    /// The address the UDP checksum is computed against: the inner header's destination, else
    /// the SRH's final segment, else the outer destination.
    pub fn final_destination(&self) -> Ipv6Addr {
        match (&self.inner, &self.srh) {
            (Some(inner), _) => inner.dst,
            (None, Some(srh)) => srh.final_destination(),
            (None, None) => self.outer.dst,
        }
    }

    /// The source the UDP checksum is computed against.
    pub fn final_source(&self) -> Ipv6Addr {
        self.inner.map_or(self.outer.src, |inner| inner.src)
    }

    fn udp_len(&self) -> usize {
        udp::LEN + self.mrc.buffer_len()
    }

    /// Whole datagram length in bytes.
    pub fn buffer_len(&self) -> usize {
        ipv6::LEN
            + self.srh.map_or(0, |s| s.buffer_len())
            + self.inner.map_or(0, |_| ipv6::LEN)
            + self.udp_len()
    }

    /// This datagram with every IPv6 payload length and next-header field (and the SRH's)
    /// computed from the layers present. Fails with [`Error::Oversized`] if a length overflows.
    pub fn with_lengths(mut self) -> Result<Self> {
        let to_u16 = |n: usize| u16::try_from(n).map_err(|_| Error::Oversized);
        let after_srh = if self.inner.is_some() {
            NEXT_IPV6
        } else {
            NEXT_UDP
        };
        if let Some(inner) = &mut self.inner {
            inner.next_header = NEXT_UDP;
            inner.payload_len = to_u16(self.udp.buffer_len() + self.mrc.buffer_len())?;
        }
        if let Some(srh) = &mut self.srh {
            srh.next_header = after_srh;
        }
        self.outer.next_header = if self.srh.is_some() {
            NEXT_ROUTING
        } else {
            after_srh
        };
        self.outer.payload_len = to_u16(self.buffer_len() - ipv6::LEN)?;
        Ok(self)
    }

    /// Parses a datagram and returns it with the byte range of the MRC payload. With
    /// `verify_checksum`, a UDP checksum that does not match is [`Error::BadChecksum`].
    pub fn parse(buf: &[u8], verify_checksum: bool) -> Result<(Self, Range<usize>)> {
        let outer = ipv6::Repr::parse(&ipv6::Packet::new_checked(buf)?)?;
        if ipv6::LEN + usize::from(outer.payload_len) != buf.len() {
            return Err(Error::BadLength);
        }
        let mut at = ipv6::LEN;
        let mut next = outer.next_header;
        let mut srh = None;
        if next == NEXT_ROUTING {
            let p = srh::Packet::new_checked(&buf[at..])?;
            let s = srh::Repr::parse(&p)?;
            at += p.header_len();
            next = s.next_header;
            srh = Some(s);
        }
        let mut inner = None;
        if next == NEXT_IPV6 {
            let i = ipv6::Repr::parse(&ipv6::Packet::new_checked(&buf[at..])?)?;
            at += ipv6::LEN;
            if at + usize::from(i.payload_len) != buf.len() {
                return Err(Error::BadLength);
            }
            next = i.next_header;
            inner = Some(i);
        }
        if next != NEXT_UDP {
            return Err(Error::BadValue);
        }
        let (src, dst) = match (&inner, &srh) {
            (Some(i), _) => (i.src, i.dst),
            (None, Some(s)) => (outer.src, s.final_destination()),
            (None, None) => (outer.src, outer.dst),
        };
        let udp_bytes = &buf[at..];
        let udp = udp::Repr::parse(
            &udp::Packet::new_checked(udp_bytes)?,
            src,
            dst,
            verify_checksum,
        )?;
        at += udp::LEN;
        let p = mrc::Packet::new_checked(&buf[at..])?;
        let mrc = mrc::Repr::parse(&p)?;
        let start = at + p.header_len()?;
        let end = buf.len() - mrc::ICRC_LEN;
        Ok((
            Self {
                outer,
                srh,
                inner,
                udp,
                mrc,
            },
            start..end,
        ))
    }

    /// Writes the datagram with `payload` into `buf` (exactly [`Repr::buffer_len`] bytes) and
    /// fills the UDP checksum. Length and next-header fields must agree with the layers present
    /// (see [`Repr::with_lengths`]), else [`Error::BadLength`] / [`Error::BadValue`].
    pub fn emit(&self, buf: &mut [u8], payload: &[u8]) -> Result<()> {
        if *self != self.with_lengths()? {
            return Err(Error::BadLength);
        }
        if buf.len() != self.buffer_len() {
            return Err(Error::BadLength);
        }
        if payload.len() != self.mrc.payload_len() {
            return Err(Error::BadLength);
        }
        self.outer
            .emit(&mut ipv6::Packet::new_unchecked(&mut buf[..]))?;
        let mut at = ipv6::LEN;
        if let Some(s) = &self.srh {
            s.emit(&mut buf[at..])?;
            at += s.buffer_len();
        }
        if let Some(i) = &self.inner {
            i.emit(&mut ipv6::Packet::new_unchecked(&mut buf[at..]))?;
            at += ipv6::LEN;
        }
        let udp_at = at;
        let mut p = mrc::Packet::new_unchecked(&mut buf[udp_at + udp::LEN..]);
        self.mrc.emit(&mut p)?;
        p.payload_mut().copy_from_slice(payload);
        self.udp.emit(
            &mut buf[udp_at..],
            self.final_source(),
            self.final_destination(),
        )
    }

    /// Emits into a new vector.
    pub fn to_bytes(&self, payload: &[u8]) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; self.buffer_len()];
        self.emit(&mut buf, payload)?;
        Ok(buf)
    }
}
