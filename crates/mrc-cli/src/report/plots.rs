//! The report's plots: plotters' SVG backend rendered into strings (text stays `<text>`
//! elements with a generic font family, so no font file is needed).

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

/// Width of every plot, px.
pub(crate) const WIDTH: u32 = 1100;

/// Run colours (colour-blind-safe Okabe–Ito order).
pub(crate) const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
    RGBColor(240, 228, 66),
];

const FAILURE: RGBColor = RGBColor(200, 0, 0);
const FONT: &str = "sans-serif";

/// Colour of run `i`.
pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// `#rrggbb` of run `i` (for the HTML legend swatches).
pub(crate) fn css_color(i: usize) -> String {
    let c = color(i);
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

type Res<T> = Result<T, String>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("plot: {e:?}")
}

fn svg(
    height: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Res<()>,
) -> Res<String> {
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(s)
}

/// A time axis unit that keeps tick labels short.
#[derive(Clone, Copy)]
pub(crate) struct TimeUnit {
    /// Nanoseconds per unit.
    pub(crate) ns: f64,
    /// Its name.
    pub(crate) name: &'static str,
}

/// The unit for an axis ending at `end_ns`.
pub(crate) fn time_unit(end_ns: f64) -> TimeUnit {
    if end_ns >= 20e6 {
        TimeUnit {
            ns: 1e6,
            name: "ms",
        }
    } else {
        TimeUnit {
            ns: 1e3,
            name: "µs",
        }
    }
}

/// One run's flow completion times (sorted, ns) for the CDF.
pub(crate) struct FctSeries {
    /// Legend text.
    pub(crate) label: String,
    /// Colour index.
    pub(crate) color: usize,
    /// Sorted FCTs (a sample of evenly spaced ranks when there were many flows), ns.
    pub(crate) fct_ns: Vec<u64>,
}

fn nines(p: f64) -> f64 {
    -(1.0 - p).max(1e-9).log10()
}

fn nines_label(y: f64) -> String {
    let r = y.round();
    if (y - r).abs() > 1e-6 || r < 0.0 {
        return String::new();
    }
    match r as i32 {
        0 => "0 %".into(),
        1 => "90 %".into(),
        2 => "99 %".into(),
        k => format!("99.{} %", "9".repeat(k as usize - 2)),
    }
}

/// FCT CDF, every run on one chart: x log-scale FCT, y in "nines" so the tail has room.
pub(crate) fn fct_cdf(series: &[FctSeries]) -> Res<String> {
    let all = series.iter().flat_map(|s| s.fct_ns.iter().copied());
    let lo = all.clone().filter(|&v| v > 0).min().unwrap_or(1) as f64 / 1e3;
    let hi = all.max().unwrap_or(1) as f64 / 1e3;
    let (lo, hi) = (lo * 0.8, (hi * 1.25).max(lo * 2.0));
    let m = series
        .iter()
        .map(|s| s.fct_ns.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let ymax = (m as f64).log10().ceil().max(1.0);
    svg(460, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(90)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("flow completion time (µs, log scale)")
            .y_desc("fraction of flows done")
            .y_labels(ymax as usize * 2 + 1)
            .y_label_formatter(&|y| nines_label(*y))
            .x_label_formatter(&|x| format_num(*x))
            .label_style((FONT, 19))
            .axis_desc_style((FONT, 20))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        for s in series {
            let n = s.fct_ns.len();
            if n == 0 {
                continue;
            }
            let c = color(s.color);
            let pts: Vec<(f64, f64)> = s
                .fct_ns
                .iter()
                .enumerate()
                .map(|(i, &v)| ((v as f64 / 1e3).max(lo), nines(i as f64 / n as f64)))
                .collect();
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(3)))
                .map_err(err)?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, 19))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(err)?;
        Ok(())
    })
}

