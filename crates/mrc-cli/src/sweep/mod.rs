//! `mrc sweep`: one scenario over a grid of values (fabric size, workload, runs, any field),
//! every point × run an independent simulation on `--threads` threads; one JSON of the
//! headline figures per point and an HTML plot of tail against the first axis.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

mod grid;
use grid::{Axis, Point, point_label};

/// Flags of `mrc sweep`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Sweep file (TOML): `base` (a scenario file, relative to the sweep file) or an inline
    /// `[scenario]`, and `[[axes]]` of `path` (a scenario field, e.g. `fabric.nics`,
    /// `runs[1].qps`) and `values`. See scenarios/README.md.
    spec: PathBuf,
    /// Write the grid and every point's headline figures as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write a self-contained HTML page (max/p50 FCT and max FCT against the first axis, one
    /// line per run; inline SVG) to FILE.html.
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
    #[arg(long, value_name = "N", help = crate::parallel::THREADS_HELP)]
    threads: Option<usize>,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    for (flag, p) in [("--json", &args.json), ("--report", &args.report)] {
        if let Some(p) = p {
            crate::output::check(flag, p)?;
        }
    }
    let threads = crate::parallel::threads(args.threads)?;
    let file = args.spec.display().to_string();
    let grid::Grid {
        name,
        description,
        base,
        base_path,
        axes,
        points,
    } = grid::load(&args.spec, &file)?;

    // Every run of every point is one job.
    let jobs: Vec<(usize, usize)> = points
        .iter()
        .enumerate()
        .flat_map(|(p, pt)| (0..pt.sc.runs.len()).map(move |r| (p, r)))
        .collect();
    let started = Instant::now();
    let done = AtomicUsize::new(0);
    let outs = crate::parallel::run_ordered(jobs.len(), threads, |j| {
        let (p, r) = jobs[j];
        let (pt, run) = (&points[p], &points[p].sc.runs[r]);
        let tag = format!(
            "point {}/{} ({}) {}",
            p + 1,
            points.len(),
            point_label(&axes, &pt.at),
            run.label
        );
        let t = Instant::now();
        let v = crate::sim::run_to_json(&pt.sc, run, &base_path, &tag)
            .with_context(|| format!("{file}: {tag}"))?;
        eprintln!(
            "{tag}: done in {:.1} s ({}/{} runs, {:.0} s so far)",
            t.elapsed().as_secs_f64(),
            done.fetch_add(1, Ordering::SeqCst) + 1,
            jobs.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(headline(&v))
    });
    let mut per_point: Vec<Vec<Value>> = vec![Vec::new(); points.len()];
    for (&(p, _), o) in jobs.iter().zip(outs) {
        per_point[p].push(o?);
    }
    let doc = to_json(
        &name,
        &description,
        base.as_deref(),
        &axes,
        &points,
        per_point,
    );
    print!("{}", table(&doc));
    // Both rendered before either is written: a failure leaves neither.
    let html = match &args.report {
        Some(_) => Some(crate::report::sweep::render(
            &doc,
            &format!("mrc sweep {file}"),
        )?),
        None => None,
    };
    if let Some(j) = &args.json {
        let s = crate::report::data::to_text(&doc);
        crate::output::write_atomic("--json", j, s.as_bytes())?;
        println!("json: {}", j.display());
    }
    if let (Some(out), Some(html)) = (&args.report, html) {
        crate::output::write_atomic("--report", out, html.as_bytes())?;
        println!("report: {}", out.display());
    }
    Ok(())
}

fn round(v: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (v * m).round() / m
}

/// The figures a sweep keeps of a run's `mrc sim --json` object.
fn headline(r: &Value) -> Value {
    let fct = &r["flows"]["fct_us"];
    let (p50, max) = (fct["p50"].as_f64(), fct["max"].as_f64());
    let mut v = json!({
        "label": r["label"],
        "transport": r["transport"],
        "flows_done": r["flows"]["count"],
        "flows_total": r["flows"]["total"],
        "fct_us": fct,
        "max_over_p50": match (p50, max) {
            (Some(p), Some(m)) if p > 0.0 => json!(round(m / p, 4)),
            _ => Value::Null,
        },
        "goodput_fraction": r["goodput_fraction"],
        "sim_time_us": r["sim_time_us"],
        "data_intact": r["data_intact"],
    });
    if let Some(f) = r["flows"].get("failed") {
        v["flows_failed"] = f.clone();
    }
    // A collective phase: its completion time is the sum of its collectives' (they run back
    // to back).
    if let Some(c) = r.get("collectives").and_then(Value::as_array)
        && !c.is_empty()
    {
        let total: f64 = c.iter().filter_map(|x| x["completion_us"].as_f64()).sum();
        v["collectives_us"] = json!(round(total, 3));
    }
    if let Some(j) = r.get("job") {
        v["step_time_us"] = j["step_time_us"].clone();
    }
    v
}

fn to_json(
    name: &str,
    description: &str,
    base: Option<&str>,
    axes: &[Axis],
    points: &[Point],
    runs: Vec<Vec<Value>>,
) -> Value {
    let as_json = |v: &toml::Value| serde_json::to_value(v).unwrap_or(Value::Null);
    json!({
        "sweep": name,
        "description": description.trim(),
        "base": base,
        "axes": axes.iter().map(|a| json!({
            "path": a.path,
            "values": a.values.iter().map(as_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "points": points.iter().zip(runs).map(|(p, runs)| json!({
            "axes": axes.iter().zip(&p.at).map(|(a, &i)| as_json(&a.values[i])).collect::<Vec<_>>(),
            "scenario": p.sc.name,
            "seed": p.sc.seed,
            "runs": runs,
        })).collect::<Vec<_>>(),
    })
}

/// The printed summary: one line per point and run.
fn table(doc: &Value) -> String {
    let axes: Vec<String> = doc["axes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| a["path"].as_str().unwrap_or("?").to_string())
        .collect();
    let mut head: Vec<String> = axes.clone();
    head.extend(
        [
            "run",
            "flows done",
            "FCT p50 (µs)",
            "p99",
            "max",
            "max/p50",
            "goodput",
            "simulated (µs)",
        ]
        .map(String::from),
    );
    let num = |v: &Value, d: usize| {
        v.as_f64()
            .map_or_else(|| "-".into(), |x| format!("{x:.d$}"))
    };
    let mut rows = vec![head];
    for p in doc["points"].as_array().into_iter().flatten() {
        for r in p["runs"].as_array().into_iter().flatten() {
            let mut row: Vec<String> = p["axes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(crate::report::sweep::short)
                .collect();
            row.push(r["label"].as_str().unwrap_or("?").to_string());
            row.push(format!("{}/{}", r["flows_done"], r["flows_total"]));
            for k in ["p50", "p99", "max"] {
                row.push(num(&r["fct_us"][k], 1));
            }
            row.push(num(&r["max_over_p50"], 3));
            row.push(num(&r["goodput_fraction"], 3));
            row.push(num(&r["sim_time_us"], 1));
            rows.push(row);
        }
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut o = String::new();
    let _ = writeln!(o, "sweep {}", doc["sweep"].as_str().unwrap_or("?"));
    for r in &rows {
        for (c, (cell, w)) in r.iter().zip(&widths).enumerate() {
            let pad = w - cell.chars().count();
            // Axis values and labels to the left, figures to the right.
            if c < axes.len() + 1 {
                let _ = write!(o, "{cell}{:pad$}  ", "");
            } else {
                let _ = write!(o, "{:pad$}{cell}  ", "");
            }
        }
        o.truncate(o.trim_end().len());
        o.push('\n');
    }
    o
}
