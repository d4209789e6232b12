//! The EV set of a QP: per-plane active lists, backups, states, rotation and probing.
//!
//! //= docs/protocol.md §6.2–§6.6 and §13 items 3–7:
//! - only GOOD EVs carry new data; selection walks a per-QP pseudo-random permutation of each
//!   plane's active list, reshuffled every rotation;
//! - SKIP (ECN echo, mid-fabric trim) = skipped the next time the rotation reaches the EV (one
//!   pass), then GOOD again;
//! - ASSUMED_BAD (unexplained loss, ALWAYS_SKIP) = removed from the active list at once and
//!   replaced by a backup of the same plane; probed after 100 µs, interval ×2 per failure (cap
//!   1 ms); 3 consecutive successes → GOOD, back into the active list if it is short, else the
//!   backup pool;
//! - `ev_min_active`: at the floor a loss retires nothing (an event is still raised);
//! - a plane whose active list and backups are exhausted is masked for the QP until a probe
//!   resurrects one of its EVs.

mod probe;

use crate::config::{EvProfile, LbMode, ProbePolicy};
use crate::rng::Rng;
use crate::time::Instant;
use probe::Probes;

/// State of one EV (`mrc_ctl_ev_state` plus the NIC-internal SKIP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EvState {
    /// Carries new data.
    Good,
    /// Skipped once by the rotation (congestion), then GOOD.
    Skip,
    /// Presumed failed: background probes only.
    AssumedBad,
    /// Denied by the controller; never used, never probed.
    Denied,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Active,
    Backup,
    Out,
}

/// A retirement within this many probe caps (`ProbePolicy::max_interval`) of the EV's last
/// resurrection counts as a flap (see the retirement in [`EvSet::loss`]).
const FLAP_MEMORY: u64 = 10;

#[derive(Debug, Clone)]
struct Entry {
    ev: u32,
    plane: u8,
    state: EvState,
    role: Role,
    drops: u32,
    ecn_marks: u32,
    /// Unexplained losses since the EV last proved it delivers (see [`EvSet::strike`]).
    strikes: u8,
}

#[derive(Debug, Clone, Default)]
struct Plane {
    slots: Vec<u16>,
    cursor: usize,
    backups: Vec<u16>,
    target: usize,
    exhausted: bool,
    /// EVs of the plane in the profile, and those of them out of use (ASSUMED_BAD or
    /// DENIED): see [`EvSet::plane_health`].
    total: u16,
    out: u16,
}

/// What a loss did to its EV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossOutcome {
    /// The EV was retired (→ ASSUMED_BAD); `replaced` tells whether a backup took its slot;
    /// `plane_exhausted` whether its plane now has no usable EV at all.
    Retired {
        /// A backup of the same plane took the slot.
        replaced: bool,
        /// The plane has no active EV left.
        plane_exhausted: bool,
    },
    /// The QP is at `ev_min_active`: nothing retired.
    AtFloor,
    /// Counted against the EV, not (yet) enough to retire it ([`EvSet::strike`]).
    Struck,
    /// Already retired, denied, unknown, or oblivious mode.
    Ignored,
}

/// The EV set of one QP.
#[derive(Debug, Clone)]
pub struct EvSet {
    entries: Vec<Entry>,
    /// Entries per state (indexed by `EvState as usize`), kept at every change of state:
    /// a timeline samples every QP's counts often, and a pass over the entries cost a cache
    /// miss per few EVs.
    by_state: [u32; 4],
    index: Vec<(u32, u16)>,
    planes: Vec<Plane>,
    probing: Vec<u16>,
    /// Probe state per entry (see [`probe`]).
    probes: Probes,
    /// Earliest probe time over `probing` (Instant::MAX if none): keeps the polls O(1).
    probe_min: Instant,
    /// Probes sent and neither answered nor timed out.
    probes_out: u32,
    /// Bumped whenever a plane's count of EVs out of use changes.
    health_epoch: u32,
    /// Entries with `strikes > 0`: lets [`EvSet::delivered`] return at once in the common case.
    struck: u32,
    rng: Rng,
    min_active: u32,
    usable: u32,
    mode: LbMode,
    probe: ProbePolicy,
}

