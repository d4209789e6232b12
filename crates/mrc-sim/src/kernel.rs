//! The discrete-event kernel: events pop in (time, tie) order, where the tie is a number each
//! event derives from its own content ([`Tie`]), not from when it was scheduled. Events at the
//! same time therefore run in an order that does not depend on which other events exist, so a
//! fabric split into partitions, each with its own queue, runs every partition's events in
//! the order one queue would (`docs/architecture.md` §3, partitioned runs). Events with equal
//! (time, tie) must be interchangeable (equal content).
//!
//! Most events are due soon (a packet's serialisation plus propagation, a pacing gap), so the
//! queue is a timing wheel, not one large heap. The next `SLOTS` slots of 2^`SLOT_SHIFT` ps
//! are unsorted buckets (`wheel`): scheduling there is an append. When a slot's turn comes its
//! bucket is sorted once (`near`, read front to back); the few events scheduled into the slot
//! while it runs go to a small heap (`late`) and a pop takes the earlier of the two heads. Events
//! beyond the wheel's horizon (long timers) wait in a heap of their own (`far`) until the wheel
//! reaches them. On a fabric whose links share one speed most events fall on a few identical
//! times, so sorting a bucket is cheap and a pop is a read; one heap of every pending event
//! cost a sift through ~14 levels, mostly cache misses, per pop.
//!
//! The order is exactly that of a single heap keyed by (time, tie): every event of a slot is
//! earlier than every event of a later slot, and within the running slot the key decides.
//! Events are small `Copy` values stored in the queue itself; packets live in an arena and are
//! named by index (no allocation per event).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

mod bitmap;

use bitmap::{Bitmap, SLOTS};

/// Simulated time in picoseconds.
pub type Time = u64;

/// Picoseconds per nanosecond.
pub const PS_PER_NS: u64 = 1_000;

/// What orders events of equal time: a number below 2^[`TIE_BITS`] computed from the event
/// alone, equal only for interchangeable events.
pub trait Tie: Copy {
    /// The event's tie-break.
    fn tie(&self) -> u64;
}

/// Bits of a [`Tie`]: the rest of a 64-bit word holds the time within a wheel slot.
pub const TIE_BITS: u32 = 64 - SLOT_SHIFT;

/// log2 of a wheel slot's width in picoseconds: 2^10 ps ≈ 1 ns. The wheel's horizon is then
/// `SLOTS` slots ≈ 4 µs, past a packet's serialisation and propagation time, so mostly
/// timers reach `far`.
const SLOT_SHIFT: u32 = 10;

/// Largest buffer (in events) an empty wheel bucket keeps for reuse.
const KEEP_CAPACITY: usize = 64;

#[derive(Clone, Copy, Debug)]
struct Entry<E> {
    time: Time,
    /// The event's [`Tie`], kept beside it: breaks ties between equal times.
    tie: u64,
    event: E,
}

impl<E> Entry<E> {
    /// The sort key: time, then tie.
    fn key(&self) -> (Time, u64) {
        (self.time, self.tie)
    }

    /// The wheel slot (absolute, not wrapped) the event falls in.
    fn slot(&self) -> u64 {
        self.time >> SLOT_SHIFT
    }

    /// [`Entry::key`] in one word, for events of one slot: their times differ only in the low
    /// `SLOT_SHIFT` bits, which go above the tie (below 2^[`TIE_BITS`]). Sorting a bucket by
    /// it costs one comparison per step instead of two.
    fn key_in_slot(&self) -> u64 {
        (self.time & ((1 << SLOT_SHIFT) - 1)) << TIE_BITS | self.tie
    }
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap, we pop the earliest (time, tie).
        other.key().cmp(&self.key())
    }
}

/// A deterministic event queue: pops in (time, tie) order.
///
/// Invariants (`cur` is the absolute slot being run): `near[head..]` and `late` hold every
/// event of slot ≤ `cur`, `near[head..]` sorted; `wheel[s % SLOTS]` holds the events of slot
/// `s` for `cur < s < cur + SLOTS`, and `occupied` marks the non-empty buckets; `far` holds the
/// events of slot ≥ `cur + SLOTS`.
#[derive(Debug)]
pub struct EventQueue<E> {
    near: Vec<Entry<E>>,
    head: usize,
    late: BinaryHeap<Entry<E>>,
    wheel: Vec<Vec<Entry<E>>>,
    occupied: Bitmap,
    far: BinaryHeap<Entry<E>>,
    cur: u64,
    len: usize,
    now: Time,
    popped: u64,
    max_len: usize,
}

