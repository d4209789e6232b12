//! `mrc fabric status --json`: which namespaces of a running fabric exist and which cables are
//! up.

use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct FabricStatus {
    /// Every cable.
    pub(crate) links: Vec<FabricLink>,
    /// Every node (switch or NIC).
    pub(crate) nodes: Vec<FabricNode>,
    /// The fabric's namespace prefix.
    pub(crate) prefix: String,
}

/// One cable.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct FabricLink {
    /// `node:dev` of the lower-tier end.
    pub(crate) a: String,
    /// `node:dev` of the upper-tier end.
    pub(crate) b: String,
    /// Link id (the `links.tsv` row).
    pub(crate) id: u32,
    /// Both ends administratively up with carrier.
    pub(crate) up: bool,
}

/// One node.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct FabricNode {
    /// Its name (`nic0`, `p0.t0.1`, …).
    pub(crate) name: String,
    /// Its namespace exists.
    pub(crate) present: bool,
}
