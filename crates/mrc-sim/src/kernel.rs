//! The discrete-event kernel: a binary min-heap keyed by (time, sequence number), so events at
//! the same time run in the order they were scheduled. Events are small `Copy` values stored in
//! the heap itself; packets live in an arena and are named by index (no allocation per event).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Simulated time in picoseconds.
pub type Time = u64;

/// Picoseconds per nanosecond.
pub const PS_PER_NS: u64 = 1_000;

#[derive(Clone, Copy, Debug)]
struct Entry<E> {
    /// `time << 64 | seq`: one comparison orders by time, then scheduling order.
    key: u128,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
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
        // Reversed: BinaryHeap is a max-heap, we pop the earliest (time, seq).
        other.key.cmp(&self.key)
    }
}

/// A deterministic event queue: pops in (time, scheduling order).
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    seq: u64,
    now: Time,
    popped: u64,
    max_len: usize,
}

impl<E: Copy> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Copy> EventQueue<E> {
    /// An empty queue at time 0.
    pub fn new() -> Self {
        Self {
            heap: BinaryHeap::with_capacity(1 << 12),
            seq: 0,
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
        self.heap.len()
    }

    /// Whether no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Schedules `event` at `time` (clamped to now: the past cannot be scheduled).
    pub fn schedule(&mut self, time: Time, event: E) {
        let time = time.max(self.now);
        self.heap.push(Entry {
            key: (u128::from(time) << 64) | u128::from(self.seq),
            event,
        });
        self.seq += 1;
        self.max_len = self.max_len.max(self.heap.len());
    }

    /// Largest number of waiting events seen.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Time of the next event.
    pub fn peek_time(&self) -> Option<Time> {
        self.heap.peek().map(|e| (e.key >> 64) as Time)
    }

    /// Pops the next event and advances time to it.
    pub fn pop(&mut self) -> Option<(Time, E)> {
        let e = self.heap.pop()?;
        let time = (e.key >> 64) as Time;
        self.now = time;
        self.popped += 1;
        Some((time, e.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_then_fifo() {
        let mut q = EventQueue::new();
        q.schedule(10, 'a');
        q.schedule(5, 'b');
        q.schedule(10, 'c');
        q.schedule(5, 'd');
        let order: Vec<char> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!['b', 'd', 'a', 'c']);
        assert_eq!(q.now(), 10);
        q.schedule(3, 'e');
        assert_eq!(q.pop(), Some((10, 'e')));
    }
}
