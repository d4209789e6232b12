//! `mrc report` and `mrc sim --report`: one self-contained HTML file (inline CSS and SVG, no
//! script, nothing fetched) rendered from the `mrc sim --json` results of one or more runs
//! (or, alone, from a `mrc sweep --json`: the sweep's page).
//!
//! Sections: the scenario echo, the side-by-side summary table, the FCT CDF, delivered
//! throughput over time with failures marked, EV states over time, link utilisation by tier
//! and plane (heatmap), queue depth by tier, and collective / step-time bars when the workload
//! has them. Every plot has a "how to read this" line.

pub(crate) mod data;
mod plots;
pub(crate) mod sweep;

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;

use crate::bad_input;
use crate::results::sim::{SimResults, SimRun, Timeline};
use plots::{BarGroup, FctSeries, HeatRow, Mark, TimeSeries};

/// Flags of `mrc report`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Results of `mrc sim --json FILE` (several files: their runs side by side), or one
    /// `mrc sweep --json FILE` (the sweep's page, as `mrc sweep --report` writes it).
    #[arg(value_name = "RESULTS.json", required = true)]
    inputs: Vec<PathBuf>,
    /// Where to write the HTML report.
    #[arg(long, value_name = "FILE.html")]
    out: PathBuf,
}

/// One results file.
pub(crate) struct Doc {
    /// Where it came from (file name, or the scenario for `mrc sim --report`).
    pub(crate) source: String,
    /// What `mrc sim --json` wrote.
    pub(crate) results: SimResults,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    crate::output::check("--out", &args.out)?;
    let mut docs = Vec::new();
    for p in &args.inputs {
        let text = std::fs::read_to_string(p)
            .map_err(|e| crate::BadInput(format!("{}: cannot read: {e}", p.display())))?;
        if is_sweep(&text) {
            return sweep_page(args, p, &text);
        }
        let results: SimResults = match serde_json::from_str(&text) {
            Ok(r) => r,
            Err(e) if e.is_data() => bad_input!(
                "{}: {e}; expected the output of `mrc sim --json`",
                p.display()
            ),
            Err(e) => bad_input!(
                "{}: not JSON ({e}); expected the output of `mrc sim --json`",
                p.display()
            ),
        };
        if results.runs.is_empty() {
            bad_input!(
                "{}: field `runs`: expected a non-empty array (the output of `mrc sim --json`)",
                p.display()
            );
        }
        docs.push(Doc {
            source: p.display().to_string(),
            results,
        });
    }
    let html = render(&docs)?;
    crate::output::write_atomic("--out", &args.out, html.as_bytes())?;
    println!("report: {}", args.out.display());
    Ok(())
}

/// Whether `text` is a `mrc sweep --json` object (its `sweep` field names the sweep).
fn is_sweep(text: &str) -> bool {
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
        .is_ok_and(|o| o.contains_key("sweep"))
}

