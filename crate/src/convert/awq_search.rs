//! AWQ calibration (AutoAWQ's scale and clip searches), on the CPU in f32: activations from real
//! text, the per-group scale search over a grid of 20 ratios with the loss of the whole block
//! output, the clip search, then int4 with zero points. Scales are folded into the preceding
//! RMSNorm (q/k/v and gate/up) or linear (v → o when there is no grouped-query attention, up →
//! down), as AutoAWQ does for the Llama family.
//!
//! Differences from AutoAWQ, all documented: arithmetic is f32 (AutoAWQ runs fp16 on a GPU); the
//! source weights are the dequantized weights of the loaded file; the clip-search error
//! `mean_t (X_t·(Ŵ − W))²` is computed exactly as `Δᵀ C Δ` with the group's input Gram matrix
//! `C = XᵀX / T` over the same subsampled tokens (identical math, far fewer operations).

use crate::analysis::dequantize_weight as dense;
use crate::backend::cpu::attention::Gqa;
use crate::backend::cpu::{rmsnorm, silu};
use crate::error::{Error, Result};
use crate::model::graph::Norm;
use crate::model::Model;
use crate::quant::awq::{fake_quantize, quantize_group, Int4Linear};

#[derive(Clone, Debug)]
pub struct AwqOptions {
    pub group: usize,
    /// Grid points of the scale search (ratios 0, 1/n, …, (n−1)/n).
    pub n_grid: usize,
    /// AutoAWQ's `duo_scaling` (weights' magnitude in the scale formula); llm-awq uses false.
    pub duo_scaling: bool,
    pub apply_clip: bool,
    /// Tokens the clip search uses at most (AutoAWQ's `n_sample_token`).
    pub clip_tokens: usize,
}

impl Default for AwqOptions {
    fn default() -> Self {
        AwqOptions { group: 128, n_grid: 20, duo_scaling: true, apply_clip: true, clip_tokens: 512 }
    }
}

/// Per-layer result: the scaled-and-clipped int4 linears and the new norm weights.
pub struct AwqLayer {
    pub attn_norm: Vec<f32>,
    pub ffn_norm: Vec<f32>,
    /// q, k, v, o, gate, up, down.
    pub linears: [Int4Linear; 7],
    /// Best ratio per scaling group (qkv, v→o or None, gate/up, up→down).
    pub ratios: [Option<f32>; 4],
}

/// Progress of the calibration: `(layer, n_layers, phase)`.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize, &str);

/// `x [n, cols] · Wᵀ` for a row-major f32 `w [rows, cols]` (faer's blocked SIMD product; all
/// cores natively).
fn mm(w: &[f32], rows: usize, cols: usize, x: &[f32], n: usize) -> Vec<f32> {
    let mut y = vec![0f32; n * rows];
    let lhs = faer::MatRef::from_row_major_slice(x, n, cols);
    let rhs = faer::MatRef::from_column_major_slice(w, cols, rows);
    let dst = faer::MatMut::from_row_major_slice_mut(&mut y, n, rows);
    faer::linalg::matmul::matmul(dst, faer::Accum::Replace, lhs, rhs, 1.0f32, crate::par::faer_par());
    y
}

struct Dims {
    dim: usize,
    hd: usize,
    heads: usize,
    kv_heads: usize,
    rope: crate::model::rope::Rope,
    eps: f32,
    ffn: usize,
}

/// Causal grouped-query attention with RoPE for calibration blocks (positions restart at 0 in
/// each block of `block` tokens). `q` `[T, heads·hd]`, `k`/`v` `[T, kv·hd]`, modified in place
/// by RoPE; returns the attention output `[T, heads·hd]`.
fn attention(d: &Dims, block: usize, q: &mut [f32], k: &mut [f32], v: &[f32]) -> Vec<f32> {
    let (qd, kvd, hd) = (d.heads * d.hd, d.kv_heads * d.hd, d.hd);
    let t_all = q.len() / qd;
    for t in 0..t_all {
        d.rope.apply(&mut q[t * qd..(t + 1) * qd], hd, t % block);
        d.rope.apply(&mut k[t * kvd..(t + 1) * kvd], hd, t % block);
    }
    let g = Gqa::new(d.heads, d.kv_heads, hd);
    let mut att = vec![0f32; t_all * qd];
    g.attend(q, k, v, |t| t / block * block..t + 1, &mut att);
    att
}

