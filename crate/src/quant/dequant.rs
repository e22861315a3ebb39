//! Reference dequantizers: ggml's `dequantize_row_*` for every block format (the 5-bit, k-quant
//! and IQ4 blocks in [`super::kquants`]), and the check for
//! non-finite scales that loaders run.

use half::{bf16, f16};

use super::{GgmlType, QK4_0, QK4_1, QK8_0, QK_K};
use crate::error::{Error, Result};

/// The first value of a ggml tensor's data that is not finite: a block scale (`d`, and `m` of
/// Q4_1 / Q5_1, `dmin` of the k-quants) of a quantized type, or an element of F32 / F16 / BF16. Returns `(block index, byte
/// offset in data, value)`. Negative scales are valid (the sign is part of the value, as in
/// ggml); NaN and ±inf would turn every product they touch into NaN, so loaders reject them.
pub fn first_nonfinite(ty: GgmlType, data: &[u8]) -> Option<(usize, usize, f32)> {
    let bb = ty.block_bytes();
    let offsets: &[usize] = match ty {
        GgmlType::Q8_0 | GgmlType::Q4_0 => &[0],
        GgmlType::Q4_1 => &[0, 2],
        GgmlType::TQ2_0 => &[64],
        GgmlType::TQ1_0 => &[52],
        GgmlType::F16 | GgmlType::BF16 | GgmlType::F32 => &[0],
        t if super::kquants::shape(t).is_some() => super::kquants::scale_offsets(t),
        _ => return None,
    };
    for (b, block) in data.chunks_exact(bb).enumerate() {
        for &o in offsets {
            let v = match ty {
                GgmlType::F32 => f32::from_le_bytes([block[0], block[1], block[2], block[3]]),
                GgmlType::BF16 => half::bf16::from_le_bytes([block[o], block[o + 1]]).to_f32(),
                _ => f16_at(block, o),
            };
            if !v.is_finite() {
                return Some((b, b * bb + o, v));
            }
        }
    }
    None
}

#[inline]
fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

fn check_len(ty: GgmlType, data: &[u8], out: &[f32]) -> Result<()> {
    if out.len() % ty.block_size() != 0 || data.len() != ty.bytes_for(out.len()) {
        return Err(Error::InvalidArgument(format!(
            "dequantize {}: {} bytes cannot hold {} elements ({} bytes per {} elements)",
            ty.name(),
            data.len(),
            out.len(),
            ty.block_bytes(),
            ty.block_size()
        )));
    }
    Ok(())
}

