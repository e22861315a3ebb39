//! HF transformers `config.json` for Llama-family checkpoints, mapped to and from tritium's GGUF
//! llama metadata, and the AutoAWQ quantization settings (GEMM checkpoints):
//! `quantization_config` inside config.json, or the legacy `quant_config.json` (`w_bit`,
//! `q_group_size`, `zero_point`, `version`).

use serde_json::{json, Value as Json};

use crate::error::{Error, Result};
use crate::format::gguf::Value;

/// `architectures[0]` values read. Mistral and Qwen2 checkpoints load only when their tensors
/// have the Llama layout (no biases, no extra norms); the converter checks the tensors.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"];

/// AutoAWQ group sizes tritium's `AWQ4_G*` formats hold.
pub const AWQ_GROUP_SIZES: &[usize] = &[32, 64, 128];

/// AutoAWQ settings of a GEMM checkpoint (validated: 4 bits, zero point, version "gemm").
#[derive(Clone, Debug, PartialEq)]
pub struct AwqConfig {
    pub bits: u32,
    pub group_size: usize,
    pub zero_point: bool,
    /// Lower-cased; always "gemm" once validated.
    pub version: String,
    pub modules_to_not_convert: Vec<String>,
}

impl AwqConfig {
    pub fn gemm(group_size: usize) -> AwqConfig {
        AwqConfig { bits: 4, group_size, zero_point: true, version: "gemm".into(), modules_to_not_convert: Vec::new() }
    }

