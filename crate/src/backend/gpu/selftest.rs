//! Kernel checks shared by the native tests (lavapipe) and the browser tests (SwiftShader in
//! headless Chrome): the same bodies, run on whatever adapter the context has.

use std::sync::Arc;

use serde::Serialize;

use super::kernels::{effective_tile, Tile};
use super::model::{matmul_once, GpuModel};
use super::GpuContext;
use crate::backend::cpu::matmul;
use crate::error::{Error, Result};
use crate::model::sampler::SplitMix64;
use crate::model::Model;
use crate::quant::QMatrix;
use crate::quant::{self, GgmlType, MATMUL_TYPES};

/// Tolerance of GPU vs CPU on the same quantized inputs, relative to Σ|w·x| (only the summation
/// order differs).
pub const GPU_VS_CPU_REL: f32 = 1e-5;

/// Per-format error budget of the quantized product against the f32 product of the original
/// weights (relative to Σ|w·x|), for weights uniform in [-0.5, 0.5]. The internal formats' budgets
/// are about twice the worst seen over seeds 1–30 of `check_matmul_formats` (AWQ4 0.044 at G32,
/// TP1 0.18, TP2 0.06): an AWQ4 that drops its zero point fails, and so, on most seeds, does a
/// TP2 that degrades to one plane (TP1's error, 0.09–0.18 here).
pub fn f32_budget(ty: GgmlType) -> f32 {
    match ty {
        GgmlType::F32 => 1e-6,
        GgmlType::F16 => 1e-3,
        GgmlType::BF16 => 8e-3,
        GgmlType::Q8_0 => 1e-2,
        GgmlType::Q4_0 | GgmlType::Q4_1 => 0.12,
        GgmlType::TQ1_0 | GgmlType::TQ2_0 => 1.0,
        GgmlType::AWQ4_G32 | GgmlType::AWQ4_G64 | GgmlType::AWQ4_G128 => 0.08,
        GgmlType::TP1_G32 | GgmlType::TP1_G64 | GgmlType::TP1_G128 => 0.35,
        GgmlType::TP2_G32 | GgmlType::TP2_G64 | GgmlType::TP2_G128 => 0.12,
        GgmlType::I8 | GgmlType::I32 => 0.0,
    }
}

/// The extra error budget (relative to Σ|w·x|) of int8 activations: rounding x to a step of at
/// most 1/64 of its block's max|x| adds at most half a step per element; 0.01 is a few times
/// what uniform inputs give.
pub const I8_BUDGET: f32 = 0.01;

#[derive(Clone, Debug, Serialize)]
pub struct MatmulCheck {
    pub format: String,
    pub cases: usize,
    /// Largest |gpu − cpu| / Σ|w·x| seen.
    pub max_rel_vs_cpu: f32,
    /// Largest |gpu − f32| / Σ|w·x| seen.
    pub max_rel_vs_f32: f32,
}

fn fail(msg: String) -> Error {
    Error::Gpu { code: "E_GPU_MISMATCH", message: msg }
}

