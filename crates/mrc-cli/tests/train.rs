//! `mrc train` end to end (feature `train`): a short run over loopback always; over the
//! namespace fabric with a cable pulled mid-training when root (skipped with a printed reason
//! otherwise). MRC must complete every step with identical parameters on all ranks and a
//! falling loss; what TCP does with the same failure is printed.
#![cfg(feature = "train")]
#![allow(clippy::unwrap_used, reason = "test code")]

use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::{mrc, netns_skip_reason, text};

fn run_json(args: &[&str], name: &str) -> (Output, Value) {
    let dir = std::env::temp_dir().join(format!("mrc-train-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join(format!("{name}.json"));
    let html = dir.join(format!("{name}.html"));
    let mut all: Vec<&str> = vec!["train"];
    all.extend_from_slice(args);
    let (js, hs) = (json.to_str().unwrap(), html.to_str().unwrap());
    all.extend_from_slice(&["--json", js, "--report", hs]);
    let o = mrc(&all);
    assert!(o.status.success(), "{}", text(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    // Self-contained: inline SVG, nothing loaded from elsewhere.
    assert!(page.contains("<svg"));
    assert!(!page.contains("<script") && !page.contains("src=\"http"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (o, v)
}

/// Checks a run that must have completed every step and learned.
fn check_completed(run: &Value, steps: usize) {
    let name = run["name"].as_str().unwrap();
    assert_eq!(run["completed"], true, "{name}: {run}");
    let s = run["steps"].as_array().unwrap();
    assert_eq!(s.len(), steps, "{name}");
    // The driver compares all ranks' parameter digests every step and fails otherwise; each
    // step is reported once.
    for (i, st) in s.iter().enumerate() {
        assert_eq!(st["step"].as_u64().unwrap() as usize, i);
        assert_eq!(st["digest"].as_str().unwrap().len(), 16);
    }
    let first = run["loss_start"].as_f64().unwrap();
    let last = run["loss_end"].as_f64().unwrap();
    assert!(last < first, "{name}: loss {first} -> {last}");
}

fn digests(run: &Value) -> Vec<String> {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["digest"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn train_loopback_mrc_and_tcp_learn_identically() {
    let (o, v) = run_json(
        &[
            "--loopback",
            "--steps",
            "12",
            "--dim",
            "32",
            "--eval-every",
            "4",
        ],
        "loopback",
    );
    eprintln!("{}", text(&o));
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    check_completed(&runs[0], 12);
    check_completed(&runs[1], 12);
    // Same data, same arithmetic: both transports give bit-identical parameters every step.
    assert_eq!(digests(&runs[0]), digests(&runs[1]));
    assert!(text(&o).contains("completed"));
}

#[test]
fn train_bad_input_exits_2() {
    for args in [
        &["train", "--transport", "udp"][..],
        &["train", "--loopback", "--fail-at", "3"][..],
        &["train", "--loopback", "--ranks", "1"][..],
        &["train", "--loopback", "--steps", "5", "--fail-at", "7"][..],
    ] {
        let o = mrc(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("--"), "{args:?}: {}", text(&o));
    }
}

#[test]
fn train_on_the_fabric_rides_out_a_pulled_cable() {
    if let Some(why) = netns_skip_reason("mrctrprobe") {
        eprintln!("SKIPPED namespace training test: {why}");
        return;
    }
    let prefix = format!("mrctt{}", std::process::id());
    let (o, v) = run_json(
        &[
            "--steps",
            "16",
            "--dim",
            "32",
            "--eval-every",
            "5",
            "--fail-at",
            "5",
            "--restore-after",
            "0.5",
            "--step-timeout-s",
            "20",
            "--prefix",
            &prefix,
        ],
        "fabric",
    );
    eprintln!("{}", text(&o));
    let runs = v["runs"].as_array().unwrap();
    let mrc_run = &runs[0];
    assert_eq!(mrc_run["transport"], "mrc");
    check_completed(mrc_run, 16);
    let ev = mrc_run["events"].as_array().unwrap();
    assert!(
        ev.iter().any(|e| e["down"] == true && e["step"] == 5),
        "{ev:?}"
    );
    assert!(ev.iter().any(|e| e["down"] == false), "{ev:?}");
    let tcp = &runs[1];
    eprintln!(
        "TCP with the same failure: completed {} step p50 {} ms max {} ms (step {}); MRC max {} ms",
        tcp["completed"],
        tcp["step_ms"]["p50"],
        tcp["step_ms"]["max"],
        tcp["step_ms"]["slowest_step"],
        mrc_run["step_ms"]["max"]
    );
    // The fabric is gone afterwards.
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&ns.stdout).contains(&prefix));
}
