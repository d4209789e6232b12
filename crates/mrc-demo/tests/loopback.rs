//! The ring all-reduce and a short training run over loopback, ranks as threads (no root).
#![allow(clippy::unwrap_used, reason = "test code")]

use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::Duration;

use mrc_demo::data::SplitMix64;
use mrc_demo::rank::{RankConfig, StepRecord, TransportKind, setup, train};
use mrc_demo::ring::{AllReduce, MrcRing, MrcRingConfig, TcpRing, TcpRingConfig};
use mrc_net::endpoint::PathMode;

fn ports(offset: u16, n: u16) -> Vec<SocketAddrV6> {
    let base = 40_000 + (std::process::id() % 900) as u16 * 10 + offset;
    (0..n)
        .map(|i| SocketAddrV6::new(Ipv6Addr::LOCALHOST, base + i, 0, 0))
        .collect()
}

fn evs() -> Vec<Vec<u32>> {
    (0..2u32)
        .map(|p| (0..4).map(|u| (p << 8) | u).collect())
        .collect()
}

fn input(rank: u32, round: u32, n: usize) -> Vec<f32> {
    let mut rng = SplitMix64::new(u64::from(round), u64::from(rank));
    (0..n).map(|_| rng.normal() as f32).collect()
}

/// Runs `rounds` all-reduces on every rank; returns each rank's results.
fn exercise(rings: Vec<Box<dyn AllReduce + Send>>, n: usize, rounds: u32) -> Vec<Vec<Vec<f32>>> {
    std::thread::scope(|s| {
        let hs: Vec<_> = rings
            .into_iter()
            .enumerate()
            .map(|(r, mut ring)| {
                s.spawn(move || {
                    (0..rounds)
                        .map(|round| {
                            let mut v = input(r as u32, round, n);
                            ring.all_reduce_sum(&mut v).unwrap();
                            v
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn check(results: &[Vec<Vec<f32>>], world: u32, n: usize) {
    for round in 0..results[0].len() {
        let inputs: Vec<Vec<f32>> = (0..world).map(|r| input(r, round as u32, n)).collect();
        let want: Vec<f32> = (0..n).map(|i| inputs.iter().map(|v| v[i]).sum()).collect();
        for (r, res) in results.iter().enumerate() {
            // Bit-identical on every rank.
            assert_eq!(res[round], results[0][round], "rank {r} round {round}");
            for (a, b) in res[round].iter().zip(&want) {
                assert!((a - b).abs() < 1e-4, "round {round}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn ring_all_reduce_over_mrc_and_tcp_is_exact_and_identical() {
    let world = 4u32;
    let n = 10_001;
    let addrs = ports(0, world as u16);
    let rings: Vec<Box<dyn AllReduce + Send>> = (0..world)
        .map(|rank| {
            Box::new(
                MrcRing::start(MrcRingConfig {
                    rank,
                    world,
                    mode: PathMode::Loopback,
                    addrs: addrs.clone(),
                    evs: evs(),
                    payload: 8192,
                    seed: 3,
                    max_len: n,
                    timeout: Duration::from_secs(20),
                })
                .unwrap(),
            ) as Box<dyn AllReduce + Send>
        })
        .collect();
    check(&exercise(rings, n, 5), world, n);

    let addrs = ports(world as u16, world as u16);
    let listening: Vec<_> = (0..world)
        .map(|rank| {
            TcpRing::listen(TcpRingConfig {
                rank,
                world,
                addrs: addrs.clone(),
                src: None,
                mark: None,
                timeout: Duration::from_secs(20),
            })
            .unwrap()
        })
        .collect();
    let rings: Vec<Box<dyn AllReduce + Send>> = std::thread::scope(|s| {
        let hs: Vec<_> = listening
            .into_iter()
            .map(|l| s.spawn(move || l.connect().unwrap()))
            .collect();
        hs.into_iter()
            .map(|h| Box::new(h.join().unwrap()) as Box<dyn AllReduce + Send>)
            .collect()
    });
    check(&exercise(rings, n, 5), world, n);
}

#[test]
fn short_training_over_mrc_loopback_learns_with_identical_parameters() {
    let world = 4u32;
    let cfg = |rank| RankConfig {
        rank,
        world,
        transport: TransportKind::Mrc,
        steps: 15,
        dim: 32,
        batch: 32,
        lr: 1e-2,
        seed: 5,
        eval_every: 5,
        val_size: 256,
        netns: None,
        srv6: false,
        mrc_addrs: ports(2 * world as u16, world as u16),
        tcp_addrs: Vec::new(),
        tcp_src: None,
        evs: evs(),
        payload: 8192,
        tcp_mark: None,
        step_timeout_ms: 20_000,
    };
    let records: Vec<Vec<StepRecord>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..world)
            .map(|r| {
                s.spawn(move || {
                    let c = cfg(r);
                    let mut t = setup(&c).unwrap().connect().unwrap();
                    let mut recs = Vec::new();
                    train(&c, &mut t, &mut |rec| {
                        recs.push(rec.clone());
                        Ok(())
                    })
                    .unwrap();
                    recs
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for step in 0..15 {
        let d0 = records[0][step].digest;
        for r in &records {
            assert_eq!(r[step].digest, d0, "step {step}: parameters differ");
        }
    }
    let mean = |s: usize| records.iter().map(|r| r[s].loss).sum::<f32>() / world as f32;
    let first = mean(0);
    let last = (12..15).map(mean).sum::<f32>() / 3.0;
    assert!(last < first, "loss {first} -> {last}");
    // Every rank evaluated its share at the last step.
    assert!(records.iter().all(|r| r[14].val.is_some()));
}
