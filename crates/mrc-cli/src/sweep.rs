//! `mrc sweep`: one scenario over a grid of values (fabric size, workload, runs, any field),
//! every point × run an independent simulation on `--threads` threads; one JSON of the
//! headline figures per point and an HTML plot of tail against the first axis.
//!
//! A point is the base scenario's TOML tree with each axis's value written at its path, then
//! read by the ordinary scenario parser: every scenario field can be an axis, and a bad value
//! gets the parser's own message plus the axis that put it there.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Result;
use serde::Deserialize;
use serde_json::{Value, json};
use toml::Value as Toml;

use crate::bad_input;
use crate::scenario::{self, Loaded};

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

/// The sweep file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepCfg {
    name: Option<String>,
    #[serde(default)]
    description: String,
    /// A scenario file, relative to the sweep file.
    base: Option<String>,
    /// Or the scenario inline.
    scenario: Option<toml::Table>,
    #[serde(default)]
    axes: Vec<AxisCfg>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AxisCfg {
    path: PathCfg,
    values: Toml,
}

/// One field, or several that take the same value (the NIC count of the scenario's fabric and
/// of the runs that bring their own).
#[derive(Deserialize)]
#[serde(untagged)]
enum PathCfg {
    One(String),
    Linked(Vec<String>),
}

/// One axis: scenario fields and the values they take.
struct Axis {
    /// The first field (the axis's name in tables, plots and JSON).
    path: String,
    /// Every field, as written and parsed.
    steps: Vec<(String, Vec<Step>)>,
    values: Vec<Toml>,
}

