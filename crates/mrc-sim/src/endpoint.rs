//! The adapter between the simulator and a transport: one [`Endpoint`] per QP end (requester at
//! the source NIC, responder at the destination NIC). It mirrors the sans-IO surface of
//! `mrc-proto` (`Transport`: `handle_packet`, `handle_timeout`, `poll_transmit(now, ready ports)`,
//! `poll_timeout`, `poll_event`, `post_write`, port status), so MRC, oblivious spraying and the
//! RoCE baseline plug into the same NIC scheduler. Packets are the core's own types
//! (`mrc_proto::Transmit` out, `mrc_proto::Received` in, without payload bytes): the payload
//! travels as a length (the content tag is derived from the RETH address).

use mrc_proto::{Received, Transmit};
use mrc_wire::mrc;

/// Nanoseconds (the transports' time unit).
pub type Nanos = u64;

/// What an endpoint reports to the simulator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EndpointEvent {
    /// A posted write completed at the requester.
    Completed {
        /// The id given to [`Endpoint::post_write`].
        wr_id: u64,
        /// Success (all bytes placed) or not.
        ok: bool,
    },
    /// The QP failed.
    QpError,
    /// The QP retired an EV (`good` false) or brought one back (`good` true).
    EvState {
        /// The EV.
        ev: u32,
        /// Resurrected rather than retired.
        good: bool,
    },
}

/// Counters read at the end of a run.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct EndpointStats {
    /// Data packets sent (first transmissions and retransmissions).
    pub data_sent: u64,
    /// Data packets retransmitted.
    pub retransmitted: u64,
    /// Control packets sent.
    pub control_sent: u64,
    /// Payload bytes placed exactly once (responder side).
    pub bytes_placed: u64,
    /// EVs retired (→ ASSUMED_BAD).
    pub ev_retired: u64,
    /// EVs resurrected by probes.
    pub ev_resurrected: u64,
    /// Retransmissions whose original was later found to have arrived.
    pub spurious_retransmits: u64,
    /// Reliability probes sent (EV resurrection).
    pub probes_sent: u64,
}

/// One QP end, driven by the simulator.
pub trait Endpoint {
    /// Feeds a packet addressed to this QP.
    fn handle_packet(&mut self, now: Nanos, pkt: &Received<'_>);
    /// Runs the timers due at `now`.
    fn handle_timeout(&mut self, now: Nanos);
    /// The next packet for one of the `ready` ports (bit p = port p idle and up).
    fn poll_transmit(&mut self, now: Nanos, ready: u32) -> Option<Transmit>;
    /// When [`Endpoint::handle_timeout`] should next run.
    fn poll_timeout(&self) -> Option<Nanos>;
    /// The next event.
    fn poll_event(&mut self) -> Option<EndpointEvent>;
    /// Posts a write of `len` bytes to the peer (requester side).
    fn post_write(&mut self, wr_id: u64, len: u64) -> bool;
    /// Posts a write of `len` bytes at byte `offset` of both regions (requester side). Several
    /// writes may be outstanding; each completes with its own [`EndpointEvent::Completed`], in
    /// post order (persistent connections of DAG workloads). The default only supports
    /// offset 0.
    fn post_write_at(&mut self, wr_id: u64, offset: u64, len: u64) -> bool {
        offset == 0 && self.post_write(wr_id, len)
    }
    /// A local port went down or came up.
    fn port_status(&mut self, now: Nanos, port: u8, up: bool);
    /// Counters.
    fn stats(&self) -> EndpointStats;
    /// EVs of this QP in state `[GOOD, SKIP, ASSUMED_BAD]` (zeros without EVs).
    fn ev_counts(&self) -> [u32; 3] {
        [0; 3]
    }
}

/// How switches forward a transport's packets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Routing {
    /// The EV names the path; the NIC writes it as an SRv6 uSID carrier and switches
    /// shift-and-forward through static tables (multi-plane Clos only; fat trees fall back to
    /// [`Routing::Ecmp`] with the EV in the hash, like htsim).
    Srv6,
    /// Conventional ECMP: each switch hashes (source, destination, QP, EV as UDP source port).
    Ecmp,
}

/// What a transport factory learns about a QP pair it creates.
#[derive(Clone, Copy, Debug)]
pub struct PairInfo {
    /// Index of the pair (unique within a run).
    pub pair: u32,
    /// Source NIC.
    pub src: u32,
    /// Destination NIC.
    pub dst: u32,
    /// Bytes this QP will write.
    pub bytes: u64,
    /// Planes (= NIC ports).
    pub planes: u8,
    /// QP number of the requester and of the responder.
    pub qpn: (u32, u32),
    /// Distinct NICs writing to `dst` in the workload's flow list (0: unknown, e.g. DAG
    /// workloads); the MRC factory passes it as the QP hint `num_remote_recv_peers`.
    pub recv_peers: u32,
    /// Distinct NICs `src` writes to in the flow list (the hint's `num_send_peers`).
    pub send_peers: u32,
    /// Seed of this pair's random streams.
    pub seed: u64,
}

/// Everything a transport needs to know about the fabric to size itself.
#[derive(Clone, Copy, Debug)]
pub struct FabricInfo {
    /// NIC ports (= planes).
    pub planes: u8,
    /// Speed of one NIC port in Gb/s.
    pub lane_gbps: u32,
    /// Base round-trip time (longest path, MTU data one way + control back) in ns.
    pub base_rtt_ns: u64,
    /// Bandwidth-delay product of one NIC (all lanes) in bytes.
    pub bdp_bytes: u64,
    /// Maximum payload per packet in bytes.
    pub mtu: u32,
    /// T0 uplinks per plane (EVs per plane that name distinct paths; SRv6 EV = plane << 8 | uplink).
    pub uplinks: u32,
    /// Bits of the uplink field in an SRv6 EV.
    pub uplink_bits: u32,
    /// How switches forward this transport's packets on this fabric.
    pub routing: Routing,
    /// Whether switches trim (else drop-tail).
    pub trimming: bool,
}

/// Makes the endpoints of a transport.
pub trait TransportFactory {
    /// The endpoint type.
    type Ep: Endpoint;
    /// Short name for reports (`mrc`, `roce`, `spray`, ...).
    fn name(&self) -> String;
    /// How switches forward its packets.
    fn routing(&self) -> Routing;
    /// QPs one flow is split over (RoCE with N QPs); 1 otherwise.
    fn qps_per_flow(&self) -> u32 {
        1
    }
    /// Creates a requester/responder pair and returns them with the remote base address of the
    /// responder's region (the RETH address of byte 0 of the write).
    fn make_pair(&mut self, fabric: &FabricInfo, pair: &PairInfo) -> (Self::Ep, Self::Ep, u64);

    /// How a packet of this transport looks on the wire when it is not an MRC packet (the RoCE
    /// baseline sends RC opcodes and CNPs); `None` = encode it as MRC. Used by packet capture.
    fn wire_rc(&self, _repr: &mrc::Repr) -> Option<mrc_wire::rc::Repr> {
        None
    }
}
