//! The real transport on the namespace fabric with kernel SRv6 (root only; skipped with a
//! printed reason otherwise). One test runs the scenarios in order on one fabric.
#![allow(clippy::unwrap_used, reason = "test code")]

use std::net::SocketAddrV6;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mrc_net::endpoint::{PORT, PathMode};
use mrc_net::fabric::MARK_BASE;
use mrc_net::perf::{PerfConfig, TcpConfig, fabric_evs, run_pair, run_tcp_pair};
use mrc_net::{Fabric, FabricSpec};

struct Guard(String);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = mrc_net::fabric::down(&self.0);
    }
}

fn skip_reason() -> Option<String> {
    if !mrc_net::sys::is_root() {
        return Some("not root (CAP_NET_ADMIN needed for network namespaces)".into());
    }
    let probe = format!("mrcprobe{}", std::process::id());
    match std::process::Command::new("ip")
        .args(["netns", "add", &probe])
        .output()
    {
        Ok(o) if o.status.success() => {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &probe])
                .output();
            None
        }
        Ok(o) => Some(format!(
            "`ip netns add` refused: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("cannot run `ip`: {e}")),
    }
}

fn configs(f: &Fabric, from: u32, to: u32, bytes: u64) -> (PerfConfig, PerfConfig) {
    let evs = fabric_evs(f, None);
    let payload = 8192.min(f.max_udp_payload() - 128);
    let srv_addr = SocketAddrV6::new(f.nic_addr(to), PORT, 0, 0);
    let mut s = PerfConfig::new(PathMode::Srv6, srv_addr, evs.clone());
    s.bytes = bytes;
    s.payload = payload;
    s.deadline = Duration::from_secs(30);
    let mut c = PerfConfig::new(
        PathMode::Srv6,
        SocketAddrV6::new(f.nic_addr(from), PORT, 0, 0),
        evs,
    );
    c.peer = Some(srv_addr);
    c.bytes = bytes;
    c.payload = payload;
    c.write_size = 256 << 10;
    c.deadline = Duration::from_secs(30);
    (s, c)
}

#[test]
fn srv6_fabric_every_pair_every_path_link_pull_lane_down_and_tcp() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED namespace transport test: {why}");
        return;
    }
    let prefix = format!("tn{}", std::process::id());
    let f = Fabric::new(FabricSpec::small(&prefix)).unwrap();
    let _guard = Guard(prefix.clone());
    f.up().unwrap();
    let all_evs: Vec<u32> = f.evs();

    // 1. Every ordered NIC pair, every EV.
    for from in 0..4 {
        for to in 0..4 {
            if from == to {
                continue;
            }
            let (s, c) = configs(&f, from, to, 4 << 20);
            let (sr, cr) = run_pair(
                &s,
                Some(&f.nic_ns(to)),
                &c,
                Some(&f.nic_ns(from)),
                &mut |_| {},
            )
            .unwrap();
            assert!(
                sr.verified && cr.verified,
                "nic{from} → nic{to}: {sr:?} {cr:?}"
            );
            // Data arrived on every path (the receiver sees the sender's EV).
            let arrived: Vec<u32> = sr.data_per_ev.iter().map(|e| e.0).collect();
            assert_eq!(
                arrived, all_evs,
                "nic{from} → nic{to}: {:?}",
                sr.data_per_ev
            );
        }
    }

    // 2. Link pull during a transfer: T0–T1 cable of EV 1 from nic0 (p0-t0-0 uplink 1).
    let (s, mut c) = configs(&f, 0, 3, 256 << 20);
    c.deadline = Duration::from_secs(60);
    let times = Mutex::new((None::<Instant>, None::<Instant>));
    let go = std::sync::atomic::AtomicBool::new(false);
    let fref = &f;
    let (sr, cr) = std::thread::scope(|sc| {
        let pull = sc.spawn(|| {
            let t = Instant::now();
            while !go.load(std::sync::atomic::Ordering::Relaxed)
                && t.elapsed() < Duration::from_secs(20)
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            fref.set_link("p0-t0-0:u1", "p0-t1-1", false).unwrap();
            times.lock().unwrap().0 = Some(Instant::now());
            std::thread::sleep(Duration::from_millis(150));
            fref.set_link("p0-t0-0:u1", "p0-t1-1", true).unwrap();
            times.lock().unwrap().1 = Some(Instant::now());
        });
        // Pull the cable 50 ms into the transfer.
        let mut hook = |t: Duration| {
            if t > Duration::from_millis(50) {
                go.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        };
        let r = run_pair(&s, Some(&f.nic_ns(3)), &c, Some(&f.nic_ns(0)), &mut hook).unwrap();
        go.store(true, std::sync::atomic::Ordering::Relaxed);
        pull.join().unwrap();
        r
    });
    let (down_at, up_at) = *times.lock().unwrap();
    let started = cr.started.unwrap();
    eprintln!("link pull: client {cr:?}\nserver {sr:?}");
    assert!(sr.verified && cr.verified);
    let down_t = down_at.map(|t| t.duration_since(started).as_secs_f64());
    eprintln!(
        "cable down at {down_t:?} s, up at {:?} s",
        up_at.map(|t| t.duration_since(started).as_secs_f64())
    );
    if let Some(dt) = down_t
        && dt < cr.secs
    {
        let retired = cr
            .ev_changes
            .iter()
            .find(|e| e.ev == 1 && !e.good && e.t >= dt - 0.001);
        eprintln!(
            "EV 1 retired {:?} ms after the pull",
            retired.map(|e| (e.t - dt) * 1e3)
        );
        assert!(
            cr.ev_changes.iter().any(|e| e.ev == 1 && !e.good),
            "EV 1 never retired: {:?}",
            cr.ev_changes
        );
    }

    // 3. NIC lane down: plane 1 of nic0 goes away for the whole transfer; plane 0 carries it.
    // The endpoint sees the lane's carrier go and tells every QP (port status, as in the
    // simulator): nothing is sent on plane 1, so nothing is lost there.
    f.set_link("nic0", "p1-t0-0", false).unwrap();
    let (s, c) = configs(&f, 0, 2, 32 << 20);
    let (sr, cr) = run_pair(&s, Some(&f.nic_ns(2)), &c, Some(&f.nic_ns(0)), &mut |_| {}).unwrap();
    eprintln!("lane down: {cr:?}");
    assert!(sr.verified && cr.verified);
    assert!(
        cr.sent_per_ev.iter().all(|&(ev, _)| ev >> 8 == 0),
        "sent on the dead lane: {cr:?}"
    );
    f.set_link("nic0", "p1-t0-0", true).unwrap();

    // 4. TCP baseline pinned to EV 1, healthy fabric: works and verifies.
    let srv = SocketAddrV6::new(f.nic_addr(3), PORT + 1, 0, 0);
    let tcp = TcpConfig {
        client_src: Some(f.nic_addr(0)),
        server: srv,
        mark: Some(MARK_BASE + 1),
        bytes: 32 << 20,
        seed: 1,
        deadline: Duration::from_secs(20),
    };
    let (ts, tc) = run_tcp_pair(&tcp, Some(&f.nic_ns(3)), Some(&f.nic_ns(0))).unwrap();
    eprintln!("tcp: {tc:?}");
    assert!(ts.verified && tc.verified);
}
