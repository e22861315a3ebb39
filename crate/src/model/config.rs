//! Llama-family hyperparameters, read from GGUF metadata (`{arch}.*` keys).

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::gguf::GgufFile;
use crate::format::hf::{short_f64, HfConfig};
use crate::format::limits::Limits;

/// Architectures whose GGUF tensors follow the Llama layout (RMSNorm, RoPE, GQA, SwiGLU).
pub const LLAMA_FAMILY: &[&str] = &["llama", "mistral"];

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LlamaConfig {
    pub architecture: String,
    pub name: Option<String>,
    pub n_layers: usize,
    pub dim: usize,
    pub ffn_dim: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// Dimensions of each head that RoPE rotates (`{arch}.rope.dimension_count`).
    pub rope_dim: usize,
    pub rope_base: f32,
    pub rms_eps: f32,
    pub context_length: usize,
    pub vocab_size: usize,
}

impl LlamaConfig {
    pub fn from_gguf(g: &GgufFile) -> Result<LlamaConfig> {
        let arch = g.require_str("general.architecture")?.to_string();
        if !LLAMA_FAMILY.contains(&arch.as_str()) {
            return Err(Error::UnsupportedModel(format!(
                "general.architecture is '{arch}'; tritium runs Llama-family models ({})",
                LLAMA_FAMILY.join(", ")
            )));
        }
        let key = |k: &str| format!("{arch}.{k}");
        let req = |k: &str| -> Result<usize> {
            let v = g.require_u64(&key(k))?;
            let limit = Limits::DEFAULT.max_hyperparameter;
            usize::try_from(v).ok().filter(|&v| v > 0 && v as u64 <= limit).ok_or_else(|| Error::Limit {
                what: key(k),
                value: v,
                limit,
            })
        };
        let n_layers = req("block_count")?;
        let dim = req("embedding_length")?;
        let ffn_dim = req("feed_forward_length")?;
        let n_heads = req("attention.head_count")?;
        let n_kv_heads = match g.get_u64(&key("attention.head_count_kv"))? {
            Some(v) => usize::try_from(v).unwrap_or(usize::MAX),
            None => n_heads,
        };
        if n_kv_heads == 0 || n_heads % n_kv_heads != 0 {
            return Err(Error::UnsupportedModel(format!(
                "{n_heads} query heads cannot be grouped over {n_kv_heads} KV heads"
            )));
        }
        if dim % n_heads != 0 {
            return Err(Error::UnsupportedModel(format!(
                "embedding length {dim} is not a multiple of the head count {n_heads}"
            )));
        }
        let head_dim = dim / n_heads;
        let rope_dim = match g.get_u64(&key("rope.dimension_count"))? {
            Some(v) => usize::try_from(v).unwrap_or(usize::MAX),
            None => head_dim,
        };
        if rope_dim > head_dim || rope_dim % 2 != 0 {
            return Err(Error::UnsupportedModel(format!(
                "rope.dimension_count {rope_dim} must be even and at most the head dim {head_dim}"
            )));
        }
        let rope_base = g.get_f64(&key("rope.freq_base"))?.unwrap_or(10_000.0) as f32;
        let rms_eps = g.get_f64(&key("attention.layer_norm_rms_epsilon"))?.unwrap_or(1e-5) as f32;
        let context_length = g.get_u64(&key("context_length"))?.unwrap_or(2048);
        Limits::check(|| key("context_length"), context_length, Limits::DEFAULT.max_context)?;
        let context_length = context_length as usize;
        let vocab_size = match g.get_u64(&key("vocab_size"))? {
            Some(v) => v as usize,
            None => g
                .get_array("tokenizer.ggml.tokens")?
                .map(|a| a.len())
                .or_else(|| g.tensor("token_embd.weight").and_then(|t| t.dims.get(1)).map(|&d| d as usize))
                .ok_or_else(|| Error::MissingKey { key: key("vocab_size") })?,
        };
        Limits::check(|| key("vocab_size"), vocab_size as u64, Limits::DEFAULT.max_hyperparameter)?;
        if vocab_size == 0 {
            return Err(Error::UnsupportedModel(format!("{} is 0", key("vocab_size"))));
        }
        let name = g.get_str("general.name")?.map(|s| s.to_string());
        Ok(LlamaConfig {
            architecture: arch,
            name,
            n_layers,
            dim,
            ffn_dim,
            n_heads,
            n_kv_heads,
            head_dim,
            rope_dim,
            rope_base,
            rms_eps,
            context_length,
            vocab_size,
        })
    }

    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }
}

impl LlamaConfig {
    /// The config of a loaded Llama model, for writing an HF checkpoint. Errors when the model
    /// cannot be described by a Llama config.json (partial RoPE).
    pub fn to_hf(&self, tied: bool, bos: Option<u32>, eos: Option<u32>) -> Result<HfConfig> {
        let c = self;
        if c.rope_dim != c.head_dim {
            return Err(Error::UnsupportedModel(format!(
                "RoPE rotates {} of {} head dims; a Llama config.json cannot say that",
                c.rope_dim, c.head_dim
            )));
        }
        if c.n_heads * c.head_dim != c.dim {
            return Err(Error::UnsupportedModel(format!(
                "{} heads of dim {} do not make the hidden size {}",
                c.n_heads, c.head_dim, c.dim
            )));
        }
        Ok(HfConfig {
            architecture: "LlamaForCausalLM".into(),
            name: c.name.clone(),
            hidden_size: c.dim,
            intermediate_size: c.ffn_dim,
            num_attention_heads: c.n_heads,
            num_key_value_heads: c.n_kv_heads,
            num_hidden_layers: c.n_layers,
            head_dim: c.head_dim,
            rms_norm_eps: short_f64(c.rms_eps),
            rope_theta: short_f64(c.rope_base),
            vocab_size: c.vocab_size,
            max_position_embeddings: c.context_length,
            tie_word_embeddings: tied,
            bos_token_id: bos,
            eos_token_id: eos,
            awq: None,
        })
    }
}
