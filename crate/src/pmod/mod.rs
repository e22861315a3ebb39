//! Mixture-of-Depths decoding after p-MoD (spec §3): at prefill, each MoD layer processes only a
//! fraction `R(l)` of the prompt's *target* tokens (a span of it; p-MoD's vision tokens), chosen
//! by a router; the others skip the layer. Each layer's KV cache holds only the tokens it
//! processed, at their original position ids. Decoding runs every new token through every layer
//! (as p-MoD does), attending to each layer's own cache: that is [`forward::forward`] unchanged,
//! since it masks causally over whatever each layer's cache holds.
//!
//! This file is the CPU reference; the GPU engine runs the same prefill with the routers, the
//! top-k and the gather/scatter on the device (`backend::gpu::model::pmod`), and both build their
//! reports with [`account`].

pub mod eval;
pub mod router;
pub mod schedule;

use std::ops::Range;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::backend::cpu::rmsnorm;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::model::forward::{self, KvCache, LayerScratch};
use crate::model::sampler::SplitMix64;
use crate::model::{LlamaConfig, Model};
pub use router::{tanh_norm, top_k, LsqRouters, RouterKind, TrainedRouters};
pub use schedule::{kept_count, mean_for_retention, Schedule};

/// Prompt tokens at the end of the prompt kept out of the default target span (they are read
/// first by the continuation, and the DESIGN measurements show the most recent tokens matter most).
pub const DEFAULT_TAIL: usize = 4;

/// The training-free router `auto` picks for models without trained routers: the winner of the
/// quality table in the README (ΔNLL at the default schedule; see pkg-scripts/mod-table).
pub const DEFAULT_TRAINING_FREE: RouterKind = RouterKind::Snap(SNAP_WINDOW);

/// Calibration tokens the lsq router is fitted on, in windows of [`LSQ_WINDOW`].
pub const LSQ_CALIB_TOKENS: usize = 2048;
pub const LSQ_WINDOW: usize = 512;

/// Queries (the last ones of the prompt) whose attention the `snap` router sums.
pub const SNAP_WINDOW: usize = 32;

/// Seed of the random router.
pub(crate) const RANDOM_SEED: u64 = 0x5eed;

/// MoD options as the JS API and `GenerateOptions` spell them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ModOptions {
    /// shiftedcos | shiftedlinear | deep_all | deep_all_include_last | interleave | dense
    pub schedule: String,
    pub max: f64,
    pub min: f64,
    /// The decays' `r̄` (mod_router_factor); the fixed modes' ratio.
    pub mean: f64,
    /// auto | trained | attn | lsq | random
    pub router: String,
    /// Target tokens: prompt positions `[start, end)`. Default: the prompt minus its first token
    /// and its last [`DEFAULT_TAIL`] tokens.
    pub span: Option<(usize, usize)>,
    /// Calibration text for the lsq router.
    pub calib_text: Option<String>,
}

impl Default for ModOptions {
    fn default() -> Self {
        ModOptions {
            schedule: "shiftedcos".into(),
            max: schedule::DEFAULT_MAX,
            min: schedule::DEFAULT_MIN,
            mean: schedule::DEFAULT_MEAN,
            router: "auto".into(),
            span: None,
            calib_text: None,
        }
    }
}

impl ModOptions {
    /// Parse the CLI form: `shiftedcos:MAX:MIN:MEAN[:ROUTER]`, `shiftedlinear:…` (or, for the
    /// defaults 0.85, 0.15, 0.5, `shiftedcos` / `shiftedcos:ROUTER`), `deep_all:R[:ROUTER]`,
    /// `deep_all_include_last:R[:ROUTER]`, `interleave:R[:ROUTER]`, `dense`.
    pub fn parse(spec: &str) -> Result<ModOptions> {
        let bad = |m: &str| {
            Err(Error::InvalidArgument(format!(
                "--mod '{spec}': {m}; expected shiftedcos:MAX:MIN:MEAN[:ROUTER], shiftedlinear:MAX:MIN:MEAN[:ROUTER], \
                 deep_all:R[:ROUTER], deep_all_include_last:R[:ROUTER], interleave:R[:ROUTER] or dense"
            )))
        };
        let parts: Vec<&str> = spec.trim().split(':').collect();
        let mut o = ModOptions { schedule: parts[0].to_string(), ..Default::default() };
        let num = |s: &str, what: &str| -> Result<f64> {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| Error::InvalidArgument(format!("--mod '{spec}': {what} '{s}' is not a number")))
        };
        let rest: &[&str] = match parts[0] {
            "shiftedcos" | "shiftedlinear" => match parts.len() {
                1 => &[],
                4 | 5 => {
                    o.max = num(parts[1], "max")?;
                    o.min = num(parts[2], "min")?;
                    o.mean = num(parts[3], "mean")?;
                    &parts[4..]
                }
                2 if parts[1].trim().parse::<f64>().is_err() => &parts[1..],
                _ => return bad("a decay schedule takes MAX:MIN:MEAN (all three, or none for the defaults)"),
            },
            "deep_all" | "deep_all_include_last" | "interleave" => match parts.len() {
                2 | 3 => {
                    o.mean = num(parts[1], "ratio")?;
                    &parts[2..]
                }
                _ => return bad("a fixed-ratio schedule takes one ratio"),
            },
            "dense" => match parts.len() {
                1 => &[],
                _ => return bad("dense takes no numbers"),
            },
            "" => return bad("empty schedule"),
            other => return bad(&format!("unknown schedule '{other}'")),
        };
        if let Some(r) = rest.first() {
            RouterKind::parse(r)?;
            o.router = r.to_string();
        }
        o.schedule()?;
        Ok(o)
    }

    pub fn schedule(&self) -> Result<Schedule> {
        Schedule::from_parts(&self.schedule, self.max, self.min, self.mean)
    }

    /// The spec string (CLI form) of these options.
    pub fn spec(&self) -> String {
        match self.schedule.as_str() {
            "dense" => "dense".into(),
            "shiftedcos" | "shiftedlinear" => {
                format!("{}:{}:{}:{}:{}", self.schedule, self.max, self.min, self.mean, self.router)
            }
            s => format!("{s}:{}:{}", self.mean, self.router),
        }
    }
}

