//! Partitions of one run in MPI ranks, one partition per rank (`docs/architecture.md` §3,
//! partitioned runs): the same window loop as threads ([`Sim::run_partition`]), with
//! messages, statuses and the final shares crossing as bytes ([`super::codec`]).
//!
//! Per window: an all-to-all of headers (message lengths and the status), then an
//! all-to-all-v of the messages, skipped when no rank sends any. At the end every rank but 0 sends its share to rank 0 (a
//! gather of lengths, then of bytes), which merges them and reports.
//!
//! OpenMPI's `MPI_IN_PLACE` is the address 1, which is also where an empty `Vec` without an
//! allocation points: every byte buffer handed to MPI here owns an allocation ([`real_ptr`]),
//! or an empty buffer would be read as an in-place request.

use mpi::Count;
use mpi::datatype::{Partition, PartitionMut};
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use crate::factory::TransportFactory;
use crate::kernel::Time;
use crate::report::RunReport;

use super::codec::{self, Dec, STATUS_WORDS};
use super::part::{Meet, Msg, Outbox, Status};
use super::share::Share;
use super::{Progress, Sim};

/// This process's place among the MPI ranks of `mpirun`, and the buffers of its exchanges.
/// Dropping it ends MPI (which can start only once per process).
pub struct MpiWorld {
    // Fields drop in order: the universe (MPI_Finalize) last.
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    header_out: Vec<u64>,
    header_in: Vec<u64>,
    counts_out: Vec<Count>,
    counts_in: Vec<Count>,
    displs_out: Vec<Count>,
    displs_in: Vec<Count>,
    bytes_out: Vec<u8>,
    bytes_in: Vec<u8>,
    _universe: Universe,
}

impl std::fmt::Debug for MpiWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MpiWorld(rank {} of {})", self.rank, self.size)
    }
}

impl MpiWorld {
    /// Starts MPI: under `mpirun`, one of its ranks; without it, the only one. `None` if MPI
    /// was started before in this process.
    pub fn init() -> Option<Self> {
        let universe = mpi::initialize()?;
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        Some(Self {
            world,
            rank,
            size,
            header_out: Vec::with_capacity(HEADER * size),
            header_in: vec![0; HEADER * size],
            counts_out: Vec::with_capacity(size),
            counts_in: Vec::with_capacity(size),
            displs_out: Vec::with_capacity(size),
            displs_in: Vec::with_capacity(size),
            bytes_out: Vec::new(),
            bytes_in: Vec::new(),
            _universe: universe,
        })
    }

    /// This rank (0 reports).
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of ranks.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Every rank's `mine` at rank 0 (by rank), `None` elsewhere. Collective.
    fn gather(&mut self, mut mine: Vec<u8>) -> Option<Vec<Vec<u8>>> {
        real_ptr(&mut mine);
        let root = self.world.process_at_rank(0);
        let len = count(mine.len());
        if self.rank != 0 {
            root.gather_into(&len);
            root.gather_varcount_into(&mine[..]);
            return None;
        }
        let mut counts = vec![0 as Count; self.size];
        root.gather_into_root(&len, &mut counts[..]);
        let mut displs = Vec::with_capacity(self.size);
        let mut buf = vec![0u8; prefix(&counts, &mut displs)];
        real_ptr(&mut buf);
        root.gather_varcount_into_root(
            &mine[..],
            &mut PartitionMut::new(&mut buf[..], &counts[..], &displs[..]),
        );
        Some(split(&buf, &counts, &displs))
    }
}

/// Makes `v` own an allocation, so its address is never OpenMPI's `MPI_IN_PLACE` (1).
fn real_ptr(v: &mut Vec<u8>) {
    v.reserve(1);
}

/// A length as an MPI count (C `int`): one message, and all a rank receives in one
/// exchange, must stay under 2 GiB.
fn count(n: usize) -> Count {
    Count::try_from(n).unwrap_or_else(|_| panic!("MPI exchange of {n} bytes: over 2 GiB"))
}

/// Exclusive prefix sums of `counts` into `displs`; returns the total.
fn prefix(counts: &[Count], displs: &mut Vec<Count>) -> usize {
    displs.clear();
    let mut at = 0usize;
    for &c in counts {
        displs.push(count(at));
        at += c as usize;
    }
    count(at);
    at
}

