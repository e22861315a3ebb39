//! Routers: which target tokens a MoD layer keeps, and the weight `w̃` of each.
//!
//! - Trained (docs/algorithms.md §3.3, §3.5): `r_i = w_rᵀ x_i + b_r` on the layer's input hidden state,
//!   TanhNorm `w̃ = α·tanh(r) + β` (α = 0.2, β = 1), top-k by `w̃`; STRing scales kept target
//!   tokens' MLP branch and skipped target tokens' whole state by `w̃`.
//! - Training-free (for models without trained routers), `w̃ = 1`:
//!   - `attn`: attention each token received at the previous layer it took part in;
//!   - `lsq`: a per-layer linear predictor, fitted by least squares on calibration text, of how
//!     much the layer changes a token (`‖h_out − h_in‖ / ‖h_in‖`);
//!   - `random`: a seeded random choice (a baseline, not for use).

use crate::backend::cpu;
use crate::backend::cpu::attention::Gqa;
use crate::backend::cpu::exec::{self as forward, LayerScratch};
use crate::error::{Error, Result};
use crate::model::KvCache;
use crate::model::Model;
use crate::quant::{self, GgmlType};

/// TanhNorm scale α and bias β (config string `tanh_0.2_1`).
pub const TANH_ALPHA: f32 = 0.2;
pub const TANH_BETA: f32 = 1.0;

/// The lsq router predicts `‖h_out − h_in‖ / ‖h_in‖` (true) or `‖h_out − h_in‖` (false).
const LSQ_RELATIVE: bool = false;

/// Ridge of the least-squares fit, relative to the mean diagonal of XᵀX.
const LSQ_RIDGE: f64 = 1e-3;

/// `w̃ = α·tanh(r) + β`.
pub fn tanh_norm(r: f32) -> f32 {
    TANH_ALPHA * r.tanh() + TANH_BETA
}

/// Indices of the `k` largest scores, in increasing index order (ties: the earlier token wins;
/// NaN scores rank last).
pub fn top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    let key = |i: usize| if scores[i].is_nan() { f32::NEG_INFINITY } else { scores[i] };
    idx.sort_by(|&a, &b| key(b).total_cmp(&key(a)).then(a.cmp(&b)));
    idx.truncate(k.min(scores.len()));
    idx.sort_unstable();
    idx
}

/// The router's choice name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouterKind {
    /// Trained routers when the model has them, else the measured best training-free router.
    Auto,
    Trained,
    Attn,
    /// Attention received from the last `window` queries only (an observation window at the end
    /// of the prompt, as SnapKV does; `snap` = [`crate::pmod::SNAP_WINDOW`], `snapN` = N): far
    /// cheaper than `Attn`.
    Snap(usize),
    Lsq,
    Random,
}

impl RouterKind {
    pub fn parse(s: &str) -> Result<RouterKind> {
        Ok(match s {
            "" | "auto" => RouterKind::Auto,
            "trained" => RouterKind::Trained,
            "attn" | "attention" => RouterKind::Attn,
            "snap" => RouterKind::Snap(crate::pmod::SNAP_WINDOW),
            w if w.starts_with("snap") && w[4..].parse::<usize>().is_ok_and(|n| n > 0) => {
                RouterKind::Snap(w[4..].parse().unwrap_or(crate::pmod::SNAP_WINDOW))
            }
            "lsq" => RouterKind::Lsq,
            "random" => RouterKind::Random,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "unknown MoD router '{s}': use auto, trained, attn, snap (or snapN: N last queries), lsq or random"
                )))
            }
        })
    }

    /// The router's spec name (`snapN` for a non-default observation window).
    pub fn label(self) -> String {
        match self {
            RouterKind::Snap(w) if w != crate::pmod::SNAP_WINDOW => format!("snap{w}"),
            _ => self.name().to_string(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RouterKind::Auto => "auto",
            RouterKind::Trained => "trained",
            RouterKind::Attn => "attn",
            RouterKind::Snap(_) => "snap",
            RouterKind::Lsq => "lsq",
            RouterKind::Random => "random",
        }
    }
}

/// Tensor names of a layer's trained router (docs/algorithms.md §3.5).
pub fn router_tensor_names(l: usize) -> (String, String) {
    (format!("model.layers.{l}.router.router.weight"), format!("model.layers.{l}.router.router.bias"))
}

/// Trained routers of a checkpoint: per layer, `(w_r [dim], b_r)` or None.
#[derive(Clone, Debug)]
pub struct TrainedRouters {
    pub layers: Vec<Option<(Vec<f32>, f32)>>,
}

impl TrainedRouters {
    /// Whether the model's file holds any router tensor.
    pub fn present(model: &Model) -> bool {
        (0..model.config.n_layers).any(|l| model.gguf.tensor(&router_tensor_names(l).0).is_some())
    }

