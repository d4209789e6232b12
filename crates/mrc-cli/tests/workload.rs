#![allow(clippy::unwrap_used, reason = "test code")]
//! `mrc sim` with `[workload] kind = "collective" | "training" | "chakra"`: nccl-tests rows,
//! the `collectives` and `job` JSON sections, determinism, bad configs (exit 2).

use std::path::PathBuf;

use serde_json::Value;

mod common;
use common::{mrc, scratch_dir};

fn tmp(name: &str) -> PathBuf {
    scratch_dir("workload").join(name)
}

fn write(name: &str, text: &str) -> PathBuf {
    let p = tmp(name);
    std::fs::write(&p, text).unwrap();
    p
}

const FABRIC: &str = r#"
[fabric]
kind = "clos"
nics = 16
planes = 2
nic_speed = "200Gbps"
switch_speed = "800Gbps"
"#;

fn scenario(workload: &str, runs: &str) -> String {
    format!("name = \"wl\"\nseed = 5\n{FABRIC}\n[workload]\n{workload}\n{runs}")
}

fn run_json(name: &str, text: &str) -> (String, Value, String) {
    let p = write(name, text);
    let j = tmp(&format!("{name}.json"));
    let out = mrc(&["sim", p.to_str().unwrap(), "--json", j.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = std::fs::read_to_string(&j).unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        serde_json::from_str(&raw).unwrap(),
        raw,
    )
}

#[test]
fn collective_sweep_prints_nccl_rows_and_fills_collectives() {
    let text = scenario(
        "kind = \"collective\"\ncollective = \"all-reduce\"\nranks = 8\nsizes = [\"256KB\", \"1MB\"]\niterations = 2",
        "[[runs]]\ntransport = \"mrc\"\n[[runs]]\ntransport = \"roce\"\nqps = 2",
    );
    let (stdout, v, raw) = run_json("ar.toml", &text);
    assert!(stdout.contains("algbw"), "{stdout}");
    assert!(stdout.contains("     1000000"), "{stdout}");
    assert!(stdout.contains("# roce-2qp"), "{stdout}");
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for r in runs {
        assert_eq!(r["data_intact"], true);
        let c = r["collectives"].as_array().unwrap();
        assert_eq!(c.len(), 4);
        // busbw = algbw · 2(n−1)/n for all-reduce.
        for x in c {
            let (a, b) = (
                x["algbw_gbps"].as_f64().unwrap(),
                x["busbw_gbps"].as_f64().unwrap(),
            );
            assert!((b - a * 1.75).abs() < 0.01, "{x}");
            assert!(x["completion_us"].as_f64().unwrap() > 0.0);
        }
        // Ring all-reduce: n ranks × 2(n−1)/n · S, two iterations of 256 KB and 1 MB.
        assert_eq!(r["bytes_delivered"], 2 * 2 * 7 * (256_000 + 1_000_000));
    }
    // Deterministic: same scenario and seed → byte-identical JSON.
    let (_, _, raw2) = run_json("ar2.toml", &text);
    assert_eq!(raw, raw2);
    assert!(raw.contains("\"collectives\""));
}

#[test]
fn hierarchical_all_reduce_keeps_intra_node_traffic_off_the_fabric() {
    let text = scenario(
        "kind = \"collective\"\ncollective = \"all-reduce\"\nalgorithm = \"hierarchical\"\nranks = 16\ngpus_per_node = 4\nsizes = [\"1MB\"]",
        "",
    );
    let (_, v, _) = run_json("hier.toml", &text);
    let r = &v["runs"][0];
    assert_eq!(r["data_intact"], true);
    // Across nodes: a ring all-reduce of S/g over the 4 nodes on each of the 4 rails:
    // 16 ranks × 2·3/4 · (1 MB / 4).
    assert_eq!(r["bytes_delivered"], 16 * 2 * 3 * 250_000 / 4);
}

#[test]
fn training_job_reports_steps_and_failure_accounting() {
    let wl = r#"kind = "training"
config = "dense-400b"
steps = 2
checkpoint_interval_steps = 1
[workload.overrides]
layers = 2
hidden_size = 256
parameters = 2000000
tp = 1
pp = 1
dp = 16
micro_batches_per_step = 1
"#;
    let text = format!(
        "name = \"job\"\nseed = 2\nmax_time = \"2s\"\n{FABRIC}\n[workload]\n{wl}\n[[failures]]\nkind = \"plane-down\"\nplane = 0\nat = \"1300us\"\n[[runs]]\ntransport = \"mrc\"\n[[runs]]\ntransport = \"roce\"\nroce_timeout = 10\n"
    );
    let (stdout, v, _) = run_json("job.toml", &text);
    assert!(stdout.contains("job dense-400b-proxy"), "{stdout}");
    let mrc = &v["runs"][0]["job"];
    assert_eq!(mrc["steps"], 2);
    assert_eq!(mrc["steps_completed"], 2);
    assert_eq!(mrc["crashed"], false);
    assert!(mrc["step_time_us"]["p50"].as_f64().unwrap() > 0.0);
    assert_eq!(mrc["failures"].as_array().unwrap().len(), 1);
    // RoCE: a QP pinned to the dead plane exhausts its retries → QP error → job crash. (The
    // job keeps one persistent QP per NIC pair: its 2 inter-node ring QPs both sit on plane 0.)
    let roce = &v["runs"][1]["job"];
    assert_eq!(roce["crashed"], true, "{roce}");
    assert_eq!(roce["failures"][0]["crashed"], true);
    assert_eq!(roce["effective_training_time_fraction"], 0.0);
}

#[test]
fn chakra_sample_trace_runs() {
    let trace =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../mrc-workload/tests/data/chakra.0.et.gz");
    let text = scenario(
        &format!(
            "kind = \"chakra\"\ntrace = \"{}\"\nranks = 4\ninclude_compute = false",
            trace.display()
        ),
        "",
    );
    let (stdout, v, _) = run_json("chakra.toml", &text);
    let c = v["runs"][0]["collectives"].as_array().unwrap();
    // The sample has 7 communication nodes with a size (2 broadcasts, 5 all-reduces).
    assert_eq!(c.len(), 7, "{stdout}");
    assert!(c.iter().all(|x| x["completion_us"].as_f64().is_some()));
    assert_eq!(v["runs"][0]["data_intact"], true);
}

#[test]
fn bad_workload_configs_exit_2_naming_the_field() {
    let cases = [
        (
            "kind = \"collective\"\ncollective = \"all-scatter\"\nsizes = [\"1MB\"]",
            "workload.collective",
        ),
        (
            "kind = \"collective\"\ncollective = \"all-reduce\"\nsizes = [\"0B\"]",
            "workload.sizes[0]",
        ),
        (
            "kind = \"collective\"\ncollective = \"all-reduce\"\nranks = 64\nsizes = [\"1MB\"]",
            "fabric.nics",
        ),
        (
            "kind = \"collective\"\ncollective = \"all-reduce\"\nalgorithm = \"halving-doubling\"\nranks = 12\nsizes = [\"1MB\"]",
            "workload",
        ),
        (
            "kind = \"training\"\nconfig = \"dense-400b\"\n[workload.overrides]\ngpus = 16\ntp = 2\npp = 2\ndp = 2",
            "workload",
        ),
        (
            "kind = \"training\"\nconfig = \"no-such-model\"",
            "workload.config",
        ),
        (
            "kind = \"chakra\"\ntrace = \"/nonexistent/x.et\"",
            "workload.trace",
        ),
        (
            "kind = \"collective\"\ncollective = \"all-reduce\"\nsizes = [\"1MB\"]\nbogus = 1",
            "bogus",
        ),
    ];
    for (i, (wl, field)) in cases.iter().enumerate() {
        let p = write(&format!("bad{i}.toml"), &scenario(wl, ""));
        let out = mrc(&["sim", p.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {err}");
        assert!(err.contains(field), "case {i}: {err}");
        assert!(err.contains(&format!("bad{i}.toml")), "case {i}: {err}");
    }
}
