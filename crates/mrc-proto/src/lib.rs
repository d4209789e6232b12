//! The MRC transport as a sans-IO state machine: connections (requester and responder), memory
//! regions, the entropy-value (EV) set, SACK/NACK recovery and NSCC congestion control, plus the
//! RoCEv2 RC baseline used for comparisons.
//!
//! No sockets, threads, clock or global RNG: the caller owns time and randomness, so the same code
//! runs unchanged in the simulator (`mrc-sim`) and over real sockets (`mrc-net`).
//!
//! # Shape (quinn-proto style, docs/architecture.md §3)
//!
//! ```text
//! conn.handle_packet(now, &Received { repr, ev, port, ecn_ce, trim, payload })
//! conn.handle_timeout(now)
//! conn.poll_transmit(now, ready_ports) -> Option<Transmit { repr, ev, port, class, payload }>
//! conn.poll_timeout() -> Option<Instant>
//! conn.poll_event() -> Option<Event>
//! conn.post_write(WriteRequest { .. })            // Write or Write-with-Immediate
//! ```
//!
//! Both [`Connection`] (MRC) and [`roce::Connection`] (RoCEv2 RC baseline) implement
//! [`Transport`], so the simulator and the test harness drive them the same way.
//!
//! Above the QPs sits the NIC layer, [`nic::Nic`] (docs/architecture.md §2): it owns one NIC's QPs,
//! demultiplexes packets by (peer, QPN), fans port status out, shares the ports round robin
//! between QPs and keeps their timers; [`nic::PathProfile`] is the one constructor of a QP's
//! configuration for the paths it runs on.
//!
//! # Decisions where the references leave room
//!
//! - **Payload.** [`Transmit::payload`] names a local address range; the caller reads the bytes
//!   from [`Transport::regions`] (real transport) or carries only the length (simulator). On
//!   receive, `Received::payload = Some(bytes)` is copied into the region named by RETH after the
//!   key/bounds check; `None` does the bookkeeping only.
//! - **Access errors.** A write with an unknown R_Key or outside its region is never applied; the
//!   responder answers NACK `UNEXP_EVENT` (the fatal code; RC semantics of a remote access
//!   error) and counts it; the requester completes the work request with
//!   [`WcStatus::RemoteAccessError`] and moves the QP to ERROR. The responder itself stays up (a
//!   forged packet must not kill it).
//! - **RETH.** Every data packet carries VA of its own payload, the R_Key, and DMA length = the
//!   whole message length.
//! - **SKIP** lasts one rotation pass; **reverse EVs** are the two most recent EVs per plane on
//!   which data arrived intact ([`ev::ReverseEvs`]); probe answers go back on the probed EV.
//! - **RTT** comes from the sender's per-PSN send times (no TSETH is emitted); NSCC counts
//!   newly acked bytes from its own send records, not from `rcvd_bytes` (which is still sent,
//!   in 256-byte units).
//! - **Congestion is never path failure** \[O\]. Only evidence that a *path* lost data
//!   retires its EV; congestion (full or deep queues) and QP-wide outages never do.
//!   - *Suspects.* A transmission overdue by a third of the SLEEK threshold (below) becomes a
//!     suspect: its path is judged, nothing is resent. It is cleared (late, not lost) when it
//!     proves it arrived: it is acked, a SACK it triggered echoes its EV (gap-filling and
//!     duplicate arrivals are SACKed at once), or a retransmission of it is acked sooner than
//!     the minimum RTT after leaving. A suspect counts against its EV when (a) a later
//!     transmission on the same EV, of the same or a lower-priority class, is acked while it is
//!     unacked (*overtaken*: one SRv6 path is FIFO, so it was dropped); (b) its EV holds a
//!     second uncleared suspect, or (c) its per-packet timer passes (*silence*). A per-packet
//!     timer expiry without a suspect is silence too.
//!   - *Silence is relative.* It counts against the EV only if a transmission sent *later*
//!     (on another path) was acked: when nothing sent since came back, the whole QP waits (its
//!     receiver's link, an incast burst whose trimmed headers were dropped) and no path is
//!     worse than another; the QP timer owns that case.
//!   - *Strikes.* The first count retires the EV (the paper's rule) unless the QP saw
//!     congestion within its last 64 acked packets (a QP with fewer acked packets cannot know
//!     its paths are quiet and counts as congested). After a trim NACK it takes three counts in
//!     a row (only a full queue loses packets on a live path, as trimmed headers dropped when
//!     the control queue overflows); after an ECN echo, two (a deep queue delays packets past
//!     any timer now and then). Any delivery proven on the EV (an ack of a packet sent on it,
//!     a SACK echoing it, a trim NACK from it: the header crossed the path) resets the run. A
//!     dead path loses everything sent on it and still gets there; a live congested one does
//!     not. The price: under load a dead path costs one or two more packets before it is
//!     retired (`scenarios/README.md`, `default.toml`).
//!   - *Patience.* While the QP sees congestion, silence counts only once twice the largest
//!     recent RTT sample has passed since the packet left (a deep FIFO queue delays every
//!     packet behind a late one, so two overdue packets on one EV are not evidence then); an
//!     overtaken packet waits as long for a trim NACK that may travel a slower reverse path
//!     than the SACK that overtook it.
//!   - Retiring an EV declares lost every other packet in flight on it. At most 256 suspects
//!     are held; beyond that an overdue packet is judged at once.
//!   - Measured: the 1,023 → 1 incast of `scenarios/incast-1023.toml` retired 327,754 EVs
//!     before and none after; a black-holed EV among 128 is retired in 2.8 SRTT
//!     (`tests/path_failure.rs`).
//! - **QP timer**: no progress for T = 1.024 µs·2^timeout → retransmit everything in flight;
//!   `linear_cnt` retries at T, then `exp_cnt` at T·2^k (cap 2^24·1.024 µs; 25 = forever),
//!   then ERROR.
//! - **Out-of-order loss threshold** (SLEEK) max(min(1.5·cwnd, maxwnd), 5·MSS)/MSS packets,
//!   counted in *send order* (a per-packet transmit sequence number, so retransmissions are
//!   judged fairly), scaled by [`ConnectionConfig::sleek_scale`] (default 1), resends a
//!   packet. It adapts like RACK: a retransmission acked sooner than the minimum RTT after it
//!   was sent proves the loss was reordering, and doubles a multiplier (≤ 16) that halves
//!   again after 16 quiet SRTTs.
//! - **Load follows capacity.** A plane with EVs out of use (ASSUMED_BAD or DENIED) has lost
//!   about that share of its paths, so it carries at most `1 − out/total` of what a healthy
//!   plane of the QP carries (bytes counted since plane health last changed); a NIC port
//!   drains at line rate whatever is behind it, so without this the plane keeps its equal
//!   share and congests its remaining paths. While the plane is congested (an ECN echo for
//!   it within the last 4 base RTTs) the comparison is with every plane that can carry, as
//!   at full load the healthy ports are busy whenever the degraded one is free; otherwise
//!   its remaining paths have room and it only yields to healthy ports ready at the same
//!   moment. Healthy planes are never held back.
//! - **Probe budget.** Probes travel in the strict-priority control class, so a thousand
//!   QPs probing on their own schedules would starve data. A QP has at most
//!   [`ProbePolicy::max_outstanding`] probes out and earns one per
//!   [`ProbePolicy::data_per_probe`] data packets sent (a QP that sends nothing may still
//!   probe once per [`ProbePolicy::max_interval`]).
//! - **Per-packet timer floor** is 2 × the *configured* base RTT, never a smaller observed one.
//! - **SACK coverage** (extension of §13 item 10): a SACK reports only the 64 PSNs below its
//!   trigger, so a packet arriving ≥ 48 PSNs below the newest arrival is SACKed at once, and a
//!   coalesced or queued SACK is only replaced by one whose bitmap still covers every packet it
//!   stood for. Without this, late packets stay unreported while the cumulative ack is held by
//!   a hole and are falsely declared lost.
//! - **A last-hop trim restarts the plane rotation at a random plane.** A QP sends on its planes
//!   in turn, from plane 0. QPs at an incast's floor window send one packet per round trip
//!   each and so stay in step: every round hits one of the receiver's lanes while the others
//!   idle (255 → 1 on an 8-plane Clos: 24 of the first 660 packets arrived whole). A last-hop
//!   trim says the receiver's lane on that plane is full; the trimmed QPs now scatter. Traffic
//!   that meets no full last hop keeps the common rotation, which spreads a permutation or an
//!   all-to-all evenly over the planes (a random start per QP cost the 16 KB all-to-all of
//!   256 NICs 0.858 → 0.725).
//! - **NACKs overtake queued SACKs** in a responder's control queue. A SACK's bitmap is built
//!   when it leaves, so waiting costs it little; a NACK that waited behind a SACK backlog (a
//!   responder whose NIC port many QPs share, under ECN marks that each ask for a SACK) left
//!   its trimmed packet unexplained for ≈ 50 µs, and the sender judged it lost on its path.
//! - **Responder penalty** `rcv_cwnd_pen` stands for host backpressure, which is not modelled:
//!   it is 0 unless [`ConnectionConfig::penalty_start`] asks for one from the share of the
//!   tracking window held out of order. Data is placed as it arrives, so that share grows only
//!   behind a lost packet; as a penalty it cut a flow's window to a third at every path failure
//!   and took 400 µs to grow back (`flaps`: slowest flow +14% instead of +3.5%). NSCC applies a
//!   penalty it receives as `cwnd -= newly_acked × pen/127` (127 → one packet), our reading
//!   of §8.7.
//! - **NSCC on unexplained loss** only arms Quick Adapt: a lost packet on a failed path is not
//!   congestion (the EV is retired instead). Trims reduce the window as §8.7 says.
//! - **QP hint**: `num_remote_recv_peers = k > 1` sets the NSCC initial window to BDP / k and
//!   divides the fair increase `fi` by k. NSCC scales its gains to the BDP a QP is to fill
//!   (§8.3's `a`); the hint says this QP's share is 1/k of that. The fair increase is the gain
//!   that acts when delay is high without ECN, which at the unmarked last hop means the incast
//!   itself: unscaled, each of 255 QPs into one 800G NIC grew by 40 packets a round trip and
//!   the trims that followed served them unevenly (255 → 1: FCT p50 177 µs, max 310 µs). The
//!   other gains keep the NIC's scale, so a QP left alone still ramps up fast (scaling them too
//!   lowered goodput in every fan-in measured).
//! - **Windows below one packet** (ours; NSCC's floor is one packet): where BDP / k is less
//!   than a packet and the QP writes to fewer than k destinations (`num_send_peers`), the
//!   floor is BDP / k and the window is a rate, window bytes per base RTT: a data packet
//!   leaves at least base RTT × its length / window after the one before (`Timer::Pace`; a
//!   window that grows meanwhile shortens the wait). The first gap is drawn at random within
//!   the period, or QPs that start together stay in step. With a one-packet floor 1,023
//!   senders kept ≈ 4 MB in flight into a receiver whose lanes and queues hold ≈ 1 MB, every
//!   delivered packet was trimmed ≈ 7 times and the 64 B headers took ≈ 10% of its link
//!   (1,023 → 1 on the 8-plane Clos: goodput 0.864, 169,579 trims; paced 0.926, 29,842). A QP
//!   whose NIC writes to k or more destinations is held to its share by its own NIC's
//!   arbitration and keeps the one-packet floor: pacing it too took the 256-NIC all-to-all of
//!   16 KB from 0.858 to 0.683.
//!
//! # Trust model
//!
//! As RC over RoCE: a QP acts on any packet with its QPN and a PSN (or ack) inside its window,
//! and places a write whose R_Key and range its regions grant. So it trusts its peer, and
//! anyone **on the path** who sees the peer's packets: such an attacker can complete a work
//! request with a forged cumulative SACK inside the window, or write with a key read off the
//! wire. That attacker is out of scope here, as for RC; the remedy is authentication or
//! encryption below the transport, not in it.
//!
//! In scope is the **off-path** forger, who does not see the traffic: a packet with a wrong
//! destination QPN, a PSN or ack outside the window, or a wrong R_Key never places a byte,
//! completes or fails a work request, or stalls the QP. Such packets are dropped and counted
//! (`rejected_wrong_qp`, `rejected_out_of_window`, `forged_acks`, `stale_nacks`,
//! `rejected_bad_key`); a bad key or range draws a fatal NACK that the requester only acts on if
//! its PSN and EV match a packet it has in flight. Endpoint requests (destination QP 0x2: port
//! status, EV probes) are node-scoped and carry no QP binding: the core takes them as given, and
//! the socket endpoint (`mrc-net`) delivers them only from a QP's bound peer address.
//! `tests/security.rs`, `tests/chaos.rs` and the `conn_pair` fuzz target ([`fuzzing`]) check
//! the in-scope cases; a Write-IMM reports at most the message length its RETH claims inside
//! the key's region, checked packet by packet (packets arrive out of order, so the responder
//! cannot add up a message's bytes at its last packet as RC does).
//!
//! # Not implemented (yet)
//!
//! - The reliability probe "after 3 × base RTT without progress" (§7.3) to refresh ACK state
//!   when SACKs are lost: lost SACKs are covered by later cumulative SACKs, the per-packet timer
//!   and the QP timer instead.
//! - TSETH emission (RTT comes from local send times), responder-side lowering of the dynamic
//!   MPR grant (it always grants `mpr_dest`), ALWAYS_SKIP emission (never, the §13 default),
//!   originating controller EV probes (answered, not sent), EV event masks (every GOOD /
//!   ASSUMED_BAD transition is reported), a separate node-level `Controller` (profiles live in
//!   [`ConnectionConfig`] and the QP attributes must name their IDs).
#![forbid(unsafe_code)]