/// MoD options resolved against a model: the schedule, the router (never `Auto`) with its
/// parameters (trained tensors, or the lsq fit), and the target span.
#[derive(Clone, Debug)]
pub struct ModConfig {
    pub schedule: Schedule,
    pub router: RouterKind,
    pub span: Option<(usize, usize)>,
    pub spec: String,
    /// Per layer: `Some(R(l))` for a MoD layer.
    pub ratios: Vec<Option<f64>>,
    pub trained: Option<Arc<TrainedRouters>>,
    pub lsq: Option<Arc<LsqRouters>>,
}

impl ModConfig {
    /// Resolve `opts` for `model`. `lsq`: an lsq fit to reuse (else it is fitted from
    /// `opts.calib_text` when the router needs it).
    pub fn new(model: &Model, opts: &ModOptions, lsq: Option<Arc<LsqRouters>>) -> Result<ModConfig> {
        let schedule = opts.schedule()?;
        let ratios = schedule.ratios(model.config.n_layers);
        let mut router = RouterKind::parse(&opts.router)?;
        if router == RouterKind::Auto {
            router = if TrainedRouters::present(model) { RouterKind::Trained } else { DEFAULT_TRAINING_FREE };
        }
        let mut cfg = ModConfig {
            schedule,
            router,
            span: opts.span,
            spec: ModOptions { router: router.label(), ..opts.clone() }.spec(),
            ratios,
            trained: None,
            lsq: None,
        };
        match router {
            RouterKind::Trained => {
                let t = TrainedRouters::load(model)?;
                for (l, r) in cfg.ratios.iter().enumerate() {
                    if r.is_some() && t.layers[l].is_none() {
                        return Err(Error::InvalidArgument(format!(
                            "the trained router is missing for MoD layer {l} of schedule {}: the model has no tensor '{}'",
                            cfg.spec,
                            router::router_tensor_names(l).0
                        )));
                    }
                }
                cfg.trained = Some(Arc::new(t));
            }
            RouterKind::Lsq => {
                cfg.lsq = Some(match lsq {
                    Some(f) => f,
                    None => {
                        let text = opts.calib_text.as_deref().ok_or_else(|| {
                            Error::InvalidArgument(
                                "the lsq MoD router needs calibration text (CLI: --mod-calib FILE, e.g. \
                                 models/corpus/calib.txt; JS: mod.calibText)"
                                    .into(),
                            )
                        })?;
                        Arc::new(fit_lsq(model, text)?)
                    }
                });
            }
            _ => {}
        }
        Ok(cfg)
    }

    /// The target span of an `n`-token prompt.
    pub fn span_for(&self, n: usize) -> Result<Range<usize>> {
        match self.span {
            Some((a, b)) => {
                if a > b || b > n {
                    return Err(Error::InvalidArgument(format!(
                        "MoD span [{a}, {b}) is outside the prompt of {n} tokens (need start ≤ end ≤ {n})"
                    )));
                }
                Ok(a..b)
            }
            None => Ok(if n > 1 + DEFAULT_TAIL { 1..n - DEFAULT_TAIL } else { 1..1 }),
        }
    }
}

/// Fit the lsq router on the first [`LSQ_CALIB_TOKENS`] tokens of `text`.
pub fn fit_lsq(model: &Model, text: &str) -> Result<LsqRouters> {
    let mut ids = model.tokenizer().encode(text, false)?;
    ids.truncate(LSQ_CALIB_TOKENS);
    LsqRouters::fit(model, &ids, LSQ_WINDOW)
}

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