impl EvSet {
    /// Builds the set from a profile. Duplicate EVs keep their first occurrence.
    pub fn new(profile: &EvProfile, mode: LbMode, probe: ProbePolicy, seed: u64) -> Self {
        let listed: usize = profile
            .planes
            .iter()
            .map(|pe| pe.active.len() + pe.backup.len())
            .sum();
        // Sized once: pushing would round 320 entries (8 planes × 40) up to 512, a third of
        // every QP's EV memory left unused.
        let mut s = Self {
            entries: Vec::with_capacity(listed.min(u16::MAX as usize)),
            by_state: [0; 4],
            index: Vec::with_capacity(listed.min(u16::MAX as usize)),
            planes: Vec::new(),
            probing: Vec::new(),
            probes: Probes::new(0, probe.first),
            probe_min: Instant::MAX,
            struck: 0,
            probes_out: 0,
            health_epoch: 0,
            rng: Rng::new(seed),
            min_active: profile.ev_min_active,
            usable: 0,
            mode,
            probe,
        };
        // A hash set, not a scan of `index`: a QP of an 8-plane Clos has hundreds of EVs, and
        // a 256-NIC all-to-all builds 130,000 sets.
        let mut seen = std::collections::HashSet::with_capacity(listed);
        for (p, pe) in profile.planes.iter().enumerate().take(32) {
            let mut plane = Plane::default();
            for (list, role) in [(&pe.active, Role::Active), (&pe.backup, Role::Backup)] {
                for &ev in list {
                    if s.entries.len() >= u16::MAX as usize || !seen.insert(ev) {
                        continue;
                    }
                    let i = s.entries.len() as u16;
                    s.entries.push(Entry {
                        ev,
                        plane: p as u8,
                        state: EvState::Good,
                        role,
                        drops: 0,
                        ecn_marks: 0,
                        strikes: 0,
                    });
                    s.index.push((ev, i));
                    match role {
                        Role::Active => plane.slots.push(i),
                        _ => plane.backups.push(i),
                    }
                }
            }
            plane.target = plane.slots.len();
            plane.total = (plane.slots.len() + plane.backups.len()) as u16;
            plane.backups.reverse(); // pop() takes backups in profile order
            let mut order = core::mem::take(&mut plane.slots);
            s.rng.shuffle(&mut order);
            plane.slots = order;
            plane.exhausted = plane.slots.is_empty();
            s.usable += plane.slots.len() as u32;
            s.planes.push(plane);
        }
        s.index.sort_unstable();
        s.by_state[EvState::Good as usize] = s.entries.len() as u32;
        s.probes = Probes::new(s.entries.len(), probe.first);
        s
    }

    fn refresh_probe_min(&mut self) {
        self.probe_min = self
            .probing
            .iter()
            .map(|&i| self.probes.get(usize::from(i)).at)
            .min()
            .unwrap_or(Instant::MAX);
    }

    fn find(&self, ev: u32) -> Option<usize> {
        // Profiles mostly number their EVs consecutively, so `index` (sorted, no duplicates)
        // holds `ev` at `ev - first`: one look, not a binary search (a cache miss per step on
        // the per-packet path of every QP).
        let first = self.index.first()?.0;
        if let Some(&(e, i)) = ev
            .checked_sub(first)
            .and_then(|d| self.index.get(d as usize))
            && e == ev
        {
            return Some(usize::from(i));
        }
        self.index
            .binary_search_by_key(&ev, |&(e, _)| e)
            .ok()
            .and_then(|i| self.index.get(i))
            .map(|&(_, i)| usize::from(i))
    }

    /// Number of planes.
    pub fn plane_count(&self) -> u8 {
        self.planes.len() as u8
    }

    /// The plane of an EV of this set.
    pub fn plane_of(&self, ev: u32) -> Option<u8> {
        self.find(ev)
            .and_then(|i| self.entries.get(i))
            .map(|e| e.plane)
    }

    /// The state of an EV of this set.
    pub fn state(&self, ev: u32) -> Option<EvState> {
        self.find(ev)
            .and_then(|i| self.entries.get(i))
            .map(|e| e.state)
    }

    /// Telemetry of an EV (§13 item 4): (losses blamed on it, ECN echoes and trims seen on it).
    pub fn counters(&self, ev: u32) -> Option<(u32, u32)> {
        self.find(ev)
            .and_then(|i| self.entries.get(i))
            .map(|e| (e.drops, e.ecn_marks))
    }

