//! Block formats of ggml that tritium reads and writes, with reference (de)quantizers.
//!
//! Layouts follow ggml (`ggml-common.h`, `ggml-quants.c`); the ternary ones are described in
//! shared/spec/algorithms.md §2.3. Every dequantizer here is the plain reference that the fast
//! CPU kernels and the GPU kernels are tested against; tests compare them with the Python `gguf`
//! package's `gguf.quants.dequantize`.

pub mod awq;
pub mod awq_search;
pub mod recipe;
pub mod ternary;

use half::{bf16, f16};

use crate::error::{Error, Result};

pub const QK8_0: usize = 32;
pub const QK4_0: usize = 32;
pub const QK4_1: usize = 32;
pub const QK_K: usize = 256;

/// Tensor element types tritium supports (ggml type ids).
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q8_0,
    BF16,
    TQ1_0,
    TQ2_0,
    /// ggml's plain integer tensors: storage only (the AWQ GGUF naming keeps qweight/qzeros in I32,
    /// the trit-plane naming keeps packed codes in I8); never a matmul weight.
    I8,
    I32,
    /// tritium's int4 with zero point per group of g input channels (AWQ / RTN4), row-major blocks
    /// of g weights: g/2 bytes of codes (byte j = q[2j] | q[2j+1] << 4), f16 scale S, f16 zero Z
    /// (an integer 0..15 stored as f16). w = (q − Z) · S. Not a ggml type: in GGUF files it is
    /// stored under the AutoAWQ naming (see format/awq.rs).
    AWQ4_G32,
    AWQ4_G64,
    AWQ4_G128,
    /// tritium's trit planes with one scale per plane per group of g input channels
    /// (PTQTP: W ≈ α1·T1 + α2·T2). Row-major blocks of g weights: for each plane, g/4 bytes of
    /// 2-bit codes c = t + 1 (byte j holds weights 4j … 4j+3 at bits 2i), then one f16 α per
    /// plane. w = Σ_k α_k · t_k (plane 0 first). TP1_* is a single plane (absmean ternary with
    /// per-group or per-tensor scales, for rows that TQ1_0/TQ2_0 cannot hold).
    TP1_G32,
    TP1_G64,
    TP1_G128,
    TP2_G32,
    TP2_G64,
    TP2_G128,
}

/// tritium's own row-block formats (no ggml type id), in the order the kernels list them.
pub const INTERNAL_TYPES: [GgmlType; 9] = [
    GgmlType::AWQ4_G32,
    GgmlType::AWQ4_G64,
    GgmlType::AWQ4_G128,
    GgmlType::TP1_G32,
    GgmlType::TP1_G64,
    GgmlType::TP1_G128,
    GgmlType::TP2_G32,
    GgmlType::TP2_G64,
    GgmlType::TP2_G128,
];

/// Every format a weight matrix can have (the ggml types of `ALL_TYPES` and the internal ones).
pub const MATMUL_TYPES: [GgmlType; 17] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::TQ1_0,
    GgmlType::TQ2_0,
    GgmlType::AWQ4_G32,
    GgmlType::AWQ4_G64,
    GgmlType::AWQ4_G128,
    GgmlType::TP1_G32,
    GgmlType::TP1_G64,
    GgmlType::TP1_G128,
    GgmlType::TP2_G32,
    GgmlType::TP2_G64,
    GgmlType::TP2_G128,
];

/// The ggml types a GGUF tensor can have here (matmul weights and norms).
pub const ALL_TYPES: [GgmlType; 8] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::TQ1_0,
    GgmlType::TQ2_0,
];

/// Names of all ggml type ids, for error messages about types we do not support.
pub fn ggml_type_name(id: u32) -> &'static str {
    match id {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        6 => "Q5_0",
        7 => "Q5_1",
        8 => "Q8_0",
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        12 => "Q4_K",
        13 => "Q5_K",
        14 => "Q6_K",
        15 => "Q8_K",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        30 => "BF16",
        34 => "TQ1_0",
        35 => "TQ2_0",
        39 => "MXFP4",
        _ => "unknown",
    }
}

