//! uSID carriers: any 16 bytes either fail or give a carrier whose address is the input and
//! whose shift-and-forward ends after at most six steps.
#![no_main]

use core::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use mrc_wire::usid::{Carrier, MAX_USIDS};

fuzz_target!(|data: [u8; 16]| {
    let addr = Ipv6Addr::from(data);
    if let Ok(mut c) = Carrier::from_addr(addr) {
        assert_eq!(c.addr(), addr);
        assert_eq!(Carrier::new(c.block(), c.usids()), Ok(c));
        let mut steps = 0;
        while c.active().is_some() {
            c.shift();
            steps += 1;
        }
        assert!(steps <= MAX_USIDS);
    }
});