    /// Usable (GOOD or SKIP) active EVs, QP-wide.
    pub fn usable(&self) -> u32 {
        self.usable
    }

    /// `(out, total)`: the plane's EVs out of use (ASSUMED_BAD or DENIED) and in the profile.
    /// EVs spread evenly over a plane's paths, so `1 − out/total` estimates the share of the
    /// plane's capacity that still works (a dead T1 of eight takes one eighth of the EVs).
    pub fn plane_health(&self, plane: u8) -> (u16, u16) {
        self.planes
            .get(usize::from(plane))
            .map_or((0, 0), |p| (p.out, p.total))
    }

    /// Changes whenever [`EvSet::plane_health`] of some plane changes.
    pub fn health_epoch(&self) -> u32 {
        self.health_epoch
    }

    /// True if any plane has EVs out of use.
    pub fn any_out(&self) -> bool {
        self.planes.iter().any(|p| p.out > 0)
    }

    /// True if the plane has no active EV (all retired, no backups).
    pub fn plane_exhausted(&self, plane: u8) -> bool {
        self.planes
            .get(usize::from(plane))
            .is_none_or(|p| p.exhausted)
    }

    /// Active EVs of a plane, in the current rotation order.
    pub fn active(&self, plane: u8) -> impl Iterator<Item = u32> + '_ {
        self.planes
            .get(usize::from(plane))
            .into_iter()
            .flat_map(|p| p.slots.iter())
            .filter_map(|&i| self.entries.get(usize::from(i)).map(|e| e.ev))
    }

    /// EVs per state: `[GOOD, SKIP, ASSUMED_BAD, DENIED]` (what counting [`EvSet::iter`]
    /// gives, in O(1)).
    pub fn state_counts(&self) -> [u32; 4] {
        self.by_state
    }

    /// Every EV of the set with its plane and state, in profile order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u8, EvState)> + '_ {
        self.entries.iter().map(|e| (e.ev, e.plane, e.state))
    }

    /// Picks the next EV of `plane` for a packet: the next GOOD EV in rotation order, never
    /// `avoid` if another exists. SKIP EVs met on the way turn GOOD (their pass is over). If
    /// the plane has no GOOD EV, a SKIP one is used rather than stalling.
    pub fn next(&mut self, plane: u8, avoid: Option<u32>) -> Option<u32> {
        let rng = &mut self.rng;
        let p = self.planes.get_mut(usize::from(plane))?;
        let n = p.slots.len();
        if n == 0 {
            return None;
        }
        let mut fallback = None;
        for _ in 0..=n {
            if p.cursor >= n {
                p.cursor = 0;
                rng.shuffle(&mut p.slots);
            }
            let i = usize::from(*p.slots.get(p.cursor)?);
            p.cursor += 1;
            let e = self.entries.get_mut(i)?;
            match e.state {
                EvState::Good if Some(e.ev) != avoid => return Some(e.ev),
                EvState::Good => fallback = Some(e.ev),
                EvState::Skip => {
                    set_state(&mut self.by_state, e, EvState::Good);
                    fallback = fallback.or(Some(e.ev));
                }
                _ => {}
            }
        }
        fallback
    }

    /// ECN echo or mid-fabric trim on `ev`: GOOD → SKIP. Returns true if the state changed.
    pub fn skip(&mut self, ev: u32) -> bool {
        let entry = self.find(ev).and_then(|i| self.entries.get_mut(i));
        if let Some(e) = entry {
            e.ecn_marks = e.ecn_marks.saturating_add(1);
        }
        if self.mode == LbMode::Oblivious {
            return false;
        }
        match self.find(ev).and_then(|i| self.entries.get_mut(i)) {
            Some(e) if e.state == EvState::Good && e.role == Role::Active => {
                set_state(&mut self.by_state, e, EvState::Skip);
                true
            }
            _ => false,
        }
    }

    /// An unexplained loss on `ev` that retires it only once it is the `needed`-th in a row
    /// with no delivery proven on the EV in between ([`EvSet::delivered`]). `needed = 1` is
    /// the paper's rule (first unexplained loss); a congested QP asks for more, because a
    /// queue that drops trimmed headers loses packets on live paths, while a dead path loses
    /// every packet sent on it.
    pub fn strike(&mut self, ev: u32, needed: u8, now: Instant) -> LossOutcome {
        if self.mode == LbMode::Oblivious {
            return LossOutcome::Ignored;
        }
        let Some(e) = self.find(ev).and_then(|i| self.entries.get_mut(i)) else {
            return LossOutcome::Ignored;
        };
        if e.strikes == 0 {
            self.struck += 1;
        }
        e.strikes = e.strikes.saturating_add(1);
        if e.strikes < needed.max(1) {
            e.drops = e.drops.saturating_add(1);
            return LossOutcome::Struck;
        }
        self.loss(ev, now)
    }

    /// `ev` proved that it delivers (a packet sent on it was acknowledged, or its trimmed
    /// header came back as a NACK): its run of unexplained losses is over.
    pub fn delivered(&mut self, ev: u32) {
        if self.struck == 0 {
            return;
        }
        if let Some(e) = self.find(ev).and_then(|i| self.entries.get_mut(i))
            && e.strikes > 0
        {
            e.strikes = 0;
            self.struck -= 1;
        }
    }

    /// Unexplained loss (or ALWAYS_SKIP) on `ev` at `now`: retired at once.
    pub fn loss(&mut self, ev: u32, now: Instant) -> LossOutcome {
        if self.mode == LbMode::Oblivious {
            return LossOutcome::Ignored;
        }
        let Some(i) = self.find(ev) else {
            return LossOutcome::Ignored;
        };
        let Some(e) = self.entries.get_mut(i) else {
            return LossOutcome::Ignored;
        };
        e.drops = e.drops.saturating_add(1);
        if e.strikes > 0 {
            e.strikes = 0;
            self.struck -= 1;
        }
        if !matches!(e.state, EvState::Good | EvState::Skip) || e.role != Role::Active {
            return LossOutcome::Ignored;
        }
        if self.usable <= self.min_active {
            return LossOutcome::AtFloor;
        }
        set_state(&mut self.by_state, e, EvState::AssumedBad);
        e.role = Role::Out;
        if let Some(p) = self.planes.get_mut(usize::from(e.plane)) {
            p.out += 1;
        }
        self.health_epoch = self.health_epoch.wrapping_add(1);
        let plane = usize::from(e.plane);
        // Flap damping: an EV that fails again soon after probes brought it back (a flapping
        // link) waits twice as long before its first probe each time, up to the probe cap,
        // instead of costing a round of lost packets per flap.
        let Some(pr) = self.probes.get_mut(i) else {
            return LossOutcome::Ignored;
        };
        let flapped = pr.resurrected_at > Instant::ZERO
            && now.saturating_since(pr.resurrected_at)
                < self.probe.max_interval.saturating_mul(FLAP_MEMORY);
        pr.flaps = if flapped {
            pr.flaps.saturating_add(1)
        } else {
            0
        };
        let hold = self
            .probe
            .first
            .saturating_mul(1 << pr.flaps.min(16))
            .min(self.probe.max_interval.max(self.probe.first));
        pr.at = now + hold;
        pr.interval = hold;
        pr.outstanding = false;
        pr.successes = 0;
        self.probing.push(i as u16);
        self.probe_min = self.probe_min.min(now + hold);
        self.usable -= 1;
        let Some(p) = self.planes.get_mut(plane) else {
            return LossOutcome::Ignored;
        };
        let pos = p.slots.iter().position(|&s| usize::from(s) == i);
        let mut replaced = false;
        // Take the first backup that is still GOOD.
        let mut backup = None;
        while let Some(b) = p.backups.pop() {
            if self
                .entries
                .get(usize::from(b))
                .is_some_and(|e| e.state == EvState::Good)
            {
                backup = Some(b);
                break;
            }
        }
        if let Some(pos) = pos {
            if let Some(b) = backup {
                if let Some(slot) = p.slots.get_mut(pos) {
                    *slot = b;
                }
                if let Some(be) = self.entries.get_mut(usize::from(b)) {
                    be.role = Role::Active;
                }
                self.usable += 1;
                replaced = true;
            } else {
                p.slots.remove(pos);
                if pos < p.cursor {
                    p.cursor -= 1;
                }
            }
        }
        let exhausted = p.slots.is_empty();
        p.exhausted = exhausted;
        LossOutcome::Retired {
            replaced,
            plane_exhausted: exhausted,
        }
    }

    /// The next probe to send at `now`: an ASSUMED_BAD EV whose probe time has come (marking
    /// it outstanding until `now + interval`). Planes in `blocked` are not probed now: those
    /// also in `down` (the port or the peer's is down) try again one interval later, the
    /// others (their port is only busy) stay due for the next time their port is free. At
    /// full load a port is free only between packets, so postponing a probe by a whole
    /// interval whenever another port was the free one could postpone it for ever.
    pub fn next_probe(&mut self, now: Instant, blocked: u32, down: u32) -> Option<(u32, u8)> {
        if self.probe_min > now || self.probes_out >= u32::from(self.probe.max_outstanding.max(1)) {
            return None;
        }
        let mut found = None;
        for &i in &self.probing {
            let (Some(e), Some(p)) = (
                self.entries.get(usize::from(i)),
                self.probes.get_mut(usize::from(i)),
            ) else {
                continue;
            };
            if p.outstanding || p.at > now {
                continue;
            }
            if blocked & (1 << e.plane) != 0 {
                if down & (1 << e.plane) != 0 {
                    p.at = now + p.interval;
                }
                continue;
            }
            p.outstanding = true;
            p.at = now + p.interval;
            self.probes_out += 1;
            found = Some((e.ev, e.plane));
            break;
        }
        self.refresh_probe_min();
        found
    }

    /// Probe timeouts: every outstanding probe whose deadline passed counts as a failure
    /// (successes reset, interval doubled up to the cap; the next probe goes out at once).
    pub fn probe_timeouts(&mut self, now: Instant) {
        for &i in &self.probing {
            if let Some(p) = self.probes.get_mut(usize::from(i))
                && p.outstanding
                && p.at <= now
            {
                p.outstanding = false;
                self.probes_out = self.probes_out.saturating_sub(1);
                p.successes = 0;
                p.interval = (p.interval.saturating_mul(2)).min(self.probe.max_interval);
                p.at = now;
            }
        }
        self.refresh_probe_min();
    }

    /// A probe answer for `ev` arrived (`skip`: it came back ECN-marked). Returns
    /// `Some((plane, new_state, plane_was_exhausted))` when the EV is resurrected.
    pub fn probe_response(
        &mut self,
        ev: u32,
        skip: bool,
        now: Instant,
    ) -> Option<(u8, EvState, bool)> {
        let i = self.find(ev)?;
        let pos = self.probing.iter().position(|&x| usize::from(x) == i)?;
        let need = self.probe.successes;
        let p = self.probes.get_mut(i)?;
        if !p.outstanding {
            return None;
        }
        p.outstanding = false;
        self.probes_out = self.probes_out.saturating_sub(1);
        p.successes += 1;
        p.at = now;
        if p.successes < need {
            self.probe_min = self.probe_min.min(now);
            return None;
        }
        p.at = Instant::MAX;
        p.interval = self.probe.first;
        p.resurrected_at = now;
        let e = self.entries.get_mut(i)?;
        let to = if skip { EvState::Skip } else { EvState::Good };
        set_state(&mut self.by_state, e, to);
        let plane = e.plane;
        let state = e.state;
        self.probing.swap_remove(pos);
        self.refresh_probe_min();
        let p = self.planes.get_mut(usize::from(plane))?;
        let was_exhausted = p.exhausted;
        p.out = p.out.saturating_sub(1);
        self.health_epoch = self.health_epoch.wrapping_add(1);
        if p.slots.len() < p.target {
            p.slots.push(i as u16);
            self.entries.get_mut(i)?.role = Role::Active;
            self.usable += 1;
            p.exhausted = false;
        } else {
            p.backups.insert(0, i as u16);
            self.entries.get_mut(i)?.role = Role::Backup;
        }
        Some((plane, state, was_exhausted))
    }

    /// Earliest probe deadline (send time or response deadline).
    pub fn next_probe_time(&self) -> Option<Instant> {
        (self.probe_min != Instant::MAX).then_some(self.probe_min)
    }

    /// Controller `MODIFY_EV_STATE(DENIED)`: never used again until set GOOD.
    pub fn deny(&mut self, ev: u32) -> bool {
        let Some(i) = self.find(ev) else { return false };
        let Some(e) = self.entries.get_mut(i) else {
            return false;
        };
        if e.state == EvState::Denied {
            return false;
        }
        let was_active = e.role == Role::Active && matches!(e.state, EvState::Good | EvState::Skip);
        if self.probes.get(i).outstanding
            && let Some(p) = self.probes.get_mut(i)
        {
            p.outstanding = false;
            self.probes_out = self.probes_out.saturating_sub(1);
        }
        let newly_out = e.state != EvState::AssumedBad;
        set_state(&mut self.by_state, e, EvState::Denied);
        e.role = Role::Out;
        let plane = usize::from(e.plane);
        self.probing.retain(|&x| usize::from(x) != i);
        self.refresh_probe_min();
        if let Some(p) = self.planes.get_mut(plane) {
            if newly_out {
                p.out += 1;
                self.health_epoch = self.health_epoch.wrapping_add(1);
            }
            p.backups.retain(|&x| usize::from(x) != i);
            if let Some(pos) = p.slots.iter().position(|&x| usize::from(x) == i) {
                p.slots.remove(pos);
                if pos < p.cursor {
                    p.cursor -= 1;
                }
                if was_active {
                    self.usable -= 1;
                }
                if let Some(b) = p.backups.pop() {
                    p.slots.push(b);
                    if let Some(be) = self.entries.get_mut(usize::from(b)) {
                        be.role = Role::Active;
                    }
                    self.usable += 1;
                }
            }
            p.exhausted = p.slots.is_empty();
        }
        true
    }
}

