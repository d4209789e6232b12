//! Failures as data: what a failure hits ([`Target`]), what it does ([`FailureKind`], given its
//! behaviour by `plan` in `sim/failures.rs`) and how a scenario file writes each kind
//! ([`KindCfg`]: the name in `kind` and the fields only that kind takes, deserialised straight
//! from the file and checked here).
//!
//! A new kind is a [`KindCfg`] variant with its arm in [`KindCfg::resolve`] (and a
//! [`FailureKind`] with its name, if no existing one does what it needs) here, and its
//! behaviour in `sim/failures.rs`; the scenario reader reads every kind the same way.

use serde::Deserialize;

use crate::kernel::Time;
use crate::units::{ProbStr, TimeStr};

/// What a failure hits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Target {
    /// Uplink `uplink` of T0 `t0` in `plane` (the T0–T1 cable; fat trees: the T0's
    /// `uplink`-th upward port).
    T0Uplink {
        /// Plane.
        plane: u32,
        /// T0 index within the plane.
        t0: u32,
        /// Uplink number.
        uplink: u32,
    },
    /// A switch by plane, tier (0 = T0, 1 = T1, 2 = core) and index.
    Switch {
        /// Plane.
        plane: u32,
        /// Tier.
        tier: u32,
        /// Index within plane and tier.
        index: u32,
    },
    /// Lane `plane` of NIC `nic` (the NIC port sees it go down).
    NicLane {
        /// NIC.
        nic: u32,
        /// Plane (= NIC port).
        plane: u32,
    },
    /// Every switch and lane of a plane.
    Plane {
        /// Plane.
        plane: u32,
    },
}

/// How it fails.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FailureKind {
    /// Down (switches: rebooting — everything in it is dropped) from `at` until `until`.
    Down,
    /// Silently drops everything while looking healthy (no port status, no reconvergence).
    BlackHole,
    /// Drops each packet with probability `ppm` / 10⁶.
    Lossy {
        /// Drop probability in parts per million.
        ppm: u32,
    },
    /// Goes down for `down_ps` every `period_ps`, `count` times, starting at `at`.
    Flap {
        /// Period.
        period_ps: Time,
        /// Down time per period.
        down_ps: Time,
        /// Number of flaps.
        count: u32,
    },
}

impl FailureKind {
    /// How reports and job summaries name it: "down", "black hole", "lossy", "flapping".
    /// Its behaviour in a run is defined in one place, the simulator's failures module.
    pub fn what(self) -> &'static str {
        match self {
            Self::Down => "down",
            Self::BlackHole => "black hole",
            Self::Lossy { .. } => "lossy",
            Self::Flap { .. } => "flapping",
        }
    }
}

/// One failure of a scenario.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Failure {
    /// What fails.
    pub target: Target,
    /// How.
    pub kind: FailureKind,
    /// When it starts.
    pub at_ps: Time,
    /// When it ends (`None` = never; ignored by flaps).
    pub until_ps: Option<Time>,
}

/// Most state changes one `link-flap` failure may schedule (each flap is a down and an up), so
/// a small scenario file cannot fill the event queue.
pub const MAX_FLAPS: u64 = 1_000_000;

/// A `[[failures]]` entry's kind: the variant its `kind` names, with the fields only that kind
/// takes. The fields every entry may have (where: [`Aim`]; when: `at`, `until`, `duration`)
/// are the scenario reader's, which refuses a field that neither takes.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum KindCfg {
    /// A link down: both ends lose their queues; routing reacts after the reconvergence delay.
    LinkDown,
    /// A link down for `down` every `period`, `count` times or while a flap can start before
    /// `until`.
    LinkFlap {
        /// Time from one flap to the next (required, above 0).
        period: Option<TimeStr>,
        /// Down time of each flap (default `period` / 2).
        down: Option<TimeStr>,
        /// Number of flaps (default 3; not with `until` or `duration`).
        count: Option<u32>,
    },
    /// Each packet dropped with `probability`, on a link, one plane or every plane.
    Lossy {
        /// Drop probability (required).
        probability: Option<ProbStr>,
    },
    /// Silent drop on a link or a switch: it looks healthy, routing never reacts.
    BlackHole,
    /// A switch down: everything queued in it and sent to it is dropped.
    SwitchReboot,
    /// A NIC lane down: the NIC sees its port go down.
    NicLaneDown,
    /// Every switch and lane of a plane down.
    PlaneDown,
}

/// Which targets a kind takes from the fields every `[[failures]]` entry may have (`plane`,
/// `t0`, `uplink`, `tier`, `index`, `nic`); the scenario reader turns them into [`Target`]s.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Aim {
    /// A link: a NIC lane (`nic`, `plane`) when `nic` is given, else a T0 uplink (`plane`,
    /// `t0`, `uplink`).
    Link,
    /// A switch (`plane`, `tier`, `index`) when `tier` is given, else a link.
    LinkOrSwitch,
    /// A switch: `plane`, `tier`, `index`.
    Switch,
    /// A NIC lane: `nic`, `plane`.
    NicLane,
    /// A whole plane (every switch and lane): `plane`.
    Plane,
    /// A link when `t0` or `nic` is given, else every link of `plane`, or of every plane.
    LinkOrPlanes,
}

