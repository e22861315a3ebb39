// mod_gather: load a chunk of the layer's kept tokens into the forward pass: for t < chunk_n and
// src = the kept list's entry chunk_off + t, x[t] = xfull[src], positions[t] = pos_base + src
// (the token's original position id, so RoPE is unchanged), aux[p.wchunk + t] = w̃ of src.
// Bindings: see mod_common.wgsl. Threads: one per (t, channel), 64 per workgroup, folded 2-D.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = flat(gid);
    let d = p.dim;
    let t = idx / d;
    let e = idx % d;
    if (t >= step.chunk_n) {
        return;
    }
    let src = sel[p.kept + step.chunk_off + t];
    x[t * d + e] = xfull[src * d + e];
    if (e == 0u) {
        positions[t] = step.pos_base + src;
        aux[p.wchunk + t] = aux[p.wfull + src];
    }
}
