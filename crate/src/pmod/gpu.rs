//! Mixture-of-Depths (p-MoD) prefill on the GPU: the same computation as the CPU reference
//! (`crate::pmod::prefill`), with the router scores, the top-k, the kept list and the
//! gather/scatter of kept tokens on the device; only the kept flags (the retention masks, `n`
//! u32 per layer) and the next token are read back, once, at the end.
//!
//! It drives the GPU model's recorded op list layer by layer. The prompt's residual stream lives in `xfull` (`[n, dim]`); for each layer:
//! 1. on a MoD layer, shaders/mod_score.wgsl scores the target tokens (trained: TanhNorm of the
//!    router logit; lsq: the fitted predictor; snap/attn: the attention received at the previous
//!    layer; random: scores from the CPU's seeded generator, as the CPU draws them), then
//!    shaders/mod_rank.wgsl marks the top-k (the CPU's tie-breaking) and shaders/mod_compact.wgsl
//!    turns the flags into the kept list (every token on a dense layer);
//! 2. in chunks of up to [`MAX_BATCH`] kept tokens: shaders/mod_gather.wgsl loads them (with their
//!    original position ids for RoPE), the layer's ordinary ops run (attention over the layer's own
//!    cache, which receives only the kept tokens), and shaders/mod_scatter.wgsl writes them back;
//!    under trained routers the FFN residual is `h + w̃·MLP(h)` (shaders/mod_scaled_add.wgsl) and
//!    skipped target tokens leave as `w̃·x` (shaders/mod_string.wgsl);
//! 3. for snap / attn, the layer's queries are kept and shaders/mod_snap_stats.wgsl +
//!    shaders/mod_snap_recv.wgsl compute the attention each kept token received from the
//!    observation window: the next MoD layer's scores.
//!
//! The chunks are the dense prefill's (64, 64, …, the rest) and every copy is exact, so a
//! schedule that keeps every token gives the dense GPU prefill's bits.

use super::plan::ModPlan;
use super::{ModConfig, ModReport, RouterKind};
use crate::backend::gpu::kernels::{Kernel, Shader, MOD_BINDINGS};
use crate::backend::gpu::model::{GpuModel, GpuSample, MAX_BATCH};
use crate::backend::gpu::ops::{readback, record, storage, uniform};
use crate::backend::gpu::record::STEP_STRIDE;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::model::graph::Act;
use crate::model::LlamaConfig;

/// `ModStep.router` of shaders/mod_common.wgsl.
fn router_code(r: RouterKind) -> Result<u32> {
    Ok(match r {
        RouterKind::Trained => 0,
        RouterKind::Lsq => 1,
        RouterKind::Attn | RouterKind::Snap(_) => 2,
        RouterKind::Random => 3,
        RouterKind::Auto => {
            return Err(Error::InvalidArgument("the MoD router 'auto' must be resolved (ModConfig::new)".into()))
        }
    })
}

/// What the MoD prefill returns besides the report: the next token (greedy or GPU-sampled) and,
/// on request, the last position's logits.
pub struct ModPrefill {
    pub token: u32,
    pub logits: Option<Vec<f32>>,
    pub report: ModReport,
}

/// Offsets (in f32) of the regions of the `aux` buffer (see shaders/mod_common.wgsl).
struct AuxLayout {
    scores: usize,
    wfull: usize,
    attn: usize,
    wchunk: usize,
    stats: usize,
    router_w: usize,
    router_b: usize,
    lsq: usize,
    qfull: usize,
    total: usize,
}

impl AuxLayout {
    fn new(c: &LlamaConfig, n: usize, with_queries: bool) -> AuxLayout {
        let (d, nl, qd) = (c.dim, c.n_layers, c.n_heads * c.head_dim);
        let scores = 0;
        let wfull = scores + n;
        let attn = wfull + n;
        let wchunk = attn + n;
        let stats = wchunk + MAX_BATCH;
        let router_w = stats + if with_queries { c.n_heads * n * 2 } else { 0 };
        let router_b = router_w + nl * d;
        let lsq = router_b + nl;
        let qfull = lsq + nl * (d + 2);
        let total = qfull + if with_queries { n * qd } else { 0 };
        AuxLayout { scores, wfull, attn, wchunk, stats, router_w, router_b, lsq, qfull, total }
    }
}

