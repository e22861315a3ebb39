//! Evaluation: teacher-forced scoring (per-token negative log-likelihood, perplexity).

use serde::Serialize;

use crate::backend::cpu::log_sum_exp;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::model::forward::{self, KvCache};
use crate::model::Model;

/// Tokens run through the model in one forward call inside a window (bounds activation memory;
/// the KV cache carries the context across calls, so results do not depend on it).
const SCORE_BATCH: usize = 256;

#[derive(Clone, Debug, Serialize)]
pub struct ScoreResult {
    pub token_ids: Vec<u32>,
    /// Natural-log NLL of token i+1 given tokens ..=i, for every predicted token.
    pub nll: Vec<f32>,
    pub mean_nll: f64,
    pub perplexity: f64,
    /// Number of predicted (scored) tokens.
    pub tokens: usize,
    pub ctx: usize,
    pub windows: usize,
    pub tokens_per_s: f64,
}

/// Score `ids`: windows of `ctx` tokens overlapping by one, so every token after the first is
/// predicted exactly once, each window from a fresh cache.
pub fn score_ids(model: &Model, ids: &[u32], ctx: Option<usize>) -> Result<ScoreResult> {
    let ctx = ctx.unwrap_or(model.config.context_length).min(model.config.context_length);
    if ctx < 2 {
        return Err(Error::InvalidArgument(format!("--ctx must be at least 2, got {ctx}")));
    }
    if ids.len() < 2 {
        return Err(Error::InvalidArgument(format!("the text has {} token(s); at least 2 are needed", ids.len())));
    }
    let t0 = now_ms();
    let vocab = model.config.vocab_size;
    let mut nll = Vec::with_capacity(ids.len() - 1);
    let mut start = 0;
    let mut windows = 0;
    let mut cache = KvCache::new(&model.config);
    while start + 1 < ids.len() {
        let end = (start + ctx).min(ids.len());
        cache.clear();
        windows += 1;
        let mut pos = start;
        while pos < end {
            let b_end = (pos + SCORE_BATCH).min(end);
            let hidden = forward::forward(model, &mut cache, &ids[pos..b_end])?;
            let n = b_end - pos;
            let logits = forward::logits(model, &hidden, n)?;
            for t in 0..n {
                let target = pos + t + 1;
                if target >= end {
                    break;
                }
                let row = &logits[t * vocab..(t + 1) * vocab];
                nll.push(log_sum_exp(row) - row[ids[target] as usize]);
            }
            pos = b_end;
        }
        start = end - 1;
    }
    let mean = nll.iter().map(|&x| x as f64).sum::<f64>() / nll.len() as f64;
    let secs = (now_ms() - t0) / 1000.0;
    Ok(ScoreResult {
        token_ids: ids.to_vec(),
        tokens: nll.len(),
        nll,
        mean_nll: mean,
        perplexity: mean.exp(),
        ctx,
        windows,
        tokens_per_s: if secs > 0.0 { ids.len() as f64 / secs } else { 0.0 },
    })
}

/// Tokenize `text` (with BOS as the model's metadata says) and score it.
pub fn score_text(model: &Model, text: &str, ctx: Option<usize>) -> Result<ScoreResult> {
    let ids = model.tokenizer().encode(text, true)?;
    score_ids(model, &ids, ctx)
}
