//! Which byte ranges of a write have reached the destination NIC.
//!
//! A coalescing set of disjoint half-open ranges, sorted by start. Its size grows with the number
//! of holes in what has arrived (the transport's reordering), never with the write's size, so a
//! `1000000GB` flow costs a few words where a per-chunk bitmap would cost gigabytes. Arrivals
//! are mostly in offset order, so the common case extends the last range in place.

/// What adding a range did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// Every byte was new.
    New,
    /// Exactly a range that had arrived before (a duplicate packet).
    Duplicate,
    /// Part of the range had arrived before and part had not: no honest transport sends that.
    Overlap,
}

/// Received byte ranges of one write (see the module doc).
#[derive(Clone, Debug, Default)]
pub struct Coverage {
    /// The highest range, kept inline: the common in-order arrival touches no other memory.
    /// Meaningless while `covered` is 0.
    last: (u64, u64),
    /// The other disjoint, non-adjacent `(start, end)` ranges, sorted, all below `last`.
    runs: Vec<(u64, u64)>,
    covered: u64,
}

impl Coverage {
    /// Bytes covered so far.
    pub fn covered(&self) -> u64 {
        self.covered
    }

    /// Records `[start, start + len)`. Only a [`Added::New`] range changes the set; an empty
    /// range is a duplicate.
    pub fn add(&mut self, start: u64, len: u64) -> Added {
        let Some(end) = start.checked_add(len) else {
            return Added::Overlap;
        };
        if len == 0 {
            return Added::Duplicate;
        }
        if self.covered == 0 {
            self.last = (start, end);
        } else if start >= self.last.0 {
            // Fast path: at or beyond the start of the highest range.
            if start > self.last.1 {
                self.runs.push(self.last);
                self.last = (start, end);
            } else if start == self.last.1 {
                self.last.1 = end;
            } else {
                return Self::seen(self.last, end);
            }
        } else {
            self.runs.push(self.last);
            let r = Self::insert(&mut self.runs, start, end);
            self.last = self.runs.pop().unwrap_or_default();
            if r != Added::New {
                return r;
            }
        }
        self.covered += len;
        Added::New
    }

    /// Inserts `[start, end)` into sorted disjoint `runs`, coalescing neighbours.
    fn insert(runs: &mut Vec<(u64, u64)>, start: u64, end: u64) -> Added {
        // First range starting after `start`; the one before it may contain `start`.
        let i = runs.partition_point(|r| r.0 <= start);
        if i > 0 && start < runs[i - 1].1 {
            return Self::seen(runs[i - 1], end);
        }
        if i < runs.len() && end > runs[i].0 {
            return Added::Overlap;
        }
        let joins_prev = i > 0 && runs[i - 1].1 == start;
        let joins_next = i < runs.len() && runs[i].0 == end;
        match (joins_prev, joins_next) {
            (true, true) => {
                runs[i - 1].1 = runs[i].1;
                runs.remove(i);
            }
            (true, false) => runs[i - 1].1 = end,
            (false, true) => runs[i].0 = start,
            (false, false) => runs.insert(i, (start, end)),
        }
        Added::New
    }

    /// Classifies a range ending at `end` whose start lies inside `run`.
    fn seen(run: (u64, u64), end: u64) -> Added {
        if end <= run.1 {
            Added::Duplicate
        } else {
            Added::Overlap
        }
    }