/// Short number for tick labels.
pub(crate) fn format_num(x: f64) -> String {
    let a = x.abs();
    if a >= 1e6 {
        format!("{:.0}M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if a >= 100.0 || (x - x.round()).abs() < 1e-9 {
        format!("{x:.0}")
    } else if a >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// A failure action to mark on a time axis.
pub(crate) struct Mark {
    /// When, ns.
    pub(crate) at_ns: f64,
    /// Short text.
    pub(crate) text: String,
}

/// One run's line on a time chart.
pub(crate) struct TimeSeries {
    /// Legend text.
    pub(crate) label: String,
    /// Colour (index into the palette, or a fixed colour).
    pub(crate) color: RGBColor,
    /// (time ns, value) points.
    pub(crate) points: Vec<(f64, f64)>,
}

/// A line chart over time with failure marks; `log_y` plots on a log axis from 1.
pub(crate) fn time_chart(
    title: &str,
    y_desc: &str,
    series: &[TimeSeries],
    marks: &[Mark],
    end_ns: f64,
    log_y: bool,
) -> Res<String> {
    let unit = time_unit(end_ns);
    let xmax = (end_ns / unit.ns).max(1e-3);
    let ymax = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0f64, f64::max);
    svg(300, |root| {
        let root = root.titled(title, (FONT, 22)).map_err(err)?;
        let axes = TimeAxes {
            xmax,
            x_desc: format!("simulated time ({})", unit.name),
            y_desc,
            unit_ns: unit.ns,
        };
        if log_y {
            // Values below the floor would vanish on a log axis: clamp them to it.
            let top = (ymax * 2.0).max(10.0);
            let y = (0.8f64..top).log_scale();
            draw_time_lines(&root, &axes, y, (0.8, top, top / 1.6), series, marks)
        } else {
            let top = (ymax * 1.15).max(1e-3);
            draw_time_lines(
                &root,
                &axes,
                0f64..top,
                (0.0, top, top * 0.97),
                series,
                marks,
            )
        }
    })
}

/// The x axis (time) and the y-axis label of a [`time_chart`].
struct TimeAxes<'a> {
    xmax: f64,
    x_desc: String,
    y_desc: &'a str,
    unit_ns: f64,
}

/// Draws a [`time_chart`] on the y coordinate `y` (linear or log); `(floor, top, label_y)` are the
/// lowest value drawn, the top of the axis and the height of the failure labels.
fn draw_time_lines<Y>(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    axes: &TimeAxes<'_>,
    y: Y,
    (floor, top, label_y): (f64, f64, f64),
    series: &[TimeSeries],
    marks: &[Mark],
) -> Res<()>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(root)
        .margin(10)
        .x_label_area_size(44)
        .y_label_area_size(90)
        .build_cartesian_2d(0f64..axes.xmax, y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(axes.x_desc.as_str())
        .y_desc(axes.y_desc)
        .x_label_formatter(&|x| format_num(*x))
        .y_label_formatter(&|y| format_num(*y))
        .label_style((FONT, 18))
        .axis_desc_style((FONT, 19))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    for s in series {
        let c = s.color;
        let pts = s
            .points
            .iter()
            .map(|&(t, v)| (t / axes.unit_ns, v.max(floor)));
        chart
            .draw_series(LineSeries::new(pts, c.stroke_width(2)))
            .map_err(err)?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3)));
    }
    for m in marks {
        let x = m.at_ns / axes.unit_ns;
        chart
            .draw_series(LineSeries::new(
                [(x, floor), (x, top)],
                FAILURE.stroke_width(2),
            ))
            .map_err(err)?;
        chart
            .draw_series([Text::new(
                format!(" {}", m.text),
                (x, label_y),
                (FONT, 17).into_font().color(&FAILURE),
            )])
            .map_err(err)?;
    }
    legend(&mut chart)
}

fn legend<'a, X, Y>(chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>) -> Res<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 18))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(err)
}

/// A heatmap row.
pub(crate) struct HeatRow {
    /// Row label.
    pub(crate) label: String,
    /// One value per column in 0..=1.
    pub(crate) cells: Vec<f64>,
}