fn mse(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>() / a.len().max(1) as f64
}

/// AWQ's scale vector for one ratio (with geometric centring; non-finite entries → 1).
pub fn scales_for_ratio(x_mean: &[f32], w_mean: &[f32], ratio: f32, duo: bool) -> Vec<f32> {
    let mut s: Vec<f32> = x_mean
        .iter()
        .zip(w_mean)
        .map(
            |(&x, &w)| {
                if duo {
                    (x.powf(ratio) / (w.powf(1.0 - ratio) + 1e-4)).max(1e-4)
                } else {
                    x.powf(ratio).max(1e-4)
                }
            },
        )
        .collect();
    let mx = s.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mn = s.iter().fold(f32::INFINITY, |a, &b| a.min(b));
    let c = (mx * mn).sqrt();
    for v in s.iter_mut() {
        *v /= c;
        if !v.is_finite() {
            *v = 1.0;
        }
    }
    s
}

/// Mean |x| per input channel of `x [T, k]`.
fn x_mean(x: &[f32], k: usize) -> Vec<f32> {
    let mut acc = vec![0f64; k];
    let t = x.len() / k;
    for row in x.chunks_exact(k) {
        for (a, v) in acc.iter_mut().zip(row) {
            *a += v.abs() as f64;
        }
    }
    acc.iter().map(|a| (a / t.max(1) as f64) as f32).collect()
}

/// Per-group normalised weight magnitude, averaged over the rows of all `ws` (each `[_, k]`).
fn w_mean(ws: &[&[f32]], k: usize, group: usize) -> Vec<f32> {
    let mut acc = vec![0f64; k];
    let mut rows = 0usize;
    for w in ws {
        for row in w.chunks_exact(k) {
            rows += 1;
            for (g, grp) in row.chunks_exact(group).enumerate() {
                let m = grp.iter().fold(0f32, |a, v| a.max(v.abs())) + 1e-6;
                for (j, v) in grp.iter().enumerate() {
                    acc[g * group + j] += (v.abs() / m) as f64;
                }
            }
        }
    }
    acc.iter().map(|a| (a / rows.max(1) as f64) as f32).collect()
}

/// `W · diag(s)` pseudo-quantized, then `· diag(s)^-1`.
fn scaled_fake_quant(w: &[f32], k: usize, s: &[f32], group: usize) -> Vec<f32> {
    let mut out: Vec<f32> = w.iter().enumerate().map(|(i, v)| v * s[i % k]).collect();
    fake_quantize(&mut out, group);
    for (i, v) in out.iter_mut().enumerate() {
        *v /= s[i % k];
    }
    out
}

/// AWQ's grid search over the scale ratio: returns (best scales, best ratio).
fn search_scale(
    x: &[f32],
    k: usize,
    ws: &[&[f32]],
    y_ref: &[f32],
    opts: &AwqOptions,
    f: &dyn Fn(&[Vec<f32>]) -> Vec<f32>,
) -> (Vec<f32>, f32) {
    let xm = x_mean(x, k);
    let wm = w_mean(ws, k, opts.group);
    let mut best = (f64::INFINITY, vec![1f32; k], 0f32);
    for i in 0..opts.n_grid {
        let ratio = i as f32 / opts.n_grid as f32;
        let s = scales_for_ratio(&xm, &wm, ratio, opts.duo_scaling);
        let q: Vec<Vec<f32>> = ws.iter().map(|w| scaled_fake_quant(w, k, &s, opts.group)).collect();
        let loss = mse(y_ref, &f(&q));
        if loss < best.0 {
            best = (loss, s, ratio);
        }
    }
    (best.1, best.2)
}