/// The pieces of `buf` at `displs`, `counts` long.
fn split(buf: &[u8], counts: &[Count], displs: &[Count]) -> Vec<Vec<u8>> {
    counts
        .iter()
        .zip(displs)
        .map(|(&c, &d)| buf[d as usize..(d + c) as usize].to_vec())
        .collect()
}

/// Words of the header each rank sends every rank at a meeting: the length of its messages
/// for that rank, the length of all it sends, and its status.
const HEADER: usize = 2 + STATUS_WORDS;

impl Meet for MpiWorld {
    fn count(&self) -> usize {
        self.size
    }

    /// An all-to-all of headers, then, unless no rank sends anything, an all-to-all-v of the
    /// messages.
    fn meet(&mut self, out: Outbox, st: Status) -> (Vec<Vec<(Time, Msg)>>, Vec<Status>) {
        self.bytes_out.clear();
        self.counts_out.clear();
        for msgs in &out {
            // Nothing at all for no messages, so a window without any skips the all-to-all-v.
            let start = self.bytes_out.len();
            if !msgs.is_empty() {
                codec::put_msgs(&mut self.bytes_out, msgs);
            }
            self.counts_out.push(count(self.bytes_out.len() - start));
        }
        drop(out);
        let words = codec::status_words(&st);
        self.header_out.clear();
        for &c in &self.counts_out {
            self.header_out
                .extend([c as u64, self.bytes_out.len() as u64]);
            self.header_out.extend(words);
        }
        self.header_in.resize(HEADER * self.size, 0);
        self.world
            .all_to_all_into(&self.header_out[..], &mut self.header_in[..]);
        let headers = self.header_in.chunks_exact(HEADER);
        let all = headers.clone().map(|h| codec::status_of(&h[2..])).collect();
        self.counts_in.clear();
        self.counts_in
            .extend(headers.clone().map(|h| count(h[0] as usize)));
        if headers.map(|h| h[1]).sum::<u64>() == 0 {
            return ((0..self.size).map(|_| Vec::new()).collect(), all);
        }
        (self.swap_bytes(), all)
    }
}

impl MpiWorld {
    /// The all-to-all-v of the messages in `bytes_out` (`counts_out` for each rank; what
    /// each sends this one is in `counts_in`), decoded by source.
    fn swap_bytes(&mut self) -> Vec<Vec<(Time, Msg)>> {
        real_ptr(&mut self.bytes_out);
        prefix(&self.counts_out, &mut self.displs_out);
        let total = prefix(&self.counts_in, &mut self.displs_in);
        self.bytes_in.clear();
        self.bytes_in.resize(total, 0);
        real_ptr(&mut self.bytes_in);
        self.world.all_to_all_varcount_into(
            &Partition::new(
                &self.bytes_out[..],
                &self.counts_out[..],
                &self.displs_out[..],
            ),
            &mut PartitionMut::new(
                &mut self.bytes_in[..],
                &self.counts_in[..],
                &self.displs_in[..],
            ),
        );
        self.counts_in
            .iter()
            .zip(&self.displs_in)
            .map(|(&c, &d)| {
                if c == 0 {
                    return Vec::new();
                }
                let mut dec = Dec(&self.bytes_in[d as usize..(d + c) as usize]);
                let msgs = codec::get_msgs(&mut dec);
                debug_assert!(dec.is_empty());
                msgs
            })
            .collect()
    }
}

impl<F: TransportFactory> Sim<F> {
    /// Runs this rank's partition to the end, then rank 0 merges the others' shares and
    /// returns the report (`None` elsewhere); `progress` is called on rank 0 only.
    pub(super) fn run_rank(
        &mut self,
        world: &mut MpiWorld,
        progress: &mut dyn FnMut(Progress),
    ) -> Option<RunReport> {
        let wall = std::time::Instant::now();
        let end = if world.rank == 0 {
            self.run_partition(world, progress)
        } else {
            self.run_partition(world, &mut |_| {})
        };
        if world.rank != 0 {
            let mut buf = Vec::new();
            codec::put_share(&mut buf, &self.share(end));
            world.gather(buf);
            return None;
        }
        let all = world.gather(Vec::new())?;
        let shares: Vec<Share> = all[1..]
            .iter()
            .map(|b| {
                let mut dec = Dec(b);
                let s = codec::get_share(&mut dec);
                debug_assert!(dec.is_empty());
                s
            })
            .collect();
        Some(self.merged_report(end, &shares, wall))
    }
}
