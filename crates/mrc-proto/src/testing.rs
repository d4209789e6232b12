//! A two-endpoint harness with virtual time and an in-memory network of N paths
//! (`docs/rust-models.md` §2.6, quinn's `Pair`). Each path has its own latency, rate, queue (ECN
//! marking and trimming or drop-tail above thresholds), random loss, ECN, trimming, reordering,
//! duplication and a black-hole switch. EV `n` travels on path `n % paths`.
//!
//! Used by the crate's tests and benchmark; the simulator has its own fabric model.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use mrc_wire::mrc::Body;

use crate::rng::Rng;
use crate::time::{Duration, Instant};
use crate::{
    ConnectionConfig, Event, MrcQpAttr, PortMask, Received, Stats, Transmit, Transport, Trim,
};

/// Bytes added to every packet on the wire (Ethernet 14 + FCS 4 + IPv6 40 + UDP 8).
pub const WIRE_OVERHEAD: u64 = 66;

/// One path of the in-memory network (both directions share the knobs, not the queue).
#[derive(Debug, Clone, PartialEq)]
pub struct PathConfig {
    /// One-way propagation latency.
    pub latency: Duration,
    /// Bottleneck rate of the path, bits/s.
    pub rate_bps: u64,
    /// Queue above which data packets are trimmed (or dropped if `trimming` is off), bytes.
    pub queue_bytes: u64,
    /// Queue above which data packets are ECN-marked, bytes (u64::MAX = never).
    pub ecn_bytes: u64,
    /// Trim instead of drop on overflow.
    pub trimming: bool,
    /// Trims on this path are reported as last-hop trims.
    pub last_hop: bool,
    /// Random loss probability (any packet).
    pub loss: f64,
    /// Random ECN-CE marking probability (data packets).
    pub ecn: f64,
    /// Random trimming probability (data packets).
    pub trim: f64,
    /// Random duplication probability.
    pub dup: f64,
    /// Probability that a packet is delayed by up to `reorder_delay` extra.
    pub reorder: f64,
    /// Largest extra delay of a reordered packet.
    pub reorder_delay: Duration,
    /// Silently drops everything.
    pub black_hole: bool,
}

impl Default for PathConfig {
    fn default() -> Self {
        Self {
            latency: Duration::from_micros(2),
            rate_bps: 100_000_000_000,
            queue_bytes: 150_000,
            ecn_bytes: 30_000,
            trimming: true,
            last_hop: false,
            loss: 0.0,
            ecn: 0.0,
            trim: 0.0,
            dup: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_micros(5),
            black_hole: false,
        }
    }
}

/// The network between the two endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    /// Paths; EV n uses path n % len.
    pub paths: Vec<PathConfig>,
    /// NIC ports (= planes) per endpoint.
    pub ports: u8,
    /// Rate of each NIC port, bits/s.
    pub port_rate_bps: u64,
    /// Carry payload bytes (and copy them into the receiver's regions).
    pub carry_payload: bool,
    /// Keep every event in [`Harness::events`] (otherwise only counted).
    pub keep_events: bool,
    /// Seed of the network's randomness.
    pub seed: u64,
}

impl NetConfig {
    /// `n` identical paths over `ports` ports.
    pub fn uniform(n: usize, ports: u8, port_rate_bps: u64, path: PathConfig) -> Self {
        Self {
            paths: vec![path; n.max(1)],
            ports,
            port_rate_bps,
            carry_payload: true,
            keep_events: true,
            seed: 1,
        }
    }
}

/// What the network did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetStats {
    /// Packets delivered.
    pub delivered: u64,
    /// Packets dropped (random loss or queue overflow without trimming).
    pub dropped: u64,
    /// Packets dropped by black holes.
    pub black_holed: u64,
    /// Data packets trimmed.
    pub trimmed: u64,
    /// Data packets ECN-marked.
    pub ecn_marked: u64,
    /// Packets duplicated.
    pub duplicated: u64,
}

#[derive(Debug)]
struct Flight {
    to: usize,
    tx: Transmit,
    ecn: bool,
    trim: Option<Trim>,
    payload: Option<Vec<u8>>,
}

/// Two endpoints and the network between them, in virtual time.
#[derive(Debug)]
pub struct Harness<T: Transport> {
    /// The endpoints (0 = A, 1 = B).
    pub ends: [T; 2],
    /// Current virtual time.
    pub now: Instant,
    /// The network (may be changed between steps: black holes, loss, …).
    pub net: NetConfig,
    /// Network counters.
    pub net_stats: NetStats,
    /// Events of each endpoint (if `keep_events`).
    pub events: [Vec<Event>; 2],
    /// Successful send completions of each endpoint.
    pub completions: [u64; 2],
    queue: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    slots: Vec<Option<Flight>>,
    free: Vec<usize>,
    seq: u64,
    path_free: Vec<[Instant; 2]>,
    port_free: [[Instant; 32]; 2],
    rng: Rng,
}

