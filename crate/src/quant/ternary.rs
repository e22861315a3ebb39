//! Ternary quantizers: BitNet b1.58 absmean (shared/spec/algorithms.md §2.1) and PTQTP trit
//! planes (§2.4), producing the `TP1_G*` / `TP2_G*` row blocks (and, through `quant::quantize`,
//! ggml's TQ1_0 / TQ2_0).

use half::f16;

use crate::error::{Error, Result};
use crate::quant::{self, GgmlType};

#[inline]
fn trit(v: f32) -> i8 {
    v.round_ties_even().clamp(-1.0, 1.0) as i8
}

/// PTQTP on one group: `w ≈ a1·t1 + a2·t2` (see §2.4). Returns `(a1, a2, squared error)`.
///
/// Initialisation is progressive (absmean of w, then absmean of the residual); then alternate a
/// 2×2 ridge solve for (a1, a2) with λ = 1e-6·max(trace(SᵀS), 1) and an exhaustive 9-way trit
/// assignment per element (ties: fewer non-zeros first, then lexicographic), until the relative
/// error decrease is ≤ `tol` or `iters` rounds ran.
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
    // Candidate pairs, sparsest first, then lexicographic.
    let mut combos: Vec<(i8, i8)> = Vec::with_capacity(9);
    for a in -1i8..=1 {
        for b in -1i8..=1 {
            combos.push((a, b));
        }
    }
    combos.sort_by_key(|&(a, b)| (a.abs() + b.abs(), a, b));
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

/// Quantize one row to a `TP*` row-block type: one plane = absmean per group (BitNet's rule with
/// the group's mean |w| as scale), two planes = PTQTP per group.
pub fn quantize_row(ty: GgmlType, x: &[f32]) -> Result<Vec<u8>> {
    let (g, planes) = match (ty.group(), ty.planes()) {
        (Some(g), p) if p > 0 => (g, p),
        _ => return Err(Error::InvalidArgument(format!("{} is not a trit-plane type", ty.name()))),
    };
    if x.len() % g != 0 {
        return Err(Error::InvalidArgument(format!(
            "quantize {}: {} elements is not a multiple of the group size {g}",
            ty.name(),
            x.len()
        )));
    }
    let mut t1 = vec![0i8; x.len()];
    let mut t2 = vec![0i8; x.len()];
    let mut a1 = Vec::with_capacity(x.len() / g);
    let mut a2 = Vec::with_capacity(x.len() / g);
    for (gi, w) in x.chunks_exact(g).enumerate() {
        let r = gi * g..(gi + 1) * g;
        if planes == 1 {
            let gamma = (w.iter().map(|v| v.abs()).sum::<f32>() / g as f32).max(1e-5);
            for (t, &v) in t1[r].iter_mut().zip(w) {
                *t = trit(v / gamma);
            }
            a1.push(f16::from_f32(gamma));
        } else {
            let (b1, b2, _) = ptqtp_group(w, &mut t1[r.clone()], &mut t2[r], 50, 1e-6);
            a1.push(f16::from_f32(b1));
            a2.push(f16::from_f32(b2));
        }
    }
    Ok(if planes == 1 {
        quant::encode_trit_planes(ty, x.len(), &[&t1], &[&a1])
    } else {
        quant::encode_trit_planes(ty, x.len(), &[&t1, &t2], &[&a1, &a2])
    })
}
