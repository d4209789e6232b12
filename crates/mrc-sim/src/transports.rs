//! The real transports behind the [`Endpoint`] adapter: the `mrc-proto` MRC core (adaptive
//! load balancing or oblivious spraying). The simulator never re-implements protocol logic;
//! these adapters only register memory (bookkeeping-only regions) and split
//! writes larger than one work request.

use std::collections::VecDeque;

use mrc_proto::{
    Connection, ConnectionConfig, Duration, EvProfile, Event, Instant, LbMode, MrcQpAttr,
    PathProfile, PlaneEvs, PortMask, PostError, QpHint, Received, RegionHandle, Transmit,
    Transport, WcStatus, WriteRequest,
};

use crate::endpoint::{
    Endpoint, EndpointEvent, EndpointStats, FabricInfo, Nanos, PairInfo, Routing, TransportFactory,
};
use crate::rng::SplitMix64;

/// Largest single work request the adapter posts (bigger writes are split).
const MAX_WR: u64 = 1 << 30;

/// A `mrc-proto` [`Transport`] as a simulator [`Endpoint`].
#[derive(Debug)]
pub struct ProtoEndpoint<T: Transport> {
    conn: T,
    local: RegionHandle,
    remote: Option<RegionHandle>,
    /// Posted writes not yet completed, in post order: (caller's id, work requests left, ok).
    wrs: VecDeque<(u64, u64, bool)>,
    /// Byte ranges `(offset, len)` of the local region refused with a full send queue, posted
    /// as completions free slots. Kept as ranges, not work requests, so a huge write costs one
    /// entry rather than one per [`MAX_WR`].
    backlog: VecDeque<(u64, u64)>,
    error: bool,
}

impl<T: Transport> ProtoEndpoint<T> {
    /// Wraps a connection in RTS; `remote` is the peer's region (requester side).
    pub fn new(mut conn: T, len: u64, remote: Option<RegionHandle>) -> Self {
        let local = conn.regions_mut().register_virtual(len.max(1));
        Self {
            conn,
            local,
            remote,
            wrs: VecDeque::new(),
            backlog: VecDeque::new(),
            error: false,
        }
    }

    /// The local region (the responder's is the target of the writes).
    pub fn region(&self) -> RegionHandle {
        self.local
    }

    /// The wrapped connection.
    pub fn conn(&self) -> &T {
        &self.conn
    }
}

impl<T: Transport> ProtoEndpoint<T> {
    /// The first work request (at most [`MAX_WR`] bytes) of `len` bytes at `offset` of the
    /// regions; `None` on the responder side (no remote region).
    fn request(&self, offset: u64, len: u64) -> Option<WriteRequest> {
        let remote = self.remote?;
        let n = len.min(MAX_WR);
        Some(WriteRequest {
            wr_id: offset / MAX_WR,
            local_addr: self.local.addr + offset,
            len: n as u32,
            remote_addr: remote.addr + offset,
            rkey: remote.rkey,
            imm: None,
        })
    }

    /// Posts backlogged work requests while the send queue has room.
    fn drain_backlog(&mut self) {
        while let Some(&(off, len)) = self.backlog.front() {
            let Some(wr) = self.request(off, len) else {
                self.backlog.clear();
                return;
            };
            match self.conn.post_write(wr) {
                Ok(()) => {
                    let n = u64::from(wr.len);
                    if n == len {
                        self.backlog.pop_front();
                    } else if let Some(f) = self.backlog.front_mut() {
                        *f = (off + n, len - n);
                    }
                }
                Err(PostError::QueueFull) => return,
                Err(_) => {
                    // The QP left RTS: these never go out; their writes fail with the QP.
                    self.backlog.clear();
                    return;
                }
            }
        }
    }
}

/// Whether the oldest posted write has no work request left.
fn front_done(wrs: &VecDeque<(u64, u64, bool)>) -> bool {
    wrs.front().is_some_and(|w| w.1 == 0)
}

impl<T: Transport + crate::sim::record::EvCounts> Endpoint for ProtoEndpoint<T> {
    fn handle_packet(&mut self, now: Nanos, pkt: &Received<'_>) {
        self.conn.handle_packet(Instant::from_nanos(now), pkt);
    }

    fn handle_timeout(&mut self, now: Nanos) {
        self.conn.handle_timeout(Instant::from_nanos(now));
    }

