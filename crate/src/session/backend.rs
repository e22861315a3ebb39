//! What a generation session needs from a backend: run tokens (the prompt, optionally through a
//! Mixture-of-Depths prefill, or one decoded token) and pick the next token the way the session
//! asks; KV bytes and per-layer cache lengths for the statistics. The CPU reference and the
//! WebGPU model implement it; the session never branches on which one it drives.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::backend::cpu::exec as forward;
use crate::backend::gpu::model::{GpuModel, GpuSample};
use crate::error::Result;
use crate::model::{KvCache, Model};
use crate::pmod::{self, ModConfig, ModReport};

/// A future borrowed from the backend (not `Send`: wasm futures are single-threaded).
pub type StepFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + 'a>>;

/// How the backend should pick the next token.
#[derive(Clone, Copy, Debug)]
pub enum Pick {
    /// The argmax, on the backend.
    Greedy,
    /// Drawn on the backend (temperature, top-k ≤ 256, top-p, the session's draw).
    Sample(GpuSample),
    /// Return the last position's logits; the session samples.
    Logits,
}

/// What a run returns: the token (for `Greedy` / `Sample`) or the logits (for `Logits`).
pub enum Picked {
    Token(u32),
    Logits(Vec<f32>),
}

/// A backend a session runs on.
pub trait Backend {
    /// `cpu` or `webgpu`.
    fn name(&self) -> &'static str;
    /// Whether the backend can pick tokens itself ([`Pick::Greedy`], [`Pick::Sample`]); when
    /// not, the session always asks for logits.
    fn picks_on_device(&self) -> bool;
    /// Whether runs complete without awaiting (the CPU), so a blocking step works in wasm.
    fn synchronous(&self) -> bool;
    /// Run `tokens` after the positions already in the caches; with `mod_cfg`, as a MoD prefill
    /// (then the report comes back too).
    fn run<'a>(
        &'a mut self,
        tokens: &'a [u32],
        mod_cfg: Option<&'a ModConfig>,
        pick: Pick,
    ) -> StepFuture<'a, (Picked, Option<ModReport>)>;
    /// Bytes of keys and values held, and what a dense cache of the same positions would hold.
    fn kv_bytes(&self) -> (usize, usize);
    /// Entries in each layer's KV cache.
    fn layer_lens(&self) -> Vec<usize>;
    /// Forget the sequence.
    fn reset(&mut self);
    /// The GPU model, when this backend is one (to hand it to the next session).
    fn into_gpu(self: Box<Self>) -> Option<GpuModel> {
        None
    }
}

/// The CPU reference: the model graph executed op by op over a [`KvCache`].
pub struct CpuBackend {
    pub model: Arc<Model>,
    pub cache: KvCache,
}

impl CpuBackend {
    pub fn new(model: Arc<Model>) -> CpuBackend {
        let cache = KvCache::new(&model.config);
        CpuBackend { model, cache }
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn picks_on_device(&self) -> bool {
        false
    }

    fn synchronous(&self) -> bool {
        true
    }

    fn run<'a>(
        &'a mut self,
        tokens: &'a [u32],
        mod_cfg: Option<&'a ModConfig>,
        _pick: Pick,
    ) -> StepFuture<'a, (Picked, Option<ModReport>)> {
        Box::pin(async move {
            let m = &*self.model;
            let (hidden, report) = match mod_cfg {
                Some(cfg) => {
                    let (h, r) = pmod::prefill(m, &mut self.cache, tokens, cfg, false)?;
                    (h, Some(r))
                }
                None => (forward::forward(m, &mut self.cache, tokens)?, None),
            };
            let d = m.config.dim;
            let logits = forward::logits(m, &hidden[hidden.len() - d..], 1)?;
            Ok((Picked::Logits(logits), report))
        })
    }

    fn kv_bytes(&self) -> (usize, usize) {
        (self.cache.bytes(), self.cache.dense_bytes())
    }

    fn layer_lens(&self) -> Vec<usize> {
        (0..self.model.config.n_layers).map(|l| self.cache.layer_len(l)).collect()
    }

    fn reset(&mut self) {
        self.cache.clear();
    }
}

/// The WebGPU model: tokens are picked on the device (only the id is read back) unless the
/// session asks for logits.
impl Backend for GpuModel {
    fn name(&self) -> &'static str {
        "webgpu"
    }

    fn picks_on_device(&self) -> bool {
        true
    }

    fn synchronous(&self) -> bool {
        false
    }

    fn run<'a>(
        &'a mut self,
        tokens: &'a [u32],
        mod_cfg: Option<&'a ModConfig>,
        pick: Pick,
    ) -> StepFuture<'a, (Picked, Option<ModReport>)> {
        Box::pin(async move {
            if let Some(cfg) = mod_cfg {
                let (read_logits, smp) = match pick {
                    Pick::Greedy => (false, None),
                    Pick::Sample(s) => (false, Some(s)),
                    Pick::Logits => (true, None),
                };
                let out = self.mod_prefill(tokens, cfg, read_logits, smp).await?;
                let picked = match out.logits {
                    Some(l) => Picked::Logits(l),
                    None => Picked::Token(out.token),
                };
                return Ok((picked, Some(out.report)));
            }
            let picked = match pick {
                Pick::Greedy => Picked::Token(self.next_token(tokens).await?),
                Pick::Sample(s) => Picked::Token(self.sample_token(tokens, s).await?),
                Pick::Logits => Picked::Logits(self.logits(tokens).await?),
            };
            Ok((picked, None))
        })
    }

    fn kv_bytes(&self) -> (usize, usize) {
        (GpuModel::kv_bytes(self), self.kv_bytes_dense())
    }

    fn layer_lens(&self) -> Vec<usize> {
        GpuModel::layer_lens(self).to_vec()
    }

    fn reset(&mut self) {
        GpuModel::reset(self)
    }

    fn into_gpu(self: Box<Self>) -> Option<GpuModel> {
        Some(*self)
    }
}
