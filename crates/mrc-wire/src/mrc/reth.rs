//! RDMA Extended Transport Header (16 bytes), carried by every MRC data packet so the responder
//! can place each one on arrival.
//!
//! | bytes | field |
//! |---|---|
//! | 0–7 | VA (64) |
//! | 8–11 | R_Key (32) |
//! | 12–15 | DMA length (32) |

use crate::Result;
use crate::field::{fixed_header, put_u32, put_u64, u32_at, u64_at};

fixed_header!(16, "RETH");

impl<T: AsRef<[u8]>> Packet<T> {
    /// Remote virtual address of this packet's payload.
    pub fn va(&self) -> u64 {
        u64_at(self.bytes(), 0)
    }
    /// Remote memory key.
    pub fn rkey(&self) -> u32 {
        u32_at(self.bytes(), 8)
    }
    /// DMA length.
    pub fn dma_len(&self) -> u32 {
        u32_at(self.bytes(), 12)
    }
}

/// A parsed RETH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Repr {
    /// Remote virtual address of this packet's payload.
    pub va: u64,
    /// Remote memory key.
    pub rkey: u32,
    /// DMA length.
    pub dma_len: u32,
}

impl Repr {
    /// Parses a RETH.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        p.check_len()?;
        Ok(Self {
            va: p.va(),
            rkey: p.rkey(),
            dma_len: p.dma_len(),
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
        put_u64(b, 0, self.va);
        put_u32(b, 8, self.rkey);
        put_u32(b, 12, self.dma_len);
        Ok(())
    }
}
