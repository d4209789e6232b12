//! Fabric topologies (multi-plane two-tier Clos, single-plane fat trees), addressing, the static
//! SRv6 uSID tables, EV ↔ path ↔ SRv6 destination mapping, planner figures and config export.
//!
//! Facts and the uSID scheme: `fabric-and-srv6.md` §1–§8, §10.3–§10.5.
#![forbid(unsafe_code)]

pub mod clos;
pub mod error;
pub mod export;
pub mod fattree;
pub mod plan;
pub mod rng;
pub mod tables;
pub mod topology;
pub mod usid;

pub use clos::{Clos, ClosDims, ClosParams, Decoded, Ev, EvSet, LinkRole, Path, RouteError};
pub use error::{Param, ParamError};
pub use fattree::{FatTree, FatTreeParams};
pub use plan::{Figures, Plan, PlanParams};
pub use tables::{Action, ForwardError, StaticTables, Table, Trace, VerifyError};
pub use topology::{Link, LinkId, Node, NodeId, NodeKind, PortRef, Topology};
