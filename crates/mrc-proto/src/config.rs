//! QP attributes (OCP `mrc_qp_attr` names and units), EV and CC profiles, connection config.
//!
//! //= docs/protocol.md §3.2–§3.3, §3.7: attribute names, units and limits follow the OCP API.

use std::sync::Arc;

use crate::cc::{CcFactory, CongestionControl, DcqcnCcConfig, FixedWindow, NsccConfig};
use crate::rng::Rng;
use crate::time::Duration;

/// QP states of the verbs state machine: RESET → INIT → RTR → RTS (→ ERROR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QpState {
    /// Just created; nothing is sent or accepted.
    Reset,
    /// Profiles bound; nothing is sent or accepted.
    Init,
    /// Ready to receive: the responder accepts writes and answers with SACK/NACK.
    Rtr,
    /// Ready to send: writes may be posted.
    Rts,
    /// Fatal error: everything flushed, nothing sent or accepted.
    Error,
}

/// `mrc_qp_attr_mask` bits (`docs/protocol.md` §3.2).
pub mod attr_mask {
    /// `MRC_QP_MAX_WIMM`.
    pub const MAX_WIMM: u32 = 1 << 0;
    /// `MRC_QP_MAX_WIMM_DEST`.
    pub const MAX_WIMM_DEST: u32 = 1 << 1;
    /// `MRC_QP_MPR`.
    pub const MPR: u32 = 1 << 2;
    /// `MRC_QP_MPR_DEST`.
    pub const MPR_DEST: u32 = 1 << 3;
    /// `MRC_QP_TIMEOUT`.
    pub const TIMEOUT: u32 = 1 << 4;
    /// `MRC_QP_EV_PROFILE_ID`.
    pub const EV_PROFILE_ID: u32 = 1 << 5;
    /// `MRC_QP_CC_PROFILE_ID`.
    pub const CC_PROFILE_ID: u32 = 1 << 6;
    /// `MRC_QP_HINT`.
    pub const HINT: u32 = 1 << 7;
    /// `MRC_QP_RETRY_CNT`.
    pub const RETRY_CNT: u32 = 1 << 8;
    /// `MRC_QP_CAP`.
    pub const CAP: u32 = 1 << 9;
    /// `MRC_QP_VENDOR_CFG` (accepted and ignored).
    pub const VENDOR_CFG: u32 = 1 << 31;
    /// Bits required for RESET → INIT.
    pub const INIT_REQUIRED: u32 = HINT | EV_PROFILE_ID | CC_PROFILE_ID;
    /// Bits required for INIT → RTR.
    pub const RTR_REQUIRED: u32 = MAX_WIMM_DEST | MPR_DEST | CAP;
    /// Bits required for RTR → RTS.
    pub const RTS_REQUIRED: u32 = MAX_WIMM | MPR | RETRY_CNT | TIMEOUT;
}

