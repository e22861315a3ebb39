//! Token bytes: the ByteLevel mapping of token text back to bytes (precomputed per token), and
//! [`StreamDecoder`], which turns a stream of ids into text without splitting a UTF-8 character.

use super::Tokenizer;
use crate::error::Result;

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
pub(super) fn byte_table(tokens: &[String]) -> (Vec<u8>, Vec<u32>) {
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
/// of a decoder made by [`StreamDecoder::at_start`] equals `Tokenizer::decode` of all the ids.
#[derive(Clone, Debug, Default)]
pub struct StreamDecoder {
    pending: Vec<u8>,
    /// The next id starts the text (a SentencePiece prefix space is dropped from it).
    at_start: bool,
}

impl StreamDecoder {
    /// A decoder for ids that continue earlier text (generated after a prompt): every token's
    /// text is kept whole, leading space included, as llama.cpp prints generated pieces.
    pub fn new() -> Self {
        StreamDecoder { pending: Vec::new(), at_start: false }
    }

    /// A decoder for ids that start the text: as [`Tokenizer::decode`], the first token loses
    /// the space a SentencePiece `add_space_prefix` put before it. The same as
    /// [`StreamDecoder::new`] for byte-level BPE vocabularies.
    pub fn at_start() -> Self {
        StreamDecoder { pending: Vec::new(), at_start: true }
    }

    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> Result<String> {
        let bytes = tok.checked_bytes(id)?;
        let bytes = if std::mem::take(&mut self.at_start) { tok.strip_leading_space(bytes) } else { bytes };
        self.pending.extend_from_slice(bytes);
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
}