/// One segment of an axis path: a table key or an array index.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// One grid point: an index per axis and its scenario.
struct Point {
    at: Vec<usize>,
    sc: Loaded,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    for (flag, p) in [("--json", &args.json), ("--report", &args.report)] {
        if let Some(p) = p {
            crate::output::check(flag, p)?;
        }
    }
    let threads = crate::parallel::threads(args.threads)?;
    let file = args.spec.display().to_string();
    let text = std::fs::read_to_string(&args.spec)
        .map_err(|e| crate::BadInput(format!("{file}: cannot read: {e}")))?;
    let cfg: SweepCfg = match toml::from_str(&text) {
        Ok(c) => c,
        Err(e) => bad_input!("{file}: {}", e.to_string().trim_end()),
    };
    let (base, base_path) = base_scenario(&cfg, &args.spec, &file)?;
    let axes = axes(&cfg, &file)?;
    let points = expand(&base, &base_path, &axes, &file)?;
    let name = cfg.name.clone().unwrap_or_else(|| {
        args.spec
            .file_stem()
            .map_or_else(|| "sweep".into(), |s| s.to_string_lossy().into_owned())
    });

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
        let v = crate::sim::run_to_json(&pt.sc, run, &base_path, &tag)?;
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
        &cfg.description,
        cfg.base.as_deref(),
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

/// The base scenario's TOML tree and the path its messages and relative files go by.
fn base_scenario(cfg: &SweepCfg, spec: &Path, file: &str) -> Result<(toml::Table, PathBuf)> {
    match (&cfg.base, &cfg.scenario) {
        (Some(b), None) => {
            let p = spec
                .parent()
                .map_or_else(|| PathBuf::from(b), |d| d.join(b));
            let t = std::fs::read_to_string(&p).map_err(|e| {
                crate::BadInput(format!(
                    "{file}: field `base`: cannot read {}: {e}",
                    p.display()
                ))
            })?;
            match t.parse::<toml::Table>() {
                Ok(tree) => Ok((tree, p)),
                Err(e) => bad_input!("{}: {}", p.display(), e.to_string().trim_end()),
            }
        }
        (None, Some(s)) => Ok((s.clone(), spec.to_path_buf())),
        _ => bad_input!(
            "{file}: expected exactly one of `base` (a scenario file) and `[scenario]` (inline)"
        ),
    }
}

/// The axes, checked: a path that parses, a non-empty array of values, no path twice.
fn axes(cfg: &SweepCfg, file: &str) -> Result<Vec<Axis>> {
    if cfg.axes.is_empty() {
        bad_input!("{file}: field `axes`: expected at least one [[axes]] with `path` and `values`");
    }
    let mut out: Vec<Axis> = Vec::new();
    for (i, a) in cfg.axes.iter().enumerate() {
        let paths = match &a.path {
            PathCfg::One(p) => vec![p.clone()],
            PathCfg::Linked(v) => v.clone(),
        };
        if paths.is_empty() {
            bad_input!(
                "{file}: field `axes[{i}].path`: expected a field path or a non-empty array of them"
            );
        }
        let mut steps = Vec::new();
        for p in &paths {
            let s = match parse_path(p) {
                Ok(s) => s,
                Err(e) => bad_input!("{file}: field `axes[{i}].path` = {p:?}: {e}"),
            };
            if out
                .iter()
                .flat_map(|o| &o.steps)
                .chain(&steps)
                .any(|o| o.1 == s)
            {
                bad_input!("{file}: field `axes[{i}].path`: {p:?} is already an axis");
            }
            steps.push((p.clone(), s));
        }
        let Toml::Array(values) = &a.values else {
            bad_input!(
                "{file}: field `axes[{i}].values`: expected an array of values, got {}",
                a_type(&a.values)
            );
        };
        if values.is_empty() {
            bad_input!("{file}: field `axes[{i}].values`: expected at least one value, got []");
        }
        out.push(Axis {
            path: paths[0].clone(),
            steps,
            values: values.clone(),
        });
    }
    Ok(out)
}

/// `fabric.nics`, `runs[1].qps`, `workload.sizes[0]`: keys separated by dots, each followed by
/// any number of `[index]`.
fn parse_path(p: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for seg in p.split('.') {
        let (key, mut rest) = seg.split_at(seg.find('[').unwrap_or(seg.len()));
        if key.is_empty() {
            return Err("expected `key` or `key[index]` between the dots".into());
        }
        steps.push(Step::Key(key.to_string()));
        while !rest.is_empty() {
            let Some(close) = rest.find(']') else {
                return Err(format!("`{seg}`: `[` without `]`"));
            };
            let idx = rest[1..close]
                .parse()
                .map_err(|_| format!("`{seg}`: expected a number in `[...]`"))?;
            steps.push(Step::Index(idx));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return Err(format!("`{seg}`: expected `[` or `.` after `]`"));
            }
        }
    }
    Ok(steps)
}

/// Writes `v` at `steps` below `node`, creating missing tables on the way (the scenario parser
/// then refuses a key the scenario format does not know). An index must name an existing
/// array element.
fn set(node: &mut Toml, steps: &[Step], v: Toml) -> Result<(), String> {
    let Some((step, rest)) = steps.split_first() else {
        *node = v;
        return Ok(());
    };
    match (step, node) {
        (Step::Key(k), Toml::Table(t)) => set(
            t.entry(k.clone())
                .or_insert_with(|| Toml::Table(toml::Table::new())),
            rest,
            v,
        ),
        (Step::Index(i), Toml::Array(a)) => {
            let n = a.len();
            match a.get_mut(*i) {
                Some(e) => set(e, rest, v),
                None => Err(format!("[{i}] is past the end of an array of {n}")),
            }
        }
        (Step::Key(k), other) => Err(format!(
            "`{k}`: the scenario has {} there, not a table",
            a_type(other)
        )),
        (Step::Index(i), other) => Err(format!(
            "`[{i}]`: the scenario has {} there, not an array",
            a_type(other)
        )),
    }
}

