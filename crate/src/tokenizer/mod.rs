//! Byte-level BPE tokenizer (gpt2-style vocabularies) and chat templates.
//!
//! The engine is HF `tokenizers`: [`Tokenizer::from_gguf`] builds the BPE model, pre-tokenizer
//! and added tokens from GGUF metadata (the same pieces the model's tokenizer.json holds), and
//! [`Tokenizer::from_tokenizer_json`] loads a tokenizer.json directly. BOS/EOS are added here (not
//! by a post-processor) so both paths behave alike. Decoding uses a per-token byte table (the
//! ByteLevel decoder's mapping, precomputed), which makes [`StreamDecoder`] exact: the text of all
//! pushes plus `finish()` equals [`Tokenizer::decode`] of the same ids, byte for byte.

mod pretok;
mod template;

pub use pretok::{PreKind, GPT2_REGEX, KNOWN_PRE, LLAMA3_REGEX, QWEN2_REGEX};
pub use template::CHATML_TEMPLATE;

use serde::{Deserialize, Serialize};
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, DecoderWrapper, ModelWrapper};

use crate::error::{Error, Result};
use crate::format::gguf::{GgufFile, Value};

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

const KEY_MODEL: &str = "tokenizer.ggml.model";
const KEY_PRE: &str = "tokenizer.ggml.pre";
const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
const KEY_MERGES: &str = "tokenizer.ggml.merges";
const KEY_TYPES: &str = "tokenizer.ggml.token_type";

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
    /// "gpt2" for GGUF byte-level BPE; "tokenizer.json" for a loaded tokenizer.json.
    pub model: String,
    /// The pre-tokenizer: the GGUF `tokenizer.ggml.pre` name, or a description of tokenizer.json's.
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

/// A byte-level BPE tokenizer. `Send + Sync`; share it behind an `Arc`.
#[derive(Clone)]
pub struct Tokenizer {
    hf: tokenizers::Tokenizer,
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
}

fn hf_err(context: &str) -> impl Fn(tokenizers::Error) -> Error + '_ {
    move |e| Error::Tokenizer(format!("{context}: {e}"))
}

fn wrong_elem(key: &str, expected: &str, v: &Value) -> Error {
    Error::WrongKeyType { key: key.to_string(), expected: expected.to_string(), found: v.type_name().to_string() }
}

fn string_array<'a>(g: &'a GgufFile, key: &str) -> Result<Option<Vec<&'a str>>> {
    match g.get_array(key)? {
        None => Ok(None),
        Some(arr) => arr
            .iter()
            .map(|v| v.as_str().ok_or_else(|| wrong_elem(key, "array of string", v)))
            .collect::<Result<Vec<_>>>()
            .map(Some),
    }
}

