//! The sans-IO NIC: the layer above [`Connection`] that owns one NIC's QPs
//! (docs/architecture.md §2, "the same transport code runs in the simulator and on real sockets").
//!
//! A real MRC NIC does more than run QPs side by side: it finds the QP a packet is for, tells
//! every QP when one of its ports (lanes, planes) goes down or comes up, shares its ports
//! between the QPs that have something to send, and answers node-scoped packets (destination
//! QP [`ENDPOINT_QPN`]: port status, EV probes). [`Nic`] is that layer, without I/O, clock or
//! threads, so the simulator and the socket transport drive the same code. quinn-proto's
//! `Endpoint` is the model: the driver owns sockets or links and time, the `Nic` owns QPs.
//!
//! - **Demultiplexing** is O(1): a hash map keyed by (peer, local QPN). A peer is an opaque
//!   [`PeerId`] the driver assigns (an address, a NIC index): the core never sees addresses.
//!   A packet naming a QP that exists but is bound to another peer, or whose source QPN (SACK,
//!   NACK, probe) is not the QP's remote QPN, is dropped and counted ([`NicStats::foreign`]):
//!   the off-path forger of the crate docs' trust model. A QP added without a peer is bound by
//!   the first packet that names it (trust on first use), if [`Nic::set_bind_on_first_packet`]
//!   allows it.
//! - **Endpoint QPN** packets go to every QP bound to the sender whose remote QPN matches where
//!   the packet names one (a probe's source QPN); node-scoped requests carry no QP binding.
//! - **Port status** ([`Nic::handle_port_status`]) is fanned out to every QP, and a down port
//!   is taken out of the ready mask before any QP is asked to send.
//! - **Arbitration**: [`Nic::poll_transmit`] asks the QPs in turn, starting after the one that
//!   sent last, for a packet on one of the ready ports; the first that has one sends. So every
//!   QP with something to send on a ready port gets a packet out before any gets a second
//!   (or a burst, [`Nic::set_burst`]: a socket driver keeps a QP's packets together).
//!   A QP that had nothing for some ports is not asked about them again until something that
//!   can give it a packet reaches it (a packet, its timer, a port change, the driver borrowing
//!   it to post work): with a thousand QPs on one NIC (incast), asking each idle one in turn
//!   at every transmit opportunity would dominate the run.
//! - **Timers**: a heap of (deadline, QP) answers [`Nic::poll_timeout`] and
//!   [`Nic::handle_timeout`] without scanning the QPs. Deadlines are re-read whenever the NIC
//!   touches a QP; a QP lent out by [`Nic::qp_mut`] is re-read at the next NIC call. A
//!   deadline that moves later (a retransmission timer re-armed by every acknowledgement) keeps
//!   its heap entry until [`Nic::handle_timeout`] reaches it, so a NIC sending a packet per
//!   microsecond does no heap work per packet; [`Nic::poll_timeout`] may then answer early, and
//!   that call runs nothing. A driver that schedules each QP's timer itself (the simulator,
//!   whose events of one instant run in a fixed order) uses [`Nic::handle_timeout_of`]
//!   instead.
//!
//! ECN CE is a field of [`Received`]: the driver reads it off the packet (simulator: the
//! switch's mark; sockets: the IPv6 traffic class) and the NIC passes it on.

use std::cmp::Reverse;
use std::collections::hash_map::RandomState;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, Hasher};

use mrc_wire::mrc::{Body, ENDPOINT_QPN};

use crate::{
    CcAlgorithm, CcProfile, Connection, ConnectionConfig, Duration, EvProfile, Instant, MrcQpAttr,
    NsccConfig, PlaneEvs, PortMask, Received, Transmit, Transport, roce,
};

/// A peer of the NIC, as the driver names it (an address, a NIC index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u32);

/// A QP of one [`Nic`]: its index in order of creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QpId(pub u32);

