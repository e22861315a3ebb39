//! Streaming generation: tokenize (optionally through the chat template), prefill the prompt in
//! one batch, then decode token by token, yielding text pieces.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::backend::gpu::model::GpuModel;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::model::forward::{self, KvCache};
use crate::model::sampler::{Sampler, SamplerOptions};
use crate::model::Model;
use crate::pmod::{self, ModConfig, ModOptions, ModReport};
use crate::tokenizer::{ChatMessage, StreamDecoder};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    /// 0 is greedy.
    pub temperature: f32,
    pub top_k: usize,
    pub top_p: f32,
    pub seed: u64,
    /// Wrap the prompt as a user message in the model's chat template.
    pub chat: bool,
    /// System message for chat mode.
    pub system: Option<String>,
    /// Mixture-of-Depths prefill (p-MoD), on either engine.
    #[serde(rename = "mod")]
    pub mod_opts: Option<ModOptions>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        let s = SamplerOptions::default();
        GenerateOptions {
            max_tokens: 64,
            temperature: s.temperature,
            top_k: s.top_k,
            top_p: s.top_p,
            seed: s.seed,
            chat: false,
            system: None,
            mod_opts: None,
        }
    }
}

impl GenerateOptions {
    pub fn sampler(&self) -> SamplerOptions {
        SamplerOptions { temperature: self.temperature, top_k: self.top_k, top_p: self.top_p, seed: self.seed }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct GenerationStats {
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub prefill_ms: f64,
    pub decode_ms: f64,
    pub prefill_tokens_per_s: f64,
    /// Decode speed: generated tokens after the first, per second of decoding.
    pub tokens_per_s: f64,
    pub kv_bytes: usize,
    /// KV bytes a dense cache of the same positions would hold.
    pub kv_bytes_dense: usize,
    /// Analytic FLOPs of the generation so far (prefill + decode), and of the dense model.
    pub flops: f64,
    pub flops_dense: f64,
}

/// Where the forward pass runs.
pub enum Engine {
    Cpu,
    /// The WebGPU model (its own KV caches); greedy tokens are chosen on the GPU, sampled ones
    /// from logits read back.
    Gpu(Box<GpuModel>),
}

pub struct Generation {
    model: Arc<Model>,
    engine: Engine,
    cache: KvCache,
    sampler: Sampler,
    decoder: StreamDecoder,
    prompt_ids: Vec<u32>,
    generated: Vec<u32>,
    /// The next token to feed (None before prefill).
    next: Option<u32>,
    max_tokens: usize,
    finished: bool,
    /// The stream decoder's tail has been returned.
    flushed: bool,
    stats: GenerationStats,
    /// Mixture-of-Depths prefill, and its report once done.
    mod_cfg: Option<ModConfig>,
    mod_report: Option<ModReport>,
}

impl Generation {
    pub fn new(model: Arc<Model>, prompt: &str, opts: &GenerateOptions) -> Result<Generation> {
        let tok = model.tokenizer();
        let prompt_ids = if opts.chat {
            let mut msgs = Vec::new();
            if let Some(s) = &opts.system {
                msgs.push(ChatMessage { role: "system".into(), content: s.clone() });
            }
            msgs.push(ChatMessage { role: "user".into(), content: prompt.to_string() });
            let text = tok.apply_chat_template(&msgs, true)?;
            // The template writes BOS itself where the model wants one.
            tok.encode(&text, false)?
        } else {
            tok.encode(prompt, true)?
        };
        Self::from_ids(model, prompt_ids, opts)
    }

    pub fn from_ids(model: Arc<Model>, prompt_ids: Vec<u32>, opts: &GenerateOptions) -> Result<Generation> {
        if prompt_ids.is_empty() {
            return Err(Error::InvalidArgument("the prompt is empty (no tokens to condition on)".into()));
        }
        let sampler = Sampler::new(opts.sampler())?;
        let cache = KvCache::new(&model.config);
        let stats = GenerationStats { prompt_tokens: prompt_ids.len(), ..Default::default() };
        let mod_cfg = match &opts.mod_opts {
            Some(o) => {
                let cfg = ModConfig::new(&model, o, None)?;
                cfg.span_for(prompt_ids.len())?;
                Some(cfg)
            }
            None => None,
        };
        Ok(Generation {
            model,
            engine: Engine::Cpu,
            cache,
            sampler,
            decoder: StreamDecoder::new(),
            prompt_ids,
            generated: Vec::new(),
            next: None,
            max_tokens: opts.max_tokens,
            finished: false,
            flushed: false,
            stats,
            mod_cfg,
            mod_report: None,
        })
    }

    /// Whether this generation prunes its prompt with Mixture-of-Depths.
    pub fn uses_mod(&self) -> bool {
        self.mod_cfg.is_some()
    }

    /// The MoD prefill's report (per-layer retention, KV bytes, FLOPs), once the prompt is in.
    pub fn mod_report(&self) -> Option<&ModReport> {
        self.mod_report.as_ref()
    }

    /// Run on the GPU model `gpu` (uploaded from the same model) instead of the CPU (a MoD
    /// prefill too: `backend::gpu::model::pmod`).
    pub fn with_gpu(mut self, mut gpu: GpuModel) -> Self {
        gpu.reset();
        self.engine = Engine::Gpu(Box::new(gpu));
        self
    }

    /// Take the GPU model back (to reuse it for the next generation).
    pub fn into_gpu(self) -> Option<GpuModel> {
        match self.engine {
            Engine::Gpu(g) => Some(*g),
            Engine::Cpu => None,
        }
    }

    /// Take the GPU model out (ending the generation), e.g. to hand it to the next one.
    pub fn take_gpu(&mut self) -> Option<GpuModel> {
        match std::mem::replace(&mut self.engine, Engine::Cpu) {
            Engine::Gpu(g) => {
                self.finished = true;
                Some(*g)
            }
            Engine::Cpu => None,
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self.engine {
            Engine::Cpu => "cpu",
            Engine::Gpu(_) => "webgpu",
        }
    }

    /// Generate one token. Returns its text piece (possibly empty while a multi-byte character
    /// is incomplete), or None when generation has finished.
    pub async fn step_async(&mut self) -> Result<Option<String>> {
        if self.finished || self.generated.len() >= self.max_tokens {
            return self.finish();
        }
        let t0 = now_ms();
        let feed: Vec<u32> = match self.next {
            None => self.prompt_ids.clone(),
            Some(tok) => vec![tok],
        };
        let c = &self.model.config;
        let dense_step: f64 = if self.next.is_none() {
            // Prefill: every position through every layer, the output head once.
            let layers: f64 =
                (0..feed.len()).map(|t| pmod::decode_flops(c, std::iter::repeat_n(t + 1, c.n_layers))).sum();
            layers - (feed.len() - 1) as f64 * pmod::head_flops(c)
        } else {
            // The fed token sits at position prompt + generated − 1 (either engine).
            let keys = self.prompt_ids.len() + self.generated.len();
            pmod::decode_flops(c, std::iter::repeat_n(keys, c.n_layers))
        };
        let tok = match &mut self.engine {
            Engine::Cpu if self.next.is_none() && self.mod_cfg.is_some() => {
                let cfg = self.mod_cfg.as_ref().ok_or_else(|| Error::InvalidArgument("no MoD config".into()))?;
                let (hidden, report) = pmod::prefill(&self.model, &mut self.cache, &feed, cfg, false)?;
                self.stats.flops += report.flops;
                self.mod_report = Some(report);
                let d = self.model.config.dim;
                let logits = forward::logits(&self.model, &hidden[hidden.len() - d..], 1)?;
                self.sampler.sample(&logits)
            }
            Engine::Cpu => {
                if self.next.is_some() && self.mod_cfg.is_some() {
                    let lens: Vec<usize> = (0..c.n_layers).map(|l| self.cache.layer_len(l) + 1).collect();
                    self.stats.flops += pmod::decode_flops(c, lens.into_iter());
                } else {
                    self.stats.flops += dense_step;
                }
                let hidden = forward::forward(&self.model, &mut self.cache, &feed)?;
                let d = self.model.config.dim;
                let logits = forward::logits(&self.model, &hidden[hidden.len() - d..], 1)?;
                self.sampler.sample(&logits)
            }
            Engine::Gpu(g) if self.next.is_none() && self.mod_cfg.is_some() => {
                let cfg = self.mod_cfg.as_ref().ok_or_else(|| Error::InvalidArgument("no MoD config".into()))?;
                let o = &self.sampler.opts;
                let (smp, read_logits) = if o.temperature == 0.0 {
                    (None, false)
                } else if (1..=crate::backend::gpu::model::GPU_SAMPLE_MAX_K).contains(&o.top_k) {
                    let (temperature, top_k, top_p) = (o.temperature, o.top_k as u32, o.top_p);
                    let r = self.sampler.draw();
                    (Some(crate::backend::gpu::model::GpuSample { temperature, top_k, top_p, r }), false)
                } else {
                    (None, true)
                };
                let out = g.mod_prefill(&feed, cfg, read_logits, smp).await?;
                self.stats.flops += out.report.flops;
                self.mod_report = Some(out.report);
                match out.logits {
                    Some(logits) => self.sampler.sample(&logits),
                    None => out.token,
                }
            }
            Engine::Gpu(g) => {
                if self.next.is_some() && self.mod_cfg.is_some() {
                    let lens: Vec<usize> = g.layer_lens().iter().map(|&n| n + 1).collect();
                    self.stats.flops += pmod::decode_flops(c, lens.into_iter());
                } else {
                    self.stats.flops += dense_step;
                }
                let o = &self.sampler.opts;
                if o.temperature == 0.0 {
                    g.next_token(&feed).await?
                } else if (1..=crate::backend::gpu::model::GPU_SAMPLE_MAX_K).contains(&o.top_k) {
                    // Sampled on the GPU; only the token id comes back.
                    let (temperature, top_k, top_p) = (o.temperature, o.top_k as u32, o.top_p);
                    let r = self.sampler.draw();
                    let smp = crate::backend::gpu::model::GpuSample { temperature, top_k, top_p, r };
                    g.sample_token(&feed, smp).await?
                } else {
                    // top_k 0 (no limit) or above the GPU sampler's 256: on the CPU.
                    let logits = g.logits(&feed).await?;
                    self.sampler.sample(&logits)
                }
            }
        };
        self.stats.flops_dense += dense_step;
        self.after_token(tok, now_ms() - t0)
    }

    /// Blocking [`Generation::step_async`] (natively; in wasm only the CPU engine is synchronous).
    pub fn step(&mut self) -> Result<Option<String>> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            pollster::block_on(self.step_async())
        }
        #[cfg(target_arch = "wasm32")]
        {
            if matches!(self.engine, Engine::Gpu(_)) {
                return Err(Error::InvalidArgument(
                    "the WebGPU engine is asynchronous in the browser: use step_async".into(),
                ));
            }
            // The CPU engine never awaits: poll the future once.
            let fut = self.step_async();
            let mut fut = std::pin::pin!(fut);
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            match std::future::Future::poll(fut.as_mut(), &mut cx) {
                std::task::Poll::Ready(r) => r,
                std::task::Poll::Pending => Err(Error::InvalidArgument("CPU step unexpectedly pending".into())),
            }
        }
    }

    fn after_token(&mut self, tok: u32, dt: f64) -> Result<Option<String>> {
        if self.next.is_none() {
            self.stats.prefill_ms = dt;
        } else {
            self.stats.decode_ms += dt;
        }
        self.next = Some(tok);
        self.generated.push(tok);
        self.update_stats();
        if self.model.tokenizer().is_eog(tok) {
            self.finished = true;
            return self.finish();
        }
        let piece = self.decoder.push(self.model.tokenizer(), tok)?;
        Ok(Some(piece))
    }

    fn finish(&mut self) -> Result<Option<String>> {
        if self.flushed {
            return Ok(None);
        }
        self.finished = true;
        self.flushed = true;
        let rest = self.decoder.finish(self.model.tokenizer())?;
        if rest.is_empty() {
            Ok(None)
        } else {
            Ok(Some(rest))
        }
    }

    fn update_stats(&mut self) {
        let s = &mut self.stats;
        s.generated_tokens = self.generated.len();
        s.kv_bytes = match &self.engine {
            Engine::Cpu => self.cache.bytes(),
            Engine::Gpu(g) => g.kv_bytes(),
        };
        s.kv_bytes_dense = match &self.engine {
            Engine::Cpu => self.cache.dense_bytes(),
            Engine::Gpu(g) => g.kv_bytes_dense(),
        };
        if s.prefill_ms > 0.0 {
            s.prefill_tokens_per_s = s.prompt_tokens as f64 / (s.prefill_ms / 1000.0);
        }
        if s.decode_ms > 0.0 && s.generated_tokens > 1 {
            s.tokens_per_s = (s.generated_tokens - 1) as f64 / (s.decode_ms / 1000.0);
        }
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }
    pub fn prompt_token_ids(&self) -> &[u32] {
        &self.prompt_ids
    }
    /// Generated ids (including a final end-of-generation token, if one was produced).
    pub fn token_ids(&self) -> &[u32] {
        &self.generated
    }
    pub fn stats(&self) -> GenerationStats {
        self.stats.clone()
    }
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }
}
