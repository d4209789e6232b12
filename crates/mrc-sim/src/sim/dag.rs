//! Workload DAGs (`mrc_workload::dag`) on the packet-level simulator.
//!
//! [`Sim::with_dag`] turns every network flow of a DAG (ranks on different NICs, not scale-up,
//! at least one byte) into a simulator flow and releases ops as a [`Tracker`] says: a network
//! flow starts on the fabric when its dependencies are done; compute ops and scale-up flows are
//! timed delays (an `Ev::Op` event), so only inter-node traffic touches the fabric. A flow that
//! fails (QP error) stops the DAG: NCCL aborts the communicator and the job crashes; the run
//! ends there and [`DagOutcome::failed`] says when and where.
//!
//! Network flows run on persistent connections (`conns`): one QP pair per (source NIC,
//! destination NIC) — per QP for RoCE with N QPs — opened when the run is built and kept for
//! the whole job, as NCCL does; each flow is one RDMA Write per QP on it.

use mrc_workload::Flow;
use mrc_workload::dag::{Dag, OpId, OpKind, ScaleUp, Tracker};

use crate::config::RunSpec;
use crate::factory::TransportFactory;

use super::flows::FlowState;
use super::ids::FlowId;
use super::{Ev, NONE, Sim, SimError};
use crate::kernel::{PS_PER_NS, Time};

const UNSET: Time = Time::MAX;

/// A workload DAG with its rank → NIC mapping.
#[derive(Clone, Debug)]
pub struct DagWorkload {
    /// The ops (ranks are indices into `nic_of_rank`).
    pub dag: Dag,
    /// NIC of every rank.
    pub nic_of_rank: Vec<u32>,
    /// Duration model of scale-up transfers (and of transfers between ranks on one NIC).
    pub scale_up: ScaleUp,
}

/// What a run did with a DAG.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DagOutcome {
    /// Start time of every op in ps (`None`: never started; markers: when their last
    /// dependency finished).
    pub start_ps: Vec<Option<Time>>,
    /// Finish time of every op in ps (`None`: never finished).
    pub finish_ps: Vec<Option<Time>>,
    /// Index in the run's flow list of the simulator flow that carried each op (network flows).
    pub op_flow: Vec<Option<u32>>,
    /// The job stopped: time of the first QP error or failed flow, and the op (if known).
    pub failed: Option<(Time, Option<OpId>)>,
    /// Every op finished.
    pub complete: bool,
}

pub(super) struct DagState {
    dag: Dag,
    tracker: Tracker,
    op_flow: Vec<u32>,
    first_flow: u32,
    flow_op: Vec<OpId>,
    start: Vec<Time>,
    finish: Vec<Time>,
    failed: Option<(Time, Option<OpId>)>,
    pumping: bool,
    delay_ns: Vec<u64>,
    /// The persistent QP pairs the flows run on.
    pub(super) conns: super::conns::Conns,
}

impl<F: TransportFactory> Sim<F> {
    /// A simulation whose traffic is a workload DAG (the run's own flow list must be empty).
    pub fn with_dag(spec: RunSpec, factory: F, w: DagWorkload) -> Result<Self, SimError> {
        if !spec.workload.flows.is_empty() {
            return Err(SimError::BadWorkload(
                "a DAG workload cannot be combined with a flow list".into(),
            ));
        }
        let mut sim = Self::new(spec, factory)?;
        let n = w.dag.ops.len();
        let mut op_flow = vec![NONE; n];
        let mut flow_op = Vec::new();
        let mut delay_ns = vec![0u64; n];
        let first_flow = sim.work.flows.len() as u32;
        for (i, op) in w.dag.ops.iter().enumerate() {
            match op.kind {
                OpKind::Flow(f) => {
                    let nic = |r: u32| {
                        w.nic_of_rank.get(r as usize).copied().ok_or_else(|| {
                            SimError::BadWorkload(format!(
                                "op {i}: rank {r} has no NIC (placement covers {} ranks)",
                                w.nic_of_rank.len()
                            ))
                        })
                    };
                    let (s, d) = (nic(f.src)?, nic(f.dst)?);
                    if s >= sim.nics || d >= sim.nics {
                        return Err(SimError::BadWorkload(format!(
                            "op {i}: ranks {}->{} map to NICs {s}->{d}, the fabric has {} NICs",
                            f.src, f.dst, sim.nics
                        )));
                    }
                    if f.scale_up || s == d || f.bytes == 0 {
                        delay_ns[i] = if f.bytes == 0 {
                            0
                        } else {
                            w.scale_up.duration_ns(f.bytes)
                        };
                    } else {
                        op_flow[i] = sim.spec.workload.flows.len() as u32;
                        flow_op.push(i as OpId);
                        sim.spec
                            .workload
                            .flows
                            .push(Flow::new(i as u64, s, d, f.bytes, 0));
                        sim.work.flows.push(FlowState::NOT_STARTED);
                    }
                }
                OpKind::Compute { duration_ns, .. } => delay_ns[i] = duration_ns,
                OpKind::Marker => {}
            }
        }
        let conns = sim.open_conns(first_flow);
        sim.dag = Some(Box::new(DagState {
            tracker: Tracker::new(&w.dag),
            dag: w.dag,
            op_flow,
            first_flow,
            flow_op,
            start: vec![UNSET; n],
            finish: vec![UNSET; n],
            failed: None,
            pumping: false,
            delay_ns,
            conns,
        }));
        sim.dag_pump();
        Ok(sim)
    }

