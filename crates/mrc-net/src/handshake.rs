//! Connection setup of `mrc perf` when memory keys come from the OS: the client connects over
//! TCP to the server's address (the port number of its UDP socket) and each side sends the
//! region handles the other may write to, as RC applications exchange keys out of band. The
//! connection also tells the server where its client is, so the server's QPs are bound to
//! their peer before the first datagram.
//!
//! Message (both directions, little-endian): magic `MRK1` (u32), the sender's UDP port (u16),
//! the number of handles (u32, at most [`MAX_HANDLES`]), then per handle addr (u64), len (u64),
//! rkey (u32).

use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddrV6, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use mrc_proto::RegionHandle;

use crate::error::{NetError, Result};

const MAGIC: u32 = 0x4D52_4B31;
/// Most handles one message may carry (bounds what a peer can make us allocate).
pub const MAX_HANDLES: u32 = 1 << 16;
const HANDLE_LEN: usize = 20;

fn io(what: &str) -> impl FnOnce(std::io::Error) -> NetError + '_ {
    move |source| NetError::Io {
        what: what.into(),
        source,
    }
}

fn send(s: &mut TcpStream, udp_port: u16, handles: &[RegionHandle]) -> Result<()> {
    let mut b = Vec::with_capacity(10 + handles.len() * HANDLE_LEN);
    b.extend_from_slice(&MAGIC.to_le_bytes());
    b.extend_from_slice(&udp_port.to_le_bytes());
    b.extend_from_slice(&(handles.len() as u32).to_le_bytes());
    for h in handles {
        b.extend_from_slice(&h.addr.to_le_bytes());
        b.extend_from_slice(&h.len.to_le_bytes());
        b.extend_from_slice(&h.rkey.to_le_bytes());
    }
    s.write_all(&b).map_err(io("handshake write"))
}

fn receive(s: &mut TcpStream) -> Result<(u16, Vec<RegionHandle>)> {
    let mut head = [0u8; 10];
    s.read_exact(&mut head).map_err(io("handshake read"))?;
    let [m0, m1, m2, m3, p0, p1, n0, n1, n2, n3] = head;
    let n = u32::from_le_bytes([n0, n1, n2, n3]);
    if u32::from_le_bytes([m0, m1, m2, m3]) != MAGIC || n > MAX_HANDLES {
        return Err(NetError::Transfer("handshake: not an mrc perf peer".into()));
    }
    let mut body = vec![0u8; n as usize * HANDLE_LEN];
    s.read_exact(&mut body).map_err(io("handshake read"))?;
    let handles = body
        .chunks_exact(HANDLE_LEN)
        .map(|c| {
            let word = |r: core::ops::Range<usize>| {
                let mut w = [0u8; 8];
                if let (Some(d), Some(s)) = (w.get_mut(..r.len()), c.get(r)) {
                    d.copy_from_slice(s);
                }
                u64::from_le_bytes(w)
            };
            RegionHandle {
                addr: word(0..8),
                len: word(8..16),
                rkey: word(16..20) as u32,
            }
        })
        .collect();
    Ok((u16::from_le_bytes([p0, p1]), handles))
}

/// Server side: accepts one client on `bind` (TCP; `mark` pins its path), answers with `mine`.
/// Returns the client's UDP address and its handles.
pub fn serve(
    bind: SocketAddrV6,
    mark: Option<u32>,
    until: Instant,
    mine: &[RegionHandle],
) -> Result<(SocketAddrV6, Vec<RegionHandle>)> {
    let l = TcpListener::bind(bind).map_err(io("handshake bind"))?;
    if let Some(m) = mark {
        crate::sys::mark_listener(&l, m)?;
    }
    l.set_nonblocking(true).map_err(io("nonblocking"))?;
    let (mut s, from) = loop {
        match l.accept() {
            Ok(c) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(io("handshake accept")(e)),
        }
    };
    s.set_nonblocking(false).map_err(io("blocking"))?;
    let left = until
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    s.set_read_timeout(Some(left)).map_err(io("timeout"))?;
    let (port, theirs) = receive(&mut s)?;
    send(&mut s, bind.port(), mine)?;
    let std::net::SocketAddr::V6(from) = from else {
        return Err(NetError::Transfer("handshake: client is not IPv6".into()));
    };
    Ok((SocketAddrV6::new(*from.ip(), port, 0, 0), theirs))
}

/// Client side: connects to `server` (retrying until `until`: the server may start later),
/// sends `mine` and our UDP port, returns the server's handles.
pub fn connect(
    src: Option<Ipv6Addr>,
    server: SocketAddrV6,
    mark: Option<u32>,
    until: Instant,
    udp_port: u16,
    mine: &[RegionHandle],
) -> Result<Vec<RegionHandle>> {
    let mut s = loop {
        match crate::sys::tcp_connect_marked(src, server, mark) {
            Ok(s) => break s,
            Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(e),
        }
    };
    let left = until
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    s.set_read_timeout(Some(left)).map_err(io("timeout"))?;
    send(&mut s, udp_port, mine)?;
    Ok(receive(&mut s)?.1)
}
