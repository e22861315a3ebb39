//! Eigenvalues (only) of a real symmetric matrix: Householder tridiagonalization with one fused
//! pass over the trailing lower triangle per step, then faer's implicit QR on the tridiagonal
//! (eigenvalues only, `O(n²)`). This is the ESD's eigensolver in wasm.
//!
//! Why not faer's `self_adjoint_eigenvalues` there: its tridiagonalization vectorizes through
//! `pulp`, which has no wasm SIMD128 backend, so in the browser it runs scalar. On the Gram matrix
//! of a 1536×576 weight (576×576), wasm SIMD128 in Node 20 (V8): faer 87–91 ms, this 48–50 ms.
//! A blocked form (LAPACK `dsytrd`/`dlatrd`: panels of 32, the trailing rank-64 update by faer's
//! matrix product) was tried and was slower in wasm (70–85 ms: faer's product is not fast there);
//! natively faer's own solver (AVX2/FMA) is the faster one and is used instead.
//!
//! Step `k` (LAPACK `dsytd2`, lower): `v, τ` reflect column `k` below the diagonal onto `β e₁`;
//! `y = τ A₂₂ v`, `w = y − ½τ(yᵀv) v`, `A₂₂ ← A₂₂ − v wᵀ − w vᵀ`. The pass that applies step `k`'s
//! rank-2 update to column `j` immediately multiplies the updated column by step `k+1`'s `v`
//! (known as soon as column `k+1` is updated, which is done first), so the matrix is read and
//! written once per step instead of twice. The two inner loops are explicit SIMD128 (f64x2) in
//! wasm and plain slices (LLVM-vectorized) elsewhere, with the same operation order, so both give
//! bit-identical results. Flops `4/3 n³`; backward stable like `dsytd2` (eigenvalue errors
//! `O(n ε ‖A‖)`).

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::Par;

use crate::error::{Error, Result};

/// `y += s·a` and returns `a·v` (all the same length).
#[inline(always)]
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
fn axpy_dot_generic(y: &mut [f64], a: &[f64], s: f64, v: &[f64]) -> f64 {
    let n = a.len();
    let (y, v) = (&mut y[..n], &v[..n]);
    let mut acc = [0f64; 4];
    let split = n - n % 4;
    for ((yc, ac), vc) in y[..split].chunks_exact_mut(4).zip(a[..split].chunks_exact(4)).zip(v[..split].chunks_exact(4))
    {
        for t in 0..4 {
            yc[t] += s * ac[t];
            acc[t] += ac[t] * vc[t];
        }
    }
    let mut tail = 0.0;
    for t in split..n {
        y[t] += s * a[t];
        tail += a[t] * v[t];
    }
    (acc[0] + acc[2]) + (acc[1] + acc[3]) + tail
}