    /// Read every layer's router (weight `[1, dim]` or `[dim]`, bias `[1]`; F32, F16 or BF16).
    pub fn load(model: &Model) -> Result<TrainedRouters> {
        let dim = model.config.dim;
        let read = |name: &str, want: usize| -> Result<Option<Vec<f32>>> {
            let Some(t) = model.gguf.tensor(name) else { return Ok(None) };
            let shape_ok = t.n_elements() == want as u64 && t.dims.iter().filter(|&&d| d != 1).count() <= 1;
            if !shape_ok {
                return Err(Error::BadTensor {
                    tensor: name.to_string(),
                    message: format!("shape {:?} (GGUF order), a MoD router needs [{want}] or [{want}, 1]", t.dims),
                });
            }
            if !matches!(t.ggml_type, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16) {
                return Err(Error::BadTensor {
                    tensor: name.to_string(),
                    message: format!("type {}, a MoD router must be F32, F16 or BF16", t.ggml_type.name()),
                });
            }
            let v = quant::dequantize_vec(t.ggml_type, &model.bytes()[t.range()], want)?;
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(Error::BadTensor {
                    tensor: name.to_string(),
                    message: format!("element {i} is {} (not finite)", v[i]),
                });
            }
            Ok(Some(v))
        };
        let mut layers = Vec::with_capacity(model.config.n_layers);
        for l in 0..model.config.n_layers {
            let (wn, bn) = router_tensor_names(l);
            let w = read(&wn, dim)?;
            let b = read(&bn, 1)?;
            layers.push(match (w, b) {
                (Some(w), Some(b)) => Some((w, b[0])),
                (None, None) => None,
                (Some(_), None) => return Err(Error::MissingTensor { tensor: bn }),
                (None, Some(_)) => return Err(Error::MissingTensor { tensor: wn }),
            });
        }
        Ok(TrainedRouters { layers })
    }

    /// Router logits `r_i` of rows `x` (`[n, dim]`) at layer `l`.
    pub fn logits(&self, l: usize, x: &[f32], dim: usize) -> Result<Vec<f32>> {
        let (w, b) =
            self.layers[l].as_ref().ok_or_else(|| Error::MissingTensor { tensor: router_tensor_names(l).0 })?;
        Ok(x.chunks_exact(dim).map(|r| cpu::dot(w, r) + b).collect())
    }
}

/// Features of the least-squares router for one hidden state: `x / rms(x)` (dim values), then
/// `ln rms(x)`, then 1 (the bias).
fn lsq_features(x: &[f32], out: &mut [f64]) {
    let d = x.len();
    let rms = ((cpu::dot(x, x) / d as f32) as f64 + 1e-12).sqrt();
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v as f64 / rms;
    }
    out[d] = rms.ln();
    out[d + 1] = 1.0;
}

/// The least-squares router: per layer, coefficients over [`lsq_features`] predicting the
/// relative change `‖h_out − h_in‖ / ‖h_in‖` the layer makes to a token.
#[derive(Clone, Debug)]
pub struct LsqRouters {
    pub coef: Vec<Vec<f64>>,
    /// Calibration tokens used (position 0 of each window excluded).
    pub tokens: usize,
    /// R² of the fit on the calibration tokens, per layer.
    pub r2: Vec<f64>,
}