/// MoD prefill of `tokens` at positions `cache.len ..`: returns the final-normed hidden states
/// `[n, dim]` of every prompt position (a skipped token's state is whatever passed the skipped
/// layers) and the report. `trace` keeps every layer's inputs and outputs (tests).
pub fn prefill(
    model: &Model,
    cache: &mut KvCache,
    tokens: &[u32],
    cfg: &ModConfig,
    trace: bool,
) -> Result<(Vec<f32>, ModReport)> {
    let t0 = now_ms();
    let c = &model.config;
    let n = tokens.len();
    forward::check_room(model, cache, n)?;
    if cfg.ratios.len() != c.n_layers {
        return Err(Error::InvalidArgument(format!(
            "MoD config is for {} layers, the model has {}",
            cfg.ratios.len(),
            c.n_layers
        )));
    }
    let span = cfg.span_for(n)?;
    let d = c.dim;
    let start = cache.len;
    let mut x = forward::embed(model, tokens)?;
    let all_pos: Vec<usize> = (start..start + n).collect();
    let mut s = LayerScratch::new(c, n);
    let n_target = span.len();
    // Attention-received scores of every prompt token (updated at each layer it takes part in).
    let mut attn_score = vec![0f32; n];
    let mut rng = SplitMix64::new(RANDOM_SEED);
    let mut kept_sets = Vec::with_capacity(c.n_layers);
    let mut befores = Vec::with_capacity(c.n_layers);
    let mut traces = Vec::new();
    for l in 0..c.n_layers {
        let x_in = if trace { x.clone() } else { Vec::new() };
        let mut weights = vec![1f32; n];
        let ratio = cfg.ratios[l];
        let kept: Vec<usize> = match ratio {
            None => (0..n).collect(),
            Some(r) => {
                let k = kept_count(n_target, r);
                let xt = &x[span.start * d..span.end * d];
                let scores: Vec<f32> = match cfg.router {
                    RouterKind::Trained => {
                        let t =
                            cfg.trained.as_ref().ok_or_else(|| Error::InvalidArgument("no trained routers".into()))?;
                        let w: Vec<f32> = t.logits(l, xt, d)?.into_iter().map(tanh_norm).collect();
                        weights[span.clone()].copy_from_slice(&w);
                        w
                    }
                    RouterKind::Lsq => {
                        let f = cfg.lsq.as_ref().ok_or_else(|| Error::InvalidArgument("no lsq fit".into()))?;
                        f.predict(l, xt, d)
                    }
                    RouterKind::Attn | RouterKind::Snap(_) => attn_score[span.clone()].to_vec(),
                    RouterKind::Random | RouterKind::Auto => (0..n_target).map(|_| rng.next_f64() as f32).collect(),
                };
                let chosen = top_k(&scores, k);
                let mut kept: Vec<usize> = (0..span.start).chain(span.end..n).collect();
                kept.extend(chosen.iter().map(|&i| span.start + i));
                kept.sort_unstable();
                kept
            }
        };
        let nk = kept.len();
        if nk == n {
            let w = ratio.is_some().then_some(&weights[..]).filter(|_| cfg.router == RouterKind::Trained);
            forward::layer_forward(model, l, cache, &mut x, &all_pos, w, &mut s)?;
        } else if nk > 0 {
            let mut xk = Vec::with_capacity(nk * d);
            for &i in &kept {
                xk.extend_from_slice(&x[i * d..(i + 1) * d]);
            }
            let pos: Vec<usize> = kept.iter().map(|&i| start + i).collect();
            let wk: Vec<f32> = kept.iter().map(|&i| weights[i]).collect();
            let w = (cfg.router == RouterKind::Trained).then_some(&wk[..]);
            forward::layer_forward(model, l, cache, &mut xk, &pos, w, &mut s)?;
            let mut in_kept = vec![false; n];
            for (j, &i) in kept.iter().enumerate() {
                x[i * d..(i + 1) * d].copy_from_slice(&xk[j * d..(j + 1) * d]);
                in_kept[i] = true;
            }
            // STRing: a skipped target token is scaled by its weight (exactly 1 without training).
            if cfg.router == RouterKind::Trained {
                for i in span.clone().filter(|&i| !in_kept[i]) {
                    let w = weights[i];
                    x[i * d..(i + 1) * d].iter_mut().for_each(|v| *v *= w);
                }
            }
        }
        if matches!(cfg.router, RouterKind::Attn | RouterKind::Snap(_)) && nk > 0 {
            let window = if let RouterKind::Snap(w) = cfg.router { w } else { nk };
            let recv = router::attention_received(model, cache, l, &s.q[..nk * c.n_heads * c.head_dim], nk, window);
            for (j, &i) in kept.iter().enumerate() {
                attn_score[i] = recv[j];
            }
        }
        befores.push(cache.layer_len(l) - nk);
        kept_sets.push(kept.clone());
        if trace {
            traces.push(LayerTrace { x_in, x_out: x.clone(), kept, weights });
        }
    }
    cache.len += n;
    let mut out = vec![0f32; n * d];
    rmsnorm(&x, &model.output_norm, c.rms_eps, &mut out);
    let mut report = account(c, cfg, n, start, span, &kept_sets, &befores, now_ms() - t0);
    report.trace = traces;
    Ok((out, report))
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
