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

use super::kernels::Kernel;

// Mixture-of-Depths prefill (p-MoD) on the GPU: a child module so it drives this file's op list.
#[path = "pmod.rs"]
pub mod pmod;
use super::weights::{self, GpuWeight};
use super::GpuContext;
use crate::error::{Error, Result};
use crate::model::{LlamaConfig, Model};

/// Tokens per forward call; longer prompts are prefilled in chunks of this size.
pub const MAX_BATCH: usize = 64;
#[derive(Clone, Copy, Debug)]
enum Grid {
    /// Workgroups (fold_x, ceil(groups / fold_x), ceil(n / TB)) with groups = ceil(rows / ROWS),
    /// ROWS = `tile_rows` (the same for the decode and prefill tiles) and TB the tile's tokens.
    Matmul {
        rows: u32,
        fold_x: u32,
        tile_rows: u32,
        prefill_tokens: u32,
    },
    /// One workgroup per token.
    PerToken,
    /// One thread per (token, item), 64 per workgroup, 1-D.
    Threads {
        per_token: u32,
    },
    /// One thread per element, 64 per workgroup, folded 2-D.
    Elementwise {
        per_token: u32,
    },
    /// (heads, n, 1).
    Attention {
        heads: u32,
    },
    Single,
}

/// Which steps a dispatch runs in: every step, or only one-token (decode) or only several-token
/// (prefill) steps. A fused int8 decode tile quantizes its input itself, so the separate quantize
/// pass and the token tile that reads its blocks run only when the step has several tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Steps {
    All,
    One,
    Many,
}

impl Steps {
    fn runs(self, n: u32) -> bool {
        match self {
            Steps::All => true,
            Steps::One => n == 1,
            Steps::Many => n > 1,
        }
    }
}

enum Op {
    Dispatch {
        /// The steps it runs in.
        steps: Steps,
        pipeline: Arc<wgpu::ComputePipeline>,
        /// The pipeline for steps of more than one token (matmul's prefill tile), if different.
        prefill: Option<Arc<wgpu::ComputePipeline>>,
        bind_group: wgpu::BindGroup,
        grid: Grid,
        one: bool,
    },
    /// Append this step's K and V to layer `layer`'s caches.
    StoreKv { layer: usize },
    /// Copy the last token's residual row into `last_x`.
    CopyLast,
}

impl Op {
    /// One workgroup, once per step (argmax, sampling).
    fn single(pipeline: Arc<wgpu::ComputePipeline>, bind_group: wgpu::BindGroup) -> Op {
        Op::Dispatch { steps: Steps::All, pipeline, prefill: None, bind_group, grid: Grid::Single, one: true }
    }
}

struct Acts {
    x: wgpu::Buffer,
    xn: wgpu::Buffer,
    q: wgpu::Buffer,
    k: wgpu::Buffer,
    v: wgpu::Buffer,
    att: wgpu::Buffer,
    proj: wgpu::Buffer,
    gate: wgpu::Buffer,
    up: wgpu::Buffer,
    /// Int8 activations (shaders/quantize_i8.wgsl) of the widest matmul input, for int8 tiles.
    xq: wgpu::Buffer,
    last_x: wgpu::Buffer,
    last: wgpu::Buffer,
    logits: wgpu::Buffer,
    argmax: wgpu::Buffer,
    tokens: wgpu::Buffer,
    step: wgpu::Buffer,
    step_one: wgpu::Buffer,
    read_token: wgpu::Buffer,
    read_logits: wgpu::Buffer,
    /// SampleParams of shaders/sample.wgsl (written per sampled step).
    sample_params: wgpu::Buffer,
    /// Position id of each token of the step (u32 [MAX_BATCH]; shaders/rope.wgsl).
    positions: wgpu::Buffer,
    /// Per layer, at `l · STEP_STRIDE`: the attention's Step { n_tok, start = the layer's cache
    /// entries before this step } (layers hold different counts after a MoD prefill).
    layer_steps: wgpu::Buffer,
}

/// Byte stride of the per-layer Step uniforms in `layer_steps` (WebGPU's default
/// `minUniformBufferOffsetAlignment`).
const STEP_STRIDE: usize = 256;

/// Where a layer's ops sit in the op list (for the MoD prefill, which runs layer by layer).
#[derive(Clone, Debug)]
struct LayerOps {
    range: std::ops::Range<usize>,
    /// The FFN residual add (the layer's last op), replaced by a weighted add under STRing.
    ffn_add: usize,
}

/// One sampling step on the GPU (see shaders/sample.wgsl): temperature, top-k (1 … 256), top-p
/// and the uniform draw r ∈ [0, 1) from the CPU's seeded generator.
#[derive(Clone, Copy, Debug)]
pub struct GpuSample {
    pub temperature: f32,
    pub top_k: u32,
    pub top_p: f32,
    pub r: f64,
}