impl LsqRouters {
    /// Fit on `ids` in windows of `window` tokens (dense forward; position 0 of each window,
    /// an attention sink that is never a target by default, is left out of the fit).
    pub fn fit(model: &Model, ids: &[u32], window: usize) -> Result<LsqRouters> {
        let c = &model.config;
        let (d, nl) = (c.dim, c.n_layers);
        let p = d + 2;
        if ids.len() < 2 * p.min(64) {
            return Err(Error::InvalidArgument(format!(
                "the lsq router needs calibration text of at least {} tokens, got {}",
                2 * p.min(64),
                ids.len()
            )));
        }
        let window = window.clamp(2, c.context_length);
        let mut xtx = vec![vec![0f64; p * p]; nl];
        let mut xty = vec![vec![0f64; p]; nl];
        let mut yy = vec![(0f64, 0f64); nl];
        let mut count = 0usize;
        let mut f = vec![0f64; p];
        for chunk in ids.chunks(window).filter(|w| w.len() >= 2) {
            let n = chunk.len();
            let mut cache = KvCache::new(c);
            crate::model::check_step(c, chunk, 0, c.context_length)?;
            let mut x = forward::embed(model, chunk)?;
            let positions: Vec<usize> = (0..n).collect();
            let mut s = LayerScratch::new(c, n);
            for l in 0..nl {
                let before = x.clone();
                forward::layer_forward(model, l, &mut cache, &mut x, &positions, None, &mut s)?;
                for t in 1..n {
                    let (xi, xo) = (&before[t * d..(t + 1) * d], &x[t * d..(t + 1) * d]);
                    let dn: f64 = xi.iter().zip(xo).map(|(a, b)| ((b - a) as f64).powi(2)).sum::<f64>().sqrt();
                    let y = if LSQ_RELATIVE {
                        dn / xi.iter().map(|&a| (a as f64).powi(2)).sum::<f64>().sqrt().max(1e-12)
                    } else {
                        dn
                    };
                    lsq_features(xi, &mut f);
                    let a = &mut xtx[l];
                    for i in 0..p {
                        let fi = f[i];
                        for j in i..p {
                            a[i * p + j] += fi * f[j];
                        }
                        xty[l][i] += fi * y;
                    }
                    yy[l].0 += y;
                    yy[l].1 += y * y;
                }
            }
            count += n - 1;
        }
        let mut coef = Vec::with_capacity(nl);
        let mut r2 = Vec::with_capacity(nl);
        for l in 0..nl {
            let a = &mut xtx[l];
            for i in 0..p {
                for j in 0..i {
                    a[i * p + j] = a[j * p + i];
                }
            }
            let ridge = LSQ_RIDGE * (0..p).map(|i| a[i * p + i]).sum::<f64>() / p as f64;
            for i in 0..p - 1 {
                a[i * p + i] += ridge;
            }
            let w = cholesky_solve(a, &xty[l], p)
                .ok_or_else(|| Error::InvalidArgument(format!("lsq router: layer {l}: the fit is singular")))?;
            // R² = 1 − SSE/SST, with SSE = yᵀy − 2wᵀXᵀy + wᵀXᵀXw (the ridge term is small).
            let (sy, syy) = yy[l];
            let nf = count as f64;
            let sst = syy - sy * sy / nf;
            let wxy: f64 = w.iter().zip(&xty[l]).map(|(a, b)| a * b).sum();
            r2.push(if sst > 0.0 { (wxy - sy * sy / nf) / sst } else { 0.0 });
            coef.push(w);
        }
        Ok(LsqRouters { coef, tokens: count, r2 })
    }

    /// Predicted relative change of rows `x` (`[n, dim]`) at layer `l`.
    pub fn predict(&self, l: usize, x: &[f32], dim: usize) -> Vec<f32> {
        let mut f = vec![0f64; dim + 2];
        x.chunks_exact(dim)
            .map(|r| {
                lsq_features(r, &mut f);
                f.iter().zip(&self.coef[l]).map(|(a, b)| a * b).sum::<f64>() as f32
            })
            .collect()
    }
}

/// Solve `A w = b` for a symmetric positive definite `A` (`p × p`, row-major).
fn cholesky_solve(a: &[f64], b: &[f64], p: usize) -> Option<Vec<f64>> {
    let mut l = vec![0f64; p * p];
    for i in 0..p {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * p + k] * l[j * p + k]).sum();
            if i == j {
                let v = a[i * p + i] - s;
                if v <= 0.0 || !v.is_finite() {
                    return None;
                }
                l[i * p + i] = v.sqrt();
            } else {
                l[i * p + j] = (a[i * p + j] - s) / l[j * p + j];
            }
        }
    }
    let mut y = vec![0f64; p];
    for i in 0..p {
        let s: f64 = (0..i).map(|k| l[i * p + k] * y[k]).sum();
        y[i] = (b[i] - s) / l[i * p + i];
    }
    let mut w = vec![0f64; p];
    for i in (0..p).rev() {
        let s: f64 = (i + 1..p).map(|k| l[k * p + i] * w[k]).sum();
        w[i] = (y[i] - s) / l[i * p + i];
    }
    Some(w)
}

/// Attention received by the `n` entries layer `l` just appended to its cache (the last `n`),
/// from the `n` queries `q` (`[n, n_heads · head_dim]`, after RoPE) that were appended with them:
/// for each key, the mean over the (query, head) pairs that see it of the attention weight times
/// the number of keys that query sees (1 = what uniform attention would give; this removes the
/// causal mask's bias toward early keys).
pub fn attention_received(model: &Model, cache: &KvCache, l: usize, q: &[f32], n: usize, window: usize) -> Vec<f32> {
    let g = Gqa::of(&model.config);
    let nh = g.heads;
    let kc = &cache.k[l];
    let before = cache.layer_len(l) - n;
    let mut per_head = vec![0f32; nh * n];
    crate::par::for_each_chunk_mut(&mut per_head, n, |h, recv| {
        let mut scores = Vec::with_capacity(before + n);
        for t in n.saturating_sub(window)..n {
            let upto = before + t + 1;
            g.weights_into(g.query(q, t, h), h, kc, 0..upto, &mut scores);
            for (j, r) in recv.iter_mut().enumerate().take(t + 1) {
                *r += scores[before + j] * upto as f32;
            }
        }
    });
    let first = n.saturating_sub(window);
    (0..n).map(|j| (0..nh).map(|h| per_head[h * n + j]).sum::<f32>() / (nh * (n - j.max(first))) as f32).collect()
}
