//! Model hyperparameters, read from GGUF metadata (`{arch}.*` keys) for every supported
//! architecture: the shapes, RoPE, attention scale, soft-capping, sliding windows and the
//! embedding scale. A key that changes the math and is not understood is refused, never skipped.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::gguf::GgufFile;
use crate::format::hf::{short_f64, HfConfig};
use crate::format::limits::Limits;
use crate::model::rope::{Rope, RopeMode};

/// Architectures whose GGUF tensors follow the Llama layout (RMSNorm, RoPE, GQA, SwiGLU).
pub const LLAMA_FAMILY: &[&str] = &["llama", "mistral"];

/// Every `general.architecture` tritium runs (each has a layer graph in `model/arch/`).
pub const SUPPORTED_ARCHITECTURES: &[&str] =
    &["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3", "bitnet", "bitnet-b1.58"];

fn unsupported_arch(arch: &str) -> Error {
    Error::UnsupportedModel(format!(
        "general.architecture is '{arch}'; tritium runs {}",
        SUPPORTED_ARCHITECTURES.join(", ")
    ))
}

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
    /// RoPE of the (global) layers.
    pub rope: Rope,
    /// RoPE of the sliding-window layers when it differs (Gemma 3's local base).
    pub rope_local: Option<Rope>,
    pub rms_eps: f32,
    /// Multiplier of the attention scores (1/√head_dim unless the family says otherwise).
    pub attn_scale: f32,
    /// Attention-logit soft-capping `c · tanh(s / c)` (Gemma 2); 0 = none.
    pub attn_softcap: f32,
    /// Final-logit soft-capping (Gemma 2); 0 = none.
    pub final_softcap: f32,
    /// Sliding-window size in positions (a query sees itself and the window − 1 before it);
    /// 0 = none.
    pub sliding_window: usize,
    /// Which layers use the sliding window (empty = none).
    pub sliding_layers: Vec<bool>,
    /// The token embeddings are multiplied by this (Gemma: √dim).
    pub embed_scale: f32,
    pub context_length: usize,
    pub vocab_size: usize,
}

