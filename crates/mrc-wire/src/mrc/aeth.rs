//! ACK Extended Transport Header (4 bytes), as in InfiniBand.
//!
//! | bytes | field |
//! |---|---|
//! | 0 | syndrome (8) |
//! | 1–3 | MSN (24) |

use super::fits;
use crate::Result;
use crate::field::{fixed_header, put_u24, u24_at};

fixed_header!(4, "AETH");

impl<T: AsRef<[u8]>> Packet<T> {
    /// ACK syndrome.
    pub fn syndrome(&self) -> u8 {
        self.bytes()[0]
    }
    /// Message sequence number (24 bits).
    pub fn msn(&self) -> u32 {
        u24_at(self.bytes(), 1)
    }
}

/// A parsed AETH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Repr {
    /// ACK syndrome.
    pub syndrome: u8,
    /// Message sequence number (24 bits).
    pub msn: u32,
}

impl Repr {
    /// Parses an AETH.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        p.check_len()?;
        Ok(Self {
            syndrome: p.syndrome(),
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
        fits(self.msn, 24)?;
        let b = p.bytes_mut();
        b[0] = self.syndrome;
        put_u24(b, 1, self.msn);
        Ok(())
    }
}
