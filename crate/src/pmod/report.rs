//! What a MoD prefill did: per-layer retention, KV bytes and analytic FLOPs, built from the kept
//! sets by [`account`] for both backends (equal kept sets give equal reports).

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::ModConfig;
use crate::model::LlamaConfig;

/// One layer's retention after a MoD prefill.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LayerRetention {
    pub layer: usize,
    pub mod_layer: bool,
    /// Target ratio `R(l)` (1 for a dense layer).
    pub ratio: f64,
    pub target_tokens: usize,
    /// Target tokens the layer processed.
    pub kept_target: usize,
    /// Prompt tokens the layer processed (kept targets and every non-target token) = its KV
    /// cache entries after the prefill.
    pub kept_tokens: usize,
    /// One character per prompt position: '1' processed by this layer, '0' skipped.
    pub kept_mask: String,
    pub kv_bytes: usize,
    pub kv_bytes_dense: usize,
    /// Analytic prefill FLOPs of the layer (linears + attention's quadratic term).
    pub flops: f64,
    pub flops_dense: f64,
}

/// What a MoD prefill did, per layer and in total.
#[derive(Clone, Debug, Serialize)]
pub struct ModReport {
    pub spec: String,
    pub router: String,
    pub prompt_tokens: usize,
    /// Target span `[start, end)`.
    pub span: (usize, usize),
    /// Mean of `R(l)` over layers (dense layers count 1).
    pub mean_ratio: f64,
    pub retention: Vec<LayerRetention>,
    /// KV bytes of the prompt after prefill, and of a dense prefill.
    pub kv_bytes: usize,
    pub kv_bytes_dense: usize,
    /// Prefill FLOPs (every layer, plus the output head for the last position).
    pub flops: f64,
    pub flops_dense: f64,
    /// Over the target span only: kept target KV entries / dense, and the FLOPs of the target
    /// tokens as queries (linears + attention) / dense.
    pub target_kv_ratio: f64,
    pub target_flops_ratio: f64,
    pub prefill_ms: f64,
    /// Per-layer inputs, outputs, kept sets and weights (tests; only when asked for).
    #[serde(skip)]
    pub trace: Vec<LayerTrace>,
}

/// One layer of a traced prefill.
#[derive(Clone, Debug)]
pub struct LayerTrace {
    pub x_in: Vec<f32>,
    pub x_out: Vec<f32>,
    /// Processed prompt indices (increasing).
    pub kept: Vec<usize>,
    /// `w̃` per prompt token (1 for non-target tokens and training-free routers).
    pub weights: Vec<f32>,
}

/// FLOPs of the linears of one layer for one token (2 per multiply-add).
pub fn linear_flops(c: &LlamaConfig) -> f64 {
    let (d, qd, kvd, f) = (c.dim as f64, (c.n_heads * c.head_dim) as f64, c.kv_dim() as f64, c.ffn_dim as f64);
    2.0 * (d * qd + 2.0 * d * kvd + qd * d + 3.0 * d * f)
}

/// FLOPs of one query's attention over `keys` keys (scores and weighted sum, every head).
pub fn attention_flops(c: &LlamaConfig, keys: usize) -> f64 {
    4.0 * (c.n_heads * c.head_dim) as f64 * keys as f64
}

/// FLOPs of the output head for one position.
pub fn head_flops(c: &LlamaConfig) -> f64 {
    2.0 * c.dim as f64 * c.vocab_size as f64
}

/// FLOPs of one decoded token attending to caches of `layer_lens` entries (its own included).
pub fn decode_flops(c: &LlamaConfig, layer_lens: impl Iterator<Item = usize>) -> f64 {
    layer_lens.map(|k| linear_flops(c) + attention_flops(c, k)).sum::<f64>() + head_flops(c)
}

/// The report of a MoD prefill of `n` prompt tokens at positions `start..` with target `span`,
/// from the prompt indices each layer processed (`kept[l]`, increasing) and the entries each
/// layer's cache held before (`before[l]`): per-layer retention, KV bytes and analytic FLOPs.
/// Shared by the CPU and GPU prefills, so equal kept sets give equal records.
#[allow(clippy::too_many_arguments)]
pub fn account(
    c: &LlamaConfig,
    cfg: &ModConfig,
    n: usize,
    start: usize,
    span: Range<usize>,
    kept: &[Vec<usize>],
    before: &[usize],
    prefill_ms: f64,
) -> ModReport {
    let is_target = |i: usize| span.contains(&i);
    let n_target = span.len();
    let kv_entry = 2 * c.kv_dim() * 4;
    let lin = linear_flops(c);
    let (mut tf, mut tf_dense) = (0f64, 0f64);
    let mut kept_target_total = 0usize;
    let mut layers = Vec::with_capacity(c.n_layers);
    for (l, kept) in kept.iter().enumerate() {
        let ratio = cfg.ratios[l];
        let nk = kept.len();
        let mut mask = vec![b'0'; n];
        let (mut flops, mut flops_dense) = (0f64, 0f64);
        for (j, &i) in kept.iter().enumerate() {
            mask[i] = b'1';
            let f = lin + attention_flops(c, before[l] + j + 1);
            flops += f;
            if is_target(i) {
                tf += f;
            }
        }
        for i in 0..n {
            let f = lin + attention_flops(c, start + i + 1);
            flops_dense += f;
            if is_target(i) {
                tf_dense += f;
            }
        }
        let kept_target = kept.iter().filter(|&&i| is_target(i)).count();
        kept_target_total += kept_target;
        layers.push(LayerRetention {
            layer: l,
            mod_layer: ratio.is_some(),
            ratio: ratio.unwrap_or(1.0),
            target_tokens: n_target,
            kept_target,
            kept_tokens: nk,
            kept_mask: String::from_utf8(mask).unwrap_or_default(),
            kv_bytes: nk * kv_entry,
            kv_bytes_dense: n * kv_entry,
            flops,
            flops_dense,
        });
    }
    let head = head_flops(c);
    ModReport {
        spec: cfg.spec.clone(),
        router: cfg.router.label(),
        prompt_tokens: n,
        span: (span.start, span.end),
        mean_ratio: cfg.schedule.mean_retention(c.n_layers),
        kv_bytes: layers.iter().map(|r| r.kv_bytes).sum(),
        kv_bytes_dense: layers.iter().map(|r| r.kv_bytes_dense).sum(),
        flops: layers.iter().map(|r| r.flops).sum::<f64>() + head,
        flops_dense: layers.iter().map(|r| r.flops_dense).sum::<f64>() + head,
        target_kv_ratio: if n_target > 0 { kept_target_total as f64 / (n_target * c.n_layers) as f64 } else { 1.0 },
        target_flops_ratio: if tf_dense > 0.0 { tf / tf_dense } else { 1.0 },
        retention: layers,
        prefill_ms,
        trace: Vec::new(),
    }
}
