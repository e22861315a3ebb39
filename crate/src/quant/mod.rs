//! Block formats that tritium reads and writes, with reference (de)quantizers.
//!
//! Layouts follow ggml (`ggml-common.h`, `ggml-quants.c`) for its types; tritium's own row-block
//! formats (AWQ4_G*, TP*_G*) are described on [`GgmlType`]. Every dequantizer here is the plain
//! reference that the fast CPU kernels and the GPU kernels are tested against; tests compare them
//! with the Python `gguf` package's `gguf.quants.dequantize`.
//!
//! - [`types`]: the element types, their block geometry and names.
//! - [`dequant`] / [`quantize`](mod@quantize): the reference (de)quantizers of every format.
//! - [`kquants`]: ggml's 5-bit, k-quant and IQ4 blocks unpacked into codes and f32 factors.
//! - [`kquantize`]: ggml's reference Q4_K / Q6_K quantizers.
//! - [`i2s`]: bitnet.cpp's I2_S ternary tensors, repacked into TQ2_0 blocks.
//! - [`layout`]: packing of the AWQ4 and trit-plane row blocks.
//! - [`matrix`]: [`QMatrix`], a quantized weight matrix viewing its bytes.
//! - [`mxint8`]: the int8 activation blocks of the int8 products.
//! - [`awq`], [`ternary`]: the int4 (AWQ / RTN) and ternary quantizers of whole matrices.

pub mod awq;
pub mod dequant;
pub mod i2s;
pub mod kquantize;
pub mod kquants;
pub mod layout;
pub mod matrix;
pub mod mxint8;
pub mod quantize;
pub mod ternary;
pub mod types;

pub use dequant::{dequantize, dequantize_vec, first_nonfinite, tq1_digits};
pub use layout::{decode_awq4, decode_trit_planes, encode_awq4, encode_trit_planes};
pub use matrix::QMatrix;
pub use mxint8::{i8_block_scale, quantize_i8};
pub use quantize::quantize;
pub use types::{
    ggml_type_name, GgmlType, ALL_TYPES, INTERNAL_TYPES, KQUANT_TYPES, MATMUL_TYPES, QK4_0, QK4_1, QK8_0, QK_K,
};
