//! `tritium generate`: stream text from a prompt on the CPU or the GPU, optionally with a
//! Mixture-of-Depths prefill.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;
use tritium::session::{GenerateOptions, Generation};
use tritium::{Error, Result};

use crate::mods::mod_options;
use crate::{load, print_json};

// The options of `generate` (no doc comment: clap would take it over the variant's help).
#[derive(clap::Args)]
pub struct GenerateArgs {
    pub model: PathBuf,
    #[arg(long)]
    pub prompt: String,
    #[arg(long, default_value_t = 64)]
    pub max_tokens: usize,
    /// 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    #[arg(long, default_value_t = 40)]
    pub top_k: usize,
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Wrap the prompt in the model's chat template as a user message.
    #[arg(long)]
    pub chat: bool,
    #[arg(long)]
    pub system: Option<String>,
    /// cpu, gpu (WebGPU via wgpu: Vulkan/Metal/DX12) or auto (GPU when an adapter exists).
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    /// Force the f32 / no-subgroup GPU path.
    #[arg(long)]
    pub force_f32: bool,
    /// GPU: int8 activations (MXINT8 blocks, dot4I8Packed) for the quantized formats: faster
    /// matmuls; the logits move by the activations' rounding (README "Int8 activations").
    #[arg(long)]
    pub int8: bool,
    /// Mixture-of-Depths prefill (p-MoD): shiftedcos:MAX:MIN:MEAN[:ROUTER],
    /// shiftedlinear:MAX:MIN:MEAN[:ROUTER], deep_all:R[:ROUTER], deep_all_include_last:R[:ROUTER],
    /// interleave:R[:ROUTER] or dense; ROUTER: auto (default), trained, snap, snapN, attn, lsq, random.
    #[arg(long = "mod", value_name = "SPEC")]
    pub mod_spec: Option<String>,
    /// MoD target span START:END of prompt positions (default: all but the first token and the last 4).
    #[arg(long, value_name = "START:END")]
    pub mod_span: Option<String>,
    /// Calibration text for the lsq router (e.g. models/corpus/calib.txt).
    #[arg(long, value_name = "FILE")]
    pub mod_calib: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: GenerateArgs) -> Result<()> {
    let GenerateArgs {
        model,
        prompt,
        max_tokens,
        temperature,
        top_k,
        top_p,
        seed,
        chat,
        system,
        backend,
        force_f32,
        int8,
        mod_spec,
        mod_span,
        mod_calib,
        json,
    } = args;
    let m = Arc::new(load(&model)?);
    let mod_opts = match mod_spec {
        Some(spec) => Some(mod_options(&spec, mod_span.as_deref(), mod_calib.as_deref())?),
        None if mod_span.is_some() || mod_calib.is_some() => {
            return Err(Error::InvalidArgument("--mod-span and --mod-calib need --mod SPEC".into()))
        }
        None => None,
    };
    let opts = GenerateOptions { max_tokens, temperature, top_k, top_p, seed, chat, system, mod_opts };
    let mut g = Generation::new(m.clone(), &prompt, &opts)?;
    let want_gpu = match backend.as_str() {
        "cpu" => false,
        "gpu" | "webgpu" | "auto" => true,
        other => return Err(Error::InvalidArgument(format!("--backend must be cpu, gpu or auto, got '{other}'"))),
    };
    if want_gpu {
        let gopts = tritium::backend::gpu::GpuOptions { force_f32, int8, ..Default::default() };
        match tritium::backend::gpu::GpuContext::new_blocking(&gopts) {
            Ok(ctx) => {
                let ctx_len = (g.prompt_token_ids().len() + max_tokens + 1).min(m.config.context_length);
                let gm = pollster::block_on(tritium::backend::gpu::model::GpuModel::upload(ctx, &m, ctx_len))?;
                g = g.with_gpu(gm);
            }
            Err(e) if backend == "auto" => eprintln!("[auto: using the CPU: {e}]"),
            Err(e) => return Err(e),
        }
    }
    let mut text = String::new();
    let mut out = std::io::stdout();
    while let Some(piece) = g.step()? {
        if !json {
            let _ = out.write_all(piece.as_bytes());
            let _ = out.flush();
        }
        text.push_str(&piece);
    }
    let stats = g.stats();
    if json {
        let ids: Vec<u32> = g.token_ids().iter().copied().filter(|&t| !m.tokenizer().is_eog(t)).collect();
        let mut v = json!({
            "text": text,
            "token_ids": ids,
            "prompt_token_ids": g.prompt_token_ids(),
            "tokens_per_s": stats.tokens_per_s,
            "prefill_tokens_per_s": stats.prefill_tokens_per_s,
            "stats": stats,
            "backend": g.backend_name(),
        });
        if let Some(r) = g.mod_report() {
            v["mod"] = json!({
                "spec": r.spec, "router": r.router, "span": [r.span.0, r.span.1],
                "mean_ratio": r.mean_ratio, "prefill_kv_bytes": r.kv_bytes,
                "prefill_kv_bytes_dense": r.kv_bytes_dense, "prefill_flops": r.flops,
                "prefill_flops_dense": r.flops_dense, "target_kv_ratio": r.target_kv_ratio,
                "target_flops_ratio": r.target_flops_ratio,
            });
            v["retention"] = json!(r.retention);
            v["kv_bytes"] = json!(stats.kv_bytes);
            v["kv_bytes_dense"] = json!(stats.kv_bytes_dense);
            v["flops"] = json!(stats.flops);
            v["flops_dense"] = json!(stats.flops_dense);
        }
        print_json(&v)
    } else {
        println!();
        eprintln!(
            "[{} prompt tokens, {} generated; prefill {:.1} tok/s, decode {:.1} tok/s]",
            stats.prompt_tokens, stats.generated_tokens, stats.prefill_tokens_per_s, stats.tokens_per_s
        );
        if let Some(r) = g.mod_report() {
            eprintln!(
                "[MoD {}: KV {:.1}% of dense, FLOPs {:.1}% of dense (target span: KV {:.1}%, prefill FLOPs {:.1}%)]",
                r.spec,
                100.0 * stats.kv_bytes as f64 / stats.kv_bytes_dense.max(1) as f64,
                100.0 * stats.flops / stats.flops_dense.max(1.0),
                100.0 * r.target_kv_ratio,
                100.0 * r.target_flops_ratio
            );
        }
        Ok(())
    }
}
