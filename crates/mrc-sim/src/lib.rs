//! The packet-level discrete-event simulator: links, switches (ECN, trimming, PFC), NICs,
//! failures and metrics, driving the real `mrc-proto` transport core.
#![forbid(unsafe_code)]