/// The largest top-k the GPU sampler takes (larger, or 0 = no limit, samples on the CPU).
pub const GPU_SAMPLE_MAX_K: usize = 256;

impl GpuSample {
    fn words(&self, vocab: usize) -> [u32; 8] {
        [
            vocab as u32,
            self.top_k.clamp(1, GPU_SAMPLE_MAX_K as u32),
            (1.0 / self.temperature).to_bits(),
            self.top_p.to_bits(),
            (self.r as f32).min(1.0 - f32::EPSILON / 2.0).to_bits(),
            0,
            0,
            0,
        ]
    }
}

pub struct GpuModel {
    ctx: Arc<GpuContext>,
    cfg: LlamaConfig,
    ops: Vec<Op>,
    /// shaders/sample.wgsl over the logits into `acts.argmax` (run after the argmax when sampling).
    sample_op: Op,
    acts: Acts,
    k_cache: Vec<wgpu::Buffer>,
    v_cache: Vec<wgpu::Buffer>,
    /// Entries in each layer's KV cache (= `pos` for every layer unless a MoD prefill ran).
    layer_len: Vec<usize>,
    /// Op-list layout: embedding ops `0..embed_end`, then each layer's, then the tail from
    /// `tail_start` (CopyLast, output norm, head, argmax).
    embed_end: usize,
    layer_ops: Vec<LayerOps>,
    tail_start: usize,
    pub max_ctx: usize,
    /// Positions already in the caches.
    pub pos: usize,
    pub weight_bytes: u64,
}

fn storage(device: &wgpu::Device, label: &str, floats: usize) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: (floats.max(1) * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

fn uniform(device: &wgpu::Device, label: &str, words: &[u32]) -> wgpu::Buffer {
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: bytemuck::cast_slice(words),
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
    })
}

fn readback(device: &wgpu::Device, label: &str, bytes: usize) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// Builds bind groups and ops against one context.
pub struct OpBuilder<'a> {
    pub ctx: &'a GpuContext,
}

