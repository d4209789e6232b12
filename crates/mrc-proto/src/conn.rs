//! The MRC connection: one QP, requester and responder in one sans-IO state machine.

use std::collections::VecDeque;

use mrc_wire::Psn;
use mrc_wire::mrc::{
    self, Body, ENDPOINT_QPN, EndpointOp, NackReason, Opcode, PathMark, TypeNext, Write, bth,
    cc_state, eeth, erth, meth, neth, peth, reth, seth, tseth,
};

use crate::bits::RingBits;
use crate::cc::{AckSample, CongestionControl, FixedWindow, Nscc};
use crate::config::{
    CcAlgorithm, ConnectionConfig, ModifyQpError, MrcQpAttr, QpState, attr_mask, ibv_mask, qp_cap,
};
use crate::ev::{EvSet, EvState, LossOutcome, ReverseEvs};
use crate::mr::{AccessError, MemoryRegions};
use crate::time::{Duration, Instant};
use crate::{
    Event, PayloadRef, PortMask, PostError, QpErrorReason, Received, Stats, TrafficClass, Transmit,
    Transport, Trim, WcStatus, WriteRequest,
};

/// Bound of queued control packets; beyond it new ones are dropped (SACKs are cumulative).
const CTRL_QUEUE_CAP: usize = 4096;
/// A SACK triggered by PSN p reports p − 63 … p; a packet further than this below the newest
/// trigger would go unreported until the cumulative ack passes it, so it gets its own SACK.
const SACK_COVER: i32 = 48;
/// Bound of suspected (overdue, not yet judged) transmissions; beyond it a new out-of-order
/// loss counts against its EV at once (the behaviour without the late/lost distinction).
const SUSPECT_CAP: usize = 256;
/// A transmission becomes a suspect (its path is judged; nothing is resent) at this fraction
/// of the out-of-order loss threshold: a black-holed path shows two overdue packets well
/// before the full SLEEK threshold calls either lost, while reordering across paths of
/// different queue depths stays below the full threshold and costs no retransmission.
const SUSPECT_FRACTION: f64 = 1.0 / 3.0;
/// Unexplained losses in a row, with no delivery proven on the EV in between, that retire an
/// EV of a QP that met full queues (trims: they drop trimmed headers when the control queue
/// overflows) or deep ones (ECN: they delay a packet past any timer now and then). Such
/// queues cost a live path a packet here and there; a dead path loses everything sent on it.
/// Uncongested QPs keep the paper's rule: the first loss retires.
const TRIMMED_STRIKES: u8 = 3;
const MARKED_STRIKES: u8 = 2;
/// PSNs the send ring holds at first (it grows by doubling up to the MPR window).
const INITIAL_SEND_RING: u32 = 64;
/// A congestion signal (trim NACK, ECN echo) keeps the QP "congested" for this many of its
/// next acknowledged packets. Counted in packets, not time: a QP that gets 1/1000 of an
/// incast's bottleneck sends a packet every few hundred RTTs.
const CONGESTION_MEMORY: u64 = 64;
/// A plane counts as congested for this many base RTTs after an ECN echo for a packet sent
/// on it (see `Connection::degraded_planes`): long enough to span the echoes of one window,
/// short enough that a plane which stopped marking is free again within a few RTTs.
const PLANE_ECN_MEMORY: u64 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    QpRto = 0,
    PktRto = 1,
    SackCoalesce = 2,
    PortStatus = 3,
    RtxDelay = 4,
    /// A probe is due but the QP has not earned it yet ([`crate::ProbePolicy::data_per_probe`]).
    ProbeBudget = 5,
    /// A window below one packet paces data ([`CongestionControl::pacing_gap`]).
    Pace = 6,
}
const N_TIMERS: usize = 7;

#[derive(Debug, Clone, Copy)]
struct PendingWr {
    wr: WriteRequest,
    msn: u16,
    rqmsn: u16,
    last_psn: Psn,
    next_off: u32,
    started: bool,
    segmented: bool,
}

#[derive(Debug, Clone, Copy)]
struct SendRecord {
    psn: Psn,
    local_addr: u64,
    remote_addr: u64,
    rkey: u32,
    dma_len: u32,
    len: u32,
    opcode: Opcode,
    msn: u16,
    rqmsn: u16,
    imm: u32,
    ev: u32,
    plane: u8,
    sent_at: Instant,
    deadline: Instant,
    not_before: Instant,
    tx_seq: u64,
    tx_count: u16,
    /// This transmission is held as a suspect (overdue, its path under judgment).
    suspected: bool,
    /// A copy was trimmed (a trim NACK came back): that copy never arrived, so a quick ack
    /// after the retransmission is not evidence of reordering.
    trimmed: bool,
}

