//! Probe and flap-damping state of a set's EVs, kept apart from the per-EV entries.
//!
//! Only an EV that has been retired probes, and most QPs never retire one, so a set holds no
//! probe state until its first retirement: a QP of an 8-plane Clos has 320 EVs, and with this
//! state inline each entry took three times the memory (a 131,072-NIC fabric holds 262,144
//! QP ends).

use crate::time::{Duration, Instant};

/// Probe state of one EV.
#[derive(Debug, Clone, Copy)]
pub(super) struct Probe {
    /// Next probe (or, while `outstanding`, its answer's deadline); `Instant::MAX`: none.
    pub(super) at: Instant,
    pub(super) interval: Duration,
    pub(super) outstanding: bool,
    pub(super) successes: u8,
    /// When probes last brought the EV back (`Instant::ZERO`: never).
    pub(super) resurrected_at: Instant,
    /// Retirements in a row that came soon after a resurrection (flap damping).
    pub(super) flaps: u8,
}

impl Probe {
    /// The state of an EV that was never retired.
    fn idle(first: Duration) -> Self {
        Self {
            at: Instant::MAX,
            interval: first,
            outstanding: false,
            successes: 0,
            resurrected_at: Instant::ZERO,
            flaps: 0,
        }
    }
}

/// Probe state of every EV of a set, indexed like its entries (see the module doc).
#[derive(Debug, Clone)]
pub(super) struct Probes {
    /// Empty until the first [`Probes::get_mut`], then one per entry.
    all: Vec<Probe>,
    /// The set's entry count.
    len: usize,
    /// The first probe interval (`ProbePolicy::first`).
    first: Duration,
}

impl Probes {
    /// No state yet for `len` entries probed first after `first`.
    pub(super) fn new(len: usize, first: Duration) -> Self {
        Self {
            all: Vec::new(),
            len,
            first,
        }
    }

    /// The state of entry `i` (the idle state if it was never retired).
    pub(super) fn get(&self, i: usize) -> Probe {
        self.all
            .get(i)
            .copied()
            .unwrap_or_else(|| Probe::idle(self.first))
    }

    /// The state of entry `i`, allocating every entry's on first use.
    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut Probe> {
        if self.all.is_empty() {
            self.all = vec![Probe::idle(self.first); self.len];
        }
        self.all.get_mut(i)
    }
}

#[cfg(test)]
mod tests {
    use super::Probes;
    use crate::time::{Duration, Instant};

    #[test]
    fn idle_until_first_use_then_kept_per_entry() {
        let first = Duration::from_micros(100);
        let mut p = Probes::new(3, first);
        assert_eq!(p.get(1).at, Instant::MAX);
        assert_eq!(p.get(1).interval, first);
        assert!(p.all.is_empty());
        let now = Instant::ZERO + Duration::from_micros(5);
        if let Some(x) = p.get_mut(1) {
            x.resurrected_at = now;
            x.flaps = 2;
        }
        assert_eq!(p.all.len(), 3);
        assert_eq!(p.get(1).resurrected_at, now);
        assert_eq!(p.get(1).flaps, 2);
        assert_eq!(p.get(2).resurrected_at, Instant::ZERO);
        assert!(p.get_mut(3).is_none());
    }
}
