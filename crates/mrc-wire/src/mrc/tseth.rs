//! Timestamp Extended Header (4 bytes), present when BTH.ts = 1.
//!
//! | bytes | bits | field |
//! |---|---|---|
//! | 0–1 | 16 | tx_timestamp |
//! | 2–3 | 15 / 14–4 / 3–0 | tsr / reserved / ftype |

use super::fits;
use crate::Result;
use crate::field::{fixed_header, put_u16, u16_at};

fixed_header!(4, "TSETH");

impl<T: AsRef<[u8]>> Packet<T> {
    /// Transmit timestamp (16 bits; clock and unit are configuration).
    pub fn tx_timestamp(&self) -> u16 {
        u16_at(self.bytes(), 0)
    }
    /// The `tsr` flag.
    pub fn tsr(&self) -> bool {
        u16_at(self.bytes(), 2) & 0x8000 != 0
    }
    /// Format type (4 bits).
    pub fn ftype(&self) -> u8 {
        (u16_at(self.bytes(), 2) & 0x0F) as u8
    }
}

/// A parsed TSETH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Repr {
    /// Transmit timestamp (16 bits), reflected in the SACK's CC_STATE.
    pub tx_timestamp: u16,
    /// The `tsr` flag.
    pub tsr: bool,
    /// Format type (4 bits; the emulator uses 0x1).
    pub ftype: u8,
}

impl Repr {
    /// Parses a TSETH.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        p.check_len()?;
        Ok(Self {
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
        put_u16(b, 0, self.tx_timestamp);
        put_u16(b, 2, (u16::from(self.tsr) << 15) | u16::from(self.ftype));
        Ok(())
    }
}