impl Default for SendRecord {
    fn default() -> Self {
        Self {
            psn: Psn::ZERO,
            local_addr: 0,
            remote_addr: 0,
            rkey: 0,
            dma_len: 0,
            len: 0,
            opcode: Opcode::WriteOnly,
            msn: 0,
            rqmsn: 0,
            imm: 0,
            ev: 0,
            plane: 0,
            sent_at: Instant::ZERO,
            deadline: Instant::MAX,
            not_before: Instant::ZERO,
            tx_seq: 0,
            tx_count: 0,
            suspected: false,
            trimmed: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SackTrigger {
    psn: Psn,
    /// Lowest PSN whose arrival this (possibly merged) SACK must report.
    cover: Psn,
    ev: u32,
    plane: u8,
    mark: PathMark,
    pr: bool,
}

#[derive(Debug, Clone, Copy)]
enum Ctrl {
    Sack(SackTrigger),
    Nack {
        psn: Psn,
        ev: u32,
        plane: u8,
        reason: NackReason,
    },
    EpResponse {
        op: EndpointOp,
        /// PSN\[15:0\] of the request (its probe id), echoed.
        id: u16,
        ts: u16,
        ev: u32,
        plane: u8,
    },
}

#[derive(Debug, Clone, Copy)]
struct ImmStash {
    psn: Psn,
    imm: u32,
    len: u32,
    msn: u16,
}

#[derive(Debug, Clone, Copy)]
struct PortStatusTx {
    mask: u32,
    seq: u16,
    next_at: Instant,
}

/// A transmission declared lost by the out-of-order rule and already retransmitted, whose EV
/// is not judged yet: it may only be late (queued on a congested path). See [`Connection`]'s
/// "late or lost" rule in the crate docs.
#[derive(Debug, Clone, Copy)]
struct Suspect {
    psn: Psn,
    ev: u32,
    plane: u8,
    sent_at: Instant,
    /// The suspected copy was itself a retransmission (higher-priority class).
    rtx: bool,
    /// Retire the EV if nothing cleared it by then (the per-packet timer of that copy).
    deadline: Instant,
    /// Transmit sequence number of the suspected copy.
    tx_seq: u64,
    /// Proven late, not lost: the copy arrived.
    cleared: bool,
    /// Proven lost: a later packet of the same class or lower priority on the same EV arrived
    /// while this PSN was still unacknowledged (one path, FIFO).
    overtaken: bool,
}

/// What says a transmission was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Evidence {
    /// A later transmission on the same EV arrived first (one path is FIFO): dropped.
    Overtaken,
    /// Nothing came back in time (timer, or a second overdue packet on the EV): dropped or
    /// late.
    Silence,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LossCause {
    Ooo,
    Timeout,
}

/// An MRC connection (one QP): requester and responder.
///
/// Create with [`Connection::new`] (state RESET) and drive through INIT/RTR/RTS with
/// [`Connection::modify_qp`], or use [`Connection::new_rts`]. Then feed packets and timeouts and
/// pull transmits and events through [`Transport`].
#[derive(Debug)]
pub struct Connection {
    cfg: ConnectionConfig,
    attr: MrcQpAttr,
    state: QpState,
    regions: MemoryRegions,
    ev: EvSet,
    rev: ReverseEvs,
    cc: Box<dyn CongestionControl>,
    plane_bits: u32,
    planes: u8,
    /// Payload bytes sent per plane since plane health last changed (the EV set's
    /// `health_epoch`, kept alongside): see [`Connection::degraded_planes`].
    plane_sent: Vec<u64>,
    /// When an ECN echo last came back for a packet sent on each plane.
    plane_ecn_at: Vec<Instant>,
    plane_epoch: u32,
    local_up: u32,
    peer_up: u32,
    plane_rr: u8,
    /// Where the plane rotation restarts after a last-hop trim.
    plane_rng: crate::rng::Rng,
    port_status: Option<PortStatusTx>,
    port_status_seq: u16,
    // requester
    /// No data leaves before this (a window below one packet paces, `Timer::Pace`).
    pace_until: Instant,
    /// When the last paced data packet left, and its length.
    pace_from: (Instant, u32),
    /// Whether the first pacing gap, drawn at random, has passed (see `send_record`).
    pace_phased: bool,
    sq: VecDeque<PendingWr>,
    seg_idx: usize,
    next_msn: u16,
    next_rqmsn: u16,
    recs: Vec<SendRecord>,
    rec_mask: u32,
    /// Largest send ring: the MPR window in PSNs, rounded up to a power of two.
    rec_max: u32,
    inflight: RingBits,
    rtx: RingBits,
    rtx_count: u32,
    snd_una: Psn,
    snd_nxt: Psn,
    inflight_bytes: u64,
    tx_seq: u64,
    high_acked_tx_seq: u64,
    wimm_inflight: u16,
    srtt: Option<Duration>,
    min_rtt: Duration,
    /// Largest recent RTT sample (decays by 1/64 of the gap per smaller sample): how late a
    /// packet on a live path of this QP can be (see [`Connection::patience`]).
    rtt_hi: Duration,
    qp_retries: u32,
    reo_mult: u64,
    last_spurious: Instant,
    peer_mpr: Option<u8>,
    probe_id: u16,
    /// Data packets sent since the last probe (the probe budget).
    probe_credit: u32,
    last_probe: Instant,
    /// Packets acknowledged so far, and that count at the last trim NACK (a full queue: it
    /// may drop trimmed headers) and at the last congestion signal of any kind (a deep queue:
    /// packets may be late). See [`CONGESTION_MEMORY`].
    acked_pkts: u64,
    trim_at: Option<u64>,
    queue_at: Option<u64>,
    suspects: VecDeque<Suspect>,
    // responder
    rcv_cack: Psn,
    rcv_high: Psn,
    rcv_bits: RingBits,
    rcv_window: u32,
    rcvd_bytes: u64,
    ooo: u32,
    imm_pending: VecDeque<ImmStash>,
    sack_pending: Option<SackTrigger>,
    sack_bytes: u32,
    ctrl: VecDeque<Ctrl>,
    // common
    timers: [Option<Instant>; N_TIMERS],
    last_now: Instant,
    events: VecDeque<Event>,
    stats: Stats,
}

impl Connection {
    /// A connection in state RESET.
    pub fn new(mut cfg: ConnectionConfig) -> Self {
        let planes = cfg.ev_profile.plane_count();
        let plane_bits = PortMask::first(planes).0;
        let ev = EvSet::new(
            &cfg.ev_profile,
            cfg.lb_mode,
            cfg.probe,
            cfg.seed ^ u64::from(cfg.qpn).wrapping_mul(0x9E37_79B9),
        );
        let rev = ReverseEvs::new(&cfg.ev_profile);
        // The EV set and the reverse EVs hold the lists from here on; a copy per QP cost
        // 4 bytes per EV (1.7 KB for 8 planes × 40, on each of 262,144 QP ends of a
        // 131,072-NIC permutation).
        cfg.ev_profile.planes = Vec::new();
        let cc: Box<dyn CongestionControl> = match &cfg.cc_profile.algorithm {
            CcAlgorithm::Nscc(c) => Box::new(Nscc::new(c.clone())),
            CcAlgorithm::Fixed(w) => Box::new(FixedWindow(*w)),
        };
        let psn0 = Psn::new(cfg.initial_psn);
        Self {
            regions: MemoryRegions::new(cfg.seed ^ u64::from(cfg.qpn)),
            attr: MrcQpAttr::default(),
            state: QpState::Reset,
            ev,
            rev,
            cc,
            plane_bits,
            planes,
            plane_sent: vec![0; usize::from(planes)],
            plane_ecn_at: vec![Instant::ZERO; usize::from(planes)],
            plane_epoch: 0,
            local_up: plane_bits,
            peer_up: plane_bits,
            plane_rr: planes.saturating_sub(1),
            plane_rng: crate::rng::Rng::derive(cfg.seed, u64::from(cfg.qpn)),
            port_status: None,
            port_status_seq: 0,
            pace_until: Instant::ZERO,
            pace_from: (Instant::ZERO, 0),
            pace_phased: false,
            sq: VecDeque::new(),
            seg_idx: 0,
            next_msn: 0,
            next_rqmsn: 0,
            recs: Vec::new(),
            rec_mask: 0,
            rec_max: 1,
            inflight: RingBits::new(64),
            rtx: RingBits::new(64),
            rtx_count: 0,
            snd_una: psn0,
            snd_nxt: psn0,
            inflight_bytes: 0,
            tx_seq: 0,
            high_acked_tx_seq: 0,
            wimm_inflight: 0,
            srtt: None,
            min_rtt: cfg.base_rtt,
            rtt_hi: cfg.base_rtt,
            qp_retries: 0,
            reo_mult: 1,
            last_spurious: Instant::ZERO,
            peer_mpr: None,
            probe_id: 0,
            probe_credit: 0,
            last_probe: Instant::ZERO,
            acked_pkts: 0,
            trim_at: None,
            queue_at: None,
            // Grown on demand: most QPs never hold a suspect, and a full-capacity ring cost
            // 10 KB per QP (a 131,072-NIC fabric holds 262,144 QPs).
            suspects: VecDeque::new(),
            rcv_cack: psn0.sub(1),
            rcv_high: psn0.sub(1),
            rcv_bits: RingBits::new(64),
            rcv_window: 0,
            rcvd_bytes: 0,
            ooo: 0,
            imm_pending: VecDeque::new(),
            sack_pending: None,
            sack_bytes: 0,
            ctrl: VecDeque::with_capacity(16),
            timers: [None; N_TIMERS],
            last_now: Instant::ZERO,
            events: VecDeque::with_capacity(16),
            stats: Stats::default(),
            cfg,
        }
    }

    /// A connection taken through INIT, RTR and RTS with `attr` (all mask bits set).
    pub fn new_rts(cfg: ConnectionConfig, attr: MrcQpAttr) -> Result<Self, ModifyQpError> {
        let mut c = Self::new(cfg);
        c.modify_qp(
            QpState::Init,
            ibv_mask::STATE,
            &attr,
            attr_mask::INIT_REQUIRED,
        )?;
        c.modify_qp(
            QpState::Rtr,
            ibv_mask::STATE,
            &attr,
            attr_mask::RTR_REQUIRED,
        )?;
        c.modify_qp(
            QpState::Rts,
            ibv_mask::STATE,
            &attr,
            attr_mask::RTS_REQUIRED,
        )?;
        Ok(c)
    }

    /// `mrc_modify_qp`: moves to `to`, taking the attributes whose bits are in `mrc_mask`.
    /// `ibv_mask` carries the verbs attribute bits given alongside; the ones MRC replaces or
    /// does not support are rejected ([`ibv_mask::REJECTED`]).
    pub fn modify_qp(
        &mut self,
        to: QpState,
        ibv_mask: u32,
        attr: &MrcQpAttr,
        mrc_mask: u32,
    ) -> Result<(), ModifyQpError> {
        for (bit, name) in ibv_mask::REJECTED {
            if ibv_mask & bit != 0 {
                return Err(ModifyQpError::Unsupported(name));
            }
        }
        let need = |bits: u32, name: &'static str| {
            if mrc_mask & bits == bits {
                Ok(())
            } else {
                Err(ModifyQpError::MissingAttribute(name))
            }
        };
        let range = |name: &'static str, value: u64, max: u64| {
            if value <= max {
                Ok(())
            } else {
                Err(ModifyQpError::OutOfRange { name, value, max })
            }
        };
        let dev = self.cfg.device;
        match (self.state, to) {
            (_, QpState::Reset) => {
                let cfg = self.cfg.clone();
                *self = Self::new(cfg);
                return Ok(());
            }
            (_, QpState::Error) => {
                self.enter_error(None);
                return Ok(());
            }
            (QpState::Reset, QpState::Init) => {
                need(attr_mask::HINT, "MRC_QP_HINT")?;
                need(attr_mask::EV_PROFILE_ID, "MRC_QP_EV_PROFILE_ID")?;
                need(attr_mask::CC_PROFILE_ID, "MRC_QP_CC_PROFILE_ID")?;
                if attr.ev_profile_id != self.cfg.ev_profile.id {
                    return Err(ModifyQpError::UnknownProfile {
                        kind: "EV",
                        id: attr.ev_profile_id,
                    });
                }
                if attr.cc_profile_id != self.cfg.cc_profile.id {
                    return Err(ModifyQpError::UnknownProfile {
                        kind: "CC",
                        id: attr.cc_profile_id,
                    });
                }
                self.attr.ev_profile_id = attr.ev_profile_id;
                self.attr.cc_profile_id = attr.cc_profile_id;
                self.attr.hint = attr.hint;
                // //= docs/mrc-protocol.md §13 item 12: with `num_remote_recv_peers` = k, initial
                // cwnd = BDP / k and fair increase / k (crate docs, QP hint).
                if let (Some(h), CcAlgorithm::Nscc(c)) = (attr.hint, &self.cfg.cc_profile.algorithm)
                    && h.num_remote_recv_peers > 1
                {
                    self.cc = Box::new(Nscc::new(c.for_hint(&h)));
                }
            }
            (QpState::Init, QpState::Rtr) => {
                need(attr_mask::MAX_WIMM_DEST, "MRC_QP_MAX_WIMM_DEST")?;
                need(attr_mask::MPR_DEST, "MRC_QP_MPR_DEST")?;
                need(attr_mask::CAP, "MRC_QP_CAP")?;
                range("mpr_dest", u64::from(attr.mpr_dest), u64::from(dev.max_mpr))?;
                if attr.mpr_dest == 0 || !attr.mpr_dest.is_multiple_of(dev.mpr_resolution.max(1)) {
                    return Err(ModifyQpError::OutOfRange {
                        name: "mpr_dest",
                        value: u64::from(attr.mpr_dest),
                        max: u64::from(dev.max_mpr),
                    });
                }
                range(
                    "max_wimm_dest",
                    u64::from(attr.max_wimm_dest),
                    u64::from(dev.max_wimm_dest),
                )?;
                self.attr.mpr_dest = attr.mpr_dest;
                self.attr.max_wimm_dest = attr.max_wimm_dest;
                self.attr.cap = attr.cap;
                self.rcv_window = attr.mpr_dest_psns();
                self.rcv_bits = RingBits::new(self.rcv_window + 64);
                self.imm_pending = VecDeque::with_capacity(usize::from(attr.max_wimm_dest) + 1);
            }
            (QpState::Rtr, QpState::Rts) => {
                need(attr_mask::MAX_WIMM, "MRC_QP_MAX_WIMM")?;
                need(attr_mask::MPR, "MRC_QP_MPR")?;
                need(attr_mask::RETRY_CNT, "MRC_QP_RETRY_CNT")?;
                need(attr_mask::TIMEOUT, "MRC_QP_TIMEOUT")?;
                range("mpr", u64::from(attr.mpr), u64::from(dev.max_mpr))?;
                if attr.mpr == 0 {
                    return Err(ModifyQpError::OutOfRange {
                        name: "mpr",
                        value: 0,
                        max: u64::from(dev.max_mpr),
                    });
                }
                range(
                    "max_wimm",
                    u64::from(attr.max_wimm),
                    u64::from(dev.max_wimm),
                )?;
                range("timeout", u64::from(attr.timeout), 24)?;
                range("retry.linear_cnt", u64::from(attr.retry.linear_cnt), 7)?;
                range("retry.exp_cnt", u64::from(attr.retry.exp_cnt), 25)?;
                self.attr.mpr = attr.mpr;
                self.attr.max_wimm = attr.max_wimm;
                self.attr.timeout = attr.timeout;
                self.attr.retry = attr.retry;
                // The send ring is allocated by the first post_write (responder-only QPs, most
                // of a simulated cluster's, never pay for it) and grows with the PSNs in flight
                // up to the MPR window (small writes of an all-to-all never need it all).
                self.rec_max = attr.mpr_psns().next_power_of_two();
            }
            (from, to) => return Err(ModifyQpError::InvalidTransition { from, to }),
        }
        self.state = to;
        Ok(())
    }

    /// The QP attributes in force.
    pub fn attr(&self) -> &MrcQpAttr {
        &self.attr
    }

    /// The configuration, less the EV profile's per-plane lists (its id stays): the EV set
    /// ([`Connection::ev_set`]) holds those.
    pub fn config(&self) -> &ConnectionConfig {
        &self.cfg
    }

    /// The EV set (states, active lists).
    pub fn ev_set(&self) -> &EvSet {
        &self.ev
    }

    /// Controller `MODIFY_EV_STATE(DENIED)` for one EV of this QP.
    pub fn deny_ev(&mut self, ev: u32) -> bool {
        self.ev.deny(ev)
    }

    /// Current congestion window, bytes.
    pub fn cwnd(&self) -> u64 {
        self.cc.window()
    }

    /// Payload bytes in flight.
    pub fn in_flight_bytes(&self) -> u64 {
        self.inflight_bytes
    }

    /// Smoothed RTT, if sampled.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// Ports the peer reported up (bit p = plane p).
    pub fn peer_ports(&self) -> u32 {
        self.peer_up
    }

    fn idx(&self, p: Psn) -> usize {
        (p.value() & self.rec_mask) as usize
    }

    fn outstanding_psns(&self) -> u32 {
        self.snd_nxt.distance_from(self.snd_una)
    }

    fn in_send_window(&self, p: Psn) -> bool {
        p.distance_from(self.snd_una) < self.outstanding_psns()
    }

    fn ack_timeout(&self) -> Duration {
        self.attr.ack_timeout()
    }

    /// QP timer wait before timeout number `n` (0-based): T for the first and the linear
    /// retries, then T·2^k, capped at 2^24 · 1.024 µs.
    fn qp_backoff(&self, n: u32) -> Duration {
        let t = self.ack_timeout();
        let lin = u32::from(self.attr.retry.linear_cnt);
        let cap = Duration::from_nanos(1_024u64 << 24);
        if n <= lin {
            t
        } else {
            t.saturating_mul(1u64 << (n - lin).min(24)).min(cap.max(t))
        }
    }

    /// Per-packet timer: clamp(3 × SRTT, 2 × base RTT, QP timeout). The floor uses the
    /// configured base RTT (a property of the network), never a smaller observed sample.
    fn pkt_rto(&self) -> Duration {
        let base = self.cfg.base_rtt;
        let s = self.srtt.unwrap_or(base).saturating_mul(3);
        s.max(base.saturating_mul(2)).min(self.ack_timeout())
    }

    fn arm(&mut self, t: Timer, at: Instant) {
        if let Some(slot) = self.timers.get_mut(t as usize) {
            *slot = Some(at);
        }
    }

    fn disarm(&mut self, t: Timer) {
        if let Some(slot) = self.timers.get_mut(t as usize) {
            *slot = None;
        }
    }

    fn timer(&self, t: Timer) -> Option<Instant> {
        self.timers.get(t as usize).copied().flatten()
    }

    fn masked_planes(&self) -> u32 {
        !(self.local_up & self.peer_up)
    }

    // ---------------------------------------------------------------- requester: sending

    fn pick_plane_ev(&mut self, planes: u32, avoid: Option<u32>) -> Option<(u8, u32)> {
        let n = self.planes.max(1);
        for k in 1..=n {
            let p = (self.plane_rr + k) % n;
            if planes & (1 << p) == 0 {
                continue;
            }
            if let Some(ev) = self.ev.next(p, avoid) {
                self.plane_rr = p;
                return Some((p, ev));
            }
        }
        None
    }

    /// Planes among `ready` that have had their share for now: a plane with EVs out of use
    /// has lost that share of its capacity (a dead T1 takes its paths), so it carries at
    /// most `1 − out/total` of what a healthy plane carries, while a NIC port, which drains
    /// at line rate whatever is behind it, would give it an equal share and congest the rest
    /// of that plane. Healthy planes are never held back; without a healthy plane nothing is.
    ///
    /// Which healthy planes count depends on whether the degraded plane is congested (an ECN
    /// echo for it within [`PLANE_ECN_MEMORY`] base RTTs). If it is, all planes that can
    /// carry: at full load the healthy ports are busy whenever the degraded one is free, and
    /// comparing with the ready ports only would let it take every such gap. If it is not,
    /// its remaining paths have room and only the ready healthy ports are preferred to it,
    /// so a lightly loaded QP never waits for a busy port.
    fn degraded_planes(&self, now: Instant, ready: u32) -> u32 {
        let live = self.usable_planes();
        let mean = |planes: u32| {
            let (mut sum, mut n) = (0u64, 0u64);
            for p in 0..self.planes {
                if planes & (1 << p) != 0 && self.ev.plane_health(p).0 == 0 {
                    sum += self.plane_sent.get(usize::from(p)).copied().unwrap_or(0);
                    n += 1;
                }
            }
            (n > 0).then(|| sum as f64 / n as f64)
        };
        let (mean_ready, mean_live) = (mean(ready), mean(live));
        let memory = self.cfg.base_rtt.saturating_mul(PLANE_ECN_MEMORY);
        let slack = f64::from(self.cfg.mtu) * 4.0;
        let mut held = 0;
        for p in 0..self.planes {
            let (out, total) = self.ev.plane_health(p);
            if out == 0 || total == 0 || ready & (1 << p) == 0 {
                continue;
            }
            let congested = self
                .plane_ecn_at
                .get(usize::from(p))
                .is_some_and(|&t| t > Instant::ZERO && now.saturating_since(t) <= memory);
            let Some(mean) = (if congested { mean_live } else { mean_ready }) else {
                continue;
            };
            let share = 1.0 - f64::from(out) / f64::from(total);
            let sent = self.plane_sent.get(usize::from(p)).copied().unwrap_or(0) as f64;
            if sent > share * mean + slack {
                held |= 1 << p;
            }
        }
        held
    }

    fn next_rtx(&mut self, now: Instant) -> Option<Psn> {
        let count = self.outstanding_psns();
        let mut off = 0;
        let mut wake: Option<Instant> = None;
        while off < count {
            let f = self
                .rtx
                .find_next(self.snd_una.add(off).value(), count - off)?;
            let p = self.snd_una.add(off + f);
            let nb = self.recs.get(self.idx(p)).map_or(now, |r| r.not_before);
            if nb <= now {
                return Some(p);
            }
            wake = Some(wake.map_or(nb, |w| w.min(nb)));
            off += f + 1;
        }
        if let Some(w) = wake {
            self.arm(Timer::RtxDelay, w);
        }
        None
    }

    fn data_repr(&self, r: &SendRecord, rtx: bool) -> mrc::Repr {
        let mut b = bth::Repr::new(r.opcode, self.cfg.remote_qpn, r.psn);
        b.retransmit = rtx;
        mrc::Repr {
            bth: b,
            body: Body::Write(Write {
                meth: meth::Repr {
                    rqmsn: r.rqmsn,
                    msn: r.msn,
                },
                tseth: None,
                reth: reth::Repr {
                    va: r.remote_addr,
                    rkey: r.rkey,
                    dma_len: r.dma_len,
                },
                imm: r.opcode.has_immediate().then_some(r.imm),
                payload_len: r.len,
            }),
        }
    }

    fn send_record(&mut self, now: Instant, p: Psn, plane: u8, ev: u32, rtx: bool) -> Transmit {
        self.tx_seq += 1;
        let deadline = now + self.pkt_rto();
        let i = self.idx(p);
        let tx_seq = self.tx_seq;
        let r = match self.recs.get_mut(i) {
            Some(r) => {
                r.ev = ev;
                r.plane = plane;
                r.sent_at = now;
                r.deadline = deadline;
                r.tx_seq = tx_seq;
                r.tx_count = r.tx_count.saturating_add(1);
                r.suspected = false;
                *r
            }
            None => SendRecord::default(),
        };
        if rtx {
            self.rtx.clear(p.value());
            self.rtx_count = self.rtx_count.saturating_sub(1);
            self.stats.data_retransmitted += 1;
        }
        self.inflight.set(p.value());
        self.inflight_bytes += u64::from(r.len);
        let mut gap = self.cc.pacing_gap(u64::from(r.len));
        if gap > Duration::ZERO {
            if !self.pace_phased {
                // QPs that start together would stay in step, one burst per gap into the
                // receiver they share; a random first gap spreads them over the period.
                self.pace_phased = true;
                let u = self.plane_rng.below(1024) + 1;
                gap = Duration::from_nanos(gap.as_nanos() * u / 1024);
            }
            self.pace_from = (now, r.len);
            self.pace_until = now + gap;
            self.arm(Timer::Pace, self.pace_until);
        }
        let cap = u32::from(self.cfg.probe.data_per_probe).saturating_mul(4);
        self.probe_credit = (self.probe_credit + 1).min(cap);
        if let Some(b) = self.plane_sent.get_mut(usize::from(plane)) {
            *b += u64::from(r.len);
        }
        self.stats.data_sent += 1;
        self.stats.bytes_sent += u64::from(r.len);
        if self.timer(Timer::PktRto).is_none_or(|t| t > deadline) {
            self.arm(Timer::PktRto, deadline);
        }
        if self.timer(Timer::QpRto).is_none() {
            let at = now + self.qp_backoff(self.qp_retries);
            self.arm(Timer::QpRto, at);
        }
        Transmit {
            repr: self.data_repr(&r, rtx),
            ev,
            port: plane,
            class: if rtx {
                TrafficClass::Retransmit
            } else {
                TrafficClass::Data
            },
            payload: Some(PayloadRef {
                addr: r.local_addr,
                len: r.len,
            }),
        }
    }

    /// Doubles the send ring (up to [`Connection::rec_max`]), keeping the records and bits
    /// of the PSNs in flight. False when it is at its largest already.
    fn grow_send_ring(&mut self) -> bool {
        let cap = self.rec_mask + 1;
        let new = (cap * 2).min(self.rec_max);
        if new <= cap {
            return false;
        }
        let start = self.snd_una.value();
        let n = self.outstanding_psns();
        let mut recs = vec![SendRecord::default(); new as usize];
        for k in 0..n {
            let p = self.snd_una.add(k);
            if let (Some(r), Some(slot)) = (
                self.recs.get(self.idx(p)),
                recs.get_mut((p.value() & (new - 1)) as usize),
            ) {
                *slot = *r;
            }
        }
        self.recs = recs;
        self.inflight = self.inflight.regrown(new, start, n);
        self.rtx = self.rtx.regrown(new, start, n);
        self.rec_mask = new - 1;
        true
    }

    fn send_window(&self) -> u32 {
        let own = self.attr.mpr_psns();
        match self.peer_mpr {
            Some(m) if self.attr.cap & qp_cap::DYNAMIC_MPR != 0 && m > 0 => {
                own.min(u32::from(m) * 128)
            }
            _ => own,
        }
    }

    /// Planes data may use: up here and at the peer, with an EV left.
    fn usable_planes(&self) -> u32 {
        let mut planes = self.plane_bits & self.local_up & self.peer_up;
        for p in 0..self.planes {
            if self.ev.plane_exhausted(p) {
                planes &= !(1 << p);
            }
        }
        planes
    }

    /// With work queued but no usable plane nothing is sent, so nothing would arm the QP timer
    /// and the work request would hang forever: arm it, so the QP either resumes when a plane
    /// comes back or ends in ERROR (`RetryExceeded`) as after any other loss of progress.
    fn arm_if_stalled(&mut self, now: Instant) {
        if self.state == QpState::Rts
            && !self.sq.is_empty()
            && self.timer(Timer::QpRto).is_none()
            && self.usable_planes() == 0
        {
            self.arm(Timer::QpRto, now + self.qp_backoff(self.qp_retries));
        }
    }

    /// A window that grew while paced shortens the wait for the next packet (never lengthens
    /// it: a smaller window paces from the next packet on).
    fn repace(&mut self, now: Instant) {
        if self.pace_until <= now {
            return;
        }
        let (from, len) = self.pace_from;
        let at = (from + self.cc.pacing_gap(u64::from(len))).max(now);
        if at < self.pace_until {
            self.pace_until = at;
            self.arm(Timer::Pace, at);
        }
    }

    fn poll_data(&mut self, now: Instant, up: u32) -> Option<Transmit> {
        let mut planes = up & self.usable_planes();
        if self.ev.health_epoch() != self.plane_epoch {
            // Shares count from the change: the past was sent under other shares.
            self.plane_epoch = self.ev.health_epoch();
            self.plane_sent.fill(0);
        }
        if self.ev.any_out() {
            planes &= !self.degraded_planes(now, planes);
        }
        if planes == 0 {
            return None;
        }
        let cwnd = self.cc.window();
        let inflight = self.inflight_bytes;
        let cwnd_ok = |len: u32| inflight == 0 || inflight + u64::from(len) <= cwnd;
        if self.rtx_count > 0
            && let Some(p) = self.next_rtx(now)
        {
            let r = self.recs.get(self.idx(p)).copied().unwrap_or_default();
            if !cwnd_ok(r.len) || now < self.pace_until {
                return None;
            }
            let (plane, ev) = self.pick_plane_ev(planes, Some(r.ev))?;
            return Some(self.send_record(now, p, plane, ev, true));
        }
        // New data.
        if self.outstanding_psns() >= self.send_window() {
            return None;
        }
        if self.outstanding_psns() > self.rec_mask && !self.grow_send_ring() {
            return None;
        }
        let mtu = self.cfg.mtu.max(1);
        let max_wimm = self.attr.max_wimm;
        let wimm_inflight = self.wimm_inflight;
        let wr = *self.sq.get(self.seg_idx)?;
        if !wr.started && wr.wr.imm.is_some() && wimm_inflight >= max_wimm {
            return None;
        }
        let len = (wr.wr.len - wr.next_off).min(mtu);
        if !cwnd_ok(len) || now < self.pace_until {
            return None;
        }
        let (plane, ev) = self.pick_plane_ev(planes, None)?;
        let first = wr.next_off == 0;
        let last = wr.next_off + len >= wr.wr.len;
        let imm = wr.wr.imm.is_some();
        let opcode = match (first, last, imm) {
            (true, true, false) => Opcode::WriteOnly,
            (true, true, true) => Opcode::WriteOnlyImm,
            (true, false, _) => Opcode::WriteFirst,
            (false, false, _) => Opcode::WriteMiddle,
            (false, true, false) => Opcode::WriteLast,
            (false, true, true) => Opcode::WriteLastImm,
        };
        let p = self.snd_nxt;
        let rec = SendRecord {
            psn: p,
            local_addr: wr.wr.local_addr + u64::from(wr.next_off),
            remote_addr: wr.wr.remote_addr + u64::from(wr.next_off),
            rkey: wr.wr.rkey,
            dma_len: wr.wr.len,
            len,
            opcode,
            msn: wr.msn,
            rqmsn: wr.rqmsn,
            imm: wr.wr.imm.unwrap_or(0),
            ev,
            plane,
            sent_at: now,
            deadline: Instant::MAX,
            not_before: now,
            tx_seq: 0,
            tx_count: 0,
            suspected: false,
            trimmed: false,
        };
        let i = self.idx(p);
        if let Some(slot) = self.recs.get_mut(i) {
            *slot = rec;
        }
        self.snd_nxt = p.add(1);
        if let Some(w) = self.sq.get_mut(self.seg_idx) {
            if !w.started && imm {
                self.wimm_inflight += 1;
            }
            w.started = true;
            w.next_off += len;
            if last {
                w.segmented = true;
                w.last_psn = p;
                self.seg_idx += 1;
            }
        }
        Some(self.send_record(now, p, plane, ev, false))
    }

    // ---------------------------------------------------------------- control packets

    fn reverse_plane(&self, want: u8, up: u32) -> Option<u8> {
        let usable = up & self.peer_up;
        if usable & (1 << want) != 0 {
            return Some(want);
        }
        let any = if usable != 0 { usable } else { up };
        (any != 0).then(|| any.trailing_zeros() as u8)
    }

    /// A reverse EV on `plane` that this QP's own sending has not found out of use.
    fn reverse_ev(&mut self, plane: u8) -> Option<u32> {
        let own = &self.ev;
        self.rev.pick(plane, |e| {
            !matches!(own.state(e), Some(EvState::AssumedBad | EvState::Denied))
        })
    }

    fn poll_control(&mut self, now: Instant, up: u32) -> Option<Transmit> {
        if let Some(ps) = self.port_status
            && ps.next_at <= now
        {
            let plane = up.trailing_zeros() as u8;
            let ev = self.reverse_ev(plane).unwrap_or(0);
            let interval = self
                .min_rtt
                .saturating_mul(4)
                .max(Duration::from_micros(10));
            if let Some(p) = self.port_status.as_mut() {
                p.next_at = now + interval;
            }
            self.arm(Timer::PortStatus, now + interval);
            let repr = mrc::Repr {
                // The request id goes in PSN[15:0] (where EV probes carry their probe id, so
                // other implementations can match answers) and in the ERTH timestamp.
                bth: bth::Repr::new(
                    Opcode::EndpointRequest,
                    ENDPOINT_QPN,
                    Psn::new(ps.seq.into()),
                ),
                body: Body::EndpointRequest(erth::Repr {
                    type_next: TypeNext::default(),
                    op: EndpointOp::PortStatusUpdate,
                    vendor_info: 0,
                    port_status_mask: ps.mask,
                    timestamp: tseth::Repr {
                        tx_timestamp: ps.seq,
                        ..Default::default()
                    },
                }),
            };
            return Some(self.control(repr, ev, plane));
        }
        if let Some(c) = self.ctrl.front().copied() {
            let (want, ev) = match c {
                Ctrl::Sack(t) => (t.plane, t.ev),
                Ctrl::Nack { plane, ev, .. } | Ctrl::EpResponse { plane, ev, .. } => (plane, ev),
            };
            if let Some(plane) = self.reverse_plane(want, up) {
                self.ctrl.pop_front();
                // Probe answers and NACKs go back on the packet's own EV (it tests that path);
                // SACKs use the reverse set of the plane.
                let ev = match c {
                    Ctrl::Sack(t) if !t.pr => self.reverse_ev(plane).unwrap_or(ev),
                    _ if plane != want => self.reverse_ev(plane).unwrap_or(ev),
                    _ => ev,
                };
                let repr = match c {
                    Ctrl::Sack(t) => {
                        self.stats.sacks_sent += 1;
                        self.sack_repr(t)
                    }
                    Ctrl::Nack {
                        psn,
                        ev: nev,
                        reason,
                        ..
                    } => {
                        self.stats.nacks_sent += 1;
                        self.nack_repr(psn, nev, reason)
                    }
                    Ctrl::EpResponse { op, id, ts, .. } => mrc::Repr {
                        bth: bth::Repr::new(
                            Opcode::EndpointResponse,
                            ENDPOINT_QPN,
                            Psn::new(id.into()),
                        ),
                        body: Body::EndpointResponse(eeth::Repr {
                            type_next: TypeNext::default(),
                            op,
                            tx_timestamp: ts,
                        }),
                    },
                };
                return Some(self.control(repr, ev, plane));
            }
        }
        if self.state == QpState::Rts && self.ev.next_probe_time().is_some_and(|t| t <= now) {
            // Probes whose answer is overdue count as failed here too, not only in
            // `handle_timeout`: a QP that keeps sending has already seen the deadline pass
            // (`poll_timeout` no longer reports it), and with `max_outstanding` lost probes
            // still counted out no EV would ever be probed again.
            self.ev.probe_timeouts(now);
            let per = u32::from(self.cfg.probe.data_per_probe);
            let floor = self.last_probe + self.cfg.probe.max_interval;
            if self.probe_credit < per && now < floor {
                if self.timer(Timer::ProbeBudget).is_none() {
                    self.arm(Timer::ProbeBudget, floor);
                }
                return None;
            }
            let blocked = !(up & self.peer_up);
            let down = !(self.local_up & self.peer_up);
            if let Some((ev, plane)) = self.ev.next_probe(now, blocked, down) {
                self.probe_credit = self.probe_credit.saturating_sub(per);
                self.last_probe = now;
                self.disarm(Timer::ProbeBudget);
                self.probe_id = self.probe_id.wrapping_add(1);
                self.stats.probes_sent += 1;
                let repr = mrc::Repr {
                    bth: bth::Repr::new(Opcode::ProbeRequest, self.cfg.remote_qpn, self.snd_nxt),
                    body: Body::Probe(peth::Repr {
                        type_next: TypeNext::default(),
                        vendor_info: 0,
                        probe_id: self.probe_id,
                        spdcid: self.cfg.qpn as u16,
                        dpdcid: self.cfg.remote_qpn as u16,
                        timestamp: tseth::Repr::default(),
                    }),
                };
                return Some(self.control(repr, ev, plane));
            }
        }
        None
    }

    fn control(&mut self, repr: mrc::Repr, ev: u32, port: u8) -> Transmit {
        self.stats.control_sent += 1;
        Transmit {
            repr,
            ev,
            port,
            class: TrafficClass::Control,
            payload: None,
        }
    }

    fn penalty(&self) -> u8 {
        let Some(start) = self.cfg.penalty_start else {
            return 0;
        };
        if self.rcv_window == 0 {
            return 0;
        }
        let frac = f64::from(self.ooo) / f64::from(self.rcv_window);
        let start = start.clamp(0.0, 0.999);
        if frac <= start {
            0
        } else {
            ((frac - start) / (1.0 - start) * 127.0).min(127.0) as u8
        }
    }

    fn sack_repr(&self, t: SackTrigger) -> mrc::Repr {
        let cack = self.rcv_cack;
        let next = cack.add(1);
        let lo = t.psn.sub(63);
        let base = if lo.precedes(next) { next } else { lo };
        let bitmap = self.rcv_bits.window64(base.value());
        let clamp16 = |d: i32| d.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        let seth = seth::Repr {
            type_next: TypeNext::default(),
            mark: t.mark,
            pr: t.pr,
            ack_psn_offset: clamp16(t.psn.diff(cack)),
            entropy: t.ev,
            spdcid: self.cfg.qpn as u16,
            dpdcid: self.cfg.remote_qpn as u16,
            cack_psn: cack,
            cc_type: 0,
            cc_flags: 0,
            mpr: self.attr.mpr_dest,
            sack_offset: clamp16(base.diff(cack)),
            sack_bitmap: bitmap,
        };
        let cc = cc_state::Repr {
            tx_timestamp: 0,
            ooo_count: self.ooo.min(0x7FFF) as u16,
            r_c: false,
            rcv_cwnd_pen: self.penalty(),
            rcvd_bytes: ((self.rcvd_bytes >> 8) & 0xFF_FFFF) as u32,
        };
        mrc::Repr {
            bth: bth::Repr::new(Opcode::Sack, self.cfg.remote_qpn, cack),
            body: Body::Sack { seth, cc },
        }
    }

    fn nack_repr(&self, psn: Psn, ev: u32, reason: NackReason) -> mrc::Repr {
        mrc::Repr {
            bth: bth::Repr::new(Opcode::Nack, self.cfg.remote_qpn, psn),
            body: Body::Nack(neth::Repr {
                type_next: TypeNext::default(),
                reason,
                vendor_info: 0,
                entropy: ev,
                spdcid: self.cfg.qpn as u16,
                dpdcid: self.cfg.remote_qpn as u16,
                nack_psn: psn,
                cc_type: 0x2,
                cc_flags: 0,
                tx_timestamp: 0,
            }),
        }
    }

    fn push_ctrl(&mut self, c: Ctrl) {
        if let (Ctrl::Sack(new), Some(Ctrl::Sack(last))) = (c, self.ctrl.back_mut())
            && new.mark == PathMark::None
            && last.mark == PathMark::None
            && !new.pr
            && !last.pr
            && (0..SACK_COVER).contains(&new.psn.diff(last.cover))
        {
            let cover = if last.cover.precedes(new.cover) {
                last.cover
            } else {
                new.cover
            };
            *last = SackTrigger { cover, ..new };
            return;
        }
        if self.ctrl.len() >= CTRL_QUEUE_CAP {
            return;
        }
        // A NACK goes ahead of queued SACKs. A SACK's bitmap is built when it leaves, so
        // waiting costs it little; a NACK held behind a SACK backlog (a responder whose NIC
        // port many QPs share) leaves its trimmed packet unexplained until the sender judges
        // it lost and blames the path.
        let at = match c {
            Ctrl::Nack { .. } => self
                .ctrl
                .iter()
                .position(|x| matches!(x, Ctrl::Sack(_)))
                .unwrap_or(self.ctrl.len()),
            _ => self.ctrl.len(),
        };
        self.ctrl.insert(at, c);
    }

    fn sack_now(&mut self, mut t: SackTrigger) {
        // A coalesced trigger stands for arrivals this SACK may not report (its bitmap covers
        // only the 64 PSNs below `t`): merge it if covered, else send it first. Dropping it
        // made an arrival look overtaken on its own path, i.e. lost.
        if let Some(old) = self.sack_pending.take() {
            if (0..SACK_COVER).contains(&t.psn.diff(old.cover)) {
                if old.cover.precedes(t.cover) {
                    t.cover = old.cover;
                }
            } else {
                self.push_ctrl(Ctrl::Sack(old));
            }
        }
        self.sack_bytes = 0;
        self.disarm(Timer::SackCoalesce);
        self.push_ctrl(Ctrl::Sack(t));
    }

    // ---------------------------------------------------------------- responder

    fn on_write(&mut self, now: Instant, pkt: &Received<'_>, w: &Write) {
        if !matches!(self.state, QpState::Rtr | QpState::Rts) {
            self.stats.rejected_not_ready += 1;
            return;
        }
        let b = pkt.repr.bth;
        let psn = b.psn;
        let d = psn.diff(self.rcv_cack);
        if pkt.ecn_ce {
            self.stats.ecn_received += 1;
        }
        let trig = SackTrigger {
            psn,
            cover: psn,
            ev: pkt.ev,
            plane: pkt.port,
            mark: if pkt.ecn_ce {
                PathMark::SkipOnce
            } else {
                PathMark::None
            },
            pr: false,
        };
        if d <= 0 || (d as u32 <= self.rcv_window && self.rcv_bits.get(psn.value())) {
            self.stats.duplicates_received += 1;
            self.sack_now(trig);
            return;
        }
        let nack = |reason| Ctrl::Nack {
            psn,
            ev: pkt.ev,
            plane: pkt.port,
            reason,
        };
        if d as u32 > self.rcv_window {
            self.stats.rejected_out_of_window += 1;
            self.push_ctrl(nack(NackReason::PsnOorWindow));
            return;
        }
        if let Some(t) = pkt.trim {
            self.stats.trimmed_received += 1;
            let reason = match t {
                Trim::Fabric => NackReason::Trimmed,
                Trim::LastHop => NackReason::TrimmedLastHop,
            };
            self.push_ctrl(nack(reason));
            return;
        }
        let len = u64::from(w.payload_len);
        let payload = pkt.payload;
        if payload.is_some_and(|p| p.len() as u64 != len) {
            self.stats.rejected_out_of_bounds += 1;
            self.push_ctrl(nack(NackReason::UnexpEvent));
            return;
        }
        // The message range RETH claims must hold this payload and lie inside the key's
        // region: a Write-IMM's receive completion reports it as the message length.
        let claimed = message_range(b.opcode, w);
        let checked = claimed
            .map_or(Err(AccessError::OutOfBounds), |(va, n)| {
                self.regions.check_remote(w.reth.rkey, va, n)
            })
            .and_then(|_| self.regions.check_remote(w.reth.rkey, w.reth.va, len));
        if let Err(e) = checked {
            match e {
                AccessError::BadKey => self.stats.rejected_bad_key += 1,
                _ => self.stats.rejected_out_of_bounds += 1,
            }
            self.push_ctrl(nack(NackReason::UnexpEvent));
            return;
        }
        if b.opcode.has_immediate() {
            if self.imm_pending.len() >= usize::from(self.attr.max_wimm_dest) {
                self.push_ctrl(nack(NackReason::WimmLimit));
                self.enter_error(Some(QpErrorReason::WimmLimitDest));
                return;
            }
            let pos = self.imm_pending.partition_point(|x| x.psn.diff(psn) < 0);
            self.imm_pending.insert(
                pos,
                ImmStash {
                    psn,
                    imm: w.imm.unwrap_or(0),
                    len: w.reth.dma_len,
                    msn: w.meth.msn,
                },
            );
        }
        // Checked above: cannot fail.
        let _ = self.regions.place(w.reth.rkey, w.reth.va, len, payload);
        self.rcv_bits.set(psn.value());
        self.ooo += 1;
        self.stats.data_received += 1;
        self.stats.bytes_placed += len;
        self.rcvd_bytes += len;
        let before = self.rcv_cack;
        while self.rcv_bits.get(self.rcv_cack.add(1).value()) {
            self.rcv_cack = self.rcv_cack.add(1);
            self.rcv_bits.clear(self.rcv_cack.value());
            self.ooo = self.ooo.saturating_sub(1);
        }
        let gap_fill = self.rcv_cack.diff(before) > 1;
        if psn.diff(self.rcv_high) > 0 {
            self.rcv_high = psn;
        }
        let far_behind = self.rcv_high.diff(psn) >= SACK_COVER;
        while let Some(f) = self.imm_pending.front().copied() {
            if f.psn.diff(self.rcv_cack) > 0 {
                break;
            }
            self.imm_pending.pop_front();
            self.stats.imm_completions += 1;
            self.events.push_back(Event::RecvImm {
                imm: f.imm,
                len: f.len,
                msn: f.msn,
            });
        }
        self.rev.observe(pkt.port, pkt.ev);
        self.sack_bytes = self.sack_bytes.saturating_add(w.payload_len);
        let immediate = pkt.ecn_ce
            || b.ack_req
            || b.retransmit
            || gap_fill
            || far_behind
            || b.opcode.ends_message()
            || self.sack_bytes >= self.cfg.sack.coalesce_bytes;
        if immediate {
            self.sack_now(trig);
        } else {
            let mut trig = trig;
            if let Some(old) = self.sack_pending {
                if (0..SACK_COVER).contains(&trig.psn.diff(old.cover)) {
                    if old.cover.precedes(trig.cover) {
                        trig.cover = old.cover;
                    }
                } else {
                    self.push_ctrl(Ctrl::Sack(old));
                }
            }
            self.sack_pending = Some(trig);
            if self.timer(Timer::SackCoalesce).is_none() {
                self.arm(Timer::SackCoalesce, now + self.cfg.sack.coalesce_timeout);
            }
        }
    }

    // ---------------------------------------------------------------- requester: feedback

    fn ack_one(&mut self, now: Instant, p: Psn) -> u64 {
        let i = self.idx(p);
        let Some(r) = self.recs.get(i).copied() else {
            return 0;
        };
        if self.inflight.get(p.value()) {
            if r.tx_count >= 2 && !r.trimmed && now.saturating_since(r.sent_at) < self.min_rtt {
                // Acked sooner than any round trip after the retransmission: the original
                // arrived, the loss was reordering. Widen the out-of-order threshold (RACK).
                self.stats.spurious_retransmits += 1;
                self.reo_mult = (self.reo_mult * 2).min(16);
                self.last_spurious = now;
                self.clear_suspects(p);
            }
            if r.suspected {
                // The suspected transmission itself was acknowledged: late, not lost.
                for x in self.suspects.iter_mut() {
                    if x.psn == p && x.tx_seq == r.tx_seq {
                        x.cleared = true;
                    }
                }
            }
            if !self.suspects.is_empty() {
                self.suspect_evidence(&r);
            }
            self.inflight.clear(p.value());
            self.inflight_bytes = self.inflight_bytes.saturating_sub(u64::from(r.len));
            self.high_acked_tx_seq = self.high_acked_tx_seq.max(r.tx_seq);
            self.acked_pkts += 1;
            self.ev.delivered(r.ev);
            u64::from(r.len)
        } else if self.rtx.get(p.value()) {
            // Acked before its retransmission left: the suspected copy arrived.
            self.clear_suspects(p);
            self.rtx.clear(p.value());
            self.rtx_count = self.rtx_count.saturating_sub(1);
            u64::from(r.len)
        } else {
            0
        }
    }

    fn on_sack(&mut self, now: Instant, s: &seth::Repr, cc: &cc_state::Repr) {
        if self.state != QpState::Rts {
            return;
        }
        self.stats.sacks_received += 1;
        let outstanding = self.outstanding_psns();
        let adv = s.cack_psn.add(1).diff(self.snd_una);
        if adv > outstanding as i32 {
            self.stats.forged_acks += 1;
            return;
        }
        // RTT sample (Karn: first transmissions only, and only from the EV that carried it).
        let ack = s.ack_psn();
        let mut rtt = None;
        if self.in_send_window(ack) && self.inflight.get(ack.value()) {
            let r = self.recs.get(self.idx(ack)).copied().unwrap_or_default();
            if r.tx_count == 1 && r.ev == s.entropy && r.psn == ack {
                rtt = Some(now.saturating_since(r.sent_at));
            }
        }
        if s.pr {
            if let Some((plane, state, was_exhausted)) =
                self.ev
                    .probe_response(s.entropy, s.mark == PathMark::SkipOnce, now)
            {
                self.stats.ev_resurrected += 1;
                self.events.push_back(Event::EvState {
                    ev: s.entropy,
                    plane,
                    state,
                });
                if was_exhausted {
                    self.events.push_back(Event::PlaneUnmasked { plane });
                }
            }
        } else {
            match s.mark {
                PathMark::SkipOnce => {
                    self.stats.ecn_echoes += 1;
                    if let Some(t) = self
                        .ev
                        .plane_of(s.entropy)
                        .and_then(|p| self.plane_ecn_at.get_mut(usize::from(p)))
                    {
                        *t = now;
                    }
                    self.queue_at = Some(self.acked_pkts);
                    if self.ev.skip(s.entropy) {
                        self.stats.ev_skipped += 1;
                    }
                }
                PathMark::AlwaysSkip => {
                    let masked = self
                        .ev
                        .plane_of(s.entropy)
                        .is_some_and(|p| self.masked_planes() & (1 << p) != 0);
                    if !masked {
                        self.retire_ev(now, s.entropy);
                    }
                }
                PathMark::None => {}
                PathMark::Other(_) => self.stats.unknown_received += 1,
            }
        }
        self.ev.delivered(s.entropy);
        if !s.pr && !self.suspects.is_empty() {
            // The trigger of a SACK arrived on the echoed EV: a suspected copy of that PSN on
            // that EV was late, not lost (gap-filling and duplicate arrivals are SACKed at once).
            for x in self.suspects.iter_mut() {
                if x.psn == ack && x.ev == s.entropy {
                    x.cleared = true;
                }
            }
        }
        let mut newly = 0u64;
        if adv > 0 {
            for _ in 0..adv {
                newly += self.ack_one(now, self.snd_una);
                self.snd_una = self.snd_una.add(1);
            }
        }
        let base = s.bitmap_base();
        let mut bits = s.sack_bitmap;
        while bits != 0 {
            let i = bits.trailing_zeros();
            bits &= bits - 1;
            let p = base.add(i);
            if self.in_send_window(p) {
                newly += self.ack_one(now, p);
            } else if p.distance_from(self.snd_una) < (1 << 23) {
                // A bit at or beyond snd_nxt: never sent.
                self.stats.forged_acks += 1;
                break;
            }
        }
        if s.mpr > 0 {
            self.peer_mpr = Some(s.mpr);
        }
        if let Some(r) = rtt {
            self.min_rtt = self.min_rtt.min(r);
            self.rtt_hi = if r >= self.rtt_hi {
                r
            } else {
                let (hi, r) = (self.rtt_hi.as_nanos(), r.as_nanos());
                Duration::from_nanos(hi - (hi - r) / 64)
            };
            self.srtt = Some(match self.srtt {
                None => r,
                Some(sr) => Duration::from_nanos((sr.as_nanos() * 7 + r.as_nanos()) / 8),
            });
        }
        if newly > 0 {
            self.qp_retries = 0;
            if self.outstanding_psns() > 0 {
                let at = now + self.qp_backoff(0);
                self.arm(Timer::QpRto, at);
            } else {
                self.disarm(Timer::QpRto);
            }
        }
        self.detect_ooo_loss(now);
        self.judge_suspects(now);
        let sample = AckSample {
            newly_acked: newly,
            rtt,
            ecn: s.mark == PathMark::SkipOnce,
            rcv_cwnd_pen: cc.rcv_cwnd_pen,
            in_flight: self.inflight_bytes,
        };
        self.cc.on_ack(now, &sample);
        self.repace(now);
        self.complete_wrs();
        if self.outstanding_psns() == 0 {
            match self.suspects.iter().map(|x| x.deadline).min() {
                Some(t) => self.arm(Timer::PktRto, t),
                None => self.disarm(Timer::PktRto),
            }
            self.disarm(Timer::QpRto);
        }
    }

    fn detect_ooo_loss(&mut self, now: Instant) {
        let mtu = u64::from(self.cfg.mtu.max(1));
        let scaled = self.cc.window() as f64 * 1.5 * self.cfg.sleek_scale.clamp(0.0, 1.0);
        let srtt = self.srtt.unwrap_or(self.cfg.base_rtt);
        if self.reo_mult > 1 && now.saturating_since(self.last_spurious) > srtt.saturating_mul(16) {
            self.reo_mult /= 2;
            self.last_spurious = now;
        }
        let thr = (scaled as u64 / mtu).max(5) * self.reo_mult;
        let thr_suspect = ((scaled * SUSPECT_FRACTION) as u64 / mtu).max(5) * self.reo_mult;
        let count = self.outstanding_psns();
        let mut off = 0;
        while off < count {
            let Some(f) = self
                .inflight
                .find_next(self.snd_una.add(off).value(), count - off)
            else {
                break;
            };
            let p = self.snd_una.add(off + f);
            let r = self.recs.get(self.idx(p)).copied().unwrap_or_default();
            if r.tx_seq + thr < self.high_acked_tx_seq {
                self.declare_lost(now, p, LossCause::Ooo);
            } else if r.tx_seq + thr_suspect < self.high_acked_tx_seq {
                if !r.suspected && self.masked_planes() & (1 << r.plane) == 0 {
                    self.suspect(&r);
                }
            } else if r.tx_count <= 1 {
                break;
            }
            off += f + 1;
        }
    }

    /// Holds transmission `r` as a suspect: its EV is judged once it proves late or lost.
    fn suspect(&mut self, r: &SendRecord) {
        if self.suspects.len() >= SUSPECT_CAP {
            return;
        }
        self.suspects.push_back(Suspect {
            psn: r.psn,
            ev: r.ev,
            plane: r.plane,
            sent_at: r.sent_at,
            rtx: r.tx_count >= 2,
            deadline: r.deadline,
            tx_seq: r.tx_seq,
            cleared: false,
            overtaken: false,
        });
        let i = self.idx(r.psn);
        if let Some(rec) = self.recs.get_mut(i) {
            rec.suspected = true;
        }
        if self.timer(Timer::PktRto).is_none_or(|t| t > r.deadline) {
            self.arm(Timer::PktRto, r.deadline);
        }
    }

    /// Moves an in-flight PSN to the retransmit set without any EV or CC effect.
    fn mark_lost_quiet(&mut self, p: Psn, not_before: Instant) -> u64 {
        if !self.inflight.get(p.value()) {
            return 0;
        }
        let i = self.idx(p);
        let len = self.recs.get(i).map_or(0, |r| r.len);
        if let Some(r) = self.recs.get_mut(i) {
            r.not_before = not_before;
        }
        self.inflight.clear(p.value());
        self.inflight_bytes = self.inflight_bytes.saturating_sub(u64::from(len));
        self.rtx.set(p.value());
        self.rtx_count += 1;
        u64::from(len)
    }

    fn declare_lost(&mut self, now: Instant, p: Psn, cause: LossCause) {
        let r = self.recs.get(self.idx(p)).copied().unwrap_or_default();
        let bytes = self.mark_lost_quiet(p, now);
        if bytes == 0 && r.len != 0 {
            return;
        }
        match cause {
            LossCause::Ooo => self.stats.losses_ooo += 1,
            LossCause::Timeout => self.stats.losses_timeout += 1,
        }
        self.cc.on_loss(now, bytes, self.inflight_bytes);
        if self.masked_planes() & (1 << r.plane) != 0 {
            return;
        }
        if cause == LossCause::Ooo && (r.suspected || self.suspects.len() < SUSPECT_CAP) {
            // Retransmitted now; the EV is judged once the copy proves late or lost.
            if !r.suspected {
                self.suspect(&r);
            }
        } else {
            let wait = self.sent_recently(now, r.sent_at);
            if wait.is_some() && !r.suspected && self.suspects.len() < SUSPECT_CAP {
                self.suspect(&r);
            }
            if let Some(until) = wait {
                // Maybe only late in a deep queue: judge it once the wait is over.
                for x in self.suspects.iter_mut() {
                    if x.psn == p && x.tx_seq == r.tx_seq {
                        x.deadline = x.deadline.max(until);
                    }
                }
                self.arm_suspect_timer();
                return;
            }
            if r.suspected {
                // Judged here, not again at the suspect's deadline.
                self.suspects
                    .retain(|x| !(x.psn == p && x.tx_seq == r.tx_seq));
            }
            self.unexplained_loss(now, r.ev, Evidence::Silence, r.tx_seq);
        }
    }

    fn clear_suspects(&mut self, p: Psn) {
        for x in self.suspects.iter_mut() {
            if x.psn == p {
                x.cleared = true;
            }
        }
    }

    /// `r` (a transmission on one EV) was acked: a suspect sent earlier on the same EV, whose
    /// PSN is still unacked, was overtaken on its own path, so it was dropped, not delayed.
    /// A retransmission may overtake data (higher-priority class), so it only counts against
    /// a suspect of the same class.
    fn suspect_evidence(&mut self, r: &SendRecord) {
        let later_rtx = r.tx_count >= 2;
        for i in 0..self.suspects.len() {
            let Some(x) = self.suspects.get(i).copied() else {
                break;
            };
            if x.cleared || x.overtaken || x.ev != r.ev || x.sent_at >= r.sent_at {
                continue;
            }
            if later_rtx && !x.rtx {
                continue;
            }
            let unacked = self.inflight.get(x.psn.value()) || self.rtx.get(x.psn.value());
            if unacked
                && x.psn != r.psn
                && let Some(y) = self.suspects.get_mut(i)
            {
                y.overtaken = true;
            }
        }
    }

    /// Judges the suspects: cleared ones are dropped; an EV is retired when one of its
    /// suspects was overtaken on its own path, when it holds two uncleared suspects, or when a
    /// suspect's per-packet timer passed without a sign that the copy arrived.
    fn judge_suspects(&mut self, now: Instant) {
        if self.suspects.is_empty() {
            return;
        }
        let mut i = 0;
        while let Some(x) = self.suspects.get(i).copied() {
            if x.cleared {
                self.suspects.remove(i);
                continue;
            }
            // In a deep queue every packet behind a late one is late too: two overdue packets
            // on one EV only mean a dead path when the QP sees no congestion.
            let twice = !self.recent(self.queue_at)
                && self
                    .suspects
                    .iter()
                    .skip(i + 1)
                    .any(|y| y.ev == x.ev && !y.cleared);
            // An overtaken packet may have been trimmed, its NACK still on the way back (on
            // another reverse path than the SACK that overtook it): give the NACK time.
            let ripe_at = x.sent_at + self.patience();
            if x.overtaken && now < ripe_at {
                if let Some(y) = self.suspects.get_mut(i) {
                    y.deadline = y.deadline.min(ripe_at);
                }
                i += 1;
                continue;
            }
            let mut expired = x.deadline <= now;
            if expired
                && !x.overtaken
                && let Some(until) = self.sent_recently(now, x.sent_at)
            {
                if let Some(y) = self.suspects.get_mut(i) {
                    y.deadline = until;
                }
                expired = false;
            }
            if x.overtaken || twice || expired {
                self.suspects.remove(i);
                if self.masked_planes() & (1 << x.plane) == 0 {
                    let evidence = if x.overtaken {
                        Evidence::Overtaken
                    } else {
                        Evidence::Silence
                    };
                    self.unexplained_loss(now, x.ev, evidence, x.tx_seq);
                }
                i = 0;
                continue;
            }
            i += 1;
        }
        self.arm_suspect_timer();
    }

    /// How long silence must last before it counts against a path while the QP sees
    /// congestion: twice the largest recent RTT, since a deep queue delays every packet behind
    /// it on that path.
    fn patience(&self) -> Duration {
        self.rtt_hi.saturating_mul(2).max(self.pkt_rto())
    }

    /// `Some(until)` if a transmission sent at `sent_at` may still only be late at `now`: the
    /// QP sees congestion and [`Connection::patience`] has not passed since.
    fn sent_recently(&self, now: Instant, sent_at: Instant) -> Option<Instant> {
        let until = sent_at + self.patience();
        (self.recent(self.queue_at) && now < until).then_some(until)
    }

    /// Keeps the per-packet timer armed for the earliest suspect deadline.
    fn arm_suspect_timer(&mut self) {
        if let Some(t) = self.suspects.iter().map(|x| x.deadline).min()
            && self.timer(Timer::PktRto).is_none_or(|a| a > t)
        {
            self.arm(Timer::PktRto, t);
        }
    }

    /// Whether a congestion signal came within the last [`CONGESTION_MEMORY`] acked packets,
    /// or the QP has not yet acked that many (it cannot know its paths are quiet).
    fn recent(&self, at: Option<u64>) -> bool {
        self.acked_pkts - at.unwrap_or(0) < CONGESTION_MEMORY
    }

    /// An unexplained loss on `ev` of the transmission numbered `tx_seq`: one strike, enough
    /// to retire it unless congestion could explain it ([`TRIMMED_STRIKES`],
    /// [`MARKED_STRIKES`]). Silence blames the path only if a later transmission (on another path) came back:
    /// when nothing sent since did, the whole QP is waiting (its receiver's link, an incast
    /// burst whose trimmed headers were dropped), and no path is worse than another.
    fn unexplained_loss(&mut self, now: Instant, ev: u32, evidence: Evidence, tx_seq: u64) {
        if evidence == Evidence::Silence && self.high_acked_tx_seq <= tx_seq {
            return;
        }
        let needed = if self.recent(self.trim_at) {
            TRIMMED_STRIKES
        } else if self.recent(self.queue_at) {
            MARKED_STRIKES
        } else {
            1
        };
        let outcome = self.ev.strike(ev, needed, now);
        self.ev_outcome(now, ev, outcome);
    }

    fn retire_ev(&mut self, now: Instant, ev: u32) {
        let outcome = self.ev.loss(ev, now);
        self.ev_outcome(now, ev, outcome);
    }

    fn ev_outcome(&mut self, now: Instant, ev: u32, outcome: LossOutcome) {
        if outcome == LossOutcome::Struck {
            self.stats.ev_strikes += 1;
            return;
        }
        self.suspects.retain(|x| x.ev != ev);
        match outcome {
            LossOutcome::Retired {
                plane_exhausted, ..
            } => {
                let plane = self.ev.plane_of(ev).unwrap_or(0);
                self.stats.ev_retired += 1;
                self.events.push_back(Event::EvState {
                    ev,
                    plane,
                    state: EvState::AssumedBad,
                });
                if plane_exhausted {
                    self.events.push_back(Event::PlaneMasked { plane });
                }
                // The path is presumed failed: everything else in flight on it is lost too.
                self.mark_lost_where(now, |r| r.ev == ev);
            }
            LossOutcome::AtFloor => {
                self.stats.ev_loss_at_floor += 1;
                self.events.push_back(Event::EvLossAtFloor { ev });
            }
            LossOutcome::Ignored | LossOutcome::Struck => {}
        }
    }

    fn mark_lost_where(&mut self, now: Instant, f: impl Fn(&SendRecord) -> bool) {
        let count = self.outstanding_psns();
        let mut off = 0;
        while off < count {
            let Some(k) = self
                .inflight
                .find_next(self.snd_una.add(off).value(), count - off)
            else {
                break;
            };
            let p = self.snd_una.add(off + k);
            if self.recs.get(self.idx(p)).is_some_and(&f) {
                self.mark_lost_quiet(p, now);
            }
            off += k + 1;
        }
    }

    fn on_nack(&mut self, now: Instant, n: &neth::Repr) {
        if self.state != QpState::Rts {
            return;
        }
        let p = n.nack_psn;
        if matches!(n.reason, NackReason::Trimmed | NackReason::TrimmedLastHop) {
            // Even late (the copy was resent already): that copy was trimmed, not lost.
            for x in self.suspects.iter_mut() {
                if x.psn == p && x.ev == n.entropy {
                    x.cleared = true;
                }
            }
        }
        if !self.in_send_window(p) || !self.inflight.get(p.value()) {
            self.stats.stale_nacks += 1;
            return;
        }
        let r = self.recs.get(self.idx(p)).copied().unwrap_or_default();
        if r.ev != n.entropy {
            self.stats.stale_nacks += 1;
            return;
        }
        match n.reason {
            NackReason::Trimmed | NackReason::TrimmedLastHop => {
                let last_hop = n.reason == NackReason::TrimmedLastHop;
                // The header crossed the path: it is alive, and the QP meets full queues.
                self.ev.delivered(n.entropy);
                self.trim_at = Some(self.acked_pkts);
                self.queue_at = Some(self.acked_pkts);
                if last_hop {
                    self.stats.nacks_trimmed_last_hop += 1;
                    // The receiver's lane on this plane is full, and QPs that sent to it in
                    // step (an incast's floor windows) would all move to the next plane in
                    // step: restart the rotation at a random plane (crate docs).
                    self.plane_rr = self.plane_rng.below(u64::from(self.planes.max(1))) as u8;
                } else {
                    self.stats.nacks_trimmed += 1;
                    if self.ev.skip(n.entropy) {
                        self.stats.ev_skipped += 1;
                    }
                }
                let i = self.idx(p);
                if let Some(rec) = self.recs.get_mut(i) {
                    rec.trimmed = true;
                }
                let bytes = self.mark_lost_quiet(p, now);
                self.cc.on_trim(now, bytes, last_hop, self.inflight_bytes);
            }
            NackReason::NoBitmap
            | NackReason::NoPktBuffer
            | NackReason::NoResource
            | NackReason::PsnOorWindow => {
                self.stats.nacks_resource += 1;
                let at = now + self.min_rtt;
                self.mark_lost_quiet(p, at);
                if self.timer(Timer::RtxDelay).is_none_or(|t| t > at) {
                    self.arm(Timer::RtxDelay, at);
                }
            }
            NackReason::UnexpEvent => {
                self.stats.nacks_fatal += 1;
                self.fail_psn(p, WcStatus::RemoteAccessError, QpErrorReason::RemoteAccess);
            }
            NackReason::WimmLimit => {
                self.stats.nacks_fatal += 1;
                self.fail_psn(p, WcStatus::WimmLimit, QpErrorReason::WimmLimitPeer);
            }
            NackReason::Other(code) => {
                self.stats.unknown_received += 1;
                self.stats.nacks_fatal += 1;
                let reason = QpErrorReason::UnknownNack(code);
                self.fail_psn(p, WcStatus::RemoteOperationError, reason);
            }
        }
    }

    /// A fatal NACK for PSN `p`: WRs completed by the cumulative ack complete normally; the WR
    /// holding `p` completes with `status`; every other outstanding WR is flushed (RC
    /// semantics: after an error nothing else is reported as done).
    fn fail_psn(&mut self, p: Psn, status: WcStatus, reason: QpErrorReason) {
        self.complete_wrs();
        let holds = |w: &PendingWr| !w.segmented || !w.last_psn.precedes(p);
        let failing = self.sq.iter().position(holds).unwrap_or(0);
        let mut k = 0;
        while let Some(w) = self.sq.pop_front() {
            self.stats.completions += 1;
            self.events.push_back(Event::SendComplete {
                wr_id: w.wr.wr_id,
                status: if k == failing {
                    status
                } else {
                    WcStatus::Flushed
                },
            });
            k += 1;
        }
        self.seg_idx = 0;
        self.enter_error(Some(reason));
    }

    fn complete_wrs(&mut self) {
        while let Some(f) = self.sq.front() {
            if !(f.segmented && f.last_psn.precedes(self.snd_una)) {
                break;
            }
            let imm = f.wr.imm.is_some();
            let wr_id = f.wr.wr_id;
            self.sq.pop_front();
            self.seg_idx = self.seg_idx.saturating_sub(1);
            if imm {
                self.wimm_inflight = self.wimm_inflight.saturating_sub(1);
            }
            self.stats.completions += 1;
            self.events.push_back(Event::SendComplete {
                wr_id,
                status: WcStatus::Success,
            });
        }
    }

    fn enter_error(&mut self, reason: Option<QpErrorReason>) {
        if self.state == QpState::Error {
            return;
        }
        self.state = QpState::Error;
        let status = match reason {
            Some(QpErrorReason::RetryExceeded) => WcStatus::RetryExceeded,
            _ => WcStatus::Flushed,
        };
        let mut first = true;
        while let Some(w) = self.sq.pop_front() {
            self.stats.completions += 1;
            self.events.push_back(Event::SendComplete {
                wr_id: w.wr.wr_id,
                status: if first { status } else { WcStatus::Flushed },
            });
            first = false;
        }
        self.seg_idx = 0;
        self.ctrl.clear();
        self.timers = [None; N_TIMERS];
        self.port_status = None;
        if let Some(r) = reason {
            self.events.push_back(Event::QpError(r));
        }
    }

    fn on_qp_timeout(&mut self, now: Instant) {
        self.stats.qp_timeouts += 1;
        self.qp_retries += 1;
        let lin = u32::from(self.attr.retry.linear_cnt);
        let exp = u32::from(self.attr.retry.exp_cnt);
        if exp < 25 && self.qp_retries > lin + exp {
            self.enter_error(Some(QpErrorReason::RetryExceeded));
            return;
        }
        self.mark_lost_where(now, |_| true);
        let at = now + self.qp_backoff(self.qp_retries);
        self.arm(Timer::QpRto, at);
    }

    fn on_pkt_timeout(&mut self, now: Instant) {
        let count = self.outstanding_psns();
        let mut off = 0;
        let mut next: Option<Instant> = None;
        while off < self.outstanding_psns().min(count) {
            let Some(k) = self
                .inflight
                .find_next(self.snd_una.add(off).value(), count - off)
            else {
                break;
            };
            let p = self.snd_una.add(off + k);
            let dl = self
                .recs
                .get(self.idx(p))
                .map_or(Instant::MAX, |r| r.deadline);
            if dl <= now {
                self.declare_lost(now, p, LossCause::Timeout);
            } else {
                next = Some(next.map_or(dl, |n| n.min(dl)));
            }
            off += k + 1;
        }
        self.judge_suspects(now);
        for x in &self.suspects {
            next = Some(next.map_or(x.deadline, |n| n.min(x.deadline)));
        }
        match next {
            Some(t) => self.arm(Timer::PktRto, t),
            None => self.disarm(Timer::PktRto),
        }
    }

    fn set_planes_lost(&mut self, now: Instant, lost_planes: u32) {
        if lost_planes != 0 {
            self.mark_lost_where(now, |r| lost_planes & (1 << r.plane) != 0);
        }
    }
}

/// The message range `(start VA, DMA length)` a Write's RETH claims, if it is consistent with
/// the packet: an ONLY packet is the whole message, a FIRST packet starts it, a LAST packet ends
/// it, and a packet of a multi-packet message is shorter than the message. Packets arrive out of
/// order, so unlike RC the responder cannot add up a message's bytes at its last packet; checking
/// each packet against RETH (and the range against the region) bounds what a Write-IMM reports.
fn message_range(op: Opcode, w: &Write) -> Option<(u64, u64)> {
    let (va, dma, len) = (
        w.reth.va,
        u64::from(w.reth.dma_len),
        u64::from(w.payload_len),
    );
    let ok = match op {
        Opcode::WriteOnly | Opcode::WriteOnlyImm => len == dma,
        _ => len < dma,
    };
    if !ok {
        return None;
    }
    let start = match op {
        Opcode::WriteLast | Opcode::WriteLastImm => va.checked_sub(dma - len)?,
        Opcode::WriteOnly | Opcode::WriteOnlyImm | Opcode::WriteFirst => va,
        // A middle packet's offset is unknown: check only that it fits the claimed length.
        _ => va,
    };
    let n = if op == Opcode::WriteMiddle { len } else { dma };
    Some((start, n))
}

impl Transport for Connection {
    fn handle_packet(&mut self, now: Instant, pkt: &Received<'_>) {
        self.last_now = self.last_now.max(now);
        let b = pkt.repr.bth;
        let endpoint = matches!(
            pkt.repr.body,
            Body::EndpointRequest(_) | Body::EndpointResponse(_)
        );
        if b.dest_qp != self.cfg.qpn && !(endpoint && b.dest_qp == ENDPOINT_QPN) {
            self.stats.rejected_wrong_qp += 1;
            return;
        }
        if matches!(self.state, QpState::Reset | QpState::Init | QpState::Error) {
            self.stats.rejected_not_ready += 1;
            return;
        }
        match &pkt.repr.body {
            Body::Write(w) => {
                if pkt.repr.check().is_err() {
                    self.stats.rejected_not_ready += 1;
                    return;
                }
                self.on_write(now, pkt, w);
            }
            Body::Sack { seth, cc } => self.on_sack(now, seth, cc),
            Body::Nack(n) => self.on_nack(now, n),
            Body::Probe(_) => {
                let t = SackTrigger {
                    psn: self.rcv_cack,
                    cover: self.rcv_cack,
                    ev: pkt.ev,
                    plane: pkt.port,
                    mark: if pkt.ecn_ce {
                        PathMark::SkipOnce
                    } else {
                        PathMark::None
                    },
                    pr: true,
                };
                self.push_ctrl(Ctrl::Sack(t));
            }
            Body::EndpointRequest(r) if matches!(r.op, EndpointOp::Other(_)) => {
                self.stats.unknown_received += 1;
            }
            Body::EndpointRequest(r) => {
                if r.op == EndpointOp::PortStatusUpdate {
                    let new = r.port_status_mask & self.plane_bits;
                    let lost = self.peer_up & !new;
                    self.peer_up = new;
                    self.events.push_back(Event::PeerPortStatus { mask: new });
                    self.set_planes_lost(now, lost);
                }
                self.push_ctrl(Ctrl::EpResponse {
                    op: r.op,
                    id: b.psn.value() as u16,
                    ts: r.timestamp.tx_timestamp,
                    ev: pkt.ev,
                    plane: pkt.port,
                });
            }
            Body::EndpointResponse(r) => {
                if r.op == EndpointOp::PortStatusUpdate
                    && self.port_status.is_some_and(|p| p.seq == r.tx_timestamp)
                {
                    self.port_status = None;
                    self.disarm(Timer::PortStatus);
                    self.events.push_back(Event::PortStatusAcked);
                }
            }
            Body::Ack(_) => {}
        }
        self.arm_if_stalled(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        if self.state == QpState::Error {
            return;
        }
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.timer(Timer::SackCoalesce)) {
            self.disarm(Timer::SackCoalesce);
            if let Some(t) = self.sack_pending.take() {
                self.sack_now(t);
            }
        }
        if due(self.timer(Timer::PktRto)) {
            self.on_pkt_timeout(now);
        }
        if due(self.timer(Timer::QpRto)) {
            self.on_qp_timeout(now);
        }
        self.arm_if_stalled(now);
        if due(self.timer(Timer::PortStatus)) {
            self.disarm(Timer::PortStatus);
        }
        if due(self.timer(Timer::RtxDelay)) {
            self.disarm(Timer::RtxDelay);
        }
        if due(self.timer(Timer::ProbeBudget)) {
            self.disarm(Timer::ProbeBudget);
        }
        if due(self.timer(Timer::Pace)) {
            self.disarm(Timer::Pace);
        }
        if self.ev.next_probe_time().is_some_and(|t| t <= now) {
            self.ev.probe_timeouts(now);
        }
    }

