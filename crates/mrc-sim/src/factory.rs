//! What the simulator asks of a transport: a factory of QP pairs (requester at the source NIC,
//! responder at the destination NIC) that are `mrc_proto` [`Transport`]s, so MRC, oblivious
//! spraying and the RoCE baseline run under the same NIC layer (`mrc_proto::nic::Nic`) as on
//! real sockets. Packets stay the core's own types, without payload bytes: the payload travels
//! as a length (the content tag is derived from the RETH address).

use mrc_proto::Transport;
use mrc_wire::mrc;

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

/// EV state counts of a QP for the timeline: `[GOOD, SKIP, ASSUMED_BAD]` (zero for transports
/// without EVs).
pub trait EvCounts {
    /// The counts over this QP's EVs.
    fn ev_counts(&self) -> [u32; 3] {
        [0; 3]
    }
}

impl EvCounts for mrc_proto::Connection {
    fn ev_counts(&self) -> [u32; 3] {
        let [good, skip, bad, _denied] = self.ev_set().state_counts();
        [good, skip, bad]
    }
}

impl EvCounts for mrc_proto::roce::Connection {}

/// Makes the QP pairs of a transport.
pub trait TransportFactory {
    /// The transport of one QP.
    type Conn: Transport + EvCounts;
    /// Short name for reports (`mrc`, `roce`, `spray`, ...).
    fn name(&self) -> String;
    /// How switches forward its packets.
    fn routing(&self) -> Routing;
    /// QPs one flow is split over (RoCE with N QPs); 1 otherwise.
    fn qps_per_flow(&self) -> u32 {
        1
    }
    /// Creates a requester/responder pair, both ready to send and receive (the simulator
    /// registers their memory and posts the writes).
    fn make_pair(&mut self, fabric: &FabricInfo, pair: &PairInfo) -> (Self::Conn, Self::Conn);

    /// How a packet of this transport looks on the wire when it is not an MRC packet (the RoCE
    /// baseline sends RC opcodes and CNPs); `None` = encode it as MRC. Used by packet capture.
    fn wire_rc(&self, _repr: &mrc::Repr) -> Option<mrc_wire::rc::Repr> {
        None
    }
}
