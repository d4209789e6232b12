//! CC_STATE (8 bytes), the congestion-control echo that follows a SETH.
//!
//! | bytes | bits | field |
//! |---|---|---|
//! | 0–1 | 16 | tx_timestamp (reflected from TSETH) |
//! | 2–3 | 15 / 14–0 | reserved / ooo_count |
//! | 4 | 7 / 6–0 | r_c / rcv_cwnd_pen |
//! | 5–7 | 24 | rcvd_bytes (cumulative, modulo 2^24, in configurable units) |

use super::fits;
use crate::Result;
use crate::field::{fixed_header, put_u16, put_u24, u16_at, u24_at};

fixed_header!(8, "CC_STATE");

impl<T: AsRef<[u8]>> Packet<T> {
    /// Reflected transmit timestamp.
    pub fn tx_timestamp(&self) -> u16 {
        u16_at(self.bytes(), 0)
    }
    /// Out-of-order packet count (15 bits).
    pub fn ooo_count(&self) -> u16 {
        u16_at(self.bytes(), 2) & 0x7FFF
    }
    /// The `r_c` flag.
    pub fn r_c(&self) -> bool {
        self.bytes()[4] & 0x80 != 0
    }
    /// Responder window penalty (7 bits).
    pub fn rcv_cwnd_pen(&self) -> u8 {
        self.bytes()[4] & 0x7F
    }
    /// Cumulative received bytes modulo 2^24 (in configurable units).
    pub fn rcvd_bytes(&self) -> u32 {
        u24_at(self.bytes(), 5)
    }
}

/// A parsed CC_STATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Repr {
    /// Reflected transmit timestamp.
    pub tx_timestamp: u16,
    /// Out-of-order packet count (15 bits).
    pub ooo_count: u16,
    /// The `r_c` flag (meaning not public).
    pub r_c: bool,
    /// Responder window penalty: 0 = none … 127 = one packet per RTT.
    pub rcv_cwnd_pen: u8,
    /// Cumulative received bytes modulo 2^24 (units are configuration; 256 B by default).
    pub rcvd_bytes: u32,
}

impl Repr {
    /// Parses a CC_STATE.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        p.check_len()?;
        Ok(Self {
            tx_timestamp: p.tx_timestamp(),
            ooo_count: p.ooo_count(),
            r_c: p.r_c(),
            rcv_cwnd_pen: p.rcv_cwnd_pen(),
            rcvd_bytes: p.rcvd_bytes(),
        })
    }

    /// Header length in bytes.
    pub const fn buffer_len(&self) -> usize {
        LEN
    }

    /// Writes the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) -> Result<()> {
        p.check_len()?;
        fits(u32::from(self.ooo_count), 15)?;
        fits(u32::from(self.rcv_cwnd_pen), 7)?;
        fits(self.rcvd_bytes, 24)?;
        let b = p.bytes_mut();
        put_u16(b, 0, self.tx_timestamp);
        put_u16(b, 2, self.ooo_count);
        b[4] = (u8::from(self.r_c) << 7) | self.rcv_cwnd_pen;
        put_u24(b, 5, self.rcvd_bytes);
        Ok(())
    }
}
