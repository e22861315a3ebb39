//! Empirical spectral densities: the eigenvalues of `WᵀW` (squared singular values of `W`) and
//! FARMS' pooled eigenvalues of fixed-aspect-ratio submatrices.
//!
//! **Normalisation** (WeightWatcher ≥ 0.6.5 convention): the eigenvalues are the raw `σᵢ²` of `W`,
//! i.e. of the Gram matrix `WᵀW`, **not** divided by `N`. The HT-SR papers' `(1/N)WᵀW` shifts
//! `log_norm`, `log_spectral_norm` and `alpha_hat` by `log10 N`; the exponent α does not change.
//!
//! Method: the `M×M` Gram matrix (`M = min(rows, cols)`, the product taken over the long side
//! `N`) is formed in f64 from the f32 weights (products of two f32 are exact in f64), only its
//! lower triangle, with faer's cache-blocked SIMD matrix product (in wasm: gemm's SIMD128
//! kernels); then an eigenvalues-only symmetric solver gives the spectrum: faer's natively, in
//! wasm [`super::symeig`] (Householder tridiagonalization, one fused SIMD128 pass per step, and
//! faer's tridiagonal QR). This costs `N·M² + 4/3·M³` flops against
//! `~4·N·M²` for an SVD, and for the tail (everything WeightWatcher fits) it agrees with an f64
//! SVD to ~1e-13 relative; eigenvalues below `~1e-13·λ_max` carry absolute error of that order
//! (they are far below the 1e-5 threshold of the fit).

use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, MatRef, Par};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The `M×M` Gram matrix of a row-major `rows × cols` f64 matrix (`WᵀW` when `rows ≥ cols`,
/// `WWᵀ` otherwise), `M = min(rows, cols)`: its lower triangle in a column-major `M·M` vector (the
/// upper triangle is zero).
pub fn gram_lower(w: &[f64], rows: usize, cols: usize) -> Result<(Vec<f64>, usize)> {
    if rows == 0 || cols == 0 || w.len() != rows * cols {
        return Err(Error::InvalidArgument(format!(
            "esd: matrix of {rows}×{cols} needs {} values, got {}",
            rows * cols,
            w.len()
        )));
    }
    // Row-major W (rows × cols) is column-major A = Wᵀ (cols × rows).
    let a = MatRef::from_column_major_slice(w, cols, rows);
    let m = rows.min(cols);
    let mut lower = vec![0f64; m * m];
    // rows ≥ cols: WᵀW = A·Aᵀ (cols × cols); rows < cols: WWᵀ = Aᵀ·A (rows × rows).
    let (lhs, rhs) = if rows >= cols { (a, a.transpose()) } else { (a.transpose(), a) };
    triangular::matmul(
        faer::MatMut::from_column_major_slice_mut(&mut lower, m, m),
        BlockStructure::TriangularLower,
        Accum::Replace,
        lhs,
        BlockStructure::Rectangular,
        rhs,
        BlockStructure::Rectangular,
        1.0,
        Par::Seq,
    );
    Ok((lower, m))
}

/// Eigenvalues of the symmetric matrix in `lower` (column-major lower triangle, `m × m`): in wasm
/// [`super::symeig`] (faer's tridiagonalization has no SIMD128 path there), natively faer's
/// self-adjoint eigensolver (eigenvalues only; AVX2/FMA, faster than `symeig` natively).
fn gram_eigensolve(lower: Vec<f64>, m: usize) -> Result<Vec<f64>> {
    #[cfg(target_arch = "wasm32")]
    {
        let mut lower = lower;
        super::symeig::symmetric_eigenvalues(&mut lower, m).map_err(|e| Error::InvalidArgument(format!("esd: {e}")))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        MatRef::from_column_major_slice(&lower, m, m)
            .self_adjoint_eigenvalues(faer::Side::Lower)
            .map_err(|e| Error::InvalidArgument(format!("esd: eigensolver did not converge ({e:?})")))
    }
}

/// Eigenvalues (ascending, clamped at 0) of the Gram matrix of a row-major `rows × cols` f64
/// matrix: `WᵀW` when `rows ≥ cols`, `WWᵀ` otherwise (the same non-zero spectrum).
pub fn gram_eigenvalues_f64(w: &[f64], rows: usize, cols: usize) -> Result<Vec<f64>> {
    let (lower, m) = gram_lower(w, rows, cols)?;
    let mut ev = gram_eigensolve(lower, m)?;
    for v in ev.iter_mut() {
        if !v.is_finite() {
            return Err(Error::InvalidArgument("esd: non-finite eigenvalue (non-finite weights?)".into()));
        }
        if *v < 0.0 {
            *v = 0.0;
        }
    }
    ev.sort_by(|a, b| a.total_cmp(b));
    Ok(ev)
}

/// [`gram_eigenvalues_f64`] of a row-major f32 matrix.
pub fn esd(w: &[f32], rows: usize, cols: usize) -> Result<Vec<f64>> {
    let w64: Vec<f64> = w.iter().map(|&x| x as f64).collect();
    gram_eigenvalues_f64(&w64, rows, cols)
}

/// FARMS sampling parameters (`fixed_sampling` of HUST-AI-HYZ/FARMS, used when
/// `sampling_ops_per_dim` is set). Defaults are the reference code's function defaults:
/// 100-row windows, aspect ratio 2 (100×200), 10 window starts per dimension, `xmin_mid`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FarmsParams {
    /// Submatrix rows `m` (capped by the matrix's smaller side).
    pub num_row_samples: usize,
    /// Submatrix aspect ratio: columns `mc = ⌊m · q_ratio⌋`.
    pub q_ratio: f64,
    /// Window starts per dimension (`sampling_ops_per_dim`, at least 1).
    pub ops_per_dim: usize,
    /// The xmin rule of the fit on the pooled eigenvalues (FARMS: `xmin_mid`).
    pub xmin: super::powerlaw::XminRule,
}

