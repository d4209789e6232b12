//! Time series of a run for plots: delivered bytes, EV states, link utilisation and queue depth
//! per tier and plane, failure events.
//!
//! Fixed-size time bins, no allocation per packet: the event loop compares the next event's
//! time with the end of the current bin and, when it crosses it, takes one sample of cumulative
//! counters (ports, delivered bytes) and instantaneous state (queues, EV states of running
//! QPs). When the bins are full, neighbours merge and the bin width doubles, so a run of any
//! length keeps between [`BINS`]/2 and [`BINS`] bins and the cost is proportional to the bins,
//! not to the packets.

use mrc_fabric::NodeKind;
use mrc_proto::nic::NicQp as _;

use super::failures::Change;
use super::ids::{Id as _, NO_NODE};
use super::{NONE, Sim};

use crate::factory::{EvCounts as _, TransportFactory};
use crate::kernel::{PS_PER_NS, Time};

/// Most bins a timeline keeps (merged pairwise when full).
pub const BINS: usize = 256;
/// Width of a bin at the start of a run, ps (doubles as the run goes on).
pub const FIRST_BIN_PS: Time = 1_000 * PS_PER_NS;
/// Most failure events recorded.
const MAX_MARKS: usize = 4096;

/// One group of egress ports plotted together: a hop direction between two tiers in a plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkGroup {
    /// Tier of the transmitting node: 0 = NIC, 1 = T0, 2 = T1, 3 = T2.
    pub from_tier: u8,
    /// Tier of the receiving node (same numbering).
    pub to_tier: u8,
    /// Plane (0 in single-plane fabrics).
    pub plane: u8,
    /// Ports (link directions) in the group.
    pub ports: u32,
    /// Their summed speed, Gb/s.
    pub gbps: u64,
    /// Bytes transmitted by the group during each bin.
    pub tx_bytes: Vec<u64>,
    /// Largest queue (data + control bytes) of one port of the group at the end of each bin
    /// (the maximum over the merged samples once bins merge).
    pub queue_max_bytes: Vec<u64>,
}

impl LinkGroup {
    /// `NIC→T0`, `T0→T1`, `T1→T0`, `T0→NIC`, ...
    pub fn label(&self) -> String {
        format!("{}→{}", tier_name(self.from_tier), tier_name(self.to_tier))
    }

    /// Utilisation of the group in bin `b` in permille of its capacity.
    pub fn util_permille(&self, b: usize, bin_ps: Time) -> u32 {
        let cap_bytes = u128::from(self.gbps) * u128::from(bin_ps) / 8_000;
        if cap_bytes == 0 {
            return 0;
        }
        let used = u128::from(self.tx_bytes.get(b).copied().unwrap_or(0));
        (used * 1000 / cap_bytes).min(1000) as u32
    }
}

/// Name of a tier number of [`LinkGroup`]: `NIC`, `T0`, `T1`, `T2`.
pub fn tier_name(t: u8) -> String {
    if t == 0 {
        "NIC".into()
    } else {
        format!("T{}", t - 1)
    }
}

/// A failure action applied during the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureMark {
    /// When, ps.
    pub at_ps: Time,
    /// Index of the failure in the run's list.
    pub failure: u32,
    /// What happened: `down`, `up`, `black-hole`, `black-hole-end`, `lossy`, `loss-end`.
    pub change: &'static str,
}

/// Time series of one run (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Timeline {
    /// Width of every bin, ps. Bin `i` covers `[i × bin_ps, (i + 1) × bin_ps)`.
    pub bin_ps: Time,
    /// Distinct payload bytes that arrived intact during each bin.
    pub delivered_bytes: Vec<u64>,
    /// EVs in state GOOD over the QPs still running, at the end of each bin.
    pub ev_good: Vec<u32>,
    /// EVs in state SKIP (skipped once after ECN / trim), same sampling.
    pub ev_skip: Vec<u32>,
    /// EVs in state ASSUMED_BAD (retired after an unexplained loss), same sampling.
    pub ev_assumed_bad: Vec<u32>,
    /// Port groups by hop direction and plane, in path order (up the tiers, then down).
    pub links: Vec<LinkGroup>,
    /// Failure actions in time order.
    pub failures: Vec<FailureMark>,
}

