//! Weight spectra (heavy-tailed self-regularisation, as WeightWatcher computes them): per linear
//! weight, the empirical spectral density (ESD) of `WᵀW`, WeightWatcher's power-law fit of its tail
//! (α, xmin, KS distance D, σ), the derived norms (α̂, spectral norm, stable rank, entropy), the
//! Marchenko–Pastur bulk edge with the number of spikes above it, and optionally FARMS
//! (fixed-aspect-ratio submatrix sampling).
//!
//! Conventions (chosen to match the `weightwatcher` 0.7.7 PyPI package number for number):
//! - eigenvalues are the raw squared singular values `σᵢ²` of `W` — **no `1/N`** — so
//!   `spectral_norm = λ_max = ‖W‖₂²` and `log_norm = log10 ‖W‖_F²`;
//! - the fit drops eigenvalues `≤ 1e-5` first and picks xmin by the minimum KS distance;
//! - for quantized tensors the spectrum is that of the dequantized weights.
//!
//! Entry points: [`model_spectra`] (every linear of every / selected layers of a [`Model`],
//! in parallel natively), [`matrix_spectrum`] (one row-major f32 matrix), [`compare_spectra`]
//! (the per-matrix change of α between two models: the quantization damage map).

pub mod esd;
pub mod mp;
pub mod powerlaw;
pub mod symeig;

use serde::{Deserialize, Serialize};

pub use esd::{esd, farms_eigenvalues, farms_windows, gram_eigenvalues_f64, FarmsParams, FarmsWindows};
pub use mp::{calc_sigma, mp_bounds, mp_density, mp_fit, quarter_circle_density, MpFit};
pub use powerlaw::{fit_esd, fit_power_law, power_law_candidates, PowerLawFit, XminRule, EVALS_THRESH};

use crate::error::{Error, Result};
use crate::model::{Model, Weight};

/// The seven linear weights of a Llama block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatrixKind {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl MatrixKind {
    pub const ALL: [MatrixKind; 7] = [
        MatrixKind::Q,
        MatrixKind::K,
        MatrixKind::V,
        MatrixKind::O,
        MatrixKind::Gate,
        MatrixKind::Up,
        MatrixKind::Down,
    ];

    /// The kind named `s` (`q`, `k`, `v`, `o`, `gate`, `up`, `down`).
    pub fn from_name(s: &str) -> Result<MatrixKind> {
        MatrixKind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            Error::InvalidArgument(format!("unknown matrix kind {s:?} (expected q, k, v, o, gate, up, down)"))
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            MatrixKind::Q => "q",
            MatrixKind::K => "k",
            MatrixKind::V => "v",
            MatrixKind::O => "o",
            MatrixKind::Gate => "gate",
            MatrixKind::Up => "up",
            MatrixKind::Down => "down",
        }
    }
}

/// Options of [`model_spectra`] / [`matrix_spectrum`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpectraOptions {
    /// Also compute FARMS (pooled ESD of fixed-aspect-ratio windows) and fit it.
    pub farms: bool,
    pub farms_params: FarmsParams,
    /// Layers to analyse (all when `None`).
    pub layers: Option<Vec<usize>>,
    /// Matrix kinds to analyse (all seven when `None`).
    pub kinds: Option<Vec<MatrixKind>>,
    /// xmin rule of the main fit (WeightWatcher: `Scan`).
    pub xmin: XminRule,
    /// Bins of the log10-eigenvalue histograms.
    pub bins: usize,
    /// Run WeightWatcher's MP fit (bulk edge, spikes). Cheap; on by default.
    pub mp_fit: bool,
    /// Keep the eigenvalues themselves in the records (for CCDF / MP overlay plots).
    pub keep_evals: bool,
}

impl Default for SpectraOptions {
    fn default() -> Self {
        SpectraOptions {
            farms: false,
            farms_params: FarmsParams::default(),
            layers: None,
            kinds: None,
            xmin: XminRule::Scan,
            bins: 80,
            mp_fit: true,
            keep_evals: false,
        }
    }
}

/// A histogram of log10 eigenvalues: `counts[i]` eigenvalues with log10 λ in
/// `[edges[i], edges[i+1])` (the last bin closed). Only eigenvalues `> 1e-5` are binned for
/// the ESD (those the fit sees; `below` counts the others) and `> 0` for FARMS.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Histogram {
    pub log10_edges: Vec<f64>,
    pub counts: Vec<u32>,
    pub below: usize,
}

