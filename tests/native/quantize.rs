//! Whole-model quantization: recipes, the GGUF round trip of every method, AWQ against RTN and
//! PTQTP against absmean on real text (the evaluation corpus of pkg-scripts/fetch-corpus), the
//! CLI, and bad input.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use tritium::model::graph::Norm;

use tritium::convert::recipe::{pick_group, quantize_model, Method, QuantizeOptions, Recipe};
use tritium::eval;
use tritium::model::save;
use tritium::model::synthetic::tiny_llama_gguf;
use tritium::model::Model;
use tritium::quant::GgmlType;

use crate::common;

/// The evaluation and calibration texts (fetched from the npm registry on first use).
pub fn corpus() -> (PathBuf, PathBuf) {
    static ONCE: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = common::root().join("models/corpus");
        let (e, c) = (dir.join("eval.txt"), dir.join("calib.txt"));
        if !e.exists() || !c.exists() {
            let st = Command::new("bash").arg(common::root().join("pkg-scripts/fetch-corpus")).status().unwrap();
            assert!(st.success(), "pkg-scripts/fetch-corpus failed");
        }
        (e, c)
    })
    .clone()
}

fn quantize(model: &Arc<Model>, spec: &str, opts: &QuantizeOptions) -> Model {
    let recipe = Recipe::parse(spec).unwrap();
    let bytes = quantize_model(model.clone(), &recipe, opts, &mut |_, _, _| {}).unwrap();
    Model::from_gguf_bytes(bytes).unwrap()
}

#[test]
fn recipe_parsing() {
    let r = Recipe::parse("attn=awq4,ffn=ptqtp,embed=q8_0,output=q8_0").unwrap();
    assert_eq!(r.attn, Method::Awq4);
    assert_eq!(r.ffn, Method::Ptqtp);
    assert_eq!(r.embed, Method::Ggml(GgmlType::Q8_0));
    assert_eq!(r.to_spec(), "attn=awq4,ffn=ptqtp,embed=q8_0,output=q8_0");
    let r = Recipe::parse("rtn4").unwrap();
    assert_eq!((r.attn, r.ffn, r.embed), (Method::Rtn4, Method::Rtn4, Method::Keep));
    for (bad, needle) in [
        ("int3", "unknown quantization method 'int3'"),
        ("attn=rtn4,mlp=ptqtp", "unknown tensor class 'mlp'"),
        ("attn", "unknown quantization method 'attn'"),
        ("embed=awq4", "use rtn4 for embed"),
        ("attn:rtn4,ffn=ptqtp", "is not CLASS=METHOD"),
    ] {
        let e = Recipe::parse(bad).err().unwrap_or_else(|| panic!("{bad} should fail"));
        assert!(e.to_string().contains(needle), "{bad}: {e}");
    }
}

#[test]
fn group_size_follows_the_model() {
    let m = common::model();
    // 576 is not a multiple of 128: the default falls to 64 for SmolLM2.
    assert_eq!(pick_group(&m, &Recipe::parse("awq4").unwrap()).unwrap(), 64);
    let mut r = Recipe::parse("rtn4").unwrap();
    r.group = Some(128);
    let e = pick_group(&m, &r).unwrap_err().to_string();
    assert!(e.contains("group size 128 does not divide") && e.contains("576"), "{e}");
    r.group = Some(96);
    assert!(pick_group(&m, &r).unwrap_err().to_string().contains("32, 64 or 128"));
    // Ternary on the FFN only: ffn_down's 1536 and the hidden 576 → 64.
    assert_eq!(pick_group(&m, &Recipe::parse("attn=keep,ffn=ptqtp").unwrap()).unwrap(), 64);
}

