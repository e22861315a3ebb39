//! AutoAWQ GEMM checkpoint folders (HF layout: config.json, model.safetensors or sharded
//! model-0000i-of-0000n.safetensors + model.safetensors.index.json, tokenizer.json,
//! tokenizer_config.json, generation_config.json) ↔ tritium's GGUF naming.
//!
//! Loading converts the folder into an in-memory GGUF that [`Model::from_gguf_bytes_with`]
//! reads: llama metadata from config.json ([`HfConfig`]), and for each tensor
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
//! `.scales` F16 `[K/g, N]`, shared/spec/algorithms.md §1.7), kept as the same three tensors
//! (GGUF dims innermost first: `[N/8, K]`, `[N/8, K/g]`, `[N, K/g]`), or a plain `.weight`
//! (F16/BF16/F32 `[N, K]`). GGUF orders the output channels of q_proj and k_proj per head as
//! llama.cpp's converter does (RoPE on adjacent pairs): GGUF row `h·hd + 2i + j` is HF row
//! `h·hd + j·hd/2 + i`; packed linears are unpacked, permuted and repacked for that.
//!
//! Saving ([`model_to_awq_folder`]) is the inverse, for models whose decoder linears are all
//! `AWQ4_G*` with one group size.

use std::collections::{BTreeMap, BTreeSet};

use half::f16;
use serde_json::{json, Value as Json};

