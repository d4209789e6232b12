//! MRC transport headers: BTH with the MRC opcodes and the MRC extension headers.
//!
//! ⚠ Every layout here comes from a third-party emulator that claims to follow OCP MRC 1.0
//! (`docs/protocol.md` §5, mark \[E\]); none is checked against the spec tables. This module is the
//! only place that knows them, and `tests/golden.rs` pins each one byte for byte, so a correction
//! is a change here plus new golden bytes.

pub mod aeth;
pub mod bth;
pub mod cc_state;
pub mod eeth;
pub mod erth;
pub mod meth;
pub mod neth;
pub mod peth;
pub mod reth;
pub mod seth;
pub mod tseth;

mod packet;

pub use packet::{Body, ICRC_LEN, Packet, Repr, Write};

use crate::{Error, Result};

/// UDP destination port of RoCEv2 and MRC.
pub const UDP_PORT: u16 = 4791;

/// Length of the immediate-data header (ImmDt).
pub const IMMDT_LEN: usize = 4;

/// Destination QP number of connectionless endpoint requests (EV probes, port status updates).
//= docs/protocol.md §5.4: EV probes use BTH.DestQP = 0x2.
pub const ENDPOINT_QPN: u32 = 0x2;

/// BTH opcodes of MRC (`docs/protocol.md` §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Opcode {
    /// First packet of a multi-packet RDMA Write.
    WriteFirst = 0xC6,
    /// Middle packet of a multi-packet RDMA Write.
    WriteMiddle = 0xC7,
    /// Last packet of a multi-packet RDMA Write.
    WriteLast = 0xC8,
    /// Last packet of a multi-packet RDMA Write with Immediate.
    WriteLastImm = 0xC9,
    /// Single-packet RDMA Write.
    WriteOnly = 0xCA,
    /// Single-packet RDMA Write with Immediate.
    WriteOnlyImm = 0xCB,
    /// Transport ACK (AETH), kept for compatibility.
    Ack = 0xD1,
    /// Endpoint request (ERTH): EV probe or port status update.
    EndpointRequest = 0xD8,
    /// Endpoint response (EETH).
    EndpointResponse = 0xD9,
    /// Selective acknowledgement (SETH + CC_STATE).
    Sack = 0xDC,
    /// Negative acknowledgement (NETH).
    Nack = 0xDD,
    /// Reliability probe request (PETH).
    ProbeRequest = 0xDE,
}

impl Opcode {
    /// Every opcode, in numeric order.
    pub const ALL: [Self; 12] = [
        Self::WriteFirst,
        Self::WriteMiddle,
        Self::WriteLast,
        Self::WriteLastImm,
        Self::WriteOnly,
        Self::WriteOnlyImm,
        Self::Ack,
        Self::EndpointRequest,
        Self::EndpointResponse,
        Self::Sack,
        Self::Nack,
        Self::ProbeRequest,
    ];

    /// The opcode for a raw byte, or [`Error::BadValue`].
    pub const fn from_u8(value: u8) -> Result<Self> {
        Ok(match value {
            0xC6 => Self::WriteFirst,
            0xC7 => Self::WriteMiddle,
            0xC8 => Self::WriteLast,
            0xC9 => Self::WriteLastImm,
            0xCA => Self::WriteOnly,
            0xCB => Self::WriteOnlyImm,
            0xD1 => Self::Ack,
            0xD8 => Self::EndpointRequest,
            0xD9 => Self::EndpointResponse,
            0xDC => Self::Sack,
            0xDD => Self::Nack,
            0xDE => Self::ProbeRequest,
            _ => return Err(Error::BadValue),
        })
    }

    /// True for the six RDMA Write opcodes (packets that carry METH + RETH + payload).
    pub const fn is_write(self) -> bool {
        matches!(
            self,
            Self::WriteFirst
                | Self::WriteMiddle
                | Self::WriteLast
                | Self::WriteLastImm
                | Self::WriteOnly
                | Self::WriteOnlyImm
        )
    }

