// mod_score: the router's score of each target token of a MoD layer (prompt index
// i = span_start + j), into aux[p.scores + j]:
//   trained (ROUTER_TRAINED): r = w_r·xfull[i] + b_r, TanhNorm w̃ = 0.2·tanh(r) + 1 (docs/algorithms.md §3.3);
//     the score is w̃, also stored as the token's weight aux[p.wfull + i];
//   lsq: Σ_e (x_e / rms(x))·c_e + ln(rms(x))·c_dim + c_dim+1 (crate/src/pmod/router.rs);
//   attn / snap: the attention the token received at the last layer it took part in (aux[p.attn + i],
//     written by mod_snap_recv);
//   random: the scores were written by the CPU (its seeded generator): nothing to do.
// Bindings: see mod_common.wgsl. Threads: one per target token, 64 per workgroup, folded 2-D.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = flat(gid);
    let nt = step.span_end - step.span_start;
    if (j >= nt || step.router == ROUTER_RANDOM) {
        return;
    }
    let i = step.span_start + j;
    let d = p.dim;
    let xb = i * d;
    if (step.router == ROUTER_TRAINED) {
        let wb = p.router_w + step.layer * d;
        var r = 0.0;
        for (var e = 0u; e < d; e++) {
            r += aux[wb + e] * xfull[xb + e];
        }
        r += aux[p.router_b + step.layer];
        // tanh saturates to ±1 in f32 beyond |r| = 10; the clamp keeps exp() in range everywhere.
        let w = 0.2 * tanh(clamp(r, -20.0, 20.0)) + 1.0;
        aux[p.scores + j] = w;
        aux[p.wfull + i] = w;
    } else if (step.router == ROUTER_LSQ) {
        var ss = 0.0;
        for (var e = 0u; e < d; e++) {
            ss += xfull[xb + e] * xfull[xb + e];
        }
        let rms = sqrt(ss / f32(d) + 1e-12);
        let cb = p.lsq + step.layer * (d + 2u);
        var s = 0.0;
        for (var e = 0u; e < d; e++) {
            s += xfull[xb + e] / rms * aux[cb + e];
        }
        s += log(rms) * aux[cb + d] + aux[cb + d + 1u];
        aux[p.scores + j] = s;
    } else {
        aux[p.scores + j] = aux[p.attn + i];
    }
}