mod bits;
pub mod cc;
pub mod config;
mod conn;
pub mod ev;
pub mod fuzzing;
pub mod mr;
pub mod nic;
pub mod rng;
pub mod roce;
pub mod testing;
pub mod time;

pub use cc::{
    AckSample, CcFactory, CongestionControl, DcqcnCc, DcqcnCcConfig, FixedWindow, Nscc, NsccConfig,
};
pub use config::{
    CcAlgorithm, CcProfile, ConnectionConfig, DeviceAttr, EvProfile, LbMode, ModifyQpError,
    MrcQpAttr, PlaneEvs, ProbePolicy, QpHint, QpState, Retry, SackPolicy,
};
pub use conn::Connection;
pub use ev::{EvSet, EvState};
pub use mr::{AccessError, MemoryRegions, RegionHandle};
pub use nic::{Demux, Nic, NicError, NicQp, NicStats, PathProfile, PeerId, QpId};
pub use time::{Duration, Instant};

use mrc_wire::mrc;

/// Ports (= planes) as a bitmask: bit p = port/plane p (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PortMask(pub u32);

impl PortMask {
    /// Every port.
    pub const ALL: Self = Self(u32::MAX);
    /// No port.
    pub const NONE: Self = Self(0);

    /// True if port `p` is in the mask.
    pub const fn contains(self, p: u8) -> bool {
        p < 32 && self.0 & (1 << p) != 0
    }

