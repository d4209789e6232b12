//! Ring all-reduce (sum) of an `f32` vector: reduce-scatter then all-gather, `2(R−1)` phases;
//! in each phase rank `r` sends one chunk to rank `r+1` and receives one from rank `r−1`.
//!
//! Every chunk's sum is computed on exactly one rank in ring order and then copied verbatim, so
//! all ranks end with bit-identical results.
//!
//! Two transports carry the phases:
//! - [`MrcRing`]: the real MRC transport (`mrc_net::endpoint::Endpoint`), driven by its own
//!   thread like a NIC: one QP towards the right neighbour (RDMA Write-with-Immediate into its
//!   receive region; the immediate names the step and phase), one QP from the left.
//! - [`TcpRing`]: one TCP connection to the right neighbour, one from the left (optionally
//!   pinned to one SRv6 path with `SO_MARK`, like the `mrc perf` baseline).

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::net::{Ipv6Addr, SocketAddrV6, TcpListener, TcpStream};
use std::ops::Range;
use std::sync::mpsc;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use mrc_net::endpoint::{Endpoint, PathMode, Qp};
use mrc_net::perf::QpProfile;
use mrc_proto::{
    Connection, ConnectionConfig, Duration, Event, MemoryRegions, MrcQpAttr, RegionHandle,
    Transport, WcStatus, WriteRequest,
};

use crate::error::{DemoError, Result};

/// Transport counters (cumulative since the ring was set up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommStats {
    /// Data packets retransmitted (MRC) or TCP segments retransmitted.
    pub retransmits: u64,
    /// EVs (paths) retired after a loss (MRC only).
    pub ev_retired: u64,
    /// EVs brought back after probing (MRC only).
    pub ev_resurrected: u64,
}

/// A sum all-reduce across the ranks of a ring.
pub trait AllReduce {
    /// Replaces `data` by the element-wise sum over all ranks (same length on every rank).
    fn all_reduce_sum(&mut self, data: &mut Vec<f32>) -> Result<CommStats>;
}

/// Element ranges of the `world` chunks of an `n`-element vector.
pub fn chunks(n: usize, world: u32) -> Vec<Range<usize>> {
    let w = world.max(1) as usize;
    let (base, rem) = (n / w, n % w);
    let mut at = 0;
    (0..w)
        .map(|c| {
            let len = base + usize::from(c < rem);
            let r = at..at + len;
            at += len;
            r
        })
        .collect()
}

/// Phase `p` of `2(world−1)` for `rank`: (chunk sent, chunk received, received chunk is added
/// rather than copied).
pub fn phase(rank: u32, world: u32, p: u32) -> (u32, u32, bool) {
    let (r, w) = (i64::from(rank), i64::from(world));
    let m = |x: i64| x.rem_euclid(w) as u32;
    if p + 1 < world {
        let p = i64::from(p);
        (m(r - p), m(r - p - 1), true)
    } else {
        let q = i64::from(p + 1 - world);
        (m(r + 1 - q), m(r - q), false)
    }
}

fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn apply(dst: &mut [f32], bytes: &[u8], add: bool) {
    for (d, b) in dst.iter_mut().zip(bytes.chunks_exact(4)) {
        let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if add {
            *d += x;
        } else {
            *d = x;
        }
    }
}

/// QPN of rank `r`'s QP towards its right neighbour.
pub const TX_QPN: u32 = 0x300;
/// QPN of rank `r`'s QP receiving from its left neighbour.
pub const RX_QPN: u32 = 0x400;

/// Settings of one rank's MRC ring endpoint.
#[derive(Clone, Debug)]
pub struct MrcRingConfig {
    /// This rank.
    pub rank: u32,
    /// Ranks in the ring.
    pub world: u32,
    /// SRv6 path selection (fabric) or loopback.
    pub mode: PathMode,
    /// Endpoint address of every rank (index = rank).
    pub addrs: Vec<SocketAddrV6>,
    /// EVs per plane.
    pub evs: Vec<Vec<u32>>,
    /// Payload bytes per packet.
    pub payload: u32,
    /// Seed of the QPs (memory keys are derived from it: all ranks must agree).
    pub seed: u64,
    /// Largest vector (elements) that will be all-reduced.
    pub max_len: usize,
    /// Give up on one all-reduce after this long.
    pub timeout: StdDuration,
}