    /// True for the Write opcodes that carry an immediate (ImmDt).
    pub const fn has_immediate(self) -> bool {
        matches!(self, Self::WriteLastImm | Self::WriteOnlyImm)
    }

    /// True for the opcodes that end a message (LAST, LAST_IMM, ONLY, ONLY_IMM).
    pub const fn ends_message(self) -> bool {
        matches!(
            self,
            Self::WriteLast | Self::WriteLastImm | Self::WriteOnly | Self::WriteOnlyImm
        )
    }

    /// The name used in the specification, e.g. `RDMA_WRITE_FIRST`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::WriteFirst => "RDMA_WRITE_FIRST",
            Self::WriteMiddle => "RDMA_WRITE_MIDDLE",
            Self::WriteLast => "RDMA_WRITE_LAST",
            Self::WriteLastImm => "RDMA_WRITE_LAST_IMM",
            Self::WriteOnly => "RDMA_WRITE_ONLY",
            Self::WriteOnlyImm => "RDMA_WRITE_ONLY_IMM",
            Self::Ack => "ACKNOWLEDGE",
            Self::EndpointRequest => "ENDPOINT_REQUEST",
            Self::EndpointResponse => "ENDPOINT_RESPONSE",
            Self::Sack => "RELIABILITY_SACK",
            Self::Nack => "RELIABILITY_NACK",
            Self::ProbeRequest => "RELIABILITY_PROBE_REQ",
        }
    }
}

/// Path mark echoed in a SACK for the triggering packet's EV (the SETH `M` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PathMark {
    /// No mark.
    #[default]
    None,
    /// The data packet arrived ECN-CE marked: skip this EV for a while.
    SkipOnce,
    /// The responder considers this path persistently bad.
    AlwaysSkip,
    /// A value this codec does not know (3 is reserved): kept so the rest of the SACK is not
    /// lost; acted on as no mark.
    Other(u8),
}

impl PathMark {
    /// The mark for the 2-bit field value.
    pub const fn from_bits(bits: u8) -> Self {
        match bits {
            0 => Self::None,
            1 => Self::SkipOnce,
            2 => Self::AlwaysSkip,
            b => Self::Other(b),
        }
    }

    /// The field value (checked against the field width on emit).
    pub const fn bits(self) -> u8 {
        match self {
            Self::None => 0,
            Self::SkipOnce => 1,
            Self::AlwaysSkip => 2,
            Self::Other(b) => b,
        }
    }
}

/// NACK reason codes (NETH `nack_reason`, `docs/protocol.md` §5.5).
///
/// Codes from 0xE0 up are this implementation's own (vendor range): the Write-IMM limit has no
/// public code, and 0x1A, which it used before, is UET PDS's `RCVR_INFER_LOSS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NackReason {
    /// Payload trimmed by a switch inside the fabric (congestion).
    Trimmed,
    /// Payload trimmed at the last hop (incast).
    TrimmedLastHop,
    /// Responder out of PSN-tracking resources.
    NoBitmap,
    /// Responder out of packet buffer.
    NoPktBuffer,
    /// Other responder resource exhaustion.
    NoResource,
    /// PSN outside the responder's tracking window.
    PsnOorWindow,
    /// Unexpected event; fatal for the QP.
    UnexpEvent,
    /// Too many Write-with-Immediate in flight (vendor code [`NackReason::WIMM_LIMIT_CODE`]).
    WimmLimit,
    /// A code this codec does not know (a newer or another peer's): decoded rather than
    /// rejected, so the receiver can still act on it.
    Other(u8),
}

impl NackReason {
    /// Our code for [`NackReason::WimmLimit`], in the vendor range.
    pub const WIMM_LIMIT_CODE: u8 = 0xE0;

    /// Every named reason code.
    pub const ALL: [Self; 8] = [
        Self::Trimmed,
        Self::TrimmedLastHop,
        Self::NoBitmap,
        Self::NoPktBuffer,
        Self::NoResource,
        Self::PsnOorWindow,
        Self::UnexpEvent,
        Self::WimmLimit,
    ];

