//! The real MRC transport over UDP/IPv6 sockets, and the network-namespace fabric that lets the
//! Linux kernel play the switches (static SRv6 uN shift-and-forward).
//!
//! - [`fabric`]: `Fabric::new(FabricSpec)`, `up`, `status`, `set_link`, [`fabric::down`] — one
//!   namespace per switch and NIC, veth cables, the static tables of `mrc-fabric`.
//! - [`cmd`]: the typed `ip`/`tc`/`ethtool` builder.

pub mod cmd;
pub mod endpoint;
pub mod error;
pub mod fabric;
pub mod handshake;
pub mod perf;
pub mod sys;

pub use error::{NetError, Result};
pub use fabric::{Fabric, FabricSpec};