impl MrcRingConfig {
    fn conn_config(&self, qpn: u32, remote: u32) -> ConnectionConfig {
        QpProfile {
            evs: &self.evs,
            seed: self.seed,
            payload: self.payload,
            base_rtt: Duration::from_micros(1000),
            sleek_scale: 1.0,
            rate_bps: 10_000_000_000,
            share: 1,
        }
        .conn_config(qpn, remote)
    }

    /// Bytes of one phase slot (the largest chunk, 64-byte aligned).
    fn slot_bytes(&self) -> u64 {
        let w = self.world.max(1) as usize;
        (self.max_len.div_ceil(w) as u64 * 4).next_multiple_of(64)
    }

    /// Region size: two steps (even/odd) × `2(R−1)` phases of slots.
    fn region_bytes(&self) -> u64 {
        let phases = 2 * u64::from(self.world.saturating_sub(1));
        (2 * phases * self.slot_bytes()).max(64)
    }
}

/// The region the rank owning `qpn` registers first (memory keys are seeded: `seed ^ qpn`).
fn region_of(seed: u64, qpn: u32, len: u64) -> RegionHandle {
    MemoryRegions::new(seed ^ u64::from(qpn)).register_virtual(len)
}

type Job = Vec<f32>;
type Done = Result<(Vec<f32>, CommStats)>;

/// A ring all-reduce over the MRC transport; its endpoint runs on a thread of its own.
#[derive(Debug)]
pub struct MrcRing {
    jobs: Option<mpsc::Sender<Job>>,
    done: mpsc::Receiver<Done>,
    thread: Option<std::thread::JoinHandle<()>>,
    timeout: StdDuration,
    world: u32,
}

