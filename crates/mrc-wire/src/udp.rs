//! UDP (RFC 768) over IPv6, with the checksum over the IPv6 pseudo-header, and the STEV
//! striping of a 32-bit entropy value into the UDP source port and the IPv6 flow label.

use core::net::Ipv6Addr;

use crate::field::{fixed_header, put_u16, u16_at};
use crate::{Error, Result};

fixed_header!(8, "UDP header");

impl<T: AsRef<[u8]>> Packet<T> {
    /// Source port.
    pub fn src_port(&self) -> u16 {
        u16_at(self.bytes(), 0)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        u16_at(self.bytes(), 2)
    }
    /// Length of header and payload.
    pub fn len(&self) -> u16 {
        u16_at(self.bytes(), 4)
    }
    /// True if the length field is zero (never valid).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Checksum.
    pub fn checksum(&self) -> u16 {
        u16_at(self.bytes(), 6)
    }
}

/// A parsed UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

/// Adds `data` to a ones'-complement running sum (RFC 1071). Big-endian 32-bit words summed
/// into a 64-bit accumulator fold to the same 16-bit sum, and four times faster.
fn sum_words(mut acc: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    acc + u64::from(u32::from_be_bytes(tail))
}

fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc as u16
}

/// The UDP checksum of `datagram` (header with its checksum field, plus payload) over the IPv6
/// pseudo-header. With SRv6, `dst` must be the *final* destination (RFC 8200 §8.1).
pub fn checksum(src: Ipv6Addr, dst: Ipv6Addr, datagram: &[u8]) -> u16 {
    let mut acc = sum_words(0, &src.octets());
    acc = sum_words(acc, &dst.octets());
    acc += datagram.len() as u64;
    acc += u64::from(crate::ipv6::NEXT_UDP);
    acc = sum_words(acc, datagram);
    !fold(acc)
}

impl Repr {
    /// Parses the header; checks that the length field matches the buffer and, when `verify` is
    /// set, the checksum (zero is invalid over IPv6).
    pub fn parse<T: AsRef<[u8]>>(
        p: &Packet<T>,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        verify: bool,
    ) -> Result<Self> {
        p.check_len()?;
        let b = p.bytes();
        if usize::from(p.len()) != b.len() {
            return Err(Error::BadLength);
        }
        if verify && (p.checksum() == 0 || checksum(src, dst, b) != 0) {
            return Err(Error::BadChecksum);
        }
        Ok(Self {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
        })
    }

    /// Header length in bytes.
    pub const fn buffer_len(&self) -> usize {
        LEN
    }

    /// Writes the header over a buffer that already holds the payload after it, and fills the
    /// checksum. `buf` is the whole datagram.
    pub fn emit(&self, buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<()> {
        if buf.len() < LEN {
            return Err(Error::Truncated);
        }
        let len = u16::try_from(buf.len()).map_err(|_| Error::Oversized)?;
        put_u16(buf, 0, self.src_port);
        put_u16(buf, 2, self.dst_port);
        put_u16(buf, 4, len);
        put_u16(buf, 6, 0);
        let sum = match checksum(src, dst, buf) {
            0 => 0xFFFF,
            s => s,
        };
        put_u16(buf, 6, sum);
        Ok(())
    }
}

/// STEV striping: UDP source port = EV >> 16, flow label low 16 bits = EV & 0xFFFF.
//= docs/protocol.md §13 item 2
pub const fn stev_encode(ev: u32) -> (u16, u32) {
    ((ev >> 16) as u16, ev & 0xFFFF)
}

/// The EV carried by a UDP source port and an IPv6 flow label (upper flow-label bits ignored).
pub const fn stev_decode(src_port: u16, flow_label: u32) -> u32 {
    ((src_port as u32) << 16) | (flow_label & 0xFFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_emitted_datagram_verifies() {
        let (src, dst) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
        let mut buf = vec![0u8; LEN + 5];
        buf[LEN..].copy_from_slice(b"hello");
        Repr {
            src_port: 1,
            dst_port: 4791,
        }
        .emit(&mut buf, src, dst)
        .unwrap();
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p, src, dst, true).unwrap().dst_port, 4791);
        buf[LEN] ^= 1;
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p, src, dst, true), Err(Error::BadChecksum));
    }

    #[test]
    fn stev_round_trips() {
        assert_eq!(stev_encode(0xABCD_1234), (0xABCD, 0x1234));
        assert_eq!(stev_decode(0xABCD, 0xF_1234), 0xABCD_1234);
    }
}
