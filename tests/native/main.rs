//! Native tests: parsers, dequantizers and the CPU reference forward against independent
//! references (Python `gguf`, numpy), the CLI, and bad input.

mod awq_folder;
mod cli;
mod common;
mod dequant;
mod families;
mod forward;
mod fuzz_seeds;
mod gguf;
mod gpu;
mod kernels;
mod malformed;
mod malformed_kquant;
mod pmod;
mod quant;
mod quantize;
mod spectra;
mod tokenizer;
mod tokenizer_families;
