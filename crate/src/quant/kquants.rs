//! ggml's 5-bit, k-quant and IQ4 blocks (Q5_0, Q5_1, Q2_K … Q6_K, IQ4_NL, IQ4_XS): their layouts
//! (`ggml-common.h`) unpacked into one shape, and the reference dequantizer built on it.
//!
//! Every one of these formats is, per group of `sub` elements (16 or 32), an unsigned code `q` of
//! `bits` bits and one or two f32 factors: `w = d·(q − offset)` (Q5_0, Q3_K, Q6_K), `w = d·q + m`
//! (Q5_1, Q2_K, Q4_K, Q5_K; for the k-quants m = −dmin·min) or `w = d·KVALUES[q]` (IQ4_*).
//! [`unpack_block`] produces exactly the f32 products ggml's `dequantize_row_*` and the Python
//! `gguf` package compute (`d·sc` with the sub-block scale, `dmin·m`), so the dequantized values
//! are bit-identical to theirs; the GPU upload repacks the same unpacked parts.

use half::f16;

use super::{GgmlType, QK_K};

/// IQ4_NL / IQ4_XS code book (`kvalues_iq4nl`).
pub const IQ4_VALUES: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/// How a format's unpacked codes become values (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KqShape {
    /// Bits per code.
    pub bits: u32,
    /// Elements per (d, m) group.
    pub sub: usize,
    /// Subtracted from the code before scaling (formats without m).
    pub offset: i32,
    /// `w = d·q + m` (an f32 m per group).
    pub has_min: bool,
    /// `w = d·IQ4_VALUES[q]`.
    pub table: bool,
}

/// The unpacked shape of `ty`, for the types of [`super::KQUANT_TYPES`].
pub fn shape(ty: GgmlType) -> Option<KqShape> {
    let s = |bits, sub, offset, has_min, table| Some(KqShape { bits, sub, offset, has_min, table });
    match ty {
        GgmlType::Q5_0 => s(5, 32, 16, false, false),
        GgmlType::Q5_1 => s(5, 32, 0, true, false),
        GgmlType::Q2_K => s(2, 16, 0, true, false),
        GgmlType::Q3_K => s(3, 16, 4, false, false),
        GgmlType::Q4_K => s(4, 32, 0, true, false),
        GgmlType::Q5_K => s(5, 32, 0, true, false),
        GgmlType::Q6_K => s(6, 16, 32, false, false),
        GgmlType::IQ4_NL | GgmlType::IQ4_XS => s(4, 32, 0, false, true),
        _ => None,
    }
}

/// Byte offsets of the f16 scales of one block (what `first_nonfinite` checks).
pub fn scale_offsets(ty: GgmlType) -> &'static [usize] {
    match ty {
        GgmlType::Q5_0 | GgmlType::IQ4_NL | GgmlType::IQ4_XS => &[0],
        GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
        GgmlType::Q2_K => &[80, 82],
        GgmlType::Q3_K => &[108],
        GgmlType::Q6_K => &[208],
        _ => &[],
    }
}

#[inline]
fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Q4_K / Q5_K's 6-bit scale and min of sub-block `j` (0..8) from the 12 packed bytes.
#[inline]
pub fn scale_min_k4(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        ((s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4))
    }
}

/// Q3_K's signed 6-bit scale of sub-block `i` (0..16) from the 12 packed bytes.
#[inline]
fn scale_q3k(i: usize, s: &[u8]) -> i32 {
    let lo = if i < 8 { s[i] & 0xf } else { s[i - 8] >> 4 };
    let hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
    (lo | (hi << 4)) as i32 - 32
}

