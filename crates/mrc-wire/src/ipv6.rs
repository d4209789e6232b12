//! The fixed IPv6 header (RFC 8200), 40 bytes.

use core::net::Ipv6Addr;

use crate::field::{fixed_header, put_u16, put_u32, u16_at, u32_at};
use crate::mrc::fits;
use crate::{Error, Result};

fixed_header!(40, "IPv6 header");

/// Next-header value of UDP.
pub const NEXT_UDP: u8 = 17;
/// Next-header value of an encapsulated IPv6 packet.
pub const NEXT_IPV6: u8 = 41;
/// Next-header value of a routing header (the SRH is routing type 4).
pub const NEXT_ROUTING: u8 = 43;

fn addr_at(b: &[u8], at: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(a)
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// IP version (6 for a valid header).
    pub fn version(&self) -> u8 {
        self.bytes()[0] >> 4
    }
    /// Traffic class (DSCP << 2 | ECN).
    pub fn traffic_class(&self) -> u8 {
        ((u16_at(self.bytes(), 0) >> 4) & 0xFF) as u8
    }
    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        u32_at(self.bytes(), 0) & 0x000F_FFFF
    }
    /// Payload length (bytes after this header).
    pub fn payload_len(&self) -> u16 {
        u16_at(self.bytes(), 4)
    }
    /// Next-header value.
    pub fn next_header(&self) -> u8 {
        self.bytes()[6]
    }
    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.bytes()[7]
    }
    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        addr_at(self.bytes(), 8)
    }
    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        addr_at(self.bytes(), 24)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Rewrites the destination address (what a uN switch does after a shift).
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        self.bytes_mut()[24..40].copy_from_slice(&addr.octets());
    }
    /// Rewrites the traffic class (DSCP and ECN).
    pub fn set_traffic_class(&mut self, tc: u8) {
        let b = self.bytes_mut();
        b[0] = 0x60 | (tc >> 4);
        b[1] = (b[1] & 0x0F) | (tc << 4);
    }
}

/// A parsed IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Traffic class (DSCP << 2 | ECN).
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Payload length (bytes after this header).
    pub payload_len: u16,
    /// Next-header value.
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
}

impl Repr {
    /// Parses the header; fails unless the version is 6 and the buffer holds the payload length.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        p.check_len()?;
        if p.version() != 6 {
            return Err(Error::BadValue);
        }
        if p.payload().len() < usize::from(p.payload_len()) {
            return Err(Error::Truncated);
        }
        Ok(Self {
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
            payload_len: p.payload_len(),
            next_header: p.next_header(),
            hop_limit: p.hop_limit(),
            src: p.src_addr(),
            dst: p.dst_addr(),
        })
    }

    /// Header length in bytes.
    pub const fn buffer_len(&self) -> usize {
        LEN
    }

    /// Writes the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) -> Result<()> {
        p.check_len()?;
        fits(self.flow_label, 20)?;
        let b = p.bytes_mut();
        put_u32(
            b,
            0,
            (6 << 28) | (u32::from(self.traffic_class) << 20) | self.flow_label,
        );
        put_u16(b, 4, self.payload_len);
        b[6] = self.next_header;
        b[7] = self.hop_limit;
        b[8..24].copy_from_slice(&self.src.octets());
        b[24..40].copy_from_slice(&self.dst.octets());
        Ok(())
    }
}
