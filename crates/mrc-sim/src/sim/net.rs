//! The network's data: packets, the intrusive FIFOs that queue them, egress ports and link state.

use super::*;

/// What every hop needs of a packet (one cache line).
#[derive(Clone, Copy, Debug)]
#[repr(align(64))]
pub(super) struct Pkt {
    pub(super) carrier: Option<Carrier>,
    /// Next packet in the same port FIFO (intrusive list), or `NONE`.
    pub(super) next: u32,
    /// While on the wire and not last: when the packet behind this one on the link arrives.
    /// Its `Arrive` event is scheduled when this one arrives, and reading the time here, in a
    /// line just loaded, spares a cache miss on a packet that is not handled yet.
    pub(super) behind_at: Time,
    pub(super) dst_nic: u32,
    pub(super) bytes: u32,
    pub(super) hash: u64,
    pub(super) in_port: u32,
    pub(super) class: TrafficClass,
    pub(super) trim: Option<Trim>,
    pub(super) ecn: bool,
    pub(super) srv6: bool,
}

/// What only the NICs need (typed headers, EV, the sending NIC for the demux, the pair).
#[derive(Clone, Copy, Debug)]
pub(super) struct Meta {
    pub(super) repr: mrc::Repr,
    pub(super) ev: u32,
    pub(super) src_nic: u32,
    pub(super) pair: u32,
}

/// A FIFO of packets linked through [`Pkt::next`]: no buffer of its own, so a port's queues
/// cost no extra cache misses.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fifo {
    pub(super) head: u32,
    pub(super) tail: u32,
}

impl Fifo {
    pub(super) const EMPTY: Self = Self {
        head: NONE,
        tail: NONE,
    };

    pub(super) fn is_empty(&self) -> bool {
        self.head == NONE
    }

    pub(super) fn push(&mut self, pkts: &mut [Pkt], pk: u32) {
        pkts[pk as usize].next = NONE;
        if self.tail == NONE {
            self.head = pk;
        } else {
            pkts[self.tail as usize].next = pk;
        }
        self.tail = pk;
    }

    pub(super) fn pop(&mut self, pkts: &[Pkt]) -> Option<u32> {
        if self.head == NONE {
            return None;
        }
        let pk = self.head;
        self.head = pkts[pk as usize].next;
        if self.head == NONE {
            self.tail = NONE;
        }
        Some(pk)
    }
}

/// An egress port (two cache lines; queues are intrusive packet lists). Field order is the
/// memory layout: the first line holds the FIFOs, link, peer and timing.
#[derive(Debug)]
#[repr(C, align(64))]
pub(super) struct Port {
    /// Packets on the wire, in arrival order (constant latency, so FIFO): only the head has an
    /// `Arrive` event in the queue, which keeps the event queue small.
    pub(super) flight: Fifo,
    pub(super) data: Fifo,
    pub(super) ctrl: Fifo,
    pub(super) link: u32,
    pub(super) peer: u32,
    pub(super) rev: u32,
    pub(super) node: u32,
    /// The port serialises until this time.
    pub(super) busy_until: Time,
    pub(super) latency_ps: Time,
    pub(super) data_bytes: u64,
    pub(super) ctrl_bytes: u64,
    pub(super) gbps: u32,
    pub(super) to_nic: bool,
    pub(super) paused: bool,
    /// A `TxDone` event is pending (only scheduled when something waits, or at NICs).
    pub(super) wake: bool,
    pub(super) pause_sent: bool,
    pub(super) tx_bytes: u64,
    pub(super) tx_pkts: u64,
    pub(super) busy_ps: Time,
    pub(super) ingress_bytes: u64,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct LinkState {
    pub(super) up: bool,
    pub(super) black_hole: bool,
    pub(super) loss_ppm: u32,
    pub(super) routed_up: bool,
}

pub(super) fn ser_ps(bytes: u32, gbps: u32) -> Time {
    (u64::from(bytes) * 8_000).div_ceil(u64::from(gbps.max(1)))
}

impl<F: TransportFactory> Sim<F> {
    pub(super) fn alloc(&mut self, p: Pkt, m: Meta) -> u32 {
        if let Some(i) = self.free.pop() {
            self.pkts[i as usize] = p;
            self.meta[i as usize] = m;
            i
        } else {
            self.pkts.push(p);
            self.meta.push(m);
            (self.pkts.len() - 1) as u32
        }
    }
}
