//! RoCE run options of a scenario (`scenarios/README.md`): `roce_recovery`, and the
//! `dcqcn_params` table of DCQCN reaction- and notification-point parameters people change
//! (unset fields keep the paper's values, `docs/dcqcn.md`).

use mrc_proto::roce::{DcqcnConfig, Recovery};
use mrc_proto::time::Duration;
use mrc_sim::units::{BpsStr, SizeStr, TimeStr};
use serde::Deserialize;

/// `roce_recovery` of a `[[runs]]` entry.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RecoveryCfg {
    /// `"go-back-n"`.
    GoBackN,
    /// `"selective"`.
    Selective,
}

impl From<RecoveryCfg> for Recovery {
    fn from(r: RecoveryCfg) -> Self {
        match r {
            RecoveryCfg::GoBackN => Self::GoBackN,
            RecoveryCfg::Selective => Self::Selective,
        }
    }
}

/// `dcqcn_params = { ... }` of a `[[runs]]` entry.
#[derive(Deserialize, Debug, Clone, Copy, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct DcqcnCfg {
    g: Option<f64>,
    alpha_timer: Option<TimeStr>,
    increase_timer: Option<TimeStr>,
    byte_counter: Option<SizeStr>,
    fast_recovery: Option<u32>,
    rai: Option<BpsStr>,
    rhai: Option<BpsStr>,
    min_rate: Option<BpsStr>,
    cnp_interval: Option<TimeStr>,
}

impl DcqcnCfg {
    /// The parameters with this table's fields over the defaults, or the name of the first
    /// field out of range and what it expects.
    pub(crate) fn resolve(&self) -> Result<DcqcnConfig, (&'static str, &'static str)> {
        let d = DcqcnConfig::default();
        let dur =
            |t: Option<TimeStr>, v: Duration| t.map_or(v, |t| Duration::from_nanos(t.0 / 1000));
        let c = DcqcnConfig {
            enabled: true,
            g: self.g.unwrap_or(d.g),
            alpha_timer: dur(self.alpha_timer, d.alpha_timer),
            increase_timer: dur(self.increase_timer, d.increase_timer),
            byte_counter: self.byte_counter.map_or(d.byte_counter, |s| s.0),
            f: self.fast_recovery.unwrap_or(d.f),
            rai_bps: self.rai.map_or(d.rai_bps, |r| r.0),
            rhai_bps: self.rhai.map_or(d.rhai_bps, |r| r.0),
            min_rate_bps: self.min_rate.map_or(d.min_rate_bps, |r| r.0),
            cnp_interval: dur(self.cnp_interval, d.cnp_interval),
        };
        if !(c.g > 0.0 && c.g < 1.0) {
            return Err(("g", "a gain in (0, 1), e.g. 0.00390625 (1/256)"));
        }
        if c.alpha_timer.as_nanos() == 0 {
            return Err(("alpha_timer", "a time of at least 1ns"));
        }
        if c.increase_timer.as_nanos() == 0 {
            return Err(("increase_timer", "a time of at least 1ns"));
        }
        if c.byte_counter == 0 {
            return Err(("byte_counter", "a size of at least 1B"));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides() {
        let c: DcqcnCfg = toml::from_str("increase_timer = \"300us\"\nrai = \"5Mbps\"").unwrap();
        let r = c.resolve().unwrap();
        assert_eq!(r.increase_timer, Duration::from_micros(300));
        assert_eq!(r.rai_bps, 5_000_000);
        assert_eq!(r.byte_counter, DcqcnConfig::default().byte_counter);
        let bad: DcqcnCfg = toml::from_str("g = 1.5").unwrap();
        assert_eq!(bad.resolve().unwrap_err().0, "g");
        assert!(toml::from_str::<DcqcnCfg>("gain = 0.1").is_err());
    }

    const BASE: &str = "name = \"x\"\n[fabric]\nkind = \"fat-tree\"\nnics = 16\ntiers = 2\nk = 8\n\
        [workload]\nkind = \"incast\"\nsenders = [4]\nreceiver = 0\nsize = \"10KB\"\n";

    fn load(extra: &str) -> anyhow::Result<crate::scenario::Loaded> {
        crate::scenario::load(&format!("{BASE}{extra}"), std::path::Path::new("t.toml"))
    }

    #[test]
    fn red_marking_follows_dcqcn_and_is_checked() {
        let sc = load(
            "[[runs]]\ntransport = \"roce\"\n\
             [[runs]]\ntransport = \"roce\"\ndcqcn = false\n\
             [[runs]]\ntransport = \"mrc\"\n\
             [[runs]]\ntransport = \"roce\"\nroce_recovery = \"selective\"\n\
             switch = { red_kmax = \"1MB\", red_pmax = \"5%\" }\n",
        )
        .unwrap();
        let red: Vec<_> = sc.runs.iter().map(|r| r.net.switch.red).collect();
        assert_eq!(red[0], Some(mrc_sim::RedSpec::default()));
        assert_eq!((red[1], red[2]), (None, None));
        let r3 = red[3].unwrap();
        assert_eq!(
            (r3.kmin_bytes, r3.kmax_bytes, r3.pmax_ppm),
            (None, Some(1_000_000), 50_000)
        );
        assert_eq!(sc.runs[3].roce_recovery, Recovery::Selective);
        assert_eq!(sc.runs[0].roce_recovery, Recovery::GoBackN);
        let e = load("[switch]\nred_kmin = \"500KB\"\nred_kmax = \"100KB\"\n[[runs]]\ntransport = \"roce\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("red_kmax"), "{e}");
        let e =
            load("[[runs]]\ntransport = \"roce\"\ndcqcn_params = { increase_timer = \"0us\" }\n")
                .unwrap_err();
        assert!(e.to_string().contains("dcqcn_params.increase_timer"), "{e}");
    }
}
