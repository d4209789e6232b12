//! Bytes for what partitions in other processes (MPI ranks) exchange: the messages that cross a
//! cable ([`Msg`]), window statuses and the shares a finished run merges
//! (`docs/architecture.md` §3, partitioned runs). Threads pass these values as they are.
//!
//! Explicit and compact: little-endian fixed-width integers, a tag byte per enum, a `u32`
//! length before every list. A packet's MRC headers go through the wire crate's own emit and
//! parse (the payload length apart, so no payload bytes are made up); its SRv6 carrier as its
//! IPv6 address. Only the packet fields that matter once it is on the cable are sent: the
//! rest (FIFO link, PFC ingress account, arrival of the packet behind) is reset at arrival.
//! Every rank runs the same binary, so a malformed buffer is a bug: decoding panics.

use mrc_proto::{TrafficClass, Trim};
use mrc_wire::mrc;
use mrc_wire::usid::Carrier;

use crate::kernel::Time;
use crate::report::{EvChange, SwitchCounters};

use super::Ev;
use super::ids::{FlowId, PairId, PktId, PortId};
use super::net::{Meta, Pkt};
use super::part::{Msg, Status};
use super::record::{FailureMark, LinkGroup, Timeline};
use super::report::Counters;
use super::share::{PortShare, QpSums, Share};

/// Appends values to a byte buffer.
pub(super) struct Enc<'a>(pub(super) &'a mut Vec<u8>);

impl Enc<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    fn opt_u64(&mut self, v: Option<u64>) {
        self.bool(v.is_some());
        self.u64(v.unwrap_or(0));
    }
    /// A list's length (lists longer than `u32::MAX` never cross).
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).expect("codec: list longer than u32::MAX"));
    }
    fn u64s(&mut self, v: &[u64]) {
        self.len(v.len());
        self.words(v);
    }
    /// Words of a fixed count (no length).
    fn words(&mut self, v: &[u64]) {
        v.iter().for_each(|&x| self.u64(x));
    }
    fn u32s(&mut self, v: &[u32]) {
        self.len(v.len());
        v.iter().for_each(|&x| self.u32(x));
    }
}

/// Reads values back, in the order [`Enc`] wrote them.
pub(super) struct Dec<'a>(pub(super) &'a [u8]);

impl Dec<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .expect("codec: buffer from another partition cut short");
        self.0 = rest;
        *head
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    fn bool(&mut self) -> bool {
        self.u8() != 0
    }
    fn opt_u64(&mut self) -> Option<u64> {
        let some = self.bool();
        let v = self.u64();
        some.then_some(v)
    }
    fn len(&mut self) -> usize {
        self.u32() as usize
    }
    fn u64s(&mut self) -> Vec<u64> {
        (0..self.len()).map(|_| self.u64()).collect()
    }
    fn u32s(&mut self) -> Vec<u32> {
        (0..self.len()).map(|_| self.u32()).collect()
    }
    /// Whether everything was read.
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

// ---------------------------------------------------------------- messages

/// Appends `msgs` (one partition's messages for another, with their arrival times).
pub(super) fn put_msgs(buf: &mut Vec<u8>, msgs: &[(Time, Msg)]) {
    let mut e = Enc(buf);
    e.len(msgs.len());
    for (at, msg) in msgs {
        e.u64(*at);
        put_msg(&mut e, msg);
    }
}

/// Reads what [`put_msgs`] wrote.
pub(super) fn get_msgs(d: &mut Dec<'_>) -> Vec<(Time, Msg)> {
    (0..d.len()).map(|_| (d.u64(), get_msg(d))).collect()
}

fn put_msg(e: &mut Enc<'_>, msg: &Msg) {
    match msg {
        Msg::Packet { port, pkt, meta } => {
            e.u8(0);
            e.u32(port.0);
            put_pkt(e, pkt);
            put_meta(e, meta);
        }
        Msg::Event(ev) => {
            e.u8(1);
            put_ev(e, ev);
        }
    }
}

