//! Failures: resolving targets, scheduling each kind's changes, applying them (links, nodes,
//! NIC port status) and the delayed reroute of conventional routing.

use mrc_fabric::NodeId;
use mrc_proto::nic::QpId;

use crate::factory::TransportFactory;
use crate::failure::{Failure, FailureKind};
use crate::kernel::Time;

use super::ids::PortId;
use super::{Ev, Sim, SimError};

#[derive(Clone, Debug, Default)]
pub(super) struct Resolved {
    pub(super) links: Vec<u32>,
    pub(super) nodes: Vec<NodeId>,
    pub(super) nic_ports: Vec<(u32, u8)>,
}

/// One change a failure makes to its target at one instant (`Ev::Action`; `Sim::apply`).
#[derive(Clone, Copy, Debug)]
pub(super) enum Change {
    /// Down with loss of signal: queues flushed, NIC ports told, rerouted after reconvergence.
    Down,
    /// Back up (rerouted back after reconvergence).
    Up,
    /// Silently drops everything (on) or no longer (off).
    BlackHole(bool),
    /// Drops each packet with this probability in parts per million (0: no longer lossy).
    Loss(u32),
}

impl Change {
    /// Its name in the run's timeline (`mrc sim --json`).
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Down => "down",
            Self::Up => "up",
            Self::BlackHole(true) => "black-hole",
            Self::BlackHole(false) => "black-hole-end",
            Self::Loss(0) => "loss-end",
            Self::Loss(_) => "lossy",
        }
    }
}

/// What a failure kind does: the changes it schedules, in order, and whether it hits links
/// only (then a switch or plane target means every link touching it).
struct Plan {
    links_only: bool,
    changes: Vec<(Time, Change)>,
}

