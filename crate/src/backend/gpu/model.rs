//! The Llama forward pass on the GPU.
//!
//! Everything is built once at upload: weight shards, activation buffers sized for
//! `max_batch` tokens, per-layer KV caches for `max_ctx` positions, the RoPE table, uniform
//! parameter buffers and every bind group. A step writes the token ids and a 16-byte `Step`
//! uniform (`n_tok`, `start`), records the op list into one command encoder (KV writes are
//! buffer copies at offsets known on the CPU), and reads back only the argmax token id — or, on
//! request (tests, sampling), the last position's logits.

use std::sync::Arc;

use wgpu::util::DeviceExt;

pub use super::bench::{matmul_once, sample_once, time_matmul, time_matmul_on, time_read, BenchWeights, MatmulTiming};
use super::kernels::{Kernel, Shader};
use super::ops::{readback, record, storage, uniform, xq_words, Op};
pub use super::ops::{GpuSample, GPU_SAMPLE_MAX_K};
pub use super::record::OpBuilder;
use super::record::{Acts, LayerBindings, STEP_STRIDE};
use super::weights;
use super::GpuContext;
use crate::error::{Error, Result};
use crate::model::graph::{Act, Linear};
use crate::model::{check_step, LlamaConfig, Model};

/// Tokens per forward call; longer prompts are prefilled in chunks of this size.
pub const MAX_BATCH: usize = 64;
/// A model on the GPU: its weights, activation buffers, per-layer KV caches, and the ops of the
/// model graph recorded once.
pub struct GpuModel {
    pub(crate) ctx: Arc<GpuContext>,
    pub(crate) cfg: LlamaConfig,
    /// What the layer's STRing-weighted residual adds (the MoD prefill's scaled add reads it).
    pub(crate) weighted_from: Act,
    pub(crate) ops: Vec<Op>,
    /// shaders/sample.wgsl over the logits into `acts.argmax` (run after the argmax when sampling).
    pub(crate) sample_op: Op,
    pub(crate) acts: Acts,
    pub(crate) k_cache: Vec<wgpu::Buffer>,
    pub(crate) v_cache: Vec<wgpu::Buffer>,
    /// Entries in each layer's KV cache (= `pos` for every layer unless a MoD prefill ran).
    pub(crate) layer_len: Vec<usize>,
    /// Op-list layout: embedding ops `0..embed_end`, then each layer's (`layer_ops[l]`), then the
    /// tail from `tail_start` (CopyLast, output norm, head, argmax).
    pub(crate) embed_end: usize,
    pub(crate) layer_ops: Vec<std::ops::Range<usize>>,
    pub(crate) tail_start: usize,
    pub max_ctx: usize,
    /// Positions already in the caches.
    pub pos: usize,
    pub weight_bytes: u64,
}

