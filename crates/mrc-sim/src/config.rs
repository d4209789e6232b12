//! The typed configuration of a run (the CLI builds it from a scenario file).

use mrc_fabric::{ClosParams, FatTreeParams};
use mrc_workload::{Flow, Trigger};

use crate::failure::Failure;
use crate::kernel::Time;

/// The fabric a run uses.
#[derive(Clone, Copy, Debug)]
pub enum FabricSpec {
    /// Multi-plane two-tier Clos with static SRv6 tables.
    Clos(ClosParams),
    /// Single-plane k-ary fat tree (ECMP).
    FatTree(FatTreeParams),
}

/// Priority flow control (lossless class) for the RoCE baseline.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PfcSpec {
    /// Bytes queued from one ingress port at which the switch pauses the upstream sender.
    pub xoff_bytes: u64,
    /// Bytes at which it resumes it.
    pub xon_bytes: u64,
}

/// Switch behaviour (docs/protocol.md §13 item 17 defaults).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SwitchSpec {
    /// Data queue per egress port in bytes; `None` = 1 × BDP with trimming, 5 × BDP without
    /// (UETSIM reference).
    pub queue_bytes: Option<u64>,
    /// Trim overflowing data packets to a header into the control queue (else drop-tail).
    pub trimming: bool,
    /// Size of a trimmed packet on the wire.
    pub trim_bytes: u32,
    /// RED-style ECN marking between kmin and kmax on every hop but the last.
    pub ecn: bool,
    /// Where the fractional marking looks at the queue (`docs/architecture.md` §5, switch model).
    pub ecn_at: EcnAt,
    /// Also mark on ports facing NICs. Off by default: the paper keeps ECN off at the last hop
    /// and leaves incast to trimming and congestion control (`docs/protocol.md` §9).
    pub ecn_last_hop: bool,
    /// kmin as a fraction of the queue in ‰ (default 200).
    pub kmin_permille: u32,
    /// kmax as a fraction of the queue in ‰ (default 800).
    pub kmax_permille: u32,
    /// Control (strict-priority) queue per port in bytes; `None` = twice the data queue.
    pub ctrl_queue_bytes: Option<u64>,
    /// PFC; `None` = lossy.
    pub pfc: Option<PfcSpec>,
    /// Absolute RED thresholds (DCQCN's congestion point, `crate::red`); replaces the
    /// `kmin`/`kmax` fractions and marks on every hop, the last included.
    pub red: Option<RedSpec>,
}

/// When a switch decides ECN marking.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EcnAt {
    /// On arrival, on the queue the packet joins.
    Enqueue,
    /// When the packet leaves, on the queue behind it (UEC's reference simulator).
    Dequeue,
}

/// RED marking with absolute thresholds (`docs/dcqcn.md`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RedSpec {
    /// Kmin in bytes; `None` = the paper's 5 KB at 40 Gb/s scaled with the link speed.
    pub kmin_bytes: Option<u64>,
    /// Kmax in bytes; `None` = the paper's 200 KB at 40 Gb/s scaled with the link speed.
    pub kmax_bytes: Option<u64>,
    /// Marking probability at Kmax, parts per million (paper: 1%).
    pub pmax_ppm: u32,
}

impl Default for SwitchSpec {
    fn default() -> Self {
        Self {
            queue_bytes: None,
            trimming: true,
            trim_bytes: 64,
            ecn: true,
            ecn_at: EcnAt::Dequeue,
            ecn_last_hop: false,
            kmin_permille: 200,
            kmax_permille: 800,
            ctrl_queue_bytes: None,
            pfc: None,
            red: None,
        }
    }
}

/// Network parameters of a run.
#[derive(Clone, Copy, Debug)]
pub struct NetSpec {
    /// Fabric.
    pub fabric: FabricSpec,
    /// Switches.
    pub switch: SwitchSpec,
    /// Payload bytes per packet.
    pub mtu: u32,
    /// Delay before conventional routing (ECMP baseline) reacts to a detected failure.
    pub reconvergence_ps: Time,
}

/// Traffic of a run.
#[derive(Clone, Debug, Default)]
pub struct Workload {
    /// Flows (ranks are NIC numbers).
    pub flows: Vec<Flow>,
    /// Triggers the flows refer to.
    pub triggers: Vec<Trigger>,
}

/// A complete run configuration (the transport comes separately, as a factory).
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// Network.
    pub net: NetSpec,
    /// Traffic.
    pub workload: Workload,
    /// Failures.
    pub failures: Vec<Failure>,
    /// Run seed.
    pub seed: u64,
    /// Stop at this simulated time even if flows are unfinished.
    pub max_time_ps: Time,
}
