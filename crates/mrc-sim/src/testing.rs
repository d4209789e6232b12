//! A deliberately simple test transport for exercising the simulator itself (not MRC, not
//! RoCE): a fixed-window go-back-N sender that sprays packets round-robin over the ready ports
//! and `evs` entropy values, and a receiver that accepts in-order data and acknowledges every
//! packet cumulatively. Trimmed packets are treated as lost. It is an `mrc_proto`
//! [`Transport`], so the simulator's NICs drive it as they drive MRC.

use std::collections::VecDeque;

use mrc_wire::Psn;
use mrc_wire::mrc::{self, Body, Opcode, Write, aeth, bth, meth, reth};

use mrc_proto::mr::MemoryRegions;
use mrc_proto::{
    Event, Instant, PortMask, PostError, QpState, Received, Stats, TrafficClass, Transmit,
    Transport, WcStatus, WriteRequest,
};

use crate::factory::{EvCounts, FabricInfo, PairInfo, Routing, TransportFactory};

/// Configuration of the window transport.
#[derive(Clone, Copy, Debug)]
pub struct WindowConfig {
    /// Window in packets.
    pub window: u32,
    /// Distinct EVs per plane to spray over.
    pub evs: u32,
    /// Retransmission timeout in ns (go back to the last acknowledged byte).
    pub rto_ns: u64,
    /// Routing of its packets.
    pub routing: Routing,
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self {
            window: 16,
            evs: 8,
            rto_ns: 50_000,
            routing: Routing::Srv6,
        }
    }
}

/// Factory of [`WindowConn`] pairs.
#[derive(Clone, Copy, Debug, Default)]
pub struct WindowFactory(pub WindowConfig);

impl TransportFactory for WindowFactory {
    type Conn = WindowConn;
    fn name(&self) -> String {
        "window".into()
    }
    fn routing(&self) -> Routing {
        self.0.routing
    }
    fn make_pair(&mut self, f: &FabricInfo, p: &PairInfo) -> (WindowConn, WindowConn) {
        let mk = |sender: bool| WindowConn {
            cfg: self.0,
            sender,
            mtu: f.mtu,
            planes: f.planes,
            uplinks: f.uplinks.max(1),
            uplink_bits: f.uplink_bits,
            peer_qpn: if sender { p.qpn.1 } else { p.qpn.0 },
            regions: MemoryRegions::new(p.seed),
            base: None,
            total: 0,
            next: 0,
            acked: 0,
            expected: 0,
            ack_due: None,
            last_progress: 0,
            counter: p.seed as u32,
            events: VecDeque::new(),
            stats: Stats::default(),
            writes: VecDeque::new(),
            pkt_ends: Vec::new(),
            rx_pkts: 0,
            done: false,
            highest_sent: 0,
        };
        (mk(true), mk(false))
    }
}

/// One end of the window transport.
#[derive(Clone, Debug)]
pub struct WindowConn {
    cfg: WindowConfig,
    sender: bool,
    mtu: u32,
    planes: u8,
    uplinks: u32,
    uplink_bits: u32,
    peer_qpn: u32,
    regions: MemoryRegions,
    /// Address of stream byte 0 at the receiver: its first region (receiver), the first
    /// write's remote address (sender).
    base: Option<u64>,
    total: u64,
    next: u64,
    acked: u64,
    expected: u64,
    ack_due: Option<(u32, u8)>,
    last_progress: u64,
    counter: u32,
    events: VecDeque<Event>,
    stats: Stats,
    /// Posted work requests not yet acknowledged: (id, stream offset, length).
    writes: VecDeque<(u64, u64, u64)>,
    /// Stream offset after every packet sent so far (packets never span writes).
    pkt_ends: Vec<u64>,
    /// Packets received in order (receiver).
    rx_pkts: u32,
    done: bool,
    highest_sent: u64,
}

impl WindowConn {
    /// Address of stream byte 0 (module docs of the fields).
    fn base(&self) -> u64 {
        self.base
            .or_else(|| self.regions.handles().next().map(|h| h.addr))
            .unwrap_or(0)
    }

    fn pick_port(&mut self, ready: u32) -> Option<u8> {
        let planes = u32::from(self.planes).max(1);
        for i in 0..planes {
            let p = (self.counter.wrapping_add(i)) % planes;
            if ready & (1 << p) != 0 {
                return Some(p as u8);
            }
        }
        None
    }
}

impl EvCounts for WindowConn {}

