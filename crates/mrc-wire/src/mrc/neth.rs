//! NACK Extended Header (20 bytes).
//!
//! | bytes | bits | field |
//! |---|---|---|
//! | 0 | 7–4 / 3–0 | type / next_hdr\[4:1\] |
//! | 1 | 7 / 6–0 | next_hdr\[0\] / reserved |
//! | 2 | 8 | nack_reason |
//! | 3 | 8 | vendor_info |
//! | 4–7 | 32 | entropy (EV of the NACKed packet) |
//! | 8–9 / 10–11 | 16 / 16 | spdcid / dpdcid |
//! | 12 | 8 | reserved |
//! | 13–15 | 24 | nack_psn |
//! | 16 | 7–4 / 3–0 | cc_type / cc_flags |
//! | 17 | 8 | reserved |
//! | 18–19 | 16 | tx_timestamp |

use super::{NackReason, TypeNext, fits};
use crate::field::{fixed_header, put_u16, put_u24, put_u32, u16_at, u24_at, u32_at};
use crate::{Psn, Result};

fixed_header!(20, "NETH");

impl<T: AsRef<[u8]>> Packet<T> {
    /// Type and next-header prefix.
    pub fn type_next(&self) -> TypeNext {
        TypeNext::read(self.bytes())
    }
    /// Raw NACK reason code.
    pub fn reason_raw(&self) -> u8 {
        self.bytes()[2]
    }
    /// Vendor information.
    pub fn vendor_info(&self) -> u8 {
        self.bytes()[3]
    }
    /// EV of the NACKed packet.
    pub fn entropy(&self) -> u32 {
        u32_at(self.bytes(), 4)
    }
    /// Source PDC id.
    pub fn spdcid(&self) -> u16 {
        u16_at(self.bytes(), 8)
    }
    /// Destination PDC id.
    pub fn dpdcid(&self) -> u16 {
        u16_at(self.bytes(), 10)
    }
    /// The NACKed PSN.
    pub fn nack_psn(&self) -> Psn {
        Psn::new(u24_at(self.bytes(), 13))
    }
    /// Congestion-control type (4 bits).
    pub fn cc_type(&self) -> u8 {
        self.bytes()[16] >> 4
    }
    /// Congestion-control flags (4 bits).
    pub fn cc_flags(&self) -> u8 {
        self.bytes()[16] & 0x0F
    }
    /// Reflected transmit timestamp.
    pub fn tx_timestamp(&self) -> u16 {
        u16_at(self.bytes(), 18)
    }
}

/// A parsed NETH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Type and next-header prefix.
    pub type_next: TypeNext,
    /// Why the packet was not accepted.
    pub reason: NackReason,
    /// Vendor information.
    pub vendor_info: u8,
    /// EV of the NACKed packet.
    pub entropy: u32,
    /// Source PDC id.
    pub spdcid: u16,
    /// Destination PDC id.
    pub dpdcid: u16,
    /// The NACKed PSN.
    pub nack_psn: Psn,
    /// Congestion-control type (4 bits; the emulator uses 0x2).
    pub cc_type: u8,
    /// Congestion-control flags (4 bits).
    pub cc_flags: u8,
    /// Reflected transmit timestamp.
    pub tx_timestamp: u16,
}

impl Repr {
    /// Parses a NETH (an unknown reason code is [`NackReason::Other`]).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        p.check_len()?;
        Ok(Self {
            type_next: p.type_next(),
            reason: NackReason::from_u8(p.reason_raw()),
            vendor_info: p.vendor_info(),
            entropy: p.entropy(),
            spdcid: p.spdcid(),
            dpdcid: p.dpdcid(),
            nack_psn: p.nack_psn(),
            cc_type: p.cc_type(),
            cc_flags: p.cc_flags(),
            tx_timestamp: p.tx_timestamp(),
        })
    }

    /// Header length in bytes.
    pub const fn buffer_len(&self) -> usize {
        LEN
    }

    /// Writes the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) -> Result<()> {
        p.check_len()?;
        fits(u32::from(self.cc_type), 4)?;
        fits(u32::from(self.cc_flags), 4)?;
        let b = p.bytes_mut();
        b[1] = 0;
        self.type_next.write(b)?;
        b[2] = self.reason.code();
        b[3] = self.vendor_info;
        put_u32(b, 4, self.entropy);
        put_u16(b, 8, self.spdcid);
        put_u16(b, 10, self.dpdcid);
        b[12] = 0;
        put_u24(b, 13, self.nack_psn.value());
        b[16] = (self.cc_type << 4) | self.cc_flags;
        b[17] = 0;
        put_u16(b, 18, self.tx_timestamp);
        Ok(())
    }
}
