//! Ternary quantizers: BitNet b1.58 absmean, the ggml TQ1_0 / TQ2_0 and microsoft/BitNet I2_S
//! encodings of given trits, and PTQTP trit planes, producing the `TP1_G*` / `TP2_G*` row blocks.
//!
//!
//! - this file: BitNet b1.58 absmean (per tensor, per group) and its int8 activations;
//! - [`encodings`]: TQ1_0 / TQ2_0 and I2_S blocks from given trits, and back;
//! - [`ptqtp`]: PTQTP's two trit planes per group (the fast solver and the plain reference);
//! - [`rows`]: whole rows and matrices into `TP*` / `TQ*` row blocks, by [`TernaryMethod`].

pub mod encodings;
pub mod ptqtp;
pub mod rows;

pub use encodings::*;
pub use ptqtp::*;
pub use rows::*;

use crate::error::{Error, Result};

/// `clamp(round_half_even(v), −1, 1)` without the rounding call (which is a libm call on
/// x86-64 without SSE4.1): ±0.5 round to 0, NaN gives 0.
#[inline]
fn trit(v: f32) -> i8 {
    (v > 0.5) as i8 - (v < -0.5) as i8
}

/// mean |w| in f64, as f32 (0 for an empty slice).
fn mean_abs(w: &[f32]) -> f32 {
    if w.is_empty() {
        return 0.0;
    }
    (w.iter().map(|v| v.abs() as f64).sum::<f64>() / w.len() as f64) as f32
}

/// BitNet b1.58 absmean over a whole tensor: `γ = max(mean |w|, 1e-5)`,
/// `T = clamp(round(w / γ), −1, 1)` (half to even). Returns `(γ, T)`; `W ≈ γ·T`.
pub fn absmean_tensor(w: &[f32]) -> (f32, Vec<i8>) {
    let gamma = mean_abs(w).max(1e-5);
    (gamma, w.iter().map(|&v| trit(v / gamma)).collect())
}

/// Absmean per group of `g` consecutive elements (groups of one row when `g` divides the row
/// length): one `γ` per group, trits as in [`absmean_tensor`]. Returns `(γ per group, T)`.
pub fn absmean_groups(w: &[f32], g: usize) -> Result<(Vec<f32>, Vec<i8>)> {
    if g == 0 || w.len() % g != 0 {
        return Err(Error::InvalidArgument(format!(
            "absmean per group: {} weights are not a multiple of the group size {g}",
            w.len()
        )));
    }
    let mut gammas = Vec::with_capacity(w.len() / g);
    let mut trits = Vec::with_capacity(w.len());
    for grp in w.chunks_exact(g) {
        let gamma = mean_abs(grp).max(1e-5);
        gammas.push(gamma);
        trits.extend(grp.iter().map(|&v| trit(v / gamma)));
    }
    Ok((gammas, trits))
}

/// BitNet's per-token int8 activation quantizer: `s = 127 / max(max |x|, 1e-5)`,
/// `x_q = clamp(round(x·s), −128, 127)` (half to even). Returns `(s, x_q)`; `x ≈ x_q / s`.
pub fn quantize_activations_i8(x: &[f32]) -> (f32, Vec<i8>) {
    let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
    let s = 127.0 / amax.max(1e-5);
    (s, x.iter().map(|&v| (v * s).round_ties_even().clamp(-128.0, 127.0) as i8).collect())
}
