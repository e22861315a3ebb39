//! AutoAWQ GEMM checkpoint folders (HF layout: config.json, model.safetensors or sharded
//! model-0000i-of-0000n.safetensors + model.safetensors.index.json, tokenizer.json,
//! tokenizer_config.json, generation_config.json) ↔ tritium's GGUF naming.
//!
//! Loading converts the folder into an in-memory GGUF that `Model::from_gguf_bytes_with` reads
//! (the model side, with the tokenizer, and saving are in `model::awq_folder`): llama metadata
//! from config.json ([`HfConfig`]), and for each tensor
//!
//! | HF (safetensors) | GGUF |
//! |---|---|
//! | `model.embed_tokens.weight` | `token_embd.weight` (dtype kept: F16, BF16 or F32) |
//! | `model.layers.L.input_layernorm.weight` | `blk.L.attn_norm.weight` (F32) |
//! | `model.layers.L.post_attention_layernorm.weight` | `blk.L.ffn_norm.weight` (F32) |
//! | `model.layers.L.self_attn.{q,k,v,o}_proj` | `blk.L.attn_{q,k,v,output}` |
//! | `model.layers.L.mlp.{gate,up,down}_proj` | `blk.L.ffn_{gate,up,down}` |
//! | `model.norm.weight` | `output_norm.weight` (F32) |
//! | `lm_head` | `output` (absent when tied) |
//!
//! A linear is either AutoAWQ GEMM (`.qweight` I32 `[K, N/8]`, `.qzeros` I32 `[K/g, N/8]`,
//! `.scales` F16 `[K/g, N]`, eight int4 codes per I32 in AutoAWQ's nibble order: see
//! `quant::awq`), kept as the same three tensors
//! (GGUF dims innermost first: `[N/8, K]`, `[N/8, K/g]`, `[N, K/g]`), or a plain `.weight`
//! (F16/BF16/F32 `[N, K]`). GGUF orders the output channels of q_proj and k_proj per head as
//! llama.cpp's converter does (RoPE on adjacent pairs): GGUF row `h·hd + 2i + j` is HF row
//! `h·hd + j·hd/2 + i`; packed linears are unpacked, permuted and repacked for that.
//!
//! Saving (`model::awq_folder::model_to_awq_folder`) is the inverse, for models whose decoder
//! linears are all `AWQ4_G*` with one group size.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::format::gguf::GgufWriter;
use crate::format::hf::{AwqConfig, HfConfig};
use crate::format::safetensors::{self, Dtype, SafeTensors, TensorView};
use crate::quant::{awq as q4, GgmlType};

pub const INDEX_FILE: &str = "model.safetensors.index.json";
pub const SINGLE_FILE: &str = "model.safetensors";

/// The decoder linears of one layer: (HF module under `model.layers.L.`, GGUF name under
/// `blk.L.`, whether GGUF permutes its rows per head).
pub const LINEARS: [(&str, &str, bool); 7] = [
    ("self_attn.q_proj", "attn_q", true),
    ("self_attn.k_proj", "attn_k", true),
    ("self_attn.v_proj", "attn_v", false),
    ("self_attn.o_proj", "attn_output", false),
    ("mlp.gate_proj", "ffn_gate", false),
    ("mlp.up_proj", "ffn_up", false),
    ("mlp.down_proj", "ffn_down", false),
];

/// Row order HF → GGUF for a q/k projection of `rows` rows in heads of `head_dim`: GGUF row `r`
/// is HF row `perm[r]` (llama.cpp `convert_hf_to_gguf.py` `permute`).
pub fn hf_to_gguf_rows(rows: usize, head_dim: usize) -> Vec<usize> {
    let half = head_dim / 2;
    let mut perm = vec![0; rows];
    for h in 0..rows / head_dim {
        for i in 0..half {
            for j in 0..2 {
                perm[h * head_dim + 2 * i + j] = h * head_dim + j * half + i;
            }
        }
    }
    perm
}

/// Row order GGUF → HF (the inverse of [`hf_to_gguf_rows`]): HF row `r` is GGUF row `perm[r]`.
pub fn gguf_to_hf_rows(rows: usize, head_dim: usize) -> Vec<usize> {
    let fwd = hf_to_gguf_rows(rows, head_dim);
    let mut inv = vec![0; rows];
    for (g, &h) in fwd.iter().enumerate() {
        inv[h] = g;
    }
    inv
}

