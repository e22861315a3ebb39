//! The power-law fit of an ESD's tail exactly as WeightWatcher 0.7.7 does it (`pl_package="ww"`,
//! class `WWFit`, docs/algorithms.md §4.2): continuous power law `p(λ) = (α−1)/λ_min · (λ/λ_min)^(−α)` for
//! `λ ≥ λ_min`, α by maximum likelihood (Hill), `λ_min` by minimum Kolmogorov–Smirnov distance
//! (Clauset–Shalizi–Newman), `xmax` = the largest eigenvalue (not fitted).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// WeightWatcher's `EVALS_THRESH`: eigenvalues at or below it are dropped before the fit.
pub const EVALS_THRESH: f64 = 1e-5;
/// WeightWatcher 0.7.7's `SMALL_N_CUTOFF`: fewer eigenvalues than this use the small-N fit.
pub const SMALL_N_CUTOFF: usize = 20;

/// How `xmin` is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum XminRule {
    /// WeightWatcher's default: every data point but the last is a candidate; the one with the
    /// smallest KS distance wins (the first on ties).
    #[default]
    Scan,
    /// TempBalance / FARMS `xmin_mid` (`xmin_pos = 2`): the fixed index `⌊n/2⌋`, no scan.
    Mid,
    /// `fix_fingers='xmin_peak'`, the *intended* rule: histogram of log10 λ with 100 bins,
    /// `x_peak = 10^(left edge of the tallest bin)`, scan only candidates with
    /// `0.95·x_peak ≤ xmin ≤ 1.5·x_peak`. (WeightWatcher passes the lower bound as a log10 value,
    /// and the FARMS copy compares the linear xmin against `log10(0.95·x_peak)`, which in
    /// practice removes the lower bound; this implementation applies it.) With no candidate in
    /// the window it falls back to `Scan`.
    Peak,
}

/// The result of a power-law fit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PowerLawFit {
    pub alpha: f64,
    pub xmin: f64,
    /// The largest eigenvalue (WeightWatcher does not fit xmax).
    pub xmax: f64,
    /// KS distance of the chosen fit.
    #[serde(rename = "D")]
    pub d: f64,
    /// Standard error `(α−1)/√n_tail`.
    pub sigma: f64,
    /// Index of xmin in the sorted data the fit saw.
    pub xmin_index: usize,
    /// Number of data points the fit saw (after any threshold).
    pub n: usize,
    /// `#{λ ≥ xmin}` (WeightWatcher's `num_pl_spikes`).
    pub num_pl_spikes: usize,
    pub rule: XminRule,
    /// True when WeightWatcher 0.7.7's small-N estimator was used (fewer than 20 points).
    pub small_n: bool,
}

fn check_sorted_positive(data: &[f64]) -> Result<()> {
    if data.len() < 2 {
        return Err(Error::InvalidArgument(format!("power-law fit needs at least 2 eigenvalues, got {}", data.len())));
    }
    if data.iter().any(|&x| !(x > 0.0 && x.is_finite())) {
        return Err(Error::InvalidArgument("power-law fit needs positive finite eigenvalues".into()));
    }
    if data.windows(2).any(|w| w[0] > w[1]) {
        return Err(Error::InvalidArgument("power-law fit needs eigenvalues sorted ascending".into()));
    }
    Ok(())
}

/// Hill/MLE estimate for candidate `i`: `α = 1 + n / (Σ_{k≥i} ln xₖ − n ln xᵢ)`.
#[inline]
fn hill(logs: &[f64], i: usize) -> f64 {
    let n = (logs.len() - i) as f64;
    let s: f64 = logs[i..].iter().sum();
    1.0 + n / (s - n * logs[i])
}

