//! RoCEv2 RC baseline (placeholder; filled in below).