fn log_histogram(sorted: &[f64], floor: f64, bins: usize) -> Histogram {
    let start = sorted.partition_point(|&x| x <= floor);
    let data = &sorted[start..];
    if data.is_empty() {
        return Histogram { log10_edges: vec![], counts: vec![], below: start };
    }
    let (counts, edges) =
        powerlaw::histogram(data.iter().map(|x| x.log10()), data[0].log10(), data[data.len() - 1].log10(), bins);
    Histogram { log10_edges: edges, counts, below: start }
}

/// FARMS result of one matrix.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FarmsSpectrum {
    pub alpha: f64,
    pub xmin: f64,
    #[serde(rename = "D")]
    pub d: f64,
    pub sigma: f64,
    pub alpha_hat: f64,
    pub num_pl_spikes: usize,
    /// Pooled eigenvalues.
    pub n_evals: usize,
    /// Windows (submatrix rows × cols) and how many.
    pub window: [usize; 2],
    pub n_windows: usize,
    pub rule: XminRule,
    pub histogram: Histogram,
}

/// Everything measured on one weight matrix. Eigenvalues are raw `σ²` (no `1/N`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatrixSpectrum {
    pub name: String,
    pub layer: usize,
    pub kind: MatrixKind,
    /// `[rows, cols]` of the weight (nn.Linear layout: out × in).
    pub shape: [usize; 2],
    /// `N = max(rows, cols)`, `M = min(rows, cols)`, `Q = N/M`.
    pub n: usize,
    pub m: usize,
    pub q: f64,
    /// Eigenvalues computed (`M`) and those above 1e-5 that the fit saw.
    pub n_evals: usize,
    pub n_evals_fit: usize,
    pub histogram: Histogram,
    // power-law fit
    pub alpha: f64,
    pub xmin: f64,
    pub xmax: f64,
    #[serde(rename = "D")]
    pub d: f64,
    pub sigma: f64,
    pub num_pl_spikes: usize,
    pub xmin_rule: XminRule,
    // norms
    /// `α · log10 λ_max` (WeightWatcher's `alpha_weighted`).
    pub alpha_hat: f64,
    /// `λ_max` (squared largest singular value).
    pub spectral_norm: f64,
    pub log_spectral_norm: f64,
    /// `Σλ = ‖W‖_F²`.
    pub norm: f64,
    pub log_norm: f64,
    /// `Σλ / λ_max`.
    pub stable_rank: f64,
    /// `log10 Σ λ^α`.
    pub log_alpha_norm: f64,
    /// Matrix entropy `−Σ p ln p / ln(rank)`, `p = λ/Σλ` (WeightWatcher's definition).
    pub entropy: f64,
    // Marchenko–Pastur
    /// Bulk edge `λ+` of the fitted MP law (original eigenvalue scale; NaN without `mp_fit`).
    pub mp_edge: f64,
    /// Eigenvalues above `λ+ + √TW` (WeightWatcher's `num_spikes`).
    pub spikes: usize,
    pub mp: Option<MpFit>,
    pub farms: Option<FarmsSpectrum>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evals: Option<Vec<f64>>,
    /// Wall time for this matrix (dequantization included).
    pub seconds: f64,
}

/// WeightWatcher's `matrix_entropy` on eigenvalues (`svals = √λ`, tolerance `max(s)·N·ε`).
fn matrix_entropy(evals: &[f64], n: usize) -> f64 {
    const EPSILON: f64 = 1e-10;
    let smax = evals.iter().cloned().fold(0f64, f64::max).sqrt();
    let tol = smax * n as f64 * f64::EPSILON;
    let rank = evals.iter().filter(|&&l| l.sqrt() > tol).count() as f64 + EPSILON;
    let sum: f64 = evals.iter().sum();
    let h: f64 = evals
        .iter()
        .map(|&l| {
            let p = l / sum + EPSILON;
            p * p.ln()
        })
        .sum();
    -h / rank.ln()
}

