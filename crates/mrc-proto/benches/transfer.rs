//! Bulk-transfer benchmark (placeholder).
#![allow(clippy::unwrap_used, reason = "bench code")]
fn main() {}
