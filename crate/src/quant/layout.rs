//! Packing of tritium's row-block formats: int4 codes with scale and zero (`AWQ4_G*`) and trit
//! planes with per-plane scales (`TP*_G*`), to and from their unpacked parts.

use half::f16;

use super::GgmlType;

/// Encode int4 codes with per-group scale and zero into `AWQ4_G*` row blocks. `codes` is
/// `[rows, cols]` (0..15), `scales` and `zeros` are `[rows, cols / g]`.
pub fn encode_awq4(ty: GgmlType, rows: usize, cols: usize, codes: &[u8], scales: &[f16], zeros: &[u8]) -> Vec<u8> {
    let g = ty.group().expect("encode_awq4 needs an AWQ4_G* type");
    assert!(ty.planes() == 0 && cols % g == 0 && codes.len() == rows * cols && scales.len() == rows * cols / g);
    let mut out = Vec::with_capacity(ty.bytes_for(rows * cols));
    for (bi, blk) in codes.chunks_exact(g).enumerate() {
        for j in 0..g / 2 {
            out.push((blk[2 * j] & 0x0f) | (blk[2 * j + 1] << 4));
        }
        out.extend_from_slice(&scales[bi].to_le_bytes());
        out.extend_from_slice(&f16::from_f32(zeros[bi] as f32).to_le_bytes());
    }
    out
}

/// Decode `AWQ4_G*` row blocks back into (codes `[rows, cols]`, scales, zeros `[rows, cols / g]`).
pub fn decode_awq4(ty: GgmlType, data: &[u8]) -> (Vec<u8>, Vec<f16>, Vec<u8>) {
    let g = ty.group().expect("decode_awq4 needs an AWQ4_G* type");
    let (mut codes, mut scales, mut zeros) = (Vec::new(), Vec::new(), Vec::new());
    for b in data.chunks_exact(ty.block_bytes()) {
        for &q in &b[..g / 2] {
            codes.push(q & 0x0f);
            codes.push(q >> 4);
        }
        scales.push(f16::from_le_bytes([b[g / 2], b[g / 2 + 1]]));
        zeros.push(f16::from_le_bytes([b[g / 2 + 2], b[g / 2 + 3]]).to_f32() as u8);
    }
    (codes, scales, zeros)
}

/// Encode trit planes into `TP1_G*` / `TP2_G*` row blocks. `trits[k]` is plane k, `[rows, cols]`
/// in −1..1; `alphas[k]` its scales `[rows, cols / g]`.
pub fn encode_trit_planes(ty: GgmlType, cols: usize, trits: &[&[i8]], alphas: &[&[f16]]) -> Vec<u8> {
    let (g, planes) = (ty.group().expect("encode_trit_planes needs a TP type"), ty.planes());
    assert!(planes > 0 && trits.len() == planes && alphas.len() == planes && cols % g == 0);
    let n = trits[0].len();
    let mut out = Vec::with_capacity(ty.bytes_for(n));
    for bi in 0..n / g {
        for plane in trits {
            for j in 0..g / 4 {
                let mut byte = 0u8;
                for i in 0..4 {
                    byte |= ((plane[bi * g + 4 * j + i] + 1) as u8 & 3) << (2 * i);
                }
                out.push(byte);
            }
        }
        for a in alphas {
            out.extend_from_slice(&a[bi].to_le_bytes());
        }
    }
    out
}

/// Decode `TP*` row blocks into (planes of trits `[rows, cols]`, per-plane scales `[rows, cols / g]`).
pub fn decode_trit_planes(ty: GgmlType, data: &[u8]) -> (Vec<Vec<i8>>, Vec<Vec<f16>>) {
    let (g, planes) = (ty.group().expect("decode_trit_planes needs a TP type"), ty.planes());
    let pb = g / 4;
    let mut trits = vec![Vec::new(); planes];
    let mut alphas = vec![Vec::new(); planes];
    for b in data.chunks_exact(ty.block_bytes()) {
        for k in 0..planes {
            for i in 0..g {
                trits[k].push(((b[k * pb + i / 4] >> (2 * (i % 4))) & 3) as i8 - 1);
            }
            alphas[k].push(f16::from_le_bytes([b[planes * pb + 2 * k], b[planes * pb + 2 * k + 1]]));
        }
    }
    (trits, alphas)
}
