//! Whole datagrams (IPv6 · \[SRH\] · \[IPv6\] · UDP · MRC): never panic; what parses re-emits to
//! bytes that parse to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mrc_wire::stack;

fuzz_target!(|data: &[u8]| {
    for verify in [true, false] {
        if let Ok((repr, range)) = stack::Repr::parse(data, verify) {
            let bytes = repr
                .to_bytes(&data[range.clone()])
                .expect("parsed datagram re-emits");
            let (again, range2) =
                stack::Repr::parse(&bytes, true).expect("re-emitted datagram parses");
            assert_eq!(again, repr);
            assert_eq!(&bytes[range2], &data[range]);
        }
    }
});
