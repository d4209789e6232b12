use super::*;
use crate::{EvProfile, Event, WcStatus, WriteRequest};
use mrc_wire::mrc::{ENDPOINT_QPN, EndpointOp};

const A: PeerId = PeerId(1);
const B: PeerId = PeerId(2);
const T0: Instant = Instant::from_nanos(0);

fn config(qpn: u32, remote: u32, seed: u64) -> ConnectionConfig {
    let mut c = PathProfile::new(
        PathProfile::evs_from(2, 4, |p, i| u32::from(p) << 8 | i),
        100_000_000_000,
        Duration::from_micros(10),
        4096,
    )
    .conn_config(qpn, remote, seed);
    c.ev_profile = EvProfile {
        id: 1,
        ..c.ev_profile
    };
    c
}

fn qp(qpn: u32, remote: u32) -> Connection {
    let mut c = Connection::new_rts(config(qpn, remote, u64::from(qpn)), MrcQpAttr::default())
        .expect("default attributes");
    c.regions_mut().register(1 << 20);
    c
}

/// Two NICs: `a` holds requesters 0x100 + i bound to B, `b` responders 0x200 + i bound to A.
fn pair(n: u32) -> (Nic<Connection>, Nic<Connection>) {
    let mut a = Nic::new();
    let mut b = Nic::new();
    for i in 0..n {
        a.add_qp(T0, qp(0x100 + i, 0x200 + i), Some(B))
            .expect("fresh");
        b.add_qp(T0, qp(0x200 + i, 0x100 + i), Some(A))
            .expect("fresh");
    }
    (a, b)
}

fn post(nic: &mut Nic<Connection>, id: QpId, len: u32) {
    let q = nic.qp_mut(id).expect("qp");
    let local = q.regions().handles().next().expect("region");
    let wr = WriteRequest {
        wr_id: 7,
        local_addr: local.addr,
        len,
        remote_addr: 0,
        rkey: 0,
        imm: None,
    };
    q.post_write(wr).expect("post");
}

/// Instant network: moves everything both ways until quiet; returns the transmitting QPs of
/// `a` in order.
fn run(a: &mut Nic<Connection>, b: &mut Nic<Connection>, now: Instant) -> Vec<QpId> {
    let mut order = Vec::new();
    loop {
        let mut moved = false;
        while let Some((id, tx)) = a.poll_transmit(now, PortMask::ALL) {
            order.push(id);
            moved = true;
            let rx = Received::new(tx.repr, tx.ev, tx.port, None);
            let d = b.handle_packet(now, A, &rx);
            assert!(
                matches!(d, Demux::Delivered { .. } | Demux::Endpoint(_)),
                "{d:?}"
            );
        }
        while let Some((_, tx)) = b.poll_transmit(now, PortMask::ALL) {
            moved = true;
            let rx = Received::new(tx.repr, tx.ev, tx.port, None);
            a.handle_packet(now, B, &rx);
        }
        if !moved {
            return order;
        }
    }
}

/// The responders' remote regions: the tests write with the responder's own handle.
fn aim(a: &mut Nic<Connection>, b: &Nic<Connection>, id: QpId, len: u32) {
    let r = b
        .qp(id)
        .and_then(|q| q.regions().handles().next())
        .expect("region");
    let q = a.qp_mut(id).expect("qp");
    let local = q.regions().handles().next().expect("region");
    q.post_write(WriteRequest {
        wr_id: u64::from(id.0),
        local_addr: local.addr,
        len,
        remote_addr: r.addr,
        rkey: r.rkey,
        imm: None,
    })
    .expect("post");
}

#[test]
fn demux_reaches_the_right_qp() {
    let (mut a, mut b) = pair(4);
    for i in 0..4 {
        aim(&mut a, &b, QpId(i), 64 << 10);
    }
    run(&mut a, &mut b, Instant::from_nanos(1_000));
    for i in 0..4 {
        let q = a.qp_mut(QpId(i)).expect("qp");
        let mut ok = false;
        while let Some(e) = q.poll_event() {
            if let Event::SendComplete { wr_id, status } = e {
                assert_eq!((wr_id, status), (u64::from(i), WcStatus::Success));
                ok = true;
            }
        }
        assert!(ok, "QP {i} completed");
        // Each responder placed exactly its own requester's bytes.
        let placed = b.qp(QpId(i)).map(|q| q.stats().bytes_placed);
        assert_eq!(placed, Some(64 << 10));
    }
    assert_eq!(b.stats().foreign, 0);
    assert_eq!(b.stats().unknown_qp, 0);
}