impl Timeline {
    /// Adds the timeline of another partition of the same run (same bins and groups, its own
    /// ports and QPs): counts add up, queue maxima take the larger.
    pub(crate) fn add(&mut self, o: &Self) {
        fn sum<T: Copy + std::ops::AddAssign>(a: &mut [T], b: &[T]) {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += *b);
        }
        debug_assert_eq!((self.bin_ps, self.bins()), (o.bin_ps, o.bins()));
        sum(&mut self.delivered_bytes, &o.delivered_bytes);
        sum(&mut self.ev_good, &o.ev_good);
        sum(&mut self.ev_skip, &o.ev_skip);
        sum(&mut self.ev_assumed_bad, &o.ev_assumed_bad);
        for (g, h) in self.links.iter_mut().zip(&o.links) {
            sum(&mut g.tx_bytes, &h.tx_bytes);
            g.queue_max_bytes
                .iter_mut()
                .zip(&h.queue_max_bytes)
                .for_each(|(a, b)| *a = (*a).max(*b));
        }
    }

    /// Number of bins.
    pub fn bins(&self) -> usize {
        self.delivered_bytes.len()
    }
}

/// The recorder inside a [`Sim`]: cumulative counters and the bins so far.
#[derive(Debug, Default)]
pub(super) struct Recorder {
    /// End of the current bin, ps (the loop samples when an event reaches it).
    pub(super) next_ps: Time,
    /// Distinct payload bytes delivered so far (bumped by `Sim::cover`).
    pub(super) delivered: u64,
    /// Group of every port (`NONE` = unconnected).
    port_group: Vec<u32>,
    /// Cumulative per bin (delivered, then per group tx) — differenced on export.
    cum_delivered: Vec<u64>,
    cum_tx: Vec<Vec<u64>>,
    tl: Timeline,
    /// Scratch: tx totals and queue maxima per group.
    scratch_tx: Vec<u64>,
    scratch_q: Vec<u64>,
}

impl Recorder {
    fn push_sample(&mut self, ev: [u32; 3]) {
        self.cum_delivered.push(self.delivered);
        self.tl.ev_good.push(ev[0]);
        self.tl.ev_skip.push(ev[1]);
        self.tl.ev_assumed_bad.push(ev[2]);
        for (i, g) in self.tl.links.iter_mut().enumerate() {
            self.cum_tx[i].push(self.scratch_tx[i]);
            g.queue_max_bytes.push(self.scratch_q[i]);
        }
    }

    /// Merges neighbouring bins and doubles the width.
    fn coarsen(&mut self) {
        fn last_of_pair<T: Copy>(v: &mut Vec<T>) {
            let n = v.len() / 2;
            for i in 0..n {
                v[i] = v[2 * i + 1];
            }
            v.truncate(n);
        }
        fn max_of_pair(v: &mut Vec<u64>) {
            let n = v.len() / 2;
            for i in 0..n {
                v[i] = v[2 * i].max(v[2 * i + 1]);
            }
            v.truncate(n);
        }
        last_of_pair(&mut self.cum_delivered);
        last_of_pair(&mut self.tl.ev_good);
        last_of_pair(&mut self.tl.ev_skip);
        last_of_pair(&mut self.tl.ev_assumed_bad);
        for c in &mut self.cum_tx {
            last_of_pair(c);
        }
        for g in &mut self.tl.links {
            max_of_pair(&mut g.queue_max_bytes);
        }
        self.tl.bin_ps *= 2;
    }
}

impl<F: TransportFactory> Sim<F> {
    /// Sets up the port groups (called once the ports exist).
    pub(super) fn rec_init(&mut self) {
        let topo = self.fabric.topo();
        let mut keys: Vec<(u8, u8, u8)> = Vec::new();
        let mut port_group = vec![NONE; self.net.ports.len()];
        let mut groups: Vec<LinkGroup> = Vec::new();
        for (g, p) in self.net.ports.iter_enumerated() {
            if p.link == NONE || p.peer == NO_NODE {
                continue;
            }
            let from = self.net.node_tier[p.node];
            let to = self.net.node_tier[p.peer];
            let plane = match topo.node(p.node).kind {
                NodeKind::Switch { plane, .. } => plane,
                NodeKind::Nic { .. } => (g.0 - self.net.port_base[p.node.index()].0) as u8,
            };
            let key = (from, to, plane);
            let i = match keys.iter().position(|k| *k == key) {
                Some(i) => i,
                None => {
                    keys.push(key);
                    groups.push(LinkGroup {
                        from_tier: from,
                        to_tier: to,
                        plane,
                        ports: 0,
                        gbps: 0,
                        tx_bytes: Vec::new(),
                        queue_max_bytes: Vec::new(),
                    });
                    keys.len() - 1
                }
            };
            groups[i].ports += 1;
            groups[i].gbps += u64::from(p.gbps);
            port_group[g.index()] = i as u32;
        }
        // Path order: up the tiers (lowest first), then down (highest first); planes inside.
        let order_key = |g: &LinkGroup| {
            let up = g.to_tier > g.from_tier;
            let tier = if up {
                i32::from(g.from_tier)
            } else {
                100 - i32::from(g.from_tier)
            };
            (tier, g.plane)
        };
        let mut idx: Vec<usize> = (0..groups.len()).collect();
        idx.sort_by_key(|&i| order_key(&groups[i]));
        let mut rank = vec![0u32; groups.len()];
        for (r, &i) in idx.iter().enumerate() {
            rank[i] = r as u32;
        }
        for pg in &mut port_group {
            if *pg != NONE {
                *pg = rank[*pg as usize];
            }
        }
        let sorted: Vec<LinkGroup> = idx.iter().map(|&i| groups[i].clone()).collect();
        let n = sorted.len();
        self.rec = Recorder {
            next_ps: FIRST_BIN_PS,
            delivered: 0,
            port_group,
            cum_delivered: Vec::with_capacity(BINS),
            cum_tx: vec![Vec::with_capacity(BINS); n],
            tl: Timeline {
                bin_ps: FIRST_BIN_PS,
                links: sorted,
                ..Timeline::default()
            },
            scratch_tx: vec![0; n],
            scratch_q: vec![0; n],
        };
    }

