//! The data path of one MRC context: its QPs' `mrc_proto::Connection`s driven over UDP/IPv6 by a
//! progress thread (`docs/capi.md` §Data path).
//!
//! - **Sockets** (`mrclo`): one receive socket bound to `[::1]:0` (an ephemeral port P) and one
//!   send socket per EV bound to `[::1]:61440 + EV` with `SO_REUSEPORT`, as `mrc perf`'s
//!   loopback mode (which uses 49152 + EV): the receiver reads the EV from the source port.
//!   61440 lies above Linux's default ephemeral range (32768–60999), so another socket's
//!   ephemeral port cannot take an EV port and make context creation fail.
//! - **QPNs** carry the receive port: QPN = P << 8 | n (n = 1…255 within the context), so the
//!   peer's address follows from the GID and QPN the application exchanges (`IBV_QP_AV`,
//!   `IBV_QP_DEST_QPN`).
//! - **Memory.** The QP's connection knows each MR of its PD by bounds and key only
//!   (`MemoryRegions::register_external`): local key always, remote key only with
//!   `IBV_ACCESS_REMOTE_WRITE`. Outgoing payload is read from the application's buffer;
//!   an incoming Write's payload is copied to the application's buffer only after the
//!   connection accepted it (its `bytes_placed` counter grew by the payload length: key, bounds,
//!   PSN window and QP state all checked).
//! - **Completions** are generated from the connection's events under the state lock; a CQ
//!   armed with `mrc_req_notify_cq` queues itself on its channel and bumps the channel's eventfd.

use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use mrc_proto::{Event, Instant, PortMask, Received, Transport, WcStatus};
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

/// Sockets and progress thread of one context.
pub(crate) struct Engine {
    sock: UdpSocket,
    /// The receive port (QPN bits 23..8).
    pub port: u16,
    ev_socks: Vec<(u32, UdpSocket)>,
    /// Fabric mode: `SO_MARK = 1000 + EV` picks the SRv6 path, the EV travels in the flow label.
    srv6: bool,
    kick: OwnedFd,
    epoch: std::time::Instant,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    rxb: mrc_net::sys::RecvBatch,
    tx: Vec<u8>,
    /// Endpoint requests sent by `mrc_ctl_ep_batch_send_wait` and not answered: request id →
    /// (operation, when).
    pub probes: std::collections::HashMap<u16, (EndpointOp, std::time::Instant)>,
    /// Answers to them: (request id, RTT in ns).
    pub probe_answers: Vec<(u16, u64)>,
    /// Fabric mode: datagrams of this round to send in batches: (bytes, destination, EV).
    out: Vec<(Vec<u8>, SocketAddrV6, u32)>,
    /// Buffers to reuse for `out`.
    spare: Vec<Vec<u8>>,
}