impl<T: Transport> Harness<T> {
    /// A harness at time zero.
    pub fn new(a: T, b: T, net: NetConfig) -> Self {
        let n = net.paths.len();
        Self {
            ends: [a, b],
            now: Instant::ZERO,
            rng: Rng::new(net.seed),
            net,
            net_stats: NetStats::default(),
            events: [Vec::new(), Vec::new()],
            completions: [0; 2],
            queue: BinaryHeap::with_capacity(4096),
            slots: Vec::with_capacity(4096),
            free: Vec::with_capacity(4096),
            seq: 0,
            path_free: vec![[Instant::ZERO; 2]; n],
            port_free: [[Instant::ZERO; 32]; 2],
        }
    }

    fn ready(&self, side: usize) -> PortMask {
        let mut m = 0u32;
        for (p, t) in self.port_free[side]
            .iter()
            .enumerate()
            .take(usize::from(self.net.ports.min(32)))
        {
            if *t <= self.now {
                m |= 1 << p;
            }
        }
        PortMask(m)
    }

    fn schedule(&mut self, at: Instant, f: Flight) {
        let slot = match self.free.pop() {
            Some(s) => {
                if let Some(x) = self.slots.get_mut(s) {
                    *x = Some(f);
                }
                s
            }
            None => {
                self.slots.push(Some(f));
                self.slots.len() - 1
            }
        };
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, slot)));
    }

    fn send(&mut self, side: usize, tx: Transmit) {
        let len = tx.wire_len() as u64 + WIRE_OVERHEAD;
        let port = usize::from(tx.port).min(31);
        let depart = self.now + Duration::for_bytes(len, self.net.port_rate_bps);
        if let Some(pf) = self.port_free[side].get_mut(port) {
            *pf = depart;
        }
        let npaths = self.net.paths.len().max(1);
        let pi = tx.ev as usize % npaths;
        let Some(pc) = self.net.paths.get(pi).cloned() else {
            return;
        };
        if pc.black_hole {
            self.net_stats.black_holed += 1;
            return;
        }
        if self.rng.chance(pc.loss) {
            self.net_stats.dropped += 1;
            return;
        }
        let is_data = matches!(tx.repr.body, Body::Write(_));
        let free = self.path_free.get(pi).map_or(Instant::ZERO, |f| f[side]);
        let start = depart.max(free);
        let backlog = (start.saturating_since(depart).as_nanos() as u128 * pc.rate_bps as u128
            / 8_000_000_000) as u64;
        let mut trim = None;
        let mut ecn = false;
        if is_data {
            if backlog > pc.queue_bytes || self.rng.chance(pc.trim) {
                if pc.trimming || backlog <= pc.queue_bytes {
                    trim = Some(if pc.last_hop {
                        Trim::LastHop
                    } else {
                        Trim::Fabric
                    });
                    self.net_stats.trimmed += 1;
                } else {
                    self.net_stats.dropped += 1;
                    return;
                }
            }
            if trim.is_none() && (backlog > pc.ecn_bytes || self.rng.chance(pc.ecn)) {
                ecn = true;
                self.net_stats.ecn_marked += 1;
            }
        }
        let mut arrive = if trim.is_some() || !is_data {
            // Headers and control packets: strict-priority, no queueing.
            depart + Duration::for_bytes(64 + WIRE_OVERHEAD, pc.rate_bps) + pc.latency
        } else {
            let done = start + Duration::for_bytes(len, pc.rate_bps);
            if let Some(f) = self.path_free.get_mut(pi) {
                f[side] = done;
            }
            done + pc.latency
        };
        if self.rng.chance(pc.reorder) {
            arrive += Duration::from_nanos(self.rng.below(pc.reorder_delay.as_nanos() + 1));
        }
        let mut tx = tx;
        if trim.is_some()
            && let Body::Write(w) = &mut tx.repr.body
        {
            w.payload_len = 0;
        }
        let payload = match (self.net.carry_payload, trim, tx.payload) {
            (true, None, Some(p)) => self.ends[side]
                .regions()
                .read(p.addr, u64::from(p.len))
                .map(<[u8]>::to_vec),
            _ => None,
        };
        let dup = self.rng.chance(pc.dup);
        if dup {
            self.net_stats.duplicated += 1;
            let extra = Duration::from_nanos(self.rng.below(1_000) + 1);
            self.schedule(
                arrive + extra,
                Flight {
                    to: 1 - side,
                    tx,
                    ecn,
                    trim,
                    payload: payload.clone(),
                },
            );
        }
        self.schedule(
            arrive,
            Flight {
                to: 1 - side,
                tx,
                ecn,
                trim,
                payload,
            },
        );
    }

    fn drain_events(&mut self, side: usize) {
        while let Some(e) = self.ends[side].poll_event() {
            if let Event::SendComplete {
                status: crate::WcStatus::Success,
                ..
            } = e
            {
                self.completions[side] += 1;
            }
            if self.net.keep_events {
                self.events[side].push(e);
            }
        }
    }

    /// Runs everything due at `now`, then advances `now` to the next thing to do.
    /// Returns false when nothing is left to do at any time (idle).
    pub fn step(&mut self) -> bool {
        while let Some(Reverse((t, _, slot))) = self.queue.peek().copied() {
            if t > self.now {
                break;
            }
            self.queue.pop();
            let f = self.slots.get_mut(slot).and_then(Option::take);
            self.free.push(slot);
            if let Some(f) = f {
                self.net_stats.delivered += 1;
                let rx = Received {
                    repr: f.tx.repr,
                    ev: f.tx.ev,
                    port: f.tx.port,
                    ecn_ce: f.ecn,
                    trim: f.trim,
                    payload: f.payload.as_deref(),
                };
                self.ends[f.to].handle_packet(self.now, &rx);
            }
        }
        for side in 0..2 {
            if self.ends[side]
                .poll_timeout()
                .is_some_and(|t| t <= self.now)
            {
                self.ends[side].handle_timeout(self.now);
            }
            loop {
                let ready = self.ready(side);
                if ready.0 == 0 {
                    break;
                }
                match self.ends[side].poll_transmit(self.now, ready) {
                    Some(tx) => self.send(side, tx),
                    None => break,
                }
            }
            self.drain_events(side);
        }
        let mut next: Option<Instant> = self.queue.peek().map(|Reverse((t, _, _))| *t);
        let mut consider = |t: Instant| {
            next = Some(next.map_or(t, |n: Instant| n.min(t)));
        };
        for side in 0..2 {
            if let Some(t) = self.ends[side].poll_timeout() {
                consider(t.max(self.now + Duration::from_nanos(1)));
            }
            for &pf in &self.port_free[side] {
                if pf > self.now {
                    consider(pf);
                }
            }
        }
        match next {
            Some(t) => {
                self.now = t.max(self.now);
                true
            }
            None => false,
        }
    }

    /// Steps until `done(self)` holds, the harness is idle, or `deadline` passes.
    /// Returns whether `done` held.
    pub fn run_until(&mut self, deadline: Instant, mut done: impl FnMut(&Self) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            if self.now > deadline || !self.step() {
                return done(self);
            }
        }
    }

    /// Counters of an endpoint.
    pub fn stats(&self, side: usize) -> &Stats {
        self.ends[side].stats()
    }
}

