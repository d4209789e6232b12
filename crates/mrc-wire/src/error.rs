//! The one error type of the codec.

use core::fmt;

/// Why a buffer could not be parsed or a header could not be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The buffer is shorter than the header (or the lengths it declares) require.
    Truncated,
    /// A length field disagrees with the buffer or with another length field.
    BadLength,
    /// A field holds a value the format does not allow (unknown opcode, wrong version, …).
    BadValue,
    /// A checksum does not match the data.
    BadChecksum,
    /// A value does not fit the field it must be written into.
    Oversized,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "buffer too short for the header",
            Self::BadLength => "length field disagrees with the buffer",
            Self::BadValue => "field holds a value the format does not allow",
            Self::BadChecksum => "checksum mismatch",
            Self::Oversized => "value does not fit its field",
        })
    }
}

impl std::error::Error for Error {}

/// Result of a codec operation.
pub type Result<T> = core::result::Result<T, Error>;
