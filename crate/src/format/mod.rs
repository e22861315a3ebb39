//! Model file formats: GGUF; safetensors and HF config.json; AutoAWQ GEMM checkpoint folders
//! (converted to tritium's GGUF naming on load).

pub mod awq;
pub mod gguf;
pub mod hf;
pub mod limits;
pub mod safetensors;
