//! The native `tritium` CLI: inspect, generate and score models.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use serde_json::json;

use tritium::eval;
use tritium::model::{GenerateOptions, Generation, Model};
use tritium::pmod::ModOptions;
use tritium::{Error, Result};

#[derive(Parser)]
#[command(name = "tritium", version, about = "Quantized language models: inspect, generate, score")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Architecture, hyperparameters, tensor table and tokenizer of a model.
    Info {
        /// A model file (optional with --gpu).
        model: Option<PathBuf>,
        /// Report the GPU adapter, features and limits.
        #[arg(long)]
        gpu: bool,
        /// With --gpu: also run every weight format's matmul kernel (both tile sets) against the
        /// CPU reference on seeded odd shapes and report the largest errors.
        #[arg(long)]
        check: bool,
        #[arg(long)]
        json: bool,
    },
    /// Generate text from a prompt (streams to stdout).
    Generate {
        model: PathBuf,
        #[arg(long)]
        prompt: String,
        #[arg(long, default_value_t = 64)]
        max_tokens: usize,
        /// 0 is greedy.
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        #[arg(long, default_value_t = 40)]
        top_k: usize,
        #[arg(long, default_value_t = 0.95)]
        top_p: f32,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Wrap the prompt in the model's chat template as a user message.
        #[arg(long)]
        chat: bool,
        #[arg(long)]
        system: Option<String>,
        /// cpu, gpu (WebGPU via wgpu: Vulkan/Metal/DX12) or auto (GPU when an adapter exists).
        #[arg(long, default_value = "cpu")]
        backend: String,
        /// Force the f32 / no-subgroup GPU path.
        #[arg(long)]
        force_f32: bool,
        /// GPU: int8 activations (MXINT8 blocks, dot4I8Packed) for the quantized formats: faster
        /// matmuls; the logits move by the activations' rounding (README "Int8 activations").
        #[arg(long)]
        int8: bool,
        /// Mixture-of-Depths prefill (p-MoD): shiftedcos:MAX:MIN:MEAN[:ROUTER],
        /// shiftedlinear:MAX:MIN:MEAN[:ROUTER], deep_all:R[:ROUTER], deep_all_include_last:R[:ROUTER],
        /// interleave:R[:ROUTER] or dense; ROUTER: auto (default), trained, snap, snapN, attn, lsq, random.
        #[arg(long = "mod", value_name = "SPEC")]
        mod_spec: Option<String>,
        /// MoD target span START:END of prompt positions (default: all but the first token and the last 4).
        #[arg(long, value_name = "START:END")]
        mod_span: Option<String>,
        /// Calibration text for the lsq router (e.g. models/corpus/calib.txt).
        #[arg(long, value_name = "FILE")]
        mod_calib: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// CPU kernel and decode benchmarks: effective GB/s of matrix-vector products per weight
    /// format (fused and plain reference), and the model's prefill/decode tokens/s.
    Bench {
        /// A model for the end-to-end prefill/decode figures (optional).
        model: Option<PathBuf>,
        /// cpu or gpu.
        #[arg(long, default_value = "cpu")]
        backend: String,
        /// Matrix shapes ROWSxCOLS (outputs × inputs), comma-separated.
        #[arg(long, default_value = "576x1536,1536x576,4096x4096,4096x11008,11008x4096")]
        shapes: String,
        /// Batch sizes (tokens per matmul), comma-separated.
        #[arg(long, default_value = "1,16")]
        batch: String,
        /// Weight types, comma-separated.
        #[arg(long, default_value = "F32,F16,Q8_0,Q4_1,TQ2_0,TQ1_0")]
        types: String,
        #[arg(long, default_value_t = 5)]
        iters: usize,
        /// Tokens to decode for the model figures.
        #[arg(long, default_value_t = 32)]
        tokens: usize,
        /// Prompt tokens for the model's prefill figure (a fixed English text, repeated).
        #[arg(long, default_value_t = 64)]
        prompt_tokens: usize,
        /// GPU: matmul tiles to compare, ROWSxLANES[xTOKENS] comma-separated (default: the
        /// adapter's own choice). Each runs decode (batch 1) and a token tile for batch > 1.
        #[arg(long)]
        tiles: Option<String>,
        /// GPU: the adapter's rated memory bandwidth in GB/s, to print % of peak.
        #[arg(long)]
        peak_gbps: Option<f64>,
        #[arg(long)]
        json: bool,
    },
    /// Teacher-forced negative log-likelihood of every token of a text.
    Score {
        model: PathBuf,
        #[arg(long)]
        text_file: PathBuf,
        /// Window length in tokens (default: the model's context length; 512 prompt tokens with --mod).
        #[arg(long)]
        ctx: Option<usize>,
        #[command(flatten)]
        mods: ModArgs,
        #[arg(long)]
        json: bool,
    },
    /// Quantize a model: RTN int4, AWQ int4 (calibrated), absmean ternary, PTQTP trit planes, ggml
    /// formats, or a mixed recipe by tensor class (attn=awq4,ffn=ptqtp,embed=q8_0,output=q8_0).
    /// OUT ending in .gguf writes GGUF; any other path writes an AutoAWQ folder.
    Quantize {
        model: PathBuf,
        /// rtn4 | awq4 | absmean | absmean-group | ptqtp | tq1_0 | tq2_0 | q8_0 | q4_1 | … or a
        /// recipe CLASS=METHOD,… over the classes attn, ffn, embed, output.
        #[arg(long)]
        method: String,
        /// Calibration text (AWQ).
        #[arg(long)]
        calib: Option<PathBuf>,
        /// Calibration tokens used (AWQ), in blocks of --calib-block.
        #[arg(long, default_value_t = 2048)]
        calib_tokens: usize,
        #[arg(long, default_value_t = 512)]
        calib_block: usize,
        /// Group size (32, 64, 128); default: the largest that divides every quantized width.
        #[arg(long)]
        group: Option<usize>,
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Perplexity: teacher forcing over windows of --ctx tokens (overlapping by one token, so
    /// each token after the first is predicted once).
    Perplexity {
        model: PathBuf,
        #[arg(long)]
        text_file: PathBuf,
        #[arg(long, default_value_t = 512)]
        ctx: usize,
        /// Score only the first N tokens of the text.
        #[arg(long)]
        max_tokens: Option<usize>,
        /// Quantize every matmul input to int8 per 32-element block, as the GPU's int8 kernels do
        /// (to measure what int8 activations cost in perplexity).
        #[arg(long)]
        i8_activations: bool,
        #[command(flatten)]
        mods: ModArgs,
        #[arg(long)]
        json: bool,
    },
    /// Weight spectra of every linear layer: ESD of WᵀW (raw σ², WeightWatcher's convention),
    /// power-law alpha / xmin / D (WeightWatcher fit), alpha-hat, spectral norm, stable rank,
    /// Marchenko–Pastur bulk edge and spikes; FARMS alpha with --farms.
    Spectra {
        model: PathBuf,
        /// Also fit FARMS (pooled ESD of 100×200 windows, 10 starts per dimension, xmin_mid).
        #[arg(long)]
        farms: bool,
        /// Comma-separated layer indices (default: all).
        #[arg(long, value_delimiter = ',')]
        layers: Option<Vec<usize>>,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error[{}]: {}", e.code(), e);
            ExitCode::FAILURE
        }
    }
}

/// A GGUF file, or an AutoAWQ / HF folder (config.json + safetensors + tokenizer.json).
fn load(path: &std::path::Path) -> Result<Model> {
    if path.is_dir() {
        tritium::model::awq_folder::load_awq_folder(&tritium::format::awq::read_folder(path)?)
    } else {
        Model::from_path(path)
    }
}

fn print_json(v: &serde_json::Value) -> Result<()> {
    let s = serde_json::to_string(v).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    println!("{s}");
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Info { model, gpu, check, json } => {
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
                c.n_layers, c.dim, c.ffn_dim, c.n_heads, c.n_kv_heads, c.head_dim, c.rope_dim, c.rope_base, c.rms_eps
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
        Cmd::Generate {
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
        } => {
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
                other => {
                    return Err(Error::InvalidArgument(format!("--backend must be cpu, gpu or auto, got '{other}'")))
                }
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
        Cmd::Bench { model, backend, shapes, batch, types, iters, tokens, prompt_tokens, tiles, peak_gbps, json } => {
            let o = BenchOpts { iters, tokens, prompt_tokens, tiles, peak_gbps, json };
            bench(model, &backend, &shapes, &batch, &types, &o)
        }
        Cmd::Spectra { model, farms, layers, json } => spectra(&model, farms, layers, json),
        Cmd::Quantize { model, method, calib, calib_tokens, calib_block, group, output, json } => {
            quantize(&model, &method, calib, calib_tokens, calib_block, group, &output, json)
        }
        Cmd::Perplexity { model, text_file, ctx, max_tokens, i8_activations, mods, json } => {
            let mut m = load(&model)?;
            m.i8_activations = i8_activations;
            let text = std::fs::read_to_string(&text_file)
                .map_err(|e| Error::Io { path: text_file.display().to_string(), source: e })?;
            let mut ids = m.tokenizer().encode(&text, true)?;
            if let Some(n) = max_tokens {
                ids.truncate(n);
            }
            if !mods.specs.is_empty() {
                return mod_score(&m, &ids, ctx, &mods, false, json);
            }
            let r = eval::score_ids(&m, &ids, Some(ctx))?;
            if json {
                print_json(&json!({
                    "mean_nll": r.mean_nll,
                    "perplexity": r.perplexity,
                    "tokens": r.tokens,
                    "ctx": r.ctx,
                    "windows": r.windows,
                    "tokens_per_s": r.tokens_per_s,
                    "i8_activations": i8_activations,
                    "model": model.display().to_string(),
                }))
            } else {
                println!(
                    "mean_nll {:.4}  perplexity {:.3}  tokens {}  (ctx {}, {} windows, {:.1} tok/s)",
                    r.mean_nll, r.perplexity, r.tokens, r.ctx, r.windows, r.tokens_per_s
                );
                Ok(())
            }
        }
        Cmd::Score { model, text_file, ctx, mods, json } => {
            let m = load(&model)?;
            let text = std::fs::read_to_string(&text_file)
                .map_err(|e| Error::Io { path: text_file.display().to_string(), source: e })?;
            if !mods.specs.is_empty() {
                let ids = m.tokenizer().encode(&text, true)?;
                return mod_score(&m, &ids, ctx.unwrap_or(512), &mods, true, json);
            }
            let r = eval::score_text(&m, &text, ctx)?;
            if json {
                print_json(&serde_json::to_value(&r).map_err(|e| Error::InvalidArgument(e.to_string()))?)
            } else {
                println!(
                    "tokens {}  scored {}  mean_nll {:.4}  perplexity {:.3}  ({:.1} tok/s)",
                    r.token_ids.len(),
                    r.nll.len(),
                    r.mean_nll,
                    r.perplexity,
                    r.tokens_per_s
                );
                Ok(())
            }
        }
    }
}

/// `--mod SPEC` with `--mod-span START:END` and `--mod-calib FILE`.
fn mod_options(spec: &str, span: Option<&str>, calib: Option<&std::path::Path>) -> Result<ModOptions> {
    let mut o = ModOptions::parse(spec)?;
    if let Some(s) = span {
        let bad =
            || Error::InvalidArgument(format!("--mod-span '{s}': expected START:END (prompt positions, END excluded)"));
        let (a, b) = s.split_once(':').ok_or_else(bad)?;
        o.span = Some((a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?));
    }
    if let Some(p) = calib {
        o.calib_text =
            Some(std::fs::read_to_string(p).map_err(|e| Error::Io { path: p.display().to_string(), source: e })?);
    }
    Ok(o)
}

/// `--mod` options of `perplexity` and `score`.
#[derive(clap::Args, Debug)]
struct ModArgs {
    /// Mixture-of-Depths (p-MoD) configurations to compare with dense, repeatable (the same SPEC
    /// forms as `generate --mod`). With --mod, windows are --ctx prompt tokens (pruned) followed
    /// by --continuation tokens, and only the continuation is scored.
    #[arg(long = "mod", value_name = "SPEC")]
    specs: Vec<String>,
    #[arg(long = "mod-span", value_name = "START:END")]
    span: Option<String>,
    #[arg(long = "mod-calib", value_name = "FILE")]
    calib: Option<PathBuf>,
    /// Continuation tokens scored after each pruned prompt (with --mod).
    #[arg(long, default_value_t = 64)]
    continuation: usize,
    /// Use at most N windows (with --mod).
    #[arg(long)]
    max_windows: Option<usize>,
}

/// `perplexity --mod` / `score --mod`: continuation NLL after a pruned prompt vs dense.
fn mod_score(m: &Model, ids: &[u32], prompt: usize, a: &ModArgs, per_token: bool, json: bool) -> Result<()> {
    use tritium::pmod::{eval::score_continuations, ModConfig};
    let mut lsq = None;
    let mut configs = Vec::new();
    for spec in &a.specs {
        let o = mod_options(spec, a.span.as_deref(), a.calib.as_deref())?;
        let cfg = ModConfig::new(m, &o, lsq.clone())?;
        if cfg.lsq.is_some() {
            lsq = cfg.lsq.clone(); // fit once, share between configurations
        }
        cfg.span_for(prompt)?;
        configs.push(cfg);
    }
    let mut r = score_continuations(m, ids, prompt, a.continuation, a.max_windows, &configs)?;
    if !per_token {
        r.dense_nll.clear();
        r.mods.iter_mut().for_each(|x| x.nll.clear());
    }
    if json {
        return print_json(&serde_json::to_value(&r).map_err(|e| Error::InvalidArgument(e.to_string()))?);
    }
    println!(
        "{} windows of {} prompt + {} continuation tokens; dense continuation NLL {:.4} (prefill {:.0} ms)",
        r.windows, r.prompt_tokens, r.continuation_tokens, r.dense_mean_nll, r.dense_prefill_ms
    );
    println!(
        "{:<40} {:>7} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8}",
        "mod", "mean R", "ΔNLL", "KV", "KV tgt", "FLOPs", "FL tgt", "time"
    );
    for x in &r.mods {
        println!(
            "{:<40} {:>7.3} {:>+8.4} {:>7.1}% {:>7.1}% {:>8.1}% {:>7.1}% {:>8.3}",
            x.spec,
            x.mean_ratio,
            x.delta_nll,
            100.0 * x.kv_ratio,
            100.0 * x.target_kv_ratio,
            100.0 * x.flops_ratio,
            100.0 * x.target_flops_ratio,
            x.prefill_time_ratio
        );
    }
    Ok(())
}

fn spectra(path: &std::path::Path, farms: bool, layers: Option<Vec<usize>>, json: bool) -> Result<()> {
    use std::io::IsTerminal;
    use tritium::analysis::{model_spectra, SpectraOptions};
    use tritium::clock::now_ms;
    let t0 = now_ms();
    let m = load(path)?;
    let load_s = (now_ms() - t0) / 1000.0;
    let opts = SpectraOptions { farms, layers, ..Default::default() };
    let show = !json && std::io::stderr().is_terminal();
    let t1 = now_ms();
    let s = model_spectra(&m, &opts, &mut |done, total| {
        if show {
            eprint!("\rspectra {done}/{total}");
        }
    })?;
    let secs = (now_ms() - t1) / 1000.0;
    if show {
        eprintln!();
    }
    let threads = rayon::current_num_threads();
    if json {
        return print_json(&json!({
            "model": path.display().to_string(), "farms": farms, "options": opts, "threads": threads,
            "n_matrices": s.len(), "seconds": secs, "load_seconds": load_s, "matrices": s,
        }));
    }
    print!(
        "{:>5} {:<5} {:>9} {:>8} {:>9} {:>7} {:>10} {:>11} {:>8} {:>10} {:>6}",
        "layer", "kind", "shape", "alpha", "alpha_hat", "D", "xmin", "spec_norm", "st_rank", "mp_edge", "spikes"
    );
    println!("{}", if farms { format!(" {:>11}", "farms_alpha") } else { String::new() });
    for x in &s {
        print!(
            "{:>5} {:<5} {:>9} {:>8.3} {:>9.3} {:>7.4} {:>10.4} {:>11.3} {:>8.2} {:>10.3} {:>6}",
            x.layer,
            x.kind.name(),
            format!("{}x{}", x.shape[0], x.shape[1]),
            x.alpha,
            x.alpha_hat,
            x.d,
            x.xmin,
            x.spectral_norm,
            x.stable_rank,
            x.mp_edge,
            x.spikes
        );
        println!("{}", x.farms.as_ref().map_or(String::new(), |f| format!(" {:>11.3}", f.alpha)));
    }
    println!("{} matrices in {secs:.2} s ({threads} threads; model load {load_s:.2} s)", s.len());
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn quantize(
    path: &std::path::Path,
    method: &str,
    calib: Option<PathBuf>,
    calib_tokens: usize,
    calib_block: usize,
    group: Option<usize>,
    out: &std::path::Path,
    json: bool,
) -> Result<()> {
    use tritium::convert::recipe::{quantize_model, QuantizeOptions, Recipe};
    let t0 = std::time::Instant::now();
    let m = Arc::new(load(path)?);
    let mut recipe = Recipe::parse(method)?;
    recipe.group = group;
    let mut opts = QuantizeOptions { calib_block, ..Default::default() };
    if recipe.needs_calibration() {
        let calib = calib.ok_or_else(|| {
            Error::InvalidArgument(
                "awq4 needs calibration text: --calib FILE (npm run fetch-corpus writes models/corpus/calib.txt)"
                    .into(),
            )
        })?;
        let text =
            std::fs::read_to_string(&calib).map_err(|e| Error::Io { path: calib.display().to_string(), source: e })?;
        let mut ids = m.tokenizer().encode(&text, false)?;
        ids.truncate(calib_tokens);
        opts.calib = ids;
    }
    let quiet = json;
    let bytes = quantize_model(m.clone(), &recipe, &opts, &mut |done, total, what| {
        if !quiet {
            eprint!("\r[{done}/{total}] {what:<40}");
        }
    })?;
    if !quiet {
        eprintln!();
    }
    let is_gguf = out.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
    // A model read from an AutoAWQ folder carries its tokenizer.json, not GGUF tokenizer metadata.
    let folder_tokenizer = m.gguf.get("tokenizer.ggml.model").is_none();
    if is_gguf && folder_tokenizer {
        return Err(Error::InvalidArgument(format!(
            "{} has no GGUF tokenizer metadata (it was read from a safetensors folder with tokenizer.json): \
             write an AutoAWQ folder instead (-o DIR)",
            path.display()
        )));
    }
    let q = Model::from_gguf_bytes_with(bytes, folder_tokenizer.then(|| m.tokenizer().clone()))?;
    let info = q.info();
    let written: u64 = if is_gguf {
        std::fs::write(out, q.bytes()).map_err(|e| Error::Io { path: out.display().to_string(), source: e })?;
        q.bytes().len() as u64
    } else {
        let files = tritium::model::awq_folder::model_to_awq_folder(&q, None)?;
        tritium::format::awq::write_folder(out, &files)?;
        files.iter().map(|(_, b)| b.len() as u64).sum()
    };
    let secs = t0.elapsed().as_secs_f64();
    if json {
        print_json(&json!({
            "output": out.display().to_string(),
            "format": if is_gguf { "gguf" } else { "autoawq" },
            "recipe": recipe.to_spec(),
            "group_size": tritium::convert::recipe::pick_group(&m, &recipe)?,
            "bytes": written,
            "weight_bytes": info.weight_bytes,
            "bits_per_weight": info.bits_per_weight,
            "tensor_types": info.tensor_types,
            "calibration_tokens": opts.calib.len(),
            "seconds": secs,
        }))
    } else {
        println!(
            "wrote {} ({} bytes, {:.3} bits per weight, {:?}) in {:.1} s",
            out.display(),
            written,
            info.bits_per_weight,
            info.tensor_types,
            secs
        );
        Ok(())
    }
}

fn parse_list<T>(what: &str, s: &str, f: impl Fn(&str) -> Option<T>) -> Result<Vec<T>> {
    s.split(',')
        .filter(|x| !x.trim().is_empty())
        .map(|x| f(x.trim()).ok_or_else(|| Error::InvalidArgument(format!("{what}: cannot parse '{x}'"))))
        .collect()
}

struct BenchOpts {
    iters: usize,
    tokens: usize,
    prompt_tokens: usize,
    tiles: Option<String>,
    peak_gbps: Option<f64>,
    json: bool,
}

fn bench(model: Option<PathBuf>, backend: &str, shapes: &str, batch: &str, types: &str, o: &BenchOpts) -> Result<()> {
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
        if let Some(ctx) = &gpu {
            let ctx_len = g.prompt_token_ids().len() + o.tokens + 1;
            let gm = pollster::block_on(tritium::backend::gpu::model::GpuModel::upload(ctx.clone(), &m, ctx_len))?;
            g = g.with_gpu(gm);
        }
        while g.step()?.is_some() {}
        let s = g.stats();
        e2e = json!({"model": p.display().to_string(), "prompt_tokens": s.prompt_tokens,
            "generated_tokens": s.generated_tokens, "prefill_tokens_per_s": s.prefill_tokens_per_s,
            "decode_tokens_per_s": s.tokens_per_s,
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
    }
    Ok(())
}