/// KS distance of candidate `i` with exponent `alpha`:
/// `max_k |1 − (x_{i+k}/x_i)^(1−α) − k/n|`; stops early (returning a value ≥ `bound`) once the
/// running maximum reaches `bound`.
#[inline]
fn ks(logs: &[f64], i: usize, alpha: f64, bound: f64) -> f64 {
    let n = logs.len() - i;
    let nf = n as f64;
    let li = logs[i];
    let e = 1.0 - alpha;
    let mut d = 0f64;
    for (k, &lk) in logs[i..].iter().enumerate() {
        let v = (1.0 - (e * (lk - li)).exp() - k as f64 / nf).abs();
        if v > d {
            d = v;
            if d >= bound {
                return d;
            }
        }
    }
    d
}

/// WWFit's `D_i`: the KS distance when `α_i > 1`, else 1. A tail of equal values (α = ∞) also
/// counts as no fit (D = 1) instead of numpy's NaN.
#[inline]
fn ks_or_one(logs: &[f64], i: usize, alpha: f64, bound: f64) -> f64 {
    if alpha > 1.0 && alpha.is_finite() {
        ks(logs, i, alpha, bound)
    } else {
        1.0
    }
}

/// Every candidate's `(α_i, D_i)` for `i = 0 .. n−2` (WWFit's `alphas` and `Ds`; `D_i = 1`
/// when `α_i ≤ 1`). `data` must be sorted ascending and positive.
pub fn power_law_candidates(data: &[f64]) -> Result<Vec<(f64, f64)>> {
    check_sorted_positive(data)?;
    let logs: Vec<f64> = data.iter().map(|x| x.ln()).collect();
    Ok((0..data.len() - 1)
        .map(|i| {
            let a = hill(&logs, i);
            (a, ks_or_one(&logs, i, a, f64::INFINITY))
        })
        .collect())
}

fn finish(data: &[f64], i: usize, alpha: f64, d: f64, rule: XminRule, small_n: bool) -> PowerLawFit {
    let n = data.len();
    let xmin = data[i];
    PowerLawFit {
        alpha,
        xmin,
        xmax: data[n - 1],
        d,
        sigma: (alpha - 1.0) / ((n - i) as f64).sqrt(),
        xmin_index: i,
        n,
        num_pl_spikes: data.iter().filter(|&&x| x >= xmin).count(),
        rule,
        small_n,
    }
}

/// x_peak of the `Peak` rule: numpy `histogram(log10(data), bins=100)`, left edge of the first
/// tallest bin.
fn xmin_peak(data: &[f64]) -> f64 {
    let lo = data[0].log10();
    let hi = data[data.len() - 1].log10();
    let (counts, edges) = histogram(data.iter().map(|x| x.log10()), lo, hi, 100);
    let mut best = 0;
    for (b, &c) in counts.iter().enumerate() {
        if c > counts[best] {
            best = b;
        }
    }
    10f64.powf(edges[best])
}

/// The standard WWFit on `data` (sorted ascending, positive; no threshold applied here).
pub fn fit_power_law(data: &[f64], rule: XminRule) -> Result<PowerLawFit> {
    check_sorted_positive(data)?;
    let logs: Vec<f64> = data.iter().map(|x| x.ln()).collect();
    let n = data.len();
    let candidates: Vec<usize> = match rule {
        XminRule::Mid => {
            let i = (n / 2).min(n - 2);
            let a = hill(&logs, i);
            let d = ks_or_one(&logs, i, a, f64::INFINITY);
            return Ok(finish(data, i, a, d, rule, false));
        }
        XminRule::Scan => (0..n - 1).collect(),
        XminRule::Peak => {
            let xp = xmin_peak(data);
            let c: Vec<usize> = (0..n - 1).filter(|&i| data[i] >= 0.95 * xp && data[i] <= 1.5 * xp).collect();
            if c.is_empty() {
                (0..n - 1).collect()
            } else {
                c
            }
        }
    };
    let (mut bi, mut ba, mut bd) = (candidates[0], f64::NAN, f64::INFINITY);
    for &i in &candidates {
        let a = hill(&logs, i);
        let d = ks_or_one(&logs, i, a, bd);
        if d < bd {
            (bi, ba, bd) = (i, a, d);
        }
    }
    if ba.is_nan() {
        ba = hill(&logs, bi);
    }
    Ok(finish(data, bi, ba, bd, rule, false))
}