/// Dequantize `data` (encoded as `ty`) into `out`; `out.len()` is the element count.
pub fn dequantize(ty: GgmlType, data: &[u8], out: &mut [f32]) -> Result<()> {
    check_len(ty, data, out)?;
    match ty {
        GgmlType::F32 => {
            for (o, c) in out.iter_mut().zip(data.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        GgmlType::F16 => {
            for (o, c) in out.iter_mut().zip(data.chunks_exact(2)) {
                *o = f16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        GgmlType::BF16 => {
            for (o, c) in out.iter_mut().zip(data.chunks_exact(2)) {
                *o = bf16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        GgmlType::Q8_0 => {
            for (o, b) in out.chunks_exact_mut(QK8_0).zip(data.chunks_exact(ty.block_bytes())) {
                let d = f16_at(b, 0);
                for (j, v) in o.iter_mut().enumerate() {
                    *v = (b[2 + j] as i8) as f32 * d;
                }
            }
        }
        GgmlType::Q4_0 => {
            for (o, b) in out.chunks_exact_mut(QK4_0).zip(data.chunks_exact(ty.block_bytes())) {
                let d = f16_at(b, 0);
                for j in 0..16 {
                    let q = b[2 + j];
                    o[j] = ((q & 0x0f) as i32 - 8) as f32 * d;
                    o[j + 16] = ((q >> 4) as i32 - 8) as f32 * d;
                }
            }
        }
        GgmlType::Q4_1 => {
            for (o, b) in out.chunks_exact_mut(QK4_1).zip(data.chunks_exact(ty.block_bytes())) {
                let d = f16_at(b, 0);
                let m = f16_at(b, 2);
                for j in 0..16 {
                    let q = b[4 + j];
                    o[j] = (q & 0x0f) as f32 * d + m;
                    o[j + 16] = (q >> 4) as f32 * d + m;
                }
            }
        }
        GgmlType::TQ2_0 => {
            for (o, b) in out.chunks_exact_mut(QK_K).zip(data.chunks_exact(ty.block_bytes())) {
                let d = f16_at(b, 64);
                for h in 0..2 {
                    for l in 0..4 {
                        for m in 0..32 {
                            let q = (b[32 * h + m] >> (2 * l)) & 3;
                            o[128 * h + 32 * l + m] = (q as i32 - 1) as f32 * d;
                        }
                    }
                }
            }
        }
        GgmlType::TQ1_0 => {
            for (o, b) in out.chunks_exact_mut(QK_K).zip(data.chunks_exact(ty.block_bytes())) {
                let d = f16_at(b, 52);
                let mut digits = [0i8; QK_K];
                tq1_digits(b, &mut digits);
                for (v, &t) in o.iter_mut().zip(digits.iter()) {
                    *v = t as f32 * d;
                }
            }
        }
        GgmlType::Q5_0
        | GgmlType::Q5_1
        | GgmlType::Q2_K
        | GgmlType::Q3_K
        | GgmlType::Q4_K
        | GgmlType::Q5_K
        | GgmlType::Q6_K
        | GgmlType::IQ4_NL
        | GgmlType::IQ4_XS => super::kquants::dequantize(ty, data, out),
        GgmlType::I8 => {
            for (o, &b) in out.iter_mut().zip(data) {
                *o = b as i8 as f32;
            }
        }
        GgmlType::I2_S => {
            return Err(Error::InvalidArgument(
                "I2_S carries one scale per tensor; it is repacked whole (quant::i2s), not by rows".into(),
            ))
        }
        GgmlType::I32 => {
            for (o, c) in out.iter_mut().zip(data.chunks_exact(4)) {
                *o = i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32;
            }
        }
        GgmlType::AWQ4_G32 | GgmlType::AWQ4_G64 | GgmlType::AWQ4_G128 => {
            let g = ty.block_size();
            for (o, b) in out.chunks_exact_mut(g).zip(data.chunks_exact(ty.block_bytes())) {
                let s = f16_at(b, g / 2);
                let z = f16_at(b, g / 2 + 2);
                for j in 0..g / 2 {
                    o[2 * j] = ((b[j] & 0x0f) as f32 - z) * s;
                    o[2 * j + 1] = ((b[j] >> 4) as f32 - z) * s;
                }
            }
        }
        GgmlType::TP1_G32
        | GgmlType::TP1_G64
        | GgmlType::TP1_G128
        | GgmlType::TP2_G32
        | GgmlType::TP2_G64
        | GgmlType::TP2_G128 => {
            let (g, planes) = (ty.block_size(), ty.planes());
            let pb = g / 4;
            for (o, b) in out.chunks_exact_mut(g).zip(data.chunks_exact(ty.block_bytes())) {
                let alpha = [f16_at(b, planes * pb), if planes > 1 { f16_at(b, planes * pb + 2) } else { 0.0 }];
                for (i, v) in o.iter_mut().enumerate() {
                    let mut acc = 0f32;
                    for (k, a) in alpha.iter().enumerate().take(planes) {
                        let t = ((b[k * pb + i / 4] >> (2 * (i % 4))) & 3) as i32 - 1;
                        acc += a * t as f32;
                    }
                    *v = acc;
                }
            }
        }
    }
    Ok(())
}

const POW3: [u8; 6] = [1, 3, 9, 27, 81, 243];

#[inline]
fn trit(byte: u8, n: usize) -> i8 {
    let t = byte.wrapping_mul(POW3[n]);
    (((t as u16) * 3) >> 8) as i8 - 1
}

/// Decode one TQ1_0 block's 256 trits (−1, 0, 1) in row order.
pub fn tq1_digits(block: &[u8], out: &mut [i8; QK_K]) {
    let qs = &block[0..48];
    let qh = &block[48..52];
    for n in 0..5 {
        for m in 0..32 {
            out[m + 32 * n] = trit(qs[m], n);
        }
        for m in 0..16 {
            out[160 + m + 16 * n] = trit(qs[32 + m], n);
        }
    }
    for n in 0..4 {
        for j in 0..4 {
            out[240 + j + 4 * n] = trit(qh[j], n);
        }
    }
}

/// Dequantize a whole tensor into a new vector.
pub fn dequantize_vec(ty: GgmlType, data: &[u8], n: usize) -> Result<Vec<f32>> {
    let mut out = vec![0f32; n];
    dequantize(ty, data, &mut out)?;
    Ok(out)
}