/// Unpack one block `b` of `ty`: `codes` gets one code per element (`ty.block_size()` of them),
/// `d` and `m` one factor per group of [`KqShape::sub`] elements (`m` is left alone for formats
/// without a min).
pub fn unpack_block(ty: GgmlType, b: &[u8], codes: &mut [u8], d: &mut [f32], m: &mut [f32]) {
    match ty {
        GgmlType::Q5_0 | GgmlType::Q5_1 => {
            let off = if ty == GgmlType::Q5_1 { 4 } else { 2 };
            let qh = u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]);
            let qs = &b[off + 4..off + 20];
            for j in 0..16 {
                codes[j] = (qs[j] & 0xf) | ((((qh >> j) & 1) as u8) << 4);
                codes[j + 16] = (qs[j] >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4);
            }
            d[0] = f16_at(b, 0);
            if ty == GgmlType::Q5_1 {
                m[0] = f16_at(b, 2);
            }
        }
        GgmlType::Q2_K => {
            let (sc, qs) = (&b[0..16], &b[16..80]);
            let (dd, dmin) = (f16_at(b, 80), f16_at(b, 82));
            for h in 0..2 {
                for j in 0..4 {
                    for l in 0..32 {
                        codes[128 * h + 32 * j + l] = (qs[32 * h + l] >> (2 * j)) & 3;
                    }
                }
            }
            for i in 0..16 {
                d[i] = dd * (sc[i] & 0xf) as f32;
                m[i] = -(dmin * (sc[i] >> 4) as f32);
            }
        }
        GgmlType::Q3_K => {
            let (hmask, qs, sc) = (&b[0..32], &b[32..96], &b[96..108]);
            let dd = f16_at(b, 108);
            for h in 0..2 {
                for j in 0..4 {
                    for l in 0..32 {
                        let lo = (qs[32 * h + l] >> (2 * j)) & 3;
                        let hi = (hmask[l] >> (4 * h + j)) & 1;
                        codes[128 * h + 32 * j + l] = lo | (hi << 2);
                    }
                }
            }
            for (i, v) in d.iter_mut().enumerate().take(16) {
                *v = dd * scale_q3k(i, sc) as f32;
            }
        }
        GgmlType::Q4_K | GgmlType::Q5_K => {
            let (dd, dmin, sc) = (f16_at(b, 0), f16_at(b, 2), &b[4..16]);
            let (qh, qs) = if ty == GgmlType::Q5_K { (Some(&b[16..48]), &b[48..176]) } else { (None, &b[16..144]) };
            for c in 0..4 {
                for n in 0..2 {
                    for l in 0..32 {
                        let mut q = (qs[32 * c + l] >> (4 * n)) & 0xf;
                        if let Some(qh) = qh {
                            q |= ((qh[l] >> (2 * c + n)) & 1) << 4;
                        }
                        codes[64 * c + 32 * n + l] = q;
                    }
                }
            }
            for j in 0..8 {
                let (s, mn) = scale_min_k4(j, sc);
                d[j] = dd * s as f32;
                m[j] = -(dmin * mn as f32);
            }
        }
        GgmlType::Q6_K => {
            let (ql, qh, sc) = (&b[0..128], &b[128..192], &b[192..208]);
            let dd = f16_at(b, 208);
            for h in 0..2 {
                for k in 0..2 {
                    for i in 0..64 {
                        let lo = (ql[64 * h + i] >> (4 * k)) & 0xf;
                        let hi = (qh[32 * h + i % 32] >> (2 * (2 * k + i / 32))) & 3;
                        codes[128 * h + 64 * k + i] = lo | (hi << 4);
                    }
                }
            }
            for i in 0..16 {
                d[i] = dd * (sc[i] as i8) as f32;
            }
        }
        GgmlType::IQ4_NL => {
            for j in 0..16 {
                codes[j] = b[2 + j] & 0xf;
                codes[j + 16] = b[2 + j] >> 4;
            }
            d[0] = f16_at(b, 0);
        }
        GgmlType::IQ4_XS => {
            let dd = f16_at(b, 0);
            let sh = u16::from_le_bytes([b[2], b[3]]);
            let (sl, qs) = (&b[4..8], &b[8..136]);
            for ib in 0..8 {
                let ls = ((sl[ib / 2] >> (4 * (ib % 2))) & 0xf) as i32 | ((((sh >> (2 * ib)) & 3) as i32) << 4);
                d[ib] = dd * (ls - 32) as f32;
                for j in 0..16 {
                    codes[32 * ib + j] = qs[16 * ib + j] & 0xf;
                    codes[32 * ib + 16 + j] = qs[16 * ib + j] >> 4;
                }
            }
        }
        _ => unreachable!("unpack_block: {} is not a k-quant type", ty.name()),
    }
}

/// Dequantize whole blocks of `ty` (`out.len()` a multiple of the block size, `data` its bytes).
pub fn dequantize(ty: GgmlType, data: &[u8], out: &mut [f32]) {
    let sh = shape(ty).expect("a k-quant type");
    let bs = ty.block_size();
    let mut codes = [0u8; QK_K];
    let (mut d, mut m) = ([0f32; QK_K / 16], [0f32; QK_K / 16]);
    for (o, b) in out.chunks_exact_mut(bs).zip(data.chunks_exact(ty.block_bytes())) {
        unpack_block(ty, b, &mut codes, &mut d, &mut m);
        for (e, v) in o.iter_mut().enumerate() {
            let (g, q) = (e / sh.sub, codes[e]);
            *v = if sh.table {
                d[g] * IQ4_VALUES[q as usize] as f32
            } else if sh.has_min {
                d[g] * q as f32 + m[g]
            } else {
                d[g] * (q as i32 - sh.offset) as f32
            };
        }
    }
}

/// Seeded blocks of `ty` holding `n` elements: random codes and sub-block scales, finite f16
/// scales of magnitude 2⁻¹⁰ … 2⁻⁶ (`next` draws 64 random bits). For tests of the formats tritium
/// reads but has no quantizer for.
pub fn random_blocks(ty: GgmlType, n: usize, mut next: impl FnMut() -> u64) -> Vec<u8> {
    let mut out: Vec<u8> = (0..ty.bytes_for(n)).map(|_| next() as u8).collect();
    for b in out.chunks_exact_mut(ty.block_bytes()) {
        for &o in scale_offsets(ty) {
            let r = next();
            let v = (1.0 + (r % 1024) as f32 / 1024.0) * (1u32 << ((r >> 10) % 5)) as f32 / 1024.0;
            let v = if (r >> 20) & 1 == 1 && o == 0 { -v } else { v };
            b[o..o + 2].copy_from_slice(&f16::from_f32(v).to_le_bytes());
        }
    }
    out
}