/// Utilisation colour scale: near-white → blue → dark purple.
fn heat(v: f64) -> RGBColor {
    const STOPS: [(f64, (f64, f64, f64)); 5] = [
        (0.0, (247.0, 247.0, 247.0)),
        (0.25, (198.0, 219.0, 239.0)),
        (0.5, (107.0, 174.0, 214.0)),
        (0.75, (33.0, 113.0, 181.0)),
        (1.0, (63.0, 0.0, 125.0)),
    ];
    let v = v.clamp(0.0, 1.0);
    let mut k = 0;
    while k + 2 < STOPS.len() && v > STOPS[k + 1].0 {
        k += 1;
    }
    let (a, ca) = STOPS[k];
    let (b, cb) = STOPS[k + 1];
    let t = ((v - a) / (b - a)).clamp(0.0, 1.0);
    let mix = |x: f64, y: f64| (x + (y - x) * t).round() as u8;
    RGBColor(mix(ca.0, cb.0), mix(ca.1, cb.1), mix(ca.2, cb.2))
}

/// Heatmap: rows (link groups) × time columns, colour = utilisation; failure marks on top.
pub(crate) fn heatmap(title: &str, rows: &[HeatRow], col_ns: f64, marks: &[Mark]) -> Res<String> {
    let cols = rows.iter().map(|r| r.cells.len()).max().unwrap_or(0).max(1);
    let end_ns = cols as f64 * col_ns;
    let unit = time_unit(end_ns);
    let xmax = end_ns / unit.ns;
    let n = rows.len().max(1);
    let row_px = if n > 24 { 19 } else { 28 };
    let height = (n as u32) * row_px + 120;
    svg(height, |root| {
        let root = root.titled(title, (FONT, 22)).map_err(err)?;
        let (main, bar) = root.split_horizontally(WIDTH - 110);
        let mut chart = ChartBuilder::on(&main)
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(130)
            .build_cartesian_2d(0f64..xmax, -0.5f64..(n as f64 - 0.5))
            .map_err(err)?;
        let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(format!("simulated time ({})", unit.name))
            .y_labels(n)
            .y_label_formatter(&|y| {
                let r = y.round();
                if (y - r).abs() > 1e-6 || r < 0.0 {
                    return String::new();
                }
                // Row 0 at the top.
                labels.get(n - 1 - r as usize).cloned().unwrap_or_default()
            })
            .x_label_formatter(&|x| format_num(*x))
            .label_style((FONT, if n > 24 { 15 } else { 17 }))
            .axis_desc_style((FONT, 19))
            .draw()
            .map_err(err)?;
        let w = col_ns / unit.ns;
        chart
            .draw_series(rows.iter().enumerate().flat_map(|(i, r)| {
                let y = (n - 1 - i) as f64;
                r.cells.iter().enumerate().map(move |(j, &v)| {
                    let x = j as f64 * w;
                    Rectangle::new([(x, y - 0.5), (x + w, y + 0.5)], heat(v).filled())
                })
            }))
            .map_err(err)?;
        for m in marks {
            let x = m.at_ns / unit.ns;
            chart
                .draw_series(LineSeries::new(
                    [(x, -0.5), (x, n as f64 - 0.5)],
                    FAILURE.stroke_width(2),
                ))
                .map_err(err)?;
        }
        // Colour bar.
        let mut cb = ChartBuilder::on(&bar)
            .margin_top(20)
            .margin_bottom(54)
            .margin_right(10)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..1.0, 0f64..100.0)
            .map_err(err)?;
        cb.configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_labels(6)
            .y_label_formatter(&|y| format!("{y:.0} %"))
            .label_style((FONT, 17))
            .draw()
            .map_err(err)?;
        cb.draw_series((0..50).map(|k| {
            let a = f64::from(k) * 2.0;
            Rectangle::new([(0.0, a), (1.0, a + 2.0)], heat(a / 100.0).filled())
        }))
        .map_err(err)?;
        Ok(())
    })
}

/// A group of bars (one per run) for one category.
pub(crate) struct BarGroup {
    /// Category name.
    pub(crate) name: String,
    /// One value per run (`None` = did not finish).
    pub(crate) values: Vec<Option<f64>>,
}

