//! `mrc sim` under `mpirun -np 2` (feature `mpi`): every run splits over the two ranks, and
//! rank 0 writes the same JSON and HTML report as one thread and as two.
#![cfg(feature = "mpi")]
#![allow(clippy::unwrap_used, reason = "test code")]

use std::path::PathBuf;
use std::process::Command;

mod common;
use common::{mrc, scratch_dir};

/// A T1 of a four-plane Clos reboots mid-transfer: MRC retires and resurrects EVs; RoCE with
/// PFC on a one-plane Clos (pauses cross between the ranks). A few seconds in a release build.
const REBOOT: &str = r#"
name = "mpi-t1-reboot"
seed = 3
max_time = "50ms"
[fabric]
kind = "clos"
nics = 64
planes = 4
nic_speed = "400Gbps"
switch_speed = "1.6Tbps"
[workload]
kind = "permutation"
size = "4MB"
[[failures]]
kind = "switch-reboot"
plane = 0
tier = 1
index = 1
at = "20us"
duration = "60us"
[[runs]]
transport = "mrc"
[[runs]]
transport = "roce"
qps = 2
fabric = { kind = "clos", nics = 64, planes = 1, nic_speed = "400Gbps", switch_speed = "6.4Tbps" }
switch = { pfc = true }
"#;

fn tmp(name: &str) -> PathBuf {
    scratch_dir("mpi").join(name)
}

/// Why `mpirun` cannot run here, or `None` if it can.
fn mpirun_missing() -> Option<String> {
    match Command::new("mpirun").arg("--version").output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!("`mpirun --version` failed: {:?}", o.status)),
        Err(e) => Some(format!("cannot run `mpirun` ({e}); install openmpi-bin")),
    }
}

#[test]
fn two_ranks_write_what_one_and_two_threads_do() {
    if let Some(why) = mpirun_missing() {
        eprintln!("skipped: {why}");
        return;
    }
    let sc = tmp("reboot.toml");
    std::fs::write(&sc, REBOOT).unwrap();
    let sc = sc.to_str().unwrap();
    let out = |tag: &str| {
        let (j, h) = (tmp(&format!("{tag}.json")), tmp(&format!("{tag}.html")));
        (
            j.to_str().unwrap().to_owned(),
            h.to_str().unwrap().to_owned(),
        )
    };
    let mut files = Vec::new();
    for t in ["1", "2"] {
        let (j, h) = out(&format!("t{t}"));
        let o = mrc(&["sim", sc, "--threads", t, "--json", &j, "--report", &h]);
        assert!(o.status.success(), "{}", common::text(&o));
        files.push((std::fs::read(&j).unwrap(), std::fs::read(&h).unwrap()));
    }
    let (j, h) = out("np2");
    // `timeout`: a rank stuck in a collective must fail the test, not hang it.
    let o = Command::new("timeout")
        .args([
            "600",
            "mpirun",
            "--allow-run-as-root",
            "--oversubscribe",
            "-np",
            "2",
        ])
        .arg(env!("CARGO_BIN_EXE_mrc"))
        .args(["sim", sc, "--json", &j, "--report", &h])
        .output()
        .unwrap();
    let text = common::text(&o);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("2 partitions, one MPI rank each"), "{text}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        stdout.matches("scenario mpi-t1-reboot").count(),
        1,
        "only rank 0 prints the summary: {stdout}"
    );
    let (json, html) = (std::fs::read(&j).unwrap(), std::fs::read(&h).unwrap());
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 2);
    for (t, (tj, th)) in ["1", "2"].iter().zip(&files) {
        assert!(
            json == *tj,
            "--json under mpirun -np 2 differs from --threads {t}"
        );
        assert!(
            html == *th,
            "--report under mpirun -np 2 differs from --threads {t}"
        );
    }
}
