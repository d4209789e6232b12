//! The real transport over plain UDP on the loopback interface (no SRv6, no root needed):
//! the EV travels in the UDP source port.
#![allow(clippy::unwrap_used, reason = "test code")]

use mrc_net::endpoint::PathMode;
use mrc_net::perf::{PerfConfig, loopback, run_pair};

#[test]
fn loopback_transfer_verifies_byte_for_byte() {
    let port = 20_000 + (std::process::id() % 20_000) as u16;
    let evs = vec![vec![0, 1, 2, 3], vec![256, 257, 258, 259]];
    let mut s = PerfConfig::new(PathMode::Loopback, loopback(port), evs.clone());
    s.peer = Some(loopback(port + 1));
    s.bytes = 8 << 20;
    s.qps = 2;
    let mut c = PerfConfig::new(PathMode::Loopback, loopback(port + 1), evs);
    c.peer = Some(loopback(port));
    c.bytes = 8 << 20;
    c.qps = 2;
    c.write_size = 256 << 10;
    let (sr, cr) = run_pair(&s, None, &c, None, &mut |_| {}).unwrap();
    eprintln!("server {sr:?}\nclient {cr:?}");
    assert!(sr.verified && cr.verified);
    assert_eq!(sr.bytes, 16 << 20);
    assert_eq!(cr.bytes, 16 << 20);
    assert_eq!(sr.digest, cr.digest);
    // The kernel stamped the datagrams' arrivals (SO_TIMESTAMPNS); both sides timed their rounds.
    assert!(sr.max_arrival_gap_ms > 0.0, "no arrival timestamps: {sr:?}");
    assert!(sr.max_round_gap_ms > 0.0 && cr.max_round_gap_ms > 0.0);
}

#[test]
fn qp_timers_allow_for_the_host() {
    use mrc_net::perf::{HOST_RTT, QpProfile};
    let evs = vec![vec![0, 1]];
    let p = QpProfile {
        evs: &evs,
        seed: 1,
        payload: 8192,
        base_rtt: mrc_proto::Duration::from_micros(1000),
        sleek_scale: 1.0,
        rate_bps: 10_000_000_000,
        share: 1,
    };
    // The timers assume the host's round trip; NSCC keeps the fabric's.
    assert_eq!(p.conn_config(1, 2).base_rtt, HOST_RTT);
    assert_eq!(p.path().base_rtt, p.base_rtt);
}

#[test]
fn seeded_keys_need_no_exchange_and_os_keys_differ() {
    let port = 40_000 + (std::process::id() % 9_000) as u16;
    let evs = vec![vec![0, 1], vec![256, 257]];
    let mut s = PerfConfig::new(PathMode::Loopback, loopback(port), evs.clone());
    assert_eq!(s.key_seed, None, "keys come from the OS by default");
    s.peer = Some(loopback(port + 1));
    s.bytes = 1 << 20;
    s.key_seed = Some(7);
    let mut c = PerfConfig::new(PathMode::Loopback, loopback(port + 1), evs);
    c.peer = Some(loopback(port));
    c.bytes = 1 << 20;
    c.key_seed = Some(7);
    let (sr, cr) = run_pair(&s, None, &c, None, &mut |_| {}).unwrap();
    assert!(sr.verified && cr.verified);
    let a = mrc_net::sys::os_random_u64().unwrap();
    let b = mrc_net::sys::os_random_u64().unwrap();
    assert_ne!(a, b);
}