/// `ibv_qp_attr_mask` bits that MRC rejects (replaced by MRC attributes or meaningless).
pub mod ibv_mask {
    /// `IBV_QP_STATE` (allowed).
    pub const STATE: u32 = 1 << 0;
    /// `IBV_QP_PORT` (rejected).
    pub const PORT: u32 = 1 << 5;
    /// `IBV_QP_AV` (allowed; SGID comes from the context).
    pub const AV: u32 = 1 << 7;
    /// `IBV_QP_TIMEOUT` (rejected: use `MRC_QP_TIMEOUT`).
    pub const TIMEOUT: u32 = 1 << 9;
    /// `IBV_QP_RETRY_CNT` (rejected: use `MRC_QP_RETRY_CNT`).
    pub const RETRY_CNT: u32 = 1 << 10;
    /// `IBV_QP_RNR_RETRY` (rejected: MRC has no RNR).
    pub const RNR_RETRY: u32 = 1 << 11;
    /// `IBV_QP_MAX_QP_RD_ATOMIC` (rejected).
    pub const MAX_QP_RD_ATOMIC: u32 = 1 << 13;
    /// `IBV_QP_ALT_PATH` (rejected).
    pub const ALT_PATH: u32 = 1 << 14;
    /// `IBV_QP_MIN_RNR_TIMER` (rejected).
    pub const MIN_RNR_TIMER: u32 = 1 << 15;
    /// `IBV_QP_MAX_DEST_RD_ATOMIC` (rejected).
    pub const MAX_DEST_RD_ATOMIC: u32 = 1 << 17;
    /// `IBV_QP_PATH_MIG_STATE` (rejected).
    pub const PATH_MIG_STATE: u32 = 1 << 18;
    /// Every rejected bit with its verbs name.
    pub const REJECTED: [(u32, &str); 9] = [
        (PORT, "IBV_QP_PORT"),
        (TIMEOUT, "IBV_QP_TIMEOUT"),
        (RETRY_CNT, "IBV_QP_RETRY_CNT"),
        (RNR_RETRY, "IBV_QP_RNR_RETRY"),
        (MIN_RNR_TIMER, "IBV_QP_MIN_RNR_TIMER"),
        (MAX_QP_RD_ATOMIC, "IBV_QP_MAX_QP_RD_ATOMIC"),
        (MAX_DEST_RD_ATOMIC, "IBV_QP_MAX_DEST_RD_ATOMIC"),
        (ALT_PATH, "IBV_QP_ALT_PATH"),
        (PATH_MIG_STATE, "IBV_QP_PATH_MIG_STATE"),
    ];
}

/// `mrc_qp_cap` bits.
pub mod qp_cap {
    /// The peer cannot emit trim NACKs.
    pub const TRIM_NACK_DEST_UNSUPPORTED: u32 = 1 << 0;
    /// Dynamic MPR (effective only if both peers enable it).
    pub const DYNAMIC_MPR: u32 = 1 << 1;
    /// The peer cannot report service time.
    pub const SVC_TIME_DEST_UNSUPPORTED: u32 = 1 << 2;
}

/// Retry counts (`mrc_qp_attr.retry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Retry {
    /// Fixed-interval retries (≤ 7).
    pub linear_cnt: u8,
    /// Exponential-backoff retries after the linear ones (≤ 25; 25 = never give up).
    pub exp_cnt: u8,
}

/// `mrc_qp_hint_attr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct QpHint {
    /// QPs with this hint sending to the same destination.
    pub num_qps_per_peer: u32,
    /// Distinct destinations sent to at once.
    pub num_send_peers: u32,
    /// Remote QPs targeting the same destination (expected incast degree).
    pub num_remote_recv_peers: u32,
}

/// `struct mrc_qp_attr`: the MRC attributes, with the API's names and units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MrcQpAttr {
    /// Max in-flight Write-IMM as requester.
    pub max_wimm: u16,
    /// Max in-flight Write-IMM as responder.
    pub max_wimm_dest: u16,
    /// Requester max PSN range, in units of 128 PSNs.
    pub mpr: u8,
    /// Responder tracking window, in units of 128 PSNs.
    pub mpr_dest: u8,
    /// Local ACK timeout exponent: 1.024 µs × 2^timeout (≤ 24).
    pub timeout: u8,
    /// Retry counts.
    pub retry: Retry,
    /// EV profile ID (must name the profile in [`ConnectionConfig::ev_profile`]).
    pub ev_profile_id: u64,
    /// CC profile ID (must name the profile in [`ConnectionConfig::cc_profile`]).
    pub cc_profile_id: u64,
    /// Sizing hint (None = NULL).
    pub hint: Option<QpHint>,
    /// `mrc_qp_cap` bits.
    pub cap: u32,
}

impl Default for MrcQpAttr {
    /// The API examples' values: MPR 8 (1,024 PSNs), WIMM 128, timeout 8 (262 µs), retries 7 + 25.
    fn default() -> Self {
        Self {
            max_wimm: 128,
            max_wimm_dest: 128,
            mpr: 8,
            mpr_dest: 8,
            timeout: 8,
            retry: Retry {
                linear_cnt: 7,
                exp_cnt: 25,
            },
            ev_profile_id: 1,
            cc_profile_id: 1,
            hint: None,
            cap: 0,
        }
    }
}