/// What a checked [`KindCfg`] becomes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Resolved {
    /// The targets it takes.
    pub aim: Aim,
    /// What the simulator does.
    pub kind: FailureKind,
    /// When it ends (a kind may use the entry's end itself, as flaps do, and then say `None`).
    pub until: Option<Time>,
}

/// A kind's field that makes no sense, and why.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{msg}")]
pub struct FieldError {
    /// The field (`None`: the entry as a whole).
    pub field: Option<&'static str>,
    /// What was expected.
    pub msg: String,
}

impl FieldError {
    fn new(field: Option<&'static str>, msg: impl Into<String>) -> Self {
        Self {
            field,
            msg: msg.into(),
        }
    }
}

impl KindCfg {
    /// Checks the kind's own fields for a failure from `at` until `until` (already checked to
    /// be after `at`) and says what it becomes.
    pub fn resolve(self, at: Time, until: Option<Time>) -> Result<Resolved, FieldError> {
        let (aim, kind, until) = match self {
            Self::LinkDown => (Aim::Link, FailureKind::Down, until),
            Self::LinkFlap {
                period,
                down,
                count,
            } => (Aim::Link, flap(period, down, count, at, until)?, None),
            Self::Lossy { probability } => {
                let Some(p) = probability else {
                    return Err(FieldError::new(
                        Some("probability"),
                        "required for lossy, e.g. \"0.1%\"",
                    ));
                };
                (Aim::LinkOrPlanes, FailureKind::Lossy { ppm: p.0 }, until)
            }
            Self::BlackHole => (Aim::LinkOrSwitch, FailureKind::BlackHole, until),
            Self::SwitchReboot => (Aim::Switch, FailureKind::Down, until),
            Self::NicLaneDown => (Aim::NicLane, FailureKind::Down, until),
            Self::PlaneDown => (Aim::Plane, FailureKind::Down, until),
        };
        Ok(Resolved { aim, kind, until })
    }
}

/// A `link-flap`'s schedule: `count` flaps, or with `until` as many as start before it, each
/// within the simulator's clock.
fn flap(
    period: Option<TimeStr>,
    down: Option<TimeStr>,
    count: Option<u32>,
    at: Time,
    until: Option<Time>,
) -> Result<FailureKind, FieldError> {
    let Some(period) = period.map(|t| t.0).filter(|p| *p > 0) else {
        return Err(FieldError::new(
            Some("period"),
            "required (a time > 0) for link-flap",
        ));
    };
    let down = down.map_or(period / 2, |t| t.0);
    if down >= period {
        return Err(FieldError::new(Some("down"), "expected less than `period`"));
    }
    let count = match (count, until) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                None,
                "give `count` or `until`/`duration`, not both",
            ));
        }
        (Some(c), None) => u64::from(c),
        (None, Some(u)) => (u - at).div_ceil(period),
        (None, None) => 3,
    };
    if count == 0 || count > MAX_FLAPS {
        return Err(FieldError::new(
            Some("count"),
            format!("expected 1..={MAX_FLAPS} flaps, got {count}"),
        ));
    }
    if (count - 1)
        .checked_mul(period)
        .and_then(|t| t.checked_add(at))
        .and_then(|t| t.checked_add(down))
        .is_none()
    {
        return Err(FieldError::new(
            Some("count"),
            "the last flap is beyond the simulator's clock (~213 days)",
        ));
    }
    Ok(FailureKind::Flap {
        period_ps: period,
        down_ps: down,
        count: count as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_check_their_own_fields_and_say_what_they_become() {
        let flap = |count, until| {
            KindCfg::LinkFlap {
                period: Some(TimeStr(10)),
                down: None,
                count,
            }
            .resolve(5, until)
        };
        // Until 36 from 5 every 10: flaps start at 5, 15, 25, 35.
        let kind = FailureKind::Flap {
            period_ps: 10,
            down_ps: 5,
            count: 4,
        };
        let r = Resolved {
            aim: Aim::Link,
            kind,
            until: None,
        };
        assert_eq!(flap(None, Some(36)), Ok(r));
        assert_eq!(flap(Some(2), Some(36)).map_err(|e| e.field), Err(None));
        let lossy = KindCfg::Lossy { probability: None }.resolve(0, None);
        assert_eq!(lossy.map_err(|e| e.field), Err(Some("probability")));
        let reboot = Resolved {
            aim: Aim::Switch,
            kind: FailureKind::Down,
            until: Some(9),
        };
        assert_eq!(KindCfg::SwitchReboot.resolve(0, Some(9)), Ok(reboot));
    }
}
