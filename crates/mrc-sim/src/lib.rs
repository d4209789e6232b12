//! The packet-level discrete-event simulator: links, switches (ECN, trimming, PFC), NICs,
//! failures and metrics, driving the real `mrc-proto` transport core.
//!
//! - [`kernel`]: the (time, sequence) event queue; time in picoseconds.
//! - [`endpoint`]: the adapter trait a transport implements ([`Endpoint`], [`TransportFactory`]).
//! - [`sim`]: ports, switches, NICs, failures, flows and the event loop ([`Sim`]).
//! - [`config`]: the typed run configuration; [`report`]: what a run returns.
//! - [`coverage`]: which byte ranges of a write have arrived (the data-integrity check).
#![forbid(unsafe_code)]

pub mod config;
pub mod coverage;
pub mod endpoint;
pub mod kernel;
pub mod red;
pub mod report;
pub mod rng;
pub mod roce;
pub mod sim;
pub mod testing;
pub mod transports;

pub use config::{
    FabricSpec, Failure, FailureKind, NetSpec, PfcSpec, RedSpec, RunSpec, SwitchSpec, Target,
    Workload,
};
pub use endpoint::{Endpoint, FabricInfo, PairInfo, Routing, TransportFactory};
pub use kernel::Time;
pub use report::{EvChange, Percentiles, RunReport, SwitchCounters};
pub use sim::record::{LinkGroup, Timeline};
pub use sim::tap::{TapError, TapNode, TapPoint};
pub use sim::{PortCounters, Progress, Sim, SimError};
