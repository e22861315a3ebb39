//! PTQTP trit planes: `w ≈ a1·t1 + a2·t2` per group of weights.
//!
//! # The choices the reference algorithm leaves open, and the defaults taken here
//!
//! PTQTP (post-training quantization to trit planes) models each group as `w ≈ a1·t1 + a2·t2`
//! and recommends a reference algorithm (progressive init, alternating 2×2 ridge solve and 9-way
//! trit assignment) but gives no official code. [`PtqtpOptions::REFERENCE`] with
//! [`ptqtp_group_with`] reproduces that algorithm (its worked example exactly); the defaults of [`PtqtpOptions::default`] were chosen by measuring
//! the relative Frobenius error ‖W − Ŵ‖/‖W‖ on nine matrices of SmolLM2-135M (layers 0/15/29 ×
//! attn_q, attn_v, ffn_down; `bash pkg-scripts/bench-ptqtp`). Mean errors at g = 64 (4.5 bits/weight):
//!
//! - **init** — the one choice that matters. Alternating minimisation stops in the nearest local
//!   optimum, and the reference's progressive start (absmean, then absmean of the residual) leads to a
//!   poor one: 0.182. A uniform 7-level grid start (a1 = 2·a2, outer level a1 + a2 = 0.8·max|w|)
//!   gives 0.165, a start with a2/a1 = 0.7 and a1 + a2 = max|w| gives 0.167, and the better of
//!   the two per group gives **0.162** (default: [`PtqtpInit::BestOf`] of both; the grid's
//!   coincident level a2 = a1 − a2 is taken as the pair (±1, ∓1)). Both starts converge in
//!   fewer rounds (≤ 12, mostly 1–4) than the progressive one (mostly 4–9, up to 20), so the two
//!   together cost about as much as the reference's single start. On the worked example the default
//!   finds squared error 0.0043 against the reference's 0.0127. TWN-threshold starts (0.187)
//!   and other grid scalings were worse.
//! - **absmean floor**: the result is never worse than single-plane absmean on the group (one
//!   comparison pass; the fallback is essentially never taken on real weights).
//! - **group size**: the caller picks it ([`TernaryMethod::Ptqtp`]); 64 is the product default
//!   (it divides both 576 and 1536). Per-row scales: 0.186 at ~4.04 bits; g = 128 (only for
//!   1536-wide rows): +7 % error over g = 64 on the same matrices; g = 32: 0.146 at 5 bits.
//! - **λ**: 1e-6·max(trace(SᵀS), 1) as in the reference; λ = 0 gives the same error (a singular
//!   system then falls back to the tiny ridge), 1e-3 costs +1 %, 1e-2 +10 %.
//! - **rounds**: at most 20, stopping when no trit changes (an exact fixed point: the solve would
//!   give the same scales) or the squared error falls by ≤ 1e-6 relative. With the default starts
//!   the cap is never reached on these matrices; 50 or 200 rounds change nothing.
//! - **ties** (fewer non-zeros first, then lexicographic, as in the reference): real weights never tie
//!   after the first solve; only the grid start's coincident levels are affected (see init).
//! - **fp16 scales**: the scales are stored as f16; after rounding them the trits are
//!   re-assigned once against the stored scales ([`ScaleRounding::F16Refit`]). f32, f16 and
//!   f16 + refit agree to four digits; the refit is kept because it cannot hurt.
//!
//! For scale: RTN int4 with g = 64 (also 4.5 bits) has error 0.098 on the same matrices, and
//! single-plane absmean per group of 64 has 0.543.
//!
//! The fast group solver [`ptqtp_group_with`] does the 9-way search with thresholds (the nine
//! candidates `a1·t1 + a2·t2` are sorted once per round and an element's level is found by
//! counting the midpoints below it, in a loop the compiler vectorizes), keeps the normal
//! equations' sums while assigning, and allocates nothing for groups of up to 256. With
//! [`PtqtpOptions::REFERENCE`] it returns exactly the reference's trits (on 2000 random groups
//! and the worked example); [`ptqtp_group`] is the plain f64 reference, kept for tests.