/// The page of `mrc sweep --report` from its saved `--json` (alone: a sweep does not sit
/// beside other results).
fn sweep_page(args: &Args, path: &std::path::Path, text: &str) -> Result<()> {
    if args.inputs.len() != 1 {
        bad_input!(
            "{}: the output of `mrc sweep --json` is rendered alone; give it as the only input",
            path.display()
        );
    }
    let doc: crate::results::sweep::SweepResults = match serde_json::from_str(text) {
        Ok(d) => d,
        Err(e) => bad_input!(
            "{}: {e}; expected the output of `mrc sweep --json`",
            path.display()
        ),
    };
    let html = sweep::render(&doc, &path.display().to_string())?;
    crate::output::write_atomic("--out", &args.out, html.as_bytes())?;
    println!("report: {}", args.out.display());
    Ok(())
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

/// Renders one section of the report.
type Section = fn(&mut String, &[RunV<'_>]) -> Result<(), String>;

/// A run and its label in the report.
struct RunV<'a> {
    label: String,
    r: &'a SimRun,
}

impl RunV<'_> {
    fn tl(&self) -> Option<&Timeline> {
        self.r.timeline.as_ref()
    }
}

/// A per-bin series of counts as plotted numbers.
fn as_f64s<T: Into<f64> + Copy>(v: &[T]) -> Vec<f64> {
    v.iter().map(|&x| x.into()).collect()
}

/// A count for the summary table.
fn count(v: u64) -> Option<f64> {
    Some(v as f64)
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    match v {
        None => "–".into(),
        Some(x) if digits == 0 || x.fract() == 0.0 && x.abs() >= 1000.0 => {
            let i = x.round() as i64;
            // Thousands separators for readability.
            let s = i.abs().to_string();
            let mut o = String::new();
            for (k, ch) in s.chars().enumerate() {
                if k > 0 && (s.len() - k).is_multiple_of(3) {
                    o.push('\u{202f}');
                }
                o.push(ch);
            }
            if i < 0 { format!("-{o}") } else { o }
        }
        Some(x) => format!("{x:.digits$}"),
    }
}

const CSS: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  margin: 0 auto; max-width: 1180px; padding: 12px 28px 60px; color: #1d1d1f; line-height: 1.45; font-size: 16px; }
h1 { font-size: 28px; margin: 18px 0 4px; }
h2 { font-size: 22px; margin: 34px 0 8px; border-bottom: 2px solid #e3e3e3; padding-bottom: 4px; }
h3 { font-size: 17px; margin: 18px 0 4px; }
.meta { color: #555; margin: 0 0 4px; }
.claim { background: #f5f7fb; border-left: 4px solid #0072b2; padding: 8px 12px; margin: 8px 0; }
table.summary { border-collapse: collapse; margin: 8px 0; font-size: 15px; }
table.summary th, table.summary td { padding: 4px 12px; border-bottom: 1px solid #e6e6e6; text-align: right; white-space: nowrap; }
table.summary th:first-child, table.summary td:first-child { text-align: left; color: #333; }
table.summary thead th { border-bottom: 2px solid #999; vertical-align: bottom; }
td.bad { color: #c00; font-weight: 600; }
figure { margin: 10px 0 22px; }
figure svg { max-width: 100%; height: auto; display: block; border: 1px solid #eee; }
figcaption.how { color: #444; font-size: 15px; margin-top: 6px; }
figcaption.how b { color: #222; }
.swatch { display: inline-block; width: 14px; height: 14px; border-radius: 3px; vertical-align: -2px; margin: 0 4px 0 12px; }
pre { background: #f6f6f6; padding: 10px; overflow-x: auto; font-size: 13px; }
details { margin: 6px 0; }
nav a { margin-right: 14px; }
"#;

/// Renders the report of one or more results files.
pub(crate) fn render(docs: &[Doc]) -> Result<String> {
    let many = docs.len() > 1;
    let mut runs: Vec<RunV<'_>> = Vec::new();
    for d in docs {
        let scen = &d.results.scenario;
        for r in &d.results.runs {
            let label = &r.label;
            runs.push(RunV {
                label: if many {
                    format!("{scen}: {label}")
                } else {
                    label.clone()
                },
                r,
            });
        }
    }
    let title = docs
        .iter()
        .map(|d| d.results.scenario.as_str())
        .collect::<Vec<_>>()
        .join(" + ");
    let mut h = String::with_capacity(1 << 20);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>MRC simulation: {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    let _ = writeln!(h, "<h1>MRC simulation report: {}</h1>", esc(&title));
    h.push_str(
        "<nav><a href=\"#scenario\">Scenario</a><a href=\"#summary\">Summary</a>\
         <a href=\"#fct\">FCT</a><a href=\"#throughput\">Throughput</a><a href=\"#ev\">EV states</a>\
         <a href=\"#links\">Links</a><a href=\"#queues\">Queues</a><a href=\"#workload\">Workload</a></nav>\n",
    );
    scenario_section(&mut h, docs);
    summary_section(&mut h, &runs);
    let sections: [Section; 6] = [
        fct_section,
        throughput_section,
        ev_section,
        links_section,
        queue_section,
        workload_section,
    ];
    for f in sections {
        f(&mut h, &runs).map_err(anyhow::Error::msg)?;
    }
    h.push_str("</body>\n</html>\n");
    Ok(h)
}

fn scenario_section(h: &mut String, docs: &[Doc]) {
    h.push_str("<section id=\"scenario\">\n<h2>Scenario</h2>\n");
    for d in docs {
        let r = &d.results;
        let _ = writeln!(
            h,
            "<h3>{}</h3>\n<p class=\"meta\">seed {} · results from {}</p>",
            esc(&r.scenario),
            r.seed,
            esc(&d.source)
        );
        if !r.description.is_empty() {
            let _ = writeln!(h, "<p>{}</p>", esc(&r.description));
        }
        if !r.claim.is_empty() {
            let _ = writeln!(h, "<p class=\"claim\"><b>Claim:</b> {}</p>", esc(&r.claim));
        }
        if let Some(text) = &r.scenario_toml {
            let _ = writeln!(
                h,
                "<details><summary>Scenario file (TOML)</summary><pre>{}</pre></details>",
                esc(text)
            );
        }
    }
    h.push_str("</section>\n");
}

type Row = (&'static str, fn(&RunV<'_>) -> Option<String>);

fn summary_section(h: &mut String, runs: &[RunV<'_>]) {
    let rows: [Row; 21] = [
        ("transport", |r| Some(r.r.transport.clone())),
        ("flows done", |r| {
            let f = &r.r.flows;
            Some(format!(
                "{} / {}",
                fmt(count(f.count), 0),
                fmt(count(f.total), 0)
            ))
        }),
        ("FCT p50 (µs)", |r| {
            Some(fmt(Some(r.r.flows.fct_us.p50), 1))
        }),
        ("FCT p99 (µs)", |r| {
            Some(fmt(Some(r.r.flows.fct_us.p99), 1))
        }),
        ("FCT max (µs)", |r| {
            Some(fmt(Some(r.r.flows.fct_us.max), 1))
        }),
        ("watched flow FCT (µs)", |r| {
            r.r.watched_flow_fct_us.map(|v| fmt(Some(v), 1))
        }),
        ("goodput fraction", |r| Some(fmt(r.r.goodput_fraction, 3))),
        ("data intact", |r| {
            Some(if r.r.data_intact { "yes" } else { "NO" }.to_string())
        }),
        ("packets sent", |r| Some(fmt(count(r.r.packets.sent), 0))),
        ("retransmitted", |r| {
            Some(fmt(count(r.r.packets.retransmitted), 0))
        }),
        ("trimmed", |r| Some(fmt(count(r.r.packets.trimmed), 0))),
        ("dropped", |r| Some(fmt(count(r.r.packets.dropped), 0))),
        ("dropped data / control / trimmed / link", |r| {
            let d = r.r.packets.dropped_by_class?;
            Some(format!(
                "{} / {} / {} / {}",
                fmt(count(d.data), 0),
                fmt(count(d.control), 0),
                fmt(count(d.trimmed_header), 0),
                fmt(count(d.link), 0)
            ))
        }),
        ("spurious retransmissions", |r| {
            r.r.packets.spurious_retransmits.map(|v| fmt(count(v), 0))
        }),
        ("ECN-marked", |r| {
            Some(fmt(count(r.r.packets.ecn_marked), 0))
        }),
        ("EVs retired / resurrected", |r| {
            let p = &r.r.paths;
            Some(format!(
                "{} / {}",
                fmt(count(p.ev_retired), 0),
                fmt(count(p.ev_resurrected), 0)
            ))
        }),
        ("probes sent", |r| {
            r.r.paths.probes_sent.map(|v| fmt(count(v), 0))
        }),
        ("step time p50 (µs)", |r| {
            r.r.job.as_ref().map(|j| fmt(Some(j.step_time_us.p50), 1))
        }),
        ("step time p99 (µs)", |r| {
            r.r.job.as_ref().map(|j| fmt(Some(j.step_time_us.p99), 1))
        }),
        ("job crashed", |r| {
            r.r.job
                .as_ref()
                .map(|j| if j.crashed { "YES" } else { "no" }.to_string())
        }),
        ("simulated time (µs)", |r| {
            Some(fmt(Some(r.r.sim_time_us), 1))
        }),
    ];
    h.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n<table class=\"summary\">\n<thead><tr><th></th>");
    for (i, r) in runs.iter().enumerate() {
        let _ = write!(
            h,
            "<th><span class=\"swatch\" style=\"background:{}\"></span>{}</th>",
            plots::css_color(i),
            esc(&r.label)
        );
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for (name, f) in rows {
        let vals: Vec<Option<String>> = runs.iter().map(f).collect();
        if vals.iter().all(Option::is_none) {
            continue;
        }
        let _ = write!(h, "<tr><td>{}</td>", esc(name));
        for v in vals {
            let v = v.unwrap_or_else(|| "–".into());
            let class = if v == "NO" || v == "YES" {
                " class=\"bad\""
            } else {
                ""
            };
            let _ = write!(h, "<td{class}>{}</td>", esc(&v));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

fn figure(h: &mut String, title: &str, svg: &str, how: &str) {
    let _ = write!(
        h,
        "<figure>\n<h3 class=\"plot-title\">{}</h3>\n{svg}\n<figcaption class=\"how\"><b>How to read this:</b> {how}</figcaption>\n</figure>\n",
        esc(title)
    );
}

fn section_head(h: &mut String, id: &str, title: &str) {
    let _ = writeln!(h, "<section id=\"{id}\">\n<h2>{}</h2>", esc(title));
}

fn fct_section(h: &mut String, runs: &[RunV<'_>]) -> Result<(), String> {
    let series: Vec<FctSeries> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let tl = r.tl()?;
            let fct = tl.fct_ns.clone();
            let unfinished = tl.fct_unfinished;
            let label = if unfinished > 0 {
                format!("{} ({unfinished} unfinished)", r.label)
            } else {
                r.label.clone()
            };
            (!fct.is_empty()).then_some(FctSeries {
                label,
                color: i,
                fct_ns: fct,
            })
        })
        .collect();
    if series.is_empty() {
        return Ok(());
    }
    section_head(h, "fct", "Flow completion times");
    let svg = plots::fct_cdf(&series)?;
    figure(
        h,
        "FCT CDF per transport (log-scale tail)",
        &svg,
        "each line is one transport; a point (x, y) says that a fraction y of the flows finished \
         within x µs. The vertical axis is stretched towards the tail (90 %, 99 %, 99.9 %): the \
         further left a line stays at the top, the shorter the tail. Lines that shoot right at \
         the top are the flows that waited for a timeout or for routing to reconverge.",
    );
    h.push_str("</section>\n");
    Ok(())
}

fn marks_of(r: &RunV<'_>) -> Vec<Mark> {
    r.tl()
        .map(|t| {
            t.failures
                .iter()
                .map(|m| Mark {
                    at_ns: m.at_ns as f64,
                    text: format!("{} {}", m.what, m.change),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Failure marks with the text kept on the first few only (flaps would pile up labels).
fn thin_marks(mut m: Vec<Mark>) -> Vec<Mark> {
    for (i, x) in m.iter_mut().enumerate() {
        if i >= 4 {
            x.text.clear();
        }
    }
    m
}

fn bin_ns(tl: &Timeline) -> f64 {
    (tl.bin_ns as f64).max(1.0)
}

fn end_ns(r: &RunV<'_>, tl: &Timeline) -> f64 {
    let bins = tl.delivered_bytes.len() as f64;
    let sim = r.r.sim_time_us * 1e3;
    sim.max(1.0).min(bins * bin_ns(tl)).max(bin_ns(tl))
}

/// Step points (start and end of each bin) of a per-bin series.
fn steps(vals: &[f64], bin: f64) -> Vec<(f64, f64)> {
    let mut p = Vec::with_capacity(vals.len() * 2);
    for (i, &v) in vals.iter().enumerate() {
        p.push((i as f64 * bin, v));
        p.push(((i + 1) as f64 * bin, v));
    }
    p
}

fn throughput_section(h: &mut String, runs: &[RunV<'_>]) -> Result<(), String> {
    if runs.iter().all(|r| r.tl().is_none()) {
        return Ok(());
    }
    section_head(h, "throughput", "Delivered throughput over time");
    for (i, r) in runs.iter().enumerate() {
        let Some(tl) = r.tl() else { continue };
        let bin = bin_ns(tl);
        let gbps: Vec<f64> = tl
            .delivered_bytes
            .iter()
            .map(|&b| b as f64 * 8.0 / bin)
            .collect();
        let svg = plots::time_chart(
            &format!("{}: delivered Gb/s", r.label),
            "delivered (Gb/s)",
            &[TimeSeries {
                label: r.label.clone(),
                color: plots::color(i),
                points: steps(&gbps, bin),
            }],
            &thin_marks(marks_of(r)),
            end_ns(r, tl),
            false,
        )?;
        figure(
            h,
            &format!("Delivered throughput: {}", r.label),
            &svg,
            &format!(
                "payload that arrived intact (each byte counted once), summed over all NICs, per \
                 {} bin. Red vertical lines are failure events (what failed, and how). A dip \
                 after a red line that recovers within microseconds is the transport routing \
                 around the failure; a long flat stretch is flows stalled.",
                bin_label(bin)
            ),
        );
    }
    h.push_str("</section>\n");
    Ok(())
}

fn bin_label(bin_ns: f64) -> String {
    if bin_ns >= 1e6 {
        format!("{} ms", plots::format_num(bin_ns / 1e6))
    } else {
        format!("{} µs", plots::format_num(bin_ns / 1e3))
    }
}

fn ev_section(h: &mut String, runs: &[RunV<'_>]) -> Result<(), String> {
    let with_ev: Vec<(usize, &RunV<'_>)> = runs
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.tl()
                .is_some_and(|t| t.ev_states.good.iter().any(|&v| v > 0))
        })
        .collect();
    if with_ev.is_empty() {
        return Ok(());
    }
    section_head(h, "ev", "EV states over time");
    for (_, r) in with_ev {
        let Some(tl) = r.tl() else { continue };
        let ev = &tl.ev_states;
        let bin = bin_ns(tl);
        let mk = |k: &[u32], label: &str, c: plotters::style::RGBColor| TimeSeries {
            label: label.to_string(),
            color: c,
            points: steps(&as_f64s(k), bin),
        };
        let svg = plots::time_chart(
            &format!("{}: EVs by state", r.label),
            "EVs (log scale)",
            &[
                mk(&ev.good, "GOOD", plotters::style::RGBColor(0, 140, 90)),
                mk(&ev.skip, "SKIP", plotters::style::RGBColor(230, 140, 0)),
                mk(
                    &ev.assumed_bad,
                    "ASSUMED_BAD",
                    plotters::style::RGBColor(200, 0, 0),
                ),
            ],
            &thin_marks(marks_of(r)),
            end_ns(r, tl),
            true,
        )?;
        figure(
            h,
            &format!("EV states: {}", r.label),
            &svg,
            "entropy values (paths) of the QPs still running, counted by state at the end of \
             each time bin (log scale). GOOD paths carry new data; SKIP paths are passed over once \
             after an ECN echo or a trim (congestion steering); ASSUMED_BAD paths were retired \
             after an unexplained loss and are only probed until they come back. GOOD falls as \
             flows finish; a step up in ASSUMED_BAD right after a red failure line is the \
             transport retiring the paths through the failed part.",
        );
    }
    h.push_str("</section>\n");
    Ok(())
}

/// Link groups of a timeline: (label with plane, utilisation per bin in ‰).
fn link_rows(tl: &Timeline) -> Vec<(String, Vec<f64>)> {
    let planes = tl.links.iter().map(|g| g.plane).max().unwrap_or(0);
    tl.links
        .iter()
        .map(|g| {
            let label = if planes > 0 {
                format!("{} p{}", g.group, g.plane)
            } else {
                g.group.clone()
            };
            (label, as_f64s(&g.util_permille))
        })
        .collect()
}

/// Merges columns so there are at most `max` (means).
fn shrink(v: &[f64], max: usize) -> (Vec<f64>, usize) {
    let k = v.len().div_ceil(max.max(1)).max(1);
    (
        v.chunks(k)
            .map(|c| c.iter().sum::<f64>() / c.len() as f64)
            .collect(),
        k,
    )
}

fn links_section(h: &mut String, runs: &[RunV<'_>]) -> Result<(), String> {
    if runs.iter().all(|r| r.tl().is_none()) {
        return Ok(());
    }
    section_head(h, "links", "Link utilisation by tier and plane");
    for r in runs {
        let Some(tl) = r.tl() else { continue };
        let rows = link_rows(tl);
        if rows.is_empty() {
            continue;
        }
        let mut k = 1;
        let heat: Vec<HeatRow> = rows
            .into_iter()
            .map(|(label, v)| {
                let (cells, kk) = shrink(&v, 128);
                k = kk;
                HeatRow {
                    label,
                    cells: cells.iter().map(|c| c / 1000.0).collect(),
                }
            })
            .collect();
        let col = bin_ns(tl) * k as f64;
        let svg = plots::heatmap(
            &format!("{}: utilisation per hop and plane", r.label),
            &heat,
            col,
            &marks_of(r),
        )?;
        figure(
            h,
            &format!("Link utilisation: {}", r.label),
            &svg,
            &format!(
                "one row per hop direction and plane (NIC→T0 = NIC uplinks, T0→T1 = T0 uplinks, \
                 T1→T0 and T0→NIC = the way down; p = plane), one column per {} of simulated \
                 time; the colour is the share of the row's total link capacity in use (white = \
                 idle, dark purple = full). Even colour across the planes of a hop means the \
                 load is spread; a dark row beside pale ones is a hot spot. Red lines mark \
                 failures.",
                bin_label(col)
            ),
        );
    }
    h.push_str("</section>\n");
    Ok(())
}

fn queue_section(h: &mut String, runs: &[RunV<'_>]) -> Result<(), String> {
    if runs.iter().all(|r| r.tl().is_none()) {
        return Ok(());
    }
    section_head(h, "queues", "Queue depth by tier");
    for r in runs {
        let Some(tl) = r.tl() else { continue };
        let bin = bin_ns(tl);
        // One line per hop direction: the largest queue over its planes.
        let mut by_hop: Vec<(String, Vec<f64>)> = Vec::new();
        for g in &tl.links {
            let name = g.group.clone();
            let v: Vec<f64> = g.queue_max_bytes.iter().map(|&b| b as f64).collect();
            match by_hop.iter_mut().find(|e| e.0 == name) {
                Some(e) => {
                    for (a, b) in e.1.iter_mut().zip(&v) {
                        *a = a.max(*b);
                    }
                }
                None => by_hop.push((name, v)),
            }
        }
        if by_hop.is_empty() {
            continue;
        }
        let series: Vec<TimeSeries> = by_hop
            .into_iter()
            .enumerate()
            .map(|(i, (name, v))| TimeSeries {
                label: name,
                color: plots::color(i),
                points: steps(&v.iter().map(|b| b / 1024.0).collect::<Vec<_>>(), bin),
            })
            .collect();
        let svg = plots::time_chart(
            &format!("{}: largest egress queue per hop", r.label),
            "queue (KiB)",
            &series,
            &thin_marks(marks_of(r)),
            end_ns(r, tl),
            false,
        )?;
        figure(
            h,
            &format!("Queue depth: {}", r.label),
            &svg,
            "the deepest egress queue (data and control bytes) among the ports of each hop \
             direction, sampled at the end of each time bin, over all planes. Queues at T0→NIC \
             are incast at the receiver; queues at T0→T1 or T1→T0 are collisions inside the \
             fabric, which spraying over many paths should keep short.",
        );
    }
    h.push_str("</section>\n");
    Ok(())
}

fn workload_section(h: &mut String, runs: &[RunV<'_>]) -> Result<(), String> {
    let labels: Vec<String> = runs.iter().map(|r| r.label.clone()).collect();
    // Collectives: completion time per collective and run.
    let mut names: Vec<String> = Vec::new();
    for r in runs {
        for c in r.r.collectives.iter().flatten() {
            if !names.contains(&c.name) && names.len() < 40 {
                names.push(c.name.clone());
            }
        }
    }
    let steps_max = runs
        .iter()
        .map(|r| r.r.job.as_ref().map_or(0, |j| j.step_times_us.len()))
        .max()
        .unwrap_or(0);
    if names.is_empty() && steps_max == 0 {
        return Ok(());
    }
    section_head(h, "workload", "Collectives and training steps");
    if !names.is_empty() {
        let groups: Vec<BarGroup> = names
            .iter()
            .map(|n| BarGroup {
                name: n.clone(),
                values: runs
                    .iter()
                    .map(|r| {
                        r.r.collectives
                            .iter()
                            .flatten()
                            .find(|c| c.name == *n)
                            .and_then(|c| c.completion_us)
                    })
                    .collect(),
            })
            .collect();
        let svg = plots::bars(
            "Collective completion time",
            "completion (µs)",
            &groups,
            &labels,
        )?;
        figure(
            h,
            "Collective completion time per transport",
            &svg,
            "one group of bars per collective, one bar per transport; shorter is better. A \
             missing bar is a collective that never finished.",
        );
    }
    if steps_max > 0 {
        let n = steps_max.min(60);
        let groups: Vec<BarGroup> = (0..n)
            .map(|s| BarGroup {
                name: format!("{}", s + 1),
                values: runs
                    .iter()
                    .map(|r| r.r.job.as_ref()?.step_times_us.get(s).copied())
                    .collect(),
            })
            .collect();
        let svg = plots::bars("Training step time", "step time (µs)", &groups, &labels)?;
        figure(
            h,
            "Training step time per transport",
            &svg,
            "one group per training step (x = step number), one bar per transport; a synchronous \
             job is as slow as its slowest transfer, so a tall bar is a step that waited on a \
             tail or a failure. Missing bars are steps that never ran (the job crashed or hung).",
        );
    }
    h.push_str("</section>\n");
    Ok(())
}
