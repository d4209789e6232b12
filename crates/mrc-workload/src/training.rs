//! Training-job model: a config → a per-step DAG of compute and communication per rank
//! (docs/workload.md §1, §5, §6, §8).
//!
//! Rank order is \[TP, CP, PP, DP\] (TP fastest, as Llama 3): `rank = tp + t·(cp + c·(pp + p·dp))`,
//! so TP groups sit inside a scale-up domain and DP groups span nodes on one rail. Expert
//! parallelism is carved out of DP: EP groups are `e` consecutive DP indices, expert gradients
//! are synchronised over the `d/e` ranks that hold the same experts.
//!
//! Per step and rank the DAG runs a GPipe-ordered pipeline (all forward micro-batches, then all
//! backward ones; same bubble `(p−1)/m` as 1F1B). The layers of a stage are cut into
//! `layer_blocks_per_stage` blocks; per micro-batch and block: compute, then the TP all-reduces,
//! CP all-gather (reduce-scatter in backward) of K/V and EP all-to-alls of that block's layers,
//! each merged into one collective of the summed size. Pipeline sends are asynchronous. DP
//! gradient collectives (bucketed, `dp_bucket_bytes`) are issued on a separate per-rank stream as
//! the last backward micro-batch finishes each block, so they overlap backward compute; the
//! optimizer waits for them; a global barrier ends the step. Compute time per GPU follows
//! `6 · P_active · tokens / (N · achieved TFLOP/s)` (forward one third, backward two thirds).

use std::path::Path;

use serde::Deserialize;

use crate::collective::{
    Algorithm, Collective, CollectiveError, CollectiveKind, Start, split_bytes,
};
use crate::dag::{Dag, OpId};
use crate::placement::{Placement, PlacementError};

/// A training job. Field names carry their units; see the proxy configs in
/// `crates/mrc-workload/configs/`.
#[derive(Clone, PartialEq, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JobConfig {
    /// Name shown in reports.
    pub name: String,
    /// Free text (e.g. "proxy, not GPT-4o").
    #[serde(default)]
    pub description: String,
    /// Transformer layers L.
    pub layers: u32,
    /// Hidden size h.
    pub hidden_size: u64,
    /// Total parameters P (MoE: total, not active).
    pub parameters: u64,
    /// Parameters used per token for FLOPs (MoE); default = `parameters`.
    #[serde(default)]
    pub active_parameters: Option<u64>,
    /// Parameters inside experts (their gradients go over the expert-DP group, ÷e); default 0.
    #[serde(default)]
    pub expert_parameters: u64,
    /// MoE layers (each with dispatch + combine all-to-all); default 0.
    #[serde(default)]
    pub moe_layers: u32,
    /// Experts per token, k (top-k); needed when `moe_layers > 0`.
    #[serde(default)]
    pub experts_top_k: u32,
    /// KV heads (GQA), for context-parallel K/V traffic; default 8.
    #[serde(default = "default_kv_heads")]
    pub kv_heads: u64,
    /// Head dimension; default 128.
    #[serde(default = "default_head_dim")]
    pub head_dim: u64,
    /// Sequence length s in tokens.
    pub sequence_length_tokens: u64,
    /// Micro-batch size b in sequences.
    pub micro_batch_sequences: u64,
    /// Micro-batches each pipeline runs per step, m.
    pub micro_batches_per_step: u32,
    /// GPUs N; must equal tp · pp · cp · dp.
    pub gpus: u32,
    /// Tensor-parallel degree t.
    pub tp: u32,
    /// Pipeline-parallel degree p.
    pub pp: u32,
    /// Data-parallel degree d.
    pub dp: u32,
    /// Context-parallel degree c; default 1.
    #[serde(default = "one")]
    pub cp: u32,
    /// Expert-parallel degree e (divides dp); default 1.
    #[serde(default = "one")]
    pub ep: u32,
    /// GPUs per scale-up domain (node), g; one NIC per GPU.
    pub gpus_per_scale_up_domain: u32,
    /// Achieved dense TFLOP/s per GPU (not peak).
    pub achieved_tflops: u32,
    /// Bytes per element of activations and parameters (bf16: 2).
    pub bytes_per_element: u64,
    /// Bytes per element of gradients in DP collectives; default = `bytes_per_element`.
    #[serde(default)]
    pub grad_bytes_per_element: Option<u64>,
    /// ZeRO stage: 0 (DDP all-reduce), 1 or 2 (reduce-scatter grads + all-gather params),
    /// 3 (all-gather params in forward and backward + reduce-scatter grads).
    #[serde(default)]
    pub zero_stage: u8,
    /// DP bucket size in bytes of gradients; default Megatron's
    /// `max(40 M, 1 M · dp)` parameters × gradient bytes.
    #[serde(default)]
    pub dp_bucket_bytes: Option<u64>,
    /// Blocks each stage's layers are cut into in the DAG (granularity); default 1.
    #[serde(default = "one")]
    pub layer_blocks_per_stage: u32,
    /// Optimizer step time in ns; default 0.
    #[serde(default)]
    pub optimizer_step_ns: u64,
    /// Per-micro-batch compute jitter, ± percent, uniform (variable multimodal lengths);
    /// default 0.
    #[serde(default)]
    pub compute_jitter_pct: u32,
    /// Collective algorithm for TP/CP/DP collectives; default ring.
    #[serde(default = "ring")]
    pub algorithm: Algorithm,
}

