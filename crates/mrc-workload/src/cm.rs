//! htsim connection-matrix (`.cm`) files (htsim `connection_matrix.cpp`).
//!
//! Header lines `Nodes N`, `Connections C`, optional `Triggers T` and `Failures F`; flow lines
//! `SRC->DST [id I] (start T | trigger ID) size BYTES [send_done_trigger ID]
//! [recv_done_trigger ID] [prio P]` with `start` in picoseconds (current htsim); trigger lines
//! `trigger id ID oneshot|multishot|barrier [count N]`. The header counts must match the lines.
//! Failure lines (`failure ...`) are counted and otherwise ignored.

use crate::traffic::{Flow, Trigger, TriggerKind};

/// A `.cm` file error: the 1-based line (0 = the whole file) and what was expected.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("line {line}: {msg}")]
pub struct CmError {
    /// 1-based line number; 0 when the error concerns the whole file (e.g. counts).
    pub line: usize,
    /// What was wrong and what was expected.
    pub msg: String,
}

/// A parsed connection matrix.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ConnMatrix {
    /// `Nodes N`.
    pub nodes: u32,
    /// Flows in file order.
    pub flows: Vec<Flow>,
    /// Triggers in file order.
    pub triggers: Vec<Trigger>,
    /// Failure lines seen (not modelled here).
    pub failures: u32,
}

fn err(line: usize, msg: impl Into<String>) -> CmError {
    CmError {
        line,
        msg: msg.into(),
    }
}

fn num<T: core::str::FromStr>(line: usize, what: &str, tok: Option<&str>) -> Result<T, CmError> {
    let tok = tok.ok_or_else(|| err(line, format!("missing value after `{what}`")))?;
    tok.parse().map_err(|_| {
        err(
            line,
            format!("`{what}` expects a non-negative integer, got `{tok}`"),
        )
    })
}

impl ConnMatrix {
    /// Parses the text of a `.cm` file.
    pub fn parse(text: &str) -> Result<Self, CmError> {
        let mut cm = Self::default();
        let (mut nodes, mut conns, mut trigs, mut fails) = (None, None, None, None);
        for (i, raw) in text.lines().enumerate() {
            let ln = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut toks = line.split_whitespace();
            let Some(first) = toks.next() else { continue };
            match first {
                "Nodes" => nodes = Some(num::<u32>(ln, "Nodes", toks.next())?),
                "Connections" => conns = Some(num::<usize>(ln, "Connections", toks.next())?),
                "Triggers" => trigs = Some(num::<usize>(ln, "Triggers", toks.next())?),
                "Failures" => fails = Some(num::<u32>(ln, "Failures", toks.next())?),
                "trigger" => {
                    let t = parse_trigger(ln, toks)?;
                    if cm.triggers.iter().any(|u| u.id == t.id) {
                        return Err(err(ln, format!("trigger id {} declared twice", t.id)));
                    }
                    cm.triggers.push(t);
                }
                "failure" => cm.failures += 1,
                _ if first.contains("->") => {
                    let n = nodes.ok_or_else(|| err(ln, "flow before the `Nodes N` line"))?;
                    cm.flows
                        .push(parse_flow(ln, first, toks, n, cm.flows.len())?);
                }
                _ => {
                    return Err(err(
                        ln,
                        format!(
                            "unknown line starting with `{first}`: expected `Nodes`, \
                             `Connections`, `Triggers`, `Failures`, `trigger` or `SRC->DST`"
                        ),
                    ));
                }
            }
        }
        cm.nodes = nodes.ok_or_else(|| err(0, "missing `Nodes N` header"))?;
        let conns = conns.ok_or_else(|| err(0, "missing `Connections C` header"))?;
        if conns != cm.flows.len() {
            return Err(err(
                0,
                format!(
                    "header says `Connections {conns}` but the file has {} flow lines",
                    cm.flows.len()
                ),
            ));
        }
        if let Some(t) = trigs
            && t != cm.triggers.len()
        {
            return Err(err(
                0,
                format!(
                    "header says `Triggers {t}` but the file has {} trigger lines",
                    cm.triggers.len()
                ),
            ));
        }
        if let Some(f) = fails
            && f != cm.failures
        {
            return Err(err(
                0,
                format!(
                    "header says `Failures {f}` but the file has {} failure lines",
                    cm.failures
                ),
            ));
        }
        // Triggers referenced by flows must exist (or be implicitly oneshot when undeclared and
        // the file declares no triggers at all — htsim creates them on demand).
        let declared = |id: u32| cm.triggers.iter().any(|t| t.id == id);
        let mut implicit = Vec::new();
        for f in &cm.flows {
            for id in [f.trigger, f.send_done_trigger, f.recv_done_trigger]
                .into_iter()
                .flatten()
            {
                if !declared(id) && !implicit.contains(&id) {
                    implicit.push(id);
                }
            }
        }
        implicit.sort_unstable();
        cm.triggers.extend(implicit.into_iter().map(|id| Trigger {
            id,
            kind: TriggerKind::Oneshot,
        }));
        Ok(cm)
    }
}