    fn poll_transmit(&mut self, now: Nanos, ready: u32) -> Option<Transmit> {
        self.conn
            .poll_transmit(Instant::from_nanos(now), PortMask(ready))
    }

    fn poll_timeout(&self) -> Option<Nanos> {
        self.conn.poll_timeout().map(Instant::as_nanos)
    }

    fn poll_event(&mut self) -> Option<EndpointEvent> {
        while let Some(e) = self.conn.poll_event() {
            match e {
                Event::SendComplete { status, .. } => {
                    let Some(front) = self.wrs.front_mut() else {
                        continue;
                    };
                    front.2 &= status == WcStatus::Success;
                    front.1 = front.1.saturating_sub(1);
                    self.drain_backlog();
                    if front_done(&self.wrs) {
                        let (wr_id, _, ok) = self.wrs.pop_front().unwrap_or_default();
                        return Some(EndpointEvent::Completed { wr_id, ok });
                    }
                }
                Event::QpError(_) if !self.error => {
                    self.error = true;
                    return Some(EndpointEvent::QpError);
                }
                Event::EvState { ev, state, .. } => {
                    return Some(EndpointEvent::EvState {
                        ev,
                        good: state == mrc_proto::EvState::Good,
                    });
                }
                _ => {}
            }
        }
        if self.error && self.conn.outstanding() == 0 {
            // Work requests the QP never accepted (backlog) fail with it.
            self.backlog.clear();
            if let Some((wr_id, _, _)) = self.wrs.pop_front() {
                return Some(EndpointEvent::Completed { wr_id, ok: false });
            }
        }
        None
    }

    fn post_write(&mut self, wr_id: u64, len: u64) -> bool {
        self.post_write_at(wr_id, 0, len)
    }

    fn post_write_at(&mut self, wr_id: u64, offset: u64, len: u64) -> bool {
        if self.remote.is_none() {
            return false;
        }
        let total = len.div_ceil(MAX_WR);
        let mut parts = 0;
        let mut off = 0;
        while off < len {
            if !self.backlog.is_empty() {
                self.backlog.push_back((offset + off, len - off));
                break;
            }
            let Some(wr) = self.request(offset + off, len - off) else {
                return false;
            };
            match self.conn.post_write(wr) {
                Ok(()) => {}
                Err(PostError::QueueFull) => {
                    self.backlog.push_back((offset + off, len - off));
                    break;
                }
                Err(_) if parts == 0 => return false,
                Err(_) => {
                    // Part of the write was accepted: it completes (failed) with them.
                    self.wrs.push_back((wr_id, parts, false));
                    return true;
                }
            }
            parts += 1;
            off += u64::from(wr.len);
        }
        self.wrs.push_back((wr_id, total, true));
        true
    }

    fn port_status(&mut self, now: Nanos, port: u8, up: bool) {
        self.conn
            .handle_port_status(Instant::from_nanos(now), port, up);
    }

    fn ev_counts(&self) -> [u32; 3] {
        self.conn.ev_counts()
    }

    fn stats(&self) -> EndpointStats {
        let s = self.conn.stats();
        EndpointStats {
            data_sent: s.data_sent,
            retransmitted: s.data_retransmitted,
            control_sent: s.control_sent,
            bytes_placed: s.bytes_placed,
            ev_retired: s.ev_retired,
            ev_resurrected: s.ev_resurrected,
            spurious_retransmits: s.spurious_retransmits,
            probes_sent: s.probes_sent,
        }
    }
}

/// Settings of the MRC transport in the simulator.
#[derive(Clone, Copy, Debug)]
pub struct MrcSettings {
    /// Adaptive MRC or oblivious spraying (ablation).
    pub lb: LbMode,
    /// Active EVs per plane (capped by the T0 uplinks in SRv6 mode).
    pub active_per_plane: u32,
    /// Backup EVs per plane.
    pub backup_per_plane: u32,
    /// QP attributes (`mpr` / `mpr_dest` are replaced by [`MrcSettings::mpr`]).
    pub attr: MrcQpAttr,
    /// Max PSN range in units of 128 PSNs; `None` = enough for 4 × the NIC's bandwidth-delay
    /// product (at least 1, at most the API default 8).
    pub mpr: Option<u8>,
}

impl Default for MrcSettings {
    fn default() -> Self {
        Self {
            lb: LbMode::Adaptive,
            active_per_plane: 32,
            backup_per_plane: 8,
            attr: MrcQpAttr::default(),
            mpr: None,
        }
    }
}

