//! WebGPU kernels (natively on lavapipe, Vulkan) against the CPU reference, and the GPU forward
//! against the CPU forward. `npm test`'s bootstrap installs mesa-vulkan-drivers, so an adapter
//! is required here: a missing one fails the test with the reason.

use std::sync::{Arc, OnceLock};

use tritium::backend::cpu::{matmul, QMatrix};
use tritium::backend::gpu::kernels::Kernel;
use tritium::backend::gpu::model::{matmul_once, GpuModel};
use tritium::backend::gpu::{GpuContext, GpuOptions};
use tritium::model::sampler::{argmax, SplitMix64};
use tritium::model::synthetic::tiny_llama_gguf;
use tritium::model::Model;
use tritium::quant::{self, GgmlType, ALL_TYPES};

use crate::common;

fn ctx() -> Arc<GpuContext> {
    static C: OnceLock<Arc<GpuContext>> = OnceLock::new();
    C.get_or_init(|| {
        GpuContext::new_blocking(&GpuOptions::default())
            .unwrap_or_else(|e| panic!("a WebGPU adapter is required (install mesa-vulkan-drivers): {e}"))
    })
    .clone()
}

#[test]
fn every_shader_validates_with_naga() {
    for k in Kernel::all() {
        let src = k.source();
        let module = naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("{}: WGSL parse error:\n{}", k.name(), e.emit_to_string(&src)));
        let mut v = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32,
        );
        v.validate(&module).unwrap_or_else(|e| panic!("{}: validation error: {e:?}", k.name()));
        let header = src.lines().next().unwrap_or("");
        assert!(header.starts_with("// "), "{}: needs a header comment", k.name());
    }
}

/// Per-format error budget of the quantized matmul against the f32 matmul of the original
/// weights (relative to Σ|w·x|).
fn f32_budget(ty: GgmlType) -> f32 {
    match ty {
        GgmlType::F32 => 1e-6,
        GgmlType::F16 => 1e-3,
        GgmlType::BF16 => 8e-3,
        GgmlType::Q8_0 => 1e-2,
        GgmlType::Q4_0 | GgmlType::Q4_1 => 0.12,
        GgmlType::TQ1_0 | GgmlType::TQ2_0 => 1.0,
    }
}

#[test]
fn matmul_every_format_matches_cpu() {
    let ctx = ctx();
    let mut rng = SplitMix64::new(5);
    let mut report = Vec::new();
    for ty in ALL_TYPES {
        let bs = ty.block_size().max(32);
        // Odd shapes: rows not multiples of anything, batch sizes 1, 3 and 16.
        let shapes: Vec<(usize, usize, usize)> = if ty.block_size() == 1 {
            vec![(1, 1, 1), (37, 45, 1), (129, 77, 3), (70, 300, 16)]
        } else {
            vec![(1, bs, 1), (37, bs * 3, 1), (129, bs * 2, 3), (70, bs * 5, 16)]
        };
        let mut max_rel = 0f32;
        for (rows, cols, n) in shapes {
            let w: Vec<f32> = (0..rows * cols).map(|_| rng.next_f64() as f32 - 0.5).collect();
            let x: Vec<f32> = (0..n * cols).map(|_| rng.next_f64() as f32 * 2.0 - 1.0).collect();
            let data = quant::quantize(ty, &w).unwrap();
            let m = QMatrix { ty, rows, cols, data: &data };
            let gpu = pollster::block_on(matmul_once(&ctx, &m, &x, n, f32::NAN)).unwrap();
            let mut cpu = vec![0f32; n * rows];
            matmul(&m, &x, n, &mut cpu).unwrap();
            let fm = QMatrix { ty: GgmlType::F32, rows, cols, data: bytemuck::cast_slice(&w) };
            let mut exact = vec![0f32; n * rows];
            matmul(&fm, &x, n, &mut exact).unwrap();
            for t in 0..n {
                for r in 0..rows {
                    let i = t * rows + r;
                    let scale: f32 =
                        (0..cols).map(|c| (w[r * cols + c] * x[t * cols + c]).abs()).sum::<f32>().max(1e-6);
                    let (g, c, e) = (gpu[i], cpu[i], exact[i]);
                    assert!(
                        !g.is_nan(),
                        "{} {rows}x{cols} n={n}: output [{t}][{r}] never written (sentinel)",
                        ty.name()
                    );
                    let rel = (g - c).abs() / scale;
                    assert!(
                        rel <= 1e-5,
                        "{} {rows}x{cols} n={n} [{t}][{r}]: gpu {g} vs cpu {c} (rel {rel:e} > 1e-5)",
                        ty.name()
                    );
                    let rel_f32 = (g - e).abs() / scale;
                    assert!(
                        rel_f32 <= f32_budget(ty),
                        "{} vs f32 [{t}][{r}]: {g} vs {e} (rel {rel_f32} > {})",
                        ty.name(),
                        f32_budget(ty)
                    );
                    max_rel = max_rel.max(rel);
                }
            }
        }
        report.push(format!("{} {max_rel:.1e}", ty.name()));
    }
    eprintln!("GPU vs CPU matmul, max error relative to Σ|w·x|: {}", report.join(", "));
}

