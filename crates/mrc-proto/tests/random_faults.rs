//! Property test: random writes over a network with random loss, trims, ECN, duplication,
//! reordering and path black-holes that come and go. Always: every write completes, in post
//! order; Write-IMM completions arrive in order; the destination equals the source byte for
//! byte where written and stays zero elsewhere; the QP never errors (holes last at most 5 ms,
//! even if they cover every path at once, and the default retry budget is infinite).
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use common::*;
use mrc_proto::testing::PathConfig;
use mrc_proto::{Duration, Event, Instant, MrcQpAttr, QpState, Transport, WcStatus};
use proptest::prelude::*;

const REGION: u64 = 1 << 20;
const PLANES: u8 = 2;
const ACTIVE: u32 = 4;
const BACKUP: u32 = 2;
const PATHS: usize = (PLANES as usize) * (ACTIVE + BACKUP) as usize;

#[derive(Debug, Clone)]
struct Scenario {
    seed: u64,
    writes: Vec<(u64, u32, bool)>,
    loss: f64,
    trim: f64,
    ecn: f64,
    dup: f64,
    reorder: f64,
    /// (path, start µs, duration µs)
    holes: Vec<(usize, u64, u64)>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        any::<u64>(),
        prop::collection::vec((0..REGION, 0u32..200_000, any::<bool>()), 1..10),
        0.0..0.03f64,
        0.0..0.05f64,
        0.0..0.05f64,
        0.0..0.02f64,
        0.0..0.1f64,
        prop::collection::vec((0..PATHS, 0u64..2_000, 10u64..5_000), 0..12),
    )
        .prop_map(
            |(seed, writes, loss, trim, ecn, dup, reorder, holes)| Scenario {
                seed,
                writes: writes
                    .into_iter()
                    .map(|(off, len, imm)| (off, len.min((REGION - off) as u32), imm))
                    .collect(),
                loss,
                trim,
                ecn,
                dup,
                reorder,
                holes,
            },
        )
}

fn run(s: &Scenario) -> Result<(), TestCaseError> {
    let path = PathConfig {
        loss: s.loss,
        trim: s.trim,
        ecn: s.ecn,
        dup: s.dup,
        reorder: s.reorder,
        ..PathConfig::default()
    };
    let mut h = pair(s.seed, PLANES, ACTIVE, BACKUP, path, MrcQpAttr::default());
    let (src, dst) = regions(&mut h, REGION, s.seed as u8);
    let mut imms = Vec::new();
    for (i, &(off, len, imm)) in s.writes.iter().enumerate() {
        let imm = imm.then_some(i as u32 + 1000);
        imms.extend(imm);
        h.ends[0]
            .post_write(write(i as u64, src, dst, off, len, imm))
            .unwrap();
    }
    // Fault timeline: (time, path, black_hole).
    let mut changes: Vec<(u64, usize, bool)> = Vec::new();
    for &(p, at, dur) in &s.holes {
        changes.push((at * 1_000, p, true));
        changes.push(((at + dur) * 1_000, p, false));
    }
    changes.sort_unstable();
    let n = s.writes.len() as u64;
    let deadline = Instant::ZERO + Duration::from_millis(200);
    for (at, p, hole) in changes {
        let t = Instant::from_nanos(at);
        h.run_until(t, |h| h.now >= t);
        h.net.paths[p].black_hole = hole;
    }
    let done = h.run_until(deadline, |h| h.completions[0] >= n);
    prop_assert_eq!(h.ends[0].state(), QpState::Rts);
    prop_assert!(done, "not complete by {:?}: {:?}", h.now, h.stats(0));
    let done_ids: Vec<u64> = h.events[0]
        .iter()
        .filter_map(|e| match e {
            Event::SendComplete { wr_id, status } => {
                assert_eq!(*status, WcStatus::Success);
                Some(*wr_id)
            }
            _ => None,
        })
        .collect();
    prop_assert_eq!(done_ids, (0..n).collect::<Vec<_>>());
    let got_imms: Vec<u32> = h.events[1]
        .iter()
        .filter_map(|e| match e {
            Event::RecvImm { imm, .. } => Some(*imm),
            _ => None,
        })
        .collect();
    prop_assert_eq!(got_imms, imms);
    // Byte-exact where written, zero elsewhere.
    let a = h.ends[0].regions().read(src.addr, REGION).unwrap();
    let b = h.ends[1].regions().read(dst.addr, REGION).unwrap();
    let mut written = vec![false; REGION as usize];
    for &(off, len, _) in &s.writes {
        written[off as usize..(off + u64::from(len)) as usize].fill(true);
    }
    for i in 0..REGION as usize {
        let want = if written[i] { a[i] } else { 0 };
        if b[i] != want {
            return Err(TestCaseError::fail(format!("byte {i}: {} != {want}", b[i])));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_faults_exact_delivery(s in scenario()) {
        run(&s)?;
    }
}

#[test]
fn heavy_faults_regression() {
    // Many holes at once, high loss: still exact.
    let s = Scenario {
        seed: 99,
        writes: vec![
            (0, 200_000, true),
            (100_000, 150_000, false),
            (500_000, 1, true),
        ],
        loss: 0.03,
        trim: 0.05,
        ecn: 0.05,
        dup: 0.02,
        reorder: 0.1,
        holes: vec![
            (0, 0, 3_000),
            (1, 10, 3_000),
            (6, 20, 3_000),
            (7, 30, 2_000),
        ],
    };
    run(&s).unwrap();
}
