//! `ModelLoader`: a model file received chunk by chunk straight into wasm memory.

use wasm_bindgen::prelude::*;

use super::{init, to_js_error, WasmModel};
use crate::error::Error;

/// Receives a model file chunk by chunk directly into wasm memory.
#[wasm_bindgen(js_name = ModelLoader)]
pub struct WasmModelLoader {
    buf: Vec<u8>,
}

#[wasm_bindgen(js_class = ModelLoader)]
impl WasmModelLoader {
    /// `expectedBytes` (e.g. Content-Length) pre-reserves memory when given.
    #[wasm_bindgen(constructor)]
    pub fn new(expected_bytes: Option<f64>) -> Result<WasmModelLoader, JsValue> {
        init();
        let mut buf = Vec::new();
        if let Some(n) = expected_bytes {
            if n.is_finite() && n > 0.0 {
                reserve(&mut buf, n as u64)?;
            }
        }
        Ok(WasmModelLoader { buf })
    }

    /// Append a chunk of the file.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsValue> {
        let need = self.buf.len() as u64 + chunk.len() as u64;
        if need > self.buf.capacity() as u64 {
            // Grow geometrically, but report failure instead of aborting on out-of-memory.
            let want = need.max(self.buf.capacity() as u64 * 3 / 2);
            if reserve(&mut self.buf, want).is_err() {
                reserve(&mut self.buf, need)?;
            }
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// Bytes received so far.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> f64 {
        self.buf.len() as f64
    }

    /// Parse the received bytes as a model. Consumes the loader.
    pub fn finish(self) -> Result<WasmModel, JsValue> {
        WasmModel::from_vec(self.buf)
    }
}

/// Reserve so that `buf.capacity() >= total`, as an error (not an abort) when memory runs out.
fn reserve(buf: &mut Vec<u8>, total: u64) -> Result<(), JsValue> {
    let max = crate::format::limits::Limits::DEFAULT.max_model_bytes;
    if total > max {
        return Err(to_js_error(Error::Limit {
            what: "model size in bytes (the file is held in wasm32 memory)".into(),
            value: total,
            limit: max,
        }));
    }
    let total_usize = usize::try_from(total).map_err(|_| {
        to_js_error(Error::Limit { what: "model size in bytes".into(), value: total, limit: usize::MAX as u64 })
    })?;
    let additional = total_usize.saturating_sub(buf.len());
    buf.try_reserve_exact(additional).map_err(|_| {
        to_js_error(Error::Limit {
            what: "model size in bytes (wasm32 memory could not grow that far)".into(),
            value: total,
            limit: buf.capacity() as u64,
        })
    })
}
