//! The few system calls `mrc-net` makes directly through libc: socket setup, `sendmmsg` with a
//! per-datagram `SO_MARK` control message, `recvmmsg` with the flow label, `setns`, CPU time.
//! Every `unsafe` block of the crate is here, each with its SAFETY comment.

/// True when running with effective uid 0.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

use std::mem::{size_of, zeroed};
use std::net::{Ipv6Addr, SocketAddrV6, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};

use crate::error::{NetError, Result};

fn last_os(what: &str) -> NetError {
    NetError::Io {
        what: what.into(),
        source: std::io::Error::last_os_error(),
    }
}

/// `IPV6_FLOWINFO_SEND`: take the flow label of each datagram from `sin6_flowinfo`.
const IPV6_FLOWINFO_SEND: libc::c_int = 33;
/// `IPV6_FLOWINFO`: deliver the flow label as a control message.
const IPV6_FLOWINFO: libc::c_int = 11;

/// Sets an integer socket option.
pub fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    opt: libc::c_int,
    val: libc::c_int,
) -> Result<()> {
    // SAFETY: `val` lives across the call and its exact size is passed; the kernel validates
    // `fd`, `level` and `opt`.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (&raw const val).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(last_os(&format!("setsockopt({level}, {opt})")));
    }
    Ok(())
}

/// Prepares a UDP socket for the transport: big buffers (forced when root), per-datagram flow
/// labels on send (`IPV6_FLOWINFO_SEND`), the flow label, the traffic class (ECN) and the
/// kernel's arrival time on receive (`IPV6_FLOWINFO`, `IPV6_RECVTCLASS`, `SO_TIMESTAMPNS`).
pub fn prepare_udp(fd: RawFd, buf_bytes: i32) -> Result<()> {
    for (force, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        if setsockopt_int(fd, libc::SOL_SOCKET, force, buf_bytes).is_err() {
            setsockopt_int(fd, libc::SOL_SOCKET, plain, buf_bytes)?;
        }
    }
    setsockopt_int(fd, libc::IPPROTO_IPV6, IPV6_FLOWINFO_SEND, 1)?;
    setsockopt_int(fd, libc::IPPROTO_IPV6, IPV6_FLOWINFO, 1)?;
    setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS, 1)?;
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    Ok(())
}

fn sockaddr(a: &SocketAddrV6) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain old data; all-zero is a valid value.
    let mut s: libc::sockaddr_in6 = unsafe { zeroed() };
    s.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    s.sin6_port = a.port().to_be();
    s.sin6_flowinfo = a.flowinfo().to_be();
    s.sin6_addr = libc::in6_addr {
        s6_addr: a.ip().octets(),
    };
    s.sin6_scope_id = a.scope_id();
    s
}

fn from_sockaddr(s: &libc::sockaddr_in6) -> SocketAddrV6 {
    SocketAddrV6::new(
        Ipv6Addr::from(s.sin6_addr.s6_addr),
        u16::from_be(s.sin6_port),
        u32::from_be(s.sin6_flowinfo),
        s.sin6_scope_id,
    )
}

/// One datagram to send: destination (its `flowinfo` is the flow label), optional `SO_MARK`,
/// bytes.
#[derive(Debug)]
pub struct OutMsg<'a> {
    /// Destination; `flowinfo` carries the flow label.
    pub dst: SocketAddrV6,
    /// `SO_MARK` for this datagram (path selection by policy routing).
    pub mark: Option<u32>,
    /// UDP payload.
    pub buf: &'a [u8],
}

// One cmsg carrying a u32 (SO_MARK): header + payload, aligned.
const CMSG_SPACE_U32: usize = 32;
const MAX_BATCH: usize = 64;

