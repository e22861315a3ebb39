//! tokenizer.json (+ tokenizer_config.json) loading, then encode / decode / chat template.
//! Input: tokenizer.json, optionally a 0 byte and tokenizer_config.json, optionally another 0
//! byte and the text to encode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tritium::tokenizer::{ChatMessage, Tokenizer};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == 0);
    let json = parts.next().unwrap_or_default();
    let config = parts.next();
    let text = parts.next().map(String::from_utf8_lossy).unwrap_or("Hello <|im_end|> world 12".into());
    if let Ok(tok) = Tokenizer::from_tokenizer_json(json, config) {
        if let Ok(ids) = tok.encode(&text, true) {
            let _ = tok.decode(&ids);
        }
        let _ = tok.summary();
        let _ = tok.apply_chat_template(&[ChatMessage::new("user", text.as_ref())], true);
    }
});
