//! Sizes given as command-line flags: the scenario units (`mrc_sim::units`), read more strictly.

use mrc_sim::units::{SizeStr, split_num};

/// A size given to command-line `flag`: positive, with a unit whose meaning is explicit (a bare
/// `M` could mean 10⁶ or 2²⁰, so it is refused rather than guessed).
pub(crate) fn size_flag(flag: &str, s: &str) -> anyhow::Result<u64> {
    if let Some((v, unit)) = split_num(s) {
        let pow = match unit {
            "K" | "k" => Some((10, 3)),
            "M" => Some((20, 6)),
            "G" => Some((30, 9)),
            _ => None,
        };
        if let Some((two, ten)) = pow {
            let u = unit.to_ascii_uppercase();
            crate::bad_input!(
                "{flag} {s}: ambiguous unit `{unit}`: write {v}{u}iB (2^{two} B) or {v}{u}B (10^{ten} B)"
            );
        }
        if SizeStr::parse(&format!("1{unit}")).is_some() && SizeStr::parse(s).is_none() && v >= 1.0
        {
            crate::bad_input!("{flag} {s}: expected at most 2^64 − 1 bytes");
        }
    }
    match SizeStr::parse(s) {
        Some(SizeStr(b)) if b > 0 => Ok(b),
        _ => crate::bad_input!(
            "{flag} {s}: expected a positive size like 64MiB (2^20 B), 64MB (10^6 B) or 4096"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_sizes_use_the_same_units_and_refuse_ambiguous_ones() {
        assert_eq!(size_flag("--bytes", "64MiB").unwrap(), 64 << 20);
        assert_eq!(size_flag("--bytes", "64MB").unwrap(), 64_000_000);
        assert_eq!(size_flag("--bytes", "4096").unwrap(), 4096);
        let e = size_flag("--bytes", "64M").unwrap_err().to_string();
        assert!(e.contains("64MiB") && e.contains("64MB"), "{e}");
        let e = size_flag("--bytes", "17179869185GiB")
            .unwrap_err()
            .to_string();
        assert!(e.contains("2^64"), "{e}");
        assert!(size_flag("--bytes", "0").is_err());
        assert!(size_flag("--bytes", "lots").is_err());
    }
}
