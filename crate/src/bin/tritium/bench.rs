//! `tritium bench`: matrix-vector product throughput per weight format (CPU or GPU, with GPU
//! tile choices) and a model's prefill / decode tokens per second.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;
use tritium::session::{GenerateOptions, Generation};
use tritium::{Error, Result};

use crate::{load, print_json};

fn parse_list<T>(what: &str, s: &str, f: impl Fn(&str) -> Option<T>) -> Result<Vec<T>> {
    s.split(',')
        .filter(|x| !x.trim().is_empty())
        .map(|x| f(x.trim()).ok_or_else(|| Error::InvalidArgument(format!("{what}: cannot parse '{x}'"))))
        .collect()
}

pub struct BenchOpts {
    pub iters: usize,
    pub tokens: usize,
    pub prompt_tokens: usize,
    pub tiles: Option<String>,
    pub peak_gbps: Option<f64>,
    pub json: bool,
}

pub fn run(model: Option<PathBuf>, backend: &str, shapes: &str, batch: &str, types: &str, o: &BenchOpts) -> Result<()> {
    use tritium::backend::cpu::matmul;
    use tritium::backend::gpu::kernels::{Tile, Tiles};
    use tritium::backend::gpu::{model::time_matmul_on, model::time_read, model::BenchWeights, GpuContext};
    use tritium::clock::now_ms;
    use tritium::quant::QMatrix;
    use tritium::quant::{self, GgmlType};
    let (iters, json) = (o.iters, o.json);
    let shapes = parse_list("--shapes", shapes, |x| {
        let (r, c) = x.split_once('x')?;
        Some((r.parse::<usize>().ok()?, c.parse::<usize>().ok()?))
    })?;
    let batches = parse_list("--batch", batch, |x| x.parse::<usize>().ok().filter(|&b| b > 0))?;
    let types = parse_list("--types", types, GgmlType::from_name)?;
    let tile_list: Vec<Option<Tiles>> = match &o.tiles {
        None => vec![None],
        // ROWSxLANES: decode tile and an 8-token prefill tile; ROWSxLANESxTOKENS: that token tile.
        Some(t) => parse_list("--tiles", t, |x| Tile::parse(x).map(|t| (t, x.matches('x').count() == 2)))?
            .into_iter()
            .map(|(t, explicit)| Some(Tiles::new(t, if explicit { t.tokens } else { 8 })))
            .collect(),
    };
    let gpu = match backend {
        "cpu" => None,
        "gpu" | "webgpu" => Some(GpuContext::new_blocking(&Default::default())?),
        other => return Err(Error::InvalidArgument(format!("--backend must be cpu or gpu, got '{other}'"))),
    };
    let adapter = match &gpu {
        Some(c) => format!("{} ({}, {})", c.caps.adapter, c.caps.backend, c.caps.driver),
        None => format!("CPU, {} threads", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
    };
    // The bandwidth reference: a plain streaming read on the same adapter, same run.
    let mut read_peak = serde_json::Value::Null;
    if let Some(ctx) = &gpu {
        let size = if ctx.caps.software { 64u64 << 20 } else { 1u64 << 30 };
        let (gbps, bytes, timer) = pollster::block_on(time_read(ctx, size, if ctx.caps.software { 3 } else { 20 }))?;
        read_peak = json!({"gb_per_s": gbps, "bytes": bytes, "timer": timer});
    }
    let read_gbps = read_peak["gb_per_s"].as_f64();
    let mut rng = tritium::model::sampler::SplitMix64::new(1);
    let mut kernels = Vec::new();
    for &(rows, cols) in &shapes {
        let w: Vec<f32> = (0..rows * cols).map(|_| rng.next_f64() as f32 - 0.5).collect();
        for &ty in &types {
            if cols % ty.block_size() != 0 {
                kernels.push(json!({"type": ty.name(), "rows": rows, "cols": cols,
                    "skipped": format!("{cols} columns are not a multiple of the {}-element block", ty.block_size())}));
                continue;
            }
            let data = quant::quantize(ty, &w)?;
            let m = QMatrix { ty, rows, cols, data: &data };
            let bw = match &gpu {
                Some(ctx) => Some(BenchWeights::upload(ctx, &m)?),
                None => None,
            };
            for &n in &batches {
                let x: Vec<f32> = (0..n * cols).map(|_| rng.next_f64() as f32 - 0.5).collect();
                for tiles in &tile_list {
                    let (ms, bytes, extra) = match (&gpu, &bw) {
                        (Some(ctx), Some(bw)) => {
                            let t = pollster::block_on(time_matmul_on(ctx, bw, n, iters, *tiles))?;
                            (
                                t.ms,
                                t.bytes,
                                json!({"timer": t.timer, "wall_ms": t.wall_ms, "copies": t.copies, "tile": t.tile}),
                            )
                        }
                        _ => {
                            let mut y = vec![0f32; n * rows];
                            matmul(&m, &x, n, &mut y)?;
                            let t0 = now_ms();
                            for _ in 0..iters.max(1) {
                                matmul(&m, &x, n, &mut y)?;
                            }
                            let ms = (now_ms() - t0) / iters.max(1) as f64;
                            (ms, (data.len() + x.len() * 4) as u64, json!({"timer": "wall"}))
                        }
                    };
                    let gbps = bytes as f64 / (ms / 1000.0) / 1e9;
                    let mut k = json!({"type": ty.name(), "rows": rows, "cols": cols, "batch": n,
                        "ms": ms, "bytes": bytes, "gb_per_s": gbps});
                    if let (Some(obj), Some(e)) = (k.as_object_mut(), extra.as_object()) {
                        obj.extend(e.clone());
                        if let Some(r) = read_gbps {
                            obj.insert("pct_of_read".into(), json!(100.0 * gbps / r));
                        }
                        if let Some(pk) = o.peak_gbps {
                            obj.insert("pct_of_peak".into(), json!(100.0 * gbps / pk));
                        }
                    }
                    kernels.push(k);
                }
            }
        }
    }
    let mut e2e = serde_json::Value::Null;
    if let Some(p) = model {
        let m = Arc::new(load(&p)?);
        let base = "The history of the printing press begins in the fifteenth century, when Johannes Gutenberg \
                    combined movable metal type, oil-based ink and a screw press into a system that could \
                    print books quickly and cheaply. ";
        let mut prompt = base.to_string();
        while m.tokenizer().encode(&prompt, true).map(|v| v.len()).unwrap_or(usize::MAX) < o.prompt_tokens {
            prompt.push_str(base);
        }
        let ids = m.tokenizer().encode(&prompt, true)?;
        let ids = &ids[..o.prompt_tokens.min(ids.len()).max(1)];
        let prompt = m.tokenizer().decode(ids)?;
        let opts = GenerateOptions { max_tokens: o.tokens, ..Default::default() };
        let mut g = Generation::new(m.clone(), &prompt, &opts)?;
        let mut dispatches = serde_json::Value::Null;
        if let Some(ctx) = &gpu {
            let ctx_len = g.prompt_token_ids().len() + o.tokens + 1;
            let gm = pollster::block_on(tritium::backend::gpu::model::GpuModel::upload(ctx.clone(), &m, ctx_len))?;
            dispatches = json!({"per_token": gm.dispatches_per_step(1), "per_layer": gm.dispatches_per_layer(0, 1),
                "per_prefill_step": gm.dispatches_per_step(2)});
            g = g.with_gpu(gm);
        }
        while g.step()?.is_some() {}
        let s = g.stats();
        e2e = json!({"model": p.display().to_string(), "prompt_tokens": s.prompt_tokens,
            "generated_tokens": s.generated_tokens, "prefill_tokens_per_s": s.prefill_tokens_per_s,
            "decode_tokens_per_s": s.tokens_per_s,
            "dispatches_per_token": dispatches["per_token"], "dispatches_per_layer": dispatches["per_layer"],
            "dispatches_per_prefill_step": dispatches["per_prefill_step"],
            "weight_gb_per_s": m.info().weight_bytes as f64 * s.tokens_per_s / 1e9});
    }
    let tiles_in_use = gpu.as_ref().map(|c| json!(c.caps.tiles));
    let out = json!({"backend": backend, "adapter": adapter, "iters": iters, "read_peak": read_peak,
        "peak_gbps": o.peak_gbps, "tiles": tiles_in_use, "kernels": kernels, "model": e2e});
    if json {
        return print_json(&out);
    }
    println!("{backend} backend on {adapter}; matmul y = W·x, {iters} dispatches per pass, best of 3 passes");
    if let Some(r) = read_gbps {
        println!("streaming-read reference: {r:.1} GB/s ({})", read_peak["timer"].as_str().unwrap_or(""));
    }
    println!(
        "{:<10} {:>12} {:>6} {:>10} {:>10} {:>10} {:>8} {:>8}",
        "type", "shape", "batch", "tile", "ms", "GB/s", "%read", "%peak"
    );
    for k in out["kernels"].as_array().into_iter().flatten() {
        let shape = format!("{}x{}", k["rows"], k["cols"]);
        if let Some(why) = k["skipped"].as_str() {
            println!("{:<10} {:>12} {:>6} {why}", k["type"].as_str().unwrap_or(""), shape, "-");
            continue;
        }
        let pct = |f: &str| k[f].as_f64().map_or("-".to_string(), |v| format!("{v:.1}"));
        println!(
            "{:<10} {:>12} {:>6} {:>10} {:>10.4} {:>10.2} {:>8} {:>8}",
            k["type"].as_str().unwrap_or(""),
            shape,
            k["batch"],
            k["tile"].as_str().unwrap_or("-"),
            k["ms"].as_f64().unwrap_or(0.0),
            k["gb_per_s"].as_f64().unwrap_or(0.0),
            pct("pct_of_read"),
            pct("pct_of_peak"),
        );
    }
    if !out["model"].is_null() {
        let e = &out["model"];
        println!(
            "model: prefill {:.1} tok/s ({} tokens), decode {:.2} tok/s ({} tokens)",
            e["prefill_tokens_per_s"].as_f64().unwrap_or(0.0),
            e["prompt_tokens"],
            e["decode_tokens_per_s"].as_f64().unwrap_or(0.0),
            e["generated_tokens"]
        );
        if let Some(d) = e["dispatches_per_token"].as_u64() {
            println!(
                "GPU dispatches: {d} per decoded token ({} per layer), {} per prefill step",
                e["dispatches_per_layer"], e["dispatches_per_prefill_step"]
            );
        }
    }
    Ok(())
}
