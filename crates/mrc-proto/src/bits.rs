//! A fixed-size ring of bits indexed by PSN (modulo a power of two), stored as `u64` words.

/// Ring bitmap with `len` (a power of two) bits; bit for index `i` lives at `i & (len - 1)`.
#[derive(Debug, Clone)]
pub(crate) struct RingBits {
    words: Vec<u64>,
    mask: u32,
}

impl RingBits {
    /// A ring of at least `min_len` bits (rounded up to a power of two, at least 64).
    pub(crate) fn new(min_len: u32) -> Self {
        let len = min_len.max(64).next_power_of_two();
        Self {
            words: vec![0; (len / 64) as usize],
            mask: len - 1,
        }
    }

    /// Number of bits.
    pub(crate) fn len(&self) -> u32 {
        self.mask + 1
    }

    #[inline]
    fn slot(&self, i: u32) -> (usize, u64) {
        let s = i & self.mask;
        ((s >> 6) as usize, 1u64 << (s & 63))
    }

    #[inline]
    pub(crate) fn get(&self, i: u32) -> bool {
        let (w, b) = self.slot(i);
        self.words.get(w).is_some_and(|x| x & b != 0)
    }

    #[inline]
    pub(crate) fn set(&mut self, i: u32) {
        let (w, b) = self.slot(i);
        if let Some(x) = self.words.get_mut(w) {
            *x |= b;
        }
    }

    #[inline]
    pub(crate) fn clear(&mut self, i: u32) {
        let (w, b) = self.slot(i);
        if let Some(x) = self.words.get_mut(w) {
            *x &= !b;
        }
    }

    /// The first set bit among indices `start, start+1, …, start+count-1` (ring order), as an
    /// offset from `start`. Word-at-a-time.
    pub(crate) fn find_next(&self, start: u32, count: u32) -> Option<u32> {
        let count = count.min(self.len());
        let mut off = 0u32;
        while off < count {
            let s = start.wrapping_add(off) & self.mask;
            let w = self.words.get((s >> 6) as usize).copied().unwrap_or(0) >> (s & 63);
            let avail = 64 - (s & 63);
            if w != 0 {
                let tz = w.trailing_zeros();
                if tz < avail {
                    let found = off + tz;
                    return (found < count).then_some(found);
                }
            }
            off += avail;
        }
        None
    }

    /// A ring of `min_len` bits holding this ring's bits `start .. start + count`.
    pub(crate) fn regrown(&self, min_len: u32, start: u32, count: u32) -> Self {
        let mut r = Self::new(min_len);
        for k in 0..count.min(self.len()) {
            let i = start.wrapping_add(k);
            if self.get(i) {
                r.set(i);
            }
        }
        r
    }

    /// 64 bits starting at index `start`: bit k of the result = bit `start + k`.
    pub(crate) fn window64(&self, start: u32) -> u64 {
        let s = start & self.mask;
        let sh = s & 63;
        let w0 = self.words.get((s >> 6) as usize).copied().unwrap_or(0);
        if sh == 0 {
            return w0;
        }
        let next = ((s >> 6) as usize + 1) % self.words.len().max(1);
        let w1 = self.words.get(next).copied().unwrap_or(0);
        (w0 >> sh) | (w1 << (64 - sh))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regrown_keeps_the_live_range() {
        let mut r = RingBits::new(64);
        r.set(70); // slot 6
        r.set(100); // slot 36
        let g = r.regrown(256, 60, 50);
        assert_eq!(g.len(), 256);
        assert!(g.get(70) && g.get(100));
        assert_eq!(g.find_next(0, 256), Some(70));
        assert!(!g.get(6) && !g.get(36));
    }

    #[test]
    fn find_and_window_wrap() {
        let mut r = RingBits::new(128);
        assert_eq!(r.len(), 128);
        r.set(130); // slot 2
        r.set(127);
        assert_eq!(r.find_next(100, 28), Some(27));
        assert_eq!(r.find_next(128, 10), Some(2));
        assert_eq!(r.find_next(3, 100), None);
        assert_eq!(r.find_next(120, 20), Some(7));
        assert_eq!(r.window64(126), 0b10010);
        r.clear(127);
        assert!(!r.get(127));
        assert!(r.get(2));
    }
}
