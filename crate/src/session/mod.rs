//! A generation session: tokenize (optionally through the chat template), prefill the prompt in
//! one batch (optionally as a Mixture-of-Depths prefill), then decode token by token, yielding
//! text pieces. It runs over any [`Backend`] and chooses how tokens are picked in one place
//! ([`Generation::pick`]).

pub mod backend;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::backend::gpu::model::{GpuModel, GpuSample, GPU_SAMPLE_MAX_K};
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::model::sampler::{Sampler, SamplerOptions};
use crate::model::Model;
use crate::pmod::{self, ModConfig, ModOptions, ModReport};
use crate::tokenizer::{ChatMessage, StreamDecoder};
pub use backend::{Backend, CpuBackend, Pick, Picked};

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

pub struct Generation {
    model: Arc<Model>,
    backend: Box<dyn Backend>,
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
            backend: Box::new(CpuBackend::new(model.clone())),
            model,
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

    /// Run on `backend` instead of the CPU (its sequence is reset).
    pub fn with_backend(mut self, mut backend: Box<dyn Backend>) -> Self {
        backend.reset();
        self.backend = backend;
        self
    }

    /// Run on the GPU model `gpu` (uploaded from the same model) instead of the CPU.
    pub fn with_gpu(self, gpu: GpuModel) -> Self {
        self.with_backend(Box::new(gpu))
    }

    /// Take the GPU model back (to reuse it for the next generation).
    pub fn into_gpu(self) -> Option<GpuModel> {
        self.backend.into_gpu()
    }

    /// Take the GPU model out (ending the generation), e.g. to hand it to the next one.
    pub fn take_gpu(&mut self) -> Option<GpuModel> {
        let cpu: Box<dyn Backend> = Box::new(CpuBackend::new(self.model.clone()));
        let gpu = std::mem::replace(&mut self.backend, cpu).into_gpu();
        if gpu.is_some() {
            self.finished = true;
        }
        gpu
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// How the next token is picked: on the backend when it can (greedy, or sampled with top-k
    /// in 1..=256 — the draw is taken from the session's generator now), else from the logits by
    /// the session's sampler.
    fn pick(&mut self) -> Pick {
        let o = &self.sampler.opts;
        if !self.backend.picks_on_device() {
            Pick::Logits
        } else if o.temperature == 0.0 {
            Pick::Greedy
        } else if (1..=GPU_SAMPLE_MAX_K).contains(&o.top_k) {
            let (temperature, top_k, top_p) = (o.temperature, o.top_k as u32, o.top_p);
            Pick::Sample(GpuSample { temperature, top_k, top_p, r: self.sampler.draw() })
        } else {
            // top_k 0 (no limit) or above the device sampler's 256.
            Pick::Logits
        }
    }

    /// Generate one token. Returns its text piece (possibly empty while a multi-byte character
    /// is incomplete), or None when generation has finished.
    pub async fn step_async(&mut self) -> Result<Option<String>> {
        if self.finished || self.generated.len() >= self.max_tokens {
            return self.finish();
        }
        let t0 = now_ms();
        let prefill = self.next.is_none();
        let feed: Vec<u32> = match self.next {
            None => self.prompt_ids.clone(),
            Some(tok) => vec![tok],
        };
        let model = Arc::clone(&self.model);
        let c = &model.config;
        let dense_step: f64 = if prefill {
            // Prefill: every position through every layer, the output head once.
            let layers: f64 =
                (0..feed.len()).map(|t| pmod::decode_flops(c, std::iter::repeat_n(t + 1, c.n_layers))).sum();
            layers - (feed.len() - 1) as f64 * pmod::head_flops(c)
        } else {
            // The fed token sits at position prompt + generated − 1.
            let keys = self.prompt_ids.len() + self.generated.len();
            pmod::decode_flops(c, std::iter::repeat_n(keys, c.n_layers))
        };
        // A decoded token after a MoD prefill attends to each layer's kept entries.
        let mod_decode = (self.mod_cfg.is_some() && !prefill).then(|| self.backend.layer_lens());
        let pick = self.pick();
        let mod_cfg = if prefill { self.mod_cfg.as_ref() } else { None };
        let (picked, report) = self.backend.run(&feed, mod_cfg, pick).await?;
        self.stats.flops += match (&report, mod_decode) {
            (Some(r), _) => r.flops,
            (None, Some(lens)) => pmod::decode_flops(c, lens.into_iter().map(|n| n + 1)),
            (None, None) => dense_step,
        };
        if let Some(r) = report {
            self.mod_report = Some(r);
        }
        let tok = match picked {
            Picked::Token(t) => t,
            Picked::Logits(l) => self.sampler.sample(&l),
        };
        self.stats.flops_dense += dense_step;
        self.after_token(tok, now_ms() - t0)
    }

    /// Blocking [`Generation::step_async`] (natively; in wasm only a synchronous backend, the CPU).
    pub fn step(&mut self) -> Result<Option<String>> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            pollster::block_on(self.step_async())
        }
        #[cfg(target_arch = "wasm32")]
        {
            if !self.backend.synchronous() {
                return Err(Error::InvalidArgument(
                    "the WebGPU engine is asynchronous in the browser: use step_async".into(),
                ));
            }
            // A synchronous backend never awaits: poll the future once.
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
        (s.kv_bytes, s.kv_bytes_dense) = self.backend.kv_bytes();
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