/// The safetensors files of a checkpoint folder, with a tensor → shard map.
pub struct Checkpoint<'a> {
    pub shards: Vec<SafeTensors<'a>>,
    location: BTreeMap<String, usize>,
}

impl<'a> Checkpoint<'a> {
    /// Open `model.safetensors.index.json` and every shard it names, or `model.safetensors`, or
    /// the folder's only `*.safetensors` file.
    pub fn open(files: &'a BTreeMap<String, Vec<u8>>) -> Result<Checkpoint<'a>> {
        let mut shards = Vec::new();
        let mut expected: Vec<(String, String)> = Vec::new();
        if let Some(index) = files.get(INDEX_FILE) {
            let malformed = |message: String| Error::MalformedFile { file: INDEX_FILE.into(), message };
            let v: Json =
                serde_json::from_slice(index).map_err(|e| malformed(format!("does not parse as JSON: {e}")))?;
            let map = v
                .get("weight_map")
                .and_then(|m| m.as_object())
                .ok_or_else(|| malformed("has no \"weight_map\" object (tensor name → shard file)".into()))?;
            let mut by_file: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (t, f) in map {
                let f =
                    f.as_str().ok_or_else(|| malformed(format!("weight_map[\"{t}\"] is {f}, expected a file name")))?;
                by_file.entry(f).or_default().push(t);
                expected.push((t.clone(), f.to_string()));
            }
            for (f, tensors) in &by_file {
                let bytes = files.get(*f).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "{INDEX_FILE} maps {} tensors (first: '{}') to the shard {f}, which is not among the \
                         checkpoint's files",
                        tensors.len(),
                        tensors[0]
                    ))
                })?;
                shards.push(SafeTensors::parse(f, bytes)?);
            }
        } else if let Some(bytes) = files.get(SINGLE_FILE) {
            shards.push(SafeTensors::parse(SINGLE_FILE, bytes)?);
        } else {
            let st: Vec<&String> = files.keys().filter(|k| k.ends_with(".safetensors")).collect();
            match st.as_slice() {
                [one] => shards.push(SafeTensors::parse(one, &files[*one])?),
                [] => {
                    return Err(Error::InvalidArgument(format!(
                        "the checkpoint has neither {SINGLE_FILE} nor {INDEX_FILE} (files: {})",
                        files.keys().cloned().collect::<Vec<_>>().join(", ")
                    )))
                }
                many => {
                    return Err(Error::InvalidArgument(format!(
                        "the checkpoint has {} .safetensors files ({}) but no {INDEX_FILE} saying which tensor is \
                         where",
                        many.len(),
                        many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    )))
                }
            }
        }
        let mut location = BTreeMap::new();
        for (i, s) in shards.iter().enumerate() {
            for name in s.names() {
                if let Some(j) = location.insert(name.to_string(), i) {
                    return Err(Error::MalformedFile {
                        file: s.file.clone(),
                        message: format!("tensor '{name}' is also in {}", shards[j].file),
                    });
                }
            }
        }
        for (t, f) in expected {
            match location.get(&t) {
                Some(&i) if shards[i].file == f => {}
                _ => {
                    return Err(Error::MissingTensor {
                        tensor: format!("{t} ({INDEX_FILE} maps it to {f}, which does not hold it)"),
                    })
                }
            }
        }
        Ok(Checkpoint { shards, location })
    }

    pub fn tensor(&self, name: &str) -> Option<TensorView<'_>> {
        self.location.get(name).and_then(|&i| self.shards[i].tensor(name))
    }

    /// Every tensor name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.location.keys().map(String::as_str)
    }

    /// Where to look for a missing tensor, for messages.
    fn files(&self) -> String {
        self.shards.iter().map(|s| s.file.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// Read and check the AutoAWQ GEMM tensors of linear `prefix` (`prefix.qweight` I32 `[k, n/8]`,
/// `prefix.qzeros` I32 `[k/g, n/8]`, `prefix.scales` F16 `[k/g, n]`).
pub fn read_gemm(ck: &Checkpoint<'_>, prefix: &str, k: usize, n: usize, group: usize) -> Result<q4::GemmTensors> {
    let get = |suffix: &str| {
        let name = format!("{prefix}.{suffix}");
        ck.tensor(&name).ok_or_else(|| Error::MissingTensor { tensor: format!("{name} (not in {})", ck.files()) })
    };
    if group == 0 || k % group != 0 {
        return Err(Error::UnsupportedModel(format!(
            "group size {group} does not divide the {k} input channels of {prefix}"
        )));
    }
    if n % 8 != 0 {
        return Err(Error::UnsupportedModel(format!(
            "{prefix} has {n} output channels; the AutoAWQ GEMM layout packs 8 per int32"
        )));
    }
    let (k64, n64, g64) = (k as u64, n as u64, (k / group) as u64);
    const PACKED: &str = " (AutoAWQ GEMM packs eight 4-bit codes per int32)";
    let qw = get("qweight")?;
    qw.expect_dtype(&[Dtype::I32], PACKED)?;
    qw.expect_shape(&[k64, n64 / 8], " = [in_features, out_features / 8]")?;
    let qz = get("qzeros")?;
    qz.expect_dtype(&[Dtype::I32], PACKED)?;
    qz.expect_shape(&[g64, n64 / 8], &format!(" = [in_features / group_size {group}, out_features / 8]"))?;
    let sc = get("scales")?;
    sc.expect_dtype(&[Dtype::F16], " (AutoAWQ GEMM scales are fp16)")?;
    sc.expect_shape(&[g64, n64], &format!(" = [in_features / group_size {group}, out_features]"))?;
    let scales = sc.to_f16()?;
    if let Some(i) = scales.iter().position(|s| !s.is_finite()) {
        return Err(Error::BadTensor {
            tensor: sc.describe(),
            message: format!("scale {i} is {} (not finite); NaN and infinite AWQ scales are rejected", scales[i]),
        });
    }
    Ok(q4::GemmTensors { k, n, group, qweight: qw.to_u32()?, qzeros: qz.to_u32()?, scales })
}

fn ggml_float(v: &TensorView<'_>, why: &str) -> Result<GgmlType> {
    v.expect_dtype(&[Dtype::F16, Dtype::BF16, Dtype::F32], why)?;
    Ok(match v.dtype {
        Dtype::F16 => GgmlType::F16,
        Dtype::BF16 => GgmlType::BF16,
        _ => GgmlType::F32,
    })
}

/// Rows of a row-major matrix of `row_bytes`-byte rows, reordered: row i of the result is row
/// `perm[i]` of `data`.
pub fn permute_row_bytes(data: &[u8], row_bytes: usize, perm: &[usize]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for &src in perm {
        out.extend_from_slice(&data[src * row_bytes..(src + 1) * row_bytes]);
    }
    out
}

struct Converter<'c, 'a> {
    ck: &'c Checkpoint<'a>,
    awq: Option<&'c AwqConfig>,
    head_dim: usize,
    gguf: GgufWriter,
    used: BTreeSet<String>,
}

impl Converter<'_, '_> {
    fn require(&mut self, name: &str) -> Result<TensorView<'_>> {
        self.used.insert(name.to_string());
        self.ck
            .tensor(name)
            .ok_or_else(|| Error::MissingTensor { tensor: format!("{name} (not in {})", self.ck.files()) })
    }

    /// A norm weight `[len]` → F32.
    fn vector(&mut self, hf: &str, gguf: &str, len: usize) -> Result<()> {
        let v = self.require(hf)?;
        ggml_float(&v, " for a norm weight")?;
        v.expect_shape(&[len as u64], "")?;
        let data = safetensors::encode_floats(Dtype::F32, &v.to_f32()?)?;
        self.gguf.add_tensor(gguf, &[len as u64], GgmlType::F32, data)
    }

    /// A matrix kept in its float dtype (`[rows, cols]`), rows permuted when `perm` is given.
    fn matrix(&mut self, hf: &str, gguf: &str, rows: usize, cols: usize, perm: Option<&[usize]>) -> Result<()> {
        let v = self.require(hf)?;
        let ty = ggml_float(&v, " for an unquantized weight")?;
        v.expect_shape(&[rows as u64, cols as u64], " = [out_features, in_features]")?;
        let data = match perm {
            Some(p) => permute_row_bytes(v.data, cols * v.dtype.size(), p),
            None => v.data.to_vec(),
        };
        self.gguf.add_tensor(gguf, &[cols as u64, rows as u64], ty, data)
    }

    /// One linear `[n, k]`: AutoAWQ GEMM tensors or a plain weight.
    fn linear(&mut self, hf: &str, gguf: &str, n: usize, k: usize, permute: bool, bias: bool) -> Result<()> {
        let bname = format!("{hf}.bias");
        match (self.ck.tensor(&bname), bias) {
            (Some(_), true) => self.vector(&bname, &format!("{gguf}.bias"), n)?,
            (Some(b), false) => {
                return Err(Error::UnsupportedModel(format!(
                    "{} is a linear bias; this architecture's {gguf} has none",
                    b.describe()
                )))
            }
            (None, true) => {
                return Err(Error::MissingTensor { tensor: format!("{bname}; not in {}", self.ck.files()) })
            }
            (None, false) => {}
        }
        let perm = permute.then(|| hf_to_gguf_rows(n, self.head_dim));
        let qname = format!("{hf}.qweight");
        if self.ck.tensor(&qname).is_none() {
            let wname = format!("{hf}.weight");
            if self.ck.tensor(&wname).is_none() {
                return Err(Error::MissingTensor {
                    tensor: format!("{qname} (or the unquantized {wname}); not in {}", self.ck.files()),
                });
            }
            return self.matrix(&wname, &format!("{gguf}.weight"), n, k, perm.as_deref());
        }
        let awq = self.awq.ok_or_else(|| {
            Error::UnsupportedModel(format!(
                "{qname} is AWQ-packed, but config.json has no quantization_config (and there is no quant_config.json)"
            ))
        })?;
        awq.check_k(hf, k)?;
        let g = awq.group_size;
        for s in ["qweight", "qzeros", "scales"] {
            self.used.insert(format!("{hf}.{s}"));
        }
        let mut t = read_gemm(self.ck, hf, k, n, g)?;
        if let Some(p) = &perm {
            t = q4::pack_gemm(&q4::unpack_gemm(&t).permute_rows(p))?;
        }
        let (n64, k64, g64) = (n as u64, k as u64, (k / g) as u64);
        self.gguf.add_tensor(
            &format!("{gguf}.qweight"),
            &[n64 / 8, k64],
            GgmlType::I32,
            safetensors::encode_words(&t.qweight),
        )?;
        self.gguf.add_tensor(
            &format!("{gguf}.qzeros"),
            &[n64 / 8, g64],
            GgmlType::I32,
            safetensors::encode_words(&t.qzeros),
        )?;
        let scales: Vec<u8> = t.scales.iter().flat_map(|s| s.to_le_bytes()).collect();
        self.gguf.add_tensor(&format!("{gguf}.scales"), &[n64, g64], GgmlType::F16, scales)
    }
}

/// Tensors that may be present and carry nothing tritium needs.
fn ignorable(name: &str) -> bool {
    name.ends_with(".rotary_emb.inv_freq")
}

/// File `f` of a checkpoint folder given as file name → bytes; an error naming the files there
/// when it is missing.
pub fn required<'a>(files: &'a BTreeMap<String, Vec<u8>>, f: &str) -> Result<&'a Vec<u8>> {
    files.get(f).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "the checkpoint has no {f} (files: {})",
            files.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })
}

