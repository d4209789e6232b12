//! Fabric topologies (multi-plane two-tier Clos, single-plane fat trees), addressing, the static
//! SRv6 uSID tables, EV ↔ path ↔ SRv6 destination mapping, planner figures and config export.
#![forbid(unsafe_code)]