    /// Read and validate AutoAWQ settings from a JSON object: `quantization_config` of config.json
    /// (`bits`, `group_size`, `zero_point`, `version`) or a legacy quant_config.json (`w_bit`,
    /// `q_group_size`, ...). `place` names the object in errors (e.g. "config.json
    /// quantization_config").
    pub fn from_json(v: &Json, place: &str) -> Result<AwqConfig> {
        let obj = v.as_object().ok_or_else(|| Error::MalformedFile {
            file: place.to_string(),
            message: format!("{v} is not an object"),
        })?;
        let unsupported = |m: String| Error::UnsupportedModel(format!("{place}: {m}"));
        if let Some(m) = obj.get("quant_method") {
            let m = m.as_str().unwrap_or("?").to_ascii_lowercase();
            if m != "awq" {
                return Err(unsupported(format!(
                    "quant_method is \"{m}\"; tritium reads AutoAWQ checkpoints (quant_method \"awq\") only"
                )));
            }
        }
        let key = |names: &[&'static str]| names.iter().find_map(|n| obj.get(*n).map(|v| (*n, v)));
        let int = |names: &[&'static str]| -> Result<Option<(&'static str, i64)>> {
            match key(names) {
                None => Ok(None),
                Some((n, v)) => v.as_i64().map(|i| Some((n, i))).ok_or_else(|| Error::MalformedFile {
                    file: place.to_string(),
                    message: format!("{n} is {v}, expected an integer"),
                }),
            }
        };
        let (bits_key, bits) =
            int(&["bits", "w_bit"])?.ok_or_else(|| Error::MissingKey { key: format!("{place}: bits (or w_bit)") })?;
        if bits != 4 {
            return Err(unsupported(format!("{bits_key} is {bits}; tritium reads 4-bit AutoAWQ checkpoints only")));
        }
        let (gkey, group) = int(&["group_size", "q_group_size"])?
            .ok_or_else(|| Error::MissingKey { key: format!("{place}: group_size (or q_group_size)") })?;
        if !AWQ_GROUP_SIZES.iter().any(|&g| g as i64 == group) {
            return Err(unsupported(format!(
                "{gkey} is {group}; tritium reads AWQ group sizes 32, 64 and 128{}",
                if group <= 0 { " (one group per row is not supported)" } else { "" }
            )));
        }
        let zero_point = match key(&["zero_point"]) {
            None => true,
            Some((_, v)) => v.as_bool().ok_or_else(|| Error::MalformedFile {
                file: place.to_string(),
                message: format!("zero_point is {v}, expected true or false"),
            })?,
        };
        if !zero_point {
            return Err(unsupported(
                "zero_point is false (symmetric int4); tritium reads AutoAWQ checkpoints with zero_point true only"
                    .into(),
            ));
        }
        let version = match key(&["version"]) {
            None => "gemm".to_string(),
            Some((_, v)) => v.as_str().map(str::to_ascii_lowercase).ok_or_else(|| Error::MalformedFile {
                file: place.to_string(),
                message: format!("version is {v}, expected a string such as \"gemm\""),
            })?,
        };
        if version != "gemm" {
            return Err(unsupported(format!(
                "version is \"{version}\"; tritium reads only the AutoAWQ GEMM layout (version \"gemm\"): \
                 re-save the checkpoint with version=\"gemm\""
            )));
        }
        let modules_to_not_convert = match obj.get("modules_to_not_convert") {
            Some(Json::Array(a)) => a.iter().filter_map(|m| m.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        };
        Ok(AwqConfig { bits: 4, group_size: group as usize, zero_point, version, modules_to_not_convert })
    }

    /// Error unless the group size divides the `k` input channels of linear `tensor`.
    pub fn check_k(&self, tensor: &str, k: usize) -> Result<()> {
        if k % self.group_size != 0 {
            return Err(Error::UnsupportedModel(format!(
                "quantization_config group_size {} does not divide the {k} input channels of {tensor}",
                self.group_size
            )));
        }
        Ok(())
    }

    /// The `quantization_config` object AutoAWQ writes.
    pub fn to_json(&self) -> Json {
        json!({
            "quant_method": "awq",
            "zero_point": self.zero_point,
            "group_size": self.group_size,
            "bits": self.bits,
            "version": self.version,
            "modules_to_not_convert": if self.modules_to_not_convert.is_empty() {
                Json::Null
            } else {
                json!(self.modules_to_not_convert)
            },
        })
    }
}

/// The parts of an HF config.json tritium uses (Llama layout).
#[derive(Clone, Debug, PartialEq)]
pub struct HfConfig {
    pub architecture: String,
    pub name: Option<String>,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub num_hidden_layers: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub vocab_size: usize,
    /// `max_position_embeddings`, or a smaller `sliding_window` (tritium attends to the whole
    /// context, which equals sliding-window attention only up to the window).
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
    pub bos_token_id: Option<u32>,
    pub eos_token_id: Option<u32>,
    pub awq: Option<AwqConfig>,
}

const LIMIT: u64 = crate::format::limits::Limits::DEFAULT.max_hyperparameter;

impl HfConfig {
    /// Parse config.json (and a legacy quant_config.json when config.json has no
    /// `quantization_config`). Rejects what the Llama forward pass cannot run: other
    /// architectures, activations other than SiLU, RoPE scaling, biases, a head_dim other than
    /// hidden_size / num_attention_heads.
    pub fn from_json(config_json: &[u8], quant_config_json: Option<&[u8]>) -> Result<HfConfig> {
        const F: &str = "config.json";
        let v: Json = serde_json::from_slice(config_json)
            .map_err(|e| Error::MalformedFile { file: F.into(), message: format!("does not parse as JSON: {e}") })?;
        let obj = v
            .as_object()
            .ok_or_else(|| Error::MalformedFile { file: F.into(), message: "is not a JSON object".into() })?;
        let unsupported = |m: String| Error::UnsupportedModel(format!("{F}: {m}"));

        let architecture = match obj.get("architectures").and_then(|a| a.as_array()).and_then(|a| a.first()) {
            Some(a) => a.as_str().unwrap_or("?").to_string(),
            None => match obj.get("model_type").and_then(|m| m.as_str()) {
                Some("llama") => "LlamaForCausalLM".to_string(),
                Some("mistral") => "MistralForCausalLM".to_string(),
                Some("qwen2") => "Qwen2ForCausalLM".to_string(),
                other => {
                    return Err(unsupported(format!(
                        "no \"architectures\" and model_type {other:?}; tritium reads {}",
                        SUPPORTED_ARCHITECTURES.join(", ")
                    )))
                }
            },
        };
        if !SUPPORTED_ARCHITECTURES.contains(&architecture.as_str()) {
            return Err(unsupported(format!(
                "architecture {architecture}; tritium reads {}",
                SUPPORTED_ARCHITECTURES.join(", ")
            )));
        }

        let get_u = |k: &str| -> Result<Option<usize>> {
            match obj.get(k) {
                None | Some(Json::Null) => Ok(None),
                Some(x) => match x.as_u64() {
                    Some(n) if n > 0 && n <= LIMIT => Ok(Some(n as usize)),
                    Some(n) => Err(Error::Limit { what: format!("{F}: {k}"), value: n, limit: LIMIT }),
                    None => Err(Error::MalformedFile {
                        file: F.into(),
                        message: format!("{k} is {x}, expected a positive integer"),
                    }),
                },
            }
        };
        let req_u = |k: &str| get_u(k)?.ok_or_else(|| Error::MissingKey { key: format!("{F}: {k}") });
        let get_f = |k: &str| -> Result<Option<f64>> {
            match obj.get(k) {
                None | Some(Json::Null) => Ok(None),
                Some(x) => x.as_f64().filter(|f| f.is_finite() && *f > 0.0).map(Some).ok_or_else(|| {
                    Error::MalformedFile { file: F.into(), message: format!("{k} is {x}, expected a positive number") }
                }),
            }
        };
        let get_b = |k: &str| -> Result<Option<bool>> {
            match obj.get(k) {
                None | Some(Json::Null) => Ok(None),
                Some(x) => x.as_bool().map(Some).ok_or_else(|| Error::MalformedFile {
                    file: F.into(),
                    message: format!("{k} is {x}, expected true or false"),
                }),
            }
        };
        let token_id = |k: &str| -> Option<u32> {
            match obj.get(k) {
                Some(Json::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                Some(Json::Array(a)) => a.first().and_then(|n| n.as_u64()).and_then(|n| u32::try_from(n).ok()),
                _ => None,
            }
        };

        let hidden_size = req_u("hidden_size")?;
        let intermediate_size = req_u("intermediate_size")?;
        let num_attention_heads = req_u("num_attention_heads")?;
        let num_key_value_heads = get_u("num_key_value_heads")?.unwrap_or(num_attention_heads);
        let num_hidden_layers = req_u("num_hidden_layers")?;
        let vocab_size = req_u("vocab_size")?;
        if hidden_size % num_attention_heads != 0 {
            return Err(unsupported(format!(
                "hidden_size {hidden_size} is not a multiple of num_attention_heads {num_attention_heads}"
            )));
        }
        if num_attention_heads % num_key_value_heads != 0 {
            return Err(unsupported(format!(
                "{num_attention_heads} attention heads cannot be grouped over {num_key_value_heads} KV heads"
            )));
        }
        let head_dim = hidden_size / num_attention_heads;
        if let Some(hd) = get_u("head_dim")? {
            if hd != head_dim {
                return Err(unsupported(format!(
                    "head_dim {hd} differs from hidden_size / num_attention_heads = {head_dim}; tritium's Llama \
                     forward derives the head dim from the hidden size"
                )));
            }
        }
        if head_dim % 2 != 0 {
            return Err(unsupported(format!("head dim {head_dim} is odd; RoPE needs an even head dim")));
        }
        if let Some(act) = obj.get("hidden_act").and_then(|a| a.as_str()) {
            if act != "silu" && act != "swish" {
                return Err(unsupported(format!("hidden_act \"{act}\"; the Llama MLP is SwiGLU (\"silu\")")));
            }
        }
        match obj.get("rope_scaling") {
            None | Some(Json::Null) => {}
            Some(r) => {
                let ty = r.get("rope_type").or_else(|| r.get("type")).and_then(|t| t.as_str()).unwrap_or("?");
                if ty != "default" {
                    return Err(unsupported(format!(
                        "rope_scaling of type \"{ty}\"; tritium runs unscaled RoPE only (rope_scaling null)"
                    )));
                }
            }
        }
        let bias_keys: &[&str] = match architecture.as_str() {
            // Qwen 2's q, k and v always have biases (its config has no attention_bias key).
            "Qwen2ForCausalLM" => &["mlp_bias"],
            _ => &["attention_bias", "mlp_bias"],
        };
        for &k in bias_keys {
            if get_b(k)? == Some(true) {
                return Err(unsupported(format!("{k} is true; tritium's Llama layout has no linear biases")));
            }
        }
        if get_b("use_sliding_window")? == Some(true) {
            return Err(unsupported("use_sliding_window is true; tritium attends to the whole context".into()));
        }
        let mut max_position_embeddings = get_u("max_position_embeddings")?.unwrap_or(2048);
        if architecture == "MistralForCausalLM" {
            if let Some(w) = get_u("sliding_window")? {
                max_position_embeddings = max_position_embeddings.min(w);
            }
        }

        let awq = match obj.get("quantization_config") {
            Some(q) if !q.is_null() => Some(AwqConfig::from_json(q, "config.json quantization_config")?),
            _ => match quant_config_json {
                Some(b) => {
                    let q: Json = serde_json::from_slice(b).map_err(|e| Error::MalformedFile {
                        file: "quant_config.json".into(),
                        message: format!("does not parse as JSON: {e}"),
                    })?;
                    Some(AwqConfig::from_json(&q, "quant_config.json")?)
                }
                None => None,
            },
        };

        Ok(HfConfig {
            architecture,
            name: obj.get("_name_or_path").and_then(|n| n.as_str()).filter(|s| !s.is_empty()).map(str::to_string),
            hidden_size,
            intermediate_size,
            num_attention_heads,
            num_key_value_heads,
            num_hidden_layers,
            head_dim,
            rms_norm_eps: get_f("rms_norm_eps")?.unwrap_or(1e-6),
            rope_theta: get_f("rope_theta")?.unwrap_or(10_000.0),
            vocab_size,
            max_position_embeddings,
            tie_word_embeddings: get_b("tie_word_embeddings")?.unwrap_or(false),
            bos_token_id: token_id("bos_token_id"),
            eos_token_id: token_id("eos_token_id"),
            awq,
        })
    }

    /// Qwen 2 (q/k/v biases, RoPE over halves) rather than the Llama layout.
    pub fn is_qwen2(&self) -> bool {
        self.architecture == "Qwen2ForCausalLM"
    }

    /// The GGUF `general.architecture` of the checkpoint.
    pub fn gguf_arch(&self) -> &'static str {
        if self.is_qwen2() {
            "qwen2"
        } else {
            "llama"
        }
    }

    /// The GGUF metadata that `model::LlamaConfig::from_gguf` reads.
    pub fn gguf_metadata(&self) -> Vec<(String, Value)> {
        let u = |v: usize| Value::U32(v as u32);
        let a = self.gguf_arch();
        let mut m = vec![("general.architecture".to_string(), Value::String(a.into()))];
        if let Some(n) = &self.name {
            m.push(("general.name".into(), Value::String(n.clone())));
        }
        m.extend([
            (format!("{a}.context_length"), u(self.max_position_embeddings)),
            (format!("{a}.embedding_length"), u(self.hidden_size)),
            (format!("{a}.block_count"), u(self.num_hidden_layers)),
            (format!("{a}.feed_forward_length"), u(self.intermediate_size)),
            (format!("{a}.attention.head_count"), u(self.num_attention_heads)),
            (format!("{a}.attention.head_count_kv"), u(self.num_key_value_heads)),
            (format!("{a}.rope.dimension_count"), u(self.head_dim)),
            (format!("{a}.rope.freq_base"), Value::F32(self.rope_theta as f32)),
            (format!("{a}.attention.layer_norm_rms_epsilon"), Value::F32(self.rms_norm_eps as f32)),
            (format!("{a}.vocab_size"), u(self.vocab_size)),
        ]);
        m
    }

    /// config.json as transformers writes it for a Llama or Qwen 2 model (`torch_dtype` float16).
    pub fn to_json(&self) -> Json {
        let mut v = json!({
            "architectures": [self.architecture],
            "model_type": if self.is_qwen2() { "qwen2" } else { "llama" },
            "hidden_act": "silu",
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "num_hidden_layers": self.num_hidden_layers,
            "head_dim": self.head_dim,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": null,
            "attention_bias": false,
            "mlp_bias": false,
            "vocab_size": self.vocab_size,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "torch_dtype": "float16",
            "use_cache": true,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
        });
        if let Some(n) = &self.name {
            v["_name_or_path"] = json!(n);
        }
        if self.is_qwen2() {
            let o = v.as_object_mut().expect("a JSON object");
            o.remove("attention_bias");
            o.insert("use_sliding_window".into(), json!(false));
        }
        if let Some(q) = &self.awq {
            v["quantization_config"] = q.to_json();
        }
        v
    }
}

/// The shortest decimal of an f32, as f64 (1e-5f32 → 1e-5, not 9.99999974e-6).
pub fn short_f64(x: f32) -> f64 {
    format!("{x}").parse().unwrap_or(x as f64)
}
