//! tritium: quantized language models for the browser (WebAssembly + WebGPU) and natively.
//!
//! Data flow: bytes → [`format`] (GGUF header + tensor table, tensors are views) →
//! [`model::Model`] (config + typed quantized tensors) → [`backend`] (CPU reference now, GPU later)
//! → tokens out. The tokenizer ([`tokenizer`]) is built from GGUF metadata or a tokenizer.json.

pub mod analysis;
pub mod backend;
pub mod clock;
pub mod convert;
pub mod error;
pub mod eval;
pub mod format;
pub mod model;
pub mod par;
pub mod pmod;
pub mod quant;
pub mod session;
pub mod tokenizer;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::{Error, Result};