impl QpId {
    /// The index (order of creation).
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// What a [`Nic`] needs of the per-QP object the driver stores in it: the transport and its
/// QP numbers (the local one is read once, when the QP is added: it keys the QP; the remote
/// one at every packet, as a driver may give the QP a new connection). The driver may keep its own per-QP data beside the connection (where the peer
/// is, a memory region), so the NIC owns the QPs without a parallel table in the driver.
pub trait NicQp {
    /// The transport (MRC or the RoCE baseline).
    type Conn: Transport;
    /// The transport.
    fn conn(&self) -> &Self::Conn;
    /// The transport, mutably.
    fn conn_mut(&mut self) -> &mut Self::Conn;
    /// Local QP number.
    fn qpn(&self) -> u32;
    /// The peer's QP number.
    fn remote_qpn(&self) -> u32;
}

/// The core's transports are their own NIC QPs (for drivers that keep nothing beside them).
macro_rules! transport_is_its_nic_qp {
    ($($t:ty),*) => {$(
        impl NicQp for $t {
            type Conn = Self;
            fn conn(&self) -> &Self {
                self
            }
            fn conn_mut(&mut self) -> &mut Self {
                self
            }
            fn qpn(&self) -> u32 {
                self.config().qpn
            }
            fn remote_qpn(&self) -> u32 {
                self.config().remote_qpn
            }
        }
    )*};
}
transport_is_its_nic_qp!(Connection, roce::Connection);

/// Counters of the NIC layer (per-QP counters stay in each transport's `Stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct NicStats {
    /// Packets handed to a QP (an endpoint packet counts once per QP it reached).
    pub delivered: u64,
    /// Packets naming no QP of this NIC (and not accepted by the driver).
    pub unknown_qp: u64,
    /// Packets naming a QP here but not from its bound peer (peer or source QPN): dropped.
    pub foreign: u64,
    /// Endpoint-QPN packets that reached no QP (no QP bound to the sender): dropped.
    pub endpoint_unclaimed: u64,
    /// Packets sent (all QPs).
    pub transmitted: u64,
    /// Port status changes fanned out to the QPs.
    pub port_changes: u64,
}

/// What [`Nic::handle_packet`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Demux {
    /// Delivered to this QP; `bound` = this packet bound the QP to the sender (first use).
    Delivered {
        /// The QP.
        qp: QpId,
        /// The QP had no peer and now has the sender.
        bound: bool,
    },
    /// An endpoint-QPN packet, delivered to this many QPs bound to the sender.
    Endpoint(u32),
    /// No QP has this QPN: the driver may create one ([`Nic::add_qp`]) and hand the packet in
    /// again. Counted in [`NicStats::unknown_qp`] unless it does.
    UnknownQp(u32),
    /// Dropped: the QP exists but is bound to another peer or QP ([`NicStats::foreign`]), or
    /// an endpoint packet no QP bound to the sender claims.
    Foreign,
}

/// Why [`Nic::add_qp`] or [`Nic::bind`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum NicError {
    /// A QP with this QPN already serves this peer (or is unbound with this QPN).
    #[error("QPN {0:#x} is already in use for this peer")]
    DuplicateQpn(u32),
    /// No such QP.
    #[error("no QP {0:?}")]
    NoQp(QpId),
}

/// One NIC: its QPs, their peers, its ports and its transmit arbitration (module docs).
///
/// Fields in memory order (`repr(C)`): what every packet reads comes first, in one cache line
/// (a simulator holds thousands of NICs, and each packet's misses are its cost).
#[derive(Debug)]
#[repr(C)]
pub struct Nic<Q> {
    by_key: HashMap<(PeerId, u32), QpId, KeyedMix>,
    qps: Vec<Q>,
    /// Per QP (index = [`QpId`]): what the NIC keeps of it, in one place (one cache line
    /// per packet, where one vector per field cost a miss each).
    slots: Vec<Slot>,
    ports_up: PortMask,
    all_dirty: bool,
    rr: usize,
    /// Packets the QP at `rr` may still send before its turn passes ([`Nic::set_burst`]).
    turn_left: u32,
    /// Packets per turn ([`Nic::set_burst`]).
    burst: u32,
    dirty: Vec<u32>,
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    unbound: HashMap<u32, QpId, KeyedMix>,
    by_peer: HashMap<PeerId, Vec<QpId>, KeyedMix>,
    /// Local QPNs in use (how many QPs carry each), to tell "bound elsewhere" from "unknown".
    qpn_count: HashMap<u32, u32, KeyedMix>,
    bind_on_first: bool,
    /// The QPs whose timers the last [`Nic::handle_timeout`] ran.
    fired: Vec<QpId>,
    stats: NicStats,
}

