//! The packet-level discrete-event simulator: links, switches (ECN, trimming, PFC), NICs,
//! failures and metrics, driving the real `mrc-proto` transport core.
//!
//! - [`kernel`]: the (time, tie) event queue; time in picoseconds.
//! - [`factory`]: what a transport provides ([`TransportFactory`]: QP pairs that are
//!   `mrc_proto` transports); [`transports`] (MRC, spray) and [`roce`] implement it.
//! - [`sim`]: ports, switches, routing, NICs, failures, flows and the event loop ([`Sim`]), one
//!   module per job (`docs/architecture.md` §3, simulator module map); each NIC is an
//!   `mrc_proto::nic::Nic` (demux, port status, transmit arbitration, timers) whose QPs are
//!   `qp::SimQp`s, the same NIC layer the real transport drives.
//! - [`config`]: the typed run configuration; [`failure`]: failures as data (targets, kinds and
//!   how a scenario file writes each kind); [`report`]: what a run returns.
//! - [`coverage`]: which byte ranges of a write have arrived (the data-integrity check).
//! - [`units`]: times, rates, sizes and probabilities as scenario files write them.
#![forbid(unsafe_code)]

pub mod config;
pub mod coverage;
pub mod factory;
pub mod failure;
pub mod kernel;
mod qp;
pub mod red;
pub mod report;
pub mod rng;
pub mod roce;
pub mod sim;
pub mod testing;
pub mod transports;
pub mod units;

pub use config::{FabricSpec, NetSpec, PfcSpec, RedSpec, RunSpec, SwitchSpec, Workload};
pub use factory::{EvCounts, FabricInfo, PairInfo, Routing, TransportFactory};
pub use failure::{Failure, FailureKind, Target};
pub use kernel::Time;
pub use report::{EvChange, Percentiles, RunReport, SwitchCounters};
#[cfg(feature = "mpi")]
pub use sim::MpiWorld;
pub use sim::record::{LinkGroup, Timeline};
pub use sim::tap::{TapError, TapNode, TapPoint};
pub use sim::{Partitions, PortCounters, Progress, Sim, SimError};
