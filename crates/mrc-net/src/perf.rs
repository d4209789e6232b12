//! `mrc perf`: an iperf-like transfer over the real transport, verified byte for byte.
//!
//! Client QP `i` has QPN `0x100 + i`, server QP `0x200 + i`. Memory keys come from the OS and
//! the sides exchange their region handles over TCP first ([`crate::handshake`]), which also
//! binds the server's QPs to the client's address; with [`PerfConfig::key_seed`] set they are
//! derived from it instead (`MemoryRegions` seeded with `seed ^ qpn`), each side computes the
//! other's, and nothing is exchanged. The client writes a seeded pattern into the server's
//! region; its last write carries an immediate = bytes / 1 KiB. The server, once that
//! Write-with-Immediate is placed (all earlier writes too), checks the region byte for byte
//! against the pattern, and writes back an 8-byte digest with immediate 1 (match) or 0; the
//! client compares the digest with its own.

use std::io::{Read as _, Write as _};
use std::net::{Ipv6Addr, SocketAddrV6, TcpListener};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use mrc_proto::{
    Connection, ConnectionConfig, Duration, EvState, Event, MemoryRegions, MrcQpAttr, PlaneEvs,
    RegionHandle, Transport, WcStatus, WriteRequest,
};

use crate::endpoint::{Endpoint, IoStats, PathMode, Qp};
use crate::error::{NetError, Result};
use mrc_proto::nic::{PathProfile, QpId};

/// First client QPN.
pub const CLIENT_QPN: u32 = 0x100;
/// First server QPN.
pub const SERVER_QPN: u32 = 0x200;
const RESULT_LEN: u64 = 64;

/// Settings shared by both sides (must agree: seed, EVs, payload size).
#[derive(Clone, Debug)]
pub struct PerfConfig {
    /// Path mode.
    pub mode: PathMode,
    /// Local address to bind.
    pub bind: SocketAddrV6,
    /// Peer's receive address (client: the server; server: only needed in loopback mode).
    pub peer: Option<SocketAddrV6>,
    /// QPs.
    pub qps: u32,
    /// Bytes per QP (client: to send; server: region size, at least the client's).
    pub bytes: u64,
    /// Bytes per RDMA Write.
    pub write_size: u32,
    /// EVs per plane, plane by plane (EV = plane << 8 | uplink).
    pub evs: Vec<Vec<u32>>,
    /// Payload bytes per packet.
    pub payload: u32,
    /// Seed of the data pattern.
    pub seed: u64,
    /// Seed of the QPs and their memory keys: None draws it from the OS and exchanges the
    /// keys at start (the default: keys an off-path sender cannot guess); Some makes the keys
    /// reproducible (both sides must use the same value) and skips the exchange.
    pub key_seed: Option<u64>,
    /// Base RTT assumed by the transport.
    pub base_rtt: Duration,
    /// Rate NSCC is configured for, bit/s.
    pub rate_bps: u64,
    /// QP ACK timeout exponent (1.024 µs × 2^t). Default 16 (67 ms): a QP timeout resends the
    /// QP's whole window and drops its NSCC window to one packet, so it must outlast the time
    /// a host thread can spend off the CPU (up to ~100 ms measured on 2 loaded cores). At 13
    /// (8.4 ms) an unshaped 8-QP run on a fabric that drops nothing had up to ~190 QP timeouts
    /// and resent up to 2% of its packets, every one a duplicate.
    pub timeout_exp: u8,
    /// Give up after this long.
    pub deadline: StdDuration,
    /// Scale of the out-of-order loss threshold (`ConnectionConfig::sleek_scale`). Default 1.0
    /// (the full SLEEK threshold): kernel forwarding through namespaces reorders across paths
    /// far more than a hardware Clos; the core's 1/3 retired EVs spuriously (15% retransmissions,
    /// 1.5 Gbit/s instead of 4.8 on the acceptance fabric).
    pub sleek_scale: f64,
}

impl PerfConfig {
    /// Defaults for `evs` (per plane) and the local/peer addresses.
    pub fn new(mode: PathMode, bind: SocketAddrV6, evs: Vec<Vec<u32>>) -> Self {
        Self {
            mode,
            bind,
            peer: None,
            qps: 1,
            bytes: 64 << 20,
            write_size: 1 << 20,
            evs,
            payload: 8192,
            seed: 1,
            key_seed: None,
            base_rtt: Duration::from_micros(1000),
            rate_bps: 10_000_000_000,
            timeout_exp: 16,
            deadline: StdDuration::from_secs(120),
            sleek_scale: 1.0,
        }
    }

    fn all_evs(&self) -> Vec<u32> {
        self.evs.iter().flatten().copied().collect()
    }

    fn conn_config(&self, qpn: u32, remote: u32, key_seed: u64) -> ConnectionConfig {
        QpProfile {
            evs: &self.evs,
            seed: key_seed,
            payload: self.payload,
            base_rtt: self.base_rtt,
            sleek_scale: self.sleek_scale,
            rate_bps: self.rate_bps,
            share: self.qps,
        }
        .conn_config(qpn, remote)
    }

