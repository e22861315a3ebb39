//! The model families (docs/models.md): small random-weight GGUFs of each architecture, written
//! by tests/py/family_gguf.py, run by the CPU reference against llama.cpp's logits (stored in
//! tests/data/families/ by tests/py/family_ref_llamacpp.py) and by the GPU against the CPU; and
//! the loader's refusals (an unknown architecture, a tensor the model would not use, RoPE
//! scaling it cannot run).

use serde::Deserialize;
use tritium::backend::cpu::{exec, log_sum_exp};
use tritium::backend::gpu::model::GpuModel;
use tritium::backend::gpu::{GpuContext, GpuOptions};
use tritium::format::gguf::Value;
use tritium::model::synthetic::tiny_llama_writer;
use tritium::model::{KvCache, Model};

use crate::common;

const FAMILIES: &[&str] = &["bitnet", "gemma", "gemma2", "gemma3", "llama3", "qwen2", "qwen3", "phi3"];

#[derive(Deserialize)]
struct Reference {
    gguf_sha256: String,
    tokens: Vec<u32>,
    logits: Vec<Vec<f64>>,
}

fn family(name: &str) -> (Model, Reference) {
    let path = common::tmp_dir("families").join(format!("{name}.gguf"));
    common::run_py("family_gguf.py", &[name, path.to_str().unwrap()]);
    let bytes = std::fs::read(&path).unwrap();
    let r: Reference = serde_json::from_str(
        &std::fs::read_to_string(common::root().join(format!("tests/data/families/{name}.json"))).unwrap(),
    )
    .unwrap();
    let sha = sha256_hex(&path);
    assert_eq!(sha, r.gguf_sha256, "{name}: the generator wrote another file than the reference was made from");
    (Model::from_gguf_bytes(bytes).unwrap_or_else(|e| panic!("{name}: {e}")), r)
}