impl MrcQpAttr {
    /// Local ACK timeout T = 1.024 µs × 2^timeout.
    pub fn ack_timeout(&self) -> Duration {
        Duration::from_nanos(1_024u64 << self.timeout.min(24))
    }

    /// Window of the requester in PSNs (`mpr × 128`).
    pub fn mpr_psns(&self) -> u32 {
        u32::from(self.mpr) * 128
    }

    /// Window of the responder in PSNs (`mpr_dest × 128`).
    pub fn mpr_dest_psns(&self) -> u32 {
        u32::from(self.mpr_dest) * 128
    }
}

/// `mrc_device_attr` limits the QP attributes are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceAttr {
    /// Largest MPR (×128 PSNs).
    pub max_mpr: u8,
    /// MPR granularity (×128 PSNs).
    pub mpr_resolution: u8,
    /// Largest `max_wimm`.
    pub max_wimm: u16,
    /// Largest `max_wimm_dest`.
    pub max_wimm_dest: u16,
}

impl Default for DeviceAttr {
    fn default() -> Self {
        Self {
            max_mpr: 64,
            mpr_resolution: 1,
            max_wimm: 1024,
            max_wimm_dest: 1024,
        }
    }
}

/// Why `modify_qp` refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModifyQpError {
    /// The state machine has no such transition.
    #[error("invalid transition {from:?} -> {to:?}")]
    InvalidTransition {
        /// Current state.
        from: QpState,
        /// Requested state.
        to: QpState,
    },
    /// A required attribute's mask bit is missing.
    #[error("missing required attribute {0}")]
    MissingAttribute(&'static str),
    /// A verbs attribute that MRC does not support was given.
    #[error("unsupported attribute {0}")]
    Unsupported(&'static str),
    /// An attribute is out of its range.
    #[error("attribute {name} = {value} out of range (max {max})")]
    OutOfRange {
        /// Attribute name.
        name: &'static str,
        /// Given value.
        value: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// A profile ID does not name a known profile.
    #[error("unknown {kind} profile {id}")]
    UnknownProfile {
        /// "EV" or "CC".
        kind: &'static str,
        /// The ID given.
        id: u64,
    },
}

/// The EVs of one plane: the active list and its backups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaneEvs {
    /// EVs used for spraying from the start.
    pub active: Vec<u32>,
    /// Replacements for retired active EVs (same plane).
    pub backup: Vec<u32>,
}

/// An EV profile (`mrc_ctl` EV profile in explicit mode): EVs per plane plus the floor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvProfile {
    /// Profile ID (`MRC_QP_EV_PROFILE_ID`).
    pub id: u64,
    /// One entry per plane (= NIC port), plane index = position.
    pub planes: Vec<PlaneEvs>,
    /// QP-wide floor of usable EVs: at the floor, loss retires no more EVs.
    pub ev_min_active: u32,
}

impl EvProfile {
    /// SRv6-mode profile (`docs/fabric-and-srv6.md` §7.5): per plane a seeded permutation of the 256 T1
    /// indices; the first `active` are active, the next `backup` are backups; EV = plane << 8 | j.
    /// `ev_min_active` = a quarter of the active EVs (the API examples' choice).
    pub fn srv6(id: u64, seed: u64, planes: u8, active: u16, backup: u16) -> Self {
        let mut rng = Rng::derive(seed, 0x5256_3650_0000 ^ id);
        let planes_v = (0..u32::from(planes.min(8)))
            .map(|p| {
                let mut idx: Vec<u32> = (0..256).collect();
                rng.shuffle(&mut idx);
                let a = usize::from(active.min(256));
                let b = usize::from(backup).min(256 - a);
                PlaneEvs {
                    active: idx[..a].iter().map(|j| (p << 8) | j).collect(),
                    backup: idx[a..a + b].iter().map(|j| (p << 8) | j).collect(),
                }
            })
            .collect::<Vec<_>>();
        let total: u32 = planes_v.iter().map(|p| p.active.len() as u32).sum();
        Self {
            id,
            planes: planes_v,
            ev_min_active: total / 4,
        }
    }

