//! Loading a GGUF model: the config, the layer graph, and every tensor the graph reads, under
//! the naming of the file's family (fused Phi-3 tensors split by rows, Llama 3's `rope_freqs`,
//! biases and the extra norms). A tensor the model does not use is refused by name: a model that
//! loads runs the math its file describes, or does not load.

use std::collections::HashSet;

use super::graph::{Linear, Norm};
use super::{arch, LayerWeights, LlamaConfig, Model, Weight};
use crate::error::{Error, Result};
use crate::format::gguf::GgufFile;
use crate::quant::{self, GgmlType};
use crate::tokenizer::Tokenizer;

/// Tensors a file may hold beside the model's own: p-MoD's trained routers (read by
/// `pmod::router`).
fn is_router(name: &str) -> bool {
    name.starts_with("model.layers.") && name.contains(".router.router.")
}

impl Model {
    /// Load a GGUF model from its bytes (kept; tensors are views into them).
    pub fn from_gguf_bytes(bytes: Vec<u8>) -> Result<Model> {
        Model::from_gguf_bytes_with(bytes, None)
    }

    /// Load a GGUF model, taking the tokenizer from `tokenizer` when given (an AutoAWQ folder's
    /// tokenizer.json) instead of the GGUF metadata.
    pub fn from_gguf_bytes_with(bytes: Vec<u8>, tokenizer: Option<Tokenizer>) -> Result<Model> {
        let gguf = GgufFile::parse(&bytes)?;
        let mut config = LlamaConfig::from_gguf(&gguf)?;
        let graph = arch::layer_graph(&config)?;
        let tokenizer = match tokenizer {
            Some(t) => t,
            None => Tokenizer::from_gguf(&gguf)?,
        };
        let mut used: HashSet<String> = HashSet::new();
        let c = config.clone();
        let mut packed = Vec::new();
        let vector = |name: &str, len: usize, used: &mut HashSet<String>| -> Result<Vec<f32>> {
            let t = gguf.require_tensor(name)?;
            if t.n_elements() != len as u64 {
                return Err(Error::BadTensor {
                    tensor: name.to_string(),
                    message: format!("{} elements, expected {len}", t.n_elements()),
                });
            }
            let v = quant::dequantize_vec(t.ggml_type, &bytes[t.range()], len)?;
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(Error::BadTensor {
                    tensor: name.to_string(),
                    message: format!("element {i} is {} (not finite)", v[i]),
                });
            }
            used.insert(name.to_string());
            Ok(v)
        };
        // Every layer has at least 6 tensors (2 norms and Phi-3's fused qkv, output, gate+up
        // and down; 9 unfused): a block count the tensor table cannot hold is refused before a slot per layer
        // is reserved (found by fuzzing: a block_count of 2^24 in a 24 KB file reserved 8 GB).
        if c.n_layers > gguf.tensors.len() / 6 {
            return Err(Error::UnsupportedModel(format!(
                "{}.block_count is {}, but the file has only {} tensors (each layer needs at least 6)",
                c.architecture,
                c.n_layers,
                gguf.tensors.len()
            )));
        }
        // Llama 3's per-frequency RoPE divisors.
        if gguf.tensor("rope_freqs.weight").is_some() {
            let f = vector("rope_freqs.weight", c.rope.dim / 2, &mut used)?;
            if let Some(i) = f.iter().position(|&x| x <= 0.0) {
                return Err(Error::BadTensor {
                    tensor: "rope_freqs.weight".into(),
                    message: format!("factor {i} is {} (must be positive)", f[i]),
                });
            }
            config.rope.factors = Some(f);
        }
        let (norms, biases) = (graph.norms(), graph.biases());
        let mut lin = |name: &str, rows: usize, cols: usize, used: &mut HashSet<String>| {
            linear(&gguf, &bytes, &mut packed, name, rows, cols, used)
        };
        let token_embd = lin("token_embd", c.vocab_size, c.dim, &mut used)?;
        let (qd, kvd) = (c.n_heads * c.head_dim, c.kv_dim());
        let mut layers = Vec::with_capacity(c.n_layers);
        for l in 0..c.n_layers {
            let n = |s: &str| format!("blk.{l}.{s}");
            let [wq, wk, wv] = match gguf.tensor(&n("attn_qkv.weight")) {
                Some(_) => {
                    let w = lin(&n("attn_qkv"), qd + 2 * kvd, c.dim, &mut used)?;
                    [
                        row_slice(&w, &n("attn_q.weight"), 0, qd)?,
                        row_slice(&w, &n("attn_k.weight"), qd, kvd)?,
                        row_slice(&w, &n("attn_v.weight"), qd + kvd, kvd)?,
                    ]
                }
                None => [
                    lin(&n("attn_q"), qd, c.dim, &mut used)?,
                    lin(&n("attn_k"), kvd, c.dim, &mut used)?,
                    lin(&n("attn_v"), kvd, c.dim, &mut used)?,
                ],
            };
            let wo = lin(&n("attn_output"), c.dim, qd, &mut used)?;
            let fused_up = gguf.tensor(&n("ffn_gate.weight")).is_none()
                && gguf.tensor(&n("ffn_gate.qweight")).is_none()
                && gguf.tensor(&n("ffn_gate.alpha.0")).is_none()
                && gguf.tensor(&n("ffn_up.weight")).is_some_and(|t| t.dims.get(1) == Some(&(2 * c.ffn_dim as u64)));
            let [w_gate, w_up] = match fused_up {
                true => {
                    let w = lin(&n("ffn_up"), 2 * c.ffn_dim, c.dim, &mut used)?;
                    [
                        row_slice(&w, &n("ffn_gate.weight"), 0, c.ffn_dim)?,
                        row_slice(&w, &n("ffn_up.weight"), c.ffn_dim, c.ffn_dim)?,
                    ]
                }
                false => {
                    [lin(&n("ffn_gate"), c.ffn_dim, c.dim, &mut used)?, lin(&n("ffn_up"), c.ffn_dim, c.dim, &mut used)?]
                }
            };
            let w_down = lin(&n("ffn_down"), c.dim, c.ffn_dim, &mut used)?;
            let mut lw = LayerWeights {
                wq,
                wk,
                wv,
                wo,
                w_gate,
                w_up,
                w_down,
                norms: vec![None; Norm::ALL.len()],
                biases: vec![None; Linear::ALL.len()],
            };
            for &nm in &norms {
                let len = match nm {
                    Norm::Q | Norm::K => c.head_dim,
                    Norm::AttnSub => qd,
                    Norm::FfnSub => c.ffn_dim,
                    _ => c.dim,
                };
                lw.norms[nm.index()] = Some(vector(&n(&format!("{}.weight", nm.gguf_name())), len, &mut used)?);
            }
            for &b in &biases {
                let len = lw.linear(b).rows;
                lw.biases[b.index()] = Some(vector(&n(&format!("{}.bias", b.gguf_name())), len, &mut used)?);
            }
            layers.push(lw);
        }
        let output_norm = vector("output_norm.weight", c.dim, &mut used)?;
        let has_output = gguf.tensor("output.weight").is_some()
            || gguf.tensor("output.qweight").is_some()
            || gguf.tensor("output.trits.0").is_some();
        let (output, tied_output) = if has_output {
            (lin("output", c.vocab_size, c.dim, &mut used)?, false)
        } else {
            (token_embd.clone(), true)
        };
        if let Some(t) = gguf.tensors.iter().find(|t| !used.contains(&t.name) && !is_router(&t.name)) {
            return Err(Error::UnsupportedModel(format!(
                "tensor '{}' ({}, file offset {}) is not part of the {} model tritium runs; refusing to run without it",
                t.name,
                t.ggml_type.name(),
                t.abs_offset,
                c.architecture
            )));
        }
        if tokenizer.vocab_size() > c.vocab_size {
            return Err(Error::UnsupportedModel(format!(
                "tokenizer has {} tokens but the embedding has only {} rows",
                tokenizer.vocab_size(),
                c.vocab_size
            )));
        }
        Ok(Model {
            bytes,
            packed,
            gguf,
            config,
            token_embd,
            layers,
            output_norm,
            output,
            tied_output,
            graph,
            tokenizer,
            i8_activations: false,
        })
    }
}

