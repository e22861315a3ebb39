// mod_string: STRing for the target tokens a MoD layer with trained routers skipped: they leave
// the layer as w̃·x: xfull[i] *= aux[p.wfull + i] where sel[layer·n + i] = 0, for i in the span.
// Bindings: see mod_common.wgsl. Threads: one per (target token, channel), 64 per workgroup,
// folded 2-D.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = flat(gid);
    let d = p.dim;
    let j = idx / d;
    let e = idx % d;
    let i = step.span_start + j;
    if (i >= step.span_end) {
        return;
    }
    if (sel[step.layer * step.n + i] == 0u) {
        xfull[i * d + e] *= aux[p.wfull + i];
    }
}
