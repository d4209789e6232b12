//! `--pcap-filter`: where `mrc sim --pcap` captures.
//!
//! ```text
//! nic:N          everything NIC N sends and receives
//! flow:N         what reaches the ends of flow N (index in the workload's flow list)
//! link:A-B       both directions of the cable between nodes A and B, where a node is
//!                nicN, or [pP.]tT.I = switch I of tier T (t0 = T0) in plane P (default 0)
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mrc_sim::{Sim, TapError, TapNode, TapPoint, TransportFactory};

use crate::bad_input;

/// A capture asked for on the command line: `--pcap FILE [--pcap-filter F]`.
#[derive(Clone, Debug)]
pub(crate) struct Capture {
    /// Where to capture.
    pub(crate) point: TapPoint,
    /// `--pcap FILE`.
    pub(crate) path: PathBuf,
    /// The filter as given (for messages).
    pub(crate) filter: String,
    /// Several runs: each writes `FILE` with its label inserted (`trace-mrc.pcap`).
    pub(crate) per_run: bool,
}

impl Capture {
    /// From the flags (`nic:0` when no filter is given).
    pub(crate) fn from_flags(path: Option<&Path>, filter: Option<&str>) -> Result<Option<Self>> {
        let Some(path) = path else {
            if let Some(f) = filter {
                bad_input!("--pcap-filter {f}: needs --pcap FILE");
            }
            return Ok(None);
        };
        let filter = filter.unwrap_or("nic:0").to_string();
        let point = match parse(&filter) {
            Ok(p) => p,
            Err(e) => bad_input!("--pcap-filter {filter}: {e}"),
        };
        Ok(Some(Self {
            point,
            path: path.to_path_buf(),
            filter,
            per_run: false,
        }))
    }

    /// The file of the run labelled `label`.
    pub(crate) fn file_for(&self, label: &str) -> PathBuf {
        if !self.per_run {
            return self.path.clone();
        }
        let stem = self
            .path
            .file_stem()
            .map_or_else(|| "trace".into(), |s| s.to_string_lossy().into_owned());
        let ext = self
            .path
            .extension()
            .map_or_else(|| "pcap".into(), |s| s.to_string_lossy().into_owned());
        let clean: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        self.path.with_file_name(format!("{stem}-{clean}.{ext}"))
    }

    /// Starts capturing on `sim` into a temporary file (renamed by [`Pending::commit`]).
    pub(crate) fn start<F: TransportFactory>(
        &self,
        sim: &mut Sim<F>,
        label: &str,
    ) -> Result<Pending> {
        let path = self.file_for(label);
        let tmp = crate::output::tmp_path(&path);
        let file = std::fs::File::create(&tmp).map_err(|e| {
            crate::BadInput(format!("--pcap {}: cannot create: {e}", path.display()))
        })?;
        let out = Box::new(std::io::BufWriter::with_capacity(1 << 20, file));
        match sim.set_tap(self.point, out) {
            Ok(()) => {}
            Err(TapError::NoSuchPoint(m)) => {
                let _ = std::fs::remove_file(&tmp);
                bad_input!(
                    "--pcap-filter {}: {m} (run {label}; pick runs with --transport)",
                    self.filter
                )
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e).with_context(|| format!("writing {}", tmp.display()));
            }
        }
        Ok(Pending {
            tmp,
            path,
            packets: 0,
        })
    }
}

/// A capture written to its temporary file, waiting for every run to succeed.
#[derive(Debug)]
pub(crate) struct Pending {
    tmp: PathBuf,
    /// Final path.
    pub(crate) path: PathBuf,
    /// Packets written.
    pub(crate) packets: u64,
}

impl Pending {
    /// Closes the capture of `sim` (flushes the file).
    pub(crate) fn finish<F: TransportFactory>(mut self, sim: &mut Sim<F>) -> Result<Self> {
        match sim.take_tap() {
            Some(Ok(n)) => self.packets = n,
            Some(Err(e)) => {
                let _ = std::fs::remove_file(&self.tmp);
                return Err(e).with_context(|| format!("writing {}", self.tmp.display()));
            }
            None => {}
        }
        Ok(self)
    }

    /// Renames the temporary file into place.
    pub(crate) fn commit(&self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("renaming to {}", self.path.display()))
    }

    /// Removes the temporary file (a later run failed).
    pub(crate) fn discard(&self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

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
