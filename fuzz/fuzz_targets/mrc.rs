//! MRC packets (BTH · extension headers · payload · ICRC): never panic; what parses re-emits
//! to bytes that parse to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mrc_wire::mrc;

fuzz_target!(|data: &[u8]| {
    let p = mrc::Packet::new_unchecked(data);
    let _ = (p.opcode(), p.header_len(), p.payload().len(), p.icrc());
    if let Ok((repr, payload)) = mrc::Repr::parse_bytes(data) {
        let bytes = repr.to_bytes(payload).expect("parsed packet re-emits");
        let (again, payload2) = mrc::Repr::parse_bytes(&bytes).expect("re-emitted packet parses");
        assert_eq!(again, repr);
        assert_eq!(payload2, payload);
    }
});
