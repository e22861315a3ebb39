//! `CoreGpu`: the WebGPU device, its capabilities, uploads and kernel benchmarks.

use std::sync::Arc;

use wasm_bindgen::prelude::*;

use super::{init, to_js, to_js_error};
use crate::backend::gpu::GpuContext;
use crate::backend::gpu::GpuOptions;
use crate::error::Error;

/// The WebGPU device (`CoreGpu.create()`), shared by the models uploaded to it.
#[wasm_bindgen(js_name = CoreGpu)]
pub struct WasmGpu {
    pub(super) ctx: Arc<GpuContext>,
}

#[wasm_bindgen(js_class = CoreGpu)]
impl WasmGpu {
    /// Negotiate an adapter and a device (`forceF32`: skip shader-f16 and subgroups; `int8`: int8
    /// activations with dot4I8Packed where the browser's WGSL has it). Rejects with
    /// `E_NO_ADAPTER` when the browser has no WebGPU adapter.
    pub fn create(force_f32: bool, int8: bool) -> js_sys::Promise {
        init();
        wasm_bindgen_futures::future_to_promise(async move {
            let ctx =
                GpuContext::new(&GpuOptions { force_f32, int8, ..Default::default() }).await.map_err(to_js_error)?;
            Ok(WasmGpu { ctx }.into())
        })
    }

    /// Adapter name, backend, granted features and limits.
    pub fn capabilities(&self) -> Result<JsValue, JsValue> {
        to_js(&self.ctx.caps)
    }

    /// Whether the device was lost (every GPU step then fails with `E_GPU_LOST`; create a new
    /// `CoreGpu` to use the GPU again).
    #[wasm_bindgen(js_name = isLost)]
    pub fn is_lost(&self) -> bool {
        self.ctx.is_lost()
    }

    /// Test hook: destroy the device now (`GPUDevice.destroy()`), as a lost GPU would.
    #[wasm_bindgen(js_name = loseDevice)]
    pub fn lose_device(&self) {
        self.ctx.lose_device("loseDevice() was called");
    }

    /// Benchmark one matmul kernel on random weights of type `ty` (e.g. "Q4_1"): a Promise of
    /// `{ type, rows, cols, batch, ms, bytes, gb_per_s, timer, wall_ms, copies, tile }`: mean per
    /// dispatch over `iters` dispatches in one pass, by timestamp queries when granted (`timer`),
    /// and by wall clock from submit to completion (`wall_ms`); best of three passes.
    #[wasm_bindgen(js_name = benchMatmul)]
    pub fn bench_matmul(&self, ty: &str, rows: u32, cols: u32, batch: u32, iters: u32) -> js_sys::Promise {
        let ctx = self.ctx.clone();
        let ty_name = ty.to_string();
        wasm_bindgen_futures::future_to_promise(async move {
            let ty = crate::quant::GgmlType::from_name(&ty_name)
                .ok_or_else(|| to_js_error(Error::InvalidArgument(format!("unknown weight type '{ty_name}'"))))?;
            let (rows, cols, batch) = (rows as usize, cols as usize, batch.max(1) as usize);
            if rows == 0 || cols % ty.block_size() != 0 {
                return Err(to_js_error(Error::InvalidArgument(format!(
                    "{rows}x{cols}: columns must be a multiple of the {}-element block of {}",
                    ty.block_size(),
                    ty.name()
                ))));
            }
            let mut rng = crate::model::sampler::SplitMix64::new(1);
            let w: Vec<f32> = (0..rows * cols).map(|_| rng.next_f64() as f32 - 0.5).collect();
            let data = crate::quant::quantize(ty, &w).map_err(to_js_error)?;
            let m = crate::quant::QMatrix { ty, rows, cols, data: &data };
            let t = crate::backend::gpu::model::time_matmul(&ctx, &m, batch, iters as usize, None)
                .await
                .map_err(to_js_error)?;
            to_js(&serde_json::json!({"type": ty.name(), "rows": rows, "cols": cols, "batch": batch,
                "ms": t.ms, "bytes": t.bytes, "gb_per_s": t.bytes as f64 / (t.ms / 1000.0) / 1e9,
                "timer": t.timer, "wall_ms": t.wall_ms, "copies": t.copies, "tile": t.tile}))
        })
    }

    /// Run one matmul kernel on given weights: `y = W · x` for `n` tokens, where `data` holds a
    /// `rows × cols` matrix of type `ty` in tritium's block layout (e.g. "AWQ4_G128": per row,
    /// blocks of g/2 code bytes, f16 scale, f16 zero) and `x` is `[n, cols]`. A Promise of the
    /// `[n, rows]` output (Float32Array). For cross-checks against other engines (bench:peers).
    #[wasm_bindgen(js_name = runMatmul)]
    pub fn run_matmul(&self, ty: &str, data: Vec<u8>, rows: u32, cols: u32, x: Vec<f32>, n: u32) -> js_sys::Promise {
        let ctx = self.ctx.clone();
        let ty_name = ty.to_string();
        wasm_bindgen_futures::future_to_promise(async move {
            let ty = crate::quant::GgmlType::from_name(&ty_name)
                .ok_or_else(|| to_js_error(Error::InvalidArgument(format!("unknown weight type '{ty_name}'"))))?;
            let (rows, cols, n) = (rows as usize, cols as usize, n.max(1) as usize);
            if rows == 0 || cols % ty.block_size() != 0 || data.len() != ty.bytes_for(rows * cols) {
                return Err(to_js_error(Error::InvalidArgument(format!(
                    "runMatmul: {rows}x{cols} {} needs columns a multiple of {} and {} bytes of weights, got {}",
                    ty.name(),
                    ty.block_size(),
                    ty.bytes_for(rows * cols),
                    data.len()
                ))));
            }
            if x.len() != n * cols {
                return Err(to_js_error(Error::InvalidArgument(format!(
                    "runMatmul: input has {} values, expected {n} tokens × {cols} columns",
                    x.len()
                ))));
            }
            let m = crate::quant::QMatrix { ty, rows, cols, data: &data };
            let tiles = ctx.tiles_for(ty);
            let y =
                crate::backend::gpu::model::matmul_once(&ctx, &m, &x, n, f32::NAN, tiles).await.map_err(to_js_error)?;
            Ok(js_sys::Float32Array::from(&y[..]).into())
        })
    }
}
