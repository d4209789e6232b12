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
//! **Who may talk to a QP.** A QP is bound to its peer: the address given at connect
//! ([`Qp::peer`]), or, for a server that does not know its client, the source of the first
//! packet that names the QP (trust on first use). Afterwards a datagram reaches the QP only if
//! it comes from that peer (SRv6: same address and port; loopback: same address, from an EV
//! port) and, where the headers carry it (SACK, NACK, probe), from the peer's QPN. Anything else
//! is dropped and counted in [`IoStats::foreign`]. Endpoint-scoped packets (destination QP
//! [`ENDPOINT_QPN`]: port status, EV probes) go to every QP bound to the sender. This is the RC
//! trust model: it stops off-path senders, not an attacker on the path who can read and forge
//! the peer's packets (see the `mrc-proto` crate docs).

use std::net::{SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

use mrc_proto::{Connection, Instant, PortMask, Received, Transport};
use mrc_wire::mrc::{Body, ENDPOINT_QPN, Packet, Repr};

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
    /// Longest time between two data packets received, in ns (after the first).
    pub max_data_gap_ns: u64,
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

impl Qp {
    /// True if a datagram from `src` carrying `repr` may come from this QP's peer (binding it
    /// to `src` if it has none yet).
    fn admits(&mut self, src: SocketAddrV6, repr: &Repr, mode: PathMode) -> bool {
        let src = SocketAddrV6::new(*src.ip(), src.port(), 0, 0);
        // A loopback sender's source port is an EV port, not where to answer: no binding.
        if self.peer.is_none() && mode == PathMode::Loopback {
            return false;
        }
        let peer = *self.peer.get_or_insert(src);
        let from_peer = match mode {
            PathMode::Srv6 => peer.ip() == src.ip() && peer.port() == src.port(),
            // Loopback datagrams leave from the sender's EV ports, not its receive port.
            PathMode::Loopback => peer.ip() == src.ip() && src.port() >= SPORT_BASE,
        };
        let remote = self.conn.config().remote_qpn as u16;
        let from_qp = match &repr.body {
            Body::Sack { seth, .. } => seth.spdcid == remote,
            Body::Nack(n) => n.spdcid == remote,
            Body::Probe(p) => p.spdcid == remote,
            _ => true,
        };
        from_peer && from_qp
    }
}

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
    /// The QPs (index = order of creation).
    pub qps: Vec<Qp>,
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
    last_data: Option<u64>,
    batch: usize,
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("mode", &self.mode)
            .field("qps", &self.qps.len())
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
            qps: Vec::new(),
            pending: Vec::new(),
            pending_at: 0,
            free: Vec::new(),
            rx: RecvBatch::new(64, 65_536),
            io: IoStats::default(),
            sent_per_ev: Vec::new(),
            data_per_ev: Vec::new(),
            last_data: None,
            batch: 64,
        })
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
        let mut moved = self.receive(accept)?;
        let now = self.now();
        for qp in &mut self.qps {
            if qp.conn.poll_timeout().is_some_and(|t| t <= now) {
                qp.conn.handle_timeout(now);
            }
        }
        moved |= self.transmit()?;
        if !moved {
            let now = self.now();
            let next = self
                .qps
                .iter()
                .filter_map(|q| q.conn.poll_timeout())
                .min()
                .map_or(max_wait_ns, |t| t.saturating_since(now).as_nanos());
            let wait_ns = next.min(max_wait_ns);
            if wait_ns > 0 {
                sys::wait(
                    self.sock.as_raw_fd(),
                    self.pending_at < self.pending.len(),
                    wait_ns,
                )?;
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
                let ev = match self.mode {
                    PathMode::Srv6 if label & LABEL_EXPLICIT != 0 => {
                        mrc_wire::udp::stev_decode(0, label)
                    }
                    // A kernel-chosen label: not ours, the EV is unknown; count it on EV 0.
                    PathMode::Srv6 => 0,
                    PathMode::Loopback => u32::from(src.port().saturating_sub(SPORT_BASE)),
                };
                let bytes = self.rx.datagram(i);
                let Ok((repr, payload)) = Repr::parse_bytes(bytes) else {
                    self.io.dropped += 1;
                    continue;
                };
                let qpn = repr.bth.dest_qp;
                if qpn == ENDPOINT_QPN {
                    // Node-scoped: every QP bound to this sender (none binds on it).
                    let mut to_any = false;
                    for qp in &mut self.qps {
                        if qp.peer.is_some() && qp.admits(src, &repr, self.mode) {
                            let plane = ((ev >> 8) & 7) as u8;
                            qp.conn
                                .handle_packet(now, &Received::new(repr, ev, plane, None));
                            to_any = true;
                        }
                    }
                    if !to_any {
                        self.io.foreign += 1;
                    }
                    continue;
                }
                let idx = match self.qps.iter().position(|q| q.conn.config().qpn == qpn) {
                    Some(i) => i,
                    None => match accept(qpn, src) {
                        Some(qp) => {
                            self.qps.push(qp);
                            self.qps.len() - 1
                        }
                        None => {
                            self.io.dropped += 1;
                            continue;
                        }
                    },
                };
                let Some(qp) = self.qps.get_mut(idx) else {
                    continue;
                };
                if !qp.admits(src, &repr, self.mode) {
                    self.io.foreign += 1;
                    continue;
                }
                let is_data = matches!(repr.body, Body::Write(_));
                if is_data {
                    self.io.data_received += 1;
                    match self.data_per_ev.iter_mut().find(|(e, _)| *e == ev) {
                        Some((_, n)) => *n += 1,
                        None => self.data_per_ev.push((ev, 1)),
                    }
                    let t = now.as_nanos();
                    if let Some(prev) = self.last_data {
                        self.io.max_data_gap_ns =
                            self.io.max_data_gap_ns.max(t.saturating_sub(prev));
                    }
                    self.last_data = Some(t);
                }
                let plane = ((ev >> 8) & 7) as u8;
                let rx = Received::new(repr, ev, plane, is_data.then_some(payload));
                qp.conn.handle_packet(now, &rx);
            }
        }
        Ok(any)
    }

    /// Resets the data-gap tracker (e.g. at the start of a measured transfer).
    pub fn reset_gap(&mut self) {
        self.last_data = None;
        self.io.max_data_gap_ns = 0;
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
            // Refill: round-robin over QPs, one packet each per turn.
            let now = self.now();
            let mut got = 0;
            'fill: loop {
                let mut progress = false;
                for qp in &mut self.qps {
                    if got >= self.batch {
                        break 'fill;
                    }
                    let Some(peer) = qp.peer else { continue };
                    let Some(tx) = qp.conn.poll_transmit(now, PortMask::ALL) else {
                        continue;
                    };
                    progress = true;
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
                if !progress {
                    break;
                }
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

fn bind_reuseport(addr: SocketAddrV6) -> Result<UdpSocket> {
    // std cannot set SO_REUSEPORT before bind; both loopback endpoints send from the same EV
    // ports, which only ever send.
    let s = sys::udp_reuseport(addr)?;
    Ok(s)
}
