//! `mrc sweep`: one scenario over a grid of values (fabric size, workload, runs, any field),
//! every point × run an independent simulation on `--threads` threads; one JSON of the
//! headline figures per point and an HTML plot of tail against the first axis.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context as _, Result};
use serde_json::Value;

mod grid;
use grid::{Axis, Point, point_label};

use crate::results::round;
use crate::results::sim::SimRun;
use crate::results::sweep::{SweepAxis, SweepPoint, SweepResults, SweepRun};

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
        let v = crate::sim::run_to_result(&pt.sc, run, &base_path, &tag)
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
    let mut per_point: Vec<Vec<SweepRun>> = vec![Vec::new(); points.len()];
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
        let s = crate::report::data::to_text(&doc)?;
        crate::output::write_atomic("--json", j, s.as_bytes())?;
        println!("json: {}", j.display());
    }
    if let (Some(out), Some(html)) = (&args.report, html) {
        crate::output::write_atomic("--report", out, html.as_bytes())?;
        println!("report: {}", out.display());
    }
    Ok(())
}

/// The figures a sweep keeps of a run's `mrc sim --json` object.
fn headline(r: &SimRun) -> SweepRun {
    let fct = r.flows.fct_us;
    // A collective phase: its completion time is the sum of its collectives' (they run back
    // to back).
    let collectives_us = r
        .collectives
        .as_ref()
        .filter(|c| !c.is_empty())
        .map(|c| round(c.iter().filter_map(|x| x.completion_us).sum(), 3));
    SweepRun {
        collectives_us,
        data_intact: r.data_intact,
        fct_us: fct,
        flows_done: r.flows.count,
        flows_failed: r.flows.failed,
        flows_total: r.flows.total,
        goodput_fraction: r.goodput_fraction,
        label: r.label.clone(),
        max_over_p50: (fct.p50 > 0.0).then(|| round(fct.max / fct.p50, 4)),
        sim_time_us: r.sim_time_us,
        step_time_us: r.job.as_ref().map(|j| j.step_time_us),
        transport: r.transport.clone(),
    }
}

fn to_json(
    name: &str,
    description: &str,
    base: Option<&str>,
    axes: &[Axis],
    points: &[Point],
    runs: Vec<Vec<SweepRun>>,
) -> SweepResults {
    let as_json = |v: &toml::Value| serde_json::to_value(v).unwrap_or(Value::Null);
    SweepResults {
        axes: axes
            .iter()
            .map(|a| SweepAxis {
                path: a.path.clone(),
                values: a.values.iter().map(as_json).collect(),
            })
            .collect(),
        base: base.map(str::to_string),
        description: description.trim().to_string(),
        points: points
            .iter()
            .zip(runs)
            .map(|(p, runs)| SweepPoint {
                axes: axes
                    .iter()
                    .zip(&p.at)
                    .map(|(a, &i)| as_json(&a.values[i]))
                    .collect(),
                runs,
                scenario: p.sc.name.clone(),
                seed: p.sc.seed,
            })
            .collect(),
        sweep: name.to_string(),
    }
}

/// The printed summary: one line per point and run.
fn table(doc: &SweepResults) -> String {
    let axes: Vec<String> = doc.axes.iter().map(|a| a.path.clone()).collect();
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
    let num = |v: Option<f64>, d: usize| v.map_or_else(|| "-".into(), |x| format!("{x:.d$}"));
    let mut rows = vec![head];
    for p in &doc.points {
        for r in &p.runs {
            let mut row: Vec<String> = p.axes.iter().map(crate::report::sweep::short).collect();
            row.push(r.label.clone());
            row.push(format!("{}/{}", r.flows_done, r.flows_total));
            for v in [r.fct_us.p50, r.fct_us.p99, r.fct_us.max] {
                row.push(num(Some(v), 1));
            }
            row.push(num(r.max_over_p50, 3));
            row.push(num(r.goodput_fraction, 3));
            row.push(num(Some(r.sim_time_us), 1));
            rows.push(row);
        }
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut o = String::new();
    let _ = writeln!(o, "sweep {}", doc.sweep);
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
