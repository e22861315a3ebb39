//! Marchenko–Pastur bulk (docs/algorithms.md §4.4, WeightWatcher `RMT_Util.py`) and WeightWatcher's
//! `mp_fit`, reproduced step by step so that it is deterministic and matches the Python package:
//!
//! 1. rescale the eigenvalues to mean 1: `λ' = λ · M/Σλ` (`Wscale² = M/Σλ`);
//! 2. fit σ of the MP density (quarter circle on singular values `√λ'` when `Q = 1`) to a
//!    linear-kernel KDE (bandwidth 0.1, sklearn's normalisation `1/(n·h)`) of the data, evaluated
//!    at 1000 points `linspace(0, max + 0.5)`, points with density `≤ 0.01` dropped; the residual
//!    is `Σ (ρ_MP − ρ_KDE)²`, and 1000 per point when `λ+` lies left of the KDE peak or beyond
//!    the grid, or `λ−` right of the peak (MP only);
//! 3. `scipy.optimize.brute` over `σ ∈ arange(0.05σ₀, 2σ₀, 0.01σ₀)`, `σ₀ = calc_sigma(Q, λ'_max)`,
//!    then its default `finish`, a Nelder–Mead polish (`scipy.optimize.fmin`, xtol = ftol = 1e-4);
//! 4. `bulk_max = λ+ = (σ(1+1/√Q))²`, Tracy–Widom `TW = Q^{-1/2}·bulk_max^{2/3}·M^{-2/3}`,
//!    `spikes = #{λ' > bulk_max + √TW}`, `softrank = bulk_max/λ'_max`; bulk edges are reported
//!    back on the original eigenvalue scale (`÷ Wscale²`).
//!
//! Caveat (WeightWatcher's, reproduced): the KDE's peak can tie between two grid points to 1e-15,
//! and the penalty depends on which is first, so eigenvalues that differ by 1e-13 (an f64 SVD vs
//! the Gram eigensolver) can move σ. On the default model's 210 matrices this happens once
//! (blk.21.attn_v: λ+ 47.16 here and with WeightWatcher's procedure on numpy's eigvalsh, 48.40
//! from WeightWatcher's analyze on its SVD).

use serde::Serialize;

use crate::error::{Error, Result};

/// `(λ−, λ+) = σ²(1 ∓ 1/√Q)²` for the ESD of `(1/N)WᵀW` with entries of variance σ², `Q = N/M`.
pub fn mp_bounds(q: f64, sigma: f64) -> (f64, f64) {
    let r = (1.0 / q).sqrt();
    ((sigma * (1.0 - r)).powi(2), (sigma * (1.0 + r)).powi(2))
}

/// MP density `ρ(λ) = Q/(2πσ²λ)·√((λ+−λ)(λ−λ−))` on `[λ−, λ+]`, 0 elsewhere.
pub fn mp_density(lambda: f64, q: f64, sigma: f64) -> f64 {
    let (a, b) = mp_bounds(q, sigma);
    if lambda <= 0.0 || lambda < a || lambda > b {
        return 0.0;
    }
    q / (2.0 * std::f64::consts::PI * sigma * sigma * lambda) * ((b - lambda) * (lambda - a)).sqrt()
}

/// Quarter-circle density of singular values for `Q = 1`: `ρ(s) = √(4−s²)/(πσ²)` on `[0, 2]`
/// (WeightWatcher's `quarter_circle_fun`, whose support does not scale with σ).
pub fn quarter_circle_density(s: f64, sigma: f64) -> f64 {
    if !(0.0..=2.0).contains(&s) {
        return 0.0;
    }
    (4.0 - s * s).sqrt() / (std::f64::consts::PI * sigma * sigma)
}

/// `calc_sigma`: the σ whose bulk edge `λ+` equals `lambda_max`: `√(λmax/(1+1/√Q)²)`.
pub fn calc_sigma(q: f64, lambda_max: f64) -> f64 {
    let inv = 1.0 / q.sqrt();
    (lambda_max / (1.0 + inv).powi(2)).sqrt()
}

/// Result of WeightWatcher's MP fit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MpFit {
    /// Fitted σ of the rescaled ESD (WeightWatcher's `sigma_mp`).
    pub sigma_mp: f64,
    /// Bulk edges `λ∓` on the original eigenvalue scale (`bulk_min`, `bulk_max`).
    pub bulk_min: f64,
    pub bulk_max: f64,
    /// `bulk_max + √TW` on the original eigenvalue scale: eigenvalues above it are spikes.
    pub spike_threshold: f64,
    /// Eigenvalues above the bulk edge plus the Tracy–Widom margin (`num_spikes`).
    pub spikes: usize,
    /// `λ+ / λ_max` (`mp_softrank`).
    pub softrank: f64,
    /// `Wscale² = M/Σλ`: the factor that rescales the eigenvalues to mean 1.
    pub scale: f64,
}