/// Every method writes a GGUF that loads back (through the documented naming) to the same
/// weights: the re-saved file gives bit-identical logits, and the quantized weights stay close
/// to the source.
#[test]
fn every_method_round_trips_through_gguf() {
    let src = Arc::new(Model::from_gguf_bytes(tiny_llama_gguf(5)).unwrap());
    let ids = [1u32, 7, 9, 3, 12, 30, 2];
    let base = tritium::backend::cpu::exec::forward_logits(&src, &ids).unwrap();
    for (spec, ty) in [
        ("rtn4", GgmlType::AWQ4_G64),
        ("absmean", GgmlType::TP1_G64),
        ("absmean-group", GgmlType::TP1_G64),
        ("ptqtp", GgmlType::TP2_G64),
        ("q8_0", GgmlType::Q8_0),
        ("attn=rtn4,ffn=ptqtp,embed=q8_0,output=q4_1", GgmlType::AWQ4_G64),
    ] {
        let q = quantize(&src, spec, &QuantizeOptions::default());
        assert_eq!(q.layers[0].wq.ty, ty, "{spec}");
        let resaved = save::to_gguf(&q, &Default::default()).unwrap();
        assert!(resaved == q.bytes(), "{spec}: saving the loaded file again changes its bytes");
        let again = Model::from_gguf_bytes(resaved).unwrap();
        let a = tritium::backend::cpu::exec::forward_logits(&q, &ids).unwrap();
        let b = tritium::backend::cpu::exec::forward_logits(&again, &ids).unwrap();
        assert_eq!(a, b, "{spec}: logits after a second save differ");
        let err = a.iter().zip(&base).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        let scale = base.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(err < scale, "{spec}: logits moved by {err} (scale {scale})");
        assert!(q.gguf.get("tritium.quantization").is_some());
    }
    // The mixed recipe put each class where it said.
    let q = quantize(&src, "attn=rtn4,ffn=ptqtp,embed=q8_0,output=q4_1", &QuantizeOptions::default());
    assert_eq!(q.layers[1].w_down.ty, GgmlType::TP2_G64);
    assert_eq!(q.token_embd.ty, GgmlType::Q8_0);
    assert_eq!(q.output.ty, GgmlType::Q4_1);
}

/// AWQ without calibration text, and a calibration shorter than one block, are errors.
#[test]
fn awq_needs_calibration() {
    let src = Arc::new(Model::from_gguf_bytes(tiny_llama_gguf(5)).unwrap());
    let r = Recipe::parse("awq4").unwrap();
    let e = quantize_model(src.clone(), &r, &QuantizeOptions::default(), &mut |_, _, _| {}).err().unwrap();
    assert!(e.to_string().contains("at least one block of 512 tokens, got 0"), "{e}");
    let opts = QuantizeOptions { calib: (0..40).collect(), calib_block: 32, ..Default::default() };
    let q = quantize(&src, "awq4", &opts);
    assert_eq!(q.layers[0].w_up.ty, GgmlType::AWQ4_G64);
    // The scales were folded into the norms.
    assert_ne!(q.layers[0].norm(Norm::Attn), src.layers[0].norm(Norm::Attn));
}

fn eval_ids(m: &Model, n: usize) -> Vec<u32> {
    let (eval, _) = corpus();
    let text = std::fs::read_to_string(eval).unwrap();
    let mut ids = m.tokenizer().encode(&text, true).unwrap();
    assert!(ids.len() >= 50_000, "the evaluation corpus has only {} tokens", ids.len());
    ids.truncate(n);
    ids
}

/// On real text the default model quantized with AWQ (calibrated on a different text) has a
/// lower loss than round-to-nearest, and PTQTP's two trit planes a far lower loss than one
/// absmean plane.
#[test]
fn awq_beats_rtn_and_ptqtp_beats_absmean_on_real_text() {
    let src = common::model();
    let ids = eval_ids(&src, 768);
    let (_, calib) = corpus();
    let calib_ids = src.tokenizer().encode(&std::fs::read_to_string(calib).unwrap(), false).unwrap();
    let nll = |m: &Model| eval::score_ids(m, &ids, Some(256)).unwrap().mean_nll;
    let opts = QuantizeOptions { calib: calib_ids[..512].to_vec(), calib_block: 256, ..Default::default() };
    let s = nll(&src);
    let rtn = nll(&quantize(&src, "rtn4", &opts));
    let awq = nll(&quantize(&src, "awq4", &opts));
    let abs = nll(&quantize(&src, "absmean", &opts));
    let ptq = nll(&quantize(&src, "ptqtp", &opts));
    eprintln!(
        "mean NLL over {} tokens: source {s:.4} rtn4 {rtn:.4} awq4 {awq:.4} absmean {abs:.4} ptqtp {ptq:.4}",
        ids.len()
    );
    assert!(s < awq && awq < rtn, "expected source < awq4 < rtn4: {s} {awq} {rtn}");
    assert!(ptq + 1.0 < abs, "expected ptqtp far below absmean: {ptq} vs {abs}");
}