/// `sendmmsg` of up to 64 datagrams, each with its own `SO_MARK` control message.
pub fn send_batch(fd: RawFd, msgs: &[OutMsg<'_>]) -> Result<SendOutcome> {
    let n = msgs.len().min(MAX_BATCH);
    if n == 0 {
        return Ok(SendOutcome::Sent(0));
    }
    // SAFETY: plain old data arrays; all-zero is valid for each.
    let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { zeroed() };
    let mut iovs: [libc::iovec; MAX_BATCH] = unsafe { zeroed() };
    let mut names: [libc::sockaddr_in6; MAX_BATCH] = unsafe { zeroed() };
    let mut cbufs = [[0u64; CMSG_SPACE_U32 / 8]; MAX_BATCH];
    for (i, m) in msgs.iter().take(n).enumerate() {
        names[i] = sockaddr(&m.dst);
        iovs[i] = libc::iovec {
            iov_base: m.buf.as_ptr().cast_mut().cast(),
            iov_len: m.buf.len(),
        };
        let h = &mut hdrs[i].msg_hdr;
        h.msg_name = (&raw mut names[i]).cast();
        h.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        h.msg_iov = &raw mut iovs[i];
        h.msg_iovlen = 1;
        if let Some(mark) = m.mark {
            h.msg_control = cbufs[i].as_mut_ptr().cast();
            // SAFETY: CMSG_SPACE is a pure size computation.
            h.msg_controllen = unsafe { libc::CMSG_SPACE(4) } as usize;
            // SAFETY: msg_control points at a zeroed, 8-aligned buffer of CMSG_SPACE_U32 ≥
            // CMSG_SPACE(4) bytes owned by this frame, so CMSG_FIRSTHDR is non-null and the
            // header plus 4 data bytes fit inside it.
            unsafe {
                let c = libc::CMSG_FIRSTHDR(h);
                (*c).cmsg_level = libc::SOL_SOCKET;
                (*c).cmsg_type = libc::SO_MARK;
                (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
                libc::CMSG_DATA(c).cast::<u32>().write_unaligned(mark);
            }
        }
    }
    // SAFETY: every pointer in `hdrs` refers to arrays of this frame (names, iovs, cbufs) or to
    // the callers' buffers, all alive for the call; `n` ≤ the array length.
    let r = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as libc::c_uint, libc::MSG_DONTWAIT) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::WouldBlock {
            return Ok(SendOutcome::Full);
        }
        // The path of the first datagram is gone (its lane is down, so its route table has no
        // route): a real NIC would drop it on the dead lane; so do we.
        if matches!(
            e.raw_os_error(),
            Some(
                libc::ENETUNREACH
                    | libc::EHOSTUNREACH
                    | libc::ENETDOWN
                    | libc::EMSGSIZE
                    | libc::EINVAL
            )
        ) {
            return Ok(SendOutcome::FirstDropped);
        }
        return Err(NetError::Io {
            what: "sendmmsg".into(),
            source: e,
        });
    }
    Ok(SendOutcome::Sent(r as usize))
}

/// What [`send_batch`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// The kernel took this many datagrams (from the first).
    Sent(usize),
    /// The socket buffer is full; nothing was sent.
    Full,
    /// The first datagram has no route (dropped, as on a dead lane); nothing else was sent.
    FirstDropped,
}

/// Receive buffers for [`recv_batch`].
#[derive(Debug)]
pub struct RecvBatch {
    bufs: Vec<Vec<u8>>,
    /// Per datagram: (source, length, flow label).
    pub meta: Vec<(SocketAddrV6, usize, u32)>,
    /// Per datagram: IPv6 traffic class (low two bits = ECN; 0 if the kernel gave none).
    pub tclass: Vec<u8>,
    /// Per datagram: when the kernel queued it on the socket (`SO_TIMESTAMPNS`, ns of
    /// `CLOCK_REALTIME`; 0 if the kernel gave none), whenever the receiving thread ran.
    pub arrival_ns: Vec<u64>,
}

impl RecvBatch {
    /// `n` (≤ 64) buffers of `size` bytes.
    pub fn new(n: usize, size: usize) -> Self {
        Self {
            bufs: vec![vec![0; size]; n.clamp(1, MAX_BATCH)],
            meta: Vec::with_capacity(n),
            tclass: Vec::with_capacity(n),
            arrival_ns: Vec::with_capacity(n),
        }
    }