#[test]
fn tiny_model_gpu_logits_match_cpu() {
    let m = Model::from_gguf_bytes(tiny_llama_gguf(2024)).unwrap();
    let tokens = [84u32, 72, 256, 258, 3, 100, 261, 17, 44, 200, 259];
    let cpu = m.forward_logits(&tokens).unwrap();
    let mut g = pollster::block_on(GpuModel::upload(ctx(), &m, 64)).unwrap();
    let gpu = pollster::block_on(g.logits(&tokens)).unwrap();
    let max = cpu.iter().zip(&gpu).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(max < 1e-3, "tiny model: max |gpu - cpu| logit = {max}");
    // Decode token by token continues to agree.
    let next = pollster::block_on(g.logits(&[5])).unwrap();
    let mut all = tokens.to_vec();
    all.push(5);
    let cpu2 = m.forward_logits(&all).unwrap();
    let max2 = cpu2.iter().zip(&next).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(max2 < 1e-3, "tiny model decode: max |gpu - cpu| logit = {max2}");
}

/// Greedy decoding on the GPU vs the CPU: at every step the GPU's token must equal the CPU's
/// top-1, or the CPU's top-2 logit gap there must be below 1e-3. Returns (agree, total).
fn greedy_agreement(g: &mut GpuModel, m: &Model, prompt: &str, steps: usize) -> (usize, usize) {
    let ids = m.tokenizer().encode(prompt, true).unwrap();
    g.reset();
    let mut seq = ids.clone();
    let mut cache = tritium::model::KvCache::new(&m.config);
    let mut hidden = tritium::model::forward::forward(m, &mut cache, &ids).unwrap();
    let mut gpu_tok = pollster::block_on(g.next_token(&ids)).unwrap();
    let mut agree = 0;
    for s in 0..steps {
        let d = m.config.dim;
        let logits = tritium::model::forward::logits(m, &hidden[hidden.len() - d..], 1).unwrap();
        let cpu_tok = argmax(&logits) as u32;
        if cpu_tok == gpu_tok {
            agree += 1;
        } else {
            let mut sorted = logits.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            let gap = sorted[0] - sorted[1];
            assert!(gap < 1e-3, "{prompt:?} step {s}: GPU chose {gpu_tok}, CPU {cpu_tok}, CPU top-2 gap {gap}");
        }
        // Both continue from the CPU's token so the sequences stay aligned.
        seq.push(cpu_tok);
        hidden = tritium::model::forward::forward(m, &mut cache, &[cpu_tok]).unwrap();
        gpu_tok = pollster::block_on(g.next_token(&[cpu_tok])).unwrap();
    }
    (agree, steps)
}

#[test]
fn default_model_greedy_decoding_agrees_with_cpu() {
    let m = common::model();
    let mut g = pollster::block_on(GpuModel::upload(ctx(), &m, 256)).unwrap();
    let prompts = [
        "The capital of France is",
        "def fibonacci(n):",
        "Once upon a time",
        "The three primary colors are",
        "In 1492, Columbus",
        "Water is made of",
        "import numpy as np\n",
        "The best way to learn a language is",
    ];
    let (mut agree, mut total) = (0, 0);
    for p in prompts {
        let (a, t) = greedy_agreement(&mut g, &m, p, 32);
        agree += a;
        total += t;
    }
    eprintln!("GPU greedy top-1 agreement with CPU: {agree}/{total} steps");
    let first = pollster::block_on(async {
        g.reset();
        g.next_token(&[504, 3575, 282, 4649, 314]).await
    })
    .unwrap();
    assert_eq!(first, 7042, "GPU: 'The capital of France is' → ' Paris'");
}

#[test]
fn sharded_weights_under_a_4_mib_binding_limit() {
    let ctx =
        GpuContext::new_blocking(&GpuOptions { max_storage_binding: Some(4 << 20), ..Default::default() }).unwrap();
    assert_eq!(ctx.caps.max_storage_buffer_binding_size, 4 << 20);
    let m = common::model();
    let mut g = pollster::block_on(GpuModel::upload(ctx, &m, 64)).unwrap();
    let ids = [504u32, 3575, 282, 4649, 314];
    let gpu = pollster::block_on(g.logits(&ids)).unwrap();
    let cpu = m.forward_logits(&ids).unwrap();
    let max = cpu.iter().zip(&gpu).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(max < 2e-2, "4 MiB shards: max |gpu - cpu| logit = {max}");
    assert_eq!(argmax(&gpu), 7042);
}