impl LlamaConfig {
    pub fn from_gguf(g: &GgufFile) -> Result<LlamaConfig> {
        let arch = g.require_str("general.architecture")?.to_string();
        if !SUPPORTED_ARCHITECTURES.contains(&arch.as_str()) {
            return Err(unsupported_arch(&arch));
        }
        let a = arch.as_str();
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
        let opt = |k: &str| -> Result<Option<usize>> {
            match g.get_u64(&key(k))? {
                None => Ok(None),
                Some(v) => {
                    let limit = Limits::DEFAULT.max_hyperparameter;
                    Limits::check(|| key(k), v, limit)?;
                    Ok(Some(v as usize))
                }
            }
        };
        let n_layers = req("block_count")?;
        let dim = req("embedding_length")?;
        let ffn_dim = req("feed_forward_length")?;
        let n_heads = req("attention.head_count")?;
        let n_kv_heads = opt("attention.head_count_kv")?.unwrap_or(n_heads);
        if n_kv_heads == 0 || n_heads % n_kv_heads != 0 {
            return Err(Error::UnsupportedModel(format!(
                "{n_heads} query heads cannot be grouped over {n_kv_heads} KV heads"
            )));
        }
        let head_dim = match opt("attention.key_length")? {
            Some(k) => k,
            None if dim % n_heads != 0 => {
                return Err(Error::UnsupportedModel(format!(
                    "embedding length {dim} is not a multiple of the head count {n_heads}"
                )))
            }
            None => dim / n_heads,
        };
        if let Some(v) = opt("attention.value_length")? {
            if v != head_dim {
                return Err(Error::UnsupportedModel(format!(
                    "{} is {v} but the key length is {head_dim}; tritium needs them equal",
                    key("attention.value_length")
                )));
            }
        }
        if head_dim == 0 || head_dim > 256 {
            return Err(Error::UnsupportedModel(format!("head dim {head_dim}; tritium supports 1 to 256")));
        }
        let rope_dim = opt("rope.dimension_count")?.unwrap_or(head_dim);
        if rope_dim > head_dim || rope_dim % 2 != 0 {
            return Err(Error::UnsupportedModel(format!(
                "rope.dimension_count {rope_dim} must be even and at most the head dim {head_dim}"
            )));
        }
        let rope_base = g.get_f64(&key("rope.freq_base"))?.unwrap_or(10_000.0) as f32;
        let pos_scale = rope_scaling(g, &arch)?;
        // bitnet.cpp converts BitNet b1.58 as Llama (q/k rows permuted for adjacent pairs).
        let mode = match a {
            "llama" | "mistral" | "bitnet-b1.58" => RopeMode::Adjacent,
            _ => RopeMode::Halves,
        };
        let rope = Rope { dim: rope_dim, base: rope_base, pos_scale, factors: None, mode };
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

        // Gemma: embeddings × √dim; Gemma 2 and 3 scale the queries by 1/√(dim / heads) in the
        // 27B models (query_pre_attn_scalar, which GGUF does not store) and 1/√head_dim otherwise,
        // as llama.cpp decides by the layer count.
        let gemma = matches!(a, "gemma" | "gemma2" | "gemma3");
        let embed_scale = if gemma { (dim as f32).sqrt() } else { 1.0 };
        let big_gemma = (a == "gemma2" && n_layers == 46) || (a == "gemma3" && n_layers == 62);
        let mut attn_scale = match big_gemma {
            true => 1.0 / ((dim / n_heads) as f32).sqrt(),
            false => 1.0 / (head_dim as f32).sqrt(),
        };
        if let Some(s) = g.get_f64(&key("attention.scale"))? {
            attn_scale = s as f32;
        }
        let softcap = |k: &str| -> Result<f32> {
            let v = g.get_f64(&key(k))?.unwrap_or(0.0) as f32;
            if !v.is_finite() || v < 0.0 {
                return Err(Error::UnsupportedModel(format!("{} is {v}", key(k))));
            }
            Ok(v)
        };
        let (attn_softcap, final_softcap) = match a {
            "gemma2" => (softcap("attn_logit_softcapping")?, softcap("final_logit_softcapping")?),
            _ => {
                for k in ["attn_logit_softcapping", "final_logit_softcapping"] {
                    if softcap(k)? != 0.0 {
                        return Err(Error::UnsupportedModel(format!("{} is set; {arch} has no soft-capping", key(k))));
                    }
                }
                (0.0, 0.0)
            }
        };
        // Sliding windows: Gemma 2 alternates (even layers local), Gemma 3 has five local layers
        // to a global one, Phi-3 (as HF runs it) slides on every layer. Qwen2's key is ignored
        // as HF and llama.cpp ignore it (use_sliding_window is false in its checkpoints).
        let window = match a {
            "gemma2" | "gemma3" | "phi3" | "mistral" => opt("attention.sliding_window")?.unwrap_or(0),
            _ => 0,
        };
        let sliding_layers: Vec<bool> = match (window, a) {
            (0, _) => Vec::new(),
            (_, "gemma2") => (0..n_layers).map(|l| l % 2 == 0).collect(),
            (_, "gemma3") => (0..n_layers).map(|l| l % 6 < 5).collect(),
            _ => vec![true; n_layers],
        };
        // Gemma 3's local layers: their own base (10 000 unless the file says) and no scaling.
        let rope_local = match (a, window) {
            ("gemma3", w) if w > 0 => {
                let base = g.get_f64(&key("rope.freq_base_swa"))?.unwrap_or(10_000.0) as f32;
                Some(Rope { base, pos_scale: 1.0, ..rope.clone() })
            }
            _ => None,
        };
        Ok(LlamaConfig {
            architecture: arch,
            name,
            n_layers,
            dim,
            ffn_dim,
            n_heads,
            n_kv_heads,
            head_dim,
            rope,
            rope_local,
            rms_eps,
            attn_scale,
            attn_softcap,
            final_softcap,
            sliding_window: window,
            sliding_layers,
            embed_scale,
            context_length,
            vocab_size,
        })
    }

