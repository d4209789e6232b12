//! Training-job model: proxy configs, figures of docs/workload.md §6, DAG byte counts against the
//! §5 formulas, validation errors.
#![allow(clippy::unwrap_used, reason = "test code")]

use mrc_workload::collective::CollectiveError;
use mrc_workload::dag::{AlphaBeta, Dag, OpKind, ScaleUp, execute_alpha_beta};
use mrc_workload::training::{JobConfig, JobConfigError, JobOverrides, StepDagError};

fn builtin(name: &str) -> JobConfig {
    JobConfig::builtin(name).unwrap().unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-30)
}

#[test]
fn worked_example_llama3_405b() {
    // docs/workload.md §6 (Llama 3 405B, 16,384 H100, TP 8, PP 16, DP 128, s 8192, m 16).
    let c = builtin("dense-400b");
    assert_eq!(c.micro_batches_per_step, 16);
    assert_eq!(c.tokens_per_step(), 16 << 20);
    assert!(rel(c.dense_shard_params() as f64, 3.16e9) < 0.002);
    assert_eq!(c.activation_bytes(), 268_435_456); // A = b·s·h·2 ≈ 268 MB
    let b = c.per_gpu_bytes();
    // DP: RS fp32 grads + AG bf16 params ≈ 12.56 GB + 6.28 GB ≈ 18.8 GB per GPU per step.
    assert!(rel(b.dp, 18.8e9) < 0.005, "{}", b.dp);
    // TP: ≈ 237 GB per GPU per step over NVLink.
    assert!(rel(b.tp, 237e9) < 0.005, "{}", b.tp);
    // PP (with scatter-gather /t): ≈ 1.07 GB.
    assert!(rel(b.pp, 1.07e9) < 0.005, "{}", b.pp);
    assert_eq!((b.cp, b.ep), (0.0, 0.0));
    // Step compute 6·P·tokens / (400 TFLOP/s · 16,384) ≈ 6.2 s.
    let t = c.compute_ns_per_step() as f64 / 1e9;
    assert!((t - 6.2).abs() < 0.05, "{t}");
    // DP fully exposed at 400G (50 GB/s): 0.38 s ≈ 6% of the step.
    let dp_s = b.dp / 50e9;
    assert!((dp_s - 0.38).abs() < 0.01, "{dp_s}");
    assert!((dp_s / t - 0.06).abs() < 0.005);
    // Megatron's default bucket: max(40 M, 1 M · 128) params × 4 B.
    assert_eq!(c.bucket_bytes(), 128_000_000 * 4);
}

#[test]
fn worked_example_context_parallel_phase() {
    // §6: CP phase (s = 128 K, CP 16): K+V per layer per TP rank 67 MB; AG sends ≈ 63 MB.
    let c = builtin("omni-proxy");
    assert!(rel(c.kv_bytes_per_layer() as f64, 67.1e6) < 0.001);
    let sent = c.kv_bytes_per_layer() as f64 * 15.0 / 16.0;
    assert!(rel(sent, 62.9e6) < 0.001, "{sent}");
    // Compute per step at 380 TFLOP/s with the same 16 M tokens: ≈ 6.5 s.
    let t = c.compute_ns_per_step() as f64 / 1e9;
    assert!((t - 6.2 * 400.0 / 380.0).abs() < 0.05, "{t}");
}