/// Rows `start .. start + n` of a ggml-typed matrix (a fused tensor's part), viewed in place and
/// named as the unfused tensor would be (`blk.L.attn_q.weight`; `model::save` fuses them again).
fn row_slice(w: &Weight, name: &str, start: usize, n: usize) -> Result<Weight> {
    if w.packed {
        return Err(bad(&w.name, "a fused tensor must be a plain ggml-typed matrix".into()));
    }
    let rb = w.ty.bytes_for(w.cols);
    let s = w.range.start + start * rb;
    Ok(Weight { name: name.to_string(), ty: w.ty, rows: n, cols: w.cols, range: s..s + n * rb, packed: false })
}

fn bad(tensor: &str, message: String) -> Error {
    Error::BadTensor { tensor: tensor.to_string(), message }
}

/// A 2-D tensor's data, checked against an expected type and GGUF-order dims `[cols, rows]`.
fn tensor_2d<'b>(g: &GgufFile, bytes: &'b [u8], name: &str, ty: &[GgmlType], dims: [u64; 2]) -> Result<&'b [u8]> {
    let t = g.require_tensor(name)?;
    if !ty.contains(&t.ggml_type) {
        let want: Vec<&str> = ty.iter().map(|t| t.name()).collect();
        return Err(bad(name, format!("type {}, expected {}", t.ggml_type.name(), want.join(" or "))));
    }
    if t.dims.len() != 2 || t.dims[0] != dims[0] || t.dims[1] != dims[1] {
        return Err(bad(name, format!("shape {:?} (GGUF order), expected {dims:?}", t.dims)));
    }
    Ok(&bytes[t.range()])
}

