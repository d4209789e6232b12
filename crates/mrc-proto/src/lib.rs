//! The MRC transport as a sans-IO state machine: connections (requester and responder), memory
//! regions, the entropy-value (EV) set, SACK/NACK recovery and NSCC congestion control, plus the
//! RoCEv2 RC baseline used for comparisons.
//!
//! No sockets, threads, clock or global RNG: the caller owns time and randomness, so the same code
//! runs unchanged in the simulator (`mrc-sim`) and over real sockets (`mrc-net`).
#![forbid(unsafe_code)]
