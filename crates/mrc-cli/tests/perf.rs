//! `mrc perf` end to end: loopback always; the namespace fabric when root (skipped with a
//! printed reason otherwise).
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;
use common::{FabricGuard, mrc, netns_skip_reason, text};

#[test]
fn perf_bench_loopback_and_fabric_with_json_and_bad_input() {
    let dir = std::env::temp_dir().join(format!("mrc-perf-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("bench.json");
    let js = json.to_str().unwrap();
    let o = mrc(&[
        "perf",
        "bench",
        "--loopback",
        "--bytes",
        "8MiB",
        "--json",
        js,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("verified"), "{}", text(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["mrc"]["client"]["verified"], true);
    assert_eq!(v["mrc"]["server"]["bytes"], 8 << 20);
    assert_eq!(v["tcp"]["result"]["verified"], true);

    // Keys derived from a seed instead of exchanged: both sides compute them.
    let o = mrc(&[
        "perf",
        "bench",
        "--loopback",
        "--bytes",
        "1MiB",
        "--key-seed",
        "7",
        "--no-tcp",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("verified"), "{}", text(&o));

    let o = mrc(&["perf", "bench", "--loopback", "--bytes", "lots"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--bytes"), "{}", text(&o));

    if let Some(why) = netns_skip_reason("mrcperfprobe") {
        eprintln!("SKIPPED fabric part of the perf test: {why}");
        return;
    }
    let prefix = format!("tp{}", std::process::id());
    let _fabric = match FabricGuard::up(&prefix, &[]) {
        Ok(g) => g,
        Err(why) => {
            eprintln!("SKIPPED fabric part of the perf test: {why}");
            return;
        }
    };
    let o = mrc(&[
        "perf",
        "bench",
        "--prefix",
        &prefix,
        "--bytes",
        "64MiB",
        "--pull",
        "p0-t0-0:u1,p0-t1-1",
        "--down-at",
        "0.02",
        "--up-at",
        "0.2",
        "--json",
        js,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    eprintln!("{}", text(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["mrc"]["client"]["verified"], true);
    // A cable pulled and never repaired: the transfer still ends on both sides (the last
    // acknowledgements must not take the dead path while the peer waits for them).
    for _ in 0..3 {
        let o = mrc(&[
            "perf",
            "bench",
            "--prefix",
            &prefix,
            "--bytes",
            "16MiB",
            "--pull",
            "p0-t0-0:u1,p0-t1-1",
            "--down-at",
            "0",
            "--up-at",
            "0",
            "--no-tcp",
            "--deadline-s",
            "20",
        ]);
        assert!(o.status.success(), "{}", text(&o));
    }
    drop(_fabric);

    // Every NIC sends at once on the shaped fabric (lanes 300 Mbit/s): MRC and single-path TCP
    // side by side, every transfer verified. A TCP flow is pinned to one lane, so it cannot
    // exceed half of its NIC's capacity (checks that the shaping and the pinning hold).
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fabrics/shaped.toml");
    let prefix = format!("tq{}", std::process::id());
    let _fabric = match FabricGuard::up(&prefix, &["--spec", spec]) {
        Ok(g) => g,
        Err(why) => {
            eprintln!("SKIPPED shaped part of the perf test: {why}");
            return;
        }
    };
    let o = mrc(&[
        "perf", "perm", "--spec", spec, "--prefix", &prefix, "--bytes", "16MiB", "--json", js,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    eprintln!("{}", text(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["pairs"].as_array().unwrap().len(), 4);
    assert_eq!(v["capacity_gbps"], 2.4);
    for side in ["mrc", "tcp"] {
        let flows = v[side]["flows"].as_array().unwrap();
        assert_eq!(flows.len(), 4, "{side}");
        assert!(
            flows.iter().all(|f| f["verified"] == true),
            "{side}: {flows:?}"
        );
    }
    let tcp = v["tcp"]["fraction"].as_f64().unwrap();
    assert!(
        tcp > 0.0 && tcp <= 0.55,
        "single-path TCP at {tcp} of capacity"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
