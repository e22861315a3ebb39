// mod_snap_stats: softmax statistics of the observation window's queries, for the attention-
// received routers (snap: the last queries of the prompt; attn: all of them). For head h and
// window query w (kept-list index tq = first + w, which attends to cache rows 0 … before + tq):
// m = max_p s_p and 1 / Σ_p exp(s_p − m) with s_p = q_tq,h · k_p,g · scale, into
// aux[p.stats + (h·W + w)·2] (W = nk − first). Queries: aux[p.qfull + tq·n_heads·head_dim + …].
// Bindings: see mod_common.wgsl. Threads: one workgroup of 64 per (h = workgroup x, w = y);
// threads stride over the keys, then tree-reduce the max and the sum in workgroup memory.
const WG: u32 = 64u;
var<workgroup> red: array<f32, 64>;

fn score(qb: u32, kb: u32) -> f32 {
    var s = 0.0;
    for (var e = 0u; e < p.head_dim; e++) {
        s += aux[qb + e] * k_cache[kb + e];
    }
    return s * p.scale;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let h = wid.x;
    let w = wid.y;
    let tq = step.first + w;
    let hd = p.head_dim;
    let qb = p.qfull + tq * p.n_heads * hd + h * hd;
    let g = h / p.group;
    let upto = step.before + tq + 1u;
    var m = -3.0e38;
    for (var pos = lid.x; pos < upto; pos += WG) {
        m = max(m, score(qb, pos * p.kv_dim + g * hd));
    }
    red[lid.x] = m;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid.x < s) {
            red[lid.x] = max(red[lid.x], red[lid.x + s]);
        }
        workgroupBarrier();
    }
    let gm = red[0];
    workgroupBarrier();
    var sum = 0.0;
    for (var pos = lid.x; pos < upto; pos += WG) {
        sum += exp(score(qb, pos * p.kv_dim + g * hd) - gm);
    }
    red[lid.x] = sum;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid.x < s) {
            red[lid.x] += red[lid.x + s];
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        let W = step.nk - step.first;
        let o = p.stats + (h * W + w) * 2u;
        aux[o] = gm;
        aux[o + 1u] = 1.0 / red[0];
    }
}
