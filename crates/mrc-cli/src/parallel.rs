//! Independent jobs (a scenario's runs, a sweep's grid points) on a few threads, with the results
//! kept in job order, so the output does not depend on the thread count or on which job
//! finished first.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::Result;

use crate::bad_input;

/// Help text of `--threads` (`mrc sim`, `mrc sweep`).
pub(crate) const THREADS_HELP: &str = "Use up to N threads (default: the machine's available parallelism): independent runs go \
     in parallel, and threads the runs leave over split each run into partitions of its fabric, one \
     thread each (`mrc sim`). Output is byte-identical for any N. Each run in flight and each \
     partition holds its own copy of the fabric, queues and QPs, so memory grows up to N times the \
     largest run's (`mrc sim` runs fewer runs at once and fewer partitions when they would not fit)";

/// The thread count: `--threads N` (at least 1) or the machine's available parallelism.
pub(crate) fn threads(flag: Option<usize>) -> Result<usize> {
    match flag {
        Some(0) => bad_input!("--threads 0: expected at least 1"),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(1, usize::from)),
    }
}

/// Runs `job(i)` for `i` in `0..n` on up to `threads` threads and returns the results in job
/// order. Jobs start in index order and none starts after one has failed, so the returned
/// results are those of a prefix `0..k`: every job before the first failure, that failure, and
/// whatever was already running when it happened (the caller cleans their outputs up). The
/// first error in job order is the one a sequential loop would have stopped at.
pub(crate) fn run_ordered<R: Send>(
    n: usize,
    threads: usize,
    job: impl Fn(usize) -> Result<R> + Sync,
) -> Vec<Result<R>> {
    let workers = threads.clamp(1, n.max(1));
    if workers == 1 {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let r = job(i);
            let failed = r.is_err();
            out.push(r);
            if failed {
                break;
            }
        }
        return out;
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Mutex<Vec<Option<Result<R>>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    if failed.load(Ordering::SeqCst) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    let r = job(i);
                    if r.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    if let Ok(mut v) = slots.lock() {
                        v[i] = Some(r);
                    }
                }
            });
        }
    });
    let slots = slots
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    slots.into_iter().map_while(|r| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_job_order_for_any_thread_count() {
        for t in [1, 2, 3, 8] {
            let out = run_ordered(7, t, |i| {
                std::thread::sleep(std::time::Duration::from_millis(((7 - i) * 3) as u64));
                Ok(i * 10)
            });
            let v: Vec<usize> = out.into_iter().map(|r| r.unwrap_or(usize::MAX)).collect();
            assert_eq!(v, vec![0, 10, 20, 30, 40, 50, 60], "threads {t}");
        }
    }

    #[test]
    fn the_first_failure_in_job_order_is_reported_and_later_jobs_do_not_start() {
        for t in [1, 2, 4] {
            let started = AtomicUsize::new(0);
            // Jobs after 2 wait until it has failed, then take a while, so the check does not
            // depend on how the scheduler interleaves the threads (on a loaded machine one thread
            // could otherwise run every later job before job 2's thread runs at all).
            let failed_2 = AtomicBool::new(false);
            let out = run_ordered(100, t, |i| {
                started.fetch_add(1, Ordering::SeqCst);
                if i == 2 {
                    failed_2.store(true, Ordering::SeqCst);
                    anyhow::bail!("job 2");
                }
                if i > 2 {
                    while !failed_2.load(Ordering::SeqCst) {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Ok(i)
            });
            let first_err = out.iter().position(Result::is_err);
            assert_eq!(first_err, Some(2), "threads {t}");
            assert!(started.load(Ordering::SeqCst) < 100, "threads {t}");
        }
    }
}
