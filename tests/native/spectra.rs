//! Weight spectra (crate/src/analysis): the docs/algorithms.md §4.7 test vectors, agreement with the
//! `weightwatcher` 0.7.7 PyPI package and numpy's eigvalsh on real matrices of the default model
//! (tests/py/ww_ref.py), FARMS against a numpy implementation, the model API and the CLI.

use std::process::Command;

use serde::Deserialize;
use serde_json::Value;
use tritium::analysis::{
    self, calc_sigma, compare_spectra, esd, farms_eigenvalues, farms_windows, fit_esd, fit_power_law, matrix_spectrum,
    model_spectra, mp_bounds, mp_density, power_law_candidates, FarmsParams, MatrixKind, SpectraOptions, XminRule,
};
use tritium::quant::{self, GgmlType};

use crate::common;

const PL_DATA: [f64; 16] = [0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0, 3.5, 6.0, 10.0];

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: got {a}, expected {b} (tol {tol})");
}

fn rel_close(a: f64, b: f64, rtol: f64, what: &str) {
    assert!(
        (a - b).abs() <= rtol * b.abs().max(1e-300),
        "{what}: got {a}, expected {b} (rel {})",
        (a - b).abs() / b.abs()
    );
}

#[test]
fn powerlaw_fit_test_vector() {
    let alphas = [
        1.293952, 1.340650, 1.364992, 1.409885, 1.460190, 1.465675, 1.511066, 1.530104, 1.582492, 1.689091, 1.817629,
        1.941448, 2.224115, 2.888195, 4.915230,
    ];
    let ds = [
        0.207331, 0.176397, 0.158533, 0.149313, 0.153415, 0.165743, 0.174934, 0.187103, 0.185223, 0.186725, 0.200830,
        0.234966, 0.245927, 0.305253, 0.364665,
    ];
    let c = power_law_candidates(&PL_DATA).unwrap();
    assert_eq!(c.len(), 15);
    for (i, &(a, d)) in c.iter().enumerate() {
        close(a, alphas[i], 1e-6, &format!("alpha_{i}"));
        close(d, ds[i], 1e-6, &format!("D_{i}"));
    }
    let f = fit_power_law(&PL_DATA, XminRule::Scan).unwrap();
    assert_eq!(f.xmin_index, 3);
    assert_eq!(f.xmin, 0.05);
    close(f.alpha, 1.4098848023, 1e-9, "alpha");
    close(f.d, 0.1493131846, 1e-9, "D");
    close(f.sigma, 0.1136815901, 1e-9, "sigma");
    assert_eq!(f.num_pl_spikes, 13);
    assert_eq!(f.xmax, 10.0);
    // alpha-hat = alpha · log10(λmax) = alpha here
    close(f.alpha * f.xmax.log10(), 1.4098848, 1e-7, "alpha_hat");
    // Unsorted or non-positive input is refused, not silently fitted.
    let mut bad = PL_DATA;
    bad.swap(0, 5);
    assert!(fit_power_law(&bad, XminRule::Scan).is_err());
    assert!(fit_power_law(&[0.0, 1.0, 2.0], XminRule::Scan).is_err());
    assert!(fit_power_law(&[1.0], XminRule::Scan).is_err());
    // A flat spectrum (orthogonal W) has no power-law tail: D = 1, not a NaN that wins the scan.
    let flat = fit_power_law(&[2.0; 30], XminRule::Scan).unwrap();
    assert_eq!(flat.d, 1.0);
}

#[test]
fn powerlaw_xmin_mid_and_peak() {
    let f = fit_power_law(&PL_DATA, XminRule::Mid).unwrap();
    assert_eq!(f.xmin_index, 8);
    assert_eq!(f.xmin, 0.3);
    close(f.alpha, 1.5824919591, 1e-9, "alpha (xmin_mid)");
    close(f.d, 0.1852234728, 1e-9, "D (xmin_mid)");
    // xmin_peak: log10 histogram with 100 bins over [-2, 1]; the tallest first bin holds 0.01,
    // so x_peak = 0.01 and only candidates in [0.0095, 0.015] are scanned: i = 0.
    let p = fit_power_law(&PL_DATA, XminRule::Peak).unwrap();
    assert_eq!(p.xmin_index, 0);
    close(p.alpha, 1.293952, 1e-6, "alpha (xmin_peak)");
    // WeightWatcher's layer fit drops λ ≤ 1e-5 and uses its small-N estimator below 20 points.
    let mut with_zeros = vec![0.0, 1e-7, 1e-5];
    with_zeros.extend_from_slice(&PL_DATA);
    let w = fit_esd(&with_zeros, XminRule::Scan).unwrap();
    assert!(w.small_n && w.n == 16);
    let many: Vec<f64> = (1..=40).map(|i| (i as f64).powf(1.7) * 0.01).collect();
    let s = fit_esd(&many, XminRule::Scan).unwrap();
    assert!(!s.small_n);
    assert_eq!(s, fit_power_law(&many, XminRule::Scan).unwrap());
}