/// The one place a [`FailureKind`] is given its behaviour: a new kind adds its arm here (and,
/// if no existing [`Change`] does what it needs, a `Change` and its arm in `Sim::apply`).
fn plan(kind: FailureKind, at: Time, until: Option<Time>) -> Plan {
    let mut changes = Vec::new();
    let mut during = |on: Change, off: Change| {
        changes.push((at, on));
        if let Some(u) = until {
            changes.push((u, off));
        }
    };
    let mut links_only = false;
    match kind {
        FailureKind::Down => during(Change::Down, Change::Up),
        FailureKind::BlackHole => during(Change::BlackHole(true), Change::BlackHole(false)),
        FailureKind::Lossy { ppm } => {
            links_only = true;
            during(Change::Loss(ppm), Change::Loss(0));
        }
        FailureKind::Flap {
            period_ps,
            down_ps,
            count,
        } => {
            for k in 0..u64::from(count) {
                // Flaps beyond the clock never happen (scenario files are checked).
                let Some(t) = k.checked_mul(period_ps).and_then(|t| t.checked_add(at)) else {
                    break;
                };
                changes.push((t, Change::Down));
                changes.push((t.saturating_add(down_ps), Change::Up));
            }
        }
    }
    Plan {
        links_only,
        changes,
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Act {
    pub(super) target: u32,
    pub(super) change: Change,
}

impl<F: TransportFactory> Sim<F> {
    /// Resolves every failure's target and schedules its changes (`plan`).
    pub(super) fn setup_failures(&mut self) -> Result<(), SimError> {
        let failures: Vec<Failure> = self.spec.failures.clone();
        for (i, f) in failures.iter().enumerate() {
            let r = self.resolve(i, f.target)?;
            let plan = plan(f.kind, f.at_ps, f.until_ps);
            if plan.links_only && r.links.is_empty() {
                // A switch or plane: every link touching it.
                let topo = self.fabric.topo();
                let mut r2 = r.clone();
                for &n in &r.nodes {
                    for l in topo.ports(n).iter().flatten() {
                        r2.links.push(l.0);
                    }
                }
                r2.nodes.clear();
                r2.nic_ports.clear();
                self.fail.resolved.push(r2);
            } else {
                self.fail.resolved.push(r);
            }
            let target = (self.fail.resolved.len() - 1) as u32;
            for (at, change) in plan.changes {
                self.fail.acts.push(Act { target, change });
                let idx = (self.fail.acts.len() - 1) as u32;
                self.q.schedule(at, Ev::Action { idx });
            }
        }
        Ok(())
    }

    pub(super) fn apply(&mut self, idx: u32) {
        let act = self.fail.acts[idx as usize];
        tracing::info!(
            sim_ps = self.q.now(),
            failure = act.target,
            change = act.change.label(),
            "failure applied"
        );
        self.rec_mark(act.target, act.change);
        let r = self.fail.resolved[act.target as usize].clone();
        let now = self.q.now();
        let delay = self.spec.net.reconvergence_ps;
        match act.change {
            Change::Down | Change::Up => {
                let up = matches!(act.change, Change::Up);
                for &l in &r.links {
                    self.net.links[l as usize].up = up;
                    if !up {
                        let [a, b] = self.net.link_ports[l as usize];
                        self.flush_port(a);
                        self.flush_port(b);
                    }
                }
                for &n in &r.nodes {
                    self.net.node_up[n] = up;
                    if !up {
                        self.flush_node(n);
                    }
                }
                let now_ns = self.now();
                for &(nic, port) in &r.nic_ports {
                    if !self.owns_nic(nic) {
                        continue;
                    }
                    let layer = &mut self.nic.layer[nic as usize];
                    layer.handle_port_status(now_ns, port, up);
                    for i in 0..layer.len() as u32 {
                        self.after_qp(nic, QpId(i));
                    }
                    if up {
                        self.service_nic(nic);
                    }
                }
                self.fail.reroutes.push((act.target, up));
                self.q.schedule(
                    now + delay,
                    Ev::Reroute {
                        idx: (self.fail.reroutes.len() - 1) as u32,
                    },
                );
            }
            Change::BlackHole(on) => {
                for &l in &r.links {
                    self.net.links[l as usize].black_hole = on;
                }
                for &n in &r.nodes {
                    for l in self.node_links(n) {
                        self.net.links[l as usize].black_hole = on;
                    }
                }
            }
            Change::Loss(ppm) => {
                for &l in &r.links {
                    self.net.links[l as usize].loss_ppm = ppm;
                }
            }
        }
    }

    pub(super) fn node_links(&self, n: NodeId) -> Vec<u32> {
        self.fabric
            .topo()
            .ports(n)
            .iter()
            .flatten()
            .map(|l| l.0)
            .collect()
    }

    pub(super) fn flush_node(&mut self, n: NodeId) {
        for g in self.net.ports_of(n) {
            self.flush_port(g);
            self.net.ports[g].ingress_bytes = 0;
            self.net.ports[g].pause_sent = false;
            let rev = self.net.ports[g].rev;
            if !rev.is_none() {
                self.flush_port(rev);
            }
        }
    }

    /// A port whose link went down: its queues are lost and PFC pause state is cleared (the
    /// switch sees loss of signal). Silent failures (black holes) do not call this.
    pub(super) fn flush_port(&mut self, g: PortId) {
        let node = self.net.ports[g].node;
        let port = &mut self.net.ports[g];
        let mut drained = Vec::new();
        while let Some(pk) = port.ctrl.pop(&self.net.pkts) {
            drained.push(pk);
        }
        while let Some(pk) = port.data.pop(&self.net.pkts) {
            drained.push(pk);
        }
        port.ctrl_bytes = 0;
        port.data_bytes = 0;
        port.paused = false;
        for pk in drained {
            let (inp, bytes) = {
                let p = &self.net.pkts[pk];
                (p.in_port, p.bytes)
            };
            if node.0 < self.nics {
                self.count.pkts_dropped_link += 1;
                self.net.free.push(pk);
            } else {
                if !inp.is_none() {
                    self.pfc_release(inp, bytes);
                }
                self.drop_at(node, pk);
            }
        }
    }

    pub(super) fn reroute(&mut self, idx: u32) {
        let (target, up) = self.fail.reroutes[idx as usize];
        tracing::debug!(
            sim_ps = self.q.now(),
            failure = target,
            up,
            "routes reconverged"
        );
        let r = self.fail.resolved[target as usize].clone();
        for &l in &r.links {
            let ls = &mut self.net.links[l as usize];
            if ls.routed_up != up {
                ls.routed_up = up;
                if up {
                    self.routes.routed_down -= 1;
                } else {
                    self.routes.routed_down += 1;
                }
            }
        }
        for &n in &r.nodes {
            if self.net.node_routed_up[n] != up {
                self.net.node_routed_up[n] = up;
                if up {
                    self.routes.routed_down -= 1;
                } else {
                    self.routes.routed_down += 1;
                }
            }
        }
    }
}

/// The failure schedule: resolved targets, the changes `Ev::Action` applies and the reroutes
/// `Ev::Reroute` applies.
#[derive(Default)]
pub(super) struct Failures {
    /// Per failure: what it hits.
    pub(super) resolved: Vec<Resolved>,
    pub(super) acts: Vec<Act>,
    /// `(target, up)` per scheduled reroute.
    pub(super) reroutes: Vec<(u32, bool)>,
}
