//! A two-level occupancy bitmap over the slots of the timing wheel: finding the next occupied
//! slot costs two `trailing_zeros`, not a scan over empty slots.

/// Slots a [`Bitmap`] covers: 64 words of 64 bits, one summary word over the words.
pub(super) const SLOTS: usize = 64 * 64;

/// Which wheel slots hold events.
#[derive(Debug)]
pub(super) struct Bitmap {
    /// Bit `w` set when `words[w] != 0`.
    summary: u64,
    words: [u64; 64],
}

impl Bitmap {
    pub(super) fn new() -> Self {
        Self {
            summary: 0,
            words: [0; 64],
        }
    }

    pub(super) fn set(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
        self.summary |= 1 << (i / 64);
    }

    pub(super) fn is_set(&self, i: usize) -> bool {
        self.words[i / 64] & (1 << (i % 64)) != 0
    }

    pub(super) fn clear(&mut self, i: usize) {
        let w = &mut self.words[i / 64];
        *w &= !(1 << (i % 64));
        if *w == 0 {
            self.summary &= !(1 << (i / 64));
        }
    }

    /// The first set slot at or after `from` (no wrap-around).
    fn first_from(&self, from: usize) -> Option<usize> {
        let (w, b) = (from / 64, from % 64);
        let here = self.words[w] & (u64::MAX << b);
        if here != 0 {
            return Some(w * 64 + here.trailing_zeros() as usize);
        }
        // Words after `w` that hold a set bit (none after the last word).
        let later = match w {
            63 => 0,
            _ => self.summary & (u64::MAX << (w + 1)),
        };
        if later == 0 {
            return None;
        }
        let w = later.trailing_zeros() as usize;
        Some(w * 64 + self.words[w].trailing_zeros() as usize)
    }

    /// The first set slot at or after `from`, wrapping around past the last slot.
    pub(super) fn next_from(&self, from: usize) -> Option<usize> {
        if self.summary == 0 {
            return None;
        }
        self.first_from(from).or_else(|| self.first_from(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_wraps_and_clears() {
        let mut b = Bitmap::new();
        assert_eq!(b.next_from(0), None);
        for i in [0, 63, 64, 700, SLOTS - 1] {
            b.set(i);
        }
        assert_eq!(b.next_from(0), Some(0));
        assert_eq!(b.next_from(1), Some(63));
        assert_eq!(b.next_from(64), Some(64));
        assert_eq!(b.next_from(65), Some(700));
        assert_eq!(b.next_from(701), Some(SLOTS - 1));
        b.clear(0);
        assert_eq!(b.next_from(SLOTS - 1), Some(SLOTS - 1));
        b.clear(SLOTS - 1);
        assert_eq!(b.next_from(701), Some(63));
        b.clear(63);
        b.clear(64);
        b.clear(700);
        assert_eq!(b.next_from(5), None);
    }
}
