//! The `timeline` of a run (what the report plots) and a JSON printer that keeps arrays of
//! numbers on one line.

use std::fmt::Write as _;

use mrc_sim::{Failure, FailureKind, RunReport, Target};
use serde::Serialize;
use serde_json::Value;

use crate::results::sim::{EvStates, FailureMark, LinkGroup, Timeline};

/// Most FCT points kept for the CDF (evenly spaced ranks, the maximum always included).
const FCT_POINTS: usize = 4096;

/// Human name of a failure's target.
pub(crate) fn failure_what(f: &Failure) -> String {
    let target = match f.target {
        Target::T0Uplink { plane, t0, uplink } => {
            format!("T0 {t0} uplink {uplink} (plane {plane})")
        }
        Target::Switch { plane, tier, index } => format!("T{tier} {index} (plane {plane})"),
        Target::NicLane { nic, plane } => format!("NIC {nic} lane {plane}"),
        Target::Plane { plane } => format!("plane {plane}"),
    };
    // A plain outage is the default and goes unnamed.
    if f.kind == FailureKind::Down {
        target
    } else {
        format!("{target} {}", f.kind.what())
    }
}

/// The `timeline` section of a run in `mrc sim --json`.
pub(crate) fn timeline(rep: &RunReport, failures: &[Failure]) -> Timeline {
    let tl = &rep.timeline;
    let bin_ps = tl.bin_ps.max(1);
    let links = tl
        .links
        .iter()
        .map(|g| LinkGroup {
            from_tier: g.from_tier,
            gbps: g.gbps,
            group: g.label(),
            plane: g.plane,
            ports: g.ports,
            queue_max_bytes: g.queue_max_bytes.clone(),
            to_tier: g.to_tier,
            util_permille: (0..tl.bins()).map(|b| g.util_permille(b, bin_ps)).collect(),
        })
        .collect();
    let marks = tl
        .failures
        .iter()
        .map(|m| FailureMark {
            at_ns: m.at_ps / 1000,
            change: m.change.to_string(),
            failure: m.failure,
            what: failures
                .get(m.failure as usize)
                .map(failure_what)
                .unwrap_or_default(),
        })
        .collect();
    let mut fcts: Vec<u64> = rep.fcts_ps.iter().flatten().map(|p| p / 1000).collect();
    fcts.sort_unstable();
    let n = fcts.len();
    let fct_ns: Vec<u64> = if n <= FCT_POINTS {
        fcts
    } else {
        (1..=FCT_POINTS)
            .map(|i| fcts[(i * n).div_ceil(FCT_POINTS) - 1])
            .collect()
    };
    Timeline {
        bin_ns: bin_ps / 1000,
        delivered_bytes: tl.delivered_bytes.clone(),
        ev_states: EvStates {
            assumed_bad: tl.ev_assumed_bad.clone(),
            good: tl.ev_good.clone(),
            skip: tl.ev_skip.clone(),
        },
        failures: marks,
        fct_finished: n as u64,
        fct_ns,
        fct_unfinished: (rep.fcts_ps.len() - n) as u64,
        links,
    }
}

/// Pretty JSON like `serde_json::to_string_pretty`, but arrays of numbers, booleans and nulls
/// stay on one line (timelines would otherwise take a line per bin). Keys come out sorted, as
/// everywhere in the JSON contract (`crate::results`).
pub(crate) fn to_text<T: Serialize>(doc: &T) -> serde_json::Result<String> {
    let v = serde_json::to_value(doc)?;
    let mut s = String::new();
    write_value(&mut s, &v, 0);
    s.push('\n');
    Ok(s)
}

fn scalar(v: &Value) -> bool {
    matches!(v, Value::Number(_) | Value::Bool(_) | Value::Null)
}

fn write_value(s: &mut String, v: &Value, indent: usize) {
    let pad = |s: &mut String, n: usize| s.extend(std::iter::repeat_n(' ', n));
    match v {
        Value::Array(a) if a.is_empty() => s.push_str("[]"),
        Value::Array(a) if a.iter().all(scalar) => {
            s.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                let _ = write!(s, "{x}");
            }
            s.push(']');
        }
        Value::Array(a) => {
            s.push_str("[\n");
            for (i, x) in a.iter().enumerate() {
                pad(s, indent + 2);
                write_value(s, x, indent + 2);
                s.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
            }
            pad(s, indent);
            s.push(']');
        }
        Value::Object(o) if o.is_empty() => s.push_str("{}"),
        Value::Object(o) => {
            s.push_str("{\n");
            for (i, (k, x)) in o.iter().enumerate() {
                pad(s, indent + 2);
                let _ = write!(s, "{}: ", Value::String(k.clone()));
                write_value(s, x, indent + 2);
                s.push_str(if i + 1 < o.len() { ",\n" } else { "\n" });
            }
            pad(s, indent);
            s.push('}');
        }
        other => {
            let _ = write!(s, "{other}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_arrays_round_trip() {
        let v = json!({"a": [1, 2, 3], "b": {"c": [true, null], "d": "x\"y"}, "e": [{"f": []}]});
        let t = to_text(&v).unwrap();
        assert!(t.contains("\"a\": [1, 2, 3]"), "{t}");
        let back: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
        assert_eq!(back, v);
    }
}
