#![allow(clippy::unwrap_used, reason = "test code")]
//! Snapshots (insta) of the integer figures of `mrc sim --json` for small shipped scenarios and
//! a small training job, read through the JSON contract's own structs: a changed count
//! (packets, retransmissions, EVs, bytes) or a drifted contract fails here. Wall time and RSS
//! are not in the file without `--timing`; the figures are a function of the scenario and seed.
//! After an intended change: `INSTA_UPDATE=always cargo test -p mrc-cli --test snapshots`
//! (or `cargo insta review`), and say in the commit why the figures moved.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

mod common;
use common::{mrc, scratch_dir};

#[allow(dead_code, reason = "the tests read only the `mrc sim` structs")]
#[path = "../src/results/mod.rs"]
mod results;

use results::sim::{SimResults, SimRun};

/// A training job on 16 NICs whose plane 0 fails at 1.3 ms: MRC finishes both steps, RoCE (a
/// QP pinned to the dead plane) crashes the job.
const TRAINING: &str = r#"
name = "training-plane-down"
seed = 2
max_time = "2s"
[fabric]
kind = "clos"
nics = 16
planes = 2
nic_speed = "200Gbps"
switch_speed = "800Gbps"
[workload]
kind = "training"
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
[[failures]]
kind = "plane-down"
plane = 0
at = "1300us"
[[runs]]
transport = "mrc"
[[runs]]
transport = "roce"
roce_timeout = 10
"#;

/// A shipped scenario file.
fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(format!("{name}.toml"))
}

/// Runs `mrc sim SCENARIO --json` and reads the file back.
fn sim(name: &str, scenario: &Path) -> SimResults {
    let json = scratch_dir("snapshots").join(format!("{name}.json"));
    let out = mrc(&[
        "sim",
        scenario.to_str().unwrap(),
        "--threads",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

/// One line per integer figure of a run.
fn figures(r: &SimRun) -> String {
    let p = &r.packets;
    let d = p.dropped_by_class.unwrap();
    let tl = r.timeline.as_ref().unwrap();
    let mut o = String::new();
    let mut put = |k: &str, v: u64| {
        let _ = writeln!(o, "{}.{k} = {v}", r.label);
    };
    put("flows.count", r.flows.count);
    put("flows.total", r.flows.total);
    put("flows.failed", r.flows.failed.unwrap_or(0));
    put("events", r.events);
    put("bytes_expected", r.bytes_expected);
    put("bytes_delivered", r.bytes_delivered);
    put("data_intact", u64::from(r.data_intact));
    put("packets.sent", p.sent);
    put("packets.retransmitted", p.retransmitted);
    put(
        "packets.spurious_retransmits",
        p.spurious_retransmits.unwrap(),
    );
    put("packets.trimmed", p.trimmed);
    put("packets.ecn_marked", p.ecn_marked);
    put("packets.dropped", p.dropped);
    put("packets.dropped.data", d.data);
    put("packets.dropped.control", d.control);
    put("packets.dropped.trimmed_header", d.trimmed_header);
    put("packets.dropped.link", d.link);
    put("paths.ev_retired", r.paths.ev_retired);
    put("paths.ev_resurrected", r.paths.ev_resurrected);
    put("paths.probes_sent", r.paths.probes_sent.unwrap());
    put("timeline.bins", tl.delivered_bytes.len() as u64);
    put("timeline.delivered_bytes", tl.delivered_bytes.iter().sum());
    put("timeline.fct_finished", tl.fct_finished);
    put("timeline.fct_unfinished", tl.fct_unfinished);
    if let Some(j) = &r.job {
        put("job.steps", u64::from(j.steps));
        put("job.steps_completed", u64::from(j.steps_completed));
        put("job.crashed", u64::from(j.crashed));
        put("job.hung", u64::from(j.hung));
        put("job.lost_steps", j.lost_steps);
        for (i, f) in j.failures.iter().enumerate() {
            put(
                &format!("job.failures[{i}].step"),
                f.step.unwrap_or(u64::MAX),
            );
            put(&format!("job.failures[{i}].crashed"), u64::from(f.crashed));
        }
    }
    o
}

/// The snapshot text of a scenario: its seed and every run's figures.
fn snapshot(name: &str, scenario: &Path) -> String {
    let doc = sim(name, scenario);
    assert_eq!(doc.scenario, name);
    let mut o = format!("seed = {}\n", doc.seed);
    for r in &doc.runs {
        assert!(
            r.wall_s.is_none() && r.peak_rss_bytes.is_none(),
            "no --timing"
        );
        o.push_str(&figures(r));
    }
    o
}

#[test]
fn incast() {
    insta::assert_snapshot!(snapshot("incast", &shipped("incast")));
}

#[test]
fn nic_lane_down() {
    insta::assert_snapshot!(snapshot("nic-lane-down", &shipped("nic-lane-down")));
}

#[test]
fn collision() {
    insta::assert_snapshot!(snapshot("collision", &shipped("collision")));
}

#[test]
fn training_plane_down() {
    let p = scratch_dir("snapshots").join("training-plane-down.toml");
    std::fs::write(&p, TRAINING).unwrap();
    let s = snapshot("training-plane-down", &p);
    assert!(
        s.contains("mrc.job.steps_completed = 2\n") && s.contains("roce-1qp.job.crashed = 1\n")
    );
    insta::assert_snapshot!(s);
}
