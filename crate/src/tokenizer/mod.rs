//! Tokenizers: byte-level BPE (gpt2-style vocabularies), SentencePiece-style vocabularies with
//! scores and byte fallback (`llama`), and chat templates.
//!
//! For byte-level BPE the engine is HF `tokenizers`: [`Tokenizer::from_gguf`] builds the BPE
//! model, pre-tokenizer and added tokens from GGUF metadata (the same pieces the model's
//! tokenizer.json holds), and [`Tokenizer::from_tokenizer_json`] loads a tokenizer.json directly.
//! SentencePiece-style GGUF vocabularies (Llama 2, Mistral, Gemma, Phi-3) are encoded by `spm`,
//! with llama.cpp's semantics. BOS/EOS are added here (not by a post-processor) so every path
//! behaves alike. Decoding uses a per-token byte table (precomputed), which makes
//! [`StreamDecoder`] exact: the text of all pushes plus `finish()` equals [`Tokenizer::decode`]
//! of the same ids, byte for byte (from [`StreamDecoder::at_start`]).

mod bytes;
mod load;
mod pretok;
mod spm;
mod template;

pub use bytes::StreamDecoder;

pub use pretok::{PreKind, GPT2_REGEX, KNOWN_PRE, LLAMA3_REGEX, QWEN2_REGEX};
pub use spm::SPACE_MARK;
pub use template::CHATML_TEMPLATE;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// GGUF `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`).
pub mod token_type {
    pub const UNDEFINED: i64 = 0;
    pub const NORMAL: i64 = 1;
    pub const UNKNOWN: i64 = 2;
    pub const CONTROL: i64 = 3;
    pub const USER_DEFINED: i64 = 4;
    pub const UNUSED: i64 = 5;
    pub const BYTE: i64 = 6;
}

/// Token texts that end a turn (llama.cpp's end-of-generation list).
pub const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "<|end_of_text|>",
    "<end_of_utterance>",
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage { role: role.into(), content: content.into() }
    }
}

/// What a tokenizer is, for logs, the CLI and the JS API.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TokenizerSummary {
    /// "gpt2" for GGUF byte-level BPE, "llama" for GGUF SentencePiece-style vocabularies;
    /// "tokenizer.json" for a loaded tokenizer.json.
    pub model: String,
    /// The pre-tokenizer: the GGUF `tokenizer.ggml.pre` name, or a description of tokenizer.json's
    /// ("spm" for SentencePiece-style vocabularies, which have none).
    pub pre: String,
    pub vocab_size: usize,
    pub merges: usize,
    /// Added tokens (control + user-defined).
    pub added_tokens: usize,
    pub bos_id: Option<u32>,
    pub bos_text: Option<String>,
    pub eos_id: Option<u32>,
    pub eos_text: Option<String>,
    pub add_bos: bool,
    pub add_eos: bool,
    pub eog_ids: Vec<u32>,
    pub has_chat_template: bool,
}

/// What turns text into ids.
#[derive(Clone)]
enum Engine {
    /// Byte-level BPE through HF `tokenizers`.
    Hf(Box<tokenizers::Tokenizer>),
    /// SentencePiece-style merges by score with byte fallback.
    Spm(spm::Spm),
}

/// A tokenizer. `Send + Sync`; share it behind an `Arc`.
#[derive(Clone)]
pub struct Tokenizer {
    engine: Engine,
    /// Token text by id (the vocabulary string, e.g. "Ġthe").
    tokens: Vec<String>,
    /// Decoded bytes of token `i` are `bytes[offsets[i]..offsets[i + 1]]`.
    bytes: Vec<u8>,
    offsets: Vec<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    eog: Vec<u32>,
    chat_template: Option<String>,
    model: String,
    pre: String,
    n_merges: usize,
    n_added: usize,
    /// Decoding drops one leading space of the first token (SentencePiece `add_space_prefix`).
    strip_space: bool,
}

fn hf_err(context: &str) -> impl Fn(tokenizers::Error) -> Error + '_ {
    move |e| Error::Tokenizer(format!("{context}: {e}"))
}

impl Tokenizer {
    /// Token ids of `text`. Special tokens written in the text (e.g. "<|im_start|>") become
    /// their single ids. With `add_special`, BOS / EOS are added as `add_bos` / `add_eos` say.
    /// SentencePiece-style vocabularies follow llama.cpp: a `▁` prefix on the text and after each
    /// special token when `add_space_prefix` is on.
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>> {
        let ids = match &self.engine {
            Engine::Hf(hf) => hf.encode_fast(text, false).map_err(hf_err("encode"))?.get_ids().to_vec(),
            Engine::Spm(spm) => spm.encode(text)?,
        };
        let mut out = Vec::with_capacity(ids.len() + 2);
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        out.extend_from_slice(&ids);
        if add_special && self.add_eos {
            out.extend(self.eos);
        }
        Ok(out)
    }

