//! Browser tests: the Rust core compiled to wasm32 and run in headless Chrome by
//! wasm-bindgen-test-runner (ChromeDriver, options from webdriver.json in the working directory).
//!
//!   CHROMEDRIVER=/usr/bin/chromedriver \
//!     cargo test --target wasm32-unknown-unknown --test browser --no-default-features
//!
//! (or `bash pkg-scripts/test-browser`). Natively this target compiles to an empty test binary.
//!
//! Covered: GGUF parsing of a synthetic file (every metadata value type, nested arrays, several
//! tensor types, views not copies), bad input (bad magic, unsupported version, truncation at every
//! length, out-of-bounds data, unknown tensor type) as typed errors both in Rust and as JS `Error`s
//! with a `code`, the tokenizer round trip on the tiny synthetic model, the tiny model's forward
//! pass against the native golden logits (tests/data/tiny_logits.json, |Δ| ≤ 1e-5), and generation
//! through the JS-facing classes.
#![cfg(target_arch = "wasm32")]

use std::sync::Arc;

use tritium::format::gguf::{GgufFile, GgufWriter, Value, ValueType};
use tritium::model::synthetic::tiny_llama_gguf;
use tritium::model::Model;
use tritium::quant::{self, GgmlType};
use tritium::session::{GenerateOptions, Generation};
use tritium::wasm::{WasmModel, WasmModelLoader};
use tritium::Error;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

// ---------------------------------------------------------------------------------------------
// helpers

fn synthetic_gguf() -> Vec<u8> {
    let mut w = GgufWriter::new();
    let s = |v: &str| Value::String(v.to_string());
    w.set("general.architecture", s("test"));
    w.set("general.alignment", Value::U32(64));
    w.set("t.u8", Value::U8(200));
    w.set("t.i8", Value::I8(-100));
    w.set("t.u16", Value::U16(60_000));
    w.set("t.i16", Value::I16(-30_000));
    w.set("t.u32", Value::U32(4_000_000_000));
    w.set("t.i32", Value::I32(-2_000_000_000));
    w.set("t.f32", Value::F32(1.5));
    w.set("t.bool", Value::Bool(true));
    w.set("t.string", s("héllo, wörld 🙂"));
    w.set("t.u64", Value::U64(u64::MAX - 1));
    w.set("t.i64", Value::I64(i64::MIN + 1));
    w.set("t.f64", Value::F64(-2.25e-300));
    w.set("t.empty", Value::Array(ValueType::U32, vec![]));
    w.set("t.strings", Value::Array(ValueType::String, vec![s("a"), s(""), s("ccc")]));
    w.set(
        "t.nested",
        Value::Array(
            ValueType::Array,
            vec![
                Value::Array(ValueType::I32, vec![Value::I32(1), Value::I32(-2)]),
                Value::Array(ValueType::Array, vec![Value::Array(ValueType::F32, vec![Value::F32(0.5)])]),
                Value::Array(ValueType::String, vec![s("deep")]),
            ],
        ),
    );
    let x: Vec<f32> = (0..64 * 3).map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0).collect();
    for (name, ty) in
        [("w.f32", GgmlType::F32), ("w.f16", GgmlType::F16), ("w.q8_0", GgmlType::Q8_0), ("w.q4_1", GgmlType::Q4_1)]
    {
        let data = quant::quantize(ty, &x).expect("quantize");
        w.add_tensor(name, &[64, 3], ty, data).expect("add_tensor");
    }
    w.add_tensor("v.f32", &[5], GgmlType::F32, bytemuck_f32(&[1.0, 2.0, 3.0, 4.0, 5.0])).expect("add_tensor");
    w.to_bytes()
}

fn bytemuck_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn golden() -> (u64, Vec<u32>, Vec<f32>) {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../data/tiny_logits.json")).expect("tests/data/tiny_logits.json is JSON");
    let seed = v["seed"].as_u64().expect("seed");
    let tokens = v["tokens"].as_array().expect("tokens").iter().map(|t| t.as_u64().expect("token") as u32).collect();
    let logits = v["logits"].as_array().expect("logits").iter().map(|t| t.as_f64().expect("logit") as f32).collect();
    (seed, tokens, logits)
}

/// The `code` and `message` of a JS error value.
fn js_error_parts(e: &JsValue) -> (String, String) {
    let err: &js_sys::Error = e.dyn_ref().expect("a JS Error object");
    let code =
        js_sys::Reflect::get(e, &JsValue::from_str("code")).expect("code property").as_string().expect("string code");
    (code, String::from(err.message()))
}