fn get_msg(d: &mut Dec<'_>) -> Msg {
    match d.u8() {
        0 => Msg::Packet {
            port: PortId(d.u32()),
            pkt: get_pkt(d),
            meta: get_meta(d),
        },
        1 => Msg::Event(get_ev(d)),
        t => panic!("codec: unknown message tag {t}"),
    }
}

fn put_pkt(e: &mut Enc<'_>, p: &Pkt) {
    e.bool(p.carrier.is_some());
    if let Some(c) = p.carrier {
        e.0.extend_from_slice(&c.addr().octets());
    }
    e.u32(p.dst_nic);
    e.u32(p.bytes);
    e.u64(p.hash);
    e.u8(match p.class {
        TrafficClass::Data => 0,
        TrafficClass::Retransmit => 1,
        TrafficClass::Control => 2,
    });
    e.u8(match p.trim {
        None => 0,
        Some(Trim::Fabric) => 1,
        Some(Trim::LastHop) => 2,
    });
    e.u8(u8::from(p.ecn) | u8::from(p.srv6) << 1);
}

fn get_pkt(d: &mut Dec<'_>) -> Pkt {
    let carrier = d.bool().then(|| {
        let addr = std::net::Ipv6Addr::from(d.take::<16>());
        Carrier::from_addr(addr).expect("codec: a carrier that was sent is well formed")
    });
    let (dst_nic, bytes, hash) = (d.u32(), d.u32(), d.u64());
    let class = match d.u8() {
        0 => TrafficClass::Data,
        1 => TrafficClass::Retransmit,
        2 => TrafficClass::Control,
        c => panic!("codec: unknown traffic class {c}"),
    };
    let trim = match d.u8() {
        0 => None,
        1 => Some(Trim::Fabric),
        2 => Some(Trim::LastHop),
        t => panic!("codec: unknown trim {t}"),
    };
    let flags = d.u8();
    Pkt {
        carrier,
        next: PktId::NONE,
        behind_at: 0,
        dst_nic,
        bytes,
        hash,
        in_port: PortId::NONE,
        class,
        trim,
        ecn: flags & 1 != 0,
        srv6: flags & 2 != 0,
    }
}

/// Longest MRC header block (BTH through ImmDt) plus the ICRC; headers are a few dozen bytes.
const MAX_HEADERS: usize = 128;

fn put_meta(e: &mut Enc<'_>, m: &Meta) {
    // The headers as the wire crate emits them, without payload; its length apart.
    let mut headers = m.repr;
    if let mrc::Body::Write(w) = &mut headers.body {
        w.payload_len = 0;
    }
    let mut buf = [0u8; MAX_HEADERS];
    let n = headers.buffer_len();
    headers
        .emit(&mut mrc::Packet::new_unchecked(&mut buf[..n]))
        .expect("codec: the simulator's packets have valid MRC headers");
    e.u8(n as u8);
    e.0.extend_from_slice(&buf[..n]);
    e.u32(m.repr.payload_len() as u32);
    e.u32(m.ev);
    e.u32(m.src_nic);
    e.u32(m.pair.0);
}

fn get_meta(d: &mut Dec<'_>) -> Meta {
    let n = usize::from(d.u8());
    let (bytes, rest) = d.0.split_at(n);
    d.0 = rest;
    let mut repr = mrc::Packet::new_checked(bytes)
        .and_then(|p| mrc::Repr::parse(&p))
        .expect("codec: headers emitted by another partition parse");
    let payload_len = d.u32();
    if let mrc::Body::Write(w) = &mut repr.body {
        w.payload_len = payload_len;
    }
    Meta {
        repr,
        ev: d.u32(),
        src_nic: d.u32(),
        pair: PairId(d.u32()),
    }
}

fn put_ev(e: &mut Enc<'_>, ev: &Ev) {
    let (tag, id) = match *ev {
        Ev::Arrive { port } => (0, port.0),
        Ev::TxDone { port } => (1, port.0),
        Ev::Timer { ep } => (2, ep),
        Ev::FlowStart { flow } => (3, flow.0),
        Ev::Action { idx } => (4, idx),
        Ev::Reroute { idx } => (5, idx),
        Ev::Op { op } => (6, op),
        Ev::Pfc { port, pause, seq } => {
            e.u8(7);
            e.u32(port.0);
            e.bool(pause);
            e.u16(seq);
            return;
        }
    };
    e.u8(tag);
    e.u32(id);
}

