//! The data path of one MRC context: a sans-IO [`mrc_proto::nic::Nic`] that owns the context's
//! QPs' `mrc_proto::Connection`s, driven over UDP/IPv6 by a progress thread the way
//! `mrc_net::endpoint::Endpoint` drives it (`docs/capi.md` §Data path).
//!
//! - **Sockets** (`mrclo`): one receive socket bound to `[::1]:0` (an ephemeral port P) and one
//!   send socket per EV bound to `[::1]:61440 + EV` with `SO_REUSEPORT`, as `mrc perf`'s
//!   loopback mode (which uses 49152 + EV): the receiver reads the EV from the source port.
//!   61440 lies above Linux's default ephemeral range (32768–60999), so another socket's
//!   ephemeral port cannot take an EV port and make context creation fail. A fabric NIC: one
//!   socket `[fd00::N]:4791` in the NIC's namespace, `SO_MARK = 1000 + EV`, EV in the flow label.
//! - **QPNs** carry the receive port: QPN = P << 8 | n (n = 1…255 within the context), so the
//!   peer's address follows from the GID and QPN the application exchanges (`IBV_QP_AV`,
//!   `IBV_QP_DEST_QPN`).
//! - **The NIC layer** ([`Nic`]): O(1) demultiplexing by (peer, QPN), port status fanned out to
//!   every QP (a fabric NIC's lanes `p<plane>` are watched: carrier lost = port down, which also
//!   posts `IBV_EVENT_PORT_ERR` / `IBV_EVENT_PORT_ACTIVE`, port number plane + 1), round-robin
//!   transmit arbitration across QPs, a timer heap. Every QP of the context has a NIC slot from
//!   `mrc_create_qp` on; before RTR, after RESET and after `mrc_destroy_qp` the slot holds an
//!   idle connection (RESET: sends nothing, accepts nothing) bound to no peer ([`NOBODY`]).
//! - **Locks.** The NIC, the sockets and the connections live in [`Core`], behind the engine's
//!   own lock; the progress thread holds it for I/O and takes the process-wide state lock only
//!   to turn connection events into completions. Lock order: state, then core.
//! - **Memory.** The QP's connection knows each MR of its PD by bounds and key only
//!   (`MemoryRegions::register_external`): local key always, remote key only with
//!   `IBV_ACCESS_REMOTE_WRITE`. Outgoing payload is read from the application's buffer if its
//!   local key is still registered; an incoming Write's payload is copied to the application's
//!   buffer only after the connection accepted it (its `bytes_placed` counter grew by the
//!   payload length: key, bounds, PSN window and QP state all checked). `ibv_dereg_mr` removes
//!   the keys under the core lock, which is held while bytes move.
//! - **ECN**: datagrams leave ECT(0); CE comes back with `IPV6_RECVTCLASS`
//!   (`mrc_net::sys::recv_batch`) and reaches the QP as `Received::ecn_ce`.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use mrc_net::endpoint::{LABEL_EXPLICIT, PathMode, peer_id};
use mrc_net::sys::{OutMsg, RecvBatch, SendOutcome};
use mrc_proto::nic::{Demux, Nic, NicQp, PeerId, QpId};
use mrc_proto::{
    Connection, ConnectionConfig, Event, Instant, PortMask, Received, Transport, WcStatus,
};
use mrc_wire::Psn;
use mrc_wire::mrc::{
    Body, ENDPOINT_QPN, EndpointOp, Opcode, Packet, Repr, TypeNext, bth, eeth, erth, tseth,
};

use crate::state::{Mr, Qp, State};
use crate::types::*;

/// First UDP source port of the EV send sockets (source port = base + EV), above the default
/// ephemeral port range.
pub(crate) const SPORT_BASE: u16 = 61440;
/// EVs of the built-in loopback EV profile (one plane).
pub(crate) const LOOPBACK_EVS: u32 = 16;
/// Payload bytes per packet.
pub(crate) const PAYLOAD: u32 = 8192;
/// Largest datagram.
const MAX_DGRAM: usize = 65_536;
/// The UDP port of fabric devices (RoCEv2 / MRC): a fabric QPN is 4791 << 8 | n.
pub(crate) const FABRIC_PORT: u16 = 4791;
/// The peer of a slot with no peer: no datagram comes from it (real peers are numbered from 0).
const NOBODY: PeerId = PeerId(u32::MAX);
/// How often a fabric NIC's lanes are polled for carrier (ns), as `mrc_net`'s endpoint.
const LINK_POLL_NS: u64 = 1_000_000;
/// Datagrams per `sendmmsg` / refill.
const BATCH: usize = 64;
/// Datagrams one round sends at most before it receives again.
const ROUND_TX: usize = 512;
/// Longest sleep of the progress thread (ns).
const MAX_WAIT_NS: u64 = 50_000_000;

