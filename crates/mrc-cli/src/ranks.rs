//! `mrc sim` under `mpirun` (feature `mpi`): every run of the scenario splits over the MPI
//! ranks, one partition per rank, runs one after another; rank 0 reports. Without the
//! feature, or with a single rank, there are no ranks and nothing here runs.

use mrc_sim::{Partitions, Progress, RunReport, RunSpec, SimError, TransportFactory};

/// The MPI ranks this process is one of, when there are more than one.
#[cfg(feature = "mpi")]
pub(crate) struct World(mrc_sim::MpiWorld);

/// Without the `mpi` feature there are never ranks.
#[cfg(not(feature = "mpi"))]
pub(crate) enum World {}

/// Starts MPI and returns the ranks, if `mpirun` started more than one (one rank alone
/// behaves as a build without the feature).
pub(crate) fn start() -> Option<World> {
    #[cfg(feature = "mpi")]
    {
        mrc_sim::MpiWorld::init()
            .filter(|w| w.size() > 1)
            .map(World)
    }
    #[cfg(not(feature = "mpi"))]
    {
        None
    }
}

#[cfg(feature = "mpi")]
impl World {
    /// This rank (0 prints and writes the output).
    pub(crate) fn rank(&self) -> usize {
        self.0.rank()
    }

    /// The number of ranks.
    pub(crate) fn size(&self) -> usize {
        self.0.size()
    }

    /// This rank's partition of the run of `spec` ([`Partitions::for_rank`]).
    pub(crate) fn split<F: TransportFactory>(
        &self,
        spec: RunSpec,
        factory: F,
    ) -> Result<(Partitions<F>, Option<&'static str>), SimError> {
        Partitions::for_rank(spec, factory, &self.0)
    }

    /// Runs `sim` over the ranks; the report on rank 0 ([`Partitions::run_mpi`]).
    pub(crate) fn run<F: TransportFactory>(
        &mut self,
        sim: &mut Partitions<F>,
        progress: &mut dyn FnMut(Progress),
    ) -> Option<RunReport> {
        sim.run_mpi(&mut self.0, progress)
    }
}

#[cfg(not(feature = "mpi"))]
impl World {
    pub(crate) fn rank(&self) -> usize {
        match *self {}
    }

    pub(crate) fn size(&self) -> usize {
        match *self {}
    }

    pub(crate) fn split<F: TransportFactory>(
        &self,
        _: RunSpec,
        _: F,
    ) -> Result<(Partitions<F>, Option<&'static str>), SimError> {
        match *self {}
    }

    pub(crate) fn run<F: TransportFactory>(
        &mut self,
        _: &mut Partitions<F>,
        _: &mut dyn FnMut(Progress),
    ) -> Option<RunReport> {
        match *self {}
    }
}