    /// Starts every op the tracker has released.
    fn dag_pump(&mut self) {
        let Some(d) = self.dag.as_mut() else { return };
        if d.pumping || d.failed.is_some() {
            return;
        }
        d.pumping = true;
        loop {
            let Some(d) = self.dag.as_mut() else { return };
            if d.failed.is_some() {
                break;
            }
            let ready = d.tracker.take_ready();
            if ready.is_empty() {
                break;
            }
            let now = self.q.now();
            for op in ready {
                let Some(d) = self.dag.as_mut() else { return };
                d.start[op as usize] = now;
                let flow = d.op_flow[op as usize];
                if flow == NONE {
                    let dt = d.delay_ns[op as usize].saturating_mul(PS_PER_NS);
                    self.q.schedule(now.saturating_add(dt), Ev::Op { op });
                } else {
                    self.start_flow(FlowId(flow));
                }
            }
        }
        if let Some(d) = self.dag.as_mut() {
            d.pumping = false;
        }
    }

    /// A timed op (compute, scale-up transfer) finished.
    pub(super) fn dag_op_done(&mut self, op: OpId) {
        let now = self.q.now();
        let Some(d) = self.dag.as_mut() else { return };
        if d.failed.is_some() {
            return;
        }
        d.finish[op as usize] = now;
        d.tracker.complete(op);
        self.dag_pump();
    }

    /// Simulator flow `flow` finished (all its writes completed).
    pub(super) fn dag_flow_done(&mut self, flow: FlowId) {
        let now = self.q.now();
        let ok = self.work.flows[flow].ok;
        let Some(d) = self.dag.as_mut() else { return };
        let Some(&op) = flow
            .0
            .checked_sub(d.first_flow)
            .and_then(|i| d.flow_op.get(i as usize))
        else {
            return;
        };
        if d.failed.is_some() {
            return;
        }
        if !ok {
            d.failed = Some((now, Some(op)));
            return;
        }
        d.finish[op as usize] = now;
        d.tracker.complete(op);
        self.dag_pump();
    }

    /// Whether the run is over: every flow done (flow lists), or the DAG finished or stopped.
    pub(super) fn finished(&mut self, total: u64) -> bool {
        let now = self.q.now();
        let errors = self.count.qp_errors;
        match self.dag.as_mut() {
            None => total > 0 && self.work.flows_done == total,
            Some(d) => {
                if d.failed.is_none() && errors > 0 {
                    d.failed = Some((now, None));
                }
                d.failed.is_some() || d.tracker.all_done()
            }
        }
    }

    /// When the DAG finished (its last op), if it did.
    pub(super) fn dag_end(&self) -> Option<Time> {
        let d = self.dag.as_ref()?;
        if !d.tracker.all_done() || d.failed.is_some() {
            return None;
        }
        Some(
            d.finish
                .iter()
                .filter(|&&t| t != UNSET)
                .max()
                .copied()
                .unwrap_or(0),
        )
    }

    /// What happened to the DAG of a [`Sim::with_dag`] run (`None` for flow-list runs).
    pub fn dag_outcome(&self) -> Option<DagOutcome> {
        let d = self.dag.as_ref()?;
        let n = d.dag.ops.len();
        let mut start = d.start.clone();
        let mut finish = d.finish.clone();
        // Markers complete with their last dependency (ops are in topological order).
        for (i, op) in d.dag.ops.iter().enumerate() {
            if matches!(op.kind, OpKind::Marker) && d.tracker.is_done(i as OpId) {
                let t = op
                    .deps
                    .iter()
                    .map(|&p| finish[p as usize])
                    .filter(|&t| t != UNSET)
                    .max()
                    .unwrap_or(0);
                start[i] = t;
                finish[i] = t;
            }
        }
        let opt = |t: Time| (t != UNSET).then_some(t);
        Some(DagOutcome {
            start_ps: start.into_iter().map(opt).collect(),
            finish_ps: finish.into_iter().map(opt).collect(),
            op_flow: (0..n)
                .map(|i| (d.op_flow[i] != NONE).then_some(d.op_flow[i]))
                .collect(),
            failed: d.failed,
            complete: d.failed.is_none() && d.tracker.all_done(),
        })
    }
}