impl Tokenizer {
    /// Build from GGUF metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`).
    ///
    /// Requires `tokenizer.ggml.model == "gpt2"`, `tokens` and `merges`. `pre` defaults to
    /// "default" (the GPT-2 regex, as llama.cpp does); an unknown `pre` name is an error.
    /// Tokens of type CONTROL become special added tokens, USER_DEFINED ones plain added tokens.
    pub fn from_gguf(g: &GgufFile) -> Result<Tokenizer> {
        let model = g.require_str(KEY_MODEL)?;
        if model != "gpt2" {
            return Err(Error::Tokenizer(format!(
                "{KEY_MODEL} is \"{model}\"; tritium supports only \"gpt2\" (byte-level BPE) vocabularies"
            )));
        }
        let tokens = string_array(g, KEY_TOKENS)?.ok_or_else(|| Error::MissingKey { key: KEY_TOKENS.into() })?;
        let merges_raw = string_array(g, KEY_MERGES)?.ok_or_else(|| Error::MissingKey { key: KEY_MERGES.into() })?;
        let n = tokens.len();
        if n == 0 || n > u32::MAX as usize / 2 {
            return Err(Error::Tokenizer(format!("{KEY_TOKENS} has {n} entries")));
        }
        let types: Vec<i64> = match g.get_array(KEY_TYPES)? {
            None => vec![token_type::NORMAL; n],
            Some(arr) => {
                if arr.len() != n {
                    return Err(Error::Tokenizer(format!(
                        "{KEY_TYPES} has {} entries but {KEY_TOKENS} has {n}",
                        arr.len()
                    )));
                }
                arr.iter()
                    .map(|v| v.as_i64().ok_or_else(|| wrong_elem(KEY_TYPES, "array of integer", v)))
                    .collect::<Result<_>>()?
            }
        };
        let pre_name = g.get_str(KEY_PRE)?.unwrap_or("default");
        let kind = PreKind::from_name(pre_name)?;

        let id_key = |name: &str, required_in_range: bool| -> Result<Option<u32>> {
            let key = format!("tokenizer.ggml.{name}");
            match g.get_u64(&key)? {
                None => Ok(None),
                Some(id) if (id as usize) < n => Ok(Some(id as u32)),
                Some(id) if required_in_range => {
                    Err(Error::Tokenizer(format!("{key} = {id} is out of range (vocabulary of {n})")))
                }
                Some(_) => Ok(None),
            }
        };
        let bos = id_key("bos_token_id", true)?;
        let eos = id_key("eos_token_id", true)?;
        let unk = id_key("unknown_token_id", false)?;
        let pad = id_key("padding_token_id", false)?;
        let eot = id_key("eot_token_id", false)?;
        let eom = id_key("eom_token_id", false)?;
        let add_bos = g.get_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(kind == PreKind::Llama3);
        let add_eos = g.get_bool("tokenizer.ggml.add_eos_token")?.unwrap_or(false);
        let chat_template = g.get_str("tokenizer.chat_template")?.map(str::to_string);

        // Vocabulary: on duplicate strings the last id wins (as in llama.cpp's token_to_id).
        let vocab: Vocab = tokens.iter().enumerate().map(|(i, t)| (t.to_string(), i as u32)).collect();
        let mut merges = Vec::with_capacity(merges_raw.len());
        for (i, m) in merges_raw.iter().enumerate() {
            // Split at the first space after the first character (llama.cpp's rule).
            let split = m.char_indices().skip(1).find(|&(_, c)| c == ' ').map(|(b, _)| b);
            let Some(b) = split else {
                return Err(Error::Tokenizer(format!("{KEY_MERGES}[{i}] = {m:?} is not \"left right\"")));
            };
            merges.push((m[..b].to_string(), m[b + 1..].to_string()));
        }
        let n_merges = merges.len();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .ignore_merges(kind == PreKind::Llama3)
            .build()
            .map_err(hf_err("building BPE from GGUF vocabulary"))?;

        let mut hf = tokenizers::Tokenizer::new(bpe);
        hf.with_normalizer(kind.normalizer());
        hf.with_pre_tokenizer(Some(kind.build()?));
        hf.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevel::default())));
        let added: Vec<AddedToken> = tokens
            .iter()
            .zip(&types)
            .filter(|(_, &t)| t == token_type::CONTROL || t == token_type::USER_DEFINED)
            .map(|(s, &t)| AddedToken::from(s.to_string(), t == token_type::CONTROL).normalized(false))
            .collect();
        let n_added = added.len();
        let (special, user): (Vec<_>, Vec<_>) = added.into_iter().partition(|a| a.special);
        hf.add_special_tokens(&special);
        hf.add_tokens(&user);

        let tokens: Vec<String> = tokens.into_iter().map(str::to_string).collect();
        let mut eog: Vec<u32> = [eos, eot, eom].into_iter().flatten().collect();
        eog.extend(tokens.iter().enumerate().filter(|(_, t)| EOG_TEXTS.contains(&t.as_str())).map(|(i, _)| i as u32));
        eog.sort_unstable();
        eog.dedup();

        let (bytes, offsets) = byte_table(&tokens);
        Ok(Tokenizer {
            hf,
            tokens,
            bytes,
            offsets,
            bos,
            eos,
            unk,
            pad,
            add_bos,
            add_eos,
            eog,
            chat_template,
            model: model.to_string(),
            pre: pre_name.to_string(),
            n_merges,
            n_added,
        })
    }

    /// Load an HF tokenizer.json (BPE model with a ByteLevel decoder), with an optional
    /// tokenizer_config.json for `chat_template`, `bos_token`, `eos_token`, `add_bos_token` and
    /// `add_eos_token`. Without those keys, BOS/EOS addition is read off the post-processor.
    pub fn from_tokenizer_json(json: &[u8], tokenizer_config: Option<&[u8]>) -> Result<Tokenizer> {
        // Parse as JSON first: `tokenizers` 0.22 panics (an `expect` in its decoder deserializer)
        // on a document that ends early; found by the `tokenizer` fuzz target / malformed tests.
        let raw: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| Error::Tokenizer(format!("parsing tokenizer.json: {e}")))?;
        let mut hf = tokenizers::Tokenizer::from_bytes(json).map_err(hf_err("parsing tokenizer.json"))?;
        let config: serde_json::Value = match tokenizer_config {
            None => serde_json::Value::Null,
            Some(b) => serde_json::from_slice(b)
                .map_err(|e| Error::Tokenizer(format!("parsing tokenizer_config.json: {e}")))?,
        };
        if !matches!(hf.get_model(), ModelWrapper::BPE(_)) {
            let ty = raw["model"]["type"].as_str().unwrap_or("?");
            return Err(Error::Tokenizer(format!("tokenizer.json model is {ty}; tritium supports only BPE")));
        }
        if !matches!(hf.get_decoder(), Some(DecoderWrapper::ByteLevel(_))) {
            let ty = raw["decoder"]["type"].as_str().unwrap_or("none");
            return Err(Error::Tokenizer(format!(
                "tokenizer.json decoder is {ty}; tritium supports only byte-level BPE (ByteLevel decoder)"
            )));
        }
        hf.with_truncation(None).map_err(hf_err("tokenizer.json"))?;
        hf.with_padding(None);

        let vocab = hf.get_vocab(true);
        let n = vocab.values().map(|&i| i as usize + 1).max().unwrap_or(0);
        // The table of token strings is indexed by id: a sparse vocabulary with a huge id would
        // allocate that many entries.
        let max_vocab = crate::format::limits::Limits::DEFAULT.max_vocab;
        if n as u64 > max_vocab {
            return Err(Error::Limit {
                what: "tokenizer.json: largest token id + 1 (vocabulary table length)".into(),
                value: n as u64,
                limit: max_vocab,
            });
        }
        if n > 2 * vocab.len() + 1024 {
            return Err(Error::Tokenizer(format!(
                "tokenizer.json: token ids run up to {} for only {} tokens; ids must be dense",
                n - 1,
                vocab.len()
            )));
        }
        let mut tokens = vec![String::new(); n];
        for (t, i) in vocab {
            tokens[i as usize] = t;
        }
        let added = hf.get_added_tokens_decoder();
        let n_added = added.len();
        let find = |s: &str| -> Option<u32> { hf.token_to_id(s) };
        let token_str = |v: &serde_json::Value| -> Option<String> {
            match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Object(m) => m.get("content").and_then(|c| c.as_str()).map(str::to_string),
                _ => None,
            }
        };
        let id_of = |key: &str| -> Option<u32> { token_str(&config[key]).and_then(|s| find(&s)) };

        // What the post-processor adds around a sequence.
        let probe = |special: bool| -> Result<Vec<u32>> {
            Ok(hf.encode_fast("a", special).map_err(hf_err("tokenizer.json"))?.get_ids().to_vec())
        };
        let (plain, with) = (probe(false)?, probe(true)?);
        let (mut lead, mut trail) = (None, None);
        if with.len() > plain.len() {
            if let Some(p) = with.windows(plain.len().max(1)).position(|w| w == plain.as_slice()) {
                lead = with[..p].last().copied();
                trail = with[p + plain.len()..].first().copied();
            }
        }
        let bos = id_of("bos_token").or(lead);
        let eos = id_of("eos_token").or(trail);
        let unk = id_of("unk_token");
        let pad = id_of("pad_token");
        let add_bos = config["add_bos_token"].as_bool().unwrap_or(lead.is_some());
        let add_eos = config["add_eos_token"].as_bool().unwrap_or(trail.is_some());
        hf.with_post_processor(None::<tokenizers::PostProcessorWrapper>);

        let chat_template = match &config["chat_template"] {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(list) => list
                .iter()
                .find(|t| t["name"] == "default")
                .or(list.first())
                .and_then(|t| t["template"].as_str())
                .map(str::to_string),
            _ => None,
        };

        let mut eog: Vec<u32> = eos.into_iter().collect();
        eog.extend(added.iter().filter(|(_, a)| EOG_TEXTS.contains(&a.content.as_str())).map(|(&i, _)| i));
        eog.sort_unstable();
        eog.dedup();

        let pre = describe_pre(&raw["pre_tokenizer"]);
        let n_merges = raw["model"]["merges"].as_array().map_or(0, |m| m.len());
        let (bytes, offsets) = byte_table(&tokens);
        Ok(Tokenizer {
            hf,
            tokens,
            bytes,
            offsets,
            bos,
            eos,
            unk,
            pad,
            add_bos,
            add_eos,
            eog,
            chat_template,
            model: "tokenizer.json".into(),
            pre,
            n_merges,
            n_added,
        })
    }

    /// Token ids of `text`. Special tokens written in the text (e.g. "<|im_start|>") become
    /// their single ids. With `add_special`, BOS / EOS are added as `add_bos` / `add_eos` say.
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>> {
        let enc = self.hf.encode_fast(text, false).map_err(hf_err("encode"))?;
        let ids = enc.get_ids();
        let mut out = Vec::with_capacity(ids.len() + 2);
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        out.extend_from_slice(ids);
        if add_special && self.add_eos {
            out.extend(self.eos);
        }
        Ok(out)
    }

    /// Text of `ids`, special tokens included as their text. Byte sequences that are not valid
    /// UTF-8 become U+FFFD (as HF's ByteLevel decoder does). Unknown ids are an error.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut buf = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            buf.extend_from_slice(self.checked_bytes(id)?);
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Decode with HF `tokenizers` itself (no byte table); for cross-checks.
    pub fn decode_hf(&self, ids: &[u32]) -> Result<String> {
        self.hf.decode(ids, false).map_err(hf_err("decode"))
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
        self.hf.token_to_id(text)
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

    /// The underlying HF tokenizer (e.g. to save it as tokenizer.json).
    pub fn hf(&self) -> &tokenizers::Tokenizer {
        &self.hf
    }
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer").field("summary", &self.summary()).finish()
    }
}