/// The folder's config.json (with quant_config.json, if any, for the AutoAWQ settings).
pub fn folder_config(files: &BTreeMap<String, Vec<u8>>) -> Result<HfConfig> {
    HfConfig::from_json(required(files, "config.json")?, files.get("quant_config.json").map(|v| v.as_slice()))
}

/// Convert the tensors of an AutoAWQ GEMM (or plain fp16/bf16/fp32 HF Llama) checkpoint folder,
/// given as file name → bytes, with its config `cfg` ([`folder_config`]), into an in-memory GGUF
/// with tritium's naming (no tokenizer: see `model::awq_folder`).
pub fn folder_to_gguf(files: &BTreeMap<String, Vec<u8>>, cfg: &HfConfig) -> Result<Vec<u8>> {
    let ck = Checkpoint::open(files)?;

    let (d, kv, ffn, vocab) =
        (cfg.hidden_size, cfg.num_key_value_heads * cfg.head_dim, cfg.intermediate_size, cfg.vocab_size);
    let qd = cfg.num_attention_heads * cfg.head_dim;
    let mut cv = Converter {
        ck: &ck,
        awq: cfg.awq.as_ref(),
        head_dim: cfg.head_dim,
        gguf: GgufWriter::new(),
        used: BTreeSet::new(),
    };
    // Qwen 2 rotates halves (GGUF keeps HF's row order) and has q, k and v biases; Llama and
    // Mistral rotate adjacent pairs in GGUF's order (q and k rows permuted per head).
    let qwen2 = cfg.is_qwen2();
    for (k, v) in cfg.gguf_metadata() {
        cv.gguf.set(&k, v);
    }
    cv.matrix("model.embed_tokens.weight", "token_embd.weight", vocab, d, None)?;
    for l in 0..cfg.num_hidden_layers {
        let hf = |s: &str| format!("model.layers.{l}.{s}");
        let gg = |s: &str| format!("blk.{l}.{s}");
        cv.vector(&hf("input_layernorm.weight"), &gg("attn_norm.weight"), d)?;
        cv.vector(&hf("post_attention_layernorm.weight"), &gg("ffn_norm.weight"), d)?;
        for (hname, gname, permute) in LINEARS {
            let (n, k) = match gname {
                "attn_q" => (qd, d),
                "attn_k" | "attn_v" => (kv, d),
                "attn_output" => (d, qd),
                "ffn_gate" | "ffn_up" => (ffn, d),
                _ => (d, ffn),
            };
            let bias = qwen2 && matches!(gname, "attn_q" | "attn_k" | "attn_v");
            cv.linear(&hf(hname), &gg(gname), n, k, permute && !qwen2, bias)?;
        }
    }
    cv.vector("model.norm.weight", "output_norm.weight", d)?;
    let has_head = ck.tensor("lm_head.weight").is_some() || ck.tensor("lm_head.qweight").is_some();
    if has_head && !cfg.tie_word_embeddings {
        cv.linear("lm_head", "output", vocab, d, false, false)?;
    } else if has_head {
        // Tied: a stored copy of the embedding is not needed.
        cv.used.insert("lm_head.weight".into());
    }
    if let Some(extra) = ck.names().find(|n| !cv.used.contains(*n) && !ignorable(n)) {
        let file = ck.tensor(extra).map(|t| t.file.to_string()).unwrap_or_default();
        return Err(Error::UnsupportedModel(format!(
            "tensor {extra} (in {file}) has no place in the layout tritium reads (a {} checkpoint with {} layers)",
            cfg.architecture, cfg.num_hidden_layers
        )));
    }
    Ok(cv.gguf.to_bytes())
}

