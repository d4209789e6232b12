//! `--pcap-filter`: where `mrc sim --pcap` captures.
//!
//! ```text
//! nic:N          everything NIC N sends and receives
//! flow:N         what reaches the ends of flow N (index in the workload's flow list)
//! link:A-B       both directions of the cable between nodes A and B, where a node is
//!                nicN, or [pP.]tT.I = switch I of tier T (t0 = T0) in plane P (default 0)
//! ```

use mrc_sim::{TapNode, TapPoint};

/// Help text of the filter syntax (for error messages).
pub(crate) const SYNTAX: &str =
    "nic:N, flow:N or link:A-B with A, B = nicN or [pP.]tT.I (e.g. link:nic0-p1.t0.0)";

fn num(s: &str, what: &str) -> Result<u32, String> {
    s.parse()
        .map_err(|_| format!("`{s}` is not a {what} number"))
}

fn node(s: &str) -> Result<TapNode, String> {
    if let Some(n) = s.strip_prefix("nic") {
        return Ok(TapNode::Nic(num(n, "NIC")?));
    }
    let (plane, rest) = match s.strip_prefix('p') {
        Some(r) => {
            let (p, rest) = r
                .split_once('.')
                .ok_or_else(|| format!("`{s}`: expected pP.tT.I"))?;
            (num(p, "plane")?, rest)
        }
        None => (0, s),
    };
    let rest = rest
        .strip_prefix('t')
        .ok_or_else(|| format!("`{s}`: expected nicN or [pP.]tT.I"))?;
    let (tier, index) = rest
        .split_once('.')
        .ok_or_else(|| format!("`{s}`: expected [pP.]tT.I (tier, then switch index)"))?;
    Ok(TapNode::Switch {
        plane,
        tier: num(tier, "tier")?,
        index: num(index, "switch")?,
    })
}

/// Parses a filter (see the module docs).
pub(crate) fn parse(s: &str) -> Result<TapPoint, String> {
    let (kind, arg) = s
        .split_once(':')
        .ok_or_else(|| format!("expected {SYNTAX}"))?;
    match kind {
        "nic" => Ok(TapPoint::Nic(num(arg, "NIC")?)),
        "flow" => Ok(TapPoint::Flow(num(arg, "flow")?)),
        "link" => {
            let (a, b) = arg
                .split_once('-')
                .ok_or_else(|| format!("`{arg}`: expected A-B"))?;
            Ok(TapPoint::Link(node(a)?, node(b)?))
        }
        other => Err(format!("`{other}`: expected {SYNTAX}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        assert_eq!(parse("nic:3"), Ok(TapPoint::Nic(3)));
        assert_eq!(parse("flow:0"), Ok(TapPoint::Flow(0)));
        assert_eq!(
            parse("link:nic0-p1.t0.2"),
            Ok(TapPoint::Link(
                TapNode::Nic(0),
                TapNode::Switch {
                    plane: 1,
                    tier: 0,
                    index: 2
                }
            ))
        );
        assert_eq!(
            parse("link:t0.1-t1.3"),
            Ok(TapPoint::Link(
                TapNode::Switch {
                    plane: 0,
                    tier: 0,
                    index: 1
                },
                TapNode::Switch {
                    plane: 0,
                    tier: 1,
                    index: 3
                }
            ))
        );
        for bad in [
            "nic",
            "nic:x",
            "port:1",
            "link:nic0",
            "link:nic0-q1",
            "link:nic0-p1.t0",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
