// mod_scaled_add: the FFN residual of a MoD layer with trained routers (STRing, docs/algorithms.md §3.3): a kept
// token leaves as h + w̃·MLP(h): x[t] += aux[p.wchunk + t] · proj[t] for t < chunk_n (w̃ = 1 for
// non-target tokens). It replaces the layer's plain residual add (shaders/add.wgsl).
// Bindings: see mod_common.wgsl. Threads: one per (t, channel), 64 per workgroup, folded 2-D.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = flat(gid);
    let d = p.dim;
    let t = idx / d;
    if (t >= step.chunk_n) {
        return;
    }
    x[idx] += aux[p.wchunk + t] * proj[idx];
}
