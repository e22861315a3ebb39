//! The limits every loader checks before it allocates what a file asks for. A model file is
//! untrusted input from the web: a count, a length or a shape read from it is compared with a
//! limit here first, and a file beyond one fails with [`Error::Limit`] (`E_LIMIT`), whose
//! message names the limit, the value and where it was read. The README's "Limits on input
//! files" table lists the same numbers and why.
//!
//! Sizes that are not limited here are bounded by the file itself: every array, string and
//! tensor must fit in the bytes that follow it, checked before allocating (`E_TRUNCATED`,
//! `E_OUT_OF_BOUNDS`), and every size computation is overflow-checked (`E_OVERFLOW`).

use crate::error::{Error, Result};

/// Limits on what a model file may ask for. [`Limits::DEFAULT`] is what every loader uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// GGUF tensor count (SmolLM2-135M has 272; a 70B Llama 723).
    pub max_tensors: u64,
    /// GGUF metadata key/value count.
    pub max_metadata: u64,
    /// Longest GGUF string (key, value or tensor name), in bytes (a chat template is a few KB).
    pub max_string: u64,
    /// Most elements of one GGUF metadata array (a 256k vocabulary has 256k tokens and merges).
    pub max_array: u64,
    /// Deepest nesting of GGUF arrays inside arrays.
    pub max_array_depth: u32,
    /// Dimensions of a GGUF tensor (ggml's `GGML_MAX_DIMS`).
    pub max_dims: u32,
    /// Dimensions of a safetensors tensor.
    pub max_safetensors_dims: usize,
    /// safetensors JSON header length (the reference implementation's limit).
    pub max_safetensors_header: u64,
    /// Any one hyperparameter (layers, width, FFN width, heads, vocabulary): 2^24.
    pub max_hyperparameter: u64,
    /// Context length a model may declare (positions of KV cache it could ask for).
    pub max_context: u64,
    /// Largest token id in a tokenizer.json vocabulary (the table of token strings is this long).
    pub max_vocab: u64,
    /// Bytes of one model file held in memory: wasm32 addresses 4 GiB, and the engine needs
    /// room beside the file for the tokenizer, the KV cache and activations.
    pub max_model_bytes: u64,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        max_tensors: 65_536,
        max_metadata: 65_536,
        max_string: 1 << 24,
        max_array: 1 << 24,
        max_array_depth: 8,
        max_dims: 4,
        max_safetensors_dims: 8,
        max_safetensors_header: 100_000_000,
        max_hyperparameter: 1 << 24,
        max_context: 1 << 20,
        max_vocab: 1 << 22,
        max_model_bytes: if cfg!(target_arch = "wasm32") { 3 << 30 } else { 1 << 40 },
    };

    /// `Err(E_LIMIT)` naming `what` when `value > limit`.
    pub fn check(what: impl FnOnce() -> String, value: u64, limit: u64) -> Result<()> {
        if value > limit {
            return Err(Error::Limit { what: what(), value, limit });
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
