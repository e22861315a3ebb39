//! Compute backends. `cpu` is the reference and the fallback; the WebGPU backend (`gpu`) comes
//! with the WebGPU engine work.

pub mod cpu;
pub mod gpu;