/// Load the linear `base` (`[rows, cols]`, one row per output channel) from any of the GGUF
/// namings tritium reads:
/// - `base.weight`: a ggml-typed matrix (viewed in place);
/// - AWQ int4 (tritium's GGUF naming for AutoAWQ GEMM tensors, see format/awq.rs):
///   `base.qweight` I32 `[cols, rows/8]`, `base.qzeros` I32 `[cols/g, rows/8]`, `base.scales` F16
///   `[cols/g, rows]` (row-major shapes; GGUF lists dims innermost first), with output channels
///   in GGUF order; repacked into `AWQ4_G{g}` rows;
/// - trit planes: `base.trits.K` I8 `[rows, cols/4]` (2-bit codes c = t + 1, weight j of a row
///   in byte j/4 at bits 2·(j%4)) and `base.alpha.K` F16 `[rows, cols/g]` for planes K = 0
///   (and 1); repacked into `TP{1,2}_G{g}` rows.
fn linear(
    g: &GgufFile,
    bytes: &[u8],
    packed: &mut Vec<u8>,
    base: &str,
    rows: usize,
    cols: usize,
    used: &mut HashSet<String>,
) -> Result<Weight> {
    let wname = format!("{base}.weight");
    // Every tensor of this linear's namings counts as used (a part missing is an error below).
    for suffix in ["weight", "qweight", "qzeros", "scales", "trits.0", "trits.1", "alpha.0", "alpha.1"] {
        used.insert(format!("{base}.{suffix}"));
    }
    if let Some(t) = g.tensor(&wname) {
        if t.dims.len() != 2 || t.dims[0] as usize != cols || t.dims[1] as usize != rows {
            return Err(bad(&wname, format!("shape {:?} (GGUF order), expected [{cols}, {rows}]", t.dims)));
        }
        if t.ggml_type == GgmlType::I2_S {
            // bitnet.cpp's ternary tensors: repacked into TQ2_0 rows (quant::i2s).
            let data = quant::i2s::to_tq2_0(&bytes[t.range()], rows, cols).map_err(|e| bad(&wname, e.to_string()))?;
            let start = packed.len();
            packed.extend_from_slice(&data);
            return Ok(Weight {
                name: wname,
                ty: GgmlType::TQ2_0,
                rows,
                cols,
                range: start..packed.len(),
                packed: true,
            });
        }
        if matches!(t.ggml_type, GgmlType::I8 | GgmlType::I32) {
            return Err(bad(&wname, format!("type {} cannot be a weight matrix", t.ggml_type.name())));
        }
        if let Some((block, at, v)) = quant::first_nonfinite(t.ggml_type, &bytes[t.range()]) {
            return Err(bad(
                &wname,
                format!(
                    "{} block {block} (file offset {}) has scale/value {v}; NaN and infinite values are rejected",
                    t.ggml_type.name(),
                    t.abs_offset + at as u64
                ),
            ));
        }
        return Ok(Weight { name: wname, ty: t.ggml_type, rows, cols, range: t.range(), packed: false });
    }
    let (ty, data) = if let Some(qs) = g.tensor(&format!("{base}.scales")) {
        // AWQ int4, AutoAWQ GEMM layout.
        let sname = format!("{base}.scales");
        if qs.dims.len() != 2 || qs.dims[0] as usize != rows || qs.dims[1] == 0 {
            return Err(bad(&sname, format!("shape {:?} (GGUF order), expected [{rows}, groups]", qs.dims)));
        }
        let groups = qs.dims[1] as usize;
        if cols % groups != 0 {
            return Err(bad(&sname, format!("{groups} groups do not divide {cols} input channels")));
        }
        let group = cols / groups;
        GgmlType::awq4(group)
            .ok_or_else(|| bad(&sname, format!("AWQ group size {group}; tritium supports 32, 64 and 128")))?;
        if rows % 8 != 0 {
            return Err(bad(&sname, format!("{rows} output channels; the AWQ GEMM layout needs a multiple of 8")));
        }
        let qw = tensor_2d(g, bytes, &format!("{base}.qweight"), &[GgmlType::I32], [rows as u64 / 8, cols as u64])?;
        let qz = tensor_2d(g, bytes, &format!("{base}.qzeros"), &[GgmlType::I32], [rows as u64 / 8, groups as u64])?;
        let sc = tensor_2d(g, bytes, &sname, &[GgmlType::F16], [rows as u64, groups as u64])?;
        let words = |b: &[u8]| b.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let gemm = quant::awq::GemmTensors {
            k: cols,
            n: rows,
            group,
            qweight: words(qw),
            qzeros: words(qz),
            scales: sc.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]])).collect(),
        };
        let l = quant::awq::unpack_gemm(&gemm);
        if let Some(i) = l.scales.iter().position(|s| !s.to_f32().is_finite()) {
            return Err(bad(&sname, format!("scale {i} is {} (not finite)", l.scales[i])));
        }
        l.to_blocks()?
    } else if let Some(a0) = g.tensor(&format!("{base}.alpha.0")) {
        let aname = format!("{base}.alpha.0");
        if a0.dims.len() != 2 || a0.dims[1] as usize != rows || a0.dims[0] == 0 {
            return Err(bad(&aname, format!("shape {:?} (GGUF order), expected [groups, {rows}]", a0.dims)));
        }
        let groups = a0.dims[0] as usize;
        if cols % groups != 0 || cols % 4 != 0 {
            return Err(bad(&aname, format!("{groups} groups do not divide {cols} input channels")));
        }
        let group = cols / groups;
        let planes = if g.tensor(&format!("{base}.alpha.1")).is_some() { 2 } else { 1 };
        let ty = GgmlType::trit_planes(planes, group)
            .ok_or_else(|| bad(&aname, format!("trit-plane group size {group}; tritium supports 32, 64 and 128")))?;
        let mut trits: Vec<Vec<i8>> = Vec::new();
        let mut alphas: Vec<Vec<half::f16>> = Vec::new();
        for k in 0..planes {
            let tname = format!("{base}.trits.{k}");
            let tb = tensor_2d(g, bytes, &tname, &[GgmlType::I8], [cols as u64 / 4, rows as u64])?;
            let ab = tensor_2d(g, bytes, &format!("{base}.alpha.{k}"), &[GgmlType::F16], [groups as u64, rows as u64])?;
            let mut t = Vec::with_capacity(rows * cols);
            for (i, &b) in tb.iter().enumerate() {
                for j in 0..4 {
                    let c = (b >> (2 * j)) & 3;
                    if c == 3 {
                        return Err(bad(&tname, format!("code 3 at weight {} (codes are 0, 1, 2)", 4 * i + j)));
                    }
                    t.push(c as i8 - 1);
                }
            }
            trits.push(t);
            let a: Vec<half::f16> = ab.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]])).collect();
            if let Some(i) = a.iter().position(|s| !s.to_f32().is_finite()) {
                return Err(bad(&format!("{base}.alpha.{k}"), format!("scale {i} is {} (not finite)", a[i])));
            }
            alphas.push(a);
        }
        let tr: Vec<&[i8]> = trits.iter().map(|v| v.as_slice()).collect();
        let al: Vec<&[half::f16]> = alphas.iter().map(|v| v.as_slice()).collect();
        (ty, quant::encode_trit_planes(ty, cols, &tr, &al))
    } else {
        return Err(Error::MissingTensor { tensor: wname });
    };
    let start = packed.len();
    packed.extend_from_slice(&data);
    Ok(Weight { name: wname, ty, rows, cols, range: start..packed.len(), packed: true })
}