#[test]
fn foreign_and_unknown_are_dropped_and_counted() {
    let (mut a, mut b) = pair(2);
    aim(&mut a, &b, QpId(0), 4096);
    let now = Instant::from_nanos(1_000);
    let (_, tx) = a.poll_transmit(now, PortMask::ALL).expect("a packet");
    let rx = Received::new(tx.repr, tx.ev, tx.port, None);
    // Right QPN, wrong peer.
    assert_eq!(b.handle_packet(now, PeerId(9), &rx), Demux::Foreign);
    assert_eq!(b.stats().foreign, 1);
    // A QPN nobody has.
    let mut other = rx;
    other.repr.bth.dest_qp = 0x999;
    assert_eq!(b.handle_packet(now, A, &other), Demux::UnknownQp(0x999));
    b.count_unknown();
    assert_eq!(b.stats().unknown_qp, 1);
    assert_eq!(b.qp(QpId(0)).map(|q| q.stats().data_received), Some(0));
    // The real one goes through; its SACK, relabelled with another source QPN, is foreign.
    assert!(matches!(
        b.handle_packet(now, A, &rx),
        Demux::Delivered { qp: QpId(0), .. }
    ));
    let (_, sack) = b.poll_transmit(now, PortMask::ALL).expect("a SACK");
    let mut forged = Received::new(sack.repr, sack.ev, sack.port, None);
    match &mut forged.repr.body {
        Body::Sack { seth, .. } => seth.spdcid = 0x201,
        other => panic!("expected a SACK, got {other:?}"),
    }
    assert_eq!(a.handle_packet(now, B, &forged), Demux::Foreign);
    assert_eq!(a.stats().foreign, 1);
    let real = Received::new(sack.repr, sack.ev, sack.port, None);
    assert!(matches!(
        a.handle_packet(now, B, &real),
        Demux::Delivered { qp: QpId(0), .. }
    ));
}

#[test]
fn first_packet_binds_an_unbound_qp() {
    let mut b: Nic<Connection> = Nic::new();
    let id = b.add_qp(T0, qp(0x200, 0x100), None).expect("fresh");
    let mut a: Nic<Connection> = Nic::new();
    a.add_qp(T0, qp(0x100, 0x200), Some(B)).expect("fresh");
    post(&mut a, QpId(0), 8192);
    let now = Instant::from_nanos(1_000);
    let (_, t1) = a.poll_transmit(now, PortMask::ALL).expect("packet");
    let (_, t2) = a.poll_transmit(now, PortMask::ALL).expect("packet");
    let r1 = Received::new(t1.repr, t1.ev, t1.port, None);
    let r2 = Received::new(t2.repr, t2.ev, t2.port, None);
    assert_eq!(
        b.handle_packet(now, A, &r1),
        Demux::Delivered {
            qp: id,
            bound: true
        }
    );
    assert_eq!(b.peer(id), Some(A));
    assert_eq!(b.handle_packet(now, PeerId(5), &r2), Demux::Foreign);
    assert_eq!(
        b.handle_packet(now, A, &r2),
        Demux::Delivered {
            qp: id,
            bound: false
        }
    );
    // With binding off, an unbound QP takes nothing.
    let mut c: Nic<Connection> = Nic::new();
    c.set_bind_on_first_packet(false);
    c.add_qp(T0, qp(0x200, 0x100), None).expect("fresh");
    assert_eq!(c.handle_packet(now, A, &r1), Demux::Foreign);
    // Duplicates are refused.
    assert_eq!(
        b.add_qp(T0, qp(0x200, 0x100), Some(A)).err(),
        Some(NicError::DuplicateQpn(0x200))
    );
}