/// Analyse one row-major `rows × cols` f32 matrix.
pub fn matrix_spectrum(
    name: &str,
    layer: usize,
    kind: MatrixKind,
    w: &[f32],
    rows: usize,
    cols: usize,
    opts: &SpectraOptions,
) -> Result<MatrixSpectrum> {
    let t0 = crate::clock::now_ms();
    let bad = |message: String| Error::BadTensor { tensor: name.to_string(), message };
    if let Some(i) = w.iter().position(|x| !x.is_finite()) {
        return Err(bad(format!("element {i} is {} (not finite)", w[i])));
    }
    let evals = esd::esd(w, rows, cols)?;
    let (n, m) = (rows.max(cols), rows.min(cols));
    let fit = powerlaw::fit_esd(&evals, opts.xmin).map_err(|e| bad(format!("power-law fit: {e}")))?;
    let lmax = evals[evals.len() - 1];
    let norm: f64 = evals.iter().sum();
    let mp = if opts.mp_fit { Some(mp::mp_fit(&evals, n, m).map_err(|e| bad(e.to_string()))?) } else { None };
    let farms = if opts.farms {
        let (pooled, win) = esd::farms_eigenvalues(w, rows, cols, &opts.farms_params)?;
        let start = pooled.partition_point(|&x| x <= 0.0);
        let f = powerlaw::fit_power_law(&pooled[start..], opts.farms_params.xmin)
            .map_err(|e| bad(format!("FARMS power-law fit: {e}")))?;
        let fmax = pooled[pooled.len() - 1];
        Some(FarmsSpectrum {
            alpha: f.alpha,
            xmin: f.xmin,
            d: f.d,
            sigma: f.sigma,
            alpha_hat: f.alpha * fmax.log10(),
            num_pl_spikes: f.num_pl_spikes,
            n_evals: pooled.len(),
            window: [win.m, win.mc],
            n_windows: win.row_starts.len() * win.col_starts.len(),
            rule: f.rule,
            histogram: log_histogram(&pooled, 0.0, opts.bins),
        })
    } else {
        None
    };
    let log_alpha_norm = evals.iter().map(|&l| l.powf(fit.alpha)).sum::<f64>().log10();
    Ok(MatrixSpectrum {
        name: name.to_string(),
        layer,
        kind,
        shape: [rows, cols],
        n,
        m,
        q: n as f64 / m as f64,
        n_evals: evals.len(),
        n_evals_fit: fit.n,
        histogram: log_histogram(&evals, EVALS_THRESH, opts.bins),
        alpha: fit.alpha,
        xmin: fit.xmin,
        xmax: fit.xmax,
        d: fit.d,
        sigma: fit.sigma,
        num_pl_spikes: fit.num_pl_spikes,
        xmin_rule: fit.rule,
        alpha_hat: fit.alpha * lmax.log10(),
        spectral_norm: lmax,
        log_spectral_norm: lmax.log10(),
        norm,
        log_norm: norm.log10(),
        stable_rank: norm / lmax,
        log_alpha_norm,
        entropy: matrix_entropy(&evals, n),
        mp_edge: mp.as_ref().map_or(f64::NAN, |m| m.bulk_max),
        spikes: mp.as_ref().map_or(0, |m| m.spikes),
        mp,
        farms,
        evals: opts.keep_evals.then_some(evals),
        seconds: (crate::clock::now_ms() - t0) / 1000.0,
    })
}

/// The linears of `model` selected by `opts`, in layer order then q, k, v, o, gate, up, down.
pub fn model_matrices<'m>(model: &'m Model, opts: &SpectraOptions) -> Result<Vec<(usize, MatrixKind, &'m Weight)>> {
    let n_layers = model.layers.len();
    let layers: Vec<usize> = match &opts.layers {
        Some(ls) => {
            if let Some(&bad) = ls.iter().find(|&&l| l >= n_layers) {
                return Err(Error::InvalidArgument(format!(
                    "spectra: layer {bad} does not exist (the model has {n_layers} layers, 0..{})",
                    n_layers.saturating_sub(1)
                )));
            }
            ls.clone()
        }
        None => (0..n_layers).collect(),
    };
    let kinds = opts.kinds.clone().unwrap_or_else(|| MatrixKind::ALL.to_vec());
    let mut out = Vec::new();
    for l in layers {
        let lw = &model.layers[l];
        for &k in &kinds {
            let w = match k {
                MatrixKind::Q => &lw.wq,
                MatrixKind::K => &lw.wk,
                MatrixKind::V => &lw.wv,
                MatrixKind::O => &lw.wo,
                MatrixKind::Gate => &lw.w_gate,
                MatrixKind::Up => &lw.w_up,
                MatrixKind::Down => &lw.w_down,
            };
            out.push((l, k, w));
        }
    }
    Ok(out)
}

