//! AWQ int4: the group quantizer Q(·) of AutoAWQ (asymmetric int4 with an integer zero point
//! per group of input channels) and the AutoAWQ "GEMM" checkpoint layout: `qweight`/`qzeros` I32 `[K, N/8]` / `[K/g, N/8]` with
//! the [0, 2, 4, 6, 1, 3, 5, 7] nibble order, `scales` F16 `[K/g, N]`.
//!
//! Internally a quantized linear is kept row-major (one row per output channel) in the
//! `AWQ4_G*` row blocks of `quant::GgmlType`; `pack_gemm` / `unpack_gemm` convert between the two.

use half::f16;

use crate::error::{Error, Result};
use crate::quant::{self, GgmlType};

/// Packing order: nibble slot i of a word holds column `8c + ORDER[i]`.
pub const ORDER: [usize; 8] = [0, 2, 4, 6, 1, 3, 5, 7];
/// Unpacking: column j of a word lives in nibble slot `REVERSE_ORDER[j]`.
pub const REVERSE_ORDER: [usize; 8] = [0, 4, 1, 5, 2, 6, 3, 7];

/// Q(·) on one group: `(codes, S, Z)` with `S = max(max − min, 1e-5) / 15`,
/// `Z = clamp(−round(min / S), 0, 15)`, `q = clamp(round(w / S) + Z, 0, 15)`, rounding half to
/// even as torch does. Arithmetic in f32 (AutoAWQ runs it in fp16 on the GPU; the stored scale is
/// rounded to fp16 by the caller that packs it).
pub fn quantize_group(w: &[f32], codes: &mut [u8]) -> (f32, u8) {
    let (mut mn, mut mx) = (f32::INFINITY, f32::NEG_INFINITY);
    for &v in w {
        mn = mn.min(v);
        mx = mx.max(v);
    }
    let s = (mx - mn).max(1e-5) / 15.0;
    let z = (-(mn / s).round_ties_even()).clamp(0.0, 15.0);
    for (c, &v) in codes.iter_mut().zip(w) {
        *c = ((v / s).round_ties_even() + z).clamp(0.0, 15.0) as u8;
    }
    (s, z as u8)
}

/// Pseudo-quantize one group in place: `w ← (q − Z)·S` (what the AWQ searches score).
pub fn fake_quantize_group(w: &mut [f32]) {
    let mut codes = vec![0u8; w.len()];
    let (s, z) = quantize_group(w, &mut codes);
    for (v, &q) in w.iter_mut().zip(&codes) {
        *v = (q as f32 - z as f32) * s;
    }
}

/// Pseudo-quantize every group of a row-major `[rows, cols]` matrix in place.
pub fn fake_quantize(w: &mut [f32], group: usize) {
    for g in w.chunks_mut(group) {
        fake_quantize_group(g);
    }
}

/// A quantized linear in integer form, row-major: `codes` `[N, K]`, `scales` and `zeros`
/// `[N, K/g]` (the scales already rounded to fp16, as stored).
#[derive(Clone, Debug, PartialEq)]
pub struct Int4Linear {
    pub n: usize,
    pub k: usize,
    pub group: usize,
    pub codes: Vec<u8>,
    pub scales: Vec<f16>,
    pub zeros: Vec<u8>,
}

