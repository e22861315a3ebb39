// mod_snap_recv: the attention each of the layer's nk new cache entries received from the
// observation window (crate/src/pmod/router.rs attention_received, same summation order): for
// entry j (cache row before + j), per head h, Σ over window queries tq ≥ j of
// softmax weight · (keys tq sees = before + tq + 1); summed over heads, divided by
// n_heads · (nk − max(j, first)); written to aux[p.attn + kept[j]], the router score of that
// prompt token at the next MoD layer. Softmax statistics come from mod_snap_stats.
// Bindings: see mod_common.wgsl. Threads: one per entry j, 64 per workgroup, folded 2-D.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = flat(gid);
    if (j >= step.nk) {
        return;
    }
    let hd = p.head_dim;
    let qd = p.n_heads * hd;
    let W = step.nk - step.first;
    let lo = max(j, step.first);
    var total = 0.0;
    for (var h = 0u; h < p.n_heads; h++) {
        let kb = (step.before + j) * p.kv_dim + (h / p.group) * hd;
        var acc = 0.0;
        for (var tq = lo; tq < step.nk; tq++) {
            let qb = p.qfull + tq * qd + h * hd;
            var s = 0.0;
            for (var e = 0u; e < hd; e++) {
                s += aux[qb + e] * k_cache[kb + e];
            }
            s *= p.scale;
            let o = p.stats + (h * W + tq - step.first) * 2u;
            let w = exp(s - aux[o]) * aux[o + 1u];
            acc += w * f32(step.before + tq + 1u);
        }
        total += acc;
    }
    aux[p.attn + sel[p.kept + j]] = total / f32(p.n_heads * (step.nk - lo));
}
