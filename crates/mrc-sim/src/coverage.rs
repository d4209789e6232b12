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
    /// Disjoint, non-adjacent `(start, end)` ranges, sorted by start.
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
        // Fast path: at or beyond the end of the last range.
        if let Some(last) = self.runs.last_mut()
            && start >= last.0
        {
            if start > last.1 {
                self.runs.push((start, end));
            } else if start == last.1 {
                last.1 = end;
            } else {
                return Self::seen(*last, end);
            }
            self.covered += len;
            return Added::New;
        }
        // First range starting after `start`; the one before it may contain `start`.
        let i = self.runs.partition_point(|r| r.0 <= start);
        if i > 0 && start < self.runs[i - 1].1 {
            return Self::seen(self.runs[i - 1], end);
        }
        if i < self.runs.len() && end > self.runs[i].0 {
            return Added::Overlap;
        }
        let joins_prev = i > 0 && self.runs[i - 1].1 == start;
        let joins_next = i < self.runs.len() && self.runs[i].0 == end;
        match (joins_prev, joins_next) {
            (true, true) => {
                self.runs[i - 1].1 = self.runs[i].1;
                self.runs.remove(i);
            }
            (true, false) => self.runs[i - 1].1 = end,
            (false, true) => self.runs[i].0 = start,
            (false, false) => self.runs.insert(i, (start, end)),
        }
        self.covered += len;
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
        assert_eq!(c.runs.len(), 500);
        for k in (0..500u64).rev().map(|k| 2 * k) {
            assert_eq!(c.add(k * 10, 10), Added::New);
        }
        assert_eq!(c.runs, vec![(0, 10_000)]);
        assert_eq!(c.covered(), 10_000);
    }

    #[test]
    fn huge_write_costs_nothing() {
        let mut c = Coverage::default();
        let size = 1_000_000u64 * 1_000_000_000; // 1000000GB
        assert_eq!(c.add(size - 4096, 4096), Added::New);
        assert_eq!(c.add(0, 4096), Added::New);
        assert_eq!(c.runs.len(), 2);
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
        assert_eq!(c.runs, vec![(100, 250)]);
        assert_eq!(c.covered(), 150);
    }
}
