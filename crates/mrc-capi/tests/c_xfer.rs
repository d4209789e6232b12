//! A C server and client (`tests/c/xfer.c`, built against the OCP headers and Debian's
//! libibverbs-dev, linked `-l_mrc -libverbs`) transfer verified data of 1 B … 64 MiB over
//! `mrclo` with RDMA Write and Write-with-Immediate.

mod common;

#[test]
fn c_write_and_write_imm_1b_to_64mib_on_mrclo() {
    if let Some(why) = common::skip_reason() {
        eprintln!("SKIPPED c_xfer: {why}");
        return;
    }
    let prog = common::build("xfer.c", &["common.c"], "mrc_capi_xfer");
    let (sout, cout) = common::run_pair(&prog, "mrclo", "mrclo", &[]);
    println!("{sout}{cout}");
    assert!(sout.contains("server: verified 13 sizes"), "{sout}");
    assert!(cout.contains("client: verified 13 sizes"), "{cout}");
}