/// Configs of a symmetric MRC pair (QPNs 0x11 and 0x22) with a sequential EV profile of
/// `planes × (active + backup)` EVs and NSCC sized for `planes × port_rate` and `base_rtt`.
pub fn mrc_pair_configs(
    seed: u64,
    planes: u8,
    active: u32,
    backup: u32,
    port_rate_bps: u64,
    base_rtt: Duration,
) -> (ConnectionConfig, ConnectionConfig) {
    let mk = |qpn, peer, s| {
        let mut c = ConnectionConfig::new(qpn, peer, s);
        c.ev_profile = crate::EvProfile::sequential(1, planes, active, backup);
        c.base_rtt = base_rtt;
        c.cc_profile = crate::CcProfile {
            id: 1,
            algorithm: crate::CcAlgorithm::Nscc(crate::NsccConfig::for_network(
                port_rate_bps * u64::from(planes),
                base_rtt,
                c.mtu,
                true,
            )),
        };
        c
    };
    (mk(0x11, 0x22, seed), mk(0x22, 0x11, seed ^ 0xABCD))
}

/// An MRC pair in RTS over `net`, with `attr` on both sides.
pub fn mrc_harness(
    a: ConnectionConfig,
    b: ConnectionConfig,
    attr: MrcQpAttr,
    net: NetConfig,
) -> Harness<crate::Connection> {
    let ca = crate::Connection::new_rts(a, attr);
    let cb = crate::Connection::new_rts(b, attr);
    match (ca, cb) {
        (Ok(a), Ok(b)) => Harness::new(a, b, net),
        (Err(e), _) | (_, Err(e)) => panic!("bad QP attributes: {e}"),
    }
}
