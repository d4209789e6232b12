//! The socket endpoint: drives `mrc_proto::Connection`s over one UDP/IPv6 socket.
//!
//! - **SRv6 mode** (namespace fabric): every datagram is sent from the NIC address, port 4791,
//!   with `SO_MARK = 1000 + EV`; the NIC's policy routing picks table `1000 + EV`, whose route
//!   encapsulates (`encap seg6 mode encap.red`) with the outer DA of that EV's path, and the
//!   kernel switches shift-and-forward. The receiver cannot see the outer DA after decap, so the
//!   EV also travels in the inner IPv6 flow label (STEV striping, `mrc_wire::udp::stev_encode`:
//!   label = EV & 0xFFFF; our EVs fit) with bit 19 set ([`LABEL_EXPLICIT`]: a zero label
//!   would be replaced by the kernel's own), read back with the `IPV6_FLOWINFO` control message.
//! - **Loopback mode** (no SRv6): the UDP source port carries the EV (`49152 + EV`): one send
//!   socket per EV, bound with `SO_REUSEPORT`; data is received on the endpoint's own port.
//!
//! Datagrams are batched with `sendmmsg` (each with its own mark) and `recvmmsg`; timers come
//! from `poll_timeout`; memory regions live in process memory (`Connection::regions`).
//!
//! **The NIC layer is `mrc_proto::nic::Nic`**, the same one the simulator drives: it owns the
//! QPs, finds a datagram's QP in O(1) by (peer, QPN), fans port status out to every QP, shares
//! the send batch round robin (in bursts, `QP_BURST`) between QPs with something to send on a
//! port that is up, and keeps the QPs' timers in a heap. This module only turns addresses into
//! the NIC's [`PeerId`]s, bytes into typed packets and back, and link state into port status.
//!
//! **Who may talk to a QP.** A QP is bound to its peer: the address given at connect
//! ([`Qp::peer`]), or, for a server that does not know its client, the source of the first
//! packet that names the QP (trust on first use). Afterwards a datagram reaches the QP only if
//! it comes from that peer (SRv6: same address and port; loopback: same address, from an EV
//! port) and, where the headers carry it (SACK, NACK, probe), from the peer's QPN. Anything else
//! is dropped and counted in [`IoStats::foreign`]. Endpoint-scoped packets (destination QP
//! `ENDPOINT_QPN`: port status, EV probes) go to every QP bound to the sender. This is the RC
//! trust model: it stops off-path senders, not an attacker on the path who can read and forge
//! the peer's packets (see the `mrc-proto` crate docs).
//!
//! **ECN.** Datagrams leave ECN-capable (traffic class ECT(0)); the traffic class of each
//! received datagram comes back with `IPV6_RECVTCLASS`, and CE reaches the QP as
//! `Received::ecn_ce`, as a switch's mark does in the simulator.
//!
//! **Link state.** [`Endpoint::watch_links`] names the interface of each port (the NIC's lanes
//! `p<plane>` in the namespace fabric); the endpoint polls their carrier every millisecond and
//! a lane that loses it (its cable pulled, the lane or the switch port down) is a port down for
//! every QP, as in the simulator.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

use mrc_proto::nic::{Demux, Nic, NicQp, NicStats, PeerId, QpId};
use mrc_proto::{Connection, Instant, PortMask, Received, Transport};
use mrc_wire::mrc::{Body, Packet, Repr};

use crate::error::{NetError, Result};
use crate::fabric::MARK_BASE;
use crate::sys::{self, OutMsg, RecvBatch, SendOutcome};

/// The RoCEv2 / MRC UDP port.
pub const PORT: u16 = 4791;
/// First UDP source port of loopback mode: source port = `SPORT_BASE + EV`.
pub const SPORT_BASE: u16 = 49152;

/// Flow-label bit 19, set on every label we send: a zero label would make the kernel pick its
/// own, so EV 0 could not be carried; the low 16 bits are the STEV stripe (EV & 0xFFFF).
pub const LABEL_EXPLICIT: u32 = 1 << 19;

/// How a datagram's path (EV) is chosen and carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathMode {
    /// `SO_MARK = 1000 + EV` → kernel SRv6 path; EV in the flow label.
    Srv6,
    /// Plain UDP; EV in the UDP source port.
    Loopback,
}