use half::f16;

use super::{mean_abs, trit};

/// PTQTP on one group, the plain reference algorithm in f64 with the exhaustive 9-way search:
/// `w ≈ a1·t1 + a2·t2`. Returns `(a1, a2, squared error)` (f32 scales, not rounded to f16).
///
/// Initialisation is progressive (absmean of w, then absmean of the residual); then alternate a
/// 2×2 ridge solve for (a1, a2) with λ = 1e-6·max(trace(SᵀS), 1) and an exhaustive 9-way trit
/// assignment per element (ties: fewer non-zeros first, then lexicographic), until the relative
/// error decrease is ≤ `tol` or `iters` rounds ran. The product uses [`ptqtp_group_with`].
pub fn ptqtp_group(w: &[f32], t1: &mut [i8], t2: &mut [i8], iters: usize, tol: f64) -> (f32, f32, f64) {
    let n = w.len();
    let mean_abs = |v: &mut dyn Iterator<Item = f64>| v.map(f64::abs).sum::<f64>() / n.max(1) as f64;
    let a1 = mean_abs(&mut w.iter().map(|&x| x as f64)).max(1e-8);
    for (t, &x) in t1.iter_mut().zip(w) {
        *t = trit((x as f64 / a1) as f32);
    }
    let r: Vec<f64> = w.iter().zip(t1.iter()).map(|(&x, &t)| x as f64 - a1 * t as f64).collect();
    let a2 = mean_abs(&mut r.iter().copied()).max(1e-8);
    for (t, &x) in t2.iter_mut().zip(&r) {
        *t = trit((x / a2) as f32);
    }
    let combos = SPARSE_FIRST;
    let (mut a1, mut a2) = (a1, a2);
    let mut prev: Option<f64> = None;
    let mut err = 0f64;
    for _ in 0..iters {
        let (mut s11, mut s12, mut s22, mut b1, mut b2) = (0f64, 0f64, 0f64, 0f64, 0f64);
        for i in 0..n {
            let (x, y, v) = (t1[i] as f64, t2[i] as f64, w[i] as f64);
            s11 += x * x;
            s12 += x * y;
            s22 += y * y;
            b1 += x * v;
            b2 += y * v;
        }
        let lam = 1e-6 * (s11 + s22).max(1.0);
        let (m11, m22) = (s11 + lam, s22 + lam);
        let det = m11 * m22 - s12 * s12;
        if det.abs() > 0.0 {
            a1 = (m22 * b1 - s12 * b2) / det;
            a2 = (m11 * b2 - s12 * b1) / det;
        }
        err = 0.0;
        for i in 0..n {
            let v = w[i] as f64;
            let mut best = (f64::INFINITY, 0i8, 0i8);
            for &(p, q) in &combos {
                let e = v - a1 * p as f64 - a2 * q as f64;
                let e2 = e * e;
                if e2 < best.0 {
                    best = (e2, p, q);
                }
            }
            t1[i] = best.1;
            t2[i] = best.2;
            err += best.0;
        }
        if let Some(p) = prev {
            if p - err <= tol * p.max(1e-30) {
                break;
            }
        }
        prev = Some(err);
    }
    (a1 as f32, a2 as f32, err)
}

/// The nine (t1, t2) pairs, fewer non-zeros first, then lexicographic (the reference's tie rule).
const SPARSE_FIRST: [(i8, i8); 9] = [(0, 0), (-1, 0), (0, -1), (0, 1), (1, 0), (-1, -1), (-1, 1), (1, -1), (1, 1)];
/// The opposite preference (more non-zeros first, then lexicographic); only for the study.
const DENSE_FIRST: [(i8, i8); 9] = [(-1, -1), (-1, 1), (1, -1), (1, 1), (-1, 0), (0, -1), (0, 1), (1, 0), (0, 0)];