const fn one() -> u32 {
    1
}
const fn default_kv_heads() -> u64 {
    8
}
const fn default_head_dim() -> u64 {
    128
}
const fn ring() -> Algorithm {
    Algorithm::Ring
}

/// Overrides to scale a proxy config down (e.g. so a packet-level run takes minutes). Every
/// field is optional; `gpus` is recomputed from the degrees when any degree is overridden and
/// `gpus` is not.
#[derive(Clone, PartialEq, Eq, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobOverrides {
    /// Layers.
    pub layers: Option<u32>,
    /// Hidden size.
    pub hidden_size: Option<u64>,
    /// Parameters.
    pub parameters: Option<u64>,
    /// Active parameters.
    pub active_parameters: Option<u64>,
    /// Expert parameters.
    pub expert_parameters: Option<u64>,
    /// MoE layers.
    pub moe_layers: Option<u32>,
    /// Sequence length in tokens.
    pub sequence_length_tokens: Option<u64>,
    /// Micro-batches per step.
    pub micro_batches_per_step: Option<u32>,
    /// GPUs.
    pub gpus: Option<u32>,
    /// TP.
    pub tp: Option<u32>,
    /// PP.
    pub pp: Option<u32>,
    /// DP.
    pub dp: Option<u32>,
    /// CP.
    pub cp: Option<u32>,
    /// EP.
    pub ep: Option<u32>,
    /// Layer blocks per stage.
    pub layer_blocks_per_stage: Option<u32>,
    /// DP bucket bytes.
    pub dp_bucket_bytes: Option<u64>,
    /// Achieved TFLOP/s.
    pub achieved_tflops: Option<u32>,
}

/// Errors loading or validating a [`JobConfig`]. Each names the field and the expectation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobConfigError {
    /// TOML syntax or an unknown/mistyped field.
    #[error("{0}")]
    Parse(String),
    /// The file could not be read.
    #[error("reading {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        message: String,
    },
    /// A field that must be positive is zero.
    #[error("{field} must be > 0")]
    Zero {
        /// The field.
        field: &'static str,
    },
    /// The parallel degrees do not multiply to the GPU count.
    #[error("tp · pp · cp · dp = {tp} · {pp} · {cp} · {dp} = {product}, but gpus = {gpus}")]
    Degrees {
        /// TP.
        tp: u32,
        /// PP.
        pp: u32,
        /// CP.
        cp: u32,
        /// DP.
        dp: u32,
        /// Their product.
        product: u64,
        /// GPUs.
        gpus: u32,
    },
    /// `field` must be a multiple of `by_field`.
    #[error("{field} = {value} must be a multiple of {by_field} = {by}")]
    NotMultiple {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// The divisor's field.
        by_field: &'static str,
        /// The divisor.
        by: u64,
    },
    /// A value outside its allowed range.
    #[error("{field} = {value}: expected {expected}")]
    Range {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// What is allowed.
        expected: &'static str,
    },
}

/// Errors building a job DAG.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StepDagError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] JobConfigError),
    /// A collective could not be built.
    #[error(transparent)]
    Collective(#[from] CollectiveError),
    /// The placement could not be built.
    #[error(transparent)]
    Placement(#[from] PlacementError),
}

/// Per-GPU bytes sent per optimizer step, by parallelism dimension (docs/workload.md §5), for the
/// busiest GPU of each dimension (interior pipeline stage for PP).
#[derive(Clone, Copy, PartialEq, Debug, Default)]
pub struct PerGpuBytes {
    /// Data parallel (scale-out).
    pub dp: f64,
    /// Tensor parallel (scale-up when t ≤ g).
    pub tp: f64,
    /// Pipeline parallel.
    pub pp: f64,
    /// Context parallel.
    pub cp: f64,
    /// Expert parallel (all-to-all).
    pub ep: f64,
}

/// A multi-step job DAG with its placement.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct JobDag {
    /// The DAG (scale-up flows already marked via [`Dag::place`]).
    pub dag: Dag,
    /// Rank → NIC mapping (rail-aligned with `gpus_per_scale_up_domain`).
    pub placement: Placement,
    /// Global barrier marker at the end of each step; step `k` takes
    /// `finish(step_end[k]) − finish(step_end[k−1])` (from 0 for the first).
    pub step_end: Vec<OpId>,
    /// Ranks.
    pub ranks: u32,
}