/// AWQ's clip search on `w [n, k]` with inputs `x [T, k]`: clamps `w` in place.
fn clip(w: &mut [f32], n: usize, k: usize, x: &[f32], opts: &AwqOptions) {
    debug_assert_eq!(w.len(), n * k);
    let g = opts.group;
    let t_all = x.len() / k;
    let step = (t_all / opts.clip_tokens).max(1);
    let toks: Vec<usize> = (0..t_all).step_by(step).collect();
    // Gram matrix of each group's inputs, C = XᵀX / T (f64), [groups][g][g].
    let groups = k / g;
    let mut gram = vec![0f64; groups * g * g];
    for &t in &toks {
        let row = &x[t * k..(t + 1) * k];
        for gi in 0..groups {
            let xs = &row[gi * g..(gi + 1) * g];
            let c = &mut gram[gi * g * g..(gi + 1) * g * g];
            for a in 0..g {
                let xa = xs[a] as f64;
                if xa == 0.0 {
                    continue;
                }
                for b in 0..g {
                    c[a * g + b] += xa * xs[b] as f64;
                }
            }
        }
    }
    let inv_t = 1.0 / toks.len().max(1) as f64;
    gram.iter_mut().for_each(|v| *v *= inv_t);
    let gram = &gram;
    crate::par::for_each_chunk_mut(w, k, |r, row| {
        let _ = r;
        let mut codes = vec![0u8; g];
        let mut tmp = vec![0f32; g];
        let mut delta = vec![0f64; g];
        for gi in 0..groups {
            let grp = &mut row[gi * g..(gi + 1) * g];
            let c = &gram[gi * g * g..(gi + 1) * g * g];
            let m0 = grp.iter().fold(0f32, |a, v| a.max(v.abs()));
            let mut best = (f64::INFINITY, m0);
            for i in 0..10 {
                let m = m0 * (1.0 - i as f32 / 20.0);
                for (t, &v) in tmp.iter_mut().zip(grp.iter()) {
                    *t = v.clamp(-m, m);
                }
                let (s, z) = quantize_group(&tmp, &mut codes);
                for j in 0..g {
                    delta[j] = ((codes[j] as f32 - z as f32) * s - grp[j]) as f64;
                }
                let mut err = 0f64;
                for a in 0..g {
                    let mut acc = 0f64;
                    for b in 0..g {
                        acc += c[a * g + b] * delta[b];
                    }
                    err += delta[a] * acc;
                }
                if err < best.0 {
                    best = (err, m);
                }
            }
            let m = best.1;
            for v in grp.iter_mut() {
                *v = v.clamp(-m, m);
            }
        }
    });
}

fn scale_cols(w: &mut [f32], k: usize, s: &[f32]) {
    for (i, v) in w.iter_mut().enumerate() {
        *v *= s[i % k];
    }
}

fn div_rows(w: &mut [f32], k: usize, s: &[f32]) {
    for (r, row) in w.chunks_exact_mut(k).enumerate() {
        row.iter_mut().for_each(|v| *v /= s[r]);
    }
}

fn div_cols(x: &[f32], k: usize, s: &[f32]) -> Vec<f32> {
    x.iter().enumerate().map(|(i, v)| v / s[i % k]).collect()
}

/// AWQ over a model, one decoder layer per `layer` call (so callers can report progress and, in
/// the browser, yield between layers). Holds the calibration activations entering the next layer.
pub struct AwqState {
    d: Dims,
    block: usize,
    n_tok: usize,
    opts: AwqOptions,
    /// `[n_tok, dim]` inputs of the next layer (computed with the original weights).
    x: Vec<f32>,
    next: usize,
}

