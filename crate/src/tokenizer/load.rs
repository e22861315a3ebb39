//! Building a [`Tokenizer`]: from GGUF metadata (`tokenizer.ggml.*`) or from a tokenizer.json
//! (with its tokenizer_config.json).

use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, DecoderWrapper, ModelWrapper};

use super::bytes::byte_table;
use super::pretok::{pre_adds_bos, pre_ignores_merges};
use super::spm::{spm_byte_table, Spm};
use super::{hf_err, token_type, Engine, PreKind, Tokenizer, EOG_TEXTS};
use crate::error::{Error, Result};
use crate::format::gguf::{GgufFile, Value};

const KEY_MODEL: &str = "tokenizer.ggml.model";
const KEY_PRE: &str = "tokenizer.ggml.pre";
const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
const KEY_MERGES: &str = "tokenizer.ggml.merges";
const KEY_TYPES: &str = "tokenizer.ggml.token_type";
const KEY_SCORES: &str = "tokenizer.ggml.scores";

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
    /// `tokenizer.ggml.model` is "gpt2" (byte-level BPE: `tokens` and `merges`; `pre` defaults to
    /// "default", the GPT-2 regex, as llama.cpp does; an unknown `pre` is an error) or "llama"
    /// (SentencePiece-style: `tokens`, `scores`, byte-fallback `<0xXX>` tokens,
    /// `add_space_prefix` defaulting to true, BOS added by default). Tokens of type CONTROL become
    /// special added tokens, USER_DEFINED ones plain added tokens; both are matched in text.
    pub fn from_gguf(g: &GgufFile) -> Result<Tokenizer> {
        let model = g.require_str(KEY_MODEL)?;
        let spm = match model {
            "gpt2" => false,
            "llama" => true,
            _ => {
                return Err(Error::UnsupportedModel(format!(
                    "{KEY_MODEL} is \"{model}\"; tritium supports \"gpt2\" (byte-level BPE) and \"llama\" \
                     (SentencePiece-style) vocabularies"
                )))
            }
        };
        let tokens = string_array(g, KEY_TOKENS)?.ok_or_else(|| Error::MissingKey { key: KEY_TOKENS.into() })?;
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

        let id_key = |name: &str, required_in_range: bool, default: Option<u32>| -> Result<Option<u32>> {
            let key = format!("tokenizer.ggml.{name}");
            match g.get_u64(&key)? {
                None => Ok(default.filter(|&d| (d as usize) < n)),
                Some(id) if (id as usize) < n => Ok(Some(id as u32)),
                Some(id) if required_in_range => {
                    Err(Error::Tokenizer(format!("{key} = {id} is out of range (vocabulary of {n})")))
                }
                Some(_) => Ok(None),
            }
        };
        // llama.cpp's defaults for SentencePiece vocabularies: <unk> 0, <s> 1, </s> 2.
        let dflt = |id: u32| spm.then_some(id);
        let bos = id_key("bos_token_id", true, dflt(1))?;
        let eos = id_key("eos_token_id", true, dflt(2))?;
        let unk = id_key("unknown_token_id", false, dflt(0))?;
        let pad = id_key("padding_token_id", false, None)?;
        let eot = id_key("eot_token_id", false, None)?;
        let eom = id_key("eom_token_id", false, None)?;
        let chat_template = g.get_str("tokenizer.chat_template")?.map(str::to_string);

        let (engine, pre, n_merges, n_added, add_bos_default, strip_space) = if spm {
            let scores = scores(g, n)?;
            let add_space_prefix = g.get_bool("tokenizer.ggml.add_space_prefix")?.unwrap_or(true);
            let n_added = types.iter().filter(|&&t| t == token_type::CONTROL || t == token_type::USER_DEFINED).count();
            let engine = Engine::Spm(Spm::new(&tokens, scores, &types, add_space_prefix));
            (engine, "spm".to_string(), 0, n_added, true, add_space_prefix)
        } else {
            let pre_name = g.get_str(KEY_PRE)?.unwrap_or("default");
            let kind = PreKind::from_name(pre_name)?;
            let (hf, n_merges, n_added) = byte_level_bpe(g, &tokens, &types, kind, pre_name)?;
            (Engine::Hf(Box::new(hf)), pre_name.to_string(), n_merges, n_added, pre_adds_bos(pre_name), false)
        };
        let add_bos = g.get_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(add_bos_default);
        let add_eos = g.get_bool("tokenizer.ggml.add_eos_token")?.unwrap_or(false);

        let tokens: Vec<String> = tokens.into_iter().map(str::to_string).collect();
        let mut eog: Vec<u32> = [eos, eot, eom].into_iter().flatten().collect();
        eog.extend(tokens.iter().enumerate().filter(|(_, t)| EOG_TEXTS.contains(&t.as_str())).map(|(i, _)| i as u32));
        eog.sort_unstable();
        eog.dedup();

        let (bytes, offsets) = if spm { spm_byte_table(&tokens, &types) } else { byte_table(&tokens) };
        Ok(Tokenizer {
            engine,
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
            pre,
            n_merges,
            n_added,
            strip_space,
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
            engine: Engine::Hf(Box::new(hf)),
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
            strip_space: false,
        })
    }
}

/// `tokenizer.ggml.scores` (f32 or integer entries, one per token; all 0 when absent).
fn scores(g: &GgufFile, n: usize) -> Result<Vec<f32>> {
    let Some(arr) = g.get_array(KEY_SCORES)? else { return Ok(vec![0.0; n]) };
    if arr.len() != n {
        return Err(Error::Tokenizer(format!("{KEY_SCORES} has {} entries but {KEY_TOKENS} has {n}", arr.len())));
    }
    arr.iter()
        .map(|v| v.as_f64().map(|x| x as f32).ok_or_else(|| wrong_elem(KEY_SCORES, "array of number", v)))
        .collect()
}

/// The HF byte-level BPE tokenizer of a gpt2-style GGUF vocabulary: (tokenizer, merges, added).
fn byte_level_bpe(
    g: &GgufFile,
    tokens: &[&str],
    types: &[i64],
    kind: PreKind,
    pre_name: &str,
) -> Result<(tokenizers::Tokenizer, usize, usize)> {
    let merges_raw = string_array(g, KEY_MERGES)?.ok_or_else(|| Error::MissingKey { key: KEY_MERGES.into() })?;
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
        .ignore_merges(pre_ignores_merges(pre_name))
        .build()
        .map_err(hf_err("building BPE from GGUF vocabulary"))?;

    let mut hf = tokenizers::Tokenizer::new(bpe);
    hf.with_normalizer(kind.normalizer());
    hf.with_pre_tokenizer(Some(kind.build()?));
    hf.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevel::default())));
    let added: Vec<AddedToken> = tokens
        .iter()
        .zip(types)
        .filter(|(_, &t)| t == token_type::CONTROL || t == token_type::USER_DEFINED)
        .map(|(s, &t)| AddedToken::from(s.to_string(), t == token_type::CONTROL).normalized(false))
        .collect();
    let n_added = added.len();
    let (special, user): (Vec<_>, Vec<_>) = added.into_iter().partition(|a| a.special);
    hf.add_special_tokens(&special);
    hf.add_tokens(&user);
    Ok((hf, n_merges, n_added))
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
