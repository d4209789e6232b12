//! The RoCEv2 RC baseline of `mrc-proto` (one ECMP-hashed path per QP, go-back-N, DCQCN)
//! as a simulator transport. A flow is split over `qps` QPs, each with its own
//! seeded EV (the UDP source port the switches hash) and, on multi-plane fabrics, one port.

use mrc_proto::roce::{Connection, DcqcnConfig, Recovery, RoceConfig};

use crate::factory::{FabricInfo, PairInfo, Routing, TransportFactory};
use crate::rng::SplitMix64;

/// Settings of the RoCE baseline.
#[derive(Clone, Copy, Debug)]
pub struct RoceSettings {
    /// QPs per flow (the flow's bytes are split evenly).
    pub qps: u32,
    /// DCQCN rate control on.
    pub dcqcn: bool,
    /// Local ACK timeout exponent (4.096 µs × 2^timeout); `None` = the core's default.
    pub timeout: Option<u8>,
    /// DCQCN parameters (`enabled` is taken from [`Self::dcqcn`]).
    pub dcqcn_params: DcqcnConfig,
    /// Loss recovery (go-back-N or selective repeat).
    pub recovery: Recovery,
}

impl Default for RoceSettings {
    fn default() -> Self {
        Self {
            qps: 1,
            dcqcn: true,
            timeout: None,
            dcqcn_params: DcqcnConfig::default(),
            recovery: Recovery::GoBackN,
        }
    }
}

/// Makes RoCEv2 RC QP pairs from the real `mrc-proto` baseline.
#[derive(Clone, Copy, Debug, Default)]
pub struct RoceFactory(pub RoceSettings);

impl TransportFactory for RoceFactory {
    type Conn = Connection;

    fn name(&self) -> String {
        "roce".into()
    }

    fn routing(&self) -> Routing {
        Routing::Ecmp
    }

    fn wire_rc(&self, repr: &mrc_wire::mrc::Repr) -> Option<mrc_wire::rc::Repr> {
        mrc_proto::roce::rc_repr(repr)
    }

    fn qps_per_flow(&self) -> u32 {
        self.0.qps.max(1)
    }

    fn make_pair(&mut self, f: &FabricInfo, p: &PairInfo) -> (Connection, Connection) {
        let mut rng = SplitMix64::new(p.seed);
        let ev = rng.next_u64() as u32;
        let port = (rng.next_u64() % u64::from(f.planes.max(1))) as u8;
        let (qa, qb) = p.qpn;
        let mk = |qpn, peer, seed| {
            let mut c = RoceConfig::new(qpn, peer, ev, port, seed);
            c.mtu = f.mtu;
            c.line_rate_bps = u64::from(f.lane_gbps) * 1_000_000_000;
            c.dcqcn = DcqcnConfig {
                enabled: self.0.dcqcn,
                ..self.0.dcqcn_params
            };
            c.recovery = self.0.recovery;
            if let Some(t) = self.0.timeout {
                c.timeout = t;
            }
            Connection::new(c)
        };
        (mk(qa, qb, p.seed), mk(qb, qa, p.seed ^ 0xABCD))
    }
}
