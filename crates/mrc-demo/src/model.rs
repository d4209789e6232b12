//! The tiny omni-style transformer: token embedding + patch projection, learned positions, one
//! pre-norm self-attention block with an FFN, mean-pool, 4-way head. CPU only.
//!
//! Parameters are always visited in name order (candle-nn's `VarMap::all_vars` iterates a
//! `HashMap`, whose order differs between processes) and initialised from our own seeded
//! stream, so every rank starts bit-identical.

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{AdamW, Embedding, Linear, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap};

use crate::data::{Batch, CLASSES, PATCH_DIM, PATCHES, SEQ, SplitMix64, TEXT_LEN, VOCAB};
use crate::error::Result;

/// Layer norm with a backward pass: candle-nn's `LayerNorm` takes a fused fast path without
/// one for contiguous input (only the head would learn).
struct LayerNorm {
    w: Tensor,
    b: Tensor,
}

impl LayerNorm {
    fn new(d: usize, vb: VarBuilder<'_>) -> Result<Self> {
        Ok(Self {
            w: vb.get(d, "weight")?,
            b: vb.get(d, "bias")?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::layer_norm_slow(x, &self.w, &self.b, 1e-5)?)
    }
}

/// Model width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelConfig {
    /// Hidden size (the FFN is 2× wider).
    pub dim: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self { dim: 48 }
    }
}

/// The model and its parameters.
pub struct Model {
    varmap: VarMap,
    tok: Embedding,
    patch: Linear,
    pos: Tensor,
    ln1: LayerNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ln2: LayerNorm,
    ff1: Linear,
    ff2: Linear,
    ln_f: LayerNorm,
    head: Linear,
    dim: usize,
    /// Parameters in name order.
    vars: Vec<(String, Var)>,
}

impl core::fmt::Debug for Model {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Model")
            .field("dim", &self.dim)
            .field("params", &self.num_params())
            .finish_non_exhaustive()
    }
}

/// Loss and correct predictions of a forward pass.
#[derive(Debug)]
pub struct Output {
    /// Mean cross-entropy (a scalar tensor, differentiable).
    pub loss: Tensor,
    /// Samples predicted right.
    pub correct: u32,
}

impl Model {
    /// Builds the model; parameters are drawn from `seed` (the same on every rank).
    pub fn new(cfg: ModelConfig, seed: u64) -> Result<Self> {
        let dev = Device::Cpu;
        let d = cfg.dim;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let tok = candle_nn::embedding(VOCAB, d, vb.pp("tok"))?;
        let patch = candle_nn::linear(PATCH_DIM, d, vb.pp("patch"))?;
        let pos = vb.get((SEQ, d), "pos")?;
        let ln1 = LayerNorm::new(d, vb.pp("ln1"))?;
        let q = candle_nn::linear_no_bias(d, d, vb.pp("attn_q"))?;
        // A key bias shifts every score of a query equally: softmax ignores it (no gradient).
        let k = candle_nn::linear_no_bias(d, d, vb.pp("attn_k"))?;
        let v = candle_nn::linear_no_bias(d, d, vb.pp("attn_v"))?;
        let o = candle_nn::linear(d, d, vb.pp("attn_o"))?;
        let ln2 = LayerNorm::new(d, vb.pp("ln2"))?;
        let ff1 = candle_nn::linear(d, 2 * d, vb.pp("ff1"))?;
        let ff2 = candle_nn::linear(2 * d, d, vb.pp("ff2"))?;
        let ln_f = LayerNorm::new(d, vb.pp("ln_f"))?;
        let head = candle_nn::linear(d, CLASSES, vb.pp("head"))?;
        let vars = sorted_vars(&varmap);
        let mut rng = SplitMix64::new(seed, 0x1417);
        for (name, var) in &vars {
            let dims = var.dims().to_vec();
            let n: usize = dims.iter().product();
            let vals: Vec<f32> = if name.starts_with("ln") {
                // LayerNorm: weight 1, bias 0.
                vec![if name.ends_with("weight") { 1.0 } else { 0.0 }; n]
            } else if dims.len() == 2 {
                let fan_in = if name == "pos" || name.starts_with("tok") {
                    d
                } else {
                    dims[1]
                };
                let b = 1.0 / (fan_in as f64).sqrt();
                (0..n)
                    .map(|_| ((rng.unit() * 2.0 - 1.0) * b) as f32)
                    .collect()
            } else {
                vec![0.0; n]
            };
            var.set(&Tensor::from_vec(vals, dims, &dev)?)?;
        }
        Ok(Self {
            varmap,
            tok,
            patch,
            pos,
            ln1,
            q,
            k,
            v,
            o,
            ln2,
            ff1,
            ff2,
            ln_f,
            head,
            dim: d,
            vars,
        })
    }