#[test]
fn port_status_reaches_every_qp_and_endpoint_packets_the_bound_ones() {
    let (mut a, mut b) = pair(3);
    let now = Instant::from_nanos(1_000);
    a.handle_port_status(now, 1, false);
    a.handle_port_status(now, 1, false); // no change: not fanned out twice
    assert_eq!(a.stats().port_changes, 1);
    assert!(!a.ports_up().contains(1));
    // Every QP announces it (Port Status Update to the endpoint QPN), never on port 1.
    let mut updates = 0;
    let mut delivered = 0;
    while let Some((_, tx)) = a.poll_transmit(now, PortMask::ALL) {
        assert_ne!(tx.port, 1, "a down port is never offered");
        if let Body::EndpointRequest(r) = &tx.repr.body {
            assert_eq!(tx.repr.bth.dest_qp, ENDPOINT_QPN);
            assert_eq!(r.op, EndpointOp::PortStatusUpdate);
            updates += 1;
            let rx = Received::new(tx.repr, tx.ev, tx.port, None);
            if let Demux::Endpoint(n) = b.handle_packet(now, A, &rx) {
                delivered += n;
            }
            // From a peer with no QP here: nobody takes it.
            assert_eq!(b.handle_packet(now, PeerId(9), &rx), Demux::Foreign);
        }
    }
    assert_eq!(updates, 3);
    // Node-scoped: each update reaches every QP bound to the sender.
    assert_eq!(delivered, 9);
    assert_eq!(b.stats().endpoint_unclaimed, 3);
    let mut seen = 0;
    for i in 0..3 {
        let q = b.qp_mut(QpId(i)).expect("qp");
        while let Some(e) = q.poll_event() {
            if let Event::PeerPortStatus { mask } = e {
                assert_eq!(mask & 0b11, 0b01);
                seen += 1;
            }
        }
    }
    assert!(seen >= 3, "every responder heard the peer's ports ({seen})");
    // A QP added while the port is down learns it at once (and announces it).
    a.add_qp(now, qp(0x103, 0x203), Some(B)).expect("fresh");
    let mut late = 0;
    while let Some((id, tx)) = a.poll_transmit(now, PortMask::ALL) {
        if id == QpId(3) && matches!(tx.repr.body, Body::EndpointRequest(_)) {
            late += 1;
        }
    }
    assert_eq!(late, 1);
}

#[test]
fn ports_are_shared_round_robin() {
    let (mut a, b) = pair(4);
    let mut b = b;
    for i in 0..4 {
        aim(&mut a, &b, QpId(i), 256 << 10);
    }
    let now = Instant::from_nanos(1_000);
    let mut first = Vec::new();
    for _ in 0..40 {
        let (id, tx) = a.poll_transmit(now, PortMask::ALL).expect("data");
        first.push(id.0);
        let rx = Received::new(tx.repr, tx.ev, tx.port, None);
        b.handle_packet(now, A, &rx);
    }
    // Every QP has data: strict rotation.
    for (k, id) in first.iter().enumerate() {
        assert_eq!(*id, k as u32 % 4, "{first:?}");
    }
    // One QP idle: the others share without gaps.
    let (mut a, mut b) = pair(3);
    aim(&mut a, &b, QpId(0), 64 << 10);
    aim(&mut a, &b, QpId(2), 64 << 10);
    let order = run(&mut a, &mut b, now);
    let (n0, n2) = order.iter().take(20).fold((0, 0), |(x, y), q| match q.0 {
        0 => (x + 1, y),
        2 => (x, y + 1),
        _ => (x, y),
    });
    assert_eq!((n0, n2), (10, 10), "{order:?}");
}

#[test]
fn a_burst_keeps_a_qps_packets_together_and_passes_on_when_it_runs_dry() {
    let now = Instant::from_nanos(1_000);
    let (mut a, mut b) = pair(3);
    a.set_burst(4);
    for i in 0..3 {
        aim(&mut a, &b, QpId(i), 256 << 10);
    }
    let mut order = Vec::new();
    for _ in 0..24 {
        let (id, tx) = a.poll_transmit(now, PortMask::ALL).expect("data");
        order.push(id.0);
        b.handle_packet(now, A, &Received::new(tx.repr, tx.ev, tx.port, None));
    }
    for (k, id) in order.iter().enumerate() {
        assert_eq!(*id, (k / 4) as u32 % 3, "{order:?}");
    }
    // A QP with less than a burst to send hands its turn on at once.
    let (mut a, mut b) = pair(2);
    a.set_burst(4);
    aim(&mut a, &b, QpId(0), 4096);
    aim(&mut a, &b, QpId(1), 64 << 10);
    let order = run(&mut a, &mut b, now);
    let first: Vec<u32> = order.iter().take(5).map(|q| q.0).collect();
    assert_eq!(first, [0, 1, 1, 1, 1], "{order:?}");
}

