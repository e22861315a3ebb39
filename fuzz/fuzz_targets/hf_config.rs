//! config.json (and a legacy quant_config.json) of an HF / AutoAWQ checkpoint. The input is the
//! config, optionally followed by a 0 byte and the quant config.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tritium::format::hf::HfConfig;

fuzz_target!(|data: &[u8]| {
    let (config, quant) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    if let Ok(c) = HfConfig::from_json(config, quant) {
        let _ = c.gguf_metadata();
        let _ = c.to_json();
    }
});
