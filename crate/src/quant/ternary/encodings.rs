//! Ternary encodings of given trits: ggml's TQ1_0 / TQ2_0 blocks and microsoft/BitNet's I2_S
//! layout, with their decoders.

use half::f16;

use crate::error::{Error, Result};
use crate::quant::{self, GgmlType, QK_K};

fn check_trits(what: &str, trits: &[i8]) -> Result<()> {
    if let Some(i) = trits.iter().position(|t| !(-1..=1).contains(t)) {
        return Err(Error::InvalidArgument(format!("{what}: element {i} is {}, not a trit (−1, 0, 1)", trits[i])));
    }
    Ok(())
}

/// Encode given trits as ggml `TQ1_0` or `TQ2_0` blocks with the given per-block scales
/// (`d.len()` = number of 256-element blocks). Unlike `quant::quantize` (ggml's reference, which
/// takes each block's max |w| as `d`), the trits and the scale are the caller's: BitNet weights
/// are stored with `d = γ` of the whole tensor.
pub fn encode_tq(ty: GgmlType, trits: &[i8], d: &[f16]) -> Result<Vec<u8>> {
    if ty != GgmlType::TQ1_0 && ty != GgmlType::TQ2_0 {
        return Err(Error::InvalidArgument(format!("encode_tq: {} is not TQ1_0 or TQ2_0", ty.name())));
    }
    if trits.len() % QK_K != 0 || d.len() != trits.len() / QK_K {
        return Err(Error::InvalidArgument(format!(
            "encode_tq {}: {} trits with {} scales (need a multiple of {QK_K} trits and one scale per block)",
            ty.name(),
            trits.len(),
            d.len()
        )));
    }
    check_trits("encode_tq", trits)?;
    let mut out = Vec::with_capacity(ty.bytes_for(trits.len()));
    for (b, &d) in trits.chunks_exact(QK_K).zip(d) {
        let dig = |i: usize| (b[i] + 1) as u16;
        if ty == GgmlType::TQ2_0 {
            let mut qs = [0u8; 64];
            for h in 0..2 {
                for l in 0..4 {
                    for m in 0..32 {
                        qs[32 * h + m] |= (dig(128 * h + 32 * l + m) as u8) << (2 * l);
                    }
                }
            }
            out.extend_from_slice(&qs);
        } else {
            let enc = |v: u16| (v * 256).div_ceil(243) as u8;
            let five = |base: usize, stride: usize| (0..5).fold(0u16, |v, n| v * 3 + dig(base + stride * n));
            out.extend((0..32).map(|m| enc(five(m, 32))));
            out.extend((0..16).map(|m| enc(five(160 + m, 16))));
            out.extend((0..4).map(|j| enc(3 * (0..4).fold(0u16, |v, n| v * 3 + dig(240 + j + 4 * n)))));
        }
        out.extend_from_slice(&d.to_le_bytes());
    }
    Ok(out)
}

/// Decode `TQ1_0` / `TQ2_0` blocks into (trits in row order, one scale per block).
pub fn decode_tq(ty: GgmlType, data: &[u8]) -> Result<(Vec<i8>, Vec<f16>)> {
    if (ty != GgmlType::TQ1_0 && ty != GgmlType::TQ2_0) || data.len() % ty.block_bytes() != 0 {
        return Err(Error::InvalidArgument(format!(
            "decode_tq {}: {} bytes are not whole TQ1_0 / TQ2_0 blocks",
            ty.name(),
            data.len()
        )));
    }
    let nb = data.len() / ty.block_bytes();
    let (mut trits, mut d) = (Vec::with_capacity(nb * QK_K), Vec::with_capacity(nb));
    for b in data.chunks_exact(ty.block_bytes()) {
        if ty == GgmlType::TQ2_0 {
            let mut t = [0i8; QK_K];
            for h in 0..2 {
                for l in 0..4 {
                    for m in 0..32 {
                        t[128 * h + 32 * l + m] = ((b[32 * h + m] >> (2 * l)) & 3) as i8 - 1;
                    }
                }
            }
            trits.extend_from_slice(&t);
            d.push(f16::from_le_bytes([b[64], b[65]]));
        } else {
            let mut t = [0i8; QK_K];
            quant::tq1_digits(b, &mut t);
            trits.extend_from_slice(&t);
            d.push(f16::from_le_bytes([b[52], b[53]]));
        }
    }
    Ok((trits, d))
}

/// Weights per block of microsoft/BitNet's x86 (`ACT_PARALLEL`) I2_S layout.
pub const I2S_BLOCK: usize = 128;

/// Encode trits in microsoft/BitNet's `I2_S` layout (x86 / `ACT_PARALLEL`): blocks of 128
/// weights → 32 bytes, byte p of block b holding weights 128b + p, +32, +64, +96 at bits 7..6,
/// 5..4, 3..2, 1..0 as codes t + 1; then the f32 tensor scale and 28 zero bytes
/// (`n/4 + 32` bytes in all). `trits` is the flattened tensor; its length must be a multiple of 128.
pub fn pack_i2s(trits: &[i8], scale: f32) -> Result<Vec<u8>> {
    if trits.len() % I2S_BLOCK != 0 {
        return Err(Error::InvalidArgument(format!(
            "I2_S packing: {} weights are not a multiple of the block size {I2S_BLOCK}",
            trits.len()
        )));
    }
    check_trits("I2_S packing", trits)?;
    let mut out = vec![0u8; trits.len() / 4 + 32];
    for (t, o) in trits.chunks_exact(I2S_BLOCK).zip(out.chunks_exact_mut(32)) {
        for (j, &v) in t.iter().enumerate() {
            o[j % 32] |= ((v + 1) as u8) << (6 - 2 * (j / 32));
        }
    }
    let n4 = trits.len() / 4;
    out[n4..n4 + 4].copy_from_slice(&scale.to_le_bytes());
    Ok(out)
}

/// Decode an `I2_S` tensor of `n` weights (x86 layout) into (trits, f32 scale). Code 3, which
/// the quantizer never writes, decodes to 0 as in BitNet's embedding converter.
pub fn unpack_i2s(data: &[u8], n: usize) -> Result<(Vec<i8>, f32)> {
    if n % I2S_BLOCK != 0 || data.len() != n / 4 + 32 {
        return Err(Error::InvalidArgument(format!(
            "I2_S: {} bytes cannot hold {n} weights (need a multiple of {I2S_BLOCK} weights and n/4 + 32 bytes)",
            data.len()
        )));
    }
    let mut trits = vec![0i8; n];
    for (t, b) in trits.chunks_exact_mut(I2S_BLOCK).zip(data.chunks_exact(32)) {
        for (j, v) in t.iter_mut().enumerate() {
            let c = (b[j % 32] >> (6 - 2 * (j / 32))) & 3;
            *v = if c == 3 { 0 } else { c as i8 - 1 };
        }
    }
    let n4 = n / 4;
    Ok((trits, f32::from_le_bytes([data[n4], data[n4 + 1], data[n4 + 2], data[n4 + 3]])))
}
