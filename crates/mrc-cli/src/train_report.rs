//! The HTML report of `mrc train`: self-contained (inline SVG, no scripts, no network), loss,
//! step time and held-out accuracy against step, cable pulls and restores marked.

use core::fmt::Write as _;

use mrc_demo::driver::JobReport;
use mrc_demo::report::figures;

/// A line of a chart.
#[derive(Clone, Debug)]
pub(crate) struct Series {
    /// Legend.
    pub(crate) name: String,
    /// CSS colour.
    pub(crate) color: String,
    /// Points (x, y).
    pub(crate) points: Vec<(f64, f64)>,
    /// Draw dashed (so coinciding lines stay visible).
    pub(crate) dashed: bool,
}

/// A vertical marker (e.g. a cable pull).
#[derive(Clone, Debug)]
pub(crate) struct Marker {
    /// Position on the x axis.
    pub(crate) x: f64,
    /// Label.
    pub(crate) label: String,
    /// CSS colour.
    pub(crate) color: String,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn nice_step(range: f64) -> f64 {
    let raw = range / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let n = raw / mag;
    mag * if n < 1.5 {
        1.0
    } else if n < 3.5 {
        2.0
    } else if n < 7.5 {
        5.0
    } else {
        10.0
    }
}

/// An SVG line chart (log-scale y if `log_y`).
pub(crate) fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    markers: &[Marker],
    log_y: bool,
) -> String {
    let (w, h) = (820.0, 340.0);
    let (l, r, t, b) = (70.0, 20.0, 36.0, 66.0);
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        if !x.is_finite() || !y.is_finite() || (log_y && y <= 0.0) {
            continue;
        }
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.1, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let (ty0, ty1) = if log_y {
        (
            10f64.powf(y0.log10().floor()),
            10f64.powf(y1.log10().ceil().max(y0.log10().floor() + 1.0)),
        )
    } else {
        let lo = if y0 > 0.0 { 0.0 } else { y0 };
        let st = nice_step((y1 - lo).max(1e-9));
        (lo, (y1 / st).ceil() * st)
    };
    let fy = |y: f64| {
        let f = if log_y {
            (y.log10() - ty0.log10()) / (ty1.log10() - ty0.log10())
        } else {
            (y - ty0) / (ty1 - ty0)
        };
        t + (h - t - b) * (1.0 - f)
    };
    let fx = |x: f64| l + (w - l - r) * (x - x0) / (x1 - x0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(
        s,
        r#"<rect width="{w}" height="{h}" fill="white"/><text x="{}" y="20" text-anchor="middle" font-size="14" font-weight="bold">{}</text>"#,
        w / 2.0,
        esc(title)
    );
    // Y grid and ticks.
    let mut yt = Vec::new();
    if log_y {
        let mut d = ty0;
        while d <= ty1 * 1.0001 {
            for m in [1.0, 2.0, 5.0] {
                let v = d * m;
                if v >= ty0 * 0.9999 && v <= ty1 * 1.0001 {
                    yt.push(v);
                }
            }
            d *= 10.0;
        }
    } else {
        let st = nice_step(ty1 - ty0);
        let mut v = ty0;
        while v <= ty1 + st * 1e-6 {
            yt.push(v);
            v += st;
        }
    }
    for v in yt {
        let y = fy(v);
        let label = if v >= 100.0 || v == 0.0 {
            format!("{v:.0}")
        } else if v >= 1.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.2}")
        };
        let _ = write!(
            s,
            r##"<line x1="{l}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{label}</text>"##,
            w - r,
            l - 6.0,
            y + 4.0
        );
    }
    // X ticks.
    let st = nice_step(x1 - x0).max(1.0);
    let mut v = (x0 / st).ceil() * st;
    while v <= x1 {
        let x = fx(v);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{}" y2="{}" stroke="#999"/><text x="{x:.1}" y="{}" text-anchor="middle">{v:.0}</text>"##,
            h - b,
            h - b + 5.0,
            h - b + 18.0
        );
        v += st;
    }
    let _ = write!(
        s,
        r##"<rect x="{l}" y="{t}" width="{}" height="{}" fill="none" stroke="#444"/>"##,
        w - l - r,
        h - t - b
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text><text transform="translate(16,{}) rotate(-90)" text-anchor="middle">{}</text>"#,
        l + (w - l - r) / 2.0,
        h - b + 34.0,
        esc(x_label),
        t + (h - t - b) / 2.0,
        esc(y_label)
    );
    // Markers.
    for (i, m) in markers.iter().enumerate() {
        let x = fx(m.x.clamp(x0, x1));
        let _ = write!(
            s,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{t}" y2="{}" stroke="{}" stroke-dasharray="5,4" stroke-width="1.5"/><text x="{:.1}" y="{}" fill="{}" font-size="11">{}</text>"#,
            h - b,
            esc(&m.color),
            x + 3.0,
            t + 12.0 + 13.0 * (i % 4) as f64,
            esc(&m.color),
            esc(&m.label)
        );
    }
    // Series.
    for (i, se) in series.iter().enumerate() {
        let mut d = String::new();
        for &(x, y) in &se.points {
            if !x.is_finite() || !y.is_finite() || (log_y && y <= 0.0) {
                continue;
            }
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if d.is_empty() { "M" } else { " L" },
                fx(x),
                fy(y.clamp(ty0, ty1))
            );
        }
        let _ = write!(
            s,
            r#"<path d="{d}" fill="none" stroke="{}" stroke-width="1.6"{}/>"#,
            esc(&se.color),
            if se.dashed {
                r#" stroke-dasharray="6,4""#
            } else {
                ""
            }
        );
        let ly = h - 10.0;
        let lx = l + 260.0 * i as f64;
        let _ = write!(
            s,
            r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{}" stroke-width="3"{}/><text x="{}" y="{}">{}</text>"#,
            lx + 22.0,
            esc(&se.color),
            if se.dashed {
                r#" stroke-dasharray="6,4""#
            } else {
                ""
            },
            lx + 28.0,
            ly + 4.0,
            esc(&se.name)
        );
    }
    s.push_str("</svg>");
    s
}