    /// The default profile: 8 planes × 32 active + 8 backup (`docs/protocol.md` §13 item 7).
    pub fn default_srv6(seed: u64) -> Self {
        Self::srv6(1, seed, 8, 32, 8)
    }

    /// A profile whose EVs are `0, 1, 2, …`: plane p holds `active` EVs then `backup` EVs, in
    /// order (the test harness maps EV n to path n).
    pub fn sequential(id: u64, planes: u8, active: u32, backup: u32) -> Self {
        let per = active + backup;
        let planes_v = (0..u32::from(planes))
            .map(|p| PlaneEvs {
                active: (0..active).map(|i| p * per + i).collect(),
                backup: (active..per).map(|i| p * per + i).collect(),
            })
            .collect::<Vec<_>>();
        Self {
            id,
            planes: planes_v,
            ev_min_active: u32::from(planes) * active / 4,
        }
    }

    /// Number of planes.
    pub fn plane_count(&self) -> u8 {
        self.planes.len().min(32) as u8
    }

    /// Total active EVs.
    pub fn active_count(&self) -> u32 {
        self.planes.iter().map(|p| p.active.len() as u32).sum()
    }
}

/// CC algorithm of a CC profile: the factory of each QP's controller ([`CcFactory`]).
#[derive(Debug, Clone)]
pub enum CcAlgorithm {
    /// `"uet-1.0-nscc"`.
    Nscc(NsccConfig),
    /// No congestion control (`algorithm = NULL`): a fixed window of this many bytes.
    Fixed(u64),
    /// DCQCN's reaction point driven by ECN echoes (`docs/dcqcn.md`).
    Dcqcn(DcqcnCcConfig),
    /// Any other controller: the factory builds one per QP.
    Custom(Arc<dyn CcFactory>),
}

impl PartialEq for CcAlgorithm {
    /// Configurations compare by value; custom factories by identity.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Nscc(a), Self::Nscc(b)) => a == b,
            (Self::Fixed(a), Self::Fixed(b)) => a == b,
            (Self::Dcqcn(a), Self::Dcqcn(b)) => a == b,
            (Self::Custom(a), Self::Custom(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl CcFactory for CcAlgorithm {
    fn build(&self, hint: Option<&QpHint>) -> Box<dyn CongestionControl> {
        match self {
            Self::Nscc(c) => c.build(hint),
            Self::Fixed(w) => FixedWindow(*w).build(hint),
            Self::Dcqcn(c) => c.build(hint),
            Self::Custom(f) => f.build(hint),
        }
    }
}

/// A CC profile (`mrc_ctl` CC profile).
#[derive(Debug, Clone, PartialEq)]
pub struct CcProfile {
    /// Profile ID (`MRC_QP_CC_PROFILE_ID`).
    pub id: u64,
    /// Algorithm and its configuration.
    pub algorithm: CcAlgorithm,
}

/// Load-balancing behaviour of the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LbMode {
    /// MRC: SKIP on ECN/trim, ASSUMED_BAD on unexplained loss, probes, backups.
    #[default]
    Adaptive,
    /// Ablation: spray over the active EVs with no load-balancing reaction at all.
    Oblivious,
}

/// SACK sending policy of the responder (`docs/protocol.md` §13 item 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SackPolicy {
    /// Coalesce up to this many payload bytes (default 16 KB).
    pub coalesce_bytes: u32,
    /// Coalescing timer (default 2 µs).
    pub coalesce_timeout: Duration,
}

impl Default for SackPolicy {
    fn default() -> Self {
        Self {
            coalesce_bytes: 16 * 1024,
            coalesce_timeout: Duration::from_micros(2),
        }
    }
}

/// Resurrection probing of ASSUMED_BAD EVs (`docs/protocol.md` §13 item 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProbePolicy {
    /// Delay of the first probe after retirement (default 100 µs).
    pub first: Duration,
    /// Cap of the doubling probe interval (default 1 ms).
    pub max_interval: Duration,
    /// Consecutive successes that resurrect an EV (default 3).
    pub successes: u8,
    /// Probes of one QP outstanding at once (default 2): probes travel in the strict-priority
    /// control class, so an unbounded number would starve data on a congested link.
    pub max_outstanding: u8,
    /// Data packets a QP must send to earn one probe (default 16, ≈ 0.2% of its bytes); a QP
    /// that sends nothing may still probe once per `max_interval`. Ties probe traffic to the
    /// window NSCC grants, so a thousand congested QPs cannot flood a receiver with probes.
    pub data_per_probe: u16,
}

