//! Model file formats. GGUF now; safetensors (AutoAWQ) and HF config.json come with the
//! quantization work.

pub mod gguf;
