//! The hot path allocates nothing: a 16,384-packet transfer between two connections (after
//! setup) performs zero heap allocations. Counted with a global allocator in this test binary.
#![allow(clippy::unwrap_used, reason = "test code")]
#![allow(
    unsafe_code,
    reason = "a counting global allocator needs unsafe impl GlobalAlloc"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use mrc_proto::testing::mrc_pair_configs;
use mrc_proto::{
    Connection, Duration, Instant, MrcQpAttr, PortMask, Received, Transport, WriteRequest,
};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Only allocations of the thread under test count (libtest's own threads may allocate).
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    if COUNTING.with(std::cell::Cell::get) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn bulk_transfer_allocates_nothing_per_packet() {
    let (a, b) = mrc_pair_configs(1, 8, 32, 8, 100_000_000_000, Duration::from_micros(10));
    let mut a = Connection::new_rts(a, MrcQpAttr::default()).unwrap();
    let mut b = Connection::new_rts(b, MrcQpAttr::default()).unwrap();
    let len: u64 = 64 << 20;
    let src = a.regions_mut().register_virtual(len);
    let dst = b.regions_mut().register_virtual(len);
    for i in 0..(len >> 20) {
        a.post_write(WriteRequest {
            wr_id: i,
            local_addr: src.addr + (i << 20),
            len: 1 << 20,
            remote_addr: dst.addr + (i << 20),
            rkey: dst.rkey,
            imm: (i % 8 == 7).then_some(i as u32),
        })
        .unwrap();
    }
    let before = ALLOCS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let mut now = Instant::ZERO;
    let mut events = 0;
    while a.outstanding() > 0 {
        now += Duration::from_nanos(42);
        for c in [&mut a, &mut b] {
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
            }
        }
        if let Some(tx) = a.poll_transmit(now, PortMask::ALL) {
            b.handle_packet(now, &Received::new(tx.repr, tx.ev, tx.port, None));
        }
        while let Some(tx) = b.poll_transmit(now, PortMask::ALL) {
            a.handle_packet(now, &Received::new(tx.repr, tx.ev, tx.port, None));
        }
        while a.poll_event().is_some() || b.poll_event().is_some() {
            events += 1;
        }
    }
    COUNTING.with(|c| c.set(false));
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert_eq!(a.stats().data_sent, 16_384);
    assert_eq!(events, 64 + 8);
    assert_eq!(allocs, 0, "heap allocations on the hot path");
}
