//! Writes a pcap with every opcode and decodes it with tshark and our Lua dissector
//! (`tools/wireshark/mrc.lua`). Skips with a message when tshark is missing, except under CI
//! (`CI` set), where `.ci/run` installs it and a missing tshark is a failure.
#![allow(clippy::unwrap_used, reason = "test code")]

use std::path::{Path, PathBuf};
use std::process::Command;

use mrc_wire::mrc::{Body, Opcode};
use mrc_wire::{ipv6, pcap, sample, udp};

fn dissector() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/wireshark/mrc.lua")
}

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
    let script = format!("lua_script:{}", dissector().display());
    let out = Command::new("tshark")
        .args(["-n", "-X", &script, "-o", "udp.check_checksum:TRUE", "-r"])
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
fn tshark_decodes_every_opcode() {
    if !tshark_available() {
        return;
    }
    let samples = sample::all();
    let dir = std::env::temp_dir().join(format!("mrc-wire-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("all-opcodes.pcap");
    let mut w = pcap::Writer::new(std::fs::File::create(&file).unwrap(), 65535).unwrap();
    for (i, s) in samples.iter().enumerate() {
        let bytes = s.repr.to_bytes(&s.payload).unwrap();
        w.write_packet(1_000 * i as u64, &bytes, bytes.len())
            .unwrap();
    }
    // A record cut short as a trimming switch would: caplen < len.
    let first = samples[0].repr.to_bytes(&samples[0].payload).unwrap();
    w.write_packet(1_000_000, &first[..120], first.len())
        .unwrap();
    w.into_inner().unwrap();

    let verbose = tshark(&file, &["-V"]);
    for op in Opcode::ALL {
        assert!(verbose.contains(op.name()), "{} not decoded", op.name());
    }
    for reason in [
        "TRIMMED",
        "TRIMMED_LASTHOP",
        "NO_BITMAP",
        "NO_PKT_BUFFER",
        "NO_RESOURCE",
        "WIMM_LIMIT",
    ] {
        assert!(
            verbose.contains(&format!("NACK reason: {reason}")),
            "{reason} not decoded"
        );
    }
    assert!(verbose.contains("Retransmission (rtx): True"));
    assert!(verbose.contains("Cumulative ack PSN: 101"));
    assert!(verbose.contains("SACK bitmap: 0x000000000000000b"));
    assert!(verbose.contains("R_Key: 0x0000beef"));
    // Endpoint requests and responses: the request id in PSN[15:0].
    assert!(verbose.contains("Request id (PSN[15:0]): 78"));
    assert!(
        !verbose.contains("Malformed"),
        "tshark reports a malformed packet:\n{verbose}"
    );

    let fields = tshark(
        &file,
        &[
            "-T",
            "fields",
            "-E",
            "separator=;",
            "-e",
            "mrc.opcode",
            "-e",
            "mrc.psn",
            "-e",
            "mrc.ev",
            "-e",
            "mrc.neth.reason",
            "-e",
            "udp.checksum.status",
            "-e",
            "ipv6.dst",
        ],
    );
    let lines: Vec<&str> = fields.lines().collect();
    assert_eq!(lines.len(), samples.len() + 1);
    for (line, s) in lines.iter().zip(&samples) {
        let cols: Vec<&str> = line.split(';').collect();
        let m = &s.repr.mrc;
        assert_eq!(
            cols[0],
            format!("0x{:02x}", m.bth.opcode as u8),
            "{}: {line}",
            s.what
        );
        assert_eq!(cols[1], m.bth.psn.value().to_string(), "{}: {line}", s.what);
        let ev =
            (u32::from(s.repr.udp.src_port) << 16) | (s.repr.inner.unwrap().flow_label & 0xFFFF);
        assert_eq!(cols[2], format!("0x{ev:08x}"), "{}: {line}", s.what);
        if let Body::Nack(n) = m.body {
            assert_eq!(
                cols[3],
                format!("0x{:02x}", n.reason.code()),
                "{}: {line}",
                s.what
            );
        }
        // Wireshark checksum status 1 = good (0 bad, 2 unverified).
        assert_eq!(cols[4], "1", "{}: UDP checksum not good: {line}", s.what);
        assert_eq!(
            cols[5], "fc00:0:801:1005:802:1807::,fd00::b",
            "{}: {line}",
            s.what
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An ordinary RoCEv2 packet (RC RDMA WRITE ONLY, opcode 0x0A) over IPv6/UDP 4791.
fn rocev2_write_only() -> Vec<u8> {
    let src: core::net::Ipv6Addr = "fd00::a".parse().unwrap();
    let dst: core::net::Ipv6Addr = "fd00::b".parse().unwrap();
    let mut ib = vec![
        0x0A, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x12, 0x34, 0x80, 0x00, 0x00, 0x05, // BTH
        0, 0, 0, 0, 0, 0, 0x10, 0, 0x00, 0x00, 0xBE, 0xEF, 0, 0, 0, 4, // RETH
        0xAB, 0xCD, 0xEF, 0x01, // payload
    ];
    ib.extend_from_slice(&[0x11, 0x22, 0x33, 0x44]); // ICRC
    let mut dgram = vec![0u8; udp::LEN];
    dgram.extend_from_slice(&ib);
    udp::Repr {
        src_port: 0xC000,
        dst_port: 4791,
    }
    .emit(&mut dgram, src, dst)
    .unwrap();
    let ip = ipv6::Repr {
        traffic_class: 0,
        flow_label: 0,
        payload_len: dgram.len() as u16,
        next_header: 17,
        hop_limit: 64,
        src,
        dst,
    };
    let mut bytes = vec![0u8; ipv6::LEN];
    ip.emit(&mut ipv6::Packet::new_unchecked(&mut bytes[..]))
        .unwrap();
    bytes.extend_from_slice(&dgram);
    bytes
}

#[test]
fn tshark_leaves_rocev2_to_wiresharks_own_dissector() {
    if !tshark_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mrc-wire-tshark-roce-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rocev2.pcap");
    let mut w = pcap::Writer::new(std::fs::File::create(&file).unwrap(), 65535).unwrap();
    let roce = rocev2_write_only();
    w.write_packet(0, &roce, roce.len()).unwrap();
    let s = &sample::all()[0];
    let mrc = s.repr.to_bytes(&s.payload).unwrap();
    w.write_packet(1_000, &mrc, mrc.len()).unwrap();
    w.into_inner().unwrap();
    let fields = tshark(
        &file,
        &[
            "-T",
            "fields",
            "-E",
            "separator=;",
            "-e",
            "frame.protocols",
            "-e",
            "infiniband.bth.opcode",
            "-e",
            "infiniband.reth.dmalen",
            "-e",
            "mrc.opcode",
        ],
    );
    let lines: Vec<&str> = fields.lines().collect();
    assert_eq!(lines.len(), 2, "{fields}");
    let roce: Vec<&str> = lines[0].split(';').collect();
    // (The layer list names mrc too: our dissector is called for the port and hands over.)
    assert!(
        roce[0].contains(":udp:") && roce[0].contains("infiniband"),
        "{}",
        lines[0]
    );
    assert_eq!(roce[1], "10", "RDMA WRITE ONLY: {}", lines[0]);
    assert_eq!(roce[2], "4", "{}", lines[0]);
    assert_eq!(roce[3], "", "taken as MRC: {}", lines[0]);
    let mrc: Vec<&str> = lines[1].split(';').collect();
    assert!(mrc[0].ends_with(":udp:mrc"), "{}", lines[1]);
    assert_eq!(mrc[1], "", "MRC taken as InfiniBand: {}", lines[1]);
    std::fs::remove_dir_all(&dir).unwrap();
}