    /// The first `n` ports.
    pub const fn first(n: u8) -> Self {
        if n >= 32 {
            Self::ALL
        } else {
            Self((1u32 << n) - 1)
        }
    }
}

/// Traffic class of a packet (selects DSCP / switch queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrafficClass {
    /// First transmission of data (trimmable).
    Data,
    /// Retransmitted data (own, higher-priority class; trimmable).
    Retransmit,
    /// SACK, NACK, probes, endpoint requests (high priority, never trimmed).
    Control,
}

/// A payload by reference: bytes `[addr, addr + len)` of a local memory region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PayloadRef {
    /// Local address.
    pub addr: u64,
    /// Length in bytes (= `payload_len` of the Write body).
    pub len: u32,
}

/// A packet to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transmit {
    /// Typed headers.
    pub repr: mrc::Repr,
    /// EV (path) to send on.
    pub ev: u32,
    /// Local port (= plane) to send on.
    pub port: u8,
    /// Traffic class.
    pub class: TrafficClass,
    /// Payload of a data packet.
    pub payload: Option<PayloadRef>,
}

impl Transmit {
    /// A packet to send (for transports outside this crate, e.g. the simulator's test ones).
    pub const fn new(
        repr: mrc::Repr,
        ev: u32,
        port: u8,
        class: TrafficClass,
        payload: Option<PayloadRef>,
    ) -> Self {
        Self {
            repr,
            ev,
            port,
            class,
            payload,
        }
    }

