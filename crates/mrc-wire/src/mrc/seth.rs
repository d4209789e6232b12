//! SACK Extended Header (28 bytes); a [`cc_state`](super::cc_state) header follows it.
//!
//! | bytes | bits | field |
//! |---|---|---|
//! | 0 | 7–4 / 3–0 | type / next_hdr\[4:1\] |
//! | 1 | 7 / 6–5 / 4–2 / 1 / 0 | next_hdr\[0\] / M / reserved / pr / reserved |
//! | 2–3 | 16 signed | ack_psn_offset (ack_psn = cack_psn + offset) |
//! | 4–7 | 32 | entropy (EV of the triggering packet) |
//! | 8–9 / 10–11 | 16 / 16 | spdcid / dpdcid |
//! | 12 | 8 | reserved |
//! | 13–15 | 24 | cack_psn |
//! | 16 | 7–4 / 3–0 | cc_type / cc_flags |
//! | 17 | 8 | mpr (×128 PSNs) |
//! | 18–19 | 16 signed | sack_offset (bitmap base = cack_psn + offset) |
//! | 20–27 | 64 | sack_bitmap (bit i ↔ PSN base + i, bit 0 = LSB) |

use super::{PathMark, TypeNext, fits};
use crate::field::{
    fixed_header, put_u16, put_u24, put_u32, put_u64, u16_at, u24_at, u32_at, u64_at,
};
use crate::{Psn, Result};

fixed_header!(28, "SETH");

impl<T: AsRef<[u8]>> Packet<T> {
    /// Type and next-header prefix.
    pub fn type_next(&self) -> TypeNext {
        TypeNext::read(self.bytes())
    }
    /// Raw 2-bit path mark (M).
    pub fn mark_bits(&self) -> u8 {
        (self.bytes()[1] >> 5) & 0x03
    }
    /// The `pr` flag.
    pub fn pr(&self) -> bool {
        self.bytes()[1] & 0x02 != 0
    }
    /// Offset of the triggering PSN from the cumulative ack.
    pub fn ack_psn_offset(&self) -> i16 {
        u16_at(self.bytes(), 2) as i16
    }
    /// EV of the triggering packet.
    pub fn entropy(&self) -> u32 {
        u32_at(self.bytes(), 4)
    }
    /// Source PDC id (low 16 bits of the source QPN).
    pub fn spdcid(&self) -> u16 {
        u16_at(self.bytes(), 8)
    }
    /// Destination PDC id (low 16 bits of the destination QPN).
    pub fn dpdcid(&self) -> u16 {
        u16_at(self.bytes(), 10)
    }
    /// Cumulative ack: every PSN up to and including it has arrived.
    pub fn cack_psn(&self) -> Psn {
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
    /// Dynamic MPR grant (×128 PSNs).
    pub fn mpr(&self) -> u8 {
        self.bytes()[17]
    }
    /// Offset of the bitmap base from the cumulative ack.
    pub fn sack_offset(&self) -> i16 {
        u16_at(self.bytes(), 18) as i16
    }
    /// SACK bitmap.
    pub fn sack_bitmap(&self) -> u64 {
        u64_at(self.bytes(), 20)
    }
}

/// A parsed SETH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Repr {
    /// Type and next-header prefix.
    pub type_next: TypeNext,
    /// Path mark echoed for the triggering packet's EV.
    pub mark: PathMark,
    /// The `pr` flag (perhaps "probe response"; meaning not public).
    pub pr: bool,
    /// Offset of the triggering PSN from `cack_psn`.
    pub ack_psn_offset: i16,
    /// EV of the triggering packet, reflected.
    pub entropy: u32,
    /// Source PDC id.
    pub spdcid: u16,
    /// Destination PDC id.
    pub dpdcid: u16,
    /// Cumulative ack.
    pub cack_psn: Psn,
    /// Congestion-control type (4 bits).
    pub cc_type: u8,
    /// Congestion-control flags (4 bits).
    pub cc_flags: u8,
    /// Dynamic MPR grant (×128 PSNs).
    pub mpr: u8,
    /// Offset of the bitmap base from `cack_psn`.
    pub sack_offset: i16,
    /// SACK bitmap: bit i set ↔ PSN `cack_psn + sack_offset + i` has arrived.
    pub sack_bitmap: u64,
}

impl Repr {
    /// Parses a SETH (an unknown path mark is [`PathMark::Other`]).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        p.check_len()?;
        Ok(Self {
            type_next: p.type_next(),
            mark: PathMark::from_bits(p.mark_bits()),
            pr: p.pr(),
            ack_psn_offset: p.ack_psn_offset(),
            entropy: p.entropy(),
            spdcid: p.spdcid(),
            dpdcid: p.dpdcid(),
            cack_psn: p.cack_psn(),
            cc_type: p.cc_type(),
            cc_flags: p.cc_flags(),
            mpr: p.mpr(),
            sack_offset: p.sack_offset(),
            sack_bitmap: p.sack_bitmap(),
        })
    }

    /// Header length in bytes.
    pub const fn buffer_len(&self) -> usize {
        LEN
    }

    /// The PSN whose arrival triggered this SACK.
    pub fn ack_psn(&self) -> Psn {
        self.cack_psn.offset(i32::from(self.ack_psn_offset))
    }

    /// The PSN that bit 0 of the bitmap stands for.
    pub fn bitmap_base(&self) -> Psn {
        self.cack_psn.offset(i32::from(self.sack_offset))
    }

    /// Writes the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) -> Result<()> {
        p.check_len()?;
        fits(u32::from(self.cc_type), 4)?;
        fits(u32::from(self.cc_flags), 4)?;
        fits(u32::from(self.mark.bits()), 2)?;
        let b = p.bytes_mut();
        b[1] = (self.mark.bits() << 5) | (u8::from(self.pr) << 1);
        self.type_next.write(b)?;
        put_u16(b, 2, self.ack_psn_offset as u16);
        put_u32(b, 4, self.entropy);
        put_u16(b, 8, self.spdcid);
        put_u16(b, 10, self.dpdcid);
        b[12] = 0;
        put_u24(b, 13, self.cack_psn.value());
        b[16] = (self.cc_type << 4) | self.cc_flags;
        b[17] = self.mpr;
        put_u16(b, 18, self.sack_offset as u16);
        put_u64(b, 20, self.sack_bitmap);
        Ok(())
    }
}
