//! Quantities written as strings, one parser each for scenario files and command-line flags:
//! times ("10us"), rates ("100Gbps"), sizes ("2MB" = 2 x 10^6 B, "2MiB" = 2 x 2^20 B,
//! everywhere) and probabilities ("0.1%"). They live here, not in the CLI, because the failure
//! kinds' own fields (`crate::failure`) are read with them straight from a scenario file.

use serde::Deserialize;

/// Splits a number from its unit; None unless the number is finite and at least 0.
pub fn split_num(s: &str) -> Option<(f64, &str)> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(s.len());
    let num: String = s[..end].chars().filter(|c| *c != '_').collect();
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some((v, s[end..].trim()))
}

/// The number in `s` times the factor of its unit in `units`; None for a unit not listed.
fn scaled(s: &str, units: &[(&str, f64)]) -> Option<f64> {
    let (v, unit) = split_num(s)?;
    let &(_, mul) = units.iter().find(|(u, _)| *u == unit)?;
    Some(v * mul)
}

/// A duration written as `"10us"`, `"2s"`, `"500ns"`, `"1.5ms"`, `"100ps"`; stored in ps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeStr(pub u64);

impl TimeStr {
    /// Reads a time; `None` unless it has a unit and fits (below 2⁶⁴ ps).
    pub fn parse(s: &str) -> Option<Self> {
        let units = [
            ("ps", 1.0),
            ("ns", 1e3),
            ("us", 1e6),
            ("µs", 1e6),
            ("ms", 1e9),
            ("s", 1e12),
            ("min", 60e12),
        ];
        let ps = scaled(s, &units)?.round();
        // Beyond u64 (~213 days) would saturate silently.
        (ps < U64_LIMIT).then_some(Self(ps as u64))
    }
}

/// 2⁶⁴ as an `f64`: the first value a `u64` cannot hold.
const U64_LIMIT: f64 = 18_446_744_073_709_551_616.0;

/// A rate written as `"100Gbps"`, `"800G"`, `"51.2Tbps"`; stored in Gb/s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateStr(pub u32);

impl RateStr {
    /// Reads a rate; `None` unless it is a whole number of Gb/s from 1 to `u32::MAX`.
    pub fn parse(s: &str) -> Option<Self> {
        let units = [
            ("Gbps", 1.0),
            ("G", 1.0),
            ("Gb/s", 1.0),
            ("Tbps", 1e3),
            ("T", 1e3),
            ("Tb/s", 1e3),
        ];
        let g = scaled(s, &units)?;
        (g >= 1.0 && g.fract() == 0.0 && g <= f64::from(u32::MAX)).then_some(Self(g as u32))
    }
}

/// A rate written as `"40Mbps"`, `"5Mbps"`, `"1Gbps"`; stored in bits/s (DCQCN's rates,
/// finer than [`RateStr`]'s whole Gb/s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BpsStr(pub u64);

impl BpsStr {
    /// Reads a rate; `None` unless it is from 1 bit/s to 10 Tb/s.
    pub fn parse(s: &str) -> Option<Self> {
        let units = [
            ("Kbps", 1e3),
            ("Kb/s", 1e3),
            ("Mbps", 1e6),
            ("Mb/s", 1e6),
            ("Gbps", 1e9),
            ("Gb/s", 1e9),
        ];
        let b = scaled(s, &units)?.round();
        (1.0..=1e13).contains(&b).then_some(Self(b as u64))
    }
}

/// A size written as `"2MB"` (10⁶), `"4KiB"` (2¹⁰), `"4096B"` or `"4096"`; stored in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeStr(pub u64);

impl SizeStr {
    /// Reads a size; `None` unless it is a whole number of bytes below 2⁶⁴.
    pub fn parse(s: &str) -> Option<Self> {
        let units = [
            ("", 1.0),
            ("B", 1.0),
            ("KB", 1e3),
            ("kB", 1e3),
            ("MB", 1e6),
            ("GB", 1e9),
            ("KiB", 1024.0),
            ("MiB", 1024.0 * 1024.0),
            ("GiB", 1024.0 * 1024.0 * 1024.0),
        ];
        let b = scaled(s, &units)?;
        (b.fract() == 0.0 && b < U64_LIMIT).then_some(Self(b as u64))
    }
}

/// A probability written as `"0.1%"` or `"0.001"`; stored in parts per million.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbStr(pub u32);

impl ProbStr {
    /// Reads a probability; `None` unless it is between 0 and 1 (100%).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let v = if let Some(p) = s.strip_suffix('%') {
            p.trim().parse::<f64>().ok()? / 100.0
        } else {
            s.parse::<f64>().ok()?
        };
        (0.0..=1.0)
            .contains(&v)
            .then_some(Self((v * 1e6).round() as u32))
    }
}

macro_rules! unit_de {
    ($t:ty, $what:literal) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                <$t>::parse(&s).ok_or_else(|| {
                    serde::de::Error::custom(format!("invalid value `{s}`: expected {}", $what))
                })
            }
        }
    };
}
unit_de!(
    TimeStr,
    "a time like \"10us\", \"500ns\", \"2ms\" or \"1s\" (below 2^64 ps, ~213 days)"
);
unit_de!(RateStr, "a rate like \"100Gbps\", \"800G\" or \"51.2Tbps\"");
unit_de!(BpsStr, "a rate like \"40Mbps\" or \"1Gbps\"");
unit_de!(
    SizeStr,
    "a size like \"2MB\", \"4KiB\" or \"4096B\" (KB/MB/GB are powers of 10; below 2^64 B)"
);
unit_de!(ProbStr, "a probability like \"0.1%\" or \"0.001\"");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(TimeStr::parse("10us"), Some(TimeStr(10_000_000)));
        assert_eq!(TimeStr::parse("1.5ms"), Some(TimeStr(1_500_000_000)));
        assert_eq!(TimeStr::parse("10"), None);
        assert_eq!(RateStr::parse("51.2Tbps"), Some(RateStr(51_200)));
        assert_eq!(RateStr::parse("100G"), Some(RateStr(100)));
        assert_eq!(BpsStr::parse("40Mbps"), Some(BpsStr(40_000_000)));
        assert_eq!(BpsStr::parse("1.5Gbps"), Some(BpsStr(1_500_000_000)));
        assert_eq!(BpsStr::parse("40"), None);
        assert_eq!(SizeStr::parse("2MB"), Some(SizeStr(2_000_000)));
        assert_eq!(SizeStr::parse("4KiB"), Some(SizeStr(4096)));
        assert_eq!(ProbStr::parse("0.1%"), Some(ProbStr(1000)));
        assert_eq!(ProbStr::parse("2"), None);
    }
}
