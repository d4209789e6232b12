//! The SRv6 micro-SID (uSID) carrier: an IPv6 destination made of a 32-bit locator block
//! followed by up to six 16-bit uSIDs, and the uN shift-and-forward operation.
//!
//! //= docs/fabric-and-srv6.md §5: a switch whose /48 (block + own uSID) matches shifts the uSID part
//! left by 16 bits, zero-fills the tail and looks the new /48 up.

use core::net::Ipv6Addr;

use crate::{Error, Result};

/// Most uSIDs one carrier holds (32-bit block + 6 × 16 bits = 128 bits).
pub const MAX_USIDS: usize = 6;

/// A uSID carrier address. The uSID list ends at the first zero uSID (end-of-carrier).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Carrier {
    block: u32,
    usids: [u16; MAX_USIDS],
}

impl Carrier {
    /// A carrier for `block` and the given uSIDs, in path order.
    ///
    /// Fails with [`Error::Oversized`] for more than six uSIDs and [`Error::BadValue`] for a
    /// zero uSID (zero marks the end of the carrier).
    pub fn new(block: u32, usids: &[u16]) -> Result<Self> {
        if usids.len() > MAX_USIDS {
            return Err(Error::Oversized);
        }
        if usids.contains(&0) {
            return Err(Error::BadValue);
        }
        let mut all = [0u16; MAX_USIDS];
        all[..usids.len()].copy_from_slice(usids);
        Ok(Self { block, usids: all })
    }

    /// Reads a carrier out of an IPv6 address. Fails with [`Error::BadValue`] if a non-zero
    /// uSID follows a zero one (not a well-formed carrier).
    pub fn from_addr(addr: Ipv6Addr) -> Result<Self> {
        let seg = addr.segments();
        let block = (u32::from(seg[0]) << 16) | u32::from(seg[1]);
        let mut usids = [0u16; MAX_USIDS];
        usids.copy_from_slice(&seg[2..]);
        if let Some(end) = usids.iter().position(|&u| u == 0)
            && usids[end..].iter().any(|&u| u != 0)
        {
            return Err(Error::BadValue);
        }
        Ok(Self { block, usids })
    }

    /// The carrier as an IPv6 address.
    pub fn addr(&self) -> Ipv6Addr {
        let u = &self.usids;
        Ipv6Addr::new(
            (self.block >> 16) as u16,
            self.block as u16,
            u[0],
            u[1],
            u[2],
            u[3],
            u[4],
            u[5],
        )
    }

    /// The 32-bit locator block.
    pub fn block(&self) -> u32 {
        self.block
    }

    /// The uSIDs still to be processed, in order.
    pub fn usids(&self) -> &[u16] {
        let len = self.usids.iter().position(|&u| u == 0).unwrap_or(MAX_USIDS);
        &self.usids[..len]
    }

    /// The active (first) uSID, or `None` once the carrier is exhausted.
    pub fn active(&self) -> Option<u16> {
        match self.usids[0] {
            0 => None,
            u => Some(u),
        }
    }

    /// The /48 prefix a switch looks up: block (32 bits) and active uSID (16 bits).
    pub fn lookup_key(&self) -> u64 {
        (u64::from(self.block) << 16) | u64::from(self.usids[0])
    }

    /// uN shift-and-forward: drops the active uSID, shifts the rest left by 16 bits and
    /// zero-fills the tail. Returns the new active uSID, or `None` when the carrier is exhausted.
    pub fn shift(&mut self) -> Option<u16> {
        self.usids.copy_within(1.., 0);
        self.usids[MAX_USIDS - 1] = 0;
        self.active()
    }
}

/// The /48 lookup key for `block` and a uSID, as stored in static tables.
pub const fn lookup_key(block: u32, usid: u16) -> u64 {
    ((block as u64) << 16) | usid as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_and_forward_follows_the_reference_example() {
        // docs/fabric-and-srv6.md §7.4 worked example.
        let mut c = Carrier::new(0xfc00_0000, &[0x0801, 0x1005, 0x0802, 0x1807]).unwrap();
        assert_eq!(
            c.addr(),
            "fc00:0:801:1005:802:1807::".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(c.lookup_key(), 0xfc00_0000_0801);
        assert_eq!(c.shift(), Some(0x1005));
        assert_eq!(
            c.addr(),
            "fc00:0:1005:802:1807::".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(c.shift(), Some(0x0802));
        assert_eq!(c.shift(), Some(0x1807));
        assert_eq!(c.addr(), "fc00:0:1807::".parse::<Ipv6Addr>().unwrap());
        assert_eq!(c.shift(), None);
        assert_eq!(c.usids(), &[] as &[u16]);
    }

    #[test]
    fn rejects_bad_carriers() {
        assert_eq!(Carrier::new(1, &[1; 7]), Err(Error::Oversized));
        assert_eq!(Carrier::new(1, &[1, 0, 2]), Err(Error::BadValue));
        let holed = "fc00:0:801:0:802::".parse().unwrap();
        assert_eq!(Carrier::from_addr(holed), Err(Error::BadValue));
        let full = "fc00:0:1:2:3:4:5:6".parse().unwrap();
        let c = Carrier::from_addr(full).unwrap();
        assert_eq!(c.usids(), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(c.addr(), full);
    }
}