/// Grouped bars: categories on x, one coloured bar per run.
pub(crate) fn bars(title: &str, y_desc: &str, groups: &[BarGroup], runs: &[String]) -> Res<String> {
    let n = groups.len().max(1);
    let k = runs.len().max(1);
    let ymax = groups
        .iter()
        .flat_map(|g| g.values.iter().flatten().copied())
        .fold(0f64, f64::max)
        .max(1e-3)
        * 1.15;
    svg(380, |root| {
        let root = root.titled(title, (FONT, 22)).map_err(err)?;
        let names: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.min(40))
            .x_label_formatter(&|x| {
                let r = x.round();
                if (x - r).abs() > 1e-6 || r < 0.0 {
                    return String::new();
                }
                names.get(r as usize).cloned().unwrap_or_default()
            })
            .y_desc(y_desc)
            .y_label_formatter(&|y| format_num(*y))
            .label_style((FONT, 17))
            .axis_desc_style((FONT, 19))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        let w = 0.8 / k as f64;
        for (j, run) in runs.iter().enumerate() {
            let c = color(j);
            chart
                .draw_series(groups.iter().enumerate().filter_map(|(i, g)| {
                    let v = g.values.get(j).copied().flatten()?;
                    let x = i as f64 - 0.4 + j as f64 * w;
                    Some(Rectangle::new([(x, 0.0), (x + w * 0.92, v)], c.filled()))
                }))
                .map_err(err)?
                .label(run.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()));
        }
        legend(&mut chart)?;
        Ok(())
    })
}

/// One line of an [`xy_chart`].
pub(crate) struct XySeries {
    /// Legend text.
    pub(crate) label: String,
    /// Colour index.
    pub(crate) color: usize,
    /// (grid position, y) points; a missing y leaves a gap.
    pub(crate) points: Vec<(usize, Option<f64>)>,
}

/// Lines of y against the grid positions 0, 1, … labelled `x_ticks`, with a dot on every point
/// (a sweep: few points, each a run). The legend goes under the plot, one line per row: a
/// sweep can have more lines than fit beside the data.
pub(crate) fn xy_chart(
    x_desc: &str,
    y_desc: &str,
    series: &[XySeries],
    x_ticks: &[String],
) -> Res<String> {
    let ymax = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| p.1))
        .fold(0f64, f64::max);
    let top = (ymax * 1.15).max(1e-3);
    let n = x_ticks.len().max(1);
    const PLOT: u32 = 420;
    const ROW: u32 = 26;
    let named: Vec<&XySeries> = series
        .iter()
        .filter(|s| s.points.iter().any(|p| p.1.is_some()))
        .collect();
    let rows = u32::try_from(named.len()).unwrap_or(u32::MAX);
    svg(PLOT + ROW * rows + 8, |root| {
        let (plot, below) = root.split_vertically(PLOT);
        let mut chart = ChartBuilder::on(&plot)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(90)
            // An integer range holds its end: 0..n - 1 is n segments, one per tick.
            .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_labels(n)
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => x_ticks.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .y_label_formatter(&|y| format_num(*y))
            .label_style((FONT, 18))
            .axis_desc_style((FONT, 19))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        for s in series {
            let c = color(s.color);
            // A gap (no figure) splits the line.
            let mut segs: Vec<Vec<(SegmentValue<usize>, f64)>> = vec![Vec::new()];
            for &(x, y) in &s.points {
                match y {
                    Some(y) => segs
                        .last_mut()
                        .map_or((), |v| v.push((SegmentValue::CenterOf(x), y))),
                    None => segs.push(Vec::new()),
                }
            }
            for seg in &segs {
                chart
                    .draw_series(LineSeries::new(seg.clone(), c.stroke_width(3)))
                    .map_err(err)?;
                chart
                    .draw_series(seg.iter().map(|p| Circle::new(p.clone(), 5, c.filled())))
                    .map_err(err)?;
            }
        }
        // Rows start where the plot does (margin 16 + y-label area 90).
        for (i, s) in (0i32..).zip(&named) {
            let c = color(s.color);
            let y = i * ROW as i32 + ROW as i32 / 2;
            below
                .draw(&PathElement::new([(106, y), (136, y)], c.stroke_width(3)))
                .map_err(err)?;
            below
                .draw(&Circle::new((121, y), 5, c.filled()))
                .map_err(err)?;
            below
                .draw(&Text::new(s.label.clone(), (146, y - 10), (FONT, 18)))
                .map_err(err)?;
        }
        Ok(())
    })
}