    /// Every range, sorted (for tests).
    #[cfg(test)]
    fn ranges(&self) -> Vec<(u64, u64)> {
        let mut v = self.runs.clone();
        if self.covered > 0 {
            v.push(self.last);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::{Added, Coverage};

    #[test]
    fn coalesces_in_any_order_and_stays_small() {
        let mut c = Coverage::default();
        // Odd chunks first, then even ones in reverse: every gap closes.
        for k in (1..1000u64).step_by(2) {
            assert_eq!(c.add(k * 10, 10), Added::New);
        }
        assert_eq!(c.ranges().len(), 500);
        for k in (0..500u64).rev().map(|k| 2 * k) {
            assert_eq!(c.add(k * 10, 10), Added::New);
        }
        assert_eq!(c.ranges(), vec![(0, 10_000)]);
        assert_eq!(c.covered(), 10_000);
    }

    #[test]
    fn matches_a_bitmap_on_random_arrivals_with_duplicates() {
        let mut c = Coverage::default();
        let mut seen = [false; 300];
        let mut x = 12345u64;
        for _ in 0..2000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let k = (x >> 33) as usize % seen.len();
            let want = if seen[k] {
                Added::Duplicate
            } else {
                Added::New
            };
            assert_eq!(c.add(k as u64 * 7, 7), want, "chunk {k}");
            seen[k] = true;
            let n = seen.iter().filter(|s| **s).count() as u64;
            assert_eq!(c.covered(), 7 * n);
            let r = c.ranges();
            assert!(r.windows(2).all(|w| w[0].1 < w[1].0), "{r:?}");
        }
    }

    #[test]
    fn complete_only_when_every_gap_is_filled_once() {
        // A 1 MB write in 4 KB chunks (the last one short): every third chunk held back,
        // the rest in reverse order, then the held-back ones, each with a duplicate.
        let size = 1_000_000u64;
        let chunks: Vec<(u64, u64)> = (0..size.div_ceil(4096))
            .map(|k| (k * 4096, 4096.min(size - k * 4096)))
            .collect();
        let mut c = Coverage::default();
        for &(off, len) in chunks
            .iter()
            .rev()
            .filter(|&&(off, _)| off % (3 * 4096) != 0)
        {
            assert_eq!(c.add(off, len), Added::New);
        }
        let held: Vec<_> = chunks
            .iter()
            .filter(|&&(off, _)| off % (3 * 4096) == 0)
            .collect();
        assert_eq!(c.ranges().len(), held.len());
        for (k, &&(off, len)) in held.iter().enumerate() {
            assert!(
                c.covered() < size,
                "complete with {} gaps left",
                held.len() - k
            );
            assert_eq!(c.add(off, len), Added::New);
            assert_eq!(c.add(off, len), Added::Duplicate);
        }
        assert_eq!(c.covered(), size);
        assert_eq!(c.ranges(), vec![(0, size)]);
        // Anything re-sent after completion is a duplicate or, misaligned, an overlap.
        assert_eq!(c.add(4096, 4096), Added::Duplicate);
        assert_eq!(c.add(size - 100, 200), Added::Overlap);
        assert_eq!(c.covered(), size);
    }

    #[test]
    fn huge_write_costs_nothing() {
        let mut c = Coverage::default();
        let size = 1_000_000u64 * 1_000_000_000; // 1000000GB
        assert_eq!(c.add(size - 4096, 4096), Added::New);
        assert_eq!(c.add(0, 4096), Added::New);
        assert_eq!(c.ranges().len(), 2);
        assert_eq!(c.add(u64::MAX, 2), Added::Overlap);
    }

    #[test]
    fn duplicates_and_overlaps_are_exact() {
        let mut c = Coverage::default();
        assert_eq!(c.add(100, 50), Added::New);
        assert_eq!(c.add(200, 50), Added::New);
        assert_eq!(c.add(100, 50), Added::Duplicate);
        assert_eq!(c.add(110, 10), Added::Duplicate);
        assert_eq!(c.add(200, 50), Added::Duplicate);
        assert_eq!(c.add(140, 20), Added::Overlap);
        assert_eq!(c.add(90, 20), Added::Overlap);
        assert_eq!(c.add(240, 20), Added::Overlap);
        assert_eq!(c.add(150, 60), Added::Overlap);
        assert_eq!(c.add(0, 0), Added::Duplicate);
        assert_eq!(c.covered(), 100);
        assert_eq!(c.add(150, 50), Added::New);
        assert_eq!(c.ranges(), vec![(100, 250)]);
        assert_eq!(c.covered(), 150);
    }
}
