//! The CPU backend: the reference every GPU kernel is checked against, and the fallback when
//! WebGPU is missing. Plain f32 math on dequantized blocks, in a fixed summation order, so the
//! native build and the wasm build agree to rounding (the same source operations run on both;
//! no fast-math, no FMA contraction).
//!
//! Speed: a weight row is dequantized once into a scratch row and then dotted with every token
//! of the batch (prefill amortizes the dequantization); rows are split across threads with rayon
//! natively; in wasm the dot loops are written with 8 independent accumulators so LLVM maps them
//! onto SIMD128 lanes (`-C target-feature=+simd128` in .cargo/config.toml).

pub mod attention;
pub mod exec;

use crate::error::Result;
use crate::quant::{GgmlType, QMatrix};

/// Dot product with 8 independent accumulators (vectorizes to SIMD lanes; fixed order).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// `y += a * x`
#[inline]
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (o, v) in y.iter_mut().zip(x) {
        *o += a * v;
    }
}

/// Rows handled by one task: one scratch row is dequantized per row, reused across the task.
const ROWS_PER_TASK: usize = 16;

/// Run `f(first_row, out_chunk)` over chunks of `out` holding `ROWS_PER_TASK` rows of `width`
/// elements each, in parallel natively and sequentially in wasm ([`crate::par`]).
fn for_each_rows<F>(out: &mut [f32], width: usize, rows_per_task: usize, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync + Send,
{
    crate::par::for_each_chunk_mut(out, width * rows_per_task, |i, o| f(i * rows_per_task, o));
}

/// Batches of at least this many tokens use the tiled product (prefill, scoring).
const TILED_MIN_TOKENS: usize = 8;
/// Weight rows dequantized per tile of the tiled product.
const TILE_ROWS: usize = 64;

/// `y[t][r] = Σ_c W[r][c] · x[t][c]` for `n` tokens: `x` is `[n, cols]`, `y` is `[n, rows]`.
/// Each weight row is dequantized once (into a per-task scratch row) and dotted with every
/// token. (Fused per-block dot products were measured slower than this on x86-64: the
/// dequantize loop and the 8-lane dot both vectorize, the fused nibble loop does not.)
pub fn matmul(w: &QMatrix, x: &[f32], n: usize, y: &mut [f32]) -> Result<()> {
    let (rows, cols) = (w.rows, w.cols);
    assert_eq!(x.len(), n * cols, "matmul: input is not [n, cols]");
    assert_eq!(y.len(), n * rows, "matmul: output is not [n, rows]");
    assert_eq!(w.data.len(), rows * w.row_bytes(), "matmul: weight bytes do not match its shape");
    // yt is [rows, n]: each row's outputs for all tokens are contiguous, so rows split cleanly.
    let mut yt = vec![0f32; rows * n];
    if n >= TILED_MIN_TOKENS {
        // Prefill: dequantize a tile of rows, then one cache-blocked SIMD product (faer) of the
        // tile with every token: [tile, cols] · [cols, n].
        let xm = faer::MatRef::from_row_major_slice(x, n, cols);
        for_each_rows(&mut yt, n, TILE_ROWS, |r0, o| {
            let nr = o.len() / n;
            let mut tile = vec![0f32; nr * cols];
            for (i, t) in tile.chunks_exact_mut(cols).enumerate() {
                // Cannot fail: lengths were checked above.
                let _ = w.dequant_row(r0 + i, t);
            }
            let lhs = faer::MatRef::from_row_major_slice(&tile, nr, cols);
            let dst = faer::MatMut::from_row_major_slice_mut(o, nr, n);
            faer::linalg::matmul::matmul(dst, faer::Accum::Replace, lhs, xm.transpose(), 1.0f32, faer::Par::Seq);
        });
    } else {
        for_each_rows(&mut yt, n, ROWS_PER_TASK, |r0, o| {
            let mut scratch = vec![0f32; cols];
            for (i, orow) in o.chunks_mut(n).enumerate() {
                let r = r0 + i;
                let row: &[f32] = if w.ty == GgmlType::F32 && (w.row(r).as_ptr() as usize) % 4 == 0 {
                    bytemuck::cast_slice(w.row(r))
                } else {
                    // Cannot fail: lengths were checked above.
                    let _ = w.dequant_row(r, &mut scratch);
                    &scratch
                };
                for (t, v) in orow.iter_mut().enumerate() {
                    *v = dot(row, &x[t * cols..(t + 1) * cols]);
                }
            }
        });
    }
    if n == 1 {
        y.copy_from_slice(&yt);
    } else {
        for r in 0..rows {
            for t in 0..n {
                y[t * rows + r] = yt[r * n + t];
            }
        }
    }
    Ok(())
}

/// RMSNorm of each `dim`-long row of `x` into `out`, times `weight`.
pub fn rmsnorm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let dim = weight.len();
    for (xr, or) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
        let scale = rms_scale(xr, eps);
        for ((o, v), w) in or.iter_mut().zip(xr).zip(weight) {
            *o = v * scale * w;
        }
    }
}

/// [`rmsnorm`] of each `weight.len()`-long row of `x` in place (the per-head q/k norms).
pub fn rmsnorm_in_place(x: &mut [f32], weight: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(weight.len()) {
        let scale = rms_scale(row, eps);
        row.iter_mut().zip(weight).for_each(|(v, w)| *v = *v * scale * w);
    }
}

fn rms_scale(row: &[f32], eps: f32) -> f32 {
    1.0 / (dot(row, row) / row.len() as f32 + eps).sqrt()
}

/// In-place softmax.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mut sum = 0f32;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

#[inline]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// GELU, tanh approximation (Gemma's `gelu_pytorch_tanh`, ggml's `gelu`).
#[inline]
pub fn gelu(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + 0.044715 * x * x)).tanh())
}

/// Soft-capping `cap · tanh(x / cap)` (Gemma 2's attention and final logits); `cap` 0 = none.
#[inline]
pub fn softcap(x: f32, cap: f32) -> f32 {
    if cap > 0.0 {
        cap * (x / cap).tanh()
    } else {
        x
    }
}

/// log-sum-exp of a row (for negative log-likelihoods).
pub fn log_sum_exp(x: &[f32]) -> f32 {
    let max = x.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let s: f64 = x.iter().map(|&v| ((v - max) as f64).exp()).sum();
    max + s.ln() as f32
}
