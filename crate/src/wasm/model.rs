//! `CoreModel`: a loaded model (info, tokenizer, generation, scoring, spectra, saving).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use wasm_bindgen::prelude::*;

use super::{init, parse_options, to_js, to_js_error, WasmGeneration, WasmGpu, WasmGpuModel};
use crate::backend::gpu::model::GpuModel;
use crate::error::Error;
use crate::model::Model;
use crate::session::Generation;

/// A loaded model.
#[wasm_bindgen(js_name = CoreModel)]
pub struct WasmModel {
    pub(super) inner: Arc<Model>,
}

impl WasmModel {
    pub(super) fn from_vec(bytes: Vec<u8>) -> Result<WasmModel, JsValue> {
        init();
        let model = Model::from_gguf_bytes(bytes).map_err(to_js_error)?;
        Ok(WasmModel { inner: Arc::new(model) })
    }

    /// The Rust model (for tests and other Rust code in the same module).
    pub fn model(&self) -> &Arc<Model> {
        &self.inner
    }
}

#[wasm_bindgen(js_class = CoreModel)]
impl WasmModel {
    /// Load a GGUF model from its bytes (copied into wasm memory once).
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: Vec<u8>) -> Result<WasmModel, JsValue> {
        Self::from_vec(bytes)
    }

    /// Architecture, hyperparameters, tensor table, tokenizer summary, metadata (a plain object;
    /// Rust field names, snake_case).
    pub fn info(&self) -> Result<JsValue, JsValue> {
        to_js(&self.inner.info())
    }

    /// The model as GGUF bytes (for a quantized model: tritium's AWQ / trit-plane naming).
    #[wasm_bindgen(js_name = toGguf)]
    pub fn to_gguf(&self) -> Result<Vec<u8>, JsValue> {
        crate::model::save::to_gguf(&self.inner, &Default::default()).map_err(to_js_error)
    }

    /// The model as an AutoAWQ folder: `[[name, Uint8Array], ...]` (every decoder linear must be
    /// AWQ int4).
    #[wasm_bindgen(js_name = toAutoAwq)]
    pub fn to_auto_awq(&self) -> Result<js_sys::Array, JsValue> {
        let files = crate::model::awq_folder::model_to_awq_folder(&self.inner, None).map_err(to_js_error)?;
        let out = js_sys::Array::new();
        for (name, bytes) in files {
            let pair = js_sys::Array::new();
            pair.push(&JsValue::from_str(&name));
            pair.push(&js_sys::Uint8Array::from(bytes.as_slice()));
            out.push(&pair);
        }
        Ok(out)
    }

    /// Token ids of `text`; `addSpecial` adds BOS/EOS as the model's metadata says.
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>, JsValue> {
        self.inner.tokenizer().encode(text, add_special).map_err(to_js_error)
    }

    /// Text of token ids.
    pub fn decode(&self, ids: &[u32]) -> Result<String, JsValue> {
        self.inner.tokenizer().decode(ids).map_err(to_js_error)
    }

    /// Logits of the last position after a fresh prefill of `tokens`.
    #[wasm_bindgen(js_name = forwardLogits)]
    pub fn forward_logits(&self, tokens: &[u32]) -> Result<Vec<f32>, JsValue> {
        crate::backend::cpu::exec::forward_logits(&self.inner, tokens).map_err(to_js_error)
    }

    /// Weight spectra (ESD, power-law fit, MP edge; FARMS on request) of the linear weights.
    /// `opts`: `{ farms, layers, kinds, bins, keep_evals, ... }` (snake_case, all optional). The
    /// facade calls it one layer at a time so it can report progress and keep the page live.
    pub fn spectra(&self, opts: JsValue) -> Result<JsValue, JsValue> {
        let o: crate::analysis::SpectraOptions = if opts.is_undefined() || opts.is_null() {
            Default::default()
        } else {
            serde_wasm_bindgen::from_value(opts)
                .map_err(|e| to_js_error(Error::InvalidArgument(format!("spectra options: {e}"))))?
        };
        let r = crate::analysis::model_spectra(&self.inner, &o, &mut |_, _| {}).map_err(to_js_error)?;
        to_js(&r)
    }

    /// The linear weights of one layer, dequantized to row-major f32 (what the facade hands to its
    /// spectra Web Workers): an array of `{ name, layer, kind, rows, cols, data: Float32Array }` in
    /// the order q, k, v, o, gate, up, down (or `kinds`, an array of those names).
    #[wasm_bindgen(js_name = layerLinears)]
    pub fn layer_linears(&self, layer: u32, kinds: JsValue) -> Result<js_sys::Array, JsValue> {
        let kinds: Option<Vec<crate::analysis::MatrixKind>> = if kinds.is_undefined() || kinds.is_null() {
            None
        } else {
            Some(
                serde_wasm_bindgen::from_value(kinds)
                    .map_err(|e| to_js_error(Error::InvalidArgument(format!("layerLinears kinds: {e}"))))?,
            )
        };
        let opts = crate::analysis::SpectraOptions { layers: Some(vec![layer as usize]), kinds, ..Default::default() };
        let out = js_sys::Array::new();
        for (l, k, w) in crate::analysis::model_matrices(&self.inner, &opts).map_err(to_js_error)? {
            let data = crate::analysis::dequantize_weight(&self.inner, w).map_err(to_js_error)?;
            let o = js_sys::Object::new();
            let set = |key: &str, v: JsValue| js_sys::Reflect::set(&o, &JsValue::from_str(key), &v).map(|_| ());
            set("name", JsValue::from_str(&w.name))?;
            set("layer", JsValue::from_f64(l as f64))?;
            set("kind", JsValue::from_str(k.name()))?;
            set("rows", JsValue::from_f64(w.rows as f64))?;
            set("cols", JsValue::from_f64(w.cols as f64))?;
            set("data", js_sys::Float32Array::from(&data[..]).into())?;
            out.push(&o);
        }
        Ok(out)
    }

    /// Start generating from a prompt string. `opts`: `{ maxTokens, temperature, topK, topP,
    /// seed, chat, system }` (all optional).
    pub fn generate(&self, prompt: &str, opts: JsValue) -> Result<WasmGeneration, JsValue> {
        let opts = parse_options(opts)?;
        let inner = Generation::new(Arc::clone(&self.inner), prompt, &opts).map_err(to_js_error)?;
        Ok(WasmGeneration::cpu(inner))
    }

    /// Start generating on the GPU model `gpu` (uploaded from this model with `uploadGpu`). The
    /// generation borrows the GPU model until it finishes or is released; drive it with
    /// `stepAsync()`.
    #[wasm_bindgen(js_name = generateGpu)]
    pub fn generate_gpu(&self, gpu: &WasmGpuModel, prompt: &str, opts: JsValue) -> Result<WasmGeneration, JsValue> {
        let opts = parse_options(opts)?;
        let g = Generation::new(Arc::clone(&self.inner), prompt, &opts).map_err(to_js_error)?;
        WasmGeneration::on_gpu(g, gpu)
    }

    /// `generateGpu` from prompt token ids (no tokenization, no chat template).
    #[wasm_bindgen(js_name = generateGpuFromIds)]
    pub fn generate_gpu_from_ids(
        &self,
        gpu: &WasmGpuModel,
        ids: Vec<u32>,
        opts: JsValue,
    ) -> Result<WasmGeneration, JsValue> {
        let opts = parse_options(opts)?;
        let g = Generation::from_ids(Arc::clone(&self.inner), ids, &opts).map_err(to_js_error)?;
        WasmGeneration::on_gpu(g, gpu)
    }

    /// Upload the weights to the GPU for sequences of up to `maxCtx` positions.
    #[wasm_bindgen(js_name = uploadGpu)]
    pub fn upload_gpu(&self, gpu: &WasmGpu, max_ctx: u32) -> js_sys::Promise {
        let ctx = gpu.ctx.clone();
        let model = Arc::clone(&self.inner);
        wasm_bindgen_futures::future_to_promise(async move {
            let gm = GpuModel::upload(ctx, &model, max_ctx as usize).await.map_err(to_js_error)?;
            Ok(WasmGpuModel { slot: Rc::new(RefCell::new(Some(gm))) }.into())
        })
    }

    /// Start generating from prompt token ids (no tokenization, no chat template).
    #[wasm_bindgen(js_name = generateFromIds)]
    pub fn generate_from_ids(&self, ids: Vec<u32>, opts: JsValue) -> Result<WasmGeneration, JsValue> {
        let opts = parse_options(opts)?;
        let inner = Generation::from_ids(Arc::clone(&self.inner), ids, &opts).map_err(to_js_error)?;
        Ok(WasmGeneration::cpu(inner))
    }
}