    /// Bytes of the MRC packet (headers + payload + ICRC), without UDP/IP/Ethernet.
    pub fn wire_len(&self) -> usize {
        self.repr.buffer_len()
    }
}

/// How the network trimmed a data packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trim {
    /// Trimmed inside the fabric (congestion on this path).
    Fabric,
    /// Trimmed at the last hop (incast).
    LastHop,
}

/// A packet handed to [`Transport::handle_packet`].
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// Typed headers.
    pub repr: mrc::Repr,
    /// EV the packet travelled on (the sender's EV).
    pub ev: u32,
    /// Local port (= plane) it arrived on.
    pub port: u8,
    /// Arrived ECN-CE marked.
    pub ecn_ce: bool,
    /// Payload trimmed by the network (then `payload` is ignored).
    pub trim: Option<Trim>,
    /// Payload bytes (None: bookkeeping only).
    pub payload: Option<&'a [u8]>,
}

impl<'a> Received<'a> {
    /// A received packet with no marks.
    pub const fn new(repr: mrc::Repr, ev: u32, port: u8, payload: Option<&'a [u8]>) -> Self {
        Self {
            repr,
            ev,
            port,
            ecn_ce: false,
            trim: None,
            payload,
        }
    }
}

/// Completion status of a work request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WcStatus {
    /// All bytes placed at the responder.
    Success,
    /// The responder refused the access (key or bounds).
    RemoteAccessError,
    /// The retry budget ran out.
    RetryExceeded,
    /// The responder's Write-IMM bound was exceeded.
    WimmLimit,
    /// Flushed because the QP went to ERROR.
    Flushed,
    /// The responder answered with a NACK code this side does not know (treated as fatal).
    RemoteOperationError,
}

