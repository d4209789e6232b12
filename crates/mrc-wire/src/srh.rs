//! The Segment Routing Header (IPv6 routing header type 4, RFC 8754).
//!
//! | bytes | field |
//! |---|---|
//! | 0 | next header |
//! | 1 | hdr ext len (8-byte units after the first 8 bytes) |
//! | 2 | routing type (4) |
//! | 3 | segments left |
//! | 4 | last entry |
//! | 5 | flags |
//! | 6–7 | tag |
//! | 8… | segment list (16 bytes each, last segment first), then TLVs |
//!
//! A *reduced* SRH (RFC 8754 §4.1.1, §4.3.1.1) leaves the first segment out of the list: it is
//! only in the IPv6 destination address, so Segments Left = Last Entry + 1. Linux
//! `encap seg6 mode encap.red` emits one whenever the route has more than one SID.

use core::net::Ipv6Addr;

use crate::field::{put_u16, u16_at};
use crate::{Error, Result};

/// Length of the fixed part before the segment list.
pub const FIXED_LEN: usize = 8;
/// Routing type of the SRH.
pub const ROUTING_TYPE: u8 = 4;
/// Most segments this codec carries (a uSID carrier each holds up to six uSIDs).
pub const MAX_SEGMENTS: usize = 8;

/// A view of an SRH at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the buffer holds the whole header (as its length field says) and that the
    /// segment list fits inside it.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < FIXED_LEN {
            return Err(Error::Truncated);
        }
        if b.len() < self.header_len() {
            return Err(Error::Truncated);
        }
        if self.segment_count() * 16 > self.header_len() - FIXED_LEN
            || usize::from(self.segments_left()) > self.segment_count()
        {
            return Err(Error::BadLength);
        }
        Ok(())
    }

    /// Next-header value.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    /// Whole header length in bytes, from the hdr ext len field.
    pub fn header_len(&self) -> usize {
        FIXED_LEN + usize::from(self.buffer.as_ref()[1]) * 8
    }
    /// Routing type (4 for an SRH).
    pub fn routing_type(&self) -> u8 {
        self.buffer.as_ref()[2]
    }
    /// Segments left.
    pub fn segments_left(&self) -> u8 {
        self.buffer.as_ref()[3]
    }
    /// Index of the last entry of the segment list.
    pub fn last_entry(&self) -> u8 {
        self.buffer.as_ref()[4]
    }
    /// Number of segments in the list.
    pub fn segment_count(&self) -> usize {
        usize::from(self.last_entry()) + 1
    }
    /// Flags.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[5]
    }
    /// Tag.
    pub fn tag(&self) -> u16 {
        u16_at(self.buffer.as_ref(), 6)
    }
    /// Segment `i` of the list (0 = the final segment).
    pub fn segment(&self, i: usize) -> Ipv6Addr {
        let at = FIXED_LEN + 16 * i;
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[at..at + 16]);
        Ipv6Addr::from(a)
    }
    /// The bytes after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

/// A parsed SRH. TLV contents are not kept: their length is, and `emit` writes that many zero
/// bytes (Pad1 TLVs), so lengths survive a round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Next-header value.
    pub next_header: u8,
    /// Segments left.
    pub segments_left: u8,
    /// Flags.
    pub flags: u8,
    /// Tag.
    pub tag: u16,
    /// Bytes of TLVs after the segment list (a multiple of 8 on the wire).
    pub tlv_len: u16,
    segments: [Ipv6Addr; MAX_SEGMENTS],
    len: u8,
}

impl Repr {
    /// An SRH with the given segment list (index 0 = final segment) and segments left.
    ///
    /// `segments_left = segments.len()` makes a reduced SRH (the active segment is only in the
    /// IPv6 destination address).
    ///
    /// Fails with [`Error::Oversized`] for an empty list or more than [`MAX_SEGMENTS`], and with
    /// [`Error::BadValue`] if `segments_left` points further than one past the list.
    pub fn new(next_header: u8, segments: &[Ipv6Addr], segments_left: u8) -> Result<Self> {
        if segments.is_empty() || segments.len() > MAX_SEGMENTS {
            return Err(Error::Oversized);
        }
        if usize::from(segments_left) > segments.len() {
            return Err(Error::BadValue);
        }
        let mut all = [Ipv6Addr::UNSPECIFIED; MAX_SEGMENTS];
        all[..segments.len()].copy_from_slice(segments);
        Ok(Self {
            next_header,
            segments_left,
            flags: 0,
            tag: 0,
            tlv_len: 0,
            segments: all,
            len: segments.len() as u8,
        })
    }

    /// The segment list (index 0 = the final segment).
    pub fn segments(&self) -> &[Ipv6Addr] {
        &self.segments[..usize::from(self.len)]
    }

    /// True for a reduced SRH: the active segment is not in the list (Segments Left = Last
    /// Entry + 1).
    pub fn is_reduced(&self) -> bool {
        self.segments_left == self.len
    }

    /// The packet's final destination: segment 0.
    pub fn final_destination(&self) -> Ipv6Addr {
        self.segments[0]
    }

    /// Parses an SRH; fails on another routing type or more than [`MAX_SEGMENTS`] segments.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        p.check_len()?;
        if p.routing_type() != ROUTING_TYPE {
            return Err(Error::BadValue);
        }
        let n = p.segment_count();
        if n > MAX_SEGMENTS {
            return Err(Error::Oversized);
        }
        let mut segments = [Ipv6Addr::UNSPECIFIED; MAX_SEGMENTS];
        for (i, s) in segments.iter_mut().take(n).enumerate() {
            *s = p.segment(i);
        }
        Ok(Self {
            next_header: p.next_header(),
            segments_left: p.segments_left(),
            flags: p.flags(),
            tag: p.tag(),
            tlv_len: (p.header_len() - FIXED_LEN - 16 * n) as u16,
            segments,
            len: n as u8,
        })
    }

    /// Header length in bytes.
    pub fn buffer_len(&self) -> usize {
        FIXED_LEN + 16 * usize::from(self.len) + usize::from(self.tlv_len)
    }

    /// Writes the header.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let len = self.buffer_len();
        if buf.len() < len {
            return Err(Error::Truncated);
        }
        if self.len == 0 || self.segments_left > self.len || !self.tlv_len.is_multiple_of(8) {
            return Err(Error::BadValue);
        }
        let ext_len = (len - FIXED_LEN) / 8;
        buf[0] = self.next_header;
        buf[1] = u8::try_from(ext_len).map_err(|_| Error::Oversized)?;
        buf[2] = ROUTING_TYPE;
        buf[3] = self.segments_left;
        buf[4] = self.len - 1;
        buf[5] = self.flags;
        put_u16(buf, 6, self.tag);
        for (i, s) in self.segments().iter().enumerate() {
            buf[FIXED_LEN + 16 * i..FIXED_LEN + 16 * (i + 1)].copy_from_slice(&s.octets());
        }
        buf[len - usize::from(self.tlv_len)..len].fill(0);
        Ok(())
    }
}