fn sha256_hex(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

/// Logits of every position of a fresh prefill.
fn cpu_logits(m: &Model, tokens: &[u32]) -> Vec<f32> {
    let mut cache = KvCache::new(&m.config);
    let hidden = exec::forward(m, &mut cache, tokens).unwrap();
    exec::logits(m, &hidden, tokens.len()).unwrap()
}

/// Log-probability of each next token under `logits` (`[n, vocab]`).
fn next_token_logprobs(logits: &[f64], vocab: usize, tokens: &[u32]) -> Vec<f64> {
    (0..tokens.len() - 1)
        .map(|t| {
            let row: Vec<f32> = logits[t * vocab..(t + 1) * vocab].iter().map(|&v| v as f32).collect();
            row[tokens[t + 1] as usize] as f64 - log_sum_exp(&row) as f64
        })
        .collect()
}

/// Every family's CPU forward against llama.cpp. Tolerance: llama.cpp computes GELU through an
/// f16 table and sums in another order; with f32 weights and an f32 KV cache the logits agree to
/// about 1e-3 (4e-3 after Gemma 3's six GELU layers at logits near 70), so 2e-2 on any logit and
/// 5e-3 nats on any next-token log-probability fail a wrong op (a missing bias, norm or scale
/// moves these logits by 0.1 or more) but not rounding.
#[test]
fn families_match_llama_cpp() {
    for name in FAMILIES {
        let (m, r) = family(name);
        let vocab = m.config.vocab_size;
        let ours = cpu_logits(&m, &r.tokens);
        let theirs: Vec<f64> = r.logits.concat();
        assert_eq!(ours.len(), theirs.len(), "{name}: logit count");
        let max = ours.iter().zip(&theirs).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
        let ours64: Vec<f64> = ours.iter().map(|&v| v as f64).collect();
        let (lp_a, lp_b) =
            (next_token_logprobs(&ours64, vocab, &r.tokens), next_token_logprobs(&theirs, vocab, &r.tokens));
        let nll = lp_a.iter().zip(&lp_b).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        eprintln!("{name}: max |logit diff| vs llama.cpp {max:.2e}, max |Δ log p(next)| {nll:.2e} nats");
        assert!(max <= 2e-2, "{name}: logits differ from llama.cpp by {max}");
        assert!(nll <= 5e-3, "{name}: next-token log-probabilities differ from llama.cpp by {nll} nats");
    }
}

/// Every family on the GPU (lavapipe) against the CPU reference: the last position's logits.
#[test]
fn families_gpu_match_cpu() {
    let ctx = GpuContext::new_blocking(&GpuOptions::default())
        .unwrap_or_else(|e| panic!("a WebGPU adapter is required (install mesa-vulkan-drivers): {e}"));
    for name in FAMILIES {
        let (m, r) = family(name);
        let vocab = m.config.vocab_size;
        let cpu = cpu_logits(&m, &r.tokens);
        let cpu_last = &cpu[cpu.len() - vocab..];
        let mut g = pollster::block_on(GpuModel::upload(ctx.clone(), &m, 64)).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Prefill all but the last token, then decode it: both GPU paths run.
        pollster::block_on(g.logits(&r.tokens[..r.tokens.len() - 1])).unwrap();
        let gpu = pollster::block_on(g.logits(&r.tokens[r.tokens.len() - 1..])).unwrap();
        let max = gpu.iter().zip(cpu_last).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        eprintln!("{name}: GPU vs CPU max |logit diff| {max:.2e}");
        assert!(max <= 1e-3, "{name}: GPU logits differ from the CPU by {max}");
    }
}

/// The tiny synthetic families (the models the browser test runs in headless Chrome): every
/// family's ops, quantized weights of several formats, GPU against CPU natively.
#[test]
fn tiny_families_gpu_match_cpu() {
    use tritium::model::synthetic::{tiny_family_gguf, TINY_FAMILIES};
    let ctx = GpuContext::new_blocking(&GpuOptions::default())
        .unwrap_or_else(|e| panic!("a WebGPU adapter is required (install mesa-vulkan-drivers): {e}"));
    let tokens: Vec<u32> = vec![72, 101, 108, 108, 111, 44, 32, 256, 257, 258];
    for arch in TINY_FAMILIES {
        let m = Model::from_gguf_bytes(tiny_family_gguf(arch, 5)).unwrap_or_else(|e| panic!("{arch}: {e}"));
        assert_eq!(m.config.architecture, *arch);
        let (prefill, decode) =
            pollster::block_on(tritium::backend::gpu::selftest::check_forward(&ctx, &m, &tokens, 5)).unwrap();
        eprintln!("{arch}: GPU vs CPU max |logit diff| prefill {prefill:.1e}, decode {decode:.1e}");
        assert!(prefill < 1e-3 && decode < 1e-3, "{arch}: {prefill} / {decode}");
    }
}

/// Dispatches a decoded token costs (`tritium bench --json` reports them for a model) follow the
/// graph: Qwen 2's layer adds one bias dispatch per q, k and v to Llama's, Gemma 3's its two head
/// norms and two post-norms; the token is the embedding, the layers, the final norm, the head and
/// the argmax (plus Gemma's embedding scale).
#[test]
fn dispatches_per_token_follow_the_graph() {
    use tritium::model::synthetic::tiny_family_gguf;
    let ctx = GpuContext::new_blocking(&GpuOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let count = |arch: &str| {
        let m = Model::from_gguf_bytes(tiny_family_gguf(arch, 5)).unwrap();
        let g = pollster::block_on(GpuModel::upload(ctx.clone(), &m, 16)).unwrap();
        (g.dispatches_per_layer(0, 1), g.dispatches_per_step(1), m.config.n_layers)
    };
    let (llama, llama_total, layers) = count("llama");
    let (qwen2, _, _) = count("qwen2");
    let (gemma3, gemma3_total, _) = count("gemma3");
    eprintln!("dispatches per layer: llama {llama}, qwen2 {qwen2}, gemma3 {gemma3}; per token llama {llama_total}");
    assert_eq!(qwen2, llama + 3, "Qwen 2 adds one bias dispatch per q, k, v");
    assert_eq!(gemma3, llama + 2 + 2, "Gemma 3 adds 2 head norms and 2 post-norms");
    assert!(llama_total > layers * llama && llama_total <= layers * llama + 8, "{llama_total}");
    assert!(gemma3_total > llama_total, "Gemma 3 also scales its embeddings");
}

fn load_err(bytes: Vec<u8>) -> tritium::Error {
    match Model::from_gguf_bytes(bytes) {
        Ok(_) => panic!("loaded"),
        Err(e) => e,
    }
}

#[test]
fn unknown_architecture_names_the_supported_ones() {
    let mut w = tiny_llama_writer(3);
    w.set("general.architecture", Value::String("mamba".into()));
    let e = load_err(w.to_bytes());
    assert_eq!(e.code(), "E_UNSUPPORTED_MODEL");
    let msg = e.to_string();
    assert!(
        msg.contains("'mamba'") && msg.contains("qwen2") && msg.contains("gemma3") && msg.contains("phi3"),
        "{msg}"
    );
}

#[test]
fn a_tensor_the_model_would_not_use_is_refused_by_name() {
    let mut w = tiny_llama_writer(3);
    let d = tritium::model::synthetic::TINY_DIM;
    let bytes: Vec<u8> = (0..d).flat_map(|_| 0.5f32.to_le_bytes()).collect();
    w.add_tensor("blk.1.attn_q.bias", &[d as u64], tritium::quant::GgmlType::F32, bytes).unwrap();
    let e = load_err(w.to_bytes());
    assert_eq!(e.code(), "E_UNSUPPORTED_MODEL");
    assert!(e.to_string().contains("blk.1.attn_q.bias"), "{e}");
}

#[test]
fn rope_scaling_it_cannot_run_is_refused() {
    let mut w = tiny_llama_writer(3);
    w.set("llama.rope.scaling.type", Value::String("yarn".into()));
    w.set("llama.rope.scaling.factor", Value::F32(4.0));
    let e = load_err(w.to_bytes());
    assert_eq!(e.code(), "E_UNSUPPORTED_MODEL");
    assert!(e.to_string().contains("yarn"), "{e}");
}

#[test]
fn sliding_window_models_refuse_mod_pruning() {
    let (m, r) = family("gemma2");
    let opts = tritium::pmod::ModOptions::parse("shiftedcos:0.85:0.15:0.5:random").unwrap();
    let cfg = tritium::pmod::ModConfig::new(&m, &opts, None).unwrap();
    let e = tritium::pmod::ModPlan::new(&m.config, &cfg, &r.tokens, 0, 64).unwrap_err();
    assert_eq!(e.code(), "E_UNSUPPORTED_MODEL");
    assert!(e.to_string().contains("sliding-window"), "{e}");
}

/// Qwen 2 as an AutoAWQ folder (Qwen2ForCausalLM, q/k/v biases, HF row order): the family model
/// RTN-quantized to AWQ int4, saved as a folder, loaded back: same config, same logits, and the
/// folder holds the biases and config.json names the architecture.
#[test]
fn qwen2_autoawq_folder_round_trip() {
    let (m, r) = family("qwen2");
    let q = crate::awq_folder::awq_model(&m, 32);
    let want = exec::forward_logits(&q, &r.tokens).unwrap();
    let files: std::collections::BTreeMap<String, Vec<u8>> =
        tritium::model::awq_folder::model_to_awq_folder(&q, None).unwrap().into_iter().collect();
    let config: serde_json::Value = serde_json::from_slice(&files["config.json"]).unwrap();
    assert_eq!(config["architectures"][0], "Qwen2ForCausalLM");
    assert_eq!(config["model_type"], "qwen2");
    let st = tritium::format::awq::Checkpoint::open(&files).unwrap();
    for p in ["q_proj", "k_proj", "v_proj"] {
        assert!(st.tensor(&format!("model.layers.1.self_attn.{p}.bias")).is_some(), "{p} bias missing");
    }
    let back = tritium::model::awq_folder::load_awq_folder(&files).unwrap();
    assert_eq!(back.config, q.config);
    assert_eq!(back.config.architecture, "qwen2");
    let got = exec::forward_logits(&back, &r.tokens).unwrap();
    let max = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(max <= 1e-6, "Qwen 2 folder round trip changed the logits by {max}");
    // Its quantization error against the f32 model is AWQ int4's, not a wrong layout's.
    let f32_logits = exec::forward_logits(&m, &r.tokens).unwrap();
    let err = want.iter().zip(&f32_logits).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let scale = f32_logits.iter().fold(0.0f32, |a, b| a.max(b.abs()));
    assert!(err < 0.15 * scale, "AWQ int4 Qwen 2 differs from f32 by {err} (logits up to {scale})");
}

/// Phi-3's fused tensors survive a save: unchanged parts are fused again (the file keeps
/// `attn_qkv` and the gate+up `ffn_up`), parts quantized to different types are written under
/// their own names; both reload to the logits the replacements give.
#[test]
fn phi3_fused_tensors_save_and_reload() {
    use tritium::model::save::{to_gguf, Replacements};
    use tritium::quant::GgmlType;
    let (m, r) = family("phi3");
    let want = exec::forward_logits(&m, &r.tokens).unwrap();
    let same = Model::from_gguf_bytes(to_gguf(&m, &Replacements::default()).unwrap()).unwrap();
    assert!(same.gguf.tensor("blk.0.attn_qkv.weight").is_some() && same.gguf.tensor("blk.0.attn_q.weight").is_none());
    assert_eq!(exec::forward_logits(&same, &r.tokens).unwrap(), want);
    // Layer 1's q part as Q8_0: q, k, v are saved apart.
    let wq = &m.layers[1].wq;
    let dense = tritium::quant::dequantize_vec(wq.ty, m.matrix(wq).data, wq.rows * wq.cols).unwrap();
    let mut rep = Replacements::default();
    rep.linears
        .insert("blk.1.attn_q".into(), (GgmlType::Q8_0, tritium::quant::quantize(GgmlType::Q8_0, &dense).unwrap()));
    let split = Model::from_gguf_bytes(to_gguf(&m, &rep).unwrap()).unwrap();
    assert!(split.gguf.tensor("blk.1.attn_qkv.weight").is_none());
    assert_eq!(split.layers[1].wq.ty, GgmlType::Q8_0);
    assert!(split.gguf.tensor("blk.0.attn_qkv.weight").is_some());
    let got = exec::forward_logits(&split, &r.tokens).unwrap();
    let max = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(max > 0.0 && max < 0.1, "Q8_0 q projection moved the logits by {max}");
}

/// bitnet.cpp's I2_S tensors: the codes and the per-tensor scale come back from the TQ2_0
/// repacking as `t · f16(scale)`; a row that is not whole 256-weight blocks and code 3 are
/// refused; the tiny `bitnet-b1.58` model stores its `ffn_down` as I2_S and loads it as TQ2_0.
#[test]
fn i2s_tensors_repack_into_tq2_0() {
    use tritium::quant::{self, i2s, GgmlType};
    let (rows, cols) = (3, 512);
    let trits: Vec<i8> = (0..rows * cols).map(|i| ((i * 7 + i / 5) % 3) as i8 - 1).collect();
    let scale = 0.3712f32;
    let data = i2s::encode(&trits, scale);
    assert_eq!(data.len() as u64, GgmlType::I2_S.tensor_bytes((rows * cols) as u64).unwrap());
    // The layout: weight 32·g + p of a block in byte p at bits 6 − 2g, code t + 1.
    assert_eq!((data[5] >> 4) & 3, (trits[32 + 5] + 1) as u8);
    let tq = i2s::to_tq2_0(&data, rows, cols).unwrap();
    let back = quant::dequantize_vec(GgmlType::TQ2_0, &tq, rows * cols).unwrap();
    let s16 = half::f16::from_f32(scale).to_f32();
    for (i, (&t, &w)) in trits.iter().zip(&back).enumerate() {
        assert_eq!(w, t as f32 * s16, "weight {i}");
    }
    assert!(i2s::to_tq2_0(&i2s::encode(&trits[..384], scale), 3, 128).is_err());
    let mut bad = data.clone();
    bad[7] |= 0xc0;
    assert!(i2s::to_tq2_0(&bad, rows, cols).unwrap_err().to_string().contains("code 3"));
    let m = Model::from_gguf_bytes(tritium::model::synthetic::tiny_family_gguf("bitnet-b1.58", 5)).unwrap();
    assert_eq!(m.gguf.tensor("blk.0.ffn_down.weight").unwrap().ggml_type, GgmlType::I2_S);
    assert_eq!(m.layers[0].w_down.ty, GgmlType::TQ2_0);
}
