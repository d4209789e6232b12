//! The `conn_pair` fuzz target's driver (`mrc_proto::fuzzing`) on its checked-in seeds
//! (`fuzz/seeds/conn_pair`) and on random inputs: no panic, no corrupt or misplaced byte, and
//! every request completes or the QP errors with a reason.
#![allow(clippy::unwrap_used, reason = "test code")]

use std::path::Path;

use mrc_proto::fuzzing;
use mrc_proto::rng::Rng;

#[test]
fn checked_in_seeds_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/conn_pair");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        eprintln!("{}", path.display());
        fuzzing::run(&data);
        n += 1;
    }
    assert!(n >= 4, "only {n} seeds in {}", dir.display());
}

#[test]
fn random_inputs_pass() {
    let mut rng = Rng::new(16);
    let mut total = fuzzing::Outcome::default();
    let (mut checked, mut errored) = (0, 0);
    for case in 0..1500 {
        let len = rng.below(600) as usize;
        // Half the bytes are plain steps (transmit, deliver, reorder, drop, dup, trim, time),
        // so transfers progress between the faults. Every other case has only off-path
        // forgeries (byte ≡ 11 mod 12, "inject anything", becomes 10, "forge off-path").
        let off_path_only = case % 2 == 0;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                let b = if rng.chance(0.5) {
                    rng.below(10) as u8
                } else {
                    rng.next_u64() as u8
                };
                if off_path_only && b % 12 == 11 {
                    b - 1
                } else {
                    b
                }
            })
            .collect();
        let r = std::panic::catch_unwind(|| fuzzing::run(&data));
        let Ok(o) = r else {
            panic!("case {case} failed: input {data:?}");
        };
        total.posted += o.posted;
        total.succeeded += o.succeeded;
        checked += usize::from(o.checked);
        errored += usize::from(o.errored);
    }
    eprintln!("{total:?}, {checked} runs fully checked, {errored} QP errors");
    // The checks must have had something to check.
    assert!(checked >= 750, "{checked}");
    assert!(total.succeeded * 2 > total.posted, "{total:?}");
}
