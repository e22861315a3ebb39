//! Reference quantizers: ggml's `quantize_row_*_ref` for its block formats (Q4_K and Q6_K in
//! [`super::kquantize`]).

use half::{bf16, f16};

use super::{awq, kquantize, ternary, GgmlType, QK4_0, QK4_1, QK8_0, QK_K};
use crate::error::{Error, Result};

/// Quantize `x` to `ty` with ggml's reference quantizers (`quantize_row_*_ref`).
pub fn quantize(ty: GgmlType, x: &[f32]) -> Result<Vec<u8>> {
    if x.len() % ty.block_size() != 0 {
        return Err(Error::InvalidArgument(format!(
            "quantize {}: {} elements is not a multiple of the block size {}",
            ty.name(),
            x.len(),
            ty.block_size()
        )));
    }
    if ty.planes() > 0 {
        return ternary::quantize_row(ty, x);
    }
    if let Some(g) = ty.group() {
        let l = awq::Int4Linear::quantize(x, x.len() / g, g, g)?;
        return Ok(l.to_blocks()?.1);
    }
    let mut out = Vec::with_capacity(ty.bytes_for(x.len()));
    match ty {
        GgmlType::I8 | GgmlType::I32 | GgmlType::I2_S => {
            return Err(Error::InvalidArgument(format!("{} holds integers; it is not a float quantizer", ty.name())))
        }
        GgmlType::AWQ4_G32
        | GgmlType::AWQ4_G64
        | GgmlType::AWQ4_G128
        | GgmlType::TP1_G32
        | GgmlType::TP1_G64
        | GgmlType::TP1_G128
        | GgmlType::TP2_G32
        | GgmlType::TP2_G64
        | GgmlType::TP2_G128 => unreachable!("internal types are handled above"),
        GgmlType::F32 => x.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        GgmlType::F16 => x.iter().for_each(|v| out.extend_from_slice(&f16::from_f32(*v).to_le_bytes())),
        GgmlType::BF16 => x.iter().for_each(|v| out.extend_from_slice(&bf16::from_f32(*v).to_le_bytes())),
        GgmlType::Q8_0 => {
            for b in x.chunks_exact(QK8_0) {
                let amax = b.iter().fold(0f32, |a, v| a.max(v.abs()));
                let d = amax / 127.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
                for v in b {
                    out.push(((v * id).round() as i32).clamp(-128, 127) as i8 as u8);
                }
            }
        }
        GgmlType::Q4_0 => {
            for b in x.chunks_exact(QK4_0) {
                let (mut amax, mut max) = (0f32, 0f32);
                for &v in b {
                    if v.abs() > amax {
                        amax = v.abs();
                        max = v;
                    }
                }
                let d = max / -8.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
                for j in 0..16 {
                    let q0 = ((b[j] * id + 8.5) as i8).min(15) as u8;
                    let q1 = ((b[j + 16] * id + 8.5) as i8).min(15) as u8;
                    out.push(q0 | (q1 << 4));
                }
            }
        }
        GgmlType::Q4_1 => {
            for b in x.chunks_exact(QK4_1) {
                let min = b.iter().fold(f32::INFINITY, |a, &v| a.min(v));
                let max = b.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v));
                let d = (max - min) / 15.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
                out.extend_from_slice(&f16::from_f32(min).to_le_bytes());
                for j in 0..16 {
                    let q0 = (((b[j] - min) * id + 0.5) as i8).min(15) as u8;
                    let q1 = (((b[j + 16] - min) * id + 0.5) as i8).min(15) as u8;
                    out.push(q0 | (q1 << 4));
                }
            }
        }
        GgmlType::Q5_0 | GgmlType::Q5_1 => {
            for b in x.chunks_exact(32) {
                let (d, id, min, bias) = if ty == GgmlType::Q5_0 {
                    let (mut amax, mut max) = (0f32, 0f32);
                    for &v in b {
                        if v.abs() > amax {
                            amax = v.abs();
                            max = v;
                        }
                    }
                    let d = max / -16.0;
                    (d, if d != 0.0 { 1.0 / d } else { 0.0 }, 0.0, 16.5)
                } else {
                    let min = b.iter().fold(f32::INFINITY, |a, &v| a.min(v));
                    let max = b.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v));
                    let d = (max - min) / 31.0;
                    (d, if d != 0.0 { 1.0 / d } else { 0.0 }, min, 0.5)
                };
                out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
                if ty == GgmlType::Q5_1 {
                    out.extend_from_slice(&f16::from_f32(min).to_le_bytes());
                }
                let code = |v: f32| (((v - min) * id + bias) as i8).clamp(0, 31) as u32;
                let (mut qh, mut qs) = (0u32, [0u8; 16]);
                for j in 0..16 {
                    let (q0, q1) = (code(b[j]), code(b[j + 16]));
                    qs[j] = ((q0 & 0xf) | ((q1 & 0xf) << 4)) as u8;
                    qh |= ((q0 >> 4) << j) | ((q1 >> 4) << (j + 16));
                }
                out.extend_from_slice(&qh.to_le_bytes());
                out.extend_from_slice(&qs);
            }
        }
        GgmlType::Q4_K => x.chunks_exact(QK_K).for_each(|b| kquantize::quantize_block_q4_k(b, &mut out)),
        GgmlType::Q6_K => x.chunks_exact(QK_K).for_each(|b| kquantize::quantize_block_q6_k(b, &mut out)),
        GgmlType::Q2_K | GgmlType::Q3_K | GgmlType::Q5_K | GgmlType::IQ4_NL | GgmlType::IQ4_XS => {
            return Err(Error::InvalidArgument(format!(
                "tritium reads {} but has no quantizer for it (of the k-quants it writes Q4_K and Q6_K)",
                ty.name()
            )))
        }
        GgmlType::TQ2_0 => {
            for b in x.chunks_exact(QK_K) {
                let (d, id) = ternary_scale(b);
                let mut qs = [0u8; 64];
                for h in 0..2 {
                    for l in 0..4 {
                        for m in 0..32 {
                            let q = ternary_digit(b[128 * h + 32 * l + m], id);
                            qs[32 * h + m] |= q << (2 * l);
                        }
                    }
                }
                out.extend_from_slice(&qs);
                out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
            }
        }
        GgmlType::TQ1_0 => {
            for b in x.chunks_exact(QK_K) {
                let (d, id) = ternary_scale(b);
                let dig = |i: usize| ternary_digit(b[i], id) as u16;
                let enc = |v: u16| (v * 256).div_ceil(243) as u8;
                let mut blk = [0u8; 52];
                #[allow(clippy::needless_range_loop)]
                for m in 0..32 {
                    let mut v = 0u16;
                    for n in 0..5 {
                        v = v * 3 + dig(m + 32 * n);
                    }
                    blk[m] = enc(v);
                }
                for m in 0..16 {
                    let mut v = 0u16;
                    for n in 0..5 {
                        v = v * 3 + dig(160 + m + 16 * n);
                    }
                    blk[32 + m] = enc(v);
                }
                for j in 0..4 {
                    let mut v = 0u16;
                    for n in 0..4 {
                        v = v * 3 + dig(240 + j + 4 * n);
                    }
                    blk[48 + j] = enc(v * 3);
                }
                out.extend_from_slice(&blk);
                out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
            }
        }
    }
    Ok(out)
}

fn ternary_scale(b: &[f32]) -> (f32, f32) {
    let d = b.iter().fold(0f32, |a, v| a.max(v.abs()));
    (d, if d != 0.0 { 1.0 / d } else { 0.0 })
}

/// ggml: `lroundf(x * id) + 1`, clamped to a digit.
fn ternary_digit(x: f32, id: f32) -> u8 {
    ((x * id).round() as i32 + 1).clamp(0, 2) as u8
}
