//! Token sampling: greedy (temperature 0), or temperature → top-k → top-p (nucleus) → a draw from
//! a seeded generator. The generator is SplitMix64 written here so the same seed gives the same
//! tokens natively and in wasm, with no platform RNG involved.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct SamplerOptions {
    /// 0 means greedy (argmax).
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 means no limit.
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches `top_p`; 1 means no limit.
    pub top_p: f32,
    pub seed: u64,
}

impl Default for SamplerOptions {
    fn default() -> Self {
        SamplerOptions { temperature: 0.0, top_k: 40, top_p: 0.95, seed: 0 }
    }
}

impl SamplerOptions {
    pub fn validate(&self) -> Result<()> {
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(Error::InvalidArgument(format!("temperature must be ≥ 0, got {}", self.temperature)));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::InvalidArgument(format!("top_p must be in (0, 1], got {}", self.top_p)));
        }
        Ok(())
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014).
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1) with 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Debug)]
pub struct Sampler {
    pub opts: SamplerOptions,
    rng: SplitMix64,
}

/// Index of the largest value (the first one on ties).
pub fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}

impl Sampler {
    pub fn new(opts: SamplerOptions) -> Result<Sampler> {
        opts.validate()?;
        let rng = SplitMix64::new(opts.seed);
        Ok(Sampler { opts, rng })
    }

    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.opts.temperature == 0.0 {
            return argmax(logits) as u32;
        }
        let r = self.draw();
        sample_with(logits, &self.opts, r)
    }

    /// The next uniform draw in [0, 1) (what `sample` consumes per sampled token; the GPU sampler
    /// takes it as a parameter so both paths give the same tokens for a seed).
    pub fn draw(&mut self) -> f64 {
        self.rng.next_f64()
    }
}

/// One sampling step with the draw `r` ∈ [0, 1): temperature → top-k → top-p → the first
/// candidate (by logit descending, ties by id) where the running probability exceeds r · (kept
/// mass). `opts.temperature` must be > 0. shaders/sample.wgsl does the same on the GPU.
pub fn sample_with(logits: &[f32], opts: &SamplerOptions, r: f64) -> u32 {
    let inv_t = 1.0 / opts.temperature;
    let mut cand: Vec<(u32, f32)> = logits.iter().enumerate().map(|(i, &l)| (i as u32, l * inv_t)).collect();
    // Sort by logit descending, ties by id, so the order is deterministic.
    let by_logit = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    let k = if opts.top_k == 0 { cand.len() } else { opts.top_k.min(cand.len()) };
    if k < cand.len() {
        cand.select_nth_unstable_by(k - 1, by_logit);
        cand.truncate(k);
    }
    cand.sort_by(by_logit);
    let max = cand[0].1;
    let mut probs: Vec<f64> = cand.iter().map(|c| ((c.1 - max) as f64).exp()).collect();
    let sum: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= sum);
    let mut keep = probs.len();
    if opts.top_p < 1.0 {
        let mut acc = 0.0;
        for (i, p) in probs.iter().enumerate() {
            acc += p;
            if acc >= opts.top_p as f64 {
                keep = i + 1;
                break;
            }
        }
    }
    let total: f64 = probs[..keep].iter().sum();
    let mut r = r * total;
    for i in 0..keep {
        r -= probs[i];
        if r < 0.0 {
            return cand[i].0;
        }
    }
    cand[keep - 1].0
}
