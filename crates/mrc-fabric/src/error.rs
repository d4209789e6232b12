//! Validation errors for fabric parameters.

use thiserror::Error;

/// The parameter an error is about. The CLI maps it to its flag name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Param {
    /// Number of NICs.
    Nics,
    /// Number of planes (lanes per NIC).
    Planes,
    /// NIC speed in Gb/s.
    NicGbps,
    /// Total switch capacity in Gb/s.
    SwitchGbps,
    /// T0 uplink ports (oversubscription).
    T0Uplinks,
    /// Fat-tree radix `k`.
    Radix,
    /// Fat-tree tier count.
    Tiers,
}

/// An impossible or unsupported fabric request.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
#[non_exhaustive]
pub enum ParamError {
    /// A parameter that must be positive is zero.
    #[error("must be greater than zero")]
    Zero(Param),
    /// The planes do not split the NIC speed into whole Gb/s lanes.
    #[error(
        "{planes} planes do not divide the NIC speed of {nic_gbps} Gb/s into equal whole-Gb/s lanes"
    )]
    PlanesDoNotDivideNic {
        /// Requested planes.
        planes: u32,
        /// NIC speed.
        nic_gbps: u32,
    },
    /// The lane speed does not divide the switch capacity into whole ports.
    #[error("switch capacity {switch_gbps} Gb/s is not a whole number of {lane_gbps} Gb/s ports")]
    LaneDoesNotDivideSwitch {
        /// Switch capacity.
        switch_gbps: u32,
        /// Lane (port) speed.
        lane_gbps: u32,
    },
    /// The switch radix at lane speed is odd (or below 2): ports cannot split half down, half up.
    #[error("switch radix {radix} at lane speed must be even and at least 2")]
    RadixNotEven {
        /// The radix.
        radix: u32,
    },
    /// More NICs than two tiers of this radix can attach.
    #[error(
        "{nics} NICs exceed the two-tier limit of {max} for radix {radix} ({t0_down} NIC ports per T0 × {radix} T0s)"
    )]
    TooManyNics {
        /// Requested NICs.
        nics: u32,
        /// The largest two-tier build.
        max: u64,
        /// Switch radix at lane speed.
        radix: u32,
        /// NIC-facing ports per T0.
        t0_down: u32,
    },
    /// T0 uplinks outside `1..radix`.
    #[error("{t0_uplinks} T0 uplinks must be between 1 and radix − 1 = {max}")]
    BadUplinks {
        /// Requested uplinks.
        t0_uplinks: u32,
        /// Largest allowed.
        max: u32,
    },
    /// The fabric does not fit the 16-bit uSID layout of docs/fabric-and-srv6.md §7.2.
    #[error("does not fit the 16-bit uSID layout: {what} is {value}, at most {max}")]
    UsidSpace {
        /// The parameter that overflows.
        param: Param,
        /// What overflows (e.g. "planes").
        what: &'static str,
        /// Its value.
        value: u64,
        /// The limit.
        max: u64,
    },
    /// Fat trees here are built with 2 or 3 tiers only.
    #[error("{tiers} tiers: fat trees are built with 2 or 3 tiers")]
    BadTiers {
        /// Requested tiers.
        tiers: u32,
    },
    /// More NICs than the fat tree holds.
    #[error("{nics} NICs exceed the {max} hosts of a {tiers}-tier fat tree with k = {k}")]
    FatTreeTooSmall {
        /// Requested NICs.
        nics: u32,
        /// Capacity of the tree.
        max: u64,
        /// Radix.
        k: u32,
        /// Tiers.
        tiers: u32,
    },
    /// The single-plane comparison needs switches of at least 4 ports of NIC speed.
    #[error(
        "the single-plane design needs switches of at least 4 ports of {nic_gbps} Gb/s (here {k})"
    )]
    SinglePlaneRadix {
        /// Ports of NIC speed per switch.
        k: u32,
        /// NIC speed.
        nic_gbps: u32,
    },
    /// A figure does not fit the 32-bit counters used for node and link ids.
    #[error("the fabric is too large to build ({what} = {value})")]
    TooLarge {
        /// The parameter mostly responsible.
        param: Param,
        /// The quantity that overflows.
        what: &'static str,
        /// Its value.
        value: u64,
    },
}

impl ParamError {
    /// The parameter (and so the CLI flag) the error is about.
    pub fn param(&self) -> Param {
        match self {
            Self::Zero(p) => *p,
            Self::PlanesDoNotDivideNic { .. } => Param::Planes,
            Self::LaneDoesNotDivideSwitch { .. }
            | Self::RadixNotEven { .. }
            | Self::SinglePlaneRadix { .. } => Param::SwitchGbps,
            Self::TooManyNics { .. } => Param::Nics,
            Self::BadUplinks { .. } => Param::T0Uplinks,
            Self::UsidSpace { param, .. } | Self::TooLarge { param, .. } => *param,
            Self::BadTiers { .. } => Param::Tiers,
            Self::FatTreeTooSmall { .. } => Param::Nics,
        }
    }
}