impl Int4Linear {
    /// Round-to-nearest int4 (the RTN baseline, and AWQ's last step after scaling and clipping):
    /// `w` is `[n, k]` row-major. The integers are recomputed against the fp16 scale, as
    /// AutoAWQ's `from_linear` does (`q = round((ŵ + Z·S) / S)` with S in fp16).
    pub fn quantize(w: &[f32], n: usize, k: usize, group: usize) -> Result<Int4Linear> {
        if group == 0 || k % group != 0 {
            return Err(Error::InvalidArgument(format!(
                "int4 quantization: {k} input channels are not a multiple of the group size {group}"
            )));
        }
        if w.len() != n * k {
            return Err(Error::InvalidArgument(format!(
                "int4 quantization: {} weights do not form a [{n}, {k}] matrix",
                w.len()
            )));
        }
        let mut codes = vec![0u8; n * k];
        let mut scales = Vec::with_capacity(n * k / group);
        let mut zeros = Vec::with_capacity(n * k / group);
        for (wg, cg) in w.chunks_exact(group).zip(codes.chunks_exact_mut(group)) {
            let (s, z) = quantize_group(wg, cg);
            let s16 = f16::from_f32(s);
            let sf = s16.to_f32();
            if sf > 0.0 && sf != s {
                // Recompute against the stored scale: q = clamp(round(w / S16) + Z).
                for (c, &v) in cg.iter_mut().zip(wg) {
                    *c = ((v / sf).round_ties_even() + z as f32).clamp(0.0, 15.0) as u8;
                }
            }
            scales.push(s16);
            zeros.push(z);
        }
        Ok(Int4Linear { n, k, group, codes, scales, zeros })
    }

    /// Dequantized weights `[n, k]`: `(q − Z)·S`.
    pub fn dequantize(&self) -> Vec<f32> {
        let g = self.group;
        self.codes
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let gi = i / g;
                (q as f32 - self.zeros[gi] as f32) * self.scales[gi].to_f32()
            })
            .collect()
    }

    /// The internal row-block format for this group size.
    pub fn ggml_type(&self) -> Result<GgmlType> {
        GgmlType::awq4(self.group).ok_or_else(|| {
            Error::InvalidArgument(format!("int4 group size {} is not supported (32, 64 or 128)", self.group))
        })
    }

    /// Encode as `AWQ4_G*` row blocks.
    pub fn to_blocks(&self) -> Result<(GgmlType, Vec<u8>)> {
        let ty = self.ggml_type()?;
        Ok((ty, quant::encode_awq4(ty, self.n, self.k, &self.codes, &self.scales, &self.zeros)))
    }

    pub fn from_blocks(ty: GgmlType, n: usize, k: usize, data: &[u8]) -> Int4Linear {
        let (codes, scales, zeros) = quant::decode_awq4(ty, data);
        Int4Linear { n, k, group: ty.block_size(), codes, scales, zeros }
    }

    /// Reorder output channels: row `i` of the result is row `perm[i]` of `self`.
    pub fn permute_rows(&self, perm: &[usize]) -> Int4Linear {
        let (k, gk) = (self.k, self.k / self.group);
        let mut out = self.clone();
        for (i, &src) in perm.iter().enumerate() {
            out.codes[i * k..(i + 1) * k].copy_from_slice(&self.codes[src * k..(src + 1) * k]);
            out.scales[i * gk..(i + 1) * gk].copy_from_slice(&self.scales[src * gk..(src + 1) * gk]);
            out.zeros[i * gk..(i + 1) * gk].copy_from_slice(&self.zeros[src * gk..(src + 1) * gk]);
        }
        out
    }
}

/// An AutoAWQ GEMM-layout linear: `qweight` `[K, N/8]`, `qzeros` `[K/g, N/8]` (u32 words of i32
/// tensors), `scales` `[K/g, N]`.
#[derive(Clone, Debug, PartialEq)]
pub struct GemmTensors {
    pub k: usize,
    pub n: usize,
    pub group: usize,
    pub qweight: Vec<u32>,
    pub qzeros: Vec<u32>,
    pub scales: Vec<f16>,
}

fn pack8(vals: impl Fn(usize) -> u8) -> u32 {
    let mut w = 0u32;
    for (slot, &col) in ORDER.iter().enumerate() {
        w |= ((vals(col) & 0xf) as u32) << (4 * slot);
    }
    w
}

