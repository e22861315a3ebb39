//! Recording the model graph into GPU ops, once, at upload: each graph op becomes its
//! kernels' dispatches (bind groups built here), with the context's tiles per weight format.
//! [`OpBuilder`] also serves the kernel tests and benchmarks, so they dispatch exactly what
//! the forward pass does.

use std::sync::Arc;

use super::kernels::{Kernel, Shader};
use super::ops::{uniform, Grid, Op, Steps};
use super::weights::GpuWeight;
use super::GpuContext;
use crate::error::Result;
use crate::model::graph::{Act, Gated, Heads, LayerGraph, Norm, Op as GraphOp};
use crate::model::LlamaConfig;

/// Builds bind groups and ops against one context.
pub struct OpBuilder<'a> {
    pub ctx: &'a GpuContext,
}

impl OpBuilder<'_> {
    pub(crate) fn bind(
        &self,
        kernel: &Kernel,
        buffers: &[&wgpu::Buffer],
    ) -> Result<(Arc<wgpu::ComputePipeline>, wgpu::BindGroup)> {
        self.bind_resources(kernel, buffers.iter().map(|b| b.as_entire_binding()).collect())
    }

    /// [`OpBuilder::bind`] with explicit resources (a buffer range for a per-layer uniform).
    pub(crate) fn bind_resources(
        &self,
        kernel: &Kernel,
        resources: Vec<wgpu::BindingResource<'_>>,
    ) -> Result<(Arc<wgpu::ComputePipeline>, wgpu::BindGroup)> {
        let pipeline = self.ctx.kernels.get(&self.ctx.device, kernel)?;
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
        Ok((pipeline, bind_group))
    }

    pub(crate) fn max_wg(&self) -> u32 {
        self.ctx.caps.max_compute_workgroups_per_dimension.max(1)
    }

    /// The ops of products that share one input: for each (weight, output), one matmul op per
    /// shard with the context's tiles for that weight's format; when any of them takes int8
    /// activations, one shaders/quantize_i8.wgsl op (input → `xq`) runs first and serves all.
    pub(crate) fn matmuls(
        &self,
        ws: &[(&GpuWeight, &wgpu::Buffer)],
        step: &wgpu::Buffer,
        input: &wgpu::Buffer,
        xq: &wgpu::Buffer,
        one: bool,
    ) -> Result<Vec<Op>> {
        self.products(ws, step, input, xq, one, |w| self.ctx.tiles_for(w.ty))
    }

    /// [`Self::matmuls`] with the tiles `tiles_of` picks per weight (tests and benchmarks force
    /// them).
    pub(crate) fn products(
        &self,
        ws: &[(&GpuWeight, &wgpu::Buffer)],
        step: &wgpu::Buffer,
        input: &wgpu::Buffer,
        xq: &wgpu::Buffer,
        one: bool,
        tiles_of: impl Fn(&GpuWeight) -> super::kernels::Tiles,
    ) -> Result<Vec<Op>> {
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
            ops.push(self.quantize_i8(w.cols, step, input, xq, one, steps)?);
        }
        for ((w, out), t) in ws.iter().zip(tiles) {
            if t.decode.fused {
                let only = |tile| super::kernels::Tiles { decode: tile, prefill: tile };
                ops.extend(self.matmul_tiled(w, step, input, out, one, only(t.decode), Steps::One)?);
                if !one {
                    let x = if t.prefill.i8 { xq } else { input };
                    ops.extend(self.matmul_tiled(w, step, x, out, false, only(t.prefill), Steps::Many)?);
                }
            } else {
                ops.extend(self.matmul_tiled(
                    w,
                    step,
                    if t.decode.i8 { xq } else { input },
                    out,
                    one,
                    t,
                    Steps::All,
                )?);
            }
        }
        Ok(ops)
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
    ) -> Result<Op> {
        let blocks = (cols / 32) as u32;
        let params = uniform(&self.ctx.device, "quantize_i8 params", &[cols as u32, blocks, 0, 0]);
        let (pipeline, bind_group) = self.bind(&Kernel::Plain(Shader::QuantizeI8), &[step, &params, input, xq])?;
        Ok(Op::Dispatch {
            steps,
            pipeline,
            prefill: None,
            bind_group,
            grid: Grid::Elementwise { per_token: blocks },
            one,
        })
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
    ) -> Result<Vec<Op>> {
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
                let (pipeline, bind_group) = self.bind(
                    &Kernel::Matmul(w.ty, tiles.decode),
                    &[step, &params, &s.weights, &s.scales, input, output],
                )?;
                let prefill = match !one && tiles.prefill != tiles.decode {
                    true => Some(self.ctx.kernels.get(&self.ctx.device, &Kernel::Matmul(w.ty, tiles.prefill))?),
                    false => None,
                };
                let prefill_tokens = if one { 1 } else { tiles.prefill.tokens };
                Ok(Op::Dispatch {
                    steps,
                    pipeline,
                    prefill,
                    bind_group,
                    grid: Grid::Matmul { rows, fold_x, tile_rows, prefill_tokens },
                    one,
                })
            })
            .collect()
    }

    pub(crate) fn embed(
        &self,
        w: &GpuWeight,
        step: &wgpu::Buffer,
        tokens: &wgpu::Buffer,
        output: &wgpu::Buffer,
    ) -> Result<Vec<Op>> {
        w.shards
            .iter()
            .map(|s| {
                let params = uniform(
                    &self.ctx.device,
                    "embed params",
                    &[s.rows as u32, w.cols as u32, w.row_words as u32, 1, s.row_offset as u32, w.rows as u32, 0, 0],
                );
                let (pipeline, bind_group) =
                    self.bind(&Kernel::Embed(w.ty), &[step, &params, &s.weights, &s.scales, tokens, output])?;
                Ok(Op::Dispatch {
                    steps: Steps::All,
                    pipeline,
                    prefill: None,
                    bind_group,
                    grid: Grid::PerToken,
                    one: false,
                })
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn rmsnorm(
        &self,
        dim: usize,
        eps: f32,
        weight: &wgpu::Buffer,
        step: &wgpu::Buffer,
        x: &wgpu::Buffer,
        out: &wgpu::Buffer,
        one: bool,
    ) -> Result<Op> {
        let params = uniform(&self.ctx.device, "rmsnorm params", &[dim as u32, eps.to_bits(), 0, 0]);
        self.plain(Shader::Rmsnorm, &[step, &params, weight, x, out], Grid::PerToken, one)
    }

    /// A dispatch of one plain kernel over `buffers` (in its binding order), run in every step.
    pub(crate) fn plain(&self, shader: Shader, buffers: &[&wgpu::Buffer], grid: Grid, one: bool) -> Result<Op> {
        let (pipeline, bind_group) = self.bind(&Kernel::Plain(shader), buffers)?;
        Ok(Op::Dispatch { steps: Steps::All, pipeline, prefill: None, bind_group, grid, one })
    }

    pub(crate) fn elementwise(
        &self,
        shader: Shader,
        width: usize,
        step: &wgpu::Buffer,
        a: &wgpu::Buffer,
        b: &wgpu::Buffer,
    ) -> Result<Op> {
        self.elementwise_with(shader, &[width as u32, 0, 0, 0], step, &[a, b])
    }

    /// An element-wise op over `[n, params[0]]` with its params uniform and its buffers.
    pub(crate) fn elementwise_with(
        &self,
        shader: Shader,
        params: &[u32; 4],
        step: &wgpu::Buffer,
        bufs: &[&wgpu::Buffer],
    ) -> Result<Op> {
        let width = params[0];
        let params = uniform(&self.ctx.device, shader.name(), params);
        let buffers: Vec<&wgpu::Buffer> = [step, &params].into_iter().chain(bufs.iter().copied()).collect();
        self.plain(shader, &buffers, Grid::Elementwise { per_token: width }, false)
    }

    /// shaders/scale_cap.wgsl over `[n, width]` of `x`: `x = softcap(x · scale)`; `one`: once
    /// per step (the logits), not per token.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn scale_cap(
        &self,
        width: usize,
        scale: f32,
        cap: f32,
        step: &wgpu::Buffer,
        x: &wgpu::Buffer,
        one: bool,
    ) -> Result<Op> {
        let params = uniform(&self.ctx.device, "scale_cap params", &[width as u32, scale.to_bits(), cap.to_bits(), 0]);
        self.plain(Shader::ScaleCap, &[step, &params, x], Grid::Elementwise { per_token: width as u32 }, one)
    }
}

/// What one layer's ops bind besides the shared activations: its weights, norms and caches,
/// and the model-wide uniforms.
pub(crate) struct LayerBindings<'a> {
    pub l: usize,
    /// The layer's weights, by `Linear::index`.
    pub linears: &'a [GpuWeight],
    /// The layer's norm weights, by `Norm::index` (the ones its graph reads).
    pub norms: &'a [Option<wgpu::Buffer>],
    /// The layer's biases, by `Linear::index` (the ones its graph adds).
    pub biases: &'a [Option<wgpu::Buffer>],
    pub k_cache: &'a wgpu::Buffer,
    pub v_cache: &'a wgpu::Buffer,
    /// The layer's RoPE table and params (global or sliding-window layers).
    pub rope_table: &'a wgpu::Buffer,
    pub rope_q: &'a wgpu::Buffer,
    pub rope_k: &'a wgpu::Buffer,
    pub attn_params: &'a wgpu::Buffer,
}

