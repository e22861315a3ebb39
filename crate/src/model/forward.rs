//! The Llama forward pass on the CPU backend: embedding → N × (RMSNorm, Q/K/V, RoPE, grouped-query
//! causal attention over the KV cache, output projection, residual, RMSNorm, SwiGLU FFN,
//! residual) → final RMSNorm → logits (tied to the embedding or `output.weight`).

use crate::backend::cpu::{self, matmul, rmsnorm, rope, silu, softmax};
use crate::error::{Error, Result};
use crate::model::{LlamaConfig, Model};

/// Keys and values of every layer, `[positions, kv_dim]` each, grown as tokens arrive.
#[derive(Clone, Debug)]
pub struct KvCache {
    pub k: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
    pub len: usize,
    kv_dim: usize,
}

impl KvCache {
    pub fn new(c: &LlamaConfig) -> KvCache {
        KvCache { k: vec![Vec::new(); c.n_layers], v: vec![Vec::new(); c.n_layers], len: 0, kv_dim: c.kv_dim() }
    }

    pub fn clear(&mut self) {
        self.k.iter_mut().for_each(|x| x.clear());
        self.v.iter_mut().for_each(|x| x.clear());
        self.len = 0;
    }

    /// Bytes held (f32 keys and values).
    pub fn bytes(&self) -> usize {
        2 * self.k.len() * self.len * self.kv_dim * 4
    }
}

/// Run `tokens` at positions `cache.len ..` through the model, appending to the cache.
/// Returns the final-normed hidden states, `[tokens.len(), dim]`.
pub fn forward(model: &Model, cache: &mut KvCache, tokens: &[u32]) -> Result<Vec<f32>> {
    let c = &model.config;
    let n = tokens.len();
    if n == 0 {
        return Err(Error::InvalidArgument("forward: no tokens".into()));
    }
    let start = cache.len;
    if start + n > c.context_length {
        return Err(Error::Limit {
            what: "sequence length (positions)".into(),
            value: (start + n) as u64,
            limit: c.context_length as u64,
        });
    }
    let (d, hd, kvd) = (c.dim, c.head_dim, c.kv_dim());
    let qd = c.n_heads * hd;
    let group = c.n_heads / c.n_kv_heads;

    // Embedding lookup.
    let embd = model.matrix(&model.token_embd);
    let mut x = vec![0f32; n * d];
    for (t, &tok) in tokens.iter().enumerate() {
        if tok as usize >= c.vocab_size {
            return Err(Error::InvalidArgument(format!(
                "token id {tok} at index {t} is outside the vocabulary of {} tokens",
                c.vocab_size
            )));
        }
        embd.dequant_row(tok as usize, &mut x[t * d..(t + 1) * d])?;
    }

    let mut xn = vec![0f32; n * d];
    let mut q = vec![0f32; n * qd];
    let mut k = vec![0f32; n * kvd];
    let mut v = vec![0f32; n * kvd];
    let mut att = vec![0f32; n * qd];
    let mut proj = vec![0f32; n * d];
    let mut gate = vec![0f32; n * c.ffn_dim];
    let mut up = vec![0f32; n * c.ffn_dim];
    let scale = 1.0 / (hd as f32).sqrt();

    for (l, lw) in model.layers.iter().enumerate() {
        rmsnorm(&x, &lw.attn_norm, c.rms_eps, &mut xn);
        matmul(&model.matrix(&lw.wq), &xn, n, &mut q)?;
        matmul(&model.matrix(&lw.wk), &xn, n, &mut k)?;
        matmul(&model.matrix(&lw.wv), &xn, n, &mut v)?;
        for t in 0..n {
            rope(&mut q[t * qd..(t + 1) * qd], hd, c.rope_dim, start + t, c.rope_base);
            rope(&mut k[t * kvd..(t + 1) * kvd], hd, c.rope_dim, start + t, c.rope_base);
        }
        cache.k[l].extend_from_slice(&k);
        cache.v[l].extend_from_slice(&v);
        let (kc, vc) = (&cache.k[l], &cache.v[l]);

        // Causal grouped-query attention: one task per (token, head).
        cpu::for_each_chunk(&mut att, hd, |i, out| {
            let (t, h) = (i / c.n_heads, i % c.n_heads);
            let g = h / group;
            let qh = &q[t * qd + h * hd..t * qd + (h + 1) * hd];
            let upto = start + t + 1;
            let mut scores: Vec<f32> =
                (0..upto).map(|p| cpu::dot(qh, &kc[p * kvd + g * hd..p * kvd + (g + 1) * hd]) * scale).collect();
            softmax(&mut scores);
            out.fill(0.0);
            for (p, &w) in scores.iter().enumerate() {
                cpu::axpy(out, w, &vc[p * kvd + g * hd..p * kvd + (g + 1) * hd]);
            }
        });
        matmul(&model.matrix(&lw.wo), &att, n, &mut proj)?;
        x.iter_mut().zip(&proj).for_each(|(a, b)| *a += b);

        rmsnorm(&x, &lw.ffn_norm, c.rms_eps, &mut xn);
        matmul(&model.matrix(&lw.w_gate), &xn, n, &mut gate)?;
        matmul(&model.matrix(&lw.w_up), &xn, n, &mut up)?;
        gate.iter_mut().zip(&up).for_each(|(g, u)| *g = silu(*g) * u);
        matmul(&model.matrix(&lw.w_down), &gate, n, &mut proj)?;
        x.iter_mut().zip(&proj).for_each(|(a, b)| *a += b);
    }
    cache.len += n;
    rmsnorm(&x, &model.output_norm, c.rms_eps, &mut xn);
    Ok(xn)
}

/// Logits `[n, vocab]` of `n` final hidden states.
pub fn logits(model: &Model, hidden: &[f32], n: usize) -> Result<Vec<f32>> {
    let mut out = vec![0f32; n * model.config.vocab_size];
    matmul(&model.matrix(&model.output), hidden, n, &mut out)?;
    Ok(out)
}
