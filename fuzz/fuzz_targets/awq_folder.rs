//! An AutoAWQ GEMM (or plain HF Llama) checkpoint folder: every safetensors file's header, the
//! shard index, config.json, tokenizer.json, then the conversion and the model load.
//!
//! Input: a list of files, each `u16 LE name length, name, u32 LE content length, content`
//! (lengths clamp to what is left), as `tests/native/fuzz_seeds.rs` writes the seeds.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use tritium::model::awq_folder;
use tritium::format::safetensors::SafeTensors;

fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(data.len());
    let (head, tail) = data.split_at(n);
    *data = tail;
    head
}

fn files(mut data: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    while data.len() >= 2 {
        let nl = u16::from_le_bytes(take(&mut data, 2).try_into().unwrap()) as usize;
        let name = String::from_utf8_lossy(take(&mut data, nl)).into_owned();
        let len_bytes = take(&mut data, 4);
        let mut len = [0u8; 4];
        len[..len_bytes.len()].copy_from_slice(len_bytes);
        let content = take(&mut data, u32::from_le_bytes(len) as usize).to_vec();
        out.insert(name, content);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let files = files(data);
    for (name, bytes) in &files {
        if name.ends_with(".safetensors") {
            if let Ok(st) = SafeTensors::parse(name, bytes) {
                for t in st.names().collect::<Vec<_>>() {
                    if let Some(v) = st.tensor(t) {
                        let _ = v.to_f32();
                    }
                }
            }
        }
    }
    if let Ok(model) = awq_folder::load_awq_folder(&files) {
        let _ = tritium::backend::cpu::exec::forward_logits(&model, &[0]);
    }
});
