//! Endpoint Response Extended Transport Header (36 bytes).
//!
//! | bytes | bits | field |
//! |---|---|---|
//! | 0 | 7–4 / 3–0 | type / next_hdr\[4:1\] |
//! | 1 | 7 / 6 / 5–4 / 3–0 | next_hdr\[0\] / reserved / op / reserved |
//! | 2–27 | | reserved |
//! | 28–29 | 16 | tx_timestamp (reflected) |
//! | 30–35 | | reserved |
//!
//! The op bit position differs from ERTH's in the source layout; one of them is probably wrong.

use super::{EndpointOp, TypeNext, fits};
use crate::Result;
use crate::field::{fixed_header, put_u16, u16_at};

fixed_header!(36, "EETH");

impl<T: AsRef<[u8]>> Packet<T> {
    /// Type and next-header prefix.
    pub fn type_next(&self) -> TypeNext {
        TypeNext::read(self.bytes())
    }
    /// Raw 2-bit operation.
    pub fn op_bits(&self) -> u8 {
        (self.bytes()[1] >> 4) & 0x03
    }
    /// Reflected transmit timestamp.
    pub fn tx_timestamp(&self) -> u16 {
        u16_at(self.bytes(), 28)
    }
}

/// A parsed EETH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Type and next-header prefix.
    pub type_next: TypeNext,
    /// Operation being answered.
    pub op: EndpointOp,
    /// Reflected transmit timestamp of the request.
    pub tx_timestamp: u16,
}

impl Repr {
    /// Parses an EETH (an unknown operation is [`EndpointOp::Other`]).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        p.check_len()?;
        Ok(Self {
            type_next: p.type_next(),
            op: EndpointOp::from_bits(p.op_bits()),
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
        fits(u32::from(self.op.bits()), 2)?;
        let b = p.bytes_mut();
        b[..LEN].fill(0);
        b[1] = self.op.bits() << 4;
        self.type_next.write(b)?;
        put_u16(b, 28, self.tx_timestamp);
        Ok(())
    }
}
