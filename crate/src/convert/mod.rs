//! Quantization pipelines over a whole model: the ones that need the model graph or a backend on
//! top of the block quantizers of [`crate::quant`].
//!
//! - [`recipe`]: a method per tensor class (`attn=awq4,ffn=tq2,...`), run layer by layer into a
//!   new GGUF.
//! - [`awq_search`]: AWQ's activation-aware scale search on calibration text (CPU forward pass).

pub mod awq_search;
pub mod recipe;