/// numpy `linspace(0, stop, num)`.
fn linspace0(stop: f64, num: usize) -> Vec<f64> {
    let step = stop / (num - 1) as f64;
    (0..num).map(|i| if i == num - 1 { stop } else { i as f64 * step }).collect()
}

/// numpy `arange(start, stop, step)` for floats (length `ceil((stop−start)/step)`, values
/// `start + i·((start+step)−start)`).
fn arange(start: f64, stop: f64, step: f64) -> Vec<f64> {
    let len = ((stop - start) / step).ceil().max(0.0) as usize;
    let delta = (start + step) - start;
    (0..len)
        .map(|i| match i {
            0 => start,
            1 => start + step,
            _ => start + i as f64 * delta,
        })
        .collect()
}

/// Linear-kernel KDE of sorted `data` at `x` (sklearn `KernelDensity(kernel='linear')`).
fn kde_linear(sorted: &[f64], x: f64, h: f64) -> f64 {
    let lo = sorted.partition_point(|&v| v <= x - h);
    let mut s = 0f64;
    for &v in &sorted[lo..] {
        let d = (x - v).abs();
        if v >= x + h {
            break;
        }
        if d < h {
            s += 1.0 - d / h;
        }
    }
    s / (sorted.len() as f64 * h)
}

struct Objective {
    q: f64,
    xs: Vec<f64>,
    ys: Vec<f64>,
    x_peak: f64,
    x_max: f64,
}

impl Objective {
    fn new(to_fit: &[f64], q: f64, bw: f64) -> Objective {
        let mut sorted = to_fit.to_vec();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let max = sorted[sorted.len() - 1];
        let grid = linspace0(max + 0.5, 1000);
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for x in grid {
            let y = kde_linear(&sorted, x, bw);
            if y > 0.01 {
                xs.push(x);
                ys.push(y);
            }
        }
        let mut ip = 0;
        for (i, &y) in ys.iter().enumerate() {
            if y > ys[ip] {
                ip = i;
            }
        }
        let x_peak = xs.get(ip).copied().unwrap_or(0.0);
        let x_max = xs.last().copied().unwrap_or(0.0);
        Objective { q, xs, ys, x_peak, x_max }
    }

    /// `resid_mp(..., allresid=False)`: the sum of squared residuals.
    fn eval(&self, sigma: f64) -> f64 {
        let pi = std::f64::consts::PI;
        if self.xs.is_empty() {
            return 0.0;
        }
        if self.q == 1.0 {
            let c = 1.0 / (pi * sigma * sigma);
            return self
                .xs
                .iter()
                .zip(&self.ys)
                .map(|(&x, &y)| {
                    let v = c * (4.0 - x * x).sqrt();
                    let v = if v.is_nan() { 0.0 } else { v };
                    (v - y).powi(2)
                })
                .sum();
        }
        let y = 1.0 / self.q;
        let r = (1.0 / self.q).sqrt();
        let b = (sigma * (1.0 + r)).powi(2);
        let a = (sigma * (1.0 - r)).powi(2);
        if b < self.x_peak || b > self.x_max || a > self.x_peak {
            return self.xs.len() as f64 * 1e6;
        }
        self.xs
            .iter()
            .zip(&self.ys)
            .map(|(&x, &yd)| {
                let v = (1.0 / (2.0 * pi * sigma * sigma * x * y)) * ((b - x) * (x - a)).sqrt();
                let v = if v.is_nan() {
                    0.0
                } else if v.is_infinite() {
                    f64::MAX.copysign(v)
                } else {
                    v
                };
                (v - yd).powi(2)
            })
            .sum()
    }
}