/// How PTQTP starts a group.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PtqtpInit {
    /// The reference's: `a1 = mean|w|`, `t1 = round(w/a1)`, then the same on the residual.
    Progressive,
    /// Ternary-weight-network thresholds per plane: `Δ = 0.7·mean|w|`, `t = sign(w)·[|w| > Δ]`,
    /// `a` = mean |w| over the non-zeros; then the same on the residual.
    ProgressiveTwn,
    /// A uniform 7-level grid with the outer level at `f·max|w|`: `a2 = f·max|w| / 3`, `a1 = 2·a2`,
    /// trits assigned to the nearest level (±a2 as (±1, ∓1)).
    Grid(f32),
    /// The same grid with `a2 = k·mean|w|`.
    GridMean(f32),
    /// Scales in the ratio ρ = a2/a1 with the outer level a1 + a2 at max |w|, trits assigned to the
    /// nearest of the nine levels (`Ratio(0.5)` is `Grid(1.0)`).
    Ratio(f32),
    /// Run each start to convergence and keep the best (allocation-free for groups ≤ 256).
    BestOf(&'static [PtqtpInit]),
}

/// Which pair wins when two candidates are equally near.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TieRule {
    /// Fewer non-zeros first, then lexicographic on (t1, t2) (the reference's).
    SparseFirst,
    /// More non-zeros first, then lexicographic.
    DenseFirst,
}

/// What happens to the scales at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleRounding {
    /// Keep f32 scales (not storable in the TP formats; for comparisons).
    F32,
    /// Round the scales to f16, keep the trits.
    F16,
    /// Round the scales to f16 and re-assign the trits against the rounded scales.
    F16Refit,
}

/// Knobs of the PTQTP group solver (see the module documentation for the chosen defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PtqtpOptions {
    /// Rounds of (solve scales, assign trits); 0 keeps the initialisation.
    pub max_iters: usize,
    /// Stop when the squared error falls by no more than `tol` relative (and always when no trit
    /// changed).
    pub tol: f32,
    /// Ridge λ relative to max(trace(SᵀS), 1).
    pub lambda_rel: f64,
    pub init: PtqtpInit,
    pub tie: TieRule,
    pub scales: ScaleRounding,
    /// Never return a fit worse than single-plane absmean (BitNet's rule on the group, with
    /// a2 = 0): compare once at the end and take the absmean planes if they are better.
    pub absmean_floor: bool,
}

impl Default for PtqtpOptions {
    fn default() -> Self {
        PtqtpOptions {
            max_iters: 20,
            tol: 1e-6,
            lambda_rel: 1e-6,
            init: PtqtpInit::BestOf(&[PtqtpInit::Grid(0.8), PtqtpInit::Ratio(0.7)]),
            tie: TieRule::SparseFirst,
            scales: ScaleRounding::F16Refit,
            absmean_floor: true,
        }
    }
}

impl PtqtpOptions {
    /// The reference algorithm's settings (50 rounds, f32 scales).
    pub const REFERENCE: PtqtpOptions = PtqtpOptions {
        max_iters: 50,
        tol: 1e-6,
        lambda_rel: 1e-6,
        init: PtqtpInit::Progressive,
        tie: TieRule::SparseFirst,
        scales: ScaleRounding::F32,
        absmean_floor: false,
    };
}

/// Result of [`ptqtp_group_with`]: the scales as they are stored (f16-exact unless
/// `ScaleRounding::F32`), the squared error of `a1·t1 + a2·t2` against w, and the rounds run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PtqtpFit {
    pub a1: f32,
    pub a2: f32,
    pub err: f32,
    pub iters: usize,
}

/// The sorted distinct candidate values of one round, with their pairs.
struct Levels {
    /// Midpoints between consecutive distinct values, padded with +∞.
    mids: [f32; 8],
    val: [f32; 9],
    t1: [i8; 9],
    t2: [i8; 9],
    rank: [u8; 9],
    n: usize,
}