impl<Q> Default for Nic<Q> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Q> Nic<Q> {
    /// A NIC with no QPs, every port up, binding on first packet allowed.
    pub fn new() -> Self {
        let mix = KeyedMix(RandomState::new().hash_one(0_u64));
        Self {
            qps: Vec::new(),
            slots: Vec::new(),
            by_key: HashMap::with_hasher(mix),
            unbound: HashMap::with_hasher(mix),
            by_peer: HashMap::with_hasher(mix),
            qpn_count: HashMap::with_hasher(mix),
            bind_on_first: true,
            ports_up: PortMask::ALL,
            rr: 0,
            turn_left: 0,
            burst: 1,
            timers: BinaryHeap::new(),
            dirty: Vec::new(),
            all_dirty: false,
            fired: Vec::new(),
            stats: NicStats::default(),
        }
    }

    /// Whether a QP added without a peer is bound by the first packet naming it (default
    /// true). A driver whose source addresses are not where to answer (the loopback mode of
    /// `mrc-net`, whose datagrams leave from per-EV ports) turns it off.
    pub fn set_bind_on_first_packet(&mut self, on: bool) {
        self.bind_on_first = on;
    }

    /// Packets a QP may send in a row before the arbiter moves to the next (default 1: packet
    /// by packet, as a hardware NIC interleaves its QPs). A receiver that acknowledges once
    /// per batch of packets it reads (a socket endpoint) sends one SACK per QP in a batch, so
    /// QPs interleaved packet by packet cost it a SACK per packet; a burst of a few keeps
    /// each QP's packets together. At least 1.
    pub fn set_burst(&mut self, packets: u32) {
        self.burst = packets.max(1);
        self.turn_left = 0;
    }

    /// The QPs, in order of creation (index = [`QpId`]).
    pub fn qps(&self) -> &[Q] {
        &self.qps
    }

    /// One QP.
    pub fn qp(&self, id: QpId) -> Option<&Q> {
        self.qps.get(id.index())
    }

    /// The peer a QP is bound to.
    pub fn peer(&self, id: QpId) -> Option<PeerId> {
        self.slots.get(id.index()).and_then(|s| s.peer)
    }

    /// The QPs bound to `peer`, in order of binding: those an endpoint-QPN packet from it
    /// may have reached ([`Demux::Endpoint`]).
    pub fn peer_qps(&self, peer: PeerId) -> &[QpId] {
        self.by_peer.get(&peer).map_or(&[], Vec::as_slice)
    }

    /// Number of QPs.
    pub fn len(&self) -> usize {
        self.qps.len()
    }

    /// True if the NIC has no QP.
    pub fn is_empty(&self) -> bool {
        self.qps.is_empty()
    }

    /// Counters.
    pub fn stats(&self) -> &NicStats {
        &self.stats
    }

    /// Ports currently up.
    pub fn ports_up(&self) -> PortMask {
        self.ports_up
    }

    /// Counts a packet the driver dropped after [`Demux::UnknownQp`] (it made no QP for it).
    pub fn count_unknown(&mut self) {
        self.stats.unknown_qp += 1;
    }
}

