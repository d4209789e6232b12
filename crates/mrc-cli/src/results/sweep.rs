//! `mrc sweep --json`: the grid, and the headline figures of every run at every point.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PercentilesUs;

/// The whole file.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct SweepResults {
    /// The axes, in the sweep file's order.
    pub(crate) axes: Vec<SweepAxis>,
    /// The base scenario file as the sweep file names it; `null` for an inline scenario.
    pub(crate) base: Option<String>,
    /// The sweep's `description`, trimmed.
    pub(crate) description: String,
    /// Every point of the grid (the last axis varies fastest).
    pub(crate) points: Vec<SweepPoint>,
    /// The sweep's `name`.
    pub(crate) sweep: String,
}

/// One axis of the grid.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct SweepAxis {
    /// The (first) scenario field it sets, e.g. `fabric.nics`.
    pub(crate) path: String,
    /// Its values, as the sweep file gives them (any TOML value).
    pub(crate) values: Vec<Value>,
}

/// One point of the grid.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct SweepPoint {
    /// The point's value of each axis.
    pub(crate) axes: Vec<Value>,
    /// The runs of the scenario at this point.
    pub(crate) runs: Vec<SweepRun>,
    /// The scenario's `name`.
    pub(crate) scenario: String,
    /// The seed used.
    pub(crate) seed: u64,
}

/// The headline figures of one run (see `results::sim::SimRun` for the fields it shares).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct SweepRun {
    /// Sum of the collectives' completion times, µs (collective workloads only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) collectives_us: Option<f64>,
    /// Every delivered byte matched what was sent.
    pub(crate) data_intact: bool,
    /// Flow completion times, µs.
    pub(crate) fct_us: PercentilesUs,
    /// Flows that completed.
    pub(crate) flows_done: u64,
    /// Flows that ended in an error (present only when some did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) flows_failed: Option<u64>,
    /// Flows in the workload.
    pub(crate) flows_total: u64,
    /// As in `mrc sim --json`; `null` when not defined.
    pub(crate) goodput_fraction: Option<f64>,
    /// The run's label.
    pub(crate) label: String,
    /// Max FCT over p50 FCT, to 4 decimals (the tail); `null` if no flow completed.
    pub(crate) max_over_p50: Option<f64>,
    /// Simulated time at the end of the run, µs.
    pub(crate) sim_time_us: f64,
    /// Training step times, µs (training workloads only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) step_time_us: Option<PercentilesUs>,
    /// `mrc`, `spray` or `roce`.
    pub(crate) transport: String,
}
