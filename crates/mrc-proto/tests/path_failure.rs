//! Black-holing one of 128 paths mid-transfer: the EV is retired within a few RTTs, goodput
//! recovers, and once the path is repaired probes resurrect the EV.
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use common::*;
use mrc_proto::testing::{Harness, PathConfig};
use mrc_proto::{Connection, Duration, EvState, Event, Instant, MrcQpAttr, Transport};

const PLANES: u8 = 8;
const ACTIVE: u32 = 16;
const BACKUP: u32 = 4;

fn bulk(seed: u64) -> Harness<Connection> {
    let mut h = pair(
        seed,
        PLANES,
        ACTIVE,
        BACKUP,
        PathConfig::default(),
        MrcQpAttr::default(),
    );
    h.net.carry_payload = false;
    let len: u64 = 256 << 20;
    let src = h.ends[0].regions_mut().register_virtual(len);
    let dst = h.ends[1].regions_mut().register_virtual(len);
    for i in 0..256u64 {
        h.ends[0]
            .post_write(write(i, src, dst, i << 20, 1 << 20, None))
            .unwrap();
    }
    h
}

fn placed(h: &Harness<Connection>) -> u64 {
    h.stats(1).bytes_placed
}

fn run_to(h: &mut Harness<Connection>, t: Instant) {
    h.run_until(t, |h| h.now >= t);
}

#[test]
fn black_holed_path_is_retired_fast_goodput_recovers_and_probes_resurrect_it() {
    let t_fail = Instant::from_nanos(200_000);
    let (w0, w1) = (
        t_fail + Duration::from_micros(100),
        t_fail + Duration::from_micros(600),
    );

    // Baseline: no failure.
    let mut base = bulk(7);
    run_to(&mut base, w0);
    let b0 = placed(&base);
    run_to(&mut base, w1);
    let base_goodput = (placed(&base) - b0) as f64;

    let mut h = bulk(7);
    run_to(&mut h, t_fail);
    // Fail an active EV of plane 3.
    let victim = h.ends[0].ev_set().active(3).next().unwrap();
    h.net.paths[victim as usize].black_hole = true;
    let srtt = h.ends[0].srtt().unwrap();
    let retired_at = {
        let mut at = false;
        h.run_until(t_fail + Duration::from_millis(1), |h| {
            at = h.events[0].iter().any(|e| {
                matches!(e, Event::EvState { ev, state: EvState::AssumedBad, .. } if *ev == victim)
            });
            at
        });
        assert!(at, "victim EV never retired");
        h.now
    };
    let rtts = retired_at.saturating_since(t_fail).as_nanos() as f64 / srtt.as_nanos() as f64;
    eprintln!(
        "victim EV {victim} retired after {:?} = {rtts:.2} SRTT (SRTT {srtt:?})",
        retired_at.saturating_since(t_fail)
    );
    assert!(rtts <= 3.0, "retired after {rtts:.2} RTTs");
    assert!(!h.ends[0].ev_set().active(3).any(|e| e == victim));
    assert_eq!(
        h.ends[0].ev_set().active(3).count(),
        ACTIVE as usize,
        "backup took the slot"
    );

    run_to(&mut h, w0);
    let f0 = placed(&h);
    run_to(&mut h, w1);
    let goodput = (placed(&h) - f0) as f64;
    let remaining =
        f64::from(ACTIVE * u32::from(PLANES) - 1) / f64::from(ACTIVE * u32::from(PLANES));
    let ratio = goodput / (base_goodput * remaining);
    eprintln!(
        "goodput after failure {:.1} Gb/s vs baseline {:.1} Gb/s: {:.1}% of remaining capacity",
        goodput * 8.0 / 500e3,
        base_goodput * 8.0 / 500e3,
        ratio * 100.0
    );
    assert!(ratio >= 0.95, "goodput {:.1}% of remaining", ratio * 100.0);

    // Repair: probes bring the EV back.
    h.net.paths[victim as usize].black_hole = false;
    let repaired = h.now;
    let back = h.run_until(repaired + Duration::from_millis(5), |h| {
        h.events[0]
            .iter()
            .any(|e| matches!(e, Event::EvState { ev, state: EvState::Good, .. } if *ev == victim))
    });
    assert!(back, "victim EV never resurrected");
    eprintln!(
        "resurrected {:?} after repair; stats {:?}",
        h.now.saturating_since(repaired),
        h.stats(0)
    );
    assert!(h.stats(0).ev_resurrected >= 1);
    assert_eq!(h.ends[0].ev_set().state(victim), Some(EvState::Good));
    // The transfer still completes with nothing lost.
    let all = h.run_until(h.now + Duration::from_millis(20), |h| {
        h.completions[0] == 256
    });
    assert!(all);
    assert_eq!(placed(&h), 256 << 20);
}