impl<Q: NicQp> Nic<Q> {
    /// Adds a QP, bound to `peer` or (None) to the first sender that names it. A port that is
    /// down now is reported to it at once (it would otherwise believe every port up).
    pub fn add_qp(
        &mut self,
        now: Instant,
        mut qp: Q,
        peer: Option<PeerId>,
    ) -> Result<QpId, NicError> {
        let qpn = qp.qpn();
        let id = QpId(self.qps.len() as u32);
        match peer {
            Some(p) => {
                if self.by_key.contains_key(&(p, qpn)) {
                    return Err(NicError::DuplicateQpn(qpn));
                }
                self.by_key.insert((p, qpn), id);
                self.by_peer.entry(p).or_default().push(id);
            }
            None => {
                if self.unbound.contains_key(&qpn) {
                    return Err(NicError::DuplicateQpn(qpn));
                }
                self.unbound.insert(qpn, id);
            }
        }
        *self.qpn_count.entry(qpn).or_insert(0) += 1;
        let mut down = !self.ports_up.0;
        while down != 0 {
            let p = down.trailing_zeros() as u8;
            qp.conn_mut().handle_port_status(now, p, false);
            down &= down - 1;
        }
        self.qps.push(qp);
        self.slots.push(Slot {
            peer,
            qpn,
            ..Slot::default()
        });
        self.mark(id.0);
        Ok(id)
    }

    /// Binds (or rebinds) a QP to `peer`: afterwards only that peer reaches it.
    pub fn bind(&mut self, id: QpId, peer: PeerId) -> Result<(), NicError> {
        let qpn = self.slots.get(id.index()).ok_or(NicError::NoQp(id))?.qpn;
        let old = self.peer(id);
        if old == Some(peer) {
            return Ok(());
        }
        if self.by_key.contains_key(&(peer, qpn)) {
            return Err(NicError::DuplicateQpn(qpn));
        }
        match old {
            Some(o) => {
                self.by_key.remove(&(o, qpn));
                if let Some(v) = self.by_peer.get_mut(&o) {
                    v.retain(|&q| q != id);
                }
            }
            None => {
                self.unbound.remove(&qpn);
            }
        }
        self.by_key.insert((peer, qpn), id);
        self.by_peer.entry(peer).or_default().push(id);
        if let Some(s) = self.slots.get_mut(id.index()) {
            s.peer = Some(peer);
        }
        Ok(())
    }

    /// One QP, mutably (to post work requests, read its events). Its timer is refreshed at the
    /// next NIC call.
    pub fn qp_mut(&mut self, id: QpId) -> Option<&mut Q> {
        let q = self.qps.get_mut(id.index())?;
        stir(&mut self.slots, &mut self.dirty, id.0);
        Some(q)
    }

    /// Every QP, mutably (timers of all are refreshed at the next NIC call).
    pub fn qps_mut(&mut self) -> &mut [Q] {
        self.all_dirty = true;
        self.slots.iter_mut().for_each(|s| s.idle = 0);
        &mut self.qps
    }

    /// Finds the QP a packet from `peer` is for and hands it over (module docs).
    pub fn handle_packet(&mut self, now: Instant, peer: PeerId, rx: &Received<'_>) -> Demux {
        let qpn = rx.repr.bth.dest_qp;
        if qpn == ENDPOINT_QPN {
            let n = self.deliver_endpoint(now, peer, rx);
            if n == 0 {
                self.stats.endpoint_unclaimed += 1;
                return Demux::Foreign;
            }
            return Demux::Endpoint(n);
        }
        let (id, bound) = match self.by_key.get(&(peer, qpn)) {
            Some(&id) => (id, false),
            None => match self.unbound.get(&qpn) {
                Some(&id) if self.bind_on_first => (id, true),
                Some(_) => {
                    self.stats.foreign += 1;
                    return Demux::Foreign;
                }
                None if self.qpn_count.contains_key(&qpn) => {
                    self.stats.foreign += 1;
                    return Demux::Foreign;
                }
                None => return Demux::UnknownQp(qpn),
            },
        };
        let Some(q) = self.qps.get_mut(id.index()) else {
            return Demux::UnknownQp(qpn);
        };
        if !from_qp(rx, q.remote_qpn()) {
            self.stats.foreign += 1;
            return Demux::Foreign;
        }
        q.conn_mut().handle_packet(now, rx);
        self.stats.delivered += 1;
        stir(&mut self.slots, &mut self.dirty, id.0);
        if bound {
            // Cannot fail: the QP was unbound and (peer, qpn) is free (looked up above).
            let _ = self.bind(id, peer);
        }
        Demux::Delivered { qp: id, bound }
    }