/// A QP's slot in the context's NIC.
pub(crate) struct Slot {
    /// The transport (an idle one in RESET while the QP has none).
    pub conn: Connection,
    qpn: u32,
    /// The QP's handle.
    handle: usize,
    /// Generation of `conn` ([`next_era`], the QP's `era` when it was installed): events of
    /// another one are dropped.
    era: u64,
    /// Where the peer receives.
    peer: Option<SocketAddrV6>,
}

impl NicQp for Slot {
    type Conn = Connection;
    fn conn(&self) -> &Connection {
        &self.conn
    }
    fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
    fn qpn(&self) -> u32 {
        self.qpn
    }
    fn remote_qpn(&self) -> u32 {
        self.conn.config().remote_qpn
    }
}

/// A new connection generation, unique in the process (a destroyed QP's handle may be reused
/// by a new QP while events of the old one are on their way).
pub(crate) fn next_era() -> u64 {
    static ERA: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    ERA.fetch_add(1, Ordering::Relaxed)
}

/// An idle connection for QPN `qpn` (RESET: sends nothing, accepts nothing, no timers).
fn idle(qpn: u32) -> Connection {
    Connection::new(ConnectionConfig::new(qpn, 0, 0))
}

/// A datagram waiting for the kernel.
struct Pending {
    buf: Vec<u8>,
    len: usize,
    dst: SocketAddrV6,
    ev: u32,
}

/// What the progress thread hands to the state: (QP handle, connection generation, event).
type QpEvent = (usize, u64, Event);

/// The NIC, sockets and per-round buffers of one context (behind the engine's lock).
pub(crate) struct Core {
    sock: UdpSocket,
    ev_socks: Vec<(u32, UdpSocket)>,
    mode: PathMode,
    /// The receive port.
    own_port: u16,
    epoch: std::time::Instant,
    nic: Nic<Slot>,
    /// Peers by address key (`mrc_net::endpoint::peer_id`).
    peers: HashMap<(Ipv6Addr, u16), PeerId>,
    /// QP handle → its slot.
    slots: HashMap<usize, QpId>,
    /// Per slot: the connection's `bytes_placed` after the last packet it took.
    placed: Vec<u64>,
    /// Watched lanes: (port, interface, last state seen).
    links: Vec<(u8, String, bool)>,
    links_at: u64,
    rxb: RecvBatch,
    pending: Vec<Pending>,
    pending_at: usize,
    free: Vec<Vec<u8>>,
    /// Endpoint requests sent by `mrc_ctl_ep_batch_send_wait` and not answered: request id →
    /// (operation, when).
    pub probes: HashMap<u16, (EndpointOp, std::time::Instant)>,
    /// Answers to them: (request id, RTT in ns).
    pub probe_answers: Vec<(u16, u64)>,
    /// Connection events not yet turned into completions.
    events: Vec<QpEvent>,
    /// Port changes not yet posted as async events: (port, up).
    port_events: Vec<(u8, bool)>,
}

/// Sockets, core and progress thread of one context.
pub(crate) struct Engine {
    /// The receive port (QPN bits 23..8).
    pub port: u16,
    core: Arc<Mutex<Core>>,
    kick: Arc<OwnedFd>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Engine {
    /// Binds the sockets: loopback (`netns` None) on `addr`; a fabric NIC: `[addr]:4791` inside
    /// the NIC's namespace (bound on a helper thread that enters it; the socket stays there),
    /// watching the lanes of the planes of `evs` (plane = EV >> 8).
    pub(crate) fn new(addr: Ipv6Addr, netns: Option<&str>, evs: &[u32]) -> std::io::Result<Self> {
        let io = |e: mrc_net::NetError| std::io::Error::other(e.to_string());
        let (sock, ev_socks, mode) = match netns {
            None => {
                let sock = UdpSocket::bind(SocketAddrV6::new(addr, 0, 0, 0))?;
                let mut ev_socks = Vec::new();
                for ev in 0..LOOPBACK_EVS {
                    let s = mrc_net::sys::udp_reuseport(SocketAddrV6::new(
                        addr,
                        SPORT_BASE + ev as u16,
                        0,
                        0,
                    ))
                    .map_err(io)?;
                    s.set_nonblocking(true)?;
                    let _ = mrc_net::sys::prepare_udp(s.as_raw_fd(), 8 << 20);
                    let _ = ect0(s.as_raw_fd());
                    ev_socks.push((ev, s));
                }
                (sock, ev_socks, PathMode::Loopback)
            }
            Some(ns) => {
                let ns = ns.to_string();
                let sock = std::thread::spawn(move || -> std::io::Result<UdpSocket> {
                    mrc_net::sys::enter_netns(&ns).map_err(io)?;
                    UdpSocket::bind(SocketAddrV6::new(addr, FABRIC_PORT, 0, 0))
                })
                .join()
                .map_err(|_| std::io::Error::other("netns helper thread panicked"))??;
                (sock, Vec::new(), PathMode::Srv6)
            }
        };
        sock.set_nonblocking(true)?;
        let _ = mrc_net::sys::prepare_udp(sock.as_raw_fd(), 32 << 20);
        let _ = ect0(sock.as_raw_fd());
        let port = sock.local_addr()?.port();
        // SAFETY: plain syscall; the result is checked before use.
        let kfd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if kfd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `kfd` is a new descriptor we own.
        let kick = Arc::new(unsafe { OwnedFd::from_raw_fd(kfd) });
        let mut core = Core {
            sock,
            ev_socks,
            mode,
            own_port: port,
            epoch: std::time::Instant::now(),
            nic: {
                let mut nic = Nic::new();
                nic.set_burst(mrc_net::endpoint::QP_BURST);
                nic
            },
            peers: HashMap::new(),
            slots: HashMap::new(),
            placed: Vec::new(),
            links: Vec::new(),
            links_at: 0,
            rxb: RecvBatch::new(BATCH, MAX_DGRAM),
            pending: Vec::new(),
            pending_at: 0,
            free: Vec::new(),
            probes: HashMap::new(),
            probe_answers: Vec::new(),
            events: Vec::new(),
            port_events: Vec::new(),
        };
        // Slots are bound explicitly (NOBODY until RTR names the peer).
        core.nic.set_bind_on_first_packet(false);
        if mode == PathMode::Srv6 {
            let planes = evs.iter().map(|e| (e >> 8) + 1).max().unwrap_or(1).min(32) as u8;
            for p in 0..planes {
                let name = mrc_net::fabric::nic_lane(p);
                let up = mrc_net::sys::link_up(core.sock.as_raw_fd(), &name).unwrap_or(true);
                core.links.push((p, name, up));
                if !up {
                    let now = core.now();
                    core.nic.handle_port_status(now, p, false);
                }
            }
        }
        Ok(Self {
            port,
            core: Arc::new(Mutex::new(core)),
            kick,
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        })
    }

    /// Locks the core (state lock first if both are needed).
    pub(crate) fn core(&self) -> MutexGuard<'_, Core> {
        lock_core(&self.core)
    }