impl MrcRing {
    /// Binds the endpoint (in the calling thread's network namespace) and creates the two QPs.
    pub fn start(cfg: MrcRingConfig) -> Result<Self> {
        let n = cfg.world as usize;
        if cfg.world == 0 || cfg.world > 128 || cfg.addrs.len() != n || cfg.rank >= cfg.world {
            return Err(DemoError::Config {
                field: "world",
                msg: format!(
                    "rank {} of {} with {} addresses: expected 1..=128 ranks, one address each",
                    cfg.rank,
                    cfg.world,
                    cfg.addrs.len()
                ),
            });
        }
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let timeout = cfg.timeout;
        let world = cfg.world;
        let thread = std::thread::Builder::new()
            .name(format!("mrc-ring-{}", cfg.rank))
            .spawn(move || {
                let mut w = match Worker::new(&cfg) {
                    Ok(w) => {
                        let _ = ready_tx.send(Ok(()));
                        w
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                w.run(&cfg, &jobs_rx, &done_tx);
            })
            .map_err(DemoError::io("spawning the transport thread"))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(DemoError::AllReduce("transport thread died".into())),
        }
        Ok(Self {
            jobs: Some(jobs_tx),
            done: done_rx,
            thread: Some(thread),
            timeout,
            world,
        })
    }
}

impl AllReduce for MrcRing {
    fn all_reduce_sum(&mut self, data: &mut Vec<f32>) -> Result<CommStats> {
        if self.world == 1 {
            return Ok(CommStats::default());
        }
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| DemoError::AllReduce("ring closed".into()))?;
        jobs.send(std::mem::take(data))
            .map_err(|_| DemoError::AllReduce("transport thread ended".into()))?;
        match self
            .done
            .recv_timeout(self.timeout + StdDuration::from_secs(5))
        {
            Ok(Ok((v, stats))) => {
                *data = v;
                Ok(stats)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(DemoError::AllReduce(
                "transport thread did not answer".into(),
            )),
        }
    }
}

impl Drop for MrcRing {
    fn drop(&mut self) {
        // Closing the job channel makes the thread linger briefly (late ACKs), then exit.
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Active {
    data: Vec<f32>,
    seq: u32,
    phase: u32,
    sent: bool,
    started: StdInstant,
}

struct Worker {
    ep: Endpoint,
    send: RegionHandle,
    recv: RegionHandle,
    remote: RegionHandle,
    slot: u64,
    tags: BTreeSet<u32>,
    posted: u64,
    completed: u64,
    error: Option<String>,
}

const TX: usize = 0;
const RX: usize = 1;

impl Worker {
    fn new(cfg: &MrcRingConfig) -> Result<Self> {
        let w = cfg.world;
        let (me, right, left) = (cfg.rank, (cfg.rank + 1) % w, (cfg.rank + w - 1) % w);
        let addr = |r: u32| cfg.addrs.get(r as usize).copied();
        let (Some(bind), Some(raddr), Some(laddr)) = (addr(me), addr(right), addr(left)) else {
            return Err(DemoError::Config {
                field: "addrs",
                msg: "one address per rank".into(),
            });
        };
        let evs: Vec<u32> = cfg.evs.iter().flatten().copied().collect();
        let mut ep = Endpoint::bind(bind, cfg.mode, &evs)?;
        let attr = MrcQpAttr {
            timeout: 13,
            ..MrcQpAttr::default()
        };
        let len = cfg.region_bytes();
        let qp_err = |e| DemoError::AllReduce(format!("creating a QP: {e:?}"));
        let mut tx = Connection::new_rts(cfg.conn_config(TX_QPN + me, RX_QPN + right), attr)
            .map_err(qp_err)?;
        let send = tx.regions_mut().register(len);
        let mut rx = Connection::new_rts(cfg.conn_config(RX_QPN + me, TX_QPN + left), attr)
            .map_err(qp_err)?;
        let recv = rx.regions_mut().register(len);
        if recv != region_of(cfg.seed, RX_QPN + me, len) {
            return Err(DemoError::AllReduce(
                "memory keys are not derived from the seed as expected".into(),
            ));
        }
        let remote = region_of(cfg.seed, RX_QPN + right, len);
        ep.add_qp(Qp {
            conn: tx,
            peer: Some(raddr),
        })?;
        ep.add_qp(Qp {
            conn: rx,
            peer: Some(laddr),
        })?;
        Ok(Self {
            ep,
            send,
            recv,
            remote,
            slot: cfg.slot_bytes(),
            tags: BTreeSet::new(),
            posted: 0,
            completed: 0,
            error: None,
        })
    }

    fn stats(&self) -> CommStats {
        let mut s = CommStats::default();
        for qp in self.ep.qps() {
            let st = qp.conn.stats();
            s.retransmits += st.data_retransmitted;
            s.ev_retired += st.ev_retired;
            s.ev_resurrected += st.ev_resurrected;
        }
        s
    }

    fn events(&mut self) {
        for (i, qp) in self.ep.qps_mut().iter_mut().enumerate() {
            while let Some(e) = qp.conn.poll_event() {
                match e {
                    Event::RecvImm { imm, .. } if i == RX => {
                        self.tags.insert(imm);
                    }
                    Event::SendComplete { status, .. } if i == TX => {
                        if status == WcStatus::Success {
                            self.completed += 1;
                        } else {
                            self.error = Some(format!("write completed with {status:?}"));
                        }
                    }
                    Event::QpError(r) => {
                        self.error = Some(format!("QP went to ERROR: {r:?}"));
                    }
                    _ => {}
                }
            }
        }
    }

    fn slot_addr(&self, base: u64, seq: u32, phase: u32, phases: u32) -> u64 {
        base + u64::from((seq % 2) * phases + phase) * self.slot
    }

    /// Moves the active all-reduce as far as it can; true when it is complete.
    fn advance(&mut self, cfg: &MrcRingConfig, a: &mut Active) -> Result<bool> {
        let phases = 2 * (cfg.world - 1);
        let ranges = chunks(a.data.len(), cfg.world);
        loop {
            if a.phase == phases {
                return Ok(self.completed == self.posted);
            }
            let (sc, rc, add) = phase(cfg.rank, cfg.world, a.phase);
            let tag = ((a.seq & 0xFF_FFFF) << 8) | a.phase;
            if !a.sent {
                let r = ranges.get(sc as usize).cloned().unwrap_or(0..0);
                let bytes = to_bytes(a.data.get(r).unwrap_or(&[]));
                let local = self.slot_addr(self.send.addr, a.seq, a.phase, phases);
                let remote = self.slot_addr(self.remote.addr, a.seq, a.phase, phases);
                let Some(tx) = self.ep.qps_mut().get_mut(TX) else {
                    return Err(DemoError::AllReduce("no QP".into()));
                };
                if !tx.conn.regions_mut().write_local(local, &bytes) {
                    return Err(DemoError::AllReduce("send slot out of range".into()));
                }
                let wr = WriteRequest {
                    wr_id: self.posted,
                    local_addr: local,
                    len: bytes.len() as u32,
                    remote_addr: remote,
                    rkey: self.remote.rkey,
                    imm: Some(tag),
                };
                tx.conn
                    .post_write(wr)
                    .map_err(|e| DemoError::AllReduce(format!("post: {e:?}")))?;
                self.posted += 1;
                a.sent = true;
            }
            if !self.tags.remove(&tag) {
                return Ok(false);
            }
            let r = ranges.get(rc as usize).cloned().unwrap_or(0..0);
            let at = self.slot_addr(self.recv.addr, a.seq, a.phase, phases);
            let Some(rx) = self.ep.qps().get(RX) else {
                return Err(DemoError::AllReduce("no QP".into()));
            };
            let bytes = rx
                .conn
                .regions()
                .read(at, 4 * r.len() as u64)
                .ok_or_else(|| DemoError::AllReduce("receive slot out of range".into()))?;
            if let Some(dst) = a.data.get_mut(r) {
                apply(dst, bytes, add);
            }
            a.phase += 1;
            a.sent = false;
        }
    }

    fn run(&mut self, cfg: &MrcRingConfig, jobs: &mpsc::Receiver<Job>, done: &mpsc::Sender<Done>) {
        let mut active: Option<Active> = None;
        let mut seq = 0u32;
        let cap = cfg.max_len;
        loop {
            if active.is_none() {
                match jobs.try_recv() {
                    Ok(data) => {
                        if data.len() > cap {
                            let _ = done.send(Err(DemoError::AllReduce(format!(
                                "{} elements, ring set up for {cap}",
                                data.len()
                            ))));
                            return;
                        }
                        active = Some(Active {
                            data,
                            seq,
                            phase: 0,
                            sent: false,
                            started: StdInstant::now(),
                        });
                        seq = seq.wrapping_add(1);
                    }
                    Err(mpsc::TryRecvError::Empty) => {}
                    Err(mpsc::TryRecvError::Disconnected) => {
                        // Linger so the neighbours' last writes are acknowledged.
                        let until = StdInstant::now() + StdDuration::from_millis(300);
                        while StdInstant::now() < until {
                            if self.ep.step(1_000_000, &mut |_, _| None).is_err() {
                                break;
                            }
                        }
                        return;
                    }
                }
            }
            let wait = if active.is_some() { 200_000 } else { 1_000_000 };
            if let Err(e) = self.ep.step(wait, &mut |_, _| None) {
                let _ = done.send(Err(e.into()));
                return;
            }
            self.events();
            if let Some(e) = self.error.take() {
                let _ = done.send(Err(DemoError::AllReduce(e)));
                return;
            }
            if let Some(mut a) = active.take() {
                match self.advance(cfg, &mut a) {
                    Ok(true) => {
                        let _ = done.send(Ok((a.data, self.stats())));
                    }
                    Ok(false) if a.started.elapsed() > cfg.timeout => {
                        let _ = done.send(Err(DemoError::AllReduce(format!(
                            "rank {}: phase {} of {} not done after {:.1} s ({} of {} writes acknowledged)",
                            cfg.rank,
                            a.phase,
                            2 * (cfg.world - 1),
                            cfg.timeout.as_secs_f64(),
                            self.completed,
                            self.posted
                        ))));
                        return;
                    }
                    Ok(false) => active = Some(a),
                    Err(e) => {
                        let _ = done.send(Err(e));
                        return;
                    }
                }
            }
        }
    }
}

/// Settings of one rank's TCP ring.
#[derive(Clone, Debug)]
pub struct TcpRingConfig {
    /// This rank.
    pub rank: u32,
    /// Ranks in the ring.
    pub world: u32,
    /// Listening address of every rank (index = rank).
    pub addrs: Vec<SocketAddrV6>,
    /// Source address for the connection to the right neighbour (the NIC address).
    pub src: Option<Ipv6Addr>,
    /// `SO_MARK` of both connections: pins them to one SRv6 path (EV).
    pub mark: Option<u32>,
    /// Give up on one all-reduce (and on connecting) after this long.
    pub timeout: StdDuration,
}

/// A ring whose listener is bound but not yet connected (bind every rank first, then connect).
#[derive(Debug)]
pub struct TcpListening {
    listener: Option<TcpListener>,
    cfg: TcpRingConfig,
}

/// A ring all-reduce over TCP.
#[derive(Debug)]
pub struct TcpRing {
    right: Option<TcpStream>,
    left: Option<TcpStream>,
    cfg: TcpRingConfig,
}

impl TcpRing {
    /// Binds this rank's listener (in the calling thread's network namespace).
    pub fn listen(cfg: TcpRingConfig) -> Result<TcpListening> {
        if cfg.world == 0 || cfg.addrs.len() != cfg.world as usize || cfg.rank >= cfg.world {
            return Err(DemoError::Config {
                field: "world",
                msg: "one address per rank".into(),
            });
        }
        if cfg.world == 1 {
            return Ok(TcpListening {
                listener: None,
                cfg,
            });
        }
        let bind = cfg.addrs[cfg.rank as usize];
        let l = TcpListener::bind(bind).map_err(DemoError::io(format!("TCP bind {bind}")))?;
        if let Some(m) = cfg.mark {
            mrc_net::sys::mark_listener(&l, m)?;
        }
        Ok(TcpListening {
            listener: Some(l),
            cfg,
        })
    }
}

impl TcpListening {
    /// Connects to the right neighbour and accepts the left one (retrying until the timeout).
    pub fn connect(self) -> Result<TcpRing> {
        let cfg = self.cfg;
        let Some(l) = self.listener else {
            return Ok(TcpRing {
                right: None,
                left: None,
                cfg,
            });
        };
        let until = StdInstant::now() + cfg.timeout;
        let right_addr = cfg.addrs[((cfg.rank + 1) % cfg.world) as usize];
        let right = loop {
            match mrc_net::sys::tcp_connect_marked(cfg.src, right_addr, cfg.mark) {
                Ok(s) => break s,
                Err(e) if StdInstant::now() > until => return Err(e.into()),
                Err(_) => std::thread::sleep(StdDuration::from_millis(20)),
            }
        };
        l.set_nonblocking(true)
            .map_err(DemoError::io("TCP nonblocking"))?;
        let left = loop {
            match l.accept() {
                Ok((s, _)) => break s,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock && StdInstant::now() < until =>
                {
                    std::thread::sleep(StdDuration::from_millis(5));
                }
                Err(e) => return Err(DemoError::io("TCP accept")(e)),
            }
        };
        for s in [&right, &left] {
            s.set_nonblocking(false)
                .map_err(DemoError::io("TCP blocking"))?;
            s.set_nodelay(true).map_err(DemoError::io("TCP nodelay"))?;
            s.set_read_timeout(Some(cfg.timeout))
                .map_err(DemoError::io("TCP timeout"))?;
            s.set_write_timeout(Some(cfg.timeout))
                .map_err(DemoError::io("TCP timeout"))?;
        }
        Ok(TcpRing {
            right: Some(right),
            left: Some(left),
            cfg,
        })
    }
}

/// `tcpi_total_retrans` of a TCP socket (0 if unavailable).
fn tcp_retrans(s: &TcpStream) -> u64 {
    use std::os::fd::AsRawFd as _;
    let mut info: libc::tcp_info = unsafe { core::mem::zeroed() };
    let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is a properly sized, writable tcp_info and `len` holds its size.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &raw mut len,
        )
    };
    if rc == 0 {
        u64::from(info.tcpi_total_retrans)
    } else {
        0
    }
}

impl AllReduce for TcpRing {
    fn all_reduce_sum(&mut self, data: &mut Vec<f32>) -> Result<CommStats> {
        let (Some(right), Some(left)) = (&self.right, &mut self.left) else {
            return Ok(CommStats::default());
        };
        let (rank, world) = (self.cfg.rank, self.cfg.world);
        let ranges = chunks(data.len(), world);
        let started = StdInstant::now();
        for p in 0..2 * (world - 1) {
            let (sc, rc, add) = phase(rank, world, p);
            let out = to_bytes(data.get(ranges[sc as usize].clone()).unwrap_or(&[]));
            let r = ranges[rc as usize].clone();
            let mut inb = vec![0u8; 4 * r.len()];
            let mut w: &TcpStream = right;
            let (sent, got) = std::thread::scope(|s| {
                let h = s.spawn(move || w.write_all(&out));
                let got = left.read_exact(&mut inb);
                (h.join(), got)
            });
            let io = |what: &str, e: std::io::Error| {
                let why = match e.kind() {
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                        "timed out (no progress)".to_owned()
                    }
                    _ => e.to_string(),
                };
                DemoError::AllReduce(format!(
                    "TCP {what} in phase {p} after {:.1} s: {why}",
                    started.elapsed().as_secs_f64()
                ))
            };
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(io("send", e)),
                Err(_) => return Err(DemoError::AllReduce("TCP writer panicked".into())),
            }
            got.map_err(|e| io("receive", e))?;
            if let Some(dst) = data.get_mut(r) {
                apply(dst, &inb, add);
            }
        }
        Ok(CommStats {
            retransmits: tcp_retrans(right) + tcp_retrans(left),
            ..CommStats::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_phases_reduce_every_chunk_once() {
        for world in 2..=6u32 {
            // Simulate the schedule on plain vectors.
            let n = 23;
            let mut bufs: Vec<Vec<f32>> = (0..world)
                .map(|r| (0..n).map(|i| (r * 100 + i) as f32).collect())
                .collect();
            let ranges = chunks(n as usize, world);
            for p in 0..2 * (world - 1) {
                let snapshot = bufs.clone();
                for r in 0..world {
                    let left = (r + world - 1) % world;
                    let (_, rc, add) = phase(r, world, p);
                    let (lsc, _, _) = phase(left, world, p);
                    assert_eq!(lsc, rc, "world {world} phase {p}");
                    let rg = ranges[rc as usize].clone();
                    for i in rg {
                        let x = snapshot[left as usize][i];
                        let d = &mut bufs[r as usize][i];
                        *d = if add { *d + x } else { x };
                    }
                }
            }
            let want: Vec<f32> = (0..n)
                .map(|i| (0..world).map(|r| (r * 100 + i) as f32).sum())
                .collect();
            for b in &bufs {
                assert_eq!(b, &want, "world {world}");
            }
        }
    }
}