fn tritium(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tritium")).args(args).output().expect("run tritium");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// `tritium quantize` to GGUF and to an AutoAWQ folder; `tritium perplexity` reads both.
#[test]
fn cli_quantize_and_perplexity() {
    let m = common::model_path();
    let dir = common::tmp_dir("cli-quantize");
    let (eval, _) = corpus();
    let head: String = std::fs::read_to_string(&eval).unwrap().chars().take(1500).collect();
    let text = dir.join("eval-head.txt");
    std::fs::write(&text, head).unwrap();
    let gguf = dir.join("rtn4.gguf");
    let (code, out, err) =
        tritium(&["quantize", m.to_str().unwrap(), "--method", "rtn4", "-o", gguf.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["group_size"], 64);
    assert_eq!(v["tensor_types"]["AWQ4_G64"], 210);
    assert!((v["bits_per_weight"].as_f64().unwrap() - 5.35).abs() < 0.05, "{v}");
    let folder = dir.join("rtn4-awq");
    let _ = std::fs::remove_dir_all(&folder);
    let (code, _, err) =
        tritium(&["quantize", m.to_str().unwrap(), "--method", "rtn4", "-o", folder.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(folder.join("config.json").exists() && folder.join("model.safetensors").exists());
    let ppl = |model: &str| -> serde_json::Value {
        let (code, out, err) =
            tritium(&["perplexity", model, "--text-file", text.to_str().unwrap(), "--ctx", "128", "--json"]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let a = ppl(gguf.to_str().unwrap());
    let b = ppl(folder.to_str().unwrap());
    for k in ["mean_nll", "perplexity", "tokens"] {
        assert!(a[k].is_number(), "{k} missing: {a}");
    }
    assert!(a["tokens"].as_u64().unwrap() > 200);
    let (x, y) = (a["mean_nll"].as_f64().unwrap(), b["mean_nll"].as_f64().unwrap());
    assert!((x - y).abs() < 1e-4, "GGUF {x} vs AutoAWQ folder {y}");
    // A folder model quantizes into a folder; GGUF output needs GGUF tokenizer metadata.
    let folder2 = dir.join("rtn4-again");
    let _ = std::fs::remove_dir_all(&folder2);
    let (code, _, err) =
        tritium(&["quantize", folder.to_str().unwrap(), "--method", "rtn4", "-o", folder2.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = tritium(&["quantize", folder.to_str().unwrap(), "--method", "rtn4", "-o", "x.gguf"]);
    assert!(code != 0 && err.contains("no GGUF tokenizer metadata"), "{err}");
    // Bad input: a method that does not exist; AWQ without --calib.
    let (code, _, err) = tritium(&["quantize", m.to_str().unwrap(), "--method", "int3", "-o", "x.gguf"]);
    assert!(code != 0 && err.contains("E_INVALID_ARGUMENT") && err.contains("int3"), "{err}");
    let (code, _, err) = tritium(&["quantize", m.to_str().unwrap(), "--method", "awq4", "-o", "x.gguf"]);
    assert!(code != 0 && err.contains("--calib"), "{err}");
}

/// ggml's reference Q4_K / Q6_K quantizers (gguf 0.19.0 has no quantizer for them to compare
/// bytes with): dequant(quant(x)) within the formats' step on blocks of every magnitude, zero
/// blocks stay zero, and quantizing the dequantized values again is stable.
#[test]
fn q4_k_and_q6_k_round_trip_within_their_step() {
    use tritium::quant;
    let mut rng = tritium::model::sampler::SplitMix64::new(11);
    let mut x = Vec::new();
    // (Not below ~1e-3: the f16 super-scale of max/63 would be subnormal, as in ggml.)
    for mag in [1e-3f32, 0.05, 1.0, 30.0, 1e4] {
        for _ in 0..4 {
            x.extend((0..256).map(|_| (rng.next_f64() as f32 * 2.0 - 1.0) * mag));
        }
    }
    // A block of sub-blocks of different magnitudes, one all positive, one with an outlier.
    x.extend((0..256).map(|i| (rng.next_f64() as f32 - 0.5) * 10f32.powi(i / 32 - 4)));
    x.extend((0..256).map(|_| rng.next_f64() as f32 + 2.0));
    x.extend((0..256).map(|i| if i == 77 { 40.0 } else { rng.next_f64() as f32 - 0.5 }));
    x.extend(std::iter::repeat_n(0.0, 256));
    for (ty, levels, rms_bound) in [(GgmlType::Q4_K, 15.0f32, 0.5f32), (GgmlType::Q6_K, 63.0, 0.5)] {
        let q = quant::quantize(ty, &x).unwrap();
        assert_eq!(q.len(), ty.bytes_for(x.len()));
        let y = quant::dequantize_vec(ty, &q, x.len()).unwrap();
        for (b, (xb, yb)) in x.chunks(256).zip(y.chunks(256)).enumerate() {
            let range = xb.iter().fold(0f32, |a, v| a.max(v.abs())) * 2.0;
            let step = range / levels;
            let max_err = xb.iter().zip(yb).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            let rms = (xb.iter().zip(yb).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / 256.0).sqrt();
            assert!(max_err <= 2.0 * step + 1e-30, "{} block {b}: max error {max_err} > 2 steps of {step}", ty.name());
            assert!(rms <= rms_bound * step + 1e-30, "{} block {b}: rms {rms} vs step {step}", ty.name());
            if range == 0.0 {
                assert!(yb.iter().all(|v| *v == 0.0), "{} zero block", ty.name());
            }
        }
        // Values already on the grid come back (nearly) unchanged.
        let y2 = quant::dequantize_vec(ty, &quant::quantize(ty, &y).unwrap(), y.len()).unwrap();
        let drift = y.iter().zip(&y2).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        let amax = y.iter().fold(0f32, |a, v| a.max(v.abs()));
        assert!(drift <= amax / levels, "{}: re-quantizing moved values by {drift}", ty.name());
    }
}

/// The `q4_k_m` recipe (llama.cpp's Q4_K_M mix) on the default model: Q6_K for ffn_down and attn_v
/// in the layers use_more_bits picks, Q4_K elsewhere; rows of 576 (not whole superblocks) fall
/// back to Q5_0 / Q8_0 as in llama.cpp. The GGUF loads, saves again to the same bytes, and its
/// logits stay close to the source's.
#[test]
fn q4_k_m_recipe_round_trips_through_gguf() {
    use tritium::convert::recipe::use_more_bits;
    let src = common::model();
    let q = quantize(&src, "q4_k_m", &QuantizeOptions::default());
    let n = q.layers.len();
    for (l, lw) in q.layers.iter().enumerate() {
        let more = use_more_bits(l, n);
        assert_eq!(lw.w_down.ty, if more { GgmlType::Q6_K } else { GgmlType::Q4_K }, "layer {l} ffn_down");
        assert_eq!(lw.wv.ty, if more { GgmlType::Q8_0 } else { GgmlType::Q5_0 }, "layer {l} attn_v");
        assert_eq!(lw.wq.ty, GgmlType::Q5_0, "layer {l} attn_q (576 columns)");
    }
    assert!((0..n).filter(|&l| use_more_bits(l, n)).count() * 3 >= n, "about a third or more of the layers");
    let resaved = save::to_gguf(&q, &Default::default()).unwrap();
    assert!(resaved == q.bytes(), "saving the loaded file again changes its bytes");
    let ids = [1u32, 504, 2391, 314, 253, 1345, 30];
    let base = tritium::backend::cpu::exec::forward_logits(&src, &ids).unwrap();
    let a = tritium::backend::cpu::exec::forward_logits(&q, &ids).unwrap();
    let b = base;
    let argmax = |l: &[f32]| (0..l.len()).max_by(|&i, &j| l[i].total_cmp(&l[j])).unwrap();
    let err = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    eprintln!("q4_k_m: last-token logits max |diff| {err} (scale {scale}), argmax {} vs {}", argmax(&a), argmax(&b));
    assert!(err < 0.25 * scale, "logits moved by {err} (scale {scale})");
    assert_eq!(
        q.gguf.get("tritium.quantization").and_then(|v| v.as_str()),
        Some(Recipe::parse("q4_k_m").unwrap().to_spec().as_str())
    );
}
