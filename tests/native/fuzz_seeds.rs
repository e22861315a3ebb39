//! The seed corpus of the cargo-fuzz targets (`fuzz/seeds/<target>/`): small synthetic inputs
//! written by [`write_seeds`] (`TRITIUM_WRITE_FUZZ_SEEDS=1 cargo test --release --test native
//! fuzz_seeds`), never model files. The test checks that the committed seeds still exist and that
//! every `ok-*` seed loads (a seed the loader rejects up front would fuzz only the error path).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tritium::format::gguf::{GgufFile, GgufWriter, Value};
use tritium::format::hf::HfConfig;
use tritium::model::awq_folder;
use tritium::model::synthetic::tiny_llama_gguf;
use tritium::model::Model;
use tritium::quant::{self, GgmlType};
use tritium::tokenizer::Tokenizer;

use crate::common;

pub const MICRO_DIM: usize = 32;

/// A 1-layer, 32-wide Llama GGUF with the tiny model's tokenizer (about 14 KB): small enough
/// for the fuzzer to mutate quickly.
pub fn micro_gguf(seed: u64) -> Vec<u8> {
    let tiny = tiny_llama_gguf(seed);
    let g = GgufFile::parse(&tiny).unwrap();
    let mut w = GgufWriter::with_metadata(g.metadata.clone());
    let (d, heads, kv_heads, ffn) = (MICRO_DIM, 2usize, 1usize, 32usize);
    w.set("general.name", Value::String("tritium-micro".into()));
    w.set("llama.embedding_length", Value::U32(d as u32));
    w.set("llama.block_count", Value::U32(1));
    w.set("llama.feed_forward_length", Value::U32(ffn as u32));
    w.set("llama.attention.head_count", Value::U32(heads as u32));
    w.set("llama.attention.head_count_kv", Value::U32(kv_heads as u32));
    w.set("llama.rope.dimension_count", Value::U32((d / heads) as u32));
    w.set("llama.context_length", Value::U32(64));
    let vocab = g.get_u64("llama.vocab_size").unwrap().unwrap() as usize;
    let kv = d / heads * kv_heads;
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut add = |name: &str, rows: usize, cols: usize, ty: GgmlType, center: f32| {
        let x: Vec<f32> = (0..rows * cols)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                center + ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.5
            })
            .collect();
        let dims: Vec<u64> = if rows == 1 { vec![cols as u64] } else { vec![cols as u64, rows as u64] };
        w.add_tensor(name, &dims, ty, quant::quantize(ty, &x).unwrap()).unwrap();
    };
    add("token_embd.weight", vocab, d, GgmlType::Q8_0, 0.0);
    add("blk.0.attn_norm.weight", 1, d, GgmlType::F32, 1.0);
    add("blk.0.attn_q.weight", d, d, GgmlType::Q4_1, 0.0);
    add("blk.0.attn_k.weight", kv, d, GgmlType::Q4_0, 0.0);
    add("blk.0.attn_v.weight", kv, d, GgmlType::F16, 0.0);
    add("blk.0.attn_output.weight", d, d, GgmlType::BF16, 0.0);
    add("blk.0.ffn_norm.weight", 1, d, GgmlType::F32, 1.0);
    add("blk.0.ffn_gate.weight", ffn, d, GgmlType::Q8_0, 0.0);
    add("blk.0.ffn_up.weight", ffn, d, GgmlType::F32, 0.0);
    add("blk.0.ffn_down.weight", d, ffn, GgmlType::Q4_1, 0.0);
    add("output_norm.weight", 1, d, GgmlType::F32, 1.0);
    w.to_bytes()
}

/// The micro model as an AutoAWQ GEMM folder (group 32), file name → bytes.
pub fn micro_awq_folder(shard: Option<u64>) -> BTreeMap<String, Vec<u8>> {
    let base = Model::from_gguf_bytes(micro_gguf(3)).unwrap();
    let m = crate::awq_folder::awq_model(&base, 32);
    awq_folder::model_to_awq_folder(&m, shard).unwrap().into_iter().collect()
}