    /// Parameters in name order.
    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    /// The candle `VarMap` holding the parameters.
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// Number of scalar parameters.
    pub fn num_params(&self) -> usize {
        self.vars.iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// An AdamW optimiser over the parameters (name order).
    pub fn adamw(&self, lr: f64) -> Result<AdamW> {
        let vars = self.vars.iter().map(|(_, v)| v.clone()).collect();
        Ok(AdamW::new(
            vars,
            ParamsAdamW {
                lr,
                weight_decay: 0.0,
                ..ParamsAdamW::default()
            },
        )?)
    }

    /// Logits for a batch: `(len, CLASSES)`.
    pub fn logits(&self, b: &Batch) -> Result<Tensor> {
        let dev = Device::Cpu;
        let tokens = Tensor::from_slice(&b.tokens, (b.len, TEXT_LEN), &dev)?;
        let patches = Tensor::from_slice(&b.patches, (b.len, PATCHES, PATCH_DIM), &dev)?;
        let t = self.tok.forward(&tokens)?;
        let p = self.patch.forward(&patches)?;
        let x = Tensor::cat(&[&t, &p], 1)?.broadcast_add(&self.pos)?;
        // Self-attention (one head), pre-norm, residual.
        let h = self.ln1.forward(&x)?;
        let q = self.q.forward(&h)?;
        let k = self.k.forward(&h)?;
        let v = self.v.forward(&h)?;
        let scale = 1.0 / (self.dim as f64).sqrt();
        let att = (q.matmul(&k.t()?.contiguous()?)? * scale)?;
        // candle_nn::ops::softmax_last_dim has no backward pass; this one does.
        let att = candle_nn::ops::softmax(&att, D::Minus1)?;
        let x = (x + self.o.forward(&att.matmul(&v)?)?)?;
        let h = self.ln2.forward(&x)?;
        let h = self.ff2.forward(&self.ff1.forward(&h)?.gelu()?)?;
        let x = (x + h)?;
        let pooled = self.ln_f.forward(&x)?.mean(1)?;
        Ok(self.head.forward(&pooled)?)
    }

    /// Loss and accuracy on a batch.
    pub fn forward(&self, b: &Batch) -> Result<Output> {
        let logits = self.logits(b)?;
        let labels = Tensor::from_slice(&b.labels, b.len, &Device::Cpu)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &labels)?;
        let correct = logits
            .argmax(D::Minus1)?
            .eq(&labels)?
            .to_dtype(DType::F32)?
            .sum_all()?
            .to_scalar::<f32>()? as u32;
        Ok(Output { loss, correct })
    }

    /// FNV-1a-style digest of every parameter's f32 bits, in name order.
    pub fn digest(&self) -> Result<u64> {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for (name, var) in &self.vars {
            for b in name.bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3);
            }
            for x in var.as_tensor().flatten_all()?.to_vec1::<f32>()? {
                h = (h ^ u64::from(x.to_bits())).wrapping_mul(0x0000_0100_0000_01B3);
            }
        }
        Ok(h)
    }
}

/// The variables of `varmap` sorted by name.
pub fn sorted_vars(varmap: &VarMap) -> Vec<(String, Var)> {
    let data = varmap
        .data()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Flattens the gradients of `vars` (name order) into one vector; a missing gradient is zeros.
pub fn flat_grads(
    vars: &[(String, Var)],
    grads: &candle_core::backprop::GradStore,
) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    for (_, var) in vars {
        match grads.get(var.as_tensor()) {
            Some(g) => out.extend(g.flatten_all()?.to_vec1::<f32>()?),
            None => out.extend(std::iter::repeat_n(0.0, var.elem_count())),
        }
    }
    Ok(out)
}

/// Puts the flat vector `flat` (name order) back into `grads`.
pub fn set_grads(
    vars: &[(String, Var)],
    grads: &mut candle_core::backprop::GradStore,
    flat: &[f32],
) -> Result<()> {
    let mut at = 0;
    for (_, var) in vars {
        let n = var.elem_count();
        let part = flat.get(at..at + n).ok_or_else(|| {
            crate::DemoError::AllReduce(format!("gradient vector too short: {}", flat.len()))
        })?;
        let t = Tensor::from_slice(part, var.shape(), &Device::Cpu)?;
        grads.insert(var.as_tensor(), t);
        at += n;
    }
    Ok(())
}

/// One optimiser step with already all-reduced gradients.
pub fn apply(opt: &mut AdamW, grads: &candle_core::backprop::GradStore) -> Result<()> {
    Ok(opt.step(grads)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{train_batch, validation};

    #[test]
    fn identical_init_and_learns_single_process() {
        let a = Model::new(ModelConfig::default(), 7).unwrap();
        let b = Model::new(ModelConfig::default(), 7).unwrap();
        assert_eq!(a.digest().unwrap(), b.digest().unwrap());
        assert!(a.num_params() > 10_000, "{}", a.num_params());
        let mut opt = a.adamw(3e-3).unwrap();
        let val = validation(1, 256);
        let first = a.forward(&val).unwrap().loss.to_scalar::<f32>().unwrap();
        for step in 0..40 {
            let out = a.forward(&train_batch(1, 0, step, 64)).unwrap();
            let mut grads = out.loss.backward().unwrap();
            let flat = flat_grads(a.vars(), &grads).unwrap();
            assert!(flat.iter().all(|x| x.is_finite()));
            // Every parameter gets a gradient (softmax with backward).
            if step == 0 {
                let missing: Vec<&str> = a
                    .vars()
                    .iter()
                    .filter(|(_, v)| grads.get(v.as_tensor()).is_none())
                    .map(|(n, _)| n.as_str())
                    .collect();
                assert!(missing.is_empty(), "no gradient: {missing:?}");
            }
            set_grads(a.vars(), &mut grads, &flat).unwrap();
            apply(&mut opt, &grads).unwrap();
        }
        let last = a.forward(&val).unwrap().loss.to_scalar::<f32>().unwrap();
        assert!(last < first * 0.8, "loss {first} -> {last}");
    }
}