    /// The sliding window of layer `l` (None: the layer attends to every earlier position).
    pub fn window(&self, l: usize) -> Option<usize> {
        match self.sliding_layers.get(l) {
            Some(true) => Some(self.sliding_window),
            _ => None,
        }
    }

    /// The RoPE of layer `l`.
    pub fn layer_rope(&self, l: usize) -> &Rope {
        match (&self.rope_local, self.window(l)) {
            (Some(r), Some(_)) => r,
            _ => &self.rope,
        }
    }

    /// Whether the architecture's layer is Llama's (what AWQ's calibration and the HF export
    /// model).
    pub fn is_llama(&self) -> bool {
        LLAMA_FAMILY.contains(&self.architecture.as_str())
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
        let qwen2 = c.architecture == "qwen2";
        if !c.is_llama() && !qwen2 {
            return Err(Error::UnsupportedModel(format!(
                "writing an HF checkpoint supports llama, mistral and qwen2, not {}",
                c.architecture
            )));
        }
        if c.rope.dim != c.head_dim || c.rope.pos_scale != 1.0 || c.rope.factors.is_some() || c.sliding_window > 0 {
            return Err(Error::UnsupportedModel(format!(
                "RoPE rotates {} of {} head dims (scaled or with factors, or a sliding window); a Llama config.json here cannot say that",
                c.rope.dim, c.head_dim
            )));
        }
        if c.n_heads * c.head_dim != c.dim {
            return Err(Error::UnsupportedModel(format!(
                "{} heads of dim {} do not make the hidden size {}",
                c.n_heads, c.head_dim, c.dim
            )));
        }
        Ok(HfConfig {
            architecture: if qwen2 { "Qwen2ForCausalLM" } else { "LlamaForCausalLM" }.into(),
            name: c.name.clone(),
            hidden_size: c.dim,
            intermediate_size: c.ffn_dim,
            num_attention_heads: c.n_heads,
            num_key_value_heads: c.n_kv_heads,
            num_hidden_layers: c.n_layers,
            head_dim: c.head_dim,
            rms_norm_eps: short_f64(c.rms_eps),
            rope_theta: short_f64(c.rope.base),
            vocab_size: c.vocab_size,
            max_position_embeddings: c.context_length,
            tie_word_embeddings: tied,
            bos_token_id: bos,
            eos_token_id: eos,
            awq: None,
        })
    }
}

/// The position scale of `{arch}.rope.scaling.*`: 1 / factor for linear scaling, 1 for none;
/// any other kind (YaRN, LongRoPE) is refused rather than run unscaled.
fn rope_scaling(g: &GgufFile, arch: &str) -> Result<f32> {
    let key = |k: &str| format!("{arch}.{k}");
    let kind = g.get_str(&key("rope.scaling.type"))?;
    let factor = g.get_f64(&key("rope.scaling.factor"))?;
    match (kind, factor) {
        (None | Some("none"), None) => Ok(1.0),
        (None | Some("none"), Some(f)) if f == 1.0 || f == 0.0 => Ok(1.0),
        (None | Some("linear"), Some(f)) if f.is_finite() && f >= 1.0 => Ok((1.0 / f) as f32),
        (Some(k), f) => Err(Error::UnsupportedModel(format!(
            "{} is '{k}' (factor {f:?}); tritium supports none and linear",
            key("rope.scaling.type")
        ))),
        (None, Some(f)) => Err(Error::UnsupportedModel(format!("{} is {f}", key("rope.scaling.factor")))),
    }
}
