//! The JavaScript boundary: the only `#[wasm_bindgen]` code in the crate.
//!
//! These are the low-level classes that `web/tritium.js` (the public ES-module facade) wraps:
//!
//! - [`WasmModelLoader`] (`ModelLoader` in JS) receives a model file in chunks, straight into
//!   wasm memory, so a 100 MB download is never held twice in JS and wasm at the same time.
//! - [`WasmModel`] (`CoreModel`) owns a loaded [`Model`] behind an `Arc`, so generations keep it
//!   alive even if JS frees the model first.
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
use std::rc::Rc;
use std::sync::{Arc, Once};

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::backend::gpu::model::GpuModel;
use crate::backend::gpu::{GpuContext, GpuOptions};
use crate::error::Error;
use crate::model::{GenerateOptions, Generation, Model};

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

/// A loaded model.
#[wasm_bindgen(js_name = CoreModel)]
pub struct WasmModel {
    inner: Arc<Model>,
}

impl WasmModel {
    fn from_vec(bytes: Vec<u8>) -> Result<WasmModel, JsValue> {
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
        self.inner.forward_logits(tokens).map_err(to_js_error)
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

/// The WebGPU device (`CoreGpu.create()`), shared by the models uploaded to it.
#[wasm_bindgen(js_name = CoreGpu)]
pub struct WasmGpu {
    ctx: Arc<GpuContext>,
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

/// A model's weights on the GPU.
#[wasm_bindgen(js_name = CoreGpuModel)]
pub struct WasmGpuModel {
    slot: Rc<RefCell<Option<GpuModel>>>,
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
    fn cpu(g: Generation) -> WasmGeneration {
        WasmGeneration { inner: Rc::new(RefCell::new(Some(g))), home: None }
    }

    fn on_gpu(g: Generation, gpu: &WasmGpuModel) -> Result<WasmGeneration, JsValue> {
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
