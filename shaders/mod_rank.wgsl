// mod_rank: the top-k of a MoD layer by counting: target token j is kept iff fewer than k target
// tokens rank above it, where j' ranks above j when its score is larger in IEEE total order
// (Rust's f32::total_cmp; NaN counts as −∞), or equal with j' < j — exactly the CPU's
// pmod::top_k, so ties go to the earlier token. Writes the layer's kept flag of every prompt
// token to sel[layer·n + i]: 1 for non-target tokens and for every token of a dense layer.
// Bindings: see mod_common.wgsl. Threads: one per prompt token, 64 per workgroup, folded 2-D;
// each counts over the n_target scores (n_target² compares in all: fine for a few thousand).
fn order_key(v: f32) -> u32 {
    var b = bitcast<u32>(v);
    if ((b & 0x7fffffffu) > 0x7f800000u) {
        b = 0xff800000u; // NaN → −∞
    }
    return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = flat(gid);
    if (i >= step.n) {
        return;
    }
    let base = step.layer * step.n;
    if (step.mod_layer == 0u || i < step.span_start || i >= step.span_end) {
        sel[base + i] = 1u;
        return;
    }
    let nt = step.span_end - step.span_start;
    let j = i - step.span_start;
    let kj = order_key(aux[p.scores + j]);
    var rank = 0u;
    for (var o = 0u; o < nt; o++) {
        let ko = order_key(aux[p.scores + o]);
        if (ko > kj || (ko == kj && o < j)) {
            rank += 1u;
        }
    }
    sel[base + i] = select(0u, 1u, rank < step.k);
}
