//! `FolderLoader`: an AutoAWQ / HF checkpoint folder received file by file, then loaded.

use std::sync::Arc;

use wasm_bindgen::prelude::*;

use super::{init, to_js_error, WasmModel};

/// The files of an AutoAWQ (or plain HF safetensors) checkpoint folder, added one by one by
/// name (config.json, model.safetensors or the index json and its shards, tokenizer.json,
/// tokenizer_config.json), then converted into a model.
#[wasm_bindgen(js_name = FolderLoader)]
pub struct WasmFolderLoader {
    files: std::collections::BTreeMap<String, Vec<u8>>,
}

#[wasm_bindgen(js_class = FolderLoader)]
impl WasmFolderLoader {
    #[wasm_bindgen(constructor)]
    pub fn new() -> WasmFolderLoader {
        init();
        WasmFolderLoader { files: Default::default() }
    }

    /// Add one file (its base name, e.g. `model-00001-of-00002.safetensors`).
    #[wasm_bindgen(js_name = addFile)]
    pub fn add_file(&mut self, name: &str, bytes: Vec<u8>) {
        let base = name.rsplit('/').next().unwrap_or(name).to_string();
        self.files.insert(base, bytes);
    }

    /// Names of the files added so far.
    pub fn names(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }

    /// Convert the folder into a model (errors name the missing or malformed file or tensor).
    pub fn finish(self) -> Result<WasmModel, JsValue> {
        let model = crate::model::awq_folder::load_awq_folder(&self.files).map_err(to_js_error)?;
        Ok(WasmModel { inner: Arc::new(model) })
    }
}

impl Default for WasmFolderLoader {
    fn default() -> Self {
        Self::new()
    }
}
