//! A scenario's `[[failures]]` entries. The fields every failure may have are read here: where
//! (`plane`, `t0`, `uplink`, `tier`, `index`, `nic`, made into the targets its kind's [`Aim`]
//! takes) and when (`at`, `until`, `duration`). The rest is the kind's ([`KindCfg`]: `kind`
//! names the variant; its own fields and their checks are the simulator's), so a new failure
//! kind changes nothing here.

use anyhow::Result;
use mrc_sim::failure::{Aim, Failure, KindCfg, Target};
use mrc_sim::units::TimeStr;
use serde::Deserialize;
use toml::Table;

use crate::take::{TakeError, take, take_variant, ticks};
use crate::{BadInput, bad_input};

/// The fields every `[[failures]]` entry may have, whatever its kind.
#[derive(Deserialize)]
struct Shared {
    plane: Option<u32>,
    t0: Option<u32>,
    uplink: Option<u32>,
    tier: Option<u32>,
    index: Option<u32>,
    nic: Option<u32>,
    at: Option<TimeStr>,
    until: Option<TimeStr>,
    duration: Option<TimeStr>,
}

/// Entry `field` (`failures[i]`) of `file`, in a fabric of `planes` planes: one failure, or one
/// per plane for a kind aimed at every plane.
pub(crate) fn failures(mut t: Table, field: &str, planes: u32, file: &str) -> Result<Vec<Failure>> {
    // A field of the entry (`None`: the entry) and what was expected of it.
    let bad = |key: Option<&str>, msg: &str| {
        let at = key.map_or_else(|| field.to_string(), |k| format!("{field}.{k}"));
        anyhow::Error::new(BadInput(format!("{file}: field `{at}`: {msg}")))
    };
    let read = |e: TakeError| bad(e.key.as_deref(), &e.msg);
    let name = t
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_string();
    let (f, shared) = take::<Shared>(&mut t).map_err(read)?;
    let (kind, own) = take_variant::<KindCfg>(&mut t, "kind").map_err(read)?;
    if let Some(k) = t.keys().next() {
        let every = ticks(shared);
        match own {
            [] => bad_input!(
                "{file}: field `{field}.{k}`: unknown field, expected one of {every} (kind `{name}` has no fields of its own)"
            ),
            _ => bad_input!(
                "{file}: field `{field}.{k}`: unknown field, expected one of {every} or {} (kind `{name}`)",
                ticks(own)
            ),
        }
    }
    let at = f.at.map_or(0, |t| t.0);
    let until = match (f.until, f.duration) {
        (Some(u), None) => Some(u.0),
        (None, Some(d)) => match at.checked_add(d.0) {
            Some(u) => Some(u),
            None => bad_input!(
                "{file}: field `{field}.duration`: `at` + `duration` is beyond the simulator's clock (~213 days)"
            ),
        },
        (None, None) => None,
        (Some(_), Some(_)) => {
            bad_input!("{file}: field `{field}`: give `until` or `duration`, not both")
        }
    };
    if let Some(u) = until
        && u <= at
    {
        bad_input!(
            "{file}: field `{field}.until`: expected a time after `at` ({at} ps), got {u} ps"
        );
    }
    if let Some(p) = f.plane
        && p >= planes
    {
        bad_input!(
            "{file}: field `{field}.plane`: expected a plane < {planes} (field `fabric.planes`), got {p}"
        );
    }
    let r = kind.resolve(at, until).map_err(|e| bad(e.field, &e.msg))?;
    let need = |v: Option<u32>, key: &str| -> Result<u32> {
        match v {
            Some(v) => Ok(v),
            None => bad_input!("{file}: field `{field}.{key}`: required for kind `{name}`"),
        }
    };
    let plane = f.plane.unwrap_or(0);
    let link = || -> Result<Target> {
        Ok(match f.nic {
            Some(nic) => Target::NicLane { nic, plane },
            None => Target::T0Uplink {
                plane,
                t0: need(f.t0, "t0")?,
                uplink: need(f.uplink, "uplink")?,
            },
        })
    };
    let switch = || -> Result<Target> {
        Ok(Target::Switch {
            plane,
            tier: need(f.tier, "tier")?,
            index: need(f.index, "index")?,
        })
    };
    let targets = match r.aim {
        Aim::Link => vec![link()?],
        Aim::LinkOrSwitch if f.tier.is_some() => vec![switch()?],
        Aim::LinkOrSwitch => vec![link()?],
        Aim::Switch => vec![switch()?],
        Aim::NicLane => vec![Target::NicLane {
            nic: need(f.nic, "nic")?,
            plane,
        }],
        Aim::Plane => vec![Target::Plane {
            plane: need(f.plane, "plane")?,
        }],
        Aim::LinkOrPlanes if f.t0.is_some() || f.nic.is_some() => vec![link()?],
        Aim::LinkOrPlanes => f
            .plane
            .map_or_else(|| (0..planes).collect(), |p| vec![p])
            .into_iter()
            .map(|plane| Target::Plane { plane })
            .collect(),
    };
    Ok(targets
        .into_iter()
        .map(|target| Failure {
            target,
            kind: r.kind,
            at_ps: at,
            until_ps: r.until,
        })
        .collect())
}
