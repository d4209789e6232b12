//! The JSON contract: what `mrc sim --json`, `mrc plan --json`, `mrc perf --json`,
//! `mrc sweep --json`, `mrc fabric status --json` and `mrc train --json` write, as serde structs. Commands build
//! these and nothing else; `mrc report` reads `mrc sim` files back through
//! [`sim::SimResults`].
//!
//! Files are written through a `serde_json::Value` ([`to_pretty`], or `report::data::to_text`
//! where long arrays stay on one line), whose maps sort their keys: the order the files have
//! always had. Structs declare their fields alphabetically too, so that they read like the
//! files. Times and ratios are rounded before they are stored (µs to 3 decimals, fractions to
//! 4); a field that is `null` when unknown is an `Option` without `skip_serializing_if`, one that
//! is left out is marked so.
//!
//! The integration tests include this module as it is (`tests/snapshots.rs`), so it depends on
//! nothing else of the crate.

pub(crate) mod fabric;
pub(crate) mod perf;
pub(crate) mod plan;
pub(crate) mod sim;
pub(crate) mod sweep;
#[cfg(feature = "train")]
pub(crate) mod train;

use serde::{Deserialize, Serialize};

/// `doc` as pretty JSON (keys sorted, two-space indent) with a final newline.
pub(crate) fn to_pretty<T: Serialize>(doc: &T) -> serde_json::Result<String> {
    Ok(serde_json::to_string_pretty(&serde_json::to_value(doc)?)? + "\n")
}

/// Percentiles of a time in µs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct PercentilesUs {
    /// Largest.
    pub(crate) max: f64,
    /// Median.
    pub(crate) p50: f64,
    /// 99th percentile.
    pub(crate) p99: f64,
}

/// Picoseconds as µs rounded to the ns (3 decimals), as every `*_us` field holds them.
pub(crate) fn us(ps: u64) -> f64 {
    (ps as f64 / 1e6 * 1000.0).round() / 1000.0
}

/// `v` rounded to `digits` decimals.
pub(crate) fn round(v: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (v * m).round() / m
}

#[cfg(test)]
pub(crate) mod order {
    //! The field-order rule of the module doc, checked on fully populated values.
    #![allow(clippy::unwrap_used, reason = "test code")]

    use serde::Serialize;

    /// Fails unless `v` serialises to the same text directly as through a `serde_json::Value`
    /// (whose maps sort keys): i.e. its structs (without `flatten`) declare their fields
    /// alphabetically.
    pub(crate) fn assert_sorted<T: Serialize>(v: &T) {
        let direct = serde_json::to_string_pretty(v).unwrap();
        let sorted = serde_json::to_string_pretty(&serde_json::to_value(v).unwrap()).unwrap();
        assert_eq!(direct, sorted, "fields not declared alphabetically");
    }
}