    /// The seed of the keys: the one asked for, or one from the OS.
    fn key_seed_or_os(&self) -> Result<u64> {
        self.key_seed.map_or_else(crate::sys::os_random_u64, Ok)
    }

    /// The mark that pins the handshake's TCP connection to the first EV (SRv6 mode).
    fn handshake_mark(&self) -> Option<u32> {
        let first = self.evs.iter().flatten().next().copied().unwrap_or(0);
        (self.mode == PathMode::Srv6).then_some(crate::fabric::MARK_BASE + first)
    }

    /// An endpoint for this side; in SRv6 mode it watches the NIC's lanes (`p<plane>`), so a
    /// lane that loses carrier is a port down for every QP.
    fn endpoint(&self) -> Result<Endpoint> {
        let mut ep = Endpoint::bind(self.bind, self.mode, &self.all_evs())?;
        if self.mode == PathMode::Srv6 {
            let lanes: Vec<(u8, String)> = (0..self.evs.len().min(32) as u8)
                .map(|p| (p, crate::fabric::nic_lane(p)))
                .collect();
            ep.watch_links(&lanes)?;
        }
        Ok(ep)
    }

    fn attr(&self) -> MrcQpAttr {
        MrcQpAttr {
            timeout: self.timeout_exp,
            ..MrcQpAttr::default()
        }
    }
}

/// How a QP of the real transport is set up: its EVs, payload size and the timing knobs that
/// kernel forwarding needs (see [`PerfConfig`] for the defaults `mrc perf` uses).
#[derive(Debug, Clone, Copy)]
pub struct QpProfile<'a> {
    /// EVs in use, per plane (all active, no backups).
    pub evs: &'a [Vec<u32>],
    /// Seed of the QP (memory keys are derived from it).
    pub seed: u64,
    /// Payload bytes per packet.
    pub payload: u32,
    /// Base RTT of the fabric, for NSCC (the QP's timers assume at least [`HOST_RTT`]).
    pub base_rtt: Duration,
    /// Scale of the out-of-order loss threshold (1.0 tolerates kernel reordering across paths).
    pub sleek_scale: f64,
    /// Line rate NSCC is scaled for, in bit/s.
    pub rate_bps: u64,
    /// QPs of this endpoint sharing that rate: each QP's window is sized for `rate_bps /
    /// share` (`PathProfile::share`), so k QPs together keep one QP's bytes in flight.
    pub share: u32,
}

/// The round trip the QP's timers assume on a host (`ConnectionConfig::base_rtt`: the SRTT
/// before the first sample, and half the floor of the per-packet timer), whatever the
/// fabric's: a datagram is acknowledged only once the peer's thread runs, and a thread of a
/// loaded host waits for the CPU for milliseconds at a time. With the fabric's 1 ms (a 2 ms
/// floor) the per-packet timer resent up to 3.4% of a transfer's packets on a fabric that
/// dropped none; with 5 ms (a 10 ms floor) at most 0.23%. A dead path is still found as soon:
/// a pulled spine cable's EV was retired 7–21 ms after the pull (1–31 ms before).
///
/// Probes of a retired EV get the same allowance: a probe unanswered for the probe interval
/// is a failure, and with the hardware's 1 ms cap (the interval's) many answers on a host
/// came too late: the EV came back 0.2–0.7 s after its cable in 13 of 24 runs, and each QP
/// sent a probe per ms into the dead path. With a cap of 2 × `HOST_RTT`: 11–28 ms in all 24.
pub const HOST_RTT: Duration = Duration::from_micros(5000);

impl QpProfile<'_> {
    /// The core's configuration for QP `qpn` talking to `remote`: the EVs as one active set per
    /// plane (a quarter of them as `ev_min_active`) and NSCC scaled for `rate_bps` and
    /// `base_rtt`; built by the core's one constructor, [`mrc_proto::nic::PathProfile`]. Its
    /// timers (and its probes' cap, twice that) assume a round trip of at least [`HOST_RTT`].
    pub fn conn_config(&self, qpn: u32, remote: u32) -> ConnectionConfig {
        let mut c = self.path().conn_config(qpn, remote, self.seed);
        c.base_rtt = c.base_rtt.max(HOST_RTT);
        c.probe.max_interval = c.probe.max_interval.max(HOST_RTT.saturating_mul(2));
        c
    }

    /// The same settings as the core's [`mrc_proto::nic::PathProfile`].
    pub fn path(&self) -> PathProfile {
        let planes = self
            .evs
            .iter()
            .map(|p| PlaneEvs {
                active: p.clone(),
                backup: Vec::new(),
            })
            .collect();
        PathProfile {
            sleek_scale: self.sleek_scale,
            share: self.share,
            ..PathProfile::new(planes, self.rate_bps, self.base_rtt, self.payload)
        }
    }
}

