//! Registered memory regions: (address, key, bounds) and, optionally, the bytes themselves.
//!
//! //= docs/protocol.md §4.1: every data packet carries VA + R_Key + length; the responder places
//! each packet directly, in any order. A packet with a wrong key or outside its region is
//! rejected and nothing is written (docs/architecture.md §3).

/// First address handed out by [`MemoryRegions::register`].
const BASE_ADDR: u64 = 0x0001_0000_0000;
/// Address alignment of regions (and guard gap between them).
const ALIGN: u64 = 4096;

/// A registered region as the caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RegionHandle {
    /// Start address (virtual; the peer puts it in RETH.VA).
    pub addr: u64,
    /// Length in bytes.
    pub len: u64,
    /// Remote key (RETH.R_Key).
    pub rkey: u32,
}

/// Why a remote access was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// No region has this key.
    #[error("unknown remote key")]
    BadKey,
    /// The range is not inside the region of the key.
    #[error("access outside the region")]
    OutOfBounds,
}

#[derive(Debug, Clone)]
struct Region {
    handle: RegionHandle,
    data: Option<Vec<u8>>,
}

/// The memory regions of one endpoint.
///
/// Regions registered with [`MemoryRegions::register`] hold bytes; those registered with
/// [`MemoryRegions::register_virtual`] only have bounds (the simulator without payload data).
#[derive(Debug, Clone)]
pub struct MemoryRegions {
    regions: Vec<Region>,
    next_addr: u64,
    key_state: mrc_rng::SplitMix64,
}

impl MemoryRegions {
    /// An empty table; `seed` makes the keys unpredictable but deterministic.
    pub fn new(seed: u64) -> Self {
        Self {
            regions: Vec::new(),
            next_addr: BASE_ADDR,
            key_state: mrc_rng::SplitMix64::new(seed ^ 0x6D72_6B65_7973),
        }
    }

    fn add(&mut self, len: u64, data: Option<Vec<u8>>) -> RegionHandle {
        let addr = self.next_addr;
        self.next_addr = addr + len.div_ceil(ALIGN).max(1) * ALIGN + ALIGN;
        let mut rkey = 0;
        while rkey == 0 || self.regions.iter().any(|r| r.handle.rkey == rkey) {
            rkey = self.key_state.next_u64() as u32;
        }
        let handle = RegionHandle { addr, len, rkey };
        self.regions.push(Region { handle, data });
        handle
    }

    /// Registers a zero-filled region of `len` bytes.
    pub fn register(&mut self, len: u64) -> RegionHandle {
        let size = usize::try_from(len).unwrap_or(0);
        self.add(len, Some(vec![0; size]))
    }

    /// Registers a region with bounds and key but no bytes (bookkeeping only).
    pub fn register_virtual(&mut self, len: u64) -> RegionHandle {
        self.add(len, None)
    }

    /// Registers a region whose bytes live outside this table (a C program's buffer, see
    /// `docs/capi.md`): the caller chooses the address and key; [`Self::place`] checks it and
    /// writes nothing, and [`Self::read`] returns None, so the caller moves the bytes itself.
    /// None if `rkey` is 0 or already used, or the range wraps.
    pub fn register_external(&mut self, addr: u64, len: u64, rkey: u32) -> Option<RegionHandle> {
        if rkey == 0
            || addr.checked_add(len).is_none()
            || self.regions.iter().any(|r| r.handle.rkey == rkey)
        {
            return None;
        }
        let handle = RegionHandle { addr, len, rkey };
        self.regions.push(Region { handle, data: None });
        Some(handle)
    }

    /// Removes the region of `rkey`; false if there is none.
    pub fn deregister(&mut self, rkey: u32) -> bool {
        let before = self.regions.len();
        self.regions.retain(|r| r.handle.rkey != rkey);
        self.regions.len() != before
    }

