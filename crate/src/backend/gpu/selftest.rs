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
        // Q5_0 / Q5_1 from their quantizers; the k-quants and IQ4 from random blocks (the f32
        // weights are their dequantized values) or from the Q4_K / Q6_K quantizers.
        GgmlType::Q5_0 | GgmlType::Q5_1 => 0.06,
        GgmlType::Q2_K
        | GgmlType::Q3_K
        | GgmlType::Q4_K
        | GgmlType::Q5_K
        | GgmlType::Q6_K
        | GgmlType::IQ4_NL
        | GgmlType::IQ4_XS => 0.12,
        GgmlType::I8 | GgmlType::I32 | GgmlType::I2_S => 0.0,
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

pub(crate) fn fail(msg: String) -> Error {
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
            let mut w: Vec<f32> = (0..rows * cols).map(|_| rng.next_f64() as f32 - 0.5).collect();
            let x: Vec<f32> = (0..n * cols).map(|_| rng.next_f64() as f32 * 2.0 - 1.0).collect();
            let data = match quant::quantize(ty, &w) {
                Ok(d) => d,
                Err(_) if quant::kquants::shape(ty).is_some() => {
                    let d = quant::kquants::random_blocks(ty, rows * cols, || rng.next_u64());
                    w = quant::dequantize_vec(ty, &d, rows * cols)?;
                    d
                }
                Err(e) => return Err(e),
            };
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
    let d1 = max_abs_diff("prefill logits", &cpu, &gpu)?;
    let gpu2 = g.logits(&[next]).await?;
    let mut all = tokens.to_vec();
    all.push(next);
    let cpu2 = crate::backend::cpu::exec::forward_logits(model, &all)?;
    let d2 = max_abs_diff("decode logits", &cpu2, &gpu2)?;
    Ok((d1, d2))
}

/// max |cpu − gpu| over two vectors that must have the same length (a short GPU vector is an
/// error naming both lengths, never a comparison of the common prefix).
pub(crate) fn max_abs_diff(what: &str, cpu: &[f32], gpu: &[f32]) -> Result<f32> {
    if cpu.len() != gpu.len() {
        return Err(fail(format!("{what}: the CPU has {} values, the GPU {}", cpu.len(), gpu.len())));
    }
    Ok(cpu.iter().zip(gpu).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max))
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

/// shaders/quantize_i8.wgsl (with shaders/mxint8.wgsl) against the CPU reference
/// [`crate::quant::quantize_i8`], bit for bit: seeded random rows of several magnitudes
/// and edge blocks (all zeros, signed zeros, max |x| below 2^-100 and at it, subnormals, codes
/// that round to ±128 and saturate to ±127, exact ties x = (k + ½)·d that round to even, the
/// largest finite floats). Per block: the scale d (f32 bits), the 32 codes, and Σq; and d·q
/// equals the CPU's dequantized value bit for bit. Returns the number of blocks checked.
pub async fn check_quantize_i8(ctx: &Arc<GpuContext>, seed: u64) -> Result<usize> {
    use wgpu::util::DeviceExt;
    let cols = 96usize; // three blocks per row
    let x = quantize_i8_inputs(seed, cols);
    let n = x.len() / cols;
    let nb = x.len() / 32;
    let dev = &ctx.device;
    let kernel = super::kernels::Kernel::Plain(super::kernels::Shader::QuantizeI8);
    let src = kernel.source()?;
    let words = 10 * nb + 2;
    let sentinel = vec![0xdead_beefu32; words];
    let (pipeline, bind_group, out, read) = ctx
        .scoped("quantize_i8 self-test: pipeline", || {
            let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("quantize_i8"),
                source: wgpu::ShaderSource::Wgsl(src.into()),
            });
            let pipeline = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("quantize_i8"),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
            let init = |label: &str, bytes: &[u8], usage: wgpu::BufferUsages| {
                dev.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(label), contents: bytes, usage })
            };
            let step = init("step", bytemuck::cast_slice(&[n as u32, 0, 0, 0]), wgpu::BufferUsages::UNIFORM);
            let params = init(
                "params",
                bytemuck::cast_slice(&[cols as u32, (cols / 32) as u32, 0, 0]),
                wgpu::BufferUsages::UNIFORM,
            );
            let input = init("x", bytemuck::cast_slice(&x), wgpu::BufferUsages::STORAGE);
            let out =
                init("xq", bytemuck::cast_slice(&sentinel), wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC);
            let read = dev.create_buffer(&wgpu::BufferDescriptor {
                label: Some("read"),
                size: (words * 4) as u64,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let layout = pipeline.get_bind_group_layout(0);
            let entries: Vec<wgpu::BindGroupEntry> = [&step, &params, &input, &out]
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
                .collect();
            let bind_group = dev.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("quantize_i8"),
                layout: &layout,
                entries: &entries,
            });
            (pipeline, bind_group, out, read)
        })
        .await?;
    ctx.scoped("quantize_i8 self-test: dispatch", || {
        let mut enc = dev.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(nb.div_ceil(64) as u32, 1, 1);
        }
        enc.copy_buffer_to_buffer(&out, 0, &read, 0, (words * 4) as u64);
        ctx.queue.submit(Some(enc.finish()));
    })
    .await?;
    let bytes = ctx.read_buffer(&read).await?;
    let got: &[u32] = bytemuck::cast_slice(&bytes);
    compare_quantize_i8(&x, cols, got)?;
    Ok(nb)
}