    /// Samples the state for every bin that ends at or before `t` (the state is constant
    /// between events, so one sample fills them all).
    pub(super) fn rec_sample(&mut self, t: Time) {
        if t < self.rec.next_ps {
            return;
        }
        let ev = self.rec_ev_counts();
        let r = &mut self.rec;
        r.scratch_tx.iter_mut().for_each(|v| *v = 0);
        r.scratch_q.iter_mut().for_each(|v| *v = 0);
        for (g, p) in self.net.ports.iter().enumerate() {
            let i = r.port_group[g];
            if i == NONE {
                continue;
            }
            r.scratch_tx[i as usize] += p.tx_bytes;
            let q = &mut r.scratch_q[i as usize];
            *q = (*q).max(p.data_bytes + p.ctrl_bytes);
        }
        while t >= r.next_ps {
            if r.cum_delivered.len() == BINS {
                r.coarsen();
                // The bin being filled now ends later: skip if the merge already covers `t`.
                r.next_ps = (r.cum_delivered.len() as Time + 1) * r.tl.bin_ps;
                if t < r.next_ps {
                    break;
                }
            }
            r.push_sample(ev);
            r.next_ps = (r.cum_delivered.len() as Time + 1) * r.tl.bin_ps;
        }
    }

    fn rec_ev_counts(&self) -> [u32; 3] {
        let mut c = [0u32; 3];
        for p in self
            .work
            .pairs
            .iter()
            .filter(|p| !p.done && self.owns_nic(p.src.0))
        {
            let Some(q) = self.qp(p.src) else {
                continue;
            };
            let e = q.conn().ev_counts();
            c[0] += e[0];
            c[1] += e[1];
            c[2] += e[2];
        }
        c
    }

    /// Records a failure action.
    pub(super) fn rec_mark(&mut self, failure: u32, change: Change) {
        if self.rec.tl.failures.len() >= MAX_MARKS {
            return;
        }
        let change = change.label();
        let at_ps = self.q.now();
        self.rec.tl.failures.push(FailureMark {
            at_ps,
            failure,
            change,
        });
    }

    /// The timeline up to `end` (samples the partial last bin).
    pub(super) fn rec_timeline(&mut self, end: Time) -> Timeline {
        // Close the bin holding `end` so the last partial bin is sampled too.
        let close = end.max(1).div_ceil(self.rec.tl.bin_ps) * self.rec.tl.bin_ps;
        self.rec_sample(close);
        let r = &self.rec;
        let mut tl = r.tl.clone();
        let diff = |cum: &[u64]| -> Vec<u64> {
            let mut prev = 0;
            cum.iter()
                .map(|&c| {
                    let d = c.saturating_sub(prev);
                    prev = c;
                    d
                })
                .collect()
        };
        tl.delivered_bytes = diff(&r.cum_delivered);
        for (g, cum) in tl.links.iter_mut().zip(&r.cum_tx) {
            g.tx_bytes = diff(cum);
        }
        // Bins past `end` (a coarse last bin may reach beyond it) are dropped.
        let keep = end.div_ceil(tl.bin_ps).max(1) as usize;
        let keep = keep.min(tl.delivered_bytes.len());
        tl.delivered_bytes.truncate(keep);
        tl.ev_good.truncate(keep);
        tl.ev_skip.truncate(keep);
        tl.ev_assumed_bad.truncate(keep);
        for g in &mut tl.links {
            g.tx_bytes.truncate(keep);
            g.queue_max_bytes.truncate(keep);
        }
        tl
    }
}