use crate::error::{Error, Result};
use crate::format::gguf::GgufWriter;
use crate::format::hf::{AwqConfig, HfConfig};
use crate::format::safetensors::{self, Dtype, SafeTensors, SafetensorsWriter, TensorView};
use crate::model::{Model, Weight};
use crate::quant::{self, awq as q4, GgmlType};
use crate::tokenizer::Tokenizer;

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
fn permute_row_bytes(data: &[u8], row_bytes: usize, perm: &[usize]) -> Vec<u8> {
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
    fn linear(&mut self, hf: &str, gguf: &str, n: usize, k: usize, permute: bool) -> Result<()> {
        let bias = format!("{hf}.bias");
        if let Some(b) = self.ck.tensor(&bias) {
            return Err(Error::UnsupportedModel(format!(
                "{} is a linear bias; tritium reads the Llama layout, whose linears have none",
                b.describe()
            )));
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

/// Convert an AutoAWQ GEMM (or plain fp16/bf16/fp32 HF Llama) checkpoint folder, given as file
/// name → bytes, into an in-memory GGUF with tritium's naming, plus its tokenizer.
pub fn awq_folder_to_gguf(files: &BTreeMap<String, Vec<u8>>) -> Result<(Vec<u8>, Tokenizer)> {
    let need = |f: &str| {
        files.get(f).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "the checkpoint has no {f} (files: {})",
                files.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    };
    let cfg = HfConfig::from_json(need("config.json")?, files.get("quant_config.json").map(|v| v.as_slice()))?;
    let tokenizer = Tokenizer::from_tokenizer_json(
        need("tokenizer.json")?,
        files.get("tokenizer_config.json").map(|v| v.as_slice()),
    )?;
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
            cv.linear(&hf(hname), &gg(gname), n, k, permute)?;
        }
    }
    cv.vector("model.norm.weight", "output_norm.weight", d)?;
    let has_head = ck.tensor("lm_head.weight").is_some() || ck.tensor("lm_head.qweight").is_some();
    if has_head && !cfg.tie_word_embeddings {
        cv.linear("lm_head", "output", vocab, d, false)?;
    } else if has_head {
        // Tied: a stored copy of the embedding is not needed.
        cv.used.insert("lm_head.weight".into());
    }
    if let Some(extra) = ck.names().find(|n| !cv.used.contains(*n) && !ignorable(n)) {
        let file = ck.tensor(extra).map(|t| t.file.to_string()).unwrap_or_default();
        return Err(Error::UnsupportedModel(format!(
            "tensor {extra} (in {file}) has no place in the Llama layout tritium reads (a {} checkpoint with \
             {} layers)",
            cfg.architecture, cfg.num_hidden_layers
        )));
    }
    Ok((cv.gguf.to_bytes(), tokenizer))
}

/// Load an AutoAWQ GEMM (or plain HF Llama) checkpoint folder as a [`Model`].
pub fn load_awq_folder(files: &BTreeMap<String, Vec<u8>>) -> Result<Model> {
    let (gguf, tokenizer) = awq_folder_to_gguf(files)?;
    Model::from_gguf_bytes_with(gguf, Some(tokenizer))
}

/// A float vector as F16 when every value survives the round trip, else F32 (norms are tiny;
/// keeping them exact costs nothing).
fn exact_floats(v: &[f32]) -> (Dtype, Vec<u8>) {
    let dtype = if v.iter().all(|&x| f16::from_f32(x).to_f32() == x) { Dtype::F16 } else { Dtype::F32 };
    (dtype, safetensors::encode_floats(dtype, v).expect("F16 or F32"))
}

/// A tensor to write: name, dtype, row-major shape, bytes.
type StEntry = (String, Dtype, Vec<u64>, Vec<u8>);

fn dequantized(model: &Model, w: &Weight) -> Result<Vec<f32>> {
    let m = model.matrix(w);
    quant::dequantize_vec(m.ty, m.data, w.rows * w.cols)
}

/// Save a model whose decoder linears are all `AWQ4_G*` (one group size) as an AutoAWQ GEMM
/// checkpoint folder: `(file name, bytes)` for config.json, generation_config.json, the
/// safetensors file(s) (sharded into `model-0000i-of-0000n.safetensors` + index when the tensors
/// exceed `max_shard_bytes`), tokenizer.json and tokenizer_config.json.
///
/// The embedding (and lm_head when the output is not tied) is written as F16, dequantized from
/// whatever type the model holds; norms as F16 when exactly representable, else F32.
pub fn model_to_awq_folder(model: &Model, max_shard_bytes: Option<u64>) -> Result<Vec<(String, Vec<u8>)>> {
    let c = &model.config;
    let tok = model.tokenizer();
    let mut cfg = HfConfig::from_llama(c, model.tied_output, tok.bos_id(), tok.eos_id())?;

    // One AWQ group size over every decoder linear.
    let mut group: Option<(usize, &str)> = None;
    for l in &model.layers {
        for w in [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down] {
            let g = w.ty.group().filter(|&g| GgmlType::awq4(g) == Some(w.ty)).ok_or_else(|| {
                Error::UnsupportedModel(format!(
                    "{} is {}; an AutoAWQ folder needs every decoder linear in AWQ int4 (AWQ4_G32, AWQ4_G64 or \
                     AWQ4_G128): quantize the model to AWQ first",
                    w.name,
                    w.ty.name()
                ))
            })?;
            match group {
                None => group = Some((g, &w.name)),
                Some((g0, first)) if g0 != g => {
                    return Err(Error::UnsupportedModel(format!(
                        "{} has group size {g} but {first} has {g0}; an AutoAWQ quantization_config has one group_size",
                        w.name
                    )))
                }
                _ => {}
            }
        }
    }
    let (group, _) = group.ok_or_else(|| Error::UnsupportedModel("the model has no decoder layers".into()))?;
    cfg.awq = Some(AwqConfig::gemm(group));

    let mut tensors: Vec<StEntry> = Vec::new();
    let f16_matrix =
        |w: &Weight| -> Result<Vec<u8>> { safetensors::encode_floats(Dtype::F16, &dequantized(model, w)?) };
    let shape2 = |w: &Weight| vec![w.rows as u64, w.cols as u64];
    tensors.push((
        "model.embed_tokens.weight".into(),
        Dtype::F16,
        shape2(&model.token_embd),
        f16_matrix(&model.token_embd)?,
    ));
    for (li, l) in model.layers.iter().enumerate() {
        let p = |s: &str| format!("model.layers.{li}.{s}");
        let (dt, b) = exact_floats(&l.attn_norm);
        tensors.push((p("input_layernorm.weight"), dt, vec![l.attn_norm.len() as u64], b));
        let ws = [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down];
        for (w, (hname, _, permute)) in ws.into_iter().zip(LINEARS) {
            let m = model.matrix(w);
            let mut lin = q4::Int4Linear::from_blocks(w.ty, w.rows, w.cols, m.data);
            if permute {
                lin = lin.permute_rows(&gguf_to_hf_rows(w.rows, c.head_dim));
            }
            let t = q4::pack_gemm(&lin)?;
            let (n, k, g) = (w.rows as u64, w.cols as u64, (w.cols / group) as u64);
            tensors.push((
                p(&format!("{hname}.qweight")),
                Dtype::I32,
                vec![k, n / 8],
                safetensors::encode_words(&t.qweight),
            ));
            tensors.push((
                p(&format!("{hname}.qzeros")),
                Dtype::I32,
                vec![g, n / 8],
                safetensors::encode_words(&t.qzeros),
            ));
            let sc: Vec<u8> = t.scales.iter().flat_map(|s| s.to_le_bytes()).collect();
            tensors.push((p(&format!("{hname}.scales")), Dtype::F16, vec![g, n], sc));
        }
        let (dt, b) = exact_floats(&l.ffn_norm);
        tensors.push((p("post_attention_layernorm.weight"), dt, vec![l.ffn_norm.len() as u64], b));
    }
    let (dt, b) = exact_floats(&model.output_norm);
    tensors.push(("model.norm.weight".into(), dt, vec![model.output_norm.len() as u64], b));
    if !model.tied_output {
        tensors.push(("lm_head.weight".into(), Dtype::F16, shape2(&model.output), f16_matrix(&model.output)?));
    }

    // Shards: greedy, in tensor order; a tensor larger than the limit gets a shard of its own.
    let total: u64 = tensors.iter().map(|t| t.3.len() as u64).sum();
    let mut shards: Vec<Vec<StEntry>> = vec![Vec::new()];
    let limit = max_shard_bytes.filter(|&m| total > m);
    if let Some(max) = limit {
        let mut size = 0u64;
        for t in tensors {
            let len = t.3.len() as u64;
            if size > 0 && size + len > max {
                shards.push(Vec::new());
                size = 0;
            }
            size += len;
            shards.last_mut().unwrap().push(t);
        }
    } else {
        shards[0] = tensors;
    }
    let mut out = Vec::new();
    out.push(("config.json".to_string(), pretty(&cfg.to_json())));
    let mut gen = json!({ "_from_model_config": true });
    if let Some(b) = tok.bos_id() {
        gen["bos_token_id"] = json!(b);
    }
    if let Some(e) = tok.eos_id() {
        gen["eos_token_id"] = json!(e);
    }
    out.push(("generation_config.json".to_string(), pretty(&gen)));
    let n_shards = shards.len();
    let mut weight_map = serde_json::Map::new();
    for (i, shard) in shards.into_iter().enumerate() {
        let file = if n_shards == 1 {
            SINGLE_FILE.to_string()
        } else {
            format!("model-{:05}-of-{:05}.safetensors", i + 1, n_shards)
        };
        let mut w = SafetensorsWriter::new();
        w.set_metadata("format", "pt");
        for (name, dtype, shape, data) in shard {
            weight_map.insert(name.clone(), json!(file));
            w.add(&name, dtype, &shape, data)?;
        }
        out.push((file, w.to_bytes()));
    }
    if n_shards > 1 {
        let index = json!({ "metadata": { "total_size": total }, "weight_map": weight_map });
        out.push((INDEX_FILE.to_string(), pretty(&index)));
    }
    out.push(("tokenizer.json".to_string(), tokenizer_json(tok)?));
    out.push(("tokenizer_config.json".to_string(), pretty(&tokenizer_config(tok, c.context_length))));
    Ok(out)
}

fn pretty(v: &Json) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).expect("JSON values serialize");
    b.push(b'\n');
    b
}

