//! Probe Extended Header (16 bytes): reliability probe, connection-scoped, consumes no PSN.
//!
//! | bytes | field |
//! |---|---|
//! | 0–1 | type (4) · next_hdr (5) · reserved (7) |
//! | 2 | reserved |
//! | 3 | vendor_info |
//! | 4–5 | probe_id |
//! | 6–7 | reserved |
//! | 8–9 / 10–11 | spdcid / dpdcid |
//! | 12–15 | timestamp: the [`tseth`] layout (tx_timestamp · tsr · ftype) |

use super::{TypeNext, tseth};
use crate::Result;
use crate::field::{fixed_header, put_u16, u16_at};

fixed_header!(16, "PETH");

impl<T: AsRef<[u8]>> Packet<T> {
    /// Type and next-header prefix.
    pub fn type_next(&self) -> TypeNext {
        TypeNext::read(self.bytes())
    }
    /// Vendor information.
    pub fn vendor_info(&self) -> u8 {
        self.bytes()[3]
    }
    /// Probe identifier.
    pub fn probe_id(&self) -> u16 {
        u16_at(self.bytes(), 4)
    }
    /// Source PDC id.
    pub fn spdcid(&self) -> u16 {
        u16_at(self.bytes(), 8)
    }
    /// Destination PDC id.
    pub fn dpdcid(&self) -> u16 {
        u16_at(self.bytes(), 10)
    }
    /// The timestamp in the last four bytes (TSETH layout).
    pub fn timestamp(&self) -> tseth::Packet<&[u8]> {
        tseth::Packet::new_unchecked(&self.bytes()[12..LEN])
    }
}

/// A parsed PETH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Repr {
    /// Type and next-header prefix.
    pub type_next: TypeNext,
    /// Vendor information.
    pub vendor_info: u8,
    /// Probe identifier, echoed by the answering SACK's sender state.
    pub probe_id: u16,
    /// Source PDC id.
    pub spdcid: u16,
    /// Destination PDC id.
    pub dpdcid: u16,
    /// Transmit timestamp, tsr flag and format type.
    pub timestamp: tseth::Repr,
}

impl Repr {
    /// Parses a PETH.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        p.check_len()?;
        Ok(Self {
            type_next: p.type_next(),
            vendor_info: p.vendor_info(),
            probe_id: p.probe_id(),
            spdcid: p.spdcid(),
            dpdcid: p.dpdcid(),
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
        let b = p.bytes_mut();
        b[..LEN].fill(0);
        self.type_next.write(b)?;
        b[3] = self.vendor_info;
        put_u16(b, 4, self.probe_id);
        put_u16(b, 8, self.spdcid);
        put_u16(b, 10, self.dpdcid);
        self.timestamp
            .emit(&mut tseth::Packet::new_unchecked(&mut b[12..LEN]))
    }
}
