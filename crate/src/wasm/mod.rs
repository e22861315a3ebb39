//! The JavaScript boundary: the only `#[wasm_bindgen]` code in the crate.
//!
//! These are the low-level classes that `web/tritium.js` (the public ES-module facade) wraps:
//!
//! - [`WasmModelLoader`] (`ModelLoader` in JS) receives a model file in chunks, straight into
//!   wasm memory, so a 100 MB download is never held twice in JS and wasm at the same time.
//! - [`WasmModel`] (`CoreModel`) owns a loaded [`Model`](crate::model::Model) behind an `Arc`,
//!   so generations keep it alive even if JS frees the model first.
//! - [`WasmGeneration`] (`CoreGeneration`) is a synchronous token stepper. The facade drives it
//!   from an async iterator and yields to the event loop between tokens; nothing here awaits, so
//!   no `&mut self` is ever held across an `.await`, and a later Worker can drive the same class.
//!
//! Errors: every fallible export returns `Result<_, JsValue>` whose error is a JS `Error` with
//! `name = "TritiumError"`, `message` = the [`Error`]'s Display text and `code` =
//! [`Error::code`] (e.g. `"E_BAD_MAGIC"`). A panic (a bug) is logged by
//! `console_error_panic_hook`; its message is also kept for [`last_panic_message`] so the facade
//! can turn the resulting `RuntimeError: unreachable` into an `E_PANIC` error with the reason.

use std::cell::RefCell;
use std::sync::Once;

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::error::Error;
use crate::session::GenerateOptions;

mod folder_loader;
mod generation;
mod gpu;
mod gpu_model;
mod model;
mod model_loader;
mod quantizer;

pub use folder_loader::WasmFolderLoader;
pub use generation::WasmGeneration;
pub use gpu::WasmGpu;
pub use gpu_model::WasmGpuModel;
pub use model::WasmModel;
pub use model_loader::WasmModelLoader;
pub use quantizer::WasmQuantizer;

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Install the panic hook (console_error_panic_hook plus remembering the message). Runs once;
/// every constructor calls it, so no explicit init call is needed from JS.
fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
            console_error_panic_hook::hook(info);
        }));
    });
}

/// Convert a core error into a JS `Error` with a `code` property.
pub fn to_js_error(e: Error) -> JsValue {
    error_with_code(e.code(), &e.to_string())
}

fn error_with_code(code: &str, message: &str) -> JsValue {
    let err = js_sys::Error::new(message);
    err.set_name("TritiumError");
    // Reflect::set only fails on frozen/proxied objects; a fresh Error is neither.
    let _ = js_sys::Reflect::set(&err, &JsValue::from_str("code"), &JsValue::from_str(code));
    err.into()
}

fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    let ser = serde_wasm_bindgen::Serializer::json_compatible();
    value
        .serialize(&ser)
        .map_err(|e| to_js_error(Error::InvalidArgument(format!("cannot convert a result to JS: {e}"))))
}

fn parse_options(opts: JsValue) -> Result<GenerateOptions, JsValue> {
    if opts.is_undefined() || opts.is_null() {
        return Ok(GenerateOptions::default());
    }
    serde_wasm_bindgen::from_value::<GenerateOptions>(opts)
        .map_err(|e| to_js_error(Error::InvalidArgument(format!("generate options: {e}"))))
}

/// The spectrum of one row-major `rows × cols` f32 matrix (what a spectra Web Worker runs):
/// the same record as one entry of `CoreModel.spectra`. `kind`: q, k, v, o, gate, up, down;
/// `opts` as for `CoreModel.spectra` (its `layers`/`kinds` are ignored).
#[wasm_bindgen(js_name = matrixSpectrum)]
pub fn matrix_spectrum(
    name: &str,
    layer: u32,
    kind: &str,
    data: &[f32],
    rows: u32,
    cols: u32,
    opts: JsValue,
) -> Result<JsValue, JsValue> {
    init();
    let o: crate::analysis::SpectraOptions = if opts.is_undefined() || opts.is_null() {
        Default::default()
    } else {
        serde_wasm_bindgen::from_value(opts)
            .map_err(|e| to_js_error(Error::InvalidArgument(format!("spectra options: {e}"))))?
    };
    let kind = crate::analysis::MatrixKind::from_name(kind).map_err(to_js_error)?;
    let t0 = crate::clock::now_ms();
    let mut r = crate::analysis::matrix_spectrum(name, layer as usize, kind, data, rows as usize, cols as usize, &o)
        .map_err(to_js_error)?;
    r.seconds = (crate::clock::now_ms() - t0) / 1000.0;
    to_js(&r)
}

/// The crate version (Cargo.toml).
#[wasm_bindgen]
pub fn version() -> String {
    init();
    env!("CARGO_PKG_VERSION").to_string()
}

/// What this build can do: `{ version, backends: ["cpu", "webgpu"], simd128, threads }`.
#[wasm_bindgen(js_name = buildInfo)]
pub fn build_info() -> Result<JsValue, JsValue> {
    init();
    #[derive(Serialize)]
    struct BuildInfo {
        version: &'static str,
        backends: &'static [&'static str],
        simd128: bool,
        threads: bool,
    }
    to_js(&BuildInfo {
        version: env!("CARGO_PKG_VERSION"),
        backends: &["cpu", "webgpu"],
        simd128: cfg!(target_feature = "simd128"),
        threads: cfg!(target_feature = "atomics"),
    })
}

/// The message of the last Rust panic, if any (the wasm instance should be considered unusable
/// after one).
#[wasm_bindgen(js_name = lastPanicMessage)]
pub fn last_panic_message() -> Option<String> {
    LAST_PANIC.with(|p| p.borrow().clone())
}

/// A tiny random Llama-family GGUF (2 layers, byte-level vocabulary), deterministic per seed.
/// For tests and smoke checks without downloading a real model.
#[wasm_bindgen(js_name = syntheticTinyModel)]
pub fn synthetic_tiny_model(seed: u32) -> Vec<u8> {
    init();
    crate::model::synthetic::tiny_llama_gguf(u64::from(seed))
}
