//! The MRC transport of the simulator: the `mrc-proto` core (adaptive load balancing or
//! oblivious spraying) configured for the simulated fabric. Nothing here re-implements
//! protocol logic; it only chooses EVs and sizes the QP for the fabric.

use mrc_proto::roce::DcqcnConfig;
use mrc_proto::{
    CcAlgorithm, Connection, ConnectionConfig, DcqcnCcConfig, Duration, EvProfile, LbMode,
    MrcQpAttr, PathProfile, PlaneEvs, QpHint,
};

use crate::factory::{FabricInfo, PairInfo, Routing, TransportFactory};
use crate::rng::SplitMix64;

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
    /// Give each QP the hint its flow list implies (`num_remote_recv_peers`, `num_send_peers`),
    /// as an application that knows its traffic would; false: no hint (ablation).
    pub qp_hint: bool,
    /// The QPs' congestion control.
    pub cc: MrcCc,
}

/// Congestion control of the simulator's MRC QPs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum MrcCc {
    /// NSCC sized for the NIC and the fabric ([`PathProfile`]).
    #[default]
    Nscc,
    /// DCQCN with these parameters, at the NIC's line rate, window = rate × base RTT.
    Dcqcn(DcqcnConfig),
}

impl Default for MrcSettings {
    fn default() -> Self {
        Self {
            lb: LbMode::Adaptive,
            active_per_plane: 32,
            backup_per_plane: 8,
            attr: MrcQpAttr::default(),
            mpr: None,
            qp_hint: true,
            cc: MrcCc::Nscc,
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

    /// The QP's configuration, from the core's one constructor ([`PathProfile`]): NSCC (or
    /// DCQCN) for the NIC's line rate (all lanes) and the fabric's base RTT, this fabric's EVs.
    fn config(&self, f: &FabricInfo, qpn: u32, peer: u32, seed: u64) -> ConnectionConfig {
        let ev = self.ev_profile(f, seed);
        let rate = line_rate_bps(f);
        let profile = PathProfile {
            ev_min_active: Some(ev.ev_min_active),
            trimming: f.trimming,
            ..PathProfile::new(ev.planes, rate, Duration::from_nanos(f.base_rtt_ns), f.mtu)
        };
        let mut c = profile.conn_config(qpn, peer, seed);
        c.ev_profile.id = ev.id;
        c.lb_mode = self.0.lb;
        if let MrcCc::Dcqcn(dcqcn) = self.0.cc {
            c.cc_profile.algorithm = CcAlgorithm::Dcqcn(DcqcnCcConfig {
                dcqcn,
                line_rate_bps: rate,
                base_rtt: Duration::from_nanos(f.base_rtt_ns),
            });
        }
        c
    }
}

/// The NIC's line rate (all lanes), bit/s.
fn line_rate_bps(f: &FabricInfo) -> u64 {
    u64::from(f.lane_gbps) * u64::from(f.planes) * 1_000_000_000
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
    type Conn = Connection;

    fn name(&self) -> String {
        match self.0.lb {
            LbMode::Adaptive => "mrc".into(),
            LbMode::Oblivious => "spray".into(),
        }
    }

    fn routing(&self) -> Routing {
        Routing::Srv6
    }

    fn make_pair(&mut self, f: &FabricInfo, p: &PairInfo) -> (Connection, Connection) {
        let (qa, qb) = p.qpn;
        let mut attr = self.0.attr;
        let mpr = self.0.mpr.unwrap_or_else(|| {
            PathProfile::new(
                Vec::new(),
                line_rate_bps(f),
                Duration::from_nanos(f.base_rtt_ns),
                f.mtu,
            )
            .mpr()
        });
        attr.mpr = mpr;
        attr.mpr_dest = mpr;
        if self.0.qp_hint && p.recv_peers > 1 {
            attr.hint = Some(QpHint {
                num_remote_recv_peers: p.recv_peers,
                num_send_peers: p.send_peers,
                ..QpHint::default()
            });
        }
        let a = rts(self.config(f, qa, qb, p.seed), attr);
        let b = rts(self.config(f, qb, qa, p.seed ^ 0xABCD), attr);
        (a, b)
    }
}
