//! A packet tap: real packet bytes of the packets crossing one point of the fabric, written as
//! pcap (through `mrc-wire`) and timestamped with simulated time.
//!
//! Packets stay typed in the simulator; the tap encodes a packet only when it matches, so a run
//! without a tap pays one branch per hop. What a record holds:
//!
//! - outer IPv6: source = the sending NIC (`fd00::<nic>`), destination = the SRv6 uSID carrier
//!   as it is on that hop (shifted by the switches before it), or the destination NIC for
//!   ECMP-routed transports; traffic class ECT(0), or CE once a switch marked it;
//! - SRv6 only: inner IPv6 from NIC to NIC; then UDP (source port and flow label carry the EV as
//!   STEV does, destination 4791) and the MRC headers and payload (bytes derived from the RETH
//!   address: the simulator carries no payload);
//! - a trimmed packet is cut after its MRC headers: `caplen < len`, `len` the untrimmed size.
//!
//! Capture points ([`TapPoint`]): a NIC (what leaves it when it starts transmitting, what
//! reaches it when it arrives), a flow (what reaches either end of the flow's QPs: data at the
//! destination, acknowledgements at the source; packets lost on the way are not seen), or a
//! link (both directions, when the packet starts on the wire).

use mrc_wire::mrc::{self, Body};
use mrc_wire::{ipv6, pcap, rc, stack, udp};
use std::io::{self, Write};

use mrc_fabric::NodeId;

use crate::factory::TransportFactory;
use crate::kernel::PS_PER_NS;

use super::Sim;
use super::ids::{PktId, PortId};
use super::net::{Meta, Pkt};

/// A node named in a link tap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TapNode {
    /// NIC by number.
    Nic(u32),
    /// Switch by plane, tier (0 = T0) and index within plane and tier.
    Switch {
        /// Plane.
        plane: u32,
        /// Tier.
        tier: u32,
        /// Index.
        index: u32,
    },
}

/// Where the tap captures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TapPoint {
    /// Everything a NIC sends and receives.
    Nic(u32),
    /// Everything that reaches the endpoints of a flow (index in the workload's flow list).
    Flow(u32),
    /// Both directions of the cable between two adjacent nodes.
    Link(TapNode, TapNode),
}

/// Why a tap could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TapError {
    /// The point names something the fabric or workload does not have.
    #[error("{0}")]
    NoSuchPoint(String),
    /// Writing the pcap header failed.
    #[error("pcap: {0}")]
    Io(#[from] io::Error),
}

/// Largest record written (a data packet with headers fits with room to spare).
const SNAPLEN: u32 = 65_535;

pub(super) struct Tap {
    point: TapPoint,
    /// Link taps: the two egress ports of the cable.
    ports: [PortId; 2],
    w: pcap::Writer<Box<dyn Write + Send>>,
    packets: u64,
    error: Option<io::Error>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("point", &self.point)
            .field("packets", &self.packets)
            .finish_non_exhaustive()
    }
}

impl<F: TransportFactory> Sim<F> {
    /// Captures the packets crossing `point` as pcap into `out` (from the start of the run).
    pub fn set_tap(&mut self, point: TapPoint, out: Box<dyn Write + Send>) -> Result<(), TapError> {
        let bad = |m: String| Err(TapError::NoSuchPoint(m));
        let mut ports = [PortId::NONE; 2];
        match point {
            TapPoint::Nic(n) if n >= self.nics => {
                return bad(format!("no NIC {n} (the fabric has NICs 0..{})", self.nics));
            }
            TapPoint::Flow(f) if f as usize >= self.work.flows.len() => {
                return bad(format!(
                    "no flow {f} (the workload has flows 0..{})",
                    self.work.flows.len()
                ));
            }
            TapPoint::Link(a, b) => {
                let a = self.tap_node(a)?;
                let b = self.tap_node(b)?;
                let Some(g) = self.net.ports_of(a).find(|&g| self.net.ports[g].peer == b) else {
                    return bad("the two nodes are not adjacent (no cable between them)".into());
                };
                ports = [g, self.net.ports[g].rev];
            }
            _ => {}
        }
        let w = pcap::Writer::new(out, SNAPLEN)?;
        self.tap = Some(Box::new(Tap {
            point,
            ports,
            w,
            packets: 0,
            error: None,
            buf: Vec::with_capacity(16 * 1024),
        }));
        Ok(())
    }

    /// Ends the capture (flushes and drops the writer): packets written, or the first write
    /// error. `None` without a tap.
    pub fn take_tap(&mut self) -> Option<io::Result<u64>> {
        let t = self.tap.take()?;
        if let Some(e) = t.error {
            return Some(Err(e));
        }
        let packets = t.packets;
        Some(t.w.into_inner().map(|_| packets))
    }