/// `scipy.optimize.fmin` (Nelder–Mead, 1-D, default tolerances) from `x0`.
fn nelder_mead_1d(f: impl Fn(f64) -> f64, x0: f64) -> f64 {
    const XATOL: f64 = 1e-4;
    const FATOL: f64 = 1e-4;
    const MAXITER: usize = 200;
    const MAXFUN: usize = 200;
    let (rho, chi, psi, shrink) = (1.0, 2.0, 0.5, 0.5);
    let mut fcalls = 0usize;
    let call = |x: f64, fcalls: &mut usize| -> Option<f64> {
        if *fcalls >= MAXFUN {
            return None;
        }
        *fcalls += 1;
        Some(f(x))
    };
    let x1 = if x0 != 0.0 { 1.05 * x0 } else { 0.00025 };
    let mut sim = [x0, x1];
    let mut fsim = [f64::INFINITY; 2];
    for k in 0..2 {
        match call(sim[k], &mut fcalls) {
            Some(v) => fsim[k] = v,
            None => break,
        }
    }
    let sort = |sim: &mut [f64; 2], fsim: &mut [f64; 2]| {
        // np.argsort on two elements: swap only when strictly out of order
        if fsim[1] < fsim[0] {
            sim.swap(0, 1);
            fsim.swap(0, 1);
        }
    };
    sort(&mut sim, &mut fsim);
    let mut iterations = 1;
    while fcalls < MAXFUN && iterations < MAXITER {
        if (sim[1] - sim[0]).abs() <= XATOL && (fsim[0] - fsim[1]).abs() <= FATOL {
            break;
        }
        let step = (|| -> Option<()> {
            let xbar = sim[0];
            let xr = (1.0 + rho) * xbar - rho * sim[1];
            let fxr = call(xr, &mut fcalls)?;
            if fxr < fsim[0] {
                let xe = (1.0 + rho * chi) * xbar - rho * chi * sim[1];
                let fxe = call(xe, &mut fcalls)?;
                if fxe < fxr {
                    (sim[1], fsim[1]) = (xe, fxe);
                } else {
                    (sim[1], fsim[1]) = (xr, fxr);
                }
            } else {
                // with one dimension, fsim[-2] is fsim[0]: fxr >= fsim[0] means contraction
                let mut doshrink = false;
                if fxr < fsim[1] {
                    let xc = (1.0 + psi * rho) * xbar - psi * rho * sim[1];
                    let fxc = call(xc, &mut fcalls)?;
                    if fxc <= fxr {
                        (sim[1], fsim[1]) = (xc, fxc);
                    } else {
                        doshrink = true;
                    }
                } else {
                    let xcc = (1.0 - psi) * xbar + psi * sim[1];
                    let fxcc = call(xcc, &mut fcalls)?;
                    if fxcc < fsim[1] {
                        (sim[1], fsim[1]) = (xcc, fxcc);
                    } else {
                        doshrink = true;
                    }
                }
                if doshrink {
                    sim[1] = sim[0] + shrink * (sim[1] - sim[0]);
                    fsim[1] = call(sim[1], &mut fcalls)?;
                }
            }
            Some(())
        })();
        if step.is_some() {
            iterations += 1;
        }
        sort(&mut sim, &mut fsim);
    }
    sim[0]
}

/// WeightWatcher's `mp_fit` on all `M` eigenvalues of an `N×M` matrix (`n ≥ m`).
pub fn mp_fit(evals: &[f64], n: usize, m: usize) -> Result<MpFit> {
    if evals.len() < 2 || n < m || m == 0 {
        return Err(Error::InvalidArgument(format!("mp_fit: {} eigenvalues of a {n}×{m} matrix", evals.len())));
    }
    let sum: f64 = evals.iter().sum();
    if !(sum > 0.0 && sum.is_finite()) {
        return Err(Error::InvalidArgument("mp_fit: the eigenvalues sum to zero".into()));
    }
    let q = n as f64 / m as f64;
    let wscale = (evals.len() as f64).sqrt() / sum.sqrt();
    let s2 = wscale * wscale;
    let to_plot: Vec<f64> = evals.iter().map(|&l| s2 * l).collect();
    let lmax = to_plot.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let to_fit: Vec<f64> = if q == 1.0 { to_plot.iter().map(|x| x.sqrt()).collect() } else { to_plot.clone() };
    let obj = Objective::new(&to_fit, q, 0.1);
    let s0 = calc_sigma(q, lmax);
    let grid = arange(0.05 * s0, 2.0 * s0, 0.01 * s0);
    let mut best = (grid[0], f64::INFINITY);
    for &s in &grid {
        let j = obj.eval(s);
        if j < best.1 {
            best = (s, j);
        }
    }
    let s1 = nelder_mead_1d(|s| obj.eval(s), best.0);
    let inv = 1.0 / q.sqrt();
    let bulk_max = (s1 * (1.0 + inv)).powi(2);
    let bulk_min = (s1 * (1.0 - inv)).powi(2);
    let tw = inv * bulk_max.powf(2.0 / 3.0) * (m as f64).powf(-2.0 / 3.0);
    let thresh = bulk_max + tw.sqrt();
    let spikes = to_plot.iter().filter(|&&x| x > thresh).count();
    Ok(MpFit {
        sigma_mp: s1,
        bulk_min: bulk_min / s2,
        bulk_max: bulk_max / s2,
        spike_threshold: thresh / s2,
        spikes,
        softrank: bulk_max / lmax,
        scale: s2,
    })
}
