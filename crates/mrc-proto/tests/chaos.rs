//! Chaos soak: random fault schedules on the two-endpoint harness — per-path loss, reordering,
//! duplication, trims and ECN that change over time, black holes, cable pulls (a port down at
//! both ends and its plane's paths dark) and repairs, some never repaired — with a finite
//! retry budget. Always: no byte lands corrupt or misplaced, a Write-IMM is reported only for
//! a fully placed message, every request completes exactly once, and the requester either
//! finishes everything or errors with a reason. Bounded: a fixed set of seeds, 250 ms of
//! virtual time each.
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use common::*;
use mrc_proto::rng::Rng;
use mrc_proto::testing::PathConfig;
use mrc_proto::{Duration, Event, Instant, MrcQpAttr, QpState, Retry, Transport, WcStatus};

const REGION: u64 = 1 << 20;
const PLANES: u8 = 2;
const ACTIVE: u32 = 4;
const BACKUP: u32 = 2;
const PER_PLANE: usize = (ACTIVE + BACKUP) as usize;
const PATHS: usize = PLANES as usize * PER_PLANE;
const CASES: u64 = 48;

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Path goes dark (true) or comes back.
    Hole(usize, bool),
    /// Cable of plane p pulled (true) or plugged back: both ports down, the plane's paths dark.
    Cable(u8, bool),
    /// New random loss / reorder / duplication / trim rates on a path.
    Weather(usize),
}

#[derive(Debug, Default)]
struct Tally {
    finished: u64,
    errored: u64,
    cable_pulls: u64,
    holes: u64,
}

fn weather(rng: &mut Rng, p: &mut PathConfig) {
    p.loss = rng.unit() * 0.03;
    p.reorder = rng.unit() * 0.1;
    p.dup = rng.unit() * 0.02;
    p.trim = rng.unit() * 0.05;
    p.ecn = rng.unit() * 0.05;
}

fn schedule(rng: &mut Rng, tally: &mut Tally) -> Vec<(u64, Fault)> {
    let mut ev = Vec::new();
    // Faults start while the transfer runs (≈ 10–100 µs at these sizes); repairs take up to
    // a few QP timeouts.
    for _ in 0..rng.below(10) {
        let path = rng.below(PATHS as u64) as usize;
        let at = rng.below(100_000);
        ev.push((at, Fault::Hole(path, true)));
        tally.holes += 1;
        // One in five is never repaired.
        if !rng.chance(0.2) {
            ev.push((at + 5_000 + rng.below(2_000_000), Fault::Hole(path, false)));
        }
    }
    for _ in 0..rng.below(3) {
        let plane = rng.below(u64::from(PLANES)) as u8;
        let at = rng.below(100_000);
        ev.push((at, Fault::Cable(plane, true)));
        tally.cable_pulls += 1;
        if !rng.chance(0.2) {
            ev.push((
                at + 20_000 + rng.below(3_000_000),
                Fault::Cable(plane, false),
            ));
        }
    }
    // Sometimes every cable, for good: the QP must end in ERROR, not hang.
    if rng.chance(0.15) {
        let at = rng.below(100_000);
        for plane in 0..PLANES {
            ev.push((at, Fault::Cable(plane, true)));
            tally.cable_pulls += 1;
        }
    }
    for _ in 0..rng.below(6) {
        ev.push((
            rng.below(200_000),
            Fault::Weather(rng.below(PATHS as u64) as usize),
        ));
    }
    ev.sort_by_key(|(t, _)| *t);
    ev
}

