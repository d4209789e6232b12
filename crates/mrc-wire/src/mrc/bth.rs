//! Base Transport Header (12 bytes) with the MRC flags.
//!
//! | bytes | bits | field |
//! |---|---|---|
//! | 0 | 8 | opcode |
//! | 1 | 7 / 6 / 5–4 / 3–0 | M / SE / PadCnt / TVer (EMU order; IB has SE at bit 7) |
//! | 2–3 | 16 | P_Key |
//! | 4 | 8 | reserved |
//! | 5–7 | 24 | DestQP |
//! | 8 | 7 / 6 / 5 / 4 / 3–0 | A / R / rtx / ts / reserved |
//! | 9–11 | 24 | PSN |

use super::{Opcode, fits};
use crate::field::{fixed_header, put_u16, put_u24, u16_at, u24_at};
use crate::{Psn, Result};

fixed_header!(12, "BTH");

impl<T: AsRef<[u8]>> Packet<T> {
    /// Raw opcode byte.
    pub fn opcode_raw(&self) -> u8 {
        self.bytes()[0]
    }
    /// Migration-request flag (M).
    pub fn migreq(&self) -> bool {
        self.bytes()[1] & 0x80 != 0
    }
    /// Solicited-event flag (SE).
    pub fn solicited(&self) -> bool {
        self.bytes()[1] & 0x40 != 0
    }
    /// Pad count (2 bits).
    pub fn pad_count(&self) -> u8 {
        (self.bytes()[1] >> 4) & 0x03
    }
    /// Transport header version (4 bits).
    pub fn tver(&self) -> u8 {
        self.bytes()[1] & 0x0F
    }
    /// Partition key.
    pub fn pkey(&self) -> u16 {
        u16_at(self.bytes(), 2)
    }
    /// Destination QP number (24 bits).
    pub fn dest_qp(&self) -> u32 {
        u24_at(self.bytes(), 5)
    }
    /// Ack-request flag (A).
    pub fn ack_req(&self) -> bool {
        self.bytes()[8] & 0x80 != 0
    }
    /// The `R` flag (meaning not public).
    pub fn r_flag(&self) -> bool {
        self.bytes()[8] & 0x40 != 0
    }
    /// Retransmission flag (rtx).
    pub fn retransmit(&self) -> bool {
        self.bytes()[8] & 0x20 != 0
    }
    /// TSETH-present flag (ts).
    pub fn timestamp(&self) -> bool {
        self.bytes()[8] & 0x10 != 0
    }
    /// Packet sequence number.
    pub fn psn(&self) -> Psn {
        Psn::new(u24_at(self.bytes(), 9))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the PSN.
    pub fn set_psn(&mut self, psn: Psn) {
        put_u24(self.bytes_mut(), 9, psn.value());
    }
    /// Sets or clears the retransmission flag.
    pub fn set_retransmit(&mut self, rtx: bool) {
        let b = &mut self.bytes_mut()[8];
        *b = (*b & !0x20) | if rtx { 0x20 } else { 0 };
    }
}

/// A parsed BTH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Opcode.
    pub opcode: Opcode,
    /// Migration-request flag (M).
    pub migreq: bool,
    /// Solicited-event flag (SE).
    pub solicited: bool,
    /// Pad count (2 bits).
    pub pad_count: u8,
    /// Transport header version (4 bits).
    pub tver: u8,
    /// Partition key.
    pub pkey: u16,
    /// Destination QP number (24 bits).
    pub dest_qp: u32,
    /// Ack request (A): the responder should SACK at once.
    pub ack_req: bool,
    /// The `R` flag (meaning not public; carried unchanged).
    pub r_flag: bool,
    /// Retransmission (rtx).
    pub retransmit: bool,
    /// A TSETH follows the MRC header (ts).
    pub timestamp: bool,
    /// Packet sequence number.
    pub psn: Psn,
}

impl Repr {
    /// A BTH with the given opcode, QP and PSN and every flag clear (P_Key 0xFFFF).
    pub const fn new(opcode: Opcode, dest_qp: u32, psn: Psn) -> Self {
        Self {
            opcode,
            migreq: false,
            solicited: false,
            pad_count: 0,
            tver: 0,
            pkey: 0xFFFF,
            dest_qp,
            ack_req: false,
            r_flag: false,
            retransmit: false,
            timestamp: false,
            psn,
        }
    }

    /// Parses a BTH; fails on an unknown opcode.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        p.check_len()?;
        Ok(Self {
            opcode: Opcode::from_u8(p.opcode_raw())?,
            migreq: p.migreq(),
            solicited: p.solicited(),
            pad_count: p.pad_count(),
            tver: p.tver(),
            pkey: p.pkey(),
            dest_qp: p.dest_qp(),
            ack_req: p.ack_req(),
            r_flag: p.r_flag(),
            retransmit: p.retransmit(),
            timestamp: p.timestamp(),
            psn: p.psn(),
        })
    }

    /// Header length in bytes.
    pub const fn buffer_len(&self) -> usize {
        LEN
    }

    /// Writes the header; fails if a field does not fit its width.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) -> Result<()> {
        p.check_len()?;
        fits(u32::from(self.pad_count), 2)?;
        fits(u32::from(self.tver), 4)?;
        fits(self.dest_qp, 24)?;
        let b = p.bytes_mut();
        b[0] = self.opcode as u8;
        b[1] = (u8::from(self.migreq) << 7)
            | (u8::from(self.solicited) << 6)
            | (self.pad_count << 4)
            | self.tver;
        put_u16(b, 2, self.pkey);
        b[4] = 0;
        put_u24(b, 5, self.dest_qp);
        b[8] = (u8::from(self.ack_req) << 7)
            | (u8::from(self.r_flag) << 6)
            | (u8::from(self.retransmit) << 5)
            | (u8::from(self.timestamp) << 4);
        put_u24(b, 9, self.psn.value());
        Ok(())
    }
}