/// Counters of the socket layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoStats {
    /// Datagrams handed to the kernel.
    pub datagrams_sent: u64,
    /// Datagrams received.
    pub datagrams_received: u64,
    /// `sendmmsg` calls.
    pub send_calls: u64,
    /// `recvmmsg` calls that returned data.
    pub recv_calls: u64,
    /// Times the socket buffer was full.
    pub send_full: u64,
    /// Datagrams dropped at send because their path had no route (lane down).
    pub no_route: u64,
    /// Datagrams that did not parse or named no QP here.
    pub dropped: u64,
    /// Datagrams naming a QP here but not from its bound peer (address, port or QPN): dropped.
    pub foreign: u64,
    /// Data packets received (for gap tracking).
    pub data_received: u64,
    /// Longest time between two packets that show a transfer moving, in ns (after the first),
    /// as the endpoint's thread handled them: data packets for a receiver, acknowledgements
    /// (SACK, NACK) for a sender. Includes any time that thread waited for the CPU.
    pub max_progress_gap_ns: u64,
    /// The same gap between those packets' arrivals on the socket (kernel timestamps), in
    /// ns: the gap the network and the peer left, without the receiving thread's own delays.
    pub max_arrival_gap_ns: u64,
    /// Datagrams delivered to a QP that arrived ECN-CE marked.
    pub ecn_ce: u64,
    /// Longest time between two rounds ([`Endpoint::step`]) that the endpoint did not spend
    /// waiting for its socket, in ns: the round's own work plus whatever the caller did and
    /// any time the thread waited for the CPU. Nothing is sent or acknowledged meanwhile.
    pub max_round_gap_ns: u64,
}

/// Datagrams sent per EV.
pub type EvCounts = Vec<(u32, u64)>;

/// One queue pair: a connection and where its peer is.
#[derive(Debug)]
pub struct Qp {
    /// The sans-IO connection.
    pub conn: Connection,
    /// Peer address: set at connect, or bound by the first packet if None (see the module
    /// docs); packets from anyone else are dropped.
    pub peer: Option<SocketAddrV6>,
}

impl NicQp for Qp {
    type Conn = Connection;
    fn conn(&self) -> &Connection {
        &self.conn
    }
    fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
    fn qpn(&self) -> u32 {
        self.conn.config().qpn
    }
    fn remote_qpn(&self) -> u32 {
        self.conn.config().remote_qpn
    }
}

/// How long link state may be stale before it is polled again (ns).
const LINK_POLL_NS: u64 = 1_000_000;

/// Packets a QP sends in a row before the NIC's arbiter moves to the next QP
/// ([`Nic::set_burst`]). The receiver acknowledges each QP once per batch it reads; with QPs
/// interleaved packet by packet, 8 QPs drew 0.45–0.67 SACKs per data packet against one QP's
/// 0.24–0.30, and were 4–10% slower (medians of two series) than in bursts of 8, where they
/// draw 0.28–0.33. The C API's engine, the other socket driver, uses it too.
pub const QP_BURST: u32 = 8;

struct Pending {
    buf: Vec<u8>,
    len: usize,
    dst: SocketAddrV6,
    ev: u32,
}

/// Creates connections for packets addressed to an unknown local QPN (server side).
pub type Acceptor<'a> = dyn FnMut(u32, SocketAddrV6) -> Option<Qp> + 'a;

/// A UDP endpoint carrying any number of QPs.
pub struct Endpoint {
    sock: UdpSocket,
    ev_socks: Vec<(u32, UdpSocket)>,
    mode: PathMode,
    epoch: std::time::Instant,
    nic: Nic<Qp>,
    /// Peers by address key (see `peer_id`).
    peers: HashMap<(Ipv6Addr, u16), PeerId>,
    /// Watched interfaces: (port, name, last state seen).
    links: Vec<(u8, String, bool)>,
    links_at: u64,
    pending: Vec<Pending>,
    pending_at: usize,
    free: Vec<Vec<u8>>,
    rx: RecvBatch,
    /// Socket counters.
    pub io: IoStats,
    /// Datagrams handed to the kernel, per EV.
    pub sent_per_ev: EvCounts,
    /// Data packets received, per EV (the sender's EV, from the flow label or source port).
    pub data_per_ev: EvCounts,
    last_progress: Option<u64>,
    last_arrival: Option<u64>,
    /// When the last round started and how long it waited (for `IoStats::max_round_gap_ns`).
    last_round: Option<(u64, u64)>,
    batch: usize,
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("mode", &self.mode)
            .field("qps", &self.nic.len())
            .field("io", &self.io)
            .finish_non_exhaustive()
    }
}