impl Levels {
    fn new(a1: f32, a2: f32, order: &[(i8, i8); 9]) -> Levels {
        // (value, rank) sorted by value, then rank; equal values keep the lowest rank only.
        let mut c = [(0f32, 0u8); 9];
        for (r, &(p, q)) in order.iter().enumerate() {
            c[r] = (a1 * p as f32 + a2 * q as f32, r as u8);
        }
        for i in 1..9 {
            let mut j = i;
            while j > 0 && (c[j].0 < c[j - 1].0 || (c[j].0 == c[j - 1].0 && c[j].1 < c[j - 1].1)) {
                c.swap(j, j - 1);
                j -= 1;
            }
        }
        let mut lv = Levels { mids: [f32::INFINITY; 8], val: [0.0; 9], t1: [0; 9], t2: [0; 9], rank: [0; 9], n: 0 };
        for &(v, r) in &c {
            if lv.n > 0 && v == lv.val[lv.n - 1] {
                continue;
            }
            let (p, q) = order[r as usize];
            lv.val[lv.n] = v;
            lv.t1[lv.n] = p;
            lv.t2[lv.n] = q;
            lv.rank[lv.n] = r;
            lv.n += 1;
        }
        for k in 0..lv.n - 1 {
            lv.mids[k] = 0.5 * (lv.val[k] + lv.val[k + 1]);
        }
        lv
    }
}

/// Sums of the normal equations and the squared error of one assignment.
#[derive(Default)]
struct Sums {
    s11: i32,
    s12: i32,
    s22: i32,
    b1: f32,
    b2: f32,
    err: f32,
    changed: bool,
}

impl Sums {
    #[inline(always)]
    fn add(&mut self, x: f32, p: i8, q: i8, e: f32) {
        let (p32, q32) = (p as i32, q as i32);
        self.s11 += p32 * p32;
        self.s12 += p32 * q32;
        self.s22 += q32 * q32;
        self.b1 += p as f32 * x;
        self.b2 += q as f32 * x;
        self.err += e * e;
    }
}

/// Assign every element its nearest pair; returns the new sums. Works in chunks of 64: the
/// level index of every element by counting the midpoints below it, the table look-ups (the only
/// scalar loop), then the sums of the normal equations and the error in loops the compiler
/// vectorizes (eight lanes of float sums).
fn assign(w: &[f32], t1: &mut [i8], t2: &mut [i8], lv: &Levels) -> Sums {
    const CHUNK: usize = 64;
    let mut idx = [0u32; CHUNK];
    let mut what = [0f32; CHUNK];
    let nm = lv.n - 1;
    let (mut b1, mut b2, mut err) = ([0f32; 8], [0f32; 8], [0f32; 8]);
    let (mut s11, mut s12, mut s22) = (0i32, 0i32, 0i32);
    let mut changed = 0u8;
    for ((wc, ac), bc) in w.chunks(CHUNK).zip(t1.chunks_mut(CHUNK)).zip(t2.chunks_mut(CHUNK)) {
        let n = wc.len();
        let (idx, what) = (&mut idx[..n], &mut what[..n]);
        for (k, &x) in idx.iter_mut().zip(wc) {
            *k = lv.mids.iter().map(|&m| (x > m) as u32).sum();
        }
        for (((&k, &x), h), (a, b)) in idx.iter().zip(wc).zip(what.iter_mut()).zip(ac.iter_mut().zip(bc.iter_mut())) {
            let mut k = k as usize;
            if k < nm && x == lv.mids[k] && lv.rank[k + 1] < lv.rank[k] {
                k += 1;
            }
            let (p, q) = (lv.t1[k], lv.t2[k]);
            changed |= ((p ^ *a) | (q ^ *b)) as u8;
            *a = p;
            *b = q;
            *h = lv.val[k];
        }
        for (&p, &q) in ac.iter().zip(bc.iter()) {
            let (p, q) = (p as i32, q as i32);
            s11 += p * p;
            s12 += p * q;
            s22 += q * q;
        }
        let lanes = wc.chunks_exact(8).zip(what.chunks_exact(8)).zip(ac.chunks_exact(8).zip(bc.chunks_exact(8)));
        for ((xs, hs), (ps, qs)) in lanes {
            for l in 0..8 {
                let e = xs[l] - hs[l];
                b1[l] += ps[l] as f32 * xs[l];
                b2[l] += qs[l] as f32 * xs[l];
                err[l] += e * e;
            }
        }
        for i in n - n % 8..n {
            let e = wc[i] - what[i];
            b1[0] += ac[i] as f32 * wc[i];
            b2[0] += bc[i] as f32 * wc[i];
            err[0] += e * e;
        }
    }
    let sum8 = |v: [f32; 8]| ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
    Sums { s11, s12, s22, b1: sum8(b1), b2: sum8(b2), err: sum8(err), changed: changed != 0 }
}