/// The inputs of [`check_quantize_i8`]: rows of `cols` (a multiple of 32) values.
fn quantize_i8_inputs(seed: u64, cols: usize) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let mut blocks: Vec<Vec<f32>> = Vec::new();
    // Random blocks at magnitudes from 1e-30 to 1e30 (max |x| anywhere in its binade).
    for mag in [1e-30f32, 1e-12, 1e-3, 0.02, 1.0, 3.7, 1e3, 1e12, 1e30] {
        for _ in 0..6 {
            blocks.push((0..32).map(|_| (rng.next_f64() as f32 * 2.0 - 1.0) * mag).collect());
        }
    }
    let p2 = |e: i32| 2f32.powi(e);
    blocks.push(vec![0.0; 32]);
    blocks.push((0..32).map(|i| if i % 2 == 0 { 0.0 } else { -0.0 }).collect());
    // max |x| just below 2^-100 (all zero), at 2^-100 (the smallest block with codes), subnormals.
    blocks.push((0..32).map(|i| p2(-100) * (0.999 - i as f32 * 0.01)).collect());
    blocks.push((0..32).map(|i| p2(-100) * if i == 5 { -1.0 } else { i as f32 / 40.0 }).collect());
    blocks.push((0..32).map(|i| f32::from_bits(1 + i as u32 * 1000)).collect());
    // Saturation: max |x| just below the next power of two gives x/d ≈ 127.99 → 127 (and −127).
    for e in [-20, 0, 7] {
        let top = f32::from_bits(p2(e + 1).to_bits() - 1);
        blocks.push(
            (0..32)
                .map(|i| {
                    if i % 3 == 0 {
                        top
                    } else if i % 3 == 1 {
                        -top
                    } else {
                        top * 0.5
                    }
                })
                .collect(),
        );
    }
    // Ties: max |x| = 1 (d = 1/64), the other elements at (k + ½)/64 for odd and even k, both signs.
    blocks.push((0..32).map(|i| if i == 0 { 1.0 } else { (i as f32 - 16.0 + 0.5) / 64.0 }).collect());
    blocks.push((0..32).map(|i| if i == 31 { -1.5 } else { ((i as f32 * 3.0 - 45.0) + 0.5) * (1.0 / 64.0) }).collect());
    // One outlier: everything else rounds to small codes or zero.
    blocks.push((0..32).map(|i| if i == 9 { 1e4 } else { (rng.next_f64() as f32 - 0.5) * 40.0 }).collect());
    // The largest finite floats.
    blocks.push((0..32).map(|i| if i % 2 == 0 { f32::MAX } else { -f32::MAX * 0.75 }).collect());
    let per_row = cols / 32;
    while blocks.len() % per_row != 0 {
        blocks.push(vec![0.5; 32]);
    }
    blocks.concat()
}

/// Compare the GPU's three planes (codes 0–3, codes 4–7, then (d, Σq) per block) with the CPU.
fn compare_quantize_i8(x: &[f32], cols: usize, got: &[u32]) -> Result<()> {
    use crate::quant::{i8_block_scale, quantize_i8};
    let nb = x.len() / 32;
    if got.len() < 10 * nb {
        return Err(fail(format!("quantize_i8: {} words read back, {} expected", got.len(), 10 * nb)));
    }
    let cpu = quantize_i8(x, cols);
    if cpu.len() != x.len() {
        return Err(fail(format!("quantize_i8: the CPU returned {} values for {} inputs", cpu.len(), x.len())));
    }
    for b in 0..nb {
        let xs = &x[32 * b..32 * b + 32];
        let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
        let (_, d) = i8_block_scale(amax);
        let gd = f32::from_bits(got[8 * nb + 2 * b]);
        let what = format!("quantize_i8 block {b} (max |x| = {amax:e})");
        if gd.to_bits() != d.to_bits() {
            return Err(fail(format!("{what}: GPU scale {gd:e}, CPU {d:e}")));
        }
        let mut sum = 0i32;
        for k in 0..32 {
            let word = if k < 16 { got[4 * b + k / 4] } else { got[4 * (nb + b) + (k - 16) / 4] };
            let q = (word >> (8 * (k % 4))) as u8 as i8;
            sum += q as i32;
            let c = cpu[32 * b + k];
            // The CPU's code: its value over the power-of-two scale (exact), 0 in an all-zero
            // block (−0 and +0 are the same code).
            let cq = if d == 0.0 { c } else { c / d };
            if cq != q as f32 || d * q as f32 != c {
                return Err(fail(format!(
                    "{what}, element {k} (x = {:e}): GPU code {q}, CPU code {cq} (CPU value {c:e})",
                    xs[k]
                )));
            }
        }
        let gs = f32::from_bits(got[8 * nb + 2 * b + 1]);
        if gs != sum as f32 {
            return Err(fail(format!("{what}: GPU Σq {gs}, the sum of its codes {sum}")));
        }
    }
    Ok(())
}
