//! MRC packet formats.
//!
//! Two levels, smoltcp style: `Packet<T: AsRef<[u8]>>` views that read and write fields in place
//! (after `new_checked` succeeds no accessor panics), and `Repr` structs with `parse` / `emit`
//! that the rest of the project exchanges. Every layout taken from an unverified source lives in
//! [`mrc`] so it can be corrected in one place; the IP-level formats ([`ipv6`], [`srh`], [`udp`],
//! [`usid`]) are standard.
#![forbid(unsafe_code)]

mod error;
pub mod mrc;
pub mod psn;
pub mod usid;

mod field;

pub use error::{Error, Result};
pub use psn::Psn;