/// Every weight format (`MATMUL_TYPES`: ggml's and tritium's internal AWQ4 / trit-plane ones) on
/// seeded random odd shapes (odd rows; columns not multiples of 32, 128 or 256 where the format
/// allows: 3, 5 and 7 blocks or groups), batches 1, 3 and 16, outputs pre-filled with a NaN
/// sentinel. Both tile sets run (the software adapters' and the hardware GPUs'), each with its
/// decode tile (batch 1) and its token tile (batches 3 and 16: a partial and two full tiles),
/// with f32 activations and with int8 ones (formats with an int8 unit; decode both fused and
/// two-pass; checked against the CPU
/// product with [`crate::quant::quantize_i8`] activations, and against f32 within the format's budget
/// plus [`I8_BUDGET`]).
pub async fn check_matmul_formats(ctx: &Arc<GpuContext>, seed: u64) -> Result<Vec<MatmulCheck>> {
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::new();
    for ty in MATMUL_TYPES {
        let bs = ty.block_size().max(32);
        let shapes: Vec<(usize, usize, usize)> = if ty.block_size() == 1 {
            vec![(1, 1, 1), (37, 45, 1), (129, 77, 3), (70, 300, 16)]
        } else {
            vec![(1, bs, 1), (37, bs * 3, 1), (129, bs * 7, 3), (71, bs * 5, 16)]
        };
        let mut check = MatmulCheck { format: ty.name().into(), cases: 0, max_rel_vs_cpu: 0.0, max_rel_vs_f32: 0.0 };
        for (rows, cols, n) in shapes {
            let w: Vec<f32> = (0..rows * cols).map(|_| rng.next_f64() as f32 - 0.5).collect();
            let x: Vec<f32> = (0..n * cols).map(|_| rng.next_f64() as f32 * 2.0 - 1.0).collect();
            let data = quant::quantize(ty, &w)?;
            let m = QMatrix { ty, rows, cols, data: &data };
            let mut gpus = Vec::new();
            for software in [true, false] {
                let f32_tiles = Some(super::kernels::tiles_for(ty, software));
                let i8_tiles = super::kernels::tiles_i8_for(ty, software).filter(|_| ctx.caps.int8_dot);
                // Its decode tile the other way round too: fused (the input quantized in the
                // workgroup) and two-pass (the blocks of the quantize pass).
                let i8_other = i8_tiles.map(|t| {
                    let d = t.decode;
                    super::kernels::Tiles { decode: Tile { fused: !d.fused, xblocks: 0, ..d }, ..t }
                });
                for tiles in [f32_tiles, i8_tiles, i8_other].into_iter().flatten() {
                    gpus.push((tiles, matmul_once(ctx, &m, &x, n, f32::NAN, tiles).await?));
                }
            }
            let mut cpu = vec![0f32; n * rows];
            matmul(&m, &x, n, &mut cpu)?;
            // The int8-activation kernels against the CPU product with the same int8 activations.
            let mut cpu_i8 = vec![0f32; n * rows];
            if cols % 32 == 0 {
                matmul(&m, &crate::quant::quantize_i8(&x, cols), n, &mut cpu_i8)?;
            }
            let fm = QMatrix { ty: GgmlType::F32, rows, cols, data: bytemuck::cast_slice(&w) };
            let mut exact = vec![0f32; n * rows];
            matmul(&fm, &x, n, &mut exact)?;
            for (tiles, gpu) in &gpus {
                for t in 0..n {
                    for r in 0..rows {
                        let i = t * rows + r;
                        let scale: f32 =
                            (0..cols).map(|c| (w[r * cols + c] * x[t * cols + c]).abs()).sum::<f32>().max(1e-6);
                        let tile = if n > 1 { tiles.prefill } else { tiles.decode };
                        let tile = effective_tile(tile, ty, cols);
                        let (g, c, e) = (gpu[i], if tile.i8 { cpu_i8[i] } else { cpu[i] }, exact[i]);
                        let what =
                            format!("{} {rows}x{cols} batch {n} tile {}, output [{t}][{r}]", ty.name(), tile.name());
                        if g.is_nan() {
                            return Err(fail(format!("{what}: never written (NaN sentinel left)")));
                        }
                        let rel = (g - c).abs() / scale;
                        if rel > GPU_VS_CPU_REL {
                            return Err(fail(format!(
                                "{what}: gpu {g} vs cpu {c}: relative error {rel:e} > {GPU_VS_CPU_REL:e}"
                            )));
                        }
                        let rel_f32 = (g - e).abs() / scale;
                        if rel_f32 > f32_budget(ty) + if tile.i8 { I8_BUDGET } else { 0.0 } {
                            return Err(fail(format!(
                                "{what}: gpu {g} vs f32 {e}: relative error {rel_f32} > budget {}",
                                f32_budget(ty)
                            )));
                        }
                        check.max_rel_vs_cpu = check.max_rel_vs_cpu.max(rel);
                        check.max_rel_vs_f32 = check.max_rel_vs_f32.max(rel_f32);
                    }
                }
            }
            check.cases += 1;
        }
        out.push(check);
    }
    Ok(out)
}

