//! `CoreQuantizer`: a quantization recipe run step by step (one layer per step).

use std::sync::Arc;

use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::{error_with_code, to_js, to_js_error, WasmModel};
use crate::error::Error;
use crate::model::Model;

/// A quantization in steps: `step()` runs one layer (then the embedding and the output) and
/// returns `{ done, total, what }`, or `null` when finished; `finish()` gives the new model.
#[wasm_bindgen(js_name = CoreQuantizer)]
pub struct WasmQuantizer {
    q: Option<crate::convert::recipe::Quantizer>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct QuantizeJsOptions {
    group: Option<usize>,
    calib_text: Option<String>,
    calib_tokens: Option<usize>,
    calib_block: Option<usize>,
}

#[derive(Serialize)]
struct QuantizeStep {
    done: usize,
    total: usize,
    what: String,
}

#[wasm_bindgen(js_class = CoreQuantizer)]
impl WasmQuantizer {
    /// `spec`: a method (`rtn4`, `awq4`, `absmean`, `ptqtp`, `q8_0`, …) or a recipe by tensor class
    /// (`attn=awq4,ffn=ptqtp,embed=q8_0,output=q8_0`). `opts`: `{ group, calibText, calibTokens,
    /// calibBlock }` (AWQ needs `calibText`).
    #[wasm_bindgen(constructor)]
    pub fn new(model: &WasmModel, spec: &str, opts: JsValue) -> Result<WasmQuantizer, JsValue> {
        use crate::convert::recipe::{QuantizeOptions, Quantizer, Recipe};
        let o: QuantizeJsOptions = if opts.is_undefined() || opts.is_null() {
            Default::default()
        } else {
            serde_wasm_bindgen::from_value(opts)
                .map_err(|e| to_js_error(Error::InvalidArgument(format!("quantize options: {e}"))))?
        };
        let mut recipe = Recipe::parse(spec).map_err(to_js_error)?;
        recipe.group = o.group;
        let mut qo = QuantizeOptions::default();
        if let Some(b) = o.calib_block {
            qo.calib_block = b;
        }
        if recipe.needs_calibration() {
            let text = o.calib_text.ok_or_else(|| {
                to_js_error(Error::InvalidArgument("awq4 needs calibration text (opts.calibText)".into()))
            })?;
            let mut ids = model.inner.tokenizer().encode(&text, false).map_err(to_js_error)?;
            ids.truncate(o.calib_tokens.unwrap_or(1024));
            qo.calib = ids;
        }
        let q = Quantizer::new(Arc::clone(&model.inner), &recipe, &qo).map_err(to_js_error)?;
        Ok(WasmQuantizer { q: Some(q) })
    }

    /// Run the next step: `{ done, total, what }`, or `null` when all steps ran.
    pub fn step(&mut self) -> Result<JsValue, JsValue> {
        let q = self.q.as_mut().ok_or_else(|| error_with_code("E_INVALID_ARGUMENT", "quantizer already finished"))?;
        match q.step().map_err(to_js_error)? {
            Some(what) => to_js(&QuantizeStep { done: q.done(), total: q.total(), what }),
            None => Ok(JsValue::NULL),
        }
    }

    /// Group size in use.
    pub fn group(&self) -> u32 {
        self.q.as_ref().map(|q| q.group() as u32).unwrap_or(0)
    }

    /// The quantized model (runs any steps left).
    pub fn finish(&mut self) -> Result<WasmModel, JsValue> {
        let q = self.q.take().ok_or_else(|| error_with_code("E_INVALID_ARGUMENT", "quantizer already finished"))?;
        let tokenizer = q.model().tokenizer().clone();
        let folder_tokenizer = q.model().gguf.get("tokenizer.ggml.model").is_none();
        let bytes = q.finish().map_err(to_js_error)?;
        // A model read from an AutoAWQ folder keeps its tokenizer.json tokenizer.
        let model = Model::from_gguf_bytes_with(bytes, folder_tokenizer.then_some(tokenizer)).map_err(to_js_error)?;
        Ok(WasmModel { inner: Arc::new(model) })
    }
}