#[test]
fn esd_6x4_test_vector() {
    #[rustfmt::skip]
    let w: [f32; 24] = [
        0.5, -0.2, 0.1, 0.0,
        0.3, 0.8, -0.4, 0.2,
        -0.1, 0.4, 0.9, -0.3,
        0.2, 0.0, -0.2, 0.6,
        0.7, -0.5, 0.3, 0.1,
        -0.4, 0.1, 0.0, 0.4,
    ];
    let ev = esd(&w, 6, 4).unwrap();
    let want = [0.373313, 0.759403, 1.331229, 1.446054];
    assert_eq!(ev.len(), 4);
    for (a, b) in ev.iter().zip(want) {
        close(*a, b, 1e-6, "eigenvalue of WᵀW");
    }
    let div = [0.062219, 0.126567, 0.221872, 0.241009];
    for (a, b) in ev.iter().zip(div) {
        close(a / 6.0, b, 1e-6, "eigenvalue of WᵀW / N");
    }
    // The transposed (wide) matrix has the same spectrum (WWᵀ).
    let mut wt = [0f32; 24];
    for r in 0..6 {
        for c in 0..4 {
            wt[c * 6 + r] = w[r * 4 + c];
        }
    }
    let evt = esd(&wt, 4, 6).unwrap();
    for (a, b) in ev.iter().zip(&evt) {
        close(*a, *b, 1e-12, "wide vs tall");
    }
    assert!(esd(&w, 5, 4).is_err());
}

#[test]
fn marchenko_pastur_test_vectors() {
    let (lm, lp) = mp_bounds(4.0, 1.0);
    close(lm, 0.25, 1e-12, "lambda-");
    close(lp, 2.25, 1e-12, "lambda+");
    close(mp_density(1.0, 4.0, 1.0), 0.6164044, 1e-7, "rho_MP(1)");
    assert_eq!(mp_density(2.3, 4.0, 1.0), 0.0);
    assert_eq!(mp_density(0.2, 4.0, 1.0), 0.0);
    let (lm1, lp1) = mp_bounds(1.0, 1.0);
    close(lm1, 0.0, 1e-12, "Q=1 lambda-");
    close(lp1, 4.0, 1e-12, "Q=1 lambda+");
    close(calc_sigma(4.0, 2.25), 1.0, 1e-12, "calc_sigma");
    // The density integrates to 1 over the bulk (midpoint rule).
    let (a, b) = mp_bounds(4.0, 0.7);
    let n = 200_000;
    let h = (b - a) / n as f64;
    let integral: f64 = (0..n).map(|i| mp_density(a + (i as f64 + 0.5) * h, 4.0, 0.7) * h).sum();
    close(integral, 1.0, 1e-4, "integral of rho_MP");
    close(analysis::quarter_circle_density(0.0, 1.0), 2.0 / std::f64::consts::PI, 1e-12, "quarter circle at 0");
}

/// `M[r][c] = ((r·131 + c·71 + r·c·17 + 7)² mod 997)/498.5 − 1`
fn farms_matrix(rows: usize, cols: usize) -> Vec<f32> {
    let mut m = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            let v = (r * 131 + c * 71 + r * c * 17 + 7).pow(2) % 997;
            m.push((v as f64 / 498.5 - 1.0) as f32);
        }
    }
    m
}