/// Read a checkpoint folder's `.json` and `.safetensors` files (other files, e.g. README or
/// PyTorch `.bin` weights, are skipped).
#[cfg(not(target_arch = "wasm32"))]
pub fn read_folder(path: &std::path::Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let io = |p: &std::path::Path| {
        let p = p.display().to_string();
        move |e| Error::Io { path: p, source: e }
    };
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(path).map_err(io(path))? {
        let entry = entry.map_err(io(path))?;
        let p = entry.path();
        let Some(name) = p.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
        if !(name.ends_with(".json") || name.ends_with(".safetensors")) || !p.is_file() {
            continue;
        }
        files.insert(name, std::fs::read(&p).map_err(io(&p))?);
    }
    Ok(files)
}

/// Write `(file name, bytes)` pairs into folder `path` (created if needed).
#[cfg(not(target_arch = "wasm32"))]
pub fn write_folder(path: &std::path::Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    let io = |p: &std::path::Path| {
        let p = p.display().to_string();
        move |e| Error::Io { path: p, source: e }
    };
    std::fs::create_dir_all(path).map_err(io(path))?;
    for (name, bytes) in files {
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(Error::InvalidArgument(format!("'{name}' is not a plain file name")));
        }
        let p = path.join(name);
        std::fs::write(&p, bytes).map_err(io(&p))?;
    }
    Ok(())
}
