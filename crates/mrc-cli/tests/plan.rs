//! `mrc plan` end to end: runs the built binary.
#![allow(clippy::unwrap_used, reason = "test code")]

use std::path::PathBuf;
use std::process::{Command, Output};

fn mrc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mrc"))
        .arg("plan")
        .args(args)
        .output()
        .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mrc-plan-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn plan_json(args: &[&str], name: &str) -> serde_json::Value {
    let dir = scratch(name);
    let file = dir.join("plan.json");
    let mut all = args.to_vec();
    let file_s = file.to_str().unwrap().to_owned();
    all.extend(["--json", &file_s]);
    let out = mrc(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    v
}

#[test]
fn default_plan_is_the_paper_fabric() {
    let v = plan_json(&[], "default");
    assert_eq!(v["nics"], 131_072);
    assert_eq!(v["planes"], 8);
    assert_eq!(v["lane_gbps"], 100);
    assert_eq!(v["tiers"], 2);
    assert_eq!(v["switch_ports"], 512);
    assert_eq!(v["t0_per_plane"], 512);
    assert_eq!(v["t1_per_plane"], 256);
    assert_eq!(v["switches"], 6_144);
    assert_eq!(v["switch_links"], 1_048_576);
    assert_eq!(v["nic_links"], 1_048_576);
    assert_eq!(v["max_switch_hops"], 3);
    assert_eq!(v["paths_per_pair"], 2_048);
    assert_eq!(v["paths_same_t0"], 8);
    let link = v["blast_radius_t0_t1_link_pct"].as_f64().unwrap();
    assert!((link - 0.39).abs() < 0.005, "{link}");
    assert_eq!(v["blast_radius_nic_lane_pct"].as_f64().unwrap(), 12.5);
    let s = &v["single_plane"];
    assert_eq!(s["switch_ports"], 64);
    assert_eq!(s["tiers"], 4);
    assert!((s["blast_radius_t0_t1_link_pct"].as_f64().unwrap() - 3.1).abs() < 0.05);
    for key in [
        "nics",
        "planes",
        "lane_gbps",
        "transceivers",
        "switch_links",
        "t1_per_plane",
    ] {
        assert!(v[key].is_number() && s[key].is_number(), "{key}");
    }
}

#[test]
fn comparison_at_65536_nics() {
    let v = plan_json(&["--nics", "65536"], "65536");
    let s = &v["single_plane"];
    assert_eq!(s["tiers"], 3);
    assert_eq!(s["switches"], 5_120);
    assert_eq!(v["switches"], 3_072);
    let switches = v["switches"].as_f64().unwrap() / s["switches"].as_f64().unwrap();
    let optics = v["transceivers"].as_f64().unwrap() / s["transceivers"].as_f64().unwrap();
    assert!((switches - 0.60).abs() < 0.01, "{switches}");
    assert!((optics - 0.67).abs() < 0.01, "{optics}");
    let out = mrc(&["--nics", "65536"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("60% of the switches and 67% of the transceivers"),
        "{text}"
    );
}

#[test]
fn four_planes_blast_radius() {
    let v = plan_json(&["--planes", "4", "--nics", "32768"], "four");
    assert_eq!(v["blast_radius_nic_lane_pct"].as_f64().unwrap(), 25.0);
    assert_eq!(v["lane_gbps"], 200);
    assert_eq!(v["switch_ports"], 256);
}

#[test]
fn bad_input_exits_2_naming_the_flag() {
    for (args, flag, needle) in [
        (&["--nics", "131073"][..], "--nics", "131072"),
        (&["--nics", "0"][..], "--nics", "greater than zero"),
        (&["--planes", "3"][..], "--planes", "800"),
        (&["--planes", "0"][..], "--planes", "greater than zero"),
        (&["--switch-gbps", "51250"][..], "--switch-gbps", "100"),
        (
            &["--switch-gbps", "300", "--nics", "1"][..],
            "--switch-gbps",
            "even",
        ),
        (&["--nic-gbps", "0"][..], "--nic-gbps", "greater than zero"),
        (&["--planes", "4"][..], "--nics", "32768"),
        (&["--export", "json", "x"][..], "--export", "iproute2"),
        (
            &["--nics", "128", "--switch-gbps", "1600"][..],
            "--switch-gbps",
            "at least 4 ports",
        ),
    ] {
        let out = mrc(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(flag) && err.contains(needle),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn export_iproute2_and_frr() {
    let dir = scratch("export");
    let d = dir.to_str().unwrap();
    let args = [
        "--nics",
        "1024",
        "--switch-gbps",
        "6400",
        "--verify",
        "10000",
        "--export",
        "iproute2",
        d,
    ];
    let out = mrc(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified 10000"));
    // radix 64: 32 T0 + 16 T1 per plane, 8 planes → 384 switches, 1,024 NICs, links.tsv.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 384 + 1_024 + 1);
    let t0 = std::fs::read_to_string(dir.join("p0-t0-1.sh")).unwrap();
    // The own uSID's uN route sits on a veth pair that never leaves the namespace.
    assert!(t0.contains("link add name sid0 type veth peer name sid0p"));
    assert!(t0.contains(
        "fc00:0:801::/48 encap seg6local action End flavors next-csid lblen 32 nflen 16 dev sid0"
    ));
    assert!(
        t0.contains("-6 route add fc00:0:1005::/48 via fd01:")
            && t0.contains("sysctl -qw net.ipv6.conf.all.forwarding=1")
    );
    let t1 = std::fs::read_to_string(dir.join("p3-t1-5.sh")).unwrap();
    assert!(t1.contains("fc00:0:7005::/48 encap seg6local action End flavors next-csid"));
    let nic = std::fs::read_to_string(dir.join("nic7.sh")).unwrap();
    assert!(nic.contains("fc00:0:1807::/48 encap seg6local action End.DT6 table local dev p0"));
    assert!(nic.contains("fc00:0:800::/48 via fd01:") && nic.contains("sr tunsrc set fd00::7"));
    let links = std::fs::read_to_string(dir.join("links.tsv")).unwrap();
    assert_eq!(links.lines().count(), 1 + 8 * 1_024 * 2);
    std::fs::remove_dir_all(&dir).unwrap();

    let dir = scratch("frr");
    let d = dir.to_str().unwrap();
    let out = mrc(&[
        "--nics",
        "128",
        "--switch-gbps",
        "3200",
        "--export",
        "frr",
        d,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t0 = std::fs::read_to_string(dir.join("p0-t0-1.conf")).unwrap();
    assert!(
        t0.contains("sid fc00:0:801::/48 locator MAIN behavior uN")
            && t0.contains("behavior uA interface u0 nexthop fd01:")
    );
    assert!(t0.contains("ipv6 route fc00:0:1003::/48 fd01:"));
    std::fs::remove_dir_all(&dir).unwrap();
}