impl<E: Tie> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Tie> EventQueue<E> {
    /// An empty queue at time 0.
    pub fn new() -> Self {
        Self {
            near: Vec::new(),
            head: 0,
            late: BinaryHeap::new(),
            wheel: (0..SLOTS).map(|_| Vec::new()).collect(),
            occupied: Bitmap::new(),
            far: BinaryHeap::new(),
            cur: 0,
            len: 0,
            now: 0,
            popped: 0,
            max_len: 0,
        }
    }

    /// Current time (time of the last popped event).
    pub fn now(&self) -> Time {
        self.now
    }

    /// Events popped so far.
    pub fn popped(&self) -> u64 {
        self.popped
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Schedules `event` at `time` (clamped to now: the past cannot be scheduled).
    pub fn schedule(&mut self, time: Time, event: E) {
        let tie = event.tie();
        debug_assert!(tie < 1 << TIE_BITS, "tie {tie:#x} too wide");
        let e = Entry {
            time: time.max(self.now),
            tie,
            event,
        };
        self.len += 1;
        self.max_len = self.max_len.max(self.len);
        self.place(e);
    }

    /// Puts `e` where the invariants want it.
    fn place(&mut self, e: Entry<E>) {
        let s = e.slot();
        if s <= self.cur {
            self.late.push(e);
        } else if s - self.cur < SLOTS as u64 {
            let i = s as usize % SLOTS;
            self.wheel[i].push(e);
            self.occupied.set(i);
        } else {
            self.far.push(e);
        }
    }

    /// Largest number of waiting events seen.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Time of the next event (moves the wheel on to it if the current slot is done).
    pub fn peek_time(&mut self) -> Option<Time> {
        Some(match self.next_is_late()? {
            true => self.late.peek()?.time,
            false => self.near[self.head].time,
        })
    }

    /// Pops the next event and advances time to it.
    pub fn pop(&mut self) -> Option<(Time, E)> {
        let e = match self.next_is_late()? {
            true => self.late.pop()?,
            false => {
                self.head += 1;
                self.near[self.head - 1]
            }
        };
        self.now = e.time;
        self.popped += 1;
        self.len -= 1;
        Some((e.time, e.event))
    }

    /// Where the next event is: `late` (true) or `near[head]` (false); `None` if the queue is
    /// empty. Moves the wheel on when the running slot is done.
    fn next_is_late(&mut self) -> Option<bool> {
        if self.head == self.near.len() && self.late.is_empty() {
            self.advance();
        }
        match (self.near.get(self.head), self.late.peek()) {
            (Some(n), Some(l)) => Some(l.key() < n.key()),
            (Some(_), None) => Some(false),
            (None, Some(_)) => Some(true),
            (None, None) => None,
        }
    }

    /// With the running slot done: moves `cur` to the next slot holding events and sorts that
    /// slot's bucket into `near`; then pulls the `far` events the wheel's horizon now reaches.
    fn advance(&mut self) {
        let from = (self.cur + 1) as usize % SLOTS;
        let next = match self.occupied.next_from(from) {
            // The wheel holds slots cur + 1 .. cur + SLOTS, so the offset names the slot.
            Some(i) => self.cur + 1 + ((i + SLOTS - from) % SLOTS) as u64,
            None => match self.far.peek() {
                Some(e) => e.slot(),
                None => return,
            },
        };
        self.cur = next;
        let i = next as usize % SLOTS;
        self.near.clear();
        self.head = 0;
        if self.occupied.is_set(i) {
            self.occupied.clear(i);
            // Swap buffers: the bucket becomes `near`, the old `near` the empty bucket, unless
            // it is large: every bucket keeping the capacity of the busiest slot it ever held
            // would cost tens of MB.
            std::mem::swap(&mut self.near, &mut self.wheel[i]);
            if self.wheel[i].capacity() > KEEP_CAPACITY {
                self.wheel[i] = Vec::new();
            }
            self.near.sort_unstable_by_key(Entry::key_in_slot);
        }
        while let Some(e) = self.far.peek() {
            if e.slot() - self.cur >= SLOTS as u64 {
                break;
            }
            let e = *e;
            self.far.pop();
            self.place(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    impl Tie for char {
        fn tie(&self) -> u64 {
            u64::from(*self)
        }
    }

    impl Tie for u32 {
        fn tie(&self) -> u64 {
            u64::from(*self)
        }
    }

    /// Equal times pop by tie, whatever the scheduling order.
    #[test]
    fn time_then_tie() {
        let mut q = EventQueue::new();
        q.schedule(10, 'c');
        q.schedule(5, 'b');
        q.schedule(10, 'a');
        q.schedule(5, 'd');
        let order: Vec<char> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!['b', 'd', 'a', 'c']);
        // A tie below the one just popped, at the present: next, not lost.
        assert_eq!(q.now(), 10);
        q.schedule(3, 'e');
        assert_eq!(q.pop(), Some((10, 'e')));
    }

    /// Ties, the past clamped to now, and events interleaved across the current slot, the
    /// wheel and `far`, scheduled while popping.
    #[test]
    fn ties_clamp_and_interleaving_across_slots() {
        let slot = 1 << SLOT_SHIFT;
        let horizon = slot * SLOTS as Time;
        let mut q = EventQueue::<u32>::new();
        q.schedule(3 * horizon, 0);
        q.schedule(slot + 1, 1);
        q.schedule(slot + 1, 2);
        q.schedule(slot, 3);
        q.schedule(3 * horizon, 4);
        assert_eq!(q.pop(), Some((slot, 3)));
        // The past (and the present) go behind what is already due now.
        q.schedule(0, 5);
        q.schedule(slot + 1, 6);
        assert_eq!(q.pop(), Some((slot, 5)));
        assert_eq!(q.pop(), Some((slot + 1, 1)));
        q.schedule(slot + 1, 7);
        q.schedule(2 * horizon, 8);
        assert_eq!(q.pop(), Some((slot + 1, 2)));
        assert_eq!(q.pop(), Some((slot + 1, 6)));
        assert_eq!(q.pop(), Some((slot + 1, 7)));
        assert_eq!(q.len(), 3);
        assert_eq!(q.peek_time(), Some(2 * horizon));
        // Scheduled after a peek moved the wheel on, still in (time, tie) order.
        q.schedule(2 * horizon, 9);
        q.schedule(slot + 2, 10);
        assert_eq!(q.pop(), Some((slot + 2, 10)));
        assert_eq!(q.pop(), Some((2 * horizon, 8)));
        assert_eq!(q.pop(), Some((2 * horizon, 9)));
        assert_eq!(q.pop(), Some((3 * horizon, 0)));
        assert_eq!(q.pop(), Some((3 * horizon, 4)));
        assert_eq!(q.pop(), None);
        assert_eq!(q.peek_time(), None);
        assert_eq!((q.popped(), q.max_len(), q.now()), (11, 6, 3 * horizon));
    }

    /// The reference: one binary heap keyed by (time, tie).
    #[derive(Default)]
    struct Reference {
        heap: BinaryHeap<std::cmp::Reverse<(Time, u32)>>,
        now: Time,
    }

    impl Reference {
        fn schedule(&mut self, time: Time, ev: u32) {
            self.heap.push(std::cmp::Reverse((time.max(self.now), ev)));
        }
        fn pop(&mut self) -> Option<(Time, u32)> {
            let std::cmp::Reverse((t, ev)) = self.heap.pop()?;
            self.now = t;
            Some((t, ev))
        }
    }

    /// Many random schedules (equal times, ties below the last popped one, the past, within a
    /// slot, across the wheel, beyond it) interleaved with pops and peeks pop exactly as the
    /// reference heap does.
    #[test]
    fn matches_a_single_heap() {
        let horizon = (SLOTS as Time) << SLOT_SHIFT;
        for seed in 0..8 {
            let mut rng = SplitMix64::new(seed);
            let (mut q, mut r) = (EventQueue::new(), Reference::default());
            for _ in 0..200_000 {
                let now = q.now();
                let roll = rng.next_u64();
                if roll % 8 < 3 {
                    assert_eq!(q.pop(), r.pop());
                    continue;
                }
                if roll % 8 == 3 {
                    assert_eq!(q.peek_time(), r.heap.peek().map(|e| e.0.0));
                }
                let d = rng.next_u64();
                // Few distinct ties: many equal (time, tie) pairs, which must be equal events.
                let ev = (d >> 40) as u32 % 64;
                let time = match roll % 8 {
                    4 => now,
                    5 => now.saturating_sub(d % 5_000),
                    6 => now + d % 3_000,
                    _ => now + d % (3 * horizon),
                };
                q.schedule(time, ev);
                r.schedule(time, ev);
                assert_eq!(q.len(), r.heap.len());
            }
            while let Some(e) = r.pop() {
                assert_eq!(q.pop(), Some(e));
            }
            assert!(q.is_empty() && q.pop().is_none());
        }
    }
}