    fn deliver_endpoint(&mut self, now: Instant, peer: PeerId, rx: &Received<'_>) -> u32 {
        let Some(ids) = self.by_peer.get(&peer) else {
            return 0;
        };
        let mut n = 0;
        for &id in ids {
            let Some(q) = self.qps.get_mut(id.index()) else {
                continue;
            };
            if !from_qp(rx, q.remote_qpn()) {
                continue;
            }
            q.conn_mut().handle_packet(now, rx);
            n += 1;
            stir(&mut self.slots, &mut self.dirty, id.0);
        }
        self.stats.delivered += u64::from(n);
        n
    }

    /// Local port `port` went down or came up: every QP is told (once per change).
    pub fn handle_port_status(&mut self, now: Instant, port: u8, up: bool) {
        if port >= 32 || self.ports_up.contains(port) == up {
            return;
        }
        if up {
            self.ports_up.0 |= 1 << port;
        } else {
            self.ports_up.0 &= !(1 << port);
        }
        self.stats.port_changes += 1;
        for q in &mut self.qps {
            q.conn_mut().handle_port_status(now, port, up);
        }
        self.slots.iter_mut().for_each(|s| s.idle = 0);
        self.all_dirty = true;
    }

    /// The next packet to send on one of the `ready` ports that are up, and the QP it is from
    /// (round robin across QPs, module docs).
    pub fn poll_transmit(&mut self, now: Instant, ready: PortMask) -> Option<(QpId, Transmit)> {
        self.poll_transmit_masked(now, PortMask(ready.0 & self.ports_up.0))
    }

    /// As [`Nic::poll_transmit`] but offers `ready` as given, down ports included: for a
    /// transport that is bound to its port and is not told of its state (the RoCE baseline
    /// of the simulator sends into a dead link, as a real RC QP does).
    pub fn poll_transmit_masked(
        &mut self,
        now: Instant,
        ready: PortMask,
    ) -> Option<(QpId, Transmit)> {
        let n = self.qps.len();
        if n == 0 || ready == PortMask::NONE {
            return None;
        }
        let mut idx = self.rr % n;
        for _ in 0..n {
            let i = idx;
            idx = if idx + 1 == n { 0 } else { idx + 1 };
            // Whose turn it was: a new turn starts with a full burst.
            let turn_left = if i == self.rr { self.turn_left } else { 0 };
            let (Some(q), Some(slot)) = (self.qps.get_mut(i), self.slots.get_mut(i)) else {
                continue;
            };
            if ready.0 & !slot.idle == 0 {
                continue;
            }
            let tx = q.conn_mut().poll_transmit(now, ready);
            // Asking may move its timers (a retransmission held back arms one).
            if !slot.dirty {
                slot.dirty = true;
                self.dirty.push(i as u32);
            }
            match tx {
                Some(tx) => {
                    slot.idle = 0;
                    let left = turn_left.checked_sub(1).unwrap_or(self.burst - 1);
                    (self.rr, self.turn_left) = if left > 0 { (i, left) } else { (idx, 0) };
                    self.stats.transmitted += 1;
                    return Some((QpId(i as u32), tx));
                }
                None => slot.idle |= ready.0,
            }
        }
        None
    }

