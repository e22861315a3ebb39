//! Llama-family models: configuration, weights (views into the file's bytes), the forward pass,
//! sampling and streaming generation.

pub mod arch;
pub mod awq_folder;
pub mod config;
pub mod graph;
pub mod kv;
mod load;
pub mod rope;
pub mod sampler;
pub mod save;
pub mod synthetic;

use std::ops::Range;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::gguf::GgufFile;
use crate::quant::GgmlType;
use crate::quant::QMatrix;
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
    pub wq: Weight,
    pub wk: Weight,
    pub wv: Weight,
    pub wo: Weight,
    pub w_gate: Weight,
    pub w_up: Weight,
    pub w_down: Weight,
    /// Norm weights by [`graph::Norm::index`]; the ones the layer graph reads are present.
    pub norms: Vec<Option<Vec<f32>>>,
    /// Biases by [`graph::Linear::index`]; the ones the layer graph adds are present.
    pub biases: Vec<Option<Vec<f32>>>,
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

    /// The norm weight a graph op names (empty when the layer has none; the loader loads every
    /// norm the graph reads).
    pub fn norm(&self, which: graph::Norm) -> &[f32] {
        self.norms[which.index()].as_deref().unwrap_or(&[])
    }

    /// A mutable norm weight (AWQ folds its scales into the input norms).
    pub fn norm_mut(&mut self, which: graph::Norm) -> &mut Vec<f32> {
        self.norms[which.index()].get_or_insert_with(Vec::new)
    }

    /// The bias a graph op names (empty when none).
    pub fn bias(&self, which: graph::Linear) -> &[f32] {
        self.biases[which.index()].as_deref().unwrap_or(&[])
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