    /// The bytes of datagram `i` of the last batch.
    pub fn datagram(&self, i: usize) -> &[u8] {
        match (self.bufs.get(i), self.meta.get(i)) {
            (Some(b), Some(m)) => b.get(..m.1).unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// `recvmmsg` without blocking; fills `batch.meta`; returns the datagram count (0: none).
pub fn recv_batch(fd: RawFd, batch: &mut RecvBatch) -> Result<usize> {
    batch.meta.clear();
    batch.tclass.clear();
    batch.arrival_ns.clear();
    let n = batch.bufs.len();
    // SAFETY: plain old data arrays; all-zero is valid for each.
    let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { zeroed() };
    let mut iovs: [libc::iovec; MAX_BATCH] = unsafe { zeroed() };
    let mut names: [libc::sockaddr_in6; MAX_BATCH] = unsafe { zeroed() };
    // Flow label and traffic class (CMSG_SPACE(4) = 24 bytes each) and a timespec (32).
    let mut cbufs = [[0u64; 12]; MAX_BATCH];
    for (i, b) in batch.bufs.iter_mut().enumerate() {
        iovs[i] = libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        };
        let h = &mut hdrs[i].msg_hdr;
        h.msg_name = (&raw mut names[i]).cast();
        h.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        h.msg_iov = &raw mut iovs[i];
        h.msg_iovlen = 1;
        h.msg_control = cbufs[i].as_mut_ptr().cast();
        h.msg_controllen = size_of::<[u64; 12]>();
    }
    // SAFETY: all pointers refer to this frame's arrays or `batch.bufs`, alive for the call;
    // `n` ≤ MAX_BATCH; a null timeout means no timeout (MSG_DONTWAIT makes it non-blocking).
    let r = unsafe {
        libc::recvmmsg(
            fd,
            hdrs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
            core::ptr::null_mut(),
        )
    };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::WouldBlock {
            return Ok(0);
        }
        return Err(NetError::Io {
            what: "recvmmsg".into(),
            source: e,
        });
    }
    for i in 0..r as usize {
        let h = &hdrs[i].msg_hdr;
        let mut label = 0u32;
        let mut tclass = 0u8;
        let mut arrival = 0u64;
        // SAFETY: the kernel filled msg_control/msg_controllen of this header; CMSG_FIRSTHDR /
        // CMSG_NXTHDR walk only inside that buffer; IPV6_FLOWINFO data is 4 bytes,
        // IPV6_TCLASS data an int (4 bytes) and SCM_TIMESTAMPNS data a timespec, read unaligned.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(h);
            while !c.is_null() {
                if (*c).cmsg_level == libc::IPPROTO_IPV6 && (*c).cmsg_type == IPV6_FLOWINFO {
                    label =
                        u32::from_be(libc::CMSG_DATA(c).cast::<u32>().read_unaligned()) & 0xF_FFFF;
                }
                if (*c).cmsg_level == libc::IPPROTO_IPV6 && (*c).cmsg_type == libc::IPV6_TCLASS {
                    tclass = libc::CMSG_DATA(c).cast::<libc::c_int>().read_unaligned() as u8;
                }
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let t = libc::CMSG_DATA(c).cast::<libc::timespec>().read_unaligned();
                    arrival = (t.tv_sec as u64)
                        .saturating_mul(1_000_000_000)
                        .saturating_add(t.tv_nsec as u64);
                }
                c = libc::CMSG_NXTHDR(h, c);
            }
        }
        batch.tclass.push(tclass);
        batch.arrival_ns.push(arrival);
        batch
            .meta
            .push((from_sockaddr(&names[i]), hdrs[i].msg_len as usize, label));
    }
    Ok(r as usize)
}

/// True if interface `name` (in the namespace of socket `fd`) is up and has carrier
/// (`IFF_UP` and `IFF_RUNNING`): a veth whose other end is down, or that is down itself, is not.
pub fn link_up(fd: RawFd, name: &str) -> Result<bool> {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { zeroed() };
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= req.ifr_name.len() || bytes.contains(&0) {
        return Err(NetError::Spec {
            field: "interface",
            msg: format!("{name:?} is not an interface name"),
        });
    }
    for (d, &b) in req.ifr_name.iter_mut().zip(bytes) {
        *d = b as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq with a NUL-terminated name (zeroed beyond it), alive for
    // the call; SIOCGIFFLAGS only writes `ifr_ifru.ifru_flags` inside it.
    let r = unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &raw mut req) };
    if r != 0 {
        return Err(last_os(&format!("SIOCGIFFLAGS {name}")));
    }
    // SAFETY: SIOCGIFFLAGS succeeded, so the flags member of the union is the one written.
    let flags = i32::from(unsafe { req.ifr_ifru.ifru_flags });
    Ok(flags & libc::IFF_UP != 0 && flags & libc::IFF_RUNNING != 0)
}

/// Waits until `fd` is readable (or writable, with `write`) or `timeout_ns` passes.
pub fn wait(fd: RawFd, write: bool, timeout_ns: u64) -> Result<()> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN | if write { libc::POLLOUT } else { 0 },
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: (timeout_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (timeout_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: one valid pollfd and a valid timespec, both alive for the call; no signal mask.
    let r = unsafe { libc::ppoll(&raw mut p, 1, &raw const ts, core::ptr::null()) };
    if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
        return Err(last_os("ppoll"));
    }
    Ok(())
}

/// Moves the calling thread into the named network namespace (`/var/run/netns/NAME`).
pub fn enter_netns(name: &str) -> Result<()> {
    let path = format!("/var/run/netns/{name}");
    let file = std::fs::File::open(&path).map_err(|source| NetError::Io {
        what: format!("open {path}"),
        source,
    })?;
    // SAFETY: `file` is an open namespace file descriptor for the duration of the call.
    let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if r != 0 {
        return Err(last_os(&format!("setns({name})")));
    }
    Ok(())
}

