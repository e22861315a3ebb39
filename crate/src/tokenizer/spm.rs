//! SentencePiece-style vocabularies (`tokenizer.ggml.model = "llama"`: Llama 2, Mistral, Gemma,
//! Phi-3), with llama.cpp's semantics (`llm_tokenizer_spm`), written here from its description:
//!
//! * Special tokens (CONTROL, USER_DEFINED and UNKNOWN types) written in the text are cut out
//!   first, longest text first; each becomes its own id.
//! * Every other fragment has its spaces replaced by `▁` (U+2581), and gets a `▁` in front when
//!   `add_space_prefix` is on and it starts the text or follows a special token.
//! * A fragment starts as one symbol per character; the adjacent pair whose concatenation is a
//!   vocabulary entry with the highest score is merged (ties to the leftmost), until no pair is.
//! * A final symbol that is not in the vocabulary becomes its bytes' `<0xXX>` tokens (byte
//!   fallback).
//!
//! Decoding maps `▁` back to spaces and byte tokens to their bytes; `Tokenizer::decode` drops the
//! one leading space the prefix added (as llama.cpp's detokenizer does).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use super::token_type;
use crate::error::{Error, Result};

/// The word-boundary mark of SentencePiece vocabularies.
pub const SPACE_MARK: char = '\u{2581}';

#[derive(Clone, Debug)]
pub(super) struct Spm {
    ids: HashMap<String, u32>,
    scores: Vec<f32>,
    /// The token of each byte: `<0xXX>`, else the byte's one-character token.
    byte_ids: Vec<Option<u32>>,
    /// Texts matched as whole tokens, longest first.
    specials: Vec<(String, u32)>,
    add_space_prefix: bool,
}

/// A merge candidate: symbols `left` and `right` (adjacent), whose joined text has `score`.
#[derive(Debug)]
struct Pair {
    score: f32,
    left: usize,
    right: usize,
    /// Byte length of the joined text; a pair whose symbols changed since is stale.
    len: usize,
}

impl PartialEq for Pair {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pair {}
impl PartialOrd for Pair {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pair {
    /// Max-heap order: the higher score first, then the leftmost.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then_with(|| other.left.cmp(&self.left))
    }
}

/// One symbol of a fragment being merged: a byte range of the text, linked to its neighbours.
#[derive(Clone, Copy, Debug)]
struct Sym {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// The byte of a `<0xXX>` token.
pub(super) fn byte_token_value(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

impl Spm {
    pub(super) fn new(tokens: &[&str], scores: Vec<f32>, types: &[i64], add_space_prefix: bool) -> Spm {
        let ids: HashMap<String, u32> = tokens.iter().enumerate().map(|(i, t)| (t.to_string(), i as u32)).collect();
        let byte_ids = (0..=255u8)
            .map(|b| {
                ids.get(&format!("<0x{b:02X}>"))
                    .or_else(|| (b < 0x80).then(|| ids.get(&(b as char).to_string())).flatten())
                    .copied()
            })
            .collect();
        let mut specials: Vec<(String, u32)> = tokens
            .iter()
            .zip(types)
            .enumerate()
            .filter(|(_, (t, &ty))| {
                !t.is_empty() && matches!(ty, token_type::CONTROL | token_type::USER_DEFINED | token_type::UNKNOWN)
            })
            .map(|(i, (t, _))| (t.to_string(), i as u32))
            .collect();
        specials.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        Spm { ids, scores, byte_ids, specials, add_space_prefix }
    }

    pub(super) fn token_id(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    pub(super) fn add_space_prefix(&self) -> bool {
        self.add_space_prefix
    }

    /// Token ids of `text` (no BOS/EOS).
    pub(super) fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        let mut prev_special = true;
        for frag in self.split_specials(text) {
            match frag {
                Frag::Token(id) => {
                    out.push(id);
                    prev_special = true;
                }
                Frag::Text(s) => {
                    let mut t = String::with_capacity(s.len() + 4);
                    if self.add_space_prefix && prev_special {
                        t.push(SPACE_MARK);
                    }
                    for c in s.chars() {
                        t.push(if c == ' ' { SPACE_MARK } else { c });
                    }
                    self.encode_piece(&t, &mut out)?;
                    prev_special = false;
                }
            }
        }
        Ok(out)
    }

    /// Cut special-token texts out of `text`: for each special (longest first), every
    /// occurrence in the text fragments left so far, leftmost first.
    fn split_specials<'a>(&self, text: &'a str) -> Vec<Frag<'a>> {
        let mut frags = if text.is_empty() { vec![] } else { vec![Frag::Text(text)] };
        for (sp, id) in &self.specials {
            if !frags.iter().any(|f| matches!(f, Frag::Text(s) if s.contains(sp.as_str()))) {
                continue;
            }
            let mut next = Vec::with_capacity(frags.len() + 2);
            for f in frags {
                let Frag::Text(mut s) = f else {
                    next.push(f);
                    continue;
                };
                while let Some(at) = s.find(sp.as_str()) {
                    if at > 0 {
                        next.push(Frag::Text(&s[..at]));
                    }
                    next.push(Frag::Token(*id));
                    s = &s[at + sp.len()..];
                }
                if !s.is_empty() {
                    next.push(Frag::Text(s));
                }
            }
            frags = next;
        }
        frags
    }

