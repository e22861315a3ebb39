//! Llama-family models: configuration, weights (views into the file's bytes), the forward pass,
//! sampling and streaming generation.

pub mod arch;
pub mod awq_folder;
pub mod config;
pub mod graph;
pub mod kv;
pub mod sampler;
pub mod save;
pub mod synthetic;

use std::ops::Range;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::gguf::GgufFile;
use crate::quant::QMatrix;
use crate::quant::{self, GgmlType};
use crate::tokenizer::{Tokenizer, TokenizerSummary};

pub use config::LlamaConfig;
pub use graph::LayerGraph;
pub use kv::KvCache;
pub use sampler::{Sampler, SamplerOptions};

/// A weight matrix: its type, shape and the byte range of its data in the model's bytes (or, for
/// tensors repacked at load, in the model's arena of packed tensors).
#[derive(Clone, Debug)]
pub struct Weight {
    pub name: String,
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub range: Range<usize>,
    /// The data lives in `Model::packed` (converted at load from the AWQ or trit-plane naming).
    pub packed: bool,
}

#[derive(Clone, Debug)]
pub struct LayerWeights {
    pub attn_norm: Vec<f32>,
    pub wq: Weight,
    pub wk: Weight,
    pub wv: Weight,
    pub wo: Weight,
    pub ffn_norm: Vec<f32>,
    pub w_gate: Weight,
    pub w_up: Weight,
    pub w_down: Weight,
}

impl LayerWeights {
    /// The weight matrix a graph op names.
    pub fn linear(&self, which: graph::Linear) -> &Weight {
        use graph::Linear as L;
        match which {
            L::Q => &self.wq,
            L::K => &self.wk,
            L::V => &self.wv,
            L::O => &self.wo,
            L::Gate => &self.w_gate,
            L::Up => &self.w_up,
            L::Down => &self.w_down,
        }
    }

    /// The norm weight a graph op names.
    pub fn norm(&self, which: graph::Norm) -> &[f32] {
        match which {
            graph::Norm::Attn => &self.attn_norm,
            graph::Norm::Ffn => &self.ffn_norm,
        }
    }
}

/// The checks every backend makes before running `tokens` after `len` positions of a sequence
/// that holds at most `limit`: at least one token, room for all of them, every id in the
/// vocabulary.
pub fn check_step(c: &LlamaConfig, tokens: &[u32], len: usize, limit: usize) -> Result<()> {
    if tokens.is_empty() {
        return Err(Error::InvalidArgument("no tokens to run".into()));
    }
    if len + tokens.len() > limit {
        return Err(Error::Limit {
            what: "sequence length (positions)".into(),
            value: (len + tokens.len()) as u64,
            limit: limit as u64,
        });
    }
    if let Some((i, &t)) = tokens.iter().enumerate().find(|(_, &t)| t as usize >= c.vocab_size) {
        return Err(Error::InvalidArgument(format!(
            "token id {t} at index {i} is outside the vocabulary of {} tokens",
            c.vocab_size
        )));
    }
    Ok(())
}