/// A norm or bias the layer graph reads but the upload did not make (a bug, not bad input).
fn missing(what: String) -> crate::error::Error {
    crate::error::Error::Gpu {
        code: "E_GPU_VALIDATION",
        message: format!("layer graph reads {what}, which was not uploaded"),
    }
}

impl OpBuilder<'_> {
    /// The ops of one decoder layer: the model graph, op by op. Neighbouring ops may be fused
    /// here (a group of linears shares one int8-quantized input).
    pub(crate) fn layer(
        &self,
        c: &LlamaConfig,
        graph: &LayerGraph,
        a: &Acts,
        lb: &LayerBindings<'_>,
    ) -> Result<Vec<Op>> {
        let mut ops = Vec::new();
        let half = (c.layer_rope(lb.l).dim / 2) as u32;
        let norm_buf = |n: Norm| lb.norms[n.index()].as_ref().ok_or_else(|| missing(format!("norm {n:?}")));
        for op in &graph.ops {
            match op {
                GraphOp::RmsNorm { norm, input, out } => {
                    ops.push(self.rmsnorm(
                        input.width(c),
                        c.rms_eps,
                        norm_buf(*norm)?,
                        &a.step,
                        a.act(*input),
                        a.act(*out),
                        false,
                    )?);
                }
                GraphOp::Linears { input, outs } => {
                    let ws: Vec<(&GpuWeight, &wgpu::Buffer)> =
                        outs.iter().map(|(w, o)| (&lb.linears[w.index()], a.act(*o))).collect();
                    ops.extend(self.matmuls(&ws, &a.step, a.act(*input), &a.xq, false)?);
                }
                GraphOp::Bias { linear, act } => {
                    let b = lb.biases[linear.index()].as_ref().ok_or_else(|| missing(format!("bias {linear:?}")))?;
                    ops.push(self.elementwise(Shader::Bias, act.width(c), &a.step, b, a.act(*act))?);
                }
                GraphOp::ActQuant { act } => {
                    let params = uniform(&self.ctx.device, "act quant params", &[act.width(c) as u32, 0, 0, 0]);
                    ops.push(self.plain(Shader::ActQuant, &[&a.step, &params, a.act(*act)], Grid::PerToken, false)?);
                }
                GraphOp::HeadNorm { norm, act } => {
                    let heads = (act.width(c) / c.head_dim) as u32;
                    let params = uniform(
                        &self.ctx.device,
                        "head norm params",
                        &[c.head_dim as u32, c.rms_eps.to_bits(), heads, 0],
                    );
                    let bufs = [&a.step, &params, norm_buf(*norm)?, a.act(*act)];
                    ops.push(self.plain(Shader::RmsnormHeads, &bufs, Grid::Rows { per_token: heads }, false)?);
                }
                GraphOp::Rope { act, heads } => {
                    let (params, nh) = match heads {
                        Heads::Query => (lb.rope_q, c.n_heads),
                        Heads::KeyValue => (lb.rope_k, c.n_kv_heads),
                    };
                    let bufs = [&a.step, params, lb.rope_table, &a.positions, a.act(*act)];
                    ops.push(self.plain(Shader::Rope, &bufs, Grid::Threads { per_token: nh as u32 * half }, false)?);
                }
                GraphOp::KvAppend { k, v } => ops.push(Op::StoreKv { layer: lb.l, k: *k, v: *v }),
                GraphOp::Attention { q, out } => {
                    let layer_step = wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &a.layer_steps,
                        offset: (lb.l * STEP_STRIDE) as u64,
                        size: wgpu::BufferSize::new(16),
                    });
                    let (pipeline, bind_group) = self.bind_resources(
                        &Kernel::Plain(Shader::Attention),
                        vec![
                            layer_step,
                            lb.attn_params.as_entire_binding(),
                            a.act(*q).as_entire_binding(),
                            lb.k_cache.as_entire_binding(),
                            lb.v_cache.as_entire_binding(),
                            a.act(*out).as_entire_binding(),
                        ],
                    )?;
                    ops.push(Op::Dispatch {
                        steps: Steps::All,
                        pipeline,
                        prefill: None,
                        bind_group,
                        grid: Grid::Attention { heads: c.n_heads as u32 },
                        one: false,
                    });
                }
                GraphOp::Residual { from, into, weighted } => {
                    let add = self.elementwise(Shader::Add, into.width(c), &a.step, a.act(*from), a.act(*into))?;
                    ops.push(if *weighted { Op::Weighted(Box::new(add)) } else { add });
                }
                GraphOp::Glu { gate, up, f } => {
                    let mode = match f {
                        Gated::Silu => 0,
                        Gated::Gelu => 1,
                        Gated::Relu2 => 2,
                    };
                    let params = [gate.width(c) as u32, mode, 0, 0];
                    ops.push(self.elementwise_with(Shader::Swiglu, &params, &a.step, &[a.act(*up), a.act(*gate)])?);
                }
            }
        }
        Ok(ops)
    }
}

