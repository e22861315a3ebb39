//! Ternarising whole rows and matrices: the `TP1_G*` / `TP2_G*` (and TQ) row blocks of a
//! matrix by [`TernaryMethod`], rows in parallel natively.

use half::f16;

use crate::error::{Error, Result};
use crate::quant::{GgmlType, QK_K};

use super::encodings::encode_tq;
use super::ptqtp::{ptqtp_group_with, PtqtpOptions};
use super::{mean_abs, trit};

/// Write one `TP*` block (`g` weights): the planes' 2-bit codes, then their f16 scales.
fn write_tp_block(out: &mut [u8], planes: &[(&[i8], f32)]) {
    let g = planes[0].0.len();
    let pb = g / 4;
    for (k, (t, _)) in planes.iter().enumerate() {
        for (j, o) in out[k * pb..(k + 1) * pb].iter_mut().enumerate() {
            let c = &t[4 * j..4 * j + 4];
            *o = ((c[0] + 1) as u8) | ((c[1] + 1) as u8) << 2 | ((c[2] + 1) as u8) << 4 | ((c[3] + 1) as u8) << 6;
        }
    }
    for (k, &(_, a)) in planes.iter().enumerate() {
        let o = planes.len() * pb + 2 * k;
        out[o..o + 2].copy_from_slice(&f16::from_f32(a).to_le_bytes());
    }
}

/// Quantize whole groups of `x` into `out` (`TP*` blocks of type `ty`). `t1`, `t2` are scratch of
/// at least the group size. `tensor_gamma`: one absmean scale for every group (TP1 only).
fn quantize_groups_into(
    ty: GgmlType,
    x: &[f32],
    out: &mut [u8],
    t1: &mut [i8],
    t2: &mut [i8],
    opts: &PtqtpOptions,
    tensor_gamma: Option<f32>,
) {
    let (g, planes) = (ty.block_size(), ty.planes());
    let (t1, t2) = (&mut t1[..g], &mut t2[..g]);
    for (w, o) in x.chunks_exact(g).zip(out.chunks_exact_mut(ty.block_bytes())) {
        if planes == 1 {
            let gamma = tensor_gamma.unwrap_or_else(|| mean_abs(w).max(1e-5));
            for (t, &v) in t1.iter_mut().zip(w) {
                *t = trit(v / gamma);
            }
            write_tp_block(o, &[(t1, gamma)]);
        } else {
            let fit = ptqtp_group_with(w, t1, t2, opts);
            write_tp_block(o, &[(t1, fit.a1), (t2, fit.a2)]);
        }
    }
}

fn tp_group_check(ty: GgmlType, n: usize) -> Result<(usize, usize)> {
    let (g, planes) = match (ty.group(), ty.planes()) {
        (Some(g), p) if p > 0 => (g, p),
        _ => return Err(Error::InvalidArgument(format!("{} is not a trit-plane type", ty.name()))),
    };
    if n % g != 0 {
        return Err(Error::InvalidArgument(format!(
            "quantize {}: {n} elements is not a multiple of the group size {g}",
            ty.name()
        )));
    }
    Ok((g, planes))
}

/// Quantize a row (or several concatenated rows) to a `TP*` row-block type: one plane =
/// absmean per group (BitNet's rule with the group's mean |w| as scale), two planes = PTQTP
/// per group with [`PtqtpOptions::default`].
pub fn quantize_row(ty: GgmlType, x: &[f32]) -> Result<Vec<u8>> {
    let (g, _) = tp_group_check(ty, x.len())?;
    let mut out = vec![0u8; ty.bytes_for(x.len())];
    let (mut t1, mut t2) = (vec![0i8; g], vec![0i8; g]);
    quantize_groups_into(ty, x, &mut out, &mut t1, &mut t2, &PtqtpOptions::default(), None);
    Ok(out)
}

/// How [`quantize_matrix_ternary`] ternarises a matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TernaryMethod {
    /// BitNet b1.58: one γ = mean |W| for the whole tensor. Stored as `TQ2_0` with d = γ when
    /// the row length is a multiple of 256, else as `TP1_G{128|64|32}` (the largest group
    /// dividing the row) with every scale = γ.
    AbsmeanTensor,
    /// Absmean per group of g ∈ {32, 64, 128} input channels → `TP1_G{g}`.
    AbsmeanGroup(usize),
    /// PTQTP (two trit planes) per group of g ∈ {32, 64, 128} → `TP2_G{g}`.
    Ptqtp(usize),
}

/// Run `f(row_in, row_out, t1, t2)` over the rows, in parallel natively (rayon) and sequentially
/// in wasm; `t1`, `t2` are per-task scratch of `cols` trits.
fn for_each_row<F>(w: &[f32], cols: usize, out: &mut [u8], row_bytes: usize, f: F)
where
    F: Fn(&[f32], &mut [u8], &mut [i8], &mut [i8]) + Sync + Send,
{
    crate::par::for_each_chunk_pair_init(
        out,
        row_bytes,
        w,
        cols,
        || (vec![0i8; cols], vec![0i8; cols]),
        |o, r, (t1, t2)| f(r, o, t1, t2),
    );
}

/// Ternarise a row-major `[rows, cols]` matrix; returns its format and the row blocks.
pub fn quantize_matrix_ternary(
    w: &[f32],
    rows: usize,
    cols: usize,
    method: TernaryMethod,
) -> Result<(GgmlType, Vec<u8>)> {
    if w.len() != rows * cols || cols == 0 {
        return Err(Error::InvalidArgument(format!(
            "ternary quantization: {} weights do not form a [{rows}, {cols}] matrix",
            w.len()
        )));
    }
    let group_type = |planes: usize, g: usize| -> Result<GgmlType> {
        let ty = GgmlType::trit_planes(planes, g).ok_or_else(|| {
            Error::InvalidArgument(format!("ternary quantization: group size {g} is not supported (32, 64 or 128)"))
        })?;
        if cols % g != 0 {
            return Err(Error::InvalidArgument(format!(
                "ternary quantization: rows of {cols} input channels are not a multiple of the group size {g}"
            )));
        }
        Ok(ty)
    };
    let (ty, gamma) = match method {
        TernaryMethod::AbsmeanTensor => {
            let gamma = mean_abs(w).max(1e-5);
            if cols % QK_K == 0 {
                let trits: Vec<i8> = w.iter().map(|&v| trit(v / gamma)).collect();
                let d = vec![f16::from_f32(gamma); w.len() / QK_K];
                return Ok((GgmlType::TQ2_0, encode_tq(GgmlType::TQ2_0, &trits, &d)?));
            }
            let g = [128, 64, 32].into_iter().find(|g| cols % g == 0).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "ternary quantization: rows of {cols} input channels are not a multiple of 256 (TQ2_0) or of 32 (TP1)"
                ))
            })?;
            (group_type(1, g)?, Some(gamma))
        }
        TernaryMethod::AbsmeanGroup(g) => (group_type(1, g)?, None),
        TernaryMethod::Ptqtp(g) => (group_type(2, g)?, None),
    };
    let row_bytes = ty.bytes_for(cols);
    let mut out = vec![0u8; rows * row_bytes];
    let opts = PtqtpOptions::default();
    for_each_row(w, cols, &mut out, row_bytes, |r, o, t1, t2| quantize_groups_into(ty, r, o, t1, t2, &opts, gamma));
    Ok((ty, out))
}