#[test]
fn poll_timeout_is_the_earliest_qp_timer() {
    let (mut a, mut b) = pair(5);
    let min = |n: &Nic<Connection>| n.qps().iter().filter_map(Transport::poll_timeout).min();
    assert_eq!(a.poll_timeout(), min(&a));
    let now = Instant::from_nanos(1_000);
    for i in [1, 3] {
        aim(&mut a, &b, QpId(i), 32 << 10);
    }
    // Send a few packets only: timers armed, nothing acked.
    for _ in 0..4 {
        let (_, tx) = a.poll_transmit(now, PortMask::ALL).expect("data");
        b.handle_packet(now, A, &Received::new(tx.repr, tx.ev, tx.port, None));
    }
    assert!(a.poll_timeout().is_some());
    assert!(a.poll_timeout() <= min(&a) && a.poll_timeout().is_some());
    assert!(b.poll_timeout().is_some() == min(&b).is_some());
    // Fire every timer in turn: the NIC runs exactly the due ones and never answers later
    // than the minimum (earlier only for a deadline that moved, and then runs nothing).
    let mut t = now;
    for _ in 0..50 {
        let Some(next) = a.poll_timeout() else { break };
        assert!(min(&a).is_some_and(|m| next <= m));
        t = next.max(t);
        let due: Vec<QpId> = (0..a.len() as u32)
            .map(QpId)
            .filter(|&i| {
                a.qp(i)
                    .and_then(Transport::poll_timeout)
                    .is_some_and(|d| d <= t)
            })
            .collect();
        let fired = a.handle_timeout(t).to_vec();
        assert_eq!(fired.len(), due.len(), "{fired:?} {due:?}");
        assert!(due.iter().all(|q| fired.contains(q)));
        assert!(a.poll_timeout().is_none_or(|n| n > t || min(&a) == Some(n)));
        while a.poll_transmit(t, PortMask::ALL).is_some() {}
    }
}

#[test]
fn handle_timeout_of_runs_one_qp_only_when_due() {
    let (mut a, mut b) = pair(3);
    let now = Instant::from_nanos(1_000);
    for i in [0, 1] {
        aim(&mut a, &b, QpId(i), 32 << 10);
    }
    // Data out, nothing acked: both requesters hold a timer.
    for _ in 0..4 {
        let (_, tx) = a.poll_transmit(now, PortMask::ALL).expect("data");
        b.handle_packet(now, A, &Received::new(tx.repr, tx.ev, tx.port, None));
    }
    let of = |n: &Nic<Connection>, i: u32| n.qp(QpId(i)).and_then(Transport::poll_timeout);
    let (d0, d1) = (of(&a, 0).expect("armed"), of(&a, 1).expect("armed"));
    assert!(
        !a.handle_timeout_of(d0.max(d1), QpId(2)),
        "no timer: nothing due"
    );
    assert!(!a.handle_timeout_of(d0 - Duration::from_nanos(1), QpId(0)));
    assert_eq!(of(&a, 0), Some(d0), "not due: nothing ran");
    let t = d0.max(d1);
    assert!(a.handle_timeout_of(t, QpId(0)));
    assert_ne!(of(&a, 0), Some(d0), "its timer ran");
    assert_eq!(of(&a, 1), Some(d1), "another QP's timer did not");
    // The NIC's own timer still answers no later than the earliest QP timer.
    let min = a.qps().iter().filter_map(Transport::poll_timeout).min();
    assert!(a.poll_timeout() <= min);
}