    /// The reason for a raw code.
    pub const fn from_u8(code: u8) -> Self {
        match code {
            0x01 => Self::Trimmed,
            0x02 => Self::TrimmedLastHop,
            0x06 => Self::NoBitmap,
            0x07 => Self::NoPktBuffer,
            0x0A => Self::NoResource,
            0x0B => Self::PsnOorWindow,
            0x19 => Self::UnexpEvent,
            Self::WIMM_LIMIT_CODE => Self::WimmLimit,
            c => Self::Other(c),
        }
    }

    /// The raw code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Trimmed => 0x01,
            Self::TrimmedLastHop => 0x02,
            Self::NoBitmap => 0x06,
            Self::NoPktBuffer => 0x07,
            Self::NoResource => 0x0A,
            Self::PsnOorWindow => 0x0B,
            Self::UnexpEvent => 0x19,
            Self::WimmLimit => Self::WIMM_LIMIT_CODE,
            Self::Other(c) => c,
        }
    }

    /// The name used in the specification, e.g. `TRIMMED_LASTHOP` (`UNKNOWN` for
    /// [`NackReason::Other`]).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Trimmed => "TRIMMED",
            Self::TrimmedLastHop => "TRIMMED_LASTHOP",
            Self::NoBitmap => "NO_BITMAP",
            Self::NoPktBuffer => "NO_PKT_BUFFER",
            Self::NoResource => "NO_RESOURCE",
            Self::PsnOorWindow => "PSN_OOR_WINDOW",
            Self::UnexpEvent => "UNEXP_EVENT",
            Self::WimmLimit => "WIMM_LIMIT",
            Self::Other(_) => "UNKNOWN",
        }
    }
}

/// Operation of an endpoint request or response (ERTH / EETH `op`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointOp {
    /// Port status update: a bitmask of the sender's ports that are up.
    PortStatusUpdate,
    /// EV probe: tests one path.
    EvProbe,
    /// An operation this codec does not know (2 or 3): decoded so it can be answered or
    /// counted, not rejected with the whole packet.
    Other(u8),
}

impl EndpointOp {
    /// The operation for a 2-bit field value.
    pub const fn from_bits(bits: u8) -> Self {
        match bits {
            0 => Self::PortStatusUpdate,
            1 => Self::EvProbe,
            b => Self::Other(b),
        }
    }

    /// The field value (checked against the field width on emit).
    pub const fn bits(self) -> u8 {
        match self {
            Self::PortStatusUpdate => 0,
            Self::EvProbe => 1,
            Self::Other(b) => b,
        }
    }
}

/// The 9-bit `type (4) · next_hdr (5)` prefix that SETH, NETH, ERTH, EETH and PETH share in
/// their first two bytes (type in byte 0 bits 7–4, next_hdr in byte 0 bits 3–0 and byte 1 bit 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TypeNext {
    /// Header type (4 bits).
    pub hdr_type: u8,
    /// Next-header code (5 bits).
    pub next_hdr: u8,
}

impl TypeNext {
    pub(crate) fn read(b: &[u8]) -> Self {
        Self {
            hdr_type: b[0] >> 4,
            next_hdr: ((b[0] & 0x0F) << 1) | (b[1] >> 7),
        }
    }

    /// Writes the prefix; leaves byte 1 bits 6–0 untouched.
    pub(crate) fn write(self, b: &mut [u8]) -> Result<()> {
        if self.hdr_type > 0x0F || self.next_hdr > 0x1F {
            return Err(Error::Oversized);
        }
        b[0] = (self.hdr_type << 4) | (self.next_hdr >> 1);
        b[1] = (b[1] & 0x7F) | ((self.next_hdr & 1) << 7);
        Ok(())
    }
}

/// Fails with [`Error::Oversized`] unless `value` fits in `bits` bits.
pub(crate) const fn fits(value: u32, bits: u32) -> Result<()> {
    if value >> bits == 0 {
        Ok(())
    } else {
        Err(Error::Oversized)
    }
}