/// Column update of step `k` fused with the product of step `k+1`:
/// `c ← c − (p·wj + q·vj)` (`p = v`, `q = w` of step `k`), then `y += vj'·c` and returns `c·v'`
/// (`v', y` of step `k+1`, `vj'` its entry at this column).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
fn update_axpy_dot_generic(
    c: &mut [f64],
    p: &[f64],
    q: &[f64],
    wj: f64,
    vj: f64,
    y: &mut [f64],
    vnext: &[f64],
    vjn: f64,
) -> f64 {
    let n = c.len();
    let (p, q, y, vnext) = (&p[..n], &q[..n], &mut y[..n], &vnext[..n]);
    let mut acc = [0f64; 4];
    let split = n - n % 4;
    for ((((cc, pc), qc), yc), nc) in c[..split]
        .chunks_exact_mut(4)
        .zip(p[..split].chunks_exact(4))
        .zip(q[..split].chunks_exact(4))
        .zip(y[..split].chunks_exact_mut(4))
        .zip(vnext[..split].chunks_exact(4))
    {
        for t in 0..4 {
            let a = cc[t] - (pc[t] * wj + qc[t] * vj);
            cc[t] = a;
            yc[t] += vjn * a;
            acc[t] += a * nc[t];
        }
    }
    let mut tail = 0.0;
    for t in split..n {
        let a = c[t] - (p[t] * wj + q[t] * vj);
        c[t] = a;
        y[t] += vjn * a;
        tail += a * vnext[t];
    }
    (acc[0] + acc[2]) + (acc[1] + acc[3]) + tail
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use simd128::{axpy_dot, update_axpy_dot};
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
use {axpy_dot_generic as axpy_dot, update_axpy_dot_generic as update_axpy_dot};

/// The two kernels with explicit SIMD128 (f64x2): the same operations in the same order as the
/// generic ones (lanes `0,1 | 2,3` of each group of four = the generic accumulators), so wasm and
/// native give bit-identical eigenvalues.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use core::arch::wasm32::*;

    #[inline(always)]
    pub fn axpy_dot(y: &mut [f64], a: &[f64], s: f64, v: &[f64]) -> f64 {
        let n = a.len();
        let (y, v) = (&mut y[..n], &v[..n]);
        let split = n - n % 4;
        let sv = f64x2_splat(s);
        let (mut acc0, mut acc1) = (f64x2_splat(0.0), f64x2_splat(0.0));
        let (yp, ap, vp) = (y.as_mut_ptr(), a.as_ptr(), v.as_ptr());
        let mut t = 0;
        // SAFETY: t + 4 ≤ split ≤ n = the length of all three slices; v128 loads/stores in wasm
        // need no alignment.
        unsafe {
            while t < split {
                let a0 = v128_load(ap.add(t) as *const v128);
                let a1 = v128_load(ap.add(t + 2) as *const v128);
                let y0 = v128_load(yp.add(t) as *const v128);
                let y1 = v128_load(yp.add(t + 2) as *const v128);
                let v0 = v128_load(vp.add(t) as *const v128);
                let v1 = v128_load(vp.add(t + 2) as *const v128);
                v128_store(yp.add(t) as *mut v128, f64x2_add(y0, f64x2_mul(sv, a0)));
                v128_store(yp.add(t + 2) as *mut v128, f64x2_add(y1, f64x2_mul(sv, a1)));
                acc0 = f64x2_add(acc0, f64x2_mul(a0, v0));
                acc1 = f64x2_add(acc1, f64x2_mul(a1, v1));
                t += 4;
            }
        }
        let mut tail = 0.0;
        for t in split..n {
            y[t] += s * a[t];
            tail += a[t] * v[t];
        }
        let acc = f64x2_add(acc0, acc1);
        f64x2_extract_lane::<0>(acc) + f64x2_extract_lane::<1>(acc) + tail
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn update_axpy_dot(
        c: &mut [f64],
        p: &[f64],
        q: &[f64],
        wj: f64,
        vj: f64,
        y: &mut [f64],
        vnext: &[f64],
        vjn: f64,
    ) -> f64 {
        let n = c.len();
        let (p, q, y, vnext) = (&p[..n], &q[..n], &mut y[..n], &vnext[..n]);
        let split = n - n % 4;
        let (wv, vv, nv) = (f64x2_splat(wj), f64x2_splat(vj), f64x2_splat(vjn));
        let (mut acc0, mut acc1) = (f64x2_splat(0.0), f64x2_splat(0.0));
        let (cp, pp, qp, yp, np) = (c.as_mut_ptr(), p.as_ptr(), q.as_ptr(), y.as_mut_ptr(), vnext.as_ptr());
        let mut t = 0;
        // SAFETY: t + 4 ≤ split ≤ n = the length of all five slices; no alignment needed.
        unsafe {
            while t < split {
                let c0 = v128_load(cp.add(t) as *const v128);
                let c1 = v128_load(cp.add(t + 2) as *const v128);
                let p0 = v128_load(pp.add(t) as *const v128);
                let p1 = v128_load(pp.add(t + 2) as *const v128);
                let q0 = v128_load(qp.add(t) as *const v128);
                let q1 = v128_load(qp.add(t + 2) as *const v128);
                let a0 = f64x2_sub(c0, f64x2_add(f64x2_mul(p0, wv), f64x2_mul(q0, vv)));
                let a1 = f64x2_sub(c1, f64x2_add(f64x2_mul(p1, wv), f64x2_mul(q1, vv)));
                v128_store(cp.add(t) as *mut v128, a0);
                v128_store(cp.add(t + 2) as *mut v128, a1);
                let y0 = v128_load(yp.add(t) as *const v128);
                let y1 = v128_load(yp.add(t + 2) as *const v128);
                v128_store(yp.add(t) as *mut v128, f64x2_add(y0, f64x2_mul(nv, a0)));
                v128_store(yp.add(t + 2) as *mut v128, f64x2_add(y1, f64x2_mul(nv, a1)));
                let n0 = v128_load(np.add(t) as *const v128);
                let n1 = v128_load(np.add(t + 2) as *const v128);
                acc0 = f64x2_add(acc0, f64x2_mul(a0, n0));
                acc1 = f64x2_add(acc1, f64x2_mul(a1, n1));
                t += 4;
            }
        }
        let mut tail = 0.0;
        for t in split..n {
            let a = c[t] - (p[t] * wj + q[t] * vj);
            c[t] = a;
            y[t] += vjn * a;
            tail += a * vnext[t];
        }
        let acc = f64x2_add(acc0, acc1);
        f64x2_extract_lane::<0>(acc) + f64x2_extract_lane::<1>(acc) + tail
    }
}

/// Householder reflector of `x` (length ≥ 1): writes `v` (`v[0] = 1`) and returns `(τ, β)` with
/// `(I − τ v vᵀ) x = β e₁`. `τ = 0, β = x[0]` when `x[1..]` is zero.
fn householder(x: &[f64], v: &mut [f64]) -> (f64, f64) {
    let alpha = x[0];
    let tail = &x[1..];
    // Scaled sum of squares (no overflow/underflow for any finite input).
    let scale = tail.iter().fold(0f64, |m, &t| m.max(t.abs()));
    v[0] = 1.0;
    if scale == 0.0 {
        v[1..x.len()].iter_mut().for_each(|t| *t = 0.0);
        return (0.0, alpha);
    }
    let s2: f64 = tail.iter().map(|&t| (t / scale) * (t / scale)).sum();
    let a = alpha / scale;
    let norm = scale * (a * a + s2).sqrt();
    let beta = if alpha >= 0.0 { -norm } else { norm };
    let tau = (beta - alpha) / beta;
    let inv = 1.0 / (alpha - beta);
    for (d, &t) in v[1..x.len()].iter_mut().zip(tail) {
        *d = t * inv;
    }
    (tau, beta)
}

/// Unblocked tridiagonalization of the `n × n` lower triangle in `a` (column-major, leading
/// dimension `n`): the diagonal into `d[..n]`, the off-diagonal into `e[..n-1]`.
fn tridiag_unblocked(a: &mut [f64], n: usize, d: &mut [f64], e: &mut [f64]) {
    if n > 1 {
        // Step vectors: v, w of step k (trailing length m = n−k−1) and v, y of step k+1.
        let mut v = vec![0f64; n];
        let mut w = vec![0f64; n];
        let mut vn = vec![0f64; n];
        let mut yn = vec![0f64; n];
        // Prologue: reflector of column 0 and y = A₂₂ v by a plain symmetric product.
        let (mut tau, beta) = householder(&a[1..n], &mut v);
        e[0] = beta;
        d[0] = a[0];
        let m0 = n - 1;
        w[..m0].iter_mut().for_each(|t| *t = 0.0);
        for jj in 0..m0 {
            let j = jj + 1;
            let col = &a[j * n + j..j * n + n];
            let vj = v[jj];
            w[jj] += col[0] * vj;
            let dot = axpy_dot(&mut w[jj + 1..m0], &col[1..], vj, &v[jj + 1..m0]);
            w[jj] += dot;
        }
        for k in 0..n - 1 {
            let m = n - k - 1; // trailing size; v, w index 0 ↔ row/column k+1
                               // y (in w) → w = τy − ½τ²(yᵀv) v
            let yv: f64 = w[..m].iter().zip(&v[..m]).map(|(a, b)| a * b).sum();
            let c = 0.5 * tau * tau * yv;
            for (wt, &vt) in w[..m].iter_mut().zip(&v[..m]) {
                *wt = tau * *wt - c * vt;
            }
            // Column k+1 first (rows k+1..n): a −= v w₀ + w v₀.
            let j = k + 1;
            {
                let col = &mut a[j * n + j..j * n + n];
                let (w0, v0) = (w[0], v[0]);
                for ((ct, &vt), &wt) in col.iter_mut().zip(&v[..m]).zip(&w[..m]) {
                    *ct -= vt * w0 + wt * v0;
                }
            }
            d[j] = a[j * n + j];
            if m == 1 {
                break;
            }
            // Reflector of step k+1 from the updated column k+1 below its diagonal.
            let (tau_n, beta_n) = householder(&a[j * n + j + 1..j * n + n], &mut vn);
            e[j] = beta_n;
            let mn = m - 1;
            yn[..mn].iter_mut().for_each(|t| *t = 0.0);
            // Columns k+2..n: update with step k, multiply by v of step k+1.
            for jj in 1..m {
                let col = &mut a[(k + 1 + jj) * n + k + 1 + jj..(k + 1 + jj) * n + n];
                let (wj, vj) = (w[jj], v[jj]);
                let jn = jj - 1; // index in step k+1's vectors
                let vjn = vn[jn];
                // diagonal element
                let a0 = col[0] - (v[jj] * wj + w[jj] * vj);
                col[0] = a0;
                yn[jn] += a0 * vjn;
                let dot = update_axpy_dot(
                    &mut col[1..],
                    &v[jj + 1..m],
                    &w[jj + 1..m],
                    wj,
                    vj,
                    &mut yn[jn + 1..mn],
                    &vn[jn + 1..mn],
                    vjn,
                );
                yn[jn] += dot;
            }
            std::mem::swap(&mut v, &mut vn);
            std::mem::swap(&mut w, &mut yn);
            tau = tau_n;
        }
    } else {
        d[0] = a[0];
    }
}

/// Eigenvalues (ascending) of the symmetric `n × n` matrix whose lower triangle is stored in the
/// column-major `a` (`a[i + j·n]`, `i ≥ j`; the upper triangle is ignored). `a` is overwritten.
pub fn symmetric_eigenvalues(a: &mut [f64], n: usize) -> Result<Vec<f64>> {
    if a.len() != n * n {
        return Err(Error::InvalidArgument(format!("symeig: {n}×{n} needs {} values, got {}", n * n, a.len())));
    }
    if n == 0 {
        return Ok(vec![]);
    }
    let mut d = vec![0f64; n];
    let mut e = vec![0f64; n];
    tridiag_unblocked(a, n, &mut d, &mut e);
    if d.iter().chain(&e[..n - 1]).any(|x| !x.is_finite()) {
        return Err(Error::InvalidArgument("symeig: non-finite matrix".into()));
    }
    // Eigenvalues of the tridiagonal (d, e) by faer's implicit QR, no vectors.
    let mut diag = Diag::<f64>::zeros(n);
    let mut sub = Diag::<f64>::zeros(n);
    {
        let (mut dm, mut sm) = (diag.as_mut(), sub.as_mut());
        for i in 0..n {
            dm[i] = d[i];
            sm[i] = if i + 1 < n { e[i] } else { 0.0 };
        }
    }
    let mut s = Diag::<f64>::zeros(n);
    let req = faer::linalg::temp_mat_scratch::<f64>(n, 1).array(2);
    let mut buf = MemBuffer::new(req);
    faer::linalg::evd::tridiagonal_self_adjoint_evd(
        diag.as_ref(),
        sub.as_ref(),
        s.as_mut(),
        None,
        Par::Seq,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .map_err(|e| Error::InvalidArgument(format!("symeig: tridiagonal QR did not converge ({e:?})")))?;
    let s = s.as_ref();
    let mut ev: Vec<f64> = (0..n).map(|i| s[i]).collect();
    ev.sort_by(|a, b| a.total_cmp(b));
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_faer_on_random_symmetric() {
        for &n in &[1usize, 2, 3, 4, 5, 7, 16, 33, 64, 65, 66, 96, 97, 100, 130, 200] {
            let mut s = 12345u64 + n as u64;
            let mut rnd = || {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
            };
            let m = faer::Mat::<f64>::from_fn(n, n, |_, _| rnd());
            let sym = faer::Mat::<f64>::from_fn(n, n, |i, j| m[(i, j)] + m[(j, i)]);
            let mut a: Vec<f64> = (0..n * n).map(|t| sym[(t % n, t / n)]).collect();
            let got = symmetric_eigenvalues(&mut a, n).unwrap();
            let mut want = sym.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
            want.sort_by(|a, b| a.total_cmp(b));
            let scale = want.iter().fold(0f64, |m, x| m.max(x.abs()));
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-12 * scale, "n={n}: {g} vs {w}");
            }
        }
    }
}