    fn poll_transmit(&mut self, now: Instant, ready: PortMask) -> Option<Transmit> {
        self.last_now = self.last_now.max(now);
        if matches!(self.state, QpState::Reset | QpState::Init | QpState::Error) {
            return None;
        }
        let up = ready.0 & self.local_up & self.plane_bits;
        if up == 0 {
            return None;
        }
        if let Some(t) = self.poll_control(now, up) {
            return Some(t);
        }
        if self.state != QpState::Rts {
            return None;
        }
        self.poll_data(now, up)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.timers.iter().flatten().copied().min();
        if let Some(p) = self.ev.next_probe_time()
            && p > self.last_now
        {
            t = Some(t.map_or(p, |x| x.min(p)));
        }
        t
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn post_write(&mut self, wr: WriteRequest) -> Result<(), PostError> {
        if self.state != QpState::Rts {
            return Err(PostError::NotReady(self.state));
        }
        if !self.regions.contains(wr.local_addr, u64::from(wr.len)) {
            return Err(PostError::LocalOutOfBounds);
        }
        if self.sq.len() >= self.cfg.max_send_wr as usize {
            return Err(PostError::QueueFull);
        }
        if self.recs.is_empty() {
            let cap = self.rec_max.min(INITIAL_SEND_RING);
            self.rec_mask = cap - 1;
            self.recs = vec![SendRecord::default(); cap as usize];
            self.inflight = RingBits::new(cap);
            self.rtx = RingBits::new(cap);
        }
        let msn = self.next_msn;
        self.next_msn = self.next_msn.wrapping_add(1);
        let rqmsn = self.next_rqmsn;
        if wr.imm.is_some() {
            self.next_rqmsn = self.next_rqmsn.wrapping_add(1);
        }
        self.sq.push_back(PendingWr {
            wr,
            msn,
            rqmsn,
            last_psn: Psn::ZERO,
            next_off: 0,
            started: false,
            segmented: false,
        });
        self.arm_if_stalled(self.last_now);
        Ok(())
    }

    fn handle_port_status(&mut self, now: Instant, port: u8, up: bool) {
        if port >= self.planes {
            return;
        }
        let bit = 1u32 << port;
        let old = self.local_up;
        if up {
            self.local_up |= bit;
        } else {
            self.local_up &= !bit;
        }
        if old == self.local_up {
            return;
        }
        if !up {
            self.set_planes_lost(now, bit);
            self.arm_if_stalled(now);
        }
        if !matches!(self.state, QpState::Rtr | QpState::Rts) {
            return;
        }
        self.port_status_seq = self.port_status_seq.wrapping_add(1);
        self.port_status = Some(PortStatusTx {
            mask: self.local_up,
            seq: self.port_status_seq,
            next_at: now,
        });
        self.arm(Timer::PortStatus, now);
    }

    fn regions(&self) -> &MemoryRegions {
        &self.regions
    }

    fn regions_mut(&mut self) -> &mut MemoryRegions {
        &mut self.regions
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }

    fn state(&self) -> QpState {
        self.state
    }

    fn outstanding(&self) -> usize {
        self.sq.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use crate::QpHint;
    use crate::testing::{NetConfig, PathConfig, mrc_harness, mrc_pair_configs};

    /// Offers a QP with 3 of plane 1's 4 EVs denied plane 1's port three times for each time
    /// plane 0's (as at full load, where the healthy port is busy whenever plane 1's is free)
    /// until its window is full; payload bytes sent per plane. `congested`: an ECN echo came
    /// back for plane 1 just now.
    fn offered_gaps(congested: bool) -> ([u64; 2], u64) {
        let rate = 100_000_000_000;
        let (a, b) = mrc_pair_configs(3, 2, 4, 0, rate, Duration::from_micros(200));
        let net = NetConfig::uniform(8, 2, rate, PathConfig::default());
        let mut h = mrc_harness(a, b, MrcQpAttr::default(), net);
        let c = &mut h.ends[0];
        let src = c.regions_mut().register(16 << 20);
        c.post_write(WriteRequest {
            wr_id: 0,
            local_addr: src.addr,
            len: 16 << 20,
            remote_addr: 0,
            rkey: 0,
            imm: None,
        })
        .unwrap();
        let plane1: Vec<u32> = (0..64).filter(|&e| c.ev.plane_of(e) == Some(1)).collect();
        for &ev in &plane1[..3] {
            assert!(c.deny_ev(ev));
        }
        let now = Instant::from_nanos(1_000);
        if congested {
            c.plane_ecn_at[1] = now;
        }
        let mut sent = [0u64; 2];
        'rounds: loop {
            for ready in [0b10, 0b10, 0b10, 0b01] {
                match c.poll_transmit(now, PortMask(ready)) {
                    Some(t) => {
                        sent[usize::from(t.port)] += t.payload.map_or(0, |p| u64::from(p.len))
                    }
                    None if ready == 0b01 => break 'rounds, // the window is full
                    None => {}
                }
            }
        }
        (sent, u64::from(c.cfg.mtu))
    }

    /// QPs that send in step (all started on the same plane) leave it for planes spread at
    /// random after a last-hop trim; other NACKs keep the rotation.
    #[test]
    fn a_last_hop_trim_restarts_the_plane_rotation_at_random() {
        let next_plane = |qpn: u32, reason: NackReason| {
            let rate = 100_000_000_000;
            let (mut a, mut b) = mrc_pair_configs(3, 8, 4, 0, rate, Duration::from_micros(10));
            a.qpn = qpn;
            b.remote_qpn = qpn;
            let net = NetConfig::uniform(32, 8, rate, PathConfig::default());
            let mut h = mrc_harness(a, b, MrcQpAttr::default(), net);
            let src = h.ends[0].regions_mut().register(1 << 20);
            h.ends[0]
                .post_write(WriteRequest {
                    wr_id: 0,
                    local_addr: src.addr,
                    len: 4096,
                    remote_addr: 0,
                    rkey: 0,
                    imm: None,
                })
                .unwrap();
            let now = Instant::from_nanos(1_000);
            let t = h.ends[0].poll_transmit(now, PortMask::ALL).unwrap();
            assert_eq!(t.port, 0, "every QP starts on plane 0");
            let nack = h.ends[1].nack_repr(t.repr.bth.psn, t.ev, reason);
            let later = now + Duration::from_micros(5);
            h.ends[0].handle_packet(later, &Received::new(nack, t.ev, 0, None));
            h.ends[0].poll_transmit(later, PortMask::ALL).unwrap().port
        };
        let planes = |reason| -> std::collections::BTreeSet<u8> {
            (0..64).map(|q| next_plane(0x100 + q, reason)).collect()
        };
        assert_eq!(planes(NackReason::Trimmed).len(), 1);
        assert!(planes(NackReason::TrimmedLastHop).len() >= 6);
    }

    /// A 2-plane pair at 100 Gb/s a plane, 10 µs base RTT, in RTS.
    fn two_plane_pair() -> crate::testing::Harness<Connection> {
        let rate = 100_000_000_000;
        let (a, b) = mrc_pair_configs(3, 2, 4, 0, rate, Duration::from_micros(10));
        let net = NetConfig::uniform(8, 2, rate, PathConfig::default());
        mrc_harness(a, b, MrcQpAttr::default(), net)
    }

    /// A trim NACK leaves before SACKs queued ahead of it (they are rebuilt when they leave;
    /// the NACK is what keeps a trimmed packet from being judged lost).
    #[test]
    fn a_nack_overtakes_queued_sacks() {
        let mut h = two_plane_pair();
        let r = &mut h.ends[1];
        for i in 0..3 {
            let psn = Psn::new(i);
            r.push_ctrl(Ctrl::Sack(SackTrigger {
                psn,
                cover: psn,
                ev: i,
                plane: 0,
                mark: PathMark::SkipOnce,
                pr: false,
            }));
        }
        let nack = |psn| Ctrl::Nack {
            psn: Psn::new(psn),
            ev: 1,
            plane: 0,
            reason: NackReason::Trimmed,
        };
        r.push_ctrl(nack(7));
        r.push_ctrl(nack(8));
        let order: Vec<bool> = r
            .ctrl
            .iter()
            .map(|c| matches!(c, Ctrl::Nack { .. }))
            .collect();
        assert_eq!(order, [true, true, false, false, false]);
        let first = r
            .poll_transmit(Instant::from_nanos(1), PortMask::ALL)
            .unwrap();
        assert!(matches!(first.repr.body, Body::Nack(ref n) if n.nack_psn == Psn::new(7)));
    }

    /// A hole behind a lost packet fills the tracking window, which is loss, not host
    /// backpressure: no penalty by default; the out-of-order rule only when asked for.
    #[test]
    fn out_of_order_occupancy_is_no_penalty_unless_configured() {
        let mut h = two_plane_pair();
        let r = &mut h.ends[1];
        assert!(r.rcv_window > 0);
        r.ooo = r.rcv_window * 3 / 4;
        assert_eq!(r.penalty(), 0);
        r.cfg.penalty_start = Some(0.5);
        assert_eq!(r.penalty(), 63);
    }

    /// Congested: the degraded plane keeps to a quarter of plane 0's bytes (plus the rule's
    /// slack of 4 packets and the packet that crosses it), even though only its port is
    /// ready most of the time.
    #[test]
    fn a_congested_degraded_plane_keeps_its_share_when_only_its_port_is_ready() {
        let (sent, mtu) = offered_gaps(true);
        assert!(
            sent[0] > 100 * mtu,
            "the window must allow many packets: {sent:?}"
        );
        assert!(sent[1] <= sent[0] / 4 + 5 * mtu, "{sent:?}");
    }

    /// Not congested: its remaining paths have room, so it takes the gaps the busy healthy
    /// port leaves (3 packets for each of plane 0's).
    #[test]
    fn an_uncongested_degraded_plane_takes_the_gaps() {
        let (sent, _) = offered_gaps(false);
        assert!(sent[1] >= 2 * sent[0], "{sent:?}");
    }

    /// Send times of a QP's data packets and its window at each, writing 8 packets with `hint`
    /// on a 2-plane pair (200 Gb/s, 10 µs base RTT).
    fn data_sends(hint: QpHint) -> Vec<(Instant, u64)> {
        let rate = 100_000_000_000;
        let (a, b) = mrc_pair_configs(3, 2, 4, 0, rate, Duration::from_micros(10));
        let net = NetConfig::uniform(8, 2, rate, PathConfig::default());
        let attr = MrcQpAttr {
            hint: Some(hint),
            ..MrcQpAttr::default()
        };
        let mut h = mrc_harness(a, b, attr, net);
        let src = h.ends[0].regions_mut().register_virtual(1 << 20);
        let dst = h.ends[1].regions_mut().register_virtual(1 << 20);
        let wr = WriteRequest {
            wr_id: 0,
            local_addr: src.addr,
            len: 8 * 4096,
            remote_addr: dst.addr,
            rkey: dst.rkey,
            imm: None,
        };
        h.ends[0].post_write(wr).unwrap();
        let mut sends = Vec::new();
        while h.completions[0] == 0 && h.now < Instant::from_nanos(100_000_000) && h.step() {
            let sent = h.stats(0).data_sent as usize;
            if sent > sends.len() {
                sends.push((h.now, h.ends[0].cwnd()));
            }
        }
        assert_eq!(h.completions[0], 1, "the write completes: {sends:?}");
        sends
    }

    /// The hint of a 1,023 → 1 incast puts the window below one packet (BDP / 1,023 ≈ 244 B):
    /// the QP paces, each packet at least base RTT × 4 KB / window after the one before. Told
    /// its own NIC writes to as many destinations, the same QP keeps the one-packet floor.
    #[test]
    fn a_window_below_one_packet_paces_the_qp() {
        let incast = |send| QpHint {
            num_remote_recv_peers: 1023,
            num_send_peers: send,
            ..QpHint::default()
        };
        let paced = data_sends(incast(1));
        let gap = |cwnd: u64| 10_000 * 4096 / cwnd;
        let share = paced[0].1;
        assert!(share < 4096 / 8, "initial window {share}");
        // The first gap is drawn within the share's period, so QPs that start together
        // spread out; every later one is at least the period of the window it left with.
        let first = paced[1].0.saturating_since(paced[0].0).as_nanos();
        assert!(first > 0 && first <= gap(share), "{paced:?}");
        for w in paced[1..].windows(2) {
            let ((t0, _), (t1, cwnd)) = (w[0], w[1]);
            if cwnd < 4096 {
                assert!(
                    t1.saturating_since(t0).as_nanos() + 1 >= gap(cwnd),
                    "{paced:?}"
                );
            }
        }
        let floor = data_sends(incast(1023));
        assert!(floor.iter().all(|&(_, w)| w >= 4096), "{floor:?}");
        let span = |s: &[(Instant, u64)]| s[s.len() - 1].0.saturating_since(s[0].0);
        assert!(span(&paced) > span(&floor), "{paced:?} {floor:?}");
    }
}
