//! bitnet.cpp's I2_S ternary tensors (Microsoft's BitNet b1.58 GGUFs, ggml type 36), as its x86
//! converter writes them: the flattened tensor in blocks of 128 weights, 32 bytes each, weight
//! `32·g + p` of a block (g < 4, p < 32) in byte `p` at bits `6 − 2g` as the code `t + 1`
//! (0 → −1, 1 → 0, 2 → +1); after all the codes one f32 scale for the whole tensor; the tensor
//! padded by 32 bytes. `w = t · scale`.
//!
//! tritium repacks I2_S into TQ2_0 blocks at load (the same codes, reordered: TQ2_0 keeps weight
//! `m + 32·n` of each 128-weight half in byte `m` at bits `2n`), so every ternary kernel serves
//! it. TQ2_0 holds its scale as f16 per 256 weights: the tensor's f32 scale rounds to f16
//! (relative error below 2⁻¹¹), the one change the repacking makes.

use half::f16;

use super::GgmlType;
use crate::error::{Error, Result};

/// The per-tensor scale of an I2_S tensor of `n` weights.
pub fn scale(data: &[u8], n: usize) -> Result<f32> {
    let at = n / 4;
    let b = data.get(at..at + 4).ok_or_else(|| {
        Error::InvalidArgument(format!("I2_S tensor of {n} weights has {} bytes, needs {}", data.len(), at + 32))
    })?;
    Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Repack an I2_S tensor `[rows, cols]` into TQ2_0 rows (`cols` a multiple of 256). Code 3 (not
/// a trit) is an error naming the weight.
pub fn to_tq2_0(data: &[u8], rows: usize, cols: usize) -> Result<Vec<u8>> {
    if cols % 256 != 0 {
        return Err(Error::UnsupportedModel(format!(
            "I2_S rows of {cols} weights: tritium repacks I2_S into TQ2_0, which needs rows of whole 256-weight blocks"
        )));
    }
    let n = rows * cols;
    let s = scale(data, n)?;
    if !s.is_finite() {
        return Err(Error::InvalidArgument(format!("I2_S scale is {s} (not finite)")));
    }
    let d = f16::from_f32(s).to_le_bytes();
    let mut out = Vec::with_capacity(GgmlType::TQ2_0.bytes_for(n));
    for (bi, block) in data[..n / 4].chunks_exact(64).enumerate() {
        // Two I2_S blocks of 128 make one TQ2_0 block of 256.
        for (hi, half) in block.chunks_exact(32).enumerate() {
            for (p, &byte) in half.iter().enumerate() {
                let mut q = 0u8;
                for g in 0..4 {
                    let c = (byte >> (6 - 2 * g)) & 3;
                    if c == 3 {
                        let w = bi * 256 + hi * 128 + 32 * g + p;
                        return Err(Error::InvalidArgument(format!("I2_S code 3 at weight {w} (codes are 0, 1, 2)")));
                    }
                    q |= c << (2 * g);
                }
                out.push(q);
            }
        }
        out.extend_from_slice(&d);
    }
    Ok(out)
}

/// Write trits (−1, 0, 1; a multiple of 128 of them) and a scale as an I2_S tensor (for tests
/// and synthetic models).
pub fn encode(trits: &[i8], scale: f32) -> Vec<u8> {
    let mut out = vec![0u8; trits.len() / 4];
    for (b, block) in trits.chunks_exact(128).enumerate() {
        for (j, &t) in block.iter().enumerate() {
            out[b * 32 + j % 32] |= ((t + 1) as u8 & 3) << (6 - 2 * (j / 32));
        }
    }
    out.extend_from_slice(&scale.to_le_bytes());
    out.resize(trits.len() / 4 + 32, 0);
    out
}
