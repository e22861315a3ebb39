// mod_scatter: write a chunk's layer outputs back to the prompt's residual stream:
// xfull[kept[chunk_off + t]] = x[t] for t < chunk_n.
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
    let dst = sel[p.kept + step.chunk_off + t];
    xfull[dst * d + e] = x[t * d + e];
}
