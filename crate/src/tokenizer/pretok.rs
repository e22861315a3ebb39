//! Pre-tokenizers for gpt2-style (byte-level BPE) vocabularies, chosen by the GGUF
//! `tokenizer.ggml.pre` name the way llama.cpp chooses its regexes, but built from the HF
//! `tokenizers` components that the models' own tokenizer.json files use.

use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{NormalizerWrapper, PreTokenizerWrapper, SplitDelimiterBehavior};

use crate::error::{Error, Result};

/// The GPT-2 split regex that `ByteLevel { use_regex: true }` applies (HF tokenizers' own).
pub const GPT2_REGEX: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// Llama 3's split regex (tokenizer.json `Split`, behavior Isolated), digits in groups of 1–3.
pub const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen2's split regex: as Llama 3's, but every digit is its own piece.
pub const QWEN2_REGEX: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The pre-tokenizer families tritium knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreKind {
    /// `ByteLevel(add_prefix_space=false, use_regex=true)`: the GPT-2 regex.
    Gpt2,
    /// `Sequence[Digits(individual_digits=true), ByteLevel(use_regex=true)]` (StarCoder, SmolLM).
    DigitsGpt2,
    /// `Sequence[Split(LLAMA3_REGEX, Isolated), ByteLevel(use_regex=false)]`.
    Llama3,
    /// NFC normalizer + `Sequence[Split(QWEN2_REGEX, Isolated), ByteLevel(use_regex=false)]`.
    Qwen2,
}

/// Names accepted in `tokenizer.ggml.pre`, with the family each maps to (as llama.cpp maps them).
pub const KNOWN_PRE: &[(&str, PreKind)] = &[
    ("default", PreKind::Gpt2),
    ("gpt-2", PreKind::Gpt2),
    ("gpt2", PreKind::Gpt2),
    ("phi-2", PreKind::Gpt2),
    ("mpt", PreKind::Gpt2),
    ("olmo", PreKind::Gpt2),
    ("smollm", PreKind::DigitsGpt2),
    ("starcoder", PreKind::DigitsGpt2),
    ("refact", PreKind::DigitsGpt2),
    ("command-r", PreKind::DigitsGpt2),
    ("codeshell", PreKind::DigitsGpt2),
    ("exaone", PreKind::DigitsGpt2),
    ("minerva-7b", PreKind::DigitsGpt2),
    ("llama-bpe", PreKind::Llama3),
    ("llama3", PreKind::Llama3),
    ("llama-v3", PreKind::Llama3),
    ("falcon3", PreKind::Llama3),
    ("pixtral", PreKind::Llama3),
    ("dbrx", PreKind::Llama3),
    ("smaug-bpe", PreKind::Llama3),
    ("qwen2", PreKind::Qwen2),
    ("deepseek-r1-qwen", PreKind::Qwen2),
    ("megrez", PreKind::Qwen2),
];

/// The `pre` names of Llama 3 and its kin, which llama.cpp loads with `ignore_merges` (a word
/// that is itself a token is not split) and BOS added by default.
const LLAMA3_FAMILY: &[&str] = &["llama-bpe", "llama3", "llama-v3", "falcon3", "pixtral"];

/// Whether a word that is a whole token skips the merges (`ignore_merges`) for this `pre`.
pub fn pre_ignores_merges(name: &str) -> bool {
    LLAMA3_FAMILY.contains(&name)
}

/// Whether BOS is added by default (without `tokenizer.ggml.add_bos_token`) for this `pre`.
pub fn pre_adds_bos(name: &str) -> bool {
    LLAMA3_FAMILY.contains(&name)
}

impl PreKind {
    /// Look up a `tokenizer.ggml.pre` name. Unknown names are an `E_UNSUPPORTED_MODEL` error
    /// that names them and lists the known ones (a wrong pre-tokenizer silently changes token
    /// ids, so no fallback).
    pub fn from_name(name: &str) -> Result<PreKind> {
        KNOWN_PRE.iter().find(|(n, _)| *n == name).map(|(_, k)| *k).ok_or_else(|| {
            let names: Vec<&str> = KNOWN_PRE.iter().map(|(n, _)| *n).collect();
            Error::UnsupportedModel(format!(
                "unsupported pre-tokenizer '{name}' (tokenizer.ggml.pre); supported: {}",
                names.join(", ")
            ))
        })
    }

    /// The split regex this family applies (for reports).
    pub fn regex(self) -> &'static str {
        match self {
            PreKind::Gpt2 => GPT2_REGEX,
            PreKind::DigitsGpt2 => GPT2_REGEX,
            PreKind::Llama3 => LLAMA3_REGEX,
            PreKind::Qwen2 => QWEN2_REGEX,
        }
    }

    pub fn normalizer(self) -> Option<NormalizerWrapper> {
        match self {
            PreKind::Qwen2 => Some(NFC.into()),
            _ => None,
        }
    }

    pub fn build(self) -> Result<PreTokenizerWrapper> {
        let byte_level = |use_regex| PreTokenizerWrapper::from(ByteLevel::new(false, true, use_regex));
        let split = |re: &str| -> Result<PreTokenizerWrapper> {
            let s = Split::new(SplitPattern::Regex(re.to_string()), SplitDelimiterBehavior::Isolated, false)
                .map_err(|e| Error::Tokenizer(format!("pre-tokenizer regex: {e}")))?;
            Ok(s.into())
        };
        Ok(match self {
            PreKind::Gpt2 => byte_level(true),
            PreKind::DigitsGpt2 => Sequence::new(vec![Digits::new(true).into(), byte_level(true)]).into(),
            PreKind::Llama3 => Sequence::new(vec![split(LLAMA3_REGEX)?, byte_level(false)]).into(),
            PreKind::Qwen2 => Sequence::new(vec![split(QWEN2_REGEX)?, byte_level(false)]).into(),
        })
    }
}