/// Makes MRC (or oblivious-spray) QP pairs from the real `mrc-proto` core.
#[derive(Clone, Copy, Debug, Default)]
pub struct MrcFactory(pub MrcSettings);

impl MrcFactory {
    fn ev_profile(&self, f: &FabricInfo, seed: u64) -> EvProfile {
        let s = &self.0;
        if f.routing == Routing::Ecmp {
            // Hashed EVs (STEV/ECMP mode): any 32-bit values name paths by hash.
            return EvProfile::sequential(1, f.planes, s.active_per_plane, s.backup_per_plane);
        }
        let n = f.uplinks.max(1);
        let mut rng = SplitMix64::new(seed);
        let planes: Vec<PlaneEvs> = (0..u32::from(f.planes))
            .map(|p| {
                let mut idx: Vec<u32> = (0..n).collect();
                for i in (1..idx.len()).rev() {
                    idx.swap(i, rng.below(i as u64 + 1) as usize);
                }
                let a = s.active_per_plane.min(n) as usize;
                let b = (s.backup_per_plane as usize).min(n as usize - a);
                let ev = |j: &u32| (p << f.uplink_bits) | j;
                PlaneEvs {
                    active: idx[..a].iter().map(ev).collect(),
                    backup: idx[a..a + b].iter().map(ev).collect(),
                }
            })
            .collect();
        let total: u32 = planes.iter().map(|p| p.active.len() as u32).sum();
        EvProfile {
            id: 1,
            planes,
            ev_min_active: total / 4,
        }
    }

    /// The QP's configuration, from the core's one constructor ([`PathProfile`]): NSCC for
    /// the NIC's line rate (all lanes) and the fabric's base RTT, this fabric's EVs.
    fn config(&self, f: &FabricInfo, qpn: u32, peer: u32, seed: u64) -> ConnectionConfig {
        let ev = self.ev_profile(f, seed);
        let rate = u64::from(f.lane_gbps) * u64::from(f.planes) * 1_000_000_000;
        let profile = PathProfile {
            ev_min_active: Some(ev.ev_min_active),
            trimming: f.trimming,
            ..PathProfile::new(ev.planes, rate, Duration::from_nanos(f.base_rtt_ns), f.mtu)
        };
        let mut c = profile.conn_config(qpn, peer, seed);
        c.ev_profile.id = ev.id;
        c.lb_mode = self.0.lb;
        c
    }
}

/// Why an MRC pair could not be created.
fn rts(cfg: ConnectionConfig, attr: MrcQpAttr) -> Connection {
    match Connection::new_rts(cfg.clone(), attr) {
        Ok(c) => c,
        // The attributes are the defaults checked by mrc-proto's own tests; a refusal leaves
        // the QP in RESET, where posting fails and the pair is reported as failed.
        Err(_) => Connection::new(cfg),
    }
}

impl TransportFactory for MrcFactory {
    type Ep = ProtoEndpoint<Connection>;

    fn name(&self) -> String {
        match self.0.lb {
            LbMode::Adaptive => "mrc".into(),
            LbMode::Oblivious => "spray".into(),
        }
    }

    fn routing(&self) -> Routing {
        Routing::Srv6
    }

    fn make_pair(&mut self, f: &FabricInfo, p: &PairInfo) -> (Self::Ep, Self::Ep, u64) {
        let (qa, qb) = p.qpn;
        let mut attr = self.0.attr;
        let mpr = self.0.mpr.unwrap_or_else(|| {
            let psns = (4 * f.bdp_bytes).div_ceil(u64::from(f.mtu.max(1)));
            psns.div_ceil(128).clamp(1, 8) as u8
        });
        attr.mpr = mpr;
        attr.mpr_dest = mpr;
        if p.recv_peers > 1 {
            attr.hint = Some(QpHint {
                num_remote_recv_peers: p.recv_peers,
                num_send_peers: p.send_peers,
                ..QpHint::default()
            });
        }
        let a = rts(self.config(f, qa, qb, p.seed), attr);
        let b = rts(self.config(f, qb, qa, p.seed ^ 0xABCD), attr);
        let responder = ProtoEndpoint::new(b, p.bytes, None);
        let remote = responder.region();
        let requester = ProtoEndpoint::new(a, p.bytes, Some(remote));
        (requester, responder, remote.addr)
    }
}