/// CPU time consumed by the calling thread, in seconds.
pub fn thread_cpu_secs() -> f64 {
    // SAFETY: timespec is plain old data.
    let mut ts: libc::timespec = unsafe { zeroed() };
    // SAFETY: valid clock id and a valid out pointer.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    if r != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// A TCP connection whose packets carry `SO_MARK = mark` from the first SYN (path pinning).
/// `src` (if given) is bound first, so the source is the NIC address rather than a cable's.
pub fn tcp_connect_marked(
    src: Option<Ipv6Addr>,
    dst: SocketAddrV6,
    mark: Option<u32>,
) -> Result<TcpStream> {
    // SAFETY: plain socket creation; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(last_os("socket"));
    }
    // SAFETY: `fd` is a fresh socket we own; TcpStream takes ownership and closes it on drop.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    if let Some(m) = mark {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_MARK, m as libc::c_int)?;
    }
    if let Some(src) = src {
        let la = sockaddr(&SocketAddrV6::new(src, 0, 0, 0));
        // SAFETY: `la` is a valid sockaddr_in6 of the given length, alive for the call.
        let r = unsafe {
            libc::bind(
                fd,
                (&raw const la).cast(),
                size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(last_os(&format!("bind {src}")));
        }
    }
    let sa = sockaddr(&dst);
    // SAFETY: `sa` is a valid sockaddr_in6 of the given length, alive for the call.
    let r = unsafe {
        libc::connect(
            fd,
            (&raw const sa).cast(),
            size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(last_os(&format!("connect to {dst}")));
    }
    Ok(stream)
}

/// Sets `SO_MARK` on a listener (the SYN-ACK and the accepted connection inherit it).
pub fn mark_listener(l: &TcpListener, mark: u32) -> Result<()> {
    setsockopt_int(
        l.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_MARK,
        mark as libc::c_int,
    )
}

/// A UDP socket bound to `addr` with `SO_REUSEPORT` (send-only EV sockets of loopback mode).
pub fn udp_reuseport(addr: SocketAddrV6) -> Result<std::net::UdpSocket> {
    // SAFETY: plain socket creation; the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET6,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(last_os("socket"));
    }
    // SAFETY: `fd` is a fresh socket we own; UdpSocket takes ownership and closes it on drop.
    let sock = unsafe { std::net::UdpSocket::from_raw_fd(fd) };
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, 4 << 20)?;
    let sa = sockaddr(&addr);
    // SAFETY: `sa` is a valid sockaddr_in6 of the given length, alive for the call.
    let r = unsafe {
        libc::bind(
            fd,
            (&raw const sa).cast(),
            size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(last_os(&format!("bind {addr}")));
    }
    Ok(sock)
}

/// 64 random bits from the OS (`/dev/urandom`): memory keys an off-path sender cannot guess.
pub fn os_random_u64() -> Result<u64> {
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .map_err(|source| NetError::Io {
            what: "reading /dev/urandom".into(),
            source,
        })?;
    Ok(u64::from_le_bytes(b))
}

/// The stop signal (SIGINT, SIGTERM, SIGHUP) caught while a [`StopSignals`] guard is alive, or 0.
static STOPPED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn on_stop(sig: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOPPED.store(sig, std::sync::atomic::Ordering::SeqCst);
}

/// While alive, SIGINT, SIGTERM and SIGHUP are recorded (see [`stop_signal`]) instead of
/// killing the process, so a multi-step operation can undo what it did; dropping it restores
/// the previous dispositions. Commands run meanwhile start with default dispositions (exec
/// resets caught signals).
pub struct StopSignals {
    old: [(libc::c_int, libc::sigaction); 3],
}

impl StopSignals {
    /// Starts recording stop signals.
    pub fn catch() -> Self {
        STOPPED.store(0, std::sync::atomic::Ordering::SeqCst);
        let sigs = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];
        // SAFETY: sigaction is plain data; all-zero is a valid empty value.
        let mut old: [(libc::c_int, libc::sigaction); 3] = sigs.map(|s| (s, unsafe { zeroed() }));
        for (sig, prev) in &mut old {
            // SAFETY: as above.
            let mut act: libc::sigaction = unsafe { zeroed() };
            act.sa_sigaction = on_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
            // SAFETY: `act` and `prev` are valid for the call; `on_stop` is async-signal-safe;
            // an empty sa_mask (zeroed) blocks nothing extra.
            unsafe { libc::sigaction(*sig, &act, prev) };
        }
        Self { old }
    }
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        for (sig, prev) in &self.old {
            // SAFETY: `prev` is the disposition sigaction returned for `sig`.
            unsafe { libc::sigaction(*sig, prev, std::ptr::null_mut()) };
        }
    }
}

/// The stop signal caught since [`StopSignals::catch`], if any.
pub fn stop_signal() -> Option<i32> {
    match STOPPED.load(std::sync::atomic::Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}