    /// Text of `ids`, special tokens included as their text. Byte sequences that are not valid
    /// UTF-8 become U+FFFD (as HF's ByteLevel decoder does). Unknown ids are an error. For a
    /// SentencePiece-style vocabulary with `add_space_prefix`, one leading space of the first
    /// token is dropped (llama.cpp's detokenizer); text that continues earlier tokens (generated
    /// after a prompt) keeps it: see [`StreamDecoder::new`].
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut buf = Vec::with_capacity(ids.len() * 4);
        for (i, &id) in ids.iter().enumerate() {
            let b = self.checked_bytes(id)?;
            buf.extend_from_slice(if i == 0 { self.strip_leading_space(b) } else { b });
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// `bytes` without the leading space a SentencePiece prefix put there (when this tokenizer
    /// adds one).
    fn strip_leading_space<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        match bytes {
            [b' ', rest @ ..] if self.strip_space => rest,
            _ => bytes,
        }
    }

    /// Decode with HF `tokenizers` itself (no byte table); for cross-checks. SentencePiece-style
    /// vocabularies have no HF tokenizer: an error.
    pub fn decode_hf(&self, ids: &[u32]) -> Result<String> {
        self.hf()?.decode(ids, false).map_err(hf_err("decode"))
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }
    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }
    pub fn unk_id(&self) -> Option<u32> {
        self.unk
    }
    pub fn pad_id(&self) -> Option<u32> {
        self.pad
    }
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }
    pub fn add_eos(&self) -> bool {
        self.add_eos
    }

    /// End of generation: EOS, EOT/EOM, and turn-ending control tokens such as `<|im_end|>`.
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.binary_search(&id).is_ok()
    }
    pub fn eog_ids(&self) -> &[u32] {
        &self.eog
    }

    /// The vocabulary string of `id` (byte-level form, e.g. "Ġthe").
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The bytes `id` decodes to (may be part of a UTF-8 character).
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        let i = id as usize;
        (i < self.tokens.len()).then(|| &self.bytes[self.offsets[i] as usize..self.offsets[i + 1] as usize])
    }

    /// The id of a vocabulary string (or added token).
    pub fn token_id(&self, text: &str) -> Option<u32> {
        match &self.engine {
            Engine::Hf(hf) => hf.token_to_id(text),
            Engine::Spm(spm) => spm.token_id(text),
        }
    }

    /// Whether a SentencePiece-style vocabulary puts `▁` before the text (`add_space_prefix`).
    pub fn add_space_prefix(&self) -> bool {
        matches!(&self.engine, Engine::Spm(s) if s.add_space_prefix())
    }

    fn checked_bytes(&self, id: u32) -> Result<&[u8]> {
        self.token_bytes(id).ok_or_else(|| {
            Error::Tokenizer(format!("token id {id} is out of range (vocabulary of {})", self.tokens.len()))
        })
    }

    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// Render the model's chat template (ChatML when it has none) as HF transformers does:
    /// Jinja with trim_blocks + lstrip_blocks; `messages`, `add_generation_prompt`, `bos_token`,
    /// `eos_token`, `unk_token`, `pad_token` and `raise_exception` are available.
    pub fn apply_chat_template(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let src = self.chat_template.as_deref().unwrap_or(CHATML_TEMPLATE);
        self.apply_chat_template_with(src, messages, add_generation_prompt)
    }

    /// Render `template` (instead of the model's) with this tokenizer's special tokens.
    pub fn apply_chat_template_with(
        &self,
        template: &str,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let text = |id: Option<u32>| id.and_then(|i| self.token_text(i)).unwrap_or("");
        let toks = template::TemplateTokens {
            bos_token: text(self.bos),
            eos_token: text(self.eos),
            unk_token: text(self.unk),
            pad_token: text(self.pad),
        };
        template::render(template, messages, add_generation_prompt, &toks)
    }

    pub fn summary(&self) -> TokenizerSummary {
        let text = |id: Option<u32>| id.and_then(|i| self.token_text(i)).map(str::to_string);
        TokenizerSummary {
            model: self.model.clone(),
            pre: self.pre.clone(),
            vocab_size: self.vocab_size(),
            merges: self.n_merges,
            added_tokens: self.n_added,
            bos_id: self.bos,
            bos_text: text(self.bos),
            eos_id: self.eos,
            eos_text: text(self.eos),
            add_bos: self.add_bos,
            add_eos: self.add_eos,
            eog_ids: self.eog.clone(),
            has_chat_template: self.chat_template.is_some(),
        }
    }

    /// The underlying HF tokenizer (e.g. to save it as tokenizer.json). SentencePiece-style
    /// vocabularies are not held as one: an error naming the model.
    pub fn hf(&self) -> Result<&tokenizers::Tokenizer> {
        match &self.engine {
            Engine::Hf(hf) => Ok(hf),
            Engine::Spm(_) => Err(Error::Tokenizer(format!(
                "the \"{}\" (SentencePiece-style) tokenizer has no HF tokenizers form",
                self.model
            ))),
        }
    }
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer").field("summary", &self.summary()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Tokenizer>();
        check::<StreamDecoder>();
    }
}