#[test]
fn path_profile_sizes_the_window_by_share() {
    let planes = PathProfile::evs_from(2, 3, |p, i| u32::from(p) << 8 | i);
    assert_eq!(planes[1].active, vec![0x100, 0x101, 0x102]);
    let p = PathProfile::new(planes, 10_000_000_000, Duration::from_micros(1000), 8192);
    assert_eq!(p.bdp_bytes(), 1_250_000);
    let one = p.conn_config(1, 2, 3);
    let eight = PathProfile {
        share: 8,
        ..p.clone()
    }
    .conn_config(1, 2, 3);
    let max = |c: &ConnectionConfig| match &c.cc_profile.algorithm {
        CcAlgorithm::Nscc(n) => n.max_cwnd,
        _ => 0,
    };
    assert!(max(&eight) * 7 < max(&one) && max(&eight) * 9 > max(&one));
    assert_eq!(one.ev_profile.ev_min_active, 1);
    assert_eq!(p.mpr(), 5);
}

/// A transport that never has anything to send and counts how often it is asked.
#[derive(Debug)]
struct Counting {
    asked: u32,
    regions: crate::MemoryRegions,
    stats: crate::Stats,
}

impl Transport for Counting {
    fn handle_packet(&mut self, _now: Instant, _pkt: &Received<'_>) {}
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_transmit(&mut self, _now: Instant, _ready: PortMask) -> Option<Transmit> {
        self.asked += 1;
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn poll_event(&mut self) -> Option<Event> {
        None
    }
    fn post_write(&mut self, _wr: WriteRequest) -> Result<(), crate::PostError> {
        Ok(())
    }
    fn handle_port_status(&mut self, _now: Instant, _port: u8, _up: bool) {}
    fn regions(&self) -> &crate::MemoryRegions {
        &self.regions
    }
    fn regions_mut(&mut self) -> &mut crate::MemoryRegions {
        &mut self.regions
    }
    fn stats(&self) -> &crate::Stats {
        &self.stats
    }
    fn state(&self) -> crate::QpState {
        crate::QpState::Rts
    }
    fn outstanding(&self) -> usize {
        0
    }
}

#[derive(Debug)]
struct CountingQp(Counting, u32);

impl NicQp for CountingQp {
    type Conn = Counting;
    fn conn(&self) -> &Counting {
        &self.0
    }
    fn conn_mut(&mut self) -> &mut Counting {
        &mut self.0
    }
    fn qpn(&self) -> u32 {
        self.1
    }
    fn remote_qpn(&self) -> u32 {
        self.1
    }
}

#[test]
fn a_qp_with_nothing_to_send_is_not_asked_again_until_touched() {
    let mut nic = Nic::new();
    for i in 0..3 {
        let c = Counting {
            asked: 0,
            regions: crate::MemoryRegions::new(0),
            stats: crate::Stats::default(),
        };
        nic.add_qp(T0, CountingQp(c, 0x100 + i), Some(A))
            .expect("fresh");
    }
    let asked = |n: &Nic<CountingQp>| n.qps().iter().map(|q| q.0.asked).collect::<Vec<_>>();
    let one = PortMask(1);
    assert!(nic.poll_transmit(T0, one).is_none());
    assert!(nic.poll_transmit(T0, one).is_none());
    assert_eq!(asked(&nic), [1, 1, 1], "idle on port 0: not asked again");
    // Another port is news to every QP; port 0 alone is not.
    assert!(nic.poll_transmit(T0, PortMask(0b11)).is_none());
    assert!(nic.poll_transmit(T0, PortMask(0b10)).is_none());
    assert_eq!(asked(&nic), [2, 2, 2]);
    // Borrowing a QP (to post work) wakes it, and only it.
    assert!(nic.qp_mut(QpId(1)).is_some());
    assert!(nic.poll_transmit(T0, one).is_none());
    assert_eq!(asked(&nic), [2, 3, 2]);
    // A port change wakes all.
    nic.handle_port_status(T0, 3, false);
    assert!(nic.poll_transmit(T0, one).is_none());
    assert_eq!(asked(&nic), [3, 4, 3]);
    // Its timer event wakes a QP even when no timer was due.
    assert!(!nic.handle_timeout_of(T0, QpId(2)));
    assert!(nic.poll_transmit(T0, one).is_none());
    assert_eq!(asked(&nic), [3, 4, 4]);
}
