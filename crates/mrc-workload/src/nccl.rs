//! nccl-tests style numbers and rows (docs/workload.md §4, `NVIDIA/nccl-tests:doc/PERFORMANCE.md`):
//! `algbw = S / t`, `busbw = algbw × factor`, GB/s = 10^9 B/s.

use std::fmt;

use crate::collective::{Collective, CollectiveError, CollectiveKind, Start};
use crate::dag::Dag;

/// The nccl-tests bus-bandwidth factor: all-reduce 2(n−1)/n; reduce-scatter, all-gather and
/// all-to-all (n−1)/n; broadcast and send/recv 1. `n` of 0 gives 0.
pub fn busbw_factor(kind: CollectiveKind, n: u32) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let nf = f64::from(n);
    match kind {
        CollectiveKind::AllReduce => 2.0 * (nf - 1.0) / nf,
        CollectiveKind::ReduceScatter | CollectiveKind::AllGather | CollectiveKind::AllToAll => {
            (nf - 1.0) / nf
        }
        CollectiveKind::Broadcast | CollectiveKind::SendRecv => 1.0,
    }
}

/// Algorithm bandwidth S / t in GB/s (10^9 B/s); 0 for a zero time.
pub fn algbw_gbps(size_bytes: u64, time_ns: u64) -> f64 {
    if time_ns == 0 {
        return 0.0;
    }
    // bytes per ns = GB/s.
    size_bytes as f64 / time_ns as f64
}

/// Bus bandwidth algbw × factor in GB/s.
pub fn busbw_gbps(kind: CollectiveKind, n: u32, size_bytes: u64, time_ns: u64) -> f64 {
    algbw_gbps(size_bytes, time_ns) * busbw_factor(kind, n)
}

/// Element size nccl-tests reports rows in (`-d float`).
pub const FLOAT_BYTES: u64 = 4;

/// One row of an nccl-tests table (out-of-place group only).
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct NcclRow {
    /// Collective.
    pub kind: CollectiveKind,
    /// Ranks.
    pub ranks: u32,
    /// S in bytes.
    pub size_bytes: u64,
    /// Elements column (`float`): S/4 for all-reduce and broadcast, S/(4n) per rank for
    /// reduce-scatter, all-gather and all-to-all.
    pub count: u64,
    /// Completion time in ns.
    pub time_ns: u64,
    /// S / t in GB/s.
    pub algbw_gbps: f64,
    /// algbw × factor in GB/s.
    pub busbw_gbps: f64,
}

impl NcclRow {
    /// A row from a size and a completion time.
    pub fn new(kind: CollectiveKind, ranks: u32, size_bytes: u64, time_ns: u64) -> Self {
        let elems = size_bytes / FLOAT_BYTES;
        let count = match kind {
            CollectiveKind::ReduceScatter
            | CollectiveKind::AllGather
            | CollectiveKind::AllToAll => elems / u64::from(ranks.max(1)),
            _ => elems,
        };
        Self {
            kind,
            ranks,
            size_bytes,
            count,
            time_ns,
            algbw_gbps: algbw_gbps(size_bytes, time_ns),
            busbw_gbps: busbw_gbps(kind, ranks, size_bytes, time_ns),
        }
    }

    /// Time in µs.
    pub fn time_us(&self) -> f64 {
        self.time_ns as f64 / 1_000.0
    }

    fn redop(&self) -> &'static str {
        match self.kind {
            CollectiveKind::AllReduce | CollectiveKind::ReduceScatter => "sum",
            _ => "none",
        }
    }

    fn root(&self) -> i32 {
        match self.kind {
            CollectiveKind::Broadcast => 0,
            _ => -1,
        }
    }
}

/// nccl-tests' time column: `%7.0f` from 10 ms, `%7.1f` from 100 µs, else `%7.2f`.
fn time_str(us: f64) -> String {
    if us >= 10_000.0 {
        format!("{us:7.0}")
    } else if us >= 100.0 {
        format!("{us:7.1}")
    } else {
        format!("{us:7.2}")
    }
}

impl fmt::Display for NcclRow {
    /// `size count type redop root | time algbw busbw #wrong` like nccl-tests (`#wrong` is
    /// `N/A`: data is checked separately by the simulator's `data_intact`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:12}  {:12}  {:>8}  {:>6}  {:6}  {}  {:6.2}  {:6.2}  {:>6}",
            self.size_bytes,
            self.count,
            "float",
            self.redop(),
            self.root(),
            time_str(self.time_us()),
            self.algbw_gbps,
            self.busbw_gbps,
            "N/A"
        )
    }
}

/// The three `#` header lines of an nccl-tests table (out-of-place group only).
pub fn table_header() -> String {
    [
        "#                                                              out-of-place",
        "#       size         count      type   redop    root     time   algbw   busbw #wrong",
        "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)",
    ]
    .join("\n")
}

/// The `# Avg bus bandwidth` trailer value: mean busbw over all rows (small sizes included, as
/// nccl-tests does — not a peak).
pub fn avg_busbw_gbps(rows: &[NcclRow]) -> f64 {
    if rows.is_empty() {
        return 0.0;
    }
    rows.iter().map(|r| r.busbw_gbps).sum::<f64>() / rows.len() as f64
}

/// Sizes of an nccl-tests sweep `-b min -e max -f factor`: min, min·f, … while ≤ max.
pub fn sweep_sizes(min_bytes: u64, max_bytes: u64, factor: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut s = min_bytes.max(1);
    while s <= max_bytes {
        out.push(s);
        if factor < 2 {
            break;
        }
        s = match s.checked_mul(factor) {
            Some(v) => v,
            None => break,
        };
    }
    out
}

