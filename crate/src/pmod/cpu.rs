//! The Mixture-of-Depths prefill on the CPU (the reference): the plan's kept tokens of each
//! layer go through the layer graph ([`crate::backend::cpu::exec::layer_forward`]); skipped
//! tokens keep their residual.

use super::plan::ModPlan;
use super::{router, tanh_norm, top_k, LayerTrace, ModConfig, ModReport, RouterKind};
use crate::backend::cpu::exec::{self as forward, LayerScratch};
use crate::backend::cpu::rmsnorm;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::model::{KvCache, Model};

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
    let plan = ModPlan::new(c, cfg, tokens, cache.len, c.context_length)?;
    let (n, d, start, span) = (plan.n, c.dim, plan.start, plan.span.clone());
    let mut x = forward::embed(model, tokens)?;
    let all_pos: Vec<usize> = (start..start + n).collect();
    let mut s = LayerScratch::new(c, n);
    // Attention-received scores of every prompt token (updated at each layer it takes part in).
    let mut attn_score = vec![0f32; n];
    let mut kept_sets = Vec::with_capacity(c.n_layers);
    let mut befores = Vec::with_capacity(c.n_layers);
    let mut traces = Vec::new();
    for (l, lp) in plan.layers.iter().enumerate() {
        let x_in = if trace { x.clone() } else { Vec::new() };
        let mut weights = vec![1f32; n];
        let kept: Vec<usize> = match lp.ratio {
            None => (0..n).collect(),
            Some(_) => {
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
                    RouterKind::Random | RouterKind::Auto => lp.random.clone().unwrap_or_default(),
                };
                let chosen = top_k(&scores, lp.kept_targets);
                let mut kept: Vec<usize> = (0..span.start).chain(span.end..n).collect();
                kept.extend(chosen.iter().map(|&i| span.start + i));
                kept.sort_unstable();
                kept
            }
        };
        let nk = kept.len();
        let string = lp.string_weighted(cfg);
        if nk == n {
            let w = string.then_some(&weights[..]);
            forward::layer_forward(model, l, cache, &mut x, &all_pos, w, &mut s)?;
        } else if nk > 0 {
            let mut xk = Vec::with_capacity(nk * d);
            for &i in &kept {
                xk.extend_from_slice(&x[i * d..(i + 1) * d]);
            }
            let pos: Vec<usize> = kept.iter().map(|&i| start + i).collect();
            let wk: Vec<f32> = kept.iter().map(|&i| weights[i]).collect();
            let w = string.then_some(&wk[..]);
            forward::layer_forward(model, l, cache, &mut xk, &pos, w, &mut s)?;
            let mut in_kept = vec![false; n];
            for (j, &i) in kept.iter().enumerate() {
                x[i * d..(i + 1) * d].copy_from_slice(&xk[j * d..(j + 1) * d]);
                in_kept[i] = true;
            }
            // STRing: a skipped target token is scaled by its weight (exactly 1 without training).
            if string {
                for i in span.clone().filter(|&i| !in_kept[i]) {
                    let w = weights[i];
                    x[i * d..(i + 1) * d].iter_mut().for_each(|v| *v *= w);
                }
            }
        }
        if let (Some(window), true) = (&lp.window, nk > 0) {
            let q = s.act(crate::model::graph::Act::Q, nk * c.n_heads * c.head_dim);
            let recv = router::attention_received(model, cache, l, q, nk, window.len());
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
    let mut report = plan.report(c, cfg, &kept_sets, &befores, now_ms() - t0)?;
    report.trace = traces;
    Ok((out, report))
}
