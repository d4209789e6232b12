//! Segment Routing Headers: never panic; what parses re-emits and parses the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mrc_wire::srh;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = srh::Packet::new_checked(data) {
        let _ = p.payload().len();
        if let Ok(repr) = srh::Repr::parse(&p) {
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut buf).expect("parsed SRH re-emits");
            let again = srh::Repr::parse(&srh::Packet::new_checked(&buf[..]).expect("checked"));
            assert_eq!(again, Ok(repr));
        }
    }
});