/// The whole forward of `model` on the GPU vs the CPU: max |logit difference| after a prefill
/// of `tokens` and after one more decoded token.
pub async fn check_forward(ctx: &Arc<GpuContext>, model: &Model, tokens: &[u32], next: u32) -> Result<(f32, f32)> {
    let cpu = crate::backend::cpu::exec::forward_logits(model, tokens)?;
    let mut g = GpuModel::upload(ctx.clone(), model, tokens.len() + 8).await?;
    let gpu = g.logits(tokens).await?;
    let d1 = cpu.iter().zip(&gpu).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let gpu2 = g.logits(&[next]).await?;
    let mut all = tokens.to_vec();
    all.push(next);
    let cpu2 = crate::backend::cpu::exec::forward_logits(model, &all)?;
    let d2 = cpu2.iter().zip(&gpu2).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    Ok((d1, d2))
}

/// The Mixture-of-Depths prefill on the GPU (backend/gpu/pmod.rs) vs the CPU reference
/// (`pmod::prefill`) for the MoD spec `spec` (e.g. `interleave:0.5`, `shiftedcos:snap`) over
/// `tokens`: returns the layers whose kept sets differ (none expected), the max |logit
/// difference| after the prefill, and after one more decoded token (`next`).
pub async fn check_mod(
    ctx: &Arc<GpuContext>,
    model: &Model,
    tokens: &[u32],
    spec: &str,
    next: u32,
) -> Result<(Vec<usize>, f32, f32)> {
    use crate::pmod::{self, ModConfig, ModOptions};
    let cfg = ModConfig::new(model, &ModOptions::parse(spec)?, None)?;
    let mut cache = crate::model::KvCache::new(&model.config);
    let (h, cpu) = pmod::prefill(model, &mut cache, tokens, &cfg, false)?;
    let d = model.config.dim;
    let cpu_logits = crate::backend::cpu::exec::logits(model, &h[h.len() - d..], 1)?;
    let mut g = GpuModel::upload(ctx.clone(), model, tokens.len() + 8).await?;
    let out = g.mod_prefill(tokens, &cfg, true, None).await?;
    let differ: Vec<usize> =
        cpu.retention.iter().zip(&out.report.retention).filter(|(a, b)| a != b).map(|(a, _)| a.layer).collect();
    let gl = out.logits.unwrap_or_default();
    let d1 = cpu_logits.iter().zip(&gl).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let h2 = crate::backend::cpu::exec::forward(model, &mut cache, &[next])?;
    let cpu2 = crate::backend::cpu::exec::logits(model, &h2[h2.len() - d..], 1)?;
    let gpu2 = g.logits(&[next]).await?;
    let d2 = cpu2.iter().zip(&gpu2).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    Ok((differ, d1, d2))
}

/// GPU sampling (shaders/sample.wgsl) vs the CPU sampler (`sampler::sample_with`) with the same
/// draws: seeded random logits over an odd vocabulary, temperatures 0.5–1.3, top-k 1–256, top-p
/// 0.5–1. Returns (cases, equal picks); every pick must be equal.
pub async fn check_sampling(ctx: &Arc<GpuContext>, seed: u64) -> Result<(usize, usize)> {
    use super::model::{sample_once, GpuSample};
    use crate::model::sampler::{sample_with, SamplerOptions};
    let mut rng = SplitMix64::new(seed);
    let vocab = 5003;
    let logits: Vec<f32> = (0..vocab).map(|_| (rng.next_f64() as f32 - 0.5) * 16.0).collect();
    let (mut cases, mut equal) = (0, 0);
    for temperature in [0.5f32, 0.8, 1.3] {
        for top_k in [1usize, 5, 40, 256] {
            for top_p in [0.5f32, 0.9, 1.0] {
                let r = rng.next_f64();
                let opts = SamplerOptions { temperature, top_k, top_p, seed: 0 };
                let cpu = sample_with(&logits, &opts, r);
                let gpu = sample_once(ctx, &logits, GpuSample { temperature, top_k: top_k as u32, top_p, r }).await?;
                cases += 1;
                if gpu == cpu {
                    equal += 1;
                } else {
                    return Err(fail(format!(
                        "sampling T={temperature} top_k={top_k} top_p={top_p} r={r}: gpu picked {gpu}, cpu {cpu}"
                    )));
                }
            }
        }
    }
    Ok((cases, equal))
}