fn get_ev(d: &mut Dec<'_>) -> Ev {
    let tag = d.u8();
    let id = d.u32();
    match tag {
        0 => Ev::Arrive { port: PortId(id) },
        1 => Ev::TxDone { port: PortId(id) },
        2 => Ev::Timer { ep: id },
        3 => Ev::FlowStart { flow: FlowId(id) },
        4 => Ev::Action { idx: id },
        5 => Ev::Reroute { idx: id },
        6 => Ev::Op { op: id },
        7 => Ev::Pfc {
            port: PortId(id),
            pause: d.bool(),
            seq: d.u16(),
        },
        t => panic!("codec: unknown event tag {t}"),
    }
}

// ---------------------------------------------------------------- statuses

/// Words of a [`Status`] (a fixed size, for an all-gather).
pub(super) const STATUS_WORDS: usize = 7;

/// A status as words.
pub(super) fn status_words(s: &Status) -> [u64; STATUS_WORDS] {
    [
        u64::from(s.next.is_some()),
        s.next.unwrap_or(0),
        s.flows_done,
        s.events,
        u64::from(s.finished),
        s.last_end,
        s.now,
    ]
}

/// The status [`status_words`] made `w` of.
pub(super) fn status_of(w: &[u64]) -> Status {
    Status {
        next: (w[0] != 0).then_some(w[1]),
        flows_done: w[2],
        events: w[3],
        finished: w[4] != 0,
        last_end: w[5],
        now: w[6],
    }
}

// ---------------------------------------------------------------- shares

/// Appends `s`.
pub(super) fn put_share(buf: &mut Vec<u8>, s: &Share) {
    let mut e = Enc(buf);
    e.u16(s.me);
    e.len(s.ports.len());
    for p in &s.ports {
        e.words(&[p.tx_bytes, p.tx_pkts, p.busy_ps, p.data_bytes, p.ctrl_bytes]);
    }
    e.len(s.switches.len());
    for c in &s.switches {
        e.words(&switch_words(c));
    }
    e.len(s.nic_payload.len());
    for &(tx, rx) in &s.nic_payload {
        e.u64(tx);
        e.u64(rx);
    }
    let q = &s.qp;
    e.words(&[
        q.data_sent,
        q.data_retransmitted,
        q.bytes_placed,
        q.ev_retired,
        q.ev_resurrected,
        q.spurious_retransmits,
        q.probes_sent,
    ]);
    e.bool(s.placed_ok);
    e.len(s.flow_src.len());
    for &(pending, done, ok) in &s.flow_src {
        e.u32(pending);
        e.opt_u64(done);
        e.bool(ok);
    }
    e.u32s(&s.flow_dst);
    e.len(s.pair_src.len());
    for &(done, ok) in &s.pair_src {
        e.u8(u8::from(done) | u8::from(ok) << 1);
    }
    e.u64s(&s.pair_dst);
    e.u64(s.flows_done);
    let c = &s.count;
    e.words(&[
        c.pkts_sent,
        c.pkts_dropped_link,
        c.misrouted,
        c.corrupt,
        c.qp_errors,
    ]);
    e.words(&s.kinds);
    e.u64(s.replicated);
    e.u64(s.popped);
    e.u64(s.latest);
    e.len(s.ev_log.len());
    for c in &s.ev_log {
        e.u64(c.at_ps);
        e.u32(c.ev);
        e.bool(c.good);
    }
    put_timeline(&mut e, &s.timeline);
}

