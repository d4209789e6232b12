#![allow(clippy::unwrap_used, reason = "test code")]
//! `mrc sim --threads N`: runs in parallel, output byte-identical to one thread.

use std::path::PathBuf;

mod common;
use common::{assert_refused, mrc, scratch_dir};

/// Two runs on a small fabric with a failure (a few seconds in a debug build).
const TWO_RUNS: &str = r#"
name = "two-runs"
seed = 5
[fabric]
kind = "clos"
nics = 32
planes = 2
nic_speed = "200Gbps"
switch_speed = "800Gbps"
[workload]
kind = "permutation"
size = "256KB"
[[failures]]
kind = "link-down"
plane = 0
t0 = 1
uplink = 2
at = "5us"
[[runs]]
transport = "mrc"
[[runs]]
transport = "roce"
qps = 2
"#;

fn tmp(name: &str) -> PathBuf {
    scratch_dir("threads").join(name)
}

#[test]
fn two_threads_give_the_same_json_report_and_pcaps_as_one() {
    let sc = tmp("two.toml");
    std::fs::write(&sc, TWO_RUNS).unwrap();
    let mut outs = Vec::new();
    for t in ["1", "2"] {
        let (j, h, p) = (
            tmp(&format!("t{t}.json")),
            tmp(&format!("t{t}.html")),
            tmp(&format!("t{t}.pcap")),
        );
        let o = mrc(&[
            "sim",
            sc.to_str().unwrap(),
            "--threads",
            t,
            "--json",
            j.to_str().unwrap(),
            "--report",
            h.to_str().unwrap(),
            "--pcap",
            p.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", common::text(&o));
        let pcaps =
            ["mrc", "roce-2qp"].map(|l| std::fs::read(tmp(&format!("t{t}-{l}.pcap"))).unwrap());
        outs.push((
            std::fs::read(&j).unwrap(),
            std::fs::read(&h).unwrap(),
            pcaps,
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&outs[0].0).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 2);
    assert!(
        outs[0].0 == outs[1].0,
        "--json differs between 1 and 2 threads"
    );
    assert!(
        outs[0].1 == outs[1].1,
        "--report differs between 1 and 2 threads"
    );
    assert!(
        outs[0].2 == outs[1].2,
        "--pcap differs between 1 and 2 threads"
    );
}

#[test]
fn zero_threads_is_refused() {
    let o = mrc(&["sim", "--threads", "0"]);
    assert_refused(&o, &["--threads"]);
}

#[test]
fn two_runs_that_would_write_one_pcap_are_refused() {
    let sc = tmp("dup.toml");
    std::fs::write(&sc, TWO_RUNS.replace("qps = 2", "label = \"mrc\"")).unwrap();
    let p = tmp("dup.pcap");
    let o = mrc(&["sim", sc.to_str().unwrap(), "--pcap", p.to_str().unwrap()]);
    assert_refused(&o, &["--pcap", "dup-mrc.pcap", "distinct labels"]);
}

/// One run split over 1, 2 and 3 threads (partitions of the fabric): the same `--json` and
/// `--report`, byte for byte.
#[test]
fn one_run_split_into_partitions_gives_the_same_json_and_report() {
    let sc = tmp("one.toml");
    let one_run = TWO_RUNS.replace("[[runs]]\ntransport = \"roce\"\nqps = 2\n", "")
        + "[[failures]]\nkind = \"switch-reboot\"\nplane = 1\ntier = 1\nindex = 1\nat = \"3us\"\nduration = \"20us\"\n";
    std::fs::write(&sc, one_run).unwrap();
    let mut outs = Vec::new();
    for t in ["1", "2", "3"] {
        let (j, h) = (tmp(&format!("p{t}.json")), tmp(&format!("p{t}.html")));
        let o = mrc(&[
            "sim",
            sc.to_str().unwrap(),
            "--threads",
            t,
            "--json",
            j.to_str().unwrap(),
            "--report",
            h.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", common::text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            err.contains(&format!("{t} partitions")),
            t != "1",
            "{t} threads: {err}"
        );
        outs.push((std::fs::read(&j).unwrap(), std::fs::read(&h).unwrap()));
    }
    let v: serde_json::Value = serde_json::from_slice(&outs[0].0).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 1);
    assert_eq!(v["runs"][0]["data_intact"], true);
    for (t, o) in outs.iter().enumerate().skip(1) {
        assert!(o.0 == outs[0].0, "--json differs at {} threads", t + 1);
        assert!(o.1 == outs[0].1, "--report differs at {} threads", t + 1);
    }
}