    /// Marks QP `i`'s timer for re-reading at the next [`Nic::refresh`] (once however often
    /// it is touched before).
    fn mark(&mut self, i: u32) {
        if let Some(s) = self.slots.get_mut(i as usize)
            && !s.dirty
        {
            s.dirty = true;
            self.dirty.push(i);
        }
    }

    /// Re-reads the timers of the QPs touched since the last call.
    fn refresh(&mut self) {
        if self.all_dirty {
            self.all_dirty = false;
            self.dirty.clear();
            for i in 0..self.qps.len() as u32 {
                if let Some(s) = self.slots.get_mut(i as usize) {
                    s.dirty = false;
                }
                self.touch(i);
            }
        } else {
            while let Some(i) = self.dirty.pop() {
                if let Some(s) = self.slots.get_mut(i as usize) {
                    s.dirty = false;
                }
                self.touch(i);
            }
        }
    }

    /// Re-reads QP `i`'s timer; pushes a heap entry if it moved before the queued one.
    fn touch(&mut self, i: u32) {
        let Some(q) = self.qps.get(i as usize) else {
            return;
        };
        let t = q.conn().poll_timeout();
        let Some(Slot {
            deadline: d,
            queued,
            ..
        }) = self.slots.get_mut(i as usize)
        else {
            return;
        };
        if *d == t {
            return;
        }
        *d = t;
        let Some(t) = t else {
            return;
        };
        if queued.is_some_and(|q| q <= t) {
            return;
        }
        *queued = Some(t);
        self.timers.push(Reverse((t, i)));
        // Entries left behind are dropped lazily; rebuild when they dominate, so the heap
        // stays O(QPs) whatever the churn of timers.
        if self.timers.len() > 4 * self.qps.len() + 64 {
            self.slots.iter_mut().for_each(|s| s.queued = s.deadline);
            self.timers = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.deadline.map(|t| Reverse((t, i as u32))))
                .collect();
        }
    }

    /// The earliest live (deadline, QP): entries left behind are dropped, and the queued entry
    /// of a QP whose deadline moved later is moved there.
    fn earliest(&mut self) -> Option<(Instant, u32)> {
        while let Some(&Reverse((t, i))) = self.timers.peek() {
            let k = i as usize;
            let Some(Slot {
                deadline, queued, ..
            }) = self.slots.get_mut(k)
            else {
                self.timers.pop();
                continue;
            };
            let deadline = *deadline;
            if *queued != Some(t) {
                self.timers.pop();
                continue;
            }
            match deadline {
                Some(d) if d == t => return Some((t, i)),
                Some(d) => {
                    *queued = Some(d);
                    self.timers.pop();
                    self.timers.push(Reverse((d, i)));
                }
                None => {
                    *queued = None;
                    self.timers.pop();
                }
            }
        }
        None
    }

    /// When [`Nic::handle_timeout`] should next be called: never later than the earliest
    /// timer of any QP, earlier if a deadline moved later since (module docs).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.refresh();
        self.timers.peek().map(|&Reverse((t, _))| t)
    }

    /// Runs the timers of every QP that are due at `now`, and returns those QPs in the order
    /// they ran (a driver that reads QP events learns where to look).
    pub fn handle_timeout(&mut self, now: Instant) -> &[QpId] {
        self.refresh();
        self.fired.clear();
        while let Some((t, i)) = self.earliest() {
            if t > now {
                break;
            }
            self.timers.pop();
            if let Some(s) = self.slots.get_mut(i as usize) {
                s.queued = None;
            }
            self.fired.push(QpId(i));
        }
        for k in 0..self.fired.len() {
            let Some(&QpId(i)) = self.fired.get(k) else {
                break;
            };
            // The deadline may be stale (a QP changes its timers when asked to send, too):
            // only a timer still due runs, as a transport's timers have effects beyond their own.
            if let Some(q) = self.qps.get_mut(i as usize)
                && q.conn().poll_timeout().is_some_and(|d| d <= now)
            {
                q.conn_mut().handle_timeout(now);
            }
            // Forget the fired deadline so `touch` re-arms even an unchanged answer.
            if let Some(s) = self.slots.get_mut(i as usize) {
                s.deadline = None;
            }
            wake(&mut self.slots, i);
            self.touch(i);
        }
        &self.fired
    }

    /// Runs QP `id`'s timers if one is due at `now` (true if they ran): for a driver that
    /// keeps one timer per QP (read off the QP's transport) instead of asking
    /// [`Nic::poll_timeout`], as a discrete-event simulator orders each QP's timer among the
    /// other events of its instant. The QP is woken as by a packet, whether or not they ran,
    /// and its timer is re-read at the next [`Nic::poll_timeout`], so a driver may mix both.
    pub fn handle_timeout_of(&mut self, now: Instant, id: QpId) -> bool {
        let Some(q) = self.qps.get_mut(id.index()) else {
            return false;
        };
        let due = q.conn().poll_timeout().is_some_and(|d| d <= now);
        if due {
            q.conn_mut().handle_timeout(now);
        }
        stir(&mut self.slots, &mut self.dirty, id.0);
        due
    }
}