/// Reads what [`put_share`] wrote.
pub(super) fn get_share(d: &mut Dec<'_>) -> Share {
    let me = d.u16();
    let ports = (0..d.len())
        .map(|_| PortShare {
            tx_bytes: d.u64(),
            tx_pkts: d.u64(),
            busy_ps: d.u64(),
            data_bytes: d.u64(),
            ctrl_bytes: d.u64(),
        })
        .collect();
    let switches = (0..d.len())
        .map(|_| switch_of([(); SWITCH_WORDS].map(|()| d.u64())))
        .collect();
    let nic_payload = (0..d.len()).map(|_| (d.u64(), d.u64())).collect();
    let qp = QpSums {
        data_sent: d.u64(),
        data_retransmitted: d.u64(),
        bytes_placed: d.u64(),
        ev_retired: d.u64(),
        ev_resurrected: d.u64(),
        spurious_retransmits: d.u64(),
        probes_sent: d.u64(),
    };
    let placed_ok = d.bool();
    let flow_src = (0..d.len())
        .map(|_| (d.u32(), d.opt_u64(), d.bool()))
        .collect();
    let flow_dst = d.u32s();
    let pair_src = (0..d.len())
        .map(|_| {
            let b = d.u8();
            (b & 1 != 0, b & 2 != 0)
        })
        .collect();
    let pair_dst = d.u64s();
    let flows_done = d.u64();
    let count = Counters {
        pkts_sent: d.u64(),
        pkts_dropped_link: d.u64(),
        misrouted: d.u64(),
        corrupt: d.u64(),
        qp_errors: d.u64(),
    };
    let kinds = [(); 4].map(|()| d.u64());
    let (replicated, popped, latest) = (d.u64(), d.u64(), d.u64());
    let ev_log = (0..d.len())
        .map(|_| EvChange {
            at_ps: d.u64(),
            ev: d.u32(),
            good: d.bool(),
        })
        .collect();
    Share {
        me,
        ports,
        switches,
        nic_payload,
        qp,
        placed_ok,
        flow_src,
        flow_dst,
        pair_src,
        pair_dst,
        flows_done,
        count,
        kinds,
        replicated,
        popped,
        latest,
        ev_log,
        timeline: get_timeline(d),
    }
}

const SWITCH_WORDS: usize = 11;

fn switch_words(c: &SwitchCounters) -> [u64; SWITCH_WORDS] {
    [
        c.bytes_in,
        c.bytes_out,
        c.bytes_dropped,
        c.bytes_trimmed,
        c.pkts_dropped,
        c.dropped_data,
        c.dropped_control,
        c.dropped_trimmed,
        c.pkts_trimmed,
        c.pkts_marked,
        c.pfc_pauses,
    ]
}

fn switch_of(w: [u64; SWITCH_WORDS]) -> SwitchCounters {
    let [
        bytes_in,
        bytes_out,
        bytes_dropped,
        bytes_trimmed,
        pkts_dropped,
        dropped_data,
        dropped_control,
        dropped_trimmed,
        pkts_trimmed,
        pkts_marked,
        pfc_pauses,
    ] = w;
    SwitchCounters {
        bytes_in,
        bytes_out,
        bytes_dropped,
        bytes_trimmed,
        pkts_dropped,
        dropped_data,
        dropped_control,
        dropped_trimmed,
        pkts_trimmed,
        pkts_marked,
        pfc_pauses,
    }
}

/// Every label of a failure mark ([`super::failures`]' changes), by code.
const CHANGES: [&str; 6] = [
    "down",
    "up",
    "black-hole",
    "black-hole-end",
    "lossy",
    "loss-end",
];

fn put_timeline(e: &mut Enc<'_>, t: &Timeline) {
    e.u64(t.bin_ps);
    e.u64s(&t.delivered_bytes);
    e.u32s(&t.ev_good);
    e.u32s(&t.ev_skip);
    e.u32s(&t.ev_assumed_bad);
    e.len(t.links.len());
    for g in &t.links {
        e.u8(g.from_tier);
        e.u8(g.to_tier);
        e.u8(g.plane);
        e.u32(g.ports);
        e.u64(g.gbps);
        e.u64s(&g.tx_bytes);
        e.u64s(&g.queue_max_bytes);
    }
    e.len(t.failures.len());
    for f in &t.failures {
        e.u64(f.at_ps);
        e.u32(f.failure);
        let code = CHANGES.iter().position(|&c| c == f.change);
        e.u8(code.expect("codec: a failure mark's change is one of CHANGES") as u8);
    }
}