/// A size sweep as one DAG: `iterations` runs of `template` at each size, back to back (each
/// collective starts when the previous one has completed), like an nccl-tests run. Collective
/// `i` of the result is recorded in `dag.collectives[i]`, named `"<kind> <size> B #<iter>"`.
pub fn sweep_dag(
    template: &Collective,
    sizes: &[u64],
    iterations: u32,
) -> Result<Dag, CollectiveError> {
    let mut dag = Dag::new();
    let mut prev: Option<u32> = None;
    for &size in sizes {
        for it in 0..iterations.max(1) {
            let mut c = template.clone();
            c.size_bytes = size;
            let deps: Vec<u32> = prev.into_iter().collect();
            let placed = c.add_to(
                &mut dag,
                format!("{} {size} B #{it}", c.kind),
                Start::After(&deps),
            )?;
            prev = Some(placed.end);
        }
    }
    Ok(dag)
}

/// nccl-tests rows from a [`sweep_dag`] run: `end_ns[i]` is the completion time of
/// `dag.collectives[i]`; collective `i` took `end_ns[i] − end_ns[i−1]` (from 0 for the first).
/// With several iterations per size the row reports their mean time, as nccl-tests does.
pub fn sweep_rows(dag: &Dag, end_ns: &[u64]) -> Vec<NcclRow> {
    let mut rows: Vec<(CollectiveKind, u32, u64, u64, u64)> = Vec::new();
    let mut prev = 0u64;
    for (rec, &end) in dag.collectives.iter().zip(end_ns) {
        let t = end.saturating_sub(prev);
        prev = end;
        match rows.last_mut() {
            Some(r) if r.2 == rec.size_bytes && r.0 == rec.kind => {
                r.3 += t;
                r.4 += 1;
            }
            _ => rows.push((rec.kind, rec.ranks, rec.size_bytes, t, 1)),
        }
    }
    rows.into_iter()
        .map(|(k, n, s, t, c)| NcclRow::new(k, n, s, t / c.max(1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_runs_back_to_back() {
        #![allow(clippy::unwrap_used, reason = "test code")]
        let t = Collective::new(CollectiveKind::AllReduce, (0..4).collect(), 1).unwrap();
        let sizes = sweep_sizes(1 << 20, 4 << 20, 2);
        let dag = sweep_dag(&t, &sizes, 2).unwrap();
        assert_eq!(dag.collectives.len(), 6);
        let m = crate::dag::AlphaBeta {
            alpha_ns: 0,
            bandwidth_bytes_per_s: 1_000_000_000,
            scale_up: crate::dag::ScaleUp::default(),
        };
        let tl = crate::dag::execute_alpha_beta(&dag, &m);
        let ends = tl.collective_completion_ns(&dag);
        let rows = sweep_rows(&dag, &ends);
        assert_eq!(rows.len(), 3);
        for r in &rows {
            // 2(n−1) steps of S/n at 1 GB/s → busbw = 2(n−1)/n · S / (2(n−1) · S/n ns) = 1 GB/s.
            assert!((r.busbw_gbps - 1.0).abs() < 1e-6, "{r}");
        }
    }

    #[test]
    fn factors_match_nccl_tests() {
        assert!((busbw_factor(CollectiveKind::AllReduce, 16) - 1.875).abs() < 1e-12);
        assert!((busbw_factor(CollectiveKind::AllGather, 8) - 0.875).abs() < 1e-12);
        assert!((busbw_factor(CollectiveKind::AllToAll, 4) - 0.75).abs() < 1e-12);
        assert!((busbw_factor(CollectiveKind::Broadcast, 4) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn reference_row_from_workload_md() {
        // docs/workload.md §4: 2×8 H100, 8 GiB all-reduce in 47,535 µs → algbw 180.71, busbw 338.82.
        let r = NcclRow::new(CollectiveKind::AllReduce, 16, 8 << 30, 47_535_000);
        assert!((r.algbw_gbps - 180.71).abs() < 0.01, "{}", r.algbw_gbps);
        // nccl-tests divides by its unrounded time; from the rounded 47,535 µs we get 338.83.
        assert!((r.busbw_gbps - 338.82).abs() < 0.015, "{}", r.busbw_gbps);
        let line = r.to_string();
        assert!(line.contains("8589934592"), "{line}");
        assert!(line.contains("  47535  180.71  338.83"), "{line}");
        assert_eq!(r.count, (8u64 << 30) / 4);
    }

    #[test]
    fn time_column_precision() {
        let small = NcclRow::new(CollectiveKind::AllGather, 8, 1_024, 12_345);
        assert!(small.to_string().contains("  12.35 "), "{small}");
        assert_eq!(small.count, 32);
        let mid = NcclRow::new(CollectiveKind::AllGather, 8, 1_024, 123_450);
        assert!(mid.to_string().contains("  123.5 "), "{mid}");
        assert_eq!(table_header().lines().count(), 3);
    }

    #[test]
    fn sweep_and_average() {
        assert_eq!(sweep_sizes(4 << 20, 1 << 30, 4).len(), 5);
        assert_eq!(sweep_sizes(8, 8, 2), vec![8]);
        let rows = [
            NcclRow::new(CollectiveKind::AllReduce, 2, 1_000, 1_000),
            NcclRow::new(CollectiveKind::AllReduce, 2, 3_000, 1_000),
        ];
        assert!((avg_busbw_gbps(&rows) - 2.0).abs() < 1e-12);
        assert_eq!(algbw_gbps(1, 0), 0.0);
    }
}