fn io_err(what: &str) -> impl FnOnce(std::io::Error) -> NetError + '_ {
    move |source| NetError::Io {
        what: what.into(),
        source,
    }
}

impl Endpoint {
    /// Binds `bind` (SRv6: the NIC address and port 4791). In loopback mode also binds one
    /// send socket per EV of `evs` at `SPORT_BASE + EV`.
    pub fn bind(bind: SocketAddrV6, mode: PathMode, evs: &[u32]) -> Result<Self> {
        let sock = UdpSocket::bind(bind).map_err(io_err("bind"))?;
        sock.set_nonblocking(true).map_err(io_err("nonblocking"))?;
        sys::prepare_udp(sock.as_raw_fd(), 32 << 20)?;
        // ECN-capable transport, so a marking queue sets CE instead of dropping.
        sys::setsockopt_int(sock.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_TCLASS, 2)?;
        let mut ev_socks = Vec::new();
        if mode == PathMode::Loopback {
            for &ev in evs {
                let port =
                    u16::try_from(u32::from(SPORT_BASE) + ev).map_err(|_| NetError::Spec {
                        field: "evs",
                        msg: format!("EV {ev} does not fit a UDP source port"),
                    })?;
                let s = bind_reuseport(SocketAddrV6::new(*bind.ip(), port, 0, 0))?;
                ev_socks.push((ev, s));
            }
        }
        Ok(Self {
            sock,
            ev_socks,
            mode,
            epoch: std::time::Instant::now(),
            nic: {
                let mut nic = Nic::new();
                // A loopback sender's source port is an EV port, not where to answer.
                nic.set_bind_on_first_packet(mode == PathMode::Srv6);
                nic.set_burst(QP_BURST);
                nic
            },
            peers: HashMap::new(),
            links: Vec::new(),
            links_at: 0,
            pending: Vec::new(),
            pending_at: 0,
            free: Vec::new(),
            rx: RecvBatch::new(64, 65_536),
            io: IoStats::default(),
            sent_per_ev: Vec::new(),
            data_per_ev: Vec::new(),
            last_progress: None,
            last_arrival: None,
            last_round: None,
            batch: 64,
        })
    }

    /// The QPs, in order of creation (index = [`QpId`]).
    pub fn qps(&self) -> &[Qp] {
        self.nic.qps()
    }

    /// The QPs, mutably (post work requests, read events). Change a QP's peer with
    /// [`Endpoint::set_peer`], not here: the NIC's binding would not follow.
    pub fn qps_mut(&mut self) -> &mut [Qp] {
        self.nic.qps_mut()
    }

    /// One QP, mutably.
    pub fn qp_mut(&mut self, id: QpId) -> Option<&mut Qp> {
        self.nic.qp_mut(id)
    }

    /// The NIC layer (its counters, ports, bindings).
    pub fn nic(&self) -> &Nic<Qp> {
        &self.nic
    }

    /// Counters of the NIC layer.
    pub fn nic_stats(&self) -> &NicStats {
        self.nic.stats()
    }

    /// Adds a QP, bound to `qp.peer` (or, if None, to the first sender that names it; SRv6
    /// mode only).
    pub fn add_qp(&mut self, qp: Qp) -> Result<QpId> {
        let peer = qp.peer.map(|a| self.peer_id(a));
        let now = self.now();
        self.nic
            .add_qp(now, qp, peer)
            .map_err(|e| NetError::Transfer(format!("adding a QP: {e}")))
    }

    /// Binds QP `id` to `peer` (where it sends, and the only sender it takes packets from).
    pub fn set_peer(&mut self, id: QpId, peer: SocketAddrV6) -> Result<()> {
        let pid = self.peer_id(peer);
        self.nic
            .bind(id, pid)
            .map_err(|e| NetError::Transfer(format!("binding a QP: {e}")))?;
        if let Some(q) = self.nic.qp_mut(id) {
            q.peer = Some(SocketAddrV6::new(*peer.ip(), peer.port(), 0, 0));
        }
        Ok(())
    }

    fn peer_id(&mut self, a: SocketAddrV6) -> PeerId {
        peer_id(&mut self.peers, self.mode, a)
    }

    /// Port `port` goes down (`up = false`) or comes up: every QP is told.
    pub fn handle_port_status(&mut self, port: u8, up: bool) {
        tracing::info!(port, up, "port status");
        let now = self.now();
        self.nic.handle_port_status(now, port, up);
    }

