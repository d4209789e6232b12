//! `mrc fabric` end to end on real network namespaces (root only; skipped with a printed reason
//! otherwise). One test runs every scenario in order, so nothing runs concurrently.
#![allow(clippy::unwrap_used, reason = "test code")]

use std::process::Command;

mod common;
use common::{mrc, netns_skip_reason, text};

fn namespaces(prefix: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("{prefix}-")))
        .map(str::to_owned)
        .collect()
}

/// Tears the fabric down even when the test panics.
struct Guard(String);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = mrc(&["fabric", "down", "--prefix", &self.0]);
    }
}

#[test]
fn fabric_up_status_link_down_and_bad_input() {
    if let Some(why) = netns_skip_reason("mrcprobe") {
        eprintln!("SKIPPED fabric namespace test: {why}");
        return;
    }
    let prefix = format!("tf{}", std::process::id());
    let _guard = Guard(prefix.clone());

    // Bad spec: nothing created, exit 2, the message names the field.
    let dir = std::env::temp_dir().join(format!("mrc-fabric-test-{prefix}"));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "nics = 4\nplanes = 2\nt0 = 2\nt1 = 3\n").unwrap();
    let o = mrc(&[
        "fabric",
        "up",
        "--spec",
        bad.to_str().unwrap(),
        "--prefix",
        &prefix,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("t1"), "{}", text(&o));
    std::fs::write(&bad, "nics = 4\nplanes = 2\nt0 = 2\nt1 = 2\nbogus = 1\n").unwrap();
    let o = mrc(&[
        "fabric",
        "up",
        "--spec",
        bad.to_str().unwrap(),
        "--prefix",
        &prefix,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("bogus"), "{}", text(&o));
    assert!(namespaces(&prefix).is_empty());

    // Up: 4 NICs + 2 planes × (2 T0 + 2 T1) = 12 namespaces, 24 cables, all up.
    let o = mrc(&["fabric", "up", "--prefix", &prefix]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(namespaces(&prefix).len(), 12);
    let o = mrc(&["fabric", "status", "--prefix", &prefix]);
    assert!(
        text(&o).contains("12/12 namespaces present, 24/24 cables up"),
        "{}",
        text(&o)
    );

    // A second up with the same prefix: exit 2, the existing fabric untouched.
    let o = mrc(&["fabric", "up", "--prefix", &prefix]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("already exists"), "{}", text(&o));
    assert_eq!(namespaces(&prefix).len(), 12);

    // Pull and restore one T0–T1 cable and one NIC lane.
    let o = mrc(&[
        "fabric",
        "link",
        "down",
        "p0-t0-0:u1",
        "p0-t1-1",
        "--prefix",
        &prefix,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = mrc(&[
        "fabric", "link", "down", "nic0", "p1-t0-0", "--prefix", &prefix,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = mrc(&["fabric", "status", "--prefix", &prefix]);
    assert!(text(&o).contains("22/24 cables up"), "{}", text(&o));
    for (a, b) in [("p0-t0-0:u1", "p0-t1-1"), ("nic0", "p1-t0-0")] {
        let o = mrc(&["fabric", "link", "up", a, b, "--prefix", &prefix]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = mrc(&["fabric", "status", "--prefix", &prefix]);
    assert!(text(&o).contains("24/24 cables up"), "{}", text(&o));
    let o = mrc(&[
        "fabric", "link", "down", "nic0", "p0-t1-0", "--prefix", &prefix,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // Down removes everything and is idempotent.
    for _ in 0..2 {
        let o = mrc(&["fabric", "down", "--prefix", &prefix]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(namespaces(&prefix).is_empty());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
