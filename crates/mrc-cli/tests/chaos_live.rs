//! Chaos soak on the live namespace fabric (root only; skipped with a printed reason
//! otherwise): `mrc perf bench` transfers while cables are pulled and restored on a random,
//! seeded schedule. Every transfer must end, on both sides, with every byte verified.
//!
//! The schedule pulls spine cables (T0–T1) and NIC lanes, never both lanes of one NIC at once
//! (that disconnects the NIC; the QP then ends in ERROR after its retries, which the
//! simulator's chaos soak covers). Bounded: a fixed number of short rounds, each with a
//! deadline, so a stall fails the test instead of hanging it.
#![allow(clippy::unwrap_used, reason = "test code")]

use std::time::{Duration, Instant};

use mrc_proto::rng::Rng;

mod common;
use common::{FabricGuard, mrc, netns_skip_reason, scratch_dir, text};

/// The cables of the default small fabric (2 planes × 2 T0 × 2 T1, 4 uplinks per T0) that a
/// transfer from NIC 0 to NIC 3 crosses: every spine cable and the two NICs' lanes.
fn cables() -> Vec<(String, String)> {
    let mut c = Vec::new();
    for p in 0..2 {
        for t0 in 0..2 {
            for u in 0..4 {
                c.push((format!("p{p}-t0-{t0}:u{u}"), format!("p{p}-t1-{}", u % 2)));
            }
        }
        for nic in [0, 3] {
            c.push((format!("nic{nic}"), format!("p{p}-t0-{}", nic / 2)));
        }
    }
    c
}

fn is_lane(c: &(String, String)) -> Option<&str> {
    c.0.strip_prefix("nic").map(|_| c.0.as_str())
}

#[test]
fn live_transfers_survive_random_cable_pulls_with_every_byte_verified() {
    if let Some(why) = netns_skip_reason("mrcchaosprobe") {
        eprintln!("SKIPPED live chaos soak: {why}");
        return;
    }
    let prefix = format!("tc{}", std::process::id());
    let _fabric = match FabricGuard::up(&prefix, &[]) {
        Ok(g) => g,
        Err(why) => {
            eprintln!("SKIPPED live chaos soak: {why}");
            return;
        }
    };
    let dir = scratch_dir("chaos-live");
    let all = cables();
    let link = |c: &(String, String), up: bool| {
        let o = mrc(&[
            "fabric",
            "link",
            "--prefix",
            &prefix,
            if up { "up" } else { "down" },
            &c.0,
            &c.1,
        ]);
        assert!(o.status.success(), "{}", text(&o));
    };
    let rounds = 8;
    let (mut pulls, mut retired) = (0, 0);
    for round in 0..rounds {
        let mut rng = Rng::derive(0xC4A0_5EED, round);
        let qps = 1 + rng.below(2);
        let json = dir.join(format!("round{round}.json"));
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mrc"))
            .args([
                "perf",
                "bench",
                "--prefix",
                &prefix,
                "--bytes",
                "128MiB",
                "--qps",
                &qps.to_string(),
                "--no-tcp",
                "--deadline-s",
                "30",
                "--json",
                json.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Events until the bench exits: pull a random cable, restore it 20–400 ms later. (Not
        // over a fixed first stretch: the bench fills its regions before it transfers, which
        // takes seconds in a debug build, and pulls before the transfer test nothing.)
        let start = Instant::now();
        let mut down: Vec<((String, String), Duration)> = Vec::new();
        let mut next = Duration::from_millis(50 + rng.below(150));
        while child.try_wait().unwrap().is_none() {
            let now = start.elapsed();
            if let Some(i) = down.iter().position(|(_, until)| *until <= now) {
                let (c, _) = down.swap_remove(i);
                link(&c, true);
            } else if now >= next {
                let c = all[rng.below(all.len() as u64) as usize].clone();
                let lane_busy =
                    is_lane(&c).is_some_and(|n| down.iter().any(|(d, _)| is_lane(d) == Some(n)));
                if !lane_busy && !down.iter().any(|(d, _)| *d == c) {
                    link(&c, false);
                    pulls += 1;
                    down.push((c, now + Duration::from_millis(20 + rng.below(380))));
                }
                next = now + Duration::from_millis(30 + rng.below(200));
            } else {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        for (c, _) in down.drain(..) {
            link(&c, true);
        }
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "round {round} ({qps} QPs): {}",
            text(&o)
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(v["mrc"]["client"]["verified"], true, "round {round}");
        assert_eq!(
            v["mrc"]["server"]["bytes"],
            qps * (128 << 20),
            "round {round}: bytes placed and checked by the server"
        );
        let c = &v["mrc"]["client"];
        retired += c["ev_retired"].as_u64().unwrap();
        eprintln!(
            "round {round}: {qps} QP(s) verified; {} pulls so far, transfer {:.3} s, {} retransmits, {} EVs retired, longest gap {:.1} ms",
            pulls, c["secs"], c["retransmits"], c["ev_retired"], v["mrc"]["server"]["max_gap_ms"]
        );
    }
    assert!(pulls >= rounds, "the schedule pulled only {pulls} cables");
    // The pulls must have hit transfers in flight, or this soak tested nothing.
    assert!(retired > 0, "no EV was retired in {rounds} rounds");
    let _ = std::fs::remove_dir_all(&dir);
}
