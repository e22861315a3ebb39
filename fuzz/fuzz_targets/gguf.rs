//! A GGUF file from the network: the header parser, then the whole model load (config,
//! tokenizer from metadata, tensor table checks), then one forward step and a tokenizer round
//! trip when it loads. Nothing may panic, hang or allocate beyond libFuzzer's malloc limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tritium::format::gguf::GgufFile;
use tritium::model::Model;

fuzz_target!(|data: &[u8]| {
    let _ = GgufFile::parse(data);
    if let Ok(model) = Model::from_gguf_bytes(data.to_vec()) {
        let _ = model.info();
        let tok = model.tokenizer();
        if let Ok(ids) = tok.encode("Hi <|im_start|> the", true) {
            let _ = tok.decode(&ids);
        }
        let _ = tritium::backend::cpu::exec::forward_logits(&model, &[0]);
    }
});