impl JobDag {
    /// Step durations from op finish times (e.g. [`crate::dag::Timeline::finish_ns`]): step `k`
    /// ends when its barrier `step_end[k]` completes.
    pub fn step_times_ns(&self, finish_ns: &[u64]) -> Vec<u64> {
        let mut prev = 0u64;
        self.step_end
            .iter()
            .map(|&e| {
                let end = finish_ns.get(e as usize).copied().unwrap_or(prev);
                let d = end.saturating_sub(prev);
                prev = end;
                d
            })
            .collect()
    }
}

/// Coordinates of a rank.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Coords {
    /// TP index.
    pub tp: u32,
    /// CP index.
    pub cp: u32,
    /// PP stage.
    pub pp: u32,
    /// DP index.
    pub dp: u32,
}

impl JobConfig {
    /// Parse a TOML config and validate it.
    pub fn from_toml_str(s: &str) -> Result<Self, JobConfigError> {
        let c: Self = toml::from_str(s).map_err(|e| JobConfigError::Parse(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    /// Read, parse and validate a TOML config file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, JobConfigError> {
        let path = path.as_ref();
        let s = std::fs::read_to_string(path).map_err(|e| JobConfigError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_toml_str(&s).map_err(|e| match e {
            JobConfigError::Parse(m) => JobConfigError::Parse(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// A shipped proxy config by name: `dense-400b`, `moe` or `omni-proxy`.
    pub fn builtin(name: &str) -> Option<Result<Self, JobConfigError>> {
        let text = match name {
            "dense-400b" => include_str!("../configs/dense-400b.toml"),
            "moe" => include_str!("../configs/moe.toml"),
            "omni-proxy" => include_str!("../configs/omni-proxy.toml"),
            _ => return None,
        };
        Some(Self::from_toml_str(text))
    }

    /// Names accepted by [`JobConfig::builtin`].
    pub const BUILTIN: [&'static str; 3] = ["dense-400b", "moe", "omni-proxy"];

    /// Apply overrides and re-validate.
    pub fn with_overrides(mut self, o: &JobOverrides) -> Result<Self, JobConfigError> {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = o.$f { self.$f = v; } )* };
        }
        set!(
            layers,
            hidden_size,
            parameters,
            expert_parameters,
            moe_layers,
            sequence_length_tokens,
            micro_batches_per_step,
            tp,
            pp,
            dp,
            cp,
            ep,
            layer_blocks_per_stage,
            achieved_tflops
        );
        if let Some(v) = o.active_parameters {
            self.active_parameters = Some(v);
        }
        if let Some(v) = o.dp_bucket_bytes {
            self.dp_bucket_bytes = Some(v);
        }
        match o.gpus {
            Some(g) => self.gpus = g,
            None => {
                if o.tp.or(o.pp).or(o.dp).or(o.cp).is_some() {
                    let prod = u64::from(self.tp)
                        * u64::from(self.pp)
                        * u64::from(self.cp)
                        * u64::from(self.dp);
                    self.gpus = u32::try_from(prod).unwrap_or(u32::MAX);
                }
            }
        }
        self.validate()?;
        Ok(self)
    }

    /// Check every field; the error names the field and the expectation.
    pub fn validate(&self) -> Result<(), JobConfigError> {
        let zero = |v: u64, field: &'static str| {
            if v == 0 {
                Err(JobConfigError::Zero { field })
            } else {
                Ok(())
            }
        };
        zero(u64::from(self.layers), "layers")?;
        zero(self.hidden_size, "hidden_size")?;
        zero(self.parameters, "parameters")?;
        zero(self.sequence_length_tokens, "sequence_length_tokens")?;
        zero(self.micro_batch_sequences, "micro_batch_sequences")?;
        zero(
            u64::from(self.micro_batches_per_step),
            "micro_batches_per_step",
        )?;
        zero(u64::from(self.gpus), "gpus")?;
        zero(u64::from(self.tp), "tp")?;
        zero(u64::from(self.pp), "pp")?;
        zero(u64::from(self.dp), "dp")?;
        zero(u64::from(self.cp), "cp")?;
        zero(u64::from(self.ep), "ep")?;
        zero(
            u64::from(self.gpus_per_scale_up_domain),
            "gpus_per_scale_up_domain",
        )?;
        zero(u64::from(self.achieved_tflops), "achieved_tflops")?;
        zero(self.bytes_per_element, "bytes_per_element")?;
        zero(
            u64::from(self.layer_blocks_per_stage),
            "layer_blocks_per_stage",
        )?;
        zero(self.kv_heads, "kv_heads")?;
        zero(self.head_dim, "head_dim")?;
        if let Some(g) = self.grad_bytes_per_element {
            zero(g, "grad_bytes_per_element")?;
        }
        if let Some(b) = self.dp_bucket_bytes {
            zero(b, "dp_bucket_bytes")?;
        }
        if let Some(a) = self.active_parameters {
            zero(a, "active_parameters")?;
            if a > self.parameters {
                return Err(JobConfigError::Range {
                    field: "active_parameters",
                    value: a,
                    expected: "<= parameters",
                });
            }
        }
        let product =
            u64::from(self.tp) * u64::from(self.pp) * u64::from(self.cp) * u64::from(self.dp);
        if product != u64::from(self.gpus) {
            return Err(JobConfigError::Degrees {
                tp: self.tp,
                pp: self.pp,
                cp: self.cp,
                dp: self.dp,
                product,
                gpus: self.gpus,
            });
        }
        let multiple = |field, value: u64, by_field, by: u64| {
            if value.is_multiple_of(by) {
                Ok(())
            } else {
                Err(JobConfigError::NotMultiple {
                    field,
                    value,
                    by_field,
                    by,
                })
            }
        };
        multiple(
            "gpus",
            u64::from(self.gpus),
            "gpus_per_scale_up_domain",
            u64::from(self.gpus_per_scale_up_domain),
        )?;
        multiple(
            "sequence_length_tokens",
            self.sequence_length_tokens,
            "cp",
            u64::from(self.cp),
        )?;
        multiple("dp", u64::from(self.dp), "ep", u64::from(self.ep))?;
        let need = u64::from(self.pp) * u64::from(self.layer_blocks_per_stage);
        if u64::from(self.layers) < need {
            return Err(JobConfigError::Range {
                field: "layers",
                value: u64::from(self.layers),
                expected: ">= pp · layer_blocks_per_stage (every block needs a layer)",
            });
        }
        if self.zero_stage > 3 {
            return Err(JobConfigError::Range {
                field: "zero_stage",
                value: u64::from(self.zero_stage),
                expected: "0, 1, 2 or 3",
            });
        }
        if self.moe_layers > self.layers {
            return Err(JobConfigError::Range {
                field: "moe_layers",
                value: u64::from(self.moe_layers),
                expected: "<= layers",
            });
        }
        if self.moe_layers > 0 && self.experts_top_k == 0 {
            return Err(JobConfigError::Zero {
                field: "experts_top_k",
            });
        }
        if self.expert_parameters >= self.parameters {
            return Err(JobConfigError::Range {
                field: "expert_parameters",
                value: self.expert_parameters,
                expected: "< parameters",
            });
        }
        if self.compute_jitter_pct >= 100 {
            return Err(JobConfigError::Range {
                field: "compute_jitter_pct",
                value: u64::from(self.compute_jitter_pct),
                expected: "< 100",
            });
        }
        if !self.algorithm.supports(CollectiveKind::AllReduce)
            || self.algorithm == Algorithm::Hierarchical
        {
            return Err(JobConfigError::Range {
                field: "algorithm",
                value: 0,
                expected: "ring or halving_doubling",
            });
        }
        Ok(())
    }

    /// Coordinates of a rank (order \[TP, CP, PP, DP\]).
    pub const fn coords(&self, rank: u32) -> Coords {
        let tp = rank % self.tp;
        let r = rank / self.tp;
        let cp = r % self.cp;
        let r = r / self.cp;
        let pp = r % self.pp;
        let dp = r / self.pp;
        Coords { tp, cp, pp, dp }
    }

    /// Rank of coordinates.
    pub const fn rank(&self, c: Coords) -> u32 {
        c.tp + self.tp * (c.cp + self.cp * (c.pp + self.pp * c.dp))
    }

    fn grad_bytes(&self) -> u64 {
        self.grad_bytes_per_element
            .unwrap_or(self.bytes_per_element)
    }

    /// Gradient bucket size in bytes (explicit, or Megatron's default).
    pub fn bucket_bytes(&self) -> u64 {
        self.dp_bucket_bytes.unwrap_or_else(|| {
            40_000_000u64.max(1_000_000 * u64::from(self.dp)) * self.grad_bytes()
        })
    }

    /// Activation bytes of one micro-batch at a stage boundary, A = b · (s/c) · h · β.
    pub fn activation_bytes(&self) -> u64 {
        self.micro_batch_sequences
            * (self.sequence_length_tokens / u64::from(self.cp))
            * self.hidden_size
            * self.bytes_per_element
    }

    /// K+V bytes per layer per TP rank for the full sequence, 2 · b · s · n_kv · d_head · β / t
    /// (the all-gather total of context parallelism).
    pub fn kv_bytes_per_layer(&self) -> u64 {
        2 * self.micro_batch_sequences
            * self.sequence_length_tokens
            * self.kv_heads
            * self.head_dim
            * self.bytes_per_element
            / u64::from(self.tp)
    }

    /// All-to-all buffer per GPU per MoE layer and direction, T_gpu · k · h · β with
    /// T_gpu = b · s / (c · t).
    pub fn a2a_bytes_per_layer(&self) -> u64 {
        self.micro_batch_sequences * self.sequence_length_tokens
            / (u64::from(self.cp) * u64::from(self.tp))
            * u64::from(self.experts_top_k)
            * self.hidden_size
            * self.bytes_per_element
    }

    /// Dense (non-expert) parameters held per GPU, (P − E)/(t · p).
    pub fn dense_shard_params(&self) -> u64 {
        (self.parameters - self.expert_parameters) / (u64::from(self.tp) * u64::from(self.pp))
    }

    /// Expert parameters held per GPU, E/(t · p · e).
    pub fn expert_shard_params(&self) -> u64 {
        self.expert_parameters / (u64::from(self.tp) * u64::from(self.pp) * u64::from(self.ep))
    }

    /// Tokens per optimizer step, b · s · m · d.
    pub fn tokens_per_step(&self) -> u64 {
        self.micro_batch_sequences
            * self.sequence_length_tokens
            * u64::from(self.micro_batches_per_step)
            * u64::from(self.dp)
    }

    /// Compute time per GPU per step without bubbles, `6 · P_active · tokens / (N · TFLOP/s)`.
    pub fn compute_ns_per_step(&self) -> u64 {
        let p = self.active_parameters.unwrap_or(self.parameters) as f64;
        let flops = 6.0 * p * self.tokens_per_step() as f64 / f64::from(self.gpus);
        (flops / (f64::from(self.achieved_tflops) * 1e3)).round() as u64
    }

    /// Forward compute of one micro-batch on one layer, ns (backward is twice this): the step's
    /// compute spread over `m` micro-batches and the average `L/p` layers of a stage.
    pub fn forward_layer_ns(&self) -> f64 {
        self.compute_ns_per_step() as f64
            / 3.0
            / f64::from(self.micro_batches_per_step)
            / (f64::from(self.layers) / f64::from(self.pp))
    }

    /// Per-GPU bytes per step by dimension, from the formulas of docs/workload.md §5.
    pub fn per_gpu_bytes(&self) -> PerGpuBytes {
        let f = |x: u64| x as f64;
        let (t, p, d, c, e) = (
            f(u64::from(self.tp)),
            f(u64::from(self.pp)),
            f(u64::from(self.dp)),
            f(u64::from(self.cp)),
            f(u64::from(self.ep)),
        );
        let m = f(u64::from(self.micro_batches_per_step));
        let lps = f(u64::from(self.layers)) / p;
        let bw = f(self.bytes_per_element);
        let bg = f(self.grad_bytes());
        let per_elem = match self.zero_stage {
            0 => 2.0 * bg,
            1 | 2 => bg + bw,
            _ => bg + 2.0 * bw,
        };
        let dense = (d - 1.0) / d * per_elem * f(self.dense_shard_params());
        let de = d / e;
        let expert = if de > 1.0 {
            (de - 1.0) / de * per_elem * f(self.expert_shard_params())
        } else {
            0.0
        };
        let a = f(self.activation_bytes());
        let tp = if t > 1.0 {
            lps * m * 4.0 * 2.0 * (t - 1.0) / t * a
        } else {
            0.0
        };
        let pp = if p > 1.0 { 2.0 * m * a / t } else { 0.0 };
        let cp = if c > 1.0 {
            lps * m * 2.0 * (c - 1.0) / c * f(self.kv_bytes_per_layer())
        } else {
            0.0
        };
        let moe_per_stage = f(u64::from(self.moe_layers)) / p;
        let ep = if e > 1.0 {
            moe_per_stage * m * 4.0 * (e - 1.0) / e * f(self.a2a_bytes_per_layer())
        } else {
            0.0
        };
        PerGpuBytes {
            dp: dense + expert,
            tp,
            pp,
            cp,
            ep,
        }
    }

    /// The DAG of one step (see [`JobConfig::job_dag`]).
    pub fn step_dag(&self, seed: u64) -> Result<JobDag, StepDagError> {
        self.job_dag(1, seed)
    }

    /// The DAG of `steps` steps in a row. `seed` drives the compute jitter only (none when
    /// `compute_jitter_pct` = 0).
    pub fn job_dag(&self, steps: u32, seed: u64) -> Result<JobDag, StepDagError> {
        self.job_dag_within(steps, seed, usize::MAX)
    }

    /// [`JobConfig::job_dag`], refused with [`CollectiveError::DagFull`] when the DAG would
    /// hold more than `max_ops` operations: a memory bound, so a job too large for the machine
    /// is refused before it exhausts memory (each collective is checked before it is emitted,
    /// the ops between collectives at the end of each step).
    pub fn job_dag_within(
        &self,
        steps: u32,
        seed: u64,
        max_ops: usize,
    ) -> Result<JobDag, StepDagError> {
        self.validate()?;
        let placement = Placement::rail_aligned(self.gpus_per_scale_up_domain)?;
        let mut b = Builder::new(self, seed, max_ops);
        let mut step_end = Vec::new();
        let mut prev: Option<OpId> = None;
        for step in 0..steps {
            if let Some(p) = prev {
                b.cursor.iter_mut().for_each(|c| *c = p);
                b.dp_cursor.iter_mut().for_each(|c| *c = p);
            }
            let end = b.step(step)?;
            // Collectives check the bound before they emit; the compute and point-to-point
            // ops between them are checked here, so the bound holds exactly at the end.
            b.dag.room_for(0).map_err(CollectiveError::from)?;
            step_end.push(end);
            prev = Some(end);
        }
        let mut dag = b.dag;
        dag.place(&placement);
        Ok(JobDag {
            dag,
            placement,
            step_end,
            ranks: self.gpus,
        })
    }
}

struct Builder<'a> {
    c: &'a JobConfig,
    dag: Dag,
    /// Per rank: last op of the compute stream.
    cursor: Vec<OpId>,
    /// Per rank: last op of the DP communication stream.
    dp_cursor: Vec<OpId>,
    seed: u64,
}

impl<'a> Builder<'a> {
    fn new(c: &'a JobConfig, seed: u64, max_ops: usize) -> Self {
        let mut dag = Dag::with_max_ops(max_ops);
        let start = dag.marker(Vec::new());
        let n = c.gpus as usize;
        Self {
            c,
            dag,
            cursor: vec![start; n],
            dp_cursor: vec![start; n],
            seed,
        }
    }

    fn ranks_where(&self, f: impl Fn(Coords) -> bool) -> Vec<u32> {
        (0..self.c.gpus).filter(|&r| f(self.c.coords(r))).collect()
    }

    /// Groups along one dimension: every set of ranks that differ only in that coordinate
    /// (EP: `e` consecutive DP indices; expert-DP: DP indices equal modulo `e`).
    fn groups(&self, dim: Dim) -> Vec<Vec<u32>> {
        let c = self.c;
        let mut out = Vec::new();
        for r in 0..c.gpus {
            let x = c.coords(r);
            let (first, len) = match dim {
                Dim::Tp => (x.tp == 0, c.tp),
                Dim::Cp => (x.cp == 0, c.cp),
                Dim::Dp => (x.dp == 0, c.dp),
                Dim::Ep => (x.dp.is_multiple_of(c.ep), c.ep),
                Dim::ExpertDp => (x.dp < c.ep, c.dp / c.ep),
            };
            if !first {
                continue;
            }
            out.push(
                (0..len)
                    .map(|i| {
                        let mut y = x;
                        match dim {
                            Dim::Tp => y.tp = i,
                            Dim::Cp => y.cp = i,
                            Dim::Dp => y.dp = i,
                            Dim::Ep => y.dp = x.dp + i,
                            Dim::ExpertDp => y.dp = x.dp + i * c.ep,
                        }
                        c.rank(y)
                    })
                    .collect(),
            );
        }
        out
    }

    /// A blocking collective on every group of `groups` (compute stream).
    fn blocking(
        &mut self,
        groups: &[Vec<u32>],
        kind: CollectiveKind,
        alg: Algorithm,
        bytes: u64,
        name: &str,
        stage: u32,
    ) -> Result<(), StepDagError> {
        if bytes == 0 {
            return Ok(());
        }
        for g in groups {
            if g.len() < 2 || self.c.coords(g[0]).pp != stage {
                continue;
            }
            let starts: Vec<OpId> = g.iter().map(|&r| self.cursor[r as usize]).collect();
            let coll = Collective::with_algorithm(kind, alg, g.clone(), bytes)?;
            let placed = coll.add_to(&mut self.dag, name, Start::PerMember(&starts))?;
            for (i, &r) in g.iter().enumerate() {
                self.cursor[r as usize] = placed.member_done[i];
            }
        }
        Ok(())
    }

    /// Bucketed DP collectives (non-blocking: DP stream) of `total` bytes on every group.
    fn dp_stream(
        &mut self,
        groups: &[Vec<u32>],
        kind: CollectiveKind,
        total: u64,
        name: &str,
        stage: u32,
        after_compute: bool,
    ) -> Result<(), StepDagError> {
        if total == 0 {
            return Ok(());
        }
        let bucket = self.c.bucket_bytes().max(1);
        let nb = u32::try_from(total.div_ceil(bucket)).unwrap_or(u32::MAX);
        let sizes = split_bytes(total, nb);
        for g in groups {
            if g.len() < 2 || self.c.coords(g[0]).pp != stage {
                continue;
            }
            for (k, &sz) in sizes.iter().enumerate() {
                let starts: Vec<OpId> = g
                    .iter()
                    .map(|&r| {
                        let (a, b) = (self.cursor[r as usize], self.dp_cursor[r as usize]);
                        if after_compute {
                            self.dag.marker(vec![a, b])
                        } else {
                            b
                        }
                    })
                    .collect();
                let coll = Collective::with_algorithm(kind, self.c.algorithm, g.clone(), sz)?;
                let placed = coll.add_to(
                    &mut self.dag,
                    format!("{name} b{k}"),
                    Start::PerMember(&starts),
                )?;
                for (i, &r) in g.iter().enumerate() {
                    self.dp_cursor[r as usize] = placed.member_done[i];
                }
            }
        }
        Ok(())
    }

    fn compute(&mut self, rank: u32, ns: u64, extra: Option<OpId>) {
        let mut deps = vec![self.cursor[rank as usize]];
        deps.extend(extra);
        self.cursor[rank as usize] = self.dag.compute(rank, ns, deps);
    }

    fn jitter(&self, step: u32, mb: u32, dp: u32, ns: u64) -> u64 {
        let j = u64::from(self.c.compute_jitter_pct);
        if j == 0 {
            return ns;
        }
        let key = self.seed ^ (u64::from(step) << 40) ^ (u64::from(mb) << 20) ^ u64::from(dp);
        let u = mrc_rng::hash(key) % (2 * j * 100 + 1); // 0 ..= 2·j·100 (basis points)
        let bp = 10_000 + u - j * 100;
        ns * bp / 10_000
    }

    fn step(&mut self, step: u32) -> Result<OpId, StepDagError> {
        let c = self.c;
        let m = c.micro_batches_per_step;
        let nb = c.layer_blocks_per_stage;
        // Layers spread over stages, then blocks (sizes differ by at most one).
        let layers_per_stage = split_bytes(u64::from(c.layers), c.pp);
        // MoE layers spread over stages, then blocks (sizes differ by at most one).
        let moe_per_stage = split_bytes(u64::from(c.moe_layers), c.pp);
        let tp_groups = self.groups(Dim::Tp);
        let cp_groups = self.groups(Dim::Cp);
        let dp_groups = self.groups(Dim::Dp);
        let ep_groups = self.groups(Dim::Ep);
        let edp_groups = self.groups(Dim::ExpertDp);
        let a = c.activation_bytes();
        let pp_bytes = (a / u64::from(c.tp)).max(1);
        let fwd_layer = c.forward_layer_ns();
        let gb = c.grad_bytes();
        let dense_split = split_bytes(c.dense_shard_params(), nb);
        let expert_split = split_bytes(c.expert_shard_params(), nb);
        let ring = c.algorithm;
        // Receive ops of pipeline flows, keyed by (rank, micro-batch).
        let n = c.gpus as usize;
        let mut fwd_recv: Vec<Vec<Option<OpId>>> = vec![vec![None; m as usize]; n];
        let mut bwd_recv: Vec<Vec<Option<OpId>>> = vec![vec![None; m as usize]; n];
        // Stages run in order so that receive flows exist before their consumers.
        for stage in 0..c.pp {
            let ranks = self.ranks_where(|x| x.pp == stage);
            let moe_split = split_bytes(moe_per_stage[stage as usize], nb);
            let lpb = split_bytes(layers_per_stage[stage as usize], nb);
            for mb in 0..m {
                for j in 0..nb {
                    let l = lpb[j as usize];
                    let fwd = (fwd_layer * l as f64).round() as u64;
                    let tp_bytes = 2 * l * a; // 2 all-reduces per layer and direction, merged
                    let cp_bytes = l * c.kv_bytes_per_layer();
                    if c.zero_stage == 3 && mb == 0 {
                        let total = dense_split[j as usize] * c.bytes_per_element;
                        self.zero3_gather(&dp_groups, total, stage, "zero3-ag-fwd")?;
                    }
                    for &r in &ranks {
                        let x = c.coords(r);
                        let ns = self.jitter(step, mb, x.dp, fwd);
                        let extra = if j == 0 {
                            fwd_recv[r as usize][mb as usize]
                        } else {
                            None
                        };
                        self.compute(r, ns, extra);
                    }
                    if c.tp > 1 {
                        self.blocking(
                            &tp_groups,
                            CollectiveKind::AllReduce,
                            ring,
                            tp_bytes,
                            "tp-ar-fwd",
                            stage,
                        )?;
                    }
                    if c.cp > 1 {
                        self.blocking(
                            &cp_groups,
                            CollectiveKind::AllGather,
                            ring,
                            cp_bytes,
                            "cp-ag-kv",
                            stage,
                        )?;
                    }
                    let moe = moe_split[j as usize];
                    if c.ep > 1 && moe > 0 {
                        let bytes = 2 * moe * c.a2a_bytes_per_layer();
                        self.blocking(
                            &ep_groups,
                            CollectiveKind::AllToAll,
                            Algorithm::Pairwise,
                            bytes,
                            "ep-a2a-fwd",
                            stage,
                        )?;
                    }
                }
                if stage + 1 < c.pp {
                    for &r in &ranks {
                        let mut x = c.coords(r);
                        x.pp += 1;
                        let to = c.rank(x);
                        let f = self
                            .dag
                            .flow(r, to, pp_bytes, vec![self.cursor[r as usize]]);
                        fwd_recv[to as usize][mb as usize] = Some(f);
                    }
                }
            }
        }
        for stage in (0..c.pp).rev() {
            let ranks = self.ranks_where(|x| x.pp == stage);
            let moe_split = split_bytes(moe_per_stage[stage as usize], nb);
            let lpb = split_bytes(layers_per_stage[stage as usize], nb);
            for mb in (0..m).rev() {
                for j in (0..nb).rev() {
                    let l = lpb[j as usize];
                    let fwd = (fwd_layer * l as f64).round() as u64;
                    let tp_bytes = 2 * l * a; // 2 all-reduces per layer and direction, merged
                    let cp_bytes = l * c.kv_bytes_per_layer();
                    if c.zero_stage == 3 && mb + 1 == m {
                        let total = dense_split[j as usize] * c.bytes_per_element;
                        self.zero3_gather(&dp_groups, total, stage, "zero3-ag-bwd")?;
                    }
                    for &r in &ranks {
                        let x = c.coords(r);
                        let ns = 2 * self.jitter(step, mb, x.dp, fwd);
                        let extra = if j + 1 == nb {
                            bwd_recv[r as usize][mb as usize]
                        } else {
                            None
                        };
                        self.compute(r, ns, extra);
                    }
                    if c.tp > 1 {
                        self.blocking(
                            &tp_groups,
                            CollectiveKind::AllReduce,
                            ring,
                            tp_bytes,
                            "tp-ar-bwd",
                            stage,
                        )?;
                    }
                    if c.cp > 1 {
                        self.blocking(
                            &cp_groups,
                            CollectiveKind::ReduceScatter,
                            ring,
                            cp_bytes,
                            "cp-rs-dkv",
                            stage,
                        )?;
                    }
                    let moe = moe_split[j as usize];
                    if c.ep > 1 && moe > 0 {
                        let bytes = 2 * moe * c.a2a_bytes_per_layer();
                        self.blocking(
                            &ep_groups,
                            CollectiveKind::AllToAll,
                            Algorithm::Pairwise,
                            bytes,
                            "ep-a2a-bwd",
                            stage,
                        )?;
                    }
                    if mb == 0 {
                        // Gradients of this block are final: DP sync overlaps the rest.
                        let kind = if c.zero_stage == 0 {
                            CollectiveKind::AllReduce
                        } else {
                            CollectiveKind::ReduceScatter
                        };
                        let dense = dense_split[j as usize] * gb;
                        self.dp_stream(&dp_groups, kind, dense, "dp-grad", stage, true)?;
                        let expert = expert_split[j as usize] * gb;
                        let eg = if c.ep > 1 { &edp_groups } else { &dp_groups };
                        self.dp_stream(eg, kind, expert, "dp-grad-expert", stage, true)?;
                    }
                }
                if stage > 0 {
                    for &r in &ranks {
                        let mut x = c.coords(r);
                        x.pp -= 1;
                        let to = c.rank(x);
                        let f = self
                            .dag
                            .flow(r, to, pp_bytes, vec![self.cursor[r as usize]]);
                        bwd_recv[to as usize][mb as usize] = Some(f);
                    }
                }
            }
        }
        // Optimizer after the compute stream and all DP collectives.
        for r in 0..c.gpus {
            let i = r as usize;
            let j = self.dag.marker(vec![self.cursor[i], self.dp_cursor[i]]);
            self.cursor[i] = self.dag.compute(r, c.optimizer_step_ns, vec![j]);
            self.dp_cursor[i] = self.cursor[i];
        }
        if matches!(c.zero_stage, 1 | 2) {
            for stage in 0..c.pp {
                let total = c.dense_shard_params() * c.bytes_per_element;
                self.dp_stream(
                    &dp_groups,
                    CollectiveKind::AllGather,
                    total,
                    "dp-ag-params",
                    stage,
                    false,
                )?;
                let eg = if c.ep > 1 { &edp_groups } else { &dp_groups };
                let et = c.expert_shard_params() * c.bytes_per_element;
                self.dp_stream(
                    eg,
                    CollectiveKind::AllGather,
                    et,
                    "dp-ag-params-expert",
                    stage,
                    false,
                )?;
            }
        }
        let all: Vec<OpId> = (0..n)
            .map(|i| self.dag.marker(vec![self.cursor[i], self.dp_cursor[i]]))
            .collect();
        Ok(self.dag.marker(all))
    }

    /// ZeRO-3 parameter all-gather that the compute stream waits for.
    fn zero3_gather(
        &mut self,
        dp_groups: &[Vec<u32>],
        total: u64,
        stage: u32,
        name: &str,
    ) -> Result<(), StepDagError> {
        self.dp_stream(
            dp_groups,
            CollectiveKind::AllGather,
            total,
            name,
            stage,
            true,
        )?;
        for g in dp_groups {
            if self.c.coords(g[0]).pp != stage {
                continue;
            }
            for &r in g {
                let i = r as usize;
                self.cursor[i] = self.dag.marker(vec![self.cursor[i], self.dp_cursor[i]]);
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Dim {
    Tp,
    Cp,
    Dp,
    Ep,
    ExpertDp,
}
