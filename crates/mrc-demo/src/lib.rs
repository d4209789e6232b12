//! A tiny omni-style model trained data-parallel, its gradient all-reduce running over the real
//! MRC transport (or TCP for comparison), with cables pulled mid-training.
//!
//! - [`data`]: the synthetic "omni" task (text tokens + image patches), generated from a seed.
//! - [`model`]: a one-block transformer in candle (CPU), deterministic initialisation, sorted
//!   parameter order, parameter digest.
//! - [`ring`]: ring all-reduce over MRC ([`ring::MrcRing`]) and over TCP ([`ring::TcpRing`]).
//! - [`rank`]: what one rank process does (train, all-reduce, report each step).
//! - [`driver`]: spawns the rank processes, pulls/restores a cable, checks digests every step.
//! - [`report`]: summary figures of a run (`mrc train` draws the HTML report).

pub mod data;
pub mod driver;
pub mod error;
pub mod model;
pub mod rank;
pub mod report;
pub mod ring;

pub use error::{DemoError, Result};