fn one_case(seed: u64, tally: &mut Tally) {
    let mut rng = Rng::new(seed);
    let mut path = PathConfig::default();
    weather(&mut rng, &mut path);
    let attr = MrcQpAttr {
        timeout: 8, // 262 µs
        retry: Retry {
            linear_cnt: 3,
            exp_cnt: 4,
        },
        ..MrcQpAttr::default()
    };
    let mut h = pair(seed, PLANES, ACTIVE, BACKUP, path, attr);
    for p in &mut h.net.paths {
        weather(&mut rng, p);
    }
    let (src, dst) = regions(&mut h, REGION, seed as u8);
    let mut wrs = Vec::new();
    for i in 0..1 + rng.below(6) {
        let off = rng.below(REGION);
        let len = rng.below((REGION - off).min(300_000)) as u32 + 1;
        let imm = rng.chance(0.5).then_some(0x1000 + i as u32);
        h.ends[0]
            .post_write(write(i, src, dst, off, len, imm))
            .unwrap();
        wrs.push((off, len, imm));
    }
    let mut dark = [false; PATHS];
    let mut pulled = [false; PLANES as usize];
    for (at, f) in schedule(&mut rng, tally) {
        let t = Instant::from_nanos(at);
        h.run_until(t, |h| h.now >= t);
        let now = h.now;
        match f {
            Fault::Hole(p, on) => dark[p] = on,
            Fault::Cable(plane, on) => {
                pulled[usize::from(plane)] = on;
                for end in &mut h.ends {
                    end.handle_port_status(now, plane, !on);
                }
            }
            Fault::Weather(p) => weather(&mut rng, &mut h.net.paths[p]),
        }
        for (i, p) in h.net.paths.iter_mut().enumerate() {
            p.black_hole = dark[i] || pulled[i / PER_PLANE];
        }
    }
    let n = wrs.len() as u64;
    let deadline = Instant::ZERO + Duration::from_millis(250);
    h.run_until(deadline, |h| {
        h.ends[0].state() == QpState::Error || h.ends[0].outstanding() == 0
    });

    let ctx = format!("seed {seed}: {:?} at {:?}", h.stats(0), h.now);
    // Every request completed exactly once, in post order.
    let done: Vec<(u64, WcStatus)> = h.events[0]
        .iter()
        .filter_map(|e| match e {
            Event::SendComplete { wr_id, status } => Some((*wr_id, *status)),
            _ => None,
        })
        .collect();
    let ids: Vec<u64> = done.iter().map(|d| d.0).collect();
    assert_eq!(ids, (0..n).collect::<Vec<_>>(), "{ctx}");
    // Finished, or errored with a reason.
    if h.ends[0].state() == QpState::Error {
        assert!(
            h.events[0].iter().any(|e| matches!(e, Event::QpError(_))),
            "ERROR without a reason: {ctx}"
        );
        tally.errored += 1;
    } else {
        assert!(done.iter().all(|d| d.1 == WcStatus::Success), "{ctx}");
        tally.finished += 1;
    }
    assert_eq!(
        h.ends[1].state(),
        QpState::Rts,
        "the responder must not die: {ctx}"
    );
    // Never corrupt or misplaced: each destination byte is untouched or the source's.
    let a = h.ends[0].regions().read(src.addr, REGION).unwrap();
    let b = h.ends[1].regions().read(dst.addr, REGION).unwrap();
    let mut written = vec![false; REGION as usize];
    for &(off, len, _) in &wrs {
        written[off as usize..(off + u64::from(len)) as usize].fill(true);
    }
    for i in 0..REGION as usize {
        if written[i] {
            assert!(b[i] == a[i] || b[i] == 0, "byte {i} corrupt: {ctx}");
        } else {
            assert_eq!(b[i], 0, "byte {i} written outside every request: {ctx}");
        }
    }
    // Succeeded requests are all there; a Write-IMM is reported only once fully placed.
    for (k, &(off, len, imm)) in wrs.iter().enumerate() {
        let range = off as usize..(off + u64::from(len)) as usize;
        let complete = a[range.clone()] == b[range];
        if done[k].1 == WcStatus::Success {
            assert!(complete, "WR {k} succeeded with bytes missing: {ctx}");
        }
        let reported = h.events[1].iter().find_map(|e| match e {
            Event::RecvImm { imm: i, len, .. } if Some(*i) == imm => Some(*len),
            _ => None,
        });
        if let Some(l) = reported {
            assert_eq!(l, len, "WR {k}: {ctx}");
            assert!(complete, "WR {k}: immediate before its bytes: {ctx}");
        }
    }
}

#[test]
fn chaos_soak_never_loses_or_corrupts_a_byte() {
    let mut tally = Tally::default();
    for seed in 0..CASES {
        one_case(0xC4A0_5000 + seed, &mut tally);
    }
    eprintln!("{tally:?}");
    assert_eq!(tally.finished + tally.errored, CASES);
    // The schedules must reach both outcomes, or the soak tests less than it claims.
    assert!(tally.finished > 0 && tally.errored > 0, "{tally:?}");
    assert!(tally.cable_pulls > 0 && tally.holes > 0, "{tally:?}");
}
