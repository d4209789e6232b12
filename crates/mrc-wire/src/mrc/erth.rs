//! Endpoint Request Transport Header (16 bytes): node-scoped EV probes and port status updates.
//! EV probes travel with BTH.DestQP = [`ENDPOINT_QPN`](super::ENDPOINT_QPN) and PSN\[15:0\] = probe id.
//!
//! | bytes | bits | field |
//! |---|---|---|
//! | 0 | 7–4 / 3–0 | type / next_hdr\[4:1\] |
//! | 1 | 7 / 6–2 / 1–0 | next_hdr\[0\] / reserved / op (0 = PORT_STATUS_UPDATE, 1 = EV_PROBE) |
//! | 2 | 8 | reserved |
//! | 3 | 8 | vendor_info |
//! | 4–7 | 32 | port_status_mask (bit N = port N + 1 up) |
//! | 8–11 | 32 | reserved |
//! | 12–15 | 32 | timestamp: the [`tseth`] layout (tx_timestamp · tsr · ftype) |

use super::{EndpointOp, TypeNext, fits, tseth};
use crate::Result;
use crate::field::{fixed_header, put_u32, u32_at};

fixed_header!(16, "ERTH");

impl<T: AsRef<[u8]>> Packet<T> {
    /// Type and next-header prefix.
    pub fn type_next(&self) -> TypeNext {
        TypeNext::read(self.bytes())
    }
    /// Raw 2-bit operation.
    pub fn op_bits(&self) -> u8 {
        self.bytes()[1] & 0x03
    }
    /// Vendor information.
    pub fn vendor_info(&self) -> u8 {
        self.bytes()[3]
    }
    /// Port status bitmask.
    pub fn port_status_mask(&self) -> u32 {
        u32_at(self.bytes(), 4)
    }
    /// The timestamp in the last four bytes (TSETH layout).
    pub fn timestamp(&self) -> tseth::Packet<&[u8]> {
        tseth::Packet::new_unchecked(&self.bytes()[12..LEN])
    }
}

/// A parsed ERTH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Type and next-header prefix.
    pub type_next: TypeNext,
    /// Request operation.
    pub op: EndpointOp,
    /// Vendor information.
    pub vendor_info: u8,
    /// Ports that are up (bit N = port N + 1), for port status updates.
    pub port_status_mask: u32,
    /// Transmit timestamp, tsr flag and format type.
    pub timestamp: tseth::Repr,
}

impl Repr {
    /// Parses an ERTH (an unknown operation is [`EndpointOp::Other`]).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        p.check_len()?;
        Ok(Self {
            type_next: p.type_next(),
            op: EndpointOp::from_bits(p.op_bits()),
            vendor_info: p.vendor_info(),
            port_status_mask: p.port_status_mask(),
            timestamp: tseth::Repr::parse(&p.timestamp())?,
        })
    }

    /// Header length in bytes.
    pub const fn buffer_len(&self) -> usize {
        LEN
    }

    /// Writes the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) -> Result<()> {
        p.check_len()?;
        fits(u32::from(self.op.bits()), 2)?;
        let b = p.bytes_mut();
        b[..LEN].fill(0);
        b[1] = self.op.bits();
        self.type_next.write(b)?;
        b[3] = self.vendor_info;
        put_u32(b, 4, self.port_status_mask);
        self.timestamp
            .emit(&mut tseth::Packet::new_unchecked(&mut b[12..LEN]))
    }
}