    /// An EV probe request with id `req_id`.
    /// (With `ports`, bit p = port p + 1 up: a port status update instead.)
    pub(crate) fn probe_request(req_id: u16, ports: Option<u32>) -> Repr {
        Repr {
            bth: bth::Repr::new(
                Opcode::EndpointRequest,
                ENDPOINT_QPN,
                Psn::new(req_id.into()),
            ),
            body: Body::EndpointRequest(erth::Repr {
                type_next: TypeNext::default(),
                op: if ports.is_some() {
                    EndpointOp::PortStatusUpdate
                } else {
                    EndpointOp::EvProbe
                },
                vendor_info: 0,
                port_status_mask: ports.unwrap_or(0),
                timestamp: tseth::Repr {
                    tx_timestamp: req_id,
                    ..Default::default()
                },
            }),
        }
    }

    /// Wakes the progress thread (work was posted).
    pub(crate) fn kick(&self) {
        crate::state::signal(&self.kick);
    }

    /// Starts the progress thread of context `key`.
    pub(crate) fn start(&mut self, key: usize) -> std::io::Result<()> {
        let stop = Arc::clone(&self.stop);
        let core = Arc::clone(&self.core);
        let kick = Arc::clone(&self.kick);
        let t = std::thread::Builder::new()
            .name("mrc-progress".into())
            .spawn(move || progress(key, &core, &stop, &kick))?;
        self.thread = Some(t);
        Ok(())
    }

    /// Stops and joins the progress thread (call without holding the state lock).
    pub(crate) fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.kick();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sets the traffic class ECT(0) on a socket's datagrams (a marking queue sets CE instead of
/// dropping).
fn ect0(fd: RawFd) -> mrc_net::Result<()> {
    mrc_net::sys::setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, 2)
}

