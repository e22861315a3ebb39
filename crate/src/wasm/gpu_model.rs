//! `CoreGpuModel`: a model's weights on the GPU, lent to one generation at a time.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use crate::backend::gpu::model::GpuModel;

/// A model's weights on the GPU.
#[wasm_bindgen(js_name = CoreGpuModel)]
pub struct WasmGpuModel {
    pub(super) slot: Rc<RefCell<Option<GpuModel>>>,
}

#[wasm_bindgen(js_class = CoreGpuModel)]
impl WasmGpuModel {
    /// Whether no generation is using it.
    #[wasm_bindgen(js_name = isIdle)]
    pub fn is_idle(&self) -> bool {
        self.slot.borrow().is_some()
    }

    /// Bytes of weights uploaded.
    #[wasm_bindgen(js_name = weightBytes)]
    pub fn weight_bytes(&self) -> f64 {
        self.slot.borrow().as_ref().map(|g| g.weight_bytes as f64).unwrap_or(0.0)
    }
}
