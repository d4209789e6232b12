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

/// Linked the other way round (`-libverbs -l_mrc`), Debian's libibverbs answers the program's
/// `ibv_*` calls (no device: the program fails); with `LD_PRELOAD=lib_mrc.so` the software
/// device answers and the transfer verifies.
#[test]
fn c_xfer_with_ld_preload() {
    if let Some(why) = common::skip_reason() {
        eprintln!("SKIPPED c_xfer_with_ld_preload: {why}");
        return;
    }
    let prog = common::build_with(
        "xfer.c",
        &["common.c"],
        "mrc_capi_xfer_preload",
        &["-libverbs", "-l_mrc"],
    );
    let plain = std::process::Command::new(&prog)
        .args(["server", "mrclo"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&plain.stderr);
    assert!(
        !plain.status.success() && err.contains("no devices"),
        "{err}"
    );
    let lib = common::lib_dir().expect("lib").join("lib_mrc.so");
    let lib = lib.to_string_lossy();
    let (sout, cout) = common::run_pair(&prog, "mrclo", "mrclo", &[("LD_PRELOAD", &lib)]);
    assert!(sout.contains("server: verified 13 sizes"), "{sout}");
    assert!(cout.contains("client: verified 13 sizes"), "{cout}");
}

/// The plain makefile of `tests/c` builds every program against the headers and
/// libibverbs-dev (into a directory of the target dir), and its `xfer` runs.
#[test]
fn c_makefile_builds_and_xfer_runs() {
    if let Some(why) = common::skip_reason() {
        eprintln!("SKIPPED c_makefile: {why}");
        return;
    }
    if std::process::Command::new("make")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED c_makefile: make not found");
        return;
    }
    let lib = common::lib_dir().expect("lib");
    let out = lib.join("capi-make");
    std::fs::create_dir_all(&out).expect("mkdir");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c");
    let o = std::process::Command::new("make")
        .arg("-B")
        .arg("-C")
        .arg(&dir)
        .arg(format!("O={}", out.display()))
        .arg(format!("LIBDIR={}", lib.display()))
        .arg(format!(
            "MRC_API={}",
            common::headers().expect("headers").display()
        ))
        .output()
        .expect("make");
    assert!(
        o.status.success(),
        "make failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    for p in ["layout", "xfer", "misuse", "bench", "walk_qp", "walk_ctl"] {
        assert!(out.join(p).is_file(), "{p} not built");
    }
    let (sout, cout) = common::run_pair(&out.join("xfer"), "mrclo", "mrclo", &[]);
    assert!(sout.contains("server: verified 13 sizes"), "{sout}");
    assert!(cout.contains("client: verified 13 sizes"), "{cout}");
}
