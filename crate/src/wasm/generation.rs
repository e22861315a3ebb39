//! `CoreGeneration`: a generation in progress, stepped from JS on the CPU or the GPU.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::{error_with_code, to_js, to_js_error, WasmGpuModel};
use crate::backend::gpu::model::GpuModel;
use crate::session::Generation;

/// One generation in progress: call `step()` (CPU) or `await stepAsync()` (either backend) until
/// it returns `undefined`.
#[wasm_bindgen(js_name = CoreGeneration)]
pub struct WasmGeneration {
    /// Taken out while a `stepAsync` is in flight, so no borrow is held across an await.
    inner: Rc<RefCell<Option<Generation>>>,
    /// Where a GPU generation returns its GPU model when it ends.
    home: Option<Rc<RefCell<Option<GpuModel>>>>,
}

impl WasmGeneration {
    pub(super) fn cpu(g: Generation) -> WasmGeneration {
        WasmGeneration { inner: Rc::new(RefCell::new(Some(g))), home: None }
    }

    pub(super) fn on_gpu(g: Generation, gpu: &WasmGpuModel) -> Result<WasmGeneration, JsValue> {
        let gm = gpu.slot.borrow_mut().take().ok_or_else(|| {
            error_with_code("E_BUSY", "the GPU model is in use by another generation: wait for it or stop it")
        })?;
        Ok(WasmGeneration { inner: Rc::new(RefCell::new(Some(g.with_gpu(gm)))), home: Some(gpu.slot.clone()) })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Generation) -> T) -> Result<T, JsValue> {
        let mut b = self.inner.borrow_mut();
        let g = b.as_mut().ok_or_else(|| error_with_code("E_BUSY", "a step of this generation is still running"))?;
        Ok(f(g))
    }
}

/// Move a generation's GPU model back to its home slot (ending the generation).
fn give_back(gen: &mut Generation, home: &Option<Rc<RefCell<Option<GpuModel>>>>) {
    if let (Some(h), Some(gm)) = (home, gen.take_gpu()) {
        *h.borrow_mut() = Some(gm);
    }
}

#[wasm_bindgen(js_class = CoreGeneration)]
impl WasmGeneration {
    /// Generate one token (CPU backend): its text piece (may be `""` while a character is
    /// incomplete), or `undefined` when finished.
    pub fn step(&mut self) -> Result<Option<String>, JsValue> {
        self.with(|g| g.step())?.map_err(to_js_error)
    }

    /// Generate one token on either backend: a Promise of the text piece or `undefined`.
    #[wasm_bindgen(js_name = stepAsync)]
    pub fn step_async(&self) -> js_sys::Promise {
        let cell = self.inner.clone();
        let home = self.home.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut g = cell
                .borrow_mut()
                .take()
                .ok_or_else(|| error_with_code("E_BUSY", "a step of this generation is still running"))?;
            let r = g.step_async().await;
            if r.is_err() || g.is_finished() {
                // Finished or failed: hand the GPU model back for the next generation.
                give_back(&mut g, &home);
            }
            *cell.borrow_mut() = Some(g);
            match r {
                Ok(Some(s)) => Ok(JsValue::from_str(&s)),
                Ok(None) => Ok(JsValue::UNDEFINED),
                Err(e) => Err(to_js_error(e)),
            }
        })
    }

    /// End the generation now and return its GPU model (if any) for the next one.
    pub fn release(&self) -> Result<(), JsValue> {
        let home = self.home.clone();
        self.with(|g| give_back(g, &home))
    }

    /// `"cpu"` or `"webgpu"`.
    pub fn backend(&self) -> Result<String, JsValue> {
        self.with(|g| g.backend_name().to_string())
    }

    /// `{ prompt_tokens, generated_tokens, prefill_ms, decode_ms, prefill_tokens_per_s,
    /// tokens_per_s, kv_bytes }`.
    pub fn stats(&self) -> Result<JsValue, JsValue> {
        to_js(&self.with(|g| g.stats())?)
    }

    #[wasm_bindgen(js_name = promptTokenIds)]
    pub fn prompt_token_ids(&self) -> Result<Vec<u32>, JsValue> {
        self.with(|g| g.prompt_token_ids().to_vec())
    }

    /// Generated ids so far (including a final end-of-generation token, if one was produced).
    #[wasm_bindgen(js_name = tokenIds)]
    pub fn token_ids(&self) -> Result<Vec<u32>, JsValue> {
        self.with(|g| g.token_ids().to_vec())
    }

    #[wasm_bindgen(js_name = isFinished)]
    pub fn is_finished(&self) -> Result<bool, JsValue> {
        self.with(|g| g.is_finished())
    }

    /// The Mixture-of-Depths prefill's report once the prompt is in (`null` without `mod`
    /// options or before the first step): `{ spec, router, prompt_tokens, span, mean_ratio,
    /// retention: [{ layer, mod_layer, ratio, target_tokens, kept_target, kept_tokens, kept_mask,
    /// kv_bytes, kv_bytes_dense, flops, flops_dense }], kv_bytes, kv_bytes_dense, flops,
    /// flops_dense, target_kv_ratio, target_flops_ratio, prefill_ms }`.
    pub fn retention(&self) -> Result<JsValue, JsValue> {
        match self.with(|g| g.mod_report().cloned())? {
            Some(r) => to_js(&r),
            None => Ok(JsValue::NULL),
        }
    }
}