/// The EVs of a fabric, per plane (`evs_per_plane` = how many uplinks of each plane to use).
pub fn fabric_evs(fabric: &crate::Fabric, evs_per_plane: Option<u32>) -> Vec<Vec<u32>> {
    let d = fabric.clos().dims();
    let n = evs_per_plane.unwrap_or(d.t0_up).min(d.t0_up);
    (0..d.planes)
        .map(|p| (0..n).map(|u| fabric.clos().ev(p, u).0).collect())
        .collect()
}

/// One EV state change seen by the sender.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvChange {
    /// Seconds since the transfer started.
    pub t: f64,
    /// The EV.
    pub ev: u32,
    /// New state is good (resurrected) rather than retired.
    pub good: bool,
}

/// Loss detections of the sender, by rule (`mrc_proto::Stats`, summed over the QPs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Losses {
    /// Declared lost by the out-of-order rule.
    pub ooo: u64,
    /// Declared lost by the per-packet timer.
    pub timeout: u64,
    /// QP-level timeouts.
    pub qp_timeouts: u64,
    /// Retransmissions the sender found spurious (acknowledged within a round trip of resending).
    pub spurious: u64,
}

/// What one side measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PerfReport {
    /// Payload bytes transferred (all QPs).
    pub bytes: u64,
    /// Seconds from the first post to the last completion (client) or first to last data (server).
    pub secs: f64,
    /// Goodput, Gbit/s.
    pub gbps: f64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Packets (sent + received) per second.
    pub pps: f64,
    /// Data packets retransmitted.
    pub retransmits: u64,
    /// Why they were resent: packets declared lost by the out-of-order rule, by the
    /// per-packet timer, and QP-level timeouts (a fabric that drops nothing still resends when
    /// a CPU-starved peer acknowledges late).
    pub losses: Losses,
    /// Duplicate data packets received (a resent packet that had arrived).
    pub duplicates: u64,
    /// NACKs received (trims, resources, fatal).
    pub nacks: u64,
    /// Trimmed packets received.
    pub trims: u64,
    /// EVs retired.
    pub ev_retired: u64,
    /// EVs resurrected.
    pub ev_resurrected: u64,
    /// EV states at the end: (good, skip or probing, assumed bad, denied).
    pub ev_states: (u32, u32, u32, u32),
    /// EV transitions in time order.
    pub ev_changes: Vec<EvChange>,
    /// Byte-for-byte check passed (server: region == pattern; client: digests equal).
    pub verified: bool,
    /// Digest of the transferred bytes.
    pub digest: u64,
    /// CPU seconds of the transport thread.
    pub cpu_secs: f64,
    /// Longest time the transfer did not move as this side's thread saw it, ms: between two
    /// data packets (server) or two acknowledgements (client), from the first to the last.
    pub max_gap_ms: f64,
    /// The same gap between those packets' arrivals on the socket (kernel timestamps), ms:
    /// `max_gap_ms` without the time this side's thread waited for the CPU.
    pub max_arrival_gap_ms: f64,
    /// Longest time this side's thread left its socket alone, ms (`IoStats::max_round_gap_ns`:
    /// work between rounds plus time waiting for the CPU).
    pub max_round_gap_ms: f64,
    /// Wall-clock instant the measurement started.
    pub started: Option<StdInstant>,
    /// Datagrams sent per EV.
    pub sent_per_ev: Vec<(u32, u64)>,
    /// Data packets received per EV.
    pub data_per_ev: Vec<(u32, u64)>,
}

/// Fills `buf` (starting at byte `offset` of QP `qp`'s stream, 8-aligned) with the pattern.
pub fn pattern(seed: u64, qp: u32, offset: u64, buf: &mut [u8]) {
    let base = seed ^ (u64::from(qp) << 40);
    for (i, chunk) in buf.chunks_mut(8).enumerate() {
        let w = mrc_rng::hash(base ^ (offset / 8 + i as u64)).to_le_bytes();
        let n = chunk.len();
        chunk.copy_from_slice(w.get(..n).unwrap_or(&[]));
    }
}