impl AwqState {
    /// Embed the calibration `tokens` (cut into blocks of `block`; a partial last block is dropped).
    pub fn new(model: &Model, tokens: &[u32], block: usize, opts: &AwqOptions) -> Result<AwqState> {
        let c = &model.config;
        if !c.is_llama() {
            return Err(Error::UnsupportedModel(format!(
                "AWQ calibration runs the Llama layer; '{}' models take the data-free methods (rtn4, ptqtp, absmean)",
                c.architecture
            )));
        }
        let d = Dims {
            dim: c.dim,
            hd: c.head_dim,
            heads: c.n_heads,
            kv_heads: c.n_kv_heads,
            rope: c.rope.clone(),
            eps: c.rms_eps,
            ffn: c.ffn_dim,
        };
        for (name, k) in [("hidden size", d.dim), ("attention width", d.heads * d.hd), ("FFN width", d.ffn)] {
            if opts.group == 0 || k % opts.group != 0 {
                return Err(Error::InvalidArgument(format!(
                    "AWQ group size {} does not divide the model's {name} {k}",
                    opts.group
                )));
            }
        }
        if block == 0 || tokens.len() < block {
            return Err(Error::InvalidArgument(format!(
                "AWQ calibration needs at least one block of {block} tokens, got {}",
                tokens.len()
            )));
        }
        let n_tok = tokens.len() / block * block;
        let embd = model.matrix(&model.token_embd);
        let mut x = vec![0f32; n_tok * d.dim];
        for (t, &tok) in tokens[..n_tok].iter().enumerate() {
            if tok as usize >= c.vocab_size {
                return Err(Error::InvalidArgument(format!("calibration token {tok} is outside the vocabulary")));
            }
            embd.dequant_row(tok as usize, &mut x[t * d.dim..(t + 1) * d.dim])?;
        }
        Ok(AwqState { d, block, n_tok, opts: opts.clone(), x, next: 0 })
    }

    /// Tokens used for calibration.
    pub fn tokens(&self) -> usize {
        self.n_tok
    }