/// Moves `e` to state `to`, keeping [`EvSet::state_counts`] in step.
fn set_state(by_state: &mut [u32; 4], e: &mut Entry, to: EvState) {
    by_state[e.state as usize] -= 1;
    by_state[to as usize] += 1;
    e.state = to;
}

/// Reverse-path EVs of the responder (`docs/protocol.md` §11, §13 item 13): two per plane,
/// refreshed from the EVs on which data arrived intact (a just-proven path), used alternately.
#[derive(Debug, Clone)]
pub struct ReverseEvs {
    /// Per plane, in one vector: `pick` runs for every control packet, and one line is one
    /// cache miss where three vectors were three.
    planes: Vec<RevPlane>,
}

#[derive(Debug, Clone, Copy)]
struct RevPlane {
    evs: [Option<u32>; 2],
    /// Whether data arrived on the plane yet; until then `evs` holds the profile's seeds,
    /// which nothing has proven.
    seen: bool,
    turn: u8,
}

impl ReverseEvs {
    /// Seeds the set with the first two active EVs of each plane of `profile`.
    pub fn new(profile: &EvProfile) -> Self {
        let planes = profile
            .planes
            .iter()
            .map(|p| RevPlane {
                evs: [p.active.first().copied(), p.active.get(1).copied()],
                seen: false,
                turn: 0,
            })
            .collect();
        Self { planes }
    }