impl GgmlType {
    pub fn from_id(id: u32) -> Option<GgmlType> {
        Some(match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            8 => GgmlType::Q8_0,
            30 => GgmlType::BF16,
            34 => GgmlType::TQ1_0,
            35 => GgmlType::TQ2_0,
            24 => GgmlType::I8,
            26 => GgmlType::I32,
            _ => return None,
        })
    }

    /// The ggml type id, or `None` for tritium's internal row-block formats.
    pub fn ggml_id(self) -> Option<u32> {
        if self.is_internal() {
            None
        } else {
            Some(self.id())
        }
    }

    pub fn is_internal(self) -> bool {
        INTERNAL_TYPES.contains(&self)
    }

    /// Group size of the internal formats (input channels per scale).
    pub fn group(self) -> Option<usize> {
        match self {
            GgmlType::AWQ4_G32 | GgmlType::TP1_G32 | GgmlType::TP2_G32 => Some(32),
            GgmlType::AWQ4_G64 | GgmlType::TP1_G64 | GgmlType::TP2_G64 => Some(64),
            GgmlType::AWQ4_G128 | GgmlType::TP1_G128 | GgmlType::TP2_G128 => Some(128),
            _ => None,
        }
    }

    /// Trit planes of the TP formats (0 for every other format).
    pub fn planes(self) -> usize {
        match self {
            GgmlType::TP1_G32 | GgmlType::TP1_G64 | GgmlType::TP1_G128 => 1,
            GgmlType::TP2_G32 | GgmlType::TP2_G64 | GgmlType::TP2_G128 => 2,
            _ => 0,
        }
    }

    pub fn awq4(group: usize) -> Option<GgmlType> {
        Some(match group {
            32 => GgmlType::AWQ4_G32,
            64 => GgmlType::AWQ4_G64,
            128 => GgmlType::AWQ4_G128,
            _ => return None,
        })
    }

    pub fn trit_planes(planes: usize, group: usize) -> Option<GgmlType> {
        Some(match (planes, group) {
            (1, 32) => GgmlType::TP1_G32,
            (1, 64) => GgmlType::TP1_G64,
            (1, 128) => GgmlType::TP1_G128,
            (2, 32) => GgmlType::TP2_G32,
            (2, 64) => GgmlType::TP2_G64,
            (2, 128) => GgmlType::TP2_G128,
            _ => return None,
        })
    }

    /// The ggml type id (internal formats get ids above ggml's range, used only in memory).
    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q4_0 => 2,
            GgmlType::Q4_1 => 3,
            GgmlType::Q8_0 => 8,
            GgmlType::BF16 => 30,
            GgmlType::TQ1_0 => 34,
            GgmlType::TQ2_0 => 35,
            GgmlType::I8 => 24,
            GgmlType::I32 => 26,
            GgmlType::AWQ4_G32 => 1000,
            GgmlType::AWQ4_G64 => 1001,
            GgmlType::AWQ4_G128 => 1002,
            GgmlType::TP1_G32 => 1010,
            GgmlType::TP1_G64 => 1011,
            GgmlType::TP1_G128 => 1012,
            GgmlType::TP2_G32 => 1020,
            GgmlType::TP2_G64 => 1021,
            GgmlType::TP2_G128 => 1022,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GgmlType::AWQ4_G32 => "AWQ4_G32",
            GgmlType::AWQ4_G64 => "AWQ4_G64",
            GgmlType::AWQ4_G128 => "AWQ4_G128",
            GgmlType::TP1_G32 => "TP1_G32",
            GgmlType::TP1_G64 => "TP1_G64",
            GgmlType::TP1_G128 => "TP1_G128",
            GgmlType::TP2_G32 => "TP2_G32",
            GgmlType::TP2_G64 => "TP2_G64",
            GgmlType::TP2_G128 => "TP2_G128",
            _ => ggml_type_name(self.id()),
        }
    }

    pub fn from_name(name: &str) -> Option<GgmlType> {
        MATMUL_TYPES.iter().copied().find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// Elements per block.
    pub fn block_size(self) -> usize {
        match self {
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 | GgmlType::I8 | GgmlType::I32 => 1,
            GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q8_0 => 32,
            GgmlType::TQ1_0 | GgmlType::TQ2_0 => QK_K,
            t => t.group().unwrap_or(1),
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            GgmlType::F32 => 4,
            GgmlType::F16 | GgmlType::BF16 => 2,
            GgmlType::Q4_0 => 2 + 16,
            GgmlType::Q4_1 => 2 + 2 + 16,
            GgmlType::Q8_0 => 2 + 32,
            GgmlType::TQ1_0 => 48 + 4 + 2,
            GgmlType::TQ2_0 => 64 + 2,
            GgmlType::I8 => 1,
            GgmlType::I32 => 4,
            GgmlType::AWQ4_G32 | GgmlType::AWQ4_G64 | GgmlType::AWQ4_G128 => self.block_size() / 2 + 4,
            t => t.planes() * (t.block_size() / 4 + 2),
        }
    }

    pub fn bits_per_weight(self) -> f64 {
        self.block_bytes() as f64 * 8.0 / self.block_size() as f64
    }

    /// Bytes needed for `n` elements (`n` must be a multiple of the block size).
    pub fn bytes_for(self, n: usize) -> usize {
        n / self.block_size() * self.block_bytes()
    }
}

/// The first value of a ggml tensor's data that is not finite: a block scale (`d`, and `m` of
/// Q4_1) of a quantized type, or an element of F32 / F16 / BF16. Returns `(block index, byte
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
        GgmlType::I8 => {
            for (o, &b) in out.iter_mut().zip(data) {
                *o = b as i8 as f32;
            }
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
        GgmlType::I8 | GgmlType::I32 => {
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

/// Dequantize a whole tensor into a new vector.
pub fn dequantize_vec(ty: GgmlType, data: &[u8], n: usize) -> Result<Vec<f32>> {
    let mut out = vec![0f32; n];
    dequantize(ty, data, &mut out)?;
    Ok(out)
}