    /// Calibrate and quantize the next layer.
    pub fn layer(&mut self, model: &Model) -> Result<AwqLayer> {
        let l = self.next;
        let lw = model
            .layers
            .get(l)
            .ok_or_else(|| Error::InvalidArgument(format!("AWQ: the model has only {} layers", model.layers.len())))?;
        let (d, block, n_tok, opts) = (&self.d, self.block, self.n_tok, &self.opts);
        let x = &mut self.x;
        let (dim, qd, kvd) = (d.dim, d.heads * d.hd, d.kv_heads * d.hd);
        let mut wq = dense(model, &lw.wq)?;
        let mut wk = dense(model, &lw.wk)?;
        let mut wv = dense(model, &lw.wv)?;
        let mut wo = dense(model, &lw.wo)?;
        let mut wg = dense(model, &lw.w_gate)?;
        let mut wu = dense(model, &lw.w_up)?;
        let mut wd = dense(model, &lw.w_down)?;
        let mut attn_norm = lw.norm(Norm::Attn).to_vec();
        let mut ffn_norm = lw.norm(Norm::Ffn).to_vec();

        // Reference activations with the original weights.
        let mut xn = vec![0f32; n_tok * dim];
        rmsnorm(x, &attn_norm, d.eps, &mut xn);
        let attn_of = |wq: &[f32], wk: &[f32], wv: &[f32]| -> Vec<f32> {
            let mut q = mm(wq, qd, dim, &xn, n_tok);
            let mut k = mm(wk, kvd, dim, &xn, n_tok);
            let v = mm(wv, kvd, dim, &xn, n_tok);
            attention(d, block, &mut q, &mut k, &v)
        };
        let att = attn_of(&wq, &wk, &wv);
        let o_ref = mm(&wo, dim, qd, &att, n_tok);
        let mut h = x.clone();
        h.iter_mut().zip(&o_ref).for_each(|(a, b)| *a += b);
        let mut hn = vec![0f32; n_tok * dim];
        rmsnorm(&h, &ffn_norm, d.eps, &mut hn);
        let gate = mm(&wg, d.ffn, dim, &hn, n_tok);
        let upv = mm(&wu, d.ffn, dim, &hn, n_tok);
        let u: Vec<f32> = gate.iter().zip(&upv).map(|(g, u)| silu(*g) * u).collect();
        let mlp_ref = mm(&wd, dim, d.ffn, &u, n_tok);

        // 1. q/k/v, folded into the input norm; loss on the attention block output.
        let (s1, r1) = search_scale(&xn, dim, &[&wq, &wk, &wv], &o_ref, opts, &|q| {
            let a = attn_of(&q[0], &q[1], &q[2]);
            mm(&wo, dim, qd, &a, n_tok)
        });
        // 2. v → o, only without grouped-query attention (v's rows are o's inputs).
        let s2 = if kvd == qd {
            Some(search_scale(&att, qd, &[&wo], &o_ref, opts, &|q| mm(&q[0], dim, qd, &att, n_tok)))
        } else {
            None
        };
        // 3. gate/up, folded into the FFN norm; loss on the MLP output.
        let (s3, r3) = search_scale(&hn, dim, &[&wg, &wu], &mlp_ref, opts, &|q| {
            let g = mm(&q[0], d.ffn, dim, &hn, n_tok);
            let uu = mm(&q[1], d.ffn, dim, &hn, n_tok);
            let p: Vec<f32> = g.iter().zip(&uu).map(|(g, u)| silu(*g) * u).collect();
            mm(&wd, dim, d.ffn, &p, n_tok)
        });
        // 4. up → down.
        let (s4, r4) = search_scale(&u, d.ffn, &[&wd], &mlp_ref, opts, &|q| mm(&q[0], dim, d.ffn, &u, n_tok));

        // Apply all scales at once.
        attn_norm.iter_mut().zip(&s1).for_each(|(w, s)| *w /= s);
        for w in [&mut wq, &mut wk, &mut wv] {
            scale_cols(w, dim, &s1);
        }
        let mut att_in = att.clone();
        if let Some((s2, _)) = &s2 {
            div_rows(&mut wv, dim, s2);
            scale_cols(&mut wo, qd, s2);
            att_in = div_cols(&att, qd, s2);
        }
        ffn_norm.iter_mut().zip(&s3).for_each(|(w, s)| *w /= s);
        scale_cols(&mut wg, dim, &s3);
        scale_cols(&mut wu, dim, &s3);
        div_rows(&mut wu, dim, &s4);
        scale_cols(&mut wd, d.ffn, &s4);

        // Clip search (not for q and k) on the scaled inputs.
        if opts.apply_clip {
            let xs = div_cols(&xn, dim, &s1);
            clip(&mut wv, kvd, dim, &xs, opts);
            clip(&mut wo, dim, qd, &att_in, opts);
            let hs = div_cols(&hn, dim, &s3);
            clip(&mut wg, d.ffn, dim, &hs, opts);
            clip(&mut wu, d.ffn, dim, &hs, opts);
            let us = div_cols(&u, d.ffn, &s4);
            clip(&mut wd, dim, d.ffn, &us, opts);
        }
        let g = opts.group;
        let linears = [
            Int4Linear::quantize(&wq, qd, dim, g)?,
            Int4Linear::quantize(&wk, kvd, dim, g)?,
            Int4Linear::quantize(&wv, kvd, dim, g)?,
            Int4Linear::quantize(&wo, dim, qd, g)?,
            Int4Linear::quantize(&wg, d.ffn, dim, g)?,
            Int4Linear::quantize(&wu, d.ffn, dim, g)?,
            Int4Linear::quantize(&wd, dim, d.ffn, g)?,
        ];
        let result = AwqLayer { attn_norm, ffn_norm, linears, ratios: [Some(r1), s2.map(|s| s.1), Some(r3), Some(r4)] };
        // Next layer's inputs come from the original weights.
        for (a, (hv, m)) in x.iter_mut().zip(h.iter().zip(&mlp_ref)) {
            *a = hv + m;
        }
        self.next += 1;
        Ok(result)
    }
}

/// Run AWQ over the whole model on calibration `tokens`, cut into blocks of `block` tokens.
pub fn awq_model(
    model: &Model,
    tokens: &[u32],
    block: usize,
    opts: &AwqOptions,
    progress: Progress,
) -> Result<Vec<AwqLayer>> {
    let mut st = AwqState::new(model, tokens, block, opts)?;
    let n = model.layers.len();
    let mut out = Vec::with_capacity(n);
    for l in 0..n {
        progress(l, n, "scales and clipping");
        out.push(st.layer(model)?);
    }
    progress(n, n, "done");
    Ok(out)
}
