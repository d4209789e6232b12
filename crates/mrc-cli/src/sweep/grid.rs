//! A sweep file and its grid: the axes, checked, and one loaded scenario per point.
//!
//! A point is the base scenario's TOML tree with each axis's value written at its path, then
//! read by the ordinary scenario parser: every scenario field can be an axis, and a bad value
//! gets the parser's own message plus the axis that put it there.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;
use serde_json::Value;
use toml::Value as Toml;

use crate::bad_input;
use crate::scenario::{self, Loaded};

/// A sweep file, read and expanded.
pub(super) struct Grid {
    pub(super) name: String,
    pub(super) description: String,
    /// `base` as written, when the scenario is a file of its own.
    pub(super) base: Option<String>,
    /// The path the scenario's messages and relative files go by.
    pub(super) base_path: PathBuf,
    pub(super) axes: Vec<Axis>,
    pub(super) points: Vec<Point>,
}

/// Reads the sweep file `spec` (`file` = its name in messages) and loads every point.
pub(super) fn load(spec: &Path, file: &str) -> Result<Grid> {
    let text = std::fs::read_to_string(spec)
        .map_err(|e| crate::BadInput(format!("{file}: cannot read: {e}")))?;
    let cfg: SweepCfg = match toml::from_str(&text) {
        Ok(c) => c,
        Err(e) => bad_input!("{file}: {}", e.to_string().trim_end()),
    };
    let (base, base_path) = base_scenario(&cfg, spec, file)?;
    let axes = axes(&cfg, file)?;
    let points = expand(&base, &base_path, &axes, file)?;
    let name = cfg.name.clone().unwrap_or_else(|| {
        spec.file_stem()
            .map_or_else(|| "sweep".into(), |s| s.to_string_lossy().into_owned())
    });
    Ok(Grid {
        name,
        description: cfg.description,
        base: cfg.base,
        base_path,
        axes,
        points,
    })
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
pub(super) struct Axis {
    /// The first field (the axis's name in tables, plots and JSON).
    pub(super) path: String,
    /// Every field, as written and parsed.
    steps: Vec<(String, Vec<Step>)>,
    pub(super) values: Vec<Toml>,
}

/// One segment of an axis path: a table key or an array index.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// One grid point: an index per axis and its scenario.
pub(super) struct Point {
    pub(super) at: Vec<usize>,
    pub(super) sc: Loaded,
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
pub(super) fn point_label(axes: &[Axis], at: &[usize]) -> String {
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