/// The demux tables' hasher. Their keys are small integers looked up for every packet:
/// SipHash cost more than the rest of the demux. A multiply-mix keyed per NIC from the
/// standard library's random state is a few cycles, and the key still keeps a sender from
/// choosing QPNs that collide.
#[derive(Debug, Clone, Copy)]
struct KeyedMix(u64);

impl BuildHasher for KeyedMix {
    type Hasher = Mix;
    fn build_hasher(&self) -> Mix {
        Mix(self.0)
    }
}

/// The state of one [`KeyedMix`] hash.
#[derive(Debug, Clone, Copy)]
struct Mix(u64);

impl Hasher for Mix {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }

    fn finish(&self) -> u64 {
        // SplitMix64's finaliser: every bit of the state reaches the bits the table uses.
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }
}

/// QP `i` may have something to send again on every port.
#[inline]
fn wake(slots: &mut [Slot], i: u32) {
    if let Some(s) = slots.get_mut(i as usize) {
        s.idle = 0;
    }
}

/// QP `i` was touched: it may have something to send, and its timer is re-read at the next
/// refresh.
#[inline]
fn stir(slots: &mut [Slot], dirty: &mut Vec<u32>, i: u32) {
    if let Some(s) = slots.get_mut(i as usize) {
        s.idle = 0;
        if !s.dirty {
            s.dirty = true;
            dirty.push(i);
        }
    }
}

/// What the NIC keeps of one QP.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    peer: Option<PeerId>,
    /// Local QP number, read once when the QP is added (it keys the QP).
    qpn: u32,
    /// Ports it had nothing for when last asked (cleared whenever it is touched).
    idle: u32,
    /// Its timer as last read.
    deadline: Option<Instant>,
    /// Its earliest entry in the heap (at or before `deadline`, if it has one).
    queued: Option<Instant>,
    /// Listed in `Nic::dirty` (its timer is to be re-read).
    dirty: bool,
}

/// True if a packet that names its source QP (SACK, NACK, probe) names `remote`.
fn from_qp(rx: &Received<'_>, remote: u32) -> bool {
    let remote = remote as u16;
    match &rx.repr.body {
        Body::Sack { seth, .. } => seth.spdcid == remote,
        Body::Nack(n) => n.spdcid == remote,
        Body::Probe(p) => p.spdcid == remote,
        _ => true,
    }
}