    /// Watches the carrier of one interface per port (`(port, interface)`, e.g. `(0, "p0")`
    /// for the namespace fabric's NIC lanes) and turns changes into port status. The current
    /// state is applied at once.
    pub fn watch_links(&mut self, links: &[(u8, String)]) -> Result<()> {
        self.links.clear();
        for (port, name) in links {
            let up = sys::link_up(self.sock.as_raw_fd(), name)?;
            self.links.push((*port, name.clone(), up));
            if !up {
                self.handle_port_status(*port, false);
            }
        }
        self.links_at = self.now().as_nanos();
        Ok(())
    }

    fn poll_links(&mut self) -> Result<()> {
        let now = self.now();
        if self.links.is_empty() || now.as_nanos() < self.links_at + LINK_POLL_NS {
            return Ok(());
        }
        self.links_at = now.as_nanos();
        for i in 0..self.links.len() {
            let Some((port, name, was)) = self.links.get(i).cloned() else {
                continue;
            };
            let up = sys::link_up(self.sock.as_raw_fd(), &name)?;
            if up != was {
                tracing::info!(port, link = %name, up, "link carrier changed");
                if let Some(l) = self.links.get_mut(i) {
                    l.2 = up;
                }
                self.nic.handle_port_status(now, port, up);
            }
        }
        Ok(())
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddrV6> {
        match self.sock.local_addr().map_err(io_err("local_addr"))? {
            std::net::SocketAddr::V6(a) => Ok(a),
            std::net::SocketAddr::V4(_) => Err(NetError::Transfer("not IPv6".into())),
        }
    }

    /// Protocol time now (ns since the endpoint was created).
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.epoch.elapsed().as_nanos() as u64)
    }

    /// The wall-clock instant of protocol time zero.
    pub fn epoch(&self) -> std::time::Instant {
        self.epoch
    }

    /// One round: receive what is there, run due timers, send what the QPs have, and if
    /// nothing happened wait (at most `max_wait_ns`) for the socket or the next timer.
    /// Returns true if any packet moved.
    pub fn step(&mut self, max_wait_ns: u64, accept: &mut Acceptor<'_>) -> Result<bool> {
        let start = self.now().as_nanos();
        if let Some((prev, waited)) = self.last_round {
            let busy = start.saturating_sub(prev).saturating_sub(waited);
            self.io.max_round_gap_ns = self.io.max_round_gap_ns.max(busy);
        }
        self.last_round = Some((start, 0));
        self.poll_links()?;
        let mut moved = self.receive(accept)?;
        let now = self.now();
        self.nic.handle_timeout(now);
        moved |= self.transmit()?;
        if !moved {
            let now = self.now();
            let next = self
                .nic
                .poll_timeout()
                .map_or(max_wait_ns, |t| t.saturating_since(now).as_nanos());
            let mut wait_ns = next.min(max_wait_ns);
            if !self.links.is_empty() {
                wait_ns = wait_ns.min(LINK_POLL_NS);
            }
            if wait_ns > 0 {
                let t = self.now().as_nanos();
                sys::wait(
                    self.sock.as_raw_fd(),
                    self.pending_at < self.pending.len(),
                    wait_ns,
                )?;
                let waited = self.now().as_nanos().saturating_sub(t);
                self.last_round = Some((start, waited));
            }
        }
        Ok(moved)
    }

    fn receive(&mut self, accept: &mut Acceptor<'_>) -> Result<bool> {
        let mut any = false;
        for _ in 0..8 {
            let n = sys::recv_batch(self.sock.as_raw_fd(), &mut self.rx)?;
            if n == 0 {
                break;
            }
            any = true;
            self.io.recv_calls += 1;
            self.io.datagrams_received += n as u64;
            let now = self.now();
            for i in 0..n {
                let Some(&(src, _, label)) = self.rx.meta.get(i) else {
                    continue;
                };
                let ecn_ce = self.rx.tclass.get(i).is_some_and(|t| t & 3 == 3);
                let arrival = self.rx.arrival_ns.get(i).copied().unwrap_or(0);
                let ev = match self.mode {
                    PathMode::Srv6 if label & LABEL_EXPLICIT != 0 => {
                        mrc_wire::udp::stev_decode(0, label)
                    }
                    // A kernel-chosen label: not ours, the EV is unknown; count it on EV 0.
                    PathMode::Srv6 => 0,
                    PathMode::Loopback => u32::from(src.port().saturating_sub(SPORT_BASE)),
                };
                // Loopback datagrams leave from the sender's EV ports, never from below them.
                if self.mode == PathMode::Loopback && src.port() < SPORT_BASE {
                    self.io.foreign += 1;
                    continue;
                }
                let bytes = self.rx.datagram(i);
                let Ok((repr, payload)) = Repr::parse_bytes(bytes) else {
                    self.io.dropped += 1;
                    continue;
                };
                let is_data = matches!(repr.body, Body::Write(_));
                let is_ack = matches!(repr.body, Body::Sack { .. } | Body::Nack(_));
                let plane = ((ev >> 8) & 7) as u8;
                let mut rx = Received::new(repr, ev, plane, is_data.then_some(payload));
                rx.ecn_ce = ecn_ce;
                let peer = peer_id(&mut self.peers, self.mode, src);
                let mut demux = self.nic.handle_packet(now, peer, &rx);
                if let Demux::UnknownQp(qpn) = demux {
                    demux = match accept(qpn, src) {
                        Some(qp) => {
                            let bound = qp.peer.map(|a| peer_id(&mut self.peers, self.mode, a));
                            match self.nic.add_qp(now, qp, bound) {
                                Ok(_) => self.nic.handle_packet(now, peer, &rx),
                                Err(_) => Demux::UnknownQp(qpn),
                            }
                        }
                        None => Demux::UnknownQp(qpn),
                    };
                }
                match demux {
                    Demux::Delivered { qp, bound } => {
                        if bound && let Some(q) = self.nic.qp_mut(qp) {
                            q.peer = Some(SocketAddrV6::new(*src.ip(), src.port(), 0, 0));
                        }
                    }
                    Demux::Endpoint(_) => continue,
                    Demux::UnknownQp(_) => {
                        self.nic.count_unknown();
                        self.io.dropped += 1;
                        continue;
                    }
                    Demux::Foreign => {
                        self.io.foreign += 1;
                        continue;
                    }
                }
                if ecn_ce {
                    self.io.ecn_ce += 1;
                }
                if is_data {
                    self.io.data_received += 1;
                    match self.data_per_ev.iter_mut().find(|(e, _)| *e == ev) {
                        Some((_, n)) => *n += 1,
                        None => self.data_per_ev.push((ev, 1)),
                    }
                }
                if is_data || is_ack {
                    self.progress(now.as_nanos(), arrival);
                }
            }
        }
        Ok(any)
    }

    /// A packet that shows a transfer moving was handled at `t` (ns since the epoch) and
    /// arrived on the socket at `arrival` (kernel ns; 0 = unknown).
    fn progress(&mut self, t: u64, arrival: u64) {
        if let Some(prev) = self.last_progress {
            self.io.max_progress_gap_ns = self.io.max_progress_gap_ns.max(t.saturating_sub(prev));
        }
        self.last_progress = Some(t);
        if arrival > 0 {
            if let Some(prev) = self.last_arrival {
                self.io.max_arrival_gap_ns =
                    self.io.max_arrival_gap_ns.max(arrival.saturating_sub(prev));
            }
            self.last_arrival = Some(arrival);
        }
    }

    /// Resets the gap trackers (progress, arrival and round gaps), e.g. at the start of a
    /// measured transfer.
    pub fn reset_gap(&mut self) {
        self.last_progress = None;
        self.last_arrival = None;
        self.io.max_progress_gap_ns = 0;
        self.io.max_arrival_gap_ns = 0;
        self.io.max_round_gap_ns = 0;
    }

    fn transmit(&mut self) -> Result<bool> {
        let mut any = false;
        loop {
            if self.pending_at < self.pending.len() {
                let sent = self.flush()?;
                any |= sent > 0;
                if self.pending_at < self.pending.len() {
                    return Ok(any);
                }
            }
            // Refill: the NIC shares the batch round robin, in bursts, between QPs with
            // something to send on a port that is up.
            let now = self.now();
            let mut got = 0;
            while got < self.batch {
                let Some((id, tx)) = self.nic.poll_transmit(now, PortMask::ALL) else {
                    break;
                };
                let Some(qp) = self.nic.qp(id) else { continue };
                let Some(peer) = qp.peer else {
                    // Unbound (a server QP before its first packet): nowhere to send.
                    self.io.dropped += 1;
                    continue;
                };
                let len = tx.wire_len();
                let mut buf = self.free.pop().unwrap_or_default();
                if buf.len() < len {
                    buf.resize(len.max(9000), 0);
                }
                let Some(slot) = buf.get_mut(..len) else {
                    continue;
                };
                let mut pkt = Packet::new_unchecked(slot);
                if tx.repr.emit(&mut pkt).is_err() {
                    self.io.dropped += 1;
                    self.free.push(buf);
                    continue;
                }
                if let Some(p) = tx.payload
                    && let Some(src) = qp.conn.regions().read(p.addr, u64::from(p.len))
                {
                    let dst = pkt.payload_mut();
                    let n = dst.len().min(src.len());
                    if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(..n)) {
                        d.copy_from_slice(s);
                    }
                }
                self.pending.push(Pending {
                    buf,
                    len,
                    dst: peer,
                    ev: tx.ev,
                });
                got += 1;
            }
            if got == 0 {
                return Ok(any);
            }
        }
    }

    fn flush(&mut self) -> Result<usize> {
        let mut total = 0;
        while self.pending_at < self.pending.len() {
            let rest = self.pending.get(self.pending_at..).unwrap_or(&[]);
            let sent = match self.mode {
                PathMode::Srv6 => {
                    let msgs: Vec<OutMsg<'_>> = rest
                        .iter()
                        .take(64)
                        .map(|p| {
                            let (_, label) = mrc_wire::udp::stev_encode(p.ev);
                            OutMsg {
                                dst: SocketAddrV6::new(
                                    *p.dst.ip(),
                                    p.dst.port(),
                                    label | LABEL_EXPLICIT,
                                    0,
                                ),
                                mark: Some(MARK_BASE + p.ev),
                                buf: p.buf.get(..p.len).unwrap_or(&[]),
                            }
                        })
                        .collect();
                    self.io.send_calls += 1;
                    sys::send_batch(self.sock.as_raw_fd(), &msgs)?
                }
                PathMode::Loopback => {
                    // One socket per EV: send the run of datagrams sharing the first one's EV.
                    let ev = rest.first().map_or(0, |p| p.ev);
                    let fd = self
                        .ev_socks
                        .iter()
                        .find(|(e, _)| *e == ev)
                        .map_or_else(|| self.sock.as_raw_fd(), |(_, s)| s.as_raw_fd());
                    let msgs: Vec<OutMsg<'_>> = rest
                        .iter()
                        .take(64)
                        .take_while(|p| p.ev == ev)
                        .map(|p| OutMsg {
                            dst: p.dst,
                            mark: None,
                            buf: p.buf.get(..p.len).unwrap_or(&[]),
                        })
                        .collect();
                    self.io.send_calls += 1;
                    sys::send_batch(fd, &msgs)?
                }
            };
            let sent = match sent {
                SendOutcome::Sent(0) | SendOutcome::Full => {
                    self.io.send_full += 1;
                    break;
                }
                SendOutcome::Sent(n) => n,
                SendOutcome::FirstDropped => {
                    self.io.no_route += 1;
                    self.pending_at += 1;
                    continue;
                }
            };
            for p in self
                .pending
                .get(self.pending_at..self.pending_at + sent)
                .unwrap_or(&[])
            {
                match self.sent_per_ev.iter_mut().find(|(e, _)| *e == p.ev) {
                    Some((_, n)) => *n += 1,
                    None => self.sent_per_ev.push((p.ev, 1)),
                }
            }
            self.pending_at += sent;
            total += sent;
            self.io.datagrams_sent += sent as u64;
        }
        if self.pending_at >= self.pending.len() {
            for p in self.pending.drain(..) {
                self.free.push(p.buf);
            }
            self.pending_at = 0;
        }
        Ok(total)
    }
}

/// The NIC's id of a sender. What identifies one: SRv6, its address and port; loopback, its
/// address (its datagrams leave from per-EV ports). `peers` numbers them from 0 in order of
/// first sight (also used by `mrc-capi`'s engine).
pub fn peer_id(
    peers: &mut HashMap<(Ipv6Addr, u16), PeerId>,
    mode: PathMode,
    a: SocketAddrV6,
) -> PeerId {
    let key = match mode {
        PathMode::Srv6 => (*a.ip(), a.port()),
        PathMode::Loopback => (*a.ip(), 0),
    };
    let next = PeerId(peers.len() as u32);
    *peers.entry(key).or_insert(next)
}

fn bind_reuseport(addr: SocketAddrV6) -> Result<UdpSocket> {
    // std cannot set SO_REUSEPORT before bind; both loopback endpoints send from the same EV
    // ports, which only ever send.
    let s = sys::udp_reuseport(addr)?;
    Ok(s)
}
