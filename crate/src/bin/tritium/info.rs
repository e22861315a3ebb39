//! `tritium info`: architecture, hyperparameters, tensor table and tokenizer of a model, and
//! with --gpu the adapter (and its matmul self-check).

use std::path::PathBuf;

use serde_json::json;
use tritium::{Error, Result};

use crate::{load, print_json};

pub fn run(model: Option<PathBuf>, gpu: bool, check: bool, json: bool) -> Result<()> {
    if gpu {
        let ctx = tritium::backend::gpu::GpuContext::new_blocking(&Default::default())?;
        let caps = serde_json::to_value(&ctx.caps).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let checks = if check {
            let c = pollster::block_on(tritium::backend::gpu::selftest::check_matmul_formats(&ctx, 1))?;
            Some(serde_json::to_value(&c).map_err(|e| Error::InvalidArgument(e.to_string()))?)
        } else {
            None
        };
        if json {
            print_json(&json!({ "gpu": caps, "matmul_checks": checks }))?;
        } else {
            for (k, v) in caps.as_object().into_iter().flatten() {
                println!("{k:<40} {v}");
            }
            for c in checks.iter().filter_map(|c| c.as_array()).flatten() {
                println!(
                    "matmul {:<10} {} cases: max rel. error vs CPU {:.2e}, vs f32 {:.2e}",
                    c["format"].as_str().unwrap_or(""),
                    c["cases"],
                    c["max_rel_vs_cpu"].as_f64().unwrap_or(f64::NAN),
                    c["max_rel_vs_f32"].as_f64().unwrap_or(f64::NAN)
                );
            }
        }
        if model.is_none() {
            return Ok(());
        }
    }
    let model = model.ok_or_else(|| Error::InvalidArgument("info: give a MODEL (or --gpu)".into()))?;
    let m = load(&model)?;
    let info = m.info();
    if json {
        return print_json(&serde_json::to_value(&info).map_err(|e| Error::InvalidArgument(e.to_string()))?);
    }
    let c = &info.config;
    println!("model        {}", c.name.as_deref().unwrap_or("(unnamed)"));
    println!("architecture {} (GGUF v{})", c.architecture, info.gguf_version);
    println!(
        "layers {}  dim {}  ffn {}  heads {} (kv {})  head_dim {}  rope {} dims, base {}  eps {:e}",
        c.n_layers, c.dim, c.ffn_dim, c.n_heads, c.n_kv_heads, c.head_dim, c.rope.dim, c.rope.base, c.rms_eps
    );
    println!("context {}  vocab {}  tied output: {}", c.context_length, c.vocab_size, info.tied_output);
    println!(
        "params {:.1} M  weights {:.1} MB  {:.3} bits/weight  types {:?}",
        info.n_params as f64 / 1e6,
        info.weight_bytes as f64 / 1e6,
        info.bits_per_weight,
        info.tensor_types
    );
    let t = &info.tokenizer;
    println!("tokenizer    {}", serde_json::to_string(t).unwrap_or_default());
    println!();
    println!("{:<32} {:<6} {:>16} {:>12}", "tensor", "type", "shape", "bytes");
    for t in &info.tensors {
        let shape: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
        println!("{:<32} {:<6} {:>16} {:>12}", t.name, t.ty, shape.join("×"), t.bytes);
    }
    Ok(())
}
