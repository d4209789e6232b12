//! Memory bounds checked before a scenario builds anything big, so a small file cannot make
//! `mrc sim` allocate more than the machine has (documented in `scenarios/README.md`).
//!
//! The per-item costs are measured lower bounds of what the simulator holds (release build):
//! a refused scenario would certainly not fit, an accepted one may still use more.

use anyhow::Result;

use crate::bad_input;

/// Largest estimated simulator memory a scenario may ask for.
pub(crate) const LIMIT_BYTES: u64 = 16 << 30;
/// Largest flow (one RDMA write): 1 PiB keeps every byte offset and address sum far from
/// wrapping a `u64` and is exact in the `f64` the size units are parsed with.
pub(crate) const MAX_FLOW_BYTES: u64 = 1 << 50;
/// Most bytes a DAG workload may write in all: every persistent QP's region offsets stay far
/// from wrapping a `u64`.
pub(crate) const MAX_DAG_BYTES: u64 = 1 << 60;

/// One MRC (or spray) QP pair without its EVs: both ends' connection records and the first
/// 64-PSN send ring (it grows with the window; the other queues grow on demand).
const MRC_PAIR_BYTES: u64 = 10_000;
/// Per EV of an MRC QP pair (both ends).
const MRC_EV_BYTES: u64 = 128;
/// One RoCE QP pair.
const ROCE_PAIR_BYTES: u64 = 4_000;
/// One switch or NIC port (queues, counters, routing entries).
const PORT_BYTES: u64 = 200;
/// One flow of the workload (its spec, state and result).
const FLOW_BYTES: u64 = 128;
/// One operation of a DAG workload (its spec, dependencies and times).
pub(crate) const OP_BYTES: u64 = 64;

/// Memory of one QP pair of a run: `evs` = EVs per QP (0 for RoCE).
pub(crate) fn pair_bytes(roce: bool, evs: u64) -> u64 {
    if roce {
        ROCE_PAIR_BYTES
    } else {
        MRC_PAIR_BYTES.saturating_add(MRC_EV_BYTES.saturating_mul(evs))
    }
}

/// Estimated memory of a run with `ports` fabric ports and `flows` flows whose QP pairs take
/// `flow_pairs` bytes each (saturating: a huge count only makes the estimate huge).
pub(crate) fn estimate(ports: u64, flows: u64, flow_pairs: u64) -> u64 {
    let per_flow = FLOW_BYTES.saturating_add(flow_pairs);
    ports
        .saturating_mul(PORT_BYTES)
        .saturating_add(flows.saturating_mul(per_flow))
}

/// Refuses an estimate beyond [`LIMIT_BYTES`], naming the field that asked for it.
pub(crate) fn check(file: &str, field: &str, what: &str, bytes: u64) -> Result<()> {
    if bytes > LIMIT_BYTES {
        bad_input!(
            "{file}: field `{field}`: {what} needs about {} GiB of simulator memory, more than the {} GiB bound",
            bytes >> 30,
            LIMIT_BYTES >> 30
        );
    }
    Ok(())
}

/// Memory this process may use: the machine's RAM (`/proc/meminfo`), or the address-space
/// limit (`ulimit -v`, `/proc/self/limits`) when lower; `None` when neither can be read.
pub(crate) fn machine_bytes() -> Option<u64> {
    let ram = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb.saturating_mul(1024))
    });
    let cap = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("Max address space"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        });
    match (ram, cap) {
        (Some(r), Some(c)) => Some(r.min(c)),
        (r, c) => r.or(c),
    }
}

/// Starts a new peak-RSS measurement (`VmHWM` back to the current RSS; Linux
/// `/proc/self/clear_refs`); false where that is not possible.
pub(crate) fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident memory of this process since it started or since [`reset_peak_rss`]
/// (`VmHWM` of `/proc/self/status`); `None` where it cannot be read.
pub(crate) fn peak_rss_bytes() -> Option<u64> {
    let t = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = t
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb.saturating_mul(1024))
}

/// Peak bytes per operation while a training DAG is built and handed over: the vector of ops
/// doubling (old and new buffers alive, 3 × the op), and each op's dependency list on the
/// heap, in the job and in the workload's copy.
const DAG_OP_PEAK_BYTES: u64 = 3 * size_of::<mrc_workload::dag::Op>() as u64 + 2 * 32;

/// Most operations a training DAG may have here: what fits in [`LIMIT_BYTES`] and in this
/// machine's memory (less [`HEADROOM_BYTES`]), so a job too large is refused (exit 2) while
/// it is built instead of aborting on a failed allocation.
pub(crate) fn max_dag_ops() -> usize {
    let mem = machine_bytes().map_or(LIMIT_BYTES, |m| {
        m.saturating_sub(HEADROOM_BYTES).min(LIMIT_BYTES)
    });
    usize::try_from(mem / DAG_OP_PEAK_BYTES).unwrap_or(usize::MAX)
}

/// Peak memory of a training DAG of `ops` operations ([`DAG_OP_PEAK_BYTES`] each).
pub(crate) fn dag_bytes(ops: usize) -> u64 {
    (ops as u64).saturating_mul(DAG_OP_PEAK_BYTES)
}

/// Headroom kept beyond what a command asks for (code, sockets, buffers, the allocator).
const HEADROOM_BYTES: u64 = 1 << 30;

/// Refuses `bytes` of buffers that would not fit next to [`HEADROOM_BYTES`] in
/// [`machine_bytes`], naming `flag`.
pub(crate) fn check_buffers(flag: &str, what: &str, bytes: u64) -> Result<()> {
    if let Some(m) = machine_bytes()
        && bytes > m.saturating_sub(HEADROOM_BYTES)
    {
        bad_input!(
            "{flag}: {what} need {bytes} bytes of memory, more than this machine allows ({m} bytes of RAM or address space, less 1 GiB)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_to_all_over_100k_nics_is_refused_and_a_bench_is_not() {
        // 100,000 NICs all-to-all: ~10^10 flows.
        let huge = estimate(1 << 20, 100_000 * 99_999, pair_bytes(false, 256));
        assert!(check("f", "workload", "x", huge).is_err());
        // bench-perm8192: 8,192 flows of 128 EVs on a fat tree.
        let bench = estimate(200_000, 8192, pair_bytes(false, 128));
        assert!(check("f", "workload", "x", bench).is_ok());
        assert_eq!(estimate(u64::MAX, u64::MAX, u64::MAX), u64::MAX);
    }
}