fn describe_pre(v: &serde_json::Value) -> String {
    match v["type"].as_str() {
        None => "none".into(),
        Some("Sequence") => {
            let parts: Vec<String> =
                v["pretokenizers"].as_array().map(|a| a.iter().map(describe_pre).collect()).unwrap_or_default();
            format!("Sequence[{}]", parts.join(","))
        }
        Some(t) => t.to_string(),
    }
}

/// GPT-2's byte ↔ unicode map, inverted: `char` code point → byte (`None` when not in the map).
fn char_to_byte(c: char) -> Option<u8> {
    let c = c as u32;
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    if c < 256 {
        return printable(c).then_some(c as u8);
    }
    // Non-printable bytes map, in byte order, to 256, 257, ...
    let nth = c - 256;
    (0u32..256).filter(|&b| !printable(b)).nth(nth as usize).map(|b| b as u8)
}

/// Per-token decoded bytes, as HF's ByteLevel decoder maps each token: every char through the
/// byte map, or the token's own UTF-8 when any char is outside the map (e.g. added tokens).
fn byte_table(tokens: &[String]) -> (Vec<u8>, Vec<u32>) {
    let mut lut = [0u8; 324];
    let mut valid = [false; 324];
    for c in 0..324u32 {
        if let Some(b) = char::from_u32(c).and_then(char_to_byte) {
            lut[c as usize] = b;
            valid[c as usize] = true;
        }
    }
    let mut bytes = Vec::with_capacity(tokens.iter().map(String::len).sum());
    let mut offsets = Vec::with_capacity(tokens.len() + 1);
    offsets.push(0u32);
    for t in tokens {
        let start = bytes.len();
        let mut ok = true;
        for c in t.chars() {
            let i = c as usize;
            if i < 324 && valid[i] {
                bytes.push(lut[i]);
            } else {
                ok = false;
                break;
            }
        }
        if !ok {
            bytes.truncate(start);
            bytes.extend_from_slice(t.as_bytes());
        }
        offsets.push(bytes.len() as u32);
    }
    (bytes, offsets)
}