#[test]
fn shipped_configs_validate_and_say_they_are_proxies() {
    for name in JobConfig::BUILTIN {
        let c = builtin(name);
        assert!(c.description.contains("proxy"), "{name}");
        assert!(c.description.contains("GPT-4o"), "{name}");
        let text = std::fs::read_to_string(format!(
            "{}/configs/{name}.toml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert!(text.contains("GPT-4o's architecture"), "{name}");
        assert!(text.contains("NOT public"), "{name}");
        c.validate().unwrap();
    }
    assert!(JobConfig::builtin("gpt-4o").is_none());
}

fn small(name: &str) -> JobConfig {
    let base = builtin(name);
    let o = match name {
        "dense-400b" => JobOverrides {
            layers: Some(8),
            hidden_size: Some(1024),
            parameters: Some(800_000_000),
            sequence_length_tokens: Some(1024),
            micro_batches_per_step: Some(4),
            tp: Some(4),
            pp: Some(2),
            dp: Some(4),
            layer_blocks_per_stage: Some(2),
            dp_bucket_bytes: Some(100_000_000),
            ..JobOverrides::default()
        },
        "moe" => JobOverrides {
            layers: Some(4),
            moe_layers: Some(4),
            hidden_size: Some(512),
            parameters: Some(1_000_000_000),
            active_parameters: Some(200_000_000),
            expert_parameters: Some(800_000_000),
            sequence_length_tokens: Some(512),
            micro_batches_per_step: Some(2),
            pp: Some(2),
            dp: Some(8),
            ep: Some(4),
            ..JobOverrides::default()
        },
        _ => JobOverrides {
            layers: Some(4),
            hidden_size: Some(1024),
            parameters: Some(400_000_000),
            sequence_length_tokens: Some(8192),
            micro_batches_per_step: Some(2),
            tp: Some(2),
            pp: Some(2),
            dp: Some(2),
            cp: Some(4),
            ..JobOverrides::default()
        },
    };
    base.with_overrides(&o).unwrap()
}

/// Bytes sent per rank for flows whose collective name starts with `prefix` ("" + `pp` = flows
/// outside any collective).
fn sent(dag: &Dag, ranks: u32, prefix: &str) -> Vec<u64> {
    dag.bytes_sent_per_rank(ranks, |op| match (op.collective, prefix) {
        (None, "pp") => true,
        (Some(i), p) if p != "pp" => dag.collectives[i as usize].name.starts_with(p),
        _ => false,
    })
}

fn max(v: &[u64]) -> f64 {
    v.iter().copied().max().unwrap_or(0) as f64
}

#[test]
fn dag_bytes_match_section5_formulas() {
    for name in JobConfig::BUILTIN {
        let c = small(name);
        let jd = c.step_dag(1).unwrap();
        let n = c.gpus;
        let want = c.per_gpu_bytes();
        let dp = sent(&jd.dag, n, "dp-");
        let tp = sent(&jd.dag, n, "tp-");
        let pp = sent(&jd.dag, n, "pp");
        let cp = sent(&jd.dag, n, "cp-");
        let ep = sent(&jd.dag, n, "ep-");
        // Integer chunking rounds down by at most a few bytes per collective.
        assert!(
            rel(max(&dp), want.dp) < 1e-6,
            "{name} dp {} {}",
            max(&dp),
            want.dp
        );
        if want.tp > 0.0 {
            assert!(rel(max(&tp), want.tp) < 1e-6, "{name} tp");
        }
        if want.pp > 0.0 {
            assert!(
                rel(max(&pp), want.pp / 2.0) < 1e-6,
                "{name}: 2 stages send one way each"
            );
        }
        if want.cp > 0.0 {
            assert!(
                rel(max(&cp), want.cp) < 1e-6,
                "{name} cp {} {}",
                max(&cp),
                want.cp
            );
        } else {
            assert_eq!(max(&cp), 0.0);
        }
        if want.ep > 0.0 {
            assert!(
                rel(max(&ep), want.ep) < 1e-6,
                "{name} ep {} {}",
                max(&ep),
                want.ep
            );
        } else {
            assert_eq!(max(&ep), 0.0);
        }
    }
}

#[test]
fn tp_stays_on_scale_up_and_dp_goes_to_the_network() {
    let c = small("dense-400b");
    let jd = c.step_dag(1).unwrap();
    for op in &jd.dag.ops {
        if let (OpKind::Flow(f), Some(i)) = (op.kind, op.collective) {
            let name = &jd.dag.collectives[i as usize].name;
            if name.starts_with("tp-") {
                assert!(f.scale_up, "{name}");
            }
            if name.starts_with("dp-") {
                assert!(!f.scale_up, "{name}");
                assert_eq!(
                    jd.placement.rail(f.src),
                    jd.placement.rail(f.dst),
                    "rail-aligned DP"
                );
            }
        }
    }
}

fn model(gbps: u64) -> AlphaBeta {
    AlphaBeta {
        alpha_ns: 5_000,
        bandwidth_bytes_per_s: gbps * 1_000_000_000 / 8,
        scale_up: ScaleUp::default(),
    }
}

#[test]
fn step_time_is_critical_path_and_repeats() {
    for name in JobConfig::BUILTIN {
        let mut c = small(name);
        c.compute_jitter_pct = 0;
        let jd = c.job_dag(3, 7).unwrap();
        assert_eq!(jd.step_end.len(), 3);
        let t = execute_alpha_beta(&jd.dag, &model(400));
        let ends: Vec<u64> = jd
            .step_end
            .iter()
            .map(|&e| t.finish_ns[e as usize])
            .collect();
        let steps: Vec<u64> = std::iter::once(ends[0])
            .chain(ends.windows(2).map(|w| w[1] - w[0]))
            .collect();
        // Identical steps without jitter.
        assert!(steps.iter().all(|&s| s == steps[0]), "{name}: {steps:?}");
        // At least the per-GPU compute plus the pipeline bubble share.
        assert!(steps[0] >= c.compute_ns_per_step(), "{name}");
        // A slower network never makes the step faster.
        let slow = execute_alpha_beta(&jd.dag, &model(100));
        assert!(slow.finish_ns[jd.step_end[0] as usize] >= ends[0], "{name}");
    }
}

#[test]
fn dp_overlaps_backward() {
    // With DP bucketed per block during the last backward micro-batch, the exposed DP time is
    // less than the DP time itself.
    let c = small("dense-400b");
    let jd = c.step_dag(1).unwrap();
    let fast = execute_alpha_beta(&jd.dag, &model(1_000_000)).makespan_ns();
    let slow = execute_alpha_beta(&jd.dag, &model(100)).makespan_ns();
    assert!(slow > fast);
}

#[test]
fn jitter_is_seeded() {
    let c = small("omni-proxy");
    assert!(c.compute_jitter_pct > 0);
    let a = c.job_dag(2, 1).unwrap();
    let b = c.job_dag(2, 1).unwrap();
    let d = c.job_dag(2, 2).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.dag, d.dag);
}

#[test]
fn bad_configs_name_the_field() {
    let c = builtin("dense-400b");
    let e = c
        .clone()
        .with_overrides(&JobOverrides {
            gpus: Some(1000),
            ..JobOverrides::default()
        })
        .unwrap_err();
    assert!(matches!(
        e,
        JobConfigError::Degrees {
            product: 16384,
            gpus: 1000,
            ..
        }
    ));
    assert!(e.to_string().contains("gpus = 1000"), "{e}");
    let e = c
        .clone()
        .with_overrides(&JobOverrides {
            sequence_length_tokens: Some(0),
            ..JobOverrides::default()
        })
        .unwrap_err();
    assert_eq!(e.to_string(), "sequence_length_tokens must be > 0");
    let e = c
        .clone()
        .with_overrides(&JobOverrides {
            layers: Some(8),
            ..JobOverrides::default()
        })
        .unwrap_err();
    assert!(e.to_string().contains("layers = 8: expected >= pp"), "{e}");
    let text =
        include_str!("../configs/dense-400b.toml").replace("zero_stage = 1", "zero_stage = 4");
    let e = JobConfig::from_toml_str(&text).unwrap_err();
    assert!(e.to_string().contains("zero_stage = 4"), "{e}");
    let text = format!(
        "{}\nlayerz = 3\n",
        include_str!("../configs/dense-400b.toml")
    );
    let e = JobConfig::from_toml_str(&text).unwrap_err();
    assert!(e.to_string().contains("layerz"), "{e}");
    let text = include_str!("../configs/dense-400b.toml").replace("tp = 8 ", "tp = 0 ");
    assert!(matches!(
        JobConfig::from_toml_str(&text),
        Err(JobConfigError::Zero { field: "tp" })
    ));
    let mut bad = small("dense-400b");
    bad.dp = 3;
    assert!(matches!(bad.step_dag(0), Err(StepDagError::Config(_))));
}

#[test]
fn t1_reboot_and_nic_lane_failure_mrc_finishes_roce_crashes() {
    use mrc_workload::failure::{Failure, RunParams, Transport, replay};
    // Step time of a scaled dense proxy from the α–β executor (the simulator would measure it).
    let c = small("dense-400b");
    let jd = c.job_dag(1, 0).unwrap();
    let t = execute_alpha_beta(&jd.dag, &model(800));
    let step = jd.step_times_ns(&t.finish_ns)[0];
    assert!(step > 0);
    let s = 1_000_000_000u64;
    let failures = [
        // T1 switch reboot: down ~2 min, fabric element (reroutable only with dynamic routing).
        Failure {
            start_ns: 3 * step + step / 2,
            down_ns: Some(120 * s),
            hits_traffic: true,
            reroutable: true,
        },
        // NIC lane failure 15 min into the run: stays down.
        Failure {
            start_ns: 900 * s + step / 3,
            down_ns: None,
            hits_traffic: true,
            reroutable: false,
        },
    ];
    // Long enough that the job still runs at 15 min (also for RoCE after its first restart).
    assert!(step >= 3_000_000, "{step}");
    let steps = 200_000;
    let mrc = replay(&RunParams::new(Transport::Mrc, steps), |_| step, &failures);
    assert_eq!(mrc.steps_completed, steps);
    assert!(!mrc.crashed());
    assert!(
        mrc.failures
            .iter()
            .all(|f| !f.crashed && f.work_lost_ns == 0)
    );
    let roce = replay(&RunParams::new(Transport::Roce, steps), |_| step, &failures);
    assert_eq!(
        roce.steps_completed, steps,
        "restarts from checkpoints and finishes"
    );
    assert_eq!(roce.crashes, 2);
    assert!(roce.failures.iter().all(|f| f.crashed));
    assert_eq!(roce.failures[0].lost_steps, 3);
    assert!(roce.ettr() < mrc.ettr());
    assert!(roce.step_time().max > mrc.step_time().max);
}

#[test]
fn tracker_drains_a_job_dag_and_zero_stages_match_formulas() {
    use mrc_workload::dag::Tracker;
    for zero in [0u8, 1, 3] {
        let mut c = small("dense-400b");
        c.zero_stage = zero;
        let jd = c.job_dag(2, 0).unwrap();
        let want = c.per_gpu_bytes().dp;
        let per_step = max(&sent(&jd.dag, c.gpus, "dp-")) + max(&sent(&jd.dag, c.gpus, "zero3-"));
        assert!(
            rel(per_step / 2.0, want) < 1e-6,
            "zero {zero}: {per_step} vs 2 × {want}"
        );
        let mut t = Tracker::new(&jd.dag);
        let mut seen = vec![false; jd.dag.ops.len()];
        while !t.all_done() {
            let ready = t.take_ready();
            assert!(!ready.is_empty(), "zero {zero}: stuck");
            for id in ready {
                assert!(!seen[id as usize], "op {id} released twice");
                seen[id as usize] = true;
                t.complete(id);
            }
        }
    }
}

#[test]
fn a_dag_beyond_its_memory_bound_is_refused_not_built() {
    let c = small("omni-proxy");
    let full = c.job_dag(2, 1).unwrap();
    let n = full.dag.ops.len();
    // Exactly enough room: the same DAG.
    let bounded = c.job_dag_within(2, 1, n).unwrap();
    assert_eq!(bounded.dag.ops, full.dag.ops);
    assert_eq!(bounded.dag.collectives, full.dag.collectives);
    // One op short: refused, naming the bound.
    match c.job_dag_within(2, 1, n - 1) {
        Err(StepDagError::Collective(CollectiveError::DagFull(f))) => assert_eq!(f.max_ops, n - 1),
        other => panic!("expected DagFull, got {other:?}"),
    }
}