impl GpuModel {
    /// Upload `model` for sequences of up to `max_ctx` positions, and record its graph.
    pub async fn upload(ctx: Arc<GpuContext>, model: &Model, max_ctx: usize) -> Result<GpuModel> {
        let c = model.config.clone();
        if c.head_dim > 256 {
            return Err(Error::UnsupportedModel(format!(
                "head_dim {} > 256 is not supported by the GPU attention kernel",
                c.head_dim
            )));
        }
        let max_ctx = max_ctx.min(c.context_length).max(1);
        let dev = ctx.device.clone();
        let max_binding = ctx.caps.max_storage_buffer_binding_size;
        let b = OpBuilder { ctx: &ctx };
        let (d, qd, kvd, f, vocab) = (c.dim, c.n_heads * c.head_dim, c.kv_dim(), c.ffn_dim, c.vocab_size);
        let mb = MAX_BATCH;
        let kv_bytes = (max_ctx * kvd * 4) as u64;
        if kv_bytes > max_binding {
            return Err(Error::Limit {
                what: "KV cache of one layer in bytes (maxStorageBufferBindingSize)".into(),
                value: kv_bytes,
                limit: max_binding,
            });
        }

        let result = ctx
            .scoped("uploading the model to the GPU", || -> Result<GpuModel> {
                let acts = Acts {
                    by_act: Act::ALL.iter().map(|a| storage(&dev, &format!("{a:?}"), mb * a.width(&c))).collect(),
                    xq: storage(&dev, "xq", xq_words(mb, d.max(qd).max(f))),
                    last_x: storage(&dev, "last_x", d),
                    last: storage(&dev, "last", d),
                    logits: storage(&dev, "logits", vocab),
                    argmax: storage(&dev, "argmax", 1),
                    tokens: storage(&dev, "tokens", mb),
                    step: uniform(&dev, "step", &[0, 0, 0, 0]),
                    step_one: uniform(&dev, "step_one", &[1, 0, 0, 0]),
                    read_token: readback(&dev, "read_token", 4),
                    read_logits: readback(&dev, "read_logits", vocab * 4),
                    sample_params: uniform(&dev, "sample params", &[0; 8]),
                    positions: storage(&dev, "positions", mb),
                    layer_steps: dev.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("layer steps"),
                        size: (c.n_layers.max(1) * STEP_STRIDE) as u64,
                        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    }),
                };
                let up = |w: &crate::model::Weight| weights::upload(&dev, &w.name, &model.matrix(w), max_binding);
                let vec_buf = |label: &str, v: &[f32]| {
                    dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some(label),
                        contents: bytemuck::cast_slice(v),
                        usage: wgpu::BufferUsages::STORAGE,
                    })
                };
                // RoPE tables and attention params: the global layers', and the sliding-window
                // layers' where they differ (Gemma 3's local base; any window).
                let rope_bufs = |r: &crate::model::rope::Rope| {
                    let half = (r.dim / 2) as u32;
                    let halves = (r.mode == crate::model::rope::RopeMode::Halves) as u32;
                    (
                        vec_buf("rope_table", &r.table(max_ctx)),
                        uniform(&dev, "rope q", &[c.n_heads as u32, c.head_dim as u32, half, halves]),
                        uniform(&dev, "rope k", &[c.n_kv_heads as u32, c.head_dim as u32, half, halves]),
                    )
                };
                let rope_global = rope_bufs(&c.rope);
                let rope_local = c.rope_local.as_ref().map(rope_bufs);
                let attn_params = |window: usize| {
                    uniform(
                        &dev,
                        "attention params",
                        &[
                            c.n_heads as u32,
                            (c.n_heads / c.n_kv_heads) as u32,
                            c.head_dim as u32,
                            kvd as u32,
                            c.attn_scale.to_bits(),
                            c.attn_softcap.to_bits(),
                            window as u32,
                            0,
                        ],
                    )
                };
                let attn_global = attn_params(0);
                let attn_local = attn_params(c.sliding_window);
                let mut weight_bytes = 0u64;
                let mut ops = Vec::new();
                let embd = up(&model.token_embd)?;
                weight_bytes += embd.bytes();
                let a = &acts;
                ops.extend(b.embed(&embd, &a.step, &a.tokens, a.act(Act::X))?);
                if c.embed_scale != 1.0 {
                    ops.push(b.scale_cap(d, c.embed_scale, 0.0, &a.step, a.act(Act::X), false)?);
                }
                let embed_end = ops.len();
                let mut layer_ops = Vec::new();
                let mut k_cache = Vec::new();
                let mut v_cache = Vec::new();
                for (l, lw) in model.layers.iter().enumerate() {
                    let kc = storage(&dev, "k_cache", max_ctx * kvd);
                    let vc = storage(&dev, "v_cache", max_ctx * kvd);
                    let norms: Vec<Option<wgpu::Buffer>> =
                        lw.norms.iter().map(|n| n.as_ref().map(|v| vec_buf("norm", v))).collect();
                    let biases: Vec<Option<wgpu::Buffer>> =
                        lw.biases.iter().map(|b| b.as_ref().map(|v| vec_buf("bias", v))).collect();
                    let local = c.window(l).is_some();
                    let (rope_table, rope_q, rope_k) = match (&rope_local, local) {
                        (Some(r), true) => r,
                        _ => &rope_global,
                    };
                    let linears = Linear::ALL.iter().map(|&w| up(lw.linear(w))).collect::<Result<Vec<_>>>()?;
                    weight_bytes += linears.iter().map(|w| w.bytes()).sum::<u64>();
                    let lb = LayerBindings {
                        l,
                        linears: &linears,
                        norms: &norms,
                        biases: &biases,
                        k_cache: &kc,
                        v_cache: &vc,
                        rope_table,
                        rope_q,
                        rope_k,
                        attn_params: if local { &attn_local } else { &attn_global },
                    };
                    let layer_start = ops.len();
                    ops.extend(b.layer(&c, &model.graph, a, &lb)?);
                    layer_ops.push(layer_start..ops.len());
                    k_cache.push(kc);
                    v_cache.push(vc);
                }
                let tail_start = ops.len();
                ops.push(Op::CopyLast);
                let out_norm = vec_buf("output_norm", &model.output_norm);
                ops.push(b.rmsnorm(d, c.rms_eps, &out_norm, &a.step_one, &a.last_x, &a.last, true)?);
                let out_w = if model.tied_output { None } else { Some(up(&model.output)?) };
                let out_w_ref = out_w.as_ref().unwrap_or(&embd);
                if out_w.is_some() {
                    weight_bytes += out_w_ref.bytes();
                }
                ops.extend(b.matmuls(&[(out_w_ref, &a.logits)], &a.step_one, &a.last, &a.xq, true)?);
                if c.final_softcap > 0.0 {
                    ops.push(b.scale_cap(vocab, 1.0, c.final_softcap, &a.step_one, &a.logits, true)?);
                }
                let argmax_params = uniform(&dev, "argmax params", &[vocab as u32, 0, 0, 0]);
                let (pipeline, bind_group) =
                    b.bind(&Kernel::Plain(Shader::Argmax), &[&a.step_one, &argmax_params, &a.logits, &a.argmax])?;
                ops.push(Op::single(pipeline, bind_group));
                let (pipeline, bind_group) =
                    b.bind(&Kernel::Plain(Shader::Sample), &[&a.step_one, &a.sample_params, &a.logits, &a.argmax])?;
                let sample_op = Op::single(pipeline, bind_group);
                Ok(GpuModel {
                    ctx: ctx.clone(),
                    cfg: c.clone(),
                    weighted_from: model.graph.weighted_from().unwrap_or(Act::Proj),
                    ops,
                    sample_op,
                    acts,
                    k_cache,
                    v_cache,
                    layer_len: vec![0; c.n_layers],
                    embed_end,
                    layer_ops,
                    tail_start,
                    max_ctx,
                    pos: 0,
                    weight_bytes,
                })
            })
            .await?;
        result
    }

    /// Compute dispatches of one greedy step of `n` tokens (the whole recorded list: embedding,
    /// every layer, head and argmax; the KV appends and the last-row copy are copies, not
    /// dispatches).
    pub fn dispatches_per_step(&self, n: usize) -> usize {
        self.ops.iter().map(|op| op.dispatches(n as u32)).sum()
    }

    /// Compute dispatches of layer `l` in a step of `n` tokens.
    pub fn dispatches_per_layer(&self, l: usize, n: usize) -> usize {
        self.layer_ops.get(l).map_or(0, |r| self.ops[r.clone()].iter().map(|op| op.dispatches(n as u32)).sum())
    }

    /// Bytes of keys and values held (f32; after a MoD prefill, each layer's kept entries).
    pub fn kv_bytes(&self) -> usize {
        self.layer_len.iter().map(|&n| 2 * n * self.cfg.kv_dim() * 4).sum()
    }

    /// Bytes a dense cache of the positions so far would hold.
    pub fn kv_bytes_dense(&self) -> usize {
        2 * self.cfg.n_layers * self.pos * self.cfg.kv_dim() * 4
    }

    /// Entries in each layer's KV cache.
    pub fn layer_lens(&self) -> &[usize] {
        &self.layer_len
    }

    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    /// Forget the sequence (the caches are overwritten by the next one).
    pub fn reset(&mut self) {
        self.pos = 0;
        self.layer_len.iter_mut().for_each(|n| *n = 0);
    }

    /// Record and submit one forward step over `tokens` (≤ MAX_BATCH) at positions `pos..`; with
    /// `sample`, the token read back is drawn by shaders/sample.wgsl instead of the argmax.
    fn encode_step(&mut self, tokens: &[u32], read_logits: bool) -> Result<()> {
        self.encode_step_with(tokens, read_logits, None)
    }

    fn encode_step_with(&mut self, tokens: &[u32], read_logits: bool, sample: Option<GpuSample>) -> Result<()> {
        self.ctx.check()?;
        let n = tokens.len();
        if n > MAX_BATCH {
            return Err(Error::InvalidArgument(format!("GPU step of {n} tokens (1..={MAX_BATCH})")));
        }
        check_step(&self.cfg, tokens, self.pos, self.max_ctx)?;
        let q = &self.ctx.queue;
        q.write_buffer(&self.acts.tokens, 0, bytemuck::cast_slice(tokens));
        q.write_buffer(&self.acts.step, 0, bytemuck::cast_slice(&[n as u32, self.pos as u32, 0, 0]));
        let positions: Vec<u32> = (self.pos..self.pos + n).map(|p| p as u32).collect();
        q.write_buffer(&self.acts.positions, 0, bytemuck::cast_slice(&positions));
        let mut steps = vec![0u32; self.cfg.n_layers * STEP_STRIDE / 4];
        for (l, &len) in self.layer_len.iter().enumerate() {
            steps[l * STEP_STRIDE / 4] = n as u32;
            steps[l * STEP_STRIDE / 4 + 1] = len as u32;
        }
        q.write_buffer(&self.acts.layer_steps, 0, bytemuck::cast_slice(&steps));
        let mut enc = self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("step") });
        self.record_ops(&mut enc, 0..self.ops.len(), n, None);
        if let Some(smp) = sample {
            q.write_buffer(&self.acts.sample_params, 0, bytemuck::cast_slice(&smp.words(self.cfg.vocab_size)));
            let mut pass = enc.begin_compute_pass(&Default::default());
            record(&mut pass, std::slice::from_ref(&self.sample_op), 1);
        }
        enc.copy_buffer_to_buffer(&self.acts.argmax, 0, &self.acts.read_token, 0, 4);
        if read_logits {
            let bytes = (self.cfg.vocab_size * 4) as u64;
            enc.copy_buffer_to_buffer(&self.acts.logits, 0, &self.acts.read_logits, 0, bytes);
        }
        q.submit(Some(enc.finish()));
        self.pos += n;
        self.layer_len.iter_mut().for_each(|len| *len += n);
        Ok(())
    }

    /// Record `self.ops[range]` for a step of `n` tokens: dispatch runs in compute passes, KV
    /// appends at each layer's current length, the last-row copy.
    ///
    /// `weighted`: records the STRing-weighted residual add (`Op::Weighted`) instead of its plain
    /// add (the MoD prefill under trained routers).
    pub(crate) fn record_ops(
        &self,
        enc: &mut wgpu::CommandEncoder,
        range: std::ops::Range<usize>,
        n: usize,
        weighted: Option<&dyn Fn(&mut wgpu::ComputePass<'_>)>,
    ) {
        let d = self.cfg.dim;
        let mut i = range.start;
        while i < range.end {
            match &self.ops[i] {
                Op::StoreKv { layer, k, v } => {
                    let kvd = k.width(&self.cfg);
                    let off = (self.layer_len[*layer] * kvd * 4) as u64;
                    let len = (n * kvd * 4) as u64;
                    enc.copy_buffer_to_buffer(self.acts.act(*k), 0, &self.k_cache[*layer], off, len);
                    enc.copy_buffer_to_buffer(self.acts.act(*v), 0, &self.v_cache[*layer], off, len);
                    i += 1;
                }
                Op::CopyLast => {
                    enc.copy_buffer_to_buffer(
                        self.acts.act(Act::X),
                        ((n - 1) * d * 4) as u64,
                        &self.acts.last_x,
                        0,
                        (d * 4) as u64,
                    );
                    i += 1;
                }
                Op::Dispatch { .. } | Op::Weighted(_) => {
                    // One compute pass for the run of dispatches up to the next copy.
                    let end = self.ops[i..range.end].iter().position(|op| !op.in_pass()).map_or(range.end, |k| i + k);
                    let mut pass = enc.begin_compute_pass(&Default::default());
                    for op in &self.ops[i..end] {
                        match (op, weighted) {
                            (Op::Weighted(_), Some(hook)) => hook(&mut pass),
                            _ => op.dispatch(&mut pass, n as u32),
                        }
                    }
                    i = end;
                }
            }
        }
    }

    /// Run `tokens` (any length; chunked) and return the greedy next token, computed on the GPU.
    pub async fn next_token(&mut self, tokens: &[u32]) -> Result<u32> {
        for chunk in tokens.chunks(MAX_BATCH) {
            self.encode_step(chunk, false)?;
        }
        let bytes = self.ctx.read_buffer(&self.acts.read_token).await?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// Run `tokens` (any length; chunked) and draw the next token on the GPU (temperature, top-k,
    /// top-p, the draw `smp.r`); only the token id is read back.
    pub async fn sample_token(&mut self, tokens: &[u32], smp: GpuSample) -> Result<u32> {
        if smp.temperature.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
            || smp.top_k == 0
            || smp.top_k as usize > GPU_SAMPLE_MAX_K
        {
            return Err(Error::InvalidArgument(format!(
                "GPU sampling needs temperature > 0 and top_k in 1..={GPU_SAMPLE_MAX_K} (got {} and {})",
                smp.temperature, smp.top_k
            )));
        }
        let chunks: Vec<&[u32]> = tokens.chunks(MAX_BATCH).collect();
        for (ci, chunk) in chunks.iter().enumerate() {
            let last = ci + 1 == chunks.len();
            self.encode_step_with(chunk, false, if last { Some(smp) } else { None })?;
        }
        let bytes = self.ctx.read_buffer(&self.acts.read_token).await?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// Run `tokens` and read back the last position's logits (for tests and CPU-side sampling).
    pub async fn logits(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        let chunks: Vec<&[u32]> = tokens.chunks(MAX_BATCH).collect();
        for (ci, chunk) in chunks.iter().enumerate() {
            self.encode_step(chunk, ci + 1 == chunks.len())?;
        }
        let bytes = self.ctx.read_buffer(&self.acts.read_logits).await?;
        Ok(bytemuck::cast_slice(&bytes).to_vec())
    }
}