/// Pack an int4 linear into the AutoAWQ GEMM layout (N must be a multiple of 8).
pub fn pack_gemm(l: &Int4Linear) -> Result<GemmTensors> {
    let (n, k, g) = (l.n, l.k, l.group);
    if n % 8 != 0 {
        return Err(Error::InvalidArgument(format!(
            "AutoAWQ GEMM packing needs a multiple of 8 output channels, got {n}"
        )));
    }
    let ng = k / g;
    let mut qweight = Vec::with_capacity(k * n / 8);
    for kk in 0..k {
        for c in 0..n / 8 {
            qweight.push(pack8(|j| l.codes[(8 * c + j) * k + kk]));
        }
    }
    let mut qzeros = Vec::with_capacity(ng * n / 8);
    let mut scales = Vec::with_capacity(ng * n);
    for gi in 0..ng {
        for c in 0..n / 8 {
            qzeros.push(pack8(|j| l.zeros[(8 * c + j) * ng + gi]));
        }
        for nn in 0..n {
            scales.push(l.scales[nn * ng + gi]);
        }
    }
    Ok(GemmTensors { k, n, group: g, qweight, qzeros, scales })
}

/// Unpack the AutoAWQ GEMM layout into row-major integers (AutoAWQ's reference unpacking).
pub fn unpack_gemm(t: &GemmTensors) -> Int4Linear {
    let (n, k, g) = (t.n, t.k, t.group);
    let ng = k / g;
    let nib = |w: u32, j: usize| ((w >> (4 * REVERSE_ORDER[j])) & 0xf) as u8;
    let mut codes = vec![0u8; n * k];
    let mut zeros = vec![0u8; n * ng];
    let mut scales = vec![f16::ZERO; n * ng];
    for kk in 0..k {
        for nn in 0..n {
            codes[nn * k + kk] = nib(t.qweight[kk * (n / 8) + nn / 8], nn % 8);
        }
    }
    for gi in 0..ng {
        for nn in 0..n {
            zeros[nn * ng + gi] = nib(t.qzeros[gi * (n / 8) + nn / 8], nn % 8);
            scales[nn * ng + gi] = t.scales[gi * n + nn];
        }
    }
    Int4Linear { n, k, group: g, codes, scales, zeros }
}

/// One trial scale vector of AWQ's scale search for search ratio α = `ratio`:
/// `s_j = max(x_mean_j^α / (w_mean_j^(1−α) + 1e-4), 1e-4)` with `duo` (AutoAWQ's default
/// `duo_scaling`), else `s_j = max(x_mean_j^α, 1e-4)`; then geometric centring
/// `s ← s / sqrt(max(s) · min(s))` and any inf / NaN entry set to 1. f32 arithmetic as torch's.
pub fn search_scales(x_mean: &[f32], w_mean: &[f32], ratio: f32, duo: bool) -> Vec<f32> {
    assert!(!duo || x_mean.len() == w_mean.len(), "search_scales: x_mean and w_mean differ in length");
    let mut s: Vec<f32> = x_mean
        .iter()
        .enumerate()
        .map(|(j, &x)| {
            let num = x.powf(ratio);
            let v = if duo { num / (w_mean[j].powf(1.0 - ratio) + 1e-4) } else { num };
            // torch's clamp(min = 1e-4) keeps NaN (f32::max would not).
            if v.is_nan() {
                v
            } else {
                v.max(1e-4)
            }
        })
        .collect();
    // torch's max / min propagate NaN; f32::max / min would skip it.
    let fold = |pick: fn(f32, f32) -> f32| {
        s.iter().copied().reduce(|a, b| if a.is_nan() || b.is_nan() { f32::NAN } else { pick(a, b) })
    };
    let (mx, mn) = (fold(f32::max).unwrap_or(1.0), fold(f32::min).unwrap_or(1.0));
    let c = (mx * mn).sqrt();
    for v in &mut s {
        *v /= c;
        if !v.is_finite() {
            *v = 1.0;
        }
    }
    s
}

/// An AutoAWQ GEMV-layout linear: `qweight` `[N, K/8]` with sequential nibbles (slot i =
/// input channel 8c + i), `qzeros` `[N, zw]` (slot i = group 8c + i), `scales` `[N, 8·zw]`, where
/// `zw` = [`gemv_zeros_width`]; padding entries are zero.
#[derive(Clone, Debug, PartialEq)]
pub struct GemvTensors {
    pub k: usize,
    pub n: usize,
    pub group: usize,
    pub qweight: Vec<u32>,
    pub qzeros: Vec<u32>,
    pub scales: Vec<f16>,
}

