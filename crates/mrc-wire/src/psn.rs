//! 24-bit packet sequence numbers with serial (wrapping) arithmetic.
//!
//! //= docs/protocol.md §5.5: `d = ((a − b + 2^23) mod 2^24) − 2^23`.

use core::fmt;

/// Number of distinct PSN values (2^24).
pub const PSN_SPACE: u32 = 1 << 24;
const PSN_MASK: u32 = PSN_SPACE - 1;
const HALF: i32 = 1 << 23;

/// A 24-bit packet sequence number. Arithmetic wraps modulo 2^24.
///
/// There is deliberately no `Ord`: serial order is not transitive over the whole space. Use
/// [`Psn::diff`] or [`Psn::precedes`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Psn(u32);

impl Psn {
    /// PSN zero.
    pub const ZERO: Self = Self(0);

    /// A PSN from any integer; bits above 24 are discarded.
    #[inline]
    pub const fn new(value: u32) -> Self {
        Self(value & PSN_MASK)
    }

    /// The raw 24-bit value.
    #[inline]
    pub const fn value(self) -> u32 {
        self.0
    }

    /// `self + n` modulo 2^24.
    #[inline]
    #[must_use]
    pub const fn add(self, n: u32) -> Self {
        Self(self.0.wrapping_add(n) & PSN_MASK)
    }

    /// `self - n` modulo 2^24.
    #[inline]
    #[must_use]
    pub const fn sub(self, n: u32) -> Self {
        Self(self.0.wrapping_sub(n) & PSN_MASK)
    }

    /// Signed serial distance `self - other`, in `[-2^23, 2^23)`.
    #[inline]
    pub const fn diff(self, other: Self) -> i32 {
        let d = (self.0.wrapping_sub(other.0).wrapping_add(HALF as u32) & PSN_MASK) as i32;
        d - HALF
    }

    /// Forward distance from `other` to `self` modulo 2^24, in `[0, 2^24)`.
    #[inline]
    pub const fn distance_from(self, other: Self) -> u32 {
        self.0.wrapping_sub(other.0) & PSN_MASK
    }

    /// True if `self` comes strictly before `other` in serial order.
    #[inline]
    pub const fn precedes(self, other: Self) -> bool {
        self.diff(other) < 0
    }

    /// The PSN `offset` away (offset may be negative), modulo 2^24.
    #[inline]
    #[must_use]
    pub const fn offset(self, offset: i32) -> Self {
        Self((self.0 as i32).wrapping_add(offset) as u32 & PSN_MASK)
    }
}

impl fmt::Debug for Psn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Psn({})", self.0)
    }
}

impl fmt::Display for Psn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<Psn> for u32 {
    fn from(psn: Psn) -> Self {
        psn.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wraps_at_24_bits() {
        assert_eq!(Psn::new(PSN_SPACE).value(), 0);
        assert_eq!(Psn::new(PSN_SPACE - 1).add(2).value(), 1);
        assert_eq!(Psn::new(0).sub(1).value(), PSN_SPACE - 1);
        assert_eq!(Psn::new(1).diff(Psn::new(PSN_SPACE - 1)), 2);
        assert_eq!(Psn::new(PSN_SPACE - 1).diff(Psn::new(1)), -2);
        assert!(Psn::new(PSN_SPACE - 1).precedes(Psn::new(3)));
        assert!(!Psn::new(3).precedes(Psn::new(3)));
        assert_eq!(Psn::new(5).distance_from(Psn::new(PSN_SPACE - 5)), 10);
        assert_eq!(Psn::new(2).offset(-5).value(), PSN_SPACE - 3);
    }

    proptest! {
        #[test]
        fn add_then_diff_is_identity(a in 0u32..PSN_SPACE, n in 0u32..(1 << 23)) {
            let p = Psn::new(a);
            prop_assert_eq!(p.add(n).diff(p), n as i32);
            prop_assert_eq!(p.add(n).distance_from(p), n);
            prop_assert_eq!(p.add(n).sub(n), p);
            prop_assert_eq!(p.offset(n as i32).offset(-(n as i32)), p);
        }

        #[test]
        fn diff_is_antisymmetric(a in 0u32..PSN_SPACE, b in 0u32..PSN_SPACE) {
            let (a, b) = (Psn::new(a), Psn::new(b));
            let d = a.diff(b);
            prop_assert!((-(1 << 23)..(1 << 23)).contains(&d));
            if d != -(1 << 23) {
                prop_assert_eq!(b.diff(a), -d);
            }
        }
    }
}
