//! Traffic patterns, collective algorithms as flow schedules, the training-step model and the
//! Chakra execution-trace reader. Ranks are plain indices; the caller maps them to NICs.
#![forbid(unsafe_code)]

pub mod chakra;
pub mod cm;
pub mod collective;
pub mod dag;
pub mod failure;
pub mod nccl;
pub mod placement;
pub mod traffic;
pub mod training;

pub use cm::{CmError, ConnMatrix};
pub use traffic::{Flow, Trigger, TriggerKind};