#[test]
fn farms_test_vector() {
    let p = FarmsParams { num_row_samples: 4, q_ratio: 1.0, ops_per_dim: 3, xmin: XminRule::Mid };
    let win = farms_windows(6, 10, &p).unwrap();
    assert_eq!((win.m, win.mc, win.row_step, win.col_step), (4, 4, 1, 3));
    assert_eq!(win.row_starts, vec![0, 1, 2]);
    assert_eq!(win.col_starts, vec![0, 3, 6]);
    // The spec's matrix is f64; these values are exact in f32 only to ~1e-7, so rebuild the pooled
    // eigenvalues from f64 windows too and require both to give the vector's alpha.
    let m = farms_matrix(6, 10);
    let (pooled, _) = farms_eigenvalues(&m, 6, 10, &p).unwrap();
    assert_eq!(pooled.len(), 36);
    let mut pooled64 = Vec::new();
    for &r0 in &win.row_starts {
        for &c0 in &win.col_starts {
            let mut sub = Vec::new();
            for r in r0..r0 + 4 {
                for c in c0..c0 + 4 {
                    let v = (r * 131 + c * 71 + r * c * 17 + 7).pow(2) % 997;
                    sub.push(v as f64 / 498.5 - 1.0);
                }
            }
            pooled64.extend(analysis::gram_eigenvalues_f64(&sub, 4, 4).unwrap());
        }
    }
    pooled64.sort_by(|a, b| a.total_cmp(b));
    let f64fit = fit_power_law(&pooled64, XminRule::Mid).unwrap();
    assert_eq!(f64fit.xmin_index, 18);
    close(f64fit.alpha, 2.2028162570, 1e-9, "FARMS xmin_mid alpha (f64)");
    let f32fit = fit_power_law(&pooled, XminRule::Mid).unwrap();
    close(f32fit.alpha, 2.2028162570, 1e-6, "FARMS xmin_mid alpha (f32 input)");
    // LLaMA shapes from the spec: (2000, Q = 1, ops = 15).
    let big = FarmsParams { num_row_samples: 2000, q_ratio: 1.0, ops_per_dim: 15, xmin: XminRule::Mid };
    let w = farms_windows(11008, 4096, &big).unwrap();
    assert_eq!((w.row_step, w.col_step), (643, 149));
    assert_eq!(w.row_starts.len() * w.col_starts.len(), 225);
    assert_eq!(*w.row_starts.last().unwrap(), 9002);
    assert_eq!(*w.col_starts.last().unwrap(), 2086);
    assert!(farms_windows(6, 10, &FarmsParams { ops_per_dim: 0, ..p.clone() }).is_err());
    assert!(farms_windows(6, 10, &FarmsParams { q_ratio: 3.0, ..p }).is_err()); // 4×12 > 10 cols
}

// ---------------------------------------------------------------------------------------------
// Against the weightwatcher PyPI package (and numpy) on real matrices of the default model.

#[derive(Deserialize)]
struct WwMatrix {
    name: String,
    rows: usize,
    cols: usize,
    alpha: f64,
    xmin: f64,
    #[serde(rename = "D")]
    d: f64,
    sigma: f64,
    num_pl_spikes: f64,
    alpha_weighted: f64,
    spectral_norm: f64,
    log_norm: f64,
    stable_rank: f64,
    entropy: f64,
    log_alpha_norm: f64,
    num_spikes: f64,
    bulk_max: f64,
    sigma_mp: f64,
    num_evals: f64,
    evals: Vec<f64>,
    mp_eigvalsh: WwMp,
    farms: Option<NpFarms>,
}

#[derive(Deserialize)]
struct WwMp {
    sigma_mp: f64,
    bulk_max: f64,
    num_spikes: usize,
}

#[derive(Deserialize)]
struct NpFarms {
    alpha: f64,
    xmin: f64,
    n_evals: usize,
}

#[derive(Deserialize)]
struct WwOut {
    matrices: Vec<WwMatrix>,
}

const WW_MATRICES: [&str; 8] = [
    "blk.0.attn_q.weight",
    "blk.0.attn_k.weight",
    "blk.3.ffn_gate.weight",
    "blk.29.attn_v.weight", // fitted bulk edge above λ_max, no spikes
    "blk.16.ffn_down.weight",
    "blk.22.ffn_up.weight",
    "blk.29.attn_output.weight",
    "blk.21.attn_v.weight", // WeightWatcher's KDE peak ties: its MP fit flips with 1e-13 eigenvalue noise
];

