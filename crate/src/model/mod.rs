//! Llama-family models: configuration, weights (views into the file's bytes), the forward pass,
//! sampling and streaming generation.

pub mod config;
pub mod forward;
pub mod generate;
pub mod sampler;
pub mod synthetic;

use std::ops::Range;

use serde::Serialize;

use crate::backend::cpu::QMatrix;
use crate::error::{Error, Result};
use crate::format::gguf::GgufFile;
use crate::quant::{self, GgmlType};
use crate::tokenizer::{Tokenizer, TokenizerSummary};

pub use config::LlamaConfig;
pub use forward::KvCache;
pub use generate::{GenerateOptions, Generation, GenerationStats};
pub use sampler::{Sampler, SamplerOptions};

/// A weight matrix: its type, shape and the byte range of its data in the model's bytes.
#[derive(Clone, Debug)]
pub struct Weight {
    pub name: String,
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub range: Range<usize>,
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

/// A loaded model. Owns the file's bytes once; every quantized tensor is a view into them.
pub struct Model {
    bytes: Vec<u8>,
    pub gguf: GgufFile,
    pub config: LlamaConfig,
    pub token_embd: Weight,
    pub layers: Vec<LayerWeights>,
    pub output_norm: Vec<f32>,
    /// `output.weight`, or `token_embd.weight` when the output is tied.
    pub output: Weight,
    pub tied_output: bool,
    tokenizer: Tokenizer,
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
        let gguf = GgufFile::parse(&bytes)?;
        let config = LlamaConfig::from_gguf(&gguf)?;
        let tokenizer = Tokenizer::from_gguf(&gguf)?;
        let c = &config;
        let weight = |name: &str, rows: usize, cols: usize| -> Result<Weight> {
            let t = gguf.require_tensor(name)?;
            if t.dims.len() != 2 || t.dims[0] as usize != cols || t.dims[1] as usize != rows {
                return Err(Error::BadTensor {
                    tensor: name.to_string(),
                    message: format!("shape {:?} (GGUF order), expected [{cols}, {rows}]", t.dims),
                });
            }
            Ok(Weight { name: name.to_string(), ty: t.ggml_type, rows, cols, range: t.range() })
        };
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
        let token_embd = weight("token_embd.weight", c.vocab_size, c.dim)?;
        let mut layers = Vec::with_capacity(c.n_layers);
        for l in 0..c.n_layers {
            let n = |s: &str| format!("blk.{l}.{s}.weight");
            layers.push(LayerWeights {
                attn_norm: vector(&n("attn_norm"), c.dim)?,
                wq: weight(&n("attn_q"), c.n_heads * c.head_dim, c.dim)?,
                wk: weight(&n("attn_k"), c.kv_dim(), c.dim)?,
                wv: weight(&n("attn_v"), c.kv_dim(), c.dim)?,
                wo: weight(&n("attn_output"), c.dim, c.n_heads * c.head_dim)?,
                ffn_norm: vector(&n("ffn_norm"), c.dim)?,
                w_gate: weight(&n("ffn_gate"), c.ffn_dim, c.dim)?,
                w_up: weight(&n("ffn_up"), c.ffn_dim, c.dim)?,
                w_down: weight(&n("ffn_down"), c.dim, c.ffn_dim)?,
            });
        }
        let output_norm = vector("output_norm.weight", c.dim)?;
        let (output, tied_output) = match gguf.tensor("output.weight") {
            Some(_) => (weight("output.weight", c.vocab_size, c.dim)?, false),
            None => (token_embd.clone(), true),
        };
        if tokenizer.vocab_size() > c.vocab_size {
            return Err(Error::UnsupportedModel(format!(
                "tokenizer has {} tokens but the embedding has only {} rows",
                tokenizer.vocab_size(),
                c.vocab_size
            )));
        }
        Ok(Model { bytes, gguf, config, token_embd, layers, output_norm, output, tied_output, tokenizer })
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
        QMatrix { ty: w.ty, rows: w.rows, cols: w.cols, data: &self.bytes[w.range.clone()] }
    }

    pub fn info(&self) -> ModelInfo {
        let mut n_params = 0u64;
        let mut weight_bytes = 0u64;
        let mut tensor_types = std::collections::BTreeMap::new();
        let tensors = self
            .gguf
            .tensors
            .iter()
            .map(|t| {
                n_params += t.n_elements();
                weight_bytes += t.n_bytes;
                *tensor_types.entry(t.ggml_type.name().to_string()).or_insert(0) += 1;
                TensorRow {
                    name: t.name.clone(),
                    ty: t.ggml_type.name().to_string(),
                    shape: t.shape(),
                    bytes: t.n_bytes,
                    offset: t.abs_offset,
                }
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

    /// Logits of the last position after a fresh prefill of `tokens`.
    pub fn forward_logits(&self, tokens: &[u32]) -> Result<Vec<f32>> {
        let mut cache = KvCache::new(&self.config);
        let hidden = forward::forward(self, &mut cache, tokens)?;
        let d = self.config.dim;
        forward::logits(self, &hidden[hidden.len() - d..], 1)
    }
}
