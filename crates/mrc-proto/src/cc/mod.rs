//! Congestion control behind a trait, one controller per QP built by a [`CcFactory`]: NSCC
//! (`docs/protocol.md` §8, the default), DCQCN (`docs/dcqcn.md`, shared with the RoCE
//! baseline) or a fixed window.

mod dcqcn;
mod nscc;

pub use dcqcn::{Dcqcn, DcqcnCc, DcqcnCcConfig, DcqcnConfig};
pub use nscc::{Nscc, NsccConfig};

use crate::config::QpHint;
use crate::time::{Duration, Instant};

/// Builds the congestion controller of each QP: the CC profile ([`crate::CcAlgorithm`]) is the
/// factory, shared by the QPs that use it; each QP owns the controller it built, whose state
/// is that QP's alone.
pub trait CcFactory: core::fmt::Debug + Send + Sync {
    /// A controller for a new QP. `hint` is the QP hint given at INIT (`None` before, or for
    /// an application that gives none); a factory may ignore it.
    fn build(&self, hint: Option<&QpHint>) -> Box<dyn CongestionControl>;
}

/// What one SACK told the sender.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AckSample {
    /// Payload bytes newly acknowledged by this SACK.
    pub newly_acked: u64,
    /// RTT sample from the triggering packet's send time (None if retransmitted or unknown).
    pub rtt: Option<Duration>,
    /// The SACK echoed an ECN mark (M = SKIP_ONCE).
    pub ecn: bool,
    /// Responder window penalty, 0 … 127.
    pub rcv_cwnd_pen: u8,
    /// Bytes in flight after this SACK was applied.
    pub in_flight: u64,
}

/// A sender congestion controller (one per QP).
pub trait CongestionControl: core::fmt::Debug + Send {
    /// A SACK arrived.
    fn on_ack(&mut self, now: Instant, sample: &AckSample);
    /// A trim NACK for `bytes` arrived (`last_hop`: TRIMMED_LASTHOP).
    fn on_trim(&mut self, now: Instant, bytes: u64, last_hop: bool, in_flight: u64);
    /// `bytes` were declared lost without a trim (timeout or out-of-order detection).
    fn on_loss(&mut self, now: Instant, bytes: u64, in_flight: u64);
    /// Current congestion window in bytes.
    fn window(&self) -> u64;
    /// How long after sending a `len`-byte data packet the next may leave. NSCC: non-zero only
    /// for a window below one packet, which is a rate (window bytes per base RTT), not a count;
    /// DCQCN: always its rate.
    fn pacing_gap(&self, _len: u64) -> Duration {
        Duration::ZERO
    }
}

/// A fixed window: no congestion control (`algorithm = NULL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedWindow(pub u64);

impl CongestionControl for FixedWindow {
    fn on_ack(&mut self, _now: Instant, _sample: &AckSample) {}
    fn on_trim(&mut self, _now: Instant, _bytes: u64, _last_hop: bool, _in_flight: u64) {}
    fn on_loss(&mut self, _now: Instant, _bytes: u64, _in_flight: u64) {}
    fn window(&self) -> u64 {
        self.0
    }
}

impl CcFactory for FixedWindow {
    fn build(&self, _hint: Option<&QpHint>) -> Box<dyn CongestionControl> {
        Box::new(*self)
    }
}