    fn tap_node(&self, n: TapNode) -> Result<NodeId, TapError> {
        match n {
            TapNode::Nic(i) if i < self.nics => Ok(NodeId(i)),
            TapNode::Nic(i) => Err(TapError::NoSuchPoint(format!(
                "no NIC {i} (the fabric has NICs 0..{})",
                self.nics
            ))),
            TapNode::Switch { plane, tier, index } => {
                self.find_switch(plane, tier, index).ok_or_else(|| {
                    TapError::NoSuchPoint(format!("no switch T{tier} {index} in plane {plane}"))
                })
            }
        }
    }

    /// Port `g` starts transmitting packet `pk` now.
    pub(super) fn tap_tx(&mut self, g: PortId, pk: PktId) {
        let Some(t) = self.tap.as_deref() else {
            return;
        };
        let node = self.net.ports[g].node;
        let hit = match t.point {
            TapPoint::Nic(n) => node.0 == n,
            TapPoint::Link(..) => t.ports.contains(&g),
            TapPoint::Flow(_) => false,
        };
        if hit {
            let (p, m) = (self.net.pkts[pk], self.net.meta[pk]);
            self.tap_write(&p, &m);
        }
    }

    /// Packet `p` reaches NIC `nic` now.
    pub(super) fn tap_rx(&mut self, nic: u32, p: &Pkt, m: &Meta) {
        let Some(t) = self.tap.as_deref() else {
            return;
        };
        let hit = match t.point {
            TapPoint::Nic(n) => nic == n,
            TapPoint::Flow(f) => self.work.pairs.get(m.pair).is_some_and(|ps| ps.flow.0 == f),
            TapPoint::Link(..) => false,
        };
        if hit {
            self.tap_write(p, m);
        }
    }

    fn tap_write(&mut self, p: &Pkt, m: &Meta) {
        let (src_nic, dst_nic) = (m.src_nic, p.dst_nic);
        let topo_nic = |n: u32| mrc_fabric::usid::nic_addr(n);
        let (sport, flow_label) = udp::stev_encode(m.ev);
        let tc = if p.ecn { 0x03 } else { 0x02 };
        let inner = ipv6::Repr {
            traffic_class: tc,
            flow_label,
            payload_len: 0,
            next_header: 0,
            hop_limit: 64,
            src: topo_nic(src_nic),
            dst: topo_nic(dst_nic),
        };
        let (outer, inner) = match p.carrier {
            Some(c) if p.srv6 => (
                ipv6::Repr {
                    dst: c.addr(),
                    ..inner
                },
                Some(inner),
            ),
            _ => (inner, None),
        };
        if let Some(rc) = self.factory.wire_rc(&m.repr) {
            // Not source-routed: one IPv6 header, the NIC addresses.
            let d = rc::Datagram {
                ip: inner.unwrap_or(outer),
                udp: udp::Repr {
                    src_port: sport,
                    dst_port: rc::UDP_PORT,
                },
                rc,
            };
            let payload = tap_payload(&m.repr);
            let trimmed = p.trim.is_some();
            if let Ok(bytes) = d.to_bytes(&payload) {
                let full = bytes.len();
                let cap = if trimmed {
                    full - payload.len() - mrc::ICRC_LEN
                } else {
                    full
                };
                self.tap_record(&bytes[..cap], full);
            }
            return;
        }
        let repr = stack::Repr {
            outer,
            srh: None,
            inner,
            udp: udp::Repr {
                src_port: sport,
                dst_port: mrc::UDP_PORT,
            },
            mrc: m.repr,
        };
        let Some(t) = self.tap.as_deref_mut() else {
            return;
        };
        if t.error.is_some() {
            return;
        }
        let Ok(repr) = repr.with_lengths() else {
            return;
        };
        let full = repr.buffer_len();
        let payload_len = m.repr.payload_len();
        t.buf.clear();
        t.buf.extend(tap_payload(&m.repr));
        let mut bytes = vec![0u8; full];
        if repr.emit(&mut bytes, &t.buf).is_err() {
            return;
        }
        let cap = if p.trim.is_some() {
            full - payload_len - mrc::ICRC_LEN
        } else {
            full
        };
        self.tap_record(&bytes[..cap], full);
    }

    /// Writes one record (`full` = the packet's length on the wire).
    fn tap_record(&mut self, bytes: &[u8], full: usize) {
        let now_ns = self.q.now() / PS_PER_NS;
        let Some(t) = self.tap.as_deref_mut() else {
            return;
        };
        if let Err(e) = t.w.write_packet(now_ns, bytes, full) {
            t.error = Some(e);
            return;
        }
        t.packets += 1;
    }
}

/// Payload bytes of a captured data packet: a pattern of its address (packets stay typed in the
/// simulator; the bytes are not kept).
fn tap_payload(repr: &mrc::Repr) -> Vec<u8> {
    match repr.body {
        Body::Write(w) => (0..u64::from(w.payload_len))
            .map(|i| (w.reth.va.wrapping_add(i) % 251) as u8)
            .collect(),
        _ => Vec::new(),
    }
}