/// Incremental detokenizer: feed ids one at a time, get the text each completes.
///
/// Holds back bytes of an incomplete UTF-8 character; invalid sequences become U+FFFD exactly
/// where `String::from_utf8_lossy` would put them, so concatenating every `push` and `finish`
/// equals `Tokenizer::decode` of all the ids.
#[derive(Clone, Debug, Default)]
pub struct StreamDecoder {
    pending: Vec<u8>,
}

impl StreamDecoder {
    pub fn new() -> Self {
        StreamDecoder { pending: Vec::new() }
    }

    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> Result<String> {
        self.pending.extend_from_slice(tok.checked_bytes(id)?);
        let mut out = String::new();
        let mut start = 0;
        loop {
            match std::str::from_utf8(&self.pending[start..]) {
                Ok(s) => {
                    out.push_str(s);
                    start = self.pending.len();
                    break;
                }
                Err(e) => {
                    let good = e.valid_up_to();
                    // from_utf8 validated this prefix.
                    out.push_str(std::str::from_utf8(&self.pending[start..start + good]).unwrap());
                    start += good;
                    match e.error_len() {
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            start += bad;
                        }
                        None => break, // incomplete character at the end: wait for more bytes
                    }
                }
            }
        }
        self.pending.drain(..start);
        Ok(out)
    }

    /// Flush what is held back (an incomplete character becomes U+FFFD).
    pub fn finish(&mut self, _tok: &Tokenizer) -> Result<String> {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        Ok(out)
    }

    /// Bytes held back waiting for the rest of a character.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_is_a_bijection() {
        let mut seen = [false; 256];
        for c in 0..324u32 {
            if let Some(b) = char::from_u32(c).and_then(char_to_byte) {
                assert!(!seen[b as usize], "byte {b} mapped twice");
                seen[b as usize] = true;
            }
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(char_to_byte('Ġ'), Some(b' '));
        assert_eq!(char_to_byte('Ċ'), Some(b'\n'));
        assert_eq!(char_to_byte('ĉ'), Some(b'\t'));
        assert_eq!(char_to_byte('A'), Some(b'A'));
        assert_eq!(char_to_byte(' '), None);
    }

    #[test]
    fn tokenizer_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Tokenizer>();
        check::<StreamDecoder>();
    }
}