/// WeightWatcher 0.7.7's `fit_powerlaw_smallN` (used for fewer than 20 points): bias-corrected
/// MLE `α = 1 + (n−1)/Σ ln(x/xmin)`, candidates with at least 8 tail points, xmin minimising
/// `D − 0.868/√n_tail`.
pub fn fit_power_law_small_n(data: &[f64]) -> Result<PowerLawFit> {
    check_sorted_positive(data)?;
    let logs: Vec<f64> = data.iter().map(|x| x.ln()).collect();
    let n_tot = data.len();
    const K_MIN: usize = 8;
    let mut best: Option<(usize, f64, f64, f64)> = None; // (i, alpha, D, J)
    for i in 0..n_tot - 1 {
        let n_int = n_tot - i;
        if n_int < K_MIN {
            continue;
        }
        let n = n_int as f64;
        let s: f64 = logs[i..].iter().sum::<f64>() - n * logs[i];
        if s <= 1e-12 {
            continue;
        }
        let a = 1.0 + (n - 1.0) / s;
        if a <= 1.0 {
            continue;
        }
        let d = ks_or_one(&logs, i, a, f64::INFINITY);
        let j = d - 0.868 / n.sqrt();
        if best.is_none_or(|b| j < b.3) {
            best = Some((i, a, d, j));
        }
    }
    Ok(match best {
        Some((i, a, d, _)) => finish(data, i, a, d, XminRule::Scan, true),
        None => {
            let n = n_tot as f64;
            let s: f64 = logs.iter().sum::<f64>() - n * logs[0];
            if s <= 1e-12 {
                let mut f = finish(data, 0, 1.0, 1.0, XminRule::Scan, true);
                f.sigma = 0.0;
                f
            } else {
                let a = 1.0 + (n - 1.0) / s;
                finish(data, 0, a, ks_or_one(&logs, 0, a, f64::INFINITY), XminRule::Scan, true)
            }
        }
    })
}

/// WeightWatcher's layer fit: drop eigenvalues `≤ 1e-5` ([`EVALS_THRESH`]), then the small-N
/// estimator below 20 points (rule `Scan` only, as in 0.7.7) or [`fit_power_law`].
/// `evals` must be sorted ascending.
pub fn fit_esd(evals: &[f64], rule: XminRule) -> Result<PowerLawFit> {
    let start = evals.partition_point(|&x| x <= EVALS_THRESH);
    let data = &evals[start..];
    if rule == XminRule::Scan && data.len() < SMALL_N_CUTOFF {
        fit_power_law_small_n(data)
    } else {
        fit_power_law(data, rule)
    }
}

/// numpy-style histogram of `values` over `[lo, hi]` with `bins` equal bins (the last bin closed);
/// returns (counts, bins+1 edges). Values outside `[lo, hi]` are ignored.
pub fn histogram(values: impl Iterator<Item = f64>, lo: f64, hi: f64, bins: usize) -> (Vec<u32>, Vec<f64>) {
    let bins = bins.max(1);
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 0.5, lo + 0.5) };
    // np.linspace(lo, hi, bins + 1): b·step + lo, the last edge exactly hi
    let step = (hi - lo) / bins as f64;
    let edges: Vec<f64> = (0..=bins).map(|b| if b == bins { hi } else { b as f64 * step + lo }).collect();
    let mut counts = vec![0u32; bins];
    for v in values {
        if !(v >= lo && v <= hi) {
            continue;
        }
        let mut b = (((v - lo) / (hi - lo)) * bins as f64) as usize;
        if b >= bins {
            b = bins - 1;
        }
        // numpy corrects the computed bin against the edges
        if v < edges[b] && b > 0 {
            b -= 1;
        } else if b + 1 < bins && v >= edges[b + 1] {
            b += 1;
        }
        counts[b] += 1;
    }
    (counts, edges)
}