impl Engine {
    /// Binds the sockets: loopback (`netns` None) on `addr`; a fabric NIC: `[addr]:4791` inside
    /// the NIC's namespace (bound on a helper thread that enters it; the socket stays there).
    pub(crate) fn new(addr: Ipv6Addr, netns: Option<&str>) -> std::io::Result<Self> {
        let io = |e: mrc_net::NetError| std::io::Error::other(e.to_string());
        let (sock, ev_socks, srv6) = match netns {
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
                    ev_socks.push((ev, s));
                }
                (sock, ev_socks, false)
            }
            Some(ns) => {
                let ns = ns.to_string();
                let sock = std::thread::spawn(move || -> std::io::Result<UdpSocket> {
                    mrc_net::sys::enter_netns(&ns).map_err(io)?;
                    UdpSocket::bind(SocketAddrV6::new(addr, FABRIC_PORT, 0, 0))
                })
                .join()
                .map_err(|_| std::io::Error::other("netns helper thread panicked"))??;
                (sock, Vec::new(), true)
            }
        };
        sock.set_nonblocking(true)?;
        let _ = mrc_net::sys::prepare_udp(sock.as_raw_fd(), 32 << 20);
        let port = sock.local_addr()?.port();
        // SAFETY: plain syscall; the result is checked before use.
        let kfd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if kfd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `kfd` is a new descriptor we own.
        let kick = unsafe { OwnedFd::from_raw_fd(kfd) };
        Ok(Self {
            sock,
            port,
            ev_socks,
            srv6,
            kick,
            epoch: std::time::Instant::now(),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
            rxb: mrc_net::sys::RecvBatch::new(64, MAX_DGRAM),
            tx: vec![0; MAX_DGRAM],
            probes: std::collections::HashMap::new(),
            probe_answers: Vec::new(),
            out: Vec::new(),
            spare: Vec::new(),
        })
    }

    /// Protocol time now.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_nanos(self.epoch.elapsed().as_nanos() as u64)
    }

    /// Where a node-scoped packet for `dgid` goes: a fabric NIC's port 4791; on `mrclo` this
    /// context's own port (a loopback probe reaches the probing context).
    pub(crate) fn endpoint_addr(&self, dgid: Ipv6Addr) -> SocketAddrV6 {
        let port = if self.srv6 { FABRIC_PORT } else { self.port };
        SocketAddrV6::new(dgid, port, 0, 0)
    }

    /// Sends an MRC packet on EV `ev` (fabric: its SRv6 path; loopback: its source port).
    pub(crate) fn send_repr(&mut self, repr: &Repr, peer: SocketAddrV6, ev: u32) -> bool {
        let len = repr.buffer_len();
        let Some(slot) = self.tx.get_mut(..len) else {
            return false;
        };
        let mut pkt = Packet::new_unchecked(slot);
        if repr.emit(&mut pkt).is_err() {
            return false;
        }
        let Some(b) = self.tx.get(..len) else {
            return false;
        };
        if self.srv6 {
            send_marked(&self.sock, b, peer, ev);
        } else {
            let sock = self
                .ev_socks
                .iter()
                .find(|(e, _)| *e == ev)
                .map_or(&self.sock, |(_, s)| s);
            send(sock, b, peer);
        }
        true
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

    /// Fabric mode: sends the queued datagrams with `sendmmsg` (each with its own mark and
    /// flow label), 64 at a time; a full socket buffer is waited for (5 ms, three times) and
    /// what still does not fit is dropped (the transport resends it).
    fn flush(&mut self) {
        let fd = self.sock.as_raw_fd();
        let mut at = 0;
        let mut stalls = 0;
        while at < self.out.len() {
            let msgs: Vec<mrc_net::sys::OutMsg<'_>> = self
                .out
                .get(at..)
                .unwrap_or(&[])
                .iter()
                .take(64)
                .map(|(b, peer, ev)| {
                    let (_, label) = mrc_wire::udp::stev_encode(*ev);
                    mrc_net::sys::OutMsg {
                        dst: SocketAddrV6::new(*peer.ip(), peer.port(), label | LABEL_EXPLICIT, 0),
                        mark: Some(mrc_net::fabric::MARK_BASE + ev),
                        buf: b,
                    }
                })
                .collect();
            match mrc_net::sys::send_batch(fd, &msgs) {
                Ok(mrc_net::sys::SendOutcome::Sent(n)) if n > 0 => at += n,
                Ok(mrc_net::sys::SendOutcome::FirstDropped) | Err(_) => at += 1,
                Ok(_) => {
                    stalls += 1;
                    if stalls > 3 {
                        break;
                    }
                    let mut p = libc::pollfd {
                        fd,
                        events: libc::POLLOUT,
                        revents: 0,
                    };
                    // SAFETY: one local pollfd on our own open socket.
                    unsafe {
                        libc::poll(&raw mut p, 1, 5);
                    }
                }
            }
        }
        for (b, _, _) in self.out.drain(..) {
            self.spare.push(b);
        }
    }

    /// Wakes the progress thread (work was posted).
    pub(crate) fn kick(&self) {
        crate::state::signal(&self.kick);
    }

    /// Starts the progress thread of context `key`.
    pub(crate) fn start(&mut self, key: usize) -> std::io::Result<()> {
        let stop = Arc::clone(&self.stop);
        let fds = [self.sock.as_raw_fd(), self.kick.as_raw_fd()];
        let t = std::thread::Builder::new()
            .name("mrc-progress".into())
            .spawn(move || progress(key, &stop, fds))?;
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

fn progress(key: usize, stop: &AtomicBool, fds: [RawFd; 2]) {
    while !stop.load(Ordering::SeqCst) {
        let wait_ns = {
            let mut st = crate::state::lock();
            match step(&mut st, key) {
                Some(w) => w,
                None => return,
            }
        };
        if wait_ns == 0 {
            continue;
        }
        let mut p = [
            libc::pollfd {
                fd: fds[0],
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: fds[1],
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ns = wait_ns.min(50_000_000);
        let ts = libc::timespec {
            tv_sec: (ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (ns % 1_000_000_000) as libc::c_long,
        };
        // SAFETY: `p` is a local array of two pollfds and `ts` a local timespec; both
        // descriptors stay open until this thread is joined (Engine::shutdown).
        unsafe {
            libc::ppoll(p.as_mut_ptr(), 2, &raw const ts, core::ptr::null());
        }
        if p[1].revents & libc::POLLIN != 0 {
            let mut v = 0u64;
            // SAFETY: reads 8 bytes into a local from our own non-blocking eventfd.
            unsafe {
                libc::read(fds[1], (&raw mut v).cast(), 8);
            }
        }
    }
}

/// Sends one datagram; if the socket buffer is full, waits (at most 5 ms) for room once.
fn send(sock: &UdpSocket, b: &[u8], peer: SocketAddrV6) {
    if let Err(e) = sock.send_to(b, peer)
        && e.kind() == std::io::ErrorKind::WouldBlock
    {
        let mut p = libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one local pollfd on our own open socket.
        unsafe {
            libc::poll(&raw mut p, 1, 5);
        }
        let _ = sock.send_to(b, peer);
    }
}

/// Flow-label bit 19 on every label we send (a zero label would be replaced by the kernel's).
const LABEL_EXPLICIT: u32 = 1 << 19;

/// Fabric mode: one datagram with `SO_MARK = 1000 + EV` and the EV in the flow label.
fn send_marked(sock: &UdpSocket, b: &[u8], peer: SocketAddrV6, ev: u32) {
    let (_, label) = mrc_wire::udp::stev_encode(ev);
    let msg = [mrc_net::sys::OutMsg {
        dst: SocketAddrV6::new(*peer.ip(), peer.port(), label | LABEL_EXPLICIT, 0),
        mark: Some(mrc_net::fabric::MARK_BASE + ev),
        buf: b,
    }];
    for _ in 0..2 {
        match mrc_net::sys::send_batch(sock.as_raw_fd(), &msg) {
            Ok(mrc_net::sys::SendOutcome::Full) => {
                let mut p = libc::pollfd {
                    fd: sock.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one local pollfd on our own open socket.
                unsafe {
                    libc::poll(&raw mut p, 1, 5);
                }
            }
            _ => return,
        }
    }
}

/// Where and when a datagram arrived.
struct Rx {
    now: Instant,
    src: SocketAddrV6,
    ev: u32,
    srv6: bool,
    own_port: u16,
}

/// Hands one received datagram to its QP(s); answers EV probes (into `answers`) and matches
/// answers to our own probes.
fn deliver(
    rx: &Rx,
    bytes: &[u8],
    by_qpn: &std::collections::HashMap<u32, usize>,
    qps: &mut std::collections::HashMap<usize, Qp>,
    probes: &mut std::collections::HashMap<u16, (EndpointOp, std::time::Instant)>,
    probe_answers: &mut Vec<(u16, u64)>,
    answers: &mut Vec<(Repr, SocketAddrV6, u32)>,
) {
    let (src, ev) = (rx.src, rx.ev);
    let Ok((repr, payload)) = Repr::parse_bytes(bytes) else {
        return;
    };
    let plane = ((ev >> 8) & 7) as u8;
    let qpn = repr.bth.dest_qp;
    // EV probes are node-scoped: this context answers them on the probed EV, and matches the
    // answers to its own (mrc_ctl_ep_batch_send_wait).
    match repr.body {
        // Node-scoped answer on the probed EV. A port status update also reaches the QPs bound
        // to the sender below (they take the new mask and answer too: the requester keeps the
        // first answer).
        Body::EndpointRequest(r)
            if qpn == ENDPOINT_QPN
                && matches!(r.op, EndpointOp::EvProbe | EndpointOp::PortStatusUpdate) =>
        {
            let answer = Repr {
                bth: bth::Repr::new(Opcode::EndpointResponse, ENDPOINT_QPN, repr.bth.psn),
                body: Body::EndpointResponse(eeth::Repr {
                    type_next: r.type_next,
                    op: r.op,
                    tx_timestamp: r.timestamp.tx_timestamp,
                }),
            };
            let to = if rx.srv6 {
                src
            } else {
                SocketAddrV6::new(*src.ip(), rx.own_port, 0, 0)
            };
            answers.push((answer, to, ev));
            if r.op == EndpointOp::EvProbe {
                return;
            }
        }
        // Answers to this context's own probes and port status updates.
        Body::EndpointResponse(r)
            if qpn == ENDPOINT_QPN
                && (r.op == EndpointOp::EvProbe
                    || (r.op == EndpointOp::PortStatusUpdate
                        && probes
                            .get(&r.tx_timestamp)
                            .is_some_and(|(op, _)| *op == EndpointOp::PortStatusUpdate))) =>
        {
            if let Some((_, t)) = probes.remove(&r.tx_timestamp) {
                probe_answers.push((r.tx_timestamp, t.elapsed().as_nanos() as u64));
            }
            return;
        }
        _ => {}
    }
    let targets: Vec<usize> = if qpn == ENDPOINT_QPN {
        by_qpn.values().copied().collect()
    } else {
        by_qpn.get(&qpn).copied().into_iter().collect()
    };
    for h in targets {
        let Some(qp) = qps.get_mut(&h) else { continue };
        if qp.peer.map(|p| *p.ip()) != Some(*src.ip()) {
            continue;
        }
        let Some(conn) = qp.conn.as_mut() else {
            continue;
        };
        let write = match repr.body {
            Body::Write(w) => Some(w),
            _ => None,
        };
        let before = conn.stats().bytes_placed;
        let pkt = Received::new(repr, ev, plane, write.map(|_| payload));
        conn.handle_packet(rx.now, &pkt);
        if let Some(w) = write
            && !payload.is_empty()
            && conn.stats().bytes_placed == before + payload.len() as u64
        {
            // SAFETY: the connection accepted this write: its key names an MR of this QP's PD
            // registered with IBV_ACCESS_REMOTE_WRITE and [va, va + len) lies inside it
            // (checked by MemoryRegions::check_remote, which mirrors the ibv_mr bounds); the
            // application keeps registered memory valid until ibv_dereg_mr, which removes the
            // key first, under the state lock this runs under.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    payload.as_ptr(),
                    w.reth.va as *mut u8,
                    payload.len(),
                );
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

/// One round of context `key`: receive, timers, transmit, completions. Returns how long the
/// thread may sleep (ns), or None if the context is gone.
fn step(st: &mut State, key: usize) -> Option<u64> {
    let mut wcs: Vec<(usize, IbvWc)> = Vec::new();
    let mut asyncs: Vec<(usize, u32)> = Vec::new();
    let mut ev_changes: Vec<(u64, u32, u32)> = Vec::new();
    let mut busy = false;
    {
        let State { ctxs, qps, mrs, .. } = &mut *st;
        let ctx = ctxs.get_mut(&key)?;
        let eng = &mut ctx.engine;
        // Receive (recvmmsg batches; the EV from the flow label or the source port).
        let now = eng.now();
        let mut answers: Vec<(Repr, SocketAddrV6, u32)> = Vec::new();
        for _ in 0..16 {
            let n = mrc_net::sys::recv_batch(eng.sock.as_raw_fd(), &mut eng.rxb).unwrap_or(0);
            if n == 0 {
                break;
            }
            for i in 0..n {
                let Some(&(src, _, label)) = eng.rxb.meta.get(i) else {
                    continue;
                };
                let ev = if eng.srv6 {
                    if label & LABEL_EXPLICIT != 0 {
                        mrc_wire::udp::stev_decode(0, label)
                    } else {
                        0
                    }
                } else {
                    match src.port().checked_sub(SPORT_BASE) {
                        Some(e) => u32::from(e),
                        None => continue,
                    }
                };
                let rx = Rx {
                    now,
                    src,
                    ev,
                    srv6: eng.srv6,
                    own_port: eng.port,
                };
                deliver(
                    &rx,
                    eng.rxb.datagram(i),
                    &ctx.by_qpn,
                    qps,
                    &mut eng.probes,
                    &mut eng.probe_answers,
                    &mut answers,
                );
            }
        }
        for (repr, to, ev) in &answers {
            eng.send_repr(repr, *to, *ev);
        }
        // Timers, transmit, events.
        let now = eng.now();
        let handles: Vec<usize> = ctx.by_qpn.values().copied().collect();
        for h in handles {
            let Some(qp) = qps.get_mut(&h) else { continue };
            let Some(conn) = qp.conn.as_mut() else {
                continue;
            };
            if conn.poll_timeout().is_some_and(|t| t <= now) {
                conn.handle_timeout(now);
            }
            if let Some(peer) = qp.peer {
                let mut sent = 0;
                while let Some(tx) = conn.poll_transmit(now, PortMask::ALL) {
                    let len = tx.wire_len();
                    let Some(slot) = eng.tx.get_mut(..len) else {
                        continue;
                    };
                    let mut pkt = Packet::new_unchecked(slot);
                    if tx.repr.emit(&mut pkt).is_err() {
                        continue;
                    }
                    if let Some(p) = tx.payload {
                        // The source must still be registered (a retransmission after
                        // ibv_dereg_mr would read memory the application may have freed):
                        // otherwise the packet is not sent (lost; the QP's timers take over).
                        let end = p.addr.saturating_add(u64::from(p.len));
                        let registered = mrs
                            .values()
                            .any(|m| m.pd == qp.pd && p.addr >= m.addr && end <= m.addr + m.len);
                        if !registered {
                            continue;
                        }
                        let dst = pkt.payload_mut();
                        let n = dst.len().min(p.len as usize);
                        // SAFETY: [addr, addr + len) lies inside an MR of this QP's PD that is
                        // still registered (checked just above, under the state lock that
                        // ibv_dereg_mr takes), which the application keeps valid while
                        // registered.
                        unsafe {
                            core::ptr::copy_nonoverlapping(
                                p.addr as *const u8,
                                dst.as_mut_ptr(),
                                n,
                            );
                        }
                    }
                    if let Some(b) = eng.tx.get(..len) {
                        if eng.srv6 {
                            // Queued: sent in sendmmsg batches after this round.
                            let mut v = eng.spare.pop().unwrap_or_default();
                            v.clear();
                            v.extend_from_slice(b);
                            eng.out.push((v, peer, tx.ev));
                        } else {
                            let sock = eng
                                .ev_socks
                                .iter()
                                .find(|(e, _)| *e == tx.ev)
                                .map_or(&eng.sock, |(_, s)| s);
                            send(sock, b, peer);
                        }
                    }
                    sent += 1;
                    if sent >= 256 {
                        busy = true;
                        break;
                    }
                }
            }
            collect_events(qp, h, &mut wcs, &mut asyncs, &mut ev_changes);
        }
        eng.flush();
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
    let ctx = st.ctxs.get(&key)?;
    if busy {
        return Some(0);
    }
    let now = ctx.engine.now();
    let next = ctx
        .by_qpn
        .values()
        .filter_map(|h| st.qps.get(h)?.conn.as_ref()?.poll_timeout())
        .min()
        .map_or(50_000_000, |t| t.saturating_since(now).as_nanos());
    Some(next.min(50_000_000))
}

/// Turns a QP's connection events into work completions and async events.
fn collect_events(
    qp: &mut Qp,
    h: usize,
    wcs: &mut Vec<(usize, IbvWc)>,
    asyncs: &mut Vec<(usize, u32)>,
    ev_changes: &mut Vec<(u64, u32, u32)>,
) {
    let Some(conn) = qp.conn.as_mut() else {
        return;
    };
    while let Some(e) = conn.poll_event() {
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
                    mrc_proto::EvState::Skip => continue,
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
    if qp.state == IBV_QPS_ERR {
        flush_recvs(qp, wcs);
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

/// Registers MR `m` in the connection of QP `qp` (local key; remote key if remote-writable).
pub(crate) fn register_in(qp: &mut Qp, m: &Mr) {
    let Some(conn) = qp.conn.as_mut() else {
        return;
    };
    let r = conn.regions_mut();
    if r.register_external(m.addr, m.len, m.lkey).is_some() {
        qp.keys.push(m.lkey);
    }
    if m.access & IBV_ACCESS_REMOTE_WRITE != 0
        && r.register_external(m.addr, m.len, m.rkey).is_some()
    {
        qp.keys.push(m.rkey);
    }
}

/// A new MR: known to every connected QP of its PD.
pub(crate) fn mr_added(st: &mut State, m: &Mr) {
    for qp in st.qps.values_mut().filter(|q| q.pd == m.pd) {
        register_in(qp, m);
    }
}

/// An MR is gone: its keys leave every QP.
pub(crate) fn mr_removed(st: &mut State, m: &Mr) {
    for qp in st.qps.values_mut().filter(|q| q.pd == m.pd) {
        if let Some(conn) = qp.conn.as_mut() {
            conn.regions_mut().deregister(m.lkey);
            conn.regions_mut().deregister(m.rkey);
        }
        qp.keys.retain(|&k| k != m.lkey && k != m.rkey);
    }
}
