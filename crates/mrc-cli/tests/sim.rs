#![allow(clippy::unwrap_used, reason = "test code")]
//! `mrc sim` end to end: scenario files, JSON, determinism, bad input.

use std::path::{Path, PathBuf};

mod common;
use common::{mrc, scratch_dir};

fn tmp(name: &str) -> PathBuf {
    scratch_dir("sim").join(name)
}

fn write(name: &str, text: &str) -> PathBuf {
    let p = tmp(name);
    std::fs::write(&p, text).unwrap();
    p
}

const SMALL: &str = r#"
name = "small"
seed = 3
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
transport = "spray"
"#;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Runs scenario `text` (written as `name`.toml) and returns its `--json` output.
fn sim_json(name: &str, text: &str) -> serde_json::Value {
    let f = write(&format!("{name}.toml"), text);
    let out = tmp(&format!("{name}.json"));
    let o = mrc(&["sim", f.to_str().unwrap(), "--json", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    json(&out)
}

#[test]
fn small_scenario_json_shape_and_determinism() {
    let sc = write("small.toml", SMALL);
    let (j1, j2) = (tmp("a.json"), tmp("b.json"));
    for j in [&j1, &j2] {
        let out = mrc(&["sim", sc.to_str().unwrap(), "--json", j.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("data intact"), "{text}");
    }
    let a = json(&j1);
    assert_eq!(a["scenario"], "small");
    let runs = a["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for r in runs {
        assert_eq!(r["data_intact"], true, "{r}");
        assert_eq!(r["bytes_expected"], r["bytes_delivered"]);
        assert!(r["flows"]["fct_us"]["p99"].as_f64().unwrap() > 0.0);
        for k in ["sent", "retransmitted", "trimmed", "dropped", "ecn_marked"] {
            assert!(r["packets"][k].is_u64(), "{k}");
        }
        assert!(r["paths"]["ev_retired"].is_u64());
    }
    // Same scenario and seed: byte-identical JSON files.
    assert!(
        a["runs"][0].get("wall_s").is_none(),
        "wall clock only with --timing"
    );
    assert_eq!(std::fs::read(&j1).unwrap(), std::fs::read(&j2).unwrap());
    // --transport filters runs, --seed overrides.
    let out = mrc(&[
        "sim",
        sc.to_str().unwrap(),
        "--transport",
        "spray",
        "--seed",
        "9",
        "--json",
        j1.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let v = json(&j1);
    assert_eq!(v["seed"], 9);
    assert_eq!(v["runs"].as_array().unwrap().len(), 1);
    assert_eq!(v["runs"][0]["transport"], "spray");
}

fn bad(name: &str, text: &str, needles: &[&str]) {
    let p = write(name, text);
    let out = mrc(&["sim", p.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
}

#[test]
fn bad_input_exits_2_with_file_field_and_expectation() {
    bad(
        "unknown.toml",
        &SMALL.replace("seed = 3", "seed = 3\nsede = 4"),
        &["unknown.toml", "sede", "line"],
    );
    bad(
        "unit.toml",
        &SMALL.replace("\"256KB\"", "\"256 parsecs\""),
        &["unit.toml", "size", "expected a size"],
    );
    bad(
        "link.toml",
        &SMALL.replace("t0 = 1", "t0 = 77"),
        &["link.toml", "failures[0]", "no T0 77"],
    );
    let cm = write(
        "wrong.cm",
        "Nodes 4\nConnections 3\n0->1 start 0 size 100\n",
    );
    bad(
        "cm.toml",
        &SMALL.replace(
            "kind = \"permutation\"\nsize = \"256KB\"",
            &format!("kind = \"cm\"\nfile = \"{}\"", cm.display()),
        ),
        &["wrong.cm", "Connections 3", "1 flow lines"],
    );
    let out = mrc(&["sim", "/nonexistent/x.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = mrc(&[
        "sim",
        write("ok.toml", SMALL).to_str().unwrap(),
        "--transport",
        "tcp",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn cm_file_with_triggers_runs() {
    let cm = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/data/alltoall_serial_16n.cm"
    );
    let cm = cm.to_string();
    let sc = SMALL
        .replace(
            "kind = \"permutation\"\nsize = \"256KB\"",
            &format!("kind = \"cm\"\nfile = \"{cm}\""),
        )
        .replace("[[runs]]\ntransport = \"spray\"\n", "");
    let p = write("cm_ok.toml", &sc);
    let j = tmp("cm.json");
    let out = mrc(&["sim", p.to_str().unwrap(), "--json", j.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&j);
    assert_eq!(v["runs"][0]["flows"]["count"], 240);
    assert_eq!(v["runs"][0]["data_intact"], true);
}

/// Acceptance: every MRC run of every shipped network scenario keeps the data intact.
#[test]
fn shipped_scenarios_mrc_data_intact() {
    // The network scenarios of the simulator issue (job scenarios have their own tests).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let names: Vec<PathBuf> = [
        "default",
        "collision",
        "incast",
        "loss",
        "t1-reboot",
        "flaps",
        "nic-lane-down",
    ]
    .iter()
    .map(|n| dir.join(format!("{n}.toml")))
    .collect();
    for p in names {
        let j = tmp(&format!(
            "{}.json",
            p.file_stem().unwrap().to_string_lossy()
        ));
        let out = mrc(&[
            "sim",
            p.to_str().unwrap(),
            "--transport",
            "mrc",
            "--json",
            j.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}: {}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let v = json(&j);
        for r in v["runs"].as_array().unwrap() {
            assert_eq!(r["data_intact"], true, "{}: {r}", p.display());
            assert_eq!(r["bytes_expected"], r["bytes_delivered"], "{}", p.display());
        }
    }
}

/// A scenario of `senders` → NIC 0 writing `size` each on a 32-NIC, 2-plane Clos, with the
/// `[switch]` lines `switch` and the `[[runs]]` tables `runs`.
fn small_clos_incast(name: &str, switch: &str, senders: &[u32], size: &str, runs: &str) -> String {
    let senders: Vec<String> = senders.iter().map(u32::to_string).collect();
    format!(
        r#"
name = "{name}"
seed = 1
[fabric]
kind = "clos"
nics = 32
planes = 2
nic_speed = "200Gbps"
switch_speed = "800Gbps"
[switch]
{switch}
[workload]
kind = "incast"
senders = [{}]
receiver = 0
size = "{size}"
{runs}"#,
        senders.join(", ")
    )
}

/// The eight senders of the small incasts below.
const EIGHT: [u32; 8] = [8, 10, 12, 14, 16, 18, 20, 22];

/// An 8 → 1 incast on a small Clos with the switch line `switch`: ECN marks counted.
fn incast_marks(name: &str, switch: &str) -> u64 {
    let text = small_clos_incast(
        name,
        switch,
        &EIGHT,
        "512KB",
        "[[runs]]\ntransport = \"mrc\"\n",
    );
    let v = sim_json(name, &text);
    assert_eq!(v["runs"][0]["data_intact"], true);
    v["runs"][0]["packets"]["ecn_marked"].as_u64().unwrap()
}

#[test]
fn ecn_placement_is_a_switch_option() {
    // The incast's queue is at the last hop: unmarked unless the last hop marks (the paper's
    // default is off).
    assert_eq!(incast_marks("ecn-default", ""), 0);
    let enq = incast_marks("ecn-enq", "ecn_last_hop = true\necn_at = \"enqueue\"");
    let deq = incast_marks("ecn-deq", "ecn_last_hop = true\necn_at = \"dequeue\"");
    assert!(enq > 0 && deq > 0, "enqueue {enq}, dequeue {deq}");
    // Same scenario and seed: only where the queue is read differs, so must the marks.
    assert_ne!(deq, enq, "the option changed nothing");
    let f = write(
        "ecn-bad.toml",
        "name = \"x\"\n[fabric]\nkind = \"clos\"\nnics = 16\n[switch]\necn_at = \"later\"\n[workload]\nkind = \"permutation\"\nsize = \"4KB\"\n[[runs]]\ntransport = \"mrc\"\n",
    );
    let o = mrc(&["sim", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("ecn_at"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `qp_hint = false` runs MRC as an application that gives no hint: a 31 → 1 incast then keeps
/// NSCC's one-packet floor (31 packets in flight into a receiver that holds fewer) and trims
/// more than with the hint, whose share BDP / 31 is below a packet and is paced.
#[test]
fn the_qp_hint_is_a_run_option() {
    let senders: Vec<u32> = (1..32).collect();
    let runs = "[[runs]]\ntransport = \"mrc\"\n[[runs]]\ntransport = \"mrc\"\nlabel = \"no-hint\"\nqp_hint = false\n";
    let text = small_clos_incast("hint", "", &senders, "256KB", runs);
    let v = sim_json("hint", &text);
    let trims = |i: usize| {
        assert_eq!(v["runs"][i]["data_intact"], true);
        v["runs"][i]["packets"]["trimmed"].as_u64().unwrap()
    };
    let (hinted, unhinted) = (trims(0), trims(1));
    assert!(
        hinted < unhinted,
        "trims with hint {hinted}, without {unhinted}"
    );
}

/// `cc = "dcqcn"` runs MRC QPs under DCQCN. In an 8 → 1 fan-in with last-hop marking, every
/// QP starts at line rate and ignores trims, so its start-up burst trims more than NSCC (whose
/// hinted window starts at BDP / 8); the ECN echoes then cut the rate: the same run without
/// marks (DCQCN never slows) trims far more. The paper's α = 1 at the first cut and slow
/// recovery (`docs/dcqcn.md`) leave the last flow finishing later than under NSCC.
#[test]
fn dcqcn_is_a_run_option_for_mrc() {
    let runs = r#"[[runs]]
transport = "mrc"
[[runs]]
transport = "mrc"
cc = "dcqcn"
[[runs]]
transport = "mrc"
cc = "dcqcn"
label = "unmarked"
switch = { ecn_last_hop = false }
"#;
    let text = small_clos_incast("fanin", "ecn_last_hop = true", &EIGHT, "2MB", runs);
    let v = sim_json("dcqcn", &text);
    let run = |i: usize| {
        let r = &v["runs"][i];
        assert_eq!(r["data_intact"], true, "{r}");
        assert_eq!(r["flows"]["count"], 8);
        let trims = r["packets"]["trimmed"].as_u64().unwrap();
        (trims, r["flows"]["fct_us"]["max"].as_f64().unwrap())
    };
    assert_eq!(v["runs"][1]["label"], "mrc-dcqcn");
    let ((nscc, nscc_max), (dcqcn, dcqcn_max), (unmarked, _)) = (run(0), run(1), run(2));
    assert!(
        dcqcn > nscc,
        "trims: dcqcn {dcqcn}, nscc {nscc} (line-rate start)"
    );
    assert!(
        dcqcn * 4 < unmarked,
        "trims: dcqcn {dcqcn}, without marks {unmarked} (ECN must cut the rate)"
    );
    assert!(
        dcqcn_max > nscc_max,
        "max FCT dcqcn {dcqcn_max}, nscc {nscc_max}"
    );
    bad(
        "cc-bad.toml",
        &SMALL.replace(
            "[[runs]]\ntransport = \"spray\"",
            "[[runs]]\ntransport = \"spray\"\ncc = \"cubic\"",
        ),
        &[
            "cc-bad.toml",
            "runs[1].cc",
            "\"nscc\" or \"dcqcn\"",
            "cubic",
        ],
    );
    bad(
        "cc-roce.toml",
        &SMALL.replace(
            "[[runs]]\ntransport = \"spray\"",
            "[[runs]]\ntransport = \"roce\"\ncc = \"dcqcn\"",
        ),
        &["cc-roce.toml", "runs[1].cc"],
    );
}

/// `MRC_LOG=debug` prints the core's and the simulator's rare events (here the black hole
/// applied and the EVs it retires) on stderr, and leaves the JSON as it was; unset, nothing is
/// logged.
#[test]
fn mrc_log_prints_rare_events_only_when_set() {
    let sc = write(
        "log.toml",
        &SMALL
            .replace("kind = \"link-down\"", "kind = \"black-hole\"")
            .replace("[[runs]]\ntransport = \"spray\"\n", ""),
    );
    let run = |log: Option<&str>, json: &str| {
        let out = tmp(json);
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_mrc"));
        c.args(["sim", sc.to_str().unwrap(), "--json", out.to_str().unwrap()]);
        c.env_remove("MRC_LOG");
        if let Some(l) = log {
            c.env("MRC_LOG", l);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (
            String::from_utf8_lossy(&o.stderr).into_owned(),
            std::fs::read_to_string(&out).unwrap(),
        )
    };
    let (quiet, j0) = run(None, "log-off.json");
    let (loud, j1) = run(Some("debug"), "log-on.json");
    assert!(!quiet.contains("EV retired"), "{quiet}");
    assert!(!quiet.contains("failure applied"), "{quiet}");
    assert!(loud.contains("EV retired"), "{loud}");
    assert!(loud.contains("failure applied"), "{loud}");
    assert_eq!(j0, j1, "logging changed the run");
}
