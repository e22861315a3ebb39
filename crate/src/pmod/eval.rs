//! Quality and cost of MoD on real text: windows of `prompt` tokens followed by `continuation`
//! tokens; the continuation's NLL after a MoD prefill of the prompt vs a dense one, with KV
//! bytes, analytic FLOPs and prefill wall time, all measured in one run (configurations are
//! interleaved window by window, so machine load affects them alike).

use serde::Serialize;

use crate::backend::cpu::log_sum_exp;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::model::forward::{self, KvCache};
use crate::model::Model;
use crate::pmod::{prefill, ModConfig};

#[derive(Clone, Debug, Serialize)]
pub struct ContinuationScore {
    pub spec: String,
    pub router: String,
    pub mean_ratio: f64,
    pub mean_nll: f64,
    /// mean_nll − the dense mean_nll on the same tokens.
    pub delta_nll: f64,
    /// Prompt KV bytes / dense, whole prompt and target span.
    pub kv_ratio: f64,
    pub target_kv_ratio: f64,
    /// Prefill FLOPs / dense, whole prompt (with the output head) and target span.
    pub flops_ratio: f64,
    pub target_flops_ratio: f64,
    pub prefill_ms: f64,
    /// prefill_ms / the dense prefill_ms.
    pub prefill_time_ratio: f64,
    pub nll: Vec<f32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ContinuationEval {
    pub prompt_tokens: usize,
    pub continuation_tokens: usize,
    pub windows: usize,
    /// Scored tokens per configuration (windows × continuation).
    pub tokens: usize,
    pub dense_mean_nll: f64,
    pub dense_prefill_ms: f64,
    pub dense_nll: Vec<f32>,
    pub mods: Vec<ContinuationScore>,
}

/// NLL of `cont` after the cache holds the prompt, whose last final-normed state is `last`.
fn continuation_nll(model: &Model, cache: &mut KvCache, last: &[f32], cont: &[u32], out: &mut Vec<f32>) -> Result<()> {
    let vocab = model.config.vocab_size;
    let lg = forward::logits(model, last, 1)?;
    out.push(log_sum_exp(&lg) - lg[cont[0] as usize]);
    if cont.len() > 1 {
        let h = forward::forward(model, cache, &cont[..cont.len() - 1])?;
        let lg = forward::logits(model, &h, cont.len() - 1)?;
        for t in 0..cont.len() - 1 {
            let row = &lg[t * vocab..(t + 1) * vocab];
            out.push(log_sum_exp(row) - row[cont[t + 1] as usize]);
        }
    }
    Ok(())
}

/// Score consecutive windows of `ids` (at most `max_windows`) with a dense prefill and with each
/// of `configs`.
pub fn score_continuations(
    model: &Model,
    ids: &[u32],
    prompt: usize,
    continuation: usize,
    max_windows: Option<usize>,
    configs: &[ModConfig],
) -> Result<ContinuationEval> {
    if prompt == 0 || continuation == 0 {
        return Err(Error::InvalidArgument("MoD scoring needs a prompt and a continuation of at least 1 token".into()));
    }
    let w = prompt + continuation;
    if w > model.config.context_length {
        return Err(Error::Limit {
            what: "MoD window (prompt + continuation)".into(),
            value: w as u64,
            limit: model.config.context_length as u64,
        });
    }
    let mut windows = ids.len() / w;
    if let Some(m) = max_windows {
        windows = windows.min(m);
    }
    if windows == 0 {
        return Err(Error::InvalidArgument(format!(
            "the text has {} tokens, fewer than one window of {prompt} prompt + {continuation} continuation tokens",
            ids.len()
        )));
    }
    let d = model.config.dim;
    let mut dense_nll = Vec::new();
    let mut dense_ms = 0.0;
    let mut nll = vec![Vec::new(); configs.len()];
    let mut ms = vec![0.0; configs.len()];
    let mut sums = vec![[0f64; 4]; configs.len()];
    let mut cache = KvCache::new(&model.config);
    for win in 0..windows {
        let toks = &ids[win * w..(win + 1) * w];
        let (p, cont) = toks.split_at(prompt);
        cache.clear();
        let t0 = now_ms();
        let h = forward::forward(model, &mut cache, p)?;
        dense_ms += now_ms() - t0;
        continuation_nll(model, &mut cache, &h[(prompt - 1) * d..], cont, &mut dense_nll)?;
        for (i, cfg) in configs.iter().enumerate() {
            cache.clear();
            let t0 = now_ms();
            let (h, r) = prefill(model, &mut cache, p, cfg, false)?;
            ms[i] += now_ms() - t0;
            continuation_nll(model, &mut cache, &h[(prompt - 1) * d..], cont, &mut nll[i])?;
            let s = &mut sums[i];
            s[0] += r.kv_bytes as f64 / r.kv_bytes_dense as f64;
            s[1] += r.target_kv_ratio;
            s[2] += r.flops / r.flops_dense;
            s[3] += r.target_flops_ratio;
        }
    }
    let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    let dense_mean = mean(&dense_nll);
    let wn = windows as f64;
    let mods = configs
        .iter()
        .enumerate()
        .map(|(i, cfg)| ContinuationScore {
            spec: cfg.spec.clone(),
            router: cfg.router.label(),
            mean_ratio: cfg.schedule.mean_retention(model.config.n_layers),
            mean_nll: mean(&nll[i]),
            delta_nll: mean(&nll[i]) - dense_mean,
            kv_ratio: sums[i][0] / wn,
            target_kv_ratio: sums[i][1] / wn,
            flops_ratio: sums[i][2] / wn,
            target_flops_ratio: sums[i][3] / wn,
            prefill_ms: ms[i],
            prefill_time_ratio: ms[i] / dense_ms,
            nll: nll[i].clone(),
        })
        .collect();
    Ok(ContinuationEval {
        prompt_tokens: prompt,
        continuation_tokens: continuation,
        windows,
        tokens: dense_nll.len(),
        dense_mean_nll: dense_mean,
        dense_prefill_ms: dense_ms,
        dense_nll,
        mods,
    })
}
