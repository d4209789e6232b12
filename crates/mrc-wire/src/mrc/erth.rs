//! Endpoint Request Transport Header (16 bytes): node-scoped EV probes and port status updates.
//! EV probes travel with BTH.DestQP = [`ENDPOINT_QPN`](super::ENDPOINT_QPN) and PSN[15:0] = probe id.
//!
//! | bytes | bits | field |
//! |---|---|---|
//! | 0 | 7–4 / 3–0 | type / next_hdr[4:1] |
//! | 1 | 7 / 6–2 / 1–0 | next_hdr[0] / reserved / op (0 = PORT_STATUS_UPDATE, 1 = EV_PROBE) |
//! | 2 | 8 | reserved |
//! | 3 | 8 | vendor_info |
//! | 4–7 | 32 | port_status_mask (bit N = port N + 1 up) |
//! | 8–11 | 32 | reserved |
//! | 12–13 | 16 | tx_timestamp |
//! | 14–15 | 16 | tsr (bit 15) · reserved (11) · ftype (4) |

use super::{EndpointOp, TypeNext, fits};
use crate::Result;
use crate::field::{fixed_header, put_u16, put_u32, u16_at, u32_at};

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
    /// Transmit timestamp.
    pub fn tx_timestamp(&self) -> u16 {
        u16_at(self.bytes(), 12)
    }
    /// The `tsr` flag.
    pub fn tsr(&self) -> bool {
        u16_at(self.bytes(), 14) & 0x8000 != 0
    }
    /// Format type (4 bits).
    pub fn ftype(&self) -> u8 {
        (u16_at(self.bytes(), 14) & 0x0F) as u8
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
    /// Transmit timestamp.
    pub tx_timestamp: u16,
    /// The `tsr` flag.
    pub tsr: bool,
    /// Format type (4 bits).
    pub ftype: u8,
}

impl Repr {
    /// Parses an ERTH; fails on the reserved operations 2 and 3.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        p.check_len()?;
        Ok(Self {
            type_next: p.type_next(),
            op: EndpointOp::from_bits(p.op_bits())?,
            vendor_info: p.vendor_info(),
            port_status_mask: p.port_status_mask(),
            tx_timestamp: p.tx_timestamp(),
            tsr: p.tsr(),
            ftype: p.ftype(),
        })
    }

    /// Header length in bytes.
    pub const fn buffer_len(&self) -> usize {
        LEN
    }

    /// Writes the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) -> Result<()> {
        p.check_len()?;
        fits(u32::from(self.ftype), 4)?;
        let b = p.bytes_mut();
        b[..LEN].fill(0);
        b[1] = self.op.bits();
        self.type_next.write(b)?;
        b[3] = self.vendor_info;
        put_u32(b, 4, self.port_status_mask);
        put_u16(b, 12, self.tx_timestamp);
        put_u16(b, 14, (u16::from(self.tsr) << 15) | u16::from(self.ftype));
        Ok(())
    }
}
