//! AutoAWQ GEMM checkpoint folders (safetensors + config.json + tokenizer.json) ↔ tritium's GGUF
//! naming: the §1.9 T2 layer from a safetensors file, exact round trips of the default model and
//! of a tiny one (single file and sharded), the Python `safetensors` reference, and bad input.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use tritium::model::graph::Norm;

use half::f16;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use tritium::format::awq::{self, Checkpoint};
use tritium::format::gguf::GgufWriter;
use tritium::format::safetensors::{Dtype, SafeTensors, SafetensorsWriter};
use tritium::model::awq_folder;
use tritium::model::synthetic::tiny_llama_gguf;
use tritium::model::{Model, Weight};
use tritium::quant::awq::{pack_gemm, unpack_gemm, Int4Linear};
use tritium::quant::{self, GgmlType};
use tritium::Error;

use crate::common;

type Files = BTreeMap<String, Vec<u8>>;

fn dequantized(m: &Model, w: &Weight) -> Vec<f32> {
    let q = m.matrix(w);
    quant::dequantize_vec(q.ty, q.data, w.rows * w.cols).unwrap()
}

fn f16_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| f16::from_f32(*x).to_le_bytes()).collect()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn words(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `base` with every decoder linear RTN-quantized to AWQ int4 (group `group`), written as a GGUF
/// with tritium's AWQ naming (qweight/qzeros/scales), the embedding and an untied output as F16.
pub(crate) fn awq_model(base: &Model, group: usize) -> Model {
    let c = &base.config;
    let mut w = GgufWriter::with_metadata(base.gguf.metadata.clone());
    let emb = dequantized(base, &base.token_embd);
    w.add_tensor("token_embd.weight", &[c.dim as u64, c.vocab_size as u64], GgmlType::F16, f16_bytes(&emb)).unwrap();
    for (l, lw) in base.layers.iter().enumerate() {
        let d = c.dim as u64;
        w.add_tensor(&format!("blk.{l}.attn_norm.weight"), &[d], GgmlType::F32, f32_bytes(lw.norm(Norm::Attn)))
            .unwrap();
        w.add_tensor(&format!("blk.{l}.ffn_norm.weight"), &[d], GgmlType::F32, f32_bytes(lw.norm(Norm::Ffn))).unwrap();
        for (i, b) in lw.biases.iter().enumerate() {
            if let Some(b) = b {
                let name = format!("blk.{l}.{}.bias", tritium::model::graph::Linear::ALL[i].gguf_name());
                w.add_tensor(&name, &[b.len() as u64], GgmlType::F32, f32_bytes(b)).unwrap();
            }
        }
        let lins = [
            (&lw.wq, "attn_q"),
            (&lw.wk, "attn_k"),
            (&lw.wv, "attn_v"),
            (&lw.wo, "attn_output"),
            (&lw.w_gate, "ffn_gate"),
            (&lw.w_up, "ffn_up"),
            (&lw.w_down, "ffn_down"),
        ];
        for (wt, name) in lins {
            let q = Int4Linear::quantize(&dequantized(base, wt), wt.rows, wt.cols, group).unwrap();
            let t = pack_gemm(&q).unwrap();
            let (n, k, g) = (wt.rows as u64, wt.cols as u64, (wt.cols / group) as u64);
            let b = format!("blk.{l}.{name}");
            w.add_tensor(&format!("{b}.qweight"), &[n / 8, k], GgmlType::I32, words(&t.qweight)).unwrap();
            w.add_tensor(&format!("{b}.qzeros"), &[n / 8, g], GgmlType::I32, words(&t.qzeros)).unwrap();
            let sc: Vec<u8> = t.scales.iter().flat_map(|s| s.to_le_bytes()).collect();
            w.add_tensor(&format!("{b}.scales"), &[n, g], GgmlType::F16, sc).unwrap();
        }
    }
    w.add_tensor("output_norm.weight", &[c.dim as u64], GgmlType::F32, f32_bytes(&base.output_norm)).unwrap();
    if !base.tied_output {
        let out = dequantized(base, &base.output);
        w.add_tensor("output.weight", &[c.dim as u64, c.vocab_size as u64], GgmlType::F16, f16_bytes(&out)).unwrap();
    }
    Model::from_gguf_bytes(w.to_bytes()).expect("AWQ GGUF loads")
}

/// The default model with RTN int4, group 64 (K = 576 is not a multiple of 128).
fn default_awq() -> Arc<Model> {
    static M: OnceLock<Arc<Model>> = OnceLock::new();
    M.get_or_init(|| Arc::new(awq_model(&common::model(), 64))).clone()
}

fn tiny_awq() -> Arc<Model> {
    static M: OnceLock<Arc<Model>> = OnceLock::new();
    M.get_or_init(|| Arc::new(awq_model(&Model::from_gguf_bytes(tiny_llama_gguf(11)).unwrap(), 32))).clone()
}

fn folder(m: &Model, shard: Option<u64>) -> Files {
    awq_folder::model_to_awq_folder(m, shard).expect("save AutoAWQ folder").into_iter().collect()
}

fn load(files: &Files) -> Result<Model, Error> {
    awq_folder::load_awq_folder(files)
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

const TEXTS: &[&str] = &[
    "The capital of France is",
    "  Hello, world!\n\tcode: fn main() { println!(\"hi\"); } 12345 ünïcödé 日本語",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
];

/// Same tokenizer behaviour: ids of several texts (with and without specials), special tokens,
/// chat template.
fn assert_same_tokenizer(a: &Model, b: &Model) {
    let (ta, tb) = (a.tokenizer(), b.tokenizer());
    for t in TEXTS {
        for special in [false, true] {
            assert_eq!(ta.encode(t, special).unwrap(), tb.encode(t, special).unwrap(), "encode {t:?} ({special})");
        }
    }
    assert_eq!(ta.vocab_size(), tb.vocab_size());
    assert_eq!(
        (ta.bos_id(), ta.eos_id(), ta.add_bos(), ta.add_eos()),
        (tb.bos_id(), tb.eos_id(), tb.add_bos(), tb.add_eos())
    );
    assert_eq!(ta.eog_ids(), tb.eog_ids());
    assert_eq!(ta.chat_template(), tb.chat_template());
    let ids = ta.encode(TEXTS[1], false).unwrap();
    assert_eq!(ta.decode(&ids).unwrap(), tb.decode(&ids).unwrap());
}

// ---------------------------------------------------------------------------------------------
// (a) §1.9 T2: an 8×8 GEMM layer read from a safetensors file.

const T2_W: [[f32; 8]; 8] = [
    [0.296875, 0.25, -0.5, -0.265625, 0.4375, 0.0625, 0.140625, 0.1875],
    [0.3046875, 0.125, -0.09375, 0.2734375, 0.375, 0.3125, 0.0390625, 0.078125],
    [-0.08203125, -0.109375, -0.1875, -0.12890625, 0.046875, 0.0, -0.15234375, -0.109375],
    [0.421875, 0.5625, 0.0, 0.484375, 0.9375, 0.4375, 0.890625, 0.5],
    [-0.1015625, -0.3125, -0.46875, -0.0390625, 0.0, -0.15625, -0.0859375, -0.1875],
    [-0.06640625, -0.078125, -0.109375, -0.09765625, 0.125, 0.09375, 0.08203125, 0.03125],
    [0.171875, 0.4375, -0.3125, 0.484375, 0.625, 0.5625, -0.171875, 0.125],
    [-0.0703125, -0.125, -0.3125, -0.1953125, 0.15625, -0.1875, -0.0859375, -0.09375],
];
const T2_CODES: [[u8; 8]; 8] = [
    [13, 12, 0, 4, 15, 9, 10, 11],
    [13, 7, 0, 12, 15, 13, 4, 5],
    [7, 5, 0, 4, 15, 12, 2, 5],
    [7, 9, 0, 8, 15, 7, 14, 8],
    [12, 5, 0, 14, 15, 10, 12, 9],
    [3, 2, 0, 1, 15, 13, 12, 9],
    [8, 12, 0, 13, 15, 14, 2, 7],
    [8, 6, 0, 4, 15, 4, 7, 7],
];
const T2_S: [f32; 8] = [1.0 / 16.0, 1.0 / 32.0, 1.0 / 64.0, 1.0 / 16.0, 1.0 / 32.0, 1.0 / 64.0, 1.0 / 16.0, 1.0 / 32.0];
const T2_Z: [u8; 8] = [8, 3, 12, 0, 15, 7, 5, 10];
const T2_QWEIGHT: [i32; 8] = [-2088924035, 1654113628, 0, 1099750980, -1, 1300097737, 2095328298, 2038790491];
const T2_QZEROS: i32 = -1492951096;
const T2_SCALE_BITS: [u16; 8] = [0x2c00, 0x2800, 0x2400, 0x2c00, 0x2800, 0x2400, 0x2c00, 0x2800];
const T2_X: [f32; 8] = [1.0, -2.0, 0.5, 3.0, -1.0, 0.25, 2.0, -0.5];
const T2_Y: [f32; 8] = [-1.453125, 0.59375, -0.6328125, 1.484375, 0.0703125, -0.203125, -0.265625, -0.875];

#[test]
#[allow(clippy::needless_range_loop)]
fn t2_layer_from_safetensors() {
    let mut w = SafetensorsWriter::new();
    let qw: Vec<u8> = T2_QWEIGHT.iter().flat_map(|v| v.to_le_bytes()).collect();
    let sc: Vec<u8> = T2_SCALE_BITS.iter().flat_map(|v| v.to_le_bytes()).collect();
    w.add("layer.qweight", Dtype::I32, &[8, 1], qw).unwrap();
    w.add("layer.qzeros", Dtype::I32, &[1, 1], T2_QZEROS.to_le_bytes().to_vec()).unwrap();
    w.add("layer.scales", Dtype::F16, &[1, 8], sc).unwrap();
    let files: Files = [("model.safetensors".to_string(), w.to_bytes())].into_iter().collect();
    let ck = Checkpoint::open(&files).unwrap();
    let t = awq::read_gemm(&ck, "layer", 8, 8, 8).unwrap();

    // By hand, with the shifts of §1.7: column n of a word sits at [0,16,4,20,8,24,12,28][n % 8].
    const SHIFT: [u32; 8] = [0, 16, 4, 20, 8, 24, 12, 28];
    for k in 0..8 {
        for n in 0..8 {
            assert_eq!((t.qweight[k] >> SHIFT[n]) & 0xf, T2_CODES[n][k] as u32, "q[{n}][{k}] by hand");
        }
    }
    for n in 0..8 {
        assert_eq!((t.qzeros[0] >> SHIFT[n]) & 0xf, T2_Z[n] as u32, "z[{n}] by hand");
    }

    let l = unpack_gemm(&t);
    for n in 0..8 {
        assert_eq!(&l.codes[n * 8..n * 8 + 8], &T2_CODES[n], "codes of output channel {n}");
        assert_eq!(l.zeros[n], T2_Z[n], "zero of output channel {n}");
        assert_eq!(l.scales[n].to_f32(), T2_S[n], "scale of output channel {n}");
    }
    let wd = l.dequantize();
    let w_flat: Vec<f32> = T2_W.iter().flatten().copied().collect();
    assert_eq!(max_diff(&wd, &w_flat), 0.015625, "max |ŵ − W| of T2");
    for n in 0..8 {
        let y: f32 = (0..8).map(|k| T2_X[k] * wd[n * 8 + k]).sum();
        assert_eq!(y, T2_Y[n], "y[{n}]");
    }
    // And the other way: RTN of W packs to exactly these words.
    let q = Int4Linear::quantize(&w_flat, 8, 8, 8).unwrap();
    assert_eq!(pack_gemm(&q).unwrap(), t);
}

// ---------------------------------------------------------------------------------------------
// (b) round trips.

#[test]
fn default_model_round_trip() {
    let m = default_awq();
    let ids = m.tokenizer().encode("The capital of France is", false).unwrap();
    assert_eq!(ids, [504, 3575, 282, 4649, 314]);
    let want = tritium::backend::cpu::exec::forward_logits(&m, &ids).unwrap();
    let top = (0..want.len()).max_by(|&a, &b| want[a].total_cmp(&want[b])).unwrap();
    eprintln!(
        "AWQ RTN g64 default model: next token after the prompt = {top} {:?}",
        m.tokenizer().decode(&[top as u32])
    );
    for shard in [None, Some(24u64 << 20)] {
        let files = folder(&m, shard);
        let names: Vec<&str> = files.keys().map(|s| s.as_str()).collect();
        eprintln!("shard limit {shard:?}: {names:?}");
        match shard {
            None => {
                assert!(files.contains_key("model.safetensors") && !files.contains_key(awq::INDEX_FILE));
            }
            Some(max) => {
                let shards: Vec<&String> = files.keys().filter(|k| k.starts_with("model-")).collect();
                assert!(shards.len() >= 3, "{names:?}");
                assert!(files.contains_key(awq::INDEX_FILE));
                for s in shards {
                    let st = SafeTensors::parse(s, &files[s]).unwrap();
                    let data: usize = st.tensors.iter().map(|t| t.range.len()).sum();
                    // The embedding alone (56.6 MB) is over the limit and gets a shard of its own.
                    assert!(data as u64 <= max || st.tensors.len() == 1, "{s}: {data} bytes");
                }
            }
        }
        let cfg: Json = serde_json::from_slice(&files["config.json"]).unwrap();
        assert_eq!(cfg["architectures"], json!(["LlamaForCausalLM"]));
        assert_eq!(cfg["torch_dtype"], "float16");
        assert_eq!(
            cfg["quantization_config"],
            json!({"quant_method": "awq", "zero_point": true, "group_size": 64, "bits": 4, "version": "gemm",
                   "modules_to_not_convert": null})
        );
        assert_eq!(cfg["tie_word_embeddings"], true);
        assert_eq!(cfg["rms_norm_eps"], 1e-5);
        assert_eq!(cfg["rope_theta"], 100000.0);

        let m2 = load(&files).expect("load the saved folder");
        assert_eq!(m2.config, m.config);
        assert!(m2.tied_output);
        for (a, b) in m.matrices().into_iter().zip(m2.matrices()) {
            assert_eq!((&a.name, a.ty, a.rows, a.cols), (&b.name, b.ty, b.rows, b.cols));
            assert!(m.matrix(a).data == m2.matrix(b).data, "{}: data differs", a.name);
        }
        let got = tritium::backend::cpu::exec::forward_logits(&m2, &ids).unwrap();
        let d = max_diff(&want, &got);
        eprintln!("shard limit {shard:?}: max |Δlogit| = {d:e}");
        assert!(d <= 1e-5, "logits differ by {d}");
        assert_same_tokenizer(&m, &m2);
    }
}

#[test]
fn tiny_round_trip_is_byte_exact() {
    let m = tiny_awq();
    assert!(!m.tied_output);
    let ids = m.tokenizer().encode(TEXTS[0], false).unwrap();
    let want = tritium::backend::cpu::exec::forward_logits(&m, &ids).unwrap();
    for shard in [None, Some(40_000)] {
        let f1 = folder(&m, shard);
        let m2 = load(&f1).unwrap();
        assert!(!m2.tied_output);
        assert_eq!(m2.config, m.config);
        assert!(max_diff(&want, &tritium::backend::cpu::exec::forward_logits(&m2, &ids).unwrap()) <= 1e-6);
        assert_same_tokenizer(&m, &m2);
        let f2 = folder(&m2, shard);
        assert_eq!(f1.keys().collect::<Vec<_>>(), f2.keys().collect::<Vec<_>>());
        for (k, v) in &f1 {
            assert!(v == &f2[k], "{k} differs after load + save");
        }
        let n_shards = f1.keys().filter(|k| k.starts_with("model-")).count();
        assert_eq!(n_shards >= 2, shard.is_some(), "{:?}", f1.keys());
        assert_eq!(Checkpoint::open(&f1).unwrap().tensor("lm_head.weight").unwrap().dtype, Dtype::F16);
    }
}

/// Unquantized linears (F32 `.weight`, HF row order) next to AWQ ones: q_proj/k_proj rows are
/// permuted into GGUF order like the packed ones.
#[test]
fn plain_linears_load() {
    let m = tiny_awq();
    let mut files = folder(&m, None);
    let replaced =
        ["model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.k_proj", "model.layers.1.mlp.down_proj"];
    let ck_bytes = files["model.safetensors"].clone();
    let st = SafeTensors::parse("model.safetensors", &ck_bytes).unwrap();
    let mut w = SafetensorsWriter::new();
    for t in &st.tensors {
        let v = st.tensor(&t.name).unwrap();
        if replaced.iter().any(|p| t.name.starts_with(&format!("{p}."))) {
            continue;
        }
        w.add(&t.name, t.dtype, &t.shape, v.data.to_vec()).unwrap();
    }
    let ck = Checkpoint::open(&files).unwrap();
    for p in replaced {
        let qw = ck.tensor(&format!("{p}.qweight")).unwrap();
        let (k, n) = (qw.shape[0] as usize, qw.shape[1] as usize * 8);
        let l = unpack_gemm(&awq::read_gemm(&ck, p, k, n, 32).unwrap());
        w.add(&format!("{p}.weight"), Dtype::F32, &[n as u64, k as u64], f32_bytes(&l.dequantize())).unwrap();
    }
    drop(ck);
    files.insert("model.safetensors".into(), w.to_bytes());
    let m2 = load(&files).unwrap();
    let pairs = [
        (&m.layers[0].wq, &m2.layers[0].wq),
        (&m.layers[1].wk, &m2.layers[1].wk),
        (&m.layers[1].w_down, &m2.layers[1].w_down),
    ];
    for (a, b) in pairs {
        assert_eq!(b.ty, GgmlType::F32, "{}", b.name);
        assert_eq!(dequantized(&m, a), dequantized(&m2, b), "{}: dequantized rows (GGUF order)", a.name);
    }
    assert_eq!(m2.layers[0].wk.ty, GgmlType::AWQ4_G32);
    let ids = m.tokenizer().encode(TEXTS[1], false).unwrap();
    let d = max_diff(
        &tritium::backend::cpu::exec::forward_logits(&m, &ids).unwrap(),
        &tritium::backend::cpu::exec::forward_logits(&m2, &ids).unwrap(),
    );
    assert!(d <= 1e-4, "logits differ by {d}");
}

// ---------------------------------------------------------------------------------------------
// (c) the Python `safetensors` reference reads what we write.

#[derive(Deserialize)]
struct PyTensor {
    name: String,
    shape: Vec<usize>,
    hf: String,
    gguf: String,
    group: Option<usize>,
}

fn read_f32(path: &str) -> Vec<f32> {
    let b = std::fs::read(path).unwrap();
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

#[test]
fn python_safetensors_reads_our_folder() {
    let m = default_awq();
    let files = awq_folder::model_to_awq_folder(&m, Some(24 << 20)).unwrap();
    let dir = common::tmp_dir("awq_folder/default-sharded");
    for e in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    awq::write_folder(&dir, &files).unwrap();
    let back = awq::read_folder(&dir).unwrap();
    assert_eq!(back, files.iter().cloned().collect::<Files>(), "read_folder(write_folder(x)) == x");

    let py = common::python(&["safetensors"]);
    let out_dir = common::tmp_dir("awq_folder/py-out");
    // (HF name, our weight, HF → GGUF row permutation heads or 0)
    let c = &m.config;
    let l0 = &m.layers[0];
    let l29 = &m.layers[29];
    let cases: Vec<(&str, Vec<f32>)> = vec![
        ("model.layers.0.self_attn.q_proj", dequantized(&m, &l0.wq)),
        ("model.layers.0.self_attn.k_proj", dequantized(&m, &l0.wk)),
        ("model.layers.0.self_attn.v_proj", dequantized(&m, &l0.wv)),
        ("model.layers.0.self_attn.o_proj", dequantized(&m, &l0.wo)),
        ("model.layers.29.self_attn.k_proj", dequantized(&m, &l29.wk)),
        ("model.layers.29.mlp.gate_proj", dequantized(&m, &l29.w_gate)),
        ("model.layers.29.mlp.down_proj", dequantized(&m, &l29.w_down)),
        ("model.embed_tokens.weight", dequantized(&m, &m.token_embd)),
        ("model.layers.7.input_layernorm.weight", m.layers[7].norm(Norm::Attn).to_vec()),
        ("model.norm.weight", m.output_norm.clone()),
    ];
    let names: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let out = Command::new(py)
        .arg(common::root().join("tests/py/awq_ref.py"))
        .args([dir.to_str().unwrap(), out_dir.to_str().unwrap(), &names.join(",")])
        .output()
        .expect("run awq_ref.py");
    assert!(out.status.success(), "awq_ref.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let refs: Vec<PyTensor> = serde_json::from_slice(&out.stdout).expect("awq_ref.py JSON");
    assert_eq!(refs.len(), cases.len());
    let hd = c.head_dim;
    for (r, (name, ours)) in refs.iter().zip(&cases) {
        assert_eq!(&r.name, name);
        let gguf = read_f32(&r.gguf);
        let hf = read_f32(&r.hf);
        assert_eq!(gguf.len(), ours.len(), "{name}: {:?}", r.shape);
        // Our weights are in GGUF row order; the reference permuted HF rows with llama.cpp's formula.
        let d = max_diff(&gguf, ours);
        // HF order: HF row h·hd + j·hd/2 + i is GGUF row h·hd + 2i + j (q_proj, k_proj only).
        let cols = *r.shape.last().unwrap();
        let ours_hf: Vec<f32> = if name.ends_with("q_proj") || name.ends_with("k_proj") {
            let rows = r.shape[0];
            let mut v = vec![0f32; rows * cols];
            for h in 0..rows / hd {
                for j in 0..2 {
                    for i in 0..hd / 2 {
                        let (src, dst) = (h * hd + 2 * i + j, h * hd + j * hd / 2 + i);
                        v[dst * cols..(dst + 1) * cols].copy_from_slice(&ours[src * cols..(src + 1) * cols]);
                    }
                }
            }
            v
        } else {
            ours.clone()
        };
        let dh = max_diff(&hf, &ours_hf);
        eprintln!("{name:<40} {:?} group {:?}: max |Δ| GGUF order {d:e}, HF order {dh:e}", r.shape, r.group);
        assert!(d == 0.0 && dh == 0.0, "{name}: dequantized weights differ from the Python reference");
        if name.ends_with("_proj") {
            assert_eq!(r.group, Some(64));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (d) bad input: each error names the file / tensor and what was expected.

fn err(files: &Files) -> Error {
    match load(files) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

fn assert_err(files: &Files, code: &str, needles: &[&str]) {
    let e = err(files);
    let msg = e.to_string();
    eprintln!("{}: {msg}", e.code());
    assert_eq!(e.code(), code, "{msg}");
    for n in needles {
        assert!(msg.contains(n), "error message {msg:?} does not mention {n:?}");
    }
}

fn with_config(files: &Files, f: impl FnOnce(&mut Json)) -> Files {
    let mut out = files.clone();
    let mut cfg: Json = serde_json::from_slice(&files["config.json"]).unwrap();
    f(&mut cfg);
    out.insert("config.json".into(), serde_json::to_vec(&cfg).unwrap());
    out
}

type Entry = (String, Dtype, Vec<u64>, Vec<u8>);

/// Rewrite model.safetensors: `f` maps each tensor to zero or more tensors.
fn rewrite(files: &Files, f: impl Fn(Entry) -> Vec<Entry>) -> Files {
    let st = SafeTensors::parse("model.safetensors", &files["model.safetensors"]).unwrap();
    let mut w = SafetensorsWriter::new();
    for t in &st.tensors {
        let v = st.tensor(&t.name).unwrap();
        for (n, d, s, b) in f((t.name.clone(), t.dtype, t.shape.clone(), v.data.to_vec())) {
            w.add(&n, d, &s, b).unwrap();
        }
    }
    let mut out = files.clone();
    out.insert("model.safetensors".into(), w.to_bytes());
    out
}

#[test]
fn bad_quantization_config() {
    let files = folder(&tiny_awq(), None);
    let set = |k: &'static str, v: Json| with_config(&files, move |c| c["quantization_config"][k] = v);
    assert_err(
        &set("bits", json!(3)),
        "E_UNSUPPORTED_MODEL",
        &["config.json quantization_config", "bits is 3", "4-bit"],
    );
    assert_err(&set("group_size", json!(96)), "E_UNSUPPORTED_MODEL", &["group_size is 96", "32, 64 and 128"]);
    assert_err(&set("group_size", json!(-1)), "E_UNSUPPORTED_MODEL", &["group_size is -1", "one group per row"]);
    assert_err(&set("version", json!("gemv")), "E_UNSUPPORTED_MODEL", &["\"gemv\"", "only the AutoAWQ GEMM layout"]);
    assert_err(&set("version", json!("GEMV_fast")), "E_UNSUPPORTED_MODEL", &["\"gemv_fast\"", "GEMM"]);
    assert_err(&set("version", json!("marlin")), "E_UNSUPPORTED_MODEL", &["\"marlin\"", "GEMM"]);
    assert_err(&set("zero_point", json!(false)), "E_UNSUPPORTED_MODEL", &["zero_point is false"]);
    assert_err(&set("quant_method", json!("gptq")), "E_UNSUPPORTED_MODEL", &["\"gptq\"", "\"awq\""]);
    // 128 is a supported group size, but it does not divide the tiny model's K = 64.
    assert_err(
        &set("group_size", json!(128)),
        "E_UNSUPPORTED_MODEL",
        &["group_size 128", "64 input channels", "model.layers.0.self_attn.q_proj"],
    );
    // The scales say g = 32 while the config says 64: the shape check catches it.
    assert_err(
        &set("group_size", json!(64)),
        "E_BAD_TENSOR",
        &[
            "model.layers.0.self_attn.q_proj.qzeros",
            "model.safetensors",
            "shape [2, 8], expected [1, 8]",
            "group_size 64",
        ],
    );
    // Upper-case version is accepted (AutoAWQ lower-cases it).
    load(&set("version", json!("GEMM"))).expect("version \"GEMM\" loads");
    // No quantization config at all, but packed tensors.
    let none = with_config(&files, |c| c.as_object_mut().unwrap().remove("quantization_config").map(|_| ()).unwrap());
    assert_err(&none, "E_UNSUPPORTED_MODEL", &["model.layers.0.self_attn.q_proj.qweight", "no quantization_config"]);
    // Legacy quant_config.json.
    let mut legacy = none.clone();
    legacy.insert(
        "quant_config.json".into(),
        br#"{"zero_point": true, "q_group_size": 32, "w_bit": 4, "version": "GEMM"}"#.to_vec(),
    );
    let m = load(&legacy).expect("legacy quant_config.json loads");
    assert_eq!(m.layers[0].wq.ty, GgmlType::AWQ4_G32);
    legacy.insert(
        "quant_config.json".into(),
        br#"{"zero_point": true, "q_group_size": 32, "w_bit": 8, "version": "gemm"}"#.to_vec(),
    );
    assert_err(&legacy, "E_UNSUPPORTED_MODEL", &["quant_config.json", "w_bit is 8", "4-bit"]);
}

#[test]
fn bad_config_json() {
    let files = folder(&tiny_awq(), None);
    let arch = with_config(&files, |c| c["architectures"] = json!(["GPT2LMHeadModel"]));
    assert_err(&arch, "E_UNSUPPORTED_MODEL", &["config.json", "GPT2LMHeadModel", "LlamaForCausalLM"]);
    let rope = with_config(&files, |c| c["rope_scaling"] = json!({"rope_type": "llama3", "factor": 8.0}));
    assert_err(&rope, "E_UNSUPPORTED_MODEL", &["rope_scaling", "llama3"]);
    let hd = with_config(&files, |c| c["head_dim"] = json!(32));
    assert_err(&hd, "E_UNSUPPORTED_MODEL", &["head_dim 32", "16"]);
    let missing = with_config(&files, |c| {
        c.as_object_mut().unwrap().remove("hidden_size");
    });
    assert_err(&missing, "E_MISSING_KEY", &["config.json", "hidden_size"]);
    let mut nojson = files.clone();
    nojson.insert("config.json".into(), b"{not json".to_vec());
    assert_err(&nojson, "E_MALFORMED", &["config.json", "JSON"]);
    let mut notok = files.clone();
    notok.remove("tokenizer.json");
    assert_err(&notok, "E_INVALID_ARGUMENT", &["tokenizer.json"]);
    let mut noweights = files.clone();
    noweights.remove("model.safetensors");
    assert_err(&noweights, "E_INVALID_ARGUMENT", &["model.safetensors", "model.safetensors.index.json"]);
    // Mistral-named checkpoints with Llama tensors load; Qwen2 ones with biases do not (below).
    load(&with_config(&files, |c| c["architectures"] = json!(["MistralForCausalLM"]))).expect("Mistral naming loads");
}

#[test]
fn bad_tensors() {
    let files = folder(&tiny_awq(), None);
    let q = "model.layers.0.self_attn.q_proj";
    // qweight stored as F16 (same bytes, twice the elements).
    let f16_qw = rewrite(&files, |(n, d, s, b)| {
        if n == format!("{q}.qweight") {
            vec![(n, Dtype::F16, vec![s[0], s[1] * 2], b)]
        } else {
            vec![(n, d, s, b)]
        }
    });
    assert_err(
        &f16_qw,
        "E_BAD_TENSOR",
        &["model.layers.0.self_attn.q_proj.qweight", "model.safetensors", "dtype F16, expected I32"],
    );
    // scales with half the output channels.
    let sc = "model.layers.1.mlp.down_proj.scales";
    let bad_scales = rewrite(&files, |(n, d, s, b)| {
        if n == sc {
            let half = b[..b.len() / 2].to_vec();
            vec![(n, d, vec![s[0], s[1] / 2], half)]
        } else {
            vec![(n, d, s, b)]
        }
    });
    assert_err(&bad_scales, "E_BAD_TENSOR", &[sc, "shape [8, 32], expected [8, 64]", "out_features"]);
    // scales as F32.
    let f32_scales = rewrite(&files, |(n, d, s, b)| {
        if n == sc {
            let v: Vec<f32> = b.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect();
            vec![(n, Dtype::F32, s, f32_bytes(&v))]
        } else {
            vec![(n, d, s, b)]
        }
    });
    assert_err(&f32_scales, "E_BAD_TENSOR", &[sc, "dtype F32, expected F16"]);
    // A missing tensor.
    let qz = "model.layers.1.self_attn.v_proj.qzeros";
    let no_qz = rewrite(&files, |e| if e.0 == qz { vec![] } else { vec![e] });
    assert_err(&no_qz, "E_MISSING_TENSOR", &[qz, "model.safetensors"]);
    let no_norm = rewrite(&files, |e| if e.0 == "model.norm.weight" { vec![] } else { vec![e] });
    assert_err(&no_norm, "E_MISSING_TENSOR", &["model.norm.weight"]);
    // Biases (Qwen2-style) and tensors the Llama layout has no place for.
    let bias = rewrite(&files, |e| {
        let mut v = vec![];
        if e.0 == format!("{q}.scales") {
            v.push((format!("{q}.bias"), Dtype::F16, vec![64], vec![0u8; 128]));
        }
        v.push(e);
        v
    });
    assert_err(&bias, "E_UNSUPPORTED_MODEL", &["model.layers.0.self_attn.q_proj.bias", "bias"]);
    let extra = rewrite(&files, |e| {
        let mut v = vec![];
        if e.0 == "model.norm.weight" {
            v.push(("model.layers.0.self_attn.q_norm.weight".into(), Dtype::F16, vec![16], vec![0u8; 32]));
        }
        v.push(e);
        v
    });
    assert_err(&extra, "E_UNSUPPORTED_MODEL", &["model.layers.0.self_attn.q_norm.weight", "no place"]);
    // Embedding of the wrong shape.
    let emb = rewrite(&files, |(n, d, s, b)| {
        if n == "model.embed_tokens.weight" {
            vec![(n, d, vec![s[1], s[0]], b)]
        } else {
            vec![(n, d, s, b)]
        }
    });
    assert_err(&emb, "E_BAD_TENSOR", &["model.embed_tokens.weight", "expected [264, 64]"]);
    // inv_freq buffers of old checkpoints are ignored.
    let inv = rewrite(&files, |e| {
        let mut v = vec![];
        if e.0 == "model.norm.weight" {
            v.push(("model.layers.0.self_attn.rotary_emb.inv_freq".into(), Dtype::F32, vec![8], vec![0u8; 32]));
        }
        v.push(e);
        v
    });
    load(&inv).expect("rotary_emb.inv_freq is ignored");
}

#[test]
fn bad_shards() {
    let files = folder(&tiny_awq(), Some(40_000));
    let shards: Vec<String> = files.keys().filter(|k| k.starts_with("model-")).cloned().collect();
    assert!(shards.len() >= 2, "{shards:?}");
    let mut missing = files.clone();
    missing.remove(&shards[1]);
    assert_err(&missing, "E_INVALID_ARGUMENT", &[&shards[1], "model.safetensors.index.json", "not among"]);
    // The index points a tensor at the wrong shard.
    let mut idx: Json = serde_json::from_slice(&files[awq::INDEX_FILE]).unwrap();
    idx["weight_map"]["model.norm.weight"] = json!(shards[0]);
    let mut wrong = files.clone();
    wrong.insert(awq::INDEX_FILE.into(), serde_json::to_vec(&idx).unwrap());
    let holder = files
        .iter()
        .find(|(k, v)| {
            k.starts_with("model-") && SafeTensors::parse(k, v).unwrap().tensor("model.norm.weight").is_some()
        })
        .unwrap()
        .0;
    if holder != &shards[0] {
        assert_err(&wrong, "E_MISSING_TENSOR", &["model.norm.weight", &shards[0], "does not hold it"]);
    }
    let mut bad_index = files.clone();
    bad_index.insert(awq::INDEX_FILE.into(), b"{\"metadata\": {}}".to_vec());
    assert_err(&bad_index, "E_MALFORMED", &["model.safetensors.index.json", "weight_map"]);
    // A truncated shard.
    let mut trunc = files.clone();
    let b = trunc.get_mut(&shards[0]).unwrap();
    b.truncate(b.len() - 10);
    assert_err(&trunc, "E_OUT_OF_BOUNDS", &[&shards[0]]);
}

// ---------------------------------------------------------------------------------------------
// safetensors container: writer/reader and hostile headers.

fn raw_file(header: &str, data_len: usize) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend(std::iter::repeat_n(0u8, data_len));
    b
}

#[test]
fn safetensors_container() {
    let mut w = SafetensorsWriter::new();
    w.set_metadata("format", "pt");
    w.add("a", Dtype::F16, &[3], f16_bytes(&[1.0, -2.0, 0.5])).unwrap();
    w.add("b", Dtype::I32, &[2, 1], words(&[7, u32::MAX])).unwrap();
    w.add("c", Dtype::BF16, &[1], vec![0x80, 0x3f]).unwrap();
    w.add("d", Dtype::F32, &[0, 4], vec![]).unwrap();
    assert!(w.add("a", Dtype::F16, &[1], vec![0, 0]).is_err(), "duplicate name");
    assert!(w.add("e", Dtype::F32, &[2], vec![0; 4]).is_err(), "size mismatch");
    let bytes = w.to_bytes();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0, "header padded to 8 bytes");
    let st = SafeTensors::parse("t.safetensors", &bytes).unwrap();
    assert_eq!(st.metadata.get("format").map(|s| s.as_str()), Some("pt"));
    assert_eq!(st.tensor("a").unwrap().to_f32().unwrap(), [1.0, -2.0, 0.5]);
    assert_eq!(st.tensor("b").unwrap().to_u32().unwrap(), [7, u32::MAX]);
    assert_eq!(st.tensor("c").unwrap().to_f32().unwrap(), [1.0]);
    assert_eq!(st.tensor("d").unwrap().shape, &[0, 4]);
    for t in &st.tensors {
        assert_eq!((t.range.start - st.data_offset) % t.dtype.size(), 0, "{} aligned", t.name);
    }
    assert!(st.tensor("a").unwrap().to_u32().is_err());

    let check = |bytes: &[u8], code: &str, needles: &[&str]| {
        let e = SafeTensors::parse("bad.safetensors", bytes).unwrap_err();
        let msg = e.to_string();
        eprintln!("{}: {msg}", e.code());
        assert_eq!(e.code(), code, "{msg}");
        for n in needles.iter().chain(&["bad.safetensors"]) {
            assert!(msg.contains(n), "{msg:?} does not mention {n:?}");
        }
    };
    check(&[1, 2, 3], "E_TRUNCATED", &["header length"]);
    check(&u64::MAX.to_le_bytes(), "E_LIMIT", &["header length"]);
    check(&200_000_000u64.to_le_bytes(), "E_LIMIT", &["100000000"]);
    check(&100u64.to_le_bytes(), "E_TRUNCATED", &["JSON header"]);
    check(&raw_file("[1, 2]", 0), "E_MALFORMED", &["start with '{'"]);
    check(&raw_file("{\"a\": 1", 0), "E_MALFORMED", &["does not parse"]);
    check(
        &raw_file(r#"{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,6]}}"#, 8),
        "E_BAD_TENSOR",
        &["'a'", "needs 8"],
    );
    check(&raw_file(r#"{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}"#, 6), "E_OUT_OF_BOUNDS", &["a (in"]);
    check(
        &raw_file(r#"{"a":{"dtype":"Q4","shape":[4],"data_offsets":[0,8]}}"#, 8),
        "E_BAD_TENSOR",
        &["unknown dtype \"Q4\""],
    );
    check(
        &raw_file(r#"{"a":{"dtype":"U8","shape":[4294967296,4294967296,2],"data_offsets":[0,8]}}"#, 8),
        "E_OVERFLOW",
        &["'a'"],
    );
    check(
        &raw_file(
            r#"{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[1],"data_offsets":[4,8]}}"#,
            8,
        ),
        "E_MALFORMED",
        &["'a'", "'b'", "overlap"],
    );
    check(&raw_file(r#"{"__metadata__":{"x":1}}"#, 0), "E_MALFORMED", &["__metadata__"]);
}

#[test]
fn saving_needs_awq_linears() {
    let base = Model::from_gguf_bytes(tiny_llama_gguf(11)).unwrap();
    let e = awq_folder::model_to_awq_folder(&base, None).unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.code(), "E_UNSUPPORTED_MODEL");
    assert!(msg.contains("blk.0.attn_q.weight") && msg.contains("Q4_1") && msg.contains("AWQ4_G"), "{msg}");
}
