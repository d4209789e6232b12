//! The HTML page of `mrc sweep --report`: the headline figures of every grid point against
//! the sweep's first axis, one line per run (and per value of the other axes).

use std::fmt::Write as _;

use anyhow::Result;
use serde_json::Value;

use super::plots::{self, XySeries};
use super::{CSS, esc, figure, fmt};
use crate::results::sweep::{SweepResults, SweepRun};

/// A point's value of an axis as a short text: scalars as written, a table by its scalar
/// values (`permutation 2MB`), an array by its elements (runs: `mrc + roce 8`).
pub(crate) fn short(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) if a.iter().all(Value::is_object) => {
            a.iter().map(short).collect::<Vec<_>>().join(" + ")
        }
        Value::Array(a) => format!("[{}]", a.iter().map(short).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => o
            .values()
            .filter(|x| !x.is_array() && !x.is_object())
            .map(short)
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// The lines of one figure: `y` picks the figure of a run; x is the position of the point's
/// first-axis value.
fn series(doc: &SweepResults, y: &dyn Fn(&SweepRun) -> Option<f64>) -> Vec<XySeries> {
    let xs = first_axis_values(doc);
    let mut out: Vec<XySeries> = Vec::new();
    for p in &doc.points {
        let ax = &p.axes;
        let x = ax
            .first()
            .and_then(|v| xs.iter().position(|u| u == v))
            .unwrap_or(0);
        let rest: Vec<String> = ax.iter().skip(1).map(short).collect();
        for r in &p.runs {
            let mut label = r.label.clone();
            if !rest.is_empty() {
                let _ = write!(label, " ({})", rest.join(", "));
            }
            let i = match out.iter().position(|s| s.label == label) {
                Some(i) => i,
                None => {
                    out.push(XySeries {
                        label,
                        color: out.len(),
                        points: Vec::new(),
                    });
                    out.len() - 1
                }
            };
            out[i].points.push((x, y(r)));
        }
    }
    out
}

fn first_axis_values(doc: &SweepResults) -> &[Value] {
    doc.axes.first().map_or(&[][..], |a| &a.values)
}

/// Renders the sweep page; `source` says where the figures came from.
pub(crate) fn render(doc: &SweepResults, source: &str) -> Result<String> {
    let name = &doc.sweep;
    let xs = first_axis_values(doc);
    let x_path = doc.axes.first().map_or("?", |a| a.path.as_str());
    // Evenly spaced, labelled with the values: a scale axis (128 … 131,072) stays readable
    // and every tick is a point of the grid.
    let ticks: Vec<String> = xs.iter().map(short).collect();
    let chart = |y_desc: &str, y: &dyn Fn(&SweepRun) -> Option<f64>| {
        plots::xy_chart(x_path, y_desc, &series(doc, y), &ticks).map_err(anyhow::Error::msg)
    };
    let mut h = String::with_capacity(1 << 16);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>MRC sweep: {n}</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
         <h1>MRC sweep: {n}</h1>\n<p class=\"meta\">results from {}</p>\n",
        esc(source),
        n = esc(name)
    );
    if !doc.description.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(&doc.description));
    }
    h.push_str("<ul>\n");
    for a in &doc.axes {
        let vals: Vec<String> = a.values.iter().map(short).collect();
        let _ = writeln!(
            h,
            "<li><code>{}</code>: {}</li>",
            esc(&a.path),
            esc(&vals.join(", "))
        );
    }
    h.push_str("</ul>\n");
    let ratio = chart("max FCT ÷ p50 FCT", &|r| r.max_over_p50)?;
    figure(
        &mut h,
        "Tail: max FCT ÷ p50 FCT",
        &ratio,
        "one line per run; 1 means the slowest flow finished with the median one. A missing \
         point: the run completed no flow.",
    );
    let max = chart("max FCT (µs)", &|r| Some(r.fct_us.max))?;
    figure(
        &mut h,
        "Slowest flow (µs)",
        &max,
        "the completion time of the slowest flow of each run, the time a synchronous step \
         waits for.",
    );
    let has_coll = doc
        .points
        .iter()
        .flat_map(|p| &p.runs)
        .any(|r| r.collectives_us.is_some());
    if has_coll {
        let c = chart("completion (µs)", &|r| r.collectives_us)?;
        figure(
            &mut h,
            "Collective phase completion (µs)",
            &c,
            "the sum of the completion times of the point's collectives (they run back to back).",
        );
    }
    table(&mut h, doc);
    h.push_str("</body>\n</html>\n");
    Ok(h)
}

/// Every point and run with its figures.
fn table(h: &mut String, doc: &SweepResults) {
    h.push_str("<h2>Points</h2>\n<table class=\"summary\">\n<thead><tr>");
    for a in &doc.axes {
        let _ = write!(h, "<th>{}</th>", esc(&a.path));
    }
    h.push_str(
        "<th>run</th><th>flows done</th><th>FCT p50 (µs)</th><th>p99</th><th>max</th>\
         <th>max/p50</th><th>goodput fraction</th><th>simulated (µs)</th><th>data intact</th></tr></thead>\n<tbody>\n",
    );
    for p in &doc.points {
        for r in &p.runs {
            h.push_str("<tr>");
            for v in &p.axes {
                let _ = write!(h, "<td>{}</td>", esc(&short(v)));
            }
            let intact = r.data_intact;
            let _ = writeln!(
                h,
                "<td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{}>{}</td></tr>",
                esc(&r.label),
                r.flows_done,
                r.flows_total,
                fmt(Some(r.fct_us.p50), 1),
                fmt(Some(r.fct_us.p99), 1),
                fmt(Some(r.fct_us.max), 1),
                fmt(r.max_over_p50, 3),
                fmt(r.goodput_fraction, 3),
                fmt(Some(r.sim_time_us), 1),
                if intact { "" } else { " class=\"bad\"" },
                if intact { "yes" } else { "NO" },
            );
        }
    }
    h.push_str("</tbody>\n</table>\n");
}