fn lock_core(c: &Mutex<Core>) -> MutexGuard<'_, Core> {
    c.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Core {
    /// Protocol time now.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_nanos(self.epoch.elapsed().as_nanos() as u64)
    }

    fn peer_id(&mut self, a: SocketAddrV6) -> PeerId {
        peer_id(&mut self.peers, self.mode, a)
    }

    /// Where a node-scoped packet for `dgid` goes: a fabric NIC's port 4791; on `mrclo` this
    /// context's own port (a loopback probe reaches the probing context).
    pub(crate) fn endpoint_addr(&self, dgid: Ipv6Addr) -> SocketAddrV6 {
        let port = match self.mode {
            PathMode::Srv6 => FABRIC_PORT,
            PathMode::Loopback => self.own_port,
        };
        SocketAddrV6::new(dgid, port, 0, 0)
    }

    /// Gives QP `handle` (QPN `qpn`) its slot, idle and bound to no peer.
    pub(crate) fn add_qp(&mut self, handle: usize, qpn: u32) -> bool {
        let now = self.now();
        let slot = Slot {
            conn: idle(qpn),
            qpn,
            handle,
            era: 0,
            peer: None,
        };
        match self.nic.add_qp(now, slot, Some(NOBODY)) {
            Ok(id) => {
                self.slots.insert(handle, id);
                if self.placed.len() <= id.index() {
                    self.placed.resize(id.index() + 1, 0);
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Puts connection `conn` (generation `era`, peer `peer`) into QP `handle`'s slot; None
    /// (RESET, destroy): an idle one, bound to no peer. `retire` also forgets the handle.
    pub(crate) fn install(
        &mut self,
        handle: usize,
        conn: Option<Connection>,
        era: u64,
        peer: Option<SocketAddrV6>,
        retire: bool,
    ) {
        let Some(&id) = self.slots.get(&handle) else {
            return;
        };
        let pid = match (conn.is_some(), peer) {
            (true, Some(a)) => self.peer_id(a),
            _ => NOBODY,
        };
        // The QPN is unique in this NIC, so (peer, QPN) is free for any peer.
        let _ = self.nic.bind(id, pid);
        let now = self.now();
        let down = !self.nic.ports_up().0;
        if let Some(s) = self.nic.qp_mut(id) {
            s.peer = peer.filter(|_| conn.is_some());
            s.era = era;
            s.conn = match conn {
                Some(mut c) => {
                    // A port that is down now is reported to the new connection.
                    let mut d = down;
                    while d != 0 {
                        c.handle_port_status(now, d.trailing_zeros() as u8, false);
                        d &= d - 1;
                    }
                    c
                }
                None => idle(s.qpn),
            };
            if let Some(p) = self.placed.get_mut(id.index()) {
                *p = s.conn.stats().bytes_placed;
            }
        }
        if retire {
            self.slots.remove(&handle);
        }
    }

    /// QP `handle`'s connection.
    pub(crate) fn conn(&self, handle: usize) -> Option<&Connection> {
        let id = *self.slots.get(&handle)?;
        Some(&self.nic.qp(id)?.conn)
    }

    /// QP `handle`'s connection, mutably (its timer is re-read at the next NIC call).
    pub(crate) fn conn_mut(&mut self, handle: usize) -> Option<&mut Connection> {
        let id = *self.slots.get(&handle)?;
        Some(&mut self.nic.qp_mut(id)?.conn)
    }

    /// Sends an MRC packet on EV `ev` (fabric: its SRv6 path; loopback: its source port).
    pub(crate) fn send_repr(&mut self, repr: &Repr, peer: SocketAddrV6, ev: u32) -> bool {
        let len = repr.buffer_len();
        let mut buf = self.free.pop().unwrap_or_default();
        if buf.len() < len {
            buf.resize(len, 0);
        }
        let Some(slot) = buf.get_mut(..len) else {
            return false;
        };
        let mut pkt = Packet::new_unchecked(slot);
        if repr.emit(&mut pkt).is_err() {
            self.free.push(buf);
            return false;
        }
        self.pending.push(Pending {
            buf,
            len,
            dst: peer,
            ev,
        });
        self.flush();
        true
    }

    /// Sends queued datagrams with `sendmmsg` until done or the socket buffer is full (what
    /// remains is sent when it has room). SRv6: each with its own mark and flow label;
    /// loopback: runs of datagrams sharing an EV, from that EV's socket.
    fn flush(&mut self) -> usize {
        let mut total = 0;
        while self.pending_at < self.pending.len() {
            let rest = self.pending.get(self.pending_at..).unwrap_or(&[]);
            let out = match self.mode {
                PathMode::Srv6 => {
                    let msgs: Vec<OutMsg<'_>> = rest
                        .iter()
                        .take(BATCH)
                        .map(|p| {
                            let (_, label) = mrc_wire::udp::stev_encode(p.ev);
                            OutMsg {
                                dst: SocketAddrV6::new(
                                    *p.dst.ip(),
                                    p.dst.port(),
                                    label | LABEL_EXPLICIT,
                                    0,
                                ),
                                mark: Some(mrc_net::fabric::MARK_BASE + p.ev),
                                buf: p.buf.get(..p.len).unwrap_or(&[]),
                            }
                        })
                        .collect();
                    mrc_net::sys::send_batch(self.sock.as_raw_fd(), &msgs)
                }
                PathMode::Loopback => {
                    let ev = rest.first().map_or(0, |p| p.ev);
                    let fd = self
                        .ev_socks
                        .iter()
                        .find(|(e, _)| *e == ev)
                        .map_or_else(|| self.sock.as_raw_fd(), |(_, s)| s.as_raw_fd());
                    let msgs: Vec<OutMsg<'_>> = rest
                        .iter()
                        .take(BATCH)
                        .take_while(|p| p.ev == ev)
                        .map(|p| OutMsg {
                            dst: p.dst,
                            mark: None,
                            buf: p.buf.get(..p.len).unwrap_or(&[]),
                        })
                        .collect();
                    mrc_net::sys::send_batch(fd, &msgs)
                }
            };
            match out {
                Ok(SendOutcome::Sent(n)) if n > 0 => {
                    self.pending_at += n;
                    total += n;
                }
                Ok(SendOutcome::Sent(_) | SendOutcome::Full) => break,
                // No route (a dead lane) or an error: this datagram is lost (the transport
                // resends).
                Ok(SendOutcome::FirstDropped) | Err(_) => self.pending_at += 1,
            }
        }
        if self.pending_at >= self.pending.len() {
            for p in self.pending.drain(..) {
                self.free.push(p.buf);
            }
            self.pending_at = 0;
        }
        total
    }

    /// The socket to wait on for room, if datagrams wait for one.
    fn blocked_fd(&self) -> Option<RawFd> {
        let p = self.pending.get(self.pending_at)?;
        Some(match self.mode {
            PathMode::Srv6 => self.sock.as_raw_fd(),
            PathMode::Loopback => self
                .ev_socks
                .iter()
                .find(|(e, _)| *e == p.ev)
                .map_or_else(|| self.sock.as_raw_fd(), |(_, s)| s.as_raw_fd()),
        })
    }

    /// Lane carrier → port status (every millisecond at most).
    fn poll_links(&mut self) {
        let now = self.now();
        if self.links.is_empty() || now.as_nanos() < self.links_at + LINK_POLL_NS {
            return;
        }
        self.links_at = now.as_nanos();
        for i in 0..self.links.len() {
            let Some((port, name, was)) = self.links.get(i).cloned() else {
                continue;
            };
            let Ok(up) = mrc_net::sys::link_up(self.sock.as_raw_fd(), &name) else {
                continue;
            };
            if up != was {
                if let Some(l) = self.links.get_mut(i) {
                    l.2 = up;
                }
                self.nic.handle_port_status(now, port, up);
                self.port_events.push((port, up));
            }
        }
    }

    /// Receives what is there (`recvmmsg` batches); true if anything came.
    fn receive(&mut self) -> bool {
        let mut any = false;
        let mut answers: Vec<(Repr, SocketAddrV6, u32)> = Vec::new();
        for _ in 0..16 {
            let n = mrc_net::sys::recv_batch(self.sock.as_raw_fd(), &mut self.rxb).unwrap_or(0);
            if n == 0 {
                break;
            }
            any = true;
            let now = self.now();
            for i in 0..n {
                let Some(&(src, _, label)) = self.rxb.meta.get(i) else {
                    continue;
                };
                let ecn_ce = self.rxb.tclass.get(i).is_some_and(|t| t & 3 == 3);
                let ev = match self.mode {
                    PathMode::Srv6 if label & LABEL_EXPLICIT != 0 => {
                        mrc_wire::udp::stev_decode(0, label)
                    }
                    PathMode::Srv6 => 0,
                    // Loopback datagrams leave from the sender's EV ports, never below them.
                    PathMode::Loopback => match src.port().checked_sub(SPORT_BASE) {
                        Some(e) => u32::from(e),
                        None => continue,
                    },
                };
                let Ok((repr, payload)) = Repr::parse_bytes(self.rxb.datagram(i)) else {
                    continue;
                };
                let node = NodeScoped {
                    mode: self.mode,
                    own_port: self.own_port,
                    probes: &mut self.probes,
                    probe_answers: &mut self.probe_answers,
                };
                if node.handle(&repr, src, ev, &mut answers) {
                    continue;
                }
                let write = match repr.body {
                    Body::Write(w) => Some(w),
                    _ => None,
                };
                let plane = ((ev >> 8) & 7) as u8;
                let mut rx = Received::new(repr, ev, plane, write.map(|_| payload));
                rx.ecn_ce = ecn_ce;
                let peer = peer_id(&mut self.peers, self.mode, src);
                match self.nic.handle_packet(now, peer, &rx) {
                    Demux::Delivered { qp, .. } => {
                        let Some(s) = self.nic.qp(qp) else { continue };
                        let placed = s.conn.stats().bytes_placed;
                        let Some(before) = self.placed.get_mut(qp.index()) else {
                            continue;
                        };
                        let accepted = placed == *before + payload.len() as u64;
                        *before = placed;
                        if let Some(w) = write
                            && accepted
                            && !payload.is_empty()
                        {
                            // SAFETY: the connection accepted this write: its key names an MR of
                            // this QP's PD registered with IBV_ACCESS_REMOTE_WRITE and
                            // [va, va + len) lies inside it (MemoryRegions::check_remote, which
                            // mirrors the ibv_mr bounds); the application keeps registered
                            // memory valid until ibv_dereg_mr, which removes the key under the
                            // core lock this runs under.
                            unsafe {
                                core::ptr::copy_nonoverlapping(
                                    payload.as_ptr(),
                                    w.reth.va as *mut u8,
                                    payload.len(),
                                );
                            }
                        }
                    }
                    Demux::UnknownQp(_) => self.nic.count_unknown(),
                    Demux::Endpoint(_) | Demux::Foreign => {}
                }
            }
        }
        for (repr, to, ev) in &answers {
            self.send_repr(repr, *to, *ev);
        }
        any
    }
}

/// What node-scoped packets need of the core.
struct NodeScoped<'a> {
    mode: PathMode,
    own_port: u16,
    probes: &'a mut HashMap<u16, (EndpointOp, std::time::Instant)>,
    probe_answers: &'a mut Vec<(u16, u64)>,
}

impl NodeScoped<'_> {
    /// Node-scoped packets: answers EV probes and port status updates (into `answers`) on the
    /// EV they came on, and matches answers to this context's own requests. True if the packet
    /// needs nothing more (a port status update also goes on to the QPs bound to the sender,
    /// through the NIC: they take the new mask).
    fn handle(
        self,
        repr: &Repr,
        src: SocketAddrV6,
        ev: u32,
        answers: &mut Vec<(Repr, SocketAddrV6, u32)>,
    ) -> bool {
        if repr.bth.dest_qp != ENDPOINT_QPN {
            return false;
        }
        match repr.body {
            Body::EndpointRequest(r)
                if matches!(r.op, EndpointOp::EvProbe | EndpointOp::PortStatusUpdate) =>
            {
                let answer = Repr {
                    bth: bth::Repr::new(Opcode::EndpointResponse, ENDPOINT_QPN, repr.bth.psn),
                    body: Body::EndpointResponse(eeth::Repr {
                        type_next: r.type_next,
                        op: r.op,
                        tx_timestamp: r.timestamp.tx_timestamp,
                    }),
                };
                let to = match self.mode {
                    PathMode::Srv6 => src,
                    PathMode::Loopback => SocketAddrV6::new(*src.ip(), self.own_port, 0, 0),
                };
                answers.push((answer, to, ev));
                r.op == EndpointOp::EvProbe
            }
            Body::EndpointResponse(r)
                if r.op == EndpointOp::EvProbe
                    || (r.op == EndpointOp::PortStatusUpdate
                        && self
                            .probes
                            .get(&r.tx_timestamp)
                            .is_some_and(|(op, _)| *op == EndpointOp::PortStatusUpdate)) =>
            {
                if let Some((_, t)) = self.probes.remove(&r.tx_timestamp) {
                    self.probe_answers
                        .push((r.tx_timestamp, t.elapsed().as_nanos() as u64));
                }
                true
            }
            _ => false,
        }
    }
}

impl Core {
    /// Fills the send queue from the NIC (round robin across QPs) and sends it; true if
    /// anything was sent. Stops after `ROUND_TX` datagrams (`busy`) or when the socket is full.
    fn transmit(&mut self, busy: &mut bool) -> bool {
        let mut sent = 0;
        loop {
            if self.pending_at < self.pending.len() {
                sent += self.flush();
                if self.pending_at < self.pending.len() {
                    return sent > 0;
                }
            }
            if sent >= ROUND_TX {
                *busy = true;
                return true;
            }
            let now = self.now();
            let mut got = 0;
            while got < BATCH {
                let Some((id, tx)) = self.nic.poll_transmit(now, PortMask::ALL) else {
                    break;
                };
                let Some(s) = self.nic.qp(id) else { continue };
                let Some(peer) = s.peer else { continue };
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
                    self.free.push(buf);
                    continue;
                }
                if let Some(p) = tx.payload {
                    // The source must still be registered (a retransmission after
                    // ibv_dereg_mr would read memory the application may have freed):
                    // otherwise the packet is not sent (lost; the QP's timers take over).
                    if !s.conn.regions().contains(p.addr, u64::from(p.len)) {
                        self.free.push(buf);
                        continue;
                    }
                    let dst = pkt.payload_mut();
                    let n = dst.len().min(p.len as usize);
                    // SAFETY: [addr, addr + len) lies inside an MR of this QP's PD whose key
                    // is still registered in the connection (checked just above, under the
                    // core lock that ibv_dereg_mr takes to remove it), which the application
                    // keeps valid while registered.
                    unsafe {
                        core::ptr::copy_nonoverlapping(p.addr as *const u8, dst.as_mut_ptr(), n);
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
                return sent > 0;
            }
        }
    }

    /// One round: link state, receive, timers, transmit, events out. Returns how long the
    /// thread may sleep (ns) and the socket to wait on for room.
    fn step(&mut self) -> (u64, Option<RawFd>) {
        self.poll_links();
        let mut moved = self.receive();
        let now = self.now();
        self.nic.handle_timeout(now);
        let mut busy = false;
        moved |= self.transmit(&mut busy);
        for s in self.nic.qps_mut() {
            while let Some(e) = s.conn.poll_event() {
                self.events.push((s.handle, s.era, e));
            }
        }
        let blocked = self.blocked_fd();
        if busy || (moved && blocked.is_none()) {
            return (0, blocked);
        }
        let now = self.now();
        let mut wait = self
            .nic
            .poll_timeout()
            .map_or(MAX_WAIT_NS, |t| t.saturating_since(now).as_nanos())
            .min(MAX_WAIT_NS);
        if !self.links.is_empty() {
            wait = wait.min(LINK_POLL_NS);
        }
        (wait, blocked)
    }
}

fn progress(key: usize, core: &Mutex<Core>, stop: &AtomicBool, kick: &OwnedFd) {
    let mut events: Vec<QpEvent> = Vec::new();
    let mut ports: Vec<(u8, bool)> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let (wait_ns, blocked, sock) = {
            let mut c = lock_core(core);
            let (w, b) = c.step();
            std::mem::swap(&mut events, &mut c.events);
            std::mem::swap(&mut ports, &mut c.port_events);
            (w, b, c.sock.as_raw_fd())
        };
        if !events.is_empty() || !ports.is_empty() {
            let mut st = crate::state::lock();
            apply(&mut st, key, &mut events, &mut ports);
        }
        if wait_ns == 0 {
            continue;
        }
        let mut p = [
            libc::pollfd {
                fd: sock,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: kick.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: blocked.unwrap_or(-1),
                events: libc::POLLOUT,
                revents: 0,
            },
        ];
        let ts = libc::timespec {
            tv_sec: (wait_ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (wait_ns % 1_000_000_000) as libc::c_long,
        };
        // SAFETY: `p` is a local array of three pollfds (a negative fd is ignored) and `ts` a
        // local timespec; the descriptors stay open until this thread is joined
        // (Engine::shutdown; the core and the eventfd are shared with this thread).
        unsafe {
            libc::ppoll(p.as_mut_ptr(), 3, &raw const ts, core::ptr::null());
        }
        if p[1].revents & libc::POLLIN != 0 {
            let mut v = 0u64;
            // SAFETY: reads 8 bytes into a local from our own non-blocking eventfd.
            unsafe {
                libc::read(kick.as_raw_fd(), (&raw mut v).cast(), 8);
            }
        }
    }
}

fn wc_status(s: WcStatus) -> u32 {
    match s {
        WcStatus::Success => IBV_WC_SUCCESS,
        WcStatus::RemoteAccessError => IBV_WC_REM_ACCESS_ERR,
        WcStatus::RetryExceeded => IBV_WC_RETRY_EXC_ERR,
        WcStatus::WimmLimit | WcStatus::RemoteOperationError => IBV_WC_REM_OP_ERR,
        WcStatus::Flushed => IBV_WC_WR_FLUSH_ERR,
    }
}

/// Turns the connection events and port changes of context `key` into completions, EV
/// events and async events (under the state lock).
fn apply(st: &mut State, key: usize, events: &mut Vec<QpEvent>, ports: &mut Vec<(u8, bool)>) {
    let mut wcs: Vec<(usize, IbvWc)> = Vec::new();
    let mut asyncs: Vec<(usize, u32)> = Vec::new();
    let mut ev_changes: Vec<(u64, u32, u32)> = Vec::new();
    let mut touched: Vec<usize> = Vec::new();
    for (h, era, e) in events.drain(..) {
        let Some(qp) = st.qps.get_mut(&h) else {
            continue;
        };
        if qp.era != era {
            continue;
        }
        if touched.last() != Some(&h) {
            touched.push(h);
        }
        qp_event(qp, h, e, &mut wcs, &mut asyncs, &mut ev_changes);
    }
    touched.sort_unstable();
    touched.dedup();
    for h in touched {
        if let Some(qp) = st.qps.get_mut(&h) {
            match_imms(qp, &mut wcs);
            if qp.state == IBV_QPS_ERR {
                flush_recvs(qp, &mut wcs);
            }
        }
    }
    for (port, up) in ports.drain(..) {
        let t = if up {
            IBV_EVENT_PORT_ACTIVE
        } else {
            IBV_EVENT_PORT_ERR
        };
        asyncs.push((usize::from(port) + 1, t));
    }
    for (cq, wc) in wcs {
        st.push_wc(cq, wc);
    }
    if !ev_changes.is_empty() {
        let dev_evs = st
            .ctxs
            .get(&key)
            .and_then(|c| st.devices.get(c.dev))
            .map(|d| d.evs.clone())
            .unwrap_or_default();
        let State { ctl, cqs, .. } = &mut *st;
        for (id, ev, s) in ev_changes {
            // Profile entry i stands for the device's EV i.
            let index = dev_evs
                .iter()
                .position(|&e| e == ev)
                .map_or(ev, |i| i as u32);
            let v = ctl.ev_value(id, index);
            ctl.ev_event(cqs, id, v, s);
        }
        crate::ctl::notify_ev_cqs(st);
    }
    if let Some(ctx) = st.ctxs.get_mut(&key) {
        for a in asyncs {
            ctx.async_events.push_back(a);
            crate::state::signal(&ctx.async_fd);
        }
    }
}

/// One connection event of QP `h`: a work completion, an arrival, an EV state change or an
/// error.
fn qp_event(
    qp: &mut Qp,
    h: usize,
    e: Event,
    wcs: &mut Vec<(usize, IbvWc)>,
    asyncs: &mut Vec<(usize, u32)>,
    ev_changes: &mut Vec<(u64, u32, u32)>,
) {
    match e {
        Event::SendComplete { wr_id, status } => {
            let w = qp.sends.pop_front();
            let wr_id = w.map_or(wr_id, |w| w.wr_id);
            let signaled = w.is_none_or(|w| w.signaled || qp.sq_sig_all);
            if signaled || status != WcStatus::Success {
                wcs.push((
                    qp.send_cq,
                    IbvWc {
                        wr_id,
                        status: wc_status(status),
                        opcode: IBV_WC_RDMA_WRITE,
                        byte_len: w.map_or(0, |w| w.len),
                        qp_num: qp.qpn,
                        ..IbvWc::default()
                    },
                ));
            }
        }
        Event::RecvImm { imm, len, .. } => qp.imms.push_back((imm, len)),
        Event::EvState { ev, state, .. } => {
            let s = match state {
                mrc_proto::EvState::Good => MRC_CTL_EV_GOOD,
                mrc_proto::EvState::AssumedBad => MRC_CTL_EV_ASSUMED_BAD,
                mrc_proto::EvState::Denied => MRC_CTL_EV_DENIED,
                mrc_proto::EvState::Skip => return,
            };
            ev_changes.push((qp.attr.ev_profile_id, ev, s));
        }
        Event::QpError(reason) => {
            qp.state = IBV_QPS_ERR;
            let t = match reason {
                mrc_proto::QpErrorReason::RemoteAccess => IBV_EVENT_QP_ACCESS_ERR,
                _ => IBV_EVENT_QP_FATAL,
            };
            asyncs.push((h, t));
        }
        _ => {}
    }
}

/// Matches Write-with-Immediate arrivals waiting in `qp.imms` with posted receives.
pub(crate) fn match_imms(qp: &mut Qp, wcs: &mut Vec<(usize, IbvWc)>) {
    while !qp.recvs.is_empty() && !qp.imms.is_empty() {
        let (Some(wr_id), Some((imm, len))) = (qp.recvs.pop_front(), qp.imms.pop_front()) else {
            break;
        };
        wcs.push((
            qp.recv_cq,
            IbvWc {
                wr_id,
                status: IBV_WC_SUCCESS,
                opcode: IBV_WC_RECV_RDMA_WITH_IMM,
                byte_len: len,
                imm_data: imm.to_be(),
                qp_num: qp.qpn,
                src_qp: qp.dest_qpn,
                wc_flags: IBV_WC_WITH_IMM,
                ..IbvWc::default()
            },
        ));
    }
}

/// Completes every posted receive of an ERROR QP with `IBV_WC_WR_FLUSH_ERR`.
pub(crate) fn flush_recvs(qp: &mut Qp, wcs: &mut Vec<(usize, IbvWc)>) {
    while let Some(wr_id) = qp.recvs.pop_front() {
        wcs.push((
            qp.recv_cq,
            IbvWc {
                wr_id,
                status: IBV_WC_WR_FLUSH_ERR,
                opcode: IBV_WC_RECV_RDMA_WITH_IMM,
                qp_num: qp.qpn,
                ..IbvWc::default()
            },
        ));
    }
}

/// Registers MR `m` in connection `conn` (local key; remote key if remote-writable).
pub(crate) fn register_in(conn: &mut Connection, m: &Mr) {
    let r = conn.regions_mut();
    let _ = r.register_external(m.addr, m.len, m.lkey);
    if m.access & IBV_ACCESS_REMOTE_WRITE != 0 {
        let _ = r.register_external(m.addr, m.len, m.rkey);
    }
}

/// Runs `f` on the connection of every QP of PD `pd` (under each context's core lock).
fn for_pd_conns(st: &mut State, pd: usize, mut f: impl FnMut(&mut Connection)) {
    let State { qps, ctxs, .. } = &mut *st;
    for (&h, q) in qps.iter().filter(|(_, q)| q.pd == pd) {
        let Some(c) = ctxs.get(&q.ctx) else { continue };
        let mut core = c.engine.core();
        if let Some(conn) = core.conn_mut(h) {
            f(conn);
        }
    }
}

/// A new MR: known to every QP of its PD.
pub(crate) fn mr_added(st: &mut State, m: &Mr) {
    for_pd_conns(st, m.pd, |c| register_in(c, m));
}

/// An MR is gone: its keys leave every QP of its PD (under the core lock, so no byte moves
/// to or from it afterwards).
pub(crate) fn mr_removed(st: &mut State, m: &Mr) {
    for_pd_conns(st, m.pd, |c| {
        c.regions_mut().deregister(m.lkey);
        c.regions_mut().deregister(m.rkey);
    });
}