/// How a QP is set up for the paths it will use: the one constructor of a QP's
/// [`ConnectionConfig`] and [`MrcQpAttr`] from the network it runs on (line rate, base RTT,
/// MTU → NSCC window, MPR) and its EVs. The simulator and the real transport differ only in
/// named settings here (e.g. [`PathProfile::sleek_scale`]), never in code paths.
#[derive(Debug, Clone)]
pub struct PathProfile {
    /// EVs per plane: (active, backup).
    pub planes: Vec<PlaneEvs>,
    /// `ev_min_active` (None: a quarter of the active EVs, at least 1).
    pub ev_min_active: Option<u32>,
    /// Payload bytes per packet.
    pub mtu: u32,
    /// Base RTT (NSCC and the per-packet timer floor).
    pub base_rtt: Duration,
    /// Line rate of the NIC this QP's window is sized for, bit/s.
    pub rate_bps: u64,
    /// The network trims (NSCC target delay 0.75 × RTT instead of 1 ×).
    pub trimming: bool,
    /// QPs of this NIC that share the line rate: each QP's NSCC window (initial and maximum)
    /// is the BDP / `share` (1: one QP owns the NIC).
    pub share: u32,
    /// `ConnectionConfig::sleek_scale`.
    pub sleek_scale: f64,
}

impl PathProfile {
    /// A profile for `planes` at `rate_bps` and `base_rtt`, packets of `mtu` payload bytes,
    /// defaults of a hardware fabric (trimming on, the reference SLEEK threshold, one QP).
    pub fn new(planes: Vec<PlaneEvs>, rate_bps: u64, base_rtt: Duration, mtu: u32) -> Self {
        Self {
            planes,
            ev_min_active: None,
            mtu,
            base_rtt,
            rate_bps,
            trimming: true,
            share: 1,
            sleek_scale: 1.0,
        }
    }

    /// Active EVs per plane from a path ↔ EV mapping: `ev(plane, i)` for `i < per_plane`.
    /// The fabric crate owns the mapping; the caller passes it in (this crate stays
    /// independent of `mrc-fabric`).
    pub fn evs_from(planes: u8, per_plane: u32, ev: impl Fn(u8, u32) -> u32) -> Vec<PlaneEvs> {
        (0..planes)
            .map(|p| PlaneEvs {
                active: (0..per_plane).map(|i| ev(p, i)).collect(),
                backup: Vec::new(),
            })
            .collect()
    }

    /// Bandwidth-delay product of the NIC in bytes.
    pub fn bdp_bytes(&self) -> u64 {
        (u128::from(self.rate_bps) * u128::from(self.base_rtt.as_nanos()) / 8_000_000_000) as u64
    }

    /// The QP's configuration: EV profile, MTU, base RTT, NSCC sized for this QP's share of
    /// the NIC's BDP.
    pub fn conn_config(&self, qpn: u32, remote_qpn: u32, seed: u64) -> ConnectionConfig {
        let mut c = ConnectionConfig::new(qpn, remote_qpn, seed);
        let total: u32 = self.planes.iter().map(|p| p.active.len() as u32).sum();
        c.ev_profile = EvProfile {
            id: 1,
            planes: self.planes.clone(),
            ev_min_active: self.ev_min_active.unwrap_or_else(|| (total / 4).max(1)),
        };
        c.mtu = self.mtu;
        c.base_rtt = self.base_rtt;
        c.sleek_scale = self.sleek_scale;
        let share = u64::from(self.share.max(1));
        c.cc_profile = CcProfile {
            id: 1,
            algorithm: CcAlgorithm::Nscc(NsccConfig::for_network(
                self.rate_bps / share,
                self.base_rtt,
                self.mtu,
                self.trimming,
            )),
        };
        c
    }

    /// MPR (in units of 128 PSNs) that covers 4 × this QP's share of the BDP, 1..=8.
    pub fn mpr(&self) -> u8 {
        let psns = (4 * self.bdp_bytes() / u64::from(self.share.max(1)))
            .div_ceil(u64::from(self.mtu.max(1)));
        psns.div_ceil(128).clamp(1, 8) as u8
    }
}

/// `attr` with `mpr` and `mpr_dest` set to `mpr` (see [`PathProfile::mpr`]).
pub fn with_mpr(attr: MrcQpAttr, mpr: u8) -> MrcQpAttr {
    MrcQpAttr {
        mpr,
        mpr_dest: mpr,
        ..attr
    }
}

#[cfg(test)]
mod tests;