/// FNV-style 64-bit digest over 8-byte words.
pub fn digest(h: u64, bytes: &[u8]) -> u64 {
    let mut h = if h == 0 { 0xcbf2_9ce4_8422_2325 } else { h };
    for c in bytes.chunks(8) {
        let mut w = [0u8; 8];
        if let Some(d) = w.get_mut(..c.len()) {
            d.copy_from_slice(c);
        }
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

fn region_of(seed: u64, qpn: u32, lens: &[u64]) -> Vec<RegionHandle> {
    let mut m = MemoryRegions::new(seed ^ u64::from(qpn));
    lens.iter().map(|&l| m.register_virtual(l)).collect()
}

fn ev_counts(conn: &Connection) -> (u32, u32, u32, u32) {
    let mut c = (0, 0, 0, 0);
    for (_, _, s) in conn.ev_set().iter() {
        match s {
            EvState::Good => c.0 += 1,
            EvState::AssumedBad => c.2 += 1,
            EvState::Denied => c.3 += 1,
            _ => c.1 += 1,
        }
    }
    c
}

/// `moved`: the socket counters as they stood when the transfer last moved (the last data
/// packet, the last completion), so the gaps cover the transfer and not the verification and
/// replies after it.
fn fill_report(ep: &Endpoint, moved: &IoStats, r: &mut PerfReport, cpu0: f64) {
    let mut ev = (0, 0, 0, 0);
    for qp in ep.qps() {
        let s = qp.conn.stats();
        r.retransmits += s.data_retransmitted;
        r.losses.ooo += s.losses_ooo;
        r.losses.timeout += s.losses_timeout;
        r.losses.qp_timeouts += s.qp_timeouts;
        r.losses.spurious += s.spurious_retransmits;
        r.duplicates += s.duplicates_received;
        r.nacks += s.nacks_trimmed + s.nacks_trimmed_last_hop + s.nacks_resource + s.nacks_fatal;
        r.trims += s.trimmed_received;
        r.ev_retired += s.ev_retired;
        r.ev_resurrected += s.ev_resurrected;
        let c = ev_counts(&qp.conn);
        ev = (ev.0 + c.0, ev.1 + c.1, ev.2 + c.2, ev.3 + c.3);
    }
    r.ev_states = ev;
    r.datagrams_sent = ep.io.datagrams_sent;
    r.datagrams_received = ep.io.datagrams_received;
    r.cpu_secs = crate::sys::thread_cpu_secs() - cpu0;
    r.max_gap_ms = moved.max_progress_gap_ns as f64 / 1e6;
    r.max_arrival_gap_ms = moved.max_arrival_gap_ns as f64 / 1e6;
    r.max_round_gap_ms = moved.max_round_gap_ns as f64 / 1e6;
    if r.secs > 0.0 {
        r.gbps = r.bytes as f64 * 8.0 / r.secs / 1e9;
        r.pps = (r.datagrams_sent + r.datagrams_received) as f64 / r.secs;
    }
    r.started = Some(ep.epoch());
    r.sent_per_ev = ep.sent_per_ev.clone();
    r.sent_per_ev.sort_unstable();
    r.data_per_ev = ep.data_per_ev.clone();
    r.data_per_ev.sort_unstable();
}

/// How long each side keeps answering after its part is done, so the peer's retransmission
/// of a packet whose acknowledgement was lost is still acknowledged (TCP's TIME_WAIT plays
/// this role): without it the client could leave with the server's reply unacknowledged and
/// the server would resend it to nobody until its deadline.
const LINGER: StdDuration = StdDuration::from_millis(200);

/// The server's check of one QP's region against the pattern, in progress.
#[derive(Clone, Copy, Debug)]
struct Check {
    /// Bytes the client wrote (from its last Write-with-Immediate).
    bytes: u64,
    /// Bytes checked so far.
    off: u64,
    /// Digest of those bytes.
    digest: u64,
    /// No mismatch so far.
    ok: bool,
}

/// Serves one transfer (all `cfg.qps` QPs) and returns when the client has its digest.
pub fn run_server(cfg: &PerfConfig) -> Result<PerfReport> {
    let cpu0 = crate::sys::thread_cpu_secs();
    let mut ep = cfg.endpoint()?;
    let deadline = StdInstant::now() + cfg.deadline;
    let mut report = PerfReport::default();
    let mut done = vec![false; cfg.qps as usize];
    let mut replied = vec![false; cfg.qps as usize];
    // The byte-for-byte check of each QP whose last write arrived, one chunk per round.
    let mut checks: Vec<Option<Check>> = vec![None; cfg.qps as usize];
    let mut want = vec![0u8; 1 << 20];
    let mut all_ok = true;
    let mut h = 0u64;
    let mut first_data: Option<StdInstant> = None;
    let mut last_data = StdInstant::now();
    let mut moved = IoStats::default();
    let mut finished_at: Option<StdInstant> = None;
    // QPs exist before the first packet. Their peer is the configured one, or the client of
    // the handshake; with seeded keys and no peer given, the first packet binds it.
    let key_seed = cfg.key_seed_or_os()?;
    for i in 0..cfg.qps {
        let qpn = SERVER_QPN + i;
        let mut conn =
            Connection::new_rts(cfg.conn_config(qpn, CLIENT_QPN + i, key_seed), cfg.attr())
                .map_err(|e| NetError::Transfer(format!("QP: {e}")))?;
        conn.regions_mut().register(cfg.bytes);
        conn.regions_mut().register(RESULT_LEN);
        ep.add_qp(Qp {
            conn,
            peer: cfg.peer,
        })?;
    }
    // The client's result region per QP (None: derived from the seed once its size is known).
    let mut client_results: Vec<Option<RegionHandle>> = vec![None; cfg.qps as usize];
    if cfg.key_seed.is_none() {
        let mine: Vec<RegionHandle> = ep
            .qps()
            .iter()
            .flat_map(|q| q.conn.regions().handles())
            .collect();
        let (client, theirs) =
            crate::handshake::serve(cfg.bind, cfg.handshake_mark(), deadline, &mine)?;
        for (i, r) in client_results.iter_mut().enumerate() {
            ep.set_peer(QpId(i as u32), cfg.peer.unwrap_or(client))?;
            *r = theirs.get(2 * i + 1).copied();
        }
    }
    loop {
        let mut accept = |_: u32, _: SocketAddrV6| -> Option<Qp> { None };
        let before = ep.io.data_received;
        ep.step(1_000_000, &mut accept)?;
        if ep.io.data_received > before {
            let now = StdInstant::now();
            if first_data.is_none() {
                first_data = Some(now);
                ep.reset_gap();
            }
            last_data = now;
            moved = ep.io;
        }
        for qi in 0..ep.qps().len() {
            let Some(qp) = ep.qp_mut(QpId(qi as u32)) else {
                continue;
            };
            let qpn = qp.conn.config().qpn;
            let i = (qpn - SERVER_QPN) as usize;
            while let Some(e) = qp.conn.poll_event() {
                match e {
                    Event::RecvImm { imm, .. } if !replied[i] && checks[i].is_none() => {
                        checks[i] = Some(Check {
                            bytes: u64::from(imm) << 10,
                            off: 0,
                            digest: 0,
                            ok: true,
                        });
                    }
                    Event::SendComplete { .. } => done[i] = true,
                    _ => {}
                }
            }
        }
        // One MiB of checking per round: checking a QP's region in one go (~0.1 s per
        // 128 MiB) would stall every other QP's acknowledgements meanwhile, and their senders
        // would time out and resend what had arrived.
        if let Some(i) = (0..checks.len()).find(|&i| checks[i].is_some()) {
            let Some(qp) = ep.qp_mut(QpId(i as u32)) else {
                continue;
            };
            let Some(c) = checks.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            let data = qp.conn.regions().handles().next();
            let res = qp.conn.regions().handles().nth(1);
            let (Some(data), Some(res)) = (data, res) else {
                checks[i] = None;
                continue;
            };
            c.ok &= c.bytes <= data.len;
            if c.ok && c.off < c.bytes {
                let n = (c.bytes - c.off).min(1 << 20);
                let got = qp.conn.regions().read(data.addr + c.off, n).unwrap_or(&[]);
                let w = want.get_mut(..n as usize).unwrap_or(&mut []);
                pattern(cfg.seed, i as u32, c.off, w);
                c.ok &= got == &w[..];
                c.digest = digest(c.digest, got);
                c.off += n;
            }
            if !c.ok || c.off >= c.bytes {
                let (ok, d, bytes) = (c.ok, c.digest, c.bytes);
                checks[i] = None;
                all_ok &= ok;
                h ^= d;
                report.bytes += bytes;
                let _ = qp
                    .conn
                    .regions_mut()
                    .write_local(res.addr, &d.to_le_bytes());
                let target = client_results[i].or_else(|| {
                    let c = region_of(key_seed, CLIENT_QPN + i as u32, &[bytes, RESULT_LEN]);
                    c.get(1).copied()
                });
                if let Some(target) = target {
                    let wr = WriteRequest {
                        wr_id: 1,
                        local_addr: res.addr,
                        len: 8,
                        remote_addr: target.addr,
                        rkey: target.rkey,
                        imm: None,
                    };
                    qp.conn
                        .post_write_imm(wr, u32::from(ok))
                        .map_err(|e| NetError::Transfer(format!("reply: {e}")))?;
                    replied[i] = true;
                }
            }
        }
        if finished_at.is_none() && done.iter().all(|d| *d) {
            finished_at = Some(StdInstant::now());
        }
        if finished_at.is_some_and(|t| t.elapsed() > LINGER) {
            break;
        }
        if StdInstant::now() > deadline {
            return Err(NetError::Transfer(format!(
                "server deadline passed ({} of {} QPs done, {} data packets)",
                done.iter().filter(|d| **d).count(),
                cfg.qps,
                ep.io.data_received
            )));
        }
    }
    report.secs = first_data.map_or(0.0, |f| last_data.duration_since(f).as_secs_f64());
    report.verified = all_ok;
    report.digest = h;
    fill_report(&ep, &moved, &mut report, cpu0);
    Ok(report)
}

/// Runs one transfer to the server at `cfg.peer`; `hook` is called once per loop with the
/// elapsed time (used to pull links at set times).
pub fn run_client(cfg: &PerfConfig, hook: &mut dyn FnMut(StdDuration)) -> Result<PerfReport> {
    let peer = cfg
        .peer
        .ok_or_else(|| NetError::Transfer("client needs the server address".into()))?;
    if cfg.bytes == 0 || !cfg.bytes.is_multiple_of(1024) || cfg.write_size == 0 {
        return Err(NetError::Spec {
            field: "bytes",
            msg: "bytes must be a positive multiple of 1 KiB and write size positive".into(),
        });
    }
    let mut ep = cfg.endpoint()?;
    let mut src_digest = Vec::new();
    let mut posts = Vec::new();
    let key_seed = cfg.key_seed_or_os()?;
    let mut locals = Vec::new();
    for i in 0..cfg.qps {
        let qpn = CLIENT_QPN + i;
        let mut conn =
            Connection::new_rts(cfg.conn_config(qpn, SERVER_QPN + i, key_seed), cfg.attr())
                .map_err(|e| NetError::Transfer(format!("QP: {e}")))?;
        let data = conn.regions_mut().register(cfg.bytes);
        conn.regions_mut().register(RESULT_LEN);
        let mut chunk = vec![0u8; 1 << 20];
        let mut off = 0;
        let mut d = 0;
        while off < cfg.bytes {
            let n = (cfg.bytes - off).min(1 << 20) as usize;
            let c = chunk.get_mut(..n).unwrap_or(&mut []);
            pattern(cfg.seed, i, off, c);
            d = digest(d, c);
            conn.regions_mut().write_local(data.addr + off, c);
            off += n as u64;
        }
        src_digest.push(d);
        locals.push(data);
        ep.add_qp(Qp {
            conn,
            peer: Some(peer),
        })?;
    }
    // The server's data region of each QP: exchanged, or derived from the seed.
    let remote: Vec<RegionHandle> = match cfg.key_seed {
        Some(k) => (0..cfg.qps)
            .filter_map(|i| {
                region_of(k, SERVER_QPN + i, &[cfg.bytes, RESULT_LEN])
                    .first()
                    .copied()
            })
            .collect(),
        None => {
            let mine: Vec<RegionHandle> = ep
                .qps()
                .iter()
                .flat_map(|q| q.conn.regions().handles())
                .collect();
            let src = (cfg.mode == PathMode::Srv6).then_some(*cfg.bind.ip());
            let until = StdInstant::now() + cfg.deadline;
            let port = ep.local_addr()?.port();
            let theirs =
                crate::handshake::connect(src, peer, cfg.handshake_mark(), until, port, &mine)?;
            theirs.iter().step_by(2).copied().collect()
        }
    };
    for (&data, &rdata) in locals.iter().zip(&remote) {
        posts.push((0u64, data, rdata));
    }
    // CPU of the transfer only (not of filling the pattern).
    let cpu0 = crate::sys::thread_cpu_secs();
    let mut report = PerfReport::default();
    let deadline = StdInstant::now() + cfg.deadline;
    let start = StdInstant::now();
    let t0 = ep.now();
    ep.reset_gap();
    let mut moved = IoStats::default();
    let mut completed = vec![0u64; cfg.qps as usize];
    let mut posted = vec![0u64; cfg.qps as usize];
    let nwr = cfg.bytes.div_ceil(u64::from(cfg.write_size));
    let mut replies: Vec<Option<(bool, u64)>> = vec![None; cfg.qps as usize];
    let mut end: Option<StdInstant> = None;
    let mut finished: Option<StdInstant> = None;
    loop {
        // Keep up to 256 writes posted per QP.
        for (i, qp) in ep.qps_mut().iter_mut().enumerate() {
            let Some(&(_, data, rdata)) = posts.get(i) else {
                continue;
            };
            while posted[i] < nwr && posted[i] - completed[i] < 256 {
                let k = posted[i];
                let off = k * u64::from(cfg.write_size);
                let len = (cfg.bytes - off).min(u64::from(cfg.write_size)) as u32;
                let wr = WriteRequest {
                    wr_id: k,
                    local_addr: data.addr + off,
                    len,
                    remote_addr: rdata.addr + off,
                    rkey: rdata.rkey,
                    imm: (k + 1 == nwr).then_some((cfg.bytes >> 10) as u32),
                };
                if qp.conn.post_write(wr).is_err() {
                    break;
                }
                posted[i] += 1;
            }
        }
        ep.step(1_000_000, &mut |_, _| None)?;
        hook(start.elapsed());
        let ep_io = ep.io;
        for (i, qp) in ep.qps_mut().iter_mut().enumerate() {
            while let Some(e) = qp.conn.poll_event() {
                match e {
                    Event::SendComplete { status, .. } => {
                        if status != WcStatus::Success {
                            return Err(NetError::Transfer(format!(
                                "QP {i}: write completed with {status:?}"
                            )));
                        }
                        completed[i] += 1;
                        moved = ep_io;
                        if completed[i] == nwr {
                            end = Some(StdInstant::now());
                        }
                    }
                    Event::RecvImm { imm, .. } => {
                        let res = qp.conn.regions().handles().nth(1);
                        let d = res
                            .and_then(|r| qp.conn.regions().read(r.addr, 8))
                            .and_then(|b| <[u8; 8]>::try_from(b).ok())
                            .map_or(0, u64::from_le_bytes);
                        replies[i] = Some((imm == 1, d));
                    }
                    Event::EvState { ev, state, .. } => report.ev_changes.push(EvChange {
                        t: (ep_now_secs(start)),
                        ev,
                        good: state == EvState::Good,
                    }),
                    Event::QpError(r) => {
                        return Err(NetError::Transfer(format!("QP {i} went to ERROR: {r:?}")));
                    }
                    _ => {}
                }
            }
        }
        if replies.iter().all(Option::is_some) && completed.iter().all(|&c| c == nwr) {
            let done = *finished.get_or_insert_with(StdInstant::now);
            if done.elapsed() > LINGER {
                break;
            }
        }
        if StdInstant::now() > deadline {
            return Err(NetError::Transfer(format!(
                "client deadline passed: {} of {} writes complete, {} digests",
                completed.iter().sum::<u64>(),
                nwr * u64::from(cfg.qps),
                replies.iter().filter(|r| r.is_some()).count()
            )));
        }
    }
    let _ = t0;
    report.bytes = cfg.bytes * u64::from(cfg.qps);
    report.secs = end
        .unwrap_or_else(StdInstant::now)
        .duration_since(start)
        .as_secs_f64();
    report.verified = replies
        .iter()
        .zip(&src_digest)
        .all(|(r, d)| r.is_some_and(|(ok, got)| ok && got == *d));
    report.digest = src_digest.iter().fold(0, |a, d| a ^ d);
    fill_report(&ep, &moved, &mut report, cpu0);
    report.started = Some(start);
    Ok(report)
}

fn ep_now_secs(start: StdInstant) -> f64 {
    start.elapsed().as_secs_f64()
}

/// TCP baseline server: accepts one connection on `bind` (marking its packets with `mark`),
/// reads `bytes`, checks them against the pattern of QP 0.
pub fn tcp_server(
    bind: SocketAddrV6,
    mark: Option<u32>,
    seed: u64,
    deadline: StdDuration,
) -> Result<PerfReport> {
    let cpu0 = crate::sys::thread_cpu_secs();
    let l = TcpListener::bind(bind).map_err(|source| NetError::Io {
        what: format!("bind {bind}"),
        source,
    })?;
    if let Some(m) = mark {
        crate::sys::mark_listener(&l, m)?;
    }
    let io = |what: &'static str| {
        move |source| NetError::Io {
            what: what.into(),
            source,
        }
    };
    l.set_nonblocking(true).map_err(io("nonblocking"))?;
    let until = StdInstant::now() + deadline;
    let mut s = loop {
        match l.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && StdInstant::now() < until => {
                std::thread::sleep(StdDuration::from_millis(1));
            }
            Err(e) => return Err(io("accept")(e)),
        }
    };
    s.set_nonblocking(false).map_err(io("blocking"))?;
    let mut hdr = [0u8; 8];
    s.read_exact(&mut hdr).map_err(|source| NetError::Io {
        what: "read".into(),
        source,
    })?;
    let bytes = u64::from_le_bytes(hdr);
    let start = StdInstant::now();
    let mut buf = vec![0u8; 1 << 20];
    let mut want = vec![0u8; 1 << 20];
    let mut off = 0u64;
    let mut ok = true;
    let mut d = 0;
    let mut max_gap = StdDuration::ZERO;
    let mut last = StdInstant::now();
    s.set_read_timeout(Some(deadline)).ok();
    while off < bytes {
        let n = (bytes - off).min(1 << 20) as usize;
        let b = buf.get_mut(..n).unwrap_or(&mut []);
        s.read_exact(b).map_err(|source| NetError::Io {
            what: format!("read at byte {off}"),
            source,
        })?;
        let now = StdInstant::now();
        max_gap = max_gap.max(now - last);
        last = now;
        let w = want.get_mut(..n).unwrap_or(&mut []);
        pattern(seed, 0, off, w);
        ok &= b == w;
        d = digest(d, b);
        off += n as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = s.write_all(&d.to_le_bytes());
    Ok(PerfReport {
        bytes,
        secs,
        gbps: bytes as f64 * 8.0 / secs.max(1e-9) / 1e9,
        verified: ok,
        digest: d,
        cpu_secs: crate::sys::thread_cpu_secs() - cpu0,
        max_gap_ms: max_gap.as_secs_f64() * 1e3,
        started: Some(start),
        ..PerfReport::default()
    })
}

/// TCP baseline client: sends `bytes` of the QP-0 pattern, `mark` pins the path.
pub fn tcp_client(
    src: Option<Ipv6Addr>,
    dst: SocketAddrV6,
    mark: Option<u32>,
    bytes: u64,
    seed: u64,
    deadline: StdDuration,
) -> Result<PerfReport> {
    let cpu0 = crate::sys::thread_cpu_secs();
    let mut s = crate::sys::tcp_connect_marked(src, dst, mark)?;
    s.set_write_timeout(Some(deadline)).ok();
    s.set_read_timeout(Some(deadline)).ok();
    let io = |what: &str| {
        let what = what.to_owned();
        move |source| NetError::Io { what, source }
    };
    s.write_all(&bytes.to_le_bytes()).map_err(io("write"))?;
    let start = StdInstant::now();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0u64;
    let mut d = 0;
    while off < bytes {
        let n = (bytes - off).min(1 << 20) as usize;
        let b = buf.get_mut(..n).unwrap_or(&mut []);
        pattern(seed, 0, off, b);
        d = digest(d, b);
        s.write_all(b).map_err(io(&format!(
            "write at byte {off} after {:.1} s",
            start.elapsed().as_secs_f64()
        )))?;
        off += n as u64;
    }
    let mut back = [0u8; 8];
    s.read_exact(&mut back).map_err(io("read digest"))?;
    let secs = start.elapsed().as_secs_f64();
    Ok(PerfReport {
        bytes,
        secs,
        gbps: bytes as f64 * 8.0 / secs.max(1e-9) / 1e9,
        verified: u64::from_le_bytes(back) == d,
        digest: d,
        cpu_secs: crate::sys::thread_cpu_secs() - cpu0,
        started: Some(start),
        ..PerfReport::default()
    })
}

/// The loopback address with a port.
pub fn loopback(port: u16) -> SocketAddrV6 {
    SocketAddrV6::new(Ipv6Addr::LOCALHOST, port, 0, 0)
}

/// Runs a server and a client on two threads (each first entering its network namespace, if
/// given) and returns (server, client) reports. `hook` runs on the client thread.
pub fn run_pair(
    server: &PerfConfig,
    server_ns: Option<&str>,
    client: &PerfConfig,
    client_ns: Option<&str>,
    hook: &mut (dyn FnMut(StdDuration) + Send),
) -> Result<(PerfReport, PerfReport)> {
    std::thread::scope(|sc| {
        let srv = sc.spawn(move || {
            if let Some(ns) = server_ns {
                crate::sys::enter_netns(ns)?;
            }
            run_server(server)
        });
        // Let the server bind first.
        std::thread::sleep(StdDuration::from_millis(50));
        let cli = sc.spawn(move || {
            if let Some(ns) = client_ns {
                crate::sys::enter_netns(ns)?;
            }
            run_client(client, hook)
        });
        let c = cli
            .join()
            .map_err(|_| NetError::Transfer("client thread panicked".into()))?;
        let s = srv
            .join()
            .map_err(|_| NetError::Transfer("server thread panicked".into()))?;
        // Both sides' outcomes: which side stalled is the first thing to know.
        let why = |e: NetError| match e {
            NetError::Transfer(m) => m,
            e => e.to_string(),
        };
        match (s, c) {
            (Ok(s), Ok(c)) => Ok((s, c)),
            (Err(e), Ok(_)) => Err(NetError::Transfer(format!(
                "server: {} (the client finished)",
                why(e)
            ))),
            (Ok(_), Err(e)) => Err(NetError::Transfer(format!(
                "client: {} (the server finished)",
                why(e)
            ))),
            (Err(s), Err(c)) => Err(NetError::Transfer(format!(
                "server: {}; client: {}",
                why(s),
                why(c)
            ))),
        }
    })
}

/// A TCP baseline run.
#[derive(Clone, Copy, Debug)]
pub struct TcpConfig {
    /// Client source address (the NIC address in SRv6 mode).
    pub client_src: Option<Ipv6Addr>,
    /// Server address.
    pub server: SocketAddrV6,
    /// `SO_MARK` for both directions (pins the path to one EV).
    pub mark: Option<u32>,
    /// Bytes to send.
    pub bytes: u64,
    /// Pattern seed.
    pub seed: u64,
    /// Give up after this long without progress.
    pub deadline: StdDuration,
}

/// Runs the TCP baseline between two namespaces (server thread, client thread).
pub fn run_tcp_pair(
    cfg: &TcpConfig,
    server_ns: Option<&str>,
    client_ns: Option<&str>,
) -> Result<(PerfReport, PerfReport)> {
    let c = *cfg;
    std::thread::scope(|sc| {
        let srv = sc.spawn(move || {
            if let Some(ns) = server_ns {
                crate::sys::enter_netns(ns)?;
            }
            tcp_server(c.server, c.mark, c.seed, c.deadline)
        });
        std::thread::sleep(StdDuration::from_millis(50));
        let cli = sc.spawn(move || {
            if let Some(ns) = client_ns {
                crate::sys::enter_netns(ns)?;
            }
            tcp_client(c.client_src, c.server, c.mark, c.bytes, c.seed, c.deadline)
        });
        let cr = cli
            .join()
            .map_err(|_| NetError::Transfer("client thread panicked".into()))?;
        let sr = srv
            .join()
            .map_err(|_| NetError::Transfer("server thread panicked".into()))?;
        Ok((sr?, cr?))
    })
}