    fn pair(&self, text: &str, syms: &[Sym], left: usize, right: usize) -> Option<Pair> {
        let (l, r) = (syms[left], syms[right]);
        let joined = &text[l.start..r.start + r.len];
        let id = *self.ids.get(joined)?;
        Some(Pair { score: self.scores[id as usize], left, right, len: joined.len() })
    }

    /// Merge one escaped fragment by score and append its ids.
    fn encode_piece(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let mut syms: Vec<Sym> = Vec::with_capacity(text.len());
        for (i, (start, c)) in text.char_indices().enumerate() {
            syms.push(Sym { start, len: c.len_utf8(), prev: i.checked_sub(1), next: Some(i + 1) });
        }
        let Some(last) = syms.last_mut() else { return Ok(()) };
        last.next = None;
        let mut heap = BinaryHeap::with_capacity(syms.len());
        for i in 1..syms.len() {
            heap.extend(self.pair(text, &syms, i - 1, i));
        }
        while let Some(p) = heap.pop() {
            let (l, r) = (syms[p.left], syms[p.right]);
            if l.len == 0 || r.len == 0 || l.len + r.len != p.len {
                continue; // stale: one side was merged into something else since
            }
            syms[p.left].len += r.len;
            syms[p.left].next = r.next;
            syms[p.right].len = 0;
            if let Some(n) = r.next {
                syms[n].prev = Some(p.left);
            }
            if let Some(prev) = syms[p.left].prev {
                heap.extend(self.pair(text, &syms, prev, p.left));
            }
            if let Some(next) = syms[p.left].next {
                heap.extend(self.pair(text, &syms, p.left, next));
            }
        }
        let mut i = Some(0);
        while let Some(k) = i {
            let s = syms[k];
            let piece = &text[s.start..s.start + s.len];
            match self.ids.get(piece) {
                Some(&id) => out.push(id),
                None => {
                    for &b in piece.as_bytes() {
                        let id = self.byte_ids[b as usize].ok_or_else(|| {
                            Error::Tokenizer(format!(
                                "{piece:?} is not in the vocabulary and byte 0x{b:02X} has no <0x{b:02X}> token"
                            ))
                        })?;
                        out.push(id);
                    }
                }
            }
            i = s.next;
        }
        Ok(())
    }
}

enum Frag<'a> {
    Text(&'a str),
    Token(u32),
}

/// Per-token decoded bytes for a SentencePiece vocabulary (llama.cpp's `token_to_piece` with
/// specials shown): NORMAL tokens with `▁` as a space, BYTE tokens as their byte, CONTROL,
/// UNKNOWN and USER_DEFINED tokens as their text, UNUSED and undefined ones as nothing.
pub(super) fn spm_byte_table(tokens: &[String], types: &[i64]) -> (Vec<u8>, Vec<u32>) {
    let mut bytes = Vec::with_capacity(tokens.iter().map(String::len).sum());
    let mut offsets = Vec::with_capacity(tokens.len() + 1);
    offsets.push(0u32);
    for (t, &ty) in tokens.iter().zip(types) {
        match ty {
            token_type::NORMAL => {
                for c in t.chars() {
                    if c == SPACE_MARK {
                        bytes.push(b' ');
                    } else {
                        bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                    }
                }
            }
            token_type::BYTE => match byte_token_value(t) {
                Some(b) => bytes.push(b),
                None => bytes.extend_from_slice(t.as_bytes()),
            },
            token_type::CONTROL | token_type::UNKNOWN | token_type::USER_DEFINED => {
                bytes.extend_from_slice(t.as_bytes())
            }
            _ => {}
        }
        offsets.push(bytes.len() as u32);
    }
    (bytes, offsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(entries: &[(&str, f32, i64)], prefix: bool) -> (Spm, Vec<String>) {
        let tokens: Vec<&str> = entries.iter().map(|e| e.0).collect();
        let types: Vec<i64> = entries.iter().map(|e| e.2).collect();
        let spm = Spm::new(&tokens, entries.iter().map(|e| e.1).collect(), &types, prefix);
        (spm, tokens.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn merges_by_score_with_byte_fallback_and_specials() {
        const N: i64 = token_type::NORMAL;
        let mut e: Vec<(String, f32, i64)> = vec![
            ("<unk>".into(), 0.0, token_type::UNKNOWN),
            ("<s>".into(), 0.0, token_type::CONTROL),
            ("</s>".into(), 0.0, token_type::CONTROL),
        ];
        for b in 0..=255u8 {
            e.push((format!("<0x{b:02X}>"), 0.0, token_type::BYTE));
        }
        let base = e.len() as u32;
        for (t, s) in [("▁", -1.0), ("a", -2.0), ("b", -3.0), ("ab", -4.0), ("▁a", -5.0), ("▁ab", -6.0), ("bb", -0.5)]
        {
            e.push((t.into(), s, N));
        }
        e.push(("<tool>".into(), 0.0, token_type::USER_DEFINED));
        let entries: Vec<(&str, f32, i64)> = e.iter().map(|(t, s, ty)| (t.as_str(), *s, *ty)).collect();
        let (spm, tokens) = vocab(&entries, true);
        let id = |t: &str| spm.token_id(t).unwrap();
        // "▁ab": ▁a (-5) vs ab (-4): "ab" merges first, then "▁ab" (-6).
        assert_eq!(spm.encode("ab").unwrap(), [id("▁ab")]);
        // "abb": "bb" (-0.5) beats "ab" (-4): ▁ a bb, and "▁a" (-5) merges last.
        assert_eq!(spm.encode("abb").unwrap(), [id("▁a"), id("bb")]);
        // "é" is not in the vocabulary: its two UTF-8 bytes.
        assert_eq!(spm.encode("é").unwrap(), [id("▁"), 3 + 0xC3, 3 + 0xA9]);
        // Specials: the prefix again after each one; a space becomes ▁.
        assert_eq!(spm.encode("<s>a b</s><tool>").unwrap(), [1, id("▁a"), id("▁"), id("b"), 2, base + 7]);
        assert_eq!(spm.encode("").unwrap(), Vec::<u32>::new());
        let (no_prefix, _) = vocab(&entries, false);
        assert_eq!(no_prefix.encode("ab").unwrap(), [id("ab")]);

        let types: Vec<i64> = entries.iter().map(|e| e.2).collect();
        let (bytes, offsets) = spm_byte_table(&tokens, &types);
        let b = |i: u32| &bytes[offsets[i as usize] as usize..offsets[i as usize + 1] as usize];
        assert_eq!(b(id("▁ab")), b" ab");
        assert_eq!(b(3 + 0xC3), [0xC3]);
        assert_eq!(b(1), b"<s>");
        assert_eq!(byte_token_value("<0x0A>"), Some(10));
        assert_eq!(byte_token_value("<0x0A"), None);
    }
}
