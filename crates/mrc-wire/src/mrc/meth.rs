//! MRC Extended Transport Header (4 bytes): Write-with-Immediate ordering.
//!
//! | bytes | field |
//! |---|---|
//! | 0–1 | RQMSN (16) |
//! | 2–3 | MSN (16) |

use crate::Result;
use crate::field::{fixed_header, put_u16, u16_at};

fixed_header!(4, "METH");

impl<T: AsRef<[u8]>> Packet<T> {
    /// Receive-queue message sequence number (counts Write-with-Immediate messages).
    pub fn rqmsn(&self) -> u16 {
        u16_at(self.bytes(), 0)
    }
    /// Message sequence number (counts all messages).
    pub fn msn(&self) -> u16 {
        u16_at(self.bytes(), 2)
    }
}

/// A parsed METH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Repr {
    /// Receive-queue message sequence number (counts Write-with-Immediate messages).
    pub rqmsn: u16,
    /// Message sequence number (counts all messages).
    pub msn: u16,
}

impl Repr {
    /// Parses a METH.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        p.check_len()?;
        Ok(Self {
            rqmsn: p.rqmsn(),
            msn: p.msn(),
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
        put_u16(b, 0, self.rqmsn);
        put_u16(b, 2, self.msn);
        Ok(())
    }
}