impl Transport for WindowConn {
    fn handle_packet(&mut self, now: Instant, pkt: &Received<'_>) {
        let now = now.as_nanos();
        match pkt.repr.body {
            Body::Write(w) if !self.sender => {
                if pkt.trim.is_none() && w.reth.va == self.base() + self.expected {
                    self.expected += u64::from(w.payload_len);
                    self.rx_pkts += 1;
                    self.stats.bytes_placed += u64::from(w.payload_len);
                }
                self.ack_due = Some((pkt.ev, pkt.port));
            }
            Body::Ack(a) if self.sender => {
                let upto = match (a.msn as usize).checked_sub(1) {
                    Some(i) => self.pkt_ends.get(i).copied().unwrap_or(0),
                    None => 0,
                };
                if upto > self.acked {
                    self.acked = upto;
                    self.last_progress = now;
                    while let Some(&(wr_id, off, len)) = self.writes.front() {
                        if off + len > self.acked {
                            break;
                        }
                        self.writes.pop_front();
                        self.events.push_back(Event::SendComplete {
                            wr_id,
                            status: WcStatus::Success,
                        });
                    }
                    self.done = self.writes.is_empty();
                }
            }
            _ => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        let now = now.as_nanos();
        if self.sender && !self.done && now >= self.last_progress + self.cfg.rto_ns {
            self.next = self.acked;
            self.last_progress = now;
        }
    }

    fn poll_transmit(&mut self, now: Instant, ready: PortMask) -> Option<Transmit> {
        let (now, ready) = (now.as_nanos(), ready.0);
        if !self.sender {
            let (ev, port) = self.ack_due?;
            if ready & (1 << port) == 0 {
                return None;
            }
            self.ack_due = None;
            self.stats.control_sent += 1;
            let msn = self.rx_pkts;
            let repr = mrc::Repr {
                bth: bth::Repr::new(Opcode::Ack, self.peer_qpn, Psn::new(0)),
                body: Body::Ack(aeth::Repr { syndrome: 0, msn }),
            };
            return Some(Transmit::new(repr, ev, port, TrafficClass::Control, None));
        }
        if self.done || self.next >= self.total {
            return None;
        }
        let window = u64::from(self.cfg.window) * u64::from(self.mtu);
        if self.next - self.acked >= window {
            return None;
        }
        let port = self.pick_port(ready)?;
        if self.next == self.acked && self.next == self.highest_sent {
            // Nothing in flight: the progress clock starts with this packet.
            self.last_progress = now;
        }
        self.counter = self.counter.wrapping_add(1);
        let (woff, wlen) = self
            .writes
            .iter()
            .find(|w| w.1 + w.2 > self.next)
            .map_or((0, self.total), |w| (w.1, w.2));
        let len = (woff + wlen - self.next).min(u64::from(self.mtu)) as u32;
        let first = self.next == woff;
        let last = self.next + u64::from(len) == woff + wlen;
        let opcode = match (first, last) {
            (true, true) => Opcode::WriteOnly,
            (true, false) => Opcode::WriteFirst,
            (false, true) => Opcode::WriteLast,
            (false, false) => Opcode::WriteMiddle,
        };
        let psn = match self.pkt_ends.binary_search(&self.next) {
            Ok(i) => i as u32 + 1,
            Err(i) => i as u32,
        };
        let retransmit = self.next < self.highest_sent;
        let mut bth = bth::Repr::new(opcode, self.peer_qpn, Psn::new(psn & 0xFF_FFFF));
        bth.retransmit = retransmit;
        let repr = mrc::Repr {
            bth,
            body: Body::Write(Write {
                meth: meth::Repr::default(),
                tseth: None,
                reth: reth::Repr {
                    va: self.base() + self.next,
                    rkey: 1,
                    dma_len: wlen as u32,
                },
                imm: None,
                payload_len: len,
            }),
        };
        let uplink =
            (self.counter / u32::from(self.planes.max(1))) % self.cfg.evs.max(1) % self.uplinks;
        let ev = (u32::from(port) << self.uplink_bits) | uplink;
        self.next += u64::from(len);
        if self.next > self.highest_sent {
            self.pkt_ends.push(self.next);
            self.highest_sent = self.next;
        }
        self.stats.data_sent += 1;
        if retransmit {
            self.stats.data_retransmitted += 1;
        }
        let class = if retransmit {
            TrafficClass::Retransmit
        } else {
            TrafficClass::Data
        };
        Some(Transmit::new(repr, ev, port, class, None))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (self.sender && !self.done && self.total > 0)
            .then(|| Instant::from_nanos(self.last_progress + self.cfg.rto_ns))
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Writes are one byte stream: each must start where the previous one ended.
    fn post_write(&mut self, wr: WriteRequest) -> Result<(), PostError> {
        if !self.sender {
            return Err(PostError::NotReady(QpState::Rtr));
        }
        let base = *self
            .base
            .get_or_insert_with(|| wr.remote_addr.wrapping_sub(self.total));
        if wr.remote_addr != base + self.total {
            return Err(PostError::LocalOutOfBounds);
        }
        let len = u64::from(wr.len);
        self.writes.push_back((wr.wr_id, self.total, len));
        self.total += len;
        self.done = false;
        Ok(())
    }

    fn handle_port_status(&mut self, _now: Instant, _port: u8, _up: bool) {}

    fn regions(&self) -> &MemoryRegions {
        &self.regions
    }

    fn regions_mut(&mut self) -> &mut MemoryRegions {
        &mut self.regions
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }

    fn state(&self) -> QpState {
        QpState::Rts
    }

    fn outstanding(&self) -> usize {
        self.writes.len()
    }
}

/// Runs that exercise every cross-partition path (packets, trims, drops, failures, EV
/// retirement, PFC): the partitioned-run and codec tests compare them split and whole.
pub mod split_runs {
    use mrc_fabric::{ClosParams, FatTreeParams};
    use mrc_workload::{Flow, traffic};

    use crate::config::{FabricSpec, NetSpec, PfcSpec, RunSpec, SwitchSpec, Workload};
    use crate::failure::{Failure, FailureKind, Target};

    const US: u64 = 1_000_000;

    fn spec(fabric: FabricSpec, switch: SwitchSpec, flows: Vec<Flow>) -> RunSpec {
        RunSpec {
            net: NetSpec {
                fabric,
                switch,
                mtu: 4096,
                reconvergence_ps: 20 * US,
            },
            workload: Workload {
                flows,
                triggers: Vec::new(),
            },
            failures: Vec::new(),
            seed: 11,
            max_time_ps: 1_000_000 * US,
        }
    }

    fn failure(target: Target, kind: FailureKind, at_us: u64, until_us: Option<u64>) -> Failure {
        Failure {
            target,
            kind,
            at_ps: at_us * US,
            until_ps: until_us.map(|u| u * US),
        }
    }

    /// MRC's kind of run: a permutation and an incast over a two-plane Clos while a T0 uplink
    /// goes down and up, a T1 reboots, a link loses packets and a NIC lane fails.
    pub fn clos_with_failures() -> RunSpec {
        let mut s = spec(
            FabricSpec::Clos(ClosParams::new(32, 2, 200, 800)),
            SwitchSpec::default(),
            traffic::permutation(32, 400_000, 3),
        );
        s.workload
            .flows
            .extend(traffic::incast(&[1, 2, 3, 4, 5, 6], 0, 200_000));
        s.failures = vec![
            failure(
                Target::T0Uplink {
                    plane: 0,
                    t0: 1,
                    uplink: 2,
                },
                FailureKind::Down,
                3,
                Some(30),
            ),
            failure(
                Target::Switch {
                    plane: 1,
                    tier: 1,
                    index: 2,
                },
                FailureKind::Down,
                5,
                Some(25),
            ),
            failure(
                Target::T0Uplink {
                    plane: 1,
                    t0: 3,
                    uplink: 0,
                },
                FailureKind::Lossy { ppm: 20_000 },
                0,
                None,
            ),
            failure(
                Target::NicLane { nic: 9, plane: 0 },
                FailureKind::Down,
                4,
                Some(40),
            ),
        ];
        s
    }

    /// RoCE's kind of run: a permutation and an incast over a fat tree with PFC (no trimming).
    pub fn fat_tree_with_pfc() -> RunSpec {
        let switch = SwitchSpec {
            trimming: false,
            pfc: Some(PfcSpec {
                xoff_bytes: 60_000,
                xon_bytes: 30_000,
            }),
            ..SwitchSpec::default()
        };
        let mut flows = traffic::permutation(32, 300_000, 5);
        flows.extend(traffic::incast(&[8, 16, 24, 30], 0, 300_000));
        spec(
            FabricSpec::FatTree(FatTreeParams::new(8, 2).with_gbps(100)),
            switch,
            flows,
        )
    }
}