/// Ridge solve of the 2×2 normal equations; `None` when they are singular.
fn solve(s: &Sums, lambda_rel: f64) -> Option<(f32, f32)> {
    let (s11, s12, s22) = (s.s11 as f64, s.s12 as f64, s.s22 as f64);
    let (b1, b2) = (s.b1 as f64, s.b2 as f64);
    let mut lam = lambda_rel * (s11 + s22).max(1.0);
    for _ in 0..2 {
        let (m11, m22) = (s11 + lam, s22 + lam);
        let det = m11 * m22 - s12 * s12;
        if det > 1e-9 * (m11 * m22).max(1e-30) {
            return Some((((m22 * b1 - s12 * b2) / det) as f32, ((m11 * b2 - s12 * b1) / det) as f32));
        }
        // Singular without a ridge (e.g. t2 all zero): retry with the reference's tiny one.
        lam = 1e-6 * (s11 + s22).max(1.0);
    }
    None
}

/// One progressive plane: absmean or TWN threshold on `r`, writing trits and returning the scale.
fn init_plane(r: impl Iterator<Item = f32> + Clone, t: &mut [i8], twn: bool) -> f32 {
    let m = (r.clone().map(|x| x.abs() as f64).sum::<f64>() / t.len().max(1) as f64) as f32;
    if !twn {
        let a = m.max(1e-8);
        for (t, x) in t.iter_mut().zip(r) {
            *t = trit(x / a);
        }
        return a;
    }
    let delta = 0.7 * m;
    let (mut sum, mut cnt) = (0f64, 0u32);
    for (t, x) in t.iter_mut().zip(r) {
        *t = if x > delta {
            1
        } else if x < -delta {
            -1
        } else {
            0
        };
        if *t != 0 {
            sum += x.abs() as f64;
            cnt += 1;
        }
    }
    if cnt > 0 {
        (sum / cnt as f64) as f32
    } else {
        m.max(1e-8)
    }
}

/// PTQTP on one group with the given options: `w ≈ a1·t1 + a2·t2` (see the module
/// documentation). `t1`, `t2` are outputs of `w.len()` trits; nothing is allocated for groups of
/// up to 256 weights.
pub fn ptqtp_group_with(w: &[f32], t1: &mut [i8], t2: &mut [i8], opts: &PtqtpOptions) -> PtqtpFit {
    assert!(t1.len() == w.len() && t2.len() == w.len(), "ptqtp_group_with: trit buffers differ in length from w");
    let fit = match opts.init {
        PtqtpInit::BestOf(starts) => best_of(w, t1, t2, opts, starts),
        _ => fit_from(w, t1, t2, opts),
    };
    if !opts.absmean_floor {
        return fit;
    }
    let gamma = mean_abs(w).max(1e-5);
    let g = if opts.scales == ScaleRounding::F32 { gamma } else { f16::from_f32(gamma).to_f32() };
    let err: f32 = w.iter().map(|&x| (x - g * trit(x / gamma) as f32).powi(2)).sum();
    if err >= fit.err {
        return fit;
    }
    for ((a, b), &x) in t1.iter_mut().zip(t2.iter_mut()).zip(w) {
        *a = trit(x / gamma);
        *b = 0;
    }
    PtqtpFit { a1: g, a2: 0.0, err, iters: fit.iters }
}