/// AutoAWQ's `calculate_zeros_width`: `ceil(ceil((K/g)/8) / m)·m` with m = 1 for g ≥ 128, 2 for
/// g = 64, 4 for g = 32 (other group sizes are not supported by the GEMV layout).
pub fn gemv_zeros_width(k: usize, group: usize) -> Result<usize> {
    let m = match group {
        g if g >= 128 => 1,
        64 => 2,
        32 => 4,
        g => {
            return Err(Error::InvalidArgument(format!(
                "AutoAWQ GEMV layout supports group sizes 32, 64 and ≥ 128, got {g}"
            )))
        }
    };
    Ok((k / group).div_ceil(8).div_ceil(m) * m)
}

/// The GEMV `qweight` words `[N, K/8]` alone (defined for any group size; K must be a multiple of 8).
pub fn pack_gemv_qweight(l: &Int4Linear) -> Result<Vec<u32>> {
    let (n, k) = (l.n, l.k);
    if k % 8 != 0 {
        return Err(Error::InvalidArgument(format!(
            "AutoAWQ GEMV packing needs a multiple of 8 input channels, got {k}"
        )));
    }
    let mut qweight = Vec::with_capacity(n * k / 8);
    for row in l.codes.chunks_exact(k) {
        for c in row.chunks_exact(8) {
            qweight.push(c.iter().enumerate().fold(0u32, |w, (i, &q)| w | ((q & 0xf) as u32) << (4 * i)));
        }
    }
    Ok(qweight)
}

/// Pack an int4 linear into the AutoAWQ GEMV layout.
pub fn pack_gemv(l: &Int4Linear) -> Result<GemvTensors> {
    let (n, k, g) = (l.n, l.k, l.group);
    let zw = gemv_zeros_width(k, g)?;
    let qweight = pack_gemv_qweight(l)?;
    let ng = k / g;
    let mut qzeros = vec![0u32; n * zw];
    let mut scales = vec![f16::ZERO; n * 8 * zw];
    for nn in 0..n {
        for gi in 0..ng {
            qzeros[nn * zw + gi / 8] |= ((l.zeros[nn * ng + gi] & 0xf) as u32) << (4 * (gi % 8));
            scales[nn * 8 * zw + gi] = l.scales[nn * ng + gi];
        }
    }
    Ok(GemvTensors { k, n, group: g, qweight, qzeros, scales })
}

/// Unpack the AutoAWQ GEMV layout into row-major integers.
pub fn unpack_gemv(t: &GemvTensors) -> Result<Int4Linear> {
    let (n, k, g) = (t.n, t.k, t.group);
    let zw = gemv_zeros_width(k, g)?;
    if k % 8 != 0
        || k % g != 0
        || t.qweight.len() != n * k / 8
        || t.qzeros.len() != n * zw
        || t.scales.len() != n * 8 * zw
    {
        return Err(Error::InvalidArgument(format!(
            "AutoAWQ GEMV tensors do not match N = {n}, K = {k}, g = {g}: qweight {} words, qzeros {}, scales {}",
            t.qweight.len(),
            t.qzeros.len(),
            t.scales.len()
        )));
    }
    let ng = k / g;
    let mut codes = Vec::with_capacity(n * k);
    for &w in &t.qweight {
        codes.extend((0..8).map(|i| ((w >> (4 * i)) & 0xf) as u8));
    }
    let mut zeros = Vec::with_capacity(n * ng);
    let mut scales = Vec::with_capacity(n * ng);
    for nn in 0..n {
        for gi in 0..ng {
            zeros.push(((t.qzeros[nn * zw + gi / 8] >> (4 * (gi % 8))) & 0xf) as u8);
            scales.push(t.scales[nn * 8 * zw + gi]);
        }
    }
    Ok(Int4Linear { n, k, group: g, codes, scales, zeros })
}
