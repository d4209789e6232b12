#![allow(clippy::unwrap_used, reason = "test code")]
//! `mrc sim --report` and `mrc report`: the HTML report of the default scenario is well-formed,
//! self-contained and has the expected plots, also as rendered by headless Chromium (skipped
//! with a message when chromium is missing, except under CI, where `CI` is set).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{mrc, scratch_dir};

fn dir() -> PathBuf {
    scratch_dir("report")
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Plot titles of the default scenario's report (4 runs: mrc, spray, roce-1qp, roce-8qp).
const RUNS: [&str; 4] = ["mrc", "spray", "roce-1qp", "roce-8qp"];

fn expected_titles() -> Vec<String> {
    let mut t = vec!["FCT CDF per transport (log-scale tail)".to_string()];
    for r in RUNS {
        t.push(format!("Delivered throughput: {r}"));
        t.push(format!("Link utilisation: {r}"));
        t.push(format!("Queue depth: {r}"));
    }
    // RoCE has no EVs.
    t.push("EV states: mrc".into());
    t.push("EV states: spray".into());
    t
}

fn count(h: &str, pat: &str) -> usize {
    h.matches(pat).count()
}

/// Well-formed enough for a browser and a person: one html/head/body, balanced sections,
/// figures and SVGs, every plot with its title and its "how to read this" line, nothing
/// fetched from anywhere.
fn check_html(h: &str, runs: usize) {
    assert!(
        h.starts_with("<!DOCTYPE html>"),
        "{}",
        &h[..80.min(h.len())]
    );
    assert!(h.trim_end().ends_with("</html>"));
    for tag in ["html", "head", "body", "style", "title"] {
        assert_eq!(count(h, &format!("<{tag}")), 1, "<{tag}>");
        assert_eq!(count(h, &format!("</{tag}>")), 1, "</{tag}>");
    }
    for tag in ["section", "figure", "svg", "table", "figcaption"] {
        assert_eq!(
            count(h, &format!("<{tag}")),
            count(h, &format!("</{tag}>")),
            "unbalanced <{tag}>"
        );
    }
    let plots = 1 + 3 * runs + 2;
    assert_eq!(count(h, "<svg"), plots, "plots");
    assert_eq!(count(h, "How to read this:"), plots);
    for t in expected_titles() {
        assert!(h.contains(&format!(">{t}</h3>")), "missing plot {t}");
    }
    for section in [
        "Scenario",
        "Summary",
        "Flow completion times",
        "Delivered throughput over time",
        "EV states over time",
        "Link utilisation by tier and plane",
        "Queue depth by tier",
    ] {
        assert!(
            h.contains(&format!("<h2>{section}</h2>")),
            "missing section {section}"
        );
    }
    // Failure marks of the T1 reboot.
    assert!(h.contains("T1 3 (plane 0) down"));
    // Self-contained: no script, no external stylesheet, image or font, no URL but the SVG
    // namespace.
    for bad in ["<script", "<link", "<img", "<iframe", "@import", "url("] {
        assert!(!h.contains(bad), "{bad}");
    }
    let urls = count(h, "http://") + count(h, "https://");
    assert_eq!(urls, count(h, "http://www.w3.org/2000/svg"), "external URL");
}

fn chromium() -> Option<&'static str> {
    for c in ["chromium", "chromium-browser"] {
        if Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(c);
        }
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "chromium is missing under CI: .ci/run must install it"
    );
    eprintln!("skipping the browser check: chromium is not installed (apt-get install chromium)");
    None
}

/// The DOM headless Chromium builds from the file.
fn dump_dom(browser: &str, file: &Path) -> String {
    let profile = dir().join("chromium-profile");
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn default_scenario_report_in_file_and_browser() {
    let d = dir();
    let html = d.join("default.html");
    let json = d.join("default.json");
    let out = mrc(&[
        "sim",
        "--report",
        html.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    ok(&out);
    let h = std::fs::read_to_string(&html).unwrap();
    check_html(&h, RUNS.len());
    assert!(!d.join(".default.html.part").exists());

    // The JSON carries the timeline the report was drawn from.
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let tl = &v["runs"][0]["timeline"];
    assert!(tl["bin_ns"].as_u64().unwrap() >= 1000);
    let bins = tl["delivered_bytes"].as_array().unwrap().len();
    assert!(bins > 10);
    assert_eq!(tl["ev_states"]["good"].as_array().unwrap().len(), bins);
    assert_eq!(tl["links"].as_array().unwrap().len(), 4 * 8);
    assert_eq!(tl["failures"][0]["change"], "down");
    assert_eq!(tl["fct_ns"].as_array().unwrap().len(), 512);
    let delivered: u64 = tl["delivered_bytes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap())
        .sum();
    assert_eq!(delivered, v["runs"][0]["bytes_delivered"].as_u64().unwrap());

    // `mrc report` renders the same plots from the saved JSON, and puts files side by side.
    let again = d.join("again.html");
    ok(&mrc(&[
        "report",
        json.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]));
    let h2 = std::fs::read_to_string(&again).unwrap();
    assert_eq!(count(&h2, "<svg"), count(&h, "<svg"));
    let both = d.join("both.html");
    ok(&mrc(&[
        "report",
        json.to_str().unwrap(),
        json.to_str().unwrap(),
        "--out",
        both.to_str().unwrap(),
    ]));
    let hb = std::fs::read_to_string(&both).unwrap();
    assert!(hb.contains("default: mrc"));
    assert_eq!(count(&hb, "<th><span class=\"swatch\""), 2 * RUNS.len());

    if let Some(browser) = chromium() {
        let dom = dump_dom(browser, &html);
        assert_eq!(
            count(&dom, "<svg"),
            count(&h, "<svg"),
            "plots in the rendered DOM"
        );
        for t in expected_titles() {
            assert!(dom.contains(&t), "rendered DOM lacks {t}");
        }
        assert!(dom.contains("<table class=\"summary\">"));
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn report_bad_input_exits_2() {
    let d = dir();
    let out_file = d.join("x.html");
    let missing = d.join("missing.json");
    let out = mrc(&[
        "report",
        missing.to_str().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json"));
    let notjson = d.join("not.json");
    std::fs::write(&notjson, "{\"scenario\": \"x\"}").unwrap();
    let out = mrc(&[
        "report",
        notjson.to_str().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("field `runs`"));
    assert!(!out_file.exists());
}