impl Default for ProbePolicy {
    fn default() -> Self {
        Self {
            first: Duration::from_micros(100),
            max_interval: Duration::from_millis(1),
            successes: 3,
            max_outstanding: 2,
            data_per_probe: 16,
        }
    }
}

/// Everything a [`crate::Connection`] needs besides the QP attributes.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Local QP number (24 bits).
    pub qpn: u32,
    /// Remote QP number (24 bits).
    pub remote_qpn: u32,
    /// Payload bytes per data packet (path MTU payload), default 4096.
    pub mtu: u32,
    /// First PSN sent (and expected from the peer, which must use the same value).
    pub initial_psn: u32,
    /// Seed of every random choice of this connection.
    pub seed: u64,
    /// Device limits.
    pub device: DeviceAttr,
    /// EV profile.
    pub ev_profile: EvProfile,
    /// CC profile.
    pub cc_profile: CcProfile,
    /// Load balancing (adaptive MRC or oblivious spraying).
    pub lb_mode: LbMode,
    /// SACK policy of the responder.
    pub sack: SackPolicy,
    /// Probing of retired EVs.
    pub probe: ProbePolicy,
    /// Base RTT assumed before the first sample (also the floor of the per-packet timer).
    pub base_rtt: Duration,
    /// Largest posted-but-not-completed work requests.
    pub max_send_wr: u32,
    /// Responder penalty from out-of-order occupancy: with `Some(f)`, `rcv_cwnd_pen` grows
    /// linearly from 0 at fraction `f` of the tracking window held out of order to 127 at a
    /// full window. `None` (default): no penalty. The penalty stands for host backpressure
    /// (§8.1, §13 item 12); MRC places data as it arrives, so the only receive-side store a
    /// responder here has is the tracking window, and what fills it is a hole left by a lost
    /// packet: loss, which retiring the EV and resending already answer (crate docs).
    pub penalty_start: Option<f64>,
    /// Scale of the SLEEK out-of-order loss threshold (crate docs: max(min(1.5·cwnd,
    /// maxwnd), 5·MSS)/MSS packets) that resends a packet. Default 1 (the reference value):
    /// reordering across sprayed paths of different queue depths stays below it. Dead paths
    /// are found sooner by the suspect threshold (a third of this), which judges the path
    /// without resending anything.
    pub sleek_scale: f64,
}

impl ConnectionConfig {
    /// A config with the defaults of `docs/protocol.md` §13: default SRv6 EV profile, NSCC for
    /// an 800 Gb/s NIC and a 12 µs RTT.
    pub fn new(qpn: u32, remote_qpn: u32, seed: u64) -> Self {
        let base_rtt = Duration::from_micros(12);
        Self {
            qpn,
            remote_qpn,
            mtu: 4096,
            initial_psn: 0,
            seed,
            device: DeviceAttr::default(),
            ev_profile: EvProfile::default_srv6(seed),
            cc_profile: CcProfile {
                id: 1,
                algorithm: CcAlgorithm::Nscc(NsccConfig::for_network(
                    800_000_000_000,
                    base_rtt,
                    4096,
                    true,
                )),
            },
            lb_mode: LbMode::Adaptive,
            sack: SackPolicy::default(),
            probe: ProbePolicy::default(),
            base_rtt,
            max_send_wr: 4096,
            penalty_start: None,
            sleek_scale: 1.0,
        }
    }
}