fn expect_js_code<T>(r: Result<T, JsValue>, code: &str) -> String {
    match r {
        Ok(_) => panic!("expected an error with code {code}"),
        Err(e) => {
            let (c, msg) = js_error_parts(&e);
            assert_eq!(c, code, "error message: {msg}");
            assert!(!msg.is_empty());
            msg
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GGUF

#[wasm_bindgen_test]
fn gguf_parses_every_value_type_and_tensor_views() {
    let bytes = synthetic_gguf();
    let g = GgufFile::parse(&bytes).expect("parse");
    assert_eq!(g.version, 3);
    assert_eq!(g.alignment, 64);
    assert_eq!(g.data_offset % 64, 0);
    assert_eq!(g.get("t.u8"), Some(&Value::U8(200)));
    assert_eq!(g.get("t.i8"), Some(&Value::I8(-100)));
    assert_eq!(g.get("t.u16"), Some(&Value::U16(60_000)));
    assert_eq!(g.get("t.i16"), Some(&Value::I16(-30_000)));
    assert_eq!(g.get("t.u32"), Some(&Value::U32(4_000_000_000)));
    assert_eq!(g.get("t.i32"), Some(&Value::I32(-2_000_000_000)));
    assert_eq!(g.get("t.f32"), Some(&Value::F32(1.5)));
    assert_eq!(g.get("t.bool"), Some(&Value::Bool(true)));
    assert_eq!(g.get_str("t.string").expect("str"), Some("héllo, wörld 🙂"));
    assert_eq!(g.get("t.u64"), Some(&Value::U64(u64::MAX - 1)));
    assert_eq!(g.get("t.i64"), Some(&Value::I64(i64::MIN + 1)));
    assert_eq!(g.get("t.f64"), Some(&Value::F64(-2.25e-300)));
    assert_eq!(g.get("t.empty"), Some(&Value::Array(ValueType::U32, vec![])));
    let strings = g.get_array("t.strings").expect("array").expect("present");
    assert_eq!(strings.iter().map(|v| v.as_str().unwrap_or("?")).collect::<Vec<_>>(), ["a", "", "ccc"]);
    let nested = g.get_array("t.nested").expect("array").expect("present");
    assert_eq!(nested.len(), 3);
    assert_eq!(nested[0], Value::Array(ValueType::I32, vec![Value::I32(1), Value::I32(-2)]));
    assert_eq!(nested[1], Value::Array(ValueType::Array, vec![Value::Array(ValueType::F32, vec![Value::F32(0.5)])]));
    assert_eq!(nested[2].as_array().expect("inner")[0].as_str(), Some("deep"));
    assert!(g.get("missing.key").is_none());
    assert!(matches!(g.require("missing.key"), Err(Error::MissingKey { .. })));

    assert_eq!(g.tensors.len(), 5);
    let base = bytes.as_ptr() as usize;
    for t in &g.tensors {
        assert_eq!(t.abs_offset % 64, 0, "{} is aligned", t.name);
        let view = g.tensor_data(&bytes, t).expect("view");
        // a view into the same buffer, not a copy
        assert_eq!(view.as_ptr() as usize, base + t.abs_offset as usize);
        assert_eq!(view.len() as u64, t.n_bytes);
    }
    let w = g.require_tensor("w.q4_1").expect("tensor");
    assert_eq!(w.ggml_type, GgmlType::Q4_1);
    assert_eq!(w.shape(), vec![3, 64]);
    let x: Vec<f32> = (0..64 * 3).map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0).collect();
    for name in ["w.f32", "w.f16", "w.q8_0", "w.q4_1"] {
        let t = g.require_tensor(name).expect("tensor");
        let y =
            quant::dequantize_vec(t.ggml_type, g.tensor_data(&bytes, t).expect("view"), 64 * 3).expect("dequantize");
        let tol = match t.ggml_type {
            GgmlType::F32 => 0.0,
            GgmlType::F16 => 2e-3,
            GgmlType::Q8_0 => 0.03,
            _ => 0.4,
        };
        let err = x.iter().zip(&y).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(err <= tol, "{name}: max error {err} > {tol}");
    }
}

#[wasm_bindgen_test]
fn gguf_bad_magic_is_a_typed_error() {
    let mut bytes = synthetic_gguf();
    bytes[..4].copy_from_slice(b"GGML");
    assert!(matches!(GgufFile::parse(&bytes), Err(Error::BadMagic { .. })));
    assert!(matches!(Model::from_gguf_bytes(bytes.clone()), Err(Error::BadMagic { .. })));
    let msg = expect_js_code(WasmModel::from_bytes(bytes), "E_BAD_MAGIC");
    assert!(msg.contains("GGUF"), "{msg}");
}

#[wasm_bindgen_test]
fn gguf_unsupported_version_is_a_typed_error() {
    let mut bytes = synthetic_gguf();
    bytes[4..8].copy_from_slice(&7u32.to_le_bytes());
    assert!(matches!(GgufFile::parse(&bytes), Err(Error::UnsupportedVersion { version: 7 })));
    expect_js_code(WasmModel::from_bytes(bytes), "E_UNSUPPORTED_VERSION");
}

#[wasm_bindgen_test]
fn gguf_truncated_at_every_length_is_an_error_never_a_panic() {
    let bytes = synthetic_gguf();
    let g = GgufFile::parse(&bytes).expect("parse");
    let header_end = g.data_offset as usize;
    for len in 0..bytes.len() {
        let r = GgufFile::parse(&bytes[..len]);
        assert!(r.is_err(), "parsing the first {len} of {} bytes must fail", bytes.len());
        if len < header_end.min(bytes.len()) && len >= 4 {
            // inside the header: the file ends before a structure it promised
            match r {
                Err(Error::Truncated { .. }) | Err(Error::OutOfBounds { .. }) => {}
                Err(e) => {
                    // cut inside the magic/version/counts is still "truncated"
                    assert_eq!(e.code(), "E_TRUNCATED", "len {len}: {e}");
                }
                Ok(_) => unreachable!(),
            }
        }
    }
    expect_js_code(WasmModel::from_bytes(bytes[..10].to_vec()), "E_TRUNCATED");
    // cut inside the tensor data: the data of the last tensor is out of bounds
    let r = GgufFile::parse(&bytes[..bytes.len() - 4]);
    let code = r.err().map(|e| e.code()).unwrap_or("ok");
    assert!(code == "E_OUT_OF_BOUNDS" || code == "E_TRUNCATED", "got {code}");
}

#[wasm_bindgen_test]
fn gguf_unknown_tensor_type_names_tensor_and_type() {
    let bytes = synthetic_gguf();
    let g = GgufFile::parse(&bytes).expect("parse");
    // Find the type field of the first tensor info: it follows name, n_dims, dims.
    let t = &g.tensors[0];
    let name = t.name.as_bytes();
    let pos = bytes.windows(name.len()).position(|w| w == name).expect("tensor name in header");
    let type_pos = pos + name.len() + 4 + 8 * t.dims.len();
    let mut bad = bytes.clone();
    bad[type_pos..type_pos + 4].copy_from_slice(&16u32.to_le_bytes()); // IQ2_XXS: not supported
    match GgufFile::parse(&bad) {
        Err(Error::UnsupportedTensorType { tensor, type_id, .. }) => {
            assert_eq!(tensor, t.name);
            assert_eq!(type_id, 16);
        }
        other => panic!("expected UnsupportedTensorType, got {other:?}"),
    }
    let msg = expect_js_code(WasmModel::from_bytes(bad), "E_UNSUPPORTED_TENSOR_TYPE");
    assert!(msg.contains(&t.name) && msg.contains("IQ2_XXS"), "{msg}");
}

#[wasm_bindgen_test]
fn model_loader_streams_chunks_and_reports_errors() {
    let bytes = tiny_llama_gguf(7);
    let mut loader = WasmModelLoader::new(Some(bytes.len() as f64)).expect("loader");
    for chunk in bytes.chunks(1000) {
        loader.push(chunk).expect("push");
    }
    assert_eq!(loader.length(), bytes.len() as f64);
    let m = loader.finish().expect("tiny model loads");
    assert_eq!(m.model().config.n_layers, 2);
    let info = m.info().expect("info");
    let config = js_sys::Reflect::get(&info, &JsValue::from_str("config")).expect("config");
    let arch = js_sys::Reflect::get(&config, &JsValue::from_str("architecture")).expect("architecture");
    assert_eq!(arch.as_string().as_deref(), Some("llama"));

    // a model missing a metadata key it needs
    let mut loader = WasmModelLoader::new(None).expect("loader");
    loader.push(&synthetic_gguf()).expect("push");
    let r = loader.finish();
    assert!(r.is_err());
    let (code, msg) = js_error_parts(&r.err().expect("err"));
    assert!(code.starts_with("E_"), "{code}: {msg}");
}

// ---------------------------------------------------------------------------------------------
// tokenizer and model

#[wasm_bindgen_test]
fn tokenizer_round_trip_on_the_tiny_model() {
    let model = Model::from_gguf_bytes(tiny_llama_gguf(1)).expect("tiny model");
    let tok = model.tokenizer();
    for text in [
        "the theater in the attic",
        "Hello, world! 1234567 + 89 = ?",
        "  leading and   inner   spaces\n\ttabs\r\n",
        "Unicode: héllo wörld — ½ ∑ 日本語 🙂👍🏽",
        "",
    ] {
        let ids = tok.encode(text, false).expect("encode");
        assert_eq!(tok.decode(&ids).expect("decode"), text, "round trip of {text:?} via {ids:?}");
    }
    // merges are used: " the" is one token, not four bytes
    let ids = tok.encode(" the", false).expect("encode");
    assert_eq!(ids.len(), 1, "{ids:?}");
    // special tokens in the text become their single ids
    let ids = tok.encode("<|im_start|>user", false).expect("encode");
    assert_eq!(Some(ids[0]), tok.token_id("<|im_start|>"));
    // an out-of-range id is an error, not a panic
    assert!(matches!(tok.decode(&[1_000_000]), Err(Error::Tokenizer(_))));
    let js = WasmModel::from_bytes(tiny_llama_gguf(1)).expect("model");
    let ids = js.encode("the theater", false).expect("encode");
    assert_eq!(js.decode(&ids).expect("decode"), "the theater");
    expect_js_code(js.decode(&[u32::MAX]), "E_TOKENIZER");
}

#[wasm_bindgen_test]
fn tiny_model_forward_matches_native_golden_logits() {
    let (seed, tokens, want) = golden();
    let model = Model::from_gguf_bytes(tiny_llama_gguf(seed)).expect("tiny model");
    let got = tritium::backend::cpu::exec::forward_logits(&model, &tokens).expect("forward");
    assert_eq!(got.len(), want.len(), "vocabulary size");
    let mut worst = (0usize, 0.0f32);
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        let d = (a - b).abs();
        if d > worst.1 || d.is_nan() {
            worst = (i, d);
        }
    }
    assert!(
        worst.1 <= 1e-5,
        "logit {} differs by {} (wasm {} vs native {})",
        worst.0,
        worst.1,
        got[worst.0],
        want[worst.0]
    );
    // and the same through the JS-facing class
    let js = WasmModel::from_bytes(tiny_llama_gguf(seed)).expect("model");
    let got_js = js.forward_logits(&tokens).expect("forward");
    assert_eq!(got_js, got);
}

#[wasm_bindgen_test]
fn generation_is_deterministic_and_stops_at_max_tokens() {
    let model = Arc::new(Model::from_gguf_bytes(tiny_llama_gguf(3)).expect("tiny model"));
    let opts = GenerateOptions { max_tokens: 6, temperature: 0.0, ..Default::default() };
    let run = |opts: &GenerateOptions| {
        let mut g = Generation::new(Arc::clone(&model), "the theater", opts).expect("generation");
        let mut text = String::new();
        while let Some(piece) = g.step().expect("step") {
            text.push_str(&piece);
        }
        (text, g.token_ids().to_vec(), g.stats())
    };
    let (t1, ids1, stats) = run(&opts);
    let (t2, ids2, _) = run(&opts);
    assert_eq!((&t1, &ids1), (&t2, &ids2), "greedy is deterministic");
    assert!(!ids1.is_empty() && ids1.len() <= 6);
    assert_eq!(stats.generated_tokens, ids1.len());
    assert!(stats.prompt_tokens > 0);

    let sampled =
        GenerateOptions { max_tokens: 6, temperature: 0.9, top_k: 20, top_p: 0.9, seed: 42, ..Default::default() };
    assert_eq!(run(&sampled).1, run(&sampled).1, "same seed, same tokens");

    // through the JS-facing classes, with options as a JS object
    let js = WasmModel::from_bytes(tiny_llama_gguf(3)).expect("model");
    let o = js_sys::JSON::parse(r#"{"maxTokens":6,"temperature":0}"#).expect("json");
    let mut g = js.generate("the theater", o).expect("generate");
    let mut text = String::new();
    while let Some(piece) = g.step().expect("step") {
        text.push_str(&piece);
    }
    assert_eq!(text, t1);
    assert_eq!(g.token_ids().ok(), Some(ids1.clone()));
    assert_eq!(g.is_finished().ok(), Some(true));
    let stats = g.stats().expect("stats");
    let n = js_sys::Reflect::get(&stats, &JsValue::from_str("generated_tokens")).expect("field").as_f64();
    assert_eq!(n, Some(ids1.len() as f64));

    let bad = js_sys::JSON::parse(r#"{"maxTokens":"many"}"#).expect("json");
    expect_js_code(js.generate("x", bad), "E_INVALID_ARGUMENT");
    expect_js_code(js.generate_from_ids(vec![], JsValue::UNDEFINED), "E_INVALID_ARGUMENT");
}

/// The WebGPU kernels in the browser (SwiftShader in headless Chrome): the same checks the native
/// tests run on lavapipe (tritium::backend::gpu::selftest).
#[wasm_bindgen_test]
async fn webgpu_matmul_every_format_matches_cpu() {
    use tritium::backend::gpu::{selftest, GpuContext, GpuOptions};
    let ctx = GpuContext::new(&GpuOptions::default())
        .await
        .unwrap_or_else(|e| panic!("headless Chrome runs with --enable-unsafe-webgpu, so an adapter is required: {e}"));
    let report = selftest::check_matmul_formats(&ctx, 5).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.len(), tritium::quant::MATMUL_TYPES.len());
    for c in &report {
        web_sys::console::log_1(&format!("webgpu {}: max rel vs cpu {:.1e}", c.format, c.max_rel_vs_cpu).into());
    }
}

/// shaders/quantize_i8.wgsl (MXINT8) in the browser: scales, codes and sums equal the CPU's
/// `quantize_i8` bit for bit on random and edge blocks (the body the native test runs).
#[wasm_bindgen_test]
async fn webgpu_mxint8_codes_equal_the_cpu_bit_for_bit() {
    use tritium::backend::gpu::{selftest, GpuContext, GpuOptions};
    let ctx = GpuContext::new(&GpuOptions::default()).await.unwrap_or_else(|e| panic!("WebGPU adapter: {e}"));
    let blocks = selftest::check_quantize_i8(&ctx, 3).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(blocks >= 60, "only {blocks} blocks checked");
}

#[wasm_bindgen_test]
async fn webgpu_sampling_matches_the_cpu_sampler() {
    use tritium::backend::gpu::{selftest, GpuContext, GpuOptions};
    let ctx = GpuContext::new(&GpuOptions::default()).await.unwrap_or_else(|e| panic!("WebGPU adapter: {e}"));
    let (cases, equal) = selftest::check_sampling(&ctx, 7).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((cases, equal), (36, 36));
}

/// Every family's graph ops (biases, per-head norms, post-norms, soft-caps, sliding windows,
/// RoPE over halves, GeGLU, the embedding scale, fused Phi-3 tensors) on WebGPU in the browser
/// against the CPU reference, prefill and decode.
#[wasm_bindgen_test]
async fn webgpu_every_family_matches_cpu() {
    use tritium::backend::gpu::{selftest, GpuContext, GpuOptions};
    use tritium::model::synthetic::{tiny_family_gguf, TINY_FAMILIES};
    let ctx = GpuContext::new(&GpuOptions::default()).await.unwrap_or_else(|e| panic!("WebGPU adapter: {e}"));
    let tokens: Vec<u32> = vec![72, 101, 108, 108, 111, 44, 32, 256, 257, 258];
    for arch in TINY_FAMILIES {
        let m = Model::from_gguf_bytes(tiny_family_gguf(arch, 5)).unwrap_or_else(|e| panic!("{arch}: {e}"));
        let (prefill, decode) =
            selftest::check_forward(&ctx, &m, &tokens, 5).await.unwrap_or_else(|e| panic!("{arch}: {e}"));
        web_sys::console::log_1(&format!("{arch}: GPU vs CPU {prefill:.1e} / {decode:.1e}").into());
        assert!(prefill < 1e-3 && decode < 1e-3, "{arch}: max |gpu - cpu| logit = {prefill} / {decode}");
    }
}

#[wasm_bindgen_test]
async fn webgpu_tiny_model_forward_matches_cpu() {
    use tritium::backend::gpu::{selftest, GpuContext, GpuOptions};
    let (seed, tokens, _) = golden();
    // The default context, and the hardware GPUs' int8 tiles forced (decode quantizes the input
    // in the workgroup: the fused kernel; prefill reads the separate pass's blocks) where the
    // browser's WGSL has dot4I8Packed.
    let hw_i8 = tritium::backend::gpu::kernels::tiles_i8_for(tritium::quant::GgmlType::Q4_1, false);
    // Where the browser's WGSL has dot4I8Packed (Chromium since 123; Chromium 156 on SwiftShader
    // does), the int8 context must use it: never a silent fall-back to the f32 kernels.
    let (browser_has_it, chrome) = wgsl_has_packed_4x8_dot();
    if chrome.is_some_and(|v| v >= 123) {
        assert!(browser_has_it, "Chromium {chrome:?} lists no packed_4x8_integer_dot_product in wgslLanguageFeatures");
    }
    for opts in [GpuOptions::default(), GpuOptions { int8: true, tiles: hw_i8, ..Default::default() }] {
        let ctx = GpuContext::new(&opts).await.unwrap_or_else(|e| panic!("WebGPU adapter: {e}"));
        assert_eq!(ctx.caps.int8_dot, browser_has_it, "caps.int8_dot vs navigator.gpu.wgslLanguageFeatures");
        if opts.int8 && !ctx.caps.int8 {
            assert!(!browser_has_it, "int8 was asked for and the browser has dot4I8Packed, but the context is f32");
            web_sys::console::log_1(&"no packed_4x8_integer_dot_product: the int8 pass is the f32 one".into());
        }
        // The CPU reference takes int8 activations when the context's kernels do.
        let mut m = Model::from_gguf_bytes(tiny_llama_gguf(seed)).unwrap();
        m.i8_activations = ctx.caps.int8;
        let (prefill, decode) = selftest::check_forward(&ctx, &m, &tokens, 5).await.unwrap_or_else(|e| panic!("{e}"));
        let what = if ctx.caps.int8 { "int8, fused decode" } else { "f32" };
        assert!(prefill < 1e-3, "prefill ({what}): max |gpu - cpu| logit = {prefill}");
        assert!(decode < 1e-3, "decode ({what}): max |gpu - cpu| logit = {decode}");
        if ctx.caps.int8 {
            // The int8 tiles really ran: the GPU's logits are the int8 CPU reference's, far from
            // the f32 CPU reference's (an f32 kernel would be within 1e-3 of those instead).
            let tile = tritium::backend::gpu::kernels::effective_tile(
                ctx.tiles_for(GgmlType::Q4_1).decode,
                GgmlType::Q4_1,
                64,
            );
            assert!(tile.i8, "the int8 context picked the f32 decode tile {}", tile.name());
            m.i8_activations = false;
            let (p32, d32) = selftest::check_forward(&ctx, &m, &tokens, 5).await.unwrap_or_else(|e| panic!("{e}"));
            web_sys::console::log_1(
                &format!("webgpu int8: vs int8 CPU {prefill:.1e} / {decode:.1e}, vs f32 CPU {p32:.1e} / {d32:.1e}")
                    .into(),
            );
            assert!(
                p32 > 1e-3 && p32 > 10.0 * prefill && d32 > 10.0 * decode,
                "int8 GPU logits are as close to the f32 CPU's ({p32:e} / {d32:e}) as to the int8 CPU's \
                 ({prefill:e} / {decode:e}): the int8 kernels did not run"
            );
        }
    }
}

/// Whether `navigator.gpu.wgslLanguageFeatures` lists packed_4x8_integer_dot_product, and the
/// Chromium major version from the user agent (None in another browser).
fn wgsl_has_packed_4x8_dot() -> (bool, Option<u32>) {
    use js_sys::Reflect;
    let global = js_sys::global();
    let navigator = Reflect::get(&global, &"navigator".into()).expect("navigator");
    let ua = Reflect::get(&navigator, &"userAgent".into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
    let chrome = ua.split("Chrome/").nth(1).and_then(|v| v.split('.').next()).and_then(|v| v.parse().ok());
    let feats = Reflect::get(&navigator, &"gpu".into())
        .and_then(|gpu| Reflect::get(&gpu, &"wgslLanguageFeatures".into()))
        .expect("navigator.gpu.wgslLanguageFeatures");
    let has = Reflect::get(&feats, &"has".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|f| f.call1(&feats, &"packed_4x8_integer_dot_product".into()).ok())
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    (has, chrome)
}

// ---------------------------------------------------------------------------------------------
// malformed and hostile input, limits, device loss (issue 8; the native cases are in
// tests/native/malformed.rs): the error reaches JS as an `Error` with a `code` and a message
// naming the limit, tensor or offset.

/// The tiny model with tensor `name`'s bytes passed through `f`.
fn tiny_with_patched_tensor(name: &str, f: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut bytes = tiny_llama_gguf(3);
    let g = GgufFile::parse(&bytes).unwrap();
    let t = g.tensor(name).unwrap().clone();
    f(&mut bytes[t.range()]);
    bytes
}

fn raw_gguf_header(n_tensors: u64, n_kv: u64) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(n_tensors.to_le_bytes());
    b.extend(n_kv.to_le_bytes());
    b
}

fn expect_js(r: Result<impl Sized, JsValue>, code: &str, needles: &[&str]) {
    let msg = expect_js_code(r, code);
    for n in needles {
        assert!(msg.contains(n), "message {msg:?} does not mention {n:?}");
    }
}

#[wasm_bindgen_test]
fn malformed_gguf_section_boundaries_and_tensor_data() {
    let bytes = tiny_llama_gguf(3);
    let g = GgufFile::parse(&bytes).unwrap();
    for (cut, what) in [(0usize, "magic"), (4, "version"), (8, "tensor count"), (16, "metadata count")] {
        expect_js(WasmModel::from_bytes(bytes[..cut].to_vec()), "E_TRUNCATED", &[what]);
    }
    for t in g.tensors.iter().step_by(3) {
        let cut = (t.abs_offset + t.n_bytes - 1) as usize;
        let first = g.tensors.iter().find(|u| (u.abs_offset + u.n_bytes) as usize > cut).unwrap();
        expect_js(WasmModel::from_bytes(bytes[..cut].to_vec()), "E_OUT_OF_BOUNDS", &[&first.name]);
    }
}

#[wasm_bindgen_test]
fn malformed_gguf_huge_counts_are_limits() {
    expect_js(WasmModel::from_bytes(raw_gguf_header(u64::MAX, 0)), "E_LIMIT", &["tensor count", "65536"]);
    expect_js(WasmModel::from_bytes(raw_gguf_header(0, 1 << 40)), "E_LIMIT", &["metadata count"]);
    let mut b = raw_gguf_header(0, 1);
    b.extend((1u64 << 60).to_le_bytes());
    expect_js(WasmModel::from_bytes(b), "E_LIMIT", &["length of metadata key #0"]);
    // A byte size that overflows: 2^64 - 32 Q8_0 elements.
    let mut b = raw_gguf_header(1, 0);
    b.extend(1u64.to_le_bytes());
    b.push(b't');
    b.extend(2u32.to_le_bytes());
    b.extend(0xFFFF_FFFF_FFFF_FFE0u64.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    b.extend(8u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    expect_js(WasmModel::from_bytes(b), "E_OVERFLOW", &["byte size of tensor 't'"]);
    // A model bigger than wasm32 memory is refused before reserving.
    expect_js(WasmModelLoader::new(Some(8e9)), "E_LIMIT", &["model size in bytes", "8000000000"]);
    // A block count the tensor table cannot hold (the fuzzers' 8 GB reservation; native twin
    // gguf_block_count_beyond_the_tensor_table): the u32 value after the key and its type tag.
    let mut b = tiny_llama_gguf(3);
    let key = b"llama.block_count";
    let at = b.windows(key.len()).position(|w| w == key).expect("the tiny model has llama.block_count");
    let v = at + key.len() + 4;
    assert_eq!(u32::from_le_bytes(b[v - 4..v].try_into().unwrap()), 4, "block_count is a u32");
    b[v..v + 4].copy_from_slice(&(1u32 << 24).to_le_bytes());
    expect_js(WasmModel::from_bytes(b), "E_UNSUPPORTED_MODEL", &["llama.block_count is 16777216", "tensors"]);
}

#[wasm_bindgen_test]
fn malformed_gguf_nan_scales_and_wrong_types() {
    let nan = half::f16::NAN.to_le_bytes();
    // blk.0.attn_q is Q4_1 in the tiny model.
    let b = tiny_with_patched_tensor("blk.0.attn_q.weight", |d| d[0..2].copy_from_slice(&nan));
    expect_js(WasmModel::from_bytes(b), "E_BAD_TENSOR", &["blk.0.attn_q.weight", "block 0", "NaN"]);
    let b = tiny_with_patched_tensor("token_embd.weight", |d| {
        d[34..36].copy_from_slice(&half::f16::INFINITY.to_le_bytes())
    });
    expect_js(WasmModel::from_bytes(b), "E_BAD_TENSOR", &["token_embd.weight", "Q8_0 block 1"]);
    // An unknown ggml type id in the tensor table (16 = IQ2_XXS).
    let mut b = tiny_llama_gguf(3);
    let name = b"blk.0.attn_q.weight";
    let at = b.windows(name.len()).position(|w| w == name).unwrap() + name.len();
    b[at + 20..at + 24].copy_from_slice(&16u32.to_le_bytes());
    expect_js(WasmModel::from_bytes(b), "E_UNSUPPORTED_TENSOR_TYPE", &["blk.0.attn_q.weight", "IQ2_XXS"]);
}

/// A minimal byte-level BPE tokenizer.json (two tokens) and a plain HF Llama config.json.
fn tiny_hf_files() -> (String, serde_json::Value) {
    let tok = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,
        "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},
        "post_processor":null,"decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true},
        "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,"end_of_word_suffix":null,
        "fuse_unk":false,"byte_fallback":false,"vocab":{"a":0,"b":1},"merges":[]}}"#;
    let cfg = serde_json::json!({
        "architectures": ["LlamaForCausalLM"], "hidden_size": 32, "intermediate_size": 32,
        "num_attention_heads": 2, "num_key_value_heads": 1, "num_hidden_layers": 1, "vocab_size": 2,
        "rms_norm_eps": 1e-5, "max_position_embeddings": 64, "tie_word_embeddings": true
    });
    (tok.to_string(), cfg)
}

fn folder(files: &[(&str, Vec<u8>)]) -> Result<WasmModel, JsValue> {
    let mut l = tritium::wasm::WasmFolderLoader::new();
    for (n, b) in files {
        l.add_file(n, b.clone());
    }
    l.finish()
}

#[wasm_bindgen_test]
fn malformed_folder_config_tokenizer_and_safetensors() {
    let (tok, cfg) = tiny_hf_files();
    let st_ok = {
        let mut h = br#"{"model.embed_tokens.weight":{"dtype":"F32","shape":[2,32],"data_offsets":[0,256]}}"#.to_vec();
        let mut b = (h.len() as u64).to_le_bytes().to_vec();
        b.append(&mut h);
        b.extend(vec![0u8; 256]);
        b
    };
    let c = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = cfg.clone();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    // config.json
    expect_js(
        folder(&[
            ("config.json", b"{\"hidden".to_vec()),
            ("tokenizer.json", tok.clone().into()),
            ("model.safetensors", st_ok.clone()),
        ]),
        "E_MALFORMED",
        &["config.json"],
    );
    expect_js(
        folder(&[
            ("config.json", c(&|v| v["hidden_size"] = serde_json::json!(1u64 << 40))),
            ("tokenizer.json", tok.clone().into()),
            ("model.safetensors", st_ok.clone()),
        ]),
        "E_LIMIT",
        &["config.json: hidden_size", "16777216"],
    );
    // tokenizer.json: an id that would make a 4e9-entry table.
    let huge = tok.replace("\"b\":1", "\"b\":4000000000");
    expect_js(
        folder(&[("config.json", c(&|_| {})), ("tokenizer.json", huge.into()), ("model.safetensors", st_ok.clone())]),
        "E_LIMIT",
        &["tokenizer.json", "4000000001"],
    );
    expect_js(
        folder(&[
            ("config.json", c(&|_| {})),
            ("tokenizer.json", tok[..40].into()),
            ("model.safetensors", st_ok.clone()),
        ]),
        "E_TOKENIZER",
        &["tokenizer.json"],
    );
    // safetensors: truncated in the header length, the JSON header and the data.
    let n = u64::from_le_bytes(st_ok[..8].try_into().unwrap()) as usize;
    for (cut, code) in [(5usize, "E_TRUNCATED"), (8 + n / 2, "E_TRUNCATED"), (st_ok.len() - 1, "E_OUT_OF_BOUNDS")] {
        expect_js(
            folder(&[
                ("config.json", c(&|_| {})),
                ("tokenizer.json", tok.clone().into()),
                ("model.safetensors", st_ok[..cut].to_vec()),
            ]),
            code,
            &["model.safetensors"],
        );
    }
    let mut huge_header = (1u64 << 62).to_le_bytes().to_vec();
    huge_header.extend(b"{}");
    expect_js(
        folder(&[
            ("config.json", c(&|_| {})),
            ("tokenizer.json", tok.clone().into()),
            ("model.safetensors", huge_header),
        ]),
        "E_LIMIT",
        &["JSON header length"],
    );
    // The folder's tensors are otherwise incomplete: the first missing one is named.
    expect_js(
        folder(&[("config.json", c(&|_| {})), ("tokenizer.json", tok.into()), ("model.safetensors", st_ok)]),
        "E_MISSING_TENSOR",
        &["input_layernorm"],
    );
}

#[wasm_bindgen_test]
async fn webgpu_device_loss_ends_generation_with_a_typed_error_and_reload_works() {
    use tritium::backend::gpu::model::GpuModel;
    use tritium::backend::gpu::{GpuContext, GpuOptions};
    let m = Arc::new(Model::from_gguf_bytes(tiny_llama_gguf(2024)).unwrap());
    let ctx = GpuContext::new(&GpuOptions::default()).await.unwrap_or_else(|e| panic!("WebGPU adapter: {e}"));
    let gm = GpuModel::upload(ctx.clone(), &m, 32).await.unwrap();
    let opts = GenerateOptions { max_tokens: 8, ..Default::default() };
    let mut g = Generation::new(m.clone(), "the", &opts).unwrap().with_gpu(gm);
    g.step_async().await.expect("first token on the GPU");
    assert!(!ctx.is_lost());
    ctx.lose_device("test");
    assert!(ctx.is_lost());
    let e = g.step_async().await.expect_err("a step after device loss must fail");
    assert_eq!(e.code(), "E_GPU_LOST", "{e}");
    let (code, msg) = js_error_parts(&tritium::wasm::to_js_error(e));
    assert_eq!(code, "E_GPU_LOST");
    assert!(msg.contains("load the model again"), "{msg}");
    // Without reloading the page: a new device, the same model uploaded again, the CPU's tokens.
    let ctx2 = GpuContext::new(&GpuOptions::default()).await.expect("a new device after the loss");
    let gm2 = GpuModel::upload(ctx2, &m, 32).await.unwrap();
    let mut g2 = Generation::new(m.clone(), "the", &opts).unwrap().with_gpu(gm2);
    while g2.step_async().await.unwrap().is_some() {}
    let mut cpu = Generation::new(m.clone(), "the", &opts).unwrap();
    while cpu.step().unwrap().is_some() {}
    assert_eq!(g2.token_ids(), cpu.token_ids());
}

#[wasm_bindgen_test]
async fn webgpu_shader_errors_are_caught_by_error_scopes() {
    use tritium::backend::gpu::{GpuContext, GpuOptions};
    let ctx = GpuContext::new(&GpuOptions::default()).await.unwrap_or_else(|e| panic!("WebGPU adapter: {e}"));
    let r = ctx
        .scoped("compiling a broken shader", || {
            ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("broken"),
                source: wgpu::ShaderSource::Wgsl("@compute @workgroup_size(1) fn main() { let x: f32 = nope; }".into()),
            })
        })
        .await;
    let e = r.err().expect("a broken shader must be an error");
    assert_eq!(e.code(), "E_GPU_VALIDATION", "{e}");
    let (code, msg) = js_error_parts(&tritium::wasm::to_js_error(e));
    assert_eq!(code, "E_GPU_VALIDATION");
    assert!(msg.contains("compiling a broken shader"), "{msg}");
    ctx.check().expect("the error stayed in its scope");
}