fn color(i: usize) -> &'static str {
    ["#1f6fb4", "#d62728", "#2ca02c", "#9467bd"][i % 4]
}

/// The HTML report of one or more runs (same job, different transports).
pub(crate) fn html(title: &str, notes: &[String], runs: &[(String, JobReport)]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title><style>body{{font-family:sans-serif;margin:24px;max-width:900px}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{background:#f4f4f4}}td:first-child{{text-align:left}}</style></head><body><h1>{}</h1>",
        esc(title),
        esc(title)
    );
    for n in notes {
        let _ = write!(s, "<p>{}</p>", esc(n));
    }
    s.push_str("<table><tr><th>run</th><th>steps</th><th>loss start</th><th>loss end</th><th>val acc start</th><th>val acc end</th><th>step p50 ms (after step 0)</th><th>step max ms (after step 0)</th><th>slowest step</th><th>retransmits</th><th>EVs retired</th><th>status</th></tr>");
    for (name, r) in runs {
        let f = figures(r);
        let acc = |a: Option<f64>| a.map_or_else(|| "–".to_owned(), |a| format!("{a:.3}"));
        let status = r.failure.clone().unwrap_or_else(|| {
            if r.completed() {
                "completed".into()
            } else {
                "incomplete".into()
            }
        });
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}/{}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td style=\"text-align:left\">{}</td></tr>",
            esc(name),
            f.steps,
            r.steps_planned,
            f.loss_start,
            f.loss_end,
            acc(f.val_acc_start),
            acc(f.val_acc_end),
            f.step_ms_p50,
            f.step_ms_max,
            f.slowest_step,
            f.retransmits,
            f.ev_retired,
            esc(&status)
        );
    }
    s.push_str("</table>");
    for (name, r) in runs {
        for e in &r.events {
            let _ = write!(
                s,
                "<p>{}: cable {} {} at t = {:.2} s (step {}).</p>",
                esc(name),
                esc(&e.link),
                match (e.down, e.end_of_run) {
                    (true, _) => "pulled",
                    (false, false) => "restored",
                    (false, true) => "restored at the end of the run",
                },
                e.t_s,
                e.step
            );
        }
    }
    let mut markers = Vec::new();
    for (i, (name, r)) in runs.iter().enumerate() {
        for e in &r.events {
            markers.push(Marker {
                x: f64::from(e.step),
                label: format!(
                    "{}: cable {}",
                    name.split_whitespace().next().unwrap_or(name),
                    match (e.down, e.end_of_run) {
                        (true, _) => "pulled",
                        (false, false) => "restored",
                        (false, true) => "restored (end of run)",
                    },
                ),
                color: color(i).to_owned(),
            });
        }
    }
    let loss: Vec<Series> = runs
        .iter()
        .enumerate()
        .map(|(i, (name, r))| Series {
            name: format!("{name} train loss"),
            color: color(i).to_owned(),
            dashed: i > 0,
            points: r
                .steps
                .iter()
                .map(|x| (f64::from(x.step), x.loss))
                .collect(),
        })
        .collect();
    let time: Vec<Series> = runs
        .iter()
        .enumerate()
        .map(|(i, (name, r))| Series {
            name: format!("{name} step time"),
            color: color(i).to_owned(),
            dashed: i > 0,
            points: r
                .steps
                .iter()
                .map(|x| (f64::from(x.step), x.step_ms))
                .collect(),
        })
        .collect();
    s.push_str("<h2>Loss</h2>");
    s.push_str(&line_chart(
        "Training loss (mean over ranks)",
        "step",
        "loss",
        &loss,
        &markers,
        false,
    ));
    s.push_str("<h2>Step time</h2>");
    s.push_str(&line_chart(
        "Step time (slowest rank), log scale",
        "step",
        "ms",
        &time,
        &markers,
        true,
    ));
    let val: Vec<Series> = runs
        .iter()
        .enumerate()
        .map(|(i, (name, r))| Series {
            name: format!("{name} val acc"),
            color: color(i).to_owned(),
            dashed: i > 0,
            points: r
                .steps
                .iter()
                .filter_map(|x| x.val_acc.map(|a| (f64::from(x.step), a)))
                .collect(),
        })
        .collect();
    s.push_str("<h2>Held-out accuracy</h2>");
    s.push_str(&line_chart(
        "Held-out accuracy",
        "step",
        "accuracy",
        &val,
        &markers,
        false,
    ));
    s.push_str("</body></html>\n");
    s
}
