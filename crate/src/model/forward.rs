//! The Llama forward pass on the CPU backend: embedding → N × (RMSNorm, Q/K/V, RoPE, grouped-query
//! causal attention over the KV cache, output projection, residual, RMSNorm, SwiGLU FFN,
//! residual) → final RMSNorm → logits (tied to the embedding or `output.weight`).

use crate::backend::cpu::{self, rmsnorm, rope, silu, softmax};
use crate::error::{Error, Result};
use crate::model::{LlamaConfig, Model};

/// Keys and values of every layer, `[entries, kv_dim]` each, grown as tokens arrive. Dense
/// forward passes append every token to every layer; a Mixture-of-Depths prefill
/// ([`crate::pmod`]) appends only each layer's kept tokens, so layers may hold different numbers
/// of entries (always in increasing position order, keys rotated at their original positions).
#[derive(Clone, Debug)]
pub struct KvCache {
    pub k: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
    /// Positions seen so far (the next token's position id), whatever each layer kept.
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

    /// Entries (tokens) held by layer `l`.
    pub fn layer_len(&self, l: usize) -> usize {
        self.k[l].len() / self.kv_dim
    }

    /// Bytes held (f32 keys and values of every layer's entries).
    pub fn bytes(&self) -> usize {
        (0..self.k.len()).map(|l| 2 * self.layer_len(l) * self.kv_dim * 4).sum()
    }

    /// Bytes a dense cache of the same positions would hold.
    pub fn dense_bytes(&self) -> usize {
        2 * self.k.len() * self.len * self.kv_dim * 4
    }
}

/// Activation buffers of one layer call over `n` tokens (reused across layers).
pub struct LayerScratch {
    pub xn: Vec<f32>,
    /// Queries after RoPE, `[n, n_heads · head_dim]` (read by the attention-received router).
    pub q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    att: Vec<f32>,
    proj: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
}

impl LayerScratch {
    pub fn new(c: &LlamaConfig, n: usize) -> LayerScratch {
        let (qd, kvd) = (c.n_heads * c.head_dim, c.kv_dim());
        LayerScratch {
            xn: vec![0.0; n * c.dim],
            q: vec![0.0; n * qd],
            k: vec![0.0; n * kvd],
            v: vec![0.0; n * kvd],
            att: vec![0.0; n * qd],
            proj: vec![0.0; n * c.dim],
            gate: vec![0.0; n * c.ffn_dim],
            up: vec![0.0; n * c.ffn_dim],
        }
    }
}