/// Workgroups of a 1-D grid of `threads` (64 per workgroup), folded 2-D past 65,535 (the
/// WebGPU `maxComputeWorkgroupsPerDimension` default).
fn folded(threads: usize) -> (u32, u32, u32) {
    let groups = threads.div_ceil(64).max(1) as u32;
    if groups <= 65535 {
        (groups, 1, 1)
    } else {
        (65535, groups.div_ceil(65535), 1)
    }
}

impl GpuModel {
    /// Mixture-of-Depths prefill of `tokens` (the whole prompt, at positions `pos..`): each layer
    /// processes and caches only the tokens `cfg` keeps. Returns the next token (the argmax, or
    /// drawn by shaders/sample.wgsl with `sample`), the logits with `read_logits`, and the
    /// report (per-layer retention from the kept flags read back, KV bytes, FLOPs).
    pub async fn mod_prefill(
        &mut self,
        tokens: &[u32],
        cfg: &ModConfig,
        read_logits: bool,
        sample: Option<GpuSample>,
    ) -> Result<ModPrefill> {
        let t0 = now_ms();
        self.ctx.check()?;
        let c = self.cfg.clone();
        let plan = ModPlan::new(&c, cfg, tokens, self.pos, self.max_ctx)?;
        let n = plan.n;
        let (d, nl, nh, qd, kvd) = (c.dim, c.n_layers, c.n_heads, c.n_heads * c.head_dim, c.kv_dim());
        let code = router_code(cfg.router)?;
        let span = plan.span.clone();
        let nt = span.len();
        let start = self.pos;
        let attn_router = matches!(cfg.router, RouterKind::Attn | RouterKind::Snap(_));
        let lay = AuxLayout::new(&c, n, attn_router);
        let dev = self.ctx.device.clone();
        let q = self.ctx.queue.clone();
        let max_binding = self.ctx.caps.max_storage_buffer_binding_size;
        for (what, floats) in [("prompt residual stream", n * d), ("MoD scratch", lay.total)] {
            if (floats * 4) as u64 > max_binding {
                return Err(Error::Limit {
                    what: format!("{what} of a {n}-token MoD prefill in bytes (maxStorageBufferBindingSize)"),
                    value: (floats * 4) as u64,
                    limit: max_binding,
                });
            }
        }

        let xfull = storage(&dev, "mod xfull", n * d);
        let sel = storage(&dev, "mod sel", nl * n + n);
        let aux = storage(&dev, "mod aux", lay.total);
        let mstep = uniform(&dev, "mod step", &[0; 16]);
        let params = uniform(
            &dev,
            "mod params",
            &[
                d as u32,
                nh as u32,
                (nh / c.n_kv_heads) as u32,
                c.head_dim as u32,
                kvd as u32,
                (1.0 / (c.head_dim as f32).sqrt()).to_bits(),
                nl as u32,
                0,
                lay.scores as u32,
                lay.wfull as u32,
                lay.attn as u32,
                lay.wchunk as u32,
                lay.stats as u32,
                lay.router_w as u32,
                lay.router_b as u32,
                lay.lsq as u32,
                lay.qfull as u32,
                (nl * n) as u32,
                0,
                0,
            ],
        );
        let read_masks = readback(&dev, "mod masks", nl * n * 4);
        // aux: w̃ = 1 and attention received = 0 for every token; the routers' parameters.
        q.write_buffer(&aux, (lay.wfull * 4) as u64, bytemuck::cast_slice(&vec![1f32; n]));
        q.write_buffer(&aux, (lay.attn * 4) as u64, bytemuck::cast_slice(&vec![0f32; n]));
        if let Some(t) = &cfg.trained {
            let mut w = vec![0f32; nl * d];
            let mut b = vec![0f32; nl];
            for (l, r) in t.layers.iter().enumerate() {
                if let Some((wr, br)) = r {
                    w[l * d..(l + 1) * d].copy_from_slice(wr);
                    b[l] = *br;
                }
            }
            q.write_buffer(&aux, (lay.router_w * 4) as u64, bytemuck::cast_slice(&w));
            q.write_buffer(&aux, (lay.router_b * 4) as u64, bytemuck::cast_slice(&b));
        }
        if let Some(f) = &cfg.lsq {
            let coef: Vec<f32> = f.coef.iter().flat_map(|c| c.iter().map(|&v| v as f32)).collect();
            q.write_buffer(&aux, (lay.lsq * 4) as u64, bytemuck::cast_slice(&coef));
        }

        let ctx = self.ctx.clone();
        let layout = ctx.kernels.layout(&dev, MOD_BINDINGS);
        let groups: Vec<wgpu::BindGroup> = (0..nl)
            .map(|l| {
                let bufs = [
                    &mstep,
                    &params,
                    &xfull,
                    self.acts.act(Act::X),
                    &sel,
                    &aux,
                    &self.acts.positions,
                    self.acts.act(self.weighted_from),
                    &self.k_cache[l],
                ];
                let entries: Vec<wgpu::BindGroupEntry> = bufs
                    .iter()
                    .enumerate()
                    .map(|(i, buf)| wgpu::BindGroupEntry { binding: i as u32, resource: buf.as_entire_binding() })
                    .collect();
                dev.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("mod"),
                    layout: &layout,
                    entries: &entries,
                })
            })
            .collect();
        let pipe = |s: Shader| ctx.kernels.get(&dev, &Kernel::Plain(s));
        let (p_score, p_rank, p_compact) = (pipe(Shader::ModScore)?, pipe(Shader::ModRank)?, pipe(Shader::ModCompact)?);
        let (p_gather, p_scatter) = (pipe(Shader::ModGather)?, pipe(Shader::ModScatter)?);
        let (p_sadd, p_string) = (pipe(Shader::ModScaledAdd)?, pipe(Shader::ModString)?);
        let (p_stats, p_recv) = (pipe(Shader::ModSnapStats)?, pipe(Shader::ModSnapRecv)?);
        let dispatch = |pass: &mut wgpu::ComputePass<'_>, p: &wgpu::ComputePipeline, bg, g: (u32, u32, u32)| {
            pass.set_pipeline(p);
            pass.set_bind_group(0, Some(bg), &[]);
            pass.dispatch_workgroups(g.0, g.1, g.2);
        };

        ctx.scoped("the Mixture-of-Depths prefill", || -> Result<()> {
            // Embedding, in the dense prefill's chunks, into xfull.
            for (ci, chunk) in tokens.chunks(MAX_BATCH).enumerate() {
                let cn = chunk.len();
                q.write_buffer(&self.acts.tokens, 0, bytemuck::cast_slice(chunk));
                q.write_buffer(&self.acts.step, 0, bytemuck::cast_slice(&[cn as u32, 0, 0, 0]));
                let mut enc = dev.create_command_encoder(&Default::default());
                self.record_ops(&mut enc, 0..self.embed_end, cn, None);
                enc.copy_buffer_to_buffer(
                    self.acts.act(Act::X),
                    0,
                    &xfull,
                    (ci * MAX_BATCH * d * 4) as u64,
                    (cn * d * 4) as u64,
                );
                q.submit(Some(enc.finish()));
            }
            for (l, (bg, lp)) in groups.iter().zip(&plan.layers).enumerate() {
                let ratio = lp.ratio;
                let (k, nk) = (lp.kept_targets, lp.kept);
                let trained_mod = lp.string_weighted(cfg);
                let first = lp.window.as_ref().map_or(0, |w| w.start);
                if let Some(s) = lp.random.as_ref().filter(|s| !s.is_empty()) {
                    q.write_buffer(&aux, (lay.scores * 4) as u64, bytemuck::cast_slice(s));
                }
                let before = self.layer_len[l];
                let ops = self.layer_ops[l].clone();
                let chunks = nk.div_ceil(MAX_BATCH).max(1);
                for ci in 0..chunks {
                    let off = ci * MAX_BATCH;
                    let cn = nk.saturating_sub(off).min(MAX_BATCH);
                    let words: [u32; 16] = [
                        n as u32,
                        span.start as u32,
                        span.end as u32,
                        k as u32,
                        l as u32,
                        off as u32,
                        cn as u32,
                        start as u32,
                        nk as u32,
                        first as u32,
                        before as u32,
                        code,
                        ratio.is_some() as u32,
                        0,
                        0,
                        0,
                    ];
                    q.write_buffer(&mstep, 0, bytemuck::cast_slice(&words));
                    q.write_buffer(&self.acts.step, 0, bytemuck::cast_slice(&[cn as u32, 0, 0, 0]));
                    let lstep = [cn as u32, self.layer_len[l] as u32, 0, 0];
                    q.write_buffer(&self.acts.layer_steps, (l * STEP_STRIDE) as u64, bytemuck::cast_slice(&lstep));
                    let mut enc = dev.create_command_encoder(&Default::default());
                    if ci == 0 {
                        let mut pass = enc.begin_compute_pass(&Default::default());
                        if ratio.is_some() && nt > 0 {
                            dispatch(&mut pass, &p_score, bg, folded(nt));
                        }
                        dispatch(&mut pass, &p_rank, bg, folded(n));
                        dispatch(&mut pass, &p_compact, bg, (1, 1, 1));
                    }
                    if cn > 0 {
                        {
                            let mut pass = enc.begin_compute_pass(&Default::default());
                            dispatch(&mut pass, &p_gather, bg, folded(cn * d));
                        }
                        // Under STRing the layer's weighted residual is shaders/mod_scaled_add.wgsl.
                        let sadd = |pass: &mut wgpu::ComputePass<'_>| dispatch(pass, &p_sadd, bg, folded(cn * d));
                        self.record_ops(&mut enc, ops.clone(), cn, trained_mod.then_some(&sadd as _));
                        {
                            let mut pass = enc.begin_compute_pass(&Default::default());
                            dispatch(&mut pass, &p_scatter, bg, folded(cn * d));
                        }
                        if attn_router {
                            enc.copy_buffer_to_buffer(
                                self.acts.act(Act::Q),
                                0,
                                &aux,
                                ((lay.qfull + off * qd) * 4) as u64,
                                (cn * qd * 4) as u64,
                            );
                        }
                    }
                    if ci + 1 == chunks {
                        let mut pass = enc.begin_compute_pass(&Default::default());
                        if trained_mod && nt > 0 {
                            dispatch(&mut pass, &p_string, bg, folded(nt * d));
                        }
                        if attn_router && nk > 0 {
                            dispatch(&mut pass, &p_stats, bg, (nh as u32, (nk - first) as u32, 1));
                            dispatch(&mut pass, &p_recv, bg, folded(nk));
                        }
                    }
                    q.submit(Some(enc.finish()));
                    self.layer_len[l] += cn;
                }
            }
            // The last prompt position through the output norm and head.
            let mut enc = dev.create_command_encoder(&Default::default());
            enc.copy_buffer_to_buffer(&xfull, ((n - 1) * d * 4) as u64, &self.acts.last_x, 0, (d * 4) as u64);
            self.record_ops(&mut enc, self.tail_start + 1..self.ops.len(), 1, None);
            if let Some(smp) = sample {
                q.write_buffer(&self.acts.sample_params, 0, bytemuck::cast_slice(&smp.words(c.vocab_size)));
                let mut pass = enc.begin_compute_pass(&Default::default());
                record(&mut pass, std::slice::from_ref(&self.sample_op), 1);
            }
            enc.copy_buffer_to_buffer(&self.acts.argmax, 0, &self.acts.read_token, 0, 4);
            if read_logits {
                let bytes = (c.vocab_size * 4) as u64;
                enc.copy_buffer_to_buffer(&self.acts.logits, 0, &self.acts.read_logits, 0, bytes);
            }
            enc.copy_buffer_to_buffer(&sel, 0, &read_masks, 0, (nl * n * 4) as u64);
            q.submit(Some(enc.finish()));
            Ok(())
        })
        .await??;
        self.pos += n;

        let masks = self.ctx.read_buffer(&read_masks).await?;
        let flags: &[u32] = bytemuck::cast_slice(&masks);
        let kept: Vec<Vec<usize>> =
            (0..nl).map(|l| (0..n).filter(|&i| flags[l * n + i] != 0).collect::<Vec<usize>>()).collect();
        let before: Vec<usize> = (0..nl).map(|l| self.layer_len[l] - kept[l].len()).collect();
        let bytes = self.ctx.read_buffer(&self.acts.read_token).await?;
        let token = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let logits = if read_logits {
            let bytes = self.ctx.read_buffer(&self.acts.read_logits).await?;
            Some(bytemuck::cast_slice(&bytes).to_vec())
        } else {
            None
        };
        let report = plan.report(&c, cfg, &kept, &before, now_ms() - t0)?;
        Ok(ModPrefill { token, logits, report })
    }
}
