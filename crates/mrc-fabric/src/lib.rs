//! Fabric topologies (multi-plane two-tier Clos, single-plane fat trees), addressing, the static
//! SRv6 uSID tables, EV ↔ path ↔ SRv6 destination mapping, planner figures and config export.
//!
//! Facts and the uSID scheme: `docs/fabric-and-srv6.md` §1–§8, §10.3–§10.5.
//!
//! Main entry points:
//! - [`Clos::new`]`(`[`ClosParams`]`)` — the multi-plane two-tier Clos; [`Clos::topology`] gives
//!   the plain-data [`Topology`] (nodes, per-node port slots, links with `gbps` and `latency_ns`;
//!   NIC `n` is node `n`). [`FatTree::new`]`(`[`FatTreeParams`]`)` — single-plane k-ary fat trees.
//! - SRv6 mapping on [`Clos`]: [`Clos::ev`] / [`Clos::ev_parts`], [`Clos::da`] (EV → outer DA),
//!   [`Clos::path`] (EV → links and switches), [`Clos::decode_da`] / [`Clos::path_of_da`]
//!   (DA → path), [`Clos::probe_t0`] / [`Clos::probe_t1`] / [`Clos::probe_uplink`] (§8),
//!   [`Clos::link_role`] and [`Path::crosses_link`] (failure localisation), [`Clos::ev_set`].
//! - [`StaticTables::new`] — every node's /48 table; [`Table::lookup`] is what a switch does per
//!   packet, [`StaticTables::forward`] runs the uN/uA shift-and-forward through them.
//! - [`Topology::ecmp_next_hops`] / [`Topology::ecmp_select`] — the conventional (non-SRv6)
//!   baseline; [`rng::ecmp_hash`] a deterministic per-switch hash.
//! - [`Plan::new`] — planner figures; [`export::export`] — iproute2 / FRR configuration text.
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
