//! A classic pcap writer: nanosecond timestamps, raw IPv6 link type (229).

use std::io::{self, Write};

/// LINKTYPE_IPV6: each record is a bare IPv6 packet.
pub const LINKTYPE_IPV6: u32 = 229;
/// Magic number of a nanosecond-resolution pcap file.
pub const MAGIC_NANOS: u32 = 0xA1B2_3C4D;

/// Writes pcap records to any [`Write`].
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    snaplen: u32,
}

impl<W: Write> Writer<W> {
    /// Writes the file header; records longer than `snaplen` are cut to it.
    pub fn new(mut out: W, snaplen: u32) -> io::Result<Self> {
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&MAGIC_NANOS.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        h[16..20].copy_from_slice(&snaplen.to_le_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_IPV6.to_le_bytes());
        out.write_all(&h)?;
        Ok(Self { out, snaplen })
    }

    /// Writes one packet seen at `time_ns`. `orig_len` is its length on the wire; a record
    /// whose `data` is shorter (a trimmed packet) keeps `caplen < len`.
    pub fn write_packet(&mut self, time_ns: u64, data: &[u8], orig_len: usize) -> io::Result<()> {
        let caplen = data.len().min(self.snaplen as usize);
        let too_big = |_| io::Error::new(io::ErrorKind::InvalidInput, "packet too large for pcap");
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((time_ns / 1_000_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((time_ns % 1_000_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&u32::try_from(caplen).map_err(too_big)?.to_le_bytes());
        let orig = u32::try_from(orig_len.max(caplen)).map_err(too_big)?;
        h[12..16].copy_from_slice(&orig.to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&data[..caplen])
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Link type of raw IP records (IPv4 or IPv6, told apart by the version nibble).
pub const LINKTYPE_RAW: u32 = 101;
/// Magic number of a microsecond-resolution pcap file.
pub const MAGIC_MICROS: u32 = 0xA1B2_C3D4;

/// One record read from a pcap file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Capture time in nanoseconds.
    pub time_ns: u64,
    /// Captured bytes (`caplen` of them).
    pub data: Vec<u8>,
    /// Length of the packet on the wire.
    pub orig_len: u32,
}

/// Reads classic little-endian pcap files (micro- or nanosecond magic) of link type
/// [`LINKTYPE_IPV6`] or [`LINKTYPE_RAW`].
#[derive(Debug)]
pub struct Reader<R: io::Read> {
    input: R,
    nanos: bool,
    snaplen: u32,
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

impl<R: io::Read> Reader<R> {
    /// Reads and checks the file header.
    pub fn new(mut input: R) -> io::Result<Self> {
        let mut h = [0u8; 24];
        input.read_exact(&mut h)?;
        let word = |at: usize| u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        let nanos = match word(0) {
            MAGIC_NANOS => true,
            MAGIC_MICROS => false,
            _ => {
                return Err(invalid(
                    "not a little-endian classic pcap file (bad magic number)",
                ));
            }
        };
        if !matches!(word(20), LINKTYPE_IPV6 | LINKTYPE_RAW) {
            return Err(invalid("pcap link type is not raw IP (101) or IPv6 (229)"));
        }
        Ok(Self {
            input,
            nanos,
            snaplen: word(16),
        })
    }

    /// The next record, or `None` at the end of the file. A file that ends inside a record
    /// (its header or its data) is an [`io::ErrorKind::UnexpectedEof`] error, not an end.
    pub fn next_record(&mut self) -> io::Result<Option<Record>> {
        let mut h = [0u8; 16];
        match read_full(&mut self.input, &mut h)? {
            0 => return Ok(None),
            16 => {}
            n => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("truncated record header ({n} of 16 bytes)"),
                ));
            }
        }
        let word = |at: usize| u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        let frac = u64::from(word(4));
        let time_ns =
            u64::from(word(0)) * 1_000_000_000 + if self.nanos { frac } else { frac * 1000 };
        let caplen = word(8);
        if caplen > self.snaplen.max(262_144) {
            return Err(invalid("pcap record longer than the snapshot length"));
        }
        let mut data = vec![0u8; caplen as usize];
        let got = read_full(&mut self.input, &mut data)?;
        if got < data.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("truncated record ({got} of {caplen} captured bytes)"),
            ));
        }
        Ok(Some(Record {
            time_ns,
            data,
            orig_len: word(12),
        }))
    }
}

/// Reads until `buf` is full or the input ends; how many bytes were read.
fn read_full(input: &mut impl io::Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_records_are_errors_not_ends() {
        let mut w = Writer::new(Vec::new(), 100).unwrap();
        w.write_packet(1, &[1, 2, 3], 3).unwrap();
        let bytes = w.into_inner().unwrap();
        // Cut inside the record header, then inside its data.
        for cut in [bytes.len() - 3 - 5, bytes.len() - 1] {
            let mut r = Reader::new(&bytes[..cut]).unwrap();
            let e = r.next_record().unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}");
        }
        let mut r = Reader::new(&bytes[..24]).unwrap();
        assert_eq!(r.next_record().unwrap(), None);
    }

    #[test]
    fn header_and_record_layout() {
        let mut w = Writer::new(Vec::new(), 100).unwrap();
        w.write_packet(1_500_000_123, &[1, 2, 3], 9).unwrap();
        let bytes = w.into_inner().unwrap();
        assert_eq!(&bytes[..4], &[0x4D, 0x3C, 0xB2, 0xA1]);
        assert_eq!(&bytes[20..24], &229u32.to_le_bytes());
        assert_eq!(&bytes[24..28], &1u32.to_le_bytes());
        assert_eq!(&bytes[28..32], &500_000_123u32.to_le_bytes());
        assert_eq!(&bytes[32..36], &3u32.to_le_bytes());
        assert_eq!(&bytes[36..40], &9u32.to_le_bytes());
        assert_eq!(&bytes[40..], &[1, 2, 3]);

        let mut r = Reader::new(&bytes[..]).unwrap();
        let rec = r.next_record().unwrap().unwrap();
        assert_eq!(
            rec,
            Record {
                time_ns: 1_500_000_123,
                data: vec![1, 2, 3],
                orig_len: 9
            }
        );
        assert_eq!(r.next_record().unwrap(), None);
        assert!(Reader::new(&bytes[4..]).is_err());
    }
}