/// Why a QP went to ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QpErrorReason {
    /// Retries exhausted with no progress.
    RetryExceeded,
    /// The peer refused a remote access (NACK UNEXP_EVENT).
    RemoteAccess,
    /// More Write-IMM outstanding at this responder than `max_wimm_dest`.
    WimmLimitDest,
    /// The peer reported its Write-IMM bound exceeded.
    WimmLimitPeer,
    /// The peer NACKed with a code this side does not know: a newer peer's fatal reason must
    /// not be dropped silently, and retrying blindly could repeat whatever it refused.
    UnknownNack(u8),
}

/// Something the application or controller should know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A posted work request completed (in post order).
    SendComplete {
        /// Caller's id.
        wr_id: u64,
        /// Outcome.
        status: WcStatus,
    },
    /// A Write-with-Immediate was fully placed after all earlier writes (in MSN order).
    RecvImm {
        /// The immediate.
        imm: u32,
        /// Message length in bytes.
        len: u32,
        /// Message sequence number.
        msn: u16,
    },
    /// The QP moved to ERROR.
    QpError(QpErrorReason),
    /// An EV changed between GOOD and ASSUMED_BAD (controller-visible transitions).
    EvState {
        /// The EV.
        ev: u32,
        /// Its plane.
        plane: u8,
        /// New state.
        state: EvState,
    },
    /// A loss on `ev` retired nothing because the QP is at `ev_min_active`.
    EvLossAtFloor {
        /// The EV.
        ev: u32,
    },
    /// A plane ran out of EVs and is masked for this QP.
    PlaneMasked {
        /// Plane.
        plane: u8,
    },
    /// A masked plane has an EV again.
    PlaneUnmasked {
        /// Plane.
        plane: u8,
    },
    /// The peer acknowledged our Port Status Update.
    PortStatusAcked,
    /// The peer announced its port status (bit p = plane p up).
    PeerPortStatus {
        /// Ports up at the peer.
        mask: u32,
    },
}

/// An RDMA Write (or Write-with-Immediate) to post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WriteRequest {
    /// Caller's id, returned in the completion.
    pub wr_id: u64,
    /// Local source address (inside a registered local region).
    pub local_addr: u64,
    /// Bytes to write.
    pub len: u32,
    /// Remote destination address.
    pub remote_addr: u64,
    /// Remote key.
    pub rkey: u32,
    /// Immediate data: Some = Write-with-Immediate.
    pub imm: Option<u32>,
}

/// Why a work request was refused at post time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum PostError {
    /// The QP is not in RTS.
    #[error("QP is not in RTS (state {0:?})")]
    NotReady(QpState),
    /// The local range is not inside a registered region.
    #[error("local buffer outside every registered region")]
    LocalOutOfBounds,
    /// The send queue is full.
    #[error("send queue full")]
    QueueFull,
}