/// Dequantize a weight of `model` to a row-major f32 matrix.
pub fn dequantize_weight(model: &Model, w: &Weight) -> Result<Vec<f32>> {
    let q = model.matrix(w);
    let mut out = vec![0f32; w.rows * w.cols];
    for (r, row) in out.chunks_exact_mut(w.cols).enumerate() {
        q.dequant_row(r, row)?;
    }
    Ok(out)
}

fn one(model: &Model, l: usize, k: MatrixKind, w: &Weight, opts: &SpectraOptions) -> Result<MatrixSpectrum> {
    let t0 = crate::clock::now_ms();
    let data = dequantize_weight(model, w)?;
    let mut s = matrix_spectrum(&w.name, l, k, &data, w.rows, w.cols, opts)?;
    s.seconds = (crate::clock::now_ms() - t0) / 1000.0;
    Ok(s)
}

/// Spectra of the linear weights of `model` (all 7 per layer, or those `opts` selects).
/// `progress(done, total)` is called on the calling thread after each matrix. Natively the
/// matrices are analysed in parallel (rayon; `RAYON_NUM_THREADS` applies), in wasm one by one.
pub fn model_spectra(
    model: &Model,
    opts: &SpectraOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<MatrixSpectrum>> {
    let jobs = model_matrices(model, opts)?;
    let total = jobs.len();
    // Inside a rayon worker, blocking it on the progress channel could starve the pool: go
    // sequentially there (as in wasm).
    #[cfg(not(target_arch = "wasm32"))]
    if rayon::current_thread_index().is_none() {
        use rayon::prelude::*;
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        return std::thread::scope(|s| {
            let worker = s.spawn(move || {
                jobs.par_iter()
                    .map(|&(l, k, w)| {
                        let r = one(model, l, k, w, opts);
                        let _ = tx.send(());
                        r
                    })
                    .collect::<Result<Vec<_>>>()
            });
            let mut done = 0;
            while rx.recv().is_ok() {
                done += 1;
                progress(done, total);
            }
            worker.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        });
    }
    let mut out = Vec::with_capacity(total);
    for (i, &(l, k, w)) in jobs.iter().enumerate() {
        out.push(one(model, l, k, w, opts)?);
        progress(i + 1, total);
    }
    Ok(out)
}

/// Change of the spectrum from `a` (e.g. the source model) to `b` (its quantized version) for one
/// matrix: `delta_* = b − a`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpectrumDelta {
    pub name: String,
    pub layer: usize,
    pub kind: MatrixKind,
    pub alpha_a: f64,
    pub alpha_b: f64,
    pub delta_alpha: f64,
    /// `(α_b − α_a)/α_a`.
    pub rel_delta_alpha: f64,
    pub delta_alpha_hat: f64,
    pub delta_log_spectral_norm: f64,
    pub delta_stable_rank: f64,
    pub delta_spikes: i64,
    /// FARMS Δα when both sides have FARMS.
    pub farms_delta_alpha: Option<f64>,
}

/// Per-matrix change of α (and of α̂, spectral norm, stable rank, spikes) between two sets of
/// spectra, matched by tensor name, in `a`'s order; matrices missing from `b` are skipped.
pub fn compare_spectra(a: &[MatrixSpectrum], b: &[MatrixSpectrum]) -> Vec<SpectrumDelta> {
    let by_name: std::collections::HashMap<&str, &MatrixSpectrum> = b.iter().map(|s| (s.name.as_str(), s)).collect();
    a.iter()
        .filter_map(|x| {
            let y = by_name.get(x.name.as_str())?;
            Some(SpectrumDelta {
                name: x.name.clone(),
                layer: x.layer,
                kind: x.kind,
                alpha_a: x.alpha,
                alpha_b: y.alpha,
                delta_alpha: y.alpha - x.alpha,
                rel_delta_alpha: (y.alpha - x.alpha) / x.alpha,
                delta_alpha_hat: y.alpha_hat - x.alpha_hat,
                delta_log_spectral_norm: y.log_spectral_norm - x.log_spectral_norm,
                delta_stable_rank: y.stable_rank - x.stable_rank,
                delta_spikes: y.spikes as i64 - x.spikes as i64,
                farms_delta_alpha: match (&x.farms, &y.farms) {
                    (Some(fa), Some(fb)) => Some(fb.alpha - fa.alpha),
                    _ => None,
                },
            })
        })
        .collect()
}