fn get_timeline(d: &mut Dec<'_>) -> Timeline {
    Timeline {
        bin_ps: d.u64(),
        delivered_bytes: d.u64s(),
        ev_good: d.u32s(),
        ev_skip: d.u32s(),
        ev_assumed_bad: d.u32s(),
        links: (0..d.len())
            .map(|_| LinkGroup {
                from_tier: d.u8(),
                to_tier: d.u8(),
                plane: d.u8(),
                ports: d.u32(),
                gbps: d.u64(),
                tx_bytes: d.u64s(),
                queue_max_bytes: d.u64s(),
            })
            .collect(),
        failures: (0..d.len())
            .map(|_| FailureMark {
                at_ps: d.u64(),
                failure: d.u32(),
                change: CHANGES[usize::from(d.u8())],
            })
            .collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test code")]
mod tests {
    use super::super::failures::Change;
    use super::super::part::{Exchange, Local, Meet, Outbox, Partitions};
    use super::*;
    use crate::config::RunSpec;
    use crate::factory::TransportFactory;
    use crate::report::RunReport;
    use crate::roce::{RoceFactory, RoceSettings};
    use crate::sim::Sim;
    use crate::testing::split_runs;
    use crate::transports::MrcFactory;

    /// Every event kind, and a packet with the headers of every MRC opcode (the wire crate's
    /// samples) and every class, trim and flag, come back as they went.
    #[test]
    fn messages_round_trip() {
        let mut msgs = Vec::new();
        for (i, s) in mrc_wire::sample::all().iter().enumerate() {
            let n = i as u32;
            let pkt = Pkt {
                carrier: (i % 2 == 0).then(|| Carrier::new(0xfc00_0000, &[5, 7, 9]).unwrap()),
                next: PktId::NONE,
                behind_at: 0,
                dst_nic: n,
                bytes: 4000 + n,
                hash: 0x1234_5678_9abc_def0 ^ u64::from(n),
                in_port: PortId::NONE,
                class: [
                    TrafficClass::Data,
                    TrafficClass::Retransmit,
                    TrafficClass::Control,
                ][i % 3],
                trim: [None, Some(Trim::Fabric), Some(Trim::LastHop)][i % 3],
                ecn: i % 2 == 1,
                srv6: i % 4 == 0,
            };
            let meta = Meta {
                repr: s.repr.mrc,
                ev: 0x105 + n,
                src_nic: 3 + n,
                pair: PairId(7 * n),
            };
            let port = PortId(n);
            msgs.push((1000 * u64::from(n), Msg::Packet { port, pkt, meta }));
        }
        let port = PortId(9);
        for ev in [
            Ev::Arrive { port },
            Ev::TxDone { port },
            Ev::Timer { ep: 3 },
            Ev::FlowStart { flow: FlowId(4) },
            Ev::Action { idx: 5 },
            Ev::Reroute { idx: 6 },
            Ev::Op { op: 7 },
            Ev::Pfc {
                port,
                pause: true,
                seq: 65_000,
            },
        ] {
            msgs.push((u64::MAX - 1, Msg::Event(ev)));
        }
        let mut buf = Vec::new();
        put_msgs(&mut buf, &msgs);
        let mut d = Dec(&buf);
        let back = get_msgs(&mut d);
        assert!(d.is_empty());
        // Every field is in the debug form (the types have no `PartialEq`).
        assert_eq!(format!("{back:?}"), format!("{msgs:?}"));
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            Status::default(),
            Status {
                next: Some(0),
                flows_done: 1,
                events: 2,
                finished: true,
                last_end: 3,
                now: u64::MAX,
            },
        ] {
            assert_eq!(status_of(&status_words(&s)), s);
        }
    }

    #[test]
    fn every_failure_change_has_a_code() {
        for c in [
            Change::Down,
            Change::Up,
            Change::BlackHole(true),
            Change::BlackHole(false),
            Change::Loss(0),
            Change::Loss(5),
        ] {
            assert!(CHANGES.contains(&c.label()), "{c:?}");
        }
    }

    /// A partition's share of a real split run comes back as it went.
    #[test]
    fn shares_round_trip() {
        let (mut p, _) =
            Partitions::new(split_runs::clos_with_failures(), MrcFactory::default(), 2).unwrap();
        p.run(&mut |_| {});
        let end = p.0[1].q.now();
        let s = p.0[1].share(end);
        assert!(!s.ports.is_empty() && !s.flow_src.is_empty() && s.timeline.bins() > 0);
        let mut buf = Vec::new();
        put_share(&mut buf, &s);
        let mut d = Dec(&buf);
        assert_eq!(get_share(&mut d), s);
        assert!(d.is_empty());
    }

    /// Partitions that exchange everything as bytes (as MPI ranks do) report what the whole
    /// run does.
    #[test]
    fn split_runs_through_the_codec_match_the_whole_run() {
        same_through_codec(&split_runs::clos_with_failures(), &MrcFactory::default());
        let f = RoceFactory(RoceSettings {
            qps: 2,
            ..RoceSettings::default()
        });
        same_through_codec(&split_runs::fat_tree_with_pfc(), &f);
    }

    fn same_through_codec<F: TransportFactory + Clone>(s: &RunSpec, f: &F)
    where
        Sim<F>: Send,
    {
        let mut whole = Sim::new(s.clone(), f.clone()).unwrap();
        let mut want = whole.run(&mut |_| {});
        for n in [2, 3] {
            let (mut p, why) = Partitions::new(s.clone(), f.clone(), n).unwrap();
            assert_eq!((p.len(), why), (n, None));
            let mut got = run_coded(&mut p.0);
            (got.wall_s, want.wall_s) = (0.0, 0.0);
            assert!(
                got == want,
                "{n} partitions through the codec: report differs"
            );
            assert!(p.0[0].port_counters() == whole.port_counters());
            assert!(p.0[0].switch_counters() == whole.switch_counters());
        }
    }

    /// The threads' exchange with every message, status and share encoded and decoded.
    struct Coded<'a>(Local<'a>);

    impl Meet for Coded<'_> {
        fn count(&self) -> usize {
            self.0.count()
        }
        fn meet(&mut self, out: Outbox, st: Status) -> (Vec<Vec<(Time, Msg)>>, Vec<Status>) {
            let out = out.iter().map(|m| {
                let mut buf = Vec::new();
                put_msgs(&mut buf, m);
                get_msgs(&mut Dec(&buf))
            });
            let (inbox, all) = self.0.meet(out.collect(), status_of(&status_words(&st)));
            let all = all.iter().map(|s| status_of(&status_words(s))).collect();
            (inbox, all)
        }
    }

    fn run_coded<F: TransportFactory>(parts: &mut [Sim<F>]) -> RunReport
    where
        Sim<F>: Send,
    {
        let ex = Exchange::new(parts.len());
        let (first, rest) = parts.split_first_mut().unwrap();
        let (end, shares) = std::thread::scope(|s| {
            let ex = &ex;
            let handles: Vec<_> = rest
                .iter_mut()
                .map(|sim| {
                    s.spawn(move || {
                        let me = usize::from(sim.part.me);
                        let end = sim.run_partition(&mut Coded(Local::new(ex, me)), &mut |_| {});
                        let mut buf = Vec::new();
                        put_share(&mut buf, &sim.share(end));
                        buf
                    })
                })
                .collect();
            let end = first.run_partition(&mut Coded(Local::new(ex, 0)), &mut |_| {});
            let shares: Vec<Share> = handles
                .into_iter()
                .map(|h| get_share(&mut Dec(&h.join().unwrap())))
                .collect();
            (end, shares)
        });
        first.merged_report(end, &shares, std::time::Instant::now())
    }
}
