#![allow(clippy::unwrap_used, reason = "test code")]
//! `mrc sim --pcap`: real packet bytes from the simulator, decoded by tshark with our dissector
//! (`tools/wireshark/mrc.lua`). Skips when tshark is missing, except under CI (`CI` set).

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{mrc, scratch_dir};

fn tmp(name: &str) -> PathBuf {
    scratch_dir("pcap").join(name)
}

/// An incast (the last hop trims) over lossy links (retransmissions), MRC only. 31 senders:
/// with the QP hint scaling NSCC's fair increase, a 6 → 1 incast no longer trims.
const TRIM_AND_LOSS: &str = r#"
name = "pcap-trim-loss"
seed = 2
max_time = "1s"
[fabric]
kind = "clos"
nics = 32
planes = 2
nic_speed = "200Gbps"
switch_speed = "800Gbps"
[workload]
kind = "incast"
senders = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]
receiver = 0
size = "256KB"
[[runs]]
transport = "mrc"
loss = "0.5%"
"#;

fn tshark_available() -> bool {
    let found = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "tshark is missing under CI: .ci/run must install it"
        );
        eprintln!("skipping: tshark is not installed (apt-get install tshark)");
    }
    found
}

fn tshark(pcap: &Path, extra: &[&str]) -> String {
    let lua = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/wireshark/mrc.lua");
    let out = Command::new("tshark")
        .args(["-n", "-X", &format!("lua_script:{}", lua.display()), "-r"])
        .arg(pcap)
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tshark failed: {stderr}");
    assert!(!stderr.contains("Lua: Error"), "dissector error: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn pcap_of_trims_and_retransmissions_decodes_in_tshark() {
    let sc = tmp("trim-loss.toml");
    std::fs::write(&sc, TRIM_AND_LOSS).unwrap();
    let pcap = tmp("nic0.pcap");
    let out = mrc(&[
        "sim",
        sc.to_str().unwrap(),
        "--pcap",
        pcap.to_str().unwrap(),
        "--pcap-filter",
        "nic:0",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("pcap: "), "{stdout}");

    // Our own reader first: trimmed records are cut short, timestamps never go back.
    let bytes = std::fs::read(&pcap).unwrap();
    let mut r = mrc_wire::pcap::Reader::new(&bytes[..]).unwrap();
    let (mut n, mut trimmed, mut last) = (0, 0, 0);
    while let Some(rec) = r.next_record().unwrap() {
        n += 1;
        if rec.data.len() < rec.orig_len as usize {
            trimmed += 1;
        }
        assert!(rec.time_ns >= last);
        last = rec.time_ns;
    }
    assert!(n > 100, "{n} packets");
    assert!(trimmed > 0, "the incast trims at the last hop");

    if !tshark_available() {
        return;
    }
    let fields = tshark(
        &pcap,
        &[
            "-T",
            "fields",
            "-E",
            "separator=;",
            "-e",
            "ipv6.dst",
            "-e",
            "mrc.opcode",
            "-e",
            "mrc.psn",
            "-e",
            "mrc.ev",
            "-e",
            "mrc.bth.rtx",
            "-e",
            "frame.cap_len",
            "-e",
            "frame.len",
        ],
    );
    let lines: Vec<&str> = fields.lines().collect();
    assert_eq!(lines.len(), n);
    let (mut rtx, mut cut, mut data) = (0, 0, 0);
    for line in &lines {
        let c: Vec<&str> = line.split(';').collect();
        assert_eq!(c.len(), 7, "{line}");
        // Outer destination: an SRv6 uSID carrier in the fabric's block; inner: the NIC.
        assert!(c[0].starts_with("fc00:"), "no SRv6 destination: {line}");
        assert!(c[0].contains(",fd00::"), "no inner NIC address: {line}");
        assert!(c[1].starts_with("0x"), "no MRC opcode: {line}");
        assert!(!c[2].is_empty() && !c[3].is_empty(), "no PSN / EV: {line}");
        if c[1] == "0x0a" || c[1] == "0x06" || c[1] == "0x07" || c[1] == "0x08" {
            data += 1;
        }
        if c[4] == "True" || c[4] == "1" {
            rtx += 1;
        }
        if c[5] != c[6] {
            cut += 1;
        }
    }
    assert!(
        data > 0 || lines.iter().any(|l| l.contains(";0x")),
        "{fields}"
    );
    assert!(rtx > 0, "no retransmission decoded");
    assert_eq!(cut, trimmed);
    let verbose = tshark(&pcap, &["-V", "-c", "50"]);
    assert!(verbose.contains("PSN"), "{verbose}");
    assert!(!verbose.contains("Malformed"), "{verbose}");
    std::fs::remove_dir_all(
        tmp("")
            .parent()
            .unwrap()
            .join(format!("mrc-pcap-test-{}", std::process::id())),
    )
    .ok();
}

#[test]
fn bad_pcap_filter_is_bad_input() {
    let sc = tmp("bad.toml");
    std::fs::write(&sc, TRIM_AND_LOSS).unwrap();
    let pcap = tmp("bad.pcap");
    for (filter, expect) in [
        ("port:3", "--pcap-filter port:3"),
        ("nic:999", "no NIC 999"),
        ("link:nic0-nic1", "not adjacent"),
    ] {
        let out = mrc(&[
            "sim",
            sc.to_str().unwrap(),
            "--pcap",
            pcap.to_str().unwrap(),
            "--pcap-filter",
            filter,
        ]);
        assert_eq!(out.status.code(), Some(2), "{filter}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{filter}: {err}");
        assert!(!pcap.exists(), "nothing half-written");
    }
}

/// A small RoCE incast with DCQCN (the receiver's port marks, so CNPs flow).
const ROCE_INCAST: &str = r#"
name = "pcap-roce"
seed = 1
max_time = "5ms"
[fabric]
kind = "fat-tree"
nics = 16
tiers = 2
k = 8
[workload]
kind = "incast"
senders = [4, 8, 12]
receiver = 0
size = "200KB"
[[runs]]
transport = "roce"
switch = { pfc = true }
"#;

#[test]
fn roce_runs_capture_rc_opcodes_and_cnps() {
    let sc = tmp("roce.toml");
    std::fs::write(&sc, ROCE_INCAST).unwrap();
    let pcap = tmp("roce.pcap");
    let out = mrc(&[
        "sim",
        sc.to_str().unwrap(),
        "--pcap",
        pcap.to_str().unwrap(),
        "--pcap-filter",
        "nic:0",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = mrc(&["decode", "--pcap", pcap.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    for what in [
        "RoCEv2 RC RDMA WRITE First",
        "RoCEv2 RC RDMA WRITE Middle",
        "RoCEv2 RC RDMA WRITE Last",
        "RoCEv2 RC Acknowledge",
        "RoCEv2 CNP",
    ] {
        assert!(text.contains(what), "{what} missing:\n{text}");
    }
    assert!(!text.contains("not an MRC datagram"), "{text}");

    if !tshark_available() {
        return;
    }
    // Wireshark's own RoCE dissector reads them as RC (our script is not loaded here: MRC's
    // opcodes are not involved).
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&pcap)
        .args(["-T", "fields", "-e", "infiniband.bth.opcode"])
        .output()
        .unwrap();
    let ops = String::from_utf8_lossy(&out.stdout);
    for op in ["6", "7", "8", "17", "129"] {
        assert!(ops.lines().any(|l| l == op), "opcode {op} missing:\n{ops}");
    }
}