    /// Every registered region.
    pub fn handles(&self) -> impl Iterator<Item = RegionHandle> + '_ {
        self.regions.iter().map(|r| r.handle)
    }

    fn find_local(&self, addr: u64, len: u64) -> Option<(usize, usize)> {
        self.regions.iter().enumerate().find_map(|(i, r)| {
            let h = r.handle;
            let end = addr.checked_add(len)?;
            (addr >= h.addr && end <= h.addr + h.len).then(|| (i, (addr - h.addr) as usize))
        })
    }

    /// True if `[addr, addr + len)` lies inside one region.
    pub fn contains(&self, addr: u64, len: u64) -> bool {
        self.find_local(addr, len).is_some()
    }

    /// The bytes at `[addr, addr + len)`, if that range lies inside one region with data.
    pub fn read(&self, addr: u64, len: u64) -> Option<&[u8]> {
        let (i, off) = self.find_local(addr, len)?;
        let data = self.regions.get(i)?.data.as_deref()?;
        data.get(off..off + usize::try_from(len).ok()?)
    }

    /// Writes local bytes (the application filling its own buffer); false if out of bounds.
    pub fn write_local(&mut self, addr: u64, bytes: &[u8]) -> bool {
        let Some((i, off)) = self.find_local(addr, bytes.len() as u64) else {
            return false;
        };
        match self.regions.get_mut(i).and_then(|r| r.data.as_mut()) {
            Some(d) => match d.get_mut(off..off + bytes.len()) {
                Some(dst) => {
                    dst.copy_from_slice(bytes);
                    true
                }
                None => false,
            },
            None => true,
        }
    }

    /// Checks a remote access `(rkey, va, len)` and returns the region index and offset.
    pub fn check_remote(
        &self,
        rkey: u32,
        va: u64,
        len: u64,
    ) -> Result<(usize, usize), AccessError> {
        let (i, r) = self
            .regions
            .iter()
            .enumerate()
            .find(|(_, r)| r.handle.rkey == rkey)
            .ok_or(AccessError::BadKey)?;
        let h = r.handle;
        let end = va.checked_add(len).ok_or(AccessError::OutOfBounds)?;
        if va < h.addr || end > h.addr + h.len {
            return Err(AccessError::OutOfBounds);
        }
        Ok((i, (va - h.addr) as usize))
    }

    /// Places a remote write: checks key and bounds first; writes `payload` if given and the
    /// region holds data. Nothing is written on error.
    pub fn place(
        &mut self,
        rkey: u32,
        va: u64,
        len: u64,
        payload: Option<&[u8]>,
    ) -> Result<(), AccessError> {
        let (i, off) = self.check_remote(rkey, va, len)?;
        if let Some(p) = payload {
            if p.len() as u64 != len {
                return Err(AccessError::OutOfBounds);
            }
            if let Some(d) = self.regions.get_mut(i).and_then(|r| r.data.as_mut())
                && let Some(dst) = d.get_mut(off..off + p.len())
            {
                dst.copy_from_slice(p);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_bounds() {
        let mut m = MemoryRegions::new(1);
        let a = m.register(100);
        let b = m.register_virtual(1 << 20);
        assert_ne!(a.rkey, b.rkey);
        assert!(b.addr >= a.addr + 100);
        assert_eq!(m.place(a.rkey, a.addr + 90, 10, Some(&[7; 10])), Ok(()));
        assert_eq!(m.read(a.addr + 90, 10), Some(&[7u8; 10][..]));
        assert_eq!(
            m.place(a.rkey, a.addr + 95, 10, Some(&[1; 10])),
            Err(AccessError::OutOfBounds)
        );
        assert_eq!(
            m.place(a.rkey ^ 1, a.addr, 1, None),
            Err(AccessError::BadKey)
        );
        assert_eq!(m.read(a.addr + 95, 5), Some(&[7u8; 5][..]));
        assert!(m.place(b.rkey, b.addr, 4096, None).is_ok());
        assert!(m.read(b.addr, 1).is_none());
    }

    #[test]
    fn external_regions() {
        let mut m = MemoryRegions::new(1);
        let e = m
            .register_external(0x7f00_0000_1000, 64, 77)
            .expect("free key");
        assert_eq!(e.rkey, 77);
        assert!(m.register_external(0x1000, 8, 77).is_none(), "key in use");
        assert!(m.register_external(u64::MAX - 3, 8, 78).is_none(), "wraps");
        assert!(m.register_external(0x1000, 8, 0).is_none(), "key 0");
        assert!(m.contains(0x7f00_0000_1000 + 60, 4));
        assert_eq!(m.place(77, 0x7f00_0000_1000, 64, Some(&[1; 64])), Ok(()));
        assert!(m.read(0x7f00_0000_1000, 1).is_none());
        assert_eq!(
            m.place(77, 0x7f00_0000_1000 + 1, 64, None),
            Err(AccessError::OutOfBounds)
        );
        assert!(m.deregister(77));
        assert!(!m.deregister(77));
        assert_eq!(
            m.place(77, 0x7f00_0000_1000, 1, None),
            Err(AccessError::BadKey)
        );
    }
}