/// Counters of one connection (the simulator's JSON reads these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Data packets sent (first transmissions and retransmissions).
    pub data_sent: u64,
    /// Data packets retransmitted.
    pub data_retransmitted: u64,
    /// Payload bytes sent (including retransmissions).
    pub bytes_sent: u64,
    /// Control packets sent (SACK, NACK, ACK, probes, endpoint messages).
    pub control_sent: u64,
    /// SACKs (or RoCE ACKs) sent.
    pub sacks_sent: u64,
    /// NACKs (or RoCE NAKs) sent.
    pub nacks_sent: u64,
    /// EV probes sent.
    pub probes_sent: u64,
    /// Data packets received (new, intact).
    pub data_received: u64,
    /// Payload bytes placed.
    pub bytes_placed: u64,
    /// Duplicate data packets received.
    pub duplicates_received: u64,
    /// Trimmed data packets received (this side as responder).
    pub trimmed_received: u64,
    /// ECN-CE marked data packets received.
    pub ecn_received: u64,
    /// SACKs (or RoCE ACKs) received.
    pub sacks_received: u64,
    /// NACKs received for trimmed packets (mid-fabric).
    pub nacks_trimmed: u64,
    /// NACKs received for last-hop trims.
    pub nacks_trimmed_last_hop: u64,
    /// NACKs received for responder resources / window.
    pub nacks_resource: u64,
    /// Fatal NACKs received.
    pub nacks_fatal: u64,
    /// ECN echoes received (SACK M = SKIP_ONCE) or CNPs (RoCE).
    pub ecn_echoes: u64,
    /// Packets declared lost by the out-of-order rule.
    pub losses_ooo: u64,
    /// Packets declared lost by the per-packet timer.
    pub losses_timeout: u64,
    /// Retransmissions found spurious (acked sooner than a round trip after resending).
    pub spurious_retransmits: u64,
    /// QP-level timeouts.
    pub qp_timeouts: u64,
    /// EVs put into SKIP.
    pub ev_skipped: u64,
    /// EVs retired (→ ASSUMED_BAD).
    pub ev_retired: u64,
    /// EVs resurrected by probes.
    pub ev_resurrected: u64,
    /// Unexplained losses counted against an EV without retiring it (congested QP, see the
    /// crate docs' "congestion is not failure").
    pub ev_strikes: u64,
    /// Losses that retired nothing because of `ev_min_active`.
    pub ev_loss_at_floor: u64,
    /// Writes rejected: unknown key.
    pub rejected_bad_key: u64,
    /// Writes rejected: outside the region.
    pub rejected_out_of_bounds: u64,
    /// Packets rejected: QP not in a state that accepts them.
    pub rejected_not_ready: u64,
    /// Packets rejected: wrong destination QP.
    pub rejected_wrong_qp: u64,
    /// Writes rejected: PSN outside the tracking window.
    pub rejected_out_of_window: u64,
    /// SACKs/ACKs ignored because they acknowledged PSNs never sent.
    pub forged_acks: u64,
    /// NACKs ignored (unknown PSN or stale EV).
    pub stale_nacks: u64,
    /// Control packets with a NACK code, path mark or endpoint operation this side does not
    /// know (NACK: the QP errors; mark: ignored; endpoint request: not answered).
    pub unknown_received: u64,
    /// Send completions delivered.
    pub completions: u64,
    /// Write-IMM receive completions delivered.
    pub imm_completions: u64,
}

/// The common sans-IO surface of [`Connection`] (MRC) and [`roce::Connection`] (RoCEv2 RC).
pub trait Transport {
    /// Feeds one received packet.
    fn handle_packet(&mut self, now: Instant, pkt: &Received<'_>);
    /// Runs timers that are due at `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// The next packet to send on one of the `ready` ports, if any.
    ///
    /// The answer changes after `post_write`, `handle_packet`, `handle_timeout`,
    /// `handle_port_status`, and with `now` and `ready`.
    #[must_use]
    fn poll_transmit(&mut self, now: Instant, ready: PortMask) -> Option<Transmit>;
    /// When `handle_timeout` should next be called.
    ///
    /// The answer changes after any `handle_*`, `post_write` or `poll_transmit` call.
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant>;
    /// The next event.
    ///
    /// New events appear after `handle_packet`, `handle_timeout` and `poll_transmit`.
    #[must_use]
    fn poll_event(&mut self) -> Option<Event>;
    /// Posts an RDMA Write (`imm = None`) or Write-with-Immediate.
    fn post_write(&mut self, wr: WriteRequest) -> Result<(), PostError>;
    /// Posts an RDMA Write-with-Immediate: `wr` with `imm` as its immediate data.
    fn post_write_imm(&mut self, wr: WriteRequest, imm: u32) -> Result<(), PostError> {
        self.post_write(WriteRequest {
            imm: Some(imm),
            ..wr
        })
    }
    /// Local port `port` went down or came up.
    fn handle_port_status(&mut self, now: Instant, port: u8, up: bool);
    /// Memory regions of this endpoint.
    fn regions(&self) -> &MemoryRegions;
    /// Memory regions of this endpoint, for registering and filling.
    fn regions_mut(&mut self) -> &mut MemoryRegions;
    /// Counters.
    fn stats(&self) -> &Stats;
    /// QP state.
    fn state(&self) -> QpState;
    /// Work requests posted and not yet completed.
    fn outstanding(&self) -> usize;
}