/// Run each start to convergence, keep the best.
fn best_of(w: &[f32], t1: &mut [i8], t2: &mut [i8], opts: &PtqtpOptions, starts: &[PtqtpInit]) -> PtqtpFit {
    let n = w.len();
    let (mut stack, mut heap) = ([0i8; 512], Vec::new());
    let (u1, u2) = if n <= 256 {
        let (a, b) = stack.split_at_mut(256);
        (&mut a[..n], &mut b[..n])
    } else {
        heap.resize(2 * n, 0i8);
        heap.split_at_mut(n)
    };
    let mut best: Option<PtqtpFit> = None;
    for &init in starts.iter().filter(|i| !matches!(i, PtqtpInit::BestOf(_))) {
        let fit = fit_from(w, u1, u2, &PtqtpOptions { init, ..*opts });
        if best.is_none_or(|b| fit.err < b.err) {
            best = Some(fit);
            t1.copy_from_slice(u1);
            t2.copy_from_slice(u2);
        }
    }
    match best {
        Some(b) => b,
        None => fit_from(w, t1, t2, &PtqtpOptions { init: PtqtpInit::Progressive, ..*opts }),
    }
}

/// One start (not `BestOf`) run to convergence.
fn fit_from(w: &[f32], t1: &mut [i8], t2: &mut [i8], opts: &PtqtpOptions) -> PtqtpFit {
    let order = match opts.tie {
        TieRule::SparseFirst => &SPARSE_FIRST,
        TieRule::DenseFirst => &DENSE_FIRST,
    };
    let (mut a1, mut a2);
    let mut sums;
    match opts.init {
        PtqtpInit::Progressive | PtqtpInit::ProgressiveTwn => {
            let twn = opts.init == PtqtpInit::ProgressiveTwn;
            a1 = init_plane(w.iter().copied(), t1, twn);
            let t1r: &[i8] = t1;
            a2 = init_plane(w.iter().zip(t1r).map(|(&x, &t)| x - a1 * t as f32), t2, twn);
            sums = Sums::default();
            for ((&x, &p), &q) in w.iter().zip(t1.iter()).zip(t2.iter()) {
                sums.add(x, p, q, x - a1 * p as f32 - a2 * q as f32);
            }
        }
        PtqtpInit::Grid(_) | PtqtpInit::GridMean(_) | PtqtpInit::Ratio(_) => {
            let amax = || w.iter().fold(0f32, |m, v| m.max(v.abs()));
            (a1, a2) = match opts.init {
                PtqtpInit::Grid(f) => (2.0 * f * amax() / 3.0, f * amax() / 3.0),
                PtqtpInit::GridMean(k) => (2.0 * k * mean_abs(w), k * mean_abs(w)),
                PtqtpInit::Ratio(r) => (amax() / (1.0 + r), r * amax() / (1.0 + r)),
                _ => unreachable!(),
            };
            (a1, a2) = (a1.max(2e-8), a2.max(1e-8));
            // On the uniform grid (a1 = 2·a2) the level a2 is both (0, 1) and (1, −1); take the
            // denser pair so that both planes start populated (measured: 0.6 % lower error than
            // the sparser one).
            sums = assign(w, t1, t2, &Levels::new(a1, a2, &DENSE_FIRST));
        }
        PtqtpInit::BestOf(_) => unreachable!("best_of handles BestOf"),
    }
    let mut iters = 0;
    if sums.err > 0.0 {
        let mut prev: Option<f32> = None;
        while iters < opts.max_iters {
            let Some((b1, b2)) = solve(&sums, opts.lambda_rel) else { break };
            (a1, a2) = (b1, b2);
            sums = assign(w, t1, t2, &Levels::new(a1, a2, order));
            iters += 1;
            if !sums.changed || sums.err == 0.0 || prev.is_some_and(|p| p - sums.err <= opts.tol * p) {
                break;
            }
            prev = Some(sums.err);
        }
    }
    let mut err = sums.err;
    if opts.scales != ScaleRounding::F32 {
        (a1, a2) = (f16::from_f32(a1).to_f32(), f16::from_f32(a2).to_f32());
        err = if opts.scales == ScaleRounding::F16Refit {
            assign(w, t1, t2, &Levels::new(a1, a2, order)).err
        } else {
            w.iter()
                .zip(t1.iter())
                .zip(t2.iter())
                .map(|((&x, &p), &q)| (x - a1 * p as f32 - a2 * q as f32).powi(2))
                .sum()
        };
    }
    PtqtpFit { a1, a2, err, iters }
}