#[test]
fn agrees_with_weightwatcher() {
    let py = common::python(&["weightwatcher==0.7.7"]);
    let model = common::model();
    let mp = common::model_path();
    let mut args = vec![common::root().join("tests/py/ww_ref.py").display().to_string(), mp.display().to_string()];
    args.push("--farms=blk.3.ffn_gate.weight".into());
    args.extend(WW_MATRICES.iter().map(|s| s.to_string()));
    let out = Command::new(py).args(&args).output().expect("run ww_ref.py");
    assert!(out.status.success(), "ww_ref.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let r: WwOut = serde_json::from_slice(&out.stdout).expect("ww_ref.py JSON");
    assert_eq!(r.matrices.len(), WW_MATRICES.len());
    let opts = SpectraOptions { farms: true, ..Default::default() };
    let mut max_rel_alpha = 0f64;
    let mut max_rel_alpha_symeig = 0f64;
    let mut unstable = Vec::new();
    let mut report = String::new();
    for ww in &r.matrices {
        let w = model
            .layers
            .iter()
            .flat_map(|l| [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down])
            .find(|w| w.name == ww.name)
            .unwrap();
        assert_eq!((w.rows, w.cols), (ww.rows, ww.cols), "{}", ww.name);
        let data = analysis::dequantize_weight(&model, w).unwrap();
        let s = matrix_spectrum(&ww.name, 0, MatrixKind::Q, &data, w.rows, w.cols, &opts).unwrap();
        let rel = (s.alpha - ww.alpha).abs() / ww.alpha;
        max_rel_alpha = max_rel_alpha.max(rel);
        report += &format!(
            "{:<28} alpha {:.6} ww {:.6} rel {:.1e}  xmin {:.4} ww {:.4}  spikes {} ww {}  mp_edge {:.4} ww {:.4}\n",
            ww.name, s.alpha, ww.alpha, rel, s.xmin, ww.xmin, s.spikes, ww.num_spikes, s.mp_edge, ww.bulk_max
        );
        let n = &ww.name;
        // The acceptance bar is 1 %; the implementations are the same algorithm in f64, so the
        // same xmin must be chosen and everything agrees to rounding.
        rel_close(s.alpha, ww.alpha, 1e-2, &format!("{n} alpha (1 %)"));
        rel_close(s.alpha, ww.alpha, 1e-8, &format!("{n} alpha"));
        rel_close(s.xmin, ww.xmin, 1e-9, &format!("{n} xmin"));
        rel_close(s.d, ww.d, 1e-7, &format!("{n} D"));
        rel_close(s.sigma, ww.sigma, 1e-7, &format!("{n} sigma"));
        assert_eq!(s.num_pl_spikes as f64, ww.num_pl_spikes, "{n} num_pl_spikes");
        assert_eq!(s.n_evals as f64, ww.num_evals, "{n} num_evals");
        rel_close(s.alpha_hat, ww.alpha_weighted, 1e-8, &format!("{n} alpha_hat"));
        rel_close(s.spectral_norm, ww.spectral_norm, 1e-10, &format!("{n} spectral norm"));
        rel_close(s.log_norm, ww.log_norm, 1e-12, &format!("{n} log_norm"));
        rel_close(s.stable_rank, ww.stable_rank, 1e-10, &format!("{n} stable rank"));
        rel_close(s.entropy, ww.entropy, 1e-9, &format!("{n} entropy"));
        rel_close(s.log_alpha_norm, ww.log_alpha_norm, 1e-8, &format!("{n} log_alpha_norm"));
        // MP fit (KDE + brute force + Nelder–Mead polish): against WeightWatcher's own procedure
        // on the same (eigvalsh) eigenvalues, always; against analyze() (eigenvalues from its SVD)
        // wherever WeightWatcher itself gives the same answer for both eigenvalue sets.
        let mpf = s.mp.as_ref().unwrap();
        let same = &ww.mp_eigvalsh;
        rel_close(mpf.sigma_mp, same.sigma_mp, 1e-6, &format!("{n} sigma_mp (same eigenvalues)"));
        rel_close(s.mp_edge, same.bulk_max, 1e-6, &format!("{n} bulk_max (same eigenvalues)"));
        assert_eq!(s.spikes, same.num_spikes, "{n} MP spikes (same eigenvalues)");
        if (same.bulk_max - ww.bulk_max).abs() <= 1e-6 * ww.bulk_max {
            rel_close(mpf.sigma_mp, ww.sigma_mp, 1e-6, &format!("{n} sigma_mp"));
            rel_close(s.mp_edge, ww.bulk_max, 1e-6, &format!("{n} bulk_max"));
            assert_eq!(s.spikes as f64, ww.num_spikes, "{n} MP spikes");
        } else {
            unstable.push(n.clone());
        }
        // Eigenvalues against numpy's eigvalsh of the f64 Gram matrix of the same weights.
        let ev = esd(&data, w.rows, w.cols).unwrap();
        assert_eq!(ev.len(), ww.evals.len());
        let lmax = ww.evals[ww.evals.len() - 1];
        for (i, (a, b)) in ev.iter().zip(&ww.evals).enumerate() {
            assert!((a - b).abs() <= 1e-11 * lmax, "{n} eigenvalue {i}: {a} vs numpy {b}");
        }
        // The wasm build's eigensolver (analysis::symeig) on the same Gram matrix: against numpy
        // and, through the same fit, against weightwatcher's alpha.
        let w64: Vec<f64> = data.iter().map(|&x| x as f64).collect();
        let (mut lower, m) = analysis::esd::gram_lower(&w64, w.rows, w.cols).unwrap();
        let mut ev2 = analysis::symeig::symmetric_eigenvalues(&mut lower, m).unwrap();
        ev2.iter_mut().for_each(|x| *x = x.max(0.0));
        for (i, (a, b)) in ev2.iter().zip(&ww.evals).enumerate() {
            assert!((a - b).abs() <= 1e-11 * lmax, "{n} eigenvalue {i} (symeig): {a} vs numpy {b}");
        }
        let f2 = fit_esd(&ev2, XminRule::Scan).unwrap();
        rel_close(f2.alpha, ww.alpha, 1e-8, &format!("{n} alpha (symeig)"));
        max_rel_alpha_symeig = max_rel_alpha_symeig.max((f2.alpha - ww.alpha).abs() / ww.alpha);
        if let Some(f) = &ww.farms {
            let fs = s.farms.as_ref().unwrap();
            assert_eq!(fs.n_evals, f.n_evals, "{n} FARMS pooled eigenvalues");
            rel_close(fs.xmin, f.xmin, 1e-9, &format!("{n} FARMS xmin"));
            rel_close(fs.alpha, f.alpha, 1e-8, &format!("{n} FARMS alpha vs numpy"));
            report += &format!("{:<28} FARMS alpha {:.6} numpy {:.6}\n", "", fs.alpha, f.alpha);
        }
    }
    eprintln!("{report}max relative alpha difference vs weightwatcher 0.7.7: {max_rel_alpha:.2e} (native eigensolver), {max_rel_alpha_symeig:.2e} (symeig, the wasm build's)");
    eprintln!("WeightWatcher's MP fit changes with SVD vs eigvalsh eigenvalues on: {unstable:?}");
    assert!(unstable.len() <= 2, "MP fit disagreement on too many matrices: {unstable:?}");
}

// ---------------------------------------------------------------------------------------------
// The model API, the damage map and the CLI.

#[test]
fn model_spectra_layers_and_progress() {
    let model = common::model();
    let opts = SpectraOptions { layers: Some(vec![0, 29]), ..Default::default() };
    let mut calls = Vec::new();
    let s = model_spectra(&model, &opts, &mut |d, t| calls.push((d, t))).unwrap();
    assert_eq!(s.len(), 14);
    assert_eq!(calls, (1..=14).map(|d| (d, 14)).collect::<Vec<_>>());
    let kinds: Vec<&str> = s[..7].iter().map(|x| x.kind.name()).collect();
    assert_eq!(kinds, ["q", "k", "v", "o", "gate", "up", "down"]);
    assert_eq!(s[7].name, "blk.29.attn_q.weight");
    assert_eq!(s[7].layer, 29);
    let shapes: Vec<[usize; 2]> = s[..7].iter().map(|x| x.shape).collect();
    assert_eq!(shapes, [[576, 576], [192, 576], [192, 576], [576, 576], [1536, 576], [1536, 576], [576, 1536]]);
    for x in &s {
        assert_eq!(x.n_evals, x.m);
        let binned: u32 = x.histogram.counts.iter().sum();
        assert_eq!(binned as usize + x.histogram.below, x.n_evals, "{}", x.name);
        assert_eq!(x.histogram.below + x.n_evals_fit, x.n_evals);
        assert_eq!(x.histogram.log10_edges.len(), 81);
        assert!(x.alpha > 1.0 && x.alpha < 50.0 && x.d > 0.0 && x.d < 1.0, "{}: alpha {}", x.name, x.alpha);
        assert!(x.xmin > EVALS_FLOOR && x.xmin <= x.spectral_norm);
        // The fitted bulk edge may lie above λ_max (random-like matrices: no spikes at all).
        assert!(x.mp_edge > 0.0 && x.mp_edge < 2.0 * x.spectral_norm, "{}: mp edge {}", x.name, x.mp_edge);
        assert!(x.spikes <= x.m);
        assert_eq!(x.spikes == 0, x.mp.as_ref().unwrap().spike_threshold >= x.spectral_norm, "{}", x.name);
        close(x.alpha_hat, x.alpha * x.spectral_norm.log10(), 1e-12, "alpha_hat");
        assert!(x.stable_rank >= 1.0 && x.stable_rank <= x.m as f64);
        assert!(x.farms.is_none() && x.evals.is_none());
    }
    // Parallel and sequential give identical records (timing aside).
    let one = model_spectra(&model, &SpectraOptions { layers: Some(vec![29]), ..Default::default() }, &mut |_, _| {})
        .unwrap();
    for (a, b) in one.iter().zip(&s[7..]) {
        assert_eq!((a.alpha, a.xmin, a.d, a.spikes), (b.alpha, b.xmin, b.d, b.spikes));
    }
    // A layer that does not exist is an error, not an empty result.
    let e = model_spectra(&model, &SpectraOptions { layers: Some(vec![30]), ..Default::default() }, &mut |_, _| {})
        .unwrap_err();
    assert_eq!(e.code(), "E_INVALID_ARGUMENT");
    // Identical inputs: the damage map is all zeros.
    let d = compare_spectra(&s, &s);
    assert_eq!(d.len(), 14);
    assert!(d.iter().all(|x| x.delta_alpha == 0.0 && x.delta_spikes == 0));
}

const EVALS_FLOOR: f64 = tritium::analysis::EVALS_THRESH;

/// Quantization damage map on one real matrix: its dequantized Q4_1 weights re-quantized to a
/// coarser format change alpha; compare_spectra reports exactly the difference.
#[test]
fn damage_map_requantized() {
    let model = common::model();
    let w = &model.layers[7].w_up;
    let src = analysis::dequantize_weight(&model, w).unwrap();
    let opts = SpectraOptions { farms: true, ..Default::default() };
    let a = matrix_spectrum(&w.name, 7, MatrixKind::Up, &src, w.rows, w.cols, &opts).unwrap();
    let mut deltas = Vec::new();
    for ty in [GgmlType::Q8_0, GgmlType::TQ2_0] {
        let q = quant::quantize(ty, &src).unwrap();
        let back = quant::dequantize_vec(ty, &q, src.len()).unwrap();
        let b = matrix_spectrum(&w.name, 7, MatrixKind::Up, &back, w.rows, w.cols, &opts).unwrap();
        let d = compare_spectra(std::slice::from_ref(&a), std::slice::from_ref(&b));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].delta_alpha, b.alpha - a.alpha);
        assert_eq!(d[0].farms_delta_alpha, Some(b.farms.as_ref().unwrap().alpha - a.farms.as_ref().unwrap().alpha));
        deltas.push(d[0].rel_delta_alpha.abs());
    }
    eprintln!("blk.7.ffn_up |Δα/α|: Q8_0 {:.2e}, TQ2_0 {:.2e}", deltas[0], deltas[1]);
    // 8-bit re-quantization barely moves alpha; ternary moves it far more.
    assert!(deltas[0] < 0.02, "Q8_0 moved alpha by {}", deltas[0]);
    assert!(deltas[1] > 5.0 * deltas[0], "ternary should damage the spectrum more: {deltas:?}");
    // Names that do not match are skipped.
    let mut other = a.clone();
    other.name = "x".into();
    assert!(compare_spectra(&[a], &[other]).is_empty());
}