/// Every combination of axis values (the first axis outermost), each loaded as a scenario, so
/// a bad value stops the sweep before anything runs.
fn expand(base: &toml::Table, base_path: &Path, axes: &[Axis], file: &str) -> Result<Vec<Point>> {
    let n: usize = axes.iter().map(|a| a.values.len()).product();
    let mut points = Vec::with_capacity(n);
    for k in 0..n {
        let mut at = vec![0; axes.len()];
        let mut rest = k;
        for (i, a) in axes.iter().enumerate().rev() {
            at[i] = rest % a.values.len();
            rest /= a.values.len();
        }
        let mut tree = Toml::Table(base.clone());
        for (i, a) in axes.iter().enumerate() {
            for (p, s) in &a.steps {
                if let Err(e) = set(&mut tree, s, a.values[at[i]].clone()) {
                    bad_input!("{file}: field `axes[{i}].path` = {p:?}: {e}");
                }
            }
        }
        let text = match toml::to_string(&tree) {
            Ok(t) => t,
            Err(e) => bad_input!("{file}: point {}: cannot write its scenario: {e}", k + 1),
        };
        let sc = scenario::load(&text, base_path).map_err(|e| {
            // The parser names the base; its line numbers are those of the generated text.
            let msg = format!("{e:#}");
            let base = base_path.display().to_string();
            let from = if base == file {
                "[scenario]".into()
            } else {
                base.clone()
            };
            let msg = match msg.strip_prefix(&format!("{base}: ")) {
                Some(m) => format!("the scenario generated from {from}: {m}"),
                None => msg,
            };
            anyhow::Error::new(crate::BadInput(format!(
                "{file}: point {} of {n} ({}): {msg}",
                k + 1,
                point_label(axes, &at)
            )))
        })?;
        points.push(Point { at, sc });
    }
    Ok(points)
}

/// "an integer", "a table": a value's type for messages.
fn a_type(v: &Toml) -> String {
    let t = v.type_str();
    let an = t.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {t}", if an { "an" } else { "a" })
}

/// `fabric.nics=128, runs=[…]`: a point's axis values, short.
fn point_label(axes: &[Axis], at: &[usize]) -> String {
    axes.iter()
        .zip(at)
        .map(|(a, &i)| format!("{}={}", a.path, short(&a.values[i])))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value as a short text (as the HTML page shows it).
fn short(v: &Toml) -> String {
    crate::report::sweep::short(&serde_json::to_value(v).unwrap_or(Value::Null))
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
    let as_json = |v: &Toml| serde_json::to_value(v).unwrap_or(Value::Null);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn paths_parse_and_values_land_where_they_name() {
        assert_eq!(
            parse_path("runs[1].qps").unwrap(),
            vec![
                Step::Key("runs".into()),
                Step::Index(1),
                Step::Key("qps".into())
            ]
        );
        assert!(parse_path("a..b").is_err());
        assert!(parse_path("a[x]").is_err());
        assert!(parse_path("a[1").is_err());
        let mut t: Toml =
            "[fabric]\nnics = 8\n[[runs]]\ntransport = \"mrc\"\n[[runs]]\ntransport = \"roce\"\n"
                .parse::<toml::Table>()
                .map(Toml::Table)
                .unwrap();
        set(
            &mut t,
            &parse_path("fabric.nics").unwrap(),
            Toml::Integer(64),
        )
        .unwrap();
        set(
            &mut t,
            &parse_path("runs[1].qps").unwrap(),
            Toml::Integer(8),
        )
        .unwrap();
        set(
            &mut t,
            &parse_path("switch.pfc").unwrap(),
            Toml::Boolean(true),
        )
        .unwrap();
        assert_eq!(t["fabric"]["nics"].as_integer(), Some(64));
        assert_eq!(t["runs"][1]["qps"].as_integer(), Some(8));
        assert_eq!(t["switch"]["pfc"].as_bool(), Some(true));
        assert!(
            set(
                &mut t,
                &parse_path("runs[5].qps").unwrap(),
                Toml::Integer(1)
            )
            .is_err()
        );
        assert!(
            set(
                &mut t,
                &parse_path("fabric.nics.x").unwrap(),
                Toml::Integer(1)
            )
            .is_err()
        );
        assert!(set(&mut t, &parse_path("fabric[0]").unwrap(), Toml::Integer(1)).is_err());
    }
}