impl Default for FarmsParams {
    fn default() -> Self {
        FarmsParams { num_row_samples: 100, q_ratio: 2.0, ops_per_dim: 10, xmin: super::powerlaw::XminRule::Mid }
    }
}

/// The windows FARMS samples from a `rows × cols` weight (nn.Linear layout, not re-oriented).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FarmsWindows {
    /// Submatrix rows.
    pub m: usize,
    /// Submatrix columns.
    pub mc: usize,
    pub row_step: usize,
    pub col_step: usize,
    pub row_starts: Vec<usize>,
    pub col_starts: Vec<usize>,
}

/// Window arithmetic of FARMS `fixed_sampling` (docs/algorithms.md §4.5):
/// `m = min(num_row_samples, rows, cols)`, `mc = ⌊m·Q⌋`,
/// `row_step = max(1, (rows−m) div (ops−1))`, `n_rw = min(ops, max(1, (rows−m) div row_step + 1))`,
/// starts `rᵢ = min(i·row_step, rows−m)`; columns likewise.
pub fn farms_windows(rows: usize, cols: usize, p: &FarmsParams) -> Result<FarmsWindows> {
    let m = p.num_row_samples.min(rows).min(cols);
    let mc = (m as f64 * p.q_ratio).floor() as usize;
    if m == 0 || mc == 0 || mc > cols || !p.q_ratio.is_finite() || p.ops_per_dim == 0 {
        return Err(Error::InvalidArgument(format!(
            "farms: cannot sample {m}×{mc} windows from a {rows}×{cols} matrix (num_row_samples {}, q_ratio {}, ops_per_dim {})",
            p.num_row_samples, p.q_ratio, p.ops_per_dim
        )));
    }
    let ops = p.ops_per_dim;
    let step = |len: usize, win: usize| if ops > 1 { ((len - win) / (ops - 1)).max(1) } else { 1 };
    let row_step = step(rows, m);
    let col_step = step(cols, mc);
    let n_rw = ops.min(((rows - m) / row_step + 1).max(1));
    let n_cw = ops.min(((cols - mc) / col_step + 1).max(1));
    let row_starts = (0..n_rw).map(|i| (i * row_step).min(rows - m)).collect();
    let col_starts = (0..n_cw).map(|j| (j * col_step).min(cols - mc)).collect();
    Ok(FarmsWindows { m, mc, row_step, col_step, row_starts, col_starts })
}

/// FARMS pooled ESD: the squared singular values of every window `W[r:r+m, c:c+mc]`,
/// concatenated and sorted ascending (no zero filter, as FARMS' `filter_zeros=False`).
pub fn farms_eigenvalues(w: &[f32], rows: usize, cols: usize, p: &FarmsParams) -> Result<(Vec<f64>, FarmsWindows)> {
    if w.len() != rows * cols {
        return Err(Error::InvalidArgument(format!(
            "farms: {rows}×{cols} needs {} values, got {}",
            rows * cols,
            w.len()
        )));
    }
    let win = farms_windows(rows, cols, p)?;
    let (m, mc) = (win.m, win.mc);
    let mut pooled = Vec::with_capacity(win.row_starts.len() * win.col_starts.len() * m.min(mc));
    let mut sub = vec![0f64; m * mc];
    for &r0 in &win.row_starts {
        for &c0 in &win.col_starts {
            for r in 0..m {
                let src = &w[(r0 + r) * cols + c0..(r0 + r) * cols + c0 + mc];
                for (d, &s) in sub[r * mc..(r + 1) * mc].iter_mut().zip(src) {
                    *d = s as f64;
                }
            }
            pooled.extend(gram_eigenvalues_f64(&sub, m, mc)?);
        }
    }
    pooled.sort_by(|a, b| a.total_cmp(b));
    Ok((pooled, win))
}
