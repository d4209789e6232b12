//! The HTML page of `mrc sweep --report`: the headline figures of every grid point against
//! the sweep's first axis, one line per run (and per value of the other axes).

use std::fmt::Write as _;

use anyhow::Result;
use serde_json::Value;

use super::plots::{self, XySeries};
use super::{CSS, esc, figure, fmt};

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
fn series(doc: &Value, y: &dyn Fn(&Value) -> Option<f64>) -> Vec<XySeries> {
    let xs = first_axis_values(doc);
    let mut out: Vec<XySeries> = Vec::new();
    for p in doc["points"].as_array().into_iter().flatten() {
        let ax = p["axes"].as_array().map_or(&[][..], Vec::as_slice);
        let x = ax
            .first()
            .and_then(|v| xs.iter().position(|u| u == v))
            .unwrap_or(0);
        let rest: Vec<String> = ax.iter().skip(1).map(short).collect();
        for r in p["runs"].as_array().into_iter().flatten() {
            let mut label = r["label"].as_str().unwrap_or("?").to_string();
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

fn first_axis_values(doc: &Value) -> Vec<Value> {
    doc["axes"][0]["values"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Renders the sweep page; `source` says where the figures came from.
pub(crate) fn render(doc: &Value, source: &str) -> Result<String> {
    let name = doc["sweep"].as_str().unwrap_or("sweep");
    let xs = first_axis_values(doc);
    let x_path = doc["axes"][0]["path"].as_str().unwrap_or("?");
    // Evenly spaced, labelled with the values: a scale axis (128 … 131,072) stays readable
    // and every tick is a point of the grid.
    let ticks: Vec<String> = xs.iter().map(short).collect();
    let chart = |y_desc: &str, y: &dyn Fn(&Value) -> Option<f64>| {
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
    if let Some(d) = doc["description"].as_str().filter(|d| !d.is_empty()) {
        let _ = writeln!(h, "<p>{}</p>", esc(d));
    }
    h.push_str("<ul>\n");
    for a in doc["axes"].as_array().into_iter().flatten() {
        let vals: Vec<String> = a["values"]
            .as_array()
            .into_iter()
            .flatten()
            .map(short)
            .collect();
        let _ = writeln!(
            h,
            "<li><code>{}</code>: {}</li>",
            esc(a["path"].as_str().unwrap_or("?")),
            esc(&vals.join(", "))
        );
    }
    h.push_str("</ul>\n");
    let ratio = chart("max FCT ÷ p50 FCT", &|r| r["max_over_p50"].as_f64())?;
    figure(
        &mut h,
        "Tail: max FCT ÷ p50 FCT",
        &ratio,
        "one line per run; 1 means the slowest flow finished with the median one. A missing \
         point: the run completed no flow.",
    );
    let max = chart("max FCT (µs)", &|r| r["fct_us"]["max"].as_f64())?;
    figure(
        &mut h,
        "Slowest flow (µs)",
        &max,
        "the completion time of the slowest flow of each run, the time a synchronous step \
         waits for.",
    );
    let has_coll = doc["points"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["runs"].as_array().into_iter().flatten())
        .any(|r| r.get("collectives_us").is_some());
    if has_coll {
        let c = chart("completion (µs)", &|r| r["collectives_us"].as_f64())?;
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
fn table(h: &mut String, doc: &Value) {
    h.push_str("<h2>Points</h2>\n<table class=\"summary\">\n<thead><tr>");
    for a in doc["axes"].as_array().into_iter().flatten() {
        let _ = write!(h, "<th>{}</th>", esc(a["path"].as_str().unwrap_or("?")));
    }
    h.push_str(
        "<th>run</th><th>flows done</th><th>FCT p50 (µs)</th><th>p99</th><th>max</th>\
         <th>max/p50</th><th>goodput fraction</th><th>simulated (µs)</th><th>data intact</th></tr></thead>\n<tbody>\n",
    );
    for p in doc["points"].as_array().into_iter().flatten() {
        for r in p["runs"].as_array().into_iter().flatten() {
            h.push_str("<tr>");
            for v in p["axes"].as_array().into_iter().flatten() {
                let _ = write!(h, "<td>{}</td>", esc(&short(v)));
            }
            let intact = r["data_intact"].as_bool() == Some(true);
            let _ = writeln!(
                h,
                "<td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{}>{}</td></tr>",
                esc(r["label"].as_str().unwrap_or("?")),
                r["flows_done"],
                r["flows_total"],
                fmt(r["fct_us"]["p50"].as_f64(), 1),
                fmt(r["fct_us"]["p99"].as_f64(), 1),
                fmt(r["fct_us"]["max"].as_f64(), 1),
                fmt(r["max_over_p50"].as_f64(), 3),
                fmt(r["goodput_fraction"].as_f64(), 3),
                fmt(r["sim_time_us"].as_f64(), 1),
                if intact { "" } else { " class=\"bad\"" },
                if intact { "yes" } else { "NO" },
            );
        }
    }
    h.push_str("</tbody>\n</table>\n");
}