/// The awq_folder target's input encoding: per file, u16 LE name length, name, u32 LE length,
/// content.
pub fn encode_files(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, bytes) in files {
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

fn seeds_dir() -> PathBuf {
    common::root().join("fuzz/seeds")
}

/// Every seed: (target, file name, bytes).
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut v = Vec::new();
    let micro = micro_gguf(1);
    v.push(("gguf", "ok-micro.gguf".into(), micro.clone()));
    // Header and metadata only (a tokenizer-only GGUF): exercises the metadata parser.
    let g = GgufFile::parse(&micro).unwrap();
    let mut w = GgufWriter::new();
    for (k, val) in g.metadata.iter().filter(|(k, _)| !k.starts_with("tokenizer.ggml.")) {
        w.set(k, val.clone());
    }
    v.push(("gguf", "metadata-only.gguf".into(), w.to_bytes()));

    let folder = micro_awq_folder(None);
    v.push(("awq_folder", "ok-micro-awq".into(), encode_files(&folder)));
    let sharded = micro_awq_folder(Some(4_000));
    v.push(("awq_folder", "ok-micro-awq-sharded".into(), encode_files(&sharded)));

    v.push(("hf_config", "ok-config.json".into(), folder["config.json"].clone()));
    let mut legacy: serde_json::Value = serde_json::from_slice(&folder["config.json"]).unwrap();
    let q = legacy.as_object_mut().unwrap().remove("quantization_config").unwrap();
    let mut both = serde_json::to_vec(&legacy).unwrap();
    both.push(0);
    both.extend(serde_json::to_vec(&q).unwrap());
    v.push(("hf_config", "ok-config-legacy-quant.json".into(), both));

    v.push(("tokenizer", "ok-tokenizer.json".into(), folder["tokenizer.json"].clone()));
    let mut with_cfg = folder["tokenizer.json"].clone();
    with_cfg.push(0);
    with_cfg.extend(&folder["tokenizer_config.json"]);
    with_cfg.push(0);
    with_cfg.extend("<|im_start|>user\nthe thin ünï 日本 <|im_end|>".as_bytes());
    v.push(("tokenizer", "ok-tokenizer-config-text".into(), with_cfg));
    v
}

fn loads(target: &str, bytes: &[u8]) -> Result<(), String> {
    let e = |e: tritium::Error| format!("{}: {e}", e.code());
    match target {
        "gguf" => Model::from_gguf_bytes(bytes.to_vec()).map(|_| ()).map_err(e),
        "awq_folder" => {
            let mut files = BTreeMap::new();
            let mut d = bytes;
            while d.len() >= 2 {
                let nl = u16::from_le_bytes([d[0], d[1]]) as usize;
                let name = String::from_utf8(d[2..2 + nl].to_vec()).unwrap();
                d = &d[2 + nl..];
                let len = u32::from_le_bytes(d[..4].try_into().unwrap()) as usize;
                files.insert(name, d[4..4 + len].to_vec());
                d = &d[4 + len..];
            }
            awq_folder::load_awq_folder(&files).map(|_| ()).map_err(e)
        }
        "hf_config" => {
            let (c, q) = match bytes.iter().position(|&b| b == 0) {
                Some(i) => (&bytes[..i], Some(&bytes[i + 1..])),
                None => (bytes, None),
            };
            HfConfig::from_json(c, q).map(|_| ()).map_err(e)
        }
        "tokenizer" => {
            let mut parts = bytes.splitn(3, |&b| b == 0);
            let json = parts.next().unwrap();
            Tokenizer::from_tokenizer_json(json, parts.next()).map(|_| ()).map_err(e)
        }
        other => panic!("unknown fuzz target {other}"),
    }
}

fn write_seeds(dir: &Path) {
    for (target, name, bytes) in seeds() {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), bytes).unwrap();
    }
}

#[test]
fn fuzz_seeds_exist_and_load() {
    let dir = seeds_dir();
    if std::env::var_os("TRITIUM_WRITE_FUZZ_SEEDS").is_some() {
        write_seeds(&dir);
    }
    let mut n_ok = 0;
    for target in ["gguf", "awq_folder", "hf_config", "tokenizer"] {
        let d = dir.join(target);
        let entries: Vec<PathBuf> = std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("{}: {e} (write the seeds: TRITIUM_WRITE_FUZZ_SEEDS=1)", d.display()))
            .map(|e| e.unwrap().path())
            .collect();
        assert!(!entries.is_empty(), "no seeds in {}", d.display());
        for p in entries {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).unwrap();
            assert!(bytes.len() <= 64 << 10, "seed {} is {} bytes; keep seeds small", p.display(), bytes.len());
            if name.starts_with("ok-") {
                loads(target, &bytes).unwrap_or_else(|e| panic!("seed {} does not load: {e}", p.display()));
                n_ok += 1;
            }
        }
    }
    assert!(n_ok >= 4, "only {n_ok} loading seeds");
}