/// One decoder layer over the `n` rows of `x` (`[n, dim]`, updated in place), the tokens at
/// position ids `positions` (increasing, after every entry already in layer `l`'s cache). Their
/// keys and values are appended to layer `l`'s cache; token `t` attends to the entries before it
/// plus the first `t + 1` new ones (causal over whatever the cache holds).
///
/// `mlp_weight`: when given, row `t` gets `h + w[t] · MLP(h)` instead of `h + MLP(h)` (p-MoD's
/// STRing for kept target tokens; a weight of exactly 1 gives the same bits as `None`).
pub fn layer_forward(
    model: &Model,
    l: usize,
    cache: &mut KvCache,
    x: &mut [f32],
    positions: &[usize],
    mlp_weight: Option<&[f32]>,
    s: &mut LayerScratch,
) -> Result<()> {
    let c = &model.config;
    let lw = &model.layers[l];
    let n = positions.len();
    let (d, hd, kvd) = (c.dim, c.head_dim, c.kv_dim());
    let qd = c.n_heads * hd;
    let group = c.n_heads / c.n_kv_heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let (xn, q, k, v) = (&mut s.xn[..n * d], &mut s.q[..n * qd], &mut s.k[..n * kvd], &mut s.v[..n * kvd]);
    let (att, proj) = (&mut s.att[..n * qd], &mut s.proj[..n * d]);
    let (gate, up) = (&mut s.gate[..n * c.ffn_dim], &mut s.up[..n * c.ffn_dim]);

    rmsnorm(x, &lw.attn_norm, c.rms_eps, xn);
    model.matmul(&lw.wq, xn, n, q)?;
    model.matmul(&lw.wk, xn, n, k)?;
    model.matmul(&lw.wv, xn, n, v)?;
    for (t, &pos) in positions.iter().enumerate() {
        rope(&mut q[t * qd..(t + 1) * qd], hd, c.rope_dim, pos, c.rope_base);
        rope(&mut k[t * kvd..(t + 1) * kvd], hd, c.rope_dim, pos, c.rope_base);
    }
    let before = cache.layer_len(l);
    cache.k[l].extend_from_slice(k);
    cache.v[l].extend_from_slice(v);
    let (kc, vc) = (&cache.k[l], &cache.v[l]);
    let q = &*q;

    // Causal grouped-query attention: one task per (token, head).
    crate::par::for_each_chunk_mut(att, hd, |i, out| {
        let (t, h) = (i / c.n_heads, i % c.n_heads);
        let g = h / group;
        let qh = &q[t * qd + h * hd..t * qd + (h + 1) * hd];
        let upto = before + t + 1;
        let mut scores: Vec<f32> =
            (0..upto).map(|p| cpu::dot(qh, &kc[p * kvd + g * hd..p * kvd + (g + 1) * hd]) * scale).collect();
        softmax(&mut scores);
        out.fill(0.0);
        for (p, &w) in scores.iter().enumerate() {
            cpu::axpy(out, w, &vc[p * kvd + g * hd..p * kvd + (g + 1) * hd]);
        }
    });
    model.matmul(&lw.wo, att, n, proj)?;
    x.iter_mut().zip(proj.iter()).for_each(|(a, b)| *a += b);

    rmsnorm(x, &lw.ffn_norm, c.rms_eps, xn);
    model.matmul(&lw.w_gate, xn, n, gate)?;
    model.matmul(&lw.w_up, xn, n, up)?;
    gate.iter_mut().zip(up.iter()).for_each(|(g, u)| *g = silu(*g) * u);
    model.matmul(&lw.w_down, gate, n, proj)?;
    match mlp_weight {
        None => x.iter_mut().zip(proj.iter()).for_each(|(a, b)| *a += b),
        Some(w) => {
            for (t, (xr, pr)) in x.chunks_exact_mut(d).zip(proj.chunks_exact(d)).enumerate() {
                xr.iter_mut().zip(pr).for_each(|(a, b)| *a += w[t] * b);
            }
        }
    }
    Ok(())
}

/// Check `tokens` and look up their embeddings, `[n, dim]`.
pub fn embed(model: &Model, tokens: &[u32]) -> Result<Vec<f32>> {
    let c = &model.config;
    let d = c.dim;
    let embd = model.matrix(&model.token_embd);
    let mut x = vec![0f32; tokens.len() * d];
    for (t, &tok) in tokens.iter().enumerate() {
        if tok as usize >= c.vocab_size {
            return Err(Error::InvalidArgument(format!(
                "token id {tok} at index {t} is outside the vocabulary of {} tokens",
                c.vocab_size
            )));
        }
        embd.dequant_row(tok as usize, &mut x[t * d..(t + 1) * d])?;
    }
    Ok(x)
}

/// Check that `n` more tokens fit after the cache's positions.
pub fn check_room(model: &Model, cache: &KvCache, n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::InvalidArgument("forward: no tokens".into()));
    }
    let limit = model.config.context_length;
    if cache.len + n > limit {
        return Err(Error::Limit {
            what: "sequence length (positions)".into(),
            value: (cache.len + n) as u64,
            limit: limit as u64,
        });
    }
    Ok(())
}

/// Run `tokens` at positions `cache.len ..` through the model, appending to the cache.
/// Returns the final-normed hidden states, `[tokens.len(), dim]`.
pub fn forward(model: &Model, cache: &mut KvCache, tokens: &[u32]) -> Result<Vec<f32>> {
    let c = &model.config;
    let n = tokens.len();
    check_room(model, cache, n)?;
    let start = cache.len;
    let mut x = embed(model, tokens)?;
    let positions: Vec<usize> = (start..start + n).collect();
    let mut s = LayerScratch::new(c, n);
    for l in 0..model.layers.len() {
        layer_forward(model, l, cache, &mut x, &positions, None, &mut s)?;
    }
    cache.len += n;
    let mut out = vec![0f32; n * c.dim];
    rmsnorm(&x, &model.output_norm, c.rms_eps, &mut out);
    Ok(out)
}

/// Logits `[n, vocab]` of `n` final hidden states.
pub fn logits(model: &Model, hidden: &[f32], n: usize) -> Result<Vec<f32>> {
    let mut out = vec![0f32; n * model.config.vocab_size];
    model.matmul(&model.output, hidden, n, &mut out)?;
    Ok(out)
}