/// A loaded model. Owns the file's bytes once; every quantized tensor is a view into them.
pub struct Model {
    bytes: Vec<u8>,
    /// Tensors converted at load into tritium's row-block formats (AWQ int4, trit planes).
    packed: Vec<u8>,
    pub gguf: GgufFile,
    pub config: LlamaConfig,
    pub token_embd: Weight,
    pub layers: Vec<LayerWeights>,
    pub output_norm: Vec<f32>,
    /// `output.weight`, or `token_embd.weight` when the output is tied.
    pub output: Weight,
    pub tied_output: bool,
    /// The decoder layer's ops ([`arch::layer_graph`]), run by every backend.
    pub graph: LayerGraph,
    tokenizer: Tokenizer,
    /// CPU path: quantize each matmul input to int8 per 32-element block first (what the GPU's
    /// int8 kernels compute; `quant::quantize_i8`), for formats with an int8 GPU unit.
    /// Off by default: the CPU reference is f32.
    pub i8_activations: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct TensorRow {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    /// Row-major shape (outermost first).
    pub shape: Vec<u64>,
    pub bytes: u64,
    pub offset: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    pub config: LlamaConfig,
    pub gguf_version: u32,
    pub file_bytes: u64,
    pub n_params: u64,
    pub weight_bytes: u64,
    pub bits_per_weight: f64,
    pub tied_output: bool,
    pub tensor_types: std::collections::BTreeMap<String, usize>,
    pub tensors: Vec<TensorRow>,
    pub tokenizer: TokenizerSummary,
    pub metadata: Vec<(String, String)>,
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
        let config = LlamaConfig::from_gguf(&gguf)?;
        let graph = arch::layer_graph(&config)?;
        let tokenizer = match tokenizer {
            Some(t) => t,
            None => Tokenizer::from_gguf(&gguf)?,
        };
        let c = &config;
        let mut packed = Vec::new();
        let vector = |name: &str, len: usize| -> Result<Vec<f32>> {
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
            Ok(v)
        };
        // Every layer has at least 9 tensors (2 norms, 7 linears): a block count the tensor table
        // cannot hold is refused before a slot per layer is reserved (found by fuzzing: a
        // block_count of 2^24 in a 24 KB file reserved 8 GB).
        if c.n_layers > gguf.tensors.len() / 9 {
            return Err(Error::UnsupportedModel(format!(
                "{}.block_count is {}, but the file has only {} tensors (each layer needs at least 9)",
                c.architecture,
                c.n_layers,
                gguf.tensors.len()
            )));
        }
        let token_embd = linear(&gguf, &bytes, &mut packed, "token_embd", c.vocab_size, c.dim)?;
        let mut layers = Vec::with_capacity(c.n_layers);
        for l in 0..c.n_layers {
            let n = |s: &str| format!("blk.{l}.{s}");
            let mut lin = |s: &str, rows: usize, cols: usize| linear(&gguf, &bytes, &mut packed, &n(s), rows, cols);
            let wq = lin("attn_q", c.n_heads * c.head_dim, c.dim)?;
            let wk = lin("attn_k", c.kv_dim(), c.dim)?;
            let wv = lin("attn_v", c.kv_dim(), c.dim)?;
            let wo = lin("attn_output", c.dim, c.n_heads * c.head_dim)?;
            let w_gate = lin("ffn_gate", c.ffn_dim, c.dim)?;
            let w_up = lin("ffn_up", c.ffn_dim, c.dim)?;
            let w_down = lin("ffn_down", c.dim, c.ffn_dim)?;
            layers.push(LayerWeights {
                attn_norm: vector(&n("attn_norm.weight"), c.dim)?,
                wq,
                wk,
                wv,
                wo,
                ffn_norm: vector(&n("ffn_norm.weight"), c.dim)?,
                w_gate,
                w_up,
                w_down,
            });
        }
        let output_norm = vector("output_norm.weight", c.dim)?;
        let has_output = gguf.tensor("output.weight").is_some()
            || gguf.tensor("output.qweight").is_some()
            || gguf.tensor("output.trits.0").is_some();
        let (output, tied_output) = if has_output {
            (linear(&gguf, &bytes, &mut packed, "output", c.vocab_size, c.dim)?, false)
        } else {
            (token_embd.clone(), true)
        };
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

    /// Read a model file from disk (native).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_path(path: &std::path::Path) -> Result<Model> {
        let bytes = std::fs::read(path).map_err(|e| Error::Io { path: path.display().to_string(), source: e })?;
        Model::from_gguf_bytes(bytes)
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// A matrix view of a weight for the CPU kernels.
    pub fn matrix(&self, w: &Weight) -> QMatrix<'_> {
        let src = if w.packed { &self.packed } else { &self.bytes };
        QMatrix { ty: w.ty, rows: w.rows, cols: w.cols, data: &src[w.range.clone()] }
    }

    /// Every weight matrix (embedding, the layers' linears, and the output unless tied), in file order.
    pub fn matrices(&self) -> Vec<&Weight> {
        let mut v = vec![&self.token_embd];
        for l in &self.layers {
            v.extend(graph::Linear::ALL.map(|w| l.linear(w)));
        }
        if !self.tied_output {
            v.push(&self.output);
        }
        v
    }

    pub fn info(&self) -> ModelInfo {
        // Parameters and bytes of the logical weights (a repacked AWQ or trit-plane linear counts
        // rows × cols parameters, whatever tensors hold it in the file), plus the norms.
        let mut n_params = 0u64;
        let mut weight_bytes = 0u64;
        for w in self.matrices() {
            n_params += (w.rows * w.cols) as u64;
            weight_bytes += w.range.len() as u64;
        }
        for t in self.gguf.tensors.iter().filter(|t| t.name.ends_with("norm.weight")) {
            n_params += t.n_elements();
            weight_bytes += t.n_bytes;
        }
        let mut tensor_types = std::collections::BTreeMap::new();
        for w in self.matrices() {
            *tensor_types.entry(w.ty.name().to_string()).or_insert(0) += 1;
        }
        let tensors = self
            .gguf
            .tensors
            .iter()
            .map(|t| TensorRow {
                name: t.name.clone(),
                ty: t.ggml_type.name().to_string(),
                shape: t.shape(),
                bytes: t.n_bytes,
                offset: t.abs_offset,
            })
            .collect();
        let metadata = self
            .gguf
            .metadata
            .iter()
            .filter(|(k, _)| !k.starts_with("tokenizer.ggml."))
            .map(|(k, v)| (k.clone(), v.summary()))
            .collect();
        ModelInfo {
            config: self.config.clone(),
            gguf_version: self.gguf.version,
            file_bytes: self.bytes.len() as u64,
            n_params,
            weight_bytes,
            bits_per_weight: if n_params > 0 { weight_bytes as f64 * 8.0 / n_params as f64 } else { 0.0 },
            tied_output: self.tied_output,
            tensor_types,
            tensors,
            tokenizer: self.tokenizer.summary(),
            metadata,
        }
    }
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
fn linear(g: &GgufFile, bytes: &[u8], packed: &mut Vec<u8>, base: &str, rows: usize, cols: usize) -> Result<Weight> {
    let wname = format!("{base}.weight");
    if let Some(t) = g.tensor(&wname) {
        if t.dims.len() != 2 || t.dims[0] as usize != cols || t.dims[1] as usize != rows {
            return Err(bad(&wname, format!("shape {:?} (GGUF order), expected [{cols}, {rows}]", t.dims)));
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