/// The activation buffers, the KV-write sources, the head's outputs and the step uniforms.
pub(crate) struct Acts {
    /// The graph's activations, `[MAX_BATCH, width]` each, by [`Act::index`].
    pub(crate) by_act: Vec<wgpu::Buffer>,
    /// Int8 activations (shaders/quantize_i8.wgsl) of the widest matmul input, for int8 tiles.
    pub(crate) xq: wgpu::Buffer,
    pub(crate) last_x: wgpu::Buffer,
    pub(crate) last: wgpu::Buffer,
    pub(crate) logits: wgpu::Buffer,
    pub(crate) argmax: wgpu::Buffer,
    pub(crate) tokens: wgpu::Buffer,
    pub(crate) step: wgpu::Buffer,
    pub(crate) step_one: wgpu::Buffer,
    pub(crate) read_token: wgpu::Buffer,
    pub(crate) read_logits: wgpu::Buffer,
    /// SampleParams of shaders/sample.wgsl (written per sampled step).
    pub(crate) sample_params: wgpu::Buffer,
    /// Position id of each token of the step (u32 [MAX_BATCH]; shaders/rope.wgsl).
    pub(crate) positions: wgpu::Buffer,
    /// Per layer, at `l · STEP_STRIDE`: the attention's Step { n_tok, start = the layer's cache
    /// entries before this step } (layers hold different counts after a MoD prefill).
    pub(crate) layer_steps: wgpu::Buffer,
}

/// Byte stride of the per-layer Step uniforms in `layer_steps` (WebGPU's default
/// `minUniformBufferOffsetAlignment`).
pub(crate) const STEP_STRIDE: usize = 256;

impl Acts {
    /// The buffer of a graph activation (`[MAX_BATCH, width]`).
    pub(crate) fn act(&self, a: Act) -> &wgpu::Buffer {
        &self.by_act[a.index()]
    }
}
