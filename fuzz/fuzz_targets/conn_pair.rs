//! A connection pair's state machine (`handle_packet` / `handle_timeout` / `poll_transmit`)
//! driven by the input: deliveries, drops, duplicates, reordering, trims, time, off-path
//! forgeries and arbitrary packets from `mrc_wire::sample` or in flight. Never panics; while
//! only off-path forgeries were injected no byte lands corrupt or misplaced and every request
//! completes or errors (`mrc_proto::fuzzing`). Seeds: `fuzz/seeds/conn_pair`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mrc_proto::fuzzing::run(data);
});
