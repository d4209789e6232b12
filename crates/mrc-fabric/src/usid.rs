//! The 16-bit uSID layout of docs/fabric-and-srv6.md §7.2 and the address plan of §7.1.
//!
//! ```text
//!  15   13 12 11 10                    0
//! +-------+-----+-----------------------+
//! | plane | kind|        index          |
//! +-------+-----+-----------------------+
//! ```
//! Kinds: `01` T0 node, `10` T1 node, `11` NIC downlink on a T0 (local meaning), `00` functions.
//! Our only function is the adjacency SID uA (kind `00`, bit 10 set, index = local port in bits
//! 9..0), used on fabrics below full size where a T0–T1 pair has parallel links (§2).

use core::net::Ipv6Addr;

/// The uSID locator block `fc00:0::/32`.
pub const BLOCK: u32 = 0xfc00_0000;

/// Most planes the 3 plane bits can name.
pub const MAX_PLANES: u32 = 8;
/// Largest node or NIC-port index (11 bits).
pub const MAX_INDEX: u32 = 0x7ff;
/// Largest uA port index (10 bits).
pub const MAX_ADJ_PORT: u32 = 0x3ff;

/// What a uSID names.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Kind {
    /// T0 switch `index` of the plane.
    T0,
    /// T1 switch `index` of the plane.
    T1,
    /// NIC downlink port `index` of whichever T0 processes it.
    Nic,
    /// Adjacency (uA): leave through local port `index` of whichever switch processes it.
    Adj,
}

/// A decoded uSID.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Usid {
    /// Plane (0..8).
    pub plane: u8,
    /// Kind.
    pub kind: Kind,
    /// Index (switch number or port).
    pub index: u16,
}

impl Usid {
    /// T0 `i` of plane `p`: `p<<13 | 0x0800 | i`.
    pub const fn t0(plane: u8, index: u16) -> Self {
        Self {
            plane,
            kind: Kind::T0,
            index,
        }
    }
    /// T1 `j` of plane `p`: `p<<13 | 0x1000 | j`.
    pub const fn t1(plane: u8, index: u16) -> Self {
        Self {
            plane,
            kind: Kind::T1,
            index,
        }
    }
    /// NIC downlink `q` in plane `p`: `p<<13 | 0x1800 | q`.
    pub const fn nic(plane: u8, port: u16) -> Self {
        Self {
            plane,
            kind: Kind::Nic,
            index: port,
        }
    }
    /// Adjacency SID for local port `port` in plane `p`: `p<<13 | 0x0400 | port`.
    pub const fn adj(plane: u8, port: u16) -> Self {
        Self {
            plane,
            kind: Kind::Adj,
            index: port,
        }
    }

    /// The 16-bit value. Indices are masked to their field width; callers keep them in range.
    pub const fn encode(self) -> u16 {
        let plane = (self.plane as u16 & 7) << 13;
        match self.kind {
            Kind::T0 => plane | 0x0800 | (self.index & 0x7ff),
            Kind::T1 => plane | 0x1000 | (self.index & 0x7ff),
            Kind::Nic => plane | 0x1800 | (self.index & 0x7ff),
            Kind::Adj => plane | 0x0400 | (self.index & 0x3ff),
        }
    }

    /// Decodes a 16-bit uSID; `None` for zero and for kind-`00` values that are not uA.
    pub const fn decode(raw: u16) -> Option<Self> {
        let plane = (raw >> 13) as u8;
        let index = raw & 0x7ff;
        let kind = match (raw >> 11) & 3 {
            1 => Kind::T0,
            2 => Kind::T1,
            3 => Kind::Nic,
            _ => {
                if raw & 0x0400 == 0 {
                    return None;
                }
                return Some(Self {
                    plane,
                    kind: Kind::Adj,
                    index: raw & 0x3ff,
                });
            }
        };
        Some(Self { plane, kind, index })
    }

    /// The /48 lookup key (block + this uSID).
    pub const fn key(self) -> u64 {
        mrc_wire::usid::lookup_key(BLOCK, self.encode())
    }
}

/// The /48 prefix `block:usid::` of a key, as an address.
pub fn key_addr(key: u64) -> Ipv6Addr {
    Ipv6Addr::new(
        (key >> 32) as u16,
        (key >> 16) as u16,
        key as u16,
        0,
        0,
        0,
        0,
        0,
    )
}

/// The NIC's own address (the inner destination), `fd00::<nic-id>`.
pub fn nic_addr(nic: u32) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, (nic >> 16) as u16, nic as u16)
}

/// The NIC id of a `fd00::<nic-id>` address.
pub fn nic_of_addr(addr: Ipv6Addr) -> Option<u32> {
    let s = addr.segments();
    (s[..6] == [0xfd00, 0, 0, 0, 0, 0]).then(|| (u32::from(s[6]) << 16) | u32::from(s[7]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_examples() {
        assert_eq!(Usid::t0(0, 1).encode(), 0x0801);
        assert_eq!(Usid::t1(0, 5).encode(), 0x1005);
        assert_eq!(Usid::nic(0, 7).encode(), 0x1807);
        assert_eq!(Usid::t0(3, 1).encode(), 0x6801);
        assert_eq!(Usid::t1(3, 5).encode(), 0x7005);
        assert_eq!(Usid::nic(3, 7).encode(), 0x7807);
        assert_eq!(Usid::t0(7, 511).encode(), 0xe9ff);
        assert_eq!(Usid::t1(7, 255).encode(), 0xf0ff);
        assert_eq!(Usid::nic(7, 255).encode(), 0xf8ff);
        assert_eq!(Usid::t0(0, 1).key(), 0xfc00_0000_0801);
    }

    #[test]
    fn round_trip_every_value() {
        for raw in 0..=u16::MAX {
            match Usid::decode(raw) {
                Some(u) => assert_eq!(u.encode(), raw),
                None => assert!(raw & 0x1c00 == 0, "{raw:#x}"),
            }
        }
        assert_eq!(Usid::decode(0), None);
    }

    #[test]
    fn nic_addresses() {
        assert_eq!(
            nic_addr(0x1_ffff),
            "fd00::1:ffff".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(nic_of_addr(nic_addr(131_071)), Some(131_071));
        assert_eq!(
            key_addr(Usid::t1(0, 5).key()),
            "fc00:0:1005::".parse::<Ipv6Addr>().unwrap()
        );
    }
}