/// Mixture-of-Depths on WebGPU in the browser: the GPU prefill (routers, top-k, gather/scatter on
/// the device) keeps the CPU's tokens at every layer, for trained routers (TanhNorm + STRing) and
/// the training-free `snap` router, and decodes from the per-layer caches (pmod::selftest::check_mod,
/// the body the native tests run on lavapipe too).
#[wasm_bindgen_test]
async fn webgpu_mod_prefill_matches_cpu() {
    use tritium::backend::gpu::{GpuContext, GpuOptions};
    use tritium::model::synthetic::{tiny_llama_gguf_with_routers, TINY_DIM, TINY_LAYERS};
    let ctx = GpuContext::new(&GpuOptions::default()).await.unwrap_or_else(|e| panic!("WebGPU adapter: {e}"));
    let mut rng = tritium::model::sampler::SplitMix64::new(11);
    let routers: Vec<(usize, Vec<f32>, f32)> = (0..TINY_LAYERS)
        .map(|l| (l, (0..TINY_DIM).map(|_| (rng.next_f64() as f32 - 0.5) * 0.8).collect(), 0.05 * l as f32))
        .collect();
    let m = Model::from_gguf_bytes(tiny_llama_gguf_with_routers(7, &routers)).unwrap();
    let tokens: Vec<u32> = (0..90u32).map(|i| (i * 37 + 11) % 256).collect();
    for spec in ["interleave:0.5", "interleave:0.4:snap16"] {
        let (differ, d1, d2) =
            tritium::pmod::selftest::check_mod(&ctx, &m, &tokens, spec, 5).await.unwrap_or_else(|e| panic!("{e}"));
        web_sys::console::log_1(
            &format!("webgpu MoD {spec}: layers differing {differ:?}, logits {d1:.1e} / {d2:.1e}").into(),
        );
        assert!(differ.is_empty(), "{spec}: kept sets differ from the CPU's at layers {differ:?}");
        assert!(d1 < 1e-3 && d2 < 1e-3, "{spec}: max |gpu - cpu| logit prefill {d1}, decode {d2}");
    }
}