fn parse_trigger<'a>(
    ln: usize,
    mut toks: impl Iterator<Item = &'a str>,
) -> Result<Trigger, CmError> {
    if toks.next() != Some("id") {
        return Err(err(
            ln,
            "expected `trigger id ID oneshot|multishot|barrier [count N]`",
        ));
    }
    let id = num::<u32>(ln, "id", toks.next())?;
    let kind = match toks.next() {
        Some("oneshot") => TriggerKind::Oneshot,
        Some("multishot") => TriggerKind::Multishot,
        Some("barrier") => {
            if toks.next() != Some("count") {
                return Err(err(ln, "a barrier trigger expects `count N`"));
            }
            let count = num::<u32>(ln, "count", toks.next())?;
            if count == 0 {
                return Err(err(ln, "a barrier expects `count N` with N ≥ 1, got 0"));
            }
            TriggerKind::Barrier { count }
        }
        other => {
            return Err(err(
                ln,
                format!(
                    "trigger type expects oneshot, multishot or barrier, got `{}`",
                    other.unwrap_or("")
                ),
            ));
        }
    };
    Ok(Trigger { id, kind })
}

fn parse_flow<'a>(
    ln: usize,
    pair: &str,
    mut toks: impl Iterator<Item = &'a str>,
    nodes: u32,
    index: usize,
) -> Result<Flow, CmError> {
    let (s, d) = pair
        .split_once("->")
        .ok_or_else(|| err(ln, "expected SRC->DST"))?;
    let src = num::<u32>(ln, "SRC", Some(s))?;
    let dst = num::<u32>(ln, "DST", Some(d))?;
    for (what, v) in [("SRC", src), ("DST", dst)] {
        if v >= nodes {
            return Err(err(
                ln,
                format!("{what} {v} is not a node: expected < Nodes {nodes}"),
            ));
        }
    }
    if src == dst {
        return Err(err(ln, format!("SRC and DST are the same node {src}")));
    }
    let mut flow = Flow::new(index as u64 + 1, src, dst, 0, 0);
    let (mut have_start, mut have_size) = (false, false);
    while let Some(key) = toks.next() {
        match key {
            "id" => flow.id = num(ln, key, toks.next())?,
            "start" => {
                flow.start_ps = num(ln, key, toks.next())?;
                have_start = true;
            }
            "trigger" => {
                flow.trigger = Some(num(ln, key, toks.next())?);
                have_start = true;
            }
            "size" => {
                flow.bytes = num(ln, key, toks.next())?;
                have_size = true;
            }
            "send_done_trigger" => flow.send_done_trigger = Some(num(ln, key, toks.next())?),
            "recv_done_trigger" => flow.recv_done_trigger = Some(num(ln, key, toks.next())?),
            "prio" => {
                let _: u32 = num(ln, key, toks.next())?;
            }
            other => {
                return Err(err(
                    ln,
                    format!(
                        "unknown flow attribute `{other}`: expected id, start, trigger, size, \
                         send_done_trigger, recv_done_trigger or prio"
                    ),
                ));
            }
        }
    }
    if !have_start {
        return Err(err(ln, "flow needs `start T` or `trigger ID`"));
    }
    if !have_size {
        return Err(err(ln, "flow needs `size BYTES`"));
    }
    Ok(flow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_triggers_and_counts() {
        let t = "Nodes 4\nConnections 2\nTriggers 1\n\
                 trigger id 1 barrier count 1\n\
                 0->1 id 1 start 0 size 100 send_done_trigger 1\n\
                 1->2 id 2 trigger 1 size 200 recv_done_trigger 2\n";
        let cm = ConnMatrix::parse(t).unwrap();
        assert_eq!(cm.nodes, 4);
        assert_eq!(cm.flows.len(), 2);
        assert_eq!(cm.flows[1].trigger, Some(1));
        // trigger 2 is referenced but not declared: implicit oneshot.
        assert_eq!(cm.triggers.len(), 2);
    }

    #[test]
    fn meaningless_lines_name_their_line() {
        let bad = [
            ("Nodes 4\nConnections 1\n2->2 start 0 size 5\n", 3),
            ("Nodes 4\nConnections 0\ntrigger id 1 barrier count 0\n", 3),
            (
                "Nodes 4\nConnections 0\ntrigger id 1 oneshot\ntrigger id 1 multishot\n",
                4,
            ),
        ];
        for (text, line) in bad {
            assert_eq!(ConnMatrix::parse(text).unwrap_err().line, line, "{text}");
        }
    }

    #[test]
    fn bad_counts_and_lines() {
        let e = ConnMatrix::parse("Nodes 4\nConnections 2\n0->1 start 0 size 5\n").unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.msg.contains("Connections 2"));
        let e = ConnMatrix::parse("Nodes 4\nConnections 1\n0->9 start 0 size 5\n").unwrap_err();
        assert_eq!(e.line, 3);
        let e = ConnMatrix::parse("Nodes 4\nConnections 1\n0->1 start x size 5\n").unwrap_err();
        assert!(e.msg.contains("start"));
    }

    #[test]
    fn shipped_samples_parse() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/data");
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "cm") {
                let cm = ConnMatrix::parse(&std::fs::read_to_string(&p).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                assert!(!cm.flows.is_empty());
            }
        }
    }
}