fn tritium(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tritium")).args(args).output().expect("run tritium");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn cli_spectra() {
    let m = common::model_path();
    let (code, out, err) = tritium(&["spectra", m.to_str().unwrap(), "--layers", "2,5", "--json", "--farms"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("JSON");
    let mats = v["matrices"].as_array().unwrap();
    assert_eq!(mats.len(), 14);
    assert_eq!(mats[0]["name"], "blk.2.attn_q.weight");
    assert_eq!(mats[13]["kind"], "down");
    assert_eq!(mats[13]["shape"], serde_json::json!([576, 1536]));
    for k in
        ["alpha", "xmin", "D", "sigma", "alpha_hat", "spectral_norm", "stable_rank", "mp_edge", "spikes", "n_evals"]
    {
        assert!(mats[4][k].is_number(), "{k} missing: {}", mats[4]);
    }
    assert!(mats[4]["histogram"]["counts"].as_array().unwrap().len() >= 60);
    assert!(mats[4]["farms"]["alpha"].is_number());
    assert!(v["seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(v["farms"], true);
    // The table names every matrix and prints the total time.
    let (code, out, _) = tritium(&["spectra", m.to_str().unwrap(), "--layers", "1"]);
    assert_eq!(code, 0);
    assert!(out.contains("gate") && out.contains("1536x576") && out.contains("alpha"), "{out}");
    assert_eq!(out.lines().filter(|l| l.trim_start().starts_with("1 ")).count(), 7, "{out}");
    // Bad layer: an error line, non-zero exit.
    let (code, _, err) = tritium(&["spectra", m.to_str().unwrap(), "--layers", "99"]);
    assert_ne!(code, 0);
    assert!(err.contains("E_INVALID_ARGUMENT") && err.contains("99"), "{err}");
}

/// The eigenvalues-only solver (analysis::symeig: fused Householder tridiagonalization + faer's
/// tridiagonal QR) against faer's full self-adjoint eigensolver on real Gram matrices of the
/// default model, with the time of each step (single thread) printed for the record.
#[test]
fn symeig_matches_faer_on_real_gram_matrices() {
    let model = common::model();
    let mut report = String::new();
    for (l, pick) in [(0usize, "q"), (0, "gate"), (0, "down"), (0, "k"), (29, "up"), (29, "o")] {
        let lw = &model.layers[l];
        let w = match pick {
            "q" => &lw.wq,
            "k" => &lw.wk,
            "o" => &lw.wo,
            "gate" => &lw.w_gate,
            "up" => &lw.w_up,
            _ => &lw.w_down,
        };
        let t0 = std::time::Instant::now();
        let data = analysis::dequantize_weight(&model, w).unwrap();
        let w64: Vec<f64> = data.iter().map(|&x| x as f64).collect();
        let t1 = std::time::Instant::now();
        let (lower, m) = analysis::esd::gram_lower(&w64, w.rows, w.cols).unwrap();
        let t2 = std::time::Instant::now();
        let mut a = lower.clone();
        let ours = analysis::symeig::symmetric_eigenvalues(&mut a, m).unwrap();
        let t3 = std::time::Instant::now();
        let g = faer::MatRef::from_column_major_slice(&lower, m, m);
        let mut theirs = g.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
        let t4 = std::time::Instant::now();
        theirs.sort_by(|a, b| a.total_cmp(b));
        let lmax = theirs[m - 1];
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert!((a - b).abs() <= 1e-12 * lmax, "{}: eigenvalue {i}: {a} vs faer {b}", w.name);
        }
        let ms = |a: std::time::Instant, b: std::time::Instant| (b - a).as_secs_f64() * 1e3;
        report += &format!(
            "{:<28} {}×{}: dequantize {:6.1} ms, Gram {:6.1} ms, symeig {:6.1} ms (faer's eigensolver {:6.1} ms)\n",
            w.name,
            w.rows,
            w.cols,
            ms(t0, t1),
            ms(t1, t2),
            ms(t2, t3),
            ms(t3, t4)
        );
    }
    eprintln!("{report}");
}
