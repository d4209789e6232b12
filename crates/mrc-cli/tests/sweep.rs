#![allow(clippy::unwrap_used, reason = "test code")]
//! `mrc sweep`: a tiny grid end to end, determinism over thread counts, bad input.

use std::path::PathBuf;

mod common;
use common::{assert_refused, mrc, scratch_dir};

/// The base scenario, a file of its own (the sweep names it relative to itself).
const BASE: &str = r#"
name = "tiny"
seed = 2
[fabric]
kind = "clos"
nics = 16
planes = 2
nic_speed = "200Gbps"
switch_speed = "800Gbps"
[workload]
kind = "permutation"
size = "128KB"
[[runs]]
transport = "mrc"
[[runs]]
transport = "roce"
"#;

/// Two points: 16 and 32 NICs.
const SWEEP: &str = r#"
name = "tiny-sweep"
base = "base.toml"
[[axes]]
path = "fabric.nics"
values = [16, 32]
"#;

fn tmp(name: &str) -> PathBuf {
    scratch_dir("sweep").join(name)
}

fn write(name: &str, text: &str) -> PathBuf {
    let p = tmp(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn two_points_in_json_and_html_byte_identical_for_one_and_two_threads() {
    write("base.toml", BASE);
    let sw = write("tiny.toml", SWEEP);
    let mut outs = Vec::new();
    for t in ["1", "2"] {
        let (j, h) = (tmp(&format!("t{t}.json")), tmp(&format!("t{t}.html")));
        let o = mrc(&[
            "sweep",
            sw.to_str().unwrap(),
            "--threads",
            t,
            "--json",
            j.to_str().unwrap(),
            "--report",
            h.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", common::text(&o));
        assert!(common::text(&o).contains("point 2/2"), "progress on stderr");
        outs.push((std::fs::read(&j).unwrap(), std::fs::read(&h).unwrap()));
    }
    assert!(
        outs[0].0 == outs[1].0,
        "--json differs between 1 and 2 threads"
    );
    assert!(
        outs[0].1 == outs[1].1,
        "--report differs between 1 and 2 threads"
    );
    let v: serde_json::Value = serde_json::from_slice(&outs[0].0).unwrap();
    assert_eq!(v["sweep"], "tiny-sweep");
    assert_eq!(v["axes"][0]["path"], "fabric.nics");
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    for (p, nics) in points.iter().zip([16, 32]) {
        assert_eq!(p["axes"][0], nics);
        let runs = p["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 2);
        for r in runs {
            assert_eq!(r["flows_done"], nics, "{r}");
            assert_eq!(r["data_intact"], true, "{r}");
            let (p50, max) = (
                r["fct_us"]["p50"].as_f64().unwrap(),
                r["fct_us"]["max"].as_f64().unwrap(),
            );
            let ratio = r["max_over_p50"].as_f64().unwrap();
            assert!((ratio - max / p50).abs() < 1e-3, "{r}");
        }
    }
    let html = String::from_utf8(outs[0].1.clone()).unwrap();
    assert!(html.contains("<svg") && html.contains("max FCT"));
    // Each chart names its lines under the plot: both runs, once per chart (two charts here).
    for r in points[0]["runs"].as_array().unwrap() {
        let entry = format!(">\n{}\n</text>", r["label"].as_str().unwrap());
        assert_eq!(html.matches(&entry).count(), 2, "legend entry {entry:?}");
    }
    // `mrc report` renders the saved JSON as the same page (only the source line differs),
    // alone: beside other results it is refused.
    let (j, page) = (tmp("t1.json"), tmp("again.html"));
    let o = mrc(&[
        "report",
        j.to_str().unwrap(),
        "--out",
        page.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", common::text(&o));
    let again = std::fs::read_to_string(&page).unwrap();
    let body = |h: &str| {
        h.lines()
            .filter(|l| !l.contains("class=\"meta\""))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(again.contains("t1.json"));
    assert_eq!(body(&again), body(&html));
    let o = mrc(&[
        "report",
        j.to_str().unwrap(),
        j.to_str().unwrap(),
        "--out",
        tmp("two.html").to_str().unwrap(),
    ]);
    assert_refused(&o, &["t1.json", "only input"]);
    assert!(!tmp("two.html").exists());
}

#[test]
fn bad_axes_are_refused_naming_the_field_and_nothing_is_written() {
    write("base-b.toml", BASE);
    let j = tmp("bad.json");
    let cases: [(&str, &[&str]); 5] = [
        // Not a scenario field: the parser's message, with the axis that put it there.
        (
            "base = \"base-b.toml\"\n[[axes]]\npath = \"fabric.nicz\"\nvalues = [16]\n",
            &["bad.toml", "fabric.nicz", "nicz"],
        ),
        (
            "base = \"base-b.toml\"\n[[axes]]\npath = \"fabric.nics\"\nvalues = []\n",
            &["axes[0].values", "at least one"],
        ),
        (
            "base = \"base-b.toml\"\n[[axes]]\npath = \"fabric.nics\"\nvalues = 16\n",
            &["axes[0].values", "array"],
        ),
        // Wrong type for the field.
        (
            "base = \"base-b.toml\"\n[[axes]]\npath = \"fabric.nics\"\nvalues = [\"many\"]\n",
            &["bad.toml", "fabric.nics", "point 1"],
        ),
        (
            "base = \"base-b.toml\"\n[[axes]]\npath = \"runs[7].qps\"\nvalues = [2]\n",
            &["axes[0].path", "runs[7].qps"],
        ),
    ];
    for (text, names) in cases {
        let sw = write("bad.toml", text);
        let o = mrc(&["sweep", sw.to_str().unwrap(), "--json", j.to_str().unwrap()]);
        assert_refused(&o, names);
        assert!(!j.exists(), "nothing written for {text}");
    }
    assert_refused(&mrc(&["sweep", "/nonexistent/sweep.toml"]), &["sweep.toml"]);
    // Checked by the simulator as it builds a run: names the point, the base and the field.
    let fail = "[[failures]]\nkind = \"switch-reboot\"\ntier = 1\nindex = 40\n";
    write("base-f.toml", &format!("{BASE}{fail}"));
    let sw = write(
        "bad.toml",
        "base = \"base-f.toml\"\n[[axes]]\npath = \"fabric.nics\"\nvalues = [16, 32]\n",
    );
    let o = mrc(&["sweep", sw.to_str().unwrap(), "--json", j.to_str().unwrap()]);
    assert_refused(&o, &["bad.toml", "point 1/2", "base-f.toml", "failures[0]"]);
    assert!(!j.exists());
}
