//! Export of static configuration (placeholder; filled below).
