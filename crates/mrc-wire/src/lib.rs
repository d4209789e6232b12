//! MRC packet formats.
//!
//! Two levels, smoltcp style: `Packet<T: AsRef<[u8]>>` views that read and write fields in place
//! (after `new_checked` succeeds no accessor panics), and `Repr` structs with `parse` / `emit`
//! that the rest of the project exchanges. Every layout taken from an unverified source lives in
//! [`mrc`] so it can be corrected in one place; the IP-level formats ([`ipv6`], [`srh`], [`udp`],
//! [`usid`]) are standard. [`stack`] parses and emits whole datagrams; [`pcap`] writes traces.
#![forbid(unsafe_code)]

mod error;
mod field;
pub mod ipv6;
pub mod mrc;
pub mod pcap;
pub mod psn;
pub mod rc;
pub mod sample;
pub mod srh;
pub mod stack;
pub mod udp;
pub mod usid;

pub use error::{Error, Result};
pub use psn::Psn;
