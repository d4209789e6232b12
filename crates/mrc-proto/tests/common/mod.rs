//! Shared helpers of the integration tests (included with `mod common;`).
#![allow(dead_code, reason = "not every test file uses every helper")]

use mrc_proto::testing::{Harness, NetConfig, PathConfig, mrc_harness, mrc_pair_configs};
use mrc_proto::{Connection, Duration, Instant, MrcQpAttr, RegionHandle, Transport, WriteRequest};

pub(crate) const PORT_RATE: u64 = 100_000_000_000;

/// A pair with `planes × active` (+ `backup`) EVs, one path per EV, path rate = port rate /
/// active (so the active paths of a plane together match its port).
pub(crate) fn pair(
    seed: u64,
    planes: u8,
    active: u32,
    backup: u32,
    path: PathConfig,
    attr: MrcQpAttr,
) -> Harness<Connection> {
    let (a, b) = mrc_pair_configs(
        seed,
        planes,
        active,
        backup,
        PORT_RATE,
        Duration::from_micros(10),
    );
    let n = usize::from(planes) * (active + backup) as usize;
    let mut p = path;
    p.rate_bps = PORT_RATE / u64::from(active.max(1));
    let mut net = NetConfig::uniform(n, planes, PORT_RATE, p);
    net.seed = seed;
    mrc_harness(a, b, attr, net)
}

/// Registers a source region on A filled with a pattern and a destination region on B.
pub(crate) fn regions(
    h: &mut Harness<Connection>,
    len: u64,
    seed: u8,
) -> (RegionHandle, RegionHandle) {
    let src = h.ends[0].regions_mut().register(len);
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect();
    assert!(h.ends[0].regions_mut().write_local(src.addr, &bytes));
    let dst = h.ends[1].regions_mut().register(len);
    (src, dst)
}

pub(crate) fn write(
    id: u64,
    src: RegionHandle,
    dst: RegionHandle,
    off: u64,
    len: u32,
    imm: Option<u32>,
) -> WriteRequest {
    WriteRequest {
        wr_id: id,
        local_addr: src.addr + off,
        len,
        remote_addr: dst.addr + off,
        rkey: dst.rkey,
        imm,
    }
}

pub(crate) fn run_until_complete(h: &mut Harness<Connection>, n: u64, limit: Duration) -> bool {
    let deadline = Instant::ZERO + limit;
    h.run_until(deadline, |h| h.completions[0] >= n)
}

pub(crate) fn same_bytes(h: &Harness<Connection>, src: RegionHandle, dst: RegionHandle) -> bool {
    let a = h.ends[0].regions().read(src.addr, src.len);
    let b = h.ends[1].regions().read(dst.addr, dst.len);
    a.is_some() && a == b
}