/// tokenizer.json of the model's tokenizer. tritium adds BOS/EOS itself (the HF tokenizer it
/// holds has no post-processor), so a TemplateProcessing post-processor is written when the
/// model adds them, for HF loaders.
fn tokenizer_json(tok: &Tokenizer) -> Result<Vec<u8>> {
    let s = tok.hf().to_string(false).map_err(|e| Error::Tokenizer(format!("serializing tokenizer.json: {e}")))?;
    let mut v: Json = serde_json::from_str(&s).map_err(|e| Error::Tokenizer(format!("tokenizer.json: {e}")))?;
    let special =
        |id: Option<u32>, on: bool| id.filter(|_| on).and_then(|i| tok.token_text(i).map(|t| (i, t.to_string())));
    let (bos, eos) = (special(tok.bos_id(), tok.add_bos()), special(tok.eos_id(), tok.add_eos()));
    if bos.is_some() || eos.is_some() {
        let mut single = Vec::new();
        let mut pair = Vec::new();
        let mut specials = serde_json::Map::new();
        let sp = |t: &str| json!({ "SpecialToken": { "id": t, "type_id": 0 } });
        let seq = |s: &str, ty: u32| json!({ "Sequence": { "id": s, "type_id": ty } });
        if let Some((i, t)) = &bos {
            single.push(sp(t));
            specials.insert(t.clone(), json!({ "id": t, "ids": [i], "tokens": [t] }));
        }
        single.push(seq("A", 0));
        if let Some((i, t)) = &eos {
            single.push(sp(t));
            specials.insert(t.clone(), json!({ "id": t, "ids": [i], "tokens": [t] }));
        }
        pair.extend(single.iter().cloned());
        if let Some((_, t)) = &bos {
            pair.push(sp(t));
        }
        pair.push(seq("B", 1));
        if let Some((_, t)) = &eos {
            pair.push(sp(t));
        }
        v["post_processor"] =
            json!({ "type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials });
    }
    Ok(serde_json::to_vec(&v).expect("JSON values serialize"))
}

fn tokenizer_config(tok: &Tokenizer, max_len: usize) -> Json {
    let text = |id: Option<u32>| id.and_then(|i| tok.token_text(i)).map_or(Json::Null, |t| json!(t));
    let mut v = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": tok.add_bos(),
        "add_eos_token": tok.add_eos(),
        "bos_token": text(tok.bos_id()),
        "eos_token": text(tok.eos_id()),
        "unk_token": text(tok.unk_id()),
        "pad_token": text(tok.pad_id()),
        "clean_up_tokenization_spaces": false,
        "model_max_length": max_len,
    });
    if let Some(t) = tok.chat_template() {
        v["chat_template"] = json!(t);
    }
    v
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