impl OpBuilder<'_> {
    fn bind(&self, kernel: &Kernel, buffers: &[&wgpu::Buffer]) -> (Arc<wgpu::ComputePipeline>, wgpu::BindGroup) {
        self.bind_resources(kernel, buffers.iter().map(|b| b.as_entire_binding()).collect())
    }

    /// [`OpBuilder::bind`] with explicit resources (a buffer range for a per-layer uniform).
    fn bind_resources(
        &self,
        kernel: &Kernel,
        resources: Vec<wgpu::BindingResource<'_>>,
    ) -> (Arc<wgpu::ComputePipeline>, wgpu::BindGroup) {
        let pipeline = self.ctx.kernels.get(&self.ctx.device, kernel);
        let layout = self.ctx.kernels.layout(&self.ctx.device, kernel.bindings());
        let entries: Vec<wgpu::BindGroupEntry> = resources
            .into_iter()
            .enumerate()
            .map(|(i, resource)| wgpu::BindGroupEntry { binding: i as u32, resource })
            .collect();
        let bind_group = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&kernel.name()),
            layout: &layout,
            entries: &entries,
        });
        (pipeline, bind_group)
    }

    fn max_wg(&self) -> u32 {
        self.ctx.caps.max_compute_workgroups_per_dimension.max(1)
    }

    /// The ops of products that share one input: for each (weight, output), one matmul op per
    /// shard with the context's tiles for that weight's format; when any of them takes int8
    /// activations, one shaders/quantize_i8.wgsl op (input → `xq`) runs first and serves all.
    fn matmuls(
        &self,
        ws: &[(&GpuWeight, &wgpu::Buffer)],
        step: &wgpu::Buffer,
        input: &wgpu::Buffer,
        xq: &wgpu::Buffer,
        one: bool,
    ) -> Vec<Op> {
        self.products(ws, step, input, xq, one, |w| self.ctx.tiles_for(w.ty))
    }

    /// [`Self::matmuls`] with the tiles `tiles_of` picks per weight (tests and benchmarks force
    /// them).
    fn products(
        &self,
        ws: &[(&GpuWeight, &wgpu::Buffer)],
        step: &wgpu::Buffer,
        input: &wgpu::Buffer,
        xq: &wgpu::Buffer,
        one: bool,
        tiles_of: impl Fn(&GpuWeight) -> super::kernels::Tiles,
    ) -> Vec<Op> {
        let mut ops = Vec::new();
        let tiles: Vec<_> = ws.iter().map(|(w, _)| tiles_of(w).effective(w.ty, w.cols)).collect();
        // The separate quantize pass, for int8 tiles that read its blocks: every step when a decode
        // tile does, several-token steps only when just token tiles do (a fused decode tile
        // quantizes its input in the workgroup).
        let decode_reads = |t: &super::kernels::Tiles| t.decode.i8 && !t.decode.fused;
        let quantize = match ws.iter().zip(&tiles).find(|(_, t)| decode_reads(t)) {
            Some(((w, _), _)) => Some((w, Steps::All)),
            None if one => None,
            None => ws.iter().zip(&tiles).find(|(_, t)| t.prefill.i8).map(|((w, _), _)| (w, Steps::Many)),
        };
        if let Some((w, steps)) = quantize {
            ops.push(self.quantize_i8(w.cols, step, input, xq, one, steps));
        }
        for ((w, out), t) in ws.iter().zip(tiles) {
            if t.decode.fused {
                let only = |tile| super::kernels::Tiles { decode: tile, prefill: tile };
                ops.extend(self.matmul_tiled(w, step, input, out, one, only(t.decode), Steps::One));
                if !one {
                    let x = if t.prefill.i8 { xq } else { input };
                    ops.extend(self.matmul_tiled(w, step, x, out, false, only(t.prefill), Steps::Many));
                }
            } else {
                ops.extend(self.matmul_tiled(w, step, if t.decode.i8 { xq } else { input }, out, one, t, Steps::All));
            }
        }
        ops
    }

    /// shaders/quantize_i8.wgsl: the step's `[n, cols]` f32 `input` → int8 blocks in `xq`
    /// (`cols` a multiple of 32; `xq` holds n · cols / 32 · 10 words).
    fn quantize_i8(
        &self,
        cols: usize,
        step: &wgpu::Buffer,
        input: &wgpu::Buffer,
        xq: &wgpu::Buffer,
        one: bool,
        steps: Steps,
    ) -> Op {
        let blocks = (cols / 32) as u32;
        let params = uniform(&self.ctx.device, "quantize_i8 params", &[cols as u32, blocks, 0, 0]);
        let (pipeline, bind_group) = self.bind(&Kernel::Plain("quantize_i8"), &[step, &params, input, xq]);
        Op::Dispatch { steps, pipeline, prefill: None, bind_group, grid: Grid::Elementwise { per_token: blocks }, one }
    }

    /// Matmul ops (one per shard) of `w` with `tiles` from `input` into `output`, run in `steps`;
    /// `input` is the f32 activations (also for fused int8 tiles), or the int8 blocks of
    /// [`Self::quantize_i8`] when the tiles read them.
    #[allow(clippy::too_many_arguments)]
    fn matmul_tiled(
        &self,
        w: &GpuWeight,
        step: &wgpu::Buffer,
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
        one: bool,
        tiles: super::kernels::Tiles,
        steps: Steps,
    ) -> Vec<Op> {
        let tiles = tiles.effective(w.ty, w.cols);
        let tile_rows = tiles.decode.rows;
        w.shards
            .iter()
            .map(|s| {
                let rows = s.rows as u32;
                let fold_x = rows.div_ceil(tile_rows).min(self.max_wg());
                let params = uniform(
                    &self.ctx.device,
                    "matmul params",
                    &[rows, w.cols as u32, w.row_words as u32, fold_x, s.row_offset as u32, w.rows as u32, 0, 0],
                );
                let (pipeline, bind_group) = self
                    .bind(&Kernel::Matmul(w.ty, tiles.decode), &[step, &params, &s.weights, &s.scales, input, output]);
                let prefill = (!one && tiles.prefill != tiles.decode)
                    .then(|| self.ctx.kernels.get(&self.ctx.device, &Kernel::Matmul(w.ty, tiles.prefill)));
                let prefill_tokens = if one { 1 } else { tiles.prefill.tokens };
                Op::Dispatch {
                    steps,
                    pipeline,
                    prefill,
                    bind_group,
                    grid: Grid::Matmul { rows, fold_x, tile_rows, prefill_tokens },
                    one,
                }
            })
            .collect()
    }

    fn embed(&self, w: &GpuWeight, step: &wgpu::Buffer, tokens: &wgpu::Buffer, output: &wgpu::Buffer) -> Vec<Op> {
        w.shards
            .iter()
            .map(|s| {
                let params = uniform(
                    &self.ctx.device,
                    "embed params",
                    &[s.rows as u32, w.cols as u32, w.row_words as u32, 1, s.row_offset as u32, w.rows as u32, 0, 0],
                );
                let (pipeline, bind_group) =
                    self.bind(&Kernel::Embed(w.ty), &[step, &params, &s.weights, &s.scales, tokens, output]);
                Op::Dispatch {
                    steps: Steps::All,
                    pipeline,
                    prefill: None,
                    bind_group,
                    grid: Grid::PerToken,
                    one: false,
                }
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn rmsnorm(
        &self,
        dim: usize,
        eps: f32,
        weight: &wgpu::Buffer,
        step: &wgpu::Buffer,
        x: &wgpu::Buffer,
        out: &wgpu::Buffer,
        one: bool,
    ) -> Op {
        let params = uniform(&self.ctx.device, "rmsnorm params", &[dim as u32, eps.to_bits(), 0, 0]);
        let (pipeline, bind_group) = self.bind(&Kernel::Plain("rmsnorm"), &[step, &params, weight, x, out]);
        Op::Dispatch { steps: Steps::All, pipeline, prefill: None, bind_group, grid: Grid::PerToken, one }
    }

    fn elementwise(
        &self,
        name: &'static str,
        width: usize,
        step: &wgpu::Buffer,
        a: &wgpu::Buffer,
        b: &wgpu::Buffer,
    ) -> Op {
        let params = uniform(&self.ctx.device, name, &[width as u32, 0, 0, 0]);
        let (pipeline, bind_group) = self.bind(&Kernel::Plain(name), &[step, &params, a, b]);
        Op::Dispatch {
            steps: Steps::All,
            pipeline,
            prefill: None,
            bind_group,
            grid: Grid::Elementwise { per_token: width as u32 },
            one: false,
        }
    }
}

/// RoPE (cos, sin) table for positions `0..max_ctx`, with the CPU backend's f32 formula.
pub fn rope_table(cfg: &LlamaConfig, max_ctx: usize) -> Vec<f32> {
    let half = cfg.rope_dim / 2;
    let mut t = Vec::with_capacity(max_ctx * half * 2);
    for pos in 0..max_ctx {
        for i in 0..half {
            let theta = pos as f32 * cfg.rope_base.powf(-2.0 * i as f32 / cfg.rope_dim as f32);
            let (s, c) = theta.sin_cos();
            t.push(c);
            t.push(s);
        }
    }
    t
}

impl GpuModel {
    /// Upload `model` for sequences of up to `max_ctx` positions.
    pub async fn upload(ctx: Arc<GpuContext>, model: &Model, max_ctx: usize) -> Result<GpuModel> {
        let c = model.config.clone();
        if c.head_dim > 128 {
            return Err(Error::UnsupportedModel(format!(
                "head_dim {} > 128 is not supported by the GPU attention kernel",
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
                    x: storage(&dev, "x", mb * d),
                    xn: storage(&dev, "xn", mb * d),
                    q: storage(&dev, "q", mb * qd),
                    k: storage(&dev, "k", mb * kvd),
                    v: storage(&dev, "v", mb * kvd),
                    att: storage(&dev, "att", mb * qd),
                    proj: storage(&dev, "proj", mb * d),
                    gate: storage(&dev, "gate", mb * f),
                    up: storage(&dev, "up", mb * f),
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
                let rope = vec_buf("rope_table", &rope_table(&c, max_ctx));
                let mut weight_bytes = 0u64;
                let mut ops = Vec::new();
                let embd = up(&model.token_embd)?;
                weight_bytes += embd.bytes();
                let a = &acts;
                ops.extend(b.embed(&embd, &a.step, &a.tokens, &a.x));
                let embed_end = ops.len();
                let mut layer_ops = Vec::new();
                let mut k_cache = Vec::new();
                let mut v_cache = Vec::new();
                let half = (c.rope_dim / 2) as u32;
                let rope_q = uniform(&dev, "rope q", &[c.n_heads as u32, c.head_dim as u32, half, 0]);
                let rope_k = uniform(&dev, "rope k", &[c.n_kv_heads as u32, c.head_dim as u32, half, 0]);
                let scale = 1.0 / (c.head_dim as f32).sqrt();
                let attn_params = uniform(
                    &dev,
                    "attention params",
                    &[
                        c.n_heads as u32,
                        (c.n_heads / c.n_kv_heads) as u32,
                        c.head_dim as u32,
                        kvd as u32,
                        scale.to_bits(),
                        0,
                        0,
                        0,
                    ],
                );
                for (l, lw) in model.layers.iter().enumerate() {
                    let kc = storage(&dev, "k_cache", max_ctx * kvd);
                    let vc = storage(&dev, "v_cache", max_ctx * kvd);
                    let attn_norm = vec_buf("attn_norm", &lw.attn_norm);
                    let ffn_norm = vec_buf("ffn_norm", &lw.ffn_norm);
                    let (wq, wk, wv, wo) = (up(&lw.wq)?, up(&lw.wk)?, up(&lw.wv)?, up(&lw.wo)?);
                    let (wg, wu, wd) = (up(&lw.w_gate)?, up(&lw.w_up)?, up(&lw.w_down)?);
                    for w in [&wq, &wk, &wv, &wo, &wg, &wu, &wd] {
                        weight_bytes += w.bytes();
                    }
                    let layer_start = ops.len();
                    ops.push(b.rmsnorm(d, c.rms_eps, &attn_norm, &a.step, &a.x, &a.xn, false));
                    ops.extend(b.matmuls(&[(&wq, &a.q), (&wk, &a.k), (&wv, &a.v)], &a.step, &a.xn, &a.xq, false));
                    for (params, buf, heads) in [(&rope_q, &a.q, c.n_heads), (&rope_k, &a.k, c.n_kv_heads)] {
                        let (pipeline, bind_group) =
                            b.bind(&Kernel::Plain("rope"), &[&a.step, params, &rope, &a.positions, buf]);
                        ops.push(Op::Dispatch {
                            steps: Steps::All,
                            pipeline,
                            prefill: None,
                            bind_group,
                            grid: Grid::Threads { per_token: heads as u32 * half },
                            one: false,
                        });
                    }
                    ops.push(Op::StoreKv { layer: l });
                    let layer_step = wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &a.layer_steps,
                        offset: (l * STEP_STRIDE) as u64,
                        size: wgpu::BufferSize::new(16),
                    });
                    let (pipeline, bind_group) = b.bind_resources(
                        &Kernel::Plain("attention"),
                        vec![
                            layer_step,
                            attn_params.as_entire_binding(),
                            a.q.as_entire_binding(),
                            kc.as_entire_binding(),
                            vc.as_entire_binding(),
                            a.att.as_entire_binding(),
                        ],
                    );
                    ops.push(Op::Dispatch {
                        steps: Steps::All,
                        pipeline,
                        prefill: None,
                        bind_group,
                        grid: Grid::Attention { heads: c.n_heads as u32 },
                        one: false,
                    });
                    ops.extend(b.matmuls(&[(&wo, &a.proj)], &a.step, &a.att, &a.xq, false));
                    ops.push(b.elementwise("add", d, &a.step, &a.proj, &a.x));
                    ops.push(b.rmsnorm(d, c.rms_eps, &ffn_norm, &a.step, &a.x, &a.xn, false));
                    ops.extend(b.matmuls(&[(&wg, &a.gate), (&wu, &a.up)], &a.step, &a.xn, &a.xq, false));
                    ops.push(b.elementwise("swiglu", f, &a.step, &a.up, &a.gate));
                    ops.extend(b.matmuls(&[(&wd, &a.proj)], &a.step, &a.gate, &a.xq, false));
                    ops.push(b.elementwise("add", d, &a.step, &a.proj, &a.x));
                    layer_ops.push(LayerOps { range: layer_start..ops.len(), ffn_add: ops.len() - 1 });
                    k_cache.push(kc);
                    v_cache.push(vc);
                }
                let tail_start = ops.len();
                ops.push(Op::CopyLast);
                let out_norm = vec_buf("output_norm", &model.output_norm);
                ops.push(b.rmsnorm(d, c.rms_eps, &out_norm, &a.step_one, &a.last_x, &a.last, true));
                let out_w = if model.tied_output { None } else { Some(up(&model.output)?) };
                let out_w_ref = out_w.as_ref().unwrap_or(&embd);
                if out_w.is_some() {
                    weight_bytes += out_w_ref.bytes();
                }
                ops.extend(b.matmuls(&[(out_w_ref, &a.logits)], &a.step_one, &a.last, &a.xq, true));
                let argmax_params = uniform(&dev, "argmax params", &[vocab as u32, 0, 0, 0]);
                let (pipeline, bind_group) =
                    b.bind(&Kernel::Plain("argmax"), &[&a.step_one, &argmax_params, &a.logits, &a.argmax]);
                ops.push(Op::single(pipeline, bind_group));
                let (pipeline, bind_group) =
                    b.bind(&Kernel::Plain("sample"), &[&a.step_one, &a.sample_params, &a.logits, &a.argmax]);
                let sample_op = Op::single(pipeline, bind_group);
                Ok(GpuModel {
                    ctx: ctx.clone(),
                    cfg: c.clone(),
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
        if n == 0 || n > MAX_BATCH {
            return Err(Error::InvalidArgument(format!("GPU step of {n} tokens (1..={MAX_BATCH})")));
        }
        if self.pos + n > self.max_ctx {
            return Err(Error::Limit {
                what: "sequence length on the GPU (positions)".into(),
                value: (self.pos + n) as u64,
                limit: self.max_ctx as u64,
            });
        }
        if let Some((i, &t)) = tokens.iter().enumerate().find(|(_, &t)| t as usize >= self.cfg.vocab_size) {
            return Err(Error::InvalidArgument(format!(
                "token id {t} at index {i} is outside the vocabulary of {} tokens",
                self.cfg.vocab_size
            )));
        }
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
        self.record_ops(&mut enc, 0..self.ops.len(), n);
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
    fn record_ops(&self, enc: &mut wgpu::CommandEncoder, range: std::ops::Range<usize>, n: usize) {
        let kvd = self.cfg.kv_dim();
        let d = self.cfg.dim;
        let mut i = range.start;
        while i < range.end {
            match &self.ops[i] {
                Op::StoreKv { layer } => {
                    let off = (self.layer_len[*layer] * kvd * 4) as u64;
                    let len = (n * kvd * 4) as u64;
                    enc.copy_buffer_to_buffer(&self.acts.k, 0, &self.k_cache[*layer], off, len);
                    enc.copy_buffer_to_buffer(&self.acts.v, 0, &self.v_cache[*layer], off, len);
                    i += 1;
                }
                Op::CopyLast => {
                    enc.copy_buffer_to_buffer(
                        &self.acts.x,
                        ((n - 1) * d * 4) as u64,
                        &self.acts.last_x,
                        0,
                        (d * 4) as u64,
                    );
                    i += 1;
                }
                Op::Dispatch { .. } => {
                    // One compute pass for the run of dispatches up to the next copy.
                    let end = self.ops[i..range.end]
                        .iter()
                        .position(|op| !matches!(op, Op::Dispatch { .. }))
                        .map_or(range.end, |k| i + k);
                    let mut pass = enc.begin_compute_pass(&Default::default());
                    record(&mut pass, &self.ops[i..end], n as u32);
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
        if !(smp.temperature > 0.0) || smp.top_k == 0 || smp.top_k as usize > GPU_SAMPLE_MAX_K {
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

/// Workgroup counts of a dispatch over `n` tokens (`n` is 1 for ops marked `one`).
fn workgroups(g: Grid, n: u32) -> (u32, u32, u32) {
    match g {
        Grid::Matmul { rows, fold_x, tile_rows, prefill_tokens } => {
            let tb = if n > 1 { prefill_tokens } else { 1 };
            (fold_x, rows.div_ceil(tile_rows).div_ceil(fold_x), n.div_ceil(tb))
        }
        Grid::PerToken => (n, 1, 1),
        Grid::Threads { per_token } => ((n * per_token).div_ceil(64).max(1), 1, 1),
        Grid::Elementwise { per_token } => {
            // Shaders index i = gid.x + gid.y · 65535 · 64.
            let groups = (n * per_token).div_ceil(64);
            if groups <= 65535 {
                (groups.max(1), 1, 1)
            } else {
                (65535, groups.div_ceil(65535), 1)
            }
        }
        Grid::Attention { heads } => (heads, n, 1),
        Grid::Single => (1, 1, 1),
    }
}

/// Record the dispatches of `ops` (skipping copies) for a step of `n` tokens.
/// Words of the int8 blocks (shaders/quantize_i8.wgsl) of `n` tokens of a `cols`-wide input: 10
/// per 32-element block, and the scale plane's padding to a whole 16-byte word.
fn xq_words(n: usize, cols: usize) -> usize {
    n * cols.div_ceil(32) * 10 + 2
}

fn record(pass: &mut wgpu::ComputePass<'_>, ops: &[Op], n: u32) {
    for op in ops {
        if let Op::Dispatch { steps, pipeline, prefill, bind_group, grid, one } = op {
            let n = if *one { 1 } else { n };
            if !steps.runs(n) {
                continue;
            }
            let (x, y, z) = workgroups(*grid, n);
            pass.set_pipeline(match prefill {
                Some(p) if n > 1 => p,
                _ => pipeline,
            });
            pass.set_bind_group(0, bind_group, &[]);
            pass.dispatch_workgroups(x, y, z);
        }
    }
}

/// One-off matmul on the GPU (kernel tests): `y = W · x` for `n` tokens with `tiles` (the decode
/// tile for one token, the prefill tile for more); outputs start as `sentinel`.
pub async fn matmul_once(
    ctx: &Arc<GpuContext>,
    m: &crate::quant::QMatrix<'_>,
    x: &[f32],
    n: usize,
    sentinel: f32,
    tiles: super::kernels::Tiles,
) -> Result<Vec<f32>> {
    let dev = &ctx.device;
    let w = weights::upload(dev, "matmul_once", m, ctx.caps.max_storage_buffer_binding_size)?;
    let input = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("input"),
        contents: bytemuck::cast_slice(x),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let out = storage(dev, "output", n * m.rows);
    ctx.queue.write_buffer(&out, 0, bytemuck::cast_slice(&vec![sentinel; n * m.rows]));
    let step = uniform(dev, "step", &[n as u32, 0, 0, 0]);
    let read = readback(dev, "read", n * m.rows * 4);
    let b = OpBuilder { ctx };
    let xq = storage(dev, "xq", xq_words(n, m.cols));
    // (with int8 tiles the quantize op runs first, so timings include it)
    let ops = b.products(&[(&w, &out)], &step, &input, &xq, false, |_| tiles);
    ctx.scoped("matmul", || {
        let mut enc = dev.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            record(&mut pass, &ops, n as u32);
        }
        enc.copy_buffer_to_buffer(&out, 0, &read, 0, (n * m.rows * 4) as u64);
        ctx.queue.submit(Some(enc.finish()));
    })
    .await?;
    let bytes = ctx.read_buffer(&read).await?;
    Ok(bytemuck::cast_slice(&bytes).to_vec())
}

/// One-off GPU sampling step over `logits` (tests): what shaders/sample.wgsl picks.
pub async fn sample_once(ctx: &Arc<GpuContext>, logits: &[f32], smp: GpuSample) -> Result<u32> {
    let dev = &ctx.device;
    let lb = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("logits"),
        contents: bytemuck::cast_slice(logits),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let out = storage(dev, "sampled", 1);
    ctx.queue.write_buffer(&out, 0, bytemuck::cast_slice(&[u32::MAX]));
    let step = uniform(dev, "step", &[1, 0, 0, 0]);
    let params = uniform(dev, "sample params", &smp.words(logits.len()));
    let read = readback(dev, "read", 4);
    let b = OpBuilder { ctx };
    let (pipeline, bind_group) = b.bind(&Kernel::Plain("sample"), &[&step, &params, &lb, &out]);
    let op = Op::single(pipeline, bind_group);
    ctx.scoped("sample", || {
        let mut enc = dev.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            record(&mut pass, std::slice::from_ref(&op), 1);
        }
        enc.copy_buffer_to_buffer(&out, 0, &read, 0, 4);
        ctx.queue.submit(Some(enc.finish()));
    })
    .await?;
    let bytes = ctx.read_buffer(&read).await?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// What [`time_matmul`] measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MatmulTiming {
    /// Mean milliseconds per matmul (all shards), the best of three passes.
    pub ms: f64,
    /// Bytes one matmul reads: the repacked weights and scales, plus the activations.
    pub bytes: u64,
    /// `timestamp` (GPU timestamp queries around the pass) or `wall` (submit to completion).
    pub timer: &'static str,
    /// Distinct copies of the weights the dispatches rotate through, so that repeated
    /// dispatches stream from memory instead of hitting the GPU's L2 cache.
    pub copies: usize,
    /// The tile that ran (`ROWSxLANESxTOKENS`).
    pub tile: String,
    /// Mean milliseconds per matmul by wall clock (submit of the pass to its completion read
    /// back), the best of three passes: `ms` plus the submit and synchronisation costs.
    pub wall_ms: f64,
}

/// GPU time of passes of `count` dispatches, recorded by `rec`: timestamp queries around the
/// pass when granted, else wall clock from submit to completion. Returns milliseconds per pass,
/// the best of `reps`, the timer used, and the best wall-clock milliseconds per pass.
async fn time_passes(
    ctx: &Arc<GpuContext>,
    reps: usize,
    rec: &dyn Fn(&mut wgpu::ComputePass<'_>),
) -> Result<(f64, &'static str, f64)> {
    let dev = &ctx.device;
    let sync = readback(dev, "sync", 4);
    let scratch = storage(dev, "scratch", 1);
    let ts = ctx.caps.timestamp_query.then(|| {
        let qs = dev.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("bench timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        let resolve = dev.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamp resolve"),
            size: 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        (qs, resolve, readback(dev, "timestamp read", 16))
    });
    let mut best = f64::INFINITY;
    let mut best_wall = f64::INFINITY;
    // Warm-up passes (pipeline creation, first touch of the buffers, and the GPU's clocks, which
    // drop while the CPU quantizes the next matrix) until 300 ms have passed (at most 200).
    let warm_from = crate::clock::now_ms();
    let mut warmups = 0;
    let mut rep = 0;
    while rep < reps.max(1) + 1 {
        let mut enc = dev.create_command_encoder(&Default::default());
        {
            let tw = ts.as_ref().map(|(qs, _, _)| wgpu::ComputePassTimestampWrites {
                query_set: qs,
                beginning_of_pass_write_index: Some(0),
                end_of_pass_write_index: Some(1),
            });
            let mut pass =
                enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("bench"), timestamp_writes: tw });
            rec(&mut pass);
        }
        if let Some((qs, resolve, read)) = &ts {
            enc.resolve_query_set(qs, 0..2, resolve, 0);
            enc.copy_buffer_to_buffer(resolve, 0, read, 0, 16);
        }
        enc.copy_buffer_to_buffer(&scratch, 0, &sync, 0, 4);
        let t0 = crate::clock::now_ms();
        ctx.scoped("benchmark pass", || ctx.queue.submit(Some(enc.finish()))).await?;
        ctx.read_buffer(&sync).await?;
        let wall = crate::clock::now_ms() - t0;
        let ms = match &ts {
            Some((_, _, read)) => {
                let b = ctx.read_buffer(read).await?;
                let t: &[u64] = bytemuck::cast_slice(&b);
                t[1].saturating_sub(t[0]) as f64 * ctx.queue.get_timestamp_period() as f64 / 1e6
            }
            None => wall,
        };
        if rep == 0 && warmups < 200 && crate::clock::now_ms() - warm_from < 300.0 {
            warmups += 1;
            continue;
        }
        if rep > 0 && ms > 0.0 {
            best = best.min(ms);
            best_wall = best_wall.min(wall);
        }
        rep += 1;
    }
    Ok((best, if ts.is_some() { "timestamp" } else { "wall" }, best_wall))
}

/// Copies of one weight matrix on the GPU for [`time_matmul_on`]: enough to defeat the L2 cache
/// on hardware GPUs (at least 256 MiB in all, at most 64 copies), one on software adapters.
pub struct BenchWeights {
    copies: Vec<GpuWeight>,
    cols: usize,
    rows: usize,
}

impl BenchWeights {
    pub fn upload(ctx: &Arc<GpuContext>, m: &crate::quant::QMatrix<'_>) -> Result<BenchWeights> {
        let dev = &ctx.device;
        let first = weights::upload(dev, "bench", m, ctx.caps.max_storage_buffer_binding_size)?;
        let wbytes = first.bytes();
        let n = if ctx.caps.software { 1 } else { ((256u64 << 20).div_ceil(wbytes.max(1)) as usize).clamp(1, 64) };
        let mut copies = vec![first];
        for _ in 1..n {
            copies.push(weights::upload(dev, "bench", m, ctx.caps.max_storage_buffer_binding_size)?);
        }
        Ok(BenchWeights { copies, cols: m.cols, rows: m.rows })
    }
}

/// Benchmark one matmul on the GPU: `iters` dispatches in one compute pass, rotating through
/// the copies in `bw`, timed by timestamp queries when granted; the best of three passes.
pub async fn time_matmul_on(
    ctx: &Arc<GpuContext>,
    bw: &BenchWeights,
    n: usize,
    iters: usize,
    tiles: Option<super::kernels::Tiles>,
) -> Result<MatmulTiming> {
    let dev = &ctx.device;
    let tiles = tiles.unwrap_or(ctx.tiles_for(bw.copies[0].ty));
    let tiles = tiles.effective(bw.copies[0].ty, bw.cols);
    let input = storage(dev, "input", n * bw.cols);
    let out = storage(dev, "output", n * bw.rows);
    let step = uniform(dev, "step", &[n as u32, 0, 0, 0]);
    let b = OpBuilder { ctx };
    let xq = storage(dev, "xq", xq_words(n, bw.cols));
    let ops: Vec<Vec<Op>> =
        bw.copies.iter().map(|w| b.products(&[(w, &out)], &step, &input, &xq, false, |_| tiles)).collect();
    let iters = iters.max(1);
    let (ms, timer, wall) = time_passes(ctx, 3, &|pass| {
        for i in 0..iters {
            record(pass, &ops[i % ops.len()], n as u32);
        }
    })
    .await?;
    let tile = if n > 1 { tiles.prefill } else { tiles.decode };
    let wbytes = bw.copies[0].bytes();
    Ok(MatmulTiming {
        ms: ms / iters as f64,
        bytes: wbytes + (n * bw.cols * 4) as u64,
        timer,
        copies: bw.copies.len(),
        tile: tile.name(),
        wall_ms: wall / iters as f64,
    })
}

/// [`time_matmul_on`] for one matrix, uploading its copies first.
pub async fn time_matmul(
    ctx: &Arc<GpuContext>,
    m: &crate::quant::QMatrix<'_>,
    n: usize,
    iters: usize,
    tiles: Option<super::kernels::Tiles>,
) -> Result<MatmulTiming> {
    let bw = BenchWeights::upload(ctx, m)?;
    time_matmul_on(ctx, &bw, n, iters, tiles).await
}

/// The memory-bandwidth reference: GB/s of shaders/bench_read.wgsl streaming a buffer of about
/// `bytes` bytes (capped by the binding limit), timed like [`time_matmul`].
pub async fn time_read(ctx: &Arc<GpuContext>, bytes: u64, iters: usize) -> Result<(f64, u64, &'static str)> {
    let dev = &ctx.device;
    let bytes = (bytes.min(ctx.caps.max_storage_buffer_binding_size).min(4 << 30) / 16 * 16).max(16);
    let data = dev.create_buffer(&wgpu::BufferDescriptor {
        label: Some("bench_read data"),
        size: bytes,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    let out = storage(dev, "bench_read out", 1);
    let words = (bytes / 16) as u32;
    let groups: u32 = if ctx.caps.software { 64 } else { 8192 };
    let step = uniform(dev, "step", &[0, 0, 0, 0]);
    let params = uniform(dev, "bench_read params", &[words, groups * 256, 0, 0]);
    let b = OpBuilder { ctx };
    let (pipeline, bind_group) = b.bind(&Kernel::Plain("bench_read"), &[&step, &params, &data, &out]);
    let iters = iters.max(1);
    let (ms, timer, _) = time_passes(ctx, 3, &|pass| {
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        for _ in 0..iters {
            pass.dispatch_workgroups(groups, 1, 1);
        }
    })
    .await?;
    let per = ms / iters as f64;
    Ok((bytes as f64 / (per / 1000.0) / 1e9, bytes, timer))
}