    /// Data arrived intact on `ev` over `plane`: adopt it as the newest reverse EV. The first
    /// arrival on a plane replaces both seeds, so an unproven seed (perhaps a dead path) is
    /// never used once a proven EV exists.
    pub fn observe(&mut self, plane: u8, ev: u32) {
        let Some(p) = self.planes.get_mut(usize::from(plane)) else {
            return;
        };
        if !p.seen {
            p.seen = true;
            p.evs = [Some(ev), None];
        } else if p.evs[0] != Some(ev) {
            p.evs[1] = p.evs[0];
            p.evs[0] = Some(ev);
        }
    }

    /// The reverse EV to use on `plane` now: the two alternate, skipping one `usable` rejects
    /// (the QP's own forward traffic found that path dead: §11, bidirectional traffic). If
    /// both are rejected, the newest proven one.
    pub fn pick(&mut self, plane: u8, usable: impl Fn(u32) -> bool) -> Option<u32> {
        let p = self.planes.get_mut(usize::from(plane))?;
        p.turn ^= 1;
        let pair = p.evs;
        let (a, b) = (pair[usize::from(p.turn)], pair[usize::from(p.turn ^ 1)]);
        [a, b]
            .into_iter()
            .flatten()
            .find(|&e| usable(e))
            .or(pair[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    fn set(min: u32) -> EvSet {
        let mut p = EvProfile::sequential(1, 2, 4, 2);
        p.ev_min_active = min;
        EvSet::new(&p, LbMode::Adaptive, ProbePolicy::default(), 9)
    }

    #[test]
    fn rotation_visits_every_active_ev_once_per_pass() {
        let mut s = set(0);
        let mut seen: Vec<u32> = (0..4).filter_map(|_| s.next(0, None)).collect();
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2, 3]);
        let mut seen: Vec<u32> = (0..4).filter_map(|_| s.next(1, None)).collect();
        seen.sort_unstable();
        assert_eq!(seen, [6, 7, 8, 9]);
    }

    #[test]
    fn skip_lasts_one_pass() {
        let mut s = set(0);
        assert!(s.skip(2));
        assert_eq!(s.state(2), Some(EvState::Skip));
        assert!(!s.skip(2), "already skipped");
        assert_eq!(s.counters(2), Some((0, 2)));
        let firsts: Vec<u32> = (0..3).filter_map(|_| s.next(0, None)).collect();
        assert!(!firsts.contains(&2) || s.state(2) == Some(EvState::Good));
        for _ in 0..8 {
            let _ = s.next(0, None);
        }
        assert_eq!(s.state(2), Some(EvState::Good));
    }

    #[test]
    fn loss_retires_and_replaces_from_same_plane_then_probes_resurrect() {
        let mut s = set(0);
        let t0 = Instant::ZERO;
        assert_eq!(
            s.loss(1, t0),
            LossOutcome::Retired {
                replaced: true,
                plane_exhausted: false
            }
        );
        assert_eq!(s.state(1), Some(EvState::AssumedBad));
        let mut act: Vec<u32> = s.active(0).collect();
        act.sort_unstable();
        assert_eq!(act, [0, 2, 3, 4]);
        assert_eq!(s.next_probe(t0, 0, 0), None);
        let t1 = t0 + Duration::from_micros(100);
        assert_eq!(s.next_probe(t1, 0, 0), Some((1, 0)));
        // Timeout doubles the interval.
        s.probe_timeouts(t1 + Duration::from_micros(100));
        for k in 0..3 {
            let t = t1 + Duration::from_micros(300 + k);
            assert_eq!(s.next_probe(t, 0, 0), Some((1, 0)));
            let r = s.probe_response(1, false, t);
            assert_eq!(r.is_some(), k == 2);
        }
        assert_eq!(s.state(1), Some(EvState::Good));
        assert!(
            !s.active(0).any(|e| e == 1),
            "resurrected EV goes to the backups"
        );
    }

    /// Flap damping: an EV retired again soon after probes brought it back waits twice as long
    /// before its first probe (100, 200, 400 µs …); one that stayed good for longer than
    /// `FLAP_MEMORY` probe caps starts again at the first delay.
    #[test]
    fn an_ev_that_flaps_is_probed_later_each_time() {
        let mut p = EvProfile::sequential(1, 1, 4, 0);
        p.ev_min_active = 0;
        let mut s = EvSet::new(&p, LbMode::Adaptive, ProbePolicy::default(), 9);
        let first = ProbePolicy::default().first;
        // Retire EV 1 at `at`, then probe it back; returns when its first probe went out.
        let mut cycle = |at: Instant| {
            assert!(matches!(s.loss(1, at), LossOutcome::Retired { .. }));
            let mut t = at;
            while s.next_probe(t, 0, 0).is_none() {
                t += Duration::from_micros(1);
            }
            let probed = t;
            for k in 0..3 {
                if k > 0 {
                    assert_eq!(s.next_probe(t, 0, 0), Some((1, 0)));
                }
                let _ = s.probe_response(1, false, t);
            }
            assert_eq!(s.state(1), Some(EvState::Good));
            probed.saturating_since(at)
        };
        let t0 = Instant::ZERO + Duration::from_micros(10);
        assert_eq!(cycle(t0), first);
        let t1 = t0 + Duration::from_micros(300);
        assert_eq!(cycle(t1), first.saturating_mul(2));
        let t2 = t1 + Duration::from_micros(500);
        assert_eq!(cycle(t2), first.saturating_mul(4));
        // Good for a long time: no longer a flap.
        let t3 = t2 + Duration::from_millis(50);
        assert_eq!(cycle(t3), first);
    }

    /// `state_counts` (kept at each change) equals a count over every entry after skips, the
    /// rotation clearing them, a retirement, a resurrection by probes with SKIP and a denial.
    #[test]
    fn state_counts_follow_every_change() {
        let tally = |s: &EvSet| {
            let mut c = [0u32; 4];
            for (_, _, st) in s.iter() {
                c[st as usize] += 1;
            }
            c
        };
        let mut s = set(0);
        let t0 = Instant::ZERO;
        assert_eq!(s.state_counts(), [12, 0, 0, 0]);
        assert!(s.skip(2) && s.skip(7));
        assert_eq!(s.state_counts(), tally(&s));
        assert_eq!(s.state_counts(), [10, 2, 0, 0]);
        for _ in 0..5 {
            let _ = s.next(0, None);
        }
        assert_eq!(s.state_counts(), tally(&s));
        let _ = s.loss(1, t0);
        assert_eq!(s.state_counts(), tally(&s));
        let t1 = t0 + Duration::from_micros(100);
        for k in 0..3 {
            let t = t1 + Duration::from_micros(k);
            assert_eq!(s.next_probe(t, 0, 0), Some((1, 0)));
            let _ = s.probe_response(1, true, t);
        }
        assert_eq!(s.state(1), Some(EvState::Skip));
        assert_eq!(s.state_counts(), tally(&s));
        assert!(s.deny(3) && s.deny(1));
        assert_eq!(s.state_counts(), tally(&s));
        assert_eq!(s.state_counts()[EvState::Denied as usize], 2);
    }

    #[test]
    fn floor_and_exhaustion() {
        let mut s = set(7);
        // 8 usable; retire one: 8 -> 8 (backup), backups drain, then the floor.
        let t = Instant::ZERO;
        assert!(matches!(
            s.loss(0, t),
            LossOutcome::Retired { replaced: true, .. }
        ));
        assert!(matches!(
            s.loss(4, t),
            LossOutcome::Retired { replaced: true, .. }
        ));
        assert!(matches!(
            s.loss(5, t),
            LossOutcome::Retired {
                replaced: false,
                ..
            }
        ));
        assert_eq!(s.usable(), 7);
        assert_eq!(s.loss(2, t), LossOutcome::AtFloor);
        let mut s = set(0);
        for ev in 0..6 {
            let _ = s.loss(ev, t);
        }
        assert!(s.plane_exhausted(0));
        assert_eq!(s.next(0, None), None);
        assert!(!s.plane_exhausted(1));
    }

    #[test]
    fn oblivious_never_reacts() {
        let p = EvProfile::sequential(1, 1, 4, 0);
        let mut s = EvSet::new(&p, LbMode::Oblivious, ProbePolicy::default(), 1);
        assert!(!s.skip(0));
        assert_eq!(s.loss(0, Instant::ZERO), LossOutcome::Ignored);
        assert_eq!(s.state(0), Some(EvState::Good));
    }

    #[test]
    fn reverse_evs_drop_unproven_seeds_and_skip_dead_paths() {
        // Seeds are EVs 0 and 1 of the one plane; data arrives only on EV 0. EV 1 was never
        // proven, so it must not carry a SACK (it may be the dead path).
        let p = EvProfile::sequential(1, 1, 4, 0);
        let mut r = ReverseEvs::new(&p);
        r.observe(0, 0);
        assert!((0..4).all(|_| r.pick(0, |_| true) == Some(0)));
        r.observe(0, 2);
        let picks: Vec<_> = (0..4).filter_map(|_| r.pick(0, |_| true)).collect();
        assert!(picks.contains(&0) && picks.contains(&2), "{picks:?}");
        // The QP's own sending found EV 2 dead: only EV 0 is used.
        assert!((0..4).all(|_| r.pick(0, |e| e != 2) == Some(0)));
        // Both rejected: the newest proven one rather than nothing.
        assert_eq!(r.pick(0, |_| false), Some(2));
    }
}
